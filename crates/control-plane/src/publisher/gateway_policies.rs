//! Publisher: gateway policies (WSO2 4.3+ `/gateway-policies`). A mapping is a set of
//! request, response and fault policies; deployed to an environment (WSO2's gateway label,
//! one mapping per environment), it runs on every API that environment's gateways serve,
//! before the API's own policies. It travels in the environment's snapshot.

use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use gantry_model::ApiPolicies;
use gantry_store::gateway_policies::{self, StoredMapping};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::extract::{JsonBody, QueryParams, Scoped};
use crate::rest_scopes;
use crate::wire::{Paging, list_envelope, page_of};

const BASE: &str = "/api/am/publisher/v4/gateway-policies";

/// WSO2 `GatewayPolicyMappings` (the body of create and update).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct MappingRequest {
    display_name: Option<String>,
    #[serde(default)]
    description: String,
    policy_mapping: Option<ApiPolicies>,
}

impl MappingRequest {
    fn checked(self) -> ApiResult<(String, String, ApiPolicies)> {
        let name = self
            .display_name
            .map(|n| n.trim().to_owned())
            .filter(|n| !n.is_empty())
            .ok_or_else(|| ApiError::BadRequest("displayName: is required".into()))?;
        if name.chars().count() > 255 {
            return Err(ApiError::BadRequest(
                "displayName: at most 255 characters".into(),
            ));
        }
        let policies = self
            .policy_mapping
            .ok_or_else(|| ApiError::BadRequest("policyMapping: is required".into()))?;
        policies.validate("policyMapping")?;
        Ok((name, self.description, policies))
    }
}

fn info(m: &StoredMapping) -> Value {
    json!({"id": m.id, "displayName": m.display_name, "description": m.description})
}

fn full(m: &StoredMapping) -> Value {
    json!({
        "id": m.id,
        "displayName": m.display_name,
        "description": m.description,
        "policyMapping": m.policies,
        "appliedGatewayLabels": m.environments,
    })
}

async fn load(state: &AppState, id: &str) -> ApiResult<StoredMapping> {
    match gateway_policies::get(state.store(), id).await {
        Err(gantry_store::StoreError::NotFound) => {
            Err(ApiError::not_found("gateway policy mapping", id))
        }
        other => Ok(other?),
    }
}

/// `POST /gateway-policies`.
pub(crate) async fn create(
    State(state): State<AppState>,
    Scoped(user, _): Scoped<rest_scopes::GatewayPolicyManage>,
    JsonBody(body): JsonBody<MappingRequest>,
) -> ApiResult<Response> {
    let (name, description, policies) = body.checked()?;
    let mapping = gateway_policies::create(state.store(), &name, &description, &policies).await?;
    tracing::info!(id = %mapping.id, by = %user.username, "gateway policy mapping created");
    let mut response = (StatusCode::CREATED, axum::Json(info(&mapping))).into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("{BASE}/{}", mapping.id)) {
        response.headers_mut().insert(header::LOCATION, v);
    }
    Ok(response)
}

/// `GET /gateway-policies` (`query=gatewayLabel:<environment>`).
pub(crate) async fn list(
    State(state): State<AppState>,
    Scoped(_, _): Scoped<rest_scopes::GatewayPolicyView>,
    QueryParams(paging): QueryParams<Paging>,
) -> ApiResult<axum::Json<Value>> {
    let (offset, limit) = paging.resolve()?;
    let label = match paging
        .query
        .as_deref()
        .map(str::trim)
        .filter(|q| !q.is_empty())
    {
        None => None,
        Some(q) => Some(q.strip_prefix("gatewayLabel:").ok_or_else(|| {
            ApiError::BadRequest(format!("query: '{q}' is not gatewayLabel:<label>"))
        })?),
    };
    let all: Vec<Value> = gateway_policies::list(state.store())
        .await?
        .iter()
        .filter(|m| label.is_none_or(|l| m.environments.iter().any(|e| e == l)))
        .map(|m| {
            json!({"id": m.id, "displayName": m.display_name, "description": m.description,
                "appliedGatewayLabels": m.environments})
        })
        .collect();
    let (page, total) = page_of(all, offset, limit);
    Ok(axum::Json(list_envelope(page, offset, limit, total, BASE)))
}

