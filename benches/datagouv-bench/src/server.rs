//! The bench server: the routes the scenarios use, with realistic payloads
//! and an injectable latency per response.
//!
//! | route | what |
//! | --- | --- |
//! | `GET /api/1/datasets/?page=N&page_size=S` | udata's dataset pages: 20,000 datasets replicated from udata's real fixture records (`data/datasets-page.json`), ids, slugs and resource ids unique per replica, absolute `next_page`/`previous_page` as udata writes them |
//! | `GET /api/1/site/` | udata's real `/site/` answer (`data/site.json`), the small GET |
//! | `GET /api/resources/{rid}/` | the resource's metadata (`created_at`, `url`, `links`), as api-tabular's `meta` route |
//! | `GET /api/resources/{rid}/data/` | a Tabular page (`data`, `links`, `meta.total`) honouring `__id__greater`/`__id__less` (inclusive), the `strictly_` forms, `__id__exact`, `__id__sort`, `columns`, `page`, `page_size` (over 50: api-tabular's 400) |
//! | `GET /api/resources/{rid}/data/csv/` | the CSV export of those rows, streamed, generated on the fly ([`crate::table`]) |
//! | `GET /api/resources/{rid}/data/json/` | the JSON export of those rows, streamed |
//! | `GET /api/resources/{rid}/profile/` | the table's profile: header, csv_detective's type and format of each column, line count |
//! | `GET /files/big.bin` | a file of `download_bytes` bytes (1 GiB), streamed, with `Content-Length` |
//! | `POST /api/1/datasets/{id}/upload/` | udata's upload, plain or chunked (`uuid`, `filename`, `partindex`, `totalparts`, `chunksize`, `file`): bytes counted and discarded; `{"success": true}` per part, the resource on the assembling request |
//! | `PUT /api/1/datasets/{id}/resources/{rid}/` | a resource update (what the Python client sends after an upload): the resource |
//!
//! **The exports behave as api-tabular 0.4.1's** (checked against the local
//! one of `tests/stack`): a query matching more than [`EXPORT_CAP`] (50,000)
//! rows is refused before anything is streamed, with its 403 and its body,
//! byte for byte ([`TOO_LONG`]); nothing serves a whole large table in one
//! answer, so every client (the SDK, the `requests` loop, `curl`) fetches the
//! same `__id` windows. As there, the CSV is the header (`__id` first), one
//! line per row and the one `\n` api-tabular appends after PostgREST's body
//! (an empty export is `\n\n`); the JSON is PostgreSQL's `json_agg` layout,
//! `[{…}, \n {…}]`, then that `\n` (empty: `[]\n`). What differs: the rows
//! are generated, not read from PostgreSQL (so the server is never what a
//! client waits for); only `__id` can be filtered or sorted on (another
//! column is a 400 naming it), so the keyset windows of a large sorted
//! export need the real server (`scripts/bench.sh` measures them there);
//! the errors of the other routes keep udata's `message` shape.

use axum::{
    Json, Router,
    body::Body,
    extract::{DefaultBodyLimit, Multipart, Path, Query, Request, State},
    http::{HeaderValue, StatusCode, header},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::{get, post, put},
    serve::ListenerExt,
};
use bytes::Bytes;
use serde_json::{Value, json};
use std::{
    collections::HashMap,
    io::Write as _,
    net::SocketAddr,
    path::PathBuf,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use crate::table::{COLUMN_TYPES, COLUMNS, HEADER, Table};

/// The most rows api-tabular exports in one answer (its `BATCH_SIZE`).
pub const EXPORT_CAP: u64 = 50_000;

/// api-tabular's answer to an export over [`EXPORT_CAP`] rows (403), as its
/// `QueryException` writes it (Python's `json.dumps`).
pub const TOO_LONG: &str = r#"{"errors": [{"code": null, "title": "Output is too long", "detail": "The output has more than 50000 rows, please consider downloading the source file directly"}]}"#;

/// api-tabular's largest `page_size`.
pub const PAGE_SIZE_MAX: u64 = 50;

/// udata's real fixture records, one page as the local udata served it
/// (origin rewritten to production's).
pub const DATASETS_SAMPLE: &str = include_str!("../data/datasets-page.json");
/// udata's real `/api/1/site/` answer.
pub const SITE_SAMPLE: &str = include_str!("../data/site.json");

/// What the server serves.
#[derive(Clone, Debug)]
pub struct Config {
    /// Slept before every answer.
    pub latency: Duration,
    /// Datasets in `/api/1/datasets/`.
    pub datasets: usize,
    /// Rows of the Tabular table.
    pub rows: u64,
    /// Bytes of `/files/big.bin`.
    pub download_bytes: u64,
    /// Where to append one line per request answered (`GET /path?query
    /// STATUS`), to see what a client asked for; none by default.
    pub request_log: Option<PathBuf>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            latency: Duration::ZERO,
            datasets: 20_000,
            rows: DEFAULT_ROWS,
            download_bytes: 1 << 30,
            request_log: None,
        }
    }
}

