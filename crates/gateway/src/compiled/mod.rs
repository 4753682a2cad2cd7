//! Compile time: a [`GatewaySnapshot`] compiled, once per version and off the request path,
//! into the lookup tables requests read through an `ArcSwap` guard ([`router`], [`api`],
//! [`keys`], consumer keys, subscriptions, limits, deny policies). Imports nothing request-time; the caches
//! of what was verified under a version live in it, so the next version starts without them.

pub mod ai;
pub mod api;
pub mod canary;
pub mod client_certs;
pub mod conditions;
pub mod consumer_keys;
pub mod cors;
pub mod custom_rules;
pub mod deny;
pub mod fast_map;
pub mod graphql;
pub mod guardrails;
pub mod json_path;
pub mod keys;
pub mod limits;
pub mod loose_reading;
pub mod mcp;
pub mod operation;
pub mod preview;
pub mod router;
pub mod soap;
pub mod subscriptions;
mod template;
pub mod tier;
pub mod upstream;
pub mod websub;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use gantry_model::snapshot::SnapshotApplication;
use gantry_model::{GatewaySnapshot, KeyType};
use http::Method;

pub use api::{ApiEntry, ApiKeyLocation};
pub use keys::{CLOCK_SKEW_SECS, FetchedKeys, JwksSource, VerificationKey};
pub use limits::Limit;
pub use operation::OperationEntry;
pub use router::{RouteEntry, RouteMatch};
pub use subscriptions::Subscription;
pub use upstream::{Upstream, UpstreamPool};

use crate::credential::{AccessClaims, ApiKeyClaims};
use crate::token_cache::TokenCache;
use fast_map::FastMap;

/// One configuration version, compiled.
pub struct CompiledConfig {
    /// The version it was built from.
    pub version: u64,
    /// Routers by host.
    vhosts: router::Vhosts,
    /// Verification keys by `kid`.
    pub keys: HashMap<String, VerificationKey>,
    /// External issuers' JWKS URLs, by issuer (`iss`).
    pub jwks_sources: HashMap<String, JwksSource>,
    /// Keys a gateway fetched itself on an unknown `kid` (read only when `keys` misses).
    pub fetched_keys: FetchedKeys,
    /// (issuer, consumer key) → (application id, key type).
    pub consumer_keys: consumer_keys::ConsumerKeys,
    /// The resident key manager's issuer, the only one whose API keys are accepted.
    pub resident_issuer: Option<Arc<str>>,
    /// Applications by id, for the backend JWT's claims; filled only when an API sends one.
    pub applications: FastMap<Arc<str>, Arc<SnapshotApplication>>,
    /// (application id, API id) → the subscription: its status and tier limit.
    pub subscriptions: subscriptions::Subscriptions,
    /// `jti`s of tokens revoked before their expiry.
    pub revoked_token_ids: HashSet<String, rustc_hash::FxBuildHasher>,
    /// Number of APIs served.
    pub api_count: usize,
    /// Tokens verified under this version's keys (a new version starts empty).
    pub token_cache: TokenCache<AccessClaims>,
    /// API keys verified under this version's keys.
    pub api_key_cache: TokenCache<ApiKeyClaims>,
    /// Pools with active health checks: (API, key type).
    pub health_checked: Vec<(Arc<ApiEntry>, KeyType)>,
    /// Signed backend JWTs by (API, credential), for APIs that send one.
    pub backend_jwt_cache: TokenCache<http::HeaderValue>,
    /// Application tier limits by application id.
    pub application_limits: FastMap<Arc<str>, Arc<Limit>>,
    /// Custom rules (keyed limits over request attributes); empty for most configurations.
    pub custom_rules: Box<[custom_rules::CompiledRule]>,
    /// Claims the JWT conditions of conditional throttling read (empty: none are kept).
    pub claim_names: Box<[Box<str>]>,
    /// Deny policies; `None` when there are none (the common case).
    pub deny: Option<Box<deny::DenyTable>>,
    /// AI APIs and token budgets; `None` when no AI API is deployed.
    pub ai: Option<Box<ai::AiTables>>,
    /// Canary revisions and their splits; `None` when there are none (the common case).
    pub canaries: Option<Box<canary::Canaries>>,
    /// Certificates trusted for TLS to particular upstream hosts.
    pub endpoint_trust: Arc<crate::endpoint_trust::EndpointTrust>,
}

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

impl CompiledConfig {
    /// Compiles `snapshot`, or lists every problem found (unparsable endpoint, invalid key,
    /// conflicting routes): a gateway rejects such a version whole and keeps the last good one.
    pub fn compile(snapshot: &GatewaySnapshot) -> Result<Self, crate::error::GatewayError> {
        Self::compile_counting(snapshot, &crate::traffic::TrafficRegistry::default())
    }

