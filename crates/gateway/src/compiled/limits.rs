//! The throttling policies of one configuration by level and name, each compiled once: every
//! subscription, application, operation and client certificate of a tier shares one copy.

use std::collections::HashMap;
use std::sync::Arc;

use gantry_model::GatewaySnapshot;

use crate::ratelimit::Limit;

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

/// (level, name) → limit; `None` for unlimited tiers.
pub struct Policies<'a>(HashMap<(Level, &'a str), Option<Arc<Limit>>>);

impl<'a> Policies<'a> {
    /// The policies of `snapshot`.
    pub fn compile(snapshot: &'a GatewaySnapshot) -> Self {
        Self(
            snapshot
                .throttling_policies
                .iter()
                .map(|p| {
                    (
                        (Level::of(&p.level), p.name.as_str()),
                        Limit::from_policy(p).map(Arc::new),
                    )
                })
                .collect(),
        )
    }

    /// The limit of policy `name` at `level`; `None` when unlimited or unknown.
    pub fn limit(&self, level: Level, name: &str) -> Option<Arc<Limit>> {
        self.0.get(&(level, name)).cloned().flatten()
    }

    /// Whether the snapshot defines policy `name` at `level` (limited or not).
    pub fn defines(&self, level: Level, name: &str) -> bool {
        self.0.contains_key(&(level, name))
    }
}
