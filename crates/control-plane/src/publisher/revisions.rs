//! Publisher: revisions (immutable snapshots of an API) and their deployment to gateway
//! environments. Deploying is what makes an API callable on a gateway.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use gantry_store::apis::{self, Deployment, Revision};
use gantry_store::{environments, gateways};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::extract::{JsonBody, QueryParams, Scoped};
use crate::publisher::apis::load;
use crate::rest_scopes;
use crate::wire::{plain_list, rfc3339};

#[derive(Debug, Deserialize, Default)]
pub(crate) struct RevisionRequest {
    description: Option<String>,
}

fn revision_json(r: &Revision, deployments: &[Deployment]) -> Value {
    let deployment_info: Vec<Value> = deployments
        .iter()
        .filter(|d| d.revision_id == r.id)
        .map(deployment_json)
        .collect();
    json!({
        "id": r.id,
        "displayName": format!("Revision {}", r.number),
        "description": r.description,
        "createdTime": r.created_at,
        "apiInfo": { "id": r.api_id },
        "deploymentInfo": deployment_info,
    })
}

fn deployment_json(d: &Deployment) -> Value {
    json!({
        "revisionUuid": d.revision_id,
        "name": d.environment,
        "vhost": d.vhost,
        "displayOnDevportal": d.display_on_devportal != 0,
        "deployedTime": d.deployed_at,
        "successDeployedTime": d.deployed_at,
        "status": "APPROVED",
    })
}

/// Creates a revision of an API; shared by the REST handler and the demo seed.
pub async fn create_revision(
    state: &AppState,
    api_id: &str,
    description: &str,
) -> ApiResult<Revision> {
    let api = load(state, api_id).await?;
    if description.chars().count() > 255 {
        return Err(ApiError::BadRequest(
            "description: must be at most 255 characters".into(),
        ));
    }
    let revision = apis::create_revision(state.store(), &api, description).await?;
    tracing::info!(api_id, revision = revision.number, "revision created");
    Ok(revision)
}

pub(crate) async fn create(
    State(state): State<AppState>,
    _: Scoped<rest_scopes::ApiDeploy>,
    Path(api_id): Path<String>,
    body: axum::body::Bytes,
) -> ApiResult<Response> {
    // WSO2 clients send `{"description": …}`; an empty body is accepted too.
    let request: RevisionRequest = if body.iter().all(u8::is_ascii_whitespace) {
        RevisionRequest::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::BadRequest(format!("Invalid request body: {e}")))?
    };
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

