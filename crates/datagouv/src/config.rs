//! Building a [`Client`]: environments, base URLs, the API key, timeouts.

use reqwest::{Url, header::HeaderValue};
use std::{
    fmt,
    sync::{Arc, Mutex},
    time::Duration,
};

use crate::{
    ApiKey, Error,
    rate_limit::RateLimit,
    retry::RetryPolicy,
    transport::{DatagouvTransport, Shared, origin},
};

/// The user agent every request carries.
pub const USER_AGENT: &str = concat!(
    "datagouv-rs/",
    env!("CARGO_PKG_VERSION"),
    " (+https://github.com/datagouv-rs/datagouv-rs)"
);

/// Which data.gouv.fr to talk to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Environment {
    /// `www.data.gouv.fr` and the production Tabular and Metrics APIs.
    #[default]
    Production,
    /// `demo.data.gouv.fr` for the Main API (the Tabular and Metrics APIs
    /// have no demo and stay on production).
    Demo,
}

impl Environment {
    /// Reads `prod`/`production` or `demo`.
    pub fn parse(text: &str) -> Result<Self, Error> {
        match text.trim().to_ascii_lowercase().as_str() {
            "prod" | "production" => Ok(Environment::Production),
            "demo" => Ok(Environment::Demo),
            other => Err(Error::Config(format!(
                "unknown environment `{other}`: use `prod` or `demo`"
            ))),
        }
    }

    fn main_url(self) -> &'static str {
        match self {
            Environment::Production => "https://www.data.gouv.fr",
            Environment::Demo => "https://demo.data.gouv.fr",
        }
    }
}

/// The production Tabular API.
pub const TABULAR_URL: &str = "https://tabular-api.data.gouv.fr";
/// The production Metrics API.
pub const METRICS_URL: &str = "https://metric-api.data.gouv.fr";

/// Builds a [`Client`]; see [`Client::builder`]. Its `Debug` output shows
/// whether a key is set, never the key.
#[derive(Default)]
pub struct ClientBuilder {
    environment: Environment,
    main_url: Option<String>,
    tabular_url: Option<String>,
    metrics_url: Option<String>,
    api_key: Option<String>,
    connect_timeout: Option<Duration>,
    read_timeout: Option<Duration>,
    retry: Option<RetryPolicy>,
    allow_insecure_http: bool,
}

impl fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("environment", &self.environment)
            .field("main_url", &self.main_url)
            .field("tabular_url", &self.tabular_url)
            .field("metrics_url", &self.metrics_url)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("connect_timeout", &self.connect_timeout)
            .field("read_timeout", &self.read_timeout)
            .field("retry", &self.retry)
            .field("allow_insecure_http", &self.allow_insecure_http)
            .finish()
    }
}

impl ClientBuilder {
    /// Production (the default) or demo.
    pub fn environment(mut self, environment: Environment) -> Self {
        self.environment = environment;
        self
    }

    /// The site root of the Main API, e.g. `https://www.data.gouv.fr`
    /// (`/api/1` and `/api/2` are added). A URL ending in `/api/1` is accepted too.
    pub fn main_url(mut self, url: impl Into<String>) -> Self {
        self.main_url = Some(url.into());
        self
    }

    /// The Tabular API root, e.g. `https://tabular-api.data.gouv.fr`.
    pub fn tabular_url(mut self, url: impl Into<String>) -> Self {
        self.tabular_url = Some(url.into());
        self
    }

    /// The Metrics API root, e.g. `https://metric-api.data.gouv.fr`.
    pub fn metrics_url(mut self, url: impl Into<String>) -> Self {
        self.metrics_url = Some(url.into());
        self
    }

    /// The API key for writes (and private reads); sent only to the Main
    /// API's origin (the Tabular and Metrics APIs take none).
    pub fn api_key(mut self, key: impl Into<String>) -> Self {
        self.api_key = Some(key.into());
        self
    }

