//! `gantry control-plane`'s configuration: [`ControlPlaneArgs`] (flags, `GANTRY_…`
//! variables, `--config` keys) checked into [`ControlPlaneConfig`].

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use gantry_control_plane::service::workflows::WorkflowSettings;

use super::key_manager::{KeyManagerArgs, KeyManagerConfig};
use super::workflows::WorkflowArgs;
use super::{ConfigError, Layers};

/// Options of `gantry control-plane`; every flag can also come from its `GANTRY_…` variable
/// or the `--config` file.
#[derive(Debug, clap::Args)]
pub struct ControlPlaneArgs {
    /// HTTPS port for REST, OAuth2 and the gateway sync stream.
    #[arg(long, env = "GANTRY_PORT", default_value_t = 9443)]
    port: u16,
    /// Address to bind.
    #[arg(long, env = "GANTRY_BIND", default_value = "0.0.0.0")]
    bind: IpAddr,
    /// Database: postgres://user@host/db (production) or sqlite://path?mode=rwc.
    #[arg(long, env = "GANTRY_DATABASE_URL")]
    database_url: String,
    /// Host name clients use (token issuer, generated certificate).
    #[arg(long, env = "GANTRY_HOSTNAME", default_value = "localhost")]
    hostname: String,
    /// Public base URL of the token issuer, when it differs from https://HOSTNAME:PORT
    /// (e.g. behind an Ingress: https://keymgr.example.com).
    #[arg(long, env = "GANTRY_ISSUER_BASE_URL")]
    issuer_base_url: Option<String>,
    /// PEM certificate chain (else a self-signed one is generated into --data-dir).
    #[arg(long, env = "GANTRY_TLS_CERT", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// PEM private key for --tls-cert.
    #[arg(long, env = "GANTRY_TLS_KEY", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// PEM CA whose client certificates are verified when presented (mutual TLS).
    #[arg(long, env = "GANTRY_CLIENT_CA")]
    client_ca: Option<PathBuf>,
    /// Refuse gateways that present no client certificate verified by --client-ca.
    #[arg(
        long,
        env = "GANTRY_REQUIRE_GATEWAY_CLIENT_CERT",
        requires = "client_ca"
    )]
    require_gateway_client_cert: bool,
    /// Where a generated certificate is kept.
    #[arg(long, env = "GANTRY_DATA_DIR", default_value = "./gantry-data")]
    data_dir: PathBuf,
    /// Do not apply migrations on start (run `gantry migrate` separately).
    #[arg(long, env = "GANTRY_NO_MIGRATE")]
    no_migrate: bool,
    /// Let visitors create their own subscriber account in the developer portal
    /// (true|false; off by default in production).
    #[arg(long, env = "GANTRY_SELF_SIGNUP", default_value_t = false, num_args = 0..=1,
          default_missing_value = "true", action = clap::ArgAction::Set)]
    self_signup: bool,
    /// Prometheus servers rollout plans may query (`analysis.prometheus.url`), comma-separated
    /// base URLs such as http://prometheus.monitoring:9090. A plan naming any other URL is
    /// refused: the control plane sends requests only where its operator allows.
    #[arg(
        long = "rollout-prometheus-url",
        env = "GANTRY_ROLLOUT_PROMETHEUS_URLS",
        value_delimiter = ','
    )]
    rollout_prometheus_urls: Vec<String>,
    /// Base URL of a gateway the developer portal's "Try it" console calls
    /// (http://…, e.g. http://gateway.apim-dp:9090); without it "Try it" is unavailable.
    #[arg(long, env = "GANTRY_GATEWAY_URL")]
    gateway_url: Option<String>,
    #[command(flatten)]
    keys: KeyManagerArgs,
    #[command(flatten)]
    workflows: WorkflowArgs,
    /// Seconds to let in-flight requests finish on shutdown.
    #[arg(long, env = "GANTRY_SHUTDOWN_GRACE_SECS", default_value_t = 20)]
    shutdown_grace_secs: u64,
    /// Seconds between two comparisons of this replica's gateway configurations with the
    /// store (other replicas' changes usually arrive at once by LISTEN/NOTIFY).
    #[arg(long, env = "GANTRY_RECONCILE_INTERVAL_SECS", default_value_t = 5)]
    reconcile_interval_secs: u64,
}

