//! The control plane → gateway contract: versioned configuration snapshots per environment.
//!
//! A [`Distributor`] on the control plane side holds the latest [`GatewaySnapshot`] of each
//! environment; a gateway holds a [`SnapshotReceiver`] for its environment and is woken when
//! a newer version is published. `gantry up` wires both halves in one process. The gRPC
//! stream (`gantry.sync.v1`) that carries the same snapshots to gateways in other processes
//! plugs in behind these two types.
#![forbid(unsafe_code)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use gantry_model::GatewaySnapshot;
use tokio::sync::watch;

type Slot = Option<Arc<GatewaySnapshot>>;

/// The control plane's side: publishes snapshots, keeps the latest per environment.
#[derive(Debug, Default)]
pub struct Distributor {
    channels: Mutex<HashMap<String, watch::Sender<Slot>>>,
}

impl Distributor {
    /// An empty distributor.
    pub fn new() -> Self {
        Self::default()
    }

    fn sender(&self, environment: &str) -> watch::Sender<Slot> {
        let mut channels = self.channels.lock().unwrap_or_else(PoisonError::into_inner);
        channels
            .entry(environment.to_owned())
            .or_insert_with(|| watch::channel(None).0)
            .clone()
    }

    /// Publishes `snapshot` to its environment's gateways. A snapshot whose version is not
    /// newer than the one already published is dropped: versions never go backwards.
    /// Returns whether it was published.
    pub fn publish(&self, snapshot: GatewaySnapshot) -> bool {
        let sender = self.sender(&snapshot.environment);
        let version = snapshot.version;
        let environment = snapshot.environment.clone();
        let snapshot = Arc::new(snapshot);
        let published = sender.send_if_modified(|slot| match slot {
            Some(current) if current.version >= version => false,
            _ => {
                *slot = Some(snapshot);
                true
            }
        });
        if published {
            tracing::debug!(%environment, version, "snapshot published");
        }
        published
    }

    /// A receiver for `environment`; it sees the latest snapshot at once, if there is one.
    pub fn subscribe(&self, environment: &str) -> SnapshotReceiver {
        SnapshotReceiver {
            rx: self.sender(environment).subscribe(),
        }
    }

    /// The latest published snapshot of `environment`.
    pub fn latest(&self, environment: &str) -> Option<Arc<GatewaySnapshot>> {
        self.sender(environment).borrow().clone()
    }
}

/// A gateway's side: yields each newer snapshot of one environment.
#[derive(Debug, Clone)]
pub struct SnapshotReceiver {
    rx: watch::Receiver<Slot>,
}

impl SnapshotReceiver {
    /// The snapshot held now, if any (marks it seen).
    pub fn current(&mut self) -> Option<Arc<GatewaySnapshot>> {
        self.rx.borrow_and_update().clone()
    }

    /// Waits for a snapshot not yet seen; `None` once the distributor is gone.
    pub async fn next(&mut self) -> Option<Arc<GatewaySnapshot>> {
        loop {
            self.rx.changed().await.ok()?;
            if let Some(snapshot) = self.rx.borrow_and_update().clone() {
                return Some(snapshot);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot(env: &str, version: u64) -> GatewaySnapshot {
        GatewaySnapshot {
            environment: env.into(),
            version,
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn receiver_sees_newer_versions_of_its_environment_only() {
        let d = Distributor::new();
        let mut rx = d.subscribe("dp-prod-a");
        assert!(d.publish(snapshot("dp-prod-a", 1)));
        assert!(d.publish(snapshot("dp-prod-b", 7)));
        assert_eq!(rx.next().await.unwrap().version, 1);
        assert!(
            !d.publish(snapshot("dp-prod-a", 1)),
            "same version is not republished"
        );
        assert!(d.publish(snapshot("dp-prod-a", 3)));
        assert_eq!(rx.next().await.unwrap().version, 3);
        assert_eq!(rx.current().unwrap().environment, "dp-prod-a");
    }

    #[tokio::test]
    async fn late_subscriber_gets_the_latest_at_once() {
        let d = Distributor::new();
        d.publish(snapshot("Default", 4));
        let mut rx = d.subscribe("Default");
        assert_eq!(rx.current().unwrap().version, 4);
    }
}
