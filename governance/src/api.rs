//! [`Governance`]: what the server's handlers ask of governance, as one interface, so that
//! a server holds an `Arc<dyn Governance>` and its handlers can be driven in process.

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use tiaokuai_catalog::{AlertRecord, ReportRecord, RunRecord, TaskRecord};
use tiaokuai_engine::audit::QueryTrace;
use tiaokuai_engine::{Caller, Engine, QueryOutput, Result};

use crate::alerts::{AlertDetail, AlertRequest, Alerts};
use crate::clock::Clock;
use crate::reports::{ReportChange, ReportRequest, Reports, RunRequest};
use crate::runs::RunLimits;
use crate::schedules::{ScheduleRequest, ScheduleView, Schedules};
use crate::tasks::{TaskAction, TaskDetail, TaskFilter, TaskRequest, Tasks, TasksFromQuery};
use crate::webhooks::{CreatedWebhook, Notifier, WebhookDetail, WebhookRequest};
use tiaokuai_catalog::{DeliveryStatus, WebhookRecord};

#[async_trait]
pub trait Governance: std::fmt::Debug + Send + Sync {
    async fn create_report(&self, caller: &Caller, request: ReportRequest) -> Result<ReportRecord>;
    async fn reports(&self, caller: &Caller) -> Result<Vec<ReportRecord>>;
    async fn report(&self, caller: &Caller, id: &str, version: Option<u32>)
    -> Result<ReportRecord>;
    async fn report_versions(&self, caller: &Caller, id: &str) -> Result<Vec<ReportRecord>>;
    async fn update_report(
        &self,
        caller: &Caller,
        id: &str,
        change: ReportChange,
    ) -> Result<ReportRecord>;
    async fn delete_report(&self, caller: &Caller, id: &str) -> Result<()>;
    /// Runs a report as the caller, recorded in the audit trail like a query.
    async fn run_report(
        &self,
        caller: &Caller,
        trace: QueryTrace<'_>,
        id: &str,
        request: RunRequest,
    ) -> Result<QueryOutput>;
    /// Runs a report as the caller and stores its result.
    async fn store_run(&self, caller: &Caller, id: &str, request: RunRequest) -> Result<RunRecord>;
    /// The caller's stored runs of a report (every run, for admin).
    async fn runs(&self, caller: &Caller, id: &str) -> Result<Vec<RunRecord>>;
    async fn stored_run(&self, caller: &Caller, run_id: &str) -> Result<RunRecord>;
    /// A finished run's stored result.
    async fn run_result(&self, caller: &Caller, run_id: &str) -> Result<QueryOutput>;

    /// Dispatches one task written by hand.
    async fn create_task(&self, caller: &Caller, request: TaskRequest) -> Result<TaskRecord>;
    /// Dispatches one task for each row of a query run as the caller.
    async fn create_tasks_from_query(
        &self,
        caller: &Caller,
        trace: QueryTrace<'_>,
        request: TasksFromQuery,
    ) -> Result<Vec<TaskRecord>>;
    /// The tasks the caller may see, newest first.
    async fn tasks(&self, caller: &Caller, filter: TaskFilter) -> Result<Vec<TaskRecord>>;
    async fn task(&self, caller: &Caller, id: &str) -> Result<TaskDetail>;
    /// Accepts, resolves, verifies or returns a task.
    async fn act_on_task(
        &self,
        caller: &Caller,
        id: &str,
        action: TaskAction,
    ) -> Result<TaskRecord>;

    async fn create_alert(&self, caller: &Caller, request: AlertRequest) -> Result<AlertRecord>;
    /// The alerts the caller may manage.
    async fn alerts(&self, caller: &Caller) -> Result<Vec<AlertRecord>>;
    async fn alert(&self, caller: &Caller, id: &str) -> Result<AlertDetail>;
    async fn delete_alert(&self, caller: &Caller, id: &str) -> Result<()>;

    async fn create_schedule(
        &self,
        caller: &Caller,
        request: ScheduleRequest,
    ) -> Result<ScheduleView>;
    /// The schedules the caller made, runs as, or whose report it manages.
    async fn schedules(&self, caller: &Caller) -> Result<Vec<ScheduleView>>;
    async fn schedule(&self, caller: &Caller, id: &str) -> Result<ScheduleView>;
    async fn delete_schedule(&self, caller: &Caller, id: &str) -> Result<()>;

    async fn create_webhook(
        &self,
        caller: &Caller,
        request: WebhookRequest,
    ) -> Result<CreatedWebhook>;
    /// The webhooks the caller made (every one, for admin).
    async fn webhooks(&self, caller: &Caller) -> Result<Vec<WebhookRecord>>;
    /// A webhook and its deliveries (only those in `status`, if given).
    async fn webhook(
        &self,
        caller: &Caller,
        id: &str,
        status: Option<DeliveryStatus>,
    ) -> Result<WebhookDetail>;
    async fn delete_webhook(&self, caller: &Caller, id: &str) -> Result<()>;
}

/// Governance as a server runs it: reports with stored runs, dispatch tasks, alerts,
/// schedules and webhooks, with escalations, ticks and deliveries watched for as long as the
/// service lives.
#[derive(Debug)]
pub struct Service {
    reports: Reports,
    tasks: Arc<Tasks>,
    alerts: Alerts,
    schedules: Arc<Schedules>,
    notifier: Arc<Notifier>,
}

