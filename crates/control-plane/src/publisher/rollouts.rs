//! Rollouts of an API revision or an API product revision (a Gantry extension under the
//! Publisher's prefix, see docs/api-compatibility.md): start one from a plan, read its live
//! progress, promote, pause, resume or abort it, under `/apis/{apiId}/rollouts` and
//! `/api-products/{apiProductId}/rollouts` alike. The work is done by `service::rollouts`
//! and its driver. An API or product the caller may not see in the Publisher (access
//! control) is a 404 here too.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use gantry_model::rollout::RolloutPlan;
use gantry_store::rollouts::{self, Rollout};
use serde_json::Value;

use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::extract::{AuthUser, JsonBody, Scoped};
use crate::publisher::apis::load_for;
use crate::rest_scopes;
use crate::service::rollouts::{self as service, Command, Subject, rollout_json};
use crate::wire::plain_list;

/// 404 unless `user` may manage `subject` in the Publisher.
async fn visible(state: &AppState, subject: Subject<'_>, user: &AuthUser) -> ApiResult<()> {
    match subject {
        Subject::Api(id) => load_for(state, id, user).await.map(drop),
        Subject::Product(id) => crate::service::api_products::load_for(state, id, user)
            .await
            .map(drop),
    }
}

/// A rollout's body, naming a product's rollout by `apiProductId`.
async fn body(state: &AppState, subject: Subject<'_>, rollout: &Rollout) -> ApiResult<Value> {
    let events = rollouts::events(state.store(), &rollout.id).await?;
    Ok(with_subject(subject, rollout_json(rollout, &events)))
}

fn with_subject(subject: Subject<'_>, mut body: Value) -> Value {
    if let (Subject::Product(id), Some(fields)) = (subject, body.as_object_mut()) {
        fields.remove("apiId");
        fields.insert("apiProductId".to_owned(), Value::from(id));
    }
    body
}

fn location(subject: Subject<'_>, rollout_id: &str) -> Option<HeaderValue> {
    let path = match subject {
        Subject::Api(id) => format!("/api/am/publisher/v4/apis/{id}/rollouts/{rollout_id}"),
        Subject::Product(id) => {
            format!("/api/am/publisher/v4/api-products/{id}/rollouts/{rollout_id}")
        }
    };
    HeaderValue::from_str(&path).ok()
}

async fn start_for(
    state: &AppState,
    subject: Subject<'_>,
    user: &AuthUser,
    plan: RolloutPlan,
) -> ApiResult<Response> {
    visible(state, subject, user).await?;
    let rollout = service::start(state, subject, plan, &user.username).await?;
    let mut headers = HeaderMap::new();
    if let Some(v) = location(subject, &rollout.id) {
        headers.insert(header::LOCATION, v);
    }
    let body = body(state, subject, &rollout).await?;
    Ok((StatusCode::CREATED, headers, axum::Json(body)).into_response())
}

async fn list_for(
    state: &AppState,
    subject: Subject<'_>,
    user: &AuthUser,
) -> ApiResult<axum::Json<Value>> {
    visible(state, subject, user).await?;
    let found = rollouts::list(state.store(), subject.id()).await?;
    Ok(axum::Json(plain_list(
        found
            .iter()
            .map(|r| with_subject(subject, rollout_json(r, &[])))
            .collect(),
    )))
}

async fn get_for(
    state: &AppState,
    subject: Subject<'_>,
    user: &AuthUser,
    id: &str,
) -> ApiResult<axum::Json<Value>> {
    visible(state, subject, user).await?;
    let rollout = service::load_rollout(state, subject, id).await?;
    Ok(axum::Json(body(state, subject, &rollout).await?))
}

async fn act_for(
    state: &AppState,
    subject: Subject<'_>,
    user: &AuthUser,
    id: &str,
    action: &str,
) -> ApiResult<Response> {
    visible(state, subject, user).await?;
    let command = Command::parse(action).ok_or_else(|| {
        ApiError::NotFound(format!(
            "No such rollout action '{action}' (promote, pause, resume, abort)"
        ))
    })?;
    let rollout = service::command(state, subject, id, command, &user.username).await?;
    let body = body(state, subject, &rollout).await?;
    Ok((StatusCode::ACCEPTED, axum::Json(body)).into_response())
}

pub(crate) async fn start(
    State(state): State<AppState>,
    Scoped(user, _): Scoped<rest_scopes::ApiDeploy>,
    Path(api_id): Path<String>,
    JsonBody(plan): JsonBody<RolloutPlan>,
) -> ApiResult<Response> {
    start_for(&state, Subject::Api(&api_id), &user, plan).await
}

pub(crate) async fn list(
    State(state): State<AppState>,
    Scoped(user, _): Scoped<rest_scopes::ApiView>,
    Path(api_id): Path<String>,
) -> ApiResult<axum::Json<Value>> {
    list_for(&state, Subject::Api(&api_id), &user).await
}

pub(crate) async fn get_one(
    State(state): State<AppState>,
    Scoped(user, _): Scoped<rest_scopes::ApiView>,
    Path((api_id, id)): Path<(String, String)>,
) -> ApiResult<axum::Json<Value>> {
    get_for(&state, Subject::Api(&api_id), &user, &id).await
}

pub(crate) async fn act(
    State(state): State<AppState>,
    Scoped(user, _): Scoped<rest_scopes::ApiDeploy>,
    Path((api_id, id, action)): Path<(String, String, String)>,
) -> ApiResult<Response> {
    act_for(&state, Subject::Api(&api_id), &user, &id, &action).await
}

pub(crate) async fn start_product(
    State(state): State<AppState>,
    Scoped(user, _): Scoped<rest_scopes::ApiDeploy>,
    Path(product_id): Path<String>,
    JsonBody(plan): JsonBody<RolloutPlan>,
) -> ApiResult<Response> {
    start_for(&state, Subject::Product(&product_id), &user, plan).await
}

pub(crate) async fn list_product(
    State(state): State<AppState>,
    Scoped(user, _): Scoped<rest_scopes::ApiView>,
    Path(product_id): Path<String>,
) -> ApiResult<axum::Json<Value>> {
    list_for(&state, Subject::Product(&product_id), &user).await
}

pub(crate) async fn get_one_product(
    State(state): State<AppState>,
    Scoped(user, _): Scoped<rest_scopes::ApiView>,
    Path((product_id, id)): Path<(String, String)>,
) -> ApiResult<axum::Json<Value>> {
    get_for(&state, Subject::Product(&product_id), &user, &id).await
}

pub(crate) async fn act_product(
    State(state): State<AppState>,
    Scoped(user, _): Scoped<rest_scopes::ApiDeploy>,
    Path((product_id, id, action)): Path<(String, String, String)>,
) -> ApiResult<Response> {
    act_for(&state, Subject::Product(&product_id), &user, &id, &action).await
}
