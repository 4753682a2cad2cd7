//! Admin REST API v4 (`/api/am/admin/v4`): gateway environments, the gateway tokens that
//! let a data plane connect to one, and the gateways connected to each. Admin role only.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};
use gantry_store::environments::{self, Environment};
use gantry_store::{StoreError, gateways};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::extract::{JsonBody, Scoped};
use crate::rest_scopes;
use crate::wire::{plain_list, rfc3339};

/// A gateway counts as live when it was heard from this recently.
pub const LIVE_WITHIN_MS: i64 = 30_000;

/// Routes under `/api/am/admin/v4`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/environments", get(list).post(create))
        .route(
            "/environments/{environment_id}",
            get(get_one).put(update).delete(remove),
        )
        .route("/environments/{environment_id}/gateways", get(gateways_of))
        .route(
            "/environments/{environment_id}/gateway-tokens",
            get(list_tokens).post(create_token),
        )
        .route(
            "/environments/{environment_id}/gateway-tokens/{token_id}",
            delete(revoke_token),
        )
}

fn environment_json(env: &Environment) -> Value {
    json!({
        "id": env.id,
        "name": env.name,
        "displayName": env.display_name,
        "description": env.description,
        "provider": "wso2",
        "gatewayType": "Regular",
        "isReadOnly": false,
        "vhosts": env.vhosts.iter().map(|h| json!({"host": h, "httpContext": "", "httpPort": 80, "httpsPort": 443})).collect::<Vec<_>>(),
        "configVersion": env.config_version,
    })
}

/// The body of POST/PUT `/environments` (WSO2 `Environment`).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct EnvironmentRequest {
    name: Option<String>,
    display_name: Option<String>,
    description: Option<String>,
    vhosts: Option<Vec<VhostRequest>>,
}

#[derive(Debug, Deserialize)]
struct VhostRequest {
    host: Option<String>,
}

fn parse_vhosts(vhosts: &Option<Vec<VhostRequest>>) -> ApiResult<Vec<String>> {
    let vhosts = vhosts.as_ref().filter(|v| !v.is_empty()).ok_or_else(|| {
        ApiError::BadRequest(
            "vhosts: at least one is required, e.g. [{\"host\":\"gw.example.com\"}]".into(),
        )
    })?;
    let mut hosts: Vec<String> = Vec::with_capacity(vhosts.len());
    for (i, v) in vhosts.iter().enumerate() {
        let host = v
            .host
            .as_deref()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        let valid = !host.is_empty()
            && host.len() <= 253
            && host.split('.').all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && label
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            });
        if !valid {
            return Err(ApiError::BadRequest(format!(
                "vhosts[{i}].host: '{host}' is not a host name"
            )));
        }
        if !hosts.contains(&host) {
            hosts.push(host);
        }
    }
    Ok(hosts)
}

fn valid_environment_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 60
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

async fn list(
    State(state): State<AppState>,
    _: Scoped<rest_scopes::EnvironmentRead>,
) -> ApiResult<axum::Json<Value>> {
    let envs = environments::list(state.store()).await?;
    Ok(axum::Json(plain_list(
        envs.iter().map(environment_json).collect(),
    )))
}

async fn create(
    State(state): State<AppState>,
    _: Scoped<rest_scopes::EnvironmentManage>,
    JsonBody(request): JsonBody<EnvironmentRequest>,
) -> ApiResult<Response> {
    let name = request.name.as_deref().unwrap_or_default();
    if !valid_environment_name(name) {
        return Err(ApiError::BadRequest(
            "name: 1–60 letters, digits, '-' or '_' (e.g. \"dp-prod-a\")".into(),
        ));
    }
    let vhosts = parse_vhosts(&request.vhosts)?;
    let env = environments::create(
        state.store(),
        name,
        request.display_name.as_deref().unwrap_or(name),
        request.description.as_deref().unwrap_or(""),
        &vhosts,
    )
    .await?;
    tracing::info!(environment = %env.name, "environment created");
    state.reconcile().await?;
    Ok((StatusCode::CREATED, axum::Json(environment_json(&env))).into_response())
}

async fn load(state: &AppState, id: &str) -> ApiResult<Environment> {
    environments::find_by_id(state.store(), id)
        .await?
        .ok_or_else(|| ApiError::not_found("environment", id))
}

