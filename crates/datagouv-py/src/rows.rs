//! Rows of a resource, a metrics model or a SQL query, as Arrow: a lazy,
//! re-runnable query object implementing the Arrow PyCapsule interface,
//! with conversions to pyarrow, pandas and polars, and dict iteration.

use datagouv::{
    ArrowTypes, ExportOptions, Filter, Op, Query,
    arrow_array::{RecordBatch, RecordBatchIterator, RecordBatchReader},
    arrow_schema::{ArrowError, SchemaRef},
};
use futures::{StreamExt, TryStreamExt, stream::BoxStream};
use pyo3::{
    exceptions::{PyStopAsyncIteration, PyStopIteration},
    prelude::*,
    types::{PyCapsule, PyDict, PyString, PyTuple},
};
use pyo3_arrow::PyRecordBatchReader;
use std::{
    collections::VecDeque,
    sync::{Arc, Mutex},
};
use tokio::runtime::Runtime;

use crate::{
    client::Shared,
    errors::{Failure, invalid_input, syntax_error},
    runtime::{awaitable, runtime, wait},
};

/// The batches of one run of the rows, with their schema.
pub(crate) struct Batches {
    schema: SchemaRef,
    stream: BoxStream<'static, Result<RecordBatch, Failure>>,
}

/// What the rows are read from.
#[derive(Clone)]
enum Source {
    /// A Tabular resource or a Metrics model.
    Query {
        query: Box<Query>,
        columns: Vec<String>,
        limit: Option<u64>,
    },
    /// A SQL query.
    Sql(String),
}

/// `filters`, `where`, `sort`, `columns` and `limit` as given, checked.
pub(crate) struct RowsArgs {
    filters: Vec<Filter>,
    condition: Option<datagouv::Condition>,
    sort: Vec<(String, datagouv::Order)>,
    columns: Vec<String>,
    limit: Option<u64>,
}

/// A syntax error of a filter, group or sort, raised before any request.
fn syntax(error: datagouv::SyntaxError) -> PyErr {
    syntax_error(error)
}

