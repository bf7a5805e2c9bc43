//! The tools: the official server's ten, under the same names and
//! parameters, then what it lacks. Udata answers are read as JSON (what
//! udata sends, field for field); Tabular and Metrics queries go through the
//! SDK's query layer, which checks them before anything is sent.

use std::sync::Arc;

use datagouv::{
    Aggregate, Client, Condition, DatasetDraft, Error, ExportFormat, ExportOptions, Filter, Op,
    Order, Query, ResourceUpload, SendExt, UploadOptions, UploadSource,
};
use rmcp::{
    ErrorData as McpError, ServerHandler,
    handler::server::{router::tool::ToolRouter, wrapper::Parameters},
    model::{CallToolResult, ContentBlock, Implementation, ServerCapabilities, ServerConfig},
    tool, tool_handler, tool_router,
};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use std::fmt::Write as _;

use crate::{
    Options,
    api_path::{ApiPath, sdk_id},
    files::AllowedFolder,
    render,
};

/// The tools that change data: offered only with `allow_writes` and a key.
const WRITE_TOOLS: [&str; 3] = ["create_dataset", "update_dataset", "upload_resource"];
/// Longest description kept in an answer before `full_description` is asked.
const DESCRIPTION_CUT: usize = 500;
/// Longest description of a search result.
const SHORT_CUT: usize = 200;

/// The data.gouv.fr MCP server: one SDK client shared by every session.
#[derive(Clone)]
pub struct DatagouvMcp {
    client: Client,
    options: Arc<Options>,
    http: reqwest::Client,
    tool_router: ToolRouter<Self>,
}

impl std::fmt::Debug for DatagouvMcp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DatagouvMcp")
            .field("client", &self.client)
            .field("options", &self.options)
            .finish()
    }
}

fn default_page() -> u64 {
    1
}
fn default_page_size() -> u64 {
    20
}

/// `search_datasets` (official).
#[derive(Debug, Deserialize, JsonSchema)]
pub struct SearchDatasets {
    /// Words to search for (short queries work best; all words must match);
    /// empty lists every dataset.
    #[serde(default)]
    pub query: String,
    /// The page, from 1.
    #[serde(default = "default_page")]
    pub page: u64,
    /// Results per page (at most 100).
    #[serde(default = "default_page_size")]
    pub page_size: u64,
    /// `created`, `last_update`, `reuses`, `followers` or `views`; `-` first for descending.
    pub sort: Option<String>,
    /// `last_30_days`, `last_12_months` or `last_3_years`.
    pub last_update_range: Option<String>,
}

/// `search_organizations` (official).
#[derive(Debug, Deserialize, JsonSchema)]
pub struct SearchOrganizations {
    /// Words to search for; empty lists every organization.
    #[serde(default)]
    pub query: String,
    /// The page, from 1.
    #[serde(default = "default_page")]
    pub page: u64,
    /// Results per page (at most 100).
    #[serde(default = "default_page_size")]
    pub page_size: u64,
    /// `name`, `datasets`, `reuses`, `followers`, `views`, `created`, `last_modified`; `-` first for descending.
    pub sort: Option<String>,
    /// `public-service`, `certified`, `association`, `company` or `local-authority`.
    pub badge: Option<String>,
    /// The exact name.
    pub name: Option<String>,
    /// A SIREN or other business number.
    pub business_number_id: Option<String>,
}

/// A dataset by its id or slug.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct DatasetId {
    /// The dataset's id or slug.
    pub dataset_id: String,
    /// Give the whole description instead of its first 500 characters.
    #[serde(default)]
    pub full_description: bool,
}

/// A resource by its id.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct ResourceId {
    /// The resource's id (a UUID).
    pub resource_id: String,
}

/// A dataservice (third-party API) by its id.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct DataserviceId {
    /// The dataservice's id or slug.
    pub dataservice_id: String,
    /// Give the whole description instead of its first 500 characters.
    #[serde(default)]
    pub full_description: bool,
}

/// `search_dataservices` (official).
#[derive(Debug, Deserialize, JsonSchema)]
pub struct SearchDataservices {
    /// Words to search for; empty lists every dataservice.
    #[serde(default)]
    pub query: String,
    /// The page, from 1.
    #[serde(default = "default_page")]
    pub page: u64,
    /// Results per page (at most 100).
    #[serde(default = "default_page_size")]
    pub page_size: u64,
}

/// One Tabular filter.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct FilterArg {
    /// The column.
    pub column: String,
    /// exact, differs, isnull, isnotnull, contains, notcontains, in, notin
    /// (comma list), less, greater (inclusive), strictly_less, strictly_greater.
    pub operator: String,
    /// The value (none for isnull/isnotnull; a comma list for in/notin).
    #[serde(default)]
    pub value: Option<String>,
}

/// A condition: one filter, or a group of conditions any or all of which hold.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum ConditionArg {
    /// Any of these holds.
    AnyOf {
        /// The alternatives.
        any_of: Vec<ConditionArg>,
    },
    /// All of these hold.
    AllOf {
        /// The conditions.
        all_of: Vec<ConditionArg>,
    },
    /// One filter.
    Filter(FilterArg),
}

/// One sort.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct SortArg {
    /// The column.
    pub column: String,
    /// `asc` (default) or `desc`.
    #[serde(default)]
    pub direction: Option<String>,
}

