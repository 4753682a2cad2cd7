//! The external call-out (`callInterceptorService`, Choreo Connect's interceptor model): the
//! gateway POSTs what the policy asks for — headers, the body in base64, the invocation
//! context — to `<service>/api/v1/handle-request` (or `handle-response`) within the policy's
//! timeout, and applies what the service answers: headers to add, replace or remove, a new
//! body, a new status, or (request flow) a response given at once. A service that fails
//! means 503 (504 when it timed out), or, with `failOpen`, the message goes on unchanged.

use std::net::IpAddr;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Request, Response, StatusCode, Uri};
use http_body_util::BodyExt as _;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::respond::{self, Body};
use crate::upstream_client::{UpstreamBody, UpstreamClients};

/// Largest answer read from an interceptor service.
const MAX_ANSWER_BYTES: usize = 16 * 1024 * 1024;

/// A compiled `callInterceptorService`.
#[derive(Debug)]
pub struct CallOut {
    request_uri: Uri,
    response_uri: Uri,
    host: HeaderValue,
    /// Send the message's headers.
    headers: bool,
    /// Send the message's body (buffered for it).
    pub body: bool,
    context: bool,
    timeout: Duration,
    fail_open: bool,
}

/// What the service is told about the call (Choreo Connect's `invocationContext`).
pub struct Invocation<'a> {
    /// The client's method.
    pub method: &'a str,
    /// The client's path (with query).
    pub path: &'a str,
    /// The API's name.
    pub api_name: &'a str,
    /// The API's version.
    pub api_version: &'a str,
    /// `context/version`.
    pub base_path: &'a str,
    /// The request's correlation id.
    pub request_id: &'a str,
    /// The client's address.
    pub source: IpAddr,
}

/// What the service asked for (Choreo Connect's handle-request/handle-response answer).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct Answer {
    direct_respond: bool,
    response_code: Option<u16>,
    headers_to_add: Map<String, Value>,
    headers_to_replace: Map<String, Value>,
    headers_to_remove: Vec<String>,
    body: Option<String>,
}

/// The changes to apply to the message.
#[derive(Debug, Default)]
pub struct Changes {
    /// Respond now with this (request flow, `directRespond`).
    pub respond: Option<Response<Body>>,
    /// A new status (response flow, or of the direct response).
    pub status: Option<StatusCode>,
    /// The new body.
    pub body: Option<Bytes>,
    remove: Vec<HeaderName>,
    replace: Vec<(HeaderName, HeaderValue)>,
    add: Vec<(HeaderName, HeaderValue)>,
}

impl Changes {
    /// Applies the header changes (removals, then replacements, then additions).
    pub fn apply_headers(&self, headers: &mut HeaderMap) {
        for name in &self.remove {
            headers.remove(name);
        }
        for (name, value) in &self.replace {
            headers.insert(name.clone(), value.clone());
        }
        for (name, value) in &self.add {
            headers.append(name.clone(), value.clone());
        }
    }
}

impl CallOut {
    /// Compiles the policy.
    pub fn compile(call: &gantry_model::policy_action::CallOut) -> Result<Self, String> {
        let uri = |suffix: &str| {
            format!("{}{suffix}", call.url)
                .parse::<Uri>()
                .map_err(|e| format!("interceptor URL '{}': {e}", call.url))
        };
        let request_uri = uri("/api/v1/handle-request")?;
        let host = request_uri
            .authority()
            .and_then(|a| HeaderValue::from_str(a.as_str()).ok())
            .ok_or_else(|| format!("interceptor URL '{}' has no host", call.url))?;
        Ok(Self {
            response_uri: uri("/api/v1/handle-response")?,
            request_uri,
            host,
            headers: call.headers,
            body: call.body,
            context: call.context,
            timeout: Duration::from_millis(call.timeout_ms),
            fail_open: call.fail_open,
        })
    }

