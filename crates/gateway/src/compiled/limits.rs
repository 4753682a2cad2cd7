//! The throttling policies of one configuration, each compiled once into a [`Limit`] (N
//! requests or bytes per window, with its burst control) and found by level and name: every
//! subscription, application, operation and client certificate of a tier shares one copy;
//! an advanced policy's conditional groups are compiled beside it (`conditions`).
//! The counters that enforce them are request-time state (`ratelimit`, `shared_limit`).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use gantry_model::GatewaySnapshot;
use gantry_model::snapshot::ThrottlingPolicy;

use super::conditions::ConditionalLimits;

/// A compiled tier: N requests per window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limit {
    /// Tier name (`Gold`).
    pub name: Arc<str>,
    /// Requests per window.
    pub count: u64,
    /// Window length.
    pub window: Duration,
    /// The time one request adds to the theoretical arrival time (window / count).
    pub(crate) emission: Duration,
    /// How far ahead of now the theoretical arrival time may run (a burst of `count`).
    pub(crate) tolerance: Duration,
    /// Burst control (WSO2's spike arrest): a short-window limit checked first, by each
    /// gateway on its own (as WSO2 gateways do).
    pub burst: Option<Box<Limit>>,
    /// A bandwidth policy: `count` is bytes of request and response bodies per window,
    /// counted by a `ratelimit::ByteMeter` instead of GCRA.
    pub bytes: bool,
}

impl Limit {
    /// Compiles a policy; `None` for unlimited ones (count ≤ 0) or an unknown time unit.
    pub fn from_policy(policy: &ThrottlingPolicy) -> Option<Self> {
        let unit = match policy.time_unit.as_str() {
            "sec" | "second" | "seconds" => 1,
            "min" | "minute" | "minutes" => 60,
            "hour" | "hours" => 3_600,
            "day" | "days" => 86_400,
            _ => return None,
        };
        let window =
            Duration::from_secs(unit * u64::try_from(policy.unit_time.max(1)).unwrap_or(1));
        if let Ok(bytes) = u64::try_from(policy.bandwidth_bytes)
            && bytes > 0
        {
            return Some(Self {
                name: Arc::from(policy.name.as_str()),
                count: bytes,
                window,
                emission: Duration::ZERO,
                tolerance: Duration::ZERO,
                burst: None,
                bytes: true,
            });
        }
        let count = u64::try_from(policy.request_count)
            .ok()
            .filter(|c| *c > 0)?;
        let emission = window / u32::try_from(count).unwrap_or(u32::MAX);
        let burst = (policy.burst_count > 0)
            .then(|| {
                Self::from_policy(&ThrottlingPolicy {
                    level: policy.level.clone(),
                    name: format!("{} burst", policy.name),
                    request_count: policy.burst_count,
                    unit_time: 1,
                    time_unit: policy.burst_time_unit.clone(),
                    burst_count: 0,
                    burst_time_unit: String::new(),
                    bandwidth_bytes: 0,
                    conditional_groups: Vec::new(),
                })
            })
            .flatten()
            .map(Box::new);
        Some(Self {
            name: Arc::from(policy.name.as_str()),
            count,
            window,
            emission,
            tolerance: emission * u32::try_from(count - 1).unwrap_or(u32::MAX),
            burst,
            bytes: false,
        })
    }
}

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
        }
    }

    /// The limit of policy `name` at `level`; `None` when unlimited or unknown.
    pub fn limit(&self, level: Level, name: &str) -> Option<Arc<Limit>> {
        self.limits.get(&(level, name)).cloned().flatten()
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
