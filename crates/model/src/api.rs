//! An API as the publisher defines it: name, context, version, endpoints and operations.
//!
//! The JSON shape follows WSO2 APIM 4.x's publisher `API` schema (camelCase field names,
//! `endpointConfig` with `production_endpoints`), so existing scripts carry over. The
//! newtypes here (`ApiName`, `ApiContext`, `ApiVersion`, `ResourceTarget`) reject bad input
//! when they are built; code past the REST edge trusts them.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::InvalidField;
use crate::lifecycle::LifecycleState;

/// Characters WSO2 refuses in an API name.
const NAME_FORBIDDEN: &str = "~!@#;:%^*()+={}|\\<>\"',&$[]/";

/// The display name of an API: 1–60 characters, none of WSO2's forbidden ones.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ApiName(String);

impl ApiName {
    /// Validates a name.
    pub fn parse(raw: &str) -> Result<Self, InvalidField> {
        let name = raw.trim();
        if name.is_empty() {
            return Err(InvalidField::new("name", "must not be empty"));
        }
        if name.chars().count() > 60 {
            return Err(InvalidField::new("name", "must be at most 60 characters"));
        }
        if let Some(c) = name
            .chars()
            .find(|c| NAME_FORBIDDEN.contains(*c) || c.is_control())
        {
            return Err(InvalidField::new("name", format!("must not contain '{c}'")));
        }
        Ok(Self(name.to_owned()))
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The base path of an API on the gateway, e.g. `/pizzashack`: starts with `/`, no trailing
/// `/`, segments of letters, digits, `-`, `_`, `.` and `~`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ApiContext(String);

impl ApiContext {
    /// Validates a context.
    pub fn parse(raw: &str) -> Result<Self, InvalidField> {
        let err = |reason: &str| Err(InvalidField::new("context", reason));
        if raw.is_empty() {
            return err("must not be empty");
        }
        if !raw.starts_with('/') {
            return err("must start with '/' (e.g. \"/pizzashack\")");
        }
        if raw == "/" {
            return err("must name at least one path segment (e.g. \"/pizzashack\")");
        }
        if raw.len() > 200 {
            return err("must be at most 200 characters");
        }
        if raw.ends_with('/') {
            return err("must not end with '/'");
        }
        for segment in raw[1..].split('/') {
            if segment.is_empty() {
                return err("must not contain an empty segment ('//')");
            }
            if segment == "." || segment == ".." {
                return err("must not contain '.' or '..' segments");
            }
            if let Some(c) = segment.chars().find(|c| !is_path_char(*c)) {
                return err(&format!(
                    "contains '{c}'; only letters, digits, '-', '_', '.', '~' and '/' are allowed"
                ));
            }
        }
        Ok(Self(raw.to_owned()))
    }

    /// The context as text, with its leading `/`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The version of an API, e.g. `1.0.0` or `v2`: 1–30 of letters, digits, `.`, `-`, `_`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ApiVersion(String);

impl ApiVersion {
    /// Validates a version.
    pub fn parse(raw: &str) -> Result<Self, InvalidField> {
        if raw.is_empty() {
            return Err(InvalidField::new("version", "must not be empty"));
        }
        if raw.len() > 30 {
            return Err(InvalidField::new(
                "version",
                "must be at most 30 characters",
            ));
        }
        if raw == "." || raw == ".." {
            return Err(InvalidField::new("version", "must not be '.' or '..'"));
        }
        if let Some(c) = raw
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || ".-_".contains(*c)))
        {
            return Err(InvalidField::new(
                "version",
                format!("contains '{c}'; only letters, digits, '.', '-' and '_' are allowed"),
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    /// The version as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn is_path_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-_.~".contains(c)
}

macro_rules! string_newtype_impls {
    ($($ty:ident),*) => {$(
        impl TryFrom<String> for $ty {
            type Error = InvalidField;
            fn try_from(raw: String) -> Result<Self, Self::Error> {
                Self::parse(&raw)
            }
        }
        impl From<$ty> for String {
            fn from(v: $ty) -> String {
                v.0
            }
        }
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    )*};
}
string_newtype_impls!(ApiName, ApiContext, ApiVersion, ResourceTarget);

/// The HTTP method of an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum HttpVerb {
    /// GET
    Get,
    /// POST
    Post,
    /// PUT
    Put,
    /// DELETE
    Delete,
    /// PATCH
    Patch,
    /// HEAD
    Head,
    /// OPTIONS
    Options,
    /// A topic's subscribers (WSO2 streaming APIs: `WS`, `SSE`, `WEBSUB`); a WebSocket or
    /// event-stream connection is a `GET`.
    Subscribe,
    /// A topic's publishers (WSO2 `WS` and `WEBSUB` APIs).
    Publish,
}

impl HttpVerb {
    /// The method name as it appears on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            HttpVerb::Get => "GET",
            HttpVerb::Post => "POST",
            HttpVerb::Put => "PUT",
            HttpVerb::Delete => "DELETE",
            HttpVerb::Patch => "PATCH",
            HttpVerb::Head => "HEAD",
            HttpVerb::Options => "OPTIONS",
            HttpVerb::Subscribe => "SUBSCRIBE",
            HttpVerb::Publish => "PUBLISH",
        }
    }

    /// Parses a method name, case-insensitively.
    pub fn parse(raw: &str) -> Option<Self> {
        Some(match raw.to_ascii_uppercase().as_str() {
            "GET" => HttpVerb::Get,
            "POST" => HttpVerb::Post,
            "PUT" => HttpVerb::Put,
            "DELETE" => HttpVerb::Delete,
            "PATCH" => HttpVerb::Patch,
            "HEAD" => HttpVerb::Head,
            "OPTIONS" => HttpVerb::Options,
            "SUBSCRIBE" => HttpVerb::Subscribe,
            "PUBLISH" => HttpVerb::Publish,
            _ => return None,
        })
    }
}

/// The resource path template of an operation, relative to `context/version`:
/// `/menu`, `/orders/{orderId}`, or a trailing wildcard `/orders/*` (and `/*` for all).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ResourceTarget(String);

impl ResourceTarget {
    /// Validates a resource template.
    pub fn parse(raw: &str) -> Result<Self, InvalidField> {
        let err = |reason: String| Err(InvalidField::new("target", reason));
        if !raw.starts_with('/') {
            return err("must start with '/' (e.g. \"/orders/{orderId}\")".into());
        }
        if raw.len() > 500 {
            return err("must be at most 500 characters".into());
        }
        if raw == "/" || raw == "/*" {
            return Ok(Self(raw.to_owned()));
        }
        let body = raw.strip_suffix('/').unwrap_or(raw);
        let segments: Vec<&str> = body[1..].split('/').collect();
        let last = segments.len() - 1;
        let mut names = Vec::new();
        for (i, segment) in segments.iter().enumerate() {
            if segment.is_empty() {
                return err("must not contain an empty segment ('//')".into());
            }
            if *segment == "*" {
                if i != last {
                    return err("a '*' wildcard may only be the last segment".into());
                }
                continue;
            }
            if let Some(inner) = segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                if inner.is_empty() || !inner.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                {
                    return err(format!("'{segment}' is not a valid path parameter"));
                }
                if names.contains(&inner) {
                    return err(format!("path parameter '{inner}' appears twice"));
                }
                names.push(inner);
                continue;
            }
            if *segment == "." || *segment == ".." {
                return err("must not contain '.' or '..' segments".into());
            }
            if let Some(c) = segment
                .chars()
                .find(|c| !(is_path_char(*c) || "@:!$&'()+,;=".contains(*c)))
            {
                return err(format!("contains '{c}', which is not allowed in a path"));
            }
        }
        Ok(Self(raw.to_owned()))
    }

    /// The template as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// How an operation authenticates callers (WSO2's `authType` values).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
pub enum AuthType {
    /// A token for an application or for a user of it (WSO2's default).
    #[default]
    #[serde(rename = "Application & Application User", alias = "Any")]
    Any,
    /// An application token (client_credentials).
    #[serde(rename = "Application")]
    Application,
    /// A token issued to a user of an application.
    #[serde(rename = "Application User")]
    ApplicationUser,
    /// An open resource: no token needed.
    #[serde(rename = "None")]
    None,
}

/// One operation of an API: verb + resource template, how it is secured and throttled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Operation {
    /// Stable identifier of the operation within its API (may be empty for new ones).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Resource template, relative to the API's context and version.
    pub target: ResourceTarget,
    /// HTTP method.
    pub verb: HttpVerb,
    /// Who may call it.
    #[serde(default)]
    pub auth_type: AuthType,
    /// Operation-level throttling policy (WSO2 default `Unlimited`).
    #[serde(default = "unlimited")]
    pub throttling_policy: String,
    /// OAuth2 scopes a token must carry to call it (any one is not enough: all of them).
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Header policies of this operation alone (WSO2 4.x `operationPolicies`), applied
    /// after the API's `apiPolicies`.
    #[serde(default, skip_serializing_if = "crate::ApiPolicies::is_empty")]
    pub operation_policies: crate::ApiPolicies,
}

/// WSO2's default throttling policy of an operation.
pub(crate) fn unlimited() -> String {
    "Unlimited".to_owned()
}

/// One upstream endpoint (`{"url": "https://backend/v1", "config": {"actionDuration": "30000"}}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoint {
    /// The base URL requests are forwarded to; the resource path is appended.
    pub url: String,
    /// WSO2 endpoint settings; `actionDuration` (ms) is the request timeout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<EndpointSettings>,
}

