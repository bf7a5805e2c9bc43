//! The settings a command runs with, and where each comes from: a flag, a
//! variable, the config file or the default, in that order of precedence.
//! Also the config file itself: read, checked, and written owner-only.

use clap::{ArgMatches, parser::ValueSource};
use datagouv::{
    Client, ConfigFile, Environment, METRICS_URL, TABULAR_URL,
    atomic_file::{AtomicOptions, write_atomically},
};
use std::{
    fmt,
    path::{Path, PathBuf},
};

use crate::{cli::GlobalOptions, error::CliError, output::Record};

/// How the API key shows in `Debug` output: whether one is set, never it.
pub fn redacted(key: &Option<String>) -> Option<&'static str> {
    key.as_ref().map(|_| "<redacted>")
}

/// Where a setting comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Source {
    /// A command-line flag.
    Flag(&'static str),
    /// An environment variable.
    Variable(&'static str),
    /// The config file.
    ConfigFile,
    /// Nothing set it.
    Default,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Flag(flag) => write!(f, "flag --{flag}"),
            Source::Variable(name) => write!(f, "variable {name}"),
            Source::ConfigFile => f.write_str("config file"),
            Source::Default => f.write_str("default"),
        }
    }
}

/// One setting's value and origin.
#[derive(Clone, Debug)]
struct Setting {
    value: Option<String>,
    source: Source,
}

/// Where the config file is, and whether it was read.
#[derive(Clone, Debug)]
struct ConfigLocation {
    path: Option<PathBuf>,
    source: Source,
    found: bool,
}

/// The resolved settings. Their `Debug` output never shows the API key.
pub struct Settings {
    env: Setting,
    environment: Environment,
    main_url: Setting,
    tabular_url: Setting,
    metrics_url: Setting,
    api_key: Setting,
    config: ConfigLocation,
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let api_key = Setting {
            value: redacted(&self.api_key.value).map(str::to_owned),
            source: self.api_key.source.clone(),
        };
        f.debug_struct("Settings")
            .field("env", &self.env)
            .field("environment", &self.environment)
            .field("main_url", &self.main_url)
            .field("tabular_url", &self.tabular_url)
            .field("metrics_url", &self.metrics_url)
            .field("api_key", &api_key)
            .field("config", &self.config)
            .finish()
    }
}

impl Settings {
    /// Resolves every setting: flag, then variable (clap reads both and
    /// says which), then the config file, then the default.
    ///
    /// A config file named by `--config` or `DATAGOUV_CONFIG` must exist
    /// unless `creating` (`config init` writes it); the default one may be
    /// absent.
    pub fn resolve(
        options: &GlobalOptions,
        matches: &ArgMatches,
        creating: bool,
    ) -> Result<Settings, CliError> {
        let source_of =
            |id: &str, flag: &'static str, variable: &'static str| match matches.value_source(id) {
                Some(ValueSource::EnvVariable) => Source::Variable(variable),
                _ => Source::Flag(flag),
            };
        let config = ConfigLocation::find(
            options.config.clone(),
            options
                .config
                .as_ref()
                .map(|_| source_of("config", "config", "DATAGOUV_CONFIG")),
        );
        let (file, found) = config.read(creating)?;
        let config = ConfigLocation { found, ..config };
        let pick = |flag_value: &Option<String>,
                    id: &str,
                    flag: &'static str,
                    variable: &'static str,
                    file_value: Option<String>| {
            match flag_value.as_ref().filter(|v| !v.trim().is_empty()) {
                Some(value) => Setting {
                    value: Some(value.clone()),
                    source: source_of(id, flag, variable),
                },
                None => match file_value.filter(|v| !v.trim().is_empty()) {
                    Some(value) => Setting {
                        value: Some(value),
                        source: Source::ConfigFile,
                    },
                    None => Setting {
                        value: None,
                        source: Source::Default,
                    },
                },
            }
        };
        let env = pick(&options.env, "env", "env", "DATAGOUV_ENV", file.env);
        let environment = match &env.value {
            Some(text) => Environment::parse(text)
                .map_err(|e| CliError::usage(format!("{e} (from the {})", env.source)))?,
            None => Environment::default(),
        };
        Ok(Settings {
            env,
            environment,
            main_url: pick(
                &options.main_url,
                "main_url",
                "main-url",
                "DATAGOUV_MAIN_URL",
                file.main_url,
            ),
            tabular_url: pick(
                &options.tabular_url,
                "tabular_url",
                "tabular-url",
                "DATAGOUV_TABULAR_URL",
                file.tabular_url,
            ),
            metrics_url: pick(
                &options.metrics_url,
                "metrics_url",
                "metrics-url",
                "DATAGOUV_METRICS_URL",
                file.metrics_url,
            ),
            api_key: pick(
                &options.api_key,
                "api_key",
                "api-key",
                "DATAGOUV_API_KEY",
                file.api_key,
            ),
            config,
        })
    }

