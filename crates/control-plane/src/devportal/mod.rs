//! Developer Portal REST API v3 (`/api/am/devportal/v3`): published APIs, applications,
//! their keys, and subscriptions. Every resource is scoped to its owner: another user's ids answer 404.

pub mod api_keys;
pub mod api_products;
pub mod apis;
pub mod application_project;
pub mod applications;
pub mod graphql;
pub mod key_tokens;
pub mod mcp_servers;
pub mod subscriptions;

use axum::Router;
use axum::routing::{get, post};

use crate::AppState;

/// Routes under `/api/am/devportal/v3`.
pub fn router() -> Router<AppState> {
    Router::new()
        .merge(crate::lookups::devportal())
        .merge(crate::documents::devportal())
        .merge(crate::categories::devportal())
        .merge(crate::feedback::devportal())
        .route("/apis", get(apis::list))
        .route("/apis/{api_id}", get(apis::get_one))
        .route("/mcp-servers", get(mcp_servers::list))
        .route("/mcp-servers/{api_id}", get(mcp_servers::get_one))
        .route("/apis/{api_id}/graphql-schema", get(graphql::get_schema))
        .route(
            "/apis/{api_id}/graphql-policies/complexity",
            get(graphql::get_complexity),
        )
        .route(
            "/apis/{api_id}/graphql-policies/complexity/types",
            get(graphql::get_types),
        )
        .route("/applications/export", get(application_project::export))
        .route(
            "/applications/import",
            post(application_project::import).layer(axum::extract::DefaultBodyLimit::max(
                application_project::MAX_UPLOAD_BYTES,
            )),
        )
        .route(
            "/applications",
            get(applications::list).post(applications::create),
        )
        .route(
            "/applications/{application_id}",
            get(applications::get_one)
                .put(applications::update)
                .delete(applications::delete),
        )
        .route(
            "/applications/{application_id}/generate-keys",
            post(applications::generate_keys),
        )
        .route(
            "/applications/{application_id}/map-keys",
            post(applications::map_keys),
        )
        .route(
            "/applications/{application_id}/keys",
            get(applications::list_keys),
        )
        .route(
            "/applications/{application_id}/oauth-keys",
            get(applications::list_keys),
        )
        .route(
            "/applications/{application_id}/oauth-keys/{key_mapping_id}",
            get(key_tokens::get_key)
                .put(key_tokens::update_key)
                .delete(applications::delete_key),
        )
        .route(
            "/applications/{application_id}/keys/{key_type}",
            get(key_tokens::get_key).put(key_tokens::update_key),
        )
        .route(
            "/applications/{application_id}/oauth-keys/{key_mapping_id}/regenerate-secret",
            post(key_tokens::regenerate_secret),
        )
        .route(
            "/applications/{application_id}/keys/{key_type}/regenerate-secret",
            post(key_tokens::regenerate_secret),
        )
        .route(
            "/applications/{application_id}/oauth-keys/{key_mapping_id}/generate-token",
            post(key_tokens::generate_token),
        )
        .route(
            "/applications/{application_id}/keys/{key_type}/generate-token",
            post(key_tokens::generate_token),
        )
        .route(
            "/applications/{application_id}/oauth-keys/{key_mapping_id}/clean-up",
            post(key_tokens::clean_up),
        )
        .route(
            "/applications/{application_id}/keys/{key_type}/clean-up",
            post(key_tokens::clean_up),
        )
        .route(
            "/applications/{application_id}/api-keys/{key_type}/generate",
            post(api_keys::generate),
        )
        .route(
            "/applications/{application_id}/api-keys/{key_type}/revoke",
            post(api_keys::revoke),
        )
        .route(
            "/applications/{application_id}/api-keys/{key_type}",
            get(api_keys::list),
        )
        .route(
            "/applications/{application_id}/api-keys/{key_type}/regenerate",
            post(api_keys::regenerate),
        )
        .route(
            "/subscriptions",
            get(subscriptions::list).post(subscriptions::create),
        )
        .route(
            "/subscriptions/{subscription_id}",
            get(subscriptions::get_one)
                .put(subscriptions::update)
                .delete(subscriptions::delete),
        )
}
