//! How an export is split into windows the servers accept (at most
//! [`EXPORT_CAP`] rows each), in the server's own order.
//!
//! - At most the cap: one request.
//! - Unsorted (or sorted by `__id`), matching ids dense enough: `__id`
//!   ranges of at most the cap (two requests to find the smallest and
//!   largest id).
//! - Otherwise keyset windows: the query's sort plus `__id` as the last
//!   tie-breaker gives a total order; window k holds the rows after the key
//!   of the last row of window k − 1 and up to the key of its own last row,
//!   both written as or/and groups. Each key is read from the paged JSON
//!   endpoint (the 50,000th row after the previous key), so the comparison
//!   is the server's (its collation, where it puts NULLs), never ours. An
//!   export reads the first key before its first window and each next one
//!   while the previous window downloads ([`KeysetCursor`]);
//!   [`Query::export_plan`] reads them all.

use reqwest::Url;
use serde_json::Value;

use super::{EXPORT_CAP, ExportFormat};
use crate::{
    Error,
    query::{Condition, Filter, Op, Order, Profile, Query, RowsPage, Target},
};

/// The requests an export makes, computed before the first row is fetched.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExportPlan {
    pub(crate) format: ExportFormat,
    /// The window requests, in order.
    pub(crate) windows: Vec<Url>,
    /// Matching rows when the plan was made (none for aggregations).
    pub(crate) total: Option<u64>,
    /// How the windows were cut.
    pub(crate) method: WindowMethod,
    /// The Tabular profile read while planning (the CSV export's column
    /// types come from it; none when it could not be read).
    pub(crate) profile: Option<Profile>,
    /// Keyset windows still to plan after `windows` (an export plans them
    /// as it runs); none when every window is known.
    pub(crate) rest: Option<KeysetCursor>,
}

/// Where the planning of keyset windows stands: the key of the last row of
/// the last window planned (none before the first) and the rows after it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct KeysetCursor {
    after: Option<Vec<Option<String>>>,
    remaining: u64,
}

/// How an export's windows are cut (more ways may come: match with a `_`
/// arm).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub enum WindowMethod {
    /// One request: at most the cap, or an aggregation.
    Single,
    /// Ranges of `__id`.
    IdRanges,
    /// Keyset windows over the sort columns and `__id`.
    Keyset,
}

impl ExportPlan {
    /// The window requests, in order (what `curl` would fetch to get the
    /// same bytes).
    pub fn urls(&self) -> &[Url] {
        &self.windows
    }

    /// How many requests of rows the export makes.
    pub fn windows(&self) -> usize {
        self.windows.len()
    }

    /// The windows of the export: those planned, and those still to plan
    /// (a keyset window holds the cap but where no key can be told).
    pub(crate) fn expected_windows(&self) -> usize {
        self.windows.len()
            + self
                .rest
                .as_ref()
                .map_or(0, |rest| rest.remaining.div_ceil(EXPORT_CAP) as usize)
    }

    /// Matching rows when the plan was made (none for aggregations).
    pub fn total(&self) -> Option<u64> {
        self.total
    }

    /// How the windows were cut.
    pub fn method(&self) -> WindowMethod {
        self.method
    }
}

impl Query {
    /// Plans an export: counts the matching rows and, over the cap, cuts
    /// the windows (a few requests of rows: two for `__id` ranges, one per
    /// window for keyset windows). Nothing is written.
    pub async fn export_plan(&self, format: ExportFormat) -> Result<ExportPlan, Error> {
        let mut plan = self.plan_export(format).await?;
        while plan.rest.is_some() {
            self.plan_next_window(&mut plan).await?;
        }
        Ok(plan)
    }

    /// Plans an export up to its first window: keyset windows after the
    /// first are left to [`Query::plan_next_window`].
    pub(crate) async fn plan_export(&self, format: ExportFormat) -> Result<ExportPlan, Error> {
        if format == ExportFormat::Json && matches!(self.target, Target::Metrics(_)) {
            return Err(Error::InvalidInput(
                "the Metrics API exports CSV only: use the CSV format".into(),
            ));
        }
        #[cfg(feature = "parquet")]
        if format == ExportFormat::Parquet && matches!(self.target, Target::Metrics(_)) {
            return Err(Error::InvalidInput(
                "Parquet exports take their column types from a Tabular profile; the Metrics API has none: use CSV"
                    .into(),
            ));
        }
        let endpoint = format.endpoint();
        // Everything the server will read, checked before any request.
        let base = self.query_string(None)?;
        // Then what the profile tells: every column named exists, every
        // value suits its column (without a profile, the server tells).
        let profile = match self.is_tabular() {
            true => self.quiet_profile().await.filter(|p| !p.columns.is_empty()),
            false => None,
        };
        if let Some(profile) = &profile {
            self.check_against(profile)?;
        }
        let single = |total| {
            Ok(ExportPlan {
                format,
                windows: vec![self.url(endpoint, &base)?],
                total,
                method: WindowMethod::Single,
                profile: profile.clone(),
                rest: None,
            })
        };
        if !self.aggregates.is_empty() {
            return single(None);
        }
        let total = self.total().await?;
        if total <= EXPORT_CAP {
            return single(Some(total));
        }
        let by_id = match self.sorts.first() {
            None => true,
            Some((column, _)) => column == "__id",
        };
        if by_id && let Some(windows) = self.id_ranges(endpoint, total).await? {
            return Ok(ExportPlan {
                format,
                windows,
                total: Some(total),
                method: WindowMethod::IdRanges,
                profile,
                rest: None,
            });
        }
        let mut plan = ExportPlan {
            format,
            windows: Vec::new(),
            total: Some(total),
            method: WindowMethod::Keyset,
            profile,
            rest: Some(KeysetCursor {
                after: None,
                remaining: total,
            }),
        };
        self.plan_next_window(&mut plan).await?;
        Ok(plan)
    }

