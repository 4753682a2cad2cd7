//! Serves the control plane's router (REST, OAuth2, portals, gRPC sync) over TLS with
//! graceful shutdown, through the accept loop shared with the gateway.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use gantry_listener::declared_length::DeclaredLength;
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
                move |request: hyper::Request<hyper::body::Incoming>| {
                    let (mut parts, body) = request.into_parts();
                    parts
                        .extensions
                        .insert(axum::extract::ConnectInfo(connection.peer));
                    parts.extensions.insert(connection.clone());
                    // hyper holds an HTTP/1 body to its content-length; an HTTP/2 body is
                    // held here, so a stream that ends short (or is reset with NO_ERROR,
                    // which hyper reads as a clean end) is an error, not a cut-off upload.
                    let declared = gantry_listener::declared_length::declared_h2(
                        parts.version,
                        &parts.headers,
                    );
                    hyper::Request::from_parts(parts, DeclaredLength::new(body, declared))
                },
            ))
        },
    )
    .await;
}
