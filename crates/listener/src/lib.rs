//! Accept loops shared by the control plane and the gateway: plain TCP or TLS (rustls,
//! HTTP/2 and HTTP/1.1 by ALPN), HTTP/1.1 + h2 by `hyper-util`'s auto builder, protocol
//! limits ([`Limits`]: header section size and count, header-read timeout, HTTP/2 streams
//! and rapid-reset protection, open connections), and a graceful stop: stop accepting, let open connections
//! finish their requests within a grace period, then return.
#![forbid(unsafe_code)]

pub mod certificates;
pub mod client_auth;
pub mod declared_length;
mod premature_reset;
mod request_timeout;

use std::error::Error as StdError;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use http::{Request, Response};
use hyper::body::{Body, Incoming};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// How long a client may take to finish the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// hyper refuses a read buffer smaller than this.
const MIN_BUF_SIZE: usize = 8192;
/// hyper's own limit on HTTP/1 header fields (its `DEFAULT_MAX_HEADERS`).
const HYPER_MAX_HEADERS: usize = 100;

/// What a connection may ask of the server before it is refused or cut.
///
/// HTTP/1: a request head larger than `max_header_bytes` or with more than `max_headers`
/// fields gets `431` from hyper, and the connection closes. `header_read_timeout` runs from
/// the moment the server waits for a request head, so it also ends idle keep-alive
/// connections; on expiry hyper closes the connection, and [`serve_with_limits`] first answers
/// `408` when a request head was begun (hyper has no `408` of its own). HTTP/2: at most
/// `h2_max_concurrent_streams` streams, a header list of at most `max_header_bytes`, and at
/// most `h2_max_pending_accept_reset_streams` streams reset by the client before the server
/// saw them (CVE-2023-44487, "rapid reset") before the connection is closed with `GOAWAY`;
/// likewise after `h2_max_local_error_resets` streams the server itself had to reset
/// (malformed requests, "MadeYouReset").
///
/// At most `max_connections` client connections are open at once; a connection accepted beyond
/// that is closed at once, without reading from it (see [`ConnectionStats`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest request header section, bytes (Envoy's default: 60 KiB).
    pub max_header_bytes: usize,
    /// Most request header fields (Envoy's default: 100).
    pub max_headers: usize,
    /// Time allowed for a request head, and for an idle HTTP/1 keep-alive connection.
    pub header_read_timeout: Duration,
    /// Idle HTTP/2 connections are pinged this often, and closed when a ping goes unanswered
    /// for as long (`None`: no pings).
    pub h2_keep_alive_interval: Option<Duration>,
    /// Concurrent HTTP/2 streams per connection.
    pub h2_max_concurrent_streams: u32,
    /// Client-reset streams tolerated before the connection is closed (hyper's default: 20).
    pub h2_max_pending_accept_reset_streams: usize,
    /// Streams the server reset for a protocol error, per connection, before the connection is
    /// closed (hyper's default: 1024).
    pub h2_max_local_error_resets: usize,
    /// HTTP/2 requests a connection must have started before it is judged on early
    /// cancellations: past this, a connection whose client cancelled more than half of its
    /// requests within 1 s of their start is closed (Envoy's
    /// `premature_reset_total_stream_count`: 500).
    pub h2_premature_reset_streams: u64,
    /// Open client connections of this listener (Envoy's `max_connections`; the default
    /// stays well below a typical `ulimit -n`).
    pub max_connections: usize,
    /// A connection whose client takes none of the bytes the server is writing for this long
    /// is closed (nginx's `send_timeout`: a slow reader cannot hold a connection, and the
    /// upstream connection behind it, for ever); `None`: no limit.
    pub send_timeout: Option<Duration>,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_header_bytes: 60 * 1024,
            max_headers: 100,
            header_read_timeout: Duration::from_secs(30),
            h2_keep_alive_interval: None,
            h2_max_concurrent_streams: 100,
            h2_max_pending_accept_reset_streams: 20,
            h2_max_local_error_resets: 1024,
            h2_premature_reset_streams: 500,
            max_connections: 10_000,
            send_timeout: Some(Duration::from_secs(60)),
        }
    }
}

