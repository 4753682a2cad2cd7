//! Serves the control plane's router (REST, OAuth2, portals, gRPC sync) over TLS with
//! graceful shutdown, through the accept loop shared with the gateway.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower::Layer;

/// Serves `router` on `listener` over TLS until `shutdown`, then drains for up to `grace`.
pub async fn serve_tls(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    router: Router,
    shutdown: CancellationToken,
    grace: Duration,
) {
    // Each request carries its connection (peer, verified client certificate) as an extension.
    gantry_listener::serve(listener, Some(tls), shutdown, grace, move |connection| {
        TowerToHyperService::new(axum::Extension(connection).layer(router.clone()))
    })
    .await;
}
