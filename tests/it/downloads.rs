//! Conditional and resumable downloads against a small local file server
//! that behaves as static file hosts do: one that sends `ETag` and honours
//! `Range`/`If-Range`/`If-None-Match`, one that does neither, and a 404; it
//! can cut an answer after some bytes and counts the bytes it sends.

use datagouv::{Checksum, ChecksumKind, Client, DownloadOptions, DownloadSource, Error};
use sha1::{Digest, Sha1};
use std::sync::{
    Arc, Mutex,
    atomic::{AtomicU64, Ordering},
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpListener,
};

/// The file the server holds, its version, and its faults.
#[derive(Default)]
pub(crate) struct Hosted {
    pub(crate) body: Vec<u8>,
    pub(crate) version: u32,
    /// Cut the next answer after this many body bytes.
    pub(crate) cut_after: Option<u64>,
    /// Body bytes sent, over all answers.
    sent: u64,
    /// Request heads received.
    requests: Vec<String>,
}

pub(crate) struct FileServer {
    pub(crate) url: String,
    pub(crate) hosted: Arc<Mutex<Hosted>>,
}

fn header<'h>(head: &'h str, name: &str) -> Option<&'h str> {
    head.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        key.trim().eq_ignore_ascii_case(name).then(|| value.trim())
    })
}

impl FileServer {
    pub(crate) async fn start(body: Vec<u8>) -> FileServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let hosted = Arc::new(Mutex::new(Hosted {
            body,
            version: 1,
            ..Hosted::default()
        }));
        let state = hosted.clone();
        tokio::spawn(async move {
            loop {
                let Ok((mut socket, _)) = listener.accept().await else {
                    return;
                };
                let state = state.clone();
                tokio::spawn(async move {
                    let mut head = Vec::new();
                    let mut byte = [0u8; 1];
                    while !head.ends_with(b"\r\n\r\n") {
                        if socket.read(&mut byte).await.unwrap_or(0) == 0 {
                            return;
                        }
                        head.push(byte[0]);
                    }
                    let head = String::from_utf8_lossy(&head).into_owned();
                    let (answer, body) = respond(&state, &head);
                    let _ = socket.write_all(answer.as_bytes()).await;
                    let _ = socket.write_all(&body).await;
                    let _ = socket.shutdown().await;
                });
            }
        });
        FileServer { url, hosted }
    }

    pub(crate) fn sent(&self) -> u64 {
        self.hosted.lock().unwrap().sent
    }

    pub(crate) fn requests(&self) -> Vec<String> {
        self.hosted.lock().unwrap().requests.clone()
    }
}

/// The answer head and the body bytes to send (fewer than announced when cut).
fn respond(state: &Mutex<Hosted>, head: &str) -> (String, Vec<u8>) {
    let mut hosted = state.lock().unwrap();
    hosted.requests.push(head.to_owned());
    let path = head
        .split_whitespace()
        .nth(1)
        .unwrap_or_default()
        .to_owned();
    if path.starts_with("/missing") {
        return (
            "HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n".into(),
            Vec::new(),
        );
    }
    let validators = path.starts_with("/etag");
    let etag = format!("\"v{}\"", hosted.version);
    if validators && header(head, "if-none-match") == Some(etag.as_str()) {
        return (
            format!("HTTP/1.1 304 Not Modified\r\netag: {etag}\r\nconnection: close\r\n\r\n"),
            Vec::new(),
        );
    }
    let len = hosted.body.len() as u64;
    let range_start = header(head, "range")
        .and_then(|r| {
            r.strip_prefix("bytes=")?
                .strip_suffix('-')?
                .parse::<u64>()
                .ok()
        })
        .filter(|_| validators && header(head, "if-range") == Some(etag.as_str()));
    let (status, start) = match range_start {
        Some(start) if start < len => ("206 Partial Content", start),
        _ => ("200 OK", 0),
    };
    let mut answer = format!(
        "HTTP/1.1 {status}\r\ncontent-length: {}\r\nconnection: close\r\n",
        len - start
    );
    if validators {
        answer.push_str(&format!("etag: {etag}\r\naccept-ranges: bytes\r\n"));
    }
    if start > 0 {
        answer.push_str(&format!(
            "content-range: bytes {start}-{}/{len}\r\n",
            len - 1
        ));
    }
    answer.push_str("\r\n");
    let mut body = hosted.body[start as usize..].to_vec();
    if let Some(cut) = hosted.cut_after.take() {
        body.truncate(cut as usize);
    }
    hosted.sent += body.len() as u64;
    (answer, body)
}

pub(crate) fn content(size: usize, seed: u8) -> Vec<u8> {
    (0..size)
        .map(|i| b'a' + ((i * 7 + seed as usize) % 26) as u8)
        .collect()
}

