//! APIs: create, update (with `If-Match`), change the lifecycle, delete. The Publisher REST
//! handlers (`publisher::apis`), the Publisher portal and the demo seed all call these.

use gantry_model::{Api, LifecycleAction, LifecycleState};
use gantry_store::policies::PolicyLevel;
use gantry_store::{apis, now_ms, policies};

use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::publisher::apis::ApiRequest;
use crate::service::workflows::{self, Deferred, WorkflowType};
use crate::wire::rfc3339;
use gantry_store::workflows::Workflow;

/// Creates an API from a validated request; shared by the REST handler, the Publisher portal and the demo seed.
pub async fn create(state: &AppState, request: ApiRequest, provider: &str) -> ApiResult<Api> {
    let mut api = request.into_api(provider)?;
    let keys = super::ai_apis::prepare(state, &mut api, &[]).await?;
    check_policies(state, &mut api).await?;
    apis::create(state.store(), &api, provider).await?;
    super::ai_apis::store_keys(state, &api.id, keys).await?;
    tracing::info!(api_id = %api.id, name = %api.name, version = %api.version, "API created");
    if api.is_default_version {
        // Another version may have lost the default flag: gateways re-route now.
        state.sync_environments().await?;
    }
    Ok(api)
}

/// The tiers an API offers and its operations use must exist, the roles it names
/// (`visibleRoles`, `accessControlRoles`, scope bindings) must be roles users can hold, its
/// categories must exist, and its shared scopes are filled in from the shared scopes.
pub(crate) async fn check_policies(state: &AppState, api: &mut Api) -> ApiResult<()> {
    check_roles(&api.details)?;
    crate::scopes::resolve(state, api).await?;
    crate::categories::check(state, &api.details.categories).await?;
    check_tiers(state, &api.policies).await?;
    if let Some(tier) = &api.details.api_throttling_policy
        && policies::find(state.store(), PolicyLevel::Api, tier)
            .await?
            .is_none()
    {
        return Err(ApiError::BadRequest(format!(
            "apiThrottlingPolicy: '{tier}' is not an API-level throttling policy"
        )));
    }
    // A GraphQL API's `operations` are its root fields; its routes carry no policy.
    let operation_policies: Vec<&String> = match &api.gateway.graphql {
        Some(graphql) => graphql
            .operations
            .iter()
            .map(|op| &op.throttling_policy)
            .collect(),
        None => api
            .operations
            .iter()
            .map(|op| &op.throttling_policy)
            .collect(),
    };
    for (i, policy) in operation_policies.into_iter().enumerate() {
        if policies::find(state.store(), PolicyLevel::Api, policy)
            .await?
            .is_none()
        {
            return Err(ApiError::BadRequest(format!(
                "operations[{i}].throttlingPolicy: '{policy}' is not an API-level throttling policy"
            )));
        }
    }
    Ok(())
}

/// 400 unless the roles `details` names (`visibleRoles`, `accessControlRoles`) are roles
/// users can hold.
pub(crate) fn check_roles(details: &gantry_model::ApiDetails) -> ApiResult<()> {
    for (field, roles) in [
        ("visibleRoles", &details.visible_roles),
        ("accessControlRoles", &details.access_control_roles),
    ] {
        if let Some(unknown) = roles.iter().find(|r| {
            !gantry_keys::scopes::ROLES
                .iter()
                .any(|k| k.eq_ignore_ascii_case(r))
        }) {
            return Err(ApiError::BadRequest(format!(
                "{field}: '{unknown}' is not a role; use one of {}",
                gantry_keys::scopes::ROLES.join(", ")
            )));
        }
    }
    Ok(())
}

/// 400 unless every tier offered (`policies`) is a subscription throttling policy.
pub(crate) async fn check_tiers(state: &AppState, tiers: &[String]) -> ApiResult<()> {
    for tier in tiers {
        if policies::find(state.store(), PolicyLevel::Subscription, tier)
            .await?
            .is_none()
        {
            return Err(ApiError::BadRequest(format!(
                "policies: '{tier}' is not a subscription throttling policy"
            )));
        }
    }
    Ok(())
}

