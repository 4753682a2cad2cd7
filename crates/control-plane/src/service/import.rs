//! Importing an API project: create the API (or, with `overwrite`, update the one of the
//! same name and version), store its OpenAPI document, bring it to the project's lifecycle
//! state, then snapshot a revision and deploy it where the project says. Every step is the
//! operation REST callers use, so an import is validated and audited exactly like them.
//!
//! A dry run compares the normalized project (ids, timestamps and provider aside) with what
//! the control plane holds and answers the differences and both digests.

use gantry_model::{Api, LifecycleAction, LifecycleState};
use gantry_store::apis::{self as store_apis, MAX_REVISIONS};
use gantry_store::definitions;
use serde::Serialize;
use serde_json::{Value, json};

use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::preview::{Candidate, preview};
use crate::publisher::apis::ApiRequest;
use crate::publisher::import::ImportPlan;
use crate::service::revisions::{DeploymentTarget, create_revision, deploy_revision, undeploy};
use crate::service::{apis, revisions};

/// How to import (WSO2's query parameters, plus Gantry's `dryRun`).
#[derive(Debug, Clone)]
pub struct ImportOptions {
    /// Keep the project's provider (WSO2's default) instead of the importing user.
    pub preserve_provider: bool,
    /// Update an existing API of the same name and version instead of refusing (409).
    pub overwrite: bool,
    /// At the revision limit, delete the oldest revision (undeploying it) to make room.
    pub rotate_revision: bool,
    /// Change nothing; answer what would change.
    pub dry_run: bool,
}

/// What an import did (or, in a dry run, would do).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ImportOutcome {
    /// WSO2's success sentence.
    pub message: String,
    /// `CREATED`, `UPDATED`; in a dry run `CREATE`, `UPDATE` or `NONE`.
    pub action: &'static str,
    /// Whether this was a dry run.
    pub dry_run: bool,
    /// The API's id (absent when a dry run would create it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Name, version and context of the API.
    pub name: String,
    /// Version.
    pub version: String,
    /// Context.
    pub context: String,
    /// The revision created for the deployments, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revision_id: Option<String>,
    /// Where it was (or would be) deployed: `{name, vhost}`.
    pub deployments: Vec<Value>,
    /// What differs from what the control plane holds (dry run; empty when nothing).
    pub changes: Vec<String>,
    /// Digest of the normalized project.
    pub digest: String,
    /// Digest of the same view of what the control plane holds (absent for a new API).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_digest: Option<String>,
    /// Parts of the project not imported, by name.
    pub unsupported: Vec<String>,
    /// Fields of `api.yaml` with values Gantry ignores, by name.
    pub ignored_fields: Vec<String>,
    /// Dry run: per target environment, the routes its gateways would add, remove or
    /// change (the deployment preview).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub previews: Vec<Value>,
}

