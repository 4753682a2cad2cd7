//! Applications of the developer portal and their OAuth2 keys (consumer key + secret hash).
//!
//! Every query that reads or changes an application takes the owner, so one user can never
//! reach another's application by guessing its id.

use crate::{Result, Store, StoreError, found, from_json, new_id, now_ms, to_json};

/// A stored application.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Application {
    /// UUID.
    pub id: String,
    /// Unique per owner.
    pub name: String,
    /// Username of the owner.
    pub owner: String,
    /// Application throttling tier.
    pub throttling_policy: String,
    /// Free text.
    pub description: String,
    /// `JWT`.
    pub token_type: String,
    /// Free-form attributes, JSON object text.
    pub attributes: String,
    /// Epoch ms.
    pub created_at: i64,
    /// Epoch ms.
    pub updated_at: i64,
    /// WSO2's application status: `APPROVED`, or `CREATED` while its creation waits for
    /// approval (AM_APPLICATION_CREATION), `REJECTED` when refused.
    pub status: String,
}

/// An application's status while its creation waits for approval.
pub const STATUS_CREATED: &str = "CREATED";
/// A usable application's status.
pub const STATUS_APPROVED: &str = "APPROVED";
/// The status of an application whose creation was refused.
pub const STATUS_REJECTED: &str = "REJECTED";

macro_rules! app_columns {
    () => {
        "id, name, owner, throttling_policy, description, token_type, attributes, created_at, updated_at, status"
    };
}

/// Fields of a new application.
#[derive(Debug, Clone)]
pub struct NewApplication<'a> {
    /// Name.
    pub name: &'a str,
    /// Owner's username.
    pub owner: &'a str,
    /// Tier.
    pub throttling_policy: &'a str,
    /// Free text.
    pub description: &'a str,
    /// `JWT`.
    pub token_type: &'a str,
    /// Attributes.
    pub attributes: &'a serde_json::Map<String, serde_json::Value>,
}

/// Creates an application; `Conflict` if the owner already has one with that name.
pub async fn create(store: &Store, new: NewApplication<'_>) -> Result<Application> {
    create_with_status(store, new, STATUS_APPROVED).await
}

/// Creates an application in `status` ([`STATUS_CREATED`] while its creation waits for
/// approval); `Conflict` if the owner already has one with that name.
pub async fn create_with_status(
    store: &Store,
    new: NewApplication<'_>,
    status: &str,
) -> Result<Application> {
    let now = now_ms();
    let app = Application {
        id: new_id(),
        name: new.name.to_owned(),
        owner: new.owner.to_owned(),
        throttling_policy: new.throttling_policy.to_owned(),
        description: new.description.to_owned(),
        token_type: new.token_type.to_owned(),
        attributes: to_json(new.attributes),
        created_at: now,
        updated_at: now,
        status: status.to_owned(),
    };
    sqlx::query(concat!(
        "INSERT INTO applications (",
        app_columns!(),
        ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
    ))
    .bind(&app.id)
    .bind(&app.name)
    .bind(&app.owner)
    .bind(&app.throttling_policy)
    .bind(&app.description)
    .bind(&app.token_type)
    .bind(&app.attributes)
    .bind(app.created_at)
    .bind(app.updated_at)
    .bind(&app.status)
    .execute(store.pool())
    .await
    .map_err(|e| match StoreError::on_unique("")(e) {
        StoreError::Conflict(_) => StoreError::Conflict(format!(
            "an application named '{}' already exists",
            app.name
        )),
        other => other,
    })?;
    Ok(app)
}

/// The application `id` if `owner` owns it; `NotFound` otherwise (no hint that it exists).
pub async fn get_owned(store: &Store, id: &str, owner: &str) -> Result<Application> {
    sqlx::query_as::<_, Application>(concat!(
        "SELECT ",
        app_columns!(),
        " FROM applications WHERE id = $1 AND owner = $2"
    ))
    .bind(id)
    .bind(owner)
    .fetch_optional(store.pool())
    .await?
    .ok_or(StoreError::NotFound)
}