impl Limits {
    fn builder(&self) -> auto::Builder<TokioExecutor> {
        let mut builder = auto::Builder::new(TokioExecutor::new());
        let mut http1 = builder.http1();
        http1
            .timer(TokioTimer::new())
            .header_read_timeout(self.header_read_timeout)
            .max_buf_size(self.max_header_bytes.max(MIN_BUF_SIZE));
        // hyper's default is the same limit (431 beyond it) on a stack array; set explicitly,
        // every request head is parsed into two 100-entry vectors built element by element
        // (~1,700 instructions per request under callgrind, 3 % of a proxied request).
        if self.max_headers != HYPER_MAX_HEADERS {
            http1.max_headers(self.max_headers);
        }
        let mut http2 = builder.http2();
        http2
            .timer(TokioTimer::new())
            .max_concurrent_streams(self.h2_max_concurrent_streams)
            .max_header_list_size(u32::try_from(self.max_header_bytes).unwrap_or(u32::MAX))
            .max_pending_accept_reset_streams(self.h2_max_pending_accept_reset_streams)
            .max_local_error_reset_streams(self.h2_max_local_error_resets);
        if let Some(interval) = self.h2_keep_alive_interval {
            http2
                .keep_alive_interval(interval)
                .keep_alive_timeout(interval);
        }
        builder
    }
}

/// The client connections of the listeners served by [`serve_with_limits`] with these stats:
/// how many are open, and how many were shed at [`Limits::max_connections`]. The gateway
/// reports them on `/metrics`.
///
/// A connection beyond the limit is accepted and closed at once (nothing read, nothing
/// written), rather than left unaccepted: the kernel's backlog never fills with connections
/// nobody will serve, and the client learns at once instead of after its connect timeout. The
/// ops and control-plane listeners ([`serve`]) have accept loops of their own and no limit, so
/// health checks still pass while the API listener sheds.
#[derive(Debug, Default)]
pub struct ConnectionStats {
    open: AtomicUsize,
    shed: AtomicU64,
}

impl ConnectionStats {
    /// Client connections open now.
    pub fn open(&self) -> usize {
        self.open.load(Ordering::Relaxed)
    }

    /// Connections closed on accept because the listener was at its limit, since start.
    pub fn shed(&self) -> u64 {
        self.shed.load(Ordering::Relaxed)
    }
}

/// A listener's connection limit: the slots left and where the counts go.
struct Admission {
    slots: Arc<Semaphore>,
    max: usize,
    stats: Arc<ConnectionStats>,
    /// Sheds since the last warning, and when that was (one warning a second at most).
    unreported: u64,
    reported_at: Option<tokio::time::Instant>,
}

/// One admitted connection: holds its slot and its place in the open count until dropped.
struct Admitted {
    _slot: OwnedSemaphorePermit,
    stats: Arc<ConnectionStats>,
}

