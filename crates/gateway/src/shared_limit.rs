//! Rate limits shared by all the gateways of an environment, through Redis, without a Redis
//! round trip on every request.
//!
//! Each limit counts in fixed windows aligned to the Unix epoch (`window = now / W`), so all
//! gateways of an environment agree on the boundaries (as far as their clocks agree). A gateway
//! reserves an allowance from the window's Redis counter (`INCRBY`, one round trip), spends it
//! locally, and asks again only when it is used up. The cost unit is one request for
//! request-count tiers and one body byte for bandwidth (`BANDWIDTHLIMIT`) policies.
//!
//! Request counts: the batch is N/20 (1 ≤ batch ≤ 100), so small tiers stay exact. Across all
//! gateways at most N requests are admitted per window; up to (gateways × batch − 1) reserved
//! requests can go unused at a window's end (under-admission, never over-admission).
//!
//! Bandwidth: the chunk is N/20 bytes (1 B ≤ chunk ≤ 1 MiB). A request is admitted while its
//! gateway holds bytes of allowance; what it moves (the request body when admitted, the
//! response body when it ends) is taken from the allowance, and what it moved beyond it (the
//! overdraft) is added to the Redis counter with the gateway's next reservation. As with the
//! per-gateway meter, the byte count of a call is only known once it is made, so the call that
//! crosses the limit completes. Worst-case overshoot per window: gateways × chunk when a gateway
//! has one call in flight at a time and bodies are at most a chunk; in general, per gateway, the
//! bytes its in-flight calls move beyond its last chunk. Up to gateways × chunk reserved bytes can
//! go unused at a window's end.
//!
//! As with any fixed window, a burst of N at the end of one window and N at the start of the next
//! is possible. When Redis is unreachable or slow (100 ms), the gateway falls back to its local
//! limits (GCRA, or its own byte meter; each gateway then admits up to N on its own), says so in
//! `gantry_gateway_redis_up`, and tries Redis again after a second.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use redis::aio::ConnectionManager;
use tokio::sync::Mutex as AsyncMutex;

use crate::compiled::limits::Limit;
use crate::ratelimit::{Decision, Scope};

const REDIS_TIMEOUT: Duration = Duration::from_millis(100);
const RETRY_AFTER_FAILURE_MS: u64 = 1_000;
const MAX_KEYS: usize = 100_000;
/// Most requests a gateway reserves at a time.
const MAX_REQUEST_BATCH: u64 = 100;
/// Most bytes a gateway reserves at a time.
const MAX_BYTE_CHUNK: u64 = 1 << 20;

/// INCRBY the window's counter and give it an expiry on first use; returns the new total.
const RESERVE: &str = r"
local total = redis.call('INCRBY', KEYS[1], ARGV[1])
if total == tonumber(ARGV[1]) then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return total
";

/// (bandwidth?, scope, first id, second id) of a counted limit.
type LimitKey = (bool, Scope, Arc<str>, Arc<str>);

/// What this gateway holds of one limit's current window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Allowance {
    window: u64,
    /// Reserved from Redis and not spent yet (requests or bytes).
    tokens: u64,
    /// Bytes spent beyond `tokens`, not yet added to the Redis counter.
    overdraft: u64,
    /// Redis said the window is used up.
    exhausted: bool,
}

impl Allowance {
    /// How much a gateway reserves at a time: a twentieth of the limit, within bounds.
    fn chunk(limit: &Limit) -> u64 {
        let most = if limit.bytes {
            MAX_BYTE_CHUNK
        } else {
            MAX_REQUEST_BATCH
        };
        (limit.count / 20).clamp(1, most)
    }

    /// Decides from what is held: admitted (taking `cost`) while some allowance is left,
    /// refused once Redis said the window is used up; `None` when a reservation is needed.
    fn admit_locally(&mut self, cost: u64, reset: Duration) -> Option<Decision> {
        if self.tokens > 0 {
            self.tokens -= cost.min(self.tokens);
            return Some(Decision::Allowed {
                remaining: self.tokens,
                reset,
            });
        }
        self.exhausted
            .then_some(Decision::Limited { retry_after: reset })
    }

