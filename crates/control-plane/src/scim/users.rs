//! `/scim2/Users`: create, list (filter `userName eq "…"`), read, replace, patch and delete
//! users. A user's `roles` (and, read-only, `groups`) are Gantry roles.

use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use gantry_store::users::{self, User};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::{
    ListQuery, PatchRequest, ScimError, ScimResult, list_response, require_admin, scim_response,
    value_selector, values_of,
};
use crate::AppState;
use crate::extract::{AuthUser, JsonBody, QueryParams};
use crate::wire::rfc3339;

const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";

/// The SCIM attributes kept in the user's profile besides name, password and roles.
const PROFILE_ATTRIBUTES: [&str; 3] = ["name", "emails", "displayName"];

/// The body of POST and PUT (RFC 7643 §4.1 User; other attributes are ignored).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserRequest {
    user_name: Option<String>,
    password: Option<String>,
    roles: Option<Value>,
    #[serde(flatten)]
    rest: Map<String, Value>,
}

/// A valid login name: 3–64 letters, digits, `.`, `_`, `-` or `@`.
pub fn check_username(name: &str) -> Result<(), String> {
    if !(3..=64).contains(&name.chars().count()) {
        return Err("userName must be 3 to 64 characters".into());
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'))
    {
        return Err("userName may contain only letters, digits, '.', '_', '-' and '@'".into());
    }
    Ok(())
}

/// A password Gantry accepts: 8 to 128 characters.
pub fn check_password_policy(password: &str) -> Result<(), String> {
    match password.chars().count() {
        0..=7 => Err("password must be at least 8 characters".into()),
        129.. => Err("password must be at most 128 characters".into()),
        _ => Ok(()),
    }
}

/// Hashes a password with Argon2id off the async runtime.
pub async fn hash_password(password: &str) -> Result<String, crate::error::ApiError> {
    let password = password.to_owned();
    crate::credentials::argon2(move || gantry_keys::password::hash_password(&password))
        .await?
        .map_err(|e| crate::error::ApiError::Internal(e.to_string()))
}

/// Roles named in a SCIM `roles` value, canonical and without duplicates.
fn parse_roles(value: &Value) -> ScimResult<Vec<&'static str>> {
    let mut roles = Vec::new();
    for name in values_of(value, "roles")? {
        let role = gantry_keys::scopes::canonical_role(&name).ok_or_else(|| {
            ScimError::bad(
                "invalidValue",
                format!(
                    "roles: '{name}' is not a Gantry role; use one of {}",
                    gantry_keys::scopes::ROLES.join(", ")
                ),
            )
        })?;
        if !roles.contains(&role) {
            roles.push(role);
        }
    }
    Ok(roles)
}

/// The profile attributes of a request, validated as JSON values of the right shape.
fn profile_of(rest: &Map<String, Value>) -> ScimResult<String> {
    let mut profile = Map::new();
    for attribute in PROFILE_ATTRIBUTES {
        if let Some(value) = rest.get(attribute) {
            let ok = match attribute {
                "name" => value.is_object(),
                "emails" => value.is_array(),
                _ => value.is_string(),
            };
            if !ok {
                return Err(ScimError::bad(
                    "invalidValue",
                    format!("{attribute} has the wrong type"),
                ));
            }
            profile.insert(attribute.to_owned(), value.clone());
        }
    }
    Ok(Value::Object(profile).to_string())
}

/// The SCIM representation of a user (never the password).
pub fn user_json(user: &User) -> Value {
    let mut body = json!({
        "schemas": [USER_SCHEMA],
        "id": user.id,
        "userName": user.username,
        "roles": user.role_list().map(|r| json!({"value": r})).collect::<Vec<_>>(),
        "groups": user.role_list().map(|r| json!({"value": super::groups::group_id(r), "display": r})).collect::<Vec<_>>(),
        "meta": {
            "resourceType": "User",
            "created": rfc3339(user.created_at),
            "lastModified": rfc3339(user.updated_at.max(user.created_at)),
            "location": format!("/scim2/Users/{}", user.id),
        },
    });
    if let Ok(Value::Object(profile)) = serde_json::from_str::<Value>(&user.profile) {
        for (k, v) in profile {
            body[k] = v;
        }
    }
    body
}

