//! The Tabular and Metrics query layer against the real api-tabular 0.4.1.
//! Expected rows are computed here from the fixtures' formulas (the
//! comments at the top of `tests/stack/tabular/sql/*.sql`), never copied
//! from an answer.

use crate::fault_server::FaultServer;
use chrono::{Duration, NaiveDate};
use datagouv::{
    Aggregate, Client, Condition, ExportFormat, ExportOptions, Filter, Op, Order,
    metrics::DatasetMetrics,
};
use datagouv_tests::Stack;
use futures::TryStreamExt;
use serde_json::{Map, Value};

type Row = Map<String, Value>;

fn client(stack: &Stack) -> Client {
    Client::builder()
        .tabular_url(stack.get("TABULAR_URL"))
        .metrics_url(stack.get("METRICS_URL"))
        .build()
        .unwrap()
}

// --- The `types` fixture, row i = 1..=30 -------------------------------------------

const NAMES: [&str; 9] = [
    "Élodie Dupré",
    "François Lefèvre",
    "Zoë 🚀 Moreau",
    "李小龙",
    "Ørjan Æsir",
    "Ana-María O'Neil",
    "Jean \"Jojo\" Martin",
    "Ñandú Çelik",
    "ÉMILE ZOLA",
];
const ODD: [&str; 10] = [
    "a&b",
    "x,y",
    "k=v",
    "v1.2.3",
    "it's \"quoted\"",
    "(parenthèses)",
    "50% + 1",
    "plain",
    "",
    "C:\\temp",
];

fn entier(i: i64) -> Option<i64> {
    (i % 7 != 0).then(|| (i * 37) % 101 - 50)
}
fn nom(i: i64) -> Option<&'static str> {
    (i % 10 != 0).then(|| NAMES[((i - 1) % 9) as usize])
}
fn element(i: i64) -> Option<&'static str> {
    (i % 11 != 0).then(|| ODD[((i - 1) % 10) as usize])
}
fn avg_views(i: i64) -> Option<f64> {
    (i % 8 != 0).then_some(i as f64 * 1.5 + 0.25)
}
fn say(i: i64) -> Option<String> {
    (i % 3 != 0).then(|| format!("q{i}"))
}

fn ids(predicate: impl Fn(i64) -> bool) -> Vec<i64> {
    (1..=30).filter(|i| predicate(*i)).collect()
}

async fn fetch_ids(query: datagouv::Query) -> Vec<i64> {
    let rows: Vec<Row> = query.page_size(50).rows().try_collect().await.unwrap();
    rows.iter()
        .map(|row| row["__id"].as_i64().unwrap())
        .collect()
}

