//! The gateway listener's protocol limits, over raw sockets against the real `gantry up`
//! (test catalogue H13, H14 shortened, H17): too many or too large request headers → 431,
//! a body over the limit → 413 before the upstream sees anything, a slow header sender cut
//! at the header-read timeout.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use gantry_testkit::{EchoUpstream, GantryUp, raw};
use reqwest::StatusCode;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const BIN: &str = env!("CARGO_BIN_EXE_gantry");
const PUB: &str = "/api/am/publisher/v4";

/// A `gantry up` with a 1 s header-read timeout, and an open API (no credentials needed)
/// at `/open/1.0.0/items` in front of `upstream`.
async fn up_with_open_api(upstream: &EchoUpstream) -> GantryUp {
    let up =
        GantryUp::start_with_env(BIN, false, &[("GANTRY_HEADER_READ_TIMEOUT_SECS", "1")]).await;
    let rest = up.rest();
    let (status, api) = rest
        .post(
            &format!("{PUB}/apis"),
            json!({"name": "Open", "context": "/open", "version": "1.0.0", "policies": ["Gold"],
                "endpointConfig": {"endpoint_type": "http", "production_endpoints": {"url": upstream.url()}},
                "operations": [{"target": "/items", "verb": "GET", "authType": "None"},
                               {"target": "/items", "verb": "POST", "authType": "None"}]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{api}");
    rest.publish_and_deploy(api["id"].as_str().unwrap(), &["Default"])
        .await;
    let served = gantry_testkit::eventually(Duration::from_secs(5), || async {
        raw::status_of(up.gw_port, &raw::get("/open/1.0.0/items")).await == 200
    })
    .await;
    assert!(served, "the open API is served");
    up
}

/// A GET of the open API with `extra` header lines.
fn get_with(extra: &str) -> String {
    format!("GET /open/1.0.0/items HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n{extra}\r\n")
}

#[tokio::test]
async fn too_many_or_too_large_headers_get_431_and_the_next_connection_is_served() {
    let upstream = EchoUpstream::start().await;
    let up = up_with_open_api(&upstream).await;
    let hits = upstream.hits();

    // Host and Connection plus 99: 101 fields, one over the limit. (90 pass: the echo
    // upstream, hyper with its own limit of 100, also gets the gateway's X-Forwarded-*.)
    let fields = |n: usize| (0..n).map(|i| format!("X-H{i}: v\r\n")).collect::<String>();
    assert_eq!(
        raw::status_of(up.gw_port, &get_with(&fields(90))).await,
        200
    );
    assert_eq!(
        raw::status_of(up.gw_port, &get_with(&fields(99))).await,
        431
    );

    // One 70 KiB header over the 60 KiB section limit.
    let big = format!("X-Big: {}\r\n", "a".repeat(70 * 1024));
    assert_eq!(raw::status_of(up.gw_port, &get_with(&big)).await, 431);

    // The gateway is unharmed: a normal request on a new connection.
    assert_eq!(
        raw::status_of(up.gw_port, &raw::get("/open/1.0.0/items")).await,
        200
    );
    assert_eq!(
        upstream.hits(),
        hits + 2,
        "the gateway refused them: they never reached the upstream"
    );
}

/// Sends `head`, then reads the reply head (up to 5 s).
async fn reply_to_head(port: u16, head: &str) -> (TcpStream, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf))
        .await
        .expect("a reply within 5 s")
        .unwrap();
    (stream, String::from_utf8_lossy(&buf[..n]).into_owned())
}

#[tokio::test]
async fn a_body_over_the_limit_gets_413_before_the_upstream_sees_the_request() {
    let upstream = EchoUpstream::start().await;
    let up = up_with_open_api(&upstream).await;
    let hits = upstream.hits();
    let eleven_mib = 11 * 1024 * 1024;

    // Declared by Content-Length: refused on the head, without reading a byte of the body.
    let head = format!(
        "POST /open/1.0.0/items HTTP/1.1\r\nHost: localhost\r\nContent-Length: {eleven_mib}\r\n\r\n"
    );
    let (_, reply) = reply_to_head(up.gw_port, &head).await;
    assert!(reply.starts_with("HTTP/1.1 413"), "{reply}");
    assert!(reply.contains("\"code\":\"413\""), "{reply}");

    // With Expect: 100-continue the client is told 413 instead of 100 Continue.
    let head = format!(
        "POST /open/1.0.0/items HTTP/1.1\r\nHost: localhost\r\nContent-Length: {eleven_mib}\r\nExpect: 100-continue\r\n\r\n"
    );
    let (_, reply) = reply_to_head(up.gw_port, &head).await;
    assert!(reply.starts_with("HTTP/1.1 413"), "{reply}");
    assert!(!reply.contains("100 Continue"), "{reply}");
    assert_eq!(
        upstream.hits(),
        hits,
        "the upstream never saw either request"
    );

    // A body within the limit passes.
    let small = "x".repeat(1024);
    let request = format!(
        "POST /open/1.0.0/items HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{small}",
        small.len()
    );
    assert_eq!(raw::status_of(up.gw_port, &request).await, 200);
}

#[tokio::test]
async fn a_chunked_body_streaming_past_the_limit_gets_413() {
    let upstream = EchoUpstream::start().await;
    let up = up_with_open_api(&upstream).await;
    let mut stream = TcpStream::connect(("127.0.0.1", up.gw_port)).await.unwrap();
    stream
        .write_all(
            b"POST /open/1.0.0/items HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n",
        )
        .await
        .unwrap();
    // 11 MiB in 64 KiB chunks; the gateway may stop reading once the limit is crossed.
    let chunk = vec![b'x'; 64 * 1024];
    let mut frame = format!("{:x}\r\n", chunk.len()).into_bytes();
    frame.extend_from_slice(&chunk);
    frame.extend_from_slice(b"\r\n");
    for _ in 0..176 {
        if stream.write_all(&frame).await.is_err() {
            break;
        }
    }
    let _ = stream.write_all(b"0\r\n\r\n").await;
    let mut reply = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut reply)).await;
    let reply = String::from_utf8_lossy(&reply);
    assert!(reply.starts_with("HTTP/1.1 413"), "{reply}");
}

