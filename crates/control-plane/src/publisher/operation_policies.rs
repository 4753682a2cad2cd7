//! Publisher: the operation-policy catalogue (WSO2 4.x `/operation-policies` and
//! `/apis/{apiId}/operation-policies`). The common list holds the built-in policies every
//! gateway runs (`gantry_model::operation_policy::builtins`, fixed ids) and imported ones;
//! an import is a multipart upload of a policy specification (YAML or JSON, WSO2's
//! `operation_policy_specification` file or its `data`) and a gateway definition file.
//! Imported policies are catalogue entries: only built-ins can be attached to APIs (the
//! gateway runs no Synapse or Choreo Connect templates), which API validation says.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use gantry_model::operation_policy::{PolicySpec, builtins};
use gantry_store::operation_policies::{self, StoredPolicy};
use md5::Digest as _;
use serde_json::{Value, json};

use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::extract::{AuthUser, QueryParams, Scoped};
use crate::project::{ProjectFiles, parse_document};
use crate::publisher::apis::load_for;
use crate::rejection::{MultipartForm, multipart_error};
use crate::rest_scopes;
use crate::wire::{Paging, list_envelope, page_of};

/// Largest specification or definition file accepted.
const MAX_FILE_BYTES: usize = 256 * 1024;

const BASE: &str = "/api/am/publisher/v4";

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A built-in policy's id: a name-based UUID (version 3, MD5), the same on every install.
pub fn builtin_id(spec: &PolicySpec) -> String {
    let mut digest: [u8; 16] =
        md5::Md5::digest(format!("gantry:builtin:{}:{}", spec.name, spec.version)).into();
    digest[6] = (digest[6] & 0x0f) | 0x30;
    digest[8] = (digest[8] & 0x3f) | 0x80;
    let h = hex(&digest);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

/// One catalogue entry as WSO2's `OperationPolicyData`.
fn data(id: &str, spec: &PolicySpec, api_specific: bool, md5: &str) -> Value {
    json!({
        "category": spec.category,
        "id": id,
        "name": spec.name,
        "version": spec.version,
        "displayName": spec.display_name,
        "description": spec.description,
        "applicableFlows": spec.applicable_flows,
        "supportedGateways": spec.supported_gateways,
        // WSO2 4.7's schema has maps ({apiType}); names in an imported spec become maps.
        "supportedApiTypes": spec.supported_api_types.iter().map(|t| match t {
            Value::String(name) => json!({"apiType": name}),
            other => other.clone(),
        }).collect::<Vec<_>>(),
        "isAPISpecific": api_specific,
        "md5": md5,
        "policyAttributes": spec.policy_attributes,
    })
}

fn stored_data(p: &StoredPolicy) -> Value {
    data(&p.id, &p.spec, p.api_id.is_some(), &p.md5)
}

fn builtin_data(spec: &PolicySpec) -> Value {
    let md5 = hex(&md5::Md5::digest(
        serde_json::to_vec(spec).unwrap_or_default(),
    ));
    data(&builtin_id(spec), spec, false, &md5)
}

/// `query=name:addHeader version:v1` (WSO2's `&` between conditions is read too).
fn matches(query: Option<&str>, spec: &PolicySpec) -> ApiResult<bool> {
    let Some(query) = query.filter(|q| !q.trim().is_empty()) else {
        return Ok(true);
    };
    for condition in query.split(['&', ' ']).filter(|c| !c.is_empty()) {
        let ok = match condition.split_once(':') {
            Some(("name", value)) => spec.name == value.trim_matches('"'),
            Some(("version", value)) => spec.version == value.trim_matches('"'),
            _ => {
                return Err(ApiError::BadRequest(format!(
                    "query: '{condition}' is not name:<name> or version:<version>"
                )));
            }
        };
        if !ok {
            return Ok(false);
        }
    }
    Ok(true)
}

/// `GET /operation-policies`: the built-in policies, then imported common ones.
pub(crate) async fn list_common(
    State(state): State<AppState>,
    Scoped(_, _): Scoped<rest_scopes::CommonPolicyView>,
    QueryParams(paging): QueryParams<Paging>,
) -> ApiResult<axum::Json<Value>> {
    let (offset, limit) = paging.resolve()?;
    let query = paging.query.as_deref();
    let mut all = Vec::new();
    for spec in builtins() {
        if matches(query, spec)? {
            all.push(builtin_data(spec));
        }
    }
    for policy in operation_policies::list(state.store(), None).await? {
        if matches(query, &policy.spec)? {
            all.push(stored_data(&policy));
        }
    }
    let (page, total) = page_of(all, offset, limit);
    Ok(axum::Json(list_envelope(
        page,
        offset,
        limit,
        total,
        &format!("{BASE}/operation-policies"),
    )))
}

enum Found {
    Builtin(&'static PolicySpec),
    Stored(Box<StoredPolicy>),
}

async fn find(state: &AppState, api_id: Option<&str>, id: &str) -> ApiResult<Found> {
    if api_id.is_none()
        && let Some(spec) = builtins().iter().find(|s| builtin_id(s) == id)
    {
        return Ok(Found::Builtin(spec));
    }
    match operation_policies::get(state.store(), api_id, id).await {
        Err(gantry_store::StoreError::NotFound) => Err(ApiError::not_found("operation policy", id)),
        other => Ok(Found::Stored(Box::new(other?))),
    }
}

/// `GET /operation-policies/{id}`.
pub(crate) async fn get_common(
    State(state): State<AppState>,
    Scoped(_, _): Scoped<rest_scopes::CommonPolicyView>,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Value>> {
    Ok(axum::Json(match find(&state, None, &id).await? {
        Found::Builtin(spec) => builtin_data(spec),
        Found::Stored(policy) => stored_data(&policy),
    }))
}

/// The zip WSO2 serves as a policy's content: the specification as WSO2's
/// `operation_policy_specification` YAML, and the definition file when there is one.
fn content_zip(spec: &PolicySpec, definition: Option<(&str, &str)>) -> ApiResult<Response> {
    let stem = format!("{}_{}", spec.name, spec.version);
    let document =
        json!({"type": "operation_policy_specification", "version": "v4.7.0", "data": spec});
    let mut files = BTreeMap::new();
    files.insert(
        format!("{stem}.yaml"),
        crate::project::Format::Yaml.write(&document),
    );
    if let Some((name, text)) = definition {
        files.insert(name.to_owned(), text.as_bytes().to_vec());
    }
    let zip = ProjectFiles { root: None, files }
        .to_zip(&stem)
        .map_err(|e| ApiError::Internal(format!("zip: {e}")))?;
    let mut response = (StatusCode::OK, zip).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/zip"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{stem}.zip\"")) {
        response
            .headers_mut()
            .insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(response)
}

fn content_of(found: &Found) -> ApiResult<Response> {
    match found {
        Found::Builtin(spec) => content_zip(spec, None),
        Found::Stored(p) => content_zip(&p.spec, Some((&p.definition_name, &p.definition))),
    }
}

/// `GET /operation-policies/{id}/content`.
pub(crate) async fn content_common(
    State(state): State<AppState>,
    Scoped(_, _): Scoped<rest_scopes::CommonPolicyView>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    content_of(&find(&state, None, &id).await?)
}

/// An import's files.
struct Upload {
    spec: PolicySpec,
    definition: String,
    definition_name: String,
    md5: String,
}

/// Reads `policySpecFile` and `synapsePolicyDefinitionFile` / `ccPolicyDefinitionFile`.
async fn read_upload(mut multipart: axum::extract::Multipart) -> ApiResult<Upload> {
    let mut spec = None;
    let mut definition = None;
    while let Some(field) = multipart.next_field().await.map_err(multipart_error)? {
        let name = field.name().unwrap_or_default().to_owned();
        let file_name = field.file_name().map(str::to_owned);
        if !matches!(
            name.as_str(),
            "policySpecFile" | "synapsePolicyDefinitionFile" | "ccPolicyDefinitionFile"
        ) {
            continue;
        }
        let bytes = field.bytes().await.map_err(multipart_error)?;
        if bytes.len() > MAX_FILE_BYTES {
            return Err(ApiError::BadRequest(format!(
                "{name}: larger than {MAX_FILE_BYTES} bytes"
            )));
        }
        if name == "policySpecFile" {
            let file = file_name.unwrap_or_else(|| "policy.yaml".to_owned());
            spec = Some((file, bytes));
        } else {
            let text = String::from_utf8(bytes.to_vec())
                .map_err(|_| ApiError::BadRequest(format!("{name}: is not UTF-8 text")))?;
            let default = if name == "ccPolicyDefinitionFile" {
                "policy.gotmpl"
            } else {
                "policy.j2"
            };
            definition = Some((file_name.unwrap_or_else(|| default.to_owned()), text));
        }
    }
    let (file, bytes) =
        spec.ok_or_else(|| ApiError::BadRequest("policySpecFile: is required".into()))?;
    let (definition_name, definition) = definition.ok_or_else(|| {
        ApiError::BadRequest(
            "synapsePolicyDefinitionFile: a policy definition file is required (or ccPolicyDefinitionFile)"
                .into(),
        )
    })?;
    if definition_name.contains(['/', '\\']) || definition_name.starts_with('.') {
        return Err(ApiError::BadRequest(
            "synapsePolicyDefinitionFile: the file name must be a plain name".into(),
        ));
    }
    let document = parse_document(&file, &bytes)
        .map_err(|e| ApiError::BadRequest(format!("policySpecFile: {e}")))?;
    // WSO2's file wraps the specification: {type: operation_policy_specification, data: {...}}.
    let data = match document {
        Value::Object(mut map) if map.contains_key("data") => {
            map.remove("data").unwrap_or_default()
        }
        other => other,
    };
    let spec: PolicySpec = serde_json::from_value(data)
        .map_err(|e| ApiError::BadRequest(format!("policySpecFile: {e}")))?;
    spec.validate()
        .map_err(|e| ApiError::BadRequest(format!("policySpecFile: {e}")))?;
    if gantry_model::operation_policy::builtin(&spec.name, None).is_some() {
        return Err(ApiError::Conflict(format!(
            "'{}' is the name of a built-in policy",
            spec.name
        )));
    }
    let mut hashed = serde_json::to_vec(&spec).unwrap_or_default();
    hashed.extend_from_slice(definition.as_bytes());
    Ok(Upload {
        md5: hex(&md5::Md5::digest(&hashed)),
        spec,
        definition,
        definition_name,
    })
}

fn created(policy: &StoredPolicy, location: String) -> Response {
    let mut response = (StatusCode::CREATED, axum::Json(stored_data(policy))).into_response();
    if let Ok(v) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, v);
    }
    response
}

