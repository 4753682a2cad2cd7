//! Event counting for streaming APIs (`SSE`, `WS`): WSO2 counts a streaming subscription's
//! events, not its requests, under the subscription tier. The limit stage admits the
//! connection as one event; each event the stream then carries (an SSE event, a WebSocket
//! message either way) is one more, counted here in this gateway's counters as it flows.

use std::sync::Arc;

use super::authenticate::Authenticated;
use super::route::Routed;
use crate::compiled::CompiledConfig;
use crate::compiled::limits::Limit;
use crate::ratelimit::{Decision, RateLimiter, Scope};

/// The subscription tier a stream's events count against.
pub struct EventQuota {
    counters: Arc<RateLimiter>,
    application: Arc<str>,
    api: Arc<str>,
    limit: Arc<Limit>,
}

impl EventQuota {
    /// The quota of `who`'s subscription to `routed`'s API, when the API is a streaming one
    /// and the tier is not unlimited (`None` for REST APIs and anonymous callers).
    pub fn of(
        counters: &Arc<RateLimiter>,
        config: &CompiledConfig,
        routed: &Routed<'_>,
        who: &Authenticated,
    ) -> Option<Self> {
        if !routed.api.kind.has_topics() {
            return None;
        }
        let application = who.caller.as_ref()?.application_id.clone();
        let limit = config
            .subscriptions
            .get(&(application.clone(), routed.api.id.clone()))?
            .limit
            .clone()
            .filter(|limit| !limit.bytes)?;
        Some(Self {
            counters: counters.clone(),
            application,
            api: routed.api.id.clone(),
            limit,
        })
    }

    /// Counts one event; `Err` with the reason when the tier has none left.
    pub fn admit(&self) -> Result<(), String> {
        match self.counters.check(
            Scope::Subscription,
            &self.application,
            &self.api,
            &self.limit,
        ) {
            Decision::Allowed { .. } => Ok(()),
            Decision::Limited { .. } => Err(format!(
                "You have exceeded your quota of {} events per {} s ({} tier)",
                self.limit.count,
                self.limit.window.as_secs(),
                self.limit.name
            )),
        }
    }
}
