//! SQL filters as the Tabular and Metrics APIs' operators and groups.
//!
//! A filter is pushed only when the server's answer holds every row the
//! SQL filter keeps: `Exact` when it holds exactly those (DataFusion then
//! drops its own filter), `Inexact` when it may hold more (DataFusion
//! filters again), never when it may hold fewer. Measured against
//! api-tabular 0.4.1 on PostgreSQL (tests/sql.rs):
//!
//! | SQL | server | claim |
//! | --- | --- | --- |
//! | `c = v`, `c IN (…)` | `exact`, `in` | exact |
//! | `c <> v` | `differs` (also keeps NULLs) | inexact |
//! | `c NOT IN (…)` | `notin` (leaves NULLs out, as SQL) | exact |
//! | `c < v`, `<=`, `>`, `>=` on numbers, dates, times | `strictly_less`, `less`, … | exact |
//! | the same on text | PostgreSQL's collation orders text otherwise than SQL's bytes | not pushed |
//! | `c IS [NOT] NULL` | `isnull`, `isnotnull` | exact |
//! | `c LIKE '%v%'`, `c ILIKE '%v%'` | `contains` (ignores case) | inexact |
//! | a boolean column `c`, `NOT c` | `exact` `true`/`false` | exact |
//! | `a AND b` | both, or the part that can be said | exact if both are |
//! | `a OR b` | an `or` group | exact if both are; not pushed if either cannot be said |
//!
//! Floats compare as PostgreSQL's `double precision` does with the value
//! written in its shortest round-trip form, so equality is exact too.

use datafusion::arrow::datatypes::{DataType, Schema, TimeUnit};
use datafusion::common::ScalarValue;
use datafusion::logical_expr::{BinaryExpr, Expr, Like, Operator, TableProviderFilterPushDown};
use datagouv::{Condition, Filter, Op};

/// A filter said in the server's terms, and whether it says all of it.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Pushed {
    pub(crate) condition: Condition,
    pub(crate) exact: bool,
}

impl Pushed {
    fn exact(condition: Condition) -> Pushed {
        Pushed {
            condition,
            exact: true,
        }
    }

    /// What DataFusion is told of the filter.
    pub(crate) fn support(&self) -> TableProviderFilterPushDown {
        if self.exact {
            TableProviderFilterPushDown::Exact
        } else {
            TableProviderFilterPushDown::Inexact
        }
    }
}

/// Which API's operators a filter may use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Dialect {
    /// The Tabular API: every operator, `or`/`and` groups.
    Tabular,
    /// The Metrics API: `exact`, `less`, `greater` and `contains`, all
    /// conditions holding together (no group).
    Metrics,
}

/// The server's form of `expr` on a table of `schema`, if it has one that
/// keeps every row the SQL filter keeps.
pub(crate) fn push(expr: &Expr, schema: &Schema, dialect: Dialect) -> Option<Pushed> {
    let pushed = push_tabular(expr, schema)?;
    match dialect {
        Dialect::Tabular => Some(pushed),
        Dialect::Metrics => metrics_only(pushed),
    }
}

/// What the Metrics API can say of a filter: its `and` of plain filters
/// with the operators it has; an `and` keeps the parts it can say.
fn metrics_only(pushed: Pushed) -> Option<Pushed> {
    fn said(op: Op) -> bool {
        matches!(op, Op::Exact | Op::Less | Op::Greater | Op::Contains)
    }
    match pushed.condition {
        Condition::Filter(filter) => said(filter.op()).then_some(Pushed {
            condition: Condition::Filter(filter),
            exact: pushed.exact,
        }),
        Condition::And(parts) => {
            let total = parts.len();
            let kept: Vec<Pushed> = parts
                .into_iter()
                .filter_map(|part| {
                    metrics_only(Pushed {
                        condition: part,
                        exact: pushed.exact,
                    })
                })
                .collect();
            if kept.is_empty() {
                return None;
            }
            let exact = pushed.exact && kept.len() == total && kept.iter().all(|p| p.exact);
            Some(Pushed {
                condition: Condition::And(kept.into_iter().map(|p| p.condition).collect()),
                exact,
            })
        }
        Condition::Or(_) => None,
        // A kind of condition added later: not said.
        #[allow(unreachable_patterns)]
        _ => None,
    }
}

