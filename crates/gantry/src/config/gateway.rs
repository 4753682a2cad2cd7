//! `gantry gateway`'s configuration: [`GatewayArgs`] (flags, `GANTRY_…` variables,
//! `--config` keys) checked into [`GatewayConfig`].

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use gantry_listener::certificates::CertificateFiles;

use super::listener_limits::{ListenerLimitArgs, ListenerLimits};
use super::upstream_tls::{UpstreamTlsArgs, UpstreamTlsConfig};
use super::{ConfigError, Layers};

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
    /// File holding the credential key (base64) the control plane seals AI APIs' provider
    /// keys under (`gantry control-plane` logs how to get it; derived from its
    /// key-encryption key). Without it, AI API targets that have a key answer 500.
    #[arg(long, env = "GANTRY_CREDENTIAL_KEY_FILE")]
    credential_key_file: Option<PathBuf>,
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
    limits: ListenerLimitArgs,
    /// Seconds an upgraded (WebSocket) connection may carry no traffic either way before
    /// the gateway closes it (0: never).
    #[arg(
        long,
        env = "GANTRY_WEBSOCKET_IDLE_TIMEOUT_SECS",
        default_value_t = 300
    )]
    websocket_idle_timeout_secs: u64,
    /// Lets the WebSub hub call subscriber callbacks on loopback, private, link-local and
    /// other non-public addresses (refused by default: the hub would otherwise reach the
    /// gateway's own network for whoever subscribes). For tests and labs only.
    #[arg(long, env = "GANTRY_WEBSUB_ALLOW_PRIVATE_CALLBACKS", default_value_t = false,
          num_args = 0..=1, default_missing_value = "true", action = clap::ArgAction::Set)]
    websub_allow_private_callbacks: bool,
}

/// A value kept out of logs and debug output (tokens, URLs with passwords).
#[derive(Clone)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// The certificates of the gateway's HTTPS port.
#[derive(Debug, Clone)]
pub struct GatewayCertificates {
    /// `--tls-cert` and `--tls-key`: names nothing else matches.
    pub default: CertificateFiles,
    /// `--tls-sni HOST=CERT.pem,KEY.pem`.
    pub by_host: Vec<(String, CertificateFiles)>,
    /// `--tls-cert-dir`.
    pub dir: Option<PathBuf>,
}

/// `gantry gateway`, checked: the environment and token given, the control plane an
/// http(s) URL, ports valid and distinct, the given files present and readable (CA,
/// client identity, backend JWT key, certificates), the Redis URL usable, the limits and
/// upstream TLS loaded.
#[derive(Debug)]
pub struct GatewayConfig {
    /// The environment served.
    pub environment: String,
    /// Control plane URL.
    pub control_plane: String,
    /// Gateway token of the environment.
    pub token: Secret,
    /// PEM CA trusted for the control plane.
    pub control_plane_ca: Option<Vec<u8>>,
    /// PEM certificate chain and key presented to the control plane.
    pub client_identity: Option<(Vec<u8>, Vec<u8>)>,
    /// HTTP port for API traffic.
    pub http_port: u16,
    /// HTTPS port for API traffic (with `certificates`).
    pub https_port: Option<u16>,
    /// Port of the health endpoints.
    pub ops_port: u16,
    /// Certificates for the HTTPS port.
    pub certificates: Option<GatewayCertificates>,
    /// How often certificate files are checked for changes; none: never.
    pub tls_reload: Option<Duration>,
    /// Where the last applied configuration is kept.
    pub data_dir: PathBuf,
    /// This instance's id (`--node-id`, else the host name).
    pub node_id: String,
    /// Address to bind.
    pub bind: IpAddr,
    /// Redis shared by the environment's gateways.
    pub redis_url: Option<Secret>,
    /// PEM P-256 key backend JWTs are signed with (checked to be one).
    pub backend_jwt_key: Option<Vec<u8>>,
    /// The credential key (base64) AI APIs' provider keys are opened with.
    pub credential_key: Option<Secret>,
    /// Full service for open connections after SIGTERM.
    pub drain_delay: Duration,
    /// Time in-flight requests get on shutdown.
    pub shutdown_grace: Duration,
    /// Upstream trust and client identity.
    pub upstream_tls: UpstreamTlsConfig,
    /// The listeners' limits.
    pub limits: ListenerLimits,
    /// Idle time after which an upgraded connection is closed (zero: never).
    pub websocket_idle_timeout: Duration,
    /// The WebSub hub may call callbacks on non-public addresses.
    pub websub_allow_private_callbacks: bool,
}

