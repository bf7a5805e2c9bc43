//! Tables of resource files the Tabular API does not serve: a Parquet
//! conversion over HTTP, or the file itself, downloaded and read locally.
//!
//! - **Parquet over HTTP** ([`FileSources::parquet_url_table`]): DataFusion's
//!   own Parquet reader over a read-only object store that sends range
//!   requests through the SDK's client; the footer is read first, then only
//!   the row groups whose statistics can match the query's filters, and of
//!   them only the columns it selects.
//! - **The file itself** ([`FileSources::downloaded_table`]): the SDK's
//!   verified download (the catalog's checksum when known) into a cache
//!   folder, converted once into a typed Parquet file that later queries
//!   read without any request. CSV/TSV (delimiter `,` `;` tab `|` and
//!   encoding UTF-8 or Latin-1/Windows-1252 detected), gzip, a ZIP holding
//!   one table, XLSX (first sheet) and Parquet are read; column types are
//!   inferred from the whole column (integers, decimals, dates, else text).

mod http_store;
mod local;

use std::{
    collections::HashMap,
    path::PathBuf,
    sync::{Arc, Mutex},
};

use datafusion::{
    catalog::TableProvider,
    datasource::{
        file_format::parquet::ParquetFormat,
        listing::{ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl},
    },
    error::DataFusionError,
    execution::{
        SessionState, SessionStateBuilder, object_store::ObjectStoreUrl, runtime_env::RuntimeEnv,
    },
};
use object_store::path::Path as StorePath;

use http_store::HttpFiles;

/// A resource file as the catalog describes it.
#[derive(Clone, Debug, Default)]
pub struct ResourceFile {
    /// The resource's id.
    pub id: String,
    /// The resource's title.
    pub title: String,
    /// The file's URL (`resource.url`).
    pub url: String,
    /// The catalog's format (`csv`, `xlsx`, `parquet`, …), if any.
    pub format: Option<String>,
    /// The catalog's MIME type, if any.
    pub mime: Option<String>,
    /// The catalog's checksum, verified on download and the cache key.
    pub checksum: Option<datagouv::Checksum>,
    /// The catalog's size in bytes, if any (part of the cache key when
    /// there is no checksum).
    pub filesize: Option<u64>,
    /// When the file last changed, as the catalog says (`last_modified`;
    /// part of the cache key when there is no checksum).
    pub last_modified: Option<String>,
    /// The Parquet conversion of the file (extras
    /// `analysis:parsing:parquet_url`), if any.
    pub parquet_url: Option<String>,
}

impl ResourceFile {
    /// How errors name the resource: its title and id.
    fn name(&self) -> String {
        match self.title.is_empty() {
            true => format!("resource {}", self.id),
            false => format!("resource \"{}\" ({})", self.title, self.id),
        }
    }
}

/// Where resource files are read from: the SDK client for requests, the
/// cache folder for downloaded files, and DataFusion's runtime, in which
/// the HTTP object stores are registered.
pub struct FileSources {
    client: datagouv::Client,
    cache_dir: PathBuf,
    runtime: Arc<RuntimeEnv>,
    /// The store registered for each origin (`scheme://host:port`).
    stores: Mutex<HashMap<String, Arc<HttpFiles>>>,
}

impl std::fmt::Debug for FileSources {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileSources")
            .field("cache_dir", &self.cache_dir)
            .finish_non_exhaustive()
    }
}

impl FileSources {
    /// Reads files with `client`, caches downloaded files (and their
    /// converted tables) under `cache_dir`, and registers its HTTP stores in
    /// `runtime` (use the same runtime for the session that runs queries).
    pub fn new(client: datagouv::Client, cache_dir: PathBuf, runtime: Arc<RuntimeEnv>) -> Self {
        FileSources {
            client,
            cache_dir,
            runtime,
            stores: Mutex::new(HashMap::new()),
        }
    }

    /// The best table for a file the Tabular API does not serve: the
    /// Parquet conversion over HTTP when named, else the file itself.
    pub async fn table(
        &self,
        file: &ResourceFile,
    ) -> Result<Arc<dyn TableProvider>, DataFusionError> {
        let Some(url) = &file.parquet_url else {
            return self.downloaded_table(file).await;
        };
        match self.parquet_url_table(url).await {
            Ok(table) => Ok(table),
            // A conversion the catalog still names but the host no longer
            // has: the file itself is the next best source.
            Err(DataFusionError::External(error)) if is_gone(error.as_ref()) => {
                tracing::warn!(
                    resource = %file.id,
                    %url,
                    "the Parquet conversion is gone ({error}); reading the file itself"
                );
                self.downloaded_table(file).await
            }
            // The SDK's errors stay as they are, for the caller to downcast.
            Err(error @ DataFusionError::External(_)) => Err(error),
            Err(error) => Err(error.context(format!(
                "reading the Parquet conversion of {} (`{url}`)",
                file.name()
            ))),
        }
    }

