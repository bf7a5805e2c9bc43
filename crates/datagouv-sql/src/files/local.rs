//! The download path: a resource's file downloaded once (verified) into the
//! cache folder and converted once into a typed Parquet file, which is all
//! the cache keeps.
//!
//! The conversion streams: a text file is transcoded to UTF-8 as it is
//! read (gzip and ZIP members decompressed on the way), its column types
//! are inferred over the whole file, then DataFusion's CSV reader writes
//! the Parquet file. Only an XLSX sheet is held in memory (calamine reads
//! sheets whole; a sheet has at most about a million rows).

use std::{
    fs::File,
    io::{BufRead, BufReader, BufWriter, Read, Write},
    path::{Path, PathBuf},
};

use calamine::{Data, Reader};
use datafusion::{
    arrow::datatypes::{DataType, Field, Schema, TimeUnit},
    dataframe::DataFrameWriteOptions,
    error::DataFusionError,
    execution::SessionState,
    prelude::{CsvReadOptions, SessionContext},
};
use encoding_rs::{DecoderResult, Encoding, UTF_8, WINDOWS_1252};
use sha2::{Digest, Sha256};

use super::ResourceFile;

/// The table file every cached resource becomes.
const TABLE: &str = "table.parquet";
/// Extensions of the members of a ZIP that are read as tables.
const TABLE_EXTENSIONS: [&str; 7] = ["csv", "tsv", "txt", "xlsx", "xls", "parquet", "gz"];
/// The delimiters a text table may use, in order of preference on a tie.
const DELIMITERS: [u8; 4] = [b',', b';', b'\t', b'|'];

/// The cached table of `file`: converted from a download on first use, else
/// the one an earlier query left (no request).
pub(super) async fn cached_table(
    client: &datagouv::Client,
    cache_dir: &Path,
    file: &ResourceFile,
    session: &SessionState,
) -> Result<PathBuf, DataFusionError> {
    if file.url.is_empty() {
        return Err(DataFusionError::Plan(format!(
            "{} has no file URL in the catalog: there is nothing to read",
            file.name()
        )));
    }
    let dir = cache_dir.join("files").join(cache_key(file));
    let table = dir.join(TABLE);
    if table.is_file() {
        return Ok(table);
    }
    let result = convert(client, &dir, file, session).await;
    // Nothing but the finished table stays: no download, no half-converted file.
    for leftover in ["download", "member", "table.csv", "table.partial.parquet"] {
        let path = dir.join(leftover);
        let _ = match path.is_dir() {
            true => std::fs::remove_dir_all(&path),
            false => std::fs::remove_file(&path),
        };
    }
    match result {
        Ok(()) => Ok(table),
        Err(error) => {
            let _ = std::fs::remove_dir_all(&dir);
            Err(error)
        }
    }
}

/// Where a file is cached: its checksum when the catalog gives one, else a
/// digest of its URL, size and date (a file whose catalog entry says
/// nothing new is not downloaded again).
pub(super) fn cache_key(file: &ResourceFile) -> String {
    if let Some(checksum) = &file.checksum {
        let value: String = checksum
            .value
            .chars()
            .filter(char::is_ascii_hexdigit)
            .collect::<String>()
            .to_ascii_lowercase();
        if !value.is_empty() {
            let kind = format!("{:?}", checksum.kind).to_ascii_lowercase();
            return format!("{kind}-{value}");
        }
    }
    let mut digest = Sha256::new();
    for part in [
        file.url.as_str(),
        &file.filesize.map(|s| s.to_string()).unwrap_or_default(),
        file.last_modified.as_deref().unwrap_or_default(),
    ] {
        digest.update(part.as_bytes());
        digest.update([0]);
    }
    let hex: String = digest.finalize()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("url-{hex}")
}

