//! Verified downloads: a resource's latest file (`/datasets/r/{id}`, which
//! redirects to the file host) or any URL, streamed to a file with
//! progress, checked against the catalog's checksum (SHA-1, SHA-256 or MD5)
//! when there is one, written under a hidden partial name beside the file
//! (locked: one writer at a time; see [`crate::atomic_file`]) and renamed
//! only when complete and verified; the destination is checked before any
//! request. Or streamed to any writer. The API key never reaches the file
//! host: the transport drops it on every redirect that leaves the API
//! origins.
//!
//! A download can be conditional (`If-None-Match`/`If-Modified-Since` from
//! what an earlier download recorded: an unchanged file is not sent again)
//! and resumable (an interrupted file is kept under its partial name with
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
use tokio::io::{AsyncSeekExt, AsyncWrite, AsyncWriteExt};

use crate::{
    Client, Error, SendExt,
    atomic_file::{AtomicFile, AtomicOptions, write_atomically},
};

/// A checksum algorithm udata records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
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
        Validators::from_headers(response.headers())
    }

    fn from_headers(headers: &reqwest::header::HeaderMap) -> Validators {
        let header = |name| {
            headers
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
#[non_exhaustive]
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
    /// The file written ([`Client::download`]: the path given, or the file
    /// inside the folder given); `None` for a writer.
    pub path: Option<PathBuf>,
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

/// Where a download writes.
enum Sink<'a> {
    /// A file: its partial file, kept between runs when resumable.
    File(&'a AtomicFile),
    /// Any writer (standard output): no resumption, nothing to rename.
    Writer(&'a mut (dyn AsyncWrite + Unpin + Send)),
}

impl Client {
    /// Downloads to `path`: nothing appears under that name unless the
    /// whole file arrived and matched its checksum. The bytes go to a
    /// hidden, locked partial file beside it (see [`crate::atomic_file`]),
    /// removed on failure unless [`DownloadOptions::resumable`].
    ///
    /// `path` may be a folder (one that exists, or any path ending with
    /// `/`): the file is then saved inside it under the name of the file
    /// the catalog (or the URL) points to, made safe ([`crate::safe_name`]);
    /// [`DownloadSummary::path`] says which. The destination is checked
    /// before any request: a missing folder, a folder where the file should
    /// go, or a file another process is writing is an [`Error::Io`] and
    /// nothing is sent.
    pub async fn download(
        &self,
        source: DownloadSource,
        path: &Path,
        mut options: DownloadOptions,
    ) -> Result<DownloadSummary, Error> {
        let into_folder = names_a_folder(path);
        if into_folder && !path.is_dir() {
            return Err(Error::io(
                "write into",
                path,
                std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "the folder does not exist; create it first",
                ),
            ));
        }
        // A file target is checked and locked before any request.
        let early = match into_folder {
            true => None,
            false => Some(AtomicFile::open(path)?),
        };
        let (url, name) = self.source_url(&source, &mut options).await?;
        let mut file = match early {
            Some(file) => file,
            None => AtomicFile::open(&path.join(name))?,
        };
        // What a non-resumable download finds in the partial file is
        // truncated by `download_to` (it starts at byte 0).
        file.keep_on_drop(options.resumable);
        let target = file.target().to_path_buf();
        let record = record_path(file.partial());
        let result = self.download_to(url, Sink::File(&file), options).await;
        match result {
            Ok(mut summary) => {
                if !summary.not_modified {
                    file.commit()?;
                    let _ = std::fs::remove_file(&record);
                }
                summary.path = Some(target);
                Ok(summary)
            }
            // What arrived and proved wrong is not worth resuming.
            Err(error @ Error::ChecksumMismatch { .. }) => {
                file.keep_on_drop(false);
                drop(file);
                let _ = std::fs::remove_file(&record);
                Err(error)
            }
            // Dropping the file keeps it if resumable, else removes it.
            Err(error) => Err(error),
        }
    }

    /// Downloads to any writer (standard output, a pipe), verified like
    /// [`Client::download`] except that bytes are passed on as they arrive:
    /// a checksum that does not match is an error after the bytes were
    /// written. Never resumed.
    pub async fn download_to_writer<W>(
        &self,
        source: DownloadSource,
        writer: &mut W,
        mut options: DownloadOptions,
    ) -> Result<DownloadSummary, Error>
    where
        W: AsyncWrite + Unpin + Send,
    {
        options.resumable = false;
        let (url, _) = self.source_url(&source, &mut options).await?;
        self.download_to(url, Sink::Writer(writer), options).await
    }

    /// Reads a file on any host (a resource's file, its Parquet
    /// conversion) as a remote file system does: `GET`, or `HEAD`, with
    /// `range` as the `Range` header when given (`bytes=0-99`,
    /// `bytes=-100`), through the transport of every request (retries,
    /// redirects, the API key never sent off the API origins). Only `GET`
    /// and `HEAD` are accepted; a status other than 2xx is an error (the
    /// caller reads `206` or `200` and the headers itself).
    pub async fn read_file(
        &self,
        method: reqwest::Method,
        url: &str,
        range: Option<&str>,
    ) -> Result<reqwest::Response, Error> {
        if method != reqwest::Method::GET && method != reqwest::Method::HEAD {
            return Err(Error::InvalidInput(format!(
                "read_file sends GET or HEAD, not {method}"
            )));
        }
        let parsed = reqwest::Url::parse(url)
            .map_err(|e| Error::InvalidInput(format!("`{url}` is not a URL: {e}")))?;
        let mut request = reqwest::Request::new(method, parsed);
        if let Some(range) = range {
            let value = HeaderValue::from_str(range).map_err(|e| {
                Error::InvalidInput(format!("`{range}` is not a Range header value: {e}"))
            })?;
            request.headers_mut().insert(RANGE, value);
        }
        let response = self.send_get(request, "read_file").await?;
        if response.status().is_success() {
            Ok(response)
        } else {
            Err(Error::from_response(response).await)
        }
    }

    /// The URL to fetch and the name of the file it points to; the
    /// catalog's checksum of a resource, when the options name none.
    async fn source_url(
        &self,
        source: &DownloadSource,
        options: &mut DownloadOptions,
    ) -> Result<(reqwest::Url, String), Error> {
        let (url, name) = match source {
            DownloadSource::Resource(id) => {
                let resource = self.catalog_resource(id).await?;
                if options.checksum.is_none() {
                    options.checksum = resource.0;
                }
                let url = format!(
                    "{}/datasets/r/{}",
                    self.main_v1_root(),
                    crate::path_segment(id)?
                );
                let title = if resource.2.is_empty() {
                    id
                } else {
                    &resource.2
                };
                let name = local_file_name(&resource.1, title);
                (url, name)
            }
            DownloadSource::Url(url) => (url.clone(), local_file_name(url, "")),
        };
        let parsed = reqwest::Url::parse(&url)
            .map_err(|e| Error::InvalidInput(format!("`{url}` is not a URL: {e}")))?;
        Ok((parsed, name))
    }

    /// The checksum the catalog records for a resource, if any, its URL
    /// and its title.
    async fn catalog_resource(
        &self,
        resource: &str,
    ) -> Result<(Option<Checksum>, String, String), Error> {
        let found = self
            .main_v2()
            .get_resource()
            .rid(resource)
            .send()
            .value()
            .await?;
        let resource = found.resource;
        let checksum = resource.checksum.and_then(|c| {
            let kind = ChecksumKind::parse(c.type_.as_deref()?)?;
            Some(Checksum {
                kind,
                value: c.value?.to_ascii_lowercase(),
            })
        });
        Ok((checksum, resource.url, resource.title))
    }

    async fn download_to(
        &self,
        url: reqwest::Url,
        sink: Sink<'_>,
        mut options: DownloadOptions,
    ) -> Result<DownloadSummary, Error> {
        // What an interrupted run left: its size and the validators it came with.
        let partial = match (&sink, options.resumable) {
            (Sink::File(file), true) => read_partial(file, &url)?,
            _ => None,
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
                path: None,
            });
        }
        if !response.status().is_success() {
            return Err(Error::from_response(response).await);
        }
        // 206 continues the partial file; any other success starts it anew.
        let resumed_from = match (&partial, response.status()) {
            (Some((offset, _)), StatusCode::PARTIAL_CONTENT)
                if content_range_start(response.headers()) == Some(*offset) =>
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
        let total = expected_total(response.content_length(), resumed_from);
        let mut hasher = options.checksum.as_ref().map(|c| Hasher::new(c.kind));
        let mut owned;
        let (writer, written_to): (&mut (dyn AsyncWrite + Unpin + Send), PathBuf) = match sink {
            Sink::File(file) => {
                let partial_path = file.partial().to_path_buf();
                if resumed_from > 0 {
                    if let Some(hasher) = hasher.as_mut() {
                        hash_file(&partial_path, hasher).await?;
                    }
                } else {
                    file.truncate(0)?;
                }
                if options.resumable {
                    let record = PartialRecord {
                        url: url.to_string(),
                        validators: validators.clone(),
                    };
                    write_atomically(
                        &record_path(&partial_path),
                        &serde_json::to_vec(&record).expect("serialisable"),
                        AtomicOptions::default(),
                    )?;
                }
                owned = file.tokio_file()?;
                owned
                    .seek(std::io::SeekFrom::Start(resumed_from))
                    .await
                    .map_err(|e| Error::io("write", &partial_path, e))?;
                (&mut owned, partial_path)
            }
            Sink::Writer(writer) => (writer, PathBuf::from("the output")),
        };
        let mut written = resumed_from;
        let mut body = response.bytes_stream();
        let mut broken = None;
        while let Some(chunk) = body.next().await {
            let chunk = match chunk {
                Ok(chunk) => chunk,
                Err(error) => {
                    broken = Some(Error::Transport(error));
                    break;
                }
            };
            if let Some(hasher) = hasher.as_mut() {
                hasher.update(&chunk);
            }
            writer
                .write_all(&chunk)
                .await
                .map_err(|e| Error::io("write", &written_to, e))?;
            written += chunk.len() as u64;
            if let Some(callback) = options.on_progress.as_mut() {
                callback(written, total);
            }
        }
        // Flushed even when the body broke: every byte that arrived is in
        // the partial file before the error returns (a tokio file writes on
        // a worker thread, and a process that exits would lose the last
        // writes, making the next run ask for them again).
        writer
            .flush()
            .await
            .map_err(|e| Error::io("write", &written_to, e))?;
        if let Some(error) = broken {
            return Err(error);
        }
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
            path: None,
        })
    }
}

