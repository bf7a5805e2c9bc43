//! The 13 multipart uploads of the Main API, which progenitor cannot
//! generate: resource files (with udata's chunked protocol for large ones),
//! community resource files, avatars, logos, banners and images.
//!
//! A file is read one chunk at a time (8 MiB by default), the next part
//! while the current one is sent, so memory stays bounded (two parts)
//! whatever its size. Above one chunk the upload uses udata's
//! protocol: every part is sent with the same `uuid`, its `partindex`,
//! `totalparts` and `chunksize`, then a last request without a file
//! assembles them. A part that fails is sent again (re-sending a part
//! overwrites it, so it is safe); the assembling request is never repeated
//! blindly.

use bytes::Bytes;
use reqwest::{
    Method, Url,
    multipart::{Form, Part},
};
use serde::de::DeserializeOwned;
use std::{
    path::{Path, PathBuf},
    time::Instant,
};
use tokio::io::{AsyncRead, AsyncReadExt};

use crate::{Client, Error, error::excerpt, retry::Decision};

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
    fn path(&self) -> String {
        match self {
            ResourceUpload::NewResource { dataset } => {
                format!("datasets/{}/upload/", segment(dataset))
            }
            ResourceUpload::ReplaceResource { dataset, resource } => {
                format!(
                    "datasets/{}/resources/{}/upload/",
                    segment(dataset),
                    segment(resource)
                )
            }
            ResourceUpload::NewCommunityResource { dataset } => {
                format!("datasets/{}/upload/community/", segment(dataset))
            }
            ResourceUpload::ReplaceCommunityResource { community } => {
                format!(
                    "datasets/community_resources/{}/upload/",
                    segment(community)
                )
            }
        }
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
    fn route(&self) -> (Method, String) {
        match self {
            ImageUpload::MyAvatar => (Method::POST, "me/avatar/".into()),
            ImageUpload::UserAvatar(user) => {
                (Method::POST, format!("users/{}/avatar/", segment(user)))
            }
            ImageUpload::OrganizationLogo(org) => (
                Method::POST,
                format!("organizations/{}/logo/", segment(org)),
            ),
            ImageUpload::ResizeOrganizationLogo(org) => {
                (Method::PUT, format!("organizations/{}/logo/", segment(org)))
            }
            ImageUpload::OrganizationBanner(org) => (
                Method::POST,
                format!("organizations/{}/banner/", segment(org)),
            ),
            ImageUpload::PostImage(post) => {
                (Method::POST, format!("posts/{}/image/", segment(post)))
            }
            ImageUpload::ResizePostImage(post) => {
                (Method::PUT, format!("posts/{}/image/", segment(post)))
            }
            ImageUpload::ReuseImage(reuse) => {
                (Method::POST, format!("reuses/{}/image/", segment(reuse)))
            }
            ImageUpload::VisualizationImage(id) => (
                Method::POST,
                format!("visualizations/{}/image/", segment(id)),
            ),
        }
    }
}

/// An id as one path segment (ids and slugs hold no `/`, but be safe).
fn segment(id: &str) -> String {
    url::form_urlencoded::byte_serialize(id.as_bytes()).collect()
}

/// What to upload: a file, or any async reader of a known size.
pub struct UploadSource {
    name: String,
    size: u64,
    reader: Box<dyn AsyncRead + Unpin + Send>,
}