/// Downloads `file` into `dir` and converts it into `dir/table.parquet`.
async fn convert(
    client: &datagouv::Client,
    dir: &Path,
    file: &ResourceFile,
    session: &SessionState,
) -> Result<(), DataFusionError> {
    let download_dir = dir.join("download");
    std::fs::create_dir_all(&download_dir).map_err(|e| {
        DataFusionError::External(Box::new(datagouv::Error::io(
            "create the cache folder",
            &download_dir,
            e,
        )))
    })?;
    let mut options = datagouv::DownloadOptions::default();
    if let Some(checksum) = &file.checksum {
        options = options.checksum(checksum.clone());
    }
    let summary = client
        .download(
            datagouv::DownloadSource::Url(file.url.clone()),
            &download_dir.join(""),
            options,
        )
        .await
        .map_err(|e| DataFusionError::External(Box::new(e)))?;
    let raw = summary
        .path
        .ok_or_else(|| DataFusionError::Internal("a file download names its file".into()))?;
    let what = file.clone();
    let target = dir.to_path_buf();
    let normalised = tokio::task::spawn_blocking(move || normalise(&raw, &target, 0))
        .await
        .map_err(|e| DataFusionError::External(Box::new(e)))?
        .map_err(|e| e.into_error(&what))?;
    let partial = dir.join("table.partial.parquet");
    match normalised {
        Normalised::Parquet(path) => std::fs::rename(&path, &partial).map_err(|e| {
            DataFusionError::External(Box::new(datagouv::Error::io("move", &path, e)))
        })?,
        Normalised::Csv {
            path,
            delimiter,
            schema,
        } => {
            let ctx = SessionContext::new_with_state(session.clone());
            let options = CsvReadOptions::new()
                .schema(&schema)
                .delimiter(delimiter)
                .has_header(true)
                .newlines_in_values(true)
                .file_extension("");
            let frame = ctx
                .read_csv(path.to_string_lossy().as_ref(), options)
                .await?;
            frame
                .write_parquet(
                    partial.to_string_lossy().as_ref(),
                    DataFrameWriteOptions::new().with_single_file_output(true),
                    None,
                )
                .await
                .map_err(|e| {
                    e.context(format!(
                        "converting {} ({}) to Parquet",
                        file.name(),
                        file.url
                    ))
                })?;
        }
    }
    std::fs::rename(&partial, dir.join(TABLE))
        .map_err(|e| DataFusionError::External(Box::new(datagouv::Error::io("move", &partial, e))))
}

/// A downloaded file made readable by DataFusion.
enum Normalised {
    /// A Parquet file, read as it is.
    Parquet(PathBuf),
    /// A UTF-8 CSV file with its delimiter and inferred schema.
    Csv {
        path: PathBuf,
        delimiter: u8,
        schema: Schema,
    },
}

/// Why a file cannot be read, and what to do instead.
#[derive(Debug)]
enum Unreadable {
    /// A local file operation failed.
    Io(datagouv::Error),
    /// The content is not a table this module reads.
    Content(String),
}

impl Unreadable {
    fn into_error(self, file: &ResourceFile) -> DataFusionError {
        match self {
            Unreadable::Io(error) => DataFusionError::External(Box::new(error)),
            Unreadable::Content(what) => {
                DataFusionError::Execution(format!("{} ({}): {what}", file.name(), file.url))
            }
        }
    }
}

fn io<'a>(
    operation: &'static str,
    path: &'a Path,
) -> impl FnOnce(std::io::Error) -> Unreadable + 'a {
    move |e| Unreadable::Io(datagouv::Error::io(operation, path, e))
}

