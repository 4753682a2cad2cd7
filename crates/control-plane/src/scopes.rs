//! Scopes with role bindings, as WSO2 4.7's Publisher keeps them: an API's own `scopes`
//! (`APIScope`: a scope and the roles bound to it), the shared scopes several APIs use
//! (`/scopes`), and the role checks portals make before binding one (`HEAD /roles/{roleId}`,
//! `HEAD /me/roles/{roleId}`, `HEAD /scopes/{scopeName}`).
//!
//! The bindings decide what a token gets (`oauth::grants`): a scope an operation requires
//! is granted to a user-bound token only when the user holds one of its roles (or it binds
//! none), and to an application token only when the application's owner does.

use std::collections::BTreeMap;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, head};
use base64::Engine as _;
use base64::engine::general_purpose::{URL_SAFE, URL_SAFE_NO_PAD};
use gantry_model::{Api, ScopeDefinition};
use gantry_store::StoreError;
use gantry_store::shared_scopes::{self, SharedScope};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::extract::{JsonBody, QueryParams, Scoped};
use crate::rest_scopes;
use crate::wire::{Paging, list_envelope, page_of};

const BASE: &str = "/api/am/publisher/v4/scopes";

/// Routes under `/api/am/publisher/v4`.
pub(crate) fn publisher() -> Router<AppState> {
    Router::new()
        .route("/scopes", get(list).post(create))
        .route(
            "/scopes/{scope_id}",
            get(get_one).put(update).delete(remove).head(exists),
        )
        .route("/scopes/{scope_id}/usage", get(usage))
        .route("/roles/{role_id}", head(role_exists))
        .route("/me/roles/{role_id}", head(caller_has_role))
}

/// The roles `bindings` names, each as the role it stands for; 400 naming `field` for one
/// that is not a role users can hold.
pub(crate) fn canonical_bindings(bindings: &[String], field: &str) -> ApiResult<Vec<String>> {
    bindings
        .iter()
        .enumerate()
        .map(|(i, role)| {
            gantry_keys::scopes::canonical_role(role)
                .map(str::to_owned)
                .ok_or_else(|| {
                    ApiError::BadRequest(format!(
                        "{field}[{i}]: '{role}' is not a role; use one of {}",
                        gantry_keys::scopes::ROLES.join(", ")
                    ))
                })
        })
        .collect()
}

/// Checks an API's `scopes` and fills in the shared ones from the shared scopes (their id,
/// names and bindings); 400 naming the field otherwise.
pub(crate) async fn resolve(state: &AppState, api: &mut Api) -> ApiResult<()> {
    if api.details.scopes.is_empty() {
        return Ok(());
    }
    for (i, api_scope) in api.details.scopes.iter_mut().enumerate() {
        let name = api_scope.scope.name.clone();
        if name.starts_with("apim:") {
            return Err(ApiError::BadRequest(format!(
                "scopes[{i}].scope.name: 'apim:' names are the REST APIs' own scopes"
            )));
        }
        let shared = shared_scopes::by_name(state.store(), &name).await?;
        match (api_scope.shared, shared) {
            (true, Some(shared)) => api_scope.scope = definition(&shared),
            (true, None) => {
                return Err(ApiError::BadRequest(format!(
                    "scopes[{i}].scope.name: '{name}' is not a shared scope"
                )));
            }
            (false, Some(_)) => {
                return Err(ApiError::BadRequest(format!(
                    "scopes[{i}].scope.name: '{name}' is a shared scope; list it with \"shared\": true"
                )));
            }
            (false, None) => {
                api_scope.scope.id = None;
                api_scope.scope.bindings = canonical_bindings(
                    &api_scope.scope.bindings,
                    &format!("scopes[{i}].scope.bindings"),
                )?;
            }
        }
    }
    Ok(())
}

