//! The bearer-JWT verifier: an access token in the API's authorization header, checked
//! against the configuration's keys (the verifier, not the token, chooses the key and the
//! algorithm: RFC 8725 §3.1), cached by digest until it expires, and resolved to an
//! application only through a key mapping of the issuer whose key verified it. Also the JWT
//! check API keys share (`verify_with`).

use std::sync::Arc;

use serde::Deserialize;

use super::denial::{Denial, invalid, missing_credentials, not_subscribed};
use crate::compiled::{ApiEntry, CLOCK_SKEW_SECS, CompiledConfig, VerificationKey};
use crate::credential::{AccessClaims, Caller, CallerClaims};

/// Authenticates the bearer token in `raw` (the API's authorization header): who is
/// calling, or 401 (`900902` no token, `900901` not a valid one) or 403 (`900908`, a client
/// the token's issuer has no application for).
pub fn authenticate(
    config: &CompiledConfig,
    api: &ApiEntry,
    raw: &http::HeaderValue,
) -> Result<Caller, Denial> {
    let token = raw
        .to_str()
        .ok()
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(missing_credentials)?;
    let (claims, digest) = config.token_cache.get_or_verify(token, || {
        verify(config, token).map(|claims| {
            // Cache until expiry plus the tolerated skew, exactly as long as it would verify.
            let until = claims.exp.saturating_add(CLOCK_SKEW_SECS);
            (claims, until)
        })
    })?;
    if let Some(jti) = &claims.jti
        && config.revoked_token_ids.contains(jti)
    {
        return Err(invalid("The token has been revoked"));
    }
    if claims.token_type.is_some() {
        // An API key (`token_type: apiKey`) is not a bearer token.
        return Err(invalid("The credential is not an access token"));
    }
    let client_id = claims.client_id().unwrap_or_default();
    // Among the clients of the issuer whose key verified the token only: another key
    // manager's client of the same id is not this caller.
    let Some(owner) = config.consumer_keys.resolve(&claims.issuer, client_id) else {
        return Err(not_subscribed());
    };
    Ok(Caller {
        application: config.application_for_backend_jwt(api, &owner.application_id),
        application_id: owner.application_id.clone(),
        key_type: owner.key_type,
        credential_digest: digest,
        claims: CallerClaims::Access(claims),
    })
}

fn verify(config: &CompiledConfig, token: &str) -> Result<AccessClaims, Denial> {
    let (mut claims, issuer): (AccessClaims, _) = verify_with(config, token, |k| &k.validation)?;
    claims.issuer = issuer;
    // Only when conditional throttling reads claims; cached with the claims until expiry.
    claims.selected = crate::credential::SelectedClaims::read(token, &config.claim_names);
    Ok(claims)
}

/// Checks `token`'s signature with the key its `kid` names, pinned to that key's algorithm,
/// and its claims with the checks `validation` picks for the credential type. The claims,
/// and the issuer of the key that verified them.
pub(super) fn verify_with<C: serde::de::DeserializeOwned>(
    config: &CompiledConfig,
    token: &str,
    validation: impl Fn(&VerificationKey) -> &jsonwebtoken::Validation,
) -> Result<(C, Arc<str>), Denial> {
    let header = jsonwebtoken::decode_header(token)
        .map_err(|_| invalid("The token is not a well-formed JWT"))?;
    if header.crit.is_some() {
        // RFC 7515 §4.1.11: extensions listed as critical must be understood; none are.
        return Err(invalid(
            "The token lists critical header parameters the gateway does not support",
        ));
    }
    let kid = header
        .kid
        .as_deref()
        .ok_or_else(|| invalid("The token names no signing key (kid)"))?;
    let fetched;
    let key = match config.keys.get(kid) {
        Some(key) => key,
        None => {
            // Only an unknown kid gets here: the claimed issuer picks which fetched keys to
            // look in (the signature check then requires `iss` to be that issuer).
            let issuer = unverified_issuer(token);
            match issuer
                .as_deref()
                .and_then(|iss| config.fetched_keys.get(iss, kid))
            {
                Some(key) => {
                    fetched = key;
                    &*fetched
                }
                None => {
                    let mut denial = invalid("The token is signed by an unknown key");
                    denial.refetch = issuer
                        .filter(|iss| config.jwks_sources.contains_key(iss.as_str()))
                        .map(|iss| Arc::from(iss.as_str()));
                    return Err(denial);
                }
            }
        }
    };
    if header.alg != key.algorithm {
        return Err(invalid("The token's algorithm does not match its key"));
    }
    match jsonwebtoken::decode::<C>(token, &key.key, validation(key)) {
        Ok(data) => Ok((data.claims, key.issuer.clone())),
        Err(e) => Err(invalid(match e.kind() {
            jsonwebtoken::errors::ErrorKind::ExpiredSignature => "Access Token Expired",
            jsonwebtoken::errors::ErrorKind::ImmatureSignature => {
                "The token is not valid yet (nbf)"
            }
            jsonwebtoken::errors::ErrorKind::InvalidIssuer => {
                "The token's issuer is not trusted for this key"
            }
            jsonwebtoken::errors::ErrorKind::InvalidSignature => "The token's signature is invalid",
            _ => "The token could not be validated",
        })),
    }
}

/// The `iss` a token claims, read without verification: only to choose where to look for
/// an unknown `kid`, never trusted as such.
fn unverified_issuer(token: &str) -> Option<String> {
    #[derive(Deserialize)]
    struct Issuer {
        iss: String,
    }
    let payload = token.split('.').nth(1)?;
    let bytes =
        base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, payload).ok()?;
    serde_json::from_slice::<Issuer>(&bytes).ok().map(|i| i.iss)
}
