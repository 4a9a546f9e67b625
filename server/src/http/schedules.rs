//! Schedules (`/v1/schedules`): reports stored on a cron expression in a time zone, as a named
//! principal, optionally once for each township.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use tiaokuai_governance::{ScheduleRequest, ScheduleView};
use tiaokuai_policies::Caller;

use super::AppState;
use super::error::{ApiError, ErrorBody};
use super::extract::{ApiJson, ApiPath};

/// Schedules a report: at each tick, it is run and stored (once for each jurisdiction of the
/// fan-out, each run narrowed to it), and its alerts judge every run.
#[utoipa::path(post, path = "/v1/schedules", tag = "schedules",
    request_body = ScheduleRequest,
    responses(
        (status = 201, description = "the schedule, with its first tick", body = ScheduleView),
        (status = 400, description = "bad_request: a malformed body, an invalid cron expression or one ticking more than once a minute, an unknown time zone, parameter values the report does not take (naming the parameter), an unknown run_as, a fan-out level other than township or village or one with no jurisdiction to run for", body = ErrorBody),
        (status = 401, description = "no, unknown or revoked token", body = ErrorBody),
        (status = 403, description = "permission_denied: run_as another principal without being admin, a run_as that may not run the report, or a jurisdiction parameter outside its scope", body = ErrorBody),
        (status = 404, description = "not_found: no such report, or one the caller may neither run nor manage", body = ErrorBody),
        (status = 409, description = "conflict: the caller (not admin) keeps 20 schedules already", body = ErrorBody),
        (status = 413, description = "too_large: the body is over the limit", body = ErrorBody),
        (status = 500, description = "internal", body = ErrorBody),
    ))]
pub async fn create_schedule(
    State(app): State<AppState>,
    Extension(caller): Extension<Arc<Caller>>,
    ApiJson(request): ApiJson<ScheduleRequest>,
) -> Result<(StatusCode, Json<ScheduleView>), ApiError> {
    let schedule = app.governance.create_schedule(&caller, request).await?;
    Ok((StatusCode::CREATED, Json(schedule)))
}

#[utoipa::path(get, path = "/v1/schedules", tag = "schedules",
    responses(
        (status = 200, description = "the schedules the caller made, runs as, or whose report it manages (every one, for admin)", body = Vec<ScheduleView>),
        (status = 401, description = "no, unknown or revoked token", body = ErrorBody),
        (status = 500, description = "internal", body = ErrorBody),
    ))]
pub async fn list_schedules(
    State(app): State<AppState>,
    Extension(caller): Extension<Arc<Caller>>,
) -> Result<Json<Vec<ScheduleView>>, ApiError> {
    Ok(Json(app.governance.schedules(&caller).await?))
}

#[utoipa::path(get, path = "/v1/schedules/{id}", tag = "schedules",
    params(("id" = String, Path, description = "the schedule's id")),
    responses(
        (status = 200, description = "the schedule: its next tick, and how its last one went", body = ScheduleView),
        (status = 400, description = "bad_request: an id that is not UTF-8", body = ErrorBody),
        (status = 401, description = "no, unknown or revoked token", body = ErrorBody),
        (status = 404, description = "not_found: no such schedule, or one the caller may not manage", body = ErrorBody),
        (status = 500, description = "internal", body = ErrorBody),
    ))]
pub async fn get_schedule(
    State(app): State<AppState>,
    Extension(caller): Extension<Arc<Caller>>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<ScheduleView>, ApiError> {
    Ok(Json(app.governance.schedule(&caller, &id).await?))
}

/// Deletes a schedule; its runs stay.
#[utoipa::path(delete, path = "/v1/schedules/{id}", tag = "schedules",
    params(("id" = String, Path, description = "the schedule's id")),
    responses(
        (status = 204, description = "deleted"),
        (status = 400, description = "bad_request: an id that is not UTF-8", body = ErrorBody),
        (status = 401, description = "no, unknown or revoked token", body = ErrorBody),
        (status = 404, description = "not_found: no such schedule, or one the caller may not manage", body = ErrorBody),
        (status = 500, description = "internal", body = ErrorBody),
    ))]
pub async fn delete_schedule(
    State(app): State<AppState>,
    Extension(caller): Extension<Arc<Caller>>,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    app.governance.delete_schedule(&caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
