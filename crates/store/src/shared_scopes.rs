//! Shared scopes: scopes the Publisher defines once for several APIs, each with the roles
//! bound to it (see migration 0023).

use crate::{Result, Store, StoreError, found};

/// One shared scope.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct SharedScope {
    /// UUID.
    pub id: String,
    /// Unique.
    pub name: String,
    /// Shown in the portals.
    pub display_name: String,
    /// One line.
    pub description: String,
    /// Role names, as a JSON array.
    pub bindings: String,
}

impl SharedScope {
    /// The bound roles.
    pub fn roles(&self) -> Vec<String> {
        serde_json::from_str(&self.bindings).unwrap_or_default()
    }
}

/// Stores a new shared scope; `Conflict` when the name is taken.
pub async fn insert(store: &Store, scope: &SharedScope) -> Result<()> {
    sqlx::query(
        "INSERT INTO shared_scopes (id, name, display_name, description, bindings) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&scope.id)
    .bind(&scope.name)
    .bind(&scope.display_name)
    .bind(&scope.description)
    .bind(&scope.bindings)
    .execute(store.pool())
    .await
    .map_err(StoreError::on_unique("a shared scope of that name exists"))?;
    Ok(())
}

/// Changes a shared scope's display name, description and bindings (not its name).
pub async fn update(store: &Store, scope: &SharedScope) -> Result<()> {
    let done = sqlx::query(
        "UPDATE shared_scopes SET display_name = $1, description = $2, bindings = $3 WHERE id = $4",
    )
    .bind(&scope.display_name)
    .bind(&scope.description)
    .bind(&scope.bindings)
    .bind(&scope.id)
    .execute(store.pool())
    .await?;
    found(&done)
}

/// Deletes a shared scope.
pub async fn delete(store: &Store, id: &str) -> Result<()> {
    let done = sqlx::query("DELETE FROM shared_scopes WHERE id = $1")
        .bind(id)
        .execute(store.pool())
        .await?;
    found(&done)
}

/// Every shared scope, by name.
pub async fn list(store: &Store) -> Result<Vec<SharedScope>> {
    Ok(sqlx::query_as::<_, SharedScope>(
        "SELECT id, name, display_name, description, bindings FROM shared_scopes ORDER BY name",
    )
    .fetch_all(store.pool())
    .await?)
}

/// One shared scope by id; `NotFound` when there is none.
pub async fn get(store: &Store, id: &str) -> Result<SharedScope> {
    sqlx::query_as::<_, SharedScope>(
        "SELECT id, name, display_name, description, bindings FROM shared_scopes WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(store.pool())
    .await?
    .ok_or(StoreError::NotFound)
}

/// One shared scope by name, if there is one.
pub async fn by_name(store: &Store, name: &str) -> Result<Option<SharedScope>> {
    Ok(sqlx::query_as::<_, SharedScope>(
        "SELECT id, name, display_name, description, bindings FROM shared_scopes WHERE name = $1",
    )
    .bind(name)
    .fetch_optional(store.pool())
    .await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn shared_scopes_are_unique_by_name_and_keep_their_bindings() {
        let (store, _dir) = crate::test_support::sqlite().await;
        let scope = SharedScope {
            id: crate::new_id(),
            name: "orders:read".into(),
            display_name: "Read orders".into(),
            description: String::new(),
            bindings: r#"["Internal/subscriber"]"#.into(),
        };
        insert(&store, &scope).await.unwrap();
        let twin = SharedScope {
            id: crate::new_id(),
            ..scope.clone()
        };
        assert!(matches!(
            insert(&store, &twin).await,
            Err(StoreError::Conflict(_))
        ));
        assert_eq!(
            by_name(&store, "orders:read")
                .await
                .unwrap()
                .unwrap()
                .roles(),
            ["Internal/subscriber"]
        );
        let changed = SharedScope {
            bindings: "[]".into(),
            ..scope.clone()
        };
        update(&store, &changed).await.unwrap();
        assert!(get(&store, &scope.id).await.unwrap().roles().is_empty());
        delete(&store, &scope.id).await.unwrap();
        assert!(list(&store).await.unwrap().is_empty());
        assert!(matches!(
            delete(&store, &scope.id).await,
            Err(StoreError::NotFound)
        ));
    }
}
