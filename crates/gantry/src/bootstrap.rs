//! What `gantry up` and `gantry control-plane` both do before serving, in one place: the data
//! directory (created owner-only), the `admin` user, the `Default` environment, the
//! key-encryption key and key ring, and the TLS files.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use gantry_control_plane::bootstrap::{self, AdminPassword};
use gantry_control_plane::tls::{self, TlsFiles};
use gantry_store::{Backend, Store};

use crate::key_manager::{KeyManagerArgs, KeyManagerSetup};
use crate::up::ConfigError;

/// Where the control plane keeps its files, and the TLS files the operator gave, if any.
pub struct Files<'a> {
    /// The data directory (`--data-dir`).
    pub data_dir: &'a Path,
    /// `--tls-cert` and `--tls-key`, or none for a generated local CA and certificate.
    pub tls: Option<(&'a Path, &'a Path)>,
    /// The host name a generated certificate is made for.
    pub hostname: &'a str,
}

/// What the control plane starts with.
pub struct Prepared {
    /// How the `admin` password was set (a generated one is shown once).
    pub admin: AdminPassword,
    /// The signing keys' ring and its schedule.
    pub keys: KeyManagerSetup,
    /// The TLS certificate, key and (when generated) CA.
    pub tls: TlsFiles,
}

/// Creates `dir` (and its parents) when missing, and makes it owner-only (0700): it holds the
/// key-encryption key, TLS keys and, for SQLite, the store.
pub fn data_dir(dir: &Path) -> anyhow::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    // Created 0700 whatever the umask, so it is never briefly open to others.
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder
        .create(dir)
        .with_context(|| format!("creating the data directory {}", dir.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .with_context(|| format!("making the data directory {} owner-only", dir.display()))?;
    }
    Ok(())
}

/// Makes sure the admin user, the Default environment, the key ring and the TLS files exist
/// for a control plane on `store`.
pub async fn prepare(
    store: &Store,
    keys: &KeyManagerArgs,
    files: Files<'_>,
) -> anyhow::Result<Prepared> {
    data_dir(files.data_dir)?;
    if store.backend() == Backend::Postgres {
        refuse_local_kek_on_shared_database(keys, files.data_dir)?;
    }
    let admin = bootstrap::ensure_admin(
        store,
        std::env::var("GANTRY_ADMIN_PASSWORD").ok().as_deref(),
    )
    .await
    .context("creating the admin user")?;
    bootstrap::ensure_default_environment(store)
        .await
        .context("creating the Default environment")?;
    let keys = keys.key_ring(files.data_dir)?;
    let tls = tls::given_or_self_signed(
        files.tls.map(|(cert, _)| cert),
        files.tls.map(|(_, key)| key),
        &files.data_dir.join("tls"),
        files.hostname,
    )
    .context("preparing TLS")?;
    Ok(Prepared { admin, keys, tls })
}

/// On PostgreSQL, replicas share the signing keys sealed in the database, so they must share
/// the key that seals them: a key generated into one replica's data directory would lock
/// every other replica out. A key already in the data directory (a single replica set up
/// before this rule) is still accepted.
fn refuse_local_kek_on_shared_database(
    keys: &KeyManagerArgs,
    data_dir: &Path,
) -> Result<(), ConfigError> {
    let given = std::env::var_os("GANTRY_KEY_ENCRYPTION_KEY").is_some()
        || keys.key_encryption_key_file.is_some();
    let local: PathBuf = data_dir.join(bootstrap::KEK_FILE_NAME);
    if given || local.exists() {
        return Ok(());
    }
    Err(ConfigError(format!(
        "GANTRY_KEY_ENCRYPTION_KEY: required with a PostgreSQL database. Replicas sharing the \
         database must seal and open the signing keys with the same key, and one generated into \
         {} would be this replica's alone. Give every replica the same 32 random bytes, base64 \
         (e.g. `head -c32 /dev/urandom | base64`), in GANTRY_KEY_ENCRYPTION_KEY or a file named \
         by GANTRY_KEY_ENCRYPTION_KEY_FILE / --key-encryption-key-file",
        local.display()
    )))
}
