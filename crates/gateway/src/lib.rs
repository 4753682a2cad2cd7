//! The data plane: a gateway that serves one environment's deployed APIs.
//!
//! It receives versioned snapshots — in-process from a [`SnapshotReceiver`] (`gantry up`)
//! or over the `gantry.sync.v1` stream ([`gantry_sync::client`]) — compiles each into a
//! [`CompiledConfig`] off the request path and swaps it in atomically; the listeners then
//! route, authenticate, authorise and proxy every call with the configuration of the moment.
//! The last applied snapshot is written to disk so a restart can serve before the control
//! plane answers. The gateway never links the control plane's store.
#![forbid(unsafe_code)]

pub mod ai_metrics;
pub mod authn;
pub mod backend_jwt;
pub mod body_limit;
pub mod body_timeout;
pub mod canonical_path;
pub mod compiled;
mod correlation;
pub mod credential;
pub mod endpoint_trust;
pub mod error;
pub mod health;
mod hop_by_hop;
mod metric_name;
pub mod metrics;
pub mod policy;
pub mod proxy;
pub mod ratelimit;
pub mod respond;
pub mod shared_limit;
pub mod stage;
pub mod token_cache;
pub mod traffic;
pub mod upstream_client;
pub mod websub_callback;
pub mod websub_hub;

use std::convert::Infallible;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwapOption;
use gantry_model::GatewaySnapshot;
use gantry_sync::{SnapshotReceiver, Versioned};
use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper::service::service_fn;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use compiled::CompiledConfig;
pub use error::GatewayError;

use crate::respond::Body;

/// How often an in-process gateway tells the control plane it is still there (as a remote
/// gateway's sync session does).
const NODE_HEARTBEAT: Duration = Duration::from_secs(5);

/// An in-process gateway as the control plane records it: its node id, and where to record
/// connects, applied versions (ACK/NACK) and heartbeats, like the sync server does for a
/// remote gateway.
pub struct InProcessNode<A> {
    /// The node id shown in the Admin API and the portal.
    pub id: String,
    /// The control plane's recorder.
    pub access: Arc<A>,
}

/// File name of the persisted snapshot inside the data directory.
const SNAPSHOT_FILE: &str = "snapshot.json";

/// A gateway for one environment.
#[derive(Clone)]
pub struct Gateway {
    environment: Arc<str>,
    config: Arc<ArcSwapOption<CompiledConfig>>,
    /// The snapshot in use, kept in memory only when it is not on disk.
    held: Arc<ArcSwapOption<Versioned>>,
    /// Version and digest of the snapshot in use.
    held_version: Arc<ArcSwapOption<(u64, String)>>,
    proxy: Arc<proxy::Proxy>,
    data_dir: Option<Arc<PathBuf>>,
    sync_status: Arc<gantry_sync::client::SyncStatus>,
    metrics: Arc<metrics::GatewayMetrics>,
    draining: Arc<std::sync::atomic::AtomicBool>,
    /// Run after each configuration is installed and the previous one let go of.
    after_apply: Arc<std::sync::OnceLock<AfterApply>>,
    /// Per API revision counters, shared by every configuration compiled.
    traffic: Arc<traffic::TrafficRegistry>,
    /// The endpoint certificates of the configuration in use, read by upstream TLS.
    endpoint_trust: endpoint_trust::SharedEndpointTrust,
}

/// A hook run after each applied configuration (the binary gives freed memory back).
pub type AfterApply = Box<dyn Fn() + Send + Sync>;

impl Gateway {
    /// A gateway for `environment` with no configuration yet (not ready). With a data
    /// directory, every applied snapshot is persisted there. Upstream certificates are
    /// checked against the web PKI roots; no client certificate is presented.
    pub fn new(environment: &str, data_dir: Option<PathBuf>) -> Self {
        Self::with_upstream_tls(
            environment,
            data_dir,
            &upstream_client::UpstreamTls::default(),
        )
    }

