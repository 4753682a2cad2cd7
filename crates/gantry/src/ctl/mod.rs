//! `gantry ctl`: the command line for CI/CD pipelines, after WSO2's `apictl`. It speaks
//! only the public REST APIs (Publisher v4, Developer Portal v3) with the WSO2 client flow
//! (client registration + password grant), so it works against any Gantry and exercises
//! the same contract as every other client.
//!
//! Exit codes a pipeline can rely on: 0 done, 1 the server (or a local file) refused with
//! the reason on stderr, 2 usage (clap), 3 the control plane cannot be reached.

mod apply;
mod client;
mod output;
mod project_dir;
mod rollout;
mod session;
mod transfer;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};

use client::Client;
use output::Output;
use session::Sessions;

/// `gantry ctl …`.
#[derive(Debug, Args)]
pub struct CtlArgs {
    #[command(subcommand)]
    command: CtlCommand,
    /// Accept any TLS certificate (e.g. the self-signed one of `gantry up`). Never the
    /// default: prefer `--ca-cert`.
    #[arg(short = 'k', long, global = true)]
    insecure: bool,
    /// Trust this CA (PEM) for the control plane's certificate instead of the system roots;
    /// overrides the one saved with `add env`.
    #[arg(long, global = true, value_name = "FILE")]
    ca_cert: Option<PathBuf>,
    /// Output format of `get`, `import` and `apply`.
    #[arg(short = 'o', long, global = true, value_enum, default_value_t = Output::Table)]
    output: Output,
}

#[derive(Debug, Subcommand)]
enum CtlCommand {
    /// Add an environment (a control plane) to talk to.
    Add(AddArgs),
    /// Remove an environment and its saved session.
    Remove(RemoveArgs),
    /// Log in to an environment (client registration, or the client registered at the last
    /// login, + password grant; the token is cached).
    Login(LoginArgs),
    /// Forget the session of an environment.
    Logout(LogoutArgs),
    /// List environments, APIs, revisions or applications.
    Get(GetArgs),
    /// Export an API as a WSO2 API project (zip).
    Export(ExportArgs),
    /// Import an API project (zip or folder).
    Import(ImportArgs),
    /// Apply a lifecycle action to an API (Publish, Deprecate, …).
    ChangeStatus(ChangeStatusArgs),
    /// Deploy a revision of an API to gateway environments.
    Deploy(DeployArgs),
    /// Undeploy a revision of an API from gateway environments.
    Undeploy(DeployArgs),
    /// Delete an API.
    Delete(DeleteArgs),
    /// Make the control plane match a folder of API projects (create, update, deploy;
    /// delete the rest with --prune). A second apply changes nothing.
    Apply(apply::ApplyArgs),
    /// What `apply` would change, with the routes each environment's gateways would add,
    /// remove or change (`apply --dry-run`).
    Diff(apply::ApplyArgs),
    /// Roll a revision out step by step (canary weights, analysis windows), or follow,
    /// promote, pause, resume or abort a rollout.
    Rollout(rollout::RolloutArgs),
}

#[derive(Debug, Args)]
struct AddArgs {
    #[command(subcommand)]
    what: AddWhat,
}

#[derive(Debug, Subcommand)]
enum AddWhat {
    /// `add env NAME --apim URL`.
    Env {
        /// Name for the environment (`dev`, `prod`).
        name: String,
        /// The control plane's base URL, e.g. https://localhost:9443.
        #[arg(long)]
        apim: String,
    },
}

#[derive(Debug, Args)]
struct RemoveArgs {
    #[command(subcommand)]
    what: RemoveWhat,
}

#[derive(Debug, Subcommand)]
enum RemoveWhat {
    /// `remove env NAME`.
    Env {
        /// The environment.
        name: String,
    },
}

#[derive(Debug, Args)]
struct LoginArgs {
    /// The environment.
    env: String,
    /// User name.
    #[arg(short = 'u', long)]
    username: String,
    /// Password (visible in the process list; prefer --password-stdin).
    #[arg(short = 'p', long, conflicts_with = "password_stdin")]
    password: Option<String>,
    /// Read the password from the first line of standard input.
    #[arg(long)]
    password_stdin: bool,
}

