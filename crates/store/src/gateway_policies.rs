//! Gateway policy mappings (WSO2 4.3+ `/gateway-policies`): policies for the request,
//! response and fault flows of every API an environment's gateways serve, and where each
//! mapping is deployed (one mapping per environment). Snapshots carry the deployed one.

use gantry_model::ApiPolicies;

use crate::{Result, Store, StoreError, found, from_json, new_id, now_ms, to_json};

/// A stored mapping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMapping {
    /// UUID.
    pub id: String,
    /// WSO2 `displayName`.
    pub display_name: String,
    /// WSO2 `description`.
    pub description: String,
    /// The policies.
    pub policies: ApiPolicies,
    /// The environments it is deployed to, by name.
    pub environments: Vec<String>,
}

#[derive(sqlx::FromRow)]
struct Row {
    id: String,
    display_name: String,
    description: String,
    policy_mapping: String,
}

async fn environments_of(store: &Store, id: &str) -> Result<Vec<String>> {
    let rows: Vec<(String,)> = sqlx::query_as(
        "SELECT environment FROM gateway_policy_deployments WHERE mapping_id = $1 ORDER BY environment",
    )
    .bind(id)
    .fetch_all(store.pool())
    .await?;
    Ok(rows.into_iter().map(|(e,)| e).collect())
}

impl Row {
    async fn into_mapping(self, store: &Store) -> Result<StoredMapping> {
        Ok(StoredMapping {
            policies: from_json(
                "gateway_policy_mappings.policy_mapping",
                &self.policy_mapping,
            )?,
            environments: environments_of(store, &self.id).await?,
            id: self.id,
            display_name: self.display_name,
            description: self.description,
        })
    }
}

/// Every mapping, oldest first.
pub async fn list(store: &Store) -> Result<Vec<StoredMapping>> {
    let rows = sqlx::query_as::<_, Row>(
        "SELECT id, display_name, description, policy_mapping FROM gateway_policy_mappings ORDER BY created_at, id",
    )
    .fetch_all(store.pool())
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        out.push(row.into_mapping(store).await?);
    }
    Ok(out)
}

/// The mapping `id`; `NotFound` otherwise.
pub async fn get(store: &Store, id: &str) -> Result<StoredMapping> {
    sqlx::query_as::<_, Row>(
        "SELECT id, display_name, description, policy_mapping FROM gateway_policy_mappings WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(store.pool())
    .await?
    .ok_or(StoreError::NotFound)?
    .into_mapping(store)
    .await
}

/// Stores a new mapping (deployed nowhere).
pub async fn create(
    store: &Store,
    display_name: &str,
    description: &str,
    policies: &ApiPolicies,
) -> Result<StoredMapping> {
    let id = new_id();
    sqlx::query(
        "INSERT INTO gateway_policy_mappings (id, display_name, description, policy_mapping, created_at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&id)
    .bind(display_name)
    .bind(description)
    .bind(to_json(policies))
    .bind(now_ms())
    .execute(store.pool())
    .await?;
    get(store, &id).await
}

/// Replaces a mapping's name, description and policies; `NotFound` otherwise.
pub async fn update(
    store: &Store,
    id: &str,
    display_name: &str,
    description: &str,
    policies: &ApiPolicies,
) -> Result<StoredMapping> {
    let done = sqlx::query(
        "UPDATE gateway_policy_mappings SET display_name = $1, description = $2, policy_mapping = $3 WHERE id = $4",
    )
    .bind(display_name)
    .bind(description)
    .bind(to_json(policies))
    .bind(id)
    .execute(store.pool())
    .await?;
    found(&done)?;
    get(store, id).await
}

/// Deletes a mapping; `NotFound` otherwise. Refused (`Conflict`) while it is deployed.
pub async fn delete(store: &Store, id: &str) -> Result<()> {
    if !environments_of(store, id).await?.is_empty() {
        return Err(StoreError::Conflict(
            "the gateway policy mapping is deployed; undeploy it first".to_owned(),
        ));
    }
    let done = sqlx::query("DELETE FROM gateway_policy_mappings WHERE id = $1")
        .bind(id)
        .execute(store.pool())
        .await?;
    found(&done)
}

/// Deploys mapping `id` to `environment`; `Conflict` when another mapping is deployed there.
pub async fn deploy(store: &Store, id: &str, environment: &str) -> Result<()> {
    let current: Option<(String,)> =
        sqlx::query_as("SELECT mapping_id FROM gateway_policy_deployments WHERE environment = $1")
            .bind(environment)
            .fetch_optional(store.pool())
            .await?;
    match current {
        Some((mapping,)) if mapping == id => Ok(()),
        Some((mapping,)) => Err(StoreError::Conflict(format!(
            "gateway policy mapping {mapping} is already deployed to '{environment}'; undeploy it first"
        ))),
        None => {
            sqlx::query(
                "INSERT INTO gateway_policy_deployments (environment, mapping_id, deployed_at) VALUES ($1, $2, $3)",
            )
            .bind(environment)
            .bind(id)
            .bind(now_ms())
            .execute(store.pool())
            .await
            .map_err(StoreError::on_unique("a gateway policy mapping is already deployed there"))?;
            Ok(())
        }
    }
}

/// Undeploys mapping `id` from `environment` (nothing when it is not deployed there).
pub async fn undeploy(store: &Store, id: &str, environment: &str) -> Result<()> {
    sqlx::query(
        "DELETE FROM gateway_policy_deployments WHERE environment = $1 AND mapping_id = $2",
    )
    .bind(environment)
    .bind(id)
    .execute(store.pool())
    .await?;
    Ok(())
}

/// The policies deployed to `environment`, as its gateways receive them.
pub async fn deployed(store: &Store, environment: &str) -> Result<ApiPolicies> {
    let row: Option<(String,)> = sqlx::query_as(
        "SELECT m.policy_mapping FROM gateway_policy_deployments d \
         JOIN gateway_policy_mappings m ON m.id = d.mapping_id WHERE d.environment = $1",
    )
    .bind(environment)
    .fetch_optional(store.pool())
    .await?;
    match row {
        Some((json,)) => from_json("gateway_policy_mappings.policy_mapping", &json),
        None => Ok(ApiPolicies::default()),
    }
}
