//! The MCP stage: an MCP server (an API of type `MCP`, routed at `<context>/<version>/mcp`)
//! served over MCP's Streamable HTTP transport. It takes over from the route stage: the
//! caller is authenticated and authorised for the server as for any API (with RFC 9728
//! challenges on 401), then each JSON-RPC message is answered here — `initialize` (a
//! session), `ping`, `tools/list`, and `tools/call`, which is checked against the tool's
//! scopes, counted against the tiers as one request, validated against its input schema and
//! sent to the backend as the REST call it maps to; or, for a proxied server, passed through.

pub mod jsonrpc;
pub mod metadata;
pub mod passthrough;
pub mod session;
pub mod tool_call;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{self, HeaderName, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use http_body_util::BodyExt as _;
use hyper::body::Incoming;
use serde_json::{Map, Value, json};

use super::Answer;
use super::authenticate::{self, Authenticated};
use super::route::Routed;
use super::{authorise, deny, forward, limit, mediate};
use crate::compiled::CompiledConfig;
use crate::compiled::mcp::{McpEntry, Tool};
use crate::metrics::{Name, Outcome};
use crate::respond::{self, Body};
use jsonrpc::{Framing, INVALID_PARAMS, INVALID_REQUEST, METHOD_NOT_FOUND, Message};
use session::{Lookup, Sessions};

/// The protocol revisions served, oldest first; the last is offered to clients that ask
/// for one not listed.
pub const PROTOCOL_VERSIONS: &[&str] = &["2025-03-26", "2025-06-18", "2025-11-25"];

/// The largest JSON-RPC message a client may post.
const MAX_MESSAGE: usize = 1024 * 1024;

/// The largest backend answer a tool call reads (and a proxied `tools/list`).
const MAX_ANSWER: usize = 4 * 1024 * 1024;

/// How long a backend answer's body may take once its headers arrived.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(60);

/// The session header.
const SESSION: HeaderName = HeaderName::from_static("mcp-session-id");

/// The protocol revision header.
const PROTOCOL_VERSION: HeaderName = HeaderName::from_static("mcp-protocol-version");

/// Server error code for a session that does not exist (as the MCP SDKs answer).
const SESSION_NOT_FOUND: i64 = -32001;

/// Signs the backend JWT for a call, when the API sends one (the proxy's signer).
pub type BackendJwt<'a> = dyn Fn(&CompiledConfig, &Routed<'_>, &Authenticated) -> Result<Option<HeaderValue>, Answer>
    + Sync
    + 'a;

/// What the MCP stage uses of the proxy.
pub struct Mcp<'p> {
    /// Re-reads external issuers' JWKS (authenticate).
    pub jwks: &'p crate::authn::jwks_refresher::JwksRefresher,
    /// Rate limits (each tool call counts).
    pub limits: &'p limit::Limiters,
    /// Connection pools.
    pub forwarder: &'p forward::Forwarder,
    /// This gateway's MCP sessions.
    pub sessions: &'p Sessions,
    /// The backend JWT for a call, when the API sends one.
    pub backend_jwt: &'p BackendJwt<'p>,
}

/// Where the request came in: for challenges, metadata and the forwarding headers.
pub struct Arrival {
    /// The MCP server's URL as the client reached it.
    pub resource: String,
    /// The authority routed on.
    pub routed_host: Option<HeaderValue>,
    /// The client.
    pub peer: SocketAddr,
    /// Over TLS.
    pub secure: bool,
}

impl Arrival {
    /// How `target` (routed to `routed`) came in from `peer`.
    pub fn of(
        target: super::target::Target<'_>,
        routed: &Routed<'_>,
        peer: SocketAddr,
        secure: bool,
    ) -> Self {
        Self {
            resource: metadata::resource_url(&target, secure, &routed.entry.base_path),
            routed_host: target.routed_host,
            peer,
            secure,
        }
    }
}