    /// `__id` ranges of at most the cap, or `None` when the matching ids
    /// are so sparse that keyset windows need fewer requests.
    async fn id_ranges(&self, endpoint: &str, total: u64) -> Result<Option<Vec<Url>>, Error> {
        let descending = matches!(self.sorts.first(), Some((_, Order::Desc)));
        let edge = |order| async move {
            let mut query = self.clone().page_size(1);
            // The Metrics API selects no columns: its rows come whole.
            if matches!(self.target, Target::Tabular(_)) {
                query.columns = vec!["__id".into()];
            }
            query.sorts = vec![("__id".into(), order)];
            let page: RowsPage<Value> = query.page(1).await?;
            page.rows
                .first()
                .and_then(|row| row["__id"].as_u64())
                .ok_or_else(|| {
                    Error::InvalidInput(
                        "the rows carry no `__id`: the export cannot be split into windows".into(),
                    )
                })
        };
        let (low, high) = futures::try_join!(edge(Order::Asc), edge(Order::Desc))?;
        let ranges = (high - low) / EXPORT_CAP + 1;
        if ranges > total.div_ceil(EXPORT_CAP) + 1 {
            return Ok(None);
        }
        let mut windows = Vec::new();
        for k in 0..ranges {
            let (start, end) = (
                low + k * EXPORT_CAP,
                (low + (k + 1) * EXPORT_CAP - 1).min(high),
            );
            let mut query = self.clone();
            query
                .filters
                .push(Filter::new("__id", Op::Greater, start.to_string()));
            query
                .filters
                .push(Filter::new("__id", Op::Less, end.to_string()));
            windows.push(self.url(endpoint, &query.query_string(None)?)?);
        }
        if descending {
            windows.reverse();
        }
        Ok(Some(windows))
    }

    /// Plans the next keyset window of `plan` (nothing when every window is
    /// known), in the order of the query's sort plus `__id`. The rows left
    /// are known from where the last row of each window stands in the page
    /// read, so the last window needs no read.
    pub(crate) async fn plan_next_window(&self, plan: &mut ExportPlan) -> Result<(), Error> {
        let Some(cursor) = &plan.rest else {
            return Ok(());
        };
        let endpoint = plan.format.endpoint();
        let keys = key_columns(&self.sorts);
        let mut window = self.clone();
        window.sorts = keys.clone();
        if let Some(key) = &cursor.after {
            window.groups.push(after_key(&keys, key));
        }
        if cursor.remaining <= EXPORT_CAP {
            plan.windows
                .push(self.url(endpoint, &window.query_string(None)?)?);
            plan.rest = None;
            return Ok(());
        }
        // The boundary read: the sort columns only, 50 rows a page, the
        // page whose last row is the cap-th after the previous boundary.
        let mut probe = window.clone().page_size(50);
        if matches!(self.target, Target::Tabular(_)) {
            probe.columns = keys.iter().map(|(c, _)| c.clone()).collect();
        }
        let boundary_page = EXPORT_CAP / 50;
        let page: RowsPage<serde_json::Map<String, Value>> = probe.page(boundary_page).await?;
        // The last row of the page whose key the server can be told.
        let mut refusal = None;
        for (position, row) in page.rows.iter().enumerate().rev() {
            let key: Vec<Option<String>> =
                keys.iter().map(|(c, _)| key_value(row.get(c))).collect();
            let mut candidate = window.clone();
            candidate.groups.push(up_to_key(&keys, &key));
            match candidate.query_string(None) {
                Ok(text) => {
                    let remaining = cursor
                        .remaining
                        .saturating_sub((boundary_page - 1) * 50 + position as u64 + 1);
                    plan.windows.push(self.url(endpoint, &text)?);
                    plan.rest = Some(KeysetCursor {
                        after: Some(key),
                        remaining,
                    });
                    return Ok(());
                }
                Err(error) => refusal = refusal.or(Some(error)),
            }
        }
        let reason = refusal.map(|e| e.to_string()).unwrap_or_default();
        Err(Error::InvalidInput(format!(
            "the sorted export holds more than {EXPORT_CAP} rows, so it is cut into windows at sort keys, and none of \
             the 50 rows around window {}'s edge has a key the server can be told ({reason}); sort by another column \
             or narrow the filters",
            plan.windows.len() + 1
        )))
    }
}

