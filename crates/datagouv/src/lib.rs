#![doc = include_str!("../README.md")]

/// The repository README's quickstart, compiled as a doc test.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
struct RepositoryReadme;

mod api_key;
pub mod atomic_file;
mod config;
mod config_file;
mod csv_rows;
mod download;
mod error;
mod export;
mod field_mask;
pub mod metrics;
mod model_fields;
mod pagination;
mod publish;
mod query;
mod query_text;
mod rate_limit;
mod retry;
mod spawned;
mod sync;
mod topics;
mod transport;
mod upload;

pub use api_key::ApiKey;
pub use config::{Client, ClientBuilder, Environment, METRICS_URL, TABULAR_URL, USER_AGENT};
pub use config_file::ConfigFile;
pub use csv_rows::{CsvRow, csv_rows};
pub use datagouv_runtime::JsonObject;
pub use download::{
    Checksum, ChecksumKind, DownloadOptions, DownloadSource, DownloadSummary, Validators,
};
pub use error::{Error, GeneratedError, SendExt};
#[cfg(feature = "parquet")]
pub use export::ParquetStats;
#[cfg(feature = "arrow")]
pub use export::{ArrowTypes, DecodeStats, RecordBatchStream};
pub use export::{
    EXPORT_CAP, ExportFormat, ExportOptions, ExportPlan, ExportSummary, MAX_PARALLEL_WINDOWS,
    Progress, WindowMethod, interrupted_export,
};
pub use model_fields::model_fields;
pub use pagination::{Items, ListExt, ListOperation, Page, Pages, Paginator};
pub use publish::{Dataset, DatasetDraft, Resource, dataset_writable_fields};
pub use query::{
    Aggregate, Column, Condition, Filter, MAX_PAGE_SIZE, Op, Order, Profile, Query, RowsPage,
};
pub use query_text::{SyntaxError, SyntaxKind, parse_condition, parse_filter, parse_sort};
pub use rate_limit::{MAX_SERVER_WAIT, RateLimit};
pub use retry::{Decision, Outcome, RetryPolicy, server_delay};
pub use sync::{
    MANIFEST, Manifest, ManifestEntry, SyncAbort, SyncEvent, SyncPlan, SyncSummary, safe_name,
};
pub use topics::{ElementKind, Topic, TopicElement};
pub use upload::{
    ImageUpload, ResourceUpload, UploadOptions, UploadSource, UploadedCommunityResource,
    UploadedImage, UploadedResource,
};
/// The Arrow crates of the record batches (feature `arrow`), re-exported so
/// that callers use the same version.
#[cfg(feature = "arrow")]
pub use {arrow_array, arrow_schema};

/// `value` (an id or a slug) as exactly one URL path segment, for paths
/// given to [`Client::raw`]: percent-encoded (`/` as `%2F`, `%` as `%25`),
/// or [`Error::InvalidInput`] for an empty value, `.` or `..`. The
/// generated clients encode their path parameters the same way.
///
/// ```
/// assert_eq!(datagouv::path_segment("../me").unwrap(), "..%2Fme");
/// assert!(datagouv::path_segment("..").is_err());
/// ```
pub fn path_segment(value: &str) -> Result<String, Error> {
    datagouv_runtime::path_segment(value).map_err(Error::InvalidInput)
}

#[cfg(fuzzing)]
#[doc(hidden)]
pub use download::fuzzing;

/// What most programs import: the [`Client`], `.items()`/`.pages()` on
/// every list ([`ListExt`]), `.value()` on every call ([`SendExt`]), and the
/// `futures` stream traits the streams are read with.
pub mod prelude {
    pub use crate::{Client, Error, ListExt, SendExt};
    pub use futures::{StreamExt as _, TryStreamExt as _};
}

/// The generated Main API clients and types (`v1`, `v2`).
pub use datagouv_main as main_api;
/// The generated Metrics API client and types.
pub use datagouv_metrics as metrics_api;
/// The generated Tabular API client and types.
pub use datagouv_tabular as tabular_api;