/// Whether a download's `path` names a folder to save the file in: an
/// existing folder, or a path ending with a separator.
fn names_a_folder(path: &Path) -> bool {
    crate::atomic_file::ends_with_separator(path) || path.is_dir()
}

/// The local name of a file: its URL's last segment when that has an
/// extension, else `title`, made safe ([`crate::safe_name`]).
pub(crate) fn local_file_name(url: &str, title: &str) -> String {
    crate::safe_name(&file_name_of(url).unwrap_or_else(|| title.to_owned()))
}

/// The decoded last segment of a URL's path, when it looks like a file
/// name (it has an extension).
fn file_name_of(url: &str) -> Option<String> {
    let url = reqwest::Url::parse(url).ok()?;
    let last = url.path_segments()?.next_back()?.to_owned();
    let decoded = url::form_urlencoded::parse(format!("x={last}").as_bytes())
        .next()?
        .1
        .into_owned();
    decoded.contains('.').then_some(decoded)
}

/// The whole file's size: what is left to come (`Content-Length`, any
/// number a host sends) after what a resumed download already holds;
/// `None` when unknown or past `u64`.
fn expected_total(length: Option<u64>, resumed_from: u64) -> Option<u64> {
    length?.checked_add(resumed_from)
}

/// The first byte of a `206` answer's `Content-Range: bytes START-END/LEN`.
fn content_range_start(headers: &reqwest::header::HeaderMap) -> Option<u64> {
    let range = headers.get(CONTENT_RANGE)?.to_str().ok()?;
    range
        .strip_prefix("bytes ")?
        .split('-')
        .next()?
        .trim()
        .parse()
        .ok()
}

