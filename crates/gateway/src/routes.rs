//! Compiles a [`GatewaySnapshot`] into the lookup tables the request path reads: a router
//! per virtual host, the issuers' verification keys, consumer keys and subscriptions.
//!
//! Everything is computed here, off the request path, once per configuration version; a
//! request only reads the result through an `ArcSwap` guard.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use gantry_model::snapshot::{DeployedApi, SnapshotApplication};
use gantry_model::{
    AuthType, Endpoint, Endpoints, GatewaySnapshot, HttpVerb, KeyType, LifecycleState,
    SubscriptionStatus,
};
use http::Method;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};

use crate::ratelimit::Limit;

pub use crate::upstream::{Upstream, UpstreamPool};

/// One configuration version, compiled.
pub struct CompiledConfig {
    /// The version it was built from.
    pub version: u64,
    /// Routers by lower-case host name.
    vhosts: HashMap<String, VhostRouter>,
    /// Verification keys by `kid`.
    pub keys: HashMap<String, VerificationKey>,
    /// External issuers' JWKS URLs, by issuer (`iss`).
    pub jwks_sources: HashMap<String, crate::jwks::JwksSource>,
    /// Keys a gateway fetched itself on an unknown `kid` (read only when `keys` misses).
    pub fetched_keys: crate::jwks::FetchedKeys,
    /// (issuer, consumer key) → (application id, key type).
    pub consumer_keys: crate::consumer_keys::ConsumerKeys,
    /// The resident key manager's issuer, the only one whose API keys are accepted.
    pub resident_issuer: Option<Arc<str>>,
    /// Applications by id, for the backend JWT's claims; filled only when an API sends one.
    pub applications: HashMap<Arc<str>, Arc<SnapshotApplication>>,
    /// (application id, API id) → the subscription: its status and tier limit (one table,
    /// not one per field: with 100,000 subscriptions each table costs megabytes).
    pub subscriptions: HashMap<(Arc<str>, Arc<str>), Subscription>,
    /// `jti`s of tokens revoked before their expiry.
    pub revoked_token_ids: HashSet<String>,
    /// Number of APIs served.
    pub api_count: usize,
    /// Tokens verified under this version's keys.
    pub token_cache: crate::token_cache::TokenCache<crate::auth::Claims>,
    /// API keys verified under this version's keys.
    pub api_key_cache: crate::token_cache::TokenCache<crate::auth::ApiKeyClaims>,
    /// Pools with active health checks: (API, key type).
    pub health_checked: Vec<(Arc<ApiEntry>, KeyType)>,
    /// Signed backend JWTs by (API, credential), for APIs that send one.
    pub backend_jwt_cache: crate::token_cache::TokenCache<http::HeaderValue>,
    /// Application tier limits by application id.
    pub application_limits: HashMap<Arc<str>, Arc<Limit>>,
}

/// An application's subscription to an API, as the gateway enforces it.
pub struct Subscription {
    /// Blocked, unblocked, …
    pub status: SubscriptionStatus,
    /// The subscription tier's limit (`None`: unlimited).
    pub limit: Option<Arc<Limit>>,
}

/// Shared by every subscription, application and operation of the tier: a large configuration
/// holds one copy of each policy, not one per subscription.
type Limits<'a> = HashMap<(&'static str, &'a str), Option<Arc<Limit>>>;

/// Hands out one shared string per distinct id of a snapshot.
#[derive(Default)]
struct Interner<'a> {
    map: HashMap<&'a str, Arc<str>>,
}

impl<'a> Interner<'a> {
    fn get(&mut self, id: &'a str) -> Arc<str> {
        self.map.entry(id).or_insert_with(|| Arc::from(id)).clone()
    }
}

fn level_name(level: &str) -> &'static str {
    match level {
        "subscription" => "subscription",
        "application" => "application",
        _ => "api",
    }
}

