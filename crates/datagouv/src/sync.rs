//! An incremental, resumable local mirror of datasets: one folder per
//! dataset (its slug), one file per resource under a safe, stable name, and
//! a manifest (`.datagouv-sync.json`) recording for each file where it came
//! from and what identified its version. A run fetches only what changed:
//! files udata hosts are compared by the catalog's checksum (or last
//! modification and size) without any request; remote files are asked for
//! with `If-None-Match`/`If-Modified-Since`. Downloads are verified and
//! resumable ([`DownloadOptions::resumable`]); a file takes its final name
//! only when complete, so the previous good copy stays until then.

use futures::{
    SinkExt, StreamExt,
    channel::mpsc,
    stream::{self, BoxStream},
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::{
    collections::{BTreeMap, HashMap},
    path::{Path, PathBuf},
    sync::Arc,
};
use tokio::sync::Semaphore;

use crate::{
    Checksum, ChecksumKind, Client, DownloadOptions, DownloadSource, Error, ListExt, SendExt,
    Validators,
};

/// The manifest's file name in the mirror's directory.
pub const MANIFEST: &str = ".datagouv-sync.json";
/// Connections to one host at a time.
const PER_HOST: usize = 2;

/// What to mirror, where, and how.
#[derive(Clone, Debug)]
pub struct SyncPlan {
    dir: PathBuf,
    datasets: Vec<String>,
    organizations: Vec<String>,
    query: Option<String>,
    delete: bool,
    dry_run: bool,
    verify: bool,
    jobs: usize,
}

impl SyncPlan {
    /// A mirror in `dir` (created when missing), of nothing yet.
    pub fn new(dir: impl Into<PathBuf>) -> SyncPlan {
        SyncPlan {
            dir: dir.into(),
            datasets: Vec::new(),
            organizations: Vec::new(),
            query: None,
            delete: false,
            dry_run: false,
            verify: false,
            jobs: 4,
        }
    }
    /// Mirror this dataset (id or slug).
    pub fn dataset(mut self, id: impl Into<String>) -> Self {
        self.datasets.push(id.into());
        self
    }
    /// Mirror every dataset of this organization (id or slug).
    pub fn organization(mut self, id: impl Into<String>) -> Self {
        self.organizations.push(id.into());
        self
    }
    /// Mirror the datasets a search finds.
    pub fn query(mut self, text: impl Into<String>) -> Self {
        self.query = Some(text.into());
        self
    }
    /// Delete the files of resources gone from the catalog (else they are
    /// kept and reported).
    pub fn delete(mut self, yes: bool) -> Self {
        self.delete = yes;
        self
    }
    /// Report the plan without touching anything.
    pub fn dry_run(mut self, yes: bool) -> Self {
        self.dry_run = yes;
        self
    }
    /// Re-hash the local copies of hosted files instead of trusting the manifest.
    pub fn verify(mut self, yes: bool) -> Self {
        self.verify = yes;
        self
    }
    /// Files downloaded at a time (at least 1; default 4; at most 2 per host).
    pub fn jobs(mut self, jobs: usize) -> Self {
        self.jobs = jobs.max(1);
        self
    }
}

/// What a sync reports, in order; [`SyncEvent::Finished`] comes last.
#[derive(Clone, Debug, PartialEq)]
pub enum SyncEvent {
    /// The catalog was read: this many files to consider.
    Planned {
        /// Files of the datasets mirrored.
        files: usize,
    },
    /// A file needs no download (or, in a dry run, would be fetched).
    Skipped {
        /// Its path in the mirror.
        file: String,
        /// Why.
        reason: String,
    },
    /// Bytes of a file arrived.
    Downloading {
        /// Its path in the mirror.
        file: String,
        /// Bytes so far.
        bytes: u64,
        /// Its size, when known.
        total: Option<u64>,
    },
    /// A file was fetched, verified and put in place.
    Done {
        /// Its path in the mirror.
        file: String,
        /// Bytes moved for it.
        bytes: u64,
        /// It replaced an older copy.
        updated: bool,
    },
    /// A file could not be fetched; the others go on.
    Failed {
        /// Its path in the mirror.
        file: String,
        /// What went wrong.
        error: String,
    },
    /// A file whose resource left the catalog.
    Gone {
        /// Its path in the mirror.
        file: String,
        /// It was deleted (`delete(true)`), else kept.
        deleted: bool,
    },
    /// The sync ended.
    Finished(SyncSummary),
}

/// What a sync did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SyncSummary {
    /// Files fetched for the first time.
    pub new: usize,
    /// Files fetched again because they changed.
    pub updated: usize,
    /// Files left as they were.
    pub unchanged: usize,
    /// Files deleted because their resource left the catalog.
    pub deleted: usize,
    /// Files kept although their resource left the catalog.
    pub gone: usize,
    /// Files that failed.
    pub failed: usize,
    /// Bytes downloaded.
    pub bytes: u64,
}

