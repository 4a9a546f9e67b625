//! Policy lines and role assignments.

use crate::error::{CatalogError, Result};
use crate::model::*;
use crate::token;
use rusqlite::{Connection, OptionalExtension, Transaction, params};

/// Every stored policy line.
pub(crate) fn policies(conn: &mut Connection) -> Result<Vec<PolicyRecord>> {
    let mut stmt = conn.prepare(
        "SELECT id, role, jurisdiction, object, action, effect FROM policies ORDER BY role, object, action, jurisdiction",
    )?;
    let rows = stmt.query_map([], |row| {
        Ok(PolicyRecord {
            id: row.get(0)?,
            role: row.get(1)?,
            jurisdiction: row.get(2)?,
            object: row.get(3)?,
            action: row.get(4)?,
            effect: row.get(5)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Stores a (validated) policy line; the same line twice is a conflict.
pub(crate) fn insert_policy(
    conn: &mut Connection,
    line: PolicyRecord,
    by: &str,
) -> Result<PolicyRecord> {
    let tx = conn.transaction()?;
    let record = insert_policy_in(&tx, line)?;
    super::audit::write(
        &tx,
        by,
        "policy.create",
        &record.id,
        serde_json::to_value(&record).unwrap_or_default(),
    )?;
    tx.commit()?;
    Ok(record)
}

pub(crate) fn insert_policy_in(tx: &Transaction<'_>, line: PolicyRecord) -> Result<PolicyRecord> {
    let exists = tx
        .query_row(
            "SELECT 1 FROM policies WHERE role = ?1 AND jurisdiction = ?2 AND object = ?3 AND action = ?4 AND effect = ?5",
            params![line.role, line.jurisdiction, line.object, line.action, line.effect],
            |_| Ok(()),
        )
        .optional()?;
    if exists.is_some() {
        return Err(CatalogError::Conflict(
            "this policy line already exists".into(),
        ));
    }
    let record = PolicyRecord {
        id: token::new_id("pol"),
        ..line
    };
    tx.execute(
        "INSERT INTO policies (id, role, jurisdiction, object, action, effect) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![record.id, record.role, record.jurisdiction, record.object, record.action, record.effect],
    )?;
    Ok(record)
}

pub(crate) fn delete_policy(conn: &mut Connection, id: &str, by: &str) -> Result<()> {
    super::delete_by_id(conn, "policies", id, "policy", "policy.delete", by)
}

/// Every role assignment.
pub(crate) fn role_assignments(conn: &mut Connection) -> Result<Vec<RoleAssignment>> {
    let mut stmt = conn.prepare(
        "SELECT r.id, p.name, r.role, r.jurisdiction FROM role_assignments r JOIN principals p ON p.id = r.principal_id
         ORDER BY p.name, r.role, r.jurisdiction",
    )?;
    let rows = stmt.query_map([], super::principals::role_assignment_from_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

pub(crate) fn delete_role_assignment(conn: &mut Connection, id: &str, by: &str) -> Result<()> {
    super::delete_by_id(
        conn,
        "role_assignments",
        id,
        "role assignment",
        "role.unassign",
        by,
    )
}

/// Replaces every policy line and role assignment at once (a policy import). Principals
/// named by an assignment are created if missing. The bootstrap assignment (`admin` in `*`)
/// survives whatever the file says.
pub(crate) fn replace_policy(
    conn: &mut Connection,
    lines: Vec<PolicyRecord>,
    assignments: Vec<(String, String, String)>,
    by: &str,
) -> Result<()> {
    let tx = conn.transaction()?;
    tx.execute("DELETE FROM policies", [])?;
    tx.execute(
        "DELETE FROM role_assignments WHERE NOT (role = 'admin' AND jurisdiction = '*')",
        [],
    )?;
    for line in lines {
        insert_policy_in(&tx, line)?;
    }
    for (principal, role, jurisdiction) in &assignments {
        let id: Option<String> = tx
            .query_row(
                "SELECT id FROM principals WHERE name = ?1",
                [principal],
                |row| row.get(0),
            )
            .optional()?;
        let principal_id = match id {
            Some(id) => id,
            None => {
                super::principals::validate_principal_name(principal)?;
                super::principals::insert_principal(&tx, principal)?.id
            }
        };
        tx.execute(
            "INSERT OR IGNORE INTO role_assignments (id, principal_id, role, jurisdiction) VALUES (?1, ?2, ?3, ?4)",
            params![token::new_id("ra"), principal_id, role, jurisdiction],
        )?;
    }
    super::audit::write(
        &tx,
        by,
        "policy.import",
        "policies",
        serde_json::json!({"assignments": assignments.len()}),
    )?;
    tx.commit()?;
    Ok(())
}