/// Application `id` whoever owns it (for the publisher's view of an API's subscribers;
/// devportal paths use [`get_owned`]).
pub async fn get(store: &Store, id: &str) -> Result<Application> {
    sqlx::query_as::<_, Application>(concat!(
        "SELECT ",
        app_columns!(),
        " FROM applications WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(store.pool())
    .await?
    .ok_or(StoreError::NotFound)
}

/// How many key mappings name the key manager `key_manager`.
pub async fn count_keys_of_manager(store: &Store, key_manager: &str) -> Result<i64> {
    Ok(
        sqlx::query_scalar("SELECT COUNT(*) FROM application_keys WHERE key_manager = $1")
            .bind(key_manager)
            .fetch_one(store.pool())
            .await?,
    )
}

/// `owner`'s application called `name`, if any.
pub async fn find_owned_by_name(
    store: &Store,
    owner: &str,
    name: &str,
) -> Result<Option<Application>> {
    Ok(sqlx::query_as::<_, Application>(concat!(
        "SELECT ",
        app_columns!(),
        " FROM applications WHERE owner = $1 AND name = $2"
    ))
    .bind(owner)
    .bind(name)
    .fetch_optional(store.pool())
    .await?)
}

/// A page of `owner`'s applications by name, and their total count.
pub async fn list_owned(
    store: &Store,
    owner: &str,
    offset: i64,
    limit: i64,
) -> Result<(Vec<Application>, i64)> {
    let total: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM applications WHERE owner = $1")
        .bind(owner)
        .fetch_one(store.pool())
        .await?;
    let apps = sqlx::query_as::<_, Application>(concat!(
        "SELECT ",
        app_columns!(),
        " FROM applications WHERE owner = $1 ORDER BY name LIMIT $2 OFFSET $3"
    ))
    .bind(owner)
    .bind(limit)
    .bind(offset)
    .fetch_all(store.pool())
    .await?;
    Ok((apps, total))
}

/// Changes `owner`'s application `id` (name, tier, description, attributes); `NotFound`
/// for another owner's or an unknown id, `Conflict` when the owner has another application
/// with the new name.
pub async fn update_owned(
    store: &Store,
    id: &str,
    owner: &str,
    changes: NewApplication<'_>,
) -> Result<Application> {
    let done = sqlx::query(
        "UPDATE applications SET name = $1, throttling_policy = $2, description = $3, attributes = $4, updated_at = $5 \
         WHERE id = $6 AND owner = $7",
    )
    .bind(changes.name)
    .bind(changes.throttling_policy)
    .bind(changes.description)
    .bind(to_json(changes.attributes))
    .bind(now_ms())
    .bind(id)
    .bind(owner)
    .execute(store.pool())
    .await
    .map_err(StoreError::on_unique("you already have an application with this name"))?;
    found(&done)?;
    get_owned(store, id, owner).await
}

/// Sets application `id`'s status (a decided creation workflow).
pub async fn set_status(store: &Store, id: &str, status: &str) -> Result<()> {
    let done = sqlx::query("UPDATE applications SET status = $1, updated_at = $2 WHERE id = $3")
        .bind(status)
        .bind(now_ms())
        .bind(id)
        .execute(store.pool())
        .await?;
    found(&done)
}

/// Deletes `owner`'s application `id` with its keys and subscriptions.
pub async fn delete_owned(store: &Store, id: &str, owner: &str) -> Result<()> {
    let done = sqlx::query("DELETE FROM applications WHERE id = $1 AND owner = $2")
        .bind(id)
        .bind(owner)
        .execute(store.pool())
        .await?;
    found(&done)
}

/// The key manager name under which Gantry's own OAuth2 server creates clients.
pub const RESIDENT_KEY_MANAGER: &str = "Resident Key Manager";

/// OAuth2 client credentials of an application for one key type.
#[derive(Debug, Clone)]
pub struct ApplicationKey {
    /// UUID (WSO2's `keyMappingId`).
    pub id: String,
    /// Owning application.
    pub application_id: String,
    /// `PRODUCTION` or `SANDBOX`.
    pub key_type: String,
    /// [`RESIDENT_KEY_MANAGER`], or the name of the external key manager it is mapped from.
    pub key_manager: String,
    /// OAuth2 client id.
    pub consumer_key: String,
    /// Hash of the client secret (the secret itself is shown once and never stored).
    pub consumer_secret_hash: String,
    /// Grant types the client may use.
    pub grant_types: Vec<String>,
    /// Redirect URI for code grants.
    pub callback_url: String,
    /// Access-token lifetime in seconds.
    pub validity_period: i64,
    /// Epoch ms.
    pub created_at: i64,
}

#[derive(sqlx::FromRow)]
struct KeyRow {
    id: String,
    application_id: String,
    key_type: String,
    key_manager: String,
    consumer_key: String,
    consumer_secret_hash: String,
    grant_types: String,
    callback_url: String,
    validity_period: i64,
    created_at: i64,
}

impl TryFrom<KeyRow> for ApplicationKey {
    type Error = StoreError;
    fn try_from(r: KeyRow) -> Result<Self> {
        Ok(ApplicationKey {
            grant_types: from_json("application_keys.grant_types", &r.grant_types)?,
            id: r.id,
            application_id: r.application_id,
            key_type: r.key_type,
            key_manager: r.key_manager,
            consumer_key: r.consumer_key,
            consumer_secret_hash: r.consumer_secret_hash,
            callback_url: r.callback_url,
            validity_period: r.validity_period,
            created_at: r.created_at,
        })
    }
}

macro_rules! key_columns {
    () => {
        "id, application_id, key_type, key_manager, consumer_key, consumer_secret_hash, \
     grant_types, callback_url, validity_period, created_at"
    };
}

impl ApplicationKey {
    /// Whether Gantry's own OAuth2 server holds this client (its secret, its grants); a client
    /// mapped from an external key manager authenticates there, never here.
    pub fn is_resident(&self) -> bool {
        self.key_manager == RESIDENT_KEY_MANAGER
    }
}

/// Stores generated keys; `Conflict` if the application already has keys of that type, or
/// if the consumer key is taken (by any application, under any key manager).
pub async fn create_key(store: &Store, key: &ApplicationKey) -> Result<()> {
    sqlx::query(concat!(
        "INSERT INTO application_keys (",
        key_columns!(),
        ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
    ))
    .bind(&key.id)
    .bind(&key.application_id)
    .bind(&key.key_type)
    .bind(&key.key_manager)
    .bind(&key.consumer_key)
    .bind(&key.consumer_secret_hash)
    .bind(to_json(&key.grant_types))
    .bind(&key.callback_url)
    .bind(key.validity_period)
    .bind(key.created_at)
    .execute(store.pool())
    .await
    .map_err(StoreError::on_unique(
        "the application already has keys of this type from this key manager, or the consumer key is taken",
    ))?;
    Ok(())
}

/// The keys of an application.
pub async fn keys_of(store: &Store, application_id: &str) -> Result<Vec<ApplicationKey>> {
    sqlx::query_as::<_, KeyRow>(concat!(
        "SELECT ",
        key_columns!(),
        " FROM application_keys WHERE application_id = $1 ORDER BY key_type"
    ))
    .bind(application_id)
    .fetch_all(store.pool())
    .await?
    .into_iter()
    .map(ApplicationKey::try_from)
    .collect()
}

/// The resident key manager's client `consumer_key` and the application it belongs to; a
/// client mapped from an external key manager is not one (Gantry's OAuth2 server neither
/// authenticates it nor vouches for its tokens).
pub async fn find_resident_client(
    store: &Store,
    consumer_key: &str,
) -> Result<Option<(ApplicationKey, Application)>> {
    let Some(row) = sqlx::query_as::<_, KeyRow>(concat!(
        "SELECT ",
        key_columns!(),
        " FROM application_keys WHERE consumer_key = $1 AND key_manager = $2"
    ))
    .bind(consumer_key)
    .bind(RESIDENT_KEY_MANAGER)
    .fetch_optional(store.pool())
    .await?
    else {
        return Ok(None);
    };
    let key = ApplicationKey::try_from(row)?;
    let app = sqlx::query_as::<_, Application>(concat!(
        "SELECT ",
        app_columns!(),
        " FROM applications WHERE id = $1"
    ))
    .bind(&key.application_id)
    .fetch_one(store.pool())
    .await?;
    Ok(Some((key, app)))
}

/// Changes the grant types and callback URL of the key `key_id` of `application_id`;
/// `NotFound` when there is no such key.
pub async fn update_key_settings(
    store: &Store,
    application_id: &str,
    key_id: &str,
    grant_types: &[String],
    callback_url: &str,
) -> Result<()> {
    let done = sqlx::query(
        "UPDATE application_keys SET grant_types = $3, callback_url = $4 \
         WHERE application_id = $1 AND id = $2",
    )
    .bind(application_id)
    .bind(key_id)
    .bind(to_json(&grant_types))
    .bind(callback_url)
    .execute(store.pool())
    .await?;
    found(&done)
}

/// Deletes the key `key_id` of application `application_id`; returns what was deleted.
pub async fn delete_key(
    store: &Store,
    application_id: &str,
    key_id: &str,
) -> Result<ApplicationKey> {
    let key = sqlx::query_as::<_, KeyRow>(concat!(
        "SELECT ",
        key_columns!(),
        " FROM application_keys WHERE application_id = $1 AND id = $2"
    ))
    .bind(application_id)
    .bind(key_id)
    .fetch_optional(store.pool())
    .await?
    .ok_or(StoreError::NotFound)?;
    sqlx::query("DELETE FROM application_keys WHERE application_id = $1 AND id = $2")
        .bind(application_id)
        .bind(key_id)
        .execute(store.pool())
        .await?;
    ApplicationKey::try_from(key)
}

/// The longest access-token lifetime any client may ask for now (seconds), 0 with no keys:
/// a retired signing key stays published at least this long.
pub async fn max_validity_period(store: &Store) -> Result<i64> {
    let max: Option<i64> = sqlx::query_scalar("SELECT MAX(validity_period) FROM application_keys")
        .fetch_one(store.pool())
        .await?;
    Ok(max.unwrap_or(0))
}

/// Replaces the secret hash of the resident client `consumer_key` (a regenerated secret);
/// `NotFound` for any other, a mapped external client included.
pub async fn set_secret_hash(store: &Store, consumer_key: &str, secret_hash: &str) -> Result<()> {
    let done = sqlx::query(
        "UPDATE application_keys SET consumer_secret_hash = $1 WHERE consumer_key = $2 AND key_manager = $3",
    )
    .bind(secret_hash)
    .bind(consumer_key)
    .bind(RESIDENT_KEY_MANAGER)
    .execute(store.pool())
    .await?;
    found(&done)
}

/// Whether the client `consumer_key` is public (holds no secret; PKCE only).
pub async fn is_public_client(store: &Store, consumer_key: &str) -> Result<bool> {
    let flag: Option<i64> =
        sqlx::query_scalar("SELECT public_client FROM application_keys WHERE consumer_key = $1")
            .bind(consumer_key)
            .fetch_optional(store.pool())
            .await?;
    Ok(flag == Some(1))
}

/// Marks the client `consumer_key` public or confidential.
pub async fn set_public_client(store: &Store, consumer_key: &str, public: bool) -> Result<()> {
    sqlx::query("UPDATE application_keys SET public_client = $1 WHERE consumer_key = $2")
        .bind(i64::from(public))
        .bind(consumer_key)
        .execute(store.pool())
        .await?;
    Ok(())
}

/// A new key id (`keyMappingId`).
pub fn new_key_id() -> String {
    new_id()
}
