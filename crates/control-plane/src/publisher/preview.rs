//! `POST /apis/{apiId}/revisions/{revisionId}/deployment-preview?environment=[&vhost=]`
//! (Gantry; WSO2 has no equivalent): the routes the environment's gateways would add,
//! remove or change if the revision were deployed there, and whether they could apply it.

use axum::extract::{Path, State};
use serde::Deserialize;
use serde_json::Value;

use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::extract::{QueryParams, Scoped};
use crate::preview::{Candidate, preview};
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
    let candidate = Candidate {
        api_id: &api.id,
        revision_id: &revision.id,
        definition: revision.definition,
        lifecycle: api.life_cycle_status,
        is_default_version: api.is_default_version,
    };
    let answer = preview(&state, candidate, &environment, query.vhost.as_deref()).await?;
    Ok(axum::Json(answer))
}
