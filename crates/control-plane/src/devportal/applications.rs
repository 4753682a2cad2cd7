//! Developer Portal: applications and their OAuth2 keys.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use gantry_model::KeyType;
use gantry_store::applications::{self, Application, ApplicationKey};
use gantry_store::subscriptions;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::extract::{JsonBody, QueryParams, Scoped};
use crate::rest_scopes;
use crate::service;
use crate::service::applications::{ApplicationFields, KeyRequest, NameProblem};
use crate::wire::{Paging, list_envelope, plain_list};

pub use crate::service::applications::{
    DEFAULT_TOKEN_VALIDITY_SECS, KNOWN_GRANTS, RESIDENT_KEY_MANAGER,
};

/// The body of `POST /applications`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationRequest {
    name: Option<String>,
    throttling_policy: Option<String>,
    description: Option<String>,
    token_type: Option<String>,
    attributes: Option<Map<String, Value>>,
}

pub(crate) use crate::service::applications::load_owned;

async fn application_json(state: &AppState, app: &Application) -> ApiResult<Value> {
    let subscription_count = subscriptions::list_for_application(state.store(), &app.id)
        .await?
        .len();
    let keys = keys_json(state, app).await?;
    let attributes: Value = serde_json::from_str(&app.attributes).unwrap_or_else(|_| json!({}));
    Ok(json!({
        "applicationId": app.id,
        "name": app.name,
        "throttlingPolicy": app.throttling_policy,
        "description": app.description,
        "tokenType": app.token_type,
        "status": app.status,
        "groups": [],
        "subscriptionCount": subscription_count,
        "keys": keys,
        "attributes": attributes,
        "subscriptionScopes": [],
        "owner": app.owner,
        "hashEnabled": true,
    }))
}

/// `app`'s keys: stored ones, then those whose registration waits for approval
/// (`keyState: CREATED`).
async fn keys_json(state: &AppState, app: &Application) -> ApiResult<Vec<Value>> {
    let mut keys: Vec<Value> = applications::keys_of(state.store(), &app.id)
        .await?
        .iter()
        .map(|k| key_json(k, None))
        .collect();
    for pending in service::applications::pending_keys(state, app).await? {
        let mut key = key_json(&pending, None);
        key["keyState"] = json!("CREATED");
        keys.push(key);
    }
    Ok(keys)
}

pub(crate) fn key_json(key: &ApplicationKey, secret: Option<&str>) -> Value {
    json!({
        "keyMappingId": key.id,
        "keyManager": key.key_manager,
        "consumerKey": key.consumer_key,
        "consumerSecret": secret,
        "supportedGrantTypes": key.grant_types,
        "callbackUrl": key.callback_url,
        "keyState": "APPROVED",
        "keyType": key.key_type,
        "mode": if key.key_manager == RESIDENT_KEY_MANAGER { "CREATED" } else { "MAPPED" },
        "groupId": null,
        "token": null,
        "additionalProperties": { "application_access_token_expiry_time": key.validity_period.to_string() },
    })
}

/// Validates the body of POST and PUT `/applications`: (name, tier, token type).
async fn check_request(
    state: &AppState,
    request: &ApplicationRequest,
) -> ApiResult<(String, String, String)> {
    let name = request.name.as_deref().map(str::trim).unwrap_or_default();
    match service::applications::check_name(name) {
        Some(NameProblem::Missing) => return Err(ApiError::BadRequest("name: is required".into())),
        Some(NameProblem::TooLong) => {
            return Err(ApiError::BadRequest(
                "name: must be at most 100 characters".into(),
            ));
        }
        None => {}
    }
    let tier = request.throttling_policy.as_deref().ok_or_else(|| {
        ApiError::BadRequest(
            "throttlingPolicy: is required (e.g. \"Unlimited\", \"10PerMin\")".into(),
        )
    })?;
    if !service::applications::is_application_tier(state, tier).await? {
        let names = service::applications::application_tiers(state).await?;
        return Err(ApiError::BadRequest(format!(
            "throttlingPolicy: '{tier}' is not an application throttling policy (available: {})",
            names.join(", ")
        )));
    }
    let token_type = request.token_type.as_deref().unwrap_or("JWT");
    if token_type != "JWT" {
        return Err(ApiError::BadRequest(format!(
            "tokenType: '{token_type}' is not supported; use \"JWT\""
        )));
    }
    Ok((name.to_owned(), tier.to_owned(), token_type.to_owned()))
}

