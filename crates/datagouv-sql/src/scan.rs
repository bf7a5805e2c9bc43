//! Tables read through the Tabular or Metrics API: filters, columns and
//! limits go to the server; the export's windows are the partitions.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use async_trait::async_trait;
use datafusion::arrow::datatypes::DataType;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::datasource::TableType;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::TaskContext;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::physical_expr::PhysicalSortExpr;
use datafusion::physical_expr::expressions::Column as PhysicalColumn;
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr};
use datafusion::physical_plan::SortOrderPushdownResult;
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, Partitioning, PlanProperties,
    SendableRecordBatchStream,
};
use datagouv::{ArrowTypes, Condition, ExportFormat, ExportPlan, MAX_PAGE_SIZE, Order, Query};
use futures::StreamExt;
use tokio::sync::Semaphore;

use crate::pushdown::{Dialect, Pushed, plain_filters, push};
use crate::{Progress, external};

/// A Tabular API resource or a Metrics model as a table.
pub(crate) struct ApiTable {
    /// What the table is, for plans and errors: `resource <id>` or `metrics model <name>`.
    label: String,
    query: Query,
    types: ArrowTypes,
    schema: SchemaRef,
    /// Windows fetched at once, shared by every scan of the engine.
    permits: Arc<Semaphore>,
    progress: Progress,
}

impl fmt::Debug for ApiTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiTable")
            .field("label", &self.label)
            .finish_non_exhaustive()
    }
}

impl ApiTable {
    fn dialect(&self) -> Dialect {
        if self.query.is_tabular() {
            Dialect::Tabular
        } else {
            Dialect::Metrics
        }
    }

    pub(crate) fn new(
        label: String,
        query: Query,
        types: ArrowTypes,
        permits: Arc<Semaphore>,
        progress: Progress,
    ) -> ApiTable {
        ApiTable {
            label,
            schema: types.schema(),
            query,
            types,
            permits,
            progress,
        }
    }
}

#[async_trait]
impl TableProvider for ApiTable {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> Result<Vec<TableProviderFilterPushDown>> {
        Ok(filters
            .iter()
            .map(|filter| match push(filter, &self.schema, self.dialect()) {
                Some(pushed) => pushed.support(),
                None => TableProviderFilterPushDown::Unsupported,
            })
            .collect())
    }

    async fn scan(
        &self,
        _state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let mut query = self.query.clone();
        let mut said = Vec::new();
        for filter in filters {
            if let Some(Pushed { condition, .. }) = push(filter, &self.schema, self.dialect()) {
                said.push(filter.to_string());
                query = match (self.dialect(), condition) {
                    (_, Condition::Filter(filter)) => query.with_filter(filter),
                    (Dialect::Metrics, and) => {
                        let mut plain = Vec::new();
                        plain_filters(and, &mut plain);
                        plain.into_iter().fold(query, Query::with_filter)
                    }
                    (Dialect::Tabular, group) => query.group(group),
                };
            }
        }
        // Only the columns asked; none asked (COUNT(*)) moves `__id` alone.
        let columns: Vec<String> = match projection {
            Some(indices) => indices
                .iter()
                .map(|&i| self.schema.field(i).name().clone())
                .collect(),
            None => Vec::new(),
        };
        let metrics = !query.is_tabular();
        let (types, wanted) = if columns.is_empty() && projection.is_some() && !metrics {
            (
                self.types.select(&["__id".to_owned()]).map_err(external)?,
                Vec::new(),
            )
        } else if columns.is_empty() {
            (self.types.clone(), Vec::new())
        } else {
            (
                self.types.select(&columns).map_err(external)?,
                columns.clone(),
            )
        };
        if !metrics && (projection.is_some()) {
            let sent = if wanted.is_empty() {
                vec!["__id".to_owned()]
            } else {
                wanted.clone()
            };
            query = query.columns(sent);
        }
        // The Metrics API selects no columns: all come, the scan keeps the asked ones.
        let output = match projection {
            Some(_) if wanted.is_empty() => {
                Arc::new(datafusion::arrow::datatypes::Schema::new(Vec::<
                    datafusion::arrow::datatypes::Field,
                >::new(
                )))
            }
            Some(_) => types.schema(),
            None => types.schema(),
        };
        let source = match limit {
            Some(n) if n <= MAX_PAGE_SIZE as usize => Source::FirstRows(n as u32),
            _ => {
                let plan = query
                    .export_plan(ExportFormat::Csv)
                    .await
                    .map_err(external)?;
                Source::Windows(Arc::new(plan))
            }
        };
        let partitions = match &source {
            Source::FirstRows(_) | Source::Sorted => 1,
            Source::Windows(plan) => plan.windows().max(1),
        };
        if let Source::Windows(plan) = &source {
            self.progress
                .windows_total
                .fetch_add(plan.windows() as u64, Ordering::Relaxed);
            if let Some(total) = plan.total() {
                self.progress.rows_total.fetch_add(total, Ordering::Relaxed);
            }
        }
        let properties = PlanProperties::new(
            EquivalenceProperties::new(output.clone()),
            Partitioning::UnknownPartitioning(partitions),
            EmissionType::Incremental,
            Boundedness::Bounded,
        );
        Ok(Arc::new(ApiScan {
            label: self.label.clone(),
            query,
            types,
            output,
            source,
            pushed: said,
            columns: wanted,
            limit,
            sorted_by: Vec::new(),
            fetch: None,
            permits: self.permits.clone(),
            progress: self.progress.clone(),
            properties: Arc::new(properties),
        }))
    }
}

