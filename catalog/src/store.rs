//! [`Catalog`]: the metadata store's interface, as its callers need it.
//!
//! Every method is asynchronous, so that no implementation blocks the caller's async worker:
//! the SQLite one ([`crate::sqlite::SqliteCatalog`]) does its work on a small pool of
//! connections on blocking threads, and a PostgreSQL one can take its place without any
//! caller changing. Every write that touches more than one row is one transaction, so a
//! rejected request leaves the store exactly as it was, and every change is recorded in the
//! audit trail with who made it (`by`).

use async_trait::async_trait;

use crate::error::{CatalogError, Result};
use crate::jurisdiction::{Jurisdiction, JurisdictionCode, RawJurisdiction};
use crate::model::*;

/// The metadata store. Shared as `Arc<dyn Catalog>`.
#[async_trait]
pub trait Catalog: std::fmt::Debug + Send + Sync {
    /// Whether the store answers.
    async fn ping(&self) -> Result<()>;

    // ---- audit -------------------------------------------------------------------------

    /// Records an event that changes nothing else (a query, say).
    async fn record(
        &self,
        principal: &str,
        action: &str,
        target: &str,
        detail: serde_json::Value,
    ) -> Result<()>;

    /// The audit trail, newest first.
    async fn audit_events(&self, limit: usize) -> Result<Vec<AuditEvent>>;

    /// Up to `limit` audit records numbered before `before` (all if `None`), newest first,
    /// leaving out the actions in `except`.
    async fn audit_page(
        &self,
        before: Option<i64>,
        limit: usize,
        except: &[&str],
    ) -> Result<Vec<AuditEvent>>;

    /// The records of `action` naming each of `targets`.
    async fn audit_events_of(&self, action: &str, targets: &[String]) -> Result<Vec<AuditEvent>>;

    /// How many tasks are open (not yet verified), and how many of those are past the
    /// deadline of the step they wait for, now.
    async fn task_counts(&self) -> Result<(u64, u64)>;

    /// The id of this catalog's audit chain, made with the catalog.
    async fn audit_chain_id(&self) -> Result<String>;

    /// The newest audit record's number and hash, if there is one.
    async fn audit_head(&self) -> Result<Option<(i64, String)>>;

    /// Up to `limit` audit records numbered after `after`, oldest first, as stored.
    async fn audit_records(
        &self,
        after: i64,
        limit: usize,
    ) -> Result<Vec<crate::chain::ChainedRecord>>;

    /// Every checkpoint of the audit chain, oldest first.
    async fn audit_checkpoints(&self) -> Result<Vec<crate::chain::Checkpoint>>;

    /// The newest checkpoint of the audit chain.
    async fn last_audit_checkpoint(&self) -> Result<Option<crate::chain::Checkpoint>>;

    /// Adds the checkpoint that follows the newest one; `false` (nothing added) if another
    /// was added first or it does not sign the chain as stored.
    async fn add_audit_checkpoint(&self, checkpoint: &crate::chain::Checkpoint) -> Result<bool>;

    // ---- jurisdictions -----------------------------------------------------------------

    /// Adds or updates nodes after validating the whole batch; nothing is stored on any error.
    async fn upsert_jurisdictions(&self, batch: &[RawJurisdiction], by: &str) -> Result<usize>;

    /// The whole tree, ordered by code.
    async fn jurisdictions(&self) -> Result<Vec<Jurisdiction>>;

    /// Whether a code is a known node of the tree.
    async fn has_jurisdiction(&self, code: &JurisdictionCode) -> Result<bool>;

    // ---- principals, roles and tokens --------------------------------------------------

    /// Creates a principal; the name must be new.
    async fn create_principal(&self, name: &str, by: &str) -> Result<Principal>;

    /// The principal with this name, created if missing.
    async fn ensure_principal(&self, name: &str) -> Result<Principal>;

    async fn principals(&self) -> Result<Vec<Principal>>;

    async fn principal_by_name(&self, name: &str) -> Result<Option<Principal>>;

