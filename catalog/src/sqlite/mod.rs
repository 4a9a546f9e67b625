//! [`SqliteCatalog`]: the catalog in one SQLite file (WAL mode), the embedded default.
//!
//! One connection writes and a few read, each on a blocking thread, so that no catalog call
//! holds up an async worker and readers never wait for a writer (WAL). Writes take turns on
//! the one writing connection, so a transaction never meets another writer half way.
//! The statements live in one file per domain; this file holds the pool and the
//! [`Catalog`] implementation that runs them.

mod alerts;
mod audit;
mod datasets;
mod grants;
mod jurisdictions;
mod migrations;
mod policies;
mod principals;
mod reports;
mod runs;
mod schedules;
mod sources;
mod tasks;
#[cfg(test)]
mod tests;
mod webhooks;

use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use rusqlite::Connection;
use tokio::sync::Semaphore;

use crate::error::{CatalogError, Result};
use crate::jurisdiction::{Jurisdiction, JurisdictionCode, RawJurisdiction};
use crate::model::*;
use crate::store::Catalog;

/// Connections that only read, beside the one that writes.
const READERS: usize = 3;

pub(crate) fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

pub(crate) fn to_json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("catalog records always serialise")
}

pub(crate) fn from_json<T: serde::de::DeserializeOwned>(text: &str) -> Result<T> {
    serde_json::from_str(text).map_err(|e| CatalogError::Corrupt(e.to_string()))
}

/// The catalog in a SQLite file. Cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct SqliteCatalog {
    pool: Arc<Pool>,
}

#[derive(Debug)]
struct Pool {
    writer: Mutex<Connection>,
    readers: Vec<Mutex<Connection>>,
    /// One permit per reader, so a reader is free whenever a permit is held.
    reading: Arc<Semaphore>,
}

/// A lock on a connection. A panic while holding it cannot leave a half-written transaction
/// behind (SQLite rolls it back), so a poisoned lock is safe to take again.
fn lock(connection: &Mutex<Connection>) -> MutexGuard<'_, Connection> {
    connection
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn configure(conn: &Connection) -> Result<()> {
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    Ok(())
}

impl SqliteCatalog {
    /// Opens (creating if needed) the catalog file and brings it up to date.
    pub fn open(path: &Path) -> Result<Self> {
        let mut writer = Connection::open(path)?;
        writer.pragma_update(None, "journal_mode", "WAL")?;
        writer.pragma_update(None, "synchronous", "NORMAL")?;
        configure(&writer)?;
        migrations::check_version(&writer)?;
        migrations::migrate(&mut writer)?;
        let readers = (0..READERS)
            .map(|_| {
                let reader = Connection::open(path)?;
                configure(&reader)?;
                Ok(Mutex::new(reader))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self::with(writer, readers))
    }

    /// Opens an existing catalog file only to read it (to verify its audit chain, say):
    /// nothing is migrated or written, and a catalog of another schema version is refused.
    pub fn open_read_only(path: &Path) -> Result<Self> {
        if !path.is_file() {
            return Err(CatalogError::Invalid(format!(
                "there is no catalog at {}",
                path.display()
            )));
        }
        let conn = Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
        configure(&conn)?;
        migrations::check_version(&conn)?;
        let version: usize = conn.query_row("PRAGMA user_version", [], |row| row.get(0))?;
        if version < migrations::latest_version() {
            return Err(CatalogError::Invalid(format!(
                "the catalog {} is at schema version {version}, older than this build's {}; \
                 start the server on it once to bring it up to date",
                path.display(),
                migrations::latest_version()
            )));
        }
        Ok(Self::with(conn, Vec::new()))
    }

    /// A private in-memory catalog, for tests and one-off tools: one connection does
    /// everything (another would open a database of its own).
    pub fn open_in_memory() -> Result<Self> {
        let mut conn = Connection::open_in_memory()?;
        configure(&conn)?;
        migrations::migrate(&mut conn)?;
        Ok(Self::with(conn, Vec::new()))
    }

    fn with(writer: Connection, readers: Vec<Mutex<Connection>>) -> Self {
        let reading = Arc::new(Semaphore::new(readers.len()));
        Self {
            pool: Arc::new(Pool {
                writer: Mutex::new(writer),
                readers,
                reading,
            }),
        }
    }

    /// Runs `work` on the writing connection, on a blocking thread.
    async fn write<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Connection) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let pool = self.pool.clone();
        blocking(move || work(&mut lock(&pool.writer))).await
    }

    /// Runs `work` on a reading connection (the writing one if there is none), on a blocking
    /// thread.
    async fn read<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Connection) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        if self.pool.readers.is_empty() {
            return self.write(work).await;
        }
        let permit = self
            .pool
            .reading
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| CatalogError::Corrupt("the catalog is closing".into()))?;
        let pool = self.pool.clone();
        blocking(move || {
            let _permit = permit;
            let free = pool
                .readers
                .iter()
                .find_map(|reader| reader.try_lock().ok())
                .expect("a permit is held for every reader in use");
            let mut free = free;
            work(&mut free)
        })
        .await
    }
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| CatalogError::Corrupt(format!("a catalog call failed: {e}")))?
}

