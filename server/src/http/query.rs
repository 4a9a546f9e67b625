//! `POST /v1/query`.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Extension;
use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::header::{ACCEPT, CONTENT_TYPE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use tiaokuai_engine::EngineError;
use tiaokuai_policies::Caller;
use utoipa::ToSchema;

use super::AppState;
use super::error::{ApiError, status_of};
use super::extract::ApiJson;
use crate::format::Format;

/// A query request.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QueryRequest {
    /// One SQL statement.
    pub sql: String,
    /// Values bound to `$1`, `$2`, … (strings, numbers, booleans, null).
    #[serde(default)]
    #[schema(value_type = Vec<Object>)]
    pub params: Vec<serde_json::Value>,
}

#[derive(Debug, Deserialize)]
pub struct FormatParam {
    format: Option<String>,
}

/// Runs one SQL statement and streams its result in the negotiated format.
#[utoipa::path(post, path = "/v1/query", request_body = QueryRequest,
    params(("format" = Option<String>, Query, description = "json, ndjson, csv, arrow or parquet; overrides Accept")),
    responses((status = 200, description = "the result, streamed"), (status = 400, description = "invalid_sql or bad_request"),
              (status = 403, description = "permission_denied"), (status = 404, description = "unknown table"),
              (status = 406, description = "no acceptable format"), (status = 413, description = "too_large"),
              (status = 500, description = "internal: a bug or a panic, failing this query only"),
              (status = 502, description = "source_unavailable"), (status = 503, description = "resources_exhausted: the memory limit"),
              (status = 504, description = "timeout")))]
pub async fn query(
    State(app): State<AppState>,
    Extension(caller): Extension<Arc<Caller>>,
    format: Result<Query<FormatParam>, axum::extract::rejection::QueryRejection>,
    headers: HeaderMap,
    body: Result<ApiJson<QueryRequest>, ApiError>,
) -> Response {
    let query_id = tiaokuai_catalog::token::new_id("q");
    let mut response = match run(&app, &caller, format, &headers, body, &query_id).await {
        Ok(response) => response,
        Err(error) => {
            app.metrics.queries_failed.fetch_add(1, Ordering::Relaxed);
            tracing::info!(%query_id, principal = %caller.name(), code = error.code, "query refused or failed");
            error.into_response()
        }
    };
    if let Ok(value) = HeaderValue::from_str(&query_id) {
        response.headers_mut().insert("x-query-id", value);
    }
    response
}

/// The query's audit record, named by its `X-Query-Id`. SQL longer than 4 KiB is cut.
async fn audit(
    app: &AppState,
    caller: &Caller,
    query_id: &str,
    sql: &str,
    format: Format,
    error: Option<&EngineError>,
) {
    let mut end = sql.len().min(4096);
    while !sql.is_char_boundary(end) {
        end -= 1;
    }
    let outcome = error.map_or("started", |e| status_of(e).1);
    let detail =
        serde_json::json!({"sql": &sql[..end], "format": format.name(), "outcome": outcome});
    // the catalog is a blocking store: keep the write off the async workers
    let (catalog, principal, target) = (
        app.engine.catalog().clone(),
        caller.name().to_owned(),
        query_id.to_owned(),
    );
    let written =
        tokio::task::spawn_blocking(move || catalog.record(&principal, "query", &target, detail))
            .await;
    if !matches!(written, Ok(Ok(()))) {
        tracing::warn!(%query_id, "the query's audit record could not be written");
    }
}

async fn run(
    app: &AppState,
    caller: &Caller,
    format: Result<Query<FormatParam>, axum::extract::rejection::QueryRejection>,
    headers: &HeaderMap,
    body: Result<ApiJson<QueryRequest>, ApiError>,
    query_id: &str,
) -> Result<Response, ApiError> {
    let format = format
        .map_err(|e| ApiError::bad_request(e.body_text()))?
        .0
        .format;
    let format = Format::negotiate(format.as_deref(), headers.get(ACCEPT))
        .map_err(|message| ApiError::new(StatusCode::NOT_ACCEPTABLE, "not_acceptable", message))?;
    let ApiJson(request) = body?;
    if request.sql.len() > app.limits.max_sql_bytes {
        return Err(ApiError::too_large(format!(
            "the SQL text is {} bytes; the limit is {}",
            request.sql.len(),
            app.limits.max_sql_bytes
        )));
    }
    app.metrics.queries_started.fetch_add(1, Ordering::Relaxed);
    tracing::info!(%query_id, principal = %caller.name(), "query");
    let outcome = app
        .engine
        .query(caller, &request.sql, &request.params)
        .await;
    audit(
        app,
        caller,
        query_id,
        &request.sql,
        format,
        outcome.as_ref().err(),
    )
    .await;
    let output = outcome?;
    let body = Body::from_stream(format.encode(output.stream));
    Ok(([(CONTENT_TYPE, format.media_type())], body).into_response())
}
