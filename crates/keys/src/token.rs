//! Access and ID tokens: the claims Gantry puts in a JWT, and the issuer that signs them
//! with its active key and verifies them against every published key.
//!
//! Access-token claims follow WSO2 APIM 4.x (`iss`, `sub`, `aud`, `azp`, `client_id`,
//! `scope`, `aut`, `jti`) plus the application block and `keytype` that older WSO2 gateways
//! and our own read, so both claim shapes are present. The key set is swapped atomically on
//! rotation; signing never waits for a lock.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwap;
use gantry_model::KeyType;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::{Jwk, Jwks, KeyError, SigningKey};

/// The application a token was issued to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApplicationClaim {
    /// Application UUID (WSO2 puts its numeric id here; we have only the UUID).
    pub id: String,
    /// Application UUID.
    pub uuid: String,
    /// Application name.
    pub name: String,
    /// Application throttling tier.
    pub tier: String,
    /// Owner's username.
    pub owner: String,
}

/// The claims of a Gantry access token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessTokenClaims {
    /// Issuer (`https://host:9443/oauth2/token`).
    pub iss: String,
    /// The user the token acts for (the application owner for client_credentials).
    pub sub: String,
    /// Audience: the client id.
    pub aud: String,
    /// Expiry, seconds since the epoch.
    pub exp: u64,
    /// Issued at.
    pub iat: u64,
    /// Not before.
    pub nbf: u64,
    /// Unique token id (revocation is by `jti`).
    pub jti: String,
    /// Granted scopes, space-separated.
    pub scope: String,
    /// Authorised party: the client id.
    pub azp: String,
    /// The client id again, as WSO2 4.x puts it.
    pub client_id: String,
    /// `APPLICATION` (client_credentials) or `APPLICATION_USER`.
    pub aut: String,
    /// PRODUCTION or SANDBOX.
    pub keytype: KeyType,
    /// The application.
    pub application: ApplicationClaim,
}

/// The claims of an OpenID Connect ID token.
///
/// It deliberately carries no `azp` nor `client_id`: gateways find the calling application
/// by those claims, so an ID token presented as an access token matches no application.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdTokenClaims {
    /// Issuer.
    pub iss: String,
    /// The end user.
    pub sub: String,
    /// The client id.
    pub aud: String,
    /// Expiry.
    pub exp: u64,
    /// Issued at.
    pub iat: u64,
    /// When the user authenticated.
    pub auth_time: u64,
    /// The client's `nonce` from the authorization request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
}

/// What the token endpoint returns for a signed token.
#[derive(Debug, Clone)]
pub struct IssuedToken {
    /// The compact JWS.
    pub access_token: String,
    /// Lifetime in seconds.
    pub expires_in: u64,
    /// Expiry, seconds since the epoch.
    pub expires_at: u64,
    /// Granted scopes, space-separated.
    pub scope: String,
    /// The token's id.
    pub jti: String,
}

/// Who a token acts for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject<'a> {
    /// The application itself (client_credentials): `sub` is its owner, `aut` APPLICATION.
    Application,
    /// An end user (password, authorization_code, refresh of those): `aut` APPLICATION_USER.
    User(&'a str),
}

/// What an access token is issued for.
#[derive(Debug, Clone)]
pub struct AccessGrant<'a> {
    /// The client id.
    pub client_id: &'a str,
    /// Who the token acts for.
    pub subject: Subject<'a>,
    /// Key type of the client.
    pub key_type: KeyType,
    /// The application.
    pub application: ApplicationClaim,
    /// Scopes granted (already narrowed to what the client and user may have).
    pub scopes: &'a [String],
    /// Lifetime in seconds.
    pub validity_secs: u64,
}

/// Seconds since the Unix epoch, now.
pub fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

/// The keys an issuer holds at one moment: the active one that signs, and every published
/// public key (next, active, retired) that verifies.
pub struct KeySet {
    active: SigningKey,
    published: Vec<Jwk>,
    verifiers: HashMap<String, (jsonwebtoken::DecodingKey, jsonwebtoken::Validation)>,
}

