//! The guard against loopback "internal" hosts: tiny listeners on this
//! machine that record every connection and every byte they were sent, a
//! table resolver that makes public-looking names lead to them, and
//! redirects from an allowed host to them.

use super::*;
use std::{
    collections::HashMap,
    sync::{
        Mutex,
        atomic::{AtomicUsize, Ordering},
    },
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpListener,
};

/// What a listener answers to a path.
#[derive(Clone)]
enum Reply {
    /// 200 with this JSON body.
    Json(&'static str),
    /// 302 to this URL.
    Redirect(String),
    /// 200 with this many bytes, with or without a Content-Length.
    Large { bytes: usize, length: bool },
    /// Accepts and never answers.
    Hang,
}

/// A host on this machine that records what reached it.
struct Host {
    addr: SocketAddr,
    /// Connections accepted.
    connections: Arc<AtomicUsize>,
    /// Request heads received.
    requests: Arc<Mutex<Vec<String>>>,
    /// Body bytes written before the client stopped reading.
    written: Arc<AtomicUsize>,
}

impl Host {
    async fn start(ip: &str, reply: impl Fn(&str) -> Reply + Send + Sync + 'static) -> Host {
        let listener = TcpListener::bind((ip, 0)).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let connections = Arc::new(AtomicUsize::new(0));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let written = Arc::new(AtomicUsize::new(0));
        let reply = Arc::new(reply);
        let (c, r, w) = (connections.clone(), requests.clone(), written.clone());
        tokio::spawn(async move {
            loop {
                let Ok((mut socket, _)) = listener.accept().await else {
                    return;
                };
                c.fetch_add(1, Ordering::SeqCst);
                let (r, w, reply) = (r.clone(), w.clone(), reply.clone());
                tokio::spawn(async move {
                    let mut head = Vec::new();
                    let mut buf = [0u8; 1024];
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                        match socket.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => head.extend_from_slice(&buf[..n]),
                        }
                    }
                    let head = String::from_utf8_lossy(&head).into_owned();
                    let path = head.split_whitespace().nth(1).unwrap_or("/").to_owned();
                    r.lock().unwrap().push(head);
                    match reply(&path) {
                        Reply::Json(body) => {
                            let answer = format!(
                                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
                                 content-length: {}\r\nconnection: close\r\n\r\n{body}",
                                body.len()
                            );
                            let _ = socket.write_all(answer.as_bytes()).await;
                        }
                        Reply::Redirect(to) => {
                            let answer = format!(
                                "HTTP/1.1 302 Found\r\nlocation: {to}\r\ncontent-length: 0\r\n\
                                 connection: close\r\n\r\n"
                            );
                            let _ = socket.write_all(answer.as_bytes()).await;
                        }
                        Reply::Large { bytes, length } => {
                            let head = if length {
                                format!("HTTP/1.1 200 OK\r\ncontent-length: {bytes}\r\n\r\n")
                            } else {
                                "HTTP/1.1 200 OK\r\nconnection: close\r\n\r\n".to_owned()
                            };
                            if socket.write_all(head.as_bytes()).await.is_err() {
                                return;
                            }
                            let chunk = vec![b' '; 64 * 1024];
                            let mut sent = 0;
                            while sent < bytes {
                                if socket.write_all(&chunk).await.is_err() {
                                    return;
                                }
                                sent += chunk.len();
                                w.store(sent, Ordering::SeqCst);
                            }
                        }
                        Reply::Hang => {
                            tokio::time::sleep(Duration::from_secs(60)).await;
                        }
                    }
                });
            }
        });
        Host {
            addr,
            connections,
            requests,
            written,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn reached(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

const SPEC: &str = r#"{"openapi": "3.0.3", "info": {"title": "internal", "version": "1"}}"#;

/// The "internal" host: what an attacker wants the server to read.
async fn internal() -> Host {
    Host::start("127.0.0.1", |_| Reply::Json(SPEC)).await
}

fn strict() -> Limits {
    Limits::default()
}

fn allowed() -> Limits {
    Limits {
        allow_private: true,
        ..Limits::default()
    }
}

fn table(entries: &[(&str, &str)]) -> HashMap<String, Vec<IpAddr>> {
    entries
        .iter()
        .map(|(name, ip)| ((*name).to_owned(), vec![ip.parse().unwrap()]))
        .collect()
}

fn blocked(error: &FetchError) -> bool {
    matches!(error, FetchError::Blocked { .. })
}

#[tokio::test]
async fn a_catalog_url_naming_the_internal_host_is_refused_and_the_host_receives_nothing() {
    let host = internal().await;
    let fetcher = GuardedFetcher::new(strict());
    for url in [
        host.url("/openapi.json"),
        format!("http://localhost:{}/openapi.json", host.addr.port()),
        format!("http://[::ffff:127.0.0.1]:{}/", host.addr.port()),
        format!("http://0x7f.1:{}/", host.addr.port()),
        format!("http://2130706433:{}/", host.addr.port()),
    ] {
        let error = fetcher.get(&url).await.unwrap_err();
        assert!(blocked(&error), "{url}: {error}");
        let message = error.to_string();
        assert!(message.contains("loopback address"), "{message}");
        assert!(message.contains("--allow-private-urls"), "{message}");
    }
    for url in ["file:///etc/passwd", "ftp://example.org/x", "not a url"] {
        let error = fetcher.get(url).await.unwrap_err();
        assert!(matches!(error, FetchError::Scheme { .. }), "{url}: {error}");
    }
    assert_eq!(host.reached(), 0, "the internal host received a connection");
}

#[tokio::test]
async fn a_public_looking_name_that_resolves_to_the_internal_host_is_refused() {
    let host = internal().await;
    let fetcher = GuardedFetcher::with_table(
        strict(),
        table(&[("api.exemple.fr", "127.0.0.1")]),
        Vec::new(),
    );
    let url = format!("http://api.exemple.fr:{}/openapi.json", host.addr.port());
    let error = fetcher.get(&url).await.unwrap_err();
    assert!(blocked(&error), "{error}");
    assert!(
        error
            .to_string()
            .contains("api.exemple.fr is a loopback address (127.0.0.1)"),
        "{error}"
    );
    assert_eq!(host.reached(), 0);
}

#[tokio::test]
async fn a_redirect_from_an_allowed_host_to_the_internal_host_is_refused() {
    let host = internal().await;
    let port = host.addr.port();
    // 127.0.0.2 plays a public host: the test's allowlist says so.
    let public = Host::start("127.0.0.2", move |path| match path {
        "/literal" => Reply::Redirect(format!("http://127.0.0.1:{port}/openapi.json")),
        "/named" => Reply::Redirect(format!("http://intranet.exemple.fr:{port}/openapi.json")),
        "/loop" => Reply::Redirect("/loop".into()),
        "/moved" => Reply::Redirect("/spec.json".into()),
        _ => Reply::Json(SPEC),
    })
    .await;
    let fetcher = GuardedFetcher::with_table(
        strict(),
        table(&[
            ("mirror.exemple.fr", "127.0.0.2"),
            ("intranet.exemple.fr", "127.0.0.1"),
        ]),
        vec!["127.0.0.2".parse().unwrap()],
    );
    let base = format!("http://mirror.exemple.fr:{}", public.addr.port());
    // The allowed host itself, and a redirect within it, are fetched.
    let fetched = fetcher.get(&format!("{base}/moved")).await.unwrap();
    assert_eq!(fetched.body, SPEC.as_bytes());
    assert_eq!(fetched.url.path(), "/spec.json");
    for (path, target) in [
        ("/literal", format!("http://127.0.0.1:{port}/openapi.json")),
        (
            "/named",
            "intranet.exemple.fr is a loopback address".to_owned(),
        ),
    ] {
        let error = fetcher.get(&format!("{base}{path}")).await.unwrap_err();
        assert!(blocked(&error), "{path}: {error}");
        assert!(
            error.to_string().contains(&target),
            "the refusal names the redirect's target: {error}"
        );
    }
    let error = fetcher.get(&format!("{base}/loop")).await.unwrap_err();
    assert!(
        matches!(error, FetchError::TooManyRedirects { .. }),
        "{error}"
    );
    assert_eq!(
        public.reached(),
        2 + 1 + 1 + (1 + MAX_REDIRECTS),
        "one connection per hop"
    );
    assert_eq!(host.reached(), 0, "the internal host received a connection");
}

#[tokio::test]
async fn the_same_fetches_are_allowed_under_allow_private_urls_and_carry_no_credentials() {
    let host = internal().await;
    let fetcher = GuardedFetcher::with_table(
        allowed(),
        table(&[("api.exemple.fr", "127.0.0.1")]),
        Vec::new(),
    );
    let direct = fetcher.get(&host.url("/openapi.json")).await.unwrap();
    assert_eq!(direct.body, SPEC.as_bytes());
    let named = fetcher
        .get(&format!(
            "http://api.exemple.fr:{}/openapi.json",
            host.addr.port()
        ))
        .await
        .unwrap();
    assert_eq!(named.body, SPEC.as_bytes());
    assert_eq!(host.reached(), 2);
    for head in host.requests.lock().unwrap().iter() {
        let lower = head.to_ascii_lowercase();
        for header in ["x-api-key", "authorization", "cookie"] {
            assert!(!lower.contains(header), "{header} sent: {head}");
        }
    }
}

#[tokio::test]
async fn a_50_mb_document_is_stopped_at_the_cap() {
    const FIFTY_MB: usize = 50 * 1024 * 1024;
    let limits = allowed();
    let host = Host::start("127.0.0.1", |path| Reply::Large {
        bytes: FIFTY_MB,
        length: path == "/with-length",
    })
    .await;
    let fetcher = GuardedFetcher::new(limits);
    for path in ["/streamed", "/with-length"] {
        let error = fetcher.get(&host.url(path)).await.unwrap_err();
        assert!(
            matches!(error, FetchError::TooLarge { .. }),
            "{path}: {error}"
        );
        assert!(error.to_string().contains("4.0 MB limit"), "{error}");
    }
    // The listener stops writing when the connection is closed: what it
    // managed to send is the cap plus what the sockets buffer, far from 50 MB.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let written = host.written.load(Ordering::SeqCst);
    assert!(
        written < limits.max_bytes + 12 * 1024 * 1024,
        "{written} bytes were sent before the transfer stopped"
    );
}

#[tokio::test]
async fn a_host_that_never_answers_times_out() {
    let host = Host::start("127.0.0.1", |_| Reply::Hang).await;
    let fetcher = GuardedFetcher::new(Limits {
        timeout: Duration::from_millis(500),
        ..allowed()
    });
    let started = std::time::Instant::now();
    let error = fetcher.get(&host.url("/")).await.unwrap_err();
    assert!(error.to_string().contains("timed out"), "{error}");
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn every_non_public_range_is_refused_and_public_addresses_pass() {
    for (ip, kind) in [
        ("0.0.0.0", "unspecified"),
        ("0.1.2.3", "this network"),
        ("127.0.0.1", "loopback"),
        ("127.255.0.9", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("172.31.255.255", "private"),
        ("192.168.1.1", "private"),
        ("100.64.0.1", "CGNAT"),
        ("100.127.255.254", "CGNAT"),
        ("169.254.169.254", "link-local"),
        ("192.0.2.1", "documentation"),
        ("198.51.100.7", "documentation"),
        ("203.0.113.9", "documentation"),
        ("198.18.0.1", "benchmarking"),
        ("224.0.0.1", "multicast"),
        ("239.255.255.250", "multicast"),
        ("240.0.0.1", "reserved"),
        ("255.255.255.255", "reserved"),
        ("::", "unspecified"),
        ("::1", "loopback"),
        ("::ffff:127.0.0.1", "loopback"),
        ("::ffff:10.0.0.1", "private"),
        ("::ffff:169.254.169.254", "link-local"),
        ("::127.0.0.1", "loopback"),
        ("::8.8.8.8", "IPv4-compatible"),
        ("64:ff9b::7f00:1", "loopback"),
        ("2002:7f00:1::", "loopback"),
        ("2002:c0a8:101::1", "private"),
        ("fc00::1", "unique-local"),
        ("fd12:3456::1", "unique-local"),
        ("fe80::1", "link-local"),
        ("fec0::1", "site-local"),
        ("ff02::1", "multicast"),
        ("2001:db8::1", "documentation"),
        ("3fff::1", "documentation"),
        ("2001::1", "reserved"),
        ("100::1", "reserved"),
    ] {
        let what = not_public(ip.parse().unwrap());
        assert!(
            what.is_some_and(|what| what.contains(kind)),
            "{ip}: {what:?}, expected {kind}"
        );
    }
    for ip in [
        "8.8.8.8",
        "1.1.1.1",
        "100.63.255.255",
        "100.128.0.1",
        "172.15.0.1",
        "172.32.0.1",
        "192.0.3.1",
        "213.32.4.1",
        "::ffff:8.8.8.8",
        "64:ff9b::808:808",
        "2002:808:808::1",
        "2a01:e0a::1",
        "2001:4860:4860::8888",
    ] {
        assert_eq!(not_public(ip.parse().unwrap()), None, "{ip}");
    }
}
