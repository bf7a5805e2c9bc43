//! A Model Context Protocol server over the `datagouv` SDK.
//!
//! It serves the ten tools of data.gouv.fr's official MCP server under the
//! same names and parameters, so a prompt written for one works with the
//! other, and what that server lacks: any number of Tabular filters with all
//! twelve operators, `or`/`and` groups, several sorts, column selection and
//! aggregations ([`tools`]), resource profiles, the metrics of every model,
//! reuses and topics, exports of any query to files under a directory the
//! user names, and (when allowed) writes. URLs the catalog supplies are
//! fetched only from public hosts ([`fetch`]); every input schema is flat
//! and strict, so the strictest clients accept every tool. Every answer is compact text for a model's context,
//! with the data also as structured content, and says how to get more.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let client = datagouv::Client::from_env()?;
//! let server = datagouv_mcp::DatagouvMcp::new(client, datagouv_mcp::Options::default());
//! datagouv_mcp::serve_stdio(server).await?;
//! # Ok(()) }
//! ```

mod api_path;
pub mod fetch;
mod files;
pub mod render;
pub mod tools;

use std::{net::SocketAddr, path::PathBuf, sync::Arc};

use rmcp::{ServiceExt, transport::streamable_http_server::StreamableHttpServerConfig};

pub use tools::DatagouvMcp;

/// What the server may do beyond reading.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// `export_resource_data` (and file uploads) may read and write files
    /// only below this directory; `None` leaves those tools out.
    pub allow_files: Option<PathBuf>,
    /// The write tools (`create_dataset`, `update_dataset`,
    /// `upload_resource`) are offered; they also need an API key.
    pub allow_writes: bool,
    /// Over HTTP on an address other machines reach (`0.0.0.0`, `::`, a
    /// network address): answer requests whatever host name they were sent
    /// to (the CLI's `--allow-remote`), since other machines name the
    /// server in ways it cannot know. Without it, and always on a loopback
    /// address, only loopback names and the listening address are
    /// accepted, which stops DNS rebinding. Browser `Origin`s are checked
    /// either way (see [`serve_http`]).
    pub any_host: bool,
    /// URLs the catalog supplies (a dataservice's OpenAPI document) may
    /// name loopback, private and other non-public addresses
    /// (`--allow-private-urls`, for deployments inside an intranet). Off,
    /// they are refused where the connection is made ([`fetch`]).
    pub allow_private_urls: bool,
    /// Over HTTP, keep a session per client (`Mcp-Session-Id`) instead of
    /// answering each request on its own. Off (the default), no tool needs
    /// a session: a restart or a load balancer between two calls of a
    /// client loses nothing.
    pub http_sessions: bool,
}

/// What can stop a server.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The MCP session failed.
    #[error("MCP session: {0}")]
    Session(String),
    /// The HTTP listener failed.
    #[error("HTTP server: {0}")]
    Http(#[from] std::io::Error),
}

/// Serves one MCP session on standard input and output, until the client
/// closes it.
pub async fn serve_stdio(server: DatagouvMcp) -> Result<(), ServeError> {
    let running = server
        .serve(rmcp::transport::stdio())
        .await
        .map_err(|e| ServeError::Session(e.to_string()))?;
    running
        .waiting()
        .await
        .map_err(|e| ServeError::Session(e.to_string()))?;
    Ok(())
}