    /// Applies Redis's answer to a reservation: `total` is the window's counter after adding
    /// `reserved`, of which `reported` paid for an earlier overdraft (already spent).
    fn grant(
        &mut self,
        limit: u64,
        reserved: u64,
        reported: u64,
        total: u64,
        cost: u64,
        reset: Duration,
    ) -> Decision {
        let before = total.saturating_sub(reserved);
        let taken = reserved.min(limit.saturating_sub(before));
        let fresh = taken.saturating_sub(reported);
        if fresh == 0 {
            self.exhausted = true;
            return Decision::Limited { retry_after: reset };
        }
        self.tokens += fresh;
        self.tokens -= cost.min(self.tokens);
        Decision::Allowed {
            remaining: self.tokens,
            reset,
        }
    }

    /// Takes `bytes` a call moved from the allowance; what exceeds it is overdraft.
    fn spend(&mut self, bytes: u64) {
        let covered = bytes.min(self.tokens);
        self.tokens -= covered;
        self.overdraft = self.overdraft.saturating_add(bytes - covered);
    }
}

/// Redis-backed limits of one environment.
pub struct SharedLimiter {
    client: redis::Client,
    environment: Arc<str>,
    connection: AsyncMutex<Option<ConnectionManager>>,
    script: redis::Script,
    allowances: Mutex<HashMap<LimitKey, Allowance>>,
    healthy: AtomicBool,
    failed_at_ms: AtomicU64,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default()
}

/// The index of the epoch-aligned window of `limit` that `now` (ms) falls in, its length in
/// ms, and the time until it ends.
fn window_of(limit: &Limit, now: u64) -> (u64, u64, Duration) {
    let window_ms = u64::try_from(limit.window.as_millis())
        .unwrap_or(u64::MAX)
        .max(1);
    let window = now / window_ms;
    let reset = Duration::from_millis((window + 1).saturating_mul(window_ms) - now);
    (window, window_ms, reset)
}

impl SharedLimiter {
    /// A limiter for `environment` on the Redis at `url` (not contacted until needed).
    pub fn new(url: &str, environment: &str) -> Result<Self, String> {
        let client = redis::Client::open(url).map_err(|e| format!("redis URL '{url}': {e}"))?;
        Ok(Self {
            client,
            environment: Arc::from(environment),
            connection: AsyncMutex::new(None),
            script: redis::Script::new(RESERVE),
            allowances: Mutex::new(HashMap::new()),
            healthy: AtomicBool::new(true),
            failed_at_ms: AtomicU64::new(0),
        })
    }

    /// Whether the last exchange with Redis worked.
    pub fn is_healthy(&self) -> bool {
        self.healthy.load(Ordering::Relaxed)
    }

    /// Runs `f` on this gateway's allowance of (`bytes`, `scope`, `a`, `b`) in `window`.
    fn with_allowance<T>(
        &self,
        key: LimitKey,
        window: u64,
        f: impl FnOnce(&mut Allowance) -> T,
    ) -> T {
        let mut map = self
            .allowances
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if map.len() > MAX_KEYS {
            map.retain(|_, a| a.window >= window);
        }
        let entry = map.entry(key).or_default();
        if entry.window != window {
            *entry = Allowance {
                window,
                ..Allowance::default()
            };
        }
        f(entry)
    }

