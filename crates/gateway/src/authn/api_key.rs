//! The API-key verifier: a WSO2 API key (a JWT of the resident key manager with
//! `token_type: apiKey`) in the API's API-key header or query parameter, checked like a
//! token (`jwt::verify_with`) but with `exp` optional, and cached by digest. Its application
//! and key type are in the key itself.

use std::sync::Arc;

use super::denial::{Denial, invalid};
use super::jwt::verify_with;
use crate::compiled::{ApiEntry, CLOCK_SKEW_SECS, CompiledConfig};
use crate::credential::{API_KEY_TOKEN_TYPE, ApiKeyClaims, Caller, CallerClaims};

/// Authenticates the API key `key`: who is calling, or 401 `900901`.
pub fn authenticate(config: &CompiledConfig, api: &ApiEntry, key: &str) -> Result<Caller, Denial> {
    if key.is_empty() {
        return Err(invalid("The API key is empty"));
    }
    let (claims, digest) = config.api_key_cache.get_or_verify(key, || {
        verify(config, key).map(|claims| {
            let until = claims
                .exp
                .map_or(u64::MAX, |exp| exp.saturating_add(CLOCK_SKEW_SECS));
            (claims, until)
        })
    })?;
    if let Some(jti) = &claims.jti
        && config.revoked_token_ids.contains(jti)
    {
        return Err(invalid("The API key has been revoked"));
    }
    let application_id: Arc<str> = Arc::from(claims.application.uuid.as_str());
    Ok(Caller {
        application: config.application_for_backend_jwt(api, &application_id),
        application_id,
        key_type: claims.keytype,
        credential_digest: digest,
        claims: CallerClaims::ApiKey(claims),
    })
}

fn verify(config: &CompiledConfig, key: &str) -> Result<ApiKeyClaims, Denial> {
    let (verified, issuer): (ApiKeyClaims, _) =
        verify_with(config, key, |k| &k.api_key_validation)?;
    if verified.token_type.as_deref() != Some(API_KEY_TOKEN_TYPE) {
        return Err(invalid("The credential is not an API key"));
    }
    // Only the resident key manager mints API keys: the application named in a key is
    // taken on its word alone, which no other issuer's word may stand in for.
    if config.resident_issuer.as_deref() != Some(&*issuer) {
        return Err(invalid(
            "The API key is not issued by the resident key manager",
        ));
    }
    Ok(verified)
}

/// The value of query parameter `name` (matched case-insensitively), if present.
pub fn query_param<'q>(query: &'q str, name: &str) -> Option<&'q str> {
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        k.eq_ignore_ascii_case(name).then_some(v)
    })
}
