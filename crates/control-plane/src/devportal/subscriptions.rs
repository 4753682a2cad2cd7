//! Developer Portal: subscriptions of applications to published APIs, under a tier the API
//! offers.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use gantry_store::subscriptions::{self, Subscription};
use gantry_store::{StoreError, apis};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::AppState;
use crate::devportal::applications::load_owned;
use crate::error::{ApiError, ApiResult};
use crate::extract::{JsonBody, QueryParams, Scoped};
use crate::rest_scopes;
use crate::service;
use crate::wire::whole_list;

/// The body of `POST /subscriptions`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SubscriptionRequest {
    api_id: Option<String>,
    application_id: Option<String>,
    throttling_policy: Option<String>,
}

pub(crate) async fn subscription_json(state: &AppState, sub: &Subscription) -> ApiResult<Value> {
    let api = match apis::get(state.store(), &sub.api_id).await {
        Ok(a) => Some(json!({
            "id": a.id, "name": a.name, "context": a.context, "version": a.version,
            "provider": a.provider, "lifeCycleStatus": a.life_cycle_status,
        })),
        // A subscription to an API product (WSO2 shows it with `type: APIPRODUCT`).
        Err(_) => gantry_store::api_products::get(state.store(), &sub.api_id)
            .await
            .ok()
            .map(|p| {
                json!({
                    "id": p.id, "name": p.name, "context": p.context, "version": p.version,
                    "provider": p.provider, "lifeCycleStatus": p.state, "type": p.api_type,
                })
            }),
    };
    let app = gantry_store::applications::get(state.store(), &sub.application_id)
        .await
        .ok();
    // A tier change waiting for approval shows as WSO2 shows it.
    let requested = service::subscriptions::requested_tier(state, sub).await?;
    let status = match requested {
        Some(_) => "TIER_UPDATE_PENDING",
        None => sub.status.as_str(),
    };
    Ok(json!({
        "subscriptionId": sub.id,
        "applicationId": sub.application_id,
        "apiId": sub.api_id,
        "apiInfo": api,
        // WSO2's `ApplicationInfo` (the Publisher's names the owner `subscriber`).
        "applicationInfo": app.map(|a| json!({
            "applicationId": a.id, "name": a.name, "throttlingPolicy": a.throttling_policy,
            "description": a.description, "status": a.status, "groups": [],
            "owner": a.owner, "subscriber": a.owner,
        })),
        "throttlingPolicy": sub.throttling_policy,
        "requestedThrottlingPolicy": requested.as_deref().unwrap_or(&sub.throttling_policy),
        "status": status,
    }))
}

