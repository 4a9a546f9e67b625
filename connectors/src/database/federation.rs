//! Database tables in DataFusion plans, and the pushdown of sub-plans to their database.
//!
//! Each table of a database source is a [`FederatedTableProviderAdaptor`] whose federation
//! provider is the source itself (its compute context is the source id, so only tables of
//! one source are ever combined into one remote statement). datafusion-federation's rule finds
//! the largest sub-plans over one source and hands them to [`PushdownRule`], which writes the
//! largest parts it can as SQL ([`super::writer`]) and replaces each by a [`RemoteQuery`] leaf;
//! what it cannot write stays in the plan and runs locally over remote scans.

use std::any::Any;
use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::record_batch::RecordBatchOptions;
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::tree_node::{Transformed, TreeNodeRecursion};
use datafusion::common::{DFSchemaRef, Statistics};
use datafusion::datasource::TableType;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::physical_planning_context::PhysicalPlanningContext;
use datafusion::logical_expr::{
    Expr, Extension, LogicalPlan, TableProviderFilterPushDown, TableScan, TableSource,
    UserDefinedLogicalNode, UserDefinedLogicalNodeCore,
};
use datafusion::optimizer::optimize_projections::OptimizeProjections;
use datafusion::optimizer::optimizer::{Optimizer, OptimizerConfig, OptimizerRule};
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::metrics::{BaselineMetrics, ExecutionPlanMetricsSet, MetricsSet};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, Partitioning, PlanProperties,
};
use datafusion::physical_planner::{ExtensionPlanner, PhysicalPlanner};
use datafusion_federation::{
    FederatedTableProviderAdaptor, FederatedTableSource, FederationProvider, get_table_source,
};
use futures::StreamExt;

use super::name::RemoteName;
use super::source::{DatabaseSource, QuerySpan, Requester};
use super::writer::{Leaves, Writer, limit_clause, scan_statement};

/// One table of a database source, with its pinned schema.
#[derive(Debug)]
pub struct RemoteTable {
    source: Arc<DatabaseSource>,
    name: RemoteName,
    /// How each field is selected, in field order (see [`Dialect::column`](super::dialect::Dialect::column)).
    columns: Vec<String>,
    schema: SchemaRef,
}

impl RemoteTable {
    /// The table as DataFusion sees it: a federated table that falls back to plain scans.
    pub fn provider(
        source: Arc<DatabaseSource>,
        name: RemoteName,
        schema: SchemaRef,
        remote_types: &BTreeMap<String, String>,
    ) -> Arc<dyn TableProvider> {
        let dialect = source.kind().dialect();
        let columns = schema
            .fields()
            .iter()
            .map(|f| dialect.column(f.name(), remote_types.get(f.name()).map(String::as_str)))
            .collect();
        let table = Arc::new(Self {
            source: source.clone(),
            name,
            columns,
            schema,
        });
        let federation = Arc::new(SourceFederation::new(source));
        let adaptor = FederatedTableProviderAdaptor::new_with_provider(
            Arc::new(RemoteTableSource {
                table: table.clone(),
                federation,
            }),
            table,
        );
        Arc::new(adaptor)
    }
}

#[async_trait]
impl TableProvider for RemoteTable {
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
        Ok(vec![
            TableProviderFilterPushDown::Unsupported;
            filters.len()
        ])
    }

    /// A plain scan, for plans the pushdown leaves alone (union members, subqueries in
    /// expressions): the projected columns, and the limit when there is one.
    async fn scan(
        &self,
        _state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let indices: Vec<usize> = match projection {
            Some(p) => p.clone(),
            None => (0..self.columns.len()).collect(),
        };
        let columns: Vec<&str> = indices.iter().map(|i| self.columns[*i].as_str()).collect();
        let dialect = self.source.kind().dialect();
        let mut statement = scan_statement(dialect, &self.name, &columns);
        statement.push_str(&limit_clause(dialect, 0, limit));
        let schema = Arc::new(self.schema.project(&indices)?);
        Ok(Arc::new(RemoteExec::new(
            self.source.clone(),
            statement,
            schema,
        )))
    }
}

#[derive(Debug)]
struct RemoteTableSource {
    table: Arc<RemoteTable>,
    federation: Arc<SourceFederation>,
}

impl TableSource for RemoteTableSource {
    fn schema(&self) -> SchemaRef {
        self.table.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }
}