/// Merges and checks `gantry gateway`'s settings; `layers` says where each came from.
pub fn load(args: GatewayArgs, layers: &Layers) -> Result<GatewayConfig, ConfigError> {
    super::non_empty(layers, "environment", &args.environment)?;
    super::http_url(layers, "control-plane", &args.control_plane)?;
    super::non_empty(layers, "token", &args.token)?;
    super::distinct_ports(
        layers,
        &[
            ("http-port", Some(args.http_port)),
            ("https-port", args.https_port),
            ("ops-port", Some(args.ops_port)),
        ],
    )?;
    if args.https_port.is_some() && args.tls_cert.is_none() {
        return Err(layers
            .key("https-port")
            .invalid("needs --tls-cert and --tls-key"));
    }
    let certificates = match (args.tls_cert, args.tls_key) {
        (Some(cert), Some(key)) => {
            super::existing_file(layers, "tls-cert", &cert)?;
            super::existing_file(layers, "tls-key", &key)?;
            let by_host = args
                .tls_sni
                .iter()
                .map(|entry| sni_entry(layers, entry))
                .collect::<Result<Vec<_>, _>>()?;
            Some(GatewayCertificates {
                default: CertificateFiles { cert, key },
                by_host,
                dir: args.tls_cert_dir,
            })
        }
        _ => None,
    };
    let control_plane_ca = match &args.control_plane_ca {
        Some(path) => Some(super::read_file(layers, "control-plane-ca", path)?),
        None => None,
    };
    let client_identity = match (&args.client_cert, &args.client_key) {
        (Some(cert), Some(key)) => Some((
            super::read_file(layers, "client-cert", cert)?,
            super::read_file(layers, "client-key", key)?,
        )),
        _ => None,
    };
    if let Some(url) = &args.redis_url {
        gantry_gateway::shared_limit::SharedLimiter::new(url, &args.environment)
            .map_err(|e| layers.key("redis-url").invalid(e))?;
    }
    let backend_jwt_key = match &args.backend_jwt_key {
        Some(path) => {
            let pem = super::read_file(layers, "backend-jwt-key", path)?;
            gantry_gateway::backend_jwt::BackendJwtSigner::from_pem(&pem).map_err(|e| {
                layers
                    .key("backend-jwt-key")
                    .invalid(format!("{}: {e}", path.display()))
            })?;
            Some(pem)
        }
        None => None,
    };
    let credential_key = match &args.credential_key_file {
        Some(path) => {
            let text = super::read_file(layers, "credential-key-file", path)?;
            let text = String::from_utf8(text).unwrap_or_default();
            gantry_gateway::compiled::ai::CredentialKey::from_base64(&text).map_err(|e| {
                layers
                    .key("credential-key-file")
                    .invalid(format!("{}: {e}", path.display()))
            })?;
            Some(Secret(text.trim().to_owned()))
        }
        None => None,
    };
    let limits = args.limits.load(layers)?;
    let upstream_tls = args.upstream_tls.load(layers)?;
    Ok(GatewayConfig {
        environment: args.environment,
        control_plane: args.control_plane,
        token: Secret(args.token),
        control_plane_ca,
        client_identity,
        http_port: args.http_port,
        https_port: args.https_port,
        ops_port: args.ops_port,
        certificates,
        tls_reload: super::secs_or_off(layers, "tls-reload-secs", args.tls_reload_secs)?,
        data_dir: args.data_dir,
        node_id: args.node_id.unwrap_or_else(default_node_id),
        bind: args.bind,
        redis_url: args.redis_url.map(Secret),
        backend_jwt_key,
        credential_key,
        drain_delay: super::secs(layers, "drain-delay-secs", args.drain_delay_secs)?,
        shutdown_grace: super::secs(layers, "shutdown-grace-secs", args.shutdown_grace_secs)?,
        upstream_tls,
        limits,
        websocket_idle_timeout: super::secs(
            layers,
            "websocket-idle-timeout-secs",
            args.websocket_idle_timeout_secs,
        )?,
        websub_allow_private_callbacks: args.websub_allow_private_callbacks,
    })
}

/// `HOST=CERT.pem,KEY.pem`, both files present.
fn sni_entry(layers: &Layers, entry: &str) -> Result<(String, CertificateFiles), ConfigError> {
    let (host, files) = entry
        .split_once('=')
        .and_then(|(host, files)| Some((host, files.split_once(',')?)))
        .filter(|(host, _)| !host.is_empty())
        .ok_or_else(|| {
            layers
                .key("tls-sni")
                .invalid(format!("'{entry}' is not HOST=CERT.pem,KEY.pem"))
        })?;
    let files = CertificateFiles {
        cert: files.0.into(),
        key: files.1.into(),
    };
    super::existing_file(layers, "tls-sni", &files.cert)?;
    super::existing_file(layers, "tls-sni", &files.key)?;
    Ok((host.to_owned(), files))
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
