//! Endpoint certificates: certificates uploaded for an upstream endpoint, by alias (see
//! migration 0025). The control plane parses and checks them; this module keeps the rows.

use gantry_model::snapshot::EndpointCertificate;

use crate::{Result, Store, StoreError, found, now_ms};

/// One stored endpoint certificate and what was read from it at upload.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct StoredEndpointCertificate {
    /// Unique.
    pub alias: String,
    /// The endpoint it applies to, as uploaded.
    pub endpoint: String,
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

impl StoredEndpointCertificate {
    /// What a gateway receives.
    pub fn for_gateway(&self) -> EndpointCertificate {
        EndpointCertificate {
            alias: self.alias.clone(),
            endpoint: self.endpoint.clone(),
            certificate: self.certificate.clone(),
        }
    }
}

/// Stores `certificate`; `Conflict` when the alias is taken.
pub async fn insert(store: &Store, certificate: &StoredEndpointCertificate) -> Result<()> {
    sqlx::query(
        "INSERT INTO endpoint_certificates (alias, endpoint, certificate, subject, issuer, \
         serial, not_before, not_after, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(&certificate.alias)
    .bind(&certificate.endpoint)
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
        "an endpoint certificate with the alias '{}' exists",
        certificate.alias
    )))?;
    Ok(())
}

/// Replaces the certificate of an existing alias (the endpoint stays); `NotFound` otherwise.
pub async fn update(store: &Store, certificate: &StoredEndpointCertificate) -> Result<()> {
    let done = sqlx::query(
        "UPDATE endpoint_certificates SET certificate = $2, subject = $3, issuer = $4, \
         serial = $5, not_before = $6, not_after = $7 WHERE alias = $1",
    )
    .bind(&certificate.alias)
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

/// Every endpoint certificate, by alias.
pub async fn list(store: &Store) -> Result<Vec<StoredEndpointCertificate>> {
    Ok(sqlx::query_as(
        "SELECT alias, endpoint, certificate, subject, issuer, serial, not_before, not_after \
         FROM endpoint_certificates ORDER BY alias",
    )
    .fetch_all(store.pool())
    .await?)
}

/// One certificate; `NotFound` when there is no such alias.
pub async fn get(store: &Store, alias: &str) -> Result<StoredEndpointCertificate> {
    sqlx::query_as(
        "SELECT alias, endpoint, certificate, subject, issuer, serial, not_before, not_after \
         FROM endpoint_certificates WHERE alias = $1",
    )
    .bind(alias)
    .fetch_optional(store.pool())
    .await?
    .ok_or(StoreError::NotFound)
}

/// Deletes one certificate; `NotFound` when there is no such alias.
pub async fn delete(store: &Store, alias: &str) -> Result<()> {
    let done = sqlx::query("DELETE FROM endpoint_certificates WHERE alias = $1")
        .bind(alias)
        .execute(store.pool())
        .await?;
    found(&done)
}

/// What every environment's gateways receive.
pub async fn for_gateways(store: &Store) -> Result<Vec<EndpointCertificate>> {
    Ok(list(store)
        .await?
        .iter()
        .map(StoredEndpointCertificate::for_gateway)
        .collect())
}