/// Serves one request to the MCP server `routed`.
pub async fn serve(
    mcp: Mcp<'_>,
    config: &CompiledConfig,
    routed: Routed<'_>,
    arrival: Arrival,
    request: Request<Incoming>,
    outcome: &mut Outcome,
) -> Result<Response<Body>, Answer> {
    let who = authenticate::run(config, mcp.jwks, &routed, &request, outcome)
        .await
        .map_err(|answer| metadata::challenge(answer, &arrival.resource))?;
    deny::by_caller(config, &who, outcome)?;
    authorise::check(config, &routed, &who, outcome)?;
    let api = routed.api.clone();
    let Some(server) = api.mcp.as_deref() else {
        return Err(respond::no_route());
    };
    let owner: Arc<str> = who
        .caller
        .as_ref()
        .map_or_else(|| Arc::from(""), |c| c.application_id.clone());
    let call = Call {
        mcp: &mcp,
        config,
        routed: &routed,
        server,
        who: &who,
        owner,
        arrival: &arrival,
    };
    match *request.method() {
        Method::POST => call.post(request, outcome).await,
        Method::DELETE if server.proxy => {
            let (parts, _) = request.into_parts();
            call.forward(parts, Bytes::new(), None, outcome).await
        }
        Method::DELETE => Ok(call.end_session(request.headers())),
        _ => {
            // No server-initiated messages: the spec lets a server refuse the GET stream.
            let mut refused = respond::error(
                StatusCode::METHOD_NOT_ALLOWED,
                "405",
                "Method not allowed",
                "This MCP server sends no server-initiated messages: POST JSON-RPC messages, DELETE to end a session",
            );
            refused
                .headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("POST, DELETE"));
            Ok(refused)
        }
    }
}

/// One request to an MCP server, admitted.
struct Call<'a> {
    mcp: &'a Mcp<'a>,
    config: &'a CompiledConfig,
    routed: &'a Routed<'a>,
    server: &'a McpEntry,
    who: &'a Authenticated,
    /// The calling application (`""` when anonymous): sessions belong to it.
    owner: Arc<str>,
    arrival: &'a Arrival,
}

