//! Throttling policies (tiers): subscription, application and API level.
//!
//! The foundation reads them to validate tier names; the Admin API manages them later.

use crate::{Result, Store};

/// Which kind of tier a policy is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyLevel {
    /// Offered by APIs, chosen when subscribing.
    Subscription,
    /// Chosen for an application.
    Application,
    /// API or operation level (WSO2's advanced policies).
    Api,
}

impl PolicyLevel {
    fn as_str(self) -> &'static str {
        match self {
            PolicyLevel::Subscription => "subscription",
            PolicyLevel::Application => "application",
            PolicyLevel::Api => "api",
        }
    }
}

/// A stored throttling policy.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Policy {
    /// UUID.
    pub id: String,
    /// Tier name (`Gold`).
    pub name: String,
    /// Display name.
    pub display_name: String,
    /// Free text.
    pub description: String,
    /// Requests allowed per `unit_time` `time_unit`; -1 means unlimited.
    pub request_count: i64,
    /// Length of the window in `time_unit`s.
    pub unit_time: i64,
    /// `sec`, `min`, `hour` or `day`.
    pub time_unit: String,
}

/// The policy of `level` called `name`, if any.
pub async fn find(store: &Store, level: PolicyLevel, name: &str) -> Result<Option<Policy>> {
    Ok(sqlx::query_as::<_, Policy>(
        "SELECT id, name, display_name, description, request_count, unit_time, time_unit \
         FROM throttling_policies WHERE policy_level = $1 AND name = $2",
    )
    .bind(level.as_str())
    .bind(name)
    .fetch_optional(store.pool())
    .await?)
}

/// Every policy of `level`, by name.
pub async fn list(store: &Store, level: PolicyLevel) -> Result<Vec<Policy>> {
    Ok(sqlx::query_as::<_, Policy>(
        "SELECT id, name, display_name, description, request_count, unit_time, time_unit \
         FROM throttling_policies WHERE policy_level = $1 ORDER BY name",
    )
    .bind(level.as_str())
    .fetch_all(store.pool())
    .await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn wso2_default_tiers_are_seeded() {
        let (store, _dir) = crate::test_support::sqlite().await;
        let names: Vec<String> = list(&store, PolicyLevel::Subscription)
            .await
            .unwrap()
            .into_iter()
            .map(|p| p.name)
            .collect();
        assert_eq!(names, ["Bronze", "Gold", "Silver", "Unlimited"]);
        let gold = find(&store, PolicyLevel::Subscription, "Gold")
            .await
            .unwrap()
            .unwrap();
        assert_eq!((gold.request_count, gold.time_unit.as_str()), (5000, "min"));
        assert!(
            find(&store, PolicyLevel::Application, "10PerMin")
                .await
                .unwrap()
                .is_some()
        );
        assert!(
            find(&store, PolicyLevel::Application, "Gold")
                .await
                .unwrap()
                .is_none()
        );
    }
}
