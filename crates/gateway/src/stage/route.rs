//! The route stage: vhost + context + version + resource template → the API and operation
//! (precompiled router in `compiled/router.rs`). 404 for no resource, 405 with `Allow` for another
//! method, 503 for a blocked API.

use std::sync::Arc;

use gantry_model::LifecycleState;
use http::header::{self, HeaderValue};
use http::{Method, StatusCode};

use super::Answer;
use super::target::Target;
use crate::compiled::{ApiEntry, CompiledConfig, OperationEntry, RouteEntry, RouteMatch};
use crate::metrics::{Name, Outcome};
use crate::respond;

/// The API and operation a request is for.
pub struct Routed<'c> {
    /// The route matched (its base path is stripped before forwarding).
    pub entry: &'c RouteEntry,
    /// The operation of the request's method.
    pub operation: &'c OperationEntry,
    /// The API, owned: it outlives the configuration guard.
    pub api: Arc<ApiEntry>,
}

impl Routed<'_> {
    /// The policies the call runs: the operation's own chain (which holds the gateway's and
    /// the API's before it), else the API's; `None` for most calls.
    pub fn policies(&self) -> Option<&Arc<crate::policy::Chain>> {
        self.operation
            .policies
            .as_ref()
            .or(self.api.policies.as_ref())
    }
}

/// What the router says of `target` (the CORS stage reads it before [`resolve`] answers).
pub fn lookup<'c>(
    config: &'c CompiledConfig,
    target: &Target<'_>,
    method: &Method,
) -> RouteMatch<'c> {
    config.route(target.host, &target.path, method)
}

/// The API and operation matched, or the answer for a request that has none — or whose
/// path, read as lenient upstreams read paths, could name a better-protected operation
/// (`loose_reading`: 400).
pub fn resolve<'c>(
    config: &CompiledConfig,
    matched: RouteMatch<'c>,
    target: &Target<'_>,
    method: &Method,
    outcome: &mut Outcome,
) -> Result<Routed<'c>, Answer> {
    let (entry, operation) = match matched {
        RouteMatch::Found { entry, operation } => (entry, operation),
        RouteMatch::NotFound => return Err(respond::no_route()),
        RouteMatch::UnknownHost => {
            return Err(respond::unknown_host(target.host, &config.served_hosts()));
        }
        RouteMatch::MethodNotAllowed(entry) => return Err(method_not_allowed(entry, method)),
    };
    entry
        .check_loose_readings(&target.path, method, operation)
        .map_err(|refusal| refusal.into_response())?;
    let api = entry.api.clone();
    outcome.api = Some(Name(api.name.clone()));
    outcome.operation = Some(Name(operation.key.clone()));
    if api.lifecycle == LifecycleState::Blocked {
        return Err(respond::error(
            StatusCode::SERVICE_UNAVAILABLE,
            "700700",
            "API blocked",
            "This API has been blocked temporarily. Please try again later or contact the system administrators.",
        ));
    }
    Ok(Routed {
        entry,
        operation,
        api,
    })
}

fn method_not_allowed(entry: &RouteEntry, method: &Method) -> Answer {
    let allow = entry
        .allowed_methods()
        .map(|m| m.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    let mut response = respond::error(
        StatusCode::METHOD_NOT_ALLOWED,
        "405",
        "Method not allowed",
        &format!("The resource does not support {method}"),
    );
    if let Ok(v) = HeaderValue::from_str(&allow) {
        response.headers_mut().insert(header::ALLOW, v);
    }
    response
}