/// The dataset the sync scenario mirrors: [`SYNC_FILES`] resources of 1 MiB
/// that the server hosts (catalog checksum, `ETag`, `Last-Modified`).
pub const SYNC_DATASET: &str = "b00000000000000000000002";
/// Resources of [`SYNC_DATASET`].
pub const SYNC_FILES: usize = 100;

/// Rows of the default table: its CSV export is about 1 GB.
pub const DEFAULT_ROWS: u64 = 8_460_000;

struct AppState {
    base: String,
    latency: Duration,
    datasets: Vec<Bytes>,
    site: Bytes,
    table: Table,
    block: Bytes,
    download_bytes: u64,
    uploads: Mutex<HashMap<String, u64>>,
    created: AtomicU64,
    /// The resources uploads created (small JSON), for the update that follows.
    resources: Mutex<HashMap<String, Value>>,
    request_log: Option<Mutex<std::fs::File>>,
}

type Shared = Arc<AppState>;

/// Binds 127.0.0.1:`port` (0: a free port) and returns the address and the
/// future that serves until `shutdown` resolves.
pub async fn bind(
    config: Config,
    port: u16,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<(SocketAddr, impl Future<Output = std::io::Result<()>>)> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    let addr = listener.local_addr()?;
    let base = format!("http://{addr}");
    let request_log = match &config.request_log {
        Some(path) => Some(Mutex::new(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)?,
        )),
        None => None,
    };
    let state = Arc::new(AppState {
        datasets: replicate_datasets(config.datasets),
        site: Bytes::from_static(SITE_SAMPLE.trim_end().as_bytes()),
        table: Table::new(config.rows),
        block: one_mebibyte(),
        download_bytes: config.download_bytes,
        uploads: Mutex::new(HashMap::new()),
        created: AtomicU64::new(0),
        resources: Mutex::new(HashMap::new()),
        latency: config.latency,
        request_log,
        base,
    });
    let app = router(state);
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    let serve = axum::serve(listener, app).with_graceful_shutdown(shutdown);
    Ok((addr, async move { serve.await }))
}

fn router(state: Shared) -> Router {
    Router::new()
        .route("/api/1/datasets/", get(datasets))
        .route("/api/1/site/", get(site))
        .route("/api/resources/{rid}/", get(tabular_meta))
        .route("/api/resources/{rid}/data/", get(tabular_page))
        .route("/api/resources/{rid}/data/csv/", get(tabular_csv))
        .route("/api/resources/{rid}/data/json/", get(tabular_json))
        .route("/api/resources/{rid}/profile/", get(tabular_profile))
        .route("/files/big.bin", get(big_file))
        .route("/api/1/datasets/{id}/", get(dataset))
        .route("/files/sync/{name}", get(sync_file))
        .route("/api/1/datasets/{id}/upload/", post(upload))
        .route(
            "/api/1/datasets/{id}/resources/{rid}/",
            put(update_resource),
        )
        .layer(DefaultBodyLimit::disable())
        .layer(middleware::from_fn_with_state(state.clone(), latency))
        .with_state(state)
}

async fn latency(State(state): State<Shared>, request: Request, next: Next) -> Response {
    if !state.latency.is_zero() {
        tokio::time::sleep(state.latency).await;
    }
    let Some(log) = &state.request_log else {
        return next.run(request).await;
    };
    let asked = format!("{} {}", request.method(), request.uri());
    let response = next.run(request).await;
    let line = format!("{asked} {}\n", response.status().as_u16());
    let _ = log
        .lock()
        .expect("no panic holds the lock")
        .write_all(line.as_bytes());
    response
}

