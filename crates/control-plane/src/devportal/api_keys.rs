//! Developer Portal: API keys (WSO2 4.x). `POST /applications/{id}/api-keys/{keyType}/generate`
//! signs a self-contained JWT naming the application and its subscriptions and records it
//! by UUID and name (4.7: listed by `GET …/{keyType}`, `…/regenerate`d by UUID); `…/revoke`
//! (by the key or its UUID) records its `jti` as revoked, which reaches every gateway with
//! its next snapshot.
//!
//! Gateways verify API keys locally with the key manager's public keys, like access tokens.

use axum::extract::{Path, State};
use gantry_keys::{ApiKeyGrant, ApplicationClaim, SubscribedApi};
use gantry_model::KeyType;
use gantry_store::api_keys::{self, StoredApiKey};
use gantry_store::{apis, revoked_tokens, subscriptions};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::applications::load_owned;
use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::extract::{JsonBody, Scoped};
use crate::rest_scopes;

/// Longest validity accepted, seconds (ten years).
const MAX_VALIDITY_SECS: i64 = 10 * 365 * 24 * 3600;

/// How long a revoked key that never expires stays on the revoked list (100 years, in ms).
const NEVER_EXPIRES_MS: i64 = 100 * 365 * 24 * 3600 * 1000;

/// The body of `POST …/api-keys/{keyType}/generate` (WSO2 `APIKeyGenerateRequest`).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct GenerateRequest {
    key_name: Option<String>,
    validity_period: Option<Value>,
    additional_properties: Option<Map<String, Value>>,
}

/// The body of `POST …/api-keys/{keyType}/revoke` (WSO2 `APIKeyRevokeRequest`).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RevokeRequest {
    apikey: Option<String>,
    #[serde(rename = "keyUUID")]
    key_uuid: Option<String>,
}

/// The body of `POST …/api-keys/{keyType}/regenerate` (WSO2 `APIKeyRenewRequest`).
#[derive(Debug, Deserialize)]
pub(crate) struct RenewRequest {
    #[serde(rename = "keyUUID")]
    key_uuid: String,
}

/// Longest key name accepted.
const MAX_KEY_NAME_CHARS: usize = 100;

fn parse_key_type(raw: &str) -> ApiResult<KeyType> {
    KeyType::parse(raw).ok_or_else(|| {
        ApiError::BadRequest(format!(
            "keyType: '{raw}' is not one of PRODUCTION, SANDBOX"
        ))
    })
}

/// `validityPeriod` in seconds: -1 (or absent) for a key that does not expire.
fn parse_validity(raw: Option<&Value>) -> ApiResult<Option<u64>> {
    let seconds = match raw {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Number(n)) => n.as_i64(),
        Some(Value::String(s)) => s.trim().parse().ok(),
        Some(_) => None,
    };
    match seconds {
        Some(-1) => Ok(None),
        Some(s) if (1..=MAX_VALIDITY_SECS).contains(&s) => Ok(u64::try_from(s).ok()),
        _ => Err(ApiError::BadRequest(format!(
            "validityPeriod: must be -1 (no expiry) or a number of seconds between 1 and {MAX_VALIDITY_SECS}"
        ))),
    }
}

