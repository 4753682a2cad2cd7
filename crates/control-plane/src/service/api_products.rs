//! API products: made from operations of several APIs the publisher may manage, with their
//! own name, context, version, tiers and visibility, the APIs' lifecycle, revisions that
//! freeze the included APIs (operations and endpoints) and deployments. The Publisher REST
//! handlers (`publisher::api_products`) call these; subscriptions to products go through
//! `service::subscriptions` like subscriptions to APIs.

use gantry_model::api_product::PRODUCT_TYPE;
use gantry_model::{
    Api, ApiContext, ApiDetails, ApiName, ApiProduct, ApiVersion, HttpVerb, LifecycleState,
    Operation, ProductApi, ProductRevision, ResourceTarget,
};
use gantry_store::apis::{self, Deployment, Revision};
use gantry_store::{StoreError, api_products, new_id, now_ms};

use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::extract::AuthUser;
use crate::publisher::apis::may_manage;
use crate::service::apis::{check_if_match, check_roles, check_tiers, parse_action, transition};
use crate::service::revisions::{DeploymentTarget, resolve_targets};
use crate::service::subscriptions::Subscribable;
use crate::wire::rfc3339;

/// A product as a request describes it, validated but with its APIs not yet looked up.
#[derive(Debug, Clone)]
pub struct ProductDraft {
    /// Name.
    pub name: ApiName,
    /// Context.
    pub context: ApiContext,
    /// Version.
    pub version: ApiVersion,
    /// Free text.
    pub description: Option<String>,
    /// Subscription tiers offered.
    pub policies: Vec<String>,
    /// `PUBLIC`, `PRIVATE` or `RESTRICTED`.
    pub visibility: String,
    /// `http` and/or `https`.
    pub transport: Vec<String>,
    /// Tags.
    pub tags: Vec<String>,
    /// Roles, business information, properties.
    pub details: ApiDetails,
    /// The APIs and operations asked for.
    pub apis: Vec<ApiSelection>,
}

/// The operations a product takes from one API (WSO2 `ProductAPI`: `apiId`, `operations`).
#[derive(Debug, Clone)]
pub struct ApiSelection {
    /// The API.
    pub api_id: String,
    /// (target, verb) of each operation, as the API defines them.
    pub operations: Vec<(ResourceTarget, HttpVerb)>,
}

/// Loads a product or answers 404 naming it.
pub(crate) async fn load(state: &AppState, id: &str) -> ApiResult<ApiProduct> {
    match api_products::get(state.store(), id).await {
        Err(StoreError::NotFound) => Err(ApiError::not_found("API product", id)),
        other => Ok(other?),
    }
}

/// The product, or 404 when `user` may not see it in the Publisher (its provider, admins,
/// and with `accessControl: RESTRICTED` only holders of its `accessControlRoles`).
pub(crate) async fn load_for(state: &AppState, id: &str, user: &AuthUser) -> ApiResult<ApiProduct> {
    let product = load(state, id).await?;
    if may_manage(
        &product.provider,
        &product.details,
        &user.username,
        &user.roles,
    ) {
        Ok(product)
    } else {
        Err(ApiError::not_found("API product", id))
    }
}

/// Whether `user` sees `product` in the Publisher.
pub(crate) fn may_see(product: &ApiProduct, user: &AuthUser) -> bool {
    may_manage(
        &product.provider,
        &product.details,
        &user.username,
        &user.roles,
    )
}

/// An API or an API product by id, as a subscription target; 404 when neither exists.
pub(crate) async fn subscribed_to(state: &AppState, id: &str) -> ApiResult<Subscribable> {
    match apis::get(state.store(), id).await {
        Ok(api) => Ok(Subscribable::from(&api)),
        Err(StoreError::NotFound) => match api_products::get(state.store(), id).await {
            Ok(product) => Ok(Subscribable::from(&product)),
            Err(StoreError::NotFound) => Err(ApiError::not_found("API", id)),
            Err(e) => Err(e.into()),
        },
        Err(e) => Err(e.into()),
    }
}

/// 409 while `api` is part of a product (WSO2 refuses to delete such an API too).
pub(crate) async fn refuse_if_included(state: &AppState, api: &Api) -> ApiResult<()> {
    let products = api_products::including_api(state.store(), &api.id).await?;
    if products.is_empty() {
        return Ok(());
    }
    let names: Vec<String> = products
        .iter()
        .map(|p| format!("{} {}", p.name, p.version))
        .collect();
    Err(ApiError::Conflict(format!(
        "the API is used in API product(s) {}; remove it from them first",
        names.join(", ")
    )))
}

