//! Exports of any query and any size, in constant memory, in the server's
//! own order.
//!
//! The servers refuse an export over 50,000 rows (403 "Output is too
//! long"). An export here counts first and, over the cap, cuts the query
//! into windows the server accepts ([`ExportPlan`]): `__id` ranges, or
//! keyset windows over the sort columns and `__id` when the query is
//! sorted. Windows are fetched in order, several in flight if asked
//! ([`ExportOptions::parallel`]; the ones ahead wait in their sockets, not
//! in memory), and joined into one document: one CSV header and no blank
//! line between windows, one JSON array, or one Parquet file with a row
//! group per window (cargo feature `parquet`).
//!
//! A window whose body breaks (reset, truncation, read timeout) is
//! requested again under the client's retry policy; the bytes already
//! written are checked against the new body (CRC-32) and skipped, so the
//! output is the one a clean run writes. [`Query::export_to_file`] writes a
//! hidden partial file beside the target and records after every window
//! what it holds: re-running an interrupted export resumes from the last
//! complete window, and restarts cleanly when the table changed since. A
//! table that changes during the export, or a row count that differs from
//! the server's, is an error, never a silently wrong file.

#[cfg(feature = "arrow")]
mod batches;
mod csv;
mod joiner;
#[cfg(test)]
mod measure;
#[cfg(feature = "parquet")]
mod parquet;
mod plan;
#[cfg(feature = "arrow")]
mod stream;

use futures::StreamExt;
use reqwest::Url;
use serde::{Deserialize, Serialize};
use std::{
    path::{Path, PathBuf},
    sync::Arc,
    time::{Instant, SystemTime},
};
use tokio::io::{AsyncSeekExt, AsyncWrite, AsyncWriteExt};

use self::csv::CsvRewriter;
use crate::{
    Error,
    atomic_file::{AtomicFile, AtomicOptions, write_atomically},
    query::{Query, Target},
    retry::{Decision, Outcome},
};
#[cfg(feature = "arrow")]
pub use batches::DecodeStats;
use joiner::{JoinState, Joiner};
#[cfg(feature = "parquet")]
pub use parquet::ParquetStats;
use plan::KeysetCursor;
pub use plan::{ExportPlan, WindowMethod};
#[cfg(feature = "arrow")]
pub use stream::{ArrowTypes, RecordBatchStream};

/// The most rows the servers put in one export.
pub const EXPORT_CAP: u64 = 50_000;

/// How the errors that leave nothing worth resuming end.
const EXPORT_AGAIN: &str = "export again";

/// Joined bytes written (or handed to the encoder) at a time.
const JOINED_BYTES: usize = 256 * 1024;

/// The most windows an export keeps in flight.
pub const MAX_PARALLEL_WINDOWS: usize = 4;

/// The document an export writes (more may come, and Parquet exists only
/// with the `parquet` feature: match with a `_` arm).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ExportFormat {
    /// CSV, as the server writes it (comma-separated, one header).
    Csv,
    /// One JSON array of row objects.
    Json,
    /// Parquet, typed from the resource's profile, a row group per window
    /// (cargo feature `parquet`; Tabular API only).
    #[cfg(feature = "parquet")]
    Parquet,
}

impl ExportFormat {
    /// The format a file name asks for by its extension (`.csv`, `.json`,
    /// `.parquet`), if any.
    pub fn from_path(path: &Path) -> Option<ExportFormat> {
        let extension = path.extension()?.to_str()?.to_ascii_lowercase();
        ExportFormat::parse(&extension)
    }

    /// Reads a format name: `csv`, `json` or `parquet`.
    pub fn parse(name: &str) -> Option<ExportFormat> {
        match name {
            "csv" => Some(ExportFormat::Csv),
            "json" => Some(ExportFormat::Json),
            #[cfg(feature = "parquet")]
            "parquet" => Some(ExportFormat::Parquet),
            _ => None,
        }
    }

