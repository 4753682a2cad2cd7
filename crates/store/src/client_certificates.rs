//! Client certificates uploaded for an API's mutual TLS, by alias. The control plane parses
//! and checks a certificate before it stores it; this module only keeps the rows.

use gantry_model::snapshot::ClientCertificate;

use crate::{Result, Store, StoreError, found, now_ms};

/// One stored certificate and what was read from it at upload.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct StoredCertificate {
    /// The API it belongs to.
    pub api_id: String,
    /// Unique per API.
    pub alias: String,
    /// Throttling tier of the calls made with it.
    pub tier: String,
    /// PEM.
    pub certificate: String,
    /// Subject distinguished name.
    pub subject: String,
    /// Issuer distinguished name.
    pub issuer: String,
    /// Serial number (hex).
    pub serial: String,
    /// Validity start, epoch seconds.
    pub not_before: i64,
    /// Validity end, epoch seconds.
    pub not_after: i64,
}

impl StoredCertificate {
    /// What a gateway receives.
    pub fn for_gateway(&self) -> ClientCertificate {
        ClientCertificate {
            alias: self.alias.clone(),
            tier: self.tier.clone(),
            certificate: self.certificate.clone(),
            not_before: self.not_before,
            not_after: self.not_after,
        }
    }
}

/// Stores `certificate`; `Conflict` when its API already has the alias.
pub async fn insert(store: &Store, certificate: &StoredCertificate) -> Result<()> {
    sqlx::query(
        "INSERT INTO api_client_certificates (api_id, alias, tier, certificate, subject, issuer, \
         serial, not_before, not_after, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(&certificate.api_id)
    .bind(&certificate.alias)
    .bind(&certificate.tier)
    .bind(&certificate.certificate)
    .bind(&certificate.subject)
    .bind(&certificate.issuer)
    .bind(&certificate.serial)
    .bind(certificate.not_before)
    .bind(certificate.not_after)
    .bind(now_ms())
    .execute(store.pool())
    .await
    .map_err(StoreError::on_unique(&format!(
        "a certificate with the alias '{}' already exists for this API",
        certificate.alias
    )))?;
    Ok(())
}

/// Replaces the tier and the certificate of an existing alias; `NotFound` otherwise.
pub async fn update(store: &Store, certificate: &StoredCertificate) -> Result<()> {
    let done = sqlx::query(
        "UPDATE api_client_certificates SET tier = $3, certificate = $4, subject = $5, \
         issuer = $6, serial = $7, not_before = $8, not_after = $9 \
         WHERE api_id = $1 AND alias = $2",
    )
    .bind(&certificate.api_id)
    .bind(&certificate.alias)
    .bind(&certificate.tier)
    .bind(&certificate.certificate)
    .bind(&certificate.subject)
    .bind(&certificate.issuer)
    .bind(&certificate.serial)
    .bind(certificate.not_before)
    .bind(certificate.not_after)
    .execute(store.pool())
    .await?;
    found(&done)
}

/// The API's certificates, by alias.
pub async fn list(store: &Store, api_id: &str) -> Result<Vec<StoredCertificate>> {
    Ok(sqlx::query_as(
        "SELECT api_id, alias, tier, certificate, subject, issuer, serial, not_before, not_after \
         FROM api_client_certificates WHERE api_id = $1 ORDER BY alias",
    )
    .bind(api_id)
    .fetch_all(store.pool())
    .await?)
}

/// One certificate; `NotFound` when the API has no such alias.
pub async fn get(store: &Store, api_id: &str, alias: &str) -> Result<StoredCertificate> {
    sqlx::query_as(
        "SELECT api_id, alias, tier, certificate, subject, issuer, serial, not_before, not_after \
         FROM api_client_certificates WHERE api_id = $1 AND alias = $2",
    )
    .bind(api_id)
    .bind(alias)
    .fetch_optional(store.pool())
    .await?
    .ok_or(StoreError::NotFound)
}

/// Deletes one certificate; `NotFound` when the API has no such alias.
pub async fn delete(store: &Store, api_id: &str, alias: &str) -> Result<()> {
    let done = sqlx::query("DELETE FROM api_client_certificates WHERE api_id = $1 AND alias = $2")
        .bind(api_id)
        .bind(alias)
        .execute(store.pool())
        .await?;
    found(&done)
}

/// Every certificate of the APIs deployed to `environment`, for its snapshot.
pub async fn deployed_in(store: &Store, environment: &str) -> Result<Vec<StoredCertificate>> {
    Ok(sqlx::query_as(
        "SELECT c.api_id, c.alias, c.tier, c.certificate, c.subject, c.issuer, c.serial, \
         c.not_before, c.not_after FROM api_client_certificates c \
         JOIN api_deployments d ON d.api_id = c.api_id WHERE d.environment = $1 \
         ORDER BY c.api_id, c.alias",
    )
    .bind(environment)
    .fetch_all(store.pool())
    .await?)
}
