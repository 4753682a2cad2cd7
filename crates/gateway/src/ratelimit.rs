//! Rate-limit counters of the gateway: subscription tier (per application and API),
//! application tier (per application) and operation-level policy (per API resource), as WSO2
//! applies them, enforced with GCRA. The policies themselves are compiled in
//! `compiled::limits`.
//!
//! GCRA keeps one number per key — the theoretical arrival time (TAT) — and admits a request
//! when the TAT is within the burst tolerance of now. A tier of N requests per window W
//! admits a burst of N, then one request every W/N: never more than N in any window of
//! length W. State lives in the gateway, not in a configuration version, so limits survive
//! configuration changes. Request counts can be shared across an environment's gateways
//! (`shared_limit.rs`), and so can bandwidth policies; a [`ByteMeter`] counts the bytes
//! each gateway moves, the limit when Redis is not configured or away.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::compiled::limits::Limit;

const SHARDS: usize = 64;
const MAX_KEYS_PER_SHARD: usize = 16_384;

/// Which limit a key counts against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    /// Subscription tier: application + API.
    Subscription,
    /// Application tier: application.
    Application,
    /// Operation policy: API resource.
    Operation,
    /// Burst control of a subscription or application tier (same keys as the tier).
    Burst,
    /// A custom rule: rule name + the key its template builds.
    Custom,
    /// An AI API token budget: application + `{API}:{total|prompt|completion}`.
    Tokens,
}

/// Bytes counted per key in fixed windows (aligned to this gateway's start), for bandwidth
/// policies. A request is admitted while its key has bytes left in the window; what it
/// then moves is added when known, so the request that crosses the limit completes and
/// the next one is refused. Local to one gateway; `shared_limit.rs` shares the count through
/// Redis, and this meter is the fallback while Redis is away.
#[derive(Default)]
pub struct ByteMeter {
    /// Key → (window index, bytes used in it).
    table: KeyedShards<(u64, u64)>,
}

/// Per-key state of a limiter in [`SHARDS`] mutex-guarded maps (a key's shard by its hash),
/// with the clock both limiters measure from.
///
/// Keys are ids from the configuration (application, API, operation), never request data,
/// so they are hashed with Fx rather than SipHash (two SipHash passes over two ids were
/// ~500 instructions per limited request). The shard comes from bits 20–25 of the hash,
/// which a shard's map does not use for its buckets (low bits) or tags (top seven bits).
struct KeyedShards<V> {
    epoch: Instant,
    shards: Box<[Mutex<HashMap<Key, V, rustc_hash::FxBuildHasher>>]>,
}

impl<V> Default for KeyedShards<V> {
    fn default() -> Self {
        Self {
            epoch: Instant::now(),
            shards: (0..SHARDS)
                .map(|_| Mutex::new(HashMap::default()))
                .collect(),
        }
    }
}

impl<V> KeyedShards<V> {
    /// Time since this gateway's limiter started.
    fn now(&self) -> Duration {
        self.epoch.elapsed()
    }

    /// The key of (`scope`, `a`, `b`) and its shard, locked. A shard holding
    /// [`MAX_KEYS_PER_SHARD`] keys first forgets those `idle` says carry no state.
    fn lock(
        &self,
        scope: Scope,
        a: &Arc<str>,
        b: &Arc<str>,
        idle: impl FnMut(&V) -> bool,
    ) -> (
        Key,
        std::sync::MutexGuard<'_, HashMap<Key, V, rustc_hash::FxBuildHasher>>,
    ) {
        let key = Key {
            scope,
            a: a.clone(),
            b: b.clone(),
        };
        let hash = rustc_hash::FxBuildHasher.hash_one(&key);
        let shard = &self.shards[((hash >> 20) as usize) % SHARDS];
        let mut map = shard.lock().unwrap_or_else(PoisonError::into_inner);
        if map.len() >= MAX_KEYS_PER_SHARD {
            let mut idle = idle;
            map.retain(|_, v| !idle(v));
        }
        (key, map)
    }
}

impl ByteMeter {
    /// Whether (`scope`, `a`, `b`) has bytes left under `limit`; spends nothing.
    pub fn check(&self, scope: Scope, a: &Arc<str>, b: &Arc<str>, limit: &Limit) -> Decision {
        self.check_at(scope, a, b, limit, self.table.now())
    }

    /// Adds `bytes` to what (`scope`, `a`, `b`) used in the current window of `limit`.
    pub fn spend(&self, scope: Scope, a: &Arc<str>, b: &Arc<str>, limit: &Limit, bytes: u64) {
        self.spend_at(scope, a, b, limit, bytes, self.table.now());
    }

    /// The index of the window `now` falls in, and the time until it ends.
    fn window(limit: &Limit, now: Duration) -> (u64, Duration) {
        let window = u64::try_from(limit.window.as_nanos())
            .unwrap_or(u64::MAX)
            .max(1);
        let now = u64::try_from(now.as_nanos()).unwrap_or(u64::MAX);
        let index = now / window;
        let reset = Duration::from_nanos((index + 1).saturating_mul(window) - now);
        (index, reset)
    }