impl Drop for Admitted {
    fn drop(&mut self) {
        self.stats.open.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Admission {
    fn new(max: usize, stats: Arc<ConnectionStats>) -> Self {
        Self {
            slots: Arc::new(Semaphore::new(max.min(Semaphore::MAX_PERMITS))),
            max,
            stats,
            unreported: 0,
            reported_at: None,
        }
    }

    /// A slot for a new connection, or `None` (counted and logged) when all are taken.
    fn admit(&mut self) -> Option<Admitted> {
        if let Ok(slot) = self.slots.clone().try_acquire_owned() {
            self.stats.open.fetch_add(1, Ordering::Relaxed);
            return Some(Admitted {
                _slot: slot,
                stats: self.stats.clone(),
            });
        }
        self.stats.shed.fetch_add(1, Ordering::Relaxed);
        self.unreported += 1;
        let now = tokio::time::Instant::now();
        if self
            .reported_at
            .is_none_or(|at| now.duration_since(at) >= Duration::from_secs(1))
        {
            tracing::warn!(
                max_connections = self.max,
                shed = self.unreported,
                "connection limit reached: closing new connections"
            );
            self.unreported = 0;
            self.reported_at = Some(now);
        }
        None
    }
}

/// Who is on the other end of a connection.
#[derive(Debug, Clone)]
pub struct Connection {
    /// Remote address.
    pub peer: SocketAddr,
    /// The client certificate (DER) the TLS handshake verified, if the client sent one.
    pub client_certificate: Option<Arc<Vec<u8>>>,
}

/// How a server stops: the listener closes at once when `shutdown` fires (new connections are
/// refused); open connections keep being served for `drain_delay` (the service can answer
/// `Connection: close` meanwhile, so clients move away without a race); then hyper's graceful
/// shutdown closes idle connections and waits up to `grace` for requests in flight.
#[derive(Debug, Clone)]
pub struct Stop {
    /// Fires to begin the stop.
    pub shutdown: CancellationToken,
    /// Time open connections keep full service after the listener closed.
    pub drain_delay: Duration,
    /// Time in-flight requests get once the graceful shutdown began.
    pub grace: Duration,
}

impl Stop {
    /// Stop at once on `shutdown`, then wait up to `grace` for requests in flight.
    pub fn after(shutdown: CancellationToken, grace: Duration) -> Self {
        Self {
            shutdown,
            drain_delay: Duration::ZERO,
            grace,
        }
    }
}

/// Serves connections from `listener` (over TLS when `tls` is set) with the service made by
/// `make_service` for each connection, until `stop` says otherwise: hyper's own protocol
/// limits and the 30 s header-read timeout (the control plane's and the ops listeners).
/// The gateway's API listeners use [`serve_with_limits`].
pub async fn serve<M, S, B>(
    listener: TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    stop: Stop,
    make_service: M,
) where
    M: Fn(Connection) -> S + Send + Sync + 'static,
    S: hyper::service::Service<Request<Incoming>, Response = Response<B>> + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<Box<dyn StdError + Send + Sync>>,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn StdError + Send + Sync>>,
{
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(Limits::default().header_read_timeout);
    serve_with_builder(
        listener,
        tls,
        stop,
        builder,
        Protections::default(),
        make_service,
    )
    .await;
}

/// [`serve`] with the given [`Limits`], counting connections in `stats`.
pub async fn serve_with_limits<M, S, B>(
    listener: TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    stop: Stop,
    limits: Limits,
    stats: Arc<ConnectionStats>,
    make_service: M,
) where
    M: Fn(Connection) -> S + Send + Sync + 'static,
    S: hyper::service::Service<Request<Incoming>, Response = Response<B>> + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<Box<dyn StdError + Send + Sync>>,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn StdError + Send + Sync>>,
{
    let protections = Protections {
        admission: Some(Admission::new(limits.max_connections, stats)),
        per_connection: PerConnection {
            answer_timeouts: true,
            premature_reset_streams: Some(limits.h2_premature_reset_streams),
            send_timeout: limits.send_timeout,
        },
    };
    serve_with_builder(
        listener,
        tls,
        stop,
        limits.builder(),
        protections,
        make_service,
    )
    .await;
}

async fn serve_with_builder<M, S, B>(
    listener: TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    stop: Stop,
    builder: auto::Builder<TokioExecutor>,
    protections: Protections,
    make_service: M,
) where
    M: Fn(Connection) -> S + Send + Sync + 'static,
    S: hyper::service::Service<Request<Incoming>, Response = Response<B>> + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<Box<dyn StdError + Send + Sync>>,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn StdError + Send + Sync>>,
{
    let builder = Arc::new(builder);
    let acceptor = tls.map(TlsAcceptor::from);
    let make_service = Arc::new(make_service);
    let Protections {
        mut admission,
        per_connection,
    } = protections;
    // Connections are told to finish (hyper's graceful shutdown) when `closing` fires, and
    // `connections` waits for them.
    let closing = CancellationToken::new();
    let connections = TaskTracker::new();
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(error) => {
                    // EMFILE and friends: back off instead of spinning.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = stop.shutdown.cancelled() => break,
        };
        let admitted = match admission.as_mut().map(Admission::admit) {
            Some(None) => {
                drop(stream);
                continue;
            }
            Some(Some(admitted)) => Some(admitted),
            None => None,
        };
        let _ = stream.set_nodelay(true);
        let (builder, closing, acceptor, make_service) = (
            builder.clone(),
            closing.clone(),
            acceptor.clone(),
            make_service.clone(),
        );
        // The TLS handshake runs in the connection's task so a slow client cannot stall accept.
        connections.spawn(async move {
            let _admitted = admitted;
            let result = match acceptor {
                None => {
                    let service = make_service(Connection {
                        peer,
                        client_certificate: None,
                    });
                    serve_connection(stream, &builder, closing, service, per_connection).await
                }
                Some(acceptor) => {
                    let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream))
                        .await
                    {
                        Ok(Ok(tls)) => tls,
                        Ok(Err(error)) => {
                            tracing::debug!(%peer, %error, "TLS handshake failed");
                            return;
                        }
                        Err(_) => {
                            tracing::debug!(%peer, "TLS handshake timed out");
                            return;
                        }
                    };
                    let client_certificate = tls
                        .get_ref()
                        .1
                        .peer_certificates()
                        .and_then(|chain| chain.first())
                        .map(|leaf| Arc::new(leaf.as_ref().to_vec()));
                    let service = make_service(Connection {
                        peer,
                        client_certificate,
                    });
                    serve_connection(tls, &builder, closing, service, per_connection).await
                }
            };
            if let Err(error) = result {
                tracing::debug!(%peer, %error, "connection ended with an error");
            }
        });
    }
    drop(listener);
    if !stop.drain_delay.is_zero() {
        tokio::time::sleep(stop.drain_delay).await;
    }
    closing.cancel();
    connections.close();
    if tokio::time::timeout(stop.grace, connections.wait())
        .await
        .is_err()
    {
        tracing::warn!(
            grace_ms = stop.grace.as_millis() as u64,
            "connections still open after the grace period"
        );
    }
}

