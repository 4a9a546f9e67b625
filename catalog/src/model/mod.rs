//! The records the catalog stores.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{AnyOfBuilder, ObjectBuilder, Schema, Type};
use utoipa::{PartialSchema, ToSchema};

use crate::error::CatalogError;

use crate::jurisdiction::JurisdictionCode;

mod alert;
mod column;
mod report;
mod schedule;
mod source;
mod task;
mod webhook;
pub use alert::{AlertCondition, AlertEvaluation, AlertRecord, AlertTask, NewAlert};
pub use column::{
    ColumnDef, ColumnField, ColumnType, DataTypeText, IntervalResolution, TimeResolution,
};
pub use report::{
    NewReport, NewRun, ParameterKind, ReportContent, ReportParameter, ReportRecord, RunOutcome,
    RunRecord, RunStatus, SourceFreshness,
};
pub use schedule::{FanOut, NewSchedule, ScheduleOutcome, ScheduleRecord};
pub use source::{
    DatabaseEngine, FileFormat, NewSource, RemoteTableDef, SkippedColumn, SourceContent,
    SourceKind, SourceRecord, TableDef,
};
pub use task::{
    NewTask, Supervision, TaskClocks, TaskEscalation, TaskEvent, TaskOrigin, TaskRecord,
    TaskStatus, TaskTransition, Urgency,
};
pub use webhook::{
    DeliveryAttempt, DeliveryRecord, DeliveryStatus, NewDelivery, NewWebhook, WebhookRecord,
    redacted_url,
};

/// How the rows of a table map to jurisdictions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Binding {
    /// The named column holds each row's division code.
    Column { column: String },
    /// Every row belongs to one jurisdiction.
    Fixed { fixed: JurisdictionCode },
    /// A union dataset: each member has a fixed jurisdiction, exposed in the named column.
    Union { union: String },
}

/// One written form of a binding, as an object holding `key`. Serde reads a binding untagged
/// and ignores other keys, so the schema allows them too.
fn binding_form(key: &str, value: RefOr<Schema>, description: &str) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .property(key, value)
        .required(key)
        .description(Some(description))
        .into()
}

fn column_binding() -> RefOr<Schema> {
    let column = ObjectBuilder::new().schema_type(Type::String).into();
    binding_form(
        "column",
        column,
        "the named column holds each row's division code",
    )
}

fn fixed_binding() -> RefOr<Schema> {
    binding_form(
        "fixed",
        JurisdictionCode::schema(),
        "every row belongs to this jurisdiction",
    )
}

impl Binding {
    /// The bindings a source's own table may take: a union binding belongs to datasets.
    pub fn source_schema() -> RefOr<Schema> {
        AnyOfBuilder::new()
            .item(column_binding())
            .item(fixed_binding())
            .description(Some("how the table's rows map to jurisdictions"))
            .into()
    }
}

impl PartialSchema for Binding {
    fn schema() -> RefOr<Schema> {
        let union = ObjectBuilder::new().schema_type(Type::String).into();
        AnyOfBuilder::new()
            .item(column_binding())
            .item(fixed_binding())
            .item(binding_form(
                "union",
                union,
                "a union dataset: each member's jurisdiction, in the named column",
            ))
            .description(Some("how a table's rows map to jurisdictions"))
            .into()
    }
}

impl ToSchema for Binding {}

/// What [`crate::store::validate_table_name`] accepts: `schema.table`, each a lowercase
/// identifier, in a schema that is not reserved.
pub fn table_name_schema() -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(
            r"^(?!(system|information_schema|pg_catalog)\.)[a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*$",
        ))
        .description(Some("schema.table, each a lowercase identifier ([a-z_][a-z0-9_]*); the schemas system, information_schema and pg_catalog are reserved"))
        .examples(["village.households"])
        .into()
}

/// How sensitive a column is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Sensitivity {
    Public,
    Internal,
    Sensitive,
}

/// The kind of personal information a sensitive column holds; it chooses the mask.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PiiKind {
    IdCard,
    Phone,
    Name,
    Address,
    BankAccount,
}

/// A column's classification, written `public`, `internal`, `sensitive` or `sensitive:<pii>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Classification {
    pub sensitivity: Sensitivity,
    pub pii: Option<PiiKind>,
}

impl Classification {
    /// What a column is when its table says nothing about it: shared inside government, not
    /// published, not personal.
    pub const DEFAULT: Classification = Classification {
        sensitivity: Sensitivity::Internal,
        pii: None,
    };
}

impl Default for Classification {
    fn default() -> Self {
        Self::DEFAULT
    }
}

