//! Floods against the real `gantry up` gateway listener (test catalogue H24, H25, H14, H16):
//! HTTP/2 rapid reset (fast, and slow: each stream cancelled once the gateway started it) and
//! server-side resets, SETTINGS / PING / CONTINUATION / empty DATA
//! floods, WINDOW_UPDATE 0, too many streams and an HPACK bomb, written as raw frames
//! (`gantry_testkit::raw_h2`); slowloris and a connection flood over raw sockets. Each attack
//! must end in a GOAWAY, a reset or a close with bounded memory, while a normal client on
//! another connection keeps getting 200s.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use gantry_testkit::raw_h2::{H2Client, HeaderBlock, error, flag, frame, kind, rst_stream};
use gantry_testkit::{EchoUpstream, GantryUp, eventually, raw};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const BIN: &str = env!("CARGO_BIN_EXE_gantry");
const PATH: &str = "/open/1.0.0/items";

/// A `gantry up` started with `env`, serving an open API (no credentials) at [`PATH`] in
/// front of `upstream`.
async fn up_with_open_api(upstream: &EchoUpstream, env: &[(&str, &str)]) -> GantryUp {
    let up = GantryUp::start_with_env(BIN, false, env).await;
    up.rest()
        .create_and_deploy(json!({"name": "Open", "context": "/open", "version": "1.0.0",
            "endpointConfig": {"endpoint_type": "http", "production_endpoints": {"url": upstream.url()}},
            "operations": [{"target": "/*", "verb": "GET", "authType": "None"},
                           {"target": "/*", "verb": "POST", "authType": "None"}]}))
        .await;
    let served = gantry_testkit::eventually(Duration::from_secs(5), || async {
        raw::status_of(up.gw_port, &raw::get(PATH)).await == 200
    })
    .await;
    assert!(served, "the open API is served");
    up
}

fn authority(up: &GantryUp) -> String {
    format!("localhost:{}", up.gw_port)
}

/// A normal client sending `GET PATH` in a loop on its own connection (HTTP/2 with prior
/// knowledge, or HTTP/1.1) until [`Traffic::finish`].
struct Traffic {
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<(usize, Vec<String>)>,
}

