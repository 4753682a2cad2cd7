//! Endpoint certificates (WSO2 publisher `/endpoint-certificates`), through the real
//! binary: an HTTPS upstream whose certificate no root vouches for is a 502 at the gateway
//! until its certificate is uploaded for that endpoint, then it is served; the certificate
//! reaches the gateway with the configuration sync, and trusts only its own endpoint's host.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use gantry_testkit::rest::Rest;
use gantry_testkit::{GantryUp, eventually};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_gantry");
const PUB: &str = "/api/am/publisher/v4";
const CERTS: &str = "/api/am/publisher/v4/endpoint-certificates";

/// A self-signed certificate for `host` and its key, PEM.
fn self_signed(host: &str) -> (String, String) {
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec![host.to_owned()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    (cert.pem(), key.serialize_pem())
}

/// An HTTPS upstream answering `{"tls": true}`, stopped when dropped.
struct TlsUpstream {
    port: u16,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TlsUpstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TlsUpstream {
    async fn start(cert: &str, key: &str) -> Self {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let chain = CertificateDer::pem_slice_iter(cert.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .unwrap();
        let key = PrivateKeyDer::from_pem_slice(key.as_bytes()).unwrap();
        let mut config = rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .unwrap();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    // A client that does not trust the certificate fails here.
                    let Ok(tls) = acceptor.accept(stream).await else {
                        return;
                    };
                    let service = hyper::service::service_fn(|_: http::Request<_>| async {
                        Ok::<_, std::convert::Infallible>(http::Response::new(
                            http_body_util::Full::new(bytes::Bytes::from(r#"{"tls":true}"#)),
                        ))
                    });
                    let _ = hyper_util::server::conn::auto::Builder::new(
                        hyper_util::rt::TokioExecutor::new(),
                    )
                    .serve_connection(hyper_util::rt::TokioIo::new(tls), service)
                    .await;
                });
            }
        });
        Self { port, task }
    }
}

async fn deploy_open(rest: &Rest, name: &str, context: &str, url: &str) -> String {
    rest.create_and_deploy(json!({"name": name, "context": context, "version": "1.0.0",
            "endpointConfig": {"endpoint_type": "http", "production_endpoints": {"url": url}},
            "operations": [{"target": "/*", "verb": "GET", "authType": "None"}]}))
        .await
}

async fn status_of(http: &reqwest::Client, url: &str) -> StatusCode {
    http.get(url).send().await.unwrap().status()
}

/// WSO2's multipart fields for an upload.
fn fields<'a>(alias: &'a str, endpoint: &'a str, certificate: &'a str) -> [(&'a str, &'a str); 3] {
    [
        ("alias", alias),
        ("endpoint", endpoint),
        ("certificate", certificate),
    ]
}