/// A public key of a trusted issuer, bound to one algorithm (RFC 8725 §3.1).
pub struct VerificationKey {
    /// The issuer whose tokens this key verifies (`iss` must equal it).
    pub issuer: Arc<str>,
    /// The only algorithm accepted with this key.
    pub algorithm: Algorithm,
    /// The key itself.
    pub key: DecodingKey,
    /// Checks built once: algorithm pinned, `iss` required and equal, `exp` and `nbf`
    /// enforced with bounded clock skew.
    pub validation: Validation,
    /// The same checks for API keys, which may have no `exp`.
    pub api_key_validation: Validation,
}

impl VerificationKey {
    /// Compiles `key` of `issuer`: the algorithm is the key's own (`alg` as the snapshot
    /// pins it), and so is the key family; a token never chooses either.
    pub fn compile(issuer: &str, key: &gantry_model::snapshot::IssuerKey) -> Result<Self, String> {
        let algorithm = match key.alg.as_str() {
            "RS256" => Algorithm::RS256,
            "RS384" => Algorithm::RS384,
            "RS512" => Algorithm::RS512,
            "PS256" => Algorithm::PS256,
            "ES256" => Algorithm::ES256,
            "EdDSA" => Algorithm::EdDSA,
            other => return Err(format!("unsupported algorithm {other}")),
        };
        let decoding = match algorithm {
            Algorithm::ES256 => DecodingKey::from_ec_components(
                key.x.as_deref().unwrap_or_default(),
                key.y.as_deref().unwrap_or_default(),
            ),
            Algorithm::EdDSA => {
                DecodingKey::from_ed_components(key.x.as_deref().unwrap_or_default())
            }
            _ => DecodingKey::from_rsa_components(&key.n, &key.e),
        }
        .map_err(|e| e.to_string())?;
        Ok(VerificationKey {
            issuer: Arc::from(issuer),
            algorithm,
            key: decoding,
            validation: validation_for(issuer, algorithm),
            api_key_validation: {
                let mut v = validation_for(issuer, algorithm);
                v.set_required_spec_claims(&["iss"]);
                v
            },
        })
    }
}

/// Clock skew tolerated on `exp` and `nbf`, in seconds.
pub const CLOCK_SKEW_SECS: u64 = 30;

fn validation_for(issuer: &str, algorithm: Algorithm) -> Validation {
    let mut v = Validation::new(algorithm);
    v.set_issuer(&[issuer]);
    v.set_required_spec_claims(&["exp", "iss"]);
    v.leeway = CLOCK_SKEW_SECS;
    v.validate_nbf = true;
    // WSO2 puts the client id in `aud`; the subscription check is what binds a token to an API.
    v.validate_aud = false;
    v
}

struct VhostRouter {
    router: matchit::Router<usize>,
    entries: Vec<RouteEntry>,
}

/// A path template of an API, with the operations defined on it by method.
pub struct RouteEntry {
    /// The API.
    pub api: Arc<ApiEntry>,
    /// The prefix this route matched under (`/context/version`, or `/context` for the
    /// default version), stripped before forwarding.
    pub base_path: Arc<str>,
    methods: Vec<(Method, OperationEntry)>,
}

impl RouteEntry {
    /// The operation for `method`, if the API defines one.
    pub fn operation(&self, method: &Method) -> Option<&OperationEntry> {
        self.methods
            .iter()
            .find(|(m, _)| m == method)
            .map(|(_, op)| op)
    }

    /// The methods defined on this path (for `Allow`).
    pub fn allowed_methods(&self) -> impl Iterator<Item = &Method> {
        self.methods.iter().map(|(m, _)| m)
    }

    /// Refuses `path` (canonical, matched to `operation` here) when an upstream reading it
    /// loosely could reach a better-protected operation of the API; free for APIs whose
    /// operations are all protected alike.
    pub fn check_loose_readings(
        &self,
        path: &str,
        method: &Method,
        operation: &OperationEntry,
    ) -> Result<(), crate::canonical_path::PathRefusal> {
        match &self.api.loose {
            Some(loose) => loose.check(
                path.get(self.base_path.len()..).unwrap_or_default(),
                method,
                operation.auth_type,
                &operation.scopes,
            ),
            None => Ok(()),
        }
    }
}

