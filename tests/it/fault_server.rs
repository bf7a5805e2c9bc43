//! A scripted HTTP/1.1 server on 127.0.0.1 for what a real server cannot be
//! made to do: answer 429/503 on cue, reset the connection, redirect to
//! another origin. Mock crates (wiremock) answer well-formed responses only,
//! so faults at the TCP level need this small raw server.

use std::{
    net::SocketAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
};

/// What the server does with one request.
#[derive(Clone, Debug)]
pub enum Action {
    /// Answer with this status, extra headers and body.
    Respond(u16, Vec<(&'static str, String)>, String),
    /// Read the request, then reset the connection without answering.
    Reset,
    /// Send the request on to this server (which so applies it), wait for
    /// its answer, then reset the client's connection: a write that
    /// happened but whose answer was lost.
    ForwardThenReset(SocketAddr),
    /// Announce this many bytes of body, send `body` (fewer), and close.
    Truncated(u64, String),
    /// Reset the connection before reading anything (logged with method `-`).
    ResetBeforeReading,
    /// Send the head and `body`'s first half, wait this long, then the rest.
    Slow(std::time::Duration, String),
    /// Send the head, then `body` in this many pieces with this wait before
    /// each: a body slower in all than a read timeout that no single wait
    /// exceeds.
    Trickle(std::time::Duration, usize, String),
    /// Act as a proxy: send the request on to this server and relay its
    /// answer, whole, or only its head and this many body bytes before
    /// closing the connection (a download cut on the way).
    Relay(SocketAddr, Option<usize>),
    /// Answer with this status and a body that never ends (no length,
    /// 64 KiB at a time, at most 256 MiB); the counter adds up the bytes
    /// the client took.
    Endless(u16, Arc<std::sync::atomic::AtomicU64>),
}

impl Action {
    /// A JSON answer with this status.
    pub fn json(status: u16, body: &str) -> Action {
        Action::Respond(
            status,
            vec![("content-type", "application/json".into())],
            body.into(),
        )
    }
}

/// One request as received.
#[derive(Clone, Debug)]
pub struct Received {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    /// The request exactly as received (head and body).
    pub raw: Vec<u8>,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Which action answers a request.
#[derive(Clone)]
enum Script {
    /// One action per request in arrival order; the last repeats.
    InOrder(Vec<Action>),
    /// The action this function picks for each request.
    Routed(Arc<dyn Fn(&Received) -> Action + Send + Sync>),
}

/// Requests being answered now, and the most at any one time.
#[derive(Default)]
struct InFlight {
    now: AtomicUsize,
    most: AtomicUsize,
}

/// A running fault server; it stops when dropped (its task is aborted).
pub struct FaultServer {
    pub addr: SocketAddr,
    received: Arc<Mutex<Vec<Received>>>,
    in_flight: Arc<InFlight>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FaultServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FaultServer {
    /// Starts a server that plays `script` in order, one action per
    /// request; the last action repeats.
    pub async fn start(script: Vec<Action>) -> FaultServer {
        Self::run(Script::InOrder(script)).await
    }

    /// Starts a server that answers each request with the action `route`
    /// picks for it (by path, say).
    pub async fn start_routed(
        route: impl Fn(&Received) -> Action + Send + Sync + 'static,
    ) -> FaultServer {
        Self::run(Script::Routed(Arc::new(route))).await
    }

    async fn run(script: Script) -> FaultServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let received: Arc<Mutex<Vec<Received>>> = Arc::default();
        let in_flight: Arc<InFlight> = Arc::default();
        let (log, counts) = (received.clone(), in_flight.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let (log, counts, script) = (log.clone(), counts.clone(), script.clone());
                tokio::spawn(async move { serve(stream, log, counts, script).await });
            }
        });
        FaultServer {
            addr,
            received,
            in_flight,
            task,
        }
    }

    /// The most requests that were being answered at one time.
    pub fn most_in_flight(&self) -> usize {
        self.in_flight.most.load(Ordering::SeqCst)
    }

    /// `http://127.0.0.1:port`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The requests received so far.
    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }
}

async fn serve(
    mut stream: TcpStream,
    log: Arc<Mutex<Vec<Received>>>,
    in_flight: Arc<InFlight>,
    script: Script,
) {
    loop {
        if let Script::InOrder(script) = &script {
            let mut log = log.lock().unwrap();
            if matches!(
                script[log.len().min(script.len() - 1)],
                Action::ResetBeforeReading
            ) {
                log.push(Received {
                    method: "-".into(),
                    path: String::new(),
                    headers: Vec::new(),
                    raw: Vec::new(),
                });
                drop(log);
                #[allow(deprecated)]
                let _ = stream.set_linger(Some(std::time::Duration::ZERO));
                return;
            }
        }
        let Some(request) = read_request(&mut stream).await else {
            return;
        };
        let raw = request.raw.clone();
        let action = match &script {
            Script::Routed(route) => {
                let action = route(&request);
                log.lock().unwrap().push(request);
                action
            }
            Script::InOrder(script) => {
                let mut log = log.lock().unwrap();
                log.push(request);
                script[(log.len() - 1).min(script.len() - 1)].clone()
            }
        };
        let now = in_flight.now.fetch_add(1, Ordering::SeqCst) + 1;
        in_flight.most.fetch_max(now, Ordering::SeqCst);
        let carry_on = answer(&mut stream, action, &raw).await;
        in_flight.now.fetch_sub(1, Ordering::SeqCst);
        if !carry_on {
            return;
        }
    }
}

