//! Topics (curated groups of datasets, reuses and dataservices around a
//! theme): `search_topics`, `get_topic_info` (with a page of its elements).

use std::fmt::Write as _;

use datagouv::Error;
use rmcp::{handler::server::wrapper::Parameters, tool, tool_router};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{
    DatagouvMcp, MAX_SEARCH_PAGE, SHORT_CUT, ToolResult, default_page, default_page_size,
    description, finish, names, page_answer, page_bounds,
};
use crate::{api_path::ApiPath, render};

closed_set! {
    /// The order of topic results; `-` first is descending.
    TopicSort {
        Name = "name",
        NameDesc = "-name",
        Created = "created",
        CreatedDesc = "-created",
        LastModified = "last_modified",
        LastModifiedDesc = "-last_modified",
    }
}

closed_set! {
    /// A kind of topic element.
    ElementKind {
        Datasets = "datasets",
        Reuses = "reuses",
        Dataservices = "dataservices",
    }
}

impl ElementKind {
    /// udata's class name of the kind.
    fn class(self) -> &'static str {
        match self {
            ElementKind::Datasets => "Dataset",
            ElementKind::Reuses => "Reuse",
            ElementKind::Dataservices => "Dataservice",
        }
    }
}

/// `search_topics`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct SearchTopics {
    /// Keywords, short (every word must match; generic words such as
    /// "données" are left out); empty lists every topic.
    #[serde(default)]
    pub query: String,
    /// The page, from 1.
    #[serde(default = "default_page")]
    #[schemars(range(min = 1), transform = super::whole)]
    pub page: u64,
    /// Results per page, 1 to 100.
    #[serde(default = "default_page_size")]
    #[schemars(range(min = 1, max = 100), transform = super::whole)]
    pub page_size: u64,
    /// The order of the results (leave out for relevance); `-` first is descending.
    #[serde(default)]
    #[schemars(with = "TopicSort")]
    pub sort: Option<TopicSort>,
    /// Only topics of this organization (its id, as search_organizations lists it).
    #[serde(default)]
    #[schemars(with = "String")]
    pub organization: Option<String>,
    /// Only topics with this tag.
    #[serde(default)]
    #[schemars(with = "String")]
    pub tag: Option<String>,
}

/// A topic by its id or slug, and a page of its elements.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct TopicId {
    /// The topic's id or slug, as search_topics lists it.
    pub topic_id: String,
    /// true: the whole description instead of its first 500 characters.
    #[serde(default)]
    pub full_description: bool,
    /// The page of elements, from 1.
    #[serde(default = "default_page")]
    #[schemars(range(min = 1), transform = super::whole)]
    pub page: u64,
    /// Elements per page, 1 to 100.
    #[serde(default = "default_page_size")]
    #[schemars(range(min = 1, max = 100), transform = super::whole)]
    pub page_size: u64,
    /// Only elements of this kind (leave out for all).
    #[serde(default)]
    #[schemars(with = "ElementKind")]
    pub element_kind: Option<ElementKind>,
}

/// The tool that details an element of this udata class.
fn detail_tool(class: &str) -> &'static str {
    match class {
        "Dataset" => "get_dataset_info (dataset_id)",
        "Reuse" => "get_reuse_info (reuse_id)",
        "Dataservice" => "get_dataservice_info (dataservice_id)",
        _ => "the search tools",
    }
}