/// One file of the mirror, as the manifest records it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ManifestEntry {
    /// The resource's id.
    pub resource_id: String,
    /// The dataset's id.
    pub dataset_id: String,
    /// The URL it was fetched from (the catalog's).
    pub url: String,
    /// Its size in bytes.
    pub size: u64,
    /// The catalog's checksum (`sha1:…`), when there is one.
    pub checksum: Option<String>,
    /// The catalog's last modification of the resource.
    pub last_modified: String,
    /// The `ETag` the file host sent.
    pub etag: Option<String>,
    /// The `Last-Modified` the file host sent.
    pub http_last_modified: Option<String>,
    /// When it was fetched (RFC 3339).
    pub fetched_at: String,
}

/// The mirror's manifest: every file by its path below the directory.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Manifest {
    /// The files, by path (`dataset-slug/file.csv`).
    pub files: BTreeMap<String, ManifestEntry>,
}

impl Manifest {
    /// Reads the manifest of a mirror (empty when there is none yet).
    pub async fn read(dir: &Path) -> Result<Manifest, Error> {
        match tokio::fs::read(dir.join(MANIFEST)).await {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                Error::InvalidInput(format!(
                    "{} is not a sync manifest: {e}",
                    dir.join(MANIFEST).display()
                ))
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Manifest::default()),
            Err(e) => Err(io_error(&dir.join(MANIFEST), e)),
        }
    }

    async fn write(&self, dir: &Path) -> Result<(), Error> {
        let path = dir.join(MANIFEST);
        let temporary = dir.join(format!("{MANIFEST}.tmp"));
        let text = serde_json::to_vec_pretty(self).expect("a manifest serialises");
        tokio::fs::write(&temporary, text)
            .await
            .map_err(|e| io_error(&temporary, e))?;
        tokio::fs::rename(&temporary, &path)
            .await
            .map_err(|e| io_error(&path, e))
    }
}

/// A resource of the catalog, as the sync needs it.
#[derive(Clone, Debug)]
struct Remote {
    dataset_id: String,
    dataset_slug: String,
    id: String,
    title: String,
    url: String,
    hosted: bool,
    checksum: Option<Checksum>,
    last_modified: String,
    size: Option<u64>,
}

fn io_error(path: &Path, error: std::io::Error) -> Error {
    Error::InvalidInput(format!("{}: {error}", path.display()))
}

/// A name safe on every file system: letters, digits, `.`, `-`, `_`;
/// nothing hidden, nothing empty, at most 120 characters.
pub fn safe_name(text: &str) -> String {
    let mut name: String = text
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '-'
            }
        })
        .collect();
    while name.contains("--") {
        name = name.replace("--", "-");
    }
    let name = name.trim_matches(|c| c == '-' || c == '.').to_owned();
    let name: String = name.chars().take(120).collect();
    if name.is_empty() {
        "file".to_owned()
    } else {
        name
    }
}

fn checksum_text(checksum: &Checksum) -> String {
    let kind = match checksum.kind {
        ChecksumKind::Sha1 => "sha1",
        ChecksumKind::Sha256 => "sha256",
        ChecksumKind::Md5 => "md5",
    };
    format!("{kind}:{}", checksum.value)
}

