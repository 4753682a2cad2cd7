//! AI APIs: APIs in front of LLM providers (WSO2 4.5+ `subtype: AIAPI`). What a provider
//! looks like (where its key goes, where the model name and the token usage sit), how an AI
//! API routes across provider endpoints, and what gateways receive to enforce token budgets.
//! Provider keys never appear here in the clear past the control plane's edge: stored and
//! shipped sealed, shown masked.

use serde::{Deserialize, Deserializer, Serialize};

use crate::{InvalidField, PolicyRef};

/// What a masked secret reads as in every REST response.
pub const MASKED: &str = "*****";

/// The subtype an AI API carries (WSO2's `subtype`).
pub const AI_SUBTYPE: &str = "AIAPI";

/// WSO2's LLM provider `configurations`: how requests and responses of the provider read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProviderConfiguration {
    /// `openAi_1.0.0`, `azureOpenAi_1.0.0`, …
    #[serde(default)]
    pub connector_type: String,
    /// Where each attribute sits (`requestModel`, `promptTokenCount`, …).
    #[serde(default)]
    pub metadata: Vec<ProviderAttribute>,
    /// How the provider's key is sent.
    #[serde(default)]
    pub authentication_configuration: ProviderAuthentication,
}

/// One attribute of a provider's messages (WSO2 `metadata` entry).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProviderAttribute {
    /// `requestModel`, `responseModel`, `promptTokenCount`, `completionTokenCount`,
    /// `totalTokenCount`.
    pub attribute_name: String,
    /// `payload` (a JSON path of the body) or `header`.
    pub input_source: String,
    /// `$.usage.prompt_tokens`, or a header name.
    pub attribute_identifier: String,
    /// Whether the attribute must be present.
    #[serde(default)]
    pub required: bool,
}

/// How a provider takes its key (WSO2 `authenticationConfiguration`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProviderAuthentication {
    /// Whether a key is sent at all.
    #[serde(default)]
    pub enabled: bool,
    /// `apikey`.
    #[serde(rename = "type", default)]
    pub kind: String,
    /// `headerEnabled`, `headerName`, `queryParameterEnabled`, `queryParameterName`.
    #[serde(default)]
    pub parameters: AuthParameters,
}

impl Default for ProviderAuthentication {
    fn default() -> Self {
        Self {
            enabled: false,
            kind: "apikey".to_owned(),
            parameters: AuthParameters::default(),
        }
    }
}

/// Where the key goes: a header, a query parameter, or both.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthParameters {
    /// The key travels in `header_name`.
    #[serde(default)]
    pub header_enabled: bool,
    /// e.g. `Authorization`, `api-key`, `x-api-key`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header_name: Option<String>,
    /// The key travels in the query parameter `query_parameter_name`.
    #[serde(default)]
    pub query_parameter_enabled: bool,
    /// e.g. `key`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query_parameter_name: Option<String>,
}

/// What a gateway needs of a provider, resolved from its configuration: where the key goes
/// and the JSON paths of the model name and the token counts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProviderSpec {
    /// Provider name (`OpenAI`), for metrics and the answering header.
    pub name: String,
    /// Header the key goes in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_header: Option<String>,
    /// Query parameter the key goes in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_query: Option<String>,
    /// JSON path of the model in requests (`$.model`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_model: Option<String>,
    /// JSON path of the model in responses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_model: Option<String>,
    /// JSON path of the prompt token count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_tokens: Option<String>,
    /// JSON path of the completion token count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion_tokens: Option<String>,
    /// JSON path of the total token count (absent: prompt + completion).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_tokens: Option<String>,
}

