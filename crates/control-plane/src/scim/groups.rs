//! `/scim2/Groups`: Gantry's roles as SCIM groups. Members can be listed, added and removed
//! (PATCH) or replaced (PUT); the set of groups is fixed.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use gantry_keys::scopes::ROLES;
use gantry_store::users::{self, User};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{
    ListQuery, PatchRequest, ScimError, ScimResult, list_response, require_admin, scim_response,
    value_selector, values_of,
};
use crate::AppState;
use crate::extract::{AuthUser, JsonBody, QueryParams};

const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";

/// The stable id of a role's group, shaped like a UUID: derived from the role name by
/// SHA-256, so it is the same on every replica and across restarts.
pub fn group_id(role: &str) -> String {
    let hex = gantry_keys::secret::sha256_hex(&format!("gantry:role:{role}"));
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

fn role_of_group(id: &str) -> ScimResult<&'static str> {
    ROLES
        .iter()
        .copied()
        .find(|role| group_id(role) == id)
        .ok_or_else(|| ScimError::not_found("Group", id))
}

async fn group_json(state: &AppState, role: &str) -> ScimResult<Value> {
    let members = users::with_role(state.store(), role).await?;
    Ok(json!({
        "schemas": [GROUP_SCHEMA],
        "id": group_id(role),
        "displayName": role,
        "members": members.iter().map(|u| json!({"value": u.id, "display": u.username})).collect::<Vec<_>>(),
        "meta": {"resourceType": "Group", "location": format!("/scim2/Groups/{}", group_id(role))},
    }))
}

pub(crate) async fn list(
    State(state): State<AppState>,
    caller: AuthUser,
    QueryParams(query): QueryParams<ListQuery>,
) -> ScimResult {
    require_admin(&caller)?;
    let name = query.eq_filter("displayName")?;
    let (offset, limit) = query.window();
    let matching: Vec<&str> = ROLES
        .iter()
        .copied()
        .filter(|role| name.as_deref().is_none_or(|n| n == *role))
        .collect();
    let mut resources = Vec::new();
    for role in matching
        .iter()
        .skip(usize::try_from(offset).unwrap_or(usize::MAX))
        .take(usize::try_from(limit).unwrap_or(0))
    {
        resources.push(group_json(&state, role).await?);
    }
    Ok(list_response(resources, matching.len() as i64, offset))
}

pub(crate) async fn get_one(
    State(state): State<AppState>,
    caller: AuthUser,
    Path(id): Path<String>,
) -> ScimResult {
    require_admin(&caller)?;
    let role = role_of_group(&id)?;
    Ok(scim_response(
        StatusCode::OK,
        &group_json(&state, role).await?,
    ))
}

/// The body of POST/PUT `/Groups`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupRequest {
    display_name: Option<String>,
    members: Option<Value>,
}

/// Groups are Gantry's fixed roles: creating one is refused, naming the roles that exist.
pub(crate) async fn create(
    caller: AuthUser,
    JsonBody(request): JsonBody<GroupRequest>,
) -> ScimResult {
    require_admin(&caller)?;
    let name = request.display_name.unwrap_or_default();
    if ROLES.contains(&name.as_str()) {
        return Err(ScimError::conflict(format!(
            "the group '{name}' exists (id {})",
            group_id(&name)
        )));
    }
    Err(ScimError::bad(
        "invalidValue",
        format!(
            "groups are Gantry's roles and cannot be created; use one of {}",
            ROLES.join(", ")
        ),
    ))
}

/// Adds (`add = true`) or removes `role` for the user with id `user_id`.
async fn set_membership(
    state: &AppState,
    role: &'static str,
    user: &User,
    add: bool,
) -> ScimResult<()> {
    let mut roles: Vec<&str> = user.role_list().collect();
    let has = roles.contains(&role);
    if add == has {
        return Ok(());
    }
    if add {
        roles.push(role);
    } else {
        roles.retain(|r| *r != role);
        if role == "admin" && users::with_role(state.store(), "admin").await?.len() <= 1 {
            return Err(ScimError::bad(
                "invalidValue",
                "members: the last admin cannot leave the admin group",
            ));
        }
    }
    users::update(state.store(), &user.id, &roles, &user.profile, None).await?;
    state.credential_cache().clear();
    Ok(())
}

