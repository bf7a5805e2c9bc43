//! Filters, groups and sorts written as text, as the command line and the
//! Python package take them: `col__op=value`, `or(…)`/`and(…)`, `col:desc`.

use crate::{Condition, Error, Filter, Op, Order};

/// What kind of text a [`SyntaxError`] was read as, so that each front end
/// (command line, Python) can say how to write it in its own words.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SyntaxKind {
    /// A filter, `column__operator=value`.
    Filter,
    /// A group, `or(…)` or `and(…)`.
    Group,
    /// A list filter (`in`, `notin`) inside a group, which the server
    /// cannot take there.
    ListInGroup {
        /// The filter's column.
        column: String,
        /// The operator, `in` or `notin`.
        op: Op,
    },
    /// A sort, `column:asc|desc`.
    Sort {
        /// The column, when one could be read.
        column: Option<String>,
        /// The text read.
        text: String,
    },
}

impl SyntaxKind {
    /// For a list filter inside a group: the group that says the same with
    /// one condition per value (`or(c__exact=A, c__exact=B)` for `in`).
    pub fn per_value_group(&self) -> Option<String> {
        let SyntaxKind::ListInGroup { column, op } = self else {
            return None;
        };
        Some(if *op == Op::In {
            format!("or({column}__exact=A, {column}__exact=B)")
        } else {
            format!("and({column}__differs=A, {column}__differs=B)")
        })
    }
}

/// A filter, group or sort that could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}; {}", self.hint())]
pub struct SyntaxError {
    /// What is wrong with the text.
    pub message: String,
    /// What the text was read as.
    pub kind: SyntaxKind,
}

impl SyntaxError {
    fn new(kind: SyntaxKind, message: String) -> SyntaxError {
        SyntaxError { message, kind }
    }

    /// How to write it, in words that name no command-line flag.
    pub fn hint(&self) -> String {
        match &self.kind {
            SyntaxKind::Filter => "write filters as column__operator=value, e.g. nom__exact=Paris or code__in=75,69 \
                 (`isnull`/`isnotnull` take no value: nom__isnull)"
                .to_owned(),
            SyntaxKind::Group => "write groups as or(…) or and(…) around filters and groups separated by commas, e.g. \
                 or(dep__exact=75, and(montant__greater=1000, statut__isnull)); commas separate the items, so a \
                 value inside a group cannot hold one (give it as a filter instead)"
                .to_owned(),
            SyntaxKind::ListInGroup { column, op } => format!(
                "write one condition per value, {}, or give the list as a filter {column}__{}=A,B",
                self.kind.per_value_group().unwrap_or_default(),
                op.name()
            ),
            SyntaxKind::Sort { .. } => "write a sort as column, column:asc or column:desc".to_owned(),
        }
    }
}

impl From<SyntaxError> for Error {
    fn from(error: SyntaxError) -> Error {
        Error::InvalidInput(error.to_string())
    }
}

/// Reads a filter `col__op=value`: the text splits at its first `=`, the
/// key at its last `__` (column names may hold `__`, values `=`); `in` and
/// `notin` split their value at commas.
///
/// ```
/// let filter = datagouv::parse_filter("code__in=75,69").unwrap();
/// assert_eq!((filter.column(), filter.op()), ("code", datagouv::Op::In));
/// assert!(datagouv::parse_filter("nope").is_err());
/// ```
pub fn parse_filter(text: &str) -> Result<Filter, SyntaxError> {
    let bad = |why: String| SyntaxError::new(SyntaxKind::Filter, why);
    let (key, value) = match text.split_once('=') {
        Some((key, value)) => (key, Some(value)),
        None => (text, None),
    };
    let Some((column, operator)) = key.rsplit_once("__") else {
        return Err(bad(format!(
            "`{text}` is not a filter: `{key}` names no operator"
        )));
    };
    if column.is_empty() {
        return Err(bad(format!("`{text}` is not a filter: it names no column")));
    }
    let op = Op::parse(operator).map_err(|e| bad(format!("in `{text}`: {e}")))?;
    let takes_value = !matches!(op, Op::IsNull | Op::IsNotNull);
    match (takes_value, value) {
        (true, None) => Err(bad(format!(
            "`{text}` is not a filter: `{column}__{operator}` needs `=value`"
        ))),
        (false, Some(value)) if !value.is_empty() => Err(bad(format!(
            "`{column}__{operator}` takes no value (got `{value}`)"
        ))),
        (false, _) => Ok(Filter::new(column, op, "")),
        (true, Some(value)) if matches!(op, Op::In | Op::NotIn) => {
            Ok(Filter::list(column, op, value.split(',')))
        }
        (true, Some(value)) => Ok(Filter::new(column, op, value)),
    }
}

