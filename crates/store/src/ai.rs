//! AI APIs in the store: LLM providers (the built-in ones from `gantry_model::ai`, others
//! added through the Admin API), the sealed provider keys of AI APIs' targets, and what an
//! environment's snapshot carries of them (`ai_apis`, `token_quotas`).

use gantry_model::Api;
use gantry_model::ai::{
    AiDeployment, DeployedTarget, LlmProvider, ProviderConfiguration, TokenQuota,
    built_in_providers,
};

use crate::{Result, Store, StoreError, found, from_json, now_ms, to_json};

#[derive(sqlx::FromRow)]
struct ProviderRow {
    id: String,
    name: String,
    api_version: String,
    description: String,
    configurations: String,
    api_definition: String,
    model_list: String,
}

impl ProviderRow {
    fn into_provider(self) -> Result<LlmProvider> {
        Ok(LlmProvider {
            configurations: from_json::<ProviderConfiguration>(
                "llm_providers.configurations",
                &self.configurations,
            )?,
            model_list: from_json("llm_providers.model_list", &self.model_list)?,
            id: self.id,
            name: self.name,
            api_version: self.api_version,
            description: self.description,
            built_in: false,
            api_definition: self.api_definition,
        })
    }
}

/// The columns of a [`ProviderRow`].
macro_rules! provider_columns {
    () => {
        "id, name, api_version, description, configurations, api_definition, model_list"
    };
}

/// Every provider: the built-in ones, then those added, by name.
pub async fn providers(store: &Store) -> Result<Vec<LlmProvider>> {
    let mut all = built_in_providers();
    let added = sqlx::query_as::<_, ProviderRow>(concat!(
        "SELECT ",
        provider_columns!(),
        " FROM llm_providers ORDER BY name, api_version"
    ))
    .fetch_all(store.pool())
    .await?;
    for row in added {
        all.push(row.into_provider()?);
    }
    Ok(all)
}

