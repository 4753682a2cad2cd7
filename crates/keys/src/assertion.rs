//! JWT bearer assertions (RFC 7523 §2.1): a trusted identity provider vouches for a user
//! with a signed JWT, which the token endpoint exchanges for an access token.
//!
//! Only issuers configured with their public keys are trusted; each key verifies with its
//! own algorithm and for its own issuer (the token's `kid` only selects it). An assertion
//! must name this authorization server in `aud`, expire within the hour, and carry a `jti`,
//! which the caller records so an assertion is used once.

use std::collections::HashMap;

use serde::Deserialize;

use crate::Jwks;
use crate::token::{now_secs, verifier_for};

/// Longest lifetime an assertion may have left.
pub const MAX_ASSERTION_LIFETIME_SECS: u64 = 3600;
/// Clock skew tolerated on `exp` / `nbf` of an assertion.
const LEEWAY_SECS: u64 = 30;

/// A trusted issuer of assertions, as configured (`[{"issuer": …, "jwks": {"keys": […]}}]`).
#[derive(Debug, Clone, Deserialize)]
pub struct TrustedAssertionIssuer {
    /// The exact `iss` value.
    pub issuer: String,
    /// Its public keys.
    pub jwks: Jwks,
}

/// The claims of a verified assertion.
#[derive(Debug, Clone, Deserialize)]
pub struct AssertionClaims {
    /// Issuer.
    pub iss: String,
    /// The user it vouches for.
    pub sub: String,
    /// Unique id (single use).
    pub jti: String,
    /// Expiry.
    pub exp: u64,
}

/// Why an assertion was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AssertionError {
    /// Signature, issuer, audience, expiry or shape is wrong.
    #[error("the assertion is invalid: {0}")]
    Invalid(&'static str),
}

/// Verifies assertions of the trusted issuers for one audience.
pub struct AssertionVerifier {
    audience: Vec<String>,
    // kid → (issuer, key, validation); a kid appears once across issuers.
    keys: HashMap<String, (String, jsonwebtoken::DecodingKey, jsonwebtoken::Validation)>,
}

impl std::fmt::Debug for AssertionVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AssertionVerifier")
            .field("audience", &self.audience)
            .field("kids", &self.keys.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// Why a list of trusted assertion issuers cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TrustError {
    /// An issuer has no name.
    #[error("an issuer is empty")]
    EmptyIssuer,
    /// A key is not one a signature can be checked with.
    #[error("key '{kid}' of '{issuer}' is not a usable signing key (RS256, ES256 or EdDSA)")]
    UnusableKey {
        /// The key's id.
        kid: String,
        /// Its issuer.
        issuer: String,
    },
    /// Two keys share an id.
    #[error("key id '{0}' appears twice")]
    DuplicateKid(String),
}

impl AssertionVerifier {
    /// A verifier for `issuers`, accepting assertions whose `aud` contains one of
    /// `audience`. Errs naming the first unusable key or a kid used twice.
    pub fn new(issuers: &[TrustedAssertionIssuer], audience: &[&str]) -> Result<Self, TrustError> {
        let mut keys = HashMap::new();
        for trusted in issuers {
            if trusted.issuer.is_empty() {
                return Err(TrustError::EmptyIssuer);
            }
            for jwk in &trusted.jwks.keys {
                let usable = jwk.key_use == "sig" || jwk.key_use.is_empty();
                let Some((key, mut validation)) =
                    verifier_for(&trusted.issuer, jwk).filter(|_| usable)
                else {
                    return Err(TrustError::UnusableKey {
                        kid: jwk.kid.clone(),
                        issuer: trusted.issuer.clone(),
                    });
                };
                validation.set_audience(audience);
                validation.validate_aud = true;
                validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
                validation.leeway = LEEWAY_SECS;
                if keys
                    .insert(jwk.kid.clone(), (trusted.issuer.clone(), key, validation))
                    .is_some()
                {
                    return Err(TrustError::DuplicateKid(jwk.kid.clone()));
                }
            }
        }
        Ok(Self {
            audience: audience.iter().map(|a| (*a).to_owned()).collect(),
            keys,
        })
    }

