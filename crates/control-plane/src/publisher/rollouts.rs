//! Rollouts of an API revision (a Gantry extension under the Publisher's prefix, see
//! docs/api-compatibility.md): start one from a plan, read its live progress, promote,
//! pause, resume or abort it. The work is done by `service::rollouts` and its driver. An
//! API the caller may not see in the Publisher (access control) is a 404 here too.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use gantry_model::rollout::RolloutPlan;
use gantry_store::rollouts;
use serde_json::Value;

use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::extract::{JsonBody, Scoped};
use crate::publisher::apis::load_for;
use crate::rest_scopes;
use crate::service::rollouts::{self as service, Command, rollout_json};
use crate::wire::plain_list;

pub(crate) async fn start(
    State(state): State<AppState>,
    Scoped(user, _): Scoped<rest_scopes::ApiDeploy>,
    Path(api_id): Path<String>,
    JsonBody(plan): JsonBody<RolloutPlan>,
) -> ApiResult<Response> {
    load_for(&state, &api_id, &user).await?;
    let rollout = service::start(&state, &api_id, plan, &user.username).await?;
    let events = rollouts::events(state.store(), &rollout.id).await?;
    let mut headers = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_str(&format!(
        "/api/am/publisher/v4/apis/{api_id}/rollouts/{}",
        rollout.id
    )) {
        headers.insert(header::LOCATION, v);
    }
    Ok((
        StatusCode::CREATED,
        headers,
        axum::Json(rollout_json(&rollout, &events)),
    )
        .into_response())
}

pub(crate) async fn list(
    State(state): State<AppState>,
    Scoped(user, _): Scoped<rest_scopes::ApiView>,
    Path(api_id): Path<String>,
) -> ApiResult<axum::Json<Value>> {
    load_for(&state, &api_id, &user).await?;
    let found = rollouts::list(state.store(), &api_id).await?;
    Ok(axum::Json(plain_list(
        found.iter().map(|r| rollout_json(r, &[])).collect(),
    )))
}

pub(crate) async fn get_one(
    State(state): State<AppState>,
    Scoped(user, _): Scoped<rest_scopes::ApiView>,
    Path((api_id, id)): Path<(String, String)>,
) -> ApiResult<axum::Json<Value>> {
    load_for(&state, &api_id, &user).await?;
    let rollout = service::load_rollout(&state, &api_id, &id).await?;
    let events = rollouts::events(state.store(), &id).await?;
    Ok(axum::Json(rollout_json(&rollout, &events)))
}

pub(crate) async fn act(
    State(state): State<AppState>,
    Scoped(user, _): Scoped<rest_scopes::ApiDeploy>,
    Path((api_id, id, action)): Path<(String, String, String)>,
) -> ApiResult<Response> {
    load_for(&state, &api_id, &user).await?;
    let command = Command::parse(&action).ok_or_else(|| {
        ApiError::NotFound(format!(
            "No such rollout action '{action}' (promote, pause, resume, abort)"
        ))
    })?;
    let rollout = service::command(&state, &api_id, &id, command, &user.username).await?;
    let events = rollouts::events(state.store(), &id).await?;
    Ok((
        StatusCode::ACCEPTED,
        axum::Json(rollout_json(&rollout, &events)),
    )
        .into_response())
}
