//! Queries of the Tabular and Metrics APIs: typed filters, `or`/`and`
//! groups, sort, column selection, aggregation, page size; encoded so that
//! the server reads exactly what was asked, or refused before sending.
//!
//! The servers (api-tabular 0.4.1) read `<column>__<operator>=<value>`
//! query items. What they cannot be told is refused here with the reason:
//! `contains` values with `%`, `_` or `*` (the server treats them as
//! wildcards), quotes or commas inside `or`/`and` groups, list operators in
//! groups, aggregation on a column whose name holds `__`, page sizes
//! outside 1–50.

use futures::{StreamExt, stream::BoxStream};
use reqwest::Url;
use serde::{Deserialize, de::DeserializeOwned};
use std::fmt::Write as _;

use crate::{Client, Error, error::excerpt};

/// The largest page the servers serve.
pub const MAX_PAGE_SIZE: u32 = 50;

/// A filter operator of the Tabular and Metrics APIs (the servers may add
/// more: match with a `_` arm).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Op {
    /// Equal to the value.
    Exact,
    /// Not equal to the value; rows where the column is NULL match too (as
    /// the server does; `NotIn` and `NotContains` leave NULLs out).
    Differs,
    /// The column is NULL (no value).
    IsNull,
    /// The column is not NULL (no value).
    IsNotNull,
    /// Contains the value, ignoring case (no `%`, `_`, `*` in the value).
    Contains,
    /// Does not contain the value, ignoring case.
    NotContains,
    /// Equal to one of the values.
    In,
    /// Equal to none of the values.
    NotIn,
    /// Less than **or equal to** the value (the server's `less` is inclusive).
    Less,
    /// Greater than **or equal to** the value (the server's `greater` is inclusive).
    Greater,
    /// Strictly less than the value.
    StrictlyLess,
    /// Strictly greater than the value.
    StrictlyGreater,
}

impl Op {
    /// The operator as the server names it.
    pub fn name(self) -> &'static str {
        match self {
            Op::Exact => "exact",
            Op::Differs => "differs",
            Op::IsNull => "isnull",
            Op::IsNotNull => "isnotnull",
            Op::Contains => "contains",
            Op::NotContains => "notcontains",
            Op::In => "in",
            Op::NotIn => "notin",
            Op::Less => "less",
            Op::Greater => "greater",
            Op::StrictlyLess => "strictly_less",
            Op::StrictlyGreater => "strictly_greater",
        }
    }

    /// Reads an operator name (`exact`, `strictly_less`, …).
    pub fn parse(name: &str) -> Result<Op, Error> {
        const ALL: [Op; 12] = [
            Op::Exact,
            Op::Differs,
            Op::IsNull,
            Op::IsNotNull,
            Op::Contains,
            Op::NotContains,
            Op::In,
            Op::NotIn,
            Op::Less,
            Op::Greater,
            Op::StrictlyLess,
            Op::StrictlyGreater,
        ];
        ALL.into_iter().find(|op| op.name() == name).ok_or_else(|| {
            let names: Vec<&str> = ALL.iter().map(|op| op.name()).collect();
            Error::InvalidInput(format!(
                "unknown operator `{name}`: use one of {}",
                names.join(", ")
            ))
        })
    }

    fn takes_value(self) -> bool {
        !matches!(self, Op::IsNull | Op::IsNotNull)
    }

    fn takes_list(self) -> bool {
        matches!(self, Op::In | Op::NotIn)
    }
}

/// One condition on one column.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Filter {
    column: String,
    op: Op,
    values: Vec<String>,
}

impl Filter {
    /// A condition with one value (or none for `IsNull`/`IsNotNull`).
    pub fn new(column: impl Into<String>, op: Op, value: impl Into<String>) -> Filter {
        let values = if op.takes_value() {
            vec![value.into()]
        } else {
            Vec::new()
        };
        Filter {
            column: column.into(),
            op,
            values,
        }
    }

