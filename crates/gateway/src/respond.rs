//! The responses the gateway makes itself (errors), in Choreo Connect's JSON shape:
//! `{"code": "900901", "error_message": "...", "error_description": "..."}` — or, for a
//! gRPC call, as a gRPC status ([`as_grpc`]).

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

/// Marks a response the gateway made itself (not the upstream's), with its message, so a
/// gRPC caller can be told the same in `grpc-message`.
#[derive(Debug, Clone)]
pub struct Generated(pub(crate) Box<str>);

/// 503 before the first configuration has been applied.
pub fn not_configured() -> Response<Body> {
    error(
        StatusCode::SERVICE_UNAVAILABLE,
        "503",
        "Service Unavailable",
        "The gateway has not received its configuration yet",
    )
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
        .extensions_mut()
        .insert(Generated(format!("{message}: {description}").into()));
    response
}

/// A gateway-made error as gRPC has it: HTTP 200, `content-type: application/grpc` and the
/// status in `grpc-status` / `grpc-message` of a Trailers-Only response (no body), the code
/// mapped from the HTTP status as gRPC's HTTP mapping and Envoy's local replies do (429 is
/// RESOURCE_EXHAUSTED, as Envoy's rate limit filter can say). Other headers
/// (`www-authenticate`, `retry-after`, …) stay. Upstream responses pass unchanged.
pub fn as_grpc(response: Response<Body>) -> Response<Body> {
    let Some(Generated(message)) = response.extensions().get::<Generated>().cloned() else {
        return response;
    };
    let (mut parts, _) = response.into_parts();
    let code = grpc_code(parts.status);
    parts.status = StatusCode::OK;
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/grpc"),
    );
    parts
        .headers
        .insert(GRPC_STATUS, HeaderValue::from(u16::from(code)));
    if let Ok(v) = HeaderValue::from_str(&grpc_percent_encode(&message)) {
        parts.headers.insert(GRPC_MESSAGE, v);
    }
    Response::from_parts(parts, full(Bytes::new()))
}

const GRPC_STATUS: header::HeaderName = header::HeaderName::from_static("grpc-status");
const GRPC_MESSAGE: header::HeaderName = header::HeaderName::from_static("grpc-message");

/// The gRPC status code for a gateway error of HTTP `status`.
fn grpc_code(status: StatusCode) -> u8 {
    match status.as_u16() {
        400 => 13,       // INTERNAL
        401 => 16,       // UNAUTHENTICATED
        403 => 7,        // PERMISSION_DENIED
        404 | 405 => 12, // UNIMPLEMENTED
        429 => 8,        // RESOURCE_EXHAUSTED
        502..=504 => 14, // UNAVAILABLE
        _ => 2,          // UNKNOWN
    }
}

/// `grpc-message` is percent-encoded: bytes outside printable ASCII, and `%` itself.
fn grpc_percent_encode(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    for b in message.bytes() {
        if (0x20..=0x7e).contains(&b) && b != b'%' {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Appends `n` in decimal to `out` (header values written on the request path without
/// `format!`).
pub(crate) fn push_decimal(out: &mut Vec<u8>, n: u64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    let mut n = n;
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[at..]);
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

/// 404 for a host no API is deployed for here: which host was asked for, and (up to ten of)
/// the hosts this gateway serves, so a wrong `Host` is told apart from a wrong path.
pub fn unknown_host(host: &str, served: &[&str]) -> Response<Body> {
    let listed = match served {
        [] => "none yet".to_owned(),
        hosts if hosts.len() > 10 => format!("{}, …", hosts[..10].join(", ")),
        hosts => hosts.join(", "),
    };
    error(
        StatusCode::NOT_FOUND,
        "404",
        "Resource not found",
        &format!("No API is deployed for host '{host}' on this gateway (hosts served: {listed})"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_are_written_as_display_writes_them() {
        for n in [0, 1, 9, 10, 99, 100, 4999, 1_000_000_000, u64::MAX] {
            let mut out = b"x".to_vec();
            push_decimal(&mut out, n);
            assert_eq!(out, format!("x{n}").into_bytes());
        }
    }

    #[test]
    fn gateway_errors_become_grpc_statuses_and_upstream_answers_do_not() {
        let denied = as_grpc(unauthorized(
            "900902",
            "Missing Credentials",
            "No token",
            false,
        ));
        assert_eq!(denied.status(), StatusCode::OK);
        assert_eq!(denied.headers()["grpc-status"], "16");
        assert_eq!(denied.headers()["content-type"], "application/grpc");
        assert_eq!(
            denied.headers()["grpc-message"],
            "Missing Credentials: No token"
        );
        assert!(denied.headers().contains_key(header::WWW_AUTHENTICATE));
        assert!(
            hyper::body::Body::is_end_stream(denied.body()),
            "Trailers-Only"
        );

        let down = as_grpc(error(
            StatusCode::BAD_GATEWAY,
            "101503",
            "Runtime Error",
            "100% gone\n",
        ));
        assert_eq!(down.headers()["grpc-status"], "14");
        assert_eq!(
            down.headers()["grpc-message"],
            "Runtime Error: 100%25 gone%0A"
        );

        let mut upstream = Response::new(full("x"));
        *upstream.status_mut() = StatusCode::BAD_GATEWAY;
        assert_eq!(as_grpc(upstream).status(), StatusCode::BAD_GATEWAY);
    }
}
