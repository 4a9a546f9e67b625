//! Principals and tokens (`admin`).

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use tiaokuai_catalog::{Principal, TokenInfo};
use tiaokuai_policies::Caller;
use utoipa::ToSchema;

use super::AppState;
use super::error::{ApiError, ErrorBody};
use super::extract::{ApiJson, ApiPath};

/// `POST /v1/principals`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PrincipalRequest {
    /// 1 to 64 characters of a-z, 0-9, `_`, `.`, `-`.
    #[schema(pattern = r"^[a-z0-9_.-]{1,64}$(?!\n)", examples("alice"))]
    name: String,
}

/// `POST /v1/tokens`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenRequest {
    /// The principal's name.
    #[schema(examples("xiashan_official"))]
    principal: String,
}

/// A token as issued: the only answer that ever holds it.
#[derive(Debug, Serialize, ToSchema)]
pub struct IssuedToken {
    pub id: String,
    pub principal: String,
    /// The bearer token. Stored hashed: it cannot be shown again.
    pub token: String,
    pub created_at: String,
}

#[utoipa::path(post, path = "/v1/principals", tag = "admin",
    request_body(content = PrincipalRequest, example = json!({"name": "alice"})),
    responses(
        (status = 201, description = "the principal", body = Principal),
        (status = 400, description = "bad_request: malformed body or name", body = ErrorBody),
        (status = 401, description = "no, unknown or revoked token", body = ErrorBody),
        (status = 403, description = "not admin", body = ErrorBody),
        (status = 409, description = "the name is taken", body = ErrorBody),
        (status = 413, description = "the body is over the limit", body = ErrorBody),
        (status = 500, description = "internal", body = ErrorBody),
    ))]
pub async fn create_principal(
    State(app): State<AppState>,
    Extension(caller): Extension<Arc<Caller>>,
    ApiJson(request): ApiJson<PrincipalRequest>,
) -> Result<(StatusCode, Json<Principal>), ApiError> {
    let principal = app.engine.create_principal(&caller, &request.name).await?;
    Ok((StatusCode::CREATED, Json(principal)))
}

#[utoipa::path(get, path = "/v1/principals", tag = "admin",
    responses(
        (status = 200, description = "every principal", body = Vec<Principal>),
        (status = 401, description = "no, unknown or revoked token", body = ErrorBody),
        (status = 403, description = "not admin", body = ErrorBody),
        (status = 500, description = "internal", body = ErrorBody),
    ))]
pub async fn list_principals(
    State(app): State<AppState>,
    Extension(caller): Extension<Arc<Caller>>,
) -> Result<Json<Vec<Principal>>, ApiError> {
    Ok(Json(app.engine.principals(&caller).await?))
}

/// Issues a token; the token is in this response only and is stored hashed.
#[utoipa::path(post, path = "/v1/tokens", tag = "admin",
    request_body(content = TokenRequest, example = json!({"principal": "xiashan_official"})),
    responses(
        (status = 201, description = "the token, shown this once", body = IssuedToken),
        (status = 400, description = "bad_request: malformed body", body = ErrorBody),
        (status = 401, description = "no, unknown or revoked token", body = ErrorBody),
        (status = 403, description = "not admin", body = ErrorBody),
        (status = 404, description = "unknown principal", body = ErrorBody),
        (status = 413, description = "the body is over the limit", body = ErrorBody),
        (status = 500, description = "internal", body = ErrorBody),
    ))]
pub async fn issue_token(
    State(app): State<AppState>,
    Extension(caller): Extension<Arc<Caller>>,
    ApiJson(request): ApiJson<TokenRequest>,
) -> Result<(StatusCode, Json<IssuedToken>), ApiError> {
    let (info, token) = app.engine.issue_token(&caller, &request.principal).await?;
    Ok((
        StatusCode::CREATED,
        Json(IssuedToken {
            id: info.id,
            principal: info.principal,
            token,
            created_at: info.created_at,
        }),
    ))
}

#[utoipa::path(get, path = "/v1/tokens", tag = "admin",
    responses(
        (status = 200, description = "every token, without its secret", body = Vec<TokenInfo>),
        (status = 401, description = "no, unknown or revoked token", body = ErrorBody),
        (status = 403, description = "not admin", body = ErrorBody),
        (status = 500, description = "internal", body = ErrorBody),
    ))]
pub async fn list_tokens(
    State(app): State<AppState>,
    Extension(caller): Extension<Arc<Caller>>,
) -> Result<Json<Vec<TokenInfo>>, ApiError> {
    Ok(Json(app.engine.tokens(&caller).await?))
}

#[utoipa::path(delete, path = "/v1/tokens/{id}", tag = "admin",
    params(("id" = String, Path, description = "the token's id (not the token)")),
    responses(
        (status = 204, description = "revoked"),
        (status = 400, description = "bad_request: an id that is not UTF-8", body = ErrorBody),
        (status = 401, description = "no, unknown or revoked token", body = ErrorBody),
        (status = 403, description = "not admin", body = ErrorBody),
        (status = 404, description = "unknown or already revoked", body = ErrorBody),
        (status = 500, description = "internal", body = ErrorBody),
    ))]
pub async fn revoke_token(
    State(app): State<AppState>,
    Extension(caller): Extension<Arc<Caller>>,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    app.engine.revoke_token(&caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
