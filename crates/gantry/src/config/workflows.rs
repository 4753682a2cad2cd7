//! Approval workflows' settings, shared by `gantry up` and `gantry control-plane`: which of
//! WSO2's workflow types need approval (`--workflows`, `GANTRY_WORKFLOWS`, the file's
//! `workflows` key: a comma-separated list or an array), which types also ask an external
//! approver (`--workflow-webhooks TYPE=URL,…`) and the secret their messages are signed
//! with (`GANTRY_WORKFLOW_WEBHOOK_SECRET`, or `--workflow-webhook-secret-file`).

use std::path::PathBuf;

use gantry_control_plane::service::workflows::{WorkflowSettings, WorkflowType};

use super::{ConfigError, Layers};

/// The webhook secret given directly; never on the command line nor in the file.
const SECRET_ENV: &str = "GANTRY_WORKFLOW_WEBHOOK_SECRET";
/// Shortest secret accepted (bytes).
const MIN_SECRET_LEN: usize = 16;

/// Workflow flags (flattened into the commands that run a control plane).
#[derive(Debug, clap::Args)]
pub struct WorkflowArgs {
    /// Workflow types that need an administrator's approval, comma-separated (WSO2's names):
    /// AM_APPLICATION_CREATION, AM_APPLICATION_REGISTRATION_PRODUCTION,
    /// AM_APPLICATION_REGISTRATION_SANDBOX, AM_SUBSCRIPTION_CREATION, AM_SUBSCRIPTION_UPDATE,
    /// AM_API_STATE, AM_REVISION_DEPLOYMENT, AM_USER_SIGNUP. None by default.
    #[arg(long, env = "GANTRY_WORKFLOWS", default_value = "")]
    pub workflows: String,
    /// External approvers, comma-separated TYPE=URL pairs: each request of TYPE is POSTed to
    /// URL (signed), which decides by calling back. Needs the webhook secret.
    #[arg(long, env = "GANTRY_WORKFLOW_WEBHOOKS", default_value = "")]
    pub workflow_webhooks: String,
    /// File holding the secret webhook messages and callbacks are signed with (HMAC-SHA256;
    /// `GANTRY_WORKFLOW_WEBHOOK_SECRET` holds it directly and wins).
    #[arg(long, env = "GANTRY_WORKFLOW_WEBHOOK_SECRET_FILE")]
    pub workflow_webhook_secret_file: Option<PathBuf>,
}

fn parse_type(layers: &Layers, long: &str, raw: &str) -> Result<WorkflowType, ConfigError> {
    WorkflowType::parse(raw).ok_or_else(|| {
        let names: Vec<&str> = WorkflowType::ALL.iter().map(|t| t.as_str()).collect();
        layers.key(long).invalid(format!(
            "'{}' is not a workflow type; use one of {}",
            raw.trim(),
            names.join(", ")
        ))
    })
}

fn items(list: &str) -> impl Iterator<Item = &str> {
    list.split(',').map(str::trim).filter(|s| !s.is_empty())
}

impl WorkflowArgs {
    /// Checks the settings; `callback_base` is the control plane's public base URL
    /// (`https://HOST:PORT`), where approvers call back.
    pub fn load(
        self,
        layers: &Layers,
        callback_base: &str,
    ) -> Result<WorkflowSettings, ConfigError> {
        let enabled = items(&self.workflows)
            .map(|raw| parse_type(layers, "workflows", raw))
            .collect::<Result<Vec<_>, _>>()?;
        let mut webhooks = Vec::new();
        for pair in items(&self.workflow_webhooks) {
            let key = || layers.key("workflow-webhooks");
            let (raw_type, url) = pair
                .split_once('=')
                .ok_or_else(|| key().invalid(format!("'{pair}' is not TYPE=URL")))?;
            let workflow_type = parse_type(layers, "workflow-webhooks", raw_type)?;
            super::http_url(layers, "workflow-webhooks", url.trim())?;
            if !enabled.contains(&workflow_type) {
                return Err(key().invalid(format!(
                    "{} has an approver but does not need approval; add it to {}",
                    workflow_type.as_str(),
                    layers.key("workflows")
                )));
            }
            if webhooks.iter().any(|(t, _)| *t == workflow_type) {
                return Err(key().invalid(format!("{} has two approvers", workflow_type.as_str())));
            }
            webhooks.push((workflow_type, url.trim().to_owned()));
        }
        let secret = match std::env::var(SECRET_ENV) {
            Ok(secret) => Some((secret, SECRET_ENV.to_owned())),
            Err(_) => match &self.workflow_webhook_secret_file {
                Some(path) => {
                    let bytes = super::read_file(layers, "workflow-webhook-secret-file", path)?;
                    let text = String::from_utf8(bytes).map_err(|_| {
                        layers
                            .key("workflow-webhook-secret-file")
                            .invalid("the secret is not UTF-8 text")
                    })?;
                    Some((
                        text.trim().to_owned(),
                        layers.key("workflow-webhook-secret-file").to_string(),
                    ))
                }
                None => None,
            },
        };
        if let Some((secret, from)) = &secret
            && secret.len() < MIN_SECRET_LEN
        {
            return Err(ConfigError::Missing {
                key: from.clone(),
                reason: format!("the webhook secret must be at least {MIN_SECRET_LEN} bytes"),
            });
        }
        if !webhooks.is_empty() && secret.is_none() {
            return Err(ConfigError::Missing {
                key: format!("{SECRET_ENV} (or --workflow-webhook-secret-file)"),
                reason: format!(
                    "required by {}: approvers' messages and callbacks are signed with it",
                    layers.key("workflow-webhooks")
                ),
            });
        }
        Ok(WorkflowSettings::new(
            enabled,
            webhooks,
            secret.map(|(s, _)| s),
            callback_base,
        ))
    }
}
