//! A read-only [`ObjectStore`] over the SDK's HTTP client, so that
//! DataFusion's own Parquet reader fetches a remote file with range
//! requests (footer, then only the row groups and columns it needs).
//!
//! Every request goes through [`datagouv::Client::read_file`]: the SDK's
//! retry policy and redirects, and no API key sent to the file host. Only
//! `get` (with ranges) and `head` are served; writing, listing, copying and
//! deleting are [`object_store::Error::NotSupported`].

use std::{
    collections::HashMap,
    fmt,
    ops::Range,
    sync::{Arc, Mutex},
};

use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::{StreamExt, TryStreamExt, stream::BoxStream};
use object_store::{
    CopyOptions, GetOptions, GetRange, GetResult, GetResultPayload, ListResult, MultipartUpload,
    ObjectMeta, ObjectStore, PutMultipartOptions, PutOptions, PutPayload, PutResult, path::Path,
};
use reqwest::{
    Method, StatusCode,
    header::{CONTENT_LENGTH, CONTENT_RANGE, ETAG, HeaderMap, LAST_MODIFIED},
};
use url::Url;

/// The name object_store errors give for this store.
const STORE: &str = "datagouv-http";

/// The files of one origin (`scheme://host:port`), read through the SDK.
pub(crate) struct HttpFiles {
    client: datagouv::Client,
    origin: Url,
    /// What `HEAD` said of each file: asked once per file, since DataFusion
    /// asks for it when it lists the table and again when it plans a scan.
    metas: Mutex<HashMap<Path, ObjectMeta>>,
}

impl fmt::Debug for HttpFiles {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpFiles")
            .field("origin", &self.origin.as_str())
            .finish_non_exhaustive()
    }
}

impl fmt::Display for HttpFiles {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HttpFiles({})", self.origin)
    }
}

impl HttpFiles {
    /// The store of `origin` (a URL whose path is ignored).
    pub(crate) fn new(client: datagouv::Client, origin: &Url) -> Arc<HttpFiles> {
        let mut origin = origin.clone();
        origin.set_path("/");
        origin.set_query(None);
        origin.set_fragment(None);
        Arc::new(HttpFiles {
            client,
            origin,
            metas: Mutex::new(HashMap::new()),
        })
    }

    /// The URL of a path of this store.
    fn url(&self, location: &Path) -> String {
        let mut url = self.origin.clone();
        if let Ok(mut segments) = url.path_segments_mut() {
            segments.clear();
            segments.extend(location.parts().map(|part| part.as_ref().to_owned()));
        }
        url.into()
    }

    /// The file's size and validators: the `HEAD` answer (or the length of
    /// a one-byte range for hosts that refuse `HEAD`), asked once.
    pub(crate) async fn meta(&self, location: &Path) -> Result<ObjectMeta, datagouv::Error> {
        if let Some(meta) = self.metas.lock().expect("metas lock").get(location) {
            return Ok(meta.clone());
        }
        let url = self.url(location);
        let headers = match self.client.read_file(Method::HEAD, &url, None).await {
            Ok(response) => response.headers().clone(),
            Err(error)
                if matches!(
                    error.status(),
                    Some(StatusCode::METHOD_NOT_ALLOWED | StatusCode::NOT_IMPLEMENTED)
                ) =>
            {
                let response = self
                    .client
                    .read_file(Method::GET, &url, Some("bytes=0-0"))
                    .await?;
                response.headers().clone()
            }
            Err(error) => return Err(error),
        };
        let size = content_range(&headers)
            .map(|(_, total)| total)
            .or_else(|| number(&headers, CONTENT_LENGTH.as_str()))
            .ok_or_else(|| {
                datagouv::Error::InvalidInput(format!(
                    "{url} does not say its size (no Content-Length): it cannot be read by \
                     ranges; download the file instead"
                ))
            })?;
        let meta = ObjectMeta {
            location: location.clone(),
            last_modified: header(&headers, LAST_MODIFIED.as_str())
                .and_then(|date| DateTime::parse_from_rfc2822(date).ok())
                .map(|date| date.with_timezone(&Utc))
                .unwrap_or_default(),
            size,
            e_tag: header(&headers, ETAG.as_str()).map(str::to_owned),
            version: None,
        };
        self.metas
            .lock()
            .expect("metas lock")
            .insert(location.clone(), meta.clone());
        Ok(meta)
    }
}

fn header<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name)?.to_str().ok()
}

fn number(headers: &HeaderMap, name: &str) -> Option<u64> {
    header(headers, name)?.trim().parse().ok()
}

/// `Content-Range: bytes START-END/TOTAL` as (START..END+1, TOTAL).
fn content_range(headers: &HeaderMap) -> Option<(Range<u64>, u64)> {
    let value = header(headers, CONTENT_RANGE.as_str())?.strip_prefix("bytes ")?;
    let (span, total) = value.split_once('/')?;
    let (start, end) = span.split_once('-')?;
    let start: u64 = start.trim().parse().ok()?;
    let end: u64 = end.trim().parse().ok()?;
    Some((start..end + 1, total.trim().parse().ok()?))
}

