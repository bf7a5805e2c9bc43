//! `query_sql`: read-only SQL over Tabular API resources and Metrics
//! models (crate datagouv-sql): aggregations the API will not compute,
//! joins, expressions. Filters, columns and limits go to the servers.
//!
//! What a model may not do through it: write (DDL, DML, `COPY … TO`,
//! `SET` are refused by the engine), read local files (table names are
//! resource ids or metrics models, never paths), or make this server fetch
//! URLs published in the catalog (resources the Tabular API does not serve
//! are refused: their files are catalog-supplied URLs). An answer holds at
//! most `max_rows` rows, and a query gets [`TIME_BUDGET`].

use std::time::Duration;

use datafusion::arrow::array::RecordBatch;
use datagouv::Error;
use futures::StreamExt;
use rmcp::{handler::server::wrapper::Parameters, tool, tool_router};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::{DatagouvMcp, ToolResult, answer, finish};
use crate::render;

/// The longest a query may run.
pub const TIME_BUDGET: Duration = Duration::from_secs(60);

fn default_max_rows() -> u64 {
    100
}

/// `query_sql`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct QuerySql {
    /// One read-only SQL query (DataFusion's dialect, close to PostgreSQL's). Tables: a resource as its
    /// id in double quotes, e.g. SELECT region, SUM(montant) FROM "0a1b2c3d-…" GROUP BY region; a metrics
    /// model as metrics.<model> (site, datasets, resources, organizations, reuses, dataservices). Quote
    /// column names with spaces, accents or capitals in double quotes ("nom complet"); get_resource_profile
    /// lists a resource's columns.
    pub sql: String,
    /// Rows in the answer at most, 1 to 500; the answer says when there were more.
    #[serde(default = "default_max_rows")]
    #[schemars(range(min = 1, max = 500), transform = super::whole)]
    pub max_rows: u64,
}

#[tool_router(router = sql_router, vis = "pub(super)")]
impl DatagouvMcp {
    /// Runs a read-only SQL query over Tabular API resources and Metrics models: aggregations (GROUP BY with
    /// COUNT, SUM, AVG, MIN, MAX) on any resource, joins of resources, expressions. Filters, columns and small
    /// limits are sent to the server; the rest is computed here. Returns at most max_rows rows.
    #[tool(annotations(
        title = "Query resources with SQL",
        read_only_hint = true,
        destructive_hint = false,
        idempotent_hint = true,
        open_world_hint = true
    ))]
    async fn query_sql(&self, Parameters(args): Parameters<QuerySql>) -> ToolResult {
        finish(self.run_sql(&args.sql, args.max_rows).await)
    }
}

impl DatagouvMcp {
    async fn run_sql(
        &self,
        sql: &str,
        max_rows: u64,
    ) -> Result<rmcp::model::CallToolResult, Error> {
        if !(1..=500).contains(&max_rows) {
            return Err(Error::InvalidInput(format!(
                "max_rows must be 1 to 500, not {max_rows}"
            )));
        }
        if sql.trim().is_empty() {
            return Err(Error::InvalidInput("the query is empty".into()));
        }
        let engine = datagouv_sql::SqlEngine::builder(self.client.clone())
            .catalog_files(false)
            .build()
            .map_err(sql_error)?;
        let max = max_rows as usize;
        let run = async {
            let frame = engine.sql(sql).await.map_err(sql_error)?;
            let schema = frame.schema().as_arrow().clone();
            let mut stream = frame.execute_stream().await.map_err(sql_error)?;
            let mut rows: Vec<Map<String, Value>> = Vec::new();
            let mut more = false;
            while let Some(batch) = stream.next().await {
                let batch = batch.map_err(sql_error)?;
                for row in records(&batch) {
                    if rows.len() == max {
                        more = true;
                        break;
                    }
                    rows.push(row);
                }
                if more {
                    // Dropping the stream stops the scans.
                    break;
                }
            }
            Ok::<_, Error>((schema, rows, more))
        };
        let (schema, rows, more) = tokio::time::timeout(TIME_BUDGET, run).await.map_err(|_| {
            Error::InvalidInput(format!(
                "the query ran longer than {} s and was stopped: narrow it (WHERE on the resource's columns, fewer \
                 resources, a LIMIT) or run it with the datagouv command-line tool (`datagouv sql`)",
                TIME_BUDGET.as_secs()
            ))
        })??;
        let columns: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        let mut text = format!(
            "Columns: {}\nRows here: {}\n",
            columns.join(", "),
            rows.len()
        );
        if more {
            text.push_str(&format!(
                "There are more rows than the {max} shown: aggregate further, add a LIMIT, raise max_rows (up to \
                 500), or get every row of one resource as a file with export_resource_data.\n"
            ));
        }
        text.push('\n');
        if rows.is_empty() {
            text.push_str("No rows.\n");
        } else {
            text.push_str(&render::catalog_data(&render::table(&rows)));
        }
        Ok(answer(
            text,
            json!({"columns": columns, "rows": rows, "truncated": more}),
        ))
    }
}

/// A DataFusion error as a tool error: the SDK's own errors as they are,
/// others by their text (bad SQL, unknown column with the real ones…).
fn sql_error(error: datafusion::error::DataFusionError) -> Error {
    match datagouv_sql::into_sdk_error(error) {
        Ok(sdk) => sdk,
        Err(other) => Error::InvalidInput(other.to_string()),
    }
}

/// The rows of a batch as JSON objects.
fn records(batch: &RecordBatch) -> Vec<Map<String, Value>> {
    let schema = batch.schema();
    datagouv_sql::json_rows(batch)
        .into_iter()
        .map(|row| {
            schema
                .fields()
                .iter()
                .map(|field| field.name().clone())
                .zip(row)
                .collect()
        })
        .collect()
}
