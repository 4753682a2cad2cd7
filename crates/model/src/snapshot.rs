//! The configuration a gateway serves from: everything deployed to one environment.
//!
//! The control plane builds one snapshot per environment from its store and hands it to the
//! gateways of that environment (in-process for `gantry up`); a gateway compiles it into its
//! router and lookup tables and swaps them in atomically. A snapshot is self-contained: a
//! gateway needs nothing else to authenticate, authorise and route a call.

use serde::{Deserialize, Serialize};

use crate::api::{ApiContext, ApiName, ApiVersion, EndpointConfig, Operation};
use crate::lifecycle::LifecycleState;
use crate::subscription::{KeyType, SubscriptionStatus};

/// Everything one environment's gateways need, at one version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct GatewaySnapshot {
    /// The environment this snapshot is for (e.g. `Default`, `dp-prod-a`).
    pub environment: String,
    /// Monotonic per environment: a gateway never applies an older version over a newer one.
    pub version: u64,
    /// API revisions deployed to this environment.
    pub apis: Vec<DeployedApi>,
    /// Applications that hold keys or subscriptions touching these APIs.
    pub applications: Vec<SnapshotApplication>,
    /// OAuth2 client ids (consumer keys) and the application and key type they belong to.
    pub key_mappings: Vec<KeyMapping>,
    /// Subscriptions of those applications to the deployed APIs.
    pub subscriptions: Vec<SnapshotSubscription>,
    /// Token issuers the gateways trust, with their current public keys.
    pub issuers: Vec<TrustedIssuer>,
    /// Throttling policies (tiers) the deployed APIs and their subscribers use.
    #[serde(default)]
    pub throttling_policies: Vec<ThrottlingPolicy>,
    /// Ids (`jti`) of revoked tokens that have not expired yet.
    #[serde(default)]
    pub revoked_token_ids: Vec<String>,
    /// Deny policies switched on (every environment gets all of them).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deny_policies: Vec<crate::deny::DenyPolicy>,
    /// Custom rules (keyed limits over request attributes; every environment gets all).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub custom_rules: Vec<crate::custom_rules::CustomRule>,
    /// API product revisions deployed to this environment.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub products: Vec<crate::api_product::DeployedProduct>,
    /// AI APIs among `apis`: provider layout, targets (keys sealed), guardrails.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ai_apis: Vec<crate::ai::AiDeployment>,
    /// Token budgets of subscription tiers (WSO2 AI API quota policies).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub token_quotas: Vec<crate::ai::TokenQuota>,
    /// Canary revisions of deployed APIs, each serving a share of its API's calls.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub canaries: Vec<crate::canary::CanaryRevision>,
    /// Gateway policies (WSO2 4.3+ `/gateway-policies`) deployed to this environment, in
    /// order: they run on every API before the API's own policies.
    #[serde(default, skip_serializing_if = "crate::ApiPolicies::is_empty")]
    pub gateway_policies: crate::ApiPolicies,
    /// Certificates uploaded for upstream endpoints (WSO2 endpoint certificates; every
    /// environment gets all of them).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub endpoint_certificates: Vec<EndpointCertificate>,
}

/// A certificate uploaded for an upstream endpoint: gateways trust it, beside the web PKI
/// roots, for TLS connections to the endpoint's host (a self-signed upstream's own
/// certificate, or the CA that issued it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EndpointCertificate {
    /// The name it was uploaded under, unique.
    pub alias: String,
    /// The endpoint as given at upload (`https://host:port/…` or a host name).
    pub endpoint: String,
    /// The certificate, PEM.
    pub certificate: String,
}

impl EndpointCertificate {
    /// The host the certificate is trusted for: the endpoint URL's host (without port or
    /// IPv6 brackets), lower case.
    pub fn host(&self) -> String {
        endpoint_host(&self.endpoint)
    }
}

