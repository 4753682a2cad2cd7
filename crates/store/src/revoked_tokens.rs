//! Access tokens revoked before their expiry, by `jti` (RFC 7009). Gateways receive the ids
//! that have not expired yet in their snapshot; expired rows are purged.

use crate::{Result, Store, now_ms};

/// Records `jti` of `client_id` as revoked until `expires_at` (epoch ms). Idempotent.
pub async fn revoke(store: &Store, jti: &str, client_id: &str, expires_at: i64) -> Result<()> {
    sqlx::query(
        "INSERT INTO revoked_tokens (jti, client_id, expires_at, revoked_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (jti) DO NOTHING",
    )
    .bind(jti)
    .bind(client_id)
    .bind(expires_at)
    .bind(now_ms())
    .execute(store.pool())
    .await?;
    Ok(())
}

/// Whether `jti` is revoked.
pub async fn is_revoked(store: &Store, jti: &str) -> Result<bool> {
    let found: Option<String> = sqlx::query_scalar("SELECT jti FROM revoked_tokens WHERE jti = $1")
        .bind(jti)
        .fetch_optional(store.pool())
        .await?;
    Ok(found.is_some())
}

/// The ids of revoked tokens that have not expired at `now` (epoch ms), sorted.
pub async fn live_ids(store: &Store, now: i64) -> Result<Vec<String>> {
    Ok(
        sqlx::query_scalar("SELECT jti FROM revoked_tokens WHERE expires_at > $1 ORDER BY jti")
            .bind(now)
            .fetch_all(store.pool())
            .await?,
    )
}

/// Deletes the rows of tokens that have expired at `now`; returns how many.
pub async fn purge_expired(store: &Store, now: i64) -> Result<u64> {
    let done = sqlx::query("DELETE FROM revoked_tokens WHERE expires_at <= $1")
        .bind(now)
        .execute(store.pool())
        .await?;
    Ok(done.rows_affected())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::sqlite;

    #[tokio::test]
    async fn revoked_ids_are_live_until_they_expire() {
        let (store, _dir) = sqlite().await;
        revoke(&store, "j1", "c", 1_000).await.unwrap();
        revoke(&store, "j1", "c", 1_000).await.unwrap();
        revoke(&store, "j2", "c", 2_000).await.unwrap();
        assert!(is_revoked(&store, "j1").await.unwrap());
        assert!(!is_revoked(&store, "j3").await.unwrap());
        assert_eq!(live_ids(&store, 999).await.unwrap(), ["j1", "j2"]);
        assert_eq!(live_ids(&store, 1_000).await.unwrap(), ["j2"]);
        assert_eq!(purge_expired(&store, 1_500).await.unwrap(), 1);
        assert!(!is_revoked(&store, "j1").await.unwrap());
    }
}
