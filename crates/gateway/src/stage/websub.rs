//! The WebSub stage (after limit, for the hub routes of `WEBSUB` APIs): the gateway answers
//! itself, nothing is forwarded. A subscriber's `hub.mode=subscribe|unsubscribe` (its
//! application token authenticated, subscribed and limited as any call, the topic's scopes
//! checked here) is accepted with 202 and its intent verified in the background; a
//! publisher's event (signed when the API asks) is delivered to each subscriber of the
//! topic whose subscription tier admits it (`websub_hub`).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Request, Response, StatusCode, Uri};
use http_body_util::BodyExt as _;
use hyper::body::Incoming;

use super::authenticate::Authenticated;
use super::route::Routed;
use crate::compiled::websub::WebSubRole;
use crate::compiled::{ApiEntry, CompiledConfig};
use crate::credential::CallerClaims;
use crate::ratelimit::{Decision, RateLimiter, Scope};
use crate::respond::{self, Body};
use crate::websub_hub::{Hub, Intent, MAX_LEASE, form_pairs};

/// The largest subscription request or event the hub reads.
const MAX_BODY: usize = 1 << 20;

/// A request for a WebSub API's hub, as the earlier stages admitted it.
pub struct HubCall {
    role: WebSubRole,
    api: Arc<ApiEntry>,
    /// The calling application and the scopes of its token (none for the receiver).
    caller: Option<(Arc<str>, String)>,
    /// `http://host/context/version`, for the `Link` headers of deliveries.
    hub_url: String,
}

/// The hub call `routed` is, when it is one.
pub fn hub_call(routed: &Routed<'_>, who: &Authenticated, host: &str) -> Option<HubCall> {
    let role = routed.operation.websub?;
    let caller = who.caller.as_ref().map(|c| {
        let scopes = match &c.claims {
            CallerClaims::Access(claims) => claims.scope.clone(),
            CallerClaims::ApiKey(_) => String::new(),
        };
        (c.application_id.clone(), scopes)
    });
    Some(HubCall {
        role,
        hub_url: format!("http://{host}{}", routed.entry.base_path),
        api: routed.api.clone(),
        caller,
    })
}

/// Answers `call` (its `request`), reading the configuration of the moment from `config`
/// for the subscriptions' tiers and counting deliveries in `counters`.
pub async fn answer(
    hub: &Arc<Hub>,
    config: &arc_swap::ArcSwapOption<CompiledConfig>,
    counters: &Arc<RateLimiter>,
    call: HubCall,
    request: Request<Incoming>,
) -> Response<Body> {
    let (parts, body) = request.into_parts();
    let body = match http_body_util::Limited::new(body, MAX_BODY).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => {
            return respond::error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "413",
                "Payload Too Large",
                "WebSub requests and events are at most 1 MiB",
            );
        }
    };
    match call.role {
        WebSubRole::Hub => subscription(hub, call, &body).await,
        WebSubRole::Receiver => {
            let Some(loaded) = config.load_full() else {
                return respond::not_configured();
            };
            event(hub, &loaded, counters, call, &parts, body)
        }
    }
}

fn bad_request(description: &str) -> Response<Body> {
    respond::error(StatusCode::BAD_REQUEST, "400", "Bad Request", description)
}

