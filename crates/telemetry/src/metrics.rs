//! Prometheus metrics: a registry per process, rendered in the text exposition format, plus
//! the process's own resident memory and CPU time read from /proc at scrape time.
//!
//! Label values are bounded by configuration (API names, environments, status classes),
//! never by request data, so the series count cannot be driven up by clients.

use std::sync::Mutex;

use prometheus_client::encoding::text::encode;
use prometheus_client::registry::Registry;

pub use prometheus_client;

/// A process's metrics registry.
#[derive(Debug, Default)]
pub struct Metrics {
    registry: Mutex<Registry>,
}

impl Metrics {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers a metric (`name` without the `_total` suffix for counters).
    pub fn register<M>(&self, name: &str, help: &str, metric: M)
    where
        M: prometheus_client::registry::Metric,
    {
        if let Ok(mut registry) = self.registry.lock() {
            registry.register(name, help, metric);
        }
    }

    /// The text exposition (OpenMetrics text), with process metrics appended.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(8 * 1024);
        if let Ok(registry) = self.registry.lock() {
            let _ = encode(&mut out, &registry);
        }
        // The OpenMetrics encoder ends with "# EOF"; process metrics go before it.
        let body = out
            .trim_end()
            .strip_suffix("# EOF")
            .unwrap_or(&out)
            .to_owned();
        let mut text = body;
        text.push_str(&process_metrics());
        text.push_str("# EOF\n");
        text
    }
}

/// `process_resident_memory_bytes` and `process_cpu_seconds_total` from /proc/self (Linux).
fn process_metrics() -> String {
    let rss_kb: u64 = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0);
    // Fields 14 and 15 of /proc/self/stat are utime and stime in clock ticks (100 Hz on Linux).
    let cpu_ticks: u64 = std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            let after = s.rsplit_once(')')?.1;
            let fields: Vec<&str> = after.split_whitespace().collect();
            Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
        })
        .unwrap_or(0);
    format!(
        "# HELP process_resident_memory_bytes Resident memory size in bytes.\n\
         # TYPE process_resident_memory_bytes gauge\n\
         process_resident_memory_bytes {}\n\
         # HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.\n\
         # TYPE process_cpu_seconds_total counter\n\
         process_cpu_seconds_total {}\n",
        rss_kb * 1024,
        cpu_ticks as f64 / 100.0
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus_client::metrics::counter::Counter;

    #[test]
    fn renders_registered_and_process_metrics() {
        let metrics = Metrics::new();
        let c: Counter = Counter::default();
        metrics.register("gantry_test", "A test counter", c.clone());
        c.inc();
        let text = metrics.render();
        assert!(text.contains("gantry_test_total 1"), "{text}");
        assert!(text.contains("process_resident_memory_bytes "));
        assert!(text.trim_end().ends_with("# EOF"));
    }
}
