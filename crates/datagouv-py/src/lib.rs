//! `datagouv_rs`, the Python package of datagouv-rs: the SDK's client,
//! catalog, files, rows and SQL from Python, rows as Arrow (PyO3).
//!
//! The Python side is in `python/datagouv_rs` (the `.pyi` stubs describe
//! every class and call); this crate is its compiled module,
//! `datagouv_rs._native`.

mod client;
mod errors;
mod items;
mod lists;
mod rows;
mod runtime;
mod writes;

use pyo3::prelude::*;

/// The compiled module.
#[pymodule]
fn _native(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add("__version__", env!("CARGO_PKG_VERSION"))?;
    errors::register(module)?;
    module.add_class::<client::Client>()?;
    module.add_class::<items::Item>()?;
    module.add_class::<items::Dataset>()?;
    module.add_class::<items::Resource>()?;
    module.add_class::<lists::ItemIterator>()?;
    module.add_class::<lists::AsyncItemIterator>()?;
    module.add_class::<rows::Rows>()?;
    module.add_class::<rows::RowIterator>()?;
    module.add_class::<rows::AsyncRowIterator>()?;
    Ok(())
}
