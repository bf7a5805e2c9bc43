//! How every request leaves the SDK: the key added only for the API
//! origins, redirects followed by hand so the key never leaves them,
//! retries by the [`RetryPolicy`], the rate-limit state kept, one tracing
//! span per request. Plugged into the generated clients through
//! [`datagouv_runtime::Transport`].

use reqwest::{
    Method, Request, Response, StatusCode, Url,
    header::{HeaderName, HeaderValue, LOCATION},
};
use std::{
    fmt,
    sync::{Arc, Mutex},
    time::{Instant, SystemTime},
};
use tracing::Instrument;

use crate::{
    api_key::ApiKey,
    field_mask,
    rate_limit::RateLimit,
    retry::{Decision, RetryPolicy},
};

/// The header udata reads the API key from.
pub(crate) const API_KEY_HEADER: HeaderName = HeaderName::from_static("x-api-key");
/// The header of flask-restx field masks.
const FIELDS_HEADER: HeaderName = HeaderName::from_static("x-fields");
/// Headers that must not follow a redirect to another origin.
const CREDENTIAL_HEADERS: [HeaderName; 3] = [
    API_KEY_HEADER,
    reqwest::header::AUTHORIZATION,
    reqwest::header::COOKIE,
];
/// How many redirects one request may follow.
const MAX_REDIRECTS: usize = 10;

/// The state the transport shares with every clone of the client.
pub(crate) struct Shared {
    pub(crate) key: Option<ApiKey>,
    /// `scheme://host:port` of the configured APIs: credentials never leave them.
    pub(crate) api_origins: Vec<String>,
    /// The Main API's origin: the only one the key is sent to (the Tabular
    /// and Metrics APIs take none).
    pub(crate) key_origin: String,
    /// The Main API v1 and v2 roots with a final `/`: where field masks apply.
    pub(crate) main_roots: [String; 2],
    pub(crate) retry: RetryPolicy,
    pub(crate) rate_limit: Mutex<Option<RateLimit>>,
}

/// The transport of one client; `fields` is its optional field mask.
#[derive(Clone)]
pub(crate) struct DatagouvTransport {
    pub(crate) shared: Arc<Shared>,
    pub(crate) fields: Option<HeaderValue>,
}

impl fmt::Debug for DatagouvTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DatagouvTransport")
            .field("api_key", &self.shared.key.as_ref().map(|_| "<redacted>"))
            .field("api_origins", &self.shared.api_origins)
            .field("key_origin", &self.shared.key_origin)
            .field("retry", &self.shared.retry)
            .field("fields", &self.fields)
            .finish()
    }
}

/// `scheme://host:port` of a URL.
pub(crate) fn origin(url: &Url) -> String {
    url.origin().ascii_serialization()
}

