//! AI APIs at compile time: per AI API its provider's layout (where the key goes, where the
//! model and token counts sit), its targets in routing order with their sealed keys, and its
//! guardrails; per (application, AI API) subscription the token budgets of its tier. The
//! request path (`stage/ai.rs`) only reads these.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use base64::Engine as _;
use gantry_model::ai::{AiDeployment, RoutingStrategy, TokenQuota, credential_label};
use gantry_model::{Endpoint, GatewaySnapshot};
use http::HeaderValue;

use super::fast_map::FastMap;
use super::guardrails::Guardrails;
use super::json_path::JsonPath;
use super::limits::Limit;
use super::upstream::Upstream;

/// The key gateways open provider credentials with (derived by the control plane from its
/// key-encryption key; never in a snapshot).
pub struct CredentialKey(LessSafeKey);

impl CredentialKey {
    /// The key from its base64 text.
    pub fn from_base64(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let engine = base64::engine::general_purpose::STANDARD;
        let bytes = engine
            .decode(text)
            .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(text))
            .map_err(|_| "the credential key is not base64".to_owned())?;
        let key = UnboundKey::new(&AES_256_GCM, &bytes)
            .map_err(|_| "the credential key must be 32 bytes".to_owned())?;
        Ok(Self(LessSafeKey::new(key)))
    }

    /// Opens `sealed` (`v1:` + base64url(nonce ‖ ciphertext ‖ tag)) bound to `label`.
    fn open(&self, label: &str, sealed: &str) -> Option<Vec<u8>> {
        let body = sealed.strip_prefix("v1:")?;
        let mut bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(body)
            .ok()?;
        if bytes.len() < NONCE_LEN {
            return None;
        }
        let nonce = Nonce::try_assume_unique_for_key(&bytes[..NONCE_LEN]).ok()?;
        let plain = self
            .0
            .open_in_place(nonce, Aad::from(label.as_bytes()), &mut bytes[NONCE_LEN..])
            .ok()?;
        Some(plain.to_vec())
    }
}

/// The AI side of a configuration.
#[derive(Default)]
pub struct AiTables {
    /// AI APIs by API id.
    pub apis: FastMap<Arc<str>, Arc<AiRoute>>,
    /// Token budgets by (application id, API id), for subscriptions whose tier has any.
    pub budgets: FastMap<(Arc<str>, Arc<str>), Arc<TokenBudget>>,
}

/// The token budgets of a subscription tier, each a per-window count.
pub struct TokenBudget {
    /// Total tokens.
    pub total: Option<Limit>,
    /// Prompt tokens.
    pub prompt: Option<Limit>,
    /// Completion tokens.
    pub completion: Option<Limit>,
}

/// Which count a budget is of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// Prompt + completion.
    Total,
    /// Prompt (input) tokens.
    Prompt,
    /// Completion (output) tokens.
    Completion,
}

impl TokenBudget {
    /// The budgets there are, with their kind.
    pub fn limits(&self) -> impl Iterator<Item = (TokenKind, &Limit)> {
        [
            (TokenKind::Total, self.total.as_ref()),
            (TokenKind::Prompt, self.prompt.as_ref()),
            (TokenKind::Completion, self.completion.as_ref()),
        ]
        .into_iter()
        .filter_map(|(kind, limit)| Some((kind, limit?)))
    }
}

/// One AI API.
pub struct AiRoute {
    /// Provider name (metrics, the answering header).
    pub provider: Arc<str>,
    /// Where the provider key goes.
    pub auth_header: Option<http::HeaderName>,
    /// Query parameter the provider key goes in.
    pub auth_query: Option<Box<str>>,
    /// Model in requests.
    pub request_model: Option<JsonPath>,
    /// Model in responses.
    pub response_model: Option<JsonPath>,
    /// Token counts in responses.
    pub prompt_tokens: Option<JsonPath>,
    /// Completion tokens.
    pub completion_tokens: Option<JsonPath>,
    /// Total tokens (absent: prompt + completion).
    pub total_tokens: Option<JsonPath>,
    /// How the first target is chosen.
    pub routing: RoutingStrategy,
    /// Time a target may take to answer.
    pub timeout: Duration,
    /// Targets in configured order.
    pub targets: Box<[AiTarget]>,
    /// Guardrails.
    pub guardrails: Guardrails,
    /// Counter keys of the token budgets: (`{api}:total`, `:prompt`, `:completion`).
    pub budget_keys: [Arc<str>; 3],
    /// The provider reports usage as OpenAI does (`$.usage.prompt_tokens`), so a stream
    /// can be asked for it (`stream_options.include_usage`).
    pub openai_usage: bool,
    next: AtomicUsize,
    total_weight: u32,
}

/// One provider endpoint of an AI API.
pub struct AiTarget {
    /// Target name.
    pub name: Arc<str>,
    /// Where it is.
    pub upstream: Upstream,
    /// The model asked for here.
    pub model: Option<Arc<str>>,
    /// `provider/target`, the answering header's value.
    pub answered_by: HeaderValue,
    weight: u32,
    sealed: Option<String>,
    label: String,
    /// The opened key, once a request needed it (per configuration version).
    opened: OnceLock<Option<Arc<str>>>,
}

