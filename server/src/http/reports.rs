//! Saved reports (`/v1/reports`): definitions in versions, and runs as the caller.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::{Extension, Json};
use serde::Deserialize;
use tiaokuai_catalog::{ReportRecord, RunRecord};
use tiaokuai_engine::audit::QueryTrace;
use tiaokuai_governance::{ReportChange, ReportRequest, RunRequest};
use tiaokuai_policies::Caller;
use utoipa::IntoParams;

use super::AppState;
use super::error::{ApiError, ErrorBody};
use super::extract::{ApiJson, ApiPath};
use super::query::{self, FormatParam, StreamedRows};

/// `?version=`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct VersionParam {
    /// A version of the report other than its newest.
    #[param(value_type = Option<u32>, minimum = 1)]
    version: Option<String>,
}

impl VersionParam {
    /// The version asked for: a whole number, written `2` or `2.0`.
    fn version(&self) -> Result<Option<u32>, ApiError> {
        let Some(text) = &self.version else {
            return Ok(None);
        };
        let whole = text.parse::<u32>().ok().or_else(|| {
            let number: f64 = text.parse().ok()?;
            (number.fract() == 0.0 && (0.0..=f64::from(u32::MAX)).contains(&number))
                .then_some(number as u32)
        });
        whole
            .map(Some)
            .ok_or_else(|| ApiError::bad_request(format!("version: a whole number, not {text:?}")))
    }
}

/// A report's SQL is held to the same size as a query's.
fn check_sql_size(app: &AppState, sql: &str) -> Result<(), ApiError> {
    if sql.len() > app.limits.max_sql_bytes {
        return Err(ApiError::too_large(format!(
            "the SQL text is {} bytes; the limit is {}",
            sql.len(),
            app.limits.max_sql_bytes
        )));
    }
    Ok(())
}

/// Saves a report as its version 1, after checking that its SQL is one query that plans as
/// the caller and that every `$name` in it is a parameter.
#[utoipa::path(post, path = "/v1/reports", tag = "reports",
    request_body = ReportRequest,
    responses(
        (status = 201, description = "the report at version 1", body = ReportRecord),
        (status = 400, description = "bad_request or invalid_sql: a malformed body, name or parameter list, SQL that is not one query or does not plan, an owner not in the tree", body = ErrorBody),
        (status = 401, description = "no, unknown or revoked token", body = ErrorBody),
        (status = 403, description = "permission_denied: no manage_report on this name in the owner's jurisdiction", body = ErrorBody),
        (status = 409, description = "conflict: a report of this name exists", body = ErrorBody),
        (status = 413, description = "too_large: the body or the SQL text is over its limit", body = ErrorBody),
        (status = 429, description = "overloaded: the caller already runs its limit of queries", body = ErrorBody),
        (status = 500, description = "internal", body = ErrorBody),
        (status = 502, description = "source_unavailable: a source the SQL reads did not answer", body = ErrorBody),
        (status = 504, description = "timeout: planning ran past the time limit", body = ErrorBody),
    ))]
pub async fn create_report(
    State(app): State<AppState>,
    Extension(caller): Extension<Arc<Caller>>,
    ApiJson(request): ApiJson<ReportRequest>,
) -> Result<(StatusCode, Json<ReportRecord>), ApiError> {
    check_sql_size(&app, &request.sql)?;
    let report = app.governance.create_report(&caller, request).await?;
    Ok((StatusCode::CREATED, Json(report)))
}

#[utoipa::path(get, path = "/v1/reports", tag = "reports",
    responses(
        (status = 200, description = "the reports the caller may run or manage, at their newest versions", body = Vec<ReportRecord>),
        (status = 401, description = "no, unknown or revoked token", body = ErrorBody),
        (status = 500, description = "internal", body = ErrorBody),
    ))]
pub async fn list_reports(
    State(app): State<AppState>,
    Extension(caller): Extension<Arc<Caller>>,
) -> Result<Json<Vec<ReportRecord>>, ApiError> {
    Ok(Json(app.governance.reports(&caller).await?))
}

