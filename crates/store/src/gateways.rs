//! Gateway tokens (one environment each, stored as SHA-256 hashes) and the gateway nodes
//! that connect with them: what each applied, rejected and when it was last seen.

use crate::{Result, Store, StoreError, found, new_id, now_ms};

/// A gateway token (the secret itself is shown once and never stored).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct GatewayToken {
    /// UUID.
    pub id: String,
    /// Environment name.
    pub environment: String,
    /// Label given by the operator.
    pub name: String,
    /// Hash of the secret.
    pub token_hash: String,
    /// Epoch ms.
    pub created_at: i64,
    /// Epoch ms, when revoked.
    pub revoked_at: Option<i64>,
}

/// Stores a token for `environment`.
pub async fn create_token(
    store: &Store,
    environment: &str,
    name: &str,
    token_hash: &str,
) -> Result<GatewayToken> {
    let token = GatewayToken {
        id: new_id(),
        environment: environment.to_owned(),
        name: name.to_owned(),
        token_hash: token_hash.to_owned(),
        created_at: now_ms(),
        revoked_at: None,
    };
    sqlx::query(
        "INSERT INTO gateway_tokens (id, environment, name, token_hash, created_at, revoked_at) VALUES ($1, $2, $3, $4, $5, NULL)",
    )
    .bind(&token.id)
    .bind(&token.environment)
    .bind(&token.name)
    .bind(&token.token_hash)
    .bind(token.created_at)
    .execute(store.pool())
    .await
    .map_err(StoreError::on_unique("token collision; retry"))?;
    Ok(token)
}

/// The tokens of `environment`, newest first.
pub async fn tokens_of(store: &Store, environment: &str) -> Result<Vec<GatewayToken>> {
    Ok(sqlx::query_as::<_, GatewayToken>(
        "SELECT id, environment, name, token_hash, created_at, revoked_at FROM gateway_tokens \
         WHERE environment = $1 ORDER BY created_at DESC, id",
    )
    .bind(environment)
    .fetch_all(store.pool())
    .await?)
}

/// The unrevoked token with this hash.
pub async fn find_active_token(store: &Store, token_hash: &str) -> Result<Option<GatewayToken>> {
    Ok(sqlx::query_as::<_, GatewayToken>(
        "SELECT id, environment, name, token_hash, created_at, revoked_at FROM gateway_tokens \
         WHERE token_hash = $1 AND revoked_at IS NULL",
    )
    .bind(token_hash)
    .fetch_optional(store.pool())
    .await?)
}

/// Whether token `id` exists and is not revoked.
pub async fn token_is_active(store: &Store, id: &str) -> Result<bool> {
    let n: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM gateway_tokens WHERE id = $1 AND revoked_at IS NULL",
    )
    .bind(id)
    .fetch_one(store.pool())
    .await?;
    Ok(n > 0)
}

/// Revokes token `id` of `environment`; `NotFound` if there is no such live token.
pub async fn revoke_token(store: &Store, environment: &str, id: &str) -> Result<()> {
    let done = sqlx::query(
        "UPDATE gateway_tokens SET revoked_at = $1 WHERE id = $2 AND environment = $3 AND revoked_at IS NULL",
    )
    .bind(now_ms())
    .bind(id)
    .bind(environment)
    .execute(store.pool())
    .await?;
    found(&done)
}

/// A gateway instance as last reported.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct GatewayNode {
    /// Environment served.
    pub environment: String,
    /// Node id (pod name).
    pub node_id: String,
    /// Build version.
    pub build: String,
    /// 1 while a stream is open.
    pub connected: i64,
    /// Version it held when it connected.
    pub held_version: i64,
    /// Last version it acknowledged.
    pub applied_version: i64,
    /// Epoch ms of the last ACK.
    pub last_ack_at: Option<i64>,
    /// Last version it rejected.
    pub last_nack_version: Option<i64>,
    /// Why.
    pub last_nack_reason: Option<String>,
    /// Epoch ms of the last NACK.
    pub last_nack_at: Option<i64>,
    /// Epoch ms.
    pub first_seen: i64,
    /// Epoch ms.
    pub last_seen: i64,
}

