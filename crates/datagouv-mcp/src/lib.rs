//! A Model Context Protocol server over the `datagouv` SDK.
//!
//! It serves the ten tools of data.gouv.fr's official MCP server under the
//! same names and parameters, so a prompt written for one works with the
//! other, and what that server lacks: any number of Tabular filters with all
//! twelve operators, `or`/`and` groups, several sorts, column selection and
//! aggregations ([`tools`]), resource profiles, the metrics of every model,
//! exports of any query to files under a directory the user names, and
//! (when allowed) writes. Every answer is compact text for a model's context,
//! with the data also as structured content, and says how to get more.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let client = datagouv::Client::from_env()?;
//! let server = datagouv_mcp::DatagouvMcp::new(client, datagouv_mcp::Options::default());
//! datagouv_mcp::serve_stdio(server).await?;
//! # Ok(()) }
//! ```

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
/// listener, one session per client, until `shutdown` completes.
pub async fn serve_http(
    server: DatagouvMcp,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let local: SocketAddr = listener.local_addr()?;
    let mut config = StreamableHttpServerConfig::default();
    config.allowed_hosts = vec![
        "localhost".into(),
        "127.0.0.1".into(),
        "[::1]".into(),
        local.ip().to_string(),
    ];
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
