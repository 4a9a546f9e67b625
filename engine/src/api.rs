//! [`Api`]: what the server's handlers ask of the engine, as one interface, so that a server
//! holds an `Arc<dyn Api>` and its handlers can be driven in process as well as end to end.
//! Every method that acts for someone takes its [`Caller`] and checks it; a handler only
//! extracts, calls and encodes.

use async_trait::async_trait;
use tiaokuai_catalog::jurisdiction::{Jurisdiction, RawJurisdiction};
use tiaokuai_catalog::{
    DatasetRecord, GrantRecord, PolicyRecord, Principal, RoleAssignment, SourceRecord, TokenInfo,
};
use tiaokuai_connectors::database::SourceState;
use tiaokuai_policies::Caller;

use crate::audit::QueryTrace;
use crate::engine::{Engine, QueryOutput};
use crate::error::Result;
use crate::registry::TableInfo;
use crate::{
    CheckReport, DatasetRequest, GrantRequest, PolicyRequest, RoleAssignmentRequest, SourceRequest,
};

/// The engine as the server sees it.
#[async_trait]
pub trait Api: std::fmt::Debug + Send + Sync {
    /// The caller a bearer token stands for; `None` for an unknown or revoked token.
    async fn authenticate(&self, token: &str) -> Result<Option<Caller>>;
    /// Whether the catalog answers.
    async fn ping(&self) -> Result<()>;

    /// Runs one statement, recorded in the audit trail from its start to its end.
    async fn query(
        &self,
        caller: &Caller,
        trace: QueryTrace<'_>,
        sql: &str,
        params: &[serde_json::Value],
    ) -> Result<QueryOutput>;
    /// The tables the caller may read.
    fn tables(&self, caller: &Caller) -> Vec<TableInfo>;

    async fn jurisdictions(&self) -> Result<Vec<Jurisdiction>>;
    async fn upsert_jurisdictions(
        &self,
        caller: &Caller,
        batch: &[RawJurisdiction],
    ) -> Result<usize>;

    async fn principals(&self, caller: &Caller) -> Result<Vec<Principal>>;
    async fn create_principal(&self, caller: &Caller, name: &str) -> Result<Principal>;
    async fn issue_token(&self, caller: &Caller, principal: &str) -> Result<(TokenInfo, String)>;
    async fn tokens(&self, caller: &Caller) -> Result<Vec<TokenInfo>>;
    /// The running queries the caller may see.
    fn running_queries(&self, caller: &Caller) -> Vec<crate::running::RunningQuery>;
    /// Cancels a running query the caller may see.
    async fn cancel_query(&self, caller: &Caller, id: &str) -> Result<()>;
    /// The Prometheus metrics text, for those who may read it.
    async fn metrics(&self, caller: &Caller) -> Result<String>;
    /// The audit records the caller may see.
    async fn audit(
        &self,
        caller: &Caller,
        filter: crate::audit::receipts::AuditFilter,
    ) -> Result<crate::audit::receipts::AuditPage>;
    async fn revoke_token(&self, caller: &Caller, id: &str) -> Result<()>;

    async fn register_source(
        &self,
        caller: &Caller,
        request: SourceRequest,
    ) -> Result<SourceRecord>;
    async fn sources(&self, caller: &Caller) -> Result<Vec<SourceRecord>>;
    async fn source(
        &self,
        caller: &Caller,
        id: &str,
    ) -> Result<(SourceRecord, Option<SourceState>)>;
    async fn delete_source(&self, caller: &Caller, id: &str) -> Result<()>;
    async fn check_source(&self, caller: &Caller, id: &str) -> Result<CheckReport>;

    async fn create_dataset(
        &self,
        caller: &Caller,
        request: DatasetRequest,
    ) -> Result<DatasetRecord>;
    async fn datasets(&self, caller: &Caller) -> Result<Vec<DatasetRecord>>;
    async fn dataset(&self, caller: &Caller, id: &str) -> Result<DatasetRecord>;
    async fn delete_dataset(&self, caller: &Caller, id: &str) -> Result<()>;

    async fn policies(&self, caller: &Caller) -> Result<Vec<PolicyRecord>>;
    async fn add_policy(&self, caller: &Caller, request: PolicyRequest) -> Result<PolicyRecord>;
    async fn delete_policy(&self, caller: &Caller, id: &str) -> Result<()>;
    async fn role_assignments(&self, caller: &Caller) -> Result<Vec<RoleAssignment>>;
    async fn assign_role(
        &self,
        caller: &Caller,
        request: RoleAssignmentRequest,
    ) -> Result<RoleAssignment>;
    async fn unassign_role(&self, caller: &Caller, id: &str) -> Result<()>;

    async fn grants(&self, caller: &Caller) -> Result<Vec<GrantRecord>>;
    async fn add_grant(&self, caller: &Caller, request: GrantRequest) -> Result<GrantRecord>;
    async fn delete_grant(&self, caller: &Caller, id: &str) -> Result<()>;
}

#[async_trait]
impl Api for Engine {
    async fn authenticate(&self, token: &str) -> Result<Option<Caller>> {
        Engine::authenticate(self, token).await
    }