/// Reads `raw` (by its content, not its name) into a Parquet file or a
/// UTF-8 CSV file in `dir`. `depth` is 1 inside a ZIP (a ZIP in a ZIP is
/// not opened).
fn normalise(raw: &Path, dir: &Path, depth: u8) -> Result<Normalised, Unreadable> {
    let mut magic = [0u8; 8];
    let read = File::open(raw)
        .and_then(|mut f| f.read(&mut magic))
        .map_err(io("read", raw))?;
    let magic = &magic[..read];
    let csv = dir.join("table.csv");
    if magic.starts_with(b"PAR1") {
        return Ok(Normalised::Parquet(raw.to_path_buf()));
    }
    if magic.starts_with(&[0x1f, 0x8b]) {
        let open = || Ok(flate2::read::MultiGzDecoder::new(File::open(raw)?));
        return text_table(open, &csv);
    }
    if magic.starts_with(&[0xd0, 0xcf, 0x11, 0xe0]) {
        let workbook =
            calamine::Xls::new(BufReader::new(File::open(raw).map_err(io("read", raw))?))
                .map_err(|e| Unreadable::Content(format!("not a readable XLS workbook: {e}")))?;
        return sheet_table(workbook, &csv);
    }
    if magic.starts_with(b"PK\x03\x04") {
        let archive = zip::ZipArchive::new(File::open(raw).map_err(io("read", raw))?)
            .map_err(|e| Unreadable::Content(format!("not a readable ZIP archive: {e}")))?;
        if archive.index_for_name("xl/workbook.xml").is_some() {
            let workbook =
                calamine::Xlsx::new(BufReader::new(File::open(raw).map_err(io("read", raw))?))
                    .map_err(|e| {
                        Unreadable::Content(format!("not a readable XLSX workbook: {e}"))
                    })?;
            return sheet_table(workbook, &csv);
        }
        if depth > 0 {
            return Err(Unreadable::Content(
                "a ZIP inside a ZIP is not opened; download the file and extract it".into(),
            ));
        }
        return zip_member(archive, dir);
    }
    let text = |first: u8| magic.iter().find(|b| !b.is_ascii_whitespace()) == Some(&first);
    if text(b'<') || text(b'{') || text(b'[') {
        return Err(Unreadable::Content(
            "the file is HTML, XML or JSON, not a table (CSV, TSV, XLSX, Parquet, gzip or ZIP \
             of one of them)"
                .into(),
        ));
    }
    let open = || File::open(raw);
    text_table(open, &csv)
}

/// The one table a ZIP holds, extracted and read; several tables (or none)
/// is an error naming the members.
fn zip_member(mut archive: zip::ZipArchive<File>, dir: &Path) -> Result<Normalised, Unreadable> {
    let names: Vec<String> = archive
        .file_names()
        .map(|name| name.map(|n| n.into_owned()))
        .collect::<Result<_, _>>()
        .map_err(|e| Unreadable::Content(format!("the ZIP archive's names cannot be read: {e}")))?;
    let tables: Vec<&String> = names
        .iter()
        .filter(|name| {
            let base = name.rsplit('/').next().unwrap_or(name);
            let extension = base.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase());
            !name.ends_with('/')
                && !name.starts_with("__MACOSX/")
                && !base.starts_with('.')
                && extension.is_some_and(|e| TABLE_EXTENSIONS.contains(&e.as_str()))
        })
        .collect();
    let member = match tables.as_slice() {
        [one] => (*one).clone(),
        [] => {
            return Err(Unreadable::Content(format!(
                "the ZIP archive holds no table ({}): it holds {}; download it with \
                 `datagouv resources download` and read its files yourself",
                TABLE_EXTENSIONS.join(", "),
                list(&names)
            )));
        }
        several => {
            return Err(Unreadable::Content(format!(
                "the ZIP archive holds {} tables ({}): only a ZIP of one table can be \
                 queried; download it with `datagouv resources download` and query the \
                 file you want",
                several.len(),
                list(several)
            )));
        }
    };
    let path = dir.join("member");
    let mut entry = archive
        .by_name(&member)
        .map_err(|e| Unreadable::Content(format!("cannot read `{member}` in the ZIP: {e}")))?;
    let mut out = File::create(&path).map_err(io("write", &path))?;
    std::io::copy(&mut entry, &mut out)
        .map_err(|e| Unreadable::Content(format!("cannot extract `{member}` from the ZIP: {e}")))?;
    drop(out);
    normalise(&path, dir, 1)
}

/// Names, quoted, comma-separated; at most 10.
fn list<S: AsRef<str>>(names: &[S]) -> String {
    let mut shown: Vec<String> = names
        .iter()
        .take(10)
        .map(|n| format!("`{}`", n.as_ref()))
        .collect();
    if names.len() > 10 {
        shown.push(format!("and {} more", names.len() - 10));
    }
    shown.join(", ")
}