/// What the gateway needs to know about one operation on the request path.
pub struct OperationEntry {
    /// How callers authenticate.
    pub auth_type: AuthType,
    /// Scopes the token must carry (all of them).
    pub scopes: Vec<String>,
    /// Identity of the resource for its rate limit (`METHOD target`).
    pub key: Arc<str>,
    /// Operation-level throttling policy, unless unlimited.
    pub limit: Option<Arc<Limit>>,
    /// The operation's own header policies, applied after the API's; `None` for most
    /// operations, so they cost nothing on the request path.
    pub headers: Option<Arc<OperationHeaders>>,
}

/// An operation's header policies (WSO2 4.x `operationPolicies`), compiled.
#[derive(Debug)]
pub struct OperationHeaders {
    /// Applied to the request after the API's request policies.
    pub request: Box<[crate::mediation::HeaderOp]>,
    /// Applied to the response after the API's response policies.
    pub response: Box<[crate::mediation::HeaderOp]>,
}

/// What the gateway needs to know about one deployed API on the request path.
pub struct ApiEntry {
    /// API UUID.
    pub id: Arc<str>,
    /// Display name.
    pub name: Arc<str>,
    /// `context/version`, the prefix stripped before forwarding.
    pub base_path: String,
    /// Version.
    pub version: String,
    /// Whether OAuth2 bearer tokens are accepted (`oauth2` in the security scheme, or no
    /// scheme the gateway knows).
    pub accepts_oauth: bool,
    /// Where API keys are accepted, when `api_key` is in the security scheme.
    pub api_key: Option<ApiKeyLocation>,
    /// Request header policies, in order (empty for most APIs).
    pub request_headers: Box<[crate::mediation::HeaderOp]>,
    /// Response header policies, in order.
    pub response_headers: Box<[crate::mediation::HeaderOp]>,
    /// Whether the upstream gets an `X-JWT-Assertion`.
    pub backend_jwt: bool,
    /// Lifecycle state.
    pub lifecycle: LifecycleState,
    /// Header the token is read from (lower case).
    pub authorization_header: http::HeaderName,
    /// Where production traffic goes.
    pub production: Option<Box<UpstreamPool>>,
    /// Where sandbox traffic goes.
    pub sandbox: Option<Box<UpstreamPool>>,
    /// CORS policy, when enabled.
    pub cors: Option<crate::stage::cors::Cors>,
    /// Mutual TLS, when `mutualssl` is in the security scheme.
    pub mtls: Option<Box<crate::mtls::MutualTls>>,
    /// Loosened templates, only when the operations differ in protection.
    pub loose: Option<Box<crate::loose_reading::LooseRoutes>>,
}

/// Where an API key may be presented.
pub struct ApiKeyLocation {
    /// The header (WSO2 `apiKeyHeader`).
    pub header: http::HeaderName,
    /// The query parameter (the header name, lower case; matched case-insensitively).
    pub query: Box<str>,
}

impl ApiEntry {
    /// Where traffic of `key_type` goes, if the API has such an endpoint.
    pub fn pool(&self, key_type: KeyType) -> Option<&UpstreamPool> {
        match key_type {
            KeyType::Production => self.production.as_deref(),
            KeyType::Sandbox => self.sandbox.as_deref(),
        }
    }
}

/// The result of matching a request.
pub enum RouteMatch<'a> {
    /// A path and method the API defines.
    Found {
        entry: &'a RouteEntry,
        operation: &'a OperationEntry,
    },
    /// The path exists but not for this method.
    MethodNotAllowed(&'a RouteEntry),
    /// Nothing deployed at this path on this host.
    NotFound,
    /// No API is deployed for this host on this gateway.
    UnknownHost,
}

