//! What a failed command prints (`error:` and `hint:` lines on stderr) and
//! the exit code it ends with.

use datagouv::Error;
use std::fmt::Display;

use crate::output::printable;

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
    /// A refusal of the Main API, whose hint depends on whether a key was
    /// sent (see [`CliError::for_key`]).
    refusal: Option<Refusal>,
}

/// A refusal of the Main API.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Refusal {
    /// 401: no key, or a key the server does not know.
    Unauthorized,
    /// 403: the key's user may not do this.
    Forbidden,
}

/// How to give the CLI a key.
const SET_KEY: &str = "set an API key (create one in your data.gouv.fr profile) with --api-key KEY, \
     the DATAGOUV_API_KEY variable or `datagouv config init --api-key KEY`; `datagouv auth status` shows what is set";
/// The server does not know the key that was sent.
const KEY_REFUSED: &str = "the server refused the API key (mistyped, revoked, or of another data.gouv.fr): \
     check it in your data.gouv.fr profile; `datagouv auth status` shows which key is used and where it comes from";
/// The key was accepted, its user may not.
const USER_MAY_NOT: &str = "the key was accepted but its user may not do this (only the owner, a member of the \
     owning organization or an administrator may); `datagouv auth status` shows which key is used and where it comes from";

impl CliError {
    /// Bad input: exit code 2.
    pub fn usage(message: impl Display) -> CliError {
        CliError {
            code: EXIT_USAGE,
            message: message.to_string(),
            hint: None,
            refusal: None,
        }
    }

    /// Something named does not exist: exit code 3.
    pub fn not_found(message: impl Display) -> CliError {
        CliError {
            code: EXIT_NOT_FOUND,
            ..CliError::usage(message)
        }
    }

    /// Any other failure: exit code 1.
    pub fn other(message: impl Display) -> CliError {
        CliError {
            code: EXIT_FAILURE,
            message: message.to_string(),
            hint: None,
            refusal: None,
        }
    }

    /// The hint of a Main API refusal, now that it is known whether a key
    /// was sent: without one, how to set one; with one, that the server
    /// refused the key (401) or its user (403).
    pub fn for_key(mut self, key_set: bool) -> CliError {
        let hint = match (self.refusal, key_set) {
            (None, _) => return self,
            (Some(Refusal::Unauthorized), false) => SET_KEY.to_owned(),
            (Some(Refusal::Unauthorized), true) => KEY_REFUSED.to_owned(),
            (Some(Refusal::Forbidden), false) => {
                format!("this needs a key whose user may do it: {SET_KEY}")
            }
            (Some(Refusal::Forbidden), true) => USER_MAY_NOT.to_owned(),
        };
        self.hint = Some(hint);
        self
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
        // Server messages may echo catalog text: no control characters.
        eprintln!("error: {}", printable(&self.message, true));
        if let Some(hint) = &self.hint {
            eprintln!("hint: {}", printable(hint, true));
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
            (Error::InvalidInput(_) | Error::MissingApiKey { .. } | Error::Config(_), _) => {
                EXIT_USAGE
            }
            // A local file or folder: the message names it.
            (Error::Io { .. }, _) => EXIT_FAILURE,
            _ => EXIT_FAILURE,
        };
        let url = match &error {
            Error::Api { url, .. } => url.as_str(),
            _ => "",
        };
        let refusal = match status {
            Some(401) => Some(Refusal::Unauthorized),
            Some(403) if from_main_api(url) => Some(Refusal::Forbidden),
            _ => None,
        };
        let hint = match (&error, status) {
            (_, Some(401)) => Some(SET_KEY.to_owned()),
            (_, Some(403)) => forbidden_hint(&error),
            (_, Some(404)) => Some(not_found_hint(url)),
            (_, Some(410)) => Some("it was deleted".to_owned()),
            (_, Some(429)) => Some("wait a moment and try again".to_owned()),
            (Error::Transport(_), _) => Some(
                "check the network and the base URLs (`datagouv auth status` shows them)"
                    .to_owned(),
            ),
            (Error::Config(_), _) => {
                Some("`datagouv auth status` shows each setting and where it comes from".to_owned())
            }
            _ => None,
        };
        // The facade's own hints name builder methods; the CLI gives its own.
        if let Error::MissingApiKey { operation, request } = &error {
            return CliError {
                code,
                message: format!("`{operation}` ({request}) changes data and needs an API key"),
                hint: Some(SET_KEY.to_owned()),
                refusal: None,
            };
        }
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
            refusal,
        }
    }
}

