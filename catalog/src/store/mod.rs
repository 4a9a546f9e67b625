//! [`Catalog`]: the SQLite-backed metadata store.
//!
//! Every write that touches more than one row runs in one transaction, so a rejected request
//! leaves the store exactly as it was.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use rusqlite::{Connection, OptionalExtension, Row, Transaction, params};

use crate::error::{CatalogError, Result};
use crate::jurisdiction::{self, Jurisdiction, JurisdictionCode, RawJurisdiction};
use crate::migrations;
use crate::model::*;
use crate::token;

/// The metadata store. Cheap to share behind an `Arc`; calls are short and serialised.
#[derive(Debug)]
pub struct Catalog {
    conn: Mutex<Connection>,
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn to_json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("catalog records always serialise")
}

fn from_json<T: serde::de::DeserializeOwned>(text: &str) -> Result<T> {
    serde_json::from_str(text).map_err(|e| CatalogError::Corrupt(e.to_string()))
}

/// Checks a `schema.table` name: two lowercase identifiers; `system` is reserved.
pub fn validate_table_name(name: &str) -> Result<()> {
    let ident = |s: &str| {
        let mut chars = s.chars();
        matches!(chars.next(), Some(c) if c.is_ascii_lowercase() || c == '_')
            && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    };
    match name.split_once('.') {
        Some((schema, table)) if ident(schema) && ident(table) => {
            if matches!(schema, "system" | "information_schema" | "pg_catalog") {
                Err(CatalogError::invalid(format!(
                    "table {name:?}: the schema {schema:?} is reserved"
                )))
            } else {
                Ok(())
            }
        }
        _ => Err(CatalogError::invalid(format!(
            "table name {name:?} must be schema.table, each a lowercase identifier ([a-z_][a-z0-9_]*)"
        ))),
    }
}

impl Catalog {
    /// Opens (creating if needed) the catalog file and brings it up to date.
    pub fn open(path: &Path) -> Result<Self> {
        let conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        Self::init(conn)
    }

    /// A private in-memory catalog, for tests and one-off tools.
    pub fn open_in_memory() -> Result<Self> {
        Self::init(Connection::open_in_memory()?)
    }

