//! The `datagouv` facade: pagination against the real udata, retries and
//! faults against a scripted local server, and the API key's hygiene.

use crate::fault_server::{Action, FaultServer};
use datagouv::{Client, Paginator, RetryPolicy, SendExt};
use datagouv_tests::Stack;
use futures::TryStreamExt;
use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

const KEY: &str = "udata_secret-key-that-must-never-leak";

fn fast_retries() -> RetryPolicy {
    RetryPolicy {
        initial_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(50),
        ..RetryPolicy::default()
    }
}

fn client_for(main_url: &str) -> Client {
    Client::builder()
        .main_url(main_url)
        .api_key(KEY)
        .retry_policy(fast_retries())
        .build()
        .unwrap()
}

const EMPTY_SITE: &str = r#"{"id": "site", "title": "data.gouv.fr"}"#;

/// Streams a list of the real udata with `Paginator`, counting the pages
/// requested; returns the item ids and that count.
macro_rules! walk {
    ($client:expr, $list:ident, prefetch: $prefetch:expr, max: $max:expr) => {{
        let calls = Arc::new(AtomicU64::new(0));
        let counter = calls.clone();
        let main = $client.main().clone();
        let mut paginator = Paginator::new(move |page| {
            counter.fetch_add(1, Ordering::SeqCst);
            let main = main.clone();
            async move { main.$list().page(page).page_size(7u64).send().await }
        })
        .prefetch($prefetch);
        if let Some(max) = $max {
            paginator = paginator.max_items(max);
        }
        let items = paginator.items().map_ok(|item| item.id);
        let ids: Vec<String> = items.try_collect().await.unwrap();
        (ids, calls.load(Ordering::SeqCst))
    }};
}

/// Checks a whole list: `total` items, one request per page of 7, no
/// duplicate, and the same order with prefetch.
macro_rules! check_list {
    ($client:expr, $list:ident) => {{
        let first = $client.main().$list().page_size(1u64).send().value().await.unwrap();
        let total = first.total as u64;
        let name = stringify!($list);
        let (ids, calls) = walk!($client, $list, prefetch: 0, max: None::<usize>);
        assert_eq!(ids.len() as u64, total, "{name}: the items stream yields `total` items");
        assert_eq!(calls, total.div_ceil(7), "{name}: one request per page, none more");
        let mut unique = ids.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), ids.len(), "{name}: no item twice");
        let (prefetched, calls) = walk!($client, $list, prefetch: 3, max: None::<usize>);
        assert_eq!(prefetched, ids, "{name}: prefetch keeps the order");
        assert_eq!(calls, total.div_ceil(7), "{name}: prefetch asks for no page past the end");
    }};
}

#[tokio::test]
async fn every_page_of_the_real_lists_is_streamed_once() {
    let Some(stack) = Stack::from_env() else {
        return;
    };
    let client = Client::builder()
        .main_url(stack.get("UDATA_BASE_URL"))
        .build()
        .unwrap();
    check_list!(client, list_datasets);
    check_list!(client, list_organizations);
    check_list!(client, list_reuses);

    let (ids, calls) = walk!(client, list_organizations, prefetch: 0, max: Some(10usize));
    assert_eq!(
        (ids.len(), calls),
        (10, 2),
        "max_items: 10 items need 2 pages of 7, and no third"
    );
    let (ids, calls) = walk!(client, list_organizations, prefetch: 4, max: Some(10usize));
    assert_eq!(
        (ids.len(), calls),
        (10, 2),
        "max_items with prefetch asks for no page it will not use"
    );
}

/// The `page` parameter of a request path.
fn page_number(path: &str) -> Option<u64> {
    path.split(['?', '&'])
        .find_map(|pair| pair.strip_prefix("page="))
        .and_then(|n| n.parse().ok())
}

/// The page `number` of a list of `pages` datasets, one per page, with the
/// next page announced as udata does.
fn dataset_page(number: u64, pages: u64, origin: &str) -> String {
    let mut dataset = crate::decode::udata_dataset();
    dataset["id"] = format!("dataset-{number}").into();
    let next = (number < pages)
        .then(|| format!("{origin}/api/1/datasets/?page={}&page_size=1", number + 1));
    serde_json::json!({
        "data": [dataset], "page": number, "page_size": 1, "total": pages,
        "next_page": next, "previous_page": null
    })
    .to_string()
}

