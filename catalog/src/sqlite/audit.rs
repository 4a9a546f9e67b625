//! The audit trail.

use super::{from_json, now};
use crate::error::Result;
use crate::model::AuditEvent;
use rusqlite::{Connection, Transaction, params};

pub(crate) fn write(
    tx: &Transaction<'_>,
    principal: &str,
    action: &str,
    target: &str,
    detail: serde_json::Value,
) -> Result<()> {
    tx.execute(
        "INSERT INTO audit_events (at, principal, action, target, detail) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![now(), principal, action, target, detail.to_string()],
    )?;
    Ok(())
}

/// Records an event that changes nothing else (a query, say).
pub(crate) fn record(
    conn: &mut Connection,
    principal: &str,
    action: &str,
    target: &str,
    detail: serde_json::Value,
) -> Result<()> {
    let tx = conn.transaction()?;
    write(&tx, principal, action, target, detail)?;
    tx.commit()?;
    Ok(())
}

/// The audit trail, newest first.
pub(crate) fn audit_events(conn: &mut Connection, limit: usize) -> Result<Vec<AuditEvent>> {
    let mut stmt = conn.prepare(
        "SELECT id, at, principal, action, target, detail FROM audit_events ORDER BY id DESC LIMIT ?1",
    )?;
    let rows = stmt.query_map([limit as i64], |row| {
        Ok((
            row.get(0)?,
            row.get(1)?,
            row.get(2)?,
            row.get(3)?,
            row.get(4)?,
            row.get::<_, String>(5)?,
        ))
    })?;
    rows.map(|row| {
        let (id, at, principal, action, target, detail) = row?;
        Ok(AuditEvent {
            id,
            at,
            principal,
            action,
            target,
            detail: from_json(&detail)?,
        })
    })
    .collect()
}
