//! The data plane: a gateway that serves one environment's deployed APIs.
//!
//! It receives versioned snapshots through a [`SnapshotReceiver`], compiles each into a
//! [`CompiledConfig`] off the request path and swaps it in atomically; the listeners then
//! route, authenticate, authorise and proxy every call with the configuration of the moment.
//! The gateway never links the control plane's store: the snapshot is all it knows.
#![forbid(unsafe_code)]

pub mod auth;
pub mod proxy;
pub mod respond;
pub mod routes;

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwapOption;
use gantry_sync::SnapshotReceiver;
use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use routes::CompiledConfig;

use crate::respond::Body;

/// How long a client may take to send request headers before getting a 408-style close.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// A gateway for one environment.
#[derive(Clone)]
pub struct Gateway {
    environment: Arc<str>,
    config: Arc<ArcSwapOption<CompiledConfig>>,
    proxy: Arc<proxy::Proxy>,
}

impl Gateway {
    /// A gateway for `environment` with no configuration yet (not ready).
    pub fn new(environment: &str) -> Self {
        let config = Arc::new(ArcSwapOption::empty());
        Self {
            environment: Arc::from(environment),
            proxy: Arc::new(proxy::Proxy::new(config.clone())),
            config,
        }
    }

    /// The environment served.
    pub fn environment(&self) -> &str {
        &self.environment
    }

    /// Whether it holds a configuration (readiness).
    pub fn is_ready(&self) -> bool {
        self.config.load().is_some()
    }

    /// The version of the configuration in use.
    pub fn config_version(&self) -> Option<u64> {
        self.config.load().as_ref().map(|c| c.version)
    }

    /// Applies `snapshot` if it is newer than the one in use. Returns whether it was applied.
    pub fn apply(&self, snapshot: &gantry_model::GatewaySnapshot) -> bool {
        if snapshot.environment != *self.environment {
            tracing::warn!(expected = %self.environment, got = %snapshot.environment, "snapshot for another environment ignored");
            return false;
        }
        if self
            .config_version()
            .is_some_and(|current| snapshot.version <= current)
        {
            return false;
        }
        let compiled = CompiledConfig::compile(snapshot);
        let (version, apis) = (compiled.version, compiled.api_count);
        self.config.store(Some(Arc::new(compiled)));
        tracing::info!(environment = %self.environment, version, apis, "config applied");
        true
    }

    /// Applies every snapshot `receiver` yields until it closes or `shutdown` fires.
    pub async fn follow(self, mut receiver: SnapshotReceiver, shutdown: CancellationToken) {
        if let Some(snapshot) = receiver.current() {
            self.apply(&snapshot);
        }
        loop {
            tokio::select! {
                next = receiver.next() => match next {
                    Some(snapshot) => { self.apply(&snapshot); }
                    None => break,
                },
                _ = shutdown.cancelled() => break,
            }
        }
    }

    /// Serves API traffic (HTTP/1.1 and h2c) on `listener` until `shutdown`, then drains
    /// in-flight requests for up to `grace`.
    pub async fn serve(self, listener: TcpListener, shutdown: CancellationToken, grace: Duration) {
        let proxy = self.proxy.clone();
        serve_http(listener, shutdown, grace, move |request, peer| {
            let proxy = proxy.clone();
            async move { proxy.handle(request, peer).await }
        })
        .await;
    }

    /// Serves `/health/live` and `/health/ready` on `listener` until `shutdown`.
    pub async fn serve_ops(self, listener: TcpListener, shutdown: CancellationToken) {
        serve_http(
            listener,
            shutdown,
            Duration::from_secs(1),
            move |request, _| {
                let gateway = self.clone();
                async move { gateway.ops(&request) }
            },
        )
        .await;
    }

    fn ops(&self, request: &Request<Incoming>) -> Response<Body> {
        let (status, body) = match request.uri().path() {
            "/health/live" => (StatusCode::OK, serde_json::json!({"status": "UP"})),
            "/health/ready" => match self.config_version() {
                Some(version) => (
                    StatusCode::OK,
                    serde_json::json!({"status": "READY", "environment": &*self.environment, "configVersion": version}),
                ),
                None => (
                    StatusCode::SERVICE_UNAVAILABLE,
                    serde_json::json!({"status": "NOT_READY", "environment": &*self.environment, "reason": "no configuration received yet"}),
                ),
            },
            _ => return respond::no_route(),
        };
        let mut response = Response::new(respond::full(body.to_string()));
        *response.status_mut() = status;
        response.headers_mut().insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/json"),
        );
        response
    }
}

/// Accepts connections on `listener` and serves each with `handler` until `shutdown`; then
/// stops accepting and waits up to `grace` for open connections to finish.
async fn serve_http<F, Fut>(
    listener: TcpListener,
    shutdown: CancellationToken,
    grace: Duration,
    handler: F,
) where
    F: Fn(Request<Incoming>, std::net::SocketAddr) -> Fut + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = Response<Body>> + Send + 'static,
{
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT);
    let graceful = GracefulShutdown::new();
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
            _ = shutdown.cancelled() => break,
        };
        let _ = stream.set_nodelay(true);
        let handler = handler.clone();
        let service = service_fn(move |request| {
            let handler = handler.clone();
            async move { Ok::<_, Infallible>(handler(request, peer).await) }
        });
        let connection = builder
            .serve_connection_with_upgrades(TokioIo::new(stream), service)
            .into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%error, "connection ended with an error");
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            grace_ms = grace.as_millis() as u64,
            "connections still open after the grace period"
        );
    }
}
