//! The API key never shows in tracing output, errors or `Debug`, over a
//! whole session: successes, retries, errors, redirects.

use crate::fault_server::{Action, FaultServer};
use datagouv::{Client, RetryPolicy, SendExt};
use std::{
    io::Write,
    sync::{Arc, Mutex},
    time::Duration,
};

const KEY: &str = "udata_THIS-KEY-MUST-NEVER-APPEAR-0123456789";

/// A writer that keeps everything the subscriber writes.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn the_key_never_appears_in_traces_errors_or_debug_output() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .with_span_events(tracing_subscriber::fmt::format::FmtSpan::FULL)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let elsewhere = FaultServer::start(vec![Action::Respond(200, vec![], "file".into())]).await;
    let server = FaultServer::start(vec![
        Action::json(503, r#"{"message": "busy"}"#),
        Action::json(200, r#"{"id": "site"}"#),
        Action::json(404, r#"{"message": "not found"}"#),
        Action::Respond(
            302,
            vec![("location", format!("{}/file", elsewhere.url()))],
            String::new(),
        ),
        Action::json(200, r#"{"id": "site", "title": "#),
    ])
    .await;
    let retries = RetryPolicy {
        initial_backoff: Duration::from_millis(5),
        ..RetryPolicy::default()
    };
    let client = Client::builder()
        .main_url(server.url())
        .api_key(KEY)
        .retry_policy(retries)
        .build()
        .unwrap();

    // Other tests of this binary may have registered the SDK's span
    // callsites on their threads while this subscriber was being set:
    // recompute their interest now that it is (tracing caches it per callsite).
    tracing::callsite::rebuild_interest_cache();
    let mut texts = vec![format!("{client:?}")];
    client.main().get_site().send().value().await.unwrap();
    let missing = client
        .main()
        .get_dataset()
        .dataset("x")
        .send()
        .value()
        .await
        .unwrap_err();
    texts.push(format!("{missing} {missing:?}"));
    client
        .raw(reqwest::Method::GET, "/datasets/r/x", None)
        .await
        .unwrap();
    let broken = client.main().get_site().send().value().await.unwrap_err();
    texts.push(format!("{broken} {broken:?}"));
    let without = Client::builder().main_url(server.url()).build().unwrap();
    let refused = without
        .main()
        .delete_dataset()
        .dataset("x")
        .send()
        .value()
        .await
        .unwrap_err();
    texts.push(format!("{refused} {refused:?}"));

    let traces = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(
        traces.contains("datagouv.request") && traces.contains("attempt"),
        "spans were captured:\n{traces}"
    );
    assert!(
        server
            .received()
            .iter()
            .any(|r| r.header("x-api-key") == Some(KEY)),
        "the key was sent to the API"
    );
    for text in texts.iter().chain(std::iter::once(&traces)) {
        assert!(!text.contains(KEY), "the key leaked into: {text}");
        assert!(
            !text.contains("THIS-KEY"),
            "part of the key leaked into: {text}"
        );
    }
}