/// `count` datasets: udata's fixture records in turn, each replica with its
/// own dataset id, slug and resource ids (everywhere they appear in it).
fn replicate_datasets(count: usize) -> Vec<Bytes> {
    let page: Value = serde_json::from_str(DATASETS_SAMPLE).expect("the sample is JSON");
    let records = page["data"].as_array().expect("the sample has data");
    assert!(!records.is_empty(), "the sample has no dataset");
    let originals: Vec<(String, Vec<(String, String)>)> = records
        .iter()
        .map(|record| {
            let text = serde_json::to_string(record).expect("a record serialises");
            let mut ids = vec![
                ("id", record["id"].as_str().unwrap_or_default().to_owned()),
                (
                    "slug",
                    record["slug"].as_str().unwrap_or_default().to_owned(),
                ),
            ];
            for resource in record["resources"].as_array().into_iter().flatten() {
                ids.push((
                    "rid",
                    resource["id"].as_str().unwrap_or_default().to_owned(),
                ));
            }
            let ids = ids
                .into_iter()
                .filter(|(_, v)| !v.is_empty())
                .map(|(k, v)| (k.to_owned(), v))
                .collect();
            (text, ids)
        })
        .collect();
    (0..count)
        .map(|n| {
            let (text, ids) = &originals[n % originals.len()];
            let mut text = text.clone();
            for (index, (kind, old)) in ids.iter().enumerate() {
                let new = match kind.as_str() {
                    // 24 hex digits, like udata's ObjectIds.
                    "id" => format!("{}{n:08x}", &old[..old.len().saturating_sub(8).min(16)]),
                    "slug" => format!("{old}-{n}"),
                    // UUIDs: the last group made of the replica and resource index.
                    _ => format!("{}{n:08x}{index:04x}", &old[..old.len().saturating_sub(12)]),
                };
                for (before, after) in [("\"", "\""), ("/", "/"), ("/", "\"")] {
                    text = text.replace(
                        &format!("{before}{old}{after}"),
                        &format!("{before}{new}{after}"),
                    );
                }
            }
            Bytes::from(text)
        })
        .collect()
}

fn one_mebibyte() -> Bytes {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut block = vec![0u8; 1 << 20];
    for chunk in block.chunks_mut(8) {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        chunk.copy_from_slice(&state.to_le_bytes()[..chunk.len()]);
    }
    Bytes::from(block)
}

fn json_response(status: StatusCode, body: impl Into<Body>) -> Response {
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body.into(),
    )
        .into_response()
}

/// A 400 answer in udata's shape (`message`, and `errors` for good measure).
fn bad_request(message: String) -> Response {
    json_response(
        StatusCode::BAD_REQUEST,
        json!({"message": message, "errors": [message]}).to_string(),
    )
}

/// An api-tabular error answer: `{"errors": [{"code": null, "title": …,
/// "detail": …}]}`, as its `QueryException` writes it.
fn tabular_error(status: StatusCode, title: &str, detail: &str) -> Response {
    // Python's json.dumps layout (", " and ": " separators, keys in order).
    let text = format!(
        r#"{{"errors": [{{"code": null, "title": {}, "detail": {}}}]}}"#,
        Value::from(title),
        Value::from(detail)
    );
    json_response(status, text)
}

fn invalid_query(detail: &str) -> Response {
    tabular_error(StatusCode::BAD_REQUEST, "Invalid query string", detail)
}

fn number(query: &HashMap<String, String>, key: &str) -> Result<Option<u64>, String> {
    match query.get(key) {
        None => Ok(None),
        Some(text) => text
            .parse()
            .map(Some)
            .map_err(|_| format!("`{key}` must be a number, not `{text}`")),
    }
}

async fn datasets(
    State(state): State<Shared>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let (page, size) = match (number(&query, "page"), number(&query, "page_size")) {
        (Ok(page), Ok(size)) => (page.unwrap_or(1).max(1), size.unwrap_or(20).clamp(1, 1000)),
        (Err(e), _) | (_, Err(e)) => return bad_request(e),
    };
    let total = state.datasets.len() as u64;
    let start = ((page - 1) * size).min(total) as usize;
    let end = (page * size).min(total) as usize;
    let items = &state.datasets[start..end];
    let mut body = Vec::with_capacity(items.iter().map(|i| i.len() + 1).sum::<usize>() + 512);
    body.extend_from_slice(b"{\"data\":[");
    for (n, item) in items.iter().enumerate() {
        if n > 0 {
            body.push(b',');
        }
        body.extend_from_slice(item);
    }
    let link = |p: u64| {
        Value::from(format!(
            "{}/api/1/datasets/?page={p}&page_size={size}",
            state.base
        ))
    };
    let next = if (end as u64) < total {
        link(page + 1)
    } else {
        Value::Null
    };
    let previous = if page > 1 {
        link(page - 1)
    } else {
        Value::Null
    };
    body.extend_from_slice(
        format!(
            "],\"next_page\":{next},\"page\":{page},\"page_size\":{size},\"previous_page\":{previous},\"total\":{total}}}"
        )
        .as_bytes(),
    );
    json_response(StatusCode::OK, body)
}

