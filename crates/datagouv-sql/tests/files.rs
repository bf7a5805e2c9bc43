//! Resource files as tables (`datagouv_sql::files`), against a small local
//! file host (axum) that honours `Range` and `HEAD` and counts what it
//! sends: a Parquet conversion read by ranges, and files downloaded,
//! converted once and cached (Latin-1 `;` CSV, gzip CSV, ZIP of one TSV,
//! XLSX, Parquet), each compared with an independent reader: Python's csv,
//! openpyxl and pyarrow (`tests/python/independent_reader.py`).
//!
//! The Python interpreter is `$DATAGOUV_TEST_PYTHON`, else `python3`, with
//! `pip install pyarrow openpyxl`; the tests that need it are skipped (with
//! a message) only when there is no interpreter at all.

mod common;

use std::{
    io::Write,
    path::{Path, PathBuf},
    process::Command,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
};

use common::Host;
use datafusion::{
    arrow::{
        array::{ArrayRef, Date32Array, Float64Array, Int64Array, RecordBatch, StringArray},
        datatypes::{DataType, Field, Schema},
        util::display::{ArrayFormatter, FormatOptions},
    },
    error::DataFusionError,
    execution::runtime_env::RuntimeEnv,
    parquet::{arrow::ArrowWriter, file::properties::WriterProperties},
    prelude::{SessionConfig, SessionContext},
};
use datagouv_sql::files::{FileSources, ResourceFile};
use sha2::{Digest, Sha256};

// ------------------------------------------------------- sources & queries

fn tempdir() -> PathBuf {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let dir = std::env::temp_dir().join(format!(
        "datagouv-sql-files-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// File sources and a session on one runtime, caching under `cache`; the
/// client has an API key for an API elsewhere (never contacted), which the
/// file host refuses to receive.
fn sources(_host: &Host, cache: &Path) -> (FileSources, SessionContext) {
    let runtime = Arc::new(RuntimeEnv::default());
    let client = datagouv::Client::builder()
        .main_url("http://127.0.0.1:9")
        .api_key("a-key-for-the-api-only")
        .build()
        .unwrap();
    let files = FileSources::new(client, cache.to_path_buf(), runtime.clone());
    let ctx = SessionContext::new_with_config_rt(SessionConfig::new(), runtime);
    (files, ctx)
}

/// A query's rows, every value as text (null as `None`).
async fn rows(ctx: &SessionContext, sql: &str) -> Vec<Vec<Option<String>>> {
    let batches = ctx.sql(sql).await.unwrap().collect().await.unwrap();
    let mut rows = Vec::new();
    for batch in batches {
        let options = FormatOptions::default();
        let formatters: Vec<_> = batch
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &options).unwrap())
            .collect();
        for i in 0..batch.num_rows() {
            rows.push(
                batch
                    .columns()
                    .iter()
                    .zip(&formatters)
                    .map(|(c, f)| (!c.is_null(i)).then(|| f.value(i).to_string()))
                    .collect(),
            );
        }
    }
    rows
}

fn sha256(bytes: &[u8]) -> datagouv::Checksum {
    datagouv::Checksum {
        kind: datagouv::ChecksumKind::Sha256,
        value: Sha256::digest(bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect(),
    }
}

fn files_in(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let path = entry.path();
            match path.is_dir() {
                true => found.extend(files_in(&path)),
                false => found.push(path),
            }
        }
    }
    found
}

// -------------------------------------------------------------- the reader

