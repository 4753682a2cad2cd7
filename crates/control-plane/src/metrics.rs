//! The control plane's Prometheus metrics, served at `/metrics`: REST latency by route,
//! tokens issued, gateways connected to this replica, configuration versions published,
//! whether the database answers.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use gantry_telemetry::metrics::Metrics;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};

use crate::AppState;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: String,
    route: String,
    status_class: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DurationLabels {
    route: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct EnvironmentLabels {
    pub environment: String,
}

/// The control plane's metrics.
pub struct ControlPlaneMetrics {
    registry: Metrics,
    requests: Family<RouteLabels, Counter>,
    duration: Family<DurationLabels, Histogram>,
    tokens: Counter,
    pub(crate) connected_gateways: Family<EnvironmentLabels, Gauge>,
    pub(crate) config_version: Family<EnvironmentLabels, Gauge>,
    database_up: Gauge,
    rollout_leader: Gauge,
    rollouts_active: Gauge,
    rollout_events: Family<RolloutEventLabels, Counter>,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RolloutEventLabels {
    kind: String,
}

impl Default for ControlPlaneMetrics {
    fn default() -> Self {
        let m = Self {
            registry: Metrics::new(),
            requests: Family::default(),
            duration: Family::new_with_constructor(|| {
                Histogram::new(exponential_buckets(0.0005, 2.5, 12))
            }),
            tokens: Counter::default(),
            connected_gateways: Family::default(),
            config_version: Family::default(),
            database_up: Gauge::default(),
            rollout_leader: Gauge::default(),
            rollouts_active: Gauge::default(),
            rollout_events: Family::default(),
        };
        m.database_up.set(1);
        let r = &m.registry;
        r.register(
            "gantry_controlplane_http_requests",
            "REST requests by route and status class",
            m.requests.clone(),
        );
        r.register(
            "gantry_controlplane_http_request_duration_seconds",
            "REST latency by route",
            m.duration.clone(),
        );
        r.register(
            "gantry_controlplane_tokens_issued",
            "Access tokens issued by the token endpoint",
            m.tokens.clone(),
        );
        r.register(
            "gantry_controlplane_connected_gateways",
            "Gateways with an open sync stream to this replica",
            m.connected_gateways.clone(),
        );
        r.register(
            "gantry_controlplane_config_version",
            "Configuration version published per environment",
            m.config_version.clone(),
        );
        r.register(
            "gantry_controlplane_database_up",
            "1 while the database answers this replica's health checks, 0 during an outage",
            m.database_up.clone(),
        );
        r.register(
            "gantry_controlplane_rollout_driver",
            "1 while this replica holds the rollouts lease and drives every rollout",
            m.rollout_leader.clone(),
        );
        r.register(
            "gantry_controlplane_rollouts_active",
            "Running or paused rollouts, as the driving replica last counted them",
            m.rollouts_active.clone(),
        );
        r.register(
            "gantry_controlplane_rollout_events",
            "Rollout events recorded by this replica (started, step-passed, rolled-back, …)",
            m.rollout_events.clone(),
        );
        m
    }
}

impl ControlPlaneMetrics {
    /// The text exposition.
    pub fn render(&self) -> String {
        self.registry.render()
    }

    pub(crate) fn gateway_connected(&self, environment: &str, delta: i64) {
        self.connected_gateways
            .get_or_create(&EnvironmentLabels {
                environment: environment.to_owned(),
            })
            .inc_by(delta);
    }

    pub(crate) fn database_up(&self, up: bool) {
        self.database_up.set(i64::from(up));
    }

    pub(crate) fn rollout_leader(&self, leading: bool) {
        self.rollout_leader.set(i64::from(leading));
        if !leading {
            self.rollouts_active.set(0);
        }
    }

    pub(crate) fn rollouts_active(&self, n: usize) {
        self.rollouts_active
            .set(i64::try_from(n).unwrap_or(i64::MAX));
    }

    pub(crate) fn rollout_event(&self, kind: &str) {
        // Kinds are the driver's and the REST edge's own fixed words.
        self.rollout_events
            .get_or_create(&RolloutEventLabels {
                kind: kind.to_owned(),
            })
            .inc();
    }

    pub(crate) fn published(&self, environment: &str, version: u64) {
        self.config_version
            .get_or_create(&EnvironmentLabels {
                environment: environment.to_owned(),
            })
            .set(i64::try_from(version).unwrap_or(i64::MAX));
    }
}

/// Middleware: counts and times every request by its route template.
pub async fn track(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "(unmatched)".to_owned());
    let method = request.method().as_str().to_owned();
    let response = next.run(request).await;
    let status = response.status().as_u16();
    let status_class = match status {
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    };
    let metrics = state.metrics();
    if route == "/oauth2/token" && status == 200 {
        metrics.tokens.inc();
    }
    metrics
        .duration
        .get_or_create(&DurationLabels {
            route: route.clone(),
        })
        .observe(started.elapsed().as_secs_f64());
    metrics
        .requests
        .get_or_create(&RouteLabels {
            method,
            route,
            status_class,
        })
        .inc();
    response
}

/// `GET /metrics`.
pub async fn serve(State(state): State<AppState>) -> Response {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics().render(),
    )
        .into_response()
}

/// Shared handle.
pub type SharedMetrics = Arc<ControlPlaneMetrics>;
