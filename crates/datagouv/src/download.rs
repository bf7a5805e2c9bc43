//! Verified downloads: a resource's latest file (`/datasets/r/{id}`, which
//! redirects to the file host) or any URL, streamed to a file with
//! progress, checked against the catalog's checksum (SHA-1, SHA-256 or MD5)
//! when there is one, written under a temporary name and renamed only when
//! complete and verified. The API key never reaches the file host: the
//! transport drops it on every redirect that leaves the API origins.
//!
//! A download can be conditional (`If-None-Match`/`If-Modified-Since` from
//! what an earlier download recorded: an unchanged file is not sent again)
//! and resumable (an interrupted file is kept under its temporary name with
//! the validators it came with, and continued with `Range` and `If-Range`,
//! so a file that changed meanwhile is fetched whole again).

use futures::StreamExt;
use md5::Md5;
use reqwest::{
    StatusCode,
    header::{
        CONTENT_RANGE, ETAG, HeaderValue, IF_MODIFIED_SINCE, IF_NONE_MATCH, IF_RANGE,
        LAST_MODIFIED, RANGE,
    },
};
use serde::{Deserialize, Serialize};
use sha1::Sha1;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use tokio::io::AsyncWriteExt;

use crate::{Client, Error, SendExt};

/// A checksum algorithm udata records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChecksumKind {
    /// SHA-1.
    Sha1,
    /// SHA-256.
    Sha256,
    /// MD5.
    Md5,
}

impl ChecksumKind {
    /// Reads udata's `checksum.type` (`sha1`, `sha256`, `md5`).
    pub fn parse(text: &str) -> Option<ChecksumKind> {
        match text.to_ascii_lowercase().as_str() {
            "sha1" => Some(ChecksumKind::Sha1),
            "sha256" => Some(ChecksumKind::Sha256),
            "md5" => Some(ChecksumKind::Md5),
            _ => None,
        }
    }
}

/// A checksum to verify a download against.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checksum {
    /// The algorithm.
    pub kind: ChecksumKind,
    /// The expected digest, hexadecimal.
    pub value: String,
}

/// What to download.
#[derive(Clone, Debug)]
pub enum DownloadSource {
    /// The latest file of a catalog resource, by resource id; its checksum,
    /// when the catalog has one, is verified.
    Resource(String),
    /// Any URL (no checksum unless given in the options).
    Url(String),
}

/// A progress callback: (bytes received, total when known).
type ProgressCallback = Box<dyn FnMut(u64, Option<u64>) + Send>;

/// What identifies the version of a file a server sent: its `ETag` and
/// `Last-Modified` headers, as an earlier download recorded them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Validators {
    /// The `ETag` header.
    pub etag: Option<String>,
    /// The `Last-Modified` header.
    pub last_modified: Option<String>,
}

impl Validators {
    fn of(response: &reqwest::Response) -> Validators {
        let header = |name| {
            response
                .headers()
                .get(name)
                .and_then(|v: &HeaderValue| v.to_str().ok())
                .map(str::to_owned)
        };
        Validators {
            etag: header(ETAG),
            last_modified: header(LAST_MODIFIED),
        }
    }

    /// The strongest validator for `If-Range`: a strong ETag, else the date.
    fn for_if_range(&self) -> Option<&str> {
        match &self.etag {
            Some(etag) if !etag.starts_with("W/") => Some(etag),
            _ => self.last_modified.as_deref(),
        }
    }
}

/// How a download runs.
#[derive(Default)]
pub struct DownloadOptions {
    checksum: Option<Checksum>,
    on_progress: Option<ProgressCallback>,
    unless_unchanged: Option<Validators>,
    resumable: bool,
}

impl DownloadOptions {
    /// Verify against this checksum (overrides the catalog's).
    pub fn checksum(mut self, checksum: Checksum) -> Self {
        self.checksum = Some(checksum);
        self
    }

