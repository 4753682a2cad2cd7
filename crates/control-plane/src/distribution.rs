//! The control plane's side of distribution: build each environment's snapshot from the
//! store, publish new versions to the local [`Distributor`], tell other replicas
//! (PostgreSQL NOTIFY), learn of theirs (LISTEN + a periodic reconcile), and let the gRPC
//! sync server check gateway tokens and record what each gateway applied.

use std::collections::HashMap;
use std::time::Duration;

use gantry_model::GatewaySnapshot;
use gantry_store::{environments, gateways};
use gantry_sync::server::{AccessDenied, GatewayAccess, NodeEvent};
use tokio_util::sync::CancellationToken;

use crate::AppState;
use crate::error::ApiError;

/// How often a replica compares its published versions with the store's.
pub const RECONCILE_INTERVAL: Duration = Duration::from_secs(5);

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

    /// After a change: for every environment whose configuration now differs from what was
    /// published, bump its version, publish, and notify the other replicas. Environments the
    /// change does not touch keep their version and hear nothing. Returns the new versions.
    ///
    /// The change is committed before; a failure here leaves gateways one version behind
    /// until the next change or reconcile. It is reported, never silently dropped.
    pub async fn sync_environments(&self) -> Result<HashMap<String, u64>, ApiError> {
        let mut changed = HashMap::new();
        for env in environments::list(self.store()).await? {
            let mut snapshot = self.build_snapshot(&env.name).await?;
            if let Some(latest) = self.distributor().latest(&env.name) {
                let mut same = snapshot.clone();
                same.version = latest.snapshot.version;
                if same == latest.snapshot {
                    continue;
                }
            }
            let version = u64::try_from(environments::bump_version(self.store(), &env.name).await?)
                .unwrap_or(0);
            snapshot.version = version;
            let apis = snapshot.apis.len();
            if self.distributor().publish(snapshot) {
                tracing::info!(environment = %env.name, version, apis, "configuration published");
                self.metrics().published(&env.name, version);
            }
            if let Err(error) = self.store().notify_change(&env.name).await {
                tracing::warn!(environment = %env.name, %error, "could not notify other replicas; they catch up on reconcile");
            }
            changed.insert(env.name, version);
        }
        Ok(changed)
    }

    /// Publishes, at the store's version, every environment this replica is behind on.
    pub async fn reconcile(&self) -> Result<(), ApiError> {
        for env in environments::list(self.store()).await? {
            let stored = u64::try_from(env.config_version).unwrap_or(0);
            let behind = self
                .distributor()
                .latest(&env.name)
                .is_none_or(|l| l.snapshot.version < stored);
            if behind {
                let mut snapshot = self.build_snapshot(&env.name).await?;
                snapshot.version = stored;
                let apis = snapshot.apis.len();
                if self.distributor().publish(snapshot) {
                    tracing::info!(environment = %env.name, version = stored, apis, "configuration loaded from the store");
                    self.metrics().published(&env.name, stored);
                }
            }
        }
        Ok(())
    }

    /// Keeps this replica's snapshots current with changes made by other replicas: LISTEN
    /// on PostgreSQL, and a reconcile every [`RECONCILE_INTERVAL`] so a missed notification
    /// costs seconds, not correctness.
    pub async fn follow_changes(self, shutdown: CancellationToken) {
        let mut listener = match self.store().change_listener().await {
            Ok(listener) => listener,
            Err(error) => {
                tracing::warn!(%error, "cannot LISTEN for changes; relying on the periodic reconcile");
                None
            }
        };
        let mut tick = tokio::time::interval(RECONCILE_INTERVAL);
        let mut jwks_tick =
            tokio::time::interval(crate::admin::key_managers::JWKS_REFRESH_INTERVAL);
        jwks_tick.tick().await;
        loop {
            let notified = async {
                match listener.as_mut() {
                    Some(l) => l.next().await.map(Some),
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tick.tick() => {}
                _ = jwks_tick.tick() => {
                    if let Err(error) = crate::admin::key_managers::refresh_jwks(&self).await {
                        tracing::warn!(%error, "refreshing external issuers' keys failed");
                    }
                    continue;
                }
                result = notified => if let Err(error) = result {
                    tracing::warn!(%error, "change listener failed; reconnecting on the next event");
                },
            }
            if let Err(error) = self.reconcile().await {
                tracing::warn!(%error, "reconcile failed");
            }
        }
    }
}

/// Gateway authentication and bookkeeping for the sync server, backed by the store.
pub struct StoreAccess {
    state: AppState,
}

impl StoreAccess {
    /// Access checks over `state`'s store.
    pub fn new(state: AppState) -> Self {
        Self { state }
    }
}

impl GatewayAccess for StoreAccess {
    async fn authenticate(&self, token: &str, environment: &str) -> Result<String, AccessDenied> {
        let hash = gantry_keys::secret::hash_secret(token);
        let store = self.state.store();
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
        gateways::token_is_active(self.state.store(), token_id)
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
            NodeEvent::Connected {
                build,
                held_version,
            } => {
                gateways::node_connected(store, environment, node_id, &build, held_version as i64)
                    .await
            }
            NodeEvent::Acked(version) => {
                gateways::node_acked(store, environment, node_id, version as i64).await
            }
            NodeEvent::Nacked(version, reason) => {
                gateways::node_nacked(store, environment, node_id, version as i64, &reason).await
            }
            NodeEvent::Seen => gateways::node_seen(store, environment, node_id, true).await,
            NodeEvent::Disconnected => {
                gateways::node_seen(store, environment, node_id, false).await
            }
        };
        if let Err(error) = result {
            tracing::warn!(%environment, %node_id, %error, "could not record gateway state");
        }
    }
}
