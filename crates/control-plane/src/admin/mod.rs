//! Admin REST API v4 (`/api/am/admin/v4`): gateway environments and their gateways
//! (`environments`), signing keys (`signing_keys`), key managers (`key_managers`),
//! throttling policies (`policies`), deny policies (`deny_policies`), custom rules
//! (`custom_rules`), LLM providers (`llm_providers`) and approval workflows (`workflows`). Admin role only.

use axum::Router;

use crate::AppState;

pub mod custom_rules;
pub mod deny_policies;
pub mod environments;
pub mod key_managers;
pub mod llm_providers;
pub mod policies;
pub mod policy_project;
pub mod projects;
pub mod signing_keys;
pub mod workflows;

pub use environments::LIVE_WITHIN_MS;

/// Every Admin v4 route, relative to `/api/am/admin/v4`.
pub fn router() -> Router<AppState> {
    environments::router()
        .merge(signing_keys::router())
        .merge(key_managers::router())
        .merge(policies::router())
        .route(
            "/throttling/policies/export",
            axum::routing::get(policy_project::export),
        )
        .route(
            "/throttling/policies/import",
            axum::routing::post(policy_project::import).layer(
                axum::extract::DefaultBodyLimit::max(policy_project::MAX_UPLOAD_BYTES),
            ),
        )
        .merge(projects::router())
        .merge(workflows::router())
        .merge(crate::lookups::admin())
        .merge(crate::categories::admin())
        .merge(deny_policies::router())
        .merge(custom_rules::router())
        .merge(llm_providers::router())
        .merge(crate::system_scopes::admin())
}