    /// The format's name.
    pub fn name(self) -> &'static str {
        match self {
            ExportFormat::Csv => "csv",
            ExportFormat::Json => "json",
            #[cfg(feature = "parquet")]
            ExportFormat::Parquet => "parquet",
        }
    }

    /// The server endpoint the windows are read from (Parquet is built
    /// from the CSV export).
    fn endpoint(self) -> &'static str {
        match self {
            ExportFormat::Json => "data/json/",
            _ => "data/csv/",
        }
    }

    /// What the joiner produces for this format.
    fn joined(self) -> ExportFormat {
        match self {
            ExportFormat::Json => ExportFormat::Json,
            _ => ExportFormat::Csv,
        }
    }
}

/// How far an export is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Progress {
    /// Rows written.
    pub rows: u64,
    /// Bytes written.
    pub bytes: u64,
    /// Rows the export will hold (the count made before it started).
    pub total: Option<u64>,
    /// Windows complete.
    pub windows_done: u64,
    /// Windows in all.
    pub windows: u64,
}

/// How an export runs.
pub struct ExportOptions {
    parallel: usize,
    resume: bool,
    on_progress: Option<Box<dyn FnMut(Progress) + Send>>,
}

impl Default for ExportOptions {
    fn default() -> Self {
        ExportOptions {
            parallel: 2,
            resume: true,
            on_progress: None,
        }
    }
}

impl ExportOptions {
    /// Window requests in flight, 1 to [`MAX_PARALLEL_WINDOWS`] (default
    /// 2); the output stays in order.
    pub fn parallel(mut self, windows: usize) -> Self {
        self.parallel = windows;
        self
    }

    /// [`Query::export_to_file`]: go on from an interrupted export of the
    /// same query to the same file (default), or start over.
    pub fn resume(mut self, on: bool) -> Self {
        self.resume = on;
        self
    }

    /// Called after every chunk written.
    pub fn on_progress(mut self, callback: impl FnMut(Progress) + Send + 'static) -> Self {
        self.on_progress = Some(Box::new(callback));
        self
    }

    fn check(&self) -> Result<(), Error> {
        if !(1..=MAX_PARALLEL_WINDOWS).contains(&self.parallel) {
            return Err(Error::InvalidInput(format!(
                "{} windows in flight is out of range: use 1 to {MAX_PARALLEL_WINDOWS}",
                self.parallel
            )));
        }
        Ok(())
    }
}

/// What an export wrote.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ExportSummary {
    /// Rows written.
    pub rows: u64,
    /// Bytes of the document.
    pub bytes: u64,
    /// Windows of the export (requests of rows).
    pub windows: u64,
    /// Windows requested by this run (fewer than `windows` when resumed).
    pub windows_requested: u64,
    /// Window bodies that broke and were requested again.
    pub windows_retried: u64,
    /// The window this run started from, when it resumed an interrupted export.
    pub resumed_from: Option<u64>,
    /// An interrupted export of the same file was found but the table had
    /// changed since: this run started over.
    pub restarted: bool,
    /// Parquet: per column, values its type could not hold (written as null).
    pub unreadable: Vec<(String, u64)>,
}

impl Query {
    /// Exports every matching row to `writer` (no resumption: see
    /// [`Query::export_to_file`]).
    pub async fn export<W>(
        &self,
        format: ExportFormat,
        writer: &mut W,
        mut options: ExportOptions,
    ) -> Result<ExportSummary, Error>
    where
        W: AsyncWrite + Unpin + Send,
    {
        options.check()?;
        let mut plan = self.plan_export(format).await?;
        let mut run = Run::new(0, JoinState::default(), 0);
        self.run(
            &mut plan,
            &mut run,
            writer,
            &mut options,
            &mut |_, _| Ok(()),
        )
        .await?;
        self.finish(&plan, run).await
    }

