//! The small reads portals and scripts make around the main resources, as WSO2 4.7 serves
//! them: tiers by level (`/throttling-policies/{policyLevel}`), an API's subscription tiers
//! and resource paths, whether a name or context is taken (`/apis/validate`), the
//! `/settings` of each REST API, the key managers a developer may use, tags and search;
//! and restoring a revision into the working copy. One file for the three REST APIs, so
//! a tier or a search result has one JSON shape wherever it is read.

use std::collections::BTreeMap;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use gantry_model::Api;
use gantry_store::policies::{self, Policy, PolicyLevel};
use gantry_store::{StoreError, apis, definitions};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::AppState;
use crate::api_search::ApiQuery;
use crate::error::{ApiError, ApiResult};
use crate::extract::{MaybeUser, QueryParams, Scoped};
use crate::rest_scopes;
use crate::wire::{Paging, list_envelope, page_of, plain_list};

/// WSO2 counts an unlimited tier as `Integer.MAX_VALUE` requests.
const UNLIMITED_COUNT: i64 = 2_147_483_647;

/// Routes under `/api/am/publisher/v4`.
pub(crate) fn publisher() -> Router<AppState> {
    Router::new()
        .route("/throttling-policies/{level}", get(publisher_tiers))
        .route("/throttling-policies/{level}/{name}", get(publisher_tier))
        .route(
            "/apis/{api_id}/subscription-policies",
            get(publisher_api_tiers),
        )
        .route("/apis/{api_id}/resource-paths", get(resource_paths))
        .route("/apis/validate", post(validate))
        .route("/apis/{api_id}/restore-revision", post(restore_revision))
        .route("/search", get(publisher_search))
        .route("/settings", get(publisher_settings))
        .route("/key-managers", get(publisher_key_managers))
}

/// Routes under `/api/am/devportal/v3`.
pub(crate) fn devportal() -> Router<AppState> {
    Router::new()
        .route("/throttling-policies/{level}", get(devportal_tiers))
        .route("/throttling-policies/{level}/{name}", get(devportal_tier))
        .route(
            "/apis/{api_id}/subscription-policies",
            get(devportal_api_tiers),
        )
        .route("/apis/{api_id}/swagger", get(devportal_definition))
        .route("/tags", get(tags))
        .route("/search", get(devportal_search))
        .route("/settings", get(devportal_settings))
        .route(
            "/settings/application-attributes",
            get(application_attributes),
        )
        .route("/key-managers", get(devportal_key_managers))
}

/// Routes under `/api/am/admin/v4`.
pub(crate) fn admin() -> Router<AppState> {
    Router::new().route("/settings", get(admin_settings))
}

// ---- tiers -------------------------------------------------------------------------------

/// A tier as the Publisher and the Developer Portal show it (WSO2 `ThrottlingPolicy`).
fn tier_json(level: &str, policy: &Policy) -> Value {
    let bandwidth = policy.data_amount > 0;
    let count = match (bandwidth, policy.request_count) {
        (true, _) => policy.data_amount,
        (false, n) if n < 0 => UNLIMITED_COUNT,
        (false, n) => n,
    };
    let mut body = json!({
        "name": policy.name,
        "displayName": policy.display_name,
        "description": policy.description,
        "policyLevel": level,
        "attributes": {},
        "requestCount": count,
        "unitTime": policy.unit_time,
        "timeUnit": policy.time_unit,
        "rateLimitCount": policy.burst_count,
        "quotaPolicyType": if bandwidth { "BANDWIDTHVOLUME" } else { "REQUESTCOUNT" },
        "tierPlan": "FREE",
        "stopOnQuotaReach": true,
    });
    if bandwidth {
        body["dataUnit"] = json!(policy.data_unit);
    }
    if policy.burst_count > 0 {
        body["rateLimitTimeUnit"] = json!(policy.burst_time_unit);
    }
    body
}

