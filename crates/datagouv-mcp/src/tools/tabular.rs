//! The rows of CSV/XLSX resources through the Tabular API:
//! `query_resource_data` (the official parameters, then any number of
//! filters with all twelve operators, `any_of`/`all_of` groups, several
//! sorts, columns, aggregations), `get_resource_profile`,
//! `export_resource_data`.

use std::fmt::Write as _;

use datagouv::{
    Aggregate, Condition, Error, ExportFormat, ExportOptions, Filter, Op, Order, Query, SendExt,
};
use rmcp::{handler::server::wrapper::Parameters, tool, tool_router};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::{
    DatagouvMcp, ToolResult, answer, default_page, default_page_size, finish, page_bounds,
};
use crate::render;

closed_set! {
    /// A filter's operator: `in`/`notin` take a comma list; `less`/`greater`
    /// include the value, `strictly_*` do not; `isnull`/`isnotnull` take no value.
    FilterOperator {
        Exact = "exact",
        Differs = "differs",
        IsNull = "isnull",
        IsNotNull = "isnotnull",
        Contains = "contains",
        NotContains = "notcontains",
        In = "in",
        NotIn = "notin",
        Less = "less",
        Greater = "greater",
        StrictlyLess = "strictly_less",
        StrictlyGreater = "strictly_greater",
    }
}

closed_set! {
    /// A sort's direction.
    Direction {
        Asc = "asc",
        Desc = "desc",
    }
}

closed_set! {
    /// An aggregate function.
    AggregateFunction {
        Count = "count",
        Avg = "avg",
        Min = "min",
        Max = "max",
        Sum = "sum",
    }
}

closed_set! {
    /// How the members of a condition group combine.
    Combine {
        AnyOf = "any_of",
        AllOf = "all_of",
    }
}

closed_set! {
    /// An export's file format.
    ExportFormatArg {
        Csv = "csv",
        Json = "json",
        Parquet = "parquet",
    }
}

/// One Tabular filter.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(inline)]
pub struct FilterArg {
    /// The column, exactly as get_resource_profile names it.
    pub column: String,
    /// How the column compares with the value.
    pub operator: FilterOperator,
    /// The value: none for isnull/isnotnull, a comma-separated list for in/notin.
    #[serde(default)]
    #[schemars(with = "String")]
    pub value: Option<String>,
}

/// A condition group at the third level: filters only.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(inline)]
pub struct InnerGroup {
    /// any_of: at least one filter holds (OR); all_of: every filter holds (AND).
    pub mode: Combine,
    /// The filters of this group (one at least).
    pub filters: Vec<FilterArg>,
}

/// A condition group at the second level: filters and groups of filters.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(inline)]
pub struct Group {
    /// any_of: at least one member holds (OR); all_of: every member holds (AND).
    pub mode: Combine,
    /// Filters, members of this group.
    #[serde(default)]
    pub filters: Vec<FilterArg>,
    /// Groups of filters, members of this group.
    #[serde(default)]
    pub groups: Vec<InnerGroup>,
}

/// A condition: filters and groups combined by `mode`, three levels deep at
/// most, e.g. `(a OR b) AND (c OR (d AND e))`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(inline)]
pub struct ConditionArg {
    /// any_of: at least one member holds (OR); all_of: every member holds (AND).
    pub mode: Combine,
    /// Filters, members of the condition.
    #[serde(default)]
    pub filters: Vec<FilterArg>,
    /// Groups (each with its own mode, filters and groups of filters), members of the condition.
    #[serde(default)]
    pub groups: Vec<Group>,
}

/// One sort.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(inline)]
pub struct SortArg {
    /// The column.
    pub column: String,
    /// The direction (leave out for ascending).
    #[serde(default)]
    #[schemars(with = "Direction")]
    pub direction: Option<Direction>,
}

/// One aggregate.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(inline)]
pub struct AggregateArg {
    /// The column (an indexed one; get_resource_profile lists them).
    pub column: String,
    /// The function.
    pub function: AggregateFunction,
}