    /// Exports to a file: written under a hidden partial name beside it
    /// and renamed only when complete and checked. An interrupted export
    /// leaves the partial file and a record of what it holds; the same
    /// export run again goes on from there (see [`ExportOptions::resume`]).
    pub async fn export_to_file(
        &self,
        format: ExportFormat,
        path: &Path,
        mut options: ExportOptions,
    ) -> Result<ExportSummary, Error> {
        options.check()?;
        // A Parquet footer indexes every row group: it is written whole.
        let resumable = format.joined() == format;
        // The destination is checked and locked before any request (a
        // folder, a missing folder, another export of the same file).
        let mut atomic = AtomicFile::open(path)?;
        atomic.keep_on_drop(resumable);
        let files = PartialFiles::beside(path);
        let request = format!(
            "{} {}",
            format.name(),
            self.url(format.endpoint(), &self.query_string(None)?)?
        );
        let mut restarted = false;
        let mut resumed = None;
        if options.resume
            && resumable
            && let Some(state) = files.read_state()
            && state.request == request
        {
            let count = match state.total {
                Some(_) => Some(self.total().await?),
                None => None,
            };
            if self.fingerprint(count).await? == state.fingerprint {
                resumed = Some(state);
            } else {
                restarted = true;
            }
        }
        if let Some(state) = &resumed
            && !files.holds(state.bytes).await
        {
            resumed = None;
        }
        // A damaged record (URLs that do not parse) is a fresh start too.
        let resumed = resumed.and_then(|state| {
            let windows = state
                .windows
                .iter()
                .map(|u| Url::parse(u).ok())
                .collect::<Option<Vec<_>>>()?;
            let plan = ExportPlan {
                format,
                windows,
                total: state.total,
                method: state.method,
                profile: None,
                rest: state.rest.clone(),
            };
            Some((plan, state))
        });
        let (mut plan, mut run, fingerprint) = match resumed {
            Some((plan, state)) => {
                let run = Run::new(state.done, state.join, state.bytes);
                (plan, run, state.fingerprint)
            }
            None => {
                files.remove_state();
                atomic.truncate(0)?;
                let plan = self.plan_export(format).await?;
                let fingerprint = self.fingerprint(plan.total).await?;
                (plan, Run::new(0, JoinState::default(), 0), fingerprint)
            }
        };
        let start = run.done;
        let mut file = files.open_at(&atomic, run.bytes).await?;
        let mut record = |run: &Run, plan: &ExportPlan| {
            if !resumable {
                return Ok(());
            }
            files.write_state(&ResumeState {
                request: request.clone(),
                fingerprint: fingerprint.clone(),
                windows: plan.windows.iter().map(Url::to_string).collect(),
                rest: plan.rest.clone(),
                total: plan.total,
                method: plan.method,
                done: run.done,
                bytes: run.bytes,
                join: run.join,
            })
        };
        let result = self
            .run(&mut plan, &mut run, &mut file, &mut options, &mut record)
            .await;
        let result = match result {
            Ok(()) => self.finish(&plan, run).await,
            Err(error) => Err(error),
        };
        let flushed = match result {
            Ok(summary) => file
                .flush()
                .await
                .map(|()| summary)
                .map_err(|e| Error::io("write", &files.partial, e)),
            Err(error) => Err(error),
        };
        drop(file);
        match flushed {
            // A rename that fails keeps a resumable partial file and its record.
            Ok(mut summary) => {
                atomic.commit()?;
                files.remove_state();
                summary.resumed_from = (start > 0).then_some(start as u64);
                summary.restarted = restarted;
                Ok(summary)
            }
            Err(error) => {
                // Keep what a re-run can resume from; drop the rest.
                let keep = resumable
                    && !matches!(&error, Error::InvalidInput(m) if m.ends_with(EXPORT_AGAIN))
                    && files.read_state().is_some();
                atomic.keep_on_drop(keep);
                if !keep {
                    files.remove_state();
                }
                Err(error)
            }
        }
    }

