//! SQL over any data.gouv.fr resource, with [Apache DataFusion].
//!
//! Every resource is a table, addressed by its id as a quoted table name
//! (`SELECT … FROM "0a1b…"`), every Metrics model a table of the `metrics`
//! schema (`SELECT … FROM metrics.datasets`). Tables are resolved when a
//! query names them: no registration step.
//!
//! A resource the Tabular API serves is scanned through it: filters,
//! columns and limits go to the server, windows past the export cap are
//! the scan's partitions, fetched a few at a time. A resource with a
//! Parquet conversion is read from it over HTTP (range requests); other
//! resources from the file itself, downloaded once (verified, cached by
//! checksum) and read locally.
//!
//! ```no_run
//! # async fn run() -> Result<(), datafusion::error::DataFusionError> {
//! let client = datagouv::Client::from_env().expect("a valid configuration");
//! let engine = datagouv_sql::SqlEngine::new(client);
//! let frame = engine
//!     .sql(r#"SELECT region, SUM(montant) FROM "0a1b2c3d-0000-4000-8000-000000000001" GROUP BY region"#)
//!     .await?;
//! frame.show().await?;
//! # Ok(()) }
//! ```
//!
//! Queries are read-only: DDL (`CREATE [EXTERNAL] TABLE`, views), DML
//! (`INSERT`, `COPY … TO`) and `SET` statements are refused, and table
//! names are resource ids or metrics models only, never local paths.
//!
//! [Apache DataFusion]: https://datafusion.apache.org

pub mod files;
mod json;
mod pushdown;
mod scan;

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use async_trait::async_trait;
use datafusion::catalog::{CatalogProvider, SchemaProvider, TableProvider};
use datafusion::dataframe::DataFrame;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::SessionStateBuilder;
use datafusion::execution::runtime_env::RuntimeEnv;
use datafusion::prelude::{SQLOptions, SessionConfig, SessionContext};
use datagouv::Client;
use tokio::sync::Semaphore;

use files::{FileSources, ResourceFile};
pub use json::json_rows;
use scan::ApiTable;

/// The catalog name of the engine's tables.
const CATALOG: &str = "datagouv";
/// The schema of resources (the default one).
const RESOURCES: &str = "public";
/// The schema of Metrics models.
const METRICS: &str = "metrics";

/// Windows fetched at once across every scan of a query, by default: the
/// export's own default (the servers' rate limits are per client).
pub const DEFAULT_PARALLEL_WINDOWS: usize = 2;

/// Counts of the work done by the scans of an engine, for progress bars.
/// Shared: clones see the same counts.
#[derive(Clone, Debug, Default)]
pub struct Progress {
    /// Rows read from the APIs.
    pub rows: Arc<AtomicU64>,
    /// Rows the scans planned to read (when the server counted them).
    pub rows_total: Arc<AtomicU64>,
    /// Windows read.
    pub windows_done: Arc<AtomicU64>,
    /// Windows planned.
    pub windows_total: Arc<AtomicU64>,
}

/// A SQL engine whose tables are data.gouv.fr's resources and metrics.
pub struct SqlEngine {
    context: SessionContext,
    progress: Progress,
}

impl fmt::Debug for SqlEngine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqlEngine").finish_non_exhaustive()
    }
}

/// Options of a [`SqlEngine`].
#[derive(Debug)]
pub struct SqlEngineBuilder {
    client: Client,
    cache_dir: Option<PathBuf>,
    parallel: usize,
    files: bool,
}

impl SqlEngineBuilder {
    /// Whether resources the Tabular API does not serve are read from
    /// their files and Parquet conversions (default: yes). Those URLs come
    /// from the catalog: a server that must not fetch URLs published by
    /// anyone (an MCP server) turns this off, and such resources are then
    /// an error saying so.
    pub fn catalog_files(mut self, on: bool) -> Self {
        self.files = on;
        self
    }

    /// Where downloaded resource files are kept (default: the user's cache
    /// folder, `datagouv/sql` in it).
    pub fn cache_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.cache_dir = Some(dir.into());
        self
    }

    /// Export windows fetched at once across the query's scans (1 to 4).
    pub fn parallel(mut self, windows: usize) -> Self {
        self.parallel = windows;
        self
    }

    /// The engine.
    pub fn build(self) -> Result<SqlEngine> {
        if !(1..=datagouv::MAX_PARALLEL_WINDOWS).contains(&self.parallel) {
            return Err(DataFusionError::Configuration(format!(
                "parallel windows must be 1 to {}; {} asked",
                datagouv::MAX_PARALLEL_WINDOWS,
                self.parallel
            )));
        }
        let config = SessionConfig::new()
            .with_information_schema(false)
            .with_create_default_catalog_and_schema(false)
            .with_default_catalog_and_schema(CATALOG, RESOURCES);
        let runtime = Arc::new(RuntimeEnv::default());
        let state = SessionStateBuilder::new()
            .with_config(config)
            .with_runtime_env(runtime.clone())
            .with_default_features()
            .build();
        let context = SessionContext::new_with_state(state);
        let cache_dir = self.cache_dir.unwrap_or_else(default_cache_dir);
        let progress = Progress::default();
        let permits = Arc::new(Semaphore::new(self.parallel));
        let catalog = Catalog {
            resources: Arc::new(Resources {
                files_allowed: self.files,
                client: self.client.clone(),
                files: Arc::new(FileSources::new(self.client.clone(), cache_dir, runtime)),
                permits: permits.clone(),
                progress: progress.clone(),
            }),
            metrics: Arc::new(Metrics {
                client: self.client,
                permits,
                progress: progress.clone(),
            }),
        };
        context.register_catalog(CATALOG, Arc::new(catalog));
        Ok(SqlEngine { context, progress })
    }
}