/// The size and validators of a partial file an earlier run left for the
/// same URL (a partial file without a record is started over).
fn read_partial(file: &AtomicFile, url: &reqwest::Url) -> Result<Option<(u64, Validators)>, Error> {
    let size = file.len()?;
    let record: Option<PartialRecord> = std::fs::read(record_path(file.partial()))
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok());
    Ok(record
        .filter(|record| size > 0 && record.url == url.as_str())
        .map(|record| (size, record.validators)))
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
        .map_err(|e| Error::io("read", path, e))?;
    let mut buffer = vec![0; 1 << 16];
    loop {
        let read = file
            .read(&mut buffer)
            .await
            .map_err(|e| Error::io("read", path, e))?;
        if read == 0 {
            return Ok(());
        }
        hasher.update(&buffer[..read]);
    }
}

/// Where a resumable download records the URL and validators of its partial file.
fn record_path(temporary: &Path) -> PathBuf {
    let mut name = temporary.as_os_str().to_owned();
    name.push(".json");
    PathBuf::from(name)
}

/// What the fuzz targets reach of the download code (`cargo fuzz` builds
/// with `--cfg fuzzing`; this module exists only then).
#[cfg(fuzzing)]
#[doc(hidden)]
pub mod fuzzing {
    use reqwest::header::{CONTENT_LENGTH, HeaderMap};

    /// Reads every header a download reads, as a download does.
    pub fn download_headers(headers: &HeaderMap) {
        let validators = super::Validators::from_headers(headers);
        let _ = validators.for_if_range();
        let start = super::content_range_start(headers);
        let length = headers
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        let _ = super::expected_total(length, start.unwrap_or(0));
    }
}
