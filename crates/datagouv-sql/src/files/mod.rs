//! Tables of resource files the Tabular API does not serve: a Parquet
//! conversion over HTTP, or the file itself, downloaded and read locally.
//! (Placeholder of the interface; the readers land with their tests.)

use std::path::PathBuf;
use std::sync::Arc;

use datafusion::catalog::TableProvider;
use datafusion::error::DataFusionError;
use datafusion::execution::runtime_env::RuntimeEnv;

/// A resource file as the catalog describes it.
#[derive(Clone, Debug, Default)]
pub struct ResourceFile {
    /// The resource id.
    pub id: String,
    /// Its title.
    pub title: String,
    /// Where the file is.
    pub url: String,
    /// The catalog's format (`csv`, `xlsx`, …).
    pub format: Option<String>,
    /// The catalog's MIME type.
    pub mime: Option<String>,
    /// The catalog's checksum.
    pub checksum: Option<datagouv::Checksum>,
    /// The catalog's size in bytes.
    pub filesize: Option<u64>,
    /// The Parquet conversion (`analysis:parsing:parquet_url`).
    pub parquet_url: Option<String>,
}

/// Makes tables of resource files.
pub struct FileSources {
    #[allow(dead_code)]
    client: datagouv::Client,
    #[allow(dead_code)]
    cache_dir: PathBuf,
    #[allow(dead_code)]
    runtime: Arc<RuntimeEnv>,
}

impl FileSources {
    /// Files cached in `cache_dir`, object stores registered in `runtime`.
    pub fn new(client: datagouv::Client, cache_dir: PathBuf, runtime: Arc<RuntimeEnv>) -> Self {
        FileSources {
            client,
            cache_dir,
            runtime,
        }
    }

    /// The best table for a file the Tabular API does not serve.
    pub async fn table(
        &self,
        file: &ResourceFile,
    ) -> Result<Arc<dyn TableProvider>, DataFusionError> {
        Err(DataFusionError::NotImplemented(format!(
            "resource {} ({}) is not served by the Tabular API and files are not read yet",
            file.id, file.title
        )))
    }
}
