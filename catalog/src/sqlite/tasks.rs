//! Dispatch tasks and their history. Every change of a task is one transaction that checks
//! the task is still where the change starts from and appends the change to its history, so
//! a change made twice (two officials at once, an escalation after a restart) happens once.

use rusqlite::{Connection, OptionalExtension, Row, Transaction, params};

use super::{from_json, to_json};
use crate::error::{CatalogError, Result};
use crate::jurisdiction::JurisdictionCode;
use crate::model::{
    NewTask, Supervision, TaskEscalation, TaskEvent, TaskOrigin, TaskRecord, TaskStatus,
    TaskTransition, Urgency,
};

const TASK_COLUMNS: &str = "id, title, detail, category, jurisdiction, department, urgency, status, clocks, origin, run_id, row, origin_key, created_by, created_at, accept_due_at, red_at, accepted_at, handle_due_at, resolved_at, verify_due_at, verified_at, supervision, escalated_to, updated_at";

fn corrupt(what: &str, value: &str) -> CatalogError {
    CatalogError::Corrupt(format!("task {what} {value:?}"))
}

fn code(text: String) -> Result<JurisdictionCode> {
    JurisdictionCode::parse(&text).map_err(|_| corrupt("jurisdiction", &text))
}

fn status(text: &str) -> Result<TaskStatus> {
    TaskStatus::parse(text).ok_or_else(|| corrupt("status", text))
}

/// The columns as stored, decoded outside rusqlite's error type.
struct Stored {
    text: [Option<String>; 25],
    supervision: i64,
}

fn read(row: &Row<'_>) -> rusqlite::Result<Stored> {
    let mut text: [Option<String>; 25] = Default::default();
    for (index, slot) in text.iter_mut().enumerate() {
        if index != 22 {
            *slot = row.get(index)?;
        }
    }
    Ok(Stored {
        text,
        supervision: row.get(22)?,
    })
}

fn decode(stored: Stored) -> Result<TaskRecord> {
    let [
        id,
        title,
        detail,
        category,
        jurisdiction,
        department,
        urgency,
        task_status,
        clocks,
        origin,
        run_id,
        row,
        origin_key,
        created_by,
        created_at,
        accept_due_at,
        red_at,
        accepted_at,
        handle_due_at,
        resolved_at,
        verify_due_at,
        verified_at,
        _,
        escalated_to,
        updated_at,
    ] = stored.text;
    let required = |value: Option<String>, what: &str| {
        value.ok_or_else(|| CatalogError::Corrupt(format!("task without {what}")))
    };
    let urgency = required(urgency, "urgency")?;
    let origin = required(origin, "origin")?;
    Ok(TaskRecord {
        id: required(id, "id")?,
        title: required(title, "title")?,
        detail: required(detail, "detail")?,
        category: required(category, "category")?,
        jurisdiction: code(required(jurisdiction, "jurisdiction")?)?,
        department,
        urgency: Urgency::parse(&urgency).ok_or_else(|| corrupt("urgency", &urgency))?,
        status: status(&required(task_status, "status")?)?,
        clocks: from_json(&required(clocks, "clocks")?)?,
        origin: TaskOrigin::parse(&origin).ok_or_else(|| corrupt("origin", &origin))?,
        run_id,
        row: row.map(|text| from_json(&text)).transpose()?,
        created_by: required(created_by, "creator")?,
        created_at: required(created_at, "creation time")?,
        accept_due_at: required(accept_due_at, "accept deadline")?,
        red_at: required(red_at, "red time")?,
        accepted_at,
        handle_due_at,
        resolved_at,
        verify_due_at,
        verified_at,
        supervision: u8::try_from(stored.supervision)
            .ok()
            .and_then(Supervision::from_level)
            .ok_or_else(|| corrupt("supervision", &stored.supervision.to_string()))?,
        escalated_to: escalated_to.map(code).transpose()?,
        updated_at: required(updated_at, "update time")?,
        overdue: Vec::new(),
        origin_key,
    })
}

fn load(conn: &Connection, id: &str) -> Result<Option<TaskRecord>> {
    conn.query_row(
        &format!("SELECT {TASK_COLUMNS} FROM tasks WHERE id = ?1"),
        [id],
        read,
    )
    .optional()?
    .map(decode)
    .transpose()
}

fn select(
    conn: &Connection,
    filter: &str,
    values: &[&dyn rusqlite::ToSql],
) -> Result<Vec<TaskRecord>> {
    let mut stmt = conn.prepare(&format!("SELECT {TASK_COLUMNS} FROM tasks {filter}"))?;
    let rows = stmt.query_map(values, read)?;
    rows.map(|row| decode(row?)).collect()
}

