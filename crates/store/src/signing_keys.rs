//! The key manager's signing keys, as PKCS#8 documents (base64).
//!
//! Encryption at rest and the next → active → retired rotation come with the key-manager
//! work; today one active key is created on first start and kept.

use crate::{Result, Store, now_ms};

/// A stored signing key.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct StoredKey {
    /// Key id, as published in the JWKS.
    pub kid: String,
    /// JWS algorithm (`RS256`).
    pub algorithm: String,
    /// PKCS#8 DER, base64.
    pub private_key: String,
    /// `active` (others come with rotation).
    pub state: String,
    /// Epoch ms.
    pub created_at: i64,
}

/// Stores a new active key.
pub async fn insert_active(
    store: &Store,
    kid: &str,
    algorithm: &str,
    private_key: &str,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO signing_keys (kid, algorithm, private_key, state, created_at) VALUES ($1, $2, $3, 'active', $4)",
    )
    .bind(kid)
    .bind(algorithm)
    .bind(private_key)
    .bind(now_ms())
    .execute(store.pool())
    .await?;
    Ok(())
}

/// The active keys, oldest first (replicas that raced to create the first key all pick the
/// same one: the first).
pub async fn active(store: &Store) -> Result<Vec<StoredKey>> {
    Ok(sqlx::query_as::<_, StoredKey>(
        "SELECT kid, algorithm, private_key, state, created_at FROM signing_keys \
         WHERE state = 'active' ORDER BY created_at, kid",
    )
    .fetch_all(store.pool())
    .await?)
}
