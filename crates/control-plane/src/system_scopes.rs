//! The REST API scopes' role map, editable as in WSO2 4.7's Admin API (`/system-scopes`,
//! `/system-scopes/role-aliases`) and read wherever a token or a Basic-authenticated call is
//! given REST scopes (`oauth::grants`, `extract`, the portals' sessions).

use axum::Router;
use axum::extract::{Path, State};
use axum::routing::get;
use gantry_keys::scopes::ScopeRoleMap;
use gantry_store::system_scopes;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::extract::{JsonBody, QueryParams, Scoped};
use crate::rest_scopes;

/// Routes under `/api/am/admin/v4`.
pub(crate) fn admin() -> Router<AppState> {
    Router::new()
        .route("/system-scopes", get(list).put(update))
        .route(
            "/system-scopes/role-aliases",
            get(list_aliases).put(replace_aliases),
        )
        .route("/system-scopes/{scope_name}", get(scope_for_user))
}

/// The map in force: the defaults with the stored changes and aliases.
pub(crate) async fn map(state: &AppState) -> Result<ScopeRoleMap, gantry_store::StoreError> {
    let changed = system_scopes::scope_roles(state.store()).await?;
    let aliases = system_scopes::role_aliases(state.store()).await?;
    Ok(ScopeRoleMap::with_changes(changed, aliases))
}

/// The portal a scope belongs to (WSO2's `tag`).
fn tag(scope: &str) -> &'static str {
    const DEVPORTAL: &[&str] = &[
        "apim:subscribe",
        "apim:app_manage",
        "apim:sub_manage",
        "apim:api_key",
    ];
    const ADMIN: &[&str] = &[
        "apim:admin",
        "apim:admin_operations",
        "apim:environment_manage",
        "apim:environment_read",
        "apim:tier_manage",
        "apim:tier_view",
        "apim:bl_manage",
        "apim:bl_view",
        "apim:api_workflow_approve",
        "apim:api_workflow_view",
        "apim:llm_provider_manage",
        "apim:label_manage",
        "apim:scope_manage",
    ];
    if DEVPORTAL.contains(&scope) {
        "devportal"
    } else if ADMIN.contains(&scope) {
        "admin"
    } else {
        "publisher"
    }
}

/// WSO2 `ScopeList`.
fn scope_list(map: &ScopeRoleMap) -> Value {
    let list: Vec<Value> = map
        .scopes()
        .map(|(name, roles)| json!({"name": name, "tag": tag(name), "roles": roles}))
        .collect();
    json!({"count": list.len(), "list": list})
}

/// WSO2 `RoleAliasList`.
fn alias_list(map: &ScopeRoleMap) -> Value {
    let list: Vec<Value> = map
        .aliases()
        .map(|(role, aliases)| json!({"role": role, "aliases": aliases}))
        .collect();
    json!({"count": list.len(), "list": list})
}

/// `roles` as the roles users can hold, each once; 400 naming `field` for another name.
fn canonical(roles: &[String], field: &str) -> ApiResult<Vec<String>> {
    let mut out = crate::scopes::canonical_bindings(roles, field)?;
    let mut seen = std::collections::BTreeSet::new();
    out.retain(|role| seen.insert(role.clone()));
    Ok(out)
}

