//! Database sources: PostgreSQL, MySQL/MariaDB and SQLite tables, with the sub-plans over one
//! database written as SQL for it where that gives the same answer as running them locally.
//!
//! - [`spec`]: what a database source is, parsed and checked; its kind names its dialect.
//! - [`name`]: a table inside a database, as registered.
//! - [`source`]: one source: its cap on concurrent queries (and each principal's share of it),
//!   its time limits and the state of its last statement.
//! - `open`: opening a source: a pool per server kind under its `sslmode`, or a SQLite file.
//! - [`tls`]: `sslmode` as libpq reads it, `prefer`'s fallback to a plain connection included.
//! - `statement`: running one statement, as a stream of its rows.
//! - `held`: a statement's connection, kept with its rows until the last one.
//! - `table_schema`: reading a table's columns, and which of them are left out.
//! - [`sqlite`]: SQLite files, read directly and strictly.
//! - [`types`]: columns left out, exact decimals, casting what arrives to the pinned schema.
//! - [`dialect`]: one SQL dialect per database, and the checklist for adding one.
//! - [`writer`]: the database-independent SQL writer, which asks the dialect and declines
//!   whatever a database would compute differently.
//! - [`fence`]: the policy fence, as a plan node and as the derived table a database receives.
//! - [`federation`]: tables, the pushdown rule and the remote execution plan.

use std::sync::Arc;

use datafusion::common::tree_node::{Transformed, TreeNodeRecursion};
use datafusion::logical_expr::LogicalPlan;
use datafusion::optimizer::{OptimizerConfig, OptimizerRule};

pub mod dialect;
pub mod federation;
pub mod fence;
mod held;
pub mod name;
mod open;
pub mod source;
pub mod spec;
pub mod sqlite;
mod statement;
mod table_schema;
pub mod tls;
pub mod types;
pub mod writer;

#[cfg(test)]
mod tests;

pub use federation::{RemoteExec, RemotePlanner, RemoteTable};
pub use fence::{PolicyFence, fence_input};
pub use name::RemoteName;
pub use source::{DatabaseSource, QuerySpan, Requester, SourceState};
pub use spec::{DatabaseKind, DatabaseSpec};
pub use table_schema::RemoteSchema;
pub use types::Skipped;

/// DataFusion's optimizer rules with datafusion-federation's rule in place, which hands the
/// sub-plans over one database to that database's pushdown.
pub fn optimizer_rules() -> Vec<Arc<dyn OptimizerRule + Send + Sync>> {
    datafusion_federation::default_optimizer_rules()
        .into_iter()
        .map(|rule| {
            if rule.name() == FEDERATION {
                Arc::new(Federation::default()) as Arc<dyn OptimizerRule + Send + Sync>
            } else {
                rule
            }
        })
        .collect()
}

const FEDERATION: &str = "federation_optimizer_rule";

/// datafusion-federation's rule, run only on plans that read a database, and never fatal: a
/// plan it cannot handle (an `IN (subquery)` in a projection, say) runs as it is, over plain
/// remote scans, instead of failing.
#[derive(Debug, Default)]
struct Federation {
    inner: datafusion_federation::FederationOptimizerRule,
}

fn reads_a_database(plan: &LogicalPlan) -> bool {
    let mut found = false;
    let _ = plan.apply_with_subqueries(|node| {
        if let LogicalPlan::TableScan(scan) = node
            && datafusion_federation::get_table_source(&scan.source)
                .ok()
                .flatten()
                .is_some()
        {
            found = true;
            return Ok(TreeNodeRecursion::Stop);
        }
        Ok(TreeNodeRecursion::Continue)
    });
    found
}

impl OptimizerRule for Federation {
    fn name(&self) -> &str {
        FEDERATION
    }

    fn supports_rewrite(&self) -> bool {
        true
    }

    fn rewrite(
        &self,
        plan: LogicalPlan,
        config: &dyn OptimizerConfig,
    ) -> datafusion::error::Result<Transformed<LogicalPlan>> {
        if !reads_a_database(&plan) {
            return Ok(Transformed::no(plan));
        }
        match self.inner.rewrite(plan.clone(), config) {
            Ok(rewritten) => Ok(rewritten),
            Err(error) => {
                tracing::debug!(%error, "plan left to run over plain remote scans");
                Ok(Transformed::no(plan))
            }
        }
    }
}
