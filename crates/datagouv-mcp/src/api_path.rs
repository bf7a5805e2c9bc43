//! Paths of the Main API built from literal parts and ids, the only way
//! the tools name a udata endpoint.
//!
//! An id comes from the MCP client, which may be steered by whatever text a
//! model read: `"../me/api_tokens"` formatted into `datasets/{id}/` would
//! climb to the user's API tokens (URL parsers resolve `..`) and send the
//! key with it. [`ApiPath::id`] is the one door an id goes through: it
//! becomes exactly one percent-encoded segment, or the call is refused
//! naming the parameter, before any request. Literal parts are
//! `&'static str`, text written here, so an argument cannot be passed as one.

use datagouv::Error;

/// A path below a Main API root (`/datasets/{id}/`), with an optional query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ApiPath(String);

impl ApiPath {
    /// `/{literal}/`; `literal` may hold several segments (`datasets/resources`).
    pub(crate) fn new(literal: &'static str) -> ApiPath {
        ApiPath(format!("/{}/", literal.trim_matches('/')))
    }

    /// This path, then the id or slug `value` (of the parameter `name`) as
    /// one segment.
    pub(crate) fn id(mut self, name: &str, value: &str) -> Result<ApiPath, Error> {
        self.0.push_str(&segment(name, value)?);
        self.0.push('/');
        Ok(self)
    }

    /// This path, then `literal` (text written here, never an argument).
    pub(crate) fn literal(mut self, literal: &'static str) -> ApiPath {
        self.0.push_str(literal.trim_matches('/'));
        self.0.push('/');
        self
    }

    /// This path with `?key=value…`, the values percent-encoded; `None`s left out.
    pub(crate) fn query(self, pairs: &[(&str, Option<String>)]) -> ApiPath {
        let present: Vec<(&str, &str)> = pairs
            .iter()
            .filter_map(|(key, value)| Some((*key, value.as_deref()?)))
            .collect();
        let url = reqwest::Url::parse_with_params("http://query.invalid/", &present)
            .expect("a valid base");
        ApiPath(format!("{}?{}", self.0, url.query().unwrap_or_default()))
    }

    /// The path, for `Client::raw`.
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

/// `value` as one path segment, or [`Error::InvalidInput`] naming the
/// parameter (`dataset_id`) and the value.
fn segment(name: &str, value: &str) -> Result<String, Error> {
    datagouv::path_segment(value).map_err(|_| refused(name, value))
}

/// An id the tools hand to an SDK call (which encodes it in its path):
/// refused here, naming the parameter, when no encoding keeps it one
/// segment (`.`, `..`, empty), so every tool refuses the same ids the same way.
pub(crate) fn sdk_id<'a>(name: &str, value: &'a str) -> Result<&'a str, Error> {
    segment(name, value)?;
    Ok(value)
}

fn refused(name: &str, value: &str) -> Error {
    if value.is_empty() {
        Error::InvalidInput(format!("{name} is empty: give the object's id or slug"))
    } else {
        Error::InvalidInput(format!(
            "{name} `{value}` is not an id or slug (it would name another path of the API): \
             give the object's id or slug, as the search tools list them"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_stays_one_segment_or_is_refused_naming_the_parameter() {
        for (value, path) in [
            ("base-sirene", "/datasets/base-sirene/"),
            ("../me/api_tokens", "/datasets/..%2Fme%2Fapi_tokens/"),
            ("../me", "/datasets/..%2Fme/"),
            ("a/b", "/datasets/a%2Fb/"),
            ("%2e%2e", "/datasets/%252e%252e/"),
            ("x?y", "/datasets/x%3Fy/"),
            ("x#y", "/datasets/x%23y/"),
        ] {
            let built = ApiPath::new("datasets").id("dataset_id", value).unwrap();
            assert_eq!(built.as_str(), path, "{value}");
            let url = reqwest::Url::parse("http://x.test/api/1")
                .unwrap()
                .join(&format!("/api/1{}", built.as_str()))
                .unwrap();
            assert_eq!(url.path_segments().unwrap().count(), 5, "{value}: {url}");
            assert!(url.query().is_none(), "{value}: {url}");
        }
        for value in ["..", ".", ""] {
            let error = ApiPath::new("datasets")
                .id("dataset_id", value)
                .unwrap_err()
                .to_string();
            assert!(error.contains("dataset_id"), "{error}");
            assert!(sdk_id("dataset_id", value).is_err());
        }
        assert_eq!(sdk_id("dataset_id", "../me").unwrap(), "../me");
    }

    /// The tools reach udata only through `v1`/`v2`, which take an
    /// `ApiPath` (a path formatted by hand does not compile there); a new
    /// direct call to the raw escape hatch would bypass it, and fails here.
    #[test]
    fn the_tools_reach_udata_only_through_api_paths() {
        let folder = concat!(env!("CARGO_MANIFEST_DIR"), "/src/tools");
        let mut tools = String::new();
        for entry in std::fs::read_dir(folder).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|ext| ext == "rs") {
                tools.push_str(&std::fs::read_to_string(&path).unwrap());
            }
        }
        assert!(
            tools.contains("fn search_datasets("),
            "the tool files were read"
        );
        assert_eq!(tools.matches(".raw(").count(), 1, "only in DatagouvMcp::v1");
        assert_eq!(
            tools.matches(".raw_v2(").count(),
            1,
            "only in DatagouvMcp::v2"
        );
        assert!(tools.contains("async fn v1(&self, path: &ApiPath)"));
        assert!(tools.contains("async fn v2(&self, path: &ApiPath)"));
    }

    #[test]
    fn literals_follow_ids() {
        let path = ApiPath::new("topics")
            .id("topic_id", "a/b")
            .unwrap()
            .literal("elements");
        assert_eq!(path.as_str(), "/topics/a%2Fb/elements/");
    }

    #[test]
    fn queries_are_encoded() {
        let path = ApiPath::new("/datasets/search/").query(&[
            ("q", Some("a&b=c".into())),
            ("sort", None),
            ("page", Some("2".into())),
        ]);
        assert_eq!(path.as_str(), "/datasets/search/?q=a%26b%3Dc&page=2");
    }
}
