//! The request path: route → authenticate/authorise → forward to the upstream → relay the
//! response. Reads the compiled configuration through an `ArcSwap` guard; takes no lock.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use arc_swap::ArcSwapOption;
use gantry_model::{AuthType, KeyType, LifecycleState};
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Request, Response, StatusCode, Uri};
use http_body_util::BodyExt;
use hyper::body::Incoming;

use tracing::Instrument as _;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

use crate::auth::{self, Caller};
use crate::metrics::{GatewayMetrics, Name, Outcome};
use crate::ratelimit::{Decision, Limit, RateLimiter, Scope};
use crate::respond::{self, Body};
use crate::routes::{ApiEntry, OperationEntry};
use crate::routes::{CompiledConfig, RouteMatch};
use crate::shared_limit::SharedLimiter;
use crate::upstream_client::{UpstreamBody, UpstreamClients};

/// A request body bigger than this is streamed, never buffered for a retry.
const MAX_REPLAY_BYTES: u64 = 64 * 1024;

/// Most members one request is sent to (the first try and two retries).
const MAX_ATTEMPTS: usize = 3;

/// The proxy: current configuration and the upstream connection pools.
pub struct Proxy {
    config: Arc<ArcSwapOption<CompiledConfig>>,
    clients: UpstreamClients,
    limiter: RateLimiter,
    metrics: Arc<GatewayMetrics>,
    draining: Arc<AtomicBool>,
    shared: std::sync::OnceLock<Arc<SharedLimiter>>,
    /// Re-reads external issuers' JWKS on unknown `kid`s.
    jwks: crate::jwks::JwksRefresher,
    /// Bytes moved per key by this gateway, for bandwidth policies (the limit while Redis
    /// is not configured or away).
    bandwidth: Arc<crate::ratelimit::ByteMeter>,
    /// An upgraded (WebSocket) connection with no bytes either way for this many
    /// milliseconds is closed; 0: never.
    websocket_idle_ms: std::sync::atomic::AtomicU64,
    /// Set from a key file before serving, or generated on first use.
    backend_jwt: std::sync::OnceLock<Option<crate::backend_jwt::BackendJwtSigner>>,
    /// The request body limit (413 beyond it).
    pub(crate) body_limit: crate::body_limit::BodyLimit,
    /// The time a request body may take (408 beyond it).
    pub(crate) body_timeout: crate::body_timeout::BodyTimeout,
}

/// The subscription quota a request was admitted under, for the `RateLimit` headers.
pub struct Quota {
    limit: Arc<Limit>,
    remaining: u64,
    reset: Duration,
}

impl Quota {
    /// `RateLimit-Policy: "Gold";q=5000;w=60` and `RateLimit: "Gold";r=4999;t=1`
    /// (draft-ietf-httpapi-ratelimit-headers).
    fn write_headers(&self, headers: &mut HeaderMap) {
        write_ratelimit_headers(headers, &self.limit, self.remaining, self.reset);
    }
}

fn write_ratelimit_headers(
    headers: &mut HeaderMap,
    limit: &Limit,
    remaining: u64,
    reset: Duration,
) {
    let policy = format!(
        "\"{}\";q={};w={}",
        limit.name,
        limit.count,
        limit.window.as_secs()
    );
    let state = format!(
        "\"{}\";r={remaining};t={}",
        limit.name,
        reset.as_secs_f64().ceil() as u64
    );
    if let (Ok(p), Ok(s)) = (
        HeaderValue::from_str(&policy),
        HeaderValue::from_str(&state),
    ) {
        headers.insert(HeaderName::from_static("ratelimit-policy"), p);
        headers.insert(HeaderName::from_static("ratelimit"), s);
    }
}

impl Proxy {
    /// A proxy reading its configuration from `config`, forwarding with `clients`.
    pub fn new(
        config: Arc<ArcSwapOption<CompiledConfig>>,
        metrics: Arc<GatewayMetrics>,
        draining: Arc<AtomicBool>,
        clients: UpstreamClients,
    ) -> Self {
        Self {
            config,
            clients,
            limiter: RateLimiter::default(),
            jwks: crate::jwks::JwksRefresher::default().with_metrics(metrics.clone()),
            metrics,
            draining,
            shared: std::sync::OnceLock::new(),
            bandwidth: Arc::default(),
            websocket_idle_ms: std::sync::atomic::AtomicU64::new(
                DEFAULT_WEBSOCKET_IDLE.as_millis() as u64,
            ),
            backend_jwt: std::sync::OnceLock::new(),
            body_limit: Default::default(),
            body_timeout: Default::default(),
        }
    }

