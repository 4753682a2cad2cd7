//! The path the gateway routes on is the path the upstream serves: every spelling of a
//! protected resource (escapes, case, trailing `/` or `.`, `;` parameters, dot segments,
//! backslashes, NUL) is refused or authenticated as that resource, over HTTP/1.1 and h2c,
//! against the real `gantry up` binary and an upstream that records the decoded path it
//! serves. Also: `X-Forwarded-Host` is the authority routed on, and an HTTP/2 body that
//! disagrees with its `content-length` is never handed to the upstream as complete.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use gantry_testkit::GantryUp;
use gantry_testkit::raw;
use gantry_testkit::raw_h2::{H2Client, HeaderBlock, error, flag, frame, kind, rst_stream};
use http::{Request, Response};
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::json;
use tokio::net::{TcpListener, TcpStream};

const BIN: &str = env!("CARGO_BIN_EXE_gantry");
const BASE: &str = "/paths/1.0.0";
/// Set by the test on requests that carry a token; the gateway passes it on.
const CALLER: &str = "x-test-caller";

/// One request as the upstream served it.
#[derive(Debug, Clone)]
struct Served {
    /// The path as it arrived.
    raw: String,
    /// The path percent-decoded once, as the upstream acts on it.
    decoded: String,
    query: Option<String>,
    /// Sent with a token (the test's marker header).
    authenticated: bool,
    /// The body arrived whole: it ended, and matched its `content-length` if any.
    complete: bool,
    body_len: usize,
    forwarded_host: Option<String>,
    forwarded: Option<String>,
}

