//! Serves the control plane's router (REST, OAuth2, portals, gRPC sync) over TLS with
//! graceful shutdown, through the accept loop shared with the gateway.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Serves `router` on `listener` over TLS until `shutdown`, then drains for up to `grace`.
pub async fn serve_tls(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    router: Router,
    shutdown: CancellationToken,
    grace: Duration,
) {
    // Each request carries its connection: the peer address as axum's ConnectInfo (handlers
    // rate-limit by it) and the whole `Connection` (verified client certificate) for the
    // gRPC sync service.
    gantry_listener::serve(
        listener,
        Some(tls),
        gantry_listener::Stop::after(shutdown, grace),
        move |connection| {
            let router = router.clone();
            TowerToHyperService::new(tower::ServiceExt::map_request(
                router,
                move |mut request: hyper::Request<hyper::body::Incoming>| {
                    request
                        .extensions_mut()
                        .insert(axum::extract::ConnectInfo(connection.peer));
                    request.extensions_mut().insert(connection.clone());
                    request
                },
            ))
        },
    )
    .await;
}
