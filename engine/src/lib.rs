//! The query engine: one DataFusion runtime shared by every request, and a session of its own
//! for each caller.
//!
//! - [`engine`]: [`Engine`], the entry point: queries, tables, sources and datasets.
//! - [`admission`]: how many queries one principal may run at once.
//! - [`error`]: [`EngineError`], with every DataFusion error classified by whose fault it is.
//! - [`registry`]: the tables the engine serves, rebuilt from the catalog on every change.
//! - [`session`]: the per-caller catalog; a table the caller may not read does not resolve.
//! - [`policy_view`]: a table as one principal sees it: row filter and masks below a
//!   [`barrier`] that no user expression crosses; [`masks`] holds the masks.
//! - [`policy`]: storing and changing policies and role assignments.
//! - [`verify`]: the read-only check that no plan of a restricted caller reads a base table.
//! - [`statement`]: the statement guard: one statement, and only queries for non-admins.
//! - [`explain`]: EXPLAIN for restricted callers, printed down to each policy barrier only.
//! - [`metadata`]: the server's own settings stay admin's.
//! - [`params`]: binding `$1…` from JSON values, server-side.
//! - [`semantics`]: SQL's answers where DataFusion's differ (`NOT IN`, `SIMILAR TO`, rounding);
//!   [`checked`] makes integer overflow an error.
//! - [`sources`]: registering, checking and removing sources and union datasets.
//! - [`reach`]: grants, and what sources registered by non-admins may reach.
//! - [`limits`]: what keeps one query inside its time, memory and stack: the nesting bound,
//!   the query threads, and caps on values whose size the caller chooses.

pub mod admission;
pub mod api;
pub mod audit;
pub mod barrier;
pub mod checked;
pub mod config;
pub mod datasets;
pub mod engine;
pub mod error;
pub mod explain;
pub mod governance_tables;
mod identity;
mod jurisdictions;
pub mod limits;
pub mod masks;
pub mod metadata;
pub mod params;
mod permission;
pub mod planner;
pub mod policy;
mod policy_view;
pub mod reach;
pub mod registry;
pub mod running;
pub mod schema;
pub mod semantics;
pub mod session;
pub mod sources;
pub mod statement;
pub mod telemetry;
pub mod traces;
pub mod verify;

pub use api::Api;
pub use config::EngineConfig;
pub use datasets::{DatasetRequest, MemberRequest};
pub use engine::{Engine, QueryOutput};
pub use error::{EngineError, Message, Result};
pub use policy::{PolicyRequest, RoleAssignmentRequest};
pub use reach::GrantRequest;
pub use registry::{TableInfo, TableKind};
pub use sources::{CheckReport, SourceRequest, TableRequest};
pub use tiaokuai_policies::Caller;
