//! One operation as the request path reads it (auth type, scopes, limit, operation
//! policies), compiled once per configuration. Its own module so that what builds operations
//! (REST routes in `api.rs`, MCP tools in `mcp.rs`, a GraphQL API's root fields in
//! `graphql.rs`) can share it without importing each other.

use std::sync::Arc;

use gantry_model::snapshot::DeployedApi;
use gantry_model::{ApiPolicies, AuthType, HttpVerb, Operation};

use super::conditions::OperationConditions;
use super::limits::{Level, Limit, Policies};
use crate::policy::Chain;

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
    /// The policy's conditional groups, when it has some (`limit` applies when none holds).
    pub conditions: Option<Arc<OperationConditions>>,
    /// The gateway's, the API's and the operation's own policies (`operationPolicies`),
    /// when the operation has its own; `None` for most operations (the API's apply).
    pub policies: Option<Arc<Chain>>,
    /// A topic of a streaming API that takes PUBLISH: the scopes a caller needs to send
    /// on it (empty: none). `None` for REST operations and topics that take no publishing.
    pub publish: Option<Arc<[String]>>,
    /// A route of a WebSub API's hub (`None` for every other operation).
    pub websub: Option<super::websub::WebSubRole>,
}

/// The parts of an operation's entry shared by every route it is served under.
pub struct OperationParts {
    publish: Option<Arc<[String]>>,
    key: Arc<str>,
    limit: Option<Arc<Limit>>,
    conditions: Option<Arc<OperationConditions>>,
    policies: Option<Arc<Chain>>,
}

impl OperationParts {
    /// Compiles `op` of `api` (after the environment's `gateway` policies); what cannot be
    /// compiled is added to `problems`.
    pub fn compile(
        api: &DeployedApi,
        op: &Operation,
        policies: &Policies<'_>,
        gateway: &ApiPolicies,
        problems: &mut Vec<String>,
    ) -> Self {
        let key: Arc<str> = Arc::from(format!("{} {}", op.verb.as_str(), op.target).as_str());
        if !policies.defines(Level::Api, &op.throttling_policy)
            && op.throttling_policy != "Unlimited"
        {
            problems.push(format!(
                "API {}: operation policy '{}' is unknown",
                api.name, op.throttling_policy
            ));
        }
        let chain = if op.operation_policies.is_empty() {
            None
        } else {
            Chain::compile(&[gateway, &api.gateway.api_policies, &op.operation_policies])
                .unwrap_or_else(|error| {
                    problems.push(format!("API {} operation {key}: {error}", api.name));
                    None
                })
        };
        let publish = api
            .operations
            .iter()
            .find(|o| o.verb == HttpVerb::Publish && o.target == op.target)
            .map(|o| Arc::from(o.scopes.as_slice()));
        Self {
            publish,
            limit: policies.limit(Level::Api, &op.throttling_policy),
            conditions: policies
                .conditions(&op.throttling_policy)
                .map(|c| Arc::new(OperationConditions::new(c, &key))),
            key,
            policies: chain,
        }
    }

    /// The entry of `op` on one route (`websub`: the part of a WebSub hub it is).
    pub fn entry(
        &self,
        op: &Operation,
        websub: Option<super::websub::WebSubRole>,
    ) -> OperationEntry {
        OperationEntry {
            auth_type: op.auth_type,
            scopes: op.scopes.clone(),
            key: self.key.clone(),
            limit: self.limit.clone(),
            conditions: self.conditions.clone(),
            policies: self.policies.clone(),
            publish: self.publish.clone(),
            websub,
        }
    }
}
