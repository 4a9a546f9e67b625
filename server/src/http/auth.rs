//! Bearer-token authentication, as middleware: a handler only ever sees an authenticated
//! [`Caller`] in the request's extensions.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::header::AUTHORIZATION;
use axum::middleware::Next;
use axum::response::Response;

use super::AppState;
use super::error::ApiError;

pub async fn authenticate(
    State(app): State<AppState>,
    mut request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let header = request
        .headers()
        .get(AUTHORIZATION)
        .ok_or_else(|| ApiError::unauthenticated("missing Authorization: Bearer <token>"))?;
    let token = header
        .to_str()
        .ok()
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            ApiError::unauthenticated("the Authorization header must be Bearer <token>")
        })?;
    let caller = app
        .engine
        .authenticate(token)
        .await?
        .ok_or_else(|| ApiError::unauthenticated("unknown or revoked token"))?;
    request.extensions_mut().insert(Arc::new(caller));
    Ok(next.run(request).await)
}
