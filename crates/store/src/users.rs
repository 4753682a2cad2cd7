//! Users of the control plane (publishers, subscribers, admins) and their password hashes.

use crate::{Result, Store, StoreError, new_id, now_ms};

/// A stored user.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct User {
    /// UUID.
    pub id: String,
    /// Login name.
    pub username: String,
    /// Argon2 PHC string.
    pub password_hash: String,
    /// Space-separated role names.
    pub roles: String,
    /// Epoch ms.
    pub created_at: i64,
}

impl User {
    /// The user's roles.
    pub fn role_list(&self) -> impl Iterator<Item = &str> {
        self.roles.split_whitespace()
    }
}

/// Creates a user; `Conflict` when the name is taken.
pub async fn create(
    store: &Store,
    username: &str,
    password_hash: &str,
    roles: &[&str],
) -> Result<User> {
    let user = User {
        id: new_id(),
        username: username.to_owned(),
        password_hash: password_hash.to_owned(),
        roles: roles.join(" "),
        created_at: now_ms(),
    };
    sqlx::query("INSERT INTO users (id, username, password_hash, roles, created_at) VALUES ($1, $2, $3, $4, $5)")
        .bind(&user.id)
        .bind(&user.username)
        .bind(&user.password_hash)
        .bind(&user.roles)
        .bind(user.created_at)
        .execute(store.pool())
        .await
        .map_err(StoreError::on_unique("a user with this name already exists"))?;
    Ok(user)
}

/// The user called `username`, if any.
pub async fn find_by_username(store: &Store, username: &str) -> Result<Option<User>> {
    Ok(sqlx::query_as::<_, User>(
        "SELECT id, username, password_hash, roles, created_at FROM users WHERE username = $1",
    )
    .bind(username)
    .fetch_optional(store.pool())
    .await?)
}

/// Replaces a user's password hash.
pub async fn set_password_hash(store: &Store, username: &str, password_hash: &str) -> Result<()> {
    let done = sqlx::query("UPDATE users SET password_hash = $1 WHERE username = $2")
        .bind(password_hash)
        .bind(username)
        .execute(store.pool())
        .await?;
    if done.rows_affected() == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

/// A page of users ordered by name, optionally only `username`, and the total count.
pub async fn list(
    store: &Store,
    username: Option<&str>,
    offset: i64,
    limit: i64,
) -> Result<(Vec<User>, i64)> {
    // An empty name means every user (user names are never empty).
    let bind = username.unwrap_or_default();
    let total: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE ($1 = '' OR username = $1)")
            .bind(bind)
            .fetch_one(store.pool())
            .await?;
    let users = sqlx::query_as::<_, User>(
        "SELECT id, username, password_hash, roles, created_at FROM users \
         WHERE ($1 = '' OR username = $1) ORDER BY username LIMIT $2 OFFSET $3",
    )
    .bind(bind)
    .bind(limit)
    .bind(offset)
    .fetch_all(store.pool())
    .await?;
    Ok((users, total))
}

/// Replaces a user's roles; `NotFound` when there is no such user.
pub async fn set_roles(store: &Store, username: &str, roles: &[&str]) -> Result<()> {
    let done = sqlx::query("UPDATE users SET roles = $1 WHERE username = $2")
        .bind(roles.join(" "))
        .bind(username)
        .execute(store.pool())
        .await?;
    if done.rows_affected() == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}