    /// How long opening a connection may take (default 10 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = Some(timeout);
        self
    }

    /// How long the server may stay silent while answering (default 60 s).
    /// There is no total timeout, so long exports are never cut.
    pub fn read_timeout(mut self, timeout: Duration) -> Self {
        self.read_timeout = Some(timeout);
        self
    }

    /// How failed requests are retried (default: [`RetryPolicy::default`]).
    pub fn retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.retry = Some(policy);
        self
    }

    /// Allows `http://` base URLs to hosts other than this machine (refused
    /// by default: the API key would travel in clear).
    pub fn allow_insecure_http(mut self, allow: bool) -> Self {
        self.allow_insecure_http = allow;
        self
    }

    /// Fills what was not set explicitly from the environment variables:
    /// `DATAGOUV_API_KEY`, `DATAGOUV_ENV` (`prod` or `demo`),
    /// `DATAGOUV_MAIN_URL`, `DATAGOUV_TABULAR_URL`, `DATAGOUV_METRICS_URL`.
    /// Values set on the builder win over variables; a URL variable wins
    /// over the environment's default URL.
    pub fn from_env(mut self) -> Result<Self, Error> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        if let Some(env) = var("DATAGOUV_ENV") {
            self.environment = Environment::parse(&env)?;
        }
        self.api_key = self.api_key.or_else(|| var("DATAGOUV_API_KEY"));
        self.main_url = self.main_url.or_else(|| var("DATAGOUV_MAIN_URL"));
        self.tabular_url = self.tabular_url.or_else(|| var("DATAGOUV_TABULAR_URL"));
        self.metrics_url = self.metrics_url.or_else(|| var("DATAGOUV_METRICS_URL"));
        Ok(self)
    }

    /// Checks the configuration and builds the client.
    pub fn build(self) -> Result<Client, Error> {
        let main_root = self
            .main_url
            .unwrap_or_else(|| self.environment.main_url().to_owned());
        let main_root = main_root
            .trim_end_matches('/')
            .trim_end_matches("/api/1")
            .trim_end_matches("/api/2")
            .to_owned();
        let main = checked_url("main", &main_root, self.allow_insecure_http)?;
        let tabular = checked_url(
            "tabular",
            self.tabular_url.as_deref().unwrap_or(TABULAR_URL),
            self.allow_insecure_http,
        )?;
        let metrics = checked_url(
            "metrics",
            self.metrics_url.as_deref().unwrap_or(METRICS_URL),
            self.allow_insecure_http,
        )?;
        let key = self.api_key.map(ApiKey::new).transpose()?;

        let http = reqwest::Client::builder()
            .user_agent(USER_AGENT)
            .connect_timeout(self.connect_timeout.unwrap_or(Duration::from_secs(10)))
            .read_timeout(self.read_timeout.unwrap_or(Duration::from_secs(60)))
            // Redirects are followed by the transport, which decides per hop
            // whether the key may go along.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| Error::Config(format!("cannot build the HTTP client: {e}")))?;
        let mut api_origins: Vec<String> = [&main, &tabular, &metrics]
            .iter()
            .map(|u| origin(u))
            .collect();
        api_origins.dedup();
        let main_v1 = format!("{}/api/1", main.as_str().trim_end_matches('/'));
        let main_v2 = format!("{}/api/2", main.as_str().trim_end_matches('/'));
        let shared = Arc::new(Shared {
            key,
            key_origin: origin(&main),
            api_origins,
            main_roots: [format!("{main_v1}/"), format!("{main_v2}/")],
            retry: self.retry.unwrap_or_default(),
            rate_limit: Mutex::new(None),
        });
        let urls = Arc::new(BaseUrls {
            main_v1,
            main_v2,
            tabular: tabular.as_str().trim_end_matches('/').to_owned(),
            metrics: metrics.as_str().trim_end_matches('/').to_owned(),
        });
        Ok(Client::assemble(
            http,
            urls,
            DatagouvTransport {
                shared,
                fields: None,
            },
        ))
    }
}