#[derive(Debug, Args)]
struct LogoutArgs {
    /// The environment.
    env: String,
}

#[derive(Debug, Args)]
struct GetArgs {
    #[command(subcommand)]
    what: GetWhat,
}

#[derive(Debug, Subcommand)]
enum GetWhat {
    /// The environments added with `add env`.
    Envs,
    /// APIs (`-q` takes WSO2's search syntax, e.g. `name:Pizza`).
    Apis {
        #[command(flatten)]
        env: EnvArg,
        /// Search query.
        #[arg(short = 'q', long)]
        query: Option<String>,
    },
    /// Revisions of an API, with where they are deployed.
    #[command(disable_version_flag = true)]
    Revisions {
        #[command(flatten)]
        env: EnvArg,
        #[command(flatten)]
        api: ApiRef,
    },
    /// Applications of the logged-in user.
    Apps {
        #[command(flatten)]
        env: EnvArg,
    },
    /// API products.
    ApiProducts {
        #[command(flatten)]
        env: EnvArg,
    },
    /// Throttling policies (subscription, application, advanced, custom); `-t` one kind.
    Policies {
        /// apictl's `get policies rate-limiting`.
        #[arg(value_parser = ["rate-limiting"])]
        policy_kind: Option<String>,
        #[command(flatten)]
        env: EnvArg,
        /// sub, app, api or global.
        #[arg(short = 't', long = "type")]
        policy_type: Option<String>,
    },
}

/// `-e ENV`: the environment (added with `add env`) to talk to.
#[derive(Debug, Args)]
struct EnvArg {
    /// The environment.
    #[arg(short = 'e', long = "environment")]
    env: String,
}

/// `-n NAME -v VERSION`: an API.
#[derive(Debug, Args, Clone)]
struct ApiRef {
    /// API name.
    #[arg(short = 'n', long)]
    name: String,
    /// API version.
    #[arg(short = 'v', long = "version", id = "api_version")]
    version: String,
}

#[derive(Debug, Args)]
#[command(disable_version_flag = true)]
struct ExportArgs {
    /// What to export: an API, an API product (with its APIs), an application, or a
    /// throttling policy.
    #[arg(value_parser = ["api", "api-product", "app", "policy"])]
    kind: String,
    /// apictl's `export policy rate-limiting` (the only kind of policy exported).
    #[arg(value_parser = ["rate-limiting"])]
    policy_kind: Option<String>,
    #[command(flatten)]
    env: EnvArg,
    /// Name of the API, product, application or policy.
    #[arg(short = 'n', long)]
    name: String,
    /// Version (APIs and API products).
    #[arg(short = 'v', long = "version", id = "api_version")]
    version: Option<String>,
    /// Provider (API products: when several share a name and version).
    #[arg(short = 'r', long)]
    provider: Option<String>,
    /// Owner of the application (default: the logged-in user).
    #[arg(long)]
    owner: Option<String>,
    /// Applications: include the keys (consumer keys and settings; never a secret).
    #[arg(long)]
    with_keys: bool,
    /// Policies: sub, app, api or global (default: any kind with that name).
    #[arg(short = 't', long = "type")]
    policy_type: Option<String>,
    /// Export this revision number instead of the working copy.
    #[arg(long)]
    rev: Option<u32>,
    /// Export the latest revision instead of the working copy.
    #[arg(long, conflicts_with = "rev")]
    latest: bool,
    /// YAML (default) or JSON project files.
    #[arg(long, default_value = "YAML", value_parser = ["YAML", "JSON"])]
    format: String,
    /// Keep the API's lifecycle state in the project (default true, as apictl).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    preserve_status: bool,
    /// Folder to write `<name>_<version>.zip` to.
    #[arg(long, default_value = ".")]
    destination: PathBuf,
}

