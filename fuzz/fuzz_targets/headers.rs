//! Every value a server, or a file host on the way, can put in the headers
//! the SDK reads (rate limits, `Retry-After`, `Content-Range`, the
//! validators `ETag`/`Last-Modified`, `Content-Length`) at any clock: never a
//! panic, and every wait it derives is at most `MAX_SERVER_WAIT`.
//!
//! Input: 8 bytes of clock (seconds since 1970, bounded), 8 bytes of time
//! already spent retrying, then one value per header name, `\n`-separated.
#![no_main]

use datagouv::{Decision, MAX_SERVER_WAIT, Outcome, RateLimit, RetryPolicy};
use libfuzzer_sys::fuzz_target;
use reqwest::{
    Method, StatusCode,
    header::{HeaderMap, HeaderValue},
};
use std::time::{Duration, SystemTime};

const NAMES: [&str; 8] = [
    "retry-after",
    "x-ratelimit-limit",
    "x-ratelimit-remaining",
    "x-ratelimit-reset",
    "content-range",
    "etag",
    "last-modified",
    "content-length",
];

fuzz_target!(|data: &[u8]| {
    let Some((clock, rest)) = data.split_first_chunk::<8>() else {
        return;
    };
    let Some((spent, rest)) = rest.split_first_chunk::<8>() else {
        return;
    };
    // Up to about 34,000 years after 1970: any clock a machine may have.
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(u64::from_be_bytes(*clock) % (1 << 40));
    let elapsed = Duration::from_millis(u64::from_be_bytes(*spent));
    let mut headers = HeaderMap::new();
    for (name, value) in NAMES.iter().zip(rest.split(|byte| *byte == b'\n')) {
        if let Ok(value) = HeaderValue::from_bytes(value) {
            headers.insert(*name, value);
        }
    }

    if let Some(state) = RateLimit::from_headers(&headers, now) {
        if let Some(reset) = state.reset {
            assert!(reset.duration_since(now).unwrap_or_default() <= MAX_SERVER_WAIT);
        }
    }
    if let Some(wait) = datagouv::server_delay(&headers, now) {
        assert!(wait <= MAX_SERVER_WAIT, "{wait:?}");
    }
    let policy = RetryPolicy {
        max_elapsed: Duration::MAX,
        ..RetryPolicy::default()
    };
    for status in [200, 206, 429, 502, 503, 504] {
        let status = StatusCode::from_u16(status).expect("a valid status");
        for method in [Method::GET, Method::POST] {
            let outcome = Outcome::Response(status, &headers);
            if let Decision::RetryAfter(wait) = policy.decide(&method, outcome, 1, elapsed, now, 0.5)
            {
                assert!(wait <= MAX_SERVER_WAIT.max(policy.max_backoff), "{wait:?}");
            }
        }
    }

    // The error path reads the same headers from a whole answer.
    let mut answer = http::Response::builder().status(429);
    for (name, value) in &headers {
        answer = answer.header(name, value);
    }
    if let Ok(answer) = answer.body(Vec::new()) {
        let error =
            futures::executor::block_on(datagouv::Error::from_response(reqwest::Response::from(answer)));
        let _ = (error.to_string(), format!("{error:?}"));
    }

    // What downloads read: the validators and `Content-Range` of a 206.
    datagouv::fuzzing::download_headers(&headers);
});
