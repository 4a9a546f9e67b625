//! [`BarrierExec`]: the wall between a policy view and the query above it.
//!
//! Below it, the view's own row filter and masks; above it, the user's expressions. It passes
//! batches through unchanged but lets nothing cross: no filter is pushed into it (so a user
//! predicate that would fail or be slow on a hidden row is evaluated only on visible rows, never
//! merged with the row filter), no projection is swapped under it, and it reports no statistics
//! (so `count(*)` is never answered from the unfiltered files' metadata). Nor does it pass on
//! what the plan below knows about its output: a row filter `code = '…'` makes the code column a
//! constant below, and a query above (a ROLLUP, whose total row has NULL there) must not plan
//! as if it still were one.
//!
//! For a caller's `EXPLAIN` it is where the printed plan ends: it names its table and the
//! caller's own rows (see [`crate::explain`]), and nothing below it is printed.

use std::fmt;
use std::sync::Arc;

use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::error::Result;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr};
use datafusion::physical_plan::execution_plan::{ChildrenPropertiesMode, ReplaceChildrenOptions};
use datafusion::physical_plan::{DisplayAs, DisplayFormatType, ExecutionPlan, PlanProperties};

#[derive(Debug)]
pub struct BarrierExec {
    table: String,
    /// The caller's rows, as EXPLAIN prints them (`330824116000 except 330824116200`).
    rows: Option<String>,
    input: Arc<dyn ExecutionPlan>,
    properties: Arc<PlanProperties>,
}

impl BarrierExec {
    pub fn new(table: String, input: Arc<dyn ExecutionPlan>) -> Self {
        let below = input.properties();
        let properties = Arc::new(PlanProperties::new(
            EquivalenceProperties::new(input.schema()),
            below.partitioning.clone(),
            below.emission_type,
            below.boundedness,
        ));
        Self {
            table,
            rows: None,
            input,
            properties,
        }
    }

    /// The same barrier, saying which rows pass it.
    pub fn with_rows(mut self, rows: String) -> Self {
        self.rows = Some(rows);
        self
    }
}

impl DisplayAs for BarrierExec {
    fn fmt_as(&self, t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        match t {
            DisplayFormatType::TreeRender => {
                write!(f, "table={}", self.table)?;
                if let Some(rows) = &self.rows {
                    write!(f, "\nrows={rows}")?;
                }
                Ok(())
            }
            _ => {
                write!(f, "PolicyBarrierExec: table={}", self.table)?;
                if let Some(rows) = &self.rows {
                    write!(f, ", rows of {rows}")?;
                }
                Ok(())
            }
        }
    }
}

impl ExecutionPlan for BarrierExec {
    fn name(&self) -> &str {
        "PolicyBarrierExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn replace_children(
        self: Arc<Self>,
        mut children: Vec<Arc<dyn ExecutionPlan>>,
        _options: ReplaceChildrenOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let mut barrier = BarrierExec::new(self.table.clone(), children.swap_remove(0));
        barrier.rows = self.rows.clone();
        Ok(Arc::new(barrier))
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        self.replace_children(
            children,
            ReplaceChildrenOptions::new(ChildrenPropertiesMode::Recompute),
        )
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        self.input.execute(partition, context)
    }
}
