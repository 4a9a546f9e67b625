//! Governance over the shared data: saved reports that officials run without writing SQL.
//!
//! - [`reports`]: [`Reports`], the service behind `/v1/reports`: definitions kept in versions,
//!   who may change or run them, and runs that execute **as the caller**, through the same
//!   policy views as any query, with parameters bound as typed values (never spliced in).
//! - [`runs`]: stored runs, their results kept as Parquet with their SHA-256, shown only to
//!   the principal who ran them (and admin).
//! - [`parameters`]: report parameters, their kinds, and how a run's values are checked and
//!   typed.
//! - [`api`]: [`Governance`], what the server's handlers ask of this crate, as one interface.

pub mod api;
pub mod parameters;
pub mod reports;
pub mod runs;

pub use api::Governance;
pub use reports::{ReportChange, ReportRequest, Reports, RunRequest};
pub use runs::RunLimits;