    /// Whether an API key is set (by a flag, a variable or the config file).
    pub fn has_api_key(&self) -> bool {
        self.api_key.value.is_some()
    }

    /// The client these settings describe.
    pub fn client(&self) -> Result<Client, CliError> {
        let mut builder = Client::builder().environment(self.environment);
        if let Some(url) = &self.main_url.value {
            builder = builder.main_url(url);
        }
        if let Some(url) = &self.tabular_url.value {
            builder = builder.tabular_url(url);
        }
        if let Some(url) = &self.metrics_url.value {
            builder = builder.metrics_url(url);
        }
        if let Some(key) = &self.api_key.value {
            builder = builder.api_key(key);
        }
        Ok(builder.build()?)
    }

    /// What `auth status` prints: each setting, its value (never the key's)
    /// and where it comes from.
    pub fn status(&self) -> Vec<Record> {
        let environment = match self.environment {
            Environment::Demo => "demo",
            _ => "prod",
        };
        let default_main = match self.environment {
            Environment::Demo => "https://demo.data.gouv.fr",
            _ => "https://www.data.gouv.fr",
        };
        let url = |setting: &Setting, default: &str| {
            setting.value.clone().unwrap_or_else(|| default.to_owned())
        };
        let config_value = match (&self.config.path, self.config.found) {
            (Some(path), true) => path.display().to_string(),
            (Some(path), false) => format!("{} (absent)", path.display()),
            (None, _) => "none (no HOME or XDG_CONFIG_HOME)".to_owned(),
        };
        let key_value = if self.api_key.value.is_some() {
            "set"
        } else {
            "not set"
        };
        let row = |setting: &str, value: String, source: &Source| {
            Record::from_pairs([
                ("setting", setting.into()),
                ("value", value.into()),
                ("source", source.to_string().into()),
            ])
        };
        vec![
            row("environment", environment.to_owned(), &self.env.source),
            row(
                "main_url",
                url(&self.main_url, default_main),
                &self.main_url.source,
            ),
            row(
                "tabular_url",
                url(&self.tabular_url, TABULAR_URL),
                &self.tabular_url.source,
            ),
            row(
                "metrics_url",
                url(&self.metrics_url, METRICS_URL),
                &self.metrics_url.source,
            ),
            row("api_key", key_value.to_owned(), &self.api_key.source),
            row("config_file", config_value, &self.config.source),
        ]
    }

