//! The one place where errors become HTTP statuses, with the body of API.md:
//! `{"error": {"code": "…", "message": "…"}}`.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use tiaokuai_catalog::CatalogError;
use tiaokuai_engine::EngineError;
use utoipa::ToSchema;

/// An error answer.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    pub fn unauthenticated(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthenticated", message)
    }

    pub fn too_large(message: impl Into<String>) -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, "too_large", message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }
}

/// The status of an engine error; its code is the engine's own name for whose fault it is.
fn status_of(error: &EngineError) -> StatusCode {
    match error {
        EngineError::InvalidSql(_) | EngineError::BadRequest(_) => StatusCode::BAD_REQUEST,
        EngineError::PermissionDenied(_) => StatusCode::FORBIDDEN,
        EngineError::NotFound(_) => StatusCode::NOT_FOUND,
        EngineError::Conflict(_) => StatusCode::CONFLICT,
        EngineError::SourceUnavailable(_) => StatusCode::BAD_GATEWAY,
        EngineError::Timeout(_) => StatusCode::GATEWAY_TIMEOUT,
        EngineError::ResourcesExhausted(_) => StatusCode::SERVICE_UNAVAILABLE,
        EngineError::Overloaded(_) => StatusCode::TOO_MANY_REQUESTS,
        EngineError::AuditUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        EngineError::Cancelled(_) => StatusCode::CONFLICT,
        EngineError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl From<EngineError> for ApiError {
    fn from(error: EngineError) -> Self {
        if let EngineError::Internal(_) = &error {
            tracing::error!(detail = %error.chain(), "internal error");
        }
        Self::new(status_of(&error), error.code(), error.public_message())
    }
}

impl From<CatalogError> for ApiError {
    fn from(error: CatalogError) -> Self {
        EngineError::from(error).into()
    }
}

/// The body of every error answer.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"error": {"code": "not_found", "message": "source \"src_0\" not found"}}))]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

/// What went wrong: a stable code, and a message for people.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    #[schema(value_type = String, schema_with = code_schema)]
    pub code: &'static str,
    /// Names what was wrong; never a secret, and for `internal` no detail at all.
    pub message: String,
}

/// Every code an error answer carries.
pub const CODES: [&str; 14] = [
    "invalid_sql",
    "bad_request",
    "unauthenticated",
    "permission_denied",
    "not_found",
    "not_acceptable",
    "conflict",
    "too_large",
    "overloaded",
    "source_unavailable",
    "resources_exhausted",
    "timeout",
    "internal",
    "method_not_allowed",
];

fn code_schema() -> utoipa::openapi::Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::Type::String)
        .enum_values(Some(CODES))
        .build()
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code,
                message: self.message,
            },
        };
        let mut response = (self.status, Json(body)).into_response();
        if self.status == StatusCode::TOO_MANY_REQUESTS {
            // a query's turn comes in about a second on a busy server
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from(1),
            );
        }
        response
    }
}
