//! GraphQL subscriptions over WebSocket (`graphql-transport-ws`): once a GraphQL API's
//! handshake (authenticated and authorised like any request) switches protocols, the two
//! connections are relayed message by message instead of byte for byte, and every
//! `subscribe` message is checked as a GraphQL request is — a document that parses, root
//! fields the caller's token may use, introspection, the tier's depth and complexity —
//! before it reaches the upstream. A refusal is the protocol's `error` message for that
//! subscription id; the connection stays open for the others.

use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt as _, StreamExt as _};
use gantry_graphql::analyze;
use hyper_util::rt::TokioIo;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::Role;

use crate::compiled::ApiEntry;
use crate::compiled::limits::GraphQlLimits;
use crate::credential::Caller;

/// What the relay checks each subscription against: the API, who opened the connection and
/// their tier's limits.
pub struct Session {
    /// The API (its GraphQL schema and operations).
    pub api: Arc<ApiEntry>,
    /// The caller admitted at the handshake.
    pub caller: Option<Caller>,
    /// The caller's subscription tier's GraphQL limits.
    pub limits: Option<Arc<GraphQlLimits>>,
}

/// A `subscribe` message refused: the error the client is sent for it.
#[derive(Debug)]
struct Refused {
    message: String,
    code: Option<u32>,
}

impl Session {
    /// The session of a WebSocket handshake (`websocket`) to a GraphQL API; `None` for
    /// anything else.
    pub fn of(
        config: &crate::compiled::CompiledConfig,
        routed: &super::route::Routed<'_>,
        who: &super::authenticate::Authenticated,
        websocket: bool,
    ) -> Option<Self> {
        if !websocket || routed.api.graphql.is_none() {
            return None;
        }
        let caller = who.caller.clone();
        let limits = caller
            .as_ref()
            .and_then(|caller| super::graphql::tier_limits(config, routed, caller));
        Some(Self {
            api: routed.api.clone(),
            caller,
            limits,
        })
    }

    /// Whether the client's text message may go upstream (`true` for an admitted
    /// `subscribe`); a `subscribe` is checked, every other message passes.
    fn admit(&self, text: &str) -> Result<bool, (serde_json::Value, Refused)> {
        #[derive(serde::Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Payload {
            query: Option<String>,
            operation_name: Option<String>,
        }
        #[derive(serde::Deserialize)]
        struct Subscribe {
            #[serde(rename = "type")]
            kind: String,
            #[serde(default)]
            id: serde_json::Value,
            payload: Option<Payload>,
        }
        let Ok(message) = serde_json::from_str::<Subscribe>(text) else {
            return Ok(false);
        };
        if message.kind != "subscribe" {
            return Ok(false);
        }
        let id = message.id.clone();
        let refused = |message: String, code: Option<u32>| (id.clone(), Refused { message, code });
        let Some(graphql) = self.api.graphql.as_deref() else {
            return Ok(false);
        };
        let payload = message
            .payload
            .ok_or_else(|| refused("A subscribe message needs a payload".into(), None))?;
        let query = payload
            .query
            .ok_or_else(|| refused("The payload has no 'query'".into(), None))?;
        let analysis = analyze(
            &query,
            payload.operation_name.as_deref(),
            &graphql.schema,
            &|type_name, field| graphql.cost(type_name, field),
        )
        .map_err(|e| refused(e.to_string(), None))?;
        if analysis.introspection && !graphql.introspection {
            return Err(refused(
                "Introspection is disabled for this API".into(),
                None,
            ));
        }
        for field in &analysis.root_fields {
            let Some(operation) = graphql.operation(analysis.kind, field) else {
                continue;
            };
            if let Some(caller) = &self.caller
                && let Err(denied) = super::authorise::operation_allows(operation, caller)
            {
                return Err(refused(
                    format!("{field}: {}", denied.description),
                    denied.code.parse().ok(),
                ));
            }
        }
        super::graphql::within_limits(&analysis, self.limits.as_deref())
            .map_err(|r| refused(r.message, Some(r.code)))?;
        Ok(true)
    }
}

/// Relays messages between the upgraded client and upstream connections until either
/// closes, nothing moves for `idle` (when not zero) or the gateway stops.
pub async fn relay(
    client: hyper::upgrade::OnUpgrade,
    upstream: hyper::upgrade::OnUpgrade,
    session: Session,
    idle: Duration,
    stop: tokio_util::sync::CancellationToken,
) {
    let api = session.api.name.clone();
    let (client, upstream) = match tokio::try_join!(client, upstream) {
        Ok(pair) => pair,
        Err(error) => {
            tracing::debug!(%api, %error, "protocol switch failed");
            return;
        }
    };
    let mut client =
        WebSocketStream::from_raw_socket(TokioIo::new(client), Role::Server, None).await;
    let mut upstream =
        WebSocketStream::from_raw_socket(TokioIo::new(upstream), Role::Client, None).await;
    let watching = !idle.is_zero();
    let idle_timer = tokio::time::sleep(if watching {
        idle
    } else {
        Duration::from_secs(3600)
    });
    tokio::pin!(idle_timer);
    let (mut admitted, mut refused) = (0u64, 0u64);
    let ended = loop {
        tokio::select! {
            message = client.next() => match message {
                Some(Ok(Message::Text(text))) => match session.admit(text.as_str()) {
                    Ok(subscription) => {
                        admitted += u64::from(subscription);
                        if upstream.send(Message::Text(text)).await.is_err() {
                            break "closed";
                        }
                    }
                    Err((id, refusal)) => {
                        refused += 1;
                        let mut error = serde_json::json!({ "message": refusal.message });
                        if let Some(code) = refusal.code {
                            error["extensions"] = serde_json::json!({ "code": code });
                        }
                        let answer = serde_json::json!({"id": id, "type": "error", "payload": [error]});
                        if client.send(Message::text(answer.to_string())).await.is_err() {
                            break "closed";
                        }
                    }
                },
                Some(Ok(Message::Close(frame))) => {
                    let _ = upstream.send(Message::Close(frame)).await;
                    break "closed";
                }
                Some(Ok(other)) => {
                    if upstream.send(other).await.is_err() {
                        break "closed";
                    }
                }
                Some(Err(_)) | None => break "closed",
            },
            message = upstream.next() => match message {
                Some(Ok(Message::Close(frame))) => {
                    let _ = client.send(Message::Close(frame)).await;
                    break "closed";
                }
                Some(Ok(message)) => {
                    if client.send(message).await.is_err() {
                        break "closed";
                    }
                }
                Some(Err(_)) | None => break "closed",
            },
            () = &mut idle_timer, if watching => break "idle",
            () = stop.cancelled() => break "shutdown",
        }
        if watching {
            idle_timer
                .as_mut()
                .reset(tokio::time::Instant::now() + idle);
        }
    };
    let _ = client.close(None).await;
    let _ = upstream.close(None).await;
    tracing::debug!(%api, admitted, refused, ended, "GraphQL WebSocket closed");
}
