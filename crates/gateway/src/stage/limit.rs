//! The limit stage: the subscription, application and operation rate limits in WSO2's order
//! (each with its burst control first), counted on this gateway (GCRA) or shared through
//! Redis, and bandwidth policies charged by the bytes a call moves. An operation policy with
//! conditional groups counts the call under the first group that holds (its own counter),
//! else under the policy's default limit. Custom rules (keyed limits over request attributes)
//! come last, only when the configuration has some.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Request, Response, StatusCode};

use super::Answer;
use super::authenticate::Authenticated;
use super::route::Routed;
use crate::compiled::conditions::RequestFacts;
use crate::compiled::custom_rules::KeyAttributes;
use crate::compiled::limits::Limit;
use crate::compiled::{ApiEntry, CompiledConfig, OperationEntry};
use crate::credential::CallerClaims;
use crate::metrics::{GatewayMetrics, Outcome};
use crate::ratelimit::{ByteMeter, Decision, RateLimiter, Scope};
use crate::respond::{self, Body};
use crate::shared_limit::SharedLimiter;
use crate::upstream_client::UpstreamResponseBody;

/// The counters limits are kept in.
pub struct Limiters {
    /// Request counts on this gateway (GCRA); also the events of streaming calls
    /// (`stage::events`), counted as the stream flows.
    local: Arc<RateLimiter>,
    /// The environment's shared counters, once Redis is configured.
    shared: std::sync::OnceLock<Arc<SharedLimiter>>,
    /// Bytes moved per key by this gateway, for bandwidth policies (the limit while Redis
    /// is not configured or away).
    bandwidth: Arc<ByteMeter>,
    metrics: Arc<GatewayMetrics>,
}

/// What the limits may look at in a request.
pub struct Call<'a> {
    headers: &'a HeaderMap,
    query: Option<&'a str>,
    peer: IpAddr,
    /// The request body's length, when known (declared).
    body_length: Option<u64>,
}

impl<'a> Call<'a> {
    /// The parts of `request` (from `peer`, its body `body_length` long when known)
    /// limits read.
    pub fn of<B>(request: &'a Request<B>, body_length: Option<u64>, peer: IpAddr) -> Self {
        Self {
            headers: request.headers(),
            query: request.uri().query(),
            peer,
            body_length,
        }
    }
}

/// What a request was admitted under.
pub struct Granted {
    /// The subscription quota, for the `RateLimit` response headers.
    quota: Option<Quota>,
    /// Bandwidth policies the call counts against (empty, unallocated, for most).
    charges: Vec<Charge>,
}

impl Limiters {
    /// Local counters only, until [`Limiters::use_redis`].
    pub fn new(metrics: Arc<GatewayMetrics>) -> Self {
        Self {
            local: Arc::default(),
            shared: std::sync::OnceLock::new(),
            bandwidth: Arc::default(),
            metrics,
        }
    }

    /// Shares the limits with the other gateways of `environment` through the Redis at `url`.
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

    /// This gateway's request counters, which a stream's events are counted in.
    pub(crate) fn local_counters(&self) -> &Arc<RateLimiter> {
        &self.local
    }

    /// Admits one `call` of `who` to `routed`; or answers 429 (411 for a body of unknown
    /// length under a bandwidth policy).
    pub async fn check(
        &self,
        config: &CompiledConfig,
        routed: &Routed<'_>,
        who: &Authenticated,
        call: Call<'_>,
        outcome: &mut Outcome,
    ) -> Result<Granted, Answer> {
        let mut charges = Vec::new();
        let quota = match self
            .rate_limit(
                config,
                &routed.api,
                routed.operation,
                who,
                &call,
                &mut charges,
            )
            .await
        {
            Ok(quota) => quota,
            Err(throttled) => {
                outcome.throttled = Some(throttled.scope.label());
                return Err(throttled.into_response());
            }
        };
        if !charges.is_empty() {
            // Request bodies are counted by their declared length (HTTP/1 Content-Length,
            // or an HTTP/2 stream's content-length / end of stream).
            let Some(length) = call.body_length else {
                return Err(respond::error(
                    StatusCode::LENGTH_REQUIRED,
                    "411",
                    "Length Required",
                    "This API has a bandwidth limit: send the request body with a Content-Length",
                ));
            };
            for charge in &charges {
                charge.spend(&self.bandwidth, self.shared.get(), length);
            }
        }
        Ok(Granted { quota, charges })
    }