fn ping(conn: &mut Connection) -> Result<()> {
    conn.query_row("SELECT 1", [], |_| Ok(()))?;
    Ok(())
}

/// Deletes the row with `id` from `table` and records it; `what` names it in "not found".
pub(crate) fn delete_by_id(
    conn: &mut Connection,
    table: &str,
    id: &str,
    what: &str,
    action: &str,
    by: &str,
) -> Result<()> {
    let tx = conn.transaction()?;
    if tx.execute(&format!("DELETE FROM {table} WHERE id = ?1"), [id])? == 0 {
        return Err(CatalogError::NotFound(format!("{what} {id:?}")));
    }
    audit::write(&tx, by, action, id, serde_json::Value::Null)?;
    tx.commit()?;
    Ok(())
}

#[async_trait]
impl Catalog for SqliteCatalog {
    async fn ping(&self) -> Result<()> {
        self.read(ping).await
    }

    async fn record(
        &self,
        principal: &str,
        action: &str,
        target: &str,
        detail: serde_json::Value,
    ) -> Result<()> {
        let principal = principal.to_owned();
        let action = action.to_owned();
        let target = target.to_owned();
        self.write(move |conn| audit::record(conn, &principal, &action, &target, detail))
            .await
    }

    async fn audit_events(&self, limit: usize) -> Result<Vec<AuditEvent>> {
        self.read(move |conn| audit::audit_events(conn, limit))
            .await
    }

    async fn audit_page(
        &self,
        before: Option<i64>,
        limit: usize,
        except: &[&str],
    ) -> Result<Vec<AuditEvent>> {
        let except: Vec<String> = except.iter().map(|a| (*a).to_owned()).collect();
        self.read(move |conn| audit::page(conn, before, limit, &except))
            .await
    }

    async fn audit_events_of(&self, action: &str, targets: &[String]) -> Result<Vec<AuditEvent>> {
        let (action, targets) = (action.to_owned(), targets.to_vec());
        self.read(move |conn| audit::events_of(conn, &action, &targets))
            .await
    }

    async fn task_counts(&self) -> Result<(u64, u64)> {
        self.read(|conn| {
            let now = now();
            Ok(conn.query_row(
                "SELECT count(*), coalesce(sum(CASE \
                     WHEN status = 'dispatched' AND accept_due_at < ?1 THEN 1 \
                     WHEN status IN ('accepted', 'returned') AND handle_due_at < ?1 THEN 1 \
                     WHEN status = 'resolved' AND verify_due_at < ?1 THEN 1 ELSE 0 END), 0) \
                 FROM tasks WHERE status <> 'verified'",
                [now],
                |row| Ok((row.get::<_, i64>(0)? as u64, row.get::<_, i64>(1)? as u64)),
            )?)
        })
        .await
    }

    async fn audit_chain_id(&self) -> Result<String> {
        self.read(|conn| audit::chain_id(conn)).await
    }

    async fn audit_head(&self) -> Result<Option<(i64, String)>> {
        self.read(|conn| audit::head(conn)).await
    }

    async fn audit_records(
        &self,
        after: i64,
        limit: usize,
    ) -> Result<Vec<crate::chain::ChainedRecord>> {
        self.read(move |conn| audit::records(conn, after, limit))
            .await
    }

    async fn audit_checkpoints(&self) -> Result<Vec<crate::chain::Checkpoint>> {
        self.read(|conn| audit::checkpoints(conn)).await
    }

