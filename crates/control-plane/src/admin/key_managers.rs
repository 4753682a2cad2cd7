//! Admin REST API v4: key managers (`/key-managers`). The resident key manager (Gantry's
//! own OAuth2 server) is always listed; external OIDC issuers are added by JWKS URL
//! (`certificates: {type: "JWKS", value: url}`) or by discovery URL (`wellKnownEndpoint`).
//!
//! The control plane fetches each issuer's JWKS (at creation, on update, and every
//! [`JWKS_REFRESH_INTERVAL`]) and hands the keys and the JWKS URL to gateways in their
//! snapshot, so gateways verify its tokens locally; a gateway reaches the identity provider
//! only to re-read the JWKS when a token names a key it does not hold (rate-limited; without
//! a route, such a key waits for the control plane's next refresh). Applications bind
//! an external client to their keys with `map-keys`; its tokens are then subscription-checked
//! like the resident key manager's.

use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use gantry_model::snapshot::{IssuerKey, TrustedIssuer};
use gantry_store::StoreError;
use gantry_store::key_managers::{self, KeyManager};
use serde_json::{Map, Value, json};

use crate::AppState;
use crate::devportal::applications::RESIDENT_KEY_MANAGER;
use crate::error::{ApiError, ApiResult};
use crate::extract::{JsonBody, Scoped};
use crate::rejection::{MultipartForm, multipart_error};
use crate::rest_scopes;
use crate::wire::plain_list;

/// How often the control plane re-reads external issuers' JWKS (key rotation at the IdP).
pub const JWKS_REFRESH_INTERVAL: Duration = Duration::from_secs(300);
/// The id under which the resident key manager is listed.
pub const RESIDENT_ID: &str = "resident";
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
const MAX_DOCUMENT_BYTES: usize = 512 * 1024;

/// Routes under `/api/am/admin/v4`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/key-managers", get(list).post(create))
        .route("/key-managers/discover", post(discover))
        .route(
            "/key-managers/{key_manager_id}",
            get(get_one).put(update).delete(remove),
        )
}

/// GETs a JSON document from an identity provider (http/https only, bounded size and time).
async fn fetch_json(url: &str) -> Result<Value, String> {
    if !(url.starts_with("https://") || url.starts_with("http://")) {
        return Err(format!("'{url}' is not an http(s) URL"));
    }
    // One client for the process: building one loads the system's trust roots.
    static CLIENT: std::sync::OnceLock<reqwest::Client> = std::sync::OnceLock::new();
    let client = match CLIENT.get() {
        Some(client) => client,
        None => {
            let built = reqwest::Client::builder()
                .timeout(FETCH_TIMEOUT)
                .redirect(reqwest::redirect::Policy::limited(3))
                .build()
                .map_err(|e| e.to_string())?;
            CLIENT.get_or_init(|| built)
        }
    };
    let response = client
        .get(url)
        .header("accept", "application/json")
        .send()
        .await
        .map_err(|e| format!("could not fetch {url}: {e}"))?;
    if !response.status().is_success() {
        return Err(format!("{url} answered {}", response.status()));
    }
    let body = response
        .bytes()
        .await
        .map_err(|e| format!("could not read {url}: {e}"))?;
    if body.len() > MAX_DOCUMENT_BYTES {
        return Err(format!(
            "{url} returned more than {MAX_DOCUMENT_BYTES} bytes"
        ));
    }
    serde_json::from_slice(&body).map_err(|e| format!("{url} did not return JSON: {e}"))
}

/// The keys of a JWKS document gateways can verify with, each pinned to one algorithm
/// ([`IssuerKey::from_jwks`], the rule gateways apply to the JWKS they fetch themselves).
pub fn issuer_keys(jwks: &Value) -> Vec<IssuerKey> {
    IssuerKey::from_jwks(jwks)
}