/// One line of a task's history.
struct Event<'a> {
    task_id: &'a str,
    at: &'a str,
    by: &'a str,
    action: &'a str,
    change: (Option<TaskStatus>, TaskStatus),
    note: Option<&'a str>,
    escalated_to: Option<&'a JurisdictionCode>,
}

fn event(tx: &Transaction<'_>, event: Event<'_>) -> Result<()> {
    tx.execute(
        "INSERT INTO task_events (task_id, at, by, action, from_status, to_status, note, escalated_to)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            event.task_id,
            event.at,
            event.by,
            event.action,
            event.change.0.map(TaskStatus::as_str),
            event.change.1.as_str(),
            event.note,
            event.escalated_to.map(JurisdictionCode::as_str)
        ],
    )?;
    // the audit trail keeps the transition, not its note (free text, kept in the history)
    super::audit::write(
        tx,
        event.by,
        &format!("task.{}", event.action),
        event.task_id,
        serde_json::json!({
            "from": event.change.0.map(TaskStatus::as_str),
            "to": event.change.1.as_str(),
            "escalated_to": event.escalated_to.map(JurisdictionCode::as_str),
        }),
    )?;
    Ok(())
}

/// Stores tasks as dispatched, all or none; a task whose origin key is already taken is
/// left out. Returns the tasks stored.
pub(crate) fn insert_tasks(conn: &mut Connection, tasks: Vec<NewTask>) -> Result<Vec<TaskRecord>> {
    let tx = conn.transaction()?;
    let stored = insert_in(&tx, tasks)?;
    tx.commit()?;
    Ok(stored)
}

/// Stores tasks inside a transaction the caller commits.
pub(crate) fn insert_in(tx: &Transaction<'_>, tasks: Vec<NewTask>) -> Result<Vec<TaskRecord>> {
    let mut stored = Vec::with_capacity(tasks.len());
    for task in tasks {
        let inserted = tx.execute(
            "INSERT INTO tasks (id, title, detail, category, jurisdiction, department, urgency, status, clocks, origin, run_id, row, origin_key, created_by, created_at, accept_due_at, red_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'dispatched', ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?14)
             ON CONFLICT (origin_key) DO NOTHING",
            params![
                task.id,
                task.title,
                task.detail,
                task.category,
                task.jurisdiction.as_str(),
                task.department,
                task.urgency.as_str(),
                to_json(&task.clocks),
                task.origin.as_str(),
                task.run_id,
                task.row.as_ref().map(to_json),
                task.origin_key,
                task.created_by,
                task.created_at,
                task.accept_due_at,
                task.red_at,
            ],
        )?;
        if inserted == 0 {
            continue;
        }
        let dispatched = Event {
            task_id: &task.id,
            at: &task.created_at,
            by: &task.created_by,
            action: "dispatch",
            change: (None, TaskStatus::Dispatched),
            note: None,
            escalated_to: None,
        };
        event(tx, dispatched)?;
        stored.push(
            load(tx, &task.id)?
                .ok_or_else(|| CatalogError::Corrupt("a task just stored is gone".into()))?,
        );
    }
    Ok(stored)
}

pub(crate) fn task(conn: &mut Connection, id: &str) -> Result<Option<TaskRecord>> {
    load(conn, id)
}

/// Every task, newest first.
pub(crate) fn tasks(conn: &mut Connection) -> Result<Vec<TaskRecord>> {
    select(conn, "ORDER BY created_at DESC, id", &[])
}

/// A task's history (every task's, for `None`), oldest first.
pub(crate) fn task_events(conn: &mut Connection, id: &str) -> Result<Vec<TaskEvent>> {
    Ok(history(conn, Some(id))?
        .into_iter()
        .map(|(_, e)| e)
        .collect())
}

/// The history of every task (of one, for `Some`), oldest first, each event with the
/// jurisdiction of its task.
pub(crate) fn history(
    conn: &mut Connection,
    id: Option<&str>,
) -> Result<Vec<(JurisdictionCode, TaskEvent)>> {
    let mut stmt = conn.prepare(
        "SELECT e.seq, e.task_id, e.at, e.by, e.action, e.from_status, e.to_status, e.note, e.escalated_to, t.jurisdiction
         FROM task_events e JOIN tasks t ON t.id = e.task_id
         WHERE ?1 IS NULL OR e.task_id = ?1 ORDER BY e.seq",
    )?;
    type Raw = (i64, String, String, String, String, Option<String>, String);
    let rows = stmt.query_map([id], |row| {
        let raw: Raw = (
            row.get(0)?,
            row.get(1)?,
            row.get(2)?,
            row.get(3)?,
            row.get(4)?,
            row.get(5)?,
            row.get(6)?,
        );
        let rest: (Option<String>, Option<String>, String) =
            (row.get(7)?, row.get(8)?, row.get(9)?);
        Ok((raw, rest))
    })?;
    rows.map(|row| {
        let ((seq, task_id, at, by, action, from, to), (note, escalated_to, place)) = row?;
        let event = TaskEvent {
            seq,
            task_id,
            at,
            by,
            action,
            from_status: from.as_deref().map(status).transpose()?,
            to_status: status(&to)?,
            note,
            escalated_to: escalated_to.map(code).transpose()?,
        };
        Ok((code(place)?, event))
    })
    .collect()
}

