//! One scenario with the SDK against the bench server; prints
//! `seconds=… peak_rss_mb=…` and what was moved.
//!
//! ```text
//! bench-sdk list     --url URL [--prefetch 16] [--spawn-pages]
//! bench-sdk export   --url URL --out FILE [--parallel-windows]
//! bench-sdk upload   --url URL --file FILE [--chunk-mib 8]
//! bench-sdk download --url URL --out FILE
//! ```

use clap::{Parser, ValueEnum};
use datagouv::{
    Client, DownloadOptions, DownloadSource, ExportFormat, ExportOptions, Paginator,
    ResourceUpload, UploadOptions, UploadSource,
};
use datagouv_bench::{BENCH_DATASET_ID, BENCH_RESOURCE_ID, peak_rss_mb};
use futures::TryStreamExt;
use std::{path::PathBuf, time::Instant};

#[derive(Clone, Copy, ValueEnum)]
enum Scenario {
    /// Every dataset of /api/1/datasets/ (pages of 100), as items.
    List,
    /// The Tabular CSV export of the large table, to a file.
    Export,
    /// A file as a new resource (udata's chunked protocol, default parts).
    Upload,
    /// /files/big.bin to a file.
    Download,
}

/// Runs one scenario with the datagouv SDK.
#[derive(Parser)]
struct Args {
    scenario: Scenario,
    /// The bench server, e.g. http://127.0.0.1:8080.
    #[arg(long)]
    url: String,
    /// list: pages in flight ahead of the consumer.
    #[arg(long, default_value_t = 16)]
    prefetch: usize,
    /// list: run each page's request (and its decoding) as its own tokio
    /// task, so pages decode on every worker thread, not only the consumer's.
    #[arg(long)]
    spawn_pages: bool,
    /// export: two windows in flight.
    #[arg(long)]
    parallel_windows: bool,
    /// export, download: the file written.
    #[arg(long)]
    out: Option<PathBuf>,
    /// upload: the file sent.
    #[arg(long)]
    file: Option<PathBuf>,
    /// upload: bytes per part in MiB (default: the SDK's default, 8 MiB).
    #[arg(long)]
    chunk_mib: Option<u64>,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let url = args.url.trim_end_matches('/').to_owned();
    let client = Client::builder()
        .main_url(&url)
        .tabular_url(&url)
        .metrics_url(&url)
        .api_key("bench-api-key")
        .build()?;
    let started = Instant::now();
    let what = match args.scenario {
        Scenario::List => {
            let main = client.main().clone();
            let spawn = args.spawn_pages;
            let mut items = Paginator::new(move |page| {
                let main = main.clone();
                let request =
                    async move { main.list_datasets().page(page).page_size(100).send().await };
                async move {
                    if spawn {
                        tokio::spawn(request)
                            .await
                            .expect("a page task never panics")
                    } else {
                        request.await
                    }
                }
            })
            .prefetch(args.prefetch)
            .items();
            let (mut count, mut resources) = (0u64, 0u64);
            while let Some(dataset) = items.try_next().await? {
                count += 1;
                resources += dataset.resources.map_or(0, |r| r.len() as u64);
            }
            format!("items={count} resources={resources}")
        }
        Scenario::Export => {
            let out = args.out.ok_or("export needs --out")?;
            let summary = client
                .tabular_resource(BENCH_RESOURCE_ID)?
                .export_to_file(
                    ExportFormat::Csv,
                    &out,
                    ExportOptions::default().parallel_windows(args.parallel_windows),
                )
                .await?;
            format!(
                "rows={} bytes={} windows={}",
                summary.rows, summary.bytes, summary.windows
            )
        }
        Scenario::Upload => {
            let file = args.file.ok_or("upload needs --file")?;
            let resource = client
                .upload_resource(
                    ResourceUpload::NewResource {
                        dataset: BENCH_DATASET_ID,
                    },
                    UploadSource::file(&file).await?,
                    match args.chunk_mib {
                        Some(mib) => UploadOptions::default().chunk_size(mib << 20),
                        None => UploadOptions::default(),
                    },
                )
                .await?;
            format!("bytes={}", resource.filesize.unwrap_or_default())
        }
        Scenario::Download => {
            let out = args.out.ok_or("download needs --out")?;
            let summary = client
                .download(
                    DownloadSource::Url(format!("{url}/files/big.bin")),
                    &out,
                    DownloadOptions::default(),
                )
                .await?;
            format!("bytes={}", summary.bytes)
        }
    };
    println!(
        "seconds={:.3} peak_rss_mb={:.1} {what}",
        started.elapsed().as_secs_f64(),
        peak_rss_mb()
    );
    Ok(())
}