impl RowsArgs {
    /// Reads the arguments: filters as `"col__op=value"` text or
    /// `(col, op, value)` tuples (a list value for `in`/`notin`).
    pub(crate) fn read(
        filters: &[Bound<'_, PyAny>],
        condition: Option<String>,
        sort: Vec<String>,
        columns: Vec<String>,
        limit: Option<u64>,
    ) -> PyResult<RowsArgs> {
        let mut sorts = Vec::new();
        let mut kept = Vec::new();
        for filter in filters {
            match read_filter(filter)? {
                Read::Filter(filter) => kept.push(filter),
                Read::Sort(column, order) => sorts.push((column, order)),
            }
        }
        let filters = kept;
        let condition = condition
            .as_deref()
            .map(datagouv::parse_condition)
            .transpose()
            .map_err(syntax)?;
        let mut sort = sort
            .iter()
            .map(|text| datagouv::parse_sort(text))
            .collect::<Result<Vec<_>, _>>()
            .map_err(syntax)?;
        sort.extend(sorts);
        let columns = columns
            .into_iter()
            .map(|c| c.trim().to_owned())
            .collect::<Vec<_>>();
        if let Some(empty) = columns.iter().position(String::is_empty) {
            return Err(invalid_input(format!(
                "column {empty} of `columns` is empty"
            )));
        }
        Ok(RowsArgs {
            filters,
            condition,
            sort,
            columns,
            limit,
        })
    }

    /// `query` with the filters, group, sorts and columns (what an export
    /// sends; the limit is the rows' own).
    pub(crate) fn narrow(&self, mut query: Query) -> Query {
        for filter in &self.filters {
            query = query.with_filter(filter.clone());
        }
        if let Some(condition) = &self.condition {
            query = query.group(condition.clone());
        }
        for (column, order) in &self.sort {
            query = query.sort(column.clone(), *order);
        }
        if !self.columns.is_empty() {
            query = query.columns(self.columns.clone());
        }
        query
    }

    fn apply(self, query: Query) -> Source {
        Source::Query {
            query: Box::new(self.narrow(query)),
            columns: self.columns,
            limit: self.limit,
        }
    }
}

/// A filter, or a sort given as datagouv-client's `(column, "sort", "asc")`.
enum Read {
    Filter(Filter),
    Sort(String, datagouv::Order),
}

/// datagouv-client's operator symbols, as the Tabular API names them.
fn operator_name(symbol: &str) -> &str {
    match symbol {
        "==" => "exact",
        "!=" => "differs",
        ">" => "strictly_greater",
        ">=" => "greater",
        "<" => "strictly_less",
        "<=" => "less",
        other => other,
    }
}

/// One filter: text, or a `(column, operator, value)` tuple (operators by
/// name or as datagouv-client's symbols `==`, `!=`, `>`, `>=`, `<`, `<=`).
fn read_filter(filter: &Bound<'_, PyAny>) -> PyResult<Read> {
    if let Ok(text) = filter.cast::<PyString>() {
        return datagouv::parse_filter(text.to_str()?)
            .map(Read::Filter)
            .map_err(syntax);
    }
    let Ok(tuple) = filter.cast::<PyTuple>() else {
        return Err(invalid_input(format!(
            "`{filter}` is not a filter: give \"column__operator=value\" or (column, operator, value)"
        )));
    };
    let bad = || {
        invalid_input(format!(
            "`{tuple}` is not a filter: a tuple is (column, operator, value), e.g. (\"nom\", \"exact\", \"Paris\")"
        ))
    };
    let (column, op, value) = match tuple.len() {
        2 => (tuple.get_item(0)?, tuple.get_item(1)?, None),
        3 => (
            tuple.get_item(0)?,
            tuple.get_item(1)?,
            Some(tuple.get_item(2)?),
        ),
        _ => return Err(bad()),
    };
    let column: String = column.extract().map_err(|_| bad())?;
    let op: String = op.extract().map_err(|_| bad())?;
    if op == "sort" {
        let order: String = match &value {
            Some(value) => value.extract().map_err(|_| bad())?,
            None => "asc".to_owned(),
        };
        let (_, order) = datagouv::parse_sort(&format!("{column}:{order}")).map_err(syntax)?;
        return Ok(Read::Sort(column, order));
    }
    let op =
        Op::parse(operator_name(&op)).map_err(|e| invalid_input(format!("in `{tuple}`: {e}")))?;
    let text = |value: &Bound<'_, PyAny>| -> PyResult<String> {
        if let Ok(flag) = value.extract::<bool>() {
            return Ok(flag.to_string());
        }
        Ok(value.str()?.to_str()?.to_owned())
    };
    let filter = match (op, value) {
        (Op::IsNull | Op::IsNotNull, None) => Ok(Filter::new(column, op, "")),
        (Op::IsNull | Op::IsNotNull, Some(_)) => Err(invalid_input(format!(
            "`{column}__{}` takes no value: give (\"{column}\", \"{}\")",
            op.name(),
            op.name()
        ))),
        (_, None) => Err(bad()),
        (Op::In | Op::NotIn, Some(values)) if !values.is_instance_of::<PyString>() => {
            let values = values
                .try_iter()?
                .map(|value| text(&value?))
                .collect::<PyResult<Vec<_>>>()?;
            Ok(Filter::list(column, op, values))
        }
        (Op::In | Op::NotIn, Some(value)) => Ok(Filter::list(column, op, text(&value)?.split(','))),
        (_, Some(value)) => Ok(Filter::new(column, op, text(&value)?)),
    };
    filter.map(Read::Filter)
}

/// Rows of a resource, a metrics model or a SQL query, as Arrow.
#[pyclass(frozen, module = "datagouv_rs")]
pub struct Rows {
    shared: Arc<Shared>,
    source: Source,
}

impl Rows {
    /// The rows of a Tabular resource.
    pub(crate) fn tabular(shared: Arc<Shared>, resource: &str, args: RowsArgs) -> PyResult<Rows> {
        let query = shared
            .sdk
            .tabular_resource(resource)
            .map_err(|e| Failure::from(e).into_pyerr_now())?;
        Ok(Rows {
            source: args.apply(query),
            shared,
        })
    }