    async fn last_audit_checkpoint(&self) -> Result<Option<crate::chain::Checkpoint>> {
        self.read(|conn| audit::last_checkpoint(conn)).await
    }

    async fn add_audit_checkpoint(&self, checkpoint: &crate::chain::Checkpoint) -> Result<bool> {
        let checkpoint = checkpoint.clone();
        self.write(move |conn| audit::add_checkpoint(conn, &checkpoint))
            .await
    }

    async fn upsert_jurisdictions(&self, batch: &[RawJurisdiction], by: &str) -> Result<usize> {
        let batch = batch.to_vec();
        let by = by.to_owned();
        self.write(move |conn| jurisdictions::upsert_jurisdictions(conn, &batch, &by))
            .await
    }

    async fn jurisdictions(&self) -> Result<Vec<Jurisdiction>> {
        self.read(jurisdictions::jurisdictions).await
    }

    async fn has_jurisdiction(&self, code: &JurisdictionCode) -> Result<bool> {
        let code = code.clone();
        self.read(move |conn| jurisdictions::has_jurisdiction(conn, &code))
            .await
    }

    async fn create_principal(&self, name: &str, by: &str) -> Result<Principal> {
        let name = name.to_owned();
        let by = by.to_owned();
        self.write(move |conn| principals::create_principal(conn, &name, &by))
            .await
    }

    async fn ensure_principal(&self, name: &str) -> Result<Principal> {
        let name = name.to_owned();
        self.write(move |conn| principals::ensure_principal(conn, &name))
            .await
    }

    async fn principals(&self) -> Result<Vec<Principal>> {
        self.read(principals::principals).await
    }

    async fn principal_by_name(&self, name: &str) -> Result<Option<Principal>> {
        let name = name.to_owned();
        self.read(move |conn| principals::principal_by_name(conn, &name))
            .await
    }

    async fn assign_role(
        &self,
        principal: &str,
        role: &str,
        jurisdiction: &str,
        by: &str,
    ) -> Result<RoleAssignment> {
        let principal = principal.to_owned();
        let role = role.to_owned();
        let jurisdiction = jurisdiction.to_owned();
        let by = by.to_owned();
        self.write(move |conn| principals::assign_role(conn, &principal, &role, &jurisdiction, &by))
            .await
    }

    async fn roles_of(&self, principal_id: &str) -> Result<Vec<RoleAssignment>> {
        let principal_id = principal_id.to_owned();
        self.read(move |conn| principals::roles_of(conn, &principal_id))
            .await
    }

    async fn issue_token(&self, principal: &str, by: &str) -> Result<(TokenInfo, String)> {
        let principal = principal.to_owned();
        let by = by.to_owned();
        self.write(move |conn| principals::issue_token(conn, &principal, &by))
            .await
    }

    async fn set_bootstrap_token(&self, principal_id: &str, secret: &str) -> Result<()> {
        let principal_id = principal_id.to_owned();
        let secret = secret.to_owned();
        self.write(move |conn| principals::set_bootstrap_token(conn, &principal_id, &secret))
            .await
    }

    async fn authenticate(&self, secret: &str) -> Result<Option<Principal>> {
        let secret = secret.to_owned();
        self.read(move |conn| principals::authenticate(conn, &secret))
            .await
    }

    async fn tokens(&self) -> Result<Vec<TokenInfo>> {
        self.read(principals::tokens).await
    }

    async fn revoke_token(&self, id: &str, by: &str) -> Result<()> {
        let id = id.to_owned();
        let by = by.to_owned();
        self.write(move |conn| principals::revoke_token(conn, &id, &by))
            .await
    }

    async fn policies(&self) -> Result<Vec<PolicyRecord>> {
        self.read(policies::policies).await
    }

    async fn insert_policy(&self, line: PolicyRecord, by: &str) -> Result<PolicyRecord> {
        let by = by.to_owned();
        self.write(move |conn| policies::insert_policy(conn, line, &by))
            .await
    }

    async fn delete_policy(&self, id: &str, by: &str) -> Result<()> {
        let id = id.to_owned();
        let by = by.to_owned();
        self.write(move |conn| policies::delete_policy(conn, &id, &by))
            .await
    }

    async fn role_assignments(&self) -> Result<Vec<RoleAssignment>> {
        self.read(policies::role_assignments).await
    }

