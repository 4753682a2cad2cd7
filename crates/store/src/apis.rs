//! APIs, their lifecycle history, revisions and deployments.
//!
//! An API row keeps the searchable columns (name, version, context, state) beside the whole
//! definition as JSON. A revision is an immutable copy of that definition; a deployment
//! points one revision of an API at one environment.

use gantry_model::{Api, LifecycleState};

use crate::{Result, Store, StoreError, found, from_json, new_id, now_ms, to_json};

/// WSO2 keeps at most this many revisions per API.
pub const MAX_REVISIONS: i64 = 5;

#[derive(sqlx::FromRow)]
struct DefinitionRow {
    definition: String,
}

/// Stores a new API; `Conflict` when name+version or context+version is taken.
pub async fn create(store: &Store, api: &Api, username: &str) -> Result<()> {
    let now = now_ms();
    let mut tx = store.begin_write().await?;
    // Versions of one API share its context; another API may not take it (as in WSO2), or
    // the default versions of both would claim the same unversioned paths.
    let owner: Option<String> =
        sqlx::query_scalar("SELECT name FROM apis WHERE context = $1 AND name <> $2 LIMIT 1")
            .bind(api.context.as_str())
            .bind(api.name.as_str())
            .fetch_optional(&mut *tx)
            .await?;
    if let Some(owner) = owner {
        return Err(StoreError::Conflict(format!(
            "context '{}' is already used by API '{owner}'",
            api.context
        )));
    }
    sqlx::query(
        "INSERT INTO apis (id, name, version, context, provider, lifecycle_status, definition, created_at, updated_at, \
         is_default_version) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(&api.id)
    .bind(api.name.as_str())
    .bind(api.version.as_str())
    .bind(api.context.as_str())
    .bind(&api.provider)
    .bind(api.life_cycle_status.as_str())
    .bind(to_json(api))
    .bind(now)
    .bind(now)
    .bind(i64::from(api.is_default_version))
    .execute(&mut *tx)
    .await
    .map_err(|e| match StoreError::on_unique("")(e) {
        StoreError::Conflict(_) => StoreError::Conflict(format!(
            "an API with name '{}' or context '{}' already exists for version '{}'",
            api.name, api.context, api.version
        )),
        other => other,
    })?;
    insert_history(&mut tx, &api.id, None, api.life_cycle_status, username).await?;
    if api.is_default_version {
        clear_other_defaults(&mut tx, api).await?;
    }
    tx.commit().await?;
    Ok(())
}

#[derive(sqlx::FromRow)]
struct IdDefinitionRow {
    id: String,
    definition: String,
}

/// WSO2 keeps one default version per API name: marking `api` as the default takes the flag
/// off every other version of the same name (working copy and column; the gateways follow
/// with the next snapshot, which reads the column).
async fn clear_other_defaults(tx: &mut sqlx::Transaction<'_, sqlx::Any>, api: &Api) -> Result<()> {
    let others = sqlx::query_as::<_, IdDefinitionRow>(
        "SELECT id, definition FROM apis WHERE name = $1 AND id <> $2 AND kind = 'API'",
    )
    .bind(api.name.as_str())
    .bind(&api.id)
    .fetch_all(&mut **tx)
    .await?;
    for row in others {
        let mut other: Api = from_json("apis.definition", &row.definition)?;
        if !other.is_default_version {
            continue;
        }
        other.is_default_version = false;
        sqlx::query(
            "UPDATE apis SET definition = $1, updated_at = $2, is_default_version = 0 WHERE id = $3",
        )
            .bind(to_json(&other))
            .bind(now_ms())
            .bind(&row.id)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

pub(crate) async fn insert_history(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    api_id: &str,
    previous: Option<LifecycleState>,
    post: LifecycleState,
    username: &str,
) -> Result<()> {
    // History is read in `created_at` order: keep it strictly increasing per API, so two
    // changes within one millisecond still list in the order they happened.
    let last: Option<i64> =
        sqlx::query_scalar("SELECT MAX(created_at) FROM api_lifecycle_history WHERE api_id = $1")
            .bind(api_id)
            .fetch_one(&mut **tx)
            .await?;
    let at = last.map_or(now_ms(), |last| now_ms().max(last + 1));
    sqlx::query(
        "INSERT INTO api_lifecycle_history (id, api_id, previous_state, post_state, username, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(new_id())
    .bind(api_id)
    .bind(previous.map(|s| s.as_str()))
    .bind(post.as_str())
    .bind(username)
    .bind(at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The API with `id`, or with the WSO2 handle `id` (`provider-name-version`, as request
/// bodies may name it); `NotFound` otherwise.
pub async fn get(store: &Store, id: &str) -> Result<Api> {
    let mut row = sqlx::query_as::<_, DefinitionRow>(
        "SELECT definition FROM apis WHERE id = $1 AND kind = 'API'",
    )
    .bind(id)
    .fetch_optional(store.pool())
    .await?;
    if row.is_none() && id.matches('-').count() >= 2 {
        row = sqlx::query_as::<_, DefinitionRow>(
            "SELECT definition FROM apis WHERE provider || '-' || name || '-' || version = $1 AND kind = 'API'",
        )
        .bind(id)
        .fetch_optional(store.pool())
        .await?;
    }
    from_json(
        "apis.definition",
        &row.ok_or(StoreError::NotFound)?.definition,
    )
}

/// The id of the API whose WSO2 handle (`provider-name-version`) is `handle`, if any.
pub async fn id_of_handle(store: &Store, handle: &str) -> Result<Option<String>> {
    Ok(sqlx::query_scalar(
        "SELECT id FROM apis WHERE provider || '-' || name || '-' || version = $1 AND kind = 'API' LIMIT 1",
    )
    .bind(handle)
    .fetch_optional(store.pool())
    .await?)
}

/// A page of APIs ordered by name and version, and the total count.
pub async fn list(store: &Store, offset: i64, limit: i64) -> Result<(Vec<Api>, i64)> {
    let total: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM apis WHERE kind = 'API'")
        .fetch_one(store.pool())
        .await?;
    let rows = sqlx::query_as::<_, DefinitionRow>(
        "SELECT definition FROM apis WHERE kind = 'API' ORDER BY name, version LIMIT $1 OFFSET $2",
    )
    .bind(limit)
    .bind(offset)
    .fetch_all(store.pool())
    .await?;
    let apis = rows
        .iter()
        .map(|r| from_json("apis.definition", &r.definition))
        .collect::<Result<_>>()?;
    Ok((apis, total))
}

async fn exists(tx: &mut sqlx::Transaction<'_, sqlx::Any>, id: &str) -> Result<bool> {
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM apis WHERE id = $1")
        .bind(id)
        .fetch_one(&mut **tx)
        .await?;
    Ok(n > 0)
}

/// Every API ordered by name and version (for searches the SQL cannot express).
pub async fn all(store: &Store) -> Result<Vec<Api>> {
    let rows = sqlx::query_as::<_, DefinitionRow>(
        "SELECT definition FROM apis WHERE kind = 'API' ORDER BY name, version",
    )
    .fetch_all(store.pool())
    .await?;
    rows.iter()
        .map(|r| from_json("apis.definition", &r.definition))
        .collect()
}

/// Replaces the stored definition (name, version and context never change).
pub async fn update(store: &Store, api: &Api) -> Result<()> {
    update_from(store, api, None).await
}

/// Replaces the stored definition only if it is still `previous` (optimistic concurrency:
/// `Conflict` when another writer changed it since it was read).
pub async fn update_if_unchanged(store: &Store, api: &Api, previous: &Api) -> Result<()> {
    update_from(store, api, Some(previous)).await
}

async fn update_from(store: &Store, api: &Api, previous: Option<&Api>) -> Result<()> {
    let mut tx = store.begin_write().await?;
    let done = sqlx::query(
        "UPDATE apis SET definition = $1, lifecycle_status = $2, updated_at = $3, is_default_version = $6 \
         WHERE id = $4 AND ($5 = '' OR definition = $5)",
    )
    .bind(to_json(api))
    .bind(api.life_cycle_status.as_str())
    .bind(now_ms())
    .bind(&api.id)
    .bind(previous.map(to_json).unwrap_or_default())
    .bind(i64::from(api.is_default_version))
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() == 0 {
        return Err(if previous.is_some() && exists(&mut tx, &api.id).await? {
            StoreError::Conflict("the API was changed by another request meanwhile".into())
        } else {
            StoreError::NotFound
        });
    }
    if api.is_default_version {
        clear_other_defaults(&mut tx, api).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Moves the API to `to` (from the state `api` holds), recording the change; `Conflict` if
/// the stored state moved meanwhile. The caller updates `last_updated_time`.
pub async fn change_lifecycle(
    store: &Store,
    api: &mut Api,
    to: LifecycleState,
    username: &str,
) -> Result<()> {
    let from = api.life_cycle_status;
    api.life_cycle_status = to;
    let mut tx = store.begin_write().await?;
    let done = sqlx::query(
        "UPDATE apis SET lifecycle_status = $1, definition = $2, updated_at = $3 \
         WHERE id = $4 AND lifecycle_status = $5",
    )
    .bind(to.as_str())
    .bind(to_json(&*api))
    .bind(now_ms())
    .bind(&api.id)
    .bind(from.as_str())
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() == 0 {
        return Err(StoreError::Conflict(
            "the API's lifecycle state changed meanwhile; retry".into(),
        ));
    }
    insert_history(&mut tx, &api.id, Some(from), to, username).await?;
    tx.commit().await?;
    Ok(())
}

/// Deletes the API with its revisions and deployments; `Conflict` while it has subscriptions.
pub async fn delete(store: &Store, id: &str) -> Result<()> {
    let subs: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM subscriptions WHERE api_id = $1")
        .bind(id)
        .fetch_one(store.pool())
        .await?;
    if subs > 0 {
        return Err(StoreError::Conflict(format!(
            "the API has {subs} active subscription(s); remove them first"
        )));
    }
    let done = sqlx::query("DELETE FROM apis WHERE id = $1")
        .bind(id)
        .execute(store.pool())
        .await
        .map_err(StoreError::on_unique("the API is still referenced"))?;
    found(&done)
}

/// One lifecycle change of an API.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct LifecycleEvent {
    /// State before (none for creation).
    pub previous_state: Option<String>,
    /// State after.
    pub post_state: String,
    /// Who did it.
    pub username: String,
    /// Epoch ms.
    pub created_at: i64,
}

/// The lifecycle history of an API, oldest first.
pub async fn lifecycle_history(store: &Store, api_id: &str) -> Result<Vec<LifecycleEvent>> {
    Ok(sqlx::query_as::<_, LifecycleEvent>(
        "SELECT previous_state, post_state, username, created_at FROM api_lifecycle_history \
         WHERE api_id = $1 ORDER BY created_at, id",
    )
    .bind(api_id)
    .fetch_all(store.pool())
    .await?)
}

/// An immutable snapshot of an API definition (or, with `D` a
/// [`ProductRevision`](gantry_model::ProductRevision), of an API product).
#[derive(Debug, Clone)]
pub struct Revision<D = Api> {
    /// UUID.
    pub id: String,
    /// The API (or product) it belongs to.
    pub api_id: String,
    /// 1, 2, 3… per API, never reused.
    pub number: i64,
    /// Free text.
    pub description: String,
    /// The API as it was when the revision was made.
    pub definition: D,
    /// Epoch ms.
    pub created_at: i64,
}

#[derive(sqlx::FromRow)]
struct RevisionRow {
    id: String,
    api_id: String,
    revision_number: i64,
    description: String,
    definition: String,
    created_at: i64,
}

impl<D: serde::de::DeserializeOwned> TryFrom<RevisionRow> for Revision<D> {
    type Error = StoreError;
    fn try_from(r: RevisionRow) -> Result<Self> {
        Ok(Revision {
            definition: from_json("api_revisions.definition", &r.definition)?,
            id: r.id,
            api_id: r.api_id,
            number: r.revision_number,
            description: r.description,
            created_at: r.created_at,
        })
    }
}

macro_rules! revision_columns {
    () => {
        "id, api_id, revision_number, description, definition, created_at"
    };
}

/// Snapshots `api` as a new revision; `Conflict` when it already has [`MAX_REVISIONS`].
pub async fn create_revision(store: &Store, api: &Api, description: &str) -> Result<Revision> {
    create_revision_of(store, &api.id, api, description).await
}

/// Stores `definition` as a new revision of `api_id` (an API or a product); `Conflict`
/// when it already has [`MAX_REVISIONS`].
pub(crate) async fn create_revision_of<D: Clone + serde::Serialize>(
    store: &Store,
    api_id: &str,
    definition: &D,
    description: &str,
) -> Result<Revision<D>> {
    let mut tx = store.begin_write().await?;
    let (count, max): (i64, Option<i64>) = sqlx::query_as(
        "SELECT COUNT(*), MAX(revision_number) FROM api_revisions WHERE api_id = $1",
    )
    .bind(api_id)
    .fetch_one(&mut *tx)
    .await?;
    if count >= MAX_REVISIONS {
        return Err(StoreError::Conflict(format!(
            "the API already has the maximum of {MAX_REVISIONS} revisions; delete one first"
        )));
    }
    let revision = Revision {
        id: new_id(),
        api_id: api_id.to_owned(),
        number: max.unwrap_or(0) + 1,
        description: description.to_owned(),
        definition: definition.clone(),
        created_at: now_ms(),
    };
    sqlx::query(concat!(
        "INSERT INTO api_revisions (",
        revision_columns!(),
        ") VALUES ($1, $2, $3, $4, $5, $6)"
    ))
    .bind(&revision.id)
    .bind(&revision.api_id)
    .bind(revision.number)
    .bind(&revision.description)
    .bind(to_json(&revision.definition))
    .bind(revision.created_at)
    .execute(&mut *tx)
    .await
    .map_err(StoreError::on_unique(
        "a revision was created concurrently; retry",
    ))?;
    tx.commit().await?;
    Ok(revision)
}

/// The revisions of an API, by number.
pub async fn list_revisions(store: &Store, api_id: &str) -> Result<Vec<Revision>> {
    list_revisions_of(store, api_id).await
}

/// The revisions of an API or product, by number.
pub(crate) async fn list_revisions_of<D: serde::de::DeserializeOwned>(
    store: &Store,
    api_id: &str,
) -> Result<Vec<Revision<D>>> {
    sqlx::query_as::<_, RevisionRow>(concat!(
        "SELECT ",
        revision_columns!(),
        " FROM api_revisions WHERE api_id = $1 ORDER BY revision_number"
    ))
    .bind(api_id)
    .fetch_all(store.pool())
    .await?
    .into_iter()
    .map(Revision::try_from)
    .collect()
}

/// Revision `id` of API `api_id`; `NotFound` otherwise.
pub async fn get_revision(store: &Store, api_id: &str, id: &str) -> Result<Revision> {
    get_revision_of(store, api_id, id).await
}

/// Revision `id` of API or product `api_id`; `NotFound` otherwise.
pub(crate) async fn get_revision_of<D: serde::de::DeserializeOwned>(
    store: &Store,
    api_id: &str,
    id: &str,
) -> Result<Revision<D>> {
    sqlx::query_as::<_, RevisionRow>(concat!(
        "SELECT ",
        revision_columns!(),
        " FROM api_revisions WHERE api_id = $1 AND id = $2"
    ))
    .bind(api_id)
    .bind(id)
    .fetch_optional(store.pool())
    .await?
    .ok_or(StoreError::NotFound)?
    .try_into()
}

/// Deletes a revision; `Conflict` while it is deployed anywhere.
pub async fn delete_revision(store: &Store, api_id: &str, id: &str) -> Result<()> {
    let deployed: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM api_deployments WHERE revision_id = $1")
            .bind(id)
            .fetch_one(store.pool())
            .await?;
    if deployed > 0 {
        return Err(StoreError::Conflict(
            "the revision is deployed; undeploy it before deleting it".into(),
        ));
    }
    let done = sqlx::query("DELETE FROM api_revisions WHERE api_id = $1 AND id = $2")
        .bind(api_id)
        .bind(id)
        .execute(store.pool())
        .await?;
    found(&done)
}

/// A revision of an API deployed to an environment.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Deployment {
    /// UUID.
    pub id: String,
    /// The API.
    pub api_id: String,
    /// The revision serving in the environment.
    pub revision_id: String,
    /// Environment name.
    pub environment: String,
    /// Virtual host in that environment.
    pub vhost: String,
    /// 1 when listed in the developer portal.
    pub display_on_devportal: i64,
    /// Epoch ms.
    pub deployed_at: i64,
    /// The environment's configuration version that first carried this deployment.
    pub config_version: i64,
}

macro_rules! deployment_columns {
    () => {
        "id, api_id, revision_id, environment, vhost, display_on_devportal, deployed_at, config_version"
    };
}

/// Makes `revision_id` the one serving in `environment` (replacing what was there).
pub async fn deploy(
    store: &Store,
    api_id: &str,
    revision_id: &str,
    environment: &str,
    vhost: &str,
    display_on_devportal: bool,
) -> Result<Deployment> {
    let deployment = Deployment {
        id: new_id(),
        api_id: api_id.to_owned(),
        revision_id: revision_id.to_owned(),
        environment: environment.to_owned(),
        vhost: vhost.to_owned(),
        display_on_devportal: i64::from(display_on_devportal),
        deployed_at: now_ms(),
        config_version: 0,
    };
    let mut tx = store.begin_write().await?;
    sqlx::query("DELETE FROM api_deployments WHERE api_id = $1 AND environment = $2")
        .bind(api_id)
        .bind(environment)
        .execute(&mut *tx)
        .await?;
    sqlx::query(concat!(
        "INSERT INTO api_deployments (",
        deployment_columns!(),
        ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
    ))
    .bind(&deployment.id)
    .bind(&deployment.api_id)
    .bind(&deployment.revision_id)
    .bind(&deployment.environment)
    .bind(&deployment.vhost)
    .bind(deployment.display_on_devportal)
    .bind(deployment.deployed_at)
    .bind(deployment.config_version)
    .execute(&mut *tx)
    .await
    .map_err(StoreError::on_unique(
        "a deployment changed concurrently; retry",
    ))?;
    tx.commit().await?;
    Ok(deployment)
}

/// Removes revision `revision_id` from `environment`; `NotFound` if it was not deployed there.
pub async fn undeploy(
    store: &Store,
    api_id: &str,
    revision_id: &str,
    environment: &str,
) -> Result<()> {
    let done = sqlx::query(
        "DELETE FROM api_deployments WHERE api_id = $1 AND revision_id = $2 AND environment = $3",
    )
    .bind(api_id)
    .bind(revision_id)
    .bind(environment)
    .execute(store.pool())
    .await?;
    found(&done)
}

/// Where the revisions of an API are deployed.
pub async fn list_deployments(store: &Store, api_id: &str) -> Result<Vec<Deployment>> {
    Ok(sqlx::query_as::<_, Deployment>(concat!(
        "SELECT ",
        deployment_columns!(),
        " FROM api_deployments WHERE api_id = $1 ORDER BY environment"
    ))
    .bind(api_id)
    .fetch_all(store.pool())
    .await?)
}

#[derive(sqlx::FromRow)]
struct PendingRow {
    id: String,
    api_id: String,
    revision_id: String,
}

/// Marks the deployments to `environment` not yet carried by any version (config_version
/// 0) that `serves` (API id, revision id) as first carried by `version`.
pub(crate) async fn stamp_pending(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    environment: &str,
    version: i64,
    serves: &std::collections::HashSet<(&str, &str)>,
) -> Result<usize> {
    let pending = sqlx::query_as::<_, PendingRow>(
        "SELECT id, api_id, revision_id FROM api_deployments WHERE environment = $1 AND config_version = 0",
    )
    .bind(environment)
    .fetch_all(&mut **tx)
    .await?;
    let mut stamped = 0;
    for row in pending {
        if serves.contains(&(row.api_id.as_str(), row.revision_id.as_str())) {
            sqlx::query("UPDATE api_deployments SET config_version = $1 WHERE id = $2 AND config_version = 0")
                .bind(version)
                .bind(&row.id)
                .execute(&mut **tx)
                .await?;
            stamped += 1;
        }
    }
    Ok(stamped)
}

/// Marks the pending deployments to `environment` that the configuration published at
/// `version` serves, when `version` (with `digest`) is still the environment's current
/// one: a deployment that changed nothing gateways receive (the same revision deployed
/// again) is carried by the version already out. Returns how many it marked.
pub async fn stamp_served(
    store: &Store,
    environment: &str,
    version: i64,
    digest: &str,
    serves: &std::collections::HashSet<(&str, &str)>,
) -> Result<usize> {
    let mut tx = store.begin_write().await?;
    let current: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM environments WHERE name = $1 AND config_version = $2 AND config_digest = $3",
    )
    .bind(environment)
    .bind(version)
    .bind(digest)
    .fetch_one(&mut *tx)
    .await?;
    if current == 0 {
        return Ok(0);
    }
    let stamped = stamp_pending(&mut tx, environment, version, serves).await?;
    tx.commit().await?;
    Ok(stamped)
}

/// Whether `environment` has deployments no published version carries yet.
pub async fn has_pending(store: &Store, environment: &str) -> Result<bool> {
    let n: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM api_deployments WHERE environment = $1 AND config_version = 0",
    )
    .bind(environment)
    .fetch_one(store.pool())
    .await?;
    Ok(n > 0)
}
