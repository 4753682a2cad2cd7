//! What clients discover and read about the key manager: the JWKS (every published key:
//! next, active, retired), the OpenID Connect discovery / RFC 8414 metadata document, and
//! the OIDC `userinfo` endpoint for user tokens.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use gantry_keys::AccessTokenClaims;
use gantry_store::revoked_tokens;
use serde_json::json;

use crate::AppState;

/// `GET /oauth2/jwks`.
pub async fn jwks(State(state): State<AppState>) -> Response {
    (
        // Short enough that a `next` key (published a rotation period ahead) is always seen.
        [(header::CACHE_CONTROL, "public, max-age=300")],
        axum::Json(state.issuer().keys().jwks()),
    )
        .into_response()
}

/// The origin the issuer lives under (`https://host:port`).
fn base_url(issuer: &str) -> &str {
    issuer.strip_suffix("/oauth2/token").unwrap_or(issuer)
}

/// `GET` the discovery / metadata document, at WSO2's location
/// (`/oauth2/token/.well-known/openid-configuration`) and the standard ones.
pub async fn metadata(State(state): State<AppState>) -> Response {
    let issuer = state.issuer().issuer();
    let base = base_url(issuer);
    let document = json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{base}/oauth2/authorize"),
        "token_endpoint": format!("{base}/oauth2/token"),
        "jwks_uri": format!("{base}/oauth2/jwks"),
        "userinfo_endpoint": format!("{base}/oauth2/userinfo"),
        "revocation_endpoint": format!("{base}/oauth2/revoke"),
        "introspection_endpoint": format!("{base}/oauth2/introspect"),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": [
            "authorization_code", "client_credentials", "password", "refresh_token",
            super::jwt_bearer::JWT_BEARER
        ],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": [
            "client_secret_basic", "client_secret_post", "none"
        ],
        "revocation_endpoint_auth_methods_supported": [
            "client_secret_basic", "client_secret_post", "none"
        ],
        "introspection_endpoint_auth_methods_supported": [
            "client_secret_basic", "client_secret_post"
        ],
        "scopes_supported": gantry_keys::scopes::OIDC_SCOPES,
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256", "ES256", "EdDSA"],
        "claims_supported": ["iss", "sub", "aud", "exp", "iat", "auth_time", "nonce"],
        "authorization_response_iss_parameter_supported": true,
    });
    (
        [(header::CACHE_CONTROL, "public, max-age=300")],
        axum::Json(document),
    )
        .into_response()
}

/// A 401/403 for a protected resource (RFC 6750 §3).
fn bearer_error(status: StatusCode, error: &str, description: &str) -> Response {
    let challenge =
        format!("Bearer realm=\"gantry\", error=\"{error}\", error_description=\"{description}\"");
    let mut response = (
        status,
        [(header::CACHE_CONTROL, "no-store")],
        axum::Json(json!({"error": error, "error_description": description})),
    )
        .into_response();
    if let Ok(value) = HeaderValue::from_str(&challenge) {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, value);
    }
    response
}

/// `GET|POST /oauth2/userinfo`: the end user of an `openid` access token.
pub async fn userinfo(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim());
    let Some(token) = token.filter(|t| !t.is_empty()) else {
        let mut response = (
            StatusCode::UNAUTHORIZED,
            [(header::CACHE_CONTROL, "no-store")],
        )
            .into_response();
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"gantry\""),
        );
        return response;
    };
    let claims = match state.issuer().keys().verify::<AccessTokenClaims>(token) {
        Ok(claims) => claims,
        Err(e) => return bearer_error(StatusCode::UNAUTHORIZED, "invalid_token", &e.to_string()),
    };
    match revoked_tokens::is_revoked(state.store(), &claims.jti).await {
        Ok(false) => {}
        Ok(true) => {
            return bearer_error(
                StatusCode::UNAUTHORIZED,
                "invalid_token",
                "the token was revoked",
            );
        }
        Err(error) => {
            tracing::error!(%error, "userinfo store failure");
            return (StatusCode::SERVICE_UNAVAILABLE, "temporarily unavailable").into_response();
        }
    }
    if claims.aut != "APPLICATION_USER" || !claims.scope.split_whitespace().any(|s| s == "openid") {
        return bearer_error(
            StatusCode::FORBIDDEN,
            "insufficient_scope",
            "userinfo needs a user token with the openid scope",
        );
    }
    (
        [(header::CACHE_CONTROL, "no-store")],
        axum::Json(json!({"sub": claims.sub, "preferred_username": claims.sub})),
    )
        .into_response()
}
