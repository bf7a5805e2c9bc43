//! The four upstream documents: where they come from and where they go.

use std::path::{Path, PathBuf};

/// One upstream API description.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Api {
    /// The Main API v1 (`/api/1/`), Swagger 2.0 from udata.
    MainV1,
    /// The Main API v2 (`/api/2/`), Swagger 2.0 from udata.
    MainV2,
    /// The Tabular API, OpenAPI 3.0 from api-tabular.
    Tabular,
    /// The Metrics API, OpenAPI 3.0 from api-tabular.
    Metrics,
}

impl Api {
    /// Every API, in the order they are processed.
    pub const ALL: [Api; 4] = [Api::MainV1, Api::MainV2, Api::Tabular, Api::Metrics];

    /// A short key: `main-v1`, `main-v2`, `tabular`, `metrics`.
    pub fn key(self) -> &'static str {
        match self {
            Api::MainV1 => "main-v1",
            Api::MainV2 => "main-v2",
            Api::Tabular => "tabular",
            Api::Metrics => "metrics",
        }
    }

    /// The upstream file name without extension, as in `shared/specs/raw/`.
    pub fn upstream_stem(self) -> &'static str {
        match self {
            Api::MainV1 => "main",
            Api::MainV2 => "main-v2",
            Api::Tabular => "tabular",
            Api::Metrics => "metrics",
        }
    }

    /// Where production serves the document.
    pub fn live_url(self) -> &'static str {
        match self {
            Api::MainV1 => "https://www.data.gouv.fr/api/1/swagger.json",
            Api::MainV2 => "https://www.data.gouv.fr/api/2/swagger.json",
            Api::Tabular => "https://tabular-api.data.gouv.fr/api/doc/swagger.json",
            Api::Metrics => "https://metric-api.data.gouv.fr/api/doc/swagger.json",
        }
    }

    /// The normalised document the crate's build script reads, relative to
    /// the workspace root. It lives inside the crate so the crate packages
    /// standalone.
    pub fn normalized_path(self) -> &'static str {
        match self {
            Api::MainV1 => "crates/datagouv-main/spec/v1.json",
            Api::MainV2 => "crates/datagouv-main/spec/v2.json",
            Api::Tabular => "crates/datagouv-tabular/spec/tabular.json",
            Api::Metrics => "crates/datagouv-metrics/spec/metrics.json",
        }
    }

    /// The Rust module path of the generated client.
    pub fn client_path(self) -> &'static str {
        match self {
            Api::MainV1 => "datagouv_main::v1",
            Api::MainV2 => "datagouv_main::v2",
            Api::Tabular => "datagouv_tabular",
            Api::Metrics => "datagouv_metrics",
        }
    }

    /// The overlays of corrections, relative to the workspace root, in the
    /// order they apply (the Main API versions share `main-common.yaml`).
    pub fn overlay_paths(self) -> Vec<String> {
        let own = format!("specs/overlay/{}.yaml", self.key());
        match self {
            Api::MainV1 | Api::MainV2 => vec!["specs/overlay/main-common.yaml".to_owned(), own],
            Api::Tabular | Api::Metrics => vec![own],
        }
    }
}

/// The extensions an upstream document may have, in lookup order.
pub const UPSTREAM_EXTENSIONS: [&str; 3] = ["json", "yaml", "yml"];

/// The folder holding the upstream documents as fetched, verbatim.
pub const UPSTREAM_DIR: &str = "specs/upstream";

/// The workspace root (the parent of this crate).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_path_buf()
}
