//! Catalog objects as Python objects: fields as attributes and keys,
//! nested objects as items too, `to_dict()` for plain values.

use pyo3::{
    IntoPyObjectExt,
    exceptions::{PyAttributeError, PyKeyError},
    prelude::*,
    types::{PyList, PyString},
};
use serde_json::{Map, Value};
use std::{path::PathBuf, sync::Arc};

use crate::{
    client::Shared,
    rows::{Rows, RowsArgs},
    runtime::{awaitable, wait},
};

/// One object of the catalog, as the server sent it.
#[pyclass(subclass, frozen, module = "datagouv_rs", mapping)]
pub struct Item {
    fields: Arc<Map<String, Value>>,
}

impl Item {
    /// The item of a JSON object (anything else is kept under `value`).
    pub(crate) fn new(value: Value) -> Item {
        let fields = match value {
            Value::Object(fields) => fields,
            other => Map::from_iter([("value".to_owned(), other)]),
        };
        Item {
            fields: Arc::new(fields),
        }
    }

    /// The field `name`, as text, when it is a string.
    pub(crate) fn text(&self, name: &str) -> Option<String> {
        self.fields
            .get(name)
            .and_then(Value::as_str)
            .map(str::to_owned)
    }
}

/// A JSON value as a Python object: objects become items, lists lists.
pub(crate) fn to_python(py: Python<'_>, value: &Value) -> PyResult<Py<PyAny>> {
    match value {
        Value::Object(fields) => Item {
            fields: Arc::new(fields.clone()),
        }
        .into_py_any(py),
        Value::Array(values) => {
            let items = values
                .iter()
                .map(|value| to_python(py, value))
                .collect::<PyResult<Vec<_>>>()?;
            Ok(PyList::new(py, items)?.into_any().unbind())
        }
        scalar => Ok(pythonize::pythonize(py, scalar)?.unbind()),
    }
}

#[pymethods]
impl Item {
    fn __getattr__(&self, py: Python<'_>, name: &str) -> PyResult<Py<PyAny>> {
        match self.fields.get(name) {
            Some(value) => to_python(py, value),
            None => Err(PyAttributeError::new_err(format!(
                "no field `{name}`; the fields are: {}",
                self.fields.keys().cloned().collect::<Vec<_>>().join(", ")
            ))),
        }
    }

    fn __getitem__(&self, py: Python<'_>, key: &str) -> PyResult<Py<PyAny>> {
        match self.fields.get(key) {
            Some(value) => to_python(py, value),
            None => Err(PyKeyError::new_err(key.to_owned())),
        }
    }

    fn __len__(&self) -> usize {
        self.fields.len()
    }

    fn __contains__(&self, key: &Bound<'_, PyAny>) -> bool {
        key.cast::<PyString>()
            .ok()
            .and_then(|key| key.to_str().ok().map(|key| self.fields.contains_key(key)))
            .unwrap_or(false)
    }

    fn __iter__(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let keys: Vec<&String> = self.fields.keys().collect();
        Ok(PyList::new(py, keys)?.call_method0("__iter__")?.unbind())
    }

    /// The field names.
    fn keys(&self) -> Vec<String> {
        self.fields.keys().cloned().collect()
    }

    /// The field values.
    fn values(&self, py: Python<'_>) -> PyResult<Vec<Py<PyAny>>> {
        self.fields
            .values()
            .map(|value| to_python(py, value))
            .collect()
    }

    /// The (name, value) pairs.
    fn items(&self, py: Python<'_>) -> PyResult<Vec<(String, Py<PyAny>)>> {
        self.fields
            .iter()
            .map(|(name, value)| Ok((name.clone(), to_python(py, value)?)))
            .collect()
    }

    /// The field `key`, or `default`.
    #[pyo3(signature = (key, default = None))]
    fn get(&self, py: Python<'_>, key: &str, default: Option<Py<PyAny>>) -> PyResult<Py<PyAny>> {
        match self.fields.get(key) {
            Some(value) => to_python(py, value),
            None => Ok(default.unwrap_or_else(|| py.None())),
        }
    }

    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        match other.cast::<Item>() {
            Ok(other) => self.fields == other.get().fields,
            Err(_) => false,
        }
    }

    fn __ne__(&self, other: &Bound<'_, PyAny>) -> bool {
        !self.__eq__(other)
    }

    /// The fields as plain Python values (dicts, lists, str, int, float,
    /// bool, None).
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        Ok(pythonize::pythonize(py, self.fields.as_ref())?)
    }

    /// The fields as JSON text.
    fn to_json(&self) -> String {
        serde_json::to_string(self.fields.as_ref()).expect("JSON values serialise")
    }

    fn __repr__(slf: &Bound<'_, Self>) -> PyResult<String> {
        let item = slf.get();
        let class = slf.get_type().name()?;
        let label = ["title", "name", "slug", "first_name"]
            .iter()
            .find_map(|field| item.text(field));
        Ok(match (item.text("id"), label) {
            (Some(id), Some(label)) => format!("<{class} {id} {label:?}>"),
            (Some(id), None) => format!("<{class} {id}>"),
            _ => format!("<{class} {} fields>", item.fields.len()),
        })
    }
}

