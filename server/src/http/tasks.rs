//! Dispatch tasks (`/v1/tasks`): sent by hand or from a query's rows, accepted, resolved,
//! verified or returned, and escalated when not accepted in time.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::Deserialize;
use tiaokuai_catalog::{JurisdictionCode, TaskRecord, TaskStatus};
use tiaokuai_engine::audit::QueryTrace;
use tiaokuai_governance::{
    ReturnRequest, TaskAction, TaskDetail, TaskFilter, TaskNote, TaskRequest, TasksFromQuery,
};
use tiaokuai_policies::Caller;
use utoipa::IntoParams;

use super::AppState;
use super::error::{ApiError, ErrorBody};
use super::extract::{ApiJson, ApiPath, OptionalJson};

/// `GET /v1/tasks?status=&jurisdiction=&overdue=`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TaskQuery {
    /// `dispatched`, `accepted`, `resolved`, `verified` or `returned`.
    #[param(value_type = Option<TaskStatus>)]
    status: Option<String>,
    /// Tasks assigned inside this jurisdiction (12 digits).
    #[param(value_type = Option<JurisdictionCode>)]
    jurisdiction: Option<String>,
    /// `true`: only tasks with a clock running late.
    #[param(value_type = Option<bool>)]
    overdue: Option<String>,
}

impl TaskQuery {
    fn filter(self) -> Result<TaskFilter, ApiError> {
        let status = self
            .status
            .map(|s| {
                TaskStatus::parse(&s).ok_or_else(|| {
                    ApiError::bad_request(format!(
                        "status: one of dispatched, accepted, resolved, verified, returned; not {s:?}"
                    ))
                })
            })
            .transpose()?;
        let jurisdiction = self
            .jurisdiction
            .map(|j| {
                JurisdictionCode::parse(&j)
                    .map_err(|e| ApiError::bad_request(format!("jurisdiction: {e}")))
            })
            .transpose()?;
        let overdue = match self.overdue.as_deref() {
            None | Some("false") => false,
            Some("true") => true,
            Some(other) => {
                return Err(ApiError::bad_request(format!(
                    "overdue: true or false, not {other:?}"
                )));
            }
        };
        Ok(TaskFilter {
            status,
            jurisdiction,
            overdue,
        })
    }
}

/// Dispatches one task to a jurisdiction; its accept clock (30 minutes unless set) starts now.
#[utoipa::path(post, path = "/v1/tasks", tag = "tasks",
    request_body = TaskRequest,
    responses(
        (status = 201, description = "the task, dispatched", body = TaskRecord),
        (status = 400, description = "bad_request: a malformed body, an empty title, a category or department that is not an identifier, a clock out of range, a jurisdiction not in the tree", body = ErrorBody),
        (status = 401, description = "no, unknown or revoked token", body = ErrorBody),
        (status = 403, description = "permission_denied: no dispatch on tasks.<category> in that jurisdiction", body = ErrorBody),
        (status = 413, description = "too_large: the body is over the limit", body = ErrorBody),
        (status = 500, description = "internal", body = ErrorBody),
    ))]
pub async fn create_task(
    State(app): State<AppState>,
    Extension(caller): Extension<Arc<Caller>>,
    ApiJson(request): ApiJson<TaskRequest>,
) -> Result<(StatusCode, Json<TaskRecord>), ApiError> {
    let task = app.governance.create_task(&caller, request).await?;
    Ok((StatusCode::CREATED, Json(task)))
}

/// Runs a query as the caller and dispatches one task for each row of its result, to the
/// jurisdiction the row names: every task, or none if one of them may not be dispatched.
#[utoipa::path(post, path = "/v1/tasks/from-query", tag = "tasks",
    request_body = TasksFromQuery,
    responses(
        (status = 201, description = "the tasks dispatched, one per row", body = Vec<TaskRecord>),
        (status = 400, description = "bad_request or invalid_sql: as for a task, and a query that does not run, gives more than 1000 rows, lacks the jurisdiction column or gives a code not in the tree, or a template naming no column", body = ErrorBody),
        (status = 401, description = "no, unknown or revoked token", body = ErrorBody),
        (status = 403, description = "permission_denied: the query reads what the caller may not, or a row's jurisdiction is outside the caller's dispatch", body = ErrorBody),
        (status = 413, description = "too_large: the body or the SQL text is over its limit", body = ErrorBody),
        (status = 429, description = "overloaded: the caller already runs its limit of queries", body = ErrorBody),
        (status = 500, description = "internal", body = ErrorBody),
        (status = 502, description = "source_unavailable: a source did not answer or failed", body = ErrorBody),
        (status = 503, description = "resources_exhausted: the query needs more memory than the server allows; audit_unavailable: its audit record could not be written, so it was not run", body = ErrorBody),
        (status = 504, description = "timeout: the query ran past its time limit", body = ErrorBody),
    ))]