/// The roles bound to each scope the APIs in `apis` declare (shared ones as stored now);
/// a scope no API declares binds no role. A scope declared by several APIs with different
/// bindings takes the union (any declaring API's roles suffice).
pub(crate) async fn bindings_of<'a>(
    state: &AppState,
    apis: impl Iterator<Item = &'a Api>,
) -> ApiResult<BTreeMap<String, Vec<String>>> {
    let mut bound: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut open: Vec<String> = Vec::new();
    for api in apis {
        for api_scope in &api.details.scopes {
            let roles = if api_scope.shared {
                shared_scopes::by_name(state.store(), &api_scope.scope.name)
                    .await?
                    .map(|s| s.roles())
                    .unwrap_or_default()
            } else {
                api_scope.scope.bindings.clone()
            };
            if roles.is_empty() {
                open.push(api_scope.scope.name.clone());
            } else {
                bound
                    .entry(api_scope.scope.name.clone())
                    .or_default()
                    .extend(roles);
            }
        }
    }
    for name in open {
        bound.remove(&name);
    }
    Ok(bound)
}

/// Whether a user with `roles` may be granted `scope` under `bindings` (admins may).
pub(crate) fn roles_allow(
    bindings: &BTreeMap<String, Vec<String>>,
    scope: &str,
    roles: &[String],
) -> bool {
    match bindings.get(scope) {
        None => true,
        Some(bound) => roles.iter().any(|r| {
            r == gantry_keys::scopes::ADMIN_ROLE || bound.iter().any(|b| b.eq_ignore_ascii_case(r))
        }),
    }
}

fn definition(scope: &SharedScope) -> ScopeDefinition {
    ScopeDefinition {
        id: Some(scope.id.clone()),
        name: scope.name.clone(),
        display_name: scope.display_name.clone(),
        description: scope.description.clone(),
        bindings: scope.roles(),
    }
}

/// The APIs using the shared scope `name`, with the resources that require it.
fn users_of<'a>(apis: &'a [Api], name: &str) -> Vec<&'a Api> {
    apis.iter()
        .filter(|a| {
            a.details
                .scopes
                .iter()
                .any(|s| s.shared && s.scope.name == name)
        })
        .collect()
}

fn scope_json(scope: &SharedScope, usage: usize) -> Value {
    json!({
        "id": scope.id,
        "name": scope.name,
        "displayName": scope.display_name,
        "description": scope.description,
        "bindings": scope.roles(),
        "usageCount": usage,
    })
}

/// The body of POST/PUT `/scopes` (WSO2 `Scope`).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ScopeRequest {
    name: Option<String>,
    display_name: Option<String>,
    description: Option<String>,
    bindings: Option<Vec<String>>,
}

impl ScopeRequest {
    fn into_scope(self, id: String) -> ApiResult<SharedScope> {
        let name = self.name.unwrap_or_default();
        if !gantry_model::details::valid_scope_name(&name) {
            return Err(ApiError::BadRequest(
                "name: 1 to 255 characters, no spaces or control characters".into(),
            ));
        }
        if name.starts_with("apim:") {
            return Err(ApiError::BadRequest(
                "name: 'apim:' names are the REST APIs' own scopes".into(),
            ));
        }
        let display_name = self.display_name.unwrap_or_else(|| name.clone());
        let description = self.description.unwrap_or_default();
        if display_name.chars().count() > 255 || description.chars().count() > 512 {
            return Err(ApiError::BadRequest(
                "displayName: at most 255 characters, description: at most 512".into(),
            ));
        }
        let bindings = canonical_bindings(&self.bindings.unwrap_or_default(), "bindings")?;
        Ok(SharedScope {
            id,
            name,
            display_name,
            description,
            bindings: serde_json::to_string(&bindings).unwrap_or_else(|_| "[]".into()),
        })
    }
}

async fn load(state: &AppState, id: &str) -> ApiResult<SharedScope> {
    match shared_scopes::get(state.store(), id).await {
        Err(StoreError::NotFound) => Err(ApiError::not_found("shared scope", id)),
        other => Ok(other?),
    }
}

