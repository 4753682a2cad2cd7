//! A stand-in LLM provider speaking OpenAI's chat completions API (`…/chat/completions`),
//! JSON or streamed (SSE, with a last usage chunk when `stream_options.include_usage`), so
//! tests can put AI APIs in front of something real without a network. It answers with as
//! many completion tokens as the request's `max_tokens` (default 5), one word each, and
//! counts the prompt's words as its prompt tokens; it echoes the last user message in its
//! reply. It records the provider key and body of every call. [`Behaviour::TooMany`] makes
//! it answer 429 to everything (a provider out of quota).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, combinators::BoxBody};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use serde_json::{Value, json};
use tokio::net::TcpListener;

/// How the stand-in answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    /// Completions, as asked.
    Answer,
    /// 429 to every call.
    TooMany,
}

/// One call the provider received.
#[derive(Debug, Clone)]
pub struct Call {
    /// The `Authorization` header, if any.
    pub authorization: Option<String>,
    /// The `api-key` header (Azure style), if any.
    pub api_key: Option<String>,
    /// The request path and query.
    pub target: String,
    /// The request body.
    pub body: Value,
    /// Every request header.
    pub headers: http::HeaderMap,
}

/// A running stand-in provider; stops when dropped.
pub struct StandInProvider {
    addr: SocketAddr,
    calls: Arc<Mutex<Vec<Call>>>,
    task: tokio::task::JoinHandle<()>,
}

type Body = BoxBody<Bytes, Infallible>;

impl StandInProvider {
    /// Starts on a free loopback port.
    pub async fn start(behaviour: Behaviour) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind stand-in provider");
        let addr = listener.local_addr().expect("local addr");
        let calls = Arc::new(Mutex::new(Vec::new()));
        let recorded = calls.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let recorded = recorded.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |r| {
                        let recorded = recorded.clone();
                        async move { Ok::<_, Infallible>(answer(r, behaviour, &recorded).await) }
                    });
                    let _ = auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Self { addr, calls, task }
    }

    /// `http://127.0.0.1:port/v1`, the base URL an AI API's target names.
    pub fn url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// Every call so far.
    pub fn calls(&self) -> Vec<Call> {
        self.calls.lock().expect("calls").clone()
    }
}

impl Drop for StandInProvider {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn json_response(status: StatusCode, body: &Value) -> Response<Body> {
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())).boxed());
    *response.status_mut() = status;
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    response
}

async fn answer(
    request: Request<Incoming>,
    behaviour: Behaviour,
    calls: &Mutex<Vec<Call>>,
) -> Response<Body> {
    let header = |name: &str| {
        request
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let (authorization, api_key) = (header("authorization"), header("api-key"));
    let headers = request.headers().clone();
    let target = request
        .uri()
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_owned();
    let bytes = request
        .into_body()
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    calls.lock().expect("calls").push(Call {
        authorization,
        api_key,
        target: target.clone(),
        body: body.clone(),
        headers,
    });
    if behaviour == Behaviour::TooMany {
        return json_response(
            StatusCode::TOO_MANY_REQUESTS,
            &json!({"error": {"message": "Rate limit reached", "type": "requests", "code": "rate_limit_exceeded"}}),
        );
    }
    if !target.contains("chat/completions") {
        return json_response(
            StatusCode::NOT_FOUND,
            &json!({"error": {"message": "unknown path"}}),
        );
    }
    let model = body["model"].as_str().unwrap_or("stand-in").to_owned();
    let completion = body["max_tokens"].as_u64().unwrap_or(5);
    let last = body["messages"]
        .as_array()
        .and_then(|m| m.last())
        .and_then(|m| m["content"].as_str())
        .unwrap_or("")
        .to_owned();
    let prompt: u64 = body["messages"]
        .as_array()
        .map(|m| {
            m.iter()
                .filter_map(|m| m["content"].as_str())
                .map(|t| t.split_whitespace().count() as u64)
                .sum()
        })
        .unwrap_or(0);
    let usage = json!({"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion});
    if body["stream"] == json!(true) {
        return stream(
            model,
            completion,
            last,
            usage,
            body["stream_options"]["include_usage"] == json!(true),
        );
    }
    let mut words: Vec<String> = vec![format!("echo: {last}")];
    words.extend((1..completion).map(|i| format!("w{i}")));
    json_response(
        StatusCode::OK,
        &json!({
            "id": "chatcmpl-standin", "object": "chat.completion", "created": 1_700_000_000u64,
            "model": model,
            "choices": [{"index": 0, "finish_reason": "stop",
                "message": {"role": "assistant", "content": words.join(" ")}}],
            "usage": usage,
        }),
    )
}

/// Streams `completion` chunks (the echo, then `tok `: four characters, one token by the
/// gateway's estimate), then the usage chunk when asked, then `[DONE]`.
fn stream(
    model: String,
    completion: u64,
    last: String,
    usage: Value,
    include_usage: bool,
) -> Response<Body> {
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(16);
    tokio::spawn(async move {
        let chunk = |delta: Value, finish: Value, usage: Option<&Value>| {
            let mut c = json!({"id": "chatcmpl-standin", "object": "chat.completion.chunk",
                "created": 1_700_000_000u64, "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]});
            if let Some(u) = usage {
                c["choices"] = json!([]);
                c["usage"] = u.clone();
            }
            Bytes::from(format!("data: {c}\n\n"))
        };
        let _ = tx
            .send(chunk(
                json!({"role": "assistant", "content": ""}),
                Value::Null,
                None,
            ))
            .await;
        for i in 0..completion {
            let word = if i == 0 {
                format!("echo:{last} ")
            } else {
                "tok ".to_owned()
            };
            if tx
                .send(chunk(json!({"content": word}), Value::Null, None))
                .await
                .is_err()
            {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        }
        let _ = tx.send(chunk(json!({}), json!("stop"), None)).await;
        if include_usage {
            let _ = tx.send(chunk(json!({}), Value::Null, Some(&usage))).await;
        }
        let _ = tx.send(Bytes::from_static(b"data: [DONE]\n\n")).await;
    });
    let mut response = Response::new(Channel(rx).boxed());
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/event-stream"),
    );
    response
}

struct Channel(tokio::sync::mpsc::Receiver<Bytes>);

impl hyper::body::Body for Channel {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.0.poll_recv(cx).map(|b| b.map(|b| Ok(Frame::data(b))))
    }
}