/// Replaces the working copy of `api_id` with `request` (see `update`); shared by the REST
/// handler and the Publisher portal's edit form. `if_match` is an `If-Match` value: a
/// mismatch, or a concurrent change, is a 412 with it and a 409 without it.
pub async fn update(
    state: &AppState,
    api_id: &str,
    mut request: ApiRequest,
    if_match: Option<&str>,
) -> ApiResult<Api> {
    let current = load(state, api_id).await?;
    check_if_match(if_match, &current)?;
    let fixed = [
        ("name", &mut request.name, current.name.as_str()),
        ("context", &mut request.context, current.context.as_str()),
        ("version", &mut request.version, current.version.as_str()),
        ("type", &mut request.api_type, current.api_type.as_str()),
    ];
    for (field, given, stored) in fixed {
        match given.as_deref() {
            Some(value) if value != stored => {
                return Err(ApiError::BadRequest(format!(
                    "{field}: cannot be changed by an update ('{stored}'); create a new version instead"
                )));
            }
            Some(_) => {}
            None => *given = Some(stored.to_owned()),
        }
    }
    match request.api_type.as_deref() {
        None => request.api_type = Some(current.api_type.clone()),
        Some(given) if given != current.api_type => {
            return Err(ApiError::BadRequest(format!(
                "type: cannot be changed by an update ('{}')",
                current.api_type
            )));
        }
        Some(_) => {}
    }
    // A GraphQL API's schema and complexity values change through their own resources;
    // the request's operations set the root fields' auth type, scopes and policies.
    request.gateway.graphql = current.gateway.graphql.clone();
    let mut api = request.into_api(&current.provider)?;
    let stored_keys = gantry_store::ai::credential_targets(state.store(), api_id).await?;
    let keys = super::ai_apis::prepare(state, &mut api, &stored_keys).await?;
    check_policies(state, &mut api).await?;
    api.id = current.id.clone();
    api.provider = current.provider.clone();
    api.life_cycle_status = current.life_cycle_status;
    api.created_time = current.created_time.clone();
    match apis::update_if_unchanged(state.store(), &api, &current).await {
        Err(gantry_store::StoreError::Conflict(what)) if if_match.is_some() => {
            return Err(ApiError::PreconditionFailed(format!("If-Match: {what}")));
        }
        other => other?,
    }
    tracing::info!(api_id = %api.id, "API updated");
    let keys_changed = !keys.is_empty();
    super::ai_apis::store_keys(state, &api.id, keys).await?;
    if api.is_default_version != current.is_default_version || keys_changed {
        // The default version is read from the working copy, and provider keys belong to
        // the API, not to a revision: gateways re-route, or use a new key, now.
        state.sync_environments().await?;
    }
    Ok(api)
}

/// Loads an API or answers 404 naming it.
pub(crate) async fn load(state: &AppState, api_id: &str) -> ApiResult<Api> {
    match apis::get(state.store(), api_id).await {
        Err(gantry_store::StoreError::NotFound) => Err(ApiError::not_found("API", api_id)),
        other => Ok(other?),
    }
}

/// The entity tag of an API's working copy: a digest of its stored form, so any change
/// (through any replica) gives a new tag.
pub(crate) fn etag<T: serde::Serialize>(api: &T) -> String {
    let digest = gantry_keys::secret::sha256_hex(&serde_json::to_string(api).unwrap_or_default());
    format!("\"{}\"", &digest[..32])
}

/// 412 unless `If-Match` (when sent) names the current version (or is `*`).
pub(crate) fn check_if_match<T: serde::Serialize>(
    if_match: Option<&str>,
    current: &T,
) -> ApiResult<()> {
    let Some(value) = if_match else {
        return Ok(());
    };
    let current_tag = etag(current);
    let matches = value.split(',').map(str::trim).any(|tag| {
        tag == "*" || tag == current_tag || tag.strip_prefix("W/") == Some(current_tag.as_str())
    });
    if matches {
        Ok(())
    } else {
        Err(ApiError::PreconditionFailed(format!(
            "If-Match: the API changed since it was read (current ETag {current_tag}); read it again and retry"
        )))
    }
}

/// Asks for a lifecycle action (the REST handler and the Publisher portal): applied at
/// once, or, while AM_API_STATE needs approval, recorded for approval (409 when a change
/// of the API waits already); the API as it is now and the request.
pub async fn request_lifecycle_change(
    state: &AppState,
    api_id: &str,
    action: &str,
    user: &str,
) -> ApiResult<(Api, Option<Workflow>)> {
    if !state.workflows().requires(WorkflowType::ApiState) {
        return Ok((change_lifecycle(state, api_id, action, user).await?, None));
    }
    let (api, action, to) = check_transition(state, api_id, action).await?;
    workflows::refuse_if_pending(state, WorkflowType::ApiState, &api.id).await?;
    let workflow = workflows::request(
        state,
        WorkflowType::ApiState,
        &api.id,
        user,
        &format!(
            "Approve the lifecycle change of API [{} {}] from {} to {} ({})",
            api.name,
            api.version,
            api.life_cycle_status.as_str(),
            to.as_str(),
            action.as_str()
        ),
        &Deferred::ApiState {
            api_id: api.id.clone(),
            action: action.as_str().to_owned(),
            from: api.life_cycle_status.as_str().to_owned(),
            to: to.as_str().to_owned(),
        },
    )
    .await?;
    Ok((api, Some(workflow)))
}

