//! Alerts: conditions on the result of every stored run of a report, which dispatch tasks
//! when they hold.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::jurisdiction::JurisdictionCode;
use crate::model::{TaskClocks, Urgency};

/// When an alert fires, evaluated on a run's result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum AlertCondition {
    /// The result has rows: one task for each row, to the row's jurisdiction.
    AnyRows,
    /// The result has more than `above`, or fewer than `below`, rows: one task, to the alert's
    /// jurisdiction.
    RowCount {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        above: Option<u64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        below: Option<u64>,
    },
    /// A row's number in `column` is above `above` or below `below`: one task for each such
    /// row, to the row's jurisdiction.
    Threshold {
        column: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        above: Option<f64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        below: Option<f64>,
    },
    /// A jurisdiction's number in `column` moved by more than `more_than` since the previous
    /// successful run with the same parameters (by more than that fraction, if `relative`):
    /// one task for each such jurisdiction.
    Change {
        column: String,
        more_than: f64,
        #[serde(default)]
        relative: bool,
    },
    /// Jurisdictions of `level` (village or township) under `under` (default: the alert's
    /// jurisdiction) that have no row: one task for each, to it ("a village did not report").
    Missing {
        level: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schema(value_type = Option<String>)]
        under: Option<JurisdictionCode>,
    },
}

/// The task an alert dispatches; `{column}` in its title and detail is replaced by the row's
/// value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AlertTask {
    pub title: String,
    #[serde(default)]
    pub detail: String,
    #[serde(default = "AlertTask::general")]
    pub category: String,
    #[serde(default)]
    pub urgency: Urgency,
    /// The time limits of the tasks this alert dispatches.
    #[serde(default)]
    pub clocks: TaskClocks,
}

impl AlertTask {
    fn general() -> String {
        "general".into()
    }
}

/// An alert to be stored.
#[derive(Debug, Clone)]
pub struct NewAlert {
    pub id: String,
    pub report_id: String,
    pub name: String,
    pub condition: AlertCondition,
    /// The column of the result that holds each row's division code.
    pub jurisdiction_column: String,
    /// Where a task about the whole result goes, and what `missing` looks under.
    pub jurisdiction: JurisdictionCode,
    pub task: AlertTask,
    /// The principal the alert dispatches as.
    pub created_by: String,
}

/// A stored alert.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AlertRecord {
    pub id: String,
    pub report_id: String,
    pub name: String,
    pub condition: AlertCondition,
    pub jurisdiction_column: String,
    pub jurisdiction: JurisdictionCode,
    pub task: AlertTask,
    /// The principal the alert dispatches as: its tasks are that principal's to verify.
    pub created_by: String,
    pub created_at: String,
}

/// What evaluating an alert on one run came to. One per alert and run: a run is never
/// evaluated twice.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AlertEvaluation {
    pub alert_id: String,
    pub run_id: String,
    pub at: String,
    pub fired: bool,
    /// The tasks dispatched.
    pub tasks: Vec<String>,
    /// Why the alert could not be evaluated, or its tasks not dispatched.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}
