//! An MCP server (an API of type `MCP`) as the MCP stage reads it: its tools by name, each
//! with the operation entry the authorise and limit stages check a `tools/call` against
//! (per-tool scopes and throttling policy), its compiled input schema and, for REST-backed
//! tools, the HTTP call it becomes. The `tools/list` result is serialised here, once.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use gantry_model::json_schema::JsonSchema;
use gantry_model::mcp::{McpServer, ParameterLocation};
use gantry_model::snapshot::DeployedApi;
use serde_json::{Value, json};

use super::conditions::OperationConditions;
use super::limits::{Level, Policies};
use super::operation::OperationEntry;

/// One MCP server, compiled.
pub struct McpEntry {
    /// Tools are another MCP server's, reached through the API's endpoint.
    pub proxy: bool,
    /// The tools offered, by name.
    pub tools: HashMap<Box<str>, Tool>,
    /// The `tools` array of a `tools/list` result, as JSON.
    pub tools_list: Bytes,
    /// `serverInfo` of the `initialize` result, as JSON.
    pub server_info: Bytes,
    /// Every scope some tool asks for (the protected resource metadata's `scopes_supported`).
    pub scopes: Vec<String>,
}

/// One tool.
pub struct Tool {
    /// Who may call it and how calls are counted (key `TOOL <name>`).
    pub operation: OperationEntry,
    /// Its arguments' schema.
    pub schema: JsonSchema,
    /// The HTTP call it becomes (`None` for a proxied server's tools).
    pub backend: Option<Backend>,
}

/// The HTTP operation behind a REST-backed tool.
pub struct Backend {
    /// Method.
    pub method: http::Method,
    /// Resource template on the endpoint, `{name}` segments filled from arguments.
    pub target: Box<str>,
    /// Arguments sent as query parameters or headers (path ones fill the template).
    pub parameters: Vec<(Box<str>, ParameterLocation)>,
    /// Whether the `requestBody` argument is the JSON body.
    pub body: bool,
}

impl McpEntry {
    /// Compiles the MCP server of `api`, if it is one; what cannot be compiled is added to
    /// `problems`.
    pub fn compile(
        api: &DeployedApi,
        policies: &Policies<'_>,
        problems: &mut Vec<String>,
    ) -> Option<Box<Self>> {
        let server: &McpServer = api.gateway.mcp.as_deref()?;
        let mut tools = HashMap::with_capacity(server.tools.len());
        let mut listed = Vec::with_capacity(server.tools.len());
        let mut scopes: Vec<String> = Vec::new();
        for tool in &server.tools {
            let schema = JsonSchema::compile_lenient(&tool.input_schema).unwrap_or_else(|error| {
                let error = error.within("inputSchema");
                problems.push(format!("API {} tool {}: {error}", api.name, tool.name));
                JsonSchema::default()
            });
            if !policies.defines(Level::Api, &tool.throttling_policy)
                && tool.throttling_policy != "Unlimited"
            {
                problems.push(format!(
                    "API {} tool {}: throttling policy '{}' is unknown",
                    api.name, tool.name, tool.throttling_policy
                ));
            }
            let key: Arc<str> = Arc::from(format!("TOOL {}", tool.name).as_str());
            let operation = OperationEntry {
                auth_type: tool.auth_type,
                scopes: tool.scopes.clone(),
                limit: policies.limit(Level::Api, &tool.throttling_policy),
                conditions: policies
                    .conditions(&tool.throttling_policy)
                    .map(|c| Arc::new(OperationConditions::new(c, &key))),
                key,
                policies: None,
                publish: None,
                websub: None,
            };
            let backend = tool.backend.as_ref().map(|b| Backend {
                method: http::Method::from_bytes(b.verb.as_str().as_bytes())
                    .unwrap_or(http::Method::GET),
                target: b.target.as_str().into(),
                parameters: b
                    .parameters
                    .iter()
                    .filter(|p| p.location != ParameterLocation::Path)
                    .map(|p| (p.name.as_str().into(), p.location))
                    .collect(),
                body: b.body,
            });
            for scope in &tool.scopes {
                if !scopes.contains(scope) {
                    scopes.push(scope.clone());
                }
            }
            let mut definition = json!({"name": tool.name, "inputSchema": tool.input_schema});
            if let Some(description) = &tool.description {
                definition["description"] = json!(description);
            }
            listed.push(definition);
            tools.insert(
                tool.name.as_str().into(),
                Tool {
                    operation,
                    schema,
                    backend,
                },
            );
        }
        Some(Box::new(Self {
            proxy: server.subtype == gantry_model::mcp::McpSubtype::ServerProxy,
            tools,
            tools_list: Bytes::from(Value::Array(listed).to_string()),
            server_info: Bytes::from(
                json!({"name": api.name.as_str(), "version": api.version.as_str()}).to_string(),
            ),
            scopes,
        }))
    }
}