/// A text table (CSV, TSV) transcoded to UTF-8 into `csv`: UTF-8 when the
/// whole file is valid UTF-8, else Windows-1252 (a superset of Latin-1's
/// printable characters). `open` opens the (decompressed) bytes again when
/// the first guess fails.
fn text_table<R: Read>(
    open: impl Fn() -> std::io::Result<R>,
    csv: &Path,
) -> Result<Normalised, Unreadable> {
    let utf8 = transcode(open().map_err(io("read", csv))?, UTF_8, csv)?;
    if !utf8 {
        transcode(open().map_err(io("read", csv))?, WINDOWS_1252, csv)?;
    }
    let delimiter = detect_delimiter(csv)?;
    let schema = infer_schema(csv, delimiter)?;
    Ok(Normalised::Csv {
        path: csv.to_path_buf(),
        delimiter,
        schema,
    })
}

/// Decodes `input` as `encoding` into `out` (UTF-8, without a BOM); false
/// when the bytes are not valid in that encoding.
fn transcode(
    mut input: impl Read,
    encoding: &'static Encoding,
    out: &Path,
) -> Result<bool, Unreadable> {
    let mut decoder = encoding.new_decoder_with_bom_removal();
    let mut writer = BufWriter::new(File::create(out).map_err(io("write", out))?);
    let mut buffer = vec![0u8; 64 * 1024];
    let mut text = String::with_capacity(3 * buffer.len() + 16);
    loop {
        let read = input.read(&mut buffer).map_err(|e| {
            Unreadable::Content(format!(
                "the file cannot be read through (corrupt or cut?): {e}"
            ))
        })?;
        let last = read == 0;
        let mut pending = &buffer[..read];
        loop {
            text.clear();
            let (result, used) =
                decoder.decode_to_string_without_replacement(pending, &mut text, last);
            writer
                .write_all(text.as_bytes())
                .map_err(io("write", out))?;
            pending = &pending[used..];
            match result {
                DecoderResult::InputEmpty => break,
                DecoderResult::OutputFull => continue,
                DecoderResult::Malformed(..) => return Ok(false),
            }
        }
        if last {
            break;
        }
    }
    writer.flush().map_err(io("write", out))?;
    Ok(true)
}

/// The delimiter of a UTF-8 CSV file, from its first lines: the candidate
/// found the same number of times (outside quotes) on every line, the most
/// often; else the most frequent one; `,` for a single column.
fn detect_delimiter(csv: &Path) -> Result<u8, Unreadable> {
    let file = File::open(csv).map_err(io("read", csv))?;
    let mut lines = Vec::new();
    for line in BufReader::new(file).take(256 * 1024).lines().take(50) {
        match line {
            Ok(line) if !line.trim().is_empty() => lines.push(line),
            Ok(_) => {}
            Err(_) => break,
        }
    }
    Ok(choose_delimiter(&lines))
}

fn choose_delimiter(lines: &[String]) -> u8 {
    let counts = |delimiter: u8| -> Vec<usize> {
        lines
            .iter()
            .map(|line| {
                let mut quoted = false;
                line.bytes()
                    .filter(|&b| {
                        if b == b'"' {
                            quoted = !quoted;
                        }
                        b == delimiter && !quoted
                    })
                    .count()
            })
            .collect()
    };
    let mut best: Option<(bool, usize, u8)> = None;
    for delimiter in DELIMITERS {
        let per_line = counts(delimiter);
        let Some(&first) = per_line.first() else {
            continue;
        };
        if first == 0 {
            continue;
        }
        let consistent = per_line.iter().all(|&c| c == first);
        let score = (consistent, first, delimiter);
        if best.is_none_or(|(c, n, _)| (consistent, first) > (c, n)) {
            best = Some(score);
        }
    }
    best.map(|(_, _, d)| d).unwrap_or(b',')
}

/// What a column's values have all been so far.
#[derive(Clone, Copy)]
struct Shape {
    int: bool,
    float: bool,
    date: bool,
    timestamp: bool,
    seen: bool,
}

