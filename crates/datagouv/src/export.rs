//! Exports of any size, in constant memory.
//!
//! The servers refuse an export over 50,000 rows (403 "Output is too
//! long"). An export here counts first; over the cap it splits the query
//! into `__id` windows of at most 50,000 rows (`__id__greater`/`__id__less`
//! added to the filters), streams them in order — optionally two requests
//! in flight, output still in order — and writes one document: one CSV
//! header and no blank line between windows, or one JSON array. A sort the
//! windows cannot keep, or a table that changes during the export, is an
//! error, never a silently wrong file.

use futures::{StreamExt, TryStreamExt};
use std::path::Path;
use tokio::io::{AsyncWrite, AsyncWriteExt};

use crate::{
    Error,
    download::temporary_path,
    query::{Order, Query, RowsPage, Target},
};

/// The most rows the servers put in one export.
pub const EXPORT_CAP: u64 = 50_000;

/// The document an export writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExportFormat {
    /// CSV, as the server writes it (comma-separated, one header).
    Csv,
    /// One JSON array of row objects.
    Json,
}

/// How far an export is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Progress {
    /// Rows written.
    pub rows: u64,
    /// Bytes written.
    pub bytes: u64,
    /// Rows the export will hold (the count made before it started).
    pub total: Option<u64>,
}

/// How an export runs.
#[derive(Default)]
pub struct ExportOptions {
    parallel_windows: bool,
    on_progress: Option<Box<dyn FnMut(Progress) + Send>>,
}

impl ExportOptions {
    /// Keep two window requests in flight (the output stays in order; the
    /// second waits in the socket, not in memory).
    pub fn parallel_windows(mut self, on: bool) -> Self {
        self.parallel_windows = on;
        self
    }

    /// Called after every chunk written.
    pub fn on_progress(mut self, callback: impl FnMut(Progress) + Send + 'static) -> Self {
        self.on_progress = Some(Box::new(callback));
        self
    }
}

/// What an export wrote.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExportSummary {
    /// Rows written.
    pub rows: u64,
    /// Bytes written.
    pub bytes: u64,
    /// Requests of rows the export made (windows).
    pub windows: u64,
}

impl Query {
    /// Exports every matching row to `writer`.
    pub async fn export<W>(
        &self,
        format: ExportFormat,
        writer: &mut W,
        mut options: ExportOptions,
    ) -> Result<ExportSummary, Error>
    where
        W: AsyncWrite + Unpin + Send,
    {
        if format == ExportFormat::Json && matches!(self.target, Target::Metrics(_)) {
            return Err(Error::InvalidInput(
                "the Metrics API exports CSV only: use ExportFormat::Csv".into(),
            ));
        }
        let aggregated = !self.aggregates.is_empty();
        let total = if aggregated {
            None
        } else {
            Some(self.total().await?)
        };
        let windows = match total {
            Some(total) if total > EXPORT_CAP => self.windows().await?,
            _ => vec![None],
        };
        let endpoint = match format {
            ExportFormat::Csv => "data/csv/",
            ExportFormat::Json => "data/json/",
        };
        let mut queries = Vec::with_capacity(windows.len());
        for window in &windows {
            let mut query = self.query_string(None)?;
            if let Some((low, high)) = window {
                let range = format!("__id__greater={low}&__id__less={high}");
                query = if query.is_empty() {
                    range
                } else {
                    format!("{query}&{range}")
                };
            }
            queries.push(query);
        }
        let in_flight = if options.parallel_windows { 2 } else { 1 };
        let mut responses = futures::stream::iter(queries)
            .map(|query| async move { self.get(endpoint, &query).await })
            .buffered(in_flight);

        let mut joiner = Joiner::new(format);
        let mut progress = Progress {
            total,
            ..Progress::default()
        };
        let mut out = Vec::with_capacity(64 * 1024);
        while let Some(response) = responses.try_next().await? {
            joiner.start_window();
            let mut body = response.bytes_stream();
            while let Some(chunk) = body.next().await {
                let chunk = chunk.map_err(Error::Transport)?;
                out.clear();
                joiner.feed(&chunk, &mut out);
                write_out(writer, &out, &mut progress, joiner.rows, &mut options).await?;
            }
            out.clear();
            joiner.end_window(&mut out);
            write_out(writer, &out, &mut progress, joiner.rows, &mut options).await?;
        }
        out.clear();
        joiner.finish(&mut out, &self.empty_header().await);
        write_out(writer, &out, &mut progress, joiner.rows, &mut options).await?;
        writer.flush().await.map_err(io_error)?;

        if let Some(before) = total {
            let after = self.total().await?;
            if after != before {
                return Err(Error::InvalidInput(format!(
                    "the table changed during the export ({before} matching rows before, {after} after): the output is not a \
                     consistent copy; export again"
                )));
            }
            if joiner.rows != before {
                return Err(Error::InvalidInput(format!(
                    "the export holds {} rows but the server counted {before}: the output is incomplete; export again",
                    joiner.rows
                )));
            }
        }
        Ok(ExportSummary {
            rows: joiner.rows,
            bytes: progress.bytes,
            windows: windows.len() as u64,
        })
    }