async fn site(State(state): State<Shared>) -> Response {
    json_response(StatusCode::OK, state.site.clone())
}

/// The `__id` range a Tabular query selects (inclusive), and whether it
/// is descending.
fn id_range(state: &AppState, query: &HashMap<String, String>) -> Result<(u64, u64, bool), String> {
    let mut low = 1u64;
    let mut high = state.table.rows();
    for (key, value) in query {
        let bound = || -> Result<u64, String> {
            value
                .parse()
                .map_err(|_| format!("invalid value for {key}: {value}"))
        };
        match key.as_str() {
            "__id__greater" => low = low.max(bound()?),
            "__id__strictly_greater" => low = low.max(bound()?.saturating_add(1)),
            "__id__less" => high = high.min(bound()?),
            "__id__strictly_less" => high = high.min(bound()?.saturating_sub(1)),
            "__id__exact" => {
                let id = bound()?;
                low = low.max(id);
                high = high.min(id);
            }
            "__id__sort" | "page" | "page_size" | "columns" => {}
            other => {
                return Err(format!("the bench server does not filter on `{other}`"));
            }
        }
    }
    let descending = query.get("__id__sort").is_some_and(|o| o == "desc");
    Ok((low, high, descending))
}

async fn tabular_page(
    State(state): State<Shared>,
    Path(rid): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let (low, high, descending) = match id_range(&state, &query) {
        Ok(range) => range,
        Err(message) => return invalid_query(&message),
    };
    let (page, size) = match (number(&query, "page"), number(&query, "page_size")) {
        (Ok(_), Ok(Some(size))) if size > PAGE_SIZE_MAX => {
            return invalid_query(&format!(
                "Page size exceeds allowed maximum: {PAGE_SIZE_MAX}"
            ));
        }
        (Ok(page), Ok(size)) => (page.unwrap_or(1).max(1), size.unwrap_or(20).max(1)),
        (Err(e), _) | (_, Err(e)) => return invalid_query(&e),
    };
    // `columns=a,b`: those columns only, in that order.
    let columns: Option<Vec<&str>> = query.get("columns").map(|c| c.split(',').collect());
    if let Some(unknown) = columns
        .iter()
        .flatten()
        .find(|c| **c != "__id" && !COLUMNS.contains(c))
    {
        return tabular_error(
            StatusCode::BAD_REQUEST,
            "Database error",
            &format!("column {unknown} does not exist"),
        );
    }
    let total = (high + 1).saturating_sub(low);
    let skip = (page - 1) * size;
    let mut body = b"{\"data\":[".to_vec();
    let mut row = Vec::new();
    for n in 0..size.min(total.saturating_sub(skip)) {
        let id = if descending {
            high - skip - n
        } else {
            low + skip + n
        };
        if n > 0 {
            body.push(b',');
        }
        match &columns {
            None => state.table.write_json(id, &mut body),
            Some(columns) => {
                row.clear();
                state.table.write_json(id, &mut row);
                let full: serde_json::Map<String, Value> =
                    serde_json::from_slice(&row).expect("a generated row is JSON");
                let mut selected = serde_json::Map::new();
                for column in columns {
                    selected.insert((*column).to_owned(), full[*column].clone());
                }
                body.extend_from_slice(Value::Object(selected).to_string().as_bytes());
            }
        }
    }
    let resource = format!("{}/api/resources/{rid}", state.base);
    let next = if skip + size < total {
        Value::from(format!(
            "{resource}/data/?page={}&page_size={size}",
            page + 1
        ))
    } else {
        Value::Null
    };
    let links = json!({
        "profile": format!("{resource}/profile/"),
        "swagger": format!("{resource}/swagger/"),
        "next": next,
        "prev": Value::Null,
    });
    body.extend_from_slice(
        format!(
            "],\"links\":{links},\"meta\":{{\"page\":{page},\"page_size\":{size},\"total\":{total}}}}}"
        )
        .as_bytes(),
    );
    json_response(StatusCode::OK, body)
}