/// `GET /gateway-policies/{id}`.
pub(crate) async fn get_one(
    State(state): State<AppState>,
    Scoped(_, _): Scoped<rest_scopes::GatewayPolicyView>,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Value>> {
    Ok(axum::Json(full(&load(&state, &id).await?)))
}

/// `PUT /gateway-policies/{id}`: gateways it is deployed to get the new policies.
pub(crate) async fn update(
    State(state): State<AppState>,
    Scoped(user, _): Scoped<rest_scopes::GatewayPolicyManage>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<MappingRequest>,
) -> ApiResult<axum::Json<Value>> {
    load(&state, &id).await?;
    let (name, description, policies) = body.checked()?;
    let mapping =
        gateway_policies::update(state.store(), &id, &name, &description, &policies).await?;
    if !mapping.environments.is_empty() {
        state.sync_environments().await?;
    }
    tracing::info!(id, by = %user.username, "gateway policy mapping updated");
    Ok(axum::Json(full(&mapping)))
}

/// `DELETE /gateway-policies/{id}`: refused (412) while it is deployed.
pub(crate) async fn delete(
    State(state): State<AppState>,
    Scoped(user, _): Scoped<rest_scopes::GatewayPolicyManage>,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let mapping = load(&state, &id).await?;
    if !mapping.environments.is_empty() {
        return Err(ApiError::PreconditionFailed(format!(
            "The gateway policy mapping is deployed to {}; undeploy it first",
            mapping.environments.join(", ")
        )));
    }
    gateway_policies::delete(state.store(), &id).await?;
    tracing::info!(id, by = %user.username, "gateway policy mapping deleted");
    Ok(StatusCode::OK)
}

/// One element of the deploy body (WSO2 `GatewayPolicyDeployment`).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Deployment {
    gateway_label: Option<String>,
    gateway_deployment: Option<bool>,
    #[serde(default, rename = "mappingUUID")]
    mapping_uuid: Option<String>,
}

/// `POST /gateway-policies/{id}/deploy`: deploys to (`gatewayDeployment: true`) or
/// undeploys from each named environment, then tells the gateways.
pub(crate) async fn deploy(
    State(state): State<AppState>,
    Scoped(user, _): Scoped<rest_scopes::GatewayPolicyManage>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<Vec<Deployment>>,
) -> ApiResult<axum::Json<Value>> {
    let mapping = load(&state, &id).await?;
    // Checked again: the built-in catalogue may have changed since the mapping was saved.
    mapping.policies.validate("policyMapping")?;
    let mut steps = Vec::with_capacity(body.len());
    for (i, d) in body.iter().enumerate() {
        let label = d
            .gateway_label
            .as_deref()
            .filter(|l| !l.is_empty())
            .ok_or_else(|| ApiError::BadRequest(format!("[{i}].gatewayLabel: is required")))?;
        let on = d
            .gateway_deployment
            .ok_or_else(|| ApiError::BadRequest(format!("[{i}].gatewayDeployment: is required")))?;
        if d.mapping_uuid.as_deref().is_some_and(|m| m != id) {
            return Err(ApiError::BadRequest(format!(
                "[{i}].mappingUUID: does not match the mapping in the path"
            )));
        }
        if gantry_store::environments::find_by_name(state.store(), label)
            .await?
            .is_none()
        {
            return Err(ApiError::BadRequest(format!(
                "[{i}].gatewayLabel: '{label}' is not an environment"
            )));
        }
        steps.push((label.to_owned(), on));
    }
    for (label, on) in &steps {
        if *on {
            gateway_policies::deploy(state.store(), &id, label).await?;
        } else {
            gateway_policies::undeploy(state.store(), &id, label).await?;
        }
        tracing::info!(id, environment = %label, deployed = on, by = %user.username, "gateway policy mapping deployment changed");
    }
    state.sync_environments().await?;
    Ok(axum::Json(Value::Array(
        steps
            .iter()
            .map(|(label, on)| json!({"gatewayLabel": label, "gatewayDeployment": on, "mappingUUID": id}))
            .collect(),
    )))
}
