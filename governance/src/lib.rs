//! Governance over the shared data: saved reports that officials run without writing SQL, and
//! the dispatch tasks that send work to the jurisdictions that must act.
//!
//! - [`reports`]: [`Reports`], the service behind `/v1/reports`: definitions kept in versions,
//!   who may change or run them, and runs that execute **as the caller**, through the same
//!   policy views as any query, with parameters bound as typed values (never spliced in).
//! - [`runs`]: stored runs, their results kept as Parquet with their SHA-256, shown only to
//!   the principal who ran them (and admin).
//! - [`parameters`]: report parameters, their kinds, and how a run's values are checked and
//!   typed.
//! - [`tasks`]: dispatch tasks (调度任务) sent to the jurisdiction that must act, their three
//!   clocks, the escalation of those not accepted in time, and their history.
//! - [`alerts`]: conditions on every stored run of a report that dispatch tasks when they hold.
//! - [`schedules`]: reports stored on a cron expression in a time zone, optionally once for
//!   each township, each run narrowed to it.
//! - [`webhooks`]: notifications of dispatch, escalation and failed runs, signed, retried,
//!   and held to the hosts admin allows.
//! - [`clock`]: the time all of it keeps, which a test moves by hand.
//! - [`api`]: [`Governance`], what the server's handlers ask of this crate, as one interface,
//!   and [`Service`], the implementation a server runs.

pub mod alerts;
pub mod api;
pub mod clock;
pub mod parameters;
pub mod reports;
pub mod runs;
pub mod schedules;
pub mod tasks;
pub mod webhooks;

pub use alerts::{AlertDetail, AlertRequest};
pub use api::{Governance, Service};
pub use clock::{Clock, ManualClock, SystemClock};
pub use reports::{ReportChange, ReportRequest, Reports, RunRequest};
pub use runs::RunLimits;
pub use schedules::{ScheduleRequest, ScheduleView};
pub use tasks::{
    ReturnRequest, TaskAction, TaskDetail, TaskFilter, TaskNote, TaskRequest, TasksFromQuery,
};
pub use webhooks::{CreatedWebhook, WebhookDetail, WebhookRequest};
