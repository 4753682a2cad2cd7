//! The relay stage: the upstream's response as the client gets it. Hop-by-hop headers and a
//! stale `Content-Length` go, a WebSocket switch becomes a tunnel, and a protocol switch
//! nobody asked for is refused. Response policies run after it (`policy::run::response`).

use std::sync::Arc;
use std::time::Duration;

use http::header::{self, HeaderValue};
use http::{Response, StatusCode};

use super::Answer;
use crate::compiled::ApiEntry;
use crate::hop_by_hop::strip_hop_by_hop;
use crate::respond;
use crate::upstream_client::UpstreamResponseBody;

/// How a WebSocket connection is relayed once both sides switched.
pub enum Tunnel {
    /// Byte for byte, closed after `idle` without a byte either way (zero: never).
    Bytes { idle: Duration },
    /// Frame by frame under a `WS` API topic's rules.
    Topic(super::ws_topics::TopicRules),
    /// Message by message, a GraphQL API's subscriptions checked (`graphql_ws`); closed after
    /// `idle` without a message (zero: never).
    GraphQl {
        session: super::graphql_ws::Session,
        idle: Duration,
    },
}

/// Prepares `response` for the client of a call to `api`;
/// `client_upgrade` is the client's side of a WebSocket handshake that was passed on, and
/// `relay_as` how it is relayed.
pub fn response(
    mut response: Response<UpstreamResponseBody>,
    api: &ApiEntry,
    client_upgrade: Option<hyper::upgrade::OnUpgrade>,
    relay_as: Tunnel,
    tunnels: &tokio_util::task::TaskTracker,
    stop: &tokio_util::sync::CancellationToken,
) -> Result<Response<UpstreamResponseBody>, Answer> {
    if response.status() == StatusCode::SWITCHING_PROTOCOLS
        && (client_upgrade.is_none() || !response.headers().contains_key(header::UPGRADE))
    {
        // A switch the client did not ask for (an `Upgrade: h2c` the gateway stripped, say),
        // or one that names no protocol: relaying the 101 without a tunnel would leave the
        // client's connection in limbo, and a tunnel would carry requests past the gateway
        // (h2c smuggling).
        tracing::warn!(api = %api.name, "upstream switched protocols unasked");
        return Err(respond::error(
            StatusCode::BAD_GATEWAY,
            "101503",
            "Runtime Error",
            "The back end switched protocols without being asked to",
        ));
    }
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
        // hyper framed the body by Transfer-Encoding and ignored a Content-Length beside it;
        // passing that length on would make the client frame the body another way (RFC 9112
        // §6.3: an intermediary MUST remove it).
        parts.headers.remove(header::CONTENT_LENGTH);
    }
    strip_hop_by_hop(&mut parts.headers);
    if let (Some((client, upstream)), Some(protocol)) = (tunnel, upgrade) {
        parts
            .headers
            .insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        parts.headers.insert(header::UPGRADE, protocol);
        match relay_as {
            // A WebSocket API's topic: frames judged by its rules.
            Tunnel::Topic(rules) => tunnels.spawn(super::ws_topics::relay(
                client,
                upstream,
                rules,
                stop.clone(),
            )),
            // A GraphQL API: each subscription checked as it is started.
            Tunnel::GraphQl { session, idle } => tunnels.spawn(super::graphql_ws::relay(
                client,
                upstream,
                session,
                idle,
                stop.clone(),
            )),
            Tunnel::Bytes { idle } => tunnels.spawn(super::websocket::tunnel(
                client,
                upstream,
                Arc::clone(&api.name),
                idle,
                stop.clone(),
            )),
        };
    }
    Ok(Response::from_parts(parts, body))
}
