//! Saved reports and their versions.

use rusqlite::{Connection, OptionalExtension, Row, params};

use super::{from_json, now, to_json};
use crate::error::{CatalogError, Result};
use crate::jurisdiction::JurisdictionCode;
use crate::model::{NewReport, ReportContent, ReportRecord};
use crate::store::validate_report_name;
use crate::token;

const REPORT_COLUMNS: &str = "r.id, r.name, r.owner, v.version, v.description, v.sql, v.parameters, r.created_by, r.created_at, v.created_by, v.created_at";

fn decode(row: &Row<'_>) -> rusqlite::Result<[String; 11]> {
    let mut out: [String; 11] = Default::default();
    for (i, slot) in out.iter_mut().enumerate() {
        *slot = match i {
            3 => row.get::<_, i64>(i)?.to_string(),
            _ => row.get(i)?,
        };
    }
    Ok(out)
}

fn record(fields: [String; 11]) -> Result<ReportRecord> {
    let [
        id,
        name,
        owner,
        version,
        description,
        sql,
        parameters,
        created_by,
        created_at,
        updated_by,
        updated_at,
    ] = fields;
    Ok(ReportRecord {
        id,
        name,
        owner: JurisdictionCode::parse(&owner).map_err(|e| CatalogError::Corrupt(e.to_string()))?,
        version: version
            .parse()
            .map_err(|_| CatalogError::Corrupt(format!("report version {version:?}")))?,
        description,
        sql,
        parameters: from_json(&parameters)?,
        created_by,
        created_at,
        updated_by,
        updated_at,
    })
}

fn write_version(
    tx: &rusqlite::Transaction<'_>,
    id: &str,
    version: u32,
    content: &ReportContent,
    by: &str,
    at: &str,
) -> Result<()> {
    tx.execute(
        "INSERT INTO report_versions (report_id, version, description, sql, parameters, created_by, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            id,
            version,
            content.description,
            content.sql,
            to_json(&content.parameters),
            by,
            at
        ],
    )?;
    Ok(())
}

/// Stores a new report as its version 1. Its name must be new.
pub(crate) fn insert_report(conn: &mut Connection, new: NewReport) -> Result<ReportRecord> {
    validate_report_name(&new.name)?;
    let tx = conn.transaction()?;
    let taken = tx
        .query_row("SELECT 1 FROM reports WHERE name = ?1", [&new.name], |_| {
            Ok(())
        })
        .optional()?;
    if taken.is_some() {
        return Err(CatalogError::Conflict(format!(
            "a report named {:?} already exists",
            new.name
        )));
    }
    let id = token::new_id("rep");
    let at = now();
    tx.execute(
        "INSERT INTO reports (id, name, owner, version, created_by, created_at) VALUES (?1, ?2, ?3, 1, ?4, ?5)",
        params![id, new.name, new.owner.as_str(), new.created_by, at],
    )?;
    write_version(&tx, &id, 1, &new.content, &new.created_by, &at)?;
    super::audit::write(
        &tx,
        &new.created_by,
        "report.create",
        &id,
        serde_json::json!({"name": new.name, "version": 1}),
    )?;
    let stored = select(&tx, &id, None)?.expect("the report just stored");
    tx.commit()?;
    Ok(stored)
}

/// Stores a new version of a report, if `expected` is still its newest version.
pub(crate) fn update_report(
    conn: &mut Connection,
    id: &str,
    expected: u32,
    content: ReportContent,
    by: &str,
) -> Result<ReportRecord> {
    let tx = conn.transaction()?;
    let current: Option<u32> = tx
        .query_row("SELECT version FROM reports WHERE id = ?1", [id], |row| {
            row.get(0)
        })
        .optional()?;
    let current = current.ok_or_else(|| CatalogError::NotFound(format!("report {id:?}")))?;
    if current != expected {
        return Err(CatalogError::Conflict(format!(
            "report {id:?} is at version {current}, not {expected}; read it again and repeat the change"
        )));
    }
    let version = current + 1;
    let at = now();
    write_version(&tx, id, version, &content, by, &at)?;
    tx.execute(
        "UPDATE reports SET version = ?2 WHERE id = ?1",
        params![id, version],
    )?;
    super::audit::write(
        &tx,
        by,
        "report.update",
        id,
        serde_json::json!({"version": version}),
    )?;
    let stored = select(&tx, id, None)?.expect("the report just changed");
    tx.commit()?;
    Ok(stored)
}

fn select(conn: &Connection, id: &str, version: Option<u32>) -> Result<Option<ReportRecord>> {
    let sql = format!(
        "SELECT {REPORT_COLUMNS} FROM reports r JOIN report_versions v ON v.report_id = r.id
         WHERE r.id = ?1 AND v.version = COALESCE(?2, r.version)"
    );
    conn.query_row(&sql, params![id, version], decode)
        .optional()?
        .map(record)
        .transpose()
}

/// A report at its newest version, or at `version`.
pub(crate) fn report(
    conn: &mut Connection,
    id: &str,
    version: Option<u32>,
) -> Result<Option<ReportRecord>> {
    select(conn, id, version)
}

/// Every report at its newest version, by name.
pub(crate) fn reports(conn: &mut Connection) -> Result<Vec<ReportRecord>> {
    let sql = format!(
        "SELECT {REPORT_COLUMNS} FROM reports r JOIN report_versions v
         ON v.report_id = r.id AND v.version = r.version ORDER BY r.name"
    );
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt.query_map([], decode)?;
    rows.map(|row| record(row?)).collect()
}

/// Every version of a report, oldest first.
pub(crate) fn report_versions(conn: &mut Connection, id: &str) -> Result<Vec<ReportRecord>> {
    let sql = format!(
        "SELECT {REPORT_COLUMNS} FROM reports r JOIN report_versions v ON v.report_id = r.id
         WHERE r.id = ?1 ORDER BY v.version"
    );
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt.query_map([id], decode)?;
    rows.map(|row| record(row?)).collect()
}

/// Deletes a report with all of its versions.
pub(crate) fn delete_report(conn: &mut Connection, id: &str, by: &str) -> Result<()> {
    let tx = conn.transaction()?;
    tx.execute("DELETE FROM report_versions WHERE report_id = ?1", [id])?;
    if tx.execute("DELETE FROM reports WHERE id = ?1", [id])? == 0 {
        return Err(CatalogError::NotFound(format!("report {id:?}")));
    }
    super::audit::write(&tx, by, "report.delete", id, serde_json::json!({}))?;
    tx.commit()?;
    Ok(())
}
