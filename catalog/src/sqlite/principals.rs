//! Principals, their roles and tokens.

use super::now;
use crate::error::{CatalogError, Result};
use crate::jurisdiction::JurisdictionCode;
use crate::model::*;
use crate::token;
use rusqlite::{Connection, OptionalExtension, Row, Transaction, params};

pub(crate) fn principal_from_row(row: &Row<'_>) -> rusqlite::Result<Principal> {
    Ok(Principal {
        id: row.get(0)?,
        name: row.get(1)?,
        created_at: row.get(2)?,
    })
}

/// Creates a principal; the name must be new.
pub(crate) fn create_principal(conn: &mut Connection, name: &str, by: &str) -> Result<Principal> {
    validate_principal_name(name)?;
    let tx = conn.transaction()?;
    let principal = insert_principal(&tx, name)?;
    super::audit::write(
        &tx,
        by,
        "principal.create",
        &principal.id,
        serde_json::json!({"name": name}),
    )?;
    tx.commit()?;
    Ok(principal)
}

pub(crate) fn insert_principal(tx: &Transaction<'_>, name: &str) -> Result<Principal> {
    let exists = tx
        .query_row("SELECT 1 FROM principals WHERE name = ?1", [name], |_| {
            Ok(())
        })
        .optional()?;
    if exists.is_some() {
        return Err(CatalogError::Conflict(format!(
            "principal {name:?} already exists"
        )));
    }
    let principal = Principal {
        id: token::new_id("prn"),
        name: name.to_owned(),
        created_at: now(),
    };
    tx.execute(
        "INSERT INTO principals (id, name, created_at) VALUES (?1, ?2, ?3)",
        params![principal.id, principal.name, principal.created_at],
    )?;
    Ok(principal)
}

/// The principal with this name, created if missing.
pub(crate) fn ensure_principal(conn: &mut Connection, name: &str) -> Result<Principal> {
    if let Some(found) = principal_by_name(conn, name)? {
        return Ok(found);
    }
    create_principal(conn, name, "system")
}