/// A target's provider key cannot be opened on this gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the provider key cannot be opened: no credential key, or not the environment's")]
pub struct CredentialUnavailable;

impl AiTarget {
    /// The provider key in the clear: `Ok(None)` when the target takes none.
    pub fn credential(
        &self,
        key: Option<&CredentialKey>,
    ) -> Result<Option<Arc<str>>, CredentialUnavailable> {
        let Some(sealed) = &self.sealed else {
            return Ok(None);
        };
        let Some(key) = key else {
            return Err(CredentialUnavailable);
        };
        self.opened
            .get_or_init(|| {
                key.open(&self.label, sealed)
                    .and_then(|plain| String::from_utf8(plain).ok())
                    .map(Arc::from)
            })
            .clone()
            .map(Some)
            .ok_or(CredentialUnavailable)
    }
}

impl AiRoute {
    /// The targets in the order this call tries them: the strategy's choice first, then
    /// the others in configured order.
    pub fn order(&self) -> impl Iterator<Item = &AiTarget> {
        let n = self.targets.len();
        let first = match self.routing {
            RoutingStrategy::Failover => 0,
            RoutingStrategy::RoundRobin => self.next.fetch_add(1, Ordering::Relaxed) % n,
            RoutingStrategy::Weighted => {
                let mut at = (self.next.fetch_add(1, Ordering::Relaxed) as u64
                    % u64::from(self.total_weight.max(1))) as u32;
                self.targets
                    .iter()
                    .position(|t| {
                        if at < t.weight {
                            true
                        } else {
                            at -= t.weight;
                            false
                        }
                    })
                    .unwrap_or(0)
            }
        };
        (0..n).map(move |i| &self.targets[(first + i) % n])
    }

    fn compile(ai: &AiDeployment, api_name: &str) -> Result<Self, String> {
        let path = |p: &Option<String>| match p {
            None => Ok(None),
            Some(text) => JsonPath::parse(text)
                .map(Some)
                .ok_or_else(|| format!("JSON path '{text}' is not supported")),
        };
        let targets = ai
            .targets
            .iter()
            .map(|t| {
                let upstream = Upstream::compile(
                    &Endpoint {
                        url: t.url.clone(),
                        config: None,
                    },
                    false,
                )?;
                Ok(AiTarget {
                    name: Arc::from(t.name.as_str()),
                    upstream,
                    model: t.model.as_deref().map(Arc::from),
                    answered_by: HeaderValue::from_str(&format!("{}/{}", ai.provider.name, t.name))
                        .map_err(|_| format!("target '{}': not a header value", t.name))?,
                    weight: t.weight,
                    sealed: t.sealed_key.clone(),
                    label: credential_label(&ai.api_id, &t.name),
                    opened: OnceLock::new(),
                })
            })
            .collect::<Result<Vec<_>, String>>()?;
        if targets.is_empty() {
            return Err("an AI API needs a target".into());
        }
        let key = |kind: &str| Arc::from(format!("{}:{kind}", ai.api_id));
        Ok(Self {
            provider: Arc::from(ai.provider.name.as_str()),
            auth_header: match &ai.provider.auth_header {
                Some(h) => Some(
                    http::HeaderName::from_bytes(h.to_ascii_lowercase().as_bytes())
                        .map_err(|_| format!("'{h}' is not a header name"))?,
                ),
                None => None,
            },
            auth_query: ai.provider.auth_query.as_deref().map(Box::from),
            request_model: path(&ai.provider.request_model)?,
            response_model: path(&ai.provider.response_model)?,
            prompt_tokens: path(&ai.provider.prompt_tokens)?,
            completion_tokens: path(&ai.provider.completion_tokens)?,
            total_tokens: path(&ai.provider.total_tokens)?,
            routing: ai.routing,
            timeout: Duration::from_millis(ai.request_timeout_ms.max(1)),
            total_weight: targets.iter().map(|t| t.weight).sum(),
            targets: targets.into_boxed_slice(),
            guardrails: Guardrails::compile(&ai.guardrails)
                .map_err(|e| format!("API {api_name}: {e}"))?,
            budget_keys: [key("total"), key("prompt"), key("completion")],
            openai_usage: ai.provider.prompt_tokens.as_deref() == Some("$.usage.prompt_tokens"),
            next: AtomicUsize::new(0),
        })
    }
}

fn token_limit(quota: &TokenQuota, kind: &str, count: i64) -> Option<Limit> {
    let count = u64::try_from(count).ok().filter(|c| *c > 0)?;
    let unit = match quota.time_unit.as_str() {
        "sec" | "second" | "seconds" => 1,
        "min" | "minute" | "minutes" => 60,
        "hour" | "hours" => 3_600,
        "day" | "days" => 86_400,
        _ => return None,
    };
    Some(Limit {
        name: Arc::from(format!("{} {kind} tokens", quota.tier)),
        count,
        window: Duration::from_secs(unit * u64::try_from(quota.unit_time.max(1)).unwrap_or(1)),
        emission: Duration::ZERO,
        tolerance: Duration::ZERO,
        burst: None,
        // Counted like bytes: admitted while some are left, charged what the call used.
        bytes: true,
    })
}