impl Call<'_> {
    async fn post(
        &self,
        request: Request<Incoming>,
        outcome: &mut Outcome,
    ) -> Result<Response<Body>, Answer> {
        // The body is read before any refusal, so the connection stays usable for the
        // client's next message (an answer sent over an unread body closes it).
        let (parts, body) = request.into_parts();
        let bytes = match http_body_util::Limited::new(body, MAX_MESSAGE)
            .collect()
            .await
        {
            Ok(collected) => collected.to_bytes(),
            Err(_) => {
                let mut refused = jsonrpc::refuse(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    None,
                    INVALID_REQUEST,
                    "The message is too large or could not be read",
                );
                refused
                    .headers_mut()
                    .insert(header::CONNECTION, HeaderValue::from_static("close"));
                return Ok(refused);
            }
        };
        let Some(framing) = Framing::from_accept(parts.headers.get(header::ACCEPT)) else {
            return Ok(jsonrpc::refuse(
                StatusCode::NOT_ACCEPTABLE,
                None,
                INVALID_REQUEST,
                "Not Acceptable: accept application/json and text/event-stream",
            ));
        };
        let json = parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| {
                v.split(';')
                    .next()
                    .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
            });
        if !json {
            return Ok(jsonrpc::refuse(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                None,
                INVALID_REQUEST,
                "Unsupported Media Type: post a JSON-RPC message as application/json",
            ));
        }
        let message = match Message::parse(&bytes) {
            Ok(message) => message,
            Err((code, reason)) => {
                return Ok(jsonrpc::refuse(StatusCode::BAD_REQUEST, None, code, reason));
            }
        };
        if !self.server.proxy
            && let Some(version) = parts.headers.get(PROTOCOL_VERSION)
            && !PROTOCOL_VERSIONS
                .iter()
                .any(|v| v.as_bytes() == version.as_bytes())
        {
            return Ok(jsonrpc::refuse(
                StatusCode::BAD_REQUEST,
                message.id.as_ref(),
                INVALID_REQUEST,
                &format!(
                    "Bad Request: unsupported MCP-Protocol-Version (supported: {})",
                    PROTOCOL_VERSIONS.join(", ")
                ),
            ));
        }
        if self.server.proxy {
            return self
                .pass_through(parts, bytes, message, framing, outcome)
                .await;
        }
        // Notifications and the client's answers need no reply.
        let (Some(method), Some(id)) = (message.method.as_deref(), message.id.as_ref()) else {
            return Ok(accepted());
        };
        if method == "initialize" {
            return Ok(self.initialize(id, &message.params, framing));
        }
        if !matches!(method, "ping" | "tools/list" | "tools/call") {
            return Ok(answer(
                framing,
                jsonrpc::error(
                    Some(id),
                    METHOD_NOT_FOUND,
                    &format!("Method not found: {method}"),
                ),
            ));
        }
        match parts.headers.get(SESSION).and_then(|v| v.to_str().ok()) {
            None => {
                return Ok(jsonrpc::refuse(
                    StatusCode::BAD_REQUEST,
                    Some(id),
                    INVALID_REQUEST,
                    "Bad Request: the Mcp-Session-Id header is required (initialize first)",
                ));
            }
            Some(session) => {
                if self
                    .mcp
                    .sessions
                    .touch(session, &self.routed.api.id, &self.owner)
                    == Lookup::Unknown
                {
                    return Ok(jsonrpc::refuse(
                        StatusCode::NOT_FOUND,
                        Some(id),
                        SESSION_NOT_FOUND,
                        "Session not found",
                    ));
                }
            }
        }
        match method {
            "ping" => Ok(answer(framing, jsonrpc::result(id, json!({})))),
            "tools/list" => Ok(jsonrpc::respond(
                framing,
                StatusCode::OK,
                jsonrpc::result_raw(id, "{\"tools\":", &self.server.tools_list, "}"),
            )),
            _ => {
                self.call_tool(parts, id, &message.params, framing, outcome)
                    .await
            }
        }
    }

    /// `initialize`: the protocol revision (the client's when served, else the latest),
    /// the tools capability, and a new session.
    fn initialize(&self, id: &Value, params: &Map<String, Value>, framing: Framing) -> Answer {
        let asked = params.get("protocolVersion").and_then(Value::as_str);
        let version = asked
            .and_then(|a| PROTOCOL_VERSIONS.iter().find(|v| **v == a))
            .unwrap_or(&PROTOCOL_VERSIONS[PROTOCOL_VERSIONS.len() - 1]);
        let Some(session) = self.mcp.sessions.open(&self.routed.api.id, &self.owner) else {
            return jsonrpc::refuse(
                StatusCode::SERVICE_UNAVAILABLE,
                Some(id),
                -32603,
                "No session could be made",
            );
        };
        let prefix = format!(
            "{{\"protocolVersion\":\"{version}\",\"capabilities\":{{\"tools\":{{\"listChanged\":false}}}},\"serverInfo\":"
        );
        let mut response = jsonrpc::respond(
            framing,
            StatusCode::OK,
            jsonrpc::result_raw(id, &prefix, &self.server.server_info, "}"),
        );
        if let Ok(value) = HeaderValue::from_str(&session) {
            response.headers_mut().insert(SESSION, value);
        }
        response
    }

    /// `DELETE`: ends the caller's session.
    fn end_session(&self, headers: &http::HeaderMap) -> Answer {
        let Some(session) = headers.get(SESSION).and_then(|v| v.to_str().ok()) else {
            return jsonrpc::refuse(
                StatusCode::BAD_REQUEST,
                None,
                INVALID_REQUEST,
                "Bad Request: the Mcp-Session-Id header is required",
            );
        };
        if self
            .mcp
            .sessions
            .end(session, &self.routed.api.id, &self.owner)
        {
            let mut ended = Response::new(respond::full(Bytes::new()));
            *ended.status_mut() = StatusCode::NO_CONTENT;
            ended
        } else {
            jsonrpc::refuse(
                StatusCode::NOT_FOUND,
                None,
                SESSION_NOT_FOUND,
                "Session not found",
            )
        }
    }

    /// The tool a `tools/call` names, admitted: it exists, its arguments are an object,
    /// the caller may call it (scopes) and the tiers have room for one more request.
    async fn admit_tool<'t>(
        &'t self,
        parts: &http::request::Parts,
        params: &Map<String, Value>,
        outcome: &mut Outcome,
    ) -> Result<Result<(&'t Tool, Map<String, Value>), String>, Answer> {
        let Some(name) = params.get("name").and_then(Value::as_str) else {
            return Ok(Err("Invalid params: name is required".into()));
        };
        let Some(tool) = self.server.tools.get(name) else {
            return Ok(Err(format!("Unknown tool: {name}")));
        };
        let arguments = match params.get("arguments") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(arguments)) => arguments.clone(),
            Some(_) => return Ok(Err("Invalid params: arguments must be an object".into())),
        };
        let routed = self.tool_routed(tool);
        outcome.operation = Some(Name(tool.operation.key.clone()));
        if let Err(refused) = authorise::check(self.config, &routed, self.who, outcome) {
            return Err(if outcome.failure == Some("missing_scope") {
                metadata::insufficient_scope(
                    refused,
                    &tool.operation.scopes,
                    &self.arrival.resource,
                )
            } else {
                refused
            });
        }
        let view = Request::from_parts(parts.clone(), ());
        // The view of one tool call carries no body (length 0).
        let call = limit::Call::of(&view, Some(0), self.arrival.peer.ip());
        self.mcp
            .limits
            .check(self.config, &routed, self.who, call, outcome)
            .await?;
        Ok(Ok((tool, arguments)))
    }

    fn tool_routed<'t>(&'t self, tool: &'t Tool) -> Routed<'t> {
        Routed {
            entry: self.routed.entry,
            operation: &tool.operation,
            api: self.routed.api.clone(),
        }
    }

    /// `tools/call` of a REST-backed tool: the HTTP call it maps to, its answer as content.
    async fn call_tool(
        &self,
        parts: http::request::Parts,
        id: &Value,
        params: &Map<String, Value>,
        framing: Framing,
        outcome: &mut Outcome,
    ) -> Result<Response<Body>, Answer> {
        let invalid =
            |reason: &str| answer(framing, jsonrpc::error(Some(id), INVALID_PARAMS, reason));
        let (tool, arguments) = match self.admit_tool(&parts, params, outcome).await? {
            Ok(admitted) => admitted,
            Err(reason) => return Ok(invalid(&reason)),
        };
        let arguments = Value::Object(arguments);
        if let Err(reason) = tool.schema.validate_at(&arguments, "arguments") {
            return Ok(invalid(&format!("Invalid params: {reason}")));
        }
        let Value::Object(arguments) = arguments else {
            return Ok(invalid("Invalid params: arguments must be an object"));
        };
        let Some(backend) = &tool.backend else {
            return Ok(invalid("Invalid params: the tool has no backend operation"));
        };
        let made = match tool_call::build(backend, &arguments) {
            Ok(made) => made,
            Err(reason) => return Ok(invalid(&format!("Invalid params: {reason}"))),
        };
        let api = &self.routed.api;
        let mut to = forward::destination(
            api,
            None,
            "",
            self.who.key_type(),
            &made.path,
            made.query.as_deref(),
        )?;
        let assertion = (self.mcp.backend_jwt)(self.config, &self.tool_routed(tool), self.who)?;
        let mut upstream = Request::new(());
        *upstream.method_mut() = backend.method.clone();
        let headers = upstream.headers_mut();
        headers.insert(header::ACCEPT, HeaderValue::from_static("application/json"));
        for name in [
            crate::correlation::CORRELATION_ID,
            HeaderName::from_static("traceparent"),
            HeaderName::from_static("tracestate"),
        ] {
            if let Some(value) = parts.headers.get(&name) {
                headers.insert(name, value.clone());
            }
        }
        for (name, value) in made.headers {
            headers.insert(name, value);
        }
        let body = made.body.unwrap_or_default();
        if backend.body && !body.is_empty() {
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
        }
        let (mut head, ()) = upstream.into_parts();
        self.mediate(&mut head, &mut to, assertion);
        let response = self
            .mcp
            .forwarder
            .send_made(Request::from_parts(head, body), to, outcome)
            .await?;
        let status = response.status();
        let body = read_answer(response.into_body()).await;
        let result = match body {
            Ok(body) => tool_call::result(status, &body),
            Err(reason) => {
                json!({"content": [{"type": "text", "text": reason}], "isError": true})
            }
        };
        Ok(answer(framing, jsonrpc::result(id, result)))
    }

    /// The head the upstream gets, for `to` (as a forwarded request's: no client
    /// credentials, forwarding headers, the API's header policies, the backend JWT).
    fn mediate(
        &self,
        head: &mut http::request::Parts,
        to: &mut forward::Destination<'_>,
        assertion: Option<HeaderValue>,
    ) {
        mediate::prepare(
            head,
            std::mem::take(&mut to.uri),
            mediate::Mediation {
                api: &self.routed.api,
                assertion,
                upstream_host: to.host(),
                http2: to.http2(),
                grpc: false,
                websocket: None,
                routed_host: self.arrival.routed_host.clone(),
                peer: self.arrival.peer,
                secure: self.arrival.secure,
            },
        );
        head.version = if to.http2() {
            http::Version::HTTP_2
        } else {
            http::Version::HTTP_11
        };
    }

    /// A proxied server: `tools/call` of a tool it does not offer is refused here, others
    /// are admitted like a REST-backed tool's; the message goes on unchanged, and a
    /// `tools/list` answer comes back filtered.
    async fn pass_through(
        &self,
        parts: http::request::Parts,
        bytes: Bytes,
        message: Message,
        framing: Framing,
        outcome: &mut Outcome,
    ) -> Result<Response<Body>, Answer> {
        let method = message.method.as_deref();
        if let (Some("tools/call"), Some(id)) = (method, message.id.as_ref()) {
            let (tool, arguments) = match self.admit_tool(&parts, &message.params, outcome).await? {
                Ok(admitted) => admitted,
                Err(reason) => {
                    return Ok(answer(
                        framing,
                        jsonrpc::error(Some(id), INVALID_PARAMS, &reason),
                    ));
                }
            };
            if let Err(reason) = tool
                .schema
                .validate_at(&Value::Object(arguments), "arguments")
            {
                return Ok(answer(
                    framing,
                    jsonrpc::error(
                        Some(id),
                        INVALID_PARAMS,
                        &format!("Invalid params: {reason}"),
                    ),
                ));
            }
        }
        let filter = (method == Some("tools/list") && message.id.is_some()).then_some(());
        let mut parts = parts;
        if filter.is_some() {
            // The answer is read and rewritten here: ask for it uncompressed.
            parts.headers.remove(header::ACCEPT_ENCODING);
        }
        self.forward(parts, bytes, filter, outcome).await
    }

    /// Sends the client's message to the proxied server; a `tools/list` answer (`filter`)
    /// is read whole and cut down to the offered tools.
    async fn forward(
        &self,
        mut parts: http::request::Parts,
        bytes: Bytes,
        filter: Option<()>,
        outcome: &mut Outcome,
    ) -> Result<Response<Body>, Answer> {
        let api = &self.routed.api;
        let mut to = forward::destination(api, None, "", self.who.key_type(), "", None)?;
        let assertion = (self.mcp.backend_jwt)(self.config, self.routed, self.who)?;
        self.mediate(&mut parts, &mut to, assertion);
        let response = self
            .mcp
            .forwarder
            .send_made(Request::from_parts(parts, bytes), to, outcome)
            .await?;
        let (mut head, body) = response.into_parts();
        crate::hop_by_hop::strip_hop_by_hop(&mut head.headers);
        if filter.is_none() || !head.status.is_success() {
            return Ok(Response::from_parts(head, body.boxed()));
        }
        let event_stream = head
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/event-stream"));
        let whole = match read_answer(body).await {
            Ok(whole) => whole,
            Err(reason) => {
                return Err(respond::error(
                    StatusCode::BAD_GATEWAY,
                    "101503",
                    "Runtime Error",
                    &reason,
                ));
            }
        };
        let server = self.server;
        let filtered = passthrough::filter_tools(&whole, event_stream, &|name| {
            server.tools.contains_key(name)
        });
        head.headers.remove(header::CONTENT_LENGTH);
        Ok(Response::from_parts(head, respond::full(filtered)))
    }
}

/// A JSON-RPC answer with HTTP 200.
fn answer(framing: Framing, message: Value) -> Answer {
    jsonrpc::respond(framing, StatusCode::OK, Bytes::from(message.to_string()))
}

/// 202 for a notification or a client's response.
fn accepted() -> Answer {
    let mut response = Response::new(respond::full(Bytes::new()));
    *response.status_mut() = StatusCode::ACCEPTED;
    response
}

/// The backend's answer, whole (bounded in size and time).
async fn read_answer(body: crate::upstream_client::UpstreamResponseBody) -> Result<Bytes, String> {
    match tokio::time::timeout(
        ANSWER_TIMEOUT,
        http_body_util::Limited::new(body, MAX_ANSWER).collect(),
    )
    .await
    {
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(_)) => Err(format!(
            "The backend's answer could not be read, or is over {} MiB",
            MAX_ANSWER / (1024 * 1024)
        )),
        Err(_) => Err("The backend's answer did not end in time".into()),
    }
}
