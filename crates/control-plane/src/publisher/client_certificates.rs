//! Publisher: client certificates of an API for mutual TLS (WSO2 4.x
//! `/apis/{apiId}/client-certificates`). An upload is parsed and checked here (a PEM or DER
//! X.509 certificate, not expired), stored with its names and validity, and shipped to the
//! gateways of every environment the API is deployed to. Certificates belong to the API, not
//! to a revision: a change reaches the gateways at once.
//!
//! Only the API's provider and admins see or change its certificates; anyone else gets 404,
//! as if the API did not exist.

use axum::extract::{Multipart, Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use gantry_model::Api;
use gantry_store::client_certificates::{self, StoredCertificate};
use gantry_store::policies::{self, PolicyLevel};
use serde_json::{Value, json};

use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::extract::{AuthUser, QueryParams, Scoped};
use crate::publisher::apis::load;
use crate::rejection::{MultipartForm, multipart_error};
use crate::rest_scopes;
use crate::wire::{Paging, list_envelope, page_of};

/// Longest alias accepted.
const MAX_ALIAS_CHARS: usize = 100;
/// Largest certificate file accepted.
const MAX_CERTIFICATE_BYTES: usize = 64 * 1024;

/// The API, when `user` may manage its certificates (its provider, or an admin); else 404.
async fn load_owned(state: &AppState, user: &AuthUser, api_id: &str) -> ApiResult<Api> {
    let api = load(state, api_id).await?;
    if api.provider != user.username && !user.is_admin() {
        return Err(ApiError::not_found("API", api_id));
    }
    Ok(api)
}

async fn load_certificate(
    state: &AppState,
    api_id: &str,
    alias: &str,
) -> ApiResult<StoredCertificate> {
    match client_certificates::get(state.store(), api_id, alias).await {
        Err(gantry_store::StoreError::NotFound) => Err(ApiError::NotFound(format!(
            "Requested client certificate with alias '{alias}' not found"
        ))),
        other => Ok(other?),
    }
}

fn metadata(c: &StoredCertificate) -> Value {
    json!({ "alias": c.alias, "apiId": c.api_id, "tier": c.tier })
}

pub(crate) fn now_secs() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// A parsed upload: the PEM to store and what it says.
pub(crate) struct Parsed {
    pub(crate) pem: String,
    pub(crate) subject: String,
    pub(crate) issuer: String,
    pub(crate) serial: String,
    pub(crate) not_before: i64,
    pub(crate) not_after: i64,
}

/// Reads one X.509 certificate, PEM or DER; 400 when it does not parse or has expired.
pub(crate) fn parse_certificate(bytes: &[u8]) -> ApiResult<Parsed> {
    let bad = |reason: String| ApiError::BadRequest(format!("certificate: {reason}"));
    let der = if bytes.windows(11).any(|w| w == b"-----BEGIN ") {
        let (_, pem) = x509_parser::pem::parse_x509_pem(bytes)
            .map_err(|e| bad(format!("not a PEM certificate ({e})")))?;
        if pem.label != "CERTIFICATE" {
            return Err(bad(format!(
                "expected a CERTIFICATE block, got {}",
                pem.label
            )));
        }
        pem.contents
    } else {
        bytes.to_vec()
    };
    let (_, certificate) = x509_parser::parse_x509_certificate(&der)
        .map_err(|e| bad(format!("not an X.509 certificate ({e})")))?;
    let validity = certificate.validity();
    let (not_before, not_after) = (
        validity.not_before.timestamp(),
        validity.not_after.timestamp(),
    );
    if not_after < now_secs() {
        return Err(bad(format!(
            "the certificate expired at {}",
            validity.not_after
        )));
    }
    let encoded = base64::engine::general_purpose::STANDARD.encode(&der);
    let mut pem = String::from("-----BEGIN CERTIFICATE-----\n");
    for line in encoded.as_bytes().chunks(64) {
        pem.push_str(std::str::from_utf8(line).unwrap_or_default());
        pem.push('\n');
    }
    pem.push_str("-----END CERTIFICATE-----\n");
    Ok(Parsed {
        pem,
        subject: certificate.subject().to_string(),
        issuer: certificate.issuer().to_string(),
        serial: certificate.raw_serial_as_string(),
        not_before,
        not_after,
    })
}

/// The multipart fields WSO2 sends: `certificate` (file), `alias`, `tier`.
#[derive(Default)]
struct Upload {
    certificate: Option<Vec<u8>>,
    alias: Option<String>,
    tier: Option<String>,
}

async fn read_upload(mut multipart: Multipart) -> ApiResult<Upload> {
    let mut upload = Upload::default();
    while let Some(field) = multipart.next_field().await.map_err(multipart_error)? {
        match field.name().unwrap_or_default() {
            "certificate" => {
                let bytes = field.bytes().await.map_err(multipart_error)?;
                if bytes.len() > MAX_CERTIFICATE_BYTES {
                    return Err(ApiError::BadRequest(format!(
                        "certificate: larger than {MAX_CERTIFICATE_BYTES} bytes"
                    )));
                }
                upload.certificate = Some(bytes.to_vec());
            }
            "alias" => {
                upload.alias = Some(
                    field
                        .text()
                        .await
                        .map_err(multipart_error)?
                        .trim()
                        .to_owned(),
                )
            }
            "tier" => {
                upload.tier = Some(
                    field
                        .text()
                        .await
                        .map_err(multipart_error)?
                        .trim()
                        .to_owned(),
                )
            }
            _ => {}
        }
    }
    Ok(upload)
}

/// The tier, which must be a subscription policy (default `Unlimited`).
async fn checked_tier(state: &AppState, tier: Option<String>) -> ApiResult<String> {
    let tier = tier
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| "Unlimited".into());
    if policies::find(state.store(), PolicyLevel::Subscription, &tier)
        .await?
        .is_none()
    {
        return Err(ApiError::BadRequest(format!(
            "tier: '{tier}' is not a subscription throttling policy"
        )));
    }
    Ok(tier)
}

