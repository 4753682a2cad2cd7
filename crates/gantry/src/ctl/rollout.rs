//! `gantry ctl rollout start|status|promote|pause|resume|abort`: progressive delivery of an
//! API revision (`-n NAME -v VERSION`) or an API product revision (`--api-product NAME -v
//! VERSION`) from a pipeline, over the Publisher's rollouts resource (a Gantry extension). `start --wait` and `status --wait` follow the rollout to its end and exit 1
//! unless it succeeded, so a CI job fails when the analysis rolled the revision back.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Subcommand};
use serde_json::{Value, json};

use super::client::{Client, Tls};
use super::output::{self, Output};
use super::session::Sessions;
use super::{CtlError, EnvArg};

#[derive(Debug, Args)]
pub(super) struct RolloutArgs {
    #[command(subcommand)]
    what: RolloutWhat,
}

#[derive(Debug, Subcommand)]
enum RolloutWhat {
    /// Start a rollout of a revision, from a plan file or from --step flags.
    #[command(disable_version_flag = true)]
    Start(StartArgs),
    /// Show a rollout's progress (the API's latest rollout unless --id).
    #[command(disable_version_flag = true)]
    Status(Target),
    /// Pass the running step now.
    #[command(disable_version_flag = true)]
    Promote(Target),
    /// Stop the clock of the running step.
    #[command(disable_version_flag = true)]
    Pause(Target),
    /// Run a paused rollout again (its step's window starts over).
    #[command(disable_version_flag = true)]
    Resume(Target),
    /// Roll back now: the previous revisions are restored where the rollout went.
    #[command(disable_version_flag = true)]
    Abort(Target),
}

/// `-n NAME -v VERSION` (an API) or `--api-product NAME -v VERSION` (an API product).
#[derive(Debug, Args)]
struct Rolled {
    /// API name.
    #[arg(
        short = 'n',
        long,
        required_unless_present = "api_product",
        conflicts_with = "api_product"
    )]
    name: Option<String>,
    /// API product name (instead of an API's -n).
    #[arg(long, value_name = "NAME")]
    api_product: Option<String>,
    /// API or API product version.
    #[arg(short = 'v', long = "version", id = "api_version")]
    version: String,
}

impl Rolled {
    /// Its Publisher resource: `apis/{id}` or `api-products/{id}`.
    async fn resource(&self, client: &mut Client) -> Result<String, CtlError> {
        Ok(match (&self.api_product, &self.name) {
            (Some(product), _) => format!(
                "api-products/{}",
                client.product_id(product, &self.version).await?
            ),
            (None, name) => format!(
                "apis/{}",
                client
                    .api_id(name.as_deref().unwrap_or_default(), &self.version)
                    .await?
            ),
        })
    }

    fn describe(&self) -> String {
        match (&self.api_product, &self.name) {
            (Some(product), _) => format!("API product {product} {}", self.version),
            (None, name) => format!("{} {}", name.as_deref().unwrap_or_default(), self.version),
        }
    }
}

#[derive(Debug, Args)]
struct Target {
    #[command(flatten)]
    env: EnvArg,
    #[command(flatten)]
    api: Rolled,
    /// The rollout (default: the API's or product's latest).
    #[arg(long)]
    id: Option<String>,
    /// Follow it until it ends; exit 1 unless it succeeded.
    #[arg(long)]
    wait: bool,
}

