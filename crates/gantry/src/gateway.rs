//! `gantry gateway`: a data-plane process for one environment. It serves the last
//! configuration it holds (from disk after a restart), keeps a `gantry.sync.v1` stream open
//! to the control plane, and is ready only while it holds a configuration.

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use gantry_gateway::Gateway;
use gantry_sync::client::{self, ClientConfig};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::up::{ConfigError, bind};
use crate::upstream_tls::UpstreamTlsArgs;

/// Options of `gantry gateway`; every flag can also come from its `GANTRY_…` variable or
/// the `--config` file.
#[derive(Debug, clap::Args)]
pub struct GatewayArgs {
    /// The environment served (e.g. dp-prod-a); must match the token's environment.
    #[arg(long, env = "GANTRY_ENVIRONMENT")]
    environment: String,
    /// Control plane URL, e.g. https://apim.apim-cp.svc:9443.
    #[arg(long, env = "GANTRY_CONTROL_PLANE")]
    control_plane: String,
    /// Gateway token of the environment (Admin API: POST /environments/{id}/gateway-tokens).
    #[arg(long, env = "GANTRY_GATEWAY_TOKEN", hide_env_values = true)]
    token: String,
    /// PEM CA certificate to trust for the control plane (e.g. its generated ca.pem).
    #[arg(long, env = "GANTRY_CONTROL_PLANE_CA")]
    control_plane_ca: Option<PathBuf>,
    /// PEM client certificate chain presented to the control plane (mutual TLS).
    #[arg(long, env = "GANTRY_CLIENT_CERT", requires = "client_key")]
    client_cert: Option<PathBuf>,
    /// PEM private key for --client-cert.
    #[arg(long, env = "GANTRY_CLIENT_KEY", requires = "client_cert")]
    client_key: Option<PathBuf>,
    /// HTTP port for API traffic.
    #[arg(long, env = "GANTRY_HTTP_PORT", default_value_t = 9090)]
    http_port: u16,
    /// HTTPS port for API traffic (needs --tls-cert and --tls-key).
    #[arg(long, env = "GANTRY_HTTPS_PORT")]
    https_port: Option<u16>,
    /// PEM certificate chain for the HTTPS port.
    #[arg(long, env = "GANTRY_TLS_CERT", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// PEM private key for --tls-cert.
    #[arg(long, env = "GANTRY_TLS_KEY", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// A certificate for one SNI host name, `HOST=CERT.pem,KEY.pem` (repeatable; in the
    /// environment, separated by `;`); HOST `*.domain` serves any one label below
    /// `domain`, after exact names. Other names get --tls-cert.
    #[arg(
        long,
        env = "GANTRY_TLS_SNI",
        value_delimiter = ';',
        requires = "tls_cert"
    )]
    tls_sni: Vec<String>,
    /// Directory of per-host certificates laid out as mounted Kubernetes TLS Secrets:
    /// `DIR/<host>/tls.crt` and `DIR/<host>/tls.key` serve `<host>` by SNI (`_.domain` or
    /// `*.domain`: any one label below `domain`). Host directories added, renewed or
    /// removed are picked up every --tls-reload-secs; --tls-sni wins for the same name.
    #[arg(long, env = "GANTRY_TLS_CERT_DIR", requires = "tls_cert")]
    tls_cert_dir: Option<PathBuf>,
    /// Seconds between checks of the certificate files; changed files are reloaded without
    /// a restart (0: never).
    #[arg(long, env = "GANTRY_TLS_RELOAD_SECS", default_value_t = 10)]
    tls_reload_secs: u64,
    /// Port of /health/live and /health/ready.
    #[arg(long, env = "GANTRY_OPS_PORT", default_value_t = 9000)]
    ops_port: u16,
    /// Where the last applied configuration is kept.
    #[arg(long, env = "GANTRY_DATA_DIR", default_value = "./gantry-gateway-data")]
    data_dir: PathBuf,
    /// This instance's id as the control plane lists it (default: the host name).
    #[arg(long, env = "GANTRY_NODE_ID")]
    node_id: Option<String>,
    /// Address to bind.
    #[arg(long, env = "GANTRY_BIND", default_value = "0.0.0.0")]
    bind: IpAddr,
    /// Redis shared by the environment's gateways for rate limits (e.g. redis://redis:6379);
    /// without it, limits are counted per gateway.
    #[arg(long, env = "GANTRY_REDIS_URL", hide_env_values = true)]
    redis_url: Option<String>,
    /// PEM P-256 private key (PKCS#8 or SEC1) the gateway signs backend JWTs
    /// (`X-JWT-Assertion`) with; give every replica of an environment the same one. Without
    /// it each gateway generates its own at start (JWKS on the ops port).
    #[arg(long, env = "GANTRY_BACKEND_JWT_KEY")]
    backend_jwt_key: Option<PathBuf>,
    /// Seconds open connections keep full service after SIGTERM (readiness false, listeners
    /// closed, responses say `Connection: close`) before idle ones are closed.
    #[arg(long, env = "GANTRY_DRAIN_DELAY_SECS", default_value_t = 5)]
    drain_delay_secs: u64,
    /// Seconds to let in-flight requests finish on shutdown.
    #[arg(long, env = "GANTRY_SHUTDOWN_GRACE_SECS", default_value_t = 20)]
    shutdown_grace_secs: u64,
    #[command(flatten)]
    upstream_tls: UpstreamTlsArgs,
    #[command(flatten)]
    limits: crate::listener_limits::ListenerLimitArgs,
    /// Seconds an upgraded (WebSocket) connection may carry no traffic either way before
    /// the gateway closes it (0: never).
    #[arg(
        long,
        env = "GANTRY_WEBSOCKET_IDLE_TIMEOUT_SECS",
        default_value_t = 300
    )]
    websocket_idle_timeout_secs: u64,
}

