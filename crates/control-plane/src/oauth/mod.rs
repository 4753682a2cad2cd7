//! The resident key manager's OAuth2 / OpenID Connect endpoints.
//!
//! - `/oauth2/token` ([`grants`]): client_credentials, password, refresh_token (rotating),
//!   authorization_code (PKCE S256), JWT bearer ([`jwt_bearer`]); client authentication by
//!   HTTP Basic or form post
//!   ([`client_auth`]), rate-limited on failure ([`abuse`]);
//! - `/oauth2/authorize` ([`authorize`]): the login + consent page;
//! - `/oauth2/revoke` (RFC 7009) and `/oauth2/introspect` (RFC 7662) ([`revocation`]);
//! - `/oauth2/jwks`, OIDC discovery and RFC 8414 metadata, `/oauth2/userinfo`
//!   ([`discovery`]);
//! - WSO2's `/client-registration/v0.17/register` ([`registration`]).
//!
//! Errors follow RFC 6749 §5.2: `{"error": "...", "error_description": "..."}`, with 401 and
//! `WWW-Authenticate` for a client that failed to authenticate; never a 500 for bad input.

pub mod abuse;
pub mod authorize;
pub mod client_auth;
pub mod discovery;
pub mod grants;
pub mod jwt_bearer;
pub mod registration;
pub mod revocation;

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;

use crate::AppState;

/// Largest form body the OAuth2 endpoints read.
const MAX_FORM_BYTES: usize = 64 * 1024;

/// Routes of the key manager.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/oauth2/token", post(grants::token))
        .route("/oauth2/revoke", post(revocation::revoke))
        .route("/oauth2/introspect", post(revocation::introspect))
        .route(
            "/oauth2/authorize",
            get(authorize::show).post(authorize::submit),
        )
        .route("/oauth2/jwks", get(discovery::jwks))
        .route(
            "/client-registration/v0.17/register",
            post(registration::register),
        )
        .route(
            "/oauth2/userinfo",
            get(discovery::userinfo).post(discovery::userinfo),
        )
        .route(
            "/oauth2/token/.well-known/openid-configuration",
            get(discovery::metadata),
        )
        .route(
            "/.well-known/openid-configuration",
            get(discovery::metadata),
        )
        .route(
            "/.well-known/openid-configuration/oauth2/token",
            get(discovery::metadata),
        )
        .route(
            "/.well-known/oauth-authorization-server",
            get(discovery::metadata),
        )
        .route(
            "/.well-known/oauth-authorization-server/oauth2/token",
            get(discovery::metadata),
        )
}

/// An RFC 6749 §5.2 error.
#[derive(Debug)]
pub struct OAuthError {
    status: StatusCode,
    error: &'static str,
    pub(crate) description: String,
    retry_after: Option<Duration>,
}

impl OAuthError {
    fn new(status: StatusCode, error: &'static str, description: impl Into<String>) -> Self {
        Self {
            status,
            error,
            description: description.into(),
            retry_after: None,
        }
    }

    fn invalid_request(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", description)
    }

    fn invalid_grant(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_grant", description)
    }

    fn invalid_scope(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_scope", description)
    }

    fn unauthorized_client(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "unauthorized_client", description)
    }

    fn invalid_client() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "Client authentication failed",
        )
    }

    fn too_many_attempts(retry_after: Duration) -> Self {
        Self {
            retry_after: Some(retry_after),
            ..Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                "slow_down",
                "Too many failed authentication attempts; retry later",
            )
        }
    }

    /// 503 `temporarily_unavailable`: the store cannot be reached now.
    pub(crate) fn unavailable() -> Self {
        Self {
            retry_after: Some(Duration::from_secs(2)),
            ..Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "temporarily_unavailable",
                "The authorization server is unavailable",
            )
        }
    }

    fn server_error(description: impl Into<String>) -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            description,
        )
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let mut response = (
            self.status,
            [
                (header::CACHE_CONTROL, "no-store"),
                (header::PRAGMA, "no-cache"),
            ],
            axum::Json(json!({"error": self.error, "error_description": self.description})),
        )
            .into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"gantry\""),
            );
        }
        if let Some(after) = self.retry_after {
            let secs = after.as_secs().max(1);
            if let Ok(value) = HeaderValue::from_str(&secs.to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
        }
        response
    }
}

