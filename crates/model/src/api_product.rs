//! An API product (WSO2 `APIProduct`): operations of several APIs offered under one name,
//! context, version and set of subscription tiers, with the same lifecycle as an API.
//!
//! A product revision freezes the included APIs as they were when it was made (operations
//! and endpoints): a deployed product does not change when an underlying API does, until it
//! gets a new revision, as in WSO2. Gateways receive that frozen copy ([`DeployedProduct`]).

use serde::{Deserialize, Serialize};

use crate::api::{Api, ApiContext, ApiName, ApiVersion, Operation};
use crate::lifecycle::LifecycleState;
use crate::snapshot::DeployedApi;

/// WSO2's `apiType` of a product.
pub const PRODUCT_TYPE: &str = "APIPRODUCT";

/// An API product as stored and served by the publisher REST API.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiProduct {
    /// UUID.
    pub id: String,
    /// Display name; unique together with `version` among APIs and products.
    pub name: ApiName,
    /// Free text.
    #[serde(default)]
    pub description: Option<String>,
    /// Base path on the gateway; unique together with `version` among APIs and products.
    pub context: ApiContext,
    /// Version segment of the gateway path.
    pub version: ApiVersion,
    /// The user who created it.
    pub provider: String,
    /// Lifecycle state (WSO2 names the field `state` on products).
    pub state: LifecycleState,
    /// Always [`PRODUCT_TYPE`].
    pub api_type: String,
    /// `http` and/or `https`.
    pub transport: Vec<String>,
    /// Free-form tags.
    #[serde(default)]
    pub tags: Vec<String>,
    /// The subscription tiers offered.
    pub policies: Vec<String>,
    /// `PUBLIC`, `PRIVATE` or `RESTRICTED` (Developer Portal visibility).
    pub visibility: String,
    /// Business information, additional properties, visible and access-control roles.
    #[serde(flatten)]
    pub details: crate::ApiDetails,
    /// The included APIs and, of each, the operations the product offers.
    pub apis: Vec<ProductApi>,
    /// When it was created, RFC 3339.
    pub created_time: String,
    /// When it was last changed, RFC 3339.
    pub last_updated_time: String,
}

/// One API of a product (WSO2 `ProductAPI`) with the operations taken from it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProductApi {
    /// The API's UUID.
    pub api_id: String,
    /// The API's name, when the product was last saved.
    pub name: String,
    /// The API's version.
    pub version: String,
    /// The operations offered, as the API defined them when the product was last saved.
    pub operations: Vec<Operation>,
}

/// What a product revision freezes: the product and, for each included API, its
/// definition at that moment with only the operations the product offers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProductRevision {
    /// The product's working copy.
    pub product: ApiProduct,
    /// The included APIs, narrowed to the product's operations.
    pub apis: Vec<Api>,
}

/// A product revision as deployed to an environment: where it answers, and the frozen
/// included APIs whose operations it serves under its own context and version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeployedProduct {
    /// The product's UUID (subscriptions point at it).
    pub product_id: String,
    /// The deployed revision's UUID.
    pub revision_id: String,
    /// Display name.
    pub name: ApiName,
    /// Base path.
    pub context: ApiContext,
    /// Version segment.
    pub version: ApiVersion,
    /// The virtual host it answers on.
    pub vhost: String,
    /// The product's current lifecycle state.
    pub lifecycle: LifecycleState,
    /// The included APIs as the revision froze them (their own ids, contexts, security,
    /// endpoints), each with the product's operations only.
    pub apis: Vec<DeployedApi>,
}

impl DeployedProduct {
    /// The included APIs as a gateway serves them under the product: the product's id
    /// (subscriptions and the subscription quota), name, context, version, vhost and
    /// lifecycle; each API's own security, endpoints, policies and operations.
    pub fn served_apis(&self) -> impl Iterator<Item = DeployedApi> + '_ {
        self.apis.iter().map(|api| DeployedApi {
            api_id: self.product_id.clone(),
            revision_id: self.revision_id.clone(),
            name: self.name.clone(),
            context: self.context.clone(),
            version: self.version.clone(),
            vhost: self.vhost.clone(),
            is_default_version: false,
            lifecycle: self.lifecycle,
            ..api.clone()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{AuthType, EndpointConfig, HttpVerb, ResourceTarget};

    #[test]
    fn served_apis_take_the_products_identity_and_keep_each_apis_endpoints() {
        let api = |id: &str, url: &str| DeployedApi {
            api_id: id.into(),
            revision_id: format!("rev-{id}"),
            name: ApiName::parse(id).unwrap(),
            context: ApiContext::parse(&format!("/{id}")).unwrap(),
            version: ApiVersion::parse("1.0.0").unwrap(),
            vhost: "other".into(),
            is_default_version: true,
            lifecycle: LifecycleState::Published,
            api_type: "HTTP".into(),
            authorization_header: "Authorization".into(),
            security_scheme: vec!["oauth2".into()],
            gateway: Default::default(),
            endpoint_config: EndpointConfig {
                production_endpoints: Some(
                    crate::Endpoint {
                        url: url.into(),
                        config: None,
                    }
                    .into(),
                ),
                ..Default::default()
            },
            cors_configuration: Default::default(),
            operations: vec![Operation {
                id: None,
                target: ResourceTarget::parse("/x").unwrap(),
                verb: HttpVerb::Get,
                auth_type: AuthType::Any,
                throttling_policy: "Unlimited".into(),
                scopes: vec!["read".into()],
                operation_policies: Default::default(),
            }],
            client_certificates: vec![],
        };
        let product = DeployedProduct {
            product_id: "p".into(),
            revision_id: "pr".into(),
            name: ApiName::parse("Bundle").unwrap(),
            context: ApiContext::parse("/bundle").unwrap(),
            version: ApiVersion::parse("2").unwrap(),
            vhost: "localhost".into(),
            lifecycle: LifecycleState::Blocked,
            apis: vec![api("a", "http://a"), api("b", "http://b")],
        };
        let served: Vec<DeployedApi> = product.served_apis().collect();
        assert_eq!(served.len(), 2);
        for (s, url) in served.iter().zip(["http://a", "http://b"]) {
            assert_eq!(
                (s.api_id.as_str(), s.context.as_str(), s.version.as_str()),
                ("p", "/bundle", "2")
            );
            assert_eq!(
                (s.vhost.as_str(), s.is_default_version),
                ("localhost", false)
            );
            assert_eq!(s.lifecycle, LifecycleState::Blocked);
            let endpoint = s.endpoint_config.production_endpoints.as_ref().unwrap();
            assert_eq!(endpoint.as_slice()[0].url, url);
            assert_eq!(s.operations[0].scopes, ["read"]);
        }
    }
}