async fn get_one(
    State(state): State<AppState>,
    _: Scoped<rest_scopes::EnvironmentRead>,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Value>> {
    Ok(axum::Json(environment_json(&load(&state, &id).await?)))
}

async fn update(
    State(state): State<AppState>,
    _: Scoped<rest_scopes::EnvironmentManage>,
    Path(id): Path<String>,
    JsonBody(request): JsonBody<EnvironmentRequest>,
) -> ApiResult<axum::Json<Value>> {
    let env = load(&state, &id).await?;
    if request.name.as_deref().is_some_and(|n| n != env.name) {
        return Err(ApiError::BadRequest(
            "name: an environment cannot be renamed".into(),
        ));
    }
    let vhosts = parse_vhosts(&request.vhosts)?;
    environments::update(
        state.store(),
        &id,
        request.display_name.as_deref().unwrap_or(&env.display_name),
        request.description.as_deref().unwrap_or(&env.description),
        &vhosts,
    )
    .await?;
    Ok(axum::Json(environment_json(&load(&state, &id).await?)))
}

async fn remove(
    State(state): State<AppState>,
    _: Scoped<rest_scopes::EnvironmentManage>,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    match environments::delete(state.store(), &id).await {
        Err(StoreError::NotFound) => Err(ApiError::not_found("environment", &id)),
        other => {
            other?;
            Ok(StatusCode::OK)
        }
    }
}

async fn gateways_of(
    State(state): State<AppState>,
    _: Scoped<rest_scopes::EnvironmentRead>,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Value>> {
    let env = load(&state, &id).await?;
    let now = gantry_store::now_ms();
    let nodes = gateways::nodes_of(state.store(), &env.name).await?;
    let list: Vec<Value> = nodes
        .iter()
        .map(|n| {
            let live = n.connected == 1 && now - n.last_seen < LIVE_WITHIN_MS;
            json!({
                "gatewayId": n.node_id,
                "status": if live { "ACTIVE" } else { "INACTIVE" },
                "build": n.build,
                "appliedVersion": n.applied_version,
                "environmentVersion": env.config_version,
                "inSync": n.applied_version >= env.config_version,
                "lastAck": n.last_ack_at.map(rfc3339),
                "lastNack": n.last_nack_at.map(|at| json!({
                    "version": n.last_nack_version, "reason": n.last_nack_reason, "time": rfc3339(at),
                })),
                "firstSeen": rfc3339(n.first_seen),
                "lastActive": rfc3339(n.last_seen),
            })
        })
        .collect();
    Ok(axum::Json(plain_list(list)))
}

#[derive(Debug, Deserialize, Default)]
struct TokenRequest {
    name: Option<String>,
}

async fn create_token(
    State(state): State<AppState>,
    _: Scoped<rest_scopes::EnvironmentManage>,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> ApiResult<Response> {
    let env = load(&state, &id).await?;
    let request: TokenRequest = if body.iter().all(u8::is_ascii_whitespace) {
        TokenRequest::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::BadRequest(format!("Invalid request body: {e}")))?
    };
    let secret = format!("gtw_{}", gantry_keys::secret::random_token(32));
    let name = request
        .name
        .unwrap_or_else(|| format!("{}-gateways", env.name));
    let token = gateways::create_token(
        state.store(),
        &env.name,
        &name,
        &gantry_keys::secret::hash_secret(&secret),
    )
    .await?;
    tracing::info!(environment = %env.name, token_id = %token.id, "gateway token issued");
    Ok((
        StatusCode::CREATED,
        axum::Json(json!({
            "id": token.id, "name": token.name, "environment": env.name,
            "token": secret, "createdTime": rfc3339(token.created_at),
        })),
    )
        .into_response())
}

async fn list_tokens(
    State(state): State<AppState>,
    _: Scoped<rest_scopes::EnvironmentManage>,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Value>> {
    let env = load(&state, &id).await?;
    let tokens = gateways::tokens_of(state.store(), &env.name).await?;
    let list: Vec<Value> = tokens
        .iter()
        .map(|t| {
            json!({
                "id": t.id, "name": t.name, "createdTime": rfc3339(t.created_at),
                "revoked": t.revoked_at.is_some(), "revokedTime": t.revoked_at.map(rfc3339),
            })
        })
        .collect();
    Ok(axum::Json(plain_list(list)))
}

async fn revoke_token(
    State(state): State<AppState>,
    _: Scoped<rest_scopes::EnvironmentManage>,
    Path((id, token_id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let env = load(&state, &id).await?;
    match gateways::revoke_token(state.store(), &env.name, &token_id).await {
        Err(StoreError::NotFound) => Err(ApiError::not_found("gateway token", &token_id)),
        other => {
            other?;
            tracing::info!(environment = %env.name, %token_id, "gateway token revoked");
            Ok(StatusCode::OK)
        }
    }
}
