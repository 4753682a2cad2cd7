//! Throttling policies (tiers): subscription, application and API level.
//!
//! APIs and applications name them; the Admin API creates, changes and deletes them (a
//! policy in use cannot be deleted); gateways receive them in their snapshot.

use gantry_model::throttle_conditions::ConditionalGroup;

use crate::{Result, Store, StoreError, found, from_json, new_id, now_ms, to_json};

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
    /// The stored name of the level.
    pub fn as_str(self) -> &'static str {
        match self {
            PolicyLevel::Subscription => "subscription",
            PolicyLevel::Application => "application",
            PolicyLevel::Api => "api",
        }
    }
}

/// A stored throttling policy.
#[derive(Debug, Clone)]
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
    /// Burst control: at most this many requests per `burst_time_unit` (0 = none).
    pub burst_count: i64,
    /// `sec` or `min`.
    pub burst_time_unit: String,
    /// Bandwidth policies: bytes allowed per window, in `data_unit`s (0 = a request-count
    /// policy).
    pub data_amount: i64,
    /// `KB` or `MB` (WSO2's units, 1024-based).
    pub data_unit: String,
    /// Advanced policies: conditional groups, in order (empty for the others).
    pub conditional_groups: Vec<ConditionalGroup>,
    /// AI API quota policies (WSO2 `AIAPIQUOTALIMIT`): token budgets per window (0 = none).
    pub tokens: TokenCounts,
    /// Subscription tiers: the deepest GraphQL query allowed (0 = no limit).
    pub graphql_max_depth: i64,
    /// Subscription tiers: the most complex GraphQL query allowed (0 = no limit).
    pub graphql_max_complexity: i64,
}

/// The token budgets of an AI API quota policy, per window; 0 = no limit of that kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TokenCounts {
    /// Prompt + completion tokens.
    pub total: i64,
    /// Prompt tokens.
    pub prompt: i64,
    /// Completion tokens.
    pub completion: i64,
}

impl TokenCounts {
    /// Whether any budget is set.
    pub fn any(&self) -> bool {
        self.total > 0 || self.prompt > 0 || self.completion > 0
    }
}

#[derive(sqlx::FromRow)]
struct PolicyRow {
    id: String,
    name: String,
    display_name: String,
    description: String,
    request_count: i64,
    unit_time: i64,
    time_unit: String,
    burst_count: i64,
    burst_time_unit: String,
    data_amount: i64,
    data_unit: String,
    conditional_groups: String,
    total_token_count: i64,
    prompt_token_count: i64,
    completion_token_count: i64,
    graphql_max_depth: i64,
    graphql_max_complexity: i64,
}

impl PolicyRow {
    fn into_policy(self) -> Result<Policy> {
        Ok(Policy {
            conditional_groups: from_json(
                "throttling_policies.conditional_groups",
                &self.conditional_groups,
            )?,
            id: self.id,
            name: self.name,
            display_name: self.display_name,
            description: self.description,
            request_count: self.request_count,
            unit_time: self.unit_time,
            time_unit: self.time_unit,
            burst_count: self.burst_count,
            burst_time_unit: self.burst_time_unit,
            data_amount: self.data_amount,
            data_unit: self.data_unit,
            tokens: TokenCounts {
                total: self.total_token_count,
                prompt: self.prompt_token_count,
                completion: self.completion_token_count,
            },
            graphql_max_depth: self.graphql_max_depth,
            graphql_max_complexity: self.graphql_max_complexity,
        })
    }
}

/// The columns of a [`PolicyRow`].
macro_rules! policy_columns {
    () => {
        "id, name, display_name, description, request_count, unit_time, time_unit, burst_count, burst_time_unit, data_amount, data_unit, conditional_groups, total_token_count, prompt_token_count, completion_token_count, graphql_max_depth, graphql_max_complexity"
    };
}

impl Policy {
    /// Bytes per window for a bandwidth policy; 0 for a request-count one.
    pub fn bandwidth_bytes(&self) -> i64 {
        bandwidth_bytes(self.data_amount, &self.data_unit)
    }
}

/// `amount` `unit`s in bytes (`KB` = 1024, `MB` = 1024²); 0 for no bandwidth limit.
pub fn bandwidth_bytes(amount: i64, unit: &str) -> i64 {
    gantry_model::throttle_conditions::bandwidth_bytes(amount, unit)
}

/// The policy of `level` called `name`, if any.
pub async fn find(store: &Store, level: PolicyLevel, name: &str) -> Result<Option<Policy>> {
    sqlx::query_as::<_, PolicyRow>(concat!(
        "SELECT ",
        policy_columns!(),
        " FROM throttling_policies WHERE policy_level = $1 AND name = $2"
    ))
    .bind(level.as_str())
    .bind(name)
    .fetch_optional(store.pool())
    .await?
    .map(PolicyRow::into_policy)
    .transpose()
}

