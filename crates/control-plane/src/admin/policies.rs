//! Admin REST API v4: throttling policies (`/throttling/policies/subscription`,
//! `/application`, `/advanced`) — WSO2's `ThrottlePolicy` bodies with a request-count or
//! bandwidth `defaultLimit`, and for advanced policies `conditionalGroups`. A policy in use (by subscriptions, applications or API operations) cannot
//! be deleted; every change re-syncs gateways, which enforce the limits.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use gantry_model::throttle_conditions::{ConditionalGroup, GroupLimit, ThrottleCondition};
use gantry_store::policies::{self, Policy, PolicyLevel, TokenCounts};
use gantry_store::{StoreError, apis};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::extract::{JsonBody, Scoped};
use crate::rest_scopes;
use crate::wire::plain_list;

/// WSO2 shows an unlimited tier with this count.
const UNLIMITED_COUNT: i64 = 2_147_483_647;

/// Routes under `/api/am/admin/v4/throttling/policies`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/throttling/policies/{level}", get(list).post(create))
        .route(
            "/throttling/policies/{level}/{policy_id}",
            get(get_one).put(update).delete(remove),
        )
}

/// The level a URL segment names (`subscription`, `application`, `advanced`).
pub(crate) fn level_of(segment: &str) -> ApiResult<PolicyLevel> {
    match segment {
        "subscription" => Ok(PolicyLevel::Subscription),
        "application" => Ok(PolicyLevel::Application),
        "advanced" => Ok(PolicyLevel::Api),
        other => Err(ApiError::NotFound(format!(
            "No throttling policy type '{other}': use subscription, application or advanced"
        ))),
    }
}

pub(crate) fn policy_json(level: PolicyLevel, policy: &Policy) -> Value {
    let kind = match level {
        PolicyLevel::Subscription => "SubscriptionThrottlePolicy",
        PolicyLevel::Application => "ApplicationThrottlePolicy",
        PolicyLevel::Api => "AdvancedThrottlePolicy",
    };
    let default_limit = if policy.tokens.any() {
        let count = |n: i64| if n < 0 { UNLIMITED_COUNT } else { n };
        json!({
            "type": "AIAPIQUOTALIMIT",
            "aiApiQuota": {"timeUnit": policy.time_unit, "unitTime": policy.unit_time,
                "requestCount": count(policy.request_count),
                "totalTokenCount": policy.tokens.total,
                "promptTokenCount": policy.tokens.prompt,
                "completionTokenCount": policy.tokens.completion},
        })
    } else {
        limit_json(
            policy.request_count,
            policy.unit_time,
            &policy.time_unit,
            policy.data_amount,
            &policy.data_unit,
        )
    };
    let mut body = json!({
        "policyId": policy.id,
        "policyName": policy.name,
        "displayName": policy.display_name,
        "description": policy.description,
        "isDeployed": true,
        "type": kind,
        "defaultLimit": default_limit,
        "rateLimitCount": policy.burst_count,
        "rateLimitTimeUnit": if policy.burst_count > 0 { Some(policy.burst_time_unit.as_str()) } else { None },
        "burstLimit": {"rateLimitCount": policy.burst_count, "rateLimitTimeUnit": policy.burst_time_unit},
        "stopOnQuotaReach": true,
        "billingPlan": "FREE",
        "customAttributes": [],
    });
    if level == PolicyLevel::Subscription {
        body["graphQLMaxDepth"] = json!(policy.graphql_max_depth);
        body["graphQLMaxComplexity"] = json!(policy.graphql_max_complexity);
    }
    if level == PolicyLevel::Api {
        body["conditionalGroups"] = policy
            .conditional_groups
            .iter()
            .map(|g| {
                let mut group = json!({
                    "conditions": g.conditions,
                    "limit": limit_json(g.limit.request_count, g.limit.unit_time, &g.limit.time_unit, g.limit.data_amount, &g.limit.data_unit),
                });
                if let Some(d) = &g.description {
                    group["description"] = json!(d);
                }
                group
            })
            .collect();
    }
    body
}

