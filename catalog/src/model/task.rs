//! Dispatch tasks (调度任务): work sent to a jurisdiction, with the clocks it must keep and the
//! history of everything done to it.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::jurisdiction::JurisdictionCode;

/// Where a task stands.
///
/// dispatched (待受理) → accepted (处理中) → resolved (办结待验证) → verified (已验证), or from
/// resolved → returned (回退) → resolved again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TaskStatus {
    Dispatched,
    Accepted,
    Resolved,
    Verified,
    Returned,
}

impl TaskStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            TaskStatus::Dispatched => "dispatched",
            TaskStatus::Accepted => "accepted",
            TaskStatus::Resolved => "resolved",
            TaskStatus::Verified => "verified",
            TaskStatus::Returned => "returned",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "dispatched" => TaskStatus::Dispatched,
            "accepted" => TaskStatus::Accepted,
            "resolved" => TaskStatus::Resolved,
            "verified" => TaskStatus::Verified,
            "returned" => TaskStatus::Returned,
            _ => return None,
        })
    }
}

/// How urgent a task is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Urgency {
    #[default]
    Normal,
    Urgent,
    Critical,
}

impl Urgency {
    pub fn as_str(self) -> &'static str {
        match self {
            Urgency::Normal => "normal",
            Urgency::Urgent => "urgent",
            Urgency::Critical => "critical",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "normal" => Urgency::Normal,
            "urgent" => Urgency::Urgent,
            "critical" => Urgency::Critical,
            _ => return None,
        })
    }
}

/// How far a task that was not accepted in time has been escalated (督办).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Supervision {
    /// On time, or accepted.
    #[default]
    None,
    /// Past the accept deadline: escalated one level up (yellow card).
    Yellow,
    /// Past the second limit: escalated another level (red card).
    Red,
}

impl Supervision {
    pub fn level(self) -> u8 {
        match self {
            Supervision::None => 0,
            Supervision::Yellow => 1,
            Supervision::Red => 2,
        }
    }

    pub fn from_level(level: u8) -> Option<Self> {
        Some(match level {
            0 => Supervision::None,
            1 => Supervision::Yellow,
            2 => Supervision::Red,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Supervision::None => "none",
            Supervision::Yellow => "yellow",
            Supervision::Red => "red",
        }
    }
}

/// The time limits a task is held to, in minutes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TaskClocks {
    /// From dispatch to acceptance: the county's response rule, 30 minutes.
    #[serde(default = "TaskClocks::default_accept")]
    #[schema(minimum = 1)]
    pub accept_minutes: u32,
    /// After the accept deadline, until the task turns red and escalates again.
    #[serde(default = "TaskClocks::default_red")]
    #[schema(minimum = 1)]
    pub red_after_minutes: u32,
    /// From acceptance (or return) to resolution.
    #[serde(default = "TaskClocks::default_handle")]
    #[schema(minimum = 1)]
    pub handle_minutes: u32,
    /// From resolution to verification.
    #[serde(default = "TaskClocks::default_verify")]
    #[schema(minimum = 1)]
    pub verify_minutes: u32,
}

impl TaskClocks {
    fn default_accept() -> u32 {
        30
    }
    fn default_red() -> u32 {
        30
    }
    fn default_handle() -> u32 {
        24 * 60
    }
    fn default_verify() -> u32 {
        24 * 60
    }
}

impl Default for TaskClocks {
    /// Accept in 30 minutes, red 30 minutes later, a day to handle, a day to verify.
    fn default() -> Self {
        Self {
            accept_minutes: Self::default_accept(),
            red_after_minutes: Self::default_red(),
            handle_minutes: Self::default_handle(),
            verify_minutes: Self::default_verify(),
        }
    }
}

/// Where a task came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TaskOrigin {
    /// Written by hand.
    Manual,
    /// One row of a query's result.
    Query,
    /// An alert that fired on a report's run.
    Alert,
}

impl TaskOrigin {
    pub fn as_str(self) -> &'static str {
        match self {
            TaskOrigin::Manual => "manual",
            TaskOrigin::Query => "query",
            TaskOrigin::Alert => "alert",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "manual" => TaskOrigin::Manual,
            "query" => TaskOrigin::Query,
            "alert" => TaskOrigin::Alert,
            _ => return None,
        })
    }
}

/// A task to be stored, as it is dispatched.
#[derive(Debug, Clone)]
pub struct NewTask {
    pub id: String,
    pub title: String,
    pub detail: String,
    /// A lowercase identifier; policy lines name the task as `tasks.<category>`.
    pub category: String,
    pub jurisdiction: JurisdictionCode,
    pub department: Option<String>,
    pub urgency: Urgency,
    pub clocks: TaskClocks,
    pub origin: TaskOrigin,
    /// The run of a report the task came from.
    pub run_id: Option<String>,
    /// The row of a result the task came from.
    pub row: Option<serde_json::Map<String, serde_json::Value>>,
    /// What makes the task unique among those its origin creates (an alert's run and
    /// jurisdiction): a second task with the same key is not created.
    pub origin_key: Option<String>,
    pub created_by: String,
    /// When it was dispatched (RFC 3339, UTC).
    pub created_at: String,
    pub accept_due_at: String,
    pub red_at: String,
}

/// A dispatch task.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TaskRecord {
    pub id: String,
    pub title: String,
    pub detail: String,
    pub category: String,
    /// The assignee: the jurisdiction that must act.
    pub jurisdiction: JurisdictionCode,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub department: Option<String>,
    pub urgency: Urgency,
    pub status: TaskStatus,
    pub clocks: TaskClocks,
    pub origin: TaskOrigin,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub row: Option<serde_json::Map<String, serde_json::Value>>,
    pub created_by: String,
    pub created_at: String,
    /// The response rule's deadline.
    pub accept_due_at: String,
    /// When a task still not accepted turns red.
    pub red_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accepted_at: Option<String>,
    /// The deadline of the current handling, from acceptance or the last return.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub handle_due_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resolved_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verify_due_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verified_at: Option<String>,
    /// How far the task was escalated for not being accepted in time.
    pub supervision: Supervision,
    /// The jurisdiction the task was last escalated to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub escalated_to: Option<JurisdictionCode>,
    pub updated_at: String,
    /// The clocks running late now: `accept`, `handle` or `verify`.
    #[serde(default)]
    pub overdue: Vec<String>,
    #[serde(skip)]
    pub origin_key: Option<String>,
}

/// One change in a task's history.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TaskEvent {
    /// The event's place in the history of all tasks.
    pub seq: i64,
    pub task_id: String,
    pub at: String,
    /// The principal who acted; `tiaokuai` for an escalation.
    pub by: String,
    /// `dispatch`, `accept`, `resolve`, `verify`, `return` or `escalate`.
    pub action: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from_status: Option<TaskStatus>,
    pub to_status: TaskStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Where an escalation sent the task.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub escalated_to: Option<JurisdictionCode>,
}

/// A change of status, made only if the task is still in `from`.
#[derive(Debug, Clone)]
pub struct TaskTransition {
    pub action: &'static str,
    pub from: Vec<TaskStatus>,
    pub to: TaskStatus,
    pub at: String,
    pub by: String,
    pub note: Option<String>,
    /// The deadline the new status runs against (handle or verify), if any.
    pub due_at: Option<String>,
}

/// An escalation, made only if the task is still dispatched at the level below.
#[derive(Debug, Clone)]
pub struct TaskEscalation {
    pub to: Supervision,
    pub escalated_to: Option<JurisdictionCode>,
    pub at: String,
}
