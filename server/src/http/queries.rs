//! `GET /v1/queries` and `DELETE /v1/queries/{id}`: the running queries, and cancelling one.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use tiaokuai_engine::running::RunningQuery;
use tiaokuai_policies::Caller;

use super::AppState;
use super::error::{ApiError, ErrorBody};
use super::extract::ApiPath;

#[utoipa::path(get, path = "/v1/queries", tag = "queries",
    responses(
        (status = 200, description = "the queries running now that the caller may see (admin: all; everyone else: its own), oldest first", body = Vec<RunningQuery>),
        (status = 401, description = "no, unknown or revoked token", body = ErrorBody),
        (status = 500, description = "internal", body = ErrorBody),
    ))]
pub async fn list_queries(
    State(app): State<AppState>,
    Extension(caller): Extension<Arc<Caller>>,
) -> Json<Vec<RunningQuery>> {
    Json(app.engine.running_queries(&caller))
}

#[utoipa::path(delete, path = "/v1/queries/{id}", tag = "queries",
    params(("id" = String, Path, description = "the query's id (its X-Query-Id)")),
    responses(
        (status = 204, description = "cancelled: the query stops and its client gets 409 cancelled, or a cut answer"),
        (status = 400, description = "bad_request: an id that is not UTF-8", body = ErrorBody),
        (status = 401, description = "no, unknown or revoked token", body = ErrorBody),
        (status = 404, description = "not_found: no such running query, or one the caller may not see", body = ErrorBody),
        (status = 500, description = "internal", body = ErrorBody),
    ))]
pub async fn cancel_query(
    State(app): State<AppState>,
    Extension(caller): Extension<Arc<Caller>>,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    app.engine.cancel_query(&caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
