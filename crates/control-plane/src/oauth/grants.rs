//! `/oauth2/token`: the grants. Each one authenticates the client, decides the scopes,
//! and issues a signed access token, plus an opaque rotating refresh token for user grants
//! when the client may refresh, plus an ID token when `openid` was granted.

use std::collections::BTreeSet;

use axum::extract::State;
use axum::response::Response;
use gantry_keys::{AccessGrant, ApplicationClaim, IssuedToken, Subject};
use gantry_model::KeyType;
use gantry_store::authorization_codes::{self, Redemption};
use gantry_store::refresh_tokens::{self, RefreshToken};
use gantry_store::{apis, now_ms, subscriptions, users};
use serde_json::json;

use super::client_auth::{self, Client};
use super::jwt_bearer::{self, JWT_BEARER};
use super::{Form, OAuthError, OAuthRequest, exp_ms, no_store_json};
use crate::AppState;
use crate::credentials::verify_password;

/// Lifetime of a refresh token (WSO2's default, 24 h).
const REFRESH_TOKEN_SECS: i64 = 86_400;

/// `POST /oauth2/token`.
pub async fn token(State(state): State<AppState>, request: axum::extract::Request) -> Response {
    let result = async {
        let request = OAuthRequest::read(request).await?;
        issue(&state, &request).await
    }
    .await;
    result.unwrap_or_else(axum::response::IntoResponse::into_response)
}

async fn issue(state: &AppState, request: &OAuthRequest) -> Result<Response, OAuthError> {
    let form = request.form()?;
    let grant_type = form.require("grant_type")?;
    let public_allowed = matches!(grant_type, "authorization_code" | "refresh_token");
    let client = client_auth::authenticate(state, request, &form, public_allowed).await?;
    let known = matches!(
        grant_type,
        "client_credentials" | "password" | "refresh_token" | "authorization_code" | JWT_BEARER
    );
    if !known {
        return Err(OAuthError::new(
            axum::http::StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            format!("'{grant_type}' is not a supported grant type"),
        ));
    }
    if !client.allows(grant_type) {
        return Err(OAuthError::unauthorized_client(format!(
            "The client is not allowed to use the {grant_type} grant"
        )));
    }
    match grant_type {
        "client_credentials" => client_credentials(state, &client, &form).await,
        "password" => password(state, request, &client, &form).await,
        "refresh_token" => refresh(state, &client, &form).await,
        JWT_BEARER => jwt_bearer::grant(state, &client, &form).await,
        _ => authorization_code(state, &client, &form).await,
    }
}

async fn client_credentials(
    state: &AppState,
    client: &Client,
    form: &Form,
) -> Result<Response, OAuthError> {
    // Most calls ask for no scope: then the subscriptions need not be read.
    let granted: Vec<String> = if requested(form).next().is_none() {
        Vec::new()
    } else {
        let allowed = application_may(state, client).await?;
        requested(form)
            .filter(|s| allowed.contains(*s))
            .map(str::to_owned)
            .collect()
    };
    let issued = sign(state, client, Subject::Application, &granted)?;
    tracing::debug!(client_id = %client.key.consumer_key, jti = %issued.jti, "access token issued");
    Ok(respond(&issued, None, None))
}

async fn password(
    state: &AppState,
    request: &OAuthRequest,
    client: &Client,
    form: &Form,
) -> Result<Response, OAuthError> {
    let username = form.require("username")?;
    let password = form.require("password")?;
    let Some(user) = verify_password(state, username, password, request.peer).await? else {
        return Err(OAuthError::invalid_grant("Invalid username or password"));
    };
    let username = user.username.as_str();
    let roles = user_roles(state, username).await?;
    let granted = user_scopes(state, client, &roles, requested(form)).await?;
    let auth_time = gantry_keys::token::now_secs();
    issue_user_tokens(state, client, username, &granted, auth_time, None, None).await
}