/// Per-endpoint settings in WSO2's `endpointConfig` (`config` object).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct EndpointSettings {
    /// The time the gateway waits for the upstream's response, in milliseconds (a string in WSO2).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "opt_string_number"
    )]
    pub action_duration: Option<u64>,
}

impl Endpoint {
    /// The request timeout of this endpoint, in milliseconds, if set.
    pub fn timeout_ms(&self) -> Option<u64> {
        self.config.as_ref().and_then(|c| c.action_duration)
    }

    fn validate(&self, field: &str) -> Result<(), InvalidField> {
        let rest = self
            .url
            .strip_prefix("http://")
            .or_else(|| self.url.strip_prefix("https://"))
            // WebSocket APIs name their upstreams as WSO2 does; the handshake goes over HTTP.
            .or_else(|| self.url.strip_prefix("ws://"))
            .or_else(|| self.url.strip_prefix("wss://"))
            .ok_or_else(|| {
                InvalidField::new(
                    format!("{field}.url"),
                    "must be an http://, https://, ws:// or wss:// URL",
                )
            })?;
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        if authority.is_empty()
            || authority.contains('@')
            || authority.contains(char::is_whitespace)
        {
            return Err(InvalidField::new(
                format!("{field}.url"),
                "must name a host (and no user info)",
            ));
        }
        if self.url.contains(['?', '#']) {
            return Err(InvalidField::new(
                format!("{field}.url"),
                "must not carry a query or fragment",
            ));
        }
        if self.timeout_ms() == Some(0) {
            return Err(InvalidField::new(
                format!("{field}.config.actionDuration"),
                "must be a positive number of milliseconds",
            ));
        }
        Ok(())
    }
}