    fn init(mut conn: Connection) -> Result<Self> {
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        let version: usize = conn.query_row("PRAGMA user_version", [], |row| row.get(0))?;
        if version > migrations::latest_version() {
            return Err(CatalogError::Invalid(format!(
                "the catalog is at schema version {version}, newer than this build ({}); upgrade tiaokuai",
                migrations::latest_version()
            )));
        }
        migrations::migrate(&mut conn)?;
        Ok(Self {
            conn: Mutex::new(conn),
        })
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave a half-written transaction behind
        // (SQLite rolls it back), so a poisoned lock is safe to reuse.
        self.conn
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Whether the store answers.
    pub fn ping(&self) -> Result<()> {
        self.conn().query_row("SELECT 1", [], |_| Ok(()))?;
        Ok(())
    }

    fn audit(
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
    pub fn record(
        &self,
        principal: &str,
        action: &str,
        target: &str,
        detail: serde_json::Value,
    ) -> Result<()> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        Self::audit(&tx, principal, action, target, detail)?;
        tx.commit()?;
        Ok(())
    }

    /// The audit trail, newest first.
    pub fn audit_events(&self, limit: usize) -> Result<Vec<AuditEvent>> {
        let conn = self.conn();
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

    // ---- jurisdictions -------------------------------------------------------------------

    /// Adds or updates nodes after validating the whole batch; nothing is stored on any error.
    pub fn upsert_jurisdictions(&self, batch: &[RawJurisdiction], by: &str) -> Result<usize> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let known: HashSet<JurisdictionCode> = {
            let mut stmt = tx.prepare("SELECT code FROM jurisdictions")?;
            let codes = stmt.query_map([], |row| row.get::<_, String>(0))?;
            codes
                .map(|code| {
                    JurisdictionCode::parse(&code?)
                        .map_err(|e| CatalogError::Corrupt(e.to_string()))
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
        Self::audit(
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
    pub fn jurisdictions(&self) -> Result<Vec<Jurisdiction>> {
        let conn = self.conn();
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
    pub fn has_jurisdiction(&self, code: &JurisdictionCode) -> Result<bool> {
        let found = self
            .conn()
            .query_row(
                "SELECT 1 FROM jurisdictions WHERE code = ?1",
                [code.as_str()],
                |_| Ok(()),
            )
            .optional()?;
        Ok(found.is_some())
    }

    // ---- principals, roles and tokens ----------------------------------------------------

    fn principal_from_row(row: &Row<'_>) -> rusqlite::Result<Principal> {
        Ok(Principal {
            id: row.get(0)?,
            name: row.get(1)?,
            created_at: row.get(2)?,
        })
    }

    /// Creates a principal; the name must be new.
    pub fn create_principal(&self, name: &str, by: &str) -> Result<Principal> {
        validate_principal_name(name)?;
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let principal = Self::insert_principal(&tx, name)?;
        Self::audit(
            &tx,
            by,
            "principal.create",
            &principal.id,
            serde_json::json!({"name": name}),
        )?;
        tx.commit()?;
        Ok(principal)
    }

    fn insert_principal(tx: &Transaction<'_>, name: &str) -> Result<Principal> {
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
    pub fn ensure_principal(&self, name: &str) -> Result<Principal> {
        if let Some(found) = self.principal_by_name(name)? {
            return Ok(found);
        }
        self.create_principal(name, "system")
    }

    pub fn principals(&self) -> Result<Vec<Principal>> {
        let conn = self.conn();
        let mut stmt = conn.prepare("SELECT id, name, created_at FROM principals ORDER BY name")?;
        let rows = stmt.query_map([], Self::principal_from_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    pub fn principal_by_name(&self, name: &str) -> Result<Option<Principal>> {
        Ok(self
            .conn()
            .query_row(
                "SELECT id, name, created_at FROM principals WHERE name = ?1",
                [name],
                Self::principal_from_row,
            )
            .optional()?)
    }

    /// Gives a principal a role in a jurisdiction (`*` for all); assigning twice is a no-op.
    pub fn assign_role(
        &self,
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
        let mut conn = self.conn();
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
                Self::audit(
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

    fn role_assignment_from_row(row: &Row<'_>) -> rusqlite::Result<RoleAssignment> {
        Ok(RoleAssignment {
            id: row.get(0)?,
            principal: row.get(1)?,
            role: row.get(2)?,
            jurisdiction: row.get(3)?,
        })
    }

    /// Deletes the row with `id` from `table` and records it; `what` names it in "not found".
    fn delete_by_id(
        &self,
        table: &str,
        id: &str,
        what: &str,
        action: &str,
        by: &str,
    ) -> Result<()> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        if tx.execute(&format!("DELETE FROM {table} WHERE id = ?1"), [id])? == 0 {
            return Err(CatalogError::NotFound(format!("{what} {id:?}")));
        }
        Self::audit(&tx, by, action, id, serde_json::Value::Null)?;
        tx.commit()?;
        Ok(())
    }

    /// The roles a principal holds.
    pub fn roles_of(&self, principal_id: &str) -> Result<Vec<RoleAssignment>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT r.id, p.name, r.role, r.jurisdiction FROM role_assignments r JOIN principals p ON p.id = r.principal_id
             WHERE r.principal_id = ?1 ORDER BY r.role, r.jurisdiction",
        )?;
        let rows = stmt.query_map([principal_id], Self::role_assignment_from_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Issues a new token for a principal. The token is returned once and stored only hashed.
    pub fn issue_token(&self, principal: &str, by: &str) -> Result<(TokenInfo, String)> {
        let mut conn = self.conn();
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
        Self::audit(
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
    pub fn set_bootstrap_token(&self, principal_id: &str, secret: &str) -> Result<()> {
        let mut conn = self.conn();
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
    pub fn authenticate(&self, secret: &str) -> Result<Option<Principal>> {
        let hash = token::hash(secret);
        let found = self
            .conn()
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

    pub fn tokens(&self) -> Result<Vec<TokenInfo>> {
        let conn = self.conn();
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
    pub fn revoke_token(&self, id: &str, by: &str) -> Result<()> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let changed = tx.execute(
            "UPDATE tokens SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
            params![id, now()],
        )?;
        if changed == 0 {
            return Err(CatalogError::NotFound(format!("token {id:?}")));
        }
        Self::audit(&tx, by, "token.revoke", id, serde_json::Value::Null)?;
        tx.commit()?;
        Ok(())
    }

    // ---- policies ------------------------------------------------------------------------

    /// Every stored policy line.
    pub fn policies(&self) -> Result<Vec<PolicyRecord>> {
        let conn = self.conn();
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
    pub fn insert_policy(&self, line: PolicyRecord, by: &str) -> Result<PolicyRecord> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let record = Self::insert_policy_in(&tx, line)?;
        Self::audit(
            &tx,
            by,
            "policy.create",
            &record.id,
            serde_json::to_value(&record).unwrap_or_default(),
        )?;
        tx.commit()?;
        Ok(record)
    }

    fn insert_policy_in(tx: &Transaction<'_>, line: PolicyRecord) -> Result<PolicyRecord> {
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

    pub fn delete_policy(&self, id: &str, by: &str) -> Result<()> {
        self.delete_by_id("policies", id, "policy", "policy.delete", by)
    }

    /// Every role assignment.
    pub fn role_assignments(&self) -> Result<Vec<RoleAssignment>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT r.id, p.name, r.role, r.jurisdiction FROM role_assignments r JOIN principals p ON p.id = r.principal_id
             ORDER BY p.name, r.role, r.jurisdiction",
        )?;
        let rows = stmt.query_map([], Self::role_assignment_from_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    pub fn delete_role_assignment(&self, id: &str, by: &str) -> Result<()> {
        self.delete_by_id(
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
    pub fn replace_policy(
        &self,
        lines: Vec<PolicyRecord>,
        assignments: Vec<(String, String, String)>,
        by: &str,
    ) -> Result<()> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        tx.execute("DELETE FROM policies", [])?;
        tx.execute(
            "DELETE FROM role_assignments WHERE NOT (role = 'admin' AND jurisdiction = '*')",
            [],
        )?;
        for line in lines {
            Self::insert_policy_in(&tx, line)?;
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
                    validate_principal_name(principal)?;
                    Self::insert_principal(&tx, principal)?.id
                }
            };
            tx.execute(
                "INSERT OR IGNORE INTO role_assignments (id, principal_id, role, jurisdiction) VALUES (?1, ?2, ?3, ?4)",
                params![token::new_id("ra"), principal_id, role, jurisdiction],
            )?;
        }
        Self::audit(
            &tx,
            by,
            "policy.import",
            "policies",
            serde_json::json!({"assignments": assignments.len()}),
        )?;
        tx.commit()?;
        Ok(())
    }

    // ---- sources and datasets ------------------------------------------------------------

    fn table_name_taken(tx: &Transaction<'_>, name: &str) -> Result<bool> {
        let in_sources = tx
            .query_row(
                "SELECT 1 FROM sources WHERE table_name = ?1",
                [name],
                |_| Ok(()),
            )
            .optional()?;
        let in_datasets = tx
            .query_row("SELECT 1 FROM datasets WHERE name = ?1", [name], |_| Ok(()))
            .optional()?;
        let in_databases = tx
            .query_row(
                "SELECT 1 FROM source_tables WHERE name = ?1",
                [name],
                |_| Ok(()),
            )
            .optional()?;
        Ok(in_sources.is_some() || in_datasets.is_some() || in_databases.is_some())
    }

    /// Stores a registered source. Its name and its table's name must both be new.
    pub fn insert_source(&self, new: NewSource) -> Result<SourceRecord> {
        if new.name.is_empty() || new.name.len() > 128 || new.name.chars().any(|c| c.is_control()) {
            return Err(CatalogError::invalid(
                "a source name must be 1 to 128 printable characters",
            ));
        }
        if let Some(table) = &new.table {
            validate_table_name(&table.name)?;
        }
        let mut names = std::collections::HashSet::new();
        for table in &new.tables {
            validate_table_name(&table.table.name)?;
            if !names.insert(table.table.name.as_str()) {
                return Err(CatalogError::invalid(format!(
                    "table {:?} is listed twice",
                    table.table.name
                )));
            }
        }
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        // names are unique per registrant: no one learns of another's source from a conflict
        let exists = tx
            .query_row(
                "SELECT 1 FROM sources WHERE name = ?1 AND created_by = ?2",
                [&new.name, &new.created_by],
                |_| Ok(()),
            )
            .optional()?;
        if exists.is_some() {
            return Err(CatalogError::Conflict(format!(
                "you already have a source named {:?}",
                new.name
            )));
        }
        for name in new
            .table
            .iter()
            .map(|t| &t.name)
            .chain(new.tables.iter().map(|t| &t.table.name))
        {
            if Self::table_name_taken(&tx, name)? {
                return Err(CatalogError::Conflict(format!(
                    "a table named {name:?} already exists"
                )));
            }
        }
        let at = now();
        let record = SourceRecord {
            id: new.id,
            name: new.name,
            kind: new.kind,
            url: new.url,
            options: new.options,
            secret: new.secret,
            owner: new.owner,
            table: new.table,
            columns: new.columns,
            tables: new.tables,
            created_by: new.created_by,
            confined: new.confined,
            created_at: at.clone(),
            updated_at: at,
        };
        tx.execute(
            "INSERT INTO sources (id, name, kind, url, options, secret_ref, owner, table_def, table_name, columns, created_by, created_at, updated_at, confined)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
            params![
                record.id,
                record.name,
                record.kind.as_str(),
                record.url,
                to_json(&record.options),
                record.secret,
                record.owner.as_str(),
                record.table.as_ref().map(to_json),
                record.table.as_ref().map(|t| t.name.clone()),
                to_json(&record.columns),
                record.created_by,
                record.created_at,
                record.updated_at,
                record.confined,
            ],
        )?;
        for (position, table) in record.tables.iter().enumerate() {
            tx.execute(
                "INSERT INTO source_tables (source_id, position, name, definition) VALUES (?1, ?2, ?3, ?4)",
                params![record.id, position, table.table.name, to_json(table)],
            )?;
        }
        Self::audit(
            &tx,
            &record.created_by,
            "source.create",
            &record.id,
            serde_json::json!({"name": record.name, "kind": record.kind.as_str()}),
        )?;
        tx.commit()?;
        Ok(record)
    }

    fn source_from_row(row: &Row<'_>) -> rusqlite::Result<([Option<String>; 12], bool)> {
        let mut out: [Option<String>; 12] = Default::default();
        for (i, slot) in out.iter_mut().enumerate() {
            *slot = row.get(i)?;
        }
        Ok((out, row.get(12)?))
    }

    fn decode_source((fields, confined): ([Option<String>; 12], bool)) -> Result<SourceRecord> {
        let [
            id,
            name,
            kind,
            url,
            options,
            secret,
            owner,
            table,
            columns,
            created_by,
            created_at,
            updated_at,
        ] = fields;
        let text = |v: Option<String>| {
            v.ok_or_else(|| CatalogError::Corrupt("missing source field".into()))
        };
        Ok(SourceRecord {
            id: text(id)?,
            name: text(name)?,
            kind: text(kind)?
                .parse()
                .map_err(|e: CatalogError| CatalogError::Corrupt(e.to_string()))?,
            url: text(url)?,
            options: from_json(&text(options)?)?,
            secret,
            owner: JurisdictionCode::parse(&text(owner)?)
                .map_err(|e| CatalogError::Corrupt(e.to_string()))?,
            table: table.map(|t| from_json(&t)).transpose()?,
            columns: from_json(&text(columns)?)?,
            tables: Vec::new(),
            created_by: text(created_by)?,
            confined,
            created_at: text(created_at)?,
            updated_at: text(updated_at)?,
        })
    }

    const SOURCE_COLUMNS: &str = "id, name, kind, url, options, secret_ref, owner, table_def, columns, created_by, created_at, updated_at, confined";

    pub fn sources(&self) -> Result<Vec<SourceRecord>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(&format!(
            "SELECT {} FROM sources ORDER BY name",
            Self::SOURCE_COLUMNS
        ))?;
        let rows = stmt.query_map([], Self::source_from_row)?;
        let mut sources = rows
            .map(|row| Self::decode_source(row?))
            .collect::<Result<Vec<_>>>()?;
        drop(stmt);
        // every database table in one statement, not one statement per source
        let mut stmt = conn.prepare(
            "SELECT source_id, definition FROM source_tables ORDER BY source_id, position",
        )?;
        let rows = stmt.query_map([], |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
        })?;
        let mut tables: BTreeMap<String, Vec<RemoteTableDef>> = BTreeMap::new();
        for row in rows {
            let (source, definition) = row?;
            tables
                .entry(source)
                .or_default()
                .push(from_json(&definition)?);
        }
        for source in &mut sources {
            source.tables = tables.remove(&source.id).unwrap_or_default();
        }
        Ok(sources)
    }

    fn source_tables(conn: &Connection, id: &str) -> Result<Vec<RemoteTableDef>> {
        let mut stmt = conn.prepare(
            "SELECT definition FROM source_tables WHERE source_id = ?1 ORDER BY position",
        )?;
        let rows = stmt.query_map([id], |row| row.get::<_, String>(0))?;
        rows.map(|row| from_json(&row?)).collect()
    }

    pub fn source(&self, id: &str) -> Result<Option<SourceRecord>> {
        let found = self
            .conn()
            .query_row(
                &format!("SELECT {} FROM sources WHERE id = ?1", Self::SOURCE_COLUMNS),
                [id],
                Self::source_from_row,
            )
            .optional()?;
        let Some(fields) = found else {
            return Ok(None);
        };
        let mut source = Self::decode_source(fields)?;
        source.tables = Self::source_tables(&self.conn(), id)?;
        Ok(Some(source))
    }

    /// Whether any registrant has a source of this name.
    pub fn has_source_named(&self, name: &str) -> Result<bool> {
        Ok(self
            .conn()
            .query_row(
                "SELECT 1 FROM sources WHERE name = ?1 LIMIT 1",
                [name],
                |_| Ok(()),
            )
            .optional()?
            .is_some())
    }

    /// Points every source URL under the folder URL `from` (and every file in its
    /// `options.files`) at the same place under `to`, in one transaction: for a data
    /// directory built in one place and moved to another.
    pub fn relocate_file_urls(&self, from: &str, to: &str) -> Result<usize> {
        let moved = |url: &str| url.strip_prefix(from).map(|rest| format!("{to}{rest}"));
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let rows: Vec<(String, String, String)> = {
            let mut stmt = tx.prepare("SELECT id, url, options FROM sources")?;
            let rows = stmt.query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))?;
            rows.collect::<rusqlite::Result<_>>()?
        };
        let mut changed = 0;
        for (id, url, options) in rows {
            let mut options: serde_json::Map<String, serde_json::Value> = from_json(&options)?;
            let mut touched = false;
            if let Some(serde_json::Value::Array(files)) = options.get_mut("files") {
                for file in files.iter_mut() {
                    if let Some(new) = file.as_str().and_then(moved) {
                        *file = serde_json::Value::String(new);
                        touched = true;
                    }
                }
            }
            let new_url = moved(&url);
            if new_url.is_none() && !touched {
                continue;
            }
            tx.execute(
                "UPDATE sources SET url = ?2, options = ?3, updated_at = ?4 WHERE id = ?1",
                params![id, new_url.unwrap_or(url), to_json(&options), now()],
            )?;
            changed += 1;
        }
        tx.commit()?;
        Ok(changed)
    }

    /// Re-pins a source's schema after a check.
    pub fn update_source_columns(&self, id: &str, columns: &[ColumnDef], by: &str) -> Result<()> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let changed = tx.execute(
            "UPDATE sources SET columns = ?2, updated_at = ?3 WHERE id = ?1",
            params![id, to_json(&columns), now()],
        )?;
        if changed == 0 {
            return Err(CatalogError::NotFound(format!("source {id:?}")));
        }
        Self::audit(
            &tx,
            by,
            "source.repin",
            id,
            serde_json::json!({"columns": columns.iter().map(|c| &c.name).collect::<Vec<_>>()}),
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Deletes a source that no dataset uses.
    pub fn delete_source(&self, id: &str, by: &str) -> Result<SourceRecord> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let found = tx
            .query_row(
                &format!("SELECT {} FROM sources WHERE id = ?1", Self::SOURCE_COLUMNS),
                [id],
                Self::source_from_row,
            )
            .optional()?;
        let record = Self::decode_source(
            found.ok_or_else(|| CatalogError::NotFound(format!("source {id:?}")))?,
        )?;
        let used_by: Option<String> = tx
            .query_row(
                "SELECT d.name FROM dataset_members m JOIN datasets d ON d.id = m.dataset_id WHERE m.source_id = ?1 LIMIT 1",
                [id],
                |row| row.get(0),
            )
            .optional()?;
        if let Some(dataset) = used_by {
            return Err(CatalogError::Conflict(format!(
                "source {:?} is a member of dataset {dataset:?}; delete the dataset first",
                record.name
            )));
        }
        tx.execute("DELETE FROM source_tables WHERE source_id = ?1", [id])?;
        tx.execute("DELETE FROM sources WHERE id = ?1", [id])?;
        Self::audit(
            &tx,
            by,
            "source.delete",
            id,
            serde_json::json!({"name": record.name}),
        )?;
        tx.commit()?;
        Ok(record)
    }

    /// Stores a union dataset; every member source must exist.
    pub fn insert_dataset(&self, new: NewDataset) -> Result<DatasetRecord> {
        validate_table_name(&new.name)?;
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        if Self::table_name_taken(&tx, &new.name)? {
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
        Self::audit(
            &tx,
            &record.created_by,
            "dataset.create",
            &record.id,
            serde_json::json!({"name": record.name, "members": record.members.len()}),
        )?;
        tx.commit()?;
        Ok(record)
    }

    pub fn datasets(&self) -> Result<Vec<DatasetRecord>> {
        let conn = self.conn();
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

    pub fn dataset(&self, id: &str) -> Result<Option<DatasetRecord>> {
        Ok(self.datasets()?.into_iter().find(|d| d.id == id))
    }

    pub fn delete_dataset(&self, id: &str, by: &str) -> Result<()> {
        self.delete_by_id("datasets", id, "dataset", "dataset.delete", by)
    }
}

/// Principal names: 1 to 64 characters of `[a-z0-9_.-]`.
fn validate_principal_name(name: &str) -> Result<()> {
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

mod grants;
#[cfg(test)]
mod tests;
