//! `GET /api-products/export` and `POST /api-products/import`: an API product as WSO2 APIM
//! 4.7 and `apictl export api-product` exchange it: `<name>-<version>/api_product.yaml`
//! (`type: api_product`), `Definitions/swagger.yaml`, `deployment_environments.yaml`, and
//! every API it takes operations from as a whole API project under `APIs/<name>-<version>/`.
//!
//! An import brings the dependent APIs in first when asked (`importAPIs`), through the API
//! import; the product then names its APIs by name and version, which hold across
//! installations where ids do not.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use gantry_model::{ApiProduct, LifecycleState};
use gantry_store::{StoreError, api_products, apis};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::api_products::{ProductRequest, product_document, product_json};
use super::apis::may_manage;
use super::export::{api_project, file_safe, zip_response};
use super::import::{ImportPlan, deployment_targets};
use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::extract::{AuthUser, QueryParams, Scoped};
use crate::project::{ArchiveError, FORMAT_VERSION, Format, ProjectFiles, ProjectKind};
use crate::rejection::{MultipartForm, required_part};
use crate::rest_scopes;
use crate::service::api_products as service;
use crate::service::import::{ImportOptions, import_project, lifecycle_path};
use crate::service::revisions::DeploymentTarget;

/// The query of `GET /api-products/export`.
#[derive(Debug, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ExportQuery {
    name: Option<String>,
    version: Option<String>,
    provider_name: Option<String>,
    revision_number: Option<String>,
    format: Option<String>,
    preserve_status: Option<bool>,
    #[serde(default)]
    latest_revision: bool,
}

pub(crate) async fn export(
    State(state): State<AppState>,
    Scoped(user, _): Scoped<rest_scopes::ApiProductExport>,
    QueryParams(query): QueryParams<ExportQuery>,
) -> ApiResult<Response> {
    let format = Format::from_query(query.format.as_deref()).map_err(ApiError::BadRequest)?;
    let product = find(&state, &query, &user).await?;
    let revisions = api_products::list_revisions(state.store(), &product.id).await?;
    let snapshot = match (&query.revision_number, query.latest_revision) {
        (Some(number), _) => revisions
            .iter()
            .find(|r| r.number.to_string() == *number)
            .map(|r| r.definition.product.clone())
            .ok_or_else(|| ApiError::not_found("revision", number))?,
        (None, true) => revisions
            .iter()
            .max_by_key(|r| r.number)
            .map(|r| r.definition.product.clone())
            .ok_or_else(|| {
                ApiError::NotFound(format!(
                    "API product '{}' has no revision to export",
                    product.id
                ))
            })?,
        (None, false) => product.clone(),
    };
    let mut data = product_json(&snapshot);
    if query.preserve_status == Some(false) {
        data["state"] = json!("CREATED");
    }
    let ext = format.extension();
    let mut project = ProjectFiles::default();
    let mut put = |path: String, value: Value| {
        project.files.insert(path, format.write(&value));
    };
    put(
        format!("api_product.{ext}"),
        json!({"type": "api_product", "version": FORMAT_VERSION, "data": data}),
    );
    put(
        format!("Definitions/swagger.{ext}"),
        product_document(&snapshot),
    );
    let deployments: Vec<Value> = apis::list_deployments(state.store(), &product.id)
        .await?
        .iter()
        .map(|d| {
            json!({
                "deploymentEnvironment": d.environment,
                "deploymentVhost": d.vhost,
                "displayOnDevportal": d.display_on_devportal != 0,
            })
        })
        .collect();
    put(
        format!("deployment_environments.{ext}"),
        json!({"type": "deployment_environments", "version": FORMAT_VERSION, "data": deployments}),
    );
    // The dependent APIs, each as the API export writes it (WSO2 always includes them).
    for included in &snapshot.apis {
        let api = match apis::get(state.store(), &included.api_id).await {
            Err(StoreError::NotFound) => continue,
            other => other?,
        };
        // An API the caller may not see in the Publisher stays out of the archive.
        if !may_manage(&api.provider, &api.details, &user.username, &user.roles) {
            continue;
        }
        let (root, files) = api_project(&state, api, format).await?;
        for (path, contents) in files.files {
            project
                .files
                .insert(format!("APIs/{}/{path}", file_safe(&root)), contents);
        }
    }
    let root = file_safe(&format!("{}-{}", snapshot.name, snapshot.version));
    zip_response(&root, &project)
}