#[tool_router(router = topic_router, vis = "pub(super)")]
impl DatagouvMcp {
    /// Search topics: curated groups of datasets, reuses and dataservices around a theme or a
    /// publisher's scope. Then get_topic_info lists a topic's elements.
    #[tool(annotations(
        title = "Search topics",
        read_only_hint = true,
        destructive_hint = false,
        idempotent_hint = true,
        open_world_hint = true
    ))]
    async fn search_topics(&self, Parameters(args): Parameters<SearchTopics>) -> ToolResult {
        finish(
            async {
                let (page, size) = page_bounds(args.page, args.page_size, MAX_SEARCH_PAGE)?;
                let searched = self
                    .search(
                        "topics/search",
                        &args.query,
                        (page, size),
                        &[
                            ("sort", args.sort.map(|s| s.as_str().to_owned())),
                            ("organization", args.organization.clone()),
                            ("tag", args.tag.clone()),
                        ],
                    )
                    .await?;
                let total = searched.total;
                let mut text = format!(
                    "Found {total} topic(s) for query '{}'; page {page}:\n",
                    args.query
                );
                text.push_str(&searched.note(&args.query));
                let mut list = String::new();
                let mut items = Vec::new();
                for (index, topic) in searched.found["data"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .enumerate()
                {
                    let id = render::text(topic, "id").unwrap_or_default();
                    let name = render::text(topic, "name").unwrap_or("Untitled");
                    let _ = writeln!(
                        list,
                        "{}. {name}\n   ID: {id}",
                        (page - 1) * size + index as u64 + 1
                    );
                    render::labelled(&mut list, "   ", topic, &[("Slug", "slug")]);
                    if let Some(org) = topic["organization"].get("name").and_then(Value::as_str) {
                        let _ = writeln!(list, "   Organization: {org}");
                    }
                    if let Some(text) = render::text(topic, "description") {
                        let _ = writeln!(
                            list,
                            "   Description: {}",
                            render::cut(text, SHORT_CUT, "get_topic_info gives more")
                        );
                    }
                    let tags = names(topic.get("tags"), "", 5);
                    if !tags.is_empty() {
                        let _ = writeln!(list, "   Tags: {tags}");
                    }
                    let elements = topic["elements"]["total"].as_u64().unwrap_or(0);
                    let _ = writeln!(list, "   Elements: {elements}\n");
                    items.push(json!({"id": id, "name": name, "slug": topic["slug"], "organization": topic["organization"]["name"], "elements": elements}));
                }
                if !list.is_empty() {
                    text.push_str(&render::catalog_data(&list));
                }
                Ok::<_, Error>(page_answer(
                    "search_topics",
                    "topics",
                    text,
                    (total, page, size),
                    items,
                ))
            }
            .await,
        )
    }

    /// A topic's metadata (name, description, organization, tags) and a page of its elements:
    /// the datasets, reuses and dataservices it groups, with their ids.
    #[tool(annotations(
        title = "Get topic info",
        read_only_hint = true,
        destructive_hint = false,
        idempotent_hint = true,
        open_world_hint = true
    ))]
    async fn get_topic_info(&self, Parameters(args): Parameters<TopicId>) -> ToolResult {
        finish(
            async {
                let (page, size) = page_bounds(args.page, args.page_size, MAX_SEARCH_PAGE)?;
                let topic = self
                    .v2(&ApiPath::new("topics").id("topic_id", &args.topic_id)?)
                    .await?;
                let id = render::text(&topic, "id").unwrap_or_default().to_owned();
                let elements = self
                    .v2(
                        &ApiPath::new("topics")
                            .id("topic_id", &id)?
                            .literal("elements")
                            .query(&[
                                ("page", Some(page.to_string())),
                                ("page_size", Some(size.to_string())),
                                ("class", args.element_kind.map(|k| k.class().to_owned())),
                            ]),
                    )
                    .await?;
                let total = elements["total"].as_u64().unwrap_or(0);
                let mut body = format!(
                    "Topic: {}\nID: {id}\n",
                    render::text(&topic, "name").unwrap_or("Untitled")
                );
                render::labelled(
                    &mut body,
                    "",
                    &topic,
                    &[("Slug", "slug"), ("Created", "created_at"), ("Last modified", "last_modified")],
                );
                if let Some(org) = topic["organization"].get("name").and_then(Value::as_str) {
                    let _ = writeln!(
                        body,
                        "Organization: {org} (ID: {})",
                        topic["organization"]["id"].as_str().unwrap_or_default()
                    );
                }
                let tags = names(topic.get("tags"), "", 10);
                if !tags.is_empty() {
                    let _ = writeln!(body, "Tags: {tags}");
                }
                if let Some(description) = description(
                    &topic,
                    args.full_description,
                    "get_topic_info",
                    &format!("topic_id={id}"),
                ) {
                    let _ = write!(body, "\nDescription:\n{description}\n");
                }
                let _ = writeln!(body, "\nElements ({total} in all; page {page}):");
                let mut items = Vec::new();
                for (index, element) in elements["data"].as_array().into_iter().flatten().enumerate() {
                    let class = element["element"]["class"].as_str().unwrap_or("?");
                    let object = element["element"]["id"].as_str().unwrap_or_default();
                    let title = render::text(element, "title");
                    let _ = writeln!(
                        body,
                        "{}. {class} {object}{}",
                        (page - 1) * size + index as u64 + 1,
                        title.map(|t| format!(": {t}")).unwrap_or_default()
                    );
                    if let Some(text) = render::text(element, "description") {
                        let _ = writeln!(body, "   {}", render::cut(text, SHORT_CUT, "see the object itself"));
                    }
                    let _ = writeln!(body, "   Details: {}", detail_tool(class));
                    items.push(json!({"class": class, "id": object, "title": title, "description": element["description"]}));
                }
                let text = render::catalog_data(&body);
                let mut result = page_answer("get_topic_info", "elements", text, (total, page, size), items);
                if let Some(data) = result.structured_content.as_mut().and_then(Value::as_object_mut) {
                    data.insert("id".into(), json!(id));
                    data.insert("name".into(), topic["name"].clone());
                    data.insert("slug".into(), topic["slug"].clone());
                    data.insert("description".into(), topic["description"].clone());
                    data.insert("organization".into(), topic["organization"].clone());
                    data.insert("tags".into(), topic["tags"].clone());
                }
                Ok::<_, Error>(result)
            }
            .await,
        )
    }
}
