//! Imported operation policies (WSO2 `/operation-policies` and `/apis/{id}/operation-policies`):
//! a policy specification with its uploaded gateway definition, common to every API (stored
//! with `api_id` '') or one API's own. Built-in policies live in `gantry_model`, not here.

use gantry_model::operation_policy::PolicySpec;

use crate::{Result, Store, StoreError, found, from_json, new_id, now_ms, to_json};

/// A stored policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredPolicy {
    /// UUID.
    pub id: String,
    /// The API it belongs to, `None` for a common policy.
    pub api_id: Option<String>,
    /// Its specification.
    pub spec: PolicySpec,
    /// The uploaded definition file.
    pub definition: String,
    /// That file's name.
    pub definition_name: String,
    /// Hex MD5 of specification and definition (WSO2 `md5`).
    pub md5: String,
    /// When it was imported, epoch milliseconds.
    pub created_at: i64,
}

#[derive(sqlx::FromRow)]
struct Row {
    id: String,
    api_id: String,
    spec: String,
    definition: String,
    definition_name: String,
    md5: String,
    created_at: i64,
}

impl Row {
    fn into_policy(self) -> Result<StoredPolicy> {
        Ok(StoredPolicy {
            spec: from_json("operation_policies.spec", &self.spec)?,
            id: self.id,
            api_id: (!self.api_id.is_empty()).then_some(self.api_id),
            definition: self.definition,
            definition_name: self.definition_name,
            md5: self.md5,
            created_at: self.created_at,
        })
    }
}

macro_rules! columns {
    () => {
        "id, api_id, spec, definition, definition_name, md5, created_at"
    };
}

/// The common policies (`api_id` `None`) or one API's own, by name then version.
pub async fn list(store: &Store, api_id: Option<&str>) -> Result<Vec<StoredPolicy>> {
    sqlx::query_as::<_, Row>(concat!(
        "SELECT ",
        columns!(),
        " FROM operation_policies WHERE api_id = $1 ORDER BY name, version"
    ))
    .bind(api_id.unwrap_or_default())
    .fetch_all(store.pool())
    .await?
    .into_iter()
    .map(Row::into_policy)
    .collect()
}

/// The policy `id` among the common ones (`api_id` `None`) or that API's; `NotFound` otherwise.
pub async fn get(store: &Store, api_id: Option<&str>, id: &str) -> Result<StoredPolicy> {
    sqlx::query_as::<_, Row>(concat!(
        "SELECT ",
        columns!(),
        " FROM operation_policies WHERE id = $1 AND api_id = $2"
    ))
    .bind(id)
    .bind(api_id.unwrap_or_default())
    .fetch_optional(store.pool())
    .await?
    .ok_or(StoreError::NotFound)?
    .into_policy()
}

/// Stores an imported policy; `Conflict` when the name and version are taken in its scope.
pub async fn create(
    store: &Store,
    api_id: Option<&str>,
    spec: &PolicySpec,
    definition: &str,
    definition_name: &str,
    md5: &str,
) -> Result<StoredPolicy> {
    let created = StoredPolicy {
        id: new_id(),
        api_id: api_id.map(str::to_owned),
        spec: spec.clone(),
        definition: definition.to_owned(),
        definition_name: definition_name.to_owned(),
        md5: md5.to_owned(),
        created_at: now_ms(),
    };
    sqlx::query(
        "INSERT INTO operation_policies (id, api_id, name, version, spec, definition, definition_name, md5, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(&created.id)
    .bind(api_id.unwrap_or_default())
    .bind(&spec.name)
    .bind(&spec.version)
    .bind(to_json(spec))
    .bind(definition)
    .bind(definition_name)
    .bind(md5)
    .bind(created.created_at)
    .execute(store.pool())
    .await
    .map_err(StoreError::on_unique(
        "an operation policy with this name and version already exists",
    ))?;
    Ok(created)
}

/// Deletes the policy `id` of that scope; `NotFound` otherwise.
pub async fn delete(store: &Store, api_id: Option<&str>, id: &str) -> Result<()> {
    let done = sqlx::query("DELETE FROM operation_policies WHERE id = $1 AND api_id = $2")
        .bind(id)
        .bind(api_id.unwrap_or_default())
        .execute(store.pool())
        .await?;
    found(&done)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn policies_are_scoped_to_common_or_one_api_and_unique_by_name_and_version() {
        let (store, _dir) = crate::test_support::sqlite().await;
        let spec: PolicySpec = serde_json::from_value(serde_json::json!({
            "name": "stamp", "version": "v1", "applicableFlows": ["request"]
        }))
        .unwrap();
        let common = create(&store, None, &spec, "x", "stamp.j2", "m")
            .await
            .unwrap();
        assert!(matches!(
            create(&store, None, &spec, "x", "stamp.j2", "m").await,
            Err(StoreError::Conflict(_))
        ));
        let own = create(&store, Some("api-1"), &spec, "y", "stamp.j2", "m")
            .await
            .unwrap();
        assert_eq!(
            list(&store, None).await.unwrap(),
            std::slice::from_ref(&common)
        );
        assert_eq!(
            list(&store, Some("api-1")).await.unwrap(),
            std::slice::from_ref(&own)
        );
        assert!(matches!(
            get(&store, Some("api-2"), &own.id).await,
            Err(StoreError::NotFound)
        ));
        delete(&store, None, &common.id).await.unwrap();
        assert!(matches!(
            delete(&store, None, &own.id).await,
            Err(StoreError::NotFound)
        ));
    }
}
