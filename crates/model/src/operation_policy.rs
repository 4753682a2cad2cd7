//! The operation-policy catalogue (WSO2 4.x `OperationPolicyData`): what each built-in policy
//! is called, where it may run (request, response, fault) and which parameters it takes.
//!
//! The control plane lists these specs over REST and checks every attached policy against
//! them ([`check_attached`]); the typed meaning of a checked policy is
//! [`crate::policy_action::PolicyAction`], which the gateway compiles.

use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use crate::{InvalidField, PolicyRef};

/// Where a policy runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Flow {
    /// On the request before it is forwarded.
    Request,
    /// On the upstream's response before it is relayed.
    Response,
    /// On an error response the gateway made itself.
    Fault,
}

impl Flow {
    /// The name WSO2 uses (`request`, `response`, `fault`).
    pub fn as_str(self) -> &'static str {
        match self {
            Flow::Request => "request",
            Flow::Response => "response",
            Flow::Fault => "fault",
        }
    }
}

/// One parameter of a policy (WSO2 `OperationPolicySpecAttribute`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyAttribute {
    /// The key in `parameters`.
    pub name: String,
    /// Shown in forms.
    #[serde(default)]
    pub display_name: String,
    /// What it is for.
    #[serde(default)]
    pub description: String,
    /// A value must match this (WSO2 writes it `/…/flags` for its UI; both forms are read).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validation_regex: Option<String>,
    /// `String`, `Integer`, `Boolean`, `Enum` or `JSON`.
    #[serde(rename = "type", default = "string_type")]
    pub kind: String,
    /// Whether the parameter must be given.
    #[serde(default)]
    pub required: bool,
    /// Used when the parameter is left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_value: Option<String>,
    /// For `Enum`: the values accepted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_values: Vec<String>,
}

fn string_type() -> String {
    "String".to_owned()
}

/// A policy's specification (WSO2 `policySpec`, the JSON/YAML file of an imported policy).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicySpec {
    /// `Mediation`, `Security`, …
    #[serde(default = "mediation")]
    pub category: String,
    /// The name APIs attach it by (`policyName`).
    pub name: String,
    /// `v1`, …
    #[serde(default = "v1")]
    pub version: String,
    /// Shown in forms.
    #[serde(default)]
    pub display_name: String,
    /// What it does.
    #[serde(default)]
    pub description: String,
    /// Where it may be attached.
    #[serde(default)]
    pub applicable_flows: Vec<Flow>,
    /// The gateway types that run it.
    #[serde(default)]
    pub supported_gateways: Vec<String>,
    /// The API types it applies to: names (`HTTP`) or, as WSO2 4.7 writes them, maps
    /// (`{"apiType": "HTTP", "subType": "AI"}`).
    #[serde(default)]
    pub supported_api_types: Vec<serde_json::Value>,
    /// Its parameters.
    #[serde(default)]
    pub policy_attributes: Vec<PolicyAttribute>,
}

fn mediation() -> String {
    "Mediation".to_owned()
}

fn v1() -> String {
    "v1".to_owned()
}

