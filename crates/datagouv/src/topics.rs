//! Topics (Main API v2): thematic collections of datasets, reuses and
//! dataservices, with free-text elements among them.
//!
//! The generated builders reach every topic operation
//! (`client.main_v2().get_topic()`, `.topic_elements()`, …); what this module
//! adds is what a program asks for in one line: a topic's elements of one
//! kind as a lazy stream, the datasets, reuses or dataservices themselves
//! as streams (like `topic.datasets` of the Python client), elements added
//! by kind and id, and an update that sends only the fields it names.

use datagouv_main::{v1, v2};
use futures::{StreamExt, TryStreamExt, stream::BoxStream};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::{Client, Error, Paginator, SendExt};

/// A topic as the Main API v2 returns it.
pub type Topic = v2::types::Topic;
/// One element of a topic: a reference to a dataset, reuse or dataservice
/// (`element`), or free text (`title`, `description`) with no object.
pub type TopicElement = v2::types::TopicElementRead;

/// How many objects a topic's object streams fetch at a time.
const OBJECTS_IN_FLIGHT: usize = 4;

/// The kinds of a topic's elements.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ElementKind {
    /// A dataset.
    Dataset,
    /// A reuse.
    Reuse,
    /// A dataservice (an API).
    Dataservice,
    /// Free text: a title and a description, no object.
    Text,
}

impl ElementKind {
    /// Every kind, in the order the CLI lists them.
    pub const ALL: [ElementKind; 4] = [
        ElementKind::Dataset,
        ElementKind::Reuse,
        ElementKind::Dataservice,
        ElementKind::Text,
    ];

    /// The class name udata gives the kind (`Dataset`, …); free text is
    /// `None`, as the elements list's `class` filter takes it.
    pub fn class(self) -> &'static str {
        match self {
            ElementKind::Dataset => "Dataset",
            ElementKind::Reuse => "Reuse",
            ElementKind::Dataservice => "Dataservice",
            ElementKind::Text => "None",
        }
    }

    /// The kind of an element as the server describes it (its `element`'s
    /// `class`; no element is free text); `None` for a class udata may add
    /// later.
    pub fn of(element: &TopicElement) -> Option<ElementKind> {
        match element.element.as_ref().and_then(|r| r.class.as_deref()) {
            None => Some(ElementKind::Text),
            Some(class) => ElementKind::ALL
                .into_iter()
                .find(|kind| kind.class() == class),
        }
    }
}

/// The JSON object of topic fields a write may send: every key a field of
/// the v2 `TopicInput` model, every value of its field's type.
fn checked_topic_fields(changes: &Value) -> Result<&serde_json::Map<String, Value>, Error> {
    let Value::Object(fields) = changes else {
        return Err(Error::InvalidInput(
            "topic changes are a JSON object of fields".into(),
        ));
    };
    let known = crate::model_fields::<v2::types::TopicInput>();
    for (name, value) in fields {
        if !known.contains(&name.as_str()) {
            return Err(Error::InvalidInput(format!(
                "`{name}` is not a field of a topic; the fields a topic write takes are: {}",
                known.join(", ")
            )));
        }
        // `name` is required by the model: give the probe one.
        let mut one = json!({ "name": "probe" });
        one[name] = value.clone();
        serde_json::from_value::<v2::types::TopicInput>(one)
            .map_err(|e| Error::InvalidInput(format!("`{name}` cannot be {value}: {e}")))?;
    }
    Ok(fields)
}

impl Client {
    /// The elements of a topic, of one kind (`Some`) or all, as a lazy
    /// [`Paginator`] (`.items()` streams them, `.max_items(n)` stops early).
    /// The server filters by kind, so no page of other kinds is fetched.
    pub fn topic_elements(
        &self,
        topic: &str,
        kind: Option<ElementKind>,
    ) -> Paginator<v2::types::TopicElementPage> {
        let (v2, topic) = (self.main_v2().clone(), topic.to_owned());
        Paginator::new(move |page| {
            let (v2, topic) = (v2.clone(), topic.clone());
            async move {
                let mut call = v2.topic_elements().topic(topic).page(page).page_size(100);
                if let Some(kind) = kind {
                    call = call.class(kind.class());
                }
                call.send().await
            }
        })
    }

