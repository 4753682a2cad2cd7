//! The forward stage: picks the pool member for the caller's key type, builds the upstream
//! URI, and sends the mediated request — body under its deadline and size limit, small
//! bodies of idempotent calls kept for retries on another member, the response headers
//! awaited within the endpoint's timeout.

use std::sync::Arc;

use gantry_model::KeyType;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Request, Response, StatusCode, Uri};
use http_body_util::BodyExt as _;

use super::Answer;
use crate::authn::api_key::query_param;
use crate::compiled::{ApiEntry, Upstream, UpstreamPool};
use crate::metrics::{GatewayMetrics, Outcome};
use crate::policy::run::RequestBody;
use crate::respond;
use crate::upstream_client::{UpstreamBody, UpstreamClients, UpstreamResponseBody};

/// A request body bigger than this is streamed, never buffered for a retry.
const MAX_REPLAY_BYTES: u64 = 64 * 1024;

/// Most members one request is sent to (the first try and two retries).
const MAX_ATTEMPTS: usize = 3;

/// Sends requests upstream: the connection pools and the limits on request bodies.
pub struct Forwarder {
    clients: UpstreamClients,
    metrics: Arc<GatewayMetrics>,
    /// The request body limit (413 beyond it).
    pub(crate) body_limit: crate::body_limit::BodyLimit,
    /// The time a request body may take (408 beyond it).
    pub(crate) body_timeout: crate::body_timeout::BodyTimeout,
}

/// Where a request goes: a member of the API's pool for its key type, and the URI there.
pub struct Destination<'a> {
    api: &'a ApiEntry,
    pool: &'a UpstreamPool,
    member: usize,
    upstream: &'a Upstream,
    /// The absolute URI on that member.
    pub uri: Uri,
}

impl Destination<'_> {
    /// The member's `Host`.
    pub fn host(&self) -> http::HeaderValue {
        self.upstream.host.clone()
    }

    /// Whether the endpoint is configured for HTTP/2.
    pub fn http2(&self) -> bool {
        self.upstream.http2
    }

    /// The resource path and query after the member's base path.
    pub fn resource(&self) -> &str {
        let target = self.uri.path_and_query().map_or("", |p| p.as_str());
        target
            .get(self.upstream.base_path.len().min(target.len())..)
            .unwrap_or("")
    }

    /// The length of the member's base path, which the URI's path starts with.
    pub fn base_len(&self) -> usize {
        self.upstream.base_path.len()
    }
}

/// The member and URI for a call of `api` with `key_type` keys to `path` (which starts with
/// `base_path`, the matched route's prefix) and `query`, on `endpoint` when a policy sets
/// one; 403 when the API has no endpoint for that key type. An API key in the query never
/// travels on.
pub fn destination<'a>(
    api: &'a ApiEntry,
    endpoint: Option<&'a UpstreamPool>,
    base_path: &str,
    key_type: KeyType,
    path: &str,
    query: Option<&str>,
) -> Result<Destination<'a>, Answer> {
    let Some(pool) = endpoint.or_else(|| api.pool(key_type)) else {
        return Err(respond::error(
            StatusCode::FORBIDDEN,
            "900908",
            "Resource forbidden",
            &format!(
                "The API has no {} endpoint",
                key_type.as_str().to_ascii_lowercase()
            ),
        ));
    };
    let (member, upstream) = pool.pick();
    let remainder = &path[base_path.len().min(path.len())..];
    // Sized exactly for the usual target (no API key to drop from the query): a `String`
    // whose capacity is its length becomes the URI's bytes without another allocation.
    let mut target = String::with_capacity(
        (upstream.base_path.len() + remainder.len() + query.map_or(0, |q| q.len() + 1)).max(1),
    );
    target.push_str(&upstream.base_path);
    target.push_str(remainder);
    if target.is_empty() {
        target.push('/');
    }
    if let Some(query) = query {
        match &api.api_key {
            Some(key_in) if query_param(query, &key_in.query).is_some() => {
                let mut first = true;
                for pair in query.split('&').filter(|p| {
                    !p.split('=')
                        .next()
                        .is_some_and(|k| k.eq_ignore_ascii_case(&key_in.query))
                }) {
                    target.push(if first { '?' } else { '&' });
                    target.push_str(pair);
                    first = false;
                }
            }
            _ => {
                target.push('?');
                target.push_str(query);
            }
        }
    }
    let uri = Uri::builder()
        .scheme(upstream.scheme.clone())
        .authority(upstream.authority.clone())
        .path_and_query(target)
        .build()
        .map_err(|_| {
            respond::error(
                StatusCode::BAD_REQUEST,
                "400",
                "Bad Request",
                "The request path cannot be forwarded",
            )
        })?;
    Ok(Destination {
        api,
        pool,
        member,
        upstream,
        uri,
    })
}