pub async fn create_tasks_from_query(
    State(app): State<AppState>,
    Extension(caller): Extension<Arc<Caller>>,
    client: super::extract::ClientAddr,
    ApiJson(request): ApiJson<TasksFromQuery>,
) -> Result<(StatusCode, Json<Vec<TaskRecord>>), ApiError> {
    if request.sql.len() > app.limits.max_sql_bytes {
        return Err(ApiError::too_large(format!(
            "the SQL text is {} bytes; the limit is {}",
            request.sql.len(),
            app.limits.max_sql_bytes
        )));
    }
    let query_id = tiaokuai_catalog::token::new_id("q");
    crate::traces::name_query(&query_id);
    let client = client.text();
    let trace = QueryTrace {
        query_id: &query_id,
        format: "tasks",
        protocol: "http",
        client: client.as_deref(),
    };
    let tasks = app
        .governance
        .create_tasks_from_query(&caller, trace, request)
        .await?;
    Ok((StatusCode::CREATED, Json(tasks)))
}

#[utoipa::path(get, path = "/v1/tasks", tag = "tasks",
    params(TaskQuery),
    responses(
        (status = 200, description = "the tasks the caller may see (assigned in or below its jurisdictions, created by it, or in its dispatch), newest first", body = Vec<TaskRecord>),
        (status = 400, description = "bad_request: an unknown status, a malformed jurisdiction or overdue", body = ErrorBody),
        (status = 401, description = "no, unknown or revoked token", body = ErrorBody),
        (status = 500, description = "internal", body = ErrorBody),
    ))]
pub async fn list_tasks(
    State(app): State<AppState>,
    Extension(caller): Extension<Arc<Caller>>,
    query: Result<Query<TaskQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Vec<TaskRecord>>, ApiError> {
    let filter = query
        .map_err(|e| ApiError::bad_request(e.body_text()))?
        .0
        .filter()?;
    Ok(Json(app.governance.tasks(&caller, filter).await?))
}

#[utoipa::path(get, path = "/v1/tasks/{id}", tag = "tasks",
    params(("id" = String, Path, description = "the task's id")),
    responses(
        (status = 200, description = "the task and its history", body = TaskDetail),
        (status = 400, description = "bad_request: an id that is not UTF-8", body = ErrorBody),
        (status = 401, description = "no, unknown or revoked token", body = ErrorBody),
        (status = 404, description = "not_found: no such task, or one the caller may not see", body = ErrorBody),
        (status = 500, description = "internal", body = ErrorBody),
    ))]
pub async fn get_task(
    State(app): State<AppState>,
    Extension(caller): Extension<Arc<Caller>>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<TaskDetail>, ApiError> {
    Ok(Json(app.governance.task(&caller, &id).await?))
}

async fn act(
    app: &AppState,
    caller: &Caller,
    id: &str,
    action: TaskAction,
) -> Result<Json<TaskRecord>, ApiError> {
    Ok(Json(app.governance.act_on_task(caller, id, action).await?))
}

/// Accepts a dispatched task (待受理 → 处理中); its handle clock starts.
#[utoipa::path(post, path = "/v1/tasks/{id}/accept", tag = "tasks",
    params(("id" = String, Path, description = "the task's id")),
    request_body(content = Option<TaskNote>, description = "may be left out", example = json!({"note": "已安排网格员前往"})),
    responses(
        (status = 200, description = "the task, accepted", body = TaskRecord),
        (status = 400, description = "bad_request: a malformed body or an over-long note", body = ErrorBody),
        (status = 401, description = "no, unknown or revoked token", body = ErrorBody),
        (status = 403, description = "permission_denied: the caller holds no role in the task's jurisdiction or above it", body = ErrorBody),
        (status = 404, description = "not_found: no such task", body = ErrorBody),
        (status = 409, description = "conflict: the task is not dispatched (accepted already, say)", body = ErrorBody),
        (status = 500, description = "internal", body = ErrorBody),
    ))]