    /// Like [`Gateway::new`], authenticating `https://` upstreams and itself to them as
    /// `tls` says (an extra CA bundle, a client certificate for mutual TLS).
    pub fn with_upstream_tls(
        environment: &str,
        data_dir: Option<PathBuf>,
        tls: &upstream_client::UpstreamTls,
    ) -> Self {
        let config = Arc::new(ArcSwapOption::empty());
        let metrics = Arc::new(metrics::GatewayMetrics::new(environment));
        let traffic: Arc<traffic::TrafficRegistry> = Arc::default();
        metrics.register_revision_series(traffic.revision_series());
        let draining: Arc<std::sync::atomic::AtomicBool> = Arc::default();
        let endpoint_trust = endpoint_trust::SharedEndpointTrust::default();
        Self {
            environment: Arc::from(environment),
            proxy: Arc::new(proxy::Proxy::new(
                config.clone(),
                metrics.clone(),
                draining.clone(),
                upstream_client::UpstreamClients::with_endpoint_trust(tls, endpoint_trust.clone()),
            )),
            metrics,
            draining,
            config,
            held: Arc::new(ArcSwapOption::empty()),
            held_version: Arc::new(ArcSwapOption::empty()),
            data_dir: data_dir.map(Arc::new),
            sync_status: Arc::default(),
            after_apply: Arc::default(),
            traffic,
            endpoint_trust,
        }
    }

    /// Runs `hook` after every configuration this gateway installs (set once; later calls
    /// are ignored).
    pub fn after_each_apply(&self, hook: AfterApply) {
        let _ = self.after_apply.set(hook);
    }

    /// Starts a graceful stop: readiness reports not ready from now on, traffic still flows.
    pub fn start_draining(&self) {
        self.draining
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }

    /// Shares rate limits with the environment's other gateways through Redis at `url`.
    pub fn use_redis(&self, url: &str) -> Result<(), GatewayError> {
        self.proxy.use_redis(url, &self.environment)
    }

    /// Signs backend JWTs with the P-256 private key in `pem` instead of a key generated at
    /// start, so the environment's gateways publish one key.
    pub fn use_backend_jwt_key(&self, pem: &[u8]) -> Result<(), GatewayError> {
        self.proxy.use_backend_jwt_key(pem)
    }

    /// Opens AI APIs' provider keys with the environment's credential key (base64), which
    /// the control plane derives from its key-encryption key; without it, AI API calls whose
    /// target has a key are answered 500.
    pub fn use_credential_key(&self, base64: &str) -> Result<(), GatewayError> {
        self.proxy
            .ai
            .use_credential_key(base64)
            .map_err(GatewayError::CredentialKey)
    }

    /// Closes upgraded (WebSocket) connections with no traffic either way for `idle`
    /// (default [`proxy::DEFAULT_WEBSOCKET_IDLE`]; zero: never).
    pub fn set_websocket_idle_timeout(&self, idle: Duration) {
        self.proxy.set_websocket_idle_timeout(idle);
    }

    /// Lets the WebSub hub call subscriber callbacks on loopback, private, link-local and
    /// other non-public addresses (default: refused; for tests and labs).
    pub fn allow_private_websub_callbacks(&self, allow: bool) {
        self.proxy.allow_private_websub_callbacks(allow);
    }

    /// The environment served.
    pub fn environment(&self) -> &str {
        &self.environment
    }

    /// Whether it holds a configuration (readiness).
    pub fn is_ready(&self) -> bool {
        self.config.load().is_some()
    }

    /// The version of the configuration in use.
    pub fn config_version(&self) -> Option<u64> {
        self.config.load().as_ref().map(|c| c.version)
    }

    /// What each API revision served since the last call (the rollouts' analysis).
    pub fn drain_traffic(&self) -> Vec<gantry_model::traffic::RevisionTraffic> {
        self.traffic.drain()
    }

    /// State of the control-plane stream (for readiness details and metrics).
    pub fn sync_status(&self) -> Arc<gantry_sync::client::SyncStatus> {
        self.sync_status.clone()
    }

    /// Applies `next` if it is for this environment and newer than what is held: compile,
    /// swap atomically, persist. On any error the configuration in use is unchanged.
    pub fn apply_versioned(&self, next: Versioned) -> Result<(), GatewayError> {
        self.install(next, false)
    }

