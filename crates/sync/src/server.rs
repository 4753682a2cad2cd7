//! The control plane's half of `gantry.sync.v1`: one session per connected gateway.
//!
//! A session authenticates the gateway's token for the environment it names, sends the
//! delta from the version it holds when that version is still in the distributor's history
//! (else a full snapshot), then one update per new version, and reports every ACK, NACK and
//! heartbeat to the [`GatewayAccess`] implementation (the control plane records them).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use gantry_model::delta::SnapshotDelta;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tonic::{Request, Response, Status, Streaming};

use crate::Versioned;
use crate::distributor::Distributor;
use crate::proto::config_sync_server::{ConfigSync, ConfigSyncServer};
use crate::proto::{
    ControlPlaneMessage, Delta, GatewayMessage, Hello, Snapshot, control_plane_message,
    gateway_message,
};

/// How long a gateway has to say Hello.
const HELLO_TIMEOUT: Duration = Duration::from_secs(10);
/// How often a session records a heartbeat and re-checks its token.
const HEARTBEAT: Duration = Duration::from_secs(5);

/// Why a gateway was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccessDenied {
    /// Unknown or revoked token.
    BadToken,
    /// The token belongs to another environment.
    WrongEnvironment,
    /// The environment does not exist.
    UnknownEnvironment,
    /// The store could not be asked.
    Unavailable,
}

/// Something that happened to a gateway node, for the control plane to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeEvent {
    /// The node opened a session.
    Connected {
        /// Its build version.
        build: String,
        /// The version it says it holds.
        held_version: u64,
    },
    /// The node applied `version`.
    Acked(u64),
    /// The node rejected `version` for `reason`.
    Nacked(u64, String),
    /// The node is still connected.
    Seen,
    /// The session ended.
    Disconnected,
    /// What the node's API revisions served since its last report.
    Traffic(Vec<gantry_model::traffic::RevisionTraffic>),
}

/// What the sync server needs from the control plane.
pub trait GatewayAccess: Send + Sync + 'static {
    /// Validates `token` for `environment`; returns an id to re-check it later.
    fn authenticate(
        &self,
        token: &str,
        environment: &str,
    ) -> impl Future<Output = Result<String, AccessDenied>> + Send;
    /// Whether the token behind `token_id` is still valid.
    fn still_valid(&self, token_id: &str) -> impl Future<Output = bool> + Send;
    /// Records an event of node `node_id` in `environment`.
    fn record(
        &self,
        environment: &str,
        node_id: &str,
        event: NodeEvent,
    ) -> impl Future<Output = ()> + Send;
}

/// The gRPC service.
pub struct SyncService<A> {
    distributor: Arc<Distributor>,
    access: Arc<A>,
    require_client_certificate: bool,
    /// The gateways' sessions: tracked, and ended (recorded as disconnected) on shutdown.
    sessions: TaskTracker,
    stop: CancellationToken,
}

impl<A: GatewayAccess> SyncService<A> {
    /// A service over `distributor`, authorising with `access`.
    pub fn new(distributor: Arc<Distributor>, access: Arc<A>) -> Self {
        Self {
            distributor,
            access,
            require_client_certificate: false,
            sessions: TaskTracker::new(),
            stop: CancellationToken::new(),
        }
    }

    /// Ends every gateway session when `stop` fires (the control plane's shutdown): each
    /// records its gateway as disconnected and closes its stream, so gateways reconnect to
    /// another replica at once instead of waiting for the connection to die.
    pub fn stop_on(mut self, stop: CancellationToken) -> Self {
        self.stop = stop;
        self
    }

    /// A handle that waits for the sessions to end once the stop token has fired.
    pub fn sessions(&self) -> TaskTracker {
        self.sessions.clone()
    }

    /// Refuses gateways whose TLS connection presented no verified client certificate
    /// (mutual TLS on top of the gateway token).
    pub fn require_client_certificate(mut self, required: bool) -> Self {
        self.require_client_certificate = required;
        self
    }

    /// The tonic server, ready to mount on a router.
    pub fn into_server(self) -> ConfigSyncServer<Self> {
        ConfigSyncServer::new(self)
            .max_decoding_message_size(4 * 1024 * 1024)
            .max_encoding_message_size(512 * 1024 * 1024)
    }
}

type Outbound =
    Pin<Box<dyn tokio_stream::Stream<Item = Result<ControlPlaneMessage, Status>> + Send>>;

#[tonic::async_trait]
impl<A: GatewayAccess> ConfigSync for SyncService<A> {
    type StreamStream = Outbound;

