//! The policy fence: the rows and columns a caller may see of a table, as one node of the
//! logical plan and as the derived table a database receives for it.
//!
//! The engine puts a [`PolicyFence`] above each database table's policy view (its row filter
//! and masks). Nothing the caller wrote may be evaluated below it: locally the fence is a node
//! no optimizer rule sees through, and in SQL it is [`statement`], a derived table closed by
//! the dialect's [`fence`](super::dialect::Dialect::fence) clause, which the database may
//! neither merge with the caller's query nor push the caller's predicates into.

use std::fmt;
use std::sync::Arc;

use datafusion::common::DFSchemaRef;
use datafusion::error::Result;
use datafusion::logical_expr::{Expr, Extension, LogicalPlan, UserDefinedLogicalNodeCore};

use super::dialect::Dialect;

/// The policy fence: the rows and columns a caller may see of a table. Nothing the caller
/// wrote may be evaluated below it; a database receives it as a derived table it cannot merge.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd)]
pub struct PolicyFence {
    pub input: LogicalPlan,
}

impl PolicyFence {
    pub fn plan(input: LogicalPlan) -> LogicalPlan {
        LogicalPlan::Extension(Extension {
            node: Arc::new(Self { input }),
        })
    }
}

impl UserDefinedLogicalNodeCore for PolicyFence {
    fn name(&self) -> &str {
        "PolicyFence"
    }

    fn inputs(&self) -> Vec<&LogicalPlan> {
        vec![&self.input]
    }

    fn schema(&self) -> &DFSchemaRef {
        self.input.schema()
    }

    fn expressions(&self) -> Vec<Expr> {
        Vec::new()
    }

    fn fmt_for_explain(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "PolicyFence")
    }

    fn with_exprs_and_inputs(
        &self,
        _exprs: Vec<Expr>,
        mut inputs: Vec<LogicalPlan>,
    ) -> Result<Self> {
        Ok(Self {
            input: inputs.swap_remove(0),
        })
    }

    /// The fence passes columns through: a column nobody reads above it need not be computed
    /// (nor masked, nor fetched) below it. Rows are untouched.
    fn necessary_children_exprs(&self, output_columns: &[usize]) -> Option<Vec<Vec<usize>>> {
        Some(vec![output_columns.to_vec()])
    }
}

/// Whether `plan` is a policy fence; its input if so.
pub fn fence_input(plan: &LogicalPlan) -> Option<&LogicalPlan> {
    match plan {
        LogicalPlan::Extension(Extension { node }) => node
            .as_any()
            .downcast_ref::<PolicyFence>()
            .map(|fence| &fence.input),
        _ => None,
    }
}

/// The fenced derived table: `columns` of the policy view's statement `inner`, closed by the
/// clause with which the dialect keeps it from being merged.
pub fn statement(dialect: &dyn Dialect, columns: &str, inner: &str) -> String {
    format!("SELECT {columns} FROM ({inner}) q {}", dialect.fence())
}