pub(crate) fn principals(conn: &mut Connection) -> Result<Vec<Principal>> {
    let mut stmt = conn.prepare("SELECT id, name, created_at FROM principals ORDER BY name")?;
    let rows = stmt.query_map([], principal_from_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

pub(crate) fn principal_by_name(conn: &mut Connection, name: &str) -> Result<Option<Principal>> {
    Ok(conn
        .query_row(
            "SELECT id, name, created_at FROM principals WHERE name = ?1",
            [name],
            principal_from_row,
        )
        .optional()?)
}

/// Gives a principal a role in a jurisdiction (`*` for all); assigning twice is a no-op.
pub(crate) fn assign_role(
    conn: &mut Connection,
    principal: &str,
    role: &str,
    jurisdiction: &str,
    by: &str,
) -> Result<RoleAssignment> {
    if jurisdiction != "*" {
        JurisdictionCode::parse(jurisdiction)?;
    }
    if role.is_empty()
        || !role
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    {
        return Err(CatalogError::invalid(format!(
            "role {role:?} must be a lowercase identifier"
        )));
    }
    let tx = conn.transaction()?;
    let principal_id: String = tx
        .query_row(
            "SELECT id FROM principals WHERE name = ?1",
            [principal],
            |row| row.get(0),
        )
        .optional()?
        .ok_or_else(|| CatalogError::NotFound(format!("principal {principal:?}")))?;
    let existing: Option<String> = tx
        .query_row(
            "SELECT id FROM role_assignments WHERE principal_id = ?1 AND role = ?2 AND jurisdiction = ?3",
            params![principal_id, role, jurisdiction],
            |row| row.get(0),
        )
        .optional()?;
    let id = match existing {
        Some(id) => id,
        None => {
            let id = token::new_id("ra");
            tx.execute(
                "INSERT INTO role_assignments (id, principal_id, role, jurisdiction) VALUES (?1, ?2, ?3, ?4)",
                params![id, principal_id, role, jurisdiction],
            )?;
            super::audit::write(
                &tx,
                by,
                "role.assign",
                &id,
                serde_json::json!({"principal": principal, "role": role, "jurisdiction": jurisdiction}),
            )?;
            id
        }
    };
    tx.commit()?;
    Ok(RoleAssignment {
        id,
        principal: principal.to_owned(),
        role: role.to_owned(),
        jurisdiction: jurisdiction.to_owned(),
    })
}

pub(crate) fn role_assignment_from_row(row: &Row<'_>) -> rusqlite::Result<RoleAssignment> {
    Ok(RoleAssignment {
        id: row.get(0)?,
        principal: row.get(1)?,
        role: row.get(2)?,
        jurisdiction: row.get(3)?,
    })
}

/// The roles a principal holds.
pub(crate) fn roles_of(conn: &mut Connection, principal_id: &str) -> Result<Vec<RoleAssignment>> {
    let mut stmt = conn.prepare(
        "SELECT r.id, p.name, r.role, r.jurisdiction FROM role_assignments r JOIN principals p ON p.id = r.principal_id
         WHERE r.principal_id = ?1 ORDER BY r.role, r.jurisdiction",
    )?;
    let rows = stmt.query_map([principal_id], role_assignment_from_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Issues a new token for a principal. The token is returned once and stored only hashed.
pub(crate) fn issue_token(
    conn: &mut Connection,
    principal: &str,
    by: &str,
) -> Result<(TokenInfo, String)> {
    let tx = conn.transaction()?;
    let principal_id: String = tx
        .query_row(
            "SELECT id FROM principals WHERE name = ?1",
            [principal],
            |row| row.get(0),
        )
        .optional()?
        .ok_or_else(|| CatalogError::NotFound(format!("principal {principal:?}")))?;
    let secret = token::generate();
    let info = TokenInfo {
        id: token::new_id("tok"),
        principal: principal.to_owned(),
        created_at: now(),
        revoked_at: None,
    };
    tx.execute(
        "INSERT INTO tokens (id, principal_id, hash, created_at) VALUES (?1, ?2, ?3, ?4)",
        params![info.id, principal_id, token::hash(&secret), info.created_at],
    )?;
    super::audit::write(
        &tx,
        by,
        "token.issue",
        &info.id,
        serde_json::json!({"principal": principal}),
    )?;
    tx.commit()?;
    Ok((info, secret))
}

/// Makes `token` the principal's bootstrap token, replacing any earlier bootstrap token.
pub(crate) fn set_bootstrap_token(
    conn: &mut Connection,
    principal_id: &str,
    secret: &str,
) -> Result<()> {
    let tx = conn.transaction()?;
    tx.execute(
        "DELETE FROM tokens WHERE principal_id = ?1 AND bootstrap = 1",
        [principal_id],
    )?;
    tx.execute("DELETE FROM tokens WHERE hash = ?1", [token::hash(secret)])?;
    tx.execute(
        "INSERT INTO tokens (id, principal_id, hash, bootstrap, created_at) VALUES (?1, ?2, ?3, 1, ?4)",
        params![token::new_id("tok"), principal_id, token::hash(secret), now()],
    )?;
    tx.commit()?;
    Ok(())
}

/// The principal a presented token belongs to, if it is known and not revoked.
pub(crate) fn authenticate(conn: &mut Connection, secret: &str) -> Result<Option<Principal>> {
    let hash = token::hash(secret);
    let found = conn
        .query_row(
            "SELECT t.hash, p.id, p.name, p.created_at FROM tokens t JOIN principals p ON p.id = t.principal_id
             WHERE t.hash = ?1 AND t.revoked_at IS NULL",
            [&hash],
            |row| Ok((row.get::<_, String>(0)?, Principal { id: row.get(1)?, name: row.get(2)?, created_at: row.get(3)? })),
        )
        .optional()?;
    Ok(found
        .filter(|(stored, _)| token::matches(secret, stored))
        .map(|(_, principal)| principal))
}

pub(crate) fn tokens(conn: &mut Connection) -> Result<Vec<TokenInfo>> {
    let mut stmt = conn.prepare(
        "SELECT t.id, p.name, t.created_at, t.revoked_at FROM tokens t JOIN principals p ON p.id = t.principal_id ORDER BY t.created_at",
    )?;
    let rows = stmt.query_map([], |row| {
        Ok(TokenInfo {
            id: row.get(0)?,
            principal: row.get(1)?,
            created_at: row.get(2)?,
            revoked_at: row.get(3)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Revokes a token; it stops working for the next request.
pub(crate) fn revoke_token(conn: &mut Connection, id: &str, by: &str) -> Result<()> {
    let tx = conn.transaction()?;
    let changed = tx.execute(
        "UPDATE tokens SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
        params![id, now()],
    )?;
    if changed == 0 {
        return Err(CatalogError::NotFound(format!("token {id:?}")));
    }
    super::audit::write(&tx, by, "token.revoke", id, serde_json::Value::Null)?;
    tx.commit()?;
    Ok(())
}

/// Principal names: 1 to 64 characters of `[a-z0-9_.-]`.
pub(crate) fn validate_principal_name(name: &str) -> Result<()> {
    if name.is_empty()
        || name.len() > 64
        || !name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '.' | '-'))
    {
        return Err(CatalogError::invalid(format!(
            "principal name {name:?} must be 1 to 64 characters of a-z, 0-9, '_', '.', '-'"
        )));
    }
    Ok(())
}
