//! Webhooks (`/v1/webhooks`): endpoints told of dispatch, escalation and failed runs, and the
//! deliveries made to them.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::Deserialize;
use tiaokuai_catalog::{DeliveryStatus, WebhookRecord};
use tiaokuai_governance::{CreatedWebhook, WebhookDetail, WebhookRequest};
use tiaokuai_policies::Caller;
use utoipa::IntoParams;

use super::AppState;
use super::error::{ApiError, ErrorBody};
use super::extract::{ApiJson, ApiPath};

/// `GET /v1/webhooks/{id}?status=`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeliveryQuery {
    /// Only the deliveries that are `pending`, `delivered` or `failed`.
    #[param(value_type = Option<DeliveryStatus>)]
    status: Option<String>,
}

/// Registers a webhook. Its signing key is in the answer, once; every delivery carries
/// `X-Tiaokuai-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<body>">`.
#[utoipa::path(post, path = "/v1/webhooks", tag = "webhooks",
    request_body = WebhookRequest,
    responses(
        (status = 201, description = "the webhook, with its signing key (shown once)", body = CreatedWebhook),
        (status = 400, description = "bad_request: a malformed body or URL, credentials in the URL, an unknown event, a jurisdiction not in the tree", body = ErrorBody),
        (status = 401, description = "no, unknown or revoked token", body = ErrorBody),
        (status = 403, description = "permission_denied: no role in the jurisdiction or above it, or (for anyone but admin) a host admin has not granted to it", body = ErrorBody),
        (status = 409, description = "conflict: the caller (not admin) keeps 20 webhooks already", body = ErrorBody),
        (status = 413, description = "too_large: the body is over the limit", body = ErrorBody),
        (status = 500, description = "internal", body = ErrorBody),
    ))]
pub async fn create_webhook(
    State(app): State<AppState>,
    Extension(caller): Extension<Arc<Caller>>,
    ApiJson(request): ApiJson<WebhookRequest>,
) -> Result<(StatusCode, Json<CreatedWebhook>), ApiError> {
    let created = app.governance.create_webhook(&caller, request).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

#[utoipa::path(get, path = "/v1/webhooks", tag = "webhooks",
    responses(
        (status = 200, description = "the webhooks the caller made (every one, for admin); never their keys", body = Vec<WebhookRecord>),
        (status = 401, description = "no, unknown or revoked token", body = ErrorBody),
        (status = 500, description = "internal", body = ErrorBody),
    ))]
pub async fn list_webhooks(
    State(app): State<AppState>,
    Extension(caller): Extension<Arc<Caller>>,
) -> Result<Json<Vec<WebhookRecord>>, ApiError> {
    Ok(Json(app.governance.webhooks(&caller).await?))
}

#[utoipa::path(get, path = "/v1/webhooks/{id}", tag = "webhooks",
    params(("id" = String, Path, description = "the webhook's id"), DeliveryQuery),
    responses(
        (status = 200, description = "the webhook and its deliveries, newest first: `?status=failed` lists those every attempt failed", body = WebhookDetail),
        (status = 400, description = "bad_request: an id that is not UTF-8, or an unknown status", body = ErrorBody),
        (status = 401, description = "no, unknown or revoked token", body = ErrorBody),
        (status = 404, description = "not_found: no such webhook, or one another principal made", body = ErrorBody),
        (status = 500, description = "internal", body = ErrorBody),
    ))]
pub async fn get_webhook(
    State(app): State<AppState>,
    Extension(caller): Extension<Arc<Caller>>,
    ApiPath(id): ApiPath<String>,
    query: Result<Query<DeliveryQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<WebhookDetail>, ApiError> {
    let query = query.map_err(|e| ApiError::bad_request(e.body_text()))?.0;
    let status = query
        .status
        .map(|s| {
            DeliveryStatus::parse(&s).ok_or_else(|| {
                ApiError::bad_request(format!("status: pending, delivered or failed, not {s:?}"))
            })
        })
        .transpose()?;
    Ok(Json(app.governance.webhook(&caller, &id, status).await?))
}

/// Deletes a webhook and its deliveries.
#[utoipa::path(delete, path = "/v1/webhooks/{id}", tag = "webhooks",
    params(("id" = String, Path, description = "the webhook's id")),
    responses(
        (status = 204, description = "deleted"),
        (status = 400, description = "bad_request: an id that is not UTF-8", body = ErrorBody),
        (status = 401, description = "no, unknown or revoked token", body = ErrorBody),
        (status = 404, description = "not_found: no such webhook, or one another principal made", body = ErrorBody),
        (status = 500, description = "internal", body = ErrorBody),
    ))]
pub async fn delete_webhook(
    State(app): State<AppState>,
    Extension(caller): Extension<Arc<Caller>>,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    app.governance.delete_webhook(&caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