/// WSO2's `endpointConfig`: where the gateway sends production and sandbox traffic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointConfig {
    /// `http` (one endpoint each), `load_balance` (a list, used in turn) or `failover` (one
    /// endpoint, then its `*_failovers` in order when it fails).
    #[serde(default = "http_endpoint_type")]
    pub endpoint_type: String,
    /// Endpoint(s) for PRODUCTION keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub production_endpoints: Option<Endpoints>,
    /// Endpoint(s) for SANDBOX keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox_endpoints: Option<Endpoints>,
    /// `failover`: the endpoints tried, in order, after `production_endpoints`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub production_failovers: Vec<Endpoint>,
    /// `failover`: the endpoints tried, in order, after `sandbox_endpoints`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sandbox_failovers: Vec<Endpoint>,
    /// `load_balance` algorithm (WSO2 `algoClassName`): round robin
    /// (`org.apache.synapse.endpoints.algorithms.RoundRobin`, the default) or `LeastRequest`
    /// (the member with the fewest requests in flight).
    #[serde(
        default,
        rename = "algoClassName",
        skip_serializing_if = "Option::is_none"
    )]
    pub algo_class_name: Option<String>,
    /// Active health checks of every member (a Gantry extension of WSO2's free-form object).
    #[serde(
        default,
        rename = "healthCheck",
        skip_serializing_if = "Option::is_none"
    )]
    pub health_check: Option<HealthCheck>,
    /// Speak HTTP/2 to these endpoints (a Gantry extension, like Envoy's per-cluster
    /// `http2_protocol_options`): h2c with prior knowledge to `http://` URLs, h2 negotiated
    /// by TLS ALPN to `https://` ones. Off: HTTP/1.1. gRPC requests go over HTTP/2 either way.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub http2: bool,
}