/// The included APIs of `draft`, each narrowed to the operations asked for: every API must
/// exist and be one `user` may manage, every operation must be one the API defines, and
/// no path may come from two APIs (the gateway routes a path to one API).
async fn resolve(
    state: &AppState,
    selections: &[ApiSelection],
    user: &AuthUser,
) -> ApiResult<Vec<ProductApi>> {
    if selections.is_empty() {
        return Err(ApiError::BadRequest(
            "apis: name at least one API and operation, e.g. [{\"apiId\": \"…\", \"operations\": [{\"target\": \"/menu\", \"verb\": \"GET\"}]}]".into(),
        ));
    }
    let mut resolved: Vec<ProductApi> = Vec::with_capacity(selections.len());
    for (i, selection) in selections.iter().enumerate() {
        let missing = || {
            ApiError::BadRequest(format!(
                "apis[{i}].apiId: API '{}' does not exist",
                selection.api_id
            ))
        };
        let api = match apis::get(state.store(), &selection.api_id).await {
            Err(StoreError::NotFound) => return Err(missing()),
            other => other?,
        };
        if !may_manage(&api.provider, &api.details, &user.username, &user.roles) {
            return Err(missing());
        }
        if api.api_type == crate::publisher::graphql::GRAPHQL {
            // Its root fields are checked by the GraphQL stage, which a product's routes
            // do not run; WSO2's products are made of REST APIs too.
            return Err(ApiError::BadRequest(format!(
                "apis[{i}].apiId: API '{}' is a GraphQL API; a product is made of REST APIs",
                api.name
            )));
        }
        if resolved.iter().any(|r| r.api_id == api.id) {
            return Err(ApiError::BadRequest(format!(
                "apis[{i}].apiId: API '{}' is listed twice; list its operations once",
                api.name
            )));
        }
        if selection.operations.is_empty() {
            return Err(ApiError::BadRequest(format!(
                "apis[{i}].operations: name at least one operation of API '{}'",
                api.name
            )));
        }
        let mut operations: Vec<Operation> = Vec::with_capacity(selection.operations.len());
        for (j, (target, verb)) in selection.operations.iter().enumerate() {
            let at = format!("apis[{i}].operations[{j}]");
            let op = api
                .operations
                .iter()
                .find(|o| &o.target == target && o.verb == *verb)
                .ok_or_else(|| {
                    ApiError::BadRequest(format!(
                        "{at}: API '{}' has no operation {} {target}",
                        api.name,
                        verb.as_str()
                    ))
                })?;
            if operations.contains(op) {
                return Err(ApiError::BadRequest(format!(
                    "{at}: {} {target} is listed twice",
                    verb.as_str()
                )));
            }
            if let Some(other) = resolved.iter().find(|r| {
                r.operations
                    .iter()
                    .any(|o| same_path(o.target.as_str(), target.as_str()))
            }) {
                return Err(ApiError::BadRequest(format!(
                    "{at}: path {target} is also taken from API '{}'; a path of a product comes from one API",
                    other.name
                )));
            }
            operations.push(op.clone());
        }
        resolved.push(ProductApi {
            api_id: api.id.clone(),
            name: api.name.to_string(),
            version: api.version.to_string(),
            operations,
        });
    }
    Ok(resolved)
}

/// Whether two resource templates are one route (parameter names do not matter).
fn same_path(a: &str, b: &str) -> bool {
    let shape = |t: &str| -> Vec<String> {
        t.trim_end_matches('/')
            .split('/')
            .map(|s| {
                if s.starts_with('{') {
                    "{}".to_owned()
                } else {
                    s.to_owned()
                }
            })
            .collect()
    };
    shape(a) == shape(b)
}

/// Creates a product owned by `user`.
pub async fn create(
    state: &AppState,
    draft: ProductDraft,
    user: &AuthUser,
) -> ApiResult<ApiProduct> {
    create_as(state, draft, user, &user.username).await
}

