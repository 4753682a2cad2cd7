//! Publisher access control (WSO2's `accessControl: RESTRICTED` + `accessControlRoles`),
//! enforced once for every Publisher resource of an API: `/apis/{apiId}` and everything
//! under it (revisions, deployments, definitions, certificates, …), and the resources that
//! name the API in an `apiId=` query parameter (`change-lifecycle`, `subscriptions`,
//! `export`, …). A publisher who may not access the API gets the same 404 as for an API
//! that does not exist, as WSO2 answers, whichever resource they call — so a resource added
//! later is covered without a check of its own.
//!
//! Runs after [`crate::api_handles`] has put ids in place of handles. Only an API that is
//! restricted costs an authentication here; the user found is left in the request's
//! extensions, so the handler's [`AuthUser`] extractor does not verify the credentials twice.

use axum::extract::{FromRequestParts, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use gantry_model::Api;

use super::apis::may_access;
use crate::AppState;
use crate::api_handles::is_uuid;
use crate::error::ApiError;
use crate::extract::AuthUser;

/// Refuses, with 404, a caller who may not access the API the request is about.
pub(crate) async fn guard(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let Some(api_id) = api_of(&request) else {
        return next.run(request).await;
    };
    let api: Api = match gantry_store::apis::get(state.store(), &api_id).await {
        Ok(api) => api,
        // Unknown APIs (and store errors) are the handler's to answer.
        Err(_) => return next.run(request).await,
    };
    if api.details.access_control != "RESTRICTED" {
        return next.run(request).await;
    }
    let (mut parts, body) = request.into_parts();
    let found: Result<AuthUser, ApiError> =
        <AuthUser as FromRequestParts<AppState>>::from_request_parts(&mut parts, &state).await;
    let user = match found {
        Ok(user) => user,
        Err(refusal) => return refusal.into_response(),
    };
    if !may_access(&api, &user) {
        return ApiError::not_found("API", &api_id).into_response();
    }
    parts.extensions.insert(user);
    next.run(Request::from_parts(parts, body)).await
}

/// The API id the request names: the segment after `/apis/` (when it is not one of the
/// collection's own resources, `import-openapi`, `change-lifecycle`, …: API ids are
/// UUIDs), else an `apiId=` query parameter.
fn api_of(request: &Request) -> Option<String> {
    let path = request.uri().path();
    let in_path = path
        .split_once("/apis/")
        .map(|(_, rest)| rest.split('/').next().unwrap_or_default())
        .filter(|segment| is_uuid(segment));
    if let Some(id) = in_path {
        return Some(id.to_owned());
    }
    request
        .uri()
        .query()?
        .split('&')
        .find_map(|pair| pair.strip_prefix("apiId="))
        .filter(|id| is_uuid(id))
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(uri: &str) -> Request {
        Request::builder()
            .uri(uri)
            .body(axum::body::Body::empty())
            .unwrap_or_default()
    }

    #[test]
    fn the_api_is_found_in_the_path_or_the_query() {
        let id = "0c0ffee0-0000-4000-8000-000000000000";
        for uri in [
            format!("/apis/{id}"),
            format!("/apis/{id}/revisions/x"),
            format!("/apis/change-lifecycle?action=Publish&apiId={id}"),
            format!("/subscriptions?apiId={id}"),
        ] {
            assert_eq!(api_of(&request(&uri)).as_deref(), Some(id), "{uri}");
        }
        for uri in ["/apis", "/apis/import-openapi", "/apis/export?apiId=nope"] {
            assert_eq!(api_of(&request(uri)), None, "{uri}");
        }
    }
}
