//! The backend JWT (WSO2's `X-JWT-Assertion`): for an API that enables it, the gateway tells
//! the upstream who is calling in a short-lived JWT it signs with its own key, carrying
//! WSO2's `http://wso2.org/claims/*` claims. Upstreams verify it with the gateway's public
//! key, served as a JWKS on the ops port (`/.well-known/jwks.json`).
//!
//! The application claims come from the application the gateway resolved, never from the
//! credential. Signing happens once per (API, credential, application, key type) and
//! assertion lifetime: the signed header value is cached in the compiled configuration.

use std::time::{SystemTime, UNIX_EPOCH};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use http::{HeaderName, HeaderValue};
use serde::Serialize;

use crate::compiled::ApiEntry;
use crate::credential::{Caller, CallerClaims};

/// The header the assertion travels in.
pub const HEADER: HeaderName = HeaderName::from_static("x-jwt-assertion");

/// The assertion's `iss`, WSO2's.
pub const ISSUER: &str = "wso2.org/products/am";

/// Lifetime of an assertion, seconds (WSO2's default is 15 minutes), never past the
/// credential's own expiry.
pub const LIFETIME_SECS: u64 = 900;

/// An assertion is re-signed this long before it expires, so none is sent nearly expired.
const REFRESH_MARGIN_SECS: u64 = 60;

/// The gateway's signing key for backend JWTs (ES256, generated at start).
pub struct BackendJwtSigner {
    key: EcdsaKeyPair,
    kid: String,
    rng: SystemRandom,
    /// `{"keys":[…]}`, built once.
    jwks: String,
}

impl BackendJwtSigner {
    /// A signer with a new P-256 key.
    pub fn generate() -> Result<Self, String> {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .map_err(|e| format!("backend JWT key: {e}"))?;
        Self::from_pkcs8(pkcs8.as_ref())
    }

    /// A signer with the P-256 private key in PEM (`PRIVATE KEY` PKCS#8 or `EC PRIVATE KEY`).
    pub fn from_pem(pem: &[u8]) -> Result<Self, String> {
        let text = std::str::from_utf8(pem).map_err(|_| "backend JWT key: not PEM text")?;
        let body: String = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with("-----"))
            .collect();
        let der = base64::engine::general_purpose::STANDARD
            .decode(body)
            .map_err(|_| "backend JWT key: not PEM (bad base64)")?;
        Self::from_pkcs8(&der)
    }

    /// A signer with the P-256 key in `der` (PKCS#8, or SEC1).
    pub fn from_pkcs8(der: &[u8]) -> Result<Self, String> {
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der)
            .or_else(|_| EcdsaKeyPair::from_private_key_der(&ECDSA_P256_SHA256_FIXED_SIGNING, der))
            .map_err(|e| format!("backend JWT key: not a P-256 private key ({e})"))?;
        // Uncompressed point: 0x04 ‖ x ‖ y.
        let point = key.public_key().as_ref();
        if point.len() != 65 {
            return Err("backend JWT key: not a P-256 public key".into());
        }
        let (x, y) = (B64.encode(&point[1..33]), B64.encode(&point[33..]));
        let thumb = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, point);
        let kid = format!("gw-{}", B64.encode(&thumb.as_ref()[..12]));
        let jwks = serde_json::json!({"keys": [{
            "kty": "EC", "crv": "P-256", "x": x, "y": y, "use": "sig", "alg": "ES256", "kid": kid,
        }]})
        .to_string();
        Ok(Self {
            key,
            kid,
            rng: SystemRandom::new(),
            jwks,
        })
    }

    /// The public key as a JWKS document.
    pub fn jwks(&self) -> &str {
        &self.jwks
    }

    /// The assertion for `caller` calling `api`: from the configuration's cache, or signed
    /// now and cached until shortly before it expires.
    pub fn assertion(
        &self,
        cache: &crate::token_cache::TokenCache<HeaderValue>,
        api: &ApiEntry,
        caller: &Caller,
    ) -> Option<HeaderValue> {
        let mut context = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
        // Everything the claims are made of besides the credential itself: the same token
        // resolved to another application (a later configuration) is another assertion.
        for part in [
            api.id.as_bytes(),
            b"\0",
            caller.application_id.as_bytes(),
            b"\0",
        ] {
            context.update(part);
        }
        context.update(caller.key_type.as_str().as_bytes());
        context.update(&caller.credential_digest);
        let mut key = [0u8; 32];
        key.copy_from_slice(context.finish().as_ref());
        cache
            .get_or_verify_digest(key, || {
                let (value, exp) = self.sign(api, caller)?;
                Ok::<_, ()>((value, exp.saturating_sub(REFRESH_MARGIN_SECS)))
            })
            .ok()
            .map(|v| (*v).clone())
    }

    fn sign(&self, api: &ApiEntry, caller: &Caller) -> Result<(HeaderValue, u64), ()> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default();
        let (sub, usertype, scope, client_id, credential_exp) = match &caller.claims {
            CallerClaims::Access(c) => (
                c.sub.as_str(),
                c.aut.as_deref().unwrap_or("APPLICATION"),
                Some(c.scope.as_str()),
                c.client_id(),
                Some(c.exp()),
            ),
            CallerClaims::ApiKey(k) => (k.sub.as_str(), "APPLICATION", None, None, k.exp()),
        };
        let application = caller.application.as_deref();
        let exp = (now + LIFETIME_SECS).min(credential_exp.unwrap_or(u64::MAX).max(now + 1));
        let claims = AssertionClaims {
            iss: ISSUER,
            sub,
            iat: now,
            exp,
            api_name: &api.name,
            api_context: &api.base_path,
            version: &api.version,
            keytype: caller.key_type.as_str(),
            usertype,
            enduser: sub,
            subscriber: application.map(|a| a.owner.as_str()),
            application_name: application.map(|a| a.name.as_str()),
            application_id: &caller.application_id,
            application_uuid: &caller.application_id,
            application_tier: application.map(|a| a.tier.as_str()),
            client_id,
            scope,
        };
        let header = serde_json::json!({"typ": "JWT", "alg": "ES256", "kid": self.kid});
        let mut jwt = String::with_capacity(1024);
        B64.encode_string(header.to_string(), &mut jwt);
        jwt.push('.');
        B64.encode_string(serde_json::to_vec(&claims).map_err(|_| ())?, &mut jwt);
        let signature = self.key.sign(&self.rng, jwt.as_bytes()).map_err(|_| ())?;
        jwt.push('.');
        B64.encode_string(signature.as_ref(), &mut jwt);
        Ok((HeaderValue::from_str(&jwt).map_err(|_| ())?, exp))
    }
}

