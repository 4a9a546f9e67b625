//! Saved governance reports: a query with typed parameters, kept in versions.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::jurisdiction::JurisdictionCode;

/// What values a report parameter takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ParameterKind {
    Text,
    Integer,
    Decimal,
    /// `YYYY-MM-DD`.
    Date,
    /// `{"from": "YYYY-MM-DD", "to": "YYYY-MM-DD"}`, bound as `$<name>_from` and `$<name>_to`.
    DateRange,
    /// A 12-digit division code inside the caller's own scope for the report.
    Jurisdiction,
    /// One of `values`.
    Enumeration,
}

/// One parameter of a report. The report's SQL names it as `$<name>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReportParameter {
    /// A lowercase identifier (`[a-z_][a-z0-9_]*`).
    pub name: String,
    pub kind: ParameterKind,
    /// What an official is shown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// The allowed values of an enumeration.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
    /// The value used when a run gives none; without one the parameter is required.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub default: Option<serde_json::Value>,
}

/// What a version of a report says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportContent {
    pub description: String,
    pub sql: String,
    pub parameters: Vec<ReportParameter>,
}

/// A report to be stored.
#[derive(Debug, Clone)]
pub struct NewReport {
    pub name: String,
    pub owner: JurisdictionCode,
    pub content: ReportContent,
    pub created_by: String,
}

/// One version of a saved report (the newest, unless a version was asked for).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ReportRecord {
    pub id: String,
    pub name: String,
    pub owner: JurisdictionCode,
    pub version: u32,
    pub description: String,
    pub sql: String,
    pub parameters: Vec<ReportParameter>,
    pub created_by: String,
    pub created_at: String,
    /// Who wrote this version, and when.
    pub updated_by: String,
    pub updated_at: String,
}

/// Where a stored run stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Running,
    Succeeded,
    Failed,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Succeeded => "succeeded",
            RunStatus::Failed => "failed",
        }
    }
}

/// How fresh one table a run read was when it ran.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SourceFreshness {
    /// The table, as the report's SQL names it.
    pub table: String,
    /// `files` (listed as the run began), `database` (read live) or `live` (the server's own
    /// tables).
    pub kind: String,
    /// The sources behind the table that the run could read (a union dataset's members inside
    /// the principal's scope).
    pub sources: usize,
    /// The files those sources held.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub files: Option<usize>,
    /// When the newest of those files was last changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_modified: Option<String>,
    /// Why a source could not be listed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A run of a report to be stored, as it starts.
#[derive(Debug, Clone)]
pub struct NewRun {
    pub id: String,
    pub report_id: String,
    pub report_version: u32,
    pub parameters: serde_json::Map<String, serde_json::Value>,
    pub principal: String,
    pub policy_version: u64,
    /// The schedule that started the run.
    pub schedule_id: Option<String>,
    /// The jurisdiction the run was narrowed to.
    pub scope: Option<JurisdictionCode>,
    /// How fresh each table the report reads was.
    pub freshness: Vec<SourceFreshness>,
}

/// How a run ended.
#[derive(Debug, Clone)]
pub enum RunOutcome {
    Succeeded {
        row_count: u64,
        bytes: u64,
        /// The result file's name inside the server's runs folder.
        result: String,
        /// SHA-256 of the result file, hex.
        sha256: String,
    },
    Failed {
        /// What the caller was told.
        error: String,
    },
}

/// A stored run of a report: immutable once it has finished.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RunRecord {
    pub id: String,
    pub report_id: String,
    pub report_version: u32,
    #[schema(value_type = Object)]
    pub parameters: serde_json::Map<String, serde_json::Value>,
    /// Who ran it: the result holds what this principal's policy gave.
    pub principal: String,
    /// The policy version the run was decided by.
    pub policy_version: u64,
    pub status: RunStatus,
    pub started_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub row_count: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bytes: Option<u64>,
    /// SHA-256 of the stored result (Parquet), hex.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The schedule that started the run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schedule_id: Option<String>,
    /// The jurisdiction the run was narrowed to (a schedule fanned out over townships): its
    /// result holds that jurisdiction's rows only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<JurisdictionCode>,
    /// How fresh each table the report reads was when the run began.
    pub freshness: Vec<SourceFreshness>,
    /// The result file's name in the runs folder; never shown.
    #[serde(skip)]
    pub result: Option<String>,
}