/// The Python interpreter, or `None` (the test is skipped) when there is none.
fn python() -> Option<String> {
    let python = std::env::var("DATAGOUV_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
    match Command::new(&python).arg("--version").output() {
        Ok(out) if out.status.success() => Some(python),
        _ => {
            eprintln!(
                "SKIPPED: no Python interpreter (`{python}`) to compare with; install python3 \
                 and `pip install pyarrow openpyxl`"
            );
            None
        }
    }
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/independent_reader.py")
}

/// What the independent reader reads of a file: columns and rows as text.
fn python_reads(python: &str, args: &[&str]) -> (Vec<String>, Vec<Vec<Option<String>>>) {
    let out = Command::new(python)
        .arg(script())
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "the independent reader failed ({args:?}): {}\nIt needs `{python} -m pip install \
         pyarrow openpyxl`.",
        String::from_utf8_lossy(&out.stderr)
    );
    let value: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let columns = value["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    let rows = value["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| {
            row.as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .collect();
    (columns, rows)
}

/// Two values are the same: equal text, or the same number (`12.50` is
/// `12.5`).
fn same(a: &Option<String>, b: &Option<String>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => {
            a == b || matches!((a.parse::<f64>(), b.parse::<f64>()), (Ok(x), Ok(y)) if x == y)
        }
        (None, None) => true,
        _ => false,
    }
}

/// Asserts that the table `t` holds exactly what the independent reader
/// read: same columns, same rows (ordered by the first column, `id`).
async fn assert_same_as_python(
    ctx: &SessionContext,
    (columns, mut expected): (Vec<String>, Vec<Vec<Option<String>>>),
) {
    let schema = ctx.table("t").await.unwrap().schema().clone();
    let names: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
    assert_eq!(names, columns);
    expected.sort_by_key(|row| row[0].as_deref().unwrap().parse::<i64>().unwrap());
    let actual = rows(ctx, "SELECT * FROM t ORDER BY id").await;
    assert_eq!(actual.len(), expected.len());
    for (a, e) in actual.iter().zip(&expected) {
        assert!(
            a.iter().zip(e).all(|(x, y)| same(x, y)),
            "rows differ:\n  sql:    {a:?}\n  python: {e:?}"
        );
    }
}

// ------------------------------------------------------------ the fixtures

const COMMUNES: [&str; 6] = [
    "Évry-Courcouronnes",
    "Besançon",
    "Saint-Étienne",
    "Nîmes",
    "L'Haÿ-les-Roses",
    "Paris",
];

/// The rows of the text fixtures: id, commune (accents), code (leading
/// zeros: stays text), montant (decimals), date, libelle (the delimiter and
/// quotes inside); empty values here and there.
fn table_rows(n: usize) -> Vec<[String; 6]> {
    (1..=n)
        .map(|i| {
            let date = chrono::NaiveDate::from_ymd_opt(2024, 1, 1).unwrap()
                + chrono::Days::new(i as u64 * 3);
            [
                i.to_string(),
                COMMUNES[i % COMMUNES.len()].to_owned(),
                format!("{:05}", (i * 977) % 96000),
                match i % 7 {
                    0 => String::new(),
                    _ => format!("{}", (i * 37 % 1000) as f64 / 4.0),
                },
                date.to_string(),
                match i % 5 {
                    0 => "avec ; et , et \"guillemets\"".to_owned(),
                    1 => String::new(),
                    _ => format!("ligne {i}"),
                },
            ]
        })
        .collect()
}

const HEADER: [&str; 6] = ["id", "commune", "code", "montant", "date", "libellé"];

fn csv_text(rows: &[[String; 6]], delimiter: u8) -> String {
    let mut writer = csv::WriterBuilder::new()
        .delimiter(delimiter)
        .from_writer(Vec::new());
    writer.write_record(HEADER).unwrap();
    for row in rows {
        writer.write_record(row).unwrap();
    }
    String::from_utf8(writer.into_inner().unwrap()).unwrap()
}

fn latin1(text: &str) -> Vec<u8> {
    let (bytes, _, unmappable) = encoding_rs::WINDOWS_1252.encode(text);
    assert!(!unmappable);
    bytes.into_owned()
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

fn zip_of(members: &[(&str, &[u8])]) -> Vec<u8> {
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, bytes) in members {
        writer
            .start_file(*name, zip::write::SimpleFileOptions::default())
            .unwrap();
        writer.write_all(bytes).unwrap();
    }
    writer.finish().unwrap().into_inner()
}

/// A Parquet file of `n` rows sorted by `id`, in row groups of `group`
/// rows: id, value (float), label (wide text, so that columns differ in
/// size), day (date).
fn parquet_file(n: i64, group: usize) -> Vec<u8> {
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("value", DataType::Float64, true),
        Field::new("label", DataType::Utf8, true),
        Field::new("day", DataType::Date32, true),
    ]));
    let columns: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from_iter_values(1..=n)),
        Arc::new(Float64Array::from_iter(
            (1..=n).map(|i| (i % 11 != 0).then_some(i as f64 * 0.5)),
        )),
        Arc::new(StringArray::from_iter_values((1..=n).map(|i| {
            format!(
                "{:016x}-étiquette-{:08}",
                (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15),
                i
            )
        }))),
        Arc::new(Date32Array::from_iter_values(
            (1..=n).map(|i| 19_000 + (i % 400) as i32),
        )),
    ];
    let batch = RecordBatch::try_new(schema.clone(), columns).unwrap();
    let properties = WriterProperties::builder()
        .set_max_row_group_row_count(Some(group))
        .build();
    let mut out = Vec::new();
    let mut writer = ArrowWriter::try_new(&mut out, schema, Some(properties)).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
    out
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> String {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path.to_string_lossy().into_owned()
}

