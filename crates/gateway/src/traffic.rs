//! Per API *and revision* counters (requests, 5xx, latency buckets), read by the rollouts'
//! analysis. Each compiled API entry holds its revision's counters, found once per
//! configuration in the [`TrafficRegistry`] so counts survive configuration changes; a
//! request adds to them with three relaxed atomic increments. The sync client drains them
//! into reports for the control plane every second ([`TrafficRegistry::drain`]).
//!
//! APIs with a canary are also counted per revision and status class on the gateway's
//! `/metrics` ([`RevisionSeries`], found when the canary is compiled); an API without one
//! has no such series and pays nothing for them.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use gantry_model::traffic::{LATENCY_BUCKETS, RevisionTraffic, latency_bucket};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;

use crate::metric_name::Name;

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

/// Labels of `gantry_gateway_revision_requests`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RevisionLabels {
    /// The API's (or product's) name, as in `gantry_gateway_requests`.
    pub api: Name,
    /// The revision that served the calls.
    pub revision: Name,
    /// `1xx` … `5xx`.
    pub status_class: &'static str,
}

/// Status classes, in the order of [`RevisionSeries`]' counters.
const STATUS_CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

/// One revision's calls by status class on `/metrics` (an API with a canary only).
#[derive(Debug)]
pub struct RevisionSeries {
    by_class: [Counter; 5],
}

impl RevisionSeries {
    /// Counts one call answered `status`.
    pub fn record(&self, status: u16) {
        let class = usize::from(status / 100).clamp(1, 5) - 1;
        self.by_class[class].inc();
    }
}

/// Every revision's counters, shared by the configurations a gateway compiles.
#[derive(Debug, Default)]
pub struct TrafficRegistry {
    counters: Mutex<HashMap<RevisionKey, Arc<RevisionCounters>>>,
    /// `gantry_gateway_revision_requests` (registered by the gateway's metrics).
    series: Family<RevisionLabels, Counter>,
    /// (API name, revision) of the series on `/metrics` now.
    exposed: Mutex<HashSet<(Name, Name)>>,
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

    /// The family of per-revision series, for the gateway's metrics registry.
    pub fn revision_series(&self) -> Family<RevisionLabels, Counter> {
        self.series.clone()
    }

    /// The `/metrics` series of `revision` of the API named `api` (compile time, for an API
    /// with a canary).
    pub fn series(&self, api: &str, revision: &str) -> Arc<RevisionSeries> {
        let (api, revision) = (Name(Arc::from(api)), Name(Arc::from(revision)));
        let by_class = STATUS_CLASSES.map(|status_class| {
            self.series
                .get_or_create(&RevisionLabels {
                    api: api.clone(),
                    revision: revision.clone(),
                    status_class,
                })
                .clone()
        });
        self.exposed
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert((api, revision));
        Arc::new(RevisionSeries { by_class })
    }

    /// Takes the series off `/metrics` except those of `live` (the configuration now in
    /// use), so only APIs that have a canary now are exposed per revision.
    pub fn retain_series(&self, live: &[(Name, Name)]) {
        let mut exposed = self.exposed.lock().unwrap_or_else(PoisonError::into_inner);
        exposed.retain(|key| {
            if live.contains(key) {
                return true;
            }
            for status_class in STATUS_CLASSES {
                self.series.remove(&RevisionLabels {
                    api: key.0.clone(),
                    revision: key.1.clone(),
                    status_class,
                });
            }
            false
        });
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

    #[test]
    fn revision_series_count_by_status_class_while_their_api_has_a_canary() {
        let registry = TrafficRegistry::default();
        let mut metrics = prometheus_client::registry::Registry::default();
        metrics.register("revision_requests", "", registry.revision_series());
        let render = || {
            let mut out = String::new();
            prometheus_client::encoding::text::encode(&mut out, &metrics).unwrap();
            out
        };
        let stable = registry.series("Shop", "r1");
        let canary = registry.series("Shop", "r2");
        for status in [200, 200, 503] {
            stable.record(status);
        }
        canary.record(404);
        let text = render();
        assert!(
            text.contains(
                r#"revision_requests_total{api="Shop",revision="r1",status_class="2xx"} 2"#
            ),
            "{text}"
        );
        assert!(
            text.contains(
                r#"revision_requests_total{api="Shop",revision="r1",status_class="5xx"} 1"#
            ),
            "{text}"
        );
        assert!(
            text.contains(
                r#"revision_requests_total{api="Shop",revision="r2",status_class="4xx"} 1"#
            ),
            "{text}"
        );
        let live = [(Name(Arc::from("Shop")), Name(Arc::from("r2")))];
        registry.retain_series(&live);
        let text = render();
        assert!(!text.contains(r#"revision="r1""#), "{text}");
        assert!(text.contains(r#"revision="r2""#), "{text}");
    }
}
