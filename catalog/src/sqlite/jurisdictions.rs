//! The jurisdiction tree.

use crate::error::{CatalogError, Result};
use crate::jurisdiction::{self, Jurisdiction, JurisdictionCode, RawJurisdiction};
use rusqlite::{Connection, OptionalExtension, params};
use std::collections::HashSet;

/// Adds or updates nodes after validating the whole batch; nothing is stored on any error.
pub(crate) fn upsert_jurisdictions(
    conn: &mut Connection,
    batch: &[RawJurisdiction],
    by: &str,
) -> Result<usize> {
    let tx = conn.transaction()?;
    let known: HashSet<JurisdictionCode> = {
        let mut stmt = tx.prepare("SELECT code FROM jurisdictions")?;
        let codes = stmt.query_map([], |row| row.get::<_, String>(0))?;
        codes
            .map(|code| {
                JurisdictionCode::parse(&code?).map_err(|e| CatalogError::Corrupt(e.to_string()))
            })
            .collect::<Result<_>>()?
    };
    let nodes = jurisdiction::validate_batch(batch, &known)?;
    // parents before children, so the foreign key holds row by row
    let mut ordered = nodes.clone();
    ordered.sort_by_key(|n| n.level);
    for node in &ordered {
        tx.execute(
            "INSERT INTO jurisdictions (code, name, level, parent) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT(code) DO UPDATE SET name = excluded.name, level = excluded.level, parent = excluded.parent",
            params![node.code.as_str(), node.name, node.level.as_str(), node.parent.as_ref().map(|p| p.as_str())],
        )?;
    }
    super::audit::write(
        &tx,
        by,
        "jurisdictions.upsert",
        "jurisdictions",
        serde_json::json!({"count": nodes.len()}),
    )?;
    tx.commit()?;
    Ok(nodes.len())
}

/// The whole tree, ordered by code.
pub(crate) fn jurisdictions(conn: &mut Connection) -> Result<Vec<Jurisdiction>> {
    let mut stmt =
        conn.prepare("SELECT code, name, level, parent FROM jurisdictions ORDER BY code")?;
    let rows = stmt.query_map([], |row| {
        Ok((
            row.get::<_, String>(0)?,
            row.get(1)?,
            row.get::<_, String>(2)?,
            row.get::<_, Option<String>>(3)?,
        ))
    })?;
    rows.map(|row| {
        let (code, name, level, parent) = row?;
        let corrupt = |e: CatalogError| CatalogError::Corrupt(e.to_string());
        Ok(Jurisdiction {
            code: JurisdictionCode::parse(&code).map_err(corrupt)?,
            name,
            level: level.parse().map_err(corrupt)?,
            parent: parent
                .map(|p| JurisdictionCode::parse(&p))
                .transpose()
                .map_err(corrupt)?,
        })
    })
    .collect()
}

/// Whether a code is a known node of the tree.
pub(crate) fn has_jurisdiction(conn: &mut Connection, code: &JurisdictionCode) -> Result<bool> {
    let found = conn
        .query_row(
            "SELECT 1 FROM jurisdictions WHERE code = ?1",
            [code.as_str()],
            |_| Ok(()),
        )
        .optional()?;
    Ok(found.is_some())
}