/// With `prefetch(2)`, a page whose answer is slow holds one request slot,
/// not the list: the other slot serves the next pages (each freed once its
/// body is read, before decoding), up to 4 pages held; never more than 2
/// requests are in flight, and the pages still come in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_page_holds_one_prefetch_slot_and_order_is_kept() {
    let origin = Arc::new(std::sync::OnceLock::<String>::new());
    let base = origin.clone();
    let server = FaultServer::start_routed(move |request| {
        let number = page_number(&request.path).unwrap_or(1);
        let body = dataset_page(number, 8, base.get().unwrap());
        if number == 2 {
            Action::Slow(Duration::from_millis(800), body)
        } else {
            Action::json(200, &body)
        }
    })
    .await;
    origin.set(server.url()).unwrap();
    let client = client_for(&server.url());
    let mut items =
        datagouv::ListExt::items(client.main().list_datasets().page_size(1u64)).prefetch(2);
    let requested = |server: &FaultServer| -> Vec<u64> {
        server
            .received()
            .iter()
            .filter_map(|r| page_number(&r.path))
            .collect()
    };

    let first = items.try_next().await.unwrap().unwrap();
    assert_eq!(first.id, "dataset-1");
    let second = items.try_next().await.unwrap().unwrap();
    assert_eq!(second.id, "dataset-2");
    let mut before = requested(&server);
    before.sort_unstable();
    assert_eq!(
        before,
        [1, 2, 3, 4, 5],
        "while page 2 was slow, pages 3 to 5 used the other slot (4 pages held, no more)"
    );
    let mut ids = vec![first.id, second.id];
    while let Some(dataset) = items.try_next().await.unwrap() {
        ids.push(dataset.id);
    }
    let expected: Vec<String> = (1..=8).map(|n| format!("dataset-{n}")).collect();
    assert_eq!(ids, expected, "pages in order");
    assert_eq!(requested(&server).len(), 8, "one request per page");
    assert!(
        server.most_in_flight() <= 2,
        "at most 2 requests in flight, saw {}",
        server.most_in_flight()
    );
}

#[tokio::test]
async fn a_get_is_retried_after_429_with_retry_after() {
    let server = FaultServer::start(vec![
        Action::Respond(429, vec![("retry-after", "1".into())], String::new()),
        Action::json(200, EMPTY_SITE),
    ])
    .await;
    let client = client_for(&server.url());
    let started = std::time::Instant::now();
    let site = client.main().get_site().send().value().await.unwrap();
    assert_eq!(site.title.as_deref(), Some("data.gouv.fr"));
    assert_eq!(server.received().len(), 2);
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After: 1 was honoured"
    );
}

