//! Admin REST API v4: deny policies (WSO2 "blocking conditions") — `/throttling/deny-policies`
//! (list with a `conditionType:`/`conditionValue:` search, create) and
//! `/throttling/deny-policy/{conditionId}` (get, switch on/off with PATCH, delete; also
//! served under `deny-policies/{conditionId}`). Every change re-syncs the gateways of every
//! environment, which refuse a matching call with 403 `900805`.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use gantry_model::deny::{DenyCondition, user_key};
use gantry_store::deny_policies::{self, StoredDenyPolicy};
use gantry_store::{StoreError, apis, applications};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::extract::{JsonBody, QueryParams, Scoped};
use crate::rest_scopes;
use crate::wire::plain_list;

/// Routes under `/api/am/admin/v4/throttling`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/throttling/deny-policies", get(list).post(create))
        .route(
            "/throttling/deny-policy/{condition_id}",
            get(get_one).patch(update).delete(remove),
        )
        .route(
            "/throttling/deny-policies/{condition_id}",
            get(get_one).patch(update).delete(remove),
        )
}

/// WSO2 `BlockingCondition`.
pub(crate) fn condition_json(policy: &StoredDenyPolicy) -> Value {
    json!({
        "conditionId": policy.id,
        "conditionType": policy.condition.condition_type(),
        "conditionValue": policy.condition.wso2_value(),
        "conditionStatus": policy.enabled,
    })
}

#[derive(Debug, Deserialize)]
struct ListQuery {
    query: Option<String>,
}

/// WSO2's search: `conditionType:API & conditionValue:/test/1.0.0` (either part alone).
struct Search {
    condition_type: Option<String>,
    condition_value: Option<String>,
}

impl Search {
    fn parse(query: &str) -> ApiResult<Self> {
        let mut search = Search {
            condition_type: None,
            condition_value: None,
        };
        for part in query.split('&').map(str::trim).filter(|p| !p.is_empty()) {
            match part.split_once(':') {
                Some((key, value)) if key.trim() == "conditionType" => {
                    let kind = value.trim().to_ascii_uppercase();
                    // WSO2 spells it IPRANGE; IP_RANGE is read as the same.
                    search.condition_type = Some(kind.replace("IP_RANGE", "IPRANGE"));
                }
                Some((key, value)) if key.trim() == "conditionValue" => {
                    search.condition_value = Some(value.trim().to_owned());
                }
                _ => {
                    return Err(ApiError::BadRequest(format!(
                        "query: '{part}' is not conditionType:<type> or conditionValue:<value>"
                    )));
                }
            }
        }
        Ok(search)
    }

    fn matches(&self, policy: &StoredDenyPolicy) -> bool {
        self.condition_type
            .as_deref()
            .is_none_or(|t| t == policy.condition.condition_type())
            && self
                .condition_value
                .as_deref()
                .is_none_or(|v| policy.condition.matches_search(v))
    }
}

async fn list(
    State(state): State<AppState>,
    _: Scoped<rest_scopes::DenyPolicyView>,
    QueryParams(params): QueryParams<ListQuery>,
) -> ApiResult<axum::Json<Value>> {
    let search = Search::parse(params.query.as_deref().unwrap_or_default())?;
    let found = deny_policies::list(state.store()).await?;
    Ok(axum::Json(plain_list(
        found
            .iter()
            .filter(|p| search.matches(p))
            .map(condition_json)
            .collect(),
    )))
}

/// The policy `id`; 404 when there is none.
pub(crate) async fn load(state: &AppState, id: &str) -> ApiResult<StoredDenyPolicy> {
    match deny_policies::get(state.store(), id).await {
        Err(StoreError::NotFound) => Err(ApiError::not_found("deny policy", id)),
        other => Ok(other?),
    }
}

async fn get_one(
    State(state): State<AppState>,
    _: Scoped<rest_scopes::DenyPolicyView>,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Value>> {
    Ok(axum::Json(condition_json(&load(&state, &id).await?)))
}

/// The body of POST (WSO2 `BlockingCondition`).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ConditionRequest {
    pub(crate) condition_type: Option<String>,
    pub(crate) condition_value: Option<Value>,
    pub(crate) condition_status: Option<bool>,
}

async fn create(
    State(state): State<AppState>,
    Scoped(user, _): Scoped<rest_scopes::DenyPolicyManage>,
    JsonBody(request): JsonBody<ConditionRequest>,
) -> ApiResult<Response> {
    let policy = create_policy(&state, request, &user.username).await?;
    let mut response = (StatusCode::CREATED, axum::Json(condition_json(&policy))).into_response();
    if let Ok(v) = HeaderValue::from_str(&format!(
        "/api/am/admin/v4/throttling/deny-policy/{}",
        policy.id
    )) {
        response.headers_mut().insert(header::LOCATION, v);
    }
    Ok(response)
}

