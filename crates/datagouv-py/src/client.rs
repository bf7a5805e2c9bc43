//! `datagouv_rs.Client`: the catalog, writes, files, rows and SQL, each
//! call blocking (GIL released, Ctrl-C honoured) with an `…_async` twin.

use datagouv::{
    ClientBuilder, ConfigFile, DownloadOptions, DownloadSource, Environment, ExportFormat,
};
use datagouv_sql::SqlEngine;
use pyo3::{IntoPyObjectExt, prelude::*, types::PyDict};
use serde_json::Value;
use std::{
    future::Future,
    path::{Path, PathBuf},
    sync::{Arc, OnceLock},
};

use crate::{
    errors::{Failure, config_error, invalid_input},
    items::{Dataset, Item, Resource},
    lists::{AsyncItemIterator, ItemIterator, Kind, ListRequest},
    runtime::{awaitable, wait},
};

/// What a client's objects share: the SDK client and the SQL engine.
pub(crate) struct Shared {
    /// The SDK client.
    pub sdk: datagouv::Client,
    /// The SQL engine, made on first use.
    engine: OnceLock<Arc<SqlEngine>>,
    /// Where the engine keeps downloaded files.
    cache_dir: Option<PathBuf>,
}

impl Shared {
    /// The SQL engine.
    pub(crate) fn engine(&self) -> Result<Arc<SqlEngine>, Failure> {
        if let Some(engine) = self.engine.get() {
            return Ok(engine.clone());
        }
        let mut builder = SqlEngine::builder(self.sdk.clone());
        if let Some(dir) = &self.cache_dir {
            builder = builder.cache_dir(dir);
        }
        let engine = Arc::new(builder.build()?);
        Ok(self.engine.get_or_init(|| engine).clone())
    }

    /// Downloads a resource's file, verified, to `path` (default: the
    /// current folder, under the file's name).
    pub(crate) async fn download(
        self: Arc<Self>,
        rid: String,
        path: Option<PathBuf>,
        resume: bool,
    ) -> Result<PathBuf, Failure> {
        let path = path.unwrap_or_else(|| PathBuf::from("./"));
        let mut options = DownloadOptions::default();
        if resume {
            options = options.resumable();
        }
        let summary = self
            .sdk
            .download(DownloadSource::Resource(rid), &path, options)
            .await?;
        Ok(summary.path.unwrap_or(path))
    }

    /// A JSON object by its path below the Main API root (v1 or v2).
    async fn get_json(self: Arc<Self>, path: String, v2: bool) -> Result<Value, Failure> {
        let response = if v2 {
            self.sdk.raw_v2(reqwest::Method::GET, &path, None).await?
        } else {
            self.sdk.raw(reqwest::Method::GET, &path, None).await?
        };
        json_body(response).await
    }

    /// The dataset of a resource, asked with one v2 request.
    pub(crate) async fn resource_with_dataset(
        self: Arc<Self>,
        rid: String,
    ) -> Result<(Value, Option<String>), Failure> {
        let path = format!("/datasets/resources/{}/", datagouv::path_segment(&rid)?);
        let mut found = self.get_json(path, true).await?;
        let dataset = found
            .get("dataset_id")
            .and_then(Value::as_str)
            .map(str::to_owned);
        let resource = found.get_mut("resource").map(Value::take).unwrap_or(found);
        Ok((resource, dataset))
    }
}

/// A response's JSON body.
pub(crate) async fn json_body(response: reqwest::Response) -> Result<Value, Failure> {
    let body = response.bytes().await.map_err(datagouv::Error::Transport)?;
    if body.is_empty() {
        return Ok(Value::Null);
    }
    serde_json::from_slice(&body).map_err(|source| {
        Failure::Sdk(datagouv::Error::Decode {
            excerpt: String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned(),
            source,
        })
    })
}

/// A value serialised as JSON (SDK types to Python through JSON).
pub(crate) fn to_json<T: serde::Serialize>(value: &T) -> Value {
    serde_json::to_value(value).expect("SDK types serialise")
}

