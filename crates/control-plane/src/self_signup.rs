//! Developer-portal self sign-up over REST, at WSO2's path: `POST /api/identity/user/v1.0/me`
//! (anonymous), with WSO2's body `{"user": {"username", "password", "realm", "claims": [...]},
//! "properties": []}`. While AM_USER_SIGNUP needs approval it answers 202 with WSO2's
//! `WorkflowResponse` and the account exists only once approved (`service::signup`). Off unless the control plane runs with `--self-signup true` (`gantry up`
//! turns it on; `gantry control-plane` leaves it off). New users get the subscriber role only.
//! Each attempt counts against the caller's address in the same budget as failed sign-ins,
//! since each costs an Argon2 hash.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::extract::JsonBody;
use crate::scim::users::{check_password_policy, check_username, hash_password};
use crate::service::workflows::Requested;

/// The role self-registered users get.
pub const SUBSCRIBER_ROLE: &str = "Internal/subscriber";

#[derive(Debug, Deserialize)]
pub(crate) struct SignupUser {
    username: Option<String>,
    password: Option<String>,
    #[serde(default)]
    claims: Vec<Value>,
}

/// WSO2's `SelfUserRegistrationRequest`.
#[derive(Debug, Deserialize)]
pub(crate) struct SignupRequest {
    user: Option<SignupUser>,
}

pub(crate) async fn sign_up(
    State(state): State<AppState>,
    extensions: axum::http::Extensions,
    JsonBody(request): JsonBody<SignupRequest>,
) -> ApiResult<Response> {
    if !state.self_signup_enabled() {
        return Err(ApiError::Forbidden(
            "Self sign-up is disabled on this control plane; ask an administrator for an account"
                .into(),
        ));
    }
    let user = request
        .user
        .ok_or_else(|| ApiError::BadRequest("user: is required".into()))?;
    let raw = user
        .username
        .as_deref()
        .map(str::trim)
        .ok_or_else(|| ApiError::BadRequest("user.username: is required".into()))?;
    // WSO2 clients may send the tenant-qualified name.
    let username = raw.strip_suffix("@carbon.super").unwrap_or(raw);
    check_username(username).map_err(|e| ApiError::BadRequest(format!("user.username: {e}")))?;
    let password = user
        .password
        .as_deref()
        .ok_or_else(|| ApiError::BadRequest("user.password: is required".into()))?;
    check_password_policy(password)
        .map_err(|e| ApiError::BadRequest(format!("user.password: {e}")))?;
    let ip = extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip());
    if let Err(retry_after) = state.failures().check(None, ip) {
        return Err(ApiError::TooManyRequests {
            message: format!(
                "Too many sign-ups from this address; retry in {} s",
                retry_after.as_secs().max(1)
            ),
            retry_after,
        });
    }
    state.failures().record_failure(None, ip);
    let email = user.claims.iter().find_map(|c| {
        (c.get("uri").and_then(Value::as_str) == Some("http://wso2.org/claims/emailaddress"))
            .then(|| c.get("value").cloned())
            .flatten()
    });
    let profile = match email {
        Some(e) => json!({"emails": [{"value": e, "primary": true}]}).to_string(),
        None => "{}".to_owned(),
    };
    let hash = hash_password(password).await?;
    match crate::service::signup::register(&state, username, &hash, &profile).await? {
        Requested::Done(created) => {
            tracing::info!(user = %created.username, "user signed up over REST");
            Ok((
                StatusCode::CREATED,
                axum::Json(json!({"username": created.username, "roles": [SUBSCRIBER_ROLE]})),
            )
                .into_response())
        }
        Requested::Pending(workflow) => Ok((
            StatusCode::ACCEPTED,
            axum::Json(json!({
                "workflowStatus": "CREATED",
                "jsonPayload": json!({"username": username, "workflowReferenceId": workflow.id}).to_string(),
            })),
        )
            .into_response()),
    }
}
