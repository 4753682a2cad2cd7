//! WSO2's proprietary dynamic client registration, `POST /client-registration/v0.17/register`:
//! how WSO2 scripts get an OAuth2 client for the REST APIs before the password grant.
//!
//! The client is an application named `clientName` owned by `owner`, with PRODUCTION keys
//! for the space-separated `grantType`. WSO2 answers a repeated registration with the
//! existing client and its secret; Gantry keeps only a digest of secrets, so it answers
//! with the existing client id and a newly generated secret (the previous one stops
//! working).

use axum::extract::State;
use gantry_store::applications::{self, ApplicationKey, NewApplication};
use gantry_store::{StoreError, now_ms, users};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::AppState;
use crate::devportal::applications::{
    DEFAULT_TOKEN_VALIDITY_SECS, KNOWN_GRANTS, RESIDENT_KEY_MANAGER,
};
use crate::error::{ApiError, ApiResult};
use crate::extract::{AuthUser, JsonBody, is_admin};

/// The registration request, as WSO2 scripts send it.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegisterRequest {
    callback_url: Option<String>,
    client_name: Option<String>,
    owner: Option<String>,
    grant_type: Option<String>,
}

/// `POST /client-registration/v0.17/register`.
pub async fn register(
    State(state): State<AppState>,
    user: AuthUser,
    JsonBody(request): JsonBody<RegisterRequest>,
) -> ApiResult<axum::Json<Value>> {
    let name = request
        .client_name
        .as_deref()
        .map(str::trim)
        .unwrap_or_default();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(ApiError::BadRequest(
            "clientName: is required, at most 100 characters".into(),
        ));
    }
    let owner = request.owner.as_deref().unwrap_or(&user.username);
    if owner != user.username {
        if !is_admin(&state, &user.username).await? {
            return Err(ApiError::Forbidden(
                "owner: only an admin may register a client for another user".into(),
            ));
        }
        if users::find_by_username(state.store(), owner)
            .await?
            .is_none()
        {
            return Err(ApiError::BadRequest(format!("owner: no user '{owner}'")));
        }
    }
    let grants: Vec<String> = request
        .grant_type
        .as_deref()
        .unwrap_or("client_credentials password refresh_token")
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    if let Some(bad) = grants.iter().find(|g| !KNOWN_GRANTS.contains(&g.as_str())) {
        return Err(ApiError::BadRequest(format!(
            "grantType: '{bad}' is not a grant type (known: {})",
            KNOWN_GRANTS.join(", ")
        )));
    }
    let callback = request.callback_url.clone().unwrap_or_default();

    let app = match applications::find_owned_by_name(state.store(), owner, name).await? {
        Some(app) => app,
        None => match applications::create(
            state.store(),
            NewApplication {
                name,
                owner,
                throttling_policy: "Unlimited",
                description: "Registered through /client-registration",
                token_type: "JWT",
                attributes: &serde_json::Map::new(),
            },
        )
        .await
        {
            Ok(app) => app,
            // Registered concurrently: use that one.
            Err(StoreError::Conflict(_)) => {
                applications::find_owned_by_name(state.store(), owner, name)
                    .await?
                    .ok_or_else(|| ApiError::Conflict("the client is being registered".into()))?
            }
            Err(e) => return Err(e.into()),
        },
    };
    let secret = gantry_keys::secret::new_consumer_secret();
    let existing = applications::keys_of(state.store(), &app.id)
        .await?
        .into_iter()
        .find(|k| k.key_type == "PRODUCTION");
    let key = match existing {
        Some(key) => {
            applications::set_secret_hash(
                state.store(),
                &key.consumer_key,
                &crate::hash_client_secret(&secret).await?,
            )
            .await?;
            tracing::info!(client = %name, %owner, "client re-registered; secret regenerated");
            key
        }
        None => {
            let key = ApplicationKey {
                id: applications::new_key_id(),
                application_id: app.id.clone(),
                key_type: "PRODUCTION".into(),
                key_manager: RESIDENT_KEY_MANAGER.into(),
                consumer_key: gantry_keys::secret::new_consumer_key(),
                consumer_secret_hash: crate::hash_client_secret(&secret).await?,
                grant_types: grants,
                callback_url: callback,
                validity_period: DEFAULT_TOKEN_VALIDITY_SECS,
                created_at: now_ms(),
            };
            applications::create_key(state.store(), &key).await?;
            tracing::info!(client = %name, %owner, "client registered");
            key
        }
    };
    let json_string = json!({
        "grant_types": key.grant_types.join(" "),
        "redirect_uris": key.callback_url,
        "client_name": name,
    })
    .to_string();
    Ok(axum::Json(json!({
            "clientId": key.consumer_key,
            "clientName": name,
            "callBackURL": key.callback_url,
            "clientSecret": secret,
            "isSaasApplication": true,
            "appOwner": owner,
            "jsonString": json_string,
            "jsonAppAttribute": "{}",
            "tokenType": null,
    })))
}
