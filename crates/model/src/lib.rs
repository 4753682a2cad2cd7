//! The shared vocabulary of Gantry: APIs, operations, lifecycle, applications,
//! subscriptions and the configuration snapshot a gateway serves from.
//!
//! Pure data and validation, no IO: the control plane, the key manager and the gateway all
//! speak these types, so a rule written here (what a context may look like, which lifecycle
//! transition is legal) holds everywhere.
#![forbid(unsafe_code)]

pub mod ai;
pub mod api;
pub mod api_product;
pub mod canary;
pub mod custom_rules;
pub mod delta;
pub mod deny;
pub mod details;
pub mod gateway_policies;
pub mod graphql;
pub mod json_schema;
pub mod lifecycle;
pub mod mcp;
pub mod operation_policy;
pub mod policy_action;
pub mod rollout;
pub mod snapshot;
pub mod streaming;
pub mod subscription;
pub mod throttle_conditions;
pub mod traffic;

pub use api::{
    Api, ApiContext, ApiName, ApiVersion, AuthType, CorsConfiguration, Endpoint, EndpointConfig,
    Endpoints, HttpVerb, Operation, ResourceTarget,
};
pub use api_product::{ApiProduct, DeployedProduct, ProductApi, ProductRevision};
pub use details::{AdditionalProperty, ApiDetails, ApiScope, BusinessInformation, ScopeDefinition};
pub use gateway_policies::{ApiPolicies, GatewayPolicies, PolicyRef};
pub use graphql::{FieldComplexity, GraphQlDefinition, GraphQlOperation, GraphQlVerb};
pub use lifecycle::{LifecycleAction, LifecycleState};
pub use snapshot::GatewaySnapshot;
pub use subscription::{KeyType, SubscriptionStatus};

/// A value failed validation; `field` names the JSON field, as WSO2 clients see it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct InvalidField {
    /// The JSON field that is wrong (e.g. `context`, `operations[2].target`).
    pub field: String,
    /// Why it is wrong, in words a caller can act on.
    pub reason: String,
}

impl InvalidField {
    /// A validation failure of `field`.
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            reason: reason.into(),
        }
    }

    /// The same failure, reported under a parent field (`operations[0]` + `target`).
    pub fn within(self, parent: &str) -> Self {
        Self {
            field: format!("{parent}.{}", self.field),
            reason: self.reason,
        }
    }
}