fn default_cache_dir() -> PathBuf {
    std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")))
        .unwrap_or_else(std::env::temp_dir)
        .join("datagouv")
        .join("sql")
}

impl SqlEngine {
    /// An engine with the default options.
    pub fn new(client: Client) -> SqlEngine {
        SqlEngine::builder(client)
            .build()
            .expect("the default options are valid")
    }

    /// Options: cache folder, windows in flight.
    pub fn builder(client: Client) -> SqlEngineBuilder {
        SqlEngineBuilder {
            client,
            cache_dir: None,
            parallel: DEFAULT_PARALLEL_WINDOWS,
            files: true,
        }
    }

    /// Plans a read-only query (nothing is read until the frame is
    /// collected or streamed). DDL, DML and `SET` are refused.
    pub async fn sql(&self, sql: &str) -> Result<DataFrame> {
        let options = SQLOptions::new()
            .with_allow_ddl(false)
            .with_allow_dml(false)
            .with_allow_statements(false);
        self.context.sql_with_options(sql, options).await
    }

    /// The plan of a query as text: which source each table reads and what
    /// was pushed to the server.
    pub async fn explain(&self, sql: &str) -> Result<String> {
        let frame = self.sql(sql).await?;
        let plan = frame.create_physical_plan().await?;
        Ok(datafusion::physical_plan::displayable(plan.as_ref())
            .indent(true)
            .to_string())
    }

    /// The counts of the work done so far (rows and windows read).
    pub fn progress(&self) -> Progress {
        self.progress.clone()
    }

    /// The DataFusion context (to register more tables or functions).
    pub fn context(&self) -> &SessionContext {
        &self.context
    }
}

/// The SDK's error as DataFusion carries it (the CLI finds it again).
pub(crate) fn external(error: datagouv::Error) -> DataFusionError {
    DataFusionError::External(Box::new(error))
}

/// The SDK error a DataFusion error carries (a request that failed, a
/// resource that does not exist…), else the DataFusion error itself.
pub fn into_sdk_error(error: DataFusionError) -> Result<datagouv::Error, DataFusionError> {
    match error {
        DataFusionError::External(inner) => match inner.downcast::<datagouv::Error>() {
            Ok(sdk) => Ok(*sdk),
            Err(other) => Err(DataFusionError::External(other)),
        },
        DataFusionError::Context(context, inner) => into_sdk_error(*inner)
            .map_err(|inner| DataFusionError::Context(context, Box::new(inner))),
        DataFusionError::Shared(shared) => match Arc::try_unwrap(shared) {
            Ok(inner) => into_sdk_error(inner),
            Err(shared) => Err(DataFusionError::Shared(shared)),
        },
        other => Err(other),
    }
}

/// The catalog: resources (the default schema) and `metrics`.
#[derive(Debug)]
struct Catalog {
    resources: Arc<Resources>,
    metrics: Arc<Metrics>,
}

impl CatalogProvider for Catalog {
    fn schema_names(&self) -> Vec<String> {
        vec![RESOURCES.to_owned(), METRICS.to_owned()]
    }

    fn schema(&self, name: &str) -> Option<Arc<dyn SchemaProvider>> {
        match name {
            RESOURCES => Some(self.resources.clone()),
            METRICS => Some(self.metrics.clone()),
            _ => None,
        }
    }
}

/// Resources, by id, resolved when named.
struct Resources {
    /// Whether files and Parquet conversions may be read.
    files_allowed: bool,
    client: Client,
    files: Arc<FileSources>,
    permits: Arc<Semaphore>,
    progress: Progress,
}

impl fmt::Debug for Resources {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Resources").finish_non_exhaustive()
    }
}

impl Resources {
    /// The table of a resource the Tabular API serves.
    fn api_table(
        &self,
        id: &str,
        query: datagouv::Query,
        types: datagouv::ArrowTypes,
    ) -> Arc<dyn TableProvider> {
        Arc::new(ApiTable::new(
            format!("resource {id}"),
            query,
            types,
            self.permits.clone(),
            self.progress.clone(),
        ))
    }
}