/// An upstream (HTTP/1.1 and h2c) that records every request it serves.
struct Recorder {
    addr: SocketAddr,
    served: Arc<Mutex<Vec<Served>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Recorder {
    async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let served = Arc::new(Mutex::new(Vec::new()));
        let log = served.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let log = log.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |r| {
                        let log = log.clone();
                        async move { Ok::<_, Infallible>(record(r, log).await) }
                    });
                    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Self { addr, served, task }
    }

    fn url(&self) -> String {
        format!("http://{}/backend/", self.addr)
    }

    fn served(&self) -> Vec<Served> {
        self.served.lock().unwrap().clone()
    }

    fn count(&self) -> usize {
        self.served.lock().unwrap().len()
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn record(request: Request<Incoming>, log: Arc<Mutex<Vec<Served>>>) -> Response<Full<Bytes>> {
    let header = |name: &str| {
        request
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let declared = header("content-length").and_then(|v| v.parse::<usize>().ok());
    let mut served = Served {
        raw: request.uri().path().to_owned(),
        decoded: String::from_utf8_lossy(&percent_decode(request.uri().path().as_bytes()))
            .into_owned(),
        query: request.uri().query().map(str::to_owned),
        authenticated: header(CALLER).is_some(),
        complete: false,
        body_len: 0,
        forwarded_host: header("x-forwarded-host"),
        forwarded: header("forwarded"),
    };
    let body = request.into_body().collect().await;
    if let Ok(body) = body {
        let body = body.to_bytes();
        served.body_len = body.len();
        served.complete = declared.is_none_or(|n| n == body.len());
    }
    let answer = json!({"path": served.raw, "decoded": served.decoded}).to_string();
    log.lock().unwrap().push(served);
    Response::new(Full::new(Bytes::from(answer)))
}

fn percent_decode(bytes: &[u8]) -> Vec<u8> {
    let hex = |b: u8| char::from(b).to_digit(16);
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match (bytes[i], bytes.get(i + 1), bytes.get(i + 2)) {
            (b'%', Some(&h), Some(&l)) if hex(h).is_some() && hex(l).is_some() => {
                out.push((hex(h).unwrap() * 16 + hex(l).unwrap()) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    out
}

/// Whether any lenient reading of a decoded upstream path lands on `/backend/admin`:
/// decoded again, cut at NUL, `?` or `#`, `\` as `/`, `;` parameters dropped, case folded,
/// empty and `.` segments dropped, `..` resolved, trailing dots and spaces dropped.
fn could_be_admin(decoded: &str) -> bool {
    let twice = percent_decode(decoded.as_bytes());
    let twice = String::from_utf8_lossy(&twice).to_ascii_lowercase();
    let cut = twice.split(['\0', '?', '#']).next().unwrap_or_default();
    let mut segments: Vec<&str> = Vec::new();
    for segment in cut.split(['/', '\\']) {
        let name = segment
            .split(';')
            .next()
            .unwrap_or_default()
            .trim_end_matches([' ', '.']);
        match segment.split(';').next().unwrap_or_default() {
            ".." => {
                segments.pop();
            }
            _ if name.is_empty() => {}
            _ => segments.push(name),
        }
    }
    segments == ["backend", "admin"]
}

/// A gateway serving API `/paths/1.0.0`: `GET /*` and `POST /*` open, `GET /admin`
/// protected; and a token subscribed to it.
struct Fixture {
    up: GantryUp,
    upstream: Recorder,
    token: String,
}

impl Fixture {
    async fn start() -> Self {
        let upstream = Recorder::start().await;
        let up = GantryUp::start(BIN).await;
        let rest = up.rest();
        let api = rest
            .create_and_deploy(
                json!({"name": "Paths", "context": "/paths", "version": "1.0.0",
                "policies": ["Gold"],
                "endpointConfig": {"endpoint_type": "http",
                    "production_endpoints": {"url": upstream.url()}},
                "operations": [
                    {"target": "/*", "verb": "GET", "authType": "None"},
                    {"target": "/*", "verb": "POST", "authType": "None"},
                    {"target": "/admin", "verb": "GET"}]}),
            )
            .await;
        let token = rest.subscribed_token("PathsApp", &[&api], "Gold").await;
        assert!(
            up.eventually_gw_status(&format!("{BASE}/admin"), &token, 200)
                .await,
            "the API is served"
        );
        // What the readiness check sent carried no marker: start the record afresh.
        upstream.served.lock().unwrap().clear();
        Self {
            up,
            upstream,
            token,
        }
    }

    /// `GET path` over HTTP/1.1 exactly as written; with the token when `authenticated`.
    async fn http1(&self, path: &str, authenticated: bool) -> (u16, String) {
        let auth = if authenticated {
            format!("Authorization: Bearer {}\r\n{CALLER}: yes\r\n", self.token)
        } else {
            String::new()
        };
        let reply = raw::exchange(
            self.up.gw_port,
            &format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n{auth}Connection: close\r\n\r\n"),
        )
        .await;
        let status = reply
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let body = reply.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
        (status, body.to_owned())
    }

    /// `GET path` over h2c (prior knowledge) with hyper's client, `:path` exactly as written.
    async fn h2(&self, path: &str, authenticated: bool) -> (u16, String) {
        let stream = TcpStream::connect(("127.0.0.1", self.up.gw_port))
            .await
            .unwrap();
        let (mut send, connection) =
            hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
                .await
                .unwrap();
        tokio::spawn(connection);
        let mut request = Request::get(format!("http://localhost:{}{path}", self.up.gw_port));
        if authenticated {
            request = request
                .header("authorization", format!("Bearer {}", self.token))
                .header(CALLER, "yes");
        }
        let response = match send
            .send_request(request.body(Empty::<Bytes>::new()).unwrap())
            .await
        {
            Ok(response) => response,
            // The stream was reset: refused before any routing.
            Err(error) => return (0, error.to_string()),
        };
        let status = response.status().as_u16();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    async fn both(&self, path: &str, authenticated: bool) -> [(&'static str, u16, String); 2] {
        let (s1, b1) = self.http1(path, authenticated).await;
        let (s2, b2) = self.h2(path, authenticated).await;
        [("HTTP/1.1", s1, b1), ("h2c", s2, b2)]
    }
}

/// Spellings of `GET /admin` (and of steps out of an open resource into it) that an
/// upstream might serve as `/admin`, relative to the API's base path.
const ADMIN_TRICKS: &[&str] = &[
    "/%61dmin",
    "/%2561dmin",
    "/%2561DMIN",
    "/ADMIN",
    "/Admin",
    "/admin/",
    "/admin.",
    "/admin..",
    "/admin%2e",
    "/admin%2E/",
    "/admin%20",
    "/admin;x=1",
    "/admin;",
    "/admin%3Bx",
    "/admin%3bx",
    "/admin%253Bx",
    "/admin%3Fx",
    "/admin%253fx",
    "/admin%23x",
    "/admin%00",
    "/admin%00.json",
    "/admin%2500",
    "/x/../admin",
    "/x/%2e%2e/admin",
    "/x/%2E%2E/admin",
    "/x/.%2e/admin",
    "/x/%252e%252e/admin",
    "/x/..%2fadmin",
    "/x/..%2Fadmin",
    "/..;/admin",
    "/x/..;/admin",
    "/%2e%2e;/admin",
    "/x/%2e%2e%3b/admin",
    "/x/..;jsessionid=1/admin",
    "/./admin",
    "//admin",
    "/x//../admin",
    "\\admin",
    "/\\admin",
    "/x\\..\\admin",
    "%5Cadmin",
    "/%5cadmin",
    "/x%2f..%2fadmin",
    "/ADM%49N.",
    "/adm%69N;x",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_spelling_of_a_protected_path_reaches_the_upstream_without_a_token() {
    let f = Fixture::start().await;
    // Canonical spellings of the protected resource are the protected resource: 401 without
    // a token, served as `/backend/admin` with one.
    for spelling in ["/admin", "/%61dmin", "/adm%69n", "/%61%64%6D%69%6E"] {
        let path = format!("{BASE}{spelling}");
        for (protocol, status, body) in f.both(&path, false).await {
            assert_eq!(status, 401, "{protocol} {path}: {body}");
        }
        for (protocol, status, body) in f.both(&path, true).await {
            assert_eq!(status, 200, "{protocol} {path}: {body}");
            let seen: serde_json::Value = serde_json::from_str(&body).unwrap();
            assert_eq!(seen["path"], "/backend/admin", "{protocol} {path}");
        }
    }

    let before = f.upstream.count();
    for trick in ADMIN_TRICKS {
        let path = format!("{BASE}{trick}");
        for (protocol, status, body) in f.both(&path, false).await {
            // 0: the stream or connection was refused by the protocol layer.
            assert!(
                matches!(status, 0 | 400 | 401 | 404),
                "{protocol} {path}: {status} {body}"
            );
            if status == 400 && !body.is_empty() {
                let error: serde_json::Value = serde_json::from_str(&body).unwrap();
                assert_eq!(error["code"], "400", "{protocol} {path}: {body}");
            }
        }
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        f.upstream.served()[before..]
            .iter()
            .map(|s| s.raw.as_str())
            .collect::<Vec<_>>(),
        Vec::<&str>::new(),
        "no trick reached the upstream"
    );

    // Open resources still flow, in canonical form: unreserved escapes decoded, the rest
    // kept with upper-case hex, the query untouched.
    for (sent, forwarded, query) in [
        ("/public/x", "/backend/public/x", None),
        ("/a%20b", "/backend/a%20b", None),
        ("/%7euser/%41", "/backend/~user/A", None),
        ("/caf%c3%a9", "/backend/caf%C3%A9", None),
        ("/a;v=1", "/backend/a;v=1", None),
        ("/a%3bv", "/backend/a%3Bv", None),
        (
            "/x?q=%61&r=/../admin",
            "/backend/x",
            Some("q=%61&r=/../admin"),
        ),
        ("/administrator", "/backend/administrator", None),
    ] {
        let path = format!("{BASE}{sent}");
        for (protocol, status, body) in f.both(&path, false).await {
            assert_eq!(status, 200, "{protocol} {path}: {body}");
            let seen: serde_json::Value = serde_json::from_str(&body).unwrap();
            assert_eq!(seen["path"], forwarded, "{protocol} {path}");
            let last = f.upstream.served().last().cloned().unwrap();
            assert_eq!(last.query.as_deref(), query, "{protocol} {path}");
        }
    }

    // Whatever reached the upstream without a token, read as loosely as any upstream might,
    // is not the protected resource.
    for served in f.upstream.served() {
        assert!(
            served.authenticated || !could_be_admin(&served.decoded),
            "{served:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarded_host_is_the_authority_the_gateway_routed_on() {
    let f = Fixture::start().await;
    let port = f.up.gw_port;
    let path = format!("{BASE}/host");

    // HTTP/1.1 origin form: the Host header.
    f.http1(&path, false).await;
    let served = f.upstream.served().last().cloned().unwrap();
    assert_eq!(served.forwarded_host.as_deref(), Some("localhost"));
    assert!(
        served.forwarded.unwrap().ends_with(";host=localhost"),
        "Forwarded"
    );

    // HTTP/1.1 absolute form: the target's authority wins over Host (RFC 9112 §3.2.2).
    let reply = raw::exchange(
        port,
        &format!(
            "GET http://localhost:{port}{path} HTTP/1.1\r\nHost: other.example\r\nConnection: close\r\n\r\n"
        ),
    )
    .await;
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    let served = f.upstream.served().last().cloned().unwrap();
    assert_eq!(
        served.forwarded_host.as_deref(),
        Some(format!("localhost:{port}").as_str())
    );
    assert!(
        served
            .forwarded
            .as_deref()
            .unwrap()
            .ends_with(&format!(";host=\"localhost:{port}\"")),
        "{served:?}"
    );

    // HTTP/2: `:authority`, not a `host` field beside it.
    let client = H2Client::connect(port).await;
    let headers = HeaderBlock::request("GET", &path, &format!("localhost:{port}"))
        .literal("host", "other.example");
    client
        .send(&frame(
            kind::HEADERS,
            flag::END_HEADERS | flag::END_STREAM,
            1,
            headers.bytes(),
        ))
        .await
        .unwrap();
    let before = f.upstream.count();
    let heard = client
        .wait_for(Duration::from_secs(5), |h| {
            !h.responses.is_empty() || !h.resets.is_empty() || h.ended()
        })
        .await;
    if heard.responses.first().map(|r| r.1) == Some(0x88) {
        let served = f.upstream.served().last().cloned().unwrap();
        assert_eq!(
            served.forwarded_host.as_deref(),
            Some(format!("localhost:{port}").as_str()),
            "{served:?}"
        );
    } else {
        // Refusing the mismatch outright is as good.
        assert_eq!(f.upstream.count(), before, "{heard:?}");
    }
}

/// How the gateway answered one raw h2 request on stream 1.
#[derive(Debug, PartialEq, Eq)]
enum H2Answer {
    /// RST_STREAM with this error code.
    Reset(u32),
    /// Response HEADERS whose first HPACK byte is this (0x88: `:status 200`).
    Headers(u8),
    /// GOAWAY, or the connection closed, without an answer on the stream.
    Ended,
    /// Nothing within the wait (the client cancelled the stream itself).
    Silent,
}

/// How a raw h2 POST ends after its DATA.
#[derive(Debug, Clone, Copy)]
enum Ending {
    /// The last DATA frame carries END_STREAM.
    EndStream,
    /// The client resets the stream with CANCEL instead (hyper reads that as a clean end).
    Cancel,
}

/// `POST` on a new h2c connection declaring `declared` bytes; DATA in 16 KiB frames up to
/// the declared length (or `sent`, when fewer), a pause in which the gateway could forward
/// what it has, then the `ending`, carrying what is sent past the declared length.
async fn raw_h2_post(
    port: u16,
    path: &str,
    declared: usize,
    sent: usize,
    ending: Ending,
) -> H2Answer {
    let client = H2Client::connect(port).await;
    // The server's SETTINGS and window updates come before it acknowledges ours.
    client
        .wait_for(Duration::from_secs(5), |h| h.settings_acks > 0)
        .await;
    let headers = HeaderBlock::request("POST", path, &format!("localhost:{port}"))
        .literal("content-length", &declared.to_string());
    client
        .send(&frame(kind::HEADERS, flag::END_HEADERS, 1, headers.bytes()))
        .await
        .unwrap();
    let body = vec![b'x'; sent.min(declared)];
    for chunk in body.chunks(16 * 1024) {
        client.send(&frame(kind::DATA, 0, 1, chunk)).await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    match ending {
        Ending::EndStream => {
            let excess = vec![b'y'; sent.saturating_sub(declared)];
            client
                .send(&frame(kind::DATA, flag::END_STREAM, 1, &excess))
                .await
                .unwrap();
        }
        Ending::Cancel => client.send(&rst_stream(1, error::CANCEL)).await.unwrap(),
    }
    let heard = client
        .wait_for(Duration::from_secs(3), |h| {
            !h.resets.is_empty() || !h.responses.is_empty() || h.ended()
        })
        .await;
    if let Some((_, first)) = heard.responses.first() {
        H2Answer::Headers(*first)
    } else if let Some(code) = heard.resets.keys().next() {
        H2Answer::Reset(*code)
    } else if heard.ended() {
        H2Answer::Ended
    } else {
        H2Answer::Silent
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h2_bodies_that_disagree_with_content_length_never_reach_the_upstream_complete() {
    let f = Fixture::start().await;
    let port = f.up.gw_port;
    // Under and over the 64 KiB a small body is buffered up to.
    for size in [1_000, 200_000] {
        let path = format!("{BASE}/upload/{size}");
        for (case, declared, sent, ending) in [
            ("longer", size, size + 20, Ending::EndStream),
            ("shorter", size, size - 100, Ending::EndStream),
            ("cancelled", size, size - 100, Ending::Cancel),
        ] {
            let before = f.upstream.count();
            let answer = raw_h2_post(port, &path, declared, sent, ending).await;
            assert!(
                !matches!(answer, H2Answer::Headers(0x88)),
                "{case} {size}: never a 200, got {answer:?}"
            );
            // Let a wrongly forwarded request finish arriving.
            tokio::time::sleep(Duration::from_millis(300)).await;
            let complete: Vec<Served> = f.upstream.served()[before..]
                .iter()
                .filter(|s| s.complete)
                .cloned()
                .collect();
            assert!(
                complete.is_empty(),
                "{case} {size}: the upstream got a complete request: {complete:?}"
            );
        }
        // The same request, honest: forwarded whole.
        let before = f.upstream.count();
        let answer = raw_h2_post(port, &path, size, size, Ending::EndStream).await;
        assert_eq!(
            answer,
            H2Answer::Headers(0x88),
            "honest {size}: :status 200"
        );
        let served = f.upstream.served()[before..].to_vec();
        assert_eq!(served.len(), 1, "{served:?}");
        assert!(
            served[0].complete && served[0].body_len == size,
            "{served:?}"
        );
    }
}