/// The host of an endpoint given as a URL or a bare `host[:port]`, lower case.
///
/// ```
/// use gantry_model::snapshot::endpoint_host;
/// assert_eq!(endpoint_host("https://Api.Example.com:8443/v1"), "api.example.com");
/// assert_eq!(endpoint_host("https://[::1]:9443"), "::1");
/// assert_eq!(endpoint_host("www.abc.com"), "www.abc.com");
/// ```
pub fn endpoint_host(endpoint: &str) -> String {
    let rest = endpoint
        .split_once("://")
        .map_or(endpoint, |(_, rest)| rest);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let authority = authority.rsplit_once('@').map_or(authority, |(_, a)| a);
    let host = if let Some(bracketed) = authority.strip_prefix('[') {
        bracketed.split(']').next().unwrap_or_default()
    } else {
        authority.split(':').next().unwrap_or_default()
    };
    host.to_ascii_lowercase()
}

impl GatewaySnapshot {
    /// The resident key manager's issuer: the one marked `resident`, or in a snapshot that
    /// marks none (older than the flag), the only issuer without a JWKS URL, as the control
    /// plane has always sent it. `None` when that is ambiguous.
    pub fn resident_issuer(&self) -> Option<&str> {
        fn sole<'a>(mut found: impl Iterator<Item = &'a TrustedIssuer>) -> Option<&'a str> {
            let first = found.next()?;
            found.next().is_none().then_some(first.issuer.as_str())
        }
        if self.issuers.iter().any(|i| i.resident) {
            sole(self.issuers.iter().filter(|i| i.resident))
        } else {
            sole(self.issuers.iter().filter(|i| i.jwks_uri.is_none()))
        }
    }

    /// Sorts every list by its key, so equal contents serialise to equal bytes whatever
    /// order they were built or patched in.
    pub fn normalize(&mut self) {
        self.apis.sort_by(|a, b| a.api_id.cmp(&b.api_id));
        self.applications.sort_by(|a, b| a.id.cmp(&b.id));
        self.key_mappings
            .sort_by(|a, b| a.consumer_key.cmp(&b.consumer_key));
        self.subscriptions.sort_by(|a, b| a.id.cmp(&b.id));
        self.issuers.sort_by(|a, b| a.issuer.cmp(&b.issuer));
        self.throttling_policies
            .sort_by(|a, b| (a.level.as_str(), &a.name).cmp(&(b.level.as_str(), &b.name)));
        self.revoked_token_ids.sort();
        self.revoked_token_ids.dedup();
        self.deny_policies.sort_by(|a, b| a.id.cmp(&b.id));
        self.custom_rules.sort_by(|a, b| a.name.cmp(&b.name));
        self.products
            .sort_by(|a, b| a.product_id.cmp(&b.product_id));
        self.ai_apis.sort_by(|a, b| a.api_id.cmp(&b.api_id));
        self.token_quotas.sort_by(|a, b| a.tier.cmp(&b.tier));
        self.canaries.sort_by(|a, b| a.api_id.cmp(&b.api_id));
        self.endpoint_certificates
            .sort_by(|a, b| a.alias.cmp(&b.alias));
    }
}

/// A throttling tier as gateways see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ThrottlingPolicy {
    /// `subscription`, `application` or `api`.
    pub level: String,
    /// Tier name (`Gold`).
    pub name: String,
    /// Requests allowed per window; -1 means unlimited.
    pub request_count: i64,
    /// Window length in `time_unit`s.
    pub unit_time: i64,
    /// `sec`, `min`, `hour` or `day`.
    pub time_unit: String,
    /// Burst control (spike arrest): at most this many requests per `burst_time_unit`,
    /// enforced by each gateway on its own; 0 = none.
    #[serde(default)]
    pub burst_count: i64,
    /// `sec` or `min`.
    #[serde(default)]
    pub burst_time_unit: String,
    /// A bandwidth policy (WSO2 `BANDWIDTHLIMIT`): request and response body bytes allowed
    /// per window; 0 for a request-count policy.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub bandwidth_bytes: i64,
    /// Advanced (API-level) policies: the conditional groups, in order; a call counts under
    /// the first whose conditions hold, else under this policy's own limit.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditional_groups: Vec<crate::throttle_conditions::ConditionalGroup>,
    /// Subscription tiers: the deepest GraphQL query a subscriber may send (WSO2
    /// `graphQLMaxDepth`; `None`: no limit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub graphql_max_depth: Option<u32>,
    /// Subscription tiers: the most complex GraphQL query a subscriber may send (WSO2
    /// `graphQLMaxComplexity`; `None`: no limit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub graphql_max_complexity: Option<u32>,
}