/// WSO2's backend JWT claims.
#[derive(Serialize)]
struct AssertionClaims<'a> {
    iss: &'a str,
    sub: &'a str,
    iat: u64,
    exp: u64,
    #[serde(rename = "http://wso2.org/claims/apiname")]
    api_name: &'a str,
    #[serde(rename = "http://wso2.org/claims/apicontext")]
    api_context: &'a str,
    #[serde(rename = "http://wso2.org/claims/version")]
    version: &'a str,
    #[serde(rename = "http://wso2.org/claims/keytype")]
    keytype: &'a str,
    #[serde(rename = "http://wso2.org/claims/usertype")]
    usertype: &'a str,
    #[serde(rename = "http://wso2.org/claims/enduser")]
    enduser: &'a str,
    #[serde(
        rename = "http://wso2.org/claims/subscriber",
        skip_serializing_if = "Option::is_none"
    )]
    subscriber: Option<&'a str>,
    #[serde(
        rename = "http://wso2.org/claims/applicationname",
        skip_serializing_if = "Option::is_none"
    )]
    application_name: Option<&'a str>,
    #[serde(rename = "http://wso2.org/claims/applicationid")]
    application_id: &'a str,
    #[serde(rename = "http://wso2.org/claims/applicationUUId")]
    application_uuid: &'a str,
    #[serde(
        rename = "http://wso2.org/claims/applicationtier",
        skip_serializing_if = "Option::is_none"
    )]
    application_tier: Option<&'a str>,
    #[serde(
        rename = "http://wso2.org/claims/client_id",
        skip_serializing_if = "Option::is_none"
    )]
    client_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    scope: Option<&'a str>,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_key_file_gives_every_replica_the_same_published_key() {
        let pkcs8 =
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
                .unwrap();
        let b64 = base64::engine::general_purpose::STANDARD.encode(pkcs8.as_ref());
        let pem = format!("-----BEGIN PRIVATE KEY-----\n{b64}\n-----END PRIVATE KEY-----\n");
        let (a, b) = (
            BackendJwtSigner::from_pem(pem.as_bytes()).unwrap(),
            BackendJwtSigner::from_pem(pem.as_bytes()).unwrap(),
        );
        assert_eq!(a.jwks(), b.jwks());
        assert_ne!(a.jwks(), BackendJwtSigner::generate().unwrap().jwks());
        assert!(BackendJwtSigner::from_pem(b"-----BEGIN PRIVATE KEY-----\nAAAA\n").is_err());
    }
}
