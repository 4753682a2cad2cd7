//! Upstream pools: where one API's traffic of one key type goes, and which member serves
//! the next request — round robin or least request for `load_balance`, first healthy in
//! order for `failover` — with passive health checking (a member that refuses connections
//! sits out for [`EJECTION`]) and the retry budget that bounds how many extra requests
//! retries may add (Envoy's retry budget: at most 20 % of requests, at least 3 per second).
//!
//! Built once per configuration version; the request path touches only atomics.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use gantry_model::api::{BalanceAlgorithm, HealthCheck};
use gantry_model::{Endpoint, EndpointConfig, Endpoints};

/// Upstream timeout when the endpoint sets none (WSO2's default is 60 s as well).
const DEFAULT_UPSTREAM_TIMEOUT: Duration = Duration::from_secs(60);

/// How long a member that refused a connection is left out of the rotation (passive health
/// checking, like Envoy's outlier detection on connect failures).
pub const EJECTION: Duration = Duration::from_secs(10);

/// Retries may add this share of a pool's requests (per second)…
const RETRY_BUDGET_PERCENT: u64 = 20;
/// …but at least this many per second, so a quiet pool can still retry.
const MIN_RETRIES_PER_SEC: u64 = 3;

/// How the next member is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Selection {
    /// Each member in turn.
    RoundRobin,
    /// The member with the fewest requests in flight (ties: in turn).
    LeastRequest,
    /// The first member, in order, that is not ejected.
    Failover,
}

/// The endpoints traffic of one key type goes to.
pub struct UpstreamPool {
    /// The members, in configured order (never empty).
    pub members: Vec<Upstream>,
    /// How the next member is chosen.
    pub selection: Selection,
    next: AtomicUsize,
    /// Per member: until when (ms after `epoch`) it is left out; 0 when it is in.
    ejected_until: Vec<AtomicU64>,
    /// Per member: requests in flight (counted for least request only).
    in_flight: Vec<AtomicUsize>,
    epoch: Instant,
    budget: RetryBudget,
    /// Active health checks, when configured.
    health: Option<HealthCheck>,
    /// Per member: failed its last `unhealthy_threshold` probes (no traffic).
    down: Vec<AtomicBool>,
    /// Per member: probes failed in a row.
    failures: Vec<AtomicU32>,
}

impl UpstreamPool {
    /// The pool for `endpoints` (plus `failovers` for a `failover` endpoint) of `config`.
    pub fn compile(
        config: &EndpointConfig,
        endpoints: &Endpoints,
        failovers: &[Endpoint],
    ) -> Result<Self, String> {
        let mut members = endpoints
            .as_slice()
            .iter()
            .chain(failovers)
            .map(|endpoint| Upstream::compile(endpoint, config.http2))
            .collect::<Result<Vec<_>, _>>()?;
        // Collected through a `Result`, the list starts at four; most pools have one member.
        members.shrink_to_fit();
        if members.is_empty() {
            return Err("an endpoint list is empty".into());
        }
        let selection = match (config.endpoint_type.as_str(), config.balance_algorithm()) {
            ("failover", _) => Selection::Failover,
            (_, Some(BalanceAlgorithm::LeastRequest)) => Selection::LeastRequest,
            _ => Selection::RoundRobin,
        };
        let mut pool = Self::new(members, selection);
        pool.health = config.health_check.clone();
        Ok(pool)
    }

