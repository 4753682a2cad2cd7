//! `/oauth2/revoke` (RFC 7009) and `/oauth2/introspect` (RFC 7662).
//!
//! Access tokens are JWTs: revoking one records its `jti` until its `exp` and republishes
//! gateway snapshots, which carry the revoked ids. Refresh tokens are opaque: revoking one
//! revokes its whole grant (the family, and the access tokens it produced).
//!
//! Introspection callers authenticate as a privileged user (HTTP Basic, `admin` role, as
//! WSO2) or as a client, which learns about its own tokens only.

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use gantry_keys::AccessTokenClaims;
use gantry_store::{applications, now_ms, refresh_tokens, revoked_tokens};
use serde_json::{Value, json};

use super::client_auth::{self, Presented};
use super::{OAuthError, OAuthRequest, exp_ms, no_store_json};
use crate::AppState;
use crate::credentials::verify_password;

/// `POST /oauth2/revoke`.
pub async fn revoke(State(state): State<AppState>, request: axum::extract::Request) -> Response {
    let result = async {
        let request = OAuthRequest::read(request).await?;
        let form = request.form()?;
        let client = client_auth::authenticate(&state, &request, &form, true).await?;
        let token = form.require("token")?;
        let client_id = client.key.consumer_key.as_str();
        // The hint only orders the look-ups (RFC 7009 §2.1); a JWT is recognisable anyway.
        if looks_like_jwt(token) {
            if let Ok(claims) = state.issuer().keys().verify::<AccessTokenClaims>(token)
                && claims.client_id == client_id
            {
                revoked_tokens::revoke(state.store(), &claims.jti, client_id, exp_ms(claims.exp))
                    .await?;
                tracing::info!(%client_id, jti = %claims.jti, "access token revoked");
                state.sync_environments().await?;
            }
        } else {
            let hash = gantry_keys::secret::hash_secret(token);
            if let Some(stored) = refresh_tokens::find(state.store(), &hash).await?
                && stored.client_id == client_id
            {
                refresh_tokens::revoke_family(state.store(), &stored.family_id).await?;
                tracing::info!(%client_id, "refresh token revoked with its grant");
                state.sync_environments().await?;
            }
        }
        // 200 also for unknown, foreign or already revoked tokens (RFC 7009 §2.2).
        Ok::<_, OAuthError>((StatusCode::OK, [(header::CACHE_CONTROL, "no-store")]).into_response())
    }
    .await;
    result.unwrap_or_else(IntoResponse::into_response)
}

fn looks_like_jwt(token: &str) -> bool {
    token.bytes().filter(|b| *b == b'.').count() == 2
}

/// Who asked to introspect.
enum Caller {
    /// A user with the admin role: may see every token.
    Privileged,
    /// A client: may see its own tokens.
    Client(String),
}

async fn caller(
    state: &AppState,
    request: &OAuthRequest,
    form: &super::Form,
) -> Result<Caller, OAuthError> {
    // Basic credentials may name a privileged user (WSO2) or a client.
    if let Ok(Presented::Secret(name, secret)) = client_auth::presented(request, form)
        && form.get("client_id").is_none()
        && applications::find_resident_client(state.store(), &name)
            .await?
            .is_none()
    {
        let user = verify_password(state, &name, &secret, request.peer).await?;
        if !user.is_some_and(|u| u.roles.iter().any(|r| r == gantry_keys::scopes::ADMIN_ROLE)) {
            return Err(OAuthError::invalid_client());
        }
        return Ok(Caller::Privileged);
    }
    let client = client_auth::authenticate(state, request, form, false).await?;
    Ok(Caller::Client(client.key.consumer_key))
}

/// `POST /oauth2/introspect`.
pub async fn introspect(
    State(state): State<AppState>,
    request: axum::extract::Request,
) -> Response {
    let result = async {
        let request = OAuthRequest::read(request).await?;
        let form = request.form()?;
        let caller = caller(&state, &request, &form).await?;
        let token = form.require("token")?;
        let info = if looks_like_jwt(token) {
            access_token_info(&state, token).await?
        } else {
            refresh_token_info(&state, token).await?
        };
        let visible = match (&info, &caller) {
            (Some(_), Caller::Privileged) => info,
            (Some(v), Caller::Client(id)) if v["client_id"] == id.as_str() => info,
            _ => None,
        };
        Ok::<_, OAuthError>(no_store_json(
            visible.unwrap_or_else(|| json!({"active": false})),
        ))
    }
    .await;
    result.unwrap_or_else(IntoResponse::into_response)
}

/// The RFC 7662 answer for an access token; `None` when inactive.
async fn access_token_info(state: &AppState, token: &str) -> Result<Option<Value>, OAuthError> {
    let Ok(claims) = state.issuer().keys().verify::<AccessTokenClaims>(token) else {
        return Ok(None);
    };
    if revoked_tokens::is_revoked(state.store(), &claims.jti).await? {
        return Ok(None);
    }
    // Deleting a client's keys ends its tokens: the client id is never reused.
    if applications::find_resident_client(state.store(), &claims.client_id)
        .await?
        .is_none()
    {
        return Ok(None);
    }
    Ok(Some(json!({
        "active": true,
        "scope": claims.scope,
        "client_id": claims.client_id,
        "username": claims.sub,
        "sub": claims.sub,
        "token_type": "Bearer",
        "exp": claims.exp,
        "iat": claims.iat,
        "nbf": claims.nbf,
        "aud": claims.aud,
        "iss": claims.iss,
        "jti": claims.jti,
        "aut": claims.aut,
    })))
}

/// The RFC 7662 answer for a refresh token; `None` when inactive.
async fn refresh_token_info(state: &AppState, token: &str) -> Result<Option<Value>, OAuthError> {
    let hash = gantry_keys::secret::hash_secret(token);
    let Some(stored) = refresh_tokens::find(state.store(), &hash).await? else {
        return Ok(None);
    };
    if stored.spent != 0 || stored.revoked != 0 || stored.expires_at <= now_ms() {
        return Ok(None);
    }
    if applications::find_resident_client(state.store(), &stored.client_id)
        .await?
        .is_none()
    {
        return Ok(None);
    }
    let mut info = json!({
        "active": true,
        "scope": stored.scope,
        "client_id": stored.client_id,
        "token_type": "refresh_token",
        "exp": stored.expires_at / 1000,
        "iat": stored.created_at / 1000,
    });
    if !stored.username.is_empty() {
        info["username"] = json!(stored.username);
        info["sub"] = json!(stored.username);
    }
    Ok(Some(info))
}
