//! Request extractors that fail with WSO2-style JSON errors instead of axum's plain text:
//! JSON bodies, query strings, and the authenticated user (HTTP Basic for now).

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Query, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use base64::Engine;
use serde::de::DeserializeOwned;

use crate::AppState;
use crate::error::ApiError;

/// A JSON request body; malformed or mistyped JSON is a 400 naming the problem.
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(JsonBody(value)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
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

/// The user a REST call is made by.
#[derive(Debug, Clone)]
pub struct AuthUser {
    /// Login name.
    pub username: String,
    /// Role names.
    pub roles: Vec<String>,
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
}

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let header = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| {
                ApiError::Unauthenticated(
                    "Authentication required: send HTTP Basic credentials".into(),
                )
            })?;
        let (username, password) = parse_basic(header)
            .ok_or_else(|| ApiError::Unauthenticated("Malformed Basic credentials".into()))?;
        match verify_user(state, &username, &password).await? {
            Some(roles) => Ok(AuthUser { username, roles }),
            None => Err(ApiError::Unauthenticated(
                "Invalid username or password".into(),
            )),
        }
    }
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
        if !user
            .roles
            .iter()
            .any(|r| r == gantry_keys::scopes::ADMIN_ROLE)
        {
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

/// Verifies `username` / `password` against the users table (through the credential cache).
pub async fn check_password(
    state: &AppState,
    username: &str,
    password: &str,
) -> Result<bool, ApiError> {
    Ok(verify_user(state, username, password).await?.is_some())
}

/// The user's roles when the password is right; `None` when the user or password is wrong.
async fn verify_user(
    state: &AppState,
    username: &str,
    password: &str,
) -> Result<Option<Vec<String>>, ApiError> {
    if let Some(roles) = state.credential_cache().check(username, password) {
        return Ok(Some(roles));
    }
    let Some(user) = gantry_store::users::find_by_username(state.store(), username).await? else {
        return Ok(None);
    };
    let (candidate, hash) = (password.to_owned(), user.password_hash.clone());
    let valid = tokio::task::spawn_blocking(move || {
        gantry_keys::password::verify_password(&candidate, &hash)
    })
    .await
    .unwrap_or(false);
    if !valid {
        return Ok(None);
    }
    let roles: Vec<String> = user.role_list().map(str::to_owned).collect();
    state
        .credential_cache()
        .remember(username, password, &roles);
    Ok(Some(roles))
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
    entries: Mutex<HashMap<String, (Instant, Vec<String>)>>,
}

const CREDENTIAL_TTL: Duration = Duration::from_secs(300);

impl CredentialCache {
    fn key(username: &str, password: &str) -> String {
        gantry_keys::secret::hash_secret(&format!("{username}\0{password}"))
    }

    pub(crate) fn check(&self, username: &str, password: &str) -> Option<Vec<String>> {
        let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        entries
            .get(&Self::key(username, password))
            .filter(|(t, _)| t.elapsed() < CREDENTIAL_TTL)
            .map(|(_, roles)| roles.clone())
    }

    pub(crate) fn remember(&self, username: &str, password: &str, roles: &[String]) {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if entries.len() > 10_000 {
            entries.retain(|_, (t, _)| t.elapsed() < CREDENTIAL_TTL);
        }
        entries.insert(
            Self::key(username, password),
            (Instant::now(), roles.to_vec()),
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
