//! The Publisher portal: list and search APIs, and on an API's page see operations, tiers,
//! endpoints and CORS, change its lifecycle, cut revisions and deploy them to gateway
//! environments (with how many gateways applied each). The create form is `api_form.rs`,
//! the edit form `api_edit.rs`.
//! Every change goes through the same domain operations as the Publisher REST API
//! (`service::apis`, `service::revisions`), so gateways are re-synced the same way.

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::routing::{get, post};
use gantry_model::{Api, LifecycleAction};
use gantry_store::apis as store_apis;
use gantry_store::environments;
use serde::Deserialize;

use super::listing::{ApiRow, ListQuery, search};
use super::session::{Portal, User, UserForm};
use super::{Nav, Pager, PortalError, render, see_other, when};
use crate::AppState;
use crate::error::ApiError;
use crate::service;
use crate::service::revisions::DeploymentTarget;
use crate::service::workflows::WorkflowType;

/// WSO2's scopes for the publisher's actions (roles map to them in `gantry_keys::scopes`).
pub(super) const CREATE: &str = "apim:api_create";
const DELETE: &str = "apim:api_delete";
const PUBLISH: &str = "apim:api_publish";

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/publisher", get(list))
        .route("/publisher/apis/new", get(super::api_form::new_page))
        .route("/publisher/apis", post(super::api_form::create))
        .route("/publisher/apis/{api_id}", get(api_page))
        .route(
            "/publisher/apis/{api_id}/edit",
            get(super::api_edit::edit_page).post(super::api_edit::save),
        )
        .route(
            "/publisher/apis/{api_id}/policies",
            get(super::api_policies::policies_page).post(super::api_policies::change_policies),
        )
        .route("/publisher/apis/{api_id}/lifecycle", post(lifecycle))
        .route("/publisher/apis/{api_id}/revisions", post(create_revision))
        .route("/publisher/apis/{api_id}/deploy", post(deploy))
        .route("/publisher/apis/{api_id}/preview", post(preview))
        .route("/publisher/apis/{api_id}/undeploy", post(undeploy))
        .route("/publisher/apis/{api_id}/delete", post(delete))
}

#[derive(Template)]
#[template(path = "portal/publisher_list.html")]
struct ListPage {
    nav: Nav,
    can_create: bool,
    query: String,
    apis: Vec<ApiRow>,
    pager: Pager,
}

async fn list(
    State(state): State<AppState>,
    User(user): User,
    Query(query): Query<ListQuery>,
) -> Result<Response, PortalError> {
    user.require(Portal::Publisher)?;
    let text = query.q.unwrap_or_default().trim().to_owned();
    let (apis, pager) = search(&state, "/publisher", &text, query.page, |api| {
        super::access::may_see(api, &user)
    })
    .await?;
    render(&ListPage {
        can_create: user.has_scope(CREATE),
        nav: Nav::new(Portal::Publisher, &user),
        query: text,
        apis: apis.iter().map(ApiRow::of).collect(),
        pager,
    })
}

/// One deployment of a revision, with its gateways' progress.
struct DeploymentRow {
    revision_id: String,
    revision: String,
    environment: String,
    vhost: String,
    deployed: String,
    live: usize,
    applied: usize,
    failed: usize,
}

struct RevisionRow {
    id: String,
    number: i64,
    description: String,
    created: String,
    /// Environments it is not deployed to (deploy targets).
    undeployed_in: Vec<String>,
}

struct OperationRow {
    verb: String,
    target: String,
    auth: String,
    policy: String,
    scopes: String,
}

#[derive(Template)]
#[template(path = "portal/publisher_api.html")]
struct ApiPage {
    nav: Nav,
    can_publish: bool,
    can_delete: bool,
    can_edit: bool,
    api: ApiRow,
    default_version: bool,
    operations: Vec<OperationRow>,
    tiers: Vec<String>,
    production: Vec<String>,
    sandbox: Vec<String>,
    cors: String,
    actions: Vec<(String, String, bool)>,
    /// (when, from, to, by), newest first.
    history: Vec<(String, String, String, String)>,
    revisions: Vec<RevisionRow>,
    deployments: Vec<DeploymentRow>,
    gateway_url: String,
    /// Lifecycle changes and deployments of this API waiting for an administrator's approval.
    pending: Vec<String>,
}