async fn refresh(state: &AppState, client: &Client, form: &Form) -> Result<Response, OAuthError> {
    let presented = form.require("refresh_token")?;
    let hash = gantry_keys::secret::hash_secret(presented);
    let Some(stored) = refresh_tokens::find(state.store(), &hash).await? else {
        return Err(OAuthError::invalid_grant("The refresh token is invalid"));
    };
    if stored.client_id != client.key.consumer_key {
        return Err(OAuthError::invalid_grant(
            "The refresh token was issued to another client",
        ));
    }
    if stored.revoked != 0 {
        return Err(OAuthError::invalid_grant("The refresh token was revoked"));
    }
    if stored.spent == 0 && stored.expires_at <= now_ms() {
        return Err(OAuthError::invalid_grant("The refresh token has expired"));
    }
    // Checked before the token is spent, so a bad request does not burn it.
    let original: Vec<&str> = stored.scope.split_whitespace().collect();
    let scopes: Vec<String> = match form.get("scope") {
        None => original.iter().map(|s| (*s).to_owned()).collect(),
        Some(asked) if stored.spent == 0 => {
            let asked: Vec<&str> = asked.split_whitespace().collect();
            if let Some(wider) = asked.iter().find(|s| !original.contains(s)) {
                return Err(OAuthError::invalid_scope(format!(
                    "'{wider}' was not granted originally"
                )));
            }
            asked.into_iter().map(str::to_owned).collect()
        }
        Some(_) => Vec::new(),
    };
    if stored.spent != 0 || !refresh_tokens::spend(state.store(), &hash).await? {
        // A spent token presented again has leaked: revoke everything of its grant.
        let revoked = refresh_tokens::revoke_family(state.store(), &stored.family_id).await?;
        tracing::warn!(client_id = %stored.client_id, family = %stored.family_id, revoked, "refresh token reused; token family revoked");
        state.sync_environments().await?;
        return Err(OAuthError::invalid_grant(
            "The refresh token was already used; its grant is revoked",
        ));
    }
    let user = (!stored.username.is_empty()).then_some(stored.username.as_str());
    let subject = user.map_or(Subject::Application, Subject::User);
    let issued = sign(state, client, subject, &scopes)?;
    // The new refresh token keeps the original grant's scope (RFC 6749 §6).
    let refresh = new_refresh_token(
        state,
        client,
        &stored.family_id,
        &stored.username,
        &stored.scope,
        &issued,
        stored.auth_time,
    )
    .await?;
    let id_token = match user {
        Some(user) if scopes.iter().any(|s| s == "openid") => Some(state.issuer().issue_id_token(
            &client.key.consumer_key,
            user,
            u64::try_from(stored.auth_time).unwrap_or_default(),
            None,
            issued.expires_in,
        )?),
        _ => None,
    };
    Ok(respond(&issued, Some(&refresh), id_token.as_deref()))
}

async fn authorization_code(
    state: &AppState,
    client: &Client,
    form: &Form,
) -> Result<Response, OAuthError> {
    let code = form.require("code")?;
    let verifier = form.get("code_verifier");
    if let Some(v) = verifier
        && !gantry_keys::pkce::verifier_is_well_formed(v)
    {
        return Err(OAuthError::invalid_request(
            "code_verifier must be 43-128 characters of [A-Za-z0-9-._~]",
        ));
    }
    let hash = gantry_keys::secret::hash_secret(code);
    let code = match authorization_codes::redeem(state.store(), &hash).await? {
        Redemption::Unknown => {
            return Err(OAuthError::invalid_grant(
                "The authorization code is invalid",
            ));
        }
        Redemption::Reused(code) => {
            // RFC 6749 §4.1.2: a code used twice revokes what the first use produced.
            if code.client_id == client.key.consumer_key {
                refresh_tokens::revoke_family(state.store(), &code.family_id).await?;
                if !code.access_jti.is_empty() {
                    gantry_store::revoked_tokens::revoke(
                        state.store(),
                        &code.access_jti,
                        &code.client_id,
                        code.access_expires_at,
                    )
                    .await?;
                }
                state.sync_environments().await?;
                tracing::warn!(client_id = %code.client_id, "authorization code reused; its tokens are revoked");
            }
            return Err(OAuthError::invalid_grant(
                "The authorization code was already used",
            ));
        }
        Redemption::Redeemed(code) => code,
    };
    if code.client_id != client.key.consumer_key {
        return Err(OAuthError::invalid_grant(
            "The authorization code was issued to another client",
        ));
    }
    if code.expires_at <= now_ms() {
        return Err(OAuthError::invalid_grant(
            "The authorization code has expired",
        ));
    }
    if form.get("redirect_uri").unwrap_or(&code.redirect_uri) != code.redirect_uri {
        return Err(OAuthError::invalid_grant(
            "redirect_uri differs from the authorization request",
        ));
    }
    match (code.code_challenge.is_empty(), verifier) {
        (true, None) if !client.public => {}
        (true, _) => {
            return Err(OAuthError::invalid_grant(
                "No code_challenge was sent with the authorization request",
            ));
        }
        (false, None) => return Err(OAuthError::invalid_grant("code_verifier is required")),
        (false, Some(v)) => {
            if !gantry_keys::pkce::s256_matches(v, &code.code_challenge) {
                return Err(OAuthError::invalid_grant(
                    "code_verifier does not match the code_challenge",
                ));
            }
        }
    }
    let scopes: Vec<String> = code.scope.split_whitespace().map(str::to_owned).collect();
    let nonce = (!code.nonce.is_empty()).then(|| code.nonce.clone());
    let auth_time = u64::try_from(code.auth_time).unwrap_or_default();
    let response = issue_user_tokens(
        state,
        client,
        &code.username,
        &scopes,
        auth_time,
        nonce,
        Some((&hash, &code.family_id)),
    )
    .await?;
    Ok(response)
}