pub(crate) async fn list(
    State(state): State<AppState>,
    _: Scoped<rest_scopes::ApiLifecycleView>,
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

async fn load_revision(state: &AppState, api_id: &str, revision_id: &str) -> ApiResult<Revision> {
    load(state, api_id).await?;
    match apis::get_revision(state.store(), api_id, revision_id).await {
        Err(gantry_store::StoreError::NotFound) => {
            Err(ApiError::not_found("revision", revision_id))
        }
        other => Ok(other?),
    }
}

pub(crate) async fn get_one(
    State(state): State<AppState>,
    _: Scoped<rest_scopes::ApiLifecycleView>,
    Path((api_id, revision_id)): Path<(String, String)>,
) -> ApiResult<axum::Json<Value>> {
    let revision = load_revision(&state, &api_id, &revision_id).await?;
    let deployments = apis::list_deployments(state.store(), &api_id).await?;
    Ok(axum::Json(revision_json(&revision, &deployments)))
}

pub(crate) async fn delete(
    State(state): State<AppState>,
    _: Scoped<rest_scopes::ApiDeploy>,
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

/// One element of the deploy/undeploy body (WSO2 `APIRevisionDeployment`).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentTarget {
    /// Environment name.
    pub name: Option<String>,
    /// Virtual host (defaults to the environment's first).
    pub vhost: Option<String>,
    /// Listed in the developer portal.
    #[serde(default = "yes")]
    pub display_on_devportal: bool,
}

fn yes() -> bool {
    true
}

/// Resolves each target's environment and vhost, or says which one is wrong.
async fn resolve_targets(
    state: &AppState,
    targets: &[DeploymentTarget],
) -> ApiResult<Vec<(String, String, bool)>> {
    if targets.is_empty() {
        return Err(ApiError::BadRequest("body: name at least one environment, e.g. [{\"name\":\"Default\",\"vhost\":\"localhost\"}]".into()));
    }
    let mut resolved = Vec::with_capacity(targets.len());
    for (i, target) in targets.iter().enumerate() {
        let name = target
            .name
            .as_deref()
            .ok_or_else(|| ApiError::BadRequest(format!("[{i}].name: is required")))?;
        let env = environments::find_by_name(state.store(), name)
            .await?
            .ok_or_else(|| {
                ApiError::BadRequest(format!(
                    "[{i}].name: gateway environment '{name}' does not exist"
                ))
            })?;
        let vhost = match &target.vhost {
            Some(v) if env.vhosts.iter().any(|h| h.eq_ignore_ascii_case(v)) => {
                v.to_ascii_lowercase()
            }
            Some(v) => {
                return Err(ApiError::BadRequest(format!(
                    "[{i}].vhost: '{v}' is not a vhost of environment '{name}' (its vhosts: {})",
                    env.vhosts.join(", ")
                )));
            }
            None => env
                .vhosts
                .first()
                .cloned()
                .unwrap_or_else(|| "localhost".to_owned()),
        };
        if resolved
            .iter()
            .any(|(n, _, _): &(String, String, bool)| n == name)
        {
            return Err(ApiError::BadRequest(format!(
                "[{i}].name: environment '{name}' is listed twice"
            )));
        }
        resolved.push((env.name, vhost, target.display_on_devportal));
    }
    Ok(resolved)
}

/// Deploys a revision to environments; shared by the REST handler and the demo seed.
pub async fn deploy_revision(
    state: &AppState,
    api_id: &str,
    revision_id: &str,
    targets: &[DeploymentTarget],
) -> ApiResult<Vec<Deployment>> {
    load_revision(state, api_id, revision_id).await?;
    let resolved = resolve_targets(state, targets).await?;
    let mut deployments = Vec::with_capacity(resolved.len());
    for (env, vhost, display) in resolved {
        deployments
            .push(apis::deploy(state.store(), api_id, revision_id, &env, &vhost, display).await?);
        tracing::info!(api_id, revision_id, environment = %env, %vhost, "revision deployed");
    }
    state.sync_environments().await?;
    Ok(deployments)
}

fn required_revision(query: RevisionQuery) -> ApiResult<String> {
    query
        .revision_id
        .ok_or_else(|| ApiError::BadRequest("revisionId: query parameter is required".into()))
}

pub(crate) async fn deploy(
    State(state): State<AppState>,
    _: Scoped<rest_scopes::ApiDeploy>,
    Path(api_id): Path<String>,
    QueryParams(query): QueryParams<RevisionQuery>,
    JsonBody(targets): JsonBody<Vec<DeploymentTarget>>,
) -> ApiResult<Response> {
    let revision_id = required_revision(query)?;
    let deployments = deploy_revision(&state, &api_id, &revision_id, &targets).await?;
    let body: Vec<Value> = deployments.iter().map(deployment_json).collect();
    Ok((StatusCode::CREATED, axum::Json(body)).into_response())
}

pub(crate) async fn undeploy(
    State(state): State<AppState>,
    _: Scoped<rest_scopes::ApiDeploy>,
    Path(api_id): Path<String>,
    QueryParams(query): QueryParams<RevisionQuery>,
    JsonBody(targets): JsonBody<Vec<DeploymentTarget>>,
) -> ApiResult<Response> {
    let revision_id = required_revision(query)?;
    load_revision(&state, &api_id, &revision_id).await?;
    let resolved = resolve_targets(&state, &targets).await?;
    for (env, _, _) in &resolved {
        match apis::undeploy(state.store(), &api_id, &revision_id, env).await {
            Err(gantry_store::StoreError::NotFound) => {
                return Err(ApiError::BadRequest(format!(
                    "revision '{revision_id}' is not deployed to '{env}'"
                )));
            }
            other => other?,
        }
        tracing::info!(api_id, revision_id, environment = %env, "revision undeployed");
    }
    state.sync_environments().await?;
    let body: Vec<Value> = targets
        .iter()
        .map(|t| json!({"revisionUuid": revision_id, "name": t.name, "vhost": t.vhost}))
        .collect();
    Ok((StatusCode::CREATED, axum::Json(body)).into_response())
}

pub(crate) async fn deployments(
    State(state): State<AppState>,
    _: Scoped<rest_scopes::ApiLifecycleView>,
    Path(api_id): Path<String>,
) -> ApiResult<axum::Json<Value>> {
    load(&state, &api_id).await?;
    let deployments = apis::list_deployments(state.store(), &api_id).await?;
    let now = gantry_store::now_ms();
    let mut list = Vec::with_capacity(deployments.len());
    for d in &deployments {
        // Gateway status: of the gateways heard from recently, how many run a version that
        // carries this deployment, and how many rejected it.
        let nodes = gateways::nodes_of(state.store(), &d.environment).await?;
        let live: Vec<_> = nodes
            .iter()
            .filter(|n| n.connected == 1 && now - n.last_seen < crate::admin::LIVE_WITHIN_MS)
            .collect();
        let deployed = live
            .iter()
            .filter(|n| n.applied_version >= d.config_version)
            .count();
        let failed = live
            .iter()
            .filter(|n| {
                n.applied_version < d.config_version
                    && n.last_nack_version.is_some_and(|v| v >= d.config_version)
            })
            .count();
        let mut v = deployment_json(d);
        v["deployedTime"] = json!(rfc3339(d.deployed_at));
        v["configVersion"] = json!(d.config_version);
        v["liveGatewayCount"] = json!(live.len());
        v["deployedGatewayCount"] = json!(deployed);
        v["failedGatewayCount"] = json!(failed);
        v["status"] = json!(if !live.is_empty() && deployed == live.len() {
            "APPROVED"
        } else {
            "CREATED"
        });
        list.push(v);
    }
    Ok(axum::Json(plain_list(list)))
}