    /// Writes the config file with every setting not left to its default,
    /// owner-only (file 0600, new directory 0700); refuses to replace an
    /// existing file unless `force`.
    pub fn write_config_file(&self, force: bool) -> Result<PathBuf, CliError> {
        let path = self.config.path.clone().ok_or_else(|| {
            CliError::usage("there is no default place for the config file (neither XDG_CONFIG_HOME nor HOME is set)")
                .with_hint("name one with --config FILE")
        })?;
        if path.exists() && !force {
            return Err(
                CliError::usage(format!("{} already exists", path.display())).with_hint(
                    "add --force to replace it (its settings are kept unless overridden)",
                ),
            );
        }
        let given = |setting: &Setting| {
            (setting.source != Source::Default)
                .then(|| setting.value.clone())
                .flatten()
        };
        let file = ConfigFile {
            env: given(&self.env),
            main_url: given(&self.main_url),
            tabular_url: given(&self.tabular_url),
            metrics_url: given(&self.metrics_url),
            api_key: given(&self.api_key),
        };
        let body = toml::to_string(&file)
            .map_err(|e| CliError::other(format!("cannot write the config: {e}")))?;
        let text = format!(
            "# datagouv command-line settings; a flag or a DATAGOUV_* variable wins over them.\n\
             # Keys: env (prod|demo), main_url, tabular_url, metrics_url, api_key.\n{body}"
        );
        write_private(&path, text.as_bytes())?;
        Ok(path)
    }
}

impl Settings {
    /// The API key, for `auth status` to recognise it among the user's
    /// tokens (never printed).
    pub fn api_key(&self) -> Option<&str> {
        self.api_key.value.as_deref()
    }

    /// Whether the config file exists.
    pub fn config_file_exists(&self) -> bool {
        self.config.path.as_ref().is_some_and(|p| p.is_file())
    }

    /// `setup`: writes the config file with this environment and key (none:
    /// anonymous), keeping the base URLs the file already set; owner-only.
    pub fn write_setup(
        &self,
        environment: &str,
        api_key: Option<String>,
    ) -> Result<PathBuf, CliError> {
        let path = self.config.path.clone().ok_or_else(|| {
            CliError::usage("there is no default place for the config file (neither XDG_CONFIG_HOME nor HOME is set)")
                .with_hint("name one with --config FILE")
        })?;
        let from_file = |setting: &Setting| {
            (setting.source == Source::ConfigFile)
                .then(|| setting.value.clone())
                .flatten()
        };
        let file = ConfigFile {
            env: Some(environment.to_owned()),
            main_url: from_file(&self.main_url),
            tabular_url: from_file(&self.tabular_url),
            metrics_url: from_file(&self.metrics_url),
            api_key,
        };
        let body = toml::to_string(&file)
            .map_err(|e| CliError::other(format!("cannot write the config: {e}")))?;
        let text = format!(
            "# datagouv command-line settings; a flag or a DATAGOUV_* variable wins over them.\n\
             # Keys: env (prod|demo), main_url, tabular_url, metrics_url, api_key.\n{body}"
        );
        write_private(&path, text.as_bytes())?;
        Ok(path)
    }

    /// `delete-config`: deletes the config file.
    pub fn delete_config_file(&self) -> Result<PathBuf, CliError> {
        let Some(path) = self.config.path.clone() else {
            return Err(CliError::usage(
                "there is no config file (neither XDG_CONFIG_HOME nor HOME is set)",
            ));
        };
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(path),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Err(CliError::other(
                format!("there is no config file at {}", path.display()),
            )
            .with_hint("`datagouv setup` or `datagouv config init` writes one")),
            Err(error) => Err(datagouv::Error::io("delete", &path, error).into()),
        }
    }
}

impl ConfigLocation {
    /// The named file, or the default place.
    fn find(explicit: Option<PathBuf>, source: Option<Source>) -> ConfigLocation {
        match (explicit, source) {
            (Some(path), Some(source)) => ConfigLocation {
                path: Some(path),
                source,
                found: false,
            },
            _ => ConfigLocation {
                path: ConfigFile::default_path(),
                source: Source::Default,
                found: false,
            },
        }
    }

