//! The control plane's side of distribution: build each environment's snapshot from the
//! store, publish new versions to the local [`Distributor`], tell other replicas
//! (PostgreSQL NOTIFY), learn of theirs (LISTEN + a periodic reconcile), and let the gRPC
//! sync server check gateway tokens and record what each gateway applied.
//!
//! The store records, per environment, the version and the digest of the configuration
//! gateways receive at it. A replica raises the version only when what it builds differs
//! from that record (compare-and-set, in one transaction with the NOTIFY and the marking
//! of the deployments it carries), so a change committed without its version bump (the
//! connection lost in between, the process killed) is found by the next comparison and
//! published, instead of being reported deployed and never served.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use gantry_model::GatewaySnapshot;
use gantry_store::environments::Environment;
use gantry_store::{Change, apis, environments, gateways};
use gantry_sync::Versioned;
use gantry_sync::server::{AccessDenied, GatewayAccess, NodeEvent};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::AppState;
use crate::error::ApiError;

/// How often a replica compares its published versions with the store's, by default.
pub const RECONCILE_INTERVAL: Duration = Duration::from_secs(5);
/// How often a replica also rebuilds every environment and compares the digest with the
/// store's record (besides at start, after a database outage and after a failed publish).
pub const AUDIT_INTERVAL: Duration = Duration::from_secs(60);
/// Pause before the LISTEN connection is tried again after it failed.
const LISTEN_RETRY: Duration = Duration::from_millis(500);

/// This replica's bookkeeping of distribution, kept in [`AppState`].
#[derive(Debug)]
pub struct SyncState {
    /// A publish failed or the database was away: the next reconcile compares contents.
    suspect: AtomicBool,
    reconcile_interval: Duration,
}

impl Default for SyncState {
    fn default() -> Self {
        Self::new(RECONCILE_INTERVAL)
    }
}

impl SyncState {
    /// Reconciling every `reconcile_interval`.
    pub fn new(reconcile_interval: Duration) -> Self {
        Self {
            suspect: AtomicBool::new(false),
            reconcile_interval,
        }
    }
}

/// Why an environment is being synchronised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Trigger {
    /// This replica just changed something gateways must learn.
    Change,
    /// Comparing with the store (start, timer, another replica's NOTIFY).
    Reconcile,
}

/// The (API or product id, revision id) pairs a snapshot serves.
fn served(snapshot: &GatewaySnapshot) -> HashSet<(&str, &str)> {
    let products = snapshot
        .products
        .iter()
        .map(|p| (p.product_id.as_str(), p.revision_id.as_str()));
    snapshot
        .apis
        .iter()
        .map(|a| (a.api_id.as_str(), a.revision_id.as_str()))
        .chain(products)
        .collect()
}

impl AppState {
    pub(crate) async fn build_snapshot(
        &self,
        environment: &str,
    ) -> Result<GatewaySnapshot, ApiError> {
        let mut snapshot =
            gantry_store::snapshot::build(self.store(), environment, self.issuer().issuer())
                .await?;
        snapshot.issuers = self.trusted_issuers();
        snapshot
            .issuers
            .extend(crate::admin::key_managers::external_issuers(self).await?);
        snapshot.normalize();
        Ok(snapshot)
    }

    /// After a change: for every environment whose configuration now differs from the
    /// store's record, raise its version, publish, and notify the other replicas.
    /// Environments the change does not touch keep their version and hear nothing. Returns
    /// the new versions.
    ///
    /// The change is committed before; when this fails (the database went away between
    /// the two), the caller answers an error and the next reconcile, which compares
    /// contents, publishes the change.
    pub async fn sync_environments(&self) -> Result<HashMap<String, u64>, ApiError> {
        let result = self.sync_all(Trigger::Change).await;
        if result.is_err() {
            self.sync_state().suspect.store(true, Ordering::Relaxed);
        }
        result
    }

    /// Rebuilds every environment and brings what this replica publishes in line with the
    /// store: catches up with versions other replicas raised, and raises the version where
    /// the store holds a change no version carries yet.
    pub async fn reconcile(&self) -> Result<(), ApiError> {
        self.sync_all(Trigger::Reconcile).await.map(drop)
    }

    async fn sync_all(&self, trigger: Trigger) -> Result<HashMap<String, u64>, ApiError> {
        let mut changed = HashMap::new();
        for env in environments::list(self.store()).await? {
            let name = env.name.clone();
            if let Some(version) = self.sync_environment(env, trigger).await? {
                changed.insert(name, version);
            }
        }
        Ok(changed)
    }

