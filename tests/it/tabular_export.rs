//! Exports of any query against the real api-tabular 0.4.1: sorted past the
//! cap in the server's order, column subsets, every column shape inside
//! or/and groups, broken connections, resumption, Parquet.
//!
//! The expected order of a sorted export is PostgreSQL's own (`psql` on the
//! database the server reads, same collation), the full list of ids; at
//! every window edge it is also checked against the paged JSON endpoint.
//! Expected values come from the fixtures' formulas
//! (`tests/stack/tabular/sql/45_sorted.sql`), read with the `csv` crate.

use datagouv::{
    Client, Condition, ExportFormat, ExportOptions, Filter, Op, Order, Query, RowsPage,
};
use datagouv_tests::Stack;
use futures::TryStreamExt;
use serde_json::{Map, Value};
use std::{
    collections::HashSet,
    net::SocketAddr,
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
    time::Duration,
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
};

fn client(url: &str) -> Client {
    Client::builder()
        .tabular_url(url)
        .read_timeout(Duration::from_secs(2))
        .build()
        .unwrap()
}

/// The ids of a table in PostgreSQL's order for `order_by`.
fn psql_ids(stack: &Stack, table: &str, order_by: &str) -> Vec<u64> {
    let sql = format!("SELECT __id FROM public.\"{table}\" ORDER BY {order_by}");
    let output = std::process::Command::new(datagouv_tests::psql())
        .args(["-X", "-q", "-At", stack.get("PG_URI"), "-c", &sql])
        .output()
        .expect("psql runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|l| l.parse().unwrap())
        .collect()
}

fn psql_run(stack: &Stack, sql: &str) {
    let status = std::process::Command::new(datagouv_tests::psql())
        .args(["-X", "-q", stack.get("PG_URI"), "-c", sql])
        .status()
        .unwrap();
    assert!(status.success(), "{sql}");
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("datagouv-export-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

// --- The `sorted` fixture, row i = 1..=120,000 ------------------------------------

const SORTED_TABLE: &str = "3b1f0c9e6a5d4c2b8e7f6a5b4c3d2e1f";
const WORDS: [&str; 12] = [
    "Élodie", "élan", "Zoë", "zèbre", "Ålborg", "abc", "Abc", "ÉMILE", "李", "émile", "Ça", "cab",
];

fn sorted_row(i: u64) -> Vec<String> {
    let nom = if i % 20 < 9 {
        String::new()
    } else {
        format!("{} {}", WORDS[(i % 12) as usize], i % 397)
    };
    let population = if i.is_multiple_of(17) {
        String::new()
    } else {
        (i % 5000).to_string()
    };
    vec![
        i.to_string(),
        nom,
        (i % 3).to_string(),
        ((i % 1000) as f64 * 0.25).to_string(),
        population,
    ]
}

/// Reads an export's CSV: header and records, with an independent reader.
fn read_csv(bytes: &[u8]) -> (Vec<String>, Vec<Vec<String>>) {
    assert!(!bytes.windows(2).any(|w| w == b"\n\n"), "no blank line");
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(bytes);
    let header = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_owned)
        .collect();
    let records = reader
        .records()
        .map(|r| r.unwrap().iter().map(str::to_owned).collect())
        .collect();
    (header, records)
}

async fn export(
    query: &Query,
    format: ExportFormat,
    options: ExportOptions,
) -> (Vec<u8>, datagouv::ExportSummary) {
    let mut out = Vec::new();
    let summary = query.export(format, &mut out, options).await.unwrap();
    (out, summary)
}

#[tokio::test]
async fn sorted_exports_past_the_cap_follow_the_servers_order() {
    let Some(stack) = Stack::from_env() else {
        return;
    };
    let client = client(stack.get("TABULAR_URL"));
    let sorted = client.tabular_resource(stack.get("RID_SORTED")).unwrap();
    let cases: [(&[(&str, Order)], &str); 5] = [
        (&[("nom", Order::Asc)], "nom ASC, __id"),
        (&[("nom", Order::Desc)], "nom DESC, __id"),
        (&[("valeur", Order::Asc)], "valeur ASC, __id"),
        (
            &[("valeur", Order::Desc), ("montant", Order::Asc)],
            "valeur DESC, montant ASC, __id",
        ),
        (
            &[("Population (2021)", Order::Desc), ("valeur", Order::Asc)],
            "\"Population (2021)\" DESC, valeur ASC, __id",
        ),
    ];
    for (sorts, order_by) in cases {
        let mut query = sorted.clone();
        for (column, order) in sorts {
            query = query.sort(*column, *order);
        }
        let (csv, summary) = export(&query, ExportFormat::Csv, ExportOptions::default()).await;
        let (header, records) = read_csv(&csv);
        assert_eq!(
            header,
            ["__id", "nom", "valeur", "montant", "Population (2021)"],
            "{order_by}"
        );
        assert_eq!((summary.rows, summary.windows), (120_000, 3), "{order_by}");
        let ids: Vec<u64> = records.iter().map(|r| r[0].parse().unwrap()).collect();
        assert_eq!(
            ids,
            psql_ids(&stack, SORTED_TABLE, order_by),
            "{order_by}: PostgreSQL's order"
        );
        for record in &records {
            assert_eq!(
                record,
                &sorted_row(record[0].parse().unwrap()),
                "{order_by}: row values"
            );
        }
        // At the window edges, the paged JSON endpoint (the server's own
        // paging) agrees with the export row for row.
        let paged = query.clone().sort("__id", Order::Asc).page_size(50);
        for page in [1u64, 1000, 1001, 2000, 2001, 2400] {
            let rows: RowsPage<Map<String, Value>> = paged.page(page).await.unwrap();
            let start = ((page - 1) * 50) as usize;
            let served: Vec<u64> = rows
                .rows
                .iter()
                .map(|r| r["__id"].as_u64().unwrap())
                .collect();
            assert_eq!(served, ids[start..start + 50], "{order_by}: page {page}");
        }
    }

    // JSON, sorted, the same rows in the same order.
    let query = sorted.clone().sort("nom", Order::Desc);
    let (json, summary) = export(
        &query,
        ExportFormat::Json,
        ExportOptions::default().parallel(3),
    )
    .await;
    assert_eq!(summary.windows, 3);
    let rows: Vec<Map<String, Value>> = serde_json::from_slice(&json).expect("one JSON array");
    let ids: Vec<u64> = rows.iter().map(|r| r["__id"].as_u64().unwrap()).collect();
    assert_eq!(ids, psql_ids(&stack, SORTED_TABLE, "nom DESC, __id"));

    // A column subset past the cap, sorted and not: no `__id` in the output.
    let subset = sorted
        .clone()
        .columns(["valeur", "nom"])
        .sort("nom", Order::Desc);
    let (csv, summary) = export(&subset, ExportFormat::Csv, ExportOptions::default()).await;
    let (header, records) = read_csv(&csv);
    assert_eq!(header, ["valeur", "nom"]);
    assert_eq!(summary.rows, 120_000);
    let expected: Vec<Vec<String>> = psql_ids(&stack, SORTED_TABLE, "nom DESC, __id")
        .into_iter()
        .map(|i| {
            let row = sorted_row(i);
            vec![row[2].clone(), row[1].clone()]
        })
        .collect();
    assert_eq!(records, expected, "subset, sorted");
    let big = client.tabular_resource(stack.get("RID_BIG")).unwrap();
    let subset = big
        .clone()
        .columns(["montant", "rang"])
        .filter("rang", Op::StrictlyGreater, "0");
    let (json, summary) = export(&subset, ExportFormat::Json, ExportOptions::default()).await;
    let rows: Vec<Map<String, Value>> = serde_json::from_slice(&json).unwrap();
    assert_eq!((rows.len(), summary.windows), (200_000, 4));
    for (index, row) in rows.iter().enumerate() {
        let i = index as u64 + 1;
        assert_eq!(
            row.keys().collect::<Vec<_>>(),
            ["montant", "rang"],
            "no __id"
        );
        assert_eq!(row["rang"].as_u64(), Some(i));
        assert_eq!(
            row["montant"].as_f64(),
            Some((i % 1000) as f64 * 0.5 + 0.25)
        );
    }
}

// --- The `shapes` fixture, row i = 1..=40 -----------------------------------------

const SHAPES: [&str; 8] = [
    "plain",
    "élément",
    "nom complet",
    "Population (2021)",
    "avg.views",
    "l'année",
    "taux %",
    "part_%",
];

/// Which values of a column an operator keeps.
type Predicate = fn(Option<&str>) -> bool;

fn shape_value(i: u64) -> Option<String> {
    (!i.is_multiple_of(10)).then(|| (i % 13).to_string())
}

#[tokio::test]
async fn every_operator_with_every_column_shape_inside_groups() {
    let Some(stack) = Stack::from_env() else {
        return;
    };
    let client = client(stack.get("TABULAR_URL"));
    let shapes = client.tabular_resource(stack.get("RID_SHAPES")).unwrap();
    // Text comparison, as PostgreSQL compares these varchar values.
    let cases: [(Op, &str, Predicate); 10] = [
        (Op::Exact, "5", |v| v == Some("5")),
        (Op::Differs, "5", |v| v != Some("5")),
        (Op::Less, "5", |v| v.is_some_and(|v| v <= "5")),
        (Op::Greater, "5", |v| v.is_some_and(|v| v >= "5")),
        (Op::StrictlyLess, "5", |v| v.is_some_and(|v| v < "5")),
        (Op::StrictlyGreater, "5", |v| v.is_some_and(|v| v > "5")),
        (Op::IsNull, "", |v| v.is_none()),
        (Op::IsNotNull, "", |v| v.is_some()),
        (Op::Contains, "1", |v| v.is_some_and(|v| v.contains('1'))),
        (Op::NotContains, "1", |v| {
            v.is_some_and(|v| !v.contains('1'))
        }),
    ];
    for column in SHAPES {
        for (op, value, predicate) in cases {
            let expected: Vec<u64> = (1..=40)
                .filter(|i| predicate(shape_value(*i).as_deref()))
                .collect();
            let never = || Condition::from(Filter::new("__id", Op::Exact, "0"));
            let filter = || Condition::from(Filter::new(column, op, value));
            let label = format!("`{column}` {}", op.name());
            for (how, query) in [
                (
                    "top level",
                    shapes.clone().with_filter(Filter::new(column, op, value)),
                ),
                (
                    "in or",
                    shapes.clone().group(Condition::Or(vec![filter(), never()])),
                ),
                (
                    "in and inside or",
                    shapes.clone().group(Condition::Or(vec![
                        never(),
                        Condition::And(vec![
                            filter(),
                            Filter::new("__id", Op::StrictlyGreater, "1").into(),
                        ]),
                    ])),
                ),
            ] {
                let rows: RowsPage<Map<String, Value>> = query
                    .page_size(50)
                    .page(1)
                    .await
                    .unwrap_or_else(|e| panic!("{label} {how}: {e}"));
                let ids: Vec<u64> = rows
                    .rows
                    .iter()
                    .map(|r| r["__id"].as_u64().unwrap())
                    .collect();
                let want: Vec<u64> = expected
                    .iter()
                    .copied()
                    .filter(|i| how != "in and inside or" || *i > 1)
                    .collect();
                assert_eq!(ids, want, "{label} {how}");
            }
        }
    }
}

// --- Broken connections and resumption ---------------------------------------------

/// What the proxy does to the answer of one request.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Cut {
    /// Forward it whole.
    None,
    /// Forward this many bytes, then reset the connection.
    Reset(usize),
    /// Forward this many bytes, then close the connection cleanly.
    Truncate(usize),
    /// Forward this many bytes, then stall (the client's read timeout fires).
    Stall(usize),
}

/// A TCP proxy in front of the real api-tabular that logs every request
/// path and breaks the first answer to chosen export windows.
struct Proxy {
    address: SocketAddr,
    log: Arc<Mutex<Vec<String>>>,
}

impl Proxy {
    /// `cuts[k]` breaks the first answer to the k-th distinct export window.
    async fn start(upstream: &str, cuts: Vec<Cut>) -> Proxy {
        let upstream: SocketAddr = upstream
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .parse()
            .unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::new(Mutex::new(Vec::<String>::new()));
        let (task_log, cuts) = (log.clone(), Arc::new(cuts));
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let (log, seen, cuts) = (task_log.clone(), seen.clone(), cuts.clone());
                tokio::spawn(async move {
                    let _ = proxy_one(client, upstream, log, seen, cuts).await;
                });
            }
        });
        Proxy { address, log }
    }

    fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    fn window_requests(&self) -> usize {
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter(|p| p.contains("/data/csv/"))
            .count()
    }

    fn clear(&self) {
        self.log.lock().unwrap().clear();
    }
}