    /// Called with (bytes received, total when known) after each chunk.
    pub fn on_progress(mut self, callback: impl FnMut(u64, Option<u64>) + Send + 'static) -> Self {
        self.on_progress = Some(Box::new(callback));
        self
    }

    /// Ask for the file only if it changed since an earlier download that
    /// recorded these validators (`If-None-Match`, `If-Modified-Since`); a
    /// `304 Not Modified` leaves the file as it is and is reported as such.
    pub fn unless_unchanged(mut self, validators: Validators) -> Self {
        self.unless_unchanged = Some(validators);
        self
    }

    /// Keep an interrupted download under its temporary name and continue
    /// it next time with `Range` (guarded by `If-Range`: a file that changed
    /// is fetched whole); without it a failed download leaves nothing.
    pub fn resumable(mut self) -> Self {
        self.resumable = true;
        self
    }
}

/// What a download wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DownloadSummary {
    /// Bytes written.
    pub bytes: u64,
    /// The checksum verified, if any.
    pub verified: Option<Checksum>,
    /// The URL the file finally came from.
    pub url: String,
    /// The file's validators as the server sent them (for a later
    /// [`DownloadOptions::unless_unchanged`]).
    pub validators: Validators,
    /// Bytes already on disk from an interrupted download, continued with
    /// `Range` (0 when the file came whole).
    pub resumed_from: u64,
    /// The server answered `304 Not Modified`: nothing was written.
    pub not_modified: bool,
}

/// What a resumable download keeps beside its partial file.
#[derive(Serialize, Deserialize)]
struct PartialRecord {
    url: String,
    validators: Validators,
}

enum Hasher {
    Sha1(Sha1),
    Sha256(Sha256),
    Md5(Md5),
}

impl Hasher {
    fn new(kind: ChecksumKind) -> Hasher {
        match kind {
            ChecksumKind::Sha1 => Hasher::Sha1(Sha1::new()),
            ChecksumKind::Sha256 => Hasher::Sha256(Sha256::new()),
            ChecksumKind::Md5 => Hasher::Md5(Md5::new()),
        }
    }

    fn update(&mut self, bytes: &[u8]) {
        match self {
            Hasher::Sha1(h) => h.update(bytes),
            Hasher::Sha256(h) => h.update(bytes),
            Hasher::Md5(h) => h.update(bytes),
        }
    }

    fn hex(self) -> String {
        let digest: Vec<u8> = match self {
            Hasher::Sha1(h) => h.finalize().to_vec(),
            Hasher::Sha256(h) => h.finalize().to_vec(),
            Hasher::Md5(h) => h.finalize().to_vec(),
        };
        digest.iter().map(|b| format!("{b:02x}")).collect()
    }
}

impl Client {
    /// Downloads to `path`: nothing appears under that name unless the
    /// whole file arrived and matched its checksum.
    pub async fn download(
        &self,
        source: DownloadSource,
        path: &Path,
        mut options: DownloadOptions,
    ) -> Result<DownloadSummary, Error> {
        let url = match &source {
            DownloadSource::Resource(id) => {
                if options.checksum.is_none() {
                    options.checksum = self.catalog_checksum(id).await?;
                }
                format!(
                    "{}/datasets/r/{}",
                    self.main_v1_root(),
                    url::form_urlencoded::byte_serialize(id.as_bytes()).collect::<String>()
                )
            }
            DownloadSource::Url(url) => url.clone(),
        };
        let url = reqwest::Url::parse(&url)
            .map_err(|e| Error::InvalidInput(format!("`{url}` is not a URL: {e}")))?;
        let resumable = options.resumable;
        let temporary = if resumable {
            resumable_path(path)
        } else {
            temporary_path(path)
        };
        let result = self.download_to(url, &temporary, options).await;
        match result {
            Ok(summary) if summary.not_modified => Ok(summary),
            Ok(summary) => {
                tokio::fs::rename(&temporary, path)
                    .await
                    .map_err(|e| io_error(path, e))?;
                let _ = tokio::fs::remove_file(record_path(&temporary)).await;
                Ok(summary)
            }
            // A resumable download keeps what arrived, unless it proved wrong.
            Err(error) if resumable && !matches!(error, Error::ChecksumMismatch { .. }) => {
                Err(error)
            }
            Err(error) => {
                let _ = tokio::fs::remove_file(&temporary).await;
                let _ = tokio::fs::remove_file(record_path(&temporary)).await;
                Err(error)
            }
        }
    }