    /// `In`/`NotIn` with a list of values.
    pub fn list<I, S>(column: impl Into<String>, op: Op, values: I) -> Filter
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Filter {
            column: column.into(),
            op,
            values: values.into_iter().map(Into::into).collect(),
        }
    }

    /// The column it filters on.
    pub fn column(&self) -> &str {
        &self.column
    }

    /// The operator.
    pub fn op(&self) -> Op {
        self.op
    }

    fn check(&self) -> Result<(), Error> {
        let column = &self.column;
        if column.is_empty() {
            return Err(Error::InvalidInput("a filter needs a column name".into()));
        }
        let op = self.op.name();
        match (
            self.op.takes_value(),
            self.op.takes_list(),
            self.values.len(),
        ) {
            (false, _, 0) => {}
            (false, _, _) => {
                return Err(Error::InvalidInput(format!(
                    "`{column}__{op}` takes no value"
                )));
            }
            (true, true, 0) => {
                return Err(Error::InvalidInput(format!(
                    "`{column}__{op}` needs at least one value"
                )));
            }
            (true, false, 1) => {}
            (true, false, _) => {
                return Err(Error::InvalidInput(format!(
                    "`{column}__{op}` takes exactly one value"
                )));
            }
            (true, true, _) => {}
        }
        for value in &self.values {
            if value.is_empty() && self.op != Op::Exact && self.op != Op::Differs {
                return Err(Error::InvalidInput(format!(
                    "`{column}__{op}` needs a non-empty value"
                )));
            }
            if matches!(self.op, Op::Contains | Op::NotContains)
                && let Some(c) = value.chars().find(|c| matches!(c, '%' | '_' | '*'))
            {
                return Err(Error::InvalidInput(format!(
                    "`{column}__{op}` cannot search for `{c}`: the server reads `%`, `_` and `*` as wildcards; \
                     use `exact` or filter the rows after reading them"
                )));
            }
            if self.op.takes_list() && value.contains('"') {
                return Err(Error::InvalidInput(format!(
                    "`{column}__{op}` cannot take a value with a double quote (`{value}`): the server's list syntax has no escape for it"
                )));
            }
        }
        Ok(())
    }

    /// The query item: key and value (`None` for valueless flags).
    fn item(&self) -> (String, String) {
        let key = format!("{}__{}", self.column, self.op.name());
        let value = if self.op.takes_list() {
            self.values
                .iter()
                .map(|v| {
                    if v.contains(',') {
                        format!("\"{v}\"")
                    } else {
                        v.clone()
                    }
                })
                .collect::<Vec<_>>()
                .join(",")
        } else {
            // `isnull`/`isnotnull` are sent with an empty value: the server
            // ignores it, and a valueless key fails for columns holding `__`.
            self.values.first().cloned().unwrap_or_default()
        };
        (key, value)
    }
}

/// A nested `or`/`and` group (api-tabular 0.4: `or=(a__exact."x",and(…))`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Condition {
    /// One filter.
    Filter(Filter),
    /// Any of the conditions holds.
    Or(Vec<Condition>),
    /// All of the conditions hold.
    And(Vec<Condition>),
}

impl From<Filter> for Condition {
    fn from(filter: Filter) -> Self {
        Condition::Filter(filter)
    }
}

impl Condition {
    /// Writes the condition in the server's group syntax, as api-tabular
    /// 0.4.1 parses it (`core/query.py`, `parse_operator`/`find_arg_val`):
    /// items are split at commas and balanced parentheses whatever the
    /// quotes, a column is quoted only when it holds `.` or a parenthesis,
    /// values are quoted (PostgREST then reads `\` as an escape), except
    /// `contains`/`notcontains` values, which the server wraps in `*…*`
    /// outside the quotes and so must stand bare.
    fn encode(&self, out: &mut String) -> Result<(), Error> {
        match self {
            Condition::Filter(filter) => encode_group_filter(filter, out)?,
            Condition::Or(list) | Condition::And(list) => {
                if list.is_empty() {
                    return Err(Error::InvalidInput(
                        "an or/and group needs at least one condition".into(),
                    ));
                }
                out.push_str(if matches!(self, Condition::Or(_)) {
                    "or("
                } else {
                    "and("
                });
                for (index, item) in list.iter().enumerate() {
                    if index > 0 {
                        out.push(',');
                    }
                    item.encode(out)?;
                }
                out.push(')');
            }
        }
        Ok(())
    }

    /// The top-level query item (`or=(…)`): the server reads no top-level
    /// `and=`, so an `and` group (or a lone filter) is sent as `or=(and(…))`.
    fn top_level_item(&self) -> Result<String, Error> {
        let mut text = String::new();
        self.encode(&mut text)?;
        let inner = match self {
            Condition::Or(_) => text["or".len()..].to_owned(),
            _ => format!("({text})"),
        };
        Ok(format!("or={}", encode(&inner)))
    }
}

/// Whether a text has as many `(` as `)`: the server splits group items at
/// commas outside parentheses, counting them even inside quotes.
fn balanced(text: &str) -> bool {
    text.matches('(').count() == text.matches(')').count()
}

/// One filter inside an or/and group.
fn encode_group_filter(filter: &Filter, out: &mut String) -> Result<(), Error> {
    filter.check()?;
    let column = &filter.column;
    let op = filter.op;
    let name = op.name();
    if op.takes_list() {
        return Err(Error::InvalidInput(format!(
            "`{column}__{name}` cannot stand in an or/and group (the server has no list syntax there): \
             write one `exact` filter per value in an `or` group"
        )));
    }
    if column.contains(['"', ',']) || !balanced(column) {
        return Err(Error::InvalidInput(format!(
            "the column `{column}` cannot be named in an or/and group: the server's group syntax has no escape for \
             double quotes, commas or unbalanced parentheses in a name; use a top-level filter instead"
        )));
    }
    let quoted = column.contains(['.', '(', ')']);
    let value = filter.values.first();
    if let Some(value) = value {
        if matches!(op, Op::Contains | Op::NotContains) {
            if let Some(c) = value
                .chars()
                .find(|c| matches!(c, '.' | ',' | '(' | ')' | '"' | '\\'))
            {
                return Err(Error::InvalidInput(format!(
                    "`{column}__{name}` cannot search for `{c}` inside an or/and group: the server sends `contains` \
                     values there unquoted; use a top-level filter instead"
                )));
            }
        } else if value.contains(['"', ',']) || !balanced(value) {
            return Err(Error::InvalidInput(format!(
                "the value `{value}` cannot stand in an or/and group: the server's group syntax has no escape for double \
                 quotes, commas or unbalanced parentheses; use a top-level filter instead"
            )));
        }
        if quoted && matches!(op, Op::StrictlyLess | Op::StrictlyGreater) {
            // api-tabular 0.4.1 misreads `strictly_…` after a quoted column
            // (its pattern takes `[a-z]+` as the operator): send the same
            // condition as `less`/`greater` and `differs`.
            let wide = if op == Op::StrictlyLess {
                Op::Less
            } else {
                Op::Greater
            };
            return Condition::And(vec![
                Filter::new(column.clone(), wide, value.clone()).into(),
                Filter::new(column.clone(), Op::Differs, value.clone()).into(),
            ])
            .encode(out);
        }
    }
    if quoted {
        write!(out, "\"{column}\"__{name}").expect("writing to a String");
    } else {
        write!(out, "{column}__{name}").expect("writing to a String");
    }
    match value {
        None => {}
        Some(value) if matches!(op, Op::Contains | Op::NotContains) => {
            write!(out, ".{value}").expect("writing to a String");
        }
        Some(value) => {
            let escaped = value.replace('\\', "\\\\");
            write!(out, ".\"{escaped}\"").expect("writing to a String");
        }
    }
    Ok(())
}

