//! What `gantry up` and `gantry control-plane` both do before serving, in one place: the data
//! directory (created owner-only), the `admin` user, the `Default` environment, the
//! key-encryption key and key ring, and the TLS files.

use std::path::Path;

use anyhow::Context as _;
use gantry_control_plane::bootstrap::{self, AdminPassword};
use gantry_control_plane::tls::{self, TlsFiles};
use gantry_store::Store;

use crate::config::key_manager::KeyManagerConfig;
use crate::key_manager::KeyManagerSetup;

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
        match std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)) {
            Ok(()) => {}
            // A directory someone else owns (a Kubernetes emptyDir is root's, shared through
            // fsGroup): it cannot be made owner-only, but the files written into it are 0600.
            Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
                tracing::warn!(dir = %dir.display(), "the data directory is not ours and stays as mounted; its files are written owner-only");
            }
            Err(e) => {
                return Err(e).with_context(|| {
                    format!("making the data directory {} owner-only", dir.display())
                });
            }
        }
    }
    Ok(())
}

/// Makes sure the admin user, the Default environment, the key ring and the TLS files exist
/// for a control plane on `store`.
pub async fn prepare(
    store: &Store,
    keys: &KeyManagerConfig,
    files: Files<'_>,
) -> anyhow::Result<Prepared> {
    // A replica-local key-encryption key on PostgreSQL was refused when the configuration
    // was loaded (`KeyManagerConfig::require_shared_kek`).
    data_dir(files.data_dir)?;
    let admin = bootstrap::ensure_admin(
        store,
        std::env::var("GANTRY_ADMIN_PASSWORD").ok().as_deref(),
    )
    .await
    .context("creating the admin user")?;
    bootstrap::ensure_default_environment(store)
        .await
        .context("creating the Default environment")?;
    let keys = crate::key_manager::key_ring(keys, files.data_dir)?;
    let tls = tls::given_or_self_signed(
        files.tls.map(|(cert, _)| cert),
        files.tls.map(|(_, key)| key),
        &files.data_dir.join("tls"),
        files.hostname,
    )
    .context("preparing TLS")?;
    Ok(Prepared { admin, keys, tls })
}
