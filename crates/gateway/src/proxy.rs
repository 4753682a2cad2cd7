//! The request path: one request through the stages of `stage/`, in order, on the compiled
//! configuration of the moment (an `ArcSwap` guard; no lock). [`Proxy::stages`] is the
//! whole path on one screen; `handle` wraps it with what every response gets (correlation
//! id, CORS headers, metrics and the access log, gRPC status mapping, drain).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use arc_swap::ArcSwapOption;
use http::header::{self, HeaderValue};
use http::{Request, Response, StatusCode, Uri};
use hyper::body::{Body as _, Incoming};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument as _;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

use crate::backend_jwt::BackendJwtSigner;
use crate::compiled::CompiledConfig;
use crate::compiled::canary::REVISION_HEADER;
use crate::correlation::{CORRELATION_ID, correlation_id};
use crate::error::GatewayError;
use crate::metrics::{GatewayMetrics, Outcome};
use crate::policy::callout::Invocation;
use crate::policy::run::Exchange;
use crate::policy::{self, Chain};
use crate::respond::{self, Body};
use crate::stage::authenticate::Authenticated;
use crate::stage::route::Routed;
use crate::stage::{self, Answer};
use crate::upstream_client::UpstreamClients;

/// How long an upgraded (WebSocket) connection may stay silent before the gateway closes it.
pub const DEFAULT_WEBSOCKET_IDLE: Duration = Duration::from_secs(300);

/// A message's `Content-Length`, when it has a valid one.
fn content_length(headers: &http::HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
}

/// The client's side of a call with policies, kept for interceptor services: the method and
/// path as sent, the correlation id, the address.
struct ClientCall {
    method: http::Method,
    path: String,
    request_id: String,
    peer: SocketAddr,
}

impl ClientCall {
    fn of<B>(request: &Request<B>, peer: SocketAddr) -> Self {
        Self {
            method: request.method().clone(),
            path: request.uri().path_and_query().map_or_else(
                || request.uri().path().to_owned(),
                |pq| pq.as_str().to_owned(),
            ),
            request_id: request
                .headers()
                .get(CORRELATION_ID)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned(),
            peer,
        }
    }

    fn invocation<'a>(&'a self, api: &'a crate::compiled::ApiEntry) -> Invocation<'a> {
        Invocation {
            method: self.method.as_str(),
            path: &self.path,
            api_name: &api.name,
            api_version: &api.version,
            base_path: &api.base_path,
            request_id: &self.request_id,
            source: self.peer.ip(),
        }
    }
}

/// The response flow of `chain`, if any, on `response`.
async fn policy_response(
    chain: Option<&Chain>,
    response: Response<Body>,
    exchange: &Exchange<'_>,
) -> Response<Body> {
    match chain {
        Some(chain) => policy::run::response(chain, response, exchange).await,
        None => response,
    }
}

/// The proxy: the current configuration and what each stage keeps between requests.
pub struct Proxy {
    config: Arc<ArcSwapOption<CompiledConfig>>,
    metrics: Arc<GatewayMetrics>,
    draining: Arc<AtomicBool>,
    /// Re-reads external issuers' JWKS on unknown `kid`s (authenticate).
    jwks: crate::authn::jwks_refresher::JwksRefresher,
    /// Rate-limit and bandwidth counters (limit).
    pub(crate) limits: stage::limit::Limiters,
    /// Connection pools and request-body limits (forward).
    pub(crate) forwarder: stage::forward::Forwarder,
    /// Provider credentials of AI APIs (ai).
    pub(crate) ai: stage::ai::AiGateway,
    /// Set from a key file before serving, or generated on first use.
    backend_jwt: std::sync::OnceLock<Option<BackendJwtSigner>>,
    /// An upgraded (WebSocket) connection with no bytes either way for this many
    /// milliseconds is closed; 0: never.
    websocket_idle_ms: AtomicU64,
    /// WebSocket tunnels and WebSub verifications and deliveries, ended by
    /// [`Proxy::end_tunnels`].
    tunnels: TaskTracker,
    /// The hub of the WebSub APIs.
    hub: Arc<crate::websub_hub::Hub>,
    tunnels_stop: CancellationToken,
    /// Active health checks (`health.rs`), ended by [`Proxy::end_probes`].
    pub(crate) probes: TaskTracker,
    pub(crate) probes_stop: CancellationToken,
    /// MCP sessions of the MCP servers served here (`stage/mcp`).
    mcp_sessions: stage::mcp::session::Sessions,
}

