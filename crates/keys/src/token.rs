//! Access tokens: the claims Gantry puts in a JWT, and the issuer that signs them.
//!
//! Claims follow WSO2 APIM 4.x (`iss`, `sub`, `aud`, `azp`, `client_id`, `scope`, `aut`,
//! `jti`) plus the application block and `keytype` that older WSO2 gateways and our own
//! read, so both claim shapes are present.

use std::time::{SystemTime, UNIX_EPOCH};

use gantry_model::KeyType;
use serde::{Deserialize, Serialize};

use crate::{KeyError, SigningKey};

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

/// What the token endpoint returns for a signed token.
#[derive(Debug, Clone)]
pub struct IssuedToken {
    /// The compact JWS.
    pub access_token: String,
    /// Lifetime in seconds.
    pub expires_in: u64,
    /// Granted scopes, space-separated.
    pub scope: String,
    /// The token's id.
    pub jti: String,
}

/// What a client_credentials token is issued for.
#[derive(Debug, Clone)]
pub struct ClientCredentialsGrant<'a> {
    /// The client id.
    pub client_id: &'a str,
    /// Key type of the client.
    pub key_type: KeyType,
    /// The application.
    pub application: ApplicationClaim,
    /// Scopes granted (already narrowed to what the client may have).
    pub scopes: &'a [String],
    /// Lifetime in seconds.
    pub validity_secs: u64,
}

/// Signs access tokens for one issuer with its active key.
#[derive(Debug)]
pub struct TokenIssuer {
    issuer: String,
    key: SigningKey,
}

impl TokenIssuer {
    /// An issuer named `issuer` signing with `key`.
    pub fn new(issuer: impl Into<String>, key: SigningKey) -> Self {
        Self {
            issuer: issuer.into(),
            key,
        }
    }

    /// The `iss` value.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The signing key (for the JWKS).
    pub fn key(&self) -> &SigningKey {
        &self.key
    }

    /// Signs a client_credentials access token.
    pub fn issue_client_credentials(
        &self,
        grant: ClientCredentialsGrant<'_>,
    ) -> Result<IssuedToken, KeyError> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default();
        let scope = if grant.scopes.is_empty() {
            "default".to_owned()
        } else {
            grant.scopes.join(" ")
        };
        let jti = uuid::Uuid::new_v4().to_string();
        let claims = AccessTokenClaims {
            iss: self.issuer.clone(),
            sub: grant.application.owner.clone(),
            aud: grant.client_id.to_owned(),
            exp: now + grant.validity_secs,
            iat: now,
            nbf: now,
            jti: jti.clone(),
            scope: scope.clone(),
            azp: grant.client_id.to_owned(),
            client_id: grant.client_id.to_owned(),
            aut: "APPLICATION".to_owned(),
            keytype: grant.key_type,
            application: grant.application,
        };
        Ok(IssuedToken {
            access_token: self.key.sign_jwt(&claims)?,
            expires_in: grant.validity_secs,
            scope,
            jti,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_credentials_token_carries_wso2_claims() {
        let issuer = TokenIssuer::new(
            "https://localhost:9443/oauth2/token",
            SigningKey::generate().unwrap(),
        );
        let app = ApplicationClaim {
            id: "a1".into(),
            uuid: "a1".into(),
            name: "App".into(),
            tier: "Unlimited".into(),
            owner: "admin".into(),
        };
        let token = issuer
            .issue_client_credentials(ClientCredentialsGrant {
                client_id: "ck",
                key_type: KeyType::Production,
                application: app,
                scopes: &[],
                validity_secs: 3600,
            })
            .unwrap();
        assert_eq!(token.scope, "default");
        let jwk = issuer.key().public_jwk();
        let key = jsonwebtoken::DecodingKey::from_rsa_components(&jwk.n, &jwk.e).unwrap();
        let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
        v.set_audience(&["ck"]);
        let claims = jsonwebtoken::decode::<AccessTokenClaims>(&token.access_token, &key, &v)
            .unwrap()
            .claims;
        assert_eq!(claims.azp, "ck");
        assert_eq!(claims.sub, "admin");
        assert_eq!(claims.exp - claims.iat, 3600);
        assert_eq!(claims.keytype, KeyType::Production);
        assert_eq!(claims.jti, token.jti);
    }
}
