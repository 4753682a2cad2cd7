//! `gantry control-plane`: the Publisher, Developer Portal, Admin and Key Manager REST APIs
//! and the `gantry.sync.v1` stream, over TLS on one port, on PostgreSQL (production) or
//! SQLite. Several replicas may share one PostgreSQL database: each learns the others'
//! changes by LISTEN/NOTIFY and a periodic reconcile.

use std::sync::Arc;

use anyhow::Context as _;
use gantry_control_plane::bootstrap::AdminPassword;
use gantry_control_plane::keyring;
use gantry_control_plane::{AppState, server};
use gantry_store::Store;
use gantry_sync::Distributor;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::bootstrap::{Files, Prepared};
use crate::config::ControlPlaneConfig;
use crate::key_manager::KeyManagerSetup;
use crate::up::bind;

/// Runs until Ctrl-C / SIGTERM.
pub async fn run(mut args: ControlPlaneConfig) -> anyhow::Result<()> {
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
            tls: args
                .tls
                .as_ref()
                .map(|(cert, key)| (cert.as_path(), key.as_path())),
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

    let credential_key =
        gantry_control_plane::bootstrap::write_credential_key(&args.data_dir, &key_ring)?;
    tracing::info!(path = %credential_key.display(),
        "gateways serving AI APIs need this credential key (--credential-key-file)");
    let token_issuer = key_ring
        .start(&store, &args.issuer)
        .await
        .context("loading the signing keys")?;
    let shutdown = CancellationToken::new();
    let state = AppState::new(
        store.clone(),
        token_issuer,
        key_ring,
        Arc::new(Distributor::new()),
    )
    .require_gateway_client_certificate(args.require_gateway_client_cert)
    .route_compiler(Arc::new(crate::route_compiler::GatewayCompiler))
    .self_signup(args.self_signup)
    .rollout_prometheus_urls(args.rollout_prometheus_urls.clone())
    .gateway_url(args.gateway_url.clone())
    .reconcile_every(args.reconcile_interval)
    .with_workflows(args.workflows.clone())
    .stop_on(shutdown.clone());
    crate::key_manager::trust_assertion_issuers(&mut args.keys, &state);
    state
        .reconcile()
        .await
        .context("building the gateway configurations")?;

    let grace = args.shutdown_grace;
    let mut tasks = JoinSet::new();
    tasks.spawn(state.clone().follow_changes(shutdown.clone()));
    tasks.spawn(gantry_control_plane::service::rollout_driver::run(
        state.clone(),
        shutdown.clone(),
    ));
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
