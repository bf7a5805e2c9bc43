//! When to send a request again: a [`RetryPolicy`] value and the pure
//! [`RetryPolicy::decide`] function, tested without a server.

use reqwest::{Method, StatusCode, header::HeaderMap};
use std::time::{Duration, SystemTime};

use crate::rate_limit::{MAX_SERVER_WAIT, reset_delay};

/// How many times, and how patiently, failed requests are sent again.
///
/// By default only idempotent methods (GET, HEAD, OPTIONS, PUT, DELETE) are
/// retried, on 429, 502, 503, 504 and on transport errors; a POST or PATCH
/// is retried only when the connection could not be opened at all (nothing
/// was sent). `Retry-After` and `X-RateLimit-Reset` are honoured.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (1 = never retry).
    pub max_attempts: u32,
    /// The wait before the second attempt; doubles each time, with jitter.
    pub initial_backoff: Duration,
    /// The longest wait between two attempts.
    pub max_backoff: Duration,
    /// Give up once this much time has passed since the first attempt.
    pub max_elapsed: Duration,
    /// Also retry non-idempotent methods (POST, PATCH) after a response or a
    /// broken connection. Off by default: the request may have been applied.
    pub retry_non_idempotent: bool,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 4,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(30),
            max_elapsed: Duration::from_secs(120),
            retry_non_idempotent: false,
        }
    }
}

/// What happened to one attempt, as far as retrying is concerned.
#[derive(Clone, Copy, Debug)]
pub enum Outcome<'a> {
    /// The server answered.
    Response(StatusCode, &'a HeaderMap),
    /// The connection could not be opened: nothing was sent.
    ConnectFailed,
    /// The connection broke or timed out after the request may have been sent.
    TransportFailed,
}

impl<'a> Outcome<'a> {
    /// Classifies the result of sending a request.
    pub fn of(result: &'a reqwest::Result<reqwest::Response>) -> Outcome<'a> {
        match result {
            Ok(response) => Outcome::Response(response.status(), response.headers()),
            Err(error) if error.is_connect() => Outcome::ConnectFailed,
            Err(_) => Outcome::TransportFailed,
        }
    }
}

/// The decision for one attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Keep this outcome.
    Stop,
    /// Wait this long, then send again.
    RetryAfter(Duration),
}

impl RetryPolicy {
    /// A policy that never retries.
    pub fn never() -> Self {
        Self {
            max_attempts: 1,
            ..Self::default()
        }
    }

    /// Decides whether attempt number `attempt` (1-based) is final.
    ///
    /// `elapsed` is the time since the first attempt; `now` is used to read
    /// `Retry-After` dates and `X-RateLimit-Reset` timestamps; `jitter` in
    /// `[0, 1)` spreads the backoff (the transport passes a random one).
    pub fn decide(
        &self,
        method: &Method,
        outcome: Outcome<'_>,
        attempt: u32,
        elapsed: Duration,
        now: SystemTime,
        jitter: f64,
    ) -> Decision {
        let idempotent = matches!(
            *method,
            Method::GET | Method::HEAD | Method::OPTIONS | Method::PUT | Method::DELETE
        );
        let may_resend = idempotent || self.retry_non_idempotent;
        self.decide_with(may_resend, outcome, attempt, elapsed, now, jitter)
    }

    /// Like [`RetryPolicy::decide`], for a request that is safe to send
    /// again whatever its method (a part of a chunked upload overwrites
    /// itself).
    pub fn decide_resend(
        &self,
        outcome: Outcome<'_>,
        attempt: u32,
        elapsed: Duration,
        now: SystemTime,
        jitter: f64,
    ) -> Decision {
        self.decide_with(true, outcome, attempt, elapsed, now, jitter)
    }

    /// The decision for a live attempt: the outcome of `result`, the clock
    /// since `started`, a random jitter. `resend_is_safe` marks a request
    /// that may be repeated whatever its method.
    pub(crate) fn decide_live(
        &self,
        method: &Method,
        resend_is_safe: bool,
        result: &reqwest::Result<reqwest::Response>,
        attempt: u32,
        started: std::time::Instant,
    ) -> Decision {
        let (outcome, elapsed, now, jitter) = (
            Outcome::of(result),
            started.elapsed(),
            SystemTime::now(),
            fastrand::f64(),
        );
        if resend_is_safe {
            self.decide_resend(outcome, attempt, elapsed, now, jitter)
        } else {
            self.decide(method, outcome, attempt, elapsed, now, jitter)
        }
    }