/// Active health checking: the gateway probes each endpoint with `GET <endpoint URL><path>`
/// every `intervalMs`; a member that fails `unhealthyThreshold` probes in a row (non-2xx,
/// connection error or no answer within `timeoutMs`) gets no traffic until one succeeds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HealthCheck {
    /// Path probed, appended to each endpoint's URL (`/health`).
    pub path: String,
    /// Time between probes, ms (default 10 000, at least 100).
    #[serde(default = "default_health_interval_ms")]
    pub interval_ms: u64,
    /// Time allowed for a probe's answer, ms (default 2 000).
    #[serde(default = "default_health_timeout_ms")]
    pub timeout_ms: u64,
    /// Consecutive failures that take a member out (default 2).
    #[serde(default = "default_unhealthy_threshold")]
    pub unhealthy_threshold: u32,
}

fn default_health_interval_ms() -> u64 {
    10_000
}

fn default_health_timeout_ms() -> u64 {
    2_000
}

fn default_unhealthy_threshold() -> u32 {
    2
}

/// How a `load_balance` endpoint spreads requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BalanceAlgorithm {
    /// Each member in turn.
    RoundRobin,
    /// The member with the fewest requests in flight.
    LeastRequest,
}

impl Default for EndpointConfig {
    /// `http` with no endpoint yet.
    fn default() -> Self {
        Self {
            endpoint_type: http_endpoint_type(),
            production_endpoints: None,
            sandbox_endpoints: None,
            production_failovers: Vec::new(),
            sandbox_failovers: Vec::new(),
            algo_class_name: None,
            health_check: None,
            http2: false,
        }
    }
}

/// One endpoint (`http`), or the members of a `load_balance` endpoint, as WSO2 writes them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Endpoints {
    /// `{"url": ...}`.
    One(Endpoint),
    /// `[{"url": ...}, {"url": ...}]`.
    Many(Vec<Endpoint>),
}

impl Endpoints {
    /// The endpoints, in order.
    pub fn as_slice(&self) -> &[Endpoint] {
        match self {
            Endpoints::One(e) => std::slice::from_ref(e),
            Endpoints::Many(v) => v,
        }
    }

    fn validate(&self, endpoint_type: &str, field: &str) -> Result<(), InvalidField> {
        match self {
            Endpoints::One(e) => e.validate(field),
            Endpoints::Many(_) if endpoint_type != "load_balance" => Err(InvalidField::new(
                field,
                "must be one endpoint object for endpoint_type \"http\" (a list needs \"load_balance\")",
            )),
            Endpoints::Many(v) if v.is_empty() => {
                Err(InvalidField::new(field, "must list at least one endpoint"))
            }
            Endpoints::Many(v) => v
                .iter()
                .enumerate()
                .try_for_each(|(i, e)| e.validate(&format!("{field}[{i}]"))),
        }
    }
}