    /// What identifies the table's content for a resumed export: the
    /// resource's processing date (a new file is a new table) and the count
    /// of matching rows.
    async fn fingerprint(&self, count: Option<u64>) -> Result<String, Error> {
        // Without the date (an older or a partial server), the count alone.
        let created = match &self.target {
            Target::Tabular(_) => self
                .info()
                .await
                .map(|info| info["created_at"].to_string())
                .unwrap_or_default(),
            Target::Metrics(_) => String::new(),
        };
        Ok(format!("{created} {count:?}"))
    }

    /// Fetches the windows from `run.done` on and writes them; `record` is
    /// told after every complete window. Keyset windows not yet planned are
    /// planned as the export runs: the next boundary is read while the
    /// previous window downloads.
    async fn run<W>(
        &self,
        plan: &mut ExportPlan,
        run: &mut Run,
        writer: &mut W,
        options: &mut ExportOptions,
        record: &mut (dyn FnMut(&Run, &ExportPlan) -> Result<(), Error> + Send),
    ) -> Result<(), Error>
    where
        W: AsyncWrite + Unpin + Send,
    {
        // The windows' requests, in order, at most `parallel` ahead of the
        // window being written (a permit each, given back when it is
        // written). Each request on its own task: a window waiting its
        // turn keeps being polled, so its answer is read as it comes and
        // its read timeout does not run out while an earlier window is
        // written.
        let permits = Arc::new(tokio::sync::Semaphore::new(options.parallel));
        let (requested, mut windows) = tokio::sync::mpsc::unbounded_channel();
        let fetch = {
            let (mut ahead, known) = (plan.clone(), run.done..plan.windows.len());
            async move {
                let (permits, requested) = (&permits, &requested);
                let request = |url: Url, rest: Option<Option<KeysetCursor>>| async move {
                    let permit = permits.clone().acquire_owned().await.ok()?;
                    let query = self.clone();
                    let call = url.clone();
                    let response = Box::pin(crate::spawned::on_task(
                        async move { query.get_at(call).await },
                        "a window was being requested",
                    ));
                    requested
                        .send(Ok(Requested {
                            url,
                            rest,
                            response,
                            _permit: permit,
                        }))
                        .ok()
                };
                for index in known {
                    request(ahead.windows[index].clone(), None).await?;
                }
                while ahead.rest.is_some() {
                    if let Err(error) = self.plan_next_window(&mut ahead).await {
                        let _ = requested.send(Err(error));
                        return None;
                    }
                    let url = ahead.windows.last().expect("a window was planned").clone();
                    request(url, Some(ahead.rest.clone())).await?;
                }
                Some(())
            }
        };
        let write = async {
            let mut sink = Sink {
                rewriter: self.csv_rewriter(plan).await?,
                rewritten: Vec::new(),
                encoder: Encoder::new(self, plan.format).await?,
                joiner: Joiner::new(plan.format.joined(), run.join),
                joined: Vec::with_capacity(JOINED_BYTES),
                out: Vec::with_capacity(JOINED_BYTES),
                progress: Progress {
                    total: plan.total,
                    windows: plan.expected_windows() as u64,
                    windows_done: run.done as u64,
                    bytes: run.bytes,
                    rows: run.join.rows,
                },
            };
            while run.done < plan.expected_windows() {
                let Some(next) = windows.recv().await else {
                    return Err(Error::InvalidInput(
                        "the export's windows stopped being requested".into(),
                    ));
                };
                let window = next?;
                if run.done == plan.windows.len() {
                    plan.windows.push(window.url.clone());
                }
                if let Some(rest) = window.rest {
                    plan.rest = rest;
                }
                let last = plan.rest.is_none() && run.done + 1 == plan.windows.len();
                sink.progress.windows = plan.expected_windows() as u64;
                let mut body = WindowBody::new(self.clone(), window.url, window.response.await?);
                sink.start_window();
                while let Some(chunk) = body.next().await? {
                    sink.feed(&chunk);
                    if sink.joined.len() >= JOINED_BYTES {
                        sink.emit(writer, options).await?;
                    }
                }
                sink.end_window();
                if last {
                    // The server sends no CSV header for an empty result.
                    let header = if sink.joiner.needs_header() {
                        self.empty_header().await
                    } else {
                        Vec::new()
                    };
                    sink.joiner.finish(&mut sink.joined, &header);
                }
                sink.emit(writer, options).await?;
                sink.encoder.end_window(&mut sink.out).await?;
                sink.write_out(writer).await?;
                writer.flush().await.map_err(io_error)?;
                run.retried += body.retries;
                run.requested += 1;
                run.done += 1;
                run.bytes = sink.progress.bytes;
                run.join = sink.joiner.state;
                sink.progress.windows_done = run.done as u64;
                record(run, plan)?;
            }
            run.unreadable = sink.encoder.finish(&mut sink.out).await?;
            sink.write_out(writer).await?;
            run.bytes = sink.progress.bytes;
            writer.flush().await.map_err(io_error)?;
            Ok::<(), Error>(())
        };
        futures::pin_mut!(fetch, write);
        match futures::future::select(fetch, write).await {
            futures::future::Either::Left((_, write)) => write.await,
            futures::future::Either::Right((result, _)) => result,
        }
    }

