//! Identity, the jurisdiction tree and the table list.

use std::sync::Arc;

use axum::extract::State;
use axum::{Extension, Json};
use serde::Serialize;
use tiaokuai_catalog::Jurisdiction;
use tiaokuai_catalog::jurisdiction::RawJurisdiction;
use tiaokuai_engine::TableInfo;
use tiaokuai_policies::Caller;
use utoipa::ToSchema;

use super::AppState;
use super::error::{ApiError, ErrorBody};
use super::extract::ApiJson;

/// Who the caller is.
#[derive(Debug, Serialize, ToSchema)]
pub struct Whoami {
    /// The principal's name.
    pub principal: String,
    pub id: String,
    /// Whether the caller reads every row unmasked and may change the catalog.
    pub admin: bool,
    pub roles: Vec<RoleHeld>,
}

/// A role the caller holds inside a jurisdiction (`*`: every jurisdiction).
#[derive(Debug, Serialize, ToSchema)]
pub struct RoleHeld {
    pub role: String,
    pub jurisdiction: String,
}

/// How many nodes a batch added or updated.
#[derive(Debug, Serialize, ToSchema)]
pub struct Upserted {
    pub upserted: usize,
}

/// Who the caller is and what roles it holds.
#[utoipa::path(get, path = "/v1/whoami", tag = "identity",
    responses(
        (status = 200, description = "the caller", body = Whoami),
        (status = 401, description = "no, unknown or revoked token", body = ErrorBody),
        (status = 500, description = "internal", body = ErrorBody),
    ))]
pub async fn whoami(Extension(caller): Extension<Arc<Caller>>) -> Json<Whoami> {
    Json(Whoami {
        principal: caller.principal.name.clone(),
        id: caller.principal.id.clone(),
        admin: caller.is_admin(),
        roles: caller
            .roles
            .iter()
            .map(|r| RoleHeld {
                role: r.role.clone(),
                jurisdiction: r.jurisdiction.clone(),
            })
            .collect(),
    })
}

/// The jurisdiction tree.
#[utoipa::path(get, path = "/v1/jurisdictions", tag = "identity",
    responses(
        (status = 200, description = "every node of the tree", body = Vec<Jurisdiction>),
        (status = 401, description = "no, unknown or revoked token", body = ErrorBody),
        (status = 500, description = "internal", body = ErrorBody),
    ))]
pub async fn list_jurisdictions(
    State(app): State<AppState>,
) -> Result<Json<Vec<Jurisdiction>>, ApiError> {
    Ok(Json(app.engine.jurisdictions().await?))
}

/// Adds or updates nodes (`admin`). The whole batch is validated first; on any error nothing
/// is stored. Each node's level and parent must agree with its code, and a parent must be in
/// the batch or already known.
#[utoipa::path(post, path = "/v1/jurisdictions", tag = "identity",
    request_body(content = Vec<RawJurisdiction>, example = json!([
        {"code": "330824116000", "name": "马金镇", "level": "township", "parent": "330824000000"},
        {"code": "330824116224", "name": "霞山村", "level": "village", "parent": "330824116000"},
    ])),
    responses(
        (status = 200, description = "the batch is stored", body = Upserted),
        (status = 400, description = "bad_request: malformed body, or a node whose code, level and parent disagree, or whose parent is unknown", body = ErrorBody),
        (status = 401, description = "no, unknown or revoked token", body = ErrorBody),
        (status = 403, description = "not admin", body = ErrorBody),
        (status = 413, description = "the body is over the limit", body = ErrorBody),
        (status = 500, description = "internal", body = ErrorBody),
    ))]
pub async fn upsert_jurisdictions(
    State(app): State<AppState>,
    Extension(caller): Extension<Arc<Caller>>,
    ApiJson(batch): ApiJson<Vec<RawJurisdiction>>,
) -> Result<Json<Upserted>, ApiError> {
    let upserted = app.engine.upsert_jurisdictions(&caller, &batch).await?;
    Ok(Json(Upserted { upserted }))
}

/// The tables the caller may read.
#[utoipa::path(get, path = "/v1/tables", tag = "identity",
    responses(
        (status = 200, description = "the tables the caller may read, with their columns and binding", body = Vec<TableInfo>),
        (status = 401, description = "no, unknown or revoked token", body = ErrorBody),
        (status = 500, description = "internal", body = ErrorBody),
    ))]
pub async fn tables(
    State(app): State<AppState>,
    Extension(caller): Extension<Arc<Caller>>,
) -> Json<Vec<TableInfo>> {
    Json(app.engine.tables(&caller))
}
