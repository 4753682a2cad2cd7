//! Publisher `/mcp-servers` (WSO2 4.7): create an MCP server from an API, an OpenAPI
//! document or a third-party MCP server, check a third-party one, list, read, delete and
//! change the lifecycle. Revisions and deployments are the API handlers' own, mounted under
//! `/mcp-servers/{mcpServerId}/…` with the MCP scopes (see `publisher/mod.rs`).

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use gantry_model::Api;
use gantry_model::mcp::{MCP_API_TYPE, McpServer};
use gantry_store::apis;
use serde::Deserialize;
use serde_json::{Value, json};

use super::apis::{load_for, may_access};
use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::extract::{AuthUser, JsonBody, QueryParams, Scoped};
use crate::rejection::MultipartForm;
use crate::rest_scopes;
use crate::service::{self, mcp_servers};
use crate::wire::{Paging, list_envelope, page_of};

const BASE: &str = "/api/am/publisher/v4/mcp-servers";

/// The MCP server `id`, or 404 (also for an API that is not one, or one `user` may not see).
pub(crate) async fn load_server(state: &AppState, id: &str, user: &AuthUser) -> ApiResult<Api> {
    let api = load_for(state, id, user)
        .await
        .map_err(|_| ApiError::not_found("MCP server", id))?;
    if api.api_type == MCP_API_TYPE {
        Ok(api)
    } else {
        Err(ApiError::not_found("MCP server", id))
    }
}

/// WSO2's `MCPServer`.
pub fn mcp_server_json(api: &Api) -> Value {
    let mut body = serde_json::to_value(api).unwrap_or_else(|_| json!({}));
    if let Value::Object(map) = &mut body {
        map.remove("mcp");
        map.remove("type");
    }
    let server = api.gateway.mcp.as_deref();
    body["operations"] = json!(server.map_or_else(Vec::new, |s| operations(s, &api.id)));
    body["subtypeConfiguration"] = json!({
        "subtype": server.map_or("DEFAULT", |s| s.subtype.as_str()),
        "configuration": server
            .and_then(|s| s.source_api_id.as_ref())
            .map_or_else(|| json!({}), |id| json!({"apiId": id})),
    });
    body["protocolVersion"] = json!(PROTOCOL_VERSION);
    body["hasThumbnail"] = json!(false);
    body["isRevision"] = json!(false);
    body["workflowStatus"] = json!("APPROVED");
    body["gatewayType"] = json!("wso2/synapse");
    body["scopes"] = json!([]);
    body
}

/// The newest MCP protocol revision the gateways speak.
const PROTOCOL_VERSION: &str = "2025-11-25";

/// WSO2 `MCPServerOperation`s: one per tool.
fn operations(server: &McpServer, api_id: &str) -> Vec<Value> {
    server
        .tools
        .iter()
        .map(|tool| {
            let mut op = json!({
                "id": format!("{api_id}:{}", tool.name),
                "target": tool.name,
                "feature": "TOOL",
                "authType": tool.auth_type,
                "throttlingPolicy": tool.throttling_policy,
                "scopes": tool.scopes,
                "description": tool.description.clone().unwrap_or_default(),
                "schemaDefinition": tool.input_schema.to_string(),
            });
            if let Some(backend) = &tool.backend {
                let operation =
                    json!({"target": backend.target.as_str(), "verb": backend.verb.as_str()});
                match &server.source_api_id {
                    Some(source) => {
                        op["apiOperationMapping"] =
                            json!({"apiId": source, "backendOperation": operation});
                    }
                    None => op["backendOperationMapping"] = json!({"backendOperation": operation}),
                }
            }
            op
        })
        .collect()
}

/// WSO2's `MCPServerMetadata`.
fn metadata(api: &Api) -> Value {
    json!({
        "id": api.id,
        "name": api.name,
        "displayName": api.name,
        "description": api.description,
        "context": api.context,
        "version": api.version,
        "provider": api.provider,
        "lifeCycleStatus": api.life_cycle_status,
        "isDefaultVersion": api.is_default_version,
        "policies": api.policies,
        "securityScheme": api.security_scheme,
        "createdTime": api.created_time,
        "updatedTime": api.last_updated_time,
        "hasThumbnail": false,
        "workflowStatus": "APPROVED",
        "subtype": api.gateway.mcp.as_ref().map(|m| m.subtype.as_str()),
    })
}

fn created(api: &Api) -> Response {
    let mut headers = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_str(&format!("{BASE}/{}", api.id)) {
        headers.insert(header::LOCATION, v);
    }
    (
        StatusCode::CREATED,
        headers,
        axum::Json(mcp_server_json(api)),
    )
        .into_response()
}

/// `GET /mcp-servers`.
pub(crate) async fn list(
    State(state): State<AppState>,
    Scoped(user, _): Scoped<rest_scopes::McpServerView>,
    QueryParams(paging): QueryParams<Paging>,
) -> ApiResult<axum::Json<Value>> {
    let (offset, limit) = paging.resolve()?;
    let query = crate::api_search::ApiQuery::parse(paging.query.as_deref().unwrap_or_default())?;
    let found: Vec<Api> = apis::all(state.store())
        .await?
        .into_iter()
        .filter(|a| a.api_type == MCP_API_TYPE && may_access(a, &user) && query.matches(a))
        .collect();
    let (page, total) = page_of(found, offset, limit);
    Ok(axum::Json(list_envelope(
        page.iter().map(metadata).collect(),
        offset,
        limit,
        total,
        BASE,
    )))
}

