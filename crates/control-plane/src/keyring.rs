//! The key manager's signing keys at run time: loads them from the store (decrypting with
//! the key-encryption key), carries out rotations planned by [`gantry_keys::lifecycle`],
//! installs the result in the [`TokenIssuer`] and republishes gateway snapshots so every
//! gateway learns a `next` key before it signs and keeps a `retired` one until its tokens
//! have expired.
//!
//! Rotation runs at start, on a schedule ([`run_schedule`]) and on demand (Admin API).

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use gantry_keys::lifecycle::{self, KeyState, KeyStatus, RotationPolicy, Transition, Trigger};
use gantry_keys::{Jwk, KeyEncryptionKey, KeyError, SigningAlgorithm, SigningKey, TokenIssuer};
use gantry_store::signing_keys::{self, KeyChange, NewKey, StoredKey};
use gantry_store::{Store, StoreError, applications, authorization_codes, now_ms};
use gantry_store::{refresh_tokens, revoked_tokens};
use tokio_util::sync::CancellationToken;

use crate::AppState;

/// Lifetime assumed for tokens when no client exists yet (WSO2's default, seconds).
const DEFAULT_TOKEN_LIFETIME_SECS: i64 = 3600;

/// Why the key ring could not do its work.
#[derive(Debug, thiserror::Error)]
pub enum KeyRingError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A key could not be generated, sealed or opened.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// The stored keys are in a state no rotation can repair.
    #[error("{0}")]
    Inconsistent(String),
}

/// What the gateways' credential key is derived for (HKDF info).
pub const CREDENTIAL_KEY_PURPOSE: &str = "gantry gateway credentials v1";

/// How signing keys are made, kept and rotated.
#[derive(Debug)]
pub struct KeyRing {
    kek: KeyEncryptionKey,
    algorithm: SigningAlgorithm,
    policy: RotationPolicy,
    retire_grace: Duration,
}

/// A stored key as the API shows it (no private material).
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyInfo {
    /// Key id.
    pub kid: String,
    /// JWS algorithm.
    pub algorithm: String,
    /// `next`, `active`, `retired`, `removed`.
    pub state: String,
    /// Epoch ms.
    pub created_at: i64,
    /// Epoch ms.
    pub activated_at: Option<i64>,
    /// Epoch ms.
    pub retired_at: Option<i64>,
    /// Epoch ms.
    pub remove_after: Option<i64>,
}

impl KeyRing {
    /// Keys sealed under `kek`, new ones generated for `algorithm`, rotated by `policy`;
    /// a retired key stays published for the longest token lifetime plus `retire_grace`
    /// (clock skew: gateways accept a token up to 30 s past its `exp`).
    pub fn new(
        kek: KeyEncryptionKey,
        algorithm: SigningAlgorithm,
        policy: RotationPolicy,
        retire_grace: Duration,
    ) -> Self {
        Self {
            kek,
            algorithm,
            policy,
            retire_grace,
        }
    }

    /// The rotation policy.
    pub fn policy(&self) -> RotationPolicy {
        self.policy
    }

    /// The key AI APIs' provider credentials are sealed under for gateways, and its base64
    /// text (for `gantry gateway --credential-key`): derived from the key-encryption key, so
    /// a gateway holding it opens those credentials and nothing else (no signing key).
    pub fn credential_key(&self) -> Result<(KeyEncryptionKey, String), KeyRingError> {
        Ok(self.kek.derive(CREDENTIAL_KEY_PURPOSE)?)
    }

    /// Prepares the keys at start (first key, sealing of old plain rows, overdue rotation)
    /// and returns an issuer signing with the active key.
    pub async fn start(&self, store: &Store, issuer: &str) -> Result<TokenIssuer, KeyRingError> {
        self.seal_plain_rows(store).await?;
        self.apply_plan(store, Trigger::Scheduled).await?;
        let (active, others) = self.load(store).await?;
        Ok(TokenIssuer::with_keys(issuer, active, others))
    }

    /// Runs a rotation (`trigger`), installs the resulting keys in `state`'s issuer and
    /// republishes gateway snapshots when anything changed. Returns whether it did.
    pub async fn rotate(&self, state: &AppState, trigger: Trigger) -> Result<bool, KeyRingError> {
        let changed = self.apply_plan(state.store(), trigger).await?;
        if changed {
            let (active, others) = self.load(state.store()).await?;
            tracing::info!(kid = active.kid(), ?trigger, "signing keys rotated");
            state.issuer().install(active, others);
            if let Err(error) = state.sync_environments().await {
                tracing::error!(%error, "could not republish snapshots after a key rotation");
            }
        }
        Ok(changed)
    }

