//! `datagouv topics …`: topics (Main API v2), thematic collections of
//! datasets, reuses, dataservices and free-text elements — list, show,
//! create, update, delete, and their elements listed, added and removed.

use clap::{Subcommand, ValueEnum};
use datagouv::main_api::v1::types::{DataserviceRead, ReuseRead};
use datagouv::{Client, ElementKind, Paginator, TopicElement};
use futures::{StreamExt, TryStreamExt};
use serde_json::{Value, json};

use crate::{
    catalog::{list, organization_id, page_size, show, typed_changes},
    cli::{ListLimit, ListQuery},
    error::CliError,
    output::{Output, Record},
};

/// Table and CSV columns.
mod fields {
    pub const TOPIC_LIST: &[&str] = &[
        "id",
        "name",
        "organization.name",
        "owner.slug",
        "elements.total",
    ];
    pub const TOPIC: &[&str] = &[
        "id",
        "slug",
        "name",
        "organization.name",
        "owner.slug",
        "tags",
        "private",
        "featured",
        "elements.total",
        "created_at",
        "last_modified",
        "page",
    ];
    pub const ELEMENT: &[&str] = &["id", "element.class", "element.id", "title"];
    pub const DATASET_OBJECT: &[&str] = &["id", "title", "organization.name", "last_update"];
    pub const OBJECT: &[&str] = &["id", "title", "organization.name", "owner.slug"];
}

/// `topics …`
#[derive(Debug, Subcommand)]
pub enum TopicsCommand {
    /// List the topics (the public ones, and the private ones the key's
    /// user may see), newest first.
    List {
        /// Words to search for.
        #[command(flatten)]
        query: ListQuery,
        /// Only the topics of this organization (its id or slug).
        #[arg(long, value_name = "ORG")]
        organization: Option<String>,
        /// Only the topics with this tag (repeat for several: all must match).
        #[arg(long, value_name = "TAG")]
        tag: Vec<String>,
        /// How many.
        #[command(flatten)]
        limit: ListLimit,
    },
    /// One topic (its elements: `datagouv topics elements TOPIC`).
    Show {
        /// Its id or slug.
        topic: String,
    },
    /// Create a topic (needs an API key), with its first elements.
    Create {
        /// The name.
        name: String,
        /// The description (Markdown).
        #[arg(long, short)]
        description: Option<String>,
        /// Publish for this organization (its id or slug) instead of the key's user.
        #[arg(long, value_name = "ORG")]
        organization: Option<String>,
        /// A tag (repeat for several).
        #[arg(long, value_name = "TAG")]
        tag: Vec<String>,
        /// Visible to its owners only.
        #[arg(long)]
        private: bool,
        /// Elements to start with.
        #[command(flatten)]
        elements: ElementArgs,
    },
    /// Change fields of a topic (needs an API key); its elements stay.
    Update {
        /// Its id or slug.
        topic: String,
        /// `field=value` to set (name, description, tags, private, color,
        /// extras, spatial), read as JSON when that fits the field
        /// (`private=true`, `tags=["a","b"]`), else as text. Repeatable.
        #[arg(long = "set", value_name = "FIELD=VALUE")]
        set: Vec<String>,
    },
    /// Delete a topic (needs an API key); the objects it gathers stay.
    Delete {
        /// Its id or slug.
        topic: String,
    },
    /// The elements of a topic: datasets, reuses, dataservices, free text.
    Elements {
        /// The topic's id or slug.
        topic: String,
        /// Only the elements of this kind.
        #[arg(long, value_enum)]
        kind: Option<Kind>,
        /// The datasets, reuses or dataservices themselves (each read
        /// whole), not the elements; needs --kind dataset, reuse or
        /// dataservice.
        #[arg(long, requires = "kind")]
        objects: bool,
        /// How many.
        #[command(flatten)]
        limit: ListLimit,
    },
    /// Add elements to a topic (needs an API key).
    Add {
        /// The topic's id or slug.
        topic: String,
        /// What to add.
        #[command(flatten)]
        elements: ElementArgs,
    },
    /// Remove elements from a topic (needs an API key); the objects stay.
    Remove {
        /// The topic's id or slug.
        topic: String,
        /// Element ids (`topics elements` lists them), or the ids of the
        /// datasets, reuses or dataservices to take out.
        #[arg(value_name = "ID", required = true)]
        ids: Vec<String>,
    },
}