fn cors_summary(api: &Api) -> String {
    let c = &api.cors_configuration;
    if !c.cors_configuration_enabled {
        return "Off: browsers on other origins cannot call this API.".into();
    }
    format!(
        "On. Origins: {}; methods: {}; headers: {}; credentials: {}.",
        join_or(&c.access_control_allow_origins, "none"),
        join_or(&c.access_control_allow_methods, "none"),
        join_or(&c.access_control_allow_headers, "none"),
        if c.access_control_allow_credentials {
            "allowed"
        } else {
            "not allowed"
        }
    )
}

fn join_or(list: &[String], empty: &str) -> String {
    if list.is_empty() {
        empty.to_owned()
    } else {
        list.join(", ")
    }
}

async fn api_page(
    State(state): State<AppState>,
    User(user): User,
    Path(api_id): Path<String>,
) -> Result<Response, PortalError> {
    user.require(Portal::Publisher)?;
    let api = service::apis::load(&state, &api_id).await?;
    let revisions = store_apis::list_revisions(state.store(), &api.id).await?;
    let deployments = store_apis::list_deployments(state.store(), &api.id).await?;
    let envs: Vec<String> = environments::list(state.store())
        .await?
        .into_iter()
        .map(|e| e.name)
        .collect();
    let mut deployment_rows = Vec::with_capacity(deployments.len());
    for d in &deployments {
        let progress =
            service::revisions::gateway_progress(&state, &d.environment, d.config_version).await?;
        let number = revisions
            .iter()
            .find(|r| r.id == d.revision_id)
            .map_or(0, |r| r.number);
        deployment_rows.push(DeploymentRow {
            revision_id: d.revision_id.clone(),
            revision: format!("Revision {number}"),
            environment: d.environment.clone(),
            vhost: d.vhost.clone(),
            deployed: when(d.deployed_at),
            live: progress.live,
            applied: progress.applied,
            failed: progress.failed,
        });
    }
    let revision_rows = revisions
        .iter()
        .map(|r| RevisionRow {
            id: r.id.clone(),
            number: r.number,
            description: r.description.clone(),
            created: when(r.created_at),
            undeployed_in: envs
                .iter()
                .filter(|e| {
                    !deployments
                        .iter()
                        .any(|d| d.revision_id == r.id && &d.environment == *e)
                })
                .cloned()
                .collect(),
        })
        .collect();
    let state_now = api.life_cycle_status;
    let mut history: Vec<(String, String, String, String)> =
        store_apis::lifecycle_history(state.store(), &api.id)
            .await?
            .into_iter()
            .map(|e| {
                (
                    when(e.created_at),
                    e.previous_state.unwrap_or_default(),
                    e.post_state,
                    e.username,
                )
            })
            .collect();
    history.reverse();
    let actions = state_now
        .allowed_actions()
        .into_iter()
        .filter_map(|a| {
            state_now.apply(a).map(|to| {
                let destructive = matches!(
                    a,
                    LifecycleAction::Block
                        | LifecycleAction::Deprecate
                        | LifecycleAction::Retire
                        | LifecycleAction::DemoteToCreated
                );
                (a.as_str().to_owned(), to.as_str().to_owned(), destructive)
            })
        })
        .collect();
    let endpoints = |e: &Option<gantry_model::Endpoints>| -> Vec<String> {
        e.as_ref()
            .map(|e| e.as_slice().iter().map(|x| x.url.clone()).collect())
            .unwrap_or_default()
    };
    let mut pending = Vec::new();
    for workflow_type in [WorkflowType::ApiState, WorkflowType::RevisionDeployment] {
        for w in
            gantry_store::workflows::pending_for(state.store(), workflow_type.as_str(), &api.id)
                .await?
        {
            pending.push(format!(
                "{} (asked by {}, {})",
                w.description,
                w.requested_by,
                super::when(w.created_at)
            ));
        }
    }
    render(&ApiPage {
        pending,
        can_publish: user.has_scope(PUBLISH),
        can_delete: user.has_scope(DELETE),
        can_edit: user.has_scope(CREATE),
        nav: Nav::new(Portal::Publisher, &user),
        default_version: api.is_default_version,
        operations: api
            .operations
            .iter()
            .map(|op| OperationRow {
                verb: op.verb.as_str().to_owned(),
                target: op.target.as_str().to_owned(),
                auth: match op.auth_type {
                    gantry_model::AuthType::None => "None".into(),
                    _ => "OAuth2 / API key".into(),
                },
                policy: op.throttling_policy.clone(),
                scopes: op.scopes.join(" "),
            })
            .collect(),
        tiers: api.policies.clone(),
        production: endpoints(&api.endpoint_config.production_endpoints),
        sandbox: endpoints(&api.endpoint_config.sandbox_endpoints),
        cors: cors_summary(&api),
        actions,
        history,
        revisions: revision_rows,
        deployments: deployment_rows,
        gateway_url: match (state.gateway_base_url(), deployments.first()) {
            (Some(gateway), Some(d)) => super::try_it::public_base(gateway, &d.vhost),
            _ => String::new(),
        },
        api: ApiRow::of(&api),
    })
}

