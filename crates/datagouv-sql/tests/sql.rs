//! The SQL engine against the real servers of the test stack (udata,
//! api-tabular 0.4.1 on PostgreSQL): every answer is compared with
//! PostgreSQL's own answer to the same SQL on the server's table (psql),
//! and pushdown is counted in api-tabular's access log.

#[allow(dead_code)]
mod common;

use std::path::Path;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use datagouv::Client;
use datagouv_sql::SqlEngine;
use datagouv_tests::Stack;

/// Resource ids and the PostgreSQL tables behind them (tests/stack/tabular/sql/).
const TABLES: [(&str, &str, &str); 5] = [
    (
        "types",
        "10000000-0000-4000-8000-000000000001",
        "709e61dba33cc3a0bc3da37203a2752f",
    ),
    (
        "indexed",
        "10000000-0000-4000-8000-000000000002",
        "72e2ae52941ca698cb8bde29b7e51437",
    ),
    (
        "not_aggregated",
        "10000000-0000-4000-8000-000000000003",
        "60bafd9ec72ef39986c213782b977302",
    ),
    (
        "big",
        "10000000-0000-4000-8000-000000000005",
        "679c7414c1bbe2b2b95c1c7ed2702c02",
    ),
    (
        "shapes",
        "10000000-0000-4000-8000-000000000007",
        "5c2e1d0f9b8a7c6d5e4f3a2b1c0d9e8f",
    ),
];

fn client(stack: &Stack) -> Client {
    Client::builder()
        .main_url(stack.get("UDATA_BASE_URL"))
        .tabular_url(stack.get("TABULAR_URL"))
        .metrics_url(stack.get("METRICS_URL"))
        .build()
        .unwrap()
}

fn engine(stack: &Stack) -> SqlEngine {
    SqlEngine::builder(client(stack))
        .cache_dir(std::env::temp_dir().join(format!("datagouv-sql-test-{}", std::process::id())))
        .build()
        .unwrap()
}

/// `sql` with `{name}` made the engine's table (`"<resource id>"`) or
/// PostgreSQL's (`public."<table>"`).
fn with_tables(sql: &str, postgres: bool) -> String {
    let mut out = sql.to_owned();
    for (name, id, table) in TABLES {
        let to = if postgres {
            format!("public.\"{table}\"")
        } else {
            format!("\"{id}\"")
        };
        out = out.replace(&format!("{{{name}}}"), &to);
    }
    // Metrics models: the engine's `metrics` schema, PostgreSQL's `metric`.
    for model in [
        "datasets",
        "resources",
        "organizations",
        "reuses",
        "dataservices",
        "site",
    ] {
        let schema = if postgres { "metric" } else { "metrics" };
        out = out.replace(
            &format!("{{metrics.{model}}}"),
            &format!("{schema}.{model}"),
        );
    }
    out
}

/// Rows as text, NULL as `∅`, in the engine's order.
async fn engine_rows(engine: &SqlEngine, sql: &str) -> Vec<Vec<String>> {
    let sql = with_tables(sql, false);
    let batches: Vec<RecordBatch> = engine
        .sql(&sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .collect()
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    let options = FormatOptions::default().with_null("∅");
    let mut rows = Vec::new();
    for batch in &batches {
        let formatters: Vec<_> = batch
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &options).unwrap())
            .collect();
        for row in 0..batch.num_rows() {
            rows.push(
                formatters
                    .iter()
                    .map(|f| normalise(&f.value(row).to_string()))
                    .collect(),
            );
        }
    }
    rows
}

