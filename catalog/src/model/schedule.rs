//! Schedules: a report run on a cron expression in a time zone, as a named principal,
//! optionally once for each jurisdiction of a level.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::jurisdiction::JurisdictionCode;

/// Running a schedule once for each jurisdiction of a level, each run narrowed to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FanOut {
    /// `township` or `village`.
    pub level: String,
    /// The jurisdictions of that level inside this one.
    #[schema(value_type = String)]
    pub under: JurisdictionCode,
}

/// A schedule to be stored.
#[derive(Debug, Clone)]
pub struct NewSchedule {
    pub id: String,
    pub report_id: String,
    pub name: String,
    pub cron: String,
    pub time_zone: String,
    /// The principal each run runs as.
    pub run_as: String,
    pub parameters: serde_json::Map<String, serde_json::Value>,
    pub fan_out: Option<FanOut>,
    /// Who is told when a run fails.
    pub created_by: String,
    /// The first tick (RFC 3339, UTC).
    pub next_run_at: String,
}

/// A stored schedule and how its last tick went.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ScheduleRecord {
    pub id: String,
    pub report_id: String,
    pub name: String,
    pub cron: String,
    pub time_zone: String,
    pub run_as: String,
    #[schema(value_type = Object)]
    pub parameters: serde_json::Map<String, serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fan_out: Option<FanOut>,
    pub created_by: String,
    pub created_at: String,
    /// The next tick, in UTC.
    pub next_run_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_run_at: Option<String>,
    /// The last tick whose every run succeeded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_success_at: Option<String>,
    /// Why the last tick failed, if it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// The runs of the last tick.
    pub last_runs: Vec<String>,
}

/// How a tick of a schedule went.
#[derive(Debug, Clone)]
pub struct ScheduleOutcome {
    pub at: String,
    pub runs: Vec<String>,
    /// The first failure, if any run failed.
    pub error: Option<String>,
}