/// What to check after a 404, by the kind of object the URL names, with
/// the command that finds one.
fn not_found_hint(url: &str) -> String {
    let path = url.split(['?', '#']).next().unwrap_or_default();
    let below = ["/api/1/", "/api/2/"]
        .iter()
        .find_map(|root| path.split_once(root).map(|(_, rest)| rest));
    let Some(below) = below else {
        if let Some((_, rest)) = path.split_once("/api/resources/") {
            let rid = rest.split('/').next().unwrap_or_default();
            return format!(
                "check the resource id `{rid}` (`datagouv resources list DATASET` lists a dataset's resources \
                 with their ids)"
            );
        }
        return "check the id, slug or name".to_owned();
    };
    let mut parts = below.split('/').filter(|p| !p.is_empty());
    let kind = parts.next().unwrap_or_default();
    let has_resource = parts.any(|p| p == "resources");
    let find = |noun: &str, command: &str| {
        format!("check the {noun}'s id or slug (`datagouv {command}` finds them)")
    };
    match kind {
        "datasets" if has_resource => "check the dataset and the resource id \
             (`datagouv resources list DATASET` lists a dataset's resources)"
            .to_owned(),
        "datasets" => find("dataset", "datasets list -q WORDS"),
        "organizations" => find("organization", "organizations list -q WORDS"),
        "reuses" => find("reuse", "reuses list -q WORDS"),
        "dataservices" => find("dataservice", "dataservices list -q WORDS"),
        "users" => "check the user's id or slug (`datagouv organizations show ORG --fields members.user.slug` \
             lists an organization's members, `datagouv me` shows yours)"
            .to_owned(),
        "discussions" => find("discussion", "discussions list --for ID"),
        _ => "check the path and any id or slug in it".to_owned(),
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
                refusal: None,
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

    #[test]
    fn refusal_hints_depend_on_whether_a_key_was_sent() {
        let refused = |status: u16, url: &str| {
            CliError::from(Error::Api {
                status: reqwest::StatusCode::from_u16(status).unwrap(),
                url: url.into(),
                message: String::new(),
                field_errors: Default::default(),
            })
        };
        let main = "http://m/api/1/me/";
        let hint = |error: CliError| error.hint.unwrap();
        assert!(hint(refused(401, main).for_key(false)).starts_with("set an API key"));
        assert!(hint(refused(401, main).for_key(true)).contains("refused the API key"));
        assert!(hint(refused(403, main).for_key(true)).contains("its user may not"));
        assert!(hint(refused(403, main).for_key(false)).contains("set an API key"));
        // Not the Main API: not about the key.
        let tabular = "http://t/api/resources/x/data/csv/";
        assert_eq!(refused(403, tabular).for_key(true).hint, None);
    }

    #[test]
    fn not_found_hints_follow_the_kind_of_object() {
        for (url, says) in [
            ("http://m/api/1/datasets/x/", "datasets list"),
            ("http://m/api/1/datasets/x/resources/y/", "resources list"),
            ("http://m/api/2/datasets/x/", "datasets list"),
            ("http://m/api/1/organizations/x/", "organizations list"),
            ("http://m/api/1/users/x/", "datagouv me"),
            ("http://m/api/1/discussions/x/", "discussions list"),
            ("http://t/api/resources/r/profile/", "resource id `r`"),
            ("", "check the id"),
        ] {
            let hint = not_found_hint(url);
            assert!(hint.contains(says), "{url}: {hint}");
        }
    }
}