impl CompiledConfig {
    /// Compiles `snapshot`, or lists every problem found (unparsable endpoint, invalid key,
    /// conflicting routes): a gateway rejects such a version whole and keeps the last good one.
    pub fn compile(snapshot: &GatewaySnapshot) -> Result<Self, String> {
        let mut problems = Vec::new();
        // (level, name) → limit; `None` for unlimited tiers.
        let limits: Limits<'_> = snapshot
            .throttling_policies
            .iter()
            .map(|p| {
                (
                    (level_name(&p.level), p.name.as_str()),
                    Limit::from_policy(p).map(Arc::new),
                )
            })
            .collect();
        let mut builders: HashMap<String, RouterBuilder> = HashMap::new();
        for api in &snapshot.apis {
            let vhost = api.vhost.to_ascii_lowercase();
            builders
                .entry(vhost)
                .or_default()
                .add_api(api, &limits, &mut problems);
        }
        let health_checked = builders
            .values_mut()
            .flat_map(|b| std::mem::take(&mut b.health_checked))
            .collect();
        let vhosts = builders
            .into_iter()
            .map(|(host, b)| (host, b.build(&mut problems)))
            .collect();

        let mut keys: HashMap<String, VerificationKey> = HashMap::new();
        let mut jwks_sources = HashMap::new();
        // The resident key manager's keys go in first and keep their `kid`s: an external
        // JWKS publishing the same `kid` cannot shadow them (nor one external issuer another).
        let resident = snapshot.resident_issuer();
        let (first, rest): (Vec<_>, Vec<_>) = snapshot
            .issuers
            .iter()
            .partition(|i| Some(i.issuer.as_str()) == resident);
        for issuer in first.into_iter().chain(rest) {
            for key in &issuer.keys {
                match VerificationKey::compile(&issuer.issuer, key) {
                    Ok(compiled) => match keys.entry(key.kid.clone()) {
                        Entry::Vacant(slot) => {
                            slot.insert(compiled);
                        }
                        Entry::Occupied(taken) => {
                            tracing::warn!(kid = %key.kid, issuer = %issuer.issuer, holder = %taken.get().issuer,
                                "an issuer key reuses a kid already taken; left out");
                        }
                    },
                    Err(error) => problems.push(format!("issuer key {}: {error}", key.kid)),
                }
            }
            if let Some(uri) = &issuer.jwks_uri {
                jwks_sources.insert(
                    issuer.issuer.clone(),
                    crate::jwks::JwksSource {
                        uri: uri.clone(),
                        entry: issuer.clone(),
                    },
                );
            }
        }

        // Application and API ids recur across 100,000s of entries: one shared string each.
        let mut ids = Interner::default();
        let consumer_keys = crate::consumer_keys::ConsumerKeys::compile(snapshot, |id| ids.get(id));
        let mut subscriptions = HashMap::with_capacity(snapshot.subscriptions.len());
        for s in &snapshot.subscriptions {
            let key = (ids.get(&s.application_id), ids.get(&s.api_id));
            let limit = limits
                .get(&("subscription", s.tier.as_str()))
                .cloned()
                .flatten();
            subscriptions.insert(
                key,
                Subscription {
                    status: s.status,
                    limit,
                },
            );
        }
        let application_limits = snapshot
            .applications
            .iter()
            .filter_map(|a| {
                let limit = limits
                    .get(&("application", a.tier.as_str()))
                    .cloned()
                    .flatten()?;
                Some((ids.get(&a.id), limit))
            })
            .collect();
        let applications = if snapshot.apis.iter().any(|a| a.gateway.enable_backend_jwt) {
            snapshot
                .applications
                .iter()
                .map(|a| (ids.get(&a.id), Arc::new(a.clone())))
                .collect()
        } else {
            HashMap::new()
        };

        if !problems.is_empty() {
            return Err(problems.join("; "));
        }
        Ok(Self {
            version: snapshot.version,
            vhosts,
            keys,
            jwks_sources,
            fetched_keys: Default::default(),
            consumer_keys,
            resident_issuer: snapshot.resident_issuer().map(Arc::from),
            applications,
            subscriptions,
            revoked_token_ids: snapshot.revoked_token_ids.iter().cloned().collect(),
            api_count: snapshot.apis.len(),
            token_cache: Default::default(),
            api_key_cache: Default::default(),
            backend_jwt_cache: Default::default(),
            health_checked,
            application_limits,
        })
    }

