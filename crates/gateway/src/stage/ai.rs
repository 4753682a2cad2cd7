//! The AI stage, for AI APIs only (APIs in front of LLM providers): token budgets checked
//! before the call, the prompt read and put through the guardrails, the target's model
//! written into it, then sent to the targets in routing order with the provider key the
//! gateway holds — the next target on 429, 5xx or a timeout — and the answer metered for
//! tokens on its way back (`stage/ai_usage.rs`). Other APIs never enter it.

use std::sync::{Arc, OnceLock};

use http::header::{self, HeaderName, HeaderValue};
use http::{Request, Response, StatusCode, Uri};
use http_body_util::BodyExt as _;
use serde_json::Value;

use super::Answer;
use super::ai_usage::{Account, Metered};
use super::authenticate::Authenticated;
use super::forward::{Destination, Forwarder};
use super::limit::Limiters;
use super::route::Routed;
use crate::compiled::CompiledConfig;
use crate::compiled::ai::{AiRoute, AiTarget, CredentialKey, TokenKind};
use crate::compiled::guardrails::prompt_texts;
use crate::metrics::{GatewayMetrics, Outcome};
use crate::policy::run::RequestBody;
use crate::ratelimit::{Decision, Scope};
use crate::respond::{self, Body};
use crate::upstream_client::{UpstreamBody, UpstreamResponseBody};

/// The target that answered, `provider/target` (a response header).
pub const ANSWERED_BY: HeaderName = HeaderName::from_static("x-gantry-ai-provider");
/// The model the answering target was asked for (a response header).
pub const MODEL: HeaderName = HeaderName::from_static("x-gantry-ai-model");

/// What the AI stage keeps between requests.
pub struct AiGateway {
    key: OnceLock<CredentialKey>,
    metrics: Arc<GatewayMetrics>,
}

/// An admitted call to an AI API.
pub struct AiCall {
    route: Arc<AiRoute>,
    account: Account,
    /// The resource path and query after the endpoint's base path.
    resource: String,
}

impl AiGateway {
    /// No credential key until [`AiGateway::use_credential_key`].
    pub fn new(metrics: Arc<GatewayMetrics>) -> Self {
        Self {
            key: OnceLock::new(),
            metrics,
        }
    }

    /// Opens provider credentials with the key in `base64` (the control plane's
    /// environment credential key).
    pub fn use_credential_key(&self, base64: &str) -> Result<(), String> {
        let key = CredentialKey::from_base64(base64)?;
        self.key
            .set(key)
            .map_err(|_| "the credential key is already set".to_owned())
    }
}

/// `None` for an API that is not an AI API; else the call, once its token budgets have
/// some left (429 otherwise).
pub async fn admit(
    ai: &AiGateway,
    limits: &Limiters,
    config: &CompiledConfig,
    routed: &Routed<'_>,
    who: &Authenticated,
    to: &Destination<'_>,
    outcome: &mut Outcome,
) -> Result<Option<AiCall>, Answer> {
    let Some(tables) = config.ai.as_deref() else {
        return Ok(None);
    };
    let Some(route) = tables.apis.get(&routed.api.id) else {
        return Ok(None);
    };
    let application = who
        .caller
        .as_ref()
        .map(|c| c.application_id.clone())
        .unwrap_or_else(|| Arc::from("(anonymous)"));
    let budget = tables
        .budgets
        .get(&(application.clone(), routed.api.id.clone()))
        .cloned();
    let mut left = [None; 3];
    if let Some(budget) = &budget {
        for (kind, limit) in budget.limits() {
            let key = &route.budget_keys[kind as usize];
            let (decision, here) = limits
                .cost_left(Scope::Tokens, &application, key, limit)
                .await;
            if let Decision::Limited { retry_after } = decision {
                outcome.throttled = Some(Scope::Tokens.label());
                return Err(over_budget(kind, limit, retry_after));
            }
            left[kind as usize] = Some(here);
        }
    }
    Ok(Some(AiCall {
        route: route.clone(),
        resource: to.resource().to_owned(),
        account: Account {
            meters: limits.cost_meters(),
            metrics: ai.metrics.clone(),
            api_name: routed.api.name.clone(),
            application,
            budget,
            left,
            keys: route.budget_keys.clone(),
            provider: route.provider.clone(),
            model: Arc::from(super::ai_usage::UNKNOWN_MODEL),
            prompt_estimate: 0,
            usage: None,
            route: route.clone(),
        },
    }))
}

fn over_budget(
    kind: TokenKind,
    limit: &crate::compiled::Limit,
    retry_after: std::time::Duration,
) -> Answer {
    let mut response = respond::error(
        StatusCode::TOO_MANY_REQUESTS,
        Scope::Tokens.code(),
        "Message throttled out",
        &format!(
            "You have used your quota of {} {} tokens per {} s",
            limit.count,
            match kind {
                TokenKind::Total => "total",
                TokenKind::Prompt => "prompt",
                TokenKind::Completion => "completion",
            },
            limit.window.as_secs()
        ),
    );
    let seconds = retry_after.as_secs_f64().ceil().max(1.0) as u64;
    if let Ok(v) = HeaderValue::from_str(&seconds.to_string()) {
        response.headers_mut().insert(header::RETRY_AFTER, v);
    }
    response
}