    /// Counts one call against `operation`'s own limit (not the subscription's or the
    /// application's): the further root fields of a GraphQL document, each one call.
    pub async fn admit_operation(
        &self,
        api: &ApiEntry,
        operation: &OperationEntry,
        outcome: &mut Outcome,
    ) -> Result<(), Answer> {
        let Some(limit) = &operation.limit else {
            return Ok(());
        };
        self.admit(
            Scope::Operation,
            &api.id,
            &operation.key,
            limit,
            &mut Vec::new(),
        )
        .await
        .map(|_| ())
        .map_err(|throttled| {
            outcome.throttled = Some(throttled.scope.label());
            throttled.into_response()
        })
    }

    /// The response as the client gets it: with the `RateLimit` headers of the quota, its
    /// body counted against the bandwidth policies the call was admitted under.
    pub fn account(
        &self,
        granted: Granted,
        response: Response<UpstreamResponseBody>,
    ) -> Response<Body> {
        use http_body_util::BodyExt as _;
        let (mut parts, body) = response.into_parts();
        if let Some(quota) = granted.quota {
            quota.write_headers(&mut parts.headers);
        }
        if granted.charges.is_empty() {
            Response::from_parts(parts, body.boxed())
        } else {
            let metered = Metered {
                inner: body,
                meter: self.bandwidth.clone(),
                shared: self.shared.get().cloned(),
                charges: granted.charges,
                bytes: 0,
            };
            Response::from_parts(parts, metered.boxed())
        }
    }

    /// Where costs known only once a call ends (an AI call's tokens) are charged.
    pub(crate) fn cost_meters(&self) -> CostMeters {
        CostMeters {
            local: self.bandwidth.clone(),
            shared: self.shared.get().cloned(),
        }
    }

