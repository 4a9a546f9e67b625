//! The tiaokuai metadata store.
//!
//! One SQLite database (WAL mode) in the data directory holds everything the server knows about
//! the world: the jurisdiction tree, principals and their hashed tokens, role assignments,
//! registered sources with their pinned schemas, union datasets and an audit trail of changes.
//!
//! - [`jurisdiction`]: 12-digit division codes, their levels, and validation of a tree.
//! - [`model`]: the records stored here (sources, datasets, principals, bindings, classifications).
//! - [`store`]: [`Catalog`], the store itself, with versioned migrations.
//! - [`token`]: bearer-token generation and hashing.

pub mod error;
pub mod jurisdiction;
mod migrations;
pub mod model;
pub mod store;
pub mod token;

pub use error::{CatalogError, Result};
pub use jurisdiction::{Jurisdiction, JurisdictionCode, Level};
pub use model::{
    AuditEvent, Binding, Classification, ColumnDef, DatasetMember, DatasetRecord, GrantRecord,
    NewDataset, NewSource, PolicyRecord, Principal, RemoteTableDef, RoleAssignment, SkippedColumn,
    SourceKind, SourceRecord, TableDef, TokenInfo,
};
pub use store::Catalog;
