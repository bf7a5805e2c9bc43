//! An incremental, resumable local mirror of datasets: one folder per
//! dataset (its slug), one file per resource under a safe, stable name, and
//! a manifest (`.datagouv-sync.json`) recording for each file where it came
//! from and what identified its version. A run fetches only what changed:
//! files udata hosts are compared by the catalog's checksum (or last
//! modification and size) without any request; remote files are asked for
//! with `If-None-Match`/`If-Modified-Since`. Downloads are verified and
//! resumable ([`DownloadOptions::resumable`]); a file takes its final name
//! only when complete, so the previous good copy stays until then.
//!
//! The manifest is written (atomically) as files complete, at most once a
//! second and at the end, so an interrupted run keeps what it finished. Its
//! paths are checked when it is read: one that is absolute or leaves the
//! mirror (`..`) stops the sync before any request. A mirror is what its
//! plan covers: a file whose resource is no longer in it (deleted, its
//! dataset deleted or emptied, gone from the organization or the query) is
//! reported as gone, and deleted with [`SyncPlan::delete`]. Two syncs of the
//! same folder at once are refused (Unix: the folder is locked).

use futures::{
    SinkExt, StreamExt,
    channel::mpsc,
    stream::{self, BoxStream},
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::{
    collections::{BTreeMap, HashMap, HashSet},
    path::{Path, PathBuf},
    sync::Arc,
    time::{Duration, Instant},
};
use tokio::sync::Semaphore;

use crate::{
    Checksum, ChecksumKind, Client, DownloadOptions, DownloadSource, Error, ListExt, SendExt,
    Validators,
    atomic_file::{AtomicOptions, lock_folder, write_atomically},
};

/// The manifest's file name in the mirror's directory.
pub const MANIFEST: &str = ".datagouv-sync.json";
/// Connections to one host at a time.
const PER_HOST: usize = 2;
/// The manifest is written at most this often while files complete (and
/// at the end): bounded cost for large mirrors, little lost to a kill.
const MANIFEST_EVERY: Duration = Duration::from_secs(1);

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
    /// Delete the files of resources no longer in what the plan covers:
    /// resources deleted, datasets deleted or left without resources,
    /// datasets gone from the organizations or the query, or no longer named
    /// (else they are kept and reported as gone).
    pub fn delete(mut self, yes: bool) -> Self {
        self.delete = yes;
        self
    }
    /// Report the plan without touching anything; the summary counts what
    /// a real run would do.
    pub fn dry_run(mut self, yes: bool) -> Self {
        self.dry_run = yes;
        self
    }
    /// Check every local copy against the manifest (its size, and its
    /// checksum when one is recorded) before trusting it; a copy that
    /// differs is fetched again whole, without conditional headers. (Sizes
    /// are always compared.)
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
#[non_exhaustive]
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
    /// The sync could not run at all (a dataset or organization not
    /// found, a damaged manifest, a folder that cannot be written);
    /// [`SyncEvent::Finished`] follows.
    Aborted(SyncAbort),
    /// The sync ended.
    Finished(SyncSummary),
}

/// Why a sync could not run: the [`Error`], shared by the clones of its
/// event.
#[derive(Clone, Debug)]
pub struct SyncAbort(Arc<Error>);

impl SyncAbort {
    /// The error.
    pub fn error(&self) -> &Error {
        &self.0
    }

    /// The error itself when this is its last holder, else `self`.
    pub fn into_error(self) -> Result<Error, SyncAbort> {
        Arc::try_unwrap(self.0).map_err(SyncAbort)
    }
}

impl PartialEq for SyncAbort {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl std::fmt::Display for SyncAbort {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// What a sync did (serialised with these field names, as the command
/// line's `--json` and the Python package report it).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct SyncSummary {
    /// Files fetched for the first time (in a dry run: that would be).
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
    /// Dry run: remote files whose host would be asked whether they
    /// changed (fetched only if they did).
    pub to_check: usize,
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
    /// Every path must be relative and stay inside the mirror (normal
    /// components only): any other is an [`Error::InvalidInput`] naming
    /// it, so a damaged or hostile manifest never makes a sync write or
    /// delete outside its folder.
    pub async fn read(dir: &Path) -> Result<Manifest, Error> {
        let path = dir.join(MANIFEST);
        let manifest: Manifest = match tokio::fs::read(&path).await {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                Error::InvalidInput(format!(
                    "{} is not a sync manifest: {e}; move it away to start the mirror's record anew",
                    path.display()
                ))
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Manifest::default()),
            Err(e) => return Err(Error::io("read", &path, e)),
        };
        if let Some(bad) = manifest.files.keys().find(|key| !is_mirror_path(key)) {
            return Err(Error::InvalidInput(format!(
                "{} names `{bad}`, a path outside the mirror (only relative paths below the folder are allowed): \
                 the manifest is damaged or was tampered with; remove that entry or the manifest",
                path.display()
            )));
        }
        Ok(manifest)
    }