/// A sort direction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Order {
    /// Ascending (NULLs last).
    Asc,
    /// Descending (NULLs first).
    Desc,
}

/// An aggregation of the Tabular API (on indexed columns of listed
/// resources) or the Metrics API (the servers may add more: match with a
/// `_` arm).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Aggregate {
    /// Group by this column.
    GroupBy,
    /// Count the values.
    Count,
    /// Average.
    Avg,
    /// Minimum.
    Min,
    /// Maximum.
    Max,
    /// Sum.
    Sum,
}

impl Aggregate {
    /// The aggregation as the server names it.
    pub fn name(self) -> &'static str {
        match self {
            Aggregate::GroupBy => "groupby",
            Aggregate::Count => "count",
            Aggregate::Avg => "avg",
            Aggregate::Min => "min",
            Aggregate::Max => "max",
            Aggregate::Sum => "sum",
        }
    }
}

/// What a query reads: a Tabular resource or a Metrics model.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Target {
    Tabular(String),
    Metrics(String),
}

/// A query of rows; build it with [`Client::tabular_resource`] or
/// [`Client::metrics_model`].
#[derive(Clone, Debug)]
pub struct Query {
    pub(crate) client: Client,
    pub(crate) target: Target,
    pub(crate) columns: Vec<String>,
    pub(crate) filters: Vec<Filter>,
    pub(crate) groups: Vec<Condition>,
    pub(crate) sorts: Vec<(String, Order)>,
    pub(crate) aggregates: Vec<(String, Aggregate)>,
    pub(crate) page_size: u32,
}

/// One page of rows.
#[derive(Clone, Debug)]
pub struct RowsPage<T> {
    /// The rows.
    pub rows: Vec<T>,
    /// How many rows the whole query matches (absent for aggregations).
    pub total: Option<u64>,
}

#[derive(Deserialize)]
struct RawPage<T> {
    data: Vec<T>,
    #[serde(default)]
    meta: Option<RawMeta>,
}

#[derive(Deserialize)]
struct RawMeta {
    total: Option<u64>,
}

/// The sort item. PostgREST (behind api-tabular 0.4.1) reads only the
/// first `order`, and api-tabular forwards a `<column>__sort` value into it
/// unchanged, so several sorts travel in one value:
/// `a__sort=asc,"b".desc` becomes `order="a".asc,"b".desc`.
fn sort_item(sorts: &[(String, Order)]) -> Result<Option<String>, Error> {
    let direction = |order: &Order| if *order == Order::Asc { "asc" } else { "desc" };
    let Some(((first, order), rest)) = sorts.split_first() else {
        return Ok(None);
    };
    let mut value = direction(order).to_owned();
    for (column, order) in rest {
        if column.contains('"') {
            return Err(Error::InvalidInput(format!(
                "cannot sort by `{column}` after another column: the server's sort list has no escape for a double quote; \
                 make it the first sort"
            )));
        }
        write!(value, ",\"{column}\".{}", direction(order)).expect("writing to a String");
    }
    Ok(Some(format!(
        "{}={}",
        encode(&format!("{first}__sort")),
        encode(&value)
    )))
}

/// Percent-encodes a query key or value (space as `+`, which the servers read as a space).
fn encode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

impl Query {
    pub(crate) fn new(client: Client, target: Target) -> Query {
        Query {
            client,
            target,
            columns: Vec::new(),
            filters: Vec::new(),
            groups: Vec::new(),
            sorts: Vec::new(),
            aggregates: Vec::new(),
            page_size: 20,
        }
    }

    /// Only these columns (Tabular API).
    pub fn columns<I, S>(mut self, columns: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.columns = columns.into_iter().map(Into::into).collect();
        self
    }

    /// Adds a condition all rows must meet.
    pub fn filter(mut self, column: impl Into<String>, op: Op, value: impl Into<String>) -> Self {
        self.filters.push(Filter::new(column, op, value));
        self
    }

    /// Adds a ready-made filter (e.g. [`Filter::list`]).
    pub fn with_filter(mut self, filter: Filter) -> Self {
        self.filters.push(filter);
        self
    }