/// `hub.mode=subscribe|unsubscribe`: 202 and a verification in the background, or why not
/// (400 for a callback the hub does not call: not on a public address, `websub_callback`).
async fn subscription(hub: &Arc<Hub>, call: HubCall, body: &[u8]) -> Response<Body> {
    let Some(pairs) = form_pairs(body) else {
        return bad_request("The body must be application/x-www-form-urlencoded");
    };
    let field = |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let subscribe = match field("hub.mode") {
        Some("subscribe") => true,
        Some("unsubscribe") => false,
        _ => return bad_request("hub.mode must be subscribe or unsubscribe"),
    };
    let Some(topic) = field("hub.topic").filter(|t| !t.is_empty()) else {
        return bad_request("hub.topic is required");
    };
    let callback = field("hub.callback")
        .and_then(|c| c.parse::<Uri>().ok())
        .filter(|c| matches!(c.scheme_str(), Some("http" | "https")) && c.host().is_some());
    let Some(callback) = callback else {
        return bad_request("hub.callback must be an http:// or https:// URL");
    };
    let Some(websub) = call.api.websub.as_deref() else {
        return respond::no_route();
    };
    let Some(scopes) = websub.scopes(topic) else {
        return respond::error(
            StatusCode::NOT_FOUND,
            "404",
            "Not Found",
            &format!("The API has no topic '{topic}'"),
        );
    };
    let Some((application, granted)) = call.caller else {
        return respond::error(
            StatusCode::UNAUTHORIZED,
            "900902",
            "Missing Credentials",
            "Subscribing needs an application's token",
        );
    };
    if let Some(missing) = scopes
        .iter()
        .find(|s| !granted.split_whitespace().any(|g| g == s.as_str()))
    {
        return respond::error(
            StatusCode::FORBIDDEN,
            "900910",
            "The access token does not allow you to access the requested resource",
            &format!("The access token is missing the scope '{missing}' for topic '{topic}'"),
        );
    }
    let lease = field("hub.lease_seconds")
        .and_then(|s| s.parse::<u64>().ok())
        .map_or(MAX_LEASE, |s| Duration::from_secs(s).min(MAX_LEASE));
    let secret = field("hub.secret").filter(|s| !s.is_empty());
    if secret.is_some_and(|s| s.len() > 200) {
        return bad_request("hub.secret must be at most 200 bytes");
    }
    if let Some(reason) = hub.refused_callback(&callback).await {
        return bad_request(&reason);
    }
    hub.verify(
        Intent {
            subscribe,
            api: call.api.id.clone(),
            topic: topic.to_owned(),
            callback,
            secret: secret.map(str::to_owned),
            lease,
            application,
        },
        websub.key(topic).to_owned(),
    );
    let mut response = Response::new(respond::full(Bytes::new()));
    *response.status_mut() = StatusCode::ACCEPTED;
    response
}

/// A publisher's event for `?topic=`: 202 once handed to the subscribers the tiers admit.
fn event(
    hub: &Arc<Hub>,
    config: &CompiledConfig,
    counters: &Arc<RateLimiter>,
    call: HubCall,
    parts: &http::request::Parts,
    body: Bytes,
) -> Response<Body> {
    let Some(websub) = call.api.websub.as_deref() else {
        return respond::no_route();
    };
    if let Some((key, header_name)) = &websub.publisher {
        let signed = parts
            .headers
            .get(header_name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("sha256="))
            .and_then(unhex)
            .is_some_and(|tag| aws_lc_rs::hmac::verify(key, &body, &tag).is_ok());
        if !signed {
            return respond::error(
                StatusCode::UNAUTHORIZED,
                "900901",
                "Invalid Credentials",
                "The event's signature is missing or wrong",
            );
        }
    }
    let topic = parts
        .uri
        .query()
        .and_then(|q| form_pairs(q.as_bytes()))
        .and_then(|pairs| pairs.into_iter().find(|(k, _)| k == "topic"))
        .map(|(_, v)| v);
    let Some(topic) = topic.filter(|t| websub.scopes(t).is_some()) else {
        return bad_request("?topic= must name one of the API's topics");
    };
    let key = websub.key(&topic).to_owned();
    let links = HeaderValue::from_str(&format!(
        "<{}>; rel=\"hub\", <{topic}>; rel=\"self\"",
        call.hub_url
    ))
    .unwrap_or(HeaderValue::from_static("<>; rel=\"hub\""));
    let content_type = parts.headers.get(header::CONTENT_TYPE).cloned();
    let (mut delivered, mut throttled) = (0u32, 0u32);
    for subscriber in hub.subscribers(&call.api.id, &key) {
        // Each delivery is an event of the subscriber's subscription tier.
        let subscription = config
            .subscriptions
            .get(&(subscriber.application.clone(), call.api.id.clone()));
        let Some(subscription) = subscription else {
            continue;
        };
        if let Some(limit) = subscription.limit.as_deref().filter(|l| !l.bytes)
            && let Decision::Limited { .. } = counters.check(
                Scope::Subscription,
                &subscriber.application,
                &call.api.id,
                limit,
            )
        {
            throttled += 1;
            continue;
        }
        delivered += 1;
        hub.deliver(
            call.api.id.clone(),
            key.clone(),
            links.clone(),
            subscriber,
            body.clone(),
            content_type.clone(),
        );
    }
    tracing::debug!(api = %call.api.name, %topic, delivered, throttled, "WebSub event accepted");
    let mut response = Response::new(respond::full(
        serde_json::json!({"delivering": delivered, "throttled": throttled}).to_string(),
    ));
    *response.status_mut() = StatusCode::ACCEPTED;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}
