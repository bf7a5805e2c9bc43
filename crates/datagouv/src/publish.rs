//! Publishing on data.gouv.fr, readably: a private draft dataset, its
//! resources (remote links or uploaded files, see [`Client::upload_resource`]),
//! metadata updates, resource order, publication, archiving, deletion.
//!
//! These are thin, named steps over the generated calls, so that a
//! producer's script reads as what it does. Everything else the Main API
//! writes (discussions, follows, transfers, memberships, reuses and
//! dataservices linking datasets, community resources) is reachable through
//! the generated builders with `.send().value()`, with the same key
//! handling and errors.

use datagouv_main::v1::types::{DatasetWrite, ResourceWrite};
use serde_json::{Value, json};

use crate::{Client, Error, SendExt};

/// A dataset as the Main API returns it after a write.
pub type Dataset = datagouv_main::v1::types::Dataset;
/// A resource as the Main API returns it after a write.
pub type Resource = datagouv_main::v1::types::Resource;

/// What a new dataset starts with.
#[derive(Clone, Debug, Default)]
pub struct DatasetDraft {
    /// The title (required).
    pub title: String,
    /// The description, Markdown (required).
    pub description: String,
    /// The organization publishing it; `None` publishes as the key's user.
    pub organization: Option<String>,
    /// Tags (3 to 96 characters each).
    pub tags: Vec<String>,
    /// A license id (`lov2`, `odc-odbl`, …).
    pub license: Option<String>,
    /// An update frequency id (`monthly`, `irregular`, …).
    pub frequency: Option<String>,
}

/// The fields of [`DatasetWrite`] the server sets itself (`readOnly` in the
/// spec): it ignores them in an update, so naming one is refused.
const DATASET_READ_ONLY: &[&str] = &[
    "badges",
    "created_at",
    "deleted",
    "doi",
    "geopf",
    "harvest",
    "id",
    "internal",
    "last_modified",
    "page",
    "quality",
    "slug",
    "uri",
];

/// The fields udata's dataset update empties when the body leaves them out
/// (its form reads an absent list or date range as empty; every other field
/// keeps its value), checked against the real server by the CLI's tests.
const EMPTIED_WHEN_ABSENT: &[&str] = &["tags", "temporal_coverage"];

/// The fields a dataset update may name: those of [`DatasetWrite`] but the
/// read-only ones.
pub fn dataset_writable_fields() -> Vec<&'static str> {
    crate::model_fields::<DatasetWrite>()
        .iter()
        .copied()
        .filter(|name| !DATASET_READ_ONLY.contains(name))
        .collect()
}

fn body<T: serde::de::DeserializeOwned>(value: Value, what: &str) -> Result<T, Error> {
    serde_json::from_value(value)
        .map_err(|e| Error::InvalidInput(format!("{what} does not fit the API's model: {e}")))
}

impl Client {
    /// Creates a **private** draft dataset; publish it with
    /// [`Client::publish_dataset`] once its resources are in place.
    pub async fn create_draft_dataset(&self, draft: DatasetDraft) -> Result<Dataset, Error> {
        if draft.title.trim().is_empty() || draft.description.trim().is_empty() {
            return Err(Error::InvalidInput(
                "a dataset needs a title and a description".into(),
            ));
        }
        if let Some(tag) = draft
            .tags
            .iter()
            .find(|t| !(3..=96).contains(&t.chars().count()))
        {
            return Err(Error::InvalidInput(format!(
                "the tag `{tag}` must be 3 to 96 characters long"
            )));
        }
        let mut value = json!({ "title": draft.title, "description": draft.description, "private": true, "tags": draft.tags });
        if let Some(organization) = draft.organization {
            value["organization"] = json!({ "class": "Organization", "id": organization });
        }
        if let Some(license) = draft.license {
            value["license"] = json!(license);
        }
        if let Some(frequency) = draft.frequency {
            value["frequency"] = json!(frequency);
        }
        self.main()
            .create_dataset()
            .body(body::<DatasetWrite>(value, "the draft")?)
            .send()
            .value()
            .await
    }

