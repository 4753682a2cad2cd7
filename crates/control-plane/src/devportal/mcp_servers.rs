//! Developer Portal `/mcp-servers`: the MCP servers a user may subscribe to (the same
//! visibility as APIs), each with its tools and the client configuration to copy into an
//! MCP client (`mcpClientConfiguration`, a Gantry addition: the server's URL on the gateway
//! and the header its access token goes in).

use axum::extract::{Path, State};
use gantry_model::mcp::{MCP_API_TYPE, MCP_RESOURCE};
use gantry_store::{StoreError, apis};
use serde_json::{Value, json};

use super::apis::{add_access, devportal_info as info, list_where, visible};
use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::extract::{MaybeUser, QueryParams};
use crate::wire::Paging;

/// `GET /mcp-servers`.
pub(crate) async fn list(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    QueryParams(paging): QueryParams<Paging>,
) -> ApiResult<axum::Json<Value>> {
    list_where(
        &state,
        user.as_ref(),
        &paging,
        |a| a.api_type == MCP_API_TYPE,
        false,
        "/api/am/devportal/v3/mcp-servers",
    )
    .await
}

/// `GET /mcp-servers/{mcpServerId}`: WSO2's devportal `API`, its `operations` the tools
/// (`verb: TOOL`), with the client configuration.
pub(crate) async fn get_one(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Value>> {
    let api = match apis::get(state.store(), &id).await {
        Err(StoreError::NotFound) => return Err(ApiError::not_found("MCP server", &id)),
        other => other?,
    };
    if api.api_type != MCP_API_TYPE || !visible(&api, user.as_ref().map(|u| u.roles.as_slice())) {
        return Err(ApiError::not_found("MCP server", &id));
    }
    let tools = api.gateway.mcp.as_ref().map_or(&[][..], |m| &m.tools[..]);
    let mut body = info(&api);
    body["operations"] = json!(
        tools
            .iter()
            .map(|t| json!({
                "id": format!("{}:{}", api.id, t.name),
                "target": t.name,
                "verb": "TOOL",
                "description": t.description,
                "scopes": t.scopes,
                "inputSchema": t.input_schema,
            }))
            .collect::<Vec<_>>()
    );
    add_access(&mut body, &api);
    let gateway = state.gateway_base_url().unwrap_or("https://<gateway-host>");
    let url = format!("{gateway}{}/{}{MCP_RESOURCE}", api.context, api.version);
    body["mcpClientConfiguration"] = json!({
        "mcpServers": {
            api.name.as_str(): {
                "type": "http",
                "url": url,
                "headers": {api.authorization_header.as_str(): "Bearer <access token of a subscribed application>"}
            }
        }
    });
    Ok(axum::Json(body))
}
