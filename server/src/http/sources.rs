//! Sources and union datasets.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::Serialize;
use tiaokuai_catalog::{DatasetRecord, SourceRecord};
use tiaokuai_connectors::database::SourceState;
use tiaokuai_engine::{CheckReport, DatasetRequest, SourceRequest};
use tiaokuai_policies::Caller;
use utoipa::ToSchema;

use super::AppState;
use super::error::{ApiError, ErrorBody};
use super::extract::{ApiJson, ApiPath};

/// A source, and for a database source how its last statement went.
#[derive(Debug, Serialize, ToSchema)]
pub struct SourceDetail {
    #[serde(flatten)]
    pub source: SourceRecord,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<SourceState>,
}

/// Registers a source: connects, reads and pins its schema, then stores it. Needs
/// `register_source` in the owner's jurisdiction for every table it shares (or admin); a
/// source registered by anyone but admin reaches only what admin granted its owner.
#[utoipa::path(post, path = "/v1/sources", tag = "sources",
    request_body(content = SourceRequest, example = json!({
        "name": "majin_civil_db", "kind": "postgres",
        "url": "postgres://civil@127.0.0.1:5432/civil", "secret": "env:MAJIN_PG_PASSWORD",
        "owner": "330824116000",
        "tables": [{"name": "civil.elderly", "remote": "public.elderly",
                    "binding": {"column": "village_code"},
                    "classification": {"id_card": "sensitive:id_card", "phone": "sensitive:phone", "name": "sensitive:name"}}]
    })),
    responses(
        (status = 201, description = "the source, without its secret", body = SourceRecord),
        (status = 400, description = "bad_request: malformed body; bad URL, options or binding; nothing readable at the URL; a database without TLS under sslmode require", body = ErrorBody),
        (status = 401, description = "no, unknown or revoked token", body = ErrorBody),
        (status = 403, description = "not allowed: register_source missing for a table in the owner's jurisdiction, a location, host or secret reference outside the owner's grants, or a table name the caller may not use", body = ErrorBody),
        (status = 409, description = "a name the caller can see is taken", body = ErrorBody),
        (status = 413, description = "the body is over the limit", body = ErrorBody),
        (status = 500, description = "internal", body = ErrorBody),
        (status = 502, description = "source_unavailable: the location did not answer", body = ErrorBody),
    ))]
pub async fn register_source(
    State(app): State<AppState>,
    Extension(caller): Extension<Arc<Caller>>,
    ApiJson(request): ApiJson<SourceRequest>,
) -> Result<(StatusCode, Json<SourceRecord>), ApiError> {
    let source = app.engine.register_source(&caller, request).await?;
    Ok((StatusCode::CREATED, Json(source)))
}

/// Every registered source (`admin`).
#[utoipa::path(get, path = "/v1/sources", tag = "sources",
    responses(
        (status = 200, description = "every source, without secrets", body = Vec<SourceRecord>),
        (status = 401, description = "no, unknown or revoked token", body = ErrorBody),
        (status = 403, description = "not admin", body = ErrorBody),
        (status = 500, description = "internal", body = ErrorBody),
    ))]
pub async fn list_sources(
    State(app): State<AppState>,
    Extension(caller): Extension<Arc<Caller>>,
) -> Result<Json<Vec<SourceRecord>>, ApiError> {
    Ok(Json(app.engine.sources(&caller).await?))
}

/// One source (`admin`), with the live state of a database source.
#[utoipa::path(get, path = "/v1/sources/{id}", tag = "sources",
    params(("id" = String, Path, description = "the source's id")),
    responses(
        (status = 200, description = "the source, without its secret", body = SourceDetail),
        (status = 400, description = "bad_request: an id that is not UTF-8", body = ErrorBody),
        (status = 401, description = "no, unknown or revoked token", body = ErrorBody),
        (status = 403, description = "not admin", body = ErrorBody),
        (status = 404, description = "unknown id", body = ErrorBody),
        (status = 500, description = "internal", body = ErrorBody),
    ))]
pub async fn get_source(
    State(app): State<AppState>,
    Extension(caller): Extension<Arc<Caller>>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<SourceDetail>, ApiError> {
    let (source, state) = app.engine.source(&caller, &id).await?;
    Ok(Json(SourceDetail { source, state }))
}

#[utoipa::path(delete, path = "/v1/sources/{id}", tag = "sources",
    params(("id" = String, Path, description = "the source's id")),
    responses(
        (status = 204, description = "deleted"),
        (status = 400, description = "bad_request: an id that is not UTF-8", body = ErrorBody),
        (status = 401, description = "no, unknown or revoked token", body = ErrorBody),
        (status = 403, description = "not admin", body = ErrorBody),
        (status = 404, description = "unknown id", body = ErrorBody),
        (status = 409, description = "a dataset uses it", body = ErrorBody),
        (status = 500, description = "internal", body = ErrorBody),
    ))]
