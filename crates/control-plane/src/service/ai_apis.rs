//! AI APIs on create and update: the `subtypeConfiguration` is checked against its LLM
//! provider, the provider keys posted with its targets are taken out of the definition and
//! sealed under the gateways' credential key (stored apart, `ai_api_credentials`), and the
//! definition keeps only a mask where a key is set. No key is ever written, logged or
//! answered in the clear.

use gantry_model::Api;
use gantry_model::ai::{AI_SUBTYPE, MASKED, credential_label};
use gantry_store::ai;

use crate::AppState;
use crate::error::{ApiError, ApiResult};

/// A key change to apply once the API is stored.
pub(crate) enum KeyChange {
    /// Seal and store this key for the target.
    Set { target: String, key: String },
    /// Remove the target's key (an empty `apiKey`, or a target removed).
    Remove { target: String },
}

/// Checks `api`'s AI configuration (none: not an AI API, nothing to do), fills in its
/// provider's name and version and the first target as its endpoint, and takes the posted
/// keys out of it. `stored_keys` are the targets that already hold a key (an update).
pub(crate) async fn prepare(
    state: &AppState,
    api: &mut Api,
    stored_keys: &[String],
) -> ApiResult<Vec<KeyChange>> {
    let Some(sub) = api.subtype_configuration.as_mut() else {
        if api.subtype.as_deref() == Some(AI_SUBTYPE) {
            return Err(ApiError::BadRequest(
                "subtypeConfiguration: is required for an AI API".into(),
            ));
        }
        api.subtype = None;
        return Ok(stored_keys
            .iter()
            .map(|t| KeyChange::Remove { target: t.clone() })
            .collect());
    };
    if sub.subtype != AI_SUBTYPE {
        return Err(ApiError::BadRequest(format!(
            "subtypeConfiguration.subtype: '{}' is not supported; use {AI_SUBTYPE}",
            sub.subtype
        )));
    }
    let config = &mut sub.configuration;
    config.validate()?;
    let provider = ai::provider(state.store(), &config.llm_provider_id)
        .await?
        .ok_or_else(|| {
            ApiError::BadRequest(format!(
                "subtypeConfiguration.configuration.llmProviderId: no LLM provider '{}'",
                config.llm_provider_id
            ))
        })?;
    config.llm_provider_name = provider.name.clone();
    config.llm_provider_api_version = provider.api_version.clone();
    let mut changes = Vec::new();
    for target in &mut config.targets {
        let had = stored_keys.contains(&target.name);
        target.api_key = match target.api_key.take().as_deref() {
            // Not sent, or sent back masked: keep what is stored.
            None | Some(MASKED) => had.then(|| MASKED.to_owned()),
            Some("") => {
                if had {
                    changes.push(KeyChange::Remove {
                        target: target.name.clone(),
                    });
                }
                None
            }
            Some(key) => {
                if key.len() > 4096 || key.chars().any(char::is_control) {
                    return Err(ApiError::BadRequest(format!(
                        "subtypeConfiguration.configuration.targets: the apiKey of '{}' is not a usable key",
                        target.name
                    )));
                }
                changes.push(KeyChange::Set {
                    target: target.name.clone(),
                    key: key.to_owned(),
                });
                Some(MASKED.to_owned())
            }
        };
    }
    for gone in stored_keys
        .iter()
        .filter(|t| !config.targets.iter().any(|c| &&c.name == t))
    {
        changes.push(KeyChange::Remove {
            target: gone.clone(),
        });
    }
    api.subtype = Some(AI_SUBTYPE.to_owned());
    if api.endpoint_config.production_endpoints.is_none() {
        // The gateway routes AI calls by their targets; the API's endpoint names the first
        // so that every reading of the API (devportal, export) shows where it goes.
        api.endpoint_config.endpoint_type = "http".to_owned();
        api.endpoint_config.production_endpoints = Some(
            gantry_model::Endpoint {
                url: config.targets[0].url.clone(),
                config: None,
            }
            .into(),
        );
    }
    Ok(changes)
}

/// Applies `changes` to the stored keys of `api_id` (after the API is stored).
pub(crate) async fn store_keys(
    state: &AppState,
    api_id: &str,
    changes: Vec<KeyChange>,
) -> ApiResult<()> {
    if changes.is_empty() {
        return Ok(());
    }
    let (key, _) = state.key_ring().credential_key().map_err(|e| {
        tracing::error!(error = %e, "no credential key");
        ApiError::Internal("the credential key is not available".into())
    })?;
    for change in changes {
        match change {
            KeyChange::Set { target, key: plain } => {
                let sealed = key
                    .seal(&credential_label(api_id, &target), plain.as_bytes())
                    .map_err(|e| ApiError::Internal(format!("sealing a provider key: {e}")))?;
                ai::set_credential(state.store(), api_id, &target, &sealed).await?;
                tracing::info!(api_id, target, "AI API provider key stored (sealed)");
            }
            KeyChange::Remove { target } => {
                ai::remove_credential(state.store(), api_id, &target).await?;
            }
        }
    }
    Ok(())
}