/// WSO2's `ThrottleLimit` of a stored limit.
pub(crate) fn limit_json(
    request_count: i64,
    unit_time: i64,
    time_unit: &str,
    data_amount: i64,
    data_unit: &str,
) -> Value {
    if data_amount > 0 {
        json!({
            "type": "BANDWIDTHLIMIT",
            "bandwidth": {"timeUnit": time_unit, "unitTime": unit_time,
                          "dataAmount": data_amount, "dataUnit": data_unit},
        })
    } else {
        let count = if request_count < 0 {
            UNLIMITED_COUNT
        } else {
            request_count
        };
        json!({
            "type": "REQUESTCOUNTLIMIT",
            "requestCount": {"timeUnit": time_unit, "unitTime": unit_time, "requestCount": count},
        })
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RequestCount {
    time_unit: Option<String>,
    unit_time: Option<i64>,
    request_count: Option<i64>,
}

/// WSO2 `ThrottleLimit` as posted.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Limit {
    #[serde(rename = "type")]
    kind: Option<String>,
    request_count: Option<RequestCount>,
    bandwidth: Option<Bandwidth>,
    /// WSO2 `AIAPIQuotaLimit`: requests and tokens per window.
    ai_api_quota: Option<AiApiQuota>,
}

/// WSO2 `AIAPIQuotaLimit`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AiApiQuota {
    time_unit: Option<String>,
    unit_time: Option<i64>,
    request_count: Option<i64>,
    total_token_count: Option<i64>,
    prompt_token_count: Option<i64>,
    completion_token_count: Option<i64>,
}

/// WSO2 `BandwidthLimit`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Bandwidth {
    time_unit: Option<String>,
    unit_time: Option<i64>,
    data_amount: Option<i64>,
    data_unit: Option<String>,
}

/// The body of POST/PUT (WSO2 `*ThrottlePolicy`).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PolicyRequest {
    policy_name: Option<String>,
    display_name: Option<String>,
    description: Option<String>,
    default_limit: Option<Limit>,
    /// Burst control of subscription tiers (WSO2 `rateLimitCount` / `rateLimitTimeUnit`).
    rate_limit_count: Option<i64>,
    rate_limit_time_unit: Option<String>,
    /// Burst control of application tiers (WSO2 `burstLimit`).
    burst_limit: Option<BurstLimit>,
    /// WSO2's discriminator (`AdvancedThrottlePolicy`…): the path decides the level, but a
    /// non-string is a 400 as in WSO2, not silently ignored.
    #[serde(rename = "type")]
    _kind: Option<String>,
    /// Advanced policies: conditional groups, in order (absent on an update: kept).
    conditional_groups: Option<Vec<GroupRequest>>,
    /// Subscription tiers: the deepest GraphQL query allowed (0: no limit; absent on an
    /// update: kept).
    #[serde(rename = "graphQLMaxDepth")]
    graphql_max_depth: Option<i64>,
    /// Subscription tiers: the most complex GraphQL query allowed (0: no limit).
    #[serde(rename = "graphQLMaxComplexity")]
    graphql_max_complexity: Option<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct BurstLimit {
    rate_limit_count: Option<i64>,
    rate_limit_time_unit: Option<String>,
}

/// Burst control (spike arrest): (count, `sec`|`min`); count 0 means none.
fn parse_burst(field: &str, count: Option<i64>, unit: Option<&str>) -> ApiResult<(i64, String)> {
    let count = count.unwrap_or(0);
    if count < 0 {
        return Err(ApiError::BadRequest(format!(
            "{field}rateLimitCount: must be 0 (no burst control) or more"
        )));
    }
    let unit = match unit.unwrap_or("sec") {
        "sec" | "second" => "sec",
        "min" | "minute" => "min",
        other if count == 0 && other.is_empty() => "sec",
        other => {
            return Err(ApiError::BadRequest(format!(
                "{field}rateLimitTimeUnit: '{other}' is not one of sec, min"
            )));
        }
    };
    Ok((count, unit.to_owned()))
}

impl PolicyRequest {
    /// A request-count policy as a form gives it (`request_count` -1: unlimited); validated
    /// by [`create_policy`] / [`update_policy`] like a REST body.
    pub(crate) fn request_count(
        name: String,
        description: String,
        request_count: Option<i64>,
        unit_time: Option<i64>,
        time_unit: String,
    ) -> Self {
        Self {
            policy_name: Some(name),
            display_name: None,
            description: Some(description),
            default_limit: Some(Limit {
                kind: Some("REQUESTCOUNTLIMIT".into()),
                request_count: Some(RequestCount {
                    time_unit: Some(time_unit),
                    unit_time,
                    request_count,
                }),
                bandwidth: None,
                ai_api_quota: None,
            }),
            rate_limit_count: None,
            rate_limit_time_unit: None,
            burst_limit: None,
            _kind: None,
            conditional_groups: None,
            graphql_max_depth: None,
            graphql_max_complexity: None,
        }
    }