/// 446, WSO2's guardrail refusal, with the guardrail and its reason.
fn intervened(name: &str, policy: &str, reason: &str) -> Answer {
    respond::error(
        StatusCode::from_u16(446).unwrap_or(StatusCode::BAD_REQUEST),
        "900514",
        "Guardrail intervened",
        &format!("{policy} '{name}' refused the request: {reason}"),
    )
}

/// The request body as a JSON object: the client's, read whole under the body limit and
/// deadline, or the one a request policy made.
async fn read_prompt(forwarder: &Forwarder, body: RequestBody) -> Result<Value, Answer> {
    let (body, limit) = match body {
        RequestBody::Made(bytes) => return parse_prompt(&bytes),
        RequestBody::Client { body, limit } => (body, limit),
    };
    let timeout = forwarder.body_timeout.get();
    let body = http_body_util::Limited::new(
        crate::body_timeout::Deadline::new(body, Some(timeout)),
        usize::try_from(limit).unwrap_or(usize::MAX),
    );
    let bytes = match body.collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(error) if error.is::<http_body_util::LengthLimitError>() => {
            return Err(crate::body_limit::too_large(limit));
        }
        Err(error) if crate::body_timeout::is_timed_out(error.as_ref()) => {
            return Err(crate::body_timeout::timed_out(timeout));
        }
        Err(_) => return Err(bad_body("The request body could not be read")),
    };
    parse_prompt(&bytes)
}

fn parse_prompt(bytes: &[u8]) -> Result<Value, Answer> {
    match serde_json::from_slice::<Value>(bytes) {
        Ok(prompt) if prompt.is_object() => Ok(prompt),
        _ => Err(bad_body(
            "The request body of an AI API must be a JSON object",
        )),
    }
}

fn bad_body(why: &str) -> Answer {
    respond::error(StatusCode::BAD_REQUEST, "400", "Bad Request", why)
}

impl AiCall {
    /// Reads the prompt, runs the guardrails and sends it to the targets in turn; the first
    /// answer that is not 429/5xx (or the last target's answer, or 502/504 when it gave
    /// none).
    pub async fn send(
        &mut self,
        ai: &AiGateway,
        forwarder: &Forwarder,
        request: Request<RequestBody>,
        outcome: &mut Outcome,
    ) -> Result<Response<UpstreamResponseBody>, Answer> {
        let (parts, body) = request.into_parts();
        let mut prompt = read_prompt(forwarder, body).await?;
        let asked = self.prepare(ai, &mut prompt)?;
        let route = self.route.clone();
        let started = std::time::Instant::now();
        let targets: Vec<&AiTarget> = route.order().collect();
        let last = targets.len() - 1;
        for (i, target) in targets.into_iter().enumerate() {
            if let Some(model) = &target.model {
                route.set_model(&mut prompt, model);
            }
            let model = target.model.clone().or_else(|| asked.clone());
            let outbound = self.outbound(ai, &parts, target, &prompt)?;
            let sent = std::time::Instant::now();
            let result =
                tokio::time::timeout(route.timeout, forwarder.clients().send(false, outbound))
                    .await;
            ai.metrics.ai.answered(
                &self.account.api_name,
                &route.provider,
                &target.name,
                sent.elapsed(),
            );
            let failed = match &result {
                Ok(Ok(response)) => {
                    response.status() == StatusCode::TOO_MANY_REQUESTS
                        || response.status().is_server_error()
                }
                _ => true,
            };
            if failed && i < last {
                tracing::info!(api = %self.account.api_name, target = %target.name, "AI target failed; trying the next");
                ai.metrics
                    .ai
                    .failed_over(&self.account.api_name, &route.provider, &target.name);
                continue;
            }
            outcome.upstream = Some(started.elapsed());
            return match result {
                Ok(Ok(mut response)) => {
                    response
                        .headers_mut()
                        .insert(ANSWERED_BY, target.answered_by.clone());
                    if let Some(model) = &model
                        && let Ok(v) = HeaderValue::from_str(model)
                    {
                        response.headers_mut().insert(MODEL, v);
                    }
                    if let Some(model) = model {
                        self.account.model = model;
                    }
                    Ok(response)
                }
                Ok(Err(error)) => {
                    tracing::warn!(api = %self.account.api_name, %error, "AI target failed");
                    Err(respond::error(
                        StatusCode::BAD_GATEWAY,
                        "101503",
                        "Runtime Error",
                        "Error connecting to the back end",
                    ))
                }
                Err(_) => Err(respond::error(
                    StatusCode::GATEWAY_TIMEOUT,
                    "101504",
                    "Runtime Error",
                    "Gateway timeout while waiting for the back end",
                )),
            };
        }
        unreachable!("an AI API has at least one target")
    }