    /// A Parquet file over HTTP, read by ranges: the footer, then only the
    /// row groups and columns a query needs. The file is asked for its size
    /// once (`HEAD`); a host that cannot answer is a
    /// [`DataFusionError::External`] holding the [`datagouv::Error`].
    pub async fn parquet_url_table(
        &self,
        url: &str,
    ) -> Result<Arc<dyn TableProvider>, DataFusionError> {
        let parsed = url::Url::parse(url).map_err(|e| {
            DataFusionError::Plan(format!(
                "`{url}` is not a URL ({e}); give the full address of the Parquet file"
            ))
        })?;
        if !matches!(parsed.scheme(), "http" | "https") || parsed.query().is_some() {
            return Err(DataFusionError::Plan(format!(
                "`{url}` is not an http(s) URL without a query string; download the file \
                 instead (its Parquet conversion cannot be read by ranges)"
            )));
        }
        let store = self.store_for(&parsed)?;
        let table_url = ListingTableUrl::parse(url)?;
        let location = StorePath::from_url_path(parsed.path())
            .map_err(|e| DataFusionError::Plan(format!("`{url}`: {e}")))?;
        // Asked here so that a missing file is the SDK's error, with its status.
        store
            .meta(&location)
            .await
            .map_err(|e| DataFusionError::External(Box::new(e)))?;
        let format = ParquetFormat::default();
        listing_table(&self.session(), table_url, format).await
    }

    /// The file itself: downloaded once through the SDK's verified download
    /// (the catalog's checksum when known), converted once into a typed
    /// Parquet file in the cache folder, read locally. A second query of
    /// the same file (same checksum, else same URL, size and date) sends no
    /// request.
    pub async fn downloaded_table(
        &self,
        file: &ResourceFile,
    ) -> Result<Arc<dyn TableProvider>, DataFusionError> {
        let table =
            local::cached_table(&self.client, &self.cache_dir, file, &self.session()).await?;
        let url = ListingTableUrl::parse(table.to_string_lossy())?;
        listing_table(&self.session(), url, ParquetFormat::default()).await
    }

    /// A session on this runtime, for schema inference and conversions.
    fn session(&self) -> SessionState {
        SessionStateBuilder::new()
            .with_runtime_env(self.runtime.clone())
            .with_default_features()
            .build()
    }

    /// The HTTP store of the URL's origin, registered in the runtime on
    /// first use.
    fn store_for(&self, url: &url::Url) -> Result<Arc<HttpFiles>, DataFusionError> {
        let origin = url.origin().ascii_serialization();
        let mut stores = self.stores.lock().expect("stores lock");
        if let Some(store) = stores.get(&origin) {
            return Ok(store.clone());
        }
        let store = HttpFiles::new(self.client.clone(), url);
        let store_url = ObjectStoreUrl::parse(&origin)?;
        self.runtime
            .register_object_store(store_url.as_ref(), store.clone());
        stores.insert(origin, store.clone());
        Ok(store)
    }
}

/// Whether an error is the SDK's 404 or 410: the file is not there.
fn is_gone(error: &(dyn std::error::Error + Send + Sync + 'static)) -> bool {
    error
        .downcast_ref::<datagouv::Error>()
        .and_then(datagouv::Error::status)
        .is_some_and(|s| s == reqwest::StatusCode::NOT_FOUND || s == reqwest::StatusCode::GONE)
}

/// A table of one Parquet file (local or over a registered store).
async fn listing_table(
    session: &SessionState,
    url: ListingTableUrl,
    format: ParquetFormat,
) -> Result<Arc<dyn TableProvider>, DataFusionError> {
    // Any name: the file is named by the URL, whatever its extension.
    let options = ListingOptions::new(Arc::new(format)).with_file_extension("");
    let schema = options.infer_schema(session, &url).await?;
    let config = ListingTableConfig::new(url)
        .with_listing_options(options)
        .with_schema(schema);
    Ok(Arc::new(ListingTable::try_new(config)?))
}
