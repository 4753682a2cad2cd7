//! A GraphQL API as the request path reads it: its schema (parsed once per configuration),
//! an operation entry per root field (auth type, scopes, limit), the complexity value of each
//! `(type, field)` the publisher set, and whether introspection is let through. The
//! subscription tiers' depth and complexity limits are compiled beside the tiers' rates
//! (`limits::GraphQlLimits`).

use std::collections::HashMap;
use std::sync::Arc;

use gantry_graphql::{OperationKind, Schema};
use gantry_model::snapshot::DeployedApi;
use gantry_model::{GraphQlDefinition, GraphQlVerb};

use super::conditions::OperationConditions;
use super::limits::{Level, Policies};
use super::operation::OperationEntry;

/// One GraphQL API, compiled.
pub struct GraphQlApi {
    /// The schema the API was deployed with.
    pub schema: Schema,
    /// Root field → its operation, for queries, mutations and subscriptions.
    operations: [HashMap<Box<str>, OperationEntry>; 3],
    /// Type → field → complexity value, for the fields whose value is not 1.
    costs: HashMap<Box<str>, HashMap<Box<str>, u64>>,
    /// Whether `__schema`/`__type` queries are let through.
    pub introspection: bool,
}

impl GraphQlApi {
    /// Compiles the GraphQL definition of `api`, if it has one; problems (a schema that does
    /// not parse, an unknown policy) are added to `problems`.
    pub fn compile(
        api: &DeployedApi,
        policies: &Policies<'_>,
        problems: &mut Vec<String>,
    ) -> Option<Box<Self>> {
        let definition: &GraphQlDefinition = api.gateway.graphql.as_deref()?;
        let schema = match Schema::parse(&definition.schema) {
            Ok(schema) => schema,
            Err(error) => {
                problems.push(format!("API {}: GraphQL schema: {error}", api.name));
                return None;
            }
        };
        let mut operations: [HashMap<Box<str>, OperationEntry>; 3] = Default::default();
        for op in &definition.operations {
            {
                let kind = match op.verb {
                    GraphQlVerb::Query => OperationKind::Query,
                    GraphQlVerb::Mutation => OperationKind::Mutation,
                    GraphQlVerb::Subscription => OperationKind::Subscription,
                };
                let key: Arc<str> = Arc::from(format!("{} {}", op.verb.as_str(), op.target));
                if op.throttling_policy != "Unlimited"
                    && !policies.defines(Level::Api, &op.throttling_policy)
                {
                    problems.push(format!(
                        "API {}: operation policy '{}' is unknown",
                        api.name, op.throttling_policy
                    ));
                }
                let entry = OperationEntry {
                    auth_type: op.auth_type,
                    scopes: op.scopes.clone(),
                    limit: policies.limit(Level::Api, &op.throttling_policy),
                    conditions: policies
                        .conditions(&op.throttling_policy)
                        .map(|c| Arc::new(OperationConditions::new(c, &key))),
                    key,
                    policies: None,
                    publish: None,
                    websub: None,
                };
                operations[kind as usize].insert(op.target.as_str().into(), entry);
            }
        }
        let mut costs: HashMap<Box<str>, HashMap<Box<str>, u64>> = HashMap::new();
        for c in definition
            .complexity
            .iter()
            .filter(|c| c.complexity_value != 1)
        {
            costs
                .entry(c.type_name.as_str().into())
                .or_default()
                .insert(c.field.as_str().into(), u64::from(c.complexity_value));
        }
        Some(Box::new(Self {
            schema,
            operations,
            costs,
            introspection: definition.introspection,
        }))
    }

    /// The operation of root field `field` of `kind`.
    pub fn operation(&self, kind: OperationKind, field: &str) -> Option<&OperationEntry> {
        self.operations[kind as usize].get(field)
    }

    /// What selecting `field` of `type_name` costs (1 unless the publisher set a value).
    pub fn cost(&self, type_name: &str, field: &str) -> u64 {
        self.costs
            .get(type_name)
            .and_then(|fields| fields.get(field))
            .copied()
            .unwrap_or(1)
    }
}