    /// The cheap periodic check: publishes, at the store's version, every environment this
    /// replica is behind on, and marks deployments a published version already carries.
    async fn catch_up(&self) -> Result<(), ApiError> {
        for env in environments::list(self.store()).await? {
            let stored = u64::try_from(env.config_version).unwrap_or(0);
            match self.distributor().latest(&env.name) {
                Some(latest) if latest.snapshot.version >= stored => {
                    let current =
                        latest.snapshot.version == stored && latest.digest == env.config_digest;
                    if current && apis::has_pending(self.store(), &env.name).await? {
                        apis::stamp_served(
                            self.store(),
                            &env.name,
                            env.config_version,
                            &env.config_digest,
                            &served(&latest.snapshot),
                        )
                        .await?;
                    }
                }
                _ => {
                    self.sync_environment(env, Trigger::Reconcile).await?;
                }
            }
        }
        Ok(())
    }

    /// Brings one environment in line with the store's record; the version it raised the
    /// environment to, if it did.
    async fn sync_environment(
        &self,
        mut env: Environment,
        trigger: Trigger,
    ) -> Result<Option<u64>, ApiError> {
        // Each turn that loses the compare-and-set to another replica reads again.
        for _ in 0..4 {
            let stored = u64::try_from(env.config_version).unwrap_or(0);
            let mut snapshot = self.build_snapshot(&env.name).await?;
            snapshot.version = stored;
            let at_record = Versioned::new(snapshot);
            let latest = self.distributor().latest(&env.name);
            let raise = if at_record.digest == env.config_digest {
                // The store's record describes exactly this configuration.
                match &latest {
                    Some(l) if l.snapshot.version > stored => return Ok(None),
                    Some(l) if l.snapshot.version == stored && l.digest == at_record.digest => {
                        if apis::has_pending(self.store(), &env.name).await? {
                            apis::stamp_served(
                                self.store(),
                                &env.name,
                                env.config_version,
                                &env.config_digest,
                                &served(&l.snapshot),
                            )
                            .await?;
                        }
                        return Ok(None);
                    }
                    // This replica sent other contents at this version: only a newer one
                    // reaches its gateways.
                    Some(l) if l.snapshot.version == stored => true,
                    _ => {
                        self.publish(&env.name, at_record, "configuration loaded from the store");
                        return Ok(None);
                    }
                }
            } else {
                // The store holds something no version carries: this replica's own change,
                // or one whose bump was lost. A replica that does not agree with the record
                // (its keys or issuer differ) leaves it to the one that wrote it, or replicas
                // would take turns raising the version.
                let agrees = latest
                    .as_ref()
                    .is_none_or(|l| l.snapshot.version == stored && l.digest == env.config_digest);
                // Such a replica still publishes its own changes, not its unchanged view.
                let changed_here = latest
                    .as_ref()
                    .is_none_or(|l| l.snapshot.version != stored || l.digest != at_record.digest);
                agrees || (trigger == Trigger::Change && changed_here)
            };
            if !raise {
                if latest.is_none_or(|l| l.snapshot.version < stored) {
                    self.publish(&env.name, at_record, "configuration loaded from the store");
                }
                return Ok(None);
            }
            let mut next = at_record.snapshot;
            next.version = stored + 1;
            let next = Versioned::new(next);
            let advanced = environments::advance(
                self.store(),
                &env.name,
                env.config_version,
                &next.digest,
                &served(&next.snapshot),
            )
            .await?;
            if advanced.is_some() {
                // A record exists yet no version carries what the store holds: a change
                // whose publish failed (or a replica killed in between) is published now.
                if trigger == Trigger::Reconcile && !env.config_digest.is_empty() {
                    tracing::warn!(environment = %env.name, version = stored + 1, "published a change the store held without a version (its publish had failed)");
                }
                self.publish(&env.name, next, "configuration published");
                return Ok(Some(stored + 1));
            }
            env = environments::find_by_name(self.store(), &env.name)
                .await?
                .ok_or_else(|| ApiError::not_found("environment", &env.name))?;
        }
        tracing::warn!(environment = %env.name, "the version kept moving; the next reconcile publishes");
        self.sync_state().suspect.store(true, Ordering::Relaxed);
        Ok(None)
    }