    /// Checks `limit` for (`scope`, `a`, `b`) across the environment: counts one request
    /// against a request-count limit; for a bandwidth limit, admits while bytes are left
    /// (the caller reports what the call moves with [`SharedLimiter::spend`]). `None` when
    /// Redis cannot be used right now (the caller applies its local limit).
    pub async fn check(
        &self,
        scope: Scope,
        a: &Arc<str>,
        b: &Arc<str>,
        limit: &Limit,
    ) -> Option<Decision> {
        let now = now_ms();
        let (window, window_ms, reset) = window_of(limit, now);
        let key = (limit.bytes, scope, a.clone(), b.clone());
        let cost = u64::from(!limit.bytes);
        let chunk = Allowance::chunk(limit);
        // Decided locally, or the overdraft this reservation reports (taken out so that
        // concurrent reservations do not report it twice).
        let reported = match self.with_allowance(key.clone(), window, |allowance| {
            allowance
                .admit_locally(cost, reset)
                .ok_or_else(|| std::mem::take(&mut allowance.overdraft))
        }) {
            Ok(decision) => return Some(decision),
            Err(reported) => reported,
        };
        // Without Redis the overdraft stays here, to be reported once Redis is back.
        let unreported = || {
            self.with_allowance(key.clone(), window, |allowance| {
                allowance.overdraft = allowance.overdraft.saturating_add(reported);
            });
        };
        if !self.is_healthy()
            && now.saturating_sub(self.failed_at_ms.load(Ordering::Relaxed))
                < RETRY_AFTER_FAILURE_MS
        {
            unreported();
            return None;
        }
        let kind = if limit.bytes { "bytes:" } else { "" };
        let redis_key = format!(
            "gantry:rl:{}:{kind}{}:{}:{}:{}",
            self.environment,
            scope.label(),
            a,
            b,
            window
        );
        let reserved = chunk.saturating_add(reported);
        let total = match tokio::time::timeout(
            REDIS_TIMEOUT,
            self.reserve(&redis_key, reserved, window_ms.saturating_mul(2)),
        )
        .await
        {
            Ok(Ok(total)) => {
                self.healthy.store(true, Ordering::Relaxed);
                total
            }
            Ok(Err(error)) => {
                self.failed(&error.to_string());
                unreported();
                return None;
            }
            Err(_) => {
                self.failed("timed out");
                unreported();
                return None;
            }
        };
        Some(self.with_allowance(key, window, |allowance| {
            allowance.grant(limit.count, reserved, reported, total, cost, reset)
        }))
    }

    /// Takes `bytes` a call admitted under the bandwidth `limit` moved from this gateway's
    /// allowance of (`scope`, `a`, `b`); beyond it, they are reported with the next
    /// reservation. No Redis round trip.
    pub fn spend(&self, scope: Scope, a: &Arc<str>, b: &Arc<str>, limit: &Limit, bytes: u64) {
        let (window, _, _) = window_of(limit, now_ms());
        self.with_allowance((true, scope, a.clone(), b.clone()), window, |allowance| {
            allowance.spend(bytes)
        });
    }

    async fn reserve(&self, key: &str, batch: u64, ttl_ms: u64) -> redis::RedisResult<u64> {
        let mut guard = self.connection.lock().await;
        if guard.is_none() {
            *guard = Some(self.client.get_connection_manager().await?);
        }
        let Some(connection) = guard.as_mut() else {
            return Err((redis::ErrorKind::Io, "no connection").into());
        };
        let mut connection = connection.clone();
        drop(guard);
        self.script
            .key(key)
            .arg(batch)
            .arg(ttl_ms)
            .invoke_async(&mut connection)
            .await
    }

