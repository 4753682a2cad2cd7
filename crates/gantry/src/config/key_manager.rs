//! The key manager's settings, shared by `gantry up` and `gantry control-plane`: where the
//! key-encryption key comes from, which algorithm new signing keys use, how often they
//! rotate, and which identity providers the JWT bearer grant trusts.

use std::path::{Path, PathBuf};
use std::time::Duration;

use gantry_control_plane::bootstrap::KEK_FILE_NAME;
use gantry_keys::assertion::{AssertionVerifier, TrustedAssertionIssuer};
use gantry_keys::{KeyEncryptionKey, SigningAlgorithm};

use super::{ConfigError, Layers};

/// The key-encryption key given directly; never on the command line nor in the file.
const KEK_ENV: &str = "GANTRY_KEY_ENCRYPTION_KEY";

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

/// The key manager, checked.
pub struct KeyManagerConfig {
    /// `GANTRY_KEY_ENCRYPTION_KEY` (base64; wins over the file), checked to decode.
    pub key_encryption_key: Option<String>,
    /// `--key-encryption-key-file`, checked to hold a key.
    pub key_encryption_key_file: Option<PathBuf>,
    /// Algorithm of newly generated signing keys.
    pub signing_algorithm: SigningAlgorithm,
    /// Age at which the active key is replaced (zero: manual rotation only).
    pub rotation_period: Duration,
    /// How long a retired key stays published past the longest token lifetime.
    pub retire_grace: Duration,
    /// The identity providers `--jwt-bearer-trust-file` trusts, for this issuer's audience.
    pub assertion_issuers: Option<AssertionVerifier>,
}

impl std::fmt::Debug for KeyManagerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyManagerConfig")
            .field(
                "key_encryption_key",
                &self.key_encryption_key.as_ref().map(|_| "<redacted>"),
            )
            .field("key_encryption_key_file", &self.key_encryption_key_file)
            .field("signing_algorithm", &self.signing_algorithm)
            .field("rotation_period", &self.rotation_period)
            .field("retire_grace", &self.retire_grace)
            .field("assertion_issuers", &self.assertion_issuers)
            .finish()
    }
}

impl KeyManagerArgs {
    /// Checks the settings for a control plane whose token issuer is `issuer`.
    pub fn load(&self, layers: &Layers, issuer: &str) -> Result<KeyManagerConfig, ConfigError> {
        let signing_algorithm =
            SigningAlgorithm::parse(&self.signing_algorithm).ok_or_else(|| {
                layers.key("signing-algorithm").invalid(format!(
                    "'{}' is not one of RS256, ES256, EdDSA",
                    self.signing_algorithm
                ))
            })?;
        if self.key_rotation_period_secs == 1 {
            return Err(layers
                .key("key-rotation-period-secs")
                .invalid("must be 0 (off) or at least 2"));
        }
        let key_encryption_key = std::env::var(KEK_ENV).ok();
        if let Some(text) = &key_encryption_key {
            KeyEncryptionKey::from_base64(text).map_err(|e| kek_env_invalid(e.to_string()))?;
        }
        if let Some(path) = &self.key_encryption_key_file {
            let text = super::read_file(layers, "key-encryption-key-file", path)?;
            let text = String::from_utf8_lossy(&text);
            KeyEncryptionKey::from_base64(&text).map_err(|e| {
                layers
                    .key("key-encryption-key-file")
                    .invalid(format!("{}: {e}", path.display()))
            })?;
        }
        let assertion_issuers = match &self.jwt_bearer_trust_file {
            Some(path) => {
                let named = |why: String| {
                    layers
                        .key("jwt-bearer-trust-file")
                        .invalid(format!("{}: {why}", path.display()))
                };
                let text = super::read_file(layers, "jwt-bearer-trust-file", path)?;
                let issuers: Vec<TrustedAssertionIssuer> =
                    serde_json::from_slice(&text).map_err(|e| named(e.to_string()))?;
                Some(
                    AssertionVerifier::new(&issuers, &[issuer])
                        .map_err(|e| named(e.to_string()))?,
                )
            }
            None => None,
        };
        Ok(KeyManagerConfig {
            key_encryption_key,
            key_encryption_key_file: self.key_encryption_key_file.clone(),
            signing_algorithm,
            rotation_period: super::secs(
                layers,
                "key-rotation-period-secs",
                self.key_rotation_period_secs,
            )?,
            retire_grace: super::secs(layers, "key-retire-grace-secs", self.key_retire_grace_secs)?,
            assertion_issuers,
        })
    }
}

impl KeyManagerConfig {
    /// On PostgreSQL, replicas share the signing keys sealed in the database, so they must
    /// share the key that seals them: a key generated into one replica's data directory would
    /// lock every other replica out. A key already in the data directory (a single replica
    /// set up before this rule) is still accepted.
    pub fn require_shared_kek(&self, data_dir: &Path) -> Result<(), ConfigError> {
        let local = data_dir.join(KEK_FILE_NAME);
        if self.key_encryption_key.is_some()
            || self.key_encryption_key_file.is_some()
            || local.exists()
        {
            return Ok(());
        }
        Err(ConfigError::Missing {
            key: format!("{KEK_ENV} (or --key-encryption-key-file)"),
            reason: format!(
                "required with a PostgreSQL database. Replicas sharing the database must seal \
                 and open the signing keys with the same key, and one generated into {} would \
                 be this replica's alone. Give every replica the same 32 random bytes, base64 \
                 (e.g. `head -c32 /dev/urandom | base64`), in {KEK_ENV} or a file named by \
                 GANTRY_KEY_ENCRYPTION_KEY_FILE / --key-encryption-key-file",
                local.display()
            ),
        })
    }
}

fn kek_env_invalid(reason: String) -> ConfigError {
    super::Key {
        written: KEK_ENV.to_owned(),
        flag: KEK_ENV.to_owned(),
        origin: super::Origin::Environment,
    }
    .invalid(reason)
}
