//! What a verified credential says: the claims the gateway reads from access tokens and API
//! keys, and the [`Caller`] they resolve to. Plain data, below both the compiled tables
//! (whose per-version caches hold verified claims) and the verifiers in `authn/`.

use std::sync::Arc;

use gantry_model::KeyType;
use gantry_model::snapshot::SnapshotApplication;
use serde::Deserialize;

/// Who is calling: the application a token or API key resolved to.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The calling application.
    pub application_id: Arc<str>,
    /// Which keys it used (chooses the endpoint).
    pub key_type: KeyType,
    /// The application as the configuration knows it, for an API that sends a backend JWT
    /// (`None` otherwise): its claims come from here, never from the credential.
    pub application: Option<Arc<SnapshotApplication>>,
    /// SHA-256 of the credential (keys per-caller caches such as the backend JWT's).
    pub credential_digest: [u8; 32],
    /// The verified claims.
    pub claims: CallerClaims,
}

/// The verified claims of the credential used.
#[derive(Debug, Clone)]
pub enum CallerClaims {
    /// An OAuth2 access token.
    Access(Arc<AccessClaims>),
    /// An API key.
    ApiKey(Arc<ApiKeyClaims>),
}

/// The application block WSO2 puts in tokens and API keys.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ApplicationClaim {
    /// Application UUID.
    pub uuid: String,
    /// Name.
    pub name: String,
    /// Owner's username.
    pub owner: String,
    /// Application tier.
    pub tier: String,
}

/// The claims the gateway reads from an access token.
#[derive(Debug, Deserialize)]
pub struct AccessClaims {
    azp: Option<String>,
    client_id: Option<String>,
    /// Granted scopes, space-separated.
    #[serde(default)]
    pub scope: String,
    /// `APPLICATION` or `APPLICATION_USER` (WSO2's "aut" claim); absent in foreign tokens.
    pub aut: Option<String>,
    /// Expiry (required by validation), for the verified-token cache.
    pub(crate) exp: u64,
    /// Token id, checked against the revoked ids.
    pub(crate) jti: Option<String>,
    /// The subject (user or application owner).
    #[serde(default)]
    pub sub: String,
    /// `apiKey` for an API key: refused as a bearer token.
    pub(crate) token_type: Option<String>,
    /// The issuer whose key verified the token (set after verification, never read from
    /// the token): the client id is looked up among this issuer's clients only.
    #[serde(skip)]
    pub(crate) issuer: Arc<str>,
}

impl AccessClaims {
    /// The client id (`azp`, else `client_id`).
    pub fn client_id(&self) -> Option<&str> {
        self.azp.as_deref().or(self.client_id.as_deref())
    }

    /// Expiry, seconds since the epoch.
    pub fn exp(&self) -> u64 {
        self.exp
    }

    /// Whether a user, not the application alone, obtained the token (`aut`).
    pub fn is_user_token(&self) -> bool {
        self.aut.as_deref() == Some("APPLICATION_USER")
    }
}

/// One entry of an API key's `subscribedAPIs`.
#[derive(Debug, Deserialize)]
pub struct SubscribedApi {
    /// `context/version`.
    #[serde(default)]
    pub context: String,
}

/// The `token_type` of API keys.
pub const API_KEY_TOKEN_TYPE: &str = "apiKey";

/// The claims the gateway reads from an API key.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiKeyClaims {
    /// Expiry, if the key expires.
    pub(crate) exp: Option<u64>,
    /// Key id, checked against the revoked ids.
    pub(crate) jti: Option<String>,
    /// The application owner.
    #[serde(default)]
    pub sub: String,
    /// Must be `apiKey`.
    #[serde(rename = "token_type")]
    pub(crate) token_type: Option<String>,
    /// PRODUCTION or SANDBOX.
    pub keytype: KeyType,
    /// The application the key belongs to.
    pub application: ApplicationClaim,
    /// The APIs subscribed to when the key was made.
    #[serde(rename = "subscribedAPIs", default)]
    subscribed_apis: Vec<SubscribedApi>,
}

impl ApiKeyClaims {
    /// Expiry, if the key expires.
    pub fn exp(&self) -> Option<u64> {
        self.exp
    }

    /// Whether the API at `context` (`context/version`) was subscribed to when the key was made.
    pub fn was_subscribed_to(&self, context: &str) -> bool {
        self.subscribed_apis.iter().any(|s| s.context == context)
    }
}
