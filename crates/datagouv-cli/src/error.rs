//! What a failed command prints (`error:` and `hint:` lines on stderr) and
//! the exit code it ends with.

use datagouv::Error;
use std::fmt::Display;

/// Exit code of anything not classified below.
pub const EXIT_FAILURE: i32 = 1;
/// Exit code of bad input or usage (clap uses it for its own errors too).
pub const EXIT_USAGE: i32 = 2;
/// Exit code when the server answers 404 or 410.
pub const EXIT_NOT_FOUND: i32 = 3;
/// Exit code when the server answers 401 or 403.
pub const EXIT_AUTH: i32 = 4;

/// A failed command: its message, an optional hint, the exit code.
#[derive(Debug)]
pub struct CliError {
    /// The exit code.
    pub code: i32,
    /// What went wrong, one line.
    pub message: String,
    /// What to do about it.
    pub hint: Option<String>,
}

impl CliError {
    /// Bad input: exit code 2.
    pub fn usage(message: impl Display) -> CliError {
        CliError {
            code: EXIT_USAGE,
            message: message.to_string(),
            hint: None,
        }
    }

    /// Any other failure: exit code 1.
    pub fn other(message: impl Display) -> CliError {
        CliError {
            code: EXIT_FAILURE,
            message: message.to_string(),
            hint: None,
        }
    }

    /// Adds a hint line.
    pub fn with_hint(mut self, hint: impl Display) -> CliError {
        self.hint = Some(hint.to_string());
        self
    }

    /// Prints the error and ends the process with its code.
    pub fn exit(self) -> ! {
        if self.code == 0 {
            std::process::exit(0);
        }
        eprintln!("error: {}", self.message);
        if let Some(hint) = &self.hint {
            eprintln!("hint: {hint}");
        }
        std::process::exit(self.code)
    }
}

impl From<Error> for CliError {
    fn from(error: Error) -> CliError {
        let status = error.status().map(|s| s.as_u16());
        let code = match (&error, status) {
            (_, Some(404 | 410)) => EXIT_NOT_FOUND,
            (_, Some(401 | 403)) => EXIT_AUTH,
            // The server found the request itself wrong: bad input too.
            (_, Some(400)) => EXIT_USAGE,
            (Error::InvalidInput(_) | Error::Config(_), _) => EXIT_USAGE,
            _ => EXIT_FAILURE,
        };
        let hint = match (&error, status) {
            (_, Some(401)) => Some(
                "set an API key with --api-key, the DATAGOUV_API_KEY variable or `datagouv config init`; \
                 `datagouv auth status` shows what is set",
            ),
            (_, Some(403)) => Some(
                "the key's user may not do this; `datagouv auth status` shows which key is used and where it comes from",
            ),
            (_, Some(404)) => Some(
                "check the id or slug (`datagouv datasets search` finds datasets, `datagouv resources list` their resources)",
            ),
            (_, Some(410)) => Some("it was deleted"),
            (_, Some(429)) => Some("wait a moment and try again"),
            (Error::Transport(_), _) => {
                Some("check the network and the base URLs (`datagouv auth status` shows them)")
            }
            (Error::Config(_), _) => {
                Some("`datagouv auth status` shows each setting and where it comes from")
            }
            _ => None,
        };
        // The facade's own hints name builder methods; the CLI gives its own.
        let message = match &error {
            Error::Api {
                status,
                url,
                message,
                ..
            } => format!("{status} from {url}: {message}"),
            other => other.to_string(),
        };
        CliError {
            code,
            message,
            hint: hint.map(str::to_owned),
        }
    }
}

impl From<std::io::Error> for CliError {
    fn from(error: std::io::Error) -> CliError {
        if error.kind() == std::io::ErrorKind::BrokenPipe {
            // The reader went away (`datagouv … | head`): nothing to report.
            return CliError {
                code: 0,
                message: String::new(),
                hint: None,
            };
        }
        CliError::other(format!("cannot write the output: {error}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn facade_errors_map_to_exit_codes() {
        assert_eq!(
            CliError::from(Error::InvalidInput("x".into())).code,
            EXIT_USAGE
        );
        assert_eq!(CliError::from(Error::Config("x".into())).code, EXIT_USAGE);
    }
}