    fn into_policy(self, level: PolicyLevel) -> ApiResult<Policy> {
        let (burst_count, burst_time_unit) = match (level, &self.burst_limit) {
            (PolicyLevel::Application, Some(b)) => parse_burst(
                "burstLimit.",
                b.rate_limit_count,
                b.rate_limit_time_unit.as_deref(),
            )?,
            (PolicyLevel::Subscription, _) => parse_burst(
                "",
                self.rate_limit_count,
                self.rate_limit_time_unit.as_deref(),
            )?,
            _ => (0, "sec".to_owned()),
        };
        let name = policy_name(self.policy_name)?;
        let limit = self
            .default_limit
            .ok_or_else(|| ApiError::BadRequest("defaultLimit: is required".into()))?;
        let parsed = parse_limit("defaultLimit", limit)?;
        if parsed.data_amount > 0 && burst_count > 0 {
            return Err(ApiError::BadRequest(
                "rateLimitCount: burst control applies to request-count policies only".into(),
            ));
        }
        let conditional_groups = match (level, self.conditional_groups) {
            (_, None) => Vec::new(),
            (PolicyLevel::Api, Some(groups)) => groups
                .into_iter()
                .enumerate()
                .map(|(i, group)| group.into_group(&format!("conditionalGroups[{i}]")))
                .collect::<ApiResult<_>>()?,
            (_, Some(groups)) if groups.is_empty() => Vec::new(),
            (_, Some(_)) => {
                return Err(ApiError::BadRequest(
                    "conditionalGroups: only advanced (API-level) policies have conditional groups"
                        .into(),
                ));
            }
        };
        if parsed.tokens.any() && level != PolicyLevel::Subscription {
            return Err(ApiError::BadRequest(
                "defaultLimit.type: AIAPIQUOTALIMIT is for subscription policies".into(),
            ));
        }
        let graphql = |field: &str, value: Option<i64>| match (level, value) {
            (_, None | Some(0)) => Ok(0),
            (PolicyLevel::Subscription, Some(n)) if n > 0 && n <= i64::from(u32::MAX) => Ok(n),
            (PolicyLevel::Subscription, Some(_)) => Err(ApiError::BadRequest(format!(
                "{field}: must be 0 (no limit) or a positive number"
            ))),
            (_, Some(_)) => Err(ApiError::BadRequest(format!(
                "{field}: only subscription tiers limit GraphQL queries"
            ))),
        };
        let graphql_max_depth = graphql("graphQLMaxDepth", self.graphql_max_depth)?;
        let graphql_max_complexity = graphql("graphQLMaxComplexity", self.graphql_max_complexity)?;
        let ParsedLimit {
            request_count,
            unit_time,
            time_unit,
            data_amount,
            data_unit,
            tokens,
        } = parsed;
        Ok(Policy {
            id: String::new(),
            display_name: self.display_name.unwrap_or_else(|| name.clone()),
            description: self.description.unwrap_or_default(),
            name,
            request_count,
            unit_time,
            time_unit,
            burst_count,
            burst_time_unit,
            data_amount,
            data_unit,
            conditional_groups,
            tokens,
            graphql_max_depth,
            graphql_max_complexity,
        })
    }
}

/// A limit as stored: requests (or, with `data_amount` > 0, bytes) per window.
pub(crate) struct ParsedLimit {
    request_count: i64,
    unit_time: i64,
    time_unit: String,
    data_amount: i64,
    data_unit: String,
    tokens: TokenCounts,
}

/// A throttling policy's or custom rule's `policyName`: required, 1–60 letters, digits,
/// `-`, `_` or `.`.
pub(crate) fn policy_name(raw: Option<String>) -> ApiResult<String> {
    let name = raw
        .filter(|n| !n.trim().is_empty())
        .ok_or_else(|| ApiError::BadRequest("policyName: is required".into()))?;
    if name.len() > 60
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Err(ApiError::BadRequest(
            "policyName: 1–60 letters, digits, '-', '_' or '.'".into(),
        ));
    }
    Ok(name)
}