/// Records that a node connected, holding `held_version`.
pub async fn node_connected(
    store: &Store,
    environment: &str,
    node_id: &str,
    build: &str,
    held_version: i64,
) -> Result<()> {
    let now = now_ms();
    let mut tx = store.begin_write().await?;
    let updated = sqlx::query(
        "UPDATE gateway_nodes SET build = $1, connected = 1, held_version = $2, applied_version = $2, last_seen = $3 \
         WHERE environment = $4 AND node_id = $5",
    )
    .bind(build)
    .bind(held_version)
    .bind(now)
    .bind(environment)
    .bind(node_id)
    .execute(&mut *tx)
    .await?;
    if updated.rows_affected() == 0 {
        sqlx::query(
            "INSERT INTO gateway_nodes (environment, node_id, build, connected, held_version, applied_version, \
             first_seen, last_seen) VALUES ($1, $2, $3, 1, $4, $4, $5, $5)",
        )
        .bind(environment)
        .bind(node_id)
        .bind(build)
        .bind(held_version)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::on_unique("node registered concurrently"))?;
    }
    tx.commit().await?;
    Ok(())
}

/// Records an ACK of `version`.
pub async fn node_acked(
    store: &Store,
    environment: &str,
    node_id: &str,
    version: i64,
) -> Result<()> {
    let now = now_ms();
    sqlx::query(
        "UPDATE gateway_nodes SET applied_version = $1, last_ack_at = $2, last_seen = $2 \
         WHERE environment = $3 AND node_id = $4",
    )
    .bind(version)
    .bind(now)
    .bind(environment)
    .bind(node_id)
    .execute(store.pool())
    .await?;
    Ok(())
}

/// Records a NACK of `version` with `reason`.
pub async fn node_nacked(
    store: &Store,
    environment: &str,
    node_id: &str,
    version: i64,
    reason: &str,
) -> Result<()> {
    let now = now_ms();
    sqlx::query(
        "UPDATE gateway_nodes SET last_nack_version = $1, last_nack_reason = $2, last_nack_at = $3, last_seen = $3 \
         WHERE environment = $4 AND node_id = $5",
    )
    .bind(version)
    .bind(reason)
    .bind(now)
    .bind(environment)
    .bind(node_id)
    .execute(store.pool())
    .await?;
    Ok(())
}

/// Records a heartbeat, or (with `connected = false`) the end of the stream.
pub async fn node_seen(
    store: &Store,
    environment: &str,
    node_id: &str,
    connected: bool,
) -> Result<()> {
    sqlx::query("UPDATE gateway_nodes SET connected = $1, last_seen = $2 WHERE environment = $3 AND node_id = $4")
        .bind(i64::from(connected))
        .bind(now_ms())
        .bind(environment)
        .bind(node_id)
        .execute(store.pool())
        .await?;
    Ok(())
}

/// The nodes of `environment`, by id.
pub async fn nodes_of(store: &Store, environment: &str) -> Result<Vec<GatewayNode>> {
    Ok(sqlx::query_as::<_, GatewayNode>(
        "SELECT environment, node_id, build, connected, held_version, applied_version, last_ack_at, \
         last_nack_version, last_nack_reason, last_nack_at, first_seen, last_seen \
         FROM gateway_nodes WHERE environment = $1 ORDER BY node_id",
    )
    .bind(environment)
    .fetch_all(store.pool())
    .await?)
}

/// Whether every gateway of `environment` connected now acknowledged `version` or a later
/// one (true when none is connected).
pub async fn all_applied(store: &Store, environment: &str, version: i64) -> Result<bool> {
    let behind: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM gateway_nodes WHERE environment = $1 AND connected = 1 AND applied_version < $2",
    )
    .bind(environment)
    .bind(version)
    .fetch_one(store.pool())
    .await?;
    Ok(behind == 0)
}
