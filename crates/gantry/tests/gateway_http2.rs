//! HTTP/2 end to end through the real `gantry up` binary: h2c and h2-over-TLS clients get the
//! same enforcement as HTTP/1.1 ones and the upstream a well-formed HTTP/1.1 request; an h2
//! request lying about its length never reaches the upstream (test catalogue H26);
//! endpoints marked `http2` are spoken to over HTTP/2; gRPC passes through between a real
//! gRPC client and server (Python grpcio) with trailers and streaming both ways; and
//! mutual TLS to upstreams (`--upstream-ca`, `--upstream-client-cert/-key`).
//!
//! The gRPC test needs python3 with `grpcio`, so it is `#[ignore]`d: `.ci/run` installs grpcio
//! and runs it with `cargo test --workspace -- --ignored`.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use gantry_testkit::raw_h2::{H2Client, HeaderBlock, flag, frame, kind};
use gantry_testkit::rest::Rest;
use gantry_testkit::{EchoUpstream, GantryUp, free_port};
use reqwest::{StatusCode, Version};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_gantry");
const PUB: &str = "/api/am/publisher/v4";

/// An API at `context` whose every GET and POST needs no token.
async fn deploy_open(rest: &Rest, name: &str, context: &str, endpoint: Value) -> String {
    rest.create_and_deploy(json!({"name": name, "context": context, "version": "1.0.0",
            "endpointConfig": endpoint,
            "operations": [{"target": "/*", "verb": "GET", "authType": "None"},
                           {"target": "/*", "verb": "POST", "authType": "None"}]}))
        .await
}

fn ca_pem(up: &GantryUp) -> reqwest::Certificate {
    let pem = std::fs::read(up.data_dir().join("tls").join("ca.pem")).unwrap();
    reqwest::Certificate::from_pem(&pem).unwrap()
}

/// What the echo upstream saw, checked to be a well-formed HTTP/1.1 request.
fn assert_forwarded_as_http1(seen: &Value, upstream: &EchoUpstream, context: &str) {
    assert_eq!(seen["version"], "HTTP/1.1", "{context}: {seen}");
    let authority = upstream.url().trim_start_matches("http://").to_owned();
    assert_eq!(
        seen["headers"]["host"],
        authority.as_str(),
        "{context}: {seen}"
    );
    let headers = seen["headers"].as_object().unwrap();
    assert!(
        headers.keys().all(|name| !name.starts_with(':')),
        "{context}: no pseudo-header reaches an HTTP/1.1 upstream: {seen}"
    );
    assert!(
        !headers.contains_key("authorization"),
        "{context}: the token stays at the gateway: {seen}"
    );
}

#[tokio::test]
async fn h2c_and_h2_over_tls_are_enforced_like_http1_and_forwarded_as_http1() {
    let upstream = EchoUpstream::start().await;
    let https = free_port();
    let up = GantryUp::start_with_env(
        BIN,
        false,
        &[("GANTRY_GATEWAY_HTTPS_PORT", &https.to_string())],
    )
    .await;
    let rest = up.rest();
    let api = rest.create_and_deploy(json!({"name": "H2", "context": "/h2", "version": "1.0.0", "policies": ["Gold"],
            "endpointConfig": {"endpoint_type": "http", "production_endpoints": {"url": upstream.url()}},
            "operations": [{"target": "/items", "verb": "GET"}, {"target": "/items", "verb": "POST"}]}),
    )
    .await;
    let token = rest.subscribed_token("H2App", &[&api], "Gold").await;

    let plain = SocketAddr::from(([127, 0, 0, 1], up.gw_port));
    let tls = SocketAddr::from(([127, 0, 0, 1], https));
    let client = || {
        reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .tls_certs_only([ca_pem(&up)])
    };
    let h2c = client()
        .http2_prior_knowledge()
        .resolve("localhost", plain)
        .build()
        .unwrap();
    let h2_tls = client().resolve("localhost", tls).build().unwrap();
    let h1_tls = client()
        .http1_only()
        .resolve("localhost", tls)
        .build()
        .unwrap();
    let plain_base = format!("http://localhost:{}", up.gw_port);
    let tls_base = format!("https://localhost:{https}");
    for (name, client, base, version, proto) in [
        ("h2c", &h2c, &plain_base, Version::HTTP_2, "http"),
        ("h2 by ALPN", &h2_tls, &tls_base, Version::HTTP_2, "https"),
        (
            "HTTP/1.1 over TLS",
            &h1_tls,
            &tls_base,
            Version::HTTP_11,
            "https",
        ),
    ] {
        let url = format!("{base}/h2/1.0.0/items");
        let denied = client.get(&url).send().await.unwrap();
        assert_eq!(denied.version(), version, "{name}");
        assert_eq!(denied.status(), StatusCode::UNAUTHORIZED, "{name}");
        let body: Value = denied.json().await.unwrap();
        assert_eq!(body["code"], "900902", "{name}: {body}");

        let allowed = client
            .get(&url)
            .bearer_auth(&token)
            .header("cookie", "a=1")
            .header("cookie", "b=2")
            .send()
            .await
            .unwrap();
        assert_eq!(allowed.version(), version, "{name}");
        assert_eq!(allowed.status(), StatusCode::OK, "{name}");
        let seen: Value = allowed.json().await.unwrap();
        assert_forwarded_as_http1(&seen, &upstream, name);
        assert_eq!(seen["path"], "/items", "{name}: {seen}");
        assert_eq!(
            seen["headers"]["x-forwarded-proto"], proto,
            "{name}: {seen}"
        );
        if version == Version::HTTP_2 {
            assert_eq!(
                seen["headers"]["cookie"], "a=1; b=2",
                "{name}: HTTP/2 cookie fields reach HTTP/1.1 as one line: {seen}"
            );
        }

        let posted = client
            .post(&url)
            .bearer_auth(&token)
            .body("eleven byte")
            .send()
            .await
            .unwrap();
        assert_eq!(posted.status(), StatusCode::OK, "{name}");
        let seen: Value = posted.json().await.unwrap();
        assert_forwarded_as_http1(&seen, &upstream, name);
        assert_eq!(seen["method"], "POST", "{name}: {seen}");
        assert_eq!(seen["bodyLength"], 11, "{name}: {seen}");
    }
}