#[derive(Debug, Deserialize)]
pub(super) struct LifecycleForm {
    #[serde(default)]
    action: String,
}

async fn lifecycle(
    State(state): State<AppState>,
    Path(api_id): Path<String>,
    UserForm { user, form }: UserForm<LifecycleForm>,
) -> Result<Response, PortalError> {
    user.require(Portal::Publisher)?;
    user.require_scope(PUBLISH, "Changing the lifecycle")?;
    let (api, pending) =
        service::apis::request_lifecycle_change(&state, &api_id, &form.action, &user.username)
            .await?;
    let notice = match pending {
        None => format!(
            "Lifecycle: the API is now {}.",
            api.life_cycle_status.as_str()
        ),
        Some(_) => format!(
            "Lifecycle: '{}' waits for an administrator's approval; the API stays {} until then.",
            form.action,
            api.life_cycle_status.as_str()
        ),
    };
    see_other(&user, &format!("/publisher/apis/{}", api.id), &notice).await
}

#[derive(Debug, Deserialize)]
pub(super) struct RevisionForm {
    #[serde(default)]
    description: String,
}

async fn create_revision(
    State(state): State<AppState>,
    Path(api_id): Path<String>,
    UserForm { user, form }: UserForm<RevisionForm>,
) -> Result<Response, PortalError> {
    user.require(Portal::Publisher)?;
    let revision =
        service::revisions::create_revision(&state, &api_id, form.description.trim()).await?;
    see_other(
        &user,
        &format!("/publisher/apis/{api_id}"),
        &format!(
            "Revision {} created; deploy it to an environment.",
            revision.number
        ),
    )
    .await
}

#[derive(Debug, Deserialize)]
pub(super) struct DeployForm {
    #[serde(default)]
    revision_id: String,
    #[serde(default)]
    environment: String,
}

async fn deploy(
    State(state): State<AppState>,
    Path(api_id): Path<String>,
    UserForm { user, form }: UserForm<DeployForm>,
) -> Result<Response, PortalError> {
    user.require(Portal::Publisher)?;
    let target = DeploymentTarget::environment(&form.environment);
    let notice = match service::revisions::request_deployment(
        &state,
        &api_id,
        &form.revision_id,
        &[target],
        &user.username,
    )
    .await?
    {
        service::workflows::Requested::Done(_) => format!("Deployed to {}.", form.environment),
        service::workflows::Requested::Pending(_) => format!(
            "The deployment to {} waits for an administrator's approval.",
            form.environment
        ),
    };
    see_other(&user, &format!("/publisher/apis/{api_id}"), &notice).await
}

/// One route of a deployment preview, as the page shows it.
struct PreviewRow {
    method: String,
    path: String,
    guard: String,
    endpoint: String,
}

impl PreviewRow {
    fn of(route: &crate::preview::PreviewRoute) -> Self {
        let mut guard = route.auth_type.clone();
        if !route.scopes.is_empty() {
            guard.push_str(&format!(", scopes {}", route.scopes.join(" ")));
        }
        if !route.throttling_policy.is_empty() {
            guard.push_str(&format!(", tier {}", route.throttling_policy));
        }
        Self {
            method: route.method.clone(),
            path: route.path.clone(),
            guard,
            endpoint: route.production_endpoint.clone(),
        }
    }
}