impl PolicySpec {
    /// Checks an uploaded spec: a name WSO2 would accept, at least one flow, attribute names
    /// unique, known types, compilable regexes.
    pub fn validate(&self) -> Result<(), InvalidField> {
        if self.name.is_empty()
            || !self
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return Err(InvalidField::new(
                "name",
                "must be letters, digits, '_' or '-'",
            ));
        }
        if self.version.is_empty() || self.version.len() > 30 {
            return Err(InvalidField::new("version", "must be 1 to 30 characters"));
        }
        if self.applicable_flows.is_empty() {
            return Err(InvalidField::new(
                "applicableFlows",
                "must name at least one of request, response, fault",
            ));
        }
        for (i, attribute) in self.policy_attributes.iter().enumerate() {
            let at = format!("policyAttributes[{i}]");
            if attribute.name.is_empty() {
                return Err(InvalidField::new(format!("{at}.name"), "is required"));
            }
            if self.policy_attributes[..i]
                .iter()
                .any(|a| a.name == attribute.name)
            {
                return Err(InvalidField::new(
                    format!("{at}.name"),
                    format!("'{}' is given twice", attribute.name),
                ));
            }
            if !matches!(
                attribute.kind.to_ascii_lowercase().as_str(),
                "string" | "integer" | "boolean" | "enum" | "json"
            ) {
                return Err(InvalidField::new(
                    format!("{at}.type"),
                    format!(
                        "'{}' is not one of String, Integer, Boolean, Enum, JSON",
                        attribute.kind
                    ),
                ));
            }
            if let Some(regex) = &attribute.validation_regex {
                compile_regex(regex)
                    .map_err(|reason| InvalidField::new(format!("{at}.validationRegex"), reason))?;
            }
        }
        Ok(())
    }

    /// Whether the policy may run in `flow`.
    pub fn applies_to(&self, flow: Flow) -> bool {
        self.applicable_flows.contains(&flow)
    }

    /// Checks `policy`'s parameters against this spec: required ones given, each of its
    /// type and matching its regex, none unknown. Errors name `parameters.<name>`.
    pub fn check_parameters(&self, policy: &PolicyRef) -> Result<(), InvalidField> {
        for name in policy.parameters.keys() {
            if !self.policy_attributes.iter().any(|a| &a.name == name) {
                return Err(InvalidField::new(
                    format!("parameters.{name}"),
                    format!("is not a parameter of {}", self.name),
                ));
            }
        }
        for attribute in &self.policy_attributes {
            let at = || format!("parameters.{}", attribute.name);
            let Some(value) = policy.parameters.get(&attribute.name) else {
                if attribute.required && attribute.default_value.is_none() {
                    return Err(InvalidField::new(at(), "is required"));
                }
                continue;
            };
            let text = match (attribute.kind.to_ascii_lowercase().as_str(), value) {
                ("integer", serde_json::Value::Number(n)) if n.is_i64() || n.is_u64() => {
                    n.to_string()
                }
                ("integer", serde_json::Value::String(s)) if s.parse::<i64>().is_ok() => s.clone(),
                ("integer", _) => return Err(InvalidField::new(at(), "must be an integer")),
                ("boolean", serde_json::Value::Bool(b)) => b.to_string(),
                ("boolean", serde_json::Value::String(s)) if s == "true" || s == "false" => {
                    s.clone()
                }
                ("boolean", _) => return Err(InvalidField::new(at(), "must be true or false")),
                ("json", serde_json::Value::String(s)) => {
                    serde_json::from_str::<serde_json::Value>(s)
                        .map_err(|e| InvalidField::new(at(), format!("is not JSON: {e}")))?;
                    s.clone()
                }
                ("json", other) => other.to_string(),
                (_, serde_json::Value::String(s)) => s.clone(),
                _ => return Err(InvalidField::new(at(), "must be a string")),
            };
            if !attribute.allowed_values.is_empty() && !attribute.allowed_values.contains(&text) {
                return Err(InvalidField::new(
                    at(),
                    format!(
                        "'{text}' is not one of {}",
                        attribute.allowed_values.join(", ")
                    ),
                ));
            }
            if let Some(regex) = &attribute.validation_regex {
                let regex =
                    compile_regex(regex).map_err(|reason| InvalidField::new(at(), reason))?;
                if !regex.is_match(&text) {
                    return Err(InvalidField::new(
                        at(),
                        format!(
                            "'{text}' does not match {}",
                            attribute.validation_regex.as_deref().unwrap_or_default()
                        ),
                    ));
                }
            }
        }
        Ok(())
    }
}

/// WSO2 writes validation regexes for JavaScript (`/^[a-z]+$/i`); a bare pattern is read too.
fn compile_regex(raw: &str) -> Result<regex::Regex, String> {
    let (pattern, flags) = match raw.strip_prefix('/').and_then(|r| r.rsplit_once('/')) {
        Some((pattern, flags)) if flags.chars().all(|c| "gimsuy".contains(c)) => (pattern, flags),
        _ => (raw, ""),
    };
    regex::RegexBuilder::new(pattern)
        .case_insensitive(flags.contains('i'))
        .size_limit(1 << 20)
        .build()
        .map_err(|e| format!("is not a valid regular expression: {e}"))
}

