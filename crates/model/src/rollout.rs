//! A rollout: an API revision taken through an ordered plan of steps (deploy to an
//! environment, optionally as a weighted canary beside the revision deployed before, then
//! an analysis window), promoted automatically while the measured numbers stay within the
//! plan's thresholds, rolled back when they do not. The plan's rules and the analysis
//! verdict live here (no IO); the control plane's driver does the rest.

use serde::{Deserialize, Serialize};

use crate::InvalidField;
use crate::canary::Stickiness;
use crate::traffic::TrafficTotals;

/// What a rollout does, in order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RolloutPlan {
    /// The revision rolled out.
    pub revision_id: String,
    /// How callers stay on one revision during weighted steps.
    #[serde(default, skip_serializing_if = "Stickiness::is_none")]
    pub stickiness: Stickiness,
    /// The steps, in order.
    pub steps: Vec<RolloutStep>,
    /// Where else the analysis looks (besides the gateways' own counts).
    #[serde(default, skip_serializing_if = "Analysis::is_empty")]
    pub analysis: Analysis,
}

/// Sources the analysis reads besides what the gateways count.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Analysis {
    /// Queries against a Prometheus server, judged by the steps' `maxErrorRatio` and
    /// `maxP99Ms` as the gateways' numbers are.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prometheus: Option<PrometheusAnalysis>,
}

impl Analysis {
    /// Whether nothing besides the gateways' counts is read.
    pub fn is_empty(&self) -> bool {
        self.prometheus.is_none()
    }
}

/// Instant queries (`/api/v1/query`) a rollout asks Prometheus at each look at a step. In
/// them `{{revision}}`, `{{previousRevision}}`, `{{apiId}}`, `{{environment}}` and
/// `{{window}}` (the step's time so far, e.g. `42s`) are replaced first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PrometheusAnalysis {
    /// The server's base URL (`http://prometheus:9090`).
    pub url: String,
    /// The new revision's error ratio (0–1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_ratio_query: Option<String>,
    /// The new revision's p99 latency, in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p99_query: Option<String>,
}

/// Longest query text.
pub const MAX_QUERY_LEN: usize = 4096;

impl PrometheusAnalysis {
    fn validate(&self) -> Result<(), InvalidField> {
        if !(self.url.starts_with("http://") || self.url.starts_with("https://")) {
            return Err(InvalidField::new(
                "url",
                "must be an http:// or https:// URL",
            ));
        }
        if self.error_ratio_query.is_none() && self.p99_query.is_none() {
            return Err(InvalidField::new(
                "errorRatioQuery",
                "give errorRatioQuery, p99Query or both",
            ));
        }
        for (field, query) in [
            ("errorRatioQuery", &self.error_ratio_query),
            ("p99Query", &self.p99_query),
        ] {
            if let Some(q) = query
                && (q.trim().is_empty() || q.len() > MAX_QUERY_LEN)
            {
                return Err(InvalidField::new(
                    field,
                    format!("must be a query of 1 to {MAX_QUERY_LEN} characters"),
                ));
            }
        }
        Ok(())
    }
}

/// What a query's placeholders stand for at one look at a step.
#[derive(Debug, Clone, Copy)]
pub struct QueryContext<'a> {
    /// The API's (or product's) id.
    pub api_id: &'a str,
    /// The revision rolled out.
    pub revision: &'a str,
    /// The revision served before in the step's environment (empty: none).
    pub previous_revision: &'a str,
    /// The step's environment.
    pub environment: &'a str,
    /// Seconds the step has run (at least 1).
    pub window_secs: u64,
}

impl QueryContext<'_> {
    /// `query` with its placeholders replaced.
    pub fn render(&self, query: &str) -> String {
        query
            .replace("{{revision}}", self.revision)
            .replace("{{previousRevision}}", self.previous_revision)
            .replace("{{apiId}}", self.api_id)
            .replace("{{environment}}", self.environment)
            .replace("{{window}}", &format!("{}s", self.window_secs.max(1)))
    }
}

/// What Prometheus answered at a look at a step (absent: no query, or no data yet).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExternalMeasured {
    /// The error ratio query's value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_ratio: Option<f64>,
    /// The p99 query's value, in ms (rounded up).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p99_ms: Option<u64>,
    /// Why a query had no usable answer (unreachable, an error, no data).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

