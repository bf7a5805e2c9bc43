//! `datagouv sql`: a query of the SQL engine (crate datagouv-sql), printed
//! as every other command prints rows, or streamed to a file.

use std::io::{IsTerminal, Write};
use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::Duration;

use datafusion::arrow::record_batch::RecordBatch;
use datafusion::error::DataFusionError;
use datafusion::physical_plan::SendableRecordBatchStream;
use datagouv::Client;
use datagouv_sql::{SqlEngine, into_sdk_error, json_rows};
use futures::{StreamExt, TryStreamExt};
use serde_json::Value;

use crate::cli::{FileFormat, SqlArgs};
use crate::error::CliError;
use crate::output::{Output, Record};

/// Runs `datagouv sql`.
pub async fn run(client: Client, args: SqlArgs, output: &Output) -> Result<(), CliError> {
    if args.query.trim().is_empty() {
        return Err(CliError::usage("the query is empty")
            .with_hint(r#"write e.g. datagouv sql 'SELECT COUNT(*) FROM "<resource id>"'"#));
    }
    // The destination is checked before any request.
    let file = match &args.output {
        Some(path) => Some((path.clone(), file_format(path, args.format)?)),
        None => None,
    };
    if let Some((path, _)) = &file {
        check_destination(path)?;
    }
    let mut builder = SqlEngine::builder(client).parallel(args.parallel);
    if let Some(dir) = &args.cache_dir {
        builder = builder.cache_dir(dir);
    }
    let engine = builder.build().map_err(|e| sql_error(&args.query, e))?;
    if args.explain {
        let plan = engine
            .explain(&args.query)
            .await
            .map_err(|e| sql_error(&args.query, e))?;
        println!("{plan}");
        return Ok(());
    }
    let frame = engine
        .sql(&args.query)
        .await
        .map_err(|e| sql_error(&args.query, e))?;
    let batches = frame
        .execute_stream()
        .await
        .map_err(|e| sql_error(&args.query, e))?;
    let bar = ProgressBar::start(&engine);
    let result = match file {
        Some((path, format)) => write_file(batches, &path, format, &args.query).await,
        None => print(batches, output, &args.query).await,
    };
    bar.finish();
    result
}

/// The format of `-o FILE`: `--format`, else the extension.
fn file_format(path: &Path, asked: Option<FileFormat>) -> Result<FileFormat, CliError> {
    if let Some(format) = asked {
        return Ok(format);
    }
    match path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("parquet") => Ok(FileFormat::Parquet),
        Some("csv") => Ok(FileFormat::Csv),
        Some("json") => Ok(FileFormat::Json),
        _ => Err(CliError::usage(format!(
            "cannot tell the format of {} from its extension",
            path.display()
        ))
        .with_hint("name the file .parquet, .csv or .json, or add --format parquet|csv|json")),
    }
}

/// Refuses a destination that cannot be written, before any request.
fn check_destination(path: &Path) -> Result<(), CliError> {
    if path.is_dir() {
        return Err(CliError::other(format!("{} is a folder", path.display()))
            .with_hint("give a file name, e.g. -o result.parquet"));
    }
    let parent = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    if !parent.is_dir() {
        return Err(CliError::other(format!(
            "cannot write {}: the folder {} does not exist",
            path.display(),
            parent.display()
        ))
        .with_hint("create the folder first"));
    }
    Ok(())
}

/// A DataFusion error as the CLI says it: the SDK's own errors keep their
/// exit codes and hints; bad SQL, unknown tables and columns are usage
/// errors naming what to change.
fn sql_error(query: &str, error: DataFusionError) -> CliError {
    let error = match into_sdk_error(error) {
        Ok(sdk) => return CliError::from(sdk),
        Err(error) => error,
    };
    let message = error.to_string();
    let message = message
        .strip_prefix("Error during planning: ")
        .or_else(|| message.strip_prefix("SQL error: "))
        .unwrap_or(&message)
        .to_owned();
    match error.find_root() {
        DataFusionError::SQL(..) => CliError::usage(format!("cannot read the query: {message}"))
            .with_hint("check the SQL; quote resource ids and column names with spaces or capitals in double quotes"),
        DataFusionError::SchemaError(..) => CliError::usage(message).with_hint(
            "quote column names in double quotes as they are written (accents, spaces, capitals): \"nom complet\"",
        ),
        DataFusionError::Plan(text) if text.contains("no resource") || text.contains("deleted") => {
            CliError::not_found(message)
        }
        DataFusionError::Plan(_) | DataFusionError::NotImplemented(_) | DataFusionError::Configuration(_) => {
            CliError::usage(message).with_hint(format!("the query was: {query}"))
        }
        _ => CliError::other(message),
    }
}

/// Prints the rows as every other command does (table, CSV, JSON).
async fn print(
    batches: SendableRecordBatchStream,
    output: &Output,
    query: &str,
) -> Result<(), CliError> {
    let query = query.to_owned();
    let rows = batches
        .map_err(move |e| sql_error(&query, e))
        .map_ok(|batch| futures::stream::iter(records(&batch).into_iter().map(Ok)))
        .try_flatten();
    output.print_stream(rows, None).await
}

/// The rows of a batch as records.
fn records(batch: &RecordBatch) -> Vec<Record> {
    let schema = batch.schema();
    json_rows(batch)
        .into_iter()
        .map(|row| Record::from_pairs(schema.fields().iter().map(|f| f.name().as_str()).zip(row)))
        .collect()
}

/// Streams the rows to `path`: written under a hidden partial name beside
/// it and renamed only once complete, so a failed query leaves nothing.
async fn write_file(
    mut batches: SendableRecordBatchStream,
    path: &Path,
    format: FileFormat,
    query: &str,
) -> Result<(), CliError> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let partial = path.with_file_name(format!(".{name}.partial"));
    let io =
        |e: std::io::Error| CliError::other(format!("cannot write {}: {e}", partial.display()));
    let file = std::fs::File::create(&partial).map_err(io)?;
    let result: Result<u64, CliError> = async {
        let mut written = 0u64;
        match format {
            FileFormat::Parquet => {
                let mut writer = datafusion::parquet::arrow::ArrowWriter::try_new(
                    std::io::BufWriter::new(&file),
                    batches.schema(),
                    None,
                )
                .map_err(|e| CliError::other(format!("cannot write the Parquet file: {e}")))?;
                while let Some(batch) = batches.next().await {
                    let batch = batch.map_err(|e| sql_error(query, e))?;
                    written += batch.num_rows() as u64;
                    writer.write(&batch).map_err(|e| {
                        CliError::other(format!("cannot write the Parquet file: {e}"))
                    })?;
                }
                writer
                    .close()
                    .map_err(|e| CliError::other(format!("cannot write the Parquet file: {e}")))?;
            }
            FileFormat::Csv => {
                let mut writer = csv::Writer::from_writer(std::io::BufWriter::new(&file));
                let schema = batches.schema();
                writer
                    .write_record(schema.fields().iter().map(|f| f.name()))
                    .map_err(|e| CliError::other(e.to_string()))?;
                while let Some(batch) = batches.next().await {
                    let batch = batch.map_err(|e| sql_error(query, e))?;
                    written += batch.num_rows() as u64;
                    for row in json_rows(&batch) {
                        writer
                            .write_record(row.iter().map(|value| match value {
                                Value::Null => String::new(),
                                Value::String(text) => text.clone(),
                                other => other.to_string(),
                            }))
                            .map_err(|e| CliError::other(e.to_string()))?;
                    }
                }
                writer.flush().map_err(io)?;
            }
            FileFormat::Json => {
                let mut out = std::io::BufWriter::new(&file);
                out.write_all(b"[").map_err(io)?;
                while let Some(batch) = batches.next().await {
                    let batch = batch.map_err(|e| sql_error(query, e))?;
                    for record in records(&batch) {
                        if written > 0 {
                            out.write_all(b",\n").map_err(io)?;
                        }
                        written += 1;
                        serde_json::to_writer(&mut out, &record)
                            .map_err(|e| CliError::other(e.to_string()))?;
                    }
                }
                out.write_all(b"]\n").map_err(io)?;
                out.flush().map_err(io)?;
            }
        }
        file.sync_all().map_err(io)?;
        Ok(written)
    }
    .await;
    match result {
        Ok(rows) => {
            std::fs::rename(&partial, path).map_err(|e| {
                CliError::other(format!(
                    "cannot rename {} to {}: {e}",
                    partial.display(),
                    path.display()
                ))
            })?;
            eprintln!("wrote {rows} rows to {}", path.display());
            Ok(())
        }
        Err(error) => {
            let _ = std::fs::remove_file(&partial);
            Err(error)
        }
    }
}

/// A progress bar on stderr while a long scan runs (a terminal only).
struct ProgressBar {
    task: Option<tokio::task::JoinHandle<()>>,
}

impl ProgressBar {
    fn start(engine: &SqlEngine) -> ProgressBar {
        if !std::io::stderr().is_terminal() {
            return ProgressBar { task: None };
        }
        let progress = engine.progress();
        let task = tokio::spawn(async move {
            // Short scans finish before the bar would show.
            tokio::time::sleep(Duration::from_millis(500)).await;
            let bar = indicatif::ProgressBar::new(0);
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{spinner} {human_pos}/{human_len} rows read, {msg} [{elapsed}]",
                )
                .expect("a valid template"),
            );
            loop {
                bar.set_length(progress.rows_total.load(Ordering::Relaxed));
                bar.set_position(progress.rows.load(Ordering::Relaxed));
                bar.set_message(format!(
                    "{}/{} windows",
                    progress.windows_done.load(Ordering::Relaxed),
                    progress.windows_total.load(Ordering::Relaxed)
                ));
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
        ProgressBar { task: Some(task) }
    }

    fn finish(self) {
        if let Some(task) = self.task {
            task.abort();
            // The bar is cleared from the line.
            eprint!("\r\x1b[2K");
        }
    }
}
