//! Applications as the request path sees them: each (application, API) subscription with
//! its status and tier limit, application tier limits, and the applications themselves for
//! the backend JWT's claims.

use std::sync::Arc;

use gantry_model::snapshot::SnapshotApplication;
use gantry_model::{GatewaySnapshot, SubscriptionStatus};

use super::fast_map::FastMap;
use super::limits::{Level, Limit, Policies};

/// An application's subscription to an API, as the gateway enforces it.
pub struct Subscription {
    /// Blocked, unblocked, …
    pub status: SubscriptionStatus,
    /// The subscription tier's limit (`None`: unlimited).
    pub limit: Option<Arc<Limit>>,
    /// The tier's GraphQL depth and complexity limits (`None` for most tiers).
    pub graphql: Option<Arc<super::limits::GraphQlLimits>>,
}

/// (application id, API id) → the subscription (one table, not one per field: with 100,000
/// subscriptions each table costs megabytes).
pub type Subscriptions = FastMap<(Arc<str>, Arc<str>), Subscription>;

/// The subscriptions of `snapshot`; `intern` shares the ids.
pub fn compile<'a>(
    snapshot: &'a GatewaySnapshot,
    policies: &Policies<'_>,
    mut intern: impl FnMut(&'a str) -> Arc<str>,
) -> Subscriptions {
    let mut subscriptions =
        FastMap::with_capacity_and_hasher(snapshot.subscriptions.len(), Default::default());
    for s in &snapshot.subscriptions {
        let key = (intern(&s.application_id), intern(&s.api_id));
        subscriptions.insert(
            key,
            Subscription {
                status: s.status,
                limit: policies.limit(Level::Subscription, &s.tier),
                graphql: policies.graphql_limits(&s.tier),
            },
        );
    }
    subscriptions
}

/// Application tier limits by application id (limited tiers only).
pub fn application_limits<'a>(
    snapshot: &'a GatewaySnapshot,
    policies: &Policies<'_>,
    mut intern: impl FnMut(&'a str) -> Arc<str>,
) -> FastMap<Arc<str>, Arc<Limit>> {
    snapshot
        .applications
        .iter()
        .filter_map(|a| {
            let limit = policies.limit(Level::Application, &a.tier)?;
            Some((intern(&a.id), limit))
        })
        .collect()
}

/// Applications by id, for the backend JWT's claims: empty unless an API sends one.
pub fn applications<'a>(
    snapshot: &'a GatewaySnapshot,
    mut intern: impl FnMut(&'a str) -> Arc<str>,
) -> FastMap<Arc<str>, Arc<SnapshotApplication>> {
    let sends_backend_jwt = |apis: &[gantry_model::snapshot::DeployedApi]| {
        apis.iter().any(|a| a.gateway.enable_backend_jwt)
    };
    if !sends_backend_jwt(&snapshot.apis)
        && !snapshot.products.iter().any(|p| sends_backend_jwt(&p.apis))
    {
        return FastMap::default();
    }
    snapshot
        .applications
        .iter()
        .map(|a| (intern(&a.id), Arc::new(a.clone())))
        .collect()
}