/// One request per connection (sent upstream with `Connection: close`).
async fn proxy_one(
    mut client: TcpStream,
    upstream: SocketAddr,
    log: Arc<Mutex<Vec<String>>>,
    seen: Arc<Mutex<Vec<String>>>,
    cuts: Arc<Vec<Cut>>,
) -> std::io::Result<()> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if client.read(&mut byte).await? == 0 {
            return Ok(());
        }
        head.push(byte[0]);
    }
    let text = String::from_utf8_lossy(&head).into_owned();
    let path = text.split(' ').nth(1).unwrap_or_default().to_owned();
    log.lock().unwrap().push(path.clone());
    let cut = if path.contains("/data/csv/") {
        let mut seen = seen.lock().unwrap();
        if seen.contains(&path) {
            Cut::None
        } else {
            seen.push(path.clone());
            cuts.get(seen.len() - 1).copied().unwrap_or(Cut::None)
        }
    } else {
        Cut::None
    };
    let request: String = text
        .lines()
        .filter(|l| !l.to_ascii_lowercase().starts_with("connection:"))
        .map(|l| format!("{l}\r\n"))
        .collect::<String>()
        .trim_end()
        .to_owned()
        + "\r\nConnection: close\r\n\r\n";
    let mut server = TcpStream::connect(upstream).await?;
    server.write_all(request.as_bytes()).await?;
    let mut sent = 0usize;
    let mut buffer = vec![0u8; 16 * 1024];
    loop {
        let n = server.read(&mut buffer).await?;
        if n == 0 {
            break;
        }
        let limit = match cut {
            Cut::None => usize::MAX,
            Cut::Reset(at) | Cut::Truncate(at) | Cut::Stall(at) => at,
        };
        let take = n.min(limit - sent);
        client.write_all(&buffer[..take]).await?;
        sent += take;
        if sent >= limit {
            match cut {
                // SO_LINGER 0: the drop below sends a reset, not a FIN.
                #[allow(deprecated)]
                Cut::Reset(_) => client.set_linger(Some(Duration::ZERO))?,
                Cut::Stall(_) => tokio::time::sleep(Duration::from_secs(30)).await,
                _ => {}
            }
            return Ok(());
        }
    }
    client.shutdown().await
}