/// Combines the verdict on the gateways' numbers with what Prometheus answered: a broken
/// threshold fails the step; a pass needs every configured query answered (until then the
/// step waits, and fails once it waited as long as for traffic).
pub fn with_external(
    step: &RolloutStep,
    elapsed_secs: u64,
    verdict: Verdict,
    external: &ExternalMeasured,
) -> Verdict {
    if matches!(verdict, Verdict::Fail(_)) {
        return verdict;
    }
    if let (Some(max), Some(ratio)) = (step.max_error_ratio, external.error_ratio)
        && ratio > max
    {
        return Verdict::Fail(format!(
            "Prometheus: error ratio {ratio:.3} is above maxErrorRatio {max}"
        ));
    }
    if let (Some(max), Some(p99)) = (step.max_p99_ms, external.p99_ms)
        && p99 > max
    {
        return Verdict::Fail(format!("Prometheus: p99 {p99} ms is above maxP99Ms {max}"));
    }
    match (verdict, &external.problem) {
        (Verdict::Pass, Some(problem)) => {
            if elapsed_secs >= step.window_secs.saturating_mul(TRAFFIC_WAIT_WINDOWS) {
                Verdict::Fail(format!("Prometheus: {problem}"))
            } else {
                Verdict::Wait(format!("waiting for Prometheus: {problem}"))
            }
        }
        (verdict, _) => verdict,
    }
}

/// One step: put the revision in an environment (a share of the calls, or all of them),
/// then watch it for a window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RolloutStep {
    /// Gateway environment.
    pub environment: String,
    /// Percent of the API's calls the new revision serves there (1–100; absent: 100, the
    /// revision replaces the previous one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<u8>,
    /// Analysis window: how long the step runs before it can pass (seconds).
    pub window_secs: u64,
    /// Calls the new revision must serve in the window before the step can pass.
    #[serde(default)]
    pub min_requests: u64,
    /// Highest error ratio (5xx / calls, 0–1) of the new revision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_error_ratio: Option<f64>,
    /// Highest p99 latency (ms) of the new revision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_p99_ms: Option<u64>,
    /// Highest error ratio above the previous revision's, measured in the same window
    /// (weighted steps only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_error_ratio_increase: Option<f64>,
    /// Highest p99 as a multiple of the previous revision's in the same window (weighted
    /// steps only; e.g. 1.5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_p99_ratio: Option<f64>,
}

/// Most steps a plan may have.
pub const MAX_STEPS: usize = 20;
/// Longest analysis window (one day).
pub const MAX_WINDOW_SECS: u64 = 86_400;
/// A step that has not seen `min_requests` after this many windows fails.
pub const TRAFFIC_WAIT_WINDOWS: u64 = 10;

impl RolloutPlan {
    /// Checks what the plan can say on its own (environments are checked by the caller).
    pub fn validate(&self) -> Result<(), InvalidField> {
        if self.revision_id.trim().is_empty() {
            return Err(InvalidField::new("revisionId", "is required"));
        }
        if self.steps.is_empty() || self.steps.len() > MAX_STEPS {
            return Err(InvalidField::new(
                "steps",
                format!("must have 1 to {MAX_STEPS} steps"),
            ));
        }
        if let Stickiness::Header { name } = &self.stickiness
            && (name.is_empty()
                || !name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
        {
            return Err(InvalidField::new(
                "stickiness.name",
                "must be a header name (letters, digits, '-', '_')",
            ));
        }
        for (i, step) in self.steps.iter().enumerate() {
            step.validate()
                .map_err(|e| e.within(&format!("steps[{i}]")))?;
        }
        if let Some(prometheus) = &self.analysis.prometheus {
            prometheus
                .validate()
                .map_err(|e| e.within("analysis.prometheus"))?;
        }
        Ok(())
    }
}

impl RolloutStep {
    fn validate(&self) -> Result<(), InvalidField> {
        if self.environment.trim().is_empty() {
            return Err(InvalidField::new("environment", "is required"));
        }
        if let Some(w) = self.weight
            && !(1..=100).contains(&w)
        {
            return Err(InvalidField::new("weight", "must be 1 to 100"));
        }
        if self.window_secs == 0 || self.window_secs > MAX_WINDOW_SECS {
            return Err(InvalidField::new(
                "windowSecs",
                format!("must be 1 to {MAX_WINDOW_SECS}"),
            ));
        }
        let ratio = |name: &str, v: Option<f64>| match v {
            Some(r) if !(0.0..=1.0).contains(&r) || r.is_nan() => {
                Err(InvalidField::new(name, "must be between 0 and 1"))
            }
            _ => Ok(()),
        };
        ratio("maxErrorRatio", self.max_error_ratio)?;
        ratio("maxErrorRatioIncrease", self.max_error_ratio_increase)?;
        if let Some(r) = self.max_p99_ratio
            && (r.is_nan() || r < 1.0)
        {
            return Err(InvalidField::new("maxP99Ratio", "must be at least 1"));
        }
        Ok(())
    }