    /// Adds an `or`/`and` group (Tabular API, api-tabular 0.4 or later).
    pub fn group(mut self, condition: Condition) -> Self {
        self.groups.push(condition);
        self
    }

    /// Sorts by a column (several sorts apply in order).
    pub fn sort(mut self, column: impl Into<String>, order: Order) -> Self {
        self.sorts.push((column.into(), order));
        self
    }

    /// Adds an aggregation (sent without a value, as the servers require).
    pub fn aggregate(mut self, column: impl Into<String>, aggregate: Aggregate) -> Self {
        self.aggregates.push((column.into(), aggregate));
        self
    }

    /// Rows per page, 1 to 50 (checked when the query is sent).
    pub fn page_size(mut self, size: u32) -> Self {
        self.page_size = size;
        self
    }

    /// Whether the query reads a Tabular API resource (else a Metrics model).
    pub fn is_tabular(&self) -> bool {
        matches!(self.target, Target::Tabular(_))
    }

    /// The query string, checked: everything the server will read, or the
    /// reason it cannot be sent. `paging` adds `page` and `page_size`.
    pub fn query_string(&self, paging: Option<u64>) -> Result<String, Error> {
        let mut items: Vec<String> = Vec::new();
        let metrics = matches!(self.target, Target::Metrics(_));
        if !self.columns.is_empty() {
            if metrics {
                return Err(Error::InvalidInput(
                    "the Metrics API cannot select columns".into(),
                ));
            }
            if let Some(bad) = self
                .columns
                .iter()
                .find(|c| c.contains([',', '"']) || c.is_empty())
            {
                return Err(Error::InvalidInput(format!(
                    "the column `{bad}` cannot be selected: `columns` is a comma list with no escape for `,` or `\"`"
                )));
            }
            items.push(format!("columns={}", encode(&self.columns.join(","))));
        }
        for filter in &self.filters {
            filter.check()?;
            if metrics && !matches!(filter.op, Op::Exact | Op::Contains | Op::Less | Op::Greater) {
                return Err(Error::InvalidInput(format!(
                    "the Metrics API has no `{}` operator: use exact, contains, less or greater",
                    filter.op.name()
                )));
            }
            let (key, value) = filter.item();
            items.push(format!("{}={}", encode(&key), encode(&value)));
        }
        for group in &self.groups {
            if metrics {
                return Err(Error::InvalidInput(
                    "the Metrics API has no or/and groups".into(),
                ));
            }
            items.push(group.top_level_item()?);
        }
        if let Some(item) = sort_item(&self.sorts)? {
            items.push(item);
        }
        for (column, aggregate) in &self.aggregates {
            if column.contains("__") {
                return Err(Error::InvalidInput(format!(
                    "cannot aggregate on `{column}`: the server cannot read a valueless flag on a column whose name holds `__`"
                )));
            }
            items.push(encode(&format!("{column}__{}", aggregate.name())));
        }
        if let Some(page) = paging {
            if !(1..=MAX_PAGE_SIZE).contains(&self.page_size) {
                return Err(Error::InvalidInput(format!(
                    "page size {} is out of range: the servers serve 1 to {MAX_PAGE_SIZE} rows a page",
                    self.page_size
                )));
            }
            if page == 0 {
                return Err(Error::InvalidInput("pages are numbered from 1".into()));
            }
            items.push(format!("page={page}&page_size={}", self.page_size));
        }
        Ok(items.join("&"))
    }

    /// The URL of an endpoint of the target (`data/`, `data/csv/`, …).
    pub(crate) fn url(&self, endpoint: &str, query: &str) -> Result<Url, Error> {
        let base = match &self.target {
            Target::Tabular(rid) => format!(
                "{}/api/resources/{rid}/{endpoint}",
                self.client.tabular_root()
            ),
            Target::Metrics(model) => format!(
                "{}/api/{}/{endpoint}",
                self.client.metrics_root(),
                encode(model)
            ),
        };
        let text = if query.is_empty() {
            base
        } else {
            format!("{base}?{query}")
        };
        Url::parse(&text)
            .map_err(|e| Error::InvalidInput(format!("cannot build the URL {text}: {e}")))
    }

    /// Sends a GET to an endpoint of the target; error answers become
    /// [`Error`]s that say what happened.
    pub(crate) async fn get(
        &self,
        endpoint: &str,
        query: &str,
    ) -> Result<reqwest::Response, Error> {
        self.get_at(self.url(endpoint, query)?).await
    }

    /// Sends a GET to a URL of the target (see [`Query::get`]).
    pub(crate) async fn get_at(&self, url: Url) -> Result<reqwest::Response, Error> {
        let response = self.client.get_url(url, "query").await?;
        if response.status().is_success() {
            return Ok(response);
        }
        Err(self.explain(Error::from_response(response).await).await)
    }

