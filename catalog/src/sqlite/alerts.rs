//! Alerts on the runs of reports, and what each run made of them. An evaluation and the tasks
//! it dispatches are stored in one transaction, once per alert and run: an evaluation done
//! again (after a restart) finds the first one and dispatches nothing.

use rusqlite::{Connection, OptionalExtension, Row, params};

use super::{from_json, now, tasks, to_json};
use crate::error::{CatalogError, Result};
use crate::jurisdiction::JurisdictionCode;
use crate::model::{AlertEvaluation, AlertRecord, NewAlert, NewTask, TaskRecord};

const ALERT_COLUMNS: &str = "id, report_id, name, condition, jurisdiction_column, jurisdiction, task, created_by, created_at";

type Stored = [String; 9];

fn read(row: &Row<'_>) -> rusqlite::Result<Stored> {
    Ok([
        row.get(0)?,
        row.get(1)?,
        row.get(2)?,
        row.get(3)?,
        row.get(4)?,
        row.get(5)?,
        row.get(6)?,
        row.get(7)?,
        row.get(8)?,
    ])
}

fn decode(stored: Stored) -> Result<AlertRecord> {
    let [
        id,
        report_id,
        name,
        condition,
        jurisdiction_column,
        jurisdiction,
        task,
        created_by,
        created_at,
    ] = stored;
    Ok(AlertRecord {
        id,
        report_id,
        name,
        condition: from_json(&condition)?,
        jurisdiction_column,
        jurisdiction: JurisdictionCode::parse(&jurisdiction)
            .map_err(|_| CatalogError::Corrupt(format!("alert jurisdiction {jurisdiction:?}")))?,
        task: from_json(&task)?,
        created_by,
        created_at,
    })
}

pub(crate) fn insert_alert(conn: &mut Connection, new: NewAlert) -> Result<AlertRecord> {
    let tx = conn.transaction()?;
    tx.execute(
        "INSERT INTO alerts (id, report_id, name, condition, jurisdiction_column, jurisdiction, task, created_by, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![
            new.id,
            new.report_id,
            new.name,
            to_json(&new.condition),
            new.jurisdiction_column,
            new.jurisdiction.as_str(),
            to_json(&new.task),
            new.created_by,
            now()
        ],
    )?;
    super::audit::write(
        &tx,
        &new.created_by,
        "alert.create",
        &new.id,
        serde_json::Value::Null,
    )?;
    let stored = alert(&tx, &new.id)?
        .ok_or_else(|| CatalogError::Corrupt("an alert just stored is gone".into()))?;
    tx.commit()?;
    Ok(stored)
}

pub(crate) fn alert(conn: &Connection, id: &str) -> Result<Option<AlertRecord>> {
    conn.query_row(
        &format!("SELECT {ALERT_COLUMNS} FROM alerts WHERE id = ?1"),
        [id],
        read,
    )
    .optional()?
    .map(decode)
    .transpose()
}

/// Every alert (of one report, for `Some`), oldest first.
pub(crate) fn alerts(conn: &mut Connection, report_id: Option<&str>) -> Result<Vec<AlertRecord>> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {ALERT_COLUMNS} FROM alerts WHERE ?1 IS NULL OR report_id = ?1 ORDER BY created_at, id"
    ))?;
    let rows = stmt.query_map([report_id], read)?;
    rows.map(|row| decode(row?)).collect()
}

/// An alert's evaluations, newest first.
pub(crate) fn evaluations(conn: &mut Connection, alert_id: &str) -> Result<Vec<AlertEvaluation>> {
    let mut stmt = conn.prepare(
        "SELECT alert_id, run_id, at, fired, tasks, error FROM alert_evaluations
         WHERE alert_id = ?1 ORDER BY at DESC, run_id",
    )?;
    let rows = stmt.query_map([alert_id], |row| {
        Ok((
            row.get::<_, String>(0)?,
            row.get::<_, String>(1)?,
            row.get::<_, String>(2)?,
            row.get::<_, bool>(3)?,
            row.get::<_, String>(4)?,
            row.get::<_, Option<String>>(5)?,
        ))
    })?;
    rows.map(|row| {
        let (alert_id, run_id, at, fired, tasks, error) = row?;
        Ok(AlertEvaluation {
            alert_id,
            run_id,
            at,
            fired,
            tasks: from_json(&tasks)?,
            error,
        })
    })
    .collect()
}

/// Stores an evaluation and dispatches its tasks, in one transaction; `None` when the alert
/// was evaluated on that run already (nothing is dispatched again).
pub(crate) fn record_evaluation(
    conn: &mut Connection,
    mut evaluation: AlertEvaluation,
    dispatched: Vec<NewTask>,
) -> Result<Option<(AlertEvaluation, Vec<TaskRecord>)>> {
    let tx = conn.transaction()?;
    let done: bool = tx.query_row(
        "SELECT EXISTS (SELECT 1 FROM alert_evaluations WHERE alert_id = ?1 AND run_id = ?2)",
        params![evaluation.alert_id, evaluation.run_id],
        |row| row.get(0),
    )?;
    if done {
        return Ok(None);
    }
    let stored = tasks::insert_in(&tx, dispatched)?;
    evaluation.tasks = stored.iter().map(|t| t.id.clone()).collect();
    tx.execute(
        "INSERT INTO alert_evaluations (alert_id, run_id, at, fired, tasks, error) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            evaluation.alert_id,
            evaluation.run_id,
            evaluation.at,
            evaluation.fired,
            to_json(&evaluation.tasks),
            evaluation.error
        ],
    )?;
    tx.commit()?;
    Ok(Some((evaluation, stored)))
}

/// Whether the alert was evaluated on the run.
pub(crate) fn evaluated(conn: &mut Connection, alert_id: &str, run_id: &str) -> Result<bool> {
    Ok(conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM alert_evaluations WHERE alert_id = ?1 AND run_id = ?2)",
        params![alert_id, run_id],
        |row| row.get(0),
    )?)
}