impl ProviderConfiguration {
    /// The parts a gateway reads, named `name`; a 400-worthy problem names its field.
    pub fn spec(&self, name: &str) -> Result<ProviderSpec, InvalidField> {
        let mut spec = ProviderSpec {
            name: name.to_owned(),
            ..ProviderSpec::default()
        };
        for (i, attribute) in self.metadata.iter().enumerate() {
            let at = format!("configurations.metadata[{i}]");
            let path = match attribute.input_source.as_str() {
                "payload" => {
                    json_path_segments(&attribute.attribute_identifier).ok_or_else(|| {
                        InvalidField::new(
                            format!("{at}.attributeIdentifier"),
                            "must be a JSON path of object keys, such as $.usage.prompt_tokens",
                        )
                    })?;
                    attribute.attribute_identifier.clone()
                }
                // Header attributes (rate-limit hints) are informational: not read.
                "header" => continue,
                other => {
                    return Err(InvalidField::new(
                        format!("{at}.inputSource"),
                        format!("'{other}' is not one of payload, header"),
                    ));
                }
            };
            let slot = match attribute.attribute_name.as_str() {
                "requestModel" => &mut spec.request_model,
                "responseModel" => &mut spec.response_model,
                "promptTokenCount" => &mut spec.prompt_tokens,
                "completionTokenCount" => &mut spec.completion_tokens,
                "totalTokenCount" => &mut spec.total_tokens,
                _ => continue,
            };
            *slot = Some(path);
        }
        let auth = &self.authentication_configuration;
        if auth.enabled {
            let p = &auth.parameters;
            let named = |enabled: bool, name: &Option<String>, field: &str| match (enabled, name) {
                (false, _) => Ok(None),
                (true, Some(n)) if is_token(n) => Ok(Some(n.clone())),
                (true, _) => Err(InvalidField::new(
                    format!("configurations.authenticationConfiguration.parameters.{field}"),
                    "must be a header or parameter name",
                )),
            };
            spec.auth_header = named(p.header_enabled, &p.header_name, "headerName")?;
            spec.auth_query = named(
                p.query_parameter_enabled,
                &p.query_parameter_name,
                "queryParameterName",
            )?;
            if spec.auth_header.is_none() && spec.auth_query.is_none() {
                return Err(InvalidField::new(
                    "configurations.authenticationConfiguration.parameters",
                    "enable the header or the query parameter the key is sent in",
                ));
            }
        }
        Ok(spec)
    }
}

fn is_token(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// The object keys of a simple JSON path (`$.usage.prompt_tokens` → `usage`,
/// `prompt_tokens`); `None` for anything else (filters, indexes, wildcards).
pub fn json_path_segments(path: &str) -> Option<Vec<&str>> {
    let rest = path.strip_prefix("$.")?;
    let segments: Vec<&str> = rest.split('.').collect();
    segments.iter().all(|s| is_token(s)).then_some(segments)
}

/// An LLM provider (WSO2 `LLMProviderResponse`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LlmProvider {
    /// Stable id.
    pub id: String,
    /// `OpenAI`.
    pub name: String,
    /// `1.0.0`.
    pub api_version: String,
    /// Free text.
    pub description: String,
    /// Shipped with Gantry (cannot be changed or deleted).
    pub built_in: bool,
    /// How its messages read.
    pub configurations: ProviderConfiguration,
    /// The provider's OpenAPI document (text), as WSO2 serves it.
    pub api_definition: String,
    /// Models it offers.
    pub model_list: Vec<String>,
}

fn payload(name: &str, path: &str) -> ProviderAttribute {
    ProviderAttribute {
        attribute_name: name.to_owned(),
        input_source: "payload".to_owned(),
        attribute_identifier: path.to_owned(),
        required: true,
    }
}

fn header_auth(header: &str) -> ProviderAuthentication {
    ProviderAuthentication {
        enabled: true,
        kind: "apikey".to_owned(),
        parameters: AuthParameters {
            header_enabled: true,
            header_name: Some(header.to_owned()),
            ..AuthParameters::default()
        },
    }
}

/// The OpenAI-shaped metadata (OpenAI, Azure OpenAI, Mistral, and any compatible server).
fn openai_metadata() -> Vec<ProviderAttribute> {
    vec![
        payload("requestModel", "$.model"),
        payload("responseModel", "$.model"),
        payload("promptTokenCount", "$.usage.prompt_tokens"),
        payload("completionTokenCount", "$.usage.completion_tokens"),
        payload("totalTokenCount", "$.usage.total_tokens"),
    ]
}

/// The chat-completions OpenAPI document the built-in providers serve as their definition.
fn chat_definition(title: &str, path: &str) -> String {
    serde_json::json!({
        "openapi": "3.0.1",
        "info": {"title": title, "version": "1.0.0"},
        "paths": {path: {"post": {
            "operationId": "createChatCompletion",
            "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object"}}}},
            "responses": {"200": {"description": "OK"}}
        }}}
    })
    .to_string()
}