/// Access token (+ refresh token when the client may refresh, + ID token with `openid`)
/// for `username`. `code`: the redeemed code's digest and token family, if any.
async fn issue_user_tokens(
    state: &AppState,
    client: &Client,
    username: &str,
    scopes: &[String],
    auth_time: u64,
    nonce: Option<String>,
    code: Option<(&str, &str)>,
) -> Result<Response, OAuthError> {
    let issued = sign(state, client, Subject::User(username), scopes)?;
    let family = match code {
        Some((code_hash, family)) => {
            authorization_codes::record_access_token(
                state.store(),
                code_hash,
                &issued.jti,
                exp_ms(issued.expires_at),
            )
            .await?;
            family.to_owned()
        }
        None => gantry_store::new_id(),
    };
    let refresh = if client.allows("refresh_token") {
        Some(
            new_refresh_token(
                state,
                client,
                &family,
                username,
                &issued.scope,
                &issued,
                i64::try_from(auth_time).unwrap_or_default(),
            )
            .await?,
        )
    } else {
        None
    };
    let id_token = if scopes.iter().any(|s| s == "openid") {
        Some(state.issuer().issue_id_token(
            &client.key.consumer_key,
            username,
            auth_time,
            nonce,
            issued.expires_in,
        )?)
    } else {
        None
    };
    Ok(respond(&issued, refresh.as_deref(), id_token.as_deref()))
}

async fn new_refresh_token(
    state: &AppState,
    client: &Client,
    family_id: &str,
    username: &str,
    scope: &str,
    issued: &IssuedToken,
    auth_time: i64,
) -> Result<String, OAuthError> {
    let token = gantry_keys::secret::random_token(32);
    refresh_tokens::insert(
        state.store(),
        &RefreshToken {
            token_hash: gantry_keys::secret::hash_secret(&token),
            family_id: family_id.to_owned(),
            client_id: client.key.consumer_key.clone(),
            username: username.to_owned(),
            scope: scope.to_owned(),
            auth_time,
            access_jti: issued.jti.clone(),
            access_expires_at: exp_ms(issued.expires_at),
            expires_at: now_ms() + REFRESH_TOKEN_SECS * 1000,
            spent: 0,
            revoked: 0,
            created_at: 0,
        },
    )
    .await?;
    Ok(token)
}

pub(crate) fn sign(
    state: &AppState,
    client: &Client,
    subject: Subject<'_>,
    scopes: &[String],
) -> Result<IssuedToken, OAuthError> {
    let key_type = KeyType::parse(&client.key.key_type).unwrap_or(KeyType::Production);
    Ok(state.issuer().issue(AccessGrant {
        client_id: &client.key.consumer_key,
        subject,
        key_type,
        application: ApplicationClaim {
            id: client.app.id.clone(),
            uuid: client.app.id.clone(),
            name: client.app.name.clone(),
            tier: client.app.throttling_policy.clone(),
            owner: client.app.owner.clone(),
        },
        scopes,
        validity_secs: u64::try_from(client.key.validity_period).unwrap_or(3600),
    })?)
}

pub(super) fn respond(
    issued: &IssuedToken,
    refresh: Option<&str>,
    id_token: Option<&str>,
) -> Response {
    let mut body = json!({
        "access_token": issued.access_token,
        "scope": issued.scope,
        "token_type": "Bearer",
        "expires_in": issued.expires_in,
    });
    if let Some(refresh) = refresh {
        body["refresh_token"] = json!(refresh);
    }
    if let Some(id_token) = id_token {
        body["id_token"] = json!(id_token);
    }
    no_store_json(body)
}