    fn check_at(
        &self,
        scope: Scope,
        a: &Arc<str>,
        b: &Arc<str>,
        limit: &Limit,
        now: Duration,
    ) -> Decision {
        let (index, reset) = Self::window(limit, now);
        let (key, map) = self.table.lock(scope, a, b, |(window, _)| *window != index);
        let used = map
            .get(&key)
            .filter(|(window, _)| *window == index)
            .map_or(0, |(_, used)| *used);
        if used >= limit.count {
            Decision::Limited { retry_after: reset }
        } else {
            Decision::Allowed {
                remaining: limit.count - used,
                reset,
            }
        }
    }

    fn spend_at(
        &self,
        scope: Scope,
        a: &Arc<str>,
        b: &Arc<str>,
        limit: &Limit,
        bytes: u64,
        now: Duration,
    ) {
        let (index, _) = Self::window(limit, now);
        let (key, mut map) = self.table.lock(scope, a, b, |(window, _)| *window != index);
        let entry = map.entry(key).or_insert((index, 0));
        if entry.0 != index {
            *entry = (index, 0);
        }
        entry.1 = entry.1.saturating_add(bytes);
    }
}

impl Scope {
    /// Metric label.
    pub fn label(self) -> &'static str {
        match self {
            Scope::Subscription => "subscription",
            Scope::Application => "application",
            Scope::Operation => "operation",
            Scope::Burst => "burst",
            Scope::Custom => "custom",
            Scope::Tokens => "tokens",
        }
    }

    /// WSO2's throttle-out code for this level.
    pub fn code(self) -> &'static str {
        match self {
            Scope::Subscription => "900804",
            Scope::Application => "900803",
            Scope::Operation => "900802",
            Scope::Burst => "900807",
            Scope::Custom => "900806",
            Scope::Tokens => "900804",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    scope: Scope,
    a: Arc<str>,
    b: Arc<str>,
}

/// The outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Admitted; `remaining` more requests would be admitted right now.
    Allowed {
        /// Requests left in the current burst.
        remaining: u64,
        /// Time until the full burst is available again.
        reset: Duration,
    },
    /// Refused; retry after this long.
    Limited {
        /// Time until one request would be admitted.
        retry_after: Duration,
    },
}

/// GCRA state for every key this gateway has seen.
#[derive(Default)]
pub struct RateLimiter {
    /// Key → theoretical arrival time (ns since the epoch).
    table: KeyedShards<u64>,
}

impl RateLimiter {
    /// Counts one request against `limit` for (`scope`, `a`, `b`).
    pub fn check(&self, scope: Scope, a: &Arc<str>, b: &Arc<str>, limit: &Limit) -> Decision {
        self.check_at(scope, a, b, limit, self.table.now())
    }

