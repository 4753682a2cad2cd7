//! Subscriptions of applications to APIs, under a tier the API offers: subscribe (with the
//! lifecycle and tier checks), change the tier, unsubscribe. The Developer Portal REST
//! handlers (`devportal::subscriptions`) and the Developer Portal pages
//! (`portal::devportal`, `portal::applications`) call these.

use gantry_model::{Api, LifecycleState};
use gantry_store::applications::Application;
use gantry_store::subscriptions::{self, Subscription};

use crate::AppState;
use crate::error::{ApiError, ApiResult};

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

/// 400 unless `api` offers `tier`.
fn check_tier(api: &Api, tier: &str) -> Result<(), Refusal> {
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
    api: &Api,
    tier: &str,
) -> Result<Subscription, SubscribeError> {
    if !api.life_cycle_status.accepts_subscriptions() {
        return Err(SubscribeError::Refused(Refusal::NotAccepting(
            api.life_cycle_status,
        )));
    }
    check_tier(api, tier).map_err(SubscribeError::Refused)?;
    let sub = subscriptions::create(state.store(), &app.id, &api.id, tier)
        .await
        .map_err(ApiError::from)?;
    tracing::info!(subscription_id = %sub.id, application_id = %app.id, api_id = %api.id, tier, "subscribed");
    state.sync_environments().await?;
    Ok(sub)
}

/// Moves `sub` to another tier its API offers.
pub async fn change_tier(state: &AppState, sub: &Subscription, tier: &str) -> ApiResult<()> {
    let api = gantry_store::apis::get(state.store(), &sub.api_id).await?;
    check_tier(&api, tier)?;
    subscriptions::set_tier(state.store(), &sub.id, tier).await?;
    tracing::info!(subscription_id = %sub.id, tier, "subscription tier changed");
    state.sync_environments().await?;
    Ok(())
}

/// Ends `sub`; gateways stop accepting its application's tokens for the API.
pub async fn unsubscribe(state: &AppState, sub: &Subscription) -> ApiResult<()> {
    subscriptions::delete(state.store(), &sub.id).await?;
    tracing::info!(subscription_id = %sub.id, application_id = %sub.application_id, "unsubscribed");
    state.sync_environments().await?;
    Ok(())
}
