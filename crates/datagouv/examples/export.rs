//! Exports every row of a Tabular API resource to a file, whatever its size,
//! and prints what it wrote, how fast, and the process's peak memory.
//!
//! `cargo run --release -p datagouv --features parquet --example export -- <resource id> <file> [csv|json|parquet] [column__op=value | sort=column:asc|desc …]`
//!
//! `scripts/bench-export.sh` runs it against the local stack's 200,000-row
//! resource: the figures of BENCHMARKS.md come from there.

use datagouv::{Client, ExportFormat, ExportOptions, Op, Order};
use std::{path::PathBuf, time::Instant};

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
        if key == "sort" {
            let (column, order) = value.rsplit_once(':').unwrap_or((value, "asc"));
            let order = if order == "desc" {
                Order::Desc
            } else {
                Order::Asc
            };
            query = query.sort(column, order);
            continue;
        }
        let (column, op) = key
            .rsplit_once("__")
            .ok_or("filters are column__op=value")?;
        query = query.filter(column, Op::parse(op)?, value);
    }
    let started = Instant::now();
    let summary = query
        .export_to_file(format, &PathBuf::from(&path), ExportOptions::default())
        .await?;
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
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
            line.split_whitespace().nth(1)?.parse().ok()
        })
        .unwrap_or(0)
}