impl Service {
    /// Opens the runs folder (marking failed the runs a stop interrupted), evaluates the
    /// alerts a stop left unevaluated, and starts watching for due escalations and ticks.
    pub async fn open(
        engine: Arc<Engine>,
        runs_dir: PathBuf,
        limits: RunLimits,
        clock: Arc<dyn Clock>,
    ) -> Result<Self> {
        let reports = Reports::open(engine.clone(), runs_dir, limits).await?;
        let notifier = Arc::new(Notifier::new(engine.clone(), clock.clone()));
        let tasks = Tasks::new(engine, clock.clone()).notifying(notifier.clone());
        let tasks = Arc::new(tasks);
        let alerts = Alerts::new(reports.clone(), tasks.clone());
        alerts.recover().await?;
        let schedules = Schedules::new(reports.clone(), alerts.clone(), clock);
        let schedules = Arc::new(schedules.notifying(notifier.clone()));
        Tasks::watch(&tasks);
        Schedules::watch(&schedules);
        Notifier::watch(&notifier);
        Ok(Self {
            reports,
            tasks,
            alerts,
            schedules,
            notifier,
        })
    }
}

#[async_trait]
impl Governance for Service {
    async fn create_report(&self, caller: &Caller, request: ReportRequest) -> Result<ReportRecord> {
        self.reports.create(caller, request).await
    }

    async fn reports(&self, caller: &Caller) -> Result<Vec<ReportRecord>> {
        self.reports.list(caller).await
    }

    async fn report(
        &self,
        caller: &Caller,
        id: &str,
        version: Option<u32>,
    ) -> Result<ReportRecord> {
        self.reports.get(caller, id, version).await
    }

    async fn report_versions(&self, caller: &Caller, id: &str) -> Result<Vec<ReportRecord>> {
        self.reports.versions(caller, id).await
    }

    async fn update_report(
        &self,
        caller: &Caller,
        id: &str,
        change: ReportChange,
    ) -> Result<ReportRecord> {
        self.reports.update(caller, id, change).await
    }

    async fn delete_report(&self, caller: &Caller, id: &str) -> Result<()> {
        self.reports.delete(caller, id).await
    }

    async fn run_report(
        &self,
        caller: &Caller,
        trace: QueryTrace<'_>,
        id: &str,
        request: RunRequest,
    ) -> Result<QueryOutput> {
        self.reports.run(caller, trace, id, request).await
    }

    async fn store_run(&self, caller: &Caller, id: &str, request: RunRequest) -> Result<RunRecord> {
        let run = self.reports.store_run(caller, id, request).await?;
        self.alerts.evaluate(&run).await;
        Ok(run)
    }

    async fn runs(&self, caller: &Caller, id: &str) -> Result<Vec<RunRecord>> {
        self.reports.stored_runs(caller, id).await
    }

    async fn stored_run(&self, caller: &Caller, run_id: &str) -> Result<RunRecord> {
        self.reports.stored_run(caller, run_id).await
    }

    async fn run_result(&self, caller: &Caller, run_id: &str) -> Result<QueryOutput> {
        self.reports.run_result(caller, run_id).await
    }

    async fn create_task(&self, caller: &Caller, request: TaskRequest) -> Result<TaskRecord> {
        self.tasks.create(caller, request).await
    }

    async fn create_tasks_from_query(
        &self,
        caller: &Caller,
        trace: QueryTrace<'_>,
        request: TasksFromQuery,
    ) -> Result<Vec<TaskRecord>> {
        self.tasks.create_from_query(caller, trace, request).await
    }

    async fn tasks(&self, caller: &Caller, filter: TaskFilter) -> Result<Vec<TaskRecord>> {
        self.tasks.list(caller, &filter).await
    }

    async fn task(&self, caller: &Caller, id: &str) -> Result<TaskDetail> {
        self.tasks.get(caller, id).await
    }

    async fn act_on_task(
        &self,
        caller: &Caller,
        id: &str,
        action: TaskAction,
    ) -> Result<TaskRecord> {
        self.tasks.act(caller, id, action).await
    }

    async fn create_alert(&self, caller: &Caller, request: AlertRequest) -> Result<AlertRecord> {
        self.alerts.create(caller, request).await
    }

    async fn alerts(&self, caller: &Caller) -> Result<Vec<AlertRecord>> {
        self.alerts.list(caller).await
    }

    async fn alert(&self, caller: &Caller, id: &str) -> Result<AlertDetail> {
        self.alerts.get(caller, id).await
    }

    async fn delete_alert(&self, caller: &Caller, id: &str) -> Result<()> {
        self.alerts.delete(caller, id).await
    }

    async fn create_schedule(
        &self,
        caller: &Caller,
        request: ScheduleRequest,
    ) -> Result<ScheduleView> {
        self.schedules.create(caller, request).await
    }

    async fn schedules(&self, caller: &Caller) -> Result<Vec<ScheduleView>> {
        self.schedules.list(caller).await
    }

    async fn schedule(&self, caller: &Caller, id: &str) -> Result<ScheduleView> {
        self.schedules.get(caller, id).await
    }

    async fn delete_schedule(&self, caller: &Caller, id: &str) -> Result<()> {
        self.schedules.delete(caller, id).await
    }

    async fn create_webhook(
        &self,
        caller: &Caller,
        request: WebhookRequest,
    ) -> Result<CreatedWebhook> {
        self.notifier.create(caller, request).await
    }

    async fn webhooks(&self, caller: &Caller) -> Result<Vec<WebhookRecord>> {
        self.notifier.list(caller).await
    }

    async fn webhook(
        &self,
        caller: &Caller,
        id: &str,
        status: Option<DeliveryStatus>,
    ) -> Result<WebhookDetail> {
        self.notifier.get(caller, id, status).await
    }

    async fn delete_webhook(&self, caller: &Caller, id: &str) -> Result<()> {
        self.notifier.delete(caller, id).await
    }
}
