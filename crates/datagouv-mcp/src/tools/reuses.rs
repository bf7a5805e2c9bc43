//! Reuses (applications, visualizations, articles… built on the data):
//! `search_reuses`, `get_reuse_info` (with the datasets and dataservices a
//! reuse uses).

use std::fmt::Write as _;

use datagouv::Error;
use rmcp::{handler::server::wrapper::Parameters, tool, tool_router};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{
    DatagouvMcp, MAX_SEARCH_PAGE, SHORT_CUT, ToolResult, answer, default_page, default_page_size,
    description, finish, names, page_answer, page_bounds,
};
use crate::{api_path::ApiPath, render};

closed_set! {
    /// The order of reuse results; `-` first is descending.
    ReuseSort {
        Created = "created",
        CreatedDesc = "-created",
        Datasets = "datasets",
        DatasetsDesc = "-datasets",
        Followers = "followers",
        FollowersDesc = "-followers",
        Views = "views",
        ViewsDesc = "-views",
    }
}

closed_set! {
    /// A kind of reuse (udata's `/reuses/types/`).
    ReuseType {
        Api = "api",
        Application = "application",
        Idea = "idea",
        NewsArticle = "news_article",
        Paper = "paper",
        Post = "post",
        Visualization = "visualization",
        Hardware = "hardware",
    }
}

/// `search_reuses`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct SearchReuses {
    /// Keywords, short (every word must match; generic words such as
    /// "données" are left out); empty lists every reuse.
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
    #[schemars(with = "ReuseSort")]
    pub sort: Option<ReuseSort>,
    /// Only reuses of this kind (leave out for all).
    #[serde(default, rename = "type")]
    #[schemars(with = "ReuseType")]
    pub kind: Option<ReuseType>,
    /// Only reuses published by this organization (its id, as search_organizations lists it).
    #[serde(default)]
    #[schemars(with = "String")]
    pub organization: Option<String>,
    /// Only reuses with this tag.
    #[serde(default)]
    #[schemars(with = "String")]
    pub tag: Option<String>,
}

/// A reuse by its id or slug.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct ReuseId {
    /// The reuse's id or slug, as search_reuses lists it.
    pub reuse_id: String,
    /// true: the whole description instead of its first 500 characters.
    #[serde(default)]
    pub full_description: bool,
}

/// The datasets (or dataservices) a reuse lists, as `(id, title)`.
fn used(reuse: &Value, key: &str) -> Vec<(String, String)> {
    reuse[key]
        .as_array()
        .into_iter()
        .flatten()
        .map(|item| {
            let id = item
                .as_str()
                .or_else(|| render::text(item, "id"))
                .unwrap_or_default();
            let title = render::text(item, "title").unwrap_or("Untitled");
            (id.to_owned(), title.to_owned())
        })
        .collect()
}