impl fmt::Display for Classification {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let level = match self.sensitivity {
            Sensitivity::Public => "public",
            Sensitivity::Internal => "internal",
            Sensitivity::Sensitive => "sensitive",
        };
        match self.pii {
            None => f.write_str(level),
            Some(pii) => {
                let pii = match pii {
                    PiiKind::IdCard => "id_card",
                    PiiKind::Phone => "phone",
                    PiiKind::Name => "name",
                    PiiKind::Address => "address",
                    PiiKind::BankAccount => "bank_account",
                };
                write!(f, "{level}:{pii}")
            }
        }
    }
}

impl FromStr for Classification {
    type Err = CatalogError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (level, pii) = match s.split_once(':') {
            Some((level, pii)) => (level, Some(pii)),
            None => (s, None),
        };
        let sensitivity = match level {
            "public" => Sensitivity::Public,
            "internal" => Sensitivity::Internal,
            "sensitive" => Sensitivity::Sensitive,
            _ => {
                return Err(CatalogError::invalid(format!(
                    "unknown classification {s:?}: expected public, internal, sensitive or sensitive:<kind>"
                )));
            }
        };
        let pii = match pii {
            None => None,
            Some("id_card") => Some(PiiKind::IdCard),
            Some("phone") => Some(PiiKind::Phone),
            Some("name") => Some(PiiKind::Name),
            Some("address") => Some(PiiKind::Address),
            Some("bank_account") => Some(PiiKind::BankAccount),
            Some(other) => {
                return Err(CatalogError::invalid(format!(
                    "unknown personal-information kind {other:?} in {s:?}: expected id_card, phone, name, address or bank_account"
                )));
            }
        };
        if pii.is_some() && sensitivity != Sensitivity::Sensitive {
            return Err(CatalogError::invalid(format!(
                "classification {s:?}: only sensitive columns carry a personal-information kind"
            )));
        }
        Ok(Self { sensitivity, pii })
    }
}

impl Classification {
    /// Every classification, in its written form's order.
    pub fn all() -> impl Iterator<Item = Classification> {
        let plain = [
            Sensitivity::Public,
            Sensitivity::Internal,
            Sensitivity::Sensitive,
        ]
        .map(|sensitivity| Classification {
            sensitivity,
            pii: None,
        });
        let personal = [
            PiiKind::IdCard,
            PiiKind::Phone,
            PiiKind::Name,
            PiiKind::Address,
            PiiKind::BankAccount,
        ]
        .map(|pii| Classification {
            sensitivity: Sensitivity::Sensitive,
            pii: Some(pii),
        });
        plain.into_iter().chain(personal)
    }
}

/// A classification is one of its written forms, nothing else: the schema lists them.
impl PartialSchema for Classification {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(Classification::all().map(|c| c.to_string())))
            .description(Some(
                "public, internal, sensitive, or sensitive:<kind> for personal information (the kind chooses the mask)",
            ))
            .into()
    }
}

impl ToSchema for Classification {}

impl Serialize for Classification {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Classification {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// One member of a union dataset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DatasetMember {
    pub source: String,
    pub jurisdiction: JurisdictionCode,
}

/// A union dataset to be created.
#[derive(Debug, Clone)]
pub struct NewDataset {
    pub name: String,
    pub members: Vec<DatasetMember>,
    pub classification: BTreeMap<String, Classification>,
    /// The members' common schema, without the added jurisdiction column.
    pub columns: Vec<ColumnDef>,
    pub created_by: String,
}

/// A union dataset: one logical table over many member sources.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DatasetRecord {
    pub id: String,
    pub name: String,
    pub members: Vec<DatasetMember>,
    pub classification: BTreeMap<String, Classification>,
    pub columns: Vec<ColumnDef>,
    pub created_by: String,
    pub created_at: String,
}

/// A user or a service account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Principal {
    pub id: String,
    pub name: String,
    pub created_at: String,
}

/// A principal holds a role inside a jurisdiction (`*` = every jurisdiction).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct RoleAssignment {
    pub id: String,
    pub principal: String,
    pub role: String,
    pub jurisdiction: String,
}

/// A token as listed: never the token itself.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TokenInfo {
    pub id: String,
    pub principal: String,
    pub created_at: String,
    pub revoked_at: Option<String>,
}

/// One recorded change to the catalog.
#[derive(Debug, Clone, Serialize)]
pub struct AuditEvent {
    pub id: i64,
    pub at: String,
    pub principal: String,
    pub action: String,
    pub target: String,
    pub detail: serde_json::Value,
}

/// One stored policy line, as text; the policies crate validates and interprets it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PolicyRecord {
    pub id: String,
    pub role: String,
    pub jurisdiction: String,
    pub object: String,
    pub action: String,
    pub effect: String,
}

/// A location or secret namespace that admin grants to a jurisdiction, so that sources its
/// departments register may use it. `kind` and `location` are checked by the engine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct GrantRecord {
    pub id: String,
    pub jurisdiction: JurisdictionCode,
    pub kind: String,
    pub location: String,
    pub created_by: String,
    pub created_at: String,
}