fn resource(id: &str, url: String) -> ResourceFile {
    ResourceFile {
        id: id.into(),
        title: format!("fixture {id}"),
        url,
        ..ResourceFile::default()
    }
}

// ------------------------------------------------------------------- tests

/// The Parquet conversion is read by ranges: a query of one column with a
/// filter on the sorted column receives less than half the file, and
/// answers as pyarrow and as the whole file read locally do.
#[tokio::test]
async fn a_parquet_conversion_is_read_by_ranges_with_row_groups_and_columns_pruned() {
    let host = Host::start().await;
    let dir = tempdir();
    let body = parquet_file(60_000, 6_000);
    let size = body.len() as u64;
    let url = host.put("hydra-parquet/conversion.parquet", body.clone());
    let (files, ctx) = sources(&host, &dir.join("cache"));
    let file = ResourceFile {
        parquet_url: Some(url),
        ..resource("parquet-over-http", format!("{}/not-asked.csv", host.url))
    };
    ctx.register_table("t", files.table(&file).await.unwrap())
        .unwrap();
    let sql = "SELECT value FROM t WHERE id BETWEEN 12001 AND 12100 ORDER BY value";
    let answer = rows(&ctx, sql).await;
    let sent = host.bytes();
    eprintln!(
        "Parquet over HTTP: {size} bytes in the file, {sent} sent for `{sql}` in {} requests",
        host.requests()
    );
    assert!(sent < size / 2, "{sent} bytes sent of {size}");
    assert!(host.ranges().iter().skip(1).all(Option::is_some));
    assert_eq!(answer.len(), 100);
    assert_eq!(answer.iter().filter(|r| r[0].is_none()).count(), 10);

    // The same query over the whole file, read locally, answers the same.
    let local = write(&dir, "whole.parquet", &body);
    let whole = SessionContext::new();
    whole
        .register_parquet("t", &local, Default::default())
        .await
        .unwrap();
    assert_eq!(rows(&whole, sql).await, answer);
    // No request for the file the catalog points to.
    assert!(
        host.hosted
            .served
            .lock()
            .unwrap()
            .requests
            .iter()
            .all(|r| r.1 != "/not-asked.csv")
    );

    let Some(python) = python() else { return };
    assert_same_as_python(&ctx, python_reads(&python, &["parquet", &local])).await;
}

/// A missing Parquet conversion is the SDK's error (status 404), for the
/// CLI to report.
#[tokio::test]
async fn a_missing_parquet_conversion_is_the_sdk_error() {
    let host = Host::start().await;
    let dir = tempdir();
    let (files, _) = sources(&host, &dir);
    let error = files
        .parquet_url_table(&format!("{}/gone.parquet", host.url))
        .await
        .unwrap_err();
    let DataFusionError::External(inner) = &error else {
        panic!("not the SDK's error: {error}");
    };
    let sdk = inner.downcast_ref::<datagouv::Error>().unwrap();
    assert_eq!(sdk.status(), Some(reqwest::StatusCode::NOT_FOUND));
}

/// A Parquet conversion the host no longer has: the file itself is read.
#[tokio::test]
async fn a_parquet_conversion_that_is_gone_falls_back_to_the_file() {
    let host = Host::start().await;
    let dir = tempdir();
    let body = csv_text(&table_rows(40), b',').into_bytes();
    let file = ResourceFile {
        parquet_url: Some(format!("{}/hydra-parquet/removed.parquet", host.url)),
        ..resource("fallback", host.put("files/fallback.csv", body))
    };
    let (files, ctx) = sources(&host, &dir.join("cache"));
    ctx.register_table("t", files.table(&file).await.unwrap())
        .unwrap();
    assert_eq!(
        rows(&ctx, "SELECT count(*), max(id) FROM t").await,
        [[Some("40".to_owned()), Some("40".to_owned())]]
    );
    let served = host.hosted.served.lock().unwrap();
    let paths: Vec<&str> = served.requests.iter().map(|r| r.1.as_str()).collect();
    assert_eq!(
        paths,
        ["/hydra-parquet/removed.parquet", "/files/fallback.csv"]
    );
}

