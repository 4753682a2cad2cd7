//! Publisher REST API v4 (`/api/am/publisher/v4`): APIs, lifecycle, revisions, deployments,
//! client certificates.

pub mod apis;
pub mod client_certificates;
pub mod export;
pub mod graphql;
pub mod import;
pub mod openapi;
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
        .route("/apis/import-graphql-schema", post(graphql::import))
        .route("/apis/validate-graphql-schema", post(graphql::validate))
        .route(
            "/apis/{api_id}/graphql-schema",
            get(graphql::get_schema).put(graphql::put_schema),
        )
        .route(
            "/apis/{api_id}/graphql-policies/complexity",
            get(graphql::get_complexity).put(graphql::put_complexity),
        )
        .route(
            "/apis/{api_id}/graphql-policies/complexity/types",
            get(graphql::get_types),
        )
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
