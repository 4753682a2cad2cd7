//! API products, stored in the `apis` table with `kind = 'APIPRODUCT'` (migration 0015, as
//! WSO2's AM_API holds both): names and contexts are unique across APIs and products, and
//! products share the lifecycle history, revisions, deployments and subscriptions of APIs
//! (those functions in [`crate::apis`] work by id). A product revision is a
//! [`ProductRevision`]: the product with its included APIs frozen.

use gantry_model::{ApiProduct, DeployedProduct, LifecycleState, ProductRevision};

use crate::apis::{self, Revision};
use crate::{Result, Store, StoreError, from_json, now_ms, to_json};

/// The `apis.kind` of products.
const KIND: &str = "APIPRODUCT";

#[derive(sqlx::FromRow)]
struct DefinitionRow {
    definition: String,
}

/// Stores a new product; `Conflict` when its name+version or context+version is taken by
/// an API or another product, or its context belongs to an API or product of another name.
pub async fn create(store: &Store, product: &ApiProduct, username: &str) -> Result<()> {
    let now = now_ms();
    let mut tx = store.begin_write().await?;
    let owner: Option<String> =
        sqlx::query_scalar("SELECT name FROM apis WHERE context = $1 AND name <> $2 LIMIT 1")
            .bind(product.context.as_str())
            .bind(product.name.as_str())
            .fetch_optional(&mut *tx)
            .await?;
    if let Some(owner) = owner {
        return Err(StoreError::Conflict(format!(
            "context '{}' is already used by '{owner}'",
            product.context
        )));
    }
    sqlx::query(
        "INSERT INTO apis (id, name, version, context, provider, lifecycle_status, definition, created_at, updated_at, \
         is_default_version, kind) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 0, $10)",
    )
    .bind(&product.id)
    .bind(product.name.as_str())
    .bind(product.version.as_str())
    .bind(product.context.as_str())
    .bind(&product.provider)
    .bind(product.state.as_str())
    .bind(to_json(product))
    .bind(now)
    .bind(now)
    .bind(KIND)
    .execute(&mut *tx)
    .await
    .map_err(|e| match StoreError::on_unique("")(e) {
        StoreError::Conflict(_) => StoreError::Conflict(format!(
            "an API or API product with name '{}' or context '{}' already exists for version '{}'",
            product.name, product.context, product.version
        )),
        other => other,
    })?;
    apis::insert_history(&mut tx, &product.id, None, product.state, username).await?;
    tx.commit().await?;
    Ok(())
}

/// The product with `id`; `NotFound` otherwise (an API's id included).
pub async fn get(store: &Store, id: &str) -> Result<ApiProduct> {
    let row = sqlx::query_as::<_, DefinitionRow>(
        "SELECT definition FROM apis WHERE id = $1 AND kind = 'APIPRODUCT'",
    )
    .bind(id)
    .fetch_optional(store.pool())
    .await?
    .ok_or(StoreError::NotFound)?;
    from_json("apis.definition", &row.definition)
}

/// Every product, by name and version.
pub async fn all(store: &Store) -> Result<Vec<ApiProduct>> {
    sqlx::query_as::<_, DefinitionRow>(
        "SELECT definition FROM apis WHERE kind = 'APIPRODUCT' ORDER BY name, version",
    )
    .fetch_all(store.pool())
    .await?
    .iter()
    .map(|r| from_json("apis.definition", &r.definition))
    .collect()
}

/// Replaces the working copy only if it is still `previous`; `Conflict` when another
/// writer changed it meanwhile (name, context and version never change).
pub async fn update_if_unchanged(
    store: &Store,
    product: &ApiProduct,
    previous: &ApiProduct,
) -> Result<()> {
    let done = sqlx::query(
        "UPDATE apis SET definition = $1, updated_at = $2 \
         WHERE id = $3 AND kind = 'APIPRODUCT' AND definition = $4",
    )
    .bind(to_json(product))
    .bind(now_ms())
    .bind(&product.id)
    .bind(to_json(previous))
    .execute(store.pool())
    .await?;
    if done.rows_affected() == 0 {
        return Err(StoreError::Conflict(
            "the API product was changed by another request meanwhile".into(),
        ));
    }
    Ok(())
}