/// Imports `plan` as `user`.
pub async fn import_project(
    state: &AppState,
    plan: ImportPlan,
    options: &ImportOptions,
    user: &str,
) -> ApiResult<ImportOutcome> {
    let data = Value::Object(plan.data.clone());
    let request = || -> ApiResult<ApiRequest> {
        serde_json::from_value(data.clone())
            .map_err(|e| ApiError::BadRequest(format!("api.yaml: data: {e}")))
    };
    let provider = match data.get("provider").and_then(Value::as_str) {
        Some(p) if options.preserve_provider && !p.is_empty() => p.to_owned(),
        _ => user.to_owned(),
    };
    let target_state = match data.get("lifeCycleStatus").and_then(Value::as_str) {
        None => None,
        Some(raw) => Some(LifecycleState::parse(raw).ok_or_else(|| {
            ApiError::BadRequest(format!(
                "api.yaml: data.lifeCycleStatus: '{raw}' is not a lifecycle state"
            ))
        })?),
    };
    // Validated exactly as a REST create would be, before anything is written.
    let mut wanted = request()?.into_api(&provider)?;
    apis::check_policies(state, &mut wanted).await?;
    let existing = store_apis::all(state.store())
        .await?
        .into_iter()
        .find(|a| a.name == wanted.name && a.version == wanted.version);
    let definition = plan.definition.as_ref().map(|d| d.value.clone());
    let digest = project_digest(&wanted, definition.as_ref(), &plan.targets);
    let mut outcome = ImportOutcome {
        message: String::new(),
        action: "CREATED",
        dry_run: options.dry_run,
        id: existing.as_ref().map(|a| a.id.clone()),
        name: wanted.name.to_string(),
        version: wanted.version.to_string(),
        context: wanted.context.to_string(),
        revision_id: None,
        deployments: plan
            .targets
            .iter()
            .map(|t| json!({"name": t.name, "vhost": t.vhost}))
            .collect(),
        changes: Vec::new(),
        digest,
        current_digest: None,
        unsupported: plan.unsupported.clone(),
        ignored_fields: plan.ignored_fields.clone(),
        previews: Vec::new(),
    };
    if let Some(current) = &existing {
        outcome.current_digest =
            Some(current_digest(state, current, &plan.targets, definition.is_some()).await?);
    }
    if options.dry_run {
        outcome.changes = match &existing {
            None => vec!["the API does not exist: it would be created".into()],
            Some(current) => changes(state, current, &wanted, target_state, &plan).await?,
        };
        outcome.action = match (&existing, outcome.changes.is_empty()) {
            (None, _) => "CREATE",
            (Some(_), true) => "NONE",
            (Some(_), false) => "UPDATE",
        };
        if state.compiler().is_some() {
            let api_id = existing
                .as_ref()
                .map_or(wanted.id.as_str(), |a| a.id.as_str());
            let lifecycle = match (target_state, &existing) {
                (Some(to), _) if to != LifecycleState::Created => to,
                (_, Some(current)) => current.life_cycle_status,
                (to, None) => to.unwrap_or(LifecycleState::Created),
            };
            for target in &plan.targets {
                let candidate = Candidate {
                    api_id,
                    revision_id: "(import)",
                    definition: wanted.clone(),
                    lifecycle,
                    is_default_version: wanted.is_default_version,
                };
                let environment = target.name.as_deref().unwrap_or_default();
                outcome
                    .previews
                    .push(preview(state, candidate, environment, target.vhost.as_deref()).await?);
            }
        }
        outcome.message = match outcome.action {
            "NONE" => "The API is up to date.".into(),
            _ => format!("{} change(s) would be made.", outcome.changes.len()),
        };
        return Ok(outcome);
    }

    let api = match existing {
        Some(current) if !options.overwrite => {
            return Err(ApiError::Conflict(format!(
                "API '{}' version '{}' already exists (id {}); import with overwrite=true to update it",
                current.name, current.version, current.id
            )));
        }
        Some(current) => {
            outcome.action = "UPDATED";
            let api = apis::update(state, &current.id, request()?, None).await?;
            if let Some(document) = &definition {
                definitions::put(state.store(), &api.id, &document.to_string()).await?;
            }
            // An export without its state (CREATED) does not demote a live API.
            match target_state {
                Some(to) if to != LifecycleState::Created => {
                    walk_lifecycle(state, &api, to, user).await?
                }
                _ => api,
            }
        }
        None => {
            let api = apis::create(state, request()?, &provider).await?;
            if let Some(document) = &definition
                && let Err(error) =
                    definitions::put(state.store(), &api.id, &document.to_string()).await
            {
                let _ = store_apis::delete(state.store(), &api.id).await;
                return Err(error.into());
            }
            match target_state {
                Some(to) => walk_lifecycle(state, &api, to, user).await?,
                None => api,
            }
        }
    };
    outcome.id = Some(api.id.clone());
    crate::publisher::project_docs::apply(state, &api.id, user, &plan.docs).await?;
    if !plan.targets.is_empty() {
        make_room(state, &api.id, options.rotate_revision).await?;
        let revision = create_revision(state, &api.id, "Imported").await?;
        let deployed = deploy_revision(state, &api.id, &revision.id, &plan.targets).await?;
        outcome.deployments = deployed
            .iter()
            .map(|d| json!({"name": d.environment, "vhost": d.vhost}))
            .collect();
        outcome.revision_id = Some(revision.id);
    }
    outcome.message = "API imported successfully.".into();
    tracing::info!(api_id = %api.id, action = outcome.action, unsupported = outcome.unsupported.len(), "API project imported");
    Ok(outcome)
}

