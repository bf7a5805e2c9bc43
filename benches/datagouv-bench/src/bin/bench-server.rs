//! The bench server (see `datagouv_bench::server` for its routes).
//!
//! `bench-server [--port 0] [--latency-ms 20] [--url-file PATH]
//! [--request-log PATH] [--rows N]`: prints
//! `url=http://127.0.0.1:PORT` once it accepts connections (and writes the
//! URL to `--url-file`), serves until SIGTERM or Ctrl-C.

use clap::Parser;
use datagouv_bench::server::{self, Config, DEFAULT_ROWS};
use std::time::Duration;

/// A fast local server with realistic data.gouv.fr payloads.
#[derive(Parser)]
struct Args {
    /// Port on 127.0.0.1 (0: a free one).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Milliseconds slept before every answer.
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// Datasets listed by /api/1/datasets/.
    #[arg(long, default_value_t = 20_000)]
    datasets: usize,
    /// Rows of the Tabular table (the default makes a ~1 GB CSV export).
    #[arg(long, default_value_t = DEFAULT_ROWS)]
    rows: u64,
    /// Bytes of /files/big.bin.
    #[arg(long, default_value_t = 1 << 30)]
    download_bytes: u64,
    /// Append one line per request answered to this file
    /// (`GET /path?query STATUS`).
    #[arg(long)]
    request_log: Option<std::path::PathBuf>,
    /// Where to write the server's URL once it listens.
    #[arg(long)]
    url_file: Option<std::path::PathBuf>,
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let args = Args::parse();
    let config = Config {
        latency: Duration::from_millis(args.latency_ms),
        datasets: args.datasets,
        rows: args.rows,
        download_bytes: args.download_bytes,
        request_log: args.request_log,
    };
    let shutdown = async {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("a SIGTERM handler");
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
    };
    let (addr, serve) = server::bind(config, args.port, shutdown).await?;
    let url = format!("http://{addr}");
    if let Some(path) = &args.url_file {
        std::fs::write(path, format!("{url}\n"))?;
    }
    println!("url={url}");
    serve.await
}
