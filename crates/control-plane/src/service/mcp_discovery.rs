//! Asks a third-party MCP server for its tools when a publisher proxies it: `initialize`,
//! `notifications/initialized`, `tools/list` (following `nextCursor`), then `DELETE` of the
//! session, over Streamable HTTP. Only the URL the publisher gave is called (no redirects
//! followed), each call within 5 s, each answer at most 1 MiB; nothing else is fetched.

use std::time::Duration;

use serde_json::{Value, json};

/// Each call's deadline.
const TIMEOUT: Duration = Duration::from_secs(5);

/// The largest answer read.
const MAX_ANSWER: usize = 1024 * 1024;

/// At most this many `tools/list` pages.
const MAX_PAGES: usize = 10;

/// The protocol revision asked for.
const PROTOCOL_VERSION: &str = "2025-06-18";

/// A tool the server listed.
#[derive(Debug, Clone)]
pub struct DiscoveredTool {
    /// Its name.
    pub name: String,
    /// Its description.
    pub description: Option<String>,
    /// Its input schema (an object schema).
    pub input_schema: Value,
}

/// A header to send with every call (the server's own credentials).
pub type Credential = Option<(String, String)>;

/// The tools of the MCP server at `url`; the error says what went wrong, for the publisher.
pub async fn discover(url: &str, credential: &Credential) -> Result<Vec<DiscoveredTool>, String> {
    let parsed = url::Url::parse(url).map_err(|e| format!("url: {e}"))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err("url: must be an http:// or https:// URL with a host".into());
    }
    let client = reqwest::Client::builder()
        .timeout(TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| e.to_string())?;
    let session = Session {
        client,
        url: url.to_owned(),
        credential: credential.clone(),
    };
    let (init, session_id) = session
        .request(
            None,
            None,
            json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
                "protocolVersion": PROTOCOL_VERSION,
                "capabilities": {},
                "clientInfo": {"name": "gantry-control-plane", "version": env!("CARGO_PKG_VERSION")}
            }}),
        )
        .await?;
    let version = init
        .pointer("/result/protocolVersion")
        .and_then(Value::as_str)
        .unwrap_or(PROTOCOL_VERSION)
        .to_owned();
    let ids = (session_id.as_deref(), Some(version.as_str()));
    session
        .notify(
            ids,
            json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
        )
        .await?;
    let mut tools = Vec::new();
    let mut cursor: Option<String> = None;
    for page in 0..MAX_PAGES {
        let params = cursor
            .as_ref()
            .map_or_else(|| json!({}), |c| json!({"cursor": c}));
        let (listed, _) = session
            .request(
                ids.0,
                ids.1,
                json!({"jsonrpc": "2.0", "id": 2 + page, "method": "tools/list", "params": params}),
            )
            .await?;
        if let Some(error) = listed.get("error") {
            return Err(format!("tools/list failed: {error}"));
        }
        for tool in listed
            .pointer("/result/tools")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let Some(name) = tool.get("name").and_then(Value::as_str) else {
                continue;
            };
            let schema = tool
                .get("inputSchema")
                .filter(|s| s.get("type").and_then(Value::as_str) == Some("object"))
                .cloned()
                .unwrap_or_else(|| json!({"type": "object"}));
            tools.push(DiscoveredTool {
                name: name.to_owned(),
                description: tool
                    .get("description")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
                input_schema: schema,
            });
        }
        cursor = listed
            .pointer("/result/nextCursor")
            .and_then(Value::as_str)
            .map(str::to_owned);
        if cursor.is_none() {
            break;
        }
    }
    if let Some(id) = ids.0 {
        // Best effort: the server may not support ending sessions.
        let mut end = session
            .client
            .delete(&session.url)
            .header("mcp-session-id", id);
        if let Some((name, value)) = &session.credential {
            end = end.header(name.as_str(), value.as_str());
        }
        let _ = end.send().await;
    }
    Ok(tools)
}

struct Session {
    client: reqwest::Client,
    url: String,
    credential: Credential,
}

impl Session {
    fn post(
        &self,
        session: Option<&str>,
        version: Option<&str>,
        body: &Value,
    ) -> reqwest::RequestBuilder {
        let mut request = self
            .client
            .post(&self.url)
            .header("accept", "application/json, text/event-stream")
            .header("content-type", "application/json")
            .body(body.to_string());
        if let Some(id) = session {
            request = request.header("mcp-session-id", id);
        }
        if let Some(version) = version {
            request = request.header("mcp-protocol-version", version);
        }
        if let Some((name, value)) = &self.credential {
            request = request.header(name.as_str(), value.as_str());
        }
        request
    }

    /// Sends a request; its answer (from JSON or the event stream) and the session id.
    async fn request(
        &self,
        session: Option<&str>,
        version: Option<&str>,
        body: Value,
    ) -> Result<(Value, Option<String>), String> {
        let id = body.get("id").cloned();
        let mut response = self
            .post(session, version, &body)
            .send()
            .await
            .map_err(|e| format!("the MCP server did not answer: {e}"))?;
        let status = response.status();
        if !status.is_success() {
            return Err(format!("the MCP server answered HTTP {}", status.as_u16()));
        }
        let session_id = response
            .headers()
            .get("mcp-session-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let event_stream = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/event-stream"));
        let mut bytes = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| format!("the MCP server's answer broke off: {e}"))?
        {
            bytes.extend_from_slice(&chunk);
            if bytes.len() > MAX_ANSWER {
                return Err("the MCP server's answer is over 1 MiB".into());
            }
            if event_stream && answer_in_stream(&bytes, id.as_ref()).is_some() {
                break;
            }
        }
        let answer = if event_stream {
            answer_in_stream(&bytes, id.as_ref())
        } else {
            serde_json::from_slice(&bytes).ok()
        };
        let answer = answer.ok_or("the MCP server's answer is not a JSON-RPC response")?;
        Ok((answer, session_id))
    }

    async fn notify(&self, ids: (Option<&str>, Option<&str>), body: Value) -> Result<(), String> {
        let response = self
            .post(ids.0, ids.1, &body)
            .send()
            .await
            .map_err(|e| format!("the MCP server did not answer: {e}"))?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(format!(
                "the MCP server answered HTTP {} to notifications/initialized",
                response.status().as_u16()
            ))
        }
    }
}

/// The response to `id` among the events of `stream` (complete events only).
fn answer_in_stream(stream: &[u8], id: Option<&Value>) -> Option<Value> {
    let text = String::from_utf8_lossy(stream).replace("\r\n", "\n");
    let complete = &text[..text.rfind("\n\n")?];
    complete.split("\n\n").find_map(|event| {
        let data: Vec<&str> = event
            .lines()
            .filter_map(|l| {
                l.strip_prefix("data:")
                    .map(|d| d.strip_prefix(' ').unwrap_or(d))
            })
            .collect();
        let message: Value = serde_json::from_str(&data.join("\n")).ok()?;
        (message.get("id") == id
            && (message.get("result").is_some() || message.get("error").is_some()))
        .then_some(message)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_answer_among_events() {
        let stream = b"event: message\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\"}\n\n\
event: message\r\ndata: {\"jsonrpc\":\"2.0\",\"id\":2,\"result\":{\"tools\":[]}}\r\n\r\n";
        let answer = answer_in_stream(stream, Some(&json!(2))).unwrap();
        assert_eq!(answer["result"]["tools"], json!([]));
        assert!(answer_in_stream(b"data: {\"id\":2,\"result\":{}}", Some(&json!(2))).is_none());
    }
}