/// Fetches a JWKS and checks it holds at least one usable key; its text.
async fn fetch_jwks(url: &str) -> Result<String, String> {
    let jwks = fetch_json(url).await?;
    if issuer_keys(&jwks).is_empty() {
        return Err(format!(
            "{url} holds no signing key Gantry can use (RS256, ES256 or EdDSA with a kid)"
        ));
    }
    Ok(jwks.to_string())
}

/// The issuers of the enabled external key managers, with their last fetched keys.
pub async fn external_issuers(state: &AppState) -> Result<Vec<TrustedIssuer>, ApiError> {
    Ok(key_managers::list(state.store())
        .await?
        .into_iter()
        .filter(|km| km.enabled == 1)
        .map(|km| TrustedIssuer {
            keys: issuer_keys(&serde_json::from_str(&km.jwks).unwrap_or(Value::Null)),
            issuer: km.issuer,
            jwks_uri: Some(km.jwks_uri),
            resident: false,
        })
        .collect())
}

/// Re-reads every enabled issuer's JWKS; re-syncs gateways when one changed. An issuer
/// that cannot be reached keeps its last keys (logged).
pub async fn refresh_jwks(state: &AppState) -> Result<(), ApiError> {
    let mut changed = false;
    for km in key_managers::list(state.store()).await? {
        if km.enabled != 1 {
            continue;
        }
        match fetch_jwks(&km.jwks_uri).await {
            Ok(jwks) if jwks != km.jwks => {
                key_managers::set_jwks(state.store(), &km.id, &jwks).await?;
                tracing::info!(key_manager = %km.name, "issuer keys changed");
                changed = true;
            }
            Ok(_) => {}
            Err(error) => {
                tracing::warn!(key_manager = %km.name, %error, "could not refresh the issuer's JWKS; keeping the last keys");
            }
        }
    }
    if changed {
        state.sync_environments().await?;
    }
    Ok(())
}

fn resident_json(state: &AppState) -> Value {
    let issuer = state.issuer().issuer();
    let base = issuer.trim_end_matches("/oauth2/token");
    json!({
        "id": RESIDENT_ID,
        "name": RESIDENT_KEY_MANAGER,
        "displayName": RESIDENT_KEY_MANAGER,
        "type": "default",
        "description": "Gantry's own OAuth2 authorization server",
        "issuer": issuer,
        "enabled": true,
        "certificates": {"type": "JWKS", "value": format!("{base}/oauth2/jwks")},
        "tokenEndpoint": format!("{base}/oauth2/token"),
        "revokeEndpoint": format!("{base}/oauth2/revoke"),
        "wellKnownEndpoint": format!("{base}/oauth2/token/.well-known/openid-configuration"),
        "availableGrantTypes": crate::devportal::applications::KNOWN_GRANTS,
        "enableTokenGeneration": true,
        "enableOAuthAppCreation": true,
        "enableMapOAuthConsumerApps": false,
    })
}

/// How many usable signing keys the issuer's last fetched JWKS holds.
pub(crate) fn key_count(km: &KeyManager) -> usize {
    issuer_keys(&serde_json::from_str(&km.jwks).unwrap_or(Value::Null)).len()
}

/// The `type` the key manager was added with (e.g. `KeyCloak`, `Okta`, `custom`).
pub(crate) fn kind_of(km: &KeyManager) -> String {
    serde_json::from_str::<Value>(&km.definition)
        .ok()
        .and_then(|d| d.get("type").and_then(Value::as_str).map(str::to_owned))
        .unwrap_or_default()
}

fn key_manager_json(km: &KeyManager) -> Value {
    let mut body: Value = serde_json::from_str(&km.definition).unwrap_or_else(|_| json!({}));
    body["id"] = json!(km.id);
    body["name"] = json!(km.name);
    body["issuer"] = json!(km.issuer);
    body["enabled"] = json!(km.enabled == 1);
    body["certificates"] = json!({"type": "JWKS", "value": km.jwks_uri});
    body["enableOAuthAppCreation"] = json!(false);
    body["enableMapOAuthConsumerApps"] = json!(true);
    body["keyCount"] = json!(key_count(km));
    body
}