async fn load(state: &AppState, id: &str) -> ScimResult<User> {
    match users::get(state.store(), id).await {
        Err(gantry_store::StoreError::NotFound) => Err(ScimError::not_found("User", id)),
        other => Ok(other?),
    }
}

pub(crate) async fn create(
    State(state): State<AppState>,
    caller: AuthUser,
    JsonBody(request): JsonBody<UserRequest>,
) -> ScimResult {
    require_admin(&caller)?;
    let username = request
        .user_name
        .as_deref()
        .ok_or_else(|| ScimError::bad("invalidValue", "userName is required"))?;
    check_username(username).map_err(|e| ScimError::bad("invalidValue", e))?;
    let password = request
        .password
        .as_deref()
        .ok_or_else(|| ScimError::bad("invalidValue", "password is required"))?;
    check_password_policy(password).map_err(|e| ScimError::bad("invalidValue", e))?;
    let roles = match &request.roles {
        Some(value) => parse_roles(value)?,
        None => vec!["Internal/subscriber"],
    };
    let profile = profile_of(&request.rest)?;
    let hash = hash_password(password).await?;
    let user = users::create_with_profile(state.store(), username, &hash, &roles, &profile)
        .await
        .map_err(|e| match e {
            gantry_store::StoreError::Conflict(_) => {
                ScimError::conflict(format!("a user named '{username}' already exists"))
            }
            other => other.into(),
        })?;
    tracing::info!(user = %user.username, roles = %user.roles, by = %caller.username, "user created");
    let mut response = scim_response(StatusCode::CREATED, &user_json(&user));
    if let Ok(v) = HeaderValue::from_str(&format!("/scim2/Users/{}", user.id)) {
        response.headers_mut().insert(header::LOCATION, v);
    }
    Ok(response)
}

pub(crate) async fn list(
    State(state): State<AppState>,
    caller: AuthUser,
    QueryParams(query): QueryParams<ListQuery>,
) -> ScimResult {
    require_admin(&caller)?;
    let name = query.eq_filter("userName")?;
    let (offset, limit) = query.window();
    let (found, total) = users::list(state.store(), name.as_deref(), offset, limit).await?;
    Ok(list_response(
        found.iter().map(user_json).collect(),
        total,
        offset,
    ))
}

pub(crate) async fn get_one(
    State(state): State<AppState>,
    caller: AuthUser,
    Path(id): Path<String>,
) -> ScimResult {
    require_admin(&caller)?;
    let user = load(&state, &id).await?;
    Ok(scim_response(StatusCode::OK, &user_json(&user)))
}

/// PUT replaces roles and profile (and the password when one is given); the user name
/// cannot change.
pub(crate) async fn replace(
    State(state): State<AppState>,
    caller: AuthUser,
    Path(id): Path<String>,
    JsonBody(request): JsonBody<UserRequest>,
) -> ScimResult {
    require_admin(&caller)?;
    let current = load(&state, &id).await?;
    // Names match in any case: `ADMIN` names the user `admin` and changes nothing.
    if let Some(name) = request.user_name.as_deref()
        && !name.eq_ignore_ascii_case(&current.username)
    {
        return Err(ScimError::bad(
            "mutability",
            "userName cannot be changed; create a new user instead",
        ));
    }
    let roles = match &request.roles {
        Some(value) => parse_roles(value)?,
        None => current
            .role_list()
            .filter_map(gantry_keys::scopes::canonical_role)
            .collect(),
    };
    let profile = profile_of(&request.rest)?;
    let hash = match request.password.as_deref() {
        Some(p) => {
            check_password_policy(p).map_err(|e| ScimError::bad("invalidValue", e))?;
            Some(hash_password(p).await?)
        }
        None => None,
    };
    let user = save(&state, &current, &roles, &profile, hash.as_deref(), &caller).await?;
    Ok(scim_response(StatusCode::OK, &user_json(&user)))
}

/// Writes a user's new roles/profile/password; refuses to take the last admin's admin role.
async fn save(
    state: &AppState,
    current: &User,
    roles: &[&str],
    profile: &str,
    password_hash: Option<&str>,
    caller: &AuthUser,
) -> ScimResult<User> {
    let was_admin = current.role_list().any(|r| r == "admin");
    if was_admin && !roles.contains(&"admin") {
        let admins = users::with_role(state.store(), "admin").await?;
        if admins.len() <= 1 {
            return Err(ScimError::bad(
                "invalidValue",
                "roles: the last admin cannot lose the admin role",
            ));
        }
    }
    let user = users::update(state.store(), &current.id, roles, profile, password_hash).await?;
    // Basic-auth calls are cached with their roles: forget them.
    state.credential_cache().clear();
    tracing::info!(user = %user.username, roles = %user.roles, by = %caller.username, "user updated");
    Ok(user)
}

