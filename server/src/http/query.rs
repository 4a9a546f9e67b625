//! `POST /v1/query`.

use std::sync::Arc;

use axum::Extension;
use axum::extract::{Query, State};
use axum::http::header::{ACCEPT, CONTENT_TYPE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use tiaokuai_engine::audit::QueryTrace;
use tiaokuai_policies::Caller;
use utoipa::{IntoParams, ToSchema};

use super::AppState;
use super::error::{ApiError, ErrorBody};
use super::extract::{ApiJson, ClientAddr};
use super::relay;
use crate::format::Format;

/// A query request.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QueryRequest {
    /// One SQL statement (not blank).
    #[schema(
        pattern = r"\S",
        examples(
            "SELECT jurisdiction_code, count(*) AS residents FROM village.residents GROUP BY jurisdiction_code"
        )
    )]
    pub sql: String,
    /// Values bound to `$1`, `$2`, … (strings, numbers, booleans, null).
    #[serde(default)]
    #[schema(schema_with = params_schema)]
    pub params: Vec<serde_json::Value>,
}

fn params_schema() -> utoipa::openapi::Array {
    use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, SchemaType, Type};
    let scalar = SchemaType::from_iter([Type::String, Type::Number, Type::Boolean, Type::Null]);
    ArrayBuilder::new()
        .items(ObjectBuilder::new().schema_type(scalar))
        .build()
}

/// `?format=`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FormatParam {
    /// json, ndjson, csv, arrow or parquet; overrides `Accept`.
    #[param(schema_with = format_schema)]
    format: Option<String>,
}

fn format_schema() -> utoipa::openapi::Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::Type::String)
        .enum_values(Some(crate::format::ALL.map(Format::name)))
        .build()
}

/// The `application/json` answer (the other formats carry the same rows). `format::json`
/// writes it as batches arrive, so this type only describes it; the contract test checks
/// real answers against it.
#[derive(Debug, ToSchema)]
#[expect(dead_code, reason = "a schema of what the streaming encoder writes")]
pub struct QueryResult {
    pub columns: Vec<ResultColumn>,
    /// One array per row, a value per column.
    pub rows: Vec<Vec<serde_json::Value>>,
    pub row_count: usize,
}

/// A result column: its name and Arrow type.
#[derive(Debug, ToSchema)]
#[expect(dead_code, reason = "a schema of what the streaming encoder writes")]
pub struct ResultColumn {
    pub name: String,
    #[schema(rename = "type")]
    pub data_type: String,
}

/// Bytes of a binary format (Arrow IPC, Parquet).
#[derive(Debug)]
pub struct Binary;

impl utoipa::PartialSchema for Binary {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::Type::String)
            .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
                utoipa::openapi::KnownFormat::Binary,
            )))
            .into()
    }
}

impl ToSchema for Binary {}

/// The `200` of every endpoint that streams rows (a query, a report run, a stored result): one
/// content type per format, and the `X-Query-Id` header.
#[derive(Debug)]
pub struct StreamedRows;

impl<'r> utoipa::ToResponse<'r> for StreamedRows {
    fn response() -> (
        &'r str,
        utoipa::openapi::RefOr<utoipa::openapi::response::Response>,
    ) {
        use utoipa::PartialSchema;
        use utoipa::openapi::{
            ContentBuilder, HeaderBuilder, ObjectBuilder, Ref, RefOr, ResponseBuilder, Type,
        };
        let rows = |schema: RefOr<utoipa::openapi::schema::Schema>| {
            ContentBuilder::new().schema(Some(schema)).build()
        };
        let text = || ObjectBuilder::new().schema_type(Type::String).into();
        let query_id = HeaderBuilder::new()
            .schema(ObjectBuilder::new().schema_type(Type::String))
            .description(Some(
                "names the answer's audit record (for a stored result, the request in the log)",
            ))
            .build();
        let response = ResponseBuilder::new()
            .description("the rows, streamed in the negotiated format; cut if the client stops reading for the send-idle time")
            .header("x-query-id", query_id)
            .content("application/json", rows(Ref::from_schema_name("QueryResult").into()))
            .content("application/x-ndjson", rows(text()))
            .content("text/csv", rows(text()))
            .content("application/vnd.apache.arrow.stream", rows(Binary::schema()))
            .content("application/vnd.apache.parquet", rows(Binary::schema()))
            .build();
        ("StreamedRows", response.into())
    }
}