    fn write(&self, dir: &Path) -> Result<(), Error> {
        let text = serde_json::to_vec_pretty(self).expect("a manifest serialises");
        write_atomically(&dir.join(MANIFEST), &text, AtomicOptions::default())
    }
}

/// Whether a manifest key is a path inside the mirror: relative, made of
/// normal components only (no `..`, `.`, root or drive; no `\\` or `:`,
/// which other systems read as separators or drives), not empty, and not
/// the manifest itself.
fn is_mirror_path(key: &str) -> bool {
    let path = Path::new(key);
    !key.is_empty()
        && key != MANIFEST
        && !key.contains(['\\', ':'])
        && key
            .split('/')
            .all(|part| !part.is_empty() && part != "." && part != "..")
        && path
            .components()
            .all(|c| matches!(c, std::path::Component::Normal(_)))
        && path.components().count() > 0
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
    crate::download::local_file_name(&remote.url, &remote.title)
}

impl Client {
    /// Brings a local mirror up to date; events arrive as a stream that ends
    /// with [`SyncEvent::Finished`]. A file that fails is reported and the
    /// others go on; a sync that cannot run at all reports
    /// [`SyncEvent::Aborted`]. Dropping the stream stops the sync: files
    /// complete by then are in the manifest if it was written since (at
    /// most a second earlier), the others are resumed next time.
    pub fn sync(&self, plan: SyncPlan) -> BoxStream<'static, SyncEvent> {
        let (sender, receiver) = mpsc::unbounded();
        let client = self.clone();
        let run = async move {
            let mut events = sender.clone();
            let summary = match client.sync_run(&plan, sender).await {
                Ok(summary) => summary,
                Err(error) => {
                    let _ = events
                        .send(SyncEvent::Aborted(SyncAbort(Arc::new(error))))
                        .await;
                    SyncSummary::default()
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
        if plan.dir.exists() && !plan.dir.is_dir() {
            return Err(Error::io(
                "sync into",
                &plan.dir,
                std::io::Error::new(
                    std::io::ErrorKind::NotADirectory,
                    "it is a file, not a folder; name a folder",
                ),
            ));
        }
        // An existing mirror is locked and its manifest checked before any
        // request; a new one is created only once the catalog was read.
        let mut lock = match !plan.dry_run && plan.dir.is_dir() {
            true => lock_folder(&plan.dir)?,
            false => None,
        };
        let mut manifest = Manifest::read(&plan.dir).await?;
        let datasets = self.catalog(plan).await?;
        if !plan.dry_run {
            tokio::fs::create_dir_all(&plan.dir)
                .await
                .map_err(|e| Error::io("create the folder", &plan.dir, e))?;
            if lock.is_none() {
                lock = lock_folder(&plan.dir)?;
            }
        }
        let _lock = lock;
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
        let mut taken: HashSet<String> = manifest.files.keys().cloned().collect();
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
            // The local copy is the one the manifest records: its size
            // always, its checksum too with `verify`. One that is not is
            // fetched again whole (no conditional request).
            let intact = match (entry, &present) {
                (Some(entry), Some(meta)) if meta.is_file() && meta.len() == entry.size => {
                    !plan.verify || verify_local(&local, entry.checksum.as_deref()).await
                }
                _ => false,
            };
            // Hosted files, and remote ones whose host gave no validator:
            // the catalog's checksum, else its date and size, decide without
            // a request. Other remote files are asked for conditionally.
            let by_catalog = |entry: &ManifestEntry| {
                remote.hosted || (entry.etag.is_none() && entry.http_last_modified.is_none())
            };
            let unchanged = match entry {
                Some(entry) if intact && by_catalog(entry) => match &remote.checksum {
                    Some(checksum) => {
                        entry.checksum.as_deref() == Some(checksum_text(checksum).as_str())
                    }
                    None => {
                        entry.last_modified == remote.last_modified
                            && remote.size.is_none_or(|s| s == entry.size)
                    }
                },
                _ => false,
            };
            let existed = entry.is_some() && present.is_some();
            let ask_host = entry.is_some_and(|e| intact && !by_catalog(e));
            if unchanged {
                summary.unchanged += 1;
                send(SyncEvent::Skipped {
                    file: path,
                    reason: "unchanged".into(),
                });
            } else if plan.dry_run {
                let reason = if ask_host {
                    summary.to_check += 1;
                    "would ask the host whether it changed"
                } else if !existed {
                    summary.new += 1;
                    "would fetch (new)"
                } else if !intact {
                    summary.updated += 1;
                    "would fetch (the local copy is not the one the manifest records)"
                } else {
                    summary.updated += 1;
                    "would fetch (changed in the catalog)"
                };
                send(SyncEvent::Skipped {
                    file: path,
                    reason: reason.into(),
                });
            } else {
                let validators = entry.filter(|_| ask_host).map(|e| Validators {
                    etag: e.etag.clone(),
                    last_modified: e.http_last_modified.clone(),
                });
                to_fetch.push((path, remote, validators, existed));
            }
        }

        // Gone: every file of the manifest whose resource is not in what
        // the plan covers now.
        let current: HashSet<&str> = remotes.iter().map(|r| r.id.as_str()).collect();
        let gone: Vec<String> = manifest
            .files
            .iter()
            .filter(|(_, e)| !current.contains(e.resource_id.as_str()))
            .map(|(path, _)| path.clone())
            .collect();
        for path in gone {
            let mut deleted = false;
            if plan.delete && plan.dry_run {
                summary.deleted += 1;
            } else if plan.delete {
                let local = plan.dir.join(&path);
                match tokio::fs::remove_file(&local).await {
                    Ok(()) => deleted = true,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => deleted = true,
                    Err(e) => {
                        summary.failed += 1;
                        send(SyncEvent::Failed {
                            file: path,
                            error: Error::io("delete", &local, e).to_string(),
                        });
                        continue;
                    }
                }
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
        if summary.deleted > 0 {
            manifest.write(&plan.dir)?;
        }

        let hosts: Arc<std::sync::Mutex<HashMap<String, Arc<Semaphore>>>> = Arc::default();
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
                        let error = Error::io("create the folder", parent, error);
                        return (path, remote, existed, Err(error));
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

        // Each result is recorded as soon as its file is done; the manifest
        // is written when it changed, at most once per MANIFEST_EVERY.
        let mut written_at = Instant::now();
        let mut dirty = false;
        loop {
            let next = if dirty {
                let wait = MANIFEST_EVERY.saturating_sub(written_at.elapsed());
                match tokio::time::timeout(wait, downloads.next()).await {
                    Ok(next) => next,
                    Err(_) => {
                        manifest.write(&plan.dir)?;
                        (dirty, written_at) = (false, Instant::now());
                        continue;
                    }
                }
            } else {
                downloads.next().await
            };
            let Some((path, remote, existed, download)) = next else {
                break;
            };
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
                    dirty = true;
                    if written_at.elapsed() >= MANIFEST_EVERY {
                        manifest.write(&plan.dir)?;
                        (dirty, written_at) = (false, Instant::now());
                    }
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
        manifest.write(&plan.dir)?;
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

/// Whether a local copy matches the checksum the manifest records
/// (`kind:hex`; true when none is recorded: its size was compared already).
async fn verify_local(path: &Path, recorded: Option<&str>) -> bool {
    let Some((kind, value)) = recorded.and_then(|c| c.split_once(':')) else {
        return true;
    };
    let Some(kind) = ChecksumKind::parse(kind) else {
        return true;
    };
    crate::download::file_checksum(path, kind)
        .await
        .is_ok_and(|hex| hex.eq_ignore_ascii_case(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_relative_paths_inside_the_mirror_are_manifest_paths() {
        for good in ["jeu/fichier.csv", "a/b/c.txt", "fichier"] {
            assert!(is_mirror_path(good), "{good}");
        }
        for bad in [
            "",
            "/etc/passwd",
            "../outside.csv",
            "jeu/../../outside.csv",
            "./jeu/a.csv",
            "jeu/./a.csv",
            "jeu\\..\\..\\x",
            MANIFEST,
            "C:/x",
        ] {
            assert!(!is_mirror_path(bad), "{bad}");
        }
    }

    #[test]
    fn names_are_safe_and_never_empty_or_hidden() {
        assert_eq!(safe_name("Données 2024 (v2).csv"), "Données-2024-v2-.csv");
        assert_eq!(safe_name("../../etc/passwd"), "etc-passwd");
        assert_eq!(safe_name(".hidden"), "hidden");
        assert_eq!(safe_name("///"), "file");
    }
}
