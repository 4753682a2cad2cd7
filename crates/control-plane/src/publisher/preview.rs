//! `POST /apis/{apiId}/revisions/{revisionId}/deployment-preview?environment=[&vhost=]`
//! (Gantry; WSO2 has no equivalent): the routes the environment's gateways would add,
//! remove or change if the revision were deployed there, and whether they could apply it.

use axum::extract::{Path, State};
use gantry_model::snapshot::DeployedApi;
use gantry_store::environments;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::extract::{QueryParams, Scoped};
use crate::preview::diff;
use crate::rest_scopes;
use crate::service::apis::load;
use crate::service::revisions::load_revision;

#[derive(Debug, Deserialize)]
pub(crate) struct PreviewQuery {
    environment: Option<String>,
    vhost: Option<String>,
}

pub(crate) async fn deployment_preview(
    State(state): State<AppState>,
    _: Scoped<rest_scopes::ApiDeploy>,
    Path((api_id, revision_id)): Path<(String, String)>,
    QueryParams(query): QueryParams<PreviewQuery>,
) -> ApiResult<axum::Json<Value>> {
    let environment = query
        .environment
        .ok_or_else(|| ApiError::BadRequest("environment: query parameter is required".into()))?;
    let api = load(&state, &api_id).await?;
    let revision = load_revision(&state, &api_id, &revision_id).await?;
    let env = environments::find_by_name(state.store(), &environment)
        .await?
        .ok_or_else(|| {
            ApiError::BadRequest(format!(
                "environment: gateway environment '{environment}' does not exist"
            ))
        })?;
    let vhost = match query.vhost {
        Some(v) if env.vhosts.iter().any(|h| h.eq_ignore_ascii_case(&v)) => v.to_ascii_lowercase(),
        Some(v) => {
            return Err(ApiError::BadRequest(format!(
                "vhost: '{v}' is not a vhost of environment '{environment}' (its vhosts: {})",
                env.vhosts.join(", ")
            )));
        }
        None => env
            .vhosts
            .first()
            .cloned()
            .unwrap_or_else(|| "localhost".into()),
    };
    let compiler = state.compiler().cloned().ok_or_else(|| {
        ApiError::Unavailable(
            "deployment previews need the gateway compiler, which this process was started without"
                .into(),
        )
    })?;
    let before = state.build_snapshot(&environment).await?;
    // As `gantry_store::snapshot::build` would list the API once this revision serves there.
    let mut after = before.clone();
    let certificates = after
        .apis
        .iter()
        .find(|a| a.api_id == api_id)
        .map(|a| a.client_certificates.clone())
        .unwrap_or_default();
    after.apis.retain(|a| a.api_id != api_id);
    let definition = revision.definition;
    if api.life_cycle_status.is_routable() {
        after.apis.push(DeployedApi {
            api_id: api.id.clone(),
            revision_id: revision.id.clone(),
            name: definition.name,
            context: definition.context,
            version: definition.version,
            vhost,
            is_default_version: api.is_default_version,
            lifecycle: api.life_cycle_status,
            authorization_header: definition.authorization_header,
            security_scheme: definition.security_scheme,
            gateway: definition.gateway,
            endpoint_config: definition.endpoint_config,
            cors_configuration: definition.cors_configuration,
            operations: definition.operations,
            client_certificates: certificates,
        });
    }
    after.normalize();
    let served_before = compiler.served_routes(&before).unwrap_or_default();
    let (applies, problems, served_after) = match compiler.served_routes(&after) {
        Ok(routes) => (true, Vec::new(), routes),
        Err(problems) => (false, problems, Vec::new()),
    };
    let mut answer = json!({
        "apiId": api_id,
        "revisionId": revision_id,
        "environment": environment,
        "applies": applies,
        "problems": problems,
    });
    if applies {
        answer["routes"] = diff(&served_before, &served_after);
    }
    Ok(axum::Json(answer))
}