    /// Like [`CompiledConfig::compile`], each revision counting its calls in `traffic`'s
    /// counters (shared by the configurations a gateway compiles).
    pub fn compile_counting(
        snapshot: &GatewaySnapshot,
        traffic: &crate::traffic::TrafficRegistry,
    ) -> Result<Self, crate::error::GatewayError> {
        let mut problems = Vec::new();
        let policies = limits::Policies::compile(snapshot, &mut problems);
        let custom_rules = custom_rules::CompiledRule::compile_all(snapshot, &mut problems);
        let mut claim_names = policies.claim_names().into_vec();
        for name in custom_rules.iter().flat_map(|r| r.group.claim_names()) {
            if !claim_names.iter().any(|n| &**n == name) {
                claim_names.push(name.into());
            }
        }
        let (vhosts, mut health_checked) =
            router::Vhosts::compile(snapshot, &policies, traffic, &mut problems);
        let (canaries, canary_health_checked) =
            canary::Canaries::compile(snapshot, &policies, traffic, &mut problems);
        health_checked.extend(canary_health_checked);
        let (keys, jwks_sources) = keys::compile(snapshot, &mut problems);
        // Application and API ids recur across 100,000s of entries: one shared string each.
        let mut ids = Interner::default();
        let consumer_keys = consumer_keys::ConsumerKeys::compile(snapshot, |id| ids.get(id));
        let subscriptions = subscriptions::compile(snapshot, &policies, |id| ids.get(id));
        let application_limits =
            subscriptions::application_limits(snapshot, &policies, |id| ids.get(id));
        let applications = subscriptions::applications(snapshot, |id| ids.get(id));
        let ai = ai::AiTables::compile(snapshot, &mut problems);
        let endpoint_trust = Arc::new(crate::endpoint_trust::EndpointTrust::compile(
            &snapshot.endpoint_certificates,
            &mut problems,
        ));
        if !problems.is_empty() {
            return Err(crate::error::GatewayError::Invalid(problems));
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
            claim_names: claim_names.into_boxed_slice(),
            custom_rules,
            deny: deny::DenyTable::compile(snapshot),
            ai,
            canaries,
            endpoint_trust,
        })
    }

    /// Matches a request by host (port ignored, case-insensitive), path and method.
    pub fn route(&self, host: &str, path: &str, method: &Method) -> RouteMatch<'_> {
        self.vhosts.route(host, path, method)
    }

    /// The hosts this gateway serves APIs for, sorted (for the 404 of an unknown host).
    pub fn served_hosts(&self) -> Vec<&str> {
        self.vhosts.names()
    }

    /// The application `application_id` as the configuration knows it, when `api` sends a
    /// backend JWT (whose claims come from here, never from the credential).
    pub fn application_for_backend_jwt(
        &self,
        api: &ApiEntry,
        application_id: &Arc<str>,
    ) -> Option<Arc<SnapshotApplication>> {
        if !api.backend_jwt {
            return None;
        }
        self.applications.get(application_id).cloned()
    }

    /// Takes over the keys `previous` fetched for issuers whose snapshot entry is unchanged
    /// in this version (a snapshot that changes or drops the issuer drops them).
    pub fn inherit_fetched_keys(&self, previous: &CompiledConfig) {
        self.fetched_keys.inherit(
            &previous.fetched_keys,
            &previous.jwks_sources,
            &self.jwks_sources,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gantry_model::snapshot::DeployedApi;
    use gantry_model::{
        ApiContext, ApiName, ApiVersion, EndpointConfig, Operation, ResourceTarget,
    };
    use gantry_model::{AuthType, Endpoint, HttpVerb, LifecycleState};

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
            api_type: "HTTP".into(),
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
    fn a_product_routes_each_operation_to_its_apis_upstream_under_the_products_id() {
        let mut orders = api("/orders", &[("/items", HttpVerb::Get)]);
        // The API's own policies travel with its operations into the product.
        orders.gateway.api_policies = serde_json::from_value(serde_json::json!({"request": [
            {"policyName": "addHeader", "parameters": {"headerName": "X-Orders", "headerValue": "1"}}
        ]}))
        .unwrap();
        orders.endpoint_config.production_endpoints = Some(
            Endpoint {
                url: "http://127.0.0.1:7001/o".into(),
                config: None,
            }
            .into(),
        );
        let menu = api("/menu", &[("/dishes/{id}", HttpVerb::Get)]);
        let product = gantry_model::DeployedProduct {
            product_id: "bundle-id".into(),
            revision_id: "pr1".into(),
            name: ApiName::parse("Bundle").unwrap(),
            context: ApiContext::parse("/bundle").unwrap(),
            version: ApiVersion::parse("1.0.0").unwrap(),
            vhost: "localhost".into(),
            lifecycle: LifecycleState::Published,
            apis: vec![orders.clone(), menu.clone()],
        };
        let c = CompiledConfig::compile(&GatewaySnapshot {
            environment: "Default".into(),
            version: 1,
            apis: vec![orders, menu],
            products: vec![product],
            ..Default::default()
        })
        .unwrap();
        let upstream = |path: &str| match c.route("localhost", path, &Method::GET) {
            RouteMatch::Found { entry, .. } => {
                let up = entry.api.production.as_ref().unwrap().pick().1;
                (entry.api.id.to_string(), up.authority.to_string())
            }
            _ => panic!("no route for {path}"),
        };
        assert_eq!(
            upstream("/bundle/1.0.0/items"),
            ("bundle-id".into(), "127.0.0.1:7001".into())
        );
        let has_policies = |path: &str| match c.route("localhost", path, &Method::GET) {
            RouteMatch::Found { entry, .. } => entry.api.policies.is_some(),
            _ => panic!("no route for {path}"),
        };
        assert!(has_policies("/bundle/1.0.0/items"));
        assert!(!has_policies("/bundle/1.0.0/dishes/3"));
        assert_eq!(
            upstream("/bundle/1.0.0/dishes/3"),
            ("bundle-id".into(), "127.0.0.1:1".into())
        );
        assert_eq!(upstream("/orders/1.0.0/items").0, "id/orders");
        assert!(!found(&c, "localhost", "/bundle/1.0.0/other", Method::GET));
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
