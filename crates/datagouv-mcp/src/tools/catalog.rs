//! Datasets, their resources, and organizations: `search_datasets`,
//! `search_organizations`, `get_dataset_info`, `list_dataset_resources`,
//! `get_resource_info` (the official server's, same names and parameters).

use std::fmt::Write as _;

use datagouv::Error;
use rmcp::{handler::server::wrapper::Parameters, tool, tool_router};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{
    DatagouvMcp, LastUpdateRange, MAX_SEARCH_PAGE, SHORT_CUT, ToolResult, answer, default_page,
    default_page_size, description, finish, names, page_answer, page_bounds,
};
use crate::{api_path::ApiPath, render};

closed_set! {
    /// The order of dataset results; `-` first is descending.
    DatasetSort {
        Created = "created",
        CreatedDesc = "-created",
        LastUpdate = "last_update",
        LastUpdateDesc = "-last_update",
        Reuses = "reuses",
        ReusesDesc = "-reuses",
        Followers = "followers",
        FollowersDesc = "-followers",
        Views = "views",
        ViewsDesc = "-views",
    }
}

closed_set! {
    /// The order of organization results; `-` first is descending.
    OrganizationSort {
        Reuses = "reuses",
        ReusesDesc = "-reuses",
        Datasets = "datasets",
        DatasetsDesc = "-datasets",
        Followers = "followers",
        FollowersDesc = "-followers",
        Views = "views",
        ViewsDesc = "-views",
        Created = "created",
        CreatedDesc = "-created",
    }
}

closed_set! {
    /// An organization's badge.
    OrganizationBadge {
        PublicService = "public-service",
        Certified = "certified",
        Association = "association",
        Company = "company",
        LocalAuthority = "local-authority",
    }
}

/// `search_datasets` (official).
#[derive(Debug, Deserialize, JsonSchema)]
pub struct SearchDatasets {
    /// Keywords, short (every word must match; generic words such as
    /// "données" or "csv" are left out); empty lists every dataset.
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
    #[schemars(with = "DatasetSort")]
    pub sort: Option<DatasetSort>,
    /// Only datasets updated in this period (leave out for any date).
    #[serde(default)]
    #[schemars(with = "LastUpdateRange")]
    pub last_update_range: Option<LastUpdateRange>,
}

/// `search_organizations` (official).
#[derive(Debug, Deserialize, JsonSchema)]
pub struct SearchOrganizations {
    /// Words to search for; empty lists every organization.
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
    #[schemars(with = "OrganizationSort")]
    pub sort: Option<OrganizationSort>,
    /// Only organizations with this badge (leave out for all).
    #[serde(default)]
    #[schemars(with = "OrganizationBadge")]
    pub badge: Option<OrganizationBadge>,
    /// Only the organization with exactly this name.
    #[serde(default)]
    #[schemars(with = "String")]
    pub name: Option<String>,
    /// Only the organization with this SIREN or other business number.
    #[serde(default)]
    #[schemars(with = "String")]
    pub business_number_id: Option<String>,
}

/// A dataset by its id or slug.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct DatasetId {
    /// The dataset's id or slug, as search_datasets lists it.
    pub dataset_id: String,
    /// true: the whole description instead of its first 500 characters.
    #[serde(default)]
    pub full_description: bool,
}

/// A resource by its id.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct ResourceId {
    /// The resource's id (a UUID), as list_dataset_resources lists it.
    pub resource_id: String,
}

