//! Failed-authentication limits: after too many failures in a window for one client id (or
//! user name) or one IP address, the key manager answers 429 with `Retry-After` before
//! checking any credential, so a guesser learns nothing while limited.
//!
//! In memory and per process: a fixed window per key, bounded in size. Several replicas
//! each apply their own limit, which bounds guessing per replica.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Failures allowed per client id (or user name) in a window.
pub const CLIENT_FAILURES: u32 = 10;
/// Failures allowed per IP address in a window.
pub const IP_FAILURES: u32 = 30;
/// The window.
pub const WINDOW: Duration = Duration::from_secs(60);
/// Most keys tracked; beyond, expired windows are dropped and new keys not tracked.
const MAX_KEYS: usize = 100_000;

#[derive(Debug, Clone, Copy)]
struct Window {
    start: Instant,
    failures: u32,
}

/// Counts authentication failures by client id and by IP address.
#[derive(Debug, Default)]
pub struct FailureLimiter {
    windows: Mutex<HashMap<String, Window>>,
}

fn client_key(client_id: &str) -> String {
    format!("c\0{client_id}")
}

fn ip_key(ip: IpAddr) -> String {
    format!("i\0{ip}")
}

impl FailureLimiter {
    /// `Err(retry_after)` when `client_id` or `ip` is over its limit.
    pub fn check(&self, client_id: Option<&str>, ip: Option<IpAddr>) -> Result<(), Duration> {
        let windows = self.windows.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        let over = |key: String, limit: u32| {
            windows.get(&key).and_then(|w| {
                let age = now.duration_since(w.start);
                (age < WINDOW && w.failures >= limit).then(|| WINDOW - age)
            })
        };
        let wait = [
            client_id.and_then(|c| over(client_key(c), CLIENT_FAILURES)),
            ip.and_then(|i| over(ip_key(i), IP_FAILURES)),
        ]
        .into_iter()
        .flatten()
        .max();
        match wait {
            Some(wait) => Err(wait),
            None => Ok(()),
        }
    }

    /// Records one failure for `client_id` and `ip`.
    pub fn record_failure(&self, client_id: Option<&str>, ip: Option<IpAddr>) {
        let mut windows = self.windows.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        if windows.len() >= MAX_KEYS {
            windows.retain(|_, w| now.duration_since(w.start) < WINDOW);
        }
        for key in [client_id.map(client_key), ip.map(ip_key)]
            .into_iter()
            .flatten()
        {
            if windows.len() >= MAX_KEYS && !windows.contains_key(&key) {
                continue;
            }
            let window = windows.entry(key).or_insert(Window {
                start: now,
                failures: 0,
            });
            if now.duration_since(window.start) >= WINDOW {
                *window = Window {
                    start: now,
                    failures: 0,
                };
            }
            window.failures = window.failures.saturating_add(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_is_limited_after_its_failures_and_others_are_not() {
        let limiter = FailureLimiter::default();
        let ip: IpAddr = [10, 0, 0, 1].into();
        for _ in 0..CLIENT_FAILURES {
            assert!(limiter.check(Some("victim"), Some(ip)).is_ok());
            limiter.record_failure(Some("victim"), Some(ip));
        }
        let wait = limiter.check(Some("victim"), None).unwrap_err();
        assert!(wait <= WINDOW && wait > Duration::from_secs(50));
        assert!(
            limiter
                .check(Some("other"), Some([10, 0, 0, 2].into()))
                .is_ok()
        );
        assert!(
            limiter.check(Some("other"), Some(ip)).is_ok(),
            "IP still under its limit"
        );
    }

    #[test]
    fn an_ip_is_limited_across_client_ids() {
        let limiter = FailureLimiter::default();
        let ip: IpAddr = [10, 0, 0, 9].into();
        for i in 0..IP_FAILURES {
            limiter.record_failure(Some(&format!("c{i}")), Some(ip));
        }
        assert!(limiter.check(Some("fresh"), Some(ip)).is_err());
        assert!(limiter.check(Some("fresh"), None).is_ok());
    }
}