#[tokio::test]
async fn every_operator_selects_the_rows_the_formulas_say() {
    let Some(stack) = Stack::from_env() else {
        return;
    };
    let client = client(&stack);
    let types = || client.tabular_resource(stack.get("RID_TYPES")).unwrap();
    let lower = |s: &str| s.to_lowercase();
    let cases: Vec<(&str, datagouv::Query, Vec<i64>)> = vec![
        (
            "exact",
            types().filter("entier", Op::Exact, "24"),
            ids(|i| entier(i) == Some(24)),
        ),
        // The server's `differs` keeps NULLs (unlike `notin` and `notcontains`, which drop them).
        (
            "differs",
            types().filter("entier", Op::Differs, "24"),
            ids(|i| entier(i) != Some(24)),
        ),
        (
            "isnull",
            types().filter("entier", Op::IsNull, ""),
            ids(|i| entier(i).is_none()),
        ),
        (
            "isnotnull",
            types().filter("entier", Op::IsNotNull, ""),
            ids(|i| entier(i).is_some()),
        ),
        (
            "less (inclusive)",
            types().filter("entier", Op::Less, "24"),
            ids(|i| entier(i).is_some_and(|v| v <= 24)),
        ),
        (
            "greater (inclusive)",
            types().filter("entier", Op::Greater, "24"),
            ids(|i| entier(i).is_some_and(|v| v >= 24)),
        ),
        (
            "strictly_less",
            types().filter("entier", Op::StrictlyLess, "24"),
            ids(|i| entier(i).is_some_and(|v| v < 24)),
        ),
        (
            "strictly_greater",
            types().filter("entier", Op::StrictlyGreater, "24"),
            ids(|i| entier(i).is_some_and(|v| v > 24)),
        ),
        (
            "in",
            types().with_filter(Filter::list("entier", Op::In, ["24", "-13"])),
            ids(|i| matches!(entier(i), Some(24 | -13))),
        ),
        (
            "notin",
            types().with_filter(Filter::list("entier", Op::NotIn, ["24", "-13"])),
            ids(|i| entier(i).is_some_and(|v| v != 24 && v != -13)),
        ),
        (
            "contains ignores case and accents' case",
            types().filter("nom complet", Op::Contains, "zo"),
            ids(|i| nom(i).is_some_and(|n| lower(n).contains("zo"))),
        ),
        (
            "notcontains",
            types().filter("nom complet", Op::NotContains, "é"),
            ids(|i| nom(i).is_some_and(|n| !lower(n).contains('é'))),
        ),
        (
            "float column with a dot",
            types().filter("avg.views", Op::Greater, "30.25"),
            ids(|i| avg_views(i).is_some_and(|v| v >= 30.25)),
        ),
        (
            "column with __",
            types().filter("a__b", Op::Exact, "3"),
            ids(|i| i % 5 == 3),
        ),
        (
            "column with a space",
            types().filter("nom complet", Op::Exact, "李小龙"),
            ids(|i| nom(i) == Some("李小龙")),
        ),
        (
            "column with a quote",
            types().filter("say \"hi\"", Op::Exact, "q7"),
            ids(|i| say(i).as_deref() == Some("q7")),
        ),
        (
            "isnull on a column with __",
            types().filter("a__b", Op::IsNull, ""),
            vec![],
        ),
    ];
    for (name, query, expected) in cases {
        assert!(
            !expected.is_empty() || name.contains("__"),
            "{name}: a case must select something"
        );
        assert_eq!(fetch_ids(query).await, expected, "{name}");
    }
    for value in ODD {
        let got = fetch_ids(types().filter("élément", Op::Exact, value)).await;
        assert_eq!(
            got,
            ids(|i| element(i) == Some(value)),
            "élément exact {value:?}"
        );
    }
    let got =
        fetch_ids(types().with_filter(Filter::list("élément", Op::In, ["x,y", "k=v", "a&b"])))
            .await;
    assert_eq!(
        got,
        ids(|i| matches!(element(i), Some("x,y" | "k=v" | "a&b"))),
        "in with a comma in a value"
    );
}

#[tokio::test]
async fn sorts_and_nested_groups() {
    let Some(stack) = Stack::from_env() else {
        return;
    };
    let client = client(&stack);
    let types = || client.tabular_resource(stack.get("RID_TYPES")).unwrap();

    let mut by_value: Vec<i64> = ids(|i| entier(i).is_some());
    by_value.sort_by_key(|i| entier(*i));
    let asc = fetch_ids(types().sort("entier", Order::Asc)).await;
    assert_eq!(
        &asc[..by_value.len()],
        &by_value[..],
        "asc: values in order, NULLs last"
    );
    let desc = fetch_ids(types().sort("entier", Order::Desc)).await;
    let nulls = 30 - by_value.len();
    by_value.reverse();
    assert_eq!(
        &desc[nulls..],
        &by_value[..],
        "desc: NULLs first, then values in reverse"
    );

    let group = Condition::Or(vec![
        Filter::new("entier", Op::Exact, "24").into(),
        Condition::And(vec![
            Filter::new("a__b", Op::Exact, "3").into(),
            Filter::new("avg.views", Op::Greater, "30.25").into(),
        ]),
        Condition::And(vec![
            Filter::new("élément", Op::Exact, "v1.2.3").into(),
            Condition::Or(vec![
                Filter::new("actif", Op::IsNull, "").into(),
                Filter::new("entier", Op::StrictlyLess, "0").into(),
            ]),
        ]),
    ]);
    let expected = ids(|i| {
        entier(i) == Some(24)
            || (i % 5 == 3 && avg_views(i).is_some_and(|v| v >= 30.25))
            || (element(i) == Some("v1.2.3") && (i % 9 == 0 || entier(i).is_some_and(|v| v < 0)))
    });
    assert!(expected.len() >= 3);
    assert_eq!(
        fetch_ids(types().group(group).sort("__id", Order::Asc)).await,
        expected,
        "nested or/and"
    );
}

