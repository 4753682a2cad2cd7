//! The router of one configuration: per virtual host, a matchit tree of
//! `/<context>/<version><template>` patterns onto routes, each with its operations by method.

use std::collections::HashMap;
use std::sync::Arc;

use gantry_model::snapshot::DeployedApi;
use gantry_model::{GatewaySnapshot, KeyType};
use http::Method;

use super::api::{ApiEntry, OperationEntry, OperationParts};
use super::limits::Policies;
use super::template::{method_of, patterns_for};
use crate::canonical_path::PathRefusal;

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
    ) -> Result<(), PathRefusal> {
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

/// Routers by lower-case host name.
pub struct Vhosts(super::fast_map::FastMap<String, VhostRouter>);

struct VhostRouter {
    router: matchit::Router<usize>,
    entries: Vec<RouteEntry>,
}

impl Vhosts {
    /// The routers of `snapshot`'s APIs, and the APIs with health-checked pools (by key
    /// type); conflicting routes and what cannot be compiled are added to `problems`.
    pub fn compile(
        snapshot: &GatewaySnapshot,
        policies: &Policies<'_>,
        traffic: &crate::traffic::TrafficRegistry,
        problems: &mut Vec<String>,
    ) -> (Self, Vec<(Arc<ApiEntry>, KeyType)>) {
        let mut builders: HashMap<String, RouterBuilder> = HashMap::new();
        // A product's operations route under its context to each included API's frozen
        // copy, counted under the product's id (subscription and quota).
        let product_apis: Vec<DeployedApi> = snapshot
            .products
            .iter()
            .flat_map(|p| p.served_apis())
            .collect();
        for api in snapshot.apis.iter().chain(&product_apis) {
            let vhost = api.vhost.to_ascii_lowercase();
            builders.entry(vhost).or_default().add_api(
                api,
                policies,
                &snapshot.gateway_policies,
                traffic,
                problems,
            );
        }
        let health_checked = builders
            .values_mut()
            .flat_map(|b| std::mem::take(&mut b.health_checked))
            .collect();
        let vhosts = builders
            .into_iter()
            .map(|(host, b)| (host, b.build(problems)))
            .collect();
        (Self(vhosts), health_checked)
    }

    /// Matches a request by host (port ignored, case-insensitive), path and method.
    pub fn route(&self, host: &str, path: &str, method: &Method) -> RouteMatch<'_> {
        let host = host_without_port(host);
        let vhost = match self.0.get(host) {
            Some(v) => v,
            None => match self.by_another_name(host) {
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

    /// The router of `host` (port stripped) when it is not found as sent: the same name in
    /// another case, or, for a loopback address (`127.0.0.1`, `[::1]`), the `localhost`
    /// vhost — on one machine the loopback names are one host. Off the request path's
    /// common case: only requests whose host missed get here.
    fn by_another_name(&self, host: &str) -> Option<&VhostRouter> {
        if host.bytes().any(|b| b.is_ascii_uppercase()) {
            return self.0.get(&host.to_ascii_lowercase());
        }
        let address = host.trim_start_matches('[').trim_end_matches(']');
        match address.parse::<std::net::IpAddr>() {
            Ok(ip) if ip.is_loopback() => self.0.get("localhost"),
            _ => None,
        }
    }

    /// The hosts served, sorted (for the 404 of an unknown host).
    pub fn names(&self) -> Vec<&str> {
        let mut hosts: Vec<&str> = self.0.keys().map(String::as_str).collect();
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
    fn add_api(
        &mut self,
        api: &DeployedApi,
        policies: &Policies<'_>,
        gateway: &gantry_model::ApiPolicies,
        traffic: &crate::traffic::TrafficRegistry,
        problems: &mut Vec<String>,
    ) {
        let base_path = format!("{}/{}", api.context, api.version);
        // The default version also answers without its version segment.
        let mut bases: Vec<Arc<str>> = vec![Arc::from(base_path.as_str())];
        if api.is_default_version {
            bases.push(Arc::from(api.context.as_str()));
        }
        let entry = Arc::new(ApiEntry::compile(
            api, &base_path, policies, gateway, traffic, problems,
        ));
        for key_type in [KeyType::Production, KeyType::Sandbox] {
            if entry
                .pool(key_type)
                .is_some_and(|p| p.health_check().is_some())
            {
                self.health_checked.push((entry.clone(), key_type));
            }
        }
        // A topic's SUBSCRIBE decides who may open its connection (its PUBLISH, what they may
        // send): SUBSCRIBE operations go in first.
        let subscribe_first = api
            .operations
            .iter()
            .filter(|op| op.verb != gantry_model::HttpVerb::Publish)
            .chain(
                api.operations
                    .iter()
                    .filter(|op| op.verb == gantry_model::HttpVerb::Publish),
            );
        // A WebSub API's topics are not paths: the gateway serves its hub instead.
        let websub = api.api_type == "WEBSUB";
        let hub_routes = if websub {
            super::websub::WebSubTopics::routes().to_vec()
        } else {
            Vec::new()
        };
        // A SOAP API's clients post to its service URL; the action picks the operation.
        let soap = api.api_type == "SOAP";
        let soap_route = [super::soap::SoapActions::route()];
        let topics = subscribe_first
            .filter(|_| !websub && !soap)
            .chain(soap_route.iter().filter(|_| soap))
            .map(|op| (op, None));
        for (op, role) in topics.chain(hub_routes.iter().map(|(op, role)| (op, Some(*role)))) {
            let method = method_of(op.verb);
            let parts = OperationParts::compile(api, op, policies, gateway, problems);
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
                            route.methods.push((method.clone(), parts.entry(op, role)));
                        }
                    }
                    None => {
                        self.index.insert(pattern, self.entries.len());
                        self.entries.push(RouteEntry {
                            api: entry.clone(),
                            base_path: prefix,
                            methods: vec![(method.clone(), parts.entry(op, role))],
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_port_is_stripped_including_ipv6() {
        assert_eq!(host_without_port("localhost:9090"), "localhost");
        assert_eq!(host_without_port("[::1]:9090"), "[::1]");
        assert_eq!(host_without_port("example.com"), "example.com");
    }
}
