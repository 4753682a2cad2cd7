//! One operation as the request path reads it: how callers authenticate, its scopes, its
//! limit and header policies. Shared by REST routes (`api.rs`) and a GraphQL API's root
//! fields (`graphql.rs`).

use std::sync::Arc;

use gantry_model::AuthType;

use super::conditions::OperationConditions;
use super::header_policies::HeaderOp;
use super::limits::Limit;

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
}

/// An operation's header policies (WSO2 4.x `operationPolicies`), compiled.
#[derive(Debug)]
pub struct OperationHeaders {
    /// Applied to the request after the API's request policies.
    pub request: Box<[HeaderOp]>,
    /// Applied to the response after the API's response policies.
    pub response: Box<[HeaderOp]>,
}