    /// Puts `prompt` through the guardrails, asks a stream for its usage, estimates the
    /// prompt's tokens; the model the client asked for.
    fn prepare(&mut self, ai: &AiGateway, prompt: &mut Value) -> Result<Option<Arc<str>>, Answer> {
        let route = &self.route;
        if let Err(refused) = route.guardrails.inspect(prompt) {
            ai.metrics
                .ai
                .intervened(&self.account.api_name, refused.policy);
            return Err(intervened(&refused.name, refused.policy, &refused.reason));
        }
        let streaming = prompt.get("stream") == Some(&Value::Bool(true));
        if streaming && route.openai_usage && prompt.get("stream_options").is_none() {
            // OpenAI-compatible providers report a stream's usage in a last chunk only when
            // asked; the budget needs it.
            prompt["stream_options"] = serde_json::json!({"include_usage": true});
        }
        let chars: usize = prompt_texts(prompt).iter().map(|t| t.len()).sum();
        self.account.prompt_estimate = (chars as u64).div_ceil(4);
        Ok(route
            .request_model
            .as_ref()
            .and_then(|p| p.text(prompt))
            .map(Arc::<str>::from))
    }

    /// The request to `target`: the mediated head, the target's address and key, `prompt`.
    fn outbound(
        &self,
        ai: &AiGateway,
        parts: &http::request::Parts,
        target: &AiTarget,
        prompt: &Value,
    ) -> Result<Request<UpstreamBody>, Answer> {
        let key = target.credential(ai.key.get()).map_err(|error| {
            tracing::error!(api = %self.account.api_name, target = %target.name, %error,
                "AI call refused: check --credential-key-file");
            respond::error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "101500",
                "Runtime Error",
                "The gateway cannot use the provider's credentials",
            )
        })?;
        let route = &self.route;
        let mut path =
            String::with_capacity(target.upstream.base_path.len() + self.resource.len() + 64);
        path.push_str(&target.upstream.base_path);
        path.push_str(&self.resource);
        if path.is_empty() {
            path.push('/');
        }
        if let (Some(query), Some(key)) = (&route.auth_query, &key) {
            path.push(if path.contains('?') { '&' } else { '?' });
            path.push_str(query);
            path.push('=');
            path.extend(url_encoded(key));
        }
        let uri = Uri::builder()
            .scheme(target.upstream.scheme.clone())
            .authority(target.upstream.authority.clone())
            .path_and_query(path)
            .build()
            .map_err(|_| bad_body("The request path cannot be forwarded"))?;
        let body = bytes::Bytes::from(serde_json::to_vec(prompt).unwrap_or_default());
        let mut request = Request::new(UpstreamBody::Right(http_body_util::Full::new(body)));
        *request.method_mut() = parts.method.clone();
        *request.uri_mut() = uri;
        *request.version_mut() = http::Version::HTTP_11;
        let headers = request.headers_mut();
        *headers = parts.headers.clone();
        headers.insert(header::HOST, target.upstream.host.clone());
        headers.remove(header::CONTENT_LENGTH);
        headers.remove(header::TRANSFER_ENCODING);
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if let (Some(name), Some(key)) = (&route.auth_header, &key) {
            let value = if name == header::AUTHORIZATION && !key.contains(' ') {
                format!("Bearer {key}")
            } else {
                key.to_string()
            };
            let mut value = HeaderValue::from_str(&value).map_err(|_| {
                respond::error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "101500",
                    "Runtime Error",
                    "The provider key is not a valid header value",
                )
            })?;
            value.set_sensitive(true);
            headers.insert(name.clone(), value);
        }
        Ok(request)
    }

    /// The response with its tokens counted (and, with `piiMasking`, masked) as it goes to
    /// the client.
    pub fn meter(self, response: Response<Body>) -> Response<Body> {
        Metered::wrap(response, self.account)
    }
}

impl AiRoute {
    /// Writes `model` where the provider reads the model (a path of object keys).
    fn set_model(&self, prompt: &mut Value, model: &str) {
        if let Some(path) = &self.request_model {
            path.set_text(prompt, model);
        }
    }
}

fn url_encoded(text: &str) -> impl Iterator<Item = char> + '_ {
    text.bytes().flat_map(|b| {
        let plain = b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~');
        let hex = |n: u8| char::from(b"0123456789ABCDEF"[usize::from(n)]);
        let chars: [Option<char>; 3] = if plain {
            [Some(char::from(b)), None, None]
        } else {
            [Some('%'), Some(hex(b >> 4)), Some(hex(b & 15))]
        };
        chars.into_iter().flatten()
    })
}
