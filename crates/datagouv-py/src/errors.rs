//! The exception hierarchy: `datagouv_rs.Error` and one subclass per kind
//! of failure, each with `status`, `message` and `hint`.

use datafusion::error::DataFusionError;
use pyo3::{create_exception, exceptions::PyException, prelude::*};

create_exception!(
    datagouv_rs,
    Error,
    PyException,
    "Every error of datagouv_rs: `status` (HTTP, or None), `message`, `hint` (what to do next, or None)."
);
create_exception!(
    datagouv_rs,
    NotFound,
    Error,
    "404 or 410: no such object, or it was deleted."
);
create_exception!(
    datagouv_rs,
    Refused,
    Error,
    "401 or 403, or a write with no API key: the key is missing, wrong or not allowed."
);
create_exception!(
    datagouv_rs,
    InvalidInput,
    Error,
    "The request is wrong (refused before it was sent, or a 400/422 answer)."
);
create_exception!(
    datagouv_rs,
    RateLimited,
    Error,
    "429 after the retries: `reset` is when the quota resets (seconds since the epoch), if said."
);
create_exception!(
    datagouv_rs,
    Transport,
    Error,
    "The server could not be reached, or the connection broke."
);
create_exception!(
    datagouv_rs,
    ServerError,
    Error,
    "The server failed (5xx), or answered something that could not be read."
);
create_exception!(
    datagouv_rs,
    ChecksumMismatch,
    Error,
    "A download did not match the checksum the catalog records; nothing was kept."
);
create_exception!(
    datagouv_rs,
    FileError,
    Error,
    "A local file or folder could not be read or written."
);
create_exception!(
    datagouv_rs,
    ConfigError,
    Error,
    "The client settings are wrong (an unknown environment, a bad URL, a bad config file)."
);

/// Registers the exceptions, with their attributes' defaults on `Error`.
pub(crate) fn register(module: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = module.py();
    let base = py.get_type::<Error>();
    base.setattr("status", py.None())?;
    base.setattr("message", "")?;
    base.setattr("hint", py.None())?;
    py.get_type::<RateLimited>().setattr("reset", py.None())?;
    module.add("Error", base)?;
    module.add("NotFound", py.get_type::<NotFound>())?;
    module.add("Refused", py.get_type::<Refused>())?;
    module.add("InvalidInput", py.get_type::<InvalidInput>())?;
    module.add("RateLimited", py.get_type::<RateLimited>())?;
    module.add("Transport", py.get_type::<Transport>())?;
    module.add("ServerError", py.get_type::<ServerError>())?;
    module.add("ChecksumMismatch", py.get_type::<ChecksumMismatch>())?;
    module.add("FileError", py.get_type::<FileError>())?;
    module.add("ConfigError", py.get_type::<ConfigError>())?;
    Ok(())
}

