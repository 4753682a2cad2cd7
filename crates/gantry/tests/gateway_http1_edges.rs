//! HTTP/1 edge cases at the gateway, both sides of the proxy (test catalogue H6, H10, H12,
//! H15, H27, H28, H29): odd chunked framing and request lines from clients, and upstreams
//! that misbehave — conflicting framing, bodies where none may be, switching protocols
//! unasked, resetting, stalling, sending header bytes no client should see. The upstream is
//! a raw-TCP server in this file that answers with exactly the bytes each case needs and
//! records every request it parsed; the gateway is the real `gantry up`. What matters in
//! every case: a clear status, no byte of one response leaking into the next, and the
//! upstream seeing exactly the requests the gateway answered for.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gantry_testkit::{GantryUp, eventually};
use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

const BIN: &str = env!("CARGO_BIN_EXE_gantry");
/// The upstream's answer time allowed by the API (`actionDuration`).
const UPSTREAM_TIMEOUT: Duration = Duration::from_millis(2000);
/// The time a client has to send its whole request body (`--request-body-timeout-secs`).
const BODY_TIMEOUT: Duration = Duration::from_secs(1);
/// Seconds a client may take nothing of a response (`--send-timeout-secs`).
const SEND_TIMEOUT: Duration = Duration::from_secs(1);
/// A response body larger than every socket buffer between the upstream and the client.
const BIG: usize = 64 << 20;
/// A request that rides in a body; if the upstream ever parses it, framing was lost.
const SMUGGLED: &str = "GET /edge/1.0.0/smuggled HTTP/1.1\r\nHost: localhost\r\n\r\n";

/// A request the scripted upstream parsed.
#[derive(Debug, Clone)]
struct Seen {
    /// The upstream connection it came on (0, 1, …).
    connection: usize,
    /// The request line and header lines, as sent.
    head: String,
    /// Everything after the head: the body as framed on the wire, trailers included.
    framed_body: String,
}