#[derive(Template)]
#[template(path = "portal/publisher_preview.html")]
struct PreviewPage {
    nav: Nav,
    api_id: String,
    api_name: String,
    revision_id: String,
    revision_number: i64,
    environment: String,
    applies: bool,
    problems: Vec<String>,
    added: Vec<PreviewRow>,
    removed: Vec<PreviewRow>,
    /// (before, after)
    changed: Vec<(PreviewRow, PreviewRow)>,
    unchanged: u64,
}

/// What deploying a revision to an environment would change on its gateways, before it is
/// deployed (the REST `deployment-preview`, computed by the gateways' own compiler), with
/// the deploy button under it.
async fn preview(
    State(state): State<AppState>,
    Path(api_id): Path<String>,
    UserForm { user, form }: UserForm<DeployForm>,
) -> Result<Response, PortalError> {
    use crate::preview::PreviewRoute;
    user.require(Portal::Publisher)?;
    let api = service::apis::load(&state, &api_id).await?;
    let revision = service::revisions::load_revision(&state, &api_id, &form.revision_id).await?;
    let candidate = crate::preview::Candidate {
        api_id: &api.id,
        revision_id: &revision.id,
        definition: revision.definition,
        lifecycle: api.life_cycle_status,
        is_default_version: api.is_default_version,
    };
    let answer = crate::preview::preview(&state, candidate, &form.environment, None).await?;
    let routes = |key: &str| -> Vec<PreviewRoute> {
        serde_json::from_value(answer["routes"][key].clone()).unwrap_or_default()
    };
    let changed: Vec<(PreviewRoute, PreviewRoute)> = answer["routes"]["changed"]
        .as_array()
        .map(|pairs| {
            pairs
                .iter()
                .filter_map(|pair| {
                    Some((
                        serde_json::from_value(pair["before"].clone()).ok()?,
                        serde_json::from_value(pair["after"].clone()).ok()?,
                    ))
                })
                .collect()
        })
        .unwrap_or_default();
    render(&PreviewPage {
        nav: Nav::new(Portal::Publisher, &user),
        api_name: format!("{} {}", api.name, api.version),
        api_id: api.id,
        revision_id: revision.id,
        revision_number: revision.number,
        environment: form.environment,
        applies: answer["applies"].as_bool().unwrap_or(false),
        problems: serde_json::from_value(answer["problems"].clone()).unwrap_or_default(),
        added: routes("added").iter().map(PreviewRow::of).collect(),
        removed: routes("removed").iter().map(PreviewRow::of).collect(),
        changed: changed
            .iter()
            .map(|(before, after)| (PreviewRow::of(before), PreviewRow::of(after)))
            .collect(),
        unchanged: answer["routes"]["unchanged"].as_u64().unwrap_or(0),
    })
}

async fn undeploy(
    State(state): State<AppState>,
    Path(api_id): Path<String>,
    UserForm { user, form }: UserForm<DeployForm>,
) -> Result<Response, PortalError> {
    user.require(Portal::Publisher)?;
    let target = DeploymentTarget::environment(&form.environment);
    service::revisions::undeploy(&state, &api_id, &form.revision_id, &[target])
        .await
        .map_err(|e| match e {
            // The one refusal of an undeploy: worded for the page.
            ApiError::BadRequest(_) => PortalError::BadRequest(format!(
                "That revision is not deployed to '{}'.",
                form.environment
            )),
            other => other.into(),
        })?;
    see_other(
        &user,
        &format!("/publisher/apis/{api_id}"),
        &format!("Undeployed from {}.", form.environment),
    )
    .await
}

async fn delete(
    State(state): State<AppState>,
    Path(api_id): Path<String>,
    UserForm { user, .. }: UserForm<super::auth::Empty>,
) -> Result<Response, PortalError> {
    user.require(Portal::Publisher)?;
    user.require_scope(DELETE, "Deleting an API")?;
    let api = service::apis::delete(&state, &api_id, &user.username).await?;
    see_other(
        &user,
        "/publisher",
        &format!("API {} deleted.", api.name.as_str()),
    )
    .await
}
