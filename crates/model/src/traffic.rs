//! What gateways measure per API *and revision* and report to the control plane over the
//! sync stream: requests, errors (5xx, the gateway's own 502/504 included) and a latency
//! histogram with fixed bounds, so reports of many gateways add up bucket by bucket.

use serde::{Deserialize, Serialize};

/// Upper bounds (milliseconds, inclusive) of the latency buckets; one more bucket counts
/// what is slower than the last bound.
pub const LATENCY_BOUNDS_MS: [u64; 30] = [
    1, 2, 3, 5, 7, 10, 15, 20, 30, 40, 50, 75, 100, 150, 200, 250, 300, 400, 500, 750, 1_000,
    1_500, 2_000, 3_000, 5_000, 7_500, 10_000, 20_000, 30_000, 60_000,
];

/// Number of latency buckets (the bounds plus the overflow bucket).
pub const LATENCY_BUCKETS: usize = LATENCY_BOUNDS_MS.len() + 1;

/// The bucket a call of `ms` milliseconds falls in.
pub fn latency_bucket(ms: u64) -> usize {
    LATENCY_BOUNDS_MS.partition_point(|bound| *bound < ms)
}

/// Calls of one revision of one API, counted since the last report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RevisionTraffic {
    /// The API.
    pub api_id: String,
    /// The revision that served the calls.
    pub revision_id: String,
    /// Calls answered.
    pub requests: u64,
    /// Of those, answered 5xx.
    pub errors: u64,
    /// Calls per latency bucket ([`LATENCY_BOUNDS_MS`]; shorter lists are padded with 0).
    pub latency: Vec<u64>,
}

/// Several reports added together (one revision, one window, every gateway).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TrafficTotals {
    /// Calls answered.
    pub requests: u64,
    /// Of those, answered 5xx.
    pub errors: u64,
    /// Calls per latency bucket.
    pub latency: Vec<u64>,
}

impl TrafficTotals {
    /// Adds counts (one report, or one stored row).
    pub fn add(&mut self, requests: u64, errors: u64, latency: &[u64]) {
        self.requests += requests;
        self.errors += errors;
        if self.latency.len() < LATENCY_BUCKETS {
            self.latency.resize(LATENCY_BUCKETS, 0);
        }
        for (total, n) in self.latency.iter_mut().zip(latency) {
            *total += n;
        }
    }

    /// Errors over requests; 0 without requests.
    pub fn error_ratio(&self) -> f64 {
        if self.requests == 0 {
            0.0
        } else {
            self.errors as f64 / self.requests as f64
        }
    }

    /// The latency (ms) under which a fraction `q` of the calls fell: the upper bound of the
    /// bucket holding that rank, so an estimate never under-reports. `None` without calls;
    /// calls slower than the last bound report twice that bound.
    pub fn percentile_ms(&self, q: f64) -> Option<u64> {
        let total: u64 = self.latency.iter().sum();
        if total == 0 {
            return None;
        }
        let rank = ((total as f64) * q).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (i, n) in self.latency.iter().enumerate() {
            seen += n;
            if seen >= rank {
                return Some(
                    LATENCY_BOUNDS_MS
                        .get(i)
                        .copied()
                        .unwrap_or(LATENCY_BOUNDS_MS[LATENCY_BOUNDS_MS.len() - 1] * 2),
                );
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_hold_their_upper_bound() {
        assert_eq!(latency_bucket(0), 0);
        assert_eq!(latency_bucket(1), 0);
        assert_eq!(latency_bucket(2), 1);
        assert_eq!(latency_bucket(301), 17);
        assert_eq!(latency_bucket(1_000_000), LATENCY_BOUNDS_MS.len());
    }

    #[test]
    fn p99_reads_the_bucket_of_the_99th_percentile_rank() {
        let mut totals = TrafficTotals::default();
        let mut latency = vec![0; LATENCY_BUCKETS];
        latency[latency_bucket(4)] = 98;
        latency[latency_bucket(450)] = 2;
        totals.add(100, 3, &latency);
        assert_eq!(totals.percentile_ms(0.99), Some(500));
        assert_eq!(totals.percentile_ms(0.5), Some(5));
        assert!((totals.error_ratio() - 0.03).abs() < 1e-9);
        assert_eq!(TrafficTotals::default().percentile_ms(0.99), None);
    }
}