#[tokio::test]
async fn aggregation_allowed_and_refused() {
    let Some(stack) = Stack::from_env() else {
        return;
    };
    let client = client(&stack);
    const CATS: [&str; 5] = ["alpha", "bêta", "gamma", "delta", "epsilon"];
    let rows: Vec<Row> = client
        .tabular_resource(stack.get("RID_INDEXED"))
        .unwrap()
        .aggregate("categorie", Aggregate::GroupBy)
        .aggregate("score", Aggregate::Avg)
        .rows()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(rows.len(), 5);
    for category in CATS.iter().enumerate() {
        let (index, name) = category;
        let scores: Vec<i64> = (1..=100)
            .filter(|i| i % 5 == index as i64)
            .map(|i| (i * 7) % 100)
            .collect();
        let mean = scores.iter().sum::<i64>() as f64 / scores.len() as f64;
        let row = rows
            .iter()
            .find(|r| r["categorie"] == *name)
            .unwrap_or_else(|| panic!("{name} missing"));
        let got = row
            .iter()
            .find(|(k, _)| k.contains("avg"))
            .map(|(_, v)| v.as_f64().unwrap())
            .unwrap();
        assert!((got - mean).abs() < 1e-9, "{name}: avg {got} vs {mean}");
    }
    let refused = client
        .tabular_resource(stack.get("RID_NOT_AGGREGATED"))
        .unwrap()
        .aggregate("categorie", Aggregate::GroupBy)
        .page::<Row>(1)
        .await
        .unwrap_err();
    assert_eq!(refused.status().map(|s| s.as_u16()), Some(403));
    assert!(
        refused.to_string().contains("aggregation is limited"),
        "{refused}"
    );
}

#[tokio::test]
async fn unknown_deleted_and_bad_columns_say_what_happened() {
    let Some(stack) = Stack::from_env() else {
        return;
    };
    let client = client(&stack);
    let unknown = client
        .tabular_resource(stack.get("RID_UNKNOWN"))
        .unwrap()
        .page::<Row>(1)
        .await
        .unwrap_err();
    assert_eq!(unknown.status().map(|s| s.as_u16()), Some(404));
    assert!(unknown.to_string().contains("no resource"), "{unknown}");
    let deleted = client
        .tabular_resource(stack.get("RID_DELETED"))
        .unwrap()
        .page::<Row>(1)
        .await
        .unwrap_err();
    assert_eq!(deleted.status().map(|s| s.as_u16()), Some(410));
    assert!(deleted.to_string().contains("deleted"), "{deleted}");
    let types = client.tabular_resource(stack.get("RID_TYPES")).unwrap();
    let profile = types.profile().await.unwrap();
    let typed: Vec<(&str, &str)> = profile
        .columns
        .iter()
        .map(|c| (c.name.as_str(), c.python_type.as_str()))
        .collect();
    assert!(
        typed.contains(&("données", "json"))
            && typed.contains(&("avg.views", "float"))
            && typed.len() == 11,
        "{typed:?}"
    );
    let checked = types
        .clone()
        .filter("nope", Op::Exact, "1")
        .check_columns()
        .await
        .unwrap_err();
    assert!(
        checked.to_string().contains("its columns are")
            && checked.to_string().contains("say \"hi\""),
        "{checked}"
    );
    let checked = types
        .clone()
        .filter("données", Op::Exact, "1")
        .check_columns()
        .await
        .unwrap_err();
    assert!(checked.to_string().contains("json column"), "{checked}");
    types
        .clone()
        .filter("entier", Op::Less, "3")
        .sort("date", Order::Asc)
        .check_columns()
        .await
        .unwrap();
    let column = types
        .filter("nope", Op::Exact, "1")
        .page::<Row>(1)
        .await
        .unwrap_err();
    assert_eq!(column.status().map(|s| s.as_u16()), Some(400));
    let text = column.to_string();
    assert!(
        text.contains("valid columns") && text.contains("avg.views"),
        "{text}"
    );
}

#[tokio::test]
async fn page_sizes_out_of_range_are_refused_before_any_request() {
    let server = FaultServer::start(vec![]).await;
    let client = Client::builder().tabular_url(server.url()).build().unwrap();
    let query = client
        .tabular_resource("10000000-0000-4000-8000-000000000001")
        .unwrap();
    for size in [0, 51] {
        let error = query
            .clone()
            .page_size(size)
            .page::<Row>(1)
            .await
            .unwrap_err();
        assert!(error.to_string().contains("1 to 50"), "{error}");
    }
    let error = query
        .clone()
        .filter("x", Op::Contains, "a_b")
        .page::<Row>(1)
        .await
        .unwrap_err();
    assert!(error.to_string().contains("wildcards"), "{error}");
    assert!(server.received().is_empty(), "nothing was sent");
}

