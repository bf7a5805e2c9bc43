//! Catalog objects as Python objects: fields as attributes and keys,
//! nested objects as items too, `to_dict()` for plain values.

use pyo3::{
    IntoPyObjectExt,
    exceptions::{PyAttributeError, PyKeyError, PyValueError},
    prelude::*,
    types::{PyList, PyString},
};
use serde::{
    Deserialize, Deserializer,
    de::{MapAccess, Visitor},
};
use serde_json::{Value, value::RawValue};
use std::{
    marker::PhantomData,
    ops::Range,
    path::PathBuf,
    sync::{Arc, OnceLock},
};

use crate::{
    client::Shared,
    rows::{Rows, RowsArgs},
    runtime::{awaitable, wait},
};

/// One object of the catalog, as the server sent it.
///
/// An item keeps the object's JSON text and reads a field only when it is
/// asked for: a list of 20,000 datasets costs no decoding of fields nobody
/// reads (the text is checked once, when its page arrives).
#[pyclass(subclass, frozen, module = "datagouv_rs", mapping)]
pub struct Item {
    raw: Arc<str>,
    /// The top-level fields: name and where its value is in `raw`.
    fields: OnceLock<Vec<(String, Range<usize>)>>,
}

/// The top-level fields of an object, in order, each value as its text.
struct Fields<'a>(Vec<(String, &'a RawValue)>);

impl<'de: 'a, 'a> Deserialize<'de> for Fields<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visit<'a>(PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for Visit<'a> {
            type Value = Fields<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Fields<'a>, M::Error> {
                let mut fields = Vec::with_capacity(map.size_hint().unwrap_or(16));
                while let Some(entry) = map.next_entry::<String, &'a RawValue>()? {
                    fields.push(entry);
                }
                Ok(Fields(fields))
            }
        }
        deserializer.deserialize_map(Visit(PhantomData))
    }
}

impl Item {
    /// The item of a JSON value (anything but an object is kept under `value`).
    pub(crate) fn new(value: Value) -> Item {
        let value = match value {
            Value::Object(_) => value,
            other => serde_json::json!({ "value": other }),
        };
        Item::from_text(value.to_string())
    }

    /// The item of an object's JSON text (checked: a list's pages are).
    pub(crate) fn from_text(raw: impl Into<Arc<str>>) -> Item {
        Item {
            raw: raw.into(),
            fields: OnceLock::new(),
        }
    }

    fn fields(&self) -> &[(String, Range<usize>)] {
        self.fields.get_or_init(|| {
            let base = self.raw.as_ptr() as usize;
            match serde_json::from_str::<Fields<'_>>(&self.raw) {
                Ok(Fields(fields)) => fields
                    .into_iter()
                    .map(|(name, value)| {
                        let start = value.get().as_ptr() as usize - base;
                        (name, start..start + value.get().len())
                    })
                    .collect(),
                Err(_) => Vec::new(),
            }
        })
    }

    /// The JSON text of field `name`.
    fn field(&self, name: &str) -> Option<&str> {
        self.fields()
            .iter()
            .find(|(field, _)| field == name)
            .map(|(_, span)| &self.raw[span.clone()])
    }

    /// The field `name`, as text, when it is a string.
    pub(crate) fn text(&self, name: &str) -> Option<String> {
        self.field(name)
            .and_then(|raw| serde_json::from_str::<String>(raw).ok())
    }

    /// The whole object, decoded.
    fn value(&self) -> Value {
        serde_json::from_str(&self.raw).unwrap_or(Value::Null)
    }

    /// The JSON texts of the elements of field `name`, when it is a list.
    fn elements(&self, name: &str) -> Vec<&str> {
        self.field(name)
            .and_then(|raw| serde_json::from_str::<Vec<&RawValue>>(raw).ok())
            .map(|elements| elements.into_iter().map(RawValue::get).collect())
            .unwrap_or_default()
    }
}

/// A value's JSON text as a Python object: objects become items, lists
/// lists, the rest Python scalars.
pub(crate) fn to_python(py: Python<'_>, raw: &str) -> PyResult<Py<PyAny>> {
    match raw.as_bytes().first() {
        Some(b'{') => Item::from_text(raw).into_py_any(py),
        Some(b'[') => {
            let elements: Vec<&RawValue> = serde_json::from_str(raw).map_err(decode_error)?;
            let items = elements
                .into_iter()
                .map(|element| to_python(py, element.get()))
                .collect::<PyResult<Vec<_>>>()?;
            Ok(PyList::new(py, items)?.into_any().unbind())
        }
        _ => {
            let scalar: Value = serde_json::from_str(raw).map_err(decode_error)?;
            Ok(pythonize::pythonize(py, &scalar)?.unbind())
        }
    }
}

