//! `EXPLAIN` for a caller who reads through a policy: the plan down to each policy barrier, and
//! nothing below it.
//!
//! Below a barrier lie the base table's files (their paths), its statistics (row counts and
//! min/max values of rows the caller may not see) and the view's own operators. DataFusion's
//! own EXPLAIN prints all of them, so for such a caller the engine plans the statement itself
//! and prints a copy of the plan in which every barrier is a leaf: [`SealedBarrier`] in the
//! physical plan, [`SealedFence`] in the logical one. The barrier names its table and the
//! caller's own scope. Every format DataFusion has is printed from that copy, with
//! DataFusion's own renderers, and never with statistics. Forms that print what the copy
//! cannot stand for are refused: `ANALYZE` (row counts below the filter, refused by the
//! statement guard), `VERBOSE` (the text of every planning step, uncut) and `COSTS`
//! (statistics).

use std::cmp::Ordering;
use std::fmt;
use std::sync::Arc;

use datafusion::arrow::array::{RecordBatch, StringArray};
use datafusion::common::format::{ExplainFormat, ExplainStatementOptions};
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::common::{DFSchemaRef, DataFusionError};
use datafusion::execution::session_state::SessionState;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::{Expr, Extension, LogicalPlan, UserDefinedLogicalNodeCore};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, PlanProperties, displayable,
};
use datafusion::sql::parser::ExplainStatement;
use tiaokuai_connectors::database::fence_input;

use crate::barrier::BarrierExec;
use crate::error::{EngineError, Result};
use crate::params;

/// Refuses the forms that would print what lies below a barrier.
pub fn check(options: &ExplainStatementOptions) -> Result<()> {
    let refused = if options.analyze {
        "EXPLAIN ANALYZE is reserved for admin: it reports row counts before the policy filter"
    } else if options.verbose {
        "EXPLAIN VERBOSE is reserved for admin: it prints every planning step, down to the files below the policy barrier; use EXPLAIN"
    } else if options.show_statistics == Some(true) {
        "EXPLAIN COSTS is reserved for admin: statistics describe rows below the policy filter; use EXPLAIN"
    } else {
        return Ok(());
    };
    Err(EngineError::PermissionDenied(refused.into()))
}

/// Plans the explained statement, checks its plan with `verify` as if it were run, and
/// answers with the sealed plan in the requested format.
pub async fn sealed(
    state: &SessionState,
    explain: &ExplainStatement,
    params: &params::Bindings,
    verify: impl Fn(&LogicalPlan) -> Result<()>,
) -> Result<RecordBatch> {
    check(&explain.options)?;
    let plan = state
        .statement_to_plan(explain.statement.as_ref().clone())
        .await?;
    if matches!(plan, LogicalPlan::Explain(_) | LogicalPlan::Analyze(_)) {
        return Err(EngineError::InvalidSql(
            "nested EXPLAINs are not supported".into(),
        ));
    }
    verify(&plan)?;
    let plan = params::bind(plan, params)?;
    let optimized = state.optimize(&plan)?;
    let config = &state.config_options().explain;
    let format = explain
        .options
        .format
        .clone()
        .unwrap_or_else(|| config.format.clone());
    let logical = seal_logical(optimized.clone())?;
    let mut rows: Vec<(&str, String)> = Vec::new();
    match format {
        ExplainFormat::PostgresJSON => {
            rows.push(("logical_plan", logical.display_pg_json().to_string()))
        }
        ExplainFormat::Graphviz => {
            rows.push(("logical_plan", logical.display_graphviz().to_string()))
        }
        ExplainFormat::Tree => {
            let physical = seal_physical(physical_plan(state, &optimized).await?)?;
            rows.push((
                "physical_plan",
                displayable(physical.as_ref())
                    .set_tree_maximum_render_width(config.tree_maximum_render_width)
                    .tree_render()
                    .to_string(),
            ));
        }
        ExplainFormat::Indent => {
            if !config.physical_plan_only {
                rows.push(("logical_plan", logical.display_indent().to_string()));
            }
            if !config.logical_plan_only {
                let physical = seal_physical(physical_plan(state, &optimized).await?)?;
                rows.push((
                    "physical_plan",
                    displayable(physical.as_ref())
                        .set_show_statistics(false)
                        .set_show_schema(config.show_schema)
                        .indent(false)
                        .to_string(),
                ));
            }
        }
    }
    let (types, texts): (Vec<&str>, Vec<String>) = rows.into_iter().unzip();
    RecordBatch::try_new(
        LogicalPlan::explain_schema(),
        vec![
            Arc::new(StringArray::from(types)),
            Arc::new(StringArray::from(texts)),
        ],
    )
    .map_err(|e| EngineError::Internal(format!("the EXPLAIN answer: {e}").into()))
}