#[tokio::test]
async fn endpoints_marked_http2_are_spoken_to_over_h2c_and_others_over_http1() {
    let upstream = EchoUpstream::start().await;
    let up = GantryUp::start(BIN).await;
    let rest = up.rest();
    let marked = deploy_open(
        &rest,
        "H2Upstream",
        "/h2-upstream",
        json!({"endpoint_type": "http", "http2": true,
            "production_endpoints": {"url": format!("{}/base", upstream.url())}}),
    )
    .await;
    deploy_open(
        &rest,
        "H1Upstream",
        "/h1-upstream",
        json!({"endpoint_type": "http", "production_endpoints": {"url": upstream.url()}}),
    )
    .await;
    let (status, api) = rest.get(&format!("{PUB}/apis/{marked}")).await;
    assert_eq!(status, StatusCode::OK, "{api}");
    assert_eq!(
        api["endpointConfig"]["http2"], true,
        "the flag is kept: {api}"
    );
    let (status, refused) = rest
        .post(
            &format!("{PUB}/apis"),
            json!({"name": "BadH2", "context": "/bad-h2", "version": "1.0.0",
                "endpointConfig": {"endpoint_type": "http", "http2": "yes",
                    "production_endpoints": {"url": upstream.url()}}}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");
    assert!(refused.to_string().contains("http2"), "{refused}");

    let client = up.gw_client();
    for (path, version) in [
        ("/h2-upstream/1.0.0/things?x=1", "HTTP/2.0"),
        ("/h1-upstream/1.0.0/things?x=1", "HTTP/1.1"),
    ] {
        let response = client
            .post(up.gw_url(path))
            .body("payload")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        let seen: Value = response.json().await.unwrap();
        assert_eq!(seen["version"], version, "{path}: {seen}");
        assert_eq!(seen["bodyLength"], 7, "{path}: {seen}");
        assert_eq!(seen["query"], "x=1", "{path}: {seen}");
    }
    let response = client
        .get(up.gw_url("/h2-upstream/1.0.0/things"))
        .send()
        .await
        .unwrap();
    let seen: Value = response.json().await.unwrap();
    assert_eq!(seen["path"], "/base/things", "{seen}");
    assert_eq!(seen["version"], "HTTP/2.0", "{seen}");
}

// ---------------------------------------------------------------------------------------
// H26: raw HTTP/2 frames, so the client can lie about content-length.

/// How the gateway answered one raw h2 request on stream 1.
#[derive(Debug, PartialEq, Eq)]
enum H2Answer {
    /// RST_STREAM with this error code.
    Reset(u32),
    /// Response HEADERS whose first HPACK byte is this (0x88: `:status 200`).
    Headers(u8),
    /// GOAWAY with this error code.
    GoAway(u32),
    /// The connection closed without an answer.
    Closed,
}

/// Sends `POST path` on a new h2c connection declaring `content_length`, then — after a
/// pause in which the gateway could already forward the headers — `data` as one DATA frame
/// ending the stream; returns the gateway's answer on stream 1.
async fn raw_h2_post(port: u16, path: &str, content_length: &str, data: &[u8]) -> H2Answer {
    let client = H2Client::connect(port).await;
    let headers = HeaderBlock::request("POST", path, &format!("localhost:{port}"))
        .literal("content-length", content_length);
    client
        .send(&frame(kind::HEADERS, flag::END_HEADERS, 1, headers.bytes()))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    client
        .send(&frame(kind::DATA, flag::END_STREAM, 1, data))
        .await
        .unwrap();
    let heard = client
        .wait_for(Duration::from_secs(5), |h| {
            !h.resets.is_empty() || !h.responses.is_empty() || h.ended()
        })
        .await;
    if let Some(code) = heard.resets.keys().next() {
        H2Answer::Reset(*code)
    } else if let Some((_, first)) = heard.responses.first() {
        H2Answer::Headers(*first)
    } else if let Some(code) = heard.goaway {
        H2Answer::GoAway(code)
    } else {
        assert!(heard.closed, "the gateway answers within 5 s");
        H2Answer::Closed
    }
}

#[tokio::test]
async fn h2_request_whose_content_length_disagrees_with_its_data_never_reaches_the_upstream() {
    let upstream = EchoUpstream::start().await;
    let up = GantryUp::start(BIN).await;
    let rest = up.rest();
    deploy_open(
        &rest,
        "Smuggle",
        "/smuggle",
        json!({"endpoint_type": "http", "production_endpoints": {"url": upstream.url()}}),
    )
    .await;
    let path = "/smuggle/1.0.0/items";
    // More DATA than declared: the excess would be a second request to an HTTP/1.1 upstream.
    let longer = raw_h2_post(
        up.gw_port,
        path,
        "5",
        b"hello0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n",
    )
    .await;
    // Less DATA than declared: the upstream would wait for the rest of the body (or read the
    // next request as its end).
    let shorter = raw_h2_post(up.gw_port, path, "50", b"hello").await;
    for (name, answer) in [("longer", &longer), ("shorter", &shorter)] {
        assert!(
            matches!(answer, H2Answer::Reset(1) | H2Answer::GoAway(1)),
            "{name}: refused with PROTOCOL_ERROR (RFC 9113 §8.1.1), got {answer:?}"
        );
    }
    assert_eq!(
        upstream.hits(),
        0,
        "a lying request never reaches the upstream"
    );

    // The same request, honest: forwarded.
    let honest = raw_h2_post(up.gw_port, path, "5", b"hello").await;
    assert_eq!(honest, H2Answer::Headers(0x88), ":status 200");
    assert_eq!(upstream.hits(), 1);
}

// ---------------------------------------------------------------------------------------
// gRPC passthrough with Python grpcio on both ends.

fn grpc_peer() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/grpc/grpc_peer.py")
}

#[tokio::test]
#[ignore = "needs Python's grpcio: .ci/run installs it and runs it"]
async fn grpc_calls_pass_through_with_trailers_streaming_and_grpc_shaped_errors() {
    let ready = gantry_testkit::python::can_import("grpc", "grpcio");
    gantry_testkit::python::require("the gRPC passthrough test", ready);
    let server = gantry_testkit::python::PythonServer::start(&grpc_peer(), &["serve"]);
    let up = GantryUp::start(BIN).await;
    let rest = up.rest();
    let grpc_api = |name: &str, service: &str, port: u16| {
        // The default version answers on /<service>/<method>, the path gRPC clients use.
        json!({"name": name, "context": format!("/{service}"), "version": "1.0.0",
            "isDefaultVersion": true, "policies": ["Gold"],
            "endpointConfig": {"endpoint_type": "http",
                "production_endpoints": {"url": format!("http://127.0.0.1:{port}/{service}")}},
            "operations": [{"target": "/*", "verb": "POST"}]})
    };
    let echo = rest
        .create_and_deploy(grpc_api("GrpcEcho", "gantry.test.Echo", server.port))
        .await;
    let down = rest
        .create_and_deploy(grpc_api("GrpcDown", "gantry.test.Down", free_port()))
        .await;
    let token = rest
        .subscribed_token("GrpcApp", &[&echo, &down], "Gold")
        .await;

    let (target, authority) = (
        format!("127.0.0.1:{}", up.gw_port),
        format!("localhost:{}", up.gw_port),
    );
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new("python3")
            .arg(grpc_peer())
            .args(["call", &target, &authority, &token])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(
        output.status.success(),
        "the gRPC client failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let seen: Value = serde_json::from_slice(&output.stdout).unwrap();

    // Refusals the gateway makes are gRPC statuses (HTTP 200 + grpc-status), as Envoy's are.
    assert_eq!(seen["no_token"]["code"], "UNAUTHENTICATED", "{seen}");
    assert!(
        seen["no_token"]["details"]
            .as_str()
            .unwrap()
            .contains("Missing Credentials"),
        "{seen}"
    );
    assert_eq!(seen["bad_token"]["code"], "UNAUTHENTICATED", "{seen}");
    assert_eq!(seen["down"]["code"], "UNAVAILABLE", "{seen}");
    assert!(
        seen["down"]["details"]
            .as_str()
            .unwrap()
            .contains("Error connecting to the back end"),
        "{seen}"
    );

    // A unary call: the answer and the upstream's trailers; the token stayed at the gateway.
    assert_eq!(seen["unary"]["code"], "OK", "{seen}");
    assert_eq!(seen["unary"]["response"], "echo:hi|auth=no", "{seen}");
    assert_eq!(seen["unary"]["trailers"]["x-trailer"], "kept", "{seen}");
    // The upstream's own error status and message (trailers) pass through.
    assert_eq!(seen["fail"]["code"], "NOT_FOUND", "{seen}");
    assert_eq!(seen["fail"]["details"], "no such thing", "{seen}");

    // Server streaming: the first message arrives before the stream ends, ~1 s later.
    let stream = &seen["server_stream"];
    assert_eq!(stream["code"], "OK", "{seen}");
    let arrivals = stream["arrivals"].as_array().unwrap();
    assert_eq!(arrivals.len(), 2, "{seen}");
    assert_eq!(arrivals[0]["message"], "first");
    let gap = arrivals[1]["at"].as_f64().unwrap() - arrivals[0]["at"].as_f64().unwrap();
    assert!(gap > 0.5, "the first message was not held back: {seen}");

    // Bidi ping-pong completes only if both directions stream through the gateway.
    assert_eq!(seen["chat"]["code"], "OK", "{seen}");
    assert_eq!(
        seen["chat"]["received"],
        json!(["pong-1", "pong-2", "pong-3"]),
        "{seen}"
    );
}

// ---------------------------------------------------------------------------------------
// Mutual TLS to upstreams.

/// A CA, and a server certificate for 127.0.0.1 it signed, as PEM (ca, cert, key).
fn server_ca_and_certificate() -> (String, String, String) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair, KeyUsagePurpose};
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "upstream CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec!["127.0.0.1".to_owned()])
        .unwrap()
        .signed_by(&key, &ca)
        .unwrap();
    (ca.pem(), cert.pem(), key.serialize_pem())
}

