//! `cargo xtask coverage`: which method serves each upstream operation and
//! each endpoint of the seed reference.
//!
//! Read from the committed files: the upstream documents (`specs/upstream/`),
//! the normalised ones (what the generated crates are built from), the
//! seed reference (`../shared/seed-reference.md`) and `specs/seed-aliases.yaml`
//! for the seed paths that do not match an upstream path letter for letter.

use anyhow::{Context, Result};
use heck::ToSnakeCase;
use serde::Deserialize;
use serde_json::Value;
use std::{
    collections::{BTreeMap, BTreeSet},
    fmt::Write as _,
    fs,
    path::Path,
};

use crate::{
    apis::{Api, UPSTREAM_DIR, UPSTREAM_EXTENSIONS},
    convert::METHODS,
    normalize::parse_document,
    rules::EXCLUDED_EXTENSION,
};

/// Where each excluded multipart operation is served by hand, in the
/// `datagouv` facade (`crates/datagouv/src/upload.rs`).
pub const HAND_WRITTEN_UPLOADS: &[(&str, &str)] = &[
    (
        "upload_new_dataset_resource",
        "Client::upload_resource(ResourceUpload::NewResource)",
    ),
    (
        "upload_dataset_resource",
        "Client::upload_resource(ResourceUpload::ReplaceResource)",
    ),
    (
        "upload_new_community_resource",
        "Client::upload_community_resource(ResourceUpload::NewCommunityResource)",
    ),
    (
        "upload_community_resource",
        "Client::upload_community_resource(ResourceUpload::ReplaceCommunityResource)",
    ),
    ("my_avatar", "Client::upload_image(ImageUpload::MyAvatar)"),
    (
        "user_avatar",
        "Client::upload_image(ImageUpload::UserAvatar)",
    ),
    (
        "organization_logo",
        "Client::upload_image(ImageUpload::OrganizationLogo)",
    ),
    (
        "resize_organization_logo",
        "Client::upload_image(ImageUpload::ResizeOrganizationLogo)",
    ),
    (
        "organization_banner_upload",
        "Client::upload_image(ImageUpload::OrganizationBanner)",
    ),
    ("post_image", "Client::upload_image(ImageUpload::PostImage)"),
    (
        "resize_post_image",
        "Client::upload_image(ImageUpload::ResizePostImage)",
    ),
    (
        "reuse_image",
        "Client::upload_image(ImageUpload::ReuseImage)",
    ),
    (
        "visualization_image",
        "Client::upload_image(ImageUpload::VisualizationImage)",
    ),
];

/// How one upstream operation is served.
#[derive(Debug, Clone)]
pub struct Served {
    /// `GET`, `POST`, …
    pub method: String,
    /// The upstream path.
    pub path: String,
    /// The upstream operationId.
    pub operation_id: String,
    /// `datagouv_main::v1::Client::list_datasets`, or `hand-written: …`.
    pub by: String,
    /// The response type in the normalised document.
    pub response: String,
    /// Whether the generated method returns `()` (no body declared).
    pub returns_nothing: bool,
}

impl Served {
    /// Whether a generated method or a named hand-written place serves it.
    pub fn is_covered(&self) -> bool {
        !self.by.is_empty()
    }
}

fn read_upstream(root: &Path, api: Api) -> Result<Value> {
    let path = UPSTREAM_EXTENSIONS
        .iter()
        .map(|ext| root.join(format!("{UPSTREAM_DIR}/{}.{ext}", api.upstream_stem())))
        .find(|path| path.exists())
        .with_context(|| {
            format!(
                "no upstream document for {}; run `cargo xtask fetch`",
                api.key()
            )
        })?;
    parse_document(&fs::read_to_string(&path)?)
}

fn operations(doc: &Value) -> Vec<(String, String, &Value)> {
    let mut list = Vec::new();
    for (path, item) in doc
        .get("paths")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        for method in METHODS {
            if let Some(op) = item.get(*method) {
                list.push((method.to_uppercase(), path.clone(), op));
            }
        }
    }
    list
}