#[tool_router(router = catalog_router, vis = "pub(super)")]
impl DatagouvMcp {
    /// Search datasets by keywords (the first step: then list_dataset_resources, then query_resource_data).
    #[tool(annotations(
        title = "Search datasets",
        read_only_hint = true,
        destructive_hint = false,
        idempotent_hint = true,
        open_world_hint = true
    ))]
    async fn search_datasets(&self, Parameters(args): Parameters<SearchDatasets>) -> ToolResult {
        finish(async {
            let (page, size) = page_bounds(args.page, args.page_size, MAX_SEARCH_PAGE)?;
            let searched = self.search("datasets/search", &args.query, (page, size), &[
                ("sort", args.sort.map(|s| s.as_str().to_owned())),
                ("last_update_range", args.last_update_range.map(|r| r.as_str().to_owned())),
            ]).await?;
            let total = searched.total;
            let mut text = format!("Found {total} dataset(s) for query '{}'; page {page}:\n", args.query);
            text.push_str(&searched.note(&args.query));
            let mut list = String::new();
            let mut items = Vec::new();
            for (index, dataset) in searched.found["data"].as_array().into_iter().flatten().enumerate() {
                let id = render::text(dataset, "id").unwrap_or_default();
                let title = render::text(dataset, "title").unwrap_or("Untitled");
                let _ = writeln!(list, "{}. {title}\n   ID: {id}", (page - 1) * size + index as u64 + 1);
                if let Some(short) = render::text(dataset, "description_short").or_else(|| render::text(dataset, "description")) {
                    let _ = writeln!(list, "   Description: {}", render::cut(short, SHORT_CUT, "get_dataset_info gives more"));
                }
                if let Some(org) = dataset["organization"].get("name").and_then(Value::as_str) {
                    let _ = writeln!(list, "   Organization: {org}");
                }
                let tags = names(dataset.get("tags"), "", 5);
                if !tags.is_empty() {
                    let _ = writeln!(list, "   Tags: {tags}");
                }
                let resources = dataset["resources"]["total"].as_u64().unwrap_or(0);
                let _ = writeln!(list, "   Resources: {resources}\n");
                items.push(json!({"id": id, "title": title, "slug": dataset["slug"], "organization": dataset["organization"]["name"], "resources": resources}));
            }
            if !list.is_empty() {
                text.push_str(&render::catalog_data(&list));
            }
            Ok::<_, Error>(page_answer("search_datasets", "datasets", text, (total, page, size), items))
        }.await)
    }

    /// Find organizations (publishers); an empty query lists them all, badge filters by kind.
    #[tool(annotations(
        title = "Search organizations",
        read_only_hint = true,
        destructive_hint = false,
        idempotent_hint = true,
        open_world_hint = true
    ))]
    async fn search_organizations(
        &self,
        Parameters(args): Parameters<SearchOrganizations>,
    ) -> ToolResult {
        finish(
            async {
                let (page, size) = page_bounds(args.page, args.page_size, MAX_SEARCH_PAGE)?;
                let query = (!args.query.is_empty()).then(|| args.query.clone());
                let path = ApiPath::new("organizations/search").query(&[
                    ("q", query),
                    ("page", Some(page.to_string())),
                    ("page_size", Some(size.to_string())),
                    ("sort", args.sort.map(|s| s.as_str().to_owned())),
                    ("badge", args.badge.map(|b| b.as_str().to_owned())),
                    ("name", args.name.clone()),
                    ("business_number_id", args.business_number_id.clone()),
                ]);
                let found = self.v2(&path).await?;
                let total = found["total"].as_u64().unwrap_or(0);
                let mut text = format!("Found {total} organization(s); page {page}:\n");
                let mut list = String::new();
                let mut items = Vec::new();
                for (index, org) in found["data"].as_array().into_iter().flatten().enumerate() {
                    let id = render::text(org, "id").unwrap_or_default();
                    let name = render::text(org, "name").unwrap_or("Untitled");
                    let acronym = render::text(org, "acronym")
                        .map(|a| format!(" ({a})"))
                        .unwrap_or_default();
                    let _ = writeln!(
                        list,
                        "{}. {name}{acronym}\n   ID: {id}",
                        (page - 1) * size + index as u64 + 1
                    );
                    if let Some(slug) = render::text(org, "slug") {
                        let _ = writeln!(list, "   Slug: {slug}");
                    }
                    let badges = names(org.get("badges"), "kind", 10);
                    if !badges.is_empty() {
                        let _ = writeln!(list, "   Badges: {badges}");
                    }
                    list.push('\n');
                    items.push(json!({"id": id, "name": name, "slug": org["slug"]}));
                }
                if !list.is_empty() {
                    text.push_str(&render::catalog_data(&list));
                }
                Ok::<_, Error>(page_answer(
                    "search_organizations",
                    "organizations",
                    text,
                    (total, page, size),
                    items,
                ))
            }
            .await,
        )
    }

    /// A dataset's metadata: title, description, organization, tags, resources, dates, license.
    #[tool(annotations(
        title = "Get dataset info",
        read_only_hint = true,
        destructive_hint = false,
        idempotent_hint = true,
        open_world_hint = true
    ))]
    async fn get_dataset_info(&self, Parameters(args): Parameters<DatasetId>) -> ToolResult {
        finish(
            async {
                let dataset = self
                    .v1(&ApiPath::new("datasets").id("dataset_id", &args.dataset_id)?)
                    .await?;
                let id = render::text(&dataset, "id").unwrap_or_default().to_owned();
                let mut body = format!(
                    "Dataset: {}\nID: {id}\n",
                    render::text(&dataset, "title").unwrap_or("Untitled")
                );
                render::labelled(
                    &mut body,
                    "",
                    &dataset,
                    &[
                        ("Slug", "slug"),
                        ("Created", "created_at"),
                        ("Last updated", "last_update"),
                        ("License", "license"),
                        ("Update frequency", "frequency"),
                    ],
                );
                if let Some(org) = dataset["organization"].get("name").and_then(Value::as_str) {
                    let _ = writeln!(
                        body,
                        "Organization: {org} (ID: {})",
                        dataset["organization"]["id"].as_str().unwrap_or_default()
                    );
                }
                let tags = names(dataset.get("tags"), "", 10);
                if !tags.is_empty() {
                    let _ = writeln!(body, "Tags: {tags}");
                }
                let resources = dataset["resources"].as_array().map_or(0, Vec::len);
                let _ = writeln!(body, "Resources: {resources} file(s)");
                if let Some(description) = description(
                    &dataset,
                    args.full_description,
                    "get_dataset_info",
                    &format!("dataset_id={id}"),
                ) {
                    let _ = write!(body, "\nDescription:\n{description}\n");
                }
                let mut text = render::catalog_data(&body);
                text.push_str("list_dataset_resources lists its files.");
                let mut data = dataset.clone();
                if let Some(map) = data.as_object_mut() {
                    map.remove("resources");
                    map.insert("resources_count".into(), json!(resources));
                }
                Ok::<_, Error>(answer(text, data))
            }
            .await,
        )
    }

    /// The resources (files) of a dataset: id, title, format, size, URL.
    #[tool(annotations(
        title = "List dataset resources",
        read_only_hint = true,
        destructive_hint = false,
        idempotent_hint = true,
        open_world_hint = true
    ))]
    async fn list_dataset_resources(&self, Parameters(args): Parameters<DatasetId>) -> ToolResult {
        finish(async {
            let dataset = self.v1(&ApiPath::new("datasets").id("dataset_id", &args.dataset_id)?).await?;
            let list = dataset["resources"].as_array().cloned().unwrap_or_default();
            let mut text = format!(
                "Dataset ID: {}\nTotal resources: {}\n",
                render::text(&dataset, "id").unwrap_or_default(),
                list.len()
            );
            let mut body = format!("Dataset: {}\n\n", render::text(&dataset, "title").unwrap_or("Untitled"));
            let mut items = Vec::new();
            for (index, resource) in list.iter().enumerate() {
                let _ = writeln!(body, "{}. {}\n   Resource ID: {}", index + 1, render::text(resource, "title").unwrap_or("Untitled"), render::text(resource, "id").unwrap_or_default());
                render::resource_lines(&mut body, "   ", resource);
                body.push('\n');
                items.push(json!({"id": resource["id"], "title": resource["title"], "format": resource["format"], "filesize": resource["filesize"], "url": resource["url"]}));
            }
            text.push_str(&render::catalog_data(&body));
            text.push_str("For CSV/XLSX files, query_resource_data reads the rows.");
            Ok::<_, Error>(answer(text, json!({"dataset_id": dataset["id"], "resources": items})))
        }.await)
    }

    /// A resource's format, size, URL, and whether the Tabular API can query its rows.
    #[tool(annotations(
        title = "Get resource info",
        read_only_hint = true,
        destructive_hint = false,
        idempotent_hint = true,
        open_world_hint = true
    ))]
    async fn get_resource_info(&self, Parameters(args): Parameters<ResourceId>) -> ToolResult {
        finish(async {
            let found = self.v2(&ApiPath::new("datasets/resources").id("resource_id", &args.resource_id)?).await?;
            let resource = &found["resource"];
            let mut body = format!("Resource: {}\nResource ID: {}\n", render::text(resource, "title").unwrap_or("Untitled"), render::text(resource, "id").unwrap_or_default());
            render::resource_lines(&mut body, "", resource);
            if let Some(dataset) = render::text(&found, "dataset_id") {
                let _ = writeln!(body, "Dataset ID: {dataset}");
            }
            let mut text = render::catalog_data(&body);
            let tabular = match self.client.tabular_resource(&args.resource_id) {
                Ok(query) => query.profile().await.is_ok(),
                Err(_) => false,
            };
            text.push_str(if tabular {
                "Tabular API: available (query_resource_data reads its rows; get_resource_profile gives its columns)"
            } else {
                "Tabular API: not available (download the file from its URL)"
            });
            Ok::<_, Error>(answer(text, json!({"resource": resource, "dataset_id": found["dataset_id"], "tabular_api": tabular})))
        }.await)
    }
}
