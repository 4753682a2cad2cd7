//! The gateway's half of `gantry.sync.v1`: keep one stream open to the control plane,
//! apply every snapshot or delta it sends, and answer ACK or NACK.
//!
//! The connection is retried forever with exponential backoff and full jitter (200 ms up to
//! 30 s), so a fleet of gateways does not reconnect in lockstep after a control-plane
//! restart. While disconnected the gateway keeps serving what it holds.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use aws_lc_rs::rand::SecureRandom;
use gantry_model::GatewaySnapshot;
use gantry_model::delta::SnapshotDelta;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

use crate::Versioned;
use crate::proto::config_sync_client::ConfigSyncClient;
use crate::proto::{Ack, GatewayMessage, Hello, Nack, control_plane_message, gateway_message};

const BACKOFF_MIN: Duration = Duration::from_millis(200);
const BACKOFF_MAX: Duration = Duration::from_secs(30);

/// What the client applies configurations to (the gateway).
pub trait Applier: Send + Sync + 'static {
    /// The configuration held now (the base a delta applies to). May be loaded on demand.
    fn held(&self) -> Option<Arc<Versioned>>;
    /// Version and digest of the configuration held, for the `Hello` (cheap).
    fn held_version(&self) -> Option<(u64, String)> {
        self.held().map(|h| (h.snapshot.version, h.digest.clone()))
    }
    /// Why a configuration was not applied (its text is the NACK's reason).
    type Error: std::error::Error + Send + Sync + 'static;
    /// Applies `next` atomically, or says why not (the old one keeps serving).
    fn apply(&self, next: Versioned) -> Result<(), Self::Error>;
    /// What the API revisions served since the last call (reported to the control plane
    /// about once a second; nothing is sent while this is empty).
    fn traffic(&self) -> Vec<gantry_model::traffic::RevisionTraffic> {
        Vec::new()
    }
}

/// How often the gateway reports what its API revisions served.
const TRAFFIC_REPORT: Duration = Duration::from_secs(1);

/// Where and how to connect.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// `https://control-plane:9443`.
    pub endpoint: String,
    /// The environment's gateway token.
    pub token: String,
    /// Environment served.
    pub environment: String,
    /// This gateway's id.
    pub node_id: String,
    /// PEM CA to trust for the control plane, in addition to the public roots.
    pub ca_pem: Option<Vec<u8>>,
    /// Build version reported to the control plane.
    pub build: String,
    /// PEM certificate chain and key presented to the control plane (mutual TLS).
    pub identity: Option<(Vec<u8>, Vec<u8>)>,
}

/// Connection state, for readiness and metrics.
#[derive(Debug, Default)]
pub struct SyncStatus {
    connected: AtomicBool,
    applied: AtomicU64,
    rejected: AtomicU64,
}

impl SyncStatus {
    /// Whether a stream is open now.
    pub fn is_connected(&self) -> bool {
        self.connected.load(Ordering::Relaxed)
    }

    /// Updates applied since start.
    pub fn applied(&self) -> u64 {
        self.applied.load(Ordering::Relaxed)
    }

    /// Updates rejected since start.
    pub fn rejected(&self) -> u64 {
        self.rejected.load(Ordering::Relaxed)
    }
}