/// Maps every upstream operation of one API to what serves it.
pub fn serve_map(root: &Path, api: Api) -> Result<Vec<Served>> {
    let upstream = read_upstream(root, api)?;
    let normalized = parse_document(&fs::read_to_string(root.join(api.normalized_path()))?)?;
    let mut generated = BTreeMap::new();
    for (_, _, op) in operations(&normalized) {
        let id = op["operationId"].as_str().unwrap_or_default();
        let upstream_id = op
            .get("x-upstream-operation-id")
            .and_then(Value::as_str)
            .unwrap_or(id);
        let by = format!("{}::Client::{}", api.client_path(), id.to_snake_case());
        let response = (
            crate::surface::surface_response(op),
            crate::surface::returns_nothing(op),
        );
        generated.insert(upstream_id.to_owned(), (by, response));
    }
    let excluded: BTreeSet<&str> = normalized
        .get(EXCLUDED_EXTENSION)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|e| e["operationId"].as_str())
        .collect();
    let mut served = Vec::new();
    for (method, path, op) in operations(&upstream) {
        let id = op
            .get("operationId")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let (by, (response, returns_nothing)) = match generated.get(&id) {
            Some((by, response)) => (by.clone(), response.clone()),
            None if excluded.contains(id.as_str()) => {
                let place = HAND_WRITTEN_UPLOADS.iter().find(|(op, _)| *op == id);
                let by = place.map(|(_, place)| format!("hand-written: datagouv::{place}"));
                (by.unwrap_or_default(), ("multipart".to_owned(), false))
            }
            None => (String::new(), ("-".to_owned(), false)),
        };
        served.push(Served {
            method,
            path,
            operation_id: id,
            by,
            response,
            returns_nothing,
        });
    }
    Ok(served)
}

/// Corrections for seed-reference paths that differ from upstream.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct SeedAliases {
    /// Seed path → `api-key:upstream path`.
    #[serde(default)]
    aliases: BTreeMap<String, String>,
    /// Seed path → why no upstream operation serves it.
    #[serde(default)]
    absent: BTreeMap<String, String>,
}

/// One endpoint of the seed reference: methods and a resolved path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeedEndpoint {
    /// The API section it belongs to.
    pub api: Api,
    /// Methods the seed row lists.
    pub methods: Vec<String>,
    /// The path, resolved to an absolute form.
    pub path: String,
}

/// Parses the endpoint tables of the seed reference.
///
/// Rows list several paths; a relative one (`frequencies/`) replaces the last
/// segment of the row's first path, or is relative to the API root when it
/// starts with the same segment (`harvest/job/{ident}/`); `.../x` extends the
/// previous path.
pub fn parse_seed(text: &str) -> Vec<SeedEndpoint> {
    let mut endpoints = Vec::new();
    let mut api = None;
    for line in text.lines() {
        if line.starts_with("## ") {
            api = if line.contains("Main API") {
                Some(Api::MainV1)
            } else if line.contains("Metrics API") {
                Some(Api::Metrics)
            } else if line.contains("Tabular API") {
                Some(Api::Tabular)
            } else {
                None
            };
            continue;
        }
        let Some(api) = api else { continue };
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        if cells.len() < 4
            || !cells[1]
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_uppercase())
        {
            continue;
        }
        let methods: Vec<String> = cells[1].split('/').map(str::to_owned).collect();
        if !methods
            .iter()
            .all(|m| METHODS.contains(&m.to_lowercase().as_str()))
        {
            continue;
        }
        let mut first: Option<String> = None;
        let mut previous: Option<String> = None;
        for (index, span) in cells[2].split('`').enumerate() {
            if index % 2 == 0 || span.is_empty() || span.contains(' ') {
                continue;
            }
            let path = if span.starts_with('/') {
                span.to_owned()
            } else if let Some(rest) = span.strip_prefix(".../") {
                format!("{}{rest}", previous.clone().unwrap_or_default())
            } else {
                let base = first.clone().unwrap_or_default();
                let first_segment = base
                    .trim_start_matches('/')
                    .split('/')
                    .next()
                    .unwrap_or_default();
                if span.split('/').next() == Some(first_segment) {
                    format!("/{span}")
                } else {
                    let parent = base
                        .trim_end_matches('/')
                        .rsplit_once('/')
                        .map(|(p, _)| p)
                        .unwrap_or_default();
                    format!("{parent}/{span}")
                }
            };
            if first.is_none() {
                first = Some(path.clone());
            }
            previous = Some(path.clone());
            endpoints.push(SeedEndpoint {
                api,
                methods: methods.clone(),
                path,
            });
        }
    }
    endpoints
}

/// A path with its parameter names erased, for matching.
fn path_shape(path: &str) -> String {
    let mut shape = String::new();
    let mut depth = 0;
    for ch in path.chars() {
        match ch {
            '{' => {
                depth += 1;
                shape.push_str("{}");
            }
            '}' => depth -= 1,
            _ if depth > 0 => {}
            _ => shape.push(ch),
        }
    }
    shape
}

