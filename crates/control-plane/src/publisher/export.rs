//! `GET /apis/export`: an API as a WSO2 API project (zip), as WSO2 APIM 4.7 and `apictl
//! export api` produce it: `<name>-<version>/api.yaml`, `Definitions/swagger.yaml`,
//! `deployment_environments.yaml`, `api_meta.yaml`, and the documents and thumbnail under
//! `Docs/` and `Image/` (`publisher::project_docs`).

use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use gantry_model::Api;
use gantry_store::{apis, definitions};
use serde::Deserialize;
use serde_json::{Value, json};

use super::openapi::generated_document;
use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::extract::{QueryParams, Scoped};
use crate::project::{FORMAT_VERSION, Format, ProjectFiles};
use crate::rest_scopes;
use crate::service::apis::load;

/// The query of `GET /apis/export`.
#[derive(Debug, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ExportQuery {
    api_id: Option<String>,
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
    Scoped(user, _): Scoped<rest_scopes::ApiExport>,
    QueryParams(query): QueryParams<ExportQuery>,
) -> ApiResult<Response> {
    let format = Format::from_query(query.format.as_deref()).map_err(ApiError::BadRequest)?;
    let api = find(&state, &query).await?;
    // By name as by id: an API its access control keeps from this user does not exist.
    if !super::apis::may_access(&api, &user) {
        return Err(ApiError::NotFound(format!(
            "Requested API with name '{}' and version '{}' not found",
            api.name, api.version
        )));
    }
    let (root, project) = project_of(&state, api, &query, format).await?;
    zip_response(&root, &project)
}

/// The project zipped under `root/`, as an `application/zip` attachment named after it.
pub(crate) fn zip_response(root: &str, project: &ProjectFiles) -> ApiResult<Response> {
    let zip = project
        .to_zip(root)
        .map_err(|e| ApiError::Internal(format!("writing the export archive: {e}")))?;
    let mut response = zip.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/zip"),
    );
    let disposition = format!("attachment; filename=\"{}.zip\"", file_safe(root));
    if let Ok(value) = HeaderValue::from_str(&disposition) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    Ok(response)
}

/// The API named by `apiId`, or by `name` + `version` (+ `providerName`).
async fn find(state: &AppState, query: &ExportQuery) -> ApiResult<Api> {
    if let Some(id) = &query.api_id {
        return load(state, id).await;
    }
    let (Some(name), Some(version)) = (&query.name, &query.version) else {
        return Err(ApiError::BadRequest(
            "apiId: name the API by apiId, or by name and version".into(),
        ));
    };
    apis::all(state.store())
        .await?
        .into_iter()
        .find(|a| {
            a.name.as_str() == name
                && a.version.as_str() == version
                && query
                    .provider_name
                    .as_deref()
                    .is_none_or(|p| p == a.provider)
        })
        .ok_or_else(|| {
            ApiError::NotFound(format!(
                "Requested API with name '{name}' and version '{version}' not found"
            ))
        })
}

/// The project of `api`'s working copy, as an API product's export carries it under `APIs/`.
pub(crate) async fn api_project(
    state: &AppState,
    api: Api,
    format: Format,
) -> ApiResult<(String, ProjectFiles)> {
    project_of(state, api, &ExportQuery::default(), format).await
}

/// The project of `api`: its working copy, or a revision's snapshot when asked.
async fn project_of(
    state: &AppState,
    api: Api,
    query: &ExportQuery,
    format: Format,
) -> ApiResult<(String, ProjectFiles)> {
    let revisions = apis::list_revisions(state.store(), &api.id).await?;
    let snapshot = match (&query.revision_number, query.latest_revision) {
        (Some(number), _) => {
            let revision = revisions
                .iter()
                .find(|r| r.number.to_string() == *number)
                .ok_or_else(|| ApiError::not_found("revision", number))?;
            revision.definition.clone()
        }
        (None, true) => revisions
            .iter()
            .max_by_key(|r| r.number)
            .map(|r| r.definition.clone())
            .ok_or_else(|| {
                ApiError::NotFound(format!("API '{}' has no revision to export", api.id))
            })?,
        (None, false) => api.clone(),
    };
    // WSO2's operations (a GraphQL API's root fields); Gantry's GraphQL definition beside
    // them, so an import gets the schema back.
    let mut data = super::apis::api_body(&snapshot);
    if let Some(graphql) = &snapshot.gateway.graphql {
        data["graphql"] =
            serde_json::to_value(graphql).map_err(|e| ApiError::Internal(e.to_string()))?;
    }
    // A live API keeps its state only when asked (WSO2's `preserveStatus`, default true).
    if query.preserve_status == Some(false) {
        data["lifeCycleStatus"] = json!("CREATED");
    }
    let definition = match definitions::get(state.store(), &api.id).await? {
        Some(text) => serde_json::from_str(&text).unwrap_or_else(|_| generated_document(&snapshot)),
        None => generated_document(&snapshot),
    };
    let deployments: Vec<Value> = apis::list_deployments(state.store(), &api.id)
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
    let ext = format.extension();
    let mut project = ProjectFiles::default();
    let mut put = |path: String, value: Value| {
        project.files.insert(path, format.write(&value));
    };
    put(
        format!("api.{ext}"),
        json!({"type": "api", "version": FORMAT_VERSION, "data": data}),
    );
    put(format!("Definitions/swagger.{ext}"), definition);
    put(
        format!("deployment_environments.{ext}"),
        json!({"type": "deployment_environments", "version": FORMAT_VERSION, "data": deployments}),
    );
    put(
        format!("api_meta.{ext}"),
        json!({"name": snapshot.name, "version": snapshot.version,
               "deploy": {"import": {"update": true, "preserveProvider": true}}}),
    );
    super::project_docs::export(state, &api.id, format, &mut project).await?;
    let root = format!("{}-{}", snapshot.name, snapshot.version);
    Ok((root, project))
}

/// A name safe in a `Content-Disposition` header and as a folder name.
pub(crate) fn file_safe(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect()
}
