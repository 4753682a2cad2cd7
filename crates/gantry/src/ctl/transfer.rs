//! `gantry ctl export|import api-product|app|policy` and `get api-products|policies`: the
//! other kinds of WSO2 project, through the Publisher, Developer Portal and Admin REST
//! APIs' own export and import operations, with apictl's flags.

use clap::Args;
use gantry_control_plane::project::ProjectKind;
use serde_json::Value;

use super::client::{ADMIN, Client, DEVPORTAL, PUBLISHER, list_of};
use super::output::{self, Output};
use super::project_dir;
use super::{CtlError, ExportArgs, ImportArgs};

/// Flags of `import` for products and applications (apictl's names).
#[derive(Debug, Args, Clone)]
pub struct TransferFlags {
    /// API products: import the APIs under `APIs/` too (those that exist are kept unless
    /// --update-apis).
    #[arg(long)]
    import_apis: bool,
    /// API products: update the dependent APIs that exist.
    #[arg(long)]
    update_apis: bool,
    /// Applications: keep the owner in the project (an admin may import for others).
    #[arg(long)]
    preserve_owner: bool,
    /// Applications: import for this owner (admins only, unless it is you).
    #[arg(long)]
    owner: Option<String>,
    /// Applications: do not subscribe.
    #[arg(long)]
    skip_subscriptions: bool,
    /// Applications: do not recreate the keys.
    #[arg(long)]
    skip_keys: bool,
}

/// `-v`, required for APIs and products.
pub(super) fn required_version(args: &ExportArgs) -> Result<&str, CtlError> {
    args.version
        .as_deref()
        .ok_or_else(|| CtlError::Local(format!("export {}: give the version with -v", args.kind)))
}

fn query(pairs: &[(&str, String)]) -> String {
    serde_urlencoded::to_string(pairs).unwrap_or_default()
}

/// `export api-product|app|policy`: writes the archive (or policy file) to --destination.
pub(super) async fn export(client: &mut Client, args: &ExportArgs) -> Result<(), CtlError> {
    let (bytes, file_name) = match args.kind.as_str() {
        "api-product" => {
            let version = required_version(args)?;
            let mut pairs = vec![
                ("name", args.name.clone()),
                ("version", version.to_owned()),
                ("format", args.format.clone()),
                ("preserveStatus", args.preserve_status.to_string()),
            ];
            if let Some(provider) = &args.provider {
                pairs.push(("providerName", provider.clone()));
            }
            if let Some(rev) = args.rev {
                pairs.push(("revisionNumber", rev.to_string()));
            }
            if args.latest {
                pairs.push(("latestRevision", "true".into()));
            }
            let zip = client.export_api_product(&query(&pairs)).await?;
            let name = format!(
                "{}_{}.zip",
                project_dir::file_safe(&args.name),
                project_dir::file_safe(version)
            );
            (zip, name)
        }
        "app" => {
            let owner = match &args.owner {
                Some(owner) => owner.clone(),
                None => client.username().to_owned(),
            };
            let pairs = vec![
                ("appName", args.name.clone()),
                ("appOwner", owner.clone()),
                ("withKeys", args.with_keys.to_string()),
                ("format", args.format.clone()),
            ];
            let zip = client.export_app(&query(&pairs)).await?;
            let name = format!(
                "{}_{}.zip",
                project_dir::file_safe(&owner),
                project_dir::file_safe(&args.name)
            );
            (zip, name)
        }
        _ => {
            let mut pairs = vec![("name", args.name.clone()), ("format", args.format.clone())];
            if let Some(kind) = &args.policy_type {
                pairs.push(("type", kind.clone()));
            }
            let document = client.export_policy(&query(&pairs)).await?;
            let ext = if args.format == "JSON" {
                "json"
            } else {
                "yaml"
            };
            (
                document,
                format!("{}.{ext}", project_dir::file_safe(&args.name)),
            )
        }
    };
    let file = args.destination.join(file_name);
    std::fs::write(&file, bytes)
        .map_err(|e| CtlError::Local(format!("{}: {e}", file.display())))?;
    println!("Exported {} {} to {}", args.kind, args.name, file.display());
    Ok(())
}