/// A posted request count: at least 1, or unlimited (-1, or WSO2's `2147483647`) as -1.
fn requests(count: Option<i64>) -> Result<i64, &'static str> {
    match count {
        Some(UNLIMITED_COUNT) | Some(-1) => Ok(-1),
        Some(n) if n >= 1 => Ok(n),
        Some(_) => Err("must be at least 1"),
        None => Err("is required"),
    }
}

/// Reads a WSO2 `ThrottleLimit` found at `at` (`defaultLimit`, `conditionalGroups[0].limit`);
/// a 400 names the field that is wrong.
pub(crate) fn parse_limit(at: &str, limit: Limit) -> ApiResult<ParsedLimit> {
    let bad = |field: &str, reason: &str| ApiError::BadRequest(format!("{at}.{field}: {reason}"));
    match limit.kind.as_deref() {
        Some("REQUESTCOUNTLIMIT") => {
            let count = limit
                .request_count
                .ok_or_else(|| bad("requestCount", "is required"))?;
            let (unit_time, time_unit) = window(
                &format!("{at}.requestCount"),
                count.unit_time,
                count.time_unit,
            )?;
            let request_count = requests(count.request_count)
                .map_err(|why| bad("requestCount.requestCount", why))?;
            Ok(ParsedLimit {
                request_count,
                unit_time,
                time_unit,
                data_amount: 0,
                data_unit: "KB".to_owned(),
                tokens: TokenCounts::default(),
            })
        }
        Some("BANDWIDTHLIMIT") => {
            let bandwidth = limit
                .bandwidth
                .ok_or_else(|| bad("bandwidth", "is required"))?;
            let (unit_time, time_unit) = window(
                &format!("{at}.bandwidth"),
                bandwidth.unit_time,
                bandwidth.time_unit,
            )?;
            let data_amount = match bandwidth.data_amount {
                Some(n) if (1..=1 << 40).contains(&n) => n,
                Some(_) => return Err(bad("bandwidth.dataAmount", "must be at least 1")),
                None => return Err(bad("bandwidth.dataAmount", "is required")),
            };
            let data_unit = match bandwidth.data_unit.as_deref().unwrap_or("KB") {
                unit @ ("KB" | "MB") => unit.to_owned(),
                other => {
                    return Err(bad(
                        "bandwidth.dataUnit",
                        &format!("'{other}' is not one of KB, MB"),
                    ));
                }
            };
            Ok(ParsedLimit {
                request_count: -1,
                unit_time,
                time_unit,
                data_amount,
                data_unit,
                tokens: TokenCounts::default(),
            })
        }
        Some("AIAPIQUOTALIMIT") => {
            let quota = limit
                .ai_api_quota
                .ok_or_else(|| bad("aiApiQuota", "is required"))?;
            let (unit_time, time_unit) = window(
                &format!("{at}.aiApiQuota"),
                quota.unit_time,
                quota.time_unit,
            )?;
            let request_count =
                requests(quota.request_count).map_err(|why| bad("aiApiQuota.requestCount", why))?;
            let tokens = |value: Option<i64>, field: &str| match value {
                None | Some(0) => Ok(0),
                Some(n) if n >= 1 => Ok(n),
                Some(_) => Err(bad(
                    &format!("aiApiQuota.{field}"),
                    "must be 0 (none) or more",
                )),
            };
            Ok(ParsedLimit {
                request_count,
                unit_time,
                time_unit,
                data_amount: 0,
                data_unit: "KB".to_owned(),
                tokens: TokenCounts {
                    total: tokens(quota.total_token_count, "totalTokenCount")?,
                    prompt: tokens(quota.prompt_token_count, "promptTokenCount")?,
                    completion: tokens(quota.completion_token_count, "completionTokenCount")?,
                },
            })
        }
        Some(other @ "EVENTCOUNTLIMIT") => Err(bad(
            "type",
            &format!(
                "{other} is not supported yet; use REQUESTCOUNTLIMIT, BANDWIDTHLIMIT or AIAPIQUOTALIMIT"
            ),
        )),
        Some(other) => Err(bad(
            "type",
            &format!(
                "'{other}' is not one of REQUESTCOUNTLIMIT, BANDWIDTHLIMIT, EVENTCOUNTLIMIT, AIAPIQUOTALIMIT"
            ),
        )),
        None => Err(bad("type", "is required")),
    }
}

