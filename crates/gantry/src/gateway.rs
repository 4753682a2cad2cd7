//! `gantry gateway`: a data-plane process for one environment. It serves the last
//! configuration it holds (from disk after a restart), keeps a `gantry.sync.v1` stream open
//! to the control plane, and is ready only while it holds a configuration.

use std::sync::Arc;

use anyhow::Context as _;
use gantry_gateway::Gateway;
use gantry_listener::certificates::CertificateStore;
use gantry_sync::client::{self, ClientConfig};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::config::GatewayConfig;
use crate::up::bind;

/// Runs until Ctrl-C / SIGTERM.
pub async fn run(args: GatewayConfig) -> anyhow::Result<()> {
    let certificates = match &args.certificates {
        Some(files) => Some(
            CertificateStore::load(
                files.default.clone(),
                files.by_host.clone(),
                files.dir.as_deref(),
            )
            .context("loading the gateway certificates")?,
        ),
        None => None,
    };
    // Client certificates are asked for, never required: APIs with mutual TLS check them.
    let tls = certificates
        .as_ref()
        .map(|store| store.server_config_asking_for_client_certificates());
    let node_id = args.node_id.clone();

    let gateway = Gateway::with_upstream_tls(
        &args.environment,
        Some(args.data_dir.clone()),
        &args.upstream_tls.0,
    );
    let limits = args.limits;
    gateway.limit_request_bodies(limits.max_request_body_bytes);
    gateway.set_request_body_timeout(limits.request_body_timeout);
    gateway.after_each_apply(Box::new(crate::memory::release_freed_heap));
    gateway.set_websocket_idle_timeout(args.websocket_idle_timeout);
    gateway.allow_private_websub_callbacks(args.websub_allow_private_callbacks);
    if let Some(url) = &args.redis_url {
        gateway
            .use_redis(&url.0)
            .context("connecting the shared rate limits (--redis-url)")?;
    }
    if let Some(key) = &args.credential_key {
        gateway
            .use_credential_key(&key.0)
            .context("--credential-key-file")?;
    }
    if let Some(pem) = &args.backend_jwt_key {
        gateway
            .use_backend_jwt_key(pem)
            .context("--backend-jwt-key")?;
    }
    match gateway.load_persisted() {
        Ok(Some(version)) => tracing::info!(
            version,
            "serving the configuration persisted before the restart"
        ),
        Ok(None) => {
            tracing::info!("no persisted configuration; not ready until the control plane answers")
        }
        Err(error) => {
            tracing::warn!(%error, "the persisted configuration is unusable; waiting for the control plane")
        }
    }

    let http = bind(args.bind, args.http_port, "gateway HTTP (--http-port)").await?;
    let https = match args.https_port {
        Some(port) => Some(bind(args.bind, port, "gateway HTTPS (--https-port)").await?),
        None => None,
    };
    let ops = bind(args.bind, args.ops_port, "ops (--ops-port)").await?;

    // Traffic listeners stop first; the ops port (probes, metrics) and the sync stream stay
    // up until the drain is over.
    let shutdown = CancellationToken::new();
    let ops_shutdown = CancellationToken::new();
    let grace = args.shutdown_grace;
    // On SIGTERM the listeners close at once (new connections are refused, so clients go
    // elsewhere), open connections keep full service for --drain-delay-secs with
    // `Connection: close`, then in-flight requests get --shutdown-grace-secs.
    let stop = gantry_listener::Stop {
        shutdown: shutdown.clone(),
        drain_delay: args.drain_delay,
        grace,
    };
    let mut tasks = JoinSet::new();
    let mut background = JoinSet::new();
    let config = ClientConfig {
        endpoint: args.control_plane.clone(),
        token: args.token.0.clone(),
        environment: args.environment.clone(),
        node_id: node_id.clone(),
        ca_pem: args.control_plane_ca.clone(),
        build: env!("CARGO_PKG_VERSION").to_owned(),
        identity: args.client_identity.clone(),
    };
    background.spawn(client::run(
        config,
        Arc::new(gateway.clone()),
        gateway.sync_status(),
        ops_shutdown.clone(),
    ));
    tasks.spawn(
        gateway
            .clone()
            .serve_with_limits(http, None, stop.clone(), limits.listener),
    );
    if let (Some(listener), Some(tls)) = (https, tls) {
        tasks.spawn(gateway.clone().serve_with_limits(
            listener,
            Some(tls),
            stop.clone(),
            limits.listener,
        ));
    }
    background.spawn(gateway.clone().serve_ops(ops, ops_shutdown.clone()));
    if let (Some(store), Some(every)) = (certificates, args.tls_reload) {
        background.spawn(store.watch(every, ops_shutdown.clone()));
    }
    tracing::info!(environment = %args.environment, node = %node_id, http = args.http_port, "gateway is up");

    crate::shutdown::wait_for_signal().await;
    // Kubernetes keeps sending traffic until the endpoint is removed: report not-ready first,
    // refuse new connections, keep serving open ones for --drain-delay-secs, then drain.
    gateway.start_draining();
    tracing::info!(
        delay_secs = args.drain_delay.as_secs(),
        grace_secs = grace.as_secs(),
        "draining"
    );
    shutdown.cancel();
    while tasks.join_next().await.is_some() {}
    ops_shutdown.cancel();
    while background.join_next().await.is_some() {}
    tracing::info!("stopped");
    Ok(())
}
