//! Alerts (`/v1/alerts`): conditions on every stored run of a report that dispatch tasks when
//! they hold.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use tiaokuai_catalog::AlertRecord;
use tiaokuai_governance::{AlertDetail, AlertRequest};
use tiaokuai_policies::Caller;

use super::AppState;
use super::error::{ApiError, ErrorBody};
use super::extract::{ApiJson, ApiPath};

/// Saves an alert on a report: from now on, every stored run of the report is judged by it,
/// and when it fires it dispatches tasks as the caller.
#[utoipa::path(post, path = "/v1/alerts", tag = "alerts",
    request_body = AlertRequest,
    responses(
        (status = 201, description = "the alert", body = AlertRecord),
        (status = 400, description = "bad_request: a malformed body, an empty name, a condition without its bounds, a level other than village or township, a jurisdiction not in the tree, a task as POST /v1/tasks refuses it", body = ErrorBody),
        (status = 401, description = "no, unknown or revoked token", body = ErrorBody),
        (status = 403, description = "permission_denied: no dispatch on tasks.<category> in the alert's jurisdiction", body = ErrorBody),
        (status = 404, description = "not_found: no such report, or one the caller may neither run nor manage", body = ErrorBody),
        (status = 409, description = "conflict: the report has 20 alerts already", body = ErrorBody),
        (status = 413, description = "too_large: the body is over the limit", body = ErrorBody),
        (status = 500, description = "internal", body = ErrorBody),
    ))]
pub async fn create_alert(
    State(app): State<AppState>,
    Extension(caller): Extension<Arc<Caller>>,
    ApiJson(request): ApiJson<AlertRequest>,
) -> Result<(StatusCode, Json<AlertRecord>), ApiError> {
    let alert = app.governance.create_alert(&caller, request).await?;
    Ok((StatusCode::CREATED, Json(alert)))
}

#[utoipa::path(get, path = "/v1/alerts", tag = "alerts",
    responses(
        (status = 200, description = "the alerts the caller made, or whose report it manages (every alert, for admin)", body = Vec<AlertRecord>),
        (status = 401, description = "no, unknown or revoked token", body = ErrorBody),
        (status = 500, description = "internal", body = ErrorBody),
    ))]
pub async fn list_alerts(
    State(app): State<AppState>,
    Extension(caller): Extension<Arc<Caller>>,
) -> Result<Json<Vec<AlertRecord>>, ApiError> {
    Ok(Json(app.governance.alerts(&caller).await?))
}

#[utoipa::path(get, path = "/v1/alerts/{id}", tag = "alerts",
    params(("id" = String, Path, description = "the alert's id")),
    responses(
        (status = 200, description = "the alert, and what each run came to (newest first)", body = AlertDetail),
        (status = 400, description = "bad_request: an id that is not UTF-8", body = ErrorBody),
        (status = 401, description = "no, unknown or revoked token", body = ErrorBody),
        (status = 404, description = "not_found: no such alert, or one the caller may not manage", body = ErrorBody),
        (status = 500, description = "internal", body = ErrorBody),
    ))]
pub async fn get_alert(
    State(app): State<AppState>,
    Extension(caller): Extension<Arc<Caller>>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<AlertDetail>, ApiError> {
    Ok(Json(app.governance.alert(&caller, &id).await?))
}

/// Deletes an alert; the tasks it dispatched stay.
#[utoipa::path(delete, path = "/v1/alerts/{id}", tag = "alerts",
    params(("id" = String, Path, description = "the alert's id")),
    responses(
        (status = 204, description = "deleted"),
        (status = 400, description = "bad_request: an id that is not UTF-8", body = ErrorBody),
        (status = 401, description = "no, unknown or revoked token", body = ErrorBody),
        (status = 404, description = "not_found: no such alert, or one the caller may not manage", body = ErrorBody),
        (status = 500, description = "internal", body = ErrorBody),
    ))]
pub async fn delete_alert(
    State(app): State<AppState>,
    Extension(caller): Extension<Arc<Caller>>,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    app.governance.delete_alert(&caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
