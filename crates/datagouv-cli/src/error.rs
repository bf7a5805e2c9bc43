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
                 `datagouv auth status` shows what is set"
                    .to_owned(),
            ),
            (_, Some(403)) => forbidden_hint(&error),
            (_, Some(404)) => Some(
                "check the id or slug (`datagouv datasets list -q WORDS` finds datasets, `datagouv resources list` \
                 their resources)"
                    .to_owned(),
            ),
            (_, Some(410)) => Some("it was deleted".to_owned()),
            (_, Some(429)) => Some("wait a moment and try again".to_owned()),
            (Error::Transport(_), _) => Some(
                "check the network and the base URLs (`datagouv auth status` shows them)".to_owned(),
            ),
            (Error::Config(_), _) => {
                Some("`datagouv auth status` shows each setting and where it comes from".to_owned())
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
            hint,
        }
    }
}

/// The hint of a 403, after its cause: the Tabular API refusing an
/// aggregation, the Main API refusing the key's user (a write, a private
/// object), or another server refusing for its own reasons (the Tabular
/// and Metrics APIs take no key).
fn forbidden_hint(error: &Error) -> Option<String> {
    let Error::Api { url, message, .. } = error else {
        return None;
    };
    if !from_main_api(url) && refused_aggregation(url, message) {
        let rid = tabular_rid(url).unwrap_or("<RID>");
        let profile = format!("`datagouv tabular profile {rid}` shows which columns are indexed");
        // api-tabular says which: "… are not allowed for resource …" or
        // "… is not among the allowed columns …".
        return Some(if message.contains("not among the allowed columns") {
            format!(
                "a --groupby/--agg column is not indexed, and the Tabular API aggregates only indexed columns; {profile}"
            )
        } else if message.contains("not allowed for resource") {
            "the Tabular API does not aggregate this resource (only those it lists in \
             /api/aggregation-exceptions/, and only on their indexed columns): query or export the rows \
             without --groupby/--agg and aggregate them yourself"
                .to_owned()
        } else {
            format!(
                "the resource is not among those the Tabular API aggregates, or a --groupby/--agg column is not \
                 indexed; {profile}"
            )
        });
    }
    from_main_api(url).then(|| {
        "the key's user may not do this; `datagouv auth status` shows which key is used and where it comes from"
            .to_owned()
    })
}

/// Whether an answer came from the Main API (`…/api/1/…`, `…/api/2/…`;
/// the generated Main API clients give no URL for a few errors).
fn from_main_api(url: &str) -> bool {
    let path = url.split(['?', '#']).next().unwrap_or_default();
    url.is_empty() || path.contains("/api/1/") || path.contains("/api/2/")
}

/// Whether a refusal is about aggregation: the request asked for one
/// (valueless `column__groupby`, `__count`, `__avg`, `__min`, `__max`,
/// `__sum` parameters), or the message says so.
fn refused_aggregation(url: &str, message: &str) -> bool {
    const AGGREGATES: [&str; 6] = ["groupby", "count", "avg", "min", "max", "sum"];
    let asked = url.split_once('?').is_some_and(|(_, query)| {
        query.split('&').any(|item| {
            !item.contains('=')
                && item
                    .rsplit_once("__")
                    .is_some_and(|(_, name)| AGGREGATES.contains(&name))
        })
    });
    asked || message.to_lowercase().contains("aggregation")
}

/// The resource id of a Tabular API URL (`…/api/resources/{rid}/…`).
fn tabular_rid(url: &str) -> Option<&str> {
    let path = url.split(['?', '#']).next()?;
    let (_, rest) = path.split_once("/api/resources/")?;
    rest.split('/').next().filter(|rid| !rid.is_empty())
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

    fn forbidden(url: &str, message: &str) -> CliError {
        CliError::from(Error::Api {
            status: reqwest::StatusCode::FORBIDDEN,
            url: url.into(),
            message: message.into(),
            field_errors: Default::default(),
        })
    }

    #[test]
    fn a_403_hint_names_its_cause() {
        let rid = "10000000-0000-4000-8000-000000000003";
        let url =
            format!("http://t/api/resources/{rid}/data/?categorie__groupby&score__avg&page=1");
        for (message, says) in [
            ("Unauthorized parameters", "not among those"),
            (
                "poids is not among the allowed columns: {'score'}",
                "column is not indexed",
            ),
            (
                "Aggregation parameters `groupby` are not allowed for resource 'x'",
                "does not aggregate this resource",
            ),
        ] {
            let aggregation = forbidden(&url, message);
            assert_eq!(aggregation.code, EXIT_AUTH);
            let hint = aggregation.hint.unwrap();
            assert!(hint.contains(says), "{hint}");
            assert!(!hint.contains("key"), "{hint}");
        }
        let hint = forbidden(&url, "").hint.unwrap();
        assert!(hint.contains(&format!("tabular profile {rid}")), "{hint}");

        let main = forbidden(
            "http://m/api/1/workers/jobs/",
            "You do not have the permission",
        );
        assert_eq!(main.code, EXIT_AUTH);
        assert!(main.hint.unwrap().contains("auth status"));
        // A Main API answer keeps the key hint, whatever its query.
        let main = forbidden("http://m/api/1/datasets/?q=x__sum", "");
        assert!(main.hint.unwrap().contains("key"));

        let other = forbidden(
            &format!("http://t/api/resources/{rid}/data/csv/?page_size=50"),
            "Output is too long",
        );
        assert_eq!((other.code, other.hint), (EXIT_AUTH, None));
    }
}