    fn check_at(
        &self,
        scope: Scope,
        a: &Arc<str>,
        b: &Arc<str>,
        limit: &Limit,
        now: Duration,
    ) -> Decision {
        let now_ns = u64::try_from(now.as_nanos()).unwrap_or(u64::MAX);
        let emission = u64::try_from(limit.emission.as_nanos()).unwrap_or(u64::MAX);
        let tolerance = u64::try_from(limit.tolerance.as_nanos()).unwrap_or(u64::MAX);
        // Keys whose TAT has passed are idle: forgetting them changes no decision.
        let (key, mut map) = self.table.lock(scope, a, b, |tat| *tat <= now_ns);
        let tat = map.get(&key).copied().unwrap_or(now_ns).max(now_ns);
        if tat - now_ns > tolerance {
            let retry_after = Duration::from_nanos(tat - now_ns - tolerance);
            return Decision::Limited { retry_after };
        }
        let next = tat.saturating_add(emission);
        map.insert(key, next);
        let used = next - now_ns;
        let remaining = (tolerance.saturating_add(emission).saturating_sub(used)) / emission.max(1);
        Decision::Allowed {
            remaining,
            reset: Duration::from_nanos(used),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gantry_model::snapshot::ThrottlingPolicy;

    fn limit(count: i64, unit: &str) -> Limit {
        Limit::from_policy(&ThrottlingPolicy {
            graphql_max_depth: None,
            graphql_max_complexity: None,
            level: "subscription".into(),
            name: "T".into(),
            request_count: count,
            unit_time: 1,
            time_unit: unit.into(),
            burst_count: 0,
            burst_time_unit: String::new(),
            bandwidth_bytes: 0,
            conditional_groups: Vec::new(),
        })
        .unwrap()
    }

    #[test]
    fn admits_the_burst_then_one_per_emission_interval() {
        let limiter = RateLimiter::default();
        let l = limit(10, "min");
        let (a, b): (Arc<str>, Arc<str>) = (Arc::from("app"), Arc::from("api"));
        let t0 = Duration::from_secs(100);
        for i in 0..10 {
            assert!(
                matches!(
                    limiter.check_at(Scope::Subscription, &a, &b, &l, t0),
                    Decision::Allowed { .. }
                ),
                "{i}"
            );
        }
        let Decision::Limited { retry_after } =
            limiter.check_at(Scope::Subscription, &a, &b, &l, t0)
        else {
            panic!("the 11th request in the same instant is refused");
        };
        assert_eq!(retry_after, Duration::from_secs(6));
        // One emission interval later, exactly one more fits.
        let t1 = t0 + Duration::from_secs(6);
        assert!(matches!(
            limiter.check_at(Scope::Subscription, &a, &b, &l, t1),
            Decision::Allowed { .. }
        ));
        assert!(matches!(
            limiter.check_at(Scope::Subscription, &a, &b, &l, t1),
            Decision::Limited { .. }
        ));
    }

    #[test]
    fn keys_are_independent_and_unlimited_compiles_to_none() {
        let limiter = RateLimiter::default();
        let l = limit(1, "sec");
        let (x, y, api): (Arc<str>, Arc<str>, Arc<str>) =
            (Arc::from("x"), Arc::from("y"), Arc::from("api"));
        let t = Duration::from_secs(1);
        assert!(matches!(
            limiter.check_at(Scope::Application, &x, &api, &l, t),
            Decision::Allowed { .. }
        ));
        assert!(matches!(
            limiter.check_at(Scope::Application, &y, &api, &l, t),
            Decision::Allowed { .. }
        ));
        assert!(matches!(
            limiter.check_at(Scope::Application, &x, &api, &l, t),
            Decision::Limited { .. }
        ));
        assert!(matches!(
            limiter.check_at(Scope::Subscription, &x, &api, &l, t),
            Decision::Allowed { .. }
        ));
        let unlimited = ThrottlingPolicy {
            graphql_max_depth: None,
            graphql_max_complexity: None,
            level: "subscription".into(),
            name: "Unlimited".into(),
            request_count: -1,
            unit_time: 1,
            time_unit: "min".into(),
            burst_count: 0,
            burst_time_unit: String::new(),
            bandwidth_bytes: 0,
            conditional_groups: Vec::new(),
        };
        assert!(Limit::from_policy(&unlimited).is_none());
    }

    #[test]
    fn bandwidth_is_admitted_while_bytes_are_left_and_resets_with_the_window() {
        let limit = Limit::from_policy(&ThrottlingPolicy {
            graphql_max_depth: None,
            graphql_max_complexity: None,
            level: "subscription".into(),
            name: "1KB".into(),
            request_count: -1,
            unit_time: 1,
            time_unit: "min".into(),
            burst_count: 0,
            burst_time_unit: String::new(),
            bandwidth_bytes: 1024,
            conditional_groups: Vec::new(),
        })
        .unwrap();
        assert!(limit.bytes && limit.count == 1024);
        let meter = ByteMeter::default();
        let (a, b): (Arc<str>, Arc<str>) = (Arc::from("app"), Arc::from("api"));
        let t = Duration::from_secs(10);
        assert!(matches!(
            meter.check_at(Scope::Subscription, &a, &b, &limit, t),
            Decision::Allowed {
                remaining: 1024,
                ..
            }
        ));
        meter.spend_at(Scope::Subscription, &a, &b, &limit, 1000, t);
        assert!(matches!(
            meter.check_at(Scope::Subscription, &a, &b, &limit, t),
            Decision::Allowed { remaining: 24, .. }
        ));
        // The request that crosses the limit was admitted; the next one is not.
        meter.spend_at(Scope::Subscription, &a, &b, &limit, 500, t);
        let Decision::Limited { retry_after } =
            meter.check_at(Scope::Subscription, &a, &b, &limit, t)
        else {
            panic!("over the limit");
        };
        assert_eq!(retry_after, Duration::from_secs(50));
        assert!(matches!(
            meter.check_at(Scope::Subscription, &a, &b, &limit, t + retry_after),
            Decision::Allowed {
                remaining: 1024,
                ..
            }
        ));
    }

    #[test]
    fn burst_control_compiles_to_a_second_shorter_limit() {
        let gold = Limit::from_policy(&ThrottlingPolicy {
            graphql_max_depth: None,
            graphql_max_complexity: None,
            level: "subscription".into(),
            name: "Gold".into(),
            request_count: 5000,
            unit_time: 1,
            time_unit: "min".into(),
            burst_count: 10,
            burst_time_unit: "sec".into(),
            bandwidth_bytes: 0,
            conditional_groups: Vec::new(),
        })
        .unwrap();
        let burst = gold.burst.as_deref().unwrap();
        assert_eq!((burst.count, burst.window), (10, Duration::from_secs(1)));
        let limiter = RateLimiter::default();
        let (a, b): (Arc<str>, Arc<str>) = (Arc::from("app"), Arc::from("api"));
        let t = Duration::from_secs(5);
        for _ in 0..10 {
            assert!(matches!(
                limiter.check_at(Scope::Burst, &a, &b, burst, t),
                Decision::Allowed { .. }
            ));
        }
        assert!(matches!(
            limiter.check_at(Scope::Burst, &a, &b, burst, t),
            Decision::Limited { .. }
        ));
        assert_eq!(Scope::Burst.code(), "900807");
    }
}
