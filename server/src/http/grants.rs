//! Grants (`admin`): the folders, buckets, hosts and secret namespaces that sources owned by a
//! jurisdiction may use when a non-admin registers them.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use tiaokuai_catalog::GrantRecord;
use tiaokuai_engine::GrantRequest;
use tiaokuai_policies::Caller;

use super::AppState;
use super::error::{ApiError, ErrorBody};
use super::extract::{ApiJson, ApiPath};

/// Grants a location or secret namespace to a jurisdiction.
#[utoipa::path(post, path = "/v1/grants", tag = "admin",
    request_body(content = GrantRequest, example = json!({"jurisdiction": "330824116000", "kind": "path", "location": "/srv/majin/"})),
    responses(
        (status = 201, description = "the grant with its id, its location in its one written form", body = GrantRecord),
        (status = 400, description = "bad_request: malformed body, a location malformed for its kind, or a jurisdiction not in the tree", body = ErrorBody),
        (status = 401, description = "no, unknown or revoked token", body = ErrorBody),
        (status = 403, description = "not admin", body = ErrorBody),
        (status = 409, description = "the jurisdiction already holds this grant", body = ErrorBody),
        (status = 413, description = "the body is over the limit", body = ErrorBody),
        (status = 500, description = "internal", body = ErrorBody),
    ))]
pub async fn add_grant(
    State(app): State<AppState>,
    Extension(caller): Extension<Arc<Caller>>,
    ApiJson(request): ApiJson<GrantRequest>,
) -> Result<(StatusCode, Json<GrantRecord>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(app.engine.add_grant(&caller, request).await?),
    ))
}

#[utoipa::path(get, path = "/v1/grants", tag = "admin",
    responses(
        (status = 200, description = "every grant", body = Vec<GrantRecord>),
        (status = 401, description = "no, unknown or revoked token", body = ErrorBody),
        (status = 403, description = "not admin", body = ErrorBody),
        (status = 500, description = "internal", body = ErrorBody),
    ))]
pub async fn list_grants(
    State(app): State<AppState>,
    Extension(caller): Extension<Arc<Caller>>,
) -> Result<Json<Vec<GrantRecord>>, ApiError> {
    Ok(Json(app.engine.grants(&caller).await?))
}

/// Revokes a grant: sources that relied on it fail from the next query on.
#[utoipa::path(delete, path = "/v1/grants/{id}", tag = "admin",
    params(("id" = String, Path, description = "the grant's id")),
    responses(
        (status = 204, description = "revoked"),
        (status = 400, description = "bad_request: an id that is not UTF-8", body = ErrorBody),
        (status = 401, description = "no, unknown or revoked token", body = ErrorBody),
        (status = 403, description = "not admin", body = ErrorBody),
        (status = 404, description = "unknown id", body = ErrorBody),
        (status = 500, description = "internal", body = ErrorBody),
    ))]
pub async fn delete_grant(
    State(app): State<AppState>,
    Extension(caller): Extension<Arc<Caller>>,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    app.engine.delete_grant(&caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
