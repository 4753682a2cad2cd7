//! First-start set-up of a control plane: the `admin` user, the `Default` gateway
//! environment and the key-encryption key that seals the signing keys (which the key ring
//! creates). Each step is idempotent; later starts
//! find what the first one made.

use std::path::{Path, PathBuf};

use gantry_keys::KeyEncryptionKey;
use gantry_store::{Store, StoreError, environments, users};

/// WSO2's name for the environment every installation starts with.
pub const DEFAULT_ENVIRONMENT: &str = "Default";

/// What bootstrap did about the admin user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminPassword {
    /// The user existed already.
    Existing,
    /// Created with the password from the environment.
    FromEnvironment,
    /// Created with this generated password, to be shown once.
    Generated(String),
}

/// Bootstrap failed.
#[derive(Debug, thiserror::Error)]
pub enum BootstrapError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Key generation or hashing failed.
    #[error(transparent)]
    Key(#[from] gantry_keys::KeyError),
    /// The key-encryption key is missing, unreadable or malformed; the text names the source.
    #[error("{0}")]
    Kek(String),
}

/// Creates the `admin` user when it does not exist, with `password` or a generated one.
pub async fn ensure_admin(
    store: &Store,
    password: Option<&str>,
) -> Result<AdminPassword, BootstrapError> {
    if users::find_by_username(store, "admin").await?.is_some() {
        return Ok(AdminPassword::Existing);
    }
    let (password, outcome) = match password {
        Some(p) => (p.to_owned(), AdminPassword::FromEnvironment),
        None => {
            let generated = gantry_keys::secret::random_token(12);
            (generated.clone(), AdminPassword::Generated(generated))
        }
    };
    let hash = tokio::task::spawn_blocking(move || gantry_keys::password::hash_password(&password))
        .await
        .map_err(|e| gantry_keys::KeyError::Hash(e.to_string()))??;
    match users::create(store, "admin", &hash, &["admin"]).await {
        Ok(_) => Ok(outcome),
        // Another replica created it meanwhile.
        Err(StoreError::Conflict(_)) => Ok(AdminPassword::Existing),
        Err(e) => Err(e.into()),
    }
}

