//! The API keys applications generated, by UUID and name (see migration 0026). The keys are
//! signed JWTs checked by gateways on their own; a row keeps a key's `jti` so it can be
//! regenerated or revoked by UUID.

use crate::{Result, Store, StoreError, found};

/// One generated API key.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct StoredApiKey {
    /// WSO2's `keyUUID`.
    pub uuid: String,
    /// The application it belongs to.
    pub application_id: String,
    /// `PRODUCTION` or `SANDBOX`.
    pub key_type: String,
    /// Unique per application and key type.
    pub key_name: String,
    /// The id of the key currently issued under this name.
    pub jti: String,
    /// Seconds; -1 for a key that does not expire.
    pub validity_secs: i64,
    /// When the current key was issued, epoch milliseconds.
    pub issued_at: i64,
}

/// Records a key; `Conflict` when the application has a key of that type and name.
pub async fn insert(store: &Store, key: &StoredApiKey) -> Result<()> {
    sqlx::query(
        "INSERT INTO application_api_keys (uuid, application_id, key_type, key_name, jti, \
         validity_secs, issued_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&key.uuid)
    .bind(&key.application_id)
    .bind(&key.key_type)
    .bind(&key.key_name)
    .bind(&key.jti)
    .bind(key.validity_secs)
    .bind(key.issued_at)
    .execute(store.pool())
    .await
    .map_err(StoreError::on_unique(&format!(
        "the application has a {} API key named '{}'",
        key.key_type, key.key_name
    )))?;
    Ok(())
}

/// Records that the key `uuid` was issued again as `jti` at `issued_at`.
pub async fn reissue(store: &Store, uuid: &str, jti: &str, issued_at: i64) -> Result<()> {
    let done =
        sqlx::query("UPDATE application_api_keys SET jti = $2, issued_at = $3 WHERE uuid = $1")
            .bind(uuid)
            .bind(jti)
            .bind(issued_at)
            .execute(store.pool())
            .await?;
    found(&done)
}

/// The application's keys of `key_type`, by name.
pub async fn list(
    store: &Store,
    application_id: &str,
    key_type: &str,
) -> Result<Vec<StoredApiKey>> {
    Ok(sqlx::query_as(
        "SELECT uuid, application_id, key_type, key_name, jti, validity_secs, issued_at \
         FROM application_api_keys WHERE application_id = $1 AND key_type = $2 ORDER BY key_name",
    )
    .bind(application_id)
    .bind(key_type)
    .fetch_all(store.pool())
    .await?)
}

/// One key by UUID; `NotFound` when there is none.
pub async fn get(store: &Store, uuid: &str) -> Result<StoredApiKey> {
    sqlx::query_as(
        "SELECT uuid, application_id, key_type, key_name, jti, validity_secs, issued_at \
         FROM application_api_keys WHERE uuid = $1",
    )
    .bind(uuid)
    .fetch_optional(store.pool())
    .await?
    .ok_or(StoreError::NotFound)
}

/// Forgets the key issued as `jti` (it was revoked), if one was recorded.
pub async fn forget_jti(store: &Store, jti: &str) -> Result<()> {
    sqlx::query("DELETE FROM application_api_keys WHERE jti = $1")
        .bind(jti)
        .execute(store.pool())
        .await?;
    Ok(())
}