pub async fn delete_source(
    State(app): State<AppState>,
    Extension(caller): Extension<Arc<Caller>>,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    app.engine.delete_source(&caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Connects to the source again (`admin`), reports latency and schema drift, and re-pins the
/// schema of a source that no dataset uses. A source that does not answer is reported, not
/// an error. Takes no body.
#[utoipa::path(post, path = "/v1/sources/{id}/check", tag = "sources",
    params(("id" = String, Path, description = "the source's id")),
    responses(
        (status = 200, description = "the check report", body = CheckReport),
        (status = 400, description = "bad_request: an id that is not UTF-8, or a stored source that can no longer be opened as described (e.g. a secret this server cannot unseal)", body = ErrorBody),
        (status = 401, description = "no, unknown or revoked token", body = ErrorBody),
        (status = 403, description = "not admin, or the source reaches outside its owner's grants", body = ErrorBody),
        (status = 404, description = "unknown id", body = ErrorBody),
        (status = 500, description = "internal", body = ErrorBody),
    ))]
pub async fn check_source(
    State(app): State<AppState>,
    Extension(caller): Extension<Arc<Caller>>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<CheckReport>, ApiError> {
    Ok(Json(app.engine.check_source(&caller, &id).await?))
}

/// Creates a union dataset (`admin`) over member sources of one schema.
#[utoipa::path(post, path = "/v1/datasets", tag = "sources",
    request_body(content = DatasetRequest, example = json!({
        "name": "village.households",
        "members": [{"source": "src_0123456789abcdef", "jurisdiction": "330824116224"}],
        "classification": {"head_name": "sensitive:name"}
    })),
    responses(
        (status = 201, description = "the dataset", body = DatasetRecord),
        (status = 400, description = "bad_request: malformed body; a member source that does not exist, is not a file source, or differs in schema; a jurisdiction not in the tree", body = ErrorBody),
        (status = 401, description = "no, unknown or revoked token", body = ErrorBody),
        (status = 403, description = "not admin", body = ErrorBody),
        (status = 404, description = "a member source removed while the dataset was being created", body = ErrorBody),
        (status = 409, description = "the name is taken", body = ErrorBody),
        (status = 413, description = "the body is over the limit", body = ErrorBody),
        (status = 500, description = "internal", body = ErrorBody),
    ))]
pub async fn create_dataset(
    State(app): State<AppState>,
    Extension(caller): Extension<Arc<Caller>>,
    ApiJson(request): ApiJson<DatasetRequest>,
) -> Result<(StatusCode, Json<DatasetRecord>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(app.engine.create_dataset(&caller, request).await?),
    ))
}

/// Every union dataset (`admin`).
#[utoipa::path(get, path = "/v1/datasets", tag = "sources",
    responses(
        (status = 200, description = "every dataset", body = Vec<DatasetRecord>),
        (status = 401, description = "no, unknown or revoked token", body = ErrorBody),
        (status = 403, description = "not admin", body = ErrorBody),
        (status = 500, description = "internal", body = ErrorBody),
    ))]
pub async fn list_datasets(
    State(app): State<AppState>,
    Extension(caller): Extension<Arc<Caller>>,
) -> Result<Json<Vec<DatasetRecord>>, ApiError> {
    Ok(Json(app.engine.datasets(&caller).await?))
}

#[utoipa::path(get, path = "/v1/datasets/{id}", tag = "sources",
    params(("id" = String, Path, description = "the dataset's id")),
    responses(
        (status = 200, description = "the dataset", body = DatasetRecord),
        (status = 400, description = "bad_request: an id that is not UTF-8", body = ErrorBody),
        (status = 401, description = "no, unknown or revoked token", body = ErrorBody),
        (status = 403, description = "not admin", body = ErrorBody),
        (status = 404, description = "unknown id", body = ErrorBody),
        (status = 500, description = "internal", body = ErrorBody),
    ))]
pub async fn get_dataset(
    State(app): State<AppState>,
    Extension(caller): Extension<Arc<Caller>>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<DatasetRecord>, ApiError> {
    Ok(Json(app.engine.dataset(&caller, &id).await?))
}

#[utoipa::path(delete, path = "/v1/datasets/{id}", tag = "sources",
    params(("id" = String, Path, description = "the dataset's id")),
    responses(
        (status = 204, description = "deleted"),
        (status = 400, description = "bad_request: an id that is not UTF-8", body = ErrorBody),
        (status = 401, description = "no, unknown or revoked token", body = ErrorBody),
        (status = 403, description = "not admin", body = ErrorBody),
        (status = 404, description = "unknown id", body = ErrorBody),
        (status = 500, description = "internal", body = ErrorBody),
    ))]
pub async fn delete_dataset(
    State(app): State<AppState>,
    Extension(caller): Extension<Arc<Caller>>,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    app.engine.delete_dataset(&caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