impl From<Endpoint> for Endpoints {
    fn from(endpoint: Endpoint) -> Self {
        Endpoints::One(endpoint)
    }
}

fn http_endpoint_type() -> String {
    "http".to_owned()
}

impl EndpointConfig {
    /// The `load_balance` algorithm named by `algoClassName`, if it is one Gantry knows.
    pub fn balance_algorithm(&self) -> Option<BalanceAlgorithm> {
        match self.algo_class_name.as_deref() {
            None | Some("") => Some(BalanceAlgorithm::RoundRobin),
            Some(name) if name.ends_with("RoundRobin") => Some(BalanceAlgorithm::RoundRobin),
            Some(name) if name.ends_with("LeastRequest") => Some(BalanceAlgorithm::LeastRequest),
            Some(_) => None,
        }
    }

    /// Checks the URLs and settings; at least one endpoint must be given.
    pub fn validate(&self) -> Result<(), InvalidField> {
        if !matches!(
            self.endpoint_type.as_str(),
            "http" | "load_balance" | "failover"
        ) {
            return Err(InvalidField::new(
                "endpointConfig.endpoint_type",
                format!(
                    "'{}' is not supported; use \"http\", \"load_balance\" or \"failover\"",
                    self.endpoint_type
                ),
            ));
        }
        if let Some(check) = &self.health_check {
            if !check.path.starts_with('/') || check.path.contains(['?', '#', ' ']) {
                return Err(InvalidField::new(
                    "endpointConfig.healthCheck.path",
                    "must be a path starting with '/'",
                ));
            }
            if check.interval_ms < 100 || check.timeout_ms == 0 || check.unhealthy_threshold == 0 {
                return Err(InvalidField::new(
                    "endpointConfig.healthCheck",
                    "intervalMs must be at least 100, timeoutMs and unhealthyThreshold positive",
                ));
            }
        }
        if self.balance_algorithm().is_none() {
            return Err(InvalidField::new(
                "endpointConfig.algoClassName",
                "must be org.apache.synapse.endpoints.algorithms.RoundRobin or LeastRequest",
            ));
        }
        for (field, failovers) in [
            ("production_failovers", &self.production_failovers),
            ("sandbox_failovers", &self.sandbox_failovers),
        ] {
            if !failovers.is_empty() && self.endpoint_type != "failover" {
                return Err(InvalidField::new(
                    format!("endpointConfig.{field}"),
                    "needs endpoint_type \"failover\"",
                ));
            }
            for (i, e) in failovers.iter().enumerate() {
                e.validate(&format!("endpointConfig.{field}[{i}]"))?;
            }
        }
        if self.production_endpoints.is_none() && self.sandbox_endpoints.is_none() {
            return Err(InvalidField::new(
                "endpointConfig",
                "needs production_endpoints or sandbox_endpoints with a url",
            ));
        }
        if let Some(e) = &self.production_endpoints {
            e.validate(&self.endpoint_type, "endpointConfig.production_endpoints")?;
        }
        if let Some(e) = &self.sandbox_endpoints {
            e.validate(&self.endpoint_type, "endpointConfig.sandbox_endpoints")?;
        }
        Ok(())
    }
}