    /// Matches a request by host (port ignored, case-insensitive), path and method.
    pub fn route(&self, host: &str, path: &str, method: &Method) -> RouteMatch<'_> {
        let host = host_without_port(host);
        let vhost = match self.vhosts.get(host) {
            Some(v) => v,
            None => match self.vhost_by_another_name(host) {
                Some(v) => v,
                None => return RouteMatch::UnknownHost,
            },
        };
        let Ok(found) = vhost.router.at(path) else {
            return RouteMatch::NotFound;
        };
        let entry = &vhost.entries[*found.value];
        match entry.operation(method) {
            Some(operation) => RouteMatch::Found { entry, operation },
            None => RouteMatch::MethodNotAllowed(entry),
        }
    }
}

impl CompiledConfig {
    /// The router of `host` (port stripped) when it is not found as sent: the same name in
    /// another case, or, for a loopback address (`127.0.0.1`, `[::1]`), the `localhost`
    /// vhost — on one machine the loopback names are one host. Off the request path's
    /// common case: only requests whose host missed get here.
    fn vhost_by_another_name(&self, host: &str) -> Option<&VhostRouter> {
        if host.bytes().any(|b| b.is_ascii_uppercase()) {
            return self.vhosts.get(&host.to_ascii_lowercase());
        }
        let address = host.trim_start_matches('[').trim_end_matches(']');
        match address.parse::<std::net::IpAddr>() {
            Ok(ip) if ip.is_loopback() => self.vhosts.get("localhost"),
            _ => None,
        }
    }

    /// The hosts this gateway serves APIs for, sorted (for the 404 of an unknown host).
    pub fn served_hosts(&self) -> Vec<&str> {
        let mut hosts: Vec<&str> = self.vhosts.keys().map(String::as_str).collect();
        hosts.sort_unstable();
        hosts
    }
}

fn host_without_port(host: &str) -> &str {
    if host.starts_with('[') {
        // [v6]:port
        return host
            .split_once(']')
            .map(|(h, _)| &host[..h.len() + 1])
            .unwrap_or(host);
    }
    host.rsplit_once(':').map(|(h, _)| h).unwrap_or(host)
}

#[derive(Default)]
struct RouterBuilder {
    /// Normalised path pattern → index into `entries`.
    index: HashMap<String, usize>,
    entries: Vec<RouteEntry>,
    /// APIs with health-checked pools, by key type.
    health_checked: Vec<(Arc<ApiEntry>, KeyType)>,
}