    /// Reloads the keys into `state`'s issuer when the stored published set or active key
    /// differs from the installed one (another replica rotated). Returns whether it did.
    pub async fn reload_if_changed(&self, state: &AppState) -> Result<bool, KeyRingError> {
        let mut stored_active = None;
        let mut stored: Vec<String> = Vec::new();
        for key in signing_keys::list(state.store()).await? {
            match KeyState::parse(&key.state) {
                Some(KeyState::Active) => {
                    stored_active = Some(key.kid.clone());
                    stored.push(key.kid);
                }
                Some(s) if s.is_published() => stored.push(key.kid),
                _ => {}
            }
        }
        let keys = state.issuer().keys();
        let mut installed: Vec<String> = keys.published().iter().map(|k| k.kid.clone()).collect();
        stored.sort();
        installed.sort();
        if stored == installed && stored_active.as_deref() == Some(keys.active().kid()) {
            return Ok(false);
        }
        let (active, others) = self.load(state.store()).await?;
        tracing::info!(
            kid = active.kid(),
            "signing keys reloaded (rotated elsewhere)"
        );
        state.issuer().install(active, others);
        state
            .sync_environments()
            .await
            .map_err(|e| KeyRingError::Inconsistent(e.to_string()))?;
        Ok(true)
    }

    /// Every stored key, for the Admin API.
    pub async fn list(store: &Store) -> Result<Vec<KeyInfo>, KeyRingError> {
        Ok(signing_keys::list(store)
            .await?
            .into_iter()
            .map(|k| KeyInfo {
                kid: k.kid,
                algorithm: k.algorithm,
                state: k.state,
                created_at: k.created_at,
                activated_at: k.activated_at,
                retired_at: k.retired_at,
                remove_after: k.remove_after,
            })
            .collect())
    }