/// Renders the coverage report; the last lines are the summaries.
pub fn report(root: &Path, seed_path: &Path) -> Result<(String, bool)> {
    let mut out = String::new();
    let mut all_ok = true;
    let mut summaries = Vec::new();
    let mut by_api = BTreeMap::new();
    for api in Api::ALL {
        let served = serve_map(root, api)?;
        writeln!(out, "## {} ({} operations)\n", api.key(), served.len())?;
        writeln!(
            out,
            "| method | path | operationId | served by | response |"
        )?;
        writeln!(out, "| --- | --- | --- | --- | --- |")?;
        for item in &served {
            let by = if item.is_covered() {
                item.by.as_str()
            } else {
                "NOT COVERED"
            };
            writeln!(
                out,
                "| {} | `{}` | {} | {by} | {} |",
                item.method, item.path, item.operation_id, item.response
            )?;
        }
        let covered = served.iter().filter(|s| s.is_covered()).count();
        let empty: Vec<&Served> = served.iter().filter(|s| s.returns_nothing).collect();
        let empty_gets = empty.iter().filter(|s| s.method == "GET").count();
        all_ok &= covered == served.len() && empty_gets == 0;
        summaries.push(format!(
            "{}: covered {covered}/{}; returning (): {} ({} GET){}",
            api.key(),
            served.len(),
            empty.len(),
            empty_gets,
            if empty.is_empty() {
                String::new()
            } else {
                format!(
                    ": {}",
                    empty
                        .iter()
                        .map(|s| s.operation_id.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            }
        ));
        writeln!(out)?;
        by_api.insert(api.key(), served);
    }

    let seed_text = fs::read_to_string(seed_path)
        .with_context(|| format!("reading {}", seed_path.display()))?;
    let aliases_path = root.join("specs/seed-aliases.yaml");
    let aliases: SeedAliases = match fs::read_to_string(&aliases_path) {
        Ok(text) => serde_yaml::from_str(&text)
            .with_context(|| format!("reading {}", aliases_path.display()))?,
        Err(_) => SeedAliases::default(),
    };
    let seed = parse_seed(&seed_text);
    writeln!(out, "## seed reference ({} endpoints)\n", seed.len())?;
    writeln!(
        out,
        "| seed methods | seed path | upstream path | served by |"
    )?;
    writeln!(out, "| --- | --- | --- | --- |")?;
    let (mut mapped, mut absent) = (0, 0);
    for endpoint in &seed {
        let row_key = format!("{} {}", endpoint.methods.join("/"), endpoint.path);
        let (api_key, target) = match aliases
            .aliases
            .get(&row_key)
            .or_else(|| aliases.aliases.get(&endpoint.path))
        {
            Some(alias) => alias
                .split_once(':')
                .with_context(|| format!("alias `{alias}` is not `api-key:path`"))?,
            None => (endpoint.api.key(), endpoint.path.as_str()),
        };
        let served = by_api
            .get(api_key)
            .with_context(|| format!("unknown API `{api_key}` in seed-aliases.yaml"))?;
        let shape = path_shape(target);
        let matches: Vec<&Served> = served
            .iter()
            .filter(|s| {
                path_shape(&s.path) == shape
                    && endpoint.methods.contains(&s.method)
                    && s.is_covered()
            })
            .collect();
        let cell = if let Some(reason) = aliases.absent.get(&endpoint.path) {
            absent += 1;
            format!("not upstream: {reason}")
        } else if matches.is_empty() {
            all_ok = false;
            "NOT MAPPED".to_owned()
        } else {
            mapped += 1;
            matches
                .iter()
                .map(|s| format!("{} {}", s.method, s.by))
                .collect::<Vec<_>>()
                .join("<br>")
        };
        let upstream = matches.first().map(|s| s.path.clone()).unwrap_or_default();
        writeln!(
            out,
            "| {} | `{}` | `{upstream}` | {cell} |",
            endpoint.methods.join("/"),
            endpoint.path
        )?;
    }
    summaries.push(format!(
        "seed reference: mapped {}/{} ({mapped} to an upstream operation, {absent} absent from upstream with the reason)",
        mapped + absent,
        seed.len()
    ));
    writeln!(out)?;
    for line in &summaries {
        writeln!(out, "{line}")?;
    }
    Ok((out, all_ok))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_rows_resolve_relative_paths() {
        let text = "## 1. Main API\n\
            | GET | `/datasets/badges/`, `frequencies/` |\n\
            | GET/POST | `/datasets/community_resources/`, `.../{community}/`, `.../upload/` |\n\
            | GET | `/harvest/source/{id}/jobs/`, `harvest/job/{ident}/` |\n";
        let paths: Vec<String> = parse_seed(text).into_iter().map(|e| e.path).collect();
        assert_eq!(
            paths,
            [
                "/datasets/badges/",
                "/datasets/frequencies/",
                "/datasets/community_resources/",
                "/datasets/community_resources/{community}/",
                "/datasets/community_resources/{community}/upload/",
                "/harvest/source/{id}/jobs/",
                "/harvest/job/{ident}/",
            ]
        );
    }

    #[test]
    fn path_shapes_ignore_parameter_names() {
        assert_eq!(
            path_shape("/datasets/{id}/rdf.{_format}"),
            path_shape("/datasets/{dataset}/rdf.{path_format}")
        );
    }
}