    /// The ids of the objects of one kind a topic holds, in the topic's order.
    fn topic_object_ids(
        &self,
        topic: &str,
        kind: ElementKind,
    ) -> BoxStream<'static, Result<String, Error>> {
        self.topic_elements(topic, Some(kind))
            .items()
            .try_filter_map(|element| async move { Ok(element.element.and_then(|r| r.id)) })
            .boxed()
    }

    /// The datasets of a topic, each read whole (four at a time, in the
    /// topic's order). A dataset deleted since it was added is an error
    /// item (404/410) and the stream goes on.
    pub fn topic_datasets(
        &self,
        topic: &str,
    ) -> BoxStream<'static, Result<v1::types::Dataset, Error>> {
        let main = self.main().clone();
        self.topic_object_ids(topic, ElementKind::Dataset)
            .map_ok(move |id| {
                let main = main.clone();
                async move { main.get_dataset().dataset(id).send().value().await }
            })
            .try_buffered(OBJECTS_IN_FLIGHT)
            .boxed()
    }

    /// The reuses of a topic, each read whole (see [`Client::topic_datasets`]).
    pub fn topic_reuses(
        &self,
        topic: &str,
    ) -> BoxStream<'static, Result<v1::types::ReuseRead, Error>> {
        let main = self.main().clone();
        self.topic_object_ids(topic, ElementKind::Reuse)
            .map_ok(move |id| {
                let main = main.clone();
                async move { main.get_reuse().reuse(id).send().value().await }
            })
            .try_buffered(OBJECTS_IN_FLIGHT)
            .boxed()
    }

    /// The dataservices of a topic, each read whole (see
    /// [`Client::topic_datasets`]).
    pub fn topic_dataservices(
        &self,
        topic: &str,
    ) -> BoxStream<'static, Result<v1::types::DataserviceRead, Error>> {
        let main = self.main().clone();
        self.topic_object_ids(topic, ElementKind::Dataservice)
            .map_ok(move |id| {
                let main = main.clone();
                async move { main.get_dataservice().dataservice(id).send().value().await }
            })
            .try_buffered(OBJECTS_IN_FLIGHT)
            .boxed()
    }

    /// Creates a topic from a JSON object of its fields (`name` required;
    /// `description`, `tags`, `private`, `organization` (an id) or `owner`,
    /// `elements`, …). Checked against the model before any request. The
    /// answer is read as `T`: [`Topic`], or [`serde_json::Value`] for the
    /// server's JSON whole.
    pub async fn create_topic<T: DeserializeOwned>(&self, fields: Value) -> Result<T, Error> {
        checked_topic_fields(&fields)?;
        let name = fields
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if name.trim().is_empty() {
            return Err(Error::InvalidInput("a topic needs a non-empty name".into()));
        }
        self.topic_write(reqwest::Method::POST, "/topics/".into(), fields)
            .await
    }

    /// Changes some fields of a topic (`changes` is a JSON object, e.g.
    /// `{"description": "…", "private": true}`); the fields not named keep
    /// their values, and so do the elements unless `elements` is named.
    /// Refused before any request: a name that is not a field of a topic, a
    /// value of the wrong type. The answer is read as `T` (see
    /// [`Client::create_topic`]).
    pub async fn update_topic<T: DeserializeOwned>(
        &self,
        topic: &str,
        changes: Value,
    ) -> Result<T, Error> {
        checked_topic_fields(&changes)?;
        let path = format!("/topics/{}/", crate::path_segment(topic)?);
        self.topic_write(reqwest::Method::PUT, path, changes).await
    }

    /// Sends a topic write below `/api/2` and reads the answer as `T` (the
    /// object is sent as given: the generated model would drop a `null`
    /// and always send `name`).
    async fn topic_write<T: DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: String,
        body: Value,
    ) -> Result<T, Error> {
        let response = self.raw_v2(method, &path, Some(body)).await?;
        let body = response.bytes().await.map_err(Error::Transport)?;
        serde_json::from_slice(&body).map_err(|source| Error::Decode {
            excerpt: crate::error::excerpt(&body),
            source,
        })
    }

    /// Deletes a topic (its elements go with it; the objects stay).
    pub async fn delete_topic(&self, topic: &str) -> Result<(), Error> {
        self.main_v2()
            .delete_topic()
            .topic(topic)
            .send()
            .value()
            .await
    }

    /// Adds objects to a topic, each named by its kind and id (free text
    /// cannot be added this way: use [`Client::add_topic_text`]). Returns the
    /// new elements, in order. udata adds all or none.
    pub async fn add_topic_elements(
        &self,
        topic: &str,
        objects: &[(ElementKind, &str)],
    ) -> Result<Vec<TopicElement>, Error> {
        let mut references = Vec::with_capacity(objects.len());
        for (kind, id) in objects {
            if *kind == ElementKind::Text {
                return Err(Error::InvalidInput(
                    "free-text elements have no object id: add them with add_topic_text".into(),
                ));
            }
            if id.trim().is_empty() {
                return Err(Error::InvalidInput(format!(
                    "an empty {} id",
                    kind.class().to_lowercase()
                )));
            }
            references.push(json!({ "element": { "class": kind.class(), "id": id } }));
        }
        self.post_topic_elements(topic, Value::Array(references))
            .await
    }

    /// Adds a free-text element (a title, an optional description) to a topic.
    pub async fn add_topic_text(
        &self,
        topic: &str,
        title: &str,
        description: Option<&str>,
    ) -> Result<TopicElement, Error> {
        if title.trim().is_empty() {
            return Err(Error::InvalidInput(
                "a free-text element needs a title".into(),
            ));
        }
        let mut element = json!({ "title": title });
        if let Some(description) = description {
            element["description"] = json!(description);
        }
        let mut added = self.post_topic_elements(topic, json!([element])).await?;
        added
            .pop()
            .ok_or_else(|| Error::InvalidInput("the server added no element".into()))
    }

    /// POSTs a list of elements: the generated body type (a list of model
    /// references) cannot carry the element wrapper udata reads.
    async fn post_topic_elements(
        &self,
        topic: &str,
        body: Value,
    ) -> Result<Vec<TopicElement>, Error> {
        let path = format!("/topics/{}/elements/", crate::path_segment(topic)?);
        self.topic_write(reqwest::Method::POST, path, body).await
    }

    /// Removes one element from a topic by the element's id (the object it
    /// references stays).
    pub async fn remove_topic_element(&self, topic: &str, element: &str) -> Result<(), Error> {
        self.main_v2()
            .delete_topic_element()
            .topic(topic)
            .element_id(element)
            .send()
            .value()
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_writes_take_only_topic_fields_of_their_type() {
        assert!(checked_topic_fields(&json!({ "description": "x", "private": true })).is_ok());
        let unknown = checked_topic_fields(&json!({ "colour": 3 })).unwrap_err();
        assert!(
            unknown
                .to_string()
                .contains("`colour` is not a field of a topic"),
            "{unknown}"
        );
        let wrong = checked_topic_fields(&json!({ "private": "yes" })).unwrap_err();
        assert!(wrong.to_string().contains("`private` cannot be"), "{wrong}");
        assert!(checked_topic_fields(&json!(["name"])).is_err());
    }

    #[test]
    fn element_kinds_follow_the_server_classes() {
        let element = |class: Option<&str>| -> TopicElement {
            serde_json::from_value(json!({
                "id": "e", "tags": [],
                "element": class.map(|c| json!({ "class": c, "id": "o" })),
            }))
            .unwrap()
        };
        for kind in [
            ElementKind::Dataset,
            ElementKind::Reuse,
            ElementKind::Dataservice,
        ] {
            assert_eq!(ElementKind::of(&element(Some(kind.class()))), Some(kind));
        }
        assert_eq!(ElementKind::of(&element(None)), Some(ElementKind::Text));
        assert_eq!(ElementKind::of(&element(Some("Post"))), None);
        assert_eq!(ElementKind::Text.class(), "None");
    }

    #[tokio::test]
    async fn elements_without_an_object_or_a_title_are_refused_before_sending() {
        // No server listens there: a request would be a transport error.
        let client = Client::builder()
            .main_url("http://127.0.0.1:9")
            .api_key("k")
            .build()
            .unwrap();
        for objects in [
            &[(ElementKind::Text, "x")][..],
            &[(ElementKind::Dataset, " ")][..],
        ] {
            let error = client.add_topic_elements("t", objects).await.unwrap_err();
            assert!(matches!(error, Error::InvalidInput(_)), "{error:?}");
        }
        let error = client.add_topic_text("t", " ", None).await.unwrap_err();
        assert!(matches!(error, Error::InvalidInput(_)), "{error:?}");
        let error = client
            .create_topic::<Value>(json!({ "name": "" }))
            .await
            .unwrap_err();
        assert!(matches!(error, Error::InvalidInput(_)), "{error:?}");
    }
}
