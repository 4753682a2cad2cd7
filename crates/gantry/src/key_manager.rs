//! The key manager's options, shared by `gantry up` and `gantry control-plane`: where the
//! key-encryption key comes from, which algorithm new signing keys use, how often they
//! rotate, and which identity providers the JWT bearer grant trusts.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use gantry_control_plane::AppState;
use gantry_control_plane::bootstrap;
use gantry_control_plane::keyring::KeyRing;
use gantry_keys::assertion::{AssertionVerifier, TrustedAssertionIssuer};
use gantry_keys::{RotationPolicy, SigningAlgorithm};

use crate::up::ConfigError;

/// Key-manager flags (flattened into the commands that run a control plane).
#[derive(Debug, clap::Args)]
pub struct KeyManagerArgs {
    /// File holding the base64 key-encryption key that seals the signing keys at rest
    /// (`GANTRY_KEY_ENCRYPTION_KEY` holds it directly and wins; with neither, one is
    /// generated into the data directory — fine for one replica only).
    #[arg(long, env = "GANTRY_KEY_ENCRYPTION_KEY_FILE")]
    pub key_encryption_key_file: Option<PathBuf>,
    /// Algorithm of newly generated signing keys: RS256, ES256 or EdDSA.
    #[arg(long, env = "GANTRY_SIGNING_ALGORITHM", default_value = "RS256")]
    pub signing_algorithm: String,
    /// Age in seconds at which the active signing key is replaced by the next one
    /// (0: only manual rotation, through the Admin API). Default 30 days.
    #[arg(
        long,
        env = "GANTRY_KEY_ROTATION_PERIOD_SECS",
        default_value_t = 2_592_000
    )]
    pub key_rotation_period_secs: u64,
    /// Seconds a retired signing key stays published after the longest token lifetime has
    /// passed (clock skew; gateways accept tokens up to 30 s past their expiry).
    #[arg(long, env = "GANTRY_KEY_RETIRE_GRACE_SECS", default_value_t = 60)]
    pub key_retire_grace_secs: u64,
    /// JSON file of identity providers trusted for the JWT bearer grant (RFC 7523):
    /// `[{"issuer": "https://idp.example", "jwks": {"keys": [<public JWK>, …]}}]`.
    #[arg(long, env = "GANTRY_JWT_BEARER_TRUST_FILE")]
    pub jwt_bearer_trust_file: Option<PathBuf>,
}

/// The key ring and the schedule it rotates on.
pub struct KeyManagerSetup {
    /// Manages the signing keys.
    pub key_ring: KeyRing,
    /// `--key-rotation-period-secs`.
    pub rotation_period: Duration,
    /// `--key-retire-grace-secs`.
    pub retire_grace: Duration,
}

impl KeyManagerArgs {
    /// Checks the flags before anything starts.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if SigningAlgorithm::parse(&self.signing_algorithm).is_none() {
            return Err(ConfigError(format!(
                "--signing-algorithm: '{}' is not one of RS256, ES256, EdDSA",
                self.signing_algorithm
            )));
        }
        if self.key_rotation_period_secs > 0 && self.key_rotation_period_secs < 2 {
            return Err(ConfigError(
                "--key-rotation-period-secs: must be 0 (off) or at least 2".to_owned(),
            ));
        }
        Ok(())
    }

    /// Loads the key-encryption key (environment, file, or generated into `data_dir`) and
    /// builds the key ring.
    pub fn key_ring(&self, data_dir: &Path) -> anyhow::Result<KeyManagerSetup> {
        self.validate()?;
        let kek_env = std::env::var("GANTRY_KEY_ENCRYPTION_KEY").ok();
        let (kek, kek_source) = bootstrap::key_encryption_key(
            kek_env.as_deref(),
            self.key_encryption_key_file.as_deref(),
            data_dir,
        )
        .context("loading the key-encryption key")?;
        tracing::info!(source = ?kek_source, "key-encryption key loaded");
        let rotation_period = Duration::from_secs(self.key_rotation_period_secs);
        let retire_grace = Duration::from_secs(self.key_retire_grace_secs);
        let algorithm = SigningAlgorithm::parse(&self.signing_algorithm).unwrap_or_default();
        let key_ring = KeyRing::new(
            kek,
            algorithm,
            RotationPolicy {
                period_ms: i64::try_from(rotation_period.as_millis()).unwrap_or(i64::MAX),
            },
            retire_grace,
        );
        Ok(KeyManagerSetup {
            key_ring,
            rotation_period,
            retire_grace,
        })
    }

    /// Trusts the identity providers of `--jwt-bearer-trust-file` for assertions addressed to
    /// `issuer`.
    pub fn trust_assertion_issuers(&self, state: &AppState, issuer: &str) -> anyhow::Result<()> {
        let Some(path) = &self.jwt_bearer_trust_file else {
            return Ok(());
        };
        let named = |why: String| {
            ConfigError(format!(
                "--jwt-bearer-trust-file ({}): {why}",
                path.display()
            ))
        };
        let text = std::fs::read_to_string(path).map_err(|e| named(e.to_string()))?;
        let issuers: Vec<TrustedAssertionIssuer> =
            serde_json::from_str(&text).map_err(|e| named(e.to_string()))?;
        state.trust_assertion_issuers(AssertionVerifier::new(&issuers, &[issuer]).map_err(named)?);
        Ok(())
    }
}
