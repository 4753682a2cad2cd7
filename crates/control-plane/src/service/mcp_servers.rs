//! MCP servers (WSO2 4.7 `/mcp-servers`): made from an existing API (chosen operations
//! become tools calling that API's backend), from an OpenAPI document, or as a proxy of a
//! third-party MCP server (its tools discovered at creation, a chosen few offered). Each is
//! stored as an API of type `MCP` served at `<context>/<version>/mcp`, so lifecycle,
//! revisions, deployments, subscriptions and tiers are the API operations' own.

use gantry_model::mcp::{MCP_API_TYPE, MCP_RESOURCE, McpServer, McpSubtype, McpTool};
use gantry_model::{Api, AuthType, HttpVerb};
use gantry_store::policies::{self, PolicyLevel};
use gantry_store::{apis, definitions};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::mcp_discovery::{self, DiscoveredTool};
use super::mcp_tools::{self, ToolChoice};
use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::extract::AuthUser;
use crate::publisher::apis::ApiRequest;
use crate::publisher::openapi::Document;

/// WSO2's `MCPServerOperation`, as far as Gantry reads it.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolRequest {
    /// The tool's name.
    target: Option<String>,
    description: Option<String>,
    auth_type: Option<String>,
    throttling_policy: Option<String>,
    scopes: Option<Vec<String>>,
    backend_operation_mapping: Option<Mapping>,
    api_operation_mapping: Option<Mapping>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Mapping {
    api_id: Option<String>,
    backend_operation: Option<BackendOperation>,
}

#[derive(Debug, Default, Deserialize)]
struct BackendOperation {
    target: Option<String>,
    verb: Option<String>,
}

/// The API part of an `MCPServer` body and its operations (tools).
pub struct McpServerBody {
    properties: Map<String, Value>,
    tools: Vec<ToolRequest>,
}

impl McpServerBody {
    /// Splits `body`; 400 when it is not an object or an operation is malformed.
    pub fn read(body: Value) -> ApiResult<Self> {
        let Value::Object(mut properties) = body else {
            return Err(ApiError::BadRequest(
                "the MCP server must be a JSON object".into(),
            ));
        };
        let tools = match properties.remove("operations") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(ops)) => ops
                .into_iter()
                .enumerate()
                .map(|(i, op)| {
                    serde_json::from_value(op)
                        .map_err(|e| ApiError::BadRequest(format!("operations[{i}]: {e}")))
                })
                .collect::<ApiResult<_>>()?,
            Some(_) => return Err(ApiError::BadRequest("operations: must be a list".into())),
        };
        for key in ["type", "subtypeConfiguration", "mcp", "id"] {
            properties.remove(key);
        }
        Ok(Self { properties, tools })
    }

    fn set_default(&mut self, key: &str, value: Value) {
        if self.properties.get(key).is_none_or(Value::is_null) {
            self.properties.insert(key.to_owned(), value);
        }
    }
}

