//! An MCP server (WSO2 4.7 `MCPServer`): an API of type `MCP` that the gateway serves over
//! the Model Context Protocol's Streamable HTTP transport at `<context>/<version>/mcp`.
//!
//! Its tools are either REST operations of a backend (made from an OpenAPI document or an
//! existing API: a `tools/call` becomes that HTTP call) or the tools of another MCP server the
//! gateway proxies, filtered to the ones listed here. Carried in an API's gateway settings, so
//! revisions, deployments, subscriptions and tiers are the API machinery's own.

use serde::{Deserialize, Serialize};

use crate::InvalidField;
use crate::api::{AuthType, HttpVerb, ResourceTarget};

/// The API `type` of an MCP server.
pub const MCP_API_TYPE: &str = "MCP";

/// The resource an MCP server is served at, below its context and version.
pub const MCP_RESOURCE: &str = "/mcp";

/// How an MCP server's tools reach their backend (WSO2 `subtypeConfiguration.subtype`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum McpSubtype {
    /// Tools are operations of an OpenAPI document; calls go to the server's endpoint.
    DirectEndpoint,
    /// Tools are operations of an existing API; calls go to that API's endpoint.
    ExistingApi,
    /// Tools are another MCP server's; JSON-RPC is passed through to it.
    ServerProxy,
}

impl McpSubtype {
    /// WSO2's name for it.
    pub fn as_str(self) -> &'static str {
        match self {
            McpSubtype::DirectEndpoint => "DIRECT_ENDPOINT",
            McpSubtype::ExistingApi => "EXISTING_API",
            McpSubtype::ServerProxy => "SERVER_PROXY",
        }
    }
}

/// What the gateway serves for an MCP server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct McpServer {
    /// Where tools come from.
    pub subtype: McpSubtype,
    /// The API the tools were made from (`EXISTING_API`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_api_id: Option<String>,
    /// The tools offered, in order.
    pub tools: Vec<McpTool>,
}

/// One tool: what `tools/list` shows and what a `tools/call` does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct McpTool {
    /// The tool's name (1–128 of letters, digits, `_`, `-`, `.`).
    pub name: String,
    /// What it does, for the model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The JSON Schema of its arguments (an object schema).
    pub input_schema: serde_json::Value,
    /// Who may call it.
    #[serde(default)]
    pub auth_type: AuthType,
    /// Its own throttling policy (an API-level policy; `Unlimited` by default).
    #[serde(default = "unlimited")]
    pub throttling_policy: String,
    /// Scopes a token must carry to call it (all of them).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scopes: Vec<String>,
    /// The HTTP operation a call becomes; `None` for a proxied server's tools.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backend: Option<ToolBackend>,
}

fn unlimited() -> String {
    "Unlimited".to_owned()
}

/// The REST operation behind a tool, and where each argument goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolBackend {
    /// HTTP method.
    pub verb: HttpVerb,
    /// Resource template on the endpoint (`/orders/{orderId}`).
    pub target: ResourceTarget,
    /// Arguments sent as path, query or header parameters.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parameters: Vec<ToolParameter>,
    /// Whether the `requestBody` argument is sent as the JSON body.
    #[serde(default)]
    pub body: bool,
}

/// The argument name of a tool's request body.
pub const REQUEST_BODY_ARGUMENT: &str = "requestBody";

/// One argument sent as an HTTP parameter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolParameter {
    /// The parameter's (and the argument's) name.
    pub name: String,
    /// Where it goes.
    #[serde(rename = "in")]
    pub location: ParameterLocation,
}

/// Where a parameter goes (OpenAPI's `in`; cookies are not sent).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ParameterLocation {
    /// A `{name}` segment of the target.
    Path,
    /// A query parameter.
    Query,
    /// A request header.
    Header,
}

/// Whether `name` is a tool name MCP clients accept.
pub fn is_tool_name(name: &str) -> bool {
    (1..=128).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b))
}

