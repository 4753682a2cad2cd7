//! Publisher: endpoint certificates (WSO2 4.x `/endpoint-certificates`): a certificate
//! uploaded for one upstream endpoint, which every environment's gateways then trust for TLS
//! to that endpoint's host (a self-signed upstream, or one whose CA is private). Shipped with
//! the snapshot at once; no redeployment needed. Certificates belong to the tenant, as in
//! WSO2: anyone with the scopes sees them, and `usage` lists only the APIs the caller may see.

use axum::extract::{Multipart, Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use gantry_model::snapshot::endpoint_host;
use gantry_store::endpoint_certificates::{self, StoredEndpointCertificate};
use serde_json::{Value, json};

use super::client_certificates::{checked_alias, parse_certificate};
use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::extract::{QueryParams, Scoped};
use crate::rejection::{MultipartForm, multipart_error};
use crate::rest_scopes;
use crate::wire::{Paging, list_envelope, page_of};

const BASE: &str = "/api/am/publisher/v4/endpoint-certificates";
/// WSO2's limit on an alias.
const MAX_ALIAS_CHARS: usize = 30;
/// Largest certificate file accepted.
const MAX_CERTIFICATE_BYTES: usize = 64 * 1024;

/// Routes under `/api/am/publisher/v4`.
pub(crate) fn router() -> axum::Router<AppState> {
    use axum::routing::get;
    axum::Router::new()
        .route("/endpoint-certificates", get(list).post(add))
        .route(
            "/endpoint-certificates/{alias}",
            get(get_one).put(update).delete(remove),
        )
        .route("/endpoint-certificates/{alias}/content", get(content))
        .route("/endpoint-certificates/{alias}/usage", get(usage))
}

async fn load(state: &AppState, alias: &str) -> ApiResult<StoredEndpointCertificate> {
    match endpoint_certificates::get(state.store(), alias).await {
        Err(gantry_store::StoreError::NotFound) => Err(ApiError::NotFound(format!(
            "Requested endpoint certificate with alias '{alias}' not found"
        ))),
        other => Ok(other?),
    }
}

/// WSO2 `CertMetadata`.
fn metadata(c: &StoredEndpointCertificate) -> Value {
    json!({ "alias": c.alias, "endpoint": c.endpoint })
}

/// The multipart fields WSO2 sends: `certificate` (file), `alias`, `endpoint`.
#[derive(Default)]
struct Upload {
    certificate: Option<Vec<u8>>,
    alias: Option<String>,
    endpoint: Option<String>,
}

async fn read_upload(mut multipart: Multipart) -> ApiResult<Upload> {
    let mut upload = Upload::default();
    while let Some(field) = multipart.next_field().await.map_err(multipart_error)? {
        let name = field.name().unwrap_or_default().to_owned();
        match name.as_str() {
            "certificate" => {
                let bytes = field.bytes().await.map_err(multipart_error)?;
                if bytes.len() > MAX_CERTIFICATE_BYTES {
                    return Err(ApiError::BadRequest(format!(
                        "certificate: larger than {MAX_CERTIFICATE_BYTES} bytes"
                    )));
                }
                upload.certificate = Some(bytes.to_vec());
            }
            "alias" | "endpoint" => {
                let text = field
                    .text()
                    .await
                    .map_err(multipart_error)?
                    .trim()
                    .to_owned();
                if name == "alias" {
                    upload.alias = Some(text);
                } else {
                    upload.endpoint = Some(text);
                }
            }
            _ => {}
        }
    }
    Ok(upload)
}

/// The endpoint, which must name a host (`https://host[:port]…` or `host[:port]`).
fn checked_endpoint(endpoint: Option<String>) -> ApiResult<String> {
    let endpoint = endpoint
        .filter(|e| !e.is_empty())
        .ok_or_else(|| ApiError::BadRequest("endpoint: is required".into()))?;
    if endpoint_host(&endpoint).is_empty() || endpoint.chars().any(char::is_whitespace) {
        return Err(ApiError::BadRequest(format!(
            "endpoint: '{endpoint}' names no host; send the endpoint's URL (https://host:port)"
        )));
    }
    Ok(endpoint)
}

/// `POST /endpoint-certificates` (multipart `certificate`, `alias`, `endpoint`).
async fn add(
    State(state): State<AppState>,
    Scoped(user, _): Scoped<rest_scopes::EndpointCertificatesAdd>,
    MultipartForm(multipart): MultipartForm,
) -> ApiResult<Response> {
    let upload = read_upload(multipart).await?;
    let stored = add_certificate(
        &state,
        &user.username,
        upload.alias,
        upload.endpoint,
        upload.certificate,
    )
    .await?;
    let mut response = (StatusCode::OK, axum::Json(metadata(&stored))).into_response();
    if let Ok(location) = HeaderValue::from_str(&format!("{BASE}/{}", stored.alias)) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

/// Checks and stores a certificate for an endpoint (the REST upload and the Publisher
/// portal's form), then tells every environment's gateways.
pub(crate) async fn add_certificate(
    state: &AppState,
    username: &str,
    alias: Option<String>,
    endpoint: Option<String>,
    certificate: Option<Vec<u8>>,
) -> ApiResult<StoredEndpointCertificate> {
    let alias = checked_alias(alias, MAX_ALIAS_CHARS)?;
    let endpoint = checked_endpoint(endpoint)?;
    let bytes = certificate
        .filter(|b| !b.is_empty())
        .ok_or_else(|| ApiError::BadRequest("certificate: is required".into()))?;
    if bytes.len() > MAX_CERTIFICATE_BYTES {
        return Err(ApiError::BadRequest(format!(
            "certificate: larger than {MAX_CERTIFICATE_BYTES} bytes"
        )));
    }
    let parsed = parse_certificate(&bytes)?;
    let stored = StoredEndpointCertificate {
        alias,
        endpoint,
        certificate: parsed.pem,
        subject: parsed.subject,
        issuer: parsed.issuer,
        serial: parsed.serial,
        not_before: parsed.not_before,
        not_after: parsed.not_after,
    };
    endpoint_certificates::insert(state.store(), &stored).await?;
    state.sync_environments().await?;
    tracing::info!(user = %username, alias = %stored.alias, endpoint = %stored.endpoint,
        "endpoint certificate added");
    Ok(stored)
}

/// Deletes a certificate (the REST `DELETE` and the portal's form), then tells the gateways.
pub(crate) async fn remove_certificate(
    state: &AppState,
    username: &str,
    alias: &str,
) -> ApiResult<()> {
    load(state, alias).await?;
    endpoint_certificates::delete(state.store(), alias).await?;
    state.sync_environments().await?;
    tracing::info!(user = %username, alias, "endpoint certificate deleted");
    Ok(())
}

/// The `alias` and `endpoint` filters of a list.
#[derive(Debug, serde::Deserialize, Default)]
struct Filter {
    alias: Option<String>,
    endpoint: Option<String>,
}

/// `GET /endpoint-certificates` (`limit`, `offset`, `alias`, `endpoint`): WSO2
/// `Certificates`.
async fn list(
    State(state): State<AppState>,
    _: Scoped<rest_scopes::EndpointCertificatesView>,
    QueryParams(paging): QueryParams<Paging>,
    QueryParams(filter): QueryParams<Filter>,
) -> ApiResult<axum::Json<Value>> {
    let (offset, limit) = paging.resolve()?;
    let all: Vec<Value> = endpoint_certificates::list(state.store())
        .await?
        .iter()
        .filter(|c| filter.alias.as_deref().is_none_or(|a| c.alias == a))
        .filter(|c| filter.endpoint.as_deref().is_none_or(|e| c.endpoint == e))
        .map(metadata)
        .collect();
    let (page, total) = page_of(all, offset, limit);
    let mut body = list_envelope(page, offset, limit, total, "/endpoint-certificates");
    if let Some(object) = body.as_object_mut()
        && let Some(list) = object.remove("list")
    {
        object.insert("certificates".into(), list);
    }
    Ok(axum::Json(body))
}

/// `GET /endpoint-certificates/{alias}`: WSO2 `CertificateInfo`.
async fn get_one(
    State(state): State<AppState>,
    _: Scoped<rest_scopes::EndpointCertificatesView>,
    Path(alias): Path<String>,
) -> ApiResult<axum::Json<Value>> {
    let c = load(&state, &alias).await?;
    Ok(axum::Json(super::client_certificates::certificate_info(
        c.not_before,
        c.not_after,
        &c.subject,
    )))
}

/// `GET /endpoint-certificates/{alias}/content`: the PEM, as a download.
async fn content(
    State(state): State<AppState>,
    _: Scoped<rest_scopes::EndpointCertificatesView>,
    Path(alias): Path<String>,
) -> ApiResult<Response> {
    let c = load(&state, &alias).await?;
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

/// `PUT /endpoint-certificates/{alias}` (multipart `certificate`): a new certificate for
/// the same endpoint.
async fn update(
    State(state): State<AppState>,
    Scoped(user, _): Scoped<rest_scopes::EndpointCertificatesUpdate>,
    Path(alias): Path<String>,
    MultipartForm(multipart): MultipartForm,
) -> ApiResult<axum::Json<Value>> {
    let mut stored = load(&state, &alias).await?;
    let upload = read_upload(multipart).await?;
    let bytes = upload
        .certificate
        .ok_or_else(|| ApiError::BadRequest("certificate: is required".into()))?;
    let parsed = parse_certificate(&bytes)?;
    stored.certificate = parsed.pem;
    stored.subject = parsed.subject;
    stored.issuer = parsed.issuer;
    stored.serial = parsed.serial;
    stored.not_before = parsed.not_before;
    stored.not_after = parsed.not_after;
    endpoint_certificates::update(state.store(), &stored).await?;
    state.sync_environments().await?;
    tracing::info!(user = %user.username, alias, "endpoint certificate updated");
    Ok(axum::Json(metadata(&stored)))
}

/// `DELETE /endpoint-certificates/{alias}`.
async fn remove(
    State(state): State<AppState>,
    Scoped(user, _): Scoped<rest_scopes::EndpointCertificatesUpdate>,
    Path(alias): Path<String>,
) -> ApiResult<StatusCode> {
    remove_certificate(&state, &user.username, &alias).await?;
    Ok(StatusCode::OK)
}

/// `GET /endpoint-certificates/{alias}/usage`: the APIs (that the caller may see) with an
/// endpoint on the certificate's host; WSO2 `APIMetadataList`.
async fn usage(
    State(state): State<AppState>,
    Scoped(user, _): Scoped<rest_scopes::EndpointCertificatesView>,
    Path(alias): Path<String>,
    QueryParams(paging): QueryParams<Paging>,
) -> ApiResult<axum::Json<Value>> {
    let (offset, limit) = paging.resolve()?;
    let c = load(&state, &alias).await?;
    let host = endpoint_host(&c.endpoint);
    let using: Vec<Value> = gantry_store::apis::all(state.store())
        .await?
        .iter()
        .filter(|api| super::apis::may_access(api, &user))
        .filter(|api| {
            let config = &api.endpoint_config;
            config
                .production_endpoints
                .iter()
                .chain(config.sandbox_endpoints.iter())
                .flat_map(|e| e.as_slice())
                .chain(config.production_failovers.iter())
                .chain(config.sandbox_failovers.iter())
                .any(|e| endpoint_host(&e.url) == host)
        })
        .map(|api| {
            json!({"id": api.id, "name": api.name, "context": api.context,
                   "version": api.version, "provider": api.provider})
        })
        .collect();
    let (page, total) = page_of(using, offset, limit);
    Ok(axum::Json(list_envelope(
        page,
        offset,
        limit,
        total,
        &format!("/endpoint-certificates/{alias}/usage"),
    )))
}