    /// Gives a principal a role in a jurisdiction (`*` for all); assigning twice is a no-op.
    async fn assign_role(
        &self,
        principal: &str,
        role: &str,
        jurisdiction: &str,
        by: &str,
    ) -> Result<RoleAssignment>;

    /// The roles a principal holds.
    async fn roles_of(&self, principal_id: &str) -> Result<Vec<RoleAssignment>>;

    /// Issues a new token for a principal. The token is returned once and stored only hashed.
    async fn issue_token(&self, principal: &str, by: &str) -> Result<(TokenInfo, String)>;

    /// Makes `secret` the principal's bootstrap token, replacing any earlier bootstrap token.
    async fn set_bootstrap_token(&self, principal_id: &str, secret: &str) -> Result<()>;

    /// The principal a presented token belongs to, if it is known and not revoked.
    async fn authenticate(&self, secret: &str) -> Result<Option<Principal>>;

    async fn tokens(&self) -> Result<Vec<TokenInfo>>;

    /// Revokes a token; it stops working for the next request.
    async fn revoke_token(&self, id: &str, by: &str) -> Result<()>;

    // ---- policies ----------------------------------------------------------------------

    /// Every stored policy line.
    async fn policies(&self) -> Result<Vec<PolicyRecord>>;

    /// Stores a (validated) policy line; the same line twice is a conflict.
    async fn insert_policy(&self, line: PolicyRecord, by: &str) -> Result<PolicyRecord>;

    async fn delete_policy(&self, id: &str, by: &str) -> Result<()>;

    /// Every role assignment.
    async fn role_assignments(&self) -> Result<Vec<RoleAssignment>>;

    async fn delete_role_assignment(&self, id: &str, by: &str) -> Result<()>;

    /// Replaces every policy line and role assignment at once (a policy import). Principals
    /// named by an assignment are created if missing. The bootstrap assignment (`admin` in
    /// `*`) survives whatever the file says.
    async fn replace_policy(
        &self,
        lines: Vec<PolicyRecord>,
        assignments: Vec<(String, String, String)>,
        by: &str,
    ) -> Result<()>;

    // ---- sources -----------------------------------------------------------------------

    /// Stores a registered source. Its name must be new among its registrant's sources and
    /// its tables' names new among all tables.
    async fn insert_source(&self, new: NewSource) -> Result<SourceRecord>;

    async fn sources(&self) -> Result<Vec<SourceRecord>>;

    async fn source(&self, id: &str) -> Result<Option<SourceRecord>>;

    /// Whether any registrant has a source of this name.
    async fn has_source_named(&self, name: &str) -> Result<bool>;

    /// Points every source URL under the folder URL `from` (and every file in its
    /// `options.files`) at the same place under `to`, in one transaction: for a data
    /// directory built in one place and moved to another.
    async fn relocate_file_urls(&self, from: &str, to: &str) -> Result<usize>;

    /// Re-pins a source's schema after a check.
    async fn update_source_columns(&self, id: &str, columns: &[ColumnDef], by: &str) -> Result<()>;

    /// Deletes a source that no dataset uses.
    async fn delete_source(&self, id: &str, by: &str) -> Result<SourceRecord>;

    // ---- datasets ----------------------------------------------------------------------

    /// Stores a union dataset; every member source must exist.
    async fn insert_dataset(&self, new: NewDataset) -> Result<DatasetRecord>;

    async fn datasets(&self) -> Result<Vec<DatasetRecord>>;

    async fn dataset(&self, id: &str) -> Result<Option<DatasetRecord>>;

    async fn delete_dataset(&self, id: &str, by: &str) -> Result<()>;

    // ---- grants ------------------------------------------------------------------------

    /// Stores a grant; the same grant twice is a conflict.
    async fn insert_grant(
        &self,
        jurisdiction: &JurisdictionCode,
        kind: &str,
        location: &str,
        by: &str,
    ) -> Result<GrantRecord>;

