//! A REST-backed tool's call as the HTTP request it becomes (path parameters filled in the
//! template, query parameters, headers, `requestBody` as the JSON body), and the backend's
//! answer as MCP content (`isError` for 4xx/5xx, `structuredContent` for a JSON object).

use bytes::Bytes;
use gantry_model::mcp::{ParameterLocation, REQUEST_BODY_ARGUMENT};
use http::StatusCode;
use http::header::{HeaderName, HeaderValue};
use serde_json::{Map, Value, json};

use crate::compiled::mcp::Backend;

/// The HTTP request a call becomes.
pub struct Made {
    /// The target filled in, percent-encoded.
    pub path: String,
    /// Query parameters, encoded; `None` without any.
    pub query: Option<String>,
    /// Header parameters.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// The JSON body, when the tool sends one and the call gave it.
    pub body: Option<Bytes>,
}

/// Builds the request for `arguments` (already checked against the tool's schema); the
/// error says which argument cannot be sent.
pub fn build(backend: &Backend, arguments: &Map<String, Value>) -> Result<Made, String> {
    let mut path = String::with_capacity(backend.target.len() + 16);
    for segment in backend.target.split('/').skip(1) {
        path.push('/');
        match segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            Some(name) => {
                let value = arguments.get(name).and_then(scalar).ok_or_else(|| {
                    format!("arguments.{name}: a path parameter needs a string, number or boolean")
                })?;
                if value.is_empty() {
                    return Err(format!(
                        "arguments.{name}: a path parameter cannot be empty"
                    ));
                }
                encode_into(&mut path, &value);
            }
            None => path.push_str(segment),
        }
    }
    if path.is_empty() {
        path.push('/');
    }
    let mut query = String::new();
    let mut headers = Vec::new();
    for (name, location) in &backend.parameters {
        let Some(value) = arguments.get(&**name) else {
            continue;
        };
        match location {
            ParameterLocation::Query => {
                let values: Vec<String> = match value {
                    Value::Array(items) => items.iter().filter_map(scalar).collect(),
                    Value::Null => Vec::new(),
                    other => vec![scalar(other).unwrap_or_else(|| other.to_string())],
                };
                for v in values {
                    if !query.is_empty() {
                        query.push('&');
                    }
                    encode_into(&mut query, name);
                    query.push('=');
                    encode_into(&mut query, &v);
                }
            }
            ParameterLocation::Header => {
                let text = scalar(value).unwrap_or_else(|| value.to_string());
                let header_name = HeaderName::from_bytes(name.as_bytes())
                    .map_err(|_| format!("arguments.{name}: not a header name"))?;
                let header_value = HeaderValue::from_str(&text)
                    .map_err(|_| format!("arguments.{name}: cannot be sent in a header"))?;
                headers.push((header_name, header_value));
            }
            ParameterLocation::Path => {}
        }
    }
    let body = if backend.body {
        arguments
            .get(REQUEST_BODY_ARGUMENT)
            .map(|b| Bytes::from(b.to_string()))
    } else {
        None
    };
    Ok(Made {
        path,
        query: (!query.is_empty()).then_some(query),
        headers,
        body,
    })
}

/// A string, number or boolean as text.
fn scalar(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Appends `text` percent-encoded: everything but RFC 3986's unreserved characters.
fn encode_into(out: &mut String, text: &str) {
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(char::from(b"0123456789ABCDEF"[usize::from(b >> 4)]));
            out.push(char::from(b"0123456789ABCDEF"[usize::from(b & 15)]));
        }
    }
}

/// The `CallToolResult` for the backend's answer: its body as text (prefixed with the
/// status when it failed), `structuredContent` when it is a JSON object, `isError` for
/// 4xx/5xx.
pub fn result(status: StatusCode, body: &[u8]) -> Value {
    let text = String::from_utf8_lossy(body);
    let failed = status.is_client_error() || status.is_server_error();
    let shown = if failed {
        format!("HTTP {}: {text}", status.as_u16())
    } else {
        text.into_owned()
    };
    let mut result = json!({"content": [{"type": "text", "text": shown}], "isError": failed});
    if !failed && let Ok(object @ Value::Object(_)) = serde_json::from_slice::<Value>(body) {
        result["structuredContent"] = object;
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn backend(target: &str, parameters: &[(&str, ParameterLocation)], body: bool) -> Backend {
        Backend {
            method: http::Method::GET,
            target: target.into(),
            parameters: parameters.iter().map(|(n, l)| ((*n).into(), *l)).collect(),
            body,
        }
    }

    #[test]
    fn fills_path_query_headers_and_body() {
        let b = backend(
            "/orders/{id}/items",
            &[
                ("status", ParameterLocation::Query),
                ("tag", ParameterLocation::Query),
                ("X-Trace", ParameterLocation::Header),
            ],
            true,
        );
        let args = json!({"id": "a b/c", "status": "open&x", "tag": ["x", 2], "X-Trace": "t1",
            "requestBody": {"qty": 2}});
        let made = build(&b, args.as_object().unwrap()).unwrap();
        assert_eq!(made.path, "/orders/a%20b%2Fc/items");
        assert_eq!(made.query.as_deref(), Some("status=open%26x&tag=x&tag=2"));
        assert_eq!(made.headers[0].0.as_str(), "x-trace");
        assert_eq!(made.body.unwrap(), Bytes::from(r#"{"qty":2}"#));
    }

    #[test]
    fn path_parameters_must_be_given_as_text() {
        let b = backend("/orders/{id}", &[], false);
        assert!(build(&b, json!({}).as_object().unwrap()).is_err());
        assert!(build(&b, json!({"id": {"x": 1}}).as_object().unwrap()).is_err());
        assert_eq!(
            build(&b, json!({"id": 7}).as_object().unwrap())
                .unwrap()
                .path,
            "/orders/7"
        );
    }

    #[test]
    fn failures_are_errors_and_objects_are_structured() {
        let ok = result(StatusCode::OK, br#"{"a":1}"#);
        assert_eq!(ok["isError"], false);
        assert_eq!(ok["structuredContent"]["a"], 1);
        let bad = result(StatusCode::NOT_FOUND, b"nope");
        assert_eq!(bad["isError"], true);
        assert_eq!(bad["content"][0]["text"], "HTTP 404: nope");
        assert!(bad.get("structuredContent").is_none());
    }
}
