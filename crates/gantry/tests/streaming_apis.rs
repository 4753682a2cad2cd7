//! Streaming APIs (WSO2's `SSE` and `WS` types) through the real `gantry up`: an SSE API
//! streams an upstream's events without buffering them and counts them against the
//! subscription tier; a WebSocket API is served per topic, with the handshake authenticated,
//! per-topic scopes for subscribing and publishing, a frame limit and an idle timeout.
//!
//! The WebSocket tests use Python's `websockets` (client and upstream server, tests/websocket),
//! so they are `#[ignore]`d: `.ci/run` installs it and runs them with `-- --ignored`.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use gantry_testkit::GantryUp;
use http::{Request, Response};
use hyper::body::{Frame, Incoming};
use reqwest::StatusCode;
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::{Notify, mpsc};

const BIN: &str = env!("CARGO_BIN_EXE_gantry");
const PUB: &str = "/api/am/publisher/v4";
const ADMIN: &str = "/api/am/admin/v4";

/// An event-stream upstream. `GET /prices?n=N` streams N events (`id: i`, `data: price i`
/// padded to `pad` bytes); with `&gate=1` it sends the first, then waits for
/// [`SseUpstream::release`] before the rest.
struct SseUpstream {
    addr: SocketAddr,
    release: Arc<Notify>,
    /// Events handed to connections that were still open to take them.
    sent: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

/// A response body fed by a channel, one frame per event.
struct Channel(mpsc::Receiver<Bytes>);

impl hyper::body::Body for Channel {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.0.poll_recv(cx).map(|e| e.map(|b| Ok(Frame::data(b))))
    }
}

