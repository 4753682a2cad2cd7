//! What gateways report per API revision (`revision_traffic`, migration 0020): one row per
//! report, added up per environment and window for the rollouts' analysis, so whichever
//! replica a gateway reports to, the replica driving a rollout sees every gateway.

use gantry_model::traffic::{RevisionTraffic, TrafficTotals};

use crate::{Result, Store, from_json, now_ms, to_json};

/// Stores a report of `node_id` in `environment`.
pub async fn record(
    store: &Store,
    environment: &str,
    node_id: &str,
    revisions: &[RevisionTraffic],
) -> Result<()> {
    let at = now_ms();
    let mut tx = store.begin_write().await?;
    for r in revisions {
        sqlx::query(
            "INSERT INTO revision_traffic (environment, node_id, api_id, revision_id, received_at, requests, errors, latency) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(environment)
        .bind(node_id)
        .bind(&r.api_id)
        .bind(&r.revision_id)
        .bind(at)
        .bind(i64::try_from(r.requests).unwrap_or(i64::MAX))
        .bind(i64::try_from(r.errors).unwrap_or(i64::MAX))
        .bind(to_json(&r.latency))
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

#[derive(sqlx::FromRow)]
struct TrafficRow {
    requests: i64,
    errors: i64,
    latency: String,
}

/// What `revision_id` of `api_id` served in `environment` (every gateway) in reports
/// received from `since_ms` on.
pub async fn totals(
    store: &Store,
    environment: &str,
    api_id: &str,
    revision_id: &str,
    since_ms: i64,
) -> Result<TrafficTotals> {
    let rows = sqlx::query_as::<_, TrafficRow>(
        "SELECT requests, errors, latency FROM revision_traffic WHERE environment = $1 \
         AND api_id = $2 AND revision_id = $3 AND received_at >= $4",
    )
    .bind(environment)
    .bind(api_id)
    .bind(revision_id)
    .bind(since_ms)
    .fetch_all(store.pool())
    .await?;
    let mut totals = TrafficTotals::default();
    for row in rows {
        let latency: Vec<u64> = from_json("revision_traffic.latency", &row.latency)?;
        totals.add(
            u64::try_from(row.requests).unwrap_or(0),
            u64::try_from(row.errors).unwrap_or(0),
            &latency,
        );
    }
    Ok(totals)
}

/// Deletes reports received before `before_ms`.
pub async fn prune(store: &Store, before_ms: i64) -> Result<u64> {
    Ok(
        sqlx::query("DELETE FROM revision_traffic WHERE received_at < $1")
            .bind(before_ms)
            .execute(store.pool())
            .await?
            .rows_affected(),
    )
}