impl std::fmt::Debug for KeySet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeySet")
            .field("active", &self.active.kid())
            .field(
                "published",
                &self.published.iter().map(|k| &k.kid).collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// Why a token did not verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// Not a JWT, or claims of the wrong shape.
    #[error("the token is malformed")]
    Malformed,
    /// Signed by no published key (or a removed one).
    #[error("the token is signed by an unknown key")]
    UnknownKey,
    /// Past its `exp`.
    #[error("the token has expired")]
    Expired,
    /// Bad signature, wrong issuer, wrong algorithm.
    #[error("the token is invalid")]
    Invalid,
}

impl KeySet {
    /// A key set signing with `active` and publishing its key and `others` (next, retired).
    pub fn new(issuer: &str, active: SigningKey, others: Vec<Jwk>) -> Self {
        let mut published = vec![active.public_jwk()];
        published.extend(others.into_iter().filter(|k| k.kid != active.kid()));
        let verifiers = published
            .iter()
            .filter_map(|jwk| Some((jwk.kid.clone(), verifier_for(issuer, jwk)?)))
            .collect();
        Self {
            active,
            published,
            verifiers,
        }
    }

    /// The key that signs new tokens.
    pub fn active(&self) -> &SigningKey {
        &self.active
    }

    /// Every published public key, active first.
    pub fn published(&self) -> &[Jwk] {
        &self.published
    }

    /// The JWKS document.
    pub fn jwks(&self) -> Jwks {
        Jwks {
            keys: self.published.clone(),
        }
    }

    /// The verification key and checks for `kid`, if published.
    pub(crate) fn verifier(
        &self,
        kid: &str,
    ) -> Option<&(jsonwebtoken::DecodingKey, jsonwebtoken::Validation)> {
        self.verifiers.get(kid)
    }

    /// Verifies a token of this issuer against the published keys, with the key's own
    /// algorithm (never the header's choice) and no clock leeway, and decodes its claims.
    pub fn verify<C: DeserializeOwned>(&self, token: &str) -> Result<C, VerifyError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| VerifyError::Malformed)?;
        let kid = header.kid.as_deref().ok_or(VerifyError::Malformed)?;
        let (key, validation) = self.verifiers.get(kid).ok_or(VerifyError::UnknownKey)?;
        if header.alg != validation.algorithms[0] {
            return Err(VerifyError::Invalid);
        }
        jsonwebtoken::decode::<C>(token, key, validation)
            .map(|data| data.claims)
            .map_err(|e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => VerifyError::Expired,
                jsonwebtoken::errors::ErrorKind::Json(_)
                | jsonwebtoken::errors::ErrorKind::MissingRequiredClaim(_)
                | jsonwebtoken::errors::ErrorKind::Base64(_)
                | jsonwebtoken::errors::ErrorKind::Utf8(_)
                | jsonwebtoken::errors::ErrorKind::InvalidToken => VerifyError::Malformed,
                _ => VerifyError::Invalid,
            })
    }
}

/// A verification key for `jwk` of `issuer`, pinned to the JWK's algorithm, requiring `exp`
/// and `iss`, without clock leeway. `None` for a JWK of an algorithm we do not verify.
pub(crate) fn verifier_for(
    issuer: &str,
    jwk: &Jwk,
) -> Option<(jsonwebtoken::DecodingKey, jsonwebtoken::Validation)> {
    use jsonwebtoken::{Algorithm, DecodingKey};
    let (key, algorithm) = match (jwk.alg.as_str(), jwk) {
        (
            "RS256",
            Jwk {
                n: Some(n),
                e: Some(e),
                ..
            },
        ) => (
            DecodingKey::from_rsa_components(n, e).ok()?,
            Algorithm::RS256,
        ),
        (
            "ES256",
            Jwk {
                x: Some(x),
                y: Some(y),
                ..
            },
        ) => (
            DecodingKey::from_ec_components(x, y).ok()?,
            Algorithm::ES256,
        ),
        ("EdDSA", Jwk { x: Some(x), .. }) => {
            (DecodingKey::from_ed_components(x).ok()?, Algorithm::EdDSA)
        }
        _ => return None,
    };
    let mut validation = jsonwebtoken::Validation::new(algorithm);
    validation.set_issuer(&[issuer]);
    validation.set_required_spec_claims(&["exp", "iss"]);
    validation.validate_aud = false;
    validation.validate_nbf = true;
    validation.leeway = 0;
    Some((key, validation))
}