/// `query_resource_data` (official parameters, then the extensions).
#[derive(Debug, Deserialize, JsonSchema)]
pub struct QueryResourceData {
    /// The resource's id (a UUID), as list_dataset_resources lists it.
    pub resource_id: String,
    /// The page, from 1.
    #[serde(default = "default_page")]
    #[schemars(range(min = 1), transform = super::whole)]
    pub page: u64,
    /// Rows per page, 1 to 50 (the Tabular API's limit).
    #[serde(default = "default_page_size")]
    #[schemars(range(min = 1, max = 50), transform = super::whole)]
    pub page_size: u64,
    /// One filter's column (the official form; `filters` takes more).
    #[serde(default)]
    #[schemars(with = "String")]
    pub filter_column: Option<String>,
    /// That filter's value.
    #[serde(default)]
    #[schemars(with = "String")]
    pub filter_value: Option<String>,
    /// That filter's operator (leave out for exact).
    #[serde(default)]
    #[schemars(with = "FilterOperator")]
    pub filter_operator: Option<FilterOperator>,
    /// One sort's column (the official form; `sorts` takes more).
    #[serde(default)]
    #[schemars(with = "String")]
    pub sort_column: Option<String>,
    /// That sort's direction (leave out for ascending).
    #[serde(default)]
    #[schemars(with = "Direction")]
    pub sort_direction: Option<Direction>,
    /// More filters, all of which must hold.
    #[serde(default)]
    pub filters: Vec<FilterArg>,
    /// A condition of any_of/all_of groups (OR/AND), three levels deep at most; it must hold too.
    #[serde(default)]
    #[schemars(with = "ConditionArg")]
    pub condition: Option<ConditionArg>,
    /// More sorts, in order.
    #[serde(default)]
    pub sorts: Vec<SortArg>,
    /// Only these columns (leave out for all).
    #[serde(default)]
    pub columns: Vec<String>,
    /// Group by these columns (indexed columns of resources the server aggregates; see get_resource_profile).
    #[serde(default)]
    pub group_by: Vec<String>,
    /// Aggregates per group.
    #[serde(default)]
    pub aggregates: Vec<AggregateArg>,
}

/// `export_resource_data`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct ExportResourceData {
    /// The file to write, relative to the allowed directory (e.g. `exports/rows.csv`).
    pub file: String,
    /// The file's format (leave out for csv).
    #[serde(default)]
    #[schemars(with = "ExportFormatArg")]
    pub format: Option<ExportFormatArg>,
    /// The query: the same fields as `query_resource_data` (page and page size are ignored).
    #[serde(flatten)]
    pub query: QueryResourceData,
}

impl DatagouvMcp {
    /// The Tabular query the arguments describe, checked before sending.
    fn tabular_query(&self, args: &QueryResourceData) -> Result<Query, Error> {
        let mut query = self.client.tabular_resource(&args.resource_id)?;
        if let (Some(column), Some(value)) = (&args.filter_column, &args.filter_value) {
            let operator = args.filter_operator.unwrap_or(FilterOperator::Exact);
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
            query = query.sort(column.as_str(), order_of(args.sort_direction));
        }
        for sort in &args.sorts {
            query = query.sort(sort.column.as_str(), order_of(sort.direction));
        }
        if !args.columns.is_empty() {
            query = query.columns(args.columns.iter().map(String::as_str));
        }
        for column in &args.group_by {
            query = query.aggregate(column.as_str(), Aggregate::GroupBy);
        }
        for aggregate in &args.aggregates {
            let function = match aggregate.function {
                AggregateFunction::Count => Aggregate::Count,
                AggregateFunction::Avg => Aggregate::Avg,
                AggregateFunction::Min => Aggregate::Min,
                AggregateFunction::Max => Aggregate::Max,
                AggregateFunction::Sum => Aggregate::Sum,
            };
            query = query.aggregate(aggregate.column.as_str(), function);
        }
        Ok(query)
    }
}

fn filter_of(filter: &FilterArg) -> Result<Filter, Error> {
    make_filter(
        &filter.column,
        filter.operator,
        filter.value.as_deref().unwrap_or_default(),
    )
}

/// A filter from its column, operator and value; `in`/`notin` values are
/// comma lists, as the descriptions say.
fn make_filter(column: &str, operator: FilterOperator, value: &str) -> Result<Filter, Error> {
    let op = Op::parse(operator.as_str())?;
    Ok(match op {
        Op::In | Op::NotIn => Filter::list(column, op, value.split(',').map(str::trim)),
        _ => Filter::new(column, op, value),
    })
}

/// `members` combined by `mode`; a group with no member is refused (it
/// would hold always or never, surely not what was meant).
fn combine(mode: Combine, members: Vec<Condition>, level: &str) -> Result<Condition, Error> {
    if members.is_empty() {
        return Err(Error::InvalidInput(format!(
            "a {level} of `condition` has no filters and no groups: give it at least one"
        )));
    }
    Ok(match mode {
        Combine::AnyOf => Condition::Or(members),
        Combine::AllOf => Condition::And(members),
    })
}