/// `import api-product|app|policy`.
pub(super) async fn import(
    client: &mut Client,
    args: &ImportArgs,
    out: Output,
) -> Result<(), CtlError> {
    let flags = &args.transfer;
    let update = args.import.update;
    let outcome = match args.kind.as_str() {
        "api-product" => {
            let zip = project_dir::load_of(&args.file, ProjectKind::ApiProduct)?;
            let pairs = [
                (
                    "preserveProvider",
                    args.import.preserve_provider.to_string(),
                ),
                ("rotateRevision", args.import.rotate_revision.to_string()),
                ("importAPIs", flags.import_apis.to_string()),
                ("overwriteAPIProduct", update.to_string()),
                ("overwriteAPIs", flags.update_apis.to_string()),
            ];
            client.import_api_product(&zip, &query(&pairs)).await?
        }
        "app" => {
            let zip = project_dir::load_of(&args.file, ProjectKind::Application)?;
            let mut pairs = vec![
                ("preserveOwner", flags.preserve_owner.to_string()),
                ("skipSubscriptions", flags.skip_subscriptions.to_string()),
                ("skipApplicationKeys", flags.skip_keys.to_string()),
                ("update", update.to_string()),
            ];
            if let Some(owner) = &flags.owner {
                pairs.push(("appOwner", owner.clone()));
            }
            client.import_app(&zip, &query(&pairs)).await?
        }
        _ => {
            let document = std::fs::read(&args.file)
                .map_err(|e| CtlError::Local(format!("{}: {e}", args.file.display())))?;
            let file_name = args
                .file
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| "policy.yaml".into());
            let pairs = [("overwrite", update.to_string())];
            client
                .import_policy(&file_name, &document, &query(&pairs))
                .await?
        }
    };
    output::transfer_outcome(out, &args.kind, &outcome);
    Ok(())
}

/// `get api-products`.
pub(super) async fn api_products(client: &mut Client) -> Result<Vec<Value>, CtlError> {
    client.api_products().await
}

/// `get policies [-t sub|app|api|global]`: each policy with its kind.
pub(super) async fn policies(
    client: &mut Client,
    kind: Option<&str>,
) -> Result<Vec<Value>, CtlError> {
    let kinds: &[(&str, &str)] = &[
        ("sub", "subscription"),
        ("app", "application"),
        ("api", "advanced"),
        ("global", "custom"),
    ];
    let chosen: Vec<&(&str, &str)> = match kind {
        None => kinds.iter().collect(),
        Some(k) => {
            let found: Vec<_> = kinds
                .iter()
                .filter(|(short, long)| k == *short || k == *long)
                .collect();
            if found.is_empty() {
                return Err(CtlError::Local(format!(
                    "get policies: -t '{k}' is not one of sub, app, api, global"
                )));
            }
            found
        }
    };
    let mut all = Vec::new();
    for (short, segment) in chosen {
        for mut policy in client
            .admin_list(&format!("/throttling/policies/{segment}"))
            .await?
        {
            policy["kind"] = Value::String((*short).to_owned());
            all.push(policy);
        }
    }
    Ok(all)
}

/// The export and import operations of the other kinds.
impl Client {
    /// `GET /api-products/export?query`: the archive.
    pub async fn export_api_product(&mut self, query: &str) -> Result<Vec<u8>, CtlError> {
        self.download(&format!("{PUBLISHER}/api-products/export?{query}"))
            .await
    }

    /// `GET /applications/export?query` (devportal): the archive.
    pub async fn export_app(&mut self, query: &str) -> Result<Vec<u8>, CtlError> {
        self.download(&format!("{DEVPORTAL}/applications/export?{query}"))
            .await
    }

    /// `GET /throttling/policies/export?query` (admin): the policy document.
    pub async fn export_policy(&mut self, query: &str) -> Result<Vec<u8>, CtlError> {
        self.download(&format!("{ADMIN}/throttling/policies/export?{query}"))
            .await
    }

    /// `POST /api-products/import?query`; the server's outcome.
    pub async fn import_api_product(&mut self, zip: &[u8], query: &str) -> Result<Value, CtlError> {
        let path = format!("{PUBLISHER}/api-products/import?{query}");
        self.upload(&path, &[("file", "project.zip", "application/zip", zip)])
            .await
    }

    /// `POST /applications/import?query` (devportal); the server's answer (a 207 lists
    /// the subscriptions that could not be made).
    pub async fn import_app(&mut self, zip: &[u8], query: &str) -> Result<Value, CtlError> {
        let path = format!("{DEVPORTAL}/applications/import?{query}");
        self.upload(
            &path,
            &[("file", "application.zip", "application/zip", zip)],
        )
        .await
    }

    /// `POST /throttling/policies/import?query` (admin); the server's outcome.
    pub async fn import_policy(
        &mut self,
        file_name: &str,
        document: &[u8],
        query: &str,
    ) -> Result<Value, CtlError> {
        let path = format!("{ADMIN}/throttling/policies/import?{query}");
        self.upload(
            &path,
            &[("file", file_name, "application/octet-stream", document)],
        )
        .await
    }

    /// Every policy of an Admin API list (`/throttling/policies/{kind}`).
    pub async fn admin_list(&mut self, path: &str) -> Result<Vec<Value>, CtlError> {
        Ok(list_of(self.get_json(&format!("{ADMIN}{path}")).await?))
    }

    /// Every API product (one page of 1000).
    pub async fn api_products(&mut self) -> Result<Vec<Value>, CtlError> {
        Ok(list_of(
            self.get_json(&format!("{PUBLISHER}/api-products?limit=1000"))
                .await?,
        ))
    }
}
