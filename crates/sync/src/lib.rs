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

    /// A snapshot already normalised, with its known digest (read back from our own disk).
    pub fn trusted(snapshot: GatewaySnapshot, digest: String) -> Self {
        Self { snapshot, digest }
    }

    /// The canonical JSON encoding.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(&self.snapshot).unwrap_or_default()
    }
}

/// Hex SHA-256 of the JSON of a (normalised) snapshot. The JSON is streamed into the
/// hash, never held in memory: a large snapshot costs no second copy.
pub fn digest(snapshot: &GatewaySnapshot) -> String {
    struct Hashing(aws_lc_rs::digest::Context);
    impl std::io::Write for Hashing {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.update(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut hashing = Hashing(aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256));
    // Serialising plain data into an infallible writer cannot fail.
    let _ = serde_json::to_writer(
        std::io::BufWriter::with_capacity(64 * 1024, &mut hashing),
        snapshot,
    );
    let hash = hashing.0.finish();
    hash.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// A revision's traffic as the stream carries it.
pub(crate) fn traffic_to_wire(t: gantry_model::traffic::RevisionTraffic) -> proto::RevisionTraffic {
    proto::RevisionTraffic {
        api_id: t.api_id,
        revision_id: t.revision_id,
        requests: t.requests,
        errors: t.errors,
        latency: t.latency,
    }
}

/// A revision's traffic as received: latency lists are cut to the known buckets.
pub(crate) fn traffic_from_wire(
    mut t: proto::RevisionTraffic,
) -> gantry_model::traffic::RevisionTraffic {
    t.latency.truncate(gantry_model::traffic::LATENCY_BUCKETS);
    gantry_model::traffic::RevisionTraffic {
        api_id: t.api_id,
        revision_id: t.revision_id,
        requests: t.requests,
        errors: t.errors.min(t.requests),
        latency: t.latency,
    }
}