#[tokio::test]
async fn broken_windows_are_fetched_again_and_the_file_is_identical() {
    let Some(stack) = Stack::from_env() else {
        return;
    };
    let tabular = stack.get("TABULAR_URL");
    let rid = stack.get("RID_BIG");
    let clean = export(
        &client(tabular).tabular_resource(rid).unwrap(),
        ExportFormat::Csv,
        ExportOptions::default(),
    )
    .await;

    // Windows 1, 2 and 3 break mid-body: reset, truncated, stalled.
    let cuts = vec![
        Cut::Reset(300_000),
        Cut::Truncate(700_000),
        Cut::Stall(200_000),
    ];
    let proxy = Proxy::start(tabular, cuts).await;
    let query = client(&proxy.url()).tabular_resource(rid).unwrap();
    // One window at a time: each breaks while the export reads its body.
    let (bytes, summary) = export(
        &query,
        ExportFormat::Csv,
        ExportOptions::default().parallel(1),
    )
    .await;
    assert_eq!(summary.windows_retried, 3, "three windows requested again");
    assert_eq!(proxy.window_requests(), 4 + 3);
    assert!(
        bytes == clean.0,
        "byte-identical to a clean export ({} vs {} bytes)",
        bytes.len(),
        clean.0.len()
    );
    assert_eq!(summary.rows, 200_000);

    // Sorted (keyset windows) through the same faults.
    let cuts = vec![
        Cut::Truncate(100_000),
        Cut::Reset(500_000),
        Cut::Stall(150_000),
    ];
    let proxy = Proxy::start(tabular, cuts).await;
    let sorted = |url: &str| {
        client(url)
            .tabular_resource(stack.get("RID_SORTED"))
            .unwrap()
            .sort("nom", Order::Asc)
    };
    let clean = export(
        &sorted(tabular),
        ExportFormat::Csv,
        ExportOptions::default().parallel(1),
    )
    .await;
    // Two windows in flight: a window that breaks before its headers were
    // read is sent again by the transport, one that breaks later by the
    // export; either way each broken window is requested twice.
    let (bytes, summary) = export(
        &sorted(&proxy.url()),
        ExportFormat::Csv,
        ExportOptions::default(),
    )
    .await;
    assert_eq!(summary.rows, 120_000);
    assert_eq!(proxy.window_requests(), 3 + 3);
    assert!(bytes == clean.0, "sorted: byte-identical to a clean export");
}

