//! The control plane's health: `/health/live`, `/health/ready`, and the database guard, a
//! layer in front of every route that needs the database. While the store's health state
//! says the database is down, the guard answers 503 at once (WSO2's JSON error, OAuth2's
//! for the key manager, an HTML page for the portals); a request already waiting for the
//! database when it goes down gets the same answer then, not after the pool's timeout.

use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::AppState;
use crate::error::ApiError;

/// Readiness asks the database at most this long: under the 2 s probe timeout.
const READY_TIMEOUT: Duration = Duration::from_millis(1500);

/// How a route answers when the database is away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// WSO2 REST: `{"code", "message", "description"}`.
    Rest,
    /// OAuth2 (RFC 6749 §5.2): `{"error": "temporarily_unavailable", …}`.
    OAuth,
    /// The HTML portals.
    Portal,
}

/// The shape of `path`'s answer, or `None` when it never needs the database (health,
/// metrics, signing keys, discovery, API documents, portal assets, the gateways' sync
/// stream, which reports its own state over gRPC).
fn needs_database(path: &str) -> Option<Shape> {
    let exempt = path.starts_with("/health/")
        || path == "/metrics"
        || path.starts_with("/gantry.sync.v1.")
        || path.starts_with("/portal/assets/")
        || path.starts_with("/.well-known/")
        || path.contains("/.well-known/")
        || path == "/oauth2/jwks"
        || path.ends_with("/swagger.yaml")
        || path.ends_with("/swagger.json");
    if exempt {
        None
    } else if path.starts_with("/oauth2/") || path.starts_with("/client-registration/") {
        Some(Shape::OAuth)
    } else if ["/publisher", "/devportal", "/admin", "/portal"]
        .iter()
        .any(|p| {
            path.strip_prefix(p)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
        })
    {
        Some(Shape::Portal)
    } else {
        Some(Shape::Rest)
    }
}

fn unavailable(shape: Shape) -> Response {
    const WHY: &str = "The database is unavailable; try again shortly";
    let mut response = match shape {
        Shape::Rest => ApiError::Unavailable(WHY.into()).into_response(),
        Shape::OAuth => crate::oauth::OAuthError::unavailable().into_response(),
        Shape::Portal => crate::portal::PortalError::Unavailable(WHY.into()).into_response(),
    };
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("2"));
    response
}

/// The database guard (see the module comment).
pub(crate) async fn guard(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let Some(shape) = needs_database(request.uri().path()) else {
        return next.run(request).await;
    };
    let health = state.store().health();
    if !health.is_up() {
        return unavailable(shape);
    }
    let response = tokio::select! {
        response = next.run(request) => response,
        () = health.down() => unavailable(shape),
    };
    if response.status() == StatusCode::SERVICE_UNAVAILABLE {
        // A query failed for want of the database: have the monitor look now.
        health.report_unavailable();
    }
    response
}

pub(crate) async fn live() -> Response {
    axum::Json(json!({"status": "UP"})).into_response()
}

fn not_ready(reason: &str, detail: Option<String>) -> Response {
    let mut body = json!({"status": "NOT_READY", "reason": reason});
    if let Some(detail) = detail {
        body["detail"] = json!(detail);
    }
    (StatusCode::SERVICE_UNAVAILABLE, axum::Json(body)).into_response()
}

/// Ready while the database answers and is migrated; answers within [`READY_TIMEOUT`].
pub(crate) async fn ready(State(state): State<AppState>) -> Response {
    const UNREACHABLE: &str = "database unreachable";
    let health = state.store().health();
    if !health.is_up() {
        return not_ready(UNREACHABLE, health.outage());
    }
    match tokio::time::timeout(READY_TIMEOUT, state.store().is_migrated()).await {
        Ok(Ok(true)) => axum::Json(json!({"status": "READY"})).into_response(),
        Ok(Ok(false)) => not_ready("database migrations are not applied", None),
        Ok(Err(error)) => {
            health.report_unavailable();
            not_ready(UNREACHABLE, Some(error.to_string()))
        }
        Err(_) => {
            health.report_unavailable();
            not_ready(
                UNREACHABLE,
                Some(format!("no answer within {} ms", READY_TIMEOUT.as_millis())),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_that_need_the_database_answer_in_their_own_shape() {
        assert_eq!(
            needs_database("/api/am/publisher/v4/apis"),
            Some(Shape::Rest)
        );
        assert_eq!(needs_database("/scim2/Users"), Some(Shape::Rest));
        assert_eq!(needs_database("/oauth2/token"), Some(Shape::OAuth));
        assert_eq!(needs_database("/publisher/apis"), Some(Shape::Portal));
        assert_eq!(needs_database("/admin"), Some(Shape::Portal));
        assert_eq!(needs_database("/administrator"), Some(Shape::Rest));
        for exempt in [
            "/health/ready",
            "/health/live",
            "/metrics",
            "/oauth2/jwks",
            "/oauth2/token/.well-known/openid-configuration",
            "/.well-known/openid-configuration",
            "/portal/assets/portal.css",
            "/gantry.sync.v1.ConfigSync/Stream",
            "/api/am/publisher/v4/swagger.yaml",
        ] {
            assert_eq!(needs_database(exempt), None, "{exempt}");
        }
    }
}
