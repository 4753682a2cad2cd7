//! The OpenAPI documents APIs were created from (or last given through `PUT /swagger`).

use crate::{Result, Store, now_ms};

/// Stores (or replaces) the document of `api_id`.
pub async fn put(store: &Store, api_id: &str, document: &str) -> Result<()> {
    let mut tx = store.begin_write().await?;
    sqlx::query("DELETE FROM api_definitions WHERE api_id = $1")
        .bind(api_id)
        .execute(&mut *tx)
        .await?;
    sqlx::query("INSERT INTO api_definitions (api_id, document, updated_at) VALUES ($1, $2, $3)")
        .bind(api_id)
        .bind(document)
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

/// The stored document of `api_id`, if it has one.
pub async fn get(store: &Store, api_id: &str) -> Result<Option<String>> {
    Ok(
        sqlx::query_scalar("SELECT document FROM api_definitions WHERE api_id = $1")
            .bind(api_id)
            .fetch_optional(store.pool())
            .await?,
    )
}
