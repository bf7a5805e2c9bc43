//! The config file the `datagouv` command line writes and the Python
//! package's `Client.from_env` reads: TOML, every key optional.

use serde::{Deserialize, Serialize};
use std::{
    fmt,
    path::{Path, PathBuf},
};

use crate::Error;

/// What the config file may hold. Its `Debug` output never shows the key.
#[derive(Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// `prod` or `demo`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub env: Option<String>,
    /// The Main API root.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub main_url: Option<String>,
    /// The Tabular API root.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tabular_url: Option<String>,
    /// The Metrics API root.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metrics_url: Option<String>,
    /// The API key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_key: Option<String>,
}

impl fmt::Debug for ConfigFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConfigFile")
            .field("env", &self.env)
            .field("main_url", &self.main_url)
            .field("tabular_url", &self.tabular_url)
            .field("metrics_url", &self.metrics_url)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl ConfigFile {
    /// The keys a config file may hold, for error hints.
    pub const KEYS: &str = "env, main_url, tabular_url, metrics_url and api_key";

    /// Reads a config file's text; an unknown key or a bad value is
    /// [`Error::Config`] naming the file and the keys it may hold.
    pub fn parse(text: &str, path: &Path) -> Result<ConfigFile, Error> {
        toml::from_str(text).map_err(|e| {
            Error::Config(format!(
                "the config file {} is not valid: {} (its keys are {})",
                path.display(),
                e.message(),
                Self::KEYS
            ))
        })
    }

    /// Reads the file at `path`: `None` when it does not exist.
    pub fn read(path: &Path) -> Result<Option<ConfigFile>, Error> {
        match std::fs::read_to_string(path) {
            Ok(text) => Self::parse(&text, path).map(Some),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(error) => Err(Error::io("read", path, error)),
        }
    }

    /// `$XDG_CONFIG_HOME/datagouv/config.toml`, else
    /// `~/.config/datagouv/config.toml` (`None` without either variable).
    pub fn default_path() -> Option<PathBuf> {
        let absolute = |name: &str| {
            std::env::var_os(name)
                .map(PathBuf::from)
                .filter(|p| p.is_absolute())
        };
        let base =
            absolute("XDG_CONFIG_HOME").or_else(|| absolute("HOME").map(|h| h.join(".config")))?;
        Some(base.join("datagouv").join("config.toml"))
    }
}