/// The resources of one dataset (a v1 `Dataset` or `DatasetRead` as JSON).
fn remotes_of(dataset: &Value) -> Vec<Remote> {
    let text = |v: &Value, k: &str| {
        v.get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let (dataset_id, dataset_slug) = (text(dataset, "id"), text(dataset, "slug"));
    dataset["resources"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|resource| Remote {
            dataset_id: dataset_id.clone(),
            dataset_slug: dataset_slug.clone(),
            id: text(resource, "id"),
            title: text(resource, "title"),
            url: text(resource, "url"),
            hosted: text(resource, "filetype") == "file",
            checksum: resource.get("checksum").and_then(|c| {
                Some(Checksum {
                    kind: ChecksumKind::parse(c.get("type")?.as_str()?)?,
                    value: c.get("value")?.as_str()?.to_ascii_lowercase(),
                })
            }),
            last_modified: text(resource, "last_modified"),
            size: resource.get("filesize").and_then(Value::as_u64),
        })
        .collect()
}

/// A file's name from its URL's last segment when that has an extension,
/// else from its title.
fn file_name_of(remote: &Remote) -> String {
    let from_url = reqwest::Url::parse(&remote.url).ok().and_then(|url| {
        let last = url.path_segments()?.next_back()?.to_owned();
        let decoded = url::form_urlencoded::parse(format!("x={last}").as_bytes())
            .next()?
            .1
            .into_owned();
        decoded.contains('.').then_some(decoded)
    });
    safe_name(&from_url.unwrap_or_else(|| remote.title.clone()))
}

impl Client {
    /// Brings a local mirror up to date; events arrive as a stream that ends
    /// with [`SyncEvent::Finished`]. A file that fails is reported and the
    /// others go on.
    pub fn sync(&self, plan: SyncPlan) -> BoxStream<'static, SyncEvent> {
        let (sender, receiver) = mpsc::unbounded();
        let client = self.clone();
        let run = async move {
            let mut events = sender.clone();
            let summary = match client.sync_run(&plan, sender).await {
                Ok(summary) => summary,
                Err(error) => {
                    let _ = events
                        .send(SyncEvent::Failed {
                            file: String::new(),
                            error: error.to_string(),
                        })
                        .await;
                    SyncSummary {
                        failed: 1,
                        ..SyncSummary::default()
                    }
                }
            };
            let _ = events.send(SyncEvent::Finished(summary)).await;
        };
        let runner = stream::once(run).filter_map(|()| async { None });
        stream::select(runner, receiver).boxed()
    }

    async fn catalog(&self, plan: &SyncPlan) -> Result<Vec<Value>, Error> {
        let mut datasets = Vec::new();
        for id in &plan.datasets {
            let dataset = self
                .main()
                .get_dataset()
                .dataset(id.as_str())
                .send()
                .value()
                .await?;
            datasets.push(serde_json::to_value(dataset).expect("a dataset serialises"));
        }
        for org in &plan.organizations {
            let list = self
                .main()
                .list_organization_datasets()
                .org(org.as_str())
                .page_size(100u64);
            datasets.extend(as_json(list).await?);
        }
        if let Some(query) = &plan.query {
            let list = self
                .main()
                .list_datasets()
                .q(query.as_str())
                .page_size(100u64);
            datasets.extend(as_json(list).await?);
        }
        Ok(datasets)
    }

    async fn sync_run(
        &self,
        plan: &SyncPlan,
        events: mpsc::UnboundedSender<SyncEvent>,
    ) -> Result<SyncSummary, Error> {
        if plan.datasets.is_empty() && plan.organizations.is_empty() && plan.query.is_none() {
            return Err(Error::InvalidInput(
                "nothing to sync: name datasets, organizations or a query".into(),
            ));
        }
        if !plan.dry_run {
            tokio::fs::create_dir_all(&plan.dir)
                .await
                .map_err(|e| io_error(&plan.dir, e))?;
        }
        let mut manifest = Manifest::read(&plan.dir).await?;
        let datasets = self.catalog(plan).await?;
        let remotes: Vec<Remote> = datasets.iter().flat_map(remotes_of).collect();
        let send = |event| {
            let _ = events.unbounded_send(event);
        };
        send(SyncEvent::Planned {
            files: remotes.len(),
        });

        // Names: kept from the manifest for resources it knows, else made
        // unique within the dataset's folder.
        let known: HashMap<&str, &str> = manifest
            .files
            .iter()
            .map(|(path, entry)| (entry.resource_id.as_str(), path.as_str()))
            .collect();
        let mut taken: std::collections::HashSet<String> = manifest.files.keys().cloned().collect();
        let mut planned = Vec::new();
        for remote in &remotes {
            let path = match known.get(remote.id.as_str()) {
                Some(path) => (*path).to_owned(),
                None => {
                    let folder = safe_name(&remote.dataset_slug);
                    let mut path = format!("{folder}/{}", file_name_of(remote));
                    if taken.contains(&path) {
                        let short: String = remote.id.chars().take(8).collect();
                        let name = file_name_of(remote);
                        let (stem, ext) = name
                            .rsplit_once('.')
                            .map_or((name.as_str(), ""), |(s, e)| (s, e));
                        path = format!(
                            "{folder}/{stem}-{short}{}{ext}",
                            if ext.is_empty() { "" } else { "." }
                        );
                    }
                    path
                }
            };
            taken.insert(path.clone());
            planned.push((path, remote.clone()));
        }

        let mut summary = SyncSummary::default();
        let mut to_fetch = Vec::new();
        for (path, remote) in planned {
            let local = plan.dir.join(&path);
            let entry = manifest.files.get(&path);
            let present = tokio::fs::metadata(&local).await.ok();
            // Hosted files, and remote ones whose host gave no validator:
            // the catalog's checksum, else its date and size, decide without
            // a request. Other remote files are asked for conditionally.
            let by_catalog = |entry: &ManifestEntry| {
                remote.hosted || (entry.etag.is_none() && entry.http_last_modified.is_none())
            };
            let unchanged = match (entry, &present) {
                (Some(entry), Some(meta)) if by_catalog(entry) => {
                    let same = match &remote.checksum {
                        Some(checksum) => {
                            entry.checksum.as_deref() == Some(checksum_text(checksum).as_str())
                        }
                        None => {
                            entry.last_modified == remote.last_modified
                                && remote.size.is_none_or(|s| s == meta.len())
                        }
                    };
                    same && meta.len() == entry.size
                        && (!plan.verify || verify_local(&local, remote.checksum.as_ref()).await)
                }
                _ => false,
            };
            if unchanged {
                summary.unchanged += 1;
                send(SyncEvent::Skipped {
                    file: path,
                    reason: "unchanged".into(),
                });
            } else if plan.dry_run {
                let reason = match (entry, remote.hosted) {
                    (None, _) => "would fetch (new)",
                    (Some(_), true) => "would fetch (changed in the catalog)",
                    (Some(_), false) => "would ask the host whether it changed",
                };
                send(SyncEvent::Skipped {
                    file: path,
                    reason: reason.into(),
                });
            } else {
                let validators = entry
                    .filter(|_| present.is_some() && !remote.hosted)
                    .map(|e| Validators {
                        etag: e.etag.clone(),
                        last_modified: e.http_last_modified.clone(),
                    });
                to_fetch.push((
                    path,
                    remote,
                    validators,
                    entry.is_some() && present.is_some(),
                ));
            }
        }

        // Gone from the catalog.
        let current: std::collections::HashSet<&str> =
            remotes.iter().map(|r| r.id.as_str()).collect();
        let synced: std::collections::HashSet<&str> =
            remotes.iter().map(|r| r.dataset_id.as_str()).collect();
        let gone: Vec<String> = manifest
            .files
            .iter()
            .filter(|(_, e)| {
                synced.contains(e.dataset_id.as_str()) && !current.contains(e.resource_id.as_str())
            })
            .map(|(path, _)| path.clone())
            .collect();
        for path in gone {
            let deleted = plan.delete && !plan.dry_run;
            if deleted {
                let _ = tokio::fs::remove_file(plan.dir.join(&path)).await;
                manifest.files.remove(&path);
                summary.deleted += 1;
            } else {
                summary.gone += 1;
            }
            send(SyncEvent::Gone {
                file: path,
                deleted,
            });
        }
        if plan.dry_run {
            return Ok(summary);
        }

        let hosts: Arc<std::sync::Mutex<HashMap<String, Arc<Semaphore>>>> = Arc::default();
        // Each result is recorded as soon as its file is done.
        let mut downloads = stream::iter(to_fetch)
            .map(|(path, remote, validators, existed)| {
                let hosts = hosts.clone();
                let events = events.clone();
                let local = plan.dir.join(&path);
                async move {
                    let host = reqwest::Url::parse(&remote.url)
                        .ok()
                        .and_then(|u| u.host_str().map(str::to_owned))
                        .unwrap_or_default();
                    let gate = hosts
                        .lock()
                        .expect("host gates")
                        .entry(host)
                        .or_insert_with(|| Arc::new(Semaphore::new(PER_HOST)))
                        .clone();
                    let _permit = gate.acquire_owned().await.expect("never closed");
                    if let Some(parent) = local.parent()
                        && let Err(error) = tokio::fs::create_dir_all(parent).await
                    {
                        return (path, remote, existed, Err(io_error(parent, error)));
                    }
                    let file = path.clone();
                    let mut options =
                        DownloadOptions::default()
                            .resumable()
                            .on_progress(move |bytes, total| {
                                let _ = events.unbounded_send(SyncEvent::Downloading {
                                    file: file.clone(),
                                    bytes,
                                    total,
                                });
                            });
                    if let Some(checksum) = remote.checksum.clone() {
                        options = options.checksum(checksum);
                    }
                    if let Some(validators) = validators {
                        options = options.unless_unchanged(validators);
                    }
                    let result = self
                        .download(DownloadSource::Url(remote.url.clone()), &local, options)
                        .await;
                    (path, remote, existed, result)
                }
            })
            .buffer_unordered(plan.jobs);

        while let Some((path, remote, existed, download)) = downloads.next().await {
            match download {
                Ok(done) if done.not_modified => {
                    summary.unchanged += 1;
                    send(SyncEvent::Skipped {
                        file: path,
                        reason: "not modified (304)".into(),
                    });
                }
                Ok(done) => {
                    let size = done.resumed_from + done.bytes;
                    summary.bytes += done.bytes;
                    if existed {
                        summary.updated += 1
                    } else {
                        summary.new += 1
                    }
                    manifest.files.insert(
                        path.clone(),
                        ManifestEntry {
                            resource_id: remote.id.clone(),
                            dataset_id: remote.dataset_id.clone(),
                            url: remote.url.clone(),
                            size,
                            checksum: remote.checksum.as_ref().map(checksum_text),
                            last_modified: remote.last_modified.clone(),
                            etag: done.validators.etag.clone(),
                            http_last_modified: done.validators.last_modified.clone(),
                            fetched_at: chrono::Utc::now().to_rfc3339(),
                        },
                    );
                    send(SyncEvent::Done {
                        file: path,
                        bytes: done.bytes,
                        updated: existed,
                    });
                }
                Err(error) => {
                    summary.failed += 1;
                    send(SyncEvent::Failed {
                        file: path,
                        error: error.to_string(),
                    });
                }
            }
        }
        manifest.write(&plan.dir).await?;
        Ok(summary)
    }
}

/// Every item of a list, as JSON.
async fn as_json<L>(list: L) -> Result<Vec<Value>, Error>
where
    L: ListExt,
    <L::Page as crate::Page>::Item: Serialize,
{
    let items: Vec<_> = futures::TryStreamExt::try_collect(list.items()).await?;
    Ok(items
        .into_iter()
        .map(|item| serde_json::to_value(item).expect("a generated type serialises"))
        .collect())
}

/// Whether a local copy still matches the catalog's checksum (true when
/// the catalog has none: size and date were compared already).
async fn verify_local(path: &Path, checksum: Option<&Checksum>) -> bool {
    let Some(checksum) = checksum else {
        return true;
    };
    crate::download::file_checksum(path, checksum.kind)
        .await
        .is_ok_and(|hex| hex == checksum.value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_safe_and_never_empty_or_hidden() {
        assert_eq!(safe_name("Données 2024 (v2).csv"), "Données-2024-v2-.csv");
        assert_eq!(safe_name("../../etc/passwd"), "etc-passwd");
        assert_eq!(safe_name(".hidden"), "hidden");
        assert_eq!(safe_name("///"), "file");
    }
}
