#![doc = include_str!("../README.md")]

mod config;
mod error;
mod export;
pub mod metrics;
mod pagination;
mod query;
mod rate_limit;
mod retry;
mod transport;

pub use config::{
    ApiKey, Client, ClientBuilder, Environment, METRICS_URL, TABULAR_URL, USER_AGENT,
};
pub use error::{Error, GeneratedError, SendExt};
pub use export::{EXPORT_CAP, ExportFormat, ExportOptions, ExportSummary, Progress};
pub use pagination::{PAGE_TYPES, Page, Paginator};
pub use query::{
    Aggregate, Column, Condition, Filter, MAX_PAGE_SIZE, Op, Order, Profile, Query, RowsPage,
};
pub use rate_limit::RateLimit;
pub use retry::{Decision, Outcome, RetryPolicy};

/// The generated Main API clients and types (`v1`, `v2`).
pub use datagouv_main as main_api;
/// The generated Metrics API client and types.
pub use datagouv_metrics as metrics_api;
/// The generated Tabular API client and types.
pub use datagouv_tabular as tabular_api;
