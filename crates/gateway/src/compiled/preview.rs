//! A snapshot as the list of routes a gateway would serve from it: compiled exactly as a
//! gateway compiles it (so what cannot be compiled is refused here too), then each resource
//! probed through the compiled router. The control plane's deployment preview diffs two of
//! these lists; it reaches this code through the `gantry` binary, never by linking the gateway.

use gantry_model::{AuthType, GatewaySnapshot};

use super::CompiledConfig;
use super::router::RouteMatch;
use super::template::method_of;

/// One method + path a gateway serves, with what guards it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ServedRoute {
    /// Virtual host (lower case).
    pub vhost: String,
    /// HTTP method.
    pub method: String,
    /// `/context/version` + the resource template (and `/context` + template for the
    /// default version).
    pub path: String,
    /// The API's name and version.
    pub api: String,
    /// WSO2's auth type name.
    pub auth_type: String,
    /// Scopes the token must carry.
    pub scopes: Vec<String>,
    /// The operation's throttling policy.
    pub throttling_policy: String,
    /// The production endpoint(s), as configured.
    pub production_endpoint: String,
}

/// The routes `snapshot` serves, or every reason a gateway would refuse it.
pub fn served_routes(snapshot: &GatewaySnapshot) -> Result<Vec<ServedRoute>, Vec<String>> {
    let compiled = match CompiledConfig::compile(snapshot) {
        Ok(compiled) => compiled,
        Err(crate::error::GatewayError::Invalid(problems)) => return Err(problems),
        Err(other) => return Err(vec![other.to_string()]),
    };
    let mut routes = Vec::new();
    let mut problems = Vec::new();
    for api in &snapshot.apis {
        let vhost = api.vhost.to_ascii_lowercase();
        let mut bases = vec![format!("{}/{}", api.context, api.version)];
        if api.is_default_version {
            bases.push(api.context.to_string());
        }
        let endpoint = api
            .endpoint_config
            .production_endpoints
            .as_ref()
            .map(|e| serde_json::to_value(e).unwrap_or_default())
            .map(|v| endpoint_text(&v))
            .unwrap_or_default();
        for op in &api.operations {
            let method = method_of(op.verb);
            for base in &bases {
                let path = format!("{base}{}", op.target);
                // What the compiled router answers for a request on this resource.
                let probe = probe_path(&path);
                match compiled.route(&vhost, &probe, &method) {
                    RouteMatch::Found { entry, .. } if *entry.api.id == *api.api_id => {}
                    RouteMatch::Found { entry, .. } => problems.push(format!(
                        "{method} {path} of API {} is answered by API {}",
                        api.name, entry.api.name
                    )),
                    _ => problems.push(format!(
                        "{method} {path} of API {} is not reachable",
                        api.name
                    )),
                }
                routes.push(ServedRoute {
                    vhost: vhost.clone(),
                    method: method.to_string(),
                    path,
                    api: format!("{} {}", api.name, api.version),
                    auth_type: auth_name(op.auth_type).to_owned(),
                    scopes: op.scopes.clone(),
                    throttling_policy: op.throttling_policy.clone(),
                    production_endpoint: endpoint.clone(),
                });
            }
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    routes.sort();
    Ok(routes)
}

/// A concrete path for a template: `{param}` → `x`, a trailing `/*` dropped.
fn probe_path(template: &str) -> String {
    let trimmed = template.strip_suffix("/*").unwrap_or(template);
    trimmed
        .split('/')
        .map(|s| if s.starts_with('{') { "x" } else { s })
        .collect::<Vec<_>>()
        .join("/")
}

fn endpoint_text(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::Array(items) => items
            .iter()
            .map(endpoint_text)
            .collect::<Vec<_>>()
            .join(","),
        other => other
            .get("url")
            .and_then(serde_json::Value::as_str)
            .unwrap_or_default()
            .to_owned(),
    }
}

fn auth_name(auth: AuthType) -> &'static str {
    match auth {
        AuthType::None => "None",
        AuthType::Application => "Application",
        AuthType::ApplicationUser => "Application User",
        AuthType::Any => "Application & Application User",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probes_templates_with_concrete_segments() {
        assert_eq!(probe_path("/a/1/orders/{id}"), "/a/1/orders/x");
        assert_eq!(probe_path("/a/1/*"), "/a/1");
        assert_eq!(probe_path("/a/1/"), "/a/1/");
    }
}