    async fn stream(
        &self,
        request: Request<Streaming<GatewayMessage>>,
    ) -> Result<Response<Outbound>, Status> {
        let token = request
            .metadata()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::to_owned)
            .ok_or_else(|| {
                Status::unauthenticated("send the gateway token as 'authorization: Bearer <token>'")
            })?;
        if self.require_client_certificate {
            let verified = request
                .extensions()
                .get::<gantry_listener::Connection>()
                .is_some_and(|c| c.client_certificate.is_some());
            if !verified {
                return Err(Status::unauthenticated(
                    "this control plane requires a gateway client certificate (mTLS)",
                ));
            }
        }
        let mut inbound = request.into_inner();
        let hello = match tokio::time::timeout(HELLO_TIMEOUT, inbound.message()).await {
            Ok(Ok(Some(GatewayMessage {
                message: Some(gateway_message::Message::Hello(hello)),
            }))) => hello,
            Ok(Err(status)) => return Err(status),
            Err(_) => return Err(Status::deadline_exceeded("no Hello within 10 s")),
            _ => return Err(Status::invalid_argument("the first message must be Hello")),
        };
        if hello.environment.is_empty() || hello.node_id.is_empty() || hello.node_id.len() > 253 {
            return Err(Status::invalid_argument(
                "Hello needs an environment and a node id (at most 253 bytes)",
            ));
        }
        let token_id = self
            .access
            .authenticate(&token, &hello.environment)
            .await
            .map_err(|denied| match denied {
                AccessDenied::BadToken => {
                    Status::unauthenticated("unknown or revoked gateway token")
                }
                AccessDenied::WrongEnvironment => {
                    Status::permission_denied("the token does not belong to this environment")
                }
                AccessDenied::UnknownEnvironment => Status::not_found("no such environment"),
                AccessDenied::Unavailable => {
                    Status::unavailable("the control plane cannot check the token now")
                }
            })?;
        let (tx, rx) = mpsc::channel(8);
        let session = Session {
            distributor: self.distributor.clone(),
            access: self.access.clone(),
            hello,
            token_id,
            tx,
            stop: self.stop.clone(),
        };
        self.sessions.spawn(session.run(inbound));
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }
}

struct Session<A> {
    distributor: Arc<Distributor>,
    access: Arc<A>,
    hello: Hello,
    token_id: String,
    tx: mpsc::Sender<Result<ControlPlaneMessage, Status>>,
    stop: CancellationToken,
}

impl<A: GatewayAccess> Session<A> {
    async fn run(self, mut inbound: Streaming<GatewayMessage>) {
        let (env, node) = (self.hello.environment.clone(), self.hello.node_id.clone());
        tracing::info!(environment = %env, node = %node, held = self.hello.version, "gateway connected");
        self.access
            .record(
                &env,
                &node,
                NodeEvent::Connected {
                    build: self.hello.build.clone(),
                    held_version: self.hello.version,
                },
            )
            .await;
        let mut receiver = self.distributor.subscribe(&env);
        // What the gateway holds, if this control plane still knows that exact version.
        let mut sent: Option<Arc<Versioned>> = (self.hello.version > 0)
            .then(|| {
                self.distributor
                    .find(&env, self.hello.version, &self.hello.digest)
            })
            .flatten();
        let mut heartbeat = tokio::time::interval(HEARTBEAT);
        heartbeat.tick().await;

        if let Some(latest) = receiver.current()
            && !self.send_update(&mut sent, latest).await
        {
            self.end(&env, &node).await;
            return;
        }
        loop {
            tokio::select! {
                next = receiver.next() => match next {
                    Some(latest) => if !self.send_update(&mut sent, latest).await { break },
                    None => break,
                },
                message = inbound.message() => match message {
                    Ok(Some(GatewayMessage { message: Some(gateway_message::Message::Ack(ack)) })) => {
                        tracing::debug!(environment = %env, node = %node, version = ack.version, "ack");
                        self.access.record(&env, &node, NodeEvent::Acked(ack.version)).await;
                    }
                    Ok(Some(GatewayMessage { message: Some(gateway_message::Message::Nack(nack)) })) => {
                        tracing::warn!(environment = %env, node = %node, version = nack.version, reason = %nack.reason, "gateway rejected a configuration");
                        self.access.record(&env, &node, NodeEvent::Nacked(nack.version, nack.reason)).await;
                        // The gateway kept its previous version, which this session no longer
                        // tracks: the next update is a full snapshot.
                        sent = None;
                    }
                    Ok(Some(GatewayMessage { message: Some(gateway_message::Message::Traffic(report)) })) => {
                        let revisions = report.revisions.into_iter().map(crate::traffic_from_wire).collect();
                        self.access.record(&env, &node, NodeEvent::Traffic(revisions)).await;
                    }
                    Ok(Some(_)) => {}
                    Ok(None) | Err(_) => break,
                },
                _ = heartbeat.tick() => {
                    if !self.access.still_valid(&self.token_id).await {
                        let _ = self.tx.send(Err(Status::unauthenticated("the gateway token was revoked"))).await;
                        break;
                    }
                    self.access.record(&env, &node, NodeEvent::Seen).await;
                }
                _ = self.tx.closed() => break,
                () = self.stop.cancelled() => {
                    let _ = self.tx.send(Err(Status::unavailable("the control plane is shutting down"))).await;
                    break;
                }
            }
        }
        self.end(&env, &node).await;
    }

    async fn end(&self, env: &str, node: &str) {
        tracing::info!(environment = %env, node = %node, "gateway disconnected");
        self.access.record(env, node, NodeEvent::Disconnected).await;
    }

    /// Sends what turns `sent` into `latest`; false when the gateway is gone.
    async fn send_update(&self, sent: &mut Option<Arc<Versioned>>, latest: Arc<Versioned>) -> bool {
        let message = match sent.as_ref() {
            Some(base) if base.snapshot.version >= latest.snapshot.version => return true,
            Some(base) => {
                let delta = SnapshotDelta::between(&base.snapshot, &latest.snapshot);
                control_plane_message::Message::Delta(Delta {
                    from_version: base.snapshot.version,
                    to_version: latest.snapshot.version,
                    digest: latest.digest.clone(),
                    payload: serde_json::to_vec(&delta).unwrap_or_default(),
                })
            }
            None => control_plane_message::Message::Snapshot(Snapshot {
                version: latest.snapshot.version,
                digest: latest.digest.clone(),
                payload: latest.to_json(),
            }),
        };
        *sent = Some(latest);
        self.tx
            .send(Ok(ControlPlaneMessage {
                message: Some(message),
            }))
            .await
            .is_ok()
    }
}
