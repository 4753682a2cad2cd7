//! The Publisher portal: list and search APIs, create one from a form, and on its page see
//! operations, tiers, endpoints and CORS, change its lifecycle, cut revisions and deploy
//! them to gateway environments (with how many gateways applied each). Every change goes
//! through the same functions as the Publisher REST API (`publisher::apis`,
//! `publisher::revisions`), so gateways are re-synced the same way.

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use gantry_model::{Api, LifecycleAction};
use gantry_store::apis as store_apis;
use gantry_store::policies::{self, PolicyLevel};
use gantry_store::{environments, gateways};
use serde::Deserialize;
use serde_json::{Value, json};

use super::session::{Portal, User, UserForm};
use super::{
    Nav, Pager, PortalError, field_error, paginate, render, render_status, see_other, when,
};
use crate::AppState;
use crate::publisher::{apis, revisions};

/// WSO2's scopes for the publisher's actions (roles map to them in `gantry_keys::scopes`).
const CREATE: &str = "apim:api_create";
const DELETE: &str = "apim:api_delete";
const PUBLISH: &str = "apim:api_publish";

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/publisher", get(list))
        .route("/publisher/apis/new", get(new_page))
        .route("/publisher/apis", post(create))
        .route("/publisher/apis/{api_id}", get(api_page))
        .route("/publisher/apis/{api_id}/lifecycle", post(lifecycle))
        .route("/publisher/apis/{api_id}/revisions", post(create_revision))
        .route("/publisher/apis/{api_id}/deploy", post(deploy))
        .route("/publisher/apis/{api_id}/undeploy", post(undeploy))
        .route("/publisher/apis/{api_id}/delete", post(delete))
}

/// `?q=…&page=…` of list pages.
#[derive(Debug, Deserialize, Default)]
pub(super) struct ListQuery {
    pub q: Option<String>,
    pub page: Option<i64>,
}

/// One API in a list.
pub(super) struct ApiRow {
    pub id: String,
    pub initial: String,
    pub name: String,
    pub version: String,
    pub context: String,
    pub state: String,
    pub description: String,
    pub tags: Vec<String>,
    pub provider: String,
}

impl ApiRow {
    pub fn of(api: &Api) -> Self {
        Self {
            id: api.id.clone(),
            initial: api
                .name
                .as_str()
                .chars()
                .next()
                .map(|c| c.to_uppercase().collect())
                .unwrap_or_default(),
            name: api.name.as_str().to_owned(),
            version: api.version.as_str().to_owned(),
            context: api.context.as_str().to_owned(),
            state: api.life_cycle_status.as_str().to_owned(),
            description: api.description.clone().unwrap_or_default(),
            tags: api.tags.clone(),
            provider: api.provider.clone(),
        }
    }
}

/// Whether `api` matches the search text (name, context, description, tags; any case).
pub(super) fn matches_query(api: &Api, query: &str) -> bool {
    let q = query.to_lowercase();
    [
        api.name.as_str(),
        api.context.as_str(),
        api.version.as_str(),
        api.description.as_deref().unwrap_or_default(),
    ]
    .iter()
    .any(|field| field.to_lowercase().contains(&q))
        || api.tags.iter().any(|t| t.to_lowercase().contains(&q))
}

/// Every API the store holds that `keep` accepts, filtered by `query`, and the page asked
/// for. Search reads all APIs and filters here: fine for the thousands a control plane
/// holds; a store-side search comes when lists grow past that.
pub(super) async fn search(
    state: &AppState,
    base: &str,
    query: &str,
    page: Option<i64>,
    keep: impl Fn(&Api) -> bool,
) -> Result<(Vec<Api>, Pager), PortalError> {
    let (all, _) = store_apis::list(state.store(), 0, i64::from(u32::MAX)).await?;
    let found: Vec<Api> = all
        .into_iter()
        .filter(|a| keep(a) && (query.is_empty() || matches_query(a, query)))
        .collect();
    let pager = paginate(base, query, page, i64::try_from(found.len()).unwrap_or(0));
    let start = usize::try_from(pager.offset()).unwrap_or(0);
    let items = found
        .into_iter()
        .skip(start)
        .take(usize::try_from(super::PAGE_SIZE).unwrap_or(20))
        .collect();
    Ok((items, pager))
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
    let (apis, pager) = search(&state, "/publisher", &text, query.page, |_| true).await?;
    render(&ListPage {
        can_create: user.has_scope(CREATE),
        nav: Nav::new(Portal::Publisher, &user),
        query: text,
        apis: apis.iter().map(ApiRow::of).collect(),
        pager,
    })
}

