//! Publisher REST API v4 (`/api/am/publisher/v4`): APIs, lifecycle, revisions, deployments,
//! client and endpoint certificates, API products, operation policies, gateway policies.

pub(crate) mod access;
pub mod api_products;
pub mod apis;
pub mod asyncapi;
pub mod client_certificates;
pub mod endpoint_certificates;
pub mod export;
pub mod gateway_policies;
pub mod graphql;
pub mod import;
pub mod mcp_servers;
pub mod openapi;
pub mod operation_policies;
pub mod preview;
pub mod product_project;
pub mod project_docs;
pub mod revisions;
pub mod rollouts;
pub mod subscriptions;
pub mod wsdl;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};

use crate::AppState;
use crate::rest_scopes;

/// Routes under `/api/am/publisher/v4`.
pub fn router() -> Router<AppState> {
    Router::new()
        .merge(crate::lookups::publisher())
        .merge(crate::documents::publisher())
        .merge(crate::categories::publisher())
        .merge(crate::feedback::publisher())
        .merge(crate::scopes::publisher())
        .merge(endpoint_certificates::router())
        .merge(crate::admin::llm_providers::publisher_router())
        .route("/apis", get(apis::list).post(apis::create))
        .route("/apis/import-openapi", post(openapi::import))
        .route("/apis/validate-openapi", post(openapi::validate))
        .route("/apis/import-wsdl", post(wsdl::import))
        .route("/apis/validate-wsdl", post(wsdl::validate))
        .route(
            "/apis/{api_id}/wsdl",
            get(wsdl::get_definition).put(wsdl::put_definition),
        )
        .route("/apis/import-asyncapi", post(asyncapi::import))
        .route("/apis/validate-asyncapi", post(asyncapi::validate))
        .route(
            "/apis/{api_id}/asyncapi",
            get(asyncapi::get_definition).put(asyncapi::put_definition),
        )
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
        .route("/api-products/export", get(product_project::export))
        .route(
            "/api-products/import",
            post(product_project::import).layer(DefaultBodyLimit::max(import::MAX_UPLOAD_BYTES)),
        )
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
            get(apis::get_lifecycle_state::<rest_scopes::ApiLifecycleView>),
        )
        .route(
            "/apis/{api_id}/lifecycle-state/pending-tasks",
            axum::routing::delete(apis::delete_pending_lifecycle_tasks),
        )
        .route(
            "/apis/{api_id}/lifecycle-history",
            get(apis::get_lifecycle_history::<rest_scopes::ApiLifecycleView>),
        )
        .route(
            "/apis/{api_id}/revisions",
            get(revisions::list::<rest_scopes::ApiLifecycleView>)
                .post(revisions::create::<rest_scopes::ApiDeploy>),
        )
        .route(
            "/apis/{api_id}/revisions/{revision_id}",
            get(revisions::get_one::<rest_scopes::ApiLifecycleView>)
                .delete(revisions::delete::<rest_scopes::ApiDeploy>),
        )
        .route(
            "/apis/{api_id}/revisions/{revision_id}/deployment-preview",
            post(preview::deployment_preview),
        )
        .route(
            "/apis/{api_id}/deploy-revision",
            post(revisions::deploy::<rest_scopes::ApiDeploy>),
        )
        .route(
            "/apis/{api_id}/undeploy-revision",
            post(revisions::undeploy::<rest_scopes::ApiDeploy>),
        )
        .route(
            "/apis/{api_id}/deployments",
            get(revisions::deployments::<rest_scopes::ApiLifecycleView>),
        )
        .route(
            "/apis/{api_id}/rollouts",
            get(rollouts::list).post(rollouts::start),
        )
        .route(
            "/apis/{api_id}/rollouts/{rollout_id}",
            get(rollouts::get_one),
        )
        .route(
            "/apis/{api_id}/rollouts/{rollout_id}/{action}",
            post(rollouts::act),
        )
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
        .merge(mcp_server_routes())
        .route(
            "/api-products",
            get(api_products::list).post(api_products::create),
        )
        .route(
            "/api-products/change-lifecycle",
            post(api_products::change_lifecycle),
        )
        .route(
            "/api-products/{product_id}",
            get(api_products::get_one)
                .put(api_products::update)
                .delete(api_products::delete),
        )
        .route(
            "/api-products/{product_id}/swagger",
            get(api_products::swagger),
        )
        .route(
            "/api-products/{product_id}/is-outdated",
            get(api_products::is_outdated),
        )
        .route(
            "/api-products/{product_id}/lifecycle-state",
            get(api_products::get_lifecycle_state),
        )
        .route(
            "/api-products/{product_id}/lifecycle-history",
            get(api_products::get_lifecycle_history),
        )
        .route(
            "/api-products/{product_id}/revisions",
            get(api_products::list_revisions).post(api_products::create_revision),
        )
        .route(
            "/api-products/{product_id}/revisions/{revision_id}",
            get(api_products::get_revision).delete(api_products::delete_revision),
        )
        .route(
            "/api-products/{product_id}/deploy-revision",
            post(api_products::deploy),
        )
        .route(
            "/api-products/{product_id}/undeploy-revision",
            post(api_products::undeploy),
        )
        .route(
            "/api-products/{product_id}/deployments",
            get(api_products::deployments),
        )
        .route(
            "/api-products/{product_id}/rollouts",
            get(rollouts::list_product).post(rollouts::start_product),
        )
        .route(
            "/api-products/{product_id}/rollouts/{rollout_id}",
            get(rollouts::get_one_product),
        )
        .route(
            "/api-products/{product_id}/rollouts/{rollout_id}/{action}",
            post(rollouts::act_product),
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

/// `/mcp-servers`: the MCP handlers, and the API handlers for what an MCP server shares with
/// an API (revisions, deployments, lifecycle), under WSO2's MCP scopes.
fn mcp_server_routes() -> Router<AppState> {
    use rest_scopes::{McpServerDeploy as Deploy, McpServerLifecycleView as View};
    Router::new()
        .route("/mcp-servers", get(mcp_servers::list))
        .route(
            "/mcp-servers/generate-from-api",
            post(mcp_servers::from_api),
        )
        .route(
            "/mcp-servers/generate-from-openapi",
            post(mcp_servers::from_openapi),
        )
        .route(
            "/mcp-servers/generate-from-mcp-server",
            post(mcp_servers::from_mcp_server),
        )
        .route(
            "/mcp-servers/validate-mcp-server",
            post(mcp_servers::validate_mcp_server),
        )
        .route(
            "/mcp-servers/change-lifecycle",
            post(mcp_servers::change_lifecycle),
        )
        .route(
            "/mcp-servers/{api_id}",
            get(mcp_servers::get_one).delete(mcp_servers::delete),
        )
        .route(
            "/mcp-servers/{api_id}/revisions",
            get(revisions::list::<View>).post(revisions::create::<Deploy>),
        )
        .route(
            "/mcp-servers/{api_id}/revisions/{revision_id}",
            get(revisions::get_one::<View>).delete(revisions::delete::<Deploy>),
        )
        .route(
            "/mcp-servers/{api_id}/deploy-revision",
            post(revisions::deploy::<Deploy>),
        )
        .route(
            "/mcp-servers/{api_id}/undeploy-revision",
            post(revisions::undeploy::<Deploy>),
        )
        .route(
            "/mcp-servers/{api_id}/deployments",
            get(revisions::deployments::<View>),
        )
        .route(
            "/mcp-servers/{api_id}/lifecycle-state",
            get(apis::get_lifecycle_state::<View>),
        )
        .route(
            "/mcp-servers/{api_id}/lifecycle-history",
            get(apis::get_lifecycle_history::<View>),
        )
}
