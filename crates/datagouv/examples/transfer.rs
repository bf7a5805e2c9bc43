//! Uploads a large file as a new resource (chunked), downloads it back
//! verified against the catalog's checksum, and prints throughput and the
//! process's peak memory. Needs an API key that may write in a dataset.
//!
//! `cargo run --release -p datagouv --example transfer -- <dataset id> [size in MiB, default 1024]`
//!
//! `scripts/bench-transfer.sh` runs it against the local udata.

use datagouv::{
    Client, DownloadOptions, DownloadSource, ResourceUpload, UploadOptions, UploadSource,
};
use std::time::Instant;
use tokio::io::AsyncWriteExt;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let dataset = args
        .next()
        .ok_or("usage: transfer <dataset id> [size in MiB]")?;
    let mebibytes: u64 = args.next().map(|s| s.parse()).transpose()?.unwrap_or(1024);
    let client = Client::from_env()?;
    let dir = std::env::temp_dir().join(format!("datagouv-transfer-{}", std::process::id()));
    tokio::fs::create_dir_all(&dir).await?;
    let source = dir.join("payload.csv");

    // A deterministic, incompressible-enough payload written 1 MiB at a time.
    let mut file = tokio::fs::File::create(&source).await?;
    let mut block = vec![0u8; 1 << 20];
    let mut state = 0x2545_f491_4f6c_dd1du64;
    for _ in 0..mebibytes {
        for byte in block.iter_mut() {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            *byte = state as u8;
        }
        file.write_all(&block).await?;
    }
    file.sync_all().await?;
    drop((file, block));
    let size = mebibytes << 20;

    let started = Instant::now();
    let uploaded = client
        .upload_resource(
            ResourceUpload::NewResource { dataset: &dataset },
            UploadSource::file(&source).await?,
            UploadOptions::default(),
        )
        .await?;
    let upload_seconds = started.elapsed().as_secs_f64();
    let resource = uploaded.id;

    let target = dir.join("downloaded.csv");
    let started = Instant::now();
    let summary = client
        .download(
            DownloadSource::Resource(resource.clone()),
            &target,
            DownloadOptions::default(),
        )
        .await?;
    let download_seconds = started.elapsed().as_secs_f64();
    client.delete_resource(&dataset, &resource).await?;
    tokio::fs::remove_dir_all(&dir).await?;

    println!(
        "size_mib={mebibytes} upload_s={upload_seconds:.1} upload_MBps={:.0} download_s={download_seconds:.1} download_MBps={:.0} verified={} peak_rss_mb={:.1}",
        size as f64 / 1e6 / upload_seconds,
        summary.bytes as f64 / 1e6 / download_seconds,
        summary.verified.is_some(),
        peak_rss_kib() as f64 / 1024.0
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