/// The provider `id`, built-in or added; `None` otherwise.
pub async fn provider(store: &Store, id: &str) -> Result<Option<LlmProvider>> {
    if let Some(p) = built_in_providers().into_iter().find(|p| p.id == id) {
        return Ok(Some(p));
    }
    sqlx::query_as::<_, ProviderRow>(concat!(
        "SELECT ",
        provider_columns!(),
        " FROM llm_providers WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(store.pool())
    .await?
    .map(ProviderRow::into_provider)
    .transpose()
}

/// Stores an added provider; `Conflict` when its name and version are taken (built-in
/// names included).
pub async fn create_provider(store: &Store, p: &LlmProvider) -> Result<()> {
    if built_in_providers()
        .iter()
        .any(|b| b.name == p.name && b.api_version == p.api_version)
    {
        return Err(StoreError::Conflict(
            "a built-in LLM provider has this name and version".into(),
        ));
    }
    sqlx::query(concat!(
        "INSERT INTO llm_providers (",
        provider_columns!(),
        ", created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
    ))
    .bind(&p.id)
    .bind(&p.name)
    .bind(&p.api_version)
    .bind(&p.description)
    .bind(to_json(&p.configurations))
    .bind(&p.api_definition)
    .bind(to_json(&p.model_list))
    .bind(now_ms())
    .execute(store.pool())
    .await
    .map_err(StoreError::on_unique(
        "an LLM provider with this name and version already exists",
    ))?;
    Ok(())
}

/// Replaces an added provider's description, configurations, definition and models;
/// `NotFound` for an unknown (or built-in) id.
pub async fn update_provider(store: &Store, p: &LlmProvider) -> Result<()> {
    let done = sqlx::query(
        "UPDATE llm_providers SET description = $1, configurations = $2, api_definition = $3, model_list = $4 WHERE id = $5",
    )
    .bind(&p.description)
    .bind(to_json(&p.configurations))
    .bind(&p.api_definition)
    .bind(to_json(&p.model_list))
    .bind(&p.id)
    .execute(store.pool())
    .await?;
    found(&done)
}

/// Deletes an added provider; `NotFound` for an unknown (or built-in) id.
pub async fn delete_provider(store: &Store, id: &str) -> Result<()> {
    let done = sqlx::query("DELETE FROM llm_providers WHERE id = $1")
        .bind(id)
        .execute(store.pool())
        .await?;
    found(&done)
}

/// The targets of `api_id` that have a stored key.
pub async fn credential_targets(store: &Store, api_id: &str) -> Result<Vec<String>> {
    Ok(sqlx::query_scalar::<_, String>(
        "SELECT target FROM ai_api_credentials WHERE api_id = $1 ORDER BY target",
    )
    .bind(api_id)
    .fetch_all(store.pool())
    .await?)
}

/// Stores the sealed key of `api_id`'s `target`, replacing any.
pub async fn set_credential(store: &Store, api_id: &str, target: &str, sealed: &str) -> Result<()> {
    let mut tx = store.begin_write().await?;
    sqlx::query("DELETE FROM ai_api_credentials WHERE api_id = $1 AND target = $2")
        .bind(api_id)
        .bind(target)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "INSERT INTO ai_api_credentials (api_id, target, sealed, updated_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(api_id)
    .bind(target)
    .bind(sealed)
    .bind(now_ms())
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Removes the key of `api_id`'s `target`, if any.
pub async fn remove_credential(store: &Store, api_id: &str, target: &str) -> Result<()> {
    sqlx::query("DELETE FROM ai_api_credentials WHERE api_id = $1 AND target = $2")
        .bind(api_id)
        .bind(target)
        .execute(store.pool())
        .await?;
    Ok(())
}

#[derive(sqlx::FromRow)]
struct CredentialRow {
    target: String,
    sealed: String,
}

/// What gateways get of the AI API `api` (a deployed revision): its provider's layout and
/// its targets with their sealed keys. `None` when `api` is not an AI API, or its provider
/// is gone (then the caller leaves the API out: without its provider's layout the gateway
/// could neither meter nor authenticate its calls).
pub(crate) async fn deployment(store: &Store, api: &Api) -> Result<Option<AiDeployment>> {
    let Some(sub) = &api.subtype_configuration else {
        return Ok(None);
    };
    let config = &sub.configuration;
    let Some(provider) = provider(store, &config.llm_provider_id).await? else {
        tracing::warn!(api_id = %api.id, provider = %config.llm_provider_id,
            "AI API left out of the snapshot: its LLM provider no longer exists");
        return Ok(None);
    };
    let Ok(spec) = provider.configurations.spec(&provider.name) else {
        return Ok(None);
    };
    let sealed = sqlx::query_as::<_, CredentialRow>(
        "SELECT target, sealed FROM ai_api_credentials WHERE api_id = $1",
    )
    .bind(&api.id)
    .fetch_all(store.pool())
    .await?;
    Ok(Some(AiDeployment {
        api_id: api.id.clone(),
        provider: spec,
        routing: config.routing,
        request_timeout_ms: config.request_timeout_ms,
        targets: config
            .targets
            .iter()
            .map(|t| DeployedTarget {
                name: t.name.clone(),
                url: t.url.clone(),
                model: t.model.clone(),
                weight: t.weight,
                sealed_key: sealed
                    .iter()
                    .find(|c| c.target == t.name)
                    .map(|c| c.sealed.clone()),
            })
            .collect(),
        guardrails: config.guardrails.clone(),
    }))
}

#[derive(sqlx::FromRow)]
struct QuotaRow {
    name: String,
    total_token_count: i64,
    prompt_token_count: i64,
    completion_token_count: i64,
    unit_time: i64,
    time_unit: String,
}

/// The token budgets of subscription tiers that have any.
pub(crate) async fn token_quotas(store: &Store) -> Result<Vec<TokenQuota>> {
    Ok(sqlx::query_as::<_, QuotaRow>(
        "SELECT name, total_token_count, prompt_token_count, completion_token_count, unit_time, time_unit \
         FROM throttling_policies WHERE policy_level = 'subscription' AND \
         (total_token_count > 0 OR prompt_token_count > 0 OR completion_token_count > 0) ORDER BY name",
    )
    .fetch_all(store.pool())
    .await?
    .into_iter()
    .map(|r| TokenQuota {
        tier: r.name,
        total_tokens: r.total_token_count,
        prompt_tokens: r.prompt_token_count,
        completion_tokens: r.completion_token_count,
        unit_time: r.unit_time,
        time_unit: r.time_unit,
    })
    .collect())
}
