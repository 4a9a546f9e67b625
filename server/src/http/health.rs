//! Liveness, readiness and metrics.

use std::sync::atomic::Ordering;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;

use super::AppState;
use super::error::ErrorBody;

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

/// Prometheus text exposition.
#[utoipa::path(get, path = "/metrics", tag = "health",
    responses(
        (status = 200, description = "Prometheus metrics", body = String, content_type = "text/plain"),
        (status = 401, description = "no, unknown or revoked token", body = ErrorBody),
        (status = 500, description = "internal", body = ErrorBody),
    ))]
pub async fn metrics(State(app): State<AppState>) -> String {
    let started = app.metrics.queries_started.load(Ordering::Relaxed);
    let failed = app.metrics.queries_failed.load(Ordering::Relaxed);
    format!(
        "# HELP tiaokuai_queries_started_total Queries accepted for execution.\n\
         # TYPE tiaokuai_queries_started_total counter\n\
         tiaokuai_queries_started_total {started}\n\
         # HELP tiaokuai_queries_failed_total Queries refused or failed before streaming.\n\
         # TYPE tiaokuai_queries_failed_total counter\n\
         tiaokuai_queries_failed_total {failed}\n"
    )
}
