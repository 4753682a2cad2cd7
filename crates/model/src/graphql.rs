//! The GraphQL part of a `type: GRAPHQL` API: its schema (SDL, verbatim), its operations —
//! one per root field, WSO2's `QUERY`/`MUTATION`/`SUBSCRIPTION` verbs with the field name as
//! target — each with its auth type, scopes and throttling policy, the per-field complexity
//! values (`/graphql-policies/complexity`) and whether introspection is allowed.
//!
//! Carried in [`crate::GatewayPolicies`], so it travels with the API's revisions into
//! snapshots; the REST edge shows the operations as the API's `operations`.

use serde::{Deserialize, Serialize};

use crate::InvalidField;
use crate::api::AuthType;

/// A GraphQL API's definition as the gateway enforces it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GraphQlDefinition {
    /// The schema (SDL) as imported.
    pub schema: String,
    /// One operation per root field of the schema.
    pub operations: Vec<GraphQlOperation>,
    /// Complexity values of `(type, field)`s (absent: 1).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub complexity: Vec<FieldComplexity>,
    /// Whether `__schema` and `__type` queries reach the upstream (a Gantry extension;
    /// default on, as in WSO2).
    #[serde(default = "yes", skip_serializing_if = "is_yes")]
    pub introspection: bool,
}

fn yes() -> bool {
    true
}

fn is_yes(v: &bool) -> bool {
    *v
}

/// The kind of a GraphQL operation (WSO2's verb).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum GraphQlVerb {
    /// A field of the query root type.
    Query,
    /// A field of the mutation root type.
    Mutation,
    /// A field of the subscription root type.
    Subscription,
}

impl GraphQlVerb {
    /// `QUERY`, `MUTATION` or `SUBSCRIPTION`.
    pub fn as_str(self) -> &'static str {
        match self {
            GraphQlVerb::Query => "QUERY",
            GraphQlVerb::Mutation => "MUTATION",
            GraphQlVerb::Subscription => "SUBSCRIPTION",
        }
    }

    /// Parses a verb, case-insensitively.
    pub fn parse(raw: &str) -> Option<Self> {
        Some(match raw.to_ascii_uppercase().as_str() {
            "QUERY" => GraphQlVerb::Query,
            "MUTATION" => GraphQlVerb::Mutation,
            "SUBSCRIPTION" => GraphQlVerb::Subscription,
            _ => return None,
        })
    }
}

/// One root field as an operation (WSO2 `APIOperations` with a GraphQL verb).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GraphQlOperation {
    /// Stable identifier (may be absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The root field's name.
    pub target: String,
    /// Query, mutation or subscription.
    pub verb: GraphQlVerb,
    /// Who may call it.
    #[serde(default)]
    pub auth_type: AuthType,
    /// Operation-level throttling policy.
    #[serde(default = "crate::api::unlimited")]
    pub throttling_policy: String,
    /// Scopes a token must carry (all of them).
    #[serde(default)]
    pub scopes: Vec<String>,
}

/// WSO2 `GraphQLCustomComplexityInfo`: the complexity value of one field of one type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FieldComplexity {
    /// The type the field belongs to.
    #[serde(rename = "type")]
    pub type_name: String,
    /// The field.
    pub field: String,
    /// What selecting it costs.
    pub complexity_value: u32,
}

impl GraphQlDefinition {
    /// The operation of the root field `field` of kind `verb`.
    pub fn operation(&self, verb: GraphQlVerb, field: &str) -> Option<&GraphQlOperation> {
        self.operations
            .iter()
            .find(|o| o.verb == verb && o.target == field)
    }

    /// Takes auth type, scopes and policy of `requested` operations that name a root field
    /// of this definition (matched by verb and target); an operation naming none is refused.
    pub fn apply_operations(&mut self, requested: &[GraphQlOperation]) -> Result<(), InvalidField> {
        for (i, wanted) in requested.iter().enumerate() {
            let Some(op) = self
                .operations
                .iter_mut()
                .find(|o| o.verb == wanted.verb && o.target == wanted.target)
            else {
                return Err(InvalidField::new(
                    format!("operations[{i}]"),
                    format!(
                        "{} {} is not a root field of the API's schema",
                        wanted.verb.as_str(),
                        wanted.target
                    ),
                ));
            };
            op.auth_type = wanted.auth_type;
            op.scopes = wanted.scopes.clone();
            op.throttling_policy = wanted.throttling_policy.clone();
        }
        Ok(())
    }
}