    /// The rows of a Metrics model.
    pub(crate) fn metrics(shared: Arc<Shared>, model: &str, args: RowsArgs) -> PyResult<Rows> {
        let query = shared
            .sdk
            .metrics_model(model)
            .map_err(|e| Failure::from(e).into_pyerr_now())?;
        Ok(Rows {
            source: args.apply(query),
            shared,
        })
    }

    /// The rows of a SQL query.
    pub(crate) fn sql(shared: Arc<Shared>, query: String) -> Rows {
        Rows {
            shared,
            source: Source::Sql(query),
        }
    }

    /// The rows' types: the resource's profile (or a page of a metrics
    /// model), narrowed to the columns asked.
    async fn types(query: &Query, columns: &[String]) -> Result<ArrowTypes, Failure> {
        let types = query.arrow_types().await?;
        Ok(if columns.is_empty() {
            types
        } else {
            types.select(columns)?
        })
    }

    /// The schema alone: no rows are asked for (a SQL query is planned,
    /// not run).
    fn schema(
        &self,
    ) -> impl std::future::Future<Output = Result<SchemaRef, Failure>> + Send + 'static {
        let (shared, source) = (self.shared.clone(), self.source.clone());
        async move {
            match source {
                Source::Query { query, columns, .. } => {
                    Ok(Rows::types(&query, &columns).await?.schema())
                }
                Source::Sql(sql) => {
                    let frame = shared.engine()?.sql(&sql).await?;
                    Ok(Arc::new(frame.schema().as_arrow().clone()))
                }
            }
        }
    }

    /// Starts one run: plans the query, asks for the schema.
    fn open(&self) -> impl std::future::Future<Output = Result<Batches, Failure>> + Send + 'static {
        let (shared, source) = (self.shared.clone(), self.source.clone());
        async move {
            match source {
                Source::Query {
                    query,
                    columns,
                    limit,
                } => {
                    let types = Rows::types(&query, &columns).await?;
                    let schema = types.schema();
                    let stream = query
                        .record_batches(&types, ExportOptions::default())
                        .await?
                        .map_err(Failure::from);
                    let stream = match limit {
                        Some(limit) => limited(stream.boxed(), limit),
                        None => stream.boxed(),
                    };
                    Ok(Batches { schema, stream })
                }
                Source::Sql(sql) => {
                    let engine = shared.engine()?;
                    let frame = engine.sql(&sql).await?;
                    let stream = frame.execute_stream().await?;
                    let schema = stream.schema();
                    Ok(Batches {
                        schema,
                        stream: stream.map_err(Failure::from).boxed(),
                    })
                }
            }
        }
    }

    /// Every batch of one run, read here (Ctrl-C stops it).
    fn collect(&self, py: Python<'_>) -> PyResult<(SchemaRef, Vec<RecordBatch>)> {
        let open = self.open();
        wait(py, async move {
            let Batches { schema, stream } = open.await?;
            let batches: Vec<RecordBatch> = stream.try_collect().await?;
            Ok((schema, batches))
        })
    }

    /// A pyo3-arrow reader over batches already read.
    fn reader_of(
        py: Python<'_>,
        schema: SchemaRef,
        batches: Vec<RecordBatch>,
    ) -> PyResult<Bound<'_, PyAny>> {
        let reader = RecordBatchIterator::new(batches.into_iter().map(Ok), schema);
        Ok(Bound::new(py, PyRecordBatchReader::new(Box::new(reader)))?.into_any())
    }
}

/// The first `limit` rows of `stream`.
fn limited(
    stream: BoxStream<'static, Result<RecordBatch, Failure>>,
    limit: u64,
) -> BoxStream<'static, Result<RecordBatch, Failure>> {
    stream
        .scan(limit, |left, batch| {
            let out = match batch {
                Ok(_) if *left == 0 => None,
                Ok(batch) => {
                    let take = (*left).min(batch.num_rows() as u64);
                    *left -= take;
                    Some(Ok(batch.slice(0, take as usize)))
                }
                Err(error) => Some(Err(error)),
            };
            futures::future::ready(out)
        })
        .boxed()
}

