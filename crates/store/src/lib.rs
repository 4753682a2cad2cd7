//! Persistence for the control plane: one code path over PostgreSQL (production) and
//! SQLite (the embedded store of `gantry up`).
//!
//! Queries use the SQL both engines share and run through sqlx's `Any` driver; ids are UUID
//! text, times epoch milliseconds, structured values JSON text. Migrations are embedded in
//! the binary and applied by [`Store::migrate`]. Each module holds the queries of one
//! resource; none of them knows about HTTP.
#![forbid(unsafe_code)]

pub mod ai;
pub mod api_keys;
pub mod api_products;
pub mod apis;
pub mod applications;
pub mod authorization_codes;
pub mod canaries;
pub mod categories;
pub mod client_certificates;
pub mod custom_rules;
pub mod definitions;
pub mod deny_policies;
pub mod documents;
pub mod endpoint_certificates;
pub mod environments;
pub mod feedback;
pub mod gateway_policies;
pub mod gateways;
pub mod health;
pub mod key_managers;
pub mod operation_policies;
pub mod policies;
pub mod portal_sessions;
pub mod refresh_tokens;
pub mod revoked_tokens;
pub mod rollouts;
pub mod shared_scopes;
pub mod signing_keys;
pub mod snapshot;
pub mod subscriptions;
pub mod system_scopes;
pub mod traffic;
pub mod users;
pub mod workflows;

use std::path::Path;
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, ConnectOptions};

/// What went wrong in the store, in terms the REST layer can map to a status.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The row asked for does not exist.
    #[error("not found")]
    NotFound,
    /// A uniqueness or reference rule would be broken; the text says which.
    #[error("conflict: {0}")]
    Conflict(String),
    /// A stored value could not be read back (a bug or a hand-edited database).
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// The database failed or is unreachable.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// Migrations could not be applied.
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

impl StoreError {
    /// Whether the database could not be reached or dropped the connection (as opposed to
    /// refusing the request): no connection in time, a broken socket, or PostgreSQL ending
    /// the session (SQLSTATE class 08, 57P01–57P03 shutdown, 53300 too many connections).
    pub fn is_unavailable(&self) -> bool {
        match self {
            StoreError::Database(
                sqlx::Error::PoolTimedOut
                | sqlx::Error::PoolClosed
                | sqlx::Error::Io(_)
                | sqlx::Error::Tls(_)
                | sqlx::Error::Protocol(_)
                | sqlx::Error::WorkerCrashed,
            ) => true,
            StoreError::Database(sqlx::Error::Database(db)) => db.code().is_some_and(|code| {
                code.starts_with("08") || matches!(&*code, "57P01" | "57P02" | "57P03" | "53300")
            }),
            _ => false,
        }
    }

    /// The error of a call not sent because the database is known to be down.
    pub fn unavailable() -> Self {
        StoreError::Database(sqlx::Error::PoolTimedOut)
    }

    /// Maps a unique-constraint violation to `Conflict(what)`, anything else to `Database`.
    pub(crate) fn on_unique(what: &str) -> impl FnOnce(sqlx::Error) -> StoreError + '_ {
        move |e| match &e {
            sqlx::Error::Database(db) if db.is_unique_violation() => {
                StoreError::Conflict(what.to_owned())
            }
            sqlx::Error::Database(db) if db.is_foreign_key_violation() => StoreError::Conflict(
                format!("{what} (a referenced resource is missing or in use)"),
            ),
            _ => StoreError::Database(e),
        }
    }
}

/// `NotFound` when a statement changed no row: the row it names does not exist.
pub(crate) fn found(done: &sqlx::any::AnyQueryResult) -> Result<()> {
    if done.rows_affected() == 0 {
        Err(StoreError::NotFound)
    } else {
        Ok(())
    }
}

/// Result alias for store calls.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Which engine a store runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// PostgreSQL.
    Postgres,
    /// SQLite.
    Sqlite,
}

/// A handle on the database; cheap to clone.
#[derive(Clone, Debug)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    url: std::sync::Arc<str>,
    health: std::sync::Arc<health::DbHealth>,
}

/// How long a request waits for a PostgreSQL connection before it answers 503.
pub const POSTGRES_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(2);

/// The PostgreSQL channel on which replicas announce configuration changes.
const CHANGE_CHANNEL: &str = "gantry_config";

