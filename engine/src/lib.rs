//! The query engine: one DataFusion runtime shared by every request, and a session of its own
//! for each caller.
//!
//! - [`engine`]: [`Engine`], the entry point: queries, tables, sources and datasets.
//! - [`error`]: [`EngineError`], with every DataFusion error classified by whose fault it is.
//! - [`registry`]: the tables the engine serves, rebuilt from the catalog on every change.
//! - [`session`]: the per-caller catalog; a table the caller may not read does not resolve.
//! - [`policy_view`]: a table as one principal sees it: row filter and masks below a
//!   [`barrier`] that no user expression crosses; [`masks`] holds the masks.
//! - [`policy`]: storing and changing policies and role assignments.
//! - [`verify`]: the read-only check that no plan of a restricted caller reads a base table.
//! - [`statement`]: the statement guard: one statement, and only queries for non-admins.
//! - [`params`]: binding `$1…` from JSON values, server-side.
//! - [`sources`]: registering, checking and removing sources and union datasets.
//! - [`limits`]: what keeps one query inside its time, memory and stack: the nesting bound,
//!   the query threads, and caps on values whose size the caller chooses.

pub mod barrier;
pub mod checked;
pub mod config;
pub mod engine;
pub mod error;
pub mod limits;
pub mod masks;
pub mod params;
pub mod planner;
pub mod policy;
mod policy_view;
pub mod registry;
pub mod schema;
pub mod session;
pub mod sources;
pub mod statement;
pub mod verify;

pub use config::EngineConfig;
pub use engine::{Engine, QueryOutput};
pub use error::{EngineError, Result};
pub use policy::{PolicyRequest, RoleAssignmentRequest};
pub use registry::{TableInfo, TableKind};
pub use sources::{CheckReport, DatasetRequest, SourceRequest, TableRequest};
pub use tiaokuai_policies::Caller;
