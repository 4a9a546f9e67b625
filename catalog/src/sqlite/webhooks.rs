//! Webhooks and their deliveries. A delivery is stored before it is attempted, and each
//! attempt is recorded, so a stop loses none and the failed ones stay listed.

use rusqlite::{Connection, OptionalExtension, Row, params};

use super::{from_json, now, to_json};
use crate::error::{CatalogError, Result};
use crate::jurisdiction::JurisdictionCode;
use crate::model::{
    DeliveryAttempt, DeliveryRecord, DeliveryStatus, NewDelivery, NewWebhook, WebhookRecord,
    redacted_url,
};

const WEBHOOK_COLUMNS: &str =
    "id, name, url, jurisdiction, events, secret, confined, created_by, created_at";
const DELIVERY_COLUMNS: &str = "id, webhook_id, event, payload, status, attempts, created_at, next_attempt_at, last_error, delivered_at";

/// A webhook's columns as stored: the text ones, then `confined`.
type StoredWebhook = ([String; 8], bool);

fn webhook_of(row: &Row<'_>) -> rusqlite::Result<StoredWebhook> {
    let text = [0, 1, 2, 3, 4, 5, 7, 8].map(|i| row.get::<_, String>(i));
    let [
        id,
        name,
        target,
        jurisdiction,
        events,
        secret,
        created_by,
        created_at,
    ] = text;
    Ok((
        [
            id?,
            name?,
            target?,
            jurisdiction?,
            events?,
            secret?,
            created_by?,
            created_at?,
        ],
        row.get(6)?,
    ))
}

fn webhook((text, confined): StoredWebhook) -> Result<WebhookRecord> {
    let [
        id,
        name,
        target,
        jurisdiction,
        events,
        secret,
        created_by,
        created_at,
    ] = text;
    Ok(WebhookRecord {
        jurisdiction: JurisdictionCode::parse(&jurisdiction)
            .map_err(|_| CatalogError::Corrupt(format!("webhook jurisdiction {jurisdiction:?}")))?,
        events: from_json(&events)?,
        url: redacted_url(&target),
        id,
        name,
        target,
        secret,
        confined,
        created_by,
        created_at,
    })
}

pub(crate) fn insert_webhook(conn: &mut Connection, new: NewWebhook) -> Result<WebhookRecord> {
    let tx = conn.transaction()?;
    tx.execute(
        "INSERT INTO webhooks (id, name, url, jurisdiction, events, secret, confined, created_by, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![
            new.id,
            new.name,
            new.url,
            new.jurisdiction.as_str(),
            to_json(&new.events),
            new.secret,
            new.confined,
            new.created_by,
            now()
        ],
    )?;
    super::audit::write(
        &tx,
        &new.created_by,
        "webhook.create",
        &new.id,
        serde_json::json!({"url": redacted_url(&new.url)}),
    )?;
    let stored = load_webhook(&tx, &new.id)?
        .ok_or_else(|| CatalogError::Corrupt("a webhook just stored is gone".into()))?;
    tx.commit()?;
    Ok(stored)
}

pub(crate) fn load_webhook(conn: &Connection, id: &str) -> Result<Option<WebhookRecord>> {
    conn.query_row(
        &format!("SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE id = ?1"),
        [id],
        webhook_of,
    )
    .optional()?
    .map(webhook)
    .transpose()
}

pub(crate) fn webhooks(conn: &mut Connection) -> Result<Vec<WebhookRecord>> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {WEBHOOK_COLUMNS} FROM webhooks ORDER BY created_at, id"
    ))?;
    let rows = stmt.query_map([], webhook_of)?;
    rows.map(|row| webhook(row?)).collect()
}

fn delivery_of(row: &Row<'_>) -> rusqlite::Result<(DeliveryRecord, String, String)> {
    Ok((
        DeliveryRecord {
            id: row.get(0)?,
            webhook_id: row.get(1)?,
            event: row.get(2)?,
            payload: serde_json::Value::Null,
            status: DeliveryStatus::Pending,
            attempts: row.get(5)?,
            created_at: row.get(6)?,
            next_attempt_at: row.get(7)?,
            last_error: row.get(8)?,
            delivered_at: row.get(9)?,
        },
        row.get(3)?,
        row.get(4)?,
    ))
}

