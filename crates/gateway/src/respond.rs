//! The responses the gateway makes itself (errors), in Choreo Connect's JSON shape:
//! `{"code": "900901", "error_message": "...", "error_description": "..."}`.

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use http_body_util::{BodyExt, Full, combinators::BoxBody};

/// The body type of every gateway response (upstream bodies stream through it).
pub type Body = BoxBody<Bytes, hyper::Error>;

/// A complete in-memory body.
pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed()
}

/// A JSON error response.
pub fn error(status: StatusCode, code: &str, message: &str, description: &str) -> Response<Body> {
    let body = serde_json::json!({
        "code": code,
        "error_message": message,
        "error_description": description,
    });
    let mut response = Response::new(full(body.to_string()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// 401 with `WWW-Authenticate: Bearer` (RFC 6750 §3).
pub fn unauthorized(
    code: &str,
    message: &str,
    description: &str,
    invalid_token: bool,
) -> Response<Body> {
    let mut response = error(StatusCode::UNAUTHORIZED, code, message, description);
    let challenge = if invalid_token {
        HeaderValue::from_static("Bearer realm=\"gantry\", error=\"invalid_token\"")
    } else {
        HeaderValue::from_static("Bearer realm=\"gantry\"")
    };
    response
        .headers_mut()
        .insert(header::WWW_AUTHENTICATE, challenge);
    response
}

/// 404 for a path no deployed API serves.
pub fn no_route() -> Response<Body> {
    error(
        StatusCode::NOT_FOUND,
        "404",
        "Resource not found",
        "No matching resource found for the request",
    )
}