#[utoipa::path(get, path = "/v1/reports/{id}", tag = "reports",
    params(("id" = String, Path, description = "the report's id"), VersionParam),
    responses(
        (status = 200, description = "the report, at its newest version or the one asked for", body = ReportRecord),
        (status = 400, description = "bad_request: an id that is not UTF-8, or a malformed version", body = ErrorBody),
        (status = 401, description = "no, unknown or revoked token", body = ErrorBody),
        (status = 404, description = "not_found: no such report or version, or one the caller may neither run nor manage", body = ErrorBody),
        (status = 500, description = "internal", body = ErrorBody),
    ))]
pub async fn get_report(
    State(app): State<AppState>,
    Extension(caller): Extension<Arc<Caller>>,
    ApiPath(id): ApiPath<String>,
    version: Result<Query<VersionParam>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<ReportRecord>, ApiError> {
    let version = version
        .map_err(|e| ApiError::bad_request(e.body_text()))?
        .0
        .version()?;
    Ok(Json(app.governance.report(&caller, &id, version).await?))
}

#[utoipa::path(get, path = "/v1/reports/{id}/versions", tag = "reports",
    params(("id" = String, Path, description = "the report's id")),
    responses(
        (status = 200, description = "every version, oldest first", body = Vec<ReportRecord>),
        (status = 400, description = "bad_request: an id that is not UTF-8", body = ErrorBody),
        (status = 401, description = "no, unknown or revoked token", body = ErrorBody),
        (status = 404, description = "not_found: no such report, or one the caller may neither run nor manage", body = ErrorBody),
        (status = 500, description = "internal", body = ErrorBody),
    ))]
pub async fn report_versions(
    State(app): State<AppState>,
    Extension(caller): Extension<Arc<Caller>>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Vec<ReportRecord>>, ApiError> {
    Ok(Json(app.governance.report_versions(&caller, &id).await?))
}

/// Saves the next version of a report, checked as a new report is; older versions stay.
#[utoipa::path(put, path = "/v1/reports/{id}", tag = "reports",
    params(("id" = String, Path, description = "the report's id")),
    request_body = ReportChange,
    responses(
        (status = 200, description = "the report at its new version", body = ReportRecord),
        (status = 400, description = "bad_request or invalid_sql: as for a new report", body = ErrorBody),
        (status = 401, description = "no, unknown or revoked token", body = ErrorBody),
        (status = 403, description = "permission_denied: no manage_report on it", body = ErrorBody),
        (status = 404, description = "not_found: no such report, or one the caller may neither run nor manage", body = ErrorBody),
        (status = 409, description = "conflict: the report changed since the version the change was made from", body = ErrorBody),
        (status = 413, description = "too_large: the body or the SQL text is over its limit", body = ErrorBody),
        (status = 429, description = "overloaded: the caller already runs its limit of queries", body = ErrorBody),
        (status = 500, description = "internal", body = ErrorBody),
        (status = 502, description = "source_unavailable: a source the SQL reads did not answer", body = ErrorBody),
        (status = 504, description = "timeout: planning ran past the time limit", body = ErrorBody),
    ))]
pub async fn update_report(
    State(app): State<AppState>,
    Extension(caller): Extension<Arc<Caller>>,
    ApiPath(id): ApiPath<String>,
    ApiJson(change): ApiJson<ReportChange>,
) -> Result<Json<ReportRecord>, ApiError> {
    check_sql_size(&app, &change.sql)?;
    Ok(Json(
        app.governance.update_report(&caller, &id, change).await?,
    ))
}

#[utoipa::path(delete, path = "/v1/reports/{id}", tag = "reports",
    params(("id" = String, Path, description = "the report's id")),
    responses(
        (status = 204, description = "deleted, with every version"),
        (status = 400, description = "bad_request: an id that is not UTF-8", body = ErrorBody),
        (status = 401, description = "no, unknown or revoked token", body = ErrorBody),
        (status = 403, description = "permission_denied: no manage_report on it", body = ErrorBody),
        (status = 404, description = "not_found: no such report, or one the caller may neither run nor manage", body = ErrorBody),
        (status = 500, description = "internal", body = ErrorBody),
    ))]