/// The providers Gantry ships: OpenAI (and OpenAI-compatible servers), Azure OpenAI,
/// Mistral and Anthropic.
pub fn built_in_providers() -> Vec<LlmProvider> {
    let provider = |id: &str,
                    name: &str,
                    description: &str,
                    connector: &str,
                    metadata: Vec<ProviderAttribute>,
                    auth: ProviderAuthentication,
                    path: &str,
                    models: &[&str]| LlmProvider {
        id: id.to_owned(),
        name: name.to_owned(),
        api_version: "1.0.0".to_owned(),
        description: description.to_owned(),
        built_in: true,
        configurations: ProviderConfiguration {
            connector_type: connector.to_owned(),
            metadata,
            authentication_configuration: auth,
        },
        api_definition: chat_definition(name, path),
        model_list: models.iter().map(|m| (*m).to_owned()).collect(),
    };
    vec![
        provider(
            "openai-1.0.0",
            "OpenAI",
            "OpenAI and OpenAI-compatible chat completion APIs",
            "openAi_1.0.0",
            openai_metadata(),
            header_auth("Authorization"),
            "/chat/completions",
            &["gpt-4o", "gpt-4o-mini", "gpt-4.1", "o3-mini"],
        ),
        provider(
            "azure-openai-1.0.0",
            "AzureOpenAI",
            "Azure OpenAI Service deployments",
            "azureOpenAi_1.0.0",
            openai_metadata(),
            header_auth("api-key"),
            "/deployments/{deployment-id}/chat/completions",
            &["gpt-4o", "gpt-4o-mini"],
        ),
        provider(
            "mistral-1.0.0",
            "MistralAI",
            "Mistral AI chat completions",
            "mistralAi_1.0.0",
            openai_metadata(),
            header_auth("Authorization"),
            "/v1/chat/completions",
            &["mistral-large-latest", "mistral-small-latest"],
        ),
        provider(
            "anthropic-1.0.0",
            "Anthropic",
            "Anthropic Messages API",
            "anthropic_1.0.0",
            vec![
                payload("requestModel", "$.model"),
                payload("responseModel", "$.model"),
                payload("promptTokenCount", "$.usage.input_tokens"),
                payload("completionTokenCount", "$.usage.output_tokens"),
            ],
            header_auth("x-api-key"),
            "/v1/messages",
            &["claude-sonnet-4-0", "claude-3-5-haiku-latest"],
        ),
    ]
}

/// How an AI API picks among its targets.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RoutingStrategy {
    /// The first target, then the next on 429, 5xx or a timeout.
    #[default]
    Failover,
    /// Each call to the next target in turn (failing over to the others).
    RoundRobin,
    /// Targets chosen in proportion to their weight (failing over to the others).
    Weighted,
}

/// One provider endpoint an AI API sends calls to, with the model it asks for there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AiTarget {
    /// Unique within the API (`primary`); names the target in metrics and the answering
    /// header.
    pub name: String,
    /// The provider's base URL (`https://api.openai.com/v1`).
    pub url: String,
    /// The model this target is asked for (the request's `model` is rewritten to it);
    /// absent: the client's choice is kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Share of calls under weighted routing.
    #[serde(default = "one")]
    pub weight: u32,
    /// The provider key, write-only: what a client sends is sealed and stored apart, and
    /// every response shows [`MASKED`] when a key is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key: Option<String>,
}

fn one() -> u32 {
    1
}

/// An AI API's `subtypeConfiguration.configuration`: the provider it fronts, its targets,
/// routing and guardrails.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AiConfiguration {
    /// The provider's id (`openai-1.0.0`).
    #[serde(default)]
    pub llm_provider_id: String,
    /// The provider's name, filled in from the provider.
    #[serde(default)]
    pub llm_provider_name: String,
    /// The provider's version, filled in from the provider.
    #[serde(default)]
    pub llm_provider_api_version: String,
    /// How targets are chosen.
    #[serde(default)]
    pub routing: RoutingStrategy,
    /// How long a target may take to answer (response headers) before the next is tried.
    #[serde(default = "default_timeout_ms")]
    pub request_timeout_ms: u64,
    /// The provider endpoints, in failover order.
    pub targets: Vec<AiTarget>,
    /// Guardrails applied to prompts (and, for `piiMasking`, responses), in WSO2's policy
    /// shape: `regexGuardrail`, `wordCountGuardrail`, `contentLengthGuardrail` (the
    /// largest prompt), `jsonSchemaGuardrail`, `piiMasking`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub guardrails: Vec<PolicyRef>,
}