/// `POST /operation-policies` (multipart).
pub(crate) async fn add_common(
    State(state): State<AppState>,
    Scoped(user, _): Scoped<rest_scopes::CommonPolicyManage>,
    MultipartForm(multipart): MultipartForm,
) -> ApiResult<Response> {
    let upload = read_upload(multipart).await?;
    let policy = operation_policies::create(
        state.store(),
        None,
        &upload.spec,
        &upload.definition,
        &upload.definition_name,
        &upload.md5,
    )
    .await?;
    tracing::info!(id = %policy.id, name = %policy.spec.name, by = %user.username, "common operation policy imported");
    let location = format!("{BASE}/operation-policies/{}", policy.id);
    Ok(created(&policy, location))
}

/// `DELETE /operation-policies/{id}`; built-in policies cannot be deleted (403).
pub(crate) async fn delete_common(
    State(state): State<AppState>,
    Scoped(user, _): Scoped<rest_scopes::CommonPolicyManage>,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    if let Found::Builtin(spec) = find(&state, None, &id).await? {
        return Err(ApiError::Forbidden(format!(
            "'{}' is a built-in policy and cannot be deleted",
            spec.name
        )));
    }
    operation_policies::delete(state.store(), None, &id).await?;
    tracing::info!(id, by = %user.username, "common operation policy deleted");
    Ok(StatusCode::OK)
}