/// A dataset of the catalog.
#[pyclass(extends = Item, frozen, module = "datagouv_rs")]
pub struct Dataset {
    shared: Arc<Shared>,
}

impl Dataset {
    /// The Python object of a dataset's JSON.
    pub(crate) fn create(py: Python<'_>, shared: Arc<Shared>, value: Value) -> PyResult<Py<PyAny>> {
        let init = PyClassInitializer::from(Item::new(value)).add_subclass(Dataset { shared });
        Ok(Py::new(py, init)?.into_any())
    }
}

#[pymethods]
impl Dataset {
    /// The dataset's resources (files and links), with their dataset known.
    #[getter]
    fn resources(slf: PyRef<'_, Self>) -> PyResult<Vec<Py<PyAny>>> {
        let py = slf.py();
        let item: &Item = slf.as_super();
        let dataset = item.text("id");
        let listed = match item.fields.get("resources") {
            Some(Value::Array(resources)) => resources.clone(),
            _ => Vec::new(),
        };
        listed
            .into_iter()
            .map(|value| Resource::create(py, slf.shared.clone(), value, dataset.clone()))
            .collect()
    }
}

/// A resource: a file or link of a dataset.
#[pyclass(extends = Item, frozen, module = "datagouv_rs")]
pub struct Resource {
    shared: Arc<Shared>,
    dataset_id: Option<String>,
}

impl Resource {
    /// The Python object of a resource's JSON.
    pub(crate) fn create(
        py: Python<'_>,
        shared: Arc<Shared>,
        value: Value,
        dataset_id: Option<String>,
    ) -> PyResult<Py<PyAny>> {
        let init = PyClassInitializer::from(Item::new(value))
            .add_subclass(Resource { shared, dataset_id });
        Ok(Py::new(py, init)?.into_any())
    }

    fn id(slf: &PyRef<'_, Self>) -> PyResult<String> {
        let item: &Item = slf.as_super();
        item.text("id")
            .ok_or_else(|| PyAttributeError::new_err("this resource has no id"))
    }
}

#[pymethods]
impl Resource {
    /// The id of the resource's dataset, when known.
    #[getter]
    fn dataset_id(&self) -> Option<String> {
        self.dataset_id.clone()
    }

    /// Downloads the file, checked against the catalog's checksum.
    #[pyo3(signature = (path = None, *, resume = true))]
    fn download(slf: PyRef<'_, Self>, path: Option<PathBuf>, resume: bool) -> PyResult<Py<PyAny>> {
        let rid = Resource::id(&slf)?;
        let (py, shared) = (slf.py(), slf.shared.clone());
        let saved = wait(py, shared.download(rid, path, resume))?;
        path_object(py, saved)
    }

    /// The async twin of `download`.
    #[pyo3(signature = (path = None, *, resume = true))]
    fn download_async<'py>(
        slf: PyRef<'py, Self>,
        path: Option<PathBuf>,
        resume: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let rid = Resource::id(&slf)?;
        let (py, shared) = (slf.py(), slf.shared.clone());
        awaitable(py, shared.download(rid, path, resume), path_object)
    }

    /// The resource's rows (Tabular API), as `Client.rows`.
    #[pyo3(signature = (*, filters = Vec::new(), r#where = None, sort = Vec::new(), columns = Vec::new(), limit = None))]
    fn rows(
        slf: PyRef<'_, Self>,
        filters: Vec<Bound<'_, PyAny>>,
        r#where: Option<String>,
        sort: Vec<String>,
        columns: Vec<String>,
        limit: Option<u64>,
    ) -> PyResult<Rows> {
        let rid = Resource::id(&slf)?;
        let args = RowsArgs::read(&filters, r#where, sort, columns, limit)?;
        Rows::tabular(slf.shared.clone(), &rid, args)
    }
}

/// A path as a `pathlib.Path`.
pub(crate) fn path_object(py: Python<'_>, path: PathBuf) -> PyResult<Py<PyAny>> {
    Ok(py
        .import("pathlib")?
        .getattr("Path")?
        .call1((path,))?
        .unbind())
}
