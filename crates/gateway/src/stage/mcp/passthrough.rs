//! A proxied MCP server's answer to `tools/list`, cut down to the tools the MCP server
//! offers: the upstream's JSON body or event stream is read whole (it ends once the answer
//! is sent), every JSON-RPC result with a `tools` list filtered, and the same framing
//! written back. Other answers stream through untouched.

use bytes::Bytes;
use serde_json::Value;

/// `body` (an event stream when `event_stream`) with every `result.tools` list holding only
/// the tools `allowed` names.
pub fn filter_tools(body: &[u8], event_stream: bool, allowed: &dyn Fn(&str) -> bool) -> Bytes {
    if !event_stream {
        return match serde_json::from_slice::<Value>(body) {
            Ok(mut message) => {
                filter_message(&mut message, allowed);
                Bytes::from(message.to_string())
            }
            Err(_) => Bytes::copy_from_slice(body),
        };
    }
    let text = String::from_utf8_lossy(body).replace("\r\n", "\n");
    let mut out = String::with_capacity(text.len());
    for event in text.split("\n\n").filter(|e| !e.trim().is_empty()) {
        let data: Vec<&str> = event
            .lines()
            .filter_map(|l| {
                l.strip_prefix("data:")
                    .map(|d| d.strip_prefix(' ').unwrap_or(d))
            })
            .collect();
        let message = (!data.is_empty())
            .then(|| serde_json::from_str::<Value>(&data.join("\n")).ok())
            .flatten();
        match message {
            Some(mut message) => {
                filter_message(&mut message, allowed);
                for line in event.lines().filter(|l| !l.starts_with("data:")) {
                    out.push_str(line);
                    out.push('\n');
                }
                out.push_str("data: ");
                out.push_str(&message.to_string());
                out.push('\n');
            }
            None => {
                out.push_str(event);
                out.push('\n');
            }
        }
        out.push('\n');
    }
    Bytes::from(out)
}

fn filter_message(message: &mut Value, allowed: &dyn Fn(&str) -> bool) {
    if let Some(Value::Array(tools)) = message.pointer_mut("/result/tools") {
        tools.retain(|t| t.get("name").and_then(Value::as_str).is_some_and(allowed));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn filters_json_and_event_stream_answers() {
        let allowed = |name: &str| name == "add";
        let answer = json!({"jsonrpc": "2.0", "id": 2, "result": {"tools": [
            {"name": "add"}, {"name": "delete_everything"}]}});
        let json_body = filter_tools(answer.to_string().as_bytes(), false, &allowed);
        let v: Value = serde_json::from_slice(&json_body).unwrap();
        assert_eq!(v["result"]["tools"], json!([{"name": "add"}]));
        let stream = format!("event: message\r\nid: 1\r\ndata: {answer}\r\n\r\n");
        let filtered = filter_tools(stream.as_bytes(), true, &allowed);
        let text = std::str::from_utf8(&filtered).unwrap();
        assert!(text.starts_with("event: message\nid: 1\ndata: "), "{text}");
        assert!(!text.contains("delete_everything"));
        assert!(text.ends_with("\n\n"));
    }
}