/// Batches read on demand by a consumer outside Python (pyarrow, polars,
/// DuckDB): each `next` waits on the runtime.
struct BlockingReader {
    runtime: &'static Runtime,
    batches: Batches,
}

impl Iterator for BlockingReader {
    type Item = Result<RecordBatch, ArrowError>;

    fn next(&mut self) -> Option<Self::Item> {
        let next = self.runtime.block_on(self.batches.stream.next())?;
        Some(next.map_err(|failure| ArrowError::ExternalError(Box::new(failure))))
    }
}

impl RecordBatchReader for BlockingReader {
    fn schema(&self) -> SchemaRef {
        self.batches.schema.clone()
    }
}

#[pymethods]
impl Rows {
    /// The rows as an Arrow C stream (PyCapsule). The query is planned
    /// here (errors such as a deleted resource are raised here); the rows
    /// are then read as the consumer asks for them.
    #[pyo3(signature = (requested_schema = None))]
    fn __arrow_c_stream__<'py>(
        &self,
        py: Python<'py>,
        requested_schema: Option<Bound<'py, PyCapsule>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let batches = wait(py, self.open())?;
        let reader = BlockingReader {
            runtime: runtime()?,
            batches,
        };
        let reader = Bound::new(py, PyRecordBatchReader::new(Box::new(reader)))?;
        reader.call_method1("__arrow_c_stream__", (requested_schema,))
    }

    /// The column names.
    #[getter]
    fn columns(&self, py: Python<'_>) -> PyResult<Vec<String>> {
        let schema = wait(py, self.schema())?;
        Ok(schema.fields().iter().map(|f| f.name().clone()).collect())
    }

    /// A pyarrow.Table (needs pyarrow).
    fn to_arrow<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let pyarrow = import(py, "pyarrow", "to_arrow")?;
        let (schema, batches) = self.collect(py)?;
        pyarrow.call_method1("table", (Rows::reader_of(py, schema, batches)?,))
    }

    /// A pandas.DataFrame (needs pandas and pyarrow).
    fn to_pandas<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        import(py, "pandas", "to_pandas")?;
        self.to_arrow(py)?.call_method0("to_pandas")
    }

    /// A polars.DataFrame (needs polars).
    fn to_polars<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let polars = import(py, "polars", "to_polars")?;
        let (schema, batches) = self.collect(py)?;
        polars.call_method1("DataFrame", (Rows::reader_of(py, schema, batches)?,))
    }

    /// Every row as a dict.
    fn to_pylist(&self, py: Python<'_>) -> PyResult<Vec<Py<PyAny>>> {
        let (schema, batches) = self.collect(py)?;
        let mut rows = Vec::new();
        for batch in &batches {
            rows.extend(dicts(py, &schema, batch)?);
        }
        Ok(rows)
    }

    fn __iter__(&self) -> RowIterator {
        RowIterator {
            state: Arc::new(tokio::sync::Mutex::new(RowState::NotStarted(Box::pin(
                self.open(),
            )))),
            buffer: Mutex::new(VecDeque::new()),
        }
    }

    fn __aiter__(&self) -> AsyncRowIterator {
        AsyncRowIterator {
            state: Arc::new(tokio::sync::Mutex::new(RowState::NotStarted(Box::pin(
                self.open(),
            )))),
            buffer: Arc::new(Mutex::new(VecDeque::new())),
        }
    }

    fn __repr__(&self) -> String {
        match &self.source {
            Source::Query { query, .. } => {
                format!("<Rows {}>", query.query_string(None).unwrap_or_default())
            }
            Source::Sql(sql) => format!("<Rows of {sql:?}>"),
        }
    }
}