    async fn delete_role_assignment(&self, id: &str, by: &str) -> Result<()> {
        let id = id.to_owned();
        let by = by.to_owned();
        self.write(move |conn| policies::delete_role_assignment(conn, &id, &by))
            .await
    }

    async fn replace_policy(
        &self,
        lines: Vec<PolicyRecord>,
        assignments: Vec<(String, String, String)>,
        by: &str,
    ) -> Result<()> {
        let by = by.to_owned();
        self.write(move |conn| policies::replace_policy(conn, lines, assignments, &by))
            .await
    }

    async fn insert_source(&self, new: NewSource) -> Result<SourceRecord> {
        self.write(move |conn| sources::insert_source(conn, new))
            .await
    }

    async fn sources(&self) -> Result<Vec<SourceRecord>> {
        self.read(sources::sources).await
    }

    async fn source(&self, id: &str) -> Result<Option<SourceRecord>> {
        let id = id.to_owned();
        self.read(move |conn| sources::source(conn, &id)).await
    }

    async fn has_source_named(&self, name: &str) -> Result<bool> {
        let name = name.to_owned();
        self.read(move |conn| sources::has_source_named(conn, &name))
            .await
    }

    async fn relocate_file_urls(&self, from: &str, to: &str) -> Result<usize> {
        let from = from.to_owned();
        let to = to.to_owned();
        self.write(move |conn| sources::relocate_file_urls(conn, &from, &to))
            .await
    }

    async fn update_source_columns(&self, id: &str, columns: &[ColumnDef], by: &str) -> Result<()> {
        let id = id.to_owned();
        let columns = columns.to_vec();
        let by = by.to_owned();
        self.write(move |conn| sources::update_source_columns(conn, &id, &columns, &by))
            .await
    }

    async fn delete_source(&self, id: &str, by: &str) -> Result<SourceRecord> {
        let id = id.to_owned();
        let by = by.to_owned();
        self.write(move |conn| sources::delete_source(conn, &id, &by))
            .await
    }

    async fn insert_dataset(&self, new: NewDataset) -> Result<DatasetRecord> {
        self.write(move |conn| datasets::insert_dataset(conn, new))
            .await
    }

    async fn datasets(&self) -> Result<Vec<DatasetRecord>> {
        self.read(datasets::datasets).await
    }

    async fn dataset(&self, id: &str) -> Result<Option<DatasetRecord>> {
        let id = id.to_owned();
        self.read(move |conn| datasets::dataset(conn, &id)).await
    }

    async fn delete_dataset(&self, id: &str, by: &str) -> Result<()> {
        let id = id.to_owned();
        let by = by.to_owned();
        self.write(move |conn| datasets::delete_dataset(conn, &id, &by))
            .await
    }

    async fn insert_grant(
        &self,
        jurisdiction: &JurisdictionCode,
        kind: &str,
        location: &str,
        by: &str,
    ) -> Result<GrantRecord> {
        let jurisdiction = jurisdiction.clone();
        let kind = kind.to_owned();
        let location = location.to_owned();
        let by = by.to_owned();
        self.write(move |conn| grants::insert_grant(conn, &jurisdiction, &kind, &location, &by))
            .await
    }

    async fn insert_report(&self, new: NewReport) -> Result<ReportRecord> {
        self.write(move |conn| reports::insert_report(conn, new))
            .await
    }

    async fn update_report(
        &self,
        id: &str,
        expected: u32,
        content: ReportContent,
        by: &str,
    ) -> Result<ReportRecord> {
        let (id, by) = (id.to_owned(), by.to_owned());
        self.write(move |conn| reports::update_report(conn, &id, expected, content, &by))
            .await
    }

    async fn reports(&self) -> Result<Vec<ReportRecord>> {
        self.read(reports::reports).await
    }

    async fn report(&self, id: &str, version: Option<u32>) -> Result<Option<ReportRecord>> {
        let id = id.to_owned();
        self.read(move |conn| reports::report(conn, &id, version))
            .await
    }

    async fn report_versions(&self, id: &str) -> Result<Vec<ReportRecord>> {
        let id = id.to_owned();
        self.read(move |conn| reports::report_versions(conn, &id))
            .await
    }

