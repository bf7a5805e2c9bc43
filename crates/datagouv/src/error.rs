//! The one error type of the SDK.

use reqwest::StatusCode;
use std::{collections::BTreeMap, future::Future, time::SystemTime};

use crate::rate_limit::RateLimit;

/// The error of the generated clients, before it is made a [`Error`].
pub type GeneratedError = progenitor_client::Error<()>;

/// Everything that can go wrong talking to data.gouv.fr.
///
/// Messages say what happened and, where it can be known, what to do. They
/// never contain the API key.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The server refused or failed the request.
    #[error("{status} from {url}: {message}{}", hint(*status))]
    Api {
        /// The HTTP status.
        status: StatusCode,
        /// The URL asked (it never holds the key).
        url: String,
        /// The server's `message`, or the start of its body.
        message: String,
        /// Per-field messages of a validation answer (`errors`).
        field_errors: BTreeMap<String, String>,
    },
    /// The server asked to slow down (429) and retrying did not help.
    #[error("rate limited by {url}: {message}; the quota resets {}", reset_text(rate_limit.reset))]
    RateLimited {
        /// The URL asked.
        url: String,
        /// The server's message.
        message: String,
        /// The announced rate-limit state.
        rate_limit: RateLimit,
    },
    /// The server could not be reached, or the connection broke.
    #[error("could not talk to the server: {0}; check the network and the base URL")]
    Transport(#[source] reqwest::Error),
    /// The answer was not what the API describes.
    #[error("could not decode the answer ({source}); it starts with: {excerpt}")]
    Decode {
        /// The first characters of the body.
        excerpt: String,
        /// What the decoder said.
        #[source]
        source: serde_json::Error,
    },
    /// A download did not match the checksum the catalog records; nothing
    /// was kept under the final name.
    #[error(
        "the file from {url} does not match its checksum (expected {expected}, got {actual}); nothing was kept"
    )]
    ChecksumMismatch {
        /// The expected digest.
        expected: String,
        /// The digest of what arrived.
        actual: String,
        /// Where the file came from.
        url: String,
    },
    /// The request was refused before it was sent.
    #[error("invalid request: {0}")]
    InvalidInput(String),
    /// A call that changes data was refused before it was sent: no API key
    /// is set.
    #[error(
        "`{operation}` ({request}) changes data and needs an API key: set DATAGOUV_API_KEY, \
         or call ClientBuilder::api_key (create a key in your data.gouv.fr profile)"
    )]
    MissingApiKey {
        /// The operation, e.g. `update_dataset`.
        operation: String,
        /// The method and path, e.g. `PUT /api/1/datasets/x/`.
        request: String,
    },
    /// A local file or folder could not be read or written (permission,
    /// missing folder, full disk, a folder where a file was expected).
    #[error("cannot {operation} {}: {source}", path.display())]
    Io {
        /// What the SDK was doing: `write`, `read`, `create the folder`, …
        operation: &'static str,
        /// The file or folder.
        path: std::path::PathBuf,
        /// What the system said.
        #[source]
        source: std::io::Error,
    },
    /// The client is not configured right.
    #[error("invalid configuration: {0}")]
    Config(String),
}

fn hint(status: StatusCode) -> &'static str {
    match status.as_u16() {
        401 => " (set an API key: DATAGOUV_API_KEY or ClientBuilder::api_key)",
        403 => " (the API key's user may not do this)",
        404 => " (check the id or slug)",
        410 => " (it was deleted)",
        _ => "",
    }
}

fn reset_text(reset: Option<SystemTime>) -> String {
    match reset.and_then(|at| at.duration_since(SystemTime::now()).ok()) {
        Some(wait) => format!("in {} s", wait.as_secs()),
        None => "soon".to_owned(),
    }
}

/// The first characters of a body, on one line (for bodies that could not
/// be decoded).
pub(crate) fn excerpt(body: &[u8]) -> String {
    first_chars(body, 200)
}

/// A plain-text error answer as a message: whole up to 2,000 characters
/// (api-tabular's messages end with a URL that must not be cut), on one line.
fn message_text(body: &[u8]) -> String {
    first_chars(body, 2_000)
}

/// The first `limit` characters of `body`, on one line, `…` when cut.
fn first_chars(body: &[u8], limit: usize) -> String {
    let text = String::from_utf8_lossy(body);
    let mut short: String = text
        .trim()
        .chars()
        .take(limit)
        .collect::<String>()
        .replace(['\n', '\r'], " ");
    if text.trim().chars().count() > limit {
        short.push('…');
    }
    short
}

/// How the transport's refusal of a write without a key crosses the
/// generated clients (which carry a refusal as text) to become
/// [`Error::MissingApiKey`] again: this marker, the operation, a NUL, the
/// request.
const MISSING_KEY_MARK: &str = "\u{0}missing-api-key\u{0}";

