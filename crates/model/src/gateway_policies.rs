//! What an API asks of the gateway beyond routing and OAuth: the header an API key comes
//! in, header mediation (WSO2 4.x `apiPolicies`), the backend JWT and, for an MCP server,
//! its tools.
//!
//! Flattened into [`crate::Api`] and [`crate::snapshot::DeployedApi`], so the JSON carries
//! WSO2's field names at the top level of an API; every field is optional on the wire.

use serde::{Deserialize, Serialize};

use crate::InvalidField;

/// The security scheme value that lets an API accept API keys.
pub const API_KEY_SCHEME: &str = "api_key";
/// The security scheme value that lets an API accept OAuth2 access tokens.
pub const OAUTH2_SCHEME: &str = "oauth2";
/// The security scheme value that turns on mutual TLS with the API's client certificates.
pub const MUTUAL_SSL_SCHEME: &str = "mutualssl";
/// With [`MUTUAL_SSL_SCHEME`]: a trusted client certificate is required (WSO2's
/// "Mutual SSL mandatory"); without it, a certificate is one way in among others.
pub const MUTUAL_SSL_MANDATORY: &str = "mutualssl_mandatory";
/// With `oauth2`/`api_key`: a token or key is required even when mutual TLS is on (WSO2's
/// "Application level security mandatory").
pub const APPLICATION_SECURITY_MANDATORY: &str = "oauth_basic_auth_api_key_mandatory";

/// Per-API gateway settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GatewayPolicies {
    /// The header an API key is read from (WSO2 default `ApiKey`, matched case-insensitively);
    /// the query parameter of the same name (lower case) is accepted too.
    #[serde(default = "default_api_key_header")]
    pub api_key_header: String,
    /// Request and response policies (WSO2 4.x `apiPolicies`).
    #[serde(default, skip_serializing_if = "ApiPolicies::is_empty")]
    pub api_policies: ApiPolicies,
    /// Whether the gateway sends the caller's identity upstream as a JWT it signs itself
    /// (`X-JWT-Assertion`, WSO2 "backend JWT").
    #[serde(default)]
    pub enable_backend_jwt: bool,
    /// The tools an MCP server (API type `MCP`) serves; `None` for every other API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mcp: Option<Box<crate::mcp::McpServer>>,
    /// Settings of streaming connections (WebSocket APIs), a Gantry extension.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub streaming_settings: Option<crate::streaming::StreamingSettings>,
    /// How a WebSub API's publisher signs its events (WSO2 `websubSubscriptionConfiguration`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub websub_subscription_configuration: Option<crate::streaming::WebSubConfiguration>,
    /// A SOAP API's operations by the SOAPAction that calls them: operation target
    /// (`/GetQuote`) → action (`urn:GetQuote`), from the WSDL's bindings (a Gantry extension).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub soap_actions: std::collections::BTreeMap<String, String>,
    /// `type: GRAPHQL` APIs: schema, operations, complexity values, introspection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub graphql: Option<Box<crate::GraphQlDefinition>>,
}

impl Default for GatewayPolicies {
    fn default() -> Self {
        Self {
            api_key_header: default_api_key_header(),
            api_policies: ApiPolicies::default(),
            enable_backend_jwt: false,
            mcp: None,
            streaming_settings: None,
            websub_subscription_configuration: None,
            soap_actions: Default::default(),
            graphql: None,
        }
    }
}

fn default_api_key_header() -> String {
    "ApiKey".to_owned()
}

fn is_header_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl GatewayPolicies {
    /// Whether every setting is the default (nothing to carry in a snapshot).
    pub fn is_default(&self) -> bool {
        *self == Self::default()
    }

    /// Header names are tokens; every policy is one the gateway knows, with its parameters.
    pub fn validate(&self) -> Result<(), InvalidField> {
        if !is_header_name(&self.api_key_header) {
            return Err(InvalidField::new("apiKeyHeader", "must be a header name"));
        }
        if let Some(mcp) = &self.mcp {
            mcp.validate()?;
        }
        if let Some(streaming) = &self.streaming_settings {
            streaming.validate()?;
        }
        if let Some(websub) = &self.websub_subscription_configuration {
            websub.validate()?;
        }
        self.api_policies.validate("apiPolicies")
    }
}

