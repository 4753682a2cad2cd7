//! Canary revisions (`api_canaries`, migration 0020): per API (or API product) and
//! environment, a second revision serving a share of the calls beside the deployed one, and
//! their place in the environment's snapshot. Rollouts set and clear them.

use gantry_model::canary::{CanaryOf, CanaryRevision, Stickiness};
use gantry_model::snapshot::DeployedApi;
use gantry_model::{Api, DeployedProduct, ProductRevision};

use crate::{Result, Store, from_json, now_ms, to_json};

/// Makes `revision_id` serve `weight` percent of `api_id`'s calls in `environment`.
pub async fn set(
    store: &Store,
    api_id: &str,
    environment: &str,
    revision_id: &str,
    weight: u8,
    stickiness: &Stickiness,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO api_canaries (api_id, environment, revision_id, weight, stickiness, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (api_id, environment) DO UPDATE SET \
         revision_id = excluded.revision_id, weight = excluded.weight, \
         stickiness = excluded.stickiness, updated_at = excluded.updated_at",
    )
    .bind(api_id)
    .bind(environment)
    .bind(revision_id)
    .bind(i64::from(weight))
    .bind(to_json(stickiness))
    .bind(now_ms())
    .execute(store.pool())
    .await?;
    Ok(())
}

/// Removes `api_id`'s canary in `environment`, if it has one.
pub async fn clear(store: &Store, api_id: &str, environment: &str) -> Result<()> {
    sqlx::query("DELETE FROM api_canaries WHERE api_id = $1 AND environment = $2")
        .bind(api_id)
        .bind(environment)
        .execute(store.pool())
        .await?;
    Ok(())
}

#[derive(sqlx::FromRow)]
struct CanaryRow {
    api_id: String,
    revision_id: String,
    weight: i64,
    stickiness: String,
    definition: String,
}

/// The canaries of `environment` for the snapshot: each beside its API's (or product's)
/// deployed revision in `apis` (or `products`) — a canary of one not deployed there, or of
/// the revision deployed, is left out — carrying the canary revision's own definition.
pub async fn for_snapshot(
    store: &Store,
    environment: &str,
    apis: &[DeployedApi],
    products: &[DeployedProduct],
) -> Result<Vec<CanaryRevision>> {
    let rows = sqlx::query_as::<_, CanaryRow>(
        "SELECT c.api_id, c.revision_id, c.weight, c.stickiness, r.definition FROM api_canaries c \
         JOIN api_revisions r ON r.id = c.revision_id WHERE c.environment = $1 ORDER BY c.api_id",
    )
    .bind(environment)
    .fetch_all(store.pool())
    .await?;
    let mut canaries = Vec::with_capacity(rows.len());
    for row in rows {
        let beside =
            |id: &str, revision_id: &str| id == row.api_id && revision_id != row.revision_id;
        let revision = if let Some(stable) = apis.iter().find(|a| beside(&a.api_id, &a.revision_id))
        {
            CanaryOf::Api(Box::new(api_canary(stable, &row)?))
        } else if let Some(stable) = products
            .iter()
            .find(|p| beside(&p.product_id, &p.revision_id))
        {
            let frozen: ProductRevision = from_json("api_revisions.definition", &row.definition)?;
            CanaryOf::Product(Box::new(crate::api_products::deployed_product(
                frozen,
                &row.revision_id,
                &stable.vhost,
                stable.lifecycle,
            )))
        } else {
            continue;
        };
        canaries.push(CanaryRevision {
            api_id: row.api_id,
            weight: u8::try_from(row.weight.clamp(0, 100)).unwrap_or(100),
            stickiness: from_json("api_canaries.stickiness", &row.stickiness)?,
            revision,
        });
    }
    Ok(canaries)
}

/// The canary revision of `row` served where the `stable` one is.
fn api_canary(stable: &DeployedApi, row: &CanaryRow) -> Result<DeployedApi> {
    let api: Api = from_json("api_revisions.definition", &row.definition)?;
    let mut revision = stable.clone();
    revision.revision_id.clone_from(&row.revision_id);
    revision.name = api.name;
    revision.authorization_header = api.authorization_header;
    revision.security_scheme = api.security_scheme;
    revision.gateway = api.gateway;
    revision.endpoint_config = api.endpoint_config;
    revision.cors_configuration = api.cors_configuration;
    revision.operations = api.operations;
    Ok(revision)
}