#[async_trait]
impl SchemaProvider for Resources {
    fn table_names(&self) -> Vec<String> {
        Vec::new()
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        // The id is checked before any request (a UUID, never a path).
        let query = self.client.tabular_resource(name).map_err(|_| {
            DataFusionError::Plan(format!(
                "table `{name}` is not a resource id: name a resource by its id in double quotes, e.g. \
                 SELECT * FROM \"10000000-0000-4000-8000-000000000001\", or a metrics model as metrics.<model>"
            ))
        })?;
        if !self.files_allowed {
            return match query.arrow_types().await {
                Ok(types) => Ok(Some(self.api_table(name, query, types))),
                Err(error) if not_served(&error) => Err(DataFusionError::Plan(format!(
                    "resource {name} is not served by the Tabular API, and this engine reads no resource files \
                     (their URLs come from the catalog); query it with `datagouv sql`, which reads the file"
                ))),
                Err(error) => Err(external(error)),
            };
        }
        let (types, file) = futures::join!(query.arrow_types(), catalog_file(&self.client, name));
        // A catalog that cannot be asked (down, another network) leaves the
        // Tabular API; a deleted resource is an error whatever serves it.
        let file = match file {
            Ok(file) => file,
            Err(CatalogError::Deleted(error)) => return Err(error),
            Err(CatalogError::Unreachable(error)) => match types {
                Ok(_) => None,
                Err(_) => return Err(error),
            },
        };
        if let Some(file) = file.as_ref().filter(|file| file.parquet_url.is_some()) {
            return self.files.table(file).await.map(Some);
        }
        match types {
            Ok(types) => Ok(Some(self.api_table(name, query, types))),
            Err(error) if not_served(&error) => match file {
                Some(file) => self.files.table(&file).await.map(Some),
                None => Err(DataFusionError::Plan(format!(
                    "no resource {name}: neither data.gouv.fr's catalog nor its Tabular API knows it; check the id \
                     (`datagouv resources show {name}`)"
                ))),
            },
            Err(error) => Err(external(error)),
        }
    }

    fn table_exist(&self, name: &str) -> bool {
        self.client.tabular_resource(name).is_ok()
    }
}

/// The Tabular API does not serve the resource (not ingested, too large, another format).
fn not_served(error: &datagouv::Error) -> bool {
    matches!(error, datagouv::Error::Api { status, .. } if status.as_u16() == 404)
}

/// Why the catalog gave no record.
enum CatalogError {
    /// The resource was deleted (410).
    Deleted(DataFusionError),
    /// Any other failure: the catalog could not say.
    Unreachable(DataFusionError),
}

/// The catalog's record of a resource, or none when the catalog does not
/// know it.
async fn catalog_file(
    client: &Client,
    id: &str,
) -> std::result::Result<Option<ResourceFile>, CatalogError> {
    let path = format!(
        "/datasets/resources/{}/",
        datagouv::path_segment(id).map_err(|e| CatalogError::Unreachable(external(e)))?
    );
    let response = match client.raw_v2(reqwest::Method::GET, &path, None).await {
        Ok(response) => response,
        Err(datagouv::Error::Api { status, .. }) if status.as_u16() == 404 => return Ok(None),
        Err(datagouv::Error::Api { status, .. }) if status.as_u16() == 410 => {
            return Err(CatalogError::Deleted(DataFusionError::Plan(format!(
                "resource {id} was deleted from data.gouv.fr (410 Gone): it has no rows to read"
            ))));
        }
        Err(error) => return Err(CatalogError::Unreachable(external(error))),
    };
    if !response.status().is_success() {
        return Err(CatalogError::Unreachable(external(
            datagouv::Error::from_response(response).await,
        )));
    }
    let body: serde_json::Value = response
        .json()
        .await
        .map_err(|e| CatalogError::Unreachable(external(datagouv::Error::Transport(e))))?;
    let resource = &body["resource"];
    let text = |key: &str| resource[key].as_str().map(str::to_owned);
    let checksum = resource["checksum"]["value"].as_str().and_then(|value| {
        let kind = datagouv::ChecksumKind::parse(resource["checksum"]["type"].as_str()?)?;
        Some(datagouv::Checksum {
            kind,
            value: value.to_owned(),
        })
    });
    Ok(Some(ResourceFile {
        id: id.to_owned(),
        title: text("title").unwrap_or_default(),
        url: text("url").unwrap_or_default(),
        format: text("format"),
        mime: text("mime"),
        checksum,
        filesize: resource["filesize"].as_u64(),
        last_modified: text("last_modified"),
        parquet_url: resource["extras"]["analysis:parsing:parquet_url"]
            .as_str()
            .filter(|url| !url.is_empty())
            .map(str::to_owned),
    }))
}

/// Metrics models, by name, resolved when named.
struct Metrics {
    client: Client,
    permits: Arc<Semaphore>,
    progress: Progress,
}

impl fmt::Debug for Metrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

#[async_trait]
impl SchemaProvider for Metrics {
    fn table_names(&self) -> Vec<String> {
        Vec::new()
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        let query = self
            .client
            .metrics_model(name)
            .map_err(|error| DataFusionError::Plan(format!("metrics.{name}: {error}")))?;
        let types = query.arrow_types().await.map_err(external)?;
        Ok(Some(Arc::new(ApiTable::new(
            format!("metrics model {name}"),
            query,
            types,
            self.permits.clone(),
            self.progress.clone(),
        ))))
    }

    fn table_exist(&self, name: &str) -> bool {
        self.client.metrics_model(name).is_ok()
    }
}