/// What went wrong in a call: the SDK's error, the SQL engine's, or a bug.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Failure {
    /// The SDK's error.
    #[error(transparent)]
    Sdk(#[from] datagouv::Error),
    /// The SQL engine's error (bad SQL, an unknown column, …).
    #[error(transparent)]
    Sql(#[from] DataFusionError),
    /// A task panicked (a bug: please report it).
    #[error("datagouv_rs failed unexpectedly ({0}); please report it")]
    Panicked(String),
}

impl Failure {
    /// [`Failure::into_pyerr`], taking the GIL.
    pub(crate) fn into_pyerr_now(self) -> PyErr {
        Python::attach(|py| self.into_pyerr(py))
    }

    /// The Python exception: its class by kind and status, its text, and
    /// `status`, `message`, `hint` set.
    pub(crate) fn into_pyerr(self, py: Python<'_>) -> PyErr {
        let failure = match self {
            Failure::Sql(error) => match datagouv_sql::into_sdk_error(error) {
                Ok(sdk) => Failure::Sdk(sdk),
                Err(error) => Failure::Sql(error),
            },
            other => other,
        };
        let text = failure.to_string();
        let (error, status, message, hint) = match &failure {
            Failure::Sdk(error) => {
                let status = error.status().map(|s| s.as_u16());
                let message = match error {
                    datagouv::Error::Api { message, .. }
                    | datagouv::Error::RateLimited { message, .. } => message.clone(),
                    _ => text.clone(),
                };
                (
                    sdk_class(error, status, &text),
                    status,
                    message,
                    error.hint().map(str::to_owned),
                )
            }
            Failure::Sql(error) => sql_class(error, &text),
            Failure::Panicked(_) => (Error::new_err(text.clone()), None, text.clone(), None),
        };
        let value = error.value(py);
        let _ = value.setattr("status", status);
        let _ = value.setattr("message", message);
        let _ = value.setattr("hint", hint);
        if let Failure::Sdk(datagouv::Error::RateLimited { rate_limit, .. }) = &failure {
            let reset = rate_limit
                .reset
                .and_then(|at| at.duration_since(std::time::UNIX_EPOCH).ok())
                .map(|since| since.as_secs_f64());
            let _ = value.setattr("reset", reset);
        }
        error
    }
}

/// The exception class of an SDK error.
fn sdk_class(error: &datagouv::Error, status: Option<u16>, text: &str) -> PyErr {
    let text = text.to_owned();
    match error {
        datagouv::Error::RateLimited { .. } => RateLimited::new_err(text),
        datagouv::Error::Transport(_) => Transport::new_err(text),
        datagouv::Error::Decode { .. } => ServerError::new_err(text),
        datagouv::Error::ChecksumMismatch { .. } => ChecksumMismatch::new_err(text),
        datagouv::Error::InvalidInput(_) => InvalidInput::new_err(text),
        datagouv::Error::MissingApiKey { .. } => Refused::new_err(text),
        datagouv::Error::Io { .. } => FileError::new_err(text),
        datagouv::Error::Config(_) => ConfigError::new_err(text),
        _ => match status {
            Some(404 | 410) => NotFound::new_err(text),
            Some(401 | 403) => Refused::new_err(text),
            Some(400 | 409 | 422) => InvalidInput::new_err(text),
            Some(500..) => ServerError::new_err(text),
            _ => Error::new_err(text),
        },
    }
}

/// The exception of an SQL engine error: bad SQL, an unknown table or
/// column are invalid input (a table that does not exist is not found).
fn sql_class(error: &DataFusionError, text: &str) -> (PyErr, Option<u16>, String, Option<String>) {
    let message = text
        .strip_prefix("Error during planning: ")
        .or_else(|| text.strip_prefix("SQL error: "))
        .unwrap_or(text)
        .to_owned();
    let (class, hint) = match error.find_root() {
        DataFusionError::SQL(..) => (
            InvalidInput::new_err(message.clone()),
            Some(
                "check the SQL; quote resource ids and column names with spaces or capitals in double quotes",
            ),
        ),
        DataFusionError::SchemaError(..) => (
            InvalidInput::new_err(message.clone()),
            Some(
                "quote column names in double quotes as they are written (accents, spaces, capitals): \"nom complet\"",
            ),
        ),
        DataFusionError::Plan(plan) if plan.contains("no resource") || plan.contains("deleted") => {
            (NotFound::new_err(message.clone()), None)
        }
        DataFusionError::Plan(_) | DataFusionError::NotImplemented(_) => {
            (InvalidInput::new_err(message.clone()), None)
        }
        _ => (Error::new_err(message.clone()), None),
    };
    (class, None, message, hint.map(str::to_owned))
}

/// An exception raised before any request: `message` set, no status,
/// `hint` when given.
fn local(error: PyErr, message: String, hint: Option<String>) -> PyErr {
    Python::attach(|py| {
        let value = error.value(py);
        let _ = value.setattr("message", message);
        let _ = value.setattr("hint", hint);
    });
    error
}

/// `InvalidInput`, raised before any request.
pub(crate) fn invalid_input(message: impl Into<String>) -> PyErr {
    let message = message.into();
    local(InvalidInput::new_err(message.clone()), message, None)
}

/// `InvalidInput` for text that could not be read, with how to write it.
pub(crate) fn syntax_error(error: datagouv::SyntaxError) -> PyErr {
    let hint = error.hint();
    local(
        InvalidInput::new_err(error.to_string()),
        error.message,
        Some(hint),
    )
}

/// `ConfigError`, raised before any request.
pub(crate) fn config_error(message: impl Into<String>) -> PyErr {
    let message = message.into();
    local(ConfigError::new_err(message.clone()), message, None)
}

/// A runtime started before `os.fork()` has no threads in the child.
pub(crate) fn fork_error() -> PyErr {
    let message = "datagouv_rs was used before this process was forked (os.fork, or multiprocessing's default 'fork' start \
         method on Linux): its threads do not exist in the child. Use multiprocessing.get_context('spawn') or \
         'forkserver', or make the first datagouv_rs call in the child";
    local(Error::new_err(message), message.to_owned(), None)
}
