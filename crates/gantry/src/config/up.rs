//! `gantry up`'s configuration: [`UpArgs`] (flags, `GANTRY_…` variables, `--config` keys)
//! checked into [`UpConfig`].

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use gantry_control_plane::service::workflows::WorkflowSettings;

use super::key_manager::{KeyManagerArgs, KeyManagerConfig};
use super::listener_limits::{ListenerLimitArgs, ListenerLimits};
use super::upstream_tls::{UpstreamTlsArgs, UpstreamTlsConfig};
use super::workflows::WorkflowArgs;
use super::{ConfigError, Layers};

/// Options of `gantry up`; every flag can also come from its `GANTRY_…` variable.
#[derive(Debug, clap::Args)]
pub struct UpArgs {
    /// Directory for the SQLite store, the TLS certificate and keys.
    #[arg(long, env = "GANTRY_DATA_DIR", default_value = "./gantry-data")]
    data_dir: PathBuf,
    /// Address every listener binds to (use 0.0.0.0 to accept other machines).
    #[arg(long, env = "GANTRY_BIND", default_value = "127.0.0.1")]
    bind: IpAddr,
    /// HTTPS port of the control plane (REST APIs, OAuth2).
    #[arg(long, env = "GANTRY_CONTROL_PLANE_PORT", default_value_t = 9443)]
    control_plane_port: u16,
    /// HTTP port of the gateway (API traffic; HTTP/1.1 and h2c).
    #[arg(long, env = "GANTRY_GATEWAY_PORT", default_value_t = 9090)]
    gateway_port: u16,
    /// Port of the gateway's health endpoints (/health/live, /health/ready).
    #[arg(long, env = "GANTRY_OPS_PORT", default_value_t = 9000)]
    ops_port: u16,
    /// Host name clients use to reach this machine: in the token issuer, the certificate
    /// and the printed URLs.
    #[arg(long, env = "GANTRY_HOSTNAME", default_value = "localhost")]
    hostname: String,
    /// PEM certificate chain for the control plane (instead of the generated one).
    #[arg(long, env = "GANTRY_TLS_CERT", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// PEM private key for --tls-cert.
    #[arg(long, env = "GANTRY_TLS_KEY", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Do not start the demo backend nor create the demo API.
    #[arg(long, env = "GANTRY_NO_DEMO")]
    no_demo: bool,
    /// Port of the demo backend the demo API points at.
    #[arg(long, env = "GANTRY_DEMO_BACKEND_PORT", default_value_t = 9091)]
    demo_backend_port: u16,
    /// Let visitors create their own subscriber account in the developer portal
    /// (true|false; on by default on a laptop).
    #[arg(long, env = "GANTRY_SELF_SIGNUP", default_value_t = true, num_args = 0..=1,
          default_missing_value = "true", action = clap::ArgAction::Set)]
    self_signup: bool,
    /// Gateway HTTPS port (HTTP/1.1 and HTTP/2 by ALPN; off when unset): the control plane's
    /// certificate, and client certificates asked for (APIs with mutual TLS need this port).
    #[arg(long, env = "GANTRY_GATEWAY_HTTPS_PORT")]
    gateway_https_port: Option<u16>,
    /// Per-host certificates for the gateway HTTPS port, laid out as mounted Kubernetes TLS
    /// Secrets: `DIR/<host>/tls.crt` and `tls.key` serve `<host>` by SNI (`_.domain` or
    /// `*.domain`: any one label below `domain`); other names get the default certificate.
    #[arg(long, env = "GANTRY_TLS_CERT_DIR", requires = "gateway_https_port")]
    tls_cert_dir: Option<PathBuf>,
    /// Seconds between checks of the gateway's certificate files and --tls-cert-dir;
    /// changes are picked up without a restart (0: never).
    #[arg(long, env = "GANTRY_TLS_RELOAD_SECS", default_value_t = 10)]
    tls_reload_secs: u64,
    #[command(flatten)]
    limits: ListenerLimitArgs,
    #[command(flatten)]
    keys: KeyManagerArgs,
    #[command(flatten)]
    workflows: WorkflowArgs,
    /// Seconds to let in-flight requests finish on shutdown.
    #[arg(long, env = "GANTRY_SHUTDOWN_GRACE_SECS", default_value_t = 10)]
    shutdown_grace_secs: u64,
    #[command(flatten)]
    upstream_tls: UpstreamTlsArgs,
    /// Seconds an upgraded (WebSocket) connection may carry no traffic either way before
    /// the gateway closes it (0: never).
    #[arg(
        long,
        env = "GANTRY_WEBSOCKET_IDLE_TIMEOUT_SECS",
        default_value_t = 300
    )]
    websocket_idle_timeout_secs: u64,
    /// Prometheus servers rollout plans may query (`analysis.prometheus.url`), comma-separated
    /// base URLs such as http://prometheus.monitoring:9090. A plan naming any other URL is
    /// refused: the control plane sends requests only where its operator allows.
    #[arg(
        long = "rollout-prometheus-url",
        env = "GANTRY_ROLLOUT_PROMETHEUS_URLS",
        value_delimiter = ','
    )]
    rollout_prometheus_urls: Vec<String>,
    /// Lets the WebSub hub call subscriber callbacks on loopback, private, link-local and
    /// other non-public addresses (refused by default: the hub would otherwise reach the
    /// gateway's own network for whoever subscribes). For tests and labs only.
    #[arg(long, env = "GANTRY_WEBSUB_ALLOW_PRIVATE_CALLBACKS", default_value_t = false,
          num_args = 0..=1, default_missing_value = "true", action = clap::ArgAction::Set)]
    websub_allow_private_callbacks: bool,
}