/// Reads a condition: `or(…)`, `and(…)` (nested, items separated by
/// commas) or one filter.
///
/// ```
/// let condition = datagouv::parse_condition("or(dep__exact=75, and(n__greater=1, s__isnull))").unwrap();
/// assert!(matches!(condition, datagouv::Condition::Or(items) if items.len() == 2));
/// ```
pub fn parse_condition(text: &str) -> Result<Condition, SyntaxError> {
    let text = text.trim();
    let group = [("or(", true), ("and(", false)]
        .into_iter()
        .find(|(open, _)| text.starts_with(open));
    let bad = |why: String| SyntaxError::new(SyntaxKind::Group, why);
    let Some((open, is_or)) = group else {
        let filter = parse_filter(text);
        // `xor(…)`, `not(…)`, `OR(…)`: a word and a parenthesis that do not
        // read as a filter on a column with balanced parentheses.
        let unbalanced =
            |f: &Filter| f.column().matches('(').count() != f.column().matches(')').count();
        if let Some(at) = text.find('(')
            && !text[..at].is_empty()
            && text[..at].chars().all(|c| c.is_alphanumeric() || c == '_')
            && filter.as_ref().map_or(true, unbalanced)
        {
            return Err(bad(format!(
                "`{}(` is not a group: groups are `or(…)` and `and(…)`, in lower case",
                &text[..at]
            )));
        }
        return Ok(filter?.into());
    };
    let Some(inner) = text[open.len()..].strip_suffix(')') else {
        return Err(bad(format!(
            "`{text}` is not a group: it does not end with `)`"
        )));
    };
    let mut items = Vec::new();
    let (mut depth, mut start) = (0i32, 0);
    for (at, c) in inner.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                items.push(&inner[start..at]);
                start = at + 1;
            }
            _ => {}
        }
        if depth < 0 {
            return Err(bad(format!(
                "`{text}` closes a parenthesis it did not open"
            )));
        }
    }
    if depth != 0 {
        return Err(bad(format!("`{text}` leaves a parenthesis open")));
    }
    items.push(&inner[start..]);
    if items.iter().any(|item| item.trim().is_empty()) {
        return Err(bad(format!("`{text}` has an empty item")));
    }
    let mut conditions = Vec::new();
    for item in items {
        // Inside a group, a bad filter is explained as a group item.
        let condition =
            parse_condition(item).map_err(|e| SyntaxError::new(SyntaxKind::Group, e.message))?;
        if let Condition::Filter(filter) = &condition
            && matches!(filter.op(), Op::In | Op::NotIn)
        {
            let (column, op) = (filter.column().to_owned(), filter.op());
            return Err(SyntaxError::new(
                SyntaxKind::ListInGroup {
                    column: column.clone(),
                    op,
                },
                format!(
                    "`{column}__{}` cannot stand inside a group: the server takes no list there, and the group's \
                     commas would split the list",
                    op.name()
                ),
            ));
        }
        conditions.push(condition);
    }
    Ok(if is_or {
        Condition::Or(conditions)
    } else {
        Condition::And(conditions)
    })
}

/// Reads a sort `col:asc|desc` (split at the last `:`; a bare column sorts
/// ascending).
///
/// ```
/// assert_eq!(datagouv::parse_sort("montant:desc").unwrap(), ("montant".to_owned(), datagouv::Order::Desc));
/// ```
pub fn parse_sort(text: &str) -> Result<(String, Order), SyntaxError> {
    let (column, order) = match text.rsplit_once(':') {
        Some((column, "asc")) => (column, Order::Asc),
        Some((column, "desc")) => (column, Order::Desc),
        Some((column, order)) if !column.is_empty() && !order.is_empty() => {
            return Err(SyntaxError::new(
                SyntaxKind::Sort {
                    column: Some(column.to_owned()),
                    text: text.to_owned(),
                },
                format!("`{text}` is not a sort: the order `{order}` is neither asc nor desc"),
            ));
        }
        _ if !text.is_empty() && !text.ends_with(':') => (text, Order::Asc),
        _ => ("", Order::Asc),
    };
    if column.is_empty() || text.ends_with(':') {
        return Err(SyntaxError::new(
            SyntaxKind::Sort {
                column: None,
                text: text.to_owned(),
            },
            format!("`{text}` is not a sort"),
        ));
    }
    Ok((column.to_owned(), order))
}