pub async fn accept_task(
    State(app): State<AppState>,
    Extension(caller): Extension<Arc<Caller>>,
    ApiPath(id): ApiPath<String>,
    OptionalJson(note): OptionalJson<TaskNote>,
) -> Result<Json<TaskRecord>, ApiError> {
    act(&app, &caller, &id, TaskAction::Accept(note)).await
}

/// Resolves an accepted or returned task (→ 办结待验证); its verify clock starts.
#[utoipa::path(post, path = "/v1/tasks/{id}/resolve", tag = "tasks",
    params(("id" = String, Path, description = "the task's id")),
    request_body(content = Option<TaskNote>, description = "may be left out", example = json!({"note": "已走访，记录已上传"})),
    responses(
        (status = 200, description = "the task, resolved", body = TaskRecord),
        (status = 400, description = "bad_request: a malformed body or an over-long note", body = ErrorBody),
        (status = 401, description = "no, unknown or revoked token", body = ErrorBody),
        (status = 403, description = "permission_denied: the caller holds no role in the task's jurisdiction or above it", body = ErrorBody),
        (status = 404, description = "not_found: no such task", body = ErrorBody),
        (status = 409, description = "conflict: the task is neither accepted nor returned (resolved already, say)", body = ErrorBody),
        (status = 500, description = "internal", body = ErrorBody),
    ))]
pub async fn resolve_task(
    State(app): State<AppState>,
    Extension(caller): Extension<Arc<Caller>>,
    ApiPath(id): ApiPath<String>,
    OptionalJson(note): OptionalJson<TaskNote>,
) -> Result<Json<TaskRecord>, ApiError> {
    act(&app, &caller, &id, TaskAction::Resolve(note)).await
}

/// Verifies a resolved task (→ 已验证): the task is closed.
#[utoipa::path(post, path = "/v1/tasks/{id}/verify", tag = "tasks",
    params(("id" = String, Path, description = "the task's id")),
    request_body(content = Option<TaskNote>, description = "may be left out", example = json!({"note": "核实无误"})),
    responses(
        (status = 200, description = "the task, verified", body = TaskRecord),
        (status = 400, description = "bad_request: a malformed body or an over-long note", body = ErrorBody),
        (status = 401, description = "no, unknown or revoked token", body = ErrorBody),
        (status = 403, description = "permission_denied: no dispatch on tasks.<category> in the task's jurisdiction", body = ErrorBody),
        (status = 404, description = "not_found: no such task", body = ErrorBody),
        (status = 409, description = "conflict: the task is not resolved", body = ErrorBody),
        (status = 500, description = "internal", body = ErrorBody),
    ))]
pub async fn verify_task(
    State(app): State<AppState>,
    Extension(caller): Extension<Arc<Caller>>,
    ApiPath(id): ApiPath<String>,
    OptionalJson(note): OptionalJson<TaskNote>,
) -> Result<Json<TaskRecord>, ApiError> {
    act(&app, &caller, &id, TaskAction::Verify(note)).await
}

/// Returns a resolution (→ 回退): the assignee handles the task again, with the reason.
#[utoipa::path(post, path = "/v1/tasks/{id}/return", tag = "tasks",
    params(("id" = String, Path, description = "the task's id")),
    request_body(content = ReturnRequest, example = json!({"reason": "走访记录缺少照片"})),
    responses(
        (status = 200, description = "the task, returned to its assignee", body = TaskRecord),
        (status = 400, description = "bad_request: a malformed body, or no reason", body = ErrorBody),
        (status = 401, description = "no, unknown or revoked token", body = ErrorBody),
        (status = 403, description = "permission_denied: no dispatch on tasks.<category> in the task's jurisdiction", body = ErrorBody),
        (status = 404, description = "not_found: no such task", body = ErrorBody),
        (status = 409, description = "conflict: the task is not resolved", body = ErrorBody),
        (status = 500, description = "internal", body = ErrorBody),
    ))]
pub async fn return_task(
    State(app): State<AppState>,
    Extension(caller): Extension<Arc<Caller>>,
    ApiPath(id): ApiPath<String>,
    ApiJson(request): ApiJson<ReturnRequest>,
) -> Result<Json<TaskRecord>, ApiError> {
    act(&app, &caller, &id, TaskAction::Return(request)).await
}
