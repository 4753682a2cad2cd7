//! Request time: a [`Chain`]'s request flow on the mediated upstream request, its response
//! flow on the response the client gets. A body is read into memory only when a step of
//! the flow needs it (within the gateway's body limit and deadline, or the chain's smaller
//! `bodySizeLimit`); otherwise it streams untouched.

use std::time::Duration;

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderValue};
use http::request::Parts;
use http::{Response, StatusCode};
use http_body_util::BodyExt as _;
use hyper::body::Incoming;

use super::callout::Invocation;
use super::{Chain, Step, headers, transform};
use crate::respond::{self, Body};
use crate::upstream_client::UpstreamClients;

/// What a flow needs besides the message: the client for call-outs, what they are told, and
/// the body limits.
pub struct Exchange<'a> {
    /// Connection pools (call-outs use the HTTP/1.1 one).
    pub clients: &'a UpstreamClients,
    /// The call as an interceptor service sees it.
    pub invocation: Invocation<'a>,
    /// The gateway's body limit (bytes).
    pub body_limit: u64,
    /// The gateway's request-body deadline.
    pub body_timeout: Duration,
}

/// The body of the upstream request.
pub enum RequestBody {
    /// The client's, streamed (within `limit` bytes).
    Client {
        /// The client's body.
        body: Incoming,
        /// Bytes it may have.
        limit: u64,
    },
    /// One a policy read or made.
    Made(Bytes),
}

fn bad_request(description: &str) -> Response<Body> {
    respond::error(StatusCode::BAD_REQUEST, "400", "Bad Request", description)
}

/// Sets the headers of a body a policy replaced.
fn replaced_body(headers: &mut HeaderMap, body: &Bytes, content_type: Option<&'static str>) {
    headers.remove(header::TRANSFER_ENCODING);
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
    if let Some(content_type) = content_type {
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    }
}

/// Reads the client's body within `limit` bytes and `timeout`.
async fn read_request(
    body: Incoming,
    limit: u64,
    timeout: Duration,
) -> Result<Bytes, Response<Body>> {
    let body = crate::body_timeout::Deadline::new(body, Some(timeout));
    match http_body_util::Limited::new(body, usize::try_from(limit).unwrap_or(usize::MAX))
        .collect()
        .await
    {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(error) if crate::body_limit::is_over_limit(error.as_ref()) => {
            Err(crate::body_limit::too_large(limit))
        }
        Err(error) if crate::body_timeout::is_timed_out(error.as_ref()) => {
            Err(crate::body_timeout::timed_out(timeout))
        }
        Err(_) => {
            let mut refused = bad_request("The request body could not be read");
            refused
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
            Err(refused)
        }
    }
}

/// Runs the request flow on `parts` (the mediated request, whose URI path starts with the
/// endpoint's `base_len`-byte base path) and the client's `body`; the body to send, or the
/// answer given instead (a policy's refusal, an interceptor's response).
pub async fn request(
    chain: &Chain,
    parts: &mut Parts,
    body: RequestBody,
    base_len: usize,
    x: &Exchange<'_>,
) -> Result<RequestBody, Response<Body>> {
    let limit = chain
        .body_limit
        .map_or(x.body_limit, |l| l.min(x.body_limit));
    if chain.body_limit.is_some()
        && gantry_listener::declared_length::declared(&parts.headers).is_some_and(|n| n > limit)
    {
        return Err(crate::body_limit::too_large(limit));
    }
    let mut body = match body {
        // Read already by a stage (a GraphQL document).
        RequestBody::Made(bytes) if bytes.len() as u64 > limit => {
            return Err(crate::body_limit::too_large(limit));
        }
        RequestBody::Made(bytes) => RequestBody::Made(bytes),
        RequestBody::Client { body, .. } if chain.request_body => {
            RequestBody::Made(read_request(body, limit, x.body_timeout).await?)
        }
        RequestBody::Client { body, .. } => RequestBody::Client { body, limit },
    };
    let mut replaced = false;
    for step in &chain.request {
        match step {
            Step::Header(op) => op.apply(&mut parts.headers),
            Step::Uri(op) => op.apply(&mut parts.method, &mut parts.uri, base_len),
            Step::JsonToXml(root) => {
                if let RequestBody::Made(bytes) = &body
                    && !bytes.is_empty()
                {
                    let xml = transform::json_to_xml(bytes, root).map_err(|e| bad_request(&e))?;
                    body = RequestBody::Made(Bytes::from(xml));
                    set_type(&mut parts.headers, "application/xml", &mut replaced);
                }
            }
            Step::XmlToJson => {
                if let RequestBody::Made(bytes) = &body
                    && !bytes.is_empty()
                {
                    let json = transform::xml_to_json(bytes).map_err(|e| bad_request(&e))?;
                    body = RequestBody::Made(Bytes::from(json));
                    set_type(&mut parts.headers, "application/json", &mut replaced);
                }
            }
            Step::Validate(schema) => {
                let bytes = match &body {
                    RequestBody::Made(bytes) => bytes.clone(),
                    RequestBody::Client { .. } => Bytes::new(),
                };
                let doc: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| {
                    bad_request(&format!(
                        "Schema validation failed in the Request: the body is not JSON ({e})"
                    ))
                })?;
                schema.validate(&doc).map_err(|violation| {
                    bad_request(&format!(
                        "Schema validation failed in the Request: {violation}"
                    ))
                })?;
            }
            Step::CallOut(call) => {
                let sent = match &body {
                    RequestBody::Made(bytes) => Some(bytes),
                    RequestBody::Client { .. } => None,
                };
                let Some(changes) = call
                    .ask(x.clients, &parts.headers, sent, None, &x.invocation)
                    .await?
                else {
                    continue;
                };
                if let Some(response) = changes.respond {
                    return Err(response);
                }
                changes.apply_headers(&mut parts.headers);
                if let Some(new) = changes.body {
                    body = RequestBody::Made(new);
                    replaced = true;
                }
            }
        }
    }
    if let (true, RequestBody::Made(bytes)) = (replaced, &body) {
        replaced_body(&mut parts.headers, bytes, None);
    }
    Ok(body)
}