async fn list(
    State(state): State<AppState>,
    _: Scoped<rest_scopes::SharedScopeView>,
    QueryParams(paging): QueryParams<Paging>,
) -> ApiResult<axum::Json<Value>> {
    let (offset, limit) = paging.resolve()?;
    let apis = gantry_store::apis::all(state.store()).await?;
    let all: Vec<Value> = shared_scopes::list(state.store())
        .await?
        .iter()
        .map(|s| scope_json(s, users_of(&apis, &s.name).len()))
        .collect();
    let (page, total) = page_of(all, offset, limit);
    Ok(axum::Json(list_envelope(page, offset, limit, total, BASE)))
}

async fn create(
    State(state): State<AppState>,
    Scoped(user, _): Scoped<rest_scopes::SharedScopeManage>,
    JsonBody(request): JsonBody<ScopeRequest>,
) -> ApiResult<Response> {
    let scope = request.into_scope(gantry_store::new_id())?;
    let apis = gantry_store::apis::all(state.store()).await?;
    if let Some(api) = apis
        .iter()
        .find(|a| a.details.scopes.iter().any(|s| s.scope.name == scope.name))
    {
        return Err(ApiError::Conflict(format!(
            "The API '{}' has its own scope '{}'",
            api.name, scope.name
        )));
    }
    shared_scopes::insert(state.store(), &scope).await?;
    tracing::info!(scope = %scope.name, by = %user.username, "shared scope added");
    let mut response = (StatusCode::CREATED, axum::Json(scope_json(&scope, 0))).into_response();
    if let Ok(value) = HeaderValue::from_str(&format!("{BASE}/{}", scope.id)) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    Ok(response)
}