#[derive(Debug, Args)]
struct StartArgs {
    #[command(flatten)]
    env: EnvArg,
    #[command(flatten)]
    api: Rolled,
    /// Revision number to roll out.
    #[arg(long)]
    rev: u32,
    /// A plan (JSON, the REST body; its revisionId is set from --rev).
    #[arg(long, value_name = "FILE", conflicts_with = "steps")]
    plan: Option<PathBuf>,
    /// A step: `ENVIRONMENT` (the whole traffic) or `ENVIRONMENT:WEIGHT` (percent beside the
    /// previous revision); repeat in order.
    #[arg(long = "step", value_name = "ENV[:WEIGHT]", id = "steps")]
    steps: Vec<String>,
    /// Analysis window of each step, seconds.
    #[arg(long, default_value_t = 300)]
    window_secs: u64,
    /// Calls the new revision must serve in a step's window.
    #[arg(long, default_value_t = 100)]
    min_requests: u64,
    /// Highest error ratio (0–1) of the new revision.
    #[arg(long)]
    max_error_ratio: Option<f64>,
    /// Highest p99 latency (ms) of the new revision.
    #[arg(long)]
    max_p99_ms: Option<u64>,
    /// Keep callers on one revision by this request header's value.
    #[arg(long, conflicts_with = "sticky_application")]
    sticky_header: Option<String>,
    /// Keep callers on one revision by their application.
    #[arg(long)]
    sticky_application: bool,
    /// Follow it until it ends; exit 1 unless it succeeded.
    #[arg(long)]
    wait: bool,
}

/// Runs a `rollout` command.
pub(super) async fn run(
    sessions: &mut Sessions,
    tls: &Tls,
    args: RolloutArgs,
    out: Output,
) -> Result<(), CtlError> {
    let (target, action) = match args.what {
        RolloutWhat::Start(start) => {
            let mut client = Client::new(sessions, &start.env.env, tls)?;
            let result = start_rollout(&mut client, &start, out).await;
            sessions.remember(&start.env.env, &client)?;
            return result;
        }
        RolloutWhat::Status(t) => (t, None),
        RolloutWhat::Promote(t) => (t, Some("promote")),
        RolloutWhat::Pause(t) => (t, Some("pause")),
        RolloutWhat::Resume(t) => (t, Some("resume")),
        RolloutWhat::Abort(t) => (t, Some("abort")),
    };
    let mut client = Client::new(sessions, &target.env.env, tls)?;
    let result = act(&mut client, &target, action, out).await;
    sessions.remember(&target.env.env, &client)?;
    result
}

async fn start_rollout(client: &mut Client, args: &StartArgs, out: Output) -> Result<(), CtlError> {
    let resource = args.api.resource(client).await?;
    let revision = client.revision_id(&resource, args.rev).await?;
    let mut plan = match &args.plan {
        Some(file) => {
            let text = std::fs::read_to_string(file)
                .map_err(|e| CtlError::Local(format!("{}: {e}", file.display())))?;
            serde_json::from_str::<Value>(&text)
                .map_err(|e| CtlError::Local(format!("{}: not JSON: {e}", file.display())))?
        }
        None => plan_from_flags(args)?,
    };
    plan["revisionId"] = json!(revision);
    let body = client.start_rollout(&resource, &plan).await?;
    let id = body["id"].as_str().unwrap_or_default().to_owned();
    if !args.wait {
        return show(out, &body);
    }
    follow(client, &resource, &id, out).await
}

fn plan_from_flags(args: &StartArgs) -> Result<Value, CtlError> {
    if args.steps.is_empty() {
        return Err(CtlError::Local(
            "rollout start: give a --plan file or at least one --step ENV[:WEIGHT]".into(),
        ));
    }
    let mut steps = Vec::with_capacity(args.steps.len());
    for step in &args.steps {
        let (environment, weight) = match step.split_once(':') {
            Some((env, weight)) => (
                env,
                Some(weight.parse::<u8>().map_err(|_| {
                    CtlError::Local(format!("--step {step}: the weight is a percent (1-100)"))
                })?),
            ),
            None => (step.as_str(), None),
        };
        let mut s = json!({
            "environment": environment,
            "windowSecs": args.window_secs,
            "minRequests": args.min_requests,
        });
        if let Some(weight) = weight {
            s["weight"] = json!(weight);
        }
        if let Some(r) = args.max_error_ratio {
            s["maxErrorRatio"] = json!(r);
        }
        if let Some(ms) = args.max_p99_ms {
            s["maxP99Ms"] = json!(ms);
        }
        steps.push(s);
    }
    let mut plan = json!({ "steps": steps });
    if let Some(name) = &args.sticky_header {
        plan["stickiness"] = json!({"by": "header", "name": name});
    } else if args.sticky_application {
        plan["stickiness"] = json!({"by": "application"});
    }
    Ok(plan)
}