/// An SDK error as object_store reports it (a 404 as `NotFound`).
fn store_error(location: &Path, error: datagouv::Error) -> object_store::Error {
    match error.status() {
        Some(StatusCode::NOT_FOUND | StatusCode::GONE) => object_store::Error::NotFound {
            path: location.to_string(),
            source: Box::new(error),
        },
        _ => object_store::Error::Generic {
            store: STORE,
            source: Box::new(error),
        },
    }
}

fn not_supported(what: &str) -> object_store::Error {
    object_store::Error::NotSupported {
        source: format!("{what}: resource files are read-only and cannot be listed").into(),
    }
}

/// The bytes `range` asks of a file of `size` bytes.
fn resolve(range: &GetRange, size: u64) -> Range<u64> {
    match range {
        GetRange::Bounded(r) => r.start.min(size)..r.end.min(size),
        GetRange::Offset(start) => (*start).min(size)..size,
        GetRange::Suffix(n) => size.saturating_sub(*n)..size,
    }
}

#[async_trait]
impl ObjectStore for HttpFiles {
    async fn put_opts(
        &self,
        _location: &Path,
        _payload: PutPayload,
        _opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        Err(not_supported("put"))
    }

    async fn put_multipart_opts(
        &self,
        _location: &Path,
        _opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        Err(not_supported("put_multipart"))
    }

    async fn get_opts(
        &self,
        location: &Path,
        options: GetOptions,
    ) -> object_store::Result<GetResult> {
        let meta = self
            .meta(location)
            .await
            .map_err(|e| store_error(location, e))?;
        if options.head {
            return Ok(GetResult {
                payload: GetResultPayload::Stream(futures::stream::empty().boxed()),
                range: 0..0,
                meta,
                attributes: Default::default(),
            });
        }
        let wanted = options
            .range
            .as_ref()
            .map(|r| resolve(r, meta.size))
            .unwrap_or(0..meta.size);
        if wanted.is_empty() {
            return Ok(GetResult {
                payload: GetResultPayload::Stream(futures::stream::empty().boxed()),
                range: wanted,
                meta,
                attributes: Default::default(),
            });
        }
        let url = self.url(location);
        let header = options
            .range
            .is_some()
            .then(|| GetRange::Bounded(wanted.clone()).to_string());
        let response = self
            .client
            .read_file(Method::GET, &url, header.as_deref())
            .await
            .map_err(|e| store_error(location, e))?;
        let partial = response.status() == StatusCode::PARTIAL_CONTENT;
        let served = match partial {
            true => content_range(response.headers())
                .map(|(range, _)| range)
                .unwrap_or(wanted.clone()),
            false => 0..meta.size,
        };
        let generic = |e: reqwest::Error| object_store::Error::Generic {
            store: STORE,
            source: Box::new(e),
        };
        let payload: BoxStream<'static, object_store::Result<Bytes>> = if served == wanted {
            response.bytes_stream().map_err(generic).boxed()
        } else {
            // A host that ignores `Range` sends more: keep the bytes asked.
            tracing::debug!(%url, ?wanted, ?served, "host did not honour the range");
            let body = response.bytes().await.map_err(generic)?;
            let start = (wanted.start - served.start) as usize;
            let end = ((wanted.end - served.start) as usize).min(body.len());
            futures::stream::once(async move { Ok(body.slice(start.min(end)..end)) }).boxed()
        };
        Ok(GetResult {
            payload: GetResultPayload::Stream(payload),
            range: wanted,
            meta,
            attributes: Default::default(),
        })
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<Path>>,
    ) -> BoxStream<'static, object_store::Result<Path>> {
        locations.map(|_| Err(not_supported("delete"))).boxed()
    }

    fn list(&self, _prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        futures::stream::once(async { Err(not_supported("list")) }).boxed()
    }

    async fn list_with_delimiter(
        &self,
        _prefix: Option<&Path>,
    ) -> object_store::Result<ListResult> {
        Err(not_supported("list"))
    }

    async fn copy_opts(
        &self,
        _from: &Path,
        _to: &Path,
        _options: CopyOptions,
    ) -> object_store::Result<()> {
        Err(not_supported("copy"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_resolve_against_the_size() {
        assert_eq!(resolve(&GetRange::Bounded(2..5), 10), 2..5);
        assert_eq!(resolve(&GetRange::Bounded(8..50), 10), 8..10);
        assert_eq!(resolve(&GetRange::Offset(4), 10), 4..10);
        assert_eq!(resolve(&GetRange::Suffix(3), 10), 7..10);
        assert_eq!(resolve(&GetRange::Suffix(30), 10), 0..10);
    }

    #[test]
    fn content_range_is_read() {
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_RANGE, "bytes 10-19/100".parse().unwrap());
        assert_eq!(content_range(&headers), Some((10..20, 100)));
        headers.insert(CONTENT_RANGE, "bytes */100".parse().unwrap());
        assert_eq!(content_range(&headers), None);
    }
}
