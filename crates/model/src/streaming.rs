//! API types beyond REST — streaming (WSO2's `WS`, `SSE`, `WEBSUB`) and `SOAP`: which types
//! Gantry serves, which operation verbs each takes, and their per-API settings. Operations
//! of a streaming API are topics (`SUBSCRIBE`/`PUBLISH` on a target), as WSO2 4.x models
//! them; a SOAP API's are `POST`s named after the WSDL's operations.

use serde::{Deserialize, Serialize};

use crate::InvalidField;
use crate::api::HttpVerb;

/// The API types Gantry serves (WSO2's `type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiType {
    /// A REST API (the default).
    Http,
    /// A WebSocket API whose topics clients subscribe and publish to.
    Ws,
    /// A server-sent-events API: clients subscribe to an upstream's event stream.
    Sse,
    /// A WebSub API: the gateway is the hub; subscribers register callbacks for topics,
    /// the publisher posts events, the hub delivers them.
    WebSub,
    /// A SOAP pass-through API: operations from a WSDL's bindings, routed by SOAPAction.
    Soap,
    /// A GraphQL API: POST and GET on its context; its root fields are checked by the
    /// gateway's GraphQL stage.
    GraphQl,
}

impl ApiType {
    /// Parses WSO2's `type`, exactly as WSO2 spells it.
    pub fn parse(raw: &str) -> Option<Self> {
        Some(match raw {
            "HTTP" => ApiType::Http,
            "WS" => ApiType::Ws,
            "SSE" => ApiType::Sse,
            "WEBSUB" => ApiType::WebSub,
            "SOAP" => ApiType::Soap,
            "GRAPHQL" => ApiType::GraphQl,
            _ => return None,
        })
    }

    /// The type as WSO2 spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            ApiType::Http => "HTTP",
            ApiType::Ws => "WS",
            ApiType::Sse => "SSE",
            ApiType::WebSub => "WEBSUB",
            ApiType::Soap => "SOAP",
            ApiType::GraphQl => "GRAPHQL",
        }
    }

    /// Whether the API's operations are topics (`SUBSCRIBE`/`PUBLISH`) rather than HTTP
    /// methods on resources.
    pub fn has_topics(self) -> bool {
        matches!(self, ApiType::Ws | ApiType::Sse | ApiType::WebSub)
    }

    /// The operation verbs this type takes, as WSO2 names them.
    pub fn verbs(self) -> &'static [HttpVerb] {
        match self {
            ApiType::Http => &[
                HttpVerb::Get,
                HttpVerb::Post,
                HttpVerb::Put,
                HttpVerb::Delete,
                HttpVerb::Patch,
                HttpVerb::Head,
                HttpVerb::Options,
            ],
            ApiType::Ws => &[HttpVerb::Subscribe, HttpVerb::Publish],
            ApiType::Sse | ApiType::WebSub => &[HttpVerb::Subscribe],
            ApiType::Soap => &[HttpVerb::Post],
            ApiType::GraphQl => &[HttpVerb::Post, HttpVerb::Get],
        }
    }

    /// The verb an API of this type gets on `/*` when created without operations (WSO2
    /// gives REST APIs one per common method, which `verbs` lists).
    pub fn default_verbs(self) -> &'static [HttpVerb] {
        match self {
            ApiType::Http => &[
                HttpVerb::Get,
                HttpVerb::Put,
                HttpVerb::Post,
                HttpVerb::Delete,
                HttpVerb::Patch,
            ],
            ApiType::Ws => &[HttpVerb::Subscribe, HttpVerb::Publish],
            ApiType::Sse | ApiType::WebSub => &[HttpVerb::Subscribe],
            ApiType::Soap => &[HttpVerb::Post],
            ApiType::GraphQl => &[HttpVerb::Post, HttpVerb::Get],
        }
    }
}

/// The types a `type` field may name, for error messages.
pub const SUPPORTED_TYPES: &str = "\"HTTP\", \"GRAPHQL\", \"WS\", \"SSE\", \"WEBSUB\", \"SOAP\"";

/// Per-API settings of a streaming connection (a Gantry extension of WSO2's `API`,
/// `streamingSettings`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct StreamingSettings {
    /// A WebSocket connection with no frame either way for this many seconds is closed
    /// (close code 1001); absent: the gateway's `--websocket-idle-timeout-secs`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idle_timeout_seconds: Option<u64>,
}

impl StreamingSettings {
    /// The idle timeout, when set, is 1 s to 1 day.
    pub fn validate(&self) -> Result<(), InvalidField> {
        match self.idle_timeout_seconds {
            Some(s) if !(1..=86_400).contains(&s) => Err(InvalidField::new(
                "streamingSettings.idleTimeoutSeconds",
                "must be between 1 and 86400 seconds",
            )),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_parse_as_wso2_spells_them_and_topics_take_topic_verbs() {
        for t in [
            ApiType::Http,
            ApiType::Ws,
            ApiType::Sse,
            ApiType::WebSub,
            ApiType::Soap,
        ] {
            assert_eq!(ApiType::parse(t.as_str()), Some(t));
        }
        assert_eq!(ApiType::parse("ws"), None);
        assert!(ApiType::Sse.verbs().contains(&HttpVerb::Subscribe));
        assert!(!ApiType::Sse.verbs().contains(&HttpVerb::Publish));
        assert!(!ApiType::Http.verbs().contains(&HttpVerb::Subscribe));
        assert!(ApiType::Ws.has_topics() && !ApiType::Http.has_topics());
    }

    #[test]
    fn idle_timeout_is_bounded() {
        let s = |n| StreamingSettings {
            idle_timeout_seconds: Some(n),
        };
        assert!(s(30).validate().is_ok());
        assert!(s(0).validate().is_err());
        assert!(s(86_401).validate().is_err());
    }
}

/// How the publisher of a WebSub API signs the events it posts to the hub (WSO2
/// `websubSubscriptionConfiguration`): when enabled, an event without a valid signature is
/// refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebSubConfiguration {
    /// Whether events must be signed.
    #[serde(default)]
    pub enable: bool,
    /// The shared secret of the HMAC.
    #[serde(default)]
    pub secret: String,
    /// `SHA256` (`SHA1` is refused).
    #[serde(default = "sha256")]
    pub signing_algorithm: String,
    /// The header carrying `sha256=<hex>` (WSO2 default `x-hub-signature`).
    #[serde(default = "hub_signature")]
    pub signature_header: String,
}

fn sha256() -> String {
    "SHA256".to_owned()
}

fn hub_signature() -> String {
    "x-hub-signature".to_owned()
}

impl WebSubConfiguration {
    /// An enabled configuration has a secret, SHA-256 and a header name.
    pub fn validate(&self) -> Result<(), InvalidField> {
        let field = |name: &str| format!("websubSubscriptionConfiguration.{name}");
        if !self.signing_algorithm.eq_ignore_ascii_case("SHA256") {
            return Err(InvalidField::new(
                field("signingAlgorithm"),
                "only SHA256 is supported",
            ));
        }
        if self.signature_header.is_empty()
            || !self
                .signature_header
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(InvalidField::new(
                field("signatureHeader"),
                "must be a header name",
            ));
        }
        if self.enable && self.secret.len() < 16 {
            return Err(InvalidField::new(
                field("secret"),
                "must be at least 16 characters when enabled",
            ));
        }
        Ok(())
    }
}
