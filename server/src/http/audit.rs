//! `GET /v1/audit`: the audit trail as the caller may see it (see
//! `tiaokuai_engine::audit::receipts`).

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::Deserialize;
use tiaokuai_engine::audit::receipts::{AuditEntry, AuditFilter, MAX_LIMIT};
use tiaokuai_policies::Caller;
use utoipa::IntoParams;

use super::AppState;
use super::error::{ApiError, ErrorBody};

/// Records listed when `limit` is not given.
const DEFAULT_LIMIT: usize = 100;

/// `GET /v1/audit?principal=&table=&action=&since=&before=&limit=`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Only what this principal did.
    principal: Option<String>,
    /// Only queries that read this table (`schema.table`).
    table: Option<String>,
    /// `query`, or a change such as `source.create`.
    action: Option<String>,
    /// Only records at or after this time (RFC 3339 UTC).
    #[param(value_type = Option<String>, format = DateTime)]
    since: Option<String>,
    /// Only records numbered before this one: the `X-Next-Before` of the page before.
    #[param(value_type = Option<i64>, minimum = 1)]
    before: Option<String>,
    /// How many records, 1 to 1000 (default 100).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 1000)]
    limit: Option<String>,
}

impl AuditQuery {
    fn filter(self) -> Result<AuditFilter, ApiError> {
        // an empty name is a filter left out
        let given = |value: Option<String>| value.filter(|v| !v.is_empty());
        let (principal, table, action) =
            (given(self.principal), given(self.table), given(self.action));
        // an empty time or number is malformed, as its schema says
        let (since, before, limit) = (self.since, self.before, self.limit);
        let before = before
            .map(|b| {
                b.parse::<i64>().ok().filter(|n| *n > 0).ok_or_else(|| {
                    ApiError::bad_request(format!("before: a record number, not {b:?}"))
                })
            })
            .transpose()?;
        let limit = match limit {
            None => DEFAULT_LIMIT,
            Some(text) => text
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=MAX_LIMIT).contains(n))
                .ok_or_else(|| {
                    ApiError::bad_request(format!(
                        "limit: a number from 1 to {MAX_LIMIT}, not {text:?}"
                    ))
                })?,
        };
        if let Some(since) = &since
            && chrono::DateTime::parse_from_rfc3339(since).is_err()
        {
            return Err(ApiError::bad_request(format!(
                "since: an RFC 3339 time, not {since:?}"
            )));
        }
        Ok(AuditFilter {
            principal,
            table,
            action,
            since,
            before,
            limit,
        })
    }
}

#[utoipa::path(get, path = "/v1/audit", tag = "audit",
    params(AuditQuery),
    responses(
        (status = 200, description = "the records the caller may see, newest first: admin sees all; an auditor (`audit` on `system.access_log`) what was read or done in the jurisdictions it audits; everyone else who read the data it may read (without their SQL text or address) and its own queries. `X-Next-Before` is set when older records may follow.",
            body = Vec<AuditEntry>, headers(("x-next-before" = i64))),
        (status = 400, description = "bad_request: a malformed before, limit or since", body = ErrorBody),
        (status = 401, description = "no, unknown or revoked token", body = ErrorBody),
        (status = 500, description = "internal", body = ErrorBody),
    ))]
pub async fn list_audit(
    State(app): State<AppState>,
    Extension(caller): Extension<Arc<Caller>>,
    query: Result<Query<AuditQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let filter = query
        .map_err(|e| ApiError::bad_request(e.body_text()))?
        .0
        .filter()?;
    let page = app.engine.audit(&caller, filter).await?;
    let mut response = Json(page.entries).into_response();
    if let Some(next) = page.next_before {
        response
            .headers_mut()
            .insert("x-next-before", HeaderValue::from(next));
    }
    Ok(response)
}