/// WSO2 4.x `apiPolicies`: policies applied to every request and response of the API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct ApiPolicies {
    /// Applied to the request before it is forwarded.
    pub request: Vec<PolicyRef>,
    /// Applied to the upstream's response before it is relayed.
    pub response: Vec<PolicyRef>,
    /// Applied to gateway-made error responses (401, 429, 502, …).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fault: Vec<PolicyRef>,
}

impl ApiPolicies {
    /// No policy at all.
    pub fn is_empty(&self) -> bool {
        self.request.is_empty() && self.response.is_empty() && self.fault.is_empty()
    }

    /// Every policy is a built-in the gateway runs, attached to a flow it applies to, with
    /// valid parameters; errors name the field under `at` (`apiPolicies`,
    /// `operations[2].operationPolicies`), e.g. `apiPolicies.request[0].parameters.headerName`.
    pub fn validate(&self, at: &str) -> Result<(), InvalidField> {
        use crate::operation_policy::{Flow, check_attached};
        for (flow, policies) in [
            (Flow::Request, &self.request),
            (Flow::Response, &self.response),
            (Flow::Fault, &self.fault),
        ] {
            for (i, policy) in policies.iter().enumerate() {
                check_attached(policy, flow)
                    .map_err(|e| e.within(&format!("{at}.{}[{i}]", flow.as_str())))?;
            }
        }
        Ok(())
    }

    /// The policies of `flow`.
    pub fn flow(&self, flow: crate::operation_policy::Flow) -> &[PolicyRef] {
        match flow {
            crate::operation_policy::Flow::Request => &self.request,
            crate::operation_policy::Flow::Response => &self.response,
            crate::operation_policy::Flow::Fault => &self.fault,
        }
    }
}

/// One attached policy: `{"policyName": "addHeader", "parameters": {"headerName": "X-A", "headerValue": "1"}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyRef {
    /// A built-in policy's name (`crate::operation_policy::builtins`).
    pub policy_name: String,
    /// WSO2's policy version (`v1`), kept as given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_version: Option<String>,
    /// WSO2's policy id, kept as given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_id: Option<String>,
    /// The policy's parameters (`headerName`, `headerValue`, …).
    #[serde(default)]
    pub parameters: serde_json::Map<String, serde_json::Value>,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn wso2_api_policies_parse_and_unknown_ones_are_named() {
        let policies: GatewayPolicies = serde_json::from_value(serde_json::json!({
            "apiPolicies": {"request": [
                {"policyName": "addHeader", "policyVersion": "v1", "parameters": {"headerName": "X-Env", "headerValue": "prod"}},
                {"policyName": "removeHeader", "parameters": {"headerName": "X-Debug"}}
            ], "response": []}
        }))
        .unwrap();
        assert_eq!(policies.api_key_header, "ApiKey");
        policies.validate().unwrap();
        let mut bad = policies.clone();
        bad.api_policies.response.push(PolicyRef {
            policy_name: "callInterceptor".into(),
            policy_version: None,
            policy_id: None,
            parameters: Default::default(),
        });
        assert_eq!(
            bad.validate().unwrap_err().field,
            "apiPolicies.response[0].policyName"
        );
        let mut bad = policies;
        bad.api_policies.request[0]
            .parameters
            .insert("headerValue".into(), "a\r\nb".into());
        assert_eq!(
            bad.validate().unwrap_err().field,
            "apiPolicies.request[0].parameters.headerValue"
        );
    }
}

#[cfg(test)]
mod snapshot_tests {
    #![allow(clippy::unwrap_used)]
    use crate::snapshot::DeployedApi;

    #[test]
    fn defaults_stay_out_of_snapshots_and_settings_round_trip() {
        let json = serde_json::json!({
            "api_id": "a", "revision_id": "r", "name": "A", "context": "/a", "version": "1.0.0",
            "vhost": "localhost", "lifecycle": "PUBLISHED", "authorization_header": "Authorization",
            "endpoint_config": {"endpoint_type": "http"}, "operations": []
        });
        let plain: DeployedApi = serde_json::from_value(json.clone()).unwrap();
        assert_eq!(plain.security_scheme, ["oauth2"]);
        let out = serde_json::to_value(&plain).unwrap();
        assert!(out.get("security_scheme").is_none() && out.get("gateway").is_none());

        let mut keyed = plain;
        keyed.security_scheme.push("api_key".into());
        keyed.gateway.enable_backend_jwt = true;
        let back: DeployedApi =
            serde_json::from_value(serde_json::to_value(&keyed).unwrap()).unwrap();
        assert_eq!(back, keyed);
    }
}