#[tokio::test]
async fn a_slow_header_sender_is_cut_at_the_header_read_timeout() {
    let upstream = EchoUpstream::start().await;
    let up = up_with_open_api(&upstream).await;

    // Half a request head, then silence: the connection is closed after ~1 s.
    let mut stream = TcpStream::connect(("127.0.0.1", up.gw_port)).await.unwrap();
    let started = Instant::now();
    stream
        .write_all(b"GET /open/1.0.0/items HTTP/1.1\r\nHost: localhost\r\n")
        .await
        .unwrap();
    let mut buf = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut buf)).await;
    assert!(read.is_ok(), "the connection was closed");
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_millis(900) && elapsed < Duration::from_secs(4),
        "closed after {elapsed:?}"
    );
    assert!(
        !String::from_utf8_lossy(&buf).contains("200"),
        "no request was served"
    );

    // An idle keep-alive connection is closed at the same timeout.
    let mut stream = TcpStream::connect(("127.0.0.1", up.gw_port)).await.unwrap();
    stream
        .write_all(b"GET /open/1.0.0/items HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .unwrap();
    let started = Instant::now();
    let mut buf = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut buf)).await;
    assert!(read.is_ok(), "the idle connection was closed");
    assert!(String::from_utf8_lossy(&buf).starts_with("HTTP/1.1 200"));
    assert!(started.elapsed() < Duration::from_secs(4));
}

#[tokio::test]
async fn http2_requests_are_served_and_an_oversized_header_list_is_refused() {
    let upstream = EchoUpstream::start().await;
    let up = up_with_open_api(&upstream).await;
    // HTTP/2 routes by `:authority` (RFC 9113 §8.3.1), so the URL names the API's vhost.
    let client = reqwest::Client::builder()
        .http2_prior_knowledge()
        .resolve(
            "localhost",
            std::net::SocketAddr::from(([127, 0, 0, 1], up.gw_port)),
        )
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let url = format!("http://localhost:{}/open/1.0.0/items", up.gw_port);
    let response = client
        .get(&url)
        .header("host", "localhost")
        .send()
        .await
        .unwrap();
    assert_eq!(response.version(), reqwest::Version::HTTP_2);
    assert_eq!(response.status(), StatusCode::OK);

    // 20 KiB passes: the configured 60 KiB applies, not hyper's 16 KiB default.
    let response = client
        .get(&url)
        .header("host", "localhost")
        .header("x-medium", "m".repeat(20 * 1024))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);

    let hits = upstream.hits();
    let refused = client
        .get(&url)
        .header("host", "localhost")
        .header("x-big", "a".repeat(70 * 1024))
        .send()
        .await;
    assert_eq!(
        refused.unwrap().status(),
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
    );
    assert_eq!(upstream.hits(), hits, "the upstream never saw it");
}
