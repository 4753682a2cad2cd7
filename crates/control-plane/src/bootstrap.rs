//! First-start set-up of a control plane: the `admin` user, the `Default` gateway
//! environment and the key manager's signing key. Each step is idempotent; later starts
//! find what the first one made.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use gantry_keys::SigningKey;
use gantry_store::{Store, StoreError, environments, signing_keys, users};

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

/// The active signing key, generated and stored on first start.
pub async fn signing_key(store: &Store) -> Result<SigningKey, BootstrapError> {
    if let Some(stored) = signing_keys::active(store).await?.into_iter().next() {
        let der = B64
            .decode(&stored.private_key)
            .map_err(|e| gantry_keys::KeyError::InvalidKey(format!("key {}: {e}", stored.kid)))?;
        return Ok(SigningKey::from_pkcs8(&stored.kid, &der)?);
    }
    let key = tokio::task::spawn_blocking(SigningKey::generate)
        .await
        .map_err(|e| gantry_keys::KeyError::Generate(e.to_string()))??;
    signing_keys::insert_active(store, key.kid(), "RS256", &B64.encode(key.pkcs8())).await?;
    tracing::info!(kid = key.kid(), "generated the key manager's signing key");
    // Another replica may have raced us; everyone uses the oldest active key.
    match signing_keys::active(store).await?.into_iter().next() {
        Some(first) if first.kid != key.kid() => {
            let der = B64.decode(&first.private_key).map_err(|e| {
                gantry_keys::KeyError::InvalidKey(format!("key {}: {e}", first.kid))
            })?;
            Ok(SigningKey::from_pkcs8(&first.kid, &der)?)
        }
        _ => Ok(key),
    }
}