    /// Applies `next`; `on_disk` says it was just read from the data directory (no rewrite).
    fn install(&self, next: Versioned, on_disk: bool) -> Result<(), GatewayError> {
        if next.snapshot.environment != *self.environment {
            return Err(GatewayError::WrongEnvironment {
                snapshot: next.snapshot.environment.clone(),
                serves: self.environment.to_string(),
            });
        }
        if let Some(held) = self.config_version()
            && next.snapshot.version <= held
        {
            return Err(GatewayError::NotNewer {
                next: next.snapshot.version,
                held,
            });
        }
        let compiled = CompiledConfig::compile_counting(&next.snapshot, &self.traffic)
            .inspect_err(|_| {
                self.metrics.config_rejected.inc();
            })?;
        if let Some(previous) = self.config.load().as_deref() {
            compiled.inherit_fetched_keys(previous);
        }
        let (version, apis) = (compiled.version, compiled.api_count);
        let next = Arc::new(next);
        let compiled = Arc::new(compiled);
        self.endpoint_trust.store(compiled.endpoint_trust.clone());
        self.config.store(Some(compiled.clone()));
        self.traffic
            .retain_series(compiled.canaries.as_deref().map_or(&[], |c| c.series()));
        health::spawn(self.config.clone(), &compiled, self.proxy.clone());
        self.metrics.config_applied.inc();
        self.metrics
            .config_version
            .set(i64::try_from(version).unwrap_or(i64::MAX));
        self.held_version
            .store(Some(Arc::new((version, next.digest.clone()))));
        // With a data directory the snapshot lives on disk: the compiled tables serve traffic,
        // and a delta's base is read back when one arrives, so a large configuration is not
        // held twice in memory.
        let persisted = match &self.data_dir {
            Some(_) if on_disk => true,
            Some(dir) => match persist(dir, &next) {
                Ok(()) => true,
                Err(error) => {
                    tracing::warn!(%error, "could not persist the snapshot; keeping it in memory");
                    false
                }
            },
            None => false,
        };
        self.held.store((!persisted).then_some(next));
        tracing::info!(environment = %self.environment, version, apis, "config applied");
        if let Some(hook) = self.after_apply.get() {
            hook();
        }
        Ok(())
    }

    /// Applies an in-process snapshot; errors are logged.
    pub fn apply(&self, snapshot: &GatewaySnapshot) -> bool {
        match self.apply_versioned(Versioned::new(snapshot.clone())) {
            Ok(()) => true,
            Err(reason) => {
                tracing::debug!(%reason, "snapshot not applied");
                false
            }
        }
    }

