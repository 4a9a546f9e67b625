//! Schedules of reports. A tick is claimed by moving the schedule's next tick on, only from
//! the tick it was due at: a tick is run once, however many sweeps see it due, and the ticks a
//! stopped server missed are run as one.

use rusqlite::{Connection, OptionalExtension, Row, params};

use super::{from_json, now, to_json};
use crate::error::{CatalogError, Result};
use crate::model::{NewSchedule, ScheduleOutcome, ScheduleRecord};

const SCHEDULE_COLUMNS: &str = "id, report_id, name, cron, time_zone, run_as, parameters, fan_out, created_by, created_at, next_run_at, last_run_at, last_success_at, last_error, last_runs";

type Stored = [Option<String>; 15];

fn read(row: &Row<'_>) -> rusqlite::Result<Stored> {
    let mut stored: Stored = Default::default();
    for (index, slot) in stored.iter_mut().enumerate() {
        *slot = row.get(index)?;
    }
    Ok(stored)
}

fn decode(stored: Stored) -> Result<ScheduleRecord> {
    let [
        id,
        report_id,
        name,
        cron,
        time_zone,
        run_as,
        parameters,
        fan_out,
        created_by,
        created_at,
        next_run_at,
        last_run_at,
        last_success_at,
        last_error,
        last_runs,
    ] = stored;
    let required = |value: Option<String>, what: &str| {
        value.ok_or_else(|| CatalogError::Corrupt(format!("schedule without {what}")))
    };
    Ok(ScheduleRecord {
        id: required(id, "id")?,
        report_id: required(report_id, "report")?,
        name: required(name, "name")?,
        cron: required(cron, "cron")?,
        time_zone: required(time_zone, "time zone")?,
        run_as: required(run_as, "principal")?,
        parameters: from_json(&required(parameters, "parameters")?)?,
        fan_out: fan_out.map(|text| from_json(&text)).transpose()?,
        created_by: required(created_by, "owner")?,
        created_at: required(created_at, "creation time")?,
        next_run_at: required(next_run_at, "next tick")?,
        last_run_at,
        last_success_at,
        last_error,
        last_runs: from_json(&required(last_runs, "last runs")?)?,
    })
}

pub(crate) fn insert_schedule(conn: &mut Connection, new: NewSchedule) -> Result<ScheduleRecord> {
    let tx = conn.transaction()?;
    tx.execute(
        "INSERT INTO schedules (id, report_id, name, cron, time_zone, run_as, parameters, fan_out, created_by, created_at, next_run_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        params![
            new.id,
            new.report_id,
            new.name,
            new.cron,
            new.time_zone,
            new.run_as,
            to_json(&new.parameters),
            new.fan_out.as_ref().map(to_json),
            new.created_by,
            now(),
            new.next_run_at
        ],
    )?;
    super::audit::write(
        &tx,
        &new.created_by,
        "schedule.create",
        &new.id,
        serde_json::Value::Null,
    )?;
    let stored = schedule(&tx, &new.id)?
        .ok_or_else(|| CatalogError::Corrupt("a schedule just stored is gone".into()))?;
    tx.commit()?;
    Ok(stored)
}

pub(crate) fn schedule(conn: &Connection, id: &str) -> Result<Option<ScheduleRecord>> {
    conn.query_row(
        &format!("SELECT {SCHEDULE_COLUMNS} FROM schedules WHERE id = ?1"),
        [id],
        read,
    )
    .optional()?
    .map(decode)
    .transpose()
}

/// Every schedule, oldest first; only those due at `due` (RFC 3339) for `Some`.
pub(crate) fn schedules(conn: &mut Connection, due: Option<&str>) -> Result<Vec<ScheduleRecord>> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {SCHEDULE_COLUMNS} FROM schedules WHERE ?1 IS NULL OR next_run_at <= ?1 ORDER BY created_at, id"
    ))?;
    let rows = stmt.query_map([due], read)?;
    rows.map(|row| decode(row?)).collect()
}

/// Moves a schedule's next tick from `due` to `next`; false if another sweep did first.
pub(crate) fn claim_tick(conn: &mut Connection, id: &str, due: &str, next: &str) -> Result<bool> {
    Ok(conn.execute(
        "UPDATE schedules SET next_run_at = ?3 WHERE id = ?1 AND next_run_at = ?2",
        params![id, due, next],
    )? == 1)
}

/// Records how a tick went.
pub(crate) fn finish_tick(conn: &mut Connection, id: &str, outcome: ScheduleOutcome) -> Result<()> {
    conn.execute(
        "UPDATE schedules SET last_run_at = ?2, last_error = ?3, last_runs = ?4,
             last_success_at = CASE WHEN ?3 IS NULL THEN ?2 ELSE last_success_at END
         WHERE id = ?1",
        params![id, outcome.at, outcome.error, to_json(&outcome.runs)],
    )?;
    Ok(())
}
