//! One deployed API and its operations as the request path reads them: how callers
//! authenticate, where traffic goes, which policies run. Compiled once per configuration.

use std::sync::Arc;

use gantry_model::snapshot::DeployedApi;
use gantry_model::streaming::ApiType;
use gantry_model::{ApiPolicies, Endpoint, Endpoints, KeyType, LifecycleState};

use super::client_certs::MutualTls;
use super::cors::Cors;
use super::graphql::GraphQlApi;
use super::limits::{Level, Policies};
use super::loose_reading::LooseRoutes;
pub use super::operation::{OperationEntry, OperationParts};
use super::upstream::UpstreamPool;
use crate::policy::Chain;

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
    /// The gateway's and the API's policies (`apiPolicies`), for operations without their
    /// own; `None` for most APIs.
    pub policies: Option<Arc<Chain>>,
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
    pub cors: Option<Cors>,
    /// Mutual TLS, when `mutualssl` is in the security scheme.
    pub mtls: Option<Box<MutualTls>>,
    /// Loosened templates, only when the operations differ in protection.
    pub loose: Option<Box<LooseRoutes>>,
    /// The tools, when the API is an MCP server (`stage/mcp` serves it).
    pub mcp: Option<Box<super::mcp::McpEntry>>,
    /// This revision's request counters (kept across configurations).
    pub traffic: Arc<crate::traffic::RevisionCounters>,
    /// WSO2's API type: REST, or a streaming type served by `stage::sse`/`stage::ws_topics`.
    pub kind: ApiType,
    /// A WebSocket API's own idle timeout (`streamingSettings.idleTimeoutSeconds`).
    pub idle_timeout: Option<std::time::Duration>,
    /// A WebSub API's topics and publisher key (`None` for other types).
    pub websub: Option<Box<super::websub::WebSubTopics>>,
    /// A SOAP API's operations by SOAPAction (`None` for other types).
    pub soap: Option<Box<super::soap::SoapActions>>,
    /// A GraphQL API's schema, operations and complexity values (`None` for other APIs).
    pub graphql: Option<Box<GraphQlApi>>,
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

    /// Compiles `api` (served under `base_path`, `context/version`, after the environment's
    /// `gateway` policies); what cannot be compiled is added to `problems`.
    pub fn compile(
        api: &DeployedApi,
        base_path: &str,
        policies: &Policies<'_>,
        gateway: &ApiPolicies,
        traffic: &crate::traffic::TrafficRegistry,
        problems: &mut Vec<String>,
    ) -> Self {
        let has = |scheme: &str| api.security_scheme.iter().any(|s| s == scheme);
        let api_key = has(gantry_model::gateway_policies::API_KEY_SCHEME).then(|| {
            let header = api.gateway.api_key_header.to_ascii_lowercase();
            ApiKeyLocation {
                header: http::HeaderName::from_bytes(header.as_bytes())
                    .unwrap_or(http::HeaderName::from_static("apikey")),
                query: header.into_boxed_str(),
            }
        });
        let mtls = MutualTls::compile(api)
            .unwrap_or_else(|error| {
                problems.push(format!("API {}: {error}", api.name));
                None
            })
            .map(|mut mtls| {
                mtls.resolve_tiers(|tier| policies.limit(Level::Subscription, tier));
                Box::new(mtls)
            });
        // An MCP server is served over HTTP (its tools by `stage::mcp`).
        let mcp_server = api.api_type == gantry_model::mcp::MCP_API_TYPE;
        let kind = ApiType::parse(&api.api_type).unwrap_or_else(|| {
            if mcp_server {
                return ApiType::Http;
            }
            problems.push(format!(
                "API {}: type '{}' is not served by this gateway",
                api.name, api.api_type
            ));
            ApiType::Http
        });
        let soap = (kind == ApiType::Soap).then(|| {
            Box::new(super::soap::SoapActions::compile(
                api, policies, gateway, problems,
            ))
        });
        let chain = Chain::compile(&[gateway, &api.gateway.api_policies]).unwrap_or_else(|error| {
            problems.push(format!("API {}: {error}", api.name));
            None
        });
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
        ApiEntry {
            soap,
            websub: (kind == ApiType::WebSub)
                .then(|| Box::new(super::websub::WebSubTopics::compile(api))),
            kind,
            idle_timeout: api
                .gateway
                .streaming_settings
                .as_ref()
                .and_then(|s| s.idle_timeout_seconds)
                .map(std::time::Duration::from_secs),
            id: Arc::from(api.api_id.as_str()),
            name: Arc::from(api.name.as_str()),
            base_path: base_path.to_owned(),
            version: api.version.to_string(),
            // An API with mutual TLS and no application security takes certificates only.
            accepts_oauth: has(gantry_model::gateway_policies::OAUTH2_SCHEME)
                || (api_key.is_none() && mtls.is_none()),
            api_key,
            policies: chain,
            backend_jwt: api.gateway.enable_backend_jwt,
            lifecycle: api.lifecycle,
            authorization_header: http::HeaderName::from_bytes(
                api.authorization_header.to_ascii_lowercase().as_bytes(),
            )
            .unwrap_or(http::header::AUTHORIZATION),
            production: upstream(&config.production_endpoints, &config.production_failovers),
            sandbox: upstream(&config.sandbox_endpoints, &config.sandbox_failovers),
            cors: Cors::compile(&api.cors_configuration),
            mtls,
            loose: LooseRoutes::compile(&api.operations),
            mcp: super::mcp::McpEntry::compile(api, policies, problems),
            traffic: traffic.counters(&api.api_id, &api.revision_id),
            graphql: GraphQlApi::compile(api, policies, problems),
        }
    }
}
