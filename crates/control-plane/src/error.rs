//! REST errors: one enum, one mapping to an HTTP status and WSO2's error body
//! `{"code": 400, "message": "...", "description": "..."}`.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use gantry_model::InvalidField;
use gantry_store::StoreError;
use serde_json::json;

/// An error a REST handler returns.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: the request is malformed or a field is invalid.
    #[error("{0}")]
    BadRequest(String),
    /// 401: no or wrong credentials.
    #[error("{0}")]
    Unauthenticated(String),
    /// 403: authenticated but not allowed.
    #[error("{0}")]
    Forbidden(String),
    /// 404: the resource does not exist (or is not the caller's).
    #[error("{0}")]
    NotFound(String),
    /// 409: the request conflicts with the current state.
    #[error("{0}")]
    Conflict(String),
    /// 412: `If-Match` names a version that is no longer current.
    #[error("{0}")]
    PreconditionFailed(String),
    /// 429: too many attempts from the caller; retry after `retry_after` (`Retry-After`).
    #[error("{message}")]
    TooManyRequests {
        /// What was refused.
        message: String,
        /// How long until the caller may try again.
        retry_after: std::time::Duration,
    },
    /// 413: the body is too large.
    #[error("{0}")]
    PayloadTooLarge(String),
    /// 415: wrong content type.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// 500: our fault; details are logged, not shown.
    #[error("internal error: {0}")]
    Internal(String),
    /// 503: a dependency (the database) is unavailable.
    #[error("{0}")]
    Unavailable(String),
}

impl ApiError {
    /// 404 for a resource kind and id, worded as WSO2 does.
    pub fn not_found(kind: &str, id: &str) -> Self {
        ApiError::NotFound(format!("Requested {kind} with id '{id}' not found"))
    }

    fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::PreconditionFailed(_) => StatusCode::PRECONDITION_FAILED,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

impl From<InvalidField> for ApiError {
    fn from(e: InvalidField) -> Self {
        ApiError::BadRequest(e.to_string())
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => ApiError::NotFound("Requested resource not found".into()),
            StoreError::Conflict(what) => ApiError::Conflict(what),
            e if e.is_unavailable() => {
                ApiError::Unavailable("The database is unavailable; try again shortly".into())
            }
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl From<gantry_keys::KeyError> for ApiError {
    fn from(e: gantry_keys::KeyError) -> Self {
        ApiError::Internal(e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let (message, description) = match &self {
            ApiError::Internal(detail) => {
                tracing::error!(error = %detail, "request failed");
                (
                    "Internal server error",
                    "The server could not complete the request; see its log".to_owned(),
                )
            }
            other => (
                status.canonical_reason().unwrap_or("Error"),
                other.to_string(),
            ),
        };
        let mut response = error_response(status, message, &description);
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"gantry\""),
            );
        }
        if let ApiError::TooManyRequests { retry_after, .. } = &self
            && let Ok(value) = HeaderValue::from_str(&retry_after.as_secs().max(1).to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        response
    }
}

/// WSO2's error body for `status`: the one place its shape is written, for [`ApiError`]
/// and for the rejections axum answers before a handler runs ([`crate::rejection`]).
pub(crate) fn error_response(status: StatusCode, message: &str, description: &str) -> Response {
    let body = json!({ "code": status.as_u16(), "message": message, "description": description });
    (status, axum::Json(body)).into_response()
}

/// Result alias for handlers.
pub type ApiResult<T> = Result<T, ApiError>;
