//! The HTTP clients the proxy forwards with: one pool speaking HTTP/1.1 (ALPN `http/1.1` on
//! TLS) and one speaking HTTP/2 only (h2c with prior knowledge to `http://`, ALPN `h2` to
//! `https://`), both over one rustls client configuration — the web PKI roots plus an
//! optional extra CA bundle, and an optional client certificate for upstreams that require
//! mutual TLS (WSO2's gateway keystore and truststore), and the certificates uploaded for
//! particular endpoints ([`crate::endpoint_trust`]).
//!
//! Built once at start; the request path picks a pool by reading one `bool`.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use http::uri::Authority;
use http::{Request, Response, Uri};
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::client::conn::http1::SendRequest;
use tower::ServiceExt as _;

use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// Time allowed to open a TCP connection to an upstream.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How long an idle pooled connection is kept.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(90);

/// The client's body streamed through (within the body limit and deadline), or a buffered
/// one that can be sent again.
pub type UpstreamBody = http_body_util::Either<
    http_body_util::Limited<
        crate::body_timeout::Deadline<
            gantry_listener::declared_length::DeclaredLength<hyper::body::Incoming>,
        >,
    >,
    http_body_util::Full<bytes::Bytes>,
>;

/// A pooled client for upstream requests.
pub type UpstreamClient = Client<HttpsConnector<HttpConnector>, UpstreamBody>;

/// A PEM file given for upstream TLS is unusable.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamTlsError {
    /// The extra CA bundle is not PEM or holds no certificate.
    #[error("the upstream CA bundle holds no usable certificate{0}")]
    Ca(String),
    /// The client certificate chain is not PEM or holds no certificate.
    #[error("the upstream client certificate holds no usable certificate{0}")]
    ClientCertificate(String),
    /// The client key is not a PEM private key.
    #[error("the upstream client key is not a PEM private key: {0}")]
    ClientKey(String),
    /// rustls refused the certificate, or the certificate and key.
    #[error("{0}")]
    Rustls(#[from] rustls::Error),
}

/// How the gateway authenticates upstreams and itself to them.
#[derive(Clone)]
pub struct UpstreamTls {
    config: rustls::ClientConfig,
    /// The roots' verifier, which endpoint certificates extend
    /// ([`crate::endpoint_trust::EndpointVerifier`]).
    roots: Arc<rustls::client::WebPkiServerVerifier>,
}

impl Default for UpstreamTls {
    /// Trusts the web PKI roots; presents no client certificate.
    fn default() -> Self {
        let roots = Arc::new(web_pki_roots());
        Self {
            config: rustls::ClientConfig::builder()
                .with_root_certificates(roots.clone())
                .with_no_client_auth(),
            roots: rustls::client::WebPkiServerVerifier::builder(roots)
                .build()
                .expect("the web PKI root set is not empty"),
        }
    }
}

impl UpstreamTls {
    /// Trusts the web PKI roots and the certificates of `extra_ca_pem`; presents the client
    /// certificate chain and key of `identity` (PEM) to upstreams that ask for one.
    pub fn new(
        extra_ca_pem: Option<&[u8]>,
        identity: Option<(&[u8], &[u8])>,
    ) -> Result<Self, UpstreamTlsError> {
        let mut roots = web_pki_roots();
        if let Some(pem) = extra_ca_pem {
            let certificates = certificates(pem).map_err(UpstreamTlsError::Ca)?;
            for certificate in certificates {
                roots
                    .add(certificate)
                    .map_err(|e| UpstreamTlsError::Ca(format!(": {e}")))?;
            }
        }
        let roots = Arc::new(roots);
        let verifier = rustls::client::WebPkiServerVerifier::builder(roots.clone())
            .build()
            .map_err(|e| UpstreamTlsError::Ca(format!(": {e}")))?;
        let builder = rustls::ClientConfig::builder().with_root_certificates(roots);
        let config = match identity {
            None => builder.with_no_client_auth(),
            Some((chain, key)) => {
                let chain = certificates(chain).map_err(UpstreamTlsError::ClientCertificate)?;
                let key = PrivateKeyDer::from_pem_slice(key)
                    .map_err(|e| UpstreamTlsError::ClientKey(e.to_string()))?;
                builder.with_client_auth_cert(chain, key)?
            }
        };
        Ok(Self {
            config,
            roots: verifier,
        })
    }

