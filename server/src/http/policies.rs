//! Policies and role assignments (`admin`). A change applies to the next query.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde_json::Value;
use tiaokuai_engine::{PolicyRequest, RoleAssignmentRequest};
use tiaokuai_policies::Caller;

use super::error::ApiError;
use super::extract::ApiJson;
use super::{AppState, to_json};

/// Adds a policy line: `{"role", "jurisdiction", "object", "action", "effect"}`.
#[utoipa::path(post, path = "/v1/policies", responses((status = 201, description = "the stored line with its id"), (status = 400, description = "malformed line"), (status = 409, description = "the line exists")))]
pub async fn add_policy(
    State(app): State<AppState>,
    Extension(caller): Extension<Arc<Caller>>,
    ApiJson(request): ApiJson<PolicyRequest>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    Ok((
        StatusCode::CREATED,
        to_json(app.engine.add_policy(&caller, request).await?),
    ))
}

#[utoipa::path(get, path = "/v1/policies", responses((status = 200, description = "every policy line")))]
pub async fn list_policies(
    State(app): State<AppState>,
    Extension(caller): Extension<Arc<Caller>>,
) -> Result<Json<Value>, ApiError> {
    Ok(to_json(app.engine.policies(&caller).await?))
}

#[utoipa::path(delete, path = "/v1/policies/{id}", responses((status = 204, description = "deleted"), (status = 404, description = "unknown id")))]
pub async fn delete_policy(
    State(app): State<AppState>,
    Extension(caller): Extension<Arc<Caller>>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    app.engine.delete_policy(&caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Gives a principal a role in a jurisdiction: `{"principal", "role", "jurisdiction"}`.
#[utoipa::path(post, path = "/v1/role-assignments", responses((status = 201, description = "the assignment with its id"), (status = 400, description = "malformed"), (status = 404, description = "unknown principal")))]
pub async fn assign_role(
    State(app): State<AppState>,
    Extension(caller): Extension<Arc<Caller>>,
    ApiJson(request): ApiJson<RoleAssignmentRequest>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    Ok((
        StatusCode::CREATED,
        to_json(app.engine.assign_role(&caller, request).await?),
    ))
}

#[utoipa::path(get, path = "/v1/role-assignments", responses((status = 200, description = "every role assignment")))]
pub async fn list_role_assignments(
    State(app): State<AppState>,
    Extension(caller): Extension<Arc<Caller>>,
) -> Result<Json<Value>, ApiError> {
    Ok(to_json(app.engine.role_assignments(&caller).await?))
}

#[utoipa::path(delete, path = "/v1/role-assignments/{id}", responses((status = 204, description = "deleted"), (status = 404, description = "unknown id")))]
pub async fn unassign_role(
    State(app): State<AppState>,
    Extension(caller): Extension<Arc<Caller>>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    app.engine.unassign_role(&caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