#[derive(Debug, Args)]
struct ImportArgs {
    /// What the project is: an API, an API product, an application, or a throttling policy.
    #[arg(value_parser = ["api", "api-product", "app", "policy"])]
    kind: String,
    /// apictl's `import policy rate-limiting`.
    #[arg(value_parser = ["rate-limiting"])]
    policy_kind: Option<String>,
    #[command(flatten)]
    env: EnvArg,
    /// The project: a zip file or a folder (a policy: its YAML or JSON file).
    #[arg(short = 'f', long)]
    file: PathBuf,
    #[command(flatten)]
    import: ImportFlags,
    #[command(flatten)]
    transfer: transfer::TransferFlags,
}

/// The flags `import` and `apply` share.
#[derive(Debug, Args, Clone)]
struct ImportFlags {
    /// apictl's params.yaml; the entry named like the environment (or --params-env) applies.
    #[arg(long, value_name = "FILE")]
    params: Option<PathBuf>,
    /// The params.yaml environment to apply (default: the -e environment's name).
    #[arg(long, value_name = "NAME")]
    params_env: Option<String>,
    /// Update the API (product, application, policy) when it exists (apictl's
    /// `--update-api-product` for products).
    #[arg(long, visible_alias = "update-api-product")]
    update: bool,
    /// At the revision limit, replace the oldest revision.
    #[arg(long)]
    rotate_revision: bool,
    /// Keep the project's provider (default true, as apictl).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    preserve_provider: bool,
    /// Say what would change; change nothing.
    #[arg(long)]
    dry_run: bool,
}

#[derive(Debug, Args)]
#[command(disable_version_flag = true)]
struct ChangeStatusArgs {
    /// Only `api` today.
    #[arg(value_parser = ["api"])]
    kind: String,
    #[command(flatten)]
    env: EnvArg,
    /// The lifecycle action (Publish, Deploy as a Prototype, Demote to Created, Block,
    /// Deprecate, Re-Publish, Retire).
    #[arg(short = 'a', long)]
    action: String,
    #[command(flatten)]
    api: ApiRef,
}

#[derive(Debug, Args)]
#[command(disable_version_flag = true)]
struct DeployArgs {
    /// Only `api` today.
    #[arg(value_parser = ["api"])]
    kind: String,
    #[command(flatten)]
    env: EnvArg,
    #[command(flatten)]
    api: ApiRef,
    /// Revision number.
    #[arg(long)]
    rev: u32,
    /// Gateway environment(s) (as the Admin API names them, e.g. Default).
    #[arg(short = 'g', long = "gateway-env", required = true, num_args = 1..)]
    gateway_envs: Vec<String>,
    /// Virtual host (default: the gateway environment's first).
    #[arg(long)]
    vhost: Option<String>,
}

#[derive(Debug, Args)]
#[command(disable_version_flag = true)]
struct DeleteArgs {
    /// Only `api` today.
    #[arg(value_parser = ["api"])]
    kind: String,
    #[command(flatten)]
    env: EnvArg,
    #[command(flatten)]
    api: ApiRef,
}

/// Why a command failed, and so its exit code.
#[derive(Debug, thiserror::Error)]
pub enum CtlError {
    /// The server answered with an error (exit 1).
    #[error("{0}")]
    Refused(String),
    /// A local problem: a file, the saved configuration, not logged in (exit 1).
    #[error("{0}")]
    Local(String),
    /// The control plane cannot be reached (exit 3).
    #[error("{0}")]
    Unreachable(String),
}

impl CtlError {
    fn exit_code(&self) -> ExitCode {
        match self {
            CtlError::Refused(_) | CtlError::Local(_) => ExitCode::from(1),
            CtlError::Unreachable(_) => ExitCode::from(3),
        }
    }
}

/// Runs a `gantry ctl` command to completion; its exit code.
pub fn run(args: CtlArgs) -> ExitCode {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("gantry ctl: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(execute(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gantry ctl: {e}");
            e.exit_code()
        }
    }
}