    /// Checks the count again and sums up.
    async fn finish(&self, plan: &ExportPlan, run: Run) -> Result<ExportSummary, Error> {
        if let Some(before) = plan.total {
            let after = self.total().await?;
            if after != before {
                return Err(Error::InvalidInput(format!(
                    "the table changed during the export ({before} matching rows before, {after} after): the output is not a \
                     consistent copy; {EXPORT_AGAIN}"
                )));
            }
            if run.join.rows != before {
                return Err(Error::InvalidInput(format!(
                    "the export holds {} rows but the server counted {before}: the output is incomplete; {EXPORT_AGAIN}",
                    run.join.rows
                )));
            }
        }
        Ok(ExportSummary {
            rows: run.join.rows,
            bytes: run.bytes,
            windows: plan.windows.len() as u64,
            windows_requested: run.requested,
            windows_retried: run.retried,
            resumed_from: None,
            restarted: false,
            unreadable: run.unreadable,
        })
    }

    /// The rewriter of a CSV export: the Tabular profile tells the columns
    /// whose values the server writes otherwise than the JSON path.
    async fn csv_rewriter(&self, plan: &ExportPlan) -> Result<Option<CsvRewriter>, Error> {
        if plan.format != ExportFormat::Csv {
            return Ok(None);
        }
        let (kinds, expected) = match &self.target {
            Target::Tabular(_) => {
                let profile = match &plan.profile {
                    Some(profile) => profile.clone(),
                    None => self.profile().await?,
                };
                let expected = if self.columns.is_empty() && self.aggregates.is_empty() {
                    std::iter::once("__id".to_owned())
                        .chain(profile.columns.iter().map(|c| c.name.clone()))
                        .collect()
                } else {
                    self.columns.clone()
                };
                let kinds = profile
                    .columns
                    .into_iter()
                    .map(|c| (c.name, self::csv::Kind::of(&c.python_type)))
                    .collect();
                (kinds, expected)
            }
            Target::Metrics(_) => (Default::default(), Vec::new()),
        };
        Ok(Some(CsvRewriter::new(kinds, expected)))
    }

    /// The CSV header of an export with no rows (the server then sends
    /// none): the selected columns, or `__id` and the profile's columns.
    async fn empty_header(&self) -> Vec<String> {
        if !self.columns.is_empty() {
            return self.columns.clone();
        }
        match &self.target {
            Target::Tabular(_) => match self.quiet_profile().await {
                Some(profile) => std::iter::once("__id".to_owned())
                    .chain(profile.columns.into_iter().map(|c| c.name))
                    .collect(),
                None => Vec::new(),
            },
            Target::Metrics(_) => Vec::new(),
        }
    }
}