    /// Loads the snapshot persisted in the data directory, if any, and serves it.
    pub fn load_persisted(&self) -> Result<Option<u64>, GatewayError> {
        let Some(dir) = &self.data_dir else {
            return Ok(None);
        };
        let path = dir.join(SNAPSHOT_FILE);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => {
                return Err(GatewayError::Persisted {
                    path,
                    reason: e.to_string(),
                });
            }
        };
        let parsed = serde_json::from_slice::<GatewaySnapshot>(&bytes);
        drop(bytes);
        let snapshot: GatewaySnapshot = parsed.map_err(|e| GatewayError::Persisted {
            path: path.clone(),
            reason: format!("not a snapshot: {e}"),
        })?;
        let version = snapshot.version;
        self.install(Versioned::new(snapshot), true)?;
        tracing::info!(version, path = %path.display(), "serving the persisted configuration");
        Ok(Some(version))
    }

    /// Applies every snapshot `receiver` yields until it closes or `shutdown` fires (the
    /// in-process gateway of `gantry up`), recording itself as `node` with the control plane.
    pub async fn follow<A: gantry_sync::server::GatewayAccess>(
        self,
        mut receiver: SnapshotReceiver,
        shutdown: CancellationToken,
        node: InProcessNode<A>,
    ) {
        use gantry_sync::server::NodeEvent;
        let env = self.environment.clone();
        let record = |event| node.access.record(&env, &node.id, event);
        if let Some(snapshot) = receiver.current() {
            let _ = self.apply_versioned((*snapshot).clone());
        }
        record(NodeEvent::Connected {
            build: env!("CARGO_PKG_VERSION").to_owned(),
            held_version: self.config_version().unwrap_or(0),
        })
        .await;
        let mut heartbeat = tokio::time::interval(NODE_HEARTBEAT);
        heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // As a remote gateway's sync client does: what the revisions served, each second.
        let mut report = tokio::time::interval(Duration::from_secs(1));
        report.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                next = receiver.next() => match next {
                    Some(snapshot) => {
                        let version = snapshot.snapshot.version;
                        match self.apply_versioned((*snapshot).clone()) {
                            Ok(()) => {
                                // As the sync client does: the counts of the previous
                                // configuration are recorded before its ACK.
                                let traffic = self.drain_traffic();
                                if !traffic.is_empty() {
                                    record(NodeEvent::Traffic(traffic)).await;
                                }
                                record(NodeEvent::Acked(version)).await
                            }
                            Err(reason) => {
                                tracing::warn!(%reason, "configuration rejected; keeping the last good one");
                                record(NodeEvent::Nacked(version, reason.to_string())).await;
                            }
                        }
                    }
                    None => break,
                },
                _ = heartbeat.tick() => record(NodeEvent::Seen).await,
                _ = report.tick() => {
                    let traffic = self.drain_traffic();
                    if !traffic.is_empty() {
                        record(NodeEvent::Traffic(traffic)).await;
                    }
                }
                _ = shutdown.cancelled() => break,
            }
        }
        record(NodeEvent::Disconnected).await;
    }

    /// Serves API traffic (HTTP/1.1 and h2c, or TLS with `tls`) on `listener` until `stop`
    /// fires: then the listener closes, open connections keep being served for the drain
    /// delay (answering `Connection: close` once draining), and in-flight requests finish.
    pub async fn serve(
        self,
        listener: TcpListener,
        tls: Option<Arc<rustls::ServerConfig>>,
        stop: gantry_listener::Stop,
    ) {
        self.serve_with_limits(listener, tls, stop, gantry_listener::Limits::default())
            .await;
    }

    /// [`Self::serve`] with the listener's protocol limits. The request body limit is the
    /// gateway's ([`Self::limit_request_bodies`]); a request declaring a larger body is
    /// answered 413 here, before the proxy reads or forwards anything.
    pub async fn serve_with_limits(
        self,
        listener: TcpListener,
        tls: Option<Arc<rustls::ServerConfig>>,
        stop: gantry_listener::Stop,
        limits: gantry_listener::Limits,
    ) {
        let proxy = self.proxy.clone();
        let secure = tls.is_some();
        gantry_listener::serve_with_limits(
            listener,
            tls,
            stop,
            limits,
            self.metrics.connections.clone(),
            move |connection: gantry_listener::Connection| {
                let (proxy, peer) = (proxy.clone(), connection.peer);
                let certificate = connection
                    .client_certificate
                    .map(authn::client_cert::PeerCertificate);
                service_fn(move |mut request: Request<Incoming>| {
                    let proxy = proxy.clone();
                    if let Some(certificate) = &certificate {
                        request.extensions_mut().insert(certificate.clone());
                    }
                    async move {
                        if let Some(refused) = proxy
                            .forwarder
                            .body_limit
                            .refuse_declared(request.headers())
                        {
                            return Ok::<_, Infallible>(refused);
                        }
                        Ok::<_, Infallible>(proxy.handle(request, peer, secure).await)
                    }
                })
            },
        )
        .await;
        // The listener has drained: WebSocket tunnels are the last connections left, and
        // the health probes the last tasks.
        self.proxy.end_tunnels().await;
        self.proxy.end_probes().await;
    }

    /// Sets the request body limit (bytes) of every listener of this gateway.
    pub fn limit_request_bodies(&self, bytes: u64) {
        self.proxy.forwarder.body_limit.set(bytes);
    }

    /// Sets the time a request body may take at every listener of this gateway (408 beyond).
    pub fn set_request_body_timeout(&self, timeout: Duration) {
        self.proxy.forwarder.body_timeout.set(timeout);
    }

    /// Serves `/health/live` and `/health/ready` on `listener` until `shutdown`.
    pub async fn serve_ops(self, listener: TcpListener, shutdown: CancellationToken) {
        gantry_listener::serve(
            listener,
            None,
            gantry_listener::Stop::after(shutdown, Duration::from_secs(1)),
            move |_| {
                let gateway = self.clone();
                service_fn(move |request| {
                    let gateway = gateway.clone();
                    async move { Ok::<_, Infallible>(gateway.ops(&request)) }
                })
            },
        )
        .await;
    }

    fn ops(&self, request: &Request<Incoming>) -> Response<Body> {
        let connected = self.sync_status.is_connected();
        if request.uri().path() == "/metrics" {
            self.metrics.sync_connected.set(i64::from(connected));
            self.metrics.report_connections();
            if let Some(healthy) = self.proxy.redis_healthy() {
                self.metrics.redis_up.set(i64::from(healthy));
            }
            let mut response = Response::new(respond::full(self.metrics.render()));
            response.headers_mut().insert(
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static(
                    "application/openmetrics-text; version=1.0.0; charset=utf-8",
                ),
            );
            return response;
        }
        if request.uri().path() == "/.well-known/jwks.json" {
            let Some(jwks) = self.proxy.backend_jwks() else {
                return respond::no_route();
            };
            let mut response = Response::new(respond::full(jwks.to_owned()));
            response.headers_mut().insert(
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static("application/jwk-set+json"),
            );
            return response;
        }
        let (status, body) = match request.uri().path() {
            "/health/live" => (StatusCode::OK, serde_json::json!({"status": "UP"})),
            "/health/ready" if self.draining.load(std::sync::atomic::Ordering::SeqCst) => (
                StatusCode::SERVICE_UNAVAILABLE,
                serde_json::json!({"status": "DRAINING", "environment": &*self.environment, "reason": "shutting down"}),
            ),
            "/health/ready" => match self.config_version() {
                Some(version) => (
                    StatusCode::OK,
                    serde_json::json!({"status": "READY", "environment": &*self.environment, "configVersion": version, "controlPlaneConnected": connected}),
                ),
                None => (
                    StatusCode::SERVICE_UNAVAILABLE,
                    serde_json::json!({"status": "NOT_READY", "environment": &*self.environment, "reason": "no configuration received yet", "controlPlaneConnected": connected}),
                ),
            },
            _ => return respond::no_route(),
        };
        let mut response = Response::new(respond::full(body.to_string()));
        *response.status_mut() = status;
        response.headers_mut().insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/json"),
        );
        response
    }
}