    fn decide_with(
        &self,
        may_resend: bool,
        outcome: Outcome<'_>,
        attempt: u32,
        elapsed: Duration,
        now: SystemTime,
        jitter: f64,
    ) -> Decision {
        if attempt >= self.max_attempts {
            return Decision::Stop;
        }
        let wait = match outcome {
            Outcome::ConnectFailed => self.backoff(attempt, jitter),
            Outcome::TransportFailed if may_resend => self.backoff(attempt, jitter),
            Outcome::Response(status, headers) if may_resend && retryable_status(status) => {
                server_delay(headers, now).unwrap_or_else(|| self.backoff(attempt, jitter))
            }
            _ => return Decision::Stop,
        };
        if elapsed.saturating_add(wait) > self.max_elapsed {
            return Decision::Stop;
        }
        Decision::RetryAfter(wait)
    }

    /// Exponential backoff with jitter: between half and all of
    /// `initial × 2^(attempt-1)`, capped at `max_backoff`.
    fn backoff(&self, attempt: u32, jitter: f64) -> Duration {
        let exponent = attempt.saturating_sub(1).min(16);
        let full = self
            .initial_backoff
            .saturating_mul(1 << exponent)
            .min(self.max_backoff);
        full.mul_f64(0.5 + 0.5 * jitter.clamp(0.0, 1.0))
    }
}

fn retryable_status(status: StatusCode) -> bool {
    matches!(status.as_u16(), 429 | 502 | 503 | 504)
}

