//! Streaming APIs from AsyncAPI 2.x documents: `POST /apis/validate-asyncapi`,
//! `POST /apis/import-asyncapi`, `GET|PUT /apis/{apiId}/asyncapi`.
//!
//! Each channel is a topic; its `subscribe` and `publish` operations become the API's
//! `SUBSCRIBE` and `PUBLISH` operations (WSO2 4.x), with scopes from `x-scopes` or the
//! operation's `security` requirement and WSO2's `x-auth-type` / `x-throttling-tier`. The
//! first server's protocol gives the type (`ws`/`wss` → `WS`, `sse` → `SSE`) and its URL the
//! endpoint. The document is kept as given and served back by `GET /asyncapi`.

use axum::extract::{Path, State};
use axum::response::Response;
use gantry_model::Api;
use serde_json::{Map, Value, json};

use super::apis::load;
use super::openapi::{
    Described, Info, Upload, create_with_definition, invalid_report, properties_of, read_object,
    read_upload, replace_definition, scalar_text, stored_document, wso2_operation,
};
use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::extract::Scoped;
use crate::rejection::MultipartForm;
use crate::rest_scopes;

/// A parsed, checked AsyncAPI document.
#[derive(Debug)]
pub struct AsyncDocument {
    /// The document as JSON.
    pub value: Value,
    /// `asyncapi`, e.g. `2.6.0`.
    pub spec_version: String,
    /// `info.title`.
    pub title: String,
    /// `info.version`.
    pub version: String,
    /// `info.description`.
    pub description: Option<String>,
    /// The first server's protocol, lower case (`ws`, `wss`, `sse`, …).
    pub protocol: Option<String>,
    /// The API type the protocol implies, when Gantry serves it.
    pub api_type: Option<&'static str>,
    /// The first server's URL, with its protocol as the scheme when it has none.
    pub endpoint: Option<String>,
    /// WSO2 `operations` entries.
    pub operations: Vec<Value>,
}

impl AsyncDocument {
    /// Parses JSON or YAML text and checks it is an AsyncAPI 2.x document with
    /// `info.title`, `info.version` and at least one channel operation; the error names
    /// what is wrong.
    pub fn parse(text: &str) -> Result<Self, String> {
        let value = read_object(text)?;
        let object = value
            .as_object()
            .ok_or("the definition must be an object")?;
        let spec_version = match object.get("asyncapi").and_then(scalar_text) {
            Some(v) if v.starts_with("2.") => v,
            Some(v) => return Err(format!("asyncapi: {v} is not a supported version (2.x)")),
            None => return Err("asyncapi: is required (e.g. \"2.6.0\")".into()),
        };
        let Info {
            title,
            version,
            description,
        } = Info::of(object)?;
        let channels = object
            .get("channels")
            .and_then(Value::as_object)
            .ok_or("channels: is required and must be an object")?;
        let mut operations = Vec::new();
        for (channel, item) in channels {
            let item = item
                .as_object()
                .ok_or_else(|| format!("channels.{channel}: must be an object"))?;
            // WSO2 writes topics with or without their leading '/'.
            let target = if channel.starts_with('/') {
                channel.clone()
            } else {
                format!("/{channel}")
            };
            for (key, verb) in [("subscribe", "SUBSCRIBE"), ("publish", "PUBLISH")] {
                if let Some(op) = item.get(key) {
                    operations.push(operation(channel, &target, key, verb, op)?);
                }
            }
        }
        if operations.is_empty() {
            return Err("channels: the definition has no subscribe or publish operation".into());
        }
        let server = object
            .get("servers")
            .and_then(Value::as_object)
            .and_then(|servers| servers.values().next());
        let protocol = server
            .and_then(|s| s.get("protocol"))
            .and_then(Value::as_str)
            .map(str::to_ascii_lowercase);
        let endpoint = server
            .and_then(|s| s.get("url"))
            .and_then(Value::as_str)
            .map(|url| match (&protocol, url.contains("://")) {
                (Some(p), false) => format!("{}://{url}", scheme_of(p)),
                _ => url.to_owned(),
            });
        let api_type = match protocol.as_deref() {
            Some("ws" | "wss") => Some("WS"),
            Some("sse") => Some("SSE"),
            _ => None,
        };
        Ok(Self {
            description,
            value,
            spec_version,
            title,
            version,
            protocol,
            api_type,
            endpoint,
            operations,
        })
    }
}