/// An HTTPS upstream (HTTP/1.1 and h2 by ALPN) answering `{"version", "clientCertificate"}`;
/// with `client_ca`, the TLS handshake requires a client certificate that CA signed.
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
    async fn start(cert: &str, key: &str, client_ca: Option<&Path>) -> Self {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let chain = CertificateDer::pem_slice_iter(cert.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .unwrap();
        let key = PrivateKeyDer::from_pem_slice(key.as_bytes()).unwrap();
        let builder = rustls::ServerConfig::builder();
        let builder = match client_ca {
            Some(ca) => {
                let mut roots = rustls::RootCertStore::empty();
                for cert in CertificateDer::pem_file_iter(ca).unwrap() {
                    roots.add(cert.unwrap()).unwrap();
                }
                builder.with_client_cert_verifier(
                    rustls::server::WebPkiClientVerifier::builder(Arc::new(roots))
                        .build()
                        .unwrap(),
                )
            }
            None => builder.with_no_client_auth(),
        };
        let mut config = builder.with_single_cert(chain, key).unwrap();
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
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
                    // A handshake without the required client certificate fails here.
                    let Ok(tls) = acceptor.accept(stream).await else {
                        return;
                    };
                    let client_certificate = tls.get_ref().1.peer_certificates().is_some();
                    let service = hyper::service::service_fn(move |request: http::Request<_>| {
                        let body = json!({
                            "version": format!("{:?}", request.version()),
                            "clientCertificate": client_certificate,
                        });
                        async move {
                            Ok::<_, std::convert::Infallible>(http::Response::new(
                                http_body_util::Full::new(bytes::Bytes::from(body.to_string())),
                            ))
                        }
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

/// Deploys `/tls`, `/mtls` and `/mtls-h2` (HTTP/2 by ALPN) to the two upstreams.
async fn deploy_tls_apis(up: &GantryUp, tls: &TlsUpstream, mtls: &TlsUpstream) {
    let rest = up.rest();
    let endpoint = |port: u16, http2: bool| {
        json!({"endpoint_type": "http", "http2": http2,
            "production_endpoints": {"url": format!("https://127.0.0.1:{port}")}})
    };
    deploy_open(&rest, "Tls", "/tls", endpoint(tls.port, false)).await;
    deploy_open(&rest, "Mtls", "/mtls", endpoint(mtls.port, false)).await;
    deploy_open(&rest, "MtlsH2", "/mtls-h2", endpoint(mtls.port, true)).await;
}

async fn call(up: &GantryUp, path: &str) -> (StatusCode, Value) {
    let response = up.gw_client().get(up.gw_url(path)).send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn upstream_tls_trusts_the_given_ca_and_presents_the_client_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key) = server_ca_and_certificate();
    let ca_path = dir.path().join("upstream-ca.pem");
    std::fs::write(&ca_path, &ca).unwrap();
    let client = gantry_testkit::certs::client_ca_and_certificate(dir.path(), "gantry-gateway");
    let tls = TlsUpstream::start(&cert, &key, None).await;
    let mtls = TlsUpstream::start(&cert, &key, Some(&client.ca)).await;

    let ca_env = ca_path.to_str().unwrap();
    let (cert_env, key_env) = (client.cert.to_str().unwrap(), client.key.to_str().unwrap());
    let trust_only = [("GANTRY_UPSTREAM_CA", ca_env)];
    let trust_and_identity = [
        ("GANTRY_UPSTREAM_CA", ca_env),
        ("GANTRY_UPSTREAM_CLIENT_CERT", cert_env),
        ("GANTRY_UPSTREAM_CLIENT_KEY", key_env),
    ];
    let (bare, trusting, identified) = tokio::join!(
        GantryUp::start(BIN),
        GantryUp::start_with_env(BIN, false, &trust_only),
        GantryUp::start_with_env(BIN, false, &trust_and_identity),
    );
    for up in [&bare, &trusting, &identified] {
        deploy_tls_apis(up, &tls, &mtls).await;
    }

    // An upstream certificate from a CA the gateway was not given: 502.
    let (status, body) = call(&bare, "/tls/1.0.0/x").await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
    assert_eq!(body["code"], "101503", "{body}");
    // Given the CA: trusted.
    let (status, body) = call(&trusting, "/tls/1.0.0/x").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["clientCertificate"], false, "{body}");
    // An upstream that requires a client certificate: 502 without one…
    let (status, body) = call(&trusting, "/mtls/1.0.0/x").await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
    // …200 with it, over HTTP/1.1, or HTTP/2 by ALPN when the endpoint says so.
    let (status, body) = call(&identified, "/mtls/1.0.0/x").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["clientCertificate"], true, "{body}");
    assert_eq!(body["version"], "HTTP/1.1", "{body}");
    let (status, body) = call(&identified, "/mtls-h2/1.0.0/x").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["clientCertificate"], true, "{body}");
    assert_eq!(body["version"], "HTTP/2.0", "{body}");
}

