//! Developer Portal: browse and search the APIs a user may subscribe to
//! (`GET /apis`, `GET /apis/{apiId}`). As in WSO2, anonymous users may browse; they see
//! PUBLIC APIs, signed-in users also PRIVATE ones, and RESTRICTED ones when they hold
//! one of the API's `visibleRoles`. Only published,
//! prototyped and deprecated APIs are shown: anything else is 404.

use axum::extract::{Path, State};
use gantry_model::{Api, LifecycleState};
use gantry_store::{StoreError, apis};
use serde_json::{Value, json};

use crate::AppState;
use crate::api_search::ApiQuery;
use crate::error::{ApiError, ApiResult};
use crate::extract::{MaybeUser, QueryParams};
use crate::service;
use crate::wire::{Paging, list_envelope, page_of};

/// Whether the developer portal shows `api` to a caller with `roles` (`None`: anonymous):
/// published, prototyped or deprecated, and visible to them (see
/// [`service::apis::visible_in_devportal`]).
pub fn visible(api: &Api, roles: Option<&[String]>) -> bool {
    let state_shown = matches!(
        api.life_cycle_status,
        LifecycleState::Published | LifecycleState::Prototyped | LifecycleState::Deprecated
    );
    state_shown && service::apis::visible_in_devportal(api, roles)
}

/// WSO2 devportal `APIInfo`.
fn devportal_info(api: &Api) -> Value {
    json!({
        "id": api.id,
        "name": api.name,
        "description": api.description,
        "context": api.context,
        "version": api.version,
        "type": api.api_type,
        "provider": api.provider,
        "lifeCycleStatus": api.life_cycle_status,
        "throttlingPolicies": api.policies,
        "tags": api.tags,
        "isDefaultVersion": api.is_default_version,
        "isSubscriptionAvailable": api.life_cycle_status.accepts_subscriptions(),
        "securityScheme": api.security_scheme,
        "hasThumbnail": false,
    })
}

pub(crate) async fn list(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    QueryParams(paging): QueryParams<Paging>,
) -> ApiResult<axum::Json<Value>> {
    let (offset, limit) = paging.resolve()?;
    let query = ApiQuery::parse(paging.query.as_deref().unwrap_or_default())?;
    let roles = user.as_ref().map(|u| u.roles.as_slice());
    let found: Vec<Api> = apis::all(state.store())
        .await?
        .into_iter()
        .filter(|a| visible(a, roles) && query.matches(a))
        .collect();
    let (page, total) = page_of(found, offset, limit);
    Ok(axum::Json(list_envelope(
        page.iter().map(devportal_info).collect(),
        offset,
        limit,
        total,
        "/api/am/devportal/v3/apis",
    )))
}

/// The API as the devportal shows it: its operations (verb, target, scopes, auth type),
/// tiers, endpoint URLs per environment are left out (they are the gateways').
pub(crate) async fn get_one(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    Path(api_id): Path<String>,
) -> ApiResult<axum::Json<Value>> {
    let api = match apis::get(state.store(), &api_id).await {
        Err(StoreError::NotFound) => return Err(ApiError::not_found("API", &api_id)),
        other => other?,
    };
    if !visible(&api, user.as_ref().map(|u| u.roles.as_slice())) {
        return Err(ApiError::not_found("API", &api_id));
    }
    let mut body = devportal_info(&api);
    body["operations"] = match &api.gateway.graphql {
        // A GraphQL API's operations are its root fields.
        Some(graphql) => json!(graphql.operations),
        None => json!(
            api.operations
                .iter()
                .map(|op| json!({
                    "target": op.target.to_string(),
                    "verb": op.verb.as_str(),
                    "authType": op.auth_type,
                    "throttlingPolicy": op.throttling_policy,
                    "scopes": op.scopes,
                }))
                .collect::<Vec<_>>()
        ),
    };
    body["transport"] = json!(api.transport);
    body["authorizationHeader"] = json!(api.authorization_header);
    body["visibility"] = json!(api.visibility);
    body["tiers"] = json!(
        api.policies
            .iter()
            .map(|p| json!({"tierName": p, "tierPlan": "FREE"}))
            .collect::<Vec<_>>()
    );
    Ok(axum::Json(body))
}
