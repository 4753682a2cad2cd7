//! Revisions (immutable snapshots of an API) and their deployment to gateway environments:
//! create, deploy, undeploy, and how far each deployment has reached the gateways. The
//! Publisher REST handlers (`publisher::revisions`), the Publisher portal and the demo
//! seed call these.

use gantry_store::apis::{self, Deployment, Revision};
use gantry_store::{environments, gateways};
use serde::{Deserialize, Serialize};

use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::service::apis::load;
use crate::service::workflows::Requested;

/// Creates a revision of an API; shared by the REST handler, the Publisher portal and the demo seed.
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

/// Loads a revision of an API, or answers 404 naming what is missing.
pub(crate) async fn load_revision(
    state: &AppState,
    api_id: &str,
    revision_id: &str,
) -> ApiResult<Revision> {
    load(state, api_id).await?;
    match apis::get_revision(state.store(), api_id, revision_id).await {
        Err(gantry_store::StoreError::NotFound) => {
            Err(ApiError::not_found("revision", revision_id))
        }
        other => Ok(other?),
    }
}

/// Makes a revision's definition the working copy again (WSO2 `restore-revision`): what
/// the revision holds replaces the API's design; its identity (id, provider), lifecycle
/// state, default-version flag and creation time stay as they are now. Gateways are not
/// told: the working copy is not deployed until a new revision of it is.
pub async fn restore_revision(
    state: &AppState,
    api_id: &str,
    revision_id: &str,
    by: &str,
) -> ApiResult<gantry_model::Api> {
    let revision = load_revision(state, api_id, revision_id).await?;
    let current = load(state, api_id).await?;
    let mut api = revision.definition;
    api.id = current.id.clone();
    api.provider = current.provider.clone();
    api.life_cycle_status = current.life_cycle_status;
    api.is_default_version = current.is_default_version;
    api.created_time = current.created_time.clone();
    api.last_updated_time = crate::wire::rfc3339(gantry_store::now_ms());
    apis::update_if_unchanged(state.store(), &api, &current).await?;
    tracing::info!(
        api_id,
        revision = revision.number,
        by,
        "revision restored into the working copy"
    );
    Ok(api)
}

/// One element of the deploy/undeploy body (WSO2 `APIRevisionDeployment`).
#[derive(Debug, Clone, Deserialize, Serialize)]
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

impl DeploymentTarget {
    /// The environment `name` at its first vhost, listed in the developer portal.
    pub fn environment(name: &str) -> Self {
        Self {
            name: Some(name.to_owned()),
            vhost: None,
            display_on_devportal: true,
        }
    }
}

/// Resolves each target's environment and vhost, or says which one is wrong.
pub(crate) async fn resolve_targets(
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

/// Asks for a deployment (the REST handler and the Publisher portal): deployed at once, or,
/// while AM_REVISION_DEPLOYMENT needs approval, checked and recorded for approval, and
/// deployed (gateways learn it) only when approved. The deployments made, or the request.
pub async fn request_deployment(
    state: &AppState,
    api_id: &str,
    revision_id: &str,
    targets: &[DeploymentTarget],
    user: &str,
) -> ApiResult<Requested<Vec<Deployment>>> {
    use crate::service::workflows::{self, Deferred, WorkflowType};
    if !state.workflows().requires(WorkflowType::RevisionDeployment) {
        return Ok(Requested::Done(
            deploy_revision(state, api_id, revision_id, targets).await?,
        ));
    }
    let revision = load_revision(state, api_id, revision_id).await?;
    let resolved = resolve_targets(state, targets).await?;
    let names: Vec<&str> = resolved.iter().map(|(env, _, _)| env.as_str()).collect();
    let workflow = workflows::request(
        state,
        WorkflowType::RevisionDeployment,
        api_id,
        user,
        &format!(
            "Approve the deployment of revision {} of API [{} {}] to {}",
            revision.number,
            revision.definition.name,
            revision.definition.version,
            names.join(", ")
        ),
        &Deferred::RevisionDeployment {
            api_id: api_id.to_owned(),
            revision_id: revision_id.to_owned(),
            targets: resolved
                .into_iter()
                .map(|(env, vhost, display)| DeploymentTarget {
                    name: Some(env),
                    vhost: Some(vhost),
                    display_on_devportal: display,
                })
                .collect(),
        },
    )
    .await?;
    Ok(Requested::Pending(Box::new(workflow)))
}

/// Deploys a revision to environments now: the demo seed, and an approved
/// AM_REVISION_DEPLOYMENT request.
pub async fn deploy_revision(
    state: &AppState,
    api_id: &str,
    revision_id: &str,
    targets: &[DeploymentTarget],
) -> ApiResult<Vec<Deployment>> {
    let revision = load_revision(state, api_id, revision_id).await?;
    // Checked again at deploy: a revision cut before a policy changed must not reach gateways
    // that would refuse it.
    revision.definition.check_policies()?;
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

/// Undeploys a revision from the environments of `targets`; 400 when it is not deployed
/// to one of them.
pub async fn undeploy(
    state: &AppState,
    api_id: &str,
    revision_id: &str,
    targets: &[DeploymentTarget],
) -> ApiResult<()> {
    load_revision(state, api_id, revision_id).await?;
    let resolved = resolve_targets(state, targets).await?;
    for (env, _, _) in &resolved {
        match apis::undeploy(state.store(), api_id, revision_id, env).await {
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
    Ok(())
}

/// How far a deployment has reached an environment's gateways.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GatewayProgress {
    /// Gateways heard from recently.
    pub live: usize,
    /// Of those, how many run a configuration version that carries the deployment.
    pub applied: usize,
    /// Of those, how many rejected it.
    pub failed: usize,
}

impl GatewayProgress {
    /// Every live gateway applied it (and there is at least one).
    pub fn all_applied(&self) -> bool {
        self.live > 0 && self.applied == self.live
    }
}

/// The gateways of `environment` heard from recently, how many ACKed configuration
/// `version` (or later), how many rejected it. `version` is the first version carrying a
/// deployment; 0 means no published version carries it yet, so no gateway counts (as in
/// WSO2, a gateway counts once it confirmed a configuration containing the deployment).
pub async fn gateway_progress(
    state: &AppState,
    environment: &str,
    version: i64,
) -> ApiResult<GatewayProgress> {
    let now = gantry_store::now_ms();
    let nodes = gateways::nodes_of(state.store(), environment).await?;
    let live: Vec<_> = nodes
        .iter()
        .filter(|n| n.connected == 1 && now - n.last_seen < crate::admin::LIVE_WITHIN_MS)
        .collect();
    let carried = |applied: i64| version > 0 && applied >= version;
    let applied = live.iter().filter(|n| carried(n.applied_version)).count();
    let failed = live
        .iter()
        .filter(|n| {
            !carried(n.applied_version)
                && version > 0
                && n.last_nack_version.is_some_and(|v| v >= version)
        })
        .count();
    Ok(GatewayProgress {
        live: live.len(),
        applied,
        failed,
    })
}