    /// Adds what the servers' bare answers leave out.
    async fn explain(&self, error: Error) -> Error {
        let Error::Api {
            status,
            url,
            message,
            field_errors,
        } = error
        else {
            return error;
        };
        let what = match &self.target {
            Target::Tabular(rid) => format!("resource {rid}"),
            Target::Metrics(model) => format!("metrics model `{model}`"),
        };
        let message = match status.as_u16() {
            403 if !self.aggregates.is_empty() => format!(
                "{message}: aggregation is limited to the resources the Tabular API lists in /api/aggregation-exceptions/, \
                 and to their indexed columns"
            ),
            400 => match self.mistake().await {
                Some(mistake) => format!("{message}: {mistake}"),
                None => match self.valid_columns().await {
                    Some(columns) => format!(
                        "{message}; the valid columns of {what} are: {}",
                        columns.join(", ")
                    ),
                    None => message,
                },
            },
            404 => format!(
                "{message}: no {what} in this API (is it a CSV/XLS resource the Tabular API has processed?)"
            ),
            410 => format!("{message}: {what} was deleted"),
            _ => message,
        };
        Error::Api {
            status,
            url,
            message,
            field_errors,
        }
    }

    /// The profile, or `None` on any failure: for messages that add to an
    /// error already being reported (it must not report errors itself).
    pub(crate) async fn quiet_profile(&self) -> Option<Profile> {
        let response = self
            .client
            .get_url(self.url("profile/", "").ok()?, "profile")
            .await
            .ok()?;
        Some(parse_profile(&response.json().await.ok()?))
    }

    /// What the profile says is wrong with the query's values (one its
    /// column's type cannot hold), for a 400 of the Tabular API (a column it
    /// lacks is told by the list of the valid ones).
    async fn mistake(&self) -> Option<String> {
        if !self.is_tabular() {
            return None;
        }
        let profile = self.quiet_profile().await?;
        if profile.columns.is_empty() {
            return None;
        }
        self.check_values(&profile).err().map(|e| match e {
            Error::InvalidInput(reason) => reason,
            other => other.to_string(),
        })
    }

    async fn valid_columns(&self) -> Option<Vec<String>> {
        match &self.target {
            Target::Tabular(_) => Some(
                self.quiet_profile()
                    .await?
                    .columns
                    .into_iter()
                    .map(|c| c.name)
                    .collect(),
            ),
            Target::Metrics(_) => {
                let response = self
                    .client
                    .get_url(self.url("data/", "page_size=1").ok()?, "columns")
                    .await
                    .ok()?;
                let page: serde_json::Value = response.json().await.ok()?;
                Some(
                    page.pointer("/data/0")?
                        .as_object()?
                        .keys()
                        .cloned()
                        .collect(),
                )
            }
        }
    }

    /// One page of rows (1-based), decoded into `T`.
    pub async fn page<T: DeserializeOwned>(&self, page: u64) -> Result<RowsPage<T>, Error> {
        let query = self.query_string(Some(page))?;
        let response = self.get("data/", &query).await?;
        let body = response.bytes().await.map_err(Error::Transport)?;
        let raw: RawPage<T> = serde_json::from_slice(&body).map_err(|source| Error::Decode {
            excerpt: excerpt(&body),
            source,
        })?;
        Ok(RowsPage {
            rows: raw.data,
            total: raw.meta.and_then(|m| m.total),
        })
    }

    /// How many rows match (one request of one row).
    pub async fn total(&self) -> Result<u64, Error> {
        let one = Query {
            page_size: 1,
            ..self.clone()
        };
        let page: RowsPage<serde_json::Value> = one.page(1).await?;
        page.total
            .ok_or_else(|| Error::InvalidInput("the server gives no total for aggregations".into()))
    }

    /// Every matching row, lazily, page by page, decoded into `T` (any
    /// `DeserializeOwned`, or `serde_json::Map<String, Value>`).
    pub fn rows<T: DeserializeOwned + Send + 'static>(
        &self,
    ) -> BoxStream<'static, Result<T, Error>> {
        let query = self.clone();
        futures::stream::try_unfold(Some(1u64), move |next| {
            let query = query.clone();
            async move {
                let Some(number) = next else { return Ok(None) };
                let page: RowsPage<T> = query.page(number).await?;
                let full = page.rows.len() == query.page_size as usize;
                let within = page
                    .total
                    .is_none_or(|total| number * u64::from(query.page_size) < total);
                let next = (full && within).then_some(number + 1);
                Ok(Some((
                    futures::stream::iter(page.rows.into_iter().map(Ok)),
                    next,
                )))
            }
        })
        .map(|pages| match pages {
            Ok(rows) => rows.left_stream(),
            Err(error) => futures::stream::once(futures::future::ready(Err(error))).right_stream(),
        })
        .flatten()
        .boxed()
    }
}

