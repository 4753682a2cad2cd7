//! JSON-RPC 2.0 as MCP's Streamable HTTP transport carries it: one message per POST (no
//! batches since 2025-06-18), answered as `application/json` or as one `text/event-stream`
//! event, whichever the client's `Accept` prefers.

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Response, StatusCode};
use serde_json::{Map, Value, json};

use crate::respond::{self, Body};

/// Invalid JSON.
pub const PARSE_ERROR: i64 = -32700;
/// Not a JSON-RPC request.
pub const INVALID_REQUEST: i64 = -32600;
/// No such method.
pub const METHOD_NOT_FOUND: i64 = -32601;
/// Bad parameters (an unknown tool, arguments the schema refuses).
pub const INVALID_PARAMS: i64 = -32602;

/// One message a client posted.
pub struct Message {
    /// The request id; `None` for a notification (or a response the client sends back).
    pub id: Option<Value>,
    /// The method; `None` for a response.
    pub method: Option<String>,
    /// The parameters (`{}` when absent).
    pub params: Map<String, Value>,
}

impl Message {
    /// Reads `body`; the error is the JSON-RPC error to answer (`id` null).
    pub fn parse(body: &[u8]) -> Result<Self, (i64, &'static str)> {
        let value: Value = serde_json::from_slice(body)
            .map_err(|_| (PARSE_ERROR, "Parse error: the body is not JSON"))?;
        let Value::Object(mut object) = value else {
            return Err(match value {
                Value::Array(_) => (
                    INVALID_REQUEST,
                    "Invalid Request: batches are not supported (MCP 2025-06-18 and later)",
                ),
                _ => (INVALID_REQUEST, "Invalid Request: not a JSON-RPC message"),
            });
        };
        if object.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
            return Err((INVALID_REQUEST, "Invalid Request: jsonrpc must be \"2.0\""));
        }
        let id = object.remove("id").filter(|id| !id.is_null());
        if id
            .as_ref()
            .is_some_and(|id| !(id.is_string() || id.is_number()))
        {
            return Err((
                INVALID_REQUEST,
                "Invalid Request: id must be a string or a number",
            ));
        }
        let method = match object.remove("method") {
            None => None,
            Some(Value::String(m)) => Some(m),
            Some(_) => return Err((INVALID_REQUEST, "Invalid Request: method must be a string")),
        };
        let params = match object.remove("params") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(p)) => p,
            Some(_) => return Err((INVALID_PARAMS, "Invalid params: params must be an object")),
        };
        Ok(Self { id, method, params })
    }
}

/// How the client takes answers to its requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// `application/json`.
    Json,
    /// One `message` event of a `text/event-stream`.
    EventStream,
}

impl Framing {
    /// From `Accept`: JSON when the client takes it (MCP clients send both), an event
    /// stream when that is all it takes; `None` when it takes neither.
    pub fn from_accept(accept: Option<&HeaderValue>) -> Option<Self> {
        let Some(accept) = accept.and_then(|v| v.to_str().ok()) else {
            return Some(Framing::Json);
        };
        let takes = |wanted: &str| {
            accept.split(',').any(|part| {
                let media = part.split(';').next().unwrap_or("").trim();
                media.eq_ignore_ascii_case(wanted) || media == "*/*"
            })
        };
        if takes("application/json") {
            Some(Framing::Json)
        } else if takes("text/event-stream") {
            Some(Framing::EventStream)
        } else {
            None
        }
    }
}

/// A result for request `id`.
pub fn result(id: &Value, result: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "result": result})
}

/// A result whose JSON is already serialised (`tools/list`, `serverInfo`): spliced in as
/// bytes, not parsed again.
pub fn result_raw(id: &Value, prefix: &str, raw: &[u8], suffix: &str) -> Bytes {
    let head = format!("{{\"jsonrpc\":\"2.0\",\"id\":{id},\"result\":{prefix}");
    let mut out = Vec::with_capacity(head.len() + raw.len() + suffix.len() + 1);
    out.extend_from_slice(head.as_bytes());
    out.extend_from_slice(raw);
    out.extend_from_slice(suffix.as_bytes());
    out.push(b'}');
    Bytes::from(out)
}

/// An error for request `id` (`null` when the request could not be read).
pub fn error(id: Option<&Value>, code: i64, message: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": id.cloned().unwrap_or(Value::Null), "error": {"code": code, "message": message}})
}

/// `message` as the HTTP response, framed as the client asked, with `status`.
pub fn respond(framing: Framing, status: StatusCode, message: Bytes) -> Response<Body> {
    let (content_type, body) = match framing {
        Framing::Json => ("application/json", message),
        Framing::EventStream => {
            let mut event = Vec::with_capacity(message.len() + 24);
            event.extend_from_slice(b"event: message\ndata: ");
            event.extend_from_slice(&message);
            event.extend_from_slice(b"\n\n");
            ("text/event-stream", Bytes::from(event))
        }
    };
    let mut response = Response::new(respond::full(body));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if framing == Framing::EventStream {
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    }
    response
}

/// A JSON-RPC error as the HTTP response (always JSON: the client may not be able to read
/// the request's framing when the request itself was not readable).
pub fn refuse(status: StatusCode, id: Option<&Value>, code: i64, message: &str) -> Response<Body> {
    respond(
        Framing::Json,
        status,
        Bytes::from(error(id, code, message).to_string()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_requests_notifications_and_refuses_batches() {
        let m = Message::parse(br#"{"jsonrpc":"2.0","id":7,"method":"tools/list"}"#).unwrap();
        assert_eq!(m.id, Some(json!(7)));
        assert_eq!(m.method.as_deref(), Some("tools/list"));
        let n =
            Message::parse(br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#).unwrap();
        assert!(n.id.is_none());
        assert_eq!(Message::parse(b"[]").err().unwrap().0, INVALID_REQUEST);
        assert_eq!(Message::parse(b"{").err().unwrap().0, PARSE_ERROR);
        assert_eq!(
            Message::parse(br#"{"jsonrpc":"1.0","id":1,"method":"x"}"#)
                .err()
                .unwrap()
                .0,
            INVALID_REQUEST
        );
    }

    #[test]
    fn framing_follows_accept() {
        let h = |v: &'static str| Some(HeaderValue::from_static(v));
        assert_eq!(
            Framing::from_accept(h("application/json, text/event-stream").as_ref()),
            Some(Framing::Json)
        );
        assert_eq!(
            Framing::from_accept(h("text/event-stream").as_ref()),
            Some(Framing::EventStream)
        );
        assert_eq!(Framing::from_accept(h("text/html").as_ref()), None);
        assert_eq!(Framing::from_accept(None), Some(Framing::Json));
    }

    #[test]
    fn raw_results_are_valid_json() {
        let bytes = result_raw(&json!("a"), "{\"tools\":", b"[{\"name\":\"x\"}]", "}");
        let v: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(v["result"]["tools"][0]["name"], "x");
        assert_eq!(v["id"], "a");
    }
}