impl From<gantry_store::StoreError> for OAuthError {
    fn from(e: gantry_store::StoreError) -> Self {
        tracing::error!(error = %e, "key manager store failure");
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "temporarily_unavailable",
            "The authorization server is unavailable",
        )
    }
}

impl From<crate::error::ApiError> for OAuthError {
    fn from(e: crate::error::ApiError) -> Self {
        tracing::error!(error = %e, "key manager failure");
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "temporarily_unavailable",
            "The authorization server is unavailable",
        )
    }
}

impl From<crate::credentials::PasswordError> for OAuthError {
    fn from(e: crate::credentials::PasswordError) -> Self {
        match e {
            crate::credentials::PasswordError::TooManyFailures(wait) => {
                Self::too_many_attempts(wait)
            }
            crate::credentials::PasswordError::Failed(e) => e.into(),
        }
    }
}

impl From<gantry_keys::KeyError> for OAuthError {
    fn from(e: gantry_keys::KeyError) -> Self {
        tracing::error!(error = %e, "token signing failed");
        Self::server_error("The token could not be signed")
    }
}

/// A parsed `application/x-www-form-urlencoded` body without repeated parameters.
pub struct Form(Vec<(String, String)>);

impl Form {
    /// Parses `body`, refusing another content type and repeated parameters (RFC 6749 §3.2).
    fn parse(headers: &HeaderMap, body: &[u8]) -> Result<Self, OAuthError> {
        let content_type = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        if !content_type
            .to_ascii_lowercase()
            .starts_with("application/x-www-form-urlencoded")
        {
            return Err(OAuthError::invalid_request(
                "Content-Type must be application/x-www-form-urlencoded",
            ));
        }
        Self::from_pairs(
            serde_urlencoded::from_bytes(body)
                .map_err(|_| OAuthError::invalid_request("Malformed form body"))?,
        )
    }

    fn from_pairs(pairs: Vec<(String, String)>) -> Result<Self, OAuthError> {
        for (i, (name, _)) in pairs.iter().enumerate() {
            if pairs[..i].iter().any(|(n, _)| n == name) {
                return Err(OAuthError::invalid_request(format!(
                    "Parameter '{name}' is repeated"
                )));
            }
        }
        Ok(Self(pairs))
    }

    /// A parameter; an empty value counts as absent (RFC 6749 §3.1).
    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }

    fn require(&self, name: &str) -> Result<&str, OAuthError> {
        self.get(name)
            .ok_or_else(|| OAuthError::invalid_request(format!("{name} is required")))
    }
}

/// The request's headers, body and peer address, read with a size limit.
pub(crate) struct OAuthRequest {
    headers: HeaderMap,
    body: axum::body::Bytes,
    peer: Option<IpAddr>,
}

impl OAuthRequest {
    async fn read(request: axum::extract::Request) -> Result<Self, OAuthError> {
        let (parts, body) = request.into_parts();
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip());
        let body = axum::body::to_bytes(body, MAX_FORM_BYTES)
            .await
            .map_err(|_| OAuthError::invalid_request("The request body is too large"))?;
        Ok(Self {
            headers: parts.headers,
            body,
            peer,
        })
    }

    fn form(&self) -> Result<Form, OAuthError> {
        Form::parse(&self.headers, &self.body)
    }
}

/// A JSON answer that must not be cached (tokens, introspection).
fn no_store_json(value: serde_json::Value) -> Response {
    (
        [
            (header::CACHE_CONTROL, "no-store"),
            (header::PRAGMA, "no-cache"),
        ],
        axum::Json(value),
    )
        .into_response()
}

/// Milliseconds since the epoch for a token `exp` in seconds.
fn exp_ms(exp_secs: u64) -> i64 {
    i64::try_from(exp_secs.saturating_mul(1000)).unwrap_or(i64::MAX)
}