async fn execute(args: CtlArgs) -> Result<(), CtlError> {
    let mut sessions = Sessions::open()?;
    let tls = client::Tls {
        insecure: args.insecure,
        ca_cert: args.ca_cert.clone(),
    };
    let out = args.output;
    let connect = |sessions: &Sessions, env: &str| Client::new(sessions, env, &tls);
    match args.command {
        CtlCommand::Add(AddArgs {
            what: AddWhat::Env { name, apim },
        }) => {
            sessions.add_env(&name, &apim, args.ca_cert.as_deref())?;
            println!("Added environment '{name}' ({apim})");
        }
        CtlCommand::Remove(RemoveArgs {
            what: RemoveWhat::Env { name },
        }) => {
            sessions.remove_env(&name)?;
            println!("Removed environment '{name}'");
        }
        CtlCommand::Login(login) => {
            let password = match (login.password, login.password_stdin) {
                (Some(p), _) => p,
                (None, true) => read_password_line()?,
                (None, false) => {
                    return Err(CtlError::Local(
                        "login: give the password with -p or --password-stdin".into(),
                    ));
                }
            };
            let client = connect(&sessions, &login.env)?;
            let session = client
                .login(&login.username, &password, sessions.session(&login.env))
                .await?;
            sessions.save_session(&login.env, session)?;
            println!("Logged in to '{}' as {}", login.env, login.username);
        }
        CtlCommand::Logout(LogoutArgs { env }) => {
            sessions.forget_session(&env)?;
            println!("Logged out of '{env}'");
        }
        CtlCommand::Get(GetArgs { what }) => match what {
            GetWhat::Envs => output::environments(out, &sessions.environments()),
            GetWhat::Apis { env, query } => {
                let mut client = connect(&sessions, &env.env)?;
                let apis = client.list_apis(query.as_deref()).await?;
                sessions.remember(&env.env, &client)?;
                output::apis(out, &apis);
            }
            GetWhat::Revisions { env, api } => {
                let mut client = connect(&sessions, &env.env)?;
                let id = client.api_id(&api.name, &api.version).await?;
                let revisions = client.revisions(&id).await?;
                sessions.remember(&env.env, &client)?;
                output::revisions(out, &revisions);
            }
            GetWhat::Apps { env } => {
                let mut client = connect(&sessions, &env.env)?;
                let apps = client.applications().await?;
                sessions.remember(&env.env, &client)?;
                output::applications(out, &apps);
            }
            GetWhat::ApiProducts { env } => {
                let mut client = connect(&sessions, &env.env)?;
                let products = transfer::api_products(&mut client).await?;
                sessions.remember(&env.env, &client)?;
                output::api_products(out, &products);
            }
            GetWhat::Policies {
                env, policy_type, ..
            } => {
                let mut client = connect(&sessions, &env.env)?;
                let policies = transfer::policies(&mut client, policy_type.as_deref()).await?;
                sessions.remember(&env.env, &client)?;
                output::policies(out, &policies);
            }
        },
        CtlCommand::Export(export) if export.kind != "api" => {
            let mut client = connect(&sessions, &export.env.env)?;
            let result = transfer::export(&mut client, &export).await;
            sessions.remember(&export.env.env, &client)?;
            result?;
        }
        CtlCommand::Import(import) if import.kind != "api" => {
            let mut client = connect(&sessions, &import.env.env)?;
            let result = transfer::import(&mut client, &import, out).await;
            sessions.remember(&import.env.env, &client)?;
            result?;
        }
        CtlCommand::Export(export) => {
            let mut client = connect(&sessions, &export.env.env)?;
            let version = transfer::required_version(&export)?;
            let id = client.api_id(&export.name, version).await?;
            let mut query = format!(
                "apiId={id}&format={}&preserveStatus={}",
                export.format, export.preserve_status
            );
            if let Some(rev) = export.rev {
                query.push_str(&format!("&revisionNumber={rev}"));
            }
            if export.latest {
                query.push_str("&latestRevision=true");
            }
            let zip = client.export_api(&query).await?;
            sessions.remember(&export.env.env, &client)?;
            let file = export.destination.join(format!(
                "{}_{}.zip",
                project_dir::file_safe(&export.name),
                project_dir::file_safe(version)
            ));
            std::fs::write(&file, zip)
                .map_err(|e| CtlError::Local(format!("{}: {e}", file.display())))?;
            println!("Exported {} {version} to {}", export.name, file.display());
        }
        CtlCommand::Import(import) => {
            let mut client = connect(&sessions, &import.env.env)?;
            let project = project_dir::load(&import.file)?;
            let outcome = client
                .import_api(
                    &project,
                    &import.import,
                    &import.env.env,
                    import.import.update,
                )
                .await?;
            sessions.remember(&import.env.env, &client)?;
            output::import_outcome(out, &outcome);
        }
        CtlCommand::ChangeStatus(change) => {
            let mut client = connect(&sessions, &change.env.env)?;
            let id = client.api_id(&change.api.name, &change.api.version).await?;
            let state = client.change_status(&id, &change.action).await?;
            sessions.remember(&change.env.env, &client)?;
            println!(
                "{} {}: {} -> {state}",
                change.api.name, change.api.version, change.action
            );
        }
        CtlCommand::Deploy(deploy) => {
            let mut client = connect(&sessions, &deploy.env.env)?;
            deploy_or_undeploy(&mut client, &deploy, true).await?;
            sessions.remember(&deploy.env.env, &client)?;
        }
        CtlCommand::Undeploy(deploy) => {
            let mut client = connect(&sessions, &deploy.env.env)?;
            deploy_or_undeploy(&mut client, &deploy, false).await?;
            sessions.remember(&deploy.env.env, &client)?;
        }
        CtlCommand::Delete(delete) => {
            let mut client = connect(&sessions, &delete.env.env)?;
            let id = client.api_id(&delete.api.name, &delete.api.version).await?;
            client.delete_api(&id).await?;
            sessions.remember(&delete.env.env, &client)?;
            println!("Deleted {} {}", delete.api.name, delete.api.version);
        }
        CtlCommand::Diff(mut apply) => {
            apply.dry_run = true;
            let mut client = connect(&sessions, &apply.env)?;
            let result = apply::run(&mut client, &apply, out).await;
            sessions.remember(&apply.env, &client)?;
            result?;
        }
        CtlCommand::Rollout(rollout) => {
            rollout::run(&mut sessions, &tls, rollout, out).await?;
        }
        CtlCommand::Apply(apply) => {
            let mut client = connect(&sessions, &apply.env)?;
            let result = apply::run(&mut client, &apply, out).await;
            sessions.remember(&apply.env, &client)?;
            result?;
        }
    }
    Ok(())
}