pub(crate) async fn create(
    State(state): State<AppState>,
    Scoped(user, _): Scoped<rest_scopes::Subscribe>,
    JsonBody(request): JsonBody<SubscriptionRequest>,
) -> ApiResult<Response> {
    let application_id = request
        .application_id
        .as_deref()
        .ok_or_else(|| ApiError::BadRequest("applicationId: is required".into()))?;
    let api_id = request
        .api_id
        .as_deref()
        .ok_or_else(|| ApiError::BadRequest("apiId: is required".into()))?;
    let tier = request.throttling_policy.as_deref().ok_or_else(|| {
        ApiError::BadRequest("throttlingPolicy: is required (a tier the API offers)".into())
    })?;
    let app = load_owned(&state, application_id, &user.username).await?;
    let target = match apis::get(state.store(), api_id).await {
        // The developer portal does not show APIs that were never published or are retired.
        Ok(api) if service::apis::visible_in_devportal(&api, Some(&user.roles)) => {
            service::subscriptions::Subscribable::from(&api)
        }
        Ok(_) => return Err(ApiError::not_found("API", api_id)),
        // An API product is subscribed to by its id too.
        Err(StoreError::NotFound) => {
            match gantry_store::api_products::get(state.store(), api_id).await {
                Ok(p) if crate::devportal::api_products::visible(&p, Some(&user.roles)) => {
                    service::subscriptions::Subscribable::from(&p)
                }
                Ok(_) | Err(StoreError::NotFound) => {
                    return Err(ApiError::not_found("API", api_id));
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(e) => return Err(e.into()),
    };
    let sub = service::subscriptions::subscribe(&state, &app, target, tier).await?;
    let location = format!("/api/am/devportal/v3/subscriptions/{}", sub.id);
    if sub.status == gantry_model::SubscriptionStatus::OnHold.as_str() {
        let pending = gantry_store::workflows::pending_for(
            state.store(),
            service::workflows::WorkflowType::SubscriptionCreation.as_str(),
            &sub.id,
        )
        .await?;
        if let Some(workflow) = pending.first() {
            return Ok(crate::admin::workflows::accepted(
                workflow,
                Some(&location),
                json!({"subscriptionId": sub.id, "status": sub.status}),
            ));
        }
    }
    Ok((
        StatusCode::CREATED,
        axum::Json(subscription_json(&state, &sub).await?),
    )
        .into_response())
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ListQuery {
    application_id: Option<String>,
    api_id: Option<String>,
}

pub(crate) async fn list(
    State(state): State<AppState>,
    Scoped(user, _): Scoped<rest_scopes::Subscribe>,
    QueryParams(query): QueryParams<ListQuery>,
) -> ApiResult<axum::Json<Value>> {
    let subs = match (&query.application_id, &query.api_id) {
        (Some(app_id), _) => {
            let app = load_owned(&state, app_id, &user.username).await?;
            let subs = subscriptions::list_for_application(state.store(), &app.id).await?;
            match &query.api_id {
                Some(api_id) => subs.into_iter().filter(|s| &s.api_id == api_id).collect(),
                None => subs,
            }
        }
        (None, Some(api_id)) => {
            subscriptions::list_owned_for_api(state.store(), api_id, &user.username).await?
        }
        (None, None) => {
            return Err(ApiError::BadRequest(
                "applicationId or apiId: one of them is required".into(),
            ));
        }
    };
    let mut list = Vec::with_capacity(subs.len());
    for sub in &subs {
        list.push(subscription_json(&state, sub).await?);
    }
    Ok(axum::Json(whole_list(list)))
}

async fn load(state: &AppState, id: &str, owner: &str) -> ApiResult<Subscription> {
    match subscriptions::get_owned(state.store(), id, owner).await {
        Err(StoreError::NotFound) => Err(ApiError::not_found("subscription", id)),
        other => Ok(other?),
    }
}

pub(crate) async fn get_one(
    State(state): State<AppState>,
    Scoped(user, _): Scoped<rest_scopes::Subscribe>,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Value>> {
    let sub = load(&state, &id, &user.username).await?;
    Ok(axum::Json(subscription_json(&state, &sub).await?))
}

pub(crate) async fn delete(
    State(state): State<AppState>,
    Scoped(user, _): Scoped<rest_scopes::Subscribe>,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let sub = load(&state, &id, &user.username).await?;
    service::subscriptions::unsubscribe(&state, &sub).await?;
    Ok(StatusCode::OK)
}

/// `PUT /subscriptions/{id}`: moves the subscription to another tier the API offers.
pub(crate) async fn update(
    State(state): State<AppState>,
    Scoped(user, _): Scoped<rest_scopes::Subscribe>,
    Path(id): Path<String>,
    JsonBody(request): JsonBody<SubscriptionRequest>,
) -> ApiResult<Response> {
    let sub = load(&state, &id, &user.username).await?;
    for (field, given, stored) in [
        ("apiId", &request.api_id, &sub.api_id),
        (
            "applicationId",
            &request.application_id,
            &sub.application_id,
        ),
    ] {
        if given.as_ref().is_some_and(|g| g != stored) {
            return Err(ApiError::BadRequest(format!(
                "{field}: cannot be changed; subscribe again instead"
            )));
        }
    }
    let tier = request.throttling_policy.as_deref().ok_or_else(|| {
        ApiError::BadRequest("throttlingPolicy: is required (a tier the API offers)".into())
    })?;
    if let Some(workflow) = service::subscriptions::change_tier(&state, &sub, tier).await? {
        return Ok(crate::admin::workflows::accepted(
            &workflow,
            Some(&format!("/api/am/devportal/v3/subscriptions/{}", sub.id)),
            json!({"subscriptionId": sub.id, "status": "TIER_UPDATE_PENDING", "requestedThrottlingPolicy": tier}),
        ));
    }
    let sub = load(&state, &id, &user.username).await?;
    Ok(axum::Json(subscription_json(&state, &sub).await?).into_response())
}