/// `PUT /applications/{id}`: changes name, tier, description and attributes.
pub(crate) async fn update(
    State(state): State<AppState>,
    Scoped(user, _): Scoped<rest_scopes::AppManage>,
    Path(id): Path<String>,
    JsonBody(request): JsonBody<ApplicationRequest>,
) -> ApiResult<axum::Json<Value>> {
    let current = load_owned(&state, &id, &user.username).await?;
    let (name, tier, _) = check_request(&state, &request).await?;
    let attributes = request.attributes.unwrap_or_default();
    let app = service::applications::update(
        &state,
        &current,
        ApplicationFields {
            name: &name,
            throttling_policy: &tier,
            description: request.description.as_deref().unwrap_or(""),
            attributes: &attributes,
        },
    )
    .await?;
    Ok(axum::Json(application_json(&state, &app).await?))
}

pub(crate) async fn create(
    State(state): State<AppState>,
    Scoped(user, _): Scoped<rest_scopes::AppManage>,
    JsonBody(request): JsonBody<ApplicationRequest>,
) -> ApiResult<Response> {
    let (name, tier, token_type) = check_request(&state, &request).await?;
    let attributes = request.attributes.unwrap_or_default();
    let (app, pending) = service::applications::create(
        &state,
        &user.username,
        &token_type,
        ApplicationFields {
            name: &name,
            throttling_policy: &tier,
            description: request.description.as_deref().unwrap_or(""),
            attributes: &attributes,
        },
    )
    .await?;
    let location = format!("/api/am/devportal/v3/applications/{}", app.id);
    if let Some(workflow) = pending {
        return Ok(crate::admin::workflows::accepted(
            &workflow,
            Some(&location),
            json!({"applicationId": app.id, "name": app.name, "status": app.status}),
        ));
    }
    let mut headers = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_str(&location) {
        headers.insert(header::LOCATION, v);
    }
    Ok((
        StatusCode::CREATED,
        headers,
        axum::Json(application_json(&state, &app).await?),
    )
        .into_response())
}

pub(crate) async fn list(
    State(state): State<AppState>,
    Scoped(user, _): Scoped<rest_scopes::AppManage>,
    QueryParams(paging): QueryParams<Paging>,
) -> ApiResult<axum::Json<Value>> {
    let (offset, limit) = paging.resolve()?;
    let (apps, total) =
        applications::list_owned(state.store(), &user.username, offset, limit).await?;
    let mut list = Vec::with_capacity(apps.len());
    for app in &apps {
        list.push(application_json(&state, app).await?);
    }
    Ok(axum::Json(list_envelope(
        list,
        offset,
        limit,
        total,
        "/api/am/devportal/v3/applications",
    )))
}

pub(crate) async fn get_one(
    State(state): State<AppState>,
    Scoped(user, _): Scoped<rest_scopes::AppManage>,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Value>> {
    let app = load_owned(&state, &id, &user.username).await?;
    Ok(axum::Json(application_json(&state, &app).await?))
}

pub(crate) async fn delete(
    State(state): State<AppState>,
    Scoped(user, _): Scoped<rest_scopes::AppManage>,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    service::applications::delete(&state, &id, &user.username).await?;
    Ok(StatusCode::OK)
}

/// The body of `POST /applications/{id}/generate-keys`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct GenerateKeysRequest {
    key_type: Option<String>,
    grant_types_to_be_supported: Option<Vec<String>>,
    key_manager: Option<String>,
    callback_url: Option<String>,
    validity_time: Option<Value>,
    additional_properties: Option<Map<String, Value>>,
}

/// Whether `additionalProperties` marks the client public (WSO2 IS: `bypassClientCredentials`,
/// true or "true"): it holds no secret and must use PKCE.
fn is_public_client(properties: Option<&Map<String, Value>>) -> bool {
    match properties.and_then(|p| p.get("bypassClientCredentials")) {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s.eq_ignore_ascii_case("true"),
        _ => false,
    }
}

/// The `keyType` of a request: required, `PRODUCTION` or `SANDBOX`.
fn required_key_type(raw: Option<&str>) -> ApiResult<KeyType> {
    let raw = raw.ok_or_else(|| {
        ApiError::BadRequest("keyType: is required (PRODUCTION or SANDBOX)".into())
    })?;
    KeyType::parse(raw).ok_or_else(|| {
        ApiError::BadRequest(format!(
            "keyType: '{raw}' is not one of PRODUCTION, SANDBOX"
        ))
    })
}

fn parse_validity(raw: &Option<Value>) -> ApiResult<i64> {
    let seconds = match raw {
        None | Some(Value::Null) => return Ok(DEFAULT_TOKEN_VALIDITY_SECS),
        Some(Value::Number(n)) => n.as_i64(),
        Some(Value::String(s)) => s.trim().parse().ok(),
        Some(_) => None,
    };
    match seconds {
        Some(s) if (1..=31_536_000).contains(&s) => Ok(s),
        _ => Err(ApiError::BadRequest(
            "validityTime: must be a number of seconds between 1 and 31536000".into(),
        )),
    }
}