/// Runs one SQL statement and streams its result in the negotiated format. A response whose
/// client reads nothing for the send-idle time is cut (the query is cancelled); a caller may
/// run a limited number of queries at once. For a caller who reads through a policy, EXPLAIN
/// prints the plan down to each policy barrier only (VERBOSE, COSTS and ANALYZE are 403).
#[utoipa::path(post, path = "/v1/query", tag = "query",
    request_body(content = QueryRequest, example = json!({"sql": "SELECT name, jurisdiction_code FROM village.residents WHERE jurisdiction_code = $1 LIMIT 10", "params": ["330824116224"]})),
    params(FormatParam),
    responses(
        (status = 200, response = StreamedRows),
        (status = 400, description = "invalid_sql: the SQL does not parse or plan; bad_request: malformed body or parameters, or a query that failed on its own terms (division by zero, a bad cast)", body = ErrorBody, headers(("x-query-id" = String))),
        (status = 401, description = "no, unknown or revoked token", body = ErrorBody),
        (status = 403, description = "permission_denied: a statement the caller may not run", body = ErrorBody, headers(("x-query-id" = String))),
        (status = 404, description = "not_found: an unknown table, or one the caller may not see", body = ErrorBody, headers(("x-query-id" = String))),
        (status = 406, description = "not_acceptable: neither format nor Accept names a format the server writes", body = ErrorBody, headers(("x-query-id" = String))),
        (status = 413, description = "too_large: the body or the SQL text is over its limit", body = ErrorBody, headers(("x-query-id" = String))),
        (status = 429, description = "overloaded: the caller already runs its limit of queries", body = ErrorBody, headers(("x-query-id" = String))),
        (status = 500, description = "internal: a bug or a panic, failing this query only", body = ErrorBody),
        (status = 502, description = "source_unavailable: a source did not answer or failed; names the source, never its secret", body = ErrorBody, headers(("x-query-id" = String))),
        (status = 503, description = "resources_exhausted: the query needs more memory than the server allows; audit_unavailable: its audit record could not be written, so it was not run", body = ErrorBody, headers(("x-query-id" = String))),
        (status = 504, description = "timeout: the query ran past its time limit", body = ErrorBody, headers(("x-query-id" = String))),
    ))]
pub async fn query(
    State(app): State<AppState>,
    Extension(caller): Extension<Arc<Caller>>,
    format: Result<Query<FormatParam>, axum::extract::rejection::QueryRejection>,
    headers: HeaderMap,
    client: ClientAddr,
    body: Result<ApiJson<QueryRequest>, ApiError>,
) -> Response {
    let query_id = tiaokuai_catalog::token::new_id("q");
    crate::traces::name_query(&query_id);
    let client = client.text();
    let request = (&headers, client.as_deref());
    let answer = run(&app, &caller, format, request, body, &query_id).await;
    respond(&caller, &query_id, answer)
}

/// The response to a query or report run: its answer or its error, with its id.
pub(super) fn respond(
    caller: &Caller,
    query_id: &str,
    answer: Result<Response, ApiError>,
) -> Response {
    let mut response = match answer {
        Ok(response) => response,
        Err(error) => {
            tracing::info!(%query_id, principal = %caller.name(), code = error.code, "query refused or failed");
            error.into_response()
        }
    };
    if let Ok(value) = HeaderValue::from_str(query_id) {
        response.headers_mut().insert("x-query-id", value);
    }
    response
}

/// The format `?format=` or `Accept` asks for.
pub(super) fn negotiate(
    format: Result<Query<FormatParam>, axum::extract::rejection::QueryRejection>,
    headers: &HeaderMap,
) -> Result<Format, ApiError> {
    let format = format
        .map_err(|e| ApiError::bad_request(e.body_text()))?
        .0
        .format;
    Format::negotiate(format.as_deref(), headers.get(ACCEPT))
        .map_err(|message| ApiError::new(StatusCode::NOT_ACCEPTABLE, "not_acceptable", message))
}

/// Streams a started query's answer, encoded.
pub(super) fn stream(
    app: &AppState,
    format: Format,
    output: tiaokuai_engine::QueryOutput,
    query_id: &str,
) -> Response {
    let body = relay::body(
        format.encode(output.stream),
        app.limits.send_idle_timeout,
        query_id.to_owned(),
    );
    ([(CONTENT_TYPE, format.media_type())], body).into_response()
}

async fn run(
    app: &AppState,
    caller: &Caller,
    format: Result<Query<FormatParam>, axum::extract::rejection::QueryRejection>,
    (headers, client): (&HeaderMap, Option<&str>),
    body: Result<ApiJson<QueryRequest>, ApiError>,
    query_id: &str,
) -> Result<Response, ApiError> {
    let format = negotiate(format, headers)?;
    let ApiJson(request) = body?;
    if request.sql.len() > app.limits.max_sql_bytes {
        return Err(ApiError::too_large(format!(
            "the SQL text is {} bytes; the limit is {}",
            request.sql.len(),
            app.limits.max_sql_bytes
        )));
    }
    tracing::info!(%query_id, principal = %caller.name(), "query");
    let trace = QueryTrace {
        query_id,
        format: format.name(),
        protocol: "http",
        client,
    };
    let output = app
        .engine
        .query(caller, trace, &request.sql, &request.params)
        .await?;
    Ok(stream(app, format, output, query_id))
}
