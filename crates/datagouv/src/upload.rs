//! The 13 multipart uploads of the Main API, which progenitor cannot
//! generate: resource files (with udata's chunked protocol for large ones),
//! community resource files, avatars, logos, banners and images.
//!
//! Above one chunk (8 MiB by default) the upload uses udata's protocol:
//! every part is sent with the same `uuid`, its `partindex`, `totalparts`
//! and `chunksize`, then a last request without a file assembles them; two
//! parts are on the wire at once. A file's part is streamed from disk in
//! 256 KiB pieces as the socket takes them (and read again from its offset
//! if it must be sent again), so memory stays small whatever the file's
//! size; a part of any other reader is read into memory first (two parts
//! in memory at most). A part that fails is sent again (re-sending a part
//! overwrites it, so it is safe); the assembling request is never repeated
//! blindly, and a file that cannot be read is not sent again.

use bytes::Bytes;
use futures::{TryStreamExt as _, stream};
use reqwest::{
    Method, Url,
    multipart::{Form, Part},
};
use serde::de::DeserializeOwned;
use std::{
    io::SeekFrom,
    path::{Path, PathBuf},
    sync::Arc,
};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncSeekExt};

use crate::{Client, Error, error::excerpt};

/// A file that could not be read while its part was being sent (carried
/// through reqwest's error as the body's error).
#[derive(Debug)]
struct SourceUnreadable(String);

impl std::fmt::Display for SourceUnreadable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SourceUnreadable {}

/// The [`SourceUnreadable`] behind a failed send, if that was the cause.
fn unreadable_source(error: &reqwest::Error) -> Option<&SourceUnreadable> {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(error) = cause {
        // `io::Error` hides its payload from `source()`: look inside.
        let inner = error
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            .map(|inner| inner as &(dyn std::error::Error + 'static));
        if let Some(found) = inner.unwrap_or(error).downcast_ref::<SourceUnreadable>() {
            return Some(found);
        }
        cause = error.source();
    }
    None
}

/// Parts of a chunked upload on the wire at once.
const PARTS_IN_FLIGHT: usize = 2;

/// Where a resource file goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResourceUpload<'a> {
    /// A new resource of a dataset (`upload_new_dataset_resource`).
    NewResource {
        /// The dataset id or slug.
        dataset: &'a str,
    },
    /// The file of an existing resource (`upload_dataset_resource`).
    ReplaceResource {
        /// The dataset id or slug.
        dataset: &'a str,
        /// The resource id.
        resource: &'a str,
    },
    /// A new community resource of a dataset (`upload_new_community_resource`).
    NewCommunityResource {
        /// The dataset id or slug.
        dataset: &'a str,
    },
    /// The file of an existing community resource (`upload_community_resource`).
    ReplaceCommunityResource {
        /// The community resource id.
        community: &'a str,
    },
}

impl ResourceUpload<'_> {
    fn path(&self) -> Result<String, Error> {
        Ok(match self {
            ResourceUpload::NewResource { dataset } => {
                format!("datasets/{}/upload/", segment(dataset)?)
            }
            ResourceUpload::ReplaceResource { dataset, resource } => {
                format!(
                    "datasets/{}/resources/{}/upload/",
                    segment(dataset)?,
                    segment(resource)?
                )
            }
            ResourceUpload::NewCommunityResource { dataset } => {
                format!("datasets/{}/upload/community/", segment(dataset)?)
            }
            ResourceUpload::ReplaceCommunityResource { community } => {
                format!(
                    "datasets/community_resources/{}/upload/",
                    segment(community)?
                )
            }
        })
    }
}