/// Signs tokens for one issuer with its active key.
#[derive(Debug)]
pub struct TokenIssuer {
    issuer: String,
    keys: ArcSwap<KeySet>,
}

impl TokenIssuer {
    /// An issuer named `issuer` signing with `key` (and publishing only it).
    pub fn new(issuer: impl Into<String>, key: SigningKey) -> Self {
        let issuer = issuer.into();
        let keys = KeySet::new(&issuer, key, Vec::new());
        Self {
            issuer,
            keys: ArcSwap::from_pointee(keys),
        }
    }

    /// An issuer signing with `active` and publishing `others` (next and retired keys) too.
    pub fn with_keys(issuer: impl Into<String>, active: SigningKey, others: Vec<Jwk>) -> Self {
        let issuer = issuer.into();
        let keys = KeySet::new(&issuer, active, others);
        Self {
            issuer,
            keys: ArcSwap::from_pointee(keys),
        }
    }

    /// The `iss` value.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The current key set.
    pub fn keys(&self) -> Arc<KeySet> {
        self.keys.load_full()
    }

    /// Replaces the key set (after a rotation): `active` signs from now on.
    pub fn install(&self, active: SigningKey, others: Vec<Jwk>) {
        self.keys
            .store(Arc::new(KeySet::new(&self.issuer, active, others)));
    }

    /// Signs an access token.
    pub fn issue(&self, grant: AccessGrant<'_>) -> Result<IssuedToken, KeyError> {
        let now = now_secs();
        let scope = if grant.scopes.is_empty() {
            "default".to_owned()
        } else {
            grant.scopes.join(" ")
        };
        let (sub, aut) = match grant.subject {
            Subject::Application => (grant.application.owner.clone(), "APPLICATION"),
            Subject::User(user) => (user.to_owned(), "APPLICATION_USER"),
        };
        let jti = uuid::Uuid::new_v4().to_string();
        let claims = AccessTokenClaims {
            iss: self.issuer.clone(),
            sub,
            aud: grant.client_id.to_owned(),
            exp: now + grant.validity_secs,
            iat: now,
            nbf: now,
            jti: jti.clone(),
            scope: scope.clone(),
            azp: grant.client_id.to_owned(),
            client_id: grant.client_id.to_owned(),
            aut: aut.to_owned(),
            keytype: grant.key_type,
            application: grant.application,
        };
        let keys = self.keys.load();
        Ok(IssuedToken {
            access_token: keys.active().sign_jwt("JWT", &claims)?,
            expires_in: grant.validity_secs,
            expires_at: claims.exp,
            scope,
            jti,
        })
    }