    fn publish(&self, environment: &str, versioned: Versioned, what: &'static str) {
        let (version, apis) = (versioned.snapshot.version, versioned.snapshot.apis.len());
        if self.distributor().publish_versioned(versioned) {
            tracing::info!(%environment, version, apis, "{what}");
            self.metrics().published(environment, version);
        }
    }

    /// Keeps this replica's snapshots current with changes made by other replicas and with
    /// the database's health: LISTEN on PostgreSQL (reconnected by itself after an outage),
    /// a cheap catch-up every reconcile interval, and a full comparison of contents at
    /// start-up, every [`AUDIT_INTERVAL`], when the database comes back and after a failed
    /// publish. Also runs the database health monitor.
    pub async fn follow_changes(self, shutdown: CancellationToken) {
        let monitor = tokio::spawn({
            let store = self.store().clone();
            async move { store.monitor_health().await }
        });
        // The gauge follows the health state on its own: the loop below may be waiting on
        // the database (a catch-up begun just before it went silent) when the state turns.
        let gauge = tokio::spawn({
            let state = self.clone();
            let mut health = self.store().health().subscribe();
            async move {
                while health.changed().await.is_ok() {
                    let up = *health.borrow_and_update();
                    state.metrics().database_up(up);
                }
            }
        });
        let mut health = self.store().health().subscribe();
        let mut listener = self.store().change_listener();
        let mut listen_after: Option<Instant> = None;
        let mut tick = tokio::time::interval(self.sync_state().reconcile_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_audit = Instant::now();
        let mut jwks_tick =
            tokio::time::interval(crate::admin::key_managers::JWKS_REFRESH_INTERVAL);
        jwks_tick.tick().await;
        loop {
            let up = *health.borrow_and_update();
            let notified = async {
                match listener.as_mut() {
                    Some(l) if up => {
                        if let Some(at) = listen_after {
                            tokio::time::sleep_until(at).await;
                        }
                        l.next().await
                    }
                    _ => std::future::pending().await,
                }
            };
            let mut full = false;
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tick.tick() => {}
                _ = jwks_tick.tick() => {
                    if up && let Err(error) = crate::admin::key_managers::refresh_jwks(&self).await {
                        tracing::warn!(%error, "refreshing external issuers' keys failed");
                    }
                    continue;
                }
                changed = health.changed() => {
                    let up = changed.is_ok() && *health.borrow();
                    if !up {
                        continue;
                    }
                    // Back from an outage: the LISTEN connection may be dead without knowing
                    // it, and a change may have been committed without its publish.
                    if let Some(l) = listener.as_mut() {
                        l.reset();
                    }
                    listen_after = None;
                    full = true;
                }
                heard = notified => match heard {
                    Ok(Change::Environment(_)) => {}
                    Ok(Change::Reconnected) => {
                        tracing::info!("listening for other replicas' changes");
                        listen_after = None;
                    }
                    Err(error) => {
                        tracing::warn!(%error, "change listener lost its connection; reconnecting");
                        listen_after = Some(Instant::now() + LISTEN_RETRY);
                        continue;
                    }
                },
            }
            if !self.store().health().is_up() {
                self.sync_state().suspect.store(true, Ordering::Relaxed);
                continue;
            }
            let audit = self.sync_state().suspect.swap(false, Ordering::Relaxed)
                || last_audit.elapsed() >= AUDIT_INTERVAL;
            let result = if full || audit {
                last_audit = Instant::now();
                self.reconcile().await
            } else {
                self.catch_up().await
            };
            if let Err(error) = result {
                tracing::warn!(%error, "reconcile failed; comparing contents on the next one");
                self.sync_state().suspect.store(true, Ordering::Relaxed);
            }
        }
        monitor.abort();
        gauge.abort();
    }
}

/// Gateway authentication and bookkeeping for the sync server, backed by the store.
///
/// While the database is down nothing waits for it: a connecting gateway is told to retry,
/// a connected one keeps its stream, and what could not be recorded (a connection, the
/// last ACK) is recorded with the next heartbeat after the database is back, so the
/// gateway counts do not stay behind.
pub struct StoreAccess {
    state: AppState,
    unrecorded: std::sync::Mutex<HashMap<(String, String), Unrecorded>>,
}

/// What a node's session could not write to the store yet.
#[derive(Debug, Default)]
struct Unrecorded {
    connected: Option<(String, u64)>,
    acked: Option<u64>,
}

impl StoreAccess {
    /// Access checks over `state`'s store.
    pub fn new(state: AppState) -> Self {
        Self {
            state,
            unrecorded: std::sync::Mutex::default(),
        }
    }

