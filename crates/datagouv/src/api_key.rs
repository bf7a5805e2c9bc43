//! The API key: one type that sends it and never shows it.

use reqwest::header::HeaderValue;
use std::fmt;

use crate::Error;

/// A data.gouv.fr API key: sent as `X-API-KEY`, marked sensitive, never
/// shown by `Debug` or `Display`.
#[derive(Clone)]
pub struct ApiKey(HeaderValue);

impl ApiKey {
    /// Wraps a key; refuses one that cannot be an HTTP header value.
    pub fn new(key: impl AsRef<str>) -> Result<Self, Error> {
        let key = key.as_ref().trim();
        if key.is_empty() {
            return Err(Error::Config("the API key is empty".into()));
        }
        let mut value = HeaderValue::from_str(key).map_err(|_| {
            Error::Config("the API key holds characters that cannot be sent in a header".into())
        })?;
        value.set_sensitive(true);
        Ok(Self(value))
    }

    pub(crate) fn header_value(&self) -> HeaderValue {
        self.0.clone()
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(<redacted>)")
    }
}
