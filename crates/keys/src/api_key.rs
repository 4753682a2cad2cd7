//! API keys, WSO2 APIM 4.x style: self-contained JWTs signed by the key manager that name
//! the application, its key type and the APIs it was subscribed to when the key was made.
//!
//! `token_type: "apiKey"` tells them apart from access tokens: gateways accept an API key
//! only in the API key header (or query parameter) and an access token only as a bearer
//! token. An API key may live forever (no `exp`); revocation is by `jti`, like tokens.

use serde::{Deserialize, Serialize};

use crate::KeyError;
use crate::token::{ApplicationClaim, KeySet, TokenIssuer, VerifyError, now_secs};
use gantry_model::KeyType;

/// The `token_type` claim value of an API key.
pub const API_KEY_TOKEN_TYPE: &str = "apiKey";

/// One API the application was subscribed to when the key was generated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubscribedApi {
    /// API name.
    pub name: String,
    /// `context/version` as the gateway serves it (`/pizzashack/1.0.0`).
    pub context: String,
    /// API version.
    pub version: String,
    /// The API's provider.
    pub publisher: String,
    /// The subscription's tier.
    pub subscription_tier: String,
    /// Always `carbon.super` (single tenant).
    pub subscriber_tenant_domain: String,
}

/// The claims of an API key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiKeyClaims {
    /// Issuer (the key manager).
    pub iss: String,
    /// The application owner.
    pub sub: String,
    /// Issued at.
    pub iat: u64,
    /// Expiry; absent for a key that does not expire (`validityPeriod: -1`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exp: Option<u64>,
    /// Unique key id (revocation is by `jti`).
    pub jti: String,
    /// PRODUCTION or SANDBOX.
    pub keytype: KeyType,
    /// Always [`API_KEY_TOKEN_TYPE`].
    #[serde(rename = "token_type")]
    pub token_type: String,
    /// The application.
    pub application: ApplicationClaim,
    /// The APIs subscribed to at generation time.
    #[serde(rename = "subscribedAPIs")]
    pub subscribed_apis: Vec<SubscribedApi>,
    /// Subscription tiers by name (WSO2 carries quota details; we carry the names).
    pub tier_info: serde_json::Map<String, serde_json::Value>,
    /// Client IPs allowed to use the key (comma-separated), empty for any.
    #[serde(default)]
    pub permitted_ip: String,
    /// `Referer`s allowed to use the key (comma-separated), empty for any.
    #[serde(default)]
    pub permitted_referer: String,
}

/// What an API key is generated for.
#[derive(Debug, Clone)]
pub struct ApiKeyGrant {
    /// The application.
    pub application: ApplicationClaim,
    /// Production or sandbox.
    pub key_type: KeyType,
    /// The application's subscriptions.
    pub subscribed_apis: Vec<SubscribedApi>,
    /// Lifetime in seconds; `None` for a key that does not expire.
    pub validity_secs: Option<u64>,
    /// Allowed client IPs (comma-separated), empty for any.
    pub permitted_ip: String,
    /// Allowed referers (comma-separated), empty for any.
    pub permitted_referer: String,
}

/// A signed API key.
#[derive(Debug, Clone)]
pub struct IssuedApiKey {
    /// The compact JWS.
    pub api_key: String,
    /// The key's id.
    pub jti: String,
    /// Expiry, seconds since the epoch, if it expires.
    pub expires_at: Option<u64>,
}

impl TokenIssuer {
    /// Signs an API key with the active key.
    pub fn issue_api_key(&self, grant: ApiKeyGrant) -> Result<IssuedApiKey, KeyError> {
        let now = now_secs();
        let jti = uuid::Uuid::new_v4().to_string();
        let tier_info = grant
            .subscribed_apis
            .iter()
            .map(|s| {
                (
                    s.subscription_tier.clone(),
                    serde_json::json!({"tierQuotaType": "requestCount", "stopOnQuotaReach": true}),
                )
            })
            .collect();
        let claims = ApiKeyClaims {
            iss: self.issuer().to_owned(),
            sub: grant.application.owner.clone(),
            iat: now,
            exp: grant.validity_secs.map(|v| now + v),
            jti: jti.clone(),
            keytype: grant.key_type,
            token_type: API_KEY_TOKEN_TYPE.to_owned(),
            application: grant.application,
            subscribed_apis: grant.subscribed_apis,
            tier_info,
            permitted_ip: grant.permitted_ip,
            permitted_referer: grant.permitted_referer,
        };
        Ok(IssuedApiKey {
            api_key: self.keys().active().sign_jwt("JWT", &claims)?,
            jti,
            expires_at: claims.exp,
        })
    }
}

