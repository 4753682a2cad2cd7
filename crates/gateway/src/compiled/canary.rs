//! Canary revisions, compiled: per API (or API product) with a canary, the split (weight, stickiness, the
//! `X-Gantry-Revision` values) and a router holding only the canary revisions, so a call
//! picked for the canary is matched against the canary revision's own resources. A
//! configuration without canaries compiles to nothing.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use gantry_model::canary::{CanaryOf, CanaryRevision, Stickiness, sticky_bucket};
use gantry_model::snapshot::DeployedApi;
use gantry_model::{DeployedProduct, GatewaySnapshot};
use http::{HeaderMap, HeaderName, HeaderValue, Method};

use super::api::ApiEntry;
use super::fast_map::FastMap;
use super::limits::Policies;
use super::router::{RouteMatch, Vhosts};
use crate::metric_name::Name;
use crate::traffic::{RevisionSeries, TrafficRegistry};
use gantry_model::KeyType;

/// The header telling the upstream which revision served the call.
pub const REVISION_HEADER: HeaderName = HeaderName::from_static("x-gantry-revision");

/// How one API's calls are shared between its two revisions.
pub struct Split {
    /// Percent of calls for the canary.
    pub weight: u8,
    sticky: Sticky,
    /// Calls picked by weight alone so far (spreads them evenly: see [`Split::canary_for`]).
    picked: AtomicU64,
    /// `X-Gantry-Revision` for calls the stable revision serves.
    pub stable_header: HeaderValue,
    /// `X-Gantry-Revision` for calls the canary serves.
    pub canary_header: HeaderValue,
    /// The stable revision's calls by status class on `/metrics`.
    pub stable_series: Arc<RevisionSeries>,
    /// The canary revision's calls by status class on `/metrics`.
    pub canary_series: Arc<RevisionSeries>,
}

enum Sticky {
    None,
    Header(HeaderName),
    Application,
}

impl Split {
    /// Whether this call goes to the canary: a sticky key's bucket under the weight, or
    /// else the next position of a permutation of 0–99 (37 is prime to 100), so every 100
    /// consecutive calls send exactly `weight` to the canary, spread out.
    pub fn canary_for(&self, headers: &HeaderMap, application: Option<&str>) -> bool {
        match self.weight {
            0 => return false,
            100.. => return true,
            _ => {}
        }
        let key = match &self.sticky {
            Sticky::None => None,
            Sticky::Header(name) => headers.get(name).map(HeaderValue::as_bytes),
            Sticky::Application => application.map(str::as_bytes),
        };
        let bucket = match key {
            Some(key) => sticky_bucket(key),
            None => ((self.picked.fetch_add(1, Ordering::Relaxed) % 100) * 37 % 100) as u8,
        };
        bucket < self.weight
    }
}