    /// The checksum the catalog records for a resource, if any.
    async fn catalog_checksum(&self, resource: &str) -> Result<Option<Checksum>, Error> {
        let found = self
            .main_v2()
            .get_resource()
            .rid(resource)
            .send()
            .value()
            .await?;
        let checksum = found.resource.checksum;
        Ok(checksum.and_then(|c| {
            let kind = ChecksumKind::parse(c.type_.as_deref()?)?;
            Some(Checksum {
                kind,
                value: c.value?.to_ascii_lowercase(),
            })
        }))
    }

    async fn download_to(
        &self,
        url: reqwest::Url,
        temporary: &Path,
        mut options: DownloadOptions,
    ) -> Result<DownloadSummary, Error> {
        // What an interrupted run left: its size and the validators it came with.
        let partial = match options.resumable {
            true => read_partial(temporary, &url).await,
            false => None,
        };
        let mut request = reqwest::Request::new(reqwest::Method::GET, url.clone());
        let headers = request.headers_mut();
        if let Some((offset, validators)) = &partial
            && let Some(guard) = validators
                .for_if_range()
                .and_then(|v| HeaderValue::from_str(v).ok())
        {
            headers.insert(
                RANGE,
                HeaderValue::from_str(&format!("bytes={offset}-")).expect("ASCII"),
            );
            headers.insert(IF_RANGE, guard);
        }
        if let Some(known) = &options.unless_unchanged {
            if let Some(etag) = known
                .etag
                .as_deref()
                .and_then(|v| HeaderValue::from_str(v).ok())
            {
                headers.insert(IF_NONE_MATCH, etag);
            }
            if let Some(date) = known
                .last_modified
                .as_deref()
                .and_then(|v| HeaderValue::from_str(v).ok())
            {
                headers.insert(IF_MODIFIED_SINCE, date);
            }
        }
        let response = self.send_get(request, "download").await?;
        let validators = Validators::of(&response);
        let final_url = response.url().to_string();
        if response.status() == StatusCode::NOT_MODIFIED {
            return Ok(DownloadSummary {
                bytes: 0,
                verified: None,
                url: final_url,
                validators: options.unless_unchanged.unwrap_or(validators),
                resumed_from: 0,
                not_modified: true,
            });
        }
        if !response.status().is_success() {
            return Err(Error::from_response(response).await);
        }
        // 206 continues the partial file; any other success starts it anew.
        let resumed_from = match (&partial, response.status()) {
            (Some((offset, _)), StatusCode::PARTIAL_CONTENT)
                if content_range_start(&response) == Some(*offset) =>
            {
                *offset
            }
            (_, StatusCode::PARTIAL_CONTENT) => {
                return Err(Error::InvalidInput(format!(
                    "{final_url} answered a range the download did not ask for; download again"
                )));
            }
            _ => 0,
        };
        let total = response
            .content_length()
            .map(|length| length + resumed_from);
        let mut hasher = options.checksum.as_ref().map(|c| Hasher::new(c.kind));
        let mut file = if resumed_from > 0 {
            if let Some(hasher) = hasher.as_mut() {
                hash_file(temporary, hasher).await?;
            }
            tokio::fs::OpenOptions::new()
                .append(true)
                .open(temporary)
                .await
        } else {
            tokio::fs::File::create(temporary).await
        }
        .map_err(|e| io_error(temporary, e))?;
        if options.resumable {
            let record = PartialRecord {
                url: url.to_string(),
                validators: validators.clone(),
            };
            tokio::fs::write(
                record_path(temporary),
                serde_json::to_vec(&record).expect("serialisable"),
            )
            .await
            .map_err(|e| io_error(temporary, e))?;
        }
        let mut written = resumed_from;
        let mut body = response.bytes_stream();
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(Error::Transport)?;
            if let Some(hasher) = hasher.as_mut() {
                hasher.update(&chunk);
            }
            file.write_all(&chunk)
                .await
                .map_err(|e| io_error(temporary, e))?;
            written += chunk.len() as u64;
            if let Some(callback) = options.on_progress.as_mut() {
                callback(written, total);
            }
        }
        file.sync_all().await.map_err(|e| io_error(temporary, e))?;
        if total.is_some_and(|total| total != written) {
            return Err(Error::InvalidInput(format!(
                "the download stopped after {written} of {} bytes; {}",
                total.unwrap_or_default(),
                if options.resumable {
                    "download again to continue it"
                } else {
                    "nothing was kept, download again"
                }
            )));
        }
        if let (Some(expected), Some(hasher)) = (&options.checksum, hasher) {
            let actual = hasher.hex();
            if actual != expected.value.to_ascii_lowercase() {
                return Err(Error::ChecksumMismatch {
                    expected: expected.value.clone(),
                    actual,
                    url: final_url,
                });
            }
        }
        Ok(DownloadSummary {
            bytes: written - resumed_from,
            verified: options.checksum,
            url: final_url,
            validators,
            resumed_from,
            not_modified: false,
        })
    }
}