/// An MCP server over `source`'s backend, its tools the operations `body` maps (all of
/// them when it names none).
pub async fn from_api(state: &AppState, body: Value, user: &AuthUser) -> ApiResult<Api> {
    let mut body = McpServerBody::read(body)?;
    let source_id = body
        .tools
        .iter()
        .find_map(|t| t.api_operation_mapping.as_ref()?.api_id.clone())
        .or_else(|| {
            body.properties
                .get("subtypeConfiguration")
                .and_then(|s| s.pointer("/configuration/apiId"))
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
        .ok_or_else(|| {
            ApiError::BadRequest(
                "operations[].apiOperationMapping.apiId: the API whose operations become tools is required".into(),
            )
        })?;
    let source = crate::publisher::apis::load_for(state, &source_id, user).await?;
    if source.api_type == MCP_API_TYPE {
        return Err(ApiError::BadRequest(
            "apiOperationMapping.apiId: names an MCP server; choose a REST API".into(),
        ));
    }
    if source.api_type == crate::publisher::graphql::GRAPHQL {
        // A tool call is a REST call to the endpoint: it would pass by the GraphQL stage's
        // per-root-field checks.
        return Err(ApiError::BadRequest(
            "apiOperationMapping.apiId: names a GraphQL API; choose a REST API".into(),
        ));
    }
    let document = match definitions::get(state.store(), &source.id).await? {
        Some(text) => serde_json::from_str(&text)
            .or_else(|_| serde_yaml_ng::from_str(&text))
            .unwrap_or_else(|_| crate::publisher::openapi::generated_document(&source)),
        None => crate::publisher::openapi::generated_document(&source),
    };
    let choices = if body.tools.is_empty() {
        mcp_tools::all_operations(&document)
    } else {
        choices(
            &body.tools,
            |t| t.api_operation_mapping.as_ref(),
            "apiOperationMapping",
        )?
    };
    let tools = tools_of(&document, &choices)?;
    body.set_default("endpointConfig", json!(source.endpoint_config));
    body.set_default("policies", json!(source.policies));
    let server = McpServer {
        subtype: McpSubtype::ExistingApi,
        source_api_id: Some(source.id.clone()),
        tools,
    };
    create(state, body, server, &user.username, None).await
}

/// An MCP server from an OpenAPI `document`; `additional` is the `MCPServer` (its operations
/// choose the tools, all of the document's when it names none).
pub async fn from_openapi(
    state: &AppState,
    document: Document,
    additional: Value,
    provider: &str,
) -> ApiResult<Api> {
    let mut body = McpServerBody::read(additional)?;
    body.set_default(
        "name",
        json!(document.title.replace(
            |c: char| !c.is_alphanumeric() && c != ' ' && c != '-' && c != '_',
            ""
        )),
    );
    body.set_default("version", json!(document.version));
    if let Some(description) = &document.description {
        body.set_default("description", json!(description));
    }
    if let Some(url) = &document.endpoint {
        body.set_default(
            "endpointConfig",
            json!({"endpoint_type": "http", "production_endpoints": {"url": url}}),
        );
    }
    let choices = if body.tools.is_empty() {
        mcp_tools::all_operations(&document.value)
    } else {
        choices(
            &body.tools,
            |t| t.backend_operation_mapping.as_ref(),
            "backendOperationMapping",
        )?
    };
    let tools = tools_of(&document.value, &choices)?;
    let server = McpServer {
        subtype: McpSubtype::DirectEndpoint,
        source_api_id: None,
        tools,
    };
    let text = document.value.to_string();
    create(state, body, server, provider, Some(&text)).await
}

/// The tools of the MCP server at `url` (`Err` is the reason, for the publisher).
pub async fn discover(url: &str, secure: bool) -> Result<Vec<DiscoveredTool>, String> {
    if secure {
        return Err("securityInfo.isSecure: upstream credentials are not supported yet; proxy an MCP server that needs none (the gateway's own auth still applies)".into());
    }
    mcp_discovery::discover(url, &None).await
}

/// An MCP server proxying the one at `url`; `additional`'s operations (by tool name) choose
/// which of its tools are offered, all of them when it names none.
pub async fn proxy(
    state: &AppState,
    url: &str,
    secure: bool,
    additional: Value,
    provider: &str,
) -> ApiResult<Api> {
    let mut body = McpServerBody::read(additional)?;
    let discovered = discover(url, secure)
        .await
        .map_err(|reason| ApiError::BadRequest(format!("url: {reason}")))?;
    body.set_default(
        "endpointConfig",
        json!({"endpoint_type": "http", "production_endpoints": {"url": url}}),
    );
    let tools =
        if body.tools.is_empty() {
            discovered
                .into_iter()
                .map(|d| proxied_tool(d, &ToolRequest::default()))
                .collect::<ApiResult<Vec<_>>>()?
        } else {
            body.tools
                .iter()
                .enumerate()
                .map(|(i, wanted)| {
                    let name = wanted.target.as_deref().unwrap_or_default();
                    let found = discovered.iter().find(|d| d.name == name).ok_or_else(|| {
                    ApiError::BadRequest(format!(
                        "operations[{i}].target: the MCP server has no tool '{name}' (it has: {})",
                        discovered.iter().map(|d| d.name.as_str()).collect::<Vec<_>>().join(", ")
                    ))
                })?;
                    proxied_tool(found.clone(), wanted)
                })
                .collect::<ApiResult<Vec<_>>>()?
        };
    let server = McpServer {
        subtype: McpSubtype::ServerProxy,
        source_api_id: None,
        tools,
    };
    create(state, body, server, provider, None).await
}

fn proxied_tool(found: DiscoveredTool, wanted: &ToolRequest) -> ApiResult<McpTool> {
    Ok(McpTool {
        name: found.name,
        description: wanted.description.clone().or(found.description),
        input_schema: found.input_schema,
        auth_type: auth_type(wanted.auth_type.as_deref())?,
        throttling_policy: wanted
            .throttling_policy
            .clone()
            .unwrap_or_else(|| "Unlimited".into()),
        scopes: wanted.scopes.clone().unwrap_or_default(),
        backend: None,
    })
}

fn auth_type(raw: Option<&str>) -> ApiResult<AuthType> {
    match raw {
        None => Ok(AuthType::Any),
        Some(raw) => serde_json::from_value(json!(raw)).map_err(|_| {
            ApiError::BadRequest(format!(
                "authType: '{raw}' is not one of \"Application & Application User\", \"Application\", \"Application User\", \"None\""
            ))
        }),
    }
}

/// The operations `tools` map to (through `mapping`), with the tools' names and settings.
fn choices(
    tools: &[ToolRequest],
    mapping: fn(&ToolRequest) -> Option<&Mapping>,
    field: &str,
) -> ApiResult<Vec<ToolChoice>> {
    tools
        .iter()
        .enumerate()
        .map(|(i, tool)| {
            let operation = mapping(tool).and_then(|m| m.backend_operation.as_ref());
            let (Some(target), Some(verb)) = (
                operation.and_then(|o| o.target.clone()),
                operation.and_then(|o| o.verb.as_deref()),
            ) else {
                return Err(ApiError::BadRequest(format!(
                    "operations[{i}].{field}.backendOperation: target and verb are required"
                )));
            };
            let verb = HttpVerb::parse(verb).ok_or_else(|| {
                ApiError::BadRequest(format!(
                    "operations[{i}].{field}.backendOperation.verb: '{verb}' is not an HTTP method"
                ))
            })?;
            Ok(ToolChoice {
                target,
                verb,
                name: tool.target.clone(),
                description: tool.description.clone(),
                scopes: tool.scopes.clone(),
                throttling_policy: tool.throttling_policy.clone(),
                auth_type: tool
                    .auth_type
                    .as_deref()
                    .map(|a| auth_type(Some(a)))
                    .transpose()?,
            })
        })
        .collect()
}

fn tools_of(document: &Value, choices: &[ToolChoice]) -> ApiResult<Vec<McpTool>> {
    if choices.is_empty() {
        return Err(ApiError::BadRequest(
            "operations: the definition has no operation a tool can call".into(),
        ));
    }
    choices
        .iter()
        .enumerate()
        .map(|(i, choice)| {
            mcp_tools::tool(document, choice, &format!("operations[{i}]")).map_err(ApiError::from)
        })
        .collect()
}

/// Stores the MCP server: the API part validated as an API's (name, context, version,
/// endpoint, tiers), its routes the transport's (`POST`, `GET`, `DELETE` on `/mcp`).
async fn create(
    state: &AppState,
    mut body: McpServerBody,
    server: McpServer,
    provider: &str,
    definition: Option<&str>,
) -> ApiResult<Api> {
    body.properties.insert(
        "operations".into(),
        json!(
            ["POST", "GET", "DELETE"]
                .iter()
                .map(|verb| json!({"target": MCP_RESOURCE, "verb": verb}))
                .collect::<Vec<_>>()
        ),
    );
    let request: ApiRequest = serde_json::from_value(Value::Object(body.properties))
        .map_err(|e| ApiError::BadRequest(format!("the MCP server: {e}")))?;
    let mut api = request.into_api(provider)?;
    api.api_type = MCP_API_TYPE.into();
    api.gateway.mcp = Some(Box::new(server));
    api.gateway.validate()?;
    crate::service::apis::check_policies(state, &mut api).await?;
    for (i, tool) in api
        .gateway
        .mcp
        .iter()
        .flat_map(|m| m.tools.iter())
        .enumerate()
    {
        if policies::find(state.store(), PolicyLevel::Api, &tool.throttling_policy)
            .await?
            .is_none()
        {
            return Err(ApiError::BadRequest(format!(
                "operations[{i}].throttlingPolicy: '{}' is not an API-level throttling policy",
                tool.throttling_policy
            )));
        }
    }
    apis::create(state.store(), &api, provider).await?;
    if let Some(document) = definition
        && let Err(error) = definitions::put(state.store(), &api.id, document).await
    {
        let _ = apis::delete(state.store(), &api.id).await;
        return Err(error.into());
    }
    tracing::info!(api_id = %api.id, name = %api.name, tools = api.gateway.mcp.as_ref().map_or(0, |m| m.tools.len()), "MCP server created");
    Ok(api)
}