/// How long opening the LISTEN connection may take before the attempt counts as failed.
const LISTEN_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// What a [`ChangeListener`] heard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Another replica changed this environment's configuration.
    Environment(String),
    /// The listener (re)connected: announcements made while it had no connection were
    /// missed, so the caller compares its snapshots with the store.
    Reconnected,
}

/// Receives the names of environments whose configuration changed on another replica
/// (PostgreSQL LISTEN). It owns its connection: a lost one (reset, EOF, the server ending
/// the session) is dropped and a new one opened on the next call.
pub struct ChangeListener {
    url: std::sync::Arc<str>,
    listener: Option<sqlx::postgres::PgListener>,
}

impl ChangeListener {
    /// The next change; [`Change::Reconnected`] first, and after every new connection. An
    /// error means there is no connection now: call again after a pause.
    pub async fn next(&mut self) -> Result<Change> {
        loop {
            let Some(listener) = self.listener.as_mut() else {
                let connect = async {
                    let mut listener = sqlx::postgres::PgListener::connect(&self.url).await?;
                    listener.eager_reconnect(false);
                    listener.listen(CHANGE_CHANNEL).await?;
                    Ok::<_, sqlx::Error>(listener)
                };
                let listener = tokio::time::timeout(LISTEN_CONNECT_TIMEOUT, connect)
                    .await
                    .map_err(|_| sqlx::Error::PoolTimedOut)??;
                self.listener = Some(listener);
                return Ok(Change::Reconnected);
            };
            match listener.try_recv().await {
                Ok(Some(notification)) => {
                    return Ok(Change::Environment(notification.payload().to_owned()));
                }
                // The connection was lost; the next turn opens a new one.
                Ok(None) => self.listener = None,
                Err(error) => {
                    self.listener = None;
                    return Err(error.into());
                }
            }
        }
    }

    /// Drops the connection; the next call opens a new one. For after a database outage,
    /// whose end a connection cut silently would not notice.
    pub fn reset(&mut self) {
        self.listener = None;
    }
}

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

impl Store {
    /// Connects to `url` (`postgres://…` or `sqlite://…`). Does not migrate.
    pub async fn connect(url: &str) -> Result<Self> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else {
            return Err(StoreError::Database(sqlx::Error::Configuration(
                format!("unsupported database URL '{url}': use postgres://… or sqlite://…").into(),
            )));
        };
        let options = AnyConnectOptions::from_str(url)?.disable_statement_logging();
        // SQLite takes one writer at a time; a small pool avoids busy errors under load, and
        // a writer may wait its turn. On PostgreSQL a request that cannot get a connection
        // within two seconds answers 503 (the health monitor usually fails it sooner).
        let (max, acquire) = match backend {
            Backend::Sqlite => (4, Duration::from_secs(10)),
            Backend::Postgres => (16, POSTGRES_ACQUIRE_TIMEOUT),
        };
        let pool = AnyPoolOptions::new()
            .max_connections(max)
            .acquire_timeout(acquire)
            .connect_with(options)
            .await?;
        Ok(Self {
            pool,
            backend,
            url: std::sync::Arc::from(url),
            health: std::sync::Arc::default(),
        })
    }

    /// Tells the other replicas that `environment` changed when `tx` commits (PostgreSQL
    /// NOTIFY, delivered at commit and not at all on rollback; a no-op on SQLite, which
    /// has one process).
    pub(crate) async fn notify_change_in(
        &self,
        tx: &mut sqlx::Transaction<'static, sqlx::Any>,
        environment: &str,
    ) -> Result<()> {
        if self.backend == Backend::Postgres {
            sqlx::query("SELECT pg_notify($1, $2)")
                .bind(CHANGE_CHANNEL)
                .bind(environment)
                .execute(&mut **tx)
                .await?;
        }
        Ok(())
    }

    /// A listener for other replicas' changes (PostgreSQL only); it connects on its first
    /// [`ChangeListener::next`].
    pub fn change_listener(&self) -> Option<ChangeListener> {
        (self.backend == Backend::Postgres).then(|| ChangeListener {
            url: self.url.clone(),
            listener: None,
        })
    }

    /// Opens (creating when absent) the SQLite file `path`, readable by its owner only.
    pub async fn open_sqlite(path: &Path) -> Result<Self> {
        owner_only(path).map_err(|e| StoreError::Database(sqlx::Error::Io(e)))?;
        let url = format!("sqlite://{}?mode=rwc", path.display());
        let store = Self::connect(&url).await?;
        // WAL lets the gateway snapshot reads run beside REST writes.
        sqlx::query("PRAGMA journal_mode = WAL")
            .execute(&store.pool)
            .await?;
        sqlx::query("PRAGMA busy_timeout = 5000")
            .execute(&store.pool)
            .await?;
        Ok(store)
    }

    /// Begins a transaction that will write. On SQLite it takes the write lock up front
    /// (`BEGIN IMMEDIATE`): a deferred transaction that reads first and then writes while
    /// another connection writes fails at once with "database is locked" (the busy timeout
    /// cannot help an upgrade from reader to writer), where an immediate one waits its turn.
    pub async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>> {
        Ok(match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        })
    }

    /// Applies every embedded migration not yet applied.
    pub async fn migrate(&self) -> Result<()> {
        MIGRATOR.run(&self.pool).await?;
        Ok(())
    }

    /// Whether every embedded migration has been applied; an error when the database could
    /// not be asked.
    pub async fn is_migrated(&self) -> Result<bool> {
        let latest = MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0);
        let applied = sqlx::query_scalar::<_, Option<i64>>(
            "SELECT MAX(version) FROM _sqlx_migrations WHERE success = TRUE",
        )
        .fetch_one(&self.pool)
        .await;
        match applied {
            Ok(applied) => Ok(applied == Some(latest)),
            // An unreachable database is not an unmigrated one; a missing table is.
            Err(error) => match StoreError::Database(error) {
                e if e.is_unavailable() => Err(e),
                _ => Ok(false),
            },
        }
    }

    /// A cheap round trip, for readiness probes.
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// The engine in use.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Closes the pool, waiting for connections to be returned.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    pub(crate) fn pool(&self) -> &AnyPool {
        &self.pool
    }
}