/// 404 unless `user` may manage the API `api_id` in the Publisher (its provider, an admin,
/// or, for `accessControl: RESTRICTED`, a holder of one of its roles): the check every
/// resource under `/apis/{apiId}` makes (`publisher/access.rs` runs it first).
async fn owned_api(state: &AppState, user: &AuthUser, api_id: &str) -> ApiResult<()> {
    load_for(state, api_id, user).await.map(drop)
}

/// `GET /apis/{apiId}/operation-policies`: the API's own policies.
pub(crate) async fn list_api(
    State(state): State<AppState>,
    Scoped(user, _): Scoped<rest_scopes::ApiPolicyView>,
    Path(api_id): Path<String>,
    QueryParams(paging): QueryParams<Paging>,
) -> ApiResult<axum::Json<Value>> {
    let (offset, limit) = paging.resolve()?;
    owned_api(&state, &user, &api_id).await?;
    let all: Vec<Value> = operation_policies::list(state.store(), Some(&api_id))
        .await?
        .iter()
        .map(stored_data)
        .collect();
    let (page, total) = page_of(all, offset, limit);
    Ok(axum::Json(list_envelope(
        page,
        offset,
        limit,
        total,
        &format!("{BASE}/apis/{api_id}/operation-policies"),
    )))
}