fn delivery(
    (mut record, payload, status): (DeliveryRecord, String, String),
) -> Result<DeliveryRecord> {
    record.payload = from_json(&payload)?;
    record.status = DeliveryStatus::parse(&status)
        .ok_or_else(|| CatalogError::Corrupt(format!("delivery status {status:?}")))?;
    Ok(record)
}

/// Stores deliveries as pending, due at once.
pub(crate) fn enqueue(conn: &mut Connection, deliveries: Vec<NewDelivery>) -> Result<()> {
    let tx = conn.transaction()?;
    for d in deliveries {
        tx.execute(
            "INSERT INTO webhook_deliveries (id, webhook_id, event, payload, status, created_at, next_attempt_at)
             VALUES (?1, ?2, ?3, ?4, 'pending', ?5, ?5)",
            params![d.id, d.webhook_id, d.event, to_json(&d.payload), d.created_at],
        )?;
    }
    tx.commit()?;
    Ok(())
}

/// The pending deliveries due at `now`, oldest first, at most `limit`.
pub(crate) fn due(conn: &mut Connection, now: &str, limit: usize) -> Result<Vec<DeliveryRecord>> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries
         WHERE status = 'pending' AND next_attempt_at <= ?1 ORDER BY next_attempt_at, id LIMIT ?2"
    ))?;
    let rows = stmt.query_map(params![now, limit as i64], delivery_of)?;
    rows.map(|row| delivery(row?)).collect()
}

/// A webhook's deliveries (only those in `status`, for `Some`), newest first, at most `limit`.
pub(crate) fn deliveries(
    conn: &mut Connection,
    webhook_id: &str,
    status: Option<DeliveryStatus>,
    limit: usize,
) -> Result<Vec<DeliveryRecord>> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE webhook_id = ?1 AND (?2 IS NULL OR status = ?2)
         ORDER BY created_at DESC, id LIMIT ?3"
    ))?;
    let status = status.map(DeliveryStatus::as_str);
    let rows = stmt.query_map(params![webhook_id, status, limit as i64], delivery_of)?;
    rows.map(|row| delivery(row?)).collect()
}

/// Deletes the deliveries that ended (delivered or failed) before `before`.
pub(crate) fn expire(conn: &mut Connection, before: &str) -> Result<usize> {
    Ok(conn.execute(
        "DELETE FROM webhook_deliveries WHERE status <> 'pending' AND next_attempt_at < ?1",
        [before],
    )?)
}

/// Records an attempt on a pending delivery.
pub(crate) fn record_attempt(
    conn: &mut Connection,
    id: &str,
    attempt: DeliveryAttempt,
) -> Result<()> {
    let changed = match attempt {
        DeliveryAttempt::Delivered { at } => conn.execute(
            "UPDATE webhook_deliveries SET status = 'delivered', attempts = attempts + 1, delivered_at = ?2, next_attempt_at = ?2, last_error = NULL
             WHERE id = ?1 AND status = 'pending'",
            params![id, at],
        )?,
        DeliveryAttempt::Retry { error, next } => conn.execute(
            "UPDATE webhook_deliveries SET attempts = attempts + 1, last_error = ?2, next_attempt_at = ?3
             WHERE id = ?1 AND status = 'pending'",
            params![id, error, next],
        )?,
        DeliveryAttempt::Failed { at, error } => conn.execute(
            "UPDATE webhook_deliveries SET status = 'failed', attempts = attempts + 1, last_error = ?3, next_attempt_at = ?2
             WHERE id = ?1 AND status = 'pending'",
            params![id, at, error],
        )?,
    };
    if changed == 0 {
        return Err(CatalogError::Conflict(format!(
            "delivery {id:?} is not pending"
        )));
    }
    Ok(())
}
