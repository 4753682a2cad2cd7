//! The control plane: Publisher, Developer Portal and Key Manager REST APIs over one store,
//! and the source of the configuration snapshots gateways serve from.
//!
//! Handlers live in `publisher/`, `devportal/` and `oauth`; each change that a gateway must
//! learn ends with [`AppState::sync_environments`], which rebuilds the affected environments'
//! snapshots and hands them to the [`Distributor`].
#![forbid(unsafe_code)]

pub mod admin;
pub mod api_docs;
pub mod api_search;
pub mod bootstrap;
pub mod credentials;
pub mod devportal;
pub mod distribution;
pub mod error;
pub mod extract;
pub mod keyring;
pub mod metrics;
pub mod oauth;
pub mod portal;
pub mod publisher;
pub mod rejection;
pub mod rest_scopes;
pub mod scim;
pub mod self_signup;
pub mod server;
pub mod tls;
mod wire;

use std::sync::{Arc, OnceLock};

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use gantry_keys::TokenIssuer;
use gantry_keys::assertion::AssertionVerifier;
use gantry_model::snapshot::{IssuerKey, TrustedIssuer};
use gantry_store::Store;
use gantry_sync::Distributor;
use serde_json::json;

use crate::error::ApiError;
use crate::extract::CredentialCache;
use crate::keyring::KeyRing;
use crate::oauth::abuse::FailureLimiter;
use crate::oauth::jwt_bearer::AssertionReplay;

/// Largest request body the REST APIs accept.
pub const MAX_BODY_BYTES: usize = 2 * 1024 * 1024;

/// Shared state of every handler; cheap to clone.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

struct Inner {
    metrics: metrics::ControlPlaneMetrics,
    require_gateway_client_certificate: bool,
    store: Store,
    issuer: TokenIssuer,
    distributor: Arc<Distributor>,
    credentials: CredentialCache,
    key_ring: KeyRing,
    failures: FailureLimiter,
    assertions: OnceLock<AssertionVerifier>,
    assertion_replay: AssertionReplay,
    self_signup: bool,
    gateway_url: Option<String>,
}

impl AppState {
    /// State over `store`, signing tokens with `issuer` (whose keys `key_ring` manages),
    /// publishing to `distributor`.
    pub fn new(
        store: Store,
        issuer: TokenIssuer,
        key_ring: KeyRing,
        distributor: Arc<Distributor>,
    ) -> Self {
        Self(Arc::new(Inner {
            metrics: metrics::ControlPlaneMetrics::default(),
            require_gateway_client_certificate: false,
            store,
            issuer,
            distributor,
            credentials: CredentialCache::default(),
            key_ring,
            failures: FailureLimiter::default(),
            assertions: OnceLock::new(),
            assertion_replay: AssertionReplay::default(),
            self_signup: false,
            gateway_url: None,
        }))
    }

    /// Requires gateways to present a client certificate verified by the TLS listener (call
    /// right after [`AppState::new`], before the state is shared).
    pub fn require_gateway_client_certificate(mut self, required: bool) -> Self {
        if let Some(inner) = Arc::get_mut(&mut self.0) {
            inner.require_gateway_client_certificate = required;
        }
        self
    }

    /// Lets visitors create their own subscriber account in the developer portal (call
    /// right after [`AppState::new`], before the state is shared).
    pub fn self_signup(mut self, enabled: bool) -> Self {
        if let Some(inner) = Arc::get_mut(&mut self.0) {
            inner.self_signup = enabled;
        }
        self
    }

    /// The gateway the developer portal's "Try it" console calls, e.g.
    /// `http://localhost:9090` (call right after [`AppState::new`]).
    pub fn gateway_url(mut self, url: Option<String>) -> Self {
        if let Some(inner) = Arc::get_mut(&mut self.0) {
            inner.gateway_url = url.map(|u| u.trim_end_matches('/').to_owned());
        }
        self
    }

    /// Whether the developer portal offers self sign-up.
    pub fn self_signup_enabled(&self) -> bool {
        self.0.self_signup
    }

    /// The gateway URL for "Try it", when known.
    pub fn gateway_base_url(&self) -> Option<&str> {
        self.0.gateway_url.as_deref()
    }

    /// Trusts the identity providers of `verifier` for the JWT bearer grant (once, at
    /// start); false when already set.
    pub fn trust_assertion_issuers(&self, verifier: AssertionVerifier) -> bool {
        self.0.assertions.set(verifier).is_ok()
    }