impl Forwarder {
    /// A forwarder over `clients`, with the default body limit and deadline.
    pub fn new(clients: UpstreamClients, metrics: Arc<GatewayMetrics>) -> Self {
        Self {
            clients,
            metrics,
            body_limit: Default::default(),
            body_timeout: Default::default(),
        }
    }

    /// The connection pools (interceptor call-outs use them too).
    pub(crate) fn clients(&self) -> &UpstreamClients {
        &self.clients
    }

    /// Whether `GET uri` (over HTTP/2 when `http2`) answers 2xx within `timeout` (an active
    /// health check).
    pub async fn probe(&self, uri: Uri, timeout: std::time::Duration, http2: bool) -> bool {
        let mut request = Request::new(UpstreamBody::Right(http_body_util::Full::default()));
        *request.uri_mut() = uri;
        if http2 {
            *request.version_mut() = http::Version::HTTP_2;
        }
        matches!(
            tokio::time::timeout(timeout, self.clients.send(http2, request)).await,
            Ok(Ok(response)) if response.status().is_success()
        )
    }

    /// Sends a request the gateway made itself (an MCP tool call), body in memory, to `to`:
    /// no retry; the response headers awaited within the endpoint's timeout (502, 504).
    pub async fn send_made(
        &self,
        request: Request<bytes::Bytes>,
        to: Destination<'_>,
        outcome: &mut Outcome,
    ) -> Result<Response<UpstreamResponseBody>, Answer> {
        let http2 = request.version() == http::Version::HTTP_2;
        let request = request.map(|b| UpstreamBody::Right(http_body_util::Full::new(b)));
        let started = std::time::Instant::now();
        let in_flight = to.pool.start(to.member);
        let result =
            tokio::time::timeout(to.upstream.timeout, self.clients.send(http2, request)).await;
        drop(in_flight);
        outcome.upstream = Some(started.elapsed());
        match result {
            Ok(Ok(response)) => Ok(response),
            Ok(Err(error)) => {
                if error.is_connect() {
                    to.pool.eject(to.member);
                }
                tracing::warn!(api = %to.api.name, %error, upstream = %to.upstream.authority, "upstream request failed");
                Err(respond::error(
                    StatusCode::BAD_GATEWAY,
                    "101503",
                    "Runtime Error",
                    "Error connecting to the back end",
                ))
            }
            Err(_) => Err(respond::error(
                StatusCode::GATEWAY_TIMEOUT,
                "101504",
                "Runtime Error",
                "Gateway timeout while waiting for the back end",
            )),
        }
    }