async fn upload(rest: &Rest, fields: &[(&str, &str)]) -> (StatusCode, Value) {
    rest.send_multipart(Method::POST, CERTS, fields, &["certificate"])
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_uploaded_endpoint_certificate_lets_the_gateway_reach_a_self_signed_upstream() {
    let (pem, key) = self_signed("127.0.0.1");
    let upstream = TlsUpstream::start(&pem, &key).await;
    // Another self-signed upstream, on another host name, whose certificate is never uploaded.
    let (other_pem, other_key) = self_signed("localhost");
    let other = TlsUpstream::start(&other_pem, &other_key).await;
    let mut up = GantryUp::start_with(BIN, false).await;
    let admin = up.rest();
    admin
        .create_user("sue", "sue-pass-1", &["Internal/subscriber"])
        .await;
    admin
        .create_user("pat", "pat-pass-1", &["Internal/publisher"])
        .await;
    let endpoint = format!("https://127.0.0.1:{}", upstream.port);
    let api_id = deploy_open(&admin, "Secure", "/secure", &endpoint).await;
    deploy_open(
        &admin,
        "Other",
        "/other",
        &format!("https://localhost:{}", other.port),
    )
    .await;
    let http = reqwest::Client::new();
    let secure = up.gw_url("/secure/1.0.0/orders");
    let other_url = up.gw_url("/other/1.0.0/orders");
    assert!(
        eventually(Duration::from_secs(10), || async {
            status_of(&http, &secure).await == StatusCode::BAD_GATEWAY
        })
        .await,
        "an upstream certificate no root vouches for is refused: 502"
    );
    assert_eq!(status_of(&http, &other_url).await, StatusCode::BAD_GATEWAY);

    // Refused uploads: WSO2's error bodies.
    let sue = admin.as_user("sue", "sue-pass-1");
    let (status, body) = upload(&sue, &fields("up", &endpoint, &pem)).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    for (bad, why) in [
        (fields("up", &endpoint, "not a certificate"), "certificate"),
        (fields("up", "", &pem), "endpoint"),
        (fields("", &endpoint, &pem), "alias"),
        (
            fields("an-alias-longer-than-thirty-chars", &endpoint, &pem),
            "alias",
        ),
    ] {
        let (status, body) = upload(&admin, &bad).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{why}: {body}");
        assert_eq!(body["code"], 400, "{body}");
        assert!(
            body["description"].as_str().unwrap().contains(why),
            "{body}"
        );
    }

    // Uploaded for the endpoint: the gateway syncs it and reaches the upstream.
    let (status, added) = upload(&admin, &fields("up", &endpoint, &pem)).await;
    assert_eq!(status, StatusCode::OK, "{added}");
    assert_eq!(added, json!({"alias": "up", "endpoint": endpoint}));
    let (status, body) = upload(&admin, &fields("up", &endpoint, &pem)).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(
        eventually(Duration::from_secs(10), || async {
            status_of(&http, &secure).await == StatusCode::OK
        })
        .await,
        "after the upload the gateway trusts the upstream"
    );
    let served: Value = http
        .get(&secure)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(served, json!({"tls": true}));
    assert_eq!(
        status_of(&http, &other_url).await,
        StatusCode::BAD_GATEWAY,
        "the certificate is trusted for its own endpoint only"
    );

    // Reads: anyone with the view scopes (a publisher too); unknown aliases are 404.
    let pat = admin.as_user("pat", "pat-pass-1");
    let (status, list) = pat.get(CERTS).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    assert_eq!(list["count"], 1);
    assert_eq!(list["certificates"][0]["alias"], "up");
    let (_, filtered) = pat.get(&format!("{CERTS}?alias=none")).await;
    assert_eq!(filtered["count"], 0, "{filtered}");
    let (status, info) = pat.get(&format!("{CERTS}/up")).await;
    assert_eq!(status, StatusCode::OK, "{info}");
    assert_eq!(info["status"], "Active");
    assert!(info["validity"]["to"].is_string(), "{info}");
    let content = pat
        .request(Method::GET, &format!("{CERTS}/up/content"))
        .send()
        .await
        .unwrap();
    assert_eq!(content.status(), StatusCode::OK);
    let downloaded = content.text().await.unwrap();
    assert_eq!(
        downloaded.replace('\r', "").trim(),
        pem.replace('\r', "").trim()
    );
    let (status, usage) = admin.get(&format!("{CERTS}/up/usage")).await;
    assert_eq!(status, StatusCode::OK, "{usage}");
    assert_eq!(usage["count"], 1, "{usage}");
    assert_eq!(usage["list"][0]["id"], api_id.as_str());
    let (status, body) = pat.get(&format!("{CERTS}/nope")).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(body["code"], 404);
    let (status, _) = pat.delete(&format!("{CERTS}/up")).await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "publishers may read, not delete"
    );

    // Replaced, then deleted.
    let (new_pem, _) = self_signed("127.0.0.1");
    let (status, replaced) = admin
        .send_multipart(
            Method::PUT,
            &format!("{CERTS}/up"),
            &[("certificate", &new_pem)],
            &["certificate"],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{replaced}");
    assert_eq!(replaced["endpoint"], endpoint.as_str());
    let (status, _) = admin.delete(&format!("{CERTS}/up")).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = admin.get(&format!("{CERTS}/up")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = admin.get(&format!("{PUB}/apis/{api_id}")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    up.stop();
}