/// Where an export stands.
struct Run {
    /// Windows complete.
    done: usize,
    /// Bytes of the document written.
    bytes: u64,
    join: JoinState,
    requested: u64,
    retried: u64,
    unreadable: Vec<(String, u64)>,
}

impl Run {
    fn new(done: usize, join: JoinState, bytes: u64) -> Run {
        Run {
            done,
            bytes,
            join,
            requested: 0,
            retried: 0,
            unreadable: Vec::new(),
        }
    }
}

/// Turns joined CSV/JSON into the bytes of the document.
enum Encoder {
    /// CSV and JSON are written as joined.
    Plain,
    /// Parquet, encoded on worker threads off the download path.
    #[cfg(feature = "parquet")]
    Parquet(Box<parquet::ParquetWorker>),
}

impl Encoder {
    async fn new(query: &Query, format: ExportFormat) -> Result<Encoder, Error> {
        match format {
            #[cfg(feature = "parquet")]
            ExportFormat::Parquet => {
                let profile = query.profile().await?;
                let types = profile
                    .columns
                    .into_iter()
                    .map(|c| (c.name, c.python_type))
                    .collect();
                Ok(Encoder::Parquet(Box::new(parquet::ParquetWorker::start(
                    types,
                )?)))
            }
            _ => {
                let _ = query;
                Ok(Encoder::Plain)
            }
        }
    }

    async fn end_window(&mut self, out: &mut Vec<u8>) -> Result<(), Error> {
        match self {
            Encoder::Plain => {
                let _ = out;
                Ok(())
            }
            #[cfg(feature = "parquet")]
            Encoder::Parquet(worker) => worker.end_row_group(out).await,
        }
    }

    /// Ends the document (the encoder is spent: plain from then on).
    async fn finish(&mut self, out: &mut Vec<u8>) -> Result<Vec<(String, u64)>, Error> {
        match std::mem::replace(self, Encoder::Plain) {
            Encoder::Plain => {
                let _ = out;
                Ok(Vec::new())
            }
            #[cfg(feature = "parquet")]
            Encoder::Parquet(worker) => Ok(worker.finish(out).await?.unreadable),
        }
    }
}

/// A window requested, in the export's order.
struct Requested {
    url: Url,
    /// The keyset windows still to plan after it, when it was just planned.
    rest: Option<Option<KeysetCursor>>,
    response: futures::future::BoxFuture<'static, Result<reqwest::Response, Error>>,
    /// Given back when the window is written.
    _permit: tokio::sync::OwnedSemaphorePermit,
}

/// The body of one window, requested again where it breaks: the bytes
/// already delivered are read again, checked (CRC-32) and skipped.
struct WindowBody {
    query: Query,
    url: Url,
    body: futures::stream::BoxStream<'static, reqwest::Result<bytes::Bytes>>,
    delivered: u64,
    delivered_crc: crc32fast::Hasher,
    /// Bytes of a new body still to skip, their CRC so far and the one expected.
    skip: u64,
    skip_crc: crc32fast::Hasher,
    expected: u32,
    attempt: u32,
    started: Instant,
    retries: u64,
}

impl WindowBody {
    fn new(query: Query, url: Url, response: reqwest::Response) -> WindowBody {
        WindowBody {
            query,
            url,
            body: response.bytes_stream().boxed(),
            delivered: 0,
            delivered_crc: crc32fast::Hasher::new(),
            skip: 0,
            skip_crc: crc32fast::Hasher::new(),
            expected: 0,
            attempt: 1,
            started: Instant::now(),
            retries: 0,
        }
    }