/// Every plain filter of an `and` tree (the Metrics API's one form).
pub(crate) fn plain_filters(condition: Condition, out: &mut Vec<Filter>) {
    match condition {
        Condition::Filter(filter) => out.push(filter),
        Condition::And(parts) => {
            for part in parts {
                plain_filters(part, out);
            }
        }
        Condition::Or(_) => unreachable!("the Metrics dialect has no `or`"),
        #[allow(unreachable_patterns)]
        _ => unreachable!("the Metrics dialect has only filters and `and`"),
    }
}

fn push_tabular(expr: &Expr, schema: &Schema) -> Option<Pushed> {
    match expr {
        Expr::BinaryExpr(BinaryExpr { left, op, right }) => match op {
            Operator::And => {
                let (a, b) = (push_tabular(left, schema), push_tabular(right, schema));
                match (a, b) {
                    (Some(a), Some(b)) => Some(Pushed {
                        exact: a.exact && b.exact,
                        condition: Condition::And(vec![a.condition, b.condition]),
                    }),
                    // The part that can be said narrows the rows; the rest is filtered here.
                    (Some(part), None) | (None, Some(part)) => Some(Pushed {
                        exact: false,
                        condition: part.condition,
                    }),
                    (None, None) => None,
                }
            }
            Operator::Or => {
                let (a, b) = (push_tabular(left, schema)?, push_tabular(right, schema)?);
                Some(Pushed {
                    exact: a.exact && b.exact,
                    condition: Condition::Or(vec![a.condition, b.condition]),
                })
            }
            _ => comparison(left, *op, right, schema),
        },
        Expr::InList(list) => {
            let column = column_of(&list.expr, schema)?;
            let mut values = Vec::with_capacity(list.list.len());
            for item in &list.list {
                values.push(literal(item, column.1)?);
            }
            if values.is_empty() {
                return None;
            }
            let op = if list.negated { Op::NotIn } else { Op::In };
            Some(Pushed::exact(Condition::Filter(Filter::list(
                column.0, op, values,
            ))))
        }
        Expr::IsNull(inner) => {
            let (name, _) = column_of(inner, schema)?;
            Some(Pushed::exact(Condition::Filter(Filter::new(
                name,
                Op::IsNull,
                "",
            ))))
        }
        Expr::IsNotNull(inner) => {
            let (name, _) = column_of(inner, schema)?;
            Some(Pushed::exact(Condition::Filter(Filter::new(
                name,
                Op::IsNotNull,
                "",
            ))))
        }
        // `WHERE flag` and `WHERE NOT flag` on a boolean column.
        Expr::Column(_) => {
            let (name, kind) = column_of(expr, schema)?;
            (kind == &DataType::Boolean)
                .then(|| Pushed::exact(Condition::Filter(Filter::new(name, Op::Exact, "true"))))
        }
        Expr::Not(inner) => {
            let (name, kind) = column_of(inner, schema)?;
            (kind == &DataType::Boolean)
                .then(|| Pushed::exact(Condition::Filter(Filter::new(name, Op::Exact, "false"))))
        }
        Expr::Like(Like {
            negated: false,
            expr,
            pattern,
            escape_char: None,
            ..
        }) => {
            let (name, kind) = column_of(expr, schema)?;
            if !matches!(
                kind,
                DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
            ) {
                return None;
            }
            let Expr::Literal(ScalarValue::Utf8(Some(pattern)), _) = pattern.as_ref() else {
                return None;
            };
            let inner = pattern.strip_prefix('%')?.strip_suffix('%')?;
            // The server's `contains` takes no wildcard of its own.
            if inner.is_empty() || inner.contains(['%', '_', '*', '\\']) {
                return None;
            }
            Some(Pushed {
                condition: Condition::Filter(Filter::new(name, Op::Contains, inner)),
                exact: false,
            })
        }
        _ => None,
    }
}

/// `column <op> literal` (either way round).
fn comparison(left: &Expr, op: Operator, right: &Expr, schema: &Schema) -> Option<Pushed> {
    let (column, value, op) = match (column_of(left, schema), column_of(right, schema)) {
        (Some(column), None) => (column, right, op),
        (None, Some(column)) => (column, left, op.swap()?),
        _ => return None,
    };
    let (name, kind) = column;
    let text = matches!(
        kind,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
    );
    let value = literal(value, kind)?;
    let (server_op, exact) = match op {
        Operator::Eq => (Op::Exact, true),
        // The server keeps the NULLs too: DataFusion drops them.
        Operator::NotEq => (Op::Differs, false),
        Operator::Lt if !text => (Op::StrictlyLess, true),
        Operator::LtEq if !text => (Op::Less, true),
        Operator::Gt if !text => (Op::StrictlyGreater, true),
        Operator::GtEq if !text => (Op::Greater, true),
        _ => return None,
    };
    Some(Pushed {
        condition: Condition::Filter(Filter::new(name, server_op, value)),
        exact,
    })
}

