//! An upstream that answers every request with a JSON description of it (method, path,
//! query, HTTP version, headers, body length, and the body as text when it is under 64 KiB); it speaks HTTP/1.1 and h2c, so tests can check exactly what the gateway forwarded.
//! `/slow/...` waits 3 s before answering, `/delay/{ms}/...` that many milliseconds;
//! `/status/{code}/...` answers with that status; `/flaky/{percent}/...` answers 500 to that
//! share of its calls, spread evenly (of every 100 calls, exactly `percent`).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;

/// A running echo upstream; stops when dropped.
pub struct EchoUpstream {
    addr: SocketAddr,
    hits: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl EchoUpstream {
    /// Starts on a free loopback port.
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind echo upstream");
        let addr = listener.local_addr().expect("local addr");
        let hits = Arc::new(AtomicUsize::new(0));
        let counter = hits.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let counter = counter.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |r| {
                        counter.fetch_add(1, Ordering::SeqCst);
                        async move { Ok::<_, Infallible>(echo(r).await) }
                    });
                    let _ = auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Self { addr, hits, task }
    }

    /// `http://127.0.0.1:port`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// How many requests it has received.
    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

impl Drop for EchoUpstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Calls to `/flaky/…` so far, for choosing which fail.
static FLAKY_CALLS: AtomicUsize = AtomicUsize::new(0);

async fn echo(request: Request<Incoming>) -> Response<Full<Bytes>> {
    if request.uri().path().starts_with("/slow") {
        tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    }
    // `/delay/{ms}/…` answers after that many milliseconds (at most 10 s).
    if let Some(ms) = request
        .uri()
        .path()
        .strip_prefix("/delay/")
        .and_then(|r| r.split('/').next())
        .and_then(|m| m.parse::<u64>().ok())
    {
        tokio::time::sleep(std::time::Duration::from_millis(ms.min(10_000))).await;
    }
    let status = request
        .uri()
        .path()
        .strip_prefix("/status/")
        .and_then(|r| r.split('/').next())
        .and_then(|c| c.parse::<u16>().ok())
        .and_then(|c| http::StatusCode::from_u16(c).ok());
    // `/flaky/{percent}/…`: position n of a permutation of 0–99 (37 is prime to 100).
    let flaky = request
        .uri()
        .path()
        .strip_prefix("/flaky/")
        .and_then(|r| r.split('/').next())
        .and_then(|p| p.parse::<usize>().ok())
        .filter(|percent| (FLAKY_CALLS.fetch_add(1, Ordering::Relaxed) % 100) * 37 % 100 < *percent)
        .map(|_| http::StatusCode::INTERNAL_SERVER_ERROR);
    let status = status.or(flaky);
    let method = request.method().to_string();
    let version = format!("{:?}", request.version());
    let path = request.uri().path().to_owned();
    let query = request.uri().query().map(str::to_owned);
    let headers: serde_json::Map<String, serde_json::Value> = request
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.to_string(),
                serde_json::Value::from(v.to_str().unwrap_or("<binary>")),
            )
        })
        .collect();
    let body = request
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let description = serde_json::json!({
        "method": method,
        "version": version,
        "path": path,
        "query": query,
        "headers": headers,
        "bodyLength": body.len(),
        "body": (body.len() <= 64 * 1024).then(|| String::from_utf8_lossy(&body).into_owned()),
    });
    let mut response = Response::new(Full::new(Bytes::from(description.to_string())));
    if let Some(status) = status {
        *response.status_mut() = status;
    }
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    response
}