    /// Whether any issuer is trusted.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Verifies `assertion`; the caller must still refuse a `jti` seen before.
    pub fn verify(&self, assertion: &str) -> Result<AssertionClaims, AssertionError> {
        let header = jsonwebtoken::decode_header(assertion)
            .map_err(|_| AssertionError::Invalid("not a JWT"))?;
        let kid = header
            .kid
            .as_deref()
            .ok_or(AssertionError::Invalid("no kid"))?;
        let (_, key, validation) = self
            .keys
            .get(kid)
            .ok_or(AssertionError::Invalid("signed by an untrusted key"))?;
        if header.alg != validation.algorithms[0] {
            return Err(AssertionError::Invalid("wrong algorithm for the key"));
        }
        let claims = jsonwebtoken::decode::<AssertionClaims>(assertion, key, validation)
            .map(|d| d.claims)
            .map_err(|e| {
                AssertionError::Invalid(match e.kind() {
                    jsonwebtoken::errors::ErrorKind::ExpiredSignature => "expired",
                    jsonwebtoken::errors::ErrorKind::InvalidAudience => "wrong audience",
                    jsonwebtoken::errors::ErrorKind::InvalidIssuer => "wrong issuer",
                    jsonwebtoken::errors::ErrorKind::ImmatureSignature => "not valid yet",
                    jsonwebtoken::errors::ErrorKind::InvalidSignature => "bad signature",
                    _ => "malformed claims (iss, sub, aud, exp and jti are required)",
                })
            })?;
        if claims.exp > now_secs() + MAX_ASSERTION_LIFETIME_SECS + LEEWAY_SECS {
            return Err(AssertionError::Invalid("expires too far in the future"));
        }
        if claims.jti.is_empty() || claims.sub.is_empty() {
            return Err(AssertionError::Invalid("empty sub or jti"));
        }
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{SigningAlgorithm, SigningKey};

    const AUD: &str = "https://km.example/oauth2/token";

    fn setup() -> (SigningKey, AssertionVerifier) {
        let idp = SigningKey::generate(SigningAlgorithm::Es256).unwrap();
        let verifier = AssertionVerifier::new(
            &[TrustedAssertionIssuer {
                issuer: "https://idp.example".into(),
                jwks: Jwks {
                    keys: vec![idp.public_jwk()],
                },
            }],
            &[AUD],
        )
        .unwrap();
        (idp, verifier)
    }

    fn assertion(key: &SigningKey, claims: serde_json::Value) -> String {
        key.sign_jwt("JWT", &claims).unwrap()
    }

    #[test]
    fn a_trusted_assertion_verifies_and_others_do_not() {
        let (idp, verifier) = setup();
        let now = now_secs();
        let good = serde_json::json!({"iss": "https://idp.example", "sub": "alice", "aud": AUD,
            "exp": now + 300, "iat": now, "jti": "j1"});
        let claims = verifier.verify(&assertion(&idp, good.clone())).unwrap();
        assert_eq!((claims.sub.as_str(), claims.jti.as_str()), ("alice", "j1"));

        let mut wrong_aud = good.clone();
        wrong_aud["aud"] = "https://other.example".into();
        assert!(verifier.verify(&assertion(&idp, wrong_aud)).is_err());
        let mut wrong_iss = good.clone();
        wrong_iss["iss"] = "https://evil.example".into();
        assert!(verifier.verify(&assertion(&idp, wrong_iss)).is_err());
        let mut expired = good.clone();
        expired["exp"] = (now - 600).into();
        assert!(verifier.verify(&assertion(&idp, expired)).is_err());
        let mut too_long = good.clone();
        too_long["exp"] = (now + 7 * 86_400).into();
        assert!(verifier.verify(&assertion(&idp, too_long)).is_err());
        let mut no_jti = good.clone();
        no_jti.as_object_mut().unwrap().remove("jti");
        assert!(verifier.verify(&assertion(&idp, no_jti)).is_err());
        let stranger = SigningKey::generate(SigningAlgorithm::Es256).unwrap();
        assert!(verifier.verify(&assertion(&stranger, good)).is_err());
    }

    #[test]
    fn configuration_with_unusable_or_duplicate_keys_is_refused() {
        let (idp, _) = setup();
        let twice = TrustedAssertionIssuer {
            issuer: "https://idp.example".into(),
            jwks: Jwks {
                keys: vec![idp.public_jwk(), idp.public_jwk()],
            },
        };
        assert!(AssertionVerifier::new(&[twice], &[AUD]).is_err());
        let mut broken = idp.public_jwk();
        broken.alg = "HS256".into();
        let bad = TrustedAssertionIssuer {
            issuer: "https://idp.example".into(),
            jwks: Jwks { keys: vec![broken] },
        };
        assert!(AssertionVerifier::new(&[bad], &[AUD]).is_err());
    }
}
