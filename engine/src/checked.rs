//! Integer arithmetic and sums that fail instead of wrapping.
//!
//! DataFusion adds integers with wrapping arithmetic, so `a + b` or `SUM` of large `BIGINT`s
//! can return a wrapped, wrong number without any error. This analyzer rule computes integer
//! `+`, `-`, `*` and sums as `DECIMAL(38,0)` (exact: no two 64-bit operands, and no realistic
//! row count, overflow it) and casts the result back to the integer type, which fails with an
//! overflow error when it does not fit. The outcome is then the same whether the data is in
//! files or in a database, which computes exactly and is cast back the same way.
//!
//! The cast back is the function [`IntegerResult`], not a `CAST`: DataFusion's physical `CAST`
//! asks its input for its nullability twice (once directly, once through its field), so a chain
//! of `CAST(CAST(…) + …)` costs 2^n calls while it is planned, and `a + a + … + a` with a few
//! dozen terms would plan for hours. A function's physical expression keeps its field, so the
//! chain costs n.

use std::sync::Arc;

use datafusion::arrow::compute::CastOptions;
use datafusion::arrow::datatypes::DataType;
use datafusion::arrow::util::display::FormatOptions;
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::common::{Column, DFSchema, Result};
use datafusion::logical_expr::binary::BinaryTypeCoercer;
use datafusion::logical_expr::expr::ScalarFunction;
use datafusion::logical_expr::expr::{AggregateFunction, AggregateFunctionParams, Alias};
use datafusion::logical_expr::expr_rewriter::NamePreserver;
use datafusion::logical_expr::{
    Aggregate, BinaryExpr, ColumnarValue, Expr, ExprSchemable, LogicalPlan, Operator, Projection,
    ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility, cast,
};
use datafusion::optimizer::AnalyzerRule;

const EXACT: DataType = DataType::Decimal128(38, 0);

#[derive(Debug, Default)]
pub struct CheckedIntegers;

impl AnalyzerRule for CheckedIntegers {
    fn name(&self) -> &str {
        "tiaokuai_checked_integers"
    }

    fn analyze(&self, plan: LogicalPlan, _config: &ConfigOptions) -> Result<LogicalPlan> {
        plan.transform_up_with_subqueries(|plan| {
            let checked = checked_arithmetic(plan)?;
            let transformed = checked.transformed;
            let mut summed = rewrite(checked.data)?;
            summed.transformed |= transformed;
            Ok(summed)
        })
        .map(|t| t.data)
    }
}

/// Integer `+ - *` in the node's expressions, computed exactly and cast back with overflow
/// checked; output names are kept.
fn checked_arithmetic(plan: LogicalPlan) -> Result<Transformed<LogicalPlan>> {
    // most nodes have no arithmetic: they cost a walk of their expressions, nothing more
    let mut arithmetic = false;
    plan.apply_expressions(|expr| {
        arithmetic = expr.exists(|e| {
            Ok(matches!(
                e,
                Expr::BinaryExpr(BinaryExpr {
                    op: Operator::Plus | Operator::Minus | Operator::Multiply,
                    ..
                })
            ))
        })?;
        Ok(if arithmetic {
            TreeNodeRecursion::Stop
        } else {
            TreeNodeRecursion::Continue
        })
    })?;
    if !arithmetic {
        return Ok(Transformed::no(plan));
    }
    // the expressions of a node see its inputs' columns
    let schema = match plan.inputs().as_slice() {
        [] => Some(plan.schema().as_ref().clone()),
        [only] => Some(only.schema().as_ref().clone()),
        [first, rest @ ..] => rest
            .iter()
            .try_fold(first.schema().as_ref().clone(), |joined, input| {
                joined.join(input.schema()).ok()
            }),
    };
    let Some(schema) = schema else {
        return Ok(Transformed::no(plan));
    };
    let names = NamePreserver::new(&plan);
    plan.map_expressions(|expr| {
        let name = names.save(&expr);
        let rewritten = expr.transform_up(|e| exact_integer_operation(e, &schema))?;
        Ok(rewritten.update_data(|e| name.restore(e)))
    })
}

fn exact_integer_operation(expr: Expr, schema: &DFSchema) -> Result<Transformed<Expr>> {
    let Expr::BinaryExpr(BinaryExpr { left, op, right }) = &expr else {
        return Ok(Transformed::no(expr));
    };
    if !matches!(op, Operator::Plus | Operator::Minus | Operator::Multiply) {
        return Ok(Transformed::no(expr));
    }
    let (Ok(l), Ok(r)) = (integer_type(left, schema), integer_type(right, schema)) else {
        return Ok(Transformed::no(expr));
    };
    let Ok(result) = BinaryTypeCoercer::new(&l, op, &r).get_result_type() else {
        return Ok(Transformed::no(expr));
    };
    if !(l.is_integer() && r.is_integer() && result.is_integer()) {
        return Ok(Transformed::no(expr));
    }
    let exact = Expr::BinaryExpr(BinaryExpr::new(
        Box::new(cast(left.as_ref().clone(), EXACT)),
        *op,
        Box::new(cast(right.as_ref().clone(), EXACT)),
    ));
    Ok(Transformed::yes(IntegerResult::call(exact, result)))
}