    /// Exports to a file: written under a temporary name beside it and
    /// renamed only when complete and checked; on error nothing is left.
    pub async fn export_to_file(
        &self,
        format: ExportFormat,
        path: &Path,
        options: ExportOptions,
    ) -> Result<ExportSummary, Error> {
        let temporary = temporary_path(path);
        let result = async {
            let mut file = tokio::fs::File::create(&temporary)
                .await
                .map_err(io_error)?;
            let summary = self.export(format, &mut file, options).await?;
            file.sync_all().await.map_err(io_error)?;
            drop(file);
            tokio::fs::rename(&temporary, path)
                .await
                .map_err(io_error)?;
            Ok(summary)
        }
        .await;
        if result.is_err() {
            let _ = tokio::fs::remove_file(&temporary).await;
        }
        result
    }

    /// `__id` ranges of at most [`EXPORT_CAP`] ids covering the matching rows.
    async fn windows(&self) -> Result<Vec<Option<(u64, u64)>>, Error> {
        if self
            .sorts
            .iter()
            .any(|(column, order)| column != "__id" || *order != Order::Asc)
        {
            return Err(Error::InvalidInput(format!(
                "the export holds more than {EXPORT_CAP} rows, so it is fetched in `__id` windows, which cannot keep a sort \
                 on another column: drop the sort and sort the file afterwards, or narrow the filters"
            )));
        }
        let edge = |order| async move {
            let mut query = self.clone().page_size(1);
            query.sorts = vec![("__id".into(), order)];
            let page: RowsPage<serde_json::Value> = query.page(1).await?;
            page.rows.first().and_then(|row| row["__id"].as_u64()).ok_or_else(|| {
                Error::InvalidInput("the rows carry no `__id`, so a large export cannot be split; narrow the filters".into())
            })
        };
        let (low, high) = (edge(Order::Asc).await?, edge(Order::Desc).await?);
        Ok((0..)
            .map(|k| low + k * EXPORT_CAP)
            .take_while(|start| *start <= high)
            .map(|start| Some((start, (start + EXPORT_CAP - 1).min(high))))
            .collect())
    }

