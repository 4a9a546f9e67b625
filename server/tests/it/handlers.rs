//! The handlers in process, through `Router::oneshot`: over the real engine, and over an
//! engine that fails every call in one way, to show that each handler turns every kind of
//! engine error into its status and code in the one mapping, and that a bug's details never
//! reach the client.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use serde_json::{Value, json};
use tiaokuai::http::{self, AppState, Limits};
use tiaokuai_catalog::jurisdiction::{Jurisdiction, RawJurisdiction};
use tiaokuai_catalog::{
    AlertRecord, DeliveryStatus, ReportRecord, RunRecord, TaskRecord, WebhookRecord,
};
use tiaokuai_catalog::{
    DatasetRecord, GrantRecord, PolicyRecord, Principal, RoleAssignment, SourceRecord, TokenInfo,
};
use tiaokuai_connectors::database::SourceState;
use tiaokuai_engine::audit::QueryTrace;
use tiaokuai_engine::registry::TableInfo;
use tiaokuai_engine::{
    Api, CheckReport, DatasetRequest, EngineError, GrantRequest, PolicyRequest, QueryOutput,
    RoleAssignmentRequest, SourceRequest,
};
use tiaokuai_governance::{
    AlertDetail, AlertRequest, CreatedWebhook, Governance, ReportChange, ReportRequest, RunRequest,
    ScheduleRequest, ScheduleView, TaskAction, TaskDetail, TaskFilter, TaskRequest, TasksFromQuery,
    WebhookDetail, WebhookRequest,
};
use tiaokuai_policies::Caller;
use tower::ServiceExt;

use crate::harness::ADMIN_TOKEN;

async fn call(
    state: &AppState,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = Request::builder().method(method).uri(path);
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    let request = match body {
        Some(body) => request
            .header("content-type", "application/json")
            .body(Body::from(body.to_string())),
        None => request.body(Body::empty()),
    }
    .unwrap();
    let response = http::router(state.clone()).oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (status, body)
}