/// What is wrong with `value` for a column of this profile type (what it
/// holds and how to write it), or `None` when the server can read it.
fn value_mistake(python_type: &str, value: &str) -> Option<String> {
    let digits = |text: &str| !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit());
    let is_date = |text: &str| {
        let parts: Vec<&str> = text.split('-').collect();
        parts.len() == 3
            && parts[0].len() == 4
            && parts[1].len() == 2
            && parts[2].len() == 2
            && parts.iter().all(|p| digits(p))
    };
    let with_point = value.replace(',', ".");
    match python_type {
        "int" if value.trim().parse::<i64>().is_err() => {
            Some(match with_point.trim().parse::<f64>() {
                Ok(number) if number.is_finite() => format!(
                    "holds whole numbers, and `{value}` is none: write one, e.g. {}",
                    number.trunc()
                ),
                _ => format!("holds whole numbers, and `{value}` is none: write one, e.g. 42"),
            })
        }
        "float" if value.trim().parse::<f64>().is_err() => {
            Some(match with_point.trim().parse::<f64>() {
                Ok(_) => format!("holds numbers, written with a point: write {with_point}"),
                Err(_) => format!("holds numbers, and `{value}` is none: write one, e.g. 3.5"),
            })
        }
        "date" if !is_date(value.trim()) => Some(format!(
            "holds dates, and `{value}` is none: write YYYY-MM-DD, e.g. 2024-01-31"
        )),
        "datetime"
            if !value.trim().get(..10).is_some_and(|day| {
                is_date(day)
                    && value.trim()[10..]
                        .chars()
                        .all(|c| c.is_ascii_digit() || " T:.+-Z".contains(c))
            }) =>
        {
            Some(format!(
                "holds date-times, and `{value}` is none: write YYYY-MM-DDTHH:MM:SS, e.g. 2024-01-31T08:30:00"
            ))
        }
        "bool"
            if ![
                "true", "false", "t", "f", "yes", "no", "on", "off", "1", "0",
            ]
            .contains(&value.trim().to_ascii_lowercase().as_str()) =>
        {
            Some(format!(
                "holds booleans, and `{value}` is none: write true or false"
            ))
        }
        _ => None,
    }
}

/// Reads a `/profile/` answer: columns in file order with their types.
fn parse_profile(value: &serde_json::Value) -> Profile {
    let profile = &value["profile"];
    let columns = profile["header"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|name| name.as_str())
        .map(|name| {
            let detail = &profile["columns"][name];
            let text = |key: &str| detail[key].as_str().unwrap_or_default().to_owned();
            Column {
                name: name.to_owned(),
                python_type: text("python_type"),
                format: text("format"),
            }
        })
        .collect();
    let indexes = value["indexes"].as_array().map(|list| {
        list.iter()
            .filter_map(|c| c.as_str().map(str::to_owned))
            .collect()
    });
    Profile {
        columns,
        indexes,
        total_lines: profile["total_lines"].as_u64(),
    }
}

/// One column of a resource, as the Tabular API profiled it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Column {
    /// The column name.
    pub name: String,
    /// `string`, `int`, `float`, `bool`, `date`, `datetime` or `json`.
    pub python_type: String,
    /// The detected format (e.g. `code_commune_insee`).
    pub format: String,
}

/// The profile of a Tabular API resource: its columns in file order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Profile {
    /// The columns, in file order.
    pub columns: Vec<Column>,
    /// Indexed columns (the only ones a listed resource can aggregate on).
    pub indexes: Option<Vec<String>>,
    /// Rows in the file.
    pub total_lines: Option<u64>,
}

impl Query {
    /// The resource's metadata (Tabular API).
    pub async fn info(&self) -> Result<serde_json::Value, Error> {
        self.get("", "")
            .await?
            .json()
            .await
            .map_err(Error::Transport)
    }

    /// The resource's typed columns (Tabular API).
    pub async fn profile(&self) -> Result<Profile, Error> {
        if matches!(self.target, Target::Metrics(_)) {
            return Err(Error::InvalidInput(
                "the Metrics API has no profiles".into(),
            ));
        }
        let body = self
            .get("profile/", "")
            .await?
            .bytes()
            .await
            .map_err(Error::Transport)?;
        let value: serde_json::Value =
            serde_json::from_slice(&body).map_err(|source| Error::Decode {
                excerpt: excerpt(&body),
                source,
            })?;
        Ok(parse_profile(&value))
    }

    /// Checks the query against the resource's profile before sending it:
    /// every column must exist (the error lists the valid ones), and the
    /// operators must suit the column types (JSON columns take only
    /// `isnull`/`isnotnull`; dates cannot be searched with `contains`).
    pub async fn check_columns(&self) -> Result<(), Error> {
        self.check_against(&self.profile().await?)
    }

    /// [`Query::check_columns`] with a profile already read; values must
    /// also suit their column's type (`100,5` in a number column, say).
    pub(crate) fn check_against(&self, profile: &Profile) -> Result<(), Error> {
        let find = |name: &str| profile.columns.iter().find(|c| c.name == name);
        let valid = || {
            let names: Vec<&str> = profile.columns.iter().map(|c| c.name.as_str()).collect();
            names.join(", ")
        };
        let filters = self.all_filters();
        let named = self
            .columns
            .iter()
            .chain(self.sorts.iter().map(|(c, _)| c))
            .chain(self.aggregates.iter().map(|(c, _)| c));
        for column in named.chain(filters.iter().map(|f| &f.column)) {
            if column != "__id" && find(column).is_none() {
                return Err(Error::InvalidInput(format!(
                    "the resource has no column `{column}`; its columns are: {}",
                    valid()
                )));
            }
        }
        self.check_values(profile)
    }

    /// Every filter, those inside groups included.
    fn all_filters(&self) -> Vec<&Filter> {
        let mut filters: Vec<&Filter> = self.filters.iter().collect();
        let mut pending: Vec<&Condition> = self.groups.iter().collect();
        while let Some(condition) = pending.pop() {
            match condition {
                Condition::Filter(filter) => filters.push(filter),
                Condition::Or(list) | Condition::And(list) => pending.extend(list),
            }
        }
        filters
    }