// --- Exports of the `big` fixture, row i = 1..=200,000 ----------------------------

fn big_row(i: u64) -> [String; 5] {
    let day = NaiveDate::from_ymd_opt(2000, 1, 1).unwrap() + Duration::days((i % 3650) as i64);
    let amount = (i % 1000) as f64 * 0.5 + 0.25;
    [
        i.to_string(),
        i.to_string(),
        format!("ligne {i}"),
        amount.to_string(),
        day.to_string(),
    ]
}

async fn export_csv(query: &datagouv::Query, parallel: bool) -> (String, datagouv::ExportSummary) {
    let mut out: Vec<u8> = Vec::new();
    let summary = query
        .export(
            ExportFormat::Csv,
            &mut out,
            ExportOptions::default().parallel(if parallel { 2 } else { 1 }),
        )
        .await
        .unwrap();
    (String::from_utf8(out).unwrap(), summary)
}

fn check_big_csv(csv: &str, expected_ids: impl Iterator<Item = u64>, label: &str) {
    assert!(!csv.contains("\n\n"), "{label}: no blank line");
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(csv.as_bytes());
    assert_eq!(
        reader.headers().unwrap().iter().collect::<Vec<_>>(),
        ["__id", "rang", "libelle", "montant", "jour"],
        "{label}: one header"
    );
    let mut expected = expected_ids;
    for (index, record) in reader.records().enumerate() {
        let record = record.unwrap();
        let want = big_row(
            expected
                .next()
                .unwrap_or_else(|| panic!("{label}: extra row {index}")),
        );
        assert_eq!(
            record.iter().collect::<Vec<_>>(),
            want.iter().map(String::as_str).collect::<Vec<_>>(),
            "{label}: row {index}"
        );
    }
    assert!(expected.next().is_none(), "{label}: rows missing");
}

