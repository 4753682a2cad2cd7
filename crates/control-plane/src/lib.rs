//! The control plane: Publisher, Developer Portal and Key Manager REST APIs over one store,
//! and the source of the configuration snapshots gateways serve from.
//!
//! This file holds the module list and the router; [`AppState`] lives in `state.rs`. The REST
//! handlers (`publisher/`, `devportal/`, `admin/`: WSO2 JSON) and the HTML portals
//! (`portal/`) are edges over one layer of domain operations, [`service`]; each change that
//! a gateway must learn ends with [`AppState::sync_environments`], which rebuilds the
//! affected environments' snapshots and hands them to the distributor.
#![forbid(unsafe_code)]

pub mod admin;
pub mod api_docs;
mod api_handles;
pub mod api_search;
pub mod bootstrap;
mod categories;
pub mod credentials;
pub mod devportal;
pub mod distribution;
mod documents;
pub mod error;
pub mod extract;
mod feedback;
mod health;
pub mod keyring;
mod lookups;
pub mod metrics;
pub mod oauth;
pub mod portal;
pub mod preview;
pub mod project;
pub mod publisher;
pub mod rejection;
pub mod rest_scopes;
pub mod scim;
mod scopes;
pub mod self_signup;
pub mod server;
pub mod service;
pub mod state;
mod system_scopes;
pub mod tls;
mod wire;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;

pub(crate) use crate::credentials::{hash_client_secret, verify_client_secret};
use crate::error::ApiError;
pub use crate::state::AppState;

/// Largest request body the REST APIs accept.
pub const MAX_BODY_BYTES: usize = 2 * 1024 * 1024;

/// The whole REST surface of the control plane.
pub fn router(state: AppState) -> Router {
    // The WSO2 REST APIs answer every error, axum's rejections too, in their JSON shape.
    let rest = |api: Router<AppState>| api.layer(axum::middleware::from_fn(rejection::json_errors));
    let routes = Router::new()
        .nest(
            "/api/am/publisher/v4",
            rest(publisher::router()).layer(axum::middleware::from_fn_with_state(
                state.clone(),
                publisher::access::guard,
            )),
        )
        .nest("/api/am/devportal/v3", rest(devportal::router()))
        // WSO2's v3 spec still shows v2 paths in its samples: serve both.
        .nest("/api/am/devportal/v2", rest(devportal::router()))
        .nest("/api/am/admin/v4", rest(admin::router()))
        .merge(oauth::router())
        .merge(scim::router())
        .merge(api_docs::router())
        .route(
            "/api/identity/user/v1.0/me",
            axum::routing::post(self_signup::sign_up),
        )
        .merge(portal::router(state.clone()))
        .route_service(
            "/gantry.sync.v1.ConfigSync/Stream",
            gantry_sync::server::SyncService::new(
                state.distributor().clone(),
                Arc::new(distribution::StoreAccess::new(state.clone())),
            )
            .require_client_certificate(state.gateway_client_certificate_required())
            .stop_on(state.shutdown_token().clone())
            .into_server(),
        )
        .route("/metrics", get(metrics::serve))
        .route("/health/live", get(health::live))
        .route("/health/ready", get(health::ready))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            health::guard,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            metrics::track,
        ))
        .layer(axum::middleware::map_response(strict_transport_security))
        .with_state(state.clone());
    // API handles (`provider-name-version`) become ids before routing, so every handler
    // sees ids only.
    let handles = axum::middleware::from_fn_with_state(state, api_handles::resolve);
    Router::new().fallback_service(tower::Layer::layer(&handles, routes))
}

/// The control plane is only served over TLS ([`server::serve_tls`]): every response tells
/// browsers to use HTTPS for the host from now on (portals, REST, OAuth2 alike).
async fn strict_transport_security(mut response: Response) -> Response {
    response.headers_mut().insert(
        axum::http::header::STRICT_TRANSPORT_SECURITY,
        axum::http::HeaderValue::from_static("max-age=31536000; includeSubDomains"),
    );
    response
}

async fn method_not_allowed() -> Response {
    error::error_response(
        StatusCode::METHOD_NOT_ALLOWED,
        "Method Not Allowed",
        "The resource does not support this method",
    )
}

async fn not_found() -> ApiError {
    ApiError::NotFound("No such resource".into())
}