/// An API as stored and served by the publisher REST API.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Api {
    /// UUID.
    pub id: String,
    /// Display name; unique together with `version`.
    pub name: ApiName,
    /// Free text.
    #[serde(default)]
    pub description: Option<String>,
    /// Base path on the gateway; unique together with `version`.
    pub context: ApiContext,
    /// Version; the gateway path is `context/version/resource`.
    pub version: ApiVersion,
    /// The user who created it.
    pub provider: String,
    /// Where the API is in its lifecycle.
    pub life_cycle_status: LifecycleState,
    /// Whether this is the default version of the API (reachable without the version segment).
    #[serde(default)]
    pub is_default_version: bool,
    /// WSO2's API type: `HTTP`, or a streaming type (`crate::streaming::ApiType`).
    #[serde(rename = "type")]
    pub api_type: String,
    /// `http` and/or `https`.
    pub transport: Vec<String>,
    /// Free-form tags.
    #[serde(default)]
    pub tags: Vec<String>,
    /// The subscription tiers offered (e.g. `["Gold", "Unlimited"]`).
    pub policies: Vec<String>,
    /// The header the gateway reads the token from (default `Authorization`).
    pub authorization_header: String,
    /// Security schemes: `oauth2` (bearer access tokens) and/or `api_key` (API keys).
    pub security_scheme: Vec<String>,
    /// API key header, header mediation and backend JWT (WSO2 field names, flattened).
    #[serde(flatten)]
    pub gateway: crate::GatewayPolicies,
    /// `PUBLIC`, `PRIVATE` or `RESTRICTED`.
    pub visibility: String,
    /// Business information, additional properties, categories, visible and access-control
    /// roles (WSO2 field names, flattened).
    #[serde(flatten)]
    pub details: crate::ApiDetails,
    /// Where traffic goes.
    pub endpoint_config: EndpointConfig,
    /// Cross-origin resource sharing, answered at the gateway.
    #[serde(default)]
    pub cors_configuration: CorsConfiguration,
    /// The resources of the API.
    pub operations: Vec<Operation>,
    /// `AIAPI` for an API in front of an LLM provider (WSO2 `subtype`); absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subtype: Option<String>,
    /// An AI API's provider, targets, routing and guardrails (WSO2 `subtypeConfiguration`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subtype_configuration: Option<crate::ai::SubtypeConfiguration>,
    /// When it was created, RFC 3339.
    pub created_time: String,
    /// When it was last changed, RFC 3339.
    pub last_updated_time: String,
}

/// An API's CORS policy (WSO2 `APICorsConfiguration`). When enabled, the gateway answers
/// preflight requests itself and adds `Access-Control-Allow-*` to responses for allowed origins.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct CorsConfiguration {
    /// Whether the gateway applies CORS for this API.
    pub cors_configuration_enabled: bool,
    /// Allowed origins (`scheme://host[:port]`), or `*` for any.
    pub access_control_allow_origins: Vec<String>,
    /// Whether credentials (cookies, `Authorization`) may be sent cross-origin.
    pub access_control_allow_credentials: bool,
    /// Request headers a cross-origin caller may send.
    pub access_control_allow_headers: Vec<String>,
    /// Methods a cross-origin caller may use.
    pub access_control_allow_methods: Vec<String>,
}

impl Default for CorsConfiguration {
    /// WSO2's defaults: disabled; any origin, its usual headers and methods when enabled.
    fn default() -> Self {
        let strings = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect();
        Self {
            cors_configuration_enabled: false,
            access_control_allow_origins: strings(&["*"]),
            access_control_allow_credentials: false,
            access_control_allow_headers: strings(&[
                "authorization",
                "Access-Control-Allow-Origin",
                "Content-Type",
                "SOAPAction",
                "apikey",
            ]),
            access_control_allow_methods: strings(&[
                "GET", "PUT", "POST", "DELETE", "PATCH", "OPTIONS",
            ]),
        }
    }
}

