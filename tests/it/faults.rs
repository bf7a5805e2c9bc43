//! The fault matrix: every fault a server or network can throw at a read
//! (GET) and a write (POST), against the scripted local server, with the
//! outcome observed. The table this test builds is `docs/RELIABILITY.md`;
//! the test fails when the document differs (`DATAGOUV_UPDATE_DOCS=1`
//! rewrites it).

use crate::fault_server::{Action, FaultServer};
use datagouv::{Client, Error, RetryPolicy, SendExt};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const SITE: &str = r#"{"id": "site", "title": "data.gouv.fr"}"#;

/// The faults, each as the script the server plays (then a success).
fn faults() -> Vec<(&'static str, Vec<Action>)> {
    let reset_at = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 1;
    let html = "<html><body><h1>502 Bad Gateway</h1></body></html>";
    vec![
        (
            "500 Internal Server Error",
            vec![Action::json(500, r#"{"message": "Internal Server Error"}"#)],
        ),
        (
            "502 Bad Gateway",
            vec![Action::json(502, r#"{"message": "bad gateway"}"#)],
        ),
        (
            "503 Service Unavailable",
            vec![Action::json(503, r#"{"message": "busy"}"#)],
        ),
        (
            "504 Gateway Timeout",
            vec![Action::json(504, r#"{"message": "timeout"}"#)],
        ),
        (
            "429 with Retry-After: 1",
            vec![Action::Respond(
                429,
                vec![("retry-after", "1".into())],
                r#"{"message": "slow down"}"#.into(),
            )],
        ),
        (
            "429 with X-RateLimit-Reset",
            vec![Action::Respond(
                429,
                vec![
                    ("x-ratelimit-limit", "10".into()),
                    ("x-ratelimit-remaining", "0".into()),
                    ("x-ratelimit-reset", reset_at.to_string()),
                ],
                r#"{"message": "quota"}"#.into(),
            )],
        ),
        (
            "429 with Retry-After: 18446744073709551615",
            vec![Action::Respond(
                429,
                vec![("retry-after", u64::MAX.to_string())],
                r#"{"message": "slow down"}"#.into(),
            )],
        ),
        (
            "503 with X-RateLimit-Reset: 18446744073709551615",
            vec![Action::Respond(
                503,
                vec![
                    ("x-ratelimit-remaining", "0".into()),
                    ("x-ratelimit-reset", u64::MAX.to_string()),
                ],
                r#"{"message": "quota"}"#.into(),
            )],
        ),
        (
            "200 with X-RateLimit-Reset: 18446744073709551615",
            vec![Action::Respond(
                200,
                vec![
                    ("content-type", "application/json".into()),
                    ("x-ratelimit-remaining", "0".into()),
                    ("x-ratelimit-reset", u64::MAX.to_string()),
                ],
                SITE.into(),
            )],
        ),
        (
            "connection reset before the request is read",
            vec![Action::ResetBeforeReading],
        ),
        (
            "connection reset after the request is read",
            vec![Action::Reset],
        ),
        (
            "truncated body",
            vec![Action::Truncated(1000, r#"{"id": "si"#.into())],
        ),
        (
            "body slower than the read timeout",
            vec![Action::Slow(Duration::from_millis(1500), SITE.into())],
        ),
        (
            "HTML error page (502)",
            vec![Action::Respond(
                502,
                vec![("content-type", "text/html".into())],
                html.into(),
            )],
        ),
        (
            "malformed JSON (200)",
            vec![Action::json(200, r#"{"id": "site", "title": "#)],
        ),
        (
            "410 Gone",
            vec![Action::json(
                410,
                r#"{"message": "Dataset has been deleted"}"#,
            )],
        ),
        (
            "423 Locked",
            vec![Action::json(423, r#"{"message": "locked"}"#)],
        ),
        (
            "redirect loop",
            vec![Action::Respond(
                302,
                vec![("location", "/api/1/site/".into())],
                String::new(),
            )],
        ),
    ]
}

fn client(url: &str) -> Client {
    let retries = RetryPolicy {
        initial_backoff: Duration::from_millis(20),
        max_backoff: Duration::from_millis(100),
        ..RetryPolicy::default()
    };
    Client::builder()
        .main_url(url)
        .api_key("udata_fault-matrix-key")
        .retry_policy(retries)
        .read_timeout(Duration::from_millis(500))
        .build()
        .unwrap()
}

/// What the caller got.
fn outcome<T>(result: &Result<T, Error>) -> String {
    match result {
        Ok(_) => "ok".into(),
        Err(Error::Api {
            status, message, ..
        }) => format!(
            "Error::Api {} \"{}\"",
            status.as_u16(),
            message.chars().take(40).collect::<String>()
        ),
        Err(Error::RateLimited { .. }) => "Error::RateLimited".into(),
        Err(Error::Transport(error)) if error.is_timeout() => "Error::Transport (timed out)".into(),
        Err(Error::Transport(_)) => "Error::Transport".into(),
        Err(Error::Decode { .. }) => "Error::Decode (with a body excerpt)".into(),
        Err(other) => format!("{other:?}").chars().take(60).collect(),
    }
}

async fn read(script: Vec<Action>, recover: bool) -> (usize, String) {
    let mut script = script;
    if recover {
        script.push(Action::json(200, SITE));
    }
    let server = FaultServer::start(script).await;
    let result = client(&server.url()).main().get_site().send().value().await;
    (server.received().len(), outcome(&result))
}

async fn write(script: Vec<Action>) -> (usize, String) {
    let server = FaultServer::start(script).await;
    let body: datagouv::main_api::v1::types::DiscussionStart =
        serde_json::from_value(serde_json::json!({
            "title": "t", "comment": "c", "subject": {"class": "Dataset", "id": "x"}
        }))
        .unwrap();
    let result = client(&server.url())
        .main()
        .create_discussion()
        .body(body)
        .send()
        .value()
        .await;
    let sent = server
        .received()
        .iter()
        .filter(|r| r.method == "POST")
        .count();
    (sent, outcome(&result))
}

#[tokio::test]
async fn the_fault_matrix_matches_docs_reliability() {
    let mut table = String::from(
        "| fault | GET, fault once then 200: requests / outcome | GET, fault every time: requests / outcome | POST, fault every time: times sent / outcome |\n\
         | --- | --- | --- | --- |\n",
    );
    for (name, script) in faults() {
        let started = Instant::now();
        let (once_requests, once) = read(script.clone(), true).await;
        let (always_requests, always) = read(script.clone(), false).await;
        let (sent, wrote) = write(script).await;
        assert!(sent <= 1, "{name}: a POST was sent {sent} times");
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{name}: took too long"
        );
        table.push_str(&format!("| {name} | {once_requests} / {once} | {always_requests} / {always} | {sent} / {wrote} |\n"));
    }
    let path = datagouv_tests::workspace_root().join("docs/RELIABILITY.md");
    let document = std::fs::read_to_string(&path).unwrap_or_default();
    let (start, end) = ("<!-- fault-matrix:start -->\n", "<!-- fault-matrix:end -->");
    let (Some(a), Some(b)) = (document.find(start), document.find(end)) else {
        panic!("docs/RELIABILITY.md has no fault-matrix markers")
    };
    let current = &document[a + start.len()..b];
    if std::env::var_os("DATAGOUV_UPDATE_DOCS").is_some() {
        let updated = format!("{}{start}{table}{}", &document[..a], &document[b..]);
        std::fs::write(&path, updated).unwrap();
    } else {
        assert_eq!(
            current, table,
            "docs/RELIABILITY.md is out of date: run with DATAGOUV_UPDATE_DOCS=1"
        );
    }
}

/// An error answer whose body never ends is read up to a bound, not to the
/// end: the caller gets the error with the start of the body, and the
/// server could hand over only a few socket buffers' worth.
#[tokio::test]
async fn an_endless_error_body_is_read_up_to_a_bound() {
    let sent = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let server = FaultServer::start(vec![Action::Endless(500, sent.clone())]).await;
    let started = Instant::now();
    let result = client(&server.url()).main().get_site().send().value().await;
    let message = match result {
        Err(Error::Api {
            status, message, ..
        }) if status.as_u16() == 500 => message,
        other => panic!("expected a 500 Api error, got {other:?}"),
    };
    assert!(message.starts_with("xxxx"), "{message}");
    assert!(message.chars().count() <= 2_001, "{message:.80}");
    // Let the server notice the closed connection.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let taken = sent.load(std::sync::atomic::Ordering::Relaxed);
    assert!(
        taken < 32 * 1024 * 1024,
        "the client read {taken} bytes of an error body (bound: 64 KiB + socket buffers)"
    );
    assert!(started.elapsed() < Duration::from_secs(10));
}