/// Moves `api` to `to` along the lifecycle's shortest path of actions.
async fn walk_lifecycle(
    state: &AppState,
    api: &Api,
    to: LifecycleState,
    user: &str,
) -> ApiResult<Api> {
    let Some(path) = lifecycle_path(api.life_cycle_status, to) else {
        return Err(ApiError::BadRequest(format!(
            "api.yaml: data.lifeCycleStatus: {} cannot be reached from {}",
            to.as_str(),
            api.life_cycle_status.as_str()
        )));
    };
    let mut current = api.clone();
    for action in path {
        current = apis::change_lifecycle(state, &current.id, action.as_str(), user).await?;
    }
    Ok(current)
}

/// The shortest list of actions from `from` to `to` (breadth first; six states).
pub(crate) fn lifecycle_path(
    from: LifecycleState,
    to: LifecycleState,
) -> Option<Vec<LifecycleAction>> {
    let mut frontier = vec![(from, Vec::new())];
    let mut seen = vec![from];
    while !frontier.is_empty() {
        let mut next = Vec::new();
        for (state, path) in frontier {
            if state == to {
                return Some(path);
            }
            for action in state.allowed_actions() {
                if let Some(reached) = state.apply(action)
                    && !seen.contains(&reached)
                {
                    seen.push(reached);
                    let mut longer = path.clone();
                    longer.push(action);
                    next.push((reached, longer));
                }
            }
        }
        frontier = next;
    }
    None
}

/// At [`MAX_REVISIONS`], deletes the oldest revision (undeploying it first) when allowed.
async fn make_room(state: &AppState, api_id: &str, rotate: bool) -> ApiResult<()> {
    let revisions = store_apis::list_revisions(state.store(), api_id).await?;
    if (revisions.len() as i64) < MAX_REVISIONS {
        return Ok(());
    }
    if !rotate {
        return Err(ApiError::Conflict(format!(
            "the API already has the maximum of {MAX_REVISIONS} revisions; import with rotateRevision=true to replace the oldest"
        )));
    }
    let Some(oldest) = revisions.iter().min_by_key(|r| r.number) else {
        return Ok(());
    };
    let deployed: Vec<DeploymentTarget> = store_apis::list_deployments(state.store(), api_id)
        .await?
        .into_iter()
        .filter(|d| d.revision_id == oldest.id)
        .map(|d| DeploymentTarget::environment(&d.environment))
        .collect();
    if !deployed.is_empty() {
        undeploy(state, api_id, &oldest.id, &deployed).await?;
    }
    store_apis::delete_revision(state.store(), api_id, &oldest.id).await?;
    tracing::info!(
        api_id,
        revision = oldest.number,
        "oldest revision rotated out"
    );
    Ok(())
}

/// The API as compared: without ids, timestamps, provider and lifecycle state.
fn normalized(api: &Api) -> Value {
    let mut value = serde_json::to_value(api).unwrap_or(Value::Null);
    if let Some(object) = value.as_object_mut() {
        for key in [
            "id",
            "provider",
            "lifeCycleStatus",
            "createdTime",
            "lastUpdatedTime",
        ] {
            object.remove(key);
        }
        if let Some(Value::Array(ops)) = object.get_mut("operations") {
            for op in ops.iter_mut().filter_map(Value::as_object_mut) {
                op.remove("id");
            }
        }
    }
    value
}

fn digest_of(api: &Api, definition: Option<&Value>, deployments: &[(String, String)]) -> String {
    let view =
        json!({"api": normalized(api), "definition": definition, "deployments": deployments});
    gantry_keys::secret::sha256_hex(&view.to_string())
}

