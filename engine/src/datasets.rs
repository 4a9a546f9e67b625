//! Union datasets: one logical table over many sources of one schema, each member with a
//! fixed jurisdiction (`admin`).

use std::collections::{BTreeMap, HashSet};

use serde::Deserialize;
use tiaokuai_catalog::{
    Classification, ColumnDef, DatasetMember, DatasetRecord, JurisdictionCode, NewDataset,
};
use tiaokuai_connectors::JURISDICTION_COLUMN;
use tiaokuai_policies::Caller;
use utoipa::ToSchema;

use crate::engine::Engine;
use crate::error::{EngineError, Result};
use crate::permission::require_admin;
use crate::schema;
use crate::sources::known_code;

/// `POST /v1/datasets`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DatasetRequest {
    #[schema(value_type = String, schema_with = tiaokuai_catalog::model::table_name_schema)]
    pub name: String,
    /// Sources of one schema, each with the jurisdiction its rows belong to.
    #[schema(min_items = 1)]
    pub members: Vec<MemberRequest>,
    #[serde(default)]
    pub classification: BTreeMap<String, Classification>,
}

/// One member of a requested dataset.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MemberRequest {
    /// The member source's id.
    pub source: String,
    #[schema(value_type = JurisdictionCode)]
    pub jurisdiction: String,
}

impl Engine {
    /// Creates a union dataset over sources of one schema.
    pub async fn create_dataset(
        &self,
        caller: &Caller,
        request: DatasetRequest,
    ) -> Result<DatasetRecord> {
        require_admin(caller, "creating datasets")?;
        tiaokuai_catalog::store::validate_table_name(&request.name)?;
        if request.members.is_empty() {
            return Err(EngineError::BadRequest(
                "a dataset needs at least one member".into(),
            ));
        }
        let mut seen = HashSet::new();
        let mut members = Vec::with_capacity(request.members.len());
        let mut columns: Option<(String, Vec<ColumnDef>)> = None;
        for member in &request.members {
            if !seen.insert(member.source.clone()) {
                return Err(EngineError::BadRequest(
                    format!("source {:?} is listed twice", member.source).into(),
                ));
            }
            let source = self.catalog.source(&member.source).await?.ok_or_else(|| {
                EngineError::BadRequest(
                    format!("member source {:?} does not exist", member.source).into(),
                )
            })?;
            let jurisdiction = known_code(
                self,
                &member.jurisdiction,
                &format!("member {:?}", source.name),
            )
            .await?;
            let source_columns = source.content.single_schema().ok_or_else(|| {
                EngineError::BadRequest(format!(
                    "member {:?} is a database with several tables; register the member table as a source of its own",
                    source.name
                ).into())
            })?.to_vec();
            if source_columns.iter().any(|c| c.name == JURISDICTION_COLUMN) {
                return Err(EngineError::BadRequest(format!(
                    "member {:?} already has a {JURISDICTION_COLUMN} column, which the dataset adds",
                    source.name
                ).into()));
            }
            match &columns {
                None => columns = Some((source.name.clone(), source_columns)),
                Some((first, expected)) if !same_columns(expected, &source_columns) => {
                    return Err(EngineError::BadRequest(
                        format!(
                            "member {:?} has a different schema from member {first:?}",
                            source.name
                        )
                        .into(),
                    ));
                }
                Some(_) => {}
            }
            members.push(DatasetMember {
                source: source.id,
                jurisdiction,
            });
        }
        let (_, columns) = columns.expect("at least one member");
        if let Some(unknown) = request
            .classification
            .keys()
            .find(|name| !columns.iter().any(|c| &&c.name == name))
        {
            return Err(EngineError::BadRequest(
                format!("classification names {unknown:?}, which is not a column").into(),
            ));
        }
        // nullability may differ between members; the union is nullable wherever any member is
        let columns = columns
            .into_iter()
            .map(|c| ColumnDef {
                nullable: true,
                ..c
            })
            .collect();
        let stored = self
            .catalog
            .insert_dataset(NewDataset {
                name: request.name,
                members,
                classification: request.classification,
                columns,
                created_by: caller.name().to_owned(),
            })
            .await?;
        self.reload().await?;
        Ok(stored)
    }

    pub async fn delete_dataset(&self, caller: &Caller, id: &str) -> Result<()> {
        require_admin(caller, "deleting datasets")?;
        self.catalog.delete_dataset(id, caller.name()).await?;
        self.reload().await
    }
    /// Every union dataset (`admin`).
    pub async fn datasets(&self, caller: &Caller) -> Result<Vec<DatasetRecord>> {
        require_admin(caller, "listing datasets")?;
        Ok(self.catalog.datasets().await?)
    }

    pub async fn dataset(&self, caller: &Caller, id: &str) -> Result<DatasetRecord> {
        require_admin(caller, "reading datasets")?;
        self.catalog
            .dataset(id)
            .await?
            .ok_or_else(|| EngineError::NotFound(format!("dataset {id:?}").into()))
    }
}

/// Whether two members have the same columns; text is text however it is stored (Parquet's
/// string views, a database's strings), and the union reads every member as its own type.
fn same_columns(a: &[ColumnDef], b: &[ColumnDef]) -> bool {
    let alike =
        |x: &ColumnDef, y: &ColumnDef| match (schema::column_type(x), schema::column_type(y)) {
            (Ok(s), Ok(t)) => s == t || (schema::is_text(&s) && schema::is_text(&t)),
            _ => false,
        };
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|(x, y)| x.name == y.name && alike(x, y))
}