    /// The filters of known columns: operators and values that suit the
    /// column's type.
    fn check_values(&self, profile: &Profile) -> Result<(), Error> {
        for filter in self.all_filters() {
            let Some(column) = profile.columns.iter().find(|c| c.name == filter.column) else {
                continue;
            };
            let fits = match column.python_type.as_str() {
                "json" => matches!(filter.op, Op::IsNull | Op::IsNotNull),
                "date" | "datetime" => !matches!(filter.op, Op::Contains | Op::NotContains),
                _ => true,
            };
            if !fits {
                return Err(Error::InvalidInput(format!(
                    "`{}__{}` does not suit the {} column `{}`",
                    filter.column,
                    filter.op.name(),
                    column.python_type,
                    filter.column
                )));
            }
            if matches!(filter.op, Op::Contains | Op::NotContains) {
                continue;
            }
            for value in &filter.values {
                if let Some(mistake) = value_mistake(&column.python_type, value) {
                    return Err(Error::InvalidInput(format!(
                        "`{}__{}={value}`: the column `{}` {mistake}",
                        filter.column,
                        filter.op.name(),
                        filter.column
                    )));
                }
            }
        }
        Ok(())
    }
}

impl Client {
    /// A query of the rows of a Tabular API resource (its catalog id, a UUID).
    pub fn tabular_resource(&self, resource_id: &str) -> Result<Query, Error> {
        let id = resource_id.trim();
        let valid = id.len() == 36
            && id.chars().enumerate().all(|(i, c)| {
                if [8, 13, 18, 23].contains(&i) {
                    c == '-'
                } else {
                    c.is_ascii_hexdigit()
                }
            });
        if !valid {
            return Err(Error::InvalidInput(format!(
                "`{resource_id}` is not a resource id: the Tabular API takes the resource's UUID \
                 (e.g. 10000000-0000-4000-8000-000000000001), not a dataset id or slug"
            )));
        }
        Ok(Query::new(
            self.clone(),
            Target::Tabular(id.to_ascii_lowercase()),
        ))
    }

    /// A query of a Metrics API model: `site`, `datasets`, `organizations`,
    /// `reuses`, `resources`, `dataservices`, or any other table name.
    pub fn metrics_model(&self, model: &str) -> Result<Query, Error> {
        if model.is_empty() || !model.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(Error::InvalidInput(format!(
                "`{model}` is not a metrics model name (letters, digits, `_`)"
            )));
        }
        Ok(Query::new(self.clone(), Target::Metrics(model.to_owned())))
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    fn query() -> Query {
        Client::builder()
            .build()
            .unwrap()
            .tabular_resource("10000000-0000-4000-8000-000000000001")
            .unwrap()
    }

    const OPS: [Op; 8] = [
        Op::Exact,
        Op::Differs,
        Op::Less,
        Op::Greater,
        Op::StrictlyLess,
        Op::StrictlyGreater,
        Op::Contains,
        Op::NotContains,
    ];

