//! Exports every row of a Tabular API resource to a file, whatever its size,
//! and prints what it wrote, how fast, and the process's peak memory.
//!
//! `cargo run --release -p datagouv --features parquet --example export -- <resource id> <file> [csv|json|parquet] [column__op=value | sort=column:asc|desc …]`
//!
//! `scripts/bench-export.sh` runs it against the local stack's 200,000-row
//! resource: the figures of BENCHMARKS.md come from there.

use datagouv::{Client, ExportFormat, ExportOptions, Op, Order};
use std::time::Instant;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(rid), Some(path)) = (args.next(), args.next()) else {
        return Err(
            "usage: export <resource id> <file> [csv|json|parquet] [column__op=value | sort=column:desc …]".into(),
        );
    };
    let format = match args.next() {
        None => ExportFormat::Csv,
        Some(name) => ExportFormat::parse(&name).ok_or(format!(
            "unknown format `{name}`: csv, json or parquet (feature `parquet`)"
        ))?,
    };
    let client = Client::from_env()?;
    let mut query = client.tabular_resource(&rid)?;
    for filter in args {
        let (key, value) = filter
            .split_once('=')
            .ok_or("filters are column__op=value")?;
        query = match (key, value.rsplit_once(':')) {
            ("sort", Some((column, "desc"))) => query.sort(column, Order::Desc),
            ("sort", _) => query.sort(value.trim_end_matches(":asc"), Order::Asc),
            _ => match key.rsplit_once("__") {
                Some((column, op)) => query.filter(column, Op::parse(op)?, value),
                None => return Err("filters are column__op=value".into()),
            },
        };
    }
    let started = Instant::now();
    let options = ExportOptions::default();
    let summary = query.export_to_file(format, path.as_ref(), options).await?;
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "rows={} bytes={} windows={} seconds={seconds:.2} MB/s={:.1} peak_rss_mb={:.1}",
        summary.rows,
        summary.bytes,
        summary.windows,
        summary.bytes as f64 / 1e6 / seconds,
        peak_rss_kib() as f64 / 1024.0,
    );
    Ok(())
}

/// The process's peak resident memory (`VmHWM`), in KiB; 0 where unknown.
fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let line = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .unwrap_or_default();
    line.split_whitespace()
        .nth(1)
        .and_then(|kib| kib.parse().ok())
        .unwrap_or(0)
}