impl gantry_sync::client::Applier for Gateway {
    fn held(&self) -> Option<Arc<Versioned>> {
        if let Some(in_memory) = self.held.load_full() {
            return Some(in_memory);
        }
        let meta = self.held_version.load_full()?;
        let dir = self.data_dir.as_ref()?;
        let bytes = std::fs::read(dir.join(SNAPSHOT_FILE)).ok()?;
        let snapshot: GatewaySnapshot = serde_json::from_slice(&bytes).ok()?;
        // Our own file, written atomically after the digest was checked.
        (snapshot.version == meta.0).then(|| Arc::new(Versioned::trusted(snapshot, meta.1.clone())))
    }

    fn held_version(&self) -> Option<(u64, String)> {
        self.held_version.load_full().map(|meta| (*meta).clone())
    }

    type Error = GatewayError;

    fn apply(&self, next: Versioned) -> Result<(), GatewayError> {
        self.apply_versioned(next)
    }

    fn traffic(&self) -> Vec<gantry_model::traffic::RevisionTraffic> {
        self.drain_traffic()
    }
}

/// Writes the snapshot atomically: a temporary file in the same directory, synced, renamed.
fn persist(dir: &Path, snapshot: &Versioned) -> std::io::Result<()> {
    use std::io::Write;
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!("{SNAPSHOT_FILE}.tmp"));
    let file = std::fs::File::create(&tmp)?;
    // Streamed: a large snapshot is not materialised a second time in memory.
    let mut writer = std::io::BufWriter::with_capacity(256 * 1024, file);
    serde_json::to_writer(&mut writer, &snapshot.snapshot).map_err(std::io::Error::other)?;
    writer.flush()?;
    writer
        .into_inner()
        .map_err(|e| e.into_error())?
        .sync_all()?;
    std::fs::rename(&tmp, dir.join(SNAPSHOT_FILE))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A raw HTTP/1.1 upstream answering every request head `200`, counting the heads.
    async fn counting_upstream() -> (String, Arc<std::sync::atomic::AtomicUsize>) {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let heads = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let count = heads.clone();
        tokio::spawn(async move {
            loop {
                let Ok((mut socket, _)) = listener.accept().await else {
                    return;
                };
                let count = count.clone();
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 1024];
                    while let Ok(n @ 1..) = socket.read(&mut chunk).await {
                        buf.extend_from_slice(&chunk[..n]);
                        while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            buf.drain(..end + 4);
                            count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                            let ok = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n";
                            if socket.write_all(ok).await.is_err() {
                                return;
                            }
                        }
                    }
                });
            }
        });
        (url, heads)
    }

    #[tokio::test]
    async fn health_checks_are_owned_by_the_proxy_and_end_with_it() {
        let (url, probes) = counting_upstream().await;
        let api: gantry_model::snapshot::DeployedApi = serde_json::from_value(serde_json::json!({
            "api_id": "a1", "revision_id": "r1", "name": "Checked", "context": "/checked",
            "version": "1.0.0", "vhost": "localhost", "lifecycle": "PUBLISHED",
            "authorization_header": "Authorization",
            "endpoint_config": {"endpoint_type": "load_balance",
                "healthCheck": {"path": "/health", "intervalMs": 100, "timeoutMs": 500},
                "production_endpoints": [{"url": url}]},
            "operations": [{"target": "/*", "verb": "GET", "authType": "None"}]
        }))
        .unwrap();
        let gateway = Gateway::new("env", None);
        let snapshot = |version| GatewaySnapshot {
            environment: "env".into(),
            version,
            apis: vec![api.clone()],
            ..Default::default()
        };
        assert!(gateway.apply(&snapshot(1)));
        let seen = || probes.load(std::sync::atomic::Ordering::SeqCst);
        for _ in 0..100 {
            if seen() >= 2 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(seen() >= 2, "the member is probed every 100 ms");
        assert_eq!(gateway.proxy.probes.len(), 1, "one task per checked pool");

        tokio::time::timeout(Duration::from_secs(5), gateway.proxy.end_probes())
            .await
            .expect("the probe tasks end when told to");
        assert!(gateway.proxy.probes.is_empty());
        let after = seen();
        tokio::time::sleep(Duration::from_millis(350)).await;
        assert_eq!(seen(), after, "no probe after the end");

        // A configuration applied afterwards starts none.
        assert!(gateway.apply(&snapshot(2)));
        assert!(gateway.proxy.probes.is_empty());
        tokio::time::sleep(Duration::from_millis(350)).await;
        assert_eq!(seen(), after, "no probe for the next configuration either");
    }

    #[test]
    fn persisted_snapshot_is_served_after_a_restart_and_old_versions_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let gateway = Gateway::new("dp-prod-a", Some(dir.path().to_owned()));
        let snapshot = GatewaySnapshot {
            environment: "dp-prod-a".into(),
            version: 7,
            ..Default::default()
        };
        gateway
            .apply_versioned(Versioned::new(snapshot.clone()))
            .unwrap();
        assert!(
            gateway.apply_versioned(Versioned::new(snapshot)).is_err(),
            "same version again"
        );

        let restarted = Gateway::new("dp-prod-a", Some(dir.path().to_owned()));
        assert!(!restarted.is_ready());
        assert_eq!(restarted.load_persisted().unwrap(), Some(7));
        assert!(restarted.is_ready());

        let other = Gateway::new("dp-prod-b", Some(dir.path().to_owned()));
        assert!(
            other.load_persisted().is_err(),
            "a snapshot of another environment is refused"
        );
    }
}
