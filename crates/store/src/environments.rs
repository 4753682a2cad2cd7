//! Gateway environments (`Default`, `dp-prod-a`, …) and their configuration version.
//!
//! `config_version` only ever grows: every change that a gateway of the environment must
//! learn bumps it, and the snapshot built afterwards carries the new number.
//! `config_digest` is the digest of the configuration gateways receive at that version:
//! a replica that builds something else from the store knows a change is not published.

use crate::{Result, Store, StoreError, found, from_json, new_id, now_ms, to_json};

/// A stored environment.
#[derive(Debug, Clone)]
pub struct Environment {
    /// UUID.
    pub id: String,
    /// Unique name, used in deployments.
    pub name: String,
    /// Human name.
    pub display_name: String,
    /// Free text.
    pub description: String,
    /// Host names the environment's gateways answer on.
    pub vhosts: Vec<String>,
    /// Version of the configuration last built for it.
    pub config_version: i64,
    /// Digest of the configuration published at `config_version` (empty before the first).
    pub config_digest: String,
    /// Epoch ms.
    pub created_at: i64,
}

#[derive(sqlx::FromRow)]
struct Row {
    id: String,
    name: String,
    display_name: String,
    description: String,
    vhosts: String,
    config_version: i64,
    config_digest: String,
    created_at: i64,
}

impl TryFrom<Row> for Environment {
    type Error = StoreError;
    fn try_from(r: Row) -> Result<Self> {
        Ok(Environment {
            vhosts: from_json("environments.vhosts", &r.vhosts)?,
            id: r.id,
            name: r.name,
            display_name: r.display_name,
            description: r.description,
            config_version: r.config_version,
            config_digest: r.config_digest,
            created_at: r.created_at,
        })
    }
}

macro_rules! columns {
    () => {
        "id, name, display_name, description, vhosts, config_version, config_digest, created_at"
    };
}

/// Creates an environment; `Conflict` when the name is taken.
pub async fn create(
    store: &Store,
    name: &str,
    display_name: &str,
    description: &str,
    vhosts: &[String],
) -> Result<Environment> {
    let env = Environment {
        id: new_id(),
        name: name.to_owned(),
        display_name: display_name.to_owned(),
        description: description.to_owned(),
        vhosts: vhosts.to_vec(),
        config_version: 0,
        config_digest: String::new(),
        created_at: now_ms(),
    };
    sqlx::query(concat!(
        "INSERT INTO environments (",
        columns!(),
        ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
    ))
    .bind(&env.id)
    .bind(&env.name)
    .bind(&env.display_name)
    .bind(&env.description)
    .bind(to_json(&env.vhosts))
    .bind(env.config_version)
    .bind(&env.config_digest)
    .bind(env.created_at)
    .execute(store.pool())
    .await
    .map_err(StoreError::on_unique(
        "an environment with this name already exists",
    ))?;
    Ok(env)
}

/// Every environment, by name.
pub async fn list(store: &Store) -> Result<Vec<Environment>> {
    sqlx::query_as::<_, Row>(concat!(
        "SELECT ",
        columns!(),
        " FROM environments ORDER BY name"
    ))
    .fetch_all(store.pool())
    .await?
    .into_iter()
    .map(Environment::try_from)
    .collect()
}

/// The environment called `name`, if any.
pub async fn find_by_name(store: &Store, name: &str) -> Result<Option<Environment>> {
    sqlx::query_as::<_, Row>(concat!(
        "SELECT ",
        columns!(),
        " FROM environments WHERE name = $1"
    ))
    .bind(name)
    .fetch_optional(store.pool())
    .await?
    .map(Environment::try_from)
    .transpose()
}

/// Raises the configuration version of `name` from `from` to `from + 1`, recording
/// `digest` as the configuration gateways receive at it, marking the pending deployments
/// that configuration `serves` (API id, revision id) as first carried by it, and telling the
/// other replicas (NOTIFY): one transaction, so none of it happens without the rest.
/// `None` when the version is no longer `from` (another replica raised it meanwhile).
pub async fn advance(
    store: &Store,
    name: &str,
    from: i64,
    digest: &str,
    serves: &std::collections::HashSet<(&str, &str)>,
) -> Result<Option<i64>> {
    let mut tx = store.begin_write().await?;
    let version = sqlx::query_scalar::<_, i64>(
        "UPDATE environments SET config_version = config_version + 1, config_digest = $1 \
         WHERE name = $2 AND config_version = $3 RETURNING config_version",
    )
    .bind(digest)
    .bind(name)
    .bind(from)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(version) = version else {
        return Ok(None);
    };
    crate::apis::stamp_pending(&mut tx, name, version, serves).await?;
    store.notify_change_in(&mut tx, name).await?;
    tx.commit().await?;
    Ok(Some(version))
}

/// The environment with `id`, if any.
pub async fn find_by_id(store: &Store, id: &str) -> Result<Option<Environment>> {
    sqlx::query_as::<_, Row>(concat!(
        "SELECT ",
        columns!(),
        " FROM environments WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(store.pool())
    .await?
    .map(Environment::try_from)
    .transpose()
}

/// Changes display name, description and vhosts of environment `id`.
pub async fn update(
    store: &Store,
    id: &str,
    display_name: &str,
    description: &str,
    vhosts: &[String],
) -> Result<()> {
    let done = sqlx::query(
        "UPDATE environments SET display_name = $1, description = $2, vhosts = $3 WHERE id = $4",
    )
    .bind(display_name)
    .bind(description)
    .bind(to_json(&vhosts))
    .bind(id)
    .execute(store.pool())
    .await?;
    found(&done)
}

/// Deletes environment `id`; `Conflict` while revisions are deployed to it.
pub async fn delete(store: &Store, id: &str) -> Result<()> {
    let env = find_by_id(store, id).await?.ok_or(StoreError::NotFound)?;
    let deployed: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM api_deployments WHERE environment = $1")
            .bind(&env.name)
            .fetch_one(store.pool())
            .await?;
    if deployed > 0 {
        return Err(StoreError::Conflict(format!(
            "{deployed} API revision(s) are deployed to '{}'; undeploy them first",
            env.name
        )));
    }
    sqlx::query("DELETE FROM gateway_nodes WHERE environment = $1")
        .bind(&env.name)
        .execute(store.pool())
        .await?;
    sqlx::query("DELETE FROM environments WHERE id = $1")
        .bind(id)
        .execute(store.pool())
        .await?;
    Ok(())
}