/// `GET /mcp-servers/{mcpServerId}`.
pub(crate) async fn get_one(
    State(state): State<AppState>,
    Scoped(user, _): Scoped<rest_scopes::McpServerView>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let api = load_server(&state, &id, &user).await?;
    let mut response = axum::Json(mcp_server_json(&api)).into_response();
    if let Ok(v) = HeaderValue::from_str(&service::apis::etag(&api)) {
        response.headers_mut().insert(header::ETAG, v);
    }
    Ok(response)
}

/// `DELETE /mcp-servers/{mcpServerId}`.
pub(crate) async fn delete(
    State(state): State<AppState>,
    Scoped(user, _): Scoped<rest_scopes::McpServerDelete>,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    load_server(&state, &id, &user).await?;
    service::apis::delete(&state, &id, &user.username).await?;
    Ok(StatusCode::OK)
}

/// `POST /mcp-servers/generate-from-api`.
pub(crate) async fn from_api(
    State(state): State<AppState>,
    Scoped(user, _): Scoped<rest_scopes::McpServerCreate>,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<Response> {
    let api = mcp_servers::from_api(&state, body, &user).await?;
    Ok(created(&api))
}

/// `POST /mcp-servers/generate-from-openapi` (multipart: `file` or `inlineAPIDefinition`,
/// and `additionalProperties`; a `url` is refused: the control plane fetches no documents).
pub(crate) async fn from_openapi(
    State(state): State<AppState>,
    Scoped(user, _): Scoped<rest_scopes::McpServerCreate>,
    MultipartForm(multipart): MultipartForm,
) -> ApiResult<Response> {
    let upload = super::openapi::read_upload(multipart, &["file", "inlineAPIDefinition"]).await?;
    let document = super::openapi::document_of(&upload, "file")?;
    let additional = upload.additional.clone().unwrap_or_else(|| json!({}));
    let api = mcp_servers::from_openapi(&state, document, additional, &user.username).await?;
    Ok(created(&api))
}

/// The body of `generate-from-mcp-server` and `validate-mcp-server`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ProxyRequest {
    url: Option<String>,
    #[serde(default)]
    additional_properties: Option<Value>,
    #[serde(default)]
    security_info: Option<SecurityInfo>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SecurityInfo {
    #[serde(default)]
    is_secure: bool,
}

impl ProxyRequest {
    fn url(&self) -> ApiResult<&str> {
        self.url
            .as_deref()
            .filter(|u| !u.trim().is_empty())
            .ok_or_else(|| ApiError::BadRequest("url: is required".into()))
    }

    fn secure(&self) -> bool {
        self.security_info.as_ref().is_some_and(|s| s.is_secure)
    }
}

/// `POST /mcp-servers/generate-from-mcp-server`: tools discovered from `url` at once (5 s).
pub(crate) async fn from_mcp_server(
    State(state): State<AppState>,
    Scoped(user, _): Scoped<rest_scopes::McpServerCreate>,
    JsonBody(request): JsonBody<ProxyRequest>,
) -> ApiResult<Response> {
    let url = request.url()?;
    let additional = request
        .additional_properties
        .clone()
        .ok_or_else(|| ApiError::BadRequest("additionalProperties: is required".into()))?;
    let api = mcp_servers::proxy(&state, url, request.secure(), additional, &user.username).await?;
    Ok(created(&api))
}

/// `POST /mcp-servers/validate-mcp-server`: WSO2's `MCPServerValidationResponse`.
pub(crate) async fn validate_mcp_server(
    _: Scoped<rest_scopes::McpServerCreate>,
    JsonBody(request): JsonBody<ProxyRequest>,
) -> ApiResult<axum::Json<Value>> {
    let url = request.url()?;
    Ok(axum::Json(
        match mcp_servers::discover(url, request.secure()).await {
            Ok(tools) => json!({
                "isValid": true,
                "errorMessage": "",
                "toolInfo": {"operations": tools.iter().map(|t| json!({
                    "target": t.name,
                    "feature": "TOOL",
                    "description": t.description.clone().unwrap_or_default(),
                    "schemaDefinition": t.input_schema.to_string(),
                })).collect::<Vec<_>>()},
            }),
            Err(reason) => json!({"isValid": false, "errorMessage": reason}),
        },
    ))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct LifecycleQuery {
    mcp_server_id: Option<String>,
    action: Option<String>,
}

/// `POST /mcp-servers/change-lifecycle?mcpServerId=…&action=…`.
pub(crate) async fn change_lifecycle(
    State(state): State<AppState>,
    Scoped(user, _): Scoped<rest_scopes::McpServerPublish>,
    QueryParams(query): QueryParams<LifecycleQuery>,
) -> ApiResult<Response> {
    let id = query
        .mcp_server_id
        .ok_or_else(|| ApiError::BadRequest("mcpServerId: query parameter is required".into()))?;
    let action = query
        .action
        .ok_or_else(|| ApiError::BadRequest("action: query parameter is required".into()))?;
    load_server(&state, &id, &user).await?;
    super::apis::lifecycle_change(&state, &id, &action, &user).await
}
