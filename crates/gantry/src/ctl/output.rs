//! How `gantry ctl` prints: aligned tables for people (the default), the server's JSON or
//! YAML for scripts (`-o json|yaml`).

use std::collections::BTreeMap;

use clap::ValueEnum;
use serde_json::{Value, json};

use super::session::EnvConfig;

/// `-o table|json|yaml`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// Aligned columns.
    Table,
    /// JSON, as the server answered.
    Json,
    /// YAML, as the server answered.
    Yaml,
}

/// Prints `value` as JSON or YAML; false for `Table` (the caller prints a table).
pub(super) fn structured(out: Output, value: &Value) -> bool {
    match out {
        Output::Table => false,
        Output::Json => {
            println!(
                "{}",
                serde_json::to_string_pretty(value).unwrap_or_default()
            );
            true
        }
        Output::Yaml => {
            print!("{}", serde_yaml_ng::to_string(value).unwrap_or_default());
            true
        }
    }
}

/// Text of a JSON scalar for a table cell.
fn cell(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Array(items) => items.iter().map(cell).collect::<Vec<_>>().join(","),
        other => other.to_string(),
    }
}

/// Prints rows under headers, each column as wide as its widest cell.
pub fn table(headers: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.len()).collect();
    for row in rows {
        for (i, c) in row.iter().enumerate() {
            widths[i] = widths[i].max(c.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        let padded: Vec<String> = cells
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c:<width$}", width = widths[i]))
            .collect();
        println!("{}", padded.join("   ").trim_end());
    };
    line(headers.iter().map(|h| (*h).to_owned()).collect());
    for row in rows {
        line(row.clone());
    }
}

fn rows_of(items: &[Value], fields: &[&str]) -> Vec<Vec<String>> {
    items
        .iter()
        .map(|item| fields.iter().map(|f| cell(&item[*f])).collect())
        .collect()
}

/// `get envs`.
pub fn environments(out: Output, envs: &BTreeMap<String, EnvConfig>) {
    let value = json!(envs);
    if structured(out, &value) {
        return;
    }
    let rows: Vec<Vec<String>> = envs
        .iter()
        .map(|(name, env)| {
            vec![
                name.clone(),
                env.apim.clone(),
                env.ca_cert
                    .as_ref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default(),
            ]
        })
        .collect();
    table(&["NAME", "APIM", "CA CERT"], &rows);
}

/// `get apis`.
pub fn apis(out: Output, apis: &[Value]) {
    if structured(out, &Value::Array(apis.to_vec())) {
        return;
    }
    table(
        &["ID", "NAME", "VERSION", "CONTEXT", "STATUS", "PROVIDER"],
        &rows_of(
            apis,
            &[
                "id",
                "name",
                "version",
                "context",
                "lifeCycleStatus",
                "provider",
            ],
        ),
    );
}

/// `get revisions`.
pub fn revisions(out: Output, revisions: &[Value]) {
    if structured(out, &Value::Array(revisions.to_vec())) {
        return;
    }
    let rows: Vec<Vec<String>> = revisions
        .iter()
        .map(|r| {
            let deployed: Vec<String> = r["deploymentInfo"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|d| format!("{}@{}", cell(&d["name"]), cell(&d["vhost"])))
                .collect();
            vec![
                cell(&r["id"]),
                cell(&r["displayName"]),
                cell(&r["description"]),
                deployed.join(","),
            ]
        })
        .collect();
    table(&["ID", "REVISION", "DESCRIPTION", "DEPLOYED TO"], &rows);
}

/// `get apps`.
pub fn applications(out: Output, apps: &[Value]) {
    if structured(out, &Value::Array(apps.to_vec())) {
        return;
    }
    table(
        &["ID", "NAME", "OWNER", "POLICY", "STATUS"],
        &rows_of(
            apps,
            &[
                "applicationId",
                "name",
                "owner",
                "throttlingPolicy",
                "status",
            ],
        ),
    );
}

