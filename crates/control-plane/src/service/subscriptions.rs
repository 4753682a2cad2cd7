//! Subscriptions of applications to APIs, under a tier the API offers: subscribe (with the
//! lifecycle and tier checks), change the tier, unsubscribe. The Developer Portal REST
//! handlers (`devportal::subscriptions`) and the Developer Portal pages
//! (`portal::devportal`, `portal::applications`) call these.

use gantry_model::{Api, LifecycleState, SubscriptionStatus};
use gantry_store::applications::Application;
use gantry_store::subscriptions::{self, Subscription};
use gantry_store::workflows::Workflow;

use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::service::workflows::{self, Deferred, WorkflowType};

/// Why an API refuses a subscription; each edge words it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The API's lifecycle state takes no new subscriptions (e.g. DEPRECATED, BLOCKED).
    NotAccepting(LifecycleState),
    /// The API does not offer the tier.
    TierNotOffered {
        /// The tier asked for.
        tier: String,
        /// The tiers the API offers.
        offered: Vec<String>,
    },
}

impl From<Refusal> for ApiError {
    /// The REST wording, naming the WSO2 field.
    fn from(refusal: Refusal) -> Self {
        match refusal {
            Refusal::NotAccepting(state) => ApiError::BadRequest(format!(
                "apiId: the API is {} and does not accept new subscriptions",
                state.as_str()
            )),
            Refusal::TierNotOffered { tier, offered } => ApiError::BadRequest(format!(
                "throttlingPolicy: '{tier}' is not offered by the API (offered: {})",
                offered.join(", ")
            )),
        }
    }
}