/// Plays one action; whether the connection stays open for the next request.
async fn answer(stream: &mut TcpStream, action: Action, raw: &[u8]) -> bool {
    {
        match action {
            Action::Relay(upstream, cut) => {
                let answer = forward(upstream, raw).await;
                let Some(cut) = cut else {
                    return stream.write_all(&answer).await.is_ok();
                };
                let body_start = answer
                    .windows(4)
                    .position(|w| w == b"\r\n\r\n")
                    .map_or(answer.len(), |end| end + 4);
                let end = answer.len().min(body_start + cut);
                let _ = stream.write_all(&answer[..end]).await;
                let _ = stream.shutdown().await;
                return false;
            }
            Action::ForwardThenReset(upstream) => {
                forward(upstream, raw).await;
                #[allow(deprecated)]
                let _ = stream.set_linger(Some(std::time::Duration::ZERO));
                return false;
            }
            Action::ResetBeforeReading => return false,
            Action::Slow(delay, body) => {
                let half = body.len() / 2;
                let head = format!(
                    "HTTP/1.1 200 OK\r\ncontent-length: {}\r\ncontent-type: application/json\r\n\r\n",
                    body.len()
                );
                let _ = stream.write_all(head.as_bytes()).await;
                let _ = stream.write_all(&body.as_bytes()[..half]).await;
                tokio::time::sleep(delay).await;
                let _ = stream.write_all(&body.as_bytes()[half..]).await;
            }
            Action::Trickle(wait, pieces, body) => {
                let head = format!(
                    "HTTP/1.1 200 OK\r\ncontent-length: {}\r\ncontent-type: application/json\r\n\r\n",
                    body.len()
                );
                let _ = stream.write_all(head.as_bytes()).await;
                let size = body.len().div_ceil(pieces.max(1));
                for piece in body.as_bytes().chunks(size.max(1)) {
                    tokio::time::sleep(wait).await;
                    let _ = stream.write_all(piece).await;
                }
            }
            Action::Truncated(declared, body) => {
                let answer = format!(
                    "HTTP/1.1 200 OK\r\ncontent-length: {declared}\r\ncontent-type: text/csv\r\n\r\n{body}"
                );
                let _ = stream.write_all(answer.as_bytes()).await;
                return false;
            }
            Action::Endless(status, sent) => {
                let head = format!(
                    "HTTP/1.1 {status} X\r\ncontent-type: text/plain\r\nconnection: close\r\n\r\n"
                );
                if stream.write_all(head.as_bytes()).await.is_err() {
                    return false;
                }
                let chunk = vec![b'x'; 64 * 1024];
                for _ in 0..(256 * 16) {
                    if stream.write_all(&chunk).await.is_err() {
                        break;
                    }
                    sent.fetch_add(chunk.len() as u64, Ordering::Relaxed);
                }
                return false;
            }
            Action::Reset => {
                // A zero linger makes the close an RST, at once: it cannot block.
                #[allow(deprecated)]
                let _ = stream.set_linger(Some(std::time::Duration::ZERO));
                return false;
            }
            Action::Respond(status, headers, body) => {
                let mut answer =
                    format!("HTTP/1.1 {status} X\r\ncontent-length: {}\r\n", body.len());
                for (name, value) in headers {
                    answer.push_str(&format!("{name}: {value}\r\n"));
                }
                answer.push_str("\r\n");
                answer.push_str(&body);
                if stream.write_all(answer.as_bytes()).await.is_err() {
                    return false;
                }
            }
        }
    }
    true
}

async fn read_request(stream: &mut TcpStream) -> Option<Received> {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break end;
        }
        let read = stream.read(&mut chunk).await.ok()?;
        if read == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..read]);
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).to_string();
    let mut lines = head.split("\r\n");
    let mut first = lines.next()?.split(' ');
    let (method, path) = (first.next()?.to_owned(), first.next()?.to_owned());
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = buffer[head_end + 4..].to_vec();
    while body.len() < length {
        let read = stream.read(&mut chunk).await.ok()?;
        if read == 0 {
            return None;
        }
        body.extend_from_slice(&chunk[..read]);
    }
    let raw = [&buffer[..head_end + 4], &body[..]].concat();
    Some(Received {
        method,
        path,
        headers,
        raw,
    })
}

/// Sends a raw request to `upstream` with `Connection: close` and reads the
/// whole answer.
async fn forward(upstream: SocketAddr, raw: &[u8]) -> Vec<u8> {
    let Ok(mut connection) = TcpStream::connect(upstream).await else {
        return Vec::new();
    };
    let line_end = raw.windows(2).position(|w| w == b"\r\n").unwrap_or(0);
    let mut request = raw[..line_end].to_vec();
    request.extend_from_slice(b"\r\nconnection: close");
    request.extend_from_slice(&raw[line_end..]);
    if connection.write_all(&request).await.is_err() {
        return Vec::new();
    }
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        connection.read_to_end(&mut answer),
    )
    .await;
    answer
}
