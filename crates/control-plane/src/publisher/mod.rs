//! Publisher REST API v4 (`/api/am/publisher/v4`): APIs, lifecycle, revisions, deployments,
//! client certificates, operation policies, gateway policies.

pub mod apis;
pub mod client_certificates;
pub mod export;
pub mod gateway_policies;
pub mod import;
pub mod openapi;
pub mod operation_policies;
pub mod preview;
pub mod revisions;
pub mod subscriptions;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};

use crate::AppState;

/// Routes under `/api/am/publisher/v4`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/apis", get(apis::list).post(apis::create))
        .route("/apis/import-openapi", post(openapi::import))
        .route("/apis/validate-openapi", post(openapi::validate))
        .route("/apis/export", get(export::export))
        .route(
            "/apis/import",
            post(import::import).layer(DefaultBodyLimit::max(import::MAX_UPLOAD_BYTES)),
        )
        .route("/apis/copy-api", post(apis::copy_api))
        .route(
            "/apis/{api_id}/swagger",
            get(openapi::get_definition).put(openapi::put_definition),
        )
        .route(
            "/apis/change-lifecycle",
            post(apis::change_lifecycle_handler),
        )
        .route(
            "/apis/{api_id}",
            get(apis::get_one).put(apis::update).delete(apis::delete),
        )
        .route(
            "/apis/{api_id}/lifecycle-state",
            get(apis::get_lifecycle_state),
        )
        .route(
            "/apis/{api_id}/lifecycle-state/pending-tasks",
            axum::routing::delete(apis::delete_pending_lifecycle_tasks),
        )
        .route(
            "/apis/{api_id}/lifecycle-history",
            get(apis::get_lifecycle_history),
        )
        .route(
            "/apis/{api_id}/revisions",
            get(revisions::list).post(revisions::create),
        )
        .route(
            "/apis/{api_id}/revisions/{revision_id}",
            get(revisions::get_one).delete(revisions::delete),
        )
        .route(
            "/apis/{api_id}/revisions/{revision_id}/deployment-preview",
            post(preview::deployment_preview),
        )
        .route("/apis/{api_id}/deploy-revision", post(revisions::deploy))
        .route(
            "/apis/{api_id}/undeploy-revision",
            post(revisions::undeploy),
        )
        .route("/apis/{api_id}/deployments", get(revisions::deployments))
        .route(
            "/apis/{api_id}/client-certificates",
            get(client_certificates::list).post(client_certificates::add),
        )
        .route(
            "/apis/{api_id}/client-certificates/{alias}",
            get(client_certificates::get_one)
                .put(client_certificates::update)
                .delete(client_certificates::delete),
        )
        .route(
            "/apis/{api_id}/client-certificates/{alias}/content",
            get(client_certificates::content),
        )
        .route(
            "/operation-policies",
            get(operation_policies::list_common).post(operation_policies::add_common),
        )
        .route(
            "/operation-policies/{policy_id}",
            get(operation_policies::get_common).delete(operation_policies::delete_common),
        )
        .route(
            "/operation-policies/{policy_id}/content",
            get(operation_policies::content_common),
        )
        .route(
            "/apis/{api_id}/operation-policies",
            get(operation_policies::list_api).post(operation_policies::add_api),
        )
        .route(
            "/apis/{api_id}/operation-policies/{policy_id}",
            get(operation_policies::get_api).delete(operation_policies::delete_api),
        )
        .route(
            "/apis/{api_id}/operation-policies/{policy_id}/content",
            get(operation_policies::content_api),
        )
        .route(
            "/gateway-policies",
            get(gateway_policies::list).post(gateway_policies::create),
        )
        .route(
            "/gateway-policies/{mapping_id}",
            get(gateway_policies::get_one)
                .put(gateway_policies::update)
                .delete(gateway_policies::delete),
        )
        .route(
            "/gateway-policies/{mapping_id}/deploy",
            post(gateway_policies::deploy),
        )
        .route("/subscriptions", get(subscriptions::list))
        .route(
            "/subscriptions/block-subscription",
            post(subscriptions::block),
        )
        .route(
            "/subscriptions/unblock-subscription",
            post(subscriptions::unblock),
        )
}