/// The wait the server asks for: `Retry-After` (seconds or HTTP date), else
/// `X-RateLimit-Reset` when the quota is spent; never more than
/// [`MAX_SERVER_WAIT`], whatever the header says.
pub fn server_delay(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    if let Some(value) = headers
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
    {
        let value = value.trim();
        if let Ok(seconds) = value.parse::<u64>() {
            return Some(Duration::from_secs(seconds).min(MAX_SERVER_WAIT));
        }
        if let Ok(date) = httpdate::parse_http_date(value) {
            return Some(
                date.duration_since(now)
                    .unwrap_or_default()
                    .min(MAX_SERVER_WAIT),
            );
        }
    }
    reset_delay(headers, now).map(|wait| wait.min(MAX_SERVER_WAIT))
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn decide(method: Method, outcome: Outcome<'_>, attempt: u32) -> Decision {
        RetryPolicy::default().decide(
            &method,
            outcome,
            attempt,
            Duration::ZERO,
            SystemTime::UNIX_EPOCH,
            0.0,
        )
    }

    #[test]
    fn gets_are_retried_on_overload_and_broken_connections() {
        let headers = HeaderMap::new();
        for status in [429, 502, 503, 504] {
            let outcome = Outcome::Response(StatusCode::from_u16(status).unwrap(), &headers);
            assert_eq!(
                decide(Method::GET, outcome, 1),
                Decision::RetryAfter(Duration::from_millis(250)),
                "{status}"
            );
        }
        assert_eq!(
            decide(Method::GET, Outcome::TransportFailed, 2),
            Decision::RetryAfter(Duration::from_millis(500))
        );
        for status in [200, 400, 401, 403, 404, 410, 500] {
            let outcome = Outcome::Response(StatusCode::from_u16(status).unwrap(), &headers);
            assert_eq!(decide(Method::GET, outcome, 1), Decision::Stop, "{status}");
        }
    }

    #[test]
    fn posts_are_resent_only_when_nothing_was_sent() {
        let headers = HeaderMap::new();
        assert_eq!(
            decide(
                Method::POST,
                Outcome::Response(StatusCode::SERVICE_UNAVAILABLE, &headers),
                1
            ),
            Decision::Stop
        );
        assert_eq!(
            decide(Method::POST, Outcome::TransportFailed, 1),
            Decision::Stop
        );
        assert!(matches!(
            decide(Method::POST, Outcome::ConnectFailed, 1),
            Decision::RetryAfter(_)
        ));
        assert_eq!(
            decide(Method::PATCH, Outcome::TransportFailed, 1),
            Decision::Stop
        );
    }

    #[test]
    fn retry_after_seconds_and_dates_are_honoured() {
        let mut headers = HeaderMap::new();
        headers.insert("retry-after", HeaderValue::from_static("7"));
        let outcome = Outcome::Response(StatusCode::TOO_MANY_REQUESTS, &headers);
        assert_eq!(
            decide(Method::GET, outcome, 1),
            Decision::RetryAfter(Duration::from_secs(7))
        );

        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000);
        let later = httpdate::fmt_http_date(now + Duration::from_secs(12));
        headers.insert("retry-after", HeaderValue::from_str(&later).unwrap());
        let outcome = Outcome::Response(StatusCode::SERVICE_UNAVAILABLE, &headers);
        let decision =
            RetryPolicy::default().decide(&Method::GET, outcome, 1, Duration::ZERO, now, 0.0);
        assert_eq!(decision, Decision::RetryAfter(Duration::from_secs(12)));
    }

    #[test]
    fn rate_limit_reset_is_honoured_without_retry_after() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let mut headers = HeaderMap::new();
        headers.insert("x-ratelimit-remaining", HeaderValue::from_static("0"));
        headers.insert("x-ratelimit-reset", HeaderValue::from_static("1700000005"));
        let outcome = Outcome::Response(StatusCode::TOO_MANY_REQUESTS, &headers);
        let decision =
            RetryPolicy::default().decide(&Method::GET, outcome, 1, Duration::ZERO, now, 0.0);
        assert_eq!(decision, Decision::RetryAfter(Duration::from_secs(5)));
    }

    #[test]
    fn hostile_waits_are_capped_and_stop_the_retries() {
        for (name, value) in [
            ("retry-after", "18446744073709551615"),
            ("retry-after", "Fri, 31 Dec 9999 23:59:59 GMT"),
            ("x-ratelimit-reset", "18446744073709551615"),
        ] {
            let mut headers = HeaderMap::new();
            headers.insert("x-ratelimit-remaining", HeaderValue::from_static("0"));
            headers.insert(name, HeaderValue::from_static(value));
            let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
            assert_eq!(
                server_delay(&headers, now),
                Some(MAX_SERVER_WAIT),
                "{name}: {value}"
            );
            let outcome = Outcome::Response(StatusCode::TOO_MANY_REQUESTS, &headers);
            let patient = RetryPolicy {
                max_elapsed: Duration::MAX,
                ..RetryPolicy::default()
            };
            for elapsed in [Duration::ZERO, Duration::MAX] {
                let decision =
                    RetryPolicy::default().decide(&Method::GET, outcome, 1, elapsed, now, 0.5);
                assert_eq!(decision, Decision::Stop, "{name}: {value}");
            }
            let decision = patient.decide(&Method::GET, outcome, 1, Duration::ZERO, now, 0.5);
            assert_eq!(
                decision,
                Decision::RetryAfter(MAX_SERVER_WAIT),
                "{name}: {value}"
            );
        }
    }

    #[test]
    fn attempts_and_elapsed_time_are_bounded() {
        let headers = HeaderMap::new();
        let outcome = Outcome::Response(StatusCode::SERVICE_UNAVAILABLE, &headers);
        assert_eq!(
            decide(Method::GET, outcome, 4),
            Decision::Stop,
            "the fourth attempt is the last"
        );
        let policy = RetryPolicy {
            max_elapsed: Duration::from_secs(1),
            ..RetryPolicy::default()
        };
        let mut long = HeaderMap::new();
        long.insert("retry-after", HeaderValue::from_static("5"));
        let outcome = Outcome::Response(StatusCode::TOO_MANY_REQUESTS, &long);
        let decision = policy.decide(
            &Method::GET,
            outcome,
            1,
            Duration::ZERO,
            SystemTime::UNIX_EPOCH,
            0.5,
        );
        assert_eq!(
            decision,
            Decision::Stop,
            "waiting past max_elapsed is not worth it"
        );
        assert_eq!(
            RetryPolicy::never().decide(
                &Method::GET,
                Outcome::TransportFailed,
                1,
                Duration::ZERO,
                SystemTime::UNIX_EPOCH,
                0.0
            ),
            Decision::Stop
        );
    }

    #[test]
    fn backoff_doubles_with_jitter_and_is_capped() {
        let policy = RetryPolicy::default();
        assert_eq!(policy.backoff(1, 1.0), Duration::from_millis(500));
        assert_eq!(policy.backoff(3, 1.0), Duration::from_millis(2000));
        assert_eq!(policy.backoff(3, 0.0), Duration::from_millis(1000));
        assert_eq!(policy.backoff(30, 1.0), Duration::from_secs(30));
    }
}