#[tokio::test]
async fn over_the_real_engine_tokens_decide_who_is_asking() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = tiaokuai::ServerConfig::new(dir.path());
    config.admin_token = Some(ADMIN_TOKEN.into());
    let state = tiaokuai::open(&config).await.unwrap();
    let (status, body) = call(&state, Method::GET, "/healthz", None, None).await;
    assert_eq!((status, body), (StatusCode::OK, json!({"status": "ok"})));
    for token in [None, Some("tk_not_a_token")] {
        let (status, body) = call(&state, Method::GET, "/v1/whoami", token, None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(body["error"]["code"], "unauthenticated");
    }
    let (status, body) = call(&state, Method::GET, "/v1/whoami", Some(ADMIN_TOKEN), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["principal"], "admin");
    let (status, body) = call(
        &state,
        Method::POST,
        "/v1/query",
        Some(ADMIN_TOKEN),
        Some(json!({"sql": "SELECT 1 + 1 AS two"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["rows"], json!([[2]]));
    let (status, body) = call(&state, Method::GET, "/v1/nothing", Some(ADMIN_TOKEN), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"]["code"], "not_found");
}

/// Governance that fails everything with the same error.
#[async_trait]
impl Governance for Failing {
    async fn create_report(
        &self,
        _: &Caller,
        _: ReportRequest,
    ) -> tiaokuai_engine::Result<ReportRecord> {
        Err(self.error.clone())
    }
    async fn reports(&self, _: &Caller) -> tiaokuai_engine::Result<Vec<ReportRecord>> {
        Err(self.error.clone())
    }
    async fn report(
        &self,
        _: &Caller,
        _: &str,
        _: Option<u32>,
    ) -> tiaokuai_engine::Result<ReportRecord> {
        Err(self.error.clone())
    }
    async fn report_versions(
        &self,
        _: &Caller,
        _: &str,
    ) -> tiaokuai_engine::Result<Vec<ReportRecord>> {
        Err(self.error.clone())
    }
    async fn update_report(
        &self,
        _: &Caller,
        _: &str,
        _: ReportChange,
    ) -> tiaokuai_engine::Result<ReportRecord> {
        Err(self.error.clone())
    }
    async fn delete_report(&self, _: &Caller, _: &str) -> tiaokuai_engine::Result<()> {
        Err(self.error.clone())
    }
    async fn run_report(
        &self,
        _: &Caller,
        _: QueryTrace<'_>,
        _: &str,
        _: RunRequest,
    ) -> tiaokuai_engine::Result<QueryOutput> {
        Err(self.error.clone())
    }
    async fn store_run(
        &self,
        _: &Caller,
        _: &str,
        _: RunRequest,
    ) -> tiaokuai_engine::Result<RunRecord> {
        Err(self.error.clone())
    }
    async fn runs(&self, _: &Caller, _: &str) -> tiaokuai_engine::Result<Vec<RunRecord>> {
        Err(self.error.clone())
    }
    async fn stored_run(&self, _: &Caller, _: &str) -> tiaokuai_engine::Result<RunRecord> {
        Err(self.error.clone())
    }
    async fn run_result(&self, _: &Caller, _: &str) -> tiaokuai_engine::Result<QueryOutput> {
        Err(self.error.clone())
    }
    async fn create_task(&self, _: &Caller, _: TaskRequest) -> tiaokuai_engine::Result<TaskRecord> {
        Err(self.error.clone())
    }
    async fn create_tasks_from_query(
        &self,
        _: &Caller,
        _: QueryTrace<'_>,
        _: TasksFromQuery,
    ) -> tiaokuai_engine::Result<Vec<TaskRecord>> {
        Err(self.error.clone())
    }
    async fn tasks(&self, _: &Caller, _: TaskFilter) -> tiaokuai_engine::Result<Vec<TaskRecord>> {
        Err(self.error.clone())
    }
    async fn task(&self, _: &Caller, _: &str) -> tiaokuai_engine::Result<TaskDetail> {
        Err(self.error.clone())
    }
    async fn act_on_task(
        &self,
        _: &Caller,
        _: &str,
        _: TaskAction,
    ) -> tiaokuai_engine::Result<TaskRecord> {
        Err(self.error.clone())
    }
    async fn create_alert(
        &self,
        _: &Caller,
        _: AlertRequest,
    ) -> tiaokuai_engine::Result<AlertRecord> {
        Err(self.error.clone())
    }
    async fn alerts(&self, _: &Caller) -> tiaokuai_engine::Result<Vec<AlertRecord>> {
        Err(self.error.clone())
    }
    async fn alert(&self, _: &Caller, _: &str) -> tiaokuai_engine::Result<AlertDetail> {
        Err(self.error.clone())
    }
    async fn delete_alert(&self, _: &Caller, _: &str) -> tiaokuai_engine::Result<()> {
        Err(self.error.clone())
    }
    async fn create_schedule(
        &self,
        _: &Caller,
        _: ScheduleRequest,
    ) -> tiaokuai_engine::Result<ScheduleView> {
        Err(self.error.clone())
    }
    async fn schedules(&self, _: &Caller) -> tiaokuai_engine::Result<Vec<ScheduleView>> {
        Err(self.error.clone())
    }
    async fn schedule(&self, _: &Caller, _: &str) -> tiaokuai_engine::Result<ScheduleView> {
        Err(self.error.clone())
    }
    async fn delete_schedule(&self, _: &Caller, _: &str) -> tiaokuai_engine::Result<()> {
        Err(self.error.clone())
    }
    async fn create_webhook(
        &self,
        _: &Caller,
        _: WebhookRequest,
    ) -> tiaokuai_engine::Result<CreatedWebhook> {
        Err(self.error.clone())
    }
    async fn webhooks(&self, _: &Caller) -> tiaokuai_engine::Result<Vec<WebhookRecord>> {
        Err(self.error.clone())
    }
    async fn webhook(
        &self,
        _: &Caller,
        _: &str,
        _: Option<DeliveryStatus>,
    ) -> tiaokuai_engine::Result<WebhookDetail> {
        Err(self.error.clone())
    }
    async fn delete_webhook(&self, _: &Caller, _: &str) -> tiaokuai_engine::Result<()> {
        Err(self.error.clone())
    }
}

/// An engine that knows its one caller and fails everything else with `error`.
#[derive(Debug)]
struct Failing {
    caller: Caller,
    error: EngineError,
}

/// Implements [`Api`] for [`Failing`]: the listed methods fail with its error.
macro_rules! failing_api {
    ($($name:ident($($arg:ident: $ty:ty),*) -> $ret:ty;)*) => {
        #[async_trait]
        impl Api for Failing {
            async fn authenticate(&self, _: &str) -> tiaokuai_engine::Result<Option<Caller>> {
                Ok(Some(self.caller.clone()))
            }

            async fn query(
                &self,
                _: &Caller,
                _: QueryTrace<'_>,
                _: &str,
                _: &[Value],
            ) -> tiaokuai_engine::Result<QueryOutput> {
                Err(self.error.clone())
            }

            fn tables(&self, _: &Caller) -> Vec<TableInfo> {
                Vec::new()
            }

            fn running_queries(&self, _: &Caller) -> Vec<tiaokuai_engine::running::RunningQuery> {
                Vec::new()
            }

            async fn upsert_jurisdictions(
                &self,
                _: &Caller,
                _: &[RawJurisdiction],
            ) -> tiaokuai_engine::Result<usize> {
                Err(self.error.clone())
            }

            $(async fn $name(&self, $($arg: $ty),*) -> tiaokuai_engine::Result<$ret> {
                $(let _ = $arg;)*
                Err(self.error.clone())
            })*
        }
    };
}

failing_api! {
    ping() -> ();
    jurisdictions() -> Vec<Jurisdiction>;
    principals(caller: &Caller) -> Vec<Principal>;
    create_principal(caller: &Caller, name: &str) -> Principal;
    issue_token(caller: &Caller, principal: &str) -> (TokenInfo, String);
    tokens(caller: &Caller) -> Vec<TokenInfo>;
    revoke_token(caller: &Caller, id: &str) -> ();
    metrics(caller: &Caller) -> String;
    cancel_query(caller: &Caller, id: &str) -> ();
    audit(caller: &Caller, filter: tiaokuai_engine::audit::receipts::AuditFilter) -> tiaokuai_engine::audit::receipts::AuditPage;
    register_source(caller: &Caller, request: SourceRequest) -> SourceRecord;
    sources(caller: &Caller) -> Vec<SourceRecord>;
    source(caller: &Caller, id: &str) -> (SourceRecord, Option<SourceState>);
    delete_source(caller: &Caller, id: &str) -> ();
    check_source(caller: &Caller, id: &str) -> CheckReport;
    create_dataset(caller: &Caller, request: DatasetRequest) -> DatasetRecord;
    datasets(caller: &Caller) -> Vec<DatasetRecord>;
    dataset(caller: &Caller, id: &str) -> DatasetRecord;
    delete_dataset(caller: &Caller, id: &str) -> ();
    policies(caller: &Caller) -> Vec<PolicyRecord>;
    add_policy(caller: &Caller, request: PolicyRequest) -> PolicyRecord;
    delete_policy(caller: &Caller, id: &str) -> ();
    role_assignments(caller: &Caller) -> Vec<RoleAssignment>;
    assign_role(caller: &Caller, request: RoleAssignmentRequest) -> RoleAssignment;
    unassign_role(caller: &Caller, id: &str) -> ();
    grants(caller: &Caller) -> Vec<GrantRecord>;
    add_grant(caller: &Caller, request: GrantRequest) -> GrantRecord;
    delete_grant(caller: &Caller, id: &str) -> ();
}

#[tokio::test]
async fn every_handler_maps_every_engine_error_in_one_place() {
    let caller = Caller {
        within: None,
        principal: Principal {
            id: "prn_1".into(),
            name: "admin".into(),
            created_at: String::new(),
        },
        roles: Vec::new(),
    };
    let detail = "a private detail of the bug";
    let cases = [
        (
            EngineError::InvalidSql("x".into()),
            StatusCode::BAD_REQUEST,
            "invalid_sql",
        ),
        (
            EngineError::BadRequest("x".into()),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            EngineError::PermissionDenied("x".into()),
            StatusCode::FORBIDDEN,
            "permission_denied",
        ),
        (
            EngineError::NotFound("x".into()),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            EngineError::Conflict("x".into()),
            StatusCode::CONFLICT,
            "conflict",
        ),
        (
            EngineError::SourceUnavailable("x".into()),
            StatusCode::BAD_GATEWAY,
            "source_unavailable",
        ),
        (
            EngineError::Timeout(Duration::from_secs(1)),
            StatusCode::GATEWAY_TIMEOUT,
            "timeout",
        ),
        (
            EngineError::ResourcesExhausted("x".into()),
            StatusCode::SERVICE_UNAVAILABLE,
            "resources_exhausted",
        ),
        (
            EngineError::Overloaded("x".into()),
            StatusCode::TOO_MANY_REQUESTS,
            "overloaded",
        ),
        (
            EngineError::Cancelled("x".into()),
            StatusCode::CONFLICT,
            "cancelled",
        ),
        (
            EngineError::AuditUnavailable("x".into()),
            StatusCode::SERVICE_UNAVAILABLE,
            "audit_unavailable",
        ),
        (
            EngineError::Internal(detail.into()),
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
        ),
    ];
    let calls: Vec<(Method, &str, Option<Value>)> = vec![
        (Method::POST, "/v1/query", Some(json!({"sql": "SELECT 1"}))),
        (Method::GET, "/v1/jurisdictions", None),
        (Method::POST, "/v1/jurisdictions", Some(json!([]))),
        (Method::GET, "/v1/sources", None),
        (
            Method::POST,
            "/v1/sources",
            Some(
                json!({"name": "x", "kind": "parquet", "url": "file:///x/", "owner": "330824000000"}),
            ),
        ),
        (
            Method::POST,
            "/v1/datasets",
            Some(json!({"name": "a.b", "members": []})),
        ),
        (
            Method::POST,
            "/v1/policies",
            Some(json!({"role": "r", "jurisdiction": "*", "object": "*", "action": "read"})),
        ),
        (Method::GET, "/v1/sources/src_1", None),
        (Method::DELETE, "/v1/sources/src_1", None),
        (Method::POST, "/v1/sources/src_1/check", Some(json!({}))),
        (Method::GET, "/v1/datasets", None),
        (Method::GET, "/v1/datasets/ds_1", None),
        (Method::DELETE, "/v1/datasets/ds_1", None),
        (Method::GET, "/v1/principals", None),
        (
            Method::POST,
            "/v1/principals",
            Some(json!({"name": "alice"})),
        ),
        (Method::GET, "/v1/tokens", None),
        (Method::GET, "/v1/audit", None),
        (Method::DELETE, "/v1/queries/q_1", None),
        (
            Method::POST,
            "/v1/tokens",
            Some(json!({"principal": "alice"})),
        ),
        (Method::DELETE, "/v1/tokens/tok_1", None),
        (Method::GET, "/v1/policies", None),
        (Method::DELETE, "/v1/policies/pol_1", None),
        (Method::GET, "/v1/role-assignments", None),
        (
            Method::POST,
            "/v1/role-assignments",
            Some(json!({"principal": "alice", "role": "r", "jurisdiction": "*"})),
        ),
        (Method::DELETE, "/v1/role-assignments/ra_1", None),
        (Method::GET, "/v1/grants", None),
        (
            Method::POST,
            "/v1/grants",
            Some(json!({"jurisdiction": "330824000000", "kind": "env", "location": "CIVIL_"})),
        ),
        (Method::DELETE, "/v1/grants/gr_1", None),
        (Method::GET, "/v1/reports", None),
        (
            Method::POST,
            "/v1/reports",
            Some(json!({"name": "r", "owner": "330824000000", "sql": "SELECT 1"})),
        ),
        (Method::GET, "/v1/reports/rep_1", None),
        (Method::GET, "/v1/reports/rep_1?version=1", None),
        (Method::GET, "/v1/reports/rep_1/versions", None),
        (
            Method::PUT,
            "/v1/reports/rep_1",
            Some(json!({"version": 1, "sql": "SELECT 2"})),
        ),
        (Method::DELETE, "/v1/reports/rep_1", None),
        (
            Method::POST,
            "/v1/reports/rep_1/run",
            Some(json!({"parameters": {"year": 2024}})),
        ),
        (
            Method::POST,
            "/v1/reports/rep_1/runs",
            Some(json!({"parameters": {"year": 2024}})),
        ),
        (Method::GET, "/v1/reports/rep_1/runs", None),
        (Method::GET, "/v1/runs/run_1", None),
        (Method::GET, "/v1/runs/run_1/result", None),
        (Method::GET, "/v1/webhooks", None),
        (Method::GET, "/v1/webhooks/wh_1?status=failed", None),
        (Method::DELETE, "/v1/webhooks/wh_1", None),
        (
            Method::POST,
            "/v1/webhooks",
            Some(
                json!({"name": "n", "url": "https://example.org/hook", "jurisdiction": "330824000000"}),
            ),
        ),
        (Method::GET, "/v1/schedules", None),
        (Method::GET, "/v1/schedules/sch_1", None),
        (Method::DELETE, "/v1/schedules/sch_1", None),
        (
            Method::POST,
            "/v1/schedules",
            Some(json!({"report": "rep_1", "name": "n", "cron": "0 8 * * *"})),
        ),
        (Method::GET, "/v1/alerts", None),
        (Method::GET, "/v1/alerts/alert_1", None),
        (Method::DELETE, "/v1/alerts/alert_1", None),
        (
            Method::POST,
            "/v1/alerts",
            Some(
                json!({"report": "rep_1", "name": "n", "condition": {"kind": "any_rows"},
                        "jurisdiction": "330824000000", "task": {"title": "t"}}),
            ),
        ),
        (Method::GET, "/v1/tasks", None),
        (Method::GET, "/v1/tasks?status=accepted&overdue=true", None),
        (
            Method::POST,
            "/v1/tasks",
            Some(json!({"title": "t", "jurisdiction": "330824116224"})),
        ),
        (
            Method::POST,
            "/v1/tasks/from-query",
            Some(json!({"sql": "SELECT 1", "title": "t"})),
        ),
        (Method::GET, "/v1/tasks/task_1", None),
        (Method::POST, "/v1/tasks/task_1/accept", None),
        (
            Method::POST,
            "/v1/tasks/task_1/resolve",
            Some(json!({"note": "n"})),
        ),
        (Method::POST, "/v1/tasks/task_1/verify", Some(json!({}))),
        (
            Method::POST,
            "/v1/tasks/task_1/return",
            Some(json!({"reason": "r"})),
        ),
    ];
    for (error, status, code) in cases {
        let failing = Arc::new(Failing {
            caller: caller.clone(),
            error: error.clone(),
        });
        let state = AppState::new(failing.clone(), failing, Limits::default());
        for (method, path, body) in &calls {
            let (got, answer) = call(&state, method.clone(), path, Some("any"), body.clone()).await;
            assert_eq!(got, status, "{method} {path} for {error:?}: {answer}");
            assert_eq!(answer["error"]["code"], code, "{method} {path}: {answer}");
            assert!(
                !answer.to_string().contains(detail),
                "{method} {path}: {answer}"
            );
        }
        let (got, _) = call(&state, Method::GET, "/readyz", None, None).await;
        assert_eq!(got, StatusCode::SERVICE_UNAVAILABLE, "readyz for {error:?}");
    }
}