/// The column an expression names, with its type.
fn column_of<'a>(expr: &Expr, schema: &'a Schema) -> Option<(String, &'a DataType)> {
    let Expr::Column(column) = expr else {
        return None;
    };
    let field = schema.field_with_name(&column.name).ok()?;
    Some((column.name.clone(), field.data_type()))
}

/// A literal as the server reads a value of a column of type `kind`.
fn literal(expr: &Expr, kind: &DataType) -> Option<String> {
    let Expr::Literal(value, _) = expr else {
        return None;
    };
    let text = match (value, kind) {
        (
            ScalarValue::Utf8(Some(v))
            | ScalarValue::LargeUtf8(Some(v))
            | ScalarValue::Utf8View(Some(v)),
            _,
        ) if matches!(
            kind,
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
        ) =>
        {
            v.clone()
        }
        (ScalarValue::Int64(Some(v)), DataType::Int64 | DataType::Float64) => v.to_string(),
        (ScalarValue::Int32(Some(v)), DataType::Int64 | DataType::Float64) => v.to_string(),
        (ScalarValue::Float64(Some(v)), DataType::Float64) if v.is_finite() => v.to_string(),
        (ScalarValue::Boolean(Some(v)), DataType::Boolean) => v.to_string(),
        (ScalarValue::Date32(Some(days)), DataType::Date32) => {
            chrono::DateTime::from_timestamp(i64::from(*days) * 86_400, 0)?
                .date_naive()
                .to_string()
        }
        (
            ScalarValue::TimestampMicrosecond(Some(micros), None),
            DataType::Timestamp(TimeUnit::Microsecond, None),
        ) => chrono::DateTime::from_timestamp_micros(*micros)?
            .naive_utc()
            .format("%Y-%m-%d %H:%M:%S%.6f")
            .to_string(),
        _ => return None,
    };
    Some(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::datatypes::Field;
    use datafusion::logical_expr::{col, lit};

    fn schema() -> Schema {
        Schema::new(vec![
            Field::new("n", DataType::Int64, true),
            Field::new("s", DataType::Utf8, true),
            Field::new("b", DataType::Boolean, true),
        ])
    }

    #[test]
    fn text_ranges_are_not_pushed() {
        assert!(push(&col("s").lt(lit("b")), &schema(), Dialect::Tabular).is_none());
        assert!(push(&col("n").lt(lit(3i64)), &schema(), Dialect::Tabular).is_some());
    }

    #[test]
    fn differs_is_inexact_and_or_needs_both_sides() {
        let pushed = push(&col("n").not_eq(lit(3i64)), &schema(), Dialect::Tabular).unwrap();
        assert!(!pushed.exact);
        let half = col("n").eq(lit(1i64)).or(col("s").lt(lit("b")));
        assert!(push(&half, &schema(), Dialect::Tabular).is_none());
        let and = col("n").eq(lit(1i64)).and(col("s").lt(lit("b")));
        let pushed = push(&and, &schema(), Dialect::Tabular).unwrap();
        assert!(!pushed.exact);
        assert_eq!(
            pushed.condition,
            Condition::Filter(Filter::new("n", Op::Exact, "1"))
        );
    }

    #[test]
    fn literal_on_the_left_flips_the_operator() {
        let pushed = push(&lit(3i64).lt(col("n")), &schema(), Dialect::Tabular).unwrap();
        assert_eq!(
            pushed.condition,
            Condition::Filter(Filter::new("n", Op::StrictlyGreater, "3"))
        );
    }

    #[test]
    fn the_metrics_dialect_keeps_its_four_operators_and_no_group() {
        let metrics = Dialect::Metrics;
        assert!(push(&col("n").lt(lit(3i64)), &schema(), metrics).is_none());
        assert!(push(&col("n").lt_eq(lit(3i64)), &schema(), metrics).is_some());
        assert!(
            push(
                &col("n").in_list(vec![lit(1i64)], false),
                &schema(),
                metrics
            )
            .is_none()
        );
        let or = col("n").eq(lit(1i64)).or(col("n").eq(lit(2i64)));
        assert!(push(&or, &schema(), metrics).is_none());
        let and = col("n").eq(lit(1i64)).and(col("n").lt(lit(2i64)));
        let pushed = push(&and, &schema(), metrics).unwrap();
        assert!(!pushed.exact, "the strict part is filtered here");
    }
}
