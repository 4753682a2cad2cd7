//! `gantry ctl apply -f DIR`: make the control plane match a folder of API projects.
//!
//! Each project is first imported as a dry run: the control plane compares the normalized
//! project with what it holds (by digest, ids and timestamps aside) and answers NONE,
//! CREATE or UPDATE. Only projects that differ are imported (overwrite, new revision,
//! deployed where the project says); with `--prune`, APIs the folder no longer has are
//! deleted. A second apply of the same folder changes nothing and says so.

use std::collections::BTreeSet;
use std::path::PathBuf;

use clap::Args;
use serde_json::{Value, json};

use super::client::Client;
use super::output::Output;
use super::{CtlError, ImportFlags, project_dir};

/// `apply` flags.
#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// The folder of API projects (or one project).
    #[arg(short = 'f', long = "file")]
    dir: PathBuf,
    /// The environment to apply to.
    #[arg(short = 'e', long = "environment")]
    pub env: String,
    /// Delete APIs the folder does not have.
    #[arg(long)]
    prune: bool,
    /// apictl's params.yaml; the entry named like the environment (or --params-env) applies.
    #[arg(long, value_name = "FILE")]
    params: Option<PathBuf>,
    /// The params.yaml environment to apply (default: the -e environment's name).
    #[arg(long, value_name = "NAME")]
    params_env: Option<String>,
    /// Keep the projects' providers (default true).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    preserve_provider: bool,
    /// Say what would change, with the routes each environment's gateways would add,
    /// remove or change; change nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// What one apply did, by `name version`.
#[derive(Debug, Default)]
struct Summary {
    created: Vec<String>,
    updated: Vec<String>,
    unchanged: Vec<String>,
    deleted: Vec<String>,
}

/// Runs `apply`.
pub async fn run(client: &mut Client, args: &ApplyArgs, out: Output) -> Result<(), CtlError> {
    let projects = project_dir::projects_in(&args.dir)?;
    if projects.is_empty() {
        return Err(CtlError::Local(format!(
            "{}: no API project (a folder with api.yaml, or a .zip) found",
            args.dir.display()
        )));
    }
    let flags = |dry_run: bool| ImportFlags {
        params: args.params.clone(),
        params_env: args.params_env.clone(),
        update: true,
        rotate_revision: true,
        preserve_provider: args.preserve_provider,
        dry_run,
    };
    let verbose = out == Output::Table;
    let mut summary = Summary::default();
    let mut wanted = BTreeSet::new();
    for path in &projects {
        let zip = project_dir::load(path)?;
        let in_project = |e: CtlError| match e {
            CtlError::Refused(reason) => CtlError::Refused(format!("{}: {reason}", path.display())),
            other => other,
        };
        let plan = client
            .import_api(&zip, &flags(true), &args.env, true)
            .await
            .map_err(in_project)?;
        let label = format!("{} {}", text(&plan["name"]), text(&plan["version"]));
        wanted.insert((text(&plan["name"]), text(&plan["version"])));
        let action = text(&plan["action"]);
        if action == "NONE" {
            if verbose {
                println!("unchanged  {label}");
            }
            summary.unchanged.push(label);
            continue;
        }
        if !args.dry_run {
            client
                .import_api(&zip, &flags(false), &args.env, true)
                .await
                .map_err(in_project)?;
        }
        if verbose {
            let verb = if action == "CREATE" {
                "created"
            } else {
                "updated"
            };
            let would = if args.dry_run { "would be " } else { "" };
            println!("{would}{verb:<9}  {label}");
            if action == "UPDATE" {
                for change in plan["changes"].as_array().into_iter().flatten() {
                    println!("             {}", text(change));
                }
            }
            if args.dry_run {
                print_previews(&plan);
            }
        }
        match action.as_str() {
            "CREATE" => summary.created.push(label),
            _ => summary.updated.push(label),
        }
    }
    if args.prune {
        for api in client.list_apis(None).await? {
            let key = (text(&api["name"]), text(&api["version"]));
            if wanted.contains(&key) {
                continue;
            }
            let label = format!("{} {}", key.0, key.1);
            if !args.dry_run {
                let id = text(&api["id"]);
                client.delete_api(&id).await?;
            }
            if verbose {
                let would = if args.dry_run { "would be " } else { "" };
                println!("{would}deleted    {label}");
            }
            summary.deleted.push(label);
        }
    }
    report(&summary, out, args.dry_run);
    Ok(())
}

/// The deployment previews of a dry run: route by route, per environment.
fn print_previews(plan: &Value) {
    for preview in plan["previews"].as_array().into_iter().flatten() {
        let environment = text(&preview["environment"]);
        if preview["applies"] != true {
            println!("             the gateways of {environment} would refuse it:");
            for problem in preview["problems"].as_array().into_iter().flatten() {
                println!("               {}", text(problem));
            }
            continue;
        }
        let routes = &preview["routes"];
        let line = |mark: &str, r: &Value| {
            let scopes = r["scopes"]
                .as_array()
                .map(|s| s.iter().map(text).collect::<Vec<_>>().join(" "))
                .unwrap_or_default();
            format!(
                "               {mark} {} {} ({}{}{})",
                text(&r["method"]),
                text(&r["path"]),
                text(&r["authType"]),
                if scopes.is_empty() { "" } else { ", scopes: " },
                scopes
            )
        };
        println!("             routes on {environment}:");
        for r in routes["added"].as_array().into_iter().flatten() {
            println!("{}", line("+", r));
        }
        for r in routes["removed"].as_array().into_iter().flatten() {
            println!("{}", line("-", r));
        }
        for r in routes["changed"].as_array().into_iter().flatten() {
            println!("{}", line("~", &r["after"]));
        }
    }
}

fn text(value: &Value) -> String {
    value.as_str().map(str::to_owned).unwrap_or_default()
}

fn report(summary: &Summary, out: Output, dry_run: bool) {
    let changed = summary.created.len() + summary.updated.len() + summary.deleted.len();
    let value = json!({
        "dryRun": dry_run,
        "changed": changed > 0,
        "created": summary.created,
        "updated": summary.updated,
        "deleted": summary.deleted,
        "unchanged": summary.unchanged,
    });
    match out {
        Output::Json => println!(
            "{}",
            serde_json::to_string_pretty(&value).unwrap_or_default()
        ),
        Output::Yaml => print!("{}", serde_yaml_ng::to_string(&value).unwrap_or_default()),
        Output::Table if changed == 0 => println!(
            "Nothing to change: {} API(s) up to date.",
            summary.unchanged.len()
        ),
        Output::Table => println!(
            "{}{} created, {} updated, {} deleted, {} unchanged.",
            if dry_run { "Dry run: " } else { "Applied: " },
            summary.created.len(),
            summary.updated.len(),
            summary.deleted.len(),
            summary.unchanged.len()
        ),
    }
}