/// Creates a product made by `user` (who must manage its APIs) with `provider` as its
/// provider (an import that preserves the project's provider).
pub async fn create_as(
    state: &AppState,
    draft: ProductDraft,
    user: &AuthUser,
    provider: &str,
) -> ApiResult<ApiProduct> {
    check_roles(&draft.details)?;
    check_tiers(state, &draft.policies).await?;
    let apis = resolve(state, &draft.apis, user).await?;
    let now = rfc3339(now_ms());
    let product = ApiProduct {
        id: new_id(),
        name: draft.name,
        description: draft.description,
        context: draft.context,
        version: draft.version,
        provider: provider.to_owned(),
        state: LifecycleState::Created,
        api_type: PRODUCT_TYPE.to_owned(),
        transport: draft.transport,
        tags: draft.tags,
        policies: draft.policies,
        visibility: draft.visibility,
        details: draft.details,
        apis,
        created_time: now.clone(),
        last_updated_time: now,
    };
    api_products::create(state.store(), &product, &user.username).await?;
    tracing::info!(product_id = %product.id, name = %product.name, version = %product.version, "API product created");
    Ok(product)
}

/// Replaces the working copy of product `id` (name, context and version fixed: 400 when
/// the draft differs). Gateways keep serving the deployed revision until a new one is
/// deployed.
pub async fn update(
    state: &AppState,
    id: &str,
    draft: ProductDraft,
    if_match: Option<&str>,
    user: &AuthUser,
) -> ApiResult<ApiProduct> {
    let current = load_for(state, id, user).await?;
    check_if_match(if_match, &current)?;
    for (field, given, stored) in [
        ("name", draft.name.as_str(), current.name.as_str()),
        ("context", draft.context.as_str(), current.context.as_str()),
        ("version", draft.version.as_str(), current.version.as_str()),
    ] {
        if given != stored {
            return Err(ApiError::BadRequest(format!(
                "{field}: cannot be changed by an update ('{stored}'); create a new version instead"
            )));
        }
    }
    check_roles(&draft.details)?;
    check_tiers(state, &draft.policies).await?;
    let apis = resolve(state, &draft.apis, user).await?;
    let product = ApiProduct {
        description: draft.description,
        transport: draft.transport,
        tags: draft.tags,
        policies: draft.policies,
        visibility: draft.visibility,
        details: draft.details,
        apis,
        last_updated_time: rfc3339(now_ms()),
        ..current.clone()
    };
    match api_products::update_if_unchanged(state.store(), &product, &current).await {
        Err(StoreError::Conflict(what)) if if_match.is_some() => {
            return Err(ApiError::PreconditionFailed(format!("If-Match: {what}")));
        }
        other => other?,
    }
    tracing::info!(product_id = %product.id, "API product updated");
    Ok(product)
}

/// Applies a lifecycle action (the APIs' state machine); gateways learn the new state.
pub async fn change_lifecycle(
    state: &AppState,
    id: &str,
    action: &str,
    user: &AuthUser,
) -> ApiResult<ApiProduct> {
    let action = parse_action(action)?;
    let mut product = load_for(state, id, user).await?;
    let from = product.state;
    let to = transition(from, action)?;
    product.last_updated_time = rfc3339(now_ms());
    api_products::change_lifecycle(state.store(), &mut product, to, &user.username).await?;
    tracing::info!(product_id = %product.id, from = from.as_str(), to = to.as_str(), "API product lifecycle changed");
    state.sync_environments().await?;
    Ok(product)
}

/// Deletes a product with its revisions and deployments; 409 while it has subscriptions.
pub async fn delete(state: &AppState, id: &str, user: &AuthUser) -> ApiResult<()> {
    let product = load_for(state, id, user).await?;
    match apis::delete(state.store(), &product.id).await {
        Err(StoreError::Conflict(_)) => {
            return Err(ApiError::Conflict(format!(
                "the API product '{}' has subscriptions; remove them before deleting it",
                product.name
            )));
        }
        other => other?,
    }
    tracing::info!(product_id = %product.id, by = %user.username, "API product deleted");
    state.sync_environments().await?;
    Ok(())
}

