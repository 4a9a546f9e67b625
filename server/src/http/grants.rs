//! Grants (`admin`): the folders, buckets, hosts and secret namespaces that sources owned by a
//! jurisdiction may use when a non-admin registers them.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde_json::Value;
use tiaokuai_engine::GrantRequest;
use tiaokuai_policies::Caller;

use super::error::ApiError;
use super::extract::ApiJson;
use super::{AppState, to_json};

/// Grants a location or secret namespace to a jurisdiction:
/// `{"jurisdiction", "kind": "path"|"s3"|"host"|"env"|"secret_file", "location"}`.
#[utoipa::path(post, path = "/v1/grants", responses((status = 201, description = "the grant with its id, its location in its one written form"), (status = 400, description = "unknown kind, malformed location or jurisdiction"), (status = 403, description = "not admin"), (status = 409, description = "the jurisdiction already holds this grant")))]
pub async fn add_grant(
    State(app): State<AppState>,
    Extension(caller): Extension<Arc<Caller>>,
    ApiJson(request): ApiJson<GrantRequest>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    Ok((
        StatusCode::CREATED,
        to_json(app.engine.add_grant(&caller, request).await?),
    ))
}

#[utoipa::path(get, path = "/v1/grants", responses((status = 200, description = "every grant"), (status = 403, description = "not admin")))]
pub async fn list_grants(
    State(app): State<AppState>,
    Extension(caller): Extension<Arc<Caller>>,
) -> Result<Json<Value>, ApiError> {
    Ok(to_json(app.engine.grants(&caller).await?))
}

/// Revokes a grant: sources that relied on it fail from the next query on.
#[utoipa::path(delete, path = "/v1/grants/{id}", responses((status = 204, description = "revoked"), (status = 403, description = "not admin"), (status = 404, description = "unknown id")))]
pub async fn delete_grant(
    State(app): State<AppState>,
    Extension(caller): Extension<Arc<Caller>>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    app.engine.delete_grant(&caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