/// Runs until Ctrl-C / SIGTERM.
pub async fn run(args: GatewayArgs) -> anyhow::Result<()> {
    if !(args.control_plane.starts_with("https://") || args.control_plane.starts_with("http://")) {
        return Err(ConfigError(format!(
            "--control-plane: '{}' is not an http(s) URL",
            args.control_plane
        ))
        .into());
    }
    if args.https_port.is_some() && args.tls_cert.is_none() {
        return Err(ConfigError("--https-port: needs --tls-cert and --tls-key".into()).into());
    }
    let limits = args.limits.validate()?;
    let certificates = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => {
            use gantry_listener::certificates::{CertificateFiles, CertificateStore};
            let by_host = args
                .tls_sni
                .iter()
                .map(|entry| {
                    let parsed = entry.split_once('=').and_then(|(host, files)| {
                        let (cert, key) = files.split_once(',')?;
                        (!host.is_empty()).then(|| {
                            (
                                host.to_owned(),
                                CertificateFiles {
                                    cert: cert.into(),
                                    key: key.into(),
                                },
                            )
                        })
                    });
                    parsed.ok_or_else(|| {
                        ConfigError(format!("--tls-sni: '{entry}' is not HOST=CERT.pem,KEY.pem"))
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            let default = CertificateFiles {
                cert: cert.clone(),
                key: key.clone(),
            };
            Some(
                CertificateStore::load(default, by_host, args.tls_cert_dir.as_deref())
                    .context("loading the gateway certificates")?,
            )
        }
        _ => None,
    };
    // Client certificates are asked for, never required: APIs with mutual TLS check them.
    let tls = certificates
        .as_ref()
        .map(|store| store.server_config_asking_for_client_certificates());
    let ca_pem = match &args.control_plane_ca {
        Some(path) => Some(
            std::fs::read(path)
                .with_context(|| format!("reading --control-plane-ca {}", path.display()))?,
        ),
        None => None,
    };
    let identity = match (&args.client_cert, &args.client_key) {
        (Some(cert), Some(key)) => Some((
            std::fs::read(cert)
                .with_context(|| format!("reading --client-cert {}", cert.display()))?,
            std::fs::read(key)
                .with_context(|| format!("reading --client-key {}", key.display()))?,
        )),
        _ => None,
    };
    let node_id = args.node_id.clone().unwrap_or_else(default_node_id);

    let upstream_tls = args.upstream_tls.load()?;
    let gateway = Gateway::with_upstream_tls(
        &args.environment,
        Some(args.data_dir.clone()),
        &upstream_tls,
    );
    gateway.limit_request_bodies(limits.max_request_body_bytes);
    gateway.set_request_body_timeout(limits.request_body_timeout);
    gateway.after_each_apply(Box::new(crate::memory::release_freed_heap));
    gateway.set_websocket_idle_timeout(Duration::from_secs(args.websocket_idle_timeout_secs));
    if let Some(url) = &args.redis_url {
        gateway
            .use_redis(url)
            .map_err(|e| ConfigError(format!("--redis-url: {e}")))?;
    }
    if let Some(path) = &args.backend_jwt_key {
        let pem = std::fs::read(path)
            .with_context(|| format!("reading --backend-jwt-key {}", path.display()))?;
        gateway
            .use_backend_jwt_key(&pem)
            .map_err(|e| ConfigError(format!("--backend-jwt-key: {e}")))?;
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
    let grace = Duration::from_secs(args.shutdown_grace_secs);
    // On SIGTERM the listeners close at once (new connections are refused, so clients go
    // elsewhere), open connections keep full service for --drain-delay-secs with
    // `Connection: close`, then in-flight requests get --shutdown-grace-secs.
    let stop = gantry_listener::Stop {
        shutdown: shutdown.clone(),
        drain_delay: Duration::from_secs(args.drain_delay_secs),
        grace,
    };
    let mut tasks = JoinSet::new();
    let mut background = JoinSet::new();
    let config = ClientConfig {
        endpoint: args.control_plane.clone(),
        token: args.token.clone(),
        environment: args.environment.clone(),
        node_id: node_id.clone(),
        ca_pem,
        build: env!("CARGO_PKG_VERSION").to_owned(),
        identity,
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
    if let Some(store) = certificates.filter(|_| args.tls_reload_secs > 0) {
        background.spawn(store.watch(
            Duration::from_secs(args.tls_reload_secs),
            ops_shutdown.clone(),
        ));
    }
    tracing::info!(environment = %args.environment, node = %node_id, http = args.http_port, "gateway is up");

    crate::shutdown::wait_for_signal().await;
    // Kubernetes keeps sending traffic until the endpoint is removed: report not-ready first,
    // refuse new connections, keep serving open ones for --drain-delay-secs, then drain.
    gateway.start_draining();
    tracing::info!(
        delay_secs = args.drain_delay_secs,
        grace_secs = args.shutdown_grace_secs,
        "draining"
    );
    shutdown.cancel();
    while tasks.join_next().await.is_some() {}
    ops_shutdown.cancel();
    while background.join_next().await.is_some() {}
    tracing::info!("stopped");
    Ok(())
}

fn default_node_id() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|h| h.trim().to_owned())
        })
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| format!("gateway-{}", std::process::id()))
}
