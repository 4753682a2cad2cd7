//! A WebSub API compiled: its topics (with the scopes a subscriber needs), the publisher's
//! signing key, and the two routes the hub answers on — the hub itself (`POST` on the API's
//! base path) and the events receiver (`POST …/webhooks_events_receiver_resource`, WSO2's).

use std::collections::HashMap;
use std::sync::Arc;

use gantry_model::snapshot::DeployedApi;
use gantry_model::{AuthType, HttpVerb, Operation, ResourceTarget};

/// The path, under the API's base, the publisher posts events to (as WSO2 names it).
pub const RECEIVER: &str = "/webhooks_events_receiver_resource";

/// Which part of the hub a route is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebSubRole {
    /// Subscribers' `hub.mode=subscribe|unsubscribe` requests.
    Hub,
    /// The publisher's events.
    Receiver,
}

/// What the hub of one WebSub API knows.
pub struct WebSubTopics {
    /// Topic (as the API names it, without a leading `/`) → scopes a subscriber needs.
    topics: HashMap<String, Arc<[String]>>,
    /// The publisher's HMAC key and the header its signature comes in, when events must
    /// be signed.
    pub publisher: Option<(aws_lc_rs::hmac::Key, http::HeaderName)>,
}

impl WebSubTopics {
    /// Compiles `api`'s topics and publisher settings.
    pub fn compile(api: &DeployedApi) -> Self {
        let topics = api
            .operations
            .iter()
            .map(|op| {
                (
                    topic_name(op.target.as_str()).to_owned(),
                    Arc::from(op.scopes.as_slice()),
                )
            })
            .collect();
        let publisher = api
            .gateway
            .websub_subscription_configuration
            .as_ref()
            .filter(|c| c.enable)
            .and_then(|c| {
                let header = http::HeaderName::from_bytes(
                    c.signature_header.to_ascii_lowercase().as_bytes(),
                )
                .ok()?;
                Some((
                    aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, c.secret.as_bytes()),
                    header,
                ))
            });
        Self { topics, publisher }
    }

    /// The scopes a subscriber of `topic` needs, when the API has that topic (`/orders` and
    /// `orders` are one topic).
    pub fn scopes(&self, topic: &str) -> Option<&Arc<[String]>> {
        self.topics.get(topic_name(topic))
    }

    /// The topic as the hub keys it.
    pub fn key<'t>(&self, topic: &'t str) -> &'t str {
        topic_name(topic)
    }

    /// The operations the hub's routes are served as: the hub (any application token; the
    /// topic's scopes are checked by the hub) and the receiver (no token: the publisher's
    /// signature, when configured, is its credential).
    pub fn routes() -> [(Operation, WebSubRole); 2] {
        let operation = |target: &str, auth_type| Operation {
            id: None,
            target: ResourceTarget::parse(target).expect("a valid target"),
            verb: HttpVerb::Post,
            auth_type,
            throttling_policy: "Unlimited".to_owned(),
            scopes: Vec::new(),
            operation_policies: Default::default(),
        };
        [
            (operation("/", AuthType::Any), WebSubRole::Hub),
            (operation(RECEIVER, AuthType::None), WebSubRole::Receiver),
        ]
    }
}

fn topic_name(topic: &str) -> &str {
    topic.strip_prefix('/').unwrap_or(topic)
}