/// Changes a task's status if it is still in one of `change.from`: otherwise a conflict
/// naming where it is (or not found).
pub(crate) fn transition_task(
    conn: &mut Connection,
    id: &str,
    change: TaskTransition,
) -> Result<TaskRecord> {
    let tx = conn.transaction()?;
    let Some(current) = load(&tx, id)? else {
        return Err(CatalogError::NotFound(format!("task {id:?}")));
    };
    if !change.from.contains(&current.status) {
        return Err(CatalogError::Conflict(format!(
            "task {id:?} is {}; it cannot be {}",
            current.status.as_str(),
            match change.action {
                "accept" => "accepted",
                "resolve" => "resolved",
                "verify" => "verified",
                "return" => "returned",
                other => other,
            }
        )));
    }
    let times = match change.to {
        TaskStatus::Accepted => "accepted_at = ?3, handle_due_at = ?4",
        TaskStatus::Resolved => "resolved_at = ?3, verify_due_at = ?4",
        TaskStatus::Verified => "verified_at = ?3",
        TaskStatus::Returned => "handle_due_at = ?4, resolved_at = NULL, verify_due_at = NULL",
        TaskStatus::Dispatched => {
            return Err(CatalogError::Invalid(
                "a task is dispatched only when it is created".into(),
            ));
        }
    };
    // the status is checked again in the statement (every parameter is bound, used or not):
    // a writer between the read and here is impossible with one writing connection, and the
    // check keeps that true of any store
    let changed = tx.execute(
        &format!(
            "UPDATE tasks SET status = ?2, {times}, updated_at = ?3 WHERE id = ?1 AND status = ?5"
        ),
        params![
            id,
            change.to.as_str(),
            change.at,
            change.due_at,
            current.status.as_str()
        ],
    )?;
    if changed == 0 {
        return Err(CatalogError::Conflict(format!(
            "task {id:?} changed meanwhile"
        )));
    }
    let changed = Event {
        task_id: id,
        at: &change.at,
        by: &change.by,
        action: change.action,
        change: (Some(current.status), change.to),
        note: change.note.as_deref(),
        escalated_to: None,
    };
    event(&tx, changed)?;
    let task = load(&tx, id)?.ok_or_else(|| CatalogError::NotFound(format!("task {id:?}")))?;
    tx.commit()?;
    Ok(task)
}

/// Escalates a task still dispatched at the level below `escalation.to`; `None` when it has
/// been accepted or escalated meanwhile.
pub(crate) fn escalate_task(
    conn: &mut Connection,
    id: &str,
    escalation: TaskEscalation,
) -> Result<Option<TaskRecord>> {
    let level = i64::from(escalation.to.level());
    let tx = conn.transaction()?;
    let changed = tx.execute(
        "UPDATE tasks SET supervision = ?2, escalated_to = COALESCE(?3, escalated_to), updated_at = ?4
         WHERE id = ?1 AND status = 'dispatched' AND supervision = ?2 - 1",
        params![
            id,
            level,
            escalation.escalated_to.as_ref().map(JurisdictionCode::as_str),
            escalation.at
        ],
    )?;
    if changed == 0 {
        return Ok(None);
    }
    let note = format!("not accepted in time: {}", escalation.to.as_str());
    let escalated = Event {
        task_id: id,
        at: &escalation.at,
        by: "tiaokuai",
        action: "escalate",
        change: (Some(TaskStatus::Dispatched), TaskStatus::Dispatched),
        note: Some(&note),
        escalated_to: escalation.escalated_to.as_ref(),
    };
    event(&tx, escalated)?;
    let task = load(&tx, id)?;
    tx.commit()?;
    Ok(task)
}

/// The dispatched tasks whose next escalation is due at `now`.
pub(crate) fn due_escalations(conn: &mut Connection, now: &str) -> Result<Vec<TaskRecord>> {
    select(
        conn,
        "WHERE status = 'dispatched'
           AND ((supervision = 0 AND accept_due_at <= ?1) OR (supervision = 1 AND red_at <= ?1))
         ORDER BY accept_due_at, id",
        &[&now],
    )
}