impl KeySet {
    /// Verifies an API key: signature by a published key with its pinned algorithm, the
    /// issuer, `exp` when present, and `token_type: apiKey`.
    pub fn verify_api_key(&self, token: &str) -> Result<ApiKeyClaims, VerifyError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| VerifyError::Malformed)?;
        let kid = header.kid.as_deref().ok_or(VerifyError::Malformed)?;
        let (key, validation) = self.verifier(kid).ok_or(VerifyError::UnknownKey)?;
        if header.alg != validation.algorithms[0] {
            return Err(VerifyError::Invalid);
        }
        let mut validation = validation.clone();
        validation.set_required_spec_claims(&["iss"]);
        let claims = jsonwebtoken::decode::<ApiKeyClaims>(token, key, &validation)
            .map(|data| data.claims)
            .map_err(|e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => VerifyError::Expired,
                jsonwebtoken::errors::ErrorKind::InvalidSignature
                | jsonwebtoken::errors::ErrorKind::InvalidIssuer => VerifyError::Invalid,
                _ => VerifyError::Malformed,
            })?;
        if claims.token_type != API_KEY_TOKEN_TYPE {
            return Err(VerifyError::Invalid);
        }
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::{SigningAlgorithm, SigningKey};

    fn grant(validity_secs: Option<u64>) -> ApiKeyGrant {
        ApiKeyGrant {
            application: ApplicationClaim {
                id: "app".into(),
                uuid: "app".into(),
                name: "Shop".into(),
                tier: "Unlimited".into(),
                owner: "admin".into(),
            },
            key_type: KeyType::Sandbox,
            subscribed_apis: vec![SubscribedApi {
                name: "Orders".into(),
                context: "/orders/1.0.0".into(),
                version: "1.0.0".into(),
                publisher: "admin".into(),
                subscription_tier: "Gold".into(),
                subscriber_tenant_domain: "carbon.super".into(),
            }],
            validity_secs,
            permitted_ip: String::new(),
            permitted_referer: String::new(),
        }
    }

    #[test]
    fn api_keys_carry_wso2_claims_and_verify_with_or_without_expiry() {
        let issuer = TokenIssuer::new(
            "https://km/oauth2/token",
            SigningKey::generate(SigningAlgorithm::Es256).unwrap(),
        );
        let forever = issuer.issue_api_key(grant(None)).unwrap();
        assert_eq!(forever.expires_at, None);
        let claims = issuer.keys().verify_api_key(&forever.api_key).unwrap();
        assert_eq!(claims.token_type, "apiKey");
        assert_eq!(claims.keytype, KeyType::Sandbox);
        assert_eq!(claims.subscribed_apis[0].context, "/orders/1.0.0");
        assert!(claims.tier_info.contains_key("Gold"));
        let raw: serde_json::Value = serde_json::from_slice(
            &base64::Engine::decode(
                &base64::engine::general_purpose::URL_SAFE_NO_PAD,
                forever.api_key.split('.').nth(1).unwrap(),
            )
            .unwrap(),
        )
        .unwrap();
        assert!(raw.get("exp").is_none());
        assert_eq!(raw["subscribedAPIs"][0]["subscriptionTier"], "Gold");

        let hour = issuer.issue_api_key(grant(Some(3600))).unwrap();
        let claims = issuer.keys().verify_api_key(&hour.api_key).unwrap();
        assert_eq!(claims.exp.unwrap() - claims.iat, 3600);
    }
}