    /// Asks the service about a request (`status` is `None`) or a response; `Ok(None)` when
    /// it failed and the policy fails open; `Err` is the gateway's answer when it fails closed.
    pub async fn ask(
        &self,
        clients: &UpstreamClients,
        headers: &HeaderMap,
        body: Option<&Bytes>,
        status: Option<StatusCode>,
        invocation: &Invocation<'_>,
    ) -> Result<Option<Changes>, Response<Body>> {
        let request_flow = status.is_none();
        let mut message = Map::new();
        let prefix = if request_flow { "request" } else { "response" };
        if self.headers {
            message.insert(format!("{prefix}Headers"), headers_json(headers));
        }
        if let (true, Some(body)) = (self.body, body) {
            message.insert(format!("{prefix}Body"), Value::String(BASE64.encode(body)));
        }
        if let Some(status) = status {
            message.insert("responseCode".to_owned(), json!(status.as_u16()));
        }
        message.insert("method".to_owned(), json!(invocation.method));
        message.insert("path".to_owned(), json!(invocation.path));
        if self.context {
            message.insert(
                "invocationContext".to_owned(),
                json!({
                    "requestId": invocation.request_id,
                    "method": invocation.method,
                    "path": invocation.path,
                    "apiName": invocation.api_name,
                    "apiVersion": invocation.api_version,
                    "basePath": invocation.base_path,
                    "source": invocation.source.to_string(),
                }),
            );
        }
        let uri = if request_flow {
            &self.request_uri
        } else {
            &self.response_uri
        };
        let outcome = tokio::time::timeout(self.timeout, async {
            let body = serde_json::to_vec(&Value::Object(message)).map_err(|e| e.to_string())?;
            let mut request = Request::new(UpstreamBody::Right(http_body_util::Full::new(
                Bytes::from(body),
            )));
            *request.method_mut() = http::Method::POST;
            *request.uri_mut() = uri.clone();
            let h = request.headers_mut();
            h.insert(header::HOST, self.host.clone());
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            let response = clients
                .send(false, request)
                .await
                .map_err(|e| e.to_string())?;
            if response.status() != StatusCode::OK {
                return Err(format!("it answered {}", response.status()));
            }
            let bytes = http_body_util::Limited::new(response.into_body(), MAX_ANSWER_BYTES)
                .collect()
                .await
                .map_err(|e| format!("its answer could not be read: {e}"))?
                .to_bytes();
            let answer: Answer = if bytes.iter().all(u8::is_ascii_whitespace) {
                Answer::default()
            } else {
                serde_json::from_slice(&bytes)
                    .map_err(|e| format!("its answer is not valid: {e}"))?
            };
            changes(answer, request_flow)
        })
        .await;
        match outcome {
            Ok(Ok(changes)) => Ok(Some(changes)),
            failed if self.fail_open => {
                tracing::warn!(uri = %uri, reason = %reason(&failed), "interceptor service failed; going on (failOpen)");
                Ok(None)
            }
            Err(_) => {
                tracing::warn!(uri = %uri, timeout_ms = self.timeout.as_millis() as u64, "interceptor service timed out");
                Err(respond::error(
                    StatusCode::GATEWAY_TIMEOUT,
                    "101504",
                    "Runtime Error",
                    "Gateway timeout while waiting for the interceptor service",
                ))
            }
            Ok(Err(why)) => {
                tracing::warn!(uri = %uri, reason = %why, "interceptor service failed");
                Err(respond::error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "101503",
                    "Runtime Error",
                    "Error connecting to the interceptor service",
                ))
            }
        }
    }
}

fn reason(outcome: &Result<Result<Changes, String>, tokio::time::error::Elapsed>) -> String {
    match outcome {
        Ok(Err(why)) => why.clone(),
        Err(_) => "timed out".to_owned(),
        Ok(Ok(_)) => String::new(),
    }
}

/// Headers as one JSON object, several values joined by `, `.
fn headers_json(headers: &HeaderMap) -> Value {
    let mut out = Map::new();
    for name in headers.keys() {
        let joined = headers
            .get_all(name)
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .collect::<Vec<_>>()
            .join(", ");
        out.insert(name.as_str().to_owned(), Value::String(joined));
    }
    Value::Object(out)
}

fn header_pairs(
    map: &Map<String, Value>,
    what: &str,
) -> Result<Vec<(HeaderName, HeaderValue)>, String> {
    map.iter()
        .map(|(name, value)| {
            let text = match value {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            Ok((
                HeaderName::from_bytes(name.as_bytes())
                    .map_err(|_| format!("{what}: '{name}' is not a header name"))?,
                HeaderValue::from_str(&text)
                    .map_err(|_| format!("{what}: the value of '{name}' is not a header value"))?,
            ))
        })
        .collect()
}

fn changes(answer: Answer, request_flow: bool) -> Result<Changes, String> {
    let status = answer
        .response_code
        .map(|code| {
            StatusCode::from_u16(code)
                .ok()
                .filter(|s| s.as_u16() >= 200)
                .ok_or_else(|| format!("responseCode {code} is not a status"))
        })
        .transpose()?;
    let body = answer
        .body
        .map(|b| BASE64.decode(b.as_bytes()).map(Bytes::from))
        .transpose()
        .map_err(|_| "body is not base64".to_owned())?;
    let mut changes = Changes {
        status,
        body,
        remove: answer
            .headers_to_remove
            .iter()
            .map(|n| {
                HeaderName::from_bytes(n.as_bytes())
                    .map_err(|_| format!("headersToRemove: '{n}' is not a header name"))
            })
            .collect::<Result<_, _>>()?,
        replace: header_pairs(&answer.headers_to_replace, "headersToReplace")?,
        add: header_pairs(&answer.headers_to_add, "headersToAdd")?,
        respond: None,
    };
    if request_flow && answer.direct_respond {
        let mut response = Response::new(respond::full(changes.body.take().unwrap_or_default()));
        *response.status_mut() = changes.status.take().unwrap_or(StatusCode::OK);
        changes.apply_headers(response.headers_mut());
        changes.respond = Some(response);
    }
    Ok(changes)
}