    /// The new revision's share in percent (100 when the step replaces).
    pub fn share(&self) -> u8 {
        self.weight.unwrap_or(100)
    }
}

/// What the numbers of one revision say, as shown in a rollout's progress.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Measured {
    /// Calls served in the window.
    pub requests: u64,
    /// Of those, 5xx.
    pub errors: u64,
    /// errors / requests.
    pub error_ratio: f64,
    /// p99 latency (ms, the upper bound of its histogram bucket); absent without calls.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p99_ms: Option<u64>,
}

impl From<&TrafficTotals> for Measured {
    fn from(t: &TrafficTotals) -> Self {
        Self {
            requests: t.requests,
            errors: t.errors,
            error_ratio: t.error_ratio(),
            p99_ms: t.percentile_ms(0.99),
        }
    }
}

/// The analysis of a step at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Within every threshold over the whole window: go on.
    Pass,
    /// Not decided yet (window running, or not enough calls yet); why.
    Wait(String),
    /// A threshold broken (or too little traffic for too long); why.
    Fail(String),
}

/// Judges `step` after `elapsed_secs` of its window, from the new revision's numbers and,
/// for weighted steps, the previous revision's in the same window. A broken threshold fails
/// as soon as `min_requests` calls were seen; passing needs the whole window.
pub fn analyse(
    step: &RolloutStep,
    elapsed_secs: u64,
    new: &Measured,
    previous: Option<&Measured>,
) -> Verdict {
    if new.requests < step.min_requests.max(1) {
        if step.min_requests == 0 && elapsed_secs >= step.window_secs {
            return Verdict::Pass;
        }
        let waited = step.window_secs.saturating_mul(TRAFFIC_WAIT_WINDOWS);
        if elapsed_secs >= waited {
            return Verdict::Fail(format!(
                "not enough traffic: {} of {} calls after {elapsed_secs} s",
                new.requests, step.min_requests
            ));
        }
        return Verdict::Wait(format!(
            "waiting for traffic: {} of {} calls",
            new.requests, step.min_requests
        ));
    }
    if let Some(max) = step.max_error_ratio
        && new.error_ratio > max
    {
        return Verdict::Fail(format!(
            "error ratio {:.3} ({} of {} calls) is above maxErrorRatio {max}",
            new.error_ratio, new.errors, new.requests
        ));
    }
    if let (Some(max), Some(p99)) = (step.max_p99_ms, new.p99_ms)
        && p99 > max
    {
        return Verdict::Fail(format!("p99 {p99} ms is above maxP99Ms {max}"));
    }
    if let Some(previous) = previous.filter(|p| p.requests > 0) {
        if let Some(max) = step.max_error_ratio_increase
            && new.error_ratio > previous.error_ratio + max
        {
            return Verdict::Fail(format!(
                "error ratio {:.3} is more than {max} above the previous revision's {:.3}",
                new.error_ratio, previous.error_ratio
            ));
        }
        if let (Some(ratio), Some(p99), Some(before)) =
            (step.max_p99_ratio, new.p99_ms, previous.p99_ms)
            && p99 as f64 > before as f64 * ratio
        {
            return Verdict::Fail(format!(
                "p99 {p99} ms is more than {ratio}x the previous revision's {before} ms"
            ));
        }
    }
    if elapsed_secs < step.window_secs {
        return Verdict::Wait(format!(
            "analysing: {elapsed_secs} of {} s",
            step.window_secs
        ));
    }
    Verdict::Pass
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step() -> RolloutStep {
        RolloutStep {
            environment: "dp-canary".into(),
            weight: Some(20),
            window_secs: 10,
            min_requests: 50,
            max_error_ratio: Some(0.05),
            max_p99_ms: Some(300),
            max_error_ratio_increase: None,
            max_p99_ratio: Some(2.0),
        }
    }

    fn measured(requests: u64, errors: u64, p99: u64) -> Measured {
        Measured {
            requests,
            errors,
            error_ratio: errors as f64 / requests.max(1) as f64,
            p99_ms: Some(p99),
        }
    }

    #[test]
    fn passes_only_after_the_window_with_enough_calls_within_thresholds() {
        let s = step();
        assert!(matches!(
            analyse(&s, 3, &measured(10, 0, 5), None),
            Verdict::Wait(_)
        ));
        assert!(matches!(
            analyse(&s, 3, &measured(80, 1, 5), None),
            Verdict::Wait(_)
        ));
        assert_eq!(analyse(&s, 10, &measured(80, 1, 5), None), Verdict::Pass);
    }

    #[test]
    fn a_broken_threshold_fails_as_soon_as_enough_calls_were_seen() {
        let s = step();
        assert!(
            matches!(analyse(&s, 2, &measured(60, 18, 5), None), Verdict::Fail(r) if r.contains("maxErrorRatio"))
        );
        assert!(
            matches!(analyse(&s, 2, &measured(60, 0, 400), None), Verdict::Fail(r) if r.contains("maxP99Ms"))
        );
        assert!(
            matches!(analyse(&s, 2, &measured(60, 0, 100), Some(&measured(200, 0, 20))), Verdict::Fail(r) if r.contains("previous"))
        );
        assert!(
            matches!(analyse(&s, 100, &measured(3, 0, 5), None), Verdict::Fail(r) if r.contains("not enough traffic"))
        );
    }

    #[test]
    fn prometheus_numbers_fail_a_step_and_a_pass_waits_for_their_answer() {
        let s = step();
        let answered = ExternalMeasured {
            error_ratio: Some(0.2),
            ..Default::default()
        };
        assert!(
            matches!(with_external(&s, 3, Verdict::Wait("w".into()), &answered), Verdict::Fail(r) if r.starts_with("Prometheus: error ratio"))
        );
        let slow = ExternalMeasured {
            p99_ms: Some(900),
            ..Default::default()
        };
        assert!(
            matches!(with_external(&s, 10, Verdict::Pass, &slow), Verdict::Fail(r) if r.contains("maxP99Ms"))
        );
        let silent = ExternalMeasured {
            problem: Some("no data".into()),
            ..Default::default()
        };
        assert!(matches!(
            with_external(&s, 10, Verdict::Pass, &silent),
            Verdict::Wait(_)
        ));
        assert!(matches!(
            with_external(&s, 100, Verdict::Pass, &silent),
            Verdict::Fail(_)
        ));
        let fine = ExternalMeasured {
            error_ratio: Some(0.0),
            p99_ms: Some(20),
            problem: None,
        };
        assert_eq!(with_external(&s, 10, Verdict::Pass, &fine), Verdict::Pass);
        let context = QueryContext {
            api_id: "a",
            revision: "r2",
            previous_revision: "r1",
            environment: "prod",
            window_secs: 0,
        };
        assert_eq!(
            context.render(r#"x{revision="{{revision}}",env="{{environment}}"}[{{window}}]"#),
            r#"x{revision="r2",env="prod"}[1s]"#
        );
    }

    #[test]
    fn plans_are_validated_field_by_field() {
        let mut plan = RolloutPlan {
            revision_id: "r".into(),
            stickiness: Stickiness::None,
            steps: vec![step()],
            analysis: Analysis::default(),
        };
        plan.analysis.prometheus = Some(PrometheusAnalysis {
            url: "prometheus:9090".into(),
            error_ratio_query: Some("x".into()),
            p99_query: None,
        });
        assert_eq!(
            plan.validate().unwrap_err().field,
            "analysis.prometheus.url"
        );
        plan.analysis = Analysis::default();
        assert!(plan.validate().is_ok());
        plan.steps[0].weight = Some(0);
        assert_eq!(plan.validate().unwrap_err().field, "steps[0].weight");
        plan.steps[0].weight = None;
        plan.steps[0].max_error_ratio = Some(1.5);
        assert_eq!(plan.validate().unwrap_err().field, "steps[0].maxErrorRatio");
        plan.steps.clear();
        assert_eq!(plan.validate().unwrap_err().field, "steps");
    }
}