impl SseUpstream {
    async fn start(pad: usize) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let release = Arc::new(Notify::new());
        let sent = Arc::new(AtomicUsize::new(0));
        let (gate, count) = (release.clone(), sent.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let (gate, count) = (gate.clone(), count.clone());
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |r: Request<Incoming>| {
                        let (gate, count) = (gate.clone(), count.clone());
                        async move { Ok::<_, Infallible>(events(r, gate, count, pad)) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Self {
            addr,
            release,
            sent,
            task,
        }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for SseUpstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn events(
    request: Request<Incoming>,
    gate: Arc<Notify>,
    sent: Arc<AtomicUsize>,
    pad: usize,
) -> Response<Channel> {
    let query = request.uri().query().unwrap_or_default().to_owned();
    let param = |name: &str| {
        query
            .split('&')
            .find_map(|p| p.strip_prefix(&format!("{name}=")))
            .and_then(|v| v.parse::<usize>().ok())
    };
    let n = param("n").unwrap_or(1);
    let gated = param("gate") == Some(1);
    let (tx, rx) = mpsc::channel(16);
    tokio::spawn(async move {
        for i in 0..n {
            if gated && i == 1 {
                gate.notified().await;
            }
            let mut event = format!("id: {i}\ndata: price {i} ");
            event.push_str(&"x".repeat(pad.saturating_sub(event.len())));
            event.push_str("\n\n");
            if i % 100 == 0 {
                // A keep-alive comment now and then: relayed, never counted.
                event.push_str(": keep-alive\n\n");
            }
            if tx.send(Bytes::from(event)).await.is_err() {
                return;
            }
            sent.fetch_add(1, Ordering::SeqCst);
        }
    });
    Response::builder()
        .header("content-type", "text/event-stream")
        .header("cache-control", "no-cache")
        .body(Channel(rx))
        .unwrap()
}

/// Reads an event stream as a client does: events (the `data` of each) and their types.
#[derive(Default)]
struct EventReader {
    buffer: String,
    data: Vec<String>,
    types: Vec<String>,
}

impl EventReader {
    fn feed(&mut self, chunk: &[u8]) {
        self.buffer.push_str(std::str::from_utf8(chunk).unwrap());
        while let Some(end) = self.buffer.find("\n\n") {
            let block: String = self.buffer.drain(..end + 2).collect();
            let mut data = None;
            let mut kind = "message".to_owned();
            for line in block.lines() {
                if let Some(d) = line.strip_prefix("data: ") {
                    data = Some(d.to_owned());
                } else if let Some(t) = line.strip_prefix("event: ") {
                    kind = t.to_owned();
                }
            }
            if let Some(data) = data {
                self.data.push(data);
                self.types.push(kind);
            }
        }
    }
}

/// A `gantry up`, an SSE API `/ticker/1.0.0` with the topic `/prices` in front of `upstream`
/// offering `tiers`, and the API's id.
async fn sse_api(up: &GantryUp, upstream: &SseUpstream, tiers: &[&str]) -> String {
    let rest = up.rest();
    rest.create_and_deploy(json!({
        "name": "Ticker", "context": "/ticker", "version": "1.0.0", "type": "SSE",
        "policies": tiers,
        "endpointConfig": {"endpoint_type": "http",
                           "production_endpoints": {"url": upstream.url()}},
        "operations": [{"target": "/prices", "verb": "SUBSCRIBE"}],
    }))
    .await
}

#[tokio::test]
async fn sse_api_streams_ten_thousand_events_without_buffering() {
    let upstream = SseUpstream::start(1024).await;
    let up = GantryUp::start(BIN).await;
    let rest = up.rest();
    let api = sse_api(&up, &upstream, &["Unlimited"]).await;
    let token = rest.subscribed_token("Traders", &[&api], "Unlimited").await;
    assert!(
        up.eventually_gw_status("/ticker/1.0.0/prices?n=1", &token, 200)
            .await,
        "the SSE API is served"
    );
    // Authenticated like REST: no token, a forged one; a method the topic does not take.
    let gw = up.gw_client();
    let url = up.gw_url("/ticker/1.0.0/prices?n=1");
    assert_eq!(gw.get(&url).send().await.unwrap().status(), 401);
    let forged = gw
        .get(&url)
        .bearer_auth("e30.e30.e30")
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 401);
    let post = gw.post(&url).bearer_auth(&token).send().await.unwrap();
    assert_eq!(post.status(), 405);

    let rss_before = up.rss_kib().unwrap();
    let mut response = gw
        .get(up.gw_url("/ticker/1.0.0/prices?n=10000&gate=1"))
        .bearer_auth(&token)
        .timeout(Duration::from_secs(60))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "text/event-stream",
        "the upstream's headers are relayed"
    );
    let mut reader = EventReader::default();
    // The upstream holds back event 1 until the client has event 0: a gateway that
    // buffered the stream would never hand it over.
    let first = tokio::time::timeout(Duration::from_secs(5), async {
        while reader.data.is_empty() {
            let chunk = response.chunk().await.unwrap().expect("stream open");
            reader.feed(&chunk);
        }
    })
    .await;
    assert!(
        first.is_ok(),
        "the first event arrives before the stream ends"
    );
    assert_eq!(reader.data[0].split(' ').nth(1), Some("0"));
    upstream.release.notify_one();
    let mut rss_peak = rss_before;
    let mut chunks = 0u64;
    while let Some(chunk) = response.chunk().await.unwrap() {
        reader.feed(&chunk);
        chunks += 1;
        if chunks.is_multiple_of(500) {
            rss_peak = rss_peak.max(up.rss_kib().unwrap());
        }
    }
    assert_eq!(reader.data.len(), 10_000, "every event arrives");
    for (i, data) in reader.data.iter().enumerate() {
        assert_eq!(data.split(' ').nth(1), Some(i.to_string().as_str()));
    }
    // 10,000 events of 1 KiB are ~10 MiB: a gateway holding them would grow by that much.
    let growth = rss_peak.saturating_sub(rss_before);
    println!(
        "10,000 events (10 MiB) through the gateway: RSS {rss_before} KiB, peak +{growth} KiB"
    );
    assert!(
        growth < 6 * 1024,
        "memory stays flat while the stream flows (grew {growth} KiB)"
    );
}

#[tokio::test]
async fn sse_events_past_the_subscription_tier_end_the_stream() {
    let upstream = SseUpstream::start(0).await;
    let up = GantryUp::start(BIN).await;
    let rest = up.rest();
    let (status, policy) = rest
        .post(
            &format!("{ADMIN}/throttling/policies/subscription"),
            json!({"policyName": "Events20", "defaultLimit": {"type": "REQUESTCOUNTLIMIT",
                   "requestCount": {"timeUnit": "hour", "unitTime": 1, "requestCount": 20}}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{policy}");
    let api = sse_api(&up, &upstream, &["Events20", "Unlimited"]).await;
    let limited = rest.subscribed_token("Limited", &[&api], "Events20").await;
    let unlimited = rest.subscribed_token("Free", &[&api], "Unlimited").await;
    assert!(
        up.eventually_gw_status("/ticker/1.0.0/prices?n=1", &unlimited, 200)
            .await
    );

    let mut response = up
        .gw_client()
        .get(up.gw_url("/ticker/1.0.0/prices?n=1000000"))
        .bearer_auth(&limited)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let mut reader = EventReader::default();
    while let Some(chunk) = response.chunk().await.unwrap() {
        reader.feed(&chunk);
    }
    // The connection counts as one event (as a handshake does in WSO2): 19 more pass.
    assert_eq!(reader.data.len(), 20, "{:?}", reader.types);
    assert!(reader.types[..19].iter().all(|t| t == "message"));
    assert_eq!(reader.types[19], "throttled", "the stream ends with why");
    let notice: serde_json::Value = serde_json::from_str(&reader.data[19]).unwrap();
    assert_eq!(notice["code"], "900804");
    assert!(
        notice["description"].as_str().unwrap().contains("Events20"),
        "{notice}"
    );
    assert_eq!(reader.data[18].split(' ').nth(1), Some("18"));
    // The upstream's stream is closed, not drained: it stops producing.
    let mut last = usize::MAX;
    let settled = gantry_testkit::eventually(Duration::from_secs(5), || {
        let now = upstream.sent.load(Ordering::SeqCst);
        let still = now == last;
        last = now;
        async move {
            tokio::time::sleep(Duration::from_millis(200)).await;
            still
        }
    })
    .await;
    assert!(
        settled && last < 1_000_000,
        "the upstream stopped at {last}"
    );
    // The quota is spent: the next connection is refused outright.
    let again = up
        .gw_client()
        .get(up.gw_url("/ticker/1.0.0/prices?n=1"))
        .bearer_auth(&limited)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 429);
    // Another application's subscription is counted on its own.
    let free = up.gw_status("/ticker/1.0.0/prices?n=50", &unlimited).await;
    assert_eq!(free, 200);
}

#[tokio::test]
async fn streaming_types_take_topic_verbs_only() {
    let up = GantryUp::start(BIN).await;
    let rest = up.rest();
    let api = |kind: &str, verb: &str| {
        json!({"name": format!("T{kind}{verb}"), "context": format!("/t{}{}", kind.to_lowercase(), verb.to_lowercase()),
               "version": "1.0.0", "type": kind,
               "endpointConfig": {"endpoint_type": "http",
                                  "production_endpoints": {"url": "http://127.0.0.1:9"}},
               "operations": [{"target": "/a", "verb": verb}]})
    };
    for (kind, verb) in [
        ("SSE", "GET"),
        ("SSE", "PUBLISH"),
        ("WS", "POST"),
        ("HTTP", "SUBSCRIBE"),
    ] {
        let (status, error) = rest.post(&format!("{PUB}/apis"), api(kind, verb)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{kind} {verb}: {error}");
        assert!(
            error["description"]
                .as_str()
                .unwrap()
                .starts_with("operations[0].verb"),
            "{error}"
        );
    }
    let (status, error) = rest.post(&format!("{PUB}/apis"), api("GRPC", "GET")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(error["description"].as_str().unwrap().starts_with("type"));
    // Without operations, a WS API gets WSO2's `/*` SUBSCRIBE and PUBLISH.
    let mut ws = api("WS", "SUBSCRIBE");
    ws.as_object_mut().unwrap().remove("operations");
    let (status, created) = rest.post(&format!("{PUB}/apis"), ws).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["type"], "WS");
    let verbs: Vec<&str> = created["operations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["verb"].as_str().unwrap())
        .collect();
    assert_eq!(verbs, ["SUBSCRIBE", "PUBLISH"]);
    // The type is fixed once created: an update without it keeps it.
    let id = created["id"].as_str().unwrap();
    let mut update = created.clone();
    update.as_object_mut().unwrap().remove("type");
    let (status, updated) = rest.put(&format!("{PUB}/apis/{id}"), update).await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(updated["type"], "WS");
    let mut retype = created.clone();
    retype["type"] = json!("HTTP");
    let (status, _) = rest.put(&format!("{PUB}/apis/{id}"), retype).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

/// The Python WebSocket peer (`tests/websocket/ws_peer.py`).
fn ws_peer() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/websocket/ws_peer.py")
}

/// A `websockets` server upstream; ends when dropped (its stdin closes).
struct WsUpstream {
    child: std::process::Child,
    port: u16,
}

impl WsUpstream {
    fn start() -> Self {
        use std::io::BufRead as _;
        let mut child = std::process::Command::new("python3")
            .arg(ws_peer())
            .arg("serve")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line.trim().strip_prefix("PORT ").unwrap().parse().unwrap();
        Self { child, port }
    }
}

impl Drop for WsUpstream {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs the Python client against the gateway's `path` with `token` ("-": none).
async fn ws_client(
    up: &GantryUp,
    path: &str,
    token: &str,
    actions: serde_json::Value,
) -> serde_json::Value {
    let url = format!("ws://127.0.0.1:{}{path}", up.gw_port);
    let (token, actions) = (token.to_owned(), actions.to_string());
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new("python3")
            .arg(ws_peer())
            .args(["client", &url, &token, &actions])
            .output()
    })
    .await
    .unwrap()
    .unwrap();
    assert!(
        out.status.success(),
        "ws client: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// A PRODUCTION client_credentials token of a new application `name` subscribed to `api`
/// under `tier`, asking for `scopes`.
async fn scoped_token(up: &GantryUp, name: &str, api: &str, tier: &str, scopes: &str) -> String {
    let rest = up.rest();
    let app = rest.application(name).await;
    rest.subscribe(&app, api, tier).await;
    let (key, secret) = rest.keys(&app).await;
    let response = up
        .cp_client()
        .post(up.cp_url("/oauth2/token"))
        .basic_auth(key, Some(secret))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(gantry_testkit::rest::form_encode(&[
            ("grant_type", "client_credentials"),
            ("scope", scopes),
        ]))
        .send()
        .await
        .unwrap();
    let token: serde_json::Value = response.json().await.unwrap();
    token["access_token"].as_str().unwrap().to_owned()
}

#[tokio::test]
#[ignore = "needs Python's websockets: .ci/run installs it and runs it"]
async fn websocket_api_serves_topics_with_handshake_auth_scopes_frame_limit_and_idle_timeout() {
    let ready = gantry_testkit::python::can_import("websockets", "websockets");
    gantry_testkit::python::require("the WebSocket API test", ready);
    let upstream = WsUpstream::start();
    let up = GantryUp::start(BIN).await;
    let rest = up.rest();
    let (status, policy) = rest
        .post(
            &format!("{ADMIN}/throttling/policies/subscription"),
            json!({"policyName": "Frames10", "defaultLimit": {"type": "REQUESTCOUNTLIMIT",
                   "requestCount": {"timeUnit": "hour", "unitTime": 1, "requestCount": 10}}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{policy}");
    // The API comes from an AsyncAPI document: channels are topics, the server the upstream.
    let chat = format!(
        "asyncapi: 2.6.0\ninfo: {{title: Chat, version: 1.0.0}}\n\
         servers: {{production: {{url: '127.0.0.1:{}', protocol: ws}}}}\n\
         channels:\n\
         \x20 /rooms/{{room}}:\n\
         \x20   subscribe: {{x-scopes: [chat:read]}}\n\
         \x20   publish: {{security: [{{oauth2: [chat:write]}}]}}\n\
         \x20 notices:\n\
         \x20   subscribe: {{}}\n",
        upstream.port
    );
    let properties = json!({"context": "/chat", "policies": ["Unlimited", "Frames10"],
                            "streamingSettings": {"idleTimeoutSeconds": 2}});
    let (status, created) = rest
        .send_multipart(
            reqwest::Method::POST,
            &format!("{PUB}/apis/import-asyncapi"),
            &[
                ("file", &chat),
                ("additionalProperties", &properties.to_string()),
            ],
            &["file"],
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["type"], "WS");
    assert_eq!(
        created["operations"].as_array().unwrap().len(),
        3,
        "{created}"
    );
    let api = created["id"].as_str().unwrap().to_owned();
    let (status, document) = rest.get(&format!("{PUB}/apis/{api}/asyncapi")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        document["channels"]["notices"]["subscribe"],
        json!({}),
        "kept as given"
    );
    rest.publish_and_deploy(&api, &["Default"]).await;
    let writer = scoped_token(&up, "Writer", &api, "Unlimited", "chat:read chat:write").await;
    let reader = scoped_token(&up, "Reader", &api, "Unlimited", "chat:read").await;
    let nobody = scoped_token(&up, "Nobody", &api, "Unlimited", "").await;
    let metered = scoped_token(&up, "Metered", &api, "Frames10", "chat:read chat:write").await;
    let served = gantry_testkit::eventually(Duration::from_secs(5), || async {
        let out = ws_client(&up, "/chat/1.0.0/notices", &nobody, json!([["recv"]])).await;
        out["received"][0] == "welcome /notices"
    })
    .await;
    assert!(served, "the WebSocket API is served");

    // Auth at the handshake: no token, a forged one.
    let out = ws_client(&up, "/chat/1.0.0/rooms/1", "-", json!([])).await;
    assert_eq!(out["status"], 401, "{out}");
    let out = ws_client(&up, "/chat/1.0.0/rooms/1", "e30.e30.e30", json!([])).await;
    assert_eq!(out["status"], 401, "{out}");
    // Per-topic scopes: subscribing to a room needs chat:read; notices need nothing.
    let out = ws_client(&up, "/chat/1.0.0/rooms/1", &nobody, json!([])).await;
    assert_eq!(out["status"], 403, "{out}");
    // Publishing needs chat:write: the writer's message is relayed both ways.
    let out = ws_client(
        &up,
        "/chat/1.0.0/rooms/7",
        &writer,
        json!([["recv"], ["send", "hello"], ["recv"]]),
    )
    .await;
    assert_eq!(
        out["received"],
        json!(["welcome /rooms/7", "echo /rooms/7: hello"]),
        "{out}"
    );
    // A reader may subscribe but not publish: its message closes the connection, 4002.
    let out = ws_client(
        &up,
        "/chat/1.0.0/rooms/7",
        &reader,
        json!([["recv"], ["send", "hello"], ["drain"]]),
    )
    .await;
    assert_eq!(out["received"], json!(["welcome /rooms/7"]), "{out}");
    assert_eq!(out["close"][0], 4002, "{out}");
    assert!(
        out["close"][1].as_str().unwrap().contains("chat:write"),
        "{out}"
    );
    // A topic without PUBLISH takes no messages at all.
    let out = ws_client(
        &up,
        "/chat/1.0.0/notices",
        &writer,
        json!([["recv"], ["send", "hello"], ["drain"]]),
    )
    .await;
    assert_eq!(out["close"][0], 4002, "{out}");

    // The tier counts frames (messages, both ways; the handshake is one): 10 per hour.
    let out = ws_client(
        &up,
        "/chat/1.0.0/rooms/1",
        &metered,
        json!([["recv"], ["send", "burst 20"], ["drain"]]),
    )
    .await;
    // handshake + welcome + "burst 20" = 3; 7 of the burst pass, the 8th closes it.
    let received = out["received"].as_array().unwrap();
    assert_eq!(received.len(), 1 + 7, "{out}");
    assert_eq!(out["close"][0], 4003, "{out}");
    assert!(
        out["close"][1].as_str().unwrap().contains("throttled out"),
        "{out}"
    );
    let out = ws_client(&up, "/chat/1.0.0/rooms/1", &metered, json!([])).await;
    assert_eq!(
        out["status"], 429,
        "the spent tier refuses the next handshake: {out}"
    );

    // The API's idle timeout (2 s) closes a silent connection with 1001.
    let started = std::time::Instant::now();
    let out = ws_client(
        &up,
        "/chat/1.0.0/notices",
        &writer,
        json!([["recv"], ["drain"]]),
    )
    .await;
    assert_eq!(out["close"], json!([1001, "Idle timeout"]), "{out}");
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(1900) && waited < Duration::from_secs(10),
        "{waited:?}"
    );

    // A WebSocket API is not served to plain HTTP.
    let plain = up
        .gw_client()
        .get(up.gw_url("/chat/1.0.0/notices"))
        .bearer_auth(&writer)
        .send()
        .await
        .unwrap();
    assert_eq!(plain.status(), 400);
}

#[tokio::test]
async fn asyncapi_documents_define_streaming_apis_and_bad_ones_are_refused() {
    let up = GantryUp::start_with(BIN, false).await;
    let rest = up.rest();
    let multipart = |path: &str, fields: Vec<(&'static str, String)>| {
        let rest = rest.clone();
        let path = path.to_owned();
        async move {
            let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
            rest.send_multipart(reqwest::Method::POST, &path, &fields, &["file"])
                .await
        }
    };
    let feed = "asyncapi: 2.6.0\ninfo: {title: Feed, version: 2.0.0}\n\
                servers: {production: {url: 'http://127.0.0.1:9/feed', protocol: sse}}\n\
                channels: {/items: {subscribe: {}}}\n";
    let (status, api) = multipart(
        &format!("{PUB}/apis/import-asyncapi"),
        vec![
            ("file", feed.to_owned()),
            ("additionalProperties", r#"{"context": "/feed"}"#.to_owned()),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{api}");
    assert_eq!(api["type"], "SSE");
    assert_eq!(api["version"], "2.0.0");
    assert_eq!(
        api["endpointConfig"]["production_endpoints"]["url"],
        "http://127.0.0.1:9/feed"
    );
    let id = api["id"].as_str().unwrap();
    // PUT replaces the document and the operations.
    let (status, _) = rest
        .send_multipart(
            reqwest::Method::PUT,
            &format!("{PUB}/apis/{id}/asyncapi"),
            &[(
                "apiDefinition",
                "asyncapi: 2.6.0\ninfo: {title: Feed, version: 2.0.0}\nchannels: {/a: {subscribe: {}}, /b: {subscribe: {}}}\n",
            )],
            &[],
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, updated) = rest.get(&format!("{PUB}/apis/{id}")).await;
    let targets: Vec<&str> = updated["operations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["target"].as_str().unwrap())
        .collect();
    assert_eq!(targets, ["/a", "/b"]);
    // A publish channel on an SSE API is not an operation it can have.
    let (status, error) = rest
        .send_multipart(
            reqwest::Method::PUT,
            &format!("{PUB}/apis/{id}/asyncapi"),
            &[(
                "apiDefinition",
                "asyncapi: 2.6.0\ninfo: {title: Feed, version: 2.0.0}\nchannels: {/a: {publish: {}}}\n",
            )],
            &[],
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
    // Invalid documents, a URL (never fetched), a protocol with no API type.
    for (fields, why) in [
        (
            vec![("file", "asyncapi: 2.6.0\ninfo: {title: x}\n".to_owned())],
            "info.version",
        ),
        (vec![("url", "http://example.com/a.yaml".to_owned())], "url"),
        (
            vec![("file", feed.replace("protocol: sse", "protocol: kafka"))],
            "type",
        ),
    ] {
        let (status, error) = multipart(&format!("{PUB}/apis/import-asyncapi"), fields).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{why}: {error}");
        assert!(
            error["description"].as_str().unwrap().contains(why),
            "{why}: {error}"
        );
    }
    // A REST API has no AsyncAPI document.
    let (_, rest_api) = rest
        .post(
            &format!("{PUB}/apis"),
            json!({"name": "Plain", "context": "/plain", "version": "1.0.0",
                   "endpointConfig": {"endpoint_type": "http",
                                      "production_endpoints": {"url": "http://127.0.0.1:9"}}}),
        )
        .await;
    let plain = rest_api["id"].as_str().unwrap();
    let (status, _) = rest.get(&format!("{PUB}/apis/{plain}/asyncapi")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// What a WebSub subscriber's callback server saw.
#[derive(Default)]
struct Seen {
    /// (path, hub.mode, hub.topic) of each verification asked.
    verifications: Vec<(String, String, String)>,
    /// (path, body, signature valid, Link header) of each delivery attempt.
    deliveries: Vec<(String, String, bool, String)>,
}

/// A subscriber's callback server: `/good` confirms intents and takes events, `/dead`
/// confirms intents and then fails every delivery (500), `/liar` answers a wrong challenge.
/// Signatures are checked with `secret`.
struct Subscribers {
    addr: SocketAddr,
    seen: Arc<std::sync::Mutex<Seen>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Subscribers {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Subscribers {
    async fn start(secret: &'static str) -> Self {
        use http_body_util::BodyExt as _;
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(std::sync::Mutex::new(Seen::default()));
        let record = seen.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let record = record.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |r: Request<Incoming>| {
                        let record = record.clone();
                        async move {
                            let path = r.uri().path().to_owned();
                            let query = r.uri().query().unwrap_or_default().to_owned();
                            let signature = r
                                .headers()
                                .get("x-hub-signature")
                                .and_then(|v| v.to_str().ok())
                                .unwrap_or_default()
                                .to_owned();
                            let link = r
                                .headers()
                                .get("link")
                                .and_then(|v| v.to_str().ok())
                                .unwrap_or_default()
                                .to_owned();
                            let get = r.method() == http::Method::GET;
                            let body = r.into_body().collect().await.unwrap().to_bytes();
                            let mut seen = record.lock().unwrap();
                            let (status, answer) = if get {
                                let pairs: Vec<(String, String)> =
                                    serde_urlencoded::from_str(&query).unwrap();
                                let field = |n: &str| {
                                    pairs
                                        .iter()
                                        .find(|(k, _)| k == n)
                                        .map(|(_, v)| v.clone())
                                        .unwrap_or_default()
                                };
                                seen.verifications.push((
                                    path.clone(),
                                    field("hub.mode"),
                                    field("hub.topic"),
                                ));
                                let challenge = field("hub.challenge");
                                let answer = if path == "/liar" {
                                    "nope".to_owned()
                                } else {
                                    challenge
                                };
                                (200, answer)
                            } else {
                                let key = aws_lc_rs::hmac::Key::new(
                                    aws_lc_rs::hmac::HMAC_SHA256,
                                    secret.as_bytes(),
                                );
                                let expected: String = aws_lc_rs::hmac::sign(&key, &body)
                                    .as_ref()
                                    .iter()
                                    .map(|b| format!("{b:02x}"))
                                    .collect();
                                let valid = signature == format!("sha256={expected}");
                                let text = String::from_utf8_lossy(&body).into_owned();
                                seen.deliveries.push((path.clone(), text, valid, link));
                                (if path == "/dead" { 500 } else { 200 }, String::new())
                            };
                            Ok::<_, Infallible>(
                                Response::builder()
                                    .status(status)
                                    .body(http_body_util::Full::new(Bytes::from(answer)))
                                    .unwrap(),
                            )
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Self { addr, seen, task }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn deliveries_to(&self, path: &str) -> Vec<(String, bool, String)> {
        self.seen
            .lock()
            .unwrap()
            .deliveries
            .iter()
            .filter(|d| d.0 == path)
            .map(|d| (d.1.clone(), d.2, d.3.clone()))
            .collect()
    }

    fn verified(&self, path: &str) -> bool {
        self.seen
            .lock()
            .unwrap()
            .verifications
            .iter()
            .any(|v| v.0 == path)
    }
}

#[tokio::test]
async fn websub_hub_verifies_intent_signs_deliveries_and_drops_a_dead_subscriber() {
    const PUBLISHER_SECRET: &str = "publisher-secret-0123456789";
    let subscribers = Subscribers::start("subscriber-secret").await;
    // The subscriber's callback server is on loopback: the operator's opt-in lets the hub
    // call it (without it, `websub_hub_refuses_callbacks_on_non_public_addresses`).
    let up = GantryUp::start_with_env(
        BIN,
        false,
        &[("GANTRY_WEBSUB_ALLOW_PRIVATE_CALLBACKS", "true")],
    )
    .await;
    let rest = up.rest();
    let api = rest
        .create_and_deploy(json!({
            "name": "OrderEvents", "context": "/order-events", "version": "1.0.0", "type": "WEBSUB",
            "policies": ["Unlimited"],
            "websubSubscriptionConfiguration": {"enable": true, "secret": PUBLISHER_SECRET,
                "signingAlgorithm": "SHA256", "signatureHeader": "x-hub-signature"},
            "operations": [{"target": "/orders", "verb": "SUBSCRIBE", "scopes": ["orders:read"]},
                           {"target": "/refunds", "verb": "SUBSCRIBE"}],
        }))
        .await;
    let reader = scoped_token(&up, "OrderReader", &api, "Unlimited", "orders:read").await;
    let other = scoped_token(&up, "RefundReader", &api, "Unlimited", "").await;
    let gw = up.gw_client();
    let hub = up.gw_url("/order-events/1.0.0");
    let subscribe = |token: &str, topic: &str, callback: &str| {
        let form = gantry_testkit::rest::form_encode(&[
            ("hub.mode", "subscribe"),
            ("hub.topic", topic),
            ("hub.callback", callback),
            ("hub.secret", "subscriber-secret"),
        ]);
        gw.post(&hub)
            .bearer_auth(token)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form)
            .send()
    };
    let sign = |body: &str| {
        let key =
            aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, PUBLISHER_SECRET.as_bytes());
        let tag: String = aws_lc_rs::hmac::sign(&key, body.as_bytes())
            .as_ref()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        format!("sha256={tag}")
    };
    let publish = |topic: &str, body: &'static str, signature: Option<String>| {
        let mut request = gw
            .post(up.gw_url(&format!(
                "/order-events/1.0.0/webhooks_events_receiver_resource?topic={topic}"
            )))
            .header("content-type", "application/json")
            .body(body);
        if let Some(signature) = signature {
            request = request.header("x-hub-signature", signature);
        }
        request.send()
    };
    let served = gantry_testkit::eventually(Duration::from_secs(5), || async {
        let response = subscribe(&reader, "/orders", &subscribers.url("/good"))
            .await
            .unwrap();
        response.status() == 202
    })
    .await;
    assert!(served, "the hub accepts a subscription");
    assert!(
        gantry_testkit::eventually(Duration::from_secs(5), || async {
            subscribers.verified("/good")
        })
        .await,
        "the hub verifies the subscriber's intent"
    );

    // Refusals: no token, a topic's scope missing, an unknown topic, a bad callback.
    let anonymous = gw
        .post(&hub)
        .body("hub.mode=subscribe")
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    let unscoped = subscribe(&other, "/orders", &subscribers.url("/good"))
        .await
        .unwrap();
    assert_eq!(unscoped.status(), 403);
    let unknown = subscribe(&reader, "/nothing", &subscribers.url("/good"))
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
    let bad = subscribe(&reader, "/orders", "ftp://x").await.unwrap();
    assert_eq!(bad.status(), 400);
    // A callback that does not echo the challenge is never subscribed.
    assert_eq!(
        subscribe(&reader, "/orders", &subscribers.url("/liar"))
            .await
            .unwrap()
            .status(),
        202
    );
    assert!(
        gantry_testkit::eventually(Duration::from_secs(5), || async {
            subscribers.verified("/liar")
        })
        .await
    );

    // The publisher's events must carry its signature.
    let unsigned = publish("/orders", r#"{"order": 0}"#, None).await.unwrap();
    assert_eq!(unsigned.status(), 401);
    let forged = publish("/orders", r#"{"order": 0}"#, Some(sign("other body")))
        .await
        .unwrap();
    assert_eq!(forged.status(), 401);
    let accepted = publish("/orders", r#"{"order": 1}"#, Some(sign(r#"{"order": 1}"#)))
        .await
        .unwrap();
    assert_eq!(accepted.status(), 202);
    let report: serde_json::Value = accepted.json().await.unwrap();
    assert_eq!(
        report["delivering"], 1,
        "the liar is not a subscriber: {report}"
    );
    assert!(
        gantry_testkit::eventually(Duration::from_secs(5), || async {
            !subscribers.deliveries_to("/good").is_empty()
        })
        .await,
        "the event is delivered"
    );
    let delivered = subscribers.deliveries_to("/good");
    assert_eq!(delivered[0].0, r#"{"order": 1}"#);
    assert!(
        delivered[0].1,
        "X-Hub-Signature is the HMAC of the body with hub.secret"
    );
    assert!(
        delivered[0].2.contains("rel=\"hub\"")
            && delivered[0].2.contains("</orders>; rel=\"self\""),
        "{}",
        delivered[0].2
    );
    assert!(subscribers.deliveries_to("/liar").is_empty());

    // A dead subscriber is tried four times with backoff, then dropped.
    assert_eq!(
        subscribe(&other, "refunds", &subscribers.url("/dead"))
            .await
            .unwrap()
            .status(),
        202
    );
    assert!(
        gantry_testkit::eventually(Duration::from_secs(5), || async {
            subscribers.verified("/dead")
        })
        .await
    );
    let refund = r#"{"refund": 7}"#;
    let first = gantry_testkit::eventually(Duration::from_secs(5), || async {
        let response = publish("/refunds", refund, Some(sign(refund)))
            .await
            .unwrap();
        let report: serde_json::Value = response.json().await.unwrap();
        report["delivering"] == 1
    })
    .await;
    assert!(
        first,
        "the dead subscriber was verified and is delivered to"
    );
    let retried = gantry_testkit::eventually(Duration::from_secs(10), || async {
        subscribers.deliveries_to("/dead").len() >= 4
    })
    .await;
    assert!(
        retried,
        "four attempts: {:?}",
        subscribers.deliveries_to("/dead")
    );
    // The fourth attempt is recorded before its 500 reaches the hub, which then drops it.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let dropped = gantry_testkit::eventually(Duration::from_secs(5), || async {
        let response = publish("/refunds", refund, Some(sign(refund)))
            .await
            .unwrap();
        let report: serde_json::Value = response.json().await.unwrap();
        report["delivering"] == 0
    })
    .await;
    assert!(dropped, "after the last failed try the subscriber is gone");
    assert_eq!(
        subscribers.deliveries_to("/dead").len(),
        4,
        "no attempt after it was dropped"
    );
}

/// Without the operator's opt-in, the hub refuses (400, with the reason) a subscription
/// whose callback is on loopback, a private network, link-local (the cloud metadata
/// address) or any other non-public address — by IP literal or by what the name resolves
/// to — and never calls it.
#[tokio::test]
async fn websub_hub_refuses_callbacks_on_non_public_addresses() {
    let subscribers = Subscribers::start("subscriber-secret").await;
    let up = GantryUp::start_with(BIN, false).await;
    let rest = up.rest();
    let api = rest
        .create_and_deploy(json!({
            "name": "GuardedEvents", "context": "/guarded-events", "version": "1.0.0",
            "type": "WEBSUB", "policies": ["Unlimited"],
            "operations": [{"target": "/orders", "verb": "SUBSCRIBE"}],
        }))
        .await;
    let token = scoped_token(&up, "GuardedReader", &api, "Unlimited", "").await;
    let gw = up.gw_client();
    let hub = up.gw_url("/guarded-events/1.0.0");
    let subscribe = |callback: String| {
        let form = gantry_testkit::rest::form_encode(&[
            ("hub.mode", "subscribe"),
            ("hub.topic", "/orders"),
            ("hub.callback", &callback),
        ]);
        gw.post(&hub)
            .bearer_auth(&token)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form)
            .send()
    };
    let port = subscribers.addr.port();
    // The API is served once the gateway has the configuration: an unknown path is a 404.
    let served = gantry_testkit::eventually(Duration::from_secs(5), || async {
        subscribe(subscribers.url("/good")).await.unwrap().status() != 404
    })
    .await;
    assert!(served, "the hub is served");
    for (callback, kind) in [
        (subscribers.url("/good"), "loopback"),
        (format!("http://localhost:{port}/good"), "loopback"),
        (format!("http://[::1]:{port}/good"), "loopback"),
        (format!("http://[::ffff:127.0.0.1]:{port}/good"), "loopback"),
        (
            "http://169.254.169.254/latest/meta-data/".to_owned(),
            "link-local",
        ),
        ("http://10.0.0.8:8080/hook".to_owned(), "private"),
        ("https://192.168.1.20/hook".to_owned(), "private"),
        ("http://[fd00::1]/hook".to_owned(), "private"),
        (format!("http://0.0.0.0:{port}/hook"), "unspecified"),
    ] {
        let response = subscribe(callback.clone()).await.unwrap();
        assert_eq!(response.status(), 400, "{callback}");
        let body: serde_json::Value = response.json().await.unwrap();
        let description = body["error_description"].as_str().unwrap_or_default();
        assert!(
            description.contains(kind) && description.contains("public addresses only"),
            "{callback}: {body}"
        );
    }
    let ftp = subscribe("ftp://example.com/hook".to_owned())
        .await
        .unwrap();
    assert_eq!(ftp.status(), 400);
    // Nothing reached the callback server: no verification was tried.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !subscribers.verified("/good"),
        "a refused callback was called"
    );
}
