//! Custom rules, compiled: each rule's conditions and limit (a conditional `Group`) and its
//! key template, so the limit stage builds one counter key per call from the attributes
//! the template names. A configuration without custom rules has an empty list.

use std::fmt::Write as _;
use std::net::IpAddr;
use std::sync::Arc;

use gantry_model::GatewaySnapshot;
use gantry_model::custom_rules::{KeyPart, parse_key_template};
use http::HeaderMap;

use super::conditions::Group;

/// One custom rule.
pub struct CompiledRule {
    /// The rule's name (the first part of its counters' keys).
    pub name: Arc<str>,
    /// Which calls count, and the limit per key.
    pub group: Group,
    parts: Box<[KeyPart]>,
}

/// The attributes a key template may name, for one call.
pub struct KeyAttributes<'a> {
    /// Subject of the token or API key (empty when anonymous).
    pub user: &'a str,
    /// The API's context.
    pub api_context: &'a str,
    /// The API's version.
    pub api_version: &'a str,
    /// The operation (`GET /menu`).
    pub resource: &'a str,
    /// The calling application's id (empty when anonymous).
    pub application: &'a str,
    /// The client's address.
    pub peer: IpAddr,
    /// The request's headers.
    pub headers: &'a HeaderMap,
}

impl CompiledRule {
    /// The rules of `snapshot`; what does not compile is added to `problems`.
    pub fn compile_all(snapshot: &GatewaySnapshot, problems: &mut Vec<String>) -> Box<[Self]> {
        snapshot
            .custom_rules
            .iter()
            .filter_map(|rule| {
                let parts = parse_key_template(&rule.key_template)
                    .map_err(|e| problems.push(format!("custom rule {}: {e}", rule.name)))
                    .ok()?;
                Some(Self {
                    name: Arc::from(rule.name.as_str()),
                    group: Group::compile(&rule.name, &rule.conditions, &rule.limit, problems),
                    parts: parts.into_boxed_slice(),
                })
            })
            .collect()
    }

    /// This call's counter key under the rule.
    pub fn key(&self, call: &KeyAttributes<'_>) -> Arc<str> {
        let mut key = String::with_capacity(64);
        for part in self.parts.iter() {
            match part {
                KeyPart::Literal(text) => key.push_str(text),
                KeyPart::UserId => key.push_str(call.user),
                KeyPart::ApiContext => key.push_str(call.api_context),
                KeyPart::ApiVersion => key.push_str(call.api_version),
                KeyPart::ResourceKey => key.push_str(call.resource),
                KeyPart::AppId => key.push_str(call.application),
                KeyPart::ClientIp => {
                    let _ = write!(key, "{}", call.peer.to_canonical());
                }
                KeyPart::Header(name) => {
                    if let Some(value) = call
                        .headers
                        .get(name.as_str())
                        .and_then(|v| v.to_str().ok())
                    {
                        key.push_str(value);
                    }
                }
            }
        }
        Arc::from(key)
    }
}