/// The level a path names; `allowed` are the names this REST API serves (WSO2's publisher
/// document spells `subscription` as `subcription`: both are taken).
fn level_of(raw: &str, allowed: &[&str]) -> ApiResult<(PolicyLevel, &'static str)> {
    let level = match raw {
        "subscription" | "subcription" => (PolicyLevel::Subscription, "subscription"),
        "application" => (PolicyLevel::Application, "application"),
        "api" => (PolicyLevel::Api, "api"),
        _ => (PolicyLevel::Api, ""),
    };
    if allowed.contains(&level.1) {
        Ok(level)
    } else {
        Err(ApiError::BadRequest(format!(
            "policyLevel: '{raw}' is not a policy level here; use one of {}",
            allowed.join(", ")
        )))
    }
}

async fn tier_list(
    state: &AppState,
    raw: &str,
    allowed: &[&str],
    paging: &Paging,
    base: &str,
) -> ApiResult<Value> {
    let (offset, limit) = paging.resolve()?;
    let (level, name) = level_of(raw, allowed)?;
    let all: Vec<Value> = policies::list(state.store(), level)
        .await?
        .iter()
        .map(|p| tier_json(name, p))
        .collect();
    let (page, total) = page_of(all, offset, limit);
    Ok(list_envelope(
        page,
        offset,
        limit,
        total,
        &format!("{base}/throttling-policies/{name}"),
    ))
}

/// One tier by name (the Developer Portal's `policyId` is the name, as in WSO2; a stored
/// id is taken too).
async fn one_tier(state: &AppState, raw: &str, allowed: &[&str], name: &str) -> ApiResult<Value> {
    let (level, level_name) = level_of(raw, allowed)?;
    let found = match policies::find(state.store(), level, name).await? {
        Some(policy) => policy,
        None => match policies::get(state.store(), level, name).await {
            Err(StoreError::NotFound) => {
                return Err(ApiError::not_found("throttling policy", name));
            }
            other => other?,
        },
    };
    Ok(tier_json(level_name, &found))
}

/// The tiers an API offers, in its order (WSO2 answers an array, although its document
/// names a single `ThrottlingPolicy`).
async fn tiers_of(state: &AppState, api: &Api) -> ApiResult<Value> {
    let mut list = Vec::with_capacity(api.policies.len());
    for name in &api.policies {
        if let Some(policy) = policies::find(state.store(), PolicyLevel::Subscription, name).await?
        {
            list.push(tier_json("subscription", &policy));
        }
    }
    Ok(Value::Array(list))
}

const PUBLISHER: &str = "/api/am/publisher/v4";
const DEVPORTAL: &str = "/api/am/devportal/v3";

async fn publisher_tiers(
    State(state): State<AppState>,
    _: Scoped<rest_scopes::ApiView>,
    Path(level): Path<String>,
    QueryParams(paging): QueryParams<Paging>,
) -> ApiResult<axum::Json<Value>> {
    let list = tier_list(&state, &level, &["subscription", "api"], &paging, PUBLISHER).await?;
    Ok(axum::Json(list))
}

async fn publisher_tier(
    State(state): State<AppState>,
    _: Scoped<rest_scopes::ApiView>,
    Path((level, name)): Path<(String, String)>,
) -> ApiResult<axum::Json<Value>> {
    Ok(axum::Json(
        one_tier(&state, &level, &["subscription", "api"], &name).await?,
    ))
}

async fn devportal_tiers(
    State(state): State<AppState>,
    Path(level): Path<String>,
    QueryParams(paging): QueryParams<Paging>,
) -> ApiResult<axum::Json<Value>> {
    let allowed = ["application", "subscription"];
    let list = tier_list(&state, &level, &allowed, &paging, DEVPORTAL).await?;
    Ok(axum::Json(list))
}

async fn devportal_tier(
    State(state): State<AppState>,
    Path((level, name)): Path<(String, String)>,
) -> ApiResult<axum::Json<Value>> {
    let allowed = ["application", "subscription"];
    Ok(axum::Json(one_tier(&state, &level, &allowed, &name).await?))
}

async fn publisher_api_tiers(
    State(state): State<AppState>,
    _: Scoped<rest_scopes::ApiView>,
    Path(api_id): Path<String>,
) -> ApiResult<axum::Json<Value>> {
    let api = crate::service::apis::load(&state, &api_id).await?;
    Ok(axum::Json(tiers_of(&state, &api).await?))
}