async fn member(state: &AppState, id: &str) -> ScimResult<User> {
    match users::get(state.store(), id).await {
        Err(gantry_store::StoreError::NotFound) => Err(ScimError::bad(
            "invalidValue",
            format!("members: no user with id '{id}'"),
        )),
        other => Ok(other?),
    }
}

/// PUT replaces the members of a group.
pub(crate) async fn replace(
    State(state): State<AppState>,
    caller: AuthUser,
    Path(id): Path<String>,
    JsonBody(request): JsonBody<GroupRequest>,
) -> ScimResult {
    require_admin(&caller)?;
    let role = role_of_group(&id)?;
    if let Some(name) = request.display_name.as_deref()
        && name != role
    {
        return Err(ScimError::bad(
            "mutability",
            "displayName cannot be changed",
        ));
    }
    let wanted = match &request.members {
        Some(value) => values_of(value, "members")?,
        None => Vec::new(),
    };
    let mut wanted_users = Vec::new();
    for id in &wanted {
        wanted_users.push(member(&state, id).await?);
    }
    for user in &wanted_users {
        set_membership(&state, role, user, true).await?;
    }
    for user in users::with_role(state.store(), role).await? {
        if !wanted.contains(&user.id) {
            set_membership(&state, role, &user, false).await?;
        }
    }
    Ok(scim_response(
        StatusCode::OK,
        &group_json(&state, role).await?,
    ))
}

/// PATCH: `add` members, `remove` `members[value eq "…"]` (or all `members`), `replace`
/// members.
pub(crate) async fn patch(
    State(state): State<AppState>,
    caller: AuthUser,
    Path(id): Path<String>,
    JsonBody(request): JsonBody<PatchRequest>,
) -> ScimResult {
    require_admin(&caller)?;
    request.check()?;
    let role = role_of_group(&id)?;
    for operation in &request.operations {
        let op = operation.op.to_ascii_lowercase();
        let path = operation.path.as_deref().unwrap_or("members");
        let value = operation
            .value
            .as_ref()
            .map(|v| v.get("members").cloned().unwrap_or_else(|| v.clone()));
        match (op.as_str(), path) {
            ("add", "members") | ("replace", "members") => {
                let ids = values_of(value.as_ref().unwrap_or(&Value::Null), "members")?;
                let mut added = Vec::new();
                for id in &ids {
                    added.push(member(&state, id).await?);
                }
                if op == "replace" {
                    for user in users::with_role(state.store(), role).await? {
                        if !ids.contains(&user.id) {
                            set_membership(&state, role, &user, false).await?;
                        }
                    }
                }
                for user in &added {
                    set_membership(&state, role, user, true).await?;
                }
            }
            ("remove", "members") => {
                let ids = match value.as_ref() {
                    Some(v) => values_of(v, "members")?,
                    None => users::with_role(state.store(), role)
                        .await?
                        .into_iter()
                        .map(|u| u.id)
                        .collect(),
                };
                for id in ids {
                    let user = member(&state, &id).await?;
                    set_membership(&state, role, &user, false).await?;
                }
            }
            ("remove", selector) if value_selector(selector, "members").is_some() => {
                let id = value_selector(selector, "members").unwrap_or_default();
                let user = member(&state, id).await?;
                set_membership(&state, role, &user, false).await?;
            }
            (_, other) => {
                return Err(ScimError::bad(
                    "invalidPath",
                    format!("'{other}' cannot be changed with op '{op}'"),
                ));
            }
        }
    }
    Ok(scim_response(
        StatusCode::OK,
        &group_json(&state, role).await?,
    ))
}
