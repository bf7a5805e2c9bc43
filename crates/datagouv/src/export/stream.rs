//! Rows as Arrow (cargo feature `arrow`): a query's rows as a stream of
//! typed [`RecordBatch`]es, read through the export's windows (any size,
//! several windows in flight) and typed by [`BatchDecoder`], the same
//! decoder the Parquet export writes from.
//!
//! Column types come from the Tabular profile; the Metrics API has no
//! profile, so its types are read off the first page of rows (whole
//! numbers, other numbers, booleans, text).

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use arrow_array::RecordBatch;
use arrow_schema::{Field, Schema, SchemaRef};
use futures::{Stream, StreamExt, TryStreamExt, stream::BoxStream};

use super::batches::BatchDecoder;
use super::{ExportFormat, ExportOptions, ExportPlan, WindowBody};
use crate::Error;
use crate::query::{Aggregate, MAX_PAGE_SIZE, Query, Target};

/// A stream of record batches that all have [`RecordBatchStream::schema`].
pub struct RecordBatchStream {
    schema: SchemaRef,
    batches: BoxStream<'static, Result<RecordBatch, Error>>,
}

impl RecordBatchStream {
    /// Wraps batches of `schema`.
    pub fn new(
        schema: SchemaRef,
        batches: impl Stream<Item = Result<RecordBatch, Error>> + Send + 'static,
    ) -> RecordBatchStream {
        RecordBatchStream {
            schema,
            batches: batches.boxed(),
        }
    }

    /// The schema of every batch.
    pub fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }
}

impl std::fmt::Debug for RecordBatchStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordBatchStream")
            .field("schema", &self.schema)
            .finish_non_exhaustive()
    }
}

impl Stream for RecordBatchStream {
    type Item = Result<RecordBatch, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.batches.poll_next_unpin(cx)
    }
}

/// The column types of a query's rows, and their schema.
#[derive(Clone, Debug)]
pub struct ArrowTypes {
    /// Column name -> python type of the profile (`int`, `float`, `bool`,
    /// `date`, `datetime`, `string`, `json`).
    types: HashMap<String, String>,
    schema: SchemaRef,
}

impl ArrowTypes {
    /// The Arrow schema of the rows, columns in the server's order.
    pub fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    /// The types of these columns only, in this order (the rows of a query
    /// with [`Query::columns`]); a name the rows lack is an error listing
    /// the real ones.
    pub fn select(&self, columns: &[String]) -> Result<ArrowTypes, Error> {
        let mut fields = Vec::with_capacity(columns.len());
        for name in columns {
            match self.schema.field_with_name(name) {
                Ok(field) => fields.push(field.clone()),
                Err(_) => {
                    return Err(Error::InvalidInput(format!(
                        "no column `{name}`; the columns are: {}",
                        self.schema
                            .fields()
                            .iter()
                            .map(|f| f.name().as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )));
                }
            }
        }
        Ok(ArrowTypes {
            types: self.types.clone(),
            schema: Arc::new(Schema::new(fields)),
        })
    }
}

impl Query {
    /// The types of this query's rows (one profile request for a Tabular
    /// resource; one page of rows for a Metrics model).
    pub async fn arrow_types(&self) -> Result<ArrowTypes, Error> {
        let (names, types) = match &self.target {
            Target::Tabular(_) => {
                let profile = self.profile().await?;
                let types: HashMap<String, String> = profile
                    .columns
                    .iter()
                    .map(|c| (c.name.clone(), c.python_type.clone()))
                    .collect();
                let names: Vec<String> = std::iter::once("__id".to_owned())
                    .chain(profile.columns.into_iter().map(|c| c.name))
                    .collect();
                (names, types)
            }
            Target::Metrics(_) => self.metrics_types().await?,
        };
        let mut types = types;
        types.insert("__id".into(), "int".into());
        let names = if !self.aggregates.is_empty() {
            let mut out = Vec::new();
            for (column, aggregate) in &self.aggregates {
                if *aggregate == Aggregate::GroupBy {
                    out.push(column.clone());
                }
            }
            for (column, aggregate) in &self.aggregates {
                if *aggregate == Aggregate::GroupBy {
                    continue;
                }
                let name = format!("{column}__{}", aggregate.name());
                let kind = match aggregate {
                    Aggregate::Count => "int".to_owned(),
                    Aggregate::Avg => "float".to_owned(),
                    _ => types.get(column).cloned().unwrap_or_default(),
                };
                types.insert(name.clone(), kind);
                out.push(name);
            }
            out
        } else if !self.columns.is_empty() {
            self.columns.clone()
        } else {
            names
        };
        let schema = Arc::new(Schema::new(
            names
                .iter()
                .map(|name| {
                    let kind = types.get(name).map_or("string", String::as_str);
                    Field::new(name, super::batches::data_type(kind), true)
                })
                .collect::<Vec<_>>(),
        ));
        Ok(ArrowTypes { types, schema })
    }

