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
