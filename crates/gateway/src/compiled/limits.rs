//! The throttling policies of one configuration, each compiled once into a [`Limit`] (N
//! requests or bytes per window, with its burst control) and found by level and name: every
//! subscription, application, operation and client certificate of a tier shares one copy;
//! an advanced policy's conditional groups are compiled beside it (`conditions`).
//! The counters that enforce them are request-time state (`ratelimit`, `shared_limit`).

use std::collections::HashMap;
use std::sync::Arc;

use gantry_model::GatewaySnapshot;

use super::conditions::ConditionalLimits;
pub use super::tier::Limit;

/// The level of a policy, as the snapshot names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Level {
    /// Subscription tiers (and the tiers of client certificates).
    Subscription,
    /// Application tiers.
    Application,
    /// API and operation policies.
    Api,
}

impl Level {
    fn of(level: &str) -> Self {
        match level {
            "subscription" => Self::Subscription,
            "application" => Self::Application,
            _ => Self::Api,
        }
    }
}

/// (level, name) → limit (`None` for unlimited tiers), and the conditional groups of the
/// API-level policies that have some.
pub struct Policies<'a> {
    limits: HashMap<(Level, &'a str), Option<Arc<Limit>>>,
    conditional: HashMap<&'a str, Arc<ConditionalLimits>>,
    /// Subscription tiers' GraphQL depth and complexity limits (tiers that set some).
    graphql: HashMap<&'a str, Arc<GraphQlLimits>>,
}

impl<'a> Policies<'a> {
    /// The policies of `snapshot`; conditions that do not compile are added to `problems`.
    pub fn compile(snapshot: &'a GatewaySnapshot, problems: &mut Vec<String>) -> Self {
        let limits = snapshot
            .throttling_policies
            .iter()
            .map(|p| {
                (
                    (Level::of(&p.level), p.name.as_str()),
                    Limit::from_policy(p).map(Arc::new),
                )
            })
            .collect();
        let conditional = snapshot
            .throttling_policies
            .iter()
            .filter(|p| Level::of(&p.level) == Level::Api)
            .filter_map(|p| Some((p.name.as_str(), ConditionalLimits::compile(p, problems)?)))
            .collect();
        Self {
            limits,
            conditional,
            graphql: tier_limits(snapshot),
        }
    }

    /// The limit of policy `name` at `level`; `None` when unlimited or unknown.
    pub fn limit(&self, level: Level, name: &str) -> Option<Arc<Limit>> {
        self.limits.get(&(level, name)).cloned().flatten()
    }

    /// The GraphQL limits of subscription tier `name`; `None` when it sets none.
    pub fn graphql_limits(&self, name: &str) -> Option<Arc<GraphQlLimits>> {
        self.graphql.get(name).cloned()
    }

    /// Whether the snapshot defines policy `name` at `level` (limited or not).
    pub fn defines(&self, level: Level, name: &str) -> bool {
        self.limits.contains_key(&(level, name))
    }

    /// The conditional groups of the API-level policy `name`; `None` when it has none.
    pub fn conditions(&self, name: &str) -> Option<Arc<ConditionalLimits>> {
        self.conditional.get(name).cloned()
    }

    /// Every claim name a JWT claim condition reads, once each.
    pub fn claim_names(&self) -> Box<[Box<str>]> {
        let mut names: Vec<Box<str>> = Vec::new();
        for name in self.conditional.values().flat_map(|c| c.claim_names()) {
            if !names.iter().any(|n| &**n == name) {
                names.push(name.into());
            }
        }
        names.into_boxed_slice()
    }
}

/// A subscription tier's GraphQL limits (WSO2 `graphQLMaxDepth`, `graphQLMaxComplexity`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GraphQlLimits {
    /// The tier's name, for refusals.
    pub tier: Box<str>,
    /// The deepest query allowed.
    pub max_depth: Option<u32>,
    /// The most complex query allowed.
    pub max_complexity: Option<u32>,
}

/// The GraphQL limits of the subscription tiers of `snapshot` that set some.
fn tier_limits(snapshot: &gantry_model::GatewaySnapshot) -> HashMap<&str, Arc<GraphQlLimits>> {
    snapshot
        .throttling_policies
        .iter()
        .filter(|p| p.level == "subscription")
        .filter(|p| p.graphql_max_depth.is_some() || p.graphql_max_complexity.is_some())
        .map(|p| {
            (
                p.name.as_str(),
                Arc::new(GraphQlLimits {
                    tier: p.name.as_str().into(),
                    max_depth: p.graphql_max_depth,
                    max_complexity: p.graphql_max_complexity,
                }),
            )
        })
        .collect()
}
