//! Developer Portal: browse and search the APIs a user may subscribe to
//! (`GET /apis`, `GET /apis/{apiId}`). As in WSO2, anonymous users may browse; they see
//! PUBLIC APIs, signed-in users also PRIVATE ones, and RESTRICTED ones when they hold
//! one of the API's `visibleRoles`. Only published,
//! prototyped and deprecated APIs are shown: anything else is 404.

use axum::extract::{Path, State};
use gantry_model::{Api, LifecycleState, Operation};
use gantry_store::{StoreError, apis};
use serde_json::{Value, json};

use crate::AppState;
use crate::api_search::ApiQuery;
use crate::devportal::api_products;
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

/// An API the Developer Portal shows `user` (`None`: anonymous), else 404, as for an API
/// that does not exist (the reads around an API: documents, tiers, definition…).
pub(crate) async fn load_visible(
    state: &AppState,
    api_id: &str,
    user: Option<&crate::extract::AuthUser>,
) -> ApiResult<Api> {
    let api = match apis::get(state.store(), api_id).await {
        Err(StoreError::NotFound) => return Err(ApiError::not_found("API", api_id)),
        other => other?,
    };
    if visible(&api, user.map(|u| u.roles.as_slice())) {
        Ok(api)
    } else {
        Err(ApiError::not_found("API", api_id))
    }
}

/// WSO2 devportal `APIInfo`.
pub(crate) fn devportal_info(api: &Api) -> Value {
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
    list_where(
        &state,
        user.as_ref(),
        &paging,
        |_| true,
        true,
        "/api/am/devportal/v3/apis",
    )
    .await
}

/// The page of APIs `user` may see that `keep` keeps and the search matches, as an
/// `APIList` whose links start at `base`.
pub(crate) async fn list_where(
    state: &AppState,
    user: Option<&crate::extract::AuthUser>,
    paging: &Paging,
    keep: fn(&Api) -> bool,
    with_products: bool,
    base: &str,
) -> ApiResult<axum::Json<Value>> {
    let (offset, limit) = paging.resolve()?;
    let query = ApiQuery::parse(paging.query.as_deref().unwrap_or_default())?;
    let roles = user.map(|u| u.roles.as_slice());
    let mut found: Vec<(String, String, Value)> = apis::all(state.store())
        .await?
        .into_iter()
        .filter(|a| keep(a) && visible(a, roles) && query.matches(a))
        .map(|a| {
            (
                a.name.to_string(),
                a.version.to_string(),
                devportal_info(&a),
            )
        })
        .collect();
    // API products are listed beside APIs (`type: APIPRODUCT`), as in WSO2.
    if with_products {
        found.extend(
            gantry_store::api_products::all(state.store())
                .await?
                .into_iter()
                .filter(|p| api_products::visible(p, roles) && query.matches_product(p))
                .map(|p| {
                    (
                        p.name.to_string(),
                        p.version.to_string(),
                        api_products::info(&p),
                    )
                }),
        );
    }
    found.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    let (page, total) = page_of(found, offset, limit);
    Ok(axum::Json(list_envelope(
        page.into_iter().map(|(_, _, info)| info).collect(),
        offset,
        limit,
        total,
        base,
    )))
}

/// A product asked for by id under `/apis/{apiId}`, as WSO2's devportal serves it.
async fn product(
    state: &AppState,
    id: &str,
    user: Option<&crate::extract::AuthUser>,
) -> ApiResult<axum::Json<Value>> {
    match gantry_store::api_products::get(state.store(), id).await {
        Ok(p) if api_products::visible(&p, user.map(|u| u.roles.as_slice())) => {
            Ok(axum::Json(api_products::detail(&p)))
        }
        Ok(_) | Err(StoreError::NotFound) => Err(ApiError::not_found("API", id)),
        Err(e) => Err(e.into()),
    }
}

/// The API as the devportal shows it: its operations (verb, target, scopes, auth type),
/// tiers, endpoint URLs per environment are left out (they are the gateways').
pub(crate) async fn get_one(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    Path(api_id): Path<String>,
) -> ApiResult<axum::Json<Value>> {
    let api = match apis::get(state.store(), &api_id).await {
        Err(StoreError::NotFound) => return product(&state, &api_id, user.as_ref()).await,
        other => other?,
    };
    if !visible(&api, user.as_ref().map(|u| u.roles.as_slice())) {
        return Err(ApiError::not_found("API", &api_id));
    }
    let mut body = devportal_info(&api);
    body["operations"] = match &api.gateway.graphql {
        // A GraphQL API's operations are its root fields.
        Some(graphql) => json!(graphql.operations),
        None => operations_json(&api.operations),
    };
    add_access(&mut body, &api);
    Ok(axum::Json(body))
}

/// Operations as the devportal shows them (verb, target, scopes, auth type, tier).
pub(crate) fn operations_json<'a>(operations: impl IntoIterator<Item = &'a Operation>) -> Value {
    operations
        .into_iter()
        .map(|op| {
            json!({
                "target": op.target.to_string(),
                "verb": op.verb.as_str(),
                "authType": op.auth_type,
                "throttlingPolicy": op.throttling_policy,
                "scopes": op.scopes,
            })
        })
        .collect()
}

/// The tiers offered, as WSO2's devportal lists them.
pub(crate) fn tiers_json(policies: &[String]) -> Value {
    policies
        .iter()
        .map(|p| json!({"tierName": p, "tierPlan": "FREE"}))
        .collect()
}

/// How the API is called and subscribed to: transports, the token header, visibility, tiers.
pub(crate) fn add_access(body: &mut Value, api: &Api) {
    body["transport"] = json!(api.transport);
    body["authorizationHeader"] = json!(api.authorization_header);
    body["visibility"] = json!(api.visibility);
    body["tiers"] = tiers_json(&api.policies);
}
