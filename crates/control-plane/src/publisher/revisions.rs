//! Publisher: revisions (immutable snapshots of an API) and their deployment to gateway
//! environments. Deploying is what makes an API callable on a gateway.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use gantry_store::apis::{self, Deployment, Revision};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::extract::{JsonBody, QueryParams, Scoped};
use crate::publisher::apis::load;
use crate::rest_scopes;
use crate::service;
use crate::service::revisions::load_revision;
pub use crate::service::revisions::{DeploymentTarget, create_revision, deploy_revision};
use crate::service::workflows::{Deferred, Requested, WorkflowType};
use crate::wire::{plain_list, rfc3339};
use gantry_store::workflows::Workflow;

#[derive(Debug, Deserialize, Default)]
pub(crate) struct RevisionRequest {
    pub(crate) description: Option<String>,
}

pub(crate) fn revision_json<D>(r: &Revision<D>, deployments: &[Deployment]) -> Value {
    let deployment_info: Vec<Value> = deployments
        .iter()
        .filter(|d| d.revision_id == r.id)
        .map(deployment_json)
        .collect();
    json!({
        "id": r.id,
        "displayName": format!("Revision {}", r.number),
        "description": r.description,
        "createdTime": rfc3339(r.created_at),
        "apiInfo": { "id": r.api_id },
        "deploymentInfo": deployment_info,
    })
}

pub(crate) fn deployment_json(d: &Deployment) -> Value {
    json!({
        "revisionUuid": d.revision_id,
        "name": d.environment,
        "vhost": d.vhost,
        "displayOnDevportal": d.display_on_devportal != 0,
        "deployedTime": rfc3339(d.deployed_at),
        "successDeployedTime": rfc3339(d.deployed_at),
        "status": "APPROVED",
    })
}

pub(crate) async fn create<S: rest_scopes::ScopeSet>(
    State(state): State<AppState>,
    _: Scoped<S>,
    Path(api_id): Path<String>,
    body: axum::body::Bytes,
) -> ApiResult<Response> {
    let request = revision_request(&body)?;
    let revision = create_revision(
        &state,
        &api_id,
        request.description.as_deref().unwrap_or(""),
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(revision_json(&revision, &[])),
    )
        .into_response())
}

/// The body of a revision's creation: WSO2 clients send `{"description": …}`; an empty
/// body is accepted too.
pub(crate) fn revision_request(body: &[u8]) -> ApiResult<RevisionRequest> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(RevisionRequest::default());
    }
    serde_json::from_slice(body)
        .map_err(|e| ApiError::BadRequest(format!("Invalid request body: {e}")))
}

pub(crate) async fn list<S: rest_scopes::ScopeSet>(
    State(state): State<AppState>,
    _: Scoped<S>,
    Path(api_id): Path<String>,
) -> ApiResult<axum::Json<Value>> {
    load(&state, &api_id).await?;
    let revisions = apis::list_revisions(state.store(), &api_id).await?;
    let deployments = apis::list_deployments(state.store(), &api_id).await?;
    Ok(axum::Json(plain_list(
        revisions
            .iter()
            .map(|r| revision_json(r, &deployments))
            .collect(),
    )))
}

pub(crate) async fn get_one<S: rest_scopes::ScopeSet>(
    State(state): State<AppState>,
    _: Scoped<S>,
    Path((api_id, revision_id)): Path<(String, String)>,
) -> ApiResult<axum::Json<Value>> {
    let revision = load_revision(&state, &api_id, &revision_id).await?;
    let deployments = apis::list_deployments(state.store(), &api_id).await?;
    Ok(axum::Json(revision_json(&revision, &deployments)))
}