fn is_zero(n: &i64) -> bool {
    *n == 0
}

/// One API revision as deployed to an environment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeployedApi {
    /// The API's UUID (subscriptions point at it).
    pub api_id: String,
    /// The deployed revision's UUID.
    pub revision_id: String,
    /// Display name (for logs and error bodies).
    pub name: ApiName,
    /// Base path.
    pub context: ApiContext,
    /// Version segment.
    pub version: ApiVersion,
    /// The virtual host this deployment answers on (`Host` header, port ignored).
    pub vhost: String,
    /// Whether this is the API's default version, also reachable as `/{context}/{resource}`.
    #[serde(default)]
    pub is_default_version: bool,
    /// The API's current lifecycle state (blocked APIs are refused at the gateway).
    pub lifecycle: LifecycleState,
    /// WSO2's API type (`HTTP` when absent, as in older snapshots).
    #[serde(
        default = "http_type",
        rename = "type",
        skip_serializing_if = "is_http_type"
    )]
    pub api_type: String,
    /// Header carrying the token.
    pub authorization_header: String,
    /// `oauth2` and/or `api_key` (absent: `oauth2` only, as in old snapshots).
    #[serde(default = "oauth2_only", skip_serializing_if = "is_oauth2_only")]
    pub security_scheme: Vec<String>,
    /// API key header, header mediation and backend JWT (absent: the defaults). Nested, not
    /// flattened: serde's `flatten` buffers every field of every API while parsing, which a
    /// 10,000-API snapshot pays for in time and memory.
    #[serde(default, skip_serializing_if = "crate::GatewayPolicies::is_default")]
    pub gateway: crate::GatewayPolicies,
    /// Upstreams.
    pub endpoint_config: EndpointConfig,
    /// CORS, answered at the gateway when enabled.
    #[serde(default)]
    pub cors_configuration: crate::api::CorsConfiguration,
    /// Resources.
    pub operations: Vec<Operation>,
    /// Client certificates trusted for mutual TLS (`mutualssl` in `security_scheme`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub client_certificates: Vec<ClientCertificate>,
}

/// A client certificate uploaded for an API: a client presenting it, or a certificate it
/// issued, passes the API's mutual TLS check while it is valid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClientCertificate {
    /// The name it was uploaded under, unique per API.
    pub alias: String,
    /// The throttling tier calls made with it belong to.
    pub tier: String,
    /// The certificate, PEM.
    pub certificate: String,
    /// Start of validity, seconds since the epoch.
    pub not_before: i64,
    /// End of validity, seconds since the epoch.
    pub not_after: i64,
}

fn http_type() -> String {
    "HTTP".to_owned()
}

fn is_http_type(api_type: &str) -> bool {
    api_type == "HTTP"
}

fn oauth2_only() -> Vec<String> {
    vec![crate::gateway_policies::OAUTH2_SCHEME.to_owned()]
}

fn is_oauth2_only(scheme: &[String]) -> bool {
    matches!(scheme, [only] if only == crate::gateway_policies::OAUTH2_SCHEME)
}

/// An application, as far as a gateway cares.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotApplication {
    /// UUID.
    pub id: String,
    /// Name.
    pub name: String,
    /// Owner's username.
    pub owner: String,
    /// Application throttling tier.
    pub tier: String,
}

