//! Policies and role assignments (`admin`). A change applies to the next query.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use tiaokuai_catalog::{PolicyRecord, RoleAssignment};
use tiaokuai_engine::{PolicyRequest, RoleAssignmentRequest};
use tiaokuai_policies::Caller;

use super::AppState;
use super::error::{ApiError, ErrorBody};
use super::extract::{ApiJson, ApiPath};

/// Adds a policy line.
#[utoipa::path(post, path = "/v1/policies", tag = "admin",
    request_body(content = PolicyRequest, example = json!({"role": "dispatcher", "jurisdiction": "330824116000", "object": "village.garden_orders", "action": "read", "effect": "deny"})),
    responses(
        (status = 201, description = "the stored line with its id", body = PolicyRecord),
        (status = 400, description = "bad_request: malformed line", body = ErrorBody),
        (status = 401, description = "no, unknown or revoked token", body = ErrorBody),
        (status = 403, description = "not admin", body = ErrorBody),
        (status = 409, description = "the line exists", body = ErrorBody),
        (status = 413, description = "the body is over the limit", body = ErrorBody),
        (status = 500, description = "internal", body = ErrorBody),
    ))]
pub async fn add_policy(
    State(app): State<AppState>,
    Extension(caller): Extension<Arc<Caller>>,
    ApiJson(request): ApiJson<PolicyRequest>,
) -> Result<(StatusCode, Json<PolicyRecord>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(app.engine.add_policy(&caller, request).await?),
    ))
}

#[utoipa::path(get, path = "/v1/policies", tag = "admin",
    responses(
        (status = 200, description = "every policy line", body = Vec<PolicyRecord>),
        (status = 401, description = "no, unknown or revoked token", body = ErrorBody),
        (status = 403, description = "not admin", body = ErrorBody),
        (status = 500, description = "internal", body = ErrorBody),
    ))]
pub async fn list_policies(
    State(app): State<AppState>,
    Extension(caller): Extension<Arc<Caller>>,
) -> Result<Json<Vec<PolicyRecord>>, ApiError> {
    Ok(Json(app.engine.policies(&caller).await?))
}

#[utoipa::path(delete, path = "/v1/policies/{id}", tag = "admin",
    params(("id" = String, Path, description = "the policy line's id")),
    responses(
        (status = 204, description = "deleted"),
        (status = 400, description = "bad_request: an id that is not UTF-8", body = ErrorBody),
        (status = 401, description = "no, unknown or revoked token", body = ErrorBody),
        (status = 403, description = "not admin", body = ErrorBody),
        (status = 404, description = "unknown id", body = ErrorBody),
        (status = 500, description = "internal", body = ErrorBody),
    ))]
pub async fn delete_policy(
    State(app): State<AppState>,
    Extension(caller): Extension<Arc<Caller>>,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    app.engine.delete_policy(&caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Gives a principal a role in a jurisdiction.
#[utoipa::path(post, path = "/v1/role-assignments", tag = "admin",
    request_body(content = RoleAssignmentRequest, example = json!({"principal": "xiashan_official", "role": "dispatcher", "jurisdiction": "330824116224"})),
    responses(
        (status = 201, description = "the assignment with its id", body = RoleAssignment),
        (status = 400, description = "bad_request: malformed body", body = ErrorBody),
        (status = 401, description = "no, unknown or revoked token", body = ErrorBody),
        (status = 403, description = "not admin", body = ErrorBody),
        (status = 404, description = "unknown principal", body = ErrorBody),
        (status = 409, description = "the principal already holds the role there", body = ErrorBody),
        (status = 413, description = "the body is over the limit", body = ErrorBody),
        (status = 500, description = "internal", body = ErrorBody),
    ))]
pub async fn assign_role(
    State(app): State<AppState>,
    Extension(caller): Extension<Arc<Caller>>,
    ApiJson(request): ApiJson<RoleAssignmentRequest>,
) -> Result<(StatusCode, Json<RoleAssignment>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(app.engine.assign_role(&caller, request).await?),
    ))
}

#[utoipa::path(get, path = "/v1/role-assignments", tag = "admin",
    responses(
        (status = 200, description = "every role assignment", body = Vec<RoleAssignment>),
        (status = 401, description = "no, unknown or revoked token", body = ErrorBody),
        (status = 403, description = "not admin", body = ErrorBody),
        (status = 500, description = "internal", body = ErrorBody),
    ))]
pub async fn list_role_assignments(
    State(app): State<AppState>,
    Extension(caller): Extension<Arc<Caller>>,
) -> Result<Json<Vec<RoleAssignment>>, ApiError> {
    Ok(Json(app.engine.role_assignments(&caller).await?))
}

#[utoipa::path(delete, path = "/v1/role-assignments/{id}", tag = "admin",
    params(("id" = String, Path, description = "the assignment's id")),
    responses(
        (status = 204, description = "deleted"),
        (status = 400, description = "bad_request: an id that is not UTF-8", body = ErrorBody),
        (status = 401, description = "no, unknown or revoked token", body = ErrorBody),
        (status = 403, description = "not admin", body = ErrorBody),
        (status = 404, description = "unknown id", body = ErrorBody),
        (status = 500, description = "internal", body = ErrorBody),
    ))]
pub async fn unassign_role(
    State(app): State<AppState>,
    Extension(caller): Extension<Arc<Caller>>,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    app.engine.unassign_role(&caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
