//! The read-only verifier: defence in depth behind the per-caller catalog. It inspects a
//! restricted caller's plan (subqueries included) and rejects it if any table scan reads a
//! registered table's own provider instead of the caller's view of it. It never rewrites.

use std::collections::HashSet;
use std::sync::Arc;

use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::datasource::source_as_provider;
use datafusion::logical_expr::LogicalPlan;

use tiaokuai_connectors::database::fence_input;

use crate::error::{EngineError, Result};
use crate::registry::TableRegistry;
use tiaokuai_policies::JURISDICTIONS_TABLE;

fn address<T: ?Sized>(value: &Arc<T>) -> usize {
    Arc::as_ptr(value) as *const () as usize
}

pub fn no_base_tables(plan: &LogicalPlan, registry: &TableRegistry) -> Result<()> {
    let base: HashSet<usize> = registry
        .entries()
        .filter(|entry| entry.info.name != JURISDICTIONS_TABLE)
        .map(|entry| address(&entry.provider))
        .collect();
    let mut offender = None;
    plan.apply_with_subqueries(|node| {
        // a policy fence holds a view built by the engine, over the base table by design;
        // no SQL can make one
        if fence_input(node).is_some() {
            return Ok(TreeNodeRecursion::Jump);
        }
        if let LogicalPlan::TableScan(scan) = node
            && let Ok(provider) = source_as_provider(&scan.source)
            && base.contains(&address(&provider))
        {
            offender = Some(scan.table_name.to_string());
            return Ok(TreeNodeRecursion::Stop);
        }
        Ok(TreeNodeRecursion::Continue)
    })?;
    match offender {
        Some(table) => {
            tracing::error!(%table, "plan rejected: it reads a base table past the caller's policy");
            Err(EngineError::PermissionDenied(
                format!("the plan reads {table} outside the caller's policy").into(),
            ))
        }
        None => Ok(()),
    }
}