async fn devportal_api_tiers(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    Path(api_id): Path<String>,
) -> ApiResult<axum::Json<Value>> {
    let api = crate::devportal::apis::load_visible(&state, &api_id, user.as_ref()).await?;
    Ok(axum::Json(tiers_of(&state, &api).await?))
}

// ---- an API's definition and resources ------------------------------------------------------

/// `GET /apis/{apiId}/swagger` in the Developer Portal: the stored document (or one generated
/// from the operations), with the gateway's URL for the API as its server when it is known.
async fn devportal_definition(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    Path(api_id): Path<String>,
) -> ApiResult<axum::Json<Value>> {
    let api = crate::devportal::apis::load_visible(&state, &api_id, user.as_ref()).await?;
    let mut document = match definitions::get(state.store(), &api.id).await? {
        Some(text) => serde_json::from_str(&text)
            .unwrap_or_else(|_| crate::publisher::openapi::generated_document(&api)),
        None => crate::publisher::openapi::generated_document(&api),
    };
    if let Some(gateway) = state.gateway_base_url() {
        let url = format!(
            "{}{}/{}",
            gateway.trim_end_matches('/'),
            api.context,
            api.version
        );
        if document.get("openapi").is_some() {
            document["servers"] = json!([{"url": url}]);
        }
    }
    Ok(axum::Json(document))
}

/// `GET /apis/{apiId}/resource-paths`: the operations, numbered in order.
async fn resource_paths(
    State(state): State<AppState>,
    _: Scoped<rest_scopes::ApiView>,
    Path(api_id): Path<String>,
    QueryParams(paging): QueryParams<Paging>,
) -> ApiResult<axum::Json<Value>> {
    let (offset, limit) = paging.resolve()?;
    let api = crate::service::apis::load(&state, &api_id).await?;
    let all: Vec<Value> = api
        .operations
        .iter()
        .enumerate()
        .map(|(i, op)| {
            json!({"id": i, "resourcePath": op.target.to_string(), "httpVerb": op.verb.as_str()})
        })
        .collect();
    let (page, total) = page_of(all, offset, limit);
    Ok(axum::Json(list_envelope(
        page,
        offset,
        limit,
        total,
        &format!("{PUBLISHER}/apis/{api_id}/resource-paths"),
    )))
}

#[derive(Debug, Deserialize)]
struct ValidateQuery {
    query: Option<String>,
}