fn sha1(bytes: &[u8]) -> Checksum {
    let digest = Sha1::digest(bytes);
    Checksum {
        kind: ChecksumKind::Sha1,
        value: digest.iter().map(|b| format!("{b:02x}")).collect(),
    }
}

fn client(server: &FileServer) -> Client {
    Client::builder().main_url(&server.url).build().unwrap()
}

#[tokio::test]
async fn an_unchanged_file_is_not_sent_again_and_a_changed_one_is() {
    let body = content(300_000, 1);
    let server = FileServer::start(body.clone()).await;
    let client = client(&server);
    let dir = tempdir();
    let path = dir.join("file.csv");
    let url = format!("{}/etag", server.url);

    let first = client
        .download(
            DownloadSource::Url(url.clone()),
            &path,
            DownloadOptions::default(),
        )
        .await
        .unwrap();
    assert_eq!((first.bytes, first.not_modified), (300_000, false));
    assert_eq!(first.validators.etag.as_deref(), Some("\"v1\""));
    let again = client
        .download(
            DownloadSource::Url(url.clone()),
            &path,
            DownloadOptions::default().unless_unchanged(first.validators.clone()),
        )
        .await
        .unwrap();
    assert!(again.not_modified && again.bytes == 0, "{again:?}");
    assert_eq!(
        server.sent(),
        300_000,
        "the unchanged file was not sent twice"
    );
    assert!(
        server.requests()[1]
            .to_ascii_lowercase()
            .contains("if-none-match: \"v1\"")
    );
    assert_eq!(std::fs::read(&path).unwrap(), body);

    let changed = content(200_000, 2);
    {
        let mut hosted = server.hosted.lock().unwrap();
        hosted.body = changed.clone();
        hosted.version = 2;
    }
    let third = client
        .download(
            DownloadSource::Url(url),
            &path,
            DownloadOptions::default().unless_unchanged(first.validators),
        )
        .await
        .unwrap();
    assert_eq!((third.bytes, third.not_modified), (200_000, false));
    assert_eq!(std::fs::read(&path).unwrap(), changed);
}

#[tokio::test]
async fn a_cut_download_is_continued_with_range_and_verified() {
    let body = content(1_000_000, 3);
    let server = FileServer::start(body.clone()).await;
    let client = client(&server);
    let dir = tempdir();
    let path = dir.join("big.csv");
    let url = format!("{}/etag", server.url);
    let options = || DownloadOptions::default().resumable().checksum(sha1(&body));

    server.hosted.lock().unwrap().cut_after = Some(400_000);
    let cut = client
        .download(DownloadSource::Url(url.clone()), &path, options())
        .await;
    assert!(cut.is_err(), "the cut answer is an error");
    assert!(!path.exists(), "no half file under the final name");

    let resumed = client
        .download(DownloadSource::Url(url), &path, options())
        .await
        .unwrap();
    assert_eq!(resumed.resumed_from, 400_000);
    assert_eq!(resumed.bytes, 600_000);
    assert_eq!(
        server.sent(),
        1_000_000,
        "the second run moved only the rest"
    );
    assert!(
        server.requests()[1]
            .to_ascii_lowercase()
            .contains("range: bytes=400000-")
    );
    assert!(resumed.verified.is_some());
    assert_eq!(std::fs::read(&path).unwrap(), body);
    assert_eq!(
        std::fs::read_dir(&dir).unwrap().count(),
        1,
        "no partial file left beside it"
    );
}

/// A resumable download of `url` whose answer the host cuts after `at`
/// bytes: it fails.
async fn fails_when_cut(
    client: &Client,
    server: &FileServer,
    url: &str,
    path: &std::path::Path,
    at: u64,
) {
    server.hosted.lock().unwrap().cut_after = Some(at);
    let cut = client
        .download(
            DownloadSource::Url(url.to_owned()),
            path,
            DownloadOptions::default().resumable(),
        )
        .await;
    assert!(cut.is_err(), "the cut answer is an error");
}

#[tokio::test]
async fn a_file_that_changed_or_a_host_without_range_restarts_cleanly() {
    let body = content(500_000, 4);
    let server = FileServer::start(body.clone()).await;
    let client = client(&server);
    let dir = tempdir();

    // The file changes between the cut and the retry: If-Range makes the
    // host send it whole, and the new content is what is kept.
    let path = dir.join("changing.csv");
    let url = format!("{}/etag", server.url);
    fails_when_cut(&client, &server, &url, &path, 100_000).await;
    let changed = content(450_000, 5);
    {
        let mut hosted = server.hosted.lock().unwrap();
        hosted.body = changed.clone();
        hosted.version = 2;
    }
    let restarted = client
        .download(
            DownloadSource::Url(url),
            &path,
            DownloadOptions::default()
                .resumable()
                .checksum(sha1(&changed)),
        )
        .await
        .unwrap();
    assert_eq!((restarted.resumed_from, restarted.bytes), (0, 450_000));
    assert_eq!(std::fs::read(&path).unwrap(), changed);

    // A host with neither validators nor ranges: the retry starts over.
    let path = dir.join("plain.csv");
    let url = format!("{}/plain", server.url);
    fails_when_cut(&client, &server, &url, &path, 100_000).await;
    let whole = client
        .download(
            DownloadSource::Url(url),
            &path,
            DownloadOptions::default().resumable(),
        )
        .await
        .unwrap();
    assert_eq!((whole.resumed_from, whole.bytes), (0, 450_000));
    assert_eq!(std::fs::read(&path).unwrap(), changed);

    // A 404 is an error and leaves nothing.
    let path = dir.join("missing.csv");
    let error = client
        .download(
            DownloadSource::Url(format!("{}/missing", server.url)),
            &path,
            DownloadOptions::default().resumable(),
        )
        .await
        .unwrap_err();
    assert!(matches!(error, Error::Api { .. }), "{error:?}");
    assert!(!path.exists());
}

