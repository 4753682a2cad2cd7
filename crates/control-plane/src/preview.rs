//! Deployment previews: what the gateways of an environment would serve differently if a
//! revision were deployed there, answered before anything changes.
//!
//! The control plane builds the environment's snapshot as it is and as it would be; the
//! routes of each come from a [`RouteCompiler`]: the gateways' own compiler, which the
//! `gantry` binary provides (the control plane does not link the gateway), so a preview
//! cannot disagree with what a gateway applies.

use std::collections::BTreeMap;

use gantry_model::GatewaySnapshot;
use serde::Serialize;
use serde_json::{Value, json};

/// One method + path a gateway serves, with what guards it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PreviewRoute {
    /// Virtual host.
    pub vhost: String,
    /// HTTP method.
    pub method: String,
    /// The path as routed (`/context/version/resource`).
    pub path: String,
    /// `name version` of the API.
    pub api: String,
    /// WSO2's auth type.
    pub auth_type: String,
    /// Scopes required.
    pub scopes: Vec<String>,
    /// Operation throttling policy.
    pub throttling_policy: String,
    /// Production endpoint(s).
    pub production_endpoint: String,
}

/// Compiles a snapshot as a gateway would and lists the routes it serves, or every reason a
/// gateway would refuse it.
pub trait RouteCompiler: Send + Sync + 'static {
    /// The routes `snapshot` serves, sorted, or the problems found.
    fn served_routes(&self, snapshot: &GatewaySnapshot) -> Result<Vec<PreviewRoute>, Vec<String>>;
}

/// The difference between the routes served before and after: `{added, removed, changed
/// [{before, after}], unchanged}`.
pub fn diff(before: &[PreviewRoute], after: &[PreviewRoute]) -> Value {
    let key = |r: &PreviewRoute| (r.vhost.clone(), r.method.clone(), r.path.clone());
    let before: BTreeMap<_, _> = before.iter().map(|r| (key(r), r)).collect();
    let after: BTreeMap<_, _> = after.iter().map(|r| (key(r), r)).collect();
    let added: Vec<&PreviewRoute> = after
        .iter()
        .filter(|(k, _)| !before.contains_key(*k))
        .map(|(_, r)| *r)
        .collect();
    let removed: Vec<&PreviewRoute> = before
        .iter()
        .filter(|(k, _)| !after.contains_key(*k))
        .map(|(_, r)| *r)
        .collect();
    let mut changed = Vec::new();
    let mut unchanged = 0;
    for (k, new) in &after {
        if let Some(old) = before.get(k) {
            if old == new {
                unchanged += 1;
            } else {
                changed.push(json!({"before": old, "after": new}));
            }
        }
    }
    json!({"added": added, "removed": removed, "changed": changed, "unchanged": unchanged})
}