impl RouterBuilder {
    fn add_api(&mut self, api: &DeployedApi, limits: &Limits<'_>, problems: &mut Vec<String>) {
        let base_path = format!("{}/{}", api.context, api.version);
        // The default version also answers without its version segment.
        let mut bases: Vec<Arc<str>> = vec![Arc::from(base_path.as_str())];
        if api.is_default_version {
            bases.push(Arc::from(api.context.as_str()));
        }
        let has = |scheme: &str| api.security_scheme.iter().any(|s| s == scheme);
        let api_key = has(gantry_model::gateway_policies::API_KEY_SCHEME).then(|| {
            let header = api.gateway.api_key_header.to_ascii_lowercase();
            ApiKeyLocation {
                header: http::HeaderName::from_bytes(header.as_bytes())
                    .unwrap_or(http::HeaderName::from_static("apikey")),
                query: header.into_boxed_str(),
            }
        });
        let mtls = crate::mtls::MutualTls::compile(api)
            .unwrap_or_else(|error| {
                problems.push(format!("API {}: {error}", api.name));
                None
            })
            .map(|mut mtls| {
                mtls.resolve_tiers(|tier| limits.get(&("subscription", tier)).cloned().flatten());
                Box::new(mtls)
            });
        let mut headers = |policies: &[gantry_model::PolicyRef]| {
            crate::mediation::compile(policies).unwrap_or_else(|error| {
                problems.push(format!("API {}: {error}", api.name));
                Box::default()
            })
        };
        let request_headers = headers(&api.gateway.api_policies.request);
        let response_headers = headers(&api.gateway.api_policies.response);
        let config = &api.endpoint_config;
        let mut upstream = |e: &Option<Endpoints>, failovers: &[Endpoint]| match e
            .as_ref()
            .map(|e| UpstreamPool::compile(config, e, failovers))
        {
            Some(Ok(u)) => Some(Box::new(u)),
            Some(Err(error)) => {
                problems.push(format!("API {}: {error}", api.name));
                None
            }
            None => None,
        };
        let entry = Arc::new(ApiEntry {
            id: Arc::from(api.api_id.as_str()),
            name: Arc::from(api.name.as_str()),
            base_path: base_path.clone(),
            version: api.version.to_string(),
            // An API with mutual TLS and no application security takes certificates only.
            accepts_oauth: has(gantry_model::gateway_policies::OAUTH2_SCHEME)
                || (api_key.is_none() && mtls.is_none()),
            api_key,
            request_headers,
            response_headers,
            backend_jwt: api.gateway.enable_backend_jwt,
            lifecycle: api.lifecycle,
            authorization_header: http::HeaderName::from_bytes(
                api.authorization_header.to_ascii_lowercase().as_bytes(),
            )
            .unwrap_or(http::header::AUTHORIZATION),
            production: upstream(&config.production_endpoints, &config.production_failovers),
            sandbox: upstream(&config.sandbox_endpoints, &config.sandbox_failovers),
            cors: crate::stage::cors::Cors::compile(&api.cors_configuration),
            mtls,
            loose: crate::loose_reading::LooseRoutes::compile(&api.operations),
        });
        for key_type in [KeyType::Production, KeyType::Sandbox] {
            if entry
                .pool(key_type)
                .is_some_and(|p| p.health_check().is_some())
            {
                self.health_checked.push((entry.clone(), key_type));
            }
        }
        for op in &api.operations {
            let method = verb_to_method(op.verb);
            let key: Arc<str> = Arc::from(format!("{} {}", op.verb.as_str(), op.target).as_str());
            let limit = limits.get(&("api", op.throttling_policy.as_str())).cloned();
            if limit.is_none()
                && !limits.contains_key(&("api", op.throttling_policy.as_str()))
                && op.throttling_policy != "Unlimited"
            {
                problems.push(format!(
                    "API {}: operation policy '{}' is unknown",
                    api.name, op.throttling_policy
                ));
            }
            let mut op_headers = |policies: &[gantry_model::PolicyRef]| {
                crate::mediation::compile(policies).unwrap_or_else(|error| {
                    problems.push(format!("API {} operation {key}: {error}", api.name));
                    Box::default()
                })
            };
            let op_headers = (!op.operation_policies.is_empty()).then(|| {
                Arc::new(OperationHeaders {
                    request: op_headers(&op.operation_policies.request),
                    response: op_headers(&op.operation_policies.response),
                })
            });
            let operation = || OperationEntry {
                auth_type: op.auth_type,
                scopes: op.scopes.clone(),
                key: key.clone(),
                limit: limit.clone().flatten(),
                headers: op_headers.clone(),
            };
            for (prefix, pattern) in bases.iter().flat_map(|b| {
                patterns_for(b, op.target.as_str())
                    .into_iter()
                    .map(move |p| (b.clone(), p))
            }) {
                match self.index.get(&pattern) {
                    Some(&i) => {
                        let route = &mut self.entries[i];
                        if !Arc::ptr_eq(&route.api, &entry) {
                            problems.push(format!(
                                "API {}: path {pattern} is already served by API {}",
                                api.name, route.api.name
                            ));
                        } else if route.operation(&method).is_none() {
                            route.methods.push((method.clone(), operation()));
                        }
                    }
                    None => {
                        self.index.insert(pattern, self.entries.len());
                        self.entries.push(RouteEntry {
                            api: entry.clone(),
                            base_path: prefix,
                            methods: vec![(method.clone(), operation())],
                        });
                    }
                }
            }
        }
    }

    fn build(self, problems: &mut Vec<String>) -> VhostRouter {
        let mut router = matchit::Router::new();
        let mut entries = Vec::with_capacity(self.entries.len());
        let mut index: Vec<(String, usize)> = self.index.into_iter().collect();
        index.sort_by_key(|(_, i)| *i);
        let mut slots: Vec<Option<RouteEntry>> = self.entries.into_iter().map(Some).collect();
        for (pattern, i) in index {
            let Some(mut entry) = slots[i].take() else {
                continue;
            };
            // A large configuration holds tens of thousands of these: no spare capacity.
            entry.methods.shrink_to_fit();
            match router.insert(pattern.clone(), entries.len()) {
                Ok(()) => entries.push(entry),
                Err(error) => {
                    problems.push(format!("API {}: route {pattern}: {error}", entry.api.name))
                }
            }
        }
        // matchit grows each node's child list as routes go in (to four at least, most
        // nodes have one child); a clone copies every list at its length. With 10,000 APIs
        // that is about 10 MB less for as long as the configuration is served.
        let router = router.clone();
        VhostRouter { router, entries }
    }
}

