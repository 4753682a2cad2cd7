//! `POST /apis/import`: an API project (WSO2's format, see [`crate::project`]) read into an
//! [`ImportPlan`], which [`crate::service::import`] carries out through the same operations
//! as REST creation (validation, lifecycle, revisions, deployments).
//!
//! Gantry extensions (WSO2 4.7 has no equivalent on this resource): `?environment=NAME`
//! applies that environment of apictl's `params.yaml` (at the archive root, or sent as the
//! multipart part `params`); `?dryRun=true` answers what the import would change, by a
//! digest of the normalized project, without changing anything (`gantry ctl apply` uses it).

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::openapi::Document;
use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::extract::{QueryParams, Scoped};
use crate::project::{ArchiveError, ProjectFiles, parse_document};
use crate::rejection::{MultipartForm, multipart_error};
use crate::rest_scopes;
use crate::service::import::{ImportOptions, import_project};
use crate::service::revisions::DeploymentTarget;

/// Largest archive `POST /apis/import` takes (compressed; inflated sizes are limited too).
pub const MAX_UPLOAD_BYTES: usize = 10 * 1024 * 1024;

/// The query of `POST /apis/import`.
#[derive(Debug, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ImportQuery {
    preserve_provider: Option<bool>,
    #[serde(default)]
    rotate_revision: bool,
    #[serde(default)]
    overwrite: bool,
    environment: Option<String>,
    #[serde(default)]
    dry_run: bool,
}

pub(crate) async fn import(
    State(state): State<AppState>,
    Scoped(user, _): Scoped<rest_scopes::ApiImport>,
    QueryParams(query): QueryParams<ImportQuery>,
    MultipartForm(mut multipart): MultipartForm,
) -> ApiResult<Response> {
    let mut archive = None;
    let mut params = None;
    while let Some(field) = multipart.next_field().await.map_err(multipart_error)? {
        let name = field.name().unwrap_or_default().to_owned();
        let bytes = field.bytes().await.map_err(multipart_error)?;
        match name.as_str() {
            "file" => archive = Some(bytes),
            "params" => params = Some(bytes),
            _ => {}
        }
    }
    let archive = archive
        .ok_or_else(|| ApiError::BadRequest("file: the project archive is required".into()))?;
    let project = ProjectFiles::from_zip(&archive).map_err(bad_archive)?;
    let params = match params {
        Some(bytes) => Some(parse_document("params", &bytes).map_err(bad_archive)?),
        None => None,
    };
    let plan = ImportPlan::read(&project, params, query.environment.as_deref())?;
    let options = ImportOptions {
        preserve_provider: query.preserve_provider.unwrap_or(true),
        overwrite: query.overwrite,
        rotate_revision: query.rotate_revision,
        dry_run: query.dry_run,
    };
    let outcome = import_project(&state, plan, &options, &user.username).await?;
    Ok(axum::Json(outcome).into_response())
}

fn bad_archive(e: ArchiveError) -> ApiError {
    ApiError::BadRequest(e.to_string())
}

/// What a project asks for, read and checked, before anything is changed.
#[derive(Debug)]
pub struct ImportPlan {
    /// `api.yaml`'s `data`, with the chosen environment's parameters applied.
    pub data: Map<String, Value>,
    /// `Definitions/swagger.yaml`, when the project has one.
    pub definition: Option<Document>,
    /// Where to deploy the imported revision (`deployment_environments.yaml` or params).
    pub targets: Vec<DeploymentTarget>,
    /// Parts of the project Gantry does not read, by name.
    pub unsupported: Vec<String>,
    /// Fields of `api.yaml`'s `data` with a value Gantry ignores, by name.
    pub ignored_fields: Vec<String>,
    /// `Docs/` and `Image/`, checked.
    pub docs: super::project_docs::ProjectDocs,
}

const API_FILES: [&str; 3] = ["api.yaml", "api.yml", "api.json"];
const DEFINITION_FILES: [&str; 3] = [
    "Definitions/swagger.yaml",
    "Definitions/swagger.yml",
    "Definitions/swagger.json",
];
const DEPLOYMENT_FILES: [&str; 2] = [
    "deployment_environments.yaml",
    "deployment_environments.json",
];
const META_FILES: [&str; 2] = ["api_meta.yaml", "api_meta.json"];
const PARAMS_FILES: [&str; 2] = ["params.yaml", "params.yml"];