/// `GET /system-scopes`: every REST scope and the roles that may have it.
async fn list(
    State(state): State<AppState>,
    _: Scoped<rest_scopes::ScopeManage>,
) -> ApiResult<axum::Json<Value>> {
    Ok(axum::Json(scope_list(&map(&state).await?)))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ScopeEntry {
    name: String,
    #[serde(default)]
    roles: Vec<String>,
}

/// WSO2 `ScopeList` as sent.
#[derive(Deserialize)]
struct ScopeListBody {
    #[serde(default)]
    list: Vec<ScopeEntry>,
}

/// WSO2 `RoleAliasList` as sent.
#[derive(Deserialize)]
struct AliasListBody {
    #[serde(default)]
    list: Vec<AliasEntry>,
}

/// `PUT /system-scopes`: sets the roles of each listed scope (the others keep theirs); the
/// next token and the next Basic-authenticated call follow the new map.
async fn update(
    State(state): State<AppState>,
    Scoped(user, _): Scoped<rest_scopes::ScopeManage>,
    JsonBody(body): JsonBody<ScopeListBody>,
) -> ApiResult<axum::Json<Value>> {
    let known = ScopeRoleMap::default();
    let mut changed = Vec::with_capacity(body.list.len());
    for (i, entry) in body.list.iter().enumerate() {
        if !known.knows(&entry.name) {
            return Err(ApiError::BadRequest(format!(
                "list[{i}].name: '{}' is not a system scope",
                entry.name
            )));
        }
        let roles = canonical(&entry.roles, &format!("list[{i}].roles"))?;
        changed.push((entry.name.clone(), roles));
    }
    system_scopes::set_scope_roles(state.store(), &changed).await?;
    tracing::info!(user = %user.username, scopes = changed.len(), "system scope roles changed");
    Ok(axum::Json(scope_list(&map(&state).await?)))
}

#[derive(Deserialize)]
struct UserQuery {
    username: Option<String>,
}

/// `GET /system-scopes/{scopeName}?username=`: the (Base64-encoded) scope when it exists
/// and, with `username`, when that user's roles give it; 404 otherwise.
async fn scope_for_user(
    State(state): State<AppState>,
    _: Scoped<rest_scopes::ScopeManage>,
    Path(segment): Path<String>,
    QueryParams(query): QueryParams<UserQuery>,
) -> ApiResult<axum::Json<Value>> {
    let name = crate::scopes::decoded(&segment);
    let map = map(&state).await?;
    let not_found = || ApiError::NotFound(format!("Scope Not Found. Scope : {name}"));
    if !map.knows(&name) {
        return Err(not_found());
    }
    if let Some(username) = query.username.filter(|u| !u.is_empty()) {
        let user = gantry_store::users::find_by_username(state.store(), &username)
            .await?
            .ok_or_else(not_found)?;
        let roles: Vec<&str> = user.role_list().collect();
        if !map.allows(roles.iter().copied(), &name) {
            return Err(not_found());
        }
    }
    Ok(axum::Json(json!({ "name": name })))
}

/// `GET /system-scopes/role-aliases`.
async fn list_aliases(
    State(state): State<AppState>,
    _: Scoped<rest_scopes::ScopeManage>,
) -> ApiResult<axum::Json<Value>> {
    Ok(axum::Json(alias_list(&map(&state).await?)))
}

#[derive(Deserialize)]
struct AliasEntry {
    role: String,
    #[serde(default)]
    aliases: Vec<String>,
}

/// `PUT /system-scopes/role-aliases`: replaces every role alias.
async fn replace_aliases(
    State(state): State<AppState>,
    Scoped(user, _): Scoped<rest_scopes::ScopeManage>,
    JsonBody(body): JsonBody<AliasListBody>,
) -> ApiResult<axum::Json<Value>> {
    let mut aliases: Vec<(String, Vec<String>)> = Vec::with_capacity(body.list.len());
    for (i, entry) in body.list.iter().enumerate() {
        let role = canonical(
            std::slice::from_ref(&entry.role),
            &format!("list[{i}].role"),
        )?
        .remove(0);
        if aliases.iter().any(|(r, _)| *r == role) {
            return Err(ApiError::BadRequest(format!(
                "list[{i}].role: '{role}' is listed twice"
            )));
        }
        let names = canonical(&entry.aliases, &format!("list[{i}].aliases"))?;
        aliases.push((role, names));
    }
    system_scopes::replace_role_aliases(state.store(), &aliases).await?;
    tracing::info!(user = %user.username, roles = aliases.len(), "role aliases replaced");
    Ok(axum::Json(alias_list(&map(&state).await?)))
}