impl FederatedTableSource for RemoteTableSource {
    fn federation_provider(&self) -> Arc<dyn FederationProvider> {
        self.federation.clone()
    }
}

/// A database source as datafusion-federation sees it.
struct SourceFederation {
    source: Arc<DatabaseSource>,
    /// The pushdown for this source, built once.
    optimizer: Arc<Optimizer>,
}

impl fmt::Debug for SourceFederation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SourceFederation")
            .field("source", &self.source.name())
            .finish()
    }
}

impl SourceFederation {
    fn new(source: Arc<DatabaseSource>) -> Self {
        let pushdown = PushdownRule {
            source: source.clone(),
        };
        Self {
            source,
            optimizer: Arc::new(Optimizer::with_rules(vec![Arc::new(pushdown)])),
        }
    }
}

impl FederationProvider for SourceFederation {
    fn name(&self) -> &str {
        "tiaokuai"
    }

    fn compute_context(&self) -> Option<String> {
        Some(format!("{:p}", Arc::as_ptr(&self.source)))
    }

    fn optimizer(&self) -> Option<Arc<Optimizer>> {
        Some(self.optimizer.clone())
    }
}

/// Writes what it can of a sub-plan over one source as SQL.
#[derive(Debug)]
struct PushdownRule {
    source: Arc<DatabaseSource>,
}

impl Leaves for PushdownRule {
    fn table(&self, scan: &TableScan) -> Option<(RemoteName, Vec<String>)> {
        let federated = get_table_source(&scan.source).ok()??;
        let source = (federated.as_ref() as &dyn Any).downcast_ref::<RemoteTableSource>()?;
        Arc::ptr_eq(&source.table.source, &self.source)
            .then(|| (source.table.name.clone(), source.table.columns.clone()))
    }
}

impl PushdownRule {
    fn push(&self, plan: LogicalPlan) -> Result<LogicalPlan> {
        let writer = Writer {
            dialect: self.source.kind().dialect(),
            leaves: self,
        };
        if let Some(fragment) = writer.plan(&plan) {
            return Ok(LogicalPlan::Extension(Extension {
                node: Arc::new(RemoteQuery {
                    source: self.source.clone(),
                    sql: fragment.sql,
                    schema: plan.schema().clone(),
                }),
            }));
        }
        // this node runs locally; its inputs may still go to the database
        let inputs: Vec<LogicalPlan> = plan.inputs().into_iter().cloned().collect();
        if inputs.is_empty() {
            return Ok(plan);
        }
        let pushed = inputs
            .into_iter()
            .map(|input| self.push(input))
            .collect::<Result<Vec<_>>>()?;
        plan.with_new_exprs(plan.expressions(), pushed)
    }
}

impl OptimizerRule for PushdownRule {
    fn name(&self) -> &str {
        "tiaokuai_remote_pushdown"
    }

    fn supports_rewrite(&self) -> bool {
        true
    }

    fn rewrite(
        &self,
        plan: LogicalPlan,
        config: &dyn OptimizerConfig,
    ) -> Result<Transformed<LogicalPlan>> {
        // read only the columns the sub-plan uses: the scans' projections then name them
        let plan = OptimizeProjections::new().rewrite(plan, config)?.data;
        Ok(Transformed::yes(self.push(plan)?))
    }
}

/// A statement run by one database, as a plan leaf.
#[derive(Debug, Clone)]
pub struct RemoteQuery {
    source: Arc<DatabaseSource>,
    sql: String,
    schema: DFSchemaRef,
}

impl PartialEq for RemoteQuery {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.source, &other.source)
            && self.sql == other.sql
            && self.schema == other.schema
    }
}

impl Eq for RemoteQuery {}

impl Hash for RemoteQuery {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.source.name().hash(state);
        self.sql.hash(state);
    }
}

impl PartialOrd for RemoteQuery {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        (self.source.name(), &self.sql).partial_cmp(&(other.source.name(), &other.sql))
    }
}

impl UserDefinedLogicalNodeCore for RemoteQuery {
    fn name(&self) -> &str {
        "RemoteQuery"
    }

    fn inputs(&self) -> Vec<&LogicalPlan> {
        Vec::new()
    }

    fn schema(&self) -> &DFSchemaRef {
        &self.schema
    }

    fn expressions(&self) -> Vec<Expr> {
        Vec::new()
    }

    fn fmt_for_explain(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(
            f,
            "RemoteQuery: source={} sql={}",
            self.source.name(),
            self.sql
        )
    }

