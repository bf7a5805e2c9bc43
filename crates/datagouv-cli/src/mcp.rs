//! `datagouv mcp`: the MCP server of `datagouv-mcp`, on stdio or HTTP.

use crate::{cli::McpArgs, error::CliError};

/// Serves until the client leaves (stdio) or Ctrl-C (HTTP).
pub async fn run(client: datagouv::Client, args: McpArgs) -> Result<(), CliError> {
    // The folder as its real path, resolved once here: the tools compare
    // the real paths of the files they touch with it.
    let allow_files = match &args.allow_files {
        Some(dir) if dir.is_dir() => Some(
            dir.canonicalize()
                .map_err(|e| datagouv::Error::io("open the allowed folder", dir, e))?,
        ),
        Some(dir) => {
            return Err(CliError::usage(format!(
                "--allow-files {}: not a directory",
                dir.display()
            )));
        }
        None => None,
    };
    if args.allow_writes && !client.has_api_key() {
        return Err(CliError::usage(
            "--allow-writes needs an API key: set DATAGOUV_API_KEY or `datagouv config init`",
        ));
    }
    let options = datagouv_mcp::Options {
        allow_files,
        allow_writes: args.allow_writes,
        // Other machines name the server in ways it cannot know.
        any_host: args.allow_remote,
        allow_private_urls: args.allow_private_urls,
        http_sessions: args.http_sessions,
    };
    let server = datagouv_mcp::DatagouvMcp::new(client, options);
    let Some(addr) = args.http else {
        return datagouv_mcp::serve_stdio(server)
            .await
            .map_err(|e| CliError::other(e.to_string()));
    };
    if !addr.ip().is_loopback() {
        if !args.allow_remote {
            return Err(CliError::usage(format!(
                "--http {addr} is reachable from other machines; add --allow-remote to serve it anyway \
                 (no authentication is added)"
            )));
        }
        eprintln!("warning: serving {addr} to other machines with no authentication");
    }
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| CliError::other(format!("cannot listen on {addr}: {e}")))?;
    let local = listener
        .local_addr()
        .map_err(|e| CliError::other(e.to_string()))?;
    eprintln!("datagouv mcp: serving http://{local}/mcp");
    datagouv_mcp::serve_http(server, listener, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await
    .map_err(|e| CliError::other(e.to_string()))
}