/// Validates the condition (an API must exist by its context and version, an application
/// by owner and name), stores it (409 when one blocks the same thing), re-syncs gateways.
pub(crate) async fn create_policy(
    state: &AppState,
    request: ConditionRequest,
    by: &str,
) -> ApiResult<StoredDenyPolicy> {
    let kind = request
        .condition_type
        .filter(|t| !t.trim().is_empty())
        .ok_or_else(|| ApiError::BadRequest("conditionType: is required".into()))?;
    let value = request
        .condition_value
        .filter(|v| !v.is_null())
        .ok_or_else(|| ApiError::BadRequest("conditionValue: is required".into()))?;
    let mut condition = DenyCondition::from_wso2(kind.trim(), &value)?;
    resolve(state, &mut condition).await?;
    let policy = deny_policies::create(
        state.store(),
        &condition,
        request.condition_status.unwrap_or(true),
        by,
    )
    .await?;
    tracing::info!(
        id = %policy.id,
        condition_type = condition.condition_type(),
        enabled = policy.enabled,
        %by,
        "deny policy created"
    );
    state.sync_environments().await?;
    Ok(policy)
}

/// Checks that what an API or application condition names exists (400 otherwise, as WSO2),
/// and records the application's id, which gateways match on.
async fn resolve(state: &AppState, condition: &mut DenyCondition) -> ApiResult<()> {
    match condition {
        DenyCondition::Api { context } => {
            let known = apis::all(state.store())
                .await?
                .iter()
                .any(|api| format!("{}/{}", api.context, api.version) == *context);
            if !known {
                return Err(ApiError::BadRequest(format!(
                    "conditionValue: no API has the context and version '{context}'"
                )));
            }
        }
        DenyCondition::Application { id, owner, name } => {
            let bare = owner.strip_suffix("@carbon.super").unwrap_or(owner);
            let mut found = applications::find_owned_by_name(state.store(), bare, name).await?;
            if found.is_none() && bare != user_key(bare) {
                found =
                    applications::find_owned_by_name(state.store(), &user_key(bare), name).await?;
            }
            let Some(app) = found else {
                return Err(ApiError::BadRequest(format!(
                    "conditionValue: {owner} has no application called '{name}'"
                )));
            };
            *id = app.id;
            *owner = app.owner;
        }
        DenyCondition::User { .. } | DenyCondition::Ip { .. } | DenyCondition::IpRange { .. } => {}
    }
    Ok(())
}

/// WSO2 `BlockingConditionStatus`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct StatusRequest {
    condition_status: Option<bool>,
    /// WSO2 allows the id in the body too; when given it must be the path's.
    condition_id: Option<String>,
}

async fn update(
    State(state): State<AppState>,
    Scoped(user, _): Scoped<rest_scopes::DenyPolicyManage>,
    Path(id): Path<String>,
    JsonBody(request): JsonBody<StatusRequest>,
) -> ApiResult<axum::Json<Value>> {
    let enabled = request.condition_status.ok_or_else(|| {
        ApiError::BadRequest("conditionStatus: is required (true or false)".into())
    })?;
    if let Some(other) = request.condition_id.filter(|other| *other != id) {
        return Err(ApiError::BadRequest(format!(
            "conditionId: '{other}' is not the policy of the path ('{id}')"
        )));
    }
    let policy = switch_policy(&state, &id, enabled, &user.username).await?;
    Ok(axum::Json(condition_json(&policy)))
}

/// Switches the policy `id` on or off without deleting it; re-syncs gateways.
pub(crate) async fn switch_policy(
    state: &AppState,
    id: &str,
    enabled: bool,
    by: &str,
) -> ApiResult<StoredDenyPolicy> {
    let mut policy = load(state, id).await?;
    deny_policies::set_enabled(state.store(), id, enabled).await?;
    policy.enabled = enabled;
    tracing::info!(%id, enabled, %by, "deny policy switched");
    state.sync_environments().await?;
    Ok(policy)
}

async fn remove(
    State(state): State<AppState>,
    Scoped(user, _): Scoped<rest_scopes::DenyPolicyManage>,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    remove_policy(&state, &id, &user.username).await?;
    Ok(StatusCode::OK)
}

/// Deletes the policy `id`; re-syncs gateways. The deleted policy.
pub(crate) async fn remove_policy(
    state: &AppState,
    id: &str,
    by: &str,
) -> ApiResult<StoredDenyPolicy> {
    let policy = load(state, id).await?;
    deny_policies::delete(state.store(), id).await?;
    tracing::info!(%id, %by, "deny policy deleted");
    state.sync_environments().await?;
    Ok(policy)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn searches_read_wso2_modifiers() {
        let s = Search::parse("conditionType:IP & conditionValue:10.0.0.1").unwrap();
        assert_eq!(s.condition_type.as_deref(), Some("IP"));
        assert_eq!(s.condition_value.as_deref(), Some("10.0.0.1"));
        assert!(Search::parse("color:red").is_err());
        let all = Search::parse("").unwrap();
        assert!(all.condition_type.is_none() && all.condition_value.is_none());
    }
}
