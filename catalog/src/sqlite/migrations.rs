//! Versioned schema migrations. Each entry runs once, in order, inside one transaction; the
//! applied version is kept in SQLite's `user_version`. Never edit a released migration: add one.

use rusqlite::{Connection, Transaction};

use crate::error::{CatalogError, Result};
use crate::model::{ColumnDef, RemoteTableDef};

/// One step of the catalog's schema.
pub(crate) enum Migration {
    Sql(&'static str),
    /// A step SQL alone cannot take: it rewrites stored documents.
    Code(fn(&Transaction<'_>) -> Result<()>),
}

use Migration::{Code, Sql};

const MIGRATIONS: &[Migration] = &[
    // 1: the first catalog
    Sql(r#"
    CREATE TABLE jurisdictions (
        code   TEXT PRIMARY KEY CHECK (length(code) = 12),
        name   TEXT NOT NULL,
        level  TEXT NOT NULL,
        parent TEXT REFERENCES jurisdictions(code)
    );
    CREATE TABLE principals (
        id         TEXT PRIMARY KEY,
        name       TEXT NOT NULL UNIQUE,
        created_at TEXT NOT NULL
    );
    CREATE TABLE tokens (
        id           TEXT PRIMARY KEY,
        principal_id TEXT NOT NULL REFERENCES principals(id) ON DELETE CASCADE,
        hash         TEXT NOT NULL UNIQUE,
        bootstrap    INTEGER NOT NULL DEFAULT 0,
        created_at   TEXT NOT NULL,
        revoked_at   TEXT
    );
    CREATE TABLE role_assignments (
        id           TEXT PRIMARY KEY,
        principal_id TEXT NOT NULL REFERENCES principals(id) ON DELETE CASCADE,
        role         TEXT NOT NULL,
        jurisdiction TEXT NOT NULL,
        UNIQUE (principal_id, role, jurisdiction)
    );
    CREATE TABLE sources (
        id         TEXT PRIMARY KEY,
        name       TEXT NOT NULL UNIQUE,
        kind       TEXT NOT NULL,
        url        TEXT NOT NULL,
        options    TEXT NOT NULL,
        secret_ref TEXT,
        owner      TEXT NOT NULL,
        table_def  TEXT,
        table_name TEXT UNIQUE,
        columns    TEXT NOT NULL,
        created_by TEXT NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE TABLE datasets (
        id             TEXT PRIMARY KEY,
        name           TEXT NOT NULL UNIQUE,
        classification TEXT NOT NULL,
        columns        TEXT NOT NULL,
        created_by     TEXT NOT NULL,
        created_at     TEXT NOT NULL
    );
    CREATE TABLE dataset_members (
        dataset_id   TEXT NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,
        position     INTEGER NOT NULL,
        source_id    TEXT NOT NULL REFERENCES sources(id),
        jurisdiction TEXT NOT NULL,
        PRIMARY KEY (dataset_id, position)
    );
    CREATE INDEX dataset_members_by_source ON dataset_members(source_id);
    CREATE TABLE audit_events (
        id        INTEGER PRIMARY KEY AUTOINCREMENT,
        at        TEXT NOT NULL,
        principal TEXT NOT NULL,
        action    TEXT NOT NULL,
        target    TEXT NOT NULL,
        detail    TEXT NOT NULL
    );
    "#),
    // 2: access policies (Casbin `p` lines); `g` lines are role_assignments
    Sql(r#"
    CREATE TABLE policies (
        id           TEXT PRIMARY KEY,
        role         TEXT NOT NULL,
        jurisdiction TEXT NOT NULL,
        object       TEXT NOT NULL,
        action       TEXT NOT NULL,
        effect       TEXT NOT NULL,
        UNIQUE (role, jurisdiction, object, action, effect)
    );
    "#),
    // 3: the tables of database sources, several per source, each with its pinned schema
    Sql(r#"
    CREATE TABLE source_tables (
        source_id  TEXT NOT NULL REFERENCES sources(id) ON DELETE CASCADE,
        position   INTEGER NOT NULL,
        name       TEXT NOT NULL UNIQUE,
        definition TEXT NOT NULL,
        PRIMARY KEY (source_id, position)
    );
    "#),
    // 4: registration confined to what admin grants. A source remembers whether it was
    // registered by a non-admin (and so reaches only its owner's grants); sources registered
    // before this version by anyone but the bootstrap admin are confined, the safe reading.
    // A source's name is unique per registrant, so no registrant learns of another's source
    // from a name conflict. Rebuilt because SQLite cannot drop a column's UNIQUE.
    Sql(r#"
    CREATE TABLE sources_v4 (
        id         TEXT PRIMARY KEY,
        name       TEXT NOT NULL,
        kind       TEXT NOT NULL,
        url        TEXT NOT NULL,
        options    TEXT NOT NULL,
        secret_ref TEXT,
        owner      TEXT NOT NULL,
        table_def  TEXT,
        table_name TEXT UNIQUE,
        columns    TEXT NOT NULL,
        created_by TEXT NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        confined   INTEGER NOT NULL,
        UNIQUE (created_by, name)
    );
    INSERT INTO sources_v4 (id, name, kind, url, options, secret_ref, owner, table_def, table_name,
                            columns, created_by, created_at, updated_at, confined)
        SELECT id, name, kind, url, options, secret_ref, owner, table_def, table_name, columns,
               created_by, created_at, updated_at, created_by <> 'admin'
        FROM sources;
    DROP TABLE sources;
    ALTER TABLE sources_v4 RENAME TO sources;
    CREATE TABLE grants (
        id           TEXT PRIMARY KEY,
        jurisdiction TEXT NOT NULL,
        kind         TEXT NOT NULL,
        location     TEXT NOT NULL,
        created_by   TEXT NOT NULL,
        created_at   TEXT NOT NULL,
        UNIQUE (jurisdiction, kind, location)
    );
    "#),
    // 5: column types in the catalog's own stable form (column type format 1), rewritten from
    // the Arrow text form older rows hold
    Code(column_types_format_1),
    // 6: saved reports, every version kept
    Sql(r#"
    CREATE TABLE reports (
        id         TEXT PRIMARY KEY,
        name       TEXT NOT NULL UNIQUE,
        owner      TEXT NOT NULL,
        version    INTEGER NOT NULL,
        created_by TEXT NOT NULL,
        created_at TEXT NOT NULL
    );
    CREATE TABLE report_versions (
        report_id   TEXT NOT NULL REFERENCES reports(id) ON DELETE CASCADE,
        version     INTEGER NOT NULL,
        description TEXT NOT NULL,
        sql         TEXT NOT NULL,
        parameters  TEXT NOT NULL,
        created_by  TEXT NOT NULL,
        created_at  TEXT NOT NULL,
        PRIMARY KEY (report_id, version)
    );
    "#),
    // 7: stored runs of reports
    Sql(r#"
    CREATE TABLE report_runs (
        id             TEXT PRIMARY KEY,
        report_id      TEXT NOT NULL,
        report_version INTEGER NOT NULL,
        parameters     TEXT NOT NULL,
        principal      TEXT NOT NULL,
        policy_version INTEGER NOT NULL,
        status         TEXT NOT NULL,
        started_at     TEXT NOT NULL,
        finished_at    TEXT,
        row_count      INTEGER,
        bytes          INTEGER,
        result         TEXT,
        sha256         TEXT,
        error          TEXT
    );
    CREATE INDEX report_runs_by_report ON report_runs (report_id, started_at);
    "#),
    // 8: dispatch tasks and their history
    Sql(r#"
    CREATE TABLE tasks (
        id            TEXT PRIMARY KEY,
        title         TEXT NOT NULL,
        detail        TEXT NOT NULL,
        category      TEXT NOT NULL,
        jurisdiction  TEXT NOT NULL,
        department    TEXT,
        urgency       TEXT NOT NULL,
        status        TEXT NOT NULL,
        clocks        TEXT NOT NULL,
        origin        TEXT NOT NULL,
        run_id        TEXT,
        row           TEXT,
        origin_key    TEXT UNIQUE,
        created_by    TEXT NOT NULL,
        created_at    TEXT NOT NULL,
        accept_due_at TEXT NOT NULL,
        red_at        TEXT NOT NULL,
        accepted_at   TEXT,
        handle_due_at TEXT,
        resolved_at   TEXT,
        verify_due_at TEXT,
        verified_at   TEXT,
        supervision   INTEGER NOT NULL DEFAULT 0,
        escalated_to  TEXT,
        updated_at    TEXT NOT NULL
    );
    CREATE INDEX tasks_waiting ON tasks (status, supervision, accept_due_at);
    CREATE TABLE task_events (
        seq          INTEGER PRIMARY KEY AUTOINCREMENT,
        task_id      TEXT NOT NULL REFERENCES tasks(id) ON DELETE CASCADE,
        at           TEXT NOT NULL,
        by           TEXT NOT NULL,
        action       TEXT NOT NULL,
        from_status  TEXT,
        to_status    TEXT NOT NULL,
        note         TEXT,
        escalated_to TEXT
    );
    CREATE INDEX task_events_by_task ON task_events (task_id, seq);
    "#),
    // 9: alerts on the runs of reports, and what each run made of them
    Sql(r#"
    CREATE TABLE alerts (
        id                  TEXT PRIMARY KEY,
        report_id           TEXT NOT NULL REFERENCES reports(id) ON DELETE CASCADE,
        name                TEXT NOT NULL,
        condition           TEXT NOT NULL,
        jurisdiction_column TEXT NOT NULL,
        jurisdiction        TEXT NOT NULL,
        task                TEXT NOT NULL,
        created_by          TEXT NOT NULL,
        created_at          TEXT NOT NULL
    );
    CREATE TABLE alert_evaluations (
        alert_id TEXT NOT NULL REFERENCES alerts(id) ON DELETE CASCADE,
        run_id   TEXT NOT NULL,
        at       TEXT NOT NULL,
        fired    INTEGER NOT NULL,
        tasks    TEXT NOT NULL,
        error    TEXT,
        PRIMARY KEY (alert_id, run_id)
    );
    "#),
    // 10: schedules of reports, and the runs they start
    Sql(r#"
    ALTER TABLE report_runs ADD COLUMN schedule_id TEXT;
    ALTER TABLE report_runs ADD COLUMN scope TEXT;
    CREATE TABLE schedules (
        id              TEXT PRIMARY KEY,
        report_id       TEXT NOT NULL REFERENCES reports(id) ON DELETE CASCADE,
        name            TEXT NOT NULL,
        cron            TEXT NOT NULL,
        time_zone       TEXT NOT NULL,
        run_as          TEXT NOT NULL,
        parameters      TEXT NOT NULL,
        fan_out         TEXT,
        created_by      TEXT NOT NULL,
        created_at      TEXT NOT NULL,
        next_run_at     TEXT NOT NULL,
        last_run_at     TEXT,
        last_success_at TEXT,
        last_error      TEXT,
        last_runs       TEXT NOT NULL DEFAULT '[]'
    );
    CREATE INDEX schedules_due ON schedules (next_run_at);
    "#),
    // 11: webhooks, and every delivery made to them
    Sql(r#"
    CREATE TABLE webhooks (
        id           TEXT PRIMARY KEY,
        name         TEXT NOT NULL,
        url          TEXT NOT NULL,
        jurisdiction TEXT NOT NULL,
        events       TEXT NOT NULL,
        secret       TEXT NOT NULL,
        confined     INTEGER NOT NULL,
        created_by   TEXT NOT NULL,
        created_at   TEXT NOT NULL
    );
    CREATE TABLE webhook_deliveries (
        id              TEXT PRIMARY KEY,
        webhook_id      TEXT NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
        event           TEXT NOT NULL,
        payload         TEXT NOT NULL,
        status          TEXT NOT NULL,
        attempts        INTEGER NOT NULL DEFAULT 0,
        created_at      TEXT NOT NULL,
        next_attempt_at TEXT NOT NULL,
        last_error      TEXT,
        delivered_at    TEXT
    );
    CREATE INDEX webhook_deliveries_due ON webhook_deliveries (status, next_attempt_at);
    "#),
    // 12: how fresh the tables a run read were
    Sql(r#"
    ALTER TABLE report_runs ADD COLUMN freshness TEXT NOT NULL DEFAULT '[]';
    "#),
    // 13: the audit trail becomes a hash chain with signed checkpoints, and append-only
    Code(audit_chain),
];

/// Refuses a catalog made by a newer build, before anything touches it.
pub fn check_version(conn: &Connection) -> Result<()> {
    let version: usize = conn.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    if version > latest_version() {
        return Err(CatalogError::Invalid(format!(
            "the catalog is at schema version {version}, newer than this build ({}); upgrade tiaokuai",
            latest_version()
        )));
    }
    Ok(())
}

/// Brings the database up to the newest schema version. Foreign keys are off while a
/// migration rebuilds a table (dropping a referenced table would otherwise cascade), and
/// checked before they are turned on again.
pub fn migrate(conn: &mut Connection) -> Result<()> {
    let current: usize = conn.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    if current >= MIGRATIONS.len() {
        return Ok(());
    }
    let enforced: bool = conn.query_row("PRAGMA foreign_keys", [], |row| row.get(0))?;
    conn.pragma_update(None, "foreign_keys", "OFF")?;
    let outcome = (|| {
        for (index, step) in MIGRATIONS.iter().enumerate().skip(current) {
            let tx = conn.transaction()?;
            match step {
                Sql(sql) => tx.execute_batch(sql)?,
                Code(rewrite) => rewrite(&tx)?,
            }
            let broken = tx
                .prepare("PRAGMA foreign_key_check")?
                .query([])?
                .next()?
                .is_some();
            if broken {
                return Err(CatalogError::Corrupt(format!(
                    "migration {} would leave references without their rows",
                    index + 1
                )));
            }
            tx.pragma_update(None, "user_version", index + 1)?;
            tx.commit()?;
        }
        Ok(())
    })();
    if enforced {
        conn.pragma_update(None, "foreign_keys", "ON")?;
    }
    outcome
}

/// The first `n` migrations, to build an older catalog in a test.
#[cfg(test)]
pub(crate) fn first(n: usize) -> &'static [Migration] {
    &MIGRATIONS[..n]
}

/// The newest schema version this build knows.
pub fn latest_version() -> usize {
    MIGRATIONS.len()
}

/// Chains the records already written (oldest first, from the new chain's genesis), then
/// forbids changing or removing any record or checkpoint.
fn audit_chain(tx: &Transaction<'_>) -> Result<()> {
    tx.execute_batch(
        r#"
        CREATE TABLE audit_chain (
            id         INTEGER PRIMARY KEY CHECK (id = 1),
            chain_id   TEXT NOT NULL,
            created_at TEXT NOT NULL
        );
        ALTER TABLE audit_events ADD COLUMN prev_hash TEXT NOT NULL DEFAULT '';
        ALTER TABLE audit_events ADD COLUMN hash TEXT NOT NULL DEFAULT '';
        CREATE TABLE audit_checkpoints (
            number    INTEGER PRIMARY KEY,
            chain_id  TEXT NOT NULL,
            from_seq  INTEGER NOT NULL,
            to_seq    INTEGER NOT NULL,
            hash      TEXT NOT NULL,
            previous  TEXT NOT NULL,
            at        TEXT NOT NULL,
            key_id    TEXT NOT NULL,
            signature TEXT NOT NULL
        );
        CREATE INDEX audit_events_by_target ON audit_events (target, action);
        "#,
    )?;
    let chain_id = hex::encode(rand::random::<[u8; 16]>());
    tx.execute(
        "INSERT INTO audit_chain (id, chain_id, created_at) VALUES (1, ?1, ?2)",
        rusqlite::params![chain_id, super::now()],
    )?;
    type Row = (i64, String, String, String, String, String);
    let rows: Vec<Row> = tx
        .prepare("SELECT id, at, principal, action, target, detail FROM audit_events ORDER BY id")?
        .query_map([], |row| {
            Ok((
                row.get(0)?,
                row.get(1)?,
                row.get(2)?,
                row.get(3)?,
                row.get(4)?,
                row.get(5)?,
            ))
        })?
        .collect::<rusqlite::Result<_>>()?;
    let mut prev_hash = crate::chain::genesis(&chain_id);
    // the chain is numbered 1, 2, …: records keep their order, under new numbers
    tx.execute("DELETE FROM audit_events", [])?;
    for (seq, (_, at, principal, action, target, detail)) in (1_i64..).zip(rows) {
        let hash =
            crate::chain::record_hash(&prev_hash, seq, &at, &principal, &action, &target, &detail);
        tx.execute(
            "INSERT INTO audit_events (id, at, principal, action, target, detail, prev_hash, hash) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            rusqlite::params![seq, at, principal, action, target, detail, prev_hash, hash],
        )?;
        prev_hash = hash;
    }
    tx.execute_batch(
        r#"
        CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
            BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;
        CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
            BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;
        CREATE TRIGGER audit_checkpoints_no_update BEFORE UPDATE ON audit_checkpoints
            BEGIN SELECT RAISE(ABORT, 'audit checkpoints are append-only'); END;
        CREATE TRIGGER audit_checkpoints_no_delete BEFORE DELETE ON audit_checkpoints
            BEGIN SELECT RAISE(ABORT, 'audit checkpoints are append-only'); END;
        "#,
    )?;
    Ok(())
}

/// Rewrites every stored column list, reading the Arrow text form and writing format 1.
fn column_types_format_1(tx: &Transaction<'_>) -> Result<()> {
    fn columns(text: &str) -> Result<String> {
        let columns: Vec<ColumnDef> = serde_json::from_str(text)
            .map_err(|e| CatalogError::Corrupt(format!("stored columns: {e}")))?;
        Ok(serde_json::to_string(&columns).expect("columns serialize"))
    }
    fn table(text: &str) -> Result<String> {
        let table: RemoteTableDef = serde_json::from_str(text)
            .map_err(|e| CatalogError::Corrupt(format!("stored database table: {e}")))?;
        Ok(serde_json::to_string(&table).expect("a table serializes"))
    }
    type Rewrite = fn(&str) -> Result<String>;
    let rewrites: [(&str, &str, Rewrite); 3] = [
        ("sources", "columns", columns),
        ("datasets", "columns", columns),
        ("source_tables", "definition", table),
    ];
    for (table_name, column, rewrite) in rewrites {
        let rows: Vec<(i64, String)> = tx
            .prepare(&format!("SELECT rowid, {column} FROM {table_name}"))?
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?;
        for (rowid, text) in rows {
            tx.execute(
                &format!("UPDATE {table_name} SET {column} = ?1 WHERE rowid = ?2"),
                rusqlite::params![rewrite(&text)?, rowid],
            )?;
        }
    }
    Ok(())
}
