//! [`AppState`]: what every handler and domain operation shares (the store, the token
//! issuer, the distributor, caches and limits), with its builder methods and accessors.

use std::sync::{Arc, OnceLock};

use gantry_keys::TokenIssuer;
use gantry_keys::assertion::AssertionVerifier;
use gantry_model::snapshot::{IssuerKey, TrustedIssuer};
use gantry_store::Store;
use gantry_sync::Distributor;

use crate::extract::CredentialCache;
use crate::keyring::KeyRing;
use crate::oauth::abuse::FailureLimiter;
use crate::oauth::jwt_bearer::AssertionReplay;

/// Shared state of every handler; cheap to clone.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

struct Inner {
    metrics: crate::metrics::ControlPlaneMetrics,
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
    workflows: crate::service::workflows::WorkflowSettings,
    /// The Prometheus servers rollout plans may query (base URLs, no trailing `/`).
    rollout_prometheus_urls: Vec<String>,
    /// The gateways' route compiler, for deployment previews (set by the binary).
    route_compiler: Option<Arc<dyn crate::preview::RouteCompiler>>,
    /// Fired when the process shuts down: long-lived work (gateway sync sessions) ends.
    shutdown: tokio_util::sync::CancellationToken,
    sync: crate::distribution::SyncState,
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
            metrics: crate::metrics::ControlPlaneMetrics::default(),
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
            workflows: Default::default(),
            rollout_prometheus_urls: Vec::new(),
            route_compiler: None,
            shutdown: tokio_util::sync::CancellationToken::new(),
            sync: crate::distribution::SyncState::default(),
        }))
    }

    /// Compares this replica's snapshots with the store every `interval` (default
    /// [`crate::distribution::RECONCILE_INTERVAL`]; call right after [`AppState::new`]).
    pub fn reconcile_every(mut self, interval: std::time::Duration) -> Self {
        if let Some(inner) = Arc::get_mut(&mut self.0) {
            inner.sync = crate::distribution::SyncState::new(interval);
        }
        self
    }

    pub(crate) fn sync_state(&self) -> &crate::distribution::SyncState {
        &self.0.sync
    }

    /// Ends the state's long-lived work (the gateways' sync sessions) when `shutdown` fires
    /// (call right after [`AppState::new`], before the state is shared).
    pub fn stop_on(mut self, shutdown: tokio_util::sync::CancellationToken) -> Self {
        if let Some(inner) = Arc::get_mut(&mut self.0) {
            inner.shutdown = shutdown;
        }
        self
    }

    /// The token that fires at shutdown.
    pub fn shutdown_token(&self) -> &tokio_util::sync::CancellationToken {
        &self.0.shutdown
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

    /// Which workflow types need approval, and their external approvers (call right after
    /// [`AppState::new`], before the state is shared).
    pub fn with_workflows(mut self, settings: crate::service::workflows::WorkflowSettings) -> Self {
        if let Some(inner) = Arc::get_mut(&mut self.0) {
            inner.workflows = settings;
        }
        self
    }

    /// The Prometheus servers rollout plans may name in `analysis.prometheus.url` (call right
    /// after [`AppState::new`]); a plan naming another is refused.
    pub fn rollout_prometheus_urls(mut self, urls: Vec<String>) -> Self {
        if let Some(inner) = Arc::get_mut(&mut self.0) {
            inner.rollout_prometheus_urls = urls
                .into_iter()
                .map(|u| u.trim_end_matches('/').to_owned())
                .collect();
        }
        self
    }

    /// Whether a rollout may send its queries to `url` (an operator listed it).
    pub(crate) fn may_query_prometheus(&self, url: &str) -> bool {
        let url = url.trim_end_matches('/');
        self.0
            .rollout_prometheus_urls
            .iter()
            .any(|allowed| allowed.eq_ignore_ascii_case(url))
    }

    /// The compiler deployment previews run (the gateways' own, provided by the binary,
    /// which links both planes; call right after [`AppState::new`]).
    pub fn route_compiler(mut self, compiler: Arc<dyn crate::preview::RouteCompiler>) -> Self {
        if let Some(inner) = Arc::get_mut(&mut self.0) {
            inner.route_compiler = Some(compiler);
        }
        self
    }

    /// The approval workflows' settings.
    pub fn workflows(&self) -> &crate::service::workflows::WorkflowSettings {
        &self.0.workflows
    }

    /// The route compiler, when the binary provided one.
    pub(crate) fn compiler(&self) -> Option<&Arc<dyn crate::preview::RouteCompiler>> {
        self.0.route_compiler.as_ref()
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
    pub fn metrics(&self) -> &crate::metrics::ControlPlaneMetrics {
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

    /// Whether gateways must present a verified client certificate to the sync service.
    pub(crate) fn gateway_client_certificate_required(&self) -> bool {
        self.0.require_gateway_client_certificate
    }
}