    /// Closes upgraded (WebSocket) connections idle for `idle` (no bytes either way); zero
    /// keeps them open until a side closes.
    pub fn set_websocket_idle_timeout(&self, idle: Duration) {
        self.websocket_idle_ms.store(
            u64::try_from(idle.as_millis()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }

    /// Whether `GET uri` (over HTTP/2 when `http2`) answers 2xx within `timeout` (an active
    /// health check).
    pub async fn probe(&self, uri: Uri, timeout: Duration, http2: bool) -> bool {
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

    /// Signs backend JWTs with the P-256 key in `pem` (PKCS#8 or SEC1), so every replica of
    /// an environment can share one key. Must be called before the first request.
    pub fn use_backend_jwt_key(&self, pem: &[u8]) -> Result<(), String> {
        let signer = crate::backend_jwt::BackendJwtSigner::from_pem(pem)?;
        self.backend_jwt
            .set(Some(signer))
            .map_err(|_| "the backend JWT key is already set".to_owned())
    }

    fn backend_jwt_signer(&self) -> Option<&crate::backend_jwt::BackendJwtSigner> {
        self.backend_jwt
            .get_or_init(|| {
                crate::backend_jwt::BackendJwtSigner::generate()
                    .inspect_err(|error| tracing::error!(%error, "no backend JWT signing key"))
                    .ok()
            })
            .as_ref()
    }

    /// The public key upstreams verify backend JWTs with, as a JWKS document.
    pub fn backend_jwks(&self) -> Option<&str> {
        self.backend_jwt_signer().map(|s| s.jwks())
    }

    /// Shares this gateway's rate limits with the other gateways of its environment through
    /// the Redis at `url`.
    pub fn use_redis(&self, url: &str, environment: &str) -> Result<(), String> {
        let limiter = SharedLimiter::new(url, environment)?;
        self.shared
            .set(Arc::new(limiter))
            .map_err(|_| "Redis is already configured".to_owned())
    }

    /// Whether limits are shared and Redis answered last time (`None` without Redis).
    pub fn redis_healthy(&self) -> Option<bool> {
        self.shared.get().map(|shared| shared.is_healthy())
    }

    /// One limit decision: shared through Redis when configured and reachable, else local
    /// (GCRA for request counts, this gateway's byte meter for bandwidth).
    async fn decide(&self, scope: Scope, a: &Arc<str>, b: &Arc<str>, limit: &Limit) -> Decision {
        if let Some(shared) = self.shared.get() {
            if let Some(decision) = shared.check(scope, a, b, limit).await {
                return decision;
            }
            self.metrics.ratelimit_fallbacks.inc();
        }
        if limit.bytes {
            self.bandwidth.check(scope, a, b, limit)
        } else {
            self.limiter.check(scope, a, b, limit)
        }
    }

    /// Counts one request against `limit` — its burst control first, on this gateway
    /// alone, so a spike is refused before it spends the tier's (possibly shared) quota.
    /// (remaining, reset) when admitted; otherwise which limit refused it.
    async fn admit(
        &self,
        scope: Scope,
        a: &Arc<str>,
        b: &Arc<str>,
        limit: &Limit,
        charges: &mut Vec<Charge>,
    ) -> Result<(u64, Duration), Throttled> {
        if limit.bytes {
            // A bandwidth policy: admitted while bytes are left; charged what it moves.
            return match self.decide(scope, a, b, limit).await {
                Decision::Allowed { remaining, reset } => {
                    charges.push(Charge {
                        scope,
                        a: a.clone(),
                        b: b.clone(),
                        limit: limit.clone(),
                    });
                    Ok((remaining, reset))
                }
                Decision::Limited { retry_after } => Err(Throttled {
                    scope,
                    limit: limit.clone(),
                    retry_after,
                }),
            };
        }
        if let Some(burst) = &limit.burst
            && let Decision::Limited { retry_after } = self.limiter.check(Scope::Burst, a, b, burst)
        {
            return Err(Throttled {
                scope: Scope::Burst,
                limit: (**burst).clone(),
                retry_after,
            });
        }
        match self.decide(scope, a, b, limit).await {
            Decision::Allowed { remaining, reset } => Ok((remaining, reset)),
            Decision::Limited { retry_after } => Err(Throttled {
                scope,
                limit: limit.clone(),
                retry_after,
            }),
        }
    }

    /// Applies the subscription, application and operation limits, in WSO2's order. Returns
    /// the subscription quota (for response headers) or which limit refused the request.
    async fn rate_limit(
        &self,
        config: &CompiledConfig,
        api: &Arc<ApiEntry>,
        operation: &OperationEntry,
        caller: Option<&Caller>,
        certificate: Option<&crate::mtls::CertificateTier>,
        charges: &mut Vec<Charge>,
    ) -> Result<Option<Quota>, Throttled> {
        let mut quota = None;
        if let Some(tier) = certificate {
            // Admitted by its client certificate alone: the certificate's tier counts its
            // calls to this API, as a subscription tier counts an application's (WSO2).
            let (remaining, reset) = self
                .admit(
                    Scope::Subscription,
                    &tier.key,
                    &api.id,
                    &tier.limit,
                    charges,
                )
                .await?;
            quota = Some(Quota {
                limit: tier.limit.clone(),
                remaining,
                reset,
            });
        }
        if let Some(caller) = caller {
            let app = &caller.application_id;
            if let Some(limit) = config
                .subscriptions
                .get(&(app.clone(), api.id.clone()))
                .and_then(|s| s.limit.as_ref())
            {
                let (remaining, reset) = self
                    .admit(Scope::Subscription, app, &api.id, limit, charges)
                    .await?;
                quota = Some(Quota {
                    limit: limit.clone(),
                    remaining,
                    reset,
                });
            }
            if let Some(limit) = config.application_limits.get(app) {
                self.admit(Scope::Application, app, app, limit, charges)
                    .await?;
            }
        }
        if let Some(limit) = &operation.limit {
            self.admit(Scope::Operation, &api.id, &operation.key, limit, charges)
                .await?;
        }
        Ok(quota)
    }

    /// Handles one request from `peer` (over TLS when `secure`). Every response carries the
    /// request's `X-Correlation-ID` (the client's, or one generated here), as does the
    /// request forwarded upstream.
    pub async fn handle(
        &self,
        mut request: Request<Incoming>,
        peer: SocketAddr,
        secure: bool,
    ) -> Response<Body> {
        let started = std::time::Instant::now();
        let grpc = is_grpc(request.version(), request.headers());
        let correlation_id = correlation_id(request.headers());
        request
            .headers_mut()
            .insert(CORRELATION_ID, correlation_id.clone());
        let method = request.method().clone();
        // A clone shares the request line's bytes: no copy of the path for the log.
        let uri = request.uri().clone();
        let path = uri.path();
        let mut outcome = Outcome {
            request_bytes: request
                .headers()
                .get(header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok()),
            ..Outcome::default()
        };
        // One span per request, continuing the caller's W3C trace; exported over OTLP when
        // configured, and passed upstream as the parent of whatever the upstream does.
        let span = if gantry_telemetry::trace::enabled() {
            let span = tracing::info_span!(
                target: gantry_telemetry::trace::TARGET,
                "gateway request",
                otel.kind = "server",
                http.request.method = %method,
                url.path = %path,
                http.response.status_code = tracing::field::Empty,
            );
            let _ = span.set_parent(gantry_telemetry::trace::extract(request.headers()));
            span
        } else {
            tracing::Span::none()
        };
        let mut cors = None;
        let mut response = self
            .route_and_forward(request, peer, secure, grpc, &mut outcome, &mut cors)
            .instrument(span.clone())
            .await;
        if let Some(cors) = cors {
            cors.apply(response.headers_mut());
        }
        span.record("http.response.status_code", response.status().as_u16());
        let response_bytes = response
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        outcome.response_bytes = response_bytes;
        self.metrics.record(
            &outcome,
            method.as_str(),
            path,
            response.status().as_u16(),
            started.elapsed(),
            correlation_id.to_str().unwrap_or_default(),
        );
        if grpc {
            // A gRPC client reads the outcome from `grpc-status`, not the HTTP status: the
            // gateway's own refusals become Trailers-Only responses, as Envoy's are.
            response = respond::as_grpc(response);
        }
        response
            .headers_mut()
            .insert(CORRELATION_ID, correlation_id);
        if self.draining.load(Ordering::Relaxed)
            && method_version_is_http1(&response)
            && response.status() != StatusCode::SWITCHING_PROTOCOLS
        {
            // Ask HTTP/1 clients to stop reusing this connection, so none of them races a
            // request against the close when the drain ends.
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        response
    }

    async fn route_and_forward(
        &self,
        request: Request<Incoming>,
        peer: SocketAddr,
        secure: bool,
        grpc: bool,
        outcome: &mut Outcome,
        cors: &mut Option<crate::cors::Allowed>,
    ) -> Response<Body> {
        let guard = self.config.load();
        let Some(config) = guard.as_deref() else {
            return respond::error(
                StatusCode::SERVICE_UNAVAILABLE,
                "503",
                "Service Unavailable",
                "The gateway has not received its configuration yet",
            );
        };
        if matches!(
            *request.method(),
            http::Method::TRACE | http::Method::CONNECT
        ) {
            // Never proxied: TRACE reflects credentials, CONNECT would open a tunnel.
            let mut response = respond::error(
                StatusCode::METHOD_NOT_ALLOWED,
                "405",
                "Method not allowed",
                &format!("The gateway does not serve {}", request.method()),
            );
            response.headers_mut().insert(
                header::ALLOW,
                HeaderValue::from_static("GET, HEAD, POST, PUT, DELETE, PATCH, OPTIONS"),
            );
            return response;
        }
        // Routed on and forwarded in one form, so the upstream acts on what was matched.
        let canonical = match crate::canonical_path::canonicalize(request.uri().path()) {
            Ok(path) => path,
            Err(refusal) => return refusal.into_response(),
        };
        let path: &str = &canonical;
        let host = match request_host(&request) {
            Ok(host) => host,
            Err(problem) => {
                return respond::error(StatusCode::BAD_REQUEST, "400", "Bad Request", problem);
            }
        };
        let routed_host = routed_host(&request, host);

        let matched = config.route(host, path, request.method());
        if let RouteMatch::Found { entry, .. } | RouteMatch::MethodNotAllowed(entry) = &matched
            && let Some(policy) = &entry.api.cors
        {
            if crate::cors::is_preflight(request.method(), request.headers()) {
                return policy.preflight(request.headers());
            }
            *cors = request
                .headers()
                .get(header::ORIGIN)
                .and_then(|o| policy.allow(o));
        }
        let (entry, operation) = match matched {
            RouteMatch::Found { entry, operation } => (entry, operation),
            RouteMatch::NotFound => return respond::no_route(),
            RouteMatch::MethodNotAllowed(entry) => {
                let allow = entry
                    .allowed_methods()
                    .map(|m| m.as_str())
                    .collect::<Vec<_>>()
                    .join(", ");
                let mut response = respond::error(
                    StatusCode::METHOD_NOT_ALLOWED,
                    "405",
                    "Method not allowed",
                    &format!("The resource does not support {}", request.method()),
                );
                if let Ok(v) = HeaderValue::from_str(&allow) {
                    response.headers_mut().insert(header::ALLOW, v);
                }
                return response;
            }
        };
        if let Err(refusal) = entry.check_loose_readings(path, request.method(), operation) {
            return refusal.into_response();
        }
        let api = entry.api.clone();
        outcome.api = Some(Name(api.name.clone()));
        outcome.operation = Some(Name(operation.key.clone()));
        if api.lifecycle == LifecycleState::Blocked {
            return respond::error(
                StatusCode::SERVICE_UNAVAILABLE,
                "700700",
                "API blocked",
                "This API has been blocked temporarily. Please try again later or contact the system administrators.",
            );
        }
        let (caller, certificate) = if operation.auth_type == AuthType::None {
            (None, None)
        } else {
            match crate::mtls::authorize(
                config,
                &self.jwks,
                &api,
                operation,
                request.headers(),
                request.uri().query(),
                request.extensions().get(),
            )
            .await
            {
                Ok(crate::mtls::Admitted::Caller(caller)) => {
                    outcome.application = Some(caller.application_id.clone());
                    (Some(caller), None)
                }
                Ok(crate::mtls::Admitted::Certificate(tier)) => (None, tier),
                Err(denied) => {
                    outcome.failure = Some(denied.reason());
                    return denied.into_response();
                }
            }
        };
        // Bandwidth policies the request counts against (empty, unallocated, for most).
        let mut charges = Vec::new();
        let quota = match self
            .rate_limit(
                config,
                &api,
                operation,
                caller.as_ref(),
                certificate.as_ref(),
                &mut charges,
            )
            .await
        {
            Ok(quota) => quota,
            Err(throttled) => {
                outcome.throttled = Some(throttled.scope.label());
                return throttled.into_response();
            }
        };
        if !charges.is_empty() {
            // Request bodies are counted by their declared length (HTTP/1 Content-Length,
            // or an HTTP/2 stream's content-length / end of stream).
            let Some(length) = hyper::body::Body::size_hint(request.body()).exact() else {
                return respond::error(
                    StatusCode::LENGTH_REQUIRED,
                    "411",
                    "Length Required",
                    "This API has a bandwidth limit: send the request body with a Content-Length",
                );
            };
            for charge in &charges {
                charge.spend(&self.bandwidth, self.shared.get(), length);
            }
        }
        let key_type = caller
            .as_ref()
            .map(|c| c.key_type)
            .unwrap_or(KeyType::Production);
        let Some(pool) = api.pool(key_type) else {
            return respond::error(
                StatusCode::FORBIDDEN,
                "900908",
                "Resource forbidden",
                &format!(
                    "The API has no {} endpoint",
                    key_type.as_str().to_ascii_lowercase()
                ),
            );
        };
        let (member, upstream) = pool.pick();
        let remainder = &path[entry.base_path.len().min(path.len())..];
        let mut target = String::with_capacity(upstream.base_path.len() + remainder.len() + 64);
        target.push_str(&upstream.base_path);
        target.push_str(remainder);
        if target.is_empty() {
            target.push('/');
        }
        if let Some(query) = request.uri().query() {
            match &api.api_key {
                Some(key_in) if auth::query_param(query, &key_in.query).is_some() => {
                    // An API key never travels on to the upstream, used or not.
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
        let uri = match Uri::builder()
            .scheme(upstream.scheme.clone())
            .authority(upstream.authority.clone())
            .path_and_query(target)
            .build()
        {
            Ok(uri) => uri,
            Err(_) => {
                return respond::error(
                    StatusCode::BAD_REQUEST,
                    "400",
                    "Bad Request",
                    "The request path cannot be forwarded",
                );
            }
        };
        let timeout = upstream.timeout;
        let upstream_http2 = upstream.http2;
        let authority = upstream.authority.clone();
        let host = upstream.host.clone();
        let base_len = upstream.base_path.len();
        let assertion = match (&caller, api.backend_jwt) {
            (Some(caller), true) => {
                let signed = self
                    .backend_jwt_signer()
                    .and_then(|s| s.assertion(&config.backend_jwt_cache, &api, caller));
                if signed.is_none() {
                    return respond::error(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "900900",
                        "Unclassified Authentication Failure",
                        "The gateway could not sign the backend JWT",
                    );
                }
                signed
            }
            _ => None,
        };
        let operation_headers = operation.headers.clone();
        drop(guard);
        drop(canonical);

        let (mut parts, body) = request.into_parts();
        // A WebSocket handshake keeps its Upgrade header (hop-by-hop, so stripped below and
        // set again); once both sides switch protocols the bytes are relayed as they come.
        let websocket = websocket_upgrade(parts.version, &parts.headers);
        // gRPC needs HTTP/2 end to end; a WebSocket handshake needs HTTP/1.1.
        let http2 = grpc || (upstream_http2 && websocket.is_none());
        strip_hop_by_hop(&mut parts.headers);
        if grpc {
            // Hop-by-hop, but gRPC servers want to know the client takes trailers.
            parts
                .headers
                .insert(header::TE, HeaderValue::from_static("trailers"));
        }
        let client_upgrade = match websocket {
            Some(protocol) => {
                parts
                    .headers
                    .insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
                parts.headers.insert(header::UPGRADE, protocol);
                parts.extensions.remove::<hyper::upgrade::OnUpgrade>()
            }
            None => None,
        };
        parts.headers.remove(&api.authorization_header);
        if let Some(key_in) = &api.api_key {
            parts.headers.remove(&key_in.header);
        }
        // A client cannot forge the gateway's assertion.
        parts.headers.remove(crate::backend_jwt::HEADER);
        if let Some(assertion) = assertion {
            parts.headers.insert(crate::backend_jwt::HEADER, assertion);
        }
        parts.headers.insert(header::HOST, host);
        let peer_ip = IpText::of(peer.ip());
        append_forwarded_for(&mut parts.headers, &peer_ip);
        parts.headers.insert(
            HeaderName::from_static("x-forwarded-proto"),
            HeaderValue::from_static(if secure { "https" } else { "http" }),
        );
        append_forwarded(&mut parts.headers, &peer_ip, secure, routed_host.as_ref());
        if let Some(host) = routed_host {
            parts
                .headers
                .insert(HeaderName::from_static("x-forwarded-host"), host);
        }
        if gantry_telemetry::trace::enabled() {
            gantry_telemetry::trace::inject(
                &tracing::Span::current().context(),
                &mut parts.headers,
            );
        }
        crate::mediation::apply(&api.request_headers, &mut parts.headers);
        if let Some(operation) = &operation_headers {
            crate::mediation::apply(&operation.request, &mut parts.headers);
        }
        parts.uri = uri;
        let downstream_version = parts.version;
        let upstream_version = if http2 {
            http::Version::HTTP_2
        } else {
            http::Version::HTTP_11
        };
        parts.version = upstream_version;
        if downstream_version == http::Version::HTTP_2 && !http2 {
            join_cookies(&mut parts.headers);
        }
        // Idempotent requests to a pool with another member may be retried there: their
        // body (none, or a small PUT body) is kept to be sent again.
        let length = if pool.can_retry() {
            pool.record_request();
            is_idempotent(&parts.method)
                .then(|| replayable_length(&parts.headers, hyper::body::Body::is_end_stream(&body)))
                .flatten()
                .filter(|n| *n <= MAX_REPLAY_BYTES)
        } else {
            None
        };
        // An HTTP/2 client's `content-length` is held against its DATA frames as they arrive
        // (a mismatch resets the stream); a small body is read in full before anything goes
        // upstream, so a request that lies about its length never reaches the upstream.
        let checked = (downstream_version == http::Version::HTTP_2 && length.is_none())
            .then(|| declared_length(&parts.headers))
            .flatten()
            .filter(|n| *n <= MAX_REPLAY_BYTES);
        // gRPC request streams are long-lived; every other body has a deadline.
        let body_timeout = self.body_timeout.get();
        // A larger one streams, but its last bytes wait for the end of its stream.
        let body = crate::declared_length::DeclaredLength::new(
            body,
            (downstream_version == http::Version::HTTP_2)
                .then(|| declared_length(&parts.headers))
                .flatten(),
        );
        let body = crate::body_timeout::Deadline::new(body, (!grpc).then_some(body_timeout));
        let buffered = match length.or(checked) {
            Some(0) => Ok(bytes::Bytes::new()),
            Some(_) => match body.collect().await {
                Ok(collected) => Ok(collected.to_bytes()),
                Err(error) if crate::body_timeout::is_timed_out(error.as_ref()) => {
                    return crate::body_timeout::timed_out(body_timeout);
                }
                Err(_) => return unreadable_body(),
            },
            None => Err(body),
        };
        let (outbound, replay) = match buffered {
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
                        usize::try_from(self.body_limit.get()).unwrap_or(usize::MAX),
                    )),
                ),
                None,
            ),
        };

        let upstream_started = std::time::Instant::now();
        let (mut member, mut authority, mut timeout) = (member, authority, timeout);
        let mut tried: u64 = 0;
        let mut attempts = 1;
        let mut outbound = outbound;
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
            tracing::debug!(api = %api.name, from = %authority, to = %next_upstream.authority, "retrying on another member");
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
            Ok(Ok(response))
                if response.status() == StatusCode::SWITCHING_PROTOCOLS
                    && (client_upgrade.is_none()
                        || !response.headers().contains_key(header::UPGRADE)) =>
            {
                // A switch the client did not ask for (an `Upgrade: h2c` the gateway
                // stripped, say), or one that names no protocol: relaying the 101 without
                // a tunnel would leave the client's connection in limbo, and a tunnel
                // would carry requests past the gateway (h2c smuggling).
                tracing::warn!(api = %api.name, upstream = %authority, "upstream switched protocols unasked");
                respond::error(
                    StatusCode::BAD_GATEWAY,
                    "101503",
                    "Runtime Error",
                    "The back end switched protocols without being asked to",
                )
            }
            Ok(Ok(mut response)) => {
                let tunnel = match client_upgrade {
                    Some(client) if response.status() == StatusCode::SWITCHING_PROTOCOLS => {
                        Some((client, hyper::upgrade::on(&mut response)))
                    }
                    _ => None,
                };
                let (mut parts, body) = response.into_parts();
                let upgrade = tunnel
                    .as_ref()
                    .and_then(|_| parts.headers.get(header::UPGRADE).cloned());
                if parts.headers.contains_key(header::TRANSFER_ENCODING) {
                    // hyper framed the body by Transfer-Encoding and ignored a
                    // Content-Length beside it; passing that length on would make the
                    // client frame the body another way (RFC 9112 §6.3: an intermediary
                    // MUST remove it).
                    parts.headers.remove(header::CONTENT_LENGTH);
                }
                strip_hop_by_hop(&mut parts.headers);
                if let (Some((client, upstream)), Some(protocol)) = (tunnel, upgrade) {
                    parts
                        .headers
                        .insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
                    parts.headers.insert(header::UPGRADE, protocol);
                    let idle =
                        Duration::from_millis(self.websocket_idle_ms.load(Ordering::Relaxed));
                    tokio::spawn(relay_upgraded(client, upstream, api.name.clone(), idle));
                }
                crate::mediation::apply(&api.response_headers, &mut parts.headers);
                if let Some(operation) = &operation_headers {
                    crate::mediation::apply(&operation.response, &mut parts.headers);
                }
                if let Some(quota) = quota {
                    quota.write_headers(&mut parts.headers);
                }
                if charges.is_empty() {
                    Response::from_parts(parts, body.boxed())
                } else {
                    let metered = Metered {
                        inner: body,
                        meter: self.bandwidth.clone(),
                        shared: self.shared.get().cloned(),
                        charges,
                        bytes: 0,
                    };
                    Response::from_parts(parts, metered.boxed())
                }
            }
            Ok(Err(error)) if crate::body_limit::is_over_limit(&error) => {
                crate::body_limit::too_large(self.body_limit.get())
            }
            Ok(Err(error)) if crate::body_timeout::is_timed_out(&error) => {
                tracing::debug!(api = %api.name, "request body timed out");
                crate::body_timeout::timed_out(body_timeout)
            }
            Ok(Err(error)) if request_body_failed(&error) => {
                // The client's framing broke mid-body (a bad chunk, say): its fault, not
                // the upstream's.
                tracing::debug!(api = %api.name, %error, "request body unreadable");
                unreadable_body()
            }
            Ok(Err(error)) => {
                tracing::warn!(api = %api.name, %error, upstream = %authority, "upstream request failed");
                respond::error(
                    StatusCode::BAD_GATEWAY,
                    "101503",
                    "Runtime Error",
                    "Error connecting to the back end",
                )
            }
            Err(_) => {
                tracing::warn!(api = %api.name, timeout_ms = timeout.as_millis() as u64, "upstream timed out");
                respond::error(
                    StatusCode::GATEWAY_TIMEOUT,
                    "101504",
                    "Runtime Error",
                    "Gateway timeout while waiting for the back end",
                )
            }
        }
    }
}

/// How long an upgraded (WebSocket) connection may stay silent before the gateway closes it.
pub const DEFAULT_WEBSOCKET_IDLE: Duration = Duration::from_secs(300);

/// A bandwidth policy a request counts against.
pub struct Charge {
    scope: Scope,
    a: Arc<str>,
    b: Arc<str>,
    limit: Limit,
}

impl Charge {
    /// Counts `bytes` on this gateway's meter, and against the environment's shared allowance
    /// when there is one: both stay true whichever admitted the call, so a switch between
    /// them (Redis going away or coming back) loses no bytes.
    fn spend(
        &self,
        meter: &crate::ratelimit::ByteMeter,
        shared: Option<&Arc<SharedLimiter>>,
        bytes: u64,
    ) {
        if bytes > 0 {
            meter.spend(self.scope, &self.a, &self.b, &self.limit, bytes);
            if let Some(shared) = shared {
                shared.spend(self.scope, &self.a, &self.b, &self.limit, bytes);
            }
        }
    }
}

/// A response body that counts the bytes it relays and charges them to the request's
/// bandwidth policies when it ends (or the client goes away).
struct Metered {
    inner: crate::upstream_client::UpstreamResponseBody,
    meter: Arc<crate::ratelimit::ByteMeter>,
    shared: Option<Arc<SharedLimiter>>,
    charges: Vec<Charge>,
    bytes: u64,
}

impl hyper::body::Body for Metered {
    type Data = bytes::Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
        let this = self.get_mut();
        let polled = std::pin::Pin::new(&mut this.inner).poll_frame(cx);
        if let std::task::Poll::Ready(Some(Ok(frame))) = &polled
            && let Some(data) = frame.data_ref()
        {
            this.bytes = this.bytes.saturating_add(data.len() as u64);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for Metered {
    fn drop(&mut self) {
        for charge in &self.charges {
            charge.spend(&self.meter, self.shared.as_ref(), self.bytes);
        }
    }
}

/// A request refused by a rate limit.
pub struct Throttled {
    scope: Scope,
    limit: Limit,
    retry_after: Duration,
}

impl Throttled {
    /// 429 in Choreo Connect's shape, with `Retry-After` and the `RateLimit` headers.
    fn into_response(self) -> Response<Body> {
        let Throttled {
            scope,
            limit,
            retry_after,
        } = self;
        let mut response = respond::error(
            StatusCode::TOO_MANY_REQUESTS,
            scope.code(),
            "Message throttled out",
            &format!(
                "You have exceeded your quota of {} {} per {} s ({} tier)",
                limit.count,
                if limit.bytes { "bytes" } else { "requests" },
                limit.window.as_secs(),
                limit.name
            ),
        );
        let seconds = retry_after.as_secs_f64().ceil().max(1.0) as u64;
        if let Ok(v) = HeaderValue::from_str(&seconds.to_string()) {
            response.headers_mut().insert(header::RETRY_AFTER, v);
        }
        write_ratelimit_headers(response.headers_mut(), &limit, 0, retry_after);
        response
    }
}

/// The protocol a client asks to switch to, when this is an HTTP/1.1 WebSocket handshake
/// (`Connection: upgrade` and `Upgrade: websocket`).
fn websocket_upgrade(version: http::Version, headers: &HeaderMap) -> Option<HeaderValue> {
    if version != http::Version::HTTP_11 {
        return None;
    }
    let upgrade = headers.get(header::UPGRADE)?;
    let asks = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|token| token.trim().eq_ignore_ascii_case("upgrade"));
    (asks && upgrade.as_bytes().eq_ignore_ascii_case(b"websocket")).then(|| upgrade.clone())
}

/// Relays bytes both ways between an upgraded client connection and the upgraded upstream
/// connection until either side closes, or until no byte has moved either way for `idle`
/// (when not zero); owned by the connection pair, ends with them.
async fn relay_upgraded(
    client: hyper::upgrade::OnUpgrade,
    upstream: hyper::upgrade::OnUpgrade,
    api: Arc<str>,
    idle: Duration,
) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let (client, upstream) = match tokio::try_join!(client, upstream) {
        Ok(pair) => pair,
        Err(error) => {
            tracing::debug!(%api, %error, "protocol switch failed");
            return;
        }
    };
    let client = hyper_util::rt::TokioIo::new(client);
    let upstream = hyper_util::rt::TokioIo::new(upstream);
    let (mut client_rx, mut client_tx) = tokio::io::split(client);
    let (mut upstream_rx, mut upstream_tx) = tokio::io::split(upstream);
    let mut from_client = vec![0u8; 16 * 1024];
    let mut from_upstream = vec![0u8; 16 * 1024];
    let (mut sent, mut received) = (0u64, 0u64);
    let watching = !idle.is_zero();
    let idle_timer = tokio::time::sleep(if watching {
        idle
    } else {
        Duration::from_secs(3600)
    });
    tokio::pin!(idle_timer);
    let ended = loop {
        tokio::select! {
            read = client_rx.read(&mut from_client) => match read {
                Ok(0) | Err(_) => break "closed",
                Ok(n) => {
                    if upstream_tx.write_all(&from_client[..n]).await.is_err() {
                        break "closed";
                    }
                    sent += n as u64;
                }
            },
            read = upstream_rx.read(&mut from_upstream) => match read {
                Ok(0) | Err(_) => break "closed",
                Ok(n) => {
                    if client_tx.write_all(&from_upstream[..n]).await.is_err() {
                        break "closed";
                    }
                    received += n as u64;
                }
            },
            () = &mut idle_timer, if watching => break "idle",
        }
        if watching {
            idle_timer
                .as_mut()
                .reset(tokio::time::Instant::now() + idle);
        }
    };
    let _ = client_tx.shutdown().await;
    let _ = upstream_tx.shutdown().await;
    tracing::debug!(%api, sent, received, ended, "upgraded connection closed");
}

/// Whether an upstream request failed because the client's body failed while hyper sent it
/// (a user-body error caused by the incoming body's own `hyper::Error`; limits and deadlines
/// are told apart before this). Other user errors, such as a dispatch task gone with its
/// upstream connection, are the upstream's.
fn request_body_failed(error: &(dyn std::error::Error + 'static)) -> bool {
    if crate::body_limit::caused_by::<crate::declared_length::LengthMismatch>(error) {
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
fn unreadable_body() -> Response<Body> {
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

/// HTTP/2 may split `cookie` into one field per pair; an HTTP/1.1 upstream gets them in one
/// line, joined by `; ` (RFC 9113 §8.2.3).
fn join_cookies(headers: &mut HeaderMap) {
    let mut values = headers.get_all(header::COOKIE).iter();
    if values.next().is_none() || values.next().is_none() {
        return;
    }
    let joined = headers
        .get_all(header::COOKIE)
        .iter()
        .map(|v| v.as_bytes())
        .collect::<Vec<_>>()
        .join(&b"; "[..]);
    if let Ok(value) = HeaderValue::from_bytes(&joined) {
        headers.insert(header::COOKIE, value);
    }
}

/// The `content-length` a request declares, if any.
fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

/// Whether this is a gRPC call: `content-type: application/grpc` (or `+proto`, `;…`) over
/// HTTP/2, which gRPC requires — so HTTP/1 traffic pays one version compare.
fn is_grpc(version: http::Version, headers: &HeaderMap) -> bool {
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
fn retry_uri(upstream: &crate::upstream::Upstream, suffix: &str) -> Option<Uri> {
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

fn method_version_is_http1(response: &Response<Body>) -> bool {
    response.version() != http::Version::HTTP_2
}

const CORRELATION_ID: HeaderName = HeaderName::from_static("x-correlation-id");

/// 64 random bits for correlation ids: wyrand on a per-thread state seeded once from the
/// system's CSPRNG. A correlation id must be unique, not unpredictable, and drawing from
/// aws-lc's DRBG on every request cost ~1.5 % of the plain proxy's CPU.
fn next_id_bits() -> u64 {
    thread_local! {
        static STATE: std::cell::Cell<u64> = std::cell::Cell::new({
            let mut seed = [0u8; 8];
            let _ = aws_lc_rs::rand::SecureRandom::fill(
                &aws_lc_rs::rand::SystemRandom::new(),
                &mut seed,
            );
            u64::from_le_bytes(seed)
        });
    }
    STATE.with(|state| {
        let s = state.get().wrapping_add(0xa076_1d64_78bd_642f);
        state.set(s);
        let t = u128::from(s) * u128::from(s ^ 0xe703_7ed1_a0b4_28db);
        ((t >> 64) as u64) ^ (t as u64)
    })
}

/// The client's correlation id when it is a sane token (≤ 128 visible ASCII characters),
/// else a new random one.
fn correlation_id(headers: &HeaderMap) -> HeaderValue {
    if let Some(v) = headers.get(&CORRELATION_ID)
        && !v.is_empty()
        && v.len() <= 128
        && v.as_bytes().iter().all(|b| b.is_ascii_graphic())
    {
        return v.clone();
    }
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&next_id_bits().to_le_bytes());
    bytes[8..].copy_from_slice(&next_id_bits().to_le_bytes());
    // A version-4 UUID: version nibble 4, RFC 4122 variant bits 10.
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut text = [0u8; 36];
    let mut at = 0;
    for (i, b) in bytes.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            text[at] = b'-';
            at += 1;
        }
        text[at] = HEX[usize::from(b >> 4)];
        text[at + 1] = HEX[usize::from(b & 0x0f)];
        at += 2;
    }
    HeaderValue::from_bytes(&text).unwrap_or_else(|_| HeaderValue::from_static("unknown"))
}

/// The host a request is routed by: the target's authority when it has one (absolute-form
/// or HTTP/2 `:authority`, which RFC 9112 §3.2.2 says wins over `Host`), else its one
/// `Host` header. Two `Host` headers, none on HTTP/1.1, or one that is not `host[:port]`
/// (userinfo, spaces, …) is a 400 (RFC 9112 §3.2).
fn request_host<B>(request: &Request<B>) -> Result<&str, &'static str> {
    let host = match request.uri().authority() {
        Some(authority) => authority.as_str(),
        None => {
            let mut hosts = request.headers().get_all(header::HOST).iter();
            match (hosts.next(), hosts.next()) {
                (Some(_), Some(_)) => return Err("The request has more than one Host header"),
                (Some(host), None) => host
                    .to_str()
                    .map_err(|_| "The Host header is not a host name")?,
                (None, _) if request.version() == http::Version::HTTP_11 => {
                    return Err("The request has no Host header");
                }
                (None, _) => "",
            }
        }
    };
    if is_host_and_port(host) || host.is_empty() {
        Ok(host)
    } else {
        Err("The Host header is not a host name")
    }
}

/// The authority `host` the request was routed on, for `X-Forwarded-Host` and `Forwarded:
/// host=`: the `Host` header itself (no copy) when routing read it, the target's authority
/// (absolute form, HTTP/2 `:authority`) otherwise.
fn routed_host<B>(request: &Request<B>, host: &str) -> Option<HeaderValue> {
    match request.uri().authority() {
        None => request.headers().get(header::HOST).cloned(),
        Some(_) => HeaderValue::from_str(host).ok(),
    }
    .filter(|h| !h.is_empty())
}

/// `name[:port]` or `[v6]:port`, nothing else (no userinfo, no spaces).
fn is_host_and_port(host: &str) -> bool {
    let (name, port) = if let Some(rest) = host.strip_prefix('[') {
        match rest.split_once(']') {
            Some((v6, port))
                if !v6.is_empty()
                    && v6
                        .bytes()
                        .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.') =>
            {
                ("v6", port)
            }
            _ => return false,
        }
    } else {
        match host.rsplit_once(':') {
            Some((name, port)) => (name, &host[name.len()..][..port.len() + 1]),
            None => (host, ""),
        }
    };
    let port_ok = port.is_empty()
        || (port.len() > 1
            && port.starts_with(':')
            && port.len() <= 6
            && port[1..].bytes().all(|b| b.is_ascii_digit()));
    !name.is_empty()
        && port_ok
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
}

const HOP_COUNT: usize = 9;
/// In the order `strip_hop_by_hop` numbers them.
static HOP_BY_HOP: [HeaderName; HOP_COUNT] = [
    header::CONNECTION,
    // The h2c upgrade's settings (RFC 7540 §3.2.1): for this hop only.
    HeaderName::from_static("http2-settings"),
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
];

fn strip_hop_by_hop(headers: &mut HeaderMap) {
    // One pass over the names the message has (a handful) finds which hop-by-hop headers
    // are there; most messages have none, or only `Connection`, and a hashed remove for
    // each of the nine names cost more than the rest of the header handling.
    let mut present = [false; HOP_COUNT];
    let mut any = false;
    for name in headers.keys() {
        // Lower-case names, compared as text: `HeaderName` equality against each of the
        // nine, for every header, cost as much as the removes it replaced.
        let i = match name.as_str() {
            "connection" => 0,
            "http2-settings" => 1,
            "proxy-authorization" => 2,
            "te" => 3,
            "trailer" => 4,
            "transfer-encoding" => 5,
            "upgrade" => 6,
            "keep-alive" => 7,
            "proxy-connection" => 8,
            _ => continue,
        };
        present[i] = true;
        any = true;
    }
    if !any {
        return;
    }
    // Headers named in Connection are hop-by-hop too (RFC 9110 §7.6.1).
    if present[0] {
        let named: Vec<HeaderName> = headers
            .get_all(header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
            .filter(|name| !HOP_BY_HOP.contains(name))
            .collect();
        for name in &named {
            headers.remove(name);
        }
    }
    for (name, present) in HOP_BY_HOP.iter().zip(present) {
        if present {
            headers.remove(name);
        }
    }
}

fn append_forwarded_for(headers: &mut HeaderMap, ip: &IpText) {
    let name = HeaderName::from_static("x-forwarded-for");
    let value = match headers.get(&name) {
        Some(existing) => {
            let mut joined = Vec::with_capacity(existing.len() + 2 + ip.as_str().len());
            joined.extend_from_slice(existing.as_bytes());
            joined.extend_from_slice(b", ");
            joined.extend_from_slice(ip.as_str().as_bytes());
            HeaderValue::from_bytes(&joined)
        }
        None => HeaderValue::from_str(ip.as_str()),
    };
    if let Ok(v) = value {
        headers.insert(name, v);
    }
}

/// An IP address as text in a stack buffer (the longest IPv6 text is 45 bytes): the
/// forwarding headers of every request need it, and `to_string` allocated each time.
struct IpText {
    buf: [u8; 48],
    len: usize,
    v6: bool,
}

impl IpText {
    fn of(ip: std::net::IpAddr) -> Self {
        use std::io::Write as _;
        let mut buf = [0u8; 48];
        if let std::net::IpAddr::V4(v4) = ip {
            // Dotted decimal by hand: `Display` for an address costs as much as the rest
            // of the forwarding headers together.
            let mut len = 0;
            for (i, octet) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    buf[len] = b'.';
                    len += 1;
                }
                if octet >= 100 {
                    buf[len] = b'0' + octet / 100;
                    len += 1;
                }
                if octet >= 10 {
                    buf[len] = b'0' + octet / 10 % 10;
                    len += 1;
                }
                buf[len] = b'0' + octet % 10;
                len += 1;
            }
            return Self {
                buf,
                len,
                v6: false,
            };
        }
        let mut cursor = std::io::Cursor::new(&mut buf[..]);
        let _ = write!(cursor, "{ip}");
        let len = usize::try_from(cursor.position()).unwrap_or(0);
        Self { buf, len, v6: true }
    }

    fn as_str(&self) -> &str {
        std::str::from_utf8(&self.buf[..self.len]).unwrap_or_default()
    }
}

/// Appends this hop's element to `Forwarded` (RFC 7239), as `X-Forwarded-For` is appended:
/// `for=` the peer (IPv6 quoted and bracketed), `proto=`, and `host=` the authority routed on
/// (quoted unless it is a token; left out when it is not visible ASCII).
fn append_forwarded(
    headers: &mut HeaderMap,
    ip: &IpText,
    secure: bool,
    host: Option<&HeaderValue>,
) {
    let existing = headers.get(header::FORWARDED).and_then(|v| v.to_str().ok());
    let mut value = String::with_capacity(existing.map_or(0, str::len) + 96);
    if let Some(existing) = existing {
        value.push_str(existing);
        value.push_str(", ");
    }
    if ip.v6 {
        value.push_str("for=\"[");
        value.push_str(ip.as_str());
        value.push_str("]\"");
    } else {
        value.push_str("for=");
        value.push_str(ip.as_str());
    }
    value.push_str(if secure {
        ";proto=https"
    } else {
        ";proto=http"
    });
    if let Some(host) = host.and_then(|h| h.to_str().ok()).filter(|h| !h.is_empty()) {
        let token = host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
        value.push_str(";host=");
        if token {
            value.push_str(host);
        } else {
            value.push('"');
            for c in host.chars() {
                if c == '"' || c == '\\' {
                    value.push('\\');
                }
                value.push(c);
            }
            value.push('"');
        }
    }
    if let Ok(v) = HeaderValue::from_str(&value) {
        headers.insert(header::FORWARDED, v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ip_text_matches_display() {
        for ip in [
            "0.0.0.0",
            "127.0.0.1",
            "10.20.30.40",
            "255.255.255.255",
            "192.168.100.9",
            "::1",
            "2001:db8::7",
            "::ffff:10.0.0.1",
        ] {
            let ip: std::net::IpAddr = ip.parse().unwrap();
            assert_eq!(IpText::of(ip).as_str(), ip.to_string());
        }
    }

    #[test]
    fn forwarded_is_appended_with_ipv6_and_host_quoted() {
        let mut h = HeaderMap::new();
        let v4: SocketAddr = "10.1.2.3:5000".parse().unwrap();
        append_forwarded(
            &mut h,
            &IpText::of(v4.ip()),
            false,
            Some(&HeaderValue::from_static("api.example")),
        );
        assert_eq!(
            h[header::FORWARDED],
            "for=10.1.2.3;proto=http;host=api.example"
        );

        let v6: SocketAddr = "[2001:db8::7]:443".parse().unwrap();
        append_forwarded(
            &mut h,
            &IpText::of(v6.ip()),
            true,
            Some(&HeaderValue::from_static("localhost:9090")),
        );
        assert_eq!(
            h[header::FORWARDED],
            "for=10.1.2.3;proto=http;host=api.example, for=\"[2001:db8::7]\";proto=https;host=\"localhost:9090\""
        );
        assert_eq!(h.get_all(header::FORWARDED).iter().count(), 1);

        let mut h = HeaderMap::new();
        append_forwarded(&mut h, &IpText::of(v4.ip()), false, None);
        assert_eq!(h[header::FORWARDED], "for=10.1.2.3;proto=http");
    }

    #[test]
    fn generated_correlation_ids_are_uuid_v4_and_client_ones_are_kept() {
        let id = correlation_id(&HeaderMap::new());
        let text = id.to_str().unwrap();
        assert_eq!(text.len(), 36);
        assert_eq!(&text[14..15], "4", "version nibble: {text}");
        assert!(
            matches!(&text[19..20], "8" | "9" | "a" | "b"),
            "variant: {text}"
        );
        let mut h = HeaderMap::new();
        h.insert("x-correlation-id", HeaderValue::from_static("abc"));
        assert_eq!(correlation_id(&h), "abc");
        h.insert("x-correlation-id", HeaderValue::from_static("has space"));
        assert_ne!(correlation_id(&h), "has space");
        // Generated ones do not repeat.
        let ids: std::collections::HashSet<HeaderValue> = (0..100_000)
            .map(|_| correlation_id(&HeaderMap::new()))
            .collect();
        assert_eq!(ids.len(), 100_000);
    }

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

    #[test]
    fn split_http2_cookies_are_joined_for_http1() {
        let mut h = HeaderMap::new();
        h.append(header::COOKIE, HeaderValue::from_static("a=1"));
        h.append(header::COOKIE, HeaderValue::from_static("b=2"));
        join_cookies(&mut h);
        assert_eq!(h.get_all(header::COOKIE).iter().count(), 1);
        assert_eq!(h[header::COOKIE], "a=1; b=2");
        let mut one = HeaderMap::new();
        one.insert(header::COOKIE, HeaderValue::from_static("a=1"));
        join_cookies(&mut one);
        assert_eq!(one[header::COOKIE], "a=1");
    }

    #[test]
    fn hosts_are_name_and_port_only() {
        for good in [
            "localhost",
            "localhost:9090",
            "api.example.com",
            "[::1]:9090",
            "[::1]",
            "127.0.0.1:80",
        ] {
            assert!(is_host_and_port(good), "{good}");
        }
        for bad in [
            "localhost:80@evil",
            "a b",
            "evil/x",
            "host:",
            "host:99999999",
            "[::1",
            "user@host",
            "h:x",
            "::1",
            "[]",
        ] {
            assert!(!is_host_and_port(bad), "{bad}");
        }
    }

    #[test]
    fn strips_connection_named_and_hop_by_hop_headers() {
        let mut h = HeaderMap::new();
        h.insert(
            header::CONNECTION,
            HeaderValue::from_static("close, x-secret"),
        );
        h.insert("x-secret", HeaderValue::from_static("1"));
        h.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        h.insert(
            header::TRANSFER_ENCODING,
            HeaderValue::from_static("chunked"),
        );
        h.insert(
            "http2-settings",
            HeaderValue::from_static("AAMAAABkAAQAAP__"),
        );
        h.insert("x-kept", HeaderValue::from_static("1"));
        strip_hop_by_hop(&mut h);
        assert_eq!(h.len(), 1);
        assert!(h.contains_key("x-kept"));

        // Each hop-by-hop header alone, and with the others.
        let mut all = HeaderMap::new();
        for name in &HOP_BY_HOP {
            let mut one = HeaderMap::new();
            one.insert(name.clone(), HeaderValue::from_static("x"));
            one.insert("x-kept", HeaderValue::from_static("1"));
            strip_hop_by_hop(&mut one);
            assert_eq!(one.keys().collect::<Vec<_>>(), ["x-kept"], "{name}");
            all.insert(name.clone(), HeaderValue::from_static("x"));
        }
        strip_hop_by_hop(&mut all);
        assert!(all.is_empty());
    }
}