/// Moves the product to `to`, recording the change; `Conflict` if its stored state moved
/// meanwhile.
pub async fn change_lifecycle(
    store: &Store,
    product: &mut ApiProduct,
    to: LifecycleState,
    username: &str,
) -> Result<()> {
    let from = product.state;
    product.state = to;
    let mut tx = store.begin_write().await?;
    let done = sqlx::query(
        "UPDATE apis SET lifecycle_status = $1, definition = $2, updated_at = $3 \
         WHERE id = $4 AND kind = 'APIPRODUCT' AND lifecycle_status = $5",
    )
    .bind(to.as_str())
    .bind(to_json(&*product))
    .bind(now_ms())
    .bind(&product.id)
    .bind(from.as_str())
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() == 0 {
        return Err(StoreError::Conflict(
            "the API product's lifecycle state changed meanwhile; retry".into(),
        ));
    }
    apis::insert_history(&mut tx, &product.id, Some(from), to, username).await?;
    tx.commit().await?;
    Ok(())
}

/// Freezes `revision` as a new revision of its product; `Conflict` at
/// [`MAX_REVISIONS`](apis::MAX_REVISIONS).
pub async fn create_revision(
    store: &Store,
    revision: &ProductRevision,
    description: &str,
) -> Result<Revision<ProductRevision>> {
    apis::create_revision_of(store, &revision.product.id, revision, description).await
}

/// The revisions of a product, by number.
pub async fn list_revisions(
    store: &Store,
    product_id: &str,
) -> Result<Vec<Revision<ProductRevision>>> {
    apis::list_revisions_of(store, product_id).await
}

/// Revision `id` of product `product_id`; `NotFound` otherwise.
pub async fn get_revision(
    store: &Store,
    product_id: &str,
    id: &str,
) -> Result<Revision<ProductRevision>> {
    apis::get_revision_of(store, product_id, id).await
}

/// The products whose working copy includes an operation of API `api_id`.
pub async fn including_api(store: &Store, api_id: &str) -> Result<Vec<ApiProduct>> {
    Ok(all(store)
        .await?
        .into_iter()
        .filter(|p| p.apis.iter().any(|a| a.api_id == api_id))
        .collect())
}

#[derive(sqlx::FromRow)]
struct DeployedRow {
    revision_id: String,
    vhost: String,
    definition: String,
    lifecycle_status: String,
}

/// The product revisions deployed to `environment` as gateways serve them (retired or
/// never-published products left out, as for APIs).
pub async fn deployed_in(store: &Store, environment: &str) -> Result<Vec<DeployedProduct>> {
    let rows = sqlx::query_as::<_, DeployedRow>(
        "SELECT d.revision_id, d.vhost, r.definition, a.lifecycle_status FROM api_deployments d \
         JOIN api_revisions r ON r.id = d.revision_id JOIN apis a ON a.id = d.api_id \
         WHERE d.environment = $1 AND a.kind = 'APIPRODUCT' ORDER BY a.context, a.version",
    )
    .bind(environment)
    .fetch_all(store.pool())
    .await?;
    let mut products = Vec::with_capacity(rows.len());
    for row in rows {
        let lifecycle = LifecycleState::parse(&row.lifecycle_status)
            .ok_or_else(|| StoreError::Corrupt(format!("lifecycle '{}'", row.lifecycle_status)))?;
        if !lifecycle.is_routable() {
            continue;
        }
        let revision: ProductRevision = from_json("api_revisions.definition", &row.definition)?;
        products.push(deployed_product(
            revision,
            &row.revision_id,
            &row.vhost,
            lifecycle,
        ));
    }
    Ok(products)
}

/// Product revision `revision_id` (its frozen `revision`) as gateways serve it on `vhost`
/// in the product's `lifecycle` state.
pub(crate) fn deployed_product(
    revision: ProductRevision,
    revision_id: &str,
    vhost: &str,
    lifecycle: LifecycleState,
) -> DeployedProduct {
    let product = revision.product;
    DeployedProduct {
        product_id: product.id,
        revision_id: revision_id.to_owned(),
        name: product.name,
        context: product.context,
        version: product.version,
        lifecycle,
        apis: revision
            .apis
            .into_iter()
            // Mutual TLS is not offered through products: no client certificates.
            .map(|api| {
                crate::snapshot::deployed_api(
                    api,
                    revision_id.to_owned(),
                    vhost.to_owned(),
                    lifecycle,
                )
            })
            .collect(),
        vhost: vhost.to_owned(),
    }
}
