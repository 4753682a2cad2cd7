//! Opaque refresh tokens, stored as digests, in families: each use spends the presented
//! token and issues the next one of its family; presenting a spent token again means it
//! leaked, so the whole family is revoked with the access tokens it produced (RFC 9700
//! §4.14.2).

use crate::{Result, Store, StoreError, now_ms};

/// A stored refresh token.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RefreshToken {
    /// Digest of the token.
    pub token_hash: String,
    /// The grant it descends from (all rotations of one login share it).
    pub family_id: String,
    /// OAuth2 client id.
    pub client_id: String,
    /// The end user (empty for none).
    pub username: String,
    /// Granted scopes, space-separated.
    pub scope: String,
    /// When the user authenticated (epoch s).
    pub auth_time: i64,
    /// The access token issued beside it.
    pub access_jti: String,
    /// Its expiry (epoch ms).
    pub access_expires_at: i64,
    /// Expiry (epoch ms).
    pub expires_at: i64,
    /// 1 once used.
    pub spent: i64,
    /// 1 once revoked.
    pub revoked: i64,
    /// Epoch ms.
    pub created_at: i64,
}

macro_rules! columns {
    () => {
        "token_hash, family_id, client_id, username, scope, auth_time, access_jti, \
         access_expires_at, expires_at, spent, revoked, created_at"
    };
}

/// Stores a new (unspent) refresh token; `token_hash`, `family_id` … as given.
pub async fn insert(store: &Store, token: &RefreshToken) -> Result<()> {
    sqlx::query(concat!(
        "INSERT INTO refresh_tokens (",
        columns!(),
        ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 0, 0, $10)"
    ))
    .bind(&token.token_hash)
    .bind(&token.family_id)
    .bind(&token.client_id)
    .bind(&token.username)
    .bind(&token.scope)
    .bind(token.auth_time)
    .bind(&token.access_jti)
    .bind(token.access_expires_at)
    .bind(token.expires_at)
    .bind(now_ms())
    .execute(store.pool())
    .await
    .map_err(StoreError::on_unique("refresh token exists"))?;
    Ok(())
}

/// The token with this digest.
pub async fn find(store: &Store, token_hash: &str) -> Result<Option<RefreshToken>> {
    Ok(sqlx::query_as::<_, RefreshToken>(concat!(
        "SELECT ",
        columns!(),
        " FROM refresh_tokens WHERE token_hash = $1"
    ))
    .bind(token_hash)
    .fetch_optional(store.pool())
    .await?)
}

/// Marks the token spent; false when it was spent or revoked already (a replay).
pub async fn spend(store: &Store, token_hash: &str) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE refresh_tokens SET spent = 1 WHERE token_hash = $1 AND spent = 0 AND revoked = 0",
    )
    .bind(token_hash)
    .execute(store.pool())
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Revokes every refresh token of `family_id` and records the unexpired access tokens they
/// were issued with as revoked. Returns how many access tokens were revoked.
pub async fn revoke_family(store: &Store, family_id: &str) -> Result<u64> {
    let now = now_ms();
    let mut tx = store.begin_write().await?;
    sqlx::query("UPDATE refresh_tokens SET revoked = 1 WHERE family_id = $1")
        .bind(family_id)
        .execute(&mut *tx)
        .await?;
    let done = sqlx::query(
        "INSERT INTO revoked_tokens (jti, client_id, expires_at, revoked_at) \
         SELECT access_jti, client_id, access_expires_at, $1 FROM refresh_tokens \
         WHERE family_id = $2 AND access_expires_at > $1 AND access_jti <> '' \
         ON CONFLICT (jti) DO NOTHING",
    )
    .bind(now)
    .bind(family_id)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(done.rows_affected())
}

/// Deletes every refresh token of `client_id` (its keys were deleted).
pub async fn delete_for_client(store: &Store, client_id: &str) -> Result<()> {
    sqlx::query("DELETE FROM refresh_tokens WHERE client_id = $1")
        .bind(client_id)
        .execute(store.pool())
        .await?;
    Ok(())
}

/// Deletes tokens that expired before `now` (epoch ms).
pub async fn purge_expired(store: &Store, now: i64) -> Result<u64> {
    let done = sqlx::query("DELETE FROM refresh_tokens WHERE expires_at <= $1")
        .bind(now)
        .execute(store.pool())
        .await?;
    Ok(done.rows_affected())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::revoked_tokens;
    use crate::test_support::sqlite;

    fn token(hash: &str, jti: &str) -> RefreshToken {
        RefreshToken {
            token_hash: hash.into(),
            family_id: "fam".into(),
            client_id: "ck".into(),
            username: "alice".into(),
            scope: "openid".into(),
            auth_time: 1,
            access_jti: jti.into(),
            access_expires_at: now_ms() + 60_000,
            expires_at: now_ms() + 600_000,
            spent: 0,
            revoked: 0,
            created_at: 0,
        }
    }

    #[tokio::test]
    async fn a_token_is_spent_once_and_a_replay_revokes_its_family() {
        let (store, _dir) = sqlite().await;
        insert(&store, &token("h1", "j1")).await.unwrap();
        assert!(spend(&store, "h1").await.unwrap());
        insert(&store, &token("h2", "j2")).await.unwrap();
        assert!(
            !spend(&store, "h1").await.unwrap(),
            "second use is a replay"
        );
        assert_eq!(revoke_family(&store, "fam").await.unwrap(), 2);
        assert!(!spend(&store, "h2").await.unwrap(), "family revoked");
        assert!(revoked_tokens::is_revoked(&store, "j1").await.unwrap());
        assert!(revoked_tokens::is_revoked(&store, "j2").await.unwrap());
        assert_eq!(find(&store, "h2").await.unwrap().unwrap().revoked, 1);
    }
}
