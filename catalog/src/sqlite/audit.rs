//! The audit trail: records chained by hash as they are written, and the checkpoints that
//! sign the chain (see [`crate::chain`]). Writes take turns on the one writing connection, so
//! each record links to the one written just before it.

use super::{from_json, now};
use crate::chain::{self, ChainedRecord, Checkpoint};
use crate::error::Result;
use crate::model::AuditEvent;
use rusqlite::{Connection, OptionalExtension, Row, Transaction, params};

pub(crate) fn chain_id(conn: &Connection) -> Result<String> {
    Ok(conn.query_row("SELECT chain_id FROM audit_chain", [], |row| row.get(0))?)
}

pub(crate) fn head(conn: &Connection) -> Result<Option<(i64, String)>> {
    Ok(conn
        .query_row(
            "SELECT id, hash FROM audit_events ORDER BY id DESC LIMIT 1",
            [],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .optional()?)
}

/// Appends a record to the chain, in the caller's transaction.
pub(crate) fn write(
    tx: &Transaction<'_>,
    principal: &str,
    action: &str,
    target: &str,
    detail: serde_json::Value,
) -> Result<()> {
    let (seq, prev_hash) = match head(tx)? {
        Some((seq, hash)) => (seq + 1, hash),
        None => (1, chain::genesis(&chain_id(tx)?)),
    };
    let (at, detail) = (now(), detail.to_string());
    let hash = chain::record_hash(&prev_hash, seq, &at, principal, action, target, &detail);
    tx.execute(
        "INSERT INTO audit_events (id, at, principal, action, target, detail, prev_hash, hash) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![seq, at, principal, action, target, detail, prev_hash, hash],
    )?;
    Ok(())
}

pub(crate) fn records(conn: &Connection, after: i64, limit: usize) -> Result<Vec<ChainedRecord>> {
    let mut stmt = conn.prepare(
        "SELECT id, at, principal, action, target, detail, prev_hash, hash FROM audit_events \
         WHERE id > ?1 ORDER BY id LIMIT ?2",
    )?;
    let rows = stmt.query_map(params![after, limit as i64], |row| {
        Ok(ChainedRecord {
            seq: row.get(0)?,
            at: row.get(1)?,
            principal: row.get(2)?,
            action: row.get(3)?,
            target: row.get(4)?,
            detail: row.get(5)?,
            prev_hash: row.get(6)?,
            hash: row.get(7)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

const CHECKPOINT_COLUMNS: &str =
    "chain_id, number, from_seq, to_seq, hash, previous, at, key_id, signature";

fn checkpoint(row: &Row<'_>) -> rusqlite::Result<Checkpoint> {
    Ok(Checkpoint {
        chain_id: row.get(0)?,
        number: row.get(1)?,
        from_seq: row.get(2)?,
        to_seq: row.get(3)?,
        hash: row.get(4)?,
        previous: row.get(5)?,
        at: row.get(6)?,
        key_id: row.get(7)?,
        signature: row.get(8)?,
    })
}

pub(crate) fn checkpoints(conn: &Connection) -> Result<Vec<Checkpoint>> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {CHECKPOINT_COLUMNS} FROM audit_checkpoints ORDER BY number"
    ))?;
    let rows = stmt.query_map([], checkpoint)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

pub(crate) fn last_checkpoint(conn: &Connection) -> Result<Option<Checkpoint>> {
    Ok(conn
        .query_row(
            &format!(
                "SELECT {CHECKPOINT_COLUMNS} FROM audit_checkpoints ORDER BY number DESC LIMIT 1"
            ),
            [],
            checkpoint,
        )
        .optional()?)
}

/// Adds `new` if it follows the newest checkpoint and signs the record it names as stored.
pub(crate) fn add_checkpoint(conn: &mut Connection, new: &Checkpoint) -> Result<bool> {
    let tx = conn.transaction()?;
    let follows = match last_checkpoint(&tx)? {
        Some(last) => {
            new.number == last.number + 1
                && new.from_seq == last.to_seq + 1
                && new.previous == last.digest()
        }
        None => new.number == 1 && new.from_seq == 1,
    };
    let stored: Option<String> = tx
        .query_row(
            "SELECT hash FROM audit_events WHERE id = ?1",
            [new.to_seq],
            |row| row.get(0),
        )
        .optional()?;
    if !follows || stored.as_deref() != Some(new.hash.as_str()) || new.chain_id != chain_id(&tx)? {
        return Ok(false);
    }
    tx.execute(
        &format!(
            "INSERT INTO audit_checkpoints ({CHECKPOINT_COLUMNS}) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
        ),
        params![
            new.chain_id,
            new.number,
            new.from_seq,
            new.to_seq,
            new.hash,
            new.previous,
            new.at,
            new.key_id,
            new.signature
        ],
    )?;
    tx.commit()?;
    Ok(true)
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

fn event(row: &Row<'_>) -> rusqlite::Result<(i64, String, String, String, String, String)> {
    Ok((
        row.get(0)?,
        row.get(1)?,
        row.get(2)?,
        row.get(3)?,
        row.get(4)?,
        row.get(5)?,
    ))
}

fn decoded(row: (i64, String, String, String, String, String)) -> Result<AuditEvent> {
    let (id, at, principal, action, target, detail) = row;
    Ok(AuditEvent {
        id,
        at,
        principal,
        action,
        target,
        detail: from_json(&detail)?,
    })
}

/// Records numbered before `before`, newest first, without the actions in `except`.
pub(crate) fn page(
    conn: &Connection,
    before: Option<i64>,
    limit: usize,
    except: &[String],
) -> Result<Vec<AuditEvent>> {
    let except = serde_json::to_string(except).expect("strings serialize");
    let mut stmt = conn.prepare(
        "SELECT id, at, principal, action, target, detail FROM audit_events \
         WHERE id < ?1 AND action NOT IN (SELECT value FROM json_each(?2)) \
         ORDER BY id DESC LIMIT ?3",
    )?;
    let rows = stmt.query_map(
        params![before.unwrap_or(i64::MAX), except, limit as i64],
        event,
    )?;
    rows.map(|row| decoded(row?)).collect()
}

/// The records of `action` naming each of `targets`.
pub(crate) fn events_of(
    conn: &Connection,
    action: &str,
    targets: &[String],
) -> Result<Vec<AuditEvent>> {
    let targets = serde_json::to_string(targets).expect("strings serialize");
    let mut stmt = conn.prepare(
        "SELECT id, at, principal, action, target, detail FROM audit_events \
         WHERE target IN (SELECT value FROM json_each(?1)) AND action = ?2 ORDER BY id",
    )?;
    let rows = stmt.query_map(params![targets, action], event)?;
    rows.map(|row| decoded(row?)).collect()
}

/// The audit trail, newest first.
pub(crate) fn audit_events(conn: &mut Connection, limit: usize) -> Result<Vec<AuditEvent>> {
    page(conn, None, limit, &[])
}