impl McpServer {
    /// Tool names are valid and unique, schemas are object schemas, REST-backed tools have a
    /// backend whose path parameters are all given (and proxied ones none).
    pub fn validate(&self) -> Result<(), InvalidField> {
        if self.tools.is_empty() {
            return Err(InvalidField::new(
                "operations",
                "must name at least one tool",
            ));
        }
        for (i, tool) in self.tools.iter().enumerate() {
            let at = |field: &str| format!("operations[{i}].{field}");
            if !is_tool_name(&tool.name) {
                return Err(InvalidField::new(
                    at("target"),
                    format!(
                        "'{}' is not a tool name (1-128 of letters, digits, '_', '-', '.')",
                        tool.name
                    ),
                ));
            }
            if self.tools[..i].iter().any(|t| t.name == tool.name) {
                return Err(InvalidField::new(
                    at("target"),
                    format!("tool '{}' is defined twice", tool.name),
                ));
            }
            if tool.input_schema.get("type").and_then(|t| t.as_str()) != Some("object") {
                return Err(InvalidField::new(
                    at("schemaDefinition"),
                    "must be a JSON Schema of type \"object\"",
                ));
            }
            if let Some(bad) = tool
                .scopes
                .iter()
                .find(|s| s.is_empty() || s.contains(char::is_whitespace))
            {
                return Err(InvalidField::new(
                    at("scopes"),
                    format!("'{bad}' is not a valid scope name"),
                ));
            }
            match (&tool.backend, self.subtype) {
                (Some(_), McpSubtype::ServerProxy) => {
                    return Err(InvalidField::new(
                        at("backendOperationMapping"),
                        "a proxied MCP server's tools have no REST operation",
                    ));
                }
                (None, McpSubtype::DirectEndpoint | McpSubtype::ExistingApi) => {
                    return Err(InvalidField::new(
                        at("backendOperationMapping"),
                        "is required: the REST operation the tool calls",
                    ));
                }
                (Some(backend), _) => backend
                    .validate()
                    .map_err(|e| e.within(&format!("operations[{i}]")))?,
                (None, McpSubtype::ServerProxy) => {}
            }
        }
        Ok(())
    }

    /// The tool called `name`.
    pub fn tool(&self, name: &str) -> Option<&McpTool> {
        self.tools.iter().find(|t| t.name == name)
    }
}

impl ToolBackend {
    /// The `{name}` segments of the target, in order.
    pub fn path_parameters(&self) -> impl Iterator<Item = &str> {
        self.target
            .as_str()
            .split('/')
            .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
    }

    fn validate(&self) -> Result<(), InvalidField> {
        if self.target.as_str().contains('*') {
            return Err(InvalidField::new(
                "backendOperation.target",
                "a tool calls one resource: no '*' wildcard",
            ));
        }
        for name in self.path_parameters() {
            if !self
                .parameters
                .iter()
                .any(|p| p.name == name && p.location == ParameterLocation::Path)
            {
                return Err(InvalidField::new(
                    "backendOperation.target",
                    format!("path parameter '{name}' has no argument"),
                ));
            }
        }
        for p in &self.parameters {
            if p.name.is_empty() || p.name == REQUEST_BODY_ARGUMENT {
                return Err(InvalidField::new(
                    "parameters",
                    format!("'{}' cannot be a parameter name", p.name),
                ));
            }
            if p.location == ParameterLocation::Header
                && !p
                    .name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b))
            {
                return Err(InvalidField::new(
                    "parameters",
                    format!("'{}' is not a header name", p.name),
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn tool(name: &str, target: &str, params: &[(&str, ParameterLocation)]) -> McpTool {
        McpTool {
            name: name.into(),
            description: None,
            input_schema: json!({"type": "object"}),
            auth_type: AuthType::Any,
            throttling_policy: unlimited(),
            scopes: vec![],
            backend: Some(ToolBackend {
                verb: HttpVerb::Get,
                target: ResourceTarget::parse(target).unwrap(),
                parameters: params
                    .iter()
                    .map(|(n, l)| ToolParameter {
                        name: (*n).into(),
                        location: *l,
                    })
                    .collect(),
                body: false,
            }),
        }
    }

    fn server(tools: Vec<McpTool>) -> McpServer {
        McpServer {
            subtype: McpSubtype::DirectEndpoint,
            source_api_id: None,
            tools,
        }
    }

    #[test]
    fn path_parameters_need_an_argument() {
        let ok = server(vec![tool(
            "getOrder",
            "/orders/{id}",
            &[("id", ParameterLocation::Path)],
        )]);
        ok.validate().unwrap();
        let missing = server(vec![tool("getOrder", "/orders/{id}", &[])]);
        assert_eq!(
            missing.validate().unwrap_err().field,
            "operations[0].backendOperation.target"
        );
    }

    #[test]
    fn tool_names_are_checked_and_unique() {
        assert!(is_tool_name("get_order.v2-x"));
        assert!(!is_tool_name("get order"));
        assert!(!is_tool_name(""));
        let twice = server(vec![tool("a", "/a", &[]), tool("a", "/b", &[])]);
        assert_eq!(twice.validate().unwrap_err().field, "operations[1].target");
    }

    #[test]
    fn proxied_tools_have_no_backend() {
        let mut proxied = server(vec![tool("a", "/a", &[])]);
        proxied.subtype = McpSubtype::ServerProxy;
        assert!(proxied.validate().is_err());
        proxied.tools[0].backend = None;
        proxied.validate().unwrap();
    }
}