fn requested(form: &Form) -> impl Iterator<Item = &str> {
    form.get("scope").unwrap_or_default().split_whitespace()
}

pub(crate) async fn user_roles(
    state: &AppState,
    username: &str,
) -> Result<Vec<String>, OAuthError> {
    Ok(users::find_by_username(state.store(), username)
        .await?
        .map(|u| u.role_list().map(str::to_owned).collect())
        .unwrap_or_default())
}

/// The requested scopes a user may grant this client: REST and OIDC scopes by the user's
/// roles (WSO2's role → scope map, as `/system-scopes` left it), API scopes by the application's subscriptions.
pub(crate) async fn user_scopes<'a>(
    state: &AppState,
    client: &Client,
    roles: &[String],
    requested: impl Iterator<Item = &'a str>,
) -> Result<Vec<String>, OAuthError> {
    let api = api_scopes(state, &client.app.id).await?;
    let system = crate::system_scopes::map(state).await?;
    let role_names = roles;
    let roles = roles.iter().map(String::as_str);
    let mut granted: Vec<String> = Vec::new();
    for scope in requested {
        let allowed = system.allows(roles.clone(), scope) || api.allow(scope, role_names);
        if allowed && !granted.iter().any(|g| g == scope) {
            granted.push(scope.to_owned());
        }
    }
    Ok(granted)
}

/// An application token (client_credentials) for the developer portal's generate-token:
/// the requested scopes the application's subscriptions allow.
pub(crate) async fn application_token(
    state: &AppState,
    client: &Client,
    requested: &[String],
) -> Result<IssuedToken, crate::error::ApiError> {
    let granted: Vec<String> = if requested.is_empty() {
        Vec::new()
    } else {
        let allowed = application_may(state, client)
            .await
            .map_err(|e| crate::error::ApiError::Internal(e.description))?;
        requested
            .iter()
            .filter(|s| allowed.contains(*s))
            .cloned()
            .collect()
    };
    sign(state, client, Subject::Application, &granted)
        .map_err(|e| crate::error::ApiError::Internal(e.description))
}

/// The scopes the operations of an application's subscribed APIs (and API products')
/// require, and the roles bound to them (`crate::scopes::bindings_of`), read in one pass.
struct ApiScopes {
    names: BTreeSet<String>,
    bindings: std::collections::BTreeMap<String, Vec<String>>,
}

impl ApiScopes {
    /// Whether a user with `roles` may have `scope` through the subscriptions.
    fn allow(&self, scope: &str, roles: &[String]) -> bool {
        self.names.contains(scope) && crate::scopes::roles_allow(&self.bindings, scope, roles)
    }
}

/// The scopes an application token may carry: its subscriptions', held to its owner's roles
/// where a scope binds roles (as WSO2 does).
async fn application_may(
    state: &AppState,
    client: &Client,
) -> Result<BTreeSet<String>, OAuthError> {
    let api = api_scopes(state, &client.app.id).await?;
    if api.bindings.is_empty() {
        return Ok(api.names);
    }
    let roles = user_roles(state, &client.app.owner).await?;
    Ok(api
        .names
        .iter()
        .filter(|s| api.allow(s, &roles))
        .cloned()
        .collect())
}

async fn api_scopes(state: &AppState, application_id: &str) -> Result<ApiScopes, OAuthError> {
    let mut names = BTreeSet::new();
    // The APIs whose `scopes` declare the bindings (a product's: the APIs it is made of).
    let mut declaring = Vec::new();
    for sub in subscriptions::list_for_application(state.store(), application_id).await? {
        if let Ok(api) = apis::get(state.store(), &sub.api_id).await {
            names.extend(
                api.operations
                    .iter()
                    .flat_map(|op| op.scopes.iter().cloned()),
            );
            // A GraphQL API's root fields carry its scopes.
            names.extend(
                api.gateway
                    .graphql
                    .iter()
                    .flat_map(|g| &g.operations)
                    .flat_map(|op| op.scopes.iter().cloned()),
            );
            declaring.push(api);
        } else if let Ok(product) =
            gantry_store::api_products::get(state.store(), &sub.api_id).await
        {
            for part in product.apis {
                names.extend(part.operations.into_iter().flat_map(|op| op.scopes));
                if let Ok(api) = apis::get(state.store(), &part.api_id).await {
                    declaring.push(api);
                }
            }
        }
    }
    let bindings = crate::scopes::bindings_of(state, declaring.iter()).await?;
    Ok(ApiScopes { names, bindings })
}