pub(crate) fn tempdir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "datagouv-downloads-{}-{}",
        std::process::id(),
        fastrand()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn fastrand() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

fn names(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn a_destination_that_cannot_be_written_is_refused_before_any_request() {
    let body = content(10_000, 6);
    let server = FileServer::start(body.clone()).await;
    let client = client(&server);
    let dir = tempdir();
    std::fs::write(dir.join("plain-file"), "x").unwrap();
    let url = format!("{}/etag/donnees.csv", server.url);
    for target in [
        dir.join("missing").join("x.csv"),
        std::path::PathBuf::from(format!("{}/", dir.join("no-such-folder").display())),
        dir.join("plain-file").join("x.csv"),
    ] {
        let error = client
            .download(
                DownloadSource::Url(url.clone()),
                &target,
                DownloadOptions::default().resumable(),
            )
            .await
            .unwrap_err();
        assert!(matches!(error, Error::Io { .. }), "{target:?}: {error:?}");
    }
    // Another writer of the same file (another process holds its lock).
    let busy = dir.join("busy.csv");
    let held = datagouv::atomic_file::AtomicFile::open(&busy).unwrap();
    let error = client
        .download(
            DownloadSource::Url(url.clone()),
            &busy,
            DownloadOptions::default(),
        )
        .await
        .unwrap_err();
    assert!(error.to_string().contains("another process"), "{error}");
    drop(held);
    assert!(server.requests().is_empty(), "{:?}", server.requests());
    assert_eq!(names(&dir), ["plain-file"], "nothing else was written");

    // A folder: the file is saved inside it under its own name.
    let summary = client
        .download(DownloadSource::Url(url), &dir, DownloadOptions::default())
        .await
        .unwrap();
    assert_eq!(summary.path, Some(dir.join("donnees.csv")));
    assert_eq!(std::fs::read(dir.join("donnees.csv")).unwrap(), body);
    assert_eq!(names(&dir), ["donnees.csv", "plain-file"]);
}

#[tokio::test]
async fn an_export_to_a_folder_is_refused_before_any_request() {
    let recorder = crate::fault_server::FaultServer::start_routed(|_| {
        crate::fault_server::Action::json(500, "{}")
    })
    .await;
    let client = Client::builder()
        .tabular_url(recorder.url())
        .build()
        .unwrap();
    let dir = tempdir();
    let query = client
        .tabular_resource("2d4f1a4e-4c9b-4a7e-9c1e-0f0f0f0f0f0f")
        .unwrap();
    for target in [
        dir.clone(),
        std::path::PathBuf::from(format!("{}/", dir.join("sub").display())),
        dir.join("missing").join("out.csv"),
    ] {
        let error = query
            .export_to_file(
                datagouv::ExportFormat::Csv,
                &target,
                datagouv::ExportOptions::default(),
            )
            .await
            .unwrap_err();
        assert!(matches!(error, Error::Io { .. }), "{target:?}: {error:?}");
    }
    assert!(recorder.received().is_empty(), "{:?}", recorder.received());
    assert!(names(&dir).is_empty(), "{:?}", names(&dir));
}

#[tokio::test]
async fn a_download_that_fails_leaves_nothing_and_a_resumable_one_only_its_partial_file() {
    let body = content(300_000, 7);
    let server = FileServer::start(body.clone()).await;
    let client = client(&server);
    let dir = tempdir();
    let url = format!("{}/etag", server.url);
    server.hosted.lock().unwrap().cut_after = Some(100_000);
    let cut = client
        .download(
            DownloadSource::Url(url.clone()),
            &dir.join("a.csv"),
            DownloadOptions::default(),
        )
        .await;
    assert!(cut.is_err());
    assert!(names(&dir).is_empty(), "{:?}", names(&dir));
    fails_when_cut(&client, &server, &url, &dir.join("b.csv"), 100_000).await;
    assert_eq!(names(&dir), [".b.csv.partial", ".b.csv.partial.json"]);
}
