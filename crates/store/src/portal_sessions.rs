//! Portal browser sessions, in the database so every control-plane replica sees the same ones
//! (a browser behind an Ingress without affinity stays signed in). Rows are keyed by a hash of
//! the cookie's id, never the id itself.

use crate::{Result, Store};

/// One stored session.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SessionRow {
    /// The signed-in user, or none before sign-in.
    pub username: Option<String>,
    /// The token every form of the session posts back.
    pub csrf: String,
    /// The last test token made in the developer portal.
    pub test_token: Option<String>,
    /// A message for the next page.
    pub notice: Option<String>,
    /// Epoch ms.
    pub created_at: i64,
    /// Epoch ms of the last recorded use.
    pub used_at: i64,
}

/// Stores a new session under `id_hash`.
pub async fn create(store: &Store, id_hash: &str, row: &SessionRow) -> Result<()> {
    sqlx::query(
        "INSERT INTO portal_sessions (id_hash, username, csrf, test_token, notice, created_at, used_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(id_hash)
    .bind(row.username.as_deref())
    .bind(&row.csrf)
    .bind(row.test_token.as_deref())
    .bind(row.notice.as_deref())
    .bind(row.created_at)
    .bind(row.used_at)
    .execute(store.pool())
    .await?;
    Ok(())
}

/// The session stored under `id_hash`, if any.
pub async fn find(store: &Store, id_hash: &str) -> Result<Option<SessionRow>> {
    Ok(sqlx::query_as::<_, SessionRow>(
        "SELECT username, csrf, test_token, notice, created_at, used_at FROM portal_sessions \
         WHERE id_hash = $1",
    )
    .bind(id_hash)
    .fetch_optional(store.pool())
    .await?)
}

/// Records a use of the session at `now`.
pub async fn touch(store: &Store, id_hash: &str, now: i64) -> Result<()> {
    sqlx::query("UPDATE portal_sessions SET used_at = $1 WHERE id_hash = $2")
        .bind(now)
        .bind(id_hash)
        .execute(store.pool())
        .await?;
    Ok(())
}

/// Deletes the session (sign-out, expiry, a deleted user).
pub async fn delete(store: &Store, id_hash: &str) -> Result<()> {
    sqlx::query("DELETE FROM portal_sessions WHERE id_hash = $1")
        .bind(id_hash)
        .execute(store.pool())
        .await?;
    Ok(())
}

/// Sets (or clears) the session's notice.
pub async fn set_notice(store: &Store, id_hash: &str, notice: Option<&str>) -> Result<()> {
    sqlx::query("UPDATE portal_sessions SET notice = $1 WHERE id_hash = $2")
        .bind(notice)
        .bind(id_hash)
        .execute(store.pool())
        .await?;
    Ok(())
}

/// Sets the session's test token.
pub async fn set_test_token(store: &Store, id_hash: &str, token: &str) -> Result<()> {
    sqlx::query("UPDATE portal_sessions SET test_token = $1 WHERE id_hash = $2")
        .bind(token)
        .bind(id_hash)
        .execute(store.pool())
        .await?;
    Ok(())
}

/// Deletes sessions unused since `idle_before` or created before `created_before` (epoch ms);
/// how many.
pub async fn purge(store: &Store, idle_before: i64, created_before: i64) -> Result<u64> {
    Ok(
        sqlx::query("DELETE FROM portal_sessions WHERE used_at < $1 OR created_at < $2")
            .bind(idle_before)
            .bind(created_before)
            .execute(store.pool())
            .await?
            .rows_affected(),
    )
}

/// Deletes the least recently used anonymous sessions (sign-in and sign-up forms) beyond
/// `keep`, so visitors who never sign in cannot grow the table without bound; how many.
pub async fn trim_anonymous(store: &Store, keep: i64) -> Result<u64> {
    let (count,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM portal_sessions WHERE username IS NULL")
            .fetch_one(store.pool())
            .await?;
    if count <= keep {
        return Ok(0);
    }
    Ok(sqlx::query(
        "DELETE FROM portal_sessions WHERE id_hash IN (SELECT id_hash FROM portal_sessions \
         WHERE username IS NULL ORDER BY used_at LIMIT $1)",
    )
    .bind(count - keep)
    .execute(store.pool())
    .await?
    .rows_affected())
}