impl Traffic {
    fn start(up: &GantryUp, http2: bool) -> Self {
        let mut builder = reqwest::Client::builder()
            .resolve("localhost", SocketAddr::from(([127, 0, 0, 1], up.gw_port)))
            .timeout(Duration::from_secs(3));
        if http2 {
            builder = builder.http2_prior_knowledge();
        }
        let client = builder.build().unwrap();
        let url = up.gw_url(PATH);
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let task = tokio::spawn(async move {
            let (mut ok, mut failures) = (0, Vec::new());
            while !stopped.load(Ordering::Relaxed) {
                match client.get(&url).send().await {
                    Ok(response) if response.status() == 200 => ok += 1,
                    Ok(response) => failures.push(format!("status {}", response.status())),
                    Err(error) => failures.push(format!("{error:?}")),
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            (ok, failures)
        });
        Self { stop, task }
    }

    /// Stops the loop and asserts every request it sent got a 200 (and that there were some).
    async fn assert_unaffected(self, during: &str) {
        self.stop.store(true, Ordering::Relaxed);
        let (ok, failures) = self.task.await.unwrap();
        assert!(ok > 0, "normal requests were served during {during}");
        assert!(
            failures.is_empty(),
            "normal requests failed during {during}: {failures:?}"
        );
    }
}

/// Resident memory of the gateway process, MiB.
fn rss_mib(up: &GantryUp) -> u64 {
    up.rss_kib().expect("VmRSS of the gantry process") / 1024
}

/// Opens streams 1, 3, 5, … with `frames(stream)` each, 100 streams per write, until
/// `limit` are sent, the server ends the connection or a write fails. Returns the next unused
/// stream id and how many streams were sent.
async fn flood_streams(
    attacker: &H2Client,
    limit: u32,
    frames: impl Fn(u32) -> Vec<u8>,
) -> (u32, u32) {
    let (mut stream, mut sent) = (1u32, 0);
    while sent < limit && !attacker.heard().ended() {
        let mut batch = Vec::new();
        for _ in 0..100 {
            batch.extend(frames(stream));
            stream += 2;
        }
        if attacker.send(&batch).await.is_err() {
            break;
        }
        sent += 100;
    }
    (stream, sent)
}

// ---------------------------------------------------------------------------------------
// H24: rapid reset.

#[tokio::test]
async fn rapid_reset_closes_the_connection_and_other_clients_keep_being_served() {
    let upstream = EchoUpstream::start().await;
    let up = up_with_open_api(&upstream, &[]).await;
    let traffic = Traffic::start(&up, true);

    let attacker = H2Client::connect(up.gw_port).await;
    let request = HeaderBlock::request("GET", PATH, &authority(&up));
    // HEADERS + RST_STREAM(CANCEL), 100 pairs per write, up to 10,000 streams.
    let (stream, sent) = flood_streams(&attacker, 10_000, |stream| {
        let mut frames = frame(
            kind::HEADERS,
            flag::END_HEADERS | flag::END_STREAM,
            stream,
            request.bytes(),
        );
        frames.extend(rst_stream(stream, error::CANCEL));
        frames
    })
    .await;
    let heard = attacker
        .wait_for(Duration::from_secs(5), |h| h.ended())
        .await;
    assert_eq!(
        heard.goaway,
        Some(error::ENHANCE_YOUR_CALM),
        "GOAWAY ENHANCE_YOUR_CALM after {sent} reset streams: {heard:?}"
    );
    let last = heard.goaway_last_stream.unwrap();
    assert!(
        last < stream / 2,
        "cut early: the GOAWAY names stream {last} of the {sent} sent (last id {})",
        stream - 2
    );
    traffic.assert_unaffected("a rapid-reset flood").await;
}

#[tokio::test]
async fn requests_the_server_must_reset_close_the_connection_after_the_cap() {
    let upstream = EchoUpstream::start().await;
    let up = up_with_open_api(&upstream, &[]).await;
    let traffic = Traffic::start(&up, true);

    // Without `:path` each request is malformed (RFC 9113 §8.3.1): the server resets the
    // stream itself, without an RST_STREAM from the client ("MadeYouReset" class). (An unknown
    // pseudo-header is answered with GOAWAY PROTOCOL_ERROR at once.)
    let malformed = HeaderBlock::new()
        .literal(":method", "GET")
        .literal(":scheme", "http")
        .literal(":authority", &authority(&up));
    let attacker = H2Client::connect(up.gw_port).await;
    let (stream, sent) = flood_streams(&attacker, 5_000, |stream| {
        frame(
            kind::HEADERS,
            flag::END_HEADERS | flag::END_STREAM,
            stream,
            malformed.bytes(),
        )
    })
    .await;
    let heard = attacker
        .wait_for(Duration::from_secs(5), |h| h.ended())
        .await;
    // PROTOCOL_ERROR for a malformed request; REFUSED_STREAM when the resets pile up past
    // the concurrent-stream limit first.
    assert!(
        heard.resets_with(error::PROTOCOL_ERROR) + heard.resets_with(error::REFUSED_STREAM) > 0,
        "malformed requests are reset: {heard:?}"
    );
    assert_eq!(
        heard.goaway,
        Some(error::ENHANCE_YOUR_CALM),
        "GOAWAY after the server-reset cap ({sent} sent): {heard:?}"
    );
    let last = heard.goaway_last_stream.unwrap();
    assert!(
        last < stream / 2,
        "cut early: the GOAWAY names stream {last} of the {sent} sent"
    );
    traffic
        .assert_unaffected("a flood of malformed requests")
        .await;
}

#[tokio::test]
async fn streams_reset_after_the_gateway_started_them_close_the_connection() {
    let upstream = EchoUpstream::start().await;
    let up = up_with_open_api(&upstream, &[]).await;
    let traffic = Traffic::start(&up, true);

    // Each stream is reset only once the gateway had time to accept it and start the upstream
    // call (`/slow` answers after 3 s): the pending-accept cap never sees these.
    let request = HeaderBlock::request("GET", "/open/1.0.0/slow", &authority(&up));
    let attacker = H2Client::connect(up.gw_port).await;
    let (mut stream, mut sent) = (1u32, 0);
    while sent < 2_000 && !attacker.heard().ended() {
        let headers = frame(
            kind::HEADERS,
            flag::END_HEADERS | flag::END_STREAM,
            stream,
            request.bytes(),
        );
        if attacker.send(&headers).await.is_err() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
        if attacker
            .send(&rst_stream(stream, error::CANCEL))
            .await
            .is_err()
        {
            break;
        }
        stream += 2;
        sent += 1;
    }
    let heard = attacker
        .wait_for(Duration::from_secs(5), |h| h.ended())
        .await;
    // Judged after 500 streams (`--h2-premature-reset-streams`): all were cancelled early.
    assert!(
        heard.ended(),
        "the connection was closed after {sent} streams: {heard:?}"
    );
    assert!(
        sent < 1_000,
        "closed soon after 500 streams, not after {sent}"
    );
    traffic.assert_unaffected("a slow rapid-reset flood").await;
}

// ---------------------------------------------------------------------------------------
// H25: floods and protocol limits.

/// How a flood from a client that never reads ended.
#[derive(Debug, PartialEq, Eq)]
enum FloodEnd {
    /// The server stopped reading (a write made no progress for 1 s) after this many bytes.
    Stalled(usize),
    /// The server closed the connection after this many bytes.
    Closed(usize),
    /// All `cap` bytes were written.
    Finished,
}

/// Sends the preface, then `unit` over and over without ever reading, up to `cap` bytes.
async fn flood_without_reading(port: u16, unit: &[u8], cap: usize) -> (TcpStream, FloodEnd) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let mut hello = gantry_testkit::raw_h2::PREFACE.to_vec();
    hello.extend(frame(kind::SETTINGS, 0, 0, &[]));
    stream.write_all(&hello).await.unwrap();
    let batch = unit.repeat((64 * 1024 / unit.len()).max(1));
    let mut written = 0;
    while written < cap {
        match tokio::time::timeout(Duration::from_secs(1), stream.write_all(&batch)).await {
            Err(_) => return (stream, FloodEnd::Stalled(written)),
            Ok(Err(_)) => return (stream, FloodEnd::Closed(written)),
            Ok(Ok(())) => written += batch.len(),
        }
    }
    (stream, FloodEnd::Finished)
}

#[tokio::test]
async fn settings_and_ping_floods_from_a_client_that_never_reads_hold_no_memory() {
    let upstream = EchoUpstream::start().await;
    let up = up_with_open_api(&upstream, &[]).await;
    let traffic = Traffic::start(&up, true);
    let before = rss_mib(&up);

    // Each PING and each SETTINGS needs an acknowledgement; a client that reads none must not
    // make the gateway queue them (CVE-2019-9512, -9515): it stops reading instead.
    let ping = frame(kind::PING, 0, 0, &[7; 8]);
    let settings = frame(kind::SETTINGS, 0, 0, &[0, 2, 0, 0, 0, 0]); // ENABLE_PUSH = 0
    for (name, unit) in [("PING", ping), ("SETTINGS", settings)] {
        let (_open, end) = flood_without_reading(up.gw_port, &unit, 256 << 20).await;
        assert!(
            matches!(end, FloodEnd::Stalled(_) | FloodEnd::Closed(_)),
            "{name} flood: the gateway stops reading or closes, got {end:?}"
        );
        let grown = rss_mib(&up).saturating_sub(before);
        assert!(
            grown < 32,
            "{name} flood ({end:?}): gateway memory grew by {grown} MiB"
        );
    }
    traffic.assert_unaffected("SETTINGS and PING floods").await;
}

#[tokio::test]
async fn endless_continuation_frames_are_cut_off() {
    let upstream = EchoUpstream::start().await;
    let up = up_with_open_api(&upstream, &[]).await;
    let traffic = Traffic::start(&up, true);
    let before = rss_mib(&up);
    let request = HeaderBlock::request("GET", PATH, &authority(&up));

    // CVE-2024-27316 class: a header block that never ends, as large CONTINUATION frames (cut
    // by the header-list size) and as empty ones (cut by their count).
    for (name, fragment) in [("16 KiB", vec![0x40; 16 * 1024]), ("empty", Vec::new())] {
        let client = H2Client::connect(up.gw_port).await;
        client
            .send(&frame(kind::HEADERS, 0, 1, request.bytes()))
            .await
            .unwrap();
        let continuation = frame(kind::CONTINUATION, 0, 1, &fragment);
        let batch = continuation.repeat((64 * 1024 / continuation.len()).max(1));
        let mut written = 0;
        while written < 64 << 20 {
            if client.send(&batch).await.is_err() {
                break;
            }
            written += batch.len();
            // Give the gateway's answer a moment to arrive, so `written` stays close to what
            // it accepted.
            if client
                .wait_for(Duration::from_millis(20), |h| h.ended())
                .await
                .ended()
            {
                break;
            }
        }
        let heard = client.wait_for(Duration::from_secs(5), |h| h.ended()).await;
        assert!(
            heard.goaway.is_some_and(|code| code != error::NO_ERROR),
            "{name} CONTINUATION flood: GOAWAY with an error: {heard:?}"
        );
        assert!(
            written < 4 << 20,
            "{name} CONTINUATION flood: cut before 4 MiB, after {written} bytes"
        );
        assert!(heard.responses.is_empty(), "no request was served");
    }
    let grown = rss_mib(&up).saturating_sub(before);
    assert!(grown < 32, "gateway memory grew by {grown} MiB");
    traffic.assert_unaffected("CONTINUATION floods").await;
}

#[tokio::test]
async fn window_update_of_zero_is_a_protocol_error() {
    let upstream = EchoUpstream::start().await;
    let up = up_with_open_api(&upstream, &[]).await;
    let post = HeaderBlock::request("POST", PATH, &authority(&up));
    let zero = 0u32.to_be_bytes();

    // On a stream (one with a request body still to come): that stream is reset.
    let client = H2Client::connect(up.gw_port).await;
    client
        .send(&frame(kind::HEADERS, flag::END_HEADERS, 1, post.bytes()))
        .await
        .unwrap();
    client
        .send(&frame(kind::WINDOW_UPDATE, 0, 1, &zero))
        .await
        .unwrap();
    let heard = client
        .wait_for(Duration::from_secs(5), |h| {
            h.resets_with(error::PROTOCOL_ERROR) > 0 || h.ended()
        })
        .await;
    assert!(
        heard.resets_with(error::PROTOCOL_ERROR) == 1
            || heard.goaway == Some(error::PROTOCOL_ERROR),
        "stream WINDOW_UPDATE 0: RST_STREAM or GOAWAY PROTOCOL_ERROR, got {heard:?}"
    );

    // On the connection: GOAWAY.
    let client = H2Client::connect(up.gw_port).await;
    client
        .send(&frame(kind::WINDOW_UPDATE, 0, 0, &zero))
        .await
        .unwrap();
    let heard = client.wait_for(Duration::from_secs(5), |h| h.ended()).await;
    assert_eq!(
        heard.goaway,
        Some(error::PROTOCOL_ERROR),
        "connection WINDOW_UPDATE 0: {heard:?}"
    );
}

#[tokio::test]
async fn a_stream_over_max_concurrent_streams_is_refused_and_the_others_go_on() {
    let upstream = EchoUpstream::start().await;
    let up = up_with_open_api(&upstream, &[("GANTRY_H2_MAX_CONCURRENT_STREAMS", "5")]).await;
    let post = HeaderBlock::request("POST", PATH, &authority(&up)).literal("content-length", "2");
    let client = H2Client::connect(up.gw_port).await;
    let acked = client
        .wait_for(Duration::from_secs(5), |h| h.settings_acks > 0)
        .await;
    assert_eq!(
        acked.settings_acks, 1,
        "the gateway acknowledged our SETTINGS"
    );

    // Five POSTs whose bodies have not come yet keep five streams open; the sixth is one too many.
    for stream in [1, 3, 5, 7, 9, 11] {
        client
            .send(&frame(
                kind::HEADERS,
                flag::END_HEADERS,
                stream,
                post.bytes(),
            ))
            .await
            .unwrap();
    }
    let heard = client
        .wait_for(Duration::from_secs(5), |h| {
            h.resets_with(error::REFUSED_STREAM) > 0 || h.ended()
        })
        .await;
    assert!(
        heard.resets_with(error::REFUSED_STREAM) == 1 || heard.goaway.is_some(),
        "the sixth stream is refused: {heard:?}"
    );
    assert_eq!(
        heard.goaway, None,
        "with REFUSED_STREAM, not GOAWAY: {heard:?}"
    );

    // The five admitted streams are served once their bodies arrive.
    for stream in [1, 3, 5, 7, 9] {
        client
            .send(&frame(kind::DATA, flag::END_STREAM, stream, b"ok"))
            .await
            .unwrap();
    }
    let heard = client
        .wait_for(Duration::from_secs(5), |h| h.responses.len() == 5)
        .await;
    let mut served: Vec<_> = heard
        .responses
        .iter()
        .map(|(id, first)| (*id, *first))
        .collect();
    served.sort_unstable();
    assert_eq!(
        served,
        [(1, 0x88), (3, 0x88), (5, 0x88), (7, 0x88), (9, 0x88)],
        ":status 200 on each admitted stream: {heard:?}"
    );
}

#[tokio::test]
async fn an_hpack_bomb_is_refused_by_the_header_list_limit() {
    let upstream = EchoUpstream::start().await;
    let up = up_with_open_api(&upstream, &[]).await;
    let hits = upstream.hits();
    let before = rss_mib(&up);

    // One 4,000-byte field put in the dynamic table, then referenced 3,000 times by its index:
    // a 7 KB block that decodes to 12 MB of header list (limit: 60 KiB).
    let mut bomb = HeaderBlock::request("GET", PATH, &authority(&up))
        .literal_indexed("x-bomb", &"a".repeat(4000));
    for _ in 0..3000 {
        bomb = bomb.indexed(62);
    }
    assert!(bomb.bytes().len() < 8 * 1024);
    let client = H2Client::connect(up.gw_port).await;
    client
        .send(&frame(
            kind::HEADERS,
            flag::END_HEADERS | flag::END_STREAM,
            1,
            bomb.bytes(),
        ))
        .await
        .unwrap();
    let heard = client
        .wait_for(Duration::from_secs(5), |h| {
            !h.responses.is_empty() || !h.resets.is_empty() || h.ended()
        })
        .await;
    let refused = heard.responses.iter().any(|(_, first)| *first != 0x88)
        || !heard.resets.is_empty()
        || heard.goaway.is_some();
    assert!(refused, "431, RST_STREAM or GOAWAY: {heard:?}");
    assert!(
        heard.responses.iter().all(|(_, first)| *first != 0x88),
        "never :status 200: {heard:?}"
    );
    assert_eq!(upstream.hits(), hits, "the upstream never saw it");
    let grown = rss_mib(&up).saturating_sub(before);
    assert!(grown < 32, "gateway memory grew by {grown} MiB");
}

#[tokio::test]
async fn a_flood_of_empty_data_frames_closes_the_connection() {
    let upstream = EchoUpstream::start().await;
    let up = up_with_open_api(&upstream, &[]).await;
    let traffic = Traffic::start(&up, true);
    let post = HeaderBlock::request("POST", PATH, &authority(&up));
    let client = H2Client::connect(up.gw_port).await;
    client
        .send(&frame(kind::HEADERS, flag::END_HEADERS, 1, post.bytes()))
        .await
        .unwrap();

    // Empty DATA frames cost the server a frame each and move no body (CVE-2019-9518).
    let empty = frame(kind::DATA, 0, 1, &[]);
    let mut sent = 0;
    while sent < 100_000 && !client.heard().ended() {
        if client.send(&empty.repeat(1000)).await.is_err() {
            break;
        }
        sent += 1000;
    }
    let heard = client.wait_for(Duration::from_secs(5), |h| h.ended()).await;
    assert_eq!(
        heard.goaway,
        Some(error::ENHANCE_YOUR_CALM),
        "GOAWAY ENHANCE_YOUR_CALM after {sent} empty DATA frames: {heard:?}"
    );
    traffic.assert_unaffected("an empty DATA flood").await;
}

// ---------------------------------------------------------------------------------------
// H14: slowloris.

/// Sends half a request head, then one more byte every 500 ms, until the gateway closes the
/// connection (or 10 s pass); returns how long that took and what the gateway sent.
async fn slow_header_sender(port: u16) -> (Duration, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let started = Instant::now();
    stream
        .write_all(b"GET /open/1.0.0/items HTTP/1.1\r\nHost: localhost\r\nX-Slow: ")
        .await
        .unwrap();
    let (mut reader, mut writer) = stream.into_split();
    let trickle = async move {
        loop {
            tokio::time::sleep(Duration::from_millis(500)).await;
            if writer.write_all(b"a").await.is_err() {
                // Closed: wait for the read side to say so.
                std::future::pending::<()>().await;
            }
        }
    };
    let mut reply = Vec::new();
    tokio::select! {
        _ = tokio::time::timeout(Duration::from_secs(10), reader.read_to_end(&mut reply)) => {}
        () = trickle => {}
    }
    (
        started.elapsed(),
        String::from_utf8_lossy(&reply).into_owned(),
    )
}

#[tokio::test]
async fn slowloris_connections_get_408_at_the_header_read_timeout_while_others_are_served() {
    let upstream = EchoUpstream::start().await;
    let up = up_with_open_api(&upstream, &[("GANTRY_HEADER_READ_TIMEOUT_SECS", "2")]).await;
    let traffic = Traffic::start(&up, false);
    let hits = upstream.hits();

    let senders: Vec<_> = (0..200)
        .map(|_| tokio::spawn(slow_header_sender(up.gw_port)))
        .collect();
    for sender in senders {
        let (elapsed, reply) = sender.await.unwrap();
        // The timeout runs from the first byte of the head: trickling does not extend it.
        assert!(
            elapsed >= Duration::from_millis(1800) && elapsed < Duration::from_secs(6),
            "closed at the 2 s header-read timeout, after {elapsed:?}"
        );
        assert!(
            reply.starts_with("HTTP/1.1 408 Request Timeout\r\n"),
            "answered 408: {reply}"
        );
        assert!(reply.contains(r#""code":"408""#), "{reply}");
    }

    // An idle keep-alive connection after a response is closed at the same timeout, without
    // a 408: nothing was asked.
    let mut idle = TcpStream::connect(("127.0.0.1", up.gw_port)).await.unwrap();
    idle.write_all(
        raw::get(PATH)
            .replace("Connection: close", "Connection: keep-alive")
            .as_bytes(),
    )
    .await
    .unwrap();
    let mut reply = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(6), idle.read_to_end(&mut reply)).await;
    assert!(read.is_ok(), "the idle connection was closed");
    let reply = String::from_utf8_lossy(&reply);
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    // One response only (a correlation id may well contain the digits 408).
    assert_eq!(
        reply.matches("HTTP/1.1 ").count(),
        1,
        "no 408 on an idle connection: {reply}"
    );
    traffic.assert_unaffected("200 slowloris connections").await;
    assert!(
        upstream.hits() > hits,
        "the normal requests reached the upstream"
    );
}

// ---------------------------------------------------------------------------------------
// H16: connection flood.

/// The value of the sample `name` on the ops port's `/metrics`.
async fn metric(up: &GantryUp, name: &str) -> Option<f64> {
    let text = reqwest::get(format!("http://127.0.0.1:{}/metrics", up.ops_port))
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

/// Whether the gateway closes a fresh connection at once (within 2 s, before any request).
async fn is_shed(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)).await else {
        return true;
    };
    let mut byte = [0u8; 1];
    matches!(
        tokio::time::timeout(Duration::from_secs(2), stream.read(&mut byte)).await,
        Ok(Ok(0) | Err(_))
    )
}

#[tokio::test]
async fn connections_over_the_limit_are_shed_while_the_ops_port_answers() {
    let upstream = EchoUpstream::start().await;
    let up = up_with_open_api(&upstream, &[("GANTRY_MAX_CONNECTIONS", "50")]).await;
    let open = || metric(&up, "gantry_gateway_connections_open");

    // The probe connections of the set-up have gone: the listener holds none.
    let drained = gantry_testkit::eventually(Duration::from_secs(5), || async {
        open().await == Some(0.0)
    })
    .await;
    assert!(
        drained,
        "no connection open before the flood: {:?}",
        open().await
    );

    // 50 idle connections take every slot.
    let mut idle = Vec::new();
    for _ in 0..50 {
        idle.push(TcpStream::connect(("127.0.0.1", up.gw_port)).await.unwrap());
    }
    let full = gantry_testkit::eventually(Duration::from_secs(5), || async {
        open().await == Some(50.0)
    })
    .await;
    assert!(full, "50 connections admitted: {:?}", open().await);

    // Each one more is closed at once; requests on new connections fail.
    for _ in 0..20 {
        assert!(
            is_shed(up.gw_port).await,
            "a connection over the limit is closed"
        );
    }
    assert_eq!(
        raw::status_of(up.gw_port, &raw::get(PATH)).await,
        0,
        "no request is served on a new connection at the limit"
    );
    // The ops listener is not counted.
    let ready = reqwest::get(format!("http://127.0.0.1:{}/health/ready", up.ops_port))
        .await
        .unwrap();
    assert_eq!(ready.status(), 200, "health checks still pass");
    let shed = metric(&up, "gantry_gateway_connections_shed_total").await;
    assert!(shed >= Some(21.0), "shed connections are counted: {shed:?}");
    // Log lines reach the file in batches (at most 50 ms apart).
    assert!(
        eventually(Duration::from_secs(2), || async {
            up.log().contains("connection limit reached")
        })
        .await,
        "shedding is logged"
    );

    // The idle connections go: new ones are served again.
    drop(idle);
    let served = gantry_testkit::eventually(Duration::from_secs(5), || async {
        raw::status_of(up.gw_port, &raw::get(PATH)).await == 200
    })
    .await;
    assert!(served, "served again once connections closed");
}