#[tokio::test]
async fn unusable_upstream_tls_files_stop_the_gateway_naming_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("garbage.pem");
    std::fs::write(&garbage, "not a certificate").unwrap();
    let missing = dir.path().join("missing.pem");
    let client = gantry_testkit::certs::client_ca_and_certificate(dir.path(), "gw");
    let other = gantry_testkit::certs::client_ca_and_certificate(&dir.path().join("other"), "x");
    let run = |extra: &[&std::ffi::OsStr]| {
        std::process::Command::new(BIN)
            .args(["gateway", "--environment", "Default", "--token", "unused"])
            .args(["--control-plane", "http://127.0.0.1:9"])
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .args(["--http-port", &free_port().to_string()])
            .args(["--ops-port", &free_port().to_string()])
            .args(["--bind", "127.0.0.1"])
            .args(extra)
            .output()
            .unwrap()
    };
    let cases: [(&str, Vec<&std::ffi::OsStr>); 3] = [
        (
            "--upstream-ca",
            vec!["--upstream-ca".as_ref(), garbage.as_os_str()],
        ),
        (
            "--upstream-ca",
            vec!["--upstream-ca".as_ref(), missing.as_os_str()],
        ),
        (
            "--upstream-client-cert/--upstream-client-key",
            vec![
                "--upstream-client-cert".as_ref(),
                client.cert.as_os_str(),
                "--upstream-client-key".as_ref(),
                other.key.as_os_str(),
            ],
        ),
    ];
    for (flag, args) in cases {
        let out = run(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(64), "{flag}: {stderr}");
        assert!(stderr.contains(flag), "{flag} is named: {stderr}");
    }
}