    /// Every grant, by jurisdiction, kind and location.
    async fn grants(&self) -> Result<Vec<GrantRecord>>;

    async fn delete_grant(&self, id: &str, by: &str) -> Result<()>;

    // ---- reports -----------------------------------------------------------------------

    /// Stores a new report as version 1; its name must be new.
    async fn insert_report(&self, new: NewReport) -> Result<ReportRecord>;

    /// Stores the next version of a report, if `expected` is still its newest (else a
    /// conflict, so two editors never overwrite each other). Older versions stay.
    async fn update_report(
        &self,
        id: &str,
        expected: u32,
        content: ReportContent,
        by: &str,
    ) -> Result<ReportRecord>;

    /// Every report at its newest version.
    async fn reports(&self) -> Result<Vec<ReportRecord>>;

    /// A report at its newest version, or at `version`.
    async fn report(&self, id: &str, version: Option<u32>) -> Result<Option<ReportRecord>>;

    /// Every version of a report, oldest first.
    async fn report_versions(&self, id: &str) -> Result<Vec<ReportRecord>>;

    async fn delete_report(&self, id: &str, by: &str) -> Result<()>;

    // ---- runs of reports ---------------------------------------------------------------

    /// Records a run as it starts ("running").
    async fn insert_run(&self, new: NewRun) -> Result<RunRecord>;

    /// Records how a running run ended; an ended run is never changed (a conflict).
    async fn finish_run(&self, id: &str, outcome: RunOutcome) -> Result<RunRecord>;

    async fn run(&self, id: &str) -> Result<Option<RunRecord>>;

    /// A report's runs, newest first.
    async fn runs_of(&self, report_id: &str) -> Result<Vec<RunRecord>>;

    /// Deletes the runs that finished before `before` (RFC 3339); returns the result files
    /// they named, for the caller to remove.
    async fn expire_runs(&self, before: &str) -> Result<Vec<String>>;

    /// Marks every run still "running" failed: a server that starts has none running.
    async fn fail_running_runs(&self, reason: &str) -> Result<usize>;

    // ---- dispatch tasks ----------------------------------------------------------------

    /// Stores tasks as dispatched, all or none, each with its first history event; a task
    /// whose origin key is taken is left out. Returns the tasks stored.
    async fn insert_tasks(&self, tasks: Vec<NewTask>) -> Result<Vec<TaskRecord>>;

    async fn task(&self, id: &str) -> Result<Option<TaskRecord>>;

    /// Every task, newest first.
    async fn tasks(&self) -> Result<Vec<TaskRecord>>;

    /// A task's history, oldest first.
    async fn task_events(&self, id: &str) -> Result<Vec<TaskEvent>>;

    /// Changes a task's status, if it is still in one of `change.from` (else a conflict),
    /// and records the change in its history.
    async fn transition_task(&self, id: &str, change: TaskTransition) -> Result<TaskRecord>;

    /// Escalates a task still dispatched at the level below; `None` if it was accepted or
    /// escalated meanwhile, so an escalation is never made twice.
    async fn escalate_task(
        &self,
        id: &str,
        escalation: TaskEscalation,
    ) -> Result<Option<TaskRecord>>;

    /// The dispatched tasks whose next escalation is due at `now` (RFC 3339).
    async fn due_escalations(&self, now: &str) -> Result<Vec<TaskRecord>>;

    /// The history of every task, in order, each event with its task's jurisdiction.
    async fn all_task_events(&self) -> Result<Vec<(JurisdictionCode, TaskEvent)>>;

    /// Every stored run, newest first.
    async fn all_runs(&self) -> Result<Vec<RunRecord>>;

    // ---- schedules ---------------------------------------------------------------------

    async fn insert_schedule(&self, new: NewSchedule) -> Result<ScheduleRecord>;

    async fn schedule(&self, id: &str) -> Result<Option<ScheduleRecord>>;

    /// Every schedule, oldest first.
    async fn schedules(&self) -> Result<Vec<ScheduleRecord>>;