    /// Sends the mediated `request` to `to` (over HTTP/2 when its version says so), retrying idempotent calls on another member of its pool
    /// when one fails to connect or answers 502/503; the upstream's response, or the answer
    /// for a failed call (413, 408, 400 for the client's body; 502, 504 for the upstream).
    pub async fn send(
        &self,
        request: Request<RequestBody>,
        to: Destination<'_>,
        grpc: bool,
        downstream_version: http::Version,
        outcome: &mut Outcome,
    ) -> Result<Response<UpstreamResponseBody>, Answer> {
        let (parts, body) = request.into_parts();
        let Destination {
            api,
            pool,
            member,
            upstream,
            ..
        } = to;
        let http2 = parts.version == http::Version::HTTP_2;
        let (mut member, mut authority, mut timeout) =
            (member, upstream.authority.clone(), upstream.timeout);
        let base_len = upstream.base_path.len();
        let api = &*api.name;
        let can_retry = pool.can_retry();
        if can_retry {
            pool.record_request();
        }
        // gRPC request streams are long-lived; every other body has a deadline.
        let body_timeout = self.body_timeout.get();
        let (buffered, length, body_limit) = match body {
            // A body a policy read or made: sent as it is, kept for a retry when small.
            RequestBody::Made(bytes) => {
                let length = (can_retry && is_idempotent(&parts.method))
                    .then_some(bytes.len() as u64)
                    .filter(|n| *n <= MAX_REPLAY_BYTES);
                (Ok(bytes), length, self.body_limit.get())
            }
            RequestBody::Client { body, limit } => {
                // Idempotent requests to a pool with another member may be retried there:
                // their body (none, or a small PUT body) is kept to be sent again.
                let length = if can_retry {
                    is_idempotent(&parts.method)
                        .then(|| {
                            replayable_length(
                                &parts.headers,
                                hyper::body::Body::is_end_stream(&body),
                            )
                        })
                        .flatten()
                        .filter(|n| *n <= MAX_REPLAY_BYTES)
                } else {
                    None
                };
                // An HTTP/2 client's `content-length` is held against its DATA frames as
                // they arrive (a mismatch resets the stream); a small body is read in full
                // before anything goes upstream, so a request that lies about its length
                // never reaches the upstream.
                let h2_declared = gantry_listener::declared_length::declared_h2(
                    downstream_version,
                    &parts.headers,
                );
                let checked = h2_declared
                    .filter(|_| length.is_none())
                    .filter(|n| *n <= MAX_REPLAY_BYTES);
                // A larger HTTP/2 body streams, but its last bytes wait for the end of its
                // stream, so one that disagrees with its content-length never reaches the
                // upstream complete.
                let body = gantry_listener::declared_length::DeclaredLength::new(body, h2_declared);
                let body =
                    crate::body_timeout::Deadline::new(body, (!grpc).then_some(body_timeout));
                let buffered = match length.or(checked) {
                    Some(0) => Ok(bytes::Bytes::new()),
                    Some(_) => match body.collect().await {
                        Ok(collected) => Ok(collected.to_bytes()),
                        Err(error) if crate::body_timeout::is_timed_out(error.as_ref()) => {
                            return Err(crate::body_timeout::timed_out(body_timeout));
                        }
                        Err(_) => return Err(unreadable_body()),
                    },
                    None => Err(body),
                };
                (buffered, length, limit)
            }
        };
        let upstream_version = parts.version;
        let (mut outbound, replay) = match buffered {
            Ok(bytes) => {
                let replay = length
                    .is_some()
                    .then(|| (bytes.clone(), parts.method.clone(), parts.headers.clone()));
                (
                    Request::from_parts(
                        parts,
                        UpstreamBody::Right(http_body_util::Full::new(bytes)),
                    ),
                    replay,
                )
            }
            Err(body) => (
                Request::from_parts(
                    parts,
                    UpstreamBody::Left(http_body_util::Limited::new(
                        body,
                        usize::try_from(body_limit).unwrap_or(usize::MAX),
                    )),
                ),
                None,
            ),
        };

        let upstream_started = std::time::Instant::now();
        let mut tried: u64 = 0;
        let mut attempts = 1;
        // The resource path and query, for retries on members with another base path.
        let suffix: Option<String> = replay.as_ref().and_then(|_| {
            let pq = outbound.uri().path_and_query()?.as_str();
            pq.get(base_len.min(pq.len())..).map(str::to_owned)
        });
        let result = loop {
            let in_flight = pool.start(member);
            let result = tokio::time::timeout(timeout, self.clients.send(http2, outbound)).await;
            drop(in_flight);
            let failed = match &result {
                Ok(Err(error)) if error.is_connect() => {
                    // Passive health check: a member that refuses connections sits out.
                    pool.eject(member);
                    true
                }
                Ok(Ok(response)) => matches!(
                    response.status(),
                    StatusCode::BAD_GATEWAY | StatusCode::SERVICE_UNAVAILABLE
                ),
                _ => false,
            };
            let Some((bytes, method, headers)) = replay.as_ref().filter(|_| failed) else {
                break result;
            };
            if attempts >= MAX_ATTEMPTS {
                break result;
            }
            tried |= 1u64 << member.min(63);
            let Some((next, next_upstream)) = pool.pick_untried(tried, member) else {
                break result;
            };
            if !pool.take_retry() {
                break result;
            }
            let Some(uri) = suffix
                .as_deref()
                .and_then(|suffix| retry_uri(next_upstream, suffix))
            else {
                break result;
            };
            tracing::debug!(api, from = %authority, to = %next_upstream.authority, "retrying on another member");
            self.metrics.upstream_retries.inc();
            let mut retry = Request::new(UpstreamBody::Right(http_body_util::Full::new(
                bytes.clone(),
            )));
            *retry.method_mut() = method.clone();
            *retry.version_mut() = upstream_version;
            *retry.headers_mut() = headers.clone();
            retry
                .headers_mut()
                .insert(header::HOST, next_upstream.host.clone());
            *retry.uri_mut() = uri;
            outbound = retry;
            (member, authority, timeout) =
                (next, next_upstream.authority.clone(), next_upstream.timeout);
            attempts += 1;
        };
        outcome.upstream = Some(upstream_started.elapsed());
        match result {
            Ok(Ok(response)) => Ok(response),
            Ok(Err(error)) if crate::body_limit::is_over_limit(&error) => {
                Err(crate::body_limit::too_large(body_limit))
            }
            Ok(Err(error)) if crate::body_timeout::is_timed_out(&error) => {
                tracing::debug!(api, "request body timed out");
                Err(crate::body_timeout::timed_out(body_timeout))
            }
            Ok(Err(error)) if request_body_failed(&error) => {
                // The client's framing broke mid-body (a bad chunk, say): its fault, not
                // the upstream's.
                tracing::debug!(api, %error, "request body unreadable");
                Err(unreadable_body())
            }
            Ok(Err(error)) => {
                tracing::warn!(api, %error, upstream = %authority, "upstream request failed");
                Err(respond::error(
                    StatusCode::BAD_GATEWAY,
                    "101503",
                    "Runtime Error",
                    "Error connecting to the back end",
                ))
            }
            Err(_) => {
                tracing::warn!(
                    api,
                    timeout_ms = timeout.as_millis() as u64,
                    "upstream timed out"
                );
                Err(respond::error(
                    StatusCode::GATEWAY_TIMEOUT,
                    "101504",
                    "Runtime Error",
                    "Gateway timeout while waiting for the back end",
                ))
            }
        }
    }
}

