//! Deployment previews: what the gateways of an environment would serve differently if a
//! revision were deployed there, answered before anything changes.
//!
//! The control plane builds the environment's snapshot as it is and as it would be; the
//! routes of each come from a [`RouteCompiler`]: the gateways' own compiler, which the
//! `gantry` binary provides (the control plane does not link the gateway), so a preview
//! cannot disagree with what a gateway applies.

use std::collections::BTreeMap;

use gantry_model::snapshot::DeployedApi;
use gantry_model::{Api, GatewaySnapshot, LifecycleState};
use gantry_store::environments;
use serde::Serialize;
use serde_json::{Value, json};

use crate::AppState;
use crate::error::{ApiError, ApiResult};

/// One method + path a gateway serves, with what guards it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, serde::Deserialize)]
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

/// An API definition that might be deployed (a revision's, or an import's).
pub(crate) struct Candidate<'a> {
    /// The API's id.
    pub api_id: &'a str,
    /// The revision's id (or a placeholder for an import).
    pub revision_id: &'a str,
    /// What would be served.
    pub definition: Api,
    /// The API's lifecycle state then.
    pub lifecycle: LifecycleState,
    /// Whether it is the default version then.
    pub is_default_version: bool,
}

/// What deploying `candidate` to `environment` (at `vhost`, default the environment's
/// first) would change on its gateways: `{environment, applies, problems, routes}`.
pub(crate) async fn preview(
    state: &AppState,
    candidate: Candidate<'_>,
    environment: &str,
    vhost: Option<&str>,
) -> ApiResult<Value> {
    let env = environments::find_by_name(state.store(), environment)
        .await?
        .ok_or_else(|| {
            ApiError::BadRequest(format!(
                "environment: gateway environment '{environment}' does not exist"
            ))
        })?;
    let vhost = match vhost {
        Some(v) if env.vhosts.iter().any(|h| h.eq_ignore_ascii_case(v)) => v.to_ascii_lowercase(),
        Some(v) => {
            return Err(ApiError::BadRequest(format!(
                "vhost: '{v}' is not a vhost of environment '{environment}' (its vhosts: {})",
                env.vhosts.join(", ")
            )));
        }
        None => env
            .vhosts
            .first()
            .cloned()
            .unwrap_or_else(|| "localhost".into()),
    };
    let compiler = state.compiler().cloned().ok_or_else(|| {
        ApiError::Unavailable(
            "deployment previews need the gateway compiler, which this process was started without"
                .into(),
        )
    })?;
    let before = state.build_snapshot(environment).await?;
    // The snapshot as `gantry_store::snapshot::build` would list the API once it serves there.
    let mut after = before.clone();
    let certificates = after
        .apis
        .iter()
        .find(|a| a.api_id == candidate.api_id)
        .map(|a| a.client_certificates.clone())
        .unwrap_or_default();
    after.apis.retain(|a| a.api_id != candidate.api_id);
    let definition = candidate.definition;
    if candidate.lifecycle.is_routable() {
        after.apis.push(DeployedApi {
            api_id: candidate.api_id.to_owned(),
            revision_id: candidate.revision_id.to_owned(),
            name: definition.name,
            context: definition.context,
            version: definition.version,
            vhost,
            is_default_version: candidate.is_default_version,
            lifecycle: candidate.lifecycle,
            api_type: definition.api_type,
            authorization_header: definition.authorization_header,
            security_scheme: definition.security_scheme,
            gateway: definition.gateway,
            endpoint_config: definition.endpoint_config,
            cors_configuration: definition.cors_configuration,
            operations: definition.operations,
            client_certificates: certificates,
        });
    }
    after.normalize();
    let served_before = compiler.served_routes(&before).unwrap_or_default();
    let mut answer = json!({
        "apiId": candidate.api_id,
        "revisionId": candidate.revision_id,
        "environment": environment,
    });
    match compiler.served_routes(&after) {
        Ok(served_after) => {
            answer["applies"] = json!(true);
            answer["problems"] = json!([]);
            answer["routes"] = diff(&served_before, &served_after);
        }
        Err(problems) => {
            answer["applies"] = json!(false);
            answer["problems"] = json!(problems);
        }
    }
    Ok(answer)
}