/// The URL scheme a server of `protocol` is reached by.
fn scheme_of(protocol: &str) -> &str {
    match protocol {
        "sse" | "websub" => "http",
        other => other,
    }
}

/// One WSO2 `operations` entry from a channel's `subscribe` or `publish` object (WSO2 lists
/// its scopes in `x-scopes`).
fn operation(
    channel: &str,
    target: &str,
    key: &str,
    verb: &str,
    op: &Value,
) -> Result<Value, String> {
    let op = op
        .as_object()
        .ok_or_else(|| format!("channels.{channel}.{key}: must be an object"))?;
    let listed: Vec<Value> = op
        .get("x-scopes")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    Ok(wso2_operation(target, verb, op, &listed))
}

fn document_of(upload: &Upload, fields: &str) -> ApiResult<AsyncDocument> {
    let text = upload
        .definition
        .as_deref()
        .ok_or_else(|| ApiError::BadRequest(format!("{fields}: a definition is required")))?;
    AsyncDocument::parse(text)
        .map_err(|e| ApiError::BadRequest(format!("Invalid AsyncAPI definition: {e}")))
}

/// `POST /apis/validate-asyncapi`: WSO2's `AsyncAPISpecificationValidationResponse`.
pub(crate) async fn validate(
    _: Scoped<rest_scopes::ApiCreate>,
    MultipartForm(multipart): MultipartForm,
) -> ApiResult<axum::Json<Value>> {
    let upload = read_upload(multipart, &["file"]).await?;
    let text = upload.definition.unwrap_or_default();
    Ok(axum::Json(match AsyncDocument::parse(&text) {
        Ok(doc) => json!({
            "isValid": true,
            "info": {
                "name": doc.title,
                "version": doc.version,
                "description": doc.description,
                "asyncAPIVersion": doc.spec_version,
                "protocol": doc.api_type.or(doc.protocol.as_deref()),
                "endpoints": doc.endpoint.into_iter().collect::<Vec<_>>(),
                "gatewayVendor": "wso2",
                "asyncTransportProtocols": doc.protocol.into_iter().collect::<Vec<_>>(),
            },
            "errors": [],
        }),
        Err(reason) => invalid_report("Invalid AsyncAPI definition", reason),
    }))
}

/// `POST /apis/import-asyncapi`: creates a streaming API (state CREATED) from a document and
/// the `additionalProperties` API object; the document's operations win over any given
/// there, its protocol gives the type unless `type` is set.
pub(crate) async fn import(
    State(state): State<AppState>,
    Scoped(user, _): Scoped<rest_scopes::ApiCreate>,
    MultipartForm(multipart): MultipartForm,
) -> ApiResult<Response> {
    let upload = read_upload(multipart, &["file"]).await?;
    let document = document_of(&upload, "file")?;
    let mut properties = properties_of(
        &upload,
        Described {
            name: Some(&document.title),
            version: Some(&document.version),
            description: document.description.as_deref(),
            endpoint: document.endpoint.as_deref(),
        },
    );
    if !properties.contains_key("type") {
        let kind = document.api_type.ok_or_else(|| {
            ApiError::BadRequest(format!(
                "type: the document's server protocol ({}) names no API type Gantry serves; set \"type\" (\"WS\" or \"SSE\") in additionalProperties",
                document.protocol.as_deref().unwrap_or("none")
            ))
        })?;
        properties.insert("type".into(), json!(kind));
    }
    properties.insert("operations".into(), json!(document.operations));
    create_with_definition(&state, &user.username, properties, &document.value).await
}

/// The AsyncAPI document of a streaming API without a stored one, generated from its
/// operations.
pub fn generated_document(api: &Api) -> Value {
    let mut channels = Map::new();
    for op in &api.operations {
        let key = match op.verb {
            gantry_model::HttpVerb::Subscribe => "subscribe",
            gantry_model::HttpVerb::Publish => "publish",
            _ => continue,
        };
        let channel = channels
            .entry(op.target.to_string())
            .or_insert_with(|| json!({}));
        channel[key] = json!({
            "x-scopes": op.scopes,
            "x-throttling-tier": op.throttling_policy,
            "message": {"payload": {"type": "string"}},
        });
    }
    let protocol = if api.api_type == "SSE" { "sse" } else { "ws" };
    json!({
        "asyncapi": "2.6.0",
        "info": {"title": api.name, "version": api.version, "description": api.description},
        "servers": {"production": {"url": format!("{}/{}", api.context, api.version), "protocol": protocol}},
        "channels": channels,
    })
}

