//! Two revisions of one API (or API product) in one environment: the revision deployed
//! before keeps serving, a canary revision takes a share of the calls (a rollout's weighted
//! step). Gateways pick per request by weight, sticky per client when asked, and count per
//! revision ([`crate::traffic`]).

use serde::{Deserialize, Serialize};

use crate::api_product::DeployedProduct;
use crate::snapshot::DeployedApi;

/// A canary revision of a deployed API or API product and the share of its calls it serves.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CanaryRevision {
    /// The API or product (its stable revision is the snapshot's `DeployedApi` or
    /// `DeployedProduct` with this id).
    pub api_id: String,
    /// Percent of the API's calls served by the canary revision, 0–100.
    pub weight: u8,
    /// How a caller keeps landing on the same revision (none: each call is picked anew).
    #[serde(default, skip_serializing_if = "Stickiness::is_none")]
    pub stickiness: Stickiness,
    /// The canary revision as deployed (same id, context, version and vhost as the
    /// stable one): `"revision"` for an API's, `"product_revision"` for a product's.
    #[serde(flatten)]
    pub revision: CanaryOf,
}

/// What a canary serves.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum CanaryOf {
    /// A revision of an API.
    #[serde(rename = "revision")]
    Api(Box<DeployedApi>),
    /// A revision of an API product (its included APIs as that revision froze them).
    #[serde(rename = "product_revision")]
    Product(Box<DeployedProduct>),
}

impl CanaryOf {
    /// The canary revision's id.
    pub fn revision_id(&self) -> &str {
        match self {
            Self::Api(api) => &api.revision_id,
            Self::Product(product) => &product.revision_id,
        }
    }
}

/// What keeps a caller on one revision while the weight stays the same (and on the canary
/// as the weight grows: a caller hashed under 5 % is still under 25 %).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "by", rename_all = "lowercase")]
pub enum Stickiness {
    /// Each call is picked by weight alone.
    #[default]
    None,
    /// The value of this request header (calls without it are picked by weight).
    Header {
        /// Header name.
        name: String,
    },
    /// The calling application (anonymous calls are picked by weight).
    Application,
}

impl Stickiness {
    /// Whether calls are picked by weight alone.
    pub fn is_none(&self) -> bool {
        matches!(self, Stickiness::None)
    }
}

/// The bucket (0–99) a sticky key falls in: FNV-1a, the same on every gateway and build, so
/// one client lands on the same revision whichever gateway serves it.
pub fn sticky_bucket(key: &[u8]) -> u8 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in key {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    (hash % 100) as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sticky_buckets_are_stable_and_spread() {
        assert_eq!(sticky_bucket(b"client-1"), sticky_bucket(b"client-1"));
        let mut under_25 = 0;
        for i in 0..10_000 {
            if sticky_bucket(format!("user-{i}").as_bytes()) < 25 {
                under_25 += 1;
            }
        }
        assert!((2_200..2_800).contains(&under_25), "{under_25}");
    }

    #[test]
    fn a_delta_carries_a_changed_canary_list_whole() {
        use crate::GatewaySnapshot;
        use crate::delta::SnapshotDelta;
        let api = serde_json::json!({
            "api_id": "shop", "revision_id": "r1", "name": "Shop", "context": "/shop",
            "version": "1.0.0", "vhost": "localhost", "lifecycle": "PUBLISHED",
            "authorization_header": "Authorization",
            "endpoint_config": {"endpoint_type": "http"}, "operations": [],
        });
        let mut canary = api.clone();
        canary["revision_id"] = "r2".into();
        let at = |version: u64, weight: Option<u8>| -> GatewaySnapshot {
            let canaries = match weight {
                Some(w) => serde_json::json!([{"api_id": "shop", "weight": w, "revision": canary}]),
                None => serde_json::json!([]),
            };
            serde_json::from_value(serde_json::json!({
                "environment": "e", "version": version, "apis": [api], "applications": [],
                "key_mappings": [], "subscriptions": [], "issuers": [], "canaries": canaries,
            }))
            .unwrap()
        };
        for (old, new) in [
            (at(1, None), at(2, Some(5))),
            (at(2, Some(5)), at(3, Some(25))),
            (at(3, Some(25)), at(4, None)),
        ] {
            let delta = SnapshotDelta::between(&old, &new);
            assert!(delta.canaries.is_some());
            assert_eq!(delta.apply(&old).unwrap(), new);
        }
        assert!(
            SnapshotDelta::between(&at(1, Some(5)), &at(2, Some(5)))
                .canaries
                .is_none()
        );
    }

    #[test]
    fn an_api_canary_keeps_its_wire_shape_and_a_product_canary_names_its_own() {
        let api = serde_json::json!({
            "api_id": "shop", "revision_id": "r2", "name": "Shop", "context": "/shop",
            "version": "1.0.0", "vhost": "localhost", "lifecycle": "PUBLISHED",
            "authorization_header": "Authorization",
            "endpoint_config": {"endpoint_type": "http"}, "operations": [],
        });
        let wire = serde_json::json!({"api_id": "shop", "weight": 5, "revision": api});
        let canary: CanaryRevision = serde_json::from_value(wire.clone()).unwrap();
        assert!(matches!(&canary.revision, CanaryOf::Api(a) if a.revision_id == "r2"));
        assert_eq!(canary.revision.revision_id(), "r2");
        let written = serde_json::to_value(&canary).unwrap();
        assert_eq!(written["revision"]["revision_id"], "r2");
        assert!(written.get("product_revision").is_none());
        assert_eq!(
            serde_json::from_value::<CanaryRevision>(written).unwrap(),
            canary
        );

        let product = serde_json::json!({
            "product_id": "bundle", "revision_id": "p2", "name": "Bundle",
            "context": "/bundle", "version": "1.0.0", "vhost": "localhost",
            "lifecycle": "PUBLISHED", "apis": [api],
        });
        let wire = serde_json::json!({"api_id": "bundle", "weight": 25,
            "stickiness": {"by": "application"}, "product_revision": product});
        let canary: CanaryRevision = serde_json::from_value(wire.clone()).unwrap();
        assert!(matches!(&canary.revision, CanaryOf::Product(p) if p.apis.len() == 1));
        assert_eq!(canary.revision.revision_id(), "p2");
        assert_eq!(canary.stickiness, Stickiness::Application);
        let written = serde_json::to_value(&canary).unwrap();
        assert_eq!(written["product_revision"]["product_id"], "bundle");
        assert!(written.get("revision").is_none());
        assert_eq!(
            serde_json::from_value::<CanaryRevision>(written).unwrap(),
            canary
        );
    }

    #[test]
    fn stickiness_reads_as_tagged_json() {
        let s: Stickiness = serde_json::from_str(r#"{"by":"header","name":"x-user"}"#).unwrap();
        assert_eq!(
            s,
            Stickiness::Header {
                name: "x-user".into()
            }
        );
        let s: Stickiness = serde_json::from_str(r#"{"by":"application"}"#).unwrap();
        assert_eq!(s, Stickiness::Application);
    }
}