/// One aggregate.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct AggregateArg {
    /// The column.
    pub column: String,
    /// `count`, `avg`, `min`, `max` or `sum`.
    pub function: String,
}

/// `query_resource_data` (official parameters, then the extensions).
#[derive(Debug, Deserialize, JsonSchema)]
pub struct QueryResourceData {
    /// The resource's id (a UUID).
    pub resource_id: String,
    /// The page, from 1.
    #[serde(default = "default_page")]
    pub page: u64,
    /// Rows per page (1 to 50, the Tabular API's limit).
    #[serde(default = "default_page_size")]
    pub page_size: u64,
    /// One filter's column (official form; see `filters` for more).
    pub filter_column: Option<String>,
    /// One filter's value.
    pub filter_value: Option<String>,
    /// One filter's operator (default `exact`).
    pub filter_operator: Option<String>,
    /// One sort's column (official form; see `sorts` for more).
    pub sort_column: Option<String>,
    /// `asc` (default) or `desc`.
    pub sort_direction: Option<String>,
    /// More filters, all of which must hold.
    #[serde(default)]
    pub filters: Vec<FilterArg>,
    /// A condition of `any_of`/`all_of` groups, nested as deep as needed.
    pub condition: Option<ConditionArg>,
    /// More sorts, in order.
    #[serde(default)]
    pub sorts: Vec<SortArg>,
    /// Only these columns.
    #[serde(default)]
    pub columns: Vec<String>,
    /// Group by these columns (indexed columns of resources the server aggregates).
    #[serde(default)]
    pub group_by: Vec<String>,
    /// Aggregates per group.
    #[serde(default)]
    pub aggregates: Vec<AggregateArg>,
}

/// `get_metrics` (official).
#[derive(Debug, Deserialize, JsonSchema)]
pub struct GetMetrics {
    /// A dataset id.
    pub dataset_id: Option<String>,
    /// A resource id.
    pub resource_id: Option<String>,
    /// Months, most recent first (1 to 50).
    #[serde(default = "default_limit")]
    pub limit: u64,
}
fn default_limit() -> u64 {
    12
}

/// `get_model_metrics`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct GetModelMetrics {
    /// `site`, `datasets`, `resources`, `organizations`, `reuses` or `dataservices`.
    pub model: String,
    /// The object's id (none for `site`).
    pub id: Option<String>,
    /// Months, most recent first (1 to 50).
    #[serde(default = "default_limit")]
    pub limit: u64,
}

/// `export_resource_data`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct ExportResourceData {
    /// The file to write, relative to the allowed directory.
    pub file: String,
    /// `csv` (default), `json` or `parquet`.
    pub format: Option<String>,
    /// The query: the same fields as `query_resource_data` (page and page size are ignored).
    #[serde(flatten)]
    pub query: QueryResourceData,
}

/// `create_dataset`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct CreateDataset {
    /// The title.
    pub title: String,
    /// The description (Markdown).
    pub description: String,
    /// Publish for this organization (its id).
    pub organization: Option<String>,
    /// Tags (3 to 96 characters each).
    #[serde(default)]
    pub tags: Vec<String>,
    /// A license id (`lov2`, `odc-odbl`, …).
    pub license: Option<String>,
    /// An update frequency id (`monthly`, …).
    pub frequency: Option<String>,
}

/// `update_dataset`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct UpdateDataset {
    /// The dataset's id or slug.
    pub dataset_id: String,
    /// The fields to set, e.g. `{"description": "…", "private": false}`.
    pub changes: Map<String, Value>,
}

/// `upload_resource`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct UploadResource {
    /// The dataset's id or slug.
    pub dataset_id: String,
    /// The file, relative to the allowed directory.
    pub file: String,
}

/// A successful answer: compact text, and the data as structured content.
fn answer(text: String, data: Value) -> CallToolResult {
    let mut result = CallToolResult::success(vec![ContentBlock::text(text)]);
    result.structured_content = Some(data);
    result
}

/// A page of search results: the text ended by how to get the next page,
/// and the page's items under `key` with the page numbers.
fn page_answer(
    tool: &str,
    key: &str,
    mut text: String,
    (total, page, size): (u64, u64, u64),
    items: Vec<Value>,
) -> CallToolResult {
    let more = page * size < total;
    text.push_str(&render::next_page(tool, page, more));
    let mut data = Map::new();
    data.insert("total".into(), json!(total));
    data.insert("page".into(), json!(page));
    data.insert("page_size".into(), json!(size));
    data.insert("next_page".into(), json!(more.then_some(page + 1)));
    data.insert(key.into(), Value::Array(items));
    answer(text, Value::Object(data))
}

/// A tool error carrying what went wrong and what to do.
fn refuse(message: impl std::fmt::Display) -> CallToolResult {
    CallToolResult::error(vec![ContentBlock::text(format!("Error: {message}"))])
}

type ToolResult = Result<CallToolResult, McpError>;

/// The answer, or the SDK's error as a tool error.
fn finish(result: Result<CallToolResult, Error>) -> ToolResult {
    Ok(result.unwrap_or_else(refuse))
}

