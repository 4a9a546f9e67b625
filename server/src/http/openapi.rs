//! `GET /v1/openapi.json`, generated from the handlers' annotations and from the request and
//! response types themselves, so that it cannot say other than what the server reads and writes.

use axum::Json;
use utoipa::OpenApi;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};

use super::error::ErrorBody;
use super::{
    admin, alerts, audit, catalog, grants, health, policies, queries, query, reports, schedules,
    sources, tasks, webhooks,
};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "tiaokuai",
        description = "Cross-jurisdiction data sharing and integrated governance. Every endpoint except /healthz and /readyz needs `Authorization: Bearer <token>`; every error has the body {\"error\": {\"code\", \"message\"}}.",
    ),
    paths(
        query::query,
        catalog::whoami, catalog::list_jurisdictions, catalog::upsert_jurisdictions, catalog::tables,
        sources::register_source, sources::list_sources, sources::get_source, sources::delete_source, sources::check_source,
        sources::create_dataset, sources::list_datasets, sources::get_dataset, sources::delete_dataset,
        audit::list_audit, queries::list_queries, queries::cancel_query,
        admin::create_principal, admin::list_principals, admin::issue_token, admin::list_tokens, admin::revoke_token,
        policies::add_policy, policies::list_policies, policies::delete_policy,
        policies::assign_role, policies::list_role_assignments, policies::unassign_role,
        grants::add_grant, grants::list_grants, grants::delete_grant,
        reports::create_report, reports::list_reports, reports::get_report, reports::report_versions,
        reports::update_report, reports::delete_report, reports::run_report,
        reports::store_run, reports::list_runs, reports::get_run, reports::run_result,
        schedules::create_schedule, schedules::list_schedules, schedules::get_schedule,
        schedules::delete_schedule,
        webhooks::create_webhook, webhooks::list_webhooks, webhooks::get_webhook,
        webhooks::delete_webhook,
        alerts::create_alert, alerts::list_alerts, alerts::get_alert, alerts::delete_alert,
        tasks::create_task, tasks::create_tasks_from_query, tasks::list_tasks, tasks::get_task,
        tasks::accept_task, tasks::resolve_task, tasks::verify_task, tasks::return_task,
        document,
        health::healthz, health::readyz, health::metrics,
    ),
    components(schemas(query::QueryResult, query::ResultColumn), responses(query::StreamedRows)),
    modifiers(&BearerAuth),
    security(("bearer" = []))
)]
pub struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

/// This document.
#[utoipa::path(get, path = "/v1/openapi.json", tag = "health",
    responses(
        (status = 200, description = "the OpenAPI 3.1 document of this API", content_type = "application/json", body = Object),
        (status = 401, description = "no, unknown or revoked token", body = ErrorBody),
        (status = 500, description = "internal", body = ErrorBody),
    ))]
pub async fn document() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