/// The sort columns with `__id` as the last tie-breaker (a sort by `__id`
/// already orders every row: what follows it is dropped).
fn key_columns(sorts: &[(String, Order)]) -> Vec<(String, Order)> {
    let mut keys = Vec::new();
    for (column, order) in sorts {
        keys.push((column.clone(), *order));
        if column == "__id" {
            return keys;
        }
    }
    keys.push(("__id".into(), Order::Asc));
    keys
}

/// A key value as the server reads it back in a filter (`None` is NULL).
fn key_value(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::Null => None,
        Value::String(text) => Some(text.clone()),
        other => Some(other.to_string()),
    }
}

fn equal(column: &str, value: &Option<String>) -> Condition {
    match value {
        Some(v) => Filter::new(column, Op::Exact, v.clone()).into(),
        None => Filter::new(column, Op::IsNull, "").into(),
    }
}

/// Rows strictly after `value` on one column, in its sort order (NULLs
/// last ascending, first descending, as PostgreSQL sorts), or `None`
/// when no row can be.
fn beyond(column: &str, order: Order, value: &Option<String>) -> Option<Condition> {
    match (order, value) {
        // `__id` is never NULL.
        (Order::Asc, Some(v)) if column == "__id" => {
            Some(Filter::new(column, Op::StrictlyGreater, v.clone()).into())
        }
        (Order::Asc, Some(v)) => Some(Condition::Or(vec![
            Filter::new(column, Op::StrictlyGreater, v.clone()).into(),
            Filter::new(column, Op::IsNull, "").into(),
        ])),
        (Order::Asc, None) => None,
        (Order::Desc, Some(v)) => Some(Filter::new(column, Op::StrictlyLess, v.clone()).into()),
        (Order::Desc, None) => Some(Filter::new(column, Op::IsNotNull, "").into()),
    }
}

/// Rows strictly before `value` on one column, in its sort order.
fn before(column: &str, order: Order, value: &Option<String>) -> Option<Condition> {
    let flipped = if order == Order::Asc {
        Order::Desc
    } else {
        Order::Asc
    };
    beyond(column, flipped, value)
}

/// The rows after a key in the total order: for some column, equal on
/// every column before it and beyond the key on it.
fn after_key(keys: &[(String, Order)], key: &[Option<String>]) -> Condition {
    lexicographic(keys, key, beyond, false)
}

/// The rows up to a key, the key's row included.
fn up_to_key(keys: &[(String, Order)], key: &[Option<String>]) -> Condition {
    lexicographic(keys, key, before, true)
}

fn lexicographic(
    keys: &[(String, Order)],
    key: &[Option<String>],
    past: fn(&str, Order, &Option<String>) -> Option<Condition>,
    or_equal: bool,
) -> Condition {
    let mut alternatives = Vec::new();
    for (index, (column, order)) in keys.iter().enumerate() {
        let Some(condition) = past(column, *order, &key[index]) else {
            continue;
        };
        let mut all: Vec<Condition> = keys[..index]
            .iter()
            .zip(key)
            .map(|((c, _), v)| equal(c, v))
            .collect();
        all.push(condition);
        alternatives.push(if all.len() == 1 {
            all.remove(0)
        } else {
            Condition::And(all)
        });
    }
    if or_equal {
        let all: Vec<Condition> = keys
            .iter()
            .zip(key)
            .map(|((c, _), v)| equal(c, v))
            .collect();
        alternatives.push(Condition::And(all));
    }
    Condition::Or(alternatives)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(condition: &Condition) -> String {
        let query = crate::Client::builder()
            .build()
            .unwrap()
            .tabular_resource("10000000-0000-4000-8000-000000000001")
            .unwrap()
            .group(condition.clone());
        let encoded = query.query_string(None).unwrap();
        url::form_urlencoded::parse(encoded.as_bytes())
            .map(|(k, v)| format!("{k}={v}"))
            .collect()
    }

    #[test]
    fn keyset_conditions_follow_the_servers_null_placement() {
        let keys = key_columns(&[("v".into(), Order::Desc), ("w".into(), Order::Asc)]);
        let key = vec![Some("3".to_owned()), None, Some("17".to_owned())];
        assert_eq!(
            text(&after_key(&keys, &key)),
            r#"or=(v__strictly_less."3",and(v__exact."3",w__isnull,__id__strictly_greater."17"))"#
        );
        assert_eq!(
            text(&up_to_key(&keys, &key)),
            r#"or=(or(v__strictly_greater."3",v__isnull),and(v__exact."3",w__isnotnull),and(v__exact."3",w__isnull,__id__strictly_less."17"),and(v__exact."3",w__isnull,__id__exact."17"))"#
        );
    }

    #[test]
    fn a_sort_by_id_needs_no_tie_breaker() {
        assert_eq!(
            key_columns(&[("__id".into(), Order::Desc), ("x".into(), Order::Asc)]),
            vec![("__id".into(), Order::Desc)]
        );
    }
}