/// Elements named on the command line.
#[derive(Debug, clap::Args, Default)]
pub struct ElementArgs {
    /// A dataset, by id (repeatable).
    #[arg(long, value_name = "ID")]
    pub dataset: Vec<String>,
    /// A reuse, by id (repeatable).
    #[arg(long, value_name = "ID")]
    pub reuse: Vec<String>,
    /// A dataservice, by id (repeatable).
    #[arg(long, value_name = "ID")]
    pub dataservice: Vec<String>,
    /// A free-text element with this title (repeatable).
    #[arg(long, value_name = "TITLE")]
    pub text: Vec<String>,
}

impl ElementArgs {
    /// The objects named, by kind.
    fn objects(&self) -> Vec<(ElementKind, &str)> {
        [
            (ElementKind::Dataset, &self.dataset),
            (ElementKind::Reuse, &self.reuse),
            (ElementKind::Dataservice, &self.dataservice),
        ]
        .into_iter()
        .flat_map(|(kind, ids)| ids.iter().map(move |id| (kind, id.as_str())))
        .collect()
    }

    /// Whether nothing is named.
    fn is_empty(&self) -> bool {
        self.objects().is_empty() && self.text.is_empty()
    }

    /// The elements as a topic's `elements` field takes them.
    fn json(&self) -> Vec<Value> {
        let mut elements: Vec<Value> = self
            .objects()
            .into_iter()
            .map(|(kind, id)| json!({ "element": { "class": kind.class(), "id": id } }))
            .collect();
        elements.extend(self.text.iter().map(|title| json!({ "title": title })));
        elements
    }
}

/// The kinds of elements, as `--kind` takes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Kind {
    /// Datasets.
    Dataset,
    /// Reuses.
    Reuse,
    /// Dataservices (APIs).
    Dataservice,
    /// Free-text elements (no object).
    Text,
}

impl From<Kind> for ElementKind {
    fn from(kind: Kind) -> ElementKind {
        match kind {
            Kind::Dataset => ElementKind::Dataset,
            Kind::Reuse => ElementKind::Reuse,
            Kind::Dataservice => ElementKind::Dataservice,
            Kind::Text => ElementKind::Text,
        }
    }
}

