//! Custom rules: Gantry's declarative stand-in for WSO2's Siddhi custom throttling rules
//! (`/throttling/policies/custom`). A rule is a keyed limit over request attributes — WSO2's
//! `keyTemplate` (`$userId`, `$apiContext:$apiVersion`, `$clientIp`…) names what is counted
//! together — optionally only for calls that meet conditions (WSO2's condition types), and
//! applies to every API in every environment, as WSO2's custom rules do.

use serde::{Deserialize, Serialize};

use crate::InvalidField;
use crate::throttle_conditions::{GroupLimit, ThrottleCondition};

/// A custom rule as gateways receive it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomRule {
    /// The rule's name (WSO2 `policyName`), unique.
    pub name: String,
    /// WSO2's `keyTemplate`: what is counted together.
    pub key_template: String,
    /// Calls the rule counts: those meeting every condition (all calls when empty).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<ThrottleCondition>,
    /// The limit per key.
    pub limit: GroupLimit,
}

/// One piece of a key template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyPart {
    /// Text as written (`:` between attributes).
    Literal(String),
    /// `$userId`: the subject of the token or API key (anonymous calls: empty).
    UserId,
    /// `$apiContext`: the API's context (`/pizzashack`).
    ApiContext,
    /// `$apiVersion`: the API's version.
    ApiVersion,
    /// `$resourceKey`: the operation (`GET /menu`).
    ResourceKey,
    /// `$appId`: the calling application's id (anonymous calls: empty).
    AppId,
    /// `$clientIp`: the client's address (the connection's peer).
    ClientIp,
    /// `$header(Name)`: the value of a request header (Gantry's addition).
    Header(String),
}

/// The attributes a key template may name, for messages.
pub const KEY_ATTRIBUTES: &str =
    "$userId, $apiContext, $apiVersion, $resourceKey, $appId, $clientIp, $header(Name)";

/// Parses a key template; the error names `keyTemplate`.
pub fn parse_key_template(template: &str) -> Result<Vec<KeyPart>, InvalidField> {
    let bad = |reason: String| InvalidField::new("keyTemplate", reason);
    if template.trim().is_empty() {
        return Err(bad("is required".into()));
    }
    let mut parts = Vec::new();
    let mut rest = template;
    let mut named = false;
    while let Some(at) = rest.find('$') {
        if at > 0 {
            parts.push(KeyPart::Literal(rest[..at].to_owned()));
        }
        let after = &rest[at + 1..];
        let end = after
            .find(|c: char| !c.is_ascii_alphanumeric())
            .unwrap_or(after.len());
        let name = &after[..end];
        let mut next = &after[end..];
        let part = match name {
            "userId" => KeyPart::UserId,
            "apiContext" => KeyPart::ApiContext,
            "apiVersion" => KeyPart::ApiVersion,
            "resourceKey" => KeyPart::ResourceKey,
            "appId" => KeyPart::AppId,
            "clientIp" => KeyPart::ClientIp,
            // One tenant: WSO2's tenant attributes are constant.
            "appTenant" | "apiTenant" => KeyPart::Literal("carbon.super".into()),
            "header" => {
                let inner = next
                    .strip_prefix('(')
                    .and_then(|n| n.split_once(')'))
                    .filter(|(h, _)| {
                        !h.is_empty()
                            && h.bytes()
                                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                    })
                    .ok_or_else(|| bad("$header needs a header name: $header(X-Client)".into()))?;
                next = inner.1;
                KeyPart::Header(inner.0.to_ascii_lowercase())
            }
            other => {
                return Err(bad(format!(
                    "'${other}' is not an attribute; use {KEY_ATTRIBUTES}"
                )));
            }
        };
        named |= !matches!(part, KeyPart::Literal(_));
        parts.push(part);
        rest = next;
    }
    if !rest.is_empty() {
        parts.push(KeyPart::Literal(rest.to_owned()));
    }
    if !named {
        return Err(bad(format!("names no attribute; use {KEY_ATTRIBUTES}")));
    }
    Ok(parts)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn wso2_key_templates_parse() {
        assert_eq!(
            parse_key_template("$userId:$apiContext:$apiVersion").unwrap(),
            [
                KeyPart::UserId,
                KeyPart::Literal(":".into()),
                KeyPart::ApiContext,
                KeyPart::Literal(":".into()),
                KeyPart::ApiVersion
            ]
        );
        assert_eq!(
            parse_key_template("$header(X-Client)-$clientIp").unwrap(),
            [
                KeyPart::Header("x-client".into()),
                KeyPart::Literal("-".into()),
                KeyPart::ClientIp
            ]
        );
        assert!(parse_key_template("$user").is_err());
        assert!(parse_key_template("plain").is_err());
        assert!(parse_key_template("$header").is_err());
        assert!(parse_key_template("").is_err());
    }
}
