//! Rate limits shared by all the gateways of an environment, through Redis, without a Redis
//! round trip on every request.
//!
//! Each limit counts in fixed windows (`window = now / W`). A gateway reserves a batch of
//! requests from the window's Redis counter (`INCRBY`, one round trip), spends it locally,
//! and asks again only when the batch is used up. Accuracy: across all gateways at most N
//! requests are admitted per window; up to (gateways × batch − 1) reserved requests can go
//! unused at a window's end (under-admission, never over-admission). The batch is N/20
//! (1 ≤ batch ≤ 100), so small tiers stay exact. As with any fixed window, a burst of N at the
//! end of one window and N at the start of the next is possible.
//!
//! When Redis is unreachable or slow (100 ms), the gateway falls back to its local GCRA limits
//! (each gateway then admits up to N on its own), says so in `gantry_gateway_redis_up`, and
//! tries Redis again after a second.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use redis::aio::ConnectionManager;
use tokio::sync::Mutex as AsyncMutex;

use crate::ratelimit::{Decision, Limit, Scope};

const REDIS_TIMEOUT: Duration = Duration::from_millis(100);
const RETRY_AFTER_FAILURE_MS: u64 = 1_000;
const MAX_KEYS: usize = 100_000;

/// INCRBY the window's counter and give it an expiry on first use; returns the new total.
const RESERVE: &str = r"
local total = redis.call('INCRBY', KEYS[1], ARGV[1])
if total == tonumber(ARGV[1]) then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return total
";

/// (scope, first id, second id) of a counted limit.
type LimitKey = (Scope, Arc<str>, Arc<str>);

#[derive(Debug, Clone, Copy, Default)]
struct Allowance {
    window: u64,
    tokens: u64,
    exhausted: bool,
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

    /// Counts one request against `limit` for (`scope`, `a`, `b`) across the environment;
    /// `None` when Redis cannot be used right now (the caller applies its local limit).
    pub async fn check(
        &self,
        scope: Scope,
        a: &Arc<str>,
        b: &Arc<str>,
        limit: &Limit,
    ) -> Option<Decision> {
        let window_ms = u64::try_from(limit.window.as_millis())
            .unwrap_or(u64::MAX)
            .max(1);
        let now = now_ms();
        let window = now / window_ms;
        let reset = Duration::from_millis((window + 1) * window_ms - now);
        let key = (scope, a.clone(), b.clone());
        {
            let mut map = self
                .allowances
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if map.len() > MAX_KEYS {
                map.retain(|_, a| a.window >= window);
            }
            let entry = map.entry(key.clone()).or_default();
            if entry.window != window {
                *entry = Allowance {
                    window,
                    ..Allowance::default()
                };
            }
            if entry.tokens > 0 {
                entry.tokens -= 1;
                return Some(Decision::Allowed {
                    remaining: entry.tokens,
                    reset,
                });
            }
            if entry.exhausted {
                return Some(Decision::Limited { retry_after: reset });
            }
        }
        if !self.is_healthy()
            && now.saturating_sub(self.failed_at_ms.load(Ordering::Relaxed))
                < RETRY_AFTER_FAILURE_MS
        {
            return None;
        }
        let batch = (limit.count / 20).clamp(1, 100);
        let redis_key = format!(
            "gantry:rl:{}:{}:{}:{}:{}",
            self.environment,
            scope.label(),
            a,
            b,
            window
        );
        let total = match tokio::time::timeout(
            REDIS_TIMEOUT,
            self.reserve(&redis_key, batch, window_ms * 2),
        )
        .await
        {
            Ok(Ok(total)) => {
                self.healthy.store(true, Ordering::Relaxed);
                total
            }
            Ok(Err(error)) => {
                self.failed(&error.to_string());
                return None;
            }
            Err(_) => {
                self.failed("timed out");
                return None;
            }
        };
        let before = total.saturating_sub(batch);
        let granted = if before >= limit.count {
            0
        } else {
            batch.min(limit.count - before)
        };
        let mut map = self
            .allowances
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let entry = map.entry(key).or_default();
        if entry.window != window {
            *entry = Allowance {
                window,
                ..Allowance::default()
            };
        }
        if granted == 0 {
            entry.exhausted = true;
            return Some(Decision::Limited { retry_after: reset });
        }
        entry.tokens += granted - 1;
        Some(Decision::Allowed {
            remaining: entry.tokens,
            reset,
        })
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