/// Creates the SQLite file `path` with mode 0600 when absent (whatever the umask) and tightens
/// it and an existing `-wal` / `-shm` to 0600: the store holds password hashes and wrapped
/// keys. SQLite gives the `-wal` and `-shm` files it creates the database file's mode.
fn owner_only(path: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
        std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(path)?;
        for suffix in ["", "-wal", "-shm"] {
            let mut file = path.as_os_str().to_owned();
            file.push(suffix);
            match std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)) {
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                other => other?,
            }
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

/// A fresh random UUID as text.
pub fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

pub(crate) fn from_json<T: serde::de::DeserializeOwned>(what: &str, text: &str) -> Result<T> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
}

pub(crate) fn to_json<T: serde::Serialize>(value: &T) -> String {
    // Serialising our own plain data types to a String cannot fail.
    serde_json::to_string(value).unwrap_or_else(|_| "null".to_owned())
}

#[cfg(test)]
pub(crate) mod test_support {
    use super::Store;

    /// A migrated store on a fresh SQLite file.
    pub async fn sqlite() -> (Store, tempfile::TempDir) {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Store::open_sqlite(&dir.path().join("t.db"))
            .await
            .expect("open sqlite");
        store.migrate().await.expect("migrate");
        (store, dir)
    }

    /// A migrated SQLite store holding one API; the API's id.
    pub async fn store_with_api() -> (Store, String, tempfile::TempDir) {
        let (store, dir) = sqlite().await;
        let api: gantry_model::Api = serde_json::from_value(serde_json::json!({
            "id": crate::new_id(), "name": "Docs", "context": "/docs", "version": "1.0.0",
            "provider": "admin", "lifeCycleStatus": "CREATED", "isDefaultVersion": false,
            "type": "HTTP", "transport": ["http"], "tags": [], "policies": ["Gold"],
            "authorizationHeader": "Authorization", "securityScheme": ["oauth2"],
            "visibility": "PUBLIC", "endpointConfig": {"endpoint_type": "http"},
            "operations": [], "createdTime": "", "lastUpdatedTime": ""
        }))
        .expect("an API");
        crate::apis::create(&store, &api, "admin")
            .await
            .expect("create");
        (store, api.id, dir)
    }
}