/// `GET /apis/{apiId}/operation-policies/{id}`.
pub(crate) async fn get_api(
    State(state): State<AppState>,
    Scoped(user, _): Scoped<rest_scopes::ApiPolicyView>,
    Path((api_id, id)): Path<(String, String)>,
) -> ApiResult<axum::Json<Value>> {
    owned_api(&state, &user, &api_id).await?;
    match find(&state, Some(&api_id), &id).await? {
        Found::Stored(policy) => Ok(axum::Json(stored_data(&policy))),
        Found::Builtin(_) => Err(ApiError::not_found("operation policy", &id)),
    }
}

/// `GET /apis/{apiId}/operation-policies/{id}/content`.
pub(crate) async fn content_api(
    State(state): State<AppState>,
    Scoped(user, _): Scoped<rest_scopes::ApiPolicyView>,
    Path((api_id, id)): Path<(String, String)>,
) -> ApiResult<Response> {
    owned_api(&state, &user, &api_id).await?;
    content_of(&find(&state, Some(&api_id), &id).await?)
}

/// `POST /apis/{apiId}/operation-policies` (multipart).
pub(crate) async fn add_api(
    State(state): State<AppState>,
    Scoped(user, _): Scoped<rest_scopes::ApiPolicyManage>,
    Path(api_id): Path<String>,
    MultipartForm(multipart): MultipartForm,
) -> ApiResult<Response> {
    owned_api(&state, &user, &api_id).await?;
    let upload = read_upload(multipart).await?;
    let policy = operation_policies::create(
        state.store(),
        Some(&api_id),
        &upload.spec,
        &upload.definition,
        &upload.definition_name,
        &upload.md5,
    )
    .await?;
    tracing::info!(api_id, id = %policy.id, name = %policy.spec.name, "API operation policy imported");
    let location = format!("{BASE}/apis/{api_id}/operation-policies/{}", policy.id);
    Ok(created(&policy, location))
}

/// `DELETE /apis/{apiId}/operation-policies/{id}`.
pub(crate) async fn delete_api(
    State(state): State<AppState>,
    Scoped(user, _): Scoped<rest_scopes::ApiPolicyManage>,
    Path((api_id, id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    owned_api(&state, &user, &api_id).await?;
    match operation_policies::delete(state.store(), Some(&api_id), &id).await {
        Err(gantry_store::StoreError::NotFound) => {
            Err(ApiError::not_found("operation policy", &id))
        }
        other => {
            other?;
            tracing::info!(api_id, id, "API operation policy deleted");
            Ok(StatusCode::OK)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_ids_are_stable_version_3_uuids() {
        let spec = gantry_model::operation_policy::builtin("addHeader", None).expect("built in");
        let id = builtin_id(spec);
        assert_eq!(id, builtin_id(spec));
        assert_eq!(id.len(), 36);
        assert_eq!(&id[14..15], "3");
    }
}
