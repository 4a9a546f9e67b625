//! The HTTP API of API.md. Handlers are thin: extract, call the engine, encode.

mod admin;
mod alerts;
mod audit;
mod auth;
mod catalog;
pub mod error;
mod extract;
mod grants;
mod health;
mod openapi;
mod policies;
mod queries;
mod query;
mod relay;
mod reports;
mod schedules;
mod sources;
mod tasks;
mod webhooks;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware::from_fn_with_state;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use tiaokuai_engine::Api;
use tiaokuai_governance::Governance;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::TraceLayer;

pub use error::ApiError;
pub use openapi::ApiDoc;

/// Request limits.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest request body accepted (413 above it).
    pub max_body_bytes: usize,
    /// Largest SQL text accepted (413 above it).
    pub max_sql_bytes: usize,
    /// How long a query's response may wait for its client to read before the query is
    /// cancelled and the response cut.
    pub send_idle_timeout: std::time::Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_body_bytes: 1 << 20,
            max_sql_bytes: 256 << 10,
            send_idle_timeout: std::time::Duration::from_secs(30),
        }
    }
}

/// Counters exported at `/metrics`.
/// What every handler can reach.
#[derive(Debug, Clone)]
pub struct AppState {
    pub engine: Arc<dyn Api>,
    pub governance: Arc<dyn Governance>,
    pub limits: Limits,
    /// Signs the audit chain (absent where no key is kept, as in handler tests).
    pub audit: Option<Arc<crate::audit::Signer>>,
}

impl AppState {
    pub fn new(engine: Arc<dyn Api>, governance: Arc<dyn Governance>, limits: Limits) -> Self {
        Self {
            engine,
            governance,
            limits,
            audit: None,
        }
    }
}

/// The whole API.
pub fn router(state: AppState) -> Router {
    let authenticated = Router::new()
        .route("/v1/query", post(query::query))
        .route("/v1/whoami", get(catalog::whoami))
        .route("/v1/audit", get(audit::list_audit))
        .route("/v1/queries", get(queries::list_queries))
        .route("/v1/queries/{id}", delete(queries::cancel_query))
        .route(
            "/v1/jurisdictions",
            get(catalog::list_jurisdictions).post(catalog::upsert_jurisdictions),
        )
        .route("/v1/tables", get(catalog::tables))
        .route(
            "/v1/sources",
            get(sources::list_sources).post(sources::register_source),
        )
        .route(
            "/v1/sources/{id}",
            get(sources::get_source).delete(sources::delete_source),
        )
        .route("/v1/sources/{id}/check", post(sources::check_source))
        .route(
            "/v1/datasets",
            get(sources::list_datasets).post(sources::create_dataset),
        )
        .route(
            "/v1/datasets/{id}",
            get(sources::get_dataset).delete(sources::delete_dataset),
        )
        .route(
            "/v1/principals",
            get(admin::list_principals).post(admin::create_principal),
        )
        .route(
            "/v1/tokens",
            get(admin::list_tokens).post(admin::issue_token),
        )
        .route("/v1/tokens/{id}", delete(admin::revoke_token))
        .route(
            "/v1/policies",
            get(policies::list_policies).post(policies::add_policy),
        )
        .route("/v1/policies/{id}", delete(policies::delete_policy))
        .route(
            "/v1/role-assignments",
            get(policies::list_role_assignments).post(policies::assign_role),
        )
        .route("/v1/role-assignments/{id}", delete(policies::unassign_role))
        .route(
            "/v1/grants",
            get(grants::list_grants).post(grants::add_grant),
        )
        .route("/v1/grants/{id}", delete(grants::delete_grant))
        .route(
            "/v1/reports",
            get(reports::list_reports).post(reports::create_report),
        )
        .route(
            "/v1/reports/{id}",
            get(reports::get_report)
                .put(reports::update_report)
                .delete(reports::delete_report),
        )
        .route("/v1/reports/{id}/versions", get(reports::report_versions))
        .route("/v1/reports/{id}/run", post(reports::run_report))
        .route(
            "/v1/reports/{id}/runs",
            get(reports::list_runs).post(reports::store_run),
        )
        .route("/v1/runs/{id}", get(reports::get_run))
        .route("/v1/runs/{id}/result", get(reports::run_result))
        .route(
            "/v1/alerts",
            get(alerts::list_alerts).post(alerts::create_alert),
        )
        .route(
            "/v1/alerts/{id}",
            get(alerts::get_alert).delete(alerts::delete_alert),
        )
        .route(
            "/v1/schedules",
            get(schedules::list_schedules).post(schedules::create_schedule),
        )
        .route(
            "/v1/schedules/{id}",
            get(schedules::get_schedule).delete(schedules::delete_schedule),
        )
        .route(
            "/v1/webhooks",
            get(webhooks::list_webhooks).post(webhooks::create_webhook),
        )
        .route(
            "/v1/webhooks/{id}",
            get(webhooks::get_webhook).delete(webhooks::delete_webhook),
        )
        .route("/v1/tasks", get(tasks::list_tasks).post(tasks::create_task))
        .route("/v1/tasks/from-query", post(tasks::create_tasks_from_query))
        .route("/v1/tasks/{id}", get(tasks::get_task))
        .route("/v1/tasks/{id}/accept", post(tasks::accept_task))
        .route("/v1/tasks/{id}/resolve", post(tasks::resolve_task))
        .route("/v1/tasks/{id}/verify", post(tasks::verify_task))
        .route("/v1/tasks/{id}/return", post(tasks::return_task))
        .route("/v1/openapi.json", get(openapi::document))
        .route("/metrics", get(health::metrics))
        .route_layer(from_fn_with_state(state.clone(), auth::authenticate));
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .merge(authenticated)
        .fallback(|| async { ApiError::not_found("no such endpoint") })
        // after every route: it applies to the routes registered before it
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                axum::http::StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "the endpoint does not take this method; Allow lists those it takes",
            )
        })
        // inside the router, so that a request's span is named by the route it matched; what
        // matches no route is answered without one
        .route_layer(
            TraceLayer::new_for_http()
                .make_span_with(|request: &axum::http::Request<_>| {
                    crate::traces::request_span(request)
                })
                .on_response(
                    |response: &Response, latency: std::time::Duration, span: &tracing::Span| {
                        crate::traces::response_status(response, latency, span);
                    },
                ),
        )
        .layer(DefaultBodyLimit::max(state.limits.max_body_bytes))
        .layer(CatchPanicLayer::custom(|_| -> Response {
            tracing::error!("a request handler panicked");
            ApiError::new(
                axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "internal error; the details are in the server log",
            )
            .into_response()
        }))
        .with_state(state)
}
