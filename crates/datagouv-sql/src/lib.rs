//! SQL over any data.gouv.fr resource, with [Apache DataFusion].
//!
//! Every resource is a table, addressed by its id as a quoted table name
//! (`SELECT … FROM "0a1b…"`), every Metrics model a table of the `metrics`
//! schema (`SELECT … FROM metrics.datasets`). Tables are resolved when a
//! query names them: no registration step.
//!
//! A resource the Tabular API serves is scanned through it: filters,
//! columns and limits go to the server, windows past the export cap are
//! the scan's partitions. Other resources are read from their Parquet
//! conversion over HTTP (range requests), else from the file itself,
//! downloaded once (verified, cached by checksum) and read locally.
//!
//! [Apache DataFusion]: https://datafusion.apache.org

pub mod files;