fn page_bounds(page: u64, page_size: u64, max: u64) -> Result<(u64, u64), Error> {
    if page == 0 {
        return Err(Error::InvalidInput("page starts at 1".into()));
    }
    if page_size == 0 || page_size > max {
        return Err(Error::InvalidInput(format!(
            "page_size must be 1 to {max}, not {page_size}"
        )));
    }
    Ok((page, page_size))
}

impl DatagouvMcp {
    /// A server over this client: the export tool only with
    /// [`Options::allow_files`], the write tools only with
    /// [`Options::allow_writes`] and an API key.
    pub fn new(client: Client, options: Options) -> Self {
        let mut tool_router = Self::tool_router();
        if options.allow_files.is_none() {
            tool_router.remove_route("export_resource_data");
            tool_router.remove_route("upload_resource");
        }
        if !(options.allow_writes && client.has_api_key()) {
            for name in WRITE_TOOLS {
                tool_router.remove_route(name);
            }
        }
        let http = reqwest::Client::builder()
            .user_agent(datagouv::USER_AGENT)
            .timeout(std::time::Duration::from_secs(30))
            .build()
            .expect("a default HTTP client builds");
        DatagouvMcp {
            client,
            options: Arc::new(options),
            http,
            tool_router,
        }
    }

    /// What the server was allowed.
    pub fn options(&self) -> &Options {
        &self.options
    }

    /// The names of the tools this server offers.
    pub fn tool_names(&self) -> Vec<String> {
        self.tool_router
            .list_all()
            .into_iter()
            .map(|tool| tool.name.to_string())
            .collect()
    }

    /// A GET below the Main API v1 root. Paths are [`ApiPath`]s: no tool
    /// formats an id into a path by hand.
    async fn v1(&self, path: &ApiPath) -> Result<Value, Error> {
        self.client
            .raw(reqwest::Method::GET, path.as_str(), None)
            .await?
            .json()
            .await
            .map_err(Error::Transport)
    }

    /// [`DatagouvMcp::v1`] below the v2 root.
    async fn v2(&self, path: &ApiPath) -> Result<Value, Error> {
        self.client
            .raw_v2(reqwest::Method::GET, path.as_str(), None)
            .await?
            .json()
            .await
            .map_err(Error::Transport)
    }

    /// The allowed folder, resolved now (it is given as the user named it).
    fn allowed_folder(&self) -> Result<AllowedFolder, Error> {
        let Some(root) = &self.options.allow_files else {
            return Err(Error::InvalidInput(
                "files are not allowed: start the server with --allow-files DIR".into(),
            ));
        };
        AllowedFolder::new(root)
    }

    /// The Tabular query the arguments describe, checked before sending.
    fn tabular_query(&self, args: &QueryResourceData) -> Result<Query, Error> {
        let mut query = self.client.tabular_resource(&args.resource_id)?;
        if let (Some(column), Some(value)) = (&args.filter_column, &args.filter_value) {
            let operator = args.filter_operator.as_deref().unwrap_or("exact");
            query = query.with_filter(make_filter(column, operator, value)?);
        } else if args.filter_column.is_some() {
            return Err(Error::InvalidInput(
                "filter_column needs a filter_value".into(),
            ));
        }
        for filter in &args.filters {
            query = query.with_filter(filter_of(filter)?);
        }
        if let Some(condition) = &args.condition {
            query = query.group(condition_of(condition)?);
        }
        if let Some(column) = &args.sort_column {
            query = query.sort(column.as_str(), order_of(args.sort_direction.as_deref())?);
        }
        for sort in &args.sorts {
            query = query.sort(sort.column.as_str(), order_of(sort.direction.as_deref())?);
        }
        if !args.columns.is_empty() {
            query = query.columns(args.columns.iter().map(String::as_str));
        }
        for column in &args.group_by {
            query = query.aggregate(column.as_str(), Aggregate::GroupBy);
        }
        for aggregate in &args.aggregates {
            let function = match aggregate.function.as_str() {
                "count" => Aggregate::Count,
                "avg" => Aggregate::Avg,
                "min" => Aggregate::Min,
                "max" => Aggregate::Max,
                "sum" => Aggregate::Sum,
                other => {
                    return Err(Error::InvalidInput(format!(
                        "unknown aggregate `{other}`: count, avg, min, max or sum"
                    )));
                }
            };
            query = query.aggregate(aggregate.column.as_str(), function);
        }
        Ok(query)
    }
}

fn filter_of(filter: &FilterArg) -> Result<Filter, Error> {
    make_filter(
        &filter.column,
        &filter.operator,
        filter.value.as_deref().unwrap_or_default(),
    )
}

/// A filter from its column, operator name and value; `in`/`notin` values
/// are comma lists, as the tool descriptions say.
fn make_filter(column: &str, operator: &str, value: &str) -> Result<Filter, Error> {
    let op = Op::parse(operator)?;
    Ok(match op {
        Op::In | Op::NotIn => Filter::list(column, op, value.split(',').map(str::trim)),
        _ => Filter::new(column, op, value),
    })
}

fn condition_of(condition: &ConditionArg) -> Result<Condition, Error> {
    Ok(match condition {
        ConditionArg::AnyOf { any_of } => {
            Condition::Or(any_of.iter().map(condition_of).collect::<Result<_, _>>()?)
        }
        ConditionArg::AllOf { all_of } => {
            Condition::And(all_of.iter().map(condition_of).collect::<Result<_, _>>()?)
        }
        ConditionArg::Filter(filter) => filter_of(filter)?.into(),
    })
}