/// A consumer key and what it identifies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyMapping {
    /// The OAuth2 client id (`azp` / `client_id` claim in tokens).
    pub consumer_key: String,
    /// The application the key belongs to.
    pub application_id: String,
    /// Production or sandbox.
    pub key_type: KeyType,
    /// The `iss` of the key manager the client belongs to: only a token verified with a key
    /// of this issuer resolves to the application through this mapping. Empty in snapshots
    /// older than this field, whose mappings then belong to the resident key manager only
    /// ([`GatewaySnapshot::resident_issuer`]), never to an external issuer.
    #[serde(default)]
    pub issuer: String,
}

/// An application's subscription to an API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotSubscription {
    /// Subscription UUID.
    pub id: String,
    /// Subscriber application.
    pub application_id: String,
    /// Subscribed API.
    pub api_id: String,
    /// Subscription tier.
    pub tier: String,
    /// Blocked or not.
    pub status: SubscriptionStatus,
}

/// An issuer of access tokens and the keys it signs with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrustedIssuer {
    /// The exact `iss` claim value.
    pub issuer: String,
    /// Public keys, each pinned to one algorithm.
    pub keys: Vec<IssuerKey>,
    /// Where the issuer publishes its JWKS, for an external issuer: a gateway that meets
    /// a token of this issuer signed with a key it does not know re-reads it (rate-limited)
    /// instead of waiting for the control plane's next refresh. Absent for the resident
    /// key manager, whose keys only ever arrive in snapshots.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks_uri: Option<String>,
    /// Whether this is the resident key manager: the only issuer whose API keys gateways
    /// accept. Absent in older snapshots (see [`GatewaySnapshot::resident_issuer`]).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub resident: bool,
}

impl IssuerKey {
    /// The keys of a JWKS document a gateway can verify with, each pinned to one algorithm
    /// chosen by the key, never by a token: RSA → RS256 (an RSA key that names another
    /// `alg` is left out), EC P-256 → ES256, OKP Ed25519 → EdDSA. Encryption keys, keys
    /// without a `kid`, symmetric (`oct`) keys and other kinds are left out.
    pub fn from_jwks(jwks: &serde_json::Value) -> Vec<IssuerKey> {
        use serde_json::Value;
        let text =
            |key: &Value, name: &str| key.get(name).and_then(Value::as_str).map(str::to_owned);
        jwks.get("keys")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter(|k| text(k, "use").is_none_or(|u| u == "sig"))
            .filter_map(|key| {
                let kid = text(key, "kid")?;
                let alg = match (text(key, "kty")?.as_str(), text(key, "crv").as_deref()) {
                    ("RSA", _) => match text(key, "alg").as_deref() {
                        None | Some("RS256") => "RS256",
                        Some(_) => return None,
                    },
                    ("EC", Some("P-256")) => "ES256",
                    ("OKP", Some("Ed25519")) => "EdDSA",
                    _ => return None,
                };
                Some(IssuerKey {
                    kid,
                    alg: alg.to_owned(),
                    n: text(key, "n").unwrap_or_default(),
                    e: text(key, "e").unwrap_or_default(),
                    crv: text(key, "crv"),
                    x: text(key, "x"),
                    y: text(key, "y"),
                })
            })
            .collect()
    }
}

/// A public signing key of an issuer, in JWK terms: RSA (`n`, `e`) or EC (`crv`, `x`, `y`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssuerKey {
    /// Key id (`kid` in token headers).
    pub kid: String,
    /// The only algorithm this key verifies (e.g. `RS256`, `ES256`).
    pub alg: String,
    /// RSA modulus, base64url without padding (empty for EC keys).
    #[serde(default)]
    pub n: String,
    /// RSA public exponent, base64url without padding (empty for EC keys).
    #[serde(default)]
    pub e: String,
    /// EC curve (`P-256`), for EC keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crv: Option<String>,
    /// EC x coordinate, base64url without padding.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x: Option<String>,
    /// EC y coordinate, base64url without padding.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub y: Option<String>,
}