/// `gantry up`, checked: every port valid and distinct, the host name usable in URLs and
/// certificates, the given files present, the limits, upstream TLS and key manager loaded.
#[derive(Debug)]
pub struct UpConfig {
    /// SQLite store, TLS certificate and keys.
    pub data_dir: PathBuf,
    /// Address every listener binds to.
    pub bind: IpAddr,
    /// HTTPS port of the control plane.
    pub control_plane_port: u16,
    /// HTTP port of the gateway.
    pub gateway_port: u16,
    /// Gateway HTTPS port, when on.
    pub gateway_https_port: Option<u16>,
    /// Port of the gateway's health endpoints.
    pub ops_port: u16,
    /// Whether the demo backend runs and the demo API is created (not `--no-demo`).
    pub demo: bool,
    /// Port of the demo backend (checked only when the demo runs).
    pub demo_backend_port: u16,
    /// Host name clients use.
    pub hostname: String,
    /// The token issuer, `https://HOSTNAME:CONTROL_PLANE_PORT/oauth2/token`.
    pub issuer: String,
    /// `--tls-cert` and `--tls-key` (both exist), or none for a generated certificate.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// Per-host certificates for the gateway HTTPS port.
    pub tls_cert_dir: Option<PathBuf>,
    /// How often certificate files are checked for changes; none: never.
    pub tls_reload: Option<Duration>,
    /// Prometheus servers rollout plans may query.
    pub rollout_prometheus_urls: Vec<String>,
    /// Developer portal self-signup.
    pub self_signup: bool,
    /// The gateway listeners' limits.
    pub limits: ListenerLimits,
    /// The key manager.
    pub keys: KeyManagerConfig,
    /// Approval workflows.
    pub workflows: WorkflowSettings,
    /// Upstream trust and client identity.
    pub upstream_tls: UpstreamTlsConfig,
    /// Time in-flight requests get on shutdown.
    pub shutdown_grace: Duration,
    /// Idle time after which an upgraded connection is closed (zero: never).
    pub websocket_idle_timeout: Duration,
    /// The WebSub hub may call callbacks on non-public addresses.
    pub websub_allow_private_callbacks: bool,
}

/// Merges and checks `gantry up`'s settings; `layers` says where each came from.
pub fn load(args: UpArgs, layers: &Layers) -> Result<UpConfig, ConfigError> {
    super::distinct_ports(
        layers,
        &[
            ("control-plane-port", Some(args.control_plane_port)),
            ("gateway-port", Some(args.gateway_port)),
            ("gateway-https-port", args.gateway_https_port),
            ("ops-port", Some(args.ops_port)),
            (
                "demo-backend-port",
                (!args.no_demo).then_some(args.demo_backend_port),
            ),
        ],
    )?;
    super::hostname(layers, "hostname", &args.hostname)?;
    let tls = match (args.tls_cert, args.tls_key) {
        (Some(cert), Some(key)) => {
            super::existing_file(layers, "tls-cert", &cert)?;
            super::existing_file(layers, "tls-key", &key)?;
            Some((cert, key))
        }
        _ => None,
    };
    let issuer = format!(
        "https://{}:{}/oauth2/token",
        args.hostname, args.control_plane_port
    );
    let limits = args.limits.load(layers)?;
    let workflows = args.workflows.load(
        layers,
        &format!("https://{}:{}", args.hostname, args.control_plane_port),
    )?;
    let keys = args.keys.load(layers, &issuer)?;
    let upstream_tls = args.upstream_tls.load(layers)?;
    Ok(UpConfig {
        data_dir: args.data_dir,
        bind: args.bind,
        control_plane_port: args.control_plane_port,
        gateway_port: args.gateway_port,
        gateway_https_port: args.gateway_https_port,
        ops_port: args.ops_port,
        demo: !args.no_demo,
        demo_backend_port: args.demo_backend_port,
        hostname: args.hostname,
        issuer,
        tls,
        tls_cert_dir: args.tls_cert_dir,
        tls_reload: super::secs_or_off(layers, "tls-reload-secs", args.tls_reload_secs)?,
        rollout_prometheus_urls: super::prometheus_urls(layers, args.rollout_prometheus_urls)?,
        self_signup: args.self_signup,
        limits,
        keys,
        workflows,
        upstream_tls,
        shutdown_grace: super::secs(layers, "shutdown-grace-secs", args.shutdown_grace_secs)?,
        websocket_idle_timeout: super::secs(
            layers,
            "websocket-idle-timeout-secs",
            args.websocket_idle_timeout_secs,
        )?,
        websub_allow_private_callbacks: args.websub_allow_private_callbacks,
    })
}
