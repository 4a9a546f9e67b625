//! Principals and tokens (`admin`).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::{Value, json};
use tiaokuai_policies::Caller;

use super::error::ApiError;
use super::extract::ApiJson;
use super::{AppState, to_json};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrincipalRequest {
    name: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenRequest {
    principal: String,
}

#[utoipa::path(post, path = "/v1/principals", responses((status = 201, description = "the principal"), (status = 409, description = "name taken")))]
pub async fn create_principal(
    State(app): State<AppState>,
    Extension(caller): Extension<Arc<Caller>>,
    ApiJson(request): ApiJson<PrincipalRequest>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let principal = app.engine.create_principal(&caller, &request.name).await?;
    Ok((StatusCode::CREATED, to_json(principal)))
}

#[utoipa::path(get, path = "/v1/principals", responses((status = 200, description = "the principals")))]
pub async fn list_principals(
    State(app): State<AppState>,
    Extension(caller): Extension<Arc<Caller>>,
) -> Result<Json<Value>, ApiError> {
    Ok(to_json(app.engine.principals(&caller).await?))
}

/// Issues a token; the token is in this response only and is stored hashed.
#[utoipa::path(post, path = "/v1/tokens", responses((status = 201, description = "{id, principal, token, created_at}"), (status = 404, description = "unknown principal")))]
pub async fn issue_token(
    State(app): State<AppState>,
    Extension(caller): Extension<Arc<Caller>>,
    ApiJson(request): ApiJson<TokenRequest>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let (info, token) = app.engine.issue_token(&caller, &request.principal).await?;
    Ok((
        StatusCode::CREATED,
        Json(
            json!({"id": info.id, "principal": info.principal, "token": token, "created_at": info.created_at}),
        ),
    ))
}

#[utoipa::path(get, path = "/v1/tokens", responses((status = 200, description = "tokens, without their secrets")))]
pub async fn list_tokens(
    State(app): State<AppState>,
    Extension(caller): Extension<Arc<Caller>>,
) -> Result<Json<Value>, ApiError> {
    Ok(to_json(app.engine.tokens(&caller).await?))
}

#[utoipa::path(delete, path = "/v1/tokens/{id}", responses((status = 204, description = "revoked"), (status = 404, description = "unknown or already revoked")))]
pub async fn revoke_token(
    State(app): State<AppState>,
    Extension(caller): Extension<Arc<Caller>>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    app.engine.revoke_token(&caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
