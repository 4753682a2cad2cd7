//! The gateways' compiler lent to the control plane for deployment previews: the binary
//! links both planes, the control plane links no gateway code (DESIGN.md's arrows), so the
//! binary hands it this implementation of its `RouteCompiler`.

use gantry_control_plane::preview::{PreviewRoute, RouteCompiler};
use gantry_model::GatewaySnapshot;

/// [`gantry_gateway::compiled::preview::served_routes`], as the control plane asks for it.
pub struct GatewayCompiler;

impl RouteCompiler for GatewayCompiler {
    fn served_routes(&self, snapshot: &GatewaySnapshot) -> Result<Vec<PreviewRoute>, Vec<String>> {
        let routes = gantry_gateway::compiled::preview::served_routes(snapshot)?;
        Ok(routes
            .into_iter()
            .map(|r| PreviewRoute {
                vhost: r.vhost,
                method: r.method,
                path: r.path,
                api: r.api,
                auth_type: r.auth_type,
                scopes: r.scopes,
                throttling_policy: r.throttling_policy,
                production_endpoint: r.production_endpoint,
            })
            .collect())
    }
}