    proptest! {
        /// Any column name and any value reach the server as exactly one
        /// `column__op=value` item, decoded back to what was asked, or are
        /// refused with a reason: never another item, never a changed value.
        #[test]
        fn filters_round_trip_or_are_refused(column in "\\PC{1,30}", value in "\\PC{0,40}", op in 0usize..8) {
            let op = OPS[op];
            match query().filter(column.clone(), op, value.clone()).query_string(None) {
                Ok(text) => {
                    let items: Vec<(String, String)> = url::form_urlencoded::parse(text.as_bytes()).into_owned().collect();
                    prop_assert_eq!(items, vec![(format!("{column}__{}", op.name()), value)]);
                }
                Err(Error::InvalidInput(reason)) => prop_assert!(!reason.is_empty()),
                Err(other) => prop_assert!(false, "unexpected error {other:?}"),
            }
        }

        /// Lists: every value comes back, in order, and nothing else is added.
        #[test]
        fn lists_round_trip_or_are_refused(values in proptest::collection::vec("[^\"]{1,12}", 1..6)) {
            if let Ok(text) = query().with_filter(Filter::list("c", Op::In, values.clone())).query_string(None) {
                let items: Vec<(String, String)> = url::form_urlencoded::parse(text.as_bytes()).into_owned().collect();
                prop_assert_eq!(items.len(), 1);
                let expected: Vec<String> = values.iter().map(|v| if v.contains(',') { format!("\"{v}\"") } else { v.clone() }).collect();
                prop_assert_eq!(&items[0].1, &expected.join(","));
            }
        }

        /// Values inside or/and groups are quoted; what cannot be quoted is refused.
        #[test]
        fn group_values_are_quoted_or_refused(value in "\\PC{1,20}") {
            let group = Condition::Or(vec![Filter::new("a", Op::Exact, value.clone()).into(), Filter::new("b", Op::IsNull, "").into()]);
            match query().group(group).query_string(None) {
                Ok(text) => {
                    let items: Vec<(String, String)> = url::form_urlencoded::parse(text.as_bytes()).into_owned().collect();
                    let escaped = value.replace('\\', "\\\\");
                    prop_assert_eq!(items, vec![("or".to_owned(), format!("(a__exact.\"{escaped}\",b__isnull)"))]);
                }
                Err(_) => prop_assert!(value.contains(['"', ',']) || !balanced(&value)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query() -> Query {
        Client::builder()
            .build()
            .unwrap()
            .tabular_resource("10000000-0000-4000-8000-000000000001")
            .unwrap()
    }

    #[test]
    fn filters_encode_every_character_the_server_splits_on() {
        let q = query()
            .filter("élément", Op::Exact, "a&b=c d+e")
            .filter("nom complet", Op::Contains, "Zoë")
            .filter("a__b", Op::IsNull, "")
            .with_filter(Filter::list("code", Op::In, ["x,y", "z"]));
        assert_eq!(
            q.query_string(None).unwrap(),
            "%C3%A9l%C3%A9ment__exact=a%26b%3Dc+d%2Be&nom+complet__contains=Zo%C3%AB&a__b__isnull=&code__in=%22x%2Cy%22%2Cz"
        );
    }

    #[test]
    fn aggregations_and_sorts_are_sent_as_the_server_wants() {
        let q = query()
            .aggregate("categorie", Aggregate::GroupBy)
            .aggregate("score", Aggregate::Avg)
            .sort("score", Order::Desc);
        assert_eq!(
            q.query_string(None).unwrap(),
            "score__sort=desc&categorie__groupby&score__avg"
        );
    }

    #[test]
    fn groups_quote_what_the_server_needs() {
        let q = query().group(Condition::Or(vec![
            Filter::new("avg.views", Op::Greater, "15.5").into(),
            Condition::And(vec![
                Filter::new("entier", Op::Less, "3").into(),
                Filter::new("actif", Op::IsNotNull, "").into(),
            ]),
        ]));
        let text = q.query_string(None).unwrap();
        let decoded: String = url::form_urlencoded::parse(text.as_bytes())
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        assert_eq!(
            decoded,
            r#"or=("avg.views"__greater."15.5",and(entier__less."3",actif__isnotnull))"#
        );
    }

    fn decoded(q: &Query) -> String {
        let text = q.query_string(None).unwrap();
        url::form_urlencoded::parse(text.as_bytes())
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("&")
    }

    #[test]
    fn what_api_tabular_misreads_is_sent_in_a_form_it_reads() {
        // `strictly_*` after a quoted column: `less`/`greater` and `differs`.
        let q = query().group(Condition::Or(vec![
            Filter::new("Population (2021)", Op::StrictlyLess, "1000").into(),
            Filter::new("plain", Op::StrictlyGreater, "5").into(),
        ]));
        assert_eq!(
            decoded(&q),
            r#"or=(and("Population (2021)"__less."1000","Population (2021)"__differs."1000"),plain__strictly_greater."5")"#
        );
        // No top-level `and=`; `contains` bare; backslashes escaped for PostgREST.
        let q = query().group(Condition::And(vec![
            Filter::new("nom", Op::Contains, "lodie D").into(),
            Filter::new("chemin", Op::Exact, r"C:\temp").into(),
        ]));
        assert_eq!(
            decoded(&q),
            r#"or=(and(nom__contains.lodie D,chemin__exact."C:\\temp"))"#
        );
        // Several sorts in one `order`.
        let q = query()
            .sort("nom complet", Order::Desc)
            .sort("avg.views", Order::Asc)
            .sort("__id", Order::Asc);
        assert_eq!(
            decoded(&q),
            r#"nom complet__sort=desc,"avg.views".asc,"__id".asc"#
        );
    }

    #[test]
    fn what_the_server_cannot_read_is_refused_before_sending() {
        let refused = |q: Query| q.query_string(Some(1)).unwrap_err().to_string();
        assert!(refused(query().page_size(0)).contains("1 to 50"));
        assert!(refused(query().page_size(51)).contains("1 to 50"));
        assert!(refused(query().filter("x", Op::Contains, "50%")).contains("wildcards"));
        assert!(refused(query().filter("x", Op::Less, "")).contains("non-empty"));
        assert!(
            refused(query().group(Condition::Or(vec![
                Filter::new("x", Op::Exact, "a,b").into()
            ])))
            .contains("commas")
        );
        assert!(
            refused(query().group(Condition::Or(vec![Filter::list("x", Op::In, ["a"]).into()])))
                .contains("exact")
        );
        assert!(refused(query().aggregate("a__b", Aggregate::Sum)).contains("`__`"));
        let in_group = |filter: Filter| refused(query().group(Condition::Or(vec![filter.into()])));
        assert!(in_group(Filter::new("x", Op::Exact, "a)")).contains("parentheses"));
        assert!(in_group(Filter::new("a,b", Op::Exact, "1")).contains("cannot be named"));
        assert!(in_group(Filter::new("x", Op::Contains, "v1.2")).contains("cannot search for `.`"));
        assert!(
            refused(query().sort("a", Order::Asc).sort("say \"hi\"", Order::Asc))
                .contains("make it the first sort")
        );
        assert!(refused(query().columns(["a,b"])).contains("comma list"));
        assert!(
            Op::parse("like")
                .unwrap_err()
                .to_string()
                .contains("strictly_greater")
        );
        let client = Client::builder().build().unwrap();
        assert!(
            client
                .tabular_resource("not-a-uuid")
                .unwrap_err()
                .to_string()
                .contains("UUID")
        );
        let metrics = client.metrics_model("datasets").unwrap();
        assert!(
            refused(metrics.filter("x", Op::Differs, "1")).contains("Metrics API has no `differs`")
        );
    }
}