impl Shape {
    const ANY: Shape = Shape {
        int: true,
        float: true,
        date: true,
        timestamp: true,
        seen: false,
    };

    fn see(&mut self, value: &str) {
        if value.is_empty() {
            return;
        }
        self.seen = true;
        if self.int {
            self.int = is_number(value, false) && value.parse::<i64>().is_ok();
        }
        if self.float {
            self.float = is_number(value, true) && value.parse::<f64>().is_ok();
        }
        if self.date {
            self.date =
                value.len() == 10 && chrono::NaiveDate::parse_from_str(value, "%Y-%m-%d").is_ok();
        }
        if self.timestamp {
            self.timestamp = value.len() >= 19
                && ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"]
                    .iter()
                    .any(|f| chrono::NaiveDateTime::parse_from_str(value, f).is_ok());
        }
    }

    fn data_type(self) -> DataType {
        match self {
            Shape { seen: false, .. } => DataType::Utf8,
            Shape { int: true, .. } => DataType::Int64,
            Shape { float: true, .. } => DataType::Float64,
            Shape { date: true, .. } => DataType::Date32,
            Shape {
                timestamp: true, ..
            } => DataType::Timestamp(TimeUnit::Microsecond, None),
            _ => DataType::Utf8,
        }
    }
}

/// A plain decimal number: optional `-`, digits, at most one `.` (with
/// `decimal`) and an exponent; no leading zero before another digit (codes
/// such as `01000` stay text), no `+`, no `inf`/`nan`.
fn is_number(value: &str, decimal: bool) -> bool {
    let digits = value.strip_prefix('-').unwrap_or(value);
    let bytes = digits.as_bytes();
    if bytes.is_empty() || !bytes[0].is_ascii_digit() {
        return false;
    }
    if bytes.len() > 1 && bytes[0] == b'0' && bytes[1].is_ascii_digit() {
        return false;
    }
    match decimal {
        false => bytes.iter().all(u8::is_ascii_digit),
        true => bytes
            .iter()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'-' | b'+')),
    }
}

/// Column names (blank ones named `column_N`, repeated ones suffixed) and
/// types inferred over every row; a row with another number of fields than
/// the header is an error naming its line.
fn infer_schema(csv: &Path, delimiter: u8) -> Result<Schema, Unreadable> {
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(true)
        .from_path(csv)
        .map_err(|e| Unreadable::Content(format!("not a readable CSV file: {e}")))?;
    let headers = reader
        .headers()
        .map_err(|e| Unreadable::Content(format!("the CSV header cannot be read: {e}")))?
        .clone();
    if headers.is_empty() {
        return Err(Unreadable::Content("the file is empty: no header".into()));
    }
    let mut shapes = vec![Shape::ANY; headers.len()];
    let mut record = csv::StringRecord::new();
    loop {
        match reader.read_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => {
                return Err(Unreadable::Content(format!(
                    "the CSV file cannot be read ({}): every row must have the header's {} \
                     fields, delimited by `{}`",
                    e,
                    headers.len(),
                    (delimiter as char).escape_default()
                )));
            }
        }
        for (shape, value) in shapes.iter_mut().zip(record.iter()) {
            shape.see(value);
        }
    }
    let mut names: Vec<String> = Vec::with_capacity(headers.len());
    for (i, name) in headers.iter().enumerate() {
        let base = match name.trim() {
            "" => format!("column_{}", i + 1),
            trimmed => trimmed.to_owned(),
        };
        let mut unique = base.clone();
        let mut n = 2;
        while names.contains(&unique) {
            unique = format!("{base}_{n}");
            n += 1;
        }
        names.push(unique);
    }
    let fields: Vec<Field> = names
        .into_iter()
        .zip(shapes)
        .map(|(name, shape)| Field::new(name, shape.data_type(), true))
        .collect();
    Ok(Schema::new(fields))
}

