//! Developer Portal: one key mapping of an application — read it, change its grants and
//! callback URL, regenerate its secret, get a test token, remove it (WSO2's
//! `oauth-keys/{keyMappingId}/…` paths and the older `keys/{keyType}/…` ones).

use axum::extract::{Path, State};
use gantry_store::applications::{self, Application, ApplicationKey};
use serde::Deserialize;
use serde_json::{Value, json};

use super::applications::{key_json, load_owned};
use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::extract::{JsonBody, Scoped};
use crate::oauth::client_auth::Client;
use crate::rest_scopes;

/// `owner`'s application and its key named by a key mapping id or a key type
/// (`PRODUCTION`/`SANDBOX`); 404 for anything else.
async fn load_key(
    state: &AppState,
    app_id: &str,
    key_ref: &str,
    owner: &str,
) -> ApiResult<(Application, ApplicationKey)> {
    let app = load_owned(state, app_id, owner).await?;
    let key = applications::keys_of(state.store(), &app.id)
        .await?
        .into_iter()
        .find(|k| k.id == key_ref || k.key_type.eq_ignore_ascii_case(key_ref))
        .ok_or_else(|| ApiError::not_found("key mapping", key_ref))?;
    Ok((app, key))
}

/// `GET /applications/{id}/oauth-keys/{keyMappingId}` (or `/keys/{keyType}`).
pub(crate) async fn get_key(
    State(state): State<AppState>,
    Scoped(user, _): Scoped<rest_scopes::AppManage>,
    Path((app_id, key_ref)): Path<(String, String)>,
) -> ApiResult<axum::Json<Value>> {
    let (_, key) = load_key(&state, &app_id, &key_ref, &user.username).await?;
    Ok(axum::Json(key_json(&key, None)))
}

/// The body of `PUT /applications/{id}/oauth-keys/{keyMappingId}` (or `/keys/{keyType}`):
/// WSO2 `ApplicationKey`, of which the grants and the callback URL can change.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct KeyUpdate {
    supported_grant_types: Option<Vec<String>>,
    callback_url: Option<String>,
}

/// `PUT …/oauth-keys/{keyMappingId}` (or `…/keys/{keyType}`): new grant types and/or
/// callback URL; what is not sent is kept.
pub(crate) async fn update_key(
    State(state): State<AppState>,
    Scoped(user, _): Scoped<rest_scopes::AppManage>,
    Path((app_id, key_ref)): Path<(String, String)>,
    JsonBody(update): JsonBody<KeyUpdate>,
) -> ApiResult<axum::Json<Value>> {
    let (app, key) = load_key(&state, &app_id, &key_ref, &user.username).await?;
    let grant_types = update
        .supported_grant_types
        .unwrap_or_else(|| key.grant_types.clone());
    let callback_url = update
        .callback_url
        .unwrap_or_else(|| key.callback_url.clone());
    let updated =
        crate::service::applications::update_key(&state, &app, &key, grant_types, callback_url)
            .await?;
    Ok(axum::Json(key_json(&updated, None)))
}

/// `POST …/keys/{keyType}/clean-up` (or `…/oauth-keys/{keyMappingId}/clean-up`): removes
/// the keys; their tokens die with them.
pub(crate) async fn clean_up(
    State(state): State<AppState>,
    Scoped(user, _): Scoped<rest_scopes::AppManage>,
    Path((app_id, key_ref)): Path<(String, String)>,
) -> ApiResult<axum::http::StatusCode> {
    let (app, key) = load_key(&state, &app_id, &key_ref, &user.username).await?;
    crate::service::applications::delete_key(&state, &app, &key.id).await?;
    Ok(axum::http::StatusCode::OK)
}

/// `POST …/regenerate-secret`: a new consumer secret, shown once; the old one stops working
/// at once (tokens already issued stay valid until they expire, as in WSO2).
pub(crate) async fn regenerate_secret(
    State(state): State<AppState>,
    Scoped(user, _): Scoped<rest_scopes::AppManage>,
    Path((app_id, key_ref)): Path<(String, String)>,
) -> ApiResult<axum::Json<Value>> {
    let (app, key) = load_key(&state, &app_id, &key_ref, &user.username).await?;
    let secret = crate::service::applications::regenerate_secret(&state, &app, &key).await?;
    Ok(axum::Json(
        json!({"consumerKey": key.consumer_key, "consumerSecret": secret}),
    ))
}

/// The body of `POST …/generate-token` (WSO2 `ApplicationTokenGenerateRequest`).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TokenRequest {
    consumer_secret: Option<String>,
    validity_period: Option<i64>,
    #[serde(default)]
    scopes: Vec<String>,
    grant_type: Option<String>,
}

/// `POST …/generate-token`: a client_credentials token for trying the application's APIs,
/// after checking the consumer secret (WSO2 asks for it too).
pub(crate) async fn generate_token(
    State(state): State<AppState>,
    Scoped(user, _): Scoped<rest_scopes::AppManage>,
    Path((app_id, key_ref)): Path<(String, String)>,
    JsonBody(request): JsonBody<TokenRequest>,
) -> ApiResult<axum::Json<Value>> {
    let (app, mut key) = load_key(&state, &app_id, &key_ref, &user.username).await?;
    match request.grant_type.as_deref() {
        None | Some("CLIENT_CREDENTIALS") => {}
        Some(other) => {
            return Err(ApiError::BadRequest(format!(
                "grantType: '{other}' is not supported; use CLIENT_CREDENTIALS"
            )));
        }
    }
    if !key.grant_types.iter().any(|g| g == "client_credentials") {
        return Err(ApiError::BadRequest(
            "grantType: the keys do not allow client_credentials; add it to the supported grant types".into(),
        ));
    }
    let secret = request
        .consumer_secret
        .as_deref()
        .ok_or_else(|| ApiError::BadRequest("consumerSecret: is required".into()))?;
    if !crate::verify_client_secret(&state, secret, &key.consumer_secret_hash).await {
        return Err(ApiError::BadRequest(
            "consumerSecret: does not match the application's keys".into(),
        ));
    }
    if let Some(period) = request.validity_period {
        if !(1..=key.validity_period.max(1)).contains(&period) {
            return Err(ApiError::BadRequest(format!(
                "validityPeriod: must be between 1 and {} seconds",
                key.validity_period
            )));
        }
        key.validity_period = period;
    }
    let client = Client {
        key,
        app,
        public: false,
    };
    let issued = crate::oauth::grants::application_token(&state, &client, &request.scopes).await?;
    Ok(axum::Json(json!({
        "accessToken": issued.access_token,
        "tokenScopes": issued.scope.split_whitespace().collect::<Vec<_>>(),
        "validityTime": issued.expires_in,
    })))
}
