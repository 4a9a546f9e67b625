//! The analyzer rule that makes every caller-sized value in a plan go through a cap.
//!
//! The session's registry holds the capped functions, so a function the SQL names is capped
//! already. Two kinds of call escape the registry: those DataFusion's planner builds from its
//! own copies (`[1, 2]` is `make_array`, `list || list` is `array_concat`), and the `||`
//! operator on text. This rule replaces the first with the capped copies and the second with
//! [`StringConcat`]. It only rewrites calls into equivalent calls, keeps every output's name,
//! and runs again harmlessly (DataFusion analyses a plan twice).

use std::sync::Arc;

use datafusion::arrow::datatypes::DataType;
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::common::{DFSchema, Result};
use datafusion::logical_expr::expr::ScalarFunction;
use datafusion::logical_expr::expr_rewriter::NamePreserver;
use datafusion::logical_expr::{BinaryExpr, Expr, ExprSchemable, LogicalPlan, Operator, ScalarUDF};
use datafusion::optimizer::AnalyzerRule;

use super::capped::Capped;
use super::concatenation::StringConcat;
use super::estimates;
use super::values::ValueLimits;

#[derive(Debug)]
pub struct CapValues {
    capped: Vec<Arc<ScalarUDF>>,
    limits: ValueLimits,
}

impl CapValues {
    pub fn new(capped: Vec<Arc<ScalarUDF>>, limits: ValueLimits) -> Self {
        Self { capped, limits }
    }
}

impl AnalyzerRule for CapValues {
    fn name(&self) -> &str {
        "tiaokuai_cap_values"
    }

    fn analyze(&self, plan: LogicalPlan, _config: &ConfigOptions) -> Result<LogicalPlan> {
        plan.transform_up_with_subqueries(|plan| {
            // most nodes have nothing to cap: they cost a walk of their expressions
            let mut needed = false;
            plan.apply_expressions(|expr| {
                needed = expr.exists(|e| Ok(self.needs_cap(e)))?;
                Ok(if needed {
                    TreeNodeRecursion::Stop
                } else {
                    TreeNodeRecursion::Continue
                })
            })?;
            if !needed {
                return Ok(Transformed::no(plan));
            }
            // the expressions of a node see its inputs' columns
            let schema = match plan.inputs().as_slice() {
                [] => plan.schema().as_ref().clone(),
                [only] => only.schema().as_ref().clone(),
                [first, rest @ ..] => {
                    match rest
                        .iter()
                        .try_fold(first.schema().as_ref().clone(), |joined, input| {
                            joined.join(input.schema()).ok()
                        }) {
                        Some(joined) => joined,
                        None => return Ok(Transformed::no(plan)),
                    }
                }
            };
            let names = NamePreserver::new(&plan);
            plan.map_expressions(|expr| {
                let name = names.save(&expr);
                let rewritten = expr.transform_up(|e| self.cap(e, &schema))?;
                Ok(rewritten.update_data(|e| name.restore(e)))
            })
        })
        .map(|t| t.data)
    }
}

impl CapValues {
    fn needs_cap(&self, expr: &Expr) -> bool {
        match expr {
            Expr::ScalarFunction(ScalarFunction { func, .. }) => {
                Capped::version_of(func, &self.capped).is_some()
            }
            Expr::BinaryExpr(BinaryExpr {
                op: Operator::StringConcat,
                ..
            }) => true,
            _ => false,
        }
    }

    fn cap(&self, expr: Expr, schema: &DFSchema) -> Result<Transformed<Expr>> {
        match expr {
            Expr::ScalarFunction(ScalarFunction { func, args }) => {
                match Capped::version_of(&func, &self.capped) {
                    Some(func) => Ok(Transformed::yes(Expr::ScalarFunction(ScalarFunction {
                        func,
                        args,
                    }))),
                    None => Ok(Transformed::no(Expr::ScalarFunction(ScalarFunction {
                        func,
                        args,
                    }))),
                }
            }
            Expr::BinaryExpr(BinaryExpr {
                left,
                op: Operator::StringConcat,
                right,
            }) => {
                let (Ok(l), Ok(r)) = (text_type(&left, schema), text_type(&right, schema)) else {
                    return Ok(Transformed::no(Expr::BinaryExpr(BinaryExpr::new(
                        left,
                        Operator::StringConcat,
                        right,
                    ))));
                };
                let text = |t: &DataType| is_text(t) && t != &DataType::Null;
                let target = if text(&l) && (l == r || r == DataType::Null) {
                    l
                } else if text(&r) && l == DataType::Null {
                    r
                } else {
                    // not text on both sides: DataFusion's own operator, as written
                    return Ok(Transformed::no(Expr::BinaryExpr(BinaryExpr::new(
                        left,
                        Operator::StringConcat,
                        right,
                    ))));
                };
                // a chain is one call: the left operand is the chain so far
                let mut operands = match *left {
                    Expr::ScalarFunction(ScalarFunction { func, args })
                        if concatenation(&func).is_some_and(|c| c.target() == &target) =>
                    {
                        args
                    }
                    other => vec![other],
                };
                operands.push(*right);
                Ok(Transformed::yes(Expr::ScalarFunction(ScalarFunction {
                    func: self.string_concat(target),
                    args: operands,
                })))
            }
            other => Ok(Transformed::no(other)),
        }
    }

    fn string_concat(&self, target: DataType) -> Arc<ScalarUDF> {
        Capped::udf(
            Arc::new(ScalarUDF::new_from_impl(StringConcat::new(target))),
            estimates::sum_of_arguments,
            self.limits.clone(),
        )
    }
}

/// The [`StringConcat`] inside a capped call, if that is what `func` is.
fn concatenation(func: &ScalarUDF) -> Option<&StringConcat> {
    Capped::inner_of(func)?
        .inner()
        .downcast_ref::<StringConcat>()
}

fn is_text(data_type: &DataType) -> bool {
    matches!(
        data_type,
        DataType::Utf8
            | DataType::LargeUtf8
            | DataType::Utf8View
            | DataType::Binary
            | DataType::LargeBinary
            | DataType::BinaryView
            | DataType::Null
    )
}

/// The type of an operand; a chain rewritten below is known without asking (a function's type
/// is computed from its arguments, so asking at every link would cost n^2).
fn text_type(operand: &Expr, schema: &DFSchema) -> Result<DataType> {
    if let Expr::ScalarFunction(ScalarFunction { func, .. }) = operand
        && let Some(concatenation) = concatenation(func)
    {
        return Ok(concatenation.target().clone());
    }
    operand.get_type(schema)
}
