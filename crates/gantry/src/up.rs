//! `gantry up`: the all-in-one process for a laptop.
//!
//! Opens (or creates) the embedded store, bootstraps the admin user, the `Default`
//! environment, the key-encryption key and the signing keys (rotated on a schedule), binds every port before serving anything (so a taken
//! port fails fast), then runs the control plane over HTTPS, a gateway for `Default` fed
//! in-process by the same snapshots a remote gateway would get, and the demo API. Ctrl-C or
//! SIGTERM stops accepting, drains in-flight requests and exits 0.

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::Arc;

use anyhow::Context as _;
use gantry_control_plane::bootstrap::{AdminPassword, DEFAULT_ENVIRONMENT};
use gantry_control_plane::keyring;
use gantry_control_plane::{AppState, server, tls};
use gantry_gateway::Gateway;
use gantry_store::Store;
use gantry_sync::Distributor;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::bootstrap::{Files, Prepared};
use crate::config::UpConfig;
use crate::demo;
use crate::key_manager::KeyManagerSetup;

/// Runs until Ctrl-C / SIGTERM.
pub async fn run(mut args: UpConfig) -> anyhow::Result<()> {
    crate::bootstrap::data_dir(&args.data_dir)?;

    let db_path = args.data_dir.join("gantry.db");
    let store = Store::open_sqlite(&db_path)
        .await
        .with_context(|| format!("opening {}", db_path.display()))?;
    store
        .migrate()
        .await
        .context("applying database migrations")?;

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
    let tls_config = tls::server_config(&tls_files.cert, &tls_files.key)
        .context("loading the TLS certificate")?;

    // Bind everything before serving anything: a taken port is reported at once.
    let cp_listener = bind(
        args.bind,
        args.control_plane_port,
        "control plane (--control-plane-port)",
    )
    .await?;
    let gw_listener = bind(args.bind, args.gateway_port, "gateway (--gateway-port)").await?;
    let gw_tls_listener = match args.gateway_https_port {
        Some(port) => Some(bind(args.bind, port, "gateway HTTPS (--gateway-https-port)").await?),
        None => None,
    };
    let ops_listener = bind(args.bind, args.ops_port, "ops (--ops-port)").await?;
    let demo_listener = match args.demo {
        false => None,
        true => Some(
            bind(
                args.bind,
                args.demo_backend_port,
                "demo backend (--demo-backend-port)",
            )
            .await?,
        ),
    };

    let token_issuer = key_ring
        .start(&store, &args.issuer)
        .await
        .context("loading the signing keys")?;
    let distributor = Arc::new(Distributor::new());
    let shutdown = CancellationToken::new();
    let state = AppState::new(store.clone(), token_issuer, key_ring, distributor.clone())
        .self_signup(args.self_signup)
        .rollout_prometheus_urls(args.rollout_prometheus_urls.clone())
        .route_compiler(Arc::new(crate::route_compiler::GatewayCompiler))
        // The developer portal's "Try it" calls this process's own gateway.
        .gateway_url(Some(format!(
            "http://{}",
            SocketAddr::new(loopback_for(args.bind), args.gateway_port)
        )))
        .with_workflows(args.workflows.clone())
        .stop_on(shutdown.clone());
    crate::key_manager::trust_assertion_issuers(&mut args.keys, &state);
    state
        .reconcile()
        .await
        .context("building the initial gateway configuration")?;

    let grace = args.shutdown_grace;
    let mut tasks = JoinSet::new();

    let gateway = Gateway::with_upstream_tls(DEFAULT_ENVIRONMENT, None, &args.upstream_tls.0);
    let limits = args.limits;
    gateway.limit_request_bodies(limits.max_request_body_bytes);
    gateway.set_request_body_timeout(limits.request_body_timeout);
    gateway.after_each_apply(Box::new(crate::memory::release_freed_heap));
    gateway.set_websocket_idle_timeout(args.websocket_idle_timeout);
    gateway.allow_private_websub_callbacks(args.websub_allow_private_callbacks);
    // The in-process gateway opens AI APIs' provider keys with the key the control plane
    // seals them under (a remote gateway is given it with --credential-key-file).
    let (_, credential_key) = state
        .key_ring()
        .credential_key()
        .context("deriving the gateways' credential key")?;
    gateway
        .use_credential_key(&credential_key)
        .context("the gateways' credential key")?;
    // Apply the configuration before the gateway accepts its first connection.
    if let Some(snapshot) = distributor.latest(DEFAULT_ENVIRONMENT) {
        let _ = gateway.apply_versioned((*snapshot).clone());
    }
    // The in-process gateway is listed with the environment's gateways like a remote one.
    let node = gantry_gateway::InProcessNode {
        id: format!("gantry-up@{}", args.hostname),
        access: Arc::new(gantry_control_plane::distribution::StoreAccess::new(
            state.clone(),
        )),
    };
    tasks.spawn(gateway.clone().follow(
        distributor.subscribe(DEFAULT_ENVIRONMENT),
        shutdown.clone(),
        node,
    ));

    if let Some(listener) = demo_listener {
        tasks.spawn(demo::serve_backend(listener, shutdown.clone()));
        let backend = format!(
            "http://{}:{}",
            loopback_for(args.bind),
            args.demo_backend_port
        );
        demo::seed(&state, &args.data_dir, &backend)
            .await
            .context("creating the demo API")?;
    }

    tasks.spawn(server::serve_tls(
        cp_listener,
        tls_config,
        gantry_control_plane::router(state.clone()),
        shutdown.clone(),
        grace,
    ));
    tasks.spawn(gantry_control_plane::service::rollout_driver::run(
        state.clone(),
        shutdown.clone(),
    ));
    tasks.spawn(keyring::run_schedule(
        state.clone(),
        keyring::check_interval(rotation_period, retire_grace),
        shutdown.clone(),
    ));
    tasks.spawn(gateway.clone().serve_with_limits(
        gw_listener,
        None,
        gantry_listener::Stop::after(shutdown.clone(), grace),
        limits.listener,
    ));
    if let Some(listener) = gw_tls_listener {
        let certificates = gantry_listener::certificates::CertificateStore::load(
            gantry_listener::certificates::CertificateFiles {
                cert: tls_files.cert.clone(),
                key: tls_files.key.clone(),
            },
            Vec::new(),
            args.tls_cert_dir.as_deref(),
        )
        .context("loading the gateway's TLS certificates")?;
        if let Some(every) = args.tls_reload {
            tasks.spawn(certificates.clone().watch(every, shutdown.clone()));
        }
        tasks.spawn(gateway.clone().serve_with_limits(
            listener,
            Some(certificates.server_config_asking_for_client_certificates()),
            gantry_listener::Stop::after(shutdown.clone(), grace),
            limits.listener,
        ));
    }
    tasks.spawn(gateway.serve_ops(ops_listener, shutdown.clone()));

    print_banner(&args, &admin, tls_files.ca.as_deref());
    tracing::info!(
        control_plane = args.control_plane_port,
        gateway = args.gateway_port,
        ops = args.ops_port,
        "gantry is up"
    );

    crate::shutdown::wait_for_signal().await;
    tracing::info!(grace_secs = grace.as_secs(), "shutting down");
    shutdown.cancel();
    while tasks.join_next().await.is_some() {}
    store.close().await;
    tracing::info!("stopped");
    Ok(())
}