    /// The client configuration: these roots, then the endpoint certificates `endpoints`
    /// holds at each handshake.
    fn with_endpoints(
        &self,
        endpoints: crate::endpoint_trust::SharedEndpointTrust,
    ) -> rustls::ClientConfig {
        let mut config = self.config.clone();
        config.dangerous().set_certificate_verifier(Arc::new(
            crate::endpoint_trust::EndpointVerifier::new(self.roots.clone(), endpoints),
        ));
        config
    }
}

fn web_pki_roots() -> rustls::RootCertStore {
    rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    }
}

/// The certificates of a PEM bundle; an error suffix (`: why`) when there are none.
fn certificates(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, String> {
    let certificates = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!(": {e}"))?;
    if certificates.is_empty() {
        return Err(String::new());
    }
    Ok(certificates)
}

/// The HTTP/1.1 and the HTTP/2 pools (a clone shares them).
#[derive(Clone)]
pub struct UpstreamClients {
    http1: Arc<Http1Pool>,
    http2: UpstreamClient,
    /// The TLS configuration both pools use, for clients made beside them
    /// ([`UpstreamClients::http1_resolving_with`]).
    tls: rustls::ClientConfig,
}

impl UpstreamClients {
    /// Both pools, over `tls`, with no endpoint certificates.
    pub fn new(tls: &UpstreamTls) -> Self {
        Self::with_endpoint_trust(tls, Arc::default())
    }

    /// Both pools, over `tls` and the endpoint certificates `endpoints` holds at each
    /// handshake (the gateway swaps in each configuration's).
    pub fn with_endpoint_trust(
        tls: &UpstreamTls,
        endpoints: crate::endpoint_trust::SharedEndpointTrust,
    ) -> Self {
        let config = tls.with_endpoints(endpoints);
        let http1 = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(config.clone())
            .https_or_http()
            .enable_http1()
            .wrap_connector(tcp());
        let http2 = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(config.clone())
            .https_or_http()
            .enable_http2()
            .wrap_connector(tcp());
        Self {
            http1: Arc::new(Http1Pool {
                connector: http1,
                idle: Mutex::default(),
            }),
            http2: Client::builder(TokioExecutor::new())
                .pool_idle_timeout(POOL_IDLE_TIMEOUT)
                .http2_only(true)
                .build(http2),
            tls: config,
        }
    }

    /// An HTTP/1.1 client over the same TLS configuration whose connections go only to the
    /// addresses `resolver` gives for a name (an IP literal in a URI is not resolved: the
    /// caller checks it before sending).
    pub fn http1_resolving_with<R>(
        &self,
        resolver: R,
    ) -> Client<HttpsConnector<HttpConnector<R>>, UpstreamBody>
    where
        R: tower::Service<hyper_util::client::legacy::connect::dns::Name>
            + Clone
            + Send
            + Sync
            + 'static,
        R::Response: Iterator<Item = std::net::SocketAddr>,
        R::Error: Into<BoxError>,
        R::Future: Send,
    {
        let mut tcp = HttpConnector::new_with_resolver(resolver);
        tcp.enforce_http(false);
        tcp.set_nodelay(true);
        tcp.set_connect_timeout(Some(CONNECT_TIMEOUT));
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(self.tls.clone())
            .https_or_http()
            .enable_http1()
            .wrap_connector(tcp);
        Client::builder(TokioExecutor::new())
            .pool_idle_timeout(POOL_IDLE_TIMEOUT)
            .build(connector)
    }

    /// Sends `request` (absolute URI) over the HTTP/2 pool when `http2`, else the HTTP/1.1
    /// one.
    pub async fn send(
        &self,
        http2: bool,
        request: Request<UpstreamBody>,
    ) -> Result<Response<UpstreamResponseBody>, UpstreamError> {
        if http2 {
            let response = self
                .http2
                .request(request)
                .await
                .map_err(UpstreamError::Pooled)?;
            Ok(response.map(|inner| UpstreamResponseBody { inner, reuse: None }))
        } else {
            self.http1.send(request).await
        }
    }
}