/// The create form's values and errors.
#[derive(Debug, Default)]
struct NewApi {
    name: String,
    context: String,
    version: String,
    endpoint: String,
    description: String,
    tags: String,
    operations: String,
    openapi: String,
    tiers: Vec<String>,
}

#[derive(Template)]
#[template(path = "portal/publisher_new.html")]
struct NewPage {
    nav: Nav,
    form: NewApi,
    tiers: Vec<(String, String)>,
    errors: Vec<(String, String)>,
    general_error: Option<String>,
}

impl NewPage {
    /// The error for `field`, if any (for the template).
    fn error(&self, field: &str) -> Option<&str> {
        self.errors
            .iter()
            .find(|(f, _)| f == field)
            .map(|(_, e)| e.as_str())
    }

    fn tier_checked(&self, tier: &str) -> bool {
        self.form.tiers.iter().any(|t| t == tier)
    }
}

async fn subscription_tiers(state: &AppState) -> Result<Vec<(String, String)>, PortalError> {
    Ok(policies::list(state.store(), PolicyLevel::Subscription)
        .await?
        .into_iter()
        .map(|p| (p.name, p.description))
        .collect())
}

async fn new_page(
    State(state): State<AppState>,
    User(user): User,
) -> Result<Response, PortalError> {
    user.require(Portal::Publisher)?;
    user.require_scope(CREATE, "Creating an API")?;
    render(&NewPage {
        nav: Nav::new(Portal::Publisher, &user),
        form: NewApi {
            tiers: vec!["Unlimited".into()],
            ..NewApi::default()
        },
        tiers: subscription_tiers(&state).await?,
        errors: Vec::new(),
        general_error: None,
    })
}

/// `GET /pets/{id}` lines (`… open` for no token) into WSO2 operations; the line number of
/// a bad one.
fn parse_operations(text: &str) -> Result<Vec<Value>, String> {
    let mut ops = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let words: Vec<&str> = line.split_whitespace().collect();
        let (verb, target, open) = match words.as_slice() {
            [] => continue,
            [verb, target] => (verb, target, false),
            [verb, target, flag] if flag.eq_ignore_ascii_case("open") => (verb, target, true),
            _ => {
                return Err(format!(
                    "line {}: write a method and a path, e.g. GET /pets/{{id}} (add 'open' for no token)",
                    i + 1
                ));
            }
        };
        let mut op = json!({"verb": verb.to_ascii_uppercase(), "target": target});
        if open {
            op["authType"] = json!("None");
        }
        ops.push(op);
    }
    Ok(ops)
}

/// Fills the form's empty fields from a pasted OpenAPI document.
fn fill_from_openapi(input: &mut NewApi) -> Result<(), String> {
    let imported = super::openapi::import(&input.openapi)?;
    let fill = |field: &mut String, value: String| {
        if field.is_empty() {
            *field = value;
        }
    };
    fill(&mut input.name, imported.name);
    fill(&mut input.version, imported.version);
    fill(&mut input.description, imported.description);
    fill(&mut input.endpoint, imported.endpoint);
    fill(&mut input.context, imported.context);
    fill(&mut input.tags, imported.tags.join(", "));
    fill(&mut input.operations, imported.operations.join("\n"));
    Ok(())
}

/// The form field a REST validation message is about.
fn form_field(message: &str) -> (Option<String>, String) {
    if message.starts_with("endpointConfig") {
        let reason = message.split_once(": ").map_or(message, |(_, r)| r);
        return (Some("endpoint".into()), reason.to_owned());
    }
    if message.starts_with("operations") {
        return (Some("operations".into()), message.to_owned());
    }
    if message.starts_with("policies") {
        let reason = message.split_once(": ").map_or(message, |(_, r)| r);
        return (Some("tiers".into()), reason.to_owned());
    }
    field_error(
        message,
        &["name", "context", "version", "description", "tags"],
    )
}