    /// Reads the file. An absent file is an empty config when it is the
    /// default one or `creating`; a file named by a flag or variable must
    /// exist. A file others can read that holds a key gets a warning.
    fn read(&self, creating: bool) -> Result<(ConfigFile, bool), CliError> {
        let Some(path) = &self.path else {
            return Ok((ConfigFile::default(), false));
        };
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                if self.source == Source::Default || creating {
                    return Ok((ConfigFile::default(), false));
                }
                return Err(CliError::usage(format!(
                    "the config file {} (named by the {}) does not exist",
                    path.display(),
                    self.source
                ))
                .with_hint(
                    "check the path, or write it with `datagouv config init --config FILE`; \
                     without --config the default file is used when present",
                ));
            }
            Err(error) => {
                return Err(CliError::other(format!(
                    "cannot read the config file {}: {error}",
                    path.display()
                )));
            }
        };
        let file = ConfigFile::parse(&text, path).map_err(|e| {
            let message = e.to_string();
            let message = message
                .strip_prefix("invalid configuration: ")
                .unwrap_or(&message);
            let message = message.split(" (its keys are").next().unwrap_or(message);
            CliError::usage(message).with_hint(format!("its keys are {}", ConfigFile::KEYS))
        })?;
        if file.api_key.is_some() {
            warn_if_shared(path);
        }
        Ok((file, true))
    }
}

#[cfg(unix)]
fn warn_if_shared(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(metadata) = std::fs::metadata(path) {
        let mode = metadata.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            eprintln!(
                "warning: {} holds an API key and others can read it (mode {mode:o}); run `chmod 600 {}`",
                path.display(),
                path.display()
            );
        }
    }
}

#[cfg(not(unix))]
fn warn_if_shared(_path: &Path) {}

/// Writes `bytes` to `path` readable by the owner only: a new directory is
/// made 0700, the file is written 0600 through the SDK's atomic file (a
/// locked partial file beside it, renamed over `path`), so it is never
/// readable by others, not even for a moment, and never half-written.
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), datagouv::Error> {
    let directory = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder
        .create(&directory)
        .map_err(|e| datagouv::Error::io("create the folder", &directory, e))?;
    write_atomically(path, bytes, AtomicOptions::default().private(true))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_never_shows_the_key() {
        use clap::{CommandFactory, FromArgMatches};
        const KEY: &str = "udata_cli-debug-secret";
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("config.toml");
        std::fs::write(&config, format!("api_key = \"{KEY}\"\n")).unwrap();
        let args = ["datagouv", "--api-key", KEY, "--config"];
        let matches = crate::cli::Cli::command()
            .get_matches_from(args.into_iter().chain([config.to_str().unwrap(), "me"]));
        let cli = crate::cli::Cli::from_arg_matches(&matches).unwrap();
        let settings = Settings::resolve(&cli.global, &matches, false).unwrap();
        let file: ConfigFile = toml::from_str(&format!("api_key = \"{KEY}\"")).unwrap();
        for debug in [
            format!("{cli:?}"),
            format!("{settings:?}"),
            format!("{file:?}"),
        ] {
            assert!(
                !debug.contains(KEY) && debug.contains("redacted"),
                "{debug}"
            );
        }
    }

    #[cfg(unix)]
    #[test]
    fn the_config_file_is_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("new").join("config.toml");
        write_private(&path, b"api_key = \"k\"\n").unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(path.parent().unwrap()), 0o700);
        // Replacing a file others could read leaves an owner-only one.
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        write_private(&path, b"env = \"demo\"\n").unwrap();
        assert_eq!(mode(&path), 0o600);
        let left: Vec<_> = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(left, ["config.toml"], "nothing but the file is left");
    }

    #[test]
    fn a_folder_where_the_config_file_goes_is_an_io_error_and_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::create_dir(&path).unwrap();
        let error = write_private(&path, b"env = \"demo\"\n").unwrap_err();
        assert!(matches!(error, datagouv::Error::Io { .. }), "{error:?}");
        assert!(path.is_dir());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn unknown_config_keys_are_refused() {
        assert!(toml::from_str::<ConfigFile>("apikey = \"x\"").is_err());
        let file: ConfigFile = toml::from_str("env = \"demo\"\napi_key = \"k\"").unwrap();
        assert_eq!(file.env.as_deref(), Some("demo"));
    }
}
