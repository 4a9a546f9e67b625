//! [`Governance`]: what the server's handlers ask of governance, as one interface, so that
//! a server holds an `Arc<dyn Governance>` and its handlers can be driven in process.

use async_trait::async_trait;
use tiaokuai_catalog::{ReportRecord, RunRecord};
use tiaokuai_engine::audit::QueryTrace;
use tiaokuai_engine::{Caller, QueryOutput, Result};

use crate::reports::{ReportChange, ReportRequest, Reports, RunRequest};

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
}

#[async_trait]
impl Governance for Reports {
    async fn create_report(&self, caller: &Caller, request: ReportRequest) -> Result<ReportRecord> {
        self.create(caller, request).await
    }

    async fn reports(&self, caller: &Caller) -> Result<Vec<ReportRecord>> {
        self.list(caller).await
    }

    async fn report(
        &self,
        caller: &Caller,
        id: &str,
        version: Option<u32>,
    ) -> Result<ReportRecord> {
        self.get(caller, id, version).await
    }

    async fn report_versions(&self, caller: &Caller, id: &str) -> Result<Vec<ReportRecord>> {
        self.versions(caller, id).await
    }

    async fn update_report(
        &self,
        caller: &Caller,
        id: &str,
        change: ReportChange,
    ) -> Result<ReportRecord> {
        self.update(caller, id, change).await
    }

    async fn delete_report(&self, caller: &Caller, id: &str) -> Result<()> {
        self.delete(caller, id).await
    }

    async fn run_report(
        &self,
        caller: &Caller,
        trace: QueryTrace<'_>,
        id: &str,
        request: RunRequest,
    ) -> Result<QueryOutput> {
        self.run(caller, trace, id, request).await
    }

    async fn store_run(&self, caller: &Caller, id: &str, request: RunRequest) -> Result<RunRecord> {
        Reports::store_run(self, caller, id, request).await
    }

    async fn runs(&self, caller: &Caller, id: &str) -> Result<Vec<RunRecord>> {
        self.stored_runs(caller, id).await
    }

    async fn stored_run(&self, caller: &Caller, run_id: &str) -> Result<RunRecord> {
        Reports::stored_run(self, caller, run_id).await
    }

    async fn run_result(&self, caller: &Caller, run_id: &str) -> Result<QueryOutput> {
        Reports::run_result(self, caller, run_id).await
    }
}