    /// Changes some fields of a dataset (`changes` is a JSON object of the
    /// fields to set, e.g. `{"description": "…", "tags": ["a", "b"]}`; a
    /// `null` clears a field, and the server refuses it for a required one).
    ///
    /// Refused before any request: a name that is not a writable field of
    /// [`DatasetWrite`] (the server would ignore it), and a value of the
    /// wrong type for its field. The object is sent as given, so a `null`
    /// reaches the server (the generated model would drop it).
    ///
    /// Every field not named is kept: udata empties the tags and the
    /// temporal coverage when an update leaves them out, so those are read
    /// first and sent back unchanged (another writer changing them between
    /// the read and the write loses that change).
    pub async fn update_dataset(&self, dataset: &str, changes: Value) -> Result<Dataset, Error> {
        let Value::Object(fields) = &changes else {
            return Err(Error::InvalidInput(
                "dataset changes are a JSON object of fields".into(),
            ));
        };
        let writable = dataset_writable_fields();
        if let Some(name) = fields
            .keys()
            .find(|name| !writable.contains(&name.as_str()))
        {
            let why = if DATASET_READ_ONLY.contains(&name.as_str()) {
                "is set by the server"
            } else {
                "is not a field of a dataset"
            };
            return Err(Error::InvalidInput(format!(
                "`{name}` {why}; the fields a dataset update takes are: {}",
                writable.join(", ")
            )));
        }
        for (name, value) in fields {
            let one = Value::Object([(name.clone(), value.clone())].into_iter().collect());
            serde_json::from_value::<DatasetWrite>(one)
                .map_err(|e| Error::InvalidInput(format!("`{name}` cannot be {value}: {e}")))?;
        }
        let path = format!("/datasets/{}/", crate::path_segment(dataset)?);
        // A write without a key is refused before the read below.
        let url = format!("{}{path}", self.main_v1_root());
        let mut write = reqwest::Request::new(
            reqwest::Method::PUT,
            reqwest::Url::parse(&url)
                .map_err(|e| Error::InvalidInput(format!("`{url}` is not a URL: {e}")))?,
        );
        datagouv_runtime::Transport::prepare(self.transport(), &mut write, "update_dataset")
            .map_err(Error::refused)?;
        let mut body = fields.clone();
        let emptied: Vec<&str> = EMPTIED_WHEN_ABSENT
            .iter()
            .copied()
            .filter(|name| !fields.contains_key(*name))
            .collect();
        if !emptied.is_empty() {
            let current = self
                .main()
                .get_dataset()
                .dataset(dataset)
                .send()
                .value()
                .await?;
            let current = serde_json::to_value(current).expect("a dataset serialises");
            for name in emptied {
                match current.get(name) {
                    Some(value) if !value.is_null() => {
                        body.insert(name.to_owned(), value.clone());
                    }
                    _ => {}
                }
            }
        }
        let response = self
            .raw(reqwest::Method::PUT, &path, Some(Value::Object(body)))
            .await?;
        let body = response.bytes().await.map_err(Error::Transport)?;
        serde_json::from_slice(&body).map_err(|source| Error::Decode {
            excerpt: crate::error::excerpt(&body),
            source,
        })
    }

    /// Makes a dataset public.
    pub async fn publish_dataset(&self, dataset: &str) -> Result<Dataset, Error> {
        self.update_dataset(dataset, json!({ "private": false }))
            .await
    }

    /// Archives a dataset (it stays readable, marked archived).
    pub async fn archive_dataset(&self, dataset: &str) -> Result<Dataset, Error> {
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        self.update_dataset(dataset, json!({ "archived": now }))
            .await
    }

    /// Deletes a dataset (udata keeps it, marked deleted, for a while).
    pub async fn delete_dataset(&self, dataset: &str) -> Result<(), Error> {
        self.main()
            .delete_dataset()
            .dataset(dataset)
            .send()
            .value()
            .await
    }

    /// Adds a resource that points at a file hosted elsewhere.
    pub async fn add_remote_resource(
        &self,
        dataset: &str,
        title: &str,
        url: &str,
        format: &str,
    ) -> Result<Resource, Error> {
        reqwest::Url::parse(url)
            .map_err(|e| Error::InvalidInput(format!("`{url}` is not a URL: {e}")))?;
        let value = json!({ "title": title, "url": url, "format": format, "filetype": "remote", "type": "main" });
        self.main()
            .create_resource()
            .dataset(dataset)
            .body(body::<ResourceWrite>(value, "the resource")?)
            .send()
            .value()
            .await
    }

    /// Puts a dataset's resources in this order (every resource id, once).
    pub async fn reorder_resources(
        &self,
        dataset: &str,
        resource_ids: &[&str],
    ) -> Result<Vec<Resource>, Error> {
        let list: Vec<ResourceWrite> = resource_ids
            .iter()
            .map(|id| body::<ResourceWrite>(json!({ "id": id }), "a resource id"))
            .collect::<Result<_, _>>()?;
        self.main()
            .update_resources()
            .dataset(dataset)
            .body(list)
            .send()
            .value()
            .await
    }

    /// Deletes a resource of a dataset.
    pub async fn delete_resource(&self, dataset: &str, resource: &str) -> Result<(), Error> {
        self.main()
            .delete_resource()
            .dataset(dataset)
            .rid(resource)
            .send()
            .value()
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The read-only list follows the spec the model is generated from.
    #[test]
    fn read_only_dataset_fields_are_those_of_the_spec() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../datagouv-main/spec/v1.json");
        let spec: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let properties = spec["components"]["schemas"]["DatasetWrite"]["properties"]
            .as_object()
            .unwrap();
        let read_only: Vec<&str> = properties
            .iter()
            .filter(|(_, p)| p["readOnly"] == true)
            .map(|(name, _)| name.as_str())
            .collect();
        assert_eq!(read_only, DATASET_READ_ONLY);
        let writable = dataset_writable_fields();
        assert!(writable.contains(&"title") && !writable.contains(&"id"));
        assert_eq!(writable.len() + read_only.len(), properties.len());
    }
}