/// `POST /apis/validate?query=name:X` (or `context:/x`): 200 when an API already has that
/// name or context (compared as WSO2 does, case-insensitively), 404 when none has.
async fn validate(
    State(state): State<AppState>,
    _: Scoped<rest_scopes::ApiCreate>,
    QueryParams(query): QueryParams<ValidateQuery>,
) -> ApiResult<Response> {
    let raw = query
        .query
        .filter(|q| !q.trim().is_empty())
        .ok_or_else(|| ApiError::BadRequest("query: is required (name:… or context:…)".into()))?;
    let (attribute, value) = raw.split_once(':').unwrap_or(("name", raw.as_str()));
    let value = value.trim().trim_matches('"');
    let all = apis::all(state.store()).await?;
    let taken = match attribute.trim().to_ascii_lowercase().as_str() {
        "name" => all
            .iter()
            .any(|a| a.name.as_str().eq_ignore_ascii_case(value)),
        "context" => {
            let wanted = format!("/{}", value.trim_start_matches('/'));
            all.iter()
                .any(|a| a.context.as_str().eq_ignore_ascii_case(&wanted))
        }
        other => {
            return Err(ApiError::BadRequest(format!(
                "query: '{other}:' cannot be validated; use name:… or context:…"
            )));
        }
    };
    if taken {
        Ok(StatusCode::OK.into_response())
    } else {
        Err(ApiError::NotFound(format!(
            "No API has the {attribute} '{value}'"
        )))
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RevisionQuery {
    revision_id: Option<String>,
}

/// `POST /apis/{apiId}/restore-revision?revisionId=`: the revision's definition becomes the
/// working copy again (201 with the API).
async fn restore_revision(
    State(state): State<AppState>,
    Scoped(user, _): Scoped<rest_scopes::ApiDeploy>,
    Path(api_id): Path<String>,
    QueryParams(query): QueryParams<RevisionQuery>,
) -> ApiResult<Response> {
    let revision_id = query
        .revision_id
        .ok_or_else(|| ApiError::BadRequest("revisionId: query parameter is required".into()))?;
    let api =
        crate::service::revisions::restore_revision(&state, &api_id, &revision_id, &user.username)
            .await?;
    Ok((StatusCode::CREATED, axum::Json(api)).into_response())
}

// ---- search and tags -------------------------------------------------------------------------

/// WSO2 `APISearchResult`.
fn search_result(api: &Api) -> Value {
    json!({
        "id": api.id,
        "name": api.name,
        "type": "API",
        "transportType": api.api_type,
        "description": api.description,
        "context": api.context,
        "version": api.version,
        "provider": api.provider,
        "status": api.life_cycle_status,
    })
}

async fn search(
    state: &AppState,
    paging: &Paging,
    shown: impl Fn(&Api) -> bool,
    base: &str,
) -> ApiResult<Value> {
    let (offset, limit) = paging.resolve()?;
    let query = ApiQuery::parse(paging.query.as_deref().unwrap_or_default())?;
    let found: Vec<Value> = apis::all(state.store())
        .await?
        .iter()
        .filter(|a| shown(a) && query.matches(a))
        .map(search_result)
        .collect();
    let (page, total) = page_of(found, offset, limit);
    Ok(list_envelope(
        page,
        offset,
        limit,
        total,
        &format!("{base}/search"),
    ))
}

async fn publisher_search(
    State(state): State<AppState>,
    Scoped(user, _): Scoped<rest_scopes::ApiView>,
    QueryParams(paging): QueryParams<Paging>,
) -> ApiResult<axum::Json<Value>> {
    let shown = |api: &Api| crate::publisher::apis::may_access(api, &user);
    Ok(axum::Json(search(&state, &paging, shown, PUBLISHER).await?))
}

async fn devportal_search(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    QueryParams(paging): QueryParams<Paging>,
) -> ApiResult<axum::Json<Value>> {
    let roles = user.as_ref().map(|u| u.roles.as_slice());
    let shown = |api: &Api| crate::devportal::apis::visible(api, roles);
    Ok(axum::Json(search(&state, &paging, shown, DEVPORTAL).await?))
}

/// `GET /tags`: the tags of the APIs the caller may see, with how many carry each.
async fn tags(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    QueryParams(paging): QueryParams<Paging>,
) -> ApiResult<axum::Json<Value>> {
    let (offset, limit) = paging.resolve()?;
    let roles = user.as_ref().map(|u| u.roles.as_slice());
    let mut counts: BTreeMap<String, i64> = BTreeMap::new();
    for api in apis::all(state.store()).await? {
        if crate::devportal::apis::visible(&api, roles) {
            for tag in &api.tags {
                *counts.entry(tag.clone()).or_default() += 1;
            }
        }
    }
    let all: Vec<Value> = counts
        .into_iter()
        .map(|(value, count)| json!({"value": value, "count": count}))
        .collect();
    let (page, total) = page_of(all, offset, limit);
    Ok(axum::Json(list_envelope(
        page,
        offset,
        limit,
        total,
        &format!("{DEVPORTAL}/tags"),
    )))
}

// ---- settings and key managers ---------------------------------------------------------------

/// The base URL of the control plane (`https://host:9443`), from the token issuer.
fn control_plane_url(state: &AppState) -> String {
    let issuer = state.issuer().issuer();
    issuer
        .find("/oauth2")
        .map(|i| issuer[..i].to_owned())
        .unwrap_or_else(|| issuer.to_owned())
}

fn rest_scopes_all() -> Vec<&'static str> {
    gantry_keys::scopes::REST_SCOPE_ROLES
        .iter()
        .map(|(scope, _)| *scope)
        .collect()
}

async fn publisher_settings(
    State(state): State<AppState>,
    _: Scoped<rest_scopes::ApiView>,
) -> ApiResult<axum::Json<Value>> {
    let gateway = state.gateway_base_url().unwrap_or_default().to_owned();
    let environments: Vec<Value> = gantry_store::environments::list(state.store())
        .await?
        .iter()
        .map(|env| {
            json!({
                "id": env.id,
                "name": env.name,
                "displayName": env.display_name,
                "type": "hybrid",
                "serverUrl": gateway,
                "provider": "wso2",
                "showInApiConsole": true,
                "vhosts": env.vhosts.iter().map(|h| json!({"host": h})).collect::<Vec<_>>(),
            })
        })
        .collect();
    Ok(axum::Json(json!({
        "devportalUrl": format!("{}/devportal", control_plane_url(&state)),
        "environment": environments,
        "gatewayTypes": ["Regular"],
        "scopes": rest_scopes_all(),
        "monetizationAttributes": [],
        "securityAuditProperties": {},
        "externalStoresEnabled": false,
        "docVisibilityEnabled": false,
        "crossTenantSubscriptionEnabled": false,
        "authorizationHeader": "Authorization",
    })))
}

async fn devportal_settings(State(state): State<AppState>) -> ApiResult<axum::Json<Value>> {
    Ok(axum::Json(json!({
        "grantTypes": crate::devportal::applications::KNOWN_GRANTS,
        "scopes": [],
        "applicationSharingEnabled": false,
        "mapExistingAuthApps": true,
        "apiGatewayEndpoint": state.gateway_base_url().unwrap_or_default(),
        "monetizationEnabled": false,
        "recommendationEnabled": false,
        "IsUnlimitedTierPaid": false,
        "identityProvider": {"external": false},
        "IsAnonymousModeEnabled": true,
        "IsPasswordChangeEnabled": false,
    })))
}

/// No custom application attributes are configured: WSO2's empty list.
async fn application_attributes() -> axum::Json<Value> {
    axum::Json(json!({"count": 0, "list": []}))
}

async fn admin_settings(
    State(_state): State<AppState>,
    _: Scoped<rest_scopes::AdminOperations>,
) -> axum::Json<Value> {
    axum::Json(json!({
        "scopes": rest_scopes_all(),
        "gatewayTypes": ["Regular"],
        "keyManagerConfiguration": [],
        "analyticsEnabled": false,
    }))
}

/// The key managers applications may get keys from: the resident one and every enabled
/// external issuer (WSO2 `KeyManagerInfo`).
async fn key_managers(state: &AppState) -> ApiResult<Vec<Value>> {
    let base = control_plane_url(state);
    let mut list = vec![json!({
        "id": crate::admin::key_managers::RESIDENT_ID,
        "name": crate::devportal::applications::RESIDENT_KEY_MANAGER,
        "displayName": crate::devportal::applications::RESIDENT_KEY_MANAGER,
        "type": "default",
        "description": "Gantry's own OAuth2 authorization server",
        "enabled": true,
        "availableGrantTypes": crate::devportal::applications::KNOWN_GRANTS,
        "tokenEndpoint": format!("{base}/oauth2/token"),
        "revokeEndpoint": format!("{base}/oauth2/revoke"),
        "enableTokenGeneration": true,
        "enableTokenEncryption": false,
        "enableTokenHashing": false,
        "enableOAuthAppCreation": true,
        "enableMapOAuthConsumerApps": true,
        "applicationConfiguration": [],
        "tokenType": "DIRECT",
    })];
    for km in gantry_store::key_managers::list(state.store()).await? {
        if km.enabled != 1 {
            continue;
        }
        list.push(json!({
            "id": km.id,
            "name": km.name,
            "displayName": km.name,
            "type": crate::admin::key_managers::kind_of(&km),
            "enabled": true,
            "availableGrantTypes": [],
            "enableTokenGeneration": false,
            "enableOAuthAppCreation": false,
            "enableMapOAuthConsumerApps": true,
            "applicationConfiguration": [],
            "tokenType": "EXCHANGED",
        }));
    }
    Ok(list)
}

async fn publisher_key_managers(
    State(state): State<AppState>,
    _: Scoped<rest_scopes::ApiView>,
) -> ApiResult<axum::Json<Value>> {
    Ok(axum::Json(plain_list(key_managers(&state).await?)))
}

async fn devportal_key_managers(
    State(state): State<AppState>,
    _: Scoped<rest_scopes::Subscribe>,
) -> ApiResult<axum::Json<Value>> {
    Ok(axum::Json(plain_list(key_managers(&state).await?)))
}