#[tool_router(router = reuse_router, vis = "pub(super)")]
impl DatagouvMcp {
    /// Search reuses of the data (applications, visualizations, articles, APIs, …) by keywords,
    /// kind, organization or tag.
    #[tool(annotations(
        title = "Search reuses",
        read_only_hint = true,
        destructive_hint = false,
        idempotent_hint = true,
        open_world_hint = true
    ))]
    async fn search_reuses(&self, Parameters(args): Parameters<SearchReuses>) -> ToolResult {
        finish(
            async {
                let (page, size) = page_bounds(args.page, args.page_size, MAX_SEARCH_PAGE)?;
                let searched = self
                    .search(
                        "reuses/search",
                        &args.query,
                        (page, size),
                        &[
                            ("sort", args.sort.map(|s| s.as_str().to_owned())),
                            ("type", args.kind.map(|k| k.as_str().to_owned())),
                            ("organization", args.organization.clone()),
                            ("tag", args.tag.clone()),
                        ],
                    )
                    .await?;
                let total = searched.total;
                let mut text = format!(
                    "Found {total} reuse(s) for query '{}'; page {page}:\n",
                    args.query
                );
                text.push_str(&searched.note(&args.query));
                let mut list = String::new();
                let mut items = Vec::new();
                for (index, reuse) in searched.found["data"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .enumerate()
                {
                    let id = render::text(reuse, "id").unwrap_or_default();
                    let title = render::text(reuse, "title").unwrap_or("Untitled");
                    let _ = writeln!(
                        list,
                        "{}. {title}\n   ID: {id}",
                        (page - 1) * size + index as u64 + 1
                    );
                    render::labelled(&mut list, "   ", reuse, &[("Type", "type"), ("URL", "url")]);
                    if let Some(org) = reuse["organization"].get("name").and_then(Value::as_str) {
                        let _ = writeln!(list, "   Organization: {org}");
                    }
                    if let Some(text) = render::text(reuse, "description") {
                        let _ = writeln!(
                            list,
                            "   Description: {}",
                            render::cut(text, SHORT_CUT, "get_reuse_info gives more")
                        );
                    }
                    let datasets = reuse["metrics"]["datasets"].as_u64().unwrap_or(0);
                    let _ = writeln!(list, "   Datasets used: {datasets}\n");
                    items.push(json!({"id": id, "title": title, "slug": reuse["slug"], "type": reuse["type"], "url": reuse["url"], "organization": reuse["organization"]["name"], "datasets": datasets}));
                }
                if !list.is_empty() {
                    text.push_str(&render::catalog_data(&list));
                }
                Ok::<_, Error>(page_answer(
                    "search_reuses",
                    "reuses",
                    text,
                    (total, page, size),
                    items,
                ))
            }
            .await,
        )
    }

    /// A reuse's metadata: title, kind, URL, description, organization, tags, and the datasets
    /// and dataservices it uses (with their ids, for get_dataset_info / get_dataservice_info).
    #[tool(annotations(
        title = "Get reuse info",
        read_only_hint = true,
        destructive_hint = false,
        idempotent_hint = true,
        open_world_hint = true
    ))]
    async fn get_reuse_info(&self, Parameters(args): Parameters<ReuseId>) -> ToolResult {
        finish(
            async {
                let reuse = self
                    .v1(&ApiPath::new("reuses").id("reuse_id", &args.reuse_id)?)
                    .await?;
                let id = render::text(&reuse, "id").unwrap_or_default().to_owned();
                let mut body = format!(
                    "Reuse: {}\nID: {id}\n",
                    render::text(&reuse, "title").unwrap_or("Untitled")
                );
                render::labelled(
                    &mut body,
                    "",
                    &reuse,
                    &[
                        ("Slug", "slug"),
                        ("Type", "type"),
                        ("URL", "url"),
                        ("Topic", "topic"),
                        ("Created", "created_at"),
                        ("Last modified", "last_modified"),
                    ],
                );
                if let Some(org) = reuse["organization"].get("name").and_then(Value::as_str) {
                    let _ = writeln!(
                        body,
                        "Organization: {org} (ID: {})",
                        reuse["organization"]["id"].as_str().unwrap_or_default()
                    );
                }
                let tags = names(reuse.get("tags"), "", 10);
                if !tags.is_empty() {
                    let _ = writeln!(body, "Tags: {tags}");
                }
                let datasets = used(&reuse, "datasets");
                let dataservices = used(&reuse, "dataservices");
                let _ = writeln!(body, "Datasets used: {}", datasets.len());
                for (dataset, title) in &datasets {
                    let _ = writeln!(body, "  - {title} (ID: {dataset})");
                }
                if !dataservices.is_empty() {
                    let _ = writeln!(body, "Dataservices used: {}", dataservices.len());
                    for (service, title) in &dataservices {
                        let _ = writeln!(body, "  - {title} (ID: {service})");
                    }
                }
                if let Some(description) = description(
                    &reuse,
                    args.full_description,
                    "get_reuse_info",
                    &format!("reuse_id={id}"),
                ) {
                    let _ = write!(body, "\nDescription:\n{description}\n");
                }
                let mut text = render::catalog_data(&body);
                text.push_str("get_dataset_info gives a dataset's details.");
                let pairs = |list: &[(String, String)]| -> Vec<Value> {
                    list.iter()
                        .map(|(id, title)| json!({"id": id, "title": title}))
                        .collect()
                };
                let data = json!({
                    "id": id,
                    "title": reuse["title"],
                    "slug": reuse["slug"],
                    "type": reuse["type"],
                    "url": reuse["url"],
                    "topic": reuse["topic"],
                    "description": reuse["description"],
                    "organization": reuse["organization"],
                    "owner": reuse["owner"],
                    "tags": reuse["tags"],
                    "created_at": reuse["created_at"],
                    "last_modified": reuse["last_modified"],
                    "metrics": reuse["metrics"],
                    "datasets": pairs(&datasets),
                    "dataservices": pairs(&dataservices),
                });
                Ok::<_, Error>(answer(text, data))
            }
            .await,
        )
    }
}
