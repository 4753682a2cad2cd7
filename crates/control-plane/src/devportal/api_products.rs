//! Developer Portal: API products beside APIs. As in WSO2, `GET /apis` lists them with
//! `type: APIPRODUCT` and `GET /apis/{apiId}` shows one; applications subscribe to them
//! through `POST /subscriptions` with the product's id as `apiId`.

use gantry_model::api_product::PRODUCT_TYPE;
use gantry_model::{ApiProduct, LifecycleState};
use serde_json::{Value, json};

use crate::devportal::apis::{operations_json, tiers_json};
use crate::service;

/// Whether the developer portal shows `product` to a caller with `roles` (`None`:
/// anonymous): published, prototyped or deprecated, and visible to them as an API would be.
pub fn visible(product: &ApiProduct, roles: Option<&[String]>) -> bool {
    matches!(
        product.state,
        LifecycleState::Published | LifecycleState::Prototyped | LifecycleState::Deprecated
    ) && service::apis::visible_to(&product.visibility, &product.details, roles)
}

/// WSO2 devportal `APIInfo` of a product.
pub(crate) fn info(product: &ApiProduct) -> Value {
    json!({
        "id": product.id,
        "name": product.name,
        "description": product.description,
        "context": product.context,
        "version": product.version,
        "type": PRODUCT_TYPE,
        "provider": product.provider,
        "lifeCycleStatus": product.state,
        "throttlingPolicies": product.policies,
        "tags": product.tags,
        "isDefaultVersion": false,
        "isSubscriptionAvailable": product.state.accepts_subscriptions(),
        "hasThumbnail": false,
    })
}

/// WSO2 devportal `API` of a product: its info, every included operation, its tiers.
pub(crate) fn detail(product: &ApiProduct) -> Value {
    let mut body = info(product);
    body["operations"] = operations_json(product.apis.iter().flat_map(|api| &api.operations));
    body["transport"] = json!(product.transport);
    body["visibility"] = json!(product.visibility);
    body["tiers"] = tiers_json(&product.policies);
    body
}
