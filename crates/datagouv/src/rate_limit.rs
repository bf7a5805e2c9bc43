//! The `X-RateLimit-*` state the servers announce.

use reqwest::header::HeaderMap;
use std::time::{Duration, SystemTime};

/// The longest wait any header may ask for: a day. A server, or any file
/// host on the way, may send any number; a larger one is read as this.
pub const MAX_SERVER_WAIT: Duration = Duration::from_secs(24 * 60 * 60);

/// The last rate-limit state a server announced.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RateLimit {
    /// Requests allowed in the window (`X-RateLimit-Limit`).
    pub limit: Option<u64>,
    /// Requests left in the window (`X-RateLimit-Remaining`).
    pub remaining: Option<u64>,
    /// When the window resets (`X-RateLimit-Reset`).
    pub reset: Option<SystemTime>,
}

impl RateLimit {
    /// Reads the headers of an answer; `None` when it carries none of them.
    pub fn from_headers(headers: &HeaderMap, now: SystemTime) -> Option<RateLimit> {
        let number = |name: &str| headers.get(name)?.to_str().ok()?.trim().parse::<u64>().ok();
        let state = RateLimit {
            limit: number("x-ratelimit-limit"),
            remaining: number("x-ratelimit-remaining"),
            reset: number("x-ratelimit-reset").map(|value| reset_time(value, now)),
        };
        (state != RateLimit::default()).then_some(state)
    }
}

/// `X-RateLimit-Reset` is a Unix timestamp on data.gouv.fr; small values are
/// read as seconds from now, as some servers send them. A time further than
/// [`MAX_SERVER_WAIT`] from `now` is read as `now + MAX_SERVER_WAIT`.
fn reset_time(value: u64, now: SystemTime) -> SystemTime {
    let latest = now.checked_add(MAX_SERVER_WAIT).unwrap_or(now);
    let at = if value > 1_000_000_000 {
        SystemTime::UNIX_EPOCH.checked_add(Duration::from_secs(value))
    } else {
        now.checked_add(Duration::from_secs(value))
    };
    at.map_or(latest, |at| at.min(latest))
}

/// How long until the window resets, when the quota is spent.
pub(crate) fn reset_delay(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let state = RateLimit::from_headers(headers, now)?;
    if state.remaining.is_some_and(|left| left > 0) {
        return None;
    }
    Some(state.reset?.duration_since(now).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn headers_are_read_as_timestamps_or_delays() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let mut headers = HeaderMap::new();
        assert_eq!(RateLimit::from_headers(&headers, now), None);
        headers.insert("x-ratelimit-limit", HeaderValue::from_static("100"));
        headers.insert("x-ratelimit-remaining", HeaderValue::from_static("3"));
        headers.insert("x-ratelimit-reset", HeaderValue::from_static("60"));
        let state = RateLimit::from_headers(&headers, now).unwrap();
        assert_eq!((state.limit, state.remaining), (Some(100), Some(3)));
        assert_eq!(state.reset, Some(now + Duration::from_secs(60)));
        assert_eq!(reset_delay(&headers, now), None, "quota left: no wait");
        headers.insert("x-ratelimit-remaining", HeaderValue::from_static("0"));
        assert_eq!(reset_delay(&headers, now), Some(Duration::from_secs(60)));
    }

    #[test]
    fn hostile_reset_values_are_capped_not_panicking() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        for value in [
            "18446744073709551615",
            "9223372036854775807",
            "99999999999999",
            "86401",
        ] {
            let mut headers = HeaderMap::new();
            headers.insert("x-ratelimit-remaining", HeaderValue::from_static("0"));
            headers.insert("x-ratelimit-reset", HeaderValue::from_str(value).unwrap());
            let state = RateLimit::from_headers(&headers, now).unwrap();
            assert_eq!(state.reset, Some(now + MAX_SERVER_WAIT), "{value}");
            assert_eq!(reset_delay(&headers, now), Some(MAX_SERVER_WAIT), "{value}");
        }
        // Near the end of time, adding to `now` itself cannot overflow either.
        let late = SystemTime::UNIX_EPOCH + Duration::from_secs(u64::MAX / 4);
        let mut headers = HeaderMap::new();
        headers.insert("x-ratelimit-reset", HeaderValue::from_static("5"));
        assert!(RateLimit::from_headers(&headers, late).is_some());
    }
}
