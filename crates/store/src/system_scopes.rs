//! The REST API scopes' role map as stored (see migration 0024): the scopes whose roles an
//! administrator changed, and the role aliases. The built-in defaults live in `gantry_keys`.

use crate::{Result, Store};

/// A name and the role names that go with it (a scope's roles, or a role's aliases).
pub type RoleList = (String, Vec<String>);

fn parse(rows: Vec<(String, String)>) -> Vec<RoleList> {
    rows.into_iter()
        .map(|(name, roles)| (name, serde_json::from_str(&roles).unwrap_or_default()))
        .collect()
}

fn encode(roles: &[String]) -> String {
    serde_json::to_string(roles).unwrap_or_else(|_| "[]".to_owned())
}

/// The scopes whose roles were changed, by name.
pub async fn scope_roles(store: &Store) -> Result<Vec<RoleList>> {
    let rows: Vec<(String, String)> =
        sqlx::query_as("SELECT name, roles FROM system_scope_roles ORDER BY name")
            .fetch_all(store.pool())
            .await?;
    Ok(parse(rows))
}

/// Sets the roles of each named scope, in one transaction.
pub async fn set_scope_roles(store: &Store, scopes: &[RoleList]) -> Result<()> {
    let mut tx = store.begin_write().await?;
    for (name, roles) in scopes {
        sqlx::query(
            "INSERT INTO system_scope_roles (name, roles) VALUES ($1, $2) \
             ON CONFLICT (name) DO UPDATE SET roles = excluded.roles",
        )
        .bind(name)
        .bind(encode(roles))
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Every role alias, by role.
pub async fn role_aliases(store: &Store) -> Result<Vec<RoleList>> {
    let rows: Vec<(String, String)> =
        sqlx::query_as("SELECT role, aliases FROM role_aliases ORDER BY role")
            .fetch_all(store.pool())
            .await?;
    Ok(parse(rows))
}

/// Replaces every role alias with `aliases`, in one transaction.
pub async fn replace_role_aliases(store: &Store, aliases: &[RoleList]) -> Result<()> {
    let mut tx = store.begin_write().await?;
    sqlx::query("DELETE FROM role_aliases")
        .execute(&mut *tx)
        .await?;
    for (role, names) in aliases {
        sqlx::query("INSERT INTO role_aliases (role, aliases) VALUES ($1, $2)")
            .bind(role)
            .bind(encode(names))
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(())
}
