//! External key managers: OIDC issuers whose JWT access tokens gateways accept, with the
//! JWKS last fetched from each (the control plane fetches; gateways only receive keys).

use crate::{Result, Store, StoreError, found, new_id, now_ms};

/// A stored key manager.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct KeyManager {
    /// UUID.
    pub id: String,
    /// Unique name (WSO2 `name`), used by application key mappings.
    pub name: String,
    /// The exact `iss` of its tokens.
    pub issuer: String,
    /// Where its JWKS is published.
    pub jwks_uri: String,
    /// 1 when gateways accept its tokens.
    pub enabled: i64,
    /// The rest of WSO2's `KeyManager` body, JSON object text.
    pub definition: String,
    /// The last JWKS fetched (JSON text).
    pub jwks: String,
    /// When it was fetched (epoch ms).
    pub jwks_fetched_at: i64,
    /// Epoch ms.
    pub created_at: i64,
}

macro_rules! select_key_managers {
    ($rest:literal) => {
        concat!(
            "SELECT id, name, issuer, jwks_uri, enabled, definition, jwks, jwks_fetched_at, created_at FROM key_managers ",
            $rest
        )
    };
}

/// Creates a key manager (its id assigned); `Conflict` when the name or issuer is taken.
pub async fn create(store: &Store, km: &KeyManager) -> Result<KeyManager> {
    let created = KeyManager {
        id: new_id(),
        created_at: now_ms(),
        ..km.clone()
    };
    sqlx::query(
        "INSERT INTO key_managers (id, name, issuer, jwks_uri, enabled, definition, jwks, jwks_fetched_at, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(&created.id)
    .bind(&created.name)
    .bind(&created.issuer)
    .bind(&created.jwks_uri)
    .bind(created.enabled)
    .bind(&created.definition)
    .bind(&created.jwks)
    .bind(created.jwks_fetched_at)
    .bind(created.created_at)
    .execute(store.pool())
    .await
    .map_err(StoreError::on_unique(
        "a key manager with this name or issuer already exists",
    ))?;
    Ok(created)
}

/// Every key manager, by name.
pub async fn list(store: &Store) -> Result<Vec<KeyManager>> {
    Ok(
        sqlx::query_as::<_, KeyManager>(select_key_managers!("ORDER BY name"))
            .fetch_all(store.pool())
            .await?,
    )
}

/// The key manager with `id`; `NotFound` otherwise.
pub async fn get(store: &Store, id: &str) -> Result<KeyManager> {
    sqlx::query_as::<_, KeyManager>(select_key_managers!("WHERE id = $1"))
        .bind(id)
        .fetch_optional(store.pool())
        .await?
        .ok_or(StoreError::NotFound)
}

/// The key manager called `name`, if any.
pub async fn find_by_name(store: &Store, name: &str) -> Result<Option<KeyManager>> {
    Ok(
        sqlx::query_as::<_, KeyManager>(select_key_managers!("WHERE name = $1"))
            .bind(name)
            .fetch_optional(store.pool())
            .await?,
    )
}

/// Replaces everything but the id, name and creation time.
pub async fn update(store: &Store, km: &KeyManager) -> Result<()> {
    let done = sqlx::query(
        "UPDATE key_managers SET issuer = $1, jwks_uri = $2, enabled = $3, definition = $4, jwks = $5, jwks_fetched_at = $6 WHERE id = $7",
    )
    .bind(&km.issuer)
    .bind(&km.jwks_uri)
    .bind(km.enabled)
    .bind(&km.definition)
    .bind(&km.jwks)
    .bind(km.jwks_fetched_at)
    .bind(&km.id)
    .execute(store.pool())
    .await
    .map_err(StoreError::on_unique("another key manager has this issuer"))?;
    found(&done)
}

/// Records a freshly fetched JWKS.
pub async fn set_jwks(store: &Store, id: &str, jwks: &str) -> Result<()> {
    sqlx::query("UPDATE key_managers SET jwks = $1, jwks_fetched_at = $2 WHERE id = $3")
        .bind(jwks)
        .bind(now_ms())
        .bind(id)
        .execute(store.pool())
        .await?;
    Ok(())
}

/// Deletes a key manager; `NotFound` otherwise.
pub async fn delete(store: &Store, id: &str) -> Result<()> {
    let done = sqlx::query("DELETE FROM key_managers WHERE id = $1")
        .bind(id)
        .execute(store.pool())
        .await?;
    found(&done)
}