async fn act(
    client: &mut Client,
    target: &Target,
    action: Option<&str>,
    out: Output,
) -> Result<(), CtlError> {
    let resource = target.api.resource(client).await?;
    let id = match &target.id {
        Some(id) => id.clone(),
        None => client
            .rollouts(&resource)
            .await?
            .first()
            .and_then(|r| r["id"].as_str())
            .map(str::to_owned)
            .ok_or_else(|| {
                CtlError::Refused(format!("{} has no rollout", target.api.describe()))
            })?,
    };
    let body = match action {
        Some(action) => client.rollout_action(&resource, &id, action).await?,
        None => client.rollout(&resource, &id).await?,
    };
    if !target.wait {
        return show(out, &body);
    }
    follow(client, &resource, &id, out).await
}

/// Polls until the rollout ends; prints it; exit 1 unless it succeeded.
async fn follow(
    client: &mut Client,
    resource: &str,
    id: &str,
    out: Output,
) -> Result<(), CtlError> {
    let mut last_step = None;
    loop {
        let body = client.rollout(resource, id).await?;
        let status = body["status"].as_str().unwrap_or_default().to_owned();
        let step = body["progress"]["currentStep"].as_u64();
        if out == Output::Table
            && step != last_step
            && matches!(status.as_str(), "RUNNING" | "PAUSED")
        {
            eprintln!("rollout {id}: {status}, step {}", step.unwrap_or(0));
            last_step = step;
        }
        if !matches!(status.as_str(), "RUNNING" | "PAUSED") {
            show(out, &body)?;
            return match status.as_str() {
                "SUCCEEDED" => Ok(()),
                _ => Err(CtlError::Refused(format!(
                    "rollout {id} {status}: {}",
                    body["reason"].as_str().unwrap_or("no reason given")
                ))),
            };
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Prints a rollout: the server's JSON/YAML, or a summary with one line per step.
fn show(out: Output, body: &Value) -> Result<(), CtlError> {
    if output::structured(out, body) {
        return Ok(());
    }
    println!(
        "Rollout {} of revision {}: {}",
        body["id"].as_str().unwrap_or("?"),
        body["revisionId"].as_str().unwrap_or("?"),
        body["status"].as_str().unwrap_or("?")
    );
    if let Some(reason) = body["reason"].as_str() {
        println!("Reason: {reason}");
    }
    let plan = body["plan"]["steps"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let progress = body["progress"]["steps"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let numbers = |m: &Value| match m["requests"].as_u64() {
        Some(n) => format!(
            "{n} calls, {:.1} % errors, p99 {}",
            m["errorRatio"].as_f64().unwrap_or(0.0) * 100.0,
            m["p99Ms"]
                .as_u64()
                .map_or_else(|| "-".to_owned(), |p| format!("{p} ms"))
        ),
        None => "-".to_owned(),
    };
    println!(
        "STEP  ENVIRONMENT      WEIGHT  STATUS     NEW REVISION                           PREVIOUS REVISION"
    );
    for (i, (step, done)) in plan.iter().zip(progress.iter()).enumerate() {
        println!(
            "{i:<5} {:<16} {:>5}%  {:<10} {:<38} {}",
            step["environment"].as_str().unwrap_or("?"),
            step["weight"].as_u64().unwrap_or(100),
            done["status"].as_str().unwrap_or("?"),
            numbers(&done["newRevision"]),
            numbers(&done["previousRevision"]),
        );
        if let Some(verdict) = done["verdict"].as_str()
            && done["status"] != "PENDING"
        {
            println!("      {verdict}");
        }
    }
    Ok(())
}