/// A text attribute.
fn text(name: &str, display: &str, description: &str, required: bool) -> PolicyAttribute {
    PolicyAttribute {
        name: name.to_owned(),
        display_name: display.to_owned(),
        description: description.to_owned(),
        validation_regex: None,
        kind: "String".to_owned(),
        required,
        default_value: None,
        allowed_values: Vec::new(),
    }
}

const HEADER_NAME_REGEX: &str = "/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/";

fn header_name(name: &str, display: &str) -> PolicyAttribute {
    PolicyAttribute {
        validation_regex: Some(HEADER_NAME_REGEX.to_owned()),
        ..text(name, display, "An HTTP header name", true)
    }
}

fn typed(mut attribute: PolicyAttribute, kind: &str, default: Option<&str>) -> PolicyAttribute {
    kind.clone_into(&mut attribute.kind);
    attribute.default_value = default.map(str::to_owned);
    if default.is_some() {
        attribute.required = false;
    }
    attribute
}

fn spec(
    name: &str,
    display: &str,
    description: &str,
    flows: &[Flow],
    attributes: Vec<PolicyAttribute>,
) -> PolicySpec {
    PolicySpec {
        category: "Mediation".to_owned(),
        name: name.to_owned(),
        version: "v1".to_owned(),
        display_name: display.to_owned(),
        description: description.to_owned(),
        applicable_flows: flows.to_vec(),
        supported_gateways: vec!["Synapse".to_owned()],
        supported_api_types: vec![serde_json::json!({"apiType": "HTTP"})],
        policy_attributes: attributes,
    }
}