    /// The next new bytes of the window, or `None` at its end.
    async fn next(&mut self) -> Result<Option<bytes::Bytes>, Error> {
        loop {
            match self.body.next().await {
                Some(Ok(mut chunk)) => {
                    if self.skip > 0 {
                        let n = (self.skip as usize).min(chunk.len());
                        self.skip_crc.update(&chunk[..n]);
                        self.skip -= n as u64;
                        if self.skip == 0 && self.skip_crc.clone().finalize() != self.expected {
                            return Err(changed_during_retry());
                        }
                        chunk = chunk.slice(n..);
                        if chunk.is_empty() {
                            continue;
                        }
                    }
                    self.delivered += chunk.len() as u64;
                    self.delivered_crc.update(&chunk);
                    return Ok(Some(chunk));
                }
                None if self.skip > 0 => return Err(changed_during_retry()),
                None => return Ok(None),
                Some(Err(error)) => {
                    let policy = self.query.client.retry_policy();
                    let decision = policy.decide_resend(
                        Outcome::TransportFailed,
                        self.attempt,
                        self.started.elapsed(),
                        SystemTime::now(),
                        fastrand::f64(),
                    );
                    let Decision::RetryAfter(wait) = decision else {
                        return Err(Error::Transport(error));
                    };
                    tracing::debug!(url = %self.url, delivered = self.delivered, "window body broke, requesting it again");
                    tokio::time::sleep(wait).await;
                    self.attempt += 1;
                    self.retries += 1;
                    self.body = self
                        .query
                        .get_at(self.url.clone())
                        .await?
                        .bytes_stream()
                        .boxed();
                    self.skip = self.delivered;
                    self.skip_crc = crc32fast::Hasher::new();
                    self.expected = self.delivered_crc.clone().finalize();
                }
            }
        }
    }
}

/// The document being written: window bodies rewritten (CSV), joined,
/// encoded, written.
struct Sink {
    /// CSV: the server's record text rewritten as the JSON path's values.
    rewriter: Option<CsvRewriter>,
    /// Rewritten bytes of the current chunk.
    rewritten: Vec<u8>,
    encoder: Encoder,
    joiner: Joiner,
    /// Joined bytes not yet encoded.
    joined: Vec<u8>,
    /// Encoded bytes not yet written.
    out: Vec<u8>,
    progress: Progress,
}

impl Sink {
    fn start_window(&mut self) {
        if let Some(rewriter) = &mut self.rewriter {
            rewriter.start_window();
        }
        self.joiner.start_window();
    }

    /// Joins a chunk of the current window (rewritten first, for CSV).
    fn feed(&mut self, chunk: &[u8]) {
        match &mut self.rewriter {
            Some(rewriter) => {
                let bytes = rewriter.rewrite(chunk, &mut self.rewritten);
                self.joiner.feed(bytes, &mut self.joined);
            }
            None => self.joiner.feed(chunk, &mut self.joined),
        }
    }

    fn end_window(&mut self) {
        if let Some(rewriter) = &mut self.rewriter {
            self.rewritten.clear();
            rewriter.end_window(&mut self.rewritten);
            self.joiner.feed(&self.rewritten, &mut self.joined);
        }
        self.joiner.end_window(&mut self.joined);
    }

    /// Encodes and writes the joined bytes (Parquet: sends them to the
    /// encoder's threads and writes what they finished), and tells the
    /// progress callback.
    async fn emit<W: AsyncWrite + Unpin>(
        &mut self,
        writer: &mut W,
        options: &mut ExportOptions,
    ) -> Result<(), Error> {
        match &mut self.encoder {
            Encoder::Plain => {
                if !self.joined.is_empty() {
                    writer.write_all(&self.joined).await.map_err(io_error)?;
                    self.progress.bytes += self.joined.len() as u64;
                }
                self.joined.clear();
            }
            #[cfg(feature = "parquet")]
            Encoder::Parquet(worker) => {
                if !self.joined.is_empty() {
                    let joined =
                        std::mem::replace(&mut self.joined, Vec::with_capacity(JOINED_BYTES));
                    worker.feed_csv(joined, &mut self.out).await?;
                }
            }
        }
        self.write_out(writer).await?;
        self.progress.rows = self.joiner.rows();
        if let Some(callback) = options.on_progress.as_mut() {
            callback(self.progress);
        }
        Ok(())
    }