fn order_of(direction: Option<&str>) -> Result<Order, Error> {
    match direction.unwrap_or("asc") {
        "asc" => Ok(Order::Asc),
        "desc" => Ok(Order::Desc),
        other => Err(Error::InvalidInput(format!(
            "invalid sort direction `{other}`: asc or desc"
        ))),
    }
}

/// A dataset or dataservice description, cut unless asked whole.
fn description(value: &Value, full: bool, tool: &str, id: &str) -> Option<String> {
    let text = render::text(value, "description")?;
    Some(if full {
        text.to_owned()
    } else {
        render::cut(
            text,
            DESCRIPTION_CUT,
            &format!("call {tool} with {id} and full_description=true"),
        )
    })
}

fn names(list: Option<&Value>, field: &str, max: usize) -> String {
    list.and_then(Value::as_array)
        .into_iter()
        .flatten()
        .take(max)
        .filter_map(|item| {
            item.as_str()
                .or_else(|| item.get(field).and_then(Value::as_str))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

#[tool_router]
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
            let (page, size) = page_bounds(args.page, args.page_size, 100)?;
            let path = ApiPath::new("datasets/search").query(&[
                ("q", (!args.query.is_empty()).then(|| args.query.clone())),
                ("page", Some(page.to_string())),
                ("page_size", Some(size.to_string())),
                ("sort", args.sort.clone()),
                ("last_update_range", args.last_update_range.clone()),
            ]);
            let found = self.v2(&path).await?;
            let total = found["total"].as_u64().unwrap_or(0);
            let mut text = format!("Found {total} dataset(s) for query '{}'; page {page}:\n\n", args.query);
            let mut items = Vec::new();
            for (index, dataset) in found["data"].as_array().into_iter().flatten().enumerate() {
                let id = render::text(dataset, "id").unwrap_or_default();
                let title = render::text(dataset, "title").unwrap_or("Untitled");
                let _ = writeln!(text, "{}. {title}\n   ID: {id}", (page - 1) * size + index as u64 + 1);
                if let Some(short) = render::text(dataset, "description_short").or_else(|| render::text(dataset, "description")) {
                    let _ = writeln!(text, "   Description: {}", render::cut(short, SHORT_CUT, "get_dataset_info gives more"));
                }
                if let Some(org) = dataset["organization"].get("name").and_then(Value::as_str) {
                    let _ = writeln!(text, "   Organization: {org}");
                }
                let tags = names(dataset.get("tags"), "", 5);
                if !tags.is_empty() {
                    let _ = writeln!(text, "   Tags: {tags}");
                }
                let resources = dataset["resources"]["total"].as_u64().unwrap_or(0);
                let _ = writeln!(text, "   Resources: {resources}\n");
                items.push(json!({"id": id, "title": title, "slug": dataset["slug"], "organization": dataset["organization"]["name"], "resources": resources}));
            }
            Ok(page_answer("search_datasets", "datasets", text, (total, page, size), items))
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
                let (page, size) = page_bounds(args.page, args.page_size, 100)?;
                let query = (!args.query.is_empty()).then(|| args.query.clone());
                let path = ApiPath::new("organizations/search").query(&[
                    ("q", query),
                    ("page", Some(page.to_string())),
                    ("page_size", Some(size.to_string())),
                    ("sort", args.sort.clone()),
                    ("badge", args.badge.clone()),
                    ("name", args.name.clone()),
                    ("business_number_id", args.business_number_id.clone()),
                ]);
                let found = self.v2(&path).await?;
                let total = found["total"].as_u64().unwrap_or(0);
                let mut text = format!("Found {total} organization(s); page {page}:\n\n");
                let mut items = Vec::new();
                for (index, org) in found["data"].as_array().into_iter().flatten().enumerate() {
                    let id = render::text(org, "id").unwrap_or_default();
                    let name = render::text(org, "name").unwrap_or("Untitled");
                    let acronym = render::text(org, "acronym")
                        .map(|a| format!(" ({a})"))
                        .unwrap_or_default();
                    let _ = writeln!(
                        text,
                        "{}. {name}{acronym}\n   ID: {id}",
                        (page - 1) * size + index as u64 + 1
                    );
                    if let Some(slug) = render::text(org, "slug") {
                        let _ = writeln!(text, "   Slug: {slug}");
                    }
                    let badges = names(org.get("badges"), "kind", 10);
                    if !badges.is_empty() {
                        let _ = writeln!(text, "   Badges: {badges}");
                    }
                    text.push('\n');
                    items.push(json!({"id": id, "name": name, "slug": org["slug"]}));
                }
                Ok(page_answer(
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
                let mut text = format!(
                    "Dataset: {}\nID: {id}\n",
                    render::text(&dataset, "title").unwrap_or("Untitled")
                );
                render::labelled(
                    &mut text,
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
                        text,
                        "Organization: {org} (ID: {})",
                        dataset["organization"]["id"].as_str().unwrap_or_default()
                    );
                }
                let tags = names(dataset.get("tags"), "", 10);
                if !tags.is_empty() {
                    let _ = writeln!(text, "Tags: {tags}");
                }
                let resources = dataset["resources"].as_array().map_or(0, Vec::len);
                let _ = writeln!(
                    text,
                    "Resources: {resources} file(s) (list_dataset_resources lists them)"
                );
                if let Some(description) = description(
                    &dataset,
                    args.full_description,
                    "get_dataset_info",
                    &format!("dataset_id={id}"),
                ) {
                    let _ = write!(text, "\nDescription:\n{description}\n");
                }
                let mut data = dataset.clone();
                if let Some(map) = data.as_object_mut() {
                    map.remove("resources");
                    map.insert("resources_count".into(), json!(resources));
                }
                Ok(answer(text, data))
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
                "Resources of: {}\nDataset ID: {}\nTotal resources: {}\n\n",
                render::text(&dataset, "title").unwrap_or("Untitled"),
                render::text(&dataset, "id").unwrap_or_default(),
                list.len()
            );
            let mut items = Vec::new();
            for (index, resource) in list.iter().enumerate() {
                let _ = writeln!(text, "{}. {}\n   Resource ID: {}", index + 1, render::text(resource, "title").unwrap_or("Untitled"), render::text(resource, "id").unwrap_or_default());
                render::resource_lines(&mut text, "   ", resource);
                text.push('\n');
                items.push(json!({"id": resource["id"], "title": resource["title"], "format": resource["format"], "filesize": resource["filesize"], "url": resource["url"]}));
            }
            text.push_str("For CSV/XLSX files, query_resource_data reads the rows.");
            Ok(answer(text, json!({"dataset_id": dataset["id"], "resources": items})))
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
            let mut text = format!("Resource: {}\nResource ID: {}\n", render::text(resource, "title").unwrap_or("Untitled"), render::text(resource, "id").unwrap_or_default());
            render::resource_lines(&mut text, "", resource);
            if let Some(dataset) = render::text(&found, "dataset_id") {
                let _ = writeln!(text, "Dataset ID: {dataset}");
            }
            let tabular = match self.client.tabular_resource(&args.resource_id) {
                Ok(query) => query.profile().await.is_ok(),
                Err(_) => false,
            };
            text.push_str(if tabular {
                "Tabular API: available (query_resource_data reads its rows; get_resource_profile gives its columns)"
            } else {
                "Tabular API: not available (download the file from its URL)"
            });
            Ok(answer(text, json!({"resource": resource, "dataset_id": found["dataset_id"], "tabular_api": tabular})))
        }.await)
    }

    /// Rows of a CSV/XLSX resource through the Tabular API: filters (all twelve operators, any number),
    /// any_of/all_of groups, several sorts, a column list, group_by and aggregates where the server allows them.
    #[tool(annotations(
        title = "Query resource data",
        read_only_hint = true,
        destructive_hint = false,
        idempotent_hint = true,
        open_world_hint = true
    ))]
    async fn query_resource_data(
        &self,
        Parameters(args): Parameters<QueryResourceData>,
    ) -> ToolResult {
        finish(async {
            let (page, size) = page_bounds(args.page, args.page_size, u64::from(datagouv::MAX_PAGE_SIZE))?;
            let query = self.tabular_query(&args)?.page_size(size as u32);
            let rows = query.page::<Map<String, Value>>(page).await?;
            let total = rows.total;
            let mut text = format!("Resource: {}\n", args.resource_id);
            match total {
                Some(total) => {
                    let _ = writeln!(text, "Total rows: {total} (page {page} of {}, {size} per page)", total.div_ceil(size).max(1));
                }
                None => {
                    let _ = writeln!(text, "Page {page} ({size} per page)");
                }
            }
            let _ = writeln!(text, "Rows here: {}\n", rows.rows.len());
            if rows.rows.is_empty() {
                text.push_str("No rows (the resource is empty, or nothing matches the filters).\n");
            } else {
                text.push_str(&render::table(&rows.rows));
            }
            let more = match total {
                Some(total) => page * size < total,
                None => rows.rows.len() as u64 == size,
            };
            text.push('\n');
            text.push_str(&render::next_page("query_resource_data", page, more));
            Ok(answer(text, json!({"total": total, "page": page, "page_size": size, "next_page": more.then_some(page + 1), "rows": rows.rows})))
        }.await)
    }

    /// Search third-party APIs (dataservices) in the catalog.
    #[tool(annotations(
        title = "Search third-party APIs",
        read_only_hint = true,
        destructive_hint = false,
        idempotent_hint = true,
        open_world_hint = true
    ))]
    async fn search_dataservices(
        &self,
        Parameters(args): Parameters<SearchDataservices>,
    ) -> ToolResult {
        finish(
            async {
                let (page, size) = page_bounds(args.page, args.page_size, 100)?;
                let path = ApiPath::new("dataservices/search").query(&[
                    ("q", (!args.query.is_empty()).then(|| args.query.clone())),
                    ("page", Some(page.to_string())),
                    ("page_size", Some(size.to_string())),
                ]);
                let found = self.v2(&path).await?;
                let total = found["total"].as_u64().unwrap_or(0);
                let mut text = format!(
                    "Found {total} third-party API(s) for query '{}'; page {page}:\n\n",
                    args.query
                );
                let mut items = Vec::new();
                for (index, service) in found["data"].as_array().into_iter().flatten().enumerate() {
                    let id = render::text(service, "id").unwrap_or_default();
                    let title = render::text(service, "title").unwrap_or("Untitled");
                    let _ = writeln!(
                        text,
                        "{}. {title}\n   ID: {id}",
                        (page - 1) * size + index as u64 + 1
                    );
                    if let Some(description) = render::text(service, "description") {
                        let _ = writeln!(
                            text,
                            "   Description: {}",
                            render::cut(description, SHORT_CUT, "get_dataservice_info gives more")
                        );
                    }
                    if let Some(url) = render::text(service, "base_api_url") {
                        let _ = writeln!(text, "   Base API URL: {url}");
                    }
                    text.push('\n');
                    items.push(
                        json!({"id": id, "title": title, "base_api_url": service["base_api_url"]}),
                    );
                }
                Ok(page_answer(
                    "search_dataservices",
                    "dataservices",
                    text,
                    (total, page, size),
                    items,
                ))
            }
            .await,
        )
    }

    /// A third-party API's metadata: description, base URL, OpenAPI document URL, organization, license.
    #[tool(annotations(
        title = "Get third-party API info",
        read_only_hint = true,
        destructive_hint = false,
        idempotent_hint = true,
        open_world_hint = true
    ))]
    async fn get_dataservice_info(
        &self,
        Parameters(args): Parameters<DataserviceId>,
    ) -> ToolResult {
        finish(
            async {
                let service = self
                    .v1(&ApiPath::new("dataservices").id("dataservice_id", &args.dataservice_id)?)
                    .await?;
                let id = render::text(&service, "id").unwrap_or_default().to_owned();
                let mut text = format!(
                    "Third-party API: {}\nID: {id}\n",
                    render::text(&service, "title").unwrap_or("Untitled")
                );
                render::labelled(
                    &mut text,
                    "",
                    &service,
                    &[
                        ("Base API URL", "base_api_url"),
                        ("OpenAPI/Swagger spec", "machine_documentation_url"),
                        ("License", "license"),
                        ("Created", "created_at"),
                        ("Last updated", "metadata_modified_at"),
                    ],
                );
                if let Some(org) = service["organization"].get("name").and_then(Value::as_str) {
                    let _ = writeln!(text, "Organization: {org}");
                }
                if let Some(description) = description(
                    &service,
                    args.full_description,
                    "get_dataservice_info",
                    &format!("dataservice_id={id}"),
                ) {
                    let _ = write!(text, "\nDescription:\n{description}\n");
                }
                Ok(answer(text, service))
            }
            .await,
        )
    }

    /// The OpenAPI/Swagger document of a third-party API, summarised: servers, endpoints, parameters.
    #[tool(annotations(
        title = "Get third-party API OpenAPI spec",
        read_only_hint = true,
        destructive_hint = false,
        idempotent_hint = true,
        open_world_hint = true
    ))]
    async fn get_dataservice_openapi_spec(
        &self,
        Parameters(args): Parameters<DataserviceId>,
    ) -> ToolResult {
        finish(async {
            let service = self.v1(&ApiPath::new("dataservices").id("dataservice_id", &args.dataservice_id)?).await?;
            let title = render::text(&service, "title").unwrap_or("Untitled");
            let Some(url) = render::text(&service, "machine_documentation_url") else {
                return Ok(answer(format!("Third-party API '{title}' has no OpenAPI document (machine_documentation_url) in the catalog."), json!({"spec": null})));
            };
            // A third-party host: a client of its own, never the API key.
            let body = self.http.get(url).send().await.map_err(Error::Transport)?.error_for_status().map_err(Error::Transport)?.text().await.map_err(Error::Transport)?;
            let spec: Value = serde_json::from_str(&body)
                .or_else(|_| serde_yaml::from_str(&body))
                .map_err(|e| Error::InvalidInput(format!("the document at {url} is neither JSON nor YAML: {e}")))?;
            let mut text = format!("OpenAPI document of: {title}\nSource: {url}\n");
            if let Some(info) = spec.get("info") {
                let _ = writeln!(text, "API: {} (version {})", info["title"].as_str().unwrap_or("?"), info["version"].as_str().unwrap_or("?"));
            }
            for server in spec["servers"].as_array().into_iter().flatten().take(3) {
                let _ = writeln!(text, "Server: {}", server["url"].as_str().unwrap_or_default());
            }
            let paths = spec["paths"].as_object().cloned().unwrap_or_default();
            let _ = writeln!(text, "Endpoints ({} paths):", paths.len());
            let mut endpoints = Vec::new();
            for (path, item) in &paths {
                for (method, operation) in item.as_object().into_iter().flatten() {
                    if !["get", "post", "put", "patch", "delete", "head", "options"].contains(&method.as_str()) {
                        continue;
                    }
                    let summary = operation["summary"].as_str().or_else(|| operation["description"].as_str()).unwrap_or_default();
                    let _ = writeln!(text, "  {} {path} {}", method.to_uppercase(), render::cut(summary.lines().next().unwrap_or_default(), 120, "see the document"));
                    for parameter in operation["parameters"].as_array().into_iter().flatten() {
                        let _ = writeln!(text, "    - {} [{}]{}", parameter["name"].as_str().unwrap_or("?"), parameter["in"].as_str().unwrap_or("?"), if parameter["required"].as_bool() == Some(true) { " (required)" } else { "" });
                    }
                    endpoints.push(json!({"method": method.to_uppercase(), "path": path}));
                }
            }
            Ok(answer(text, json!({"source": url, "info": spec["info"], "endpoints": endpoints})))
        }.await)
    }

    /// Monthly visits and downloads of a dataset and/or a resource, most recent first.
    #[tool(annotations(
        title = "Get usage metrics",
        read_only_hint = true,
        destructive_hint = false,
        idempotent_hint = true,
        open_world_hint = true
    ))]
    async fn get_metrics(&self, Parameters(args): Parameters<GetMetrics>) -> ToolResult {
        finish(
            async {
                if args.dataset_id.is_none() && args.resource_id.is_none() {
                    return Err(Error::InvalidInput(
                        "give dataset_id, resource_id or both".into(),
                    ));
                }
                let mut text = String::new();
                let mut data = Map::new();
                for (model, id) in [
                    ("datasets", &args.dataset_id),
                    ("resources", &args.resource_id),
                ] {
                    let Some(id) = id else { continue };
                    let (months, section) = self.metrics(model, Some(id), args.limit).await?;
                    text.push_str(&section);
                    data.insert(model.into(), Value::Array(months));
                }
                Ok(answer(text, Value::Object(data)))
            }
            .await,
        )
    }

    /// Monthly metrics of any model: the site, datasets, resources, organizations, reuses, dataservices.
    #[tool(annotations(
        title = "Get metrics of any model",
        read_only_hint = true,
        destructive_hint = false,
        idempotent_hint = true,
        open_world_hint = true
    ))]
    async fn get_model_metrics(&self, Parameters(args): Parameters<GetModelMetrics>) -> ToolResult {
        finish(
            async {
                let (months, text) = self
                    .metrics(&args.model, args.id.as_deref(), args.limit)
                    .await?;
                Ok(answer(text, json!({"model": args.model, "months": months})))
            }
            .await,
        )
    }

    /// The columns of a Tabular resource (name, type, format), its indexed columns and row count,
    /// and whether the server aggregates it.
    #[tool(annotations(
        title = "Get resource profile",
        read_only_hint = true,
        destructive_hint = false,
        idempotent_hint = true,
        open_world_hint = true
    ))]
    async fn get_resource_profile(&self, Parameters(args): Parameters<ResourceId>) -> ToolResult {
        finish(async {
            let profile = self.client.tabular_resource(&args.resource_id)?.profile().await?;
            let exceptions = self.client.tabular().get_aggregation_exceptions().send().value().await?;
            let listed = exceptions.allowed == Some(true)
                || exceptions.exceptions.iter().flatten().any(|id| id.to_string().eq_ignore_ascii_case(&args.resource_id));
            let indexes = profile.indexes.clone().unwrap_or_default();
            let mut text = format!("Resource: {}\n", args.resource_id);
            if let Some(lines) = profile.total_lines {
                let _ = writeln!(text, "Rows: {lines}");
            }
            text.push_str("| column | type | format | indexed |\n| --- | --- | --- | --- |\n");
            for column in &profile.columns {
                let indexed = if indexes.contains(&column.name) { "yes" } else { "" };
                let _ = writeln!(text, "| {} | {} | {} | {indexed} |", column.name, column.python_type, column.format);
            }
            text.push_str(if listed {
                "Aggregation (group_by, aggregates): allowed on the indexed columns."
            } else {
                "Aggregation: not allowed for this resource (the server aggregates only the resources it lists)."
            });
            let columns: Vec<Value> = profile.columns.iter().map(|c| json!({"name": c.name, "type": c.python_type, "format": c.format})).collect();
            Ok(answer(text, json!({"columns": columns, "indexes": indexes, "total_lines": profile.total_lines, "aggregation_allowed": listed})))
        }.await)
    }

    /// Write every row a query matches to a file (CSV, JSON, or Parquet when built in) below the
    /// directory the server allows; any size, in the server's order.
    #[tool(annotations(
        title = "Export resource data",
        read_only_hint = false,
        destructive_hint = true,
        idempotent_hint = true,
        open_world_hint = true
    ))]
    async fn export_resource_data(
        &self,
        Parameters(args): Parameters<ExportResourceData>,
    ) -> ToolResult {
        finish(
            async {
                let format_name = args.format.as_deref().unwrap_or("csv");
                let format = ExportFormat::parse(format_name).ok_or_else(|| {
                    Error::InvalidInput(format!(
                        "unknown format `{format_name}`: csv, json or parquet"
                    ))
                })?;
                let query = self.tabular_query(&args.query)?;
                let path = self.allowed_folder()?.file_to_write(&args.file)?;
                let summary = query
                    .export_to_file(format, &path, ExportOptions::default())
                    .await?;
                let text = format!(
                    "Wrote {} rows ({} bytes, {} window(s)) to {}.",
                    summary.rows, summary.bytes, summary.windows, args.file
                );
                Ok(answer(
                    text,
                    json!({"file": args.file, "rows": summary.rows, "bytes": summary.bytes}),
                ))
            }
            .await,
        )
    }

    /// Create a private draft dataset (needs --allow-writes and an API key).
    #[tool(annotations(
        title = "Create a dataset",
        read_only_hint = false,
        destructive_hint = false,
        idempotent_hint = false,
        open_world_hint = true
    ))]
    async fn create_dataset(&self, Parameters(args): Parameters<CreateDataset>) -> ToolResult {
        finish(async {
            let draft = DatasetDraft { title: args.title, description: args.description, organization: args.organization, tags: args.tags, license: args.license, frequency: args.frequency };
            let dataset = self.client.create_draft_dataset(draft).await?;
            let text = format!("Created the private draft dataset {} (ID: {}). update_dataset with {{\"private\": false}} publishes it.", dataset.title, dataset.id);
            Ok(answer(text, json!({"id": dataset.id, "slug": dataset.slug, "title": dataset.title})))
        }.await)
    }

    /// Change fields of a dataset (needs --allow-writes and an API key).
    #[tool(annotations(
        title = "Update a dataset",
        read_only_hint = false,
        destructive_hint = true,
        idempotent_hint = true,
        open_world_hint = true
    ))]
    async fn update_dataset(&self, Parameters(args): Parameters<UpdateDataset>) -> ToolResult {
        finish(
            async {
                let fields: Vec<String> = args.changes.keys().cloned().collect();
                let dataset = self
                    .client
                    .update_dataset(
                        sdk_id("dataset_id", &args.dataset_id)?,
                        Value::Object(args.changes),
                    )
                    .await?;
                Ok(answer(
                    format!("Updated {} of dataset {}.", fields.join(", "), dataset.id),
                    json!({"id": dataset.id, "updated": fields}),
                ))
            }
            .await,
        )
    }

    /// Upload a file (below the allowed directory) as a new resource of a dataset (needs
    /// --allow-writes, --allow-files and an API key).
    #[tool(annotations(
        title = "Upload a resource",
        read_only_hint = false,
        destructive_hint = false,
        idempotent_hint = false,
        open_world_hint = true
    ))]
    async fn upload_resource(&self, Parameters(args): Parameters<UploadResource>) -> ToolResult {
        finish(
            async {
                let dataset = sdk_id("dataset_id", &args.dataset_id)?;
                let path = self.allowed_folder()?.file_to_read(&args.file)?;
                let source = UploadSource::file(&path).await?;
                let resource = self
                    .client
                    .upload_resource(
                        ResourceUpload::NewResource { dataset },
                        source,
                        UploadOptions::default(),
                    )
                    .await?;
                Ok(answer(
                    format!(
                        "Uploaded {} as resource {} of dataset {}.",
                        args.file, resource.id, args.dataset_id
                    ),
                    json!({"id": resource.id, "url": resource.url}),
                ))
            }
            .await,
        )
    }
}