fn condition_of(condition: &ConditionArg) -> Result<Condition, Error> {
    let mut members = filters_of(&condition.filters)?;
    for group in &condition.groups {
        let mut inner = filters_of(&group.filters)?;
        for leaf in &group.groups {
            inner.push(combine(
                leaf.mode,
                filters_of(&leaf.filters)?,
                "group's group",
            )?);
        }
        members.push(combine(group.mode, inner, "group")?);
    }
    combine(condition.mode, members, "condition")
}

fn filters_of(filters: &[FilterArg]) -> Result<Vec<Condition>, Error> {
    filters
        .iter()
        .map(|filter| filter_of(filter).map(Condition::from))
        .collect()
}

fn order_of(direction: Option<Direction>) -> Order {
    match direction {
        Some(Direction::Desc) => Order::Desc,
        Some(Direction::Asc) | None => Order::Asc,
    }
}

#[tool_router(router = tabular_router, vis = "pub(super)")]
impl DatagouvMcp {
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
                text.push_str(&render::catalog_data(&render::table(&rows.rows)));
            }
            let more = match total {
                Some(total) => page * size < total,
                None => rows.rows.len() as u64 == size,
            };
            text.push('\n');
            text.push_str(&render::next_page("query_resource_data", page, more));
            Ok::<_, Error>(answer(text, json!({"total": total, "page": page, "page_size": size, "next_page": more.then_some(page + 1), "rows": rows.rows})))
        }.await)
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
    async fn get_resource_profile(
        &self,
        Parameters(args): Parameters<super::ResourceId>,
    ) -> ToolResult {
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
            let mut table = String::from("| column | type | format | indexed |\n| --- | --- | --- | --- |\n");
            for column in &profile.columns {
                let indexed = if indexes.contains(&column.name) { "yes" } else { "" };
                let _ = writeln!(table, "| {} | {} | {} | {indexed} |", column.name, column.python_type, column.format);
            }
            text.push_str(&render::catalog_data(&table));
            text.push_str(if listed {
                "Aggregation (group_by, aggregates): allowed on the indexed columns."
            } else {
                "Aggregation: not allowed for this resource (the server aggregates only the resources it lists)."
            });
            let columns: Vec<Value> = profile.columns.iter().map(|c| json!({"name": c.name, "type": c.python_type, "format": c.format})).collect();
            Ok::<_, Error>(answer(text, json!({"columns": columns, "indexes": indexes, "total_lines": profile.total_lines, "aggregation_allowed": listed})))
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
                let format_name = args.format.unwrap_or(ExportFormatArg::Csv).as_str();
                let format = ExportFormat::parse(format_name).ok_or_else(|| {
                    Error::InvalidInput(format!(
                        "format `{format_name}` is not built into this server: csv or json"
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
                Ok::<_, Error>(answer(
                    text,
                    json!({"file": args.file, "rows": summary.rows, "bytes": summary.bytes}),
                ))
            }
            .await,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn condition(json: Value) -> Result<Condition, String> {
        let arg: ConditionArg = serde_json::from_value(json).map_err(|e| e.to_string())?;
        condition_of(&arg).map_err(|e| e.to_string())
    }

    #[test]
    fn conditions_nest_three_levels_and_no_deeper() {
        let three = condition(json!({
            "mode": "all_of",
            "filters": [{"column": "a", "operator": "exact", "value": "1"}],
            "groups": [{
                "mode": "any_of",
                "filters": [{"column": "b", "operator": "isnull"}],
                "groups": [{"mode": "all_of", "filters": [
                    {"column": "c", "operator": "greater", "value": "2"},
                    {"column": "d", "operator": "in", "value": "x, y"}
                ]}]
            }]
        }))
        .unwrap();
        let Condition::And(members) = three else {
            panic!("{three:?}")
        };
        assert_eq!(members.len(), 2);
        assert!(
            matches!(&members[1], Condition::Or(inner) if matches!(&inner[1], Condition::And(leaf) if leaf.len() == 2))
        );
        let four = condition(
            json!({"mode": "any_of", "groups": [{"mode": "any_of", "groups": [
            {"mode": "any_of", "filters": [], "groups": []}]}]}),
        )
        .unwrap_err();
        assert!(four.contains("unknown field `groups`"), "{four}");
        let empty =
            condition(json!({"mode": "any_of", "groups": [{"mode": "all_of"}]})).unwrap_err();
        assert!(
            empty.contains("group of `condition` has no filters"),
            "{empty}"
        );
        let operator =
            condition(json!({"mode": "any_of", "filters": [{"column": "a", "operator": "like"}]}))
                .unwrap_err();
        assert!(operator.contains("unknown variant `like`"), "{operator}");
    }
}
