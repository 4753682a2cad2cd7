//! The key ring a control plane signs tokens with, built from the checked
//! [`KeyManagerConfig`](crate::config::key_manager::KeyManagerConfig): the key-encryption key
//! (environment, file, or generated into the data directory) and the rotation schedule.

use std::path::Path;
use std::time::Duration;

use anyhow::Context as _;
use gantry_control_plane::AppState;
use gantry_control_plane::bootstrap;
use gantry_control_plane::keyring::KeyRing;
use gantry_keys::RotationPolicy;

use crate::config::key_manager::KeyManagerConfig;

/// The key ring and the schedule it rotates on.
pub struct KeyManagerSetup {
    /// Manages the signing keys.
    pub key_ring: KeyRing,
    /// `--key-rotation-period-secs`.
    pub rotation_period: Duration,
    /// `--key-retire-grace-secs`.
    pub retire_grace: Duration,
}

/// Loads the key-encryption key (environment, file, or generated into `data_dir`) and builds
/// the key ring.
pub fn key_ring(config: &KeyManagerConfig, data_dir: &Path) -> anyhow::Result<KeyManagerSetup> {
    let (kek, kek_source) = bootstrap::key_encryption_key(
        config.key_encryption_key.as_deref(),
        config.key_encryption_key_file.as_deref(),
        data_dir,
    )
    .context("loading the key-encryption key")?;
    tracing::info!(source = ?kek_source, "key-encryption key loaded");
    let key_ring = KeyRing::new(
        kek,
        config.signing_algorithm,
        RotationPolicy {
            period_ms: i64::try_from(config.rotation_period.as_millis()).unwrap_or(i64::MAX),
        },
        config.retire_grace,
    );
    Ok(KeyManagerSetup {
        key_ring,
        rotation_period: config.rotation_period,
        retire_grace: config.retire_grace,
    })
}

/// Trusts the identity providers of `--jwt-bearer-trust-file` (checked at load).
pub fn trust_assertion_issuers(config: &mut KeyManagerConfig, state: &AppState) {
    if let Some(verifier) = config.assertion_issuers.take() {
        state.trust_assertion_issuers(verifier);
    }
}
