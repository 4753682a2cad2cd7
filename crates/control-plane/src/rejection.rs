//! What axum answers before a handler runs (paths, queries and bodies it cannot read, methods
//! a route lacks) in the REST APIs' JSON error shape: one layer over the publisher, devportal
//! and admin routers, and the multipart extractor they share. The HTML portals keep their pages.

use axum::extract::multipart::MultipartError;
use axum::extract::{FromRequest, Multipart, Request};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;

use crate::error::{ApiError, error_response};

/// How much of a non-JSON error body is kept as the description (axum's are one line).
const MAX_DESCRIPTION_BYTES: usize = 2048;

/// Rewrites every error response that is not JSON into `{"code", "message", "description"}`,
/// keeping its headers (`Allow` on a 405). Axum answers 422 for a body that parses but does
/// not bind; WSO2 answers 400 for any body it cannot use, so that is what this says.
pub async fn json_errors(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) || is_json(response.headers()) {
        return response;
    }
    let (parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, MAX_DESCRIPTION_BYTES)
        .await
        .map(|bytes| String::from_utf8_lossy(&bytes).trim().to_owned())
        .unwrap_or_default();
    let status = match status {
        StatusCode::UNPROCESSABLE_ENTITY => StatusCode::BAD_REQUEST,
        other => other,
    };
    let description = if text.is_empty() {
        default_description(status).to_owned()
    } else {
        text
    };
    if status.is_server_error() {
        tracing::error!(status = status.as_u16(), %description, "request rejected before its handler");
    }
    let message = status.canonical_reason().unwrap_or("Error");
    let mut rewritten = error_response(status, message, &description);
    for (name, value) in &parts.headers {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            rewritten.headers_mut().append(name.clone(), value.clone());
        }
    }
    rewritten
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|media| {
            let media = media.trim();
            media.eq_ignore_ascii_case("application/json") || media.ends_with("+json")
        })
}

fn default_description(status: StatusCode) -> &'static str {
    match status {
        StatusCode::NOT_FOUND => "No such resource",
        StatusCode::METHOD_NOT_ALLOWED => "The resource does not support this method",
        StatusCode::PAYLOAD_TOO_LARGE => "The request body is too large",
        other => other.canonical_reason().unwrap_or("Error"),
    }
}

/// A `multipart/form-data` body: another content type is a 415 (as in WSO2), a broken
/// boundary a 400, both in the JSON error shape.
pub struct MultipartForm(pub Multipart);

impl<S: Send + Sync> FromRequest<S> for MultipartForm {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_form = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|media| media.trim().eq_ignore_ascii_case("multipart/form-data"));
        if !is_form {
            return Err(ApiError::UnsupportedMediaType(
                "Expected request with 'Content-Type: multipart/form-data'".into(),
            ));
        }
        Multipart::from_request(request, state)
            .await
            .map(MultipartForm)
            .map_err(|e| ApiError::BadRequest(format!("Invalid multipart body: {}", e.body_text())))
    }
}

/// The last part named `name` of a form, with its file name, reading past the others: 400
/// naming `what` when there is none (the import operations' `file`).
pub async fn required_part(
    multipart: &mut Multipart,
    name: &str,
    what: &str,
) -> Result<(Option<String>, bytes::Bytes), ApiError> {
    let mut found = None;
    while let Some(field) = multipart.next_field().await.map_err(multipart_error)? {
        if field.name() == Some(name) {
            let file_name = field.file_name().map(str::to_owned);
            found = Some((file_name, field.bytes().await.map_err(multipart_error)?));
        }
    }
    found.ok_or_else(|| ApiError::BadRequest(format!("{name}: {what} is required")))
}

/// A part that cannot be read: 413 past the body limit, 400 otherwise. The description
/// names the cause under the parser's own words (a body cut short by its transport says so,
/// rather than looking like a form missing its closing boundary).
pub fn multipart_error(error: MultipartError) -> ApiError {
    if error.status() == StatusCode::PAYLOAD_TOO_LARGE {
        return ApiError::PayloadTooLarge("The request body is too large".into());
    }
    let mut description = format!("Malformed multipart body: {}", error.body_text());
    let mut cause = std::error::Error::source(&error);
    while let Some(inner) = cause {
        let text = inner.to_string();
        if !description.ends_with(&text) {
            description.push_str(": ");
            description.push_str(&text);
        }
        cause = inner.source();
    }
    ApiError::BadRequest(description)
}

#[cfg(test)]
mod tests {
    use axum::Router;
    use axum::body::Body;
    use axum::extract::Path;
    use axum::http::{Method, Request};
    use axum::routing::post;
    use serde_json::Value;
    use tower::ServiceExt as _;

    use super::*;