impl Proxy {
    /// A proxy reading its configuration from `config`, forwarding with `clients`.
    pub fn new(
        config: Arc<ArcSwapOption<CompiledConfig>>,
        metrics: Arc<GatewayMetrics>,
        draining: Arc<AtomicBool>,
        clients: UpstreamClients,
    ) -> Self {
        let tunnels = TaskTracker::new();
        let tunnels_stop = CancellationToken::new();
        let hub = crate::websub_hub::Hub::new(&clients, tunnels.clone(), tunnels_stop.clone());
        Self {
            hub,
            config,
            jwks: crate::authn::jwks_refresher::JwksRefresher::default()
                .with_metrics(metrics.clone()),
            limits: stage::limit::Limiters::new(metrics.clone()),
            forwarder: stage::forward::Forwarder::new(clients, metrics.clone()),
            ai: stage::ai::AiGateway::new(metrics.clone()),
            metrics,
            draining,
            backend_jwt: std::sync::OnceLock::new(),
            websocket_idle_ms: AtomicU64::new(DEFAULT_WEBSOCKET_IDLE.as_millis() as u64),
            tunnels,
            tunnels_stop,
            probes: TaskTracker::new(),
            probes_stop: CancellationToken::new(),
            mcp_sessions: Default::default(),
        }
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
        let grpc = stage::forward::is_grpc(request.version(), request.headers());
        let correlation_id = correlation_id(request.headers());
        request
            .headers_mut()
            .insert(CORRELATION_ID, correlation_id.clone());
        let method = request.method().clone();
        // A clone shares the request line's bytes: no copy of the path for the log.
        let uri = request.uri().clone();
        let path = uri.path();
        // Body sizes are for the access log alone: not read while it is off.
        let access_log = gantry_telemetry::access::enabled();
        let mut outcome = Outcome {
            request_bytes: access_log
                .then(|| content_length(request.headers()))
                .flatten(),
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
        // hyper stops reading a body the stages leave unread, and closes the connection
        // after the answer: an answer given before the body was read says so, so an HTTP/1
        // client does not reuse the connection and race its next request against the close
        // (Envoy does the same for a local reply to an incomplete request).
        let body_pending =
            request.version() <= http::Version::HTTP_11 && !request.body().is_end_stream();
        let mut cors = None;
        let mut soap = None;
        let mut fault = None;
        // The stages' future is large (it holds the request, the upstream call and the relay
        // across their awaits); boxed, it is built once where it runs, and the small future
        // hyper moves around per request holds a pointer to it (callgrind: fewer instructions
        // per request than moving it inline, despite the allocation).
        let staged = Box::pin(self.stages(
            request,
            peer,
            secure,
            grpc,
            &mut outcome,
            &mut cors,
            &mut soap,
            &mut fault,
        ))
        .instrument(span.clone())
        .await;
        let answered_early = body_pending && !outcome.body_read && staged.is_err();
        let mut response = staged.unwrap_or_else(|answer| answer);
        if let Some(chain) = fault
            && response.extensions().get::<respond::Generated>().is_some()
        {
            policy::run::fault(&chain, &mut response);
        }
        if let Some(cors) = cors {
            cors.apply(response.headers_mut());
        }
        span.record("http.response.status_code", response.status().as_u16());
        if access_log {
            outcome.response_bytes = content_length(response.headers());
        }
        let elapsed = started.elapsed();
        if let Some(revision) = &outcome.revision {
            revision.record(response.status().as_u16(), elapsed);
        }
        if let Some(series) = &outcome.revision_series {
            series.record(response.status().as_u16());
        }
        self.metrics.record(
            &outcome,
            method.as_str(),
            path,
            response.status().as_u16(),
            elapsed,
            &correlation_id,
        );
        if grpc {
            // A gRPC client reads the outcome from `grpc-status`, not the HTTP status: the
            // gateway's own refusals become Trailers-Only responses, as Envoy's are.
            response = respond::as_grpc(response);
        }
        if let Some(version) = soap {
            // A SOAP client reads the gateway's refusals as SOAP faults.
            response = stage::soap::fault(version, response);
        }
        response
            .headers_mut()
            .insert(CORRELATION_ID, correlation_id);
        if (answered_early || self.draining.load(Ordering::Relaxed))
            && response.version() != http::Version::HTTP_2
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

    /// The request path. Each line is a stage; an `Err` is the answer given instead. The
    /// operation's policies are handed back in `fault` for the fault flow.
    #[allow(clippy::too_many_arguments)]
    async fn stages(
        &self,
        request: Request<Incoming>,
        peer: SocketAddr,
        secure: bool,
        grpc: bool,
        outcome: &mut Outcome,
        cors: &mut Option<crate::compiled::cors::Allowed>,
        soap: &mut Option<stage::soap::SoapVersion>,
        fault: &mut Option<Arc<Chain>>,
    ) -> Result<Response<Body>, Answer> {
        // The body apart from the head: the stages read the head, and the GraphQL stage
        // may read the body while they do.
        let (head, mut body) = request.into_parts();
        let request = Request::from_parts(head, ());
        let guard = self.config.load();
        let config = guard.as_deref().ok_or_else(respond::not_configured)?;
        let target = stage::target::read(&request)?;
        if let Some(metadata) =
            stage::mcp::metadata::answer(config, &target, request.method(), secure)
        {
            return Ok(metadata);
        }
        let matched = stage::route::lookup(config, &target, request.method());
        *cors = stage::cors::check(&matched, request.method(), request.headers())?;
        let mut routed =
            stage::route::resolve(config, matched, &target, request.method(), outcome)?;
        stage::soap::dispatch(&mut routed, request.headers(), soap, outcome)?;
        *fault = routed.policies().cloned();
        stage::deny::by_address(config, &routed, peer.ip(), outcome)?;
        if routed.api.mcp.is_some() {
            let arrival = stage::mcp::Arrival::of(target, &routed, peer, secure);
            let request = Request::from_parts(request.into_parts().0, body);
            return self.mcp(config, routed, arrival, request, outcome).await;
        }
        let websocket = stage::websocket::asked(request.version(), request.headers());
        let (routed, graphql) =
            stage::graphql::read(routed, &request, &mut body, websocket.is_some(), outcome).await?;
        let who = stage::authenticate::run(config, &self.jwks, &routed, &request, outcome).await?;
        stage::deny::by_caller(config, &who, outcome)?;
        let (routed, revision) =
            stage::revision::pick(config, routed, &who, &request, &target, outcome)?;
        // A canary revision brings its own policies.
        let chain = routed.policies().cloned();
        fault.clone_from(&chain);
        stage::authorise::check(config, &routed, &who, outcome)?;
        stage::graphql::check(
            config,
            &routed,
            graphql.as_ref(),
            &who,
            &self.limits,
            outcome,
        )
        .await?;
        let subscriptions =
            stage::graphql_ws::Session::of(config, &routed, &who, websocket.is_some());
        let body_length = stage::graphql::body_length(graphql.as_ref(), &body);
        let call = stage::limit::Call::of(&request, body_length, peer.ip());
        let granted = self
            .limits
            .check(config, &routed, &who, call, outcome)
            .await?;
        if let Some(call) = stage::websub::hub_call(&routed, &who, target.host) {
            drop(guard);
            let counters = self.limits.local_counters();
            let request = Request::from_parts(request.into_parts().0, body);
            let answer =
                stage::websub::answer(&self.hub, &self.config, counters, call, request).await;
            // The hub reads the whole body before it answers, unless the body is too large.
            outcome.body_read = answer.status() != StatusCode::PAYLOAD_TOO_LARGE;
            return Err(answer);
        }
        let mut events =
            stage::events::EventQuota::of(self.limits.local_counters(), config, &routed, &who);
        let topic = stage::ws_topics::handshake(
            &routed,
            &who,
            &request,
            &mut events,
            self.websocket_idle(),
        )?;
        let api = routed.api.clone();
        if let Some(mock) = chain.as_deref().and_then(Chain::mock_response) {
            drop(guard);
            let client = ClientCall::of(&request, peer);
            let exchange = self.exchange(client.invocation(&api));
            // Answered without reading the body, as a refusal is (see `handle`).
            return Err(policy_response(chain.as_deref(), mock, &exchange).await);
        }
        let mut to = stage::forward::destination(
            &api,
            chain.as_deref().and_then(|c| c.endpoint.as_deref()),
            &routed.entry.base_path,
            who.key_type(),
            &target.path,
            request.uri().query(),
        )?;
        let mut ai =
            stage::ai::admit(&self.ai, &self.limits, config, &routed, &who, &to, outcome).await?;
        let routed_host = target.routed_host;
        let assertion = self.backend_jwt(config, &routed, &who)?;
        let document = graphql.map(|selected| selected.body);
        drop(guard);

        let client = chain.as_ref().map(|_| ClientCall::of(&request, peer));
        let (mut parts, ()) = request.into_parts();
        let downstream_version = parts.version;
        let upgrade = stage::mediate::prepare(
            &mut parts,
            std::mem::take(&mut to.uri),
            stage::mediate::Mediation {
                api: &api,
                assertion,
                upstream_host: to.host(),
                // gRPC needs HTTP/2 end to end; a WebSocket handshake needs HTTP/1.1.
                http2: grpc || (to.http2() && websocket.is_none()),
                grpc,
                websocket,
                routed_host,
                peer,
                secure,
            },
        );
        // The revision header is the gateway's word: a client's own never reaches upstream.
        match revision {
            Some(revision) => parts.headers.insert(REVISION_HEADER, revision),
            None => parts.headers.remove(REVISION_HEADER),
        };
        let exchange = client.as_ref().map(|c| self.exchange(c.invocation(&api)));
        let body = stage::graphql::body(body, document, self.forwarder.body_limit.get());
        let body = match (chain.as_deref(), &exchange) {
            (Some(chain), Some(exchange)) => {
                policy::run::request(chain, &mut parts, body, to.base_len(), exchange).await?
            }
            _ => body,
        };
        let outbound = Request::from_parts(parts, body);
        outcome.body_read = true;
        let response = match ai.as_mut() {
            Some(call) => {
                call.send(&self.ai, &self.forwarder, outbound, outcome)
                    .await?
            }
            None => {
                self.forwarder
                    .send(outbound, to, grpc, downstream_version, outcome)
                    .await?
            }
        };
        let response = stage::relay::response(
            response,
            &api,
            upgrade,
            match (topic, subscriptions) {
                (Some(rules), _) => stage::relay::Tunnel::Topic(rules),
                (None, Some(session)) => stage::relay::Tunnel::GraphQl {
                    session,
                    idle: self.websocket_idle(),
                },
                (None, None) => stage::relay::Tunnel::Bytes {
                    idle: self.websocket_idle(),
                },
            },
            &self.tunnels,
            &self.tunnels_stop,
        )?;
        let response = self.limits.account(granted, response);
        let response = stage::sse::meter(&api, events, response);
        let response = match ai {
            Some(call) => call.meter(response),
            None => response,
        };
        Ok(match &exchange {
            Some(exchange) => policy_response(chain.as_deref(), response, exchange).await,
            None => response,
        })
    }

    /// What a policy flow needs from the proxy.
    fn exchange<'a>(&'a self, invocation: Invocation<'a>) -> Exchange<'a> {
        Exchange {
            clients: self.forwarder.clients(),
            invocation,
            body_limit: self.forwarder.body_limit.get(),
            body_timeout: self.forwarder.body_timeout.get(),
        }
    }

    /// An MCP server's request, served by the MCP stage with what it uses of the proxy.
    #[allow(clippy::result_large_err)] // as in `stage`: the `Err` is the response
    async fn mcp(
        &self,
        config: &CompiledConfig,
        routed: Routed<'_>,
        arrival: stage::mcp::Arrival,
        request: Request<Incoming>,
        outcome: &mut Outcome,
    ) -> Result<Response<Body>, stage::Answer> {
        #[allow(clippy::result_large_err)] // as in `stage`: the `Err` is the response
        let backend_jwt = |config: &CompiledConfig, routed: &Routed<'_>, who: &Authenticated| {
            self.backend_jwt(config, routed, who)
        };
        let mcp = stage::mcp::Mcp {
            jwks: &self.jwks,
            limits: &self.limits,
            forwarder: &self.forwarder,
            sessions: &self.mcp_sessions,
            backend_jwt: &backend_jwt,
        };
        stage::mcp::serve(mcp, config, routed, arrival, request, outcome).await
    }

    /// The backend JWT for a call of `who` to `routed`'s API, when the API asks for one;
    /// 500 when it cannot be signed.
    #[allow(clippy::result_large_err)] // as in `stage`: the `Err` is the response
    fn backend_jwt(
        &self,
        config: &CompiledConfig,
        routed: &Routed<'_>,
        who: &Authenticated,
    ) -> Result<Option<HeaderValue>, Answer> {
        let (Some(caller), true) = (&who.caller, routed.api.backend_jwt) else {
            return Ok(None);
        };
        self.backend_jwt_signer()
            .and_then(|s| s.assertion(&config.backend_jwt_cache, &routed.api, caller))
            .map(Some)
            .ok_or_else(|| {
                respond::error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "900900",
                    "Unclassified Authentication Failure",
                    "The gateway could not sign the backend JWT",
                )
            })
    }