/// The two export formats of api-tabular.
#[derive(Clone, Copy)]
enum Export {
    Csv,
    Json,
}

async fn tabular_csv(
    State(state): State<Shared>,
    Path(rid): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    tabular_export(state, &rid, &query, Export::Csv)
}

async fn tabular_json(
    State(state): State<Shared>,
    Path(rid): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    tabular_export(state, &rid, &query, Export::Json)
}

/// An export as api-tabular streams it: counted first, refused over
/// [`EXPORT_CAP`] rows (403 [`TOO_LONG`]), else the rows in 256 KiB chunks
/// and the final `\n` api-tabular appends.
fn tabular_export(
    state: Shared,
    rid: &str,
    query: &HashMap<String, String>,
    format: Export,
) -> Response {
    let (low, high, descending) = match id_range(&state, query) {
        Ok(range) => range,
        Err(message) => return invalid_query(&message),
    };
    if query.contains_key("columns") {
        return invalid_query("the bench server does not select columns in an export");
    }
    if (high + 1).saturating_sub(low) > EXPORT_CAP {
        return json_response(StatusCode::FORBIDDEN, TOO_LONG);
    }
    const CHUNK: usize = 256 * 1024;
    // The ids still to send: `next`, then `left - 1` more, going up (or
    // down with `__id__sort=desc`).
    let left = (high + 1).saturating_sub(low);
    let next = if descending { high } else { low };
    let body = futures::stream::unfold((next, left, true), move |(mut next, mut left, first)| {
        let state = state.clone();
        async move {
            if left == 0 && !first {
                return None;
            }
            let mut buf = Vec::with_capacity(CHUNK + 2048);
            match format {
                // PostgREST sends nothing for no row; api-tabular adds `\n`.
                Export::Csv if left == 0 => buf.extend_from_slice(b"\n\n"),
                Export::Json if left == 0 => buf.extend_from_slice(b"[]\n"),
                // Every row ends with `\n`: the last one's is api-tabular's.
                Export::Csv if !descending => {
                    if first {
                        buf.extend_from_slice(HEADER.as_bytes());
                    }
                    let after = state
                        .table
                        .write_csv(next, next + left - 1, &mut buf, CHUNK);
                    left -= after - next;
                    next = after;
                }
                Export::Csv => {
                    if first {
                        buf.extend_from_slice(HEADER.as_bytes());
                    }
                    while left > 0 && buf.len() < CHUNK {
                        state.table.write_csv(next, next, &mut buf, usize::MAX);
                        (next, left) = (next.saturating_sub(1), left - 1);
                    }
                }
                Export::Json => {
                    if first {
                        buf.push(b'[');
                    }
                    while left > 0 && buf.len() < CHUNK {
                        state.table.write_json(next, &mut buf);
                        left -= 1;
                        next = if descending {
                            next.saturating_sub(1)
                        } else {
                            next + 1
                        };
                        buf.extend_from_slice(if left > 0 { b", \n " } else { b"]\n" });
                    }
                }
            }
            Some((
                Ok::<_, std::convert::Infallible>(Bytes::from(buf)),
                (next, left, false),
            ))
        }
    });
    let (extension, mime) = match format {
        Export::Csv => ("csv", "text/csv"),
        Export::Json => ("json", "application/json"),
    };
    let disposition = format!("attachment; filename=\"{rid}.{extension}\"");
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(mime)),
            (
                header::CONTENT_DISPOSITION,
                HeaderValue::from_str(&disposition)
                    .unwrap_or(HeaderValue::from_static("attachment")),
            ),
        ],
        Body::from_stream(body),
    )
        .into_response()
}

/// api-tabular's `meta` answer: when the table was made (what a resumed
/// export checks), the source file, the links.
async fn tabular_meta(State(state): State<Shared>, Path(rid): Path<String>) -> Response {
    let resource = format!("{}/api/resources/{rid}", state.base);
    let link = |rel: &str, path: &str| json!({"href": format!("{resource}/{path}"), "type": "GET", "rel": rel});
    let body = json!({
        "created_at": "2024-05-02T14:00:00+00:00",
        "url": format!("https://static.data.gouv.fr/resources/bench/{rid}.csv"),
        "links": [link("profile", "profile/"), link("data", "data/"), link("swagger", "swagger/")],
    });
    json_response(StatusCode::OK, body.to_string())
}

