//! Request extractors that fail with WSO2-style JSON errors instead of axum's plain text:
//! JSON bodies, query strings, and the authenticated user (HTTP Basic for now).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Query, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use base64::Engine;
use serde::de::DeserializeOwned;

use crate::AppState;
use crate::credentials::VerifiedUser;
use crate::error::ApiError;

/// A JSON request body; malformed or mistyped JSON is a 400 naming the problem.
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let mut value = match axum::Json::<serde_json::Value>::from_request(req, state).await {
            Ok(axum::Json(value)) => value,
            Err(rejection) => return Err(json_rejection(rejection)),
        };
        drop_nulls(&mut value);
        serde_path_to_error::deserialize(value)
            .map(JsonBody)
            .map_err(|e| {
                let path = e.path().to_string();
                let reason = e.into_inner();
                ApiError::BadRequest(if path == "." {
                    format!("Invalid request body: {reason}")
                } else {
                    format!("Invalid request body: {path}: {reason}")
                })
            })
    }
}

/// Removes every object member whose value is `null`, at any depth: WSO2's clients send
/// explicit `null`s for optional fields (`"apiPolicies": null`), and WSO2 reads them as
/// absent. Array elements are kept (a `null` element is still a mistake to report).
fn drop_nulls(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(members) => {
            members.retain(|_, v| !v.is_null());
            members.values_mut().for_each(drop_nulls);
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(drop_nulls),
        _ => {}
    }
}

fn json_rejection(rejection: JsonRejection) -> ApiError {
    match rejection {
        JsonRejection::MissingJsonContentType(_) => ApiError::UnsupportedMediaType(
            "Expected request with 'Content-Type: application/json'".into(),
        ),
        JsonRejection::JsonDataError(e) => ApiError::BadRequest(format!(
            "Invalid request body: {}",
            e.body_text()
                .trim_start_matches("Failed to deserialize the JSON body into the target type: ")
        )),
        JsonRejection::JsonSyntaxError(e) => ApiError::BadRequest(format!(
            "Malformed JSON: {}",
            e.body_text()
                .trim_start_matches("Failed to parse the request body as JSON: ")
        )),
        other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            ApiError::PayloadTooLarge("The request body is too large".into())
        }
        other => ApiError::BadRequest(other.body_text()),
    }
}

/// A typed query string; a wrong or missing parameter is a 400 naming it.
pub struct QueryParams<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for QueryParams<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Query::<T>::from_request_parts(parts, state).await {
            Ok(Query(value)) => Ok(QueryParams(value)),
            Err(QueryRejection::FailedToDeserializeQueryString(e)) => {
                Err(ApiError::BadRequest(format!(
                    "Invalid query parameters: {}",
                    e.body_text()
                        .trim_start_matches("Failed to deserialize query string: ")
                )))
            }
            Err(other) => Err(ApiError::BadRequest(other.body_text())),
        }
    }
}

/// The user a REST call is made by, and the REST scopes (`apim:*`) the call carries.
///
/// Two ways in, as in WSO2: an OAuth2 bearer token from the resident key manager (DCR +
/// password grant; the call may do what the token's scopes allow), or HTTP Basic (the call
/// may do what the user's roles allow, WSO2's role → scope map).
#[derive(Debug, Clone)]
pub struct AuthUser {
    /// Login name.
    pub username: String,
    /// Role names.
    pub roles: Vec<String>,
    /// The REST scopes this call may use.
    pub scopes: Vec<String>,
}

impl AuthUser {
    /// 403 unless the user has `role` (or is an admin).
    pub fn require_role(&self, role: &str) -> Result<(), ApiError> {
        if self.roles.iter().any(|r| r == role || r == "admin") {
            Ok(())
        } else {
            Err(ApiError::Forbidden(format!(
                "This operation needs the '{role}' role"
            )))
        }
    }

    /// 403 unless the call carries at least one of `any_of` (WSO2: each operation lists the
    /// scopes it accepts and any one is enough).
    pub fn require_scope(&self, any_of: &[&str]) -> Result<(), ApiError> {
        if self.has_any_scope(any_of) {
            Ok(())
        } else {
            Err(ApiError::Forbidden(format!(
                "The caller lacks the scope this operation needs: one of [{}]",
                any_of.join(", ")
            )))
        }
    }

    /// Whether the call carries at least one of `any_of`.
    pub fn has_any_scope(&self, any_of: &[&str]) -> bool {
        self.scopes.iter().any(|s| any_of.contains(&s.as_str()))
    }

    /// Whether the user holds the `admin` role.
    pub fn is_admin(&self) -> bool {
        self.roles
            .iter()
            .any(|r| r == gantry_keys::scopes::ADMIN_ROLE)
    }
}

/// Every REST scope the roles allow under the map in force (Basic-authenticated calls
/// carry these).
async fn scopes_of_roles(state: &AppState, roles: &[String]) -> Result<Vec<String>, ApiError> {
    Ok(crate::system_scopes::map(state).await?.scopes_of(roles))
}

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        // Already authenticated by a layer in front of the handler (publisher access control).
        if let Some(user) = parts.extensions.get::<AuthUser>() {
            return Ok(user.clone());
        }
        let header = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| {
                ApiError::Unauthenticated(
                    "Authentication required: send a Bearer token or HTTP Basic credentials".into(),
                )
            })?;
        if let Some(token) = bearer_token(header) {
            return bearer_user(state, token).await;
        }
        let (username, password) = parse_basic(header).ok_or_else(|| {
            ApiError::Unauthenticated("Malformed Authorization header: use Bearer or Basic".into())
        })?;
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip());
        match crate::credentials::verify_password(state, &username, &password, peer).await? {
            Some(user) => Ok(AuthUser {
                username: user.username,
                scopes: scopes_of_roles(state, &user.roles).await?,
                roles: user.roles,
            }),
            None => Err(ApiError::Unauthenticated(
                "Invalid username or password".into(),
            )),
        }
    }
}