    async fn delete_report(&self, id: &str, by: &str) -> Result<()> {
        let (id, by) = (id.to_owned(), by.to_owned());
        self.write(move |conn| reports::delete_report(conn, &id, &by))
            .await
    }

    async fn insert_run(&self, new: NewRun) -> Result<RunRecord> {
        self.write(move |conn| runs::insert_run(conn, new)).await
    }

    async fn finish_run(&self, id: &str, outcome: RunOutcome) -> Result<RunRecord> {
        let id = id.to_owned();
        self.write(move |conn| runs::finish_run(conn, &id, outcome))
            .await
    }

    async fn run(&self, id: &str) -> Result<Option<RunRecord>> {
        let id = id.to_owned();
        self.read(move |conn| runs::run(conn, &id)).await
    }

    async fn runs_of(&self, report_id: &str) -> Result<Vec<RunRecord>> {
        let id = report_id.to_owned();
        self.read(move |conn| runs::runs_of(conn, Some(&id))).await
    }

    async fn expire_runs(&self, before: &str) -> Result<Vec<String>> {
        let before = before.to_owned();
        self.write(move |conn| runs::expire_runs(conn, &before))
            .await
    }

    async fn fail_running_runs(&self, reason: &str) -> Result<usize> {
        let reason = reason.to_owned();
        self.write(move |conn| runs::fail_running_runs(conn, &reason))
            .await
    }

    async fn insert_tasks(&self, new: Vec<NewTask>) -> Result<Vec<TaskRecord>> {
        self.write(move |conn| tasks::insert_tasks(conn, new)).await
    }

    async fn task(&self, id: &str) -> Result<Option<TaskRecord>> {
        let id = id.to_owned();
        self.read(move |conn| tasks::task(conn, &id)).await
    }

    async fn tasks(&self) -> Result<Vec<TaskRecord>> {
        self.read(tasks::tasks).await
    }

    async fn task_events(&self, id: &str) -> Result<Vec<TaskEvent>> {
        let id = id.to_owned();
        self.read(move |conn| tasks::task_events(conn, &id)).await
    }

    async fn transition_task(&self, id: &str, change: TaskTransition) -> Result<TaskRecord> {
        let id = id.to_owned();
        self.write(move |conn| tasks::transition_task(conn, &id, change))
            .await
    }

    async fn escalate_task(
        &self,
        id: &str,
        escalation: TaskEscalation,
    ) -> Result<Option<TaskRecord>> {
        let id = id.to_owned();
        self.write(move |conn| tasks::escalate_task(conn, &id, escalation))
            .await
    }

    async fn all_task_events(&self) -> Result<Vec<(JurisdictionCode, TaskEvent)>> {
        self.read(|conn| tasks::history(conn, None)).await
    }

    async fn all_runs(&self) -> Result<Vec<RunRecord>> {
        self.read(|conn| runs::runs_of(conn, None)).await
    }

    async fn insert_schedule(&self, new: NewSchedule) -> Result<ScheduleRecord> {
        self.write(move |conn| schedules::insert_schedule(conn, new))
            .await
    }

    async fn schedule(&self, id: &str) -> Result<Option<ScheduleRecord>> {
        let id = id.to_owned();
        self.read(move |conn| schedules::schedule(conn, &id)).await
    }

    async fn schedules(&self) -> Result<Vec<ScheduleRecord>> {
        self.read(|conn| schedules::schedules(conn, None)).await
    }

    async fn due_schedules(&self, now: &str) -> Result<Vec<ScheduleRecord>> {
        let now = now.to_owned();
        self.read(move |conn| schedules::schedules(conn, Some(&now)))
            .await
    }

    async fn claim_tick(&self, id: &str, due: &str, next: &str) -> Result<bool> {
        let (id, due, next) = (id.to_owned(), due.to_owned(), next.to_owned());
        self.write(move |conn| schedules::claim_tick(conn, &id, &due, &next))
            .await
    }

    async fn finish_tick(&self, id: &str, outcome: ScheduleOutcome) -> Result<()> {
        let id = id.to_owned();
        self.write(move |conn| schedules::finish_tick(conn, &id, outcome))
            .await
    }

    async fn delete_schedule(&self, id: &str, by: &str) -> Result<()> {
        let (id, by) = (id.to_owned(), by.to_owned());
        self.write(move |conn| {
            delete_by_id(conn, "schedules", &id, "schedule", "schedule.delete", &by)
        })
        .await
    }