    /// Writes what the encoder left in `out` (a row group, a footer).
    async fn write_out<W: AsyncWrite + Unpin>(&mut self, writer: &mut W) -> Result<(), Error> {
        if !self.out.is_empty() {
            writer.write_all(&self.out).await.map_err(io_error)?;
            self.progress.bytes += self.out.len() as u64;
            self.out.clear();
        }
        Ok(())
    }
}

fn changed_during_retry() -> Error {
    Error::InvalidInput(format!(
        "a window requested again after a broken connection came back different: the table changed during the \
         export; {EXPORT_AGAIN}"
    ))
}

fn io_error(error: std::io::Error) -> Error {
    Error::io("write", "the export's output", error)
}

/// What an interrupted export left, recorded beside its partial file.
#[derive(Serialize, Deserialize)]
struct ResumeState {
    /// The format and the request without windows.
    request: String,
    /// The table's content when the export started.
    fingerprint: String,
    windows: Vec<String>,
    /// Keyset windows still to plan after `windows`.
    #[serde(default)]
    rest: Option<KeysetCursor>,
    total: Option<u64>,
    method: WindowMethod,
    /// Windows complete.
    done: usize,
    /// Bytes of the partial file that hold them.
    bytes: u64,
    join: JoinState,
}

/// The partial file of an export to `path` and the record of what it holds.
struct PartialFiles {
    partial: PathBuf,
    state: PathBuf,
}

impl PartialFiles {
    fn beside(path: &Path) -> PartialFiles {
        let partial = AtomicFile::partial_path(path);
        let mut state = partial.clone().into_os_string();
        state.push(".json");
        PartialFiles {
            partial,
            state: PathBuf::from(state),
        }
    }

    fn read_state(&self) -> Option<ResumeState> {
        serde_json::from_slice(&std::fs::read(&self.state).ok()?).ok()
    }

    /// Whether the partial file holds at least `bytes`.
    async fn holds(&self, bytes: u64) -> bool {
        tokio::fs::metadata(&self.partial)
            .await
            .is_ok_and(|m| m.len() >= bytes)
    }

    /// The partial file, cut to `bytes` and open at its end.
    async fn open_at(&self, atomic: &AtomicFile, bytes: u64) -> Result<tokio::fs::File, Error> {
        atomic.truncate(bytes)?;
        let mut file = atomic.tokio_file()?;
        file.seek(std::io::SeekFrom::Start(bytes))
            .await
            .map_err(|e| Error::io("write", &self.partial, e))?;
        Ok(file)
    }

    /// Records the state (written aside, then renamed: never half a record).
    fn write_state(&self, state: &ResumeState) -> Result<(), Error> {
        let text = serde_json::to_vec(state).expect("a resume state serialises");
        write_atomically(&self.state, &text, AtomicOptions::default())
    }

    fn remove_state(&self) {
        let _ = std::fs::remove_file(&self.state);
    }
}

/// An interrupted export of `path` that a re-run would resume: windows
/// complete and windows in all.
pub fn interrupted_export(path: &Path) -> Option<(u64, u64)> {
    let state = PartialFiles::beside(path).read_state()?;
    let planned = ExportPlan {
        format: ExportFormat::Csv,
        windows: Vec::new(),
        total: state.total,
        method: state.method,
        profile: None,
        rest: state.rest,
    };
    Some((
        state.done as u64,
        (state.windows.len() + planned.expected_windows()) as u64,
    ))
}
