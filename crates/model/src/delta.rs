//! Deltas between two snapshots of one environment: what a gateway holding version N needs
//! to reach version M without receiving the whole configuration again.
//!
//! Lists are diffed by their natural key (API id, application id, consumer key — unique
//! across key managers, as the store enforces — subscription id); issuers, policies, deny
//! policies, custom rules, API products and revoked ids are small and sent whole when they change. Applying a delta to anything but
//! its base version is refused.

use serde::{Deserialize, Serialize};

use crate::custom_rules::CustomRule;
use crate::deny::DenyPolicy;
use crate::snapshot::{
    DeployedApi, GatewaySnapshot, KeyMapping, SnapshotApplication, SnapshotSubscription,
    ThrottlingPolicy, TrustedIssuer,
};

/// The difference between two versions of one environment's snapshot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct SnapshotDelta {
    /// The environment.
    pub environment: String,
    /// The version this delta applies to.
    pub from_version: u64,
    /// The version it produces.
    pub to_version: u64,
    /// APIs added or changed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub upsert_apis: Vec<DeployedApi>,
    /// Ids of APIs removed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub remove_apis: Vec<String>,
    /// Applications added or changed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub upsert_applications: Vec<SnapshotApplication>,
    /// Ids of applications removed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub remove_applications: Vec<String>,
    /// Key mappings added or changed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub upsert_key_mappings: Vec<KeyMapping>,
    /// Consumer keys removed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub remove_key_mappings: Vec<String>,
    /// Subscriptions added or changed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub upsert_subscriptions: Vec<SnapshotSubscription>,
    /// Ids of subscriptions removed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub remove_subscriptions: Vec<String>,
    /// The full issuer list, when it changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuers: Option<Vec<TrustedIssuer>>,
    /// The full policy list, when it changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub throttling_policies: Option<Vec<ThrottlingPolicy>>,
    /// The full revoked-id list, when it changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_token_ids: Option<Vec<String>>,
    /// The full list of deny policies switched on, when it changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deny_policies: Option<Vec<DenyPolicy>>,
    /// The full list of custom rules, when it changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_rules: Option<Vec<CustomRule>>,
    /// The full list of deployed API products, when it changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub products: Option<Vec<crate::api_product::DeployedProduct>>,
    /// The full list of AI APIs, when it changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ai_apis: Option<Vec<crate::ai::AiDeployment>>,
    /// The full list of token quotas, when it changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_quotas: Option<Vec<crate::ai::TokenQuota>>,
    /// The full list of canary revisions, when it changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canaries: Option<Vec<crate::canary::CanaryRevision>>,
    /// The environment's gateway policies, when they changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway_policies: Option<crate::ApiPolicies>,
    /// The full list of endpoint certificates, when it changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint_certificates: Option<Vec<crate::snapshot::EndpointCertificate>>,
}

/// A delta could not be applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeltaError {
    /// The base snapshot is not the version the delta was computed from.
    #[error(
        "delta applies to version {expected} of '{environment}', the gateway holds version {held}"
    )]
    WrongBase {
        /// Environment of the delta.
        environment: String,
        /// The delta's base version.
        expected: u64,
        /// The version held.
        held: u64,
    },
    /// The delta is for another environment.
    #[error("delta is for environment '{delta}', the gateway serves '{held}'")]
    WrongEnvironment {
        /// Environment of the delta.
        delta: String,
        /// Environment held.
        held: String,
    },
}

fn diff<T: Clone + PartialEq>(
    old: &[T],
    new: &[T],
    key: impl Fn(&T) -> &str,
) -> (Vec<T>, Vec<String>) {
    use std::collections::HashMap;
    let old_by_key: HashMap<&str, &T> = old.iter().map(|t| (key(t), t)).collect();
    let new_keys: std::collections::HashSet<&str> = new.iter().map(&key).collect();
    let upserts = new
        .iter()
        .filter(|t| old_by_key.get(key(t)).is_none_or(|o| *o != *t))
        .cloned()
        .collect();
    let removes = old
        .iter()
        .map(&key)
        .filter(|k| !new_keys.contains(k))
        .map(str::to_owned)
        .collect();
    (upserts, removes)
}