    /// Closes upgraded (WebSocket) connections idle for `idle` (no bytes either way); zero
    /// keeps them open until a side closes.
    pub fn set_websocket_idle_timeout(&self, idle: Duration) {
        self.websocket_idle_ms.store(
            u64::try_from(idle.as_millis()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }

    /// Lets the WebSub hub call callbacks on non-public addresses (`websub_callback`).
    pub fn allow_private_websub_callbacks(&self, allow: bool) {
        self.hub.allow_private(allow);
    }

    fn websocket_idle(&self) -> Duration {
        Duration::from_millis(self.websocket_idle_ms.load(Ordering::Relaxed))
    }

    /// Ends every WebSocket tunnel and waits for them to close (after the listeners drained).
    pub async fn end_tunnels(&self) {
        self.tunnels.close();
        self.tunnels_stop.cancel();
        self.tunnels.wait().await;
    }

    /// Stops the active health checks (none start afterwards) and waits for their tasks to
    /// end; a probe in flight is abandoned.
    pub async fn end_probes(&self) {
        self.probes_stop.cancel();
        self.probes.close();
        self.probes.wait().await;
    }

    /// Whether `GET uri` (over HTTP/2 when `http2`) answers 2xx within `timeout` (an active
    /// health check).
    pub async fn probe(&self, uri: Uri, timeout: Duration, http2: bool) -> bool {
        self.forwarder.probe(uri, timeout, http2).await
    }

    /// Signs backend JWTs with the P-256 key in `pem` (PKCS#8 or SEC1), so every replica of
    /// an environment can share one key. Must be called before the first request.
    pub fn use_backend_jwt_key(&self, pem: &[u8]) -> Result<(), GatewayError> {
        let signer = BackendJwtSigner::from_pem(pem).map_err(GatewayError::BackendJwtKey)?;
        self.backend_jwt
            .set(Some(signer))
            .map_err(|_| GatewayError::BackendJwtKey("it is already set".to_owned()))
    }

    fn backend_jwt_signer(&self) -> Option<&BackendJwtSigner> {
        self.backend_jwt
            .get_or_init(|| {
                BackendJwtSigner::generate()
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
    pub fn use_redis(&self, url: &str, environment: &str) -> Result<(), GatewayError> {
        self.limits
            .use_redis(url, environment)
            .map_err(GatewayError::Redis)
    }

    /// Whether limits are shared and Redis answered last time (`None` without Redis).
    pub fn redis_healthy(&self) -> Option<bool> {
        self.limits.redis_healthy()
    }
}
