//! Deny policies (WSO2 "blocking conditions"): what every gateway refuses outright. The
//! Admin API creates, switches and deletes them; snapshots carry those switched on.

use gantry_model::deny::{DenyCondition, DenyPolicy};

use crate::{Result, Store, StoreError, found, from_json, new_id, now_ms, to_json};

/// A stored deny policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredDenyPolicy {
    /// UUID (WSO2 `conditionId`).
    pub id: String,
    /// What it blocks.
    pub condition: DenyCondition,
    /// Whether gateways enforce it (WSO2 `conditionStatus`).
    pub enabled: bool,
    /// Who made it.
    pub created_by: String,
    /// When, epoch milliseconds.
    pub created_at: i64,
}

#[derive(sqlx::FromRow)]
struct Row {
    id: String,
    definition: String,
    enabled: i64,
    created_by: String,
    created_at: i64,
}

impl Row {
    fn into_policy(self) -> Result<StoredDenyPolicy> {
        Ok(StoredDenyPolicy {
            condition: from_json("deny_policies.definition", &self.definition)?,
            id: self.id,
            enabled: self.enabled != 0,
            created_by: self.created_by,
            created_at: self.created_at,
        })
    }
}

macro_rules! columns {
    () => {
        "id, definition, enabled, created_by, created_at"
    };
}

/// Every deny policy, oldest first.
pub async fn list(store: &Store) -> Result<Vec<StoredDenyPolicy>> {
    sqlx::query_as::<_, Row>(concat!(
        "SELECT ",
        columns!(),
        " FROM deny_policies ORDER BY created_at, id"
    ))
    .fetch_all(store.pool())
    .await?
    .into_iter()
    .map(Row::into_policy)
    .collect()
}

/// The policy `id`; `NotFound` otherwise.
pub async fn get(store: &Store, id: &str) -> Result<StoredDenyPolicy> {
    sqlx::query_as::<_, Row>(concat!(
        "SELECT ",
        columns!(),
        " FROM deny_policies WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(store.pool())
    .await?
    .ok_or(StoreError::NotFound)?
    .into_policy()
}

/// Stores a new policy; `Conflict` when one already blocks the same thing.
pub async fn create(
    store: &Store,
    condition: &DenyCondition,
    enabled: bool,
    by: &str,
) -> Result<StoredDenyPolicy> {
    let created = StoredDenyPolicy {
        id: new_id(),
        condition: condition.clone(),
        enabled,
        created_by: by.to_owned(),
        created_at: now_ms(),
    };
    sqlx::query(
        "INSERT INTO deny_policies (id, condition_type, definition, match_key, enabled, created_by, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&created.id)
    .bind(condition.condition_type())
    .bind(to_json(condition))
    .bind(condition.identity())
    .bind(i64::from(enabled))
    .bind(by)
    .bind(created.created_at)
    .execute(store.pool())
    .await
    .map_err(StoreError::on_unique(
        "a deny policy with this condition type and value already exists",
    ))?;
    Ok(created)
}

/// Switches the policy `id` on or off; `NotFound` otherwise.
pub async fn set_enabled(store: &Store, id: &str, enabled: bool) -> Result<()> {
    let done = sqlx::query("UPDATE deny_policies SET enabled = $1 WHERE id = $2")
        .bind(i64::from(enabled))
        .bind(id)
        .execute(store.pool())
        .await?;
    found(&done)
}

/// Deletes the policy `id`; `NotFound` otherwise.
pub async fn delete(store: &Store, id: &str) -> Result<()> {
    let done = sqlx::query("DELETE FROM deny_policies WHERE id = $1")
        .bind(id)
        .execute(store.pool())
        .await?;
    found(&done)
}

/// The policies switched on, as gateways receive them.
pub async fn enforced(store: &Store) -> Result<Vec<DenyPolicy>> {
    Ok(list(store)
        .await?
        .into_iter()
        .filter(|p| p.enabled)
        .map(|p| DenyPolicy {
            id: p.id,
            condition: p.condition,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[tokio::test]
    async fn policies_are_stored_switched_and_unique_by_what_they_block() {
        let (store, _dir) = crate::test_support::sqlite().await;
        let ip = DenyCondition::from_wso2("IP", &json!({"fixedIp": "10.0.0.7"})).unwrap();
        let made = create(&store, &ip, true, "admin").await.unwrap();
        assert!(matches!(
            create(&store, &ip, false, "admin").await,
            Err(StoreError::Conflict(_))
        ));
        assert_eq!(enforced(&store).await.unwrap().len(), 1);
        set_enabled(&store, &made.id, false).await.unwrap();
        assert!(enforced(&store).await.unwrap().is_empty());
        assert!(!get(&store, &made.id).await.unwrap().enabled);
        delete(&store, &made.id).await.unwrap();
        assert!(matches!(
            delete(&store, &made.id).await,
            Err(StoreError::NotFound)
        ));
    }
}