/// Every policy of `level`, by name.
pub async fn list(store: &Store, level: PolicyLevel) -> Result<Vec<Policy>> {
    sqlx::query_as::<_, PolicyRow>(concat!(
        "SELECT ",
        policy_columns!(),
        " FROM throttling_policies WHERE policy_level = $1 ORDER BY name"
    ))
    .bind(level.as_str())
    .fetch_all(store.pool())
    .await?
    .into_iter()
    .map(PolicyRow::into_policy)
    .collect()
}

/// The policy of `level` with `id`; `NotFound` otherwise.
pub async fn get(store: &Store, level: PolicyLevel, id: &str) -> Result<Policy> {
    sqlx::query_as::<_, PolicyRow>(concat!(
        "SELECT ",
        policy_columns!(),
        " FROM throttling_policies WHERE policy_level = $1 AND id = $2"
    ))
    .bind(level.as_str())
    .bind(id)
    .fetch_optional(store.pool())
    .await?
    .ok_or(StoreError::NotFound)?
    .into_policy()
}

/// Creates a policy (its `id` is assigned); `Conflict` when the name is taken at `level`.
pub async fn create(store: &Store, level: PolicyLevel, policy: &Policy) -> Result<Policy> {
    let created = Policy {
        id: new_id(),
        ..policy.clone()
    };
    sqlx::query(
        "INSERT INTO throttling_policies (id, policy_level, name, display_name, description, request_count, unit_time, time_unit, created_at, burst_count, burst_time_unit, data_amount, data_unit, conditional_groups, total_token_count, prompt_token_count, completion_token_count, graphql_max_depth, graphql_max_complexity) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)",
    )
    .bind(&created.id)
    .bind(level.as_str())
    .bind(&created.name)
    .bind(&created.display_name)
    .bind(&created.description)
    .bind(created.request_count)
    .bind(created.unit_time)
    .bind(&created.time_unit)
    .bind(now_ms())
    .bind(created.burst_count)
    .bind(&created.burst_time_unit)
    .bind(created.data_amount)
    .bind(&created.data_unit)
    .bind(to_json(&created.conditional_groups))
    .bind(created.tokens.total)
    .bind(created.tokens.prompt)
    .bind(created.tokens.completion)
    .bind(created.graphql_max_depth)
    .bind(created.graphql_max_complexity)
    .execute(store.pool())
    .await
    .map_err(StoreError::on_unique("a policy with this name already exists"))?;
    Ok(created)
}

/// Changes a policy's display name, description and limit (the name never changes).
pub async fn update(store: &Store, level: PolicyLevel, policy: &Policy) -> Result<()> {
    let done = sqlx::query(
        "UPDATE throttling_policies SET display_name = $1, description = $2, request_count = $3, unit_time = $4, time_unit = $5, burst_count = $8, burst_time_unit = $9, data_amount = $10, data_unit = $11, conditional_groups = $12, total_token_count = $13, prompt_token_count = $14, completion_token_count = $15, graphql_max_depth = $16, graphql_max_complexity = $17 \
         WHERE policy_level = $6 AND id = $7",
    )
    .bind(&policy.display_name)
    .bind(&policy.description)
    .bind(policy.request_count)
    .bind(policy.unit_time)
    .bind(&policy.time_unit)
    .bind(level.as_str())
    .bind(&policy.id)
    .bind(policy.burst_count)
    .bind(&policy.burst_time_unit)
    .bind(policy.data_amount)
    .bind(&policy.data_unit)
    .bind(to_json(&policy.conditional_groups))
    .bind(policy.tokens.total)
    .bind(policy.tokens.prompt)
    .bind(policy.tokens.completion)
    .bind(policy.graphql_max_depth)
    .bind(policy.graphql_max_complexity)
    .execute(store.pool())
    .await?;
    found(&done)
}

/// How many subscriptions (subscription level) or applications (application level) use the
/// policy called `name`; 0 for API-level policies (their users are API definitions).
pub async fn usage(store: &Store, level: PolicyLevel, name: &str) -> Result<i64> {
    let sql = match level {
        PolicyLevel::Subscription => {
            "SELECT COUNT(*) FROM subscriptions WHERE throttling_policy = $1"
        }
        PolicyLevel::Application => {
            "SELECT COUNT(*) FROM applications WHERE throttling_policy = $1"
        }
        PolicyLevel::Api => return Ok(0),
    };
    Ok(sqlx::query_scalar(sql)
        .bind(name)
        .fetch_one(store.pool())
        .await?)
}

/// Deletes the policy of `level` with `id`; `NotFound` otherwise.
pub async fn delete(store: &Store, level: PolicyLevel, id: &str) -> Result<()> {
    let done = sqlx::query("DELETE FROM throttling_policies WHERE policy_level = $1 AND id = $2")
        .bind(level.as_str())
        .bind(id)
        .execute(store.pool())
        .await?;
    found(&done)
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