    /// Metrics: names in the server's order and types read off a page.
    async fn metrics_types(&self) -> Result<(Vec<String>, HashMap<String, String>), Error> {
        let sample = Query {
            page_size: MAX_PAGE_SIZE,
            filters: Vec::new(),
            groups: Vec::new(),
            sorts: Vec::new(),
            aggregates: Vec::new(),
            columns: Vec::new(),
            ..self.clone()
        };
        let response = sample.get("data/", &sample.query_string(Some(1))?).await?;
        let body: serde_json::Value = response.json().await.map_err(Error::Transport)?;
        let rows = body["data"].as_array().cloned().unwrap_or_default();
        let mut names: Vec<String> = Vec::new();
        let mut types: HashMap<String, String> = HashMap::new();
        for row in &rows {
            let Some(object) = row.as_object() else {
                continue;
            };
            for (name, value) in object {
                if !names.contains(name) {
                    names.push(name.clone());
                }
                let seen = types.get(name).map(String::as_str);
                let kind = match (seen, value) {
                    (_, serde_json::Value::Null) => continue,
                    (None | Some("int"), serde_json::Value::Number(n)) if n.is_i64() => "int",
                    (None | Some("int") | Some("float"), serde_json::Value::Number(_)) => "float",
                    (None | Some("bool"), serde_json::Value::Bool(_)) => "bool",
                    _ => "string",
                };
                types.insert(name.clone(), kind.to_owned());
            }
        }
        Ok((names, types))
    }

    /// Every matching row as record batches of `types` (from
    /// [`Query::arrow_types`]), windows past the export cap fetched
    /// [`ExportOptions::parallel`] at a time, in the server's order.
    pub async fn record_batches(
        &self,
        types: &ArrowTypes,
        options: ExportOptions,
    ) -> Result<RecordBatchStream, Error> {
        options.check()?;
        let plan = self.export_plan(ExportFormat::Csv).await?;
        let windows: Vec<_> = (0..plan.windows())
            .map(|index| self.window_batches(&plan, index, types))
            .collect();
        let batches = futures::stream::iter(windows)
            .buffered(options.parallel)
            .map_ok(|batches| futures::stream::iter(batches.into_iter().map(Ok)))
            .try_flatten();
        Ok(RecordBatchStream::new(types.schema(), batches))
    }

    /// The rows of window `index` of `plan` (a CSV plan), fetched on a task
    /// of their own (retried where the body breaks) and decoded, as batches
    /// of `types`' schema. Nothing is sent before the future is polled.
    pub fn window_batches(
        &self,
        plan: &ExportPlan,
        index: usize,
        types: &ArrowTypes,
    ) -> impl Future<Output = Result<Vec<RecordBatch>, Error>> + Send + 'static {
        let (query, url, types) = (self.clone(), plan.windows[index].clone(), types.clone());
        // The task starts when the future is first polled, so that a caller
        // polling a few windows at a time has only those in flight.
        async move {
            crate::spawned::on_task(
                async move {
                    let response = query.get_at(url.clone()).await?;
                    let mut body = WindowBody::new(query, url, response);
                    let mut decoder = BatchDecoder::new(types.types.clone());
                    let mut batches = Vec::new();
                    while let Some(chunk) = body.next().await? {
                        decoder.feed_csv(&chunk, &mut batches)?;
                    }
                    decoder.finish(&mut batches)?;
                    batches
                        .into_iter()
                        .map(|batch| conform(batch, &types.schema))
                        .collect()
                },
                "a window was being requested",
            )
            .await
        }
    }