/// The fields of WSO2's `API` that Gantry reads (the rest is reported when set).
const READ_FIELDS: &[&str] = &[
    "id",
    "name",
    "description",
    "context",
    "version",
    "provider",
    "lifeCycleStatus",
    "isDefaultVersion",
    "type",
    "transport",
    "tags",
    "policies",
    "authorizationHeader",
    "securityScheme",
    "visibility",
    "endpointConfig",
    "corsConfiguration",
    "operations",
    "apiKeyHeader",
    "apiPolicies",
    "enableBackendJwt",
    "createdTime",
    "lastUpdatedTime",
];

/// Values WSO2 4.x writes into every export that mean "nothing special" (not reported).
fn is_wso2_default(field: &str, value: &Value) -> bool {
    let empty = match value {
        Value::Null | Value::Bool(false) => true,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.values().all(|v| is_wso2_default("", v)),
        Value::Number(_) | Value::Bool(true) => false,
    };
    empty
        || matches!(
            (field, value.as_str()),
            ("accessControl", Some("NONE"))
                | ("subscriptionAvailability", Some("CURRENT_TENANT"))
                | ("gatewayVendor", Some("wso2"))
                | ("gatewayType", Some("wso2/synapse"))
                | ("audience", Some(_))
                | ("workflowStatus", Some(_))
                | ("initiatedFromGateway", _)
        )
        || (field == "keyManagers" && value == &json!(["all"]))
        || (field == "cacheTimeout" && value == &json!(300))
        || matches!(
            field,
            // Bookkeeping WSO2 fills in, nothing to carry over.
            "createdTime"
                | "lastUpdatedTime"
                | "revisionId"
                | "isRevision"
                | "hasThumbnail"
                | "egress"
                | "subtypeConfiguration"
                | "categories"
        )
}

impl ImportPlan {
    /// Reads a project; `params` (apictl's `params.yaml`, sent beside the archive) wins
    /// over one inside it; `environment` picks the entry of it to apply.
    pub fn read(
        project: &ProjectFiles,
        params: Option<Value>,
        environment: Option<&str>,
    ) -> ApiResult<Self> {
        let bad = |e: ArchiveError| ApiError::BadRequest(e.to_string());
        let mut unsupported: Vec<String> = Vec::new();
        let (api_file, api_doc) = project
            .document(&API_FILES)
            .map_err(bad)?
            .ok_or_else(|| bad(ArchiveError::NoApiFile))?;
        match api_doc.get("type").and_then(Value::as_str) {
            None | Some("api") => {}
            Some(other) => {
                return Err(ApiError::BadRequest(format!(
                    "{api_file}: type '{other}' is not supported; only 'api' projects import here"
                )));
            }
        }
        let mut data = match api_doc.get("data") {
            Some(Value::Object(data)) => data.clone(),
            _ => {
                return Err(ApiError::BadRequest(format!(
                    "{api_file}: 'data' (the API) is required and must be an object"
                )));
            }
        };
        let mut ignored_fields: Vec<String> = data
            .iter()
            .filter(|(k, v)| !READ_FIELDS.contains(&k.as_str()) && !is_wso2_default(k, v))
            .map(|(k, _)| format!("{api_file}: data.{k}"))
            .collect();
        ignored_fields.sort();

        let definition = match project.document(&DEFINITION_FILES).map_err(bad)? {
            Some((name, value)) => Some(
                Document::parse(&value.to_string())
                    .map_err(|e| ApiError::BadRequest(format!("{name}: {e}")))?,
            ),
            None => None,
        };
        if let Some(document) = &definition {
            let has_operations = data
                .get("operations")
                .and_then(Value::as_array)
                .is_some_and(|ops| !ops.is_empty());
            if !has_operations {
                data.insert("operations".into(), json!(document.operations));
            }
        }

        let mut targets = match project.document(&DEPLOYMENT_FILES).map_err(bad)? {
            Some((name, value)) => deployment_targets(&name, value.get("data").unwrap_or(&value))?,
            None => Vec::new(),
        };

        let inner_params = project.document(&PARAMS_FILES).map_err(bad)?;
        let params = params.or(inner_params.map(|(_, v)| v));
        match (params, environment) {
            (Some(params), Some(environment)) => apply_params(
                &params,
                environment,
                &mut data,
                &mut targets,
                &mut unsupported,
            )?,
            (None, Some(environment)) => {
                return Err(ApiError::BadRequest(format!(
                    "environment: '{environment}' is named but the project has no params.yaml"
                )));
            }
            (Some(_), None) => unsupported.push(
                "params.yaml (not applied: choose one of its environments with ?environment=)"
                    .into(),
            ),
            (None, None) => {}
        }

        let docs = super::project_docs::read(project)?;
        let read: Vec<&str> = [
            &API_FILES[..],
            &DEFINITION_FILES,
            &DEPLOYMENT_FILES,
            &META_FILES,
            &PARAMS_FILES,
        ]
        .concat();
        unsupported.extend(
            project
                .files
                .keys()
                .filter(|p| !read.contains(&p.as_str()) && !docs.read.contains(p))
                .cloned(),
        );
        unsupported.extend(docs.skipped.iter().cloned());
        Ok(Self {
            data,
            definition,
            targets,
            unsupported,
            ignored_fields,
            docs,
        })
    }
}

