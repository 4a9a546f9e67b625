//! `IN` and `NOT IN (subquery)` with SQL's three-valued logic.
//!
//! `x NOT IN (SELECT y …)` is UNKNOWN, and its row dropped, when `x` is NULL or some `y` is
//! NULL and none equals `x`. DataFusion 55 turns these subqueries into joins, and only its
//! null-aware anti join (an uncorrelated `NOT IN` on a column, as a whole conjunct of `WHERE`)
//! gets that right: a correlated one returns rows SQL drops or fails to plan, and inside `OR`
//! or under `NOT` the mark joins answer FALSE where SQL says UNKNOWN (apache/datafusion#25336,
//! #25347, #25474, #25480).
//!
//! Every other `NOT IN` is written as what SQL defines it to be, `x <> ALL (subquery)`, which
//! DataFusion decorrelates into `EXISTS` tests that keep the three values; an `IN` whose
//! UNKNOWN can matter (under `NOT`, in a `CASE`) likewise becomes `x = ANY (subquery)`. A
//! subquery that always yields exactly one row (an aggregate without `GROUP BY`) is compared
//! as a scalar instead: its `EXISTS` tests would lose the row of an empty group when
//! decorrelated; so is such a subquery under `ANY` or `ALL` as written, and `EXISTS` of it
//! is TRUE, as SQL says.
//! These subqueries are planned in `WHERE` and `HAVING` only; elsewhere they are refused.

use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::common::{Result, not_impl_err};
use datafusion::logical_expr::expr::{Exists, InSubquery, SetComparison, SetQuantifier};
use datafusion::logical_expr::{BinaryExpr, Expr, LogicalPlan, Operator, Subquery, lit};

/// Where an expression sits in a `WHERE`/`HAVING` predicate, which decides whether its
/// UNKNOWN can differ from FALSE in the answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Position {
    /// A whole conjunct: the row is kept only if it is TRUE.
    Conjunct,
    /// Reached through `AND` and `OR` only: still only TRUE keeps the row.
    Monotone,
    /// Anywhere else (under `NOT`, in a `CASE`, an argument): UNKNOWN is a value of its own.
    Inside,
}

/// Rewrites the subquery predicates of one expression of a plan node; `in_filter` tells
/// whether the node is a `Filter` (`WHERE` or `HAVING`).
pub fn rewrite(expr: Expr, in_filter: bool) -> Result<Transformed<Expr>> {
    if in_filter {
        return predicate(expr, Position::Conjunct);
    }
    let unplannable =
        expr.exists(|e| Ok(matches!(e, Expr::InSubquery(_) | Expr::SetComparison(_))))?;
    if unplannable {
        return not_impl_err!(
            "IN, NOT IN, ANY and ALL with a subquery are answered in WHERE and HAVING only; \
             in a select list, join the subquery or use CASE WHEN EXISTS (…)"
        );
    }
    Ok(Transformed::no(expr))
}

fn predicate(expr: Expr, position: Position) -> Result<Transformed<Expr>> {
    match expr {
        Expr::BinaryExpr(BinaryExpr { left, op, right })
            if matches!(op, Operator::And | Operator::Or) =>
        {
            let below = match (op, position) {
                (_, Position::Inside) => Position::Inside,
                (Operator::And, position) => position,
                _ => Position::Monotone,
            };
            let left = predicate(*left, below)?;
            let right = predicate(*right, below)?;
            let transformed = left.transformed || right.transformed;
            let expr = Expr::BinaryExpr(BinaryExpr::new(
                Box::new(left.data),
                op,
                Box::new(right.data),
            ));
            Ok(Transformed::new_transformed(expr, transformed))
        }
        // NOT (x IN s) is x NOT IN s, in all three values
        Expr::Not(inner) if matches!(inner.as_ref(), Expr::InSubquery(_)) => {
            let Expr::InSubquery(InSubquery {
                expr,
                subquery,
                negated,
            }) = *inner
            else {
                unreachable!("matched above")
            };
            let flipped = InSubquery::new(expr, subquery, !negated);
            Ok(Transformed::yes(in_subquery(flipped, position)?.data))
        }
        Expr::InSubquery(in_subquery_expr) => in_subquery(in_subquery_expr, position),
        Expr::SetComparison(found) => set_comparison(found),
        Expr::Exists(Exists { subquery, negated }) if yields_one_row(&subquery.subquery) => {
            Ok(Transformed::yes(lit(!negated)))
        }
        Expr::Exists(_) => Ok(Transformed::no(expr)),
        other => other.map_children(|child| predicate(child, Position::Inside)),
    }
}

