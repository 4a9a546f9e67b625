//! SQL's answers where DataFusion 55 gives other ones, for every source kind.
//!
//! Each is a rewrite made while a query is planned (or, for `round`, a function registered in
//! DataFusion's place), so that the answer is the same whether the data sits in files or in a
//! database, and is the one PostgreSQL gives:
//!
//! - [`in_subquery`]: `IN` and `NOT IN (subquery)` with three-valued logic.
//! - [`similar_to`]: `SIMILAR TO` patterns translated as PostgreSQL translates them.
//! - [`rounding`]: `round` of a double half to even, and casts to integers that round.
//!
//! The database pushdown never writes the constructs these rewrites produce (regular
//! expressions, `round`, anti and mark joins), so they always run locally.

use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::common::{DFSchema, Result};
use datafusion::execution::FunctionRegistry;
use datafusion::execution::session_state::SessionState;
use datafusion::logical_expr::expr::{Cast, TryCast};
use datafusion::logical_expr::expr_rewriter::NamePreserver;
use datafusion::logical_expr::{Expr, LogicalPlan};
use datafusion::optimizer::AnalyzerRule;

pub mod in_subquery;
pub mod rounding;
pub mod similar_to;

#[cfg(test)]
mod tests;

/// The analyzer rule that makes the rewrites; it runs after DataFusion's type coercion.
#[derive(Debug, Default)]
pub struct SqlSemantics;

impl AnalyzerRule for SqlSemantics {
    fn name(&self) -> &str {
        "tiaokuai_sql_semantics"
    }

    fn analyze(&self, plan: LogicalPlan, _config: &ConfigOptions) -> Result<LogicalPlan> {
        plan.transform_up_with_subqueries(rewrite_node)
            .map(|t| t.data)
    }
}

/// Registers the functions that replace DataFusion's own (`round`).
pub fn register_functions(state: &mut SessionState) -> Result<()> {
    state.register_udf(rounding::Round::udf())?;
    Ok(())
}

fn rewrite_node(plan: LogicalPlan) -> Result<Transformed<LogicalPlan>> {
    // most nodes hold nothing to rewrite: they cost a walk of their expressions
    let mut candidate = false;
    plan.apply_expressions(|expr| {
        candidate = expr.exists(|e| Ok(is_candidate(e)))?;
        Ok(if candidate {
            TreeNodeRecursion::Stop
        } else {
            TreeNodeRecursion::Continue
        })
    })?;
    if !candidate {
        return Ok(Transformed::no(plan));
    }
    let Some(schema) = expression_schema(&plan) else {
        return Ok(Transformed::no(plan));
    };
    let in_filter = matches!(plan, LogicalPlan::Filter(_));
    let names = NamePreserver::new(&plan);
    plan.map_expressions(|expr| {
        let name = names.save(&expr);
        let rewritten = similar_to::rewrite(expr)?
            .transform_data(|e| rounding::integer_casts(e, &schema))?
            .transform_data(|e| in_subquery::rewrite(e, in_filter))?;
        Ok(rewritten.update_data(|e| name.restore(e)))
    })
}

fn is_candidate(expr: &Expr) -> bool {
    match expr {
        Expr::SimilarTo(_) | Expr::InSubquery(_) | Expr::SetComparison(_) | Expr::Exists(_) => true,
        Expr::Cast(Cast { field, .. }) | Expr::TryCast(TryCast { field, .. }) => {
            field.data_type().is_integer()
        }
        _ => false,
    }
}

/// The columns a node's expressions see: its inputs' (its own for a leaf).
fn expression_schema(plan: &LogicalPlan) -> Option<DFSchema> {
    match plan.inputs().as_slice() {
        [] => Some(plan.schema().as_ref().clone()),
        [only] => Some(only.schema().as_ref().clone()),
        [first, rest @ ..] => rest
            .iter()
            .try_fold(first.schema().as_ref().clone(), |joined, input| {
                joined.join(input.schema()).ok()
            }),
    }
}