    /// A router whose only route rejects in axum's plain text unless given a number, a JSON
    /// body that binds, and a multipart form.
    fn app() -> Router {
        async fn handler(Path(_): Path<u32>, axum::Json(_): axum::Json<Vec<u32>>) -> &'static str {
            "ok"
        }
        async fn upload(MultipartForm(_): MultipartForm) -> &'static str {
            "ok"
        }
        async fn conflict() -> ApiError {
            ApiError::Conflict("taken".into())
        }
        Router::new()
            .route("/things/{id}", post(handler))
            .route("/conflict", post(conflict))
            .route("/upload", post(upload))
            .layer(axum::middleware::from_fn(json_errors))
    }

    async fn call(
        method: Method,
        uri: &str,
        content_type: &str,
        body: &str,
    ) -> (StatusCode, HeaderMap, Value) {
        let request = Request::builder()
            .method(method)
            .uri(uri)
            .header(header::CONTENT_TYPE, content_type)
            .body(Body::from(body.to_owned()))
            .expect("request");
        let response = app().oneshot(request).await.expect("infallible");
        let (parts, body) = response.into_parts();
        let bytes = axum::body::to_bytes(body, 1 << 16).await.expect("body");
        let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        (parts.status, parts.headers, json)
    }

    /// Reads every field of a form, as the import handlers do.
    async fn read_form(MultipartForm(mut form): MultipartForm) -> Result<String, ApiError> {
        let mut names = Vec::new();
        while let Some(field) = form.next_field().await.map_err(multipart_error)? {
            names.push(field.name().unwrap_or_default().to_owned());
            field.bytes().await.map_err(multipart_error)?;
        }
        Ok(names.join(","))
    }

    #[tokio::test]
    async fn a_form_cut_short_by_its_transport_is_named_as_such() {
        let form = "--b\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\nabc\r\n\
                    --b\r\nContent-Disposition: form-data; name=\"params\"\r\n\r\nxyz\r\n--b--\r\n";
        let cut = &form[..form.len() / 2];
        for (declared, expect) in [
            // An HTTP/2 stream that ended early (hyper reads a NO_ERROR reset as the end).
            (
                Some(form.len() as u64),
                format!("disagree with its content-length ({})", form.len()),
            ),
            // Without a declared length the parser is all there is to say it.
            (None, "incomplete multipart stream".to_owned()),
        ] {
            let body = gantry_listener::declared_length::DeclaredLength::new(
                Body::from(cut.to_owned()),
                declared,
            );
            let request = Request::post("/form")
                .header(header::CONTENT_TYPE, "multipart/form-data; boundary=b")
                .body(Body::new(body))
                .expect("request");
            let app = Router::new()
                .route("/form", post(read_form))
                .layer(axum::middleware::from_fn(json_errors));
            let response = app.oneshot(request).await.expect("infallible");
            assert_eq!(response.status(), StatusCode::BAD_REQUEST);
            let bytes = axum::body::to_bytes(response.into_body(), 1 << 16)
                .await
                .expect("body");
            let json: Value = serde_json::from_slice(&bytes).expect("JSON");
            let description = json["description"].as_str().unwrap_or_default();
            assert!(
                description.starts_with("Malformed multipart body: ")
                    && description.contains(&expect),
                "{json}"
            );
        }
    }

    fn assert_shape(status: StatusCode, body: &Value) {
        assert_eq!(body["code"], status.as_u16(), "{body}");
        assert!(body["message"].is_string(), "{body}");
        assert!(
            body["description"].as_str().is_some_and(|d| !d.is_empty()),
            "{body}"
        );
    }

    #[tokio::test]
    async fn plain_text_rejections_become_the_json_error_shape() {
        let json = "application/json";
        for (method, uri, content_type, body, status) in [
            (
                Method::POST,
                "/things/abc",
                json,
                "[1]",
                StatusCode::BAD_REQUEST,
            ),
            (
                Method::POST,
                "/things/%FF",
                json,
                "[1]",
                StatusCode::BAD_REQUEST,
            ),
            (
                Method::POST,
                "/things/1",
                json,
                "[1,",
                StatusCode::BAD_REQUEST,
            ),
            // Axum says 422 for a body that parses but does not bind; WSO2 says 400.
            (
                Method::POST,
                "/things/1",
                json,
                "{}",
                StatusCode::BAD_REQUEST,
            ),
            (
                Method::POST,
                "/things/1",
                "text/plain",
                "[1]",
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ),
            (
                Method::GET,
                "/things/1",
                json,
                "",
                StatusCode::METHOD_NOT_ALLOWED,
            ),
            (
                Method::POST,
                "/upload",
                "text/plain",
                "x",
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ),
            (
                Method::POST,
                "/upload",
                "multipart/form-data",
                "x",
                StatusCode::BAD_REQUEST,
            ),
        ] {
            let (got, headers, body) = call(method.clone(), uri, content_type, body).await;
            assert_eq!(got, status, "{method} {uri}: {body}");
            assert!(is_json(&headers), "{method} {uri}");
            assert_shape(status, &body);
            if status == StatusCode::METHOD_NOT_ALLOWED {
                assert!(
                    headers.contains_key(header::ALLOW),
                    "405 keeps its Allow header"
                );
            }
        }
    }

    #[tokio::test]
    async fn successes_and_json_errors_pass_untouched() {
        let (status, _, body) = call(Method::POST, "/things/1", "application/json", "[1]").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body, Value::Null, "the text 'ok' is not rewritten");
        let (status, _, body) = call(Method::POST, "/conflict", "application/json", "").await;
        assert_eq!(status, StatusCode::CONFLICT);
        assert_eq!(body["description"], "taken");
    }
}