/// The profile as api-tabular serves it (hydra's csv_detective analysis,
/// reduced to what clients read: header, column types, line count).
async fn tabular_profile(State(state): State<Shared>) -> Response {
    let columns: serde_json::Map<String, Value> = COLUMNS
        .iter()
        .zip(COLUMN_TYPES)
        .map(|(name, (python_type, format))| {
            let detail = json!({"python_type": python_type, "format": format, "score": 1.0});
            ((*name).to_owned(), detail)
        })
        .collect();
    let body = json!({
        "profile": {"header": COLUMNS, "columns": columns, "total_lines": state.table.rows()},
        "deleted_at": null,
        "dataset_id": crate::BENCH_DATASET_ID,
        "indexes": null,
    });
    json_response(StatusCode::OK, body.to_string())
}

/// `GET /api/1/datasets/{id}/`: the sync scenario's dataset, as udata
/// answers it (the fields it guarantees, 100 hosted resources).
async fn dataset(State(state): State<Shared>, Path(id): Path<String>) -> Response {
    if id != SYNC_DATASET {
        return (StatusCode::NOT_FOUND, Json(json!({"message": "Not Found"}))).into_response();
    }
    let checksum = sha1_hex(&state.block);
    let when = "2026-01-01T00:00:00+00:00";
    let resources: Vec<Value> = (0..SYNC_FILES)
        .map(|i| {
            let rid = format!("b3000000-0000-4000-8000-{i:012x}");
            json!({
                "id": rid, "title": format!("part-{i:03}.bin"), "type": "main", "filetype": "file",
                "format": "bin", "mime": "application/octet-stream", "filesize": state.block.len(),
                "checksum": {"type": "sha1", "value": checksum},
                "url": format!("{}/files/sync/part-{i:03}.bin", state.base),
                "latest": format!("{}/api/1/datasets/r/{rid}", state.base),
                "created_at": when, "last_modified": when,
                "internal": {"created_at_internal": when, "last_modified_internal": when},
            })
        })
        .collect();
    Json(json!({
        "id": SYNC_DATASET, "title": "Sync bench", "slug": "sync-bench", "description": "",
        "created_at": when, "last_modified": when, "last_update": when, "featured": false,
        "private": false, "license": "lov2", "frequency": "unknown", "access_type": "open",
        "tags": [], "badges": [], "contact_points": [], "access_audiences": [],
        "uri": format!("{}/api/1/datasets/{SYNC_DATASET}/", state.base),
        "internal": {"created_at_internal": when, "last_modified_internal": when},
        "organization": null, "owner": null,
        "resources": resources,
    }))
    .into_response()
}

/// `GET /files/sync/{name}`: 1 MiB with `ETag` and `Last-Modified`.
async fn sync_file(State(state): State<Shared>) -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/octet-stream"),
            ),
            (header::ETAG, HeaderValue::from_static("\"sync-v1\"")),
            (
                header::LAST_MODIFIED,
                HeaderValue::from_static("Thu, 01 Jan 2026 00:00:00 GMT"),
            ),
        ],
        state.block.clone(),
    )
        .into_response()
}

fn sha1_hex(bytes: &[u8]) -> String {
    use sha1::Digest;
    sha1::Sha1::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

async fn big_file(State(state): State<Shared>) -> Response {
    let size = state.download_bytes;
    let block = state.block.clone();
    let body = futures::stream::unfold(0u64, move |sent| {
        let block = block.clone();
        async move {
            if sent >= size {
                return None;
            }
            let take = (size - sent).min(block.len() as u64) as usize;
            Some((
                Ok::<_, std::convert::Infallible>(block.slice(..take)),
                sent + take as u64,
            ))
        }
    });
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/octet-stream"),
            ),
            (header::CONTENT_LENGTH, HeaderValue::from(size)),
        ],
        Body::from_stream(body),
    )
        .into_response()
}