pub(crate) async fn generate_keys(
    State(state): State<AppState>,
    Scoped(user, _): Scoped<rest_scopes::AppManage>,
    Path(id): Path<String>,
    JsonBody(request): JsonBody<GenerateKeysRequest>,
) -> ApiResult<axum::Json<Value>> {
    let app = load_owned(&state, &id, &user.username).await?;
    let key_type = required_key_type(request.key_type.as_deref())?;
    let grants = request.grant_types_to_be_supported.clone().ok_or_else(|| {
        ApiError::BadRequest(
            "grantTypesToBeSupported: is required (e.g. [\"client_credentials\"])".into(),
        )
    })?;
    service::applications::check_grants(&grants)?;
    let key_manager = request
        .key_manager
        .as_deref()
        .unwrap_or(RESIDENT_KEY_MANAGER);
    if key_manager != RESIDENT_KEY_MANAGER && key_manager != "default" {
        return Err(ApiError::BadRequest(format!(
            "keyManager: '{key_manager}' is not a registered key manager"
        )));
    }
    let request = KeyRequest {
        key_type,
        grant_types: grants,
        callback_url: request.callback_url.clone().unwrap_or_default(),
        validity_period: parse_validity(&request.validity_time)?,
        public: is_public_client(request.additional_properties.as_ref()),
    };
    let generated = service::applications::generate_keys(&state, &app, request).await?;
    let mut body = key_json(&generated.key, Some(&generated.secret));
    if let Some(workflow) = generated.pending {
        // WSO2: 200 with `keyState: CREATED`; the client works once the request is approved.
        body["keyState"] = json!(workflow.status);
        body["additionalProperties"]["workflowReferenceId"] = json!(workflow.id);
    }
    Ok(axum::Json(body))
}

/// `DELETE /applications/{id}/oauth-keys/{keyMappingId}` (and WSO2's `POST …/clean-up`):
/// deletes the client. Its live tokens die with it: refresh tokens are deleted, and access
/// tokens name a client id that no longer exists (client ids are random and never reused),
/// so gateways find no application for them (the key mapping leaves their snapshot) and
/// introspection reports them inactive.
pub(crate) async fn delete_key(
    State(state): State<AppState>,
    Scoped(user, _): Scoped<rest_scopes::AppManage>,
    Path((id, key_id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let app = load_owned(&state, &id, &user.username).await?;
    service::applications::delete_key(&state, &app, &key_id).await?;
    Ok(StatusCode::OK)
}

pub(crate) async fn list_keys(
    State(state): State<AppState>,
    Scoped(user, _): Scoped<rest_scopes::AppManage>,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Value>> {
    let app = load_owned(&state, &id, &user.username).await?;
    Ok(axum::Json(plain_list(keys_json(&state, &app).await?)))
}

/// The body of `POST /applications/{id}/map-keys`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct MapKeysRequest {
    consumer_key: Option<String>,
    key_type: Option<String>,
    key_manager: Option<String>,
}

/// `POST /applications/{id}/map-keys`: binds a client registered at an external key manager
/// to the application, so that client's tokens (issued by that key manager) are accepted
/// by gateways for the application's subscriptions. Gantry never holds its secret.
pub(crate) async fn map_keys(
    State(state): State<AppState>,
    Scoped(user, _): Scoped<rest_scopes::AppManage>,
    Path(id): Path<String>,
    JsonBody(request): JsonBody<MapKeysRequest>,
) -> ApiResult<axum::Json<Value>> {
    let app = load_owned(&state, &id, &user.username).await?;
    let consumer_key = request
        .consumer_key
        .as_deref()
        .map(str::trim)
        .filter(|k| !k.is_empty() && k.len() <= 255)
        .ok_or_else(|| ApiError::BadRequest("consumerKey: is required".into()))?;
    let key_type = required_key_type(request.key_type.as_deref())?;
    let km_name = request.key_manager.as_deref().ok_or_else(|| {
        ApiError::BadRequest("keyManager: is required (the name of an external key manager)".into())
    })?;
    if km_name == RESIDENT_KEY_MANAGER || km_name == "default" {
        return Err(ApiError::BadRequest(
            "keyManager: the resident key manager creates its clients; use generate-keys".into(),
        ));
    }
    let km = gantry_store::key_managers::find_by_name(state.store(), km_name)
        .await?
        .ok_or_else(|| {
            ApiError::BadRequest(format!(
                "keyManager: '{km_name}' is not a registered key manager"
            ))
        })?;
    let key =
        service::applications::map_key(&state, &app, key_type, &km.name, consumer_key).await?;
    Ok(axum::Json(key_json(&key, None)))
}