/// A subscription that did not happen.
#[derive(Debug, thiserror::Error)]
pub enum SubscribeError {
    /// The API refuses it.
    #[error("{}", ApiError::from(.0.clone()))]
    Refused(Refusal),
    /// Anything else (a 409 when the application is subscribed already).
    #[error(transparent)]
    Failed(#[from] ApiError),
}

impl From<SubscribeError> for ApiError {
    fn from(e: SubscribeError) -> Self {
        match e {
            SubscribeError::Refused(refusal) => refusal.into(),
            SubscribeError::Failed(e) => e,
        }
    }
}

/// What an application subscribes to: an API or an API product (WSO2 subscribes to both
/// by id, under a tier the target offers).
#[derive(Debug, Clone)]
pub struct Subscribable {
    /// The API's or product's id.
    pub id: String,
    /// Its name (for approval requests and logs).
    pub name: String,
    /// Its version.
    pub version: String,
    /// Its lifecycle state.
    pub state: LifecycleState,
    /// The tiers it offers.
    pub policies: Vec<String>,
}

impl From<&Api> for Subscribable {
    fn from(api: &Api) -> Self {
        Self {
            id: api.id.clone(),
            name: api.name.to_string(),
            version: api.version.to_string(),
            state: api.life_cycle_status,
            policies: api.policies.clone(),
        }
    }
}

impl From<&gantry_model::ApiProduct> for Subscribable {
    fn from(product: &gantry_model::ApiProduct) -> Self {
        Self {
            id: product.id.clone(),
            name: product.name.to_string(),
            version: product.version.to_string(),
            state: product.state,
            policies: product.policies.clone(),
        }
    }
}

/// 400 unless `api` offers `tier`.
fn check_tier(api: &Subscribable, tier: &str) -> Result<(), Refusal> {
    if api.policies.iter().any(|p| p == tier) {
        Ok(())
    } else {
        Err(Refusal::TierNotOffered {
            tier: tier.to_owned(),
            offered: api.policies.clone(),
        })
    }
}

/// Subscribes `app` to `api` (one the developer portal lists, see
/// [`listed_in_devportal`](crate::service::apis::listed_in_devportal)) under `tier`:
/// refused unless the API's state accepts subscriptions and it offers the tier.
pub async fn subscribe(
    state: &AppState,
    app: &Application,
    api: impl Into<Subscribable>,
    tier: &str,
) -> Result<Subscription, SubscribeError> {
    let api = &api.into();
    if !api.state.accepts_subscriptions() {
        return Err(SubscribeError::Refused(Refusal::NotAccepting(api.state)));
    }
    check_tier(api, tier).map_err(SubscribeError::Refused)?;
    crate::service::applications::require_approved(app)?;
    if state
        .workflows()
        .requires(WorkflowType::SubscriptionCreation)
    {
        // ON_HOLD until approved: gateways never see it (`store::snapshot` leaves it out).
        let sub = subscriptions::create_with_status(
            state.store(),
            &app.id,
            &api.id,
            tier,
            SubscriptionStatus::OnHold,
        )
        .await
        .map_err(ApiError::from)?;
        workflows::request(
            state,
            WorkflowType::SubscriptionCreation,
            &sub.id,
            &app.owner,
            &format!(
                "Approve subscription of application [{}] of {} to API [{} {}] with tier {tier}",
                app.name, app.owner, api.name, api.version
            ),
            &Deferred::Subscription {
                subscription_id: sub.id.clone(),
            },
        )
        .await?;
        return Ok(sub);
    }
    let sub = subscriptions::create(state.store(), &app.id, &api.id, tier)
        .await
        .map_err(ApiError::from)?;
    tracing::info!(subscription_id = %sub.id, application_id = %app.id, api_id = %api.id, tier, "subscribed");
    state.sync_environments().await?;
    Ok(sub)
}

/// Moves `sub` to another tier its API offers; while AM_SUBSCRIPTION_UPDATE needs approval,
/// the subscription keeps its tier and the request is returned (409 for a subscription not
/// in use, or with a change waiting already).
pub async fn change_tier(
    state: &AppState,
    sub: &Subscription,
    tier: &str,
) -> ApiResult<Option<Workflow>> {
    let api = crate::service::api_products::subscribed_to(state, &sub.api_id).await?;
    check_tier(&api, tier)?;
    if matches!(
        SubscriptionStatus::parse(&sub.status),
        Some(SubscriptionStatus::OnHold | SubscriptionStatus::Rejected)
    ) {
        return Err(ApiError::Conflict(format!(
            "The subscription is {}; its tier cannot change",
            sub.status
        )));
    }
    if state.workflows().requires(WorkflowType::SubscriptionUpdate) {
        workflows::refuse_if_pending(state, WorkflowType::SubscriptionUpdate, &sub.id).await?;
        let app = gantry_store::applications::get(state.store(), &sub.application_id).await?;
        let workflow = workflows::request(
            state,
            WorkflowType::SubscriptionUpdate,
            &sub.id,
            &app.owner,
            &format!(
                "Approve the tier change of application [{}]'s subscription to API [{} {}] from {} to {tier}",
                app.name, api.name, api.version, sub.throttling_policy
            ),
            &Deferred::SubscriptionUpdate {
                subscription_id: sub.id.clone(),
                tier: tier.to_owned(),
                previous_tier: sub.throttling_policy.clone(),
            },
        )
        .await?;
        return Ok(Some(workflow));
    }
    subscriptions::set_tier(state.store(), &sub.id, tier).await?;
    tracing::info!(subscription_id = %sub.id, tier, "subscription tier changed");
    state.sync_environments().await?;
    Ok(None)
}

/// The tier `sub` waits to be moved to, while a change is pending approval.
pub async fn requested_tier(state: &AppState, sub: &Subscription) -> ApiResult<Option<String>> {
    let pending = gantry_store::workflows::pending_for(
        state.store(),
        WorkflowType::SubscriptionUpdate.as_str(),
        &sub.id,
    )
    .await?;
    Ok(pending
        .iter()
        .find_map(|w| match serde_json::from_str::<Deferred>(&w.payload) {
            Ok(Deferred::SubscriptionUpdate { tier, .. }) => Some(tier),
            _ => None,
        }))
}

/// Ends `sub`; gateways stop accepting its application's tokens for the API.
pub async fn unsubscribe(state: &AppState, sub: &Subscription) -> ApiResult<()> {
    gantry_store::workflows::withdraw_pending_for(state.store(), &sub.id, "unsubscribed").await?;
    subscriptions::delete(state.store(), &sub.id).await?;
    tracing::info!(subscription_id = %sub.id, application_id = %sub.application_id, "unsubscribed");
    state.sync_environments().await?;
    Ok(())
}
