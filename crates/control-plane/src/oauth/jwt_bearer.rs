//! The JWT bearer grant (RFC 7523 §2.1): a confidential client exchanges an assertion from a
//! trusted identity provider (configured with `--jwt-bearer-trust-file`) for an access
//! token acting for the asserted user, who must exist here (their roles decide scopes).
//!
//! Each assertion is used once: its `jti` is remembered until it expires (in memory, per
//! control-plane process). No refresh token is issued; the client asks again with a new
//! assertion.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use axum::response::Response;
use gantry_keys::Subject;
use gantry_keys::token::now_secs;
use gantry_store::users;

use super::client_auth::Client;
use super::grants::{respond, sign, user_scopes};
use super::{Form, OAuthError};
use crate::AppState;

/// The grant type's name.
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// Most remembered assertion ids; beyond, expired ones are dropped first, then new
/// assertions are refused until room frees up (fail closed).
const MAX_REMEMBERED: usize = 100_000;

/// The ids of assertions already used, until they expire.
#[derive(Debug, Default)]
pub struct AssertionReplay {
    seen: Mutex<HashMap<String, u64>>,
}

impl AssertionReplay {
    /// Records `iss`/`jti` (valid until `exp`); false when seen before or when full.
    pub fn first_use(&self, iss: &str, jti: &str, exp: u64) -> bool {
        let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        let now = now_secs();
        if seen.len() >= MAX_REMEMBERED {
            seen.retain(|_, until| *until + 60 > now);
            if seen.len() >= MAX_REMEMBERED {
                return false;
            }
        }
        let key = format!("{iss}\0{jti}");
        match seen.get(&key) {
            Some(until) if *until + 60 > now => false,
            _ => {
                seen.insert(key, exp);
                true
            }
        }
    }
}

/// `grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer`.
pub async fn grant(state: &AppState, client: &Client, form: &Form) -> Result<Response, OAuthError> {
    let assertion = form.require("assertion")?;
    let Some(verifier) = state.assertion_verifier() else {
        return Err(OAuthError::invalid_grant(
            "No assertion issuer is trusted by this server",
        ));
    };
    let claims = verifier
        .verify(assertion)
        .map_err(|e| OAuthError::invalid_grant(e.to_string()))?;
    if !state
        .assertion_replay()
        .first_use(&claims.iss, &claims.jti, claims.exp)
    {
        return Err(OAuthError::invalid_grant("The assertion was already used"));
    }
    let Some(user) = users::find_by_username(state.store(), &claims.sub).await? else {
        return Err(OAuthError::invalid_grant(
            "The asserted user does not exist here",
        ));
    };
    let roles: Vec<String> = user.role_list().map(str::to_owned).collect();
    let requested = form.get("scope").unwrap_or_default().split_whitespace();
    let scopes = user_scopes(state, client, &roles, requested).await?;
    let issued = sign(state, client, Subject::User(&user.username), &scopes)?;
    tracing::debug!(client_id = %client.key.consumer_key, iss = %claims.iss, "assertion exchanged");
    Ok(respond(&issued, None, None))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_assertion_id_is_accepted_once_per_issuer() {
        let replay = AssertionReplay::default();
        let exp = now_secs() + 300;
        assert!(replay.first_use("idp", "j1", exp));
        assert!(!replay.first_use("idp", "j1", exp));
        assert!(replay.first_use("other-idp", "j1", exp));
    }
}
