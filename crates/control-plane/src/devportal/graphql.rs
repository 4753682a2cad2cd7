//! GraphQL APIs in the Developer Portal: `GET /apis/{apiId}/graphql-schema` (the SDL, as
//! text) and the complexity reads, for the APIs the caller may see there.

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use gantry_model::{Api, GraphQlDefinition};
use gantry_store::{StoreError, apis};
use serde_json::Value;

use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::extract::MaybeUser;
use crate::publisher::graphql::{complexity_body, graphql_of, types_body};

/// The GraphQL API `api_id` if the caller may see it in the Developer Portal (404 otherwise;
/// 400 for an API of another type).
async fn load_visible(
    state: &AppState,
    user: &MaybeUser,
    api_id: &str,
) -> ApiResult<(Api, GraphQlDefinition)> {
    let api = match apis::get(state.store(), api_id).await {
        Err(StoreError::NotFound) => return Err(ApiError::not_found("API", api_id)),
        other => other?,
    };
    if !super::apis::visible(&api, user.0.as_ref().map(|u| u.roles.as_slice())) {
        return Err(ApiError::not_found("API", api_id));
    }
    let definition = graphql_of(&api)?;
    Ok((api, definition))
}

/// `GET /apis/{apiId}/graphql-schema`: the schema (SDL) as WSO2 serves it, plain text.
pub(crate) async fn get_schema(
    State(state): State<AppState>,
    user: MaybeUser,
    Path(api_id): Path<String>,
) -> ApiResult<Response> {
    let (_, definition) = load_visible(&state, &user, &api_id).await?;
    Ok((
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        definition.schema,
    )
        .into_response())
}

/// `GET /apis/{apiId}/graphql-policies/complexity`.
pub(crate) async fn get_complexity(
    State(state): State<AppState>,
    user: MaybeUser,
    Path(api_id): Path<String>,
) -> ApiResult<axum::Json<Value>> {
    let (_, definition) = load_visible(&state, &user, &api_id).await?;
    Ok(axum::Json(complexity_body(&definition)))
}

/// `GET /apis/{apiId}/graphql-policies/complexity/types`.
pub(crate) async fn get_types(
    State(state): State<AppState>,
    user: MaybeUser,
    Path(api_id): Path<String>,
) -> ApiResult<axum::Json<Value>> {
    let (_, definition) = load_visible(&state, &user, &api_id).await?;
    Ok(axum::Json(types_body(&definition)?))
}