/// PostgreSQL's rows for the same SQL on the server's tables.
fn postgres_rows(stack: &Stack, sql: &str) -> Vec<Vec<String>> {
    let sql = with_tables(sql, true);
    let output = std::process::Command::new(datagouv_tests::psql())
        .args(["-X", "-q", "-At", "-F", "\u{1f}", "-P", "null=∅"])
        .arg(stack.get("PG_URI"))
        .args(["-c", &sql])
        .output()
        .expect("psql runs");
    assert!(
        output.status.success(),
        "{sql}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|line| line.split('\u{1f}').map(normalise).collect())
        .collect()
}

/// One spelling for both engines: `t`/`f` → `true`/`false`, `T` in timestamps → space.
fn normalise(cell: &str) -> String {
    match cell {
        "t" => "true".into(),
        "f" => "false".into(),
        _ => {
            let bytes = cell.as_bytes();
            if bytes.len() >= 19 && bytes[4] == b'-' && bytes[10] == b'T' && bytes[13] == b':' {
                cell.replacen('T', " ", 1)
            } else {
                cell.to_owned()
            }
        }
    }
}

/// Equal cell for cell, numbers within a relative 1e-9 (sums and averages
/// of floats may add in another order).
fn assert_same(sql: &str, ours: &[Vec<String>], theirs: &[Vec<String>]) {
    let same = ours.len() == theirs.len()
        && ours.iter().zip(theirs).all(|(a, b)| {
            a.len() == b.len()
                && a.iter().zip(b).all(|(x, y)| {
                    x == y
                        || matches!((x.parse::<f64>(), y.parse::<f64>()), (Ok(p), Ok(q))
                            if (p - q).abs() <= 1e-9 * p.abs().max(q.abs()).max(1.0))
                })
        });
    assert!(same, "{sql}\nengine:     {ours:?}\npostgresql: {theirs:?}");
}

async fn check(stack: &Stack, engine: &SqlEngine, sql: &str) {
    let ours = engine_rows(engine, sql).await;
    let theirs = postgres_rows(stack, sql);
    assert_same(sql, &ours, &theirs);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_by_on_a_resource_the_server_will_not_aggregate_equals_postgresql() {
    let Some(stack) = Stack::from_env() else {
        return;
    };
    let engine = engine(&stack);
    // The server refuses to aggregate this resource (not on its whitelist): DataFusion does it.
    let refused = client(&stack)
        .tabular_resource(TABLES[2].1)
        .unwrap()
        .aggregate("categorie", datagouv::Aggregate::GroupBy)
        .aggregate("score", datagouv::Aggregate::Sum)
        .page::<serde_json::Value>(1)
        .await;
    assert!(
        refused.is_err(),
        "the fixture must not be aggregated by the server"
    );
    check(
        &stack,
        &engine,
        "SELECT categorie, COUNT(*), COUNT(region), SUM(score), AVG(poids), MIN(score), MAX(annee) \
         FROM {not_aggregated} GROUP BY categorie ORDER BY categorie",
    )
    .await;
    check(
        &stack,
        &engine,
        "SELECT region, annee, COUNT(*), SUM(poids) FROM {not_aggregated} WHERE annee >= 2022 \
         GROUP BY region, annee ORDER BY region NULLS LAST, annee",
    )
    .await;
    // Past the export cap: 200,000 rows in four windows.
    check(
        &stack,
        &engine,
        "SELECT EXTRACT(YEAR FROM jour) AS y, COUNT(*), SUM(montant), MIN(rang), MAX(rang) FROM {big} \
         GROUP BY 1 ORDER BY 1",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_join_of_two_resources_equals_postgresql() {
    let Some(stack) = Stack::from_env() else {
        return;
    };
    let engine = engine(&stack);
    check(
        &stack,
        &engine,
        "SELECT i.categorie, COUNT(*), SUM(t.entier), MAX(t.\"nom complet\") FROM {types} t \
         JOIN {indexed} i ON t.a__b = i.annee - 2020 AND t.\"__id\" = i.\"__id\" \
         GROUP BY i.categorie ORDER BY i.categorie",
    )
    .await;
    check(
        &stack,
        &engine,
        "SELECT t.\"__id\", t.\"élément\", n.region FROM {types} t LEFT JOIN {not_aggregated} n \
         ON n.\"__id\" = t.\"__id\" * 3 WHERE t.entier > 0 ORDER BY t.\"__id\"",
    )
    .await;
}

/// Filters on the `types` fixture: every pushed operator alone and inside
/// AND/OR, and some that are not pushed; each must select the rows
/// PostgreSQL selects. `pushed`: whether the scan must send it.
const TYPES_FILTERS: &[(&str, bool)] = &[
    ("entier = 17", true),
    ("entier <> 17", true),
    ("entier < 0", true),
    ("entier <= -20", true),
    ("entier > 10", true),
    ("entier >= 10", true),
    ("entier IN (17, -13, 24)", true),
    ("entier NOT IN (17, -13)", true),
    ("entier IS NULL", true),
    ("entier IS NOT NULL", true),
    ("\"avg.views\" = 1.75", true),
    ("\"avg.views\" > 20.5", true),
    ("\"avg.views\" IN (1.75, 3.25)", true),
    ("a__b = 2", true),
    ("a__b <> 2", true),
    ("actif", true),
    ("NOT actif", true),
    ("actif = false", true),
    ("actif IS NULL", true),
    ("date >= '2024-03-01'", true),
    ("date < DATE '2024-02-01'", true),
    ("date = '2024-01-11'", true),
    ("horodatage > TIMESTAMP '2024-04-02 10:15:00'", true),
    ("horodatage <= '2024-04-01 00:00:00'", true),
    ("\"nom complet\" = 'Élodie Dupré'", true),
    ("\"nom complet\" <> 'ÉMILE ZOLA'", true),
    ("\"nom complet\" IN ('李小龙', 'Zoë 🚀 Moreau')", true),
    ("\"nom complet\" LIKE '%lo%'", true),
    ("\"nom complet\" ILIKE '%é%'", true),
    ("\"élément\" = ''", true),
    ("\"élément\" IS NULL", true),
    ("\"élément\" = 'C:\\temp'", true),
    ("\"élément\" = 'it''s \"quoted\"'", true),
    ("\"élément\" = '(parenthèses)'", true),
    ("\"élément\" = 'x,y'", true),
    ("\"élément\" = '50% + 1'", true),
    ("\"say \"\"hi\"\"\" = 'q1'", true),
    ("\"say \"\"hi\"\"\" IS NOT NULL", true),
    (
        "(entier > 0 AND actif) OR \"nom complet\" = 'ÉMILE ZOLA'",
        true,
    ),
    ("entier < 0 OR \"avg.views\" > 30", true),
    (
        "(\"élément\" = 'a&b' OR \"élément\" = 'k=v') AND a__b <> 0",
        true,
    ),
    (
        "date >= '2024-02-01' AND (actif IS NULL OR entier IS NULL)",
        true,
    ),
    ("entier NOT IN (17) OR \"élément\" IS NULL", true),
    // Text ranges follow PostgreSQL's collation on the server: filtered here.
    ("\"nom complet\" < 'F'", false),
    ("code_commune >= '50000'", false),
    ("\"nom complet\" NOT LIKE '%lo%'", false),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_pushed_filter_selects_the_rows_postgresql_selects() {
    let Some(stack) = Stack::from_env() else {
        return;
    };
    let engine = engine(&stack);
    for (filter, pushed) in TYPES_FILTERS {
        let sql = format!("SELECT \"__id\" FROM {{types}} WHERE {filter} ORDER BY \"__id\"");
        check(&stack, &engine, &sql).await;
        let plan = engine.explain(&with_tables(&sql, false)).await.unwrap();
        assert_eq!(
            plan.contains("filters pushed"),
            *pushed,
            "{filter}: pushed expected {pushed}\n{plan}"
        );
    }
    // Every column shape (accents, spaces, parentheses, `.`, quotes, `%`) alone and in groups.
    let columns = [
        "plain",
        "\"élément\"",
        "\"nom complet\"",
        "\"Population (2021)\"",
        "\"avg.views\"",
        "\"l'année\"",
        "\"taux %\"",
        "\"part_%\"",
    ];
    for column in columns {
        for filter in [
            format!("{column} = '5'"),
            format!("{column} <> '3'"),
            format!("{column} IN ('1', '12')"),
            format!("{column} NOT IN ('1', '12')"),
            format!("{column} IS NULL"),
            format!("({column} = '1' OR {column} = '2') AND {column} IS NOT NULL"),
            format!("{column} = '7' OR plain IS NULL"),
        ] {
            let sql = format!("SELECT \"__id\" FROM {{shapes}} WHERE {filter} ORDER BY \"__id\"");
            check(&stack, &engine, &sql).await;
            let plan = engine.explain(&with_tables(&sql, false)).await.unwrap();
            assert!(plan.contains("filters pushed"), "{filter}\n{plan}");
        }
    }
}

/// Requests for a resource's rows in api-tabular's access log, and the
/// bytes it answered them with.
fn data_requests(stack: &Stack, rid: &str) -> Vec<(String, u64)> {
    let log = std::fs::read_to_string(
        Path::new(stack.get("STACK_STATE_DIR")).join("logs/tabular-api.log"),
    )
    .unwrap();
    log.lines()
        .filter(|line| line.contains(&format!("/api/resources/{rid}/data")))
        .map(|line| {
            let request = line.split('"').nth(1).unwrap_or_default().to_owned();
            let after = line.split('"').nth(2).unwrap_or_default();
            let bytes = after
                .split_whitespace()
                .nth(1)
                .and_then(|b| b.parse().ok())
                .unwrap_or(0);
            (request, bytes)
        })
        .collect()
}

/// The requests logged after the first `before`: the server writes its log
/// line once the answer is sent, which may be after the client read it, so
/// this waits until no new line comes for half a second.
async fn requests_since(stack: &Stack, rid: &str, before: usize) -> Vec<(String, u64)> {
    let mut seen = data_requests(stack, rid);
    for _ in 0..10 {
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        let now = data_requests(stack, rid);
        if now.len() == seen.len() && now.len() > before {
            break;
        }
        seen = now;
    }
    seen[before..].to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushdown_is_seen_at_the_server() {
    let Some(stack) = Stack::from_env() else {
        return;
    };
    let big = TABLES[3].1;
    // A selective WHERE: only the 100 matching rows move, one request, one column.
    let engine = engine(&stack);
    let before = data_requests(&stack, big).len();
    let rows = engine_rows(
        &engine,
        "SELECT rang FROM {big} WHERE rang BETWEEN 1000 AND 1099 ORDER BY rang",
    )
    .await;
    assert_eq!(rows.len(), 100);
    assert_eq!(
        engine
            .progress()
            .rows
            .load(std::sync::atomic::Ordering::Relaxed),
        100
    );
    let sent = requests_since(&stack, big, before).await;
    let exports: Vec<_> = sent
        .iter()
        .filter(|(r, _)| r.contains("/data/csv/"))
        .collect();
    assert_eq!(exports.len(), 1, "{sent:?}");
    assert!(exports[0].0.contains("columns=rang"), "{sent:?}");
    assert!(exports[0].0.contains("rang__greater=1000"), "{sent:?}");
    assert!(
        exports[0].1 < 2_000,
        "100 short rows, not 200,000: {sent:?}"
    );

    // LIMIT 10 on 200,000 rows (past the export cap): one request.
    let engine = self::engine(&stack);
    let before = data_requests(&stack, big).len();
    let rows = engine_rows(&engine, "SELECT * FROM {big} LIMIT 10").await;
    assert_eq!(rows.len(), 10);
    let sent = requests_since(&stack, big, before).await;
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert!(sent[0].0.contains("page_size=10"), "{sent:?}");

    // COUNT(*) moves `__id` only.
    let before = data_requests(&stack, big).len();
    let rows = engine_rows(&engine, "SELECT COUNT(*) FROM {big} WHERE rang <= 60000").await;
    assert_eq!(rows, vec![vec!["60000".to_owned()]]);
    let sent = requests_since(&stack, big, before).await;
    assert!(
        sent.iter()
            .filter(|(r, _)| r.contains("/data/csv/"))
            .all(|(r, _)| r.contains("columns=__id")),
        "{sent:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mistakes_get_errors_that_say_what_to_change() {
    let Some(stack) = Stack::from_env() else {
        return;
    };
    let engine = engine(&stack);
    let error = |sql: &str| {
        let sql = with_tables(sql, false);
        let engine = &engine;
        async move {
            match engine.sql(&sql).await {
                Err(e) => e.to_string(),
                Ok(frame) => match frame.collect().await {
                    Err(e) => e.to_string(),
                    Ok(_) => panic!("{sql} ran"),
                },
            }
        }
    };
    let unknown_column = error("SELECT montantt FROM {big}").await;
    assert!(
        unknown_column.contains("montantt") && unknown_column.contains("montant"),
        "{unknown_column}"
    );
    let not_an_id = error("SELECT * FROM \"../me\"").await;
    assert!(not_an_id.contains("not a resource id"), "{not_an_id}");
    let unknown = error("SELECT * FROM \"10000000-0000-4000-8000-0000000000ff\"").await;
    assert!(unknown.contains("no resource"), "{unknown}");
    for refused in [
        "CREATE TABLE x AS SELECT 1",
        "CREATE EXTERNAL TABLE x STORED AS CSV LOCATION '/etc/passwd'",
        "INSERT INTO {types} VALUES (1)",
        "COPY (SELECT 1) TO '/tmp/out.csv'",
        "SELECT * FROM '/etc/passwd'",
        "SET datafusion.execution.batch_size = 1",
    ] {
        let message = error(refused).await;
        assert!(!message.is_empty(), "{refused}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_models_are_tables_with_their_own_operators() {
    let Some(stack) = Stack::from_env() else {
        return;
    };
    let engine = engine(&stack);
    check(
        &stack,
        &engine,
        "SELECT organization_id, COUNT(*), SUM(monthly_visit), MAX(monthly_download_resource) \
         FROM {metrics.datasets} WHERE metric_month >= '2024-01' GROUP BY organization_id ORDER BY 1",
    )
    .await;
    for filter in [
        "dataset_id = 'd00000000000000000000003'",
        "monthly_visit >= 500 AND monthly_visit <= 900",
        "monthly_visit < 500",
        "dataset_id IN ('d00000000000000000000003', 'd00000000000000000000004')",
        "monthly_visit IS NULL",
        "dataset_id = 'd00000000000000000000003' OR monthly_visit > 1000",
    ] {
        check(
            &stack,
            &engine,
            &format!("SELECT \"__id\" FROM {{metrics.datasets}} WHERE {filter} ORDER BY \"__id\""),
        )
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn order_by_is_sorted_by_the_server_where_it_pays() {
    let Some(stack) = Stack::from_env() else {
        return;
    };
    let big = TABLES[3].1;
    let engine = engine(&stack);
    // A top 10 of 200,000 rows: one sorted page of rows, not a scan (the
    // scan's plan, made before the sort is pushed, costs three one-row pages).
    let top = "SELECT rang, montant FROM {big} ORDER BY montant DESC, rang LIMIT 10";
    let before = data_requests(&stack, big).len();
    check(&stack, &engine, top).await;
    let sent: Vec<_> = requests_since(&stack, big, before)
        .await
        .into_iter()
        .filter(|(request, _)| !request.contains("page_size=1 "))
        .collect();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert!(
        sent[0].0.contains("page_size=10") && sent[0].0.contains("montant__sort=desc"),
        "{sent:?}"
    );
    let plan = engine.explain(&with_tables(top, false)).await.unwrap();
    assert!(
        plan.contains("sort pushed: [montant DESC, rang ASC]"),
        "{plan}"
    );
    // A limit past a page, under the rows of one window: the scan itself
    // must stop at the limit (DataFusion removed its own).
    check(
        &stack,
        &engine,
        "SELECT rang, montant FROM {big} WHERE rang <= 20000 ORDER BY montant DESC, rang LIMIT 1000",
    )
    .await;
    // Past a page: the sorted export's windows, in the server's order.
    check(
        &stack,
        &engine,
        "SELECT rang, jour FROM {big} WHERE rang <= 70000 ORDER BY jour DESC, rang LIMIT 60000",
    )
    .await;
    // Text is ordered here (PostgreSQL's collation is not SQL's byte order), NULLs placed
    // otherwise than PostgreSQL places them too.
    for local in [
        "SELECT libelle FROM {big} ORDER BY libelle LIMIT 5",
        "SELECT rang FROM {big} ORDER BY montant NULLS FIRST, rang LIMIT 5",
    ] {
        let plan = engine.explain(&with_tables(local, false)).await.unwrap();
        assert!(!plan.contains("sort pushed"), "{local}\n{plan}");
    }
}

/// A remote resource of a new udata dataset (admin key), with these extras.
async fn remote_resource(
    stack: &Stack,
    dataset: &str,
    url: &str,
    extras: serde_json::Value,
) -> String {
    let admin = Client::builder()
        .main_url(stack.get("UDATA_BASE_URL"))
        .api_key(stack.get("ADMIN_KEY"))
        .build()
        .unwrap();
    let body = serde_json::json!({
        "title": "table", "url": url, "filetype": "remote", "format": "csv", "type": "main", "extras": extras,
    });
    let created: serde_json::Value = admin
        .raw(
            reqwest::Method::POST,
            &format!("/datasets/{dataset}/resources/"),
            Some(body),
        )
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    created["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{created}"))
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_source_of_a_resource_answers_as_the_tabular_path() {
    let Some(stack) = Stack::from_env() else {
        return;
    };
    let tabular_rid = TABLES[0].1;
    let client = client(&stack);
    // What the pipeline makes of the `types` resource: its Parquet conversion and its file.
    let query = client.tabular_resource(tabular_rid).unwrap();
    let (mut parquet, mut csv) = (Vec::new(), Vec::new());
    query
        .export(
            datagouv::ExportFormat::Parquet,
            &mut parquet,
            datagouv::ExportOptions::default(),
        )
        .await
        .unwrap();
    query
        .export(
            datagouv::ExportFormat::Csv,
            &mut csv,
            datagouv::ExportOptions::default(),
        )
        .await
        .unwrap();
    let host = common::Host::start().await;
    let parquet_url = host.put("types.parquet", parquet);
    let csv_url = host.put("types.csv", csv);
    // Two remote resources in udata: one names its Parquet conversion, the other only its file.
    let admin = Client::builder()
        .main_url(stack.get("UDATA_BASE_URL"))
        .api_key(stack.get("ADMIN_KEY"))
        .build()
        .unwrap();
    let dataset: serde_json::Value = admin
        .raw(
            reqwest::Method::POST,
            "/datasets/",
            Some(serde_json::json!({"title": "SQL sources", "description": "the types fixture as files"})),
        )
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let dataset = dataset["id"].as_str().unwrap().to_owned();
    let converted = remote_resource(
        &stack,
        &dataset,
        &csv_url,
        serde_json::json!({"analysis:parsing:parquet_url": parquet_url}),
    )
    .await;
    let plain = remote_resource(&stack, &dataset, &csv_url, serde_json::json!({})).await;

    let engine = engine(&stack);
    let sql = |table: &str| {
        format!(
            "SELECT \"__id\", entier, \"avg.views\", a__b, \"nom complet\", \"élément\" FROM \"{table}\" \
             WHERE entier > 0 OR \"élément\" IS NULL ORDER BY \"__id\""
        )
    };
    let tabular = engine_rows(&engine, &sql(tabular_rid)).await;
    assert!(tabular.len() > 10, "{tabular:?}");
    // The Parquet conversion, by ranges.
    let requests = host.requests();
    let from_parquet = engine_rows(&engine, &sql(&converted)).await;
    assert_eq!(from_parquet, tabular, "the Parquet conversion");
    let ranges = host.ranges()[requests..].to_vec();
    assert!(
        ranges
            .iter()
            .any(|r| r.as_deref().is_some_and(|r| r.starts_with("bytes="))),
        "{ranges:?}"
    );
    let plan = engine.explain(&sql(&converted)).await.unwrap();
    assert!(plan.contains("types.parquet"), "{plan}");
    // The file itself, downloaded once and read locally. A CSV file cannot
    // tell an empty string from a NULL (both are an empty field; the
    // pipeline ingests both as NULL): compared with NULLIF on both sides.
    let file_sql = |table: &str| {
        format!(
            "SELECT \"__id\", entier, \"avg.views\", a__b, \"nom complet\", NULLIF(\"élément\", '') FROM \"{table}\" \
             WHERE entier > 0 OR NULLIF(\"élément\", '') IS NULL ORDER BY \"__id\""
        )
    };
    let from_file = engine_rows(&engine, &file_sql(&plain)).await;
    assert_eq!(
        from_file,
        engine_rows(&engine, &file_sql(tabular_rid)).await,
        "the downloaded file"
    );
    let plan = engine.explain(&sql(&plain)).await.unwrap();
    assert!(
        !plan.contains("DatagouvScan") && plan.contains("table.parquet"),
        "{plan}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_catalog_that_cannot_be_asked_leaves_the_tabular_api() {
    let Some(stack) = Stack::from_env() else {
        return;
    };
    // Nothing listens on port 1: every catalog look-up fails to connect.
    let client = Client::builder()
        .main_url("http://127.0.0.1:1")
        .tabular_url(stack.get("TABULAR_URL"))
        .metrics_url(stack.get("METRICS_URL"))
        .retry_policy(datagouv::RetryPolicy::never())
        .build()
        .unwrap();
    let engine = SqlEngine::new(client);
    let rows = engine_rows(&engine, "SELECT COUNT(*) FROM {not_aggregated}").await;
    assert_eq!(rows, vec![vec!["100".to_owned()]]);
}