/// Whether an upstream request failed because the client's body failed while hyper sent it
/// (a user-body error caused by the incoming body's own `hyper::Error`; limits and deadlines
/// are told apart before this). Other user errors, such as a dispatch task gone with its
/// upstream connection, are the upstream's.
fn request_body_failed(error: &(dyn std::error::Error + 'static)) -> bool {
    if crate::body_limit::caused_by::<gantry_listener::declared_length::LengthMismatch>(error) {
        return true;
    }
    let mut cause = Some(error);
    while let Some(e) = cause {
        if e.downcast_ref::<hyper::Error>()
            .is_some_and(hyper::Error::is_user)
        {
            return e
                .source()
                .is_some_and(crate::body_limit::caused_by::<hyper::Error>);
        }
        cause = e.source();
    }
    false
}

/// 400 for a request body that could not be read; the connection is closed, as where the
/// next request starts is unknown.
fn unreadable_body() -> Answer {
    let mut response = respond::error(
        StatusCode::BAD_REQUEST,
        "400",
        "Bad Request",
        "The request body could not be read",
    );
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

/// Methods whose requests may be sent twice (RFC 9110 §9.2.2), except POST and PATCH.
fn is_idempotent(method: &http::Method) -> bool {
    matches!(
        *method,
        http::Method::GET
            | http::Method::HEAD
            | http::Method::PUT
            | http::Method::DELETE
            | http::Method::OPTIONS
    )
}

/// The body length when it is known up front (`Content-Length`, or none at all, which
/// means empty for a request); `None` for a chunked body.
fn replayable_length(headers: &HeaderMap, ended: bool) -> Option<u64> {
    if headers.contains_key(header::TRANSFER_ENCODING) {
        return None;
    }
    match headers.get(header::CONTENT_LENGTH) {
        None => ended.then_some(0),
        Some(v) => v.to_str().ok()?.parse().ok(),
    }
}

/// Whether this is a gRPC call: `content-type: application/grpc` (or `+proto`, `;…`) over
/// HTTP/2, which gRPC requires — so HTTP/1 traffic pays one version compare.
pub fn is_grpc(version: http::Version, headers: &HeaderMap) -> bool {
    const GRPC: &[u8] = b"application/grpc";
    version == http::Version::HTTP_2
        && headers.get(header::CONTENT_TYPE).is_some_and(|v| {
            let v = v.as_bytes();
            v.get(..GRPC.len())
                .is_some_and(|p| p.eq_ignore_ascii_case(GRPC))
                && matches!(v.get(GRPC.len()), None | Some(b'+' | b';'))
        })
}

/// The URI of a retry on `upstream`: its base path plus the resource path and query.
fn retry_uri(upstream: &Upstream, suffix: &str) -> Option<Uri> {
    let mut target = String::with_capacity(upstream.base_path.len() + suffix.len() + 1);
    target.push_str(&upstream.base_path);
    if target.is_empty() && !suffix.starts_with('/') {
        target.push('/');
    }
    target.push_str(suffix);
    Uri::builder()
        .scheme(upstream.scheme.clone())
        .authority(upstream.authority.clone())
        .path_and_query(target)
        .build()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn grpc_is_recognised_by_content_type_over_http2_only() {
        let with = |ct: &'static str| {
            let mut h = HeaderMap::new();
            h.insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
            h
        };
        let h2 = http::Version::HTTP_2;
        for grpc in [
            "application/grpc",
            "application/grpc+proto",
            "Application/GRPC; x=1",
        ] {
            assert!(is_grpc(h2, &with(grpc)), "{grpc}");
        }
        for other in [
            "application/grpc-web",
            "application/json",
            "application/grp",
        ] {
            assert!(!is_grpc(h2, &with(other)), "{other}");
        }
        assert!(!is_grpc(h2, &HeaderMap::new()));
        assert!(!is_grpc(http::Version::HTTP_11, &with("application/grpc")));
    }
}