fn default_timeout_ms() -> u64 {
    30_000
}

/// WSO2's `subtypeConfiguration` of an AI API; `configuration` may be posted as an object
/// or, as WSO2's console does, as a JSON string.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubtypeConfiguration {
    /// `AIAPI`.
    pub subtype: String,
    /// The AI API's settings.
    #[serde(deserialize_with = "object_or_json_text")]
    pub configuration: AiConfiguration,
}

fn object_or_json_text<'de, D: Deserializer<'de>>(d: D) -> Result<AiConfiguration, D::Error> {
    let value = serde_json::Value::deserialize(d)?;
    let value = match value {
        serde_json::Value::String(text) => {
            serde_json::from_str(&text).map_err(serde::de::Error::custom)?
        }
        other => other,
    };
    serde_json::from_value(value).map_err(serde::de::Error::custom)
}

/// Guardrail policies the gateway knows.
pub const GUARDRAILS: [&str; 5] = [
    "regexGuardrail",
    "wordCountGuardrail",
    "contentLengthGuardrail",
    "jsonSchemaGuardrail",
    "piiMasking",
];

impl AiConfiguration {
    /// Checks targets and guardrails; problems name the field under
    /// `subtypeConfiguration.configuration`.
    pub fn validate(&self) -> Result<(), InvalidField> {
        let at = |f: String| format!("subtypeConfiguration.configuration.{f}");
        if self.targets.is_empty() {
            return Err(InvalidField::new(at("targets".into()), "name at least one"));
        }
        for (i, target) in self.targets.iter().enumerate() {
            if !is_token(&target.name) {
                return Err(InvalidField::new(
                    at(format!("targets[{i}].name")),
                    "letters, digits, '-', '_' or '.'",
                ));
            }
            if self.targets[..i].iter().any(|t| t.name == target.name) {
                return Err(InvalidField::new(
                    at(format!("targets[{i}].name")),
                    format!("'{}' is used twice", target.name),
                ));
            }
            if !(target.url.starts_with("http://") || target.url.starts_with("https://")) {
                return Err(InvalidField::new(
                    at(format!("targets[{i}].url")),
                    "must be an http:// or https:// URL",
                ));
            }
            if target.weight == 0 && self.routing == RoutingStrategy::Weighted {
                return Err(InvalidField::new(
                    at(format!("targets[{i}].weight")),
                    "must be at least 1",
                ));
            }
        }
        if !(100..=600_000).contains(&self.request_timeout_ms) {
            return Err(InvalidField::new(
                at("requestTimeoutMs".into()),
                "between 100 and 600000",
            ));
        }
        for (i, guardrail) in self.guardrails.iter().enumerate() {
            if !GUARDRAILS.contains(&guardrail.policy_name.as_str()) {
                return Err(InvalidField::new(
                    at(format!("guardrails[{i}].policyName")),
                    format!(
                        "'{}' is not one of {}",
                        guardrail.policy_name,
                        GUARDRAILS.join(", ")
                    ),
                ));
            }
            if guardrail.policy_name == "jsonSchemaGuardrail" {
                // Gateways compile it with the same validator: what they would refuse is
                // refused here, naming the keyword.
                let field = at(format!("guardrails[{i}].parameters.schema"));
                let schema = match guardrail.parameters.get("schema") {
                    Some(serde_json::Value::String(text)) => {
                        serde_json::from_str(text).map_err(|e| {
                            InvalidField::new(field.clone(), format!("is not JSON: {e}"))
                        })?
                    }
                    None | Some(serde_json::Value::Null) => {
                        return Err(InvalidField::new(field, "is required"));
                    }
                    Some(other) => other.clone(),
                };
                crate::json_schema::JsonSchema::compile_lenient(&schema)
                    .map_err(|e| e.within(&field))?;
            }
        }
        Ok(())
    }
}

/// An AI API as the gateways of an environment receive it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AiDeployment {
    /// The API.
    pub api_id: String,
    /// The provider's message layout.
    pub provider: ProviderSpec,
    /// How targets are chosen.
    pub routing: RoutingStrategy,
    /// Per-target answer timeout.
    pub request_timeout_ms: u64,
    /// Targets, each with its sealed key.
    pub targets: Vec<DeployedTarget>,
    /// Guardrails.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub guardrails: Vec<PolicyRef>,
}