/// The policies every Gantry gateway runs, as the common catalogue lists them.
pub fn builtins() -> &'static [PolicySpec] {
    static BUILTINS: OnceLock<Vec<PolicySpec>> = OnceLock::new();
    BUILTINS.get_or_init(|| {
        use Flow::{Fault, Request, Response};
        let all = [Request, Response, Fault];
        let value = || text("headerValue", "Header Value", "The value to set", true);
        vec![
            spec(
                "addHeader",
                "Add Header",
                "Sets a header, replacing any value it had (WSO2's addHeader)",
                &all,
                vec![header_name("headerName", "Header Name"), value()],
            ),
            spec(
                "setHeader",
                "Set Header",
                "Sets a header, replacing any value it had",
                &all,
                vec![header_name("headerName", "Header Name"), value()],
            ),
            spec(
                "appendHeader",
                "Append Header",
                "Adds a value to a header, keeping the values it has",
                &all,
                vec![header_name("headerName", "Header Name"), value()],
            ),
            spec(
                "removeHeader",
                "Remove Header",
                "Removes a header",
                &all,
                vec![header_name("headerName", "Header Name")],
            ),
            spec(
                "renameHeader",
                "Rename Header",
                "Moves a header's values to another name",
                &all,
                vec![
                    header_name("currentHeaderName", "Current Header Name"),
                    header_name("newHeaderName", "New Header Name"),
                ],
            ),
            spec(
                "addQueryParam",
                "Add Query Param",
                "Adds a query parameter to the request sent to the backend",
                &[Request],
                vec![
                    text("paramKey", "Query Parameter Name", "The parameter's name", true),
                    text("paramValue", "Query Parameter Value", "The parameter's value", true),
                ],
            ),
            spec(
                "removeQueryParam",
                "Remove Query Param",
                "Removes a query parameter (every occurrence) from the request sent to the backend",
                &[Request],
                vec![text("paramKey", "Query Parameter Name", "The parameter's name", true)],
            ),
            spec(
                "changeHTTPMethod",
                "Change HTTP Method",
                "Sends the request to the backend with another method",
                &[Request],
                vec![PolicyAttribute {
                    allowed_values: ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
                        .map(str::to_owned)
                        .to_vec(),
                    ..typed(
                        text("updatedMethod", "Updated Method", "The method the backend gets", true),
                        "Enum",
                        None,
                    )
                }],
            ),
            spec(
                "rewriteResourcePath",
                "Rewrite Resource Path",
                "Replaces the resource path (after the endpoint's base path) sent to the backend",
                &[Request],
                vec![
                    PolicyAttribute {
                        validation_regex: Some("^/[^?#\\s]*$".to_owned()),
                        ..text("resourcePath", "Resource Path", "The new resource path, starting with '/'", true)
                    },
                    typed(
                        text("includeQueryParams", "Include Query Params", "Keep the request's query string", false),
                        "Boolean",
                        Some("true"),
                    ),
                ],
            ),
            spec(
                "setBackendEndpoint",
                "Set Backend Endpoint",
                "Sends this operation's requests to another backend URL",
                &[Request],
                vec![
                    PolicyAttribute {
                        validation_regex: Some("^https?://[^\\s]+$".to_owned()),
                        ..text("endpointUrl", "Endpoint URL", "The backend's base URL", true)
                    },
                    typed(
                        text("timeout", "Timeout (ms)", "How long to wait for the backend's response", false),
                        "Integer",
                        Some("60000"),
                    ),
                ],
            ),
            spec(
                "jsonToXML",
                "JSON to XML",
                "Converts a JSON body to XML",
                &[Request, Response],
                vec![typed(
                    text("rootElement", "Root Element", "The XML document's root element", false),
                    "String",
                    Some("jsonObject"),
                )],
            ),
            spec(
                "xmlToJson",
                "XML to JSON",
                "Converts an XML body to JSON",
                &[Request, Response],
                vec![],
            ),
            spec(
                "jsonSchemaValidator",
                "JSON Schema Validator",
                "Refuses (400) a request whose JSON body does not satisfy a JSON schema",
                &[Request],
                vec![typed(
                    text("schema", "JSON Schema", "The schema (draft 7 keywords)", true),
                    "JSON",
                    None,
                )],
            ),
            spec(
                "bodySizeLimit",
                "Body Size Limit",
                "Refuses (413) a request body larger than this many bytes",
                &[Request],
                vec![typed(
                    text("maxSizeBytes", "Max Size (bytes)", "The largest body accepted", true),
                    "Integer",
                    None,
                )],
            ),
            spec(
                "mockResponse",
                "Mock Response",
                "Answers with a fixed response; the backend is not called",
                &[Request],
                vec![
                    typed(
                        text("statusCode", "Status Code", "The response status", false),
                        "Integer",
                        Some("200"),
                    ),
                    typed(
                        text("headers", "Headers", "A JSON object of header names and values", false),
                        "JSON",
                        None,
                    ),
                    text("body", "Body", "The response body", false),
                    typed(
                        text("contentType", "Content Type", "The body's media type", false),
                        "String",
                        Some("application/json"),
                    ),
                ],
            ),
            spec(
                "callInterceptorService",
                "Call Interceptor Service",
                "Calls an external service (Choreo Connect interceptor) that may change headers and body or answer the request itself",
                &[Request, Response],
                vec![
                    PolicyAttribute {
                        validation_regex: Some("^https?://[^\\s]+$".to_owned()),
                        ..text("interceptorServiceURL", "Interceptor Service URL", "The service's base URL", true)
                    },
                    typed(
                        text("includes", "Includes", "What the service is sent, comma-separated: request_headers, request_body, response_headers, response_body, invocation_context", false),
                        "String",
                        Some("request_headers,response_headers,invocation_context"),
                    ),
                    typed(
                        text("timeout", "Timeout (ms)", "How long to wait for the service", false),
                        "Integer",
                        Some("5000"),
                    ),
                    PolicyAttribute {
                        allowed_values: vec!["failOpen".to_owned(), "failClosed".to_owned()],
                        ..typed(
                            text("failureMode", "Failure Mode", "When the service fails: go on unchanged (failOpen) or refuse (failClosed)", false),
                            "Enum",
                            Some("failClosed"),
                        )
                    },
                ],
            ),
        ]
    })
}

/// The built-in policy called `name` (the version must be `v1` when given).
pub fn builtin(name: &str, version: Option<&str>) -> Option<&'static PolicySpec> {
    builtins()
        .iter()
        .find(|s| s.name == name && version.is_none_or(|v| v == s.version))
}