/// A Python mapping of changes as JSON.
pub(crate) fn changes_of(changes: &Bound<'_, PyAny>) -> PyResult<Value> {
    let value: Value = pythonize::depythonize(changes)
        .map_err(|e| invalid_input(format!("the changes cannot be sent as JSON: {e}")))?;
    if !value.is_object() {
        return Err(invalid_input(
            "the changes are a mapping of field names to values, e.g. {\"title\": \"New title\"}",
        ));
    }
    Ok(value)
}

/// Python keyword filters as query parameters (`for_` is `for`).
fn params_of(
    q: Option<String>,
    filters: Option<&Bound<'_, PyDict>>,
) -> PyResult<Vec<(String, String)>> {
    let mut params = Vec::new();
    if let Some(q) = q {
        params.push(("q".to_owned(), q));
    }
    if let Some(filters) = filters {
        for (name, value) in filters.iter() {
            let name: String = name.extract()?;
            let name = name.strip_suffix('_').unwrap_or(&name).to_owned();
            if value.is_none() {
                continue;
            }
            let text = match value.extract::<bool>() {
                Ok(flag) => flag.to_string(),
                Err(_) => value.str()?.to_str()?.to_owned(),
            };
            params.push((name, text));
        }
    }
    Ok(params)
}

/// The Python object of a JSON object of a given kind.
fn object_of(
    py: Python<'_>,
    shared: &Arc<Shared>,
    kind: Kind,
    value: Value,
    dataset: Option<String>,
) -> PyResult<Py<PyAny>> {
    match kind {
        Kind::Dataset => Dataset::create(py, shared.clone(), value),
        Kind::Resource => Resource::create(py, shared.clone(), value, dataset),
        Kind::Other => Item::new(value).into_py_any(py),
    }
}

/// The export format: given, or from the file's extension.
pub(crate) fn export_format(format: Option<&str>, path: &Path) -> PyResult<ExportFormat> {
    match format {
        Some(name) => ExportFormat::parse(name).ok_or_else(|| {
            invalid_input(format!("unknown export format `{name}`: use csv, json or parquet"))
        }),
        None => ExportFormat::from_path(path).ok_or_else(|| {
            invalid_input(format!(
                "cannot tell the format of {} from its extension: name it .csv, .json or .parquet, or give format=",
                path.display()
            ))
        }),
    }
}

/// One client for the Main, Tabular and Metrics APIs of data.gouv.fr.
#[pyclass(frozen, module = "datagouv_rs")]
pub struct Client {
    shared: Arc<Shared>,
}

impl Client {
    /// What the client's objects share.
    pub(crate) fn shared(&self) -> Arc<Shared> {
        self.shared.clone()
    }

    fn build(builder: ClientBuilder, cache_dir: Option<PathBuf>) -> PyResult<Client> {
        let sdk = builder
            .build()
            .map_err(|e| Failure::from(e).into_pyerr_now())?;
        Ok(Client {
            shared: Arc::new(Shared {
                sdk,
                engine: OnceLock::new(),
                cache_dir,
            }),
        })
    }