fn patch<T: Clone>(
    base: &[T],
    upserts: &[T],
    removes: &[String],
    key: impl Fn(&T) -> &str,
) -> Vec<T> {
    use std::collections::HashSet;
    let replaced: HashSet<&str> = upserts
        .iter()
        .map(&key)
        .chain(removes.iter().map(String::as_str))
        .collect();
    base.iter()
        .filter(|t| !replaced.contains(key(t)))
        .chain(upserts.iter())
        .cloned()
        .collect()
}

impl SnapshotDelta {
    /// What turns `old` into `new` (both of the same environment).
    pub fn between(old: &GatewaySnapshot, new: &GatewaySnapshot) -> Self {
        let (upsert_apis, remove_apis) = diff(&old.apis, &new.apis, |a| &a.api_id);
        let (upsert_applications, remove_applications) =
            diff(&old.applications, &new.applications, |a| &a.id);
        let (upsert_key_mappings, remove_key_mappings) =
            diff(&old.key_mappings, &new.key_mappings, |k| &k.consumer_key);
        let (upsert_subscriptions, remove_subscriptions) =
            diff(&old.subscriptions, &new.subscriptions, |s| &s.id);
        let changed = |a: bool| a;
        Self {
            environment: new.environment.clone(),
            from_version: old.version,
            to_version: new.version,
            upsert_apis,
            remove_apis,
            upsert_applications,
            remove_applications,
            upsert_key_mappings,
            remove_key_mappings,
            upsert_subscriptions,
            remove_subscriptions,
            issuers: changed(old.issuers != new.issuers).then(|| new.issuers.clone()),
            throttling_policies: changed(old.throttling_policies != new.throttling_policies)
                .then(|| new.throttling_policies.clone()),
            revoked_token_ids: changed(old.revoked_token_ids != new.revoked_token_ids)
                .then(|| new.revoked_token_ids.clone()),
            deny_policies: changed(old.deny_policies != new.deny_policies)
                .then(|| new.deny_policies.clone()),
            custom_rules: changed(old.custom_rules != new.custom_rules)
                .then(|| new.custom_rules.clone()),
            products: changed(old.products != new.products).then(|| new.products.clone()),
            ai_apis: changed(old.ai_apis != new.ai_apis).then(|| new.ai_apis.clone()),
            token_quotas: changed(old.token_quotas != new.token_quotas)
                .then(|| new.token_quotas.clone()),
            canaries: changed(old.canaries != new.canaries).then(|| new.canaries.clone()),
            gateway_policies: changed(old.gateway_policies != new.gateway_policies)
                .then(|| new.gateway_policies.clone()),
            endpoint_certificates: changed(old.endpoint_certificates != new.endpoint_certificates)
                .then(|| new.endpoint_certificates.clone()),
        }
    }