/// Imports a module a conversion needs, or says how to install it.
fn import<'py>(py: Python<'py>, module: &str, method: &str) -> PyResult<Bound<'py, PyModule>> {
    py.import(module).map_err(|_| {
        pyo3::exceptions::PyImportError::new_err(format!(
            "Rows.{method}() needs {module}: pip install {module} (or read the rows with pyarrow.table(rows), \
             polars.DataFrame(rows) or duckdb, which take them directly)"
        ))
    })
}

/// A batch's rows as dicts (values as JSON gives them: numbers, text,
/// booleans, None; dates as ISO text).
fn dicts(py: Python<'_>, schema: &SchemaRef, batch: &RecordBatch) -> PyResult<Vec<Py<PyAny>>> {
    let names: Vec<&String> = schema.fields().iter().map(|f| f.name()).collect();
    datagouv_sql::json_rows(batch)
        .into_iter()
        .map(|row| {
            let dict = PyDict::new(py);
            for (name, value) in names.iter().zip(row) {
                dict.set_item(name, pythonize::pythonize(py, &value)?)?;
            }
            Ok(dict.into_any().unbind())
        })
        .collect()
}

type Opening =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<Batches, Failure>> + Send>>;

/// Where a row iteration stands.
enum RowState {
    NotStarted(Opening),
    Reading(Batches),
    Done,
}

impl RowState {
    /// The rows of the next batch, as JSON values by column; `None` at the end.
    async fn next_rows(&mut self) -> Result<Option<(SchemaRef, RecordBatch)>, Failure> {
        loop {
            match self {
                RowState::NotStarted(opening) => {
                    let batches = opening.await?;
                    *self = RowState::Reading(batches);
                }
                RowState::Reading(batches) => match batches.stream.next().await {
                    Some(Ok(batch)) if batch.num_rows() == 0 => {}
                    Some(batch) => return Ok(Some((batches.schema.clone(), batch?))),
                    None => {
                        *self = RowState::Done;
                        return Ok(None);
                    }
                },
                RowState::Done => return Ok(None),
            }
        }
    }
}

/// Rows as dicts, batch by batch (`for row in rows`).
#[pyclass(frozen, module = "datagouv_rs")]
pub struct RowIterator {
    state: Arc<tokio::sync::Mutex<RowState>>,
    buffer: Mutex<VecDeque<Py<PyAny>>>,
}

#[pymethods]
impl RowIterator {
    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        loop {
            if let Some(row) = self.buffer.lock().expect("not poisoned").pop_front() {
                return Ok(row);
            }
            let state = self.state.clone();
            let next = wait(py, async move { state.lock().await.next_rows().await })?;
            match next {
                Some((schema, batch)) => {
                    let rows = dicts(py, &schema, &batch)?;
                    self.buffer.lock().expect("not poisoned").extend(rows);
                }
                None => return Err(PyStopIteration::new_err(())),
            }
        }
    }
}

/// Rows as dicts, batch by batch (`async for row in rows`).
#[pyclass(frozen, module = "datagouv_rs")]
pub struct AsyncRowIterator {
    state: Arc<tokio::sync::Mutex<RowState>>,
    buffer: Arc<Mutex<VecDeque<Py<PyAny>>>>,
}

#[pymethods]
impl AsyncRowIterator {
    fn __aiter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __anext__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let (state, buffer) = (self.state.clone(), self.buffer.clone());
        let ready = buffer.lock().expect("not poisoned").pop_front();
        let has_ready = ready.is_some();
        awaitable(
            py,
            async move {
                if has_ready {
                    return Ok(None);
                }
                state.lock().await.next_rows().await
            },
            move |py, next| {
                if let Some(row) = ready {
                    return Ok(row);
                }
                let Some((schema, batch)) = next else {
                    return Err(PyStopAsyncIteration::new_err(()));
                };
                let mut rows = VecDeque::from(dicts(py, &schema, &batch)?);
                let first = rows.pop_front();
                buffer.lock().expect("not poisoned").extend(rows);
                match first {
                    Some(row) => Ok(row),
                    None => Err(PyStopAsyncIteration::new_err(())),
                }
            },
        )
    }
}