    /// The schedules whose next tick is due at `now` (RFC 3339).
    async fn due_schedules(&self, now: &str) -> Result<Vec<ScheduleRecord>>;

    /// Moves a schedule's next tick from `due` to `next`, if no one did first: whoever gets
    /// `true` runs the tick.
    async fn claim_tick(&self, id: &str, due: &str, next: &str) -> Result<bool>;

    /// Records how a tick went.
    async fn finish_tick(&self, id: &str, outcome: ScheduleOutcome) -> Result<()>;

    async fn delete_schedule(&self, id: &str, by: &str) -> Result<()>;

    // ---- webhooks ----------------------------------------------------------------------

    async fn insert_webhook(&self, new: NewWebhook) -> Result<WebhookRecord>;

    async fn webhook(&self, id: &str) -> Result<Option<WebhookRecord>>;

    /// Every webhook, oldest first.
    async fn webhooks(&self) -> Result<Vec<WebhookRecord>>;

    async fn delete_webhook(&self, id: &str, by: &str) -> Result<()>;

    /// Stores deliveries as pending, due at once.
    async fn enqueue_deliveries(&self, deliveries: Vec<NewDelivery>) -> Result<()>;

    /// The pending deliveries due at `now` (RFC 3339), oldest first, at most `limit`.
    async fn due_deliveries(&self, now: &str, limit: usize) -> Result<Vec<DeliveryRecord>>;

    /// A webhook's deliveries (only those in `status`, for `Some`), newest first, at most
    /// `limit`.
    async fn deliveries(
        &self,
        webhook_id: &str,
        status: Option<DeliveryStatus>,
        limit: usize,
    ) -> Result<Vec<DeliveryRecord>>;

    /// Deletes the deliveries that ended before `before` (RFC 3339); returns how many.
    async fn expire_deliveries(&self, before: &str) -> Result<usize>;

    /// Records an attempt on a pending delivery (a conflict if it is not pending).
    async fn record_attempt(&self, id: &str, attempt: DeliveryAttempt) -> Result<()>;

    // ---- alerts ------------------------------------------------------------------------

    async fn insert_alert(&self, new: NewAlert) -> Result<AlertRecord>;

    async fn alert(&self, id: &str) -> Result<Option<AlertRecord>>;

    /// Every alert (of one report, for `Some`), oldest first.
    async fn alerts(&self, report_id: Option<&str>) -> Result<Vec<AlertRecord>>;

    async fn delete_alert(&self, id: &str, by: &str) -> Result<()>;

    /// An alert's evaluations, newest first.
    async fn alert_evaluations(&self, alert_id: &str) -> Result<Vec<AlertEvaluation>>;

    /// Whether the alert was evaluated on the run.
    async fn alert_evaluated(&self, alert_id: &str, run_id: &str) -> Result<bool>;

    /// Stores an evaluation and dispatches its tasks in one transaction, once per alert and
    /// run: `None` if that run was evaluated already, and nothing is dispatched again.
    async fn record_evaluation(
        &self,
        evaluation: AlertEvaluation,
        tasks: Vec<NewTask>,
    ) -> Result<Option<(AlertEvaluation, Vec<TaskRecord>)>>;
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
            if matches!(
                schema,
                "system" | "governance" | "information_schema" | "pg_catalog"
            ) {
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

/// A report is named as policy lines name objects: `schema.name`, two lowercase identifiers
/// (`reports.village_income`), so that `reports.*` covers a family of reports.
pub fn validate_report_name(name: &str) -> Result<()> {
    let ident = |p: &str| {
        p.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
            && p.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    };
    let valid = name.len() <= 128
        && matches!(name.split_once('.'), Some((schema, rest)) if ident(schema) && ident(rest));
    if valid {
        Ok(())
    } else {
        Err(CatalogError::invalid(format!(
            "report name {name:?}: schema.name, two lowercase identifiers ([a-z_][a-z0-9_]*), e.g. reports.village_income"
        )))
    }
}