fn checked_url(api: &str, url: &str, allow_insecure_http: bool) -> Result<Url, Error> {
    let parsed = Url::parse(url)
        .map_err(|e| Error::Config(format!("the {api} base URL `{url}` is not a URL: {e}")))?;
    match parsed.scheme() {
        "https" => Ok(parsed),
        "http" => {
            let local = match parsed.host() {
                Some(url::Host::Domain(domain)) => domain == "localhost",
                Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
                Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
                None => false,
            };
            if local || allow_insecure_http {
                Ok(parsed)
            } else {
                Err(Error::Config(format!(
                    "the {api} base URL `{url}` is plain http to another machine: the API key would travel in clear; \
                     use https, or ClientBuilder::allow_insecure_http(true) if you really mean it"
                )))
            }
        }
        other => Err(Error::Config(format!(
            "the {api} base URL `{url}` has scheme `{other}`: use https"
        ))),
    }
}

#[derive(Debug)]
struct BaseUrls {
    main_v1: String,
    main_v2: String,
    tabular: String,
    metrics: String,
}

/// One client for the three data.gouv.fr APIs, built once and cheap to
/// clone: one connection pool, one configuration.
///
/// The generated clients are reached with [`Client::main`] (Main API v1),
/// [`Client::main_v2`], [`Client::tabular`] and [`Client::metrics`]; every
/// request they send goes through the SDK's transport (key only to the API
/// origins, redirects, retries, rate-limit state, tracing).
#[derive(Clone)]
pub struct Client {
    transport: DatagouvTransport,
    urls: Arc<BaseUrls>,
    main: datagouv_main::v1::Client,
    main_v2: datagouv_main::v2::Client,
    tabular: datagouv_tabular::Client,
    metrics: datagouv_metrics::Client,
    http: reqwest::Client,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("urls", &self.urls)
            .field("transport", &self.transport)
            .finish()
    }
}

impl Client {
    /// A builder, starting from production and no key.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// A client configured from the environment variables only (see
    /// [`ClientBuilder::from_env`]).
    pub fn from_env() -> Result<Client, Error> {
        Client::builder().from_env()?.build()
    }

    fn assemble(
        http: reqwest::Client,
        urls: Arc<BaseUrls>,
        transport: DatagouvTransport,
    ) -> Client {
        let hooks = datagouv_runtime::Hooks::new(Arc::new(transport.clone()));
        Client {
            main: datagouv_main::v1::Client::new_with_client(
                &urls.main_v1,
                http.clone(),
                hooks.clone(),
            ),
            main_v2: datagouv_main::v2::Client::new_with_client(
                &urls.main_v2,
                http.clone(),
                hooks.clone(),
            ),
            tabular: datagouv_tabular::Client::new_with_client(
                &urls.tabular,
                http.clone(),
                hooks.clone(),
            ),
            metrics: datagouv_metrics::Client::new_with_client(&urls.metrics, http.clone(), hooks),
            transport,
            urls,
            http,
        }
    }

    /// The Main API v1 (`/api/1/`): datasets, resources, organizations, …
    pub fn main(&self) -> &datagouv_main::v1::Client {
        &self.main
    }

    /// The Main API v2 (`/api/2/`).
    pub fn main_v2(&self) -> &datagouv_main::v2::Client {
        &self.main_v2
    }

    /// The Tabular API.
    pub fn tabular(&self) -> &datagouv_tabular::Client {
        &self.tabular
    }

    /// The Metrics API.
    pub fn metrics(&self) -> &datagouv_metrics::Client {
        &self.metrics
    }

