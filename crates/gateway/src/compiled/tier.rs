//! A throttling tier compiled once ([`Limit`]: N requests or bytes per window, with its
//! burst control), below both the policy table (`limits`) and the conditional groups
//! (`conditions`) that hold them.

use std::sync::Arc;
use std::time::Duration;

use gantry_model::snapshot::ThrottlingPolicy;

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
                    graphql_max_depth: None,
                    graphql_max_complexity: None,
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