/// A Latin-1 CSV delimited by `;`, verified against its checksum: typed
/// (integers, decimals, dates; codes with leading zeros stay text) and equal
/// to Python's csv reading it as Latin-1.
#[tokio::test]
async fn a_latin1_semicolon_csv_is_read_typed_and_as_python_reads_it() {
    let host = Host::start().await;
    let dir = tempdir();
    let body = latin1(&csv_text(&table_rows(500), b';'));
    let file = ResourceFile {
        checksum: Some(sha256(&body)),
        ..resource("latin1", host.put("files/latin1.csv", body.clone()))
    };
    let (files, ctx) = sources(&host, &dir.join("cache"));
    ctx.register_table("t", files.table(&file).await.unwrap())
        .unwrap();
    let schema = ctx.table("t").await.unwrap().schema().as_arrow().clone();
    // Text is read as DataFusion reads Parquet text: `Utf8View`.
    let types: Vec<&DataType> = schema.fields().iter().map(|f| f.data_type()).collect();
    let text = &DataType::Utf8View;
    assert_eq!(
        types,
        [
            &DataType::Int64,
            text,
            text,
            &DataType::Float64,
            &DataType::Date32,
            text
        ]
    );
    let sum = rows(
        &ctx,
        "SELECT count(*), sum(montant) FROM t WHERE commune = 'Besançon'",
    )
    .await;
    let expected: f64 = table_rows(500)
        .iter()
        .filter(|r| r[1] == "Besançon")
        .filter_map(|r| r[3].parse::<f64>().ok())
        .sum();
    assert!(
        same(&sum[0][1], &Some(expected.to_string())),
        "{sum:?} vs {expected}"
    );

    let Some(python) = python() else { return };
    let raw = write(&dir, "latin1.csv", &body);
    assert_same_as_python(&ctx, python_reads(&python, &["csv", &raw, "latin-1", ";"])).await;
}

/// A gzip CSV (UTF-8, `,`) equals Python's gzip + csv.
#[tokio::test]
async fn a_gzip_csv_is_read_as_python_reads_it() {
    let host = Host::start().await;
    let dir = tempdir();
    let body = gzip(csv_text(&table_rows(300), b',').as_bytes());
    let file = resource("gzip", host.put("files/data.csv.gz", body.clone()));
    let (files, ctx) = sources(&host, &dir.join("cache"));
    ctx.register_table("t", files.table(&file).await.unwrap())
        .unwrap();
    let Some(python) = python() else { return };
    let raw = write(&dir, "data.csv.gz", &body);
    assert_same_as_python(
        &ctx,
        python_reads(&python, &["csv", &raw, "utf-8", ",", "gzip"]),
    )
    .await;
}

/// A ZIP holding one table (tab-separated) equals Python's zipfile + csv.
#[tokio::test]
async fn a_zip_of_one_table_is_read_as_python_reads_it() {
    let host = Host::start().await;
    let dir = tempdir();
    let tsv = csv_text(&table_rows(200), b'\t');
    let body = zip_of(&[("export/données.tsv", tsv.as_bytes())]);
    let file = resource("zip", host.put("files/archive.zip", body.clone()));
    let (files, ctx) = sources(&host, &dir.join("cache"));
    ctx.register_table("t", files.table(&file).await.unwrap())
        .unwrap();
    let Some(python) = python() else { return };
    let raw = write(&dir, "archive.zip", &body);
    assert_same_as_python(
        &ctx,
        python_reads(&python, &["csv", &raw, "utf-8", "tab", "zip"]),
    )
    .await;
}

/// A ZIP holding two tables is an error naming both.
#[tokio::test]
async fn a_zip_of_two_tables_is_a_clear_error_and_caches_nothing() {
    let host = Host::start().await;
    let dir = tempdir();
    let body = zip_of(&[
        ("a.csv", b"x\n1\n"),
        ("b/c.xlsx", b"not read"),
        ("notes.pdf", b""),
    ]);
    let file = resource("two", host.put("files/two.zip", body));
    let (files, _) = sources(&host, &dir.join("cache"));
    let message = files.table(&file).await.unwrap_err().to_string();
    assert!(message.contains("2 tables"), "{message}");
    assert!(
        message.contains("`a.csv`") && message.contains("`b/c.xlsx`"),
        "{message}"
    );
    assert!(message.contains("fixture two"), "{message}");
    assert!(files_in(&dir.join("cache")).is_empty());
}

