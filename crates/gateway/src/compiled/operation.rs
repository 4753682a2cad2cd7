//! One operation as the request path reads it: how callers authenticate, its scopes, its
//! limit and header policies, compiled once per configuration. Its own module so that what
//! builds operations (REST routes in `api.rs`, MCP tools in `mcp.rs`, a GraphQL API's root
//! fields in `graphql.rs`) can share it without importing each other.

use std::sync::Arc;

use gantry_model::snapshot::DeployedApi;
use gantry_model::{AuthType, HttpVerb, Operation};

use super::conditions::OperationConditions;
use super::header_policies::{self, HeaderOp};
use super::limits::{Level, Limit, Policies};

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
    /// The operation's own header policies, applied after the API's; `None` for most
    /// operations, so they cost nothing on the request path.
    pub headers: Option<Arc<OperationHeaders>>,
    /// A topic of a streaming API that takes PUBLISH: the scopes a caller needs to send
    /// on it (empty: none). `None` for REST operations and topics that take no publishing.
    pub publish: Option<Arc<[String]>>,
    /// A route of a WebSub API's hub (`None` for every other operation).
    pub websub: Option<super::websub::WebSubRole>,
}

/// An operation's header policies (WSO2 4.x `operationPolicies`), compiled.
#[derive(Debug)]
pub struct OperationHeaders {
    /// Applied to the request after the API's request policies.
    pub request: Box<[HeaderOp]>,
    /// Applied to the response after the API's response policies.
    pub response: Box<[HeaderOp]>,
}

/// The parts of an operation's entry shared by every route it is served under.
pub struct OperationParts {
    publish: Option<Arc<[String]>>,
    key: Arc<str>,
    limit: Option<Arc<Limit>>,
    conditions: Option<Arc<OperationConditions>>,
    headers: Option<Arc<OperationHeaders>>,
}

impl OperationParts {
    /// Compiles `op` of `api`; what cannot be compiled is added to `problems`.
    pub fn compile(
        api: &DeployedApi,
        op: &Operation,
        policies: &Policies<'_>,
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
        let mut op_headers = |policies: &[gantry_model::PolicyRef]| {
            header_policies::compile(policies).unwrap_or_else(|error| {
                problems.push(format!("API {} operation {key}: {error}", api.name));
                Box::default()
            })
        };
        let headers = (!op.operation_policies.is_empty()).then(|| {
            Arc::new(OperationHeaders {
                request: op_headers(&op.operation_policies.request),
                response: op_headers(&op.operation_policies.response),
            })
        });
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
            headers,
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
            headers: self.headers.clone(),
            publish: self.publish.clone(),
            websub,
        }
    }
}
