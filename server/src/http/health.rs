//! Liveness, readiness and metrics.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::Serialize;
use tiaokuai_policies::Caller;
use utoipa::ToSchema;

use super::AppState;
use super::error::{ApiError, ErrorBody};

/// How the server is.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    #[schema(value_type = String, schema_with = status_schema)]
    pub status: &'static str,
}

fn status_schema() -> utoipa::openapi::Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::Type::String)
        .enum_values(Some(["ok", "ready", "catalog unreachable"]))
        .build()
}

#[utoipa::path(get, path = "/healthz", tag = "health", security(),
    responses((status = 200, description = "the process is alive", body = Health)))]
pub async fn healthz() -> Json<Health> {
    Json(Health { status: "ok" })
}

#[utoipa::path(get, path = "/readyz", tag = "health", security(),
    responses(
        (status = 200, description = "the catalog answers", body = Health),
        (status = 503, description = "it does not", body = Health),
    ))]
pub async fn readyz(State(app): State<AppState>) -> (StatusCode, Json<Health>) {
    match app.engine.ping().await {
        Ok(()) => (StatusCode::OK, Json(Health { status: "ready" })),
        Err(error) => {
            tracing::warn!(%error, "catalog not reachable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(Health {
                    status: "catalog unreachable",
                }),
            )
        }
    }
}

/// Prometheus text exposition (see `tiaokuai_engine::telemetry`).
#[utoipa::path(get, path = "/metrics", tag = "health",
    responses(
        (status = 200, description = "Prometheus metrics", body = String, content_type = "text/plain; version=0.0.4"),
        (status = 401, description = "no, unknown or revoked token", body = ErrorBody),
        (status = 403, description = "permission_denied: neither admin nor allowed to audit system.metrics everywhere", body = ErrorBody),
        (status = 500, description = "internal", body = ErrorBody),
    ))]
pub async fn metrics(
    State(app): State<AppState>,
    Extension(caller): Extension<Arc<Caller>>,
) -> Result<Response, ApiError> {
    let text = app.engine.metrics(&caller).await?;
    Ok((
        [(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        text,
    )
        .into_response())
}