    pub(crate) fn assertion_verifier(&self) -> Option<&AssertionVerifier> {
        self.0.assertions.get().filter(|v| !v.is_empty())
    }

    pub(crate) fn assertion_replay(&self) -> &AssertionReplay {
        &self.0.assertion_replay
    }

    /// The signing keys' manager.
    pub fn key_ring(&self) -> &KeyRing {
        &self.0.key_ring
    }

    pub(crate) fn failures(&self) -> &FailureLimiter {
        &self.0.failures
    }

    /// The control plane's metrics.
    pub fn metrics(&self) -> &metrics::ControlPlaneMetrics {
        &self.0.metrics
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.0.store
    }

    /// The token issuer.
    pub fn issuer(&self) -> &TokenIssuer {
        &self.0.issuer
    }

    /// The snapshot distributor.
    pub fn distributor(&self) -> &Arc<Distributor> {
        &self.0.distributor
    }

    pub(crate) fn credential_cache(&self) -> &CredentialCache {
        &self.0.credentials
    }

    /// The issuers gateways must trust: the resident key manager with every published key
    /// (next, active, retired), so tokens verify across a rotation.
    pub(crate) fn trusted_issuers(&self) -> Vec<TrustedIssuer> {
        let keys = self.issuer().keys();
        vec![TrustedIssuer {
            issuer: self.issuer().issuer().to_owned(),
            keys: keys
                .published()
                .iter()
                .map(|jwk| IssuerKey {
                    kid: jwk.kid.clone(),
                    alg: jwk.alg.clone(),
                    n: jwk.n.clone().unwrap_or_default(),
                    e: jwk.e.clone().unwrap_or_default(),
                    crv: jwk.crv.clone(),
                    x: jwk.x.clone(),
                    y: jwk.y.clone(),
                })
                .collect(),
            jwks_uri: None,
            resident: true,
        }]
    }
}

/// Hashes a new OAuth2 client secret (Argon2id) off the async runtime.
pub(crate) async fn hash_client_secret(secret: &str) -> Result<String, ApiError> {
    let secret = secret.to_owned();
    credentials::argon2(move || gantry_keys::secret::hash_client_secret(&secret))
        .await?
        .map_err(ApiError::from)
}

/// Checks a presented client secret against its stored hash; a success is remembered for a
/// few minutes (keyed by the stored hash, so a regenerated secret starts afresh), so the
/// token endpoint pays Argon2 once per client, not once per request.
pub(crate) async fn verify_client_secret(state: &AppState, secret: &str, stored: &str) -> bool {
    let cache_user = format!("client\0{stored}");
    if state
        .credential_cache()
        .check(&cache_user, secret)
        .is_some()
    {
        return true;
    }
    let (candidate, hash) = (secret.to_owned(), stored.to_owned());
    let valid =
        credentials::argon2(move || gantry_keys::secret::verify_client_secret(&candidate, &hash))
            .await
            .unwrap_or(false);
    if valid {
        state.credential_cache().remember(
            &cache_user,
            secret,
            &credentials::VerifiedUser::default(),
        );
    }
    valid
}

/// The whole REST surface of the control plane.
pub fn router(state: AppState) -> Router {
    // The WSO2 REST APIs answer every error, axum's rejections too, in their JSON shape.
    let rest = |api: Router<AppState>| api.layer(axum::middleware::from_fn(rejection::json_errors));
    Router::new()
        .nest("/api/am/publisher/v4", rest(publisher::router()))
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
            .require_client_certificate(state.0.require_gateway_client_certificate)
            .into_server(),
        )
        .route("/metrics", get(metrics::serve))
        .route("/health/live", get(live))
        .route("/health/ready", get(ready))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            metrics::track,
        ))
        .layer(axum::middleware::map_response(strict_transport_security))
        .with_state(state)
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

async fn live() -> Response {
    axum::Json(json!({"status": "UP"})).into_response()
}

async fn ready(State(state): State<AppState>) -> Response {
    match state.store().is_migrated().await {
        Ok(true) => axum::Json(json!({"status": "READY"})).into_response(),
        Ok(false) => (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(
                json!({"status": "NOT_READY", "reason": "database migrations are not applied"}),
            ),
        )
            .into_response(),
        Err(error) => (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(
                json!({"status": "NOT_READY", "reason": format!("database unreachable: {error}")}),
            ),
        )
            .into_response(),
    }
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
