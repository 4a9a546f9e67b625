//! Liveness, readiness and metrics.

use std::sync::atomic::Ordering;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};

use super::AppState;

#[utoipa::path(get, path = "/healthz", responses((status = 200, description = "the process is alive")))]
pub async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

#[utoipa::path(get, path = "/readyz", responses((status = 200, description = "the catalog answers"), (status = 503, description = "it does not")))]
pub async fn readyz(State(app): State<AppState>) -> (StatusCode, Json<Value>) {
    match app.engine.ping().await {
        Ok(()) => (StatusCode::OK, Json(json!({"status": "ready"}))),
        Err(error) => {
            tracing::warn!(%error, "catalog not reachable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({"status": "catalog unreachable"})),
            )
        }
    }
}

/// Prometheus text exposition.
#[utoipa::path(get, path = "/metrics", responses((status = 200, description = "Prometheus metrics")))]
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
