//! Identity, the jurisdiction tree and the table list.

use std::sync::Arc;

use axum::extract::State;
use axum::{Extension, Json};
use serde_json::{Value, json};
use tiaokuai_catalog::jurisdiction::RawJurisdiction;
use tiaokuai_policies::Caller;

use super::error::ApiError;
use super::extract::ApiJson;
use super::{AppState, to_json};

/// Who the caller is and what roles it holds.
#[utoipa::path(get, path = "/v1/whoami", responses((status = 200, description = "the caller")))]
pub async fn whoami(Extension(caller): Extension<Arc<Caller>>) -> Json<Value> {
    Json(json!({
        "principal": caller.principal.name,
        "id": caller.principal.id,
        "admin": caller.is_admin(),
        "roles": caller.roles.iter().map(|r| json!({"role": r.role, "jurisdiction": r.jurisdiction})).collect::<Vec<_>>(),
    }))
}

/// The jurisdiction tree.
#[utoipa::path(get, path = "/v1/jurisdictions", responses((status = 200, description = "[{code, name, level, parent}]")))]
pub async fn list_jurisdictions(State(app): State<AppState>) -> Result<Json<Value>, ApiError> {
    let nodes = app.engine.jurisdictions().await?;
    Ok(to_json(nodes))
}

/// Adds or updates nodes (`admin`). The whole batch is validated first; on any error nothing is stored.
#[utoipa::path(post, path = "/v1/jurisdictions", responses((status = 200, description = "{\"upserted\": N}"), (status = 400, description = "an invalid node"), (status = 403, description = "not admin")))]
pub async fn upsert_jurisdictions(
    State(app): State<AppState>,
    Extension(caller): Extension<Arc<Caller>>,
    ApiJson(batch): ApiJson<Vec<RawJurisdiction>>,
) -> Result<Json<Value>, ApiError> {
    let count = app.engine.upsert_jurisdictions(&caller, &batch).await?;
    Ok(Json(json!({"upserted": count})))
}

/// The tables the caller may read.
#[utoipa::path(get, path = "/v1/tables", responses((status = 200, description = "[{name, columns, binding}]")))]
pub async fn tables(
    State(app): State<AppState>,
    Extension(caller): Extension<Arc<Caller>>,
) -> Json<Value> {
    to_json(app.engine.tables(&caller))
}
