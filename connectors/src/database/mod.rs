//! Database sources: PostgreSQL, MySQL/MariaDB and SQLite tables, with the sub-plans over one
//! database written as SQL for it where that gives the same answer as running them locally.
//!
//! - [`spec`]: what a database source is, parsed and checked.
//! - [`source`]: one source's pool, its cap on concurrent queries and its time limits.
//! - [`sqlite`]: SQLite files, read directly and strictly.
//! - [`sql`]: the SQL writer, which declines whatever a database would compute differently.
//! - [`federation`]: tables, the pushdown rule, the policy fence and the remote execution plan.
//! - [`types`]: columns left out, exact decimals, casting what arrives to the pinned schema.

pub mod federation;
pub mod source;
pub mod spec;
pub mod sql;
pub mod sqlite;
pub mod types;

pub use federation::{PolicyFence, RemoteExec, RemotePlanner, RemoteTable, fence_input};
pub use source::{DatabaseSource, RemoteSchema, SourceState};
pub use spec::{DatabaseKind, DatabaseSpec};
pub use sql::RemoteName;
pub use types::Skipped;

/// DataFusion's optimizer rules with datafusion-federation's rule in place, which hands the
/// sub-plans over one database to that database's pushdown.
pub fn optimizer_rules()
-> Vec<std::sync::Arc<dyn datafusion::optimizer::OptimizerRule + Send + Sync>> {
    datafusion_federation::default_optimizer_rules()
}