async fn deploy_or_undeploy(
    client: &mut Client,
    args: &DeployArgs,
    deploy: bool,
) -> Result<(), CtlError> {
    let id = client.api_id(&args.api.name, &args.api.version).await?;
    let revisions = client.revisions(&id).await?;
    let wanted = format!("Revision {}", args.rev);
    let revision = revisions
        .iter()
        .find(|r| r["displayName"] == wanted.as_str())
        .and_then(|r| r["id"].as_str())
        .ok_or_else(|| {
            CtlError::Local(format!(
                "{} {} has no revision {}",
                args.api.name, args.api.version, args.rev
            ))
        })?
        .to_owned();
    client
        .deployment(
            &id,
            &revision,
            &args.gateway_envs,
            args.vhost.as_deref(),
            deploy,
        )
        .await?;
    let verb = if deploy { "Deployed" } else { "Undeployed" };
    println!(
        "{verb} revision {} of {} {} {} {}",
        args.rev,
        args.api.name,
        args.api.version,
        if deploy { "to" } else { "from" },
        args.gateway_envs.join(", ")
    );
    Ok(())
}

fn read_password_line() -> Result<String, CtlError> {
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .map_err(|e| CtlError::Local(format!("reading the password from stdin: {e}")))?;
    let password = line.trim_end_matches(['\r', '\n']).to_owned();
    if password.is_empty() {
        return Err(CtlError::Local(
            "login: the password on stdin is empty".into(),
        ));
    }
    Ok(password)
}