    fn unrecorded(&self) -> std::sync::MutexGuard<'_, HashMap<(String, String), Unrecorded>> {
        self.unrecorded
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Writes `event`; what could not be written is kept for the next heartbeat.
    async fn write(
        &self,
        environment: &str,
        node_id: &str,
        event: NodeEvent,
    ) -> Result<(), gantry_store::StoreError> {
        let store = self.state.store();
        let key = (environment.to_owned(), node_id.to_owned());
        let mut pending = self.unrecorded().remove(&key).unwrap_or_default();
        match event {
            NodeEvent::Connected {
                build,
                held_version,
            } => {
                pending = Unrecorded {
                    connected: Some((build, held_version)),
                    acked: None,
                }
            }
            NodeEvent::Acked(version) => pending.acked = Some(version),
            NodeEvent::Nacked(..)
            | NodeEvent::Seen
            | NodeEvent::Disconnected
            | NodeEvent::Traffic(_) => {}
        }
        let result = async {
            if !store.health().is_up() {
                return Err(gantry_store::StoreError::unavailable());
            }
            if let Some((build, held)) = &pending.connected {
                gateways::node_connected(store, environment, node_id, build, *held as i64).await?;
                pending.connected = None;
            }
            if let Some(version) = pending.acked {
                gateways::node_acked(store, environment, node_id, version as i64).await?;
                pending.acked = None;
            }
            Ok(())
        }
        .await;
        if pending.connected.is_some() || pending.acked.is_some() {
            self.unrecorded().insert(key, pending);
        }
        result
    }
}

impl GatewayAccess for StoreAccess {
    async fn authenticate(&self, token: &str, environment: &str) -> Result<String, AccessDenied> {
        let store = self.state.store();
        if !store.health().is_up() {
            return Err(AccessDenied::Unavailable);
        }
        let hash = gantry_keys::secret::hash_secret(token);
        let found = gateways::find_active_token(store, &hash)
            .await
            .map_err(|_| AccessDenied::Unavailable)?;
        let Some(found) = found else {
            return Err(AccessDenied::BadToken);
        };
        if found.environment != environment {
            return Err(AccessDenied::WrongEnvironment);
        }
        match environments::find_by_name(store, environment).await {
            Ok(Some(_)) => Ok(found.id),
            Ok(None) => Err(AccessDenied::UnknownEnvironment),
            Err(_) => Err(AccessDenied::Unavailable),
        }
    }

    async fn still_valid(&self, token_id: &str) -> bool {
        // A store outage must not disconnect every gateway: only a definite "revoked" does.
        let store = self.state.store();
        !store.health().is_up()
            || gateways::token_is_active(store, token_id)
                .await
                .unwrap_or(true)
    }

    async fn record(&self, environment: &str, node_id: &str, event: NodeEvent) {
        let store = self.state.store();
        match &event {
            NodeEvent::Connected { .. } => self.state.metrics().gateway_connected(environment, 1),
            NodeEvent::Disconnected => self.state.metrics().gateway_connected(environment, -1),
            _ => {}
        }
        let result = match event {
            // Counts lost while the database is away only thin the analysis out.
            NodeEvent::Traffic(revisions) if store.health().is_up() => {
                gantry_store::traffic::record(store, environment, node_id, &revisions).await
            }
            NodeEvent::Traffic(_) => Ok(()),
            NodeEvent::Nacked(version, reason) if store.health().is_up() => {
                gateways::node_nacked(store, environment, node_id, version as i64, &reason).await
            }
            NodeEvent::Seen | NodeEvent::Disconnected => {
                let connected = event == NodeEvent::Seen;
                let written = self.write(environment, node_id, event).await;
                if !connected {
                    // The session is over: what it could not record is moot.
                    self.unrecorded()
                        .remove(&(environment.to_owned(), node_id.to_owned()));
                }
                match written {
                    Ok(()) => gateways::node_seen(store, environment, node_id, connected).await,
                    Err(e) => Err(e),
                }
            }
            other => self.write(environment, node_id, other).await,
        };
        match result {
            Ok(()) => {}
            Err(error) if error.is_unavailable() => {
                tracing::debug!(%environment, %node_id, %error, "gateway state not recorded while the database is away; retried with the next heartbeat");
            }
            Err(error) => {
                tracing::warn!(%environment, %node_id, %error, "could not record gateway state");
            }
        }
    }
}