/// The product named by `name` and `version` (and `providerName`) that `user` may see.
async fn find(state: &AppState, query: &ExportQuery, user: &AuthUser) -> ApiResult<ApiProduct> {
    let (Some(name), Some(version)) = (&query.name, &query.version) else {
        return Err(ApiError::BadRequest(
            "name: name the API product by name and version".into(),
        ));
    };
    api_products::all(state.store())
        .await?
        .into_iter()
        .find(|p| {
            p.name.as_str() == name
                && p.version.as_str() == version
                && query
                    .provider_name
                    .as_deref()
                    .is_none_or(|provider| provider == p.provider)
                && service::may_see(p, user)
        })
        .ok_or_else(|| {
            ApiError::NotFound(format!(
                "Requested API product with name '{name}' and version '{version}' not found"
            ))
        })
}

/// The query of `POST /api-products/import` (WSO2 4.7).
#[derive(Debug, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ImportQuery {
    preserve_provider: Option<bool>,
    #[serde(default)]
    rotate_revision: bool,
    #[serde(default, rename = "importAPIs")]
    import_apis: bool,
    #[serde(default, rename = "overwriteAPIProduct")]
    overwrite_api_product: bool,
    #[serde(default, rename = "overwriteAPIs")]
    overwrite_apis: bool,
}

/// What a product import did.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProductImportOutcome {
    /// WSO2's success sentence.
    pub message: String,
    /// `CREATED` or `UPDATED`.
    pub action: &'static str,
    /// The product's id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Version.
    pub version: String,
    /// The dependent APIs: `{name, version, action}` (`CREATED`, `UPDATED`, `EXISTING`).
    pub apis: Vec<Value>,
    /// The revision created for the deployments, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revision_id: Option<String>,
    /// Where it was deployed: `{name, vhost}`.
    pub deployments: Vec<Value>,
    /// Parts of the project not imported, by name.
    pub unsupported: Vec<String>,
}

const PRODUCT_FILES: [&str; 3] = ["api_product.yaml", "api_product.yml", "api_product.json"];
const DEFINITION_FILES: [&str; 3] = [
    "Definitions/swagger.yaml",
    "Definitions/swagger.yml",
    "Definitions/swagger.json",
];
const DEPLOYMENT_FILES: [&str; 2] = [
    "deployment_environments.yaml",
    "deployment_environments.json",
];

pub(crate) async fn import(
    State(state): State<AppState>,
    Scoped(user, _): Scoped<rest_scopes::ApiProductImport>,
    QueryParams(query): QueryParams<ImportQuery>,
    MultipartForm(mut multipart): MultipartForm,
) -> ApiResult<Response> {
    let (_, archive) = required_part(&mut multipart, "file", "the API product archive").await?;
    let project = ProjectFiles::from_zip_of(&archive, ProjectKind::ApiProduct).map_err(bad)?;
    let outcome = import_product(&state, &project, &query, &user).await?;
    Ok(axum::Json(outcome).into_response())
}

fn bad(e: ArchiveError) -> ApiError {
    ApiError::BadRequest(e.to_string())
}

/// `api_product.yaml`'s `data`, checked to be an API product project's.
fn product_data(project: &ProjectFiles) -> ApiResult<serde_json::Map<String, Value>> {
    let (file, document) = project
        .document(&PRODUCT_FILES)
        .map_err(bad)?
        .ok_or_else(|| bad(ArchiveError::NoProjectFile("api_product.yaml")))?;
    match document.get("type").and_then(Value::as_str) {
        None | Some("api_product") => {}
        Some(other) => {
            return Err(ApiError::BadRequest(format!(
                "{file}: type '{other}' is not supported; only 'api_product' projects import here"
            )));
        }
    }
    match document.get("data") {
        Some(Value::Object(data)) => Ok(data.clone()),
        _ => Err(ApiError::BadRequest(format!(
            "{file}: 'data' (the API product) is required and must be an object"
        ))),
    }
}