/// The first sheet of a workbook as a UTF-8 CSV file (numbers as written,
/// dates as ISO 8601), then typed as any CSV file.
fn sheet_table<R, W>(mut workbook: W, csv: &Path) -> Result<Normalised, Unreadable>
where
    R: Read + std::io::Seek,
    W: Reader<R>,
    W::Error: std::fmt::Display,
{
    let range = workbook
        .worksheet_range_at(0)
        .ok_or_else(|| Unreadable::Content("the workbook has no sheet".into()))?
        .map_err(|e| Unreadable::Content(format!("the first sheet cannot be read: {e}")))?;
    let mut writer = csv::Writer::from_path(csv)
        .map_err(|e| Unreadable::Io(datagouv::Error::io("write", csv, std::io::Error::other(e))))?;
    for row in range.rows() {
        let fields: Vec<String> = row.iter().map(cell_text).collect();
        writer.write_record(&fields).map_err(|e| {
            Unreadable::Io(datagouv::Error::io("write", csv, std::io::Error::other(e)))
        })?;
    }
    writer.flush().map_err(io("write", csv))?;
    let schema = infer_schema(csv, b',')?;
    Ok(Normalised::Csv {
        path: csv.to_path_buf(),
        delimiter: b',',
        schema,
    })
}

/// A cell as CSV text: integers without `.0`, dates as `YYYY-MM-DD` (with
/// `THH:MM:SS` when there is a time), errors and blanks empty.
fn cell_text(cell: &Data) -> String {
    match cell {
        Data::Empty | Data::Error(_) => String::new(),
        Data::String(s) | Data::DateTimeIso(s) | Data::DurationIso(s) => s.clone(),
        Data::Int(i) => i.to_string(),
        Data::Float(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => (*f as i64).to_string(),
        Data::Float(f) => f.to_string(),
        Data::Bool(b) => b.to_string(),
        Data::DateTime(date) => match date.as_datetime() {
            Some(dt) if dt.time() == chrono::NaiveTime::MIN => dt.date().to_string(),
            Some(dt) => dt.format("%Y-%m-%dT%H:%M:%S").to_string(),
            None => date.as_f64().to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delimiters_are_found() {
        let lines = |text: &str| text.lines().map(str::to_owned).collect::<Vec<_>>();
        assert_eq!(choose_delimiter(&lines("a;b;c\n1;2,5;3\n4;5;6")), b';');
        assert_eq!(choose_delimiter(&lines("a,b\n1,2\n3,4")), b',');
        assert_eq!(choose_delimiter(&lines("a\tb|c\n1\t2|3\n4\t5")), b'\t');
        assert_eq!(choose_delimiter(&lines("a|b\n\"x|y\"|2")), b'|');
        assert_eq!(choose_delimiter(&lines("single\n1\n2")), b',');
    }

    #[test]
    fn numbers_with_leading_zeros_stay_text() {
        let shape = |values: &[&str]| {
            let mut shape = Shape::ANY;
            values.iter().for_each(|v| shape.see(v));
            shape.data_type()
        };
        assert_eq!(shape(&["1", "-20", ""]), DataType::Int64);
        assert_eq!(shape(&["1", "2.5", "1e3"]), DataType::Float64);
        assert_eq!(shape(&["01000", "75001"]), DataType::Utf8);
        assert_eq!(shape(&["0.5", "0"]), DataType::Float64);
        assert_eq!(shape(&["2024-01-31", ""]), DataType::Date32);
        assert_eq!(
            shape(&["2024-01-31 10:00:00"]),
            DataType::Timestamp(TimeUnit::Microsecond, None)
        );
        assert_eq!(shape(&["inf", "nan"]), DataType::Utf8);
        assert_eq!(shape(&["", ""]), DataType::Utf8);
    }

    #[test]
    fn cache_keys_prefer_the_checksum() {
        let mut file = ResourceFile {
            url: "https://example.org/a.csv".into(),
            ..ResourceFile::default()
        };
        let by_url = cache_key(&file);
        assert!(by_url.starts_with("url-"));
        file.filesize = Some(10);
        assert_ne!(cache_key(&file), by_url);
        file.checksum = Some(datagouv::Checksum {
            kind: datagouv::ChecksumKind::Sha256,
            value: "AB/../cd".into(),
        });
        assert_eq!(cache_key(&file), "sha256-abcd");
    }
}