async fn physical_plan(
    state: &SessionState,
    optimized: &LogicalPlan,
) -> Result<Arc<dyn ExecutionPlan>> {
    Ok(state
        .query_planner()
        .create_physical_plan(optimized, state)
        .await?)
}

/// The logical plan with every policy fence as a leaf (subqueries included).
fn seal_logical(plan: LogicalPlan) -> Result<LogicalPlan> {
    let sealed = plan.transform_down_with_subqueries(|node| {
        if fence_input(&node).is_none() {
            return Ok(Transformed::no(node));
        }
        let leaf = LogicalPlan::Extension(Extension {
            node: Arc::new(SealedFence { fence: node }),
        });
        Ok(Transformed::new(leaf, true, TreeNodeRecursion::Jump))
    })?;
    Ok(sealed.data)
}

/// The physical plan with every barrier as a leaf.
fn seal_physical(plan: Arc<dyn ExecutionPlan>) -> Result<Arc<dyn ExecutionPlan>> {
    let sealed = plan.transform_down(|node| {
        if node.downcast_ref::<BarrierExec>().is_none() {
            return Ok(Transformed::no(node));
        }
        let leaf: Arc<dyn ExecutionPlan> = Arc::new(SealedBarrier { barrier: node });
        Ok(Transformed::new(leaf, true, TreeNodeRecursion::Jump))
    })?;
    Ok(sealed.data)
}

/// A policy fence as EXPLAIN prints it: its name, no inputs.
#[derive(PartialEq, Eq, Hash)]
pub struct SealedFence {
    fence: LogicalPlan,
}

impl fmt::Debug for SealedFence {
    // `FORMAT pgjson` prints an extension node's Debug form: the fence's name, not its input
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PolicyFence")
    }
}

impl PartialOrd for SealedFence {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        self.fence.partial_cmp(&other.fence)
    }
}

impl UserDefinedLogicalNodeCore for SealedFence {
    fn name(&self) -> &str {
        "PolicyFence"
    }

    fn inputs(&self) -> Vec<&LogicalPlan> {
        Vec::new()
    }

    fn schema(&self) -> &DFSchemaRef {
        self.fence.schema()
    }

    fn expressions(&self) -> Vec<Expr> {
        Vec::new()
    }

    fn fmt_for_explain(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("PolicyFence")
    }

    fn with_exprs_and_inputs(
        &self,
        _exprs: Vec<Expr>,
        _inputs: Vec<LogicalPlan>,
    ) -> datafusion::error::Result<Self> {
        Ok(Self {
            fence: self.fence.clone(),
        })
    }
}

/// A barrier as EXPLAIN prints it: its own line, no children. Only ever displayed.
#[derive(Debug)]
pub struct SealedBarrier {
    barrier: Arc<dyn ExecutionPlan>,
}

impl DisplayAs for SealedBarrier {
    fn fmt_as(&self, t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        self.barrier.fmt_as(t, f)
    }
}

impl ExecutionPlan for SealedBarrier {
    fn name(&self) -> &str {
        self.barrier.name()
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        self.barrier.properties()
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        Vec::new()
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> datafusion::error::Result<TreeNodeRecursion>,
    ) -> datafusion::error::Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn with_new_children(
        self: Arc<Self>,
        _children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> datafusion::error::Result<Arc<dyn ExecutionPlan>> {
        Ok(self)
    }

    fn execute(
        &self,
        _partition: usize,
        _context: Arc<TaskContext>,
    ) -> datafusion::error::Result<SendableRecordBatchStream> {
        Err(DataFusionError::Internal(
            "a plan printed by EXPLAIN is never run".into(),
        ))
    }
}