impl ParsedLimit {
    /// The limit as a conditional group or custom rule keeps it.
    pub(crate) fn into_group_limit(self) -> ApiResult<GroupLimit> {
        if self.tokens.any() {
            return Err(ApiError::BadRequest(
                "limit.type: AIAPIQUOTALIMIT is for subscription policies".into(),
            ));
        }
        Ok(GroupLimit {
            request_count: self.request_count,
            unit_time: self.unit_time,
            time_unit: self.time_unit,
            data_amount: self.data_amount,
            data_unit: self.data_unit,
        })
    }
}

/// WSO2 `ConditionalGroup` as posted.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct GroupRequest {
    description: Option<String>,
    #[serde(default)]
    conditions: Vec<ThrottleCondition>,
    limit: Option<Limit>,
}

impl GroupRequest {
    fn into_group(self, at: &str) -> ApiResult<ConditionalGroup> {
        let limit = self
            .limit
            .ok_or_else(|| ApiError::BadRequest(format!("{at}.limit: is required")))?;
        let limit = parse_limit(&format!("{at}.limit"), limit)?;
        let group = ConditionalGroup {
            description: self.description.filter(|d| !d.is_empty()),
            conditions: self.conditions,
            limit: limit.into_group_limit()?,
        };
        group.validate(at)?;
        Ok(group)
    }
}

/// A limit's window (`unitTime` `timeUnit`s), defaults 1 min; 400 naming `{at}.…`.
fn window(at: &str, unit_time: Option<i64>, time_unit: Option<String>) -> ApiResult<(i64, String)> {
    let time_unit = time_unit.unwrap_or_else(|| "min".into());
    if !matches!(time_unit.as_str(), "sec" | "min" | "hour" | "day") {
        return Err(ApiError::BadRequest(format!(
            "{at}.timeUnit: '{time_unit}' is not one of sec, min, hour, day"
        )));
    }
    let unit_time = unit_time.unwrap_or(1);
    if unit_time < 1 {
        return Err(ApiError::BadRequest(format!(
            "{at}.unitTime: must be at least 1"
        )));
    }
    Ok((unit_time, time_unit))
}

/// The policy `id` of `level`; 404 when there is none.
pub(crate) async fn load(state: &AppState, level: PolicyLevel, id: &str) -> ApiResult<Policy> {
    match policies::get(state.store(), level, id).await {
        Err(StoreError::NotFound) => Err(ApiError::not_found("throttling policy", id)),
        other => Ok(other?),
    }
}

async fn list(
    State(state): State<AppState>,
    _: Scoped<rest_scopes::TierView>,
    Path(level): Path<String>,
) -> ApiResult<axum::Json<Value>> {
    let level = level_of(&level)?;
    let found = policies::list(state.store(), level).await?;
    Ok(axum::Json(plain_list(
        found.iter().map(|p| policy_json(level, p)).collect(),
    )))
}

async fn get_one(
    State(state): State<AppState>,
    _: Scoped<rest_scopes::TierView>,
    Path((level, id)): Path<(String, String)>,
) -> ApiResult<axum::Json<Value>> {
    let level = level_of(&level)?;
    Ok(axum::Json(policy_json(
        level,
        &load(&state, level, &id).await?,
    )))
}

async fn create(
    State(state): State<AppState>,
    Scoped(user, _): Scoped<rest_scopes::TierManage>,
    Path(level): Path<String>,
    JsonBody(request): JsonBody<PolicyRequest>,
) -> ApiResult<Response> {
    let level = level_of(&level)?;
    let policy = create_policy(&state, level, request, &user.username).await?;
    let mut response =
        (StatusCode::CREATED, axum::Json(policy_json(level, &policy))).into_response();
    let segment = match level {
        PolicyLevel::Api => "advanced",
        other => other.as_str(),
    };
    if let Ok(v) = HeaderValue::from_str(&format!(
        "/api/am/admin/v4/throttling/policies/{segment}/{}",
        policy.id
    )) {
        response.headers_mut().insert(header::LOCATION, v);
    }
    Ok(response)
}