/// The matchit patterns for a resource template under `base`. Parameters get positional
/// names, so `/orders/{id}` and `/orders/{orderId}` are one path; a trailing `/*` matches
/// the path without it too.
fn patterns_for(base: &str, target: &str) -> Vec<String> {
    let mut out = String::with_capacity(base.len() + target.len() + 8);
    out.push_str(base);
    if target == "/" {
        return vec![format!("{base}/"), base.to_owned()];
    }
    let mut params = 0;
    let mut wildcard = false;
    for segment in target.split('/').skip(1) {
        if segment == "*" {
            wildcard = true;
            break;
        }
        out.push('/');
        if segment.starts_with('{') {
            out.push_str(&format!("{{p{params}}}"));
            params += 1;
        } else {
            out.push_str(segment);
        }
    }
    if wildcard {
        let prefix = out.clone();
        vec![format!("{prefix}/{{*rest}}"), format!("{prefix}/"), prefix]
    } else {
        vec![out]
    }
}

fn verb_to_method(verb: HttpVerb) -> Method {
    match verb {
        HttpVerb::Get => Method::GET,
        HttpVerb::Post => Method::POST,
        HttpVerb::Put => Method::PUT,
        HttpVerb::Delete => Method::DELETE,
        HttpVerb::Patch => Method::PATCH,
        HttpVerb::Head => Method::HEAD,
        HttpVerb::Options => Method::OPTIONS,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gantry_model::{
        ApiContext, ApiName, ApiVersion, EndpointConfig, Operation, ResourceTarget,
    };

    fn api(context: &str, ops: &[(&str, HttpVerb)]) -> DeployedApi {
        DeployedApi {
            api_id: format!("id{context}"),
            revision_id: "r1".into(),
            name: ApiName::parse("Test").unwrap(),
            context: ApiContext::parse(context).unwrap(),
            version: ApiVersion::parse("1.0.0").unwrap(),
            vhost: "localhost".into(),
            is_default_version: false,
            cors_configuration: Default::default(),
            lifecycle: LifecycleState::Published,
            authorization_header: "Authorization".into(),
            security_scheme: vec!["oauth2".into()],
            gateway: Default::default(),
            endpoint_config: EndpointConfig {
                endpoint_type: "http".into(),
                production_endpoints: Some(
                    Endpoint {
                        url: "http://127.0.0.1:1/base/".into(),
                        config: None,
                    }
                    .into(),
                ),
                sandbox_endpoints: None,
                ..Default::default()
            },
            operations: ops
                .iter()
                .map(|(t, v)| Operation {
                    id: None,
                    target: ResourceTarget::parse(t).unwrap(),
                    verb: *v,
                    auth_type: AuthType::Any,
                    throttling_policy: "Unlimited".into(),
                    scopes: vec![],
                    operation_policies: Default::default(),
                })
                .collect(),
            client_certificates: vec![],
        }
    }

    fn config(apis: Vec<DeployedApi>) -> CompiledConfig {
        CompiledConfig::compile(&GatewaySnapshot {
            environment: "Default".into(),
            version: 1,
            apis,
            ..Default::default()
        })
        .unwrap()
    }

    fn found(c: &CompiledConfig, host: &str, path: &str, method: Method) -> bool {
        matches!(c.route(host, path, &method), RouteMatch::Found { .. })
    }

    #[test]
    fn routes_by_vhost_context_version_and_template() {
        let c = config(vec![api(
            "/shop",
            &[
                ("/orders/{id}", HttpVerb::Get),
                ("/orders/{orderId}", HttpVerb::Put),
            ],
        )]);
        assert!(found(
            &c,
            "localhost:9090",
            "/shop/1.0.0/orders/42",
            Method::GET
        ));
        assert!(found(&c, "LOCALHOST", "/shop/1.0.0/orders/42", Method::PUT));
        assert!(matches!(
            c.route("localhost", "/shop/1.0.0/orders/42", &Method::DELETE),
            RouteMatch::MethodNotAllowed(_)
        ));
        assert!(!found(
            &c,
            "example.com",
            "/shop/1.0.0/orders/42",
            Method::GET
        ));
        assert!(!found(
            &c,
            "localhost",
            "/shop/2.0.0/orders/42",
            Method::GET
        ));
        assert!(!found(&c, "localhost", "/shop/1.0.0/orders", Method::GET));
    }

    #[test]
    fn trailing_wildcard_matches_any_depth_and_the_base() {
        let c = config(vec![api("/any", &[("/*", HttpVerb::Get)])]);
        for path in [
            "/any/1.0.0",
            "/any/1.0.0/",
            "/any/1.0.0/a",
            "/any/1.0.0/a/b/c",
        ] {
            assert!(found(&c, "localhost", path, Method::GET), "{path}");
        }
        assert!(!found(&c, "localhost", "/any/1.0.0x", Method::GET));
    }

    #[test]
    fn upstream_base_path_is_normalised() {
        let c = config(vec![api("/shop", &[("/menu", HttpVerb::Get)])]);
        let RouteMatch::Found { entry, .. } =
            c.route("localhost", "/shop/1.0.0/menu", &Method::GET)
        else {
            panic!("route expected");
        };
        let up = entry.api.production.as_ref().unwrap().pick().1;
        assert_eq!(up.base_path, "/base");
        assert_eq!(up.authority.as_str(), "127.0.0.1:1");
        assert_eq!(entry.api.base_path, "/shop/1.0.0");
    }

    #[test]
    fn default_version_also_answers_without_the_version_segment() {
        let v1 = api("/any", &[("/*", HttpVerb::Get)]);
        let mut v2 = api(
            "/any",
            &[("/*", HttpVerb::Get), ("/items/{id}", HttpVerb::Get)],
        );
        v2.api_id = "v2".into();
        v2.version = ApiVersion::parse("2.0.0").unwrap();
        v2.is_default_version = true;
        let c = config(vec![v1, v2]);
        let base = |path: &str| match c.route("localhost", path, &Method::GET) {
            RouteMatch::Found { entry, .. } => {
                (entry.api.id.to_string(), entry.base_path.to_string())
            }
            _ => panic!("no route for {path}"),
        };
        assert_eq!(
            base("/any/1.0.0/a/b"),
            ("id/any".into(), "/any/1.0.0".into())
        );
        assert_eq!(base("/any/2.0.0/a"), ("v2".into(), "/any/2.0.0".into()));
        assert_eq!(base("/any/a/b"), ("v2".into(), "/any".into()));
        assert_eq!(base("/any"), ("v2".into(), "/any".into()));
        assert_eq!(base("/any/items/7"), ("v2".into(), "/any".into()));
    }

    #[test]
    fn host_port_is_stripped_including_ipv6() {
        assert_eq!(host_without_port("localhost:9090"), "localhost");
        assert_eq!(host_without_port("[::1]:9090"), "[::1]");
        assert_eq!(host_without_port("example.com"), "example.com");
    }

    #[test]
    fn loopback_addresses_reach_the_localhost_vhost_and_other_hosts_are_unknown() {
        let c = config(vec![api("/shop", &[("/items", HttpVerb::Get)])]);
        for host in [
            "localhost",
            "LOCALHOST:9090",
            "127.0.0.1:9090",
            "127.0.0.1",
            "[::1]:9090",
        ] {
            assert!(found(&c, host, "/shop/1.0.0/items", Method::GET), "{host}");
        }
        for host in ["10.0.0.1:9090", "example.com", "[::2]:9090"] {
            assert!(
                matches!(
                    c.route(host, "/shop/1.0.0/items", &Method::GET),
                    RouteMatch::UnknownHost
                ),
                "{host}"
            );
        }
        assert_eq!(c.served_hosts(), ["localhost"]);
    }
}