/// PATCH (RFC 7644 §3.5.2): `add`/`replace` of `password`, `roles`, `name`, `emails`,
/// `displayName` (with a path, or a value object without one), `remove` of `roles` or
/// `roles[value eq "…"]`.
pub(crate) async fn patch(
    State(state): State<AppState>,
    caller: AuthUser,
    Path(id): Path<String>,
    JsonBody(request): JsonBody<PatchRequest>,
) -> ScimResult {
    require_admin(&caller)?;
    request.check()?;
    let current = load(&state, &id).await?;
    let mut roles: Vec<&'static str> = current
        .role_list()
        .filter_map(gantry_keys::scopes::canonical_role)
        .collect();
    let mut profile: Map<String, Value> =
        serde_json::from_str(&current.profile).unwrap_or_default();
    let mut password: Option<String> = None;
    for operation in &request.operations {
        let op = operation.op.to_ascii_lowercase();
        // Without a path the value is an object of attributes.
        let changes: Vec<(String, Value)> = match (&operation.path, &operation.value) {
            (Some(path), value) => vec![(path.clone(), value.clone().unwrap_or(Value::Null))],
            (None, Some(Value::Object(map))) => {
                map.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
            }
            (None, _) => {
                return Err(ScimError::bad(
                    "noTarget",
                    "an operation without a path needs an object value",
                ));
            }
        };
        for (path, value) in changes {
            if op == "remove" {
                if path == "roles" {
                    roles.clear();
                } else if let Some(name) = value_selector(&path, "roles") {
                    let role = gantry_keys::scopes::canonical_role(name);
                    roles.retain(|r| Some(*r) != role);
                } else if PROFILE_ATTRIBUTES.contains(&path.as_str()) {
                    profile.remove(&path);
                } else {
                    return Err(ScimError::bad(
                        "invalidPath",
                        format!("'{path}' cannot be removed"),
                    ));
                }
                continue;
            }
            match path.as_str() {
                "password" => {
                    let p = value.as_str().ok_or_else(|| {
                        ScimError::bad("invalidValue", "password must be a string")
                    })?;
                    check_password_policy(p).map_err(|e| ScimError::bad("invalidValue", e))?;
                    password = Some(p.to_owned());
                }
                "roles" => {
                    let given = parse_roles(&value)?;
                    if op == "replace" {
                        roles = given;
                    } else {
                        for role in given {
                            if !roles.contains(&role) {
                                roles.push(role);
                            }
                        }
                    }
                }
                attribute if PROFILE_ATTRIBUTES.contains(&attribute) => {
                    let mut one = Map::new();
                    one.insert(attribute.to_owned(), value);
                    let checked: Map<String, Value> =
                        serde_json::from_str(&profile_of(&one)?).unwrap_or_default();
                    profile.extend(checked);
                }
                "userName" => {
                    return Err(ScimError::bad("mutability", "userName cannot be changed"));
                }
                other => {
                    return Err(ScimError::bad(
                        "invalidPath",
                        format!("'{other}' is not a patchable attribute"),
                    ));
                }
            }
        }
    }
    let hash = match password {
        Some(p) => Some(hash_password(&p).await?),
        None => None,
    };
    let profile = Value::Object(profile).to_string();
    let user = save(&state, &current, &roles, &profile, hash.as_deref(), &caller).await?;
    Ok(scim_response(StatusCode::OK, &user_json(&user)))
}

pub(crate) async fn delete(
    State(state): State<AppState>,
    caller: AuthUser,
    Path(id): Path<String>,
) -> ScimResult<Response> {
    require_admin(&caller)?;
    let user = load(&state, &id).await?;
    if user.username == caller.username {
        return Err(ScimError::bad(
            "mutability",
            "you cannot delete the user you are signed in as",
        ));
    }
    users::delete(state.store(), &id).await?;
    state.credential_cache().clear();
    tracing::info!(user = %user.username, by = %caller.username, "user deleted");
    Ok(StatusCode::NO_CONTENT.into_response())
}