pub(crate) async fn bind(ip: IpAddr, port: u16, what: &str) -> anyhow::Result<TcpListener> {
    let addr = SocketAddr::new(ip, port);
    TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr} for the {what}"))
}

/// The address the gateway uses to reach a local listener bound to `bind`.
fn loopback_for(bind: IpAddr) -> IpAddr {
    match bind {
        IpAddr::V4(v4) if v4.is_unspecified() => IpAddr::from([127, 0, 0, 1]),
        IpAddr::V6(v6) if v6.is_unspecified() => IpAddr::from(std::net::Ipv6Addr::LOCALHOST),
        other => other,
    }
}

fn print_banner(args: &UpConfig, admin: &AdminPassword, ca: Option<&Path>) {
    let host = &args.hostname;
    let cp = format!("https://{host}:{}", args.control_plane_port);
    let gw = format!("http://{host}:{}", args.gateway_port);
    let password = match admin {
        AdminPassword::Generated(p) => {
            format!("{p}   (generated; shown only now — set GANTRY_ADMIN_PASSWORD to choose one)")
        }
        AdminPassword::FromEnvironment => "from GANTRY_ADMIN_PASSWORD".to_owned(),
        AdminPassword::Existing => "unchanged (set when the data directory was created)".to_owned(),
    };
    let auth_password = match admin {
        AdminPassword::Generated(p) => p.clone(),
        _ => "$GANTRY_ADMIN_PASSWORD".to_owned(),
    };
    let ca_flag = match ca {
        Some(path) => format!("--cacert {}", path.display()),
        None => String::new(),
    };
    let demo_url = format!(
        "http://{}:{}",
        loopback_for(args.bind),
        args.demo_backend_port
    );
    println!(
        r#"
Gantry is up.

  Portals          {cp}/publisher   {cp}/devportal   {cp}/admin
  Publisher API    {cp}/api/am/publisher/v4
  Devportal API    {cp}/api/am/devportal/v3
  Token endpoint   {cp}/oauth2/token      (JWKS: {cp}/oauth2/jwks)
  Gateway          {gw}    (environment "Default", vhost "localhost")
  Gateway health   http://{host}:{ops}/health/ready
  Data directory   {data}
  Admin user       admin
  Admin password   {password}

Walk-through (paste into a shell; needs curl and jq):

  CP={cp}; GW={gw}; C="curl -sS {ca_flag} -u admin:{auth_password}"
{demo_note}
  # 1. Create an API, publish it, snapshot a revision and deploy it to the Default gateway
  API_ID=$($C -H 'Content-Type: application/json' $CP/api/am/publisher/v4/apis -d '{{
    "name":"MenuAPI","context":"/menu-api","version":"1.0.0","policies":["Gold","Unlimited"],
    "endpointConfig":{{"endpoint_type":"http","production_endpoints":{{"url":"{demo_url}"}}}},
    "operations":[{{"target":"/menu","verb":"GET"}}]}}' | jq -r .id)
  $C -X POST "$CP/api/am/publisher/v4/apis/change-lifecycle?apiId=$API_ID&action=Publish" | jq .lifecycleState.state
  REV_ID=$($C -H 'Content-Type: application/json' $CP/api/am/publisher/v4/apis/$API_ID/revisions -d '{{"description":"first"}}' | jq -r .id)
  $C -H 'Content-Type: application/json' "$CP/api/am/publisher/v4/apis/$API_ID/deploy-revision?revisionId=$REV_ID" \
     -d '[{{"name":"Default","vhost":"localhost"}}]' | jq .

  # 2. Create an application, subscribe it, generate its keys
  APP_ID=$($C -H 'Content-Type: application/json' $CP/api/am/devportal/v3/applications \
     -d '{{"name":"MyApp","throttlingPolicy":"Unlimited"}}' | jq -r .applicationId)
  $C -H 'Content-Type: application/json' $CP/api/am/devportal/v3/subscriptions \
     -d "{{\"apiId\":\"$API_ID\",\"applicationId\":\"$APP_ID\",\"throttlingPolicy\":\"Gold\"}}" | jq .status
  KEYS=$($C -H 'Content-Type: application/json' $CP/api/am/devportal/v3/applications/$APP_ID/generate-keys \
     -d '{{"keyType":"PRODUCTION","grantTypesToBeSupported":["client_credentials"]}}')
  CK=$(echo "$KEYS" | jq -r .consumerKey); CS=$(echo "$KEYS" | jq -r .consumerSecret)

  # 3. Get a token and call the API through the gateway
  TOKEN=$(curl -sS {ca_flag} -u "$CK:$CS" -d grant_type=client_credentials $CP/oauth2/token | jq -r .access_token)
  curl -i $GW/menu-api/1.0.0/menu -H "Authorization: Bearer $TOKEN"     # 200 from the upstream
  curl -i $GW/menu-api/1.0.0/menu                                       # 401: no token

Ctrl-C stops Gantry; the data directory keeps everything for the next `gantry up`.
"#,
        ops = args.ops_port,
        data = args.data_dir.display(),
        demo_note = if !args.demo {
            "\n  # (--no-demo: start a backend of your own and put its URL in endpointConfig below)\n".to_owned()
        } else {
            "\n  # The demo API is already deployed; its /menu resource is open, /order needs a token:\n  curl -i $GW/pizzashack/1.0.0/menu\n  curl -i $GW/pizzashack/1.0.0/order/1     # 401: this resource needs a token\n"
                .to_owned()
        },
    );
}