/// Validates and stores a new policy of `level`; re-syncs gateways.
pub(crate) async fn create_policy(
    state: &AppState,
    level: PolicyLevel,
    request: PolicyRequest,
    by: &str,
) -> ApiResult<Policy> {
    let policy = policies::create(state.store(), level, &request.into_policy(level)?).await?;
    tracing::info!(level = level.as_str(), name = %policy.name, %by, "throttling policy created");
    state.sync_environments().await?;
    Ok(policy)
}

async fn update(
    State(state): State<AppState>,
    Scoped(user, _): Scoped<rest_scopes::TierManage>,
    Path((level, id)): Path<(String, String)>,
    JsonBody(request): JsonBody<PolicyRequest>,
) -> ApiResult<axum::Json<Value>> {
    let level = level_of(&level)?;
    let policy = update_policy(&state, level, &id, request, &user.username).await?;
    Ok(axum::Json(policy_json(level, &policy)))
}

/// Validates and stores new values of the policy `id` (its name stays); re-syncs gateways.
pub(crate) async fn update_policy(
    state: &AppState,
    level: PolicyLevel,
    id: &str,
    request: PolicyRequest,
    by: &str,
) -> ApiResult<Policy> {
    let current = load(state, level, id).await?;
    // A body that says nothing of burst control (the portal's form) keeps the current one.
    let keeps_burst = request.rate_limit_count.is_none() && request.burst_limit.is_none();
    // Likewise a body without `conditionalGroups` keeps the current groups (`[]` clears them).
    let keeps_groups = request.conditional_groups.is_none();
    let keeps_graphql = (
        request.graphql_max_depth.is_none(),
        request.graphql_max_complexity.is_none(),
    );
    let mut policy = request.into_policy(level)?;
    if policy.name != current.name {
        return Err(ApiError::BadRequest(format!(
            "policyName: cannot be changed ('{}')",
            current.name
        )));
    }
    if keeps_burst {
        policy.burst_count = current.burst_count;
        policy.burst_time_unit = current.burst_time_unit.clone();
    }
    if keeps_groups {
        policy.conditional_groups = current.conditional_groups.clone();
    }
    if keeps_graphql.0 {
        policy.graphql_max_depth = current.graphql_max_depth;
    }
    if keeps_graphql.1 {
        policy.graphql_max_complexity = current.graphql_max_complexity;
    }
    policy.id = current.id;
    policies::update(state.store(), level, &policy).await?;
    tracing::info!(level = level.as_str(), name = %policy.name, %by, "throttling policy updated");
    state.sync_environments().await?;
    Ok(policy)
}

async fn remove(
    State(state): State<AppState>,
    Scoped(user, _): Scoped<rest_scopes::TierManage>,
    Path((level, id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let level = level_of(&level)?;
    remove_policy(&state, level, &id, &user.username).await?;
    Ok(StatusCode::OK)
}

/// Deletes the policy `id` unless it is the default or in use (409 saying so); re-syncs
/// gateways. The deleted policy.
pub(crate) async fn remove_policy(
    state: &AppState,
    level: PolicyLevel,
    id: &str,
    by: &str,
) -> ApiResult<Policy> {
    let policy = load(state, level, id).await?;
    if policy.name == "Unlimited" {
        return Err(ApiError::Conflict(
            "The Unlimited policy is the default and cannot be deleted".into(),
        ));
    }
    let mut users = policies::usage(state.store(), level, &policy.name).await?;
    for api in apis::all(state.store()).await? {
        let offered = match level {
            PolicyLevel::Subscription => api.policies.contains(&policy.name),
            PolicyLevel::Api => api
                .operations
                .iter()
                .any(|o| o.throttling_policy == policy.name),
            PolicyLevel::Application => false,
        };
        users += i64::from(offered);
    }
    // API products offer subscription tiers too (their operations' tiers are their APIs').
    if level == PolicyLevel::Subscription {
        for product in gantry_store::api_products::all(state.store()).await? {
            users += i64::from(product.policies.contains(&policy.name));
        }
    }
    if users > 0 {
        return Err(ApiError::Conflict(format!(
            "The policy '{}' is in use ({users} APIs, applications or subscriptions name it)",
            policy.name
        )));
    }
    policies::delete(state.store(), level, id).await?;
    tracing::info!(level = level.as_str(), name = %policy.name, %by, "throttling policy deleted");
    state.sync_environments().await?;
    Ok(policy)
}
