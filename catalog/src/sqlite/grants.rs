//! Grants: what admin allows the sources of a jurisdiction to reach.

use super::now;
use crate::error::{CatalogError, Result};
use crate::jurisdiction::JurisdictionCode;
use crate::model::GrantRecord;
use crate::token;
use rusqlite::{Connection, OptionalExtension, params};

/// Stores a grant; the same grant twice is a conflict.
pub(crate) fn insert_grant(
    conn: &mut Connection,
    jurisdiction: &JurisdictionCode,
    kind: &str,
    location: &str,
    by: &str,
) -> Result<GrantRecord> {
    let tx = conn.transaction()?;
    let known = tx
        .query_row(
            "SELECT 1 FROM jurisdictions WHERE code = ?1",
            [jurisdiction.as_str()],
            |_| Ok(()),
        )
        .optional()?;
    if known.is_none() {
        return Err(CatalogError::invalid(format!(
            "jurisdiction {jurisdiction} is not in the jurisdiction tree"
        )));
    }
    let exists = tx
        .query_row(
            "SELECT 1 FROM grants WHERE jurisdiction = ?1 AND kind = ?2 AND location = ?3",
            params![jurisdiction.as_str(), kind, location],
            |_| Ok(()),
        )
        .optional()?;
    if exists.is_some() {
        return Err(CatalogError::Conflict(format!(
            "{jurisdiction} already holds the {kind} grant {location:?}"
        )));
    }
    let record = GrantRecord {
        id: token::new_id("gr"),
        jurisdiction: jurisdiction.clone(),
        kind: kind.to_owned(),
        location: location.to_owned(),
        created_by: by.to_owned(),
        created_at: now(),
    };
    tx.execute(
        "INSERT INTO grants (id, jurisdiction, kind, location, created_by, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            record.id,
            record.jurisdiction.as_str(),
            record.kind,
            record.location,
            record.created_by,
            record.created_at
        ],
    )?;
    super::audit::write(
        &tx,
        by,
        "grant.create",
        &record.id,
        serde_json::json!({"jurisdiction": record.jurisdiction.as_str(), "kind": kind, "location": location}),
    )?;
    tx.commit()?;
    Ok(record)
}

/// Every grant, by jurisdiction, kind and location.
pub(crate) fn grants(conn: &mut Connection) -> Result<Vec<GrantRecord>> {
    let mut stmt = conn.prepare(
        "SELECT id, jurisdiction, kind, location, created_by, created_at FROM grants ORDER BY jurisdiction, kind, location",
    )?;
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
        let (id, jurisdiction, kind, location, created_by, created_at) = row?;
        Ok(GrantRecord {
            id,
            jurisdiction: JurisdictionCode::parse(&jurisdiction)
                .map_err(|e| CatalogError::Corrupt(e.to_string()))?,
            kind,
            location,
            created_by,
            created_at,
        })
    })
    .collect()
}

pub(crate) fn delete_grant(conn: &mut Connection, id: &str, by: &str) -> Result<()> {
    super::delete_by_id(conn, "grants", id, "grant", "grant.delete", by)
}