    /// Applies the delta to `base`, producing the new (normalised) snapshot.
    pub fn apply(&self, base: &GatewaySnapshot) -> Result<GatewaySnapshot, DeltaError> {
        if base.environment != self.environment {
            return Err(DeltaError::WrongEnvironment {
                delta: self.environment.clone(),
                held: base.environment.clone(),
            });
        }
        if base.version != self.from_version {
            return Err(DeltaError::WrongBase {
                environment: self.environment.clone(),
                expected: self.from_version,
                held: base.version,
            });
        }
        let mut next = GatewaySnapshot {
            environment: base.environment.clone(),
            version: self.to_version,
            apis: patch(&base.apis, &self.upsert_apis, &self.remove_apis, |a| {
                &a.api_id
            }),
            applications: patch(
                &base.applications,
                &self.upsert_applications,
                &self.remove_applications,
                |a| &a.id,
            ),
            key_mappings: patch(
                &base.key_mappings,
                &self.upsert_key_mappings,
                &self.remove_key_mappings,
                |k| &k.consumer_key,
            ),
            subscriptions: patch(
                &base.subscriptions,
                &self.upsert_subscriptions,
                &self.remove_subscriptions,
                |s| &s.id,
            ),
            issuers: self.issuers.clone().unwrap_or_else(|| base.issuers.clone()),
            throttling_policies: self
                .throttling_policies
                .clone()
                .unwrap_or_else(|| base.throttling_policies.clone()),
            revoked_token_ids: self
                .revoked_token_ids
                .clone()
                .unwrap_or_else(|| base.revoked_token_ids.clone()),
            deny_policies: self
                .deny_policies
                .clone()
                .unwrap_or_else(|| base.deny_policies.clone()),
            custom_rules: self
                .custom_rules
                .clone()
                .unwrap_or_else(|| base.custom_rules.clone()),
            products: self
                .products
                .clone()
                .unwrap_or_else(|| base.products.clone()),
            ai_apis: self.ai_apis.clone().unwrap_or_else(|| base.ai_apis.clone()),
            token_quotas: self
                .token_quotas
                .clone()
                .unwrap_or_else(|| base.token_quotas.clone()),
            canaries: self
                .canaries
                .clone()
                .unwrap_or_else(|| base.canaries.clone()),
            gateway_policies: self
                .gateway_policies
                .clone()
                .unwrap_or_else(|| base.gateway_policies.clone()),
            endpoint_certificates: self
                .endpoint_certificates
                .clone()
                .unwrap_or_else(|| base.endpoint_certificates.clone()),
        };
        next.normalize();
        Ok(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{KeyType, SubscriptionStatus};

    fn snapshot(
        version: u64,
        subs: &[(&str, SubscriptionStatus)],
        keys: &[&str],
    ) -> GatewaySnapshot {
        let mut s = GatewaySnapshot {
            environment: "dp-prod-a".into(),
            version,
            subscriptions: subs
                .iter()
                .map(|(id, status)| SnapshotSubscription {
                    id: (*id).into(),
                    application_id: "app".into(),
                    api_id: "api".into(),
                    tier: "Gold".into(),
                    status: *status,
                })
                .collect(),
            key_mappings: keys
                .iter()
                .map(|k| KeyMapping {
                    consumer_key: (*k).into(),
                    application_id: "app".into(),
                    key_type: KeyType::Production,
                    issuer: "https://km.test/oauth2/token".into(),
                })
                .collect(),
            ..Default::default()
        };
        s.normalize();
        s
    }

    #[test]
    fn delta_carries_only_what_changed_and_reproduces_the_target() {
        use SubscriptionStatus::*;
        let old = snapshot(
            4,
            &[("s1", Unblocked), ("s2", Unblocked), ("s3", Unblocked)],
            &["k1", "k2"],
        );
        let new = snapshot(
            5,
            &[("s1", Unblocked), ("s2", Blocked), ("s4", Unblocked)],
            &["k2", "k3"],
        );
        let delta = SnapshotDelta::between(&old, &new);
        assert_eq!(
            delta
                .upsert_subscriptions
                .iter()
                .map(|s| s.id.as_str())
                .collect::<Vec<_>>(),
            ["s2", "s4"]
        );
        assert_eq!(delta.remove_subscriptions, ["s3"]);
        assert_eq!(delta.remove_key_mappings, ["k1"]);
        assert!(delta.issuers.is_none() && delta.upsert_apis.is_empty());
        assert_eq!(delta.apply(&old).unwrap(), new);
    }

    #[test]
    fn delta_refuses_the_wrong_base() {
        let old = snapshot(4, &[], &[]);
        let new = snapshot(5, &[], &["k"]);
        let delta = SnapshotDelta::between(&old, &new);
        assert!(matches!(
            delta.apply(&snapshot(3, &[], &[])),
            Err(DeltaError::WrongBase {
                expected: 4,
                held: 3,
                ..
            })
        ));
    }
}
