//! Builds the [`GatewaySnapshot`] of one environment from the store: the deployed
//! revisions (of APIs and API products), and the applications, keys and subscriptions
//! that touch them.
//!
//! Subscriptions waiting for approval (`ON_HOLD`) or refused (`REJECTED`) and applications
//! not approved are left out: gateways never see what an approval workflow holds back.
//! Trusted issuers are not stored here; the control plane adds its key manager's keys. Each
//! key mapping carries the issuer of its key manager. Revoked token ids are those not expired yet;
//! deny policies are every switched-on one and custom rules every one, whatever the
//! environment.

use gantry_model::snapshot::{
    DeployedApi, KeyMapping, SnapshotApplication, SnapshotSubscription, ThrottlingPolicy,
};
use gantry_model::{Api, GatewaySnapshot, KeyType, LifecycleState, SubscriptionStatus};

use crate::{Result, Store, StoreError, environments, from_json};

#[derive(sqlx::FromRow)]
struct DeployedRow {
    revision_id: String,
    vhost: String,
    definition: String,
    lifecycle_status: String,
    /// The working copy's flag (a deployed revision's copy of the flag may be stale).
    is_default_version: i64,
}

#[derive(sqlx::FromRow)]
struct SubscriptionRow {
    id: String,
    application_id: String,
    api_id: String,
    throttling_policy: String,
    status: String,
}

#[derive(sqlx::FromRow)]
struct ApplicationRow {
    id: String,
    name: String,
    owner: String,
    throttling_policy: String,
}

#[derive(sqlx::FromRow)]
struct PolicyRow {
    policy_level: String,
    name: String,
    request_count: i64,
    unit_time: i64,
    time_unit: String,
    burst_count: i64,
    burst_time_unit: String,
    data_amount: i64,
    data_unit: String,
    conditional_groups: String,
    graphql_max_depth: i64,
    graphql_max_complexity: i64,
}

#[derive(sqlx::FromRow)]
struct KeyRow {
    consumer_key: String,
    application_id: String,
    key_type: String,
    key_manager: String,
    /// The external key manager's issuer; `None` for the resident one (or a name no key
    /// manager holds any more).
    external_issuer: Option<String>,
}

impl KeyRow {
    /// The mapping gateways get; `None` when its key manager no longer exists (it vouches
    /// for no one, so the mapping is left out).
    fn into_mapping(self, resident_issuer: &str) -> Result<Option<KeyMapping>> {
        let issuer = if self.key_manager == crate::applications::RESIDENT_KEY_MANAGER {
            resident_issuer.to_owned()
        } else {
            match self.external_issuer {
                Some(issuer) => issuer,
                None => return Ok(None),
            }
        };
        Ok(Some(KeyMapping {
            key_type: KeyType::parse(&self.key_type)
                .ok_or_else(|| StoreError::Corrupt(format!("key type '{}'", self.key_type)))?,
            consumer_key: self.consumer_key,
            application_id: self.application_id,
            issuer,
        }))
    }
}

/// `api` (a revision's definition) as gateways serve it, at `vhost`, in `lifecycle`; not
/// the default version and without client certificates until the caller says otherwise.
pub(crate) fn deployed_api(
    api: Api,
    revision_id: String,
    vhost: String,
    lifecycle: LifecycleState,
) -> DeployedApi {
    DeployedApi {
        api_id: api.id,
        revision_id,
        name: api.name,
        context: api.context,
        version: api.version,
        vhost,
        is_default_version: false,
        lifecycle,
        api_type: api.api_type,
        authorization_header: api.authorization_header,
        security_scheme: api.security_scheme,
        gateway: api.gateway,
        endpoint_config: api.endpoint_config,
        cors_configuration: api.cors_configuration,
        operations: api.operations,
        client_certificates: Vec::new(),
    }
}