    async fn insert_webhook(&self, new: NewWebhook) -> Result<WebhookRecord> {
        self.write(move |conn| webhooks::insert_webhook(conn, new))
            .await
    }

    async fn webhook(&self, id: &str) -> Result<Option<WebhookRecord>> {
        let id = id.to_owned();
        self.read(move |conn| webhooks::load_webhook(conn, &id))
            .await
    }

    async fn webhooks(&self) -> Result<Vec<WebhookRecord>> {
        self.read(webhooks::webhooks).await
    }

    async fn delete_webhook(&self, id: &str, by: &str) -> Result<()> {
        let (id, by) = (id.to_owned(), by.to_owned());
        self.write(move |conn| {
            delete_by_id(conn, "webhooks", &id, "webhook", "webhook.delete", &by)
        })
        .await
    }

    async fn enqueue_deliveries(&self, deliveries: Vec<NewDelivery>) -> Result<()> {
        self.write(move |conn| webhooks::enqueue(conn, deliveries))
            .await
    }

    async fn due_deliveries(&self, now: &str, limit: usize) -> Result<Vec<DeliveryRecord>> {
        let now = now.to_owned();
        self.read(move |conn| webhooks::due(conn, &now, limit))
            .await
    }

    async fn deliveries(
        &self,
        webhook_id: &str,
        status: Option<DeliveryStatus>,
        limit: usize,
    ) -> Result<Vec<DeliveryRecord>> {
        let id = webhook_id.to_owned();
        self.read(move |conn| webhooks::deliveries(conn, &id, status, limit))
            .await
    }

    async fn expire_deliveries(&self, before: &str) -> Result<usize> {
        let before = before.to_owned();
        self.write(move |conn| webhooks::expire(conn, &before))
            .await
    }

    async fn record_attempt(&self, id: &str, attempt: DeliveryAttempt) -> Result<()> {
        let id = id.to_owned();
        self.write(move |conn| webhooks::record_attempt(conn, &id, attempt))
            .await
    }

    async fn insert_alert(&self, new: NewAlert) -> Result<AlertRecord> {
        self.write(move |conn| alerts::insert_alert(conn, new))
            .await
    }

    async fn alert(&self, id: &str) -> Result<Option<AlertRecord>> {
        let id = id.to_owned();
        self.read(move |conn| alerts::alert(conn, &id)).await
    }

    async fn alerts(&self, report_id: Option<&str>) -> Result<Vec<AlertRecord>> {
        let report_id = report_id.map(str::to_owned);
        self.read(move |conn| alerts::alerts(conn, report_id.as_deref()))
            .await
    }

    async fn delete_alert(&self, id: &str, by: &str) -> Result<()> {
        let (id, by) = (id.to_owned(), by.to_owned());
        self.write(move |conn| delete_by_id(conn, "alerts", &id, "alert", "alert.delete", &by))
            .await
    }

    async fn alert_evaluations(&self, alert_id: &str) -> Result<Vec<AlertEvaluation>> {
        let id = alert_id.to_owned();
        self.read(move |conn| alerts::evaluations(conn, &id)).await
    }

    async fn alert_evaluated(&self, alert_id: &str, run_id: &str) -> Result<bool> {
        let (alert_id, run_id) = (alert_id.to_owned(), run_id.to_owned());
        self.read(move |conn| alerts::evaluated(conn, &alert_id, &run_id))
            .await
    }

    async fn record_evaluation(
        &self,
        evaluation: AlertEvaluation,
        tasks: Vec<NewTask>,
    ) -> Result<Option<(AlertEvaluation, Vec<TaskRecord>)>> {
        self.write(move |conn| alerts::record_evaluation(conn, evaluation, tasks))
            .await
    }

    async fn due_escalations(&self, now: &str) -> Result<Vec<TaskRecord>> {
        let now = now.to_owned();
        self.read(move |conn| tasks::due_escalations(conn, &now))
            .await
    }

    async fn grants(&self) -> Result<Vec<GrantRecord>> {
        self.read(grants::grants).await
    }

    async fn delete_grant(&self, id: &str, by: &str) -> Result<()> {
        let id = id.to_owned();
        let by = by.to_owned();
        self.write(move |conn| grants::delete_grant(conn, &id, &by))
            .await
    }
}