/// The alias, at most `max_chars` letters, digits, `-`, `_` or `.`; 400 otherwise.
pub(crate) fn checked_alias(alias: Option<String>, max_chars: usize) -> ApiResult<String> {
    let alias = alias
        .filter(|a| !a.is_empty())
        .ok_or_else(|| ApiError::BadRequest("alias: is required".into()))?;
    if alias.chars().count() > max_chars
        || !alias
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Err(ApiError::BadRequest(format!(
            "alias: at most {max_chars} letters, digits, '-', '_' or '.'"
        )));
    }
    Ok(alias)
}

/// `POST /apis/{apiId}/client-certificates` (multipart `certificate`, `alias`, `tier`).
pub(crate) async fn add(
    State(state): State<AppState>,
    Scoped(user, _): Scoped<rest_scopes::ClientCertificatesAdd>,
    Path(api_id): Path<String>,
    MultipartForm(multipart): MultipartForm,
) -> ApiResult<Response> {
    load_owned(&state, &user, &api_id).await?;
    let upload = read_upload(multipart).await?;
    let alias = checked_alias(upload.alias, MAX_ALIAS_CHARS)?;
    let bytes = upload
        .certificate
        .ok_or_else(|| ApiError::BadRequest("certificate: is required".into()))?;
    let parsed = parse_certificate(&bytes)?;
    let tier = checked_tier(&state, upload.tier).await?;
    let stored = StoredCertificate {
        api_id: api_id.clone(),
        alias,
        tier,
        certificate: parsed.pem,
        subject: parsed.subject,
        issuer: parsed.issuer,
        serial: parsed.serial,
        not_before: parsed.not_before,
        not_after: parsed.not_after,
    };
    client_certificates::insert(state.store(), &stored).await?;
    state.sync_environments().await?;
    tracing::info!(api_id, alias = %stored.alias, "client certificate added");
    let mut response = (StatusCode::OK, axum::Json(metadata(&stored))).into_response();
    if let Ok(location) = HeaderValue::from_str(&format!(
        "/api/am/publisher/v4/apis/{api_id}/client-certificates/{}",
        stored.alias
    )) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

/// The `alias` filter of a list.
#[derive(Debug, serde::Deserialize, Default)]
pub(crate) struct AliasFilter {
    alias: Option<String>,
}

/// `GET /apis/{apiId}/client-certificates` (`limit`, `offset`, `alias`).
pub(crate) async fn list(
    State(state): State<AppState>,
    Scoped(user, _): Scoped<rest_scopes::ClientCertificatesView>,
    Path(api_id): Path<String>,
    QueryParams(paging): QueryParams<Paging>,
    QueryParams(query): QueryParams<AliasFilter>,
) -> ApiResult<axum::Json<Value>> {
    let (offset, limit) = paging.resolve()?;
    load_owned(&state, &user, &api_id).await?;
    let all: Vec<Value> = client_certificates::list(state.store(), &api_id)
        .await?
        .iter()
        .filter(|c| query.alias.as_deref().is_none_or(|a| c.alias == a))
        .map(metadata)
        .collect();
    let (page, total) = page_of(all, offset, limit);
    let mut body = list_envelope(
        page,
        offset,
        limit,
        total,
        &format!("/apis/{api_id}/client-certificates"),
    );
    if let Some(object) = body.as_object_mut()
        && let Some(list) = object.remove("list")
    {
        object.insert("certificates".into(), list);
    }
    Ok(axum::Json(body))
}

/// `GET /apis/{apiId}/client-certificates/{alias}`: WSO2's `CertificateInfo`.
pub(crate) async fn get_one(
    State(state): State<AppState>,
    Scoped(user, _): Scoped<rest_scopes::ClientCertificatesView>,
    Path((api_id, alias)): Path<(String, String)>,
) -> ApiResult<axum::Json<Value>> {
    load_owned(&state, &user, &api_id).await?;
    let c = load_certificate(&state, &api_id, &alias).await?;
    let mut info = certificate_info(c.not_before, c.not_after, &c.subject);
    info["issuer"] = json!(c.issuer);
    info["serialNumber"] = json!(c.serial);
    info["tier"] = json!(c.tier);
    Ok(axum::Json(info))
}

/// WSO2's `CertificateInfo` of a certificate valid from `not_before` to `not_after` (epoch
/// seconds): its status now, validity and subject.
pub(crate) fn certificate_info(not_before: i64, not_after: i64, subject: &str) -> Value {
    let now = now_secs();
    let status = if now > not_after {
        "Expired"
    } else if now < not_before {
        "Not yet valid"
    } else {
        "Active"
    };
    json!({
        "status": status,
        "validity": {
            "from": crate::wire::rfc3339(not_before * 1000),
            "to": crate::wire::rfc3339(not_after * 1000),
        },
        "version": "3",
        "subject": subject,
    })
}

/// `GET /apis/{apiId}/client-certificates/{alias}/content`: the PEM, as a download.
pub(crate) async fn content(
    State(state): State<AppState>,
    Scoped(user, _): Scoped<rest_scopes::ClientCertificatesView>,
    Path((api_id, alias)): Path<(String, String)>,
) -> ApiResult<Response> {
    load_owned(&state, &user, &api_id).await?;
    let c = load_certificate(&state, &api_id, &alias).await?;
    let mut response = (StatusCode::OK, c.certificate).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{}.crt\"", c.alias)) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(response)
}

