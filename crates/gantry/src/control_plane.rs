//! `gantry control-plane`: the Publisher, Developer Portal, Admin and Key Manager REST APIs
//! and the `gantry.sync.v1` stream, over TLS on one port, on PostgreSQL (production) or
//! SQLite. Several replicas may share one PostgreSQL database: each learns the others'
//! changes by LISTEN/NOTIFY and a periodic reconcile.

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use gantry_control_plane::bootstrap::AdminPassword;
use gantry_control_plane::keyring;
use gantry_control_plane::{AppState, server};
use gantry_store::Store;
use gantry_sync::Distributor;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::bootstrap::{Files, Prepared};
use crate::key_manager::{KeyManagerArgs, KeyManagerSetup};
use crate::up::{ConfigError, bind};

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
    /// Base URL of a gateway the developer portal's "Try it" console calls
    /// (http://…, e.g. http://gateway.apim-dp:9090); without it "Try it" is unavailable.
    #[arg(long, env = "GANTRY_GATEWAY_URL")]
    gateway_url: Option<String>,
    #[command(flatten)]
    keys: KeyManagerArgs,
    /// Seconds to let in-flight requests finish on shutdown.
    #[arg(long, env = "GANTRY_SHUTDOWN_GRACE_SECS", default_value_t = 20)]
    shutdown_grace_secs: u64,
}

/// Runs until Ctrl-C / SIGTERM.
pub async fn run(args: ControlPlaneArgs) -> anyhow::Result<()> {
    if args.port == 0 {
        return Err(ConfigError("--port: must be between 1 and 65535".into()).into());
    }
    let store = Store::connect(&args.database_url)
        .await
        .context("connecting to the database (--database-url)")?;
    if args.no_migrate {
        anyhow::ensure!(
            store.is_migrated().await?,
            "the database is not migrated; run `gantry migrate` first"
        );
    } else {
        store
            .migrate()
            .await
            .context("applying database migrations")?;
    }
    // On PostgreSQL every replica must be given the same key-encryption key
    // (GANTRY_KEY_ENCRYPTION_KEY or --key-encryption-key-file from a shared Secret).
    let Prepared {
        admin,
        keys:
            KeyManagerSetup {
                key_ring,
                rotation_period,
                retire_grace,
            },
        tls: tls_files,
    } = crate::bootstrap::prepare(
        &store,
        &args.keys,
        Files {
            data_dir: &args.data_dir,
            tls: args.tls_cert.as_deref().zip(args.tls_key.as_deref()),
            hostname: &args.hostname,
        },
    )
    .await?;
    if let AdminPassword::Generated(password) = &admin {
        eprintln!(
            "gantry: created user 'admin' with password {password} (shown once; set GANTRY_ADMIN_PASSWORD to choose it)"
        );
    }
    let tls_config = gantry_listener::tls_config_with_client_ca(
        &tls_files.cert,
        &tls_files.key,
        args.client_ca.as_deref(),
    )
    .context("loading the TLS certificate (--tls-cert, --tls-key, --client-ca)")?;
    let listener = bind(args.bind, args.port, "control plane (--port)").await?;

    let issuer_base = args
        .issuer_base_url
        .clone()
        .unwrap_or_else(|| format!("https://{}:{}", args.hostname, args.port));
    let issuer = format!("{}/oauth2/token", issuer_base.trim_end_matches('/'));
    let token_issuer = key_ring
        .start(&store, &issuer)
        .await
        .context("loading the signing keys")?;
    let state = AppState::new(
        store.clone(),
        token_issuer,
        key_ring,
        Arc::new(Distributor::new()),
    )
    .require_gateway_client_certificate(args.require_gateway_client_cert)
    .self_signup(args.self_signup)
    .gateway_url(args.gateway_url.clone());
    args.keys.trust_assertion_issuers(&state, &issuer)?;
    state
        .reconcile()
        .await
        .context("building the gateway configurations")?;

    let shutdown = CancellationToken::new();
    let grace = Duration::from_secs(args.shutdown_grace_secs);
    let mut tasks = JoinSet::new();
    tasks.spawn(state.clone().follow_changes(shutdown.clone()));
    tasks.spawn(keyring::run_schedule(
        state.clone(),
        keyring::check_interval(rotation_period, retire_grace),
        shutdown.clone(),
    ));
    tasks.spawn(server::serve_tls(
        listener,
        tls_config,
        gantry_control_plane::router(state),
        shutdown.clone(),
        grace,
    ));
    tracing::info!(port = args.port, backend = ?store.backend(), "control plane is up");
    eprintln!(
        "gantry: control plane on https://{}:{} (CA: {})",
        args.hostname,
        args.port,
        tls_files
            .ca
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "operator-provided".into())
    );

    crate::shutdown::wait_for_signal().await;
    tracing::info!("shutting down");
    shutdown.cancel();
    while tasks.join_next().await.is_some() {}
    store.close().await;
    Ok(())
}
