//! Verified downloads: a resource's latest file (`/datasets/r/{id}`, which
//! redirects to the file host) or any URL, streamed to a file with
//! progress, checked against the catalog's checksum (SHA-1, SHA-256 or MD5)
//! when there is one, written under a temporary name and renamed only when
//! complete and verified. The API key never reaches the file host: the
//! transport drops it on every redirect that leaves the API origins.

use futures::StreamExt;
use md5::Md5;
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

/// How a download runs.
#[derive(Default)]
pub struct DownloadOptions {
    checksum: Option<Checksum>,
    on_progress: Option<ProgressCallback>,
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
        let temporary = temporary_path(path);
        let result = self.download_to(url, &temporary, options).await;
        match result {
            Ok(summary) => {
                tokio::fs::rename(&temporary, path)
                    .await
                    .map_err(|e| io_error(path, e))?;
                Ok(summary)
            }
            Err(error) => {
                let _ = tokio::fs::remove_file(&temporary).await;
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
        let response = self.get_url(url, "download").await?;
        if !response.status().is_success() {
            return Err(Error::from_response(response).await);
        }
        let final_url = response.url().to_string();
        let total = response.content_length();
        let mut hasher = options.checksum.as_ref().map(|c| Hasher::new(c.kind));
        let mut file = tokio::fs::File::create(temporary)
            .await
            .map_err(|e| io_error(temporary, e))?;
        let mut written = 0u64;
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
        if total.is_some_and(|total| total != written) {
            return Err(Error::InvalidInput(format!(
                "the download stopped after {written} of {} bytes; nothing was kept, download again",
                total.unwrap_or_default()
            )));
        }
        file.sync_all().await.map_err(|e| io_error(temporary, e))?;
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
            bytes: written,
            verified: options.checksum,
            url: final_url,
        })
    }
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