/// The API projects under `APIs/`, by folder.
fn dependent_projects(project: &ProjectFiles) -> ApiResult<Vec<(String, ProjectFiles)>> {
    let mut folders: BTreeMap<String, BTreeMap<String, Vec<u8>>> = BTreeMap::new();
    for (path, contents) in &project.files {
        if let Some((folder, rest)) = path
            .strip_prefix("APIs/")
            .and_then(|rest| rest.split_once('/'))
        {
            folders
                .entry(folder.to_owned())
                .or_default()
                .insert(rest.to_owned(), contents.clone());
        }
    }
    folders
        .into_iter()
        .map(|(folder, files)| {
            let files = ProjectFiles::rooted(files)
                .map_err(|e| ApiError::BadRequest(format!("APIs/{folder}/: {e}")))?;
            Ok((folder, files))
        })
        .collect()
}

async fn import_product(
    state: &AppState,
    project: &ProjectFiles,
    query: &ImportQuery,
    user: &AuthUser,
) -> ApiResult<ProductImportOutcome> {
    let mut data = product_data(project)?;
    let mut unsupported: Vec<String> = Vec::new();
    // Everything that can be checked before a change is: the product's own fields, and each
    // dependent API project.
    let parsed: ProductRequest = serde_json::from_value(Value::Object(data.clone()))
        .map_err(|e| ApiError::BadRequest(format!("api_product.yaml: data: {e}")))?;
    parsed.into_draft()?;
    let projects = if query.import_apis {
        dependent_projects(project)?
    } else {
        Vec::new()
    };
    for (folder, api_project) in &projects {
        // A dry run validates as the import will, and changes nothing.
        let plan = ImportPlan::read(api_project, None, None).map_err(|e| in_folder(folder, e))?;
        let options = dependent_options(query, true);
        import_project(state, plan, &options, &user.username)
            .await
            .map_err(|e| in_folder(folder, e))?;
    }
    let mut dependents = Vec::new();
    for (folder, api_project) in &projects {
        let plan = ImportPlan::read(api_project, None, None).map_err(|e| in_folder(folder, e))?;
        dependents.push(import_dependent(state, folder, plan, query, user).await?);
    }
    // The product names its APIs by name and version; ids are this installation's.
    let all_apis = apis::all(state.store()).await?;
    if let Some(Value::Array(included)) = data.get_mut("apis") {
        for (i, entry) in included.iter_mut().enumerate() {
            let name = entry
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let version = entry
                .get("version")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let api = all_apis
                .iter()
                .find(|a| a.name.as_str() == name && a.version.as_str() == version)
                .ok_or_else(|| {
                    ApiError::NotFound(format!(
                        "apis[{i}]: the API product needs API '{name}' version '{version}', which does not exist here; import it first or import with importAPIs=true"
                    ))
                })?;
            entry["apiId"] = json!(api.id);
        }
    }
    let provider = data
        .get("provider")
        .and_then(Value::as_str)
        .filter(|p| query.preserve_provider.unwrap_or(true) && !p.is_empty())
        .unwrap_or(&user.username)
        .to_owned();
    let target_state = match data.get("state").and_then(Value::as_str) {
        None => None,
        Some(raw) => Some(LifecycleState::parse(raw).ok_or_else(|| {
            ApiError::BadRequest(format!(
                "api_product.yaml: data.state: '{raw}' is not a lifecycle state"
            ))
        })?),
    };
    let request: ProductRequest = serde_json::from_value(Value::Object(data.clone()))
        .map_err(|e| ApiError::BadRequest(format!("api_product.yaml: data: {e}")))?;
    let draft = request.into_draft()?;
    let existing = api_products::all(state.store())
        .await?
        .into_iter()
        .find(|p| p.name == draft.name && p.version == draft.version);
    let (mut product, action) = match existing {
        Some(current) if !query.overwrite_api_product => {
            return Err(ApiError::Conflict(format!(
                "API product '{}' version '{}' already exists (id {}); import with overwriteAPIProduct=true to update it",
                current.name, current.version, current.id
            )));
        }
        Some(current) => (
            service::update(state, &current.id, draft, None, user).await?,
            "UPDATED",
        ),
        None => (
            service::create_as(state, draft, user, &provider).await?,
            "CREATED",
        ),
    };
    // A project exported without its state (CREATED) does not demote a live product.
    if let Some(to) =
        target_state.filter(|to| *to != LifecycleState::Created || action == "CREATED")
    {
        let path = lifecycle_path(product.state, to).ok_or_else(|| {
            ApiError::BadRequest(format!(
                "api_product.yaml: data.state: {} cannot be reached from {}",
                to.as_str(),
                product.state.as_str()
            ))
        })?;
        for step in path {
            product = service::change_lifecycle(state, &product.id, step.as_str(), user).await?;
        }
    }
    let targets = match project.document(&DEPLOYMENT_FILES).map_err(bad)? {
        Some((name, value)) => deployment_targets(&name, value.get("data").unwrap_or(&value))?,
        None => Vec::new(),
    };
    let mut outcome = ProductImportOutcome {
        message: "API Product imported successfully.".into(),
        action,
        id: product.id.clone(),
        name: product.name.to_string(),
        version: product.version.to_string(),
        apis: dependents,
        revision_id: None,
        deployments: Vec::new(),
        unsupported: Vec::new(),
    };
    if !targets.is_empty() {
        make_room(state, &product.id, query.rotate_revision, user).await?;
        let revision = service::create_revision(state, &product.id, "Imported", user).await?;
        let deployed =
            service::deploy_revision(state, &product.id, &revision.id, &targets, user).await?;
        outcome.deployments = deployed
            .iter()
            .map(|d| json!({"name": d.environment, "vhost": d.vhost}))
            .collect();
        outcome.revision_id = Some(revision.id);
    }
    let read: Vec<&str> = [&PRODUCT_FILES[..], &DEFINITION_FILES, &DEPLOYMENT_FILES].concat();
    unsupported.extend(
        project
            .files
            .keys()
            .filter(|p| !read.contains(&p.as_str()))
            .filter(|p| !(query.import_apis && p.starts_with("APIs/")))
            .cloned(),
    );
    outcome.unsupported = unsupported;
    tracing::info!(product_id = %product.id, action, "API product project imported");
    Ok(outcome)
}

