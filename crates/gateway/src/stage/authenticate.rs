//! The authenticate stage: who is calling. Operations with `authType: None` pass as
//! anonymous; for the others the API's security scheme says which credentials count — a
//! bearer JWT, an API key, a client certificate — and this is the one place that chooses
//! among them (`authn/` verifies each). What the caller may do is the authorise stage's.

use gantry_model::{AuthType, KeyType};
use http::{HeaderMap, Request};

use super::Answer;
use super::route::Routed;
use crate::authn::client_cert::{self, PeerCertificate};
use crate::authn::denial::{Denial, invalid, missing_api_key, missing_credentials};
use crate::authn::jwks_refresher::JwksRefresher;
use crate::authn::{api_key, jwt};
use crate::compiled::client_certs::CertificateTier;
use crate::compiled::{ApiEntry, CompiledConfig};
use crate::credential::Caller;
use crate::metrics::Outcome;

/// Who a request was admitted as.
#[derive(Default)]
pub struct Authenticated {
    /// The application whose token or API key was presented.
    pub caller: Option<Caller>,
    /// The client certificate's tier, when the certificate alone admitted the call.
    pub certificate: Option<CertificateTier>,
}

impl Authenticated {
    /// The keys used, which choose the endpoint (production for anonymous callers).
    pub fn key_type(&self) -> KeyType {
        self.caller
            .as_ref()
            .map_or(KeyType::Production, |c| c.key_type)
    }

    fn caller(caller: Caller) -> Self {
        Self {
            caller: Some(caller),
            certificate: None,
        }
    }
}

/// Authenticates `request` for `routed`, or answers 401 (403 `900908` for a token whose
/// client no application of its issuer holds).
pub async fn run<B>(
    config: &CompiledConfig,
    jwks: &JwksRefresher,
    routed: &Routed<'_>,
    request: &Request<B>,
    outcome: &mut Outcome,
) -> Result<Authenticated, Answer> {
    if routed.operation.auth_type == AuthType::None {
        return Ok(Authenticated::default());
    }
    identify(
        config,
        jwks,
        &routed.api,
        request.headers(),
        request.uri().query(),
        request.extensions().get(),
    )
    .await
    .map_err(|denied| {
        outcome.failure = Some(denied.reason());
        denied.into_response()
    })
}

/// The caller of `api`, by the credentials its security scheme accepts. Without mutual TLS:
/// a token or API key. With it: a trusted client certificate when `mutualssl_mandatory`
/// (or no application security) requires one, then a token or API key when
/// `oauth_basic_auth_api_key_mandatory` requires one or no trusted certificate was shown.
async fn identify(
    config: &CompiledConfig,
    jwks: &JwksRefresher,
    api: &ApiEntry,
    headers: &HeaderMap,
    query: Option<&str>,
    peer: Option<&PeerCertificate>,
) -> Result<Authenticated, Denial> {
    let Some(mtls) = api.mtls.as_deref() else {
        return application(config, jwks, api, headers, query)
            .await
            .map(Authenticated::caller);
    };
    let trusted = client_cert::verify(mtls, peer);
    if trusted.is_none() && mtls.mandatory {
        return Err(client_cert::untrusted(peer.is_some()));
    }
    if mtls.application_security && (mtls.application_mandatory || trusted.is_none()) {
        return application(config, jwks, api, headers, query)
            .await
            .map(Authenticated::caller);
    }
    Ok(Authenticated {
        caller: None,
        certificate: trusted.and_then(|t| t.tier()),
    })
}

/// [`credential`], and when the credential is signed by a key the configuration does not
/// hold, of an external issuer with a JWKS URL: re-reads that JWKS through `jwks`
/// (single-flight, rate-limited per issuer) and tries once more.
async fn application(
    config: &CompiledConfig,
    jwks: &JwksRefresher,
    api: &ApiEntry,
    headers: &HeaderMap,
    query: Option<&str>,
) -> Result<Caller, Denial> {
    match credential(config, api, headers, query) {
        Err(Denial {
            refetch: Some(issuer),
            ..
        }) => {
            jwks.refresh(config, &issuer).await;
            credential(config, api, headers, query)
        }
        decided => decided,
    }
}

/// The application behind the token in the API's authorization header (`oauth2`), else the
/// API key in its API-key header or query parameter (`api_key`). A token is accepted only
/// where its type belongs: never an API key as a bearer token, nor the reverse.
pub fn credential(
    config: &CompiledConfig,
    api: &ApiEntry,
    headers: &HeaderMap,
    query: Option<&str>,
) -> Result<Caller, Denial> {
    if api.accepts_oauth {
        let mut values = headers.get_all(&api.authorization_header).iter();
        if let Some(raw) = values.next() {
            if values.next().is_some() {
                // Which one would count is ambiguous (RFC 6750 §3.1 invalid_request).
                return Err(invalid(
                    "The request carries more than one authorization header",
                ));
            }
            return jwt::authenticate(config, api, raw);
        }
    }
    if let Some(key_in) = &api.api_key {
        if let Some(raw) = headers.get(&key_in.header) {
            let key = raw.to_str().map(str::trim).unwrap_or_default();
            return api_key::authenticate(config, api, key);
        }
        if let Some(key) = query.and_then(|q| api_key::query_param(q, &key_in.query)) {
            return api_key::authenticate(config, api, key);
        }
        if !api.accepts_oauth {
            return Err(missing_api_key(key_in.header.as_str()));
        }
    }
    Err(missing_credentials())
}
