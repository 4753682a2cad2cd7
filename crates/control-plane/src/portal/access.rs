//! Publisher access control in the Publisher portal, as in the REST API
//! (`crate::publisher::access`): an API whose `accessControl` is `RESTRICTED` is, for a
//! signed-in user who is not its provider, an admin nor a holder of one of its
//! `accessControlRoles`, a page that does not exist, on every page and form under
//! `/publisher/apis/{apiId}` (so a page added later is covered without a check of its own),
//! and it is left out of the list.

use axum::extract::{FromRequestParts, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use gantry_model::Api;

use super::PortalError;
use super::session::{SignedIn, User};
use crate::AppState;
use crate::publisher::apis::may_manage;

/// Whether `user` may see and change `api` in the Publisher.
pub(super) fn may_see(api: &Api, user: &SignedIn) -> bool {
    may_manage(&api.provider, &api.details, &user.username, &user.roles)
}

/// Answers 404 for a page of an API the signed-in user may not manage.
pub(super) async fn guard(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let Some(api_id) = request
        .uri()
        .path()
        .strip_prefix("/publisher/apis/")
        .and_then(|rest| rest.split('/').next())
        .filter(|id| !id.is_empty())
        .map(str::to_owned)
    else {
        return next.run(request).await;
    };
    let api = match gantry_store::apis::get(state.store(), &api_id).await {
        Ok(api) if api.details.access_control == "RESTRICTED" => api,
        // Open APIs, unknown ids (`new`) and store errors are the page's to answer.
        _ => return next.run(request).await,
    };
    let (mut parts, body) = request.into_parts();
    let user = match User::from_request_parts(&mut parts, &state).await {
        Ok(User(user)) => user,
        Err(refusal) => return refusal.into_response(),
    };
    if !may_see(&api, &user) {
        return PortalError::NotFound(format!("API '{api_id}' does not exist")).into_response();
    }
    next.run(Request::from_parts(parts, body)).await
}