/// Creates the `Default` environment (vhost `localhost`) when it does not exist.
pub async fn ensure_default_environment(store: &Store) -> Result<(), BootstrapError> {
    if environments::find_by_name(store, DEFAULT_ENVIRONMENT)
        .await?
        .is_some()
    {
        return Ok(());
    }
    match environments::create(
        store,
        DEFAULT_ENVIRONMENT,
        "Default",
        "The default gateway environment",
        &["localhost".to_owned()],
    )
    .await
    {
        Ok(_) | Err(StoreError::Conflict(_)) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Where the key-encryption key came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KekSource {
    /// `GANTRY_KEY_ENCRYPTION_KEY`.
    Environment,
    /// The file named by `GANTRY_KEY_ENCRYPTION_KEY_FILE` / `--key-encryption-key-file`.
    File(PathBuf),
    /// Generated into the data directory on first start (or read from there later).
    DataDir(PathBuf),
}

/// Name of the generated key-encryption key in the data directory.
pub const KEK_FILE_NAME: &str = "key-encryption-key";

/// The key that seals signing keys at rest: from `from_env` (base64 text), else the file
/// `from_file`, else `<data_dir>/key-encryption-key`, generated (mode 0600) when absent.
pub fn key_encryption_key(
    from_env: Option<&str>,
    from_file: Option<&Path>,
    data_dir: &Path,
) -> Result<(KeyEncryptionKey, KekSource), BootstrapError> {
    let named = |what: &str, e: gantry_keys::KeyError| BootstrapError::Kek(format!("{what}: {e}"));
    if let Some(text) = from_env {
        let kek = KeyEncryptionKey::from_base64(text)
            .map_err(|e| named("GANTRY_KEY_ENCRYPTION_KEY", e))?;
        return Ok((kek, KekSource::Environment));
    }
    if let Some(path) = from_file {
        let text = std::fs::read_to_string(path).map_err(|e| {
            BootstrapError::Kek(format!(
                "GANTRY_KEY_ENCRYPTION_KEY_FILE: cannot read {}: {e}",
                path.display()
            ))
        })?;
        let kek = KeyEncryptionKey::from_base64(&text).map_err(|e| {
            named(
                &format!("GANTRY_KEY_ENCRYPTION_KEY_FILE ({})", path.display()),
                e,
            )
        })?;
        return Ok((kek, KekSource::File(path.to_owned())));
    }
    let path = data_dir.join(KEK_FILE_NAME);
    if path.exists() {
        let text = std::fs::read_to_string(&path)
            .map_err(|e| BootstrapError::Kek(format!("cannot read {}: {e}", path.display())))?;
        let kek = KeyEncryptionKey::from_base64(&text)
            .map_err(|e| named(&path.display().to_string(), e))?;
        return Ok((kek, KekSource::DataDir(path)));
    }
    let (kek, text) = KeyEncryptionKey::generate()?;
    write_private(&path, &text)
        .map_err(|e| BootstrapError::Kek(format!("cannot write {}: {e}", path.display())))?;
    tracing::info!(path = %path.display(), "generated the key-encryption key");
    Ok((kek, KekSource::DataDir(path)))
}

/// The file in the data directory holding the gateways' credential key (base64).
pub const CREDENTIAL_KEY_FILE_NAME: &str = "gateway-credential-key";

/// Writes the gateways' credential key (derived from the key-encryption key; AI APIs'
/// provider keys are sealed under it) to `<data_dir>/gateway-credential-key`, owner-only,
/// for operators to hand to `gantry gateway --credential-key-file`. Rewritten when the
/// key-encryption key changed.
pub fn write_credential_key(
    data_dir: &Path,
    key_ring: &crate::keyring::KeyRing,
) -> Result<std::path::PathBuf, BootstrapError> {
    let (_, text) = key_ring
        .credential_key()
        .map_err(|e| BootstrapError::Kek(format!("deriving the credential key: {e}")))?;
    let path = data_dir.join(CREDENTIAL_KEY_FILE_NAME);
    if std::fs::read_to_string(&path).is_ok_and(|held| held.trim() == text) {
        return Ok(path);
    }
    let _ = std::fs::remove_file(&path);
    write_private(&path, &text)
        .map_err(|e| BootstrapError::Kek(format!("cannot write {}: {e}", path.display())))?;
    Ok(path)
}

/// Writes `text` to a new file readable by its owner only.
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(text.as_bytes())?;
    file.write_all(b"\n")?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kek_is_generated_once_into_the_data_dir_with_owner_only_access() {
        let dir = tempfile::tempdir().expect("dir");
        let (kek, source) = key_encryption_key(None, None, dir.path()).expect("generated");
        let path = dir.path().join(KEK_FILE_NAME);
        assert_eq!(source, KekSource::DataDir(path.clone()));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let sealed = kek.seal("k", b"x").expect("seal");
        let (again, _) = key_encryption_key(None, None, dir.path()).expect("read back");
        assert_eq!(again.open("k", &sealed).expect("open"), b"x");
        let text = std::fs::read_to_string(&path).expect("text");
        let (from_env, source) =
            key_encryption_key(Some(&text), Some(Path::new("/nonexistent")), dir.path())
                .expect("env wins");
        assert_eq!(source, KekSource::Environment);
        assert_eq!(from_env.open("k", &sealed).expect("open"), b"x");
        let err = key_encryption_key(Some("short"), None, dir.path()).unwrap_err();
        assert!(
            err.to_string().contains("GANTRY_KEY_ENCRYPTION_KEY"),
            "{err}"
        );
        let err =
            key_encryption_key(None, Some(Path::new("/nonexistent/kek")), dir.path()).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/kek"), "{err}");
    }
}
