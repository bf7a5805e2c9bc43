//! A static file host for the SQL engine's tests: `HEAD`, `GET` and byte
//! ranges, counting what it served, refusing any request that carries the
//! API key (a file host is not an API origin).

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use axum::{
    Router,
    body::Body,
    extract::State,
    http::{HeaderMap, Method, StatusCode, Uri, header},
    response::Response,
};

// ---------------------------------------------------------------- the host

/// What the host served: requests (method, path, range) and body bytes.
#[derive(Default)]
pub struct Served {
    pub requests: Vec<(String, String, Option<String>)>,
    bytes: u64,
}

#[derive(Clone, Default)]
pub struct Hosted {
    files: Arc<Mutex<HashMap<String, Vec<u8>>>>,
    pub served: Arc<Mutex<Served>>,
}

pub struct Host {
    pub url: String,
    pub hosted: Hosted,
}

impl Host {
    pub async fn start() -> Host {
        let hosted = Hosted::default();
        let app = Router::new().fallback(serve).with_state(hosted.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Host { url, hosted }
    }

    /// Serves `body` at `/path`; returns its URL.
    pub fn put(&self, path: &str, body: Vec<u8>) -> String {
        self.hosted
            .files
            .lock()
            .unwrap()
            .insert(format!("/{path}"), body);
        format!("{}/{path}", self.url)
    }

    pub fn bytes(&self) -> u64 {
        self.hosted.served.lock().unwrap().bytes
    }

    pub fn requests(&self) -> usize {
        self.hosted.served.lock().unwrap().requests.len()
    }

    pub fn ranges(&self) -> Vec<Option<String>> {
        let served = self.hosted.served.lock().unwrap();
        served.requests.iter().map(|r| r.2.clone()).collect()
    }
}

/// A static file host: `HEAD`, `GET`, `Range: bytes=a-b`, `a-`, `-n`.
async fn serve(
    State(hosted): State<Hosted>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let range = headers
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let mut served = hosted.served.lock().unwrap();
    served
        .requests
        .push((method.to_string(), uri.path().to_owned(), range.clone()));
    // The host is not an API origin: the API key must never reach it.
    if headers.contains_key("x-api-key") {
        return Response::builder()
            .status(StatusCode::IM_A_TEAPOT)
            .body(Body::from("the API key was sent to a file host"))
            .unwrap();
    }
    let files = hosted.files.lock().unwrap();
    let Some(body) = files.get(uri.path()) else {
        return Response::builder()
            .status(StatusCode::NOT_FOUND)
            .body(Body::empty())
            .unwrap();
    };
    let len = body.len() as u64;
    let span = range.as_deref().and_then(|r| {
        let (start, end) = r.strip_prefix("bytes=")?.split_once('-')?;
        match (start, end) {
            ("", n) => Some((len.saturating_sub(n.parse().ok()?), len - 1)),
            (a, "") => Some((a.parse().ok()?, len - 1)),
            (a, b) => Some((a.parse().ok()?, b.parse::<u64>().ok()?.min(len - 1))),
        }
    });
    let mut response = Response::builder()
        .header(header::ACCEPT_RANGES, "bytes")
        .header(header::ETAG, "\"v1\"");
    let bytes = match span {
        Some((start, end)) => {
            response = response
                .status(StatusCode::PARTIAL_CONTENT)
                .header(header::CONTENT_RANGE, format!("bytes {start}-{end}/{len}"));
            body[start as usize..=end as usize].to_vec()
        }
        None => body.clone(),
    };
    response = response.header(header::CONTENT_LENGTH, bytes.len());
    if method == Method::HEAD {
        return response.body(Body::empty()).unwrap();
    }
    served.bytes += bytes.len() as u64;
    response.body(Body::from(bytes)).unwrap()
}