/// The refusal text of a write without a key (see [`Error::refused`]).
pub(crate) fn missing_key_refusal(operation: &str, request: &str) -> String {
    format!("{MISSING_KEY_MARK}{operation}\u{0}{request}")
}

impl Error {
    /// The error of a request the transport refused before sending.
    pub(crate) fn refused(message: String) -> Error {
        match message
            .strip_prefix(MISSING_KEY_MARK)
            .and_then(|rest| rest.split_once('\u{0}'))
        {
            Some((operation, request)) => Error::MissingApiKey {
                operation: operation.to_owned(),
                request: request.to_owned(),
            },
            None => Error::InvalidInput(message),
        }
    }

    /// An [`Error::Io`] for `path`.
    pub fn io(
        operation: &'static str,
        path: impl Into<std::path::PathBuf>,
        source: std::io::Error,
    ) -> Error {
        Error::Io {
            operation,
            path: path.into(),
            source,
        }
    }

    /// Turns an error of a generated client into an [`Error`], reading the
    /// body of an error answer for the server's message.
    pub async fn from_generated(error: GeneratedError) -> Error {
        match error {
            progenitor_client::Error::UnexpectedResponse(response) => {
                Error::from_response(response).await
            }
            progenitor_client::Error::InvalidRequest(message)
            | progenitor_client::Error::Custom(message) => Error::refused(message),
            progenitor_client::Error::CommunicationError(error)
            | progenitor_client::Error::InvalidUpgrade(error)
            | progenitor_client::Error::ResponseBodyError(error) => Error::Transport(error),
            progenitor_client::Error::InvalidResponsePayload(body, source) => Error::Decode {
                excerpt: excerpt(&body),
                source,
            },
            progenitor_client::Error::ErrorResponse(value) => Error::Api {
                status: value.status(),
                url: String::new(),
                message: String::new(),
                field_errors: BTreeMap::new(),
            },
        }
    }

    /// Turns an error answer into an [`Error`].
    pub async fn from_response(response: reqwest::Response) -> Error {
        let status = response.status();
        let url = response.url().to_string();
        let rate_limit =
            RateLimit::from_headers(response.headers(), SystemTime::now()).unwrap_or_default();
        let body = match read_bounded(response, MAX_ERROR_BODY).await {
            Ok(body) => body,
            Err(error) => return Error::Transport(error),
        };
        let (mut message, field_errors) = parse_error_body(&body);
        if status.is_redirection() {
            message =
                "too many redirects (more than 10), or a redirect the SDK cannot follow".into();
        }
        if status == StatusCode::TOO_MANY_REQUESTS {
            return Error::RateLimited {
                url,
                message,
                rate_limit,
            };
        }
        Error::Api {
            status,
            url,
            message,
            field_errors,
        }
    }

    /// What to do next about a server's refusal, when the status says
    /// (` (check the id or slug)` for a 404), without the parentheses.
    pub fn hint(&self) -> Option<&'static str> {
        let Error::Api { status, .. } = self else {
            return None;
        };
        let text = hint(*status);
        (!text.is_empty()).then(|| text.trim_start_matches(" (").trim_end_matches(')'))
    }

    /// The HTTP status, for errors that have one.
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            Error::Api { status, .. } => Some(*status),
            Error::RateLimited { .. } => Some(StatusCode::TOO_MANY_REQUESTS),
            Error::Transport(error) => error.status(),
            _ => None,
        }
    }
}

/// The most of an error answer's body that is read: its message is in the
/// first bytes, and a hostile or broken server may send an endless one.
const MAX_ERROR_BODY: usize = 64 * 1024;

/// The body of `response`, at most `limit` bytes; the rest is not read
/// (the connection is dropped with the response).
async fn read_bounded(mut response: reqwest::Response, limit: usize) -> reqwest::Result<Vec<u8>> {
    let mut body = Vec::new();
    while body.len() < limit {
        match response.chunk().await? {
            Some(chunk) => {
                let room = limit - body.len();
                body.extend_from_slice(&chunk[..chunk.len().min(room)]);
            }
            None => break,
        }
    }
    Ok(body)
}

