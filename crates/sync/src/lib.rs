//! The control plane → gateway contract: versioned configuration snapshots per environment,
//! and the `gantry.sync.v1` gRPC stream that carries them to gateways in other processes.
//!
//! - [`Distributor`] (control plane) holds the latest snapshot of each environment and a
//!   short history; [`SnapshotReceiver`] wakes on each new version. `gantry up` wires a
//!   gateway to it in-process.
//! - [`server::SyncService`] serves the stream: authenticates a gateway, sends a snapshot or
//!   the delta since the version it holds, then one update per new version, and records
//!   its ACKs and NACKs.
//! - [`client::run`] is the gateway's half: connects with backoff and jitter, applies what
//!   it receives through an [`client::Applier`], and answers ACK or NACK.
#![forbid(unsafe_code)]

pub mod client;
pub mod distributor;
pub mod server;

/// Code generated from `proto/gantry/sync/v1/sync.proto` (checked in; see tests/bootstrap.rs).
#[allow(missing_docs, clippy::all, clippy::pedantic, rust_2018_idioms)]
pub mod proto {
    include!("gen/gantry.sync.v1.rs");
}

use gantry_model::GatewaySnapshot;

pub use distributor::{Distributor, SnapshotReceiver};

/// A snapshot with the digest of its canonical JSON.
#[derive(Debug, Clone, PartialEq)]
pub struct Versioned {
    /// The snapshot, normalised.
    pub snapshot: GatewaySnapshot,
    /// Hex SHA-256 of its canonical JSON.
    pub digest: String,
}

impl Versioned {
    /// Normalises `snapshot` and computes its digest.
    pub fn new(mut snapshot: GatewaySnapshot) -> Self {
        snapshot.normalize();
        let digest = digest(&snapshot);
        Self { snapshot, digest }
    }

    /// The canonical JSON encoding.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(&self.snapshot).unwrap_or_default()
    }
}

/// Hex SHA-256 of the JSON of a (normalised) snapshot.
pub fn digest(snapshot: &GatewaySnapshot) -> String {
    let json = serde_json::to_vec(snapshot).unwrap_or_default();
    let hash = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &json);
    hash.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}
