//! Admin REST API v4 (`/api/am/admin/v4`), the key-manager part: the signing keys and their
//! lifecycle, and a manual rotation. Callers must hold the `admin` role.

use axum::Router;
use axum::extract::State;
use axum::routing::{get, post};
use gantry_keys::Trigger;
use serde_json::{Value, json};

use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::extract::AdminUser;
use crate::keyring::{KeyRing, KeyRingError};

/// Key-manager routes under `/api/am/admin/v4`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/key-manager/signing-keys", get(list_keys))
        .route("/key-manager/signing-keys/rotate", post(rotate))
}

impl From<KeyRingError> for ApiError {
    fn from(e: KeyRingError) -> Self {
        match e {
            KeyRingError::Store(store) => store.into(),
            other => ApiError::Internal(other.to_string()),
        }
    }
}

async fn keys_json(state: &AppState) -> ApiResult<Value> {
    let keys = KeyRing::list(state.store()).await?;
    let active = state.issuer().keys().active().kid().to_owned();
    Ok(json!({
        "count": keys.len(),
        "activeKid": active,
        "list": keys,
    }))
}

async fn list_keys(
    State(state): State<AppState>,
    _admin: AdminUser,
) -> ApiResult<axum::Json<Value>> {
    Ok(axum::Json(keys_json(&state).await?))
}

/// Rotates now: the `next` key becomes active, the active one retired (published until its
/// tokens have expired), and a new `next` key is generated and published.
async fn rotate(State(state): State<AppState>, admin: AdminUser) -> ApiResult<axum::Json<Value>> {
    state.key_ring().rotate(&state, Trigger::Manual).await?;
    tracing::info!(by = %admin.username, "signing keys rotated by an administrator");
    Ok(axum::Json(keys_json(&state).await?))
}
