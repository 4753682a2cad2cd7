//! Metrics of AI APIs: tokens used by API, application, provider, model and kind (prompt or
//! completion), provider latency per target, failovers and guardrail interventions.
//! Labels come from the configuration (API and target names, provider, the target's model)
//! and, for the model a target left to the client, from the provider's answer.

use std::sync::Arc;
use std::time::Duration;

use gantry_telemetry::metrics::Metrics;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};

use crate::metric_name::Name;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TokenLabels {
    api: Name,
    application: Name,
    provider: Name,
    model: Name,
    kind: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TargetLabels {
    api: Name,
    provider: Name,
    target: Name,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct GuardrailLabels {
    api: Name,
    guardrail: &'static str,
}

/// The AI API metrics.
pub struct AiMetrics {
    tokens: Family<TokenLabels, Counter>,
    latency: Family<TargetLabels, Histogram>,
    failovers: Family<TargetLabels, Counter>,
    interventions: Family<GuardrailLabels, Counter>,
}

/// Tokens one call used.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TokenUse {
    /// Prompt (input) tokens.
    pub prompt: u64,
    /// Completion (output) tokens.
    pub completion: u64,
    /// Total (as the provider reported it, or the sum).
    pub total: u64,
}

impl Default for AiMetrics {
    fn default() -> Self {
        Self {
            tokens: Family::default(),
            // 10 ms … ~2.5 min: providers are slow.
            latency: Family::new_with_constructor(|| {
                Histogram::new(exponential_buckets(0.01, 2.0, 15))
            }),
            failovers: Family::default(),
            interventions: Family::default(),
        }
    }
}

impl AiMetrics {
    /// Adds the families to `registry`.
    pub fn register(&self, registry: &Metrics) {
        registry.register(
            "gantry_gateway_ai_tokens",
            "Tokens used through AI APIs, by API, application, provider, model and kind",
            self.tokens.clone(),
        );
        registry.register(
            "gantry_gateway_ai_provider_duration_seconds",
            "Time an LLM provider target took to answer (response headers)",
            self.latency.clone(),
        );
        registry.register(
            "gantry_gateway_ai_failovers",
            "AI calls moved on from a target that answered 429 or 5xx or timed out",
            self.failovers.clone(),
        );
        registry.register(
            "gantry_gateway_ai_guardrail_interventions",
            "AI calls refused by a guardrail",
            self.interventions.clone(),
        );
    }

    /// Counts the tokens of one call.
    pub fn used(
        &self,
        api: &Arc<str>,
        application: &Arc<str>,
        provider: &Arc<str>,
        model: &Arc<str>,
        used: TokenUse,
    ) {
        for (kind, n) in [("prompt", used.prompt), ("completion", used.completion)] {
            self.tokens
                .get_or_create(&TokenLabels {
                    api: Name(api.clone()),
                    application: Name(application.clone()),
                    provider: Name(provider.clone()),
                    model: Name(model.clone()),
                    kind,
                })
                .inc_by(n);
        }
    }

    /// Records how long `target` took to answer.
    pub fn answered(&self, api: &Arc<str>, provider: &Arc<str>, target: &Arc<str>, took: Duration) {
        self.latency
            .get_or_create(&TargetLabels {
                api: Name(api.clone()),
                provider: Name(provider.clone()),
                target: Name(target.clone()),
            })
            .observe(took.as_secs_f64());
    }

    /// Counts a failover away from `target`.
    pub fn failed_over(&self, api: &Arc<str>, provider: &Arc<str>, target: &Arc<str>) {
        self.failovers
            .get_or_create(&TargetLabels {
                api: Name(api.clone()),
                provider: Name(provider.clone()),
                target: Name(target.clone()),
            })
            .inc();
    }

    /// Counts a guardrail refusal.
    pub fn intervened(&self, api: &Arc<str>, guardrail: &'static str) {
        self.interventions
            .get_or_create(&GuardrailLabels {
                api: Name(api.clone()),
                guardrail,
            })
            .inc();
    }
}