/// An upstream request failed.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    /// No connection could be opened (refused, unreachable, TLS handshake failed).
    #[error("could not connect to the upstream: {0}")]
    Connect(#[source] BoxError),
    /// The connection broke, or the upstream's answer was not HTTP (or the request body
    /// failed while it was sent).
    #[error("the upstream request failed: {0}")]
    Http(#[source] hyper::Error),
    /// The HTTP/2 pool's error.
    #[error("the upstream request failed: {0}")]
    Pooled(#[source] hyper_util::client::legacy::Error),
    /// The request has no `http`/`https` URI with a host.
    #[error("the upstream URI is not absolute")]
    Uri,
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl UpstreamError {
    /// Whether no connection could be opened (the member is down, not the request bad).
    pub fn is_connect(&self) -> bool {
        match self {
            Self::Connect(_) => true,
            Self::Pooled(e) => e.is_connect(),
            Self::Http(_) | Self::Uri => false,
        }
    }
}

/// HTTP/1.1 connections to upstreams, kept alive and reused last-in first-out per
/// (scheme, authority).
///
/// A connection is checked out for one exchange and put back when its response body has
/// ended, so it is never shared by two requests; one whose exchange broke, was upgraded or
/// was abandoned half-read is not put back. This replaces hyper-util's general-purpose
/// pool, whose checkout, connect race and return path cost about a sixth of the gateway's
/// own instructions per proxied request (callgrind): here a checkout is one short lock and
/// a `Vec::pop`.
struct Http1Pool {
    connector: HttpsConnector<HttpConnector>,
    idle: Mutex<IdleConnections>,
}

/// The idle connections by upstream, and when stale ones were last swept out of every list.
#[derive(Default)]
struct IdleConnections {
    by_upstream: HashMap<PoolKey, Vec<IdleConnection>, rustc_hash::FxBuildHasher>,
    swept: Option<Instant>,
}

impl IdleConnections {
    /// At most once per idle timeout: closes the connections idle too long in every list and
    /// forgets upstreams with none, so upstreams no longer called (an API undeployed, an
    /// endpoint changed) do not keep connections open.
    fn sweep(&mut self, now: Instant) {
        if self
            .swept
            .is_some_and(|at| now.duration_since(at) < POOL_IDLE_TIMEOUT)
        {
            return;
        }
        self.swept = Some(now);
        self.by_upstream.retain(|_, list| {
            list.retain(|c| {
                now.duration_since(c.since) < POOL_IDLE_TIMEOUT && !c.sender.is_closed()
            });
            !list.is_empty()
        });
    }
}

#[derive(Clone, PartialEq, Eq, Hash)]
struct PoolKey {
    https: bool,
    authority: Authority,
}

struct IdleConnection {
    sender: SendRequest<UpstreamBody>,
    since: Instant,
}

/// Idle connections kept per upstream; more are closed when they come back.
const MAX_IDLE_PER_UPSTREAM: usize = 256;

impl Http1Pool {
    async fn send(
        self: &Arc<Self>,
        mut request: Request<UpstreamBody>,
    ) -> Result<Response<UpstreamResponseBody>, UpstreamError> {
        // The URI's parts are moved, not cloned: the pool key takes the scheme and authority,
        // and the request line carries the path only (HTTP/1.1 to an origin server).
        let parts = std::mem::take(request.uri_mut()).into_parts();
        let key = PoolKey {
            https: match parts.scheme.as_ref().map(http::uri::Scheme::as_str) {
                Some("https") => true,
                Some("http") => false,
                _ => return Err(UpstreamError::Uri),
            },
            authority: parts.authority.ok_or(UpstreamError::Uri)?,
        };
        *request.uri_mut() = parts
            .path_and_query
            .map_or_else(|| Uri::from_static("/"), Uri::from);
        if !request.headers().contains_key(http::header::HOST)
            && let Ok(host) = http::HeaderValue::from_str(key.authority.as_str())
        {
            request.headers_mut().insert(http::header::HOST, host);
        }
        loop {
            let (mut sender, reused) = match self.checkout(&key).await {
                Some(sender) => (sender, true),
                None => (self.connect(&key).await?, false),
            };
            match sender.try_send_request(request).await {
                Ok(response) => return Ok(self.hold_until_read(key, sender, response)),
                Err(mut error) => match error.take_message() {
                    // A kept-alive connection the upstream had closed: the request was
                    // not sent, so it goes on another connection.
                    Some(unsent) if reused => request = unsent,
                    _ => return Err(UpstreamError::Http(error.into_error())),
                },
            }
        }
    }

    /// The most recently used live idle connection to `key`, ready for a request.
    async fn checkout(&self, key: &PoolKey) -> Option<SendRequest<UpstreamBody>> {
        loop {
            let mut sender = {
                let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
                let list = idle.by_upstream.get_mut(key)?;
                let connection = list.pop()?;
                if connection.since.elapsed() >= POOL_IDLE_TIMEOUT {
                    // The rest are older still.
                    list.clear();
                    return None;
                }
                connection.sender
            };
            if sender.is_closed() {
                continue;
            }
            // Ready at once, unless the connection is still finishing the last exchange.
            if sender.ready().await.is_ok() {
                return Some(sender);
            }
        }
    }

    async fn connect(&self, key: &PoolKey) -> Result<SendRequest<UpstreamBody>, UpstreamError> {
        // What the connector reads: scheme, host and port.
        let uri = Uri::builder()
            .scheme(if key.https { "https" } else { "http" })
            .authority(key.authority.clone())
            .path_and_query("/")
            .build()
            .map_err(|_| UpstreamError::Uri)?;
        let io = self
            .connector
            .clone()
            .oneshot(uri)
            .await
            .map_err(UpstreamError::Connect)?;
        let (sender, connection) = hyper::client::conn::http1::Builder::new()
            .handshake(io)
            .await
            .map_err(UpstreamError::Http)?;
        tokio::spawn(async move {
            if let Err(error) = connection.with_upgrades().await {
                tracing::debug!(%error, "upstream connection ended");
            }
        });
        Ok(sender)
    }

    /// `response` with a body that puts `sender` back in the pool once it has been read
    /// to the end.
    fn hold_until_read(
        self: &Arc<Self>,
        key: PoolKey,
        sender: SendRequest<UpstreamBody>,
        response: Response<Incoming>,
    ) -> Response<UpstreamResponseBody> {
        // An upgraded connection belongs to the tunnel now.
        let reusable = response.status() != http::StatusCode::SWITCHING_PROTOCOLS;
        let reuse = reusable.then(|| Reuse {
            pool: Arc::clone(self),
            key,
            sender,
        });
        let mut response = response.map(|inner| UpstreamResponseBody { inner, reuse });
        // Nothing to read (204, 304, HEAD): the connection is free now.
        if response.body().inner.is_end_stream() {
            response.body_mut().put_back();
        }
        response
    }

    fn put(&self, key: PoolKey, sender: SendRequest<UpstreamBody>) {
        if sender.is_closed() {
            return;
        }
        // One clock read per put: the sweep, the stale check and the new entry share it.
        let now = Instant::now();
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        idle.sweep(now);
        let list = idle.by_upstream.entry(key).or_default();
        // Oldest first: let go of those idle too long.
        let stale = list
            .iter()
            .take_while(|c| now.duration_since(c.since) >= POOL_IDLE_TIMEOUT)
            .count();
        list.drain(..stale);
        if list.len() < MAX_IDLE_PER_UPSTREAM {
            list.push(IdleConnection { sender, since: now });
        }
    }
}

/// A checked-out connection to give back when its response has been read.
struct Reuse {
    pool: Arc<Http1Pool>,
    key: PoolKey,
    sender: SendRequest<UpstreamBody>,
}

impl Reuse {
    fn put_back(self) {
        self.pool.put(self.key, self.sender);
    }
}

/// An upstream response body; over HTTP/1.1 its connection goes back to the pool when the
/// body ends (not when it is dropped half-read: the rest would still be on the wire).
pub struct UpstreamResponseBody {
    inner: Incoming,
    reuse: Option<Reuse>,
}

impl UpstreamResponseBody {
    fn put_back(&mut self) {
        if let Some(reuse) = self.reuse.take() {
            reuse.put_back();
        }
    }
}

impl Body for UpstreamResponseBody {
    type Data = bytes::Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Err(_))) => this.reuse = None,
            Poll::Ready(None) => this.put_back(),
            Poll::Ready(Some(Ok(_))) if this.inner.is_end_stream() => this.put_back(),
            _ => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

fn tcp() -> HttpConnector {
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    http.set_connect_timeout(Some(CONNECT_TIMEOUT));
    http
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt as _;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    /// A raw HTTP/1.1 upstream: answers every request head it reads with `response`, closes
    /// each connection after `per_connection` answers, and counts the connections it took.
    async fn upstream(response: &'static [u8], per_connection: usize) -> (Uri, Arc<AtomicUsize>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let uri: Uri = format!("http://{}/", listener.local_addr().unwrap())
            .parse()
            .unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let count = Arc::clone(&accepted);
        tokio::spawn(async move {
            loop {
                let (mut socket, _) = listener.accept().await.unwrap();
                count.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut answered = 0;
                    while answered < per_connection {
                        let mut chunk = [0u8; 1024];
                        let Ok(n) = socket.read(&mut chunk).await else {
                            return;
                        };
                        if n == 0 {
                            return;
                        }
                        buf.extend_from_slice(&chunk[..n]);
                        while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            buf.drain(..end + 4);
                            if socket.write_all(response).await.is_err() {
                                return;
                            }
                            answered += 1;
                        }
                    }
                });
            }
        });
        (uri, accepted)
    }

    fn get(uri: &Uri) -> Request<UpstreamBody> {
        let mut request = Request::new(UpstreamBody::Right(http_body_util::Full::default()));
        *request.uri_mut() = uri.clone();
        request
    }

    async fn read_all(response: Response<UpstreamResponseBody>) -> (u16, Vec<u8>) {
        let status = response.status().as_u16();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        (status, body.to_vec())
    }

    #[tokio::test]
    async fn a_connection_is_reused_once_its_response_was_read() {
        let (uri, accepted) = upstream(
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
            usize::MAX,
        )
        .await;
        let clients = UpstreamClients::new(&UpstreamTls::default());
        for _ in 0..5 {
            let response = clients.send(false, get(&uri)).await.unwrap();
            assert_eq!(read_all(response).await, (200, b"ok".to_vec()));
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 1);

        // A body-less answer gives its connection back without being read.
        let (uri, accepted) = upstream(b"HTTP/1.1 204 No Content\r\n\r\n", usize::MAX).await;
        for _ in 0..3 {
            let response = clients.send(false, get(&uri)).await.unwrap();
            assert_eq!(response.status(), 204);
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_connection_the_upstream_closed_is_replaced_without_failing_the_request() {
        // No `Connection: close`: the upstream just hangs up after each answer, as one whose
        // keep-alive timeout fired would.
        let (uri, accepted) = upstream(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", 1).await;
        let clients = UpstreamClients::new(&UpstreamTls::default());
        for _ in 0..4 {
            let response = clients.send(false, get(&uri)).await.unwrap();
            assert_eq!(read_all(response).await, (200, b"ok".to_vec()));
            // Let the close reach the idle connection, or not: both must work.
            tokio::task::yield_now().await;
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 4);
    }

    #[tokio::test]
    async fn a_half_read_or_upgraded_connection_is_never_reused() {
        let (uri, accepted) = upstream(
            b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n12345",
            usize::MAX,
        )
        .await;
        let clients = UpstreamClients::new(&UpstreamTls::default());
        for _ in 0..2 {
            let response = clients.send(false, get(&uri)).await.unwrap();
            drop(response); // five bytes still owed on the wire
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 2);

        let (uri, accepted) = upstream(
            b"HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: x\r\n\r\n",
            usize::MAX,
        )
        .await;
        for _ in 0..2 {
            let response = clients.send(false, get(&uri)).await.unwrap();
            assert_eq!(response.status(), 101);
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_refused_connection_is_a_connect_error() {
        let port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap().port()
        };
        let uri: Uri = format!("http://127.0.0.1:{port}/").parse().unwrap();
        let clients = UpstreamClients::new(&UpstreamTls::default());
        let error = clients.send(false, get(&uri)).await.err().unwrap();
        assert!(error.is_connect(), "{error}");
        let relative = Request::new(UpstreamBody::Right(http_body_util::Full::default()));
        assert!(matches!(
            clients.send(false, relative).await,
            Err(UpstreamError::Uri)
        ));
    }

    #[test]
    fn unusable_pem_files_are_refused_with_the_reason() {
        let error = UpstreamTls::new(Some(b"not a certificate"), None)
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            error.as_deref(),
            Some("the upstream CA bundle holds no usable certificate")
        );
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["client".to_owned()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let other_key = rcgen::KeyPair::generate().unwrap();
        assert!(
            UpstreamTls::new(
                None,
                Some((cert.pem().as_bytes(), key.serialize_pem().as_bytes()))
            )
            .is_ok()
        );
        assert!(
            UpstreamTls::new(None, Some((cert.pem().as_bytes(), b"no key"))).is_err(),
            "a key that is not PEM"
        );
        assert!(
            UpstreamTls::new(
                None,
                Some((cert.pem().as_bytes(), other_key.serialize_pem().as_bytes()))
            )
            .is_err(),
            "a key that does not match the certificate"
        );
    }
}