/// Checks one attached policy for `flow`: a built-in the gateway runs, allowed in that flow,
/// with parameters of the right types, whose meaning parses. Errors name the field under
/// the policy (`policyName`, `parameters.headerName`).
pub fn check_attached(policy: &PolicyRef, flow: Flow) -> Result<(), InvalidField> {
    let version = policy.policy_version.as_deref();
    let Some(spec) = builtin(&policy.policy_name, version) else {
        return Err(InvalidField::new(
            "policyName",
            match builtin(&policy.policy_name, None) {
                Some(_) => format!(
                    "'{}' has no version '{}'; use v1",
                    policy.policy_name,
                    version.unwrap_or_default()
                ),
                None => format!(
                    "'{}' is not a policy the gateway runs; GET /operation-policies lists them",
                    policy.policy_name
                ),
            },
        ));
    };
    if !spec.applies_to(flow) {
        return Err(InvalidField::new(
            "policyName",
            format!(
                "'{}' cannot be attached to the {} flow (applicable flows: {})",
                spec.name,
                flow.as_str(),
                spec.applicable_flows
                    .iter()
                    .map(|f| f.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
    }
    spec.check_parameters(policy)?;
    crate::policy_action::PolicyAction::parse(policy).map(|_| ())
}

impl crate::Api {
    /// Checks every attached policy (`apiPolicies`, `operations[i].operationPolicies`), as a
    /// deploy does before a revision reaches gateways; the error names the field.
    pub fn check_policies(&self) -> Result<(), InvalidField> {
        self.gateway.api_policies.validate("apiPolicies")?;
        for (i, op) in self.operations.iter().enumerate() {
            op.operation_policies
                .validate(&format!("operations[{i}].operationPolicies"))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn policy(name: &str, parameters: serde_json::Value) -> PolicyRef {
        serde_json::from_value(serde_json::json!({"policyName": name, "parameters": parameters}))
            .unwrap()
    }

    #[test]
    fn every_builtin_spec_is_valid_and_parses_with_its_defaults() {
        for spec in builtins() {
            spec.validate().unwrap();
        }
        assert!(builtin("addHeader", Some("v1")).is_some());
        assert!(builtin("addHeader", Some("v2")).is_none());
    }

    #[test]
    fn attached_policies_are_checked_by_flow_type_and_meaning() {
        check_attached(
            &policy(
                "addHeader",
                serde_json::json!({"headerName": "X-A", "headerValue": "1"}),
            ),
            Flow::Fault,
        )
        .unwrap();
        let field = |p: PolicyRef, flow| check_attached(&p, flow).unwrap_err().field;
        assert_eq!(
            field(policy("nope", serde_json::json!({})), Flow::Request),
            "policyName"
        );
        assert_eq!(
            field(
                policy(
                    "addQueryParam",
                    serde_json::json!({"paramKey": "a", "paramValue": "b"})
                ),
                Flow::Response
            ),
            "policyName"
        );
        assert_eq!(
            field(
                policy(
                    "addHeader",
                    serde_json::json!({"headerName": "X A", "headerValue": "1"})
                ),
                Flow::Request
            ),
            "parameters.headerName"
        );
        assert_eq!(
            field(
                policy("addHeader", serde_json::json!({"headerName": "X-A"})),
                Flow::Request
            ),
            "parameters.headerValue"
        );
        assert_eq!(
            field(
                policy("bodySizeLimit", serde_json::json!({"maxSizeBytes": "ten"})),
                Flow::Request
            ),
            "parameters.maxSizeBytes"
        );
        assert_eq!(
            field(
                policy(
                    "changeHTTPMethod",
                    serde_json::json!({"updatedMethod": "FETCH"})
                ),
                Flow::Request
            ),
            "parameters.updatedMethod"
        );
        assert_eq!(
            field(
                policy(
                    "removeHeader",
                    serde_json::json!({"headerName": "a", "extra": 1})
                ),
                Flow::Request
            ),
            "parameters.extra"
        );
    }

    #[test]
    fn wso2_style_regexes_are_read() {
        assert!(compile_regex("/^[a-z]+$/i").unwrap().is_match("ABC"));
        assert!(compile_regex("^a$").unwrap().is_match("a"));
    }
}