/// Where a scan's rows come from.
#[derive(Clone, Debug)]
enum Source {
    /// One page of at most 50 rows (a small `LIMIT`): one request.
    FirstRows(u32),
    /// The export's windows, one partition each.
    Windows(Arc<ExportPlan>),
    /// Sorted by the server (`ORDER BY` pushed): one partition, in order;
    /// one page when at most 50 rows are fetched, else the sorted export.
    Sorted,
}

/// The scan of an [`ApiTable`].
#[derive(Clone)]
pub(crate) struct ApiScan {
    label: String,
    query: Query,
    types: ArrowTypes,
    /// The batches' schema (no column for `COUNT(*)`: rows only).
    output: SchemaRef,
    source: Source,
    /// The filters sent to the server, as SQL.
    pushed: Vec<String>,
    /// The columns asked of the server (empty: all).
    columns: Vec<String>,
    limit: Option<usize>,
    /// The server's sort, when `ORDER BY` was pushed (as SQL, for plans).
    sorted_by: Vec<String>,
    /// Rows wanted at most, once a sort with a limit was pushed.
    fetch: Option<usize>,
    permits: Arc<Semaphore>,
    progress: Progress,
    properties: Arc<PlanProperties>,
}

impl fmt::Debug for ApiScan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiScan")
            .field("label", &self.label)
            .finish_non_exhaustive()
    }
}

impl DisplayAs for ApiScan {
    fn fmt_as(&self, _format: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        let api = if self.query.is_tabular() {
            "Tabular API"
        } else {
            "Metrics API"
        };
        write!(f, "DatagouvScan: {} via the {api}", self.label)?;
        match &self.source {
            Source::FirstRows(n) => write!(f, ", one page of {n} rows")?,
            Source::Windows(plan) => write!(
                f,
                ", {} window(s) ({:?}), {} matching rows",
                plan.windows(),
                plan.method(),
                plan.total()
                    .map_or_else(|| "?".to_owned(), |total| total.to_string())
            )?,
            Source::Sorted => match self.fetch {
                Some(n) if n <= MAX_PAGE_SIZE as usize => {
                    write!(f, ", one sorted page of {n} rows")?
                }
                _ => write!(f, ", the sorted export's windows")?,
            },
        }
        if !self.sorted_by.is_empty() {
            write!(f, ", sort pushed: [{}]", self.sorted_by.join(", "))?;
        }
        if let Some(fetch) = self.fetch {
            write!(f, ", fetch {fetch}")?;
        }
        if !self.pushed.is_empty() {
            write!(f, ", filters pushed: [{}]", self.pushed.join(", "))?;
        }
        if !self.columns.is_empty() {
            write!(f, ", columns pushed: [{}]", self.columns.join(", "))?;
        } else if self.output.fields().is_empty() {
            write!(f, ", columns pushed: [__id] (rows counted)")?;
        }
        if let Some(limit) = self.limit {
            write!(f, ", limit {limit}")?;
        }
        Ok(())
    }
}

impl ExecutionPlan for ApiScan {
    fn name(&self) -> &str {
        "DatagouvScan"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        Vec::new()
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        if children.is_empty() {
            Ok(self)
        } else {
            Err(DataFusionError::Internal(
                "a Tabular scan has no children".into(),
            ))
        }
    }

    fn fetch(&self) -> Option<usize> {
        self.fetch
    }

    fn with_fetch(&self, limit: Option<usize>) -> Option<Arc<dyn ExecutionPlan>> {
        // Only a sorted scan takes a fetch: the others are cut by DataFusion.
        matches!(self.source, Source::Sorted).then(|| {
            Arc::new(ApiScan {
                fetch: limit,
                ..self.clone()
            }) as Arc<dyn ExecutionPlan>
        })
    }

