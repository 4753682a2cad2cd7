//! Custom rules: keyed limits over request attributes (Gantry's form of WSO2's custom
//! throttling rules). The Admin API manages them; every snapshot carries all of them.

use gantry_model::custom_rules::CustomRule;

use crate::{Result, Store, StoreError, found, from_json, new_id, now_ms, to_json};

/// A stored custom rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCustomRule {
    /// UUID (WSO2 `policyId`).
    pub id: String,
    /// Free text.
    pub description: String,
    /// The rule (its name, key template, conditions and limit).
    pub rule: CustomRule,
}

#[derive(sqlx::FromRow)]
struct Row {
    id: String,
    description: String,
    definition: String,
}

impl Row {
    fn into_rule(self) -> Result<StoredCustomRule> {
        Ok(StoredCustomRule {
            rule: from_json("custom_rules.definition", &self.definition)?,
            id: self.id,
            description: self.description,
        })
    }
}

/// Every custom rule, by name.
pub async fn list(store: &Store) -> Result<Vec<StoredCustomRule>> {
    sqlx::query_as::<_, Row>("SELECT id, description, definition FROM custom_rules ORDER BY name")
        .fetch_all(store.pool())
        .await?
        .into_iter()
        .map(Row::into_rule)
        .collect()
}

/// The rule `id`; `NotFound` otherwise.
pub async fn get(store: &Store, id: &str) -> Result<StoredCustomRule> {
    sqlx::query_as::<_, Row>("SELECT id, description, definition FROM custom_rules WHERE id = $1")
        .bind(id)
        .fetch_optional(store.pool())
        .await?
        .ok_or(StoreError::NotFound)?
        .into_rule()
}

/// Stores a new rule; `Conflict` when the name is taken.
pub async fn create(
    store: &Store,
    rule: &CustomRule,
    description: &str,
) -> Result<StoredCustomRule> {
    let created = StoredCustomRule {
        id: new_id(),
        description: description.to_owned(),
        rule: rule.clone(),
    };
    sqlx::query(
        "INSERT INTO custom_rules (id, name, description, definition, created_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&created.id)
    .bind(&rule.name)
    .bind(description)
    .bind(to_json(rule))
    .bind(now_ms())
    .execute(store.pool())
    .await
    .map_err(StoreError::on_unique("a custom rule with this name already exists"))?;
    Ok(created)
}

/// Replaces the rule `id`'s description and definition (its name stays); `NotFound` otherwise.
pub async fn update(store: &Store, id: &str, rule: &CustomRule, description: &str) -> Result<()> {
    let done =
        sqlx::query("UPDATE custom_rules SET description = $1, definition = $2 WHERE id = $3")
            .bind(description)
            .bind(to_json(rule))
            .bind(id)
            .execute(store.pool())
            .await?;
    found(&done)
}

/// Deletes the rule `id`; `NotFound` otherwise.
pub async fn delete(store: &Store, id: &str) -> Result<()> {
    let done = sqlx::query("DELETE FROM custom_rules WHERE id = $1")
        .bind(id)
        .execute(store.pool())
        .await?;
    found(&done)
}

/// Every rule, as gateways receive them.
pub async fn enforced(store: &Store) -> Result<Vec<CustomRule>> {
    Ok(list(store).await?.into_iter().map(|r| r.rule).collect())
}