/// Reads `{"message": …, "errors": {field: msg | [msg]}}` (udata), or
/// api-tabular's `{"errors": [{"title", "detail"}]}`, or plain text.
fn parse_error_body(body: &[u8]) -> (String, BTreeMap<String, String>) {
    let mut fields = BTreeMap::new();
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(body) else {
        return (message_text(body), fields);
    };
    let mut message = value
        .get("message")
        .and_then(|m| m.as_str())
        .unwrap_or_default()
        .to_owned();
    match value.get("errors") {
        Some(serde_json::Value::Object(map)) => {
            for (field, text) in map {
                let text = match text {
                    serde_json::Value::String(s) => s.clone(),
                    serde_json::Value::Array(list) => list
                        .iter()
                        .filter_map(|v| v.as_str())
                        .collect::<Vec<_>>()
                        .join("; "),
                    other => other.to_string(),
                };
                fields.insert(field.clone(), text);
            }
        }
        Some(serde_json::Value::Array(list)) if message.is_empty() => {
            message = list
                .iter()
                .map(|e| {
                    let title = e.get("title").and_then(|t| t.as_str()).unwrap_or_default();
                    match e.get("detail") {
                        Some(serde_json::Value::String(d)) => format!("{title}: {d}"),
                        Some(serde_json::Value::Null) | None => title.to_owned(),
                        Some(other) => format!("{title}: {other}"),
                    }
                })
                .collect::<Vec<_>>()
                .join("; ");
        }
        _ => {}
    }
    if message.is_empty() && !fields.is_empty() {
        message = "invalid fields".to_owned();
    }
    if message.is_empty() {
        message = value
            .get("error")
            .and_then(|m| m.as_str())
            .map(str::to_owned)
            .unwrap_or_else(|| message_text(body));
    }
    if !fields.is_empty() {
        let list: Vec<String> = fields.iter().map(|(f, m)| format!("{f}: {m}")).collect();
        message = format!("{message} ({})", list.join(", "));
    }
    (message, fields)
}

/// Turns the result of a generated call into the value or an [`Error`].
///
/// ```no_run
/// # async fn demo(client: datagouv::Client) -> Result<(), datagouv::Error> {
/// use datagouv::SendExt;
/// let dataset = client.main().get_dataset().dataset("base-sirene").send().value().await?;
/// # Ok(()) }
/// ```
pub trait SendExt<T>:
    Future<Output = Result<progenitor_client::ResponseValue<T>, GeneratedError>> + Sized
{
    /// Awaits the call and returns its value, or the error as an [`Error`].
    fn value(self) -> impl Future<Output = Result<T, Error>> {
        async move {
            match self.await {
                Ok(value) => Ok(value.into_inner()),
                Err(error) => Err(Error::from_generated(error).await),
            }
        }
    }
}

impl<T, F> SendExt<T> for F where
    F: Future<Output = Result<progenitor_client::ResponseValue<T>, GeneratedError>>
{
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn udata_validation_errors_name_their_fields() {
        let (message, fields) = parse_error_body(
            br#"{"message": "Validation error", "errors": {"title": ["This field is required."]}}"#,
        );
        assert_eq!(fields["title"], "This field is required.");
        assert_eq!(message, "Validation error (title: This field is required.)");
    }

    #[test]
    fn tabular_and_plain_text_errors_are_read() {
        let (message, _) = parse_error_body(
            br#"{"errors": [{"code": null, "title": "Output is too long", "detail": null}]}"#,
        );
        assert_eq!(message, "Output is too long");
        let (message, _) = parse_error_body(b"404: Not Found");
        assert_eq!(message, "404: Not Found");
        let (message, _) = parse_error_body(b"<html><body>502 Bad Gateway</body></html>");
        assert!(message.starts_with("<html>"));
    }

    #[test]
    fn plain_text_messages_are_whole_and_field_errors_read_well() {
        let long = format!("Resource gone: see {}", "https://x.test/".repeat(20));
        let (message, _) = parse_error_body(long.as_bytes());
        assert_eq!(message, long, "a 300-character message is kept whole");
        let (message, fields) = parse_error_body(br#"{"errors": {"title": ["required"]}}"#);
        assert_eq!(message, "invalid fields (title: required)");
        assert_eq!(fields["title"], "required");
    }

    #[test]
    fn a_write_without_a_key_crosses_the_generated_clients_typed() {
        let error = Error::refused(missing_key_refusal(
            "update_dataset",
            "PUT /api/1/datasets/x/",
        ));
        assert!(
            matches!(&error, Error::MissingApiKey { operation, request }
                if operation == "update_dataset" && request == "PUT /api/1/datasets/x/"),
            "{error:?}"
        );
        assert!(error.to_string().contains("needs an API key"), "{error}");
        assert!(matches!(
            Error::refused("other".into()),
            Error::InvalidInput(_)
        ));
    }

    #[test]
    fn messages_say_what_to_do() {
        let error = Error::Api {
            status: StatusCode::UNAUTHORIZED,
            url: "https://www.data.gouv.fr/api/1/me/".into(),
            message: "Unauthorized".into(),
            field_errors: BTreeMap::new(),
        };
        assert!(error.to_string().contains("DATAGOUV_API_KEY"), "{error}");
    }
}