fn property(properties: Option<&Map<String, Value>>, name: &str) -> String {
    properties
        .and_then(|p| p.get(name))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

/// Signs an API key for `app` naming its current subscriptions.
async fn sign(
    state: &AppState,
    app: &gantry_store::applications::Application,
    key_type: KeyType,
    validity: Option<u64>,
) -> ApiResult<gantry_keys::IssuedApiKey> {
    let mut subscribed_apis = Vec::new();
    for sub in subscriptions::list_for_application(state.store(), &app.id).await? {
        let Ok(api) = apis::get(state.store(), &sub.api_id).await else {
            continue;
        };
        subscribed_apis.push(SubscribedApi {
            context: format!("{}/{}", api.context, api.version),
            name: api.name.to_string(),
            version: api.version.to_string(),
            publisher: api.provider,
            subscription_tier: sub.throttling_policy,
            subscriber_tenant_domain: "carbon.super".to_owned(),
        });
    }
    Ok(state.issuer().issue_api_key(ApiKeyGrant {
        application: ApplicationClaim {
            id: app.id.clone(),
            uuid: app.id.clone(),
            name: app.name.clone(),
            tier: app.throttling_policy.clone(),
            owner: app.owner.clone(),
        },
        key_type,
        subscribed_apis,
        validity_secs: validity,
        permitted_ip: String::new(),
        permitted_referer: String::new(),
    })?)
}

/// WSO2 `APIKey` (with 4.x's `validityTime` beside 4.7's `validityPeriod`, and the UUID).
fn key_body(record: &StoredApiKey, apikey: &str) -> Value {
    json!({
        "keyUUID": record.uuid,
        "keyName": record.key_name,
        "apikey": apikey,
        "validityPeriod": record.validity_secs,
        "validityTime": record.validity_secs,
    })
}

pub(crate) async fn generate(
    State(state): State<AppState>,
    Scoped(user, _): Scoped<rest_scopes::ApiKey>,
    Path((id, key_type)): Path<(String, String)>,
    JsonBody(request): JsonBody<GenerateRequest>,
) -> ApiResult<axum::Json<Value>> {
    let app = load_owned(&state, &id, &user.username).await?;
    let key_type = parse_key_type(&key_type)?;
    let validity = parse_validity(request.validity_period.as_ref())?;
    let properties = request.additional_properties.as_ref();
    for restriction in ["permittedIP", "permittedReferer"] {
        if !property(properties, restriction).is_empty() {
            // Gateways do not enforce these yet: refuse rather than pretend.
            return Err(ApiError::BadRequest(format!(
                "additionalProperties.{restriction}: is not supported yet"
            )));
        }
    }
    let uuid = gantry_store::new_id();
    let key_name = match request.key_name.map(|n| n.trim().to_owned()) {
        Some(name) if !name.is_empty() => {
            if name.chars().count() > MAX_KEY_NAME_CHARS || name.chars().any(char::is_control) {
                return Err(ApiError::BadRequest(format!(
                    "keyName: at most {MAX_KEY_NAME_CHARS} printable characters"
                )));
            }
            name
        }
        _ => format!("{}_{}_{}", app.name, key_type.as_str(), &uuid[..8]),
    };
    let issued = sign(&state, &app, key_type, validity).await?;
    let record = StoredApiKey {
        uuid,
        application_id: app.id.clone(),
        key_type: key_type.as_str().to_owned(),
        key_name,
        jti: issued.jti.clone(),
        validity_secs: validity.map_or(-1, |v| i64::try_from(v).unwrap_or(i64::MAX)),
        issued_at: gantry_store::now_ms(),
    };
    api_keys::insert(state.store(), &record).await?;
    tracing::info!(application_id = %app.id, key_type = key_type.as_str(), jti = %issued.jti, "API key generated");
    Ok(axum::Json(key_body(&record, &issued.api_key)))
}

/// The key `uuid` of `app` and `key_type`; 404 otherwise (another application's too).
async fn load_key(
    state: &AppState,
    app_id: &str,
    key_type: KeyType,
    uuid: &str,
) -> ApiResult<StoredApiKey> {
    match api_keys::get(state.store(), uuid).await {
        Ok(key) if key.application_id == app_id && key.key_type == key_type.as_str() => Ok(key),
        Ok(_) | Err(gantry_store::StoreError::NotFound) => Err(ApiError::NotFound(format!(
            "No {} API key '{uuid}' in this application",
            key_type.as_str()
        ))),
        Err(e) => Err(e.into()),
    }
}

/// When the key issued at `issued_at` (ms) for `validity_secs` (-1: never) expires, ms.
fn expiry_ms(issued_at: i64, validity_secs: i64) -> i64 {
    if validity_secs < 0 {
        gantry_store::now_ms().saturating_add(NEVER_EXPIRES_MS)
    } else {
        issued_at.saturating_add(validity_secs.saturating_mul(1000))
    }
}

/// `GET /applications/{id}/api-keys/{keyType}`: WSO2 `APIKeyList` (the keys, never their
/// values).
pub(crate) async fn list(
    State(state): State<AppState>,
    Scoped(user, _): Scoped<rest_scopes::ApiKey>,
    Path((id, key_type)): Path<(String, String)>,
) -> ApiResult<axum::Json<Value>> {
    let app = load_owned(&state, &id, &user.username).await?;
    let key_type = parse_key_type(&key_type)?;
    let keys: Vec<Value> = api_keys::list(state.store(), &app.id, key_type.as_str())
        .await?
        .iter()
        .map(|k| {
            json!({"keyUUID": k.uuid, "keyName": k.key_name,
                   "issuedOn": crate::wire::rfc3339(k.issued_at),
                   "validityPeriod": k.validity_secs})
        })
        .collect();
    Ok(axum::Json(json!({"count": keys.len(), "list": keys})))
}

/// `POST /applications/{id}/api-keys/{keyType}/regenerate` (`keyUUID`): a new key under
/// the same name and validity; the old one is revoked.
pub(crate) async fn regenerate(
    State(state): State<AppState>,
    Scoped(user, _): Scoped<rest_scopes::ApiKey>,
    Path((id, key_type)): Path<(String, String)>,
    JsonBody(request): JsonBody<RenewRequest>,
) -> ApiResult<axum::Json<Value>> {
    let app = load_owned(&state, &id, &user.username).await?;
    let key_type = parse_key_type(&key_type)?;
    let mut record = load_key(&state, &app.id, key_type, &request.key_uuid).await?;
    let validity = u64::try_from(record.validity_secs).ok();
    let issued = sign(&state, &app, key_type, validity).await?;
    revoked_tokens::revoke(
        state.store(),
        &record.jti,
        &app.id,
        expiry_ms(record.issued_at, record.validity_secs),
    )
    .await?;
    record.jti = issued.jti.clone();
    record.issued_at = gantry_store::now_ms();
    api_keys::reissue(state.store(), &record.uuid, &record.jti, record.issued_at).await?;
    state.sync_environments().await?;
    tracing::info!(application_id = %app.id, key = %record.uuid, jti = %issued.jti, "API key regenerated");
    Ok(axum::Json(key_body(&record, &issued.api_key)))
}

pub(crate) async fn revoke(
    State(state): State<AppState>,
    Scoped(user, _): Scoped<rest_scopes::ApiKey>,
    Path((id, key_type)): Path<(String, String)>,
    JsonBody(request): JsonBody<RevokeRequest>,
) -> ApiResult<axum::http::StatusCode> {
    let app = load_owned(&state, &id, &user.username).await?;
    let key_type = parse_key_type(&key_type)?;
    if let Some(uuid) = request.key_uuid.as_deref().filter(|k| !k.is_empty()) {
        let record = load_key(&state, &app.id, key_type, uuid).await?;
        let expires_at = expiry_ms(record.issued_at, record.validity_secs);
        revoked_tokens::revoke(state.store(), &record.jti, &app.id, expires_at).await?;
        api_keys::forget_jti(state.store(), &record.jti).await?;
        tracing::info!(application_id = %app.id, key = %record.uuid, "API key revoked");
        state.sync_environments().await?;
        return Ok(axum::http::StatusCode::OK);
    }
    let apikey = request
        .apikey
        .as_deref()
        .filter(|k| !k.is_empty())
        .ok_or_else(|| ApiError::BadRequest("apikey or keyUUID: is required".into()))?;
    let claims = match state.issuer().keys().verify_api_key(apikey) {
        Ok(claims) => claims,
        // An expired key is harmless already; anything else was never ours.
        Err(gantry_keys::VerifyError::Expired) => return Ok(axum::http::StatusCode::OK),
        Err(_) => {
            return Err(ApiError::BadRequest(
                "apikey: is not a valid API key".into(),
            ));
        }
    };
    if claims.application.uuid != app.id || claims.keytype != key_type {
        return Err(ApiError::BadRequest(format!(
            "apikey: is not a {} API key of this application",
            key_type.as_str()
        )));
    }
    let expires_at = claims
        .exp
        .map(|exp| {
            i64::try_from(exp)
                .unwrap_or(i64::MAX / 1000)
                .saturating_mul(1000)
        })
        .unwrap_or_else(|| gantry_store::now_ms().saturating_add(NEVER_EXPIRES_MS));
    revoked_tokens::revoke(state.store(), &claims.jti, &app.id, expires_at).await?;
    api_keys::forget_jti(state.store(), &claims.jti).await?;
    tracing::info!(application_id = %app.id, jti = %claims.jti, "API key revoked");
    state.sync_environments().await?;
    Ok(axum::http::StatusCode::OK)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validity_is_minus_one_or_a_positive_bounded_number() {
        assert_eq!(parse_validity(None).unwrap(), None);
        assert_eq!(parse_validity(Some(&json!(-1))).unwrap(), None);
        assert_eq!(parse_validity(Some(&json!(3600))).unwrap(), Some(3600));
        assert_eq!(parse_validity(Some(&json!("60"))).unwrap(), Some(60));
        for bad in [
            json!(0),
            json!(-5),
            json!("x"),
            json!(MAX_VALIDITY_SECS + 1),
        ] {
            assert!(parse_validity(Some(&bad)).is_err(), "{bad}");
        }
    }
}