/// Serves streamable HTTP at `http://ADDR/mcp` on an already bound
/// listener until `shutdown` completes: each request answered on its own
/// (stateless: no session to lose when the server restarts or sits behind a
/// load balancer), or one session per client with
/// [`Options::http_sessions`]. A client that disconnects during a call
/// cancels it: its requests, streams and files are dropped.
///
/// A request is refused with 403 when its `Host` is not a loopback name or
/// the listening address (unless [`Options::any_host`] on an address that
/// is not a loopback one), or when it carries an `Origin` that is not a loopback one or
/// the listening address: a web page the user visits cannot drive the
/// tools (DNS rebinding, cross-site requests), as the MCP specification's
/// security notes ask. Clients that are not browsers send no `Origin`.
pub async fn serve_http(
    server: DatagouvMcp,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let local: SocketAddr = listener.local_addr()?;
    let config = http_config(local, server.options().any_host)
        .with_legacy_session_mode(server.options().http_sessions)
        // Stateless answers are single JSON messages: no stream to hold.
        .with_json_response(!server.options().http_sessions);
    let server = Arc::new(server);
    let service = rmcp::transport::streamable_http_server::StreamableHttpService::new(
        move || Ok(DatagouvMcp::clone(&server)),
        Arc::new(
            rmcp::transport::streamable_http_server::session::local::LocalSessionManager::default(),
        ),
        config,
    );
    let router = axum::Router::new().nest_service("/mcp", service);
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await?;
    Ok(())
}

/// The names this machine answers to itself.
const LOOPBACK: [&str; 3] = ["localhost", "127.0.0.1", "[::1]"];

/// The `Host` and `Origin` checks of a server listening on `local`.
fn http_config(local: SocketAddr, any_host: bool) -> StreamableHttpServerConfig {
    let listening = match local.ip() {
        std::net::IpAddr::V4(ip) => ip.to_string(),
        std::net::IpAddr::V6(ip) => format!("[{ip}]"),
    };
    let mut names: Vec<String> = LOOPBACK.iter().map(|name| (*name).to_owned()).collect();
    if !local.ip().is_unspecified() && !local.ip().is_loopback() {
        names.push(listening);
    }
    let origins: Vec<String> = names
        .iter()
        .flat_map(|name| [format!("http://{name}:*"), format!("https://{name}:*")])
        .collect();
    let config = StreamableHttpServerConfig::default()
        .with_allowed_origins(origins)
        .enforce_origin_validation();
    if any_host && !local.ip().is_loopback() {
        config.disable_allowed_hosts()
    } else {
        config.with_allowed_hosts(names)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_and_origins_follow_the_listening_address() {
        let local = http_config("127.0.0.1:8000".parse().unwrap(), false);
        assert_eq!(local.allowed_hosts, LOOPBACK);
        assert!(
            local
                .allowed_origins
                .contains(&"http://localhost:*".to_owned())
        );
        assert!(
            local
                .allowed_origins
                .contains(&"https://[::1]:*".to_owned())
        );
        // --allow-remote on a wildcard address: any Host, but still loopback Origins only.
        let remote = http_config("0.0.0.0:8000".parse().unwrap(), true);
        assert!(remote.allowed_hosts.is_empty());
        assert_eq!(remote.allowed_origins, local.allowed_origins);
        let remote = http_config("[::]:8000".parse().unwrap(), true);
        assert!(remote.allowed_hosts.is_empty());
        // A wildcard address without any_host, and a network address: those names only.
        assert_eq!(
            http_config("0.0.0.0:8000".parse().unwrap(), false).allowed_hosts,
            LOOPBACK
        );
        let named = http_config("192.0.2.7:8000".parse().unwrap(), false);
        assert!(named.allowed_hosts.contains(&"192.0.2.7".to_owned()));
        assert!(
            named
                .allowed_origins
                .contains(&"http://192.0.2.7:*".to_owned())
        );
        assert!(
            http_config("192.0.2.7:8000".parse().unwrap(), true)
                .allowed_hosts
                .is_empty()
        );
        let named = http_config("[2001:db8::7]:8000".parse().unwrap(), false);
        assert!(named.allowed_hosts.contains(&"[2001:db8::7]".to_owned()));
        // A loopback address never accepts other names, whatever it is told.
        assert_eq!(
            http_config("127.0.0.1:8000".parse().unwrap(), true).allowed_hosts,
            LOOPBACK
        );
    }
}
