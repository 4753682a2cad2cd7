//! The Admin portal: gateway environments with their connected gateways and applied
//! versions, throttling policies (managed in [`super::throttling`]), key managers
//! ([`super::key_managers`]), users and their roles, and the signing-key rotation the Admin
//! REST API offers. Admin role only.

use askama::Template;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use gantry_keys::Trigger;
use gantry_store::policies::{self, PolicyLevel};
use gantry_store::{StoreError, environments, gateways, users};

use super::auth::{SUBSCRIBER_ROLE, hash_password, password_problem, username_problem};
use super::listing::ListQuery;
use super::session::{Portal, SignedIn, User, UserForm};
use super::{Nav, Pager, PortalError, paginate, render, render_status, see_other, when};
use crate::AppState;
use crate::keyring::KeyRing;

/// The roles the portal assigns, in the order shown.
pub const ROLES: [(&str, &str); 4] = [
    ("admin", "Administrator: everything"),
    ("Internal/creator", "Creates and edits APIs"),
    ("Internal/publisher", "Publishes and deploys APIs"),
    (SUBSCRIBER_ROLE, "Subscribes applications to APIs"),
];

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/admin", get(overview))
        .route("/admin/keys/rotate", post(rotate_keys))
        .route("/admin/users", get(users_page).post(create_user))
        .route("/admin/users/roles", post(set_roles))
        .merge(super::throttling::router())
        .merge(super::key_managers::router())
        .merge(super::workflows::router())
        .merge(super::deny_policies::router())
}

struct GatewayRow {
    node: String,
    live: bool,
    applied: i64,
    in_sync: bool,
    last_seen: String,
    rejected: Option<String>,
}

struct EnvironmentRow {
    name: String,
    display_name: String,
    vhosts: String,
    version: i64,
    gateways: Vec<GatewayRow>,
}

struct PolicyRow {
    level: &'static str,
    name: String,
    description: String,
    limit: String,
}

struct KeyRow {
    kid: String,
    algorithm: String,
    state: String,
    created: String,
    active: bool,
}

#[derive(Template)]
#[template(path = "portal/admin_home.html")]
struct OverviewPage {
    nav: Nav,
    environments: Vec<EnvironmentRow>,
    policies: Vec<PolicyRow>,
    keys: Vec<KeyRow>,
}

/// A request-count limit in words (`Unlimited`, `10 requests per 2 mins`).
pub(super) fn limit_text(count: i64, unit_time: i64, time_unit: &str) -> String {
    if count < 0 {
        return "Unlimited".into();
    }
    let unit = time_unit.trim_end_matches('s');
    if unit_time == 1 {
        format!("{count} requests per {unit}")
    } else {
        format!("{count} requests per {unit_time} {unit}s")
    }
}

async fn overview(
    State(state): State<AppState>,
    User(user): User,
) -> Result<Response, PortalError> {
    user.require(Portal::Admin)?;
    let now = gantry_store::now_ms();
    let mut envs = Vec::new();
    for env in environments::list(state.store()).await? {
        let nodes = gateways::nodes_of(state.store(), &env.name).await?;
        envs.push(EnvironmentRow {
            gateways: nodes
                .iter()
                .map(|n| GatewayRow {
                    node: n.node_id.clone(),
                    live: n.connected == 1 && now - n.last_seen < crate::admin::LIVE_WITHIN_MS,
                    applied: n.applied_version,
                    in_sync: n.applied_version >= env.config_version,
                    last_seen: when(n.last_seen),
                    rejected: n.last_nack_version.map(|v| {
                        format!(
                            "rejected version {v}: {}",
                            n.last_nack_reason.clone().unwrap_or_default()
                        )
                    }),
                })
                .collect(),
            name: env.name,
            display_name: env.display_name,
            vhosts: env.vhosts.join(", "),
            version: env.config_version,
        });
    }
    let mut policy_rows = Vec::new();
    for (level, name) in [
        (PolicyLevel::Subscription, "Subscription"),
        (PolicyLevel::Application, "Application"),
        (PolicyLevel::Api, "API"),
    ] {
        for p in policies::list(state.store(), level).await? {
            policy_rows.push(PolicyRow {
                level: name,
                limit: limit_text(p.request_count, p.unit_time, &p.time_unit),
                name: p.name,
                description: p.description,
            });
        }
    }
    let active = state.issuer().keys().active().kid().to_owned();
    let keys = KeyRing::list(state.store())
        .await
        .map_err(|e| PortalError::Internal(e.to_string()))?
        .into_iter()
        .map(|k| KeyRow {
            active: k.kid == active,
            kid: k.kid,
            algorithm: k.algorithm,
            state: k.state,
            created: when(k.created_at),
        })
        .collect();
    render(&OverviewPage {
        nav: Nav::new(Portal::Admin, &user),
        environments: envs,
        policies: policy_rows,
        keys,
    })
}

async fn rotate_keys(
    State(state): State<AppState>,
    UserForm { user, .. }: UserForm<super::auth::Empty>,
) -> Result<Response, PortalError> {
    user.require(Portal::Admin)?;
    state
        .key_ring()
        .rotate(&state, Trigger::Manual)
        .await
        .map_err(|e| PortalError::Internal(e.to_string()))?;
    tracing::info!(by = %user.username, "signing keys rotated by an administrator");
    see_other(
        &user,
        "/admin",
        "Signing keys rotated: the next key is active; the old one stays published until its tokens expire.",
    ).await
}