/// Runs a `topics` command.
pub async fn run(client: &Client, command: TopicsCommand, output: &Output) -> Result<(), CliError> {
    let v2 = client.main_v2().clone();
    match command {
        TopicsCommand::List {
            query,
            organization,
            tag,
            limit,
        } => {
            output.check_fields(datagouv::model_fields::<datagouv::Topic>())?;
            let organization = match organization {
                Some(organization) => Some(organization_id(client, &organization).await?),
                None => None,
            };
            let (size, query) = (page_size(limit), query.query);
            let pages = Paginator::new(move |page| {
                let (v2, query, organization, tag) =
                    (v2.clone(), query.clone(), organization.clone(), tag.clone());
                async move {
                    let mut call = v2.get_topics_api().page(page).page_size(size);
                    if let Some(query) = query {
                        call = call.q(query);
                    }
                    if let Some(organization) = organization {
                        call = call.organization(organization);
                    }
                    if !tag.is_empty() {
                        call = call.tag(tag);
                    }
                    call.send().await
                }
            });
            list(pages, limit, output, fields::TOPIC_LIST).await
        }
        TopicsCommand::Show { topic } => {
            // The server's JSON whole (the generated organization model
            // lacks the organization's id).
            output.check_fields(datagouv::model_fields::<datagouv::Topic>())?;
            let path = format!("/topics/{}/", datagouv::path_segment(&topic)?);
            let response = client.raw_v2(reqwest::Method::GET, &path, None).await?;
            let body = response.bytes().await.map_err(datagouv::Error::Transport)?;
            let record = Record::from_json(&String::from_utf8_lossy(&body))?;
            output.print_one(record, Some(fields::TOPIC)).await
        }
        TopicsCommand::Create {
            name,
            description,
            organization,
            tag,
            private,
            elements,
        } => {
            output.check_fields(datagouv::model_fields::<datagouv::Topic>())?;
            let mut body = json!({ "name": name, "tags": tag, "private": private });
            if let Some(description) = description {
                body["description"] = json!(description);
            }
            if let Some(organization) = organization {
                body["organization"] = json!(organization_id(client, &organization).await?);
            }
            if !elements.is_empty() {
                body["elements"] = Value::Array(elements.json());
            }
            show(client.create_topic::<Value>(body), output, fields::TOPIC).await
        }
        TopicsCommand::Update { topic, set } => {
            let changes = topic_changes(&set)?;
            show(
                client.update_topic::<Value>(&topic, changes),
                output,
                fields::TOPIC,
            )
            .await
        }
        TopicsCommand::Delete { topic } => {
            client.delete_topic(&topic).await?;
            let record = Record::from_pairs([("deleted", Value::from(topic))]);
            output.print_one(record, None).await
        }
        TopicsCommand::Elements {
            topic,
            kind,
            objects: true,
            limit,
        } => {
            let max = limit.max().unwrap_or(usize::MAX);
            match kind {
                Some(Kind::Dataset) => {
                    output.check_fields(datagouv::model_fields::<datagouv::Dataset>())?;
                    let rows = records(client.topic_datasets(&topic), max);
                    output
                        .print_stream(rows, Some(fields::DATASET_OBJECT))
                        .await
                }
                Some(Kind::Reuse) => {
                    output.check_fields(datagouv::model_fields::<ReuseRead>())?;
                    let rows = records(client.topic_reuses(&topic), max);
                    output.print_stream(rows, Some(fields::OBJECT)).await
                }
                Some(Kind::Dataservice) => {
                    output.check_fields(datagouv::model_fields::<DataserviceRead>())?;
                    let rows = records(client.topic_dataservices(&topic), max);
                    output.print_stream(rows, Some(fields::OBJECT)).await
                }
                Some(Kind::Text) | None => Err(CliError::usage(
                    "free-text elements are no objects: --objects takes --kind dataset, reuse or dataservice",
                )),
            }
        }
        TopicsCommand::Elements {
            topic, kind, limit, ..
        } => {
            let pages = client.topic_elements(&topic, kind.map(ElementKind::from));
            list(pages, limit, output, fields::ELEMENT).await
        }
        TopicsCommand::Add { topic, elements } => {
            if elements.is_empty() {
                return Err(CliError::usage("nothing to add").with_hint(
                    "name elements with --dataset ID, --reuse ID, --dataservice ID or --text TITLE",
                ));
            }
            output.check_fields(datagouv::model_fields::<TopicElement>())?;
            let mut added = Vec::new();
            let objects = elements.objects();
            if !objects.is_empty() {
                added.extend(client.add_topic_elements(&topic, &objects).await?);
            }
            for title in &elements.text {
                added.push(client.add_topic_text(&topic, title, None).await?);
            }
            let records = added
                .iter()
                .map(Record::from_serialize)
                .collect::<Result<Vec<_>, _>>()?;
            output.print(records, Some(fields::ELEMENT)).await
        }
        TopicsCommand::Remove { topic, ids } => {
            let elements: Vec<TopicElement> = client
                .topic_elements(&topic, None)
                .items()
                .try_collect()
                .await?;
            // Every id is matched before anything is removed.
            let mut chosen = Vec::new();
            for id in &ids {
                let found = elements.iter().find(|element| {
                    element.id == *id
                        || element.element.as_ref().and_then(|r| r.id.as_deref()) == Some(id)
                });
                match found {
                    Some(element) => chosen.push(element),
                    None => {
                        return Err(CliError::not_found(format!(
                            "the topic `{topic}` has no element `{id}`"
                        ))
                        .with_hint(format!(
                            "`datagouv topics elements {topic}` lists its elements; nothing was removed"
                        )));
                    }
                }
            }
            let mut records = Vec::new();
            for element in chosen {
                client.remove_topic_element(&topic, &element.id).await?;
                let reference = element.element.clone().unwrap_or_default();
                records.push(Record::from_pairs([
                    ("removed", Value::from(element.id.clone())),
                    ("class", Value::from(reference.class)),
                    ("object", Value::from(reference.id)),
                ]));
            }
            output.print(records, None).await
        }
    }
}

/// The objects of a stream as records, at most `max`.
fn records<T: serde::Serialize>(
    objects: futures::stream::BoxStream<'static, Result<T, datagouv::Error>>,
    max: usize,
) -> impl futures::Stream<Item = Result<Record, CliError>> {
    objects.take(max).map(|object| {
        object
            .map_err(CliError::from)
            .and_then(|o| Record::from_serialize(&o))
    })
}

/// `--set` pairs of a topic update, typed by the v2 topic model.
pub(crate) fn topic_changes(set: &[String]) -> Result<Value, CliError> {
    use datagouv::main_api::v2::types::TopicInput;
    let writable: Vec<&str> = datagouv::model_fields::<TopicInput>()
        .iter()
        .copied()
        .filter(|field| !matches!(*field, "elements" | "organization" | "owner"))
        .collect();
    typed_changes::<TopicInput>(set, &writable, "a topic")
}