    fn with_exprs_and_inputs(&self, _exprs: Vec<Expr>, _inputs: Vec<LogicalPlan>) -> Result<Self> {
        Ok(self.clone())
    }
}

/// Plans [`RemoteQuery`] leaves.
#[derive(Debug, Default)]
pub struct RemotePlanner;

#[async_trait]
impl ExtensionPlanner for RemotePlanner {
    async fn plan_extension(
        &self,
        _planner: &dyn PhysicalPlanner,
        node: &dyn UserDefinedLogicalNode,
        _logical_inputs: &[&LogicalPlan],
        _physical_inputs: &[Arc<dyn ExecutionPlan>],
        _session: &dyn Session,
        _planning_ctx: &PhysicalPlanningContext,
    ) -> Result<Option<Arc<dyn ExecutionPlan>>> {
        let Some(query) = node.as_any().downcast_ref::<RemoteQuery>() else {
            return Ok(None);
        };
        Ok(Some(Arc::new(RemoteExec::new(
            query.source.clone(),
            query.sql.clone(),
            Arc::new(query.schema.as_arrow().clone()),
        ))))
    }
}

/// Runs one statement on a database source and streams its rows in the expected schema.
#[derive(Debug)]
pub struct RemoteExec {
    source: Arc<DatabaseSource>,
    sql: String,
    schema: SchemaRef,
    properties: Arc<PlanProperties>,
    /// `output_rows` is the number of rows the database sent.
    metrics: ExecutionPlanMetricsSet,
}

impl RemoteExec {
    pub fn new(source: Arc<DatabaseSource>, sql: String, schema: SchemaRef) -> Self {
        let properties = Arc::new(PlanProperties::new(
            EquivalenceProperties::new(schema.clone()),
            Partitioning::UnknownPartitioning(1),
            EmissionType::Incremental,
            Boundedness::Bounded,
        ));
        Self {
            source,
            sql,
            schema,
            properties,
            metrics: ExecutionPlanMetricsSet::new(),
        }
    }
}

impl DisplayAs for RemoteExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(
            f,
            "RemoteQueryExec: source={} sql={}",
            self.source.name(),
            self.sql
        )
    }
}

impl ExecutionPlan for RemoteExec {
    fn name(&self) -> &str {
        "RemoteQueryExec"
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        Vec::new()
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        if children.is_empty() {
            Ok(self)
        } else {
            Err(DataFusionError::Internal(
                "RemoteQueryExec has no children".into(),
            ))
        }
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        if partition != 0 {
            return Err(DataFusionError::Internal(format!(
                "RemoteQueryExec has one partition, not {partition}"
            )));
        }
        // the principal the query runs for, whose share of the source's slots it takes
        let requester = context.session_config().get_extension::<Requester>();
        let requester = requester.as_deref();
        let parent = context.session_config().get_extension::<QuerySpan>();
        let parent = parent.as_deref();
        let baseline = BaselineMetrics::new(&self.metrics, partition);
        if !self.schema.fields().is_empty() {
            let rows = self
                .source
                .query(self.sql.clone(), self.schema.clone(), requester, parent);
            let counted = rows.map(move |batch| {
                if let Ok(batch) = &batch {
                    baseline.record_output(batch.num_rows());
                }
                batch
            });
            return Ok(Box::pin(RecordBatchStreamAdapter::new(
                self.schema.clone(),
                counted,
            )));
        }
        // no column is needed, only the number of rows: the statement selects a placeholder
        let counted = Arc::new(Schema::new(vec![Field::new(
            "c_rows",
            DataType::Int64,
            true,
        )]));
        let rows = self
            .source
            .query(self.sql.clone(), counted, requester, parent);
        let schema = self.schema.clone();
        let stream = rows.map(move |batch| {
            let batch = batch?;
            baseline.record_output(batch.num_rows());
            let options = RecordBatchOptions::new().with_row_count(Some(batch.num_rows()));
            Ok(RecordBatch::try_new_with_options(
                schema.clone(),
                Vec::new(),
                &options,
            )?)
        });
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            self.schema.clone(),
            stream,
        )))
    }

    fn metrics(&self) -> Option<MetricsSet> {
        Some(self.metrics.clone_inner())
    }

    fn partition_statistics(&self, _partition: Option<usize>) -> Result<Arc<Statistics>> {
        Ok(Arc::new(Statistics::new_unknown(&self.schema)))
    }
}
