//! Third-party APIs (dataservices): `search_dataservices`,
//! `get_dataservice_info`, `get_dataservice_openapi_spec` (the official
//! server's). The OpenAPI document lives on a host the catalog names: it is
//! fetched only through the guarded client ([`crate::fetch`]).

use std::fmt::Write as _;

use datagouv::Error;
use rmcp::{handler::server::wrapper::Parameters, tool, tool_router};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{
    DatagouvMcp, MAX_SEARCH_PAGE, SHORT_CUT, ToolResult, answer, default_page, default_page_size,
    description, finish, page_answer, page_bounds,
};
use crate::{api_path::ApiPath, fetch::FetchError, render};

/// A dataservice (third-party API) by its id.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct DataserviceId {
    /// The dataservice's id or slug, as search_dataservices lists it.
    pub dataservice_id: String,
    /// true: the whole description instead of its first 500 characters.
    #[serde(default)]
    pub full_description: bool,
}

/// `search_dataservices` (official).
#[derive(Debug, Deserialize, JsonSchema)]
pub struct SearchDataservices {
    /// Keywords, short (every word must match; generic words such as
    /// "données" are left out); empty lists every dataservice.
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
}

/// What can stop `get_dataservice_openapi_spec`.
#[derive(Debug, thiserror::Error)]
enum SpecError {
    #[error(transparent)]
    Sdk(#[from] Error),
    #[error(transparent)]
    Fetch(#[from] FetchError),
    #[error("the document at {url} is neither JSON nor YAML ({reason}); read it from its URL")]
    NotADocument { url: String, reason: String },
}

#[tool_router(router = dataservice_router, vis = "pub(super)")]
impl DatagouvMcp {
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
                let (page, size) = page_bounds(args.page, args.page_size, MAX_SEARCH_PAGE)?;
                let searched = self
                    .search("dataservices/search", &args.query, (page, size), &[])
                    .await?;
                let total = searched.total;
                let mut text = format!(
                    "Found {total} third-party API(s) for query '{}'; page {page}:\n",
                    args.query
                );
                text.push_str(&searched.note(&args.query));
                let mut list = String::new();
                let mut items = Vec::new();
                for (index, service) in searched.found["data"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .enumerate()
                {
                    let id = render::text(service, "id").unwrap_or_default();
                    let title = render::text(service, "title").unwrap_or("Untitled");
                    let _ = writeln!(
                        list,
                        "{}. {title}\n   ID: {id}",
                        (page - 1) * size + index as u64 + 1
                    );
                    if let Some(description) = render::text(service, "description") {
                        let _ = writeln!(
                            list,
                            "   Description: {}",
                            render::cut(description, SHORT_CUT, "get_dataservice_info gives more")
                        );
                    }
                    if let Some(url) = render::text(service, "base_api_url") {
                        let _ = writeln!(list, "   Base API URL: {url}");
                    }
                    list.push('\n');
                    items.push(
                        json!({"id": id, "title": title, "base_api_url": service["base_api_url"]}),
                    );
                }
                if !list.is_empty() {
                    text.push_str(&render::catalog_data(&list));
                }
                Ok::<_, Error>(page_answer(
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
                let mut body = format!(
                    "Third-party API: {}\nID: {id}\n",
                    render::text(&service, "title").unwrap_or("Untitled")
                );
                render::labelled(
                    &mut body,
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
                    let _ = writeln!(body, "Organization: {org}");
                }
                if let Some(description) = description(
                    &service,
                    args.full_description,
                    "get_dataservice_info",
                    &format!("dataservice_id={id}"),
                ) {
                    let _ = write!(body, "\nDescription:\n{description}\n");
                }
                Ok::<_, Error>(answer(render::catalog_data(&body), service))
            }
            .await,
        )
    }

    /// The OpenAPI/Swagger document of a third-party API, summarised: servers, endpoints,
    /// parameters. Fetched from the host the catalog names, only when it is a public one.
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
                return Ok(answer(format!("Third-party API {} has no OpenAPI document (machine_documentation_url) in the catalog.", args.dataservice_id), json!({"spec": null})));
            };
            // A host the catalog names: the guarded client, never the SDK's (nor its key).
            let fetched = self.fetcher.get(url).await?;
            let body = String::from_utf8_lossy(&fetched.body);
            let spec: Value = serde_json::from_str(&body)
                .or_else(|_| serde_yaml::from_str(&body))
                .map_err(|e| SpecError::NotADocument { url: url.to_owned(), reason: e.to_string() })?;
            drop(body);
            let mut summary = format!("OpenAPI document of: {title}\n");
            if let Some(info) = spec.get("info") {
                let _ = writeln!(summary, "API: {} (version {})", info["title"].as_str().unwrap_or("?"), info["version"].as_str().unwrap_or("?"));
            }
            for server in spec["servers"].as_array().into_iter().flatten().take(3) {
                let _ = writeln!(summary, "Server: {}", server["url"].as_str().unwrap_or_default());
            }
            let paths = spec["paths"].as_object().cloned().unwrap_or_default();
            let _ = writeln!(summary, "Endpoints ({} paths):", paths.len());
            let mut endpoints = Vec::new();
            for (path, item) in &paths {
                for (method, operation) in item.as_object().into_iter().flatten() {
                    if !["get", "post", "put", "patch", "delete", "head", "options"].contains(&method.as_str()) {
                        continue;
                    }
                    let line = operation["summary"].as_str().or_else(|| operation["description"].as_str()).unwrap_or_default();
                    let _ = writeln!(summary, "  {} {path} {}", method.to_uppercase(), render::cut(line.lines().next().unwrap_or_default(), 120, "see the document"));
                    for parameter in operation["parameters"].as_array().into_iter().flatten() {
                        let _ = writeln!(summary, "    - {} [{}]{}", parameter["name"].as_str().unwrap_or("?"), parameter["in"].as_str().unwrap_or("?"), if parameter["required"].as_bool() == Some(true) { " (required)" } else { "" });
                    }
                    endpoints.push(json!({"method": method.to_uppercase(), "path": path}));
                }
            }
            let text = format!("Source: {url}\n{}", render::catalog_data(&summary));
            Ok::<_, SpecError>(answer(text, json!({"source": url, "info": spec["info"], "endpoints": endpoints})))
        }.await)
    }
}