/// The snapshot of `environment` at its current config version; `NotFound` if it does not
/// exist. `resident_issuer` is the `iss` of the resident key manager's tokens: its clients'
/// mappings carry it, an external client's mapping carries its key manager's issuer.
pub async fn build(
    store: &Store,
    environment: &str,
    resident_issuer: &str,
) -> Result<GatewaySnapshot> {
    let env = environments::find_by_name(store, environment)
        .await?
        .ok_or(StoreError::NotFound)?;
    let pool = store.pool();

    let deployed = sqlx::query_as::<_, DeployedRow>(
        "SELECT d.revision_id, d.vhost, r.definition, a.lifecycle_status, a.is_default_version FROM api_deployments d \
         JOIN api_revisions r ON r.id = d.revision_id JOIN apis a ON a.id = d.api_id \
         WHERE d.environment = $1 AND a.kind = 'API' ORDER BY a.context, a.version",
    )
    .bind(environment)
    .fetch_all(pool)
    .await?;
    let mut certificates: std::collections::HashMap<String, Vec<_>> =
        std::collections::HashMap::new();
    for stored in crate::client_certificates::deployed_in(store, environment).await? {
        certificates
            .entry(stored.api_id.clone())
            .or_default()
            .push(stored.for_gateway());
    }
    let mut apis = Vec::with_capacity(deployed.len());
    let mut ai_apis = Vec::new();
    for row in deployed {
        let api: Api = from_json("api_revisions.definition", &row.definition)?;
        let lifecycle = LifecycleState::parse(&row.lifecycle_status)
            .ok_or_else(|| StoreError::Corrupt(format!("lifecycle '{}'", row.lifecycle_status)))?;
        if !lifecycle.is_routable() {
            continue;
        }
        if api.subtype_configuration.is_some() {
            match crate::ai::deployment(store, &api).await? {
                Some(ai) => ai_apis.push(ai),
                None => continue,
            }
        }
        let client_certificates = certificates.remove(&api.id).unwrap_or_default();
        apis.push(DeployedApi {
            is_default_version: row.is_default_version != 0,
            client_certificates,
            ..deployed_api(api, row.revision_id, row.vhost, lifecycle)
        });
    }

    let subscriptions = sqlx::query_as::<_, SubscriptionRow>(
        "SELECT s.id, s.application_id, s.api_id, s.throttling_policy, s.status FROM subscriptions s \
         JOIN api_deployments d ON d.api_id = s.api_id WHERE d.environment = $1 AND s.status NOT IN ('ON_HOLD', 'REJECTED') ORDER BY s.id",
    )
    .bind(environment)
    .fetch_all(pool)
    .await?
    .into_iter()
    .map(|r| {
        Ok(SnapshotSubscription {
            status: SubscriptionStatus::parse(&r.status)
                .ok_or_else(|| StoreError::Corrupt(format!("subscription status '{}'", r.status)))?,
            id: r.id,
            application_id: r.application_id,
            api_id: r.api_id,
            tier: r.throttling_policy,
        })
    })
    .collect::<Result<Vec<_>>>()?;

    let applications = sqlx::query_as::<_, ApplicationRow>(
        "SELECT DISTINCT a.id, a.name, a.owner, a.throttling_policy FROM applications a \
         JOIN subscriptions s ON s.application_id = a.id \
         JOIN api_deployments d ON d.api_id = s.api_id WHERE d.environment = $1 \
         AND s.status NOT IN ('ON_HOLD', 'REJECTED') AND a.status = 'APPROVED' ORDER BY a.id",
    )
    .bind(environment)
    .fetch_all(pool)
    .await?
    .into_iter()
    .map(|r| SnapshotApplication {
        id: r.id,
        name: r.name,
        owner: r.owner,
        tier: r.throttling_policy,
    })
    .collect();

    let key_mappings = sqlx::query_as::<_, KeyRow>(
        "SELECT DISTINCT k.consumer_key, k.application_id, k.key_type, k.key_manager, m.issuer AS external_issuer \
         FROM application_keys k LEFT JOIN key_managers m ON m.name = k.key_manager \
         JOIN subscriptions s ON s.application_id = k.application_id \
         JOIN api_deployments d ON d.api_id = s.api_id WHERE d.environment = $1 \
         AND s.status NOT IN ('ON_HOLD', 'REJECTED') ORDER BY k.consumer_key",
    )
    .bind(environment)
    .fetch_all(pool)
    .await?
    .into_iter()
    .filter_map(|r| r.into_mapping(resident_issuer).transpose())
    .collect::<Result<Vec<_>>>()?;

    let throttling_policies = sqlx::query_as::<_, PolicyRow>(
        "SELECT policy_level, name, request_count, unit_time, time_unit, burst_count, burst_time_unit, data_amount, data_unit, conditional_groups, graphql_max_depth, graphql_max_complexity FROM throttling_policies ORDER BY policy_level, name",
    )
    .fetch_all(pool)
    .await?
    .into_iter()
    .map(|r| {
        Ok(ThrottlingPolicy {
        conditional_groups: from_json("throttling_policies.conditional_groups", &r.conditional_groups)?,
        level: r.policy_level,
        name: r.name,
        request_count: r.request_count,
        unit_time: r.unit_time,
        time_unit: r.time_unit,
        burst_count: r.burst_count,
        burst_time_unit: r.burst_time_unit,
        bandwidth_bytes: crate::policies::bandwidth_bytes(r.data_amount, &r.data_unit),
        graphql_max_depth: u32::try_from(r.graphql_max_depth).ok().filter(|n| *n > 0),
        graphql_max_complexity: u32::try_from(r.graphql_max_complexity).ok().filter(|n| *n > 0),
        })
    })
    .collect::<Result<Vec<_>>>()?;

    let products = crate::api_products::deployed_in(store, environment).await?;
    let canaries = crate::canaries::for_snapshot(store, environment, &apis, &products).await?;
    Ok(GatewaySnapshot {
        environment: env.name,
        version: u64::try_from(env.config_version).unwrap_or_default(),
        apis,
        applications,
        key_mappings,
        subscriptions,
        issuers: Vec::new(),
        throttling_policies,
        revoked_token_ids: crate::revoked_tokens::live_ids(store, crate::now_ms()).await?,
        deny_policies: crate::deny_policies::enforced(store).await?,
        custom_rules: crate::custom_rules::enforced(store).await?,
        products,
        ai_apis,
        token_quotas: crate::ai::token_quotas(store).await?,
        canaries,
        gateway_policies: crate::gateway_policies::deployed(store, environment).await?,
        endpoint_certificates: crate::endpoint_certificates::for_gateways(store).await?,
    })
}
