//! Header mediation: an API's `apiPolicies` (`addHeader`, `appendHeader`, `removeHeader`),
//! compiled once per configuration version into header names and values, so applying them
//! on the request path only inserts and removes prepared headers.
//!
//! Request policies run after authentication, on the request about to be forwarded (after
//! the gateway's own header changes, so a policy may override `X-Forwarded-*` too); response
//! policies run on the upstream's response before it is relayed.

use gantry_model::PolicyRef;
use gantry_model::gateway_policies::HeaderAction;
use http::{HeaderMap, HeaderName, HeaderValue};

/// One prepared header change.
#[derive(Debug, Clone)]
pub enum HeaderOp {
    /// Replace every value of the header with this one.
    Set(HeaderName, HeaderValue),
    /// Add a value.
    Append(HeaderName, HeaderValue),
    /// Remove the header.
    Remove(HeaderName),
}

/// Compiles `policies` in order; the first invalid one is reported.
pub fn compile(policies: &[PolicyRef]) -> Result<Box<[HeaderOp]>, String> {
    policies
        .iter()
        .map(|policy| {
            let action = policy
                .header_action()
                .map_err(|e| format!("policy '{}': {e}", policy.policy_name))?;
            let name = |n: &str| {
                HeaderName::from_bytes(n.as_bytes()).map_err(|e| format!("header '{n}': {e}"))
            };
            let value =
                |v: &str| HeaderValue::from_str(v).map_err(|e| format!("header value '{v}': {e}"));
            Ok(match action {
                HeaderAction::Set(n, v) => HeaderOp::Set(name(n)?, value(v)?),
                HeaderAction::Append(n, v) => HeaderOp::Append(name(n)?, value(v)?),
                HeaderAction::Remove(n) => HeaderOp::Remove(name(n)?),
            })
        })
        .collect()
}

/// Applies `ops` to `headers`, in order.
pub fn apply(ops: &[HeaderOp], headers: &mut HeaderMap) {
    for op in ops {
        match op {
            HeaderOp::Set(name, value) => {
                headers.insert(name.clone(), value.clone());
            }
            HeaderOp::Append(name, value) => {
                headers.append(name.clone(), value.clone());
            }
            HeaderOp::Remove(name) => {
                headers.remove(name);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn policy(name: &str, header: &str, value: Option<&str>) -> PolicyRef {
        let mut parameters = serde_json::Map::new();
        parameters.insert("headerName".into(), header.into());
        if let Some(v) = value {
            parameters.insert("headerValue".into(), v.into());
        }
        PolicyRef {
            policy_name: name.into(),
            policy_version: Some("v1".into()),
            policy_id: None,
            parameters,
        }
    }

    #[test]
    fn policies_apply_in_order() {
        let ops = compile(&[
            policy("addHeader", "X-Env", Some("prod")),
            policy("appendHeader", "X-Tag", Some("b")),
            policy("removeHeader", "X-Debug", None),
        ])
        .unwrap();
        let mut headers = HeaderMap::new();
        headers.insert("x-env", HeaderValue::from_static("client"));
        headers.insert("x-tag", HeaderValue::from_static("a"));
        headers.insert("x-debug", HeaderValue::from_static("1"));
        apply(&ops, &mut headers);
        assert_eq!(headers["x-env"], "prod");
        assert_eq!(headers.get_all("x-tag").iter().count(), 2);
        assert!(!headers.contains_key("x-debug"));
        assert!(compile(&[policy("rewriteMethod", "X", None)]).is_err());
    }
}