impl CorsConfiguration {
    /// Origins are `*` or `http(s)://host[:port]`; headers are header names; methods are HTTP
    /// verbs. Errors name the field under `corsConfiguration`.
    pub fn validate(&self) -> Result<(), InvalidField> {
        let field = |name: &str, i: usize| format!("corsConfiguration.{name}[{i}]");
        for (i, origin) in self.access_control_allow_origins.iter().enumerate() {
            let host = origin
                .strip_prefix("http://")
                .or_else(|| origin.strip_prefix("https://"));
            let valid = origin == "*"
                || host.is_some_and(|h| {
                    !h.is_empty()
                        && h.bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
                });
            if !valid {
                return Err(InvalidField::new(
                    field("accessControlAllowOrigins", i),
                    format!("'{origin}' is not '*' or an origin like https://app.example.com"),
                ));
            }
        }
        for (i, name) in self.access_control_allow_headers.iter().enumerate() {
            if name.is_empty()
                || !name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b))
            {
                return Err(InvalidField::new(
                    field("accessControlAllowHeaders", i),
                    format!("'{name}' is not a header name"),
                ));
            }
        }
        for (i, method) in self.access_control_allow_methods.iter().enumerate() {
            if HttpVerb::parse(method).is_none() {
                return Err(InvalidField::new(
                    field("accessControlAllowMethods", i),
                    format!("'{method}' is not an HTTP method"),
                ));
            }
        }
        Ok(())
    }
}