    /// A blocking call and its conversion.
    pub(crate) fn call<T, F>(
        &self,
        py: Python<'_>,
        work: F,
        convert: impl FnOnce(Python<'_>, T) -> PyResult<Py<PyAny>>,
    ) -> PyResult<Py<PyAny>>
    where
        T: Send + 'static,
        F: Future<Output = Result<T, Failure>> + Send + 'static,
    {
        let value = wait(py, work)?;
        convert(py, value)
    }

    /// The blocking call (`sync`) or the awaitable of its `_async` twin.
    pub(crate) fn run<T, F, C>(
        &self,
        py: Python<'_>,
        sync: bool,
        work: F,
        convert: C,
    ) -> PyResult<Py<PyAny>>
    where
        T: Send + 'static,
        F: Future<Output = Result<T, Failure>> + Send + 'static,
        C: FnOnce(Python<'_>, T) -> PyResult<Py<PyAny>> + Send + 'static,
    {
        if sync {
            self.call(py, work, convert)
        } else {
            Ok(awaitable(py, work, convert)?.unbind())
        }
    }

    /// Gets one object by its path.
    fn get_object(
        &self,
        py: Python<'_>,
        kind: Kind,
        family: &str,
        id: &str,
        v2: bool,
        sync: bool,
    ) -> PyResult<Py<PyAny>> {
        let path = format!(
            "/{family}/{}/",
            datagouv::path_segment(id).map_err(|e| Failure::from(e).into_pyerr(py))?
        );
        let shared = self.shared.clone();
        let work = shared.clone().get_json(path, v2);
        let convert = move |py: Python<'_>, value: Value| object_of(py, &shared, kind, value, None);
        self.run(py, sync, work, convert)
    }

    fn resource_call(&self, py: Python<'_>, sync: bool, id: String) -> PyResult<Py<PyAny>> {
        let shared = self.shared.clone();
        let work = shared.clone().resource_with_dataset(id);
        self.run(py, sync, work, move |py, (value, dataset)| {
            Resource::create(py, shared, value, dataset)
        })
    }

    fn me_call(&self, py: Python<'_>, sync: bool) -> PyResult<Py<PyAny>> {
        let work = self.shared.clone().get_json("/me/".into(), false);
        self.run(py, sync, work, |py, value| Item::new(value).into_py_any(py))
    }

    /// The list of a dataset's resources (API v2).
    fn resources_request(
        dataset: &str,
        q: Option<String>,
        page_size: u64,
        limit: Option<usize>,
        prefetch: usize,
    ) -> PyResult<ListRequest> {
        let segment =
            datagouv::path_segment(dataset).map_err(|e| Failure::from(e).into_pyerr_now())?;
        Client::list_request(
            "resources",
            format!("/datasets/{segment}/resources/"),
            true,
            Kind::Resource,
            q,
            page_size,
            limit,
            prefetch,
            None,
            Some(dataset.to_owned()),
        )
    }

    /// A list request for a family.
    #[allow(clippy::too_many_arguments)]
    fn list_request(
        family: &'static str,
        path: String,
        v2: bool,
        kind: Kind,
        q: Option<String>,
        page_size: u64,
        limit: Option<usize>,
        prefetch: usize,
        filters: Option<&Bound<'_, PyDict>>,
        dataset: Option<String>,
    ) -> PyResult<ListRequest> {
        Ok(ListRequest {
            family,
            path,
            v2,
            params: params_of(q, filters)?,
            page_size,
            limit,
            prefetch,
            kind,
            dataset,
        })
    }
}

/// `get` and `get_async` of each family: (python name, family path, kind, v2).
macro_rules! getters {
    ($(($name:ident, $name_async:ident, $family:literal, $kind:expr, $v2:literal, $doc:literal)),* $(,)?) => {
        #[pymethods]
        impl Client {
            $(
                #[doc = $doc]
                fn $name(&self, py: Python<'_>, id: &str) -> PyResult<Py<PyAny>> {
                    self.get_object(py, $kind, $family, id, $v2, true)
                }

                #[doc = concat!("The async twin of `", stringify!($name), "`.")]
                fn $name_async(&self, py: Python<'_>, id: &str) -> PyResult<Py<PyAny>> {
                    self.get_object(py, $kind, $family, id, $v2, false)
                }
            )*
        }
    };
}

getters!(
    (
        dataset,
        dataset_async,
        "datasets",
        Kind::Dataset,
        false,
        "A dataset by id or slug."
    ),
    (
        organization,
        organization_async,
        "organizations",
        Kind::Other,
        false,
        "An organization by id or slug."
    ),
    (
        reuse,
        reuse_async,
        "reuses",
        Kind::Other,
        false,
        "A reuse by id or slug."
    ),
    (
        dataservice,
        dataservice_async,
        "dataservices",
        Kind::Other,
        false,
        "A dataservice (API) by id or slug."
    ),
    (
        user,
        user_async,
        "users",
        Kind::Other,
        false,
        "A user by id or slug."
    ),
    (
        discussion,
        discussion_async,
        "discussions",
        Kind::Other,
        false,
        "A discussion by id."
    ),
    (
        topic,
        topic_async,
        "topics",
        Kind::Other,
        true,
        "A topic by id or slug (API v2)."
    ),
);

/// The list and its async twin of each family.
macro_rules! lists {
    ($(($name:ident, $name_async:ident, $family:literal, $kind:expr, $v2:literal, $doc:literal)),* $(,)?) => {
        #[pymethods]
        impl Client {
            $(
                #[doc = $doc]
                #[pyo3(signature = (q = None, *, page_size = 100, limit = None, prefetch = 4, **filters))]
                fn $name(
                    &self,
                    q: Option<String>,
                    page_size: u64,
                    limit: Option<usize>,
                    prefetch: usize,
                    filters: Option<&Bound<'_, PyDict>>,
                ) -> PyResult<ItemIterator> {
                    let request = Client::list_request($family, concat!("/", $family, "/").to_owned(), $v2, $kind, q, page_size, limit, prefetch, filters, None)?;
                    ItemIterator::new(self.shared.clone(), request)
                }

                #[doc = concat!("The async twin of `", stringify!($name), "`.")]
                #[pyo3(signature = (q = None, *, page_size = 100, limit = None, prefetch = 4, **filters))]
                fn $name_async(
                    &self,
                    q: Option<String>,
                    page_size: u64,
                    limit: Option<usize>,
                    prefetch: usize,
                    filters: Option<&Bound<'_, PyDict>>,
                ) -> PyResult<AsyncItemIterator> {
                    let request = Client::list_request($family, concat!("/", $family, "/").to_owned(), $v2, $kind, q, page_size, limit, prefetch, filters, None)?;
                    AsyncItemIterator::new(self.shared.clone(), request)
                }
            )*
        }
    };
}

lists!(
    (
        datasets,
        datasets_async,
        "datasets",
        Kind::Dataset,
        false,
        "Datasets, searched and filtered (organization=, tag=, owner=, sort=, …)."
    ),
    (
        organizations,
        organizations_async,
        "organizations",
        Kind::Other,
        false,
        "Organizations, searched and filtered."
    ),
    (
        reuses,
        reuses_async,
        "reuses",
        Kind::Other,
        false,
        "Reuses, searched and filtered (dataset=, organization=, tag=, …)."
    ),
    (
        dataservices,
        dataservices_async,
        "dataservices",
        Kind::Other,
        false,
        "Dataservices (APIs), searched and filtered."
    ),
    (
        users,
        users_async,
        "users",
        Kind::Other,
        false,
        "Users, searched."
    ),
    (
        discussions,
        discussions_async,
        "discussions",
        Kind::Other,
        false,
        "Discussions (for_= an object's id, closed=, …)."
    ),
    (
        topics,
        topics_async,
        "topics",
        Kind::Other,
        true,
        "Topics (API v2), searched and filtered."
    ),
);

#[pymethods]
impl Client {
    #[new]
    #[pyo3(signature = (env = "prod", *, main_url = None, tabular_url = None, metrics_url = None, api_key = None, cache_dir = None))]
    fn new(
        env: &str,
        main_url: Option<String>,
        tabular_url: Option<String>,
        metrics_url: Option<String>,
        api_key: Option<String>,
        cache_dir: Option<PathBuf>,
    ) -> PyResult<Client> {
        let environment = Environment::parse(env).map_err(|e| config_error(e.to_string()))?;
        let mut builder = datagouv::Client::builder().environment(environment);
        if let Some(url) = main_url {
            builder = builder.main_url(url);
        }
        if let Some(url) = tabular_url {
            builder = builder.tabular_url(url);
        }
        if let Some(url) = metrics_url {
            builder = builder.metrics_url(url);
        }
        if let Some(key) = api_key {
            builder = builder.api_key(key);
        }
        Client::build(builder, cache_dir)
    }

    /// A client set as the `datagouv` command line is: the DATAGOUV_*
    /// variables, then the config file.
    #[staticmethod]
    #[pyo3(signature = (config = None))]
    fn from_env(config: Option<PathBuf>) -> PyResult<Client> {
        let named = config.or_else(|| {
            std::env::var_os("DATAGOUV_CONFIG")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        });
        let file = match &named {
            Some(path) => {
                match ConfigFile::read(path).map_err(|e| Failure::from(e).into_pyerr_now())? {
                    Some(file) => file,
                    None => {
                        return Err(config_error(format!(
                            "the config file {} does not exist; check the path, or write it with `datagouv config init`",
                            path.display()
                        )));
                    }
                }
            }
            None => match ConfigFile::default_path() {
                Some(path) => ConfigFile::read(&path)
                    .map_err(|e| Failure::from(e).into_pyerr_now())?
                    .unwrap_or_default(),
                None => ConfigFile::default(),
            },
        };
        let mut builder = datagouv::Client::builder()
            .from_env()
            .map_err(|e| config_error(e.to_string()))?;
        let var_set = |name: &str| std::env::var(name).is_ok_and(|v| !v.trim().is_empty());
        if !var_set("DATAGOUV_ENV")
            && let Some(env) = &file.env
        {
            builder = builder.environment(
                Environment::parse(env)
                    .map_err(|e| config_error(format!("{e} (from the config file)")))?,
            );
        }
        if !var_set("DATAGOUV_MAIN_URL")
            && let Some(url) = file.main_url
        {
            builder = builder.main_url(url);
        }
        if !var_set("DATAGOUV_TABULAR_URL")
            && let Some(url) = file.tabular_url
        {
            builder = builder.tabular_url(url);
        }
        if !var_set("DATAGOUV_METRICS_URL")
            && let Some(url) = file.metrics_url
        {
            builder = builder.metrics_url(url);
        }
        if !var_set("DATAGOUV_API_KEY")
            && let Some(key) = file.api_key
        {
            builder = builder.api_key(key);
        }
        Client::build(builder, None)
    }

    /// Whether an API key is set (it is never shown).
    #[getter]
    fn has_api_key(&self) -> bool {
        self.shared.sdk.has_api_key()
    }

    /// The Main API root (`…/api/1`).
    #[getter]
    fn main_url(&self) -> String {
        self.shared.sdk.main_v1_root().to_owned()
    }

    /// The Tabular API root.
    #[getter]
    fn tabular_url(&self) -> String {
        self.shared.sdk.tabular_root().to_owned()
    }

    /// The Metrics API root.
    #[getter]
    fn metrics_url(&self) -> String {
        self.shared.sdk.metrics_root().to_owned()
    }

    fn __repr__(&self) -> String {
        format!(
            "<datagouv_rs.Client main={} tabular={} metrics={} key={}>",
            self.main_url(),
            self.tabular_url(),
            self.metrics_url(),
            if self.has_api_key() { "set" } else { "none" }
        )
    }

    /// A resource by id (its dataset found with one request).
    fn resource(&self, py: Python<'_>, id: String) -> PyResult<Py<PyAny>> {
        self.resource_call(py, true, id)
    }

    /// The async twin of `resource`.
    fn resource_async(&self, py: Python<'_>, id: String) -> PyResult<Py<PyAny>> {
        self.resource_call(py, false, id)
    }

    /// The user of the API key.
    fn me(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        self.me_call(py, true)
    }

    /// The async twin of `me`.
    fn me_async(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        self.me_call(py, false)
    }

    /// A dataset's resources.
    #[pyo3(signature = (dataset, q = None, *, page_size = 100, limit = None, prefetch = 4))]
    fn resources(
        &self,
        dataset: &str,
        q: Option<String>,
        page_size: u64,
        limit: Option<usize>,
        prefetch: usize,
    ) -> PyResult<ItemIterator> {
        let request = Client::resources_request(dataset, q, page_size, limit, prefetch)?;
        ItemIterator::new(self.shared.clone(), request)
    }

    /// The async twin of `resources`.
    #[pyo3(signature = (dataset, q = None, *, page_size = 100, limit = None, prefetch = 4))]
    fn resources_async(
        &self,
        dataset: &str,
        q: Option<String>,
        page_size: u64,
        limit: Option<usize>,
        prefetch: usize,
    ) -> PyResult<AsyncItemIterator> {
        let request = Client::resources_request(dataset, q, page_size, limit, prefetch)?;
        AsyncItemIterator::new(self.shared.clone(), request)
    }
}