pub async fn delete_report(
    State(app): State<AppState>,
    Extension(caller): Extension<Arc<Caller>>,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    app.governance.delete_report(&caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Runs a report **as the caller**: its SQL reads through the caller's own policy views, with
/// each parameter bound as a typed value. The answer streams in any format of `/v1/query`,
/// and the run is audited as a query naming the report and its version.
#[utoipa::path(post, path = "/v1/reports/{id}/run", tag = "reports",
    params(("id" = String, Path, description = "the report's id"), FormatParam),
    request_body(content = RunRequest, example = json!({"parameters": {"year": 2024}})),
    responses(
        (status = 200, response = StreamedRows),
        (status = 400, description = "bad_request: an unknown parameter, a value that does not fit its parameter (the message names it), a missing value, or a query that failed on its own terms", body = ErrorBody, headers(("x-query-id" = String))),
        (status = 401, description = "no, unknown or revoked token", body = ErrorBody),
        (status = 403, description = "permission_denied: no run_report on it, or a jurisdiction parameter outside where the caller may run it", body = ErrorBody, headers(("x-query-id" = String))),
        (status = 404, description = "not_found: no such report or version, or one the caller may neither run nor manage", body = ErrorBody, headers(("x-query-id" = String))),
        (status = 406, description = "not_acceptable: neither format nor Accept names a format the server writes", body = ErrorBody, headers(("x-query-id" = String))),
        (status = 413, description = "the body is over the limit", body = ErrorBody, headers(("x-query-id" = String))),
        (status = 429, description = "overloaded: the caller already runs its limit of queries", body = ErrorBody, headers(("x-query-id" = String))),
        (status = 500, description = "internal", body = ErrorBody),
        (status = 502, description = "source_unavailable: a source did not answer or failed", body = ErrorBody, headers(("x-query-id" = String))),
        (status = 503, description = "resources_exhausted: the run needs more memory than the server allows; audit_unavailable: its audit record could not be written, so it was not run", body = ErrorBody, headers(("x-query-id" = String))),
        (status = 504, description = "timeout: the run ran past its time limit", body = ErrorBody, headers(("x-query-id" = String))),
    ))]
pub async fn run_report(
    State(app): State<AppState>,
    Extension(caller): Extension<Arc<Caller>>,
    ApiPath(id): ApiPath<String>,
    format: Result<Query<FormatParam>, axum::extract::rejection::QueryRejection>,
    headers: HeaderMap,
    client: super::extract::ClientAddr,
    body: Result<ApiJson<RunRequest>, ApiError>,
) -> Response {
    let query_id = tiaokuai_catalog::token::new_id("q");
    crate::traces::name_query(&query_id);
    let client = client.text();
    let answer = async {
        let format = query::negotiate(format, &headers)?;
        let ApiJson(request) = body?;
        tracing::info!(%query_id, principal = %caller.name(), report = %id, "report run");
        let trace = QueryTrace {
            query_id: &query_id,
            format: format.name(),
            protocol: "http",
            client: client.as_deref(),
        };
        let output = app
            .governance
            .run_report(&caller, trace, &id, request)
            .await?;
        Ok(query::stream(&app, format, output, &query_id))
    }
    .await;
    query::respond(&caller, &query_id, answer)
}

/// Runs a report as the caller and keeps its result (Parquet, with its SHA-256) to be fetched
/// later; the run is recorded when it starts and when it ends.
#[utoipa::path(post, path = "/v1/reports/{id}/runs", tag = "reports",
    params(("id" = String, Path, description = "the report's id")),
    request_body(content = RunRequest, example = json!({"parameters": {"year": 2024}})),
    responses(
        (status = 201, description = "the finished run", body = RunRecord),
        (status = 400, description = "bad_request: as for a run", body = ErrorBody),
        (status = 401, description = "no, unknown or revoked token", body = ErrorBody),
        (status = 403, description = "permission_denied: as for a run", body = ErrorBody),
        (status = 404, description = "not_found: no such report or version, or one the caller may neither run nor manage", body = ErrorBody),
        (status = 413, description = "the body is over the limit", body = ErrorBody),
        (status = 429, description = "overloaded: the caller already runs its limit of queries", body = ErrorBody),
        (status = 500, description = "internal", body = ErrorBody),
        (status = 502, description = "source_unavailable: a source did not answer or failed", body = ErrorBody),
        (status = 503, description = "resources_exhausted: the run needs more memory than the server allows, or its result is over the most a run stores; audit_unavailable: its audit record could not be written", body = ErrorBody),
        (status = 504, description = "timeout: the run ran past its time limit", body = ErrorBody),
    ))]