#[tokio::test]
async fn exports_past_the_cap_equal_the_fixture_row_by_row() {
    let Some(stack) = Stack::from_env() else {
        return;
    };
    let client = client(&stack);
    let big = client.tabular_resource(stack.get("RID_BIG")).unwrap();

    let (csv, summary) = export_csv(&big, false).await;
    assert_eq!((summary.rows, summary.windows), (200_000, 4));
    check_big_csv(&csv, 1..=200_000, "whole table");

    let filtered = big.clone().filter("rang", Op::StrictlyGreater, "20000");
    let (csv, summary) = export_csv(&filtered, true).await;
    assert_eq!((summary.rows, summary.windows), (180_000, 4));
    check_big_csv(&csv, 20_001..=200_000, "filtered, two windows in flight");

    let small = big.clone().filter("montant", Op::Less, "100");
    let (csv, summary) = export_csv(&small, false).await;
    assert_eq!((summary.rows, summary.windows), (40_000, 1));
    check_big_csv(
        &csv,
        (1..=200_000).filter(|i| i % 1000 <= 199),
        "under the cap",
    );

    let mut json = Vec::new();
    let summary = big
        .export(ExportFormat::Json, &mut json, ExportOptions::default())
        .await
        .unwrap();
    assert_eq!(summary.rows, 200_000);
    let rows: Vec<Row> = serde_json::from_slice(&json).expect("one valid JSON array");
    assert_eq!(rows.len(), 200_000);
    for (index, row) in rows.iter().enumerate() {
        let i = index as u64 + 1;
        let want = big_row(i);
        assert_eq!(row["__id"].as_u64(), Some(i));
        assert_eq!(row["libelle"].as_str(), Some(want[2].as_str()));
        assert_eq!(
            row["montant"].as_f64().map(|m| m.to_string()),
            Some(want[3].clone())
        );
        assert_eq!(row["jour"].as_str(), Some(want[4].as_str()));
    }

    let mut json = Vec::new();
    let filtered_json = big.clone().filter("rang", Op::StrictlyGreater, "20000");
    filtered_json
        .export(ExportFormat::Json, &mut json, ExportOptions::default())
        .await
        .unwrap();
    let rows: Vec<Row> = serde_json::from_slice(&json).unwrap();
    assert_eq!(rows.len(), 180_000);
    assert_eq!(rows.first().unwrap()["__id"], 20_001);

    let refused = big
        .export(
            ExportFormat::Csv,
            &mut Vec::new(),
            ExportOptions::default().parallel(5),
        )
        .await
        .unwrap_err();
    assert!(refused.to_string().contains("1 to 4"), "{refused}");

    let dir = std::env::temp_dir().join(format!("datagouv-export-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("types.csv");
    let summary = client
        .tabular_resource(stack.get("RID_TYPES"))
        .unwrap()
        .export_to_file(ExportFormat::Csv, &path, ExportOptions::default())
        .await
        .unwrap();
    assert_eq!(summary.rows, 30);
    assert_eq!(
        std::fs::read_dir(&dir).unwrap().count(),
        1,
        "only the final file is left"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

// --- Metrics ----------------------------------------------------------------------

fn month(m: i64) -> String {
    format!("{}-{:02}", 2022 + m / 12, m % 12 + 1)
}
fn dataset_visit(k: i64, m: i64) -> Option<i64> {
    ((k + m) % 10 != 0).then(|| 100 * k + 7 * m + (k * m) % 13)
}

#[tokio::test]
async fn metrics_filters_sort_typed_rows_and_csv() {
    let Some(stack) = Stack::from_env() else {
        return;
    };
    let client = client(&stack);
    let datasets = || client.metrics_model("datasets").unwrap();
    let dataset = |k: i64| format!("d{k:023}");

    let rows: Vec<DatasetMetrics> = datasets()
        .filter("dataset_id", Op::Exact, dataset(3))
        .sort("metric_month", Order::Desc)
        .page_size(50)
        .rows()
        .try_collect()
        .await
        .unwrap();
    let expected: Vec<(String, Option<i64>)> = (0..36)
        .rev()
        .map(|m| (month(m), dataset_visit(3, m)))
        .collect();
    let got: Vec<(String, Option<i64>)> = rows
        .iter()
        .map(|r| {
            (
                r.metric_month.clone().unwrap(),
                r.monthly_visit.map(|v| v as i64),
            )
        })
        .collect();
    assert_eq!(got, expected, "exact + sort desc, typed rows");

    let count = |rows: Vec<Row>| rows.len();
    let less: Vec<Row> = datasets()
        .filter("monthly_visit", Op::Less, "300")
        .page_size(50)
        .rows()
        .try_collect()
        .await
        .unwrap();
    let want = (1..=12)
        .flat_map(|k| (0..36).map(move |m| (k, m)))
        .filter(|(k, m)| dataset_visit(*k, *m).is_some_and(|v| v <= 300))
        .count();
    assert_eq!(count(less), want, "less is inclusive");
    let greater: Vec<Row> = datasets()
        .filter("monthly_visit", Op::Greater, "1200")
        .page_size(50)
        .rows()
        .try_collect()
        .await
        .unwrap();
    let want = (1..=12)
        .flat_map(|k| (0..36).map(move |m| (k, m)))
        .filter(|(k, m)| dataset_visit(*k, *m).is_some_and(|v| v >= 1200))
        .count();
    assert_eq!(count(greater), want, "greater is inclusive");
    let contains: Vec<Row> = datasets()
        .filter("metric_month", Op::Contains, "2023-0")
        .page_size(50)
        .rows()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(count(contains), 9 * 12, "contains");

    let mut csv = Vec::new();
    let summary = datasets()
        .filter("dataset_id", Op::Exact, dataset(5))
        .export(ExportFormat::Csv, &mut csv, ExportOptions::default())
        .await
        .unwrap();
    assert_eq!(summary.rows, 36);
    let mut reader = csv::Reader::from_reader(csv.as_slice());
    let visits: Vec<String> = reader.records().map(|r| r.unwrap()[4].to_owned()).collect();
    let want: Vec<String> = (0..36)
        .map(|m| {
            dataset_visit(5, m)
                .map(|v| v.to_string())
                .unwrap_or_default()
        })
        .collect();
    assert_eq!(visits, want, "CSV rows in month order");

    let json = datasets()
        .export(
            ExportFormat::Json,
            &mut Vec::new(),
            ExportOptions::default(),
        )
        .await
        .unwrap_err();
    assert!(json.to_string().contains("CSV only"), "{json}");
}