    /// At most `limit` (1 to 50) matching rows in one request of the JSON
    /// page endpoint, as one batch of `types`' schema.
    pub async fn first_rows(&self, limit: u32, types: &ArrowTypes) -> Result<RecordBatch, Error> {
        if !(1..=MAX_PAGE_SIZE).contains(&limit) {
            return Err(Error::InvalidInput(format!(
                "first_rows reads 1 to {MAX_PAGE_SIZE} rows in one request; {limit} asked: use record_batches"
            )));
        }
        let page = Query {
            page_size: limit,
            ..self.clone()
        };
        let response = page.get("data/", &page.query_string(Some(1))?).await?;
        let body: serde_json::Value = response.json().await.map_err(Error::Transport)?;
        let rows = body["data"].as_array().cloned().unwrap_or_default();
        // The page is written as the CSV the export sends, then read by the
        // one decoder: the same values, the same types.
        let schema = types.schema();
        let mut csv = String::new();
        let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        csv.push_str(&names.join(","));
        csv.push('\n');
        for row in &rows {
            for (position, name) in names.iter().enumerate() {
                if position > 0 {
                    csv.push(',');
                }
                write_csv_value(&row[*name], &mut csv);
            }
            csv.push('\n');
        }
        let mut decoder = BatchDecoder::new(types.types.clone());
        let mut batches = Vec::new();
        decoder.feed_csv(csv.as_bytes(), &mut batches)?;
        decoder.finish(&mut batches)?;
        // At most 50 rows: one batch, or none when no row matched.
        match batches.pop() {
            Some(batch) => conform(batch, &schema),
            None => Ok(RecordBatch::new_empty(schema)),
        }
    }
}

/// A JSON value as PostgREST's CSV writes it: NULL empty and unquoted,
/// text quoted with `"` and `\` doubled, booleans `t`/`f`.
fn write_csv_value(value: &serde_json::Value, out: &mut String) {
    let quoted = |text: &str, out: &mut String| {
        out.push('"');
        for c in text.chars() {
            match c {
                '"' => out.push_str("\"\""),
                '\\' => out.push_str("\\\\"),
                c => out.push(c),
            }
        }
        out.push('"');
    };
    match value {
        serde_json::Value::Null => {}
        serde_json::Value::Bool(true) => out.push('t'),
        serde_json::Value::Bool(false) => out.push('f'),
        serde_json::Value::Number(number) => out.push_str(&number.to_string()),
        serde_json::Value::String(text) => quoted(text, out),
        other => quoted(&other.to_string(), out),
    }
}

/// The batch with `schema`'s columns in `schema`'s order (the server sends
/// them in its own order); a column missing is an error naming it.
fn conform(batch: RecordBatch, schema: &SchemaRef) -> Result<RecordBatch, Error> {
    if batch.schema().fields() == schema.fields() {
        return Ok(batch);
    }
    let mut columns = Vec::with_capacity(schema.fields().len());
    for field in schema.fields() {
        let Some((index, found)) = batch
            .schema()
            .column_with_name(field.name())
            .map(|(i, f)| (i, f.clone()))
        else {
            return Err(Error::InvalidInput(format!(
                "the server's rows have no column `{}` (they have: {}); the resource changed: ask again",
                field.name(),
                batch
                    .schema()
                    .fields()
                    .iter()
                    .map(|f| f.name().as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        };
        if found.data_type() != field.data_type() {
            return Err(Error::InvalidInput(format!(
                "column `{}` came as {} where {} was expected; the resource changed: ask again",
                field.name(),
                found.data_type(),
                field.data_type()
            )));
        }
        columns.push(batch.column(index).clone());
    }
    RecordBatch::try_new(schema.clone(), columns).map_err(|error| {
        Error::InvalidInput(format!("cannot make a record batch of the rows: {error}"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_values_are_written_as_the_server_csv() {
        let mut out = String::new();
        for value in [
            serde_json::json!(null),
            serde_json::json!(true),
            serde_json::json!(false),
            serde_json::json!(-1.5),
            serde_json::json!("a \"b\" C:\\t"),
            serde_json::json!({"n": 1}),
        ] {
            write_csv_value(&value, &mut out);
            out.push('|');
        }
        assert_eq!(out, "|t|f|-1.5|\"a \"\"b\"\" C:\\\\t\"|\"{\"\"n\"\":1}\"|");
    }
}
