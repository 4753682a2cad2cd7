//! `gantry`: the one binary. `gantry up` runs the control plane and a gateway in one process
//! on an embedded SQLite store; `gantry control-plane` and `gantry gateway` run them as
//! separate processes (the production layout); `gantry migrate` applies the migrations;
//! `gantry ctl` is the command line for CI/CD (apictl's verbs, over the public REST APIs).
#![deny(unsafe_code)] // one reviewed exception: `memory::release_freed_heap`

mod bootstrap;
mod config;
mod control_plane;
mod ctl;
mod demo;
mod gateway;
mod key_manager;
mod memory;
mod route_compiler;
mod shutdown;
mod up;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

/// Gantry: API management — publish APIs, subscribe applications, enforce at the gateway.
#[derive(Debug, Parser)]
#[command(name = "gantry", version, about, long_about = None, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,

    /// Log line format.
    #[arg(long, global = true, env = "GANTRY_LOG_FORMAT", value_enum, default_value_t = LogFormatArg::Text)]
    log_format: LogFormatArg,

    /// Log filter, e.g. `info`, `warn,access=info`, `debug` (RUST_LOG syntax).
    #[arg(
        long,
        global = true,
        env = "GANTRY_LOG",
        default_value = "info,sqlx=warn,hyper=warn"
    )]
    log_level: String,

    /// OTLP/gRPC endpoint to export request traces to (e.g. http://otel-collector:4317);
    /// W3C `traceparent` is propagated either way.
    #[arg(long, global = true, env = "GANTRY_OTLP_ENDPOINT")]
    otlp_endpoint: Option<String>,

    /// TOML file with the subcommand's settings (keys are the long flag names,
    /// `gateway-port = 9090` or `gateway_port`); command-line flags and GANTRY_… variables
    /// take precedence, unknown keys are refused.
    #[arg(long, global = true, env = "GANTRY_CONFIG")]
    config: Option<PathBuf>,

    /// Threads that serve requests, like Envoy's `--concurrency` (default: one per CPU).
    /// `1` runs the process on a single-threaded runtime, without the work-stealing
    /// scheduler: about 10 % less CPU per request for a gateway given one core.
    #[arg(long, global = true, env = "GANTRY_WORKER_THREADS")]
    worker_threads: Option<std::num::NonZeroUsize>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum LogFormatArg {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run everything on this machine: control plane (HTTPS), one gateway for the
    /// `Default` environment, and a demo API, on an embedded SQLite store.
    Up(config::up::UpArgs),
    /// Run the control plane: Publisher, Developer Portal, Admin and Key Manager REST APIs
    /// and the gRPC stream gateways sync from, on PostgreSQL (or SQLite).
    ControlPlane(config::control_plane::ControlPlaneArgs),
    /// Run a gateway for one environment, configured by a control plane.
    Gateway(config::gateway::GatewayArgs),
    /// Apply the database migrations and exit.
    Migrate(MigrateArgs),
    /// Manage a control plane from the command line or a CI job, after WSO2's apictl:
    /// environments, login, get, export/import, lifecycle, deploy, apply a folder.
    Ctl(Box<ctl::CtlArgs>),
}

#[derive(Debug, clap::Args)]
struct MigrateArgs {
    /// Database to migrate: postgres://user@host/db or sqlite://path.
    #[arg(long, env = "GANTRY_DATABASE_URL")]
    database_url: Option<String>,
    /// Data directory whose embedded SQLite store to migrate (when no --database-url).
    #[arg(long, env = "GANTRY_DATA_DIR", default_value = "./gantry-data")]
    data_dir: PathBuf,
}

/// The process to run, with its checked configuration.
enum Process {
    Up(config::UpConfig),
    ControlPlane(config::ControlPlaneConfig),
    Gateway(config::GatewayConfig),
    Migrate(MigrateArgs),
}

/// EX_USAGE: the command line, environment or config file is wrong.
const EXIT_CONFIG: u8 = 64;

fn main() -> ExitCode {
    let (cli, layers) = match config::parse(std::env::args_os().collect()) {
        Ok(parsed) => parsed,
        Err(config::ParseError::Clap(e)) => e.exit(),
        Err(config::ParseError::Config(e)) => {
            eprintln!("gantry: {e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    // `gantry ctl` is a client: no server configuration, logs or telemetry.
    let command = match cli.command {
        Command::Ctl(args) => return ctl::run(*args),
        other => other,
    };
    // Every setting is checked here, before a runtime, a port or a database.
    let checked = (|| -> Result<Process, config::ConfigError> {
        if let Some(endpoint) = &cli.otlp_endpoint {
            config::http_url(&layers, "otlp-endpoint", endpoint)?;
        }
        Ok(match command {
            Command::Up(args) => Process::Up(config::up::load(args, &layers)?),
            Command::ControlPlane(args) => {
                Process::ControlPlane(config::control_plane::load(args, &layers)?)
            }
            Command::Gateway(args) => Process::Gateway(config::gateway::load(args, &layers)?),
            Command::Migrate(args) => Process::Migrate(args),
            Command::Ctl(_) => unreachable!("handled above"),
        })
    })();
    let process = match checked {
        Ok(process) => process,
        Err(e) => {
            eprintln!("gantry: {e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    // One crypto provider for every rustls user in the process (aws-lc-rs).
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();

    let mut builder = match cli.worker_threads.map(std::num::NonZeroUsize::get) {
        Some(1) => tokio::runtime::Builder::new_current_thread(),
        Some(n) => {
            let mut builder = tokio::runtime::Builder::new_multi_thread();
            builder.worker_threads(n);
            builder
        }
        None => tokio::runtime::Builder::new_multi_thread(),
    };
    let runtime = match builder.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("gantry: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let format = match cli.log_format {
        LogFormatArg::Text => gantry_telemetry::LogFormat::Text,
        LogFormatArg::Json => gantry_telemetry::LogFormat::Json,
    };
    let service = match &process {
        Process::Gateway(_) => "gantry-gateway",
        Process::ControlPlane(_) => "gantry-control-plane",
        _ => "gantry",
    };
    let otlp = cli
        .otlp_endpoint
        .clone()
        .map(|endpoint| gantry_telemetry::OtlpSettings {
            endpoint,
            service_name: service.to_owned(),
        });
    let result = runtime.block_on(async {
        // Inside the runtime: the OTLP exporter's gRPC channel runs on it.
        let telemetry = gantry_telemetry::init(format, &cli.log_level, otlp.as_ref());
        let result = match process {
            Process::Up(config) => up::run(config).await,
            Process::ControlPlane(config) => control_plane::run(config).await,
            Process::Gateway(config) => gateway::run(config).await,
            Process::Migrate(args) => migrate(args).await,
        };
        telemetry.shutdown();
        result
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // Configuration errors were all reported above, before the runtime started.
        Err(e) => {
            eprintln!("gantry: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn migrate(args: MigrateArgs) -> anyhow::Result<()> {
    use anyhow::Context as _;
    let store = match &args.database_url {
        Some(url) => gantry_store::Store::connect(url)
            .await
            .context("connecting to the database")?,
        None => {
            bootstrap::data_dir(&args.data_dir)?;
            gantry_store::Store::open_sqlite(&args.data_dir.join("gantry.db"))
                .await
                .context("opening the store")?
        }
    };
    store.migrate().await.context("applying migrations")?;
    eprintln!("gantry: migrations applied");
    store.close().await;
    Ok(())
}
