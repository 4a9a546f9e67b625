//! Stored runs of reports. A run is written when it starts and once more when it ends; after
//! that it never changes.

use rusqlite::{Connection, OptionalExtension, Row, params};

use super::{from_json, now, to_json};
use crate::error::{CatalogError, Result};
use crate::jurisdiction::JurisdictionCode;
use crate::model::{NewRun, RunOutcome, RunRecord, RunStatus};

const RUN_COLUMNS: &str = "id, report_id, report_version, parameters, principal, policy_version, status, started_at, finished_at, row_count, bytes, result, sha256, error, schedule_id, scope, freshness";

type Stored = (RunRecord, String, String, Option<String>, String);

fn decode(row: &Row<'_>) -> rusqlite::Result<Stored> {
    let record = RunRecord {
        id: row.get(0)?,
        report_id: row.get(1)?,
        report_version: row.get(2)?,
        parameters: Default::default(),
        principal: row.get(4)?,
        policy_version: row.get::<_, i64>(5)? as u64,
        status: RunStatus::Running,
        started_at: row.get(7)?,
        finished_at: row.get(8)?,
        row_count: row.get::<_, Option<i64>>(9)?.map(|n| n as u64),
        bytes: row.get::<_, Option<i64>>(10)?.map(|n| n as u64),
        result: row.get(11)?,
        sha256: row.get(12)?,
        error: row.get(13)?,
        schedule_id: row.get(14)?,
        scope: None,
        freshness: Vec::new(),
    };
    let scope: Option<String> = row.get(15)?;
    let freshness: String = row.get(16)?;
    Ok((record, row.get(3)?, row.get(6)?, scope, freshness))
}

fn record((mut record, parameters, status, scope, freshness): Stored) -> Result<RunRecord> {
    record.parameters = from_json(&parameters)?;
    record.freshness = from_json(&freshness)?;
    record.scope = scope
        .map(|code| {
            JurisdictionCode::parse(&code)
                .map_err(|_| CatalogError::Corrupt(format!("run scope {code:?}")))
        })
        .transpose()?;
    record.status = match status.as_str() {
        "running" => RunStatus::Running,
        "succeeded" => RunStatus::Succeeded,
        "failed" => RunStatus::Failed,
        other => return Err(CatalogError::Corrupt(format!("run status {other:?}"))),
    };
    Ok(record)
}

pub(crate) fn insert_run(conn: &mut Connection, new: NewRun) -> Result<RunRecord> {
    conn.execute(
        "INSERT INTO report_runs (id, report_id, report_version, parameters, principal, policy_version, status, started_at, schedule_id, scope, freshness)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'running', ?7, ?8, ?9, ?10)",
        params![
            new.id,
            new.report_id,
            new.report_version,
            to_json(&new.parameters),
            new.principal,
            new.policy_version as i64,
            now(),
            new.schedule_id,
            new.scope.as_ref().map(JurisdictionCode::as_str),
            to_json(&new.freshness)
        ],
    )?;
    run(conn, &new.id)?.ok_or_else(|| CatalogError::Corrupt("a run just stored is gone".into()))
}

/// Ends a running run; a run that has already ended is a conflict, never overwritten.
pub(crate) fn finish_run(
    conn: &mut Connection,
    id: &str,
    outcome: RunOutcome,
) -> Result<RunRecord> {
    let changed = match &outcome {
        RunOutcome::Succeeded {
            row_count,
            bytes,
            result,
            sha256,
        } => conn.execute(
            "UPDATE report_runs SET status = 'succeeded', finished_at = ?2, row_count = ?3, bytes = ?4, result = ?5, sha256 = ?6
             WHERE id = ?1 AND status = 'running'",
            params![id, now(), *row_count as i64, *bytes as i64, result, sha256],
        )?,
        RunOutcome::Failed { error } => conn.execute(
            "UPDATE report_runs SET status = 'failed', finished_at = ?2, error = ?3
             WHERE id = ?1 AND status = 'running'",
            params![id, now(), error],
        )?,
    };
    if changed == 0 {
        return Err(CatalogError::Conflict(format!("run {id:?} is not running")));
    }
    run(conn, id)?.ok_or_else(|| CatalogError::NotFound(format!("run {id:?}")))
}

pub(crate) fn run(conn: &mut Connection, id: &str) -> Result<Option<RunRecord>> {
    conn.query_row(
        &format!("SELECT {RUN_COLUMNS} FROM report_runs WHERE id = ?1"),
        [id],
        decode,
    )
    .optional()?
    .map(record)
    .transpose()
}

/// A report's runs (every run, for `None`), newest first.
pub(crate) fn runs_of(conn: &mut Connection, report_id: Option<&str>) -> Result<Vec<RunRecord>> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {RUN_COLUMNS} FROM report_runs WHERE ?1 IS NULL OR report_id = ?1 ORDER BY started_at DESC, id"
    ))?;
    let rows = stmt.query_map([report_id], decode)?;
    rows.map(|row| record(row?)).collect()
}

/// Marks every run still "running" failed with `reason`: after a restart, none is.
pub(crate) fn fail_running_runs(conn: &mut Connection, reason: &str) -> Result<usize> {
    Ok(conn.execute(
        "UPDATE report_runs SET status = 'failed', finished_at = ?1, error = ?2 WHERE status = 'running'",
        params![now(), reason],
    )?)
}

/// Deletes the runs that finished before `before` (an RFC 3339 time): the result files they
/// named, for the caller to remove.
pub(crate) fn expire_runs(conn: &mut Connection, before: &str) -> Result<Vec<String>> {
    let tx = conn.transaction()?;
    let files: Vec<Option<String>> = tx
        .prepare("SELECT result FROM report_runs WHERE status <> 'running' AND finished_at < ?1")?
        .query_map([before], |row| row.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    tx.execute(
        "DELETE FROM report_runs WHERE status <> 'running' AND finished_at < ?1",
        [before],
    )?;
    tx.commit()?;
    Ok(files.into_iter().flatten().collect())
}