/// The first byte of a `206` answer's `Content-Range: bytes START-END/LEN`.
fn content_range_start(response: &reqwest::Response) -> Option<u64> {
    let range = response.headers().get(CONTENT_RANGE)?.to_str().ok()?;
    range
        .strip_prefix("bytes ")?
        .split('-')
        .next()?
        .trim()
        .parse()
        .ok()
}

/// The size and validators of a partial file an earlier run left for the same URL.
async fn read_partial(temporary: &Path, url: &reqwest::Url) -> Option<(u64, Validators)> {
    let size = tokio::fs::metadata(temporary).await.ok()?.len();
    let record: PartialRecord =
        serde_json::from_slice(&tokio::fs::read(record_path(temporary)).await.ok()?).ok()?;
    (size > 0 && record.url == url.as_str()).then_some((size, record.validators))
}

/// The checksum of a whole file, hexadecimal.
pub(crate) async fn file_checksum(path: &Path, kind: ChecksumKind) -> Result<String, Error> {
    let mut hasher = Hasher::new(kind);
    hash_file(path, &mut hasher).await?;
    Ok(hasher.hex())
}

/// Feeds the bytes already on disk to the checksum.
async fn hash_file(path: &Path, hasher: &mut Hasher) -> Result<(), Error> {
    use tokio::io::AsyncReadExt;
    let mut file = tokio::fs::File::open(path)
        .await
        .map_err(|e| io_error(path, e))?;
    let mut buffer = vec![0; 1 << 16];
    loop {
        let read = file
            .read(&mut buffer)
            .await
            .map_err(|e| io_error(path, e))?;
        if read == 0 {
            return Ok(());
        }
        hasher.update(&buffer[..read]);
    }
}

/// The stable temporary name of a resumable download (the same from one
/// run to the next, unlike [`temporary_path`]).
fn resumable_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.partial"))
}

/// Where a resumable download records the URL and validators of its partial file.
fn record_path(temporary: &Path) -> PathBuf {
    let mut name = temporary.as_os_str().to_owned();
    name.push(".json");
    PathBuf::from(name)
}

/// The name a file is written under until it is complete: hidden, beside
/// the final name (so the rename stays on one file system), per process.
pub(crate) fn temporary_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.part-{}", std::process::id()))
}

fn io_error(path: &Path, error: std::io::Error) -> Error {
    Error::InvalidInput(format!("cannot write {}: {error}", path.display()))
}