/// The type of an operand. An operation rewritten below is known without asking it: a
/// function's type is computed from its arguments' fields, names included, so asking at every
/// level of a chain of n operations would cost n^3.
fn integer_type(operand: &Expr, schema: &DFSchema) -> Result<DataType> {
    if let Expr::ScalarFunction(ScalarFunction { func, .. }) = operand
        && let Some(result) = func.inner().downcast_ref::<IntegerResult>()
    {
        return Ok(result.target.clone());
    }
    operand.get_type(schema)
}

/// `integer_result(x)`: the exact value `x` cast back to the integer type of the operation,
/// failing when it does not fit, exactly as `CAST(x AS type)` does.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct IntegerResult {
    target: DataType,
    signature: Signature,
}

impl IntegerResult {
    fn call(exact: Expr, target: DataType) -> Expr {
        let udf = ScalarUDF::new_from_impl(IntegerResult {
            target,
            signature: Signature::exact(vec![EXACT], Volatility::Immutable),
        });
        Expr::ScalarFunction(ScalarFunction::new_udf(Arc::new(udf), vec![exact]))
    }
}

impl ScalarUDFImpl for IntegerResult {
    fn name(&self) -> &str {
        "integer_result"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(self.target.clone())
    }

    /// One name for every call, not one spelled from the argument: DataFusion computes a
    /// function's name at every level where it asks a type, so a name that spells out (or
    /// hashes) a chain of n operations makes planning it cost n^3. No two of these names meet
    /// in one schema: the rule keeps every output's original name, and the names of nested
    /// expressions are never fields.
    fn schema_name(&self, _args: &[Expr]) -> Result<String> {
        Ok("integer_result(…)".to_owned())
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let [exact] = args.args.as_slice() else {
            return datafusion::common::internal_err!("integer_result takes one argument");
        };
        // the options of a SQL CAST: an out-of-range value is an error, not NULL
        let options = CastOptions {
            safe: false,
            format_options: FormatOptions::default(),
        };
        exact.cast_to(&self.target, Some(&options))
    }
}

fn is_integer_sum(expr: &Expr, input: &LogicalPlan) -> bool {
    let inner = match expr {
        Expr::Alias(Alias { expr, .. }) => expr.as_ref(),
        other => other,
    };
    match inner {
        Expr::AggregateFunction(AggregateFunction { func, params }) => {
            func.name() == "sum"
                && !params.distinct
                && params.args.len() == 1
                && params.args[0]
                    .get_type(input.schema())
                    .is_ok_and(|t| t.is_integer())
        }
        _ => false,
    }
}

fn widened(expr: &Expr) -> Expr {
    match expr {
        Expr::Alias(Alias {
            expr,
            relation,
            name,
            metadata,
        }) => Expr::Alias(Alias {
            expr: Box::new(widened(expr)),
            relation: relation.clone(),
            name: name.clone(),
            metadata: metadata.clone(),
        }),
        Expr::AggregateFunction(AggregateFunction { func, params }) => {
            Expr::AggregateFunction(AggregateFunction {
                func: Arc::clone(func),
                params: AggregateFunctionParams {
                    args: vec![cast(params.args[0].clone(), EXACT)],
                    ..params.clone()
                },
            })
        }
        other => other.clone(),
    }
}

fn rewrite(plan: LogicalPlan) -> Result<Transformed<LogicalPlan>> {
    let LogicalPlan::Aggregate(aggregate) = &plan else {
        return Ok(Transformed::no(plan));
    };
    if !aggregate
        .aggr_expr
        .iter()
        .any(|e| is_integer_sum(e, &aggregate.input))
    {
        return Ok(Transformed::no(plan));
    }
    let old_schema = aggregate.schema.clone();
    let groups = aggregate.group_expr.len();
    let mut aggr_expr = Vec::with_capacity(aggregate.aggr_expr.len());
    let mut rewritten = Vec::new();
    for (i, expr) in aggregate.aggr_expr.iter().enumerate() {
        if is_integer_sum(expr, &aggregate.input) {
            // keep the output name, so that HAVING and the projection above still find it
            let name = old_schema.field(groups + i).name().clone();
            aggr_expr.push(widened(expr).alias(name));
            rewritten.push(groups + i);
        } else {
            aggr_expr.push(expr.clone());
        }
    }
    let new = Aggregate::try_new(
        aggregate.input.clone(),
        aggregate.group_expr.clone(),
        aggr_expr,
    )?;
    let new_schema = new.schema.clone();
    let outputs = (0..old_schema.fields().len())
        .map(|i| {
            let (qualifier, field) = old_schema.qualified_field(i);
            let column = Expr::Column(Column::from(new_schema.qualified_field(i)));
            let value = if rewritten.contains(&i) {
                cast(column, field.data_type().clone())
            } else {
                column
            };
            value.alias_qualified(qualifier.cloned(), field.name())
        })
        .collect();
    let projection = Projection::try_new(outputs, Arc::new(LogicalPlan::Aggregate(new)))?;
    Ok(Transformed::yes(LogicalPlan::Projection(projection)))
}