/// A target with its key sealed for the gateways.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeployedTarget {
    /// Name.
    pub name: String,
    /// Base URL.
    pub url: String,
    /// Model asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Weight.
    pub weight: u32,
    /// The provider key sealed under the gateways' credential key (AES-256-GCM, `v1:`…,
    /// bound to `api_id/name`); absent when the target takes no key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sealed_key: Option<String>,
}

/// The associated data a target's key is sealed with: a sealed key copied to another API or
/// target does not open.
pub fn credential_label(api_id: &str, target: &str) -> String {
    format!("ai-credential:{api_id}/{target}")
}

/// Token budgets of a subscription tier (WSO2 `AIAPIQUOTALIMIT`): counts per window; 0 =
/// no limit of that kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenQuota {
    /// The subscription tier.
    pub tier: String,
    /// Total tokens per window.
    #[serde(default)]
    pub total_tokens: i64,
    /// Prompt tokens per window.
    #[serde(default)]
    pub prompt_tokens: i64,
    /// Completion tokens per window.
    #[serde(default)]
    pub completion_tokens: i64,
    /// Window length in `time_unit`s.
    pub unit_time: i64,
    /// `sec`, `min`, `hour` or `day`.
    pub time_unit: String,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn built_in_providers_resolve_their_paths_and_key_placement() {
        let providers = built_in_providers();
        let spec = |id: &str| {
            let p = providers.iter().find(|p| p.id == id).unwrap();
            p.configurations.spec(&p.name).unwrap()
        };
        let openai = spec("openai-1.0.0");
        assert_eq!(openai.auth_header.as_deref(), Some("Authorization"));
        assert_eq!(
            openai.prompt_tokens.as_deref(),
            Some("$.usage.prompt_tokens")
        );
        assert_eq!(
            spec("azure-openai-1.0.0").auth_header.as_deref(),
            Some("api-key")
        );
        let anthropic = spec("anthropic-1.0.0");
        assert_eq!(anthropic.auth_header.as_deref(), Some("x-api-key"));
        assert_eq!(anthropic.total_tokens, None);
        assert_eq!(
            anthropic.completion_tokens.as_deref(),
            Some("$.usage.output_tokens")
        );
    }

    #[test]
    fn configuration_may_be_posted_as_json_text() {
        let text = r#"{"subtype":"AIAPI","configuration":"{\"llmProviderId\":\"openai-1.0.0\",\"targets\":[{\"name\":\"a\",\"url\":\"http://x\"}]}"}"#;
        let parsed: SubtypeConfiguration = serde_json::from_str(text).unwrap();
        assert_eq!(parsed.configuration.targets[0].weight, 1);
        assert_eq!(parsed.configuration.routing, RoutingStrategy::Failover);
    }

    #[test]
    fn json_paths_are_object_keys_only() {
        assert_eq!(
            json_path_segments("$.usage.total_tokens"),
            Some(vec!["usage", "total_tokens"])
        );
        assert_eq!(json_path_segments("$.choices[0].x"), None);
        assert_eq!(json_path_segments("usage"), None);
    }

    #[test]
    fn unknown_guardrails_are_named() {
        let config = AiConfiguration {
            llm_provider_id: "openai-1.0.0".into(),
            llm_provider_name: String::new(),
            llm_provider_api_version: String::new(),
            routing: RoutingStrategy::Failover,
            request_timeout_ms: 1_000,
            targets: vec![AiTarget {
                name: "a".into(),
                url: "http://x".into(),
                model: None,
                weight: 1,
                api_key: None,
            }],
            guardrails: vec![PolicyRef {
                policy_name: "magic".into(),
                policy_version: None,
                policy_id: None,
                parameters: Default::default(),
            }],
        };
        let error = config.validate().unwrap_err();
        assert_eq!(
            error.field,
            "subtypeConfiguration.configuration.guardrails[0].policyName"
        );
        let mut schema = config.clone();
        schema.guardrails[0].policy_name = "jsonSchemaGuardrail".into();
        schema.guardrails[0].parameters =
            serde_json::from_value(serde_json::json!({"schema": "{\"type\": \"text\"}"})).unwrap();
        assert_eq!(
            schema.validate().unwrap_err().field,
            "subtypeConfiguration.configuration.guardrails[0].parameters.schema.type"
        );
        schema.guardrails[0].parameters =
            serde_json::from_value(serde_json::json!({"schema": {"type": "object", "example": 1}}))
                .unwrap();
        schema.validate().unwrap();
    }
}