    /// Plans and applies one rotation; true when keys changed. A concurrent rotation by
    /// another replica wins: this one then changes nothing.
    async fn apply_plan(&self, store: &Store, trigger: Trigger) -> Result<bool, KeyRingError> {
        let stored = signing_keys::list(store).await?;
        let statuses = stored
            .iter()
            .map(status_of)
            .collect::<Result<Vec<_>, _>>()?;
        let steps = lifecycle::plan(&statuses, self.policy, trigger, now_ms());
        if steps.is_empty() {
            return Ok(false);
        }
        let mut changes = Vec::with_capacity(steps.len());
        for step in steps {
            changes.push(match step {
                Transition::Generate(state) => KeyChange::Insert(self.generate(state).await?),
                Transition::Activate(kid) => KeyChange::Activate { kid },
                Transition::Retire(kid) => KeyChange::Retire {
                    kid,
                    remove_after: now_ms() + self.max_token_lifetime_ms(store).await?,
                },
                Transition::Remove(kid) => KeyChange::Remove { kid },
            });
        }
        match signing_keys::apply(store, &changes).await {
            Ok(()) => Ok(true),
            Err(StoreError::Conflict(reason)) => {
                tracing::info!(%reason, "another control plane rotated the keys first");
                Ok(true)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// How long a token signed now may live: the longest client validity (WSO2's default
    /// when there is no client yet), plus the grace for clock skew.
    async fn max_token_lifetime_ms(&self, store: &Store) -> Result<i64, KeyRingError> {
        let secs = match applications::max_validity_period(store).await? {
            0 => DEFAULT_TOKEN_LIFETIME_SECS,
            longest => longest,
        };
        let grace = i64::try_from(self.retire_grace.as_millis()).unwrap_or(i64::MAX);
        Ok(secs.saturating_mul(1000).saturating_add(grace))
    }

    async fn generate(&self, state: KeyState) -> Result<NewKey, KeyRingError> {
        let algorithm = self.algorithm;
        let key = tokio::task::spawn_blocking(move || SigningKey::generate(algorithm))
            .await
            .map_err(|e| KeyError::Generate(e.to_string()))??;
        tracing::info!(
            kid = key.kid(),
            alg = algorithm.as_str(),
            state = state.as_str(),
            "signing key generated"
        );
        Ok(NewKey {
            kid: key.kid().to_owned(),
            algorithm: algorithm.as_str().to_owned(),
            sealed_private_key: self.kek.seal(key.kid(), key.pkcs8())?,
            state: state.as_str(),
        })
    }

    /// The active key (decrypted) and the public keys of the other published ones.
    async fn load(&self, store: &Store) -> Result<(SigningKey, Vec<Jwk>), KeyRingError> {
        let mut active = None;
        let mut others = Vec::new();
        for row in signing_keys::list(store).await? {
            let state = KeyState::parse(&row.state).ok_or_else(|| {
                KeyRingError::Inconsistent(format!("key {} has state '{}'", row.kid, row.state))
            })?;
            if !state.is_published() {
                continue;
            }
            let key = self.open(&row)?;
            if state == KeyState::Active && active.is_none() {
                active = Some(key);
            } else {
                others.push(key.public_jwk());
            }
        }
        let active = active
            .ok_or_else(|| KeyRingError::Inconsistent("there is no active signing key".into()))?;
        Ok((active, others))
    }

    fn open(&self, row: &StoredKey) -> Result<SigningKey, KeyRingError> {
        let algorithm = SigningAlgorithm::parse(&row.algorithm).ok_or_else(|| {
            KeyRingError::Inconsistent(format!(
                "key {} has unknown algorithm '{}'",
                row.kid, row.algorithm
            ))
        })?;
        let der = self.kek.open(&row.kid, &row.private_key)?;
        Ok(SigningKey::from_pkcs8(&row.kid, algorithm, &der)?)
    }

    /// Seals rows written before encryption at rest (plain base64 PKCS#8).
    async fn seal_plain_rows(&self, store: &Store) -> Result<(), KeyRingError> {
        for row in signing_keys::list(store).await? {
            if row.private_key.is_empty() || KeyEncryptionKey::is_sealed(&row.private_key) {
                continue;
            }
            let der = B64
                .decode(&row.private_key)
                .map_err(|e| KeyError::InvalidKey(format!("key {}: {e}", row.kid)))?;
            signing_keys::reseal(store, &row.kid, &self.kek.seal(&row.kid, &der)?).await?;
            tracing::info!(kid = %row.kid, "signing key sealed with the key-encryption key");
        }
        Ok(())
    }
}

fn status_of(row: &StoredKey) -> Result<KeyStatus, KeyRingError> {
    Ok(KeyStatus {
        kid: row.kid.clone(),
        state: KeyState::parse(&row.state).ok_or_else(|| {
            KeyRingError::Inconsistent(format!("key {} has state '{}'", row.kid, row.state))
        })?,
        created_at_ms: row.created_at,
        activated_at_ms: row.activated_at,
        remove_after_ms: row.remove_after,
    })
}

/// How often the schedule looks at the keys, for a rotation `period` (0: rotation off; the
/// schedule still removes retired keys and purges expired revocations) and a retire grace:
/// often enough that neither overshoots by much, at most once a minute.
pub fn check_interval(period: Duration, retire_grace: Duration) -> Duration {
    [period / 4, retire_grace]
        .into_iter()
        .filter(|d| !d.is_zero())
        .min()
        .unwrap_or(Duration::from_secs(60))
        .clamp(Duration::from_millis(500), Duration::from_secs(60))
}

/// Rotates when due, removes retired keys whose tokens expired, and purges expired
/// revocations, refresh tokens and codes, every `interval` until `shutdown`.
pub async fn run_schedule(state: AppState, interval: Duration, shutdown: CancellationToken) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticker.tick().await;
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = shutdown.cancelled() => return,
        }
        if !state.store().health().is_up() {
            // The database is away: nothing to rotate or purge until it is back.
            continue;
        }
        let ring = state.key_ring();
        match ring.rotate(&state, Trigger::Scheduled).await {
            Ok(true) => {}
            Ok(false) => {
                if let Err(error) = ring.reload_if_changed(&state).await {
                    tracing::error!(%error, "could not reload the signing keys");
                }
            }
            Err(error) => tracing::error!(%error, "scheduled key rotation failed"),
        }
        let now = now_ms();
        let purged = async {
            Ok::<_, StoreError>(
                revoked_tokens::purge_expired(state.store(), now).await?
                    + refresh_tokens::purge_expired(state.store(), now).await?
                    + authorization_codes::purge_expired(state.store(), now).await?,
            )
        }
        .await;
        match purged {
            Ok(0) => {}
            Ok(rows) => tracing::debug!(rows, "expired grants purged"),
            Err(error) => tracing::warn!(%error, "could not purge expired grants"),
        }
    }
}