pub async fn store_run(
    State(app): State<AppState>,
    Extension(caller): Extension<Arc<Caller>>,
    ApiPath(id): ApiPath<String>,
    ApiJson(request): ApiJson<RunRequest>,
) -> Result<(StatusCode, Json<RunRecord>), ApiError> {
    let run = app.governance.store_run(&caller, &id, request).await?;
    Ok((StatusCode::CREATED, Json(run)))
}

#[utoipa::path(get, path = "/v1/reports/{id}/runs", tag = "reports",
    params(("id" = String, Path, description = "the report's id")),
    responses(
        (status = 200, description = "the caller's stored runs of the report (every run, for admin), newest first", body = Vec<RunRecord>),
        (status = 400, description = "bad_request: an id that is not UTF-8", body = ErrorBody),
        (status = 401, description = "no, unknown or revoked token", body = ErrorBody),
        (status = 404, description = "not_found: no such report, or one the caller may neither run nor manage", body = ErrorBody),
        (status = 500, description = "internal", body = ErrorBody),
    ))]
pub async fn list_runs(
    State(app): State<AppState>,
    Extension(caller): Extension<Arc<Caller>>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Vec<RunRecord>>, ApiError> {
    Ok(Json(app.governance.runs(&caller, &id).await?))
}

#[utoipa::path(get, path = "/v1/runs/{id}", tag = "reports",
    params(("id" = String, Path, description = "the run's id")),
    responses(
        (status = 200, description = "the run", body = RunRecord),
        (status = 400, description = "bad_request: an id that is not UTF-8", body = ErrorBody),
        (status = 401, description = "no, unknown or revoked token", body = ErrorBody),
        (status = 404, description = "not_found: no such run, or one another principal ran", body = ErrorBody),
        (status = 500, description = "internal", body = ErrorBody),
    ))]
pub async fn get_run(
    State(app): State<AppState>,
    Extension(caller): Extension<Arc<Caller>>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<RunRecord>, ApiError> {
    Ok(Json(app.governance.stored_run(&caller, &id).await?))
}

/// A finished run's stored result, in any format of `/v1/query`: the rows as they were when
/// it ran, for the principal who ran it (and admin) only.
#[utoipa::path(get, path = "/v1/runs/{id}/result", tag = "reports",
    params(("id" = String, Path, description = "the run's id"), FormatParam),
    responses(
        (status = 200, response = StreamedRows),
        (status = 400, description = "bad_request: an id that is not UTF-8", body = ErrorBody, headers(("x-query-id" = String))),
        (status = 401, description = "no, unknown or revoked token", body = ErrorBody),
        (status = 404, description = "not_found: no such run, or one another principal ran", body = ErrorBody, headers(("x-query-id" = String))),
        (status = 406, description = "not_acceptable: neither format nor Accept names a format the server writes", body = ErrorBody, headers(("x-query-id" = String))),
        (status = 409, description = "conflict: the run failed, and has no result", body = ErrorBody, headers(("x-query-id" = String))),
        (status = 500, description = "internal", body = ErrorBody),
    ))]
pub async fn run_result(
    State(app): State<AppState>,
    Extension(caller): Extension<Arc<Caller>>,
    ApiPath(id): ApiPath<String>,
    format: Result<Query<FormatParam>, axum::extract::rejection::QueryRejection>,
    headers: HeaderMap,
) -> Response {
    let query_id = tiaokuai_catalog::token::new_id("q");
    crate::traces::name_query(&query_id);
    let answer = async {
        let format = query::negotiate(format, &headers)?;
        let output = app.governance.run_result(&caller, &id).await?;
        Ok(query::stream(&app, format, output, &query_id))
    }
    .await;
    query::respond(&caller, &query_id, answer)
}