impl Seen {
    fn path(&self) -> &str {
        self.head.split(' ').nth(1).unwrap_or_default()
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.head.split("\r\n").skip(1).find_map(|line| {
            let (n, v) = line.split_once(':')?;
            n.eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }
}

/// What the upstream does with a request.
enum Act {
    /// Writes these bytes and waits for the next request on the connection.
    Send(Vec<u8>),
    /// Writes these bytes, then resets the connection (RST, not FIN).
    Reset(Vec<u8>),
    /// Closes the connection without answering.
    Close,
    /// Writes these bytes one per second.
    Trickle(Vec<u8>),
}

/// The upstream's script: the answer for each path (the gateway forwards
/// `/edge/1.0.0/<case>` as `/<case>`).
fn script(method: &str, path: &str) -> Act {
    let bytes = |s: &str| s.as_bytes().to_vec();
    let leak = "HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nSMUGGLED";
    match path {
        // H12: framing the gateway must not take at face value.
        "/cl-and-te" => Act::Send(bytes(
            "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
        )),
        "/two-lengths" => Act::Send(bytes(
            "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 13\r\n\r\nhelloSMUGGLED",
        )),
        "/no-content-with-body" => {
            Act::Send(bytes(&format!("HTTP/1.1 204 No Content\r\n\r\n{leak}")))
        }
        "/not-modified-with-body" => Act::Send(bytes(&format!(
            "HTTP/1.1 304 Not Modified\r\nContent-Length: 46\r\n\r\n{leak}"
        ))),
        "/head-with-body" if method == "HEAD" => Act::Send(bytes(&format!(
            "HTTP/1.1 200 OK\r\nContent-Length: 46\r\n\r\n{leak}"
        ))),
        "/more-than-declared" => Act::Send(bytes(&format!(
            "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello{leak}"
        ))),
        // H27: an upstream that will not switch, and one that switches unasked.
        "/ws-refused" => Act::Send(bytes(
            "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nno upgrade",
        )),
        "/switches" => Act::Send(bytes(
            "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n",
        )),
        // H28: failures.
        "/reset-mid-body" => Act::Reset(bytes(
            "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial",
        )),
        "/close-before-headers" => Act::Close,
        "/trickle" => Act::Trickle(bytes("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")),
        "/huge-headers" => {
            let mut head = bytes("HTTP/1.1 200 OK\r\n");
            for i in 0..1024 {
                head.extend(format!("X-Pad-{i}: {}\r\n", "p".repeat(1000)).bytes());
            }
            head.extend(b"Content-Length: 2\r\n\r\nok");
            Act::Send(head)
        }
        // H29: header bytes that must never reach a client as they are.
        "/bare-cr" => Act::Send(bytes(
            "HTTP/1.1 200 OK\r\nX-A: a\rSet-Cookie: injected=1\r\nContent-Length: 2\r\n\r\nok",
        )),
        "/bare-lf" => Act::Send(bytes(
            "HTTP/1.1 200 OK\r\nX-A: a\nSet-Cookie: injected=1\r\nContent-Length: 2\r\n\r\nok",
        )),
        "/nul" => Act::Send(bytes(
            "HTTP/1.1 200 OK\r\nX-A: a\0b\r\nContent-Length: 2\r\n\r\nok",
        )),
        "/obs-fold" => Act::Send(bytes(
            "HTTP/1.1 200 OK\r\nX-A: a\r\n Set-Cookie: injected=1\r\nContent-Length: 2\r\n\r\nok",
        )),
        "/big-cookie" => Act::Send(bytes(&format!(
            "HTTP/1.1 200 OK\r\nSet-Cookie: big={}\r\nContent-Length: 2\r\n\r\nok",
            "c".repeat(70 * 1024)
        ))),
        // H15, slow read: more than the socket buffers on the way hold.
        "/big" => {
            let mut answer =
                format!("HTTP/1.1 200 OK\r\nContent-Length: {BIG}\r\n\r\n").into_bytes();
            answer.resize(answer.len() + BIG, b'b');
            Act::Send(answer)
        }
        "/smuggled" => Act::Send(bytes(
            "HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nsmuggled",
        )),
        _ => Act::Send(bytes("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")),
    }
}

/// A raw-TCP upstream that answers by [`script`] and records what it parsed.
struct ScriptedUpstream {
    port: u16,
    seen: Arc<Mutex<Vec<Seen>>>,
    /// The connections the gateway (or the script) has closed.
    closed: Arc<Mutex<Vec<usize>>>,
}

impl ScriptedUpstream {
    async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let closed = Arc::new(Mutex::new(Vec::new()));
        let (s, o) = (seen.clone(), closed.clone());
        // Ends with the test's runtime.
        tokio::spawn(async move {
            for connection in 0.. {
                let Ok((stream, _)) = listener.accept().await else {
                    break;
                };
                let (s, o) = (s.clone(), o.clone());
                tokio::spawn(async move {
                    serve_scripted(stream, connection, s).await;
                    o.lock().unwrap().push(connection);
                });
            }
        });
        Self { port, seen, closed }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    fn count(&self) -> usize {
        self.seen.lock().unwrap().len()
    }
}

async fn serve_scripted(stream: TcpStream, connection: usize, seen: Arc<Mutex<Vec<Seen>>>) {
    let mut reader = BufReader::new(stream);
    loop {
        let Some(head) = read_head(&mut reader).await else {
            return;
        };
        let mut request = Seen {
            connection,
            head,
            framed_body: String::new(),
        };
        // The head is recorded as soon as it arrives: a body may never come.
        let index = {
            let mut seen = seen.lock().unwrap();
            seen.push(request.clone());
            seen.len() - 1
        };
        let Some(body) = read_framed_body(&mut reader, &request).await else {
            return;
        };
        request.framed_body = body;
        seen.lock().unwrap()[index] = request.clone();
        let method = request
            .head
            .split(' ')
            .next()
            .unwrap_or_default()
            .to_owned();
        let stream = reader.get_mut();
        match script(&method, request.path()) {
            Act::Send(bytes) => {
                if stream.write_all(&bytes).await.is_err() {
                    return;
                }
            }
            Act::Reset(bytes) => {
                let _ = stream.write_all(&bytes).await;
                let _ = stream.flush().await;
                tokio::time::sleep(Duration::from_millis(50)).await;
                // A zero linger makes the close an RST and never blocks.
                #[allow(deprecated)]
                let _ = stream.set_linger(Some(Duration::ZERO));
                return;
            }
            Act::Close => return,
            Act::Trickle(bytes) => {
                for byte in bytes {
                    if stream.write_all(&[byte]).await.is_err() {
                        return;
                    }
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    }
}

/// Reads lines up to the blank one; `None` at EOF.
async fn read_head<R: AsyncBufReadExt + Unpin>(reader: &mut R) -> Option<String> {
    let mut head = String::new();
    loop {
        let mut line = Vec::new();
        if reader.read_until(b'\n', &mut line).await.ok()? == 0 {
            return None;
        }
        let line = String::from_utf8_lossy(&line).into_owned();
        if line == "\r\n" || line == "\n" {
            return Some(head);
        }
        head.push_str(&line);
    }
}

/// Reads a request body framed by `Content-Length` or chunked coding, as it is on the wire.
async fn read_framed_body<R: AsyncBufReadExt + Unpin>(
    reader: &mut R,
    request: &Seen,
) -> Option<String> {
    if request
        .header("transfer-encoding")
        .is_some_and(|te| te.eq_ignore_ascii_case("chunked"))
    {
        let mut framed = String::new();
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).await.ok()?;
            framed.push_str(&line);
            let size = usize::from_str_radix(line.trim().split(';').next()?, 16).ok()?;
            if size == 0 {
                // Trailers, up to the blank line.
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).await.ok()? == 0 {
                        return None;
                    }
                    framed.push_str(&line);
                    if line == "\r\n" {
                        return Some(framed);
                    }
                }
            }
            let mut data = vec![0u8; size + 2];
            reader.read_exact(&mut data).await.ok()?;
            framed.push_str(&String::from_utf8_lossy(&data));
        }
    }
    let length: usize = request
        .header("content-length")
        .map_or(Some(0), |n| n.parse().ok())?;
    let mut data = vec![0u8; length];
    reader.read_exact(&mut data).await.ok()?;
    Some(String::from_utf8_lossy(&data).into_owned())
}

/// One response read from the gateway, framed as a client would frame it.
#[derive(Debug)]
struct Reply {
    status: u16,
    head: String,
    body: Vec<u8>,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.head.split("\r\n").skip(1).find_map(|line| {
            let (n, v) = line.split_once(':')?;
            n.eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }

    fn body(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// A client connection to the gateway, read response by response.
struct Client {
    reader: BufReader<TcpStream>,
}

impl Client {
    async fn connect(port: u16) -> Self {
        let stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        Self {
            reader: BufReader::new(stream),
        }
    }

    async fn send(&mut self, bytes: &[u8]) {
        self.reader.get_mut().write_all(bytes).await.unwrap();
    }

    /// The next response (within 5 s); `None` if the gateway closed the connection first.
    /// A response to HEAD has no body.
    async fn reply(&mut self, to_head: bool) -> Option<Reply> {
        tokio::time::timeout(Duration::from_secs(5), self.read_reply(to_head))
            .await
            .expect("a response or a close within 5 s")
    }

    async fn read_reply(&mut self, to_head: bool) -> Option<Reply> {
        let head = read_head(&mut self.reader).await?;
        let status = head
            .strip_prefix("HTTP/1.1 ")
            .and_then(|rest| rest.get(..3))
            .and_then(|code| code.parse().ok())
            .unwrap_or_else(|| panic!("not an HTTP/1.1 status line: {head:?}"));
        let mut reply = Reply {
            status,
            head,
            body: Vec::new(),
        };
        if to_head || status < 200 || status == 204 || status == 304 {
            return Some(reply);
        }
        if reply.header("transfer-encoding") == Some("chunked") {
            loop {
                let mut line = String::new();
                self.reader.read_line(&mut line).await.ok()?;
                let size = usize::from_str_radix(line.trim(), 16).ok()?;
                let mut data = vec![0u8; size + 2];
                self.reader.read_exact(&mut data).await.ok()?;
                if size == 0 {
                    return Some(reply);
                }
                reply.body.extend_from_slice(&data[..size]);
            }
        }
        match reply.header("content-length") {
            Some(n) => {
                let mut data = vec![0u8; n.parse().unwrap()];
                self.reader.read_exact(&mut data).await.ok()?;
                reply.body = data;
            }
            None => {
                self.reader.read_to_end(&mut reply.body).await.ok()?;
            }
        }
        Some(reply)
    }

    /// Whether the gateway closes the connection (within 5 s) without sending anything more.
    async fn closes_quietly(&mut self) -> bool {
        let mut rest = Vec::new();
        matches!(
            tokio::time::timeout(Duration::from_secs(5), self.reader.read_to_end(&mut rest)).await,
            Ok(Ok(0))
        )
    }
}

/// A GET of `/edge/1.0.0{path}` (keep-alive).
fn get(path: &str) -> String {
    format!("GET /edge/1.0.0{path} HTTP/1.1\r\nHost: localhost\r\n\r\n")
}

/// `gantry up` with small timeouts, and the API `/edge/1.0.0` in front of `upstream`: every
/// path open for GET, HEAD and POST, except `/secret`, which needs a token.
async fn gateway_in_front_of(upstream: &ScriptedUpstream) -> GantryUp {
    let up = GantryUp::start_with_env(
        BIN,
        false,
        &[
            ("GANTRY_HEADER_READ_TIMEOUT_SECS", "2"),
            (
                "GANTRY_REQUEST_BODY_TIMEOUT_SECS",
                &BODY_TIMEOUT.as_secs().to_string(),
            ),
            (
                "GANTRY_SEND_TIMEOUT_SECS",
                &SEND_TIMEOUT.as_secs().to_string(),
            ),
        ],
    )
    .await;
    up.rest()
        .create_and_deploy(json!({
            "name": "Edge", "context": "/edge", "version": "1.0.0", "policies": ["Gold"],
            "endpointConfig": {"endpoint_type": "http", "production_endpoints": {
                "url": upstream.url(),
                "config": {"actionDuration": UPSTREAM_TIMEOUT.as_millis().to_string()}}},
            "operations": [
                {"target": "/secret", "verb": "GET"},
                {"target": "/*", "verb": "GET", "authType": "None"},
                {"target": "/*", "verb": "HEAD", "authType": "None"},
                {"target": "/*", "verb": "POST", "authType": "None"}]
        }))
        .await;
    let served = eventually(Duration::from_secs(5), || async {
        let mut client = Client::connect(up.gw_port).await;
        client.send(get("/ok").as_bytes()).await;
        client.reply(false).await.is_some_and(|r| r.status == 200)
    })
    .await;
    assert!(served, "the API is served");
    up
}

/// The requests the upstream parsed for case `number`: the head carrying its `X-Case`
/// header, then what followed it on the same upstream connection up to another case's head
/// (pooled connections carry several cases).
fn of_case(upstream: &ScriptedUpstream, number: usize) -> Vec<Seen> {
    let seen = upstream.seen();
    let number = number.to_string();
    let Some(start) = seen
        .iter()
        .position(|s| s.header("x-case") == Some(number.as_str()))
    else {
        return Vec::new();
    };
    let connection = seen[start].connection;
    let mut of_case = vec![seen[start].clone()];
    of_case.extend(
        seen[start + 1..]
            .iter()
            .filter(|s| s.connection == connection)
            .take_while(|s| s.header("x-case").is_none())
            .cloned(),
    );
    of_case
}

/// The requests the upstream parsed after the first `from`.
fn since(upstream: &ScriptedUpstream, from: usize) -> Vec<Seen> {
    upstream.seen().into_iter().skip(from).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn odd_chunked_bodies_are_refused_or_reframed_and_never_smuggle_a_request() {
    let upstream = ScriptedUpstream::start().await;
    let up = gateway_in_front_of(&upstream).await;
    let head =
        "POST /edge/1.0.0/echo HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n";
    let long_extension = format!("5;ext={}\r\nhello\r\n0\r\n\r\n", "e".repeat(10 * 1024));
    let over_extension_limit = format!(
        "5;a={0}\r\nhello\r\n5;b={0}\r\nhello\r\n0\r\n\r\n",
        "e".repeat(10 * 1024)
    );
    // (case, chunked body, whether the gateway serves it). hyper allows 16 KiB of chunk
    // extensions per body, and drops them; over that, the body is refused.
    let cases: [(&str, &str, bool); 10] = [
        ("10 KiB chunk extension", &long_extension, true),
        ("20 KiB of chunk extensions", &over_extension_limit, false),
        ("0x prefix", "0x5\r\nhello\r\n0\r\n\r\n", false),
        ("leading plus", "+5\r\nhello\r\n0\r\n\r\n", false),
        (
            "17 hex digits",
            "10000000000000005\r\nhello\r\n0\r\n\r\n",
            false,
        ),
        ("LF-only lines", "5\nhello\n0\n\n", false),
        ("no CRLF after data", "5\r\nhelloXX0\r\n\r\n", false),
        ("missing final CRLF", "5\r\nhello\r\n0\r\n", false),
        (
            "forbidden trailers",
            "5\r\nhello\r\n0\r\nContent-Length: 50\r\nHost: evil.example\r\n\r\n",
            true,
        ),
        ("negative size", "-5\r\nhello\r\n0\r\n\r\n", false),
    ];
    for (number, (case, body, well_formed)) in cases.into_iter().enumerate() {
        let mut client = Client::connect(up.gw_port).await;
        // The smuggled request follows on the same connection: a gateway that lost the
        // framing would either forward it inside the body or answer it as a second request.
        // Each case's head carries its number, so what the upstream records late for an
        // earlier case (a head whose body the gateway abandoned) is not counted here.
        let head = head.replace("\r\n\r\n", &format!("\r\nX-Case: {number}\r\n\r\n"));
        client
            .send(format!("{head}{body}{SMUGGLED}").as_bytes())
            .await;
        let first = client.reply(false).await;
        if well_formed {
            let first = first.unwrap_or_else(|| panic!("{case}: no response"));
            assert_eq!(first.status, 200, "{case}: {first:?}");
            assert_eq!(first.body(), "ok", "{case}");
            // The next request is the client's own, answered on its own.
            let second = client.reply(false).await.expect("the second response");
            assert_eq!((second.status, second.body()), (200, "smuggled".into()));
            let seen = of_case(&upstream, number);
            assert_eq!(
                seen.len(),
                2,
                "{case}: the body, then the next request: {seen:?}"
            );
            // Re-framed by the gateway: the data once, no extension, no trailer.
            let body = &seen[0].framed_body;
            assert!(body.contains("hello"), "{case}: {body:?}");
            assert!(!body.contains("ext="), "{case}: {body:?}");
            assert!(!body.contains("evil"), "{case}: {body:?}");
            assert!(!body.contains("Content-Length: 50"), "{case}: {body:?}");
            assert!(!body.contains("GET "), "{case}: {body:?}");
            assert_eq!(seen[1].path(), "/smuggled", "{case}");
        } else {
            let seen = of_case(&upstream, number);
            // hyper finds the error mid-body; the gateway answers for the client's body,
            // not as if the upstream had failed.
            assert_eq!(first.map(|r| r.status), Some(400), "{case}");
            assert!(
                seen.iter().all(|s| s.path() != "/smuggled"),
                "{case}: the smuggled request reached the upstream: {seen:?}"
            );
            // The upstream may have seen the head (bodies stream), but never a complete
            // request: the gateway abandoned it before the last chunk.
            assert!(
                seen.iter().all(|s| s.framed_body.is_empty()),
                "{case}: the upstream got a whole request: {seen:?}"
            );
            assert!(
                client.closes_quietly().await,
                "{case}: the connection closes after a framing error"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_request_lines_get_400_405_or_431_and_are_never_forwarded() {
    let upstream = ScriptedUpstream::start().await;
    let up = gateway_in_front_of(&upstream).await;
    let long_uri = format!("/edge/1.0.0/{}", "u".repeat(100 * 1024));
    let line = |request_line: &str| format!("{request_line}\r\nHost: localhost\r\n\r\n");
    // What hyper answers: httparse takes only `HTTP/1.0` and `HTTP/1.1`, so another version
    // is a parse error (400, not 505); a request head over the 60 KiB buffer is 431 before
    // the URI is even complete (hyper's 414 needs a URI over 64 KiB inside the buffer); a
    // lower-case method is another method (RFC 9110 §9.1: case-sensitive), which the API
    // does not have.
    let cases = [
        ("two spaces", line("GET  /edge/1.0.0/ok HTTP/1.1"), 400),
        (
            "trailing word",
            line("GET /edge/1.0.0/ok HTTP/1.1 extra"),
            400,
        ),
        (
            "HTTP/2.0 on the HTTP/1 port",
            line("GET /edge/1.0.0/ok HTTP/2.0"),
            400,
        ),
        ("HTTP/1.2", line("GET /edge/1.0.0/ok HTTP/1.2"), 400),
        ("no version (HTTP/0.9)", line("GET /edge/1.0.0/ok"), 400),
        (
            "tab as separator",
            line("GET\t/edge/1.0.0/ok HTTP/1.1"),
            400,
        ),
        (
            "lower-case method",
            line("get /edge/1.0.0/ok HTTP/1.1"),
            405,
        ),
        (
            "target without a slash",
            line("GET edge/1.0.0/ok HTTP/1.1"),
            400,
        ),
        (
            "100 KiB URI",
            line(&format!("GET {long_uri} HTTP/1.1")),
            431,
        ),
    ];
    let before = upstream.count();
    for (case, request, expected) in cases {
        let mut client = Client::connect(up.gw_port).await;
        client.send(request.as_bytes()).await;
        let reply = client.reply(false).await;
        assert_eq!(reply.map(|r| r.status), Some(expected), "{case}");
    }
    assert_eq!(upstream.count(), before, "{:?}", since(&upstream, before));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_upstream_framing_never_leaks_into_the_next_response_on_the_connection() {
    let upstream = ScriptedUpstream::start().await;
    let up = gateway_in_front_of(&upstream).await;
    // (case, method, path, the status the client gets): hyper's client frames by
    // Transfer-Encoding over Content-Length, refuses two lengths, reads no body after 204,
    // 304 or HEAD, and stops at the declared length; what is left over is never read.
    let cases = [
        ("Content-Length and chunked", "GET", "/cl-and-te", 200),
        ("two Content-Lengths", "GET", "/two-lengths", 502),
        ("204 with a body", "GET", "/no-content-with-body", 204),
        ("304 with a body", "GET", "/not-modified-with-body", 304),
        ("HEAD answered with a body", "HEAD", "/head-with-body", 200),
        (
            "more bytes than declared",
            "GET",
            "/more-than-declared",
            200,
        ),
    ];
    for (case, method, path, expected) in cases {
        let mut client = Client::connect(up.gw_port).await;
        client
            .send(
                format!("{method} /edge/1.0.0{path} HTTP/1.1\r\nHost: localhost\r\n\r\n")
                    .as_bytes(),
            )
            .await;
        let first = client
            .reply(method == "HEAD")
            .await
            .unwrap_or_else(|| panic!("{case}: no response"));
        assert_eq!(first.status, expected, "{case}: {first:?}");
        assert!(!first.body().contains("SMUGGLED"), "{case}: {first:?}");
        if path == "/cl-and-te" {
            // Chunked wins (RFC 9112 §6.3); the stale length is not passed on.
            assert_eq!(first.body(), "hello", "{case}: {first:?}");
            assert!(
                first.header("content-length") != Some("3"),
                "{case}: {first:?}"
            );
        }
        if path == "/more-than-declared" {
            assert_eq!(first.body(), "hello", "{case}: {first:?}");
        }
        // The next request on the same client connection gets its own response, whatever
        // upstream connection serves it.
        client.send(get("/ok").as_bytes()).await;
        let second = client
            .reply(false)
            .await
            .unwrap_or_else(|| panic!("{case}: the connection was closed"));
        assert_eq!((second.status, second.body()), (200, "ok".into()), "{case}");
    }
    // Each bad response's leftover bytes were dropped with its upstream connection, never
    // read as the answer to another request.
    let seen = upstream.seen();
    for (i, request) in seen.iter().enumerate() {
        if let Some(next) = seen.get(i + 1)
            && [
                "/two-lengths",
                "/no-content-with-body",
                "/not-modified-with-body",
                "/head-with-body",
                "/more-than-declared",
            ]
            .contains(&request.path())
        {
            assert_ne!(
                next.connection, request.connection,
                "an upstream connection with unread bytes was reused: {seen:?}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upgrade_requests_never_become_a_blind_tunnel() {
    let upstream = ScriptedUpstream::start().await;
    let up = gateway_in_front_of(&upstream).await;
    let secret_follow_up = get("/secret");

    // A WebSocket handshake without a (valid) key that the upstream declines with 200: the
    // connection stays HTTP, so the next request is the gateway's to judge (401, no token).
    for key in ["", "Sec-WebSocket-Key: not-base64-of-16-bytes\r\n"] {
        let before = upstream.count();
        let mut client = Client::connect(up.gw_port).await;
        client
            .send(
                format!(
                    "GET /edge/1.0.0/ws-refused HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\n\
                     Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n{key}\r\n"
                )
                .as_bytes(),
            )
            .await;
        let first = client.reply(false).await.expect("a response");
        assert_eq!(
            (first.status, first.body()),
            (200, "no upgrade".into()),
            "{key:?}"
        );
        client.send(secret_follow_up.as_bytes()).await;
        let second = client.reply(false).await;
        assert_eq!(
            second.as_ref().map(|r| r.status),
            Some(401),
            "{key:?}: the follow-up was not judged by the gateway: {second:?}"
        );
        let seen = since(&upstream, before);
        assert!(
            seen.iter().all(|s| s.path() != "/secret"),
            "{key:?}: the follow-up went through a tunnel: {seen:?}"
        );
    }

    // h2c upgrade (RFC 7540 §3.2): Upgrade and HTTP2-Settings never reach the upstream,
    // whether or not Connection names them, and an upstream that switches anyway gets no
    // tunnel: the client is not told 101, and its next request is still HTTP to the gateway.
    for connection in ["Upgrade, HTTP2-Settings", "Upgrade"] {
        let before = upstream.count();
        let mut client = Client::connect(up.gw_port).await;
        client
            .send(
                format!(
                    "GET /edge/1.0.0/switches HTTP/1.1\r\nHost: localhost\r\nConnection: {connection}\r\n\
                     Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n"
                )
                .as_bytes(),
            )
            .await;
        let first = client.reply(false).await.map(|r| r.status);
        assert_eq!(first, Some(502), "{connection}");
        let seen = since(&upstream, before);
        assert_eq!(seen.len(), 1, "{seen:?}");
        assert_eq!(seen[0].header("upgrade"), None, "{seen:?}");
        assert_eq!(seen[0].header("http2-settings"), None, "{seen:?}");
        client.send(secret_follow_up.as_bytes()).await;
        let second = client.reply(false).await.map(|r| r.status);
        assert_eq!(second, Some(401), "{connection}");
        assert!(
            since(&upstream, before)
                .iter()
                .all(|s| s.path() != "/secret"),
            "{connection}: tunnelled"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_failures_are_502_or_504_in_time_and_posts_are_not_retried() {
    let upstream = ScriptedUpstream::start().await;
    let up = gateway_in_front_of(&upstream).await;
    let post = |path: &str| {
        format!(
            "POST /edge/1.0.0{path} HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\n\r\nhello"
        )
    };

    // Closed before any header, and headers over any sane size: 502 quickly, once.
    for path in ["/close-before-headers", "/huge-headers"] {
        let before = upstream.count();
        let mut client = Client::connect(up.gw_port).await;
        let started = Instant::now();
        client.send(post(path).as_bytes()).await;
        let reply = client.reply(false).await.expect("a response");
        assert_eq!(reply.status, 502, "{path}: {reply:?}");
        assert!(started.elapsed() < UPSTREAM_TIMEOUT, "{path}");
        assert_eq!(
            since(&upstream, before).len(),
            1,
            "{path}: a POST is sent once"
        );
        // The client's connection is still good.
        client.send(get("/ok").as_bytes()).await;
        assert_eq!(client.reply(false).await.map(|r| r.status), Some(200));
    }

    // Headers at one byte a second: 504 at the upstream timeout, sent once.
    let before = upstream.count();
    let mut client = Client::connect(up.gw_port).await;
    let started = Instant::now();
    client.send(post("/trickle").as_bytes()).await;
    let reply = client.reply(false).await.expect("a response");
    let elapsed = started.elapsed();
    assert_eq!(reply.status, 504, "{reply:?}");
    assert!(
        elapsed >= UPSTREAM_TIMEOUT && elapsed < UPSTREAM_TIMEOUT * 3,
        "{elapsed:?}"
    );
    assert_eq!(since(&upstream, before).len(), 1, "a POST is sent once");

    // Reset after part of the body: the status line has gone, so the client sees a short
    // body and the connection closed, never the next response glued on.
    let before = upstream.count();
    let mut client = Client::connect(up.gw_port).await;
    client.send(get("/reset-mid-body").as_bytes()).await;
    let cut = tokio::time::timeout(Duration::from_secs(5), async {
        let head = read_head(&mut client.reader).await.expect("a head");
        let mut rest = Vec::new();
        let _ = client.reader.read_to_end(&mut rest).await;
        (head, String::from_utf8_lossy(&rest).into_owned())
    })
    .await
    .expect("closed within 5 s");
    assert!(cut.0.starts_with("HTTP/1.1 200"), "{cut:?}");
    assert!(cut.1.len() < 100 && !cut.1.contains("HTTP/1.1"), "{cut:?}");
    assert_eq!(since(&upstream, before).len(), 1, "not retried: {cut:?}");

    // None of those upstream connections is used again: the next requests open new ones.
    for _ in 0..3 {
        let mut client = Client::connect(up.gw_port).await;
        client.send(get("/ok").as_bytes()).await;
        assert_eq!(client.reply(false).await.map(|r| r.status), Some(200));
    }
    let seen = upstream.seen();
    let broken = [
        "/close-before-headers",
        "/huge-headers",
        "/trickle",
        "/reset-mid-body",
    ];
    for (i, request) in seen.iter().enumerate() {
        if broken.contains(&request.path()) {
            assert!(
                seen[i + 1..]
                    .iter()
                    .all(|later| later.connection != request.connection),
                "a broken upstream connection was reused: {seen:?}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_header_bytes_never_split_the_client_response() {
    let upstream = ScriptedUpstream::start().await;
    let up = gateway_in_front_of(&upstream).await;
    // (path, status): a bare CR, a NUL and obs-fold make the upstream's head unparsable.
    for (path, expected) in [
        ("/bare-cr", 502),
        ("/bare-lf", 200),
        ("/nul", 502),
        ("/obs-fold", 502),
        ("/big-cookie", 200),
    ] {
        let mut client = Client::connect(up.gw_port).await;
        client.send(get(path).as_bytes()).await;
        let reply = client
            .reply(false)
            .await
            .unwrap_or_else(|| panic!("{path}: no response"));
        assert_eq!(reply.status, expected, "{path}: {reply:?}");
        // Every header line of the reply is one well-formed field.
        for line in reply.head.split("\r\n").skip(1).filter(|l| !l.is_empty()) {
            assert!(
                !line.contains('\r') && !line.contains('\n'),
                "{path}: {line:?}"
            );
            assert!(!line.contains('\0'), "{path}: {line:?}");
            assert!(!line.starts_with([' ', '\t']), "{path}: folded {line:?}");
        }
        if path == "/bare-lf" {
            // RFC 9112 §2.2 lets a recipient take a lone LF as a line end, and hyper does:
            // the upstream sent two fields, and the client gets those two, each on its own
            // CRLF line — never a value with a line break inside.
            assert_eq!(reply.header("x-a"), Some("a"), "{reply:?}");
        } else {
            assert!(
                !reply
                    .head
                    .to_ascii_lowercase()
                    .contains("set-cookie: injected"),
                "{path}: an injected header reached the client: {reply:?}"
            );
        }
        if path == "/big-cookie" {
            assert!(
                reply.status == 502
                    || reply
                        .header("set-cookie")
                        .is_some_and(|c| c.len() > 70 * 1024),
                "{path}: forwarded whole or refused"
            );
        }
        client.send(get("/ok").as_bytes()).await;
        let next = client
            .reply(false)
            .await
            .expect("the connection stays usable");
        assert_eq!((next.status, next.body()), (200, "ok".into()), "{path}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_request_body_is_cut_at_the_body_timeout_and_the_upstream_released() {
    let upstream = ScriptedUpstream::start().await;
    let up = gateway_in_front_of(&upstream).await;
    let before = upstream.count();
    let mut client = Client::connect(up.gw_port).await;
    let started = Instant::now();
    client
        .send(b"POST /edge/1.0.0/ok HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100\r\n\r\n")
        .await;
    // One byte a second, on its own task, until the gateway stops listening.
    let (read_half, mut write_half) = client.reader.into_inner().into_split();
    let trickle = tokio::spawn(async move {
        for _ in 0..100 {
            if write_half.write_all(b"x").await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    });
    let mut reader = BufReader::new(read_half);
    let reply = tokio::time::timeout(Duration::from_secs(5), read_head(&mut reader))
        .await
        .expect("the gateway answers or closes within 5 s");
    let elapsed = started.elapsed();
    trickle.abort();
    let head = reply.expect("a response before the close");
    assert!(head.starts_with("HTTP/1.1 408"), "{head}");
    assert!(
        head.to_ascii_lowercase().contains("connection: close"),
        "{head}"
    );
    assert!(
        elapsed >= BODY_TIMEOUT - Duration::from_millis(100) && elapsed < UPSTREAM_TIMEOUT,
        "cut after {elapsed:?}, before the upstream timeout"
    );
    // The upstream saw the head (the body streams), never a whole request, and the
    // connection it came on is released, not left waiting for the rest.
    let seen = since(&upstream, before);
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert!(seen[0].framed_body.is_empty(), "{seen:?}");
    let connection = seen[0].connection;
    let released = eventually(Duration::from_secs(3), || async {
        upstream.closed.lock().unwrap().contains(&connection)
    })
    .await;
    assert!(released, "the upstream connection was closed");
}

/// H15, slow read: a client that asks for a large response and stops reading is cut at the
/// send timeout, and the upstream connection streaming into it is closed, not held.
#[tokio::test]
async fn a_client_that_stops_reading_is_cut_at_the_send_timeout_and_the_upstream_released() {
    let upstream = ScriptedUpstream::start().await;
    let up = gateway_in_front_of(&upstream).await;
    let before = upstream.count();
    let mut client = Client::connect(up.gw_port).await;
    client.send(get("/big").as_bytes()).await;
    // The client reads nothing from here on.
    let asked = eventually(Duration::from_secs(3), || async {
        upstream.count() > before
    })
    .await;
    assert!(asked, "the request reached the upstream");
    let connection = since(&upstream, before)[0].connection;
    let started = Instant::now();
    let released = eventually(Duration::from_secs(15), || async {
        upstream.closed.lock().unwrap().contains(&connection)
    })
    .await;
    assert!(released, "the upstream connection was closed");
    assert!(
        started.elapsed() >= SEND_TIMEOUT - Duration::from_millis(100),
        "closed after {:?}: not before the send timeout",
        started.elapsed()
    );
    // What the client's socket had buffered, then the end: never the whole body.
    let mut received = Vec::new();
    let read = tokio::time::timeout(
        Duration::from_secs(10),
        client.reader.read_to_end(&mut received),
    )
    .await
    .expect("the gateway closed the client connection");
    assert!(
        received.len() < BIG,
        "{} bytes, {read:?}: the response was cut",
        received.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusal_before_the_body_is_read_closes_the_connection_and_says_so() {
    let upstream = ScriptedUpstream::start().await;
    let up = gateway_in_front_of(&upstream).await;
    // The head alone: the body is still on its way when the gateway refuses the request
    // (no token), so hyper will not read it and the connection cannot be reused. The
    // answer says so, and the connection ends after it, without another response.
    let mut client = Client::connect(up.gw_port).await;
    client
        .send(b"GET /edge/1.0.0/secret HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\n\r\n")
        .await;
    let refused = client.reply(false).await.expect("an answer");
    assert_eq!(refused.status, 401, "{refused:?}");
    assert_eq!(refused.header("connection"), Some("close"), "{refused:?}");
    assert!(client.closes_quietly().await, "the connection ends");

    // A refusal of a request without a body keeps the connection.
    let mut client = Client::connect(up.gw_port).await;
    client.send(get("/secret").as_bytes()).await;
    let refused = client.reply(false).await.expect("an answer");
    assert_eq!(refused.status, 401, "{refused:?}");
    assert_eq!(refused.header("connection"), None, "{refused:?}");
    client.send(get("/ok").as_bytes()).await;
    assert_eq!(client.reply(false).await.map(|r| r.status), Some(200));
}