    /// A client whose Main API answers hold only these fields
    /// (flask-restx field mask, `X-Fields`), e.g. `"id,title,resources{id,url}"`;
    /// for a list the mask applies to the page: `"data{id,title},total"`.
    /// The fields each answer's type requires are always added to the mask
    /// (at every level it narrows with braces), so masked answers decode.
    pub fn with_fields(&self, mask: &str) -> Result<Client, Error> {
        let value = HeaderValue::from_str(mask).map_err(|_| {
            Error::InvalidInput(format!(
                "the field mask `{mask}` cannot be sent as a header"
            ))
        })?;
        let transport = DatagouvTransport {
            shared: self.transport.shared.clone(),
            fields: Some(value),
        };
        Ok(Client::assemble(
            self.http.clone(),
            self.urls.clone(),
            transport,
        ))
    }

    /// The rate-limit state of the last answer that announced one.
    pub fn rate_limit(&self) -> Option<RateLimit> {
        *self
            .transport
            .shared
            .rate_limit
            .lock()
            .expect("rate-limit lock")
    }

    /// Whether an API key is configured.
    pub fn has_api_key(&self) -> bool {
        self.transport.shared.key.is_some()
    }

    /// The Main API v1 root (`…/api/1`), without a trailing slash.
    pub fn main_v1_root(&self) -> &str {
        &self.urls.main_v1
    }

    /// The shared HTTP client (redirects off: the transport follows them).
    pub(crate) fn http_client(&self) -> &reqwest::Client {
        &self.http
    }

    /// The transport every request goes through.
    pub(crate) fn transport(&self) -> &DatagouvTransport {
        &self.transport
    }

    /// The retry policy.
    pub(crate) fn retry_policy(&self) -> &RetryPolicy {
        &self.transport.shared.retry
    }

    /// The Tabular API root, without a trailing slash.
    pub fn tabular_root(&self) -> &str {
        &self.urls.tabular
    }

    /// The Metrics API root, without a trailing slash.
    pub fn metrics_root(&self) -> &str {
        &self.urls.metrics
    }

    /// Sends a GET through the transport; any status is returned as is.
    pub(crate) async fn get_url(
        &self,
        url: Url,
        operation: &'static str,
    ) -> Result<reqwest::Response, Error> {
        self.send_get(reqwest::Request::new(reqwest::Method::GET, url), operation)
            .await
    }

    /// Sends a prepared GET (extra headers kept) with the key handling,
    /// redirects and retries of every request.
    pub(crate) async fn send_get(
        &self,
        request: reqwest::Request,
        operation: &'static str,
    ) -> Result<reqwest::Response, Error> {
        self.transport
            .send_with_retries(&self.http, request, operation)
            .await
            .map_err(Error::Transport)
    }

    /// Sends a request the generated clients do not cover (the escape
    /// hatch): a path below the Main API v1 root such as `/pages/`, with the
    /// same key handling, redirects and retries as every other request.
    pub async fn raw(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> Result<reqwest::Response, Error> {
        self.raw_at(&self.urls.main_v1, method, path, body).await
    }

    /// [`Client::raw`] below the Main API v2 root (`/api/2`).
    pub async fn raw_v2(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> Result<reqwest::Response, Error> {
        self.raw_at(&self.urls.main_v2, method, path, body).await
    }

    async fn raw_at(
        &self,
        root: &str,
        method: reqwest::Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> Result<reqwest::Response, Error> {
        let url = Url::parse(&format!("{root}/{}", path.trim_start_matches('/')))
            .map_err(|e| Error::InvalidInput(format!("`{path}` does not make a URL: {e}")))?;
        let mut request = reqwest::Request::new(method, url);
        if let Some(body) = body {
            request.headers_mut().insert(
                reqwest::header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            *request.body_mut() = Some(
                serde_json::to_vec(&body)
                    .expect("JSON values serialise")
                    .into(),
            );
        }
        datagouv_runtime::Transport::prepare(&self.transport, &mut request, "raw")
            .map_err(Error::refused)?;
        let response = self
            .transport
            .send_with_retries(&self.http, request, "raw")
            .await
            .map_err(Error::Transport)?;
        if response.status().is_success() {
            Ok(response)
        } else {
            Err(Error::from_response(response).await)
        }
    }
}