fn in_subquery(found: InSubquery, position: Position) -> Result<Transformed<Expr>> {
    let InSubquery {
        expr,
        subquery,
        negated,
    } = found;
    let correlated = !subquery.outer_ref_columns.is_empty();
    let left_as_is = if negated {
        // DataFusion's null-aware anti join
        !correlated && position == Position::Conjunct && is_column(&expr)
    } else {
        // a semi or mark join is TRUE exactly when a row matches, which is all that
        // matters where only TRUE keeps the row
        position != Position::Inside
    };
    if left_as_is {
        return Ok(Transformed::no(Expr::InSubquery(InSubquery::new(
            expr, subquery, negated,
        ))));
    }
    let (op, quantifier) = if negated {
        (Operator::NotEq, SetQuantifier::All)
    } else {
        (Operator::Eq, SetQuantifier::Any)
    };
    if yields_one_row(&subquery.subquery) {
        let scalar = Expr::ScalarSubquery(subquery);
        return Ok(Transformed::yes(Expr::BinaryExpr(BinaryExpr::new(
            expr,
            op,
            Box::new(scalar),
        ))));
    }
    if correlated && has_correlated_scalar_aggregate(&subquery) {
        return refuse_aggregate_below_top();
    }
    Ok(Transformed::yes(Expr::SetComparison(SetComparison::new(
        expr, subquery, op, quantifier,
    ))))
}

/// `x op ANY/ALL (subquery)` as written: DataFusion keeps the three values, except for a
/// subquery that is an aggregate without grouping, which is compared as the scalar it is.
fn set_comparison(found: SetComparison) -> Result<Transformed<Expr>> {
    let SetComparison {
        expr,
        subquery,
        op,
        quantifier,
    } = found;
    if yields_one_row(&subquery.subquery) {
        let scalar = Expr::ScalarSubquery(subquery);
        return Ok(Transformed::yes(Expr::BinaryExpr(BinaryExpr::new(
            expr,
            op,
            Box::new(scalar),
        ))));
    }
    if !subquery.outer_ref_columns.is_empty() && has_correlated_scalar_aggregate(&subquery) {
        return refuse_aggregate_below_top();
    }
    Ok(Transformed::no(Expr::SetComparison(SetComparison::new(
        expr, subquery, op, quantifier,
    ))))
}

fn refuse_aggregate_below_top() -> Result<Transformed<Expr>> {
    not_impl_err!(
        "this subquery computes an aggregate over each outer row's rows below its top, which \
         DataFusion 55 answers wrongly for an outer row with none; compare with the aggregate \
         directly (x <> (SELECT max(…) …)) or use NOT EXISTS"
    )
}

/// A column, possibly cast to the subquery's type: what DataFusion's null-aware anti join
/// reads the nullability of correctly.
fn is_column(expr: &Expr) -> bool {
    match expr {
        Expr::Column(_) => true,
        Expr::Cast(cast) => matches!(cast.expr.as_ref(), Expr::Column(_)),
        Expr::TryCast(cast) => matches!(cast.expr.as_ref(), Expr::Column(_)),
        _ => false,
    }
}

/// Whether a plan always yields exactly one row: an aggregate without grouping, under nodes
/// that keep the number of rows.
fn yields_one_row(plan: &LogicalPlan) -> bool {
    match plan {
        LogicalPlan::Aggregate(aggregate) => aggregate.group_expr.is_empty(),
        LogicalPlan::Projection(projection) => yields_one_row(&projection.input),
        LogicalPlan::SubqueryAlias(alias) => yields_one_row(&alias.input),
        LogicalPlan::Sort(sort) if sort.fetch.is_none() => yields_one_row(&sort.input),
        _ => false,
    }
}

/// Whether an aggregate without grouping, somewhere in the subquery, reads the outer row.
fn has_correlated_scalar_aggregate(subquery: &Subquery) -> bool {
    let mut found = false;
    let _ = subquery.subquery.apply(|node| {
        if let LogicalPlan::Aggregate(aggregate) = node
            && aggregate.group_expr.is_empty()
            && reads_outer_row(node)
        {
            found = true;
            return Ok(TreeNodeRecursion::Stop);
        }
        Ok(TreeNodeRecursion::Continue)
    });
    found
}

fn reads_outer_row(plan: &LogicalPlan) -> bool {
    let mut found = false;
    let _ = plan.apply(|node| {
        node.apply_expressions(|expr| {
            found |= expr.contains_outer();
            Ok(if found {
                TreeNodeRecursion::Stop
            } else {
                TreeNodeRecursion::Continue
            })
        })?;
        Ok(if found {
            TreeNodeRecursion::Stop
        } else {
            TreeNodeRecursion::Continue
        })
    });
    found
}