/// A session ended.
#[derive(Debug, thiserror::Error)]
enum SessionError {
    #[error("cannot connect: {0}")]
    Connect(#[from] tonic::transport::Error),
    #[error("stream failed: {0}")]
    Status(#[from] tonic::Status),
    #[error("configuration out of step with the control plane; resynchronising")]
    Resync,
}

/// Keeps the gateway in sync until `shutdown`.
pub async fn run<A: Applier>(
    config: ClientConfig,
    applier: Arc<A>,
    status: Arc<SyncStatus>,
    shutdown: CancellationToken,
) {
    let mut backoff = BACKOFF_MIN;
    let mut force_full = false;
    loop {
        let outcome = tokio::select! {
            outcome = session(&config, applier.as_ref(), &status, force_full) => outcome,
            _ = shutdown.cancelled() => return,
        };
        status.connected.store(false, Ordering::Relaxed);
        match outcome {
            Ok(received) => {
                force_full = false;
                if received {
                    backoff = BACKOFF_MIN;
                }
                tracing::warn!(endpoint = %config.endpoint, "control-plane stream closed; reconnecting");
            }
            Err(SessionError::Resync) => {
                force_full = true;
                backoff = BACKOFF_MIN;
                tracing::warn!("configuration out of step; asking for a full snapshot");
            }
            Err(SessionError::Status(status))
                if matches!(
                    status.code(),
                    tonic::Code::Unauthenticated
                        | tonic::Code::PermissionDenied
                        | tonic::Code::NotFound
                ) =>
            {
                tracing::error!(
                    code = ?status.code(),
                    message = status.message(),
                    retry_ms = backoff.as_millis() as u64,
                    "the control plane refused this gateway; check its token, environment and client certificate"
                );
            }
            Err(error) => {
                tracing::warn!(endpoint = %config.endpoint, %error, retry_ms = backoff.as_millis() as u64, "control plane unreachable; serving the last configuration");
            }
        }
        let pause = jitter(backoff);
        backoff = (backoff * 2).min(BACKOFF_MAX);
        tokio::select! {
            _ = tokio::time::sleep(pause) => {}
            _ = shutdown.cancelled() => return,
        }
    }
}

/// A random duration in [d/2, d]: full jitter that never collapses to zero.
fn jitter(d: Duration) -> Duration {
    let mut byte = [0u8; 2];
    let _ = aws_lc_rs::rand::SystemRandom::new().fill(&mut byte);
    let fraction = f64::from(u16::from_le_bytes(byte)) / f64::from(u16::MAX);
    d.mul_f64(0.5 + fraction / 2.0)
}

async fn channel(config: &ClientConfig) -> Result<Channel, tonic::transport::Error> {
    let mut endpoint = Endpoint::from_shared(config.endpoint.clone())?
        .connect_timeout(Duration::from_secs(5))
        .tcp_nodelay(true)
        .http2_keep_alive_interval(Duration::from_secs(15))
        .keep_alive_timeout(Duration::from_secs(10))
        .keep_alive_while_idle(true);
    if config.endpoint.starts_with("https://") {
        let mut tls = ClientTlsConfig::new().with_webpki_roots();
        if let Some(pem) = &config.ca_pem {
            tls = tls.ca_certificate(Certificate::from_pem(pem));
        }
        if let Some((cert, key)) = &config.identity {
            tls = tls.identity(Identity::from_pem(cert, key));
        }
        endpoint = endpoint.tls_config(tls)?;
    }
    endpoint.connect().await
}

/// One stream; returns whether any configuration message arrived.
async fn session<A: Applier>(
    config: &ClientConfig,
    applier: &A,
    status: &SyncStatus,
    force_full: bool,
) -> Result<bool, SessionError> {
    let channel = channel(config).await?;
    let bearer: tonic::metadata::MetadataValue<_> =
        format!("Bearer {}", config.token).parse().map_err(|_| {
            tonic::Status::invalid_argument("the gateway token contains invalid characters")
        })?;
    let mut client =
        ConfigSyncClient::with_interceptor(channel, move |mut request: tonic::Request<()>| {
            request
                .metadata_mut()
                .insert("authorization", bearer.clone());
            Ok(request)
        })
        .max_decoding_message_size(512 * 1024 * 1024);

    let (tx, rx) = mpsc::channel(8);
    let held = if force_full {
        None
    } else {
        applier.held_version()
    };
    let hello = Hello {
        environment: config.environment.clone(),
        node_id: config.node_id.clone(),
        version: held.as_ref().map(|(v, _)| *v).unwrap_or(0),
        digest: held.map(|(_, d)| d).unwrap_or_default(),
        build: config.build.clone(),
    };
    let send = |message: gateway_message::Message| GatewayMessage {
        message: Some(message),
    };
    // The channel has room: this cannot fail before the stream starts.
    let _ = tx.send(send(gateway_message::Message::Hello(hello))).await;
    let mut inbound = client.stream(ReceiverStream::new(rx)).await?.into_inner();
    status.connected.store(true, Ordering::Relaxed);
    tracing::info!(endpoint = %config.endpoint, environment = %config.environment, "connected to the control plane");

    let mut received = false;
    let mut report = tokio::time::interval(TRAFFIC_REPORT);
    report.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let message = tokio::select! {
            message = inbound.message() => match message? {
                Some(message) => message,
                None => break,
            },
            _ = report.tick() => {
                if let Some(report) = traffic_report(applier)
                    && tx.send(send(report)).await.is_err()
                {
                    break;
                }
                continue;
            }
        };
        received = true;
        let (version, result) = match message.message {
            Some(control_plane_message::Message::Snapshot(s)) => (
                s.version,
                decode_snapshot(&s.payload, s.version, &s.digest).and_then(|next| {
                    applier
                        .apply(next)
                        .map_err(|e| Undecodable::Refused(e.to_string()))
                }),
            ),
            Some(control_plane_message::Message::Delta(d)) => {
                let base = applier.held();
                match base {
                    Some(base) if base.snapshot.version == d.from_version => (
                        d.to_version,
                        decode_delta(&base.snapshot, &d.payload, &d.digest).and_then(|next| {
                            applier
                                .apply(next)
                                .map_err(|e| Undecodable::Refused(e.to_string()))
                        }),
                    ),
                    _ => {
                        let _ = tx
                            .send(send(gateway_message::Message::Nack(Nack {
                                version: d.to_version,
                                reason: format!(
                                    "delta from version {} does not match the held configuration",
                                    d.from_version
                                ),
                            })))
                            .await;
                        return Err(SessionError::Resync);
                    }
                }
            }
            None => continue,
        };
        let reply = match result {
            Ok(()) => {
                status.applied.fetch_add(1, Ordering::Relaxed);
                // What was counted under the previous configuration goes first: the control
                // plane records it before it learns this version is in use, so a rollout
                // step's window, which opens at the ACK, holds no call from before its change.
                if let Some(report) = traffic_report(applier)
                    && tx.send(send(report)).await.is_err()
                {
                    break;
                }
                gateway_message::Message::Ack(Ack { version })
            }
            Err(rejected) => {
                status.rejected.fetch_add(1, Ordering::Relaxed);
                let reason = rejected.to_string();
                tracing::warn!(version, %reason, "configuration rejected; keeping the last good one");
                gateway_message::Message::Nack(Nack { version, reason })
            }
        };
        if tx.send(send(reply)).await.is_err() {
            break;
        }
    }
    Ok(received)
}

/// Why a version from the control plane was not applied; its text is the NACK's reason.
#[derive(Debug, thiserror::Error)]
enum Undecodable {
    #[error("snapshot {version} is not valid: {source}")]
    Snapshot {
        version: u64,
        source: serde_json::Error,
    },
    #[error("snapshot says version {said} but was sent as {sent}")]
    VersionMismatch { said: u64, sent: u64 },
    #[error("delta is not valid: {0}")]
    Delta(serde_json::Error),
    #[error("{0}")]
    DeltaBase(String),
    #[error("digest mismatch at version {0}")]
    Digest(u64),
    /// The gateway refused the configuration (the applier's reason).
    #[error("{0}")]
    Refused(String),
}

fn decode_snapshot(payload: &[u8], version: u64, digest: &str) -> Result<Versioned, Undecodable> {
    let snapshot: GatewaySnapshot = serde_json::from_slice(payload)
        .map_err(|source| Undecodable::Snapshot { version, source })?;
    if snapshot.version != version {
        return Err(Undecodable::VersionMismatch {
            said: snapshot.version,
            sent: version,
        });
    }
    verified(snapshot, digest)
}

fn decode_delta(
    base: &GatewaySnapshot,
    payload: &[u8],
    digest: &str,
) -> Result<Versioned, Undecodable> {
    let delta: SnapshotDelta = serde_json::from_slice(payload).map_err(Undecodable::Delta)?;
    let next = delta
        .apply(base)
        .map_err(|e| Undecodable::DeltaBase(e.to_string()))?;
    verified(next, digest)
}

fn verified(snapshot: GatewaySnapshot, digest: &str) -> Result<Versioned, Undecodable> {
    let versioned = Versioned::new(snapshot);
    if !digest.is_empty() && versioned.digest != digest {
        return Err(Undecodable::Digest(versioned.snapshot.version));
    }
    Ok(versioned)
}

/// What the revisions served since the last report, as a message (`None`: nothing).
fn traffic_report<A: Applier + ?Sized>(applier: &A) -> Option<gateway_message::Message> {
    let revisions = applier.traffic();
    (!revisions.is_empty()).then(|| {
        gateway_message::Message::Traffic(crate::proto::TrafficReport {
            revisions: revisions.into_iter().map(crate::traffic_to_wire).collect(),
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_stays_within_half_and_full() {
        for _ in 0..100 {
            let j = jitter(Duration::from_millis(1000));
            assert!(j >= Duration::from_millis(500) && j <= Duration::from_millis(1000));
        }
    }

    #[test]
    fn snapshot_with_wrong_digest_is_rejected() {
        let snapshot = GatewaySnapshot {
            environment: "e".into(),
            version: 3,
            ..Default::default()
        };
        let payload = serde_json::to_vec(&snapshot).unwrap();
        assert!(decode_snapshot(&payload, 3, "bad").is_err());
        let good = crate::digest(&snapshot);
        assert!(decode_snapshot(&payload, 3, &good).is_ok());
        assert!(decode_snapshot(b"{not json", 3, &good).is_err());
        assert!(decode_snapshot(&payload, 4, &good).is_err());
    }
}