/// `import api`: what the server did, and what it did not take.
pub fn import_outcome(out: Output, outcome: &Value) {
    if structured(out, outcome) {
        return;
    }
    let action = cell(&outcome["action"]);
    println!(
        "{}: {} {} ({}){}",
        cell(&outcome["message"]),
        cell(&outcome["name"]),
        cell(&outcome["version"]),
        action.to_lowercase(),
        match outcome["id"].as_str() {
            Some(id) => format!(", id {id}"),
            None => String::new(),
        }
    );
    for deployment in outcome["deployments"].as_array().into_iter().flatten() {
        println!(
            "  deployed to {}{}",
            cell(&deployment["name"]),
            match deployment["vhost"].as_str() {
                Some(vhost) => format!(" ({vhost})"),
                None => String::new(),
            }
        );
    }
    for change in outcome["changes"].as_array().into_iter().flatten() {
        println!("  change: {}", cell(change));
    }
    for part in outcome["unsupported"].as_array().into_iter().flatten() {
        println!("  not imported (unsupported): {}", cell(part));
    }
    for field in outcome["ignoredFields"].as_array().into_iter().flatten() {
        println!("  ignored field: {}", cell(field));
    }
}

/// `get api-products`.
pub fn api_products(out: Output, products: &[Value]) {
    if structured(out, &Value::Array(products.to_vec())) {
        return;
    }
    table(
        &["ID", "NAME", "VERSION", "CONTEXT", "STATUS", "PROVIDER"],
        &rows_of(
            products,
            &["id", "name", "version", "context", "state", "provider"],
        ),
    );
}

/// `get policies`.
pub fn policies(out: Output, policies: &[Value]) {
    if structured(out, &Value::Array(policies.to_vec())) {
        return;
    }
    let rows: Vec<Vec<String>> = policies
        .iter()
        .map(|p| {
            let limit = &p["defaultLimit"];
            let quota = match cell(&limit["type"]).as_str() {
                "BANDWIDTHLIMIT" => format!(
                    "{} {} / {} {}",
                    cell(&limit["bandwidth"]["dataAmount"]),
                    cell(&limit["bandwidth"]["dataUnit"]),
                    cell(&limit["bandwidth"]["unitTime"]),
                    cell(&limit["bandwidth"]["timeUnit"])
                ),
                _ => format!(
                    "{} / {} {}",
                    cell(&limit["requestCount"]["requestCount"]),
                    cell(&limit["requestCount"]["unitTime"]),
                    cell(&limit["requestCount"]["timeUnit"])
                ),
            };
            vec![
                cell(&p["policyId"]),
                cell(&p["policyName"]),
                cell(&p["kind"]),
                quota,
            ]
        })
        .collect();
    table(&["ID", "NAME", "TYPE", "QUOTA"], &rows);
}

/// `import api-product|app|policy`: what the server did; an application's subscriptions
/// that could not be made are named on stderr.
pub fn transfer_outcome(out: Output, kind: &str, outcome: &Value) {
    if let Some(skipped) = outcome["list"].as_array().filter(|_| kind == "app") {
        for api in skipped {
            eprintln!(
                "warning: subscription to {} {} ({}) not made: the API is missing or refused it",
                cell(&api["name"]),
                cell(&api["version"]),
                cell(&api["provider"])
            );
        }
    }
    if structured(out, outcome) {
        return;
    }
    match kind {
        "api-product" => {
            println!(
                "{}: {} {} ({}), id {}",
                cell(&outcome["message"]),
                cell(&outcome["name"]),
                cell(&outcome["version"]),
                cell(&outcome["action"]).to_lowercase(),
                cell(&outcome["id"])
            );
            for api in outcome["apis"].as_array().into_iter().flatten() {
                println!(
                    "  API {} {}: {}",
                    cell(&api["name"]),
                    cell(&api["version"]),
                    cell(&api["action"]).to_lowercase()
                );
            }
            for deployment in outcome["deployments"].as_array().into_iter().flatten() {
                println!("  deployed to {}", cell(&deployment["name"]));
            }
            for part in outcome["unsupported"].as_array().into_iter().flatten() {
                println!("  not imported (unsupported): {}", cell(part));
            }
        }
        "app" if outcome["list"].is_array() => {
            println!("Application imported; some subscriptions were skipped (see above)");
        }
        "app" => println!(
            "Application imported: {} of {}, id {} ({} subscriptions)",
            cell(&outcome["name"]),
            cell(&outcome["owner"]),
            cell(&outcome["applicationId"]),
            cell(&outcome["subscriptionCount"])
        ),
        _ => println!(
            "{} ({})",
            cell(&outcome["message"]),
            cell(&outcome["action"]).to_lowercase()
        ),
    }
}