/// Validates a `KeyManager` body and resolves its issuer and JWKS URL (through the
/// discovery document when one is given); fetches the JWKS. 400 naming the problem.
async fn resolve(body: &Map<String, Value>) -> ApiResult<(String, String, String, String)> {
    let text = |name: &str| body.get(name).and_then(Value::as_str).map(str::to_owned);
    let name = text("name")
        .filter(|n| !n.trim().is_empty())
        .ok_or_else(|| ApiError::BadRequest("name: is required".into()))?;
    if name.len() > 100 || name == RESIDENT_KEY_MANAGER || name == "default" {
        return Err(ApiError::BadRequest(format!(
            "name: '{name}' is reserved or too long"
        )));
    }
    let kind = text("type").ok_or_else(|| {
        ApiError::BadRequest("type: is required (e.g. \"KeyCloak\", \"Okta\", \"custom\")".into())
    })?;
    if kind.len() > 45 || kind == "default" {
        return Err(ApiError::BadRequest(format!(
            "type: '{kind}' is reserved or longer than 45 characters"
        )));
    }
    let mut issuer = text("issuer");
    let mut jwks_uri = body
        .get("certificates")
        .filter(|c| c.get("type").and_then(Value::as_str) == Some("JWKS"))
        .and_then(|c| c.get("value"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    if body
        .get("certificates")
        .and_then(|c| c.get("type"))
        .and_then(Value::as_str)
        == Some("PEM")
    {
        return Err(ApiError::BadRequest(
            "certificates.type: PEM is not supported; give the issuer's JWKS URL".into(),
        ));
    }
    if let Some(well_known) = text("wellKnownEndpoint") {
        let document = fetch_json(&well_known)
            .await
            .map_err(|e| ApiError::BadRequest(format!("wellKnownEndpoint: {e}")))?;
        let field = |n: &str| document.get(n).and_then(Value::as_str).map(str::to_owned);
        issuer = issuer.or_else(|| field("issuer"));
        jwks_uri = jwks_uri.or_else(|| field("jwks_uri"));
    }
    let issuer = issuer.ok_or_else(|| {
        ApiError::BadRequest(
            "issuer: is required (or give a wellKnownEndpoint that names it)".into(),
        )
    })?;
    let jwks_uri = jwks_uri.ok_or_else(|| {
        ApiError::BadRequest(
            "certificates: {\"type\": \"JWKS\", \"value\": \"<jwks url>\"} or a wellKnownEndpoint is required".into(),
        )
    })?;
    let jwks = fetch_jwks(&jwks_uri)
        .await
        .map_err(|e| ApiError::BadRequest(format!("certificates.value: {e}")))?;
    Ok((name, issuer, jwks_uri, jwks))
}

async fn list(
    State(state): State<AppState>,
    _: Scoped<rest_scopes::AdminOperations>,
) -> ApiResult<axum::Json<Value>> {
    let mut all = vec![resident_json(&state)];
    all.extend(
        key_managers::list(state.store())
            .await?
            .iter()
            .map(key_manager_json),
    );
    Ok(axum::Json(plain_list(all)))
}

/// The external key manager `id`; 404 when there is none.
pub(crate) async fn load(state: &AppState, id: &str) -> ApiResult<KeyManager> {
    match key_managers::get(state.store(), id).await {
        Err(StoreError::NotFound) => Err(ApiError::not_found("key manager", id)),
        other => Ok(other?),
    }
}

async fn get_one(
    State(state): State<AppState>,
    _: Scoped<rest_scopes::AdminOperations>,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Value>> {
    if id == RESIDENT_ID {
        return Ok(axum::Json(resident_json(&state)));
    }
    Ok(axum::Json(key_manager_json(&load(&state, &id).await?)))
}

async fn create(
    State(state): State<AppState>,
    Scoped(user, _): Scoped<rest_scopes::AdminOperations>,
    JsonBody(body): JsonBody<Map<String, Value>>,
) -> ApiResult<Response> {
    let km = create_key_manager(&state, body, &user.username).await?;
    Ok((StatusCode::CREATED, axum::Json(key_manager_json(&km))).into_response())
}

/// 409 for an external key manager claiming the resident one's issuer: gateways would take
/// its keys for the resident key manager's (its API keys, its clients' tokens).
fn refuse_resident_issuer(state: &AppState, issuer: &str) -> ApiResult<()> {
    if issuer == state.issuer().issuer() {
        return Err(ApiError::Conflict(
            "issuer: that is the resident key manager's issuer".into(),
        ));
    }
    Ok(())
}

/// Validates a `KeyManager` body, resolves and fetches its issuer's keys, stores it;
/// re-syncs gateways.
pub(crate) async fn create_key_manager(
    state: &AppState,
    body: Map<String, Value>,
    by: &str,
) -> ApiResult<KeyManager> {
    let (name, issuer, jwks_uri, jwks) = resolve(&body).await?;
    refuse_resident_issuer(state, &issuer)?;
    let enabled = body.get("enabled").and_then(Value::as_bool).unwrap_or(true);
    let km = key_managers::create(
        state.store(),
        &KeyManager {
            id: String::new(),
            name,
            issuer,
            jwks_uri,
            enabled: i64::from(enabled),
            definition: Value::Object(body).to_string(),
            jwks,
            jwks_fetched_at: gantry_store::now_ms(),
            created_at: 0,
        },
    )
    .await?;
    tracing::info!(key_manager = %km.name, issuer = %km.issuer, %by, "key manager added");
    state.sync_environments().await?;
    Ok(km)
}

/// Turns the external key manager `id` on or off (its last fetched keys are kept);
/// re-syncs gateways, which trust only enabled issuers.
pub(crate) async fn set_enabled(
    state: &AppState,
    id: &str,
    enabled: bool,
    by: &str,
) -> ApiResult<KeyManager> {
    let current = load(state, id).await?;
    let mut definition: Value =
        serde_json::from_str(&current.definition).unwrap_or_else(|_| json!({}));
    if let Some(body) = definition.as_object_mut() {
        body.insert("enabled".into(), json!(enabled));
    }
    let km = KeyManager {
        enabled: i64::from(enabled),
        definition: definition.to_string(),
        ..current
    };
    key_managers::update(state.store(), &km).await?;
    tracing::info!(key_manager = %km.name, enabled, %by, "key manager switched");
    state.sync_environments().await?;
    Ok(km)
}

async fn update(
    State(state): State<AppState>,
    Scoped(user, _): Scoped<rest_scopes::AdminOperations>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<Map<String, Value>>,
) -> ApiResult<axum::Json<Value>> {
    if id == RESIDENT_ID {
        return Err(ApiError::Conflict(
            "The resident key manager is configured by Gantry itself".into(),
        ));
    }
    let current = load(&state, &id).await?;
    let (name, issuer, jwks_uri, jwks) = resolve(&body).await?;
    refuse_resident_issuer(&state, &issuer)?;
    if name != current.name {
        return Err(ApiError::BadRequest(format!(
            "name: cannot be changed ('{}')",
            current.name
        )));
    }
    let km = KeyManager {
        issuer,
        jwks_uri,
        enabled: i64::from(body.get("enabled").and_then(Value::as_bool).unwrap_or(true)),
        definition: Value::Object(body).to_string(),
        jwks,
        jwks_fetched_at: gantry_store::now_ms(),
        ..current
    };
    key_managers::update(state.store(), &km).await?;
    tracing::info!(key_manager = %km.name, by = %user.username, "key manager updated");
    state.sync_environments().await?;
    Ok(axum::Json(key_manager_json(&km)))
}

async fn remove(
    State(state): State<AppState>,
    Scoped(user, _): Scoped<rest_scopes::AdminOperations>,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    remove_key_manager(&state, &id, &user.username).await?;
    Ok(StatusCode::OK)
}

/// Deletes the external key manager `id` unless application keys are mapped to it (409
/// saying so); re-syncs gateways. The deleted key manager.
pub(crate) async fn remove_key_manager(
    state: &AppState,
    id: &str,
    by: &str,
) -> ApiResult<KeyManager> {
    if id == RESIDENT_ID {
        return Err(ApiError::Conflict(
            "The resident key manager cannot be deleted".into(),
        ));
    }
    let km = load(state, id).await?;
    let mapped = gantry_store::applications::count_keys_of_manager(state.store(), &km.name).await?;
    if mapped > 0 {
        return Err(ApiError::Conflict(format!(
            "{mapped} application key mappings use the key manager '{}'; remove them first",
            km.name
        )));
    }
    key_managers::delete(state.store(), id).await?;
    tracing::info!(key_manager = %km.name, %by, "key manager deleted");
    state.sync_environments().await?;
    Ok(km)
}

/// `POST /key-managers/discover` (multipart `url`, `type`): reads an OIDC discovery
/// document; WSO2's `KeyManagerWellKnownResponse`.
async fn discover(
    _: Scoped<rest_scopes::AdminOperations>,
    MultipartForm(mut multipart): MultipartForm,
) -> ApiResult<axum::Json<Value>> {
    let mut url = None;
    let mut kind = None;
    while let Some(field) = multipart.next_field().await.map_err(multipart_error)? {
        let name = field.name().unwrap_or_default().to_owned();
        let value = field.text().await.map_err(multipart_error)?;
        match name.as_str() {
            "url" => url = Some(value),
            "type" => kind = Some(value),
            _ => {}
        }
    }
    let url = url.ok_or_else(|| ApiError::BadRequest("url: is required".into()))?;
    Ok(axum::Json(match fetch_json(&url).await {
        Ok(document) => {
            let field = |n: &str| document.get(n).cloned().unwrap_or(Value::Null);
            json!({"valid": true, "value": {
                "type": kind,
                "wellKnownEndpoint": url,
                "issuer": field("issuer"),
                "certificates": {"type": "JWKS", "value": field("jwks_uri")},
                "tokenEndpoint": field("token_endpoint"),
                "revokeEndpoint": field("revocation_endpoint"),
                "introspectionEndpoint": field("introspection_endpoint"),
                "userInfoEndpoint": field("userinfo_endpoint"),
                "authorizeEndpoint": field("authorization_endpoint"),
                "availableGrantTypes": field("grant_types_supported"),
            }})
        }
        Err(error) => json!({"valid": false, "value": null, "error": error}),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jwks_keys_are_pinned_to_one_algorithm() {
        let jwks = json!({"keys": [
            {"kty": "RSA", "kid": "r1", "n": "abc", "e": "AQAB"},
            {"kty": "RSA", "kid": "r2", "alg": "RS512", "n": "abc", "e": "AQAB"},
            {"kty": "RSA", "kid": "enc", "use": "enc", "n": "abc", "e": "AQAB"},
            {"kty": "EC", "kid": "e1", "crv": "P-256", "x": "x", "y": "y"},
            {"kty": "OKP", "kid": "o1", "crv": "Ed25519", "x": "x"},
            {"kty": "RSA", "n": "no-kid", "e": "AQAB"},
        ]});
        let keys = issuer_keys(&jwks);
        let algs: Vec<(&str, &str)> = keys
            .iter()
            .map(|k| (k.kid.as_str(), k.alg.as_str()))
            .collect();
        assert_eq!(algs, [("r1", "RS256"), ("e1", "ES256"), ("o1", "EdDSA")]);
    }
}