impl AiTables {
    /// The AI APIs and token budgets of `snapshot`; `None` when it has no AI API.
    pub fn compile(snapshot: &GatewaySnapshot, problems: &mut Vec<String>) -> Option<Box<Self>> {
        if snapshot.ai_apis.is_empty() {
            return None;
        }
        let mut tables = Self::default();
        for ai in &snapshot.ai_apis {
            let name = snapshot
                .apis
                .iter()
                .find(|a| a.api_id == ai.api_id)
                .map_or(ai.api_id.as_str(), |a| a.name.as_str());
            match AiRoute::compile(ai, name) {
                Ok(route) => {
                    tables
                        .apis
                        .insert(Arc::from(ai.api_id.as_str()), Arc::new(route));
                }
                Err(e) => problems.push(format!("AI API {name}: {e}")),
            }
        }
        let budgets: FastMap<&str, Arc<TokenBudget>> = snapshot
            .token_quotas
            .iter()
            .map(|q| {
                let budget = TokenBudget {
                    total: token_limit(q, "total", q.total_tokens),
                    prompt: token_limit(q, "prompt", q.prompt_tokens),
                    completion: token_limit(q, "completion", q.completion_tokens),
                };
                (q.tier.as_str(), Arc::new(budget))
            })
            .collect();
        for s in &snapshot.subscriptions {
            if let (Some((api, _)), Some(budget)) = (
                tables.apis.get_key_value(s.api_id.as_str()),
                budgets.get(s.tier.as_str()),
            ) {
                tables.budgets.insert(
                    (Arc::from(s.application_id.as_str()), api.clone()),
                    budget.clone(),
                );
            }
        }
        Some(Box::new(tables))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use gantry_model::ai::{DeployedTarget, ProviderSpec};

    fn deployment(
        routing: RoutingStrategy,
        weights: &[u32],
        sealed: Option<String>,
    ) -> AiDeployment {
        AiDeployment {
            api_id: "api-1".into(),
            provider: ProviderSpec {
                name: "OpenAI".into(),
                auth_header: Some("Authorization".into()),
                ..ProviderSpec::default()
            },
            routing,
            request_timeout_ms: 1_000,
            targets: weights
                .iter()
                .enumerate()
                .map(|(i, w)| DeployedTarget {
                    name: format!("t{i}"),
                    url: format!("http://127.0.0.1:{}/v1", 9000 + i),
                    model: None,
                    weight: *w,
                    sealed_key: sealed.clone(),
                })
                .collect(),
            guardrails: vec![],
        }
    }

    #[test]
    fn weighted_routing_starts_in_proportion_and_fails_over_to_the_rest() {
        let route =
            AiRoute::compile(&deployment(RoutingStrategy::Weighted, &[3, 1], None), "x").unwrap();
        let firsts: Vec<String> = (0..8)
            .map(|_| route.order().next().unwrap().name.to_string())
            .collect();
        assert_eq!(firsts.iter().filter(|n| *n == "t0").count(), 6);
        let order: Vec<String> = route.order().map(|t| t.name.to_string()).collect();
        assert_eq!(order.len(), 2, "every target is tried once");
        let failover =
            AiRoute::compile(&deployment(RoutingStrategy::Failover, &[1, 1], None), "x").unwrap();
        assert!((0..4).all(|_| &*failover.order().next().unwrap().name == "t0"));
    }

    #[test]
    fn keys_sealed_by_the_control_plane_open_with_the_derived_key_only_for_their_target() {
        let (kek, _) = gantry_keys::kek::KeyEncryptionKey::generate().unwrap();
        let (derived, text) = kek.derive("gantry gateway credentials v1").unwrap();
        let sealed = derived
            .seal(&credential_label("api-1", "t0"), b"sk-secret")
            .unwrap();
        let route = AiRoute::compile(
            &deployment(RoutingStrategy::Failover, &[1, 1], Some(sealed)),
            "x",
        )
        .unwrap();
        let key = CredentialKey::from_base64(&text).unwrap();
        assert_eq!(
            route.targets[0].credential(Some(&key)).unwrap().as_deref(),
            Some("sk-secret")
        );
        // Bound to its target: the same ciphertext under another target does not open.
        assert_eq!(
            route.targets[1].credential(Some(&key)),
            Err(CredentialUnavailable)
        );
        assert_eq!(
            route.targets[0].credential(None),
            Err(CredentialUnavailable)
        );
        let (other, other_text) = kek.derive("something else").unwrap();
        drop(other);
        let wrong = CredentialKey::from_base64(&other_text).unwrap();
        let fresh = AiRoute::compile(
            &deployment(
                RoutingStrategy::Failover,
                &[1],
                Some(
                    derived
                        .seal(&credential_label("api-1", "t0"), b"k")
                        .unwrap(),
                ),
            ),
            "x",
        )
        .unwrap();
        assert_eq!(
            fresh.targets[0].credential(Some(&wrong)),
            Err(CredentialUnavailable)
        );
    }
}