async fn create(
    State(state): State<AppState>,
    UserForm { user, form }: UserForm<Vec<(String, String)>>,
) -> Result<Response, PortalError> {
    user.require(Portal::Publisher)?;
    user.require_scope(CREATE, "Creating an API")?;
    let value = |name: &str| {
        form.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim().to_owned())
            .unwrap_or_default()
    };
    let mut input = NewApi {
        openapi: value("openapi"),
        name: value("name"),
        context: value("context"),
        version: value("version"),
        endpoint: value("endpoint"),
        description: value("description"),
        tags: value("tags"),
        operations: value("operations"),
        tiers: form
            .iter()
            .filter(|(k, _)| k == "tier")
            .map(|(_, v)| v.clone())
            .collect(),
    };
    let mut errors: Vec<(String, String)> = Vec::new();
    if !input.openapi.is_empty()
        && let Err(e) = fill_from_openapi(&mut input)
    {
        errors.push(("openapi".into(), e));
    }
    if input.endpoint.is_empty() {
        errors.push((
            "endpoint".into(),
            "Give the URL of the backend, e.g. http://backend:8080".into(),
        ));
    }
    let operations = match parse_operations(&input.operations) {
        Ok(ops) => ops,
        Err(e) => {
            errors.push(("operations".into(), e));
            Vec::new()
        }
    };
    let mut general_error = None;
    if errors.is_empty() {
        let tags: Vec<&str> = input
            .tags
            .split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .collect();
        let body = json!({
            "name": input.name,
            "context": input.context,
            "version": input.version,
            "description": (!input.description.is_empty()).then_some(&input.description),
            "tags": tags,
            "policies": input.tiers,
            "endpointConfig": {"endpoint_type": "http", "production_endpoints": {"url": input.endpoint}},
            "operations": operations,
        });
        let request: apis::ApiRequest = serde_json::from_value(body)
            .map_err(|e| PortalError::BadRequest(format!("The form could not be read: {e}")))?;
        match apis::create_api(&state, request, &user.username).await {
            Ok(api) => {
                return Ok(see_other(
                    &user,
                    &format!("/publisher/apis/{}", api.id),
                    "API created. Publish it, then create a revision and deploy it.",
                ));
            }
            Err(crate::error::ApiError::BadRequest(message))
            | Err(crate::error::ApiError::Conflict(message)) => match form_field(&message) {
                (Some(field), reason) => errors.push((field, reason)),
                (None, reason) => general_error = Some(reason),
            },
            Err(other) => return Err(other.into()),
        }
    }
    let page = NewPage {
        nav: Nav::new(Portal::Publisher, &user),
        form: input,
        tiers: subscription_tiers(&state).await?,
        errors,
        general_error,
    };
    render_status(StatusCode::BAD_REQUEST, &page)
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
    api: ApiRow,
    default_version: bool,
    operations: Vec<OperationRow>,
    tiers: Vec<String>,
    production: Vec<String>,
    sandbox: Vec<String>,
    cors: String,
    actions: Vec<(String, String, bool)>,
    revisions: Vec<RevisionRow>,
    deployments: Vec<DeploymentRow>,
    gateway_url: String,
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

pub(super) fn operation_rows(api: &Api) -> Vec<OperationRowPublic> {
    api.operations
        .iter()
        .map(|op| OperationRowPublic {
            verb: op.verb.as_str().to_owned(),
            target: op.target.as_str().to_owned(),
            secured: !matches!(op.auth_type, gantry_model::AuthType::None),
            scopes: op.scopes.join(" "),
        })
        .collect()
}

/// An operation as the developer portal shows it.
pub(super) struct OperationRowPublic {
    pub verb: String,
    pub target: String,
    pub secured: bool,
    pub scopes: String,
}