/// A field that is not JSON (cannot happen with a checked page).
fn decode_error(error: serde_json::Error) -> PyErr {
    PyValueError::new_err(format!("a field is not valid JSON: {error}"))
}

#[pymethods]
impl Item {
    fn __getattr__(&self, py: Python<'_>, name: &str) -> PyResult<Py<PyAny>> {
        match self.field(name) {
            Some(raw) => to_python(py, raw),
            None => Err(PyAttributeError::new_err(format!(
                "no field `{name}`; the fields are: {}",
                self.keys().join(", ")
            ))),
        }
    }

    fn __getitem__(&self, py: Python<'_>, key: &str) -> PyResult<Py<PyAny>> {
        match self.field(key) {
            Some(raw) => to_python(py, raw),
            None => Err(PyKeyError::new_err(key.to_owned())),
        }
    }

    fn __len__(&self) -> usize {
        self.fields().len()
    }

    fn __contains__(&self, key: &Bound<'_, PyAny>) -> bool {
        key.cast::<PyString>()
            .ok()
            .and_then(|key| key.to_str().ok().map(|key| self.field(key).is_some()))
            .unwrap_or(false)
    }

    fn __iter__(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        Ok(PyList::new(py, self.keys())?
            .call_method0("__iter__")?
            .unbind())
    }

    /// The field names.
    fn keys(&self) -> Vec<String> {
        self.fields().iter().map(|(name, _)| name.clone()).collect()
    }

    /// The field values.
    fn values(&self, py: Python<'_>) -> PyResult<Vec<Py<PyAny>>> {
        self.fields()
            .iter()
            .map(|(_, span)| to_python(py, &self.raw[span.clone()]))
            .collect()
    }

    /// The (name, value) pairs.
    fn items(&self, py: Python<'_>) -> PyResult<Vec<(String, Py<PyAny>)>> {
        self.fields()
            .iter()
            .map(|(name, span)| Ok((name.clone(), to_python(py, &self.raw[span.clone()])?)))
            .collect()
    }

    /// The field `key`, or `default`.
    #[pyo3(signature = (key, default = None))]
    fn get(&self, py: Python<'_>, key: &str, default: Option<Py<PyAny>>) -> PyResult<Py<PyAny>> {
        match self.field(key) {
            Some(raw) => to_python(py, raw),
            None => Ok(default.unwrap_or_else(|| py.None())),
        }
    }

    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        match other.cast::<Item>() {
            Ok(other) => self.raw == other.get().raw || self.value() == other.get().value(),
            Err(_) => false,
        }
    }

    fn __ne__(&self, other: &Bound<'_, PyAny>) -> bool {
        !self.__eq__(other)
    }

    /// The fields as plain Python values (dicts, lists, str, int, float,
    /// bool, None).
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        Ok(pythonize::pythonize(py, &self.value())?)
    }

    /// The fields as JSON text.
    fn to_json(&self) -> String {
        self.raw.to_string()
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
            _ => format!("<{class} {} fields>", item.fields().len()),
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
        Dataset::of(py, shared, Item::new(value))
    }

    /// The Python object of a dataset's item.
    pub(crate) fn of(py: Python<'_>, shared: Arc<Shared>, item: Item) -> PyResult<Py<PyAny>> {
        let init = PyClassInitializer::from(item).add_subclass(Dataset { shared });
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
        item.elements("resources")
            .into_iter()
            .map(|raw| {
                Resource::of(
                    py,
                    slf.shared.clone(),
                    Item::from_text(raw),
                    dataset.clone(),
                )
            })
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
        Resource::of(py, shared, Item::new(value), dataset_id)
    }

    /// The Python object of a resource's item.
    pub(crate) fn of(
        py: Python<'_>,
        shared: Arc<Shared>,
        item: Item,
        dataset_id: Option<String>,
    ) -> PyResult<Py<PyAny>> {
        let init = PyClassInitializer::from(item).add_subclass(Resource { shared, dataset_id });
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