/// `deployment_environments.yaml`'s entries (`deploymentEnvironment`, `deploymentVhost`,
/// `displayOnDevportal`), as deployment targets.
pub(crate) fn deployment_targets(file: &str, data: &Value) -> ApiResult<Vec<DeploymentTarget>> {
    let entries = data.as_array().ok_or_else(|| {
        ApiError::BadRequest(format!("{file}: 'data' must be a list of environments"))
    })?;
    entries
        .iter()
        .enumerate()
        .map(|(i, entry)| {
            let name = entry
                .get("deploymentEnvironment")
                .and_then(Value::as_str)
                .ok_or_else(|| {
                    ApiError::BadRequest(format!("{file}: [{i}].deploymentEnvironment is required"))
                })?;
            Ok(DeploymentTarget {
                name: Some(name.to_owned()),
                vhost: entry
                    .get("deploymentVhost")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
                display_on_devportal: entry
                    .get("displayOnDevportal")
                    .and_then(Value::as_bool)
                    .unwrap_or(true),
            })
        })
        .collect()
}

/// Applies one environment of apictl's `params.yaml` (`environments: [{name, configs:
/// {endpoints, endpointRoutingPolicy, loadBalanceEndpoints, failoverEndpoints,
/// deploymentEnvironments, policies}}]`); any other setting is reported.
fn apply_params(
    params: &Value,
    environment: &str,
    data: &mut Map<String, Value>,
    targets: &mut Vec<DeploymentTarget>,
    unsupported: &mut Vec<String>,
) -> ApiResult<()> {
    let environments = params
        .get("environments")
        .and_then(Value::as_array)
        .ok_or_else(|| ApiError::BadRequest("params.yaml: 'environments' must be a list".into()))?;
    let names: Vec<&str> = environments
        .iter()
        .filter_map(|e| e.get("name").and_then(Value::as_str))
        .collect();
    let entry = environments
        .iter()
        .find(|e| e.get("name").and_then(Value::as_str) == Some(environment))
        .ok_or_else(|| {
            ApiError::BadRequest(format!(
                "environment: params.yaml has no environment '{environment}' (it has: {})",
                names.join(", ")
            ))
        })?;
    let at = format!("params.yaml: environments[{environment}].configs");
    let Some(configs) = entry.get("configs").and_then(Value::as_object) else {
        return Ok(());
    };
    for (key, value) in configs {
        match key.as_str() {
            "endpoints" => apply_endpoints(value, data, &at, unsupported)?,
            // Applied after the loop, once the routing policy is known.
            "endpointRoutingPolicy" | "loadBalanceEndpoints" | "failoverEndpoints" => {}
            "deploymentEnvironments" => {
                *targets = deployment_targets(&format!("{at}.deploymentEnvironments"), value)?;
            }
            "policies" => {
                let policies = value.as_array().filter(|p| p.iter().all(Value::is_string));
                let Some(policies) = policies else {
                    return Err(ApiError::BadRequest(format!(
                        "{at}.policies: must be a list of subscription policy names"
                    )));
                };
                data.insert("policies".into(), Value::Array(policies.clone()));
            }
            other if value.is_null() => {
                let _ = other;
            }
            other => unsupported.push(format!("{at}.{other}")),
        }
    }
    apply_routing(configs, data, &at, unsupported)
}