/// Where an image goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImageUpload<'a> {
    /// The current user's avatar (`my_avatar`).
    MyAvatar,
    /// A user's avatar (`user_avatar`).
    UserAvatar(&'a str),
    /// An organization's logo (`organization_logo`).
    OrganizationLogo(&'a str),
    /// Crop an organization's logo anew (`resize_organization_logo`, PUT).
    ResizeOrganizationLogo(&'a str),
    /// An organization's banner (`organization_banner_upload`).
    OrganizationBanner(&'a str),
    /// A post's image (`post_image`).
    PostImage(&'a str),
    /// Crop a post's image anew (`resize_post_image`, PUT).
    ResizePostImage(&'a str),
    /// A reuse's image (`reuse_image`).
    ReuseImage(&'a str),
    /// A visualization's image (`visualization_image`).
    VisualizationImage(&'a str),
}

impl ImageUpload<'_> {
    fn route(&self) -> Result<(Method, String), Error> {
        Ok(match self {
            ImageUpload::MyAvatar => (Method::POST, "me/avatar/".into()),
            ImageUpload::UserAvatar(user) => {
                (Method::POST, format!("users/{}/avatar/", segment(user)?))
            }
            ImageUpload::OrganizationLogo(org) => (
                Method::POST,
                format!("organizations/{}/logo/", segment(org)?),
            ),
            ImageUpload::ResizeOrganizationLogo(org) => (
                Method::PUT,
                format!("organizations/{}/logo/", segment(org)?),
            ),
            ImageUpload::OrganizationBanner(org) => (
                Method::POST,
                format!("organizations/{}/banner/", segment(org)?),
            ),
            ImageUpload::PostImage(post) => {
                (Method::POST, format!("posts/{}/image/", segment(post)?))
            }
            ImageUpload::ResizePostImage(post) => {
                (Method::PUT, format!("posts/{}/image/", segment(post)?))
            }
            ImageUpload::ReuseImage(reuse) => {
                (Method::POST, format!("reuses/{}/image/", segment(reuse)?))
            }
            ImageUpload::VisualizationImage(id) => (
                Method::POST,
                format!("visualizations/{}/image/", segment(id)?),
            ),
        })
    }
}

/// An id as exactly one path segment; `.`, `..` or empty refused.
fn segment(id: &str) -> Result<String, Error> {
    crate::path_segment(id)
}

/// What to upload: a file, or any async reader of a known size.
pub struct UploadSource {
    name: String,
    size: u64,
    reader: Reader,
}

/// Where an upload's bytes come from.
enum Reader {
    /// A file: each part is streamed from its offset as it is sent (and read
    /// again from there if it must be sent again), never held whole.
    File {
        /// The file's path.
        path: Arc<Path>,
        /// Where the next part starts.
        position: u64,
    },
    /// Any async reader: each part is read into memory first, so that it
    /// can be sent again.
    Stream(Box<dyn AsyncRead + Unpin + Send>),
}

/// One part of an upload, as it will be sent.
#[derive(Clone)]
enum PartData {
    /// `size` bytes of the file at `path` from `offset`.
    File {
        path: Arc<Path>,
        offset: u64,
        size: u64,
    },
    /// Bytes in memory.
    Bytes(Bytes),
}

/// Bytes of a file read per piece of a streamed part.
const PIECE: usize = 256 * 1024;

impl PartData {
    fn len(&self) -> u64 {
        match self {
            PartData::File { size, .. } => *size,
            PartData::Bytes(bytes) => bytes.len() as u64,
        }
    }

    /// The multipart `file` field of this part; a file part opens and reads
    /// its file when it is sent (each time it is sent).
    fn form_part(&self, name: &str) -> Part {
        let body = match self {
            PartData::Bytes(bytes) => reqwest::Body::from(bytes.clone()),
            PartData::File { path, offset, size } => {
                file_stream(path.clone(), *offset, *size, name.to_owned())
            }
        };
        Part::stream_with_length(body, self.len())
            .file_name(name.to_owned())
            .mime_str("application/octet-stream")
            .expect("a valid MIME type")
    }
}

/// `size` bytes of the file at `path` from `offset`, as a body read piece
/// by piece as the socket takes them. The piece buffer is reused, so the
/// bytes are still in the CPU's cache when they are written to the socket
/// (whole 8 MiB parts were not: the upload ran at 0.84x curl's speed).
fn file_stream(path: Arc<Path>, offset: u64, size: u64, name: String) -> reqwest::Body {
    let unreadable = {
        let name = name.clone();
        move |e: std::io::Error| {
            std::io::Error::other(SourceUnreadable(format!("cannot read {name}: {e}")))
        }
    };
    let opened = async move {
        let mut file = tokio::fs::File::open(&path).await?;
        file.seek(SeekFrom::Start(offset)).await?;
        Ok::<_, std::io::Error>(tokio_util::io::ReaderStream::with_capacity(
            AsyncReadExt::take(file, size),
            PIECE,
        ))
    };
    let pieces = stream::once(opened).try_flatten().map_err(unreadable);
    let state = (Box::pin(pieces), 0u64, name);
    let checked = stream::try_unfold(state, move |(mut pieces, read, name)| async move {
        match pieces.try_next().await? {
            Some(piece) => {
                let read = read + piece.len() as u64;
                Ok(Some((piece, (pieces, read, name))))
            }
            None if read < size => Err(std::io::Error::other(SourceUnreadable(format!(
                "{name} ended {} bytes before its announced size: the file changed while it was uploaded",
                size - read
            )))),
            None => Ok(None),
        }
    });
    reqwest::Body::wrap_stream(checked)
}

impl UploadSource {
    /// A file; its name is the uploaded file name.
    pub async fn file(path: impl AsRef<Path>) -> Result<UploadSource, Error> {
        let path: PathBuf = path.as_ref().to_path_buf();
        let file = tokio::fs::File::open(&path)
            .await
            .map_err(|e| Error::io("read", &path, e))?;
        let metadata = file
            .metadata()
            .await
            .map_err(|e| Error::io("read", &path, e))?;
        if metadata.is_dir() {
            let error = std::io::Error::new(std::io::ErrorKind::IsADirectory, "it is a folder");
            return Err(Error::io("upload", &path, error));
        }
        let size = metadata.len();
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "file".into());
        Ok(UploadSource {
            name,
            size,
            reader: Reader::File {
                path: Arc::from(path),
                position: 0,
            },
        })
    }

    /// Any reader of exactly `size` bytes, uploaded under `name`.
    pub fn reader(
        name: impl Into<String>,
        size: u64,
        reader: impl AsyncRead + Unpin + Send + 'static,
    ) -> UploadSource {
        UploadSource {
            name: name.into(),
            size,
            reader: Reader::Stream(Box::new(reader)),
        }
    }
}

/// How an upload runs.
pub struct UploadOptions {
    chunk_size: u64,
    on_progress: Option<Box<dyn FnMut(u64, u64) + Send>>,
}

impl Default for UploadOptions {
    fn default() -> Self {
        UploadOptions {
            chunk_size: 8 * 1024 * 1024,
            on_progress: None,
        }
    }
}

impl UploadOptions {
    /// Bytes per part (default 8 MiB, at least 64 KiB); a file of at most
    /// one part goes in one request. A file is streamed whatever the part
    /// size; a part of any other reader is held in memory (two at most).
    pub fn chunk_size(mut self, bytes: u64) -> Self {
        self.chunk_size = bytes.max(64 * 1024);
        self
    }

    /// Called with (bytes sent, total bytes) after each part.
    pub fn on_progress(mut self, callback: impl FnMut(u64, u64) + Send + 'static) -> Self {
        self.on_progress = Some(Box::new(callback));
        self
    }
}

/// The resource an upload created or replaced.
pub type UploadedResource = datagouv_main::v1::types::UploadedResource;
/// The community resource an upload created or replaced.
pub type UploadedCommunityResource = datagouv_main::v1::types::UploadedCommunityResource;
/// The image an upload stored.
pub type UploadedImage = datagouv_main::v1::types::UploadedImage;

impl Client {
    /// Uploads a resource file: a new resource, or the new file of one.
    pub async fn upload_resource(
        &self,
        target: ResourceUpload<'_>,
        source: UploadSource,
        options: UploadOptions,
    ) -> Result<UploadedResource, Error> {
        if matches!(
            target,
            ResourceUpload::NewCommunityResource { .. }
                | ResourceUpload::ReplaceCommunityResource { .. }
        ) {
            return Err(Error::InvalidInput(
                "use upload_community_resource for community resources".into(),
            ));
        }
        self.upload_in_parts(&target.path()?, source, options).await
    }

    /// Uploads a community resource file.
    pub async fn upload_community_resource(
        &self,
        target: ResourceUpload<'_>,
        source: UploadSource,
        options: UploadOptions,
    ) -> Result<UploadedCommunityResource, Error> {
        if !matches!(
            target,
            ResourceUpload::NewCommunityResource { .. }
                | ResourceUpload::ReplaceCommunityResource { .. }
        ) {
            return Err(Error::InvalidInput(
                "use upload_resource for dataset resources".into(),
            ));
        }
        self.upload_in_parts(&target.path()?, source, options).await
    }

    /// Uploads an image (avatar, logo, banner, post/reuse/visualization
    /// image), optionally cropped to `bbox` = `left,upper,right,lower`.
    pub async fn upload_image(
        &self,
        target: ImageUpload<'_>,
        mut source: UploadSource,
        bbox: Option<&str>,
    ) -> Result<UploadedImage, Error> {
        const MAX_IMAGE: u64 = 32 * 1024 * 1024;
        if source.size > MAX_IMAGE {
            return Err(Error::InvalidInput(format!(
                "an image of {} bytes is too large to upload (at most 32 MiB)",
                source.size
            )));
        }
        let (method, path) = target.route()?;
        let size = source.size;
        let part = read_part(&mut source, size).await?;
        let name = source.name.clone();
        let bbox = bbox.map(str::to_owned);
        self.send_form(method, &path, false, move || {
            let mut form = Form::new().part("file", part.form_part(&name));
            if let Some(bbox) = &bbox {
                form = form.text("bbox", bbox.clone());
            }
            form
        })
        .await
    }

    async fn upload_in_parts<T: DeserializeOwned>(
        &self,
        path: &str,
        mut source: UploadSource,
        mut options: UploadOptions,
    ) -> Result<T, Error> {
        let total = source.size;
        let parts = total.div_ceil(options.chunk_size).max(1);
        let name = source.name.clone();
        if parts == 1 {
            let part = read_part(&mut source, total).await?;
            let file_name = name.clone();
            let result = self
                .send_form(Method::POST, path, false, move || {
                    Form::new().part("file", part.form_part(&file_name))
                })
                .await;
            if result.is_ok()
                && let Some(callback) = options.on_progress.as_mut()
            {
                callback(total, total);
            }
            return result;
        }
        let id = uuid::Uuid::new_v4().to_string();
        // Up to PARTS_IN_FLIGHT parts are on the wire at once, so the next
        // part starts while the server still takes in the previous one. A
        // file's parts are streamed; a reader's are read one after the other
        // when a place is free (PARTS_IN_FLIGHT in memory at most).
        let chunk_size = options.chunk_size;
        let reads = stream::try_unfold((source, 0u64), move |(mut source, index)| async move {
            if index == parts {
                return Ok(None);
            }
            let size = chunk_size.min(source.size - index * chunk_size);
            let part = read_part(&mut source, size).await?;
            Ok(Some(((index, part), (source, index + 1))))
        });
        {
            let sends = reads.map_ok(|(index, part): (u64, PartData)| {
                let (id, name) = (id.clone(), name.clone());
                let size = part.len();
                async move {
                    let ack: serde_json::Value = self
                        .send_form(Method::POST, path, true, move || {
                            Form::new()
                                .text("uuid", id.clone())
                                .text("filename", name.clone())
                                .text("partindex", index.to_string())
                                .text("totalparts", parts.to_string())
                                .text("chunksize", size.to_string())
                                .part("file", part.form_part(&name))
                        })
                        .await?;
                    if ack.get("success").and_then(|s| s.as_bool()) != Some(true) {
                        return Err(Error::InvalidInput(format!(
                            "the server refused part {index} of {parts}: {ack}"
                        )));
                    }
                    Ok(size)
                }
            });
            let mut acks = std::pin::pin!(sends.try_buffered(PARTS_IN_FLIGHT));
            let mut sent = 0;
            while let Some(size) = acks.try_next().await? {
                sent += size;
                if let Some(callback) = options.on_progress.as_mut() {
                    callback(sent, total);
                }
            }
        }
        self.send_form(Method::POST, path, false, move || {
            Form::new()
                .text("uuid", id.clone())
                .text("filename", name.clone())
                .text("totalparts", parts.to_string())
        })
        .await
    }

    /// Sends a multipart request built by `form`, retrying with a fresh
    /// form when `resend_is_safe` and the policy says so.
    async fn send_form<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        resend_is_safe: bool,
        form: impl Fn() -> Form,
    ) -> Result<T, Error> {
        let url = Url::parse(&format!("{}/{path}", self.main_v1_root()))
            .map_err(|e| Error::InvalidInput(format!("`{path}` does not make a URL: {e}")))?;
        let build = || -> Result<reqwest::Request, Error> {
            let mut request = self
                .http_client()
                .request(method.clone(), url.clone())
                .multipart(form())
                .build()
                .map_err(Error::Transport)?;
            datagouv_runtime::Transport::prepare(self.transport(), &mut request, "upload")
                .map_err(Error::refused)?;
            Ok(request)
        };
        // The first request is checked here; a resend is the same request
        // with a fresh form.
        let first = build()?;
        let result = self
            .transport()
            .send_attempts(
                self.http_client(),
                first,
                || build().ok(),
                resend_is_safe,
                "upload",
                |e| unreadable_source(e).is_some(),
            )
            .await;
        match result {
            // The file, not the network, failed: sending again cannot help.
            Err(error) => Err(match unreadable_source(&error) {
                Some(unreadable) => Error::InvalidInput(unreadable.0.clone()),
                None => Error::Transport(error),
            }),
            Ok(response) if !response.status().is_success() => {
                Err(Error::from_response(response).await)
            }
            Ok(response) => {
                let body = response.bytes().await.map_err(Error::Transport)?;
                serde_json::from_slice(&body).map_err(|source| Error::Decode {
                    excerpt: excerpt(&body),
                    source,
                })
            }
        }
    }
}

/// The next `size` bytes of `source`, which must have them: a file's are
/// read when the part is sent, a reader's now.
async fn read_part(source: &mut UploadSource, size: u64) -> Result<PartData, Error> {
    let reader = match &mut source.reader {
        Reader::File { path, position } => {
            let part = PartData::File {
                path: path.clone(),
                offset: *position,
                size,
            };
            *position += size;
            return Ok(part);
        }
        Reader::Stream(reader) => reader,
    };
    let capacity = usize::try_from(size).map_err(|_| {
        Error::InvalidInput(format!("a part of {size} bytes does not fit in memory"))
    })?;
    let mut bytes = Vec::with_capacity(capacity);
    AsyncReadExt::take(reader, size)
        .read_to_end(&mut bytes)
        .await
        .map_err(|e| Error::InvalidInput(format!("cannot read {}: {e}", source.name)))?;
    if bytes.len() as u64 != size {
        return Err(Error::InvalidInput(format!(
            "{} ended after {} bytes of a part of {size}: the file changed or its size was wrong",
            source.name,
            bytes.len()
        )));
    }
    Ok(PartData::Bytes(Bytes::from(bytes)))
}