/// Imports one API under `APIs/`: created when missing, updated with `overwriteAPIs`, left
/// as it is otherwise (WSO2 does the same).
/// `e`, a 400 about a dependent API's project, naming its folder.
fn in_folder(folder: &str, e: ApiError) -> ApiError {
    match e {
        ApiError::BadRequest(m) => ApiError::BadRequest(format!("APIs/{folder}/{m}")),
        other => other,
    }
}

/// How a dependent API is imported (or, first, dry-run).
fn dependent_options(query: &ImportQuery, dry_run: bool) -> ImportOptions {
    ImportOptions {
        preserve_provider: query.preserve_provider.unwrap_or(true),
        overwrite: query.overwrite_apis,
        rotate_revision: query.rotate_revision,
        dry_run,
    }
}

async fn import_dependent(
    state: &AppState,
    folder: &str,
    plan: ImportPlan,
    query: &ImportQuery,
    user: &AuthUser,
) -> ApiResult<Value> {
    let name = plan.data.get("name").and_then(Value::as_str).unwrap_or("");
    let version = plan
        .data
        .get("version")
        .and_then(Value::as_str)
        .unwrap_or("");
    let exists = apis::all(state.store())
        .await?
        .iter()
        .any(|a| a.name.as_str() == name && a.version.as_str() == version);
    if exists && !query.overwrite_apis {
        return Ok(json!({"name": name, "version": version, "action": "EXISTING"}));
    }
    let outcome = import_project(
        state,
        plan,
        &dependent_options(query, false),
        &user.username,
    )
    .await
    .map_err(|e| in_folder(folder, e))?;
    Ok(
        json!({"name": outcome.name, "version": outcome.version, "action": outcome.action,
              "id": outcome.id}),
    )
}

/// At the revision cap, deletes the product's oldest revision (undeploying it) when
/// `rotate` allows; otherwise the revision's creation refuses as over REST.
async fn make_room(state: &AppState, id: &str, rotate: bool, user: &AuthUser) -> ApiResult<()> {
    let revisions = api_products::list_revisions(state.store(), id).await?;
    if !rotate || (revisions.len() as i64) < apis::MAX_REVISIONS {
        return Ok(());
    }
    let Some(oldest) = revisions.iter().min_by_key(|r| r.number) else {
        return Ok(());
    };
    let deployed: Vec<DeploymentTarget> = apis::list_deployments(state.store(), id)
        .await?
        .into_iter()
        .filter(|d| d.revision_id == oldest.id)
        .map(|d| DeploymentTarget::environment(&d.environment))
        .collect();
    if !deployed.is_empty() {
        service::undeploy(state, id, &oldest.id, &deployed, user).await?;
    }
    apis::delete_revision(state.store(), id, &oldest.id).await?;
    Ok(())
}