pub(crate) async fn delete<S: rest_scopes::ScopeSet>(
    State(state): State<AppState>,
    _: Scoped<S>,
    Path((api_id, revision_id)): Path<(String, String)>,
) -> ApiResult<axum::Json<Value>> {
    load_revision(&state, &api_id, &revision_id).await?;
    apis::delete_revision(state.store(), &api_id, &revision_id).await?;
    let revisions = apis::list_revisions(state.store(), &api_id).await?;
    let deployments = apis::list_deployments(state.store(), &api_id).await?;
    Ok(axum::Json(plain_list(
        revisions
            .iter()
            .map(|r| revision_json(r, &deployments))
            .collect(),
    )))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RevisionQuery {
    revision_id: Option<String>,
}

pub(crate) fn required_revision(query: RevisionQuery) -> ApiResult<String> {
    query
        .revision_id
        .ok_or_else(|| ApiError::BadRequest("revisionId: query parameter is required".into()))
}

pub(crate) async fn deploy<S: rest_scopes::ScopeSet>(
    State(state): State<AppState>,
    Scoped(user, _): Scoped<S>,
    Path(api_id): Path<String>,
    QueryParams(query): QueryParams<RevisionQuery>,
    JsonBody(targets): JsonBody<Vec<DeploymentTarget>>,
) -> ApiResult<Response> {
    let revision_id = required_revision(query)?;
    let body: Vec<Value> = match service::revisions::request_deployment(
        &state,
        &api_id,
        &revision_id,
        &targets,
        &user.username,
    )
    .await?
    {
        Requested::Done(deployments) => deployments.iter().map(deployment_json).collect(),
        // WSO2: 201 with the deployments `CREATED` (pending); gateways see nothing yet.
        Requested::Pending(workflow) => pending_deployments_json(&workflow),
    };
    Ok((StatusCode::CREATED, axum::Json(body)).into_response())
}

/// A deployment with how far it has reached the environment's gateways (`status`
/// `APPROVED` once every live gateway applied it).
pub(crate) async fn deployment_progress_json(state: &AppState, d: &Deployment) -> ApiResult<Value> {
    let progress =
        service::revisions::gateway_progress(state, &d.environment, d.config_version).await?;
    let mut v = deployment_json(d);
    v["deployedTime"] = json!(rfc3339(d.deployed_at));
    v["configVersion"] = json!(d.config_version);
    v["liveGatewayCount"] = json!(progress.live);
    v["deployedGatewayCount"] = json!(progress.applied);
    v["failedGatewayCount"] = json!(progress.failed);
    v["status"] = json!(if progress.all_applied() {
        "APPROVED"
    } else {
        "CREATED"
    });
    Ok(v)
}

/// The deployments an AM_REVISION_DEPLOYMENT request holds, as WSO2 shows pending ones.
fn pending_deployments_json(workflow: &Workflow) -> Vec<Value> {
    let Ok(Deferred::RevisionDeployment {
        revision_id,
        targets,
        ..
    }) = serde_json::from_str::<Deferred>(&workflow.payload)
    else {
        return Vec::new();
    };
    targets
        .iter()
        .map(|t| {
            json!({
                "revisionUuid": revision_id,
                "name": t.name,
                "vhost": t.vhost,
                "displayOnDevportal": t.display_on_devportal,
                "status": workflow.status,
                "workflowReferenceId": workflow.id,
            })
        })
        .collect()
}

pub(crate) async fn undeploy<S: rest_scopes::ScopeSet>(
    State(state): State<AppState>,
    _: Scoped<S>,
    Path(api_id): Path<String>,
    QueryParams(query): QueryParams<RevisionQuery>,
    JsonBody(targets): JsonBody<Vec<DeploymentTarget>>,
) -> ApiResult<Response> {
    let revision_id = required_revision(query)?;
    service::revisions::undeploy(&state, &api_id, &revision_id, &targets).await?;
    Ok(undeployed(&revision_id, &targets))
}

/// The answer to an undeploy: the targets the revision left.
pub(crate) fn undeployed(revision_id: &str, targets: &[DeploymentTarget]) -> Response {
    let body: Vec<Value> = targets
        .iter()
        .map(|t| json!({"revisionUuid": revision_id, "name": t.name, "vhost": t.vhost}))
        .collect();
    (StatusCode::CREATED, axum::Json(body)).into_response()
}

pub(crate) async fn deployments<S: rest_scopes::ScopeSet>(
    State(state): State<AppState>,
    _: Scoped<S>,
    Path(api_id): Path<String>,
) -> ApiResult<axum::Json<Value>> {
    load(&state, &api_id).await?;
    let deployments = apis::list_deployments(state.store(), &api_id).await?;
    let mut list = Vec::with_capacity(deployments.len());
    for d in &deployments {
        list.push(deployment_progress_json(&state, d).await?);
    }
    for workflow in gantry_store::workflows::pending_for(
        state.store(),
        WorkflowType::RevisionDeployment.as_str(),
        &api_id,
    )
    .await?
    {
        list.extend(pending_deployments_json(&workflow));
    }
    Ok(axum::Json(plain_list(list)))
}
