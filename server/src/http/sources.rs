//! Sources and union datasets.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde_json::Value;
use tiaokuai_engine::{DatasetRequest, SourceRequest};
use tiaokuai_policies::Caller;

use super::error::ApiError;
use super::extract::ApiJson;
use super::{AppState, to_json};

/// Registers a source: connects, reads and pins its schema, then stores it.
#[utoipa::path(post, path = "/v1/sources", responses((status = 201, description = "the source, without its secret"), (status = 400, description = "bad URL, options or binding; nothing at the URL; a database without TLS under sslmode require"), (status = 403, description = "not allowed: register_source missing for a table in the owner's jurisdiction, a location, host or secret reference outside the owner's grants, or a table name the caller may not use"), (status = 409, description = "a name the caller can see is taken")))]
pub async fn register_source(
    State(app): State<AppState>,
    Extension(caller): Extension<Arc<Caller>>,
    ApiJson(request): ApiJson<SourceRequest>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let source = app.engine.register_source(&caller, request).await?;
    Ok((StatusCode::CREATED, to_json(source)))
}

/// Every registered source (`admin`).
#[utoipa::path(get, path = "/v1/sources", responses((status = 200, description = "the sources")))]
pub async fn list_sources(
    State(app): State<AppState>,
    Extension(caller): Extension<Arc<Caller>>,
) -> Result<Json<Value>, ApiError> {
    Ok(to_json(app.engine.sources(&caller).await?))
}

#[utoipa::path(get, path = "/v1/sources/{id}", responses((status = 200, description = "the source"), (status = 404, description = "unknown id")))]
pub async fn get_source(
    State(app): State<AppState>,
    Extension(caller): Extension<Arc<Caller>>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let (source, state) = app.engine.source(&caller, &id).await?;
    let mut answer = to_json(source).0;
    if let (Some(state), Value::Object(fields)) = (state, &mut answer) {
        fields.insert(
            "state".into(),
            serde_json::to_value(state).unwrap_or(Value::Null),
        );
    }
    Ok(Json(answer))
}

#[utoipa::path(delete, path = "/v1/sources/{id}", responses((status = 204, description = "deleted"), (status = 404, description = "unknown id"), (status = 409, description = "a dataset uses it")))]
pub async fn delete_source(
    State(app): State<AppState>,
    Extension(caller): Extension<Arc<Caller>>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    app.engine.delete_source(&caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Connects to the source again, reports latency and schema drift, and re-pins the schema of a
/// source that no dataset uses.
#[utoipa::path(post, path = "/v1/sources/{id}/check", responses((status = 200, description = "the check report"), (status = 404, description = "unknown id")))]
pub async fn check_source(
    State(app): State<AppState>,
    Extension(caller): Extension<Arc<Caller>>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(to_json(app.engine.check_source(&caller, &id).await?))
}

/// Creates a union dataset over member sources of one schema.
#[utoipa::path(post, path = "/v1/datasets", responses((status = 201, description = "the dataset"), (status = 400, description = "bad members"), (status = 409, description = "name taken")))]
pub async fn create_dataset(
    State(app): State<AppState>,
    Extension(caller): Extension<Arc<Caller>>,
    ApiJson(request): ApiJson<DatasetRequest>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    Ok((
        StatusCode::CREATED,
        to_json(app.engine.create_dataset(&caller, request).await?),
    ))
}

#[utoipa::path(get, path = "/v1/datasets", responses((status = 200, description = "the datasets")))]
pub async fn list_datasets(
    State(app): State<AppState>,
    Extension(caller): Extension<Arc<Caller>>,
) -> Result<Json<Value>, ApiError> {
    Ok(to_json(app.engine.datasets(&caller).await?))
}

#[utoipa::path(get, path = "/v1/datasets/{id}", responses((status = 200, description = "the dataset"), (status = 404, description = "unknown id")))]
pub async fn get_dataset(
    State(app): State<AppState>,
    Extension(caller): Extension<Arc<Caller>>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(to_json(app.engine.dataset(&caller, &id).await?))
}

#[utoipa::path(delete, path = "/v1/datasets/{id}", responses((status = 204, description = "deleted"), (status = 404, description = "unknown id")))]
pub async fn delete_dataset(
    State(app): State<AppState>,
    Extension(caller): Extension<Arc<Caller>>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    app.engine.delete_dataset(&caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
