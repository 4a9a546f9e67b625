//! Sources to DataFusion tables.
//!
//! A registered source is described by a [`FileSourceSpec`]; this crate turns it into a
//! `TableProvider` that the engine can scan.
//!
//! - [`spec`]: what a file source is (kind, location, options, secret reference), parsed and checked.
//! - [`options_schema`]: the OpenAPI schema of a source's options.
//! - [`secret`]: resolving `env:` and `file:` secret references.
//! - [`reach`]: what a source registered by a non-admin may open (granted folders, buckets,
//!   hosts and secret namespaces), checked on every path read and every address connected to.
//! - [`stores`]: object stores (`file://`, `s3://`, `http(s)://`), one per source, each behind a
//!   [`namespaced`] view so that path-keyed caches never mix sources.
//! - [`unavailable`]: the stand-in for a source that cannot be opened: it fails, naming it.
//! - [`file_table`]: Parquet/CSV listing tables with a pinned schema that fail loudly, naming
//!   their source, when their files are gone.
//! - [`database`]: PostgreSQL, MySQL/MariaDB and SQLite tables, with safe pushdown.
//! - [`union_table`]: one logical table over many members, each with a fixed jurisdiction;
//!   members that a filter on the jurisdiction column excludes are never opened.

pub mod database;
pub mod error;
pub mod file_table;
pub mod namespaced;
pub mod options_schema;
pub mod reach;
pub mod secret;
pub mod spec;
pub mod stats;
pub mod stores;
pub mod unavailable;
pub mod union_table;

pub use error::{ConnectorError, Result};
pub use file_table::{FileTable, Listed, Probe, list, probe};
pub use options_schema::source_options_schema;
pub use spec::{FileFormatKind, FileSourceSpec};
pub use unavailable::UnavailableTable;
pub use union_table::{JURISDICTION_COLUMN, UnionMember, UnionTable};
