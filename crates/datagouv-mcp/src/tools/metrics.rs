//! Usage figures from the Metrics API: `get_metrics` (the official
//! server's: datasets and resources) and `get_model_metrics` (every model).

use datagouv::{Error, Op, Order};
use rmcp::{handler::server::wrapper::Parameters, tool, tool_router};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::{DatagouvMcp, ToolResult, answer, finish};
use crate::render;

closed_set! {
    /// A Metrics model: the site's figures, or one object's.
    MetricsModel {
        Site = "site",
        Datasets = "datasets",
        Resources = "resources",
        Organizations = "organizations",
        Reuses = "reuses",
        Dataservices = "dataservices",
    }
}

fn default_limit() -> u64 {
    12
}

/// `get_metrics` (official).
#[derive(Debug, Deserialize, JsonSchema)]
pub struct GetMetrics {
    /// A dataset's id (give this, resource_id, or both).
    #[serde(default)]
    #[schemars(with = "String")]
    pub dataset_id: Option<String>,
    /// A resource's id (give this, dataset_id, or both).
    #[serde(default)]
    #[schemars(with = "String")]
    pub resource_id: Option<String>,
    /// Months, most recent first, 1 to 50.
    #[serde(default = "default_limit")]
    #[schemars(range(min = 1, max = 50), transform = super::whole)]
    pub limit: u64,
}

/// `get_model_metrics`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct GetModelMetrics {
    /// Whose figures: the whole site, or one object of a kind.
    pub model: MetricsModel,
    /// The object's id (leave out for site).
    #[serde(default)]
    #[schemars(with = "String")]
    pub id: Option<String>,
    /// Months, most recent first, 1 to 50.
    #[serde(default = "default_limit")]
    #[schemars(range(min = 1, max = 50), transform = super::whole)]
    pub limit: u64,
}

#[tool_router(router = metrics_router, vis = "pub(super)")]
impl DatagouvMcp {
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
                    (MetricsModel::Datasets, &args.dataset_id),
                    (MetricsModel::Resources, &args.resource_id),
                ] {
                    let Some(id) = id else { continue };
                    let (months, section) = self.metrics(model, Some(id), args.limit).await?;
                    text.push_str(&section);
                    data.insert(model.as_str().into(), Value::Array(months));
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
                    .metrics(args.model, args.id.as_deref(), args.limit)
                    .await?;
                Ok::<_, Error>(answer(
                    text,
                    json!({"model": args.model.as_str(), "months": months}),
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
        model: MetricsModel,
        id: Option<&str>,
        limit: u64,
    ) -> Result<(Vec<Value>, String), Error> {
        if !(1..=50).contains(&limit) {
            return Err(Error::InvalidInput(format!(
                "limit must be 1 to 50, not {limit}"
            )));
        }
        let name = model.as_str();
        let key = match model {
            MetricsModel::Site => None,
            _ => Some(format!("{}_id", name.trim_end_matches('s'))),
        };
        let mut query = self.client.metrics_model(name)?;
        match (&key, id) {
            (Some(key), Some(id)) => query = query.filter(key.as_str(), Op::Exact, id),
            (Some(key), None) => {
                return Err(Error::InvalidInput(format!(
                    "the {name} metrics need an id ({key})"
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
            "Metrics of {name}{}, most recent month first:\n",
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