fn set_type(headers: &mut HeaderMap, content_type: &'static str, replaced: &mut bool) {
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    *replaced = true;
}

/// 502 for an upstream response a response policy could not work on.
fn bad_response(description: &str) -> Response<Body> {
    respond::error(
        StatusCode::BAD_GATEWAY,
        "101503",
        "Runtime Error",
        description,
    )
}

/// Runs the response flow on `response` (the upstream's, or a mock's).
pub async fn response(chain: &Chain, response: Response<Body>, x: &Exchange<'_>) -> Response<Body> {
    if chain.response.is_empty() || response.status() == StatusCode::SWITCHING_PROTOCOLS {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let mut bytes = None;
    let mut streamed = Some(body);
    if chain.response_body
        && let Some(body) = streamed.take()
    {
        match http_body_util::Limited::new(
            body,
            usize::try_from(x.body_limit).unwrap_or(usize::MAX),
        )
        .collect()
        .await
        {
            Ok(collected) => bytes = Some(collected.to_bytes()),
            Err(error) => {
                tracing::warn!(%error, "upstream response body unreadable for a response policy");
                return bad_response(&format!(
                    "The back end's response could not be read (limit {} bytes)",
                    x.body_limit
                ));
            }
        }
    }
    let mut replaced = false;
    for step in &chain.response {
        match step {
            Step::Header(op) => op.apply(&mut parts.headers),
            Step::JsonToXml(root) => {
                if let Some(b) = bytes.as_ref().filter(|b| !b.is_empty()) {
                    let xml = transform::json_to_xml(b, root).map_err(|e| {
                        bad_response(&format!(
                            "The back end's response could not be converted to XML: {e}"
                        ))
                    });
                    match xml {
                        Ok(xml) => bytes = Some(Bytes::from(xml)),
                        Err(answer) => return answer,
                    }
                    set_type(&mut parts.headers, "application/xml", &mut replaced);
                }
            }
            Step::XmlToJson => {
                if let Some(b) = bytes.as_ref().filter(|b| !b.is_empty()) {
                    match transform::xml_to_json(b) {
                        Ok(json) => bytes = Some(Bytes::from(json)),
                        Err(e) => {
                            return bad_response(&format!(
                                "The back end's response could not be converted to JSON: {e}"
                            ));
                        }
                    }
                    set_type(&mut parts.headers, "application/json", &mut replaced);
                }
            }
            Step::CallOut(call) => {
                match call
                    .ask(
                        x.clients,
                        &parts.headers,
                        bytes.as_ref(),
                        Some(parts.status),
                        &x.invocation,
                    )
                    .await
                {
                    Err(answer) => return answer,
                    Ok(None) => {}
                    Ok(Some(changes)) => {
                        changes.apply_headers(&mut parts.headers);
                        if let Some(status) = changes.status {
                            parts.status = status;
                        }
                        if let Some(new) = changes.body {
                            bytes = Some(new);
                            streamed = None;
                            replaced = true;
                        }
                    }
                }
            }
            // Not response-flow policies (refused when the chain is compiled).
            Step::Uri(_) | Step::Validate(_) => {}
        }
    }
    match (streamed, bytes) {
        (Some(body), _) => Response::from_parts(parts, body),
        (None, Some(bytes)) => {
            if replaced {
                replaced_body(&mut parts.headers, &bytes, None);
            }
            Response::from_parts(parts, respond::full(bytes))
        }
        (None, None) => Response::from_parts(parts, respond::full(Bytes::new())),
    }
}

/// Runs the fault flow on a gateway-made error.
pub fn fault(chain: &Chain, response: &mut Response<Body>) {
    headers::apply(&chain.fault, response.headers_mut());
}