/// `gantry control-plane`, checked: the port, the database URL's scheme, the host name and
/// URLs, the given TLS files present, the key manager loaded (and, on PostgreSQL, a shared
/// key-encryption key given).
#[derive(Debug)]
pub struct ControlPlaneConfig {
    /// HTTPS port for REST, OAuth2 and the gateway sync stream.
    pub port: u16,
    /// Address to bind.
    pub bind: IpAddr,
    /// `postgres://…`, `postgresql://…` or `sqlite:…`.
    pub database_url: String,
    /// Host name clients use.
    pub hostname: String,
    /// The token issuer: `--issuer-base-url` (or `https://HOSTNAME:PORT`) + `/oauth2/token`.
    pub issuer: String,
    /// `--tls-cert` and `--tls-key` (both exist), or none for a generated certificate.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// CA whose client certificates are verified (exists).
    pub client_ca: Option<PathBuf>,
    /// Refuse gateways without a verified client certificate.
    pub require_gateway_client_cert: bool,
    /// Where a generated certificate (and key-encryption key) is kept.
    pub data_dir: PathBuf,
    /// Leave migrations to `gantry migrate`.
    pub no_migrate: bool,
    /// Prometheus servers rollout plans may query.
    pub rollout_prometheus_urls: Vec<String>,
    /// Developer portal self-signup.
    pub self_signup: bool,
    /// Base URL of a gateway for the portal's "Try it".
    pub gateway_url: Option<String>,
    /// The key manager.
    pub keys: KeyManagerConfig,
    /// Approval workflows.
    pub workflows: WorkflowSettings,
    /// Time in-flight requests get on shutdown.
    pub shutdown_grace: Duration,
    /// Time between two reconciles with the store (at least 1 s).
    pub reconcile_interval: Duration,
}

/// Merges and checks `gantry control-plane`'s settings; `layers` says where each came from.
pub fn load(args: ControlPlaneArgs, layers: &Layers) -> Result<ControlPlaneConfig, ConfigError> {
    super::port(layers, "port", args.port)?;
    let url = args.database_url.as_str();
    let postgres = url.starts_with("postgres://") || url.starts_with("postgresql://");
    if !postgres && !url.starts_with("sqlite:") {
        return Err(layers.key("database-url").invalid(
            "not a database URL: use postgres://user@host/db (or postgresql://) or sqlite://path",
        ));
    }
    super::hostname(layers, "hostname", &args.hostname)?;
    let issuer_base = match args.issuer_base_url {
        Some(base) => {
            super::http_url(layers, "issuer-base-url", &base)?;
            base
        }
        None => format!("https://{}:{}", args.hostname, args.port),
    };
    let issuer = format!("{}/oauth2/token", issuer_base.trim_end_matches('/'));
    let workflows = args.workflows.load(layers, &issuer_base)?;
    if let Some(url) = &args.gateway_url {
        super::http_url(layers, "gateway-url", url)?;
    }
    let tls = match (args.tls_cert, args.tls_key) {
        (Some(cert), Some(key)) => {
            super::existing_file(layers, "tls-cert", &cert)?;
            super::existing_file(layers, "tls-key", &key)?;
            Some((cert, key))
        }
        _ => None,
    };
    if let Some(ca) = &args.client_ca {
        super::existing_file(layers, "client-ca", ca)?;
    }
    let keys = args.keys.load(layers, &issuer)?;
    if postgres {
        keys.require_shared_kek(&args.data_dir)?;
    }
    Ok(ControlPlaneConfig {
        port: args.port,
        bind: args.bind,
        database_url: args.database_url,
        hostname: args.hostname,
        issuer,
        tls,
        client_ca: args.client_ca,
        require_gateway_client_cert: args.require_gateway_client_cert,
        data_dir: args.data_dir,
        no_migrate: args.no_migrate,
        rollout_prometheus_urls: super::prometheus_urls(layers, args.rollout_prometheus_urls)?,
        self_signup: args.self_signup,
        gateway_url: args.gateway_url,
        keys,
        workflows,
        shutdown_grace: super::secs(layers, "shutdown-grace-secs", args.shutdown_grace_secs)?,
        reconcile_interval: match args.reconcile_interval_secs {
            0 => {
                return Err(layers
                    .key("reconcile-interval-secs")
                    .invalid("must be at least 1 second"));
            }
            n => super::secs(layers, "reconcile-interval-secs", n)?,
        },
    })
}
