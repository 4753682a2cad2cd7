//! The demo that `gantry up` starts with: a small "PizzaShack" backend (WSO2's classic
//! sample) and, on first start, the PizzaShackAPI published and deployed in front of it.
//!
//! The API is created through the same publisher functions the REST API uses, so the demo
//! exercises the real path: create → publish → revision → deploy → gateway snapshot.

use std::convert::Infallible;
use std::path::Path;

use bytes::Bytes;
use gantry_control_plane::AppState;
use gantry_control_plane::bootstrap::DEFAULT_ENVIRONMENT;
use gantry_control_plane::publisher::{apis, revisions};
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use serde_json::json;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

const MARKER: &str = ".demo-seeded";

/// Creates, publishes and deploys the demo API once per data directory.
pub async fn seed(state: &AppState, data_dir: &Path, backend_url: &str) -> anyhow::Result<()> {
    let marker = data_dir.join(MARKER);
    if marker.exists() {
        return Ok(());
    }
    let request = serde_json::from_value(json!({
        "name": "PizzaShackAPI",
        "description": "The demo API of `gantry up`: order pizza. /menu is open; orders need a token.",
        "context": "/pizzashack",
        "version": "1.0.0",
        "tags": ["demo", "pizza"],
        "policies": ["Unlimited", "Gold", "Silver", "Bronze"],
        "endpointConfig": {"endpoint_type": "http", "production_endpoints": {"url": backend_url}},
        "operations": [
            {"target": "/menu", "verb": "GET", "authType": "None"},
            {"target": "/order", "verb": "POST"},
            {"target": "/order/{orderId}", "verb": "GET"}
        ]
    }))?;
    let created = apis::create_api(state, request, "admin").await;
    let api = match created {
        Ok(api) => api,
        // Someone made an API with that name already: leave theirs alone.
        Err(gantry_control_plane::error::ApiError::Conflict(_)) => {
            std::fs::write(&marker, b"")?;
            return Ok(());
        }
        Err(e) => return Err(anyhow::anyhow!("{e}")),
    };
    let err = |e: gantry_control_plane::error::ApiError| anyhow::anyhow!("{e}");
    apis::change_lifecycle(state, &api.id, "Publish", "admin")
        .await
        .map_err(err)?;
    let revision = revisions::create_revision(state, &api.id, "demo")
        .await
        .map_err(err)?;
    let target = revisions::DeploymentTarget {
        name: Some(DEFAULT_ENVIRONMENT.to_owned()),
        vhost: Some("localhost".to_owned()),
        display_on_devportal: true,
    };
    revisions::deploy_revision(state, &api.id, &revision.id, &[target])
        .await
        .map_err(err)?;
    std::fs::write(&marker, b"")?;
    tracing::info!(api_id = %api.id, "demo API PizzaShackAPI deployed");
    Ok(())
}

/// Serves the PizzaShack backend until `shutdown`.
pub async fn serve_backend(listener: TcpListener, shutdown: CancellationToken) {
    let builder = auto::Builder::new(TokioExecutor::new());
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(_) => continue,
            },
            _ = shutdown.cancelled() => return,
        };
        let connection = builder
            .serve_connection(
                TokioIo::new(stream),
                service_fn(|r| async { Ok::<_, Infallible>(respond(r).await) }),
            )
            .into_owned();
        tokio::spawn(connection);
    }
}

async fn respond(request: Request<Incoming>) -> Response<Full<Bytes>> {
    let path = request.uri().path().trim_end_matches('/').to_owned();
    let method = request.method().clone();
    let (status, body) = match (method, path.as_str()) {
        (Method::GET, "/menu") => (
            StatusCode::OK,
            json!([
                {"name": "Chicken Parmesan", "price": "14.99", "icon": "chicken.png"},
                {"name": "Margherita", "price": "11.99", "icon": "margherita.png"},
                {"name": "Pepperoni", "price": "12.99", "icon": "pepperoni.png"},
                {"name": "Tuscan Six Cheese", "price": "13.99", "icon": "cheese.png"}
            ]),
        ),
        (Method::POST, "/order") => {
            let body = Limited::new(request.into_body(), 64 * 1024).collect().await;
            match body.map(|b| b.to_bytes()) {
                Ok(bytes) => {
                    let order: serde_json::Value =
                        serde_json::from_slice(&bytes).unwrap_or(json!({}));
                    (
                        StatusCode::CREATED,
                        json!({"orderId": uuid_like(), "status": "PLACED", "order": order}),
                    )
                }
                Err(_) => (
                    StatusCode::PAYLOAD_TOO_LARGE,
                    json!({"error": "order too large"}),
                ),
            }
        }
        (Method::GET, p) if p.starts_with("/order/") => {
            let id = &p["/order/".len()..];
            (
                StatusCode::OK,
                json!({"orderId": id, "status": "DELIVERED", "pizza": "Margherita"}),
            )
        }
        _ => (
            StatusCode::NOT_FOUND,
            json!({"error": "no such resource in the PizzaShack backend"}),
        ),
    };
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    response
}

fn uuid_like() -> String {
    gantry_keys::secret::random_token(9)
}
