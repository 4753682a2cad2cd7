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
    /// The claims conditional throttling reads, when the configuration has such conditions
    /// (set after verification; empty otherwise).
    #[serde(skip)]
    pub selected: SelectedClaims,
}

/// Claims of a verified token that conditional throttling groups name (WSO2
/// `JWTCLAIMSCONDITION`), each as its string values: a string as is, an array element by
/// element, other JSON values as JSON text.
#[derive(Debug, Default)]
pub struct SelectedClaims(Box<[ClaimValues]>);

/// A claim's name and its values.
type ClaimValues = (Box<str>, Box<[String]>);

impl SelectedClaims {
    /// The values of claim `name`, if the token has it.
    pub fn get(&self, name: &str) -> Option<&[String]> {
        self.0
            .iter()
            .find(|(n, _)| &**n == name)
            .map(|(_, values)| &**values)
    }

    /// The claims called `names` in the payload of `token` (a JWT whose signature was
    /// verified); empty when `names` is.
    pub fn read(token: &str, names: &[Box<str>]) -> Self {
        use base64::Engine as _;
        if names.is_empty() {
            return Self::default();
        }
        let Some(payload) = token
            .split('.')
            .nth(1)
            .and_then(|p| {
                base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(p)
                    .ok()
            })
            .and_then(|p| {
                serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(&p).ok()
            })
        else {
            return Self::default();
        };
        let text = |v: &serde_json::Value| match v {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        Self(
            names
                .iter()
                .filter_map(|name| {
                    let values: Box<[String]> = match payload.get(&**name)? {
                        serde_json::Value::Array(items) => items.iter().map(text).collect(),
                        other => Box::new([text(other)]),
                    };
                    Some((name.clone(), values))
                })
                .collect(),
        )
    }
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