/// `PUT /apis/{apiId}/client-certificates/{alias}` (multipart `certificate` and/or `tier`).
pub(crate) async fn update(
    State(state): State<AppState>,
    Scoped(user, _): Scoped<rest_scopes::ClientCertificatesUpdate>,
    Path((api_id, alias)): Path<(String, String)>,
    MultipartForm(multipart): MultipartForm,
) -> ApiResult<axum::Json<Value>> {
    load_owned(&state, &user, &api_id).await?;
    let mut stored = load_certificate(&state, &api_id, &alias).await?;
    let upload = read_upload(multipart).await?;
    if upload.certificate.is_none() && upload.tier.is_none() {
        return Err(ApiError::BadRequest(
            "Send a new certificate, a tier, or both".into(),
        ));
    }
    if let Some(bytes) = upload.certificate {
        let parsed = parse_certificate(&bytes)?;
        stored.certificate = parsed.pem;
        stored.subject = parsed.subject;
        stored.issuer = parsed.issuer;
        stored.serial = parsed.serial;
        stored.not_before = parsed.not_before;
        stored.not_after = parsed.not_after;
    }
    if upload.tier.is_some() {
        stored.tier = checked_tier(&state, upload.tier).await?;
    }
    client_certificates::update(state.store(), &stored).await?;
    state.sync_environments().await?;
    tracing::info!(api_id, alias, "client certificate updated");
    Ok(axum::Json(metadata(&stored)))
}

/// `DELETE /apis/{apiId}/client-certificates/{alias}`.
pub(crate) async fn delete(
    State(state): State<AppState>,
    Scoped(user, _): Scoped<rest_scopes::ClientCertificatesUpdate>,
    Path((api_id, alias)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    load_owned(&state, &user, &api_id).await?;
    load_certificate(&state, &api_id, &alias).await?;
    client_certificates::delete(state.store(), &api_id, &alias).await?;
    state.sync_environments().await?;
    tracing::info!(api_id, alias, "client certificate deleted");
    Ok(StatusCode::OK)
}