    /// The CSV header of an export with no rows (the server then sends none).
    async fn empty_header(&self) -> Vec<String> {
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

fn io_error(error: std::io::Error) -> Error {
    Error::InvalidInput(format!("cannot write the export: {error}"))
}

async fn write_out<W: AsyncWrite + Unpin>(
    writer: &mut W,
    bytes: &[u8],
    progress: &mut Progress,
    rows: u64,
    options: &mut ExportOptions,
) -> Result<(), Error> {
    if bytes.is_empty() {
        return Ok(());
    }
    writer.write_all(bytes).await.map_err(io_error)?;
    progress.bytes += bytes.len() as u64;
    progress.rows = rows;
    if let Some(callback) = options.on_progress.as_mut() {
        callback(*progress);
    }
    Ok(())
}

/// Joins the bodies of export windows into one document, byte by byte.
struct Joiner {
    format: ExportFormat,
    rows: u64,
    /// CSV: the header was written.
    header_written: bool,
    /// Bytes of the current window not yet decided on.
    held: Vec<u8>,
    /// CSV: still in this window's header line. JSON: before the opening `[`.
    at_start: bool,
    /// CSV: inside a quoted field. JSON: inside a string.
    quoted: bool,
    escaped: bool,
    /// JSON: nesting depth inside the array.
    depth: u32,
    /// JSON: an item was written (the next one needs a comma).
    wrote_item: bool,
    /// JSON: the current window wrote an item. CSV: it wrote a row byte.
    window_has_item: bool,
}

impl Joiner {
    fn new(format: ExportFormat) -> Joiner {
        Joiner {
            format,
            rows: 0,
            header_written: false,
            held: Vec::new(),
            at_start: true,
            quoted: false,
            escaped: false,
            depth: 0,
            wrote_item: false,
            window_has_item: false,
        }
    }

    fn start_window(&mut self) {
        self.held.clear();
        self.at_start = true;
        self.quoted = false;
        self.escaped = false;
        self.depth = 0;
        self.window_has_item = false;
    }

    fn feed(&mut self, chunk: &[u8], out: &mut Vec<u8>) {
        match self.format {
            ExportFormat::Csv => self.feed_csv(chunk, out),
            ExportFormat::Json => self.feed_json(chunk, out),
        }
    }

    /// CSV: the first line of each window is its header (kept once); rows
    /// are counted by newlines outside quotes; newlines are held back so the
    /// server's extra final newline can be dropped.
    fn feed_csv(&mut self, chunk: &[u8], out: &mut Vec<u8>) {
        for &byte in chunk {
            if self.at_start {
                self.held.push(byte);
                if byte == b'\n' {
                    self.at_start = false;
                    let header = std::mem::take(&mut self.held);
                    if header.len() > 1 && !self.header_written {
                        out.extend_from_slice(&header);
                        self.header_written = true;
                    }
                }
                continue;
            }
            if byte == b'\n' && !self.quoted {
                self.held.push(byte);
                continue;
            }
            // A byte of a row: the held newlines were row ends.
            if self.window_has_item {
                for _ in 0..self.held.len() {
                    out.push(b'\n');
                    self.rows += 1;
                }
            }
            self.held.clear();
            self.window_has_item = true;
            if byte == b'"' {
                self.quoted = !self.quoted;
            }
            out.push(byte);
        }
    }

    /// JSON: drop the window's `[` and `]`, join items with commas, count
    /// the top-level objects; trailing `]` and blanks are held back.
    fn feed_json(&mut self, chunk: &[u8], out: &mut Vec<u8>) {
        for &byte in chunk {
            if self.at_start {
                if byte == b'[' {
                    self.at_start = false;
                }
                continue;
            }
            if !self.quoted && (byte.is_ascii_whitespace() || byte == b']') && self.depth == 0 {
                self.held.push(byte);
                continue;
            }
            out.append(&mut self.held);
            if self.quoted {
                match (self.escaped, byte) {
                    (true, _) => self.escaped = false,
                    (false, b'\\') => self.escaped = true,
                    (false, b'"') => self.quoted = false,
                    _ => {}
                }
                out.push(byte);
                continue;
            }
            match byte {
                b'"' => self.quoted = true,
                b'{' | b'[' => {
                    if self.depth == 0 {
                        if !self.wrote_item {
                            out.push(b'[');
                        } else if !self.window_has_item {
                            out.push(b',');
                        }
                        self.rows += 1;
                        self.wrote_item = true;
                        self.window_has_item = true;
                    }
                    self.depth += 1;
                }
                b'}' | b']' => self.depth = self.depth.saturating_sub(1),
                _ => {}
            }
            out.push(byte);
        }
    }

    fn end_window(&mut self, out: &mut Vec<u8>) {
        // CSV: the held newlines end the last row (the server may add a
        // blank line); a window whose body is only blank lines has no row.
        if self.format == ExportFormat::Csv && self.window_has_item {
            out.push(b'\n');
            self.rows += 1;
        }
        self.held.clear();
    }

    fn finish(&mut self, out: &mut Vec<u8>, empty_header: &[String]) {
        match self.format {
            ExportFormat::Csv if !self.header_written && !empty_header.is_empty() => {
                out.extend_from_slice(empty_header.join(",").as_bytes());
                out.push(b'\n');
            }
            ExportFormat::Csv => {}
            ExportFormat::Json if self.wrote_item => out.extend_from_slice(b"]\n"),
            ExportFormat::Json => out.extend_from_slice(b"[]\n"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn join(format: ExportFormat, windows: &[&[&str]]) -> (String, u64) {
        let mut joiner = Joiner::new(format);
        let mut out = Vec::new();
        for window in windows {
            joiner.start_window();
            for chunk in *window {
                joiner.feed(chunk.as_bytes(), &mut out);
            }
            joiner.end_window(&mut out);
        }
        joiner.finish(&mut out, &["__id".into(), "a".into()]);
        (String::from_utf8(out).unwrap(), joiner.rows)
    }

    #[test]
    fn csv_windows_join_with_one_header_and_no_blank_line() {
        let (csv, rows) = join(
            ExportFormat::Csv,
            &[
                &["__id,a\n1,x\n", "2,\"multi\nline\"\n\n"],
                &["\n\n"],
                &["__id,a\n3,", "z\n"],
            ],
        );
        assert_eq!(csv, "__id,a\n1,x\n2,\"multi\nline\"\n3,z\n");
        assert_eq!(rows, 3);
    }

    #[test]
    fn an_empty_csv_export_still_has_its_header() {
        let (csv, rows) = join(ExportFormat::Csv, &[&["\n\n"]]);
        assert_eq!((csv.as_str(), rows), ("__id,a\n", 0));
    }

    #[test]
    fn json_windows_join_into_one_array() {
        let (json, rows) = join(
            ExportFormat::Json,
            &[
                &["[{\"a\":[1,2],\"s\":\"]}\\\"\"}, \n {\"a\":", "null}]\n"],
                &["[]\n"],
                &["[{\"b\":{}}]\n"],
            ],
        );
        let value: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(value.as_array().unwrap().len(), 3, "{json}");
        assert_eq!(rows, 3);
    }
}