/// An XLSX file (first sheet) equals openpyxl's reading of it.
#[tokio::test]
async fn an_xlsx_file_is_read_as_openpyxl_reads_it() {
    let Some(python) = python() else { return };
    let dir = tempdir();
    let xlsx = dir.join("classeur.xlsx");
    let mut sheet = vec![serde_json::json!(HEADER)];
    for row in table_rows(150) {
        sheet.push(serde_json::json!([
            row[0].parse::<i64>().unwrap(),
            row[1],
            row[2],
            row[3].parse::<f64>().ok(),
            {"date": row[4]},
            (!row[5].is_empty()).then_some(&row[5]),
        ]));
    }
    let mut child = Command::new(&python)
        .arg(script())
        .args(["write-xlsx", &xlsx.to_string_lossy()])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(serde_json::to_string(&sheet).unwrap().as_bytes())
        .unwrap();
    assert!(
        child.wait().unwrap().success(),
        "openpyxl could not write the fixture: pip install openpyxl"
    );
    let body = std::fs::read(&xlsx).unwrap();
    let host = Host::start().await;
    let file = resource("xlsx", host.put("files/classeur.xlsx", body));
    let (files, ctx) = sources(&host, &dir.join("cache"));
    ctx.register_table("t", files.table(&file).await.unwrap())
        .unwrap();
    let schema = ctx.table("t").await.unwrap().schema().as_arrow().clone();
    assert_eq!(schema.field(0).data_type(), &DataType::Int64);
    assert_eq!(schema.field(4).data_type(), &DataType::Date32);
    assert_same_as_python(
        &ctx,
        python_reads(&python, &["xlsx", &xlsx.to_string_lossy()]),
    )
    .await;
}

/// A Parquet resource (no conversion named): downloaded, read as pyarrow
/// reads it.
#[tokio::test]
async fn a_parquet_resource_is_downloaded_and_read_as_pyarrow_reads_it() {
    let host = Host::start().await;
    let dir = tempdir();
    let body = parquet_file(5_000, 1_000);
    let file = resource("parquet", host.put("files/table.parquet", body.clone()));
    let (files, ctx) = sources(&host, &dir.join("cache"));
    ctx.register_table("t", files.table(&file).await.unwrap())
        .unwrap();
    let Some(python) = python() else { return };
    let raw = write(&dir, "table.parquet", &body);
    assert_same_as_python(&ctx, python_reads(&python, &["parquet", &raw])).await;
}

/// A second query of a downloaded file (even from new sources, as a new
/// process would) sends no request: the converted table is cached.
#[tokio::test]
async fn a_second_query_of_a_downloaded_file_sends_no_request() {
    let host = Host::start().await;
    let dir = tempdir();
    let cache = dir.join("cache");
    let body = csv_text(&table_rows(100), b',').into_bytes();
    let file = ResourceFile {
        filesize: Some(body.len() as u64),
        ..resource("cached", host.put("files/cached.csv", body))
    };
    let (files, ctx) = sources(&host, &cache);
    ctx.register_table("t", files.downloaded_table(&file).await.unwrap())
        .unwrap();
    let first = rows(&ctx, "SELECT sum(id), count(montant) FROM t").await;
    let requests = host.requests();
    assert!(requests >= 1);
    assert_eq!(first, [[Some("5050".to_owned()), Some("86".to_owned())]]);

    let (files, ctx) = sources(&host, &cache);
    ctx.register_table("t", files.downloaded_table(&file).await.unwrap())
        .unwrap();
    assert_eq!(
        rows(&ctx, "SELECT sum(id), count(montant) FROM t").await,
        first
    );
    assert_eq!(host.requests(), requests, "the second query sent a request");
    // Only the converted table is kept.
    let kept = files_in(&cache);
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert!(kept[0].ends_with("table.parquet"));
}

/// A file that does not match the catalog's checksum is the SDK's
/// `ChecksumMismatch`, and nothing is cached.
#[tokio::test]
async fn a_checksum_mismatch_is_an_error_and_caches_nothing() {
    let host = Host::start().await;
    let dir = tempdir();
    let body = csv_text(&table_rows(10), b',').into_bytes();
    let file = ResourceFile {
        checksum: Some(sha256(b"another file")),
        ..resource("tampered", host.put("files/tampered.csv", body))
    };
    let (files, _) = sources(&host, &dir.join("cache"));
    let error = files.table(&file).await.unwrap_err();
    let DataFusionError::External(inner) = &error else {
        panic!("not the SDK's error: {error}");
    };
    assert!(
        matches!(
            inner.downcast_ref::<datagouv::Error>(),
            Some(datagouv::Error::ChecksumMismatch { .. })
        ),
        "{error}"
    );
    assert!(files_in(&dir.join("cache")).is_empty());
}