    fn failed(&self, why: &str) {
        if self.healthy.swap(false, Ordering::Relaxed) {
            tracing::warn!(
                error = why,
                "Redis unavailable; enforcing rate limits locally per gateway"
            );
        }
        self.failed_at_ms.store(now_ms(), Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gantry_model::snapshot::ThrottlingPolicy;

    fn limit(requests: i64, bytes: i64) -> Limit {
        Limit::from_policy(&ThrottlingPolicy {
            graphql_max_depth: None,
            graphql_max_complexity: None,
            level: "subscription".into(),
            name: "T".into(),
            request_count: requests,
            unit_time: 1,
            time_unit: "min".into(),
            burst_count: 0,
            burst_time_unit: String::new(),
            bandwidth_bytes: bytes,
            conditional_groups: Vec::new(),
        })
        .unwrap()
    }

    const RESET: Duration = Duration::from_secs(1);

    /// One gateway's allowance against a shared counter (what Redis holds), as
    /// [`SharedLimiter::check`] and [`SharedLimiter::spend`] drive it.
    struct Gateway {
        allowance: Allowance,
        reservations: u32,
    }

    impl Gateway {
        fn new() -> Self {
            Self {
                allowance: Allowance::default(),
                reservations: 0,
            }
        }

        fn check(&mut self, limit: &Limit, counter: &mut u64) -> bool {
            let cost = u64::from(!limit.bytes);
            let decision = match self.allowance.admit_locally(cost, RESET) {
                Some(decision) => decision,
                None => {
                    let reported = std::mem::take(&mut self.allowance.overdraft);
                    let reserved = Allowance::chunk(limit) + reported;
                    *counter += reserved;
                    self.reservations += 1;
                    self.allowance
                        .grant(limit.count, reserved, reported, *counter, cost, RESET)
                }
            };
            matches!(decision, Decision::Allowed { .. })
        }
    }

    #[test]
    fn chunks_are_a_twentieth_of_the_limit_within_bounds() {
        assert_eq!(Allowance::chunk(&limit(10, 0)), 1);
        assert_eq!(Allowance::chunk(&limit(1000, 0)), 50);
        assert_eq!(Allowance::chunk(&limit(1_000_000, 0)), MAX_REQUEST_BATCH);
        assert_eq!(Allowance::chunk(&limit(-1, 10)), 1);
        assert_eq!(Allowance::chunk(&limit(-1, 20 * 1024)), 1024);
        assert_eq!(Allowance::chunk(&limit(-1, 1 << 40)), MAX_BYTE_CHUNK);
    }

    #[test]
    fn request_batches_never_admit_more_than_the_limit_across_gateways() {
        let tier = limit(1000, 0);
        let mut counter = 0;
        let mut gateways = [Gateway::new(), Gateway::new(), Gateway::new()];
        let admitted = (0..3000)
            .filter(|i| gateways[i % 3].check(&tier, &mut counter))
            .count();
        assert_eq!(admitted, 1000);
        // One round trip per batch of 50, not one per request.
        let trips: u32 = gateways.iter().map(|g| g.reservations).sum();
        assert!(trips <= 1000 / 50 + 3, "{trips} reservations");
    }

    #[test]
    fn bytes_spent_beyond_the_chunk_are_reported_with_the_next_reservation() {
        let band = limit(-1, 20_000); // chunk: 1000 bytes
        let mut counter = 0;
        let mut gw = Gateway::new();
        assert!(gw.check(&band, &mut counter));
        assert_eq!((counter, gw.allowance.tokens), (1000, 1000));
        gw.allowance.spend(400);
        assert_eq!((gw.allowance.tokens, gw.allowance.overdraft), (600, 0));
        // Admitted on what is held, without a reservation.
        assert!(gw.check(&band, &mut counter));
        assert_eq!(gw.reservations, 1);
        gw.allowance.spend(2100);
        assert_eq!((gw.allowance.tokens, gw.allowance.overdraft), (0, 1500));
        // The next reservation carries the 1500 overdrawn bytes and a fresh chunk.
        assert!(gw.check(&band, &mut counter));
        assert_eq!(counter, 1000 + 1500 + 1000);
        assert_eq!((gw.allowance.tokens, gw.allowance.overdraft), (1000, 0));
    }

    #[test]
    fn a_window_overdrawn_past_the_limit_is_refused_until_it_ends() {
        let band = limit(-1, 2000); // chunk: 100 bytes
        let mut counter = 0;
        let mut gw = Gateway::new();
        assert!(gw.check(&band, &mut counter));
        gw.allowance.spend(2500);
        assert!(
            !gw.check(&band, &mut counter),
            "overdraft reported: used up"
        );
        assert!(gw.allowance.exhausted);
        assert_eq!(counter, 100 + 2400 + 100);
        let reservations = gw.reservations;
        assert!(!gw.check(&band, &mut counter));
        assert_eq!(
            gw.reservations, reservations,
            "refused without asking Redis"
        );
    }

    /// The documented bound: with one call in flight per gateway and bodies of at most a
    /// chunk, the environment moves at most limit + gateways × chunk bytes per window.
    #[test]
    fn gateways_sharing_bytes_overshoot_by_at_most_one_chunk_each() {
        let band = limit(-1, 100_000); // chunk: 5000 bytes
        let chunk = Allowance::chunk(&band);
        let mut counter = 0;
        let mut gateways = [Gateway::new(), Gateway::new(), Gateway::new()];
        let mut moved = 0;
        let mut refused = 0;
        for i in 0..1000u64 {
            let gw = &mut gateways[(i % 3) as usize];
            if gw.check(&band, &mut counter) {
                let body = 1 + (i * 7919) % chunk; // 1..=chunk bytes
                gw.allowance.spend(body);
                moved += body;
            } else {
                refused += 1;
            }
        }
        assert!(refused > 0, "the limit was reached");
        assert!(moved >= band.count - 3 * chunk, "{moved} under-admitted");
        assert!(moved <= band.count + 3 * chunk, "{moved} over-admitted");
    }
}
