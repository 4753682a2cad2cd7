//! Publisher: the subscriptions to an API, and blocking them (`BLOCKED` refuses every
//! call, `PROD_ONLY_BLOCKED` refuses production keys) — enforced by gateways at once.

use axum::extract::State;
use gantry_model::SubscriptionStatus;
use gantry_store::{StoreError, subscriptions};
use serde::Deserialize;
use serde_json::Value;

use crate::AppState;
use crate::devportal::subscriptions::subscription_json;
use crate::error::{ApiError, ApiResult};
use crate::extract::{AuthUser, QueryParams, Scoped};
use crate::rest_scopes;
use crate::wire::whole_list;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ListQuery {
    api_id: Option<String>,
}

/// `GET /subscriptions?apiId=…` (an API's or an API product's id).
pub(crate) async fn list(
    State(state): State<AppState>,
    _: Scoped<rest_scopes::SubscriptionView>,
    QueryParams(query): QueryParams<ListQuery>,
) -> ApiResult<axum::Json<Value>> {
    let api_id = query
        .api_id
        .ok_or_else(|| ApiError::BadRequest("apiId: query parameter is required".into()))?;
    // An API's subscriptions, or an API product's.
    let target = crate::service::api_products::subscribed_to(&state, &api_id).await?;
    let subs = subscriptions::list_for_api(state.store(), &target.id).await?;
    let mut list = Vec::with_capacity(subs.len());
    for sub in &subs {
        let mut body = subscription_json(&state, sub).await?;
        // The Publisher's `Subscription` names the state `subscriptionStatus`.
        body["subscriptionStatus"] = body["status"].clone();
        list.push(body);
    }
    Ok(axum::Json(whole_list(list)))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct BlockQuery {
    subscription_id: Option<String>,
    block_state: Option<String>,
}

async fn set_status(
    state: &AppState,
    user: &AuthUser,
    id: Option<String>,
    status: SubscriptionStatus,
) -> ApiResult<()> {
    let id = id.ok_or_else(|| {
        ApiError::BadRequest("subscriptionId: query parameter is required".into())
    })?;
    let current = match subscriptions::get(state.store(), &id).await {
        Err(StoreError::NotFound) => return Err(ApiError::not_found("subscription", &id)),
        other => other?,
    };
    // Blocking or unblocking is no way around an approval workflow.
    if matches!(
        SubscriptionStatus::parse(&current.status),
        Some(SubscriptionStatus::OnHold | SubscriptionStatus::Rejected)
    ) {
        return Err(ApiError::Conflict(format!(
            "The subscription is {}: it is decided in the approval workflow, not blocked or unblocked",
            current.status
        )));
    }
    match subscriptions::set_status(state.store(), &id, status).await {
        Err(StoreError::NotFound) => return Err(ApiError::not_found("subscription", &id)),
        other => other?,
    }
    tracing::info!(subscription_id = %id, status = status.as_str(), by = %user.username, "subscription status changed");
    state.sync_environments().await?;
    Ok(())
}

/// `POST /subscriptions/block-subscription?subscriptionId=…&blockState=BLOCKED|PROD_ONLY_BLOCKED`.
pub(crate) async fn block(
    State(state): State<AppState>,
    Scoped(user, _): Scoped<rest_scopes::SubscriptionBlock>,
    QueryParams(query): QueryParams<BlockQuery>,
) -> ApiResult<()> {
    let status = match query.block_state.as_deref() {
        Some("BLOCKED") => SubscriptionStatus::Blocked,
        Some("PROD_ONLY_BLOCKED") => SubscriptionStatus::ProdOnlyBlocked,
        Some(other) => {
            return Err(ApiError::BadRequest(format!(
                "blockState: '{other}' is not one of BLOCKED, PROD_ONLY_BLOCKED"
            )));
        }
        None => {
            return Err(ApiError::BadRequest(
                "blockState: query parameter is required (BLOCKED or PROD_ONLY_BLOCKED)".into(),
            ));
        }
    };
    set_status(&state, &user, query.subscription_id, status).await
}

/// `POST /subscriptions/unblock-subscription?subscriptionId=…`.
pub(crate) async fn unblock(
    State(state): State<AppState>,
    Scoped(user, _): Scoped<rest_scopes::SubscriptionBlock>,
    QueryParams(query): QueryParams<BlockQuery>,
) -> ApiResult<()> {
    set_status(
        &state,
        &user,
        query.subscription_id,
        SubscriptionStatus::Unblocked,
    )
    .await
}