/// apictl's `endpointRoutingPolicy` (`load_balanced` or `failover`) with its
/// `loadBalanceEndpoints` / `failoverEndpoints` (`production` and `sandbox`: lists of
/// `{url}`; for failover the first is the primary, the rest are tried in order) into the
/// API's `endpointConfig` (`load_balance` / `failover`). Without a policy, the one block
/// given decides.
fn apply_routing(
    configs: &Map<String, Value>,
    data: &mut Map<String, Value>,
    at: &str,
    unsupported: &mut Vec<String>,
) -> ApiResult<()> {
    let present = |key: &str| configs.get(key).is_some_and(|v| !v.is_null());
    let policy = match configs.get("endpointRoutingPolicy").and_then(Value::as_str) {
        Some(p @ ("load_balanced" | "failover")) => p,
        Some(other) => {
            return Err(ApiError::BadRequest(format!(
                "{at}.endpointRoutingPolicy: '{other}' is not load_balanced or failover"
            )));
        }
        None if present("loadBalanceEndpoints") => "load_balanced",
        None if present("failoverEndpoints") => "failover",
        None => return Ok(()),
    };
    let (block, endpoint_type, unused) = match policy {
        "load_balanced" => ("loadBalanceEndpoints", "load_balance", "failoverEndpoints"),
        _ => ("failoverEndpoints", "failover", "loadBalanceEndpoints"),
    };
    if present(unused) {
        unsupported.push(format!(
            "{at}.{unused} (not applied: endpointRoutingPolicy is {policy})"
        ));
    }
    let Some(lists) = configs.get(block).and_then(Value::as_object) else {
        return Err(ApiError::BadRequest(format!(
            "{at}.{block}: is required with endpointRoutingPolicy {policy}"
        )));
    };
    let config = data
        .entry("endpointConfig")
        .or_insert_with(|| json!({"endpoint_type": "http"}));
    if !config.is_object() {
        *config = json!({"endpoint_type": "http"});
    }
    config["endpoint_type"] = json!(endpoint_type);
    for (key, value) in lists {
        let (field, failovers) = match key.as_str() {
            "production" => ("production_endpoints", "production_failovers"),
            "sandbox" => ("sandbox_endpoints", "sandbox_failovers"),
            "sessionManagement" if value.is_null() || value == "none" => continue,
            "sessionTimeout" if value.is_null() => continue,
            other => {
                unsupported.push(format!("{at}.{block}.{other}"));
                continue;
            }
        };
        let field_at = format!("{at}.{block}.{key}");
        let urls = value
            .as_array()
            .filter(|list| !list.is_empty())
            .ok_or_else(|| ApiError::BadRequest(format!("{field_at}: must be a list of {{url}}")))?
            .iter()
            .enumerate()
            .map(|(i, entry)| {
                entry
                    .get("url")
                    .and_then(Value::as_str)
                    .map(|url| json!({ "url": url }))
                    .ok_or_else(|| {
                        ApiError::BadRequest(format!("{field_at}[{i}].url: is required"))
                    })
            })
            .collect::<ApiResult<Vec<Value>>>()?;
        if endpoint_type == "failover" {
            config[field] = urls[0].clone();
            config[failovers] = Value::Array(urls[1..].to_vec());
        } else {
            config[field] = Value::Array(urls);
        }
    }
    Ok(())
}

/// `endpoints: {production: {url}, sandbox: {url}}` into the API's `endpointConfig`.
fn apply_endpoints(
    endpoints: &Value,
    data: &mut Map<String, Value>,
    at: &str,
    unsupported: &mut Vec<String>,
) -> ApiResult<()> {
    let Some(endpoints) = endpoints.as_object() else {
        return Err(ApiError::BadRequest(format!(
            "{at}.endpoints: must be an object with production and/or sandbox"
        )));
    };
    let config = data
        .entry("endpointConfig")
        .or_insert_with(|| json!({"endpoint_type": "http"}));
    if !config.is_object() {
        *config = json!({"endpoint_type": "http"});
    }
    for (key, value) in endpoints {
        let field = match key.as_str() {
            "production" => "production_endpoints",
            "sandbox" => "sandbox_endpoints",
            other => {
                unsupported.push(format!("{at}.endpoints.{other}"));
                continue;
            }
        };
        let url = value.get("url").and_then(Value::as_str).ok_or_else(|| {
            ApiError::BadRequest(format!("{at}.endpoints.{key}.url: is required"))
        })?;
        config[field] = json!({ "url": url });
        if value.get("config").is_some_and(|c| !c.is_null()) {
            unsupported.push(format!("{at}.endpoints.{key}.config"));
        }
    }
    Ok(())
}