    /// `ORDER BY` on columns of numbers, dates, timestamps or booleans, with
    /// PostgreSQL's NULL placement (last ascending, first descending), is
    /// sorted by the server exactly; text is not (PostgreSQL's collation is
    /// not SQL's byte order), nor a scan already cut into windows for a
    /// `LIMIT` or a column-less `COUNT(*)`.
    fn try_pushdown_sort(
        &self,
        order: &[PhysicalSortExpr],
    ) -> Result<SortOrderPushdownResult<Arc<dyn ExecutionPlan>>> {
        let unsupported = Ok(SortOrderPushdownResult::Unsupported);
        if !self.query.is_tabular()
            || !matches!(self.source, Source::Windows(_))
            || self.output.fields().is_empty()
        {
            return unsupported;
        }
        let mut query = self.query.clone();
        let mut said = Vec::new();
        for sort in order {
            let Some(column) = sort.expr.downcast_ref::<PhysicalColumn>() else {
                return unsupported;
            };
            let Ok(field) = self.output.field_with_name(column.name()) else {
                return unsupported;
            };
            let comparable = matches!(
                field.data_type(),
                DataType::Int64
                    | DataType::Float64
                    | DataType::Date32
                    | DataType::Timestamp(_, _)
                    | DataType::Boolean
            );
            if !comparable || sort.options.nulls_first != sort.options.descending {
                return unsupported;
            }
            let direction = if sort.options.descending {
                Order::Desc
            } else {
                Order::Asc
            };
            query = query.sort(column.name(), direction);
            said.push(format!(
                "{} {}",
                column.name(),
                if sort.options.descending {
                    "DESC"
                } else {
                    "ASC"
                }
            ));
        }
        let ordering = order.to_vec();
        let properties = PlanProperties::new(
            EquivalenceProperties::new_with_orderings(self.output.clone(), [ordering]),
            Partitioning::UnknownPartitioning(1),
            EmissionType::Incremental,
            Boundedness::Bounded,
        );
        Ok(SortOrderPushdownResult::Exact {
            inner: Arc::new(ApiScan {
                query,
                source: Source::Sorted,
                sorted_by: said,
                properties: Arc::new(properties),
                ..self.clone()
            }),
        })
    }

    fn execute(
        &self,
        partition: usize,
        _context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let (query, types, output) = (self.query.clone(), self.types.clone(), self.output.clone());
        let (permits, progress) = (self.permits.clone(), self.progress.clone());
        let (source, fetch) = (self.source.clone(), self.fetch);
        let batches = async move {
            let batches: Vec<RecordBatch> = match source {
                Source::FirstRows(n) => vec![query.first_rows(n, &types).await.map_err(external)?],
                Source::Sorted => match fetch {
                    Some(n) if n <= MAX_PAGE_SIZE as usize => {
                        vec![
                            query
                                .first_rows(n.max(1) as u32, &types)
                                .await
                                .map_err(external)?,
                        ]
                    }
                    _ => {
                        let _permit = permits
                            .acquire_owned()
                            .await
                            .map_err(|e| DataFusionError::External(Box::new(e)))?;
                        let mut stream = query
                            .record_batches(&types, datagouv::ExportOptions::default())
                            .await
                            .map_err(external)?;
                        let mut batches = Vec::new();
                        let mut rows = 0;
                        while let Some(batch) = stream.next().await {
                            let mut batch = batch.map_err(external)?;
                            // DataFusion drops its own LIMIT once the scan
                            // takes the fetch: never give more rows.
                            if let Some(n) = fetch {
                                batch = batch.slice(0, batch.num_rows().min(n - rows));
                            }
                            rows += batch.num_rows();
                            batches.push(batch);
                            if fetch.is_some_and(|n| rows >= n) {
                                break;
                            }
                        }
                        batches
                    }
                },
                Source::Windows(plan) => {
                    if plan.windows() == 0 {
                        return Ok(Vec::new());
                    }
                    let _permit = permits
                        .acquire_owned()
                        .await
                        .map_err(|e| DataFusionError::External(Box::new(e)))?;
                    let batches = query
                        .window_batches(&plan, partition, &types)
                        .await
                        .map_err(external)?;
                    progress.windows_done.fetch_add(1, Ordering::Relaxed);
                    batches
                }
            };
            let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
            progress.rows.fetch_add(rows as u64, Ordering::Relaxed);
            // `COUNT(*)`: the rows, no column.
            if output.fields().is_empty() {
                return batches
                    .into_iter()
                    .map(|batch| {
                        RecordBatch::try_new_with_options(
                            output.clone(),
                            Vec::new(),
                            &datafusion::arrow::record_batch::RecordBatchOptions::new()
                                .with_row_count(Some(batch.num_rows())),
                        )
                        .map_err(DataFusionError::from)
                    })
                    .collect();
            }
            Ok(batches)
        };
        let stream = futures::stream::once(batches)
            .map(|result: Result<Vec<RecordBatch>>| match result {
                Ok(batches) => futures::stream::iter(batches.into_iter().map(Ok)).left_stream(),
                Err(error) => futures::stream::once(async move { Err(error) }).right_stream(),
            })
            .flatten();
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            self.output.clone(),
            stream,
        )))
    }
}
