//! The gateway's Prometheus metrics (served on the ops port's `/metrics`) and its access log
//! (one structured line per request, tracing target `access`).
//!
//! Labels come from configuration — environment, API name, operation — and from fixed sets
//! (status class, failure reason, limit scope), never from raw request data.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use gantry_telemetry::metrics::Metrics;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};

pub use crate::metric_name::Name;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    environment: Name,
    api: Name,
    operation: Name,
    status_class: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ApiLabels {
    environment: Name,
    api: Name,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    reason: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ScopeLabels {
    scope: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FetchLabels {
    outcome: &'static str,
}

/// (API name, operation name, status class) of a request's series, names by pointer.
type HandleKey = (usize, usize, &'static str);

/// Handles of one request series (clones share the family's metric).
struct CachedSeries {
    /// Keeps the names (and so the key's pointers) alive.
    _names: (Name, Name),
    requests: Counter,
    duration: Histogram,
    upstream: Histogram,
}

/// Entries kept before the cache starts over (configurations replaced many times).
const MAX_CACHED_SERIES: usize = 8192;

/// What the request path reports about one request.
#[derive(Debug, Default)]
pub struct Outcome {
    /// The API matched, if any.
    pub api: Option<Name>,
    /// The operation matched (`METHOD target`).
    pub operation: Option<Name>,
    /// The calling application, once authenticated.
    pub application: Option<Arc<str>>,
    /// Time spent waiting for the upstream's response headers.
    pub upstream: Option<Duration>,
    /// Why the gateway refused it, if it did (`missing_credentials`, `invalid_token`, …).
    pub failure: Option<&'static str>,
    /// The limit scope that refused it, if one did.
    pub throttled: Option<&'static str>,
    /// Request body size, when declared (`Content-Length`).
    pub request_bytes: Option<u64>,
    /// Response body size, when declared (`Content-Length`; streamed bodies have none).
    pub response_bytes: Option<u64>,
    /// The counters of the revision that served it, once the revision stage chose one.
    pub revision: Option<Arc<crate::traffic::RevisionCounters>>,
    /// Its revision's `/metrics` series, when its API has a canary.
    pub revision_series: Option<Arc<crate::traffic::RevisionSeries>>,
    /// Whether the request's body was taken to its end: handed to the upstream, or read by
    /// a stage that answers itself (the WebSub hub). An answer over an unread body closes
    /// the connection.
    pub body_read: bool,
}

/// The gateway's metrics.
pub struct GatewayMetrics {
    registry: Metrics,
    environment: Name,
    requests: Family<RequestLabels, Counter>,
    duration: Family<ApiLabels, Histogram>,
    upstream: Family<ApiLabels, Histogram>,
    auth_failures: Family<ReasonLabels, Counter>,
    throttled: Family<ScopeLabels, Counter>,
    jwks_fetches: Family<FetchLabels, Counter>,
    /// The `(none)` label of requests no route matched.
    unmatched: Name,
    /// Per-request series found once per (API, operation, status class): the families hash
    /// every label string under a lock on each lookup. Keyed by the names' pointers; the
    /// entry holds the names, so a pointer cannot be reused while it is a key.
    handles: Mutex<HashMap<HandleKey, CachedSeries, rustc_hash::FxBuildHasher>>,
    /// Version of the configuration in use.
    pub config_version: Gauge,
    /// 1 while the stream to the control plane is open.
    pub sync_connected: Gauge,
    /// Configuration versions applied / rejected since start.
    pub config_applied: Counter,
    /// Configuration versions rejected since start.
    pub config_rejected: Counter,
    /// 1 while Redis answers (shared limits), 0 when the gateway fell back to local limits.
    pub redis_up: Gauge,
    /// Limit decisions taken locally because Redis was unavailable.
    pub ratelimit_fallbacks: Counter,
    /// Requests sent again to another upstream member after a failure.
    pub upstream_retries: Counter,
    /// AI API tokens, provider latency, failovers and guardrail refusals.
    pub ai: crate::ai_metrics::AiMetrics,
    /// The API listeners' client connections, counted by the listener; copied into
    /// `connections_open` and `connections_shed` on each scrape.
    pub connections: Arc<gantry_listener::ConnectionStats>,
    connections_open: Gauge,
    connections_shed: Counter,
    /// Serialises the copy into `connections_shed` (a counter only moves by increments).
    connections_reported: Mutex<u64>,
}

impl GatewayMetrics {
    /// Copies the listeners' connection counts into their metrics (before a scrape).
    pub fn report_connections(&self) {
        let open = self.connections.open();
        self.connections_open
            .set(i64::try_from(open).unwrap_or(i64::MAX));
        let mut reported = self
            .connections_reported
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let shed = self.connections.shed();
        self.connections_shed.inc_by(shed.saturating_sub(*reported));
        *reported = shed;
    }

    /// Counts one JWKS fetch on an unknown `kid`: `ok`, `failed` or `timeout`.
    pub fn jwks_fetched(&self, outcome: &'static str) {
        self.jwks_fetches
            .get_or_create(&FetchLabels { outcome })
            .inc();
    }
}

fn latency_histogram() -> Histogram {
    // 100 µs … ~26 s.
    Histogram::new(exponential_buckets(0.0001, 2.5, 14))
}

impl GatewayMetrics {
    /// Metrics for a gateway of `environment`.
    pub fn new(environment: &str) -> Self {
        let m = Self {
            registry: Metrics::new(),
            environment: Name(Arc::from(environment)),
            requests: Family::default(),
            duration: Family::new_with_constructor(latency_histogram),
            upstream: Family::new_with_constructor(latency_histogram),
            auth_failures: Family::default(),
            throttled: Family::default(),
            jwks_fetches: Family::default(),
            unmatched: Name(Arc::from("(none)")),
            handles: Mutex::default(),
            config_version: Gauge::default(),
            sync_connected: Gauge::default(),
            config_applied: Counter::default(),
            config_rejected: Counter::default(),
            redis_up: Gauge::default(),
            ratelimit_fallbacks: Counter::default(),
            upstream_retries: Counter::default(),
            ai: Default::default(),
            connections: Arc::default(),
            connections_open: Gauge::default(),
            connections_shed: Counter::default(),
            connections_reported: Mutex::default(),
        };
        let r = &m.registry;
        m.ai.register(r);
        r.register(
            "gantry_gateway_requests",
            "Requests by API, operation and status class",
            m.requests.clone(),
        );
        r.register(
            "gantry_gateway_request_duration_seconds",
            "Time from request to response headers",
            m.duration.clone(),
        );
        r.register(
            "gantry_gateway_upstream_duration_seconds",
            "Time the upstream took to answer",
            m.upstream.clone(),
        );
        r.register(
            "gantry_gateway_auth_failures",
            "Requests refused by authentication or authorisation",
            m.auth_failures.clone(),
        );
        r.register(
            "gantry_gateway_ratelimit_rejections",
            "Requests refused by a rate limit",
            m.throttled.clone(),
        );
        r.register(
            "gantry_gateway_jwks_fetches",
            "External issuers' JWKS read by this gateway on an unknown kid, by outcome",
            m.jwks_fetches.clone(),
        );
        r.register(
            "gantry_gateway_config_version",
            "Version of the configuration in use",
            m.config_version.clone(),
        );
        r.register(
            "gantry_gateway_sync_connected",
            "1 while the control-plane stream is open",
            m.sync_connected.clone(),
        );
        r.register(
            "gantry_gateway_config_applied",
            "Configuration versions applied",
            m.config_applied.clone(),
        );
        r.register(
            "gantry_gateway_redis_up",
            "1 while Redis answers (shared rate limits); 0 while limits are local",
            m.redis_up.clone(),
        );
        r.register(
            "gantry_gateway_ratelimit_local_fallbacks",
            "Rate-limit decisions taken locally because Redis was unavailable",
            m.ratelimit_fallbacks.clone(),
        );
        r.register(
            "gantry_gateway_upstream_retries",
            "Requests retried on another upstream member (idempotent, within the retry budget)",
            m.upstream_retries.clone(),
        );
        r.register(
            "gantry_gateway_connections_open",
            "Client connections open on the API listeners",
            m.connections_open.clone(),
        );
        r.register(
            "gantry_gateway_connections_shed",
            "Client connections closed on accept because a listener was at --max-connections",
            m.connections_shed.clone(),
        );
        r.register(
            "gantry_gateway_config_rejected",
            "Configuration versions rejected (NACK)",
            m.config_rejected.clone(),
        );
        m
    }

    /// Records one finished request and writes its access-log line.
    pub fn record(
        &self,
        outcome: &Outcome,
        method: &str,
        path: &str,
        status: u16,
        elapsed: Duration,
        correlation_id: &http::HeaderValue,
    ) {
        let status_class = match status {
            100..=199 => "1xx",
            200..=299 => "2xx",
            300..=399 => "3xx",
            400..=499 => "4xx",
            _ => "5xx",
        };
        let api = outcome.api.as_ref().unwrap_or(&self.unmatched);
        let operation = outcome.operation.as_ref().unwrap_or(&self.unmatched);
        let key = (
            Arc::as_ptr(&api.0).cast::<u8>() as usize,
            Arc::as_ptr(&operation.0).cast::<u8>() as usize,
            status_class,
        );
        {
            let mut handles = self.handles.lock().unwrap_or_else(PoisonError::into_inner);
            if handles.len() >= MAX_CACHED_SERIES && !handles.contains_key(&key) {
                // Old configurations' names: let them go (the series stay registered).
                handles.clear();
            }
            let series = handles.entry(key).or_insert_with(|| {
                let labels = ApiLabels {
                    environment: self.environment.clone(),
                    api: api.clone(),
                };
                CachedSeries {
                    _names: (api.clone(), operation.clone()),
                    requests: self
                        .requests
                        .get_or_create(&RequestLabels {
                            environment: self.environment.clone(),
                            api: api.clone(),
                            operation: operation.clone(),
                            status_class,
                        })
                        .clone(),
                    duration: self.duration.get_or_create(&labels).clone(),
                    upstream: self.upstream.get_or_create(&labels).clone(),
                }
            });
            series.requests.inc();
            series.duration.observe(elapsed.as_secs_f64());
            if let Some(upstream) = outcome.upstream {
                series.upstream.observe(upstream.as_secs_f64());
            }
        }
        if let Some(reason) = outcome.failure {
            self.auth_failures
                .get_or_create(&ReasonLabels { reason })
                .inc();
        }
        if let Some(scope) = outcome.throttled {
            self.throttled.get_or_create(&ScopeLabels { scope }).inc();
        }
        if gantry_telemetry::access::enabled() {
            gantry_telemetry::access::log(&gantry_telemetry::access::Entry {
                correlation_id: correlation_id.to_str().unwrap_or_default(),
                environment: &self.environment.0,
                api: outcome.api.as_ref().map(|a| &*a.0).unwrap_or("-"),
                application: outcome.application.as_deref().unwrap_or("-"),
                method,
                path,
                status,
                duration: elapsed,
                upstream: outcome.upstream,
                request_bytes: outcome.request_bytes,
                response_bytes: outcome.response_bytes,
                failure: outcome.failure,
            });
        }
    }

    /// Shows the per-revision series of APIs with a canary (`traffic`'s family).
    pub fn register_revision_series(
        &self,
        family: Family<crate::traffic::RevisionLabels, Counter>,
    ) {
        self.registry.register(
            "gantry_gateway_revision_requests",
            "Requests by API, revision and status class, for APIs with a canary revision now",
            family,
        );
    }

    /// The text exposition.
    pub fn render(&self) -> String {
        self.registry.render()
    }
}