/// Serialises an `Option<u64>` as a string and accepts a string or a number, as WSO2 does.
mod opt_string_number {
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub fn serialize<S: Serializer>(v: &Option<u64>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(n) => s.serialize_str(&n.to_string()),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Num(u64),
            Text(String),
        }
        match Option::<Raw>::deserialize(d)? {
            None => Ok(None),
            Some(Raw::Num(n)) => Ok(Some(n)),
            Some(Raw::Text(t)) if t.trim().is_empty() => Ok(None),
            Some(Raw::Text(t)) => t
                .trim()
                .parse()
                .map(Some)
                .map_err(|_| D::Error::custom(format!("'{t}' is not a number of milliseconds"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_requires_leading_slash() {
        let e = ApiContext::parse("pizzashack").unwrap_err();
        assert_eq!(e.field, "context");
        assert!(e.reason.contains("start with '/'"));
        assert!(ApiContext::parse("/pizzashack").is_ok());
        assert!(ApiContext::parse("/shop/pizza").is_ok());
    }

    #[test]
    fn context_rejects_traversal_empty_segments_and_odd_characters() {
        for bad in [
            "/",
            "/a/",
            "/a//b",
            "/a/../b",
            "/a b",
            "/a?x",
            "/%2e%2e",
            "/{version}",
        ] {
            assert!(ApiContext::parse(bad).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn version_rejects_slashes_and_blank() {
        assert!(ApiVersion::parse("1.0.0").is_ok());
        assert!(ApiVersion::parse("v2-beta_1").is_ok());
        for bad in ["", "1/0", "..", "1 0"] {
            assert!(ApiVersion::parse(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn name_rejects_wso2_forbidden_characters() {
        assert!(ApiName::parse("PizzaShack API").is_ok());
        assert!(ApiName::parse("<script>").is_err());
        assert!(ApiName::parse("   ").is_err());
    }

    #[test]
    fn targets_accept_templates_and_trailing_wildcards_only() {
        for good in [
            "/",
            "/*",
            "/menu",
            "/orders/{orderId}",
            "/orders/{id}/items/*",
            "/a/",
        ] {
            assert!(
                ResourceTarget::parse(good).is_ok(),
                "{good} should be accepted"
            );
        }
        for bad in [
            "menu", "/a/*/b", "/{}", "/{a}/{a}", "/a//b", "/a/../b", "/a b",
        ] {
            assert!(
                ResourceTarget::parse(bad).is_err(),
                "{bad} should be refused"
            );
        }
    }

    #[test]
    fn endpoint_timeout_reads_string_or_number() {
        let e: Endpoint =
            serde_json::from_str(r#"{"url":"http://x","config":{"actionDuration":"1500"}}"#)
                .unwrap();
        assert_eq!(e.timeout_ms(), Some(1500));
        let e: Endpoint =
            serde_json::from_str(r#"{"url":"http://x","config":{"actionDuration":20}}"#).unwrap();
        assert_eq!(e.timeout_ms(), Some(20));
    }

    #[test]
    fn endpoint_config_needs_a_well_formed_url() {
        let bad = EndpointConfig {
            endpoint_type: "http".into(),
            production_endpoints: Some(
                Endpoint {
                    url: "ftp://x".into(),
                    config: None,
                }
                .into(),
            ),
            sandbox_endpoints: None,
            ..Default::default()
        };
        assert_eq!(
            bad.validate().unwrap_err().field,
            "endpointConfig.production_endpoints.url"
        );
        let none = EndpointConfig::default();
        assert!(none.validate().is_err());
    }

    #[test]
    fn http2_is_off_unless_set_and_written_only_when_on() {
        let parse = |v: serde_json::Value| serde_json::from_value::<EndpointConfig>(v);
        let plain =
            parse(serde_json::json!({"production_endpoints": {"url": "http://a:1"}})).unwrap();
        assert!(!plain.http2);
        assert!(serde_json::to_value(&plain).unwrap().get("http2").is_none());
        let h2 = parse(
            serde_json::json!({"http2": true, "production_endpoints": {"url": "http://a:1"}}),
        )
        .unwrap();
        assert!(h2.http2);
        assert_eq!(serde_json::to_value(&h2).unwrap()["http2"], true);
        assert!(parse(serde_json::json!({"http2": "yes"})).is_err());
    }

    #[test]
    fn load_balance_takes_a_list_and_http_takes_one() {
        let parse = |v: serde_json::Value| serde_json::from_value::<EndpointConfig>(v).unwrap();
        let lb = parse(serde_json::json!({"endpoint_type": "load_balance",
            "algoCombo": "org.apache.synapse.endpoints.algorithms.RoundRobin",
            "production_endpoints": [{"url": "http://a:1"}, {"url": "http://b:2/x"}]}));
        lb.validate().unwrap();
        assert_eq!(
            lb.production_endpoints.as_ref().unwrap().as_slice().len(),
            2
        );
        let bad_member = parse(serde_json::json!({"endpoint_type": "load_balance",
            "production_endpoints": [{"url": "http://a:1"}, {"url": "ftp://b"}]}));
        assert_eq!(
            bad_member.validate().unwrap_err().field,
            "endpointConfig.production_endpoints[1].url"
        );
        let list_for_http = parse(serde_json::json!({"endpoint_type": "http",
            "production_endpoints": [{"url": "http://a:1"}]}));
        assert_eq!(
            list_for_http.validate().unwrap_err().field,
            "endpointConfig.production_endpoints"
        );
        let empty = parse(serde_json::json!({"endpoint_type": "load_balance",
            "production_endpoints": []}));
        assert!(empty.validate().is_err());
        let failover = parse(serde_json::json!({"endpoint_type": "failover",
            "production_endpoints": {"url": "http://a:1"},
            "production_failovers": [{"url": "http://b:1"}]}));
        failover.validate().unwrap();
        let misplaced = parse(serde_json::json!({"endpoint_type": "http",
            "production_endpoints": {"url": "http://a:1"},
            "production_failovers": [{"url": "http://b:1"}]}));
        assert_eq!(
            misplaced.validate().unwrap_err().field,
            "endpointConfig.production_failovers"
        );
        let least = parse(serde_json::json!({"endpoint_type": "load_balance",
            "algoClassName": "LeastRequest",
            "production_endpoints": [{"url": "http://a:1"}]}));
        assert_eq!(
            least.balance_algorithm(),
            Some(BalanceAlgorithm::LeastRequest)
        );
        let probed = parse(serde_json::json!({"endpoint_type": "load_balance",
            "healthCheck": {"path": "health"},
            "production_endpoints": [{"url": "http://a:1"}]}));
        assert_eq!(
            probed.validate().unwrap_err().field,
            "endpointConfig.healthCheck.path"
        );
        let unknown = parse(serde_json::json!({"endpoint_type": "load_balance",
            "algoClassName": "Random",
            "production_endpoints": [{"url": "http://a:1"}]}));
        assert_eq!(
            unknown.validate().unwrap_err().field,
            "endpointConfig.algoClassName"
        );
    }
}