#[tokio::test]
async fn an_interrupted_export_resumes_and_a_changed_table_restarts() {
    let Some(stack) = Stack::from_env() else {
        return;
    };
    let tabular = stack.get("TABULAR_URL");
    let rid = stack.get("RID_RESUME");
    let dir = scratch("resume");
    let clean_path = dir.join("clean.csv");
    let query = client(tabular).tabular_resource(rid).unwrap();
    query
        .export_to_file(ExportFormat::Csv, &clean_path, ExportOptions::default())
        .await
        .unwrap();
    let clean = std::fs::read(&clean_path).unwrap();

    let proxy = Proxy::start(tabular, Vec::new()).await;
    let query = client(&proxy.url()).tabular_resource(rid).unwrap();
    let path = dir.join("out.csv");
    // Killed halfway: the export is dropped while window 3 streams.
    let interrupt = |query: Query, path: PathBuf| async move {
        let halfway = Arc::new(tokio::sync::Notify::new());
        let signal = halfway.clone();
        let options = ExportOptions::default()
            .parallel(1)
            .on_progress(move |progress| {
                if progress.windows_done >= 2 {
                    signal.notify_one();
                }
            });
        tokio::select! {
            result = query.export_to_file(ExportFormat::Csv, &path, options) => panic!("not interrupted: {result:?}"),
            () = halfway.notified() => {}
        }
    };
    interrupt(query.clone(), path.clone()).await;
    assert!(!path.exists(), "nothing under the final name");
    assert_eq!(datagouv::interrupted_export(&path), Some((2, 4)));
    proxy.clear();
    let summary = query
        .export_to_file(ExportFormat::Csv, &path, ExportOptions::default())
        .await
        .unwrap();
    assert_eq!(
        (summary.resumed_from, summary.windows_requested),
        (Some(2), 2)
    );
    assert_eq!(
        proxy.window_requests(),
        2,
        "only the remaining windows are requested"
    );
    assert!(
        std::fs::read(&path).unwrap() == clean,
        "the resumed file equals a clean one"
    );
    std::fs::remove_file(&path).unwrap();

    // Interrupted again, then the table changes: the re-run starts over.
    interrupt(query.clone(), path.clone()).await;
    let table = "public.\"7d3f2e1a0b9c8d7e6f5a4b3c2d1e0f9a\"";
    psql_run(
        &stack,
        &format!("INSERT INTO {table} (n, t) VALUES (160001, 'r160001')"),
    );
    proxy.clear();
    let result = query
        .export_to_file(ExportFormat::Csv, &path, ExportOptions::default())
        .await;
    psql_run(&stack, &format!("DELETE FROM {table} WHERE n = 160001"));
    let summary = result.unwrap();
    assert!(
        summary.restarted && summary.resumed_from.is_none(),
        "{summary:?}"
    );
    assert_eq!(proxy.window_requests(), 4);
    let (_, records) = read_csv(&std::fs::read(&path).unwrap());
    assert_eq!(records.len(), 160_001);
    let names: HashSet<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(
        names,
        HashSet::from(["clean.csv".into(), "out.csv".into()]),
        "no partial file left"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn window_edges_the_server_cannot_be_told_fail_before_any_row() {
    // A scripted server: 120,000 matching rows, and around the first
    // window's edge only values with a comma (which no group can carry).
    let edge: Vec<Value> = (0..50)
        .map(|k| serde_json::json!({"nom": format!("a,{k}"), "__id": 49_951 + k}))
        .collect();
    let count = serde_json::json!({"data": [{"nom": "x", "__id": 1}], "meta": {"total": 120_000}});
    let page = serde_json::json!({"data": edge, "meta": {"total": 120_000}});
    let (count, page) = (count.to_string(), page.to_string());
    let server = crate::fault_server::FaultServer::start_routed(move |request| {
        use crate::fault_server::Action;
        if request.path.contains("/profile/") {
            Action::json(404, r#"{"message": "no profile"}"#)
        } else if request.path.contains("page_size=1&") || request.path.ends_with("page_size=1") {
            Action::json(200, &count)
        } else {
            Action::json(200, &page)
        }
    })
    .await;
    let query = client(&server.url())
        .tabular_resource("10000000-0000-4000-8000-000000000006")
        .unwrap()
        .sort("nom", Order::Asc);
    let mut out = Vec::new();
    let error = query
        .export(ExportFormat::Csv, &mut out, ExportOptions::default())
        .await
        .unwrap_err();
    assert!(
        error
            .to_string()
            .contains("none of the 50 rows around window 1's edge"),
        "{error}"
    );
    assert!(error.to_string().contains("commas"), "{error}");
    assert!(out.is_empty(), "nothing written");
    let paths: Vec<String> = server
        .received()
        .iter()
        .map(|r| r.path.clone())
        .filter(|p| !p.contains("/profile/"))
        .collect();
    assert_eq!(paths.len(), 2, "{paths:?}");
    assert!(
        paths.iter().all(|p| !p.contains("/data/csv/")),
        "no window requested: {paths:?}"
    );
}

// --- Parquet ------------------------------------------------------------------------

/// Runs `tests/stack/read_parquet.py` (pyarrow, a reader independent of
/// the SDK's writer) with the tabular venv's python; its standard output.
fn pyarrow(args: &[&std::ffi::OsStr]) -> String {
    let home = std::env::var("STACK_HOME")
        .unwrap_or_else(|_| format!("{}/.cache/datagouv-stack", std::env::var("HOME").unwrap()));
    let script = datagouv_tests::workspace_root().join("tests/stack/read_parquet.py");
    let output = std::process::Command::new(format!("{home}/venv-tabular/bin/python"))
        .arg(script)
        .args(args)
        .output()
        .expect("the tabular venv's python runs (bash tests/stack/stack.sh install)");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// pyarrow's reading of a Parquet file: the schema, then the rows.
fn read_parquet(path: &Path) -> (Map<String, Value>, Vec<Map<String, Value>>) {
    let text = pyarrow(&[path.as_os_str()]);
    let mut lines = text.lines();
    let schema = serde_json::from_str(lines.next().unwrap()).unwrap();
    let rows = lines.map(|l| serde_json::from_str(l).unwrap()).collect();
    (schema, rows)
}

/// A CSV field of the export as the Parquet column of this arrow type holds it.
fn typed(field: &str, arrow_type: &str) -> Value {
    if field.is_empty() {
        return Value::Null;
    }
    match arrow_type {
        "int64" => Value::from(field.parse::<i64>().unwrap()),
        "double" => Value::from(field.parse::<f64>().unwrap()),
        "bool" => Value::from(field == "true"),
        // The CSV export writes values as the JSON path does.
        _ => Value::from(field),
    }
}

/// One resource, one set of values, whatever the path: the CSV export
/// holds, cell for cell, the values of the JSON export and of the pages
/// (`true`/`false`, `2024-03-30T22:15:00`, `C:\temp` with one backslash,
/// names quoted as CSV quotes them), where api-tabular's CSV has `t`/`f`,
/// `2024-03-30 22:15:00`, `C:\\temp` and bare names.
#[tokio::test]
async fn csv_exports_hold_the_values_of_the_json_export_and_the_pages() {
    let Some(stack) = Stack::from_env() else {
        return;
    };
    let client = client(stack.get("TABULAR_URL"));
    let query = client.tabular_resource(stack.get("RID_TYPES")).unwrap();
    let profile = query.profile().await.unwrap();
    let json_columns: Vec<&str> = profile
        .columns
        .iter()
        .filter(|c| c.python_type == "json")
        .map(|c| c.name.as_str())
        .collect();
    for selected in [
        None,
        Some(vec!["actif", "horodatage", "élément", "avg.views"]),
    ] {
        let query = match &selected {
            Some(columns) => query.clone().columns(columns.clone()),
            None => query.clone(),
        };
        let (csv, summary) = export(&query, ExportFormat::Csv, ExportOptions::default()).await;
        let (json, _) = export(&query, ExportFormat::Json, ExportOptions::default()).await;
        let json: Vec<Map<String, Value>> = serde_json::from_slice(&json).unwrap();
        let pages: Vec<Map<String, Value>> = query
            .clone()
            .page_size(50)
            .rows()
            .try_collect()
            .await
            .unwrap();
        assert_eq!(json, pages, "the JSON export is the pages");
        let (header, records) = read_csv(&csv);
        assert_eq!(summary.rows, 30);
        assert_eq!(
            header,
            json[0].keys().cloned().collect::<Vec<_>>(),
            "the CSV header names the JSON keys, in order"
        );
        assert_eq!(records.len(), json.len());
        let mut seen = HashSet::new();
        for (record, row) in records.iter().zip(&json) {
            for (name, cell) in header.iter().zip(record) {
                let value = &row[name];
                let same = if json_columns.contains(&name.as_str()) {
                    // JSON text, as the column holds it.
                    match value {
                        Value::Null => cell.is_empty(),
                        value => serde_json::from_str::<Value>(cell).ok().as_ref() == Some(value),
                    }
                } else {
                    match value {
                        Value::Null => cell.is_empty(),
                        Value::String(text) => cell == text,
                        other => cell.as_str() == other.to_string().as_str(),
                    }
                };
                assert!(
                    same,
                    "`{name}` of row {}: CSV {cell:?}, JSON {value}",
                    row["__id"]
                );
                seen.insert(name.clone());
            }
        }
        assert!(seen.contains("actif") && seen.contains("horodatage"));
    }
    // The kinds seen, by name: nothing left in the server's own rendering.
    let (csv, _) = export(&query, ExportFormat::Csv, ExportOptions::default()).await;
    let text = String::from_utf8(csv).unwrap();
    assert!(
        text.starts_with("__id,")
            && text
                .lines()
                .next()
                .unwrap()
                .ends_with(",\"say \"\"hi\"\"\"")
    );
    assert!(text.contains(",true,") && text.contains(",false,") && !text.contains(",t,"));
    assert!(
        text.contains("2024-03-30T22:15:00")
            && text.contains("C:\\temp")
            && !text.contains("C:\\\\temp")
    );
}

#[tokio::test]
async fn parquet_exports_read_back_by_pyarrow_equal_the_csv_export() {
    let Some(stack) = Stack::from_env() else {
        return;
    };
    let client = client(stack.get("TABULAR_URL"));
    let dir = scratch("parquet");
    let cases = [
        (stack.get("RID_TYPES"), None, vec![30]),
        (
            stack.get("RID_SORTED"),
            Some("nom"),
            vec![50_000, 50_000, 20_000],
        ),
    ];
    for (rid, sort, groups) in cases {
        let mut query = client.tabular_resource(rid).unwrap();
        if let Some(column) = sort {
            query = query.sort(column, Order::Desc);
        }
        let path = dir.join("out.parquet");
        let summary = query
            .export_to_file(ExportFormat::Parquet, &path, ExportOptions::default())
            .await
            .unwrap();
        let (csv, _) = export(&query, ExportFormat::Csv, ExportOptions::default()).await;
        let (header, records) = read_csv(&csv);
        let (schema, rows) = read_parquet(&path);
        assert_eq!(summary.rows as usize, records.len());
        assert_eq!(
            schema.keys().cloned().collect::<Vec<_>>(),
            header,
            "columns in order"
        );
        let profile = query.profile().await.unwrap();
        for column in &profile.columns {
            let want = match column.python_type.as_str() {
                "int" => "int64",
                "float" => "double",
                "bool" => "bool",
                "date" => "date32[day]",
                "datetime" => "timestamp[us]",
                _ => "string",
            };
            assert_eq!(schema[&column.name], want, "type of `{}`", column.name);
        }
        assert_eq!(rows.len(), records.len());
        for (row, record) in rows.iter().zip(&records) {
            for ((name, arrow_type), field) in schema.iter().zip(record) {
                let expected = typed(field, arrow_type.as_str().unwrap());
                let got = &row[name];
                let same = match (got, &expected) {
                    // An empty string and NULL are both an empty CSV field.
                    (Value::String(s), Value::Null) => s.is_empty(),
                    (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
                    (a, b) => a == b,
                };
                assert!(
                    same,
                    "`{name}` of row {}: parquet {got}, csv {field:?}",
                    record[0]
                );
            }
        }
        assert_eq!(summary.unreadable, Vec::new());
        let row_groups = pyarrow(&["--row-groups".as_ref(), path.as_os_str()]);
        let row_groups: Vec<u64> = serde_json::from_str(&row_groups).unwrap();
        assert_eq!(row_groups, groups, "a row group per window");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A window waiting its turn keeps reading its answer: window 1's body
/// takes longer in all than the read timeout (no single wait does), and
/// window 2, whose answer came at once, is not timed out and sent again.
#[tokio::test]
async fn a_slow_window_does_not_make_the_next_one_time_out() {
    use crate::fault_server::{Action, FaultServer};
    let rows = |ids: std::ops::RangeInclusive<u64>| {
        let items: Vec<String> = ids.map(|id| format!("{{\"__id\":{id}}}")).collect();
        format!("[{}]", items.join(","))
    };
    let page = |id: u64| format!(r#"{{"data": [{{"__id": {id}}}], "meta": {{"total": 60000}}}}"#);
    let (first, second) = (rows(1..=50_000), rows(50_001..=60_000));
    let server = FaultServer::start_routed(move |request| {
        let path = &request.path;
        if path.contains("/data/json/") && path.contains("__id__greater=1&") {
            Action::Trickle(Duration::from_millis(300), 4, first.clone())
        } else if path.contains("/data/json/") {
            Action::json(200, &second)
        } else if path.contains("__id__sort=desc") {
            Action::json(200, &page(60_000))
        } else {
            Action::json(200, &page(1))
        }
    })
    .await;
    let client = Client::builder()
        .tabular_url(server.url())
        .read_timeout(Duration::from_millis(500))
        .build()
        .unwrap();
    let query = client
        .tabular_resource("10000000-0000-4000-8000-000000000005")
        .unwrap();
    let mut out = Vec::new();
    let summary = query
        .export(
            ExportFormat::Json,
            &mut out,
            ExportOptions::default().parallel(2),
        )
        .await
        .unwrap();
    assert_eq!((summary.rows, summary.windows), (60_000, 2));
    let windows: Vec<String> = server
        .received()
        .iter()
        .map(|r| r.path.clone())
        .filter(|p| p.contains("/data/json/"))
        .collect();
    assert_eq!(windows.len(), 2, "each window sent once: {windows:#?}");
    let value: Vec<Value> = serde_json::from_slice(&out).unwrap();
    assert_eq!(value.len(), 60_000);
}

/// A Metrics export past the cap is cut into `__id` ranges like a Tabular
/// one; the Metrics API selects no columns, so none is asked for.
#[tokio::test]
async fn metrics_exports_past_the_cap_are_cut_into_id_ranges() {
    use crate::fault_server::{Action, FaultServer};
    let page = |id: u64| format!(r#"{{"data": [{{"__id": {id}}}], "meta": {{"total": 60000}}}}"#);
    let server = FaultServer::start_routed(move |request| {
        if request.path.contains("__id__sort=desc") {
            Action::json(200, &page(60_000))
        } else {
            Action::json(200, &page(1))
        }
    })
    .await;
    let client = Client::builder().metrics_url(server.url()).build().unwrap();
    let plan = client
        .metrics_model("resources")
        .unwrap()
        .export_plan(ExportFormat::Csv)
        .await
        .unwrap();
    assert_eq!(plan.method(), datagouv::WindowMethod::IdRanges);
    assert_eq!(plan.windows(), 2);
    let paths: Vec<String> = server.received().iter().map(|r| r.path.clone()).collect();
    assert!(paths.iter().all(|p| !p.contains("columns=")), "{paths:#?}");
}

// --- Keyset windows planned as the export runs ----------------------------------------

#[tokio::test]
async fn a_sorted_export_plans_each_window_while_the_previous_one_downloads() {
    let Some(stack) = Stack::from_env() else {
        return;
    };
    let tabular = stack.get("TABULAR_URL");
    let sorted = |url: &str| {
        client(url)
            .tabular_resource(stack.get("RID_BIG"))
            .unwrap()
            .sort("montant", Order::Desc)
    };
    let planned = sorted(tabular)
        .export_plan(ExportFormat::Csv)
        .await
        .unwrap();
    let proxy = Proxy::start(tabular, Vec::new()).await;
    let (bytes, summary) = export(
        &sorted(&proxy.url()),
        ExportFormat::Csv,
        ExportOptions::default(),
    )
    .await;
    assert_eq!((summary.rows, summary.windows), (200_000, 4));
    let log = proxy.log.lock().unwrap().clone();
    // The window requests are the whole plan's, in order.
    let windows: Vec<&String> = log.iter().filter(|p| p.contains("/data/csv/")).collect();
    let expected: Vec<String> = planned
        .urls()
        .iter()
        .map(|u| format!("{}?{}", u.path(), u.query().unwrap_or_default()))
        .collect();
    assert_eq!(windows, expected.iter().collect::<Vec<_>>());
    // Window 1 is asked for before the edge of window 3 is read (the whole
    // plan used to be read first).
    let first_window = log.iter().position(|p| p.contains("/data/csv/")).unwrap();
    let probes: Vec<usize> = (0..log.len())
        .filter(|&i| log[i].contains("/data/?") && log[i].contains("page_size=50"))
        .collect();
    assert_eq!(probes.len(), 3, "{log:#?}");
    assert!(first_window < probes[2], "{log:#?}");
    // And the file is the one of a plan read whole beforehand.
    let (_, records) = read_csv(&bytes);
    let ids: Vec<u64> = records.iter().map(|r| r[0].parse().unwrap()).collect();
    assert_eq!(
        ids,
        psql_ids(
            &stack,
            "679c7414c1bbe2b2b95c1c7ed2702c02",
            "montant DESC, __id"
        )
    );
}

#[tokio::test]
async fn an_interrupted_sorted_export_resumes_planning_where_it_stopped() {
    let Some(stack) = Stack::from_env() else {
        return;
    };
    let tabular = stack.get("TABULAR_URL");
    let sorted = |url: &str| {
        client(url)
            .tabular_resource(stack.get("RID_SORTED"))
            .unwrap()
            .sort("nom", Order::Desc)
    };
    let dir = scratch("resume-sorted");
    let clean_path = dir.join("clean.csv");
    sorted(tabular)
        .export_to_file(ExportFormat::Csv, &clean_path, ExportOptions::default())
        .await
        .unwrap();
    let clean = std::fs::read(&clean_path).unwrap();

    let proxy = Proxy::start(tabular, Vec::new()).await;
    let path = dir.join("out.csv");
    // Dropped once window 1 is written: the record holds window 1 and
    // where the planning of the next ones stands.
    let halfway = Arc::new(tokio::sync::Notify::new());
    let signal = halfway.clone();
    let options = ExportOptions::default()
        .parallel(1)
        .on_progress(move |progress| {
            if progress.windows_done >= 1 {
                signal.notify_one();
            }
        });
    let query = sorted(&proxy.url());
    tokio::select! {
        result = query.export_to_file(ExportFormat::Csv, &path, options) => panic!("not interrupted: {result:?}"),
        () = halfway.notified() => {}
    }
    assert_eq!(datagouv::interrupted_export(&path), Some((1, 3)));
    proxy.clear();
    let summary = sorted(&proxy.url())
        .export_to_file(ExportFormat::Csv, &path, ExportOptions::default())
        .await
        .unwrap();
    assert_eq!(
        (
            summary.resumed_from,
            summary.windows_requested,
            summary.windows
        ),
        (Some(1), 2, 3)
    );
    assert_eq!(proxy.window_requests(), 2, "windows 2 and 3 only");
    assert!(
        std::fs::read(&path).unwrap() == clean,
        "the resumed file equals a clean one"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