/// Gateways of `environment` heard from recently, how many applied `version`, how many
/// rejected it (the same counting as the REST `deployments` resource).
async fn gateway_progress(
    state: &AppState,
    environment: &str,
    version: i64,
) -> Result<(usize, usize, usize), PortalError> {
    let now = gantry_store::now_ms();
    let nodes = gateways::nodes_of(state.store(), environment).await?;
    let live: Vec<_> = nodes
        .iter()
        .filter(|n| n.connected == 1 && now - n.last_seen < crate::admin::LIVE_WITHIN_MS)
        .collect();
    let applied = live.iter().filter(|n| n.applied_version >= version).count();
    let failed = live
        .iter()
        .filter(|n| {
            n.applied_version < version && n.last_nack_version.is_some_and(|v| v >= version)
        })
        .count();
    Ok((live.len(), applied, failed))
}

async fn api_page(
    State(state): State<AppState>,
    User(user): User,
    Path(api_id): Path<String>,
) -> Result<Response, PortalError> {
    user.require(Portal::Publisher)?;
    let api = apis::load(&state, &api_id).await?;
    let revisions = store_apis::list_revisions(state.store(), &api.id).await?;
    let deployments = store_apis::list_deployments(state.store(), &api.id).await?;
    let envs: Vec<String> = environments::list(state.store())
        .await?
        .into_iter()
        .map(|e| e.name)
        .collect();
    let mut deployment_rows = Vec::with_capacity(deployments.len());
    for d in &deployments {
        let (live, applied, failed) =
            gateway_progress(&state, &d.environment, d.config_version).await?;
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
            live,
            applied,
            failed,
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
    render(&ApiPage {
        can_publish: user.has_scope(PUBLISH),
        can_delete: user.has_scope(DELETE),
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
    let api = apis::change_lifecycle(&state, &api_id, &form.action, &user.username).await?;
    Ok(see_other(
        &user,
        &format!("/publisher/apis/{}", api.id),
        &format!(
            "Lifecycle: the API is now {}.",
            api.life_cycle_status.as_str()
        ),
    ))
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
    let revision = revisions::create_revision(&state, &api_id, form.description.trim()).await?;
    Ok(see_other(
        &user,
        &format!("/publisher/apis/{api_id}"),
        &format!(
            "Revision {} created; deploy it to an environment.",
            revision.number
        ),
    ))
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
    let target = revisions::DeploymentTarget {
        name: Some(form.environment.clone()),
        vhost: None,
        display_on_devportal: true,
    };
    revisions::deploy_revision(&state, &api_id, &form.revision_id, &[target]).await?;
    Ok(see_other(
        &user,
        &format!("/publisher/apis/{api_id}"),
        &format!("Deployed to {}.", form.environment),
    ))
}

async fn undeploy(
    State(state): State<AppState>,
    Path(api_id): Path<String>,
    UserForm { user, form }: UserForm<DeployForm>,
) -> Result<Response, PortalError> {
    user.require(Portal::Publisher)?;
    apis::load(&state, &api_id).await?;
    match store_apis::undeploy(state.store(), &api_id, &form.revision_id, &form.environment).await {
        Err(gantry_store::StoreError::NotFound) => {
            return Err(PortalError::BadRequest(format!(
                "That revision is not deployed to '{}'.",
                form.environment
            )));
        }
        other => other?,
    }
    tracing::info!(api_id, revision_id = %form.revision_id, environment = %form.environment, "revision undeployed");
    state.sync_environments().await?;
    Ok(see_other(
        &user,
        &format!("/publisher/apis/{api_id}"),
        &format!("Undeployed from {}.", form.environment),
    ))
}

async fn delete(
    State(state): State<AppState>,
    Path(api_id): Path<String>,
    UserForm { user, .. }: UserForm<super::auth::Empty>,
) -> Result<Response, PortalError> {
    user.require(Portal::Publisher)?;
    user.require_scope(DELETE, "Deleting an API")?;
    let api = apis::load(&state, &api_id).await?;
    store_apis::delete(state.store(), &api.id).await?;
    tracing::info!(api_id, by = %user.username, "API deleted");
    state.sync_environments().await?;
    Ok(see_other(
        &user,
        "/publisher",
        &format!("API {} deleted.", api.name.as_str()),
    ))
}
