//! The tiaokuai metadata store.
//!
//! Everything the server knows about the world: the jurisdiction tree, principals and their
//! hashed tokens, role assignments, policy lines, registered sources with their pinned schemas,
//! union datasets, grants and an audit trail of changes.
//!
//! - [`store`]: [`Catalog`], the store's interface as its callers need it (asynchronous).
//! - [`sqlite`]: [`SqliteCatalog`], the embedded implementation: one SQLite file in WAL mode,
//!   with versioned migrations and a small pool of connections off the async workers.
//! - [`jurisdiction`]: 12-digit division codes, their levels, and validation of a tree.
//! - [`model`]: the records stored here (sources, datasets, principals, bindings, classifications).
//! - [`token`]: bearer-token generation and hashing.

pub mod chain;
pub mod error;
pub mod jurisdiction;
pub mod model;
pub mod sqlite;
pub mod store;
pub mod token;

pub use error::{CatalogError, Result};
pub use jurisdiction::{Jurisdiction, JurisdictionCode, Level};
pub use model::{
    AlertCondition, AlertEvaluation, AlertRecord, AlertTask, AuditEvent, Binding, Classification,
    ColumnDef, ColumnField, ColumnType, DatabaseEngine, DatasetMember, DatasetRecord,
    DeliveryAttempt, DeliveryRecord, DeliveryStatus, FanOut, FileFormat, GrantRecord, NewAlert,
    NewDataset, NewDelivery, NewReport, NewRun, NewSchedule, NewSource, NewTask, NewWebhook,
    ParameterKind, PolicyRecord, Principal, RemoteTableDef, ReportContent, ReportParameter,
    ReportRecord, RoleAssignment, RunOutcome, RunRecord, RunStatus, ScheduleOutcome,
    ScheduleRecord, SkippedColumn, SourceContent, SourceFreshness, SourceKind, SourceRecord,
    Supervision, TableDef, TaskClocks, TaskEscalation, TaskEvent, TaskOrigin, TaskRecord,
    TaskStatus, TaskTransition, TokenInfo, Urgency, WebhookRecord,
};
pub use sqlite::SqliteCatalog;
pub use store::Catalog;
