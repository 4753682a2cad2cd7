//! Every place a user's password is checked (REST Basic, SCIM, client registration, the
//! portals' sign-in, the password grant, introspection) goes through [`verify_password`]:
//! one failure limit per user name and address, the credential cache, and bounded Argon2.

use std::net::IpAddr;
use std::num::NonZeroUsize;
use std::sync::LazyLock;
use std::time::Duration;

use tokio::sync::{Semaphore, SemaphorePermit};

use crate::AppState;
use crate::error::ApiError;

/// A user whose password was right.
#[derive(Debug, Clone, Default)]
pub struct VerifiedUser {
    /// The stored login name (user names match case-insensitively, as in WSO2).
    pub username: String,
    /// Role names.
    pub roles: Vec<String>,
}

/// Why a password check gave no answer.
#[derive(Debug)]
pub enum PasswordError {
    /// Too many failures for this user name or address: retry after the duration. The
    /// password was not checked, so a right one is refused too.
    TooManyFailures(Duration),
    /// The store failed.
    Failed(ApiError),
}

impl From<ApiError> for PasswordError {
    fn from(e: ApiError) -> Self {
        PasswordError::Failed(e)
    }
}

impl From<gantry_store::StoreError> for PasswordError {
    fn from(e: gantry_store::StoreError) -> Self {
        PasswordError::Failed(e.into())
    }
}

impl From<PasswordError> for ApiError {
    fn from(e: PasswordError) -> Self {
        match e {
            PasswordError::TooManyFailures(retry_after) => ApiError::TooManyRequests {
                message: "Too many failed authentication attempts; retry later".into(),
                retry_after,
            },
            PasswordError::Failed(e) => e,
        }
    }
}

/// The key the failure limit counts a user name under: names are case-insensitive, so
/// `ADMIN` and `admin` share one budget.
fn limit_key(username: &str) -> String {
    username.to_ascii_lowercase()
}

/// Checks `username` / `password` for a caller at `peer`: `Ok(None)` for a wrong user name
/// or password (counted as a failure), `TooManyFailures` before any check once the user
/// name or the address is over its limit. A cached success costs no Argon2.
pub async fn verify_password(
    state: &AppState,
    username: &str,
    password: &str,
    peer: Option<IpAddr>,
) -> Result<Option<VerifiedUser>, PasswordError> {
    let key = limit_key(username);
    let limited = || {
        state
            .failures()
            .check(Some(&key), peer)
            .map_err(PasswordError::TooManyFailures)
    };
    limited()?;
    if let Some(user) = state.credential_cache().check(&key, password) {
        return Ok(Some(user));
    }
    let user = if username.is_empty() {
        None
    } else {
        gantry_store::users::find_by_username(state.store(), username).await?
    };
    let permit = argon2_permit().await?;
    // Guesses sent at once all pass the first check; those that waited for a permit while
    // others failed are refused here, without hashing.
    limited()?;
    let candidate = password.to_owned();
    let hash = user.as_ref().map(|u| u.password_hash.clone());
    let valid = tokio::task::spawn_blocking(move || match hash {
        Some(hash) => gantry_keys::password::verify_password(&candidate, &hash),
        None => gantry_keys::password::verify_without_user(&candidate),
    })
    .await
    .unwrap_or(false);
    drop(permit);
    match user.filter(|_| valid) {
        Some(user) => {
            let verified = VerifiedUser {
                roles: user.role_list().map(str::to_owned).collect(),
                username: user.username,
            };
            state.credential_cache().remember(&key, password, &verified);
            Ok(Some(verified))
        }
        None => {
            state.failures().record_failure(Some(&key), peer);
            Ok(None)
        }
    }
}

/// Most Argon2 computations at once, whatever the core count: each keeps ~19 MiB pooled, so
/// a large host would otherwise hold cores × 19 MiB after one burst.
const MAX_ARGON2_AT_ONCE: usize = 4;

/// At most one Argon2 computation per core (and at most [`MAX_ARGON2_AT_ONCE`]) at a time: a
/// burst of guesses queues here instead of growing the heap (and the blocking thread pool).
static ARGON2_PERMITS: LazyLock<Semaphore> = LazyLock::new(|| {
    Semaphore::new(
        std::thread::available_parallelism()
            .map_or(2, NonZeroUsize::get)
            .min(MAX_ARGON2_AT_ONCE),
    )
});

async fn argon2_permit() -> Result<SemaphorePermit<'static>, ApiError> {
    ARGON2_PERMITS
        .acquire()
        .await
        .map_err(|e| ApiError::Internal(format!("argon2 permits: {e}")))
}

/// Runs an Argon2 hash or verification on a blocking thread, within the per-core bound.
pub(crate) async fn argon2<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ApiError> {
    let _permit = argon2_permit().await?;
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| ApiError::Internal(format!("argon2 task: {e}")))
}

/// Hashes a new OAuth2 client secret (Argon2id) off the async runtime.
pub(crate) async fn hash_client_secret(secret: &str) -> Result<String, ApiError> {
    let secret = secret.to_owned();
    argon2(move || gantry_keys::secret::hash_client_secret(&secret))
        .await?
        .map_err(ApiError::from)
}

/// Checks a presented client secret against its stored hash; a success is remembered for a
/// few minutes (keyed by the stored hash, so a regenerated secret starts afresh), so the
/// token endpoint pays Argon2 once per client, not once per request.
pub(crate) async fn verify_client_secret(state: &AppState, secret: &str, stored: &str) -> bool {
    let cache_user = format!("client\0{stored}");
    if state
        .credential_cache()
        .check(&cache_user, secret)
        .is_some()
    {
        return true;
    }
    let (candidate, hash) = (secret.to_owned(), stored.to_owned());
    let valid = argon2(move || gantry_keys::secret::verify_client_secret(&candidate, &hash))
        .await
        .unwrap_or(false);
    if valid {
        state
            .credential_cache()
            .remember(&cache_user, secret, &VerifiedUser::default());
    }
    valid
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_names_share_one_failure_budget_whatever_their_case() {
        assert_eq!(limit_key("ADMIN"), limit_key("admin"));
        assert_ne!(limit_key("admin"), limit_key("admin2"));
    }
}