async fn get_one(
    State(state): State<AppState>,
    _: Scoped<rest_scopes::SharedScopeView>,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Value>> {
    let scope = load(&state, &id).await?;
    let apis = gantry_store::apis::all(state.store()).await?;
    Ok(axum::Json(scope_json(
        &scope,
        users_of(&apis, &scope.name).len(),
    )))
}

/// PUT: new display name, description and bindings; the name stays (400 for another one).
/// The new bindings apply to the next token issued for the APIs using the scope.
async fn update(
    State(state): State<AppState>,
    Scoped(user, _): Scoped<rest_scopes::SharedScopeManage>,
    Path(id): Path<String>,
    JsonBody(request): JsonBody<ScopeRequest>,
) -> ApiResult<axum::Json<Value>> {
    let current = load(&state, &id).await?;
    if request.name.as_deref().is_some_and(|n| n != current.name) {
        return Err(ApiError::BadRequest(format!(
            "name: a shared scope keeps its name ('{}')",
            current.name
        )));
    }
    let request = ScopeRequest {
        name: Some(current.name.clone()),
        ..request
    };
    let scope = request.into_scope(id.clone())?;
    shared_scopes::update(state.store(), &scope).await?;
    tracing::info!(scope = %scope.name, by = %user.username, "shared scope changed");
    let apis = gantry_store::apis::all(state.store()).await?;
    Ok(axum::Json(scope_json(
        &scope,
        users_of(&apis, &scope.name).len(),
    )))
}

/// DELETE: 409 while an API uses it.
async fn remove(
    State(state): State<AppState>,
    Scoped(user, _): Scoped<rest_scopes::SharedScopeManage>,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let current = load(&state, &id).await?;
    let apis = gantry_store::apis::all(state.store()).await?;
    let users = users_of(&apis, &current.name);
    if !users.is_empty() {
        let names: Vec<&str> = users.iter().map(|a| a.name.as_str()).collect();
        return Err(ApiError::Conflict(format!(
            "The shared scope '{}' is used by {} API(s) ({}); remove it from them first",
            current.name,
            names.len(),
            names.join(", ")
        )));
    }
    shared_scopes::delete(state.store(), &id).await?;
    tracing::info!(scope = %current.name, by = %user.username, "shared scope deleted");
    Ok(StatusCode::OK)
}

/// `GET /scopes/{id}/usage`: WSO2 `SharedScopeUsage`.
async fn usage(
    State(state): State<AppState>,
    _: Scoped<rest_scopes::SharedScopeUsage>,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Value>> {
    let scope = load(&state, &id).await?;
    let apis = gantry_store::apis::all(state.store()).await?;
    let used: Vec<Value> = users_of(&apis, &scope.name)
        .into_iter()
        .map(|api| {
            let resources: Vec<Value> = api
                .operations
                .iter()
                .filter(|op| op.scopes.contains(&scope.name))
                .map(|op| json!({"target": op.target.as_str(), "verb": op.verb.as_str()}))
                .collect();
            json!({"name": api.name, "context": api.context, "version": api.version,
                   "provider": api.provider, "usedResourceList": resources})
        })
        .collect();
    Ok(axum::Json(
        json!({"id": scope.id, "name": scope.name, "usedApiList": used}),
    ))
}

/// A name in a path as WSO2 sends it: Base64 URL-encoded (with or without padding), or as
/// is when it does not decode to text.
pub(crate) fn decoded(segment: &str) -> String {
    URL_SAFE_NO_PAD
        .decode(segment)
        .or_else(|_| URL_SAFE.decode(segment))
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .filter(|s| !s.is_empty() && !s.chars().any(char::is_control))
        .unwrap_or_else(|| segment.to_owned())
}

/// `HEAD /scopes/{scopeName}`: 200 when a shared scope or an API's own scope has the name.
async fn exists(
    State(state): State<AppState>,
    _: Scoped<rest_scopes::ScopeValidate>,
    Path(segment): Path<String>,
) -> ApiResult<StatusCode> {
    let apis = gantry_store::apis::all(state.store()).await?;
    for name in [decoded(&segment), segment] {
        if shared_scopes::by_name(state.store(), &name)
            .await?
            .is_some()
        {
            return Ok(StatusCode::OK);
        }
        if apis
            .iter()
            .any(|a| a.details.scopes.iter().any(|s| s.scope.name == name))
        {
            return Ok(StatusCode::OK);
        }
    }
    Err(ApiError::NotFound("No scope of that name".into()))
}

/// `HEAD /roles/{roleId}`: 200 when the (Base64 URL-encoded) role exists.
async fn role_exists(
    _: Scoped<rest_scopes::RoleValidate>,
    Path(segment): Path<String>,
) -> ApiResult<StatusCode> {
    match gantry_keys::scopes::canonical_role(&decoded(&segment)) {
        Some(_) => Ok(StatusCode::OK),
        None => Err(ApiError::NotFound("No role of that name".into())),
    }
}

/// `HEAD /me/roles/{roleId}`: 200 when the caller holds the (Base64 URL-encoded) role.
async fn caller_has_role(
    Scoped(user, _): Scoped<rest_scopes::MeRole>,
    Path(segment): Path<String>,
) -> ApiResult<StatusCode> {
    let asked = gantry_keys::scopes::canonical_role(&decoded(&segment));
    let holds = asked.is_some_and(|role| {
        user.roles
            .iter()
            .any(|r| gantry_keys::scopes::canonical_role(r) == Some(role))
    });
    if holds {
        Ok(StatusCode::OK)
    } else {
        Err(ApiError::NotFound(
            "The caller does not hold that role".into(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_and_scope_names_come_base64url_encoded_or_plain() {
        assert_eq!(decoded("SW50ZXJuYWwvc3Vic2NyaWJlcg"), "Internal/subscriber");
        assert_eq!(
            decoded("SW50ZXJuYWwvc3Vic2NyaWJlcg=="),
            "Internal/subscriber"
        );
        assert_eq!(decoded("admin"), "admin");
    }

    #[test]
    fn bound_scopes_need_one_of_their_roles_and_admins_pass() {
        let mut bindings = BTreeMap::new();
        bindings.insert(
            "orders:write".to_owned(),
            vec!["Internal/creator".to_owned()],
        );
        let roles = |r: &[&str]| r.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert!(roles_allow(
            &bindings,
            "orders:read",
            &roles(&["Internal/subscriber"])
        ));
        assert!(!roles_allow(
            &bindings,
            "orders:write",
            &roles(&["Internal/subscriber"])
        ));
        assert!(roles_allow(
            &bindings,
            "orders:write",
            &roles(&["Internal/creator"])
        ));
        assert!(roles_allow(&bindings, "orders:write", &roles(&["admin"])));
    }
}