/// What [`serve_with_limits`] adds to hyper's own protocol limits.
#[derive(Default)]
struct Protections {
    /// The connection limit.
    admission: Option<Admission>,
    per_connection: PerConnection,
}

/// The protections of each connection.
#[derive(Debug, Clone, Copy, Default)]
struct PerConnection {
    /// Answer `408` when the header-read timeout ends a request head (`request_timeout`).
    answer_timeouts: bool,
    /// Close an HTTP/2 connection whose client cancels most streams early, judged after this
    /// many (`premature_reset`).
    premature_reset_streams: Option<u64>,
    /// Close a connection whose client takes no bytes for this long (`request_timeout`).
    send_timeout: Option<Duration>,
}

/// How long a connection closed for abuse gets to finish before it is dropped.
const ABUSE_CLOSE_GRACE: Duration = Duration::from_secs(1);

/// Serves one connection until it ends, or until `closing` fires (then hyper's graceful
/// shutdown lets requests in flight finish).
async fn serve_connection<I, S, B>(
    io: I,
    builder: &auto::Builder<TokioExecutor>,
    closing: CancellationToken,
    service: S,
    protections: PerConnection,
) -> Result<(), Box<dyn StdError + Send + Sync>>
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    S: hyper::service::Service<Request<Incoming>, Response = Response<B>> + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<Box<dyn StdError + Send + Sync>>,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn StdError + Send + Sync>>,
{
    let (io, returned) = request_timeout::watch(io, protections.send_timeout);
    let resets =
        premature_reset::ResetWatch::new(protections.premature_reset_streams.unwrap_or(u64::MAX));
    let service = premature_reset::Counting {
        inner: service,
        watch: resets.clone(),
    };
    let connection = builder.serve_connection_with_upgrades(TokioIo::new(io), service);
    // Boxed rather than pinned on the stack, so it can be dropped (giving the socket back to
    // `returned`) before a 408 is written.
    let mut connection = Box::pin(connection);
    let (mut shutting_down, mut abuse_deadline) = (false, None);
    let result = loop {
        tokio::select! {
            result = connection.as_mut() => break result,
            () = closing.cancelled(), if !shutting_down => {
                connection.as_mut().graceful_shutdown();
                shutting_down = true;
            }
            () = resets.tripped().cancelled(), if abuse_deadline.is_none() => {
                let (started, premature) = resets.counts();
                tracing::warn!(
                    started,
                    premature,
                    "HTTP/2 client cancels most streams early (rapid reset): closing the connection"
                );
                if !shutting_down {
                    connection.as_mut().graceful_shutdown();
                    shutting_down = true;
                }
                abuse_deadline = Some(tokio::time::Instant::now() + ABUSE_CLOSE_GRACE);
            }
            () = sleep_until(abuse_deadline) => {
                return Ok(());
            }
        }
    };
    drop(connection);
    match result {
        Err(error)
            if protections.answer_timeouts
                && request_timeout::is_header_timeout(error.as_ref())
                && returned.answer_timeout().await =>
        {
            tracing::debug!("request head timed out: answered 408");
            Ok(())
        }
        result => result,
    }
}