fn resource_json(state: &AppState, title: &str, filesize: u64) -> Value {
    let n = state.created.fetch_add(1, Ordering::Relaxed);
    let id = format!("b1000000-0000-4000-8000-{n:012x}");
    let resource = json!({
        "id": id,
        "title": title,
        "filesize": filesize,
        "filetype": "file",
        "type": "main",
        "format": title.rsplit_once('.').map_or("bin", |(_, ext)| ext),
        "mime": "application/octet-stream",
        "url": format!("{}/files/{id}/{title}", state.base),
        // What udata's resource answers always carry (the guaranteed fields
        // of specs/overlay/main-common.yaml).
        "latest": format!("{}/api/1/datasets/r/{id}", state.base),
        "created_at": "2026-01-01T00:00:00+00:00",
        "last_modified": "2026-01-01T00:00:00+00:00",
        "internal": {
            "created_at_internal": "2026-01-01T00:00:00+00:00",
            "last_modified_internal": "2026-01-01T00:00:00+00:00",
        },
    });
    state
        .resources
        .lock()
        .expect("no panic holds the lock")
        .insert(id, resource.clone());
    resource
}

async fn upload(
    State(state): State<Shared>,
    Path(_dataset): Path<String>,
    mut form: Multipart,
) -> Response {
    let mut fields = HashMap::new();
    let mut file: Option<(String, u64)> = None;
    loop {
        let field = match form.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => break,
            Err(e) => return (e.status(), e.body_text()).into_response(),
        };
        let name = field.name().unwrap_or_default().to_owned();
        if name == "file" {
            let file_name = field.file_name().unwrap_or("file").to_owned();
            let mut field = field;
            let mut bytes = 0u64;
            loop {
                match field.chunk().await {
                    Ok(Some(chunk)) => bytes += chunk.len() as u64,
                    Ok(None) => break,
                    Err(e) => return (e.status(), e.body_text()).into_response(),
                }
            }
            file = Some((file_name, bytes));
        } else {
            match field.text().await {
                Ok(text) => {
                    fields.insert(name, text);
                }
                Err(e) => return (e.status(), e.body_text()).into_response(),
            }
        }
    }
    let bad = |message: &str| {
        json_response(
            StatusCode::BAD_REQUEST,
            json!({ "message": message }).to_string(),
        )
    };
    match (file, fields.get("uuid")) {
        // A part of a chunked upload.
        (Some((_, bytes)), Some(uuid)) => {
            *state
                .uploads
                .lock()
                .expect("no panic holds the lock")
                .entry(uuid.clone())
                .or_default() += bytes;
            json_response(StatusCode::OK, r#"{"success": true}"#)
        }
        // The assembling request.
        (None, Some(uuid)) => {
            let received = state
                .uploads
                .lock()
                .expect("no panic holds the lock")
                .remove(uuid);
            let Some(bytes) = received else {
                return bad("no part of this upload was received");
            };
            let title = fields.get("filename").map_or("file", String::as_str);
            json_response(
                StatusCode::CREATED,
                resource_json(&state, title, bytes).to_string(),
            )
        }
        // A plain upload.
        (Some((name, bytes)), None) => json_response(
            StatusCode::CREATED,
            resource_json(&state, &name, bytes).to_string(),
        ),
        (None, None) => bad("the form has no file"),
    }
}