fn is_write(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

impl DatagouvTransport {
    fn is_api_origin(&self, url: &Url) -> bool {
        self.shared.api_origins.iter().any(|o| *o == origin(url))
    }

    /// Sets or removes the credentials for the URL the request now goes to.
    fn authorize(&self, request: &mut Request) {
        let trusted = self.is_api_origin(request.url());
        let takes_key = origin(request.url()) == self.shared.key_origin;
        let headers = request.headers_mut();
        if !trusted {
            for name in CREDENTIAL_HEADERS {
                headers.remove(name);
            }
            return;
        }
        match &self.shared.key {
            Some(key) if takes_key => {
                headers.insert(API_KEY_HEADER, key.header_value());
            }
            _ => {
                headers.remove(API_KEY_HEADER);
            }
        }
    }

    /// The user's field mask for a Main API request, completed with the
    /// fields its answer needs to decode.
    fn field_mask(&self, request: &Request, operation: &str) -> Option<HeaderValue> {
        let mask = self.fields.as_ref()?.to_str().ok()?;
        let url = request.url().as_str();
        let (table, lists) = match &self.shared.main_roots {
            [v1, _] if url.starts_with(v1.as_str()) => (
                &datagouv_main::v1::FIELD_MASKS,
                datagouv_main::v1::LIST_OPERATIONS,
            ),
            [_, v2] if url.starts_with(v2.as_str()) => (
                &datagouv_main::v2::FIELD_MASKS,
                datagouv_main::v2::LIST_OPERATIONS,
            ),
            _ => return None,
        };
        let paged = lists.contains(&operation);
        HeaderValue::from_str(&field_mask::complete(mask, operation, table, paged)).ok()
    }

    /// Sends one request, following redirects by hand: the credentials are
    /// set anew at each hop, so they reach API origins only.
    pub(crate) async fn send_following(
        &self,
        client: &reqwest::Client,
        mut request: Request,
    ) -> reqwest::Result<Response> {
        for _ in 0..MAX_REDIRECTS {
            self.authorize(&mut request);
            let next = redirect_target(&request);
            let response = client.execute(request).await?;
            let Some(location) = redirect_location(&response) else {
                return Ok(response);
            };
            let Some((method, body, previous)) = next else {
                return Ok(response);
            };
            let Ok(url) = response.url().join(location) else {
                return Ok(response);
            };
            let next_method = match response.status() {
                StatusCode::SEE_OTHER if method != Method::HEAD => Method::GET,
                StatusCode::MOVED_PERMANENTLY | StatusCode::FOUND if method == Method::POST => {
                    Method::GET
                }
                _ => method.clone(),
            };
            let mut next_request = Request::new(next_method.clone(), url);
            *next_request.headers_mut() = previous.headers().clone();
            if next_method == method {
                *next_request.body_mut() = body;
            } else {
                for name in [
                    reqwest::header::CONTENT_TYPE,
                    reqwest::header::CONTENT_LENGTH,
                ] {
                    next_request.headers_mut().remove(name);
                }
            }
            request = next_request;
        }
        // Too many hops: send the last one and let its 3xx reach the caller.
        self.authorize(&mut request);
        client.execute(request).await
    }

    /// Sends a request with retries, recording the rate-limit state and a
    /// tracing span (operation, method, URL, status, attempt, duration).
    /// A request whose body cannot be copied (a stream) gets one attempt.
    pub(crate) async fn send_with_retries(
        &self,
        client: &reqwest::Client,
        request: Request,
        operation: &'static str,
    ) -> reqwest::Result<Response> {
        let mut spare = request.try_clone();
        let again = move || {
            let request = spare.take()?;
            spare = request.try_clone();
            Some(request)
        };
        self.send_attempts(client, request, again, false, operation, |_| false)
            .await
    }

    /// The one send loop of the SDK (every API call, uploads): sends
    /// `first`, follows redirects, records the rate-limit state, and asks
    /// the [`RetryPolicy`] whether to wait and send the request `again`
    /// makes (`None`: it cannot be made again). `resend_is_safe`
    /// marks a request that may be repeated whatever its method; `final_error`
    /// marks failures that no resend can help (a local file that broke).
    pub(crate) async fn send_attempts(
        &self,
        client: &reqwest::Client,
        first: Request,
        mut again: impl FnMut() -> Option<Request>,
        resend_is_safe: bool,
        operation: &'static str,
        final_error: impl Fn(&reqwest::Error) -> bool,
    ) -> reqwest::Result<Response> {
        let method = first.method().clone();
        let span = tracing::info_span!(
            "datagouv.request",
            operation,
            method = %method,
            url = %first.url(),
            status = tracing::field::Empty,
            attempt = tracing::field::Empty,
            duration_ms = tracing::field::Empty,
        );
        async move {
            let started = Instant::now();
            let mut attempt = 1;
            let mut pending = first;
            loop {
                let result = self.send_following(client, pending).await;
                let span = tracing::Span::current();
                span.record("attempt", attempt);
                span.record("duration_ms", started.elapsed().as_millis() as u64);
                match &result {
                    Ok(response) => {
                        span.record("status", response.status().as_u16());
                        if let Some(state) =
                            RateLimit::from_headers(response.headers(), SystemTime::now())
                        {
                            *self.shared.rate_limit.lock().expect("rate-limit lock") = Some(state);
                        }
                    }
                    Err(error) if final_error(error) => return result,
                    Err(_) => {}
                }
                let decision = self.shared.retry.decide_live(
                    &method,
                    resend_is_safe,
                    &result,
                    attempt,
                    started,
                );
                let Decision::RetryAfter(wait) = decision else {
                    return result;
                };
                let Some(next) = again() else {
                    return result;
                };
                tracing::debug!(attempt, wait_ms = wait.as_millis() as u64, "retrying");
                tokio::time::sleep(wait).await;
                attempt += 1;
                pending = next;
            }
        }
        .instrument(span)
        .await
    }
}

/// For a request about to be sent: its method, a copy of its body, and a
/// copy of the request to build the next hop from (`None` when the body
/// cannot be replayed).
fn redirect_target(request: &Request) -> Option<(Method, Option<reqwest::Body>, Request)> {
    let copy = request.try_clone()?;
    let body = copy
        .body()
        .and_then(|b| b.as_bytes())
        .map(|bytes| reqwest::Body::from(bytes.to_vec()));
    Some((request.method().clone(), body, copy))
}

fn redirect_location(response: &Response) -> Option<&str> {
    if !response.status().is_redirection() || response.status() == StatusCode::NOT_MODIFIED {
        return None;
    }
    response.headers().get(LOCATION)?.to_str().ok()
}

impl datagouv_runtime::Transport for DatagouvTransport {
    fn prepare(&self, request: &mut Request, operation: &'static str) -> Result<(), String> {
        if is_write(request.method())
            && self.shared.key.is_none()
            && self.is_api_origin(request.url())
        {
            return Err(crate::error::missing_key_refusal(
                operation,
                &format!("{} {}", request.method(), request.url().path()),
            ));
        }
        if let Some(mask) = self.field_mask(request, operation) {
            request.headers_mut().insert(FIELDS_HEADER, mask);
        }
        Ok(())
    }

    fn send<'a>(
        &'a self,
        client: &'a reqwest::Client,
        request: Request,
        operation: &'static str,
    ) -> datagouv_runtime::BoxFuture<'a, reqwest::Result<Response>> {
        Box::pin(self.send_with_retries(client, request, operation))
    }
}