/// `Bearer <token>` → the token.
fn bearer_token(header: &str) -> Option<&str> {
    let (scheme, token) = header.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// The user of a resident-key-manager access token: signature, expiry and issuer checked,
/// not revoked, the user still exists. Only the token's `apim:` scopes count.
async fn bearer_user(state: &AppState, token: &str) -> Result<AuthUser, ApiError> {
    let claims = state
        .issuer()
        .keys()
        .verify::<gantry_keys::AccessTokenClaims>(token)
        .map_err(|e| ApiError::Unauthenticated(format!("Invalid access token: {e}")))?;
    if gantry_store::revoked_tokens::is_revoked(state.store(), &claims.jti).await? {
        return Err(ApiError::Unauthenticated(
            "Invalid access token: the token was revoked".into(),
        ));
    }
    let user = gantry_store::users::find_by_username(state.store(), &claims.sub)
        .await?
        .ok_or_else(|| {
            ApiError::Unauthenticated("Invalid access token: its user no longer exists".into())
        })?;
    Ok(AuthUser {
        username: user.username.clone(),
        roles: user.role_list().map(str::to_owned).collect(),
        scopes: claims
            .scope
            .split_whitespace()
            .filter(|s| gantry_keys::scopes::is_rest_scope(s))
            .map(str::to_owned)
            .collect(),
    })
}

/// A caller holding the `admin` role (403 for other authenticated users).
#[derive(Debug, Clone)]
pub struct AdminUser {
    /// Login name.
    pub username: String,
}

impl FromRequestParts<AppState> for AdminUser {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let user = AuthUser::from_request_parts(parts, state).await?;
        user.require_scope(crate::rest_scopes::ADMIN_OPERATIONS)?;
        if !user.is_admin() {
            return Err(ApiError::Forbidden(
                "This operation needs the admin role".into(),
            ));
        }
        Ok(AdminUser {
            username: user.username,
        })
    }
}

/// Whether `username` exists and holds the `admin` role.
pub async fn is_admin(state: &AppState, username: &str) -> Result<bool, ApiError> {
    Ok(
        gantry_store::users::find_by_username(state.store(), username)
            .await?
            .is_some_and(|u| u.role_list().any(|r| r == gantry_keys::scopes::ADMIN_ROLE)),
    )
}

/// Splits `Basic base64(user:pass)`.
pub fn parse_basic(header: &str) -> Option<(String, String)> {
    let (scheme, encoded) = header.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, pass) = text.split_once(':')?;
    Some((user.to_owned(), pass.to_owned()))
}

/// Remembers recently verified passwords (by SHA-256 of `user:password`) for a few minutes,
/// so Basic-authenticated REST calls do not pay Argon2 on every request.
#[derive(Debug, Default)]
pub struct CredentialCache {
    entries: Mutex<HashMap<String, (Instant, VerifiedUser)>>,
}

const CREDENTIAL_TTL: Duration = Duration::from_secs(300);

impl CredentialCache {
    fn key(username: &str, password: &str) -> String {
        gantry_keys::secret::hash_secret(&format!("{username}\0{password}"))
    }

    pub(crate) fn check(&self, username: &str, password: &str) -> Option<VerifiedUser> {
        let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        entries
            .get(&Self::key(username, password))
            .filter(|(t, _)| t.elapsed() < CREDENTIAL_TTL)
            .map(|(_, user)| user.clone())
    }

    pub(crate) fn remember(&self, username: &str, password: &str, user: &VerifiedUser) {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if entries.len() > 10_000 {
            entries.retain(|_, (t, _)| t.elapsed() < CREDENTIAL_TTL);
        }
        entries.insert(
            Self::key(username, password),
            (Instant::now(), user.clone()),
        );
    }

    /// Forgets every cached credential (after a password change).
    pub fn clear(&self) {
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }
}

/// The caller when credentials are sent, `None` for an anonymous call; wrong credentials
/// are still a 401 (for resources anonymous users may read, like devportal APIs).
#[derive(Debug, Clone)]
pub struct MaybeUser(pub Option<AuthUser>);

impl FromRequestParts<AppState> for MaybeUser {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        if !parts.headers.contains_key(header::AUTHORIZATION) {
            return Ok(MaybeUser(None));
        }
        AuthUser::from_request_parts(parts, state)
            .await
            .map(|u| MaybeUser(Some(u)))
    }
}

/// The caller, checked to carry one of the scopes of `S` (401 without credentials, 403
/// without the scope). Put it before `Path`, `QueryParams` and the body, so authorization
/// comes before validation.
#[derive(Debug)]
pub struct Scoped<S>(pub AuthUser, pub std::marker::PhantomData<S>);

impl<S: crate::rest_scopes::ScopeSet> FromRequestParts<AppState> for Scoped<S> {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let user = AuthUser::from_request_parts(parts, state).await?;
        user.require_scope(S::ANY_OF)?;
        Ok(Scoped(user, std::marker::PhantomData))
    }
}
