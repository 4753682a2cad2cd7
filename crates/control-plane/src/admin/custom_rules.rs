//! Admin REST API v4: custom rules (`/throttling/policies/custom`, `/custom/{ruleId}`).
//! WSO2 writes them in Siddhi; Gantry takes a declarative form of the same idea: WSO2's
//! `keyTemplate` (what is counted together: `$userId`, `$apiContext`, `$clientIp`…), a
//! `defaultLimit` per key, and optional `conditions` (WSO2's throttle conditions) choosing
//! which calls count. A body with a `siddhiQuery` is refused with a message saying so.
//! Rules apply to every API in every environment; gateways answer 429 `900806`.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use gantry_model::custom_rules::{CustomRule, parse_key_template};
use gantry_model::throttle_conditions::{ThrottleCondition, validate_conditions};
use gantry_store::StoreError;
use gantry_store::custom_rules::{self, StoredCustomRule};
use serde::Deserialize;
use serde_json::{Value, json};

use super::policies::{Limit, limit_json, parse_limit};
use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::extract::{JsonBody, Scoped};
use crate::rest_scopes;
use crate::wire::plain_list;

/// Routes under `/api/am/admin/v4/throttling/policies/custom`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/throttling/policies/custom", get(list).post(create))
        .route(
            "/throttling/policies/custom/{rule_id}",
            get(get_one).put(update).delete(remove),
        )
}

/// WSO2 `CustomRule`, with Gantry's `defaultLimit` and `conditions`; `siddhiQuery` says in
/// words what the rule does (gateways do not run Siddhi).
pub(crate) fn rule_json(stored: &StoredCustomRule) -> Value {
    let rule = &stored.rule;
    let limit = &rule.limit;
    let amount = if limit.data_amount > 0 {
        format!("{} {}", limit.data_amount, limit.data_unit)
    } else {
        format!("{} requests", limit.request_count)
    };
    json!({
        "policyId": stored.id,
        "policyName": rule.name,
        "displayName": rule.name,
        "description": stored.description,
        "isDeployed": true,
        "type": "CustomRule",
        "keyTemplate": rule.key_template,
        "siddhiQuery": format!(
            "-- Gantry keyed limit (not Siddhi): {amount} per {} {} per {}{}",
            limit.unit_time,
            limit.time_unit,
            rule.key_template,
            if rule.conditions.is_empty() { "" } else { ", for calls meeting the conditions" }
        ),
        "defaultLimit": limit_json(limit.request_count, limit.unit_time, &limit.time_unit,
                                   limit.data_amount, &limit.data_unit),
        "conditions": rule.conditions,
    })
}

/// The body of POST/PUT.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RuleRequest {
    policy_name: Option<String>,
    description: Option<String>,
    key_template: Option<String>,
    siddhi_query: Option<String>,
    default_limit: Option<Limit>,
    #[serde(default)]
    conditions: Vec<ThrottleCondition>,
    /// WSO2's discriminator; must be a string when given.
    #[serde(rename = "type")]
    _kind: Option<String>,
    #[serde(rename = "displayName")]
    _display_name: Option<String>,
}

impl RuleRequest {
    pub(crate) fn into_rule(self) -> ApiResult<(CustomRule, String)> {
        if self.siddhi_query.as_deref().is_some_and(|q| {
            let q = q.trim();
            !q.is_empty() && !q.starts_with("-- Gantry keyed limit")
        }) {
            return Err(ApiError::BadRequest(
                "siddhiQuery: Gantry does not run Siddhi; describe the rule with keyTemplate, \
                 defaultLimit and (optionally) conditions instead (see docs/api-compatibility.md)"
                    .into(),
            ));
        }
        let name = super::policies::policy_name(self.policy_name)?;
        let key_template = self
            .key_template
            .ok_or_else(|| ApiError::BadRequest("keyTemplate: is required".into()))?;
        parse_key_template(&key_template)?;
        let limit = self
            .default_limit
            .ok_or_else(|| ApiError::BadRequest("defaultLimit: is required".into()))?;
        let limit = parse_limit("defaultLimit", limit)?.into_group_limit()?;
        if limit.request_count < 0 && limit.data_amount == 0 {
            return Err(ApiError::BadRequest(
                "defaultLimit.requestCount.requestCount: a custom rule needs a limit".into(),
            ));
        }
        validate_conditions(&self.conditions, "conditions")?;
        Ok((
            CustomRule {
                name,
                key_template,
                conditions: self.conditions,
                limit,
            },
            self.description.unwrap_or_default(),
        ))
    }
}

async fn load(state: &AppState, id: &str) -> ApiResult<StoredCustomRule> {
    match custom_rules::get(state.store(), id).await {
        Err(StoreError::NotFound) => Err(ApiError::not_found("custom rule", id)),
        other => Ok(other?),
    }
}

async fn list(
    State(state): State<AppState>,
    _: Scoped<rest_scopes::TierView>,
) -> ApiResult<axum::Json<Value>> {
    let rules = custom_rules::list(state.store()).await?;
    Ok(axum::Json(plain_list(
        rules.iter().map(rule_json).collect(),
    )))
}

async fn get_one(
    State(state): State<AppState>,
    _: Scoped<rest_scopes::TierView>,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Value>> {
    Ok(axum::Json(rule_json(&load(&state, &id).await?)))
}

async fn create(
    State(state): State<AppState>,
    Scoped(user, _): Scoped<rest_scopes::TierManage>,
    JsonBody(request): JsonBody<RuleRequest>,
) -> ApiResult<Response> {
    let (rule, description) = request.into_rule()?;
    let stored = custom_rules::create(state.store(), &rule, &description).await?;
    tracing::info!(name = %rule.name, by = %user.username, "custom rule created");
    state.sync_environments().await?;
    let mut response = (StatusCode::CREATED, axum::Json(rule_json(&stored))).into_response();
    if let Ok(v) = HeaderValue::from_str(&format!(
        "/api/am/admin/v4/throttling/policies/custom/{}",
        stored.id
    )) {
        response.headers_mut().insert(header::LOCATION, v);
    }
    Ok(response)
}

async fn update(
    State(state): State<AppState>,
    Scoped(user, _): Scoped<rest_scopes::TierManage>,
    Path(id): Path<String>,
    JsonBody(request): JsonBody<RuleRequest>,
) -> ApiResult<axum::Json<Value>> {
    let current = load(&state, &id).await?;
    let (rule, description) = request.into_rule()?;
    if rule.name != current.rule.name {
        return Err(ApiError::BadRequest(format!(
            "policyName: cannot be changed ('{}')",
            current.rule.name
        )));
    }
    custom_rules::update(state.store(), &id, &rule, &description).await?;
    tracing::info!(name = %rule.name, by = %user.username, "custom rule updated");
    state.sync_environments().await?;
    Ok(axum::Json(rule_json(&StoredCustomRule {
        id,
        description,
        rule,
    })))
}

async fn remove(
    State(state): State<AppState>,
    Scoped(user, _): Scoped<rest_scopes::TierManage>,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let current = load(&state, &id).await?;
    custom_rules::delete(state.store(), &id).await?;
    tracing::info!(name = %current.rule.name, by = %user.username, "custom rule deleted");
    state.sync_environments().await?;
    Ok(StatusCode::OK)
}