fn project_digest(api: &Api, definition: Option<&Value>, targets: &[DeploymentTarget]) -> String {
    let mut deployments: Vec<(String, String)> = targets
        .iter()
        .map(|t| {
            (
                t.name.clone().unwrap_or_default(),
                t.vhost.clone().unwrap_or_default(),
            )
        })
        .collect();
    deployments.sort();
    digest_of(api, definition, &deployments)
}

async fn current_digest(
    state: &AppState,
    current: &Api,
    targets: &[DeploymentTarget],
    with_definition: bool,
) -> ApiResult<String> {
    let definition = match with_definition {
        true => stored_definition(state, &current.id).await?,
        false => None,
    };
    // The same view as the project's: the environments it names, and a target without a
    // vhost matches whatever vhost the deployment took.
    let mut deployments: Vec<(String, String)> = Vec::new();
    for d in store_apis::list_deployments(state.store(), &current.id).await? {
        let Some(target) = targets
            .iter()
            .find(|t| t.name.as_deref() == Some(d.environment.as_str()))
        else {
            continue;
        };
        let vhost = match target.vhost {
            None => String::new(),
            Some(_) => d.vhost,
        };
        deployments.push((d.environment, vhost));
    }
    deployments.sort();
    Ok(digest_of(current, definition.as_ref(), &deployments))
}

async fn stored_definition(state: &AppState, api_id: &str) -> ApiResult<Option<Value>> {
    Ok(definitions::get(state.store(), api_id)
        .await?
        .and_then(|text| serde_json::from_str(&text).ok()))
}

/// What an import of `plan` would change on `current`.
async fn changes(
    state: &AppState,
    current: &Api,
    wanted: &Api,
    target_state: Option<LifecycleState>,
    plan: &ImportPlan,
) -> ApiResult<Vec<String>> {
    let mut changes = Vec::new();
    let (now, new) = (normalized(current), normalized(wanted));
    if let (Some(now), Some(new)) = (now.as_object(), new.as_object()) {
        let mut keys: Vec<&String> = now.keys().chain(new.keys()).collect();
        keys.sort();
        keys.dedup();
        for key in keys {
            if now.get(key) != new.get(key) {
                changes.push(format!("data.{key}"));
            }
        }
    }
    if let Some(to) = target_state
        && to != LifecycleState::Created
        && to != current.life_cycle_status
    {
        changes.push(format!(
            "lifeCycleStatus: {} -> {}",
            current.life_cycle_status.as_str(),
            to.as_str()
        ));
    }
    if let Some(document) = &plan.definition
        && stored_definition(state, &current.id).await?.as_ref() != Some(&document.value)
    {
        changes.push("Definitions/swagger.yaml".into());
    }
    let deployments = store_apis::list_deployments(state.store(), &current.id).await?;
    for target in &plan.targets {
        let name = target.name.as_deref().unwrap_or_default();
        let serving = deployments.iter().find(|d| d.environment == name);
        let up_to_date = match serving {
            Some(d)
                if target
                    .vhost
                    .as_ref()
                    .is_none_or(|v| v.eq_ignore_ascii_case(&d.vhost)) =>
            {
                revisions::load_revision(state, &current.id, &d.revision_id)
                    .await
                    .is_ok_and(|r| normalized(&r.definition) == new)
            }
            _ => false,
        };
        if !up_to_date {
            changes.push(format!("deployment to {name}"));
        }
    }
    Ok(changes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifecycle_paths_are_shortest() {
        use LifecycleState as S;
        assert_eq!(lifecycle_path(S::Created, S::Created), Some(vec![]));
        let path = lifecycle_path(S::Created, S::Published).unwrap();
        assert_eq!(path.len(), 1);
        let path = lifecycle_path(S::Created, S::Deprecated).unwrap();
        assert_eq!(path.len(), 2);
        assert_eq!(S::Created.apply(path[0]), Some(S::Published));
    }
}
