//! The rollouts' optional analysis from Prometheus: the plan's instant queries, their
//! placeholders filled in, asked of `/api/v1/query` at each look at a step; the values go
//! beside the gateways' own numbers (`gantry_model::rollout::with_external` judges them).

use std::sync::OnceLock;
use std::time::Duration;

use gantry_model::rollout::{ExternalMeasured, PrometheusAnalysis, QueryContext};
use serde::Deserialize;

/// How long one query may take (the driver waits for it).
const QUERY_TIMEOUT: Duration = Duration::from_secs(2);

/// Prometheus' answer to an instant query.
#[derive(Deserialize)]
struct Answer {
    status: String,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    data: Option<Data>,
}

#[derive(Deserialize)]
#[serde(tag = "resultType", content = "result", rename_all = "lowercase")]
enum Data {
    Vector(Vec<Sample>),
    Scalar((f64, String)),
    #[serde(other)]
    Other,
}

#[derive(Deserialize)]
struct Sample {
    value: (f64, String),
}

/// Asks every configured query; a query without a usable answer leaves its value out and
/// says why in `problem`.
pub async fn measure(
    analysis: &PrometheusAnalysis,
    context: &QueryContext<'_>,
) -> ExternalMeasured {
    let mut measured = ExternalMeasured::default();
    let mut problems = Vec::new();
    if let Some(query) = &analysis.error_ratio_query {
        match value(&analysis.url, &context.render(query)).await {
            Ok(v) => measured.error_ratio = Some(v),
            Err(why) => problems.push(format!("errorRatioQuery: {why}")),
        }
    }
    if let Some(query) = &analysis.p99_query {
        match value(&analysis.url, &context.render(query)).await {
            Ok(seconds) => measured.p99_ms = Some((seconds * 1000.0).ceil().max(0.0) as u64),
            Err(why) => problems.push(format!("p99Query: {why}")),
        }
    }
    if !problems.is_empty() {
        measured.problem = Some(problems.join("; "));
    }
    measured
}

/// The single value `query` evaluates to now (the first sample of a vector).
async fn value(base: &str, query: &str) -> Result<f64, String> {
    let url = format!(
        "{}/api/v1/query?{}",
        base.trim_end_matches('/'),
        serde_urlencoded::to_string([("query", query)]).unwrap_or_default()
    );
    static CLIENT: OnceLock<Result<reqwest::Client, String>> = OnceLock::new();
    let client = CLIENT
        .get_or_init(|| {
            // No redirects: the plan's URL is where the queries go, nowhere else.
            reqwest::Client::builder()
                .timeout(QUERY_TIMEOUT)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .map_err(|e| e.to_string())
        })
        .as_ref()?;
    let answer: Answer = client
        .get(&url)
        .send()
        .await
        .map_err(|e| format!("Prometheus did not answer: {e}"))?
        .json()
        .await
        .map_err(|e| format!("not a Prometheus answer: {e}"))?;
    if answer.status != "success" {
        return Err(answer.error.unwrap_or(answer.status));
    }
    let text = match answer.data {
        Some(Data::Vector(samples)) => match samples.into_iter().next() {
            Some(sample) => sample.value.1,
            None => return Err("no data yet".to_owned()),
        },
        Some(Data::Scalar((_, text))) => text,
        _ => return Err("the query must give a scalar or a vector".to_owned()),
    };
    match text.parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(v),
        _ => Err(format!("no number yet ({text})")),
    }
}
