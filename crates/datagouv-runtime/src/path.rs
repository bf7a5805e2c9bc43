//! Ids and slugs made into one URL path segment.
//!
//! A value the caller gives (`"../me/api_tokens"`, `"a/b"`, `"%2e%2e"`,
//! `"."`) must never become a path of its own: URL parsers remove `.` and
//! `..` segments (and their `%2e` spellings), and an unencoded `/`, `\`,
//! `?`, `#` or `%` ends or changes the segment. [`path_segment`] encodes
//! every byte that is not plain text of a segment and refuses the values
//! no encoding can keep in place.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// Everything but RFC 3986's unreserved characters and the sub-delimiters,
/// `:` and `@` that data.gouv.fr ids hold (`fr:commune:75056@2019-01-01`).
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b':')
    .remove(b'@')
    .remove(b'!')
    .remove(b'$')
    .remove(b'\'')
    .remove(b'(')
    .remove(b')')
    .remove(b'*')
    .remove(b'+')
    .remove(b',')
    .remove(b';')
    .remove(b'=');

/// `value` as exactly one path segment: percent-encoded (a `/` travels as
/// `%2F`, a `%` as `%25`), or an error naming it when it is empty, `.` or
/// `..` (URL parsers would drop or climb such a segment).
///
/// ```
/// use datagouv_runtime::path_segment;
/// assert_eq!(path_segment("base-sirene").unwrap(), "base-sirene");
/// assert_eq!(path_segment("../me").unwrap(), "..%2Fme");
/// assert!(path_segment("..").is_err());
/// ```
pub fn path_segment(value: &str) -> Result<String, String> {
    match value {
        "" => Err("an id or slug is empty: give the object's id or slug".to_owned()),
        "." | ".." => Err(format!(
            "`{value}` is not an id or slug: it would name another path of the API"
        )),
        _ => Ok(utf8_percent_encode(value, SEGMENT).to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_value_stays_one_segment() {
        for (value, encoded) in [
            ("base-sirene", "base-sirene"),
            ("534fff75a3a7292c64a77de4", "534fff75a3a7292c64a77de4"),
            ("fr:commune:75056@2019-01-01", "fr:commune:75056@2019-01-01"),
            ("../me/api_tokens", "..%2Fme%2Fapi_tokens"),
            ("%2e%2e", "%252e%252e"),
            ("a\\b", "a%5Cb"),
            ("a?b#c", "a%3Fb%23c"),
            ("é t", "%C3%A9%20t"),
            ("...", "..."),
        ] {
            assert_eq!(path_segment(value).unwrap(), encoded, "{value}");
            let url = reqwest::Url::parse(&format!(
                "https://x.test/api/1/datasets/{}/",
                path_segment(value).unwrap()
            ))
            .unwrap();
            assert_eq!(
                url.path_segments().unwrap().count(),
                5,
                "{value} left its segment: {url}"
            );
            assert!(url.path().starts_with("/api/1/datasets/"), "{url}");
        }
        for value in ["", ".", ".."] {
            assert!(path_segment(value).is_err(), "{value:?}");
        }
    }
}
