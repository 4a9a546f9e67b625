//! What SQL may tell a restricted caller about the server itself.
//!
//! `information_schema` lists only the caller's own tables (see [`crate::session`]), but its
//! `df_settings` table describes the server: the spill directory (inside the data directory),
//! the memory limit, every tuning setting. Only `admin` may read it, in a plan, in a subquery
//! or under EXPLAIN; `SHOW` (which reads it) is admin's already by the statement guard.

use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::logical_expr::LogicalPlan;

use crate::error::{EngineError, Result};

const SETTINGS_SCHEMA: &str = "information_schema";
const SETTINGS_TABLE: &str = "df_settings";

/// Rejects a plan that reads the server's settings.
pub fn no_server_settings(plan: &LogicalPlan) -> Result<()> {
    let mut reads = false;
    plan.apply_with_subqueries(|node| {
        if let LogicalPlan::TableScan(scan) = node
            && scan.table_name.table() == SETTINGS_TABLE
            && scan.table_name.schema() == Some(SETTINGS_SCHEMA)
        {
            reads = true;
            return Ok(TreeNodeRecursion::Stop);
        }
        Ok(TreeNodeRecursion::Continue)
    })?;
    if reads {
        return Err(EngineError::PermissionDenied(
            "the server's settings (information_schema.df_settings, SHOW) are reserved for admin"
                .into(),
        ));
    }
    Ok(())
}