/// Sleeps until `deadline`, or forever without one.
async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// A certificate/key pair could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum TlsConfigError {
    /// A PEM file is missing, unreadable or holds no usable block.
    #[error("{path}: {reason}")]
    Pem {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        reason: String,
    },
    /// rustls refused the pair.
    #[error("the certificate and key do not form a usable pair: {0}")]
    Rustls(#[from] rustls::Error),
    /// An SNI entry names something that is not a host name nor a `*.domain` wildcard.
    #[error("'{0}' is not a host name nor a *.domain wildcard")]
    HostName(String),
    /// The certificate directory cannot be listed.
    #[error("certificate directory {path}: {source}")]
    Directory {
        /// The directory.
        path: std::path::PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// A rustls server configuration (HTTP/2 and HTTP/1.1 by ALPN) from PEM files.
pub fn tls_config(
    cert: &std::path::Path,
    key: &std::path::Path,
) -> Result<Arc<rustls::ServerConfig>, TlsConfigError> {
    tls_config_with_client_ca(cert, key, None)
}

/// Like [`tls_config`]; with `client_ca`, client certificates signed by that CA are verified
/// when presented. They stay optional at the TLS level (browsers and REST clients send none);
/// whoever needs one checks [`Connection::client_certificate`].
pub fn tls_config_with_client_ca(
    cert: &std::path::Path,
    key: &std::path::Path,
    client_ca: Option<&std::path::Path>,
) -> Result<Arc<rustls::ServerConfig>, TlsConfigError> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let pem_error = |path: &std::path::Path, e: &dyn std::fmt::Display| TlsConfigError::Pem {
        path: path.to_owned(),
        reason: e.to_string(),
    };
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| pem_error(cert, &e))?
        .collect::<Result<_, _>>()
        .map_err(|e| pem_error(cert, &e))?;
    if chain.is_empty() {
        return Err(pem_error(cert, &"no CERTIFICATE block found"));
    }
    let private = PrivateKeyDer::from_pem_file(key).map_err(|e| pem_error(key, &e))?;
    let builder = rustls::ServerConfig::builder();
    let builder = match client_ca {
        None => builder.with_no_client_auth(),
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            for certificate in CertificateDer::pem_file_iter(ca).map_err(|e| pem_error(ca, &e))? {
                roots.add(certificate.map_err(|e| pem_error(ca, &e))?)?;
            }
            let verifier = rustls::server::WebPkiClientVerifier::builder(Arc::new(roots))
                .allow_unauthenticated()
                .build()
                .map_err(|e| pem_error(ca, &e))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder.with_single_cert(chain, private)?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}