/// `GET /apis/{apiId}/asyncapi`: the stored document, or one generated from the operations;
/// 404 for an API whose operations are not topics.
pub(crate) async fn get_definition(
    State(state): State<AppState>,
    _: Scoped<rest_scopes::ApiView>,
    Path(api_id): Path<String>,
) -> ApiResult<axum::Json<Value>> {
    let api = load(&state, &api_id).await?;
    if !is_streaming(&api) {
        return Err(ApiError::NotFound(format!(
            "API {api_id} is a {} API: it has no AsyncAPI definition",
            api.api_type
        )));
    }
    Ok(axum::Json(
        stored_document(&state, &api, generated_document).await?,
    ))
}

/// `PUT /apis/{apiId}/asyncapi` (multipart `apiDefinition` or `file`): replaces the
/// document and, from it, the API's operations.
pub(crate) async fn put_definition(
    State(state): State<AppState>,
    _: Scoped<rest_scopes::ApiCreate>,
    Path(api_id): Path<String>,
    MultipartForm(multipart): MultipartForm,
) -> ApiResult<axum::Json<Value>> {
    let api = load(&state, &api_id).await?;
    if !is_streaming(&api) {
        return Err(ApiError::BadRequest(format!(
            "API {api_id} is a {} API: its definition is not an AsyncAPI document",
            api.api_type
        )));
    }
    let upload = read_upload(multipart, &["apiDefinition", "file"]).await?;
    let document = document_of(&upload, "apiDefinition or file")?;
    replace_definition(&state, &api_id, &document.operations, &document.value).await?;
    Ok(axum::Json(document.value))
}

fn is_streaming(api: &Api) -> bool {
    gantry_model::streaming::ApiType::parse(&api.api_type).is_some_and(|t| t.has_topics())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const CHAT: &str = "asyncapi: 2.6.0\ninfo:\n  title: Chat\n  version: 1.0.0\nservers:\n  production:\n    url: chat.example:8080/ws\n    protocol: ws\nchannels:\n  rooms/{room}:\n    subscribe:\n      x-scopes: [chat:read]\n      message: {payload: {type: string}}\n    publish:\n      security:\n        - oauth2: [chat:write]\n      x-throttling-tier: Gold\n  /notices:\n    subscribe: {}\n";

    #[test]
    fn reads_channels_as_topics_with_scopes_and_the_server_as_endpoint() {
        let doc = AsyncDocument::parse(CHAT).unwrap();
        assert_eq!(doc.title, "Chat");
        assert_eq!(doc.api_type, Some("WS"));
        assert_eq!(doc.endpoint.as_deref(), Some("ws://chat.example:8080/ws"));
        let ops: Vec<(String, String)> = doc
            .operations
            .iter()
            .map(|o| {
                (
                    o["target"].as_str().unwrap().into(),
                    o["verb"].as_str().unwrap().into(),
                )
            })
            .collect();
        assert!(ops.contains(&("/rooms/{room}".into(), "SUBSCRIBE".into())));
        assert!(ops.contains(&("/rooms/{room}".into(), "PUBLISH".into())));
        assert!(ops.contains(&("/notices".into(), "SUBSCRIBE".into())));
        let publish = doc
            .operations
            .iter()
            .find(|o| o["verb"] == "PUBLISH")
            .unwrap();
        assert_eq!(publish["scopes"], json!(["chat:write"]));
        assert_eq!(publish["throttlingPolicy"], "Gold");
    }

    #[test]
    fn invalid_documents_say_why() {
        assert!(AsyncDocument::parse("").unwrap_err().contains("empty"));
        assert!(
            AsyncDocument::parse("asyncapi: 3.0.0\ninfo: {title: a, version: b}\nchannels: {}")
                .unwrap_err()
                .contains("not a supported version")
        );
        assert!(
            AsyncDocument::parse("openapi: 3.0.0\ninfo: {title: a, version: b}")
                .unwrap_err()
                .contains("asyncapi")
        );
        assert!(
            AsyncDocument::parse(
                "asyncapi: 2.0.0\ninfo: {title: a, version: b}\nchannels: {x: {}}"
            )
            .unwrap_err()
            .contains("no subscribe or publish")
        );
    }
}