    fn new(members: Vec<Upstream>, selection: Selection) -> Self {
        Self {
            down: members.iter().map(|_| AtomicBool::new(false)).collect(),
            failures: members.iter().map(|_| AtomicU32::new(0)).collect(),
            health: None,
            ejected_until: members.iter().map(|_| AtomicU64::new(0)).collect(),
            in_flight: members.iter().map(|_| AtomicUsize::new(0)).collect(),
            members,
            selection,
            next: AtomicUsize::new(0),
            epoch: Instant::now(),
            budget: RetryBudget::default(),
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn is_in(&self, index: usize, now: u64) -> bool {
        self.ejected_until[index].load(Ordering::Relaxed) <= now
            && !self.down[index].load(Ordering::Relaxed)
    }

    /// The active health check, if configured.
    pub fn health_check(&self) -> Option<&HealthCheck> {
        self.health.as_ref()
    }

    /// Records the outcome of a probe of member `index`: a success brings it back at once,
    /// `unhealthy_threshold` failures in a row take it out.
    pub fn record_probe(&self, index: usize, healthy: bool) {
        let (Some(down), Some(failures), Some(check)) = (
            self.down.get(index),
            self.failures.get(index),
            self.health.as_ref(),
        ) else {
            return;
        };
        if healthy {
            failures.store(0, Ordering::Relaxed);
            down.store(false, Ordering::Relaxed);
        } else if failures.fetch_add(1, Ordering::Relaxed) + 1 >= check.unhealthy_threshold {
            down.store(true, Ordering::Relaxed);
        }
    }

    /// The member for the next request and its index. Ejected members are skipped; when
    /// every member is ejected, the pool answers anyway (better a try than nothing).
    pub fn pick(&self) -> (usize, &Upstream) {
        let index = self.pick_excluding(0, None).unwrap_or(0);
        (index, &self.members[index])
    }

    /// The member for a retry after `last` failed: one not in `tried` (a bit per member
    /// index), preferring members that are not ejected, looking on from `last` (the rotation
    /// is not advanced, so retries do not skew round robin); `None` when all were tried.
    pub fn pick_untried(&self, tried: u64, last: usize) -> Option<(usize, &Upstream)> {
        self.pick_excluding(tried, Some(last + 1))
            .map(|i| (i, &self.members[i]))
    }

    fn pick_excluding(&self, tried: u64, from: Option<usize>) -> Option<usize> {
        let n = self.members.len();
        let untried = |i: usize| i >= 64 || tried & (1 << i) == 0;
        if n == 1 {
            return untried(0).then_some(0);
        }
        let now = self.now_ms();
        match self.selection {
            Selection::Failover => (0..n)
                .find(|&i| untried(i) && self.is_in(i, now))
                .or_else(|| (0..n).find(|&i| untried(i))),
            Selection::RoundRobin => {
                let start = from.unwrap_or_else(|| self.next.fetch_add(1, Ordering::Relaxed));
                let order = (0..n).map(|k| (start + k) % n);
                order
                    .clone()
                    .find(|&i| untried(i) && self.is_in(i, now))
                    .or_else(|| order.clone().find(|&i| untried(i)))
            }
            Selection::LeastRequest => {
                let start = from.unwrap_or_else(|| self.next.fetch_add(1, Ordering::Relaxed));
                let order = (0..n).map(|k| (start + k) % n);
                let least = |healthy_only: bool| {
                    order
                        .clone()
                        .filter(|&i| untried(i) && (!healthy_only || self.is_in(i, now)))
                        .min_by_key(|&i| self.in_flight[i].load(Ordering::Relaxed))
                };
                least(true).or_else(|| least(false))
            }
        }
    }

    /// Counts a request to member `index` as in flight until the guard drops (least
    /// request only; a no-op otherwise).
    pub fn start(&self, index: usize) -> InFlight<'_> {
        let counter = (self.selection == Selection::LeastRequest)
            .then(|| self.in_flight.get(index))
            .flatten();
        if let Some(c) = counter {
            c.fetch_add(1, Ordering::Relaxed);
        }
        InFlight { counter }
    }

    /// Leaves member `index` out of the rotation for [`EJECTION`] (a single member is never
    /// ejected: there is nowhere else to go).
    pub fn eject(&self, index: usize) {
        if self.members.len() > 1
            && let Some(slot) = self.ejected_until.get(index)
        {
            let until = self.now_ms() + u64::try_from(EJECTION.as_millis()).unwrap_or(u64::MAX);
            slot.store(until, Ordering::Relaxed);
        }
    }

    /// Whether a failed request could go to another member at all.
    pub fn can_retry(&self) -> bool {
        self.members.len() > 1
    }

    /// Counts one request towards the retry budget.
    pub fn record_request(&self) {
        self.budget.record(self.now_ms() / 1000);
    }

    /// Takes one retry from the budget, if any is left this second.
    pub fn take_retry(&self) -> bool {
        self.budget.take(self.now_ms() / 1000)
    }
}

/// Decrements a member's in-flight count when dropped.
pub struct InFlight<'a> {
    counter: Option<&'a AtomicUsize>,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        if let Some(c) = self.counter {
            c.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

/// Requests and retries of the current one-second window.
#[derive(Default)]
struct RetryBudget {
    window: AtomicU64,
    requests: AtomicU64,
    retries: AtomicU64,
}

impl RetryBudget {
    fn roll(&self, second: u64) {
        let current = self.window.load(Ordering::Relaxed);
        if current != second
            && self
                .window
                .compare_exchange(current, second, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            self.requests.store(0, Ordering::Relaxed);
            self.retries.store(0, Ordering::Relaxed);
        }
    }

    fn record(&self, second: u64) {
        self.roll(second);
        self.requests.fetch_add(1, Ordering::Relaxed);
    }

    fn take(&self, second: u64) -> bool {
        self.roll(second);
        let allowed = (self.requests.load(Ordering::Relaxed) * RETRY_BUDGET_PERCENT / 100)
            .max(MIN_RETRIES_PER_SEC);
        self.retries
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |r| {
                (r < allowed).then_some(r + 1)
            })
            .is_ok()
    }
}

