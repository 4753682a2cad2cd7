//! Subscriptions: an application's right to call an API under a tier.

use gantry_model::SubscriptionStatus;

use crate::{Result, Store, StoreError, found, new_id, now_ms};

/// A stored subscription.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Subscription {
    /// UUID.
    pub id: String,
    /// Subscriber application.
    pub application_id: String,
    /// Subscribed API.
    pub api_id: String,
    /// Tier.
    pub throttling_policy: String,
    /// `UNBLOCKED`, `BLOCKED`, …
    pub status: String,
    /// Epoch ms.
    pub created_at: i64,
}

macro_rules! columns {
    () => {
        "id, application_id, api_id, throttling_policy, status, created_at"
    };
}

/// Subscribes; `Conflict` if the application is already subscribed to the API.
pub async fn create(
    store: &Store,
    application_id: &str,
    api_id: &str,
    tier: &str,
) -> Result<Subscription> {
    create_with_status(
        store,
        application_id,
        api_id,
        tier,
        SubscriptionStatus::Unblocked,
    )
    .await
}

/// Subscribes in `status` (`ON_HOLD` while the subscription waits for approval);
/// `Conflict` if the application is already subscribed to the API.
pub async fn create_with_status(
    store: &Store,
    application_id: &str,
    api_id: &str,
    tier: &str,
    status: SubscriptionStatus,
) -> Result<Subscription> {
    let sub = Subscription {
        id: new_id(),
        application_id: application_id.to_owned(),
        api_id: api_id.to_owned(),
        throttling_policy: tier.to_owned(),
        status: status.as_str().to_owned(),
        created_at: now_ms(),
    };
    sqlx::query(concat!(
        "INSERT INTO subscriptions (",
        columns!(),
        ") VALUES ($1, $2, $3, $4, $5, $6)"
    ))
    .bind(&sub.id)
    .bind(&sub.application_id)
    .bind(&sub.api_id)
    .bind(&sub.throttling_policy)
    .bind(&sub.status)
    .bind(sub.created_at)
    .execute(store.pool())
    .await
    .map_err(StoreError::on_unique(
        "the application is already subscribed to this API",
    ))?;
    Ok(sub)
}

/// Subscription `id` if its application is owned by `owner`; `NotFound` otherwise.
pub async fn get_owned(store: &Store, id: &str, owner: &str) -> Result<Subscription> {
    sqlx::query_as::<_, Subscription>(
        "SELECT s.id, s.application_id, s.api_id, s.throttling_policy, s.status, s.created_at \
         FROM subscriptions s JOIN applications a ON a.id = s.application_id \
         WHERE s.id = $1 AND a.owner = $2",
    )
    .bind(id)
    .bind(owner)
    .fetch_optional(store.pool())
    .await?
    .ok_or(StoreError::NotFound)
}

/// The subscriptions of one application.
pub async fn list_for_application(
    store: &Store,
    application_id: &str,
) -> Result<Vec<Subscription>> {
    Ok(sqlx::query_as::<_, Subscription>(concat!(
        "SELECT ",
        columns!(),
        " FROM subscriptions WHERE application_id = $1 ORDER BY created_at, id"
    ))
    .bind(application_id)
    .fetch_all(store.pool())
    .await?)
}

/// `owner`'s subscriptions to one API.
pub async fn list_owned_for_api(
    store: &Store,
    api_id: &str,
    owner: &str,
) -> Result<Vec<Subscription>> {
    Ok(sqlx::query_as::<_, Subscription>(
        "SELECT s.id, s.application_id, s.api_id, s.throttling_policy, s.status, s.created_at \
         FROM subscriptions s JOIN applications a ON a.id = s.application_id \
         WHERE s.api_id = $1 AND a.owner = $2 ORDER BY s.created_at, s.id",
    )
    .bind(api_id)
    .bind(owner)
    .fetch_all(store.pool())
    .await?)
}

/// Removes a subscription.
pub async fn delete(store: &Store, id: &str) -> Result<()> {
    let done = sqlx::query("DELETE FROM subscriptions WHERE id = $1")
        .bind(id)
        .execute(store.pool())
        .await?;
    found(&done)
}

/// Subscription `id`, whoever owns it (for the publisher, which manages all of an API's
/// subscriptions); `NotFound` otherwise.
pub async fn get(store: &Store, id: &str) -> Result<Subscription> {
    sqlx::query_as::<_, Subscription>(concat!(
        "SELECT ",
        columns!(),
        " FROM subscriptions WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(store.pool())
    .await?
    .ok_or(StoreError::NotFound)
}

/// Every subscription to one API (the publisher's view).
pub async fn list_for_api(store: &Store, api_id: &str) -> Result<Vec<Subscription>> {
    Ok(sqlx::query_as::<_, Subscription>(concat!(
        "SELECT ",
        columns!(),
        " FROM subscriptions WHERE api_id = $1 ORDER BY created_at, id"
    ))
    .bind(api_id)
    .fetch_all(store.pool())
    .await?)
}

/// Sets a subscription's status (`BLOCKED`, `PROD_ONLY_BLOCKED`, `UNBLOCKED`).
pub async fn set_status(store: &Store, id: &str, status: SubscriptionStatus) -> Result<()> {
    let done = sqlx::query("UPDATE subscriptions SET status = $1 WHERE id = $2")
        .bind(status.as_str())
        .bind(id)
        .execute(store.pool())
        .await?;
    found(&done)
}

/// Moves a subscription to another tier.
pub async fn set_tier(store: &Store, id: &str, tier: &str) -> Result<()> {
    let done = sqlx::query("UPDATE subscriptions SET throttling_policy = $1 WHERE id = $2")
        .bind(tier)
        .bind(id)
        .execute(store.pool())
        .await?;
    found(&done)
}