struct UserRow {
    id: String,
    username: String,
    created: String,
    roles: Vec<(String, bool)>,
    other_roles: String,
    is_self: bool,
}

#[derive(Template)]
#[template(path = "portal/admin_users.html")]
struct UsersPage {
    nav: Nav,
    users: Vec<UserRow>,
    pager: Pager,
    roles: Vec<(String, String)>,
    username: String,
    checked: Vec<String>,
    username_error: Option<String>,
    password_error: Option<String>,
    roles_error: Option<String>,
}

impl UsersPage {
    fn role_checked(&self, role: &str) -> bool {
        self.checked.iter().any(|r| r == role)
    }
}

async fn users_view(
    state: &AppState,
    user: &SignedIn,
    page: Option<i64>,
    notice: Option<String>,
) -> Result<UsersPage, PortalError> {
    let (_, total) = users::list(state.store(), None, 0, 1).await?;
    let pager = paginate("/admin/users", "", page, total);
    let (list, _) = users::list(state.store(), None, pager.offset(), super::PAGE_SIZE).await?;
    Ok(UsersPage {
        nav: Nav::new(Portal::Admin, user).with_notice(notice),
        users: list
            .iter()
            .map(|u| UserRow {
                id: u.id.clone(),
                username: u.username.clone(),
                created: when(u.created_at),
                roles: ROLES
                    .iter()
                    .map(|(r, _)| ((*r).to_owned(), u.role_list().any(|x| x == *r)))
                    .collect(),
                other_roles: u
                    .role_list()
                    .filter(|r| !ROLES.iter().any(|(known, _)| known == r))
                    .collect::<Vec<_>>()
                    .join(" "),
                is_self: u.username == user.username,
            })
            .collect(),
        pager,
        roles: ROLES
            .iter()
            .map(|(r, d)| ((*r).to_owned(), (*d).to_owned()))
            .collect(),
        username: String::new(),
        checked: vec![SUBSCRIBER_ROLE.to_owned()],
        username_error: None,
        password_error: None,
        roles_error: None,
    })
}

async fn users_page(
    State(state): State<AppState>,
    User(user): User,
    Query(query): Query<ListQuery>,
) -> Result<Response, PortalError> {
    user.require(Portal::Admin)?;
    render(&users_view(&state, &user, query.page, None).await?)
}

/// The known roles ticked in a form (`role` fields), in the canonical order.
fn ticked_roles(form: &[(String, String)]) -> Vec<&'static str> {
    ROLES
        .iter()
        .map(|(r, _)| *r)
        .filter(|r| form.iter().any(|(k, v)| k == "role" && v == r))
        .collect()
}

async fn create_user(
    State(state): State<AppState>,
    UserForm { user, form }: UserForm<Vec<(String, String)>>,
) -> Result<Response, PortalError> {
    user.require(Portal::Admin)?;
    let value = |name: &str| {
        form.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let username = value("username").trim().to_owned();
    let password = value("password");
    let roles = ticked_roles(&form);
    let mut username_error = username_problem(&username).map(str::to_owned);
    let password_error = password_problem(&password).map(str::to_owned);
    let roles_error = roles
        .is_empty()
        .then(|| "Give the user at least one role.".to_owned());
    if username_error.is_none() && password_error.is_none() && roles_error.is_none() {
        let hash = hash_password(&password).await?;
        match users::create(state.store(), &username, &hash, &roles).await {
            Ok(_) => {
                tracing::info!(%username, by = %user.username, roles = %roles.join(" "), "user created");
                return see_other(&user, "/admin/users", &format!("User {username} created."))
                    .await;
            }
            Err(StoreError::Conflict(_)) => {
                username_error = Some("This username is taken.".into());
            }
            Err(e) => return Err(e.into()),
        }
    }
    let mut page = users_view(&state, &user, None, None).await?;
    page.username = username;
    page.checked = roles.iter().map(|r| (*r).to_owned()).collect();
    page.username_error = username_error;
    page.password_error = password_error;
    page.roles_error = roles_error;
    render_status(StatusCode::BAD_REQUEST, &page)
}

async fn set_roles(
    State(state): State<AppState>,
    UserForm { user, form }: UserForm<Vec<(String, String)>>,
) -> Result<Response, PortalError> {
    user.require(Portal::Admin)?;
    let username = form
        .iter()
        .find(|(k, _)| k == "username")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    let roles = ticked_roles(&form);
    if username == user.username && !roles.contains(&gantry_keys::scopes::ADMIN_ROLE) {
        return Err(PortalError::BadRequest(
            "You cannot take the admin role from yourself; ask another administrator.".into(),
        ));
    }
    let Some(target) = users::find_by_username(state.store(), &username).await? else {
        return Err(PortalError::NotFound(format!("No user '{username}'.")));
    };
    // Roles this page does not show (e.g. Internal/analytics) are kept as they are.
    let mut roles = roles;
    roles.extend(
        target
            .role_list()
            .filter(|r| !ROLES.iter().any(|(known, _)| known == r)),
    );
    users::set_roles(state.store(), &username, &roles).await?;
    // Cached Basic credentials carry roles: forget them so REST calls see the change now.
    state.credential_cache().clear();
    tracing::info!(%username, by = %user.username, roles = %roles.join(" "), "roles changed");
    see_other(
        &user,
        "/admin/users",
        &format!("Roles of {username} saved."),
    )
    .await
}
