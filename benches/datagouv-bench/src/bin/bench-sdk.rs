//! One scenario with the SDK against the bench server; prints
//! `seconds=… peak_rss_mb=…` and what was moved.
//!
//! ```text
//! bench-sdk list        --url URL [--prefetch 16]
//! bench-sdk export      --url URL --out FILE [--parallel N] [--format csv|json|parquet]
//!                       [--sort COL[:desc]] [--rid RID]
//! bench-sdk export-plan --url URL [--format csv|json|parquet] [--sort COL[:desc]] [--rid RID]
//! bench-sdk upload      --url URL --file FILE [--chunk-mib 8]
//! bench-sdk download    --url URL --out FILE
//! bench-sdk sync        --url URL --out DIR
//! ```
//!
//! `export-plan` prints only the URLs of the export's window requests, one
//! per line, in the order the export makes them, so that `curl` can fetch
//! exactly the same windows.

use clap::{Parser, ValueEnum};
use datagouv::{
    Client, DownloadOptions, DownloadSource, ExportFormat, ExportOptions, ListExt, Order, Query,
    ResourceUpload, UploadOptions, UploadSource,
};
use datagouv_bench::{BENCH_DATASET_ID, BENCH_RESOURCE_ID, peak_rss_mb};
use futures::TryStreamExt;
use std::{path::PathBuf, time::Instant};

#[derive(Clone, Copy, ValueEnum)]
enum Scenario {
    /// Every dataset of /api/1/datasets/ (pages of 100), as items.
    List,
    /// The Tabular export of the large table (or `--rid`), to a file.
    Export,
    /// The URLs of that export's window requests, one per line.
    ExportPlan,
    /// A file as a new resource (udata's chunked protocol, default parts).
    Upload,
    /// /files/big.bin to a file.
    Download,
    /// The sync dataset (100 hosted files of 1 MiB) mirrored into `--out`
    /// (a directory): the first run fetches all, a re-run what changed.
    Sync,
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
    /// export: window requests in flight (1 to 4; default: the SDK's, 2).
    #[arg(long)]
    parallel: Option<usize>,
    /// export, export-plan: the document written.
    #[arg(long, value_enum, default_value_t = Format::Csv)]
    format: Format,
    /// export, export-plan: sort on a column, `COL` or `COL:desc`.
    #[arg(long)]
    sort: Option<String>,
    /// export, export-plan: the Tabular resource (default: the bench server's).
    #[arg(long, default_value = BENCH_RESOURCE_ID)]
    rid: String,
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

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Csv,
    Json,
    Parquet,
}

impl From<Format> for ExportFormat {
    fn from(format: Format) -> ExportFormat {
        match format {
            Format::Csv => ExportFormat::Csv,
            Format::Json => ExportFormat::Json,
            Format::Parquet => ExportFormat::Parquet,
        }
    }
}

/// The query an export runs: every row of `--rid`, sorted as `--sort` says.
fn export_query(client: &Client, args: &Args) -> Result<Query, Box<dyn std::error::Error>> {
    let query = client.tabular_resource(&args.rid)?;
    Ok(match args.sort.as_deref() {
        None => query,
        Some(sort) => match sort.rsplit_once(':') {
            Some((column, "desc")) => query.sort(column, Order::Desc),
            Some((column, "asc")) => query.sort(column, Order::Asc),
            _ => query.sort(sort, Order::Asc),
        },
    })
}

/// Runs the scenario the command line names (also the entry point of
/// `bench-sdk-mimalloc`).
#[tokio::main]
pub(crate) async fn main() -> Result<(), Box<dyn std::error::Error>> {
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
            let mut items = client
                .main()
                .list_datasets()
                .page_size(100)
                .items()
                .prefetch(args.prefetch);
            let (mut count, mut resources) = (0u64, 0u64);
            while let Some(dataset) = items.try_next().await? {
                count += 1;
                resources += dataset.resources.len() as u64;
            }
            format!("items={count} resources={resources}")
        }
        Scenario::Export => {
            let out = args.out.clone().ok_or("export needs --out")?;
            let options = match args.parallel {
                Some(n) => ExportOptions::default().parallel(n),
                None => ExportOptions::default(),
            };
            let summary = export_query(&client, &args)?
                .export_to_file(args.format.into(), &out, options)
                .await?;
            format!(
                "rows={} bytes={} windows={}",
                summary.rows, summary.bytes, summary.windows
            )
        }
        Scenario::ExportPlan => {
            let plan = export_query(&client, &args)?
                .export_plan(args.format.into())
                .await?;
            let urls = plan.urls();
            assert_eq!(urls.len(), plan.windows(), "one URL per window");
            for url in urls {
                println!("{url}");
            }
            return Ok(());
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
        Scenario::Sync => {
            let out = args.out.ok_or("sync needs --out (a directory)")?;
            let plan = datagouv::SyncPlan::new(out).dataset(datagouv_bench::server::SYNC_DATASET);
            let mut events = client.sync(plan);
            let mut summary = datagouv::SyncSummary::default();
            while let Some(event) = futures::StreamExt::next(&mut events).await {
                if let datagouv::SyncEvent::Finished(done) = event {
                    summary = done;
                }
            }
            if summary.failed > 0 {
                return Err(format!("{} file(s) failed", summary.failed).into());
            }
            format!(
                "files={} bytes={}",
                summary.new + summary.updated + summary.unchanged,
                summary.bytes
            )
        }
    };
    println!(
        "seconds={:.3} peak_rss_mb={:.1} {what}",
        started.elapsed().as_secs_f64(),
        peak_rss_mb()
    );
    Ok(())
}
