//! The control plane's side of distribution: the latest snapshot of each environment, a
//! short history of recent versions (so a reconnecting gateway can get a delta), and a
//! watch channel per environment that wakes every subscriber on a new version.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};

use gantry_model::GatewaySnapshot;
use tokio::sync::watch;

use crate::Versioned;

/// How many past versions per environment are kept for deltas.
const HISTORY: usize = 32;

type Slot = Option<Arc<Versioned>>;

#[derive(Debug)]
struct Channel {
    sender: watch::Sender<Slot>,
    history: VecDeque<Arc<Versioned>>,
}

/// Publishes snapshots, keeps the latest per environment.
#[derive(Debug, Default)]
pub struct Distributor {
    channels: Mutex<HashMap<String, Channel>>,
}

impl Distributor {
    /// An empty distributor.
    pub fn new() -> Self {
        Self::default()
    }

    fn with_channel<R>(&self, environment: &str, f: impl FnOnce(&mut Channel) -> R) -> R {
        let mut channels = self.channels.lock().unwrap_or_else(PoisonError::into_inner);
        let channel = channels
            .entry(environment.to_owned())
            .or_insert_with(|| Channel {
                sender: watch::channel(None).0,
                history: VecDeque::new(),
            });
        f(channel)
    }

    /// Publishes `snapshot` to its environment's gateways. A snapshot whose version is not
    /// newer than the one already published is dropped: versions never go backwards.
    /// Returns whether it was published.
    pub fn publish(&self, snapshot: GatewaySnapshot) -> bool {
        if self
            .latest(&snapshot.environment)
            .is_some_and(|current| current.snapshot.version >= snapshot.version)
        {
            return false;
        }
        // Digest outside the lock: it serialises the whole snapshot.
        self.publish_versioned(Versioned::new(snapshot))
    }

    /// Like [`Distributor::publish`], for a snapshot whose digest is already computed.
    pub fn publish_versioned(&self, versioned: Versioned) -> bool {
        let environment = versioned.snapshot.environment.clone();
        let version = versioned.snapshot.version;
        let versioned = Arc::new(versioned);
        let published = self.with_channel(&environment, |channel| {
            let fresh = channel.sender.send_if_modified(|slot| match slot {
                Some(current) if current.snapshot.version >= version => false,
                _ => {
                    *slot = Some(versioned.clone());
                    true
                }
            });
            if fresh {
                channel.history.push_back(versioned.clone());
                while channel.history.len() > HISTORY {
                    channel.history.pop_front();
                }
            }
            fresh
        });
        if published {
            tracing::debug!(%environment, version, "snapshot published");
        }
        published
    }

    /// A receiver for `environment`; it sees the latest snapshot at once, if there is one.
    pub fn subscribe(&self, environment: &str) -> SnapshotReceiver {
        SnapshotReceiver {
            rx: self.with_channel(environment, |c| c.sender.subscribe()),
        }
    }

    /// The latest published snapshot of `environment`.
    pub fn latest(&self, environment: &str) -> Option<Arc<Versioned>> {
        self.with_channel(environment, |c| c.sender.borrow().clone())
    }

    /// A recently published snapshot of `environment` at exactly `version` with `digest`.
    pub fn find(&self, environment: &str, version: u64, digest: &str) -> Option<Arc<Versioned>> {
        self.with_channel(environment, |c| {
            c.history
                .iter()
                .rev()
                .find(|v| v.snapshot.version == version && v.digest == digest)
                .cloned()
        })
    }

    /// The environments that have a published snapshot, with their versions.
    pub fn versions(&self) -> Vec<(String, u64)> {
        let channels = self.channels.lock().unwrap_or_else(PoisonError::into_inner);
        channels
            .iter()
            .filter_map(|(env, c)| {
                c.sender
                    .borrow()
                    .as_ref()
                    .map(|v| (env.clone(), v.snapshot.version))
            })
            .collect()
    }
}

/// A gateway's side: yields each newer snapshot of one environment.
#[derive(Debug, Clone)]
pub struct SnapshotReceiver {
    rx: watch::Receiver<Slot>,
}

impl SnapshotReceiver {
    /// The snapshot held now, if any (marks it seen).
    pub fn current(&mut self) -> Option<Arc<Versioned>> {
        self.rx.borrow_and_update().clone()
    }

    /// Waits for a snapshot not yet seen; `None` once the distributor is gone.
    pub async fn next(&mut self) -> Option<Arc<Versioned>> {
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
        assert_eq!(rx.next().await.unwrap().snapshot.version, 1);
        assert!(
            !d.publish(snapshot("dp-prod-a", 1)),
            "same version is not republished"
        );
        assert!(d.publish(snapshot("dp-prod-a", 3)));
        assert_eq!(rx.next().await.unwrap().snapshot.version, 3);
        assert_eq!(rx.current().unwrap().snapshot.environment, "dp-prod-a");
    }

    #[tokio::test]
    async fn history_finds_versions_by_digest() {
        let d = Distributor::new();
        d.publish(snapshot("Default", 4));
        let v4 = d.latest("Default").unwrap();
        d.publish(snapshot("Default", 5));
        assert!(d.find("Default", 4, &v4.digest).is_some());
        assert!(d.find("Default", 4, "other").is_none());
        let mut rx = d.subscribe("Default");
        assert_eq!(rx.current().unwrap().snapshot.version, 5);
    }
}