#[tokio::test]
async fn a_get_is_retried_after_503_and_a_reset_connection() {
    let server = FaultServer::start(vec![
        Action::json(503, r#"{"message": "busy"}"#),
        Action::Reset,
        Action::json(200, EMPTY_SITE),
    ])
    .await;
    let client = client_for(&server.url());
    client.main().get_site().send().value().await.unwrap();
    let methods: Vec<String> = server.received().iter().map(|r| r.method.clone()).collect();
    assert_eq!(methods, ["GET", "GET", "GET"]);
}

#[tokio::test]
async fn a_post_is_never_sent_twice() {
    for fault in [
        Action::json(503, r#"{"message": "busy"}"#),
        Action::Reset,
        Action::Respond(429, vec![("retry-after", "0".into())], String::new()),
    ] {
        let server =
            FaultServer::start(vec![fault.clone(), Action::json(201, r#"{"id": "x"}"#)]).await;
        let client = client_for(&server.url());
        let body: datagouv::main_api::v1::types::DiscussionStart =
            serde_json::from_value(serde_json::json!({
                "title": "t", "comment": "c", "subject": {"class": "Dataset", "id": "x"}
            }))
            .unwrap();
        let result = client
            .main()
            .create_discussion()
            .body(body)
            .send()
            .value()
            .await;
        assert!(result.is_err(), "{fault:?}: the failure is reported");
        assert_eq!(
            server.received().len(),
            1,
            "{fault:?}: the POST was sent once"
        );
    }
}

#[tokio::test]
async fn errors_carry_status_and_message() {
    let server = FaultServer::start(vec![Action::json(
        404,
        r#"{"message": "Dataset not found"}"#,
    )])
    .await;
    let client = client_for(&server.url());
    let error = client
        .main()
        .get_dataset()
        .dataset("nope")
        .send()
        .value()
        .await
        .unwrap_err();
    assert_eq!(error.status().map(|s| s.as_u16()), Some(404));
    let text = error.to_string();
    assert!(
        text.contains("Dataset not found") && text.contains("check the id"),
        "{text}"
    );
    assert!(!text.contains(KEY));
}

#[tokio::test]
async fn a_write_without_a_key_fails_before_any_request() {
    let server = FaultServer::start(vec![Action::json(201, "{}")]).await;
    let client = Client::builder().main_url(server.url()).build().unwrap();
    let error = client
        .main()
        .delete_dataset()
        .dataset("x")
        .send()
        .value()
        .await
        .unwrap_err();
    assert!(error.to_string().contains("DATAGOUV_API_KEY"), "{error}");
    assert!(server.received().is_empty(), "nothing was sent");
}

#[tokio::test]
async fn the_key_does_not_follow_a_redirect_to_another_origin() {
    let elsewhere = FaultServer::start(vec![Action::Respond(
        200,
        vec![("content-type", "text/csv".into())],
        "a;b\n".into(),
    )])
    .await;
    let api = FaultServer::start(vec![Action::Respond(
        302,
        vec![("location", format!("{}/file.csv", elsewhere.url()))],
        String::new(),
    )])
    .await;
    let client = client_for(&api.url());
    let response = client
        .raw(reqwest::Method::GET, "/datasets/r/some-resource", None)
        .await
        .unwrap();
    assert_eq!(response.text().await.unwrap(), "a;b\n");
    assert_eq!(
        api.received()[0].header("x-api-key"),
        Some(KEY),
        "the API origin gets the key"
    );
    let arrived = &elsewhere.received()[0];
    assert_eq!(arrived.path, "/file.csv");
    assert_eq!(
        arrived.header("x-api-key"),
        None,
        "the other origin never sees the key"
    );
}

/// The Tabular and Metrics APIs take no key: it goes to the Main API only.
#[tokio::test]
async fn the_key_goes_to_the_main_api_only() {
    let rows = r#"{"data": [], "links": {}, "meta": {"page": 1, "page_size": 20, "total": 0}}"#;
    let (main, tabular, metrics) = (
        FaultServer::start(vec![Action::json(200, EMPTY_SITE)]).await,
        FaultServer::start(vec![Action::json(200, rows)]).await,
        FaultServer::start(vec![Action::json(200, rows)]).await,
    );
    let client = Client::builder()
        .main_url(main.url())
        .tabular_url(tabular.url())
        .metrics_url(metrics.url())
        .api_key(KEY)
        .retry_policy(fast_retries())
        .build()
        .unwrap();
    client.main().get_site().send().value().await.unwrap();
    let _ = client
        .tabular_resource("5b0b7bde-6a6b-4d5c-8e5b-3e5b5b5b5b5b")
        .unwrap()
        .page::<serde_json::Value>(1)
        .await;
    let _ = client
        .metrics_model("site")
        .unwrap()
        .page::<serde_json::Value>(1)
        .await;
    assert_eq!(main.received()[0].header("x-api-key"), Some(KEY));
    for (api, server) in [("tabular", &tabular), ("metrics", &metrics)] {
        let received = server.received();
        assert!(!received.is_empty(), "{api} was asked");
        assert!(
            received.iter().all(|r| r.header("x-api-key").is_none()),
            "the {api} API received the key"
        );
    }
}

#[test]
fn debug_output_never_shows_the_key() {
    let builder = Client::builder().api_key(KEY);
    let debug = format!("{builder:?}");
    assert!(
        !debug.contains(KEY) && debug.contains("redacted"),
        "{debug}"
    );
    let client = Client::builder().api_key(KEY).build().unwrap();
    let debug = format!("{client:?}");
    assert!(
        !debug.contains(KEY) && debug.contains("redacted"),
        "{debug}"
    );
    assert!(!format!("{:?}", datagouv::ApiKey::new(KEY).unwrap()).contains(KEY));
}

#[test]
fn plain_http_to_another_machine_is_refused() {
    let error = Client::builder()
        .main_url("http://data.example.org")
        .build()
        .unwrap_err();
    assert!(error.to_string().contains("https"), "{error}");
    assert!(
        Client::builder()
            .main_url("http://127.0.0.1:9")
            .build()
            .is_ok()
    );
}
