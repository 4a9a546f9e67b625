//! Union datasets.

use super::{from_json, now, to_json};
use crate::error::{CatalogError, Result};
use crate::jurisdiction::JurisdictionCode;
use crate::model::*;
use crate::store::validate_table_name;
use crate::token;
use rusqlite::{Connection, OptionalExtension, params};
use std::collections::BTreeMap;

/// Stores a union dataset; every member source must exist.
pub(crate) fn insert_dataset(conn: &mut Connection, new: NewDataset) -> Result<DatasetRecord> {
    validate_table_name(&new.name)?;
    let tx = conn.transaction()?;
    if super::sources::table_name_taken(&tx, &new.name)? {
        return Err(CatalogError::Conflict(format!(
            "a table named {:?} already exists",
            new.name
        )));
    }
    let record = DatasetRecord {
        id: token::new_id("ds"),
        name: new.name,
        members: new.members,
        classification: new.classification,
        columns: new.columns,
        created_by: new.created_by,
        created_at: now(),
    };
    tx.execute(
        "INSERT INTO datasets (id, name, classification, columns, created_by, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![record.id, record.name, to_json(&record.classification), to_json(&record.columns), record.created_by, record.created_at],
    )?;
    for (position, member) in record.members.iter().enumerate() {
        let source = tx
            .query_row(
                "SELECT 1 FROM sources WHERE id = ?1",
                [&member.source],
                |_| Ok(()),
            )
            .optional()?;
        if source.is_none() {
            return Err(CatalogError::NotFound(format!(
                "member source {:?}",
                member.source
            )));
        }
        tx.execute(
            "INSERT INTO dataset_members (dataset_id, position, source_id, jurisdiction) VALUES (?1, ?2, ?3, ?4)",
            params![record.id, position as i64, member.source, member.jurisdiction.as_str()],
        )?;
    }
    super::audit::write(
        &tx,
        &record.created_by,
        "dataset.create",
        &record.id,
        serde_json::json!({"name": record.name, "members": record.members.len()}),
    )?;
    tx.commit()?;
    Ok(record)
}

pub(crate) fn datasets(conn: &mut Connection) -> Result<Vec<DatasetRecord>> {
    let mut members: BTreeMap<String, Vec<DatasetMember>> = BTreeMap::new();
    {
        let mut stmt = conn.prepare("SELECT dataset_id, source_id, jurisdiction FROM dataset_members ORDER BY dataset_id, position")?;
        let rows = stmt.query_map([], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, String>(2)?,
            ))
        })?;
        for row in rows {
            let (dataset, source, jurisdiction) = row?;
            let jurisdiction = JurisdictionCode::parse(&jurisdiction)
                .map_err(|e| CatalogError::Corrupt(e.to_string()))?;
            members.entry(dataset).or_default().push(DatasetMember {
                source,
                jurisdiction,
            });
        }
    }
    let mut stmt = conn.prepare("SELECT id, name, classification, columns, created_by, created_at FROM datasets ORDER BY name")?;
    let rows = stmt.query_map([], |row| {
        Ok((
            row.get::<_, String>(0)?,
            row.get::<_, String>(1)?,
            row.get::<_, String>(2)?,
            row.get::<_, String>(3)?,
            row.get::<_, String>(4)?,
            row.get::<_, String>(5)?,
        ))
    })?;
    rows.map(|row| {
        let (id, name, classification, columns, created_by, created_at) = row?;
        Ok(DatasetRecord {
            members: members.remove(&id).unwrap_or_default(),
            id,
            name,
            classification: from_json(&classification)?,
            columns: from_json(&columns)?,
            created_by,
            created_at,
        })
    })
    .collect()
}

pub(crate) fn dataset(conn: &mut Connection, id: &str) -> Result<Option<DatasetRecord>> {
    Ok(datasets(conn)?.into_iter().find(|d| d.id == id))
}

pub(crate) fn delete_dataset(conn: &mut Connection, id: &str, by: &str) -> Result<()> {
    super::delete_by_id(conn, "datasets", id, "dataset", "dataset.delete", by)
}