/// Takes back the lifecycle change of `api_id` waiting for approval, if any (WSO2's
/// `DELETE …/lifecycle-state/pending-tasks`): it is closed as rejected, by `by`.
pub async fn withdraw_lifecycle_change(state: &AppState, api_id: &str, by: &str) -> ApiResult<()> {
    let api = load(state, api_id).await?;
    let withdrawn = gantry_store::workflows::withdraw_pending_of_type(
        state.store(),
        WorkflowType::ApiState.as_str(),
        &api.id,
        by,
    )
    .await?;
    tracing::info!(api_id, by, withdrawn, "pending lifecycle change withdrawn");
    Ok(())
}

/// The state of the latest AM_API_STATE request about `api_id` (WSO2's `workflowStatus`
/// of an API's lifecycle): `CREATED` while pending, `APPROVED` or `REJECTED`.
pub async fn lifecycle_workflow_status(
    state: &AppState,
    api_id: &str,
) -> ApiResult<Option<String>> {
    Ok(
        gantry_store::workflows::latest_for(state.store(), WorkflowType::ApiState.as_str(), api_id)
            .await?
            .map(|w| w.status),
    )
}

/// Loads the API and checks that `action` is one and allowed from its state.
async fn check_transition(
    state: &AppState,
    api_id: &str,
    action: &str,
) -> ApiResult<(Api, LifecycleAction, LifecycleState)> {
    let action = parse_action(action)?;
    let api = load(state, api_id).await?;
    let to = transition(api.life_cycle_status, action)?;
    Ok((api, action, to))
}

/// The state `action` leads to from `from`; 409 naming the allowed actions when it is not
/// allowed (APIs and API products share the state machine).
pub(crate) fn transition(
    from: LifecycleState,
    action: LifecycleAction,
) -> ApiResult<LifecycleState> {
    let Some(to) = from.apply(action) else {
        let allowed: Vec<&str> = from.allowed_actions().iter().map(|a| a.as_str()).collect();
        return Err(ApiError::Conflict(format!(
            "Action '{}' is not allowed in state {}; allowed actions: [{}]",
            action.as_str(),
            from.as_str(),
            allowed.join(", ")
        )));
    };
    Ok(to)
}

/// Parses a WSO2 lifecycle action name; 400 listing the names otherwise.
pub(crate) fn parse_action(action: &str) -> ApiResult<LifecycleAction> {
    LifecycleAction::parse(action).ok_or_else(|| {
        let names: Vec<&str> = LifecycleAction::ALL.iter().map(|a| a.as_str()).collect();
        ApiError::BadRequest(format!(
            "action: '{action}' is not a lifecycle action; use one of: {}",
            names.join(", ")
        ))
    })
}

/// Applies a lifecycle action now: the demo seed, and an approved AM_API_STATE request
/// (the REST handler and the Publisher portal go through [`request_lifecycle_change`]).
pub async fn change_lifecycle(
    state: &AppState,
    api_id: &str,
    action: &str,
    user: &str,
) -> ApiResult<Api> {
    let (mut api, _, to) = check_transition(state, api_id, action).await?;
    let from = api.life_cycle_status;
    api.last_updated_time = rfc3339(now_ms());
    apis::change_lifecycle(state.store(), &mut api, to, user).await?;
    tracing::info!(api_id = %api.id, from = from.as_str(), to = to.as_str(), "lifecycle changed");
    state.sync_environments().await?;
    Ok(api)
}

/// Deletes an API with its revisions, deployments and subscriptions; gateways drop it.
pub async fn delete(state: &AppState, api_id: &str, by: &str) -> ApiResult<Api> {
    let api = load(state, api_id).await?;
    crate::service::api_products::refuse_if_included(state, &api).await?;
    apis::delete(state.store(), &api.id).await?;
    gantry_store::workflows::withdraw_pending_for(state.store(), &api.id, by).await?;
    tracing::info!(api_id, by, "API deleted");
    state.sync_environments().await?;
    Ok(api)
}

/// Whether the developer portal lists `api` (and takes subscriptions to it at all):
/// published at some point and not retired.
pub fn listed_in_devportal(api: &Api) -> bool {
    !matches!(
        api.life_cycle_status,
        LifecycleState::Created | LifecycleState::Retired
    )
}

/// Whether the developer portal shows `api` to a caller with `roles` (`None`: not signed
/// in): listed (see [`listed_in_devportal`]), and `PUBLIC`, or `PRIVATE` to any signed-in
/// user, or `RESTRICTED` to users holding one of its `visibleRoles` (admins see all), as
/// in WSO2.
pub fn visible_in_devportal(api: &Api, roles: Option<&[String]>) -> bool {
    listed_in_devportal(api) && visible_to(&api.visibility, &api.details, roles)
}

/// Whether a caller with `roles` (`None`: not signed in) sees what has this `visibility`
/// and these `details` (an API or an API product) in the developer portal.
pub fn visible_to(
    visibility: &str,
    details: &gantry_model::ApiDetails,
    roles: Option<&[String]>,
) -> bool {
    match roles {
        None => visibility == "PUBLIC",
        Some(roles) => roles.iter().any(|r| r == "admin") || details.visible_to(visibility, roles),
    }
}