impl UploadSource {
    /// A file; its name is the uploaded file name.
    pub async fn file(path: impl AsRef<Path>) -> Result<UploadSource, Error> {
        let path: PathBuf = path.as_ref().to_path_buf();
        let file = tokio::fs::File::open(&path)
            .await
            .map_err(|e| Error::InvalidInput(format!("cannot read {}: {e}", path.display())))?;
        let size = file
            .metadata()
            .await
            .map_err(|e| Error::InvalidInput(format!("cannot read {}: {e}", path.display())))?
            .len();
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "file".into());
        Ok(UploadSource {
            name,
            size,
            reader: Box::new(file),
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
            reader: Box::new(reader),
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
    /// one part goes in one request. Memory use is about one part.
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
        self.upload_in_parts(&target.path(), source, options).await
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
        self.upload_in_parts(&target.path(), source, options).await
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
        let (method, path) = target.route();
        let mut buffer = Vec::with_capacity(source.size as usize);
        source
            .reader
            .read_to_end(&mut buffer)
            .await
            .map_err(|e| Error::InvalidInput(format!("cannot read the image: {e}")))?;
        let bytes = Bytes::from(buffer);
        let name = source.name.clone();
        let bbox = bbox.map(str::to_owned);
        self.send_form(method, &path, false, move || {
            let mut form = Form::new().part("file", file_part(&bytes, &name));
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
            let bytes = read_part(&mut source, total).await?;
            let file_name = name.clone();
            let result = self
                .send_form(Method::POST, path, false, move || {
                    Form::new().part("file", file_part(&bytes, &file_name))
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
        let mut sent = 0;
        let mut bytes = read_part(&mut source, options.chunk_size.min(total)).await?;
        for index in 0..parts {
            let size = bytes.len() as u64;
            // Part n+1 is read while part n is on the wire: two parts in
            // memory at most.
            let next_size = options.chunk_size.min(total - sent - size);
            let (id, name) = (id.clone(), name.clone());
            let part = bytes.clone();
            let send = self.send_form(Method::POST, path, true, move || {
                Form::new()
                    .text("uuid", id.clone())
                    .text("filename", name.clone())
                    .text("partindex", index.to_string())
                    .text("totalparts", parts.to_string())
                    .text("chunksize", size.to_string())
                    .part("file", file_part(&part, &name))
            });
            let read = async {
                match next_size {
                    0 => Ok(Bytes::new()),
                    next => read_part(&mut source, next).await,
                }
            };
            let (ack, next): (Result<serde_json::Value, Error>, _) = futures::join!(send, read);
            let ack = ack?;
            if ack.get("success").and_then(|s| s.as_bool()) != Some(true) {
                return Err(Error::InvalidInput(format!(
                    "the server refused part {index} of {parts}: {ack}"
                )));
            }
            sent += size;
            if let Some(callback) = options.on_progress.as_mut() {
                callback(sent, total);
            }
            bytes = next?;
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
        let started = Instant::now();
        let mut attempt = 1;
        loop {
            let mut request = self
                .http_client()
                .request(method.clone(), url.clone())
                .multipart(form())
                .build()
                .map_err(Error::Transport)?;
            datagouv_runtime::Transport::prepare(self.transport(), &mut request, "upload")
                .map_err(Error::InvalidInput)?;
            let result = self
                .transport()
                .send_following(self.http_client(), request)
                .await;
            let decision =
                self.retry_policy()
                    .decide_live(&method, resend_is_safe, &result, attempt, started);
            match (decision, result) {
                (Decision::RetryAfter(wait), _) => {
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
                (Decision::Stop, Err(error)) => return Err(Error::Transport(error)),
                (Decision::Stop, Ok(response)) if !response.status().is_success() => {
                    return Err(Error::from_response(response).await);
                }
                (Decision::Stop, Ok(response)) => {
                    let body = response.bytes().await.map_err(Error::Transport)?;
                    return serde_json::from_slice(&body).map_err(|source| Error::Decode {
                        excerpt: excerpt(&body),
                        source,
                    });
                }
            }
        }
    }
}

/// A file part over shared bytes: re-sending it copies nothing.
fn file_part(bytes: &Bytes, name: &str) -> Part {
    Part::stream_with_length(reqwest::Body::from(bytes.clone()), bytes.len() as u64)
        .file_name(name.to_owned())
        .mime_str("application/octet-stream")
        .expect("a valid MIME type")
}

async fn read_part(source: &mut UploadSource, size: u64) -> Result<Bytes, Error> {
    let mut bytes = Vec::with_capacity(size as usize);
    (&mut source.reader)
        .take(size)
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
    Ok(Bytes::from(bytes))
}