impl DatagouvMcp {
    /// Monthly rows of a Metrics model, most recent first, and their table.
    async fn metrics(
        &self,
        model: &str,
        id: Option<&str>,
        limit: u64,
    ) -> Result<(Vec<Value>, String), Error> {
        if !(1..=50).contains(&limit) {
            return Err(Error::InvalidInput(format!(
                "limit must be 1 to 50, not {limit}"
            )));
        }
        let key = match model {
            "site" => None,
            "datasets" | "resources" | "organizations" | "reuses" | "dataservices" => {
                Some(format!("{}_id", model.trim_end_matches('s')))
            }
            other => {
                return Err(Error::InvalidInput(format!(
                    "unknown model `{other}`: site, datasets, resources, organizations, reuses or dataservices"
                )));
            }
        };
        let mut query = self.client.metrics_model(model)?;
        match (&key, id) {
            (Some(key), Some(id)) => query = query.filter(key.as_str(), Op::Exact, id),
            (Some(key), None) => {
                return Err(Error::InvalidInput(format!(
                    "the {model} metrics need an id ({key})"
                )));
            }
            (None, Some(_)) => {
                return Err(Error::InvalidInput("the site metrics take no id".into()));
            }
            (None, None) => {}
        }
        let page = query
            .sort("metric_month", Order::Desc)
            .page_size(limit as u32)
            .page::<Map<String, Value>>(1)
            .await?;
        let mut text = format!(
            "Metrics of {model}{}, most recent month first:\n",
            id.map(|id| format!(" {id}")).unwrap_or_default()
        );
        if page.rows.is_empty() {
            text.push_str("No metrics recorded.\n");
        } else {
            let rows: Vec<Map<String, Value>> = page
                .rows
                .iter()
                .map(|row| {
                    row.iter()
                        .filter(|(k, _)| !k.starts_with("__") && Some(k.as_str()) != key.as_deref())
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect()
                })
                .collect();
            text.push_str(&render::table(&rows));
        }
        Ok((page.rows.into_iter().map(Value::Object).collect(), text))
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for DatagouvMcp {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new(
                "datagouv-rs",
                env!("CARGO_PKG_VERSION"),
            ))
            .with_instructions(
                "data.gouv.fr, France's open-data platform: search datasets, organizations and \
                 third-party APIs, read their metadata, query the rows of CSV/XLSX resources \
                 (filters, groups, sorts, aggregations), and usage metrics. Start with \
                 search_datasets, then list_dataset_resources, then query_resource_data.",
            )
    }
}