async fn update_resource(
    State(state): State<Shared>,
    Path((_dataset, rid)): Path<(String, String)>,
    Json(payload): Json<Value>,
) -> Response {
    let mut resources = state.resources.lock().expect("no panic holds the lock");
    let Some(resource) = resources.get_mut(&rid) else {
        return json_response(
            StatusCode::NOT_FOUND,
            json!({"message": "Resource not found"}).to_string(),
        );
    };
    if let (Some(resource), Some(changes)) = (resource.as_object_mut(), payload.as_object()) {
        for (key, value) in changes {
            if key != "id" {
                resource.insert(key.clone(), value.clone());
            }
        }
    }
    json_response(StatusCode::OK, resource.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_too_long_body_is_api_tabulars() {
        let detail = format!(
            "The output has more than {EXPORT_CAP} rows, please consider downloading the source file directly"
        );
        let text = format!(
            r#"{{"errors": [{{"code": null, "title": "Output is too long", "detail": {}}}]}}"#,
            Value::from(detail)
        );
        assert_eq!(text, TOO_LONG);
    }

    #[test]
    fn replicas_have_unique_ids_and_slugs_and_decode_as_udata_datasets() {
        let datasets = replicate_datasets(60);
        let mut ids = std::collections::HashSet::new();
        let mut slugs = std::collections::HashSet::new();
        for raw in &datasets {
            let value: datagouv::main_api::v1::types::DatasetRead =
                serde_json::from_slice(raw).expect("a replica decodes");
            assert!(ids.insert(value.id));
            assert!(slugs.insert(value.slug));
        }
    }

    /// Serves a small table on a free port for the length of a test.
    async fn serve(rows: u64) -> String {
        let config = Config {
            datasets: 20,
            rows,
            download_bytes: 1024,
            ..Config::default()
        };
        let (addr, serve) = bind(config, 0, std::future::pending::<()>())
            .await
            .expect("the bench server binds");
        tokio::spawn(serve);
        format!("http://{addr}/api/resources/{}", crate::BENCH_RESOURCE_ID)
    }

    async fn get(url: String) -> (u16, String) {
        let response = reqwest::get(url).await.expect("the server answers");
        let status = response.status().as_u16();
        (status, response.text().await.expect("a text body"))
    }

    #[tokio::test]
    async fn exports_over_the_cap_are_refused_as_api_tabular_does() {
        let base = serve(EXPORT_CAP + 20).await;
        for format in ["csv", "json"] {
            let (status, body) = get(format!("{base}/data/{format}/")).await;
            assert_eq!((status, body.as_str()), (403, TOO_LONG), "{format}");
            let (status, _) = get(format!("{base}/data/{format}/?__id__greater=2")).await;
            assert_eq!(status, 403, "{format}: 50,019 rows");
        }
        // What the SDK asks before the windows: the count, the first and last `__id`.
        let (status, page) = get(format!("{base}/data/?page_size=1")).await;
        let page: Value = serde_json::from_str(&page).unwrap();
        assert_eq!(
            (status, page["meta"]["total"].as_u64()),
            (200, Some(EXPORT_CAP + 20))
        );
        let (_, last) = get(format!("{base}/data/?__id__sort=desc&page_size=1")).await;
        let last: Value = serde_json::from_str(&last).unwrap();
        assert_eq!(last["data"][0]["__id"], EXPORT_CAP + 20);
        let (_, first) = get(format!(
            "{base}/data/?columns=__id&__id__sort=asc&page_size=1"
        ))
        .await;
        assert!(first.starts_with(r#"{"data":[{"__id":1}],"#), "{first}");
        // The profile types every column, as csv_detective does.
        let (_, profile) = get(format!("{base}/profile/")).await;
        let profile: Value = serde_json::from_str(&profile).unwrap();
        assert_eq!(
            profile["profile"]["header"].as_array().unwrap().len(),
            COLUMNS.len()
        );
        assert_eq!(
            profile["profile"]["columns"]["surface_reelle_bati"]["python_type"],
            "int"
        );
        let (status, body) = get(format!("{base}/data/?page_size=51")).await;
        assert_eq!(status, 400, "{body}");
        assert!(
            body.contains("Page size exceeds allowed maximum: 50"),
            "{body}"
        );

        // A window of exactly the cap: the header, one line per row, no blank line.
        let (status, csv) = get(format!(
            "{base}/data/csv/?__id__greater=1&__id__less={EXPORT_CAP}"
        ))
        .await;
        assert_eq!(status, 200);
        assert_eq!(csv.len() as u64, Table::new(1).csv_bytes(1, EXPORT_CAP));
        assert!(csv.starts_with(HEADER) && csv.ends_with("\n") && !csv.ends_with("\n\n"));
        assert_eq!(csv.lines().count() as u64, EXPORT_CAP + 1);

        // JSON: PostgreSQL's json_agg layout and api-tabular's final newline.
        let (status, json) = get(format!(
            "{base}/data/json/?__id__greater={}&__id__less={}",
            EXPORT_CAP + 1,
            EXPORT_CAP + 3
        ))
        .await;
        assert_eq!(status, 200);
        assert!(
            json.starts_with("[{\"__id\":50001,") && json.ends_with("}]\n"),
            "{json}"
        );
        assert_eq!(json.matches("}, \n {").count(), 2, "{json}");
        let rows: Vec<Value> = serde_json::from_str(&json).unwrap();
        assert_eq!(rows.len(), 3);

        // No row: what api-tabular sends.
        let empty = format!("{base}/data/csv/?__id__greater=9&__id__less=8");
        assert_eq!(get(empty).await, (200, "\n\n".to_owned()));
        let empty = format!("{base}/data/json/?__id__greater=9&__id__less=8");
        assert_eq!(get(empty).await, (200, "[]\n".to_owned()));
    }
}
