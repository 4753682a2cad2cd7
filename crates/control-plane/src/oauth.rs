//! The resident key manager's OAuth2 endpoints: `/oauth2/token` (client_credentials with
//! HTTP Basic or form client authentication) and `/oauth2/jwks`.
//!
//! Errors follow RFC 6749 §5.2: `{"error": "...", "error_description": "..."}`, with 401 and
//! `WWW-Authenticate` for a client that failed to authenticate.

use std::collections::BTreeSet;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use gantry_keys::token::ClientCredentialsGrant;
use gantry_keys::{ApplicationClaim, Jwks};
use gantry_model::KeyType;
use gantry_store::{apis, applications, subscriptions};
use serde_json::json;

use crate::AppState;
use crate::extract::parse_basic;

/// Routes of the key manager.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/oauth2/token", post(token))
        .route("/oauth2/jwks", get(jwks))
}

async fn jwks(State(state): State<AppState>) -> Response {
    let keys = Jwks {
        keys: vec![state.issuer().key().public_jwk()],
    };
    (
        [(header::CACHE_CONTROL, "public, max-age=300")],
        axum::Json(keys),
    )
        .into_response()
}

/// An RFC 6749 §5.2 error.
struct OAuthError {
    status: StatusCode,
    error: &'static str,
    description: String,
}

impl OAuthError {
    fn new(status: StatusCode, error: &'static str, description: impl Into<String>) -> Self {
        Self {
            status,
            error,
            description: description.into(),
        }
    }

    fn invalid_request(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", description)
    }

    fn invalid_client() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "Client authentication failed",
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
        response
    }
}

impl From<gantry_store::StoreError> for OAuthError {
    fn from(e: gantry_store::StoreError) -> Self {
        tracing::error!(error = %e, "token endpoint store failure");
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "temporarily_unavailable",
            "The authorization server is unavailable",
        )
    }
}

/// Parses a form body, refusing repeated parameters (RFC 6749 §3.2).
fn parse_form(headers: &HeaderMap, body: &[u8]) -> Result<Vec<(String, String)>, OAuthError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !content_type.starts_with("application/x-www-form-urlencoded") {
        return Err(OAuthError::invalid_request(
            "Content-Type must be application/x-www-form-urlencoded",
        ));
    }
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body)
        .map_err(|_| OAuthError::invalid_request("Malformed form body"))?;
    for (i, (name, _)) in pairs.iter().enumerate() {
        if pairs[..i].iter().any(|(n, _)| n == name) {
            return Err(OAuthError::invalid_request(format!(
                "Parameter '{name}' is repeated"
            )));
        }
    }
    Ok(pairs)
}

fn param<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

async fn token(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    match issue(&state, &headers, &body).await {
        Ok(response) => response,
        Err(error) => error.into_response(),
    }
}

async fn issue(state: &AppState, headers: &HeaderMap, body: &[u8]) -> Result<Response, OAuthError> {
    let form = parse_form(headers, body)?;
    let grant_type = param(&form, "grant_type")
        .ok_or_else(|| OAuthError::invalid_request("grant_type is required"))?;

    // Client authentication: HTTP Basic, or client_id + client_secret in the body; not both.
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(parse_basic);
    let (client_id, client_secret) = match (
        basic,
        param(&form, "client_id"),
        param(&form, "client_secret"),
    ) {
        (Some(_), _, Some(_)) => {
            return Err(OAuthError::invalid_request(
                "Use one client authentication method, not two",
            ));
        }
        (Some((id, secret)), _, None) => (id, secret),
        (None, Some(id), Some(secret)) => (id.to_owned(), secret.to_owned()),
        _ => return Err(OAuthError::invalid_client()),
    };
    let Some((key, app)) = applications::find_by_consumer_key(state.store(), &client_id).await?
    else {
        return Err(OAuthError::invalid_client());
    };
    if !gantry_keys::secret::verify_secret(&client_secret, &key.consumer_secret_hash) {
        return Err(OAuthError::invalid_client());
    }

    match grant_type {
        "client_credentials" => {}
        "password"
        | "refresh_token"
        | "authorization_code"
        | "urn:ietf:params:oauth:grant-type:jwt-bearer" => {
            return Err(OAuthError::new(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                format!("The '{grant_type}' grant is not supported by this server yet"),
            ));
        }
        other => {
            return Err(OAuthError::new(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                format!("'{other}' is not a supported grant type"),
            ));
        }
    }
    if !key.grant_types.iter().any(|g| g == "client_credentials") {
        return Err(OAuthError::new(
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            "The client is not allowed to use the client_credentials grant",
        ));
    }

    let requested: Vec<&str> = param(&form, "scope")
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    let allowed = allowed_scopes(state, &app.id).await?;
    let granted: Vec<String> = requested
        .iter()
        .filter(|s| allowed.contains(**s))
        .map(|s| (*s).to_owned())
        .collect();

    let key_type = KeyType::parse(&key.key_type).unwrap_or(KeyType::Production);
    let issued = state
        .issuer()
        .issue_client_credentials(ClientCredentialsGrant {
            client_id: &key.consumer_key,
            key_type,
            application: ApplicationClaim {
                id: app.id.clone(),
                uuid: app.id.clone(),
                name: app.name.clone(),
                tier: app.throttling_policy.clone(),
                owner: app.owner.clone(),
            },
            scopes: &granted,
            validity_secs: u64::try_from(key.validity_period).unwrap_or(3600),
        })
        .map_err(|e| {
            tracing::error!(error = %e, "token signing failed");
            OAuthError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                "The token could not be signed",
            )
        })?;
    tracing::debug!(client_id = %key.consumer_key, jti = %issued.jti, "access token issued");
    Ok((
        [
            (header::CACHE_CONTROL, "no-store"),
            (header::PRAGMA, "no-cache"),
        ],
        axum::Json(json!({
            "access_token": issued.access_token,
            "scope": issued.scope,
            "token_type": "Bearer",
            "expires_in": issued.expires_in,
        })),
    )
        .into_response())
}

/// The scopes an application may be granted: those its subscribed APIs' operations require.
async fn allowed_scopes(
    state: &AppState,
    application_id: &str,
) -> Result<BTreeSet<String>, OAuthError> {
    let mut scopes = BTreeSet::new();
    for sub in subscriptions::list_for_application(state.store(), application_id).await? {
        if let Ok(api) = apis::get(state.store(), &sub.api_id).await {
            scopes.extend(api.operations.into_iter().flat_map(|op| op.scopes));
        }
    }
    Ok(scopes)
}
