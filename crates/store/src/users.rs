//! Users of the control plane (publishers, subscribers, admins) and their password hashes.

use crate::{Result, Store, StoreError, found, new_id, now_ms};

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
    /// SCIM attributes besides name, password and roles (`name`, `emails`, `displayName`),
    /// as JSON text.
    pub profile: String,
    /// Epoch ms of the last change (0 for users written before it was recorded).
    pub updated_at: i64,
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
    create_with_profile(store, username, password_hash, roles, "{}").await
}

/// Creates a user with SCIM `profile` attributes (JSON text); `Conflict` when the name is
/// taken in any case (`ADMIN` while `admin` exists: a unique index on `lower(username)`).
pub async fn create_with_profile(
    store: &Store,
    username: &str,
    password_hash: &str,
    roles: &[&str],
    profile: &str,
) -> Result<User> {
    let user = User {
        id: new_id(),
        username: username.to_owned(),
        password_hash: password_hash.to_owned(),
        roles: roles.join(" "),
        created_at: now_ms(),
        profile: profile.to_owned(),
        updated_at: now_ms(),
    };
    sqlx::query("INSERT INTO users (id, username, password_hash, roles, created_at, profile, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7)")
        .bind(&user.id)
        .bind(&user.username)
        .bind(&user.password_hash)
        .bind(&user.roles)
        .bind(user.created_at)
        .bind(&user.profile)
        .bind(user.updated_at)
        .execute(store.pool())
        .await
        .map_err(StoreError::on_unique("a user with this name already exists"))?;
    Ok(user)
}

/// `SELECT <every user column> FROM users <rest>`, as one static string.
macro_rules! select_users {
    ($rest:literal) => {
        concat!(
            "SELECT id, username, password_hash, roles, created_at, profile, updated_at FROM users ",
            $rest
        )
    };
}

/// The user called `username`, if any (names match case-insensitively, as in WSO2; the
/// stored spelling is the user's name).
pub async fn find_by_username(store: &Store, username: &str) -> Result<Option<User>> {
    Ok(
        sqlx::query_as::<_, User>(select_users!("WHERE lower(username) = lower($1)"))
            .bind(username)
            .fetch_optional(store.pool())
            .await?,
    )
}

/// Replaces a user's password hash.
pub async fn set_password_hash(store: &Store, username: &str, password_hash: &str) -> Result<()> {
    let done = sqlx::query("UPDATE users SET password_hash = $1 WHERE lower(username) = lower($2)")
        .bind(password_hash)
        .bind(username)
        .execute(store.pool())
        .await?;
    found(&done)
}

/// The user with `id`.
pub async fn get(store: &Store, id: &str) -> Result<User> {
    sqlx::query_as::<_, User>(select_users!("WHERE id = $1"))
        .bind(id)
        .fetch_optional(store.pool())
        .await?
        .ok_or(StoreError::NotFound)
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
    let total: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM users WHERE ($1 = '' OR lower(username) = lower($1))",
    )
    .bind(bind)
    .fetch_one(store.pool())
    .await?;
    let users = sqlx::query_as::<_, User>(select_users!(
        "WHERE ($1 = '' OR lower(username) = lower($1)) ORDER BY username LIMIT $2 OFFSET $3"
    ))
    .bind(bind)
    .bind(limit)
    .bind(offset)
    .fetch_all(store.pool())
    .await?;
    Ok((users, total))
}

/// Every user holding `role`.
pub async fn with_role(store: &Store, role: &str) -> Result<Vec<User>> {
    let all = sqlx::query_as::<_, User>(select_users!("ORDER BY username"))
        .fetch_all(store.pool())
        .await?;
    Ok(all
        .into_iter()
        .filter(|u| u.role_list().any(|r| r == role))
        .collect())
}

/// Replaces a user's roles, profile and (when given) password hash; `NotFound` for an
/// unknown id.
pub async fn update(
    store: &Store,
    id: &str,
    roles: &[&str],
    profile: &str,
    password_hash: Option<&str>,
) -> Result<User> {
    let done = sqlx::query(
        "UPDATE users SET roles = $1, profile = $2, password_hash = COALESCE($3, password_hash), updated_at = $4 WHERE id = $5",
    )
    .bind(roles.join(" "))
    .bind(profile)
    .bind(password_hash)
    .bind(now_ms())
    .bind(id)
    .execute(store.pool())
    .await?;
    found(&done)?;
    get(store, id).await
}

/// Deletes a user; `NotFound` for an unknown id.
pub async fn delete(store: &Store, id: &str) -> Result<()> {
    let done = sqlx::query("DELETE FROM users WHERE id = $1")
        .bind(id)
        .execute(store.pool())
        .await?;
    found(&done)
}

/// Replaces a user's roles; `NotFound` when there is no such user.
pub async fn set_roles(store: &Store, username: &str, roles: &[&str]) -> Result<()> {
    let done = sqlx::query(
        "UPDATE users SET roles = $1, updated_at = $2 WHERE lower(username) = lower($3)",
    )
    .bind(roles.join(" "))
    .bind(now_ms())
    .bind(username)
    .execute(store.pool())
    .await?;
    found(&done)
}