    /// Signs an OpenID Connect ID token for `user` and `client_id`.
    pub fn issue_id_token(
        &self,
        client_id: &str,
        user: &str,
        auth_time: u64,
        nonce: Option<String>,
        validity_secs: u64,
    ) -> Result<String, KeyError> {
        let now = now_secs();
        let claims = IdTokenClaims {
            iss: self.issuer.clone(),
            sub: user.to_owned(),
            aud: client_id.to_owned(),
            exp: now + validity_secs,
            iat: now,
            auth_time,
            nonce,
        };
        self.keys.load().active().sign_jwt("JWT", &claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SigningAlgorithm;

    fn app() -> ApplicationClaim {
        ApplicationClaim {
            id: "a1".into(),
            uuid: "a1".into(),
            name: "App".into(),
            tier: "Unlimited".into(),
            owner: "admin".into(),
        }
    }

    fn grant(scopes: &[String]) -> AccessGrant<'_> {
        AccessGrant {
            client_id: "ck",
            subject: Subject::Application,
            key_type: KeyType::Production,
            application: app(),
            scopes,
            validity_secs: 3600,
        }
    }

    #[test]
    fn client_credentials_token_carries_wso2_claims() {
        let issuer = TokenIssuer::new(
            "https://localhost:9443/oauth2/token",
            SigningKey::generate(SigningAlgorithm::Rs256).unwrap(),
        );
        let token = issuer.issue(grant(&[])).unwrap();
        assert_eq!(token.scope, "default");
        let claims: AccessTokenClaims = issuer.keys().verify(&token.access_token).unwrap();
        assert_eq!(claims.azp, "ck");
        assert_eq!(claims.sub, "admin");
        assert_eq!(claims.aut, "APPLICATION");
        assert_eq!(claims.exp - claims.iat, 3600);
        assert_eq!(claims.keytype, KeyType::Production);
        assert_eq!(claims.jti, token.jti);
    }

    #[test]
    fn rotation_signs_with_the_new_key_and_still_verifies_old_tokens() {
        let issuer = TokenIssuer::new(
            "iss",
            SigningKey::generate(SigningAlgorithm::Rs256).unwrap(),
        );
        let old = issuer.issue(grant(&[])).unwrap();
        let old_jwk = issuer.keys().active().public_jwk();
        let next = SigningKey::generate(SigningAlgorithm::EdDsa).unwrap();
        let next_kid = next.kid().to_owned();
        issuer.install(next, vec![old_jwk.clone()]);
        let new = issuer.issue(grant(&[])).unwrap();
        let header = jsonwebtoken::decode_header(&new.access_token).unwrap();
        assert_eq!(header.kid.as_deref(), Some(next_kid.as_str()));
        assert_eq!(header.alg, jsonwebtoken::Algorithm::EdDSA);
        let keys = issuer.keys();
        assert!(keys.verify::<AccessTokenClaims>(&old.access_token).is_ok());
        assert!(keys.verify::<AccessTokenClaims>(&new.access_token).is_ok());
        assert_eq!(keys.published().len(), 2);

        // The old key removed: its tokens no longer verify.
        let active = SigningKey::generate(SigningAlgorithm::Es256).unwrap();
        issuer.install(active, Vec::new());
        assert_eq!(
            issuer
                .keys()
                .verify::<AccessTokenClaims>(&old.access_token)
                .unwrap_err(),
            VerifyError::UnknownKey
        );
    }

    #[test]
    fn verification_refuses_forged_and_foreign_tokens() {
        let issuer = TokenIssuer::new(
            "iss",
            SigningKey::generate(SigningAlgorithm::Es256).unwrap(),
        );
        let token = issuer.issue(grant(&[])).unwrap().access_token;
        let keys = issuer.keys();
        let mut parts: Vec<&str> = token.split('.').collect();
        let forged_payload = base64::Engine::encode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            br#"{"iss":"iss","exp":9999999999,"sub":"mallory"}"#,
        );
        parts[1] = &forged_payload;
        assert_eq!(
            keys.verify::<serde_json::Value>(&parts.join("."))
                .unwrap_err(),
            VerifyError::Invalid
        );
        assert_eq!(
            keys.verify::<serde_json::Value>("garbage").unwrap_err(),
            VerifyError::Malformed
        );
        let other = TokenIssuer::new(
            "other-iss",
            SigningKey::generate(SigningAlgorithm::Es256).unwrap(),
        );
        let foreign = other.issue(grant(&[])).unwrap().access_token;
        assert_eq!(
            keys.verify::<serde_json::Value>(&foreign).unwrap_err(),
            VerifyError::UnknownKey
        );
        // An ID token is not an access token.
        let id = issuer
            .issue_id_token("ck", "alice", now_secs(), None, 60)
            .unwrap();
        assert!(keys.verify::<IdTokenClaims>(&id).is_ok());
        assert_eq!(
            keys.verify::<AccessTokenClaims>(&id).unwrap_err(),
            VerifyError::Malformed
        );
    }
}