    /// Whether (`scope`, `a`, `b`) has some of the cost-counted `limit` left: decided as
    /// the environment's gateways share it, and this gateway's own count of what is left
    /// (the most one call may still use, as far as this gateway knows).
    pub(crate) async fn cost_left(
        &self,
        scope: Scope,
        a: &Arc<str>,
        b: &Arc<str>,
        limit: &Limit,
    ) -> (Decision, u64) {
        let decision = self.decide(scope, a, b, limit).await;
        let here = match self.bandwidth.check(scope, a, b, limit) {
            Decision::Allowed { remaining, .. } => remaining,
            Decision::Limited { .. } => 0,
        };
        (decision, here)
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
            self.local.check(scope, a, b, limit)
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
            && let Decision::Limited { retry_after } = self.local.check(Scope::Burst, a, b, burst)
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
        who: &Authenticated,
        call: &Call<'_>,
        charges: &mut Vec<Charge>,
    ) -> Result<Option<Quota>, Throttled> {
        let mut quota = None;
        if let Some(tier) = &who.certificate {
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
        if let Some(caller) = &who.caller {
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
        let facts = || RequestFacts {
            headers: call.headers,
            query: call.query,
            peer: call.peer,
            claims: who.caller.as_ref().and_then(|c| match &c.claims {
                CallerClaims::Access(claims) => Some(&claims.selected),
                CallerClaims::ApiKey(_) => None,
            }),
        };
        let (limit, key) = match &operation.conditions {
            None => (operation.limit.as_ref(), &operation.key),
            Some(conditions) => conditions
                .select(&facts())
                .unwrap_or((operation.limit.as_ref(), &operation.key)),
        };
        if let Some(limit) = limit {
            self.admit(Scope::Operation, &api.id, key, limit, charges)
                .await?;
        }
        if !config.custom_rules.is_empty() {
            self.custom_rules(config, api, operation, who, call, &facts(), charges)
                .await?;
        }
        Ok(quota)
    }

    /// Counts the call under every custom rule whose conditions it meets, each under the
    /// key its template builds from the call's attributes.
    #[allow(clippy::too_many_arguments)]
    async fn custom_rules(
        &self,
        config: &CompiledConfig,
        api: &Arc<ApiEntry>,
        operation: &OperationEntry,
        who: &Authenticated,
        call: &Call<'_>,
        facts: &RequestFacts<'_>,
        charges: &mut Vec<Charge>,
    ) -> Result<(), Throttled> {
        let (user, application) = match &who.caller {
            Some(caller) => (
                match &caller.claims {
                    CallerClaims::Access(claims) => claims.sub.as_str(),
                    CallerClaims::ApiKey(claims) => claims.sub.as_str(),
                },
                &*caller.application_id,
            ),
            None => ("", ""),
        };
        let attributes = KeyAttributes {
            user,
            api_context: api
                .base_path
                .strip_suffix(api.version.as_str())
                .and_then(|c| c.strip_suffix('/'))
                .unwrap_or(&api.base_path),
            api_version: &api.version,
            resource: &operation.key,
            application,
            peer: call.peer,
            headers: call.headers,
        };
        for rule in config.custom_rules.iter() {
            if let Some(limit) = &rule.group.limit
                && rule.group.holds(facts)
            {
                let key = rule.key(&attributes);
                self.admit(Scope::Custom, &rule.name, &key, limit, charges)
                    .await?;
            }
        }
        Ok(())
    }
}

/// The subscription quota a request was admitted under, for the `RateLimit` headers.
struct Quota {
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
    // Written by hand, not with `format!`: these go on every admitted response.
    let field = |a: (u8, u64), b: (u8, u64)| {
        let mut v = Vec::with_capacity(limit.name.len() + 48);
        v.push(b'"');
        v.extend_from_slice(limit.name.as_bytes());
        v.push(b'"');
        for (key, n) in [a, b] {
            v.extend_from_slice(&[b';', key, b'=']);
            crate::respond::push_decimal(&mut v, n);
        }
        HeaderValue::from_maybe_shared(bytes::Bytes::from(v))
    };
    let policy = field((b'q', limit.count), (b'w', limit.window.as_secs()));
    let state = field((b'r', remaining), (b't', reset.as_secs_f64().ceil() as u64));
    if let (Ok(p), Ok(s)) = (policy, state) {
        headers.insert(HeaderName::from_static("ratelimit-policy"), p);
        headers.insert(HeaderName::from_static("ratelimit"), s);
    }
}

/// A bandwidth policy a request counts against.
struct Charge {
    scope: Scope,
    a: Arc<str>,
    b: Arc<str>,
    limit: Limit,
}

impl Charge {
    fn spend(&self, meter: &ByteMeter, shared: Option<&Arc<SharedLimiter>>, bytes: u64) {
        spend_cost(
            meter,
            shared,
            self.scope,
            &self.a,
            &self.b,
            &self.limit,
            bytes,
        );
    }
}

/// Counts `cost` on this gateway's meter, and against the environment's shared allowance
/// when there is one: both stay true whichever admitted the call, so a switch between them
/// (Redis going away or coming back) loses nothing.
fn spend_cost(
    meter: &ByteMeter,
    shared: Option<&Arc<SharedLimiter>>,
    scope: Scope,
    a: &Arc<str>,
    b: &Arc<str>,
    limit: &Limit,
    cost: u64,
) {
    if cost > 0 {
        meter.spend(scope, a, b, limit, cost);
        if let Some(shared) = shared {
            shared.spend(scope, a, b, limit, cost);
        }
    }
}

/// The meters of costs known after the fact (bandwidth, tokens), to charge from a response
/// body that outlives the request path.
#[derive(Clone)]
pub(crate) struct CostMeters {
    local: Arc<ByteMeter>,
    shared: Option<Arc<SharedLimiter>>,
}

impl CostMeters {
    /// Charges `cost` to (`scope`, `a`, `b`) under `limit`.
    pub(crate) fn spend(&self, scope: Scope, a: &Arc<str>, b: &Arc<str>, limit: &Limit, cost: u64) {
        spend_cost(&self.local, self.shared.as_ref(), scope, a, b, limit, cost);
    }
}

/// A response body that counts the bytes it relays and charges them to the request's
/// bandwidth policies when it ends (or the client goes away).
struct Metered {
    inner: UpstreamResponseBody,
    meter: Arc<ByteMeter>,
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
struct Throttled {
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
