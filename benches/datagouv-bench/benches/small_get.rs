//! The overhead of one small GET: the SDK
//! (`client.main().get_site().send().value()`) against raw `reqwest`
//! (the same GET, the body decoded by serde into the same generated type),
//! both on one current-thread runtime, against the bench server's
//! `/api/1/site/` (udata's real answer, 624 bytes).
//!
//! `BENCH_SERVER_URL=http://127.0.0.1:PORT cargo bench -p datagouv-bench --bench small_get`
//! uses a running `bench-server` (started with no latency); without it the
//! bench starts one in this process, on a thread of its own.

use criterion::{Criterion, criterion_group, criterion_main};
use datagouv::{Client, SendExt, main_api::v1::types::SiteRead};
use std::hint::black_box;

fn server_url() -> String {
    if let Ok(url) = std::env::var("BENCH_SERVER_URL") {
        return url.trim_end_matches('/').to_owned();
    }
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        runtime.block_on(async move {
            let config = datagouv_bench::server::Config {
                datasets: 20,
                rows: 1_000,
                download_bytes: 1 << 20,
                ..Default::default()
            };
            let (addr, serve) =
                datagouv_bench::server::bind(config, 0, std::future::pending::<()>())
                    .await
                    .expect("the bench server binds");
            sender
                .send(format!("http://{addr}"))
                .expect("the bench waits");
            serve.await.expect("the bench server serves");
        });
    });
    receiver.recv().expect("the bench server starts")
}

fn small_get(c: &mut Criterion) {
    let url = server_url();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let client = Client::builder().main_url(&url).build().expect("a client");
    let raw = reqwest::Client::new();
    let site_url = format!("{url}/api/1/site/");

    // Both answer, and the same.
    let (sdk, direct) = runtime.block_on(async {
        let sdk = client
            .main()
            .get_site()
            .send()
            .value()
            .await
            .expect("SDK GET");
        let direct: SiteRead = raw
            .get(&site_url)
            .send()
            .await
            .expect("reqwest GET")
            .error_for_status()
            .expect("200")
            .json()
            .await
            .expect("decodes");
        (sdk, direct)
    });
    assert_eq!(sdk.title, direct.title);

    let mut group = c.benchmark_group("small_get");
    group.bench_function("sdk", |b| {
        b.to_async(&runtime).iter(|| async {
            black_box(
                client
                    .main()
                    .get_site()
                    .send()
                    .value()
                    .await
                    .expect("SDK GET"),
            )
        })
    });
    group.bench_function("reqwest", |b| {
        b.to_async(&runtime).iter(|| async {
            let site: SiteRead = raw
                .get(&site_url)
                .send()
                .await
                .expect("reqwest GET")
                .error_for_status()
                .expect("200")
                .json()
                .await
                .expect("decodes");
            black_box(site)
        })
    });
    group.finish();
}

criterion_group!(benches, small_get);
criterion_main!(benches);
