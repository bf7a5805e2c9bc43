//! The bench server: the routes the scenarios use, with realistic payloads
//! and an injectable latency per response.
//!
//! | route | what |
//! | --- | --- |
//! | `GET /api/1/datasets/?page=N&page_size=S` | udata's dataset pages: 20,000 datasets replicated from udata's real fixture records (`data/datasets-page.json`), ids, slugs and resource ids unique per replica, absolute `next_page`/`previous_page` as udata writes them |
//! | `GET /api/1/site/` | udata's real `/site/` answer (`data/site.json`), the small GET |
//! | `GET /api/resources/{rid}/data/` | a Tabular page (`data`, `links`, `meta.total`) honouring `__id__greater`/`__id__less` (inclusive), the `strictly_` forms, `__id__sort`, `page`, `page_size` |
//! | `GET /api/resources/{rid}/data/csv/` | the CSV export of those rows, streamed, generated on the fly ([`crate::table`]); without a window the whole table in one answer (production caps an export at 50,000 rows: this is what lets `curl` show the limit of one stream) |
//! | `GET /api/resources/{rid}/profile/` | the table's profile (header) |
//! | `GET /files/big.bin` | a file of `download_bytes` bytes (1 GiB), streamed, with `Content-Length` |
//! | `POST /api/1/datasets/{id}/upload/` | udata's upload, plain or chunked (`uuid`, `filename`, `partindex`, `totalparts`, `chunksize`, `file`): bytes counted and discarded; `{"success": true}` per part, the resource on the assembling request |
//! | `PUT /api/1/datasets/{id}/resources/{rid}/` | a resource update (what the Python client sends after an upload): the resource |

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
    net::SocketAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use crate::table::{COLUMNS, HEADER, Table};

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
}

impl Default for Config {
    fn default() -> Self {
        Config {
            latency: Duration::ZERO,
            datasets: 20_000,
            rows: DEFAULT_ROWS,
            download_bytes: 1 << 30,
        }
    }
}

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
        .route("/api/resources/{rid}/data/", get(tabular_page))
        .route("/api/resources/{rid}/data/csv/", get(tabular_csv))
        .route("/api/resources/{rid}/profile/", get(tabular_profile))
        .route("/files/big.bin", get(big_file))
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
    next.run(request).await
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

/// A 400 answer with udata's and api-tabular's `message` and `errors`.
fn bad_request(message: String) -> Response {
    json_response(
        StatusCode::BAD_REQUEST,
        json!({"message": message, "errors": [message]}).to_string(),
    )
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
            "__id__sort" | "page" | "page_size" => {}
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
        Err(message) => return bad_request(message),
    };
    let (page, size) = match (number(&query, "page"), number(&query, "page_size")) {
        (Ok(page), Ok(size)) => (page.unwrap_or(1).max(1), size.unwrap_or(20).clamp(1, 50)),
        (Err(e), _) | (_, Err(e)) => return bad_request(e),
    };
    let total = (high + 1).saturating_sub(low);
    let skip = (page - 1) * size;
    let mut body = b"{\"data\":[".to_vec();
    for n in 0..size.min(total.saturating_sub(skip)) {
        let id = if descending {
            high - skip - n
        } else {
            low + skip + n
        };
        if n > 0 {
            body.push(b',');
        }
        state.table.write_json(id, &mut body);
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

async fn tabular_csv(
    State(state): State<Shared>,
    Path(rid): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let (low, high, _) = match id_range(&state, &query) {
        Ok(range) => range,
        Err(message) => return bad_request(message),
    };
    const CHUNK: usize = 256 * 1024;
    let body = futures::stream::unfold((low, true), move |(next, first)| {
        let state = state.clone();
        async move {
            if !first && next > high {
                return None;
            }
            let mut buf = Vec::with_capacity(CHUNK + 1024);
            if first {
                buf.extend_from_slice(HEADER.as_bytes());
            }
            let after = state.table.write_csv(next, high, &mut buf, CHUNK);
            Some((
                Ok::<_, std::convert::Infallible>(Bytes::from(buf)),
                (after, false),
            ))
        }
    });
    let disposition = format!("attachment; filename=\"{rid}.csv\"");
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("text/csv")),
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

async fn tabular_profile(State(state): State<Shared>) -> Response {
    let body = json!({
        "profile": {"header": COLUMNS, "total_lines": state.table.rows()},
    });
    json_response(StatusCode::OK, body.to_string())
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
    fn replicas_have_unique_ids_and_slugs_and_decode_as_udata_datasets() {
        let datasets = replicate_datasets(60);
        let mut ids = std::collections::HashSet::new();
        let mut slugs = std::collections::HashSet::new();
        for raw in &datasets {
            let value: datagouv::main_api::v1::types::DatasetRead =
                serde_json::from_slice(raw).expect("a replica decodes");
            assert!(ids.insert(value.id.expect("an id")));
            assert!(slugs.insert(value.slug.expect("a slug")));
        }
    }
}