/// The revision a canary is beside: the API's or the product's deployed one.
enum Stable<'s> {
    Api(&'s DeployedApi),
    Product(&'s DeployedProduct),
}

impl<'s> Stable<'s> {
    /// The deployed revision of `canary`'s API or product, when its kind matches.
    fn find(snapshot: &'s GatewaySnapshot, canary: &CanaryRevision) -> Option<Self> {
        match &canary.revision {
            CanaryOf::Api(_) => snapshot
                .apis
                .iter()
                .find(|a| a.api_id == canary.api_id)
                .map(Self::Api),
            CanaryOf::Product(_) => snapshot
                .products
                .iter()
                .find(|p| p.product_id == canary.api_id)
                .map(Self::Product),
        }
    }

    fn name(&self) -> &str {
        match self {
            Self::Api(api) => api.name.as_str(),
            Self::Product(product) => product.name.as_str(),
        }
    }

    fn revision_id(&self) -> &str {
        match self {
            Self::Api(api) => &api.revision_id,
            Self::Product(product) => &product.revision_id,
        }
    }

    /// Adds what `canary` serves to `revisions`, answering where the stable revision does:
    /// same id, vhost, context, version (a product's included APIs under the product's).
    fn serve_beside(&self, canary: &CanaryOf, revisions: &mut Vec<DeployedApi>) {
        match (self, canary) {
            (Self::Api(stable), CanaryOf::Api(canary)) => {
                let mut revision = DeployedApi::clone(canary);
                revision.api_id.clone_from(&stable.api_id);
                revision.vhost.clone_from(&stable.vhost);
                revision.context = stable.context.clone();
                revision.version = stable.version.clone();
                revision.is_default_version = stable.is_default_version;
                revision.lifecycle = stable.lifecycle;
                revisions.push(revision);
            }
            (Self::Product(stable), CanaryOf::Product(canary)) => {
                let mut product = DeployedProduct::clone(canary);
                product.product_id.clone_from(&stable.product_id);
                product.name = stable.name.clone();
                product.vhost.clone_from(&stable.vhost);
                product.context = stable.context.clone();
                product.version = stable.version.clone();
                product.lifecycle = stable.lifecycle;
                revisions.extend(product.served_apis());
            }
            // `find` matched the kinds.
            _ => {}
        }
    }
}

/// APIs whose pools have active health checks, by key type.
type HealthChecked = Vec<(Arc<ApiEntry>, KeyType)>;

/// Every canary of a configuration.
pub struct Canaries {
    splits: FastMap<Arc<str>, Split>,
    vhosts: Vhosts,
    /// (API name, revision) of every per-revision series the splits count in.
    series: Vec<(Name, Name)>,
}

impl Canaries {
    /// Compiles `snapshot`'s canaries (`None` when it has none), and the health-checked
    /// pools of the canary revisions; a canary whose API is not deployed here, or that
    /// cannot be compiled, is added to `problems`.
    pub fn compile(
        snapshot: &GatewaySnapshot,
        policies: &Policies<'_>,
        traffic: &TrafficRegistry,
        problems: &mut Vec<String>,
    ) -> (Option<Box<Self>>, HealthChecked) {
        if snapshot.canaries.is_empty() {
            return (None, Vec::new());
        }
        let mut splits = FastMap::default();
        let mut series = Vec::with_capacity(2 * snapshot.canaries.len());
        let mut revisions = Vec::with_capacity(snapshot.canaries.len());
        for canary in &snapshot.canaries {
            let Some(stable) = Stable::find(snapshot, canary) else {
                problems.push(format!(
                    "canary of {}: it is not deployed in this environment",
                    canary.api_id
                ));
                continue;
            };
            let header = |revision: &str| {
                HeaderValue::from_str(revision).unwrap_or(HeaderValue::from_static("unknown"))
            };
            let sticky = match &canary.stickiness {
                Stickiness::None => Sticky::None,
                Stickiness::Application => Sticky::Application,
                Stickiness::Header { name } => match HeaderName::from_bytes(name.as_bytes()) {
                    Ok(name) => Sticky::Header(name),
                    Err(_) => {
                        problems.push(format!(
                            "canary of {}: '{name}' is not a header name",
                            stable.name()
                        ));
                        continue;
                    }
                },
            };
            let (name, stable_revision, canary_revision) = (
                stable.name(),
                stable.revision_id(),
                canary.revision.revision_id(),
            );
            for revision in [stable_revision, canary_revision] {
                series.push((Name(Arc::from(name)), Name(Arc::from(revision))));
            }
            splits.insert(
                Arc::from(canary.api_id.as_str()),
                Split {
                    weight: canary.weight.min(100),
                    sticky,
                    picked: AtomicU64::new(0),
                    stable_header: header(stable_revision),
                    canary_header: header(canary_revision),
                    stable_series: traffic.series(name, stable_revision),
                    canary_series: traffic.series(name, canary_revision),
                },
            );
            stable.serve_beside(&canary.revision, &mut revisions);
        }
        let only_canaries = GatewaySnapshot {
            environment: snapshot.environment.clone(),
            version: snapshot.version,
            apis: revisions,
            // The environment's gateway policies run on canary revisions too.
            gateway_policies: snapshot.gateway_policies.clone(),
            ..Default::default()
        };
        let (vhosts, health_checked) = Vhosts::compile(&only_canaries, policies, traffic, problems);
        (
            Some(Box::new(Self {
                splits,
                vhosts,
                series,
            })),
            health_checked,
        )
    }

    /// (API name, revision) of the per-revision series this configuration counts in.
    pub fn series(&self) -> &[(Name, Name)] {
        &self.series
    }

    /// The split of `api_id`, when it has a canary.
    pub fn split(&self, api_id: &str) -> Option<&Split> {
        self.splits.get(api_id)
    }

    /// Matches a call picked for a canary against the canary revisions.
    pub fn route(&self, host: &str, path: &str, method: &Method) -> RouteMatch<'_> {
        self.vhosts.route(host, path, method)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(weight: u8, sticky: Sticky) -> Split {
        let traffic = TrafficRegistry::default();
        Split {
            weight,
            sticky,
            picked: AtomicU64::new(0),
            stable_header: HeaderValue::from_static("r1"),
            canary_header: HeaderValue::from_static("r2"),
            stable_series: traffic.series("Shop", "r1"),
            canary_series: traffic.series("Shop", "r2"),
        }
    }

    fn deployed(revision: &str, targets: &[&str], upstream: &str) -> serde_json::Value {
        serde_json::json!({
            "api_id": "shop", "revision_id": revision, "name": "Shop", "context": "/shop",
            "version": "1.0.0", "vhost": "localhost", "lifecycle": "PUBLISHED",
            "authorization_header": "Authorization",
            "endpoint_config": {"endpoint_type": "http", "production_endpoints": {"url": upstream}},
            "operations": targets.iter().map(|t| serde_json::json!({
                "target": t, "verb": "GET", "authType": "None", "throttlingPolicy": "Unlimited"
            })).collect::<Vec<_>>(),
        })
    }

    fn snapshot(canary_api: &str) -> GatewaySnapshot {
        serde_json::from_value(serde_json::json!({
            "environment": "e", "version": 1, "apis": [deployed("r1", &["/a"], "http://127.0.0.1:1/v1")],
            "applications": [], "key_mappings": [], "subscriptions": [], "issuers": [],
            "canaries": [{"api_id": canary_api, "weight": 20,
                          "revision": deployed("r2", &["/a", "/b"], "http://127.0.0.1:1/v2")}],
        }))
        .unwrap()
    }

    #[test]
    fn a_canary_revision_is_routed_by_its_own_resources_and_counted_apart() {
        let traffic = TrafficRegistry::default();
        let config =
            super::super::CompiledConfig::compile_counting(&snapshot("shop"), &traffic).unwrap();
        let canaries = config.canaries.as_deref().unwrap();
        assert_eq!(canaries.split("shop").unwrap().weight, 20);
        assert!(canaries.split("other").is_none());
        let RouteMatch::Found { entry, .. } =
            canaries.route("localhost", "/shop/1.0.0/b", &Method::GET)
        else {
            panic!("the canary serves /b");
        };
        assert_eq!(entry.api.traffic.revision_id(), "r2");
        assert_eq!(
            entry.api.production.as_ref().unwrap().pick().1.base_path,
            "/v2"
        );
        assert!(matches!(
            config.route("localhost", "/shop/1.0.0/b", &Method::GET),
            RouteMatch::NotFound
        ));
        let RouteMatch::Found { entry, .. } =
            config.route("localhost", "/shop/1.0.0/a", &Method::GET)
        else {
            panic!("the stable revision serves /a");
        };
        assert_eq!(entry.api.traffic.revision_id(), "r1");
        // A canary of an API the environment does not serve is refused (NACK).
        assert!(super::super::CompiledConfig::compile(&snapshot("missing")).is_err());
    }

    #[test]
    fn a_canary_revision_runs_the_environments_gateway_policies_and_its_own() {
        let header = |v: &str| {
            serde_json::json!({"policyName": "addHeader",
                "parameters": {"headerName": "X-Level", "headerValue": v}})
        };
        let mut snapshot = snapshot("shop");
        snapshot.gateway_policies =
            serde_json::from_value(serde_json::json!({"request": [header("gateway")]})).unwrap();
        let CanaryOf::Api(canary) = &mut snapshot.canaries[0].revision else {
            panic!("an API's canary");
        };
        canary.operations[1].operation_policies =
            serde_json::from_value(serde_json::json!({"request": [header("canary")]})).unwrap();
        let config = super::super::CompiledConfig::compile(&snapshot).unwrap();
        let canaries = config.canaries.as_deref().unwrap();
        let applied = |found: RouteMatch<'_>| {
            let RouteMatch::Found { entry, operation } = found else {
                panic!("route expected");
            };
            let chain = operation.policies.as_ref().or(entry.api.policies.as_ref());
            let mut headers = HeaderMap::new();
            for step in chain.expect("a chain").request.iter() {
                if let crate::policy::Step::Header(op) = step {
                    op.apply(&mut headers);
                }
            }
            headers["x-level"].to_str().unwrap().to_owned()
        };
        assert_eq!(
            applied(canaries.route("localhost", "/shop/1.0.0/a", &Method::GET)),
            "gateway"
        );
        assert_eq!(
            applied(canaries.route("localhost", "/shop/1.0.0/b", &Method::GET)),
            "canary",
            "gateway first, then the canary operation's own"
        );
        assert_eq!(
            applied(config.route("localhost", "/shop/1.0.0/a", &Method::GET)),
            "gateway"
        );
    }

    #[test]
    fn weight_alone_sends_exactly_that_share_of_each_hundred_calls() {
        let s = split(25, Sticky::None);
        let headers = HeaderMap::new();
        let canary = (0..1000).filter(|_| s.canary_for(&headers, None)).count();
        assert_eq!(canary, 250);
        let first_ten = split(50, Sticky::None);
        let picks: Vec<bool> = (0..10)
            .map(|_| first_ten.canary_for(&headers, None))
            .collect();
        assert!(picks.iter().any(|p| *p) && picks.iter().any(|p| !*p));
    }

    #[test]
    fn a_sticky_header_keeps_a_client_on_one_revision() {
        let s = split(30, Sticky::Header(HeaderName::from_static("x-user")));
        let mut headers = HeaderMap::new();
        let mut on_canary = 0;
        for user in 0..1000 {
            headers.insert(
                "x-user",
                HeaderValue::from_str(&format!("u{user}")).unwrap(),
            );
            let first = s.canary_for(&headers, None);
            assert!((0..5).all(|_| s.canary_for(&headers, None) == first));
            on_canary += usize::from(first);
        }
        assert!((230..370).contains(&on_canary), "{on_canary}");
        let app = split(30, Sticky::Application);
        let first = app.canary_for(&HeaderMap::new(), Some("app-1"));
        assert!((0..5).all(|_| app.canary_for(&HeaderMap::new(), Some("app-1")) == first));
    }
}