/// The product with each included API as it is now, narrowed to the product's operations:
/// what a new revision freezes. 409 when an included API or operation has gone.
async fn freeze(state: &AppState, product: ApiProduct) -> ApiResult<ProductRevision> {
    let mut frozen = Vec::with_capacity(product.apis.len());
    for included in &product.apis {
        let api = match apis::get(state.store(), &included.api_id).await {
            Err(StoreError::NotFound) => {
                return Err(ApiError::Conflict(format!(
                    "API '{}' of the product no longer exists; update the product",
                    included.name
                )));
            }
            other => other?,
        };
        let mut operations = Vec::with_capacity(included.operations.len());
        for wanted in &included.operations {
            let op = api
                .operations
                .iter()
                .find(|o| o.target == wanted.target && o.verb == wanted.verb)
                .ok_or_else(|| {
                    ApiError::Conflict(format!(
                        "API '{}' no longer has operation {} {}; update the product",
                        api.name,
                        wanted.verb.as_str(),
                        wanted.target
                    ))
                })?;
            operations.push(op.clone());
        }
        frozen.push(Api { operations, ..api });
    }
    Ok(ProductRevision {
        product,
        apis: frozen,
    })
}

/// Whether the product's working copy no longer matches its APIs (an included operation
/// changed or went away since the product was saved): WSO2's `is-outdated`.
pub async fn is_outdated(state: &AppState, product: &ApiProduct) -> ApiResult<bool> {
    for included in &product.apis {
        let api = match apis::get(state.store(), &included.api_id).await {
            Err(StoreError::NotFound) => return Ok(true),
            other => other?,
        };
        if included
            .operations
            .iter()
            .any(|op| !api.operations.contains(op))
        {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Creates a revision freezing the product and its APIs as they are now.
pub async fn create_revision(
    state: &AppState,
    id: &str,
    description: &str,
    user: &AuthUser,
) -> ApiResult<Revision<ProductRevision>> {
    let product = load_for(state, id, user).await?;
    if description.chars().count() > 255 {
        return Err(ApiError::BadRequest(
            "description: must be at most 255 characters".into(),
        ));
    }
    let frozen = freeze(state, product).await?;
    let revision = api_products::create_revision(state.store(), &frozen, description).await?;
    tracing::info!(
        product_id = id,
        revision = revision.number,
        "API product revision created"
    );
    Ok(revision)
}

/// A revision of a product, or 404 naming what is missing.
pub(crate) async fn load_revision(
    state: &AppState,
    id: &str,
    revision_id: &str,
    user: &AuthUser,
) -> ApiResult<Revision<ProductRevision>> {
    load_for(state, id, user).await?;
    match api_products::get_revision(state.store(), id, revision_id).await {
        Err(StoreError::NotFound) => Err(ApiError::not_found("revision", revision_id)),
        other => Ok(other?),
    }
}

/// Deploys a product revision to environments; gateways serve it at once.
pub async fn deploy_revision(
    state: &AppState,
    id: &str,
    revision_id: &str,
    targets: &[DeploymentTarget],
    user: &AuthUser,
) -> ApiResult<Vec<Deployment>> {
    load_revision(state, id, revision_id, user).await?;
    let resolved = resolve_targets(state, targets).await?;
    let mut deployments = Vec::with_capacity(resolved.len());
    for (env, vhost, display) in resolved {
        deployments
            .push(apis::deploy(state.store(), id, revision_id, &env, &vhost, display).await?);
        tracing::info!(product_id = id, revision_id, environment = %env, %vhost, "API product revision deployed");
    }
    state.sync_environments().await?;
    Ok(deployments)
}

/// Undeploys a product revision from the environments of `targets`; 400 when it is not
/// deployed to one of them.
pub async fn undeploy(
    state: &AppState,
    id: &str,
    revision_id: &str,
    targets: &[DeploymentTarget],
    user: &AuthUser,
) -> ApiResult<()> {
    load_revision(state, id, revision_id, user).await?;
    let resolved = resolve_targets(state, targets).await?;
    for (env, _, _) in &resolved {
        match apis::undeploy(state.store(), id, revision_id, env).await {
            Err(StoreError::NotFound) => {
                return Err(ApiError::BadRequest(format!(
                    "revision '{revision_id}' is not deployed to '{env}'"
                )));
            }
            other => other?,
        }
        tracing::info!(product_id = id, revision_id, environment = %env, "API product revision undeployed");
    }
    state.sync_environments().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::same_path;

    #[test]
    fn paths_are_compared_by_shape() {
        assert!(same_path("/items/{id}", "/items/{itemId}"));
        assert!(same_path("/items/", "/items"));
        assert!(!same_path("/items/{id}", "/items/all/x"));
        assert!(!same_path("/orders", "/items"));
    }
}
