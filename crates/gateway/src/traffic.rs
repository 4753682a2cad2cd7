//! Per API *and revision* counters (requests, 5xx, latency buckets), read by the rollouts'
//! analysis. Each compiled API entry holds its revision's counters, found once per
//! configuration in the [`TrafficRegistry`] so counts survive configuration changes; a
//! request adds to them with three relaxed atomic increments. The sync client drains them
//! into reports for the control plane every second ([`TrafficRegistry::drain`]).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use gantry_model::traffic::{LATENCY_BUCKETS, RevisionTraffic, latency_bucket};

/// The counters of one revision of one API since the last report.
#[derive(Debug)]
pub struct RevisionCounters {
    api_id: Arc<str>,
    revision_id: Arc<str>,
    requests: AtomicU64,
    errors: AtomicU64,
    latency: [AtomicU64; LATENCY_BUCKETS],
}

impl RevisionCounters {
    fn new(api_id: &str, revision_id: &str) -> Self {
        Self {
            api_id: Arc::from(api_id),
            revision_id: Arc::from(revision_id),
            requests: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            latency: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }

    /// The revision counted.
    pub fn revision_id(&self) -> &str {
        &self.revision_id
    }

    /// Counts one call answered `status` after `elapsed`.
    pub fn record(&self, status: u16, elapsed: Duration) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        if status >= 500 {
            self.errors.fetch_add(1, Ordering::Relaxed);
        }
        let ms = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX);
        self.latency[latency_bucket(ms)].fetch_add(1, Ordering::Relaxed);
    }

    /// Takes what was counted since the last call (`None` when nothing was).
    fn take(&self) -> Option<RevisionTraffic> {
        let requests = self.requests.swap(0, Ordering::Relaxed);
        if requests == 0 {
            return None;
        }
        Some(RevisionTraffic {
            api_id: self.api_id.to_string(),
            revision_id: self.revision_id.to_string(),
            requests,
            errors: self.errors.swap(0, Ordering::Relaxed),
            latency: self
                .latency
                .iter()
                .map(|n| n.swap(0, Ordering::Relaxed))
                .collect(),
        })
    }
}

/// (API id, revision id).
type RevisionKey = (Arc<str>, Arc<str>);

/// Every revision's counters, shared by the configurations a gateway compiles.
#[derive(Debug, Default)]
pub struct TrafficRegistry {
    counters: Mutex<HashMap<RevisionKey, Arc<RevisionCounters>>>,
}

impl TrafficRegistry {
    /// The counters of `revision_id` of `api_id` (compile time).
    pub fn counters(&self, api_id: &str, revision_id: &str) -> Arc<RevisionCounters> {
        let mut map = self.counters.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(found) = map.get(&(Arc::from(api_id), Arc::from(revision_id))) {
            return found.clone();
        }
        let counters = Arc::new(RevisionCounters::new(api_id, revision_id));
        map.insert(
            (counters.api_id.clone(), counters.revision_id.clone()),
            counters.clone(),
        );
        counters
    }

    /// What every revision counted since the last drain; revisions no configuration serves
    /// any more are forgotten once drained.
    pub fn drain(&self) -> Vec<RevisionTraffic> {
        let mut map = self.counters.lock().unwrap_or_else(PoisonError::into_inner);
        let reports = map.values().filter_map(|c| c.take()).collect();
        map.retain(|_, c| Arc::strong_count(c) > 1);
        reports
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drains_counts_once_and_forgets_unused_revisions() {
        let registry = TrafficRegistry::default();
        let r1 = registry.counters("api", "r1");
        assert!(Arc::ptr_eq(&r1, &registry.counters("api", "r1")));
        r1.record(200, Duration::from_millis(3));
        r1.record(502, Duration::from_millis(400));
        let reports = registry.drain();
        assert_eq!(reports.len(), 1);
        assert_eq!((reports[0].requests, reports[0].errors), (2, 1));
        assert_eq!(reports[0].latency.iter().sum::<u64>(), 2);
        assert!(registry.drain().is_empty());
        drop(r1);
        registry.drain();
        assert!(registry.counters.lock().unwrap().is_empty());
    }
}
