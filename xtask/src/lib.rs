//! Project automation for datagouv-rs, as a library so tests can drive it.
//!
//! `cargo xtask fetch` downloads the upstream API documents, stores them
//! verbatim in `specs/upstream/`, and writes the normalised OpenAPI 3.0
//! documents that the generated crates' build scripts read.
//! `cargo xtask coverage` maps every upstream operation and every endpoint of
//! the seed reference to the method that serves it. This crate is never
//! published and never a dependency of the SDK.

pub mod apis;
pub mod convert;
pub mod coverage;
pub mod fetch;
pub mod normalize;
pub mod overlay;
pub mod rules;
pub mod surface;