    async fn ping(&self) -> Result<()> {
        Engine::ping(self).await
    }

    async fn query(
        &self,
        caller: &Caller,
        trace: QueryTrace<'_>,
        sql: &str,
        params: &[serde_json::Value],
    ) -> Result<QueryOutput> {
        self.audited_query(caller, trace, sql, params).await
    }

    fn tables(&self, caller: &Caller) -> Vec<TableInfo> {
        self.tables_for(caller)
    }

    async fn jurisdictions(&self) -> Result<Vec<Jurisdiction>> {
        Engine::jurisdictions(self).await
    }

    async fn upsert_jurisdictions(
        &self,
        caller: &Caller,
        batch: &[RawJurisdiction],
    ) -> Result<usize> {
        Engine::upsert_jurisdictions(self, caller, batch).await
    }

    async fn principals(&self, caller: &Caller) -> Result<Vec<Principal>> {
        Engine::principals(self, caller).await
    }

    async fn create_principal(&self, caller: &Caller, name: &str) -> Result<Principal> {
        Engine::create_principal(self, caller, name).await
    }

    async fn issue_token(&self, caller: &Caller, principal: &str) -> Result<(TokenInfo, String)> {
        Engine::issue_token(self, caller, principal).await
    }

    async fn tokens(&self, caller: &Caller) -> Result<Vec<TokenInfo>> {
        Engine::tokens(self, caller).await
    }

    async fn audit(
        &self,
        caller: &Caller,
        filter: crate::audit::receipts::AuditFilter,
    ) -> Result<crate::audit::receipts::AuditPage> {
        Engine::audit(self, caller, filter).await
    }

    async fn metrics(&self, caller: &Caller) -> Result<String> {
        Engine::metrics(self, caller).await
    }

    fn running_queries(&self, caller: &Caller) -> Vec<crate::running::RunningQuery> {
        Engine::running_queries(self, caller)
    }

    async fn cancel_query(&self, caller: &Caller, id: &str) -> Result<()> {
        Engine::cancel_query(self, caller, id)
    }

    async fn revoke_token(&self, caller: &Caller, id: &str) -> Result<()> {
        Engine::revoke_token(self, caller, id).await
    }

    async fn register_source(
        &self,
        caller: &Caller,
        request: SourceRequest,
    ) -> Result<SourceRecord> {
        Engine::register_source(self, caller, request).await
    }

    async fn sources(&self, caller: &Caller) -> Result<Vec<SourceRecord>> {
        Engine::sources(self, caller).await
    }

    async fn source(
        &self,
        caller: &Caller,
        id: &str,
    ) -> Result<(SourceRecord, Option<SourceState>)> {
        Engine::source(self, caller, id).await
    }

    async fn delete_source(&self, caller: &Caller, id: &str) -> Result<()> {
        Engine::delete_source(self, caller, id).await
    }

    async fn check_source(&self, caller: &Caller, id: &str) -> Result<CheckReport> {
        Engine::check_source(self, caller, id).await
    }

    async fn create_dataset(
        &self,
        caller: &Caller,
        request: DatasetRequest,
    ) -> Result<DatasetRecord> {
        Engine::create_dataset(self, caller, request).await
    }

    async fn datasets(&self, caller: &Caller) -> Result<Vec<DatasetRecord>> {
        Engine::datasets(self, caller).await
    }

    async fn dataset(&self, caller: &Caller, id: &str) -> Result<DatasetRecord> {
        Engine::dataset(self, caller, id).await
    }

    async fn delete_dataset(&self, caller: &Caller, id: &str) -> Result<()> {
        Engine::delete_dataset(self, caller, id).await
    }

    async fn policies(&self, caller: &Caller) -> Result<Vec<PolicyRecord>> {
        Engine::policies(self, caller).await
    }

    async fn add_policy(&self, caller: &Caller, request: PolicyRequest) -> Result<PolicyRecord> {
        Engine::add_policy(self, caller, request).await
    }

    async fn delete_policy(&self, caller: &Caller, id: &str) -> Result<()> {
        Engine::delete_policy(self, caller, id).await
    }

    async fn role_assignments(&self, caller: &Caller) -> Result<Vec<RoleAssignment>> {
        Engine::role_assignments(self, caller).await
    }

    async fn assign_role(
        &self,
        caller: &Caller,
        request: RoleAssignmentRequest,
    ) -> Result<RoleAssignment> {
        Engine::assign_role(self, caller, request).await
    }

    async fn unassign_role(&self, caller: &Caller, id: &str) -> Result<()> {
        Engine::unassign_role(self, caller, id).await
    }

    async fn grants(&self, caller: &Caller) -> Result<Vec<GrantRecord>> {
        Engine::grants(self, caller).await
    }

    async fn add_grant(&self, caller: &Caller, request: GrantRequest) -> Result<GrantRecord> {
        Engine::add_grant(self, caller, request).await
    }

    async fn delete_grant(&self, caller: &Caller, id: &str) -> Result<()> {
        Engine::delete_grant(self, caller, id).await
    }
}