/// A compiled upstream endpoint.
pub struct Upstream {
    /// `http` or `https`.
    pub scheme: http::uri::Scheme,
    /// `host:port`.
    pub authority: http::uri::Authority,
    /// `authority` as the `Host` header sent upstream (built once, shared by every request).
    pub host: http::HeaderValue,
    /// Base path (no trailing `/`), prepended to the resource path.
    pub base_path: String,
    /// Time allowed for the upstream's response headers.
    pub timeout: Duration,
    /// Requests go over HTTP/2 (`endpointConfig.http2`): h2c with prior knowledge for
    /// `http`, ALPN `h2` for `https`.
    pub http2: bool,
}

impl Upstream {
    pub(crate) fn compile(endpoint: &Endpoint, http2: bool) -> Result<Self, String> {
        // A WebSocket upstream (`ws://`, `wss://`) takes its handshake over HTTP(S).
        let url = match endpoint.url.split_once("://") {
            Some(("ws", rest)) => format!("http://{rest}"),
            Some(("wss", rest)) => format!("https://{rest}"),
            _ => endpoint.url.clone(),
        };
        let uri: http::Uri = url
            .parse()
            .map_err(|e| format!("endpoint '{}': {e}", endpoint.url))?;
        let scheme = uri.scheme().cloned().ok_or("endpoint has no scheme")?;
        let authority = uri.authority().cloned().ok_or("endpoint has no host")?;
        let host = http::HeaderValue::from_str(authority.as_str())
            .map_err(|e| format!("endpoint '{}': {e}", endpoint.url))?;
        Ok(Self {
            scheme,
            authority,
            host,
            base_path: uri.path().trim_end_matches('/').to_owned(),
            timeout: endpoint
                .timeout_ms()
                .map(Duration::from_millis)
                .unwrap_or(DEFAULT_UPSTREAM_TIMEOUT),
            http2,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn pool(selection: Selection, n: usize) -> UpstreamPool {
        let members = (0..n)
            .map(|i| {
                Upstream::compile(
                    &Endpoint {
                        url: format!("http://m{i}:1"),
                        config: None,
                    },
                    false,
                )
                .unwrap()
            })
            .collect();
        UpstreamPool::new(members, selection)
    }

    #[test]
    fn ejected_members_are_skipped_until_all_are() {
        let pool = pool(Selection::RoundRobin, 3);
        let picks = |n| (0..n).map(|_| pool.pick().0).collect::<Vec<_>>();
        assert_eq!(picks(3), vec![0, 1, 2]);
        pool.eject(1);
        assert!(picks(6).iter().all(|&i| i != 1));
        pool.eject(0);
        pool.eject(2);
        assert_eq!(picks(3).len(), 3, "all ejected: still answers");
    }

    #[test]
    fn failover_uses_the_first_healthy_member_and_retries_the_next() {
        let pool = pool(Selection::Failover, 3);
        assert_eq!(pool.pick().0, 0);
        assert_eq!(pool.pick().0, 0);
        assert_eq!(pool.pick_untried(0b001, 0).unwrap().0, 1);
        assert_eq!(pool.pick_untried(0b011, 1).unwrap().0, 2);
        assert!(pool.pick_untried(0b111, 2).is_none());
        pool.eject(0);
        assert_eq!(pool.pick().0, 1);
    }

    #[test]
    fn least_request_prefers_the_member_with_fewest_in_flight() {
        let pool = pool(Selection::LeastRequest, 2);
        let busy = pool.start(0);
        for _ in 0..4 {
            assert_eq!(pool.pick().0, 1);
        }
        drop(busy);
        let picks: Vec<usize> = (0..4).map(|_| pool.pick().0).collect();
        assert!(picks.contains(&0) && picks.contains(&1), "{picks:?}");
    }

    #[test]
    fn members_failing_probes_get_no_traffic_until_one_succeeds() {
        let mut pool = pool(Selection::RoundRobin, 2);
        pool.health = Some(HealthCheck {
            path: "/health".into(),
            interval_ms: 100,
            timeout_ms: 100,
            unhealthy_threshold: 2,
        });
        pool.record_probe(0, false);
        assert_eq!(
            (0..4).filter(|_| pool.pick().0 == 0).count(),
            2,
            "one failure"
        );
        pool.record_probe(0, false);
        assert!((0..4).all(|_| pool.pick().0 == 1));
        pool.record_probe(0, true);
        assert_eq!((0..4).filter(|_| pool.pick().0 == 0).count(), 2);
    }

    #[test]
    fn retry_budget_is_a_fifth_of_requests_with_a_floor() {
        let budget = RetryBudget::default();
        assert!((0..3).all(|_| budget.take(7)), "floor of 3 per second");
        assert!(!budget.take(7));
        for _ in 0..50 {
            budget.record(8);
        }
        assert_eq!((0..20).filter(|_| budget.take(8)).count(), 10);
    }
}
