//! Publisher: API products (`/api-products`, WSO2 4.7): create from operations of several
//! APIs, list, read, update, delete (409 while subscribed), the combined OpenAPI document,
//! `is-outdated`, the lifecycle, revisions and their deployments. The operations are
//! `service::api_products`; this file reads WSO2's bodies and writes WSO2's shapes.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use gantry_model::{
    ApiContext, ApiDetails, ApiName, ApiProduct, ApiVersion, HttpVerb, InvalidField, ResourceTarget,
};
use gantry_store::{api_products, apis};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::AppState;
use crate::api_search::ApiQuery;
use crate::error::{ApiError, ApiResult};
use crate::extract::{JsonBody, QueryParams, Scoped};
use crate::publisher::apis::{
    checked_transport, checked_visibility, leading_slash, required, with_etag,
};
use crate::publisher::openapi::generated_document_of;
use crate::publisher::revisions::{
    RevisionQuery, deployment_json, required_revision, revision_json, revision_request, undeployed,
};
use crate::rest_scopes;
use crate::service::api_products::{self as service, ApiSelection, ProductDraft, load_for};
use crate::service::revisions::DeploymentTarget;
use crate::wire::{Paging, list_envelope, page_of, plain_list};

const BASE: &str = "/api/am/publisher/v4/api-products";

/// The body of `POST /api-products` and `PUT /api-products/{id}` (WSO2 `APIProduct`;
/// unknown fields are ignored, as WSO2 does).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProductRequest {
    name: Option<String>,
    /// WSO2 prefixes a context sent without its leading `/`.
    #[serde(default, deserialize_with = "leading_slash")]
    context: Option<String>,
    version: Option<String>,
    description: Option<String>,
    policies: Option<Vec<String>>,
    visibility: Option<String>,
    transport: Option<Vec<String>>,
    tags: Option<Vec<String>>,
    /// Roles, business information, additional properties.
    #[serde(flatten)]
    details: ApiDetails,
    apis: Option<Vec<ProductApiRequest>>,
}

/// One element of `apis` (WSO2 `ProductAPI`).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ProductApiRequest {
    api_id: Option<String>,
    operations: Option<Vec<ProductOperationRequest>>,
}

/// One operation taken from an API (WSO2 `APIOperations`: `target` and `verb` name it; the
/// rest comes from the API).
#[derive(Debug, Deserialize)]
struct ProductOperationRequest {
    target: Option<String>,
    verb: Option<String>,
}

impl ProductRequest {
    /// Validates the request; the APIs are looked up by the service.
    pub(crate) fn into_draft(self) -> Result<ProductDraft, InvalidField> {
        let name = ApiName::parse(required(&self.name, "name")?)?;
        let context = ApiContext::parse(required(&self.context, "context")?)?;
        let version = ApiVersion::parse(self.version.as_deref().unwrap_or("1.0.0"))?;
        let visibility = checked_visibility(self.visibility)?;
        self.details.validate(&visibility)?;
        let transport = checked_transport(self.transport)?;
        let apis = self
            .apis
            .unwrap_or_default()
            .into_iter()
            .enumerate()
            .map(|(i, api)| api.parse(i))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(ProductDraft {
            name,
            context,
            version,
            description: self.description,
            policies: self
                .policies
                .filter(|p| !p.is_empty())
                .unwrap_or_else(|| vec!["Unlimited".to_owned()]),
            visibility,
            transport,
            tags: self.tags.unwrap_or_default(),
            details: self.details,
            apis,
        })
    }
}

impl ProductApiRequest {
    fn parse(self, i: usize) -> Result<ApiSelection, InvalidField> {
        let api_id = required(&self.api_id, &format!("apis[{i}].apiId"))?.to_owned();
        let operations = self
            .operations
            .unwrap_or_default()
            .into_iter()
            .enumerate()
            .map(|(j, op)| {
                let at = |field: &str| format!("apis[{i}].operations[{j}].{field}");
                let target = ResourceTarget::parse(required(&op.target, &at("target"))?)
                    .map_err(|e| InvalidField::new(at("target"), e.reason))?;
                let verb_raw = required(&op.verb, &at("verb"))?;
                let verb = HttpVerb::parse(verb_raw).ok_or_else(|| {
                    InvalidField::new(at("verb"), format!("'{verb_raw}' is not an HTTP method"))
                })?;
                Ok((target, verb))
            })
            .collect::<Result<Vec<_>, InvalidField>>()?;
        Ok(ApiSelection { api_id, operations })
    }
}

/// WSO2's `APIProduct`: the stored product and the fields WSO2 computes.
pub(crate) fn product_json(product: &ApiProduct) -> Value {
    let mut value = serde_json::to_value(product).unwrap_or(Value::Null);
    value["hasThumbnail"] = json!(false);
    value["isDefaultVersion"] = json!(false);
    value["workflowStatus"] = json!("APPROVED");
    value
}

/// WSO2's `APIProductInfo`.
fn product_info(product: &ApiProduct) -> Value {
    json!({
        "id": product.id,
        "name": product.name,
        "context": product.context,
        "version": product.version,
        "description": product.description,
        "provider": product.provider,
        "hasThumbnail": false,
        "state": product.state,
        "gatewayVendor": product.details.gateway_vendor,
        "audiences": [],
    })
}

fn if_match(headers: &HeaderMap) -> ApiResult<Option<&str>> {
    match headers.get(header::IF_MATCH).map(HeaderValue::to_str) {
        None => Ok(None),
        Some(Ok(value)) => Ok(Some(value)),
        Some(Err(_)) => Err(ApiError::BadRequest(
            "If-Match: not a valid entity tag list".into(),
        )),
    }
}

pub(crate) async fn create(
    State(state): State<AppState>,
    Scoped(user, _): Scoped<rest_scopes::ApiCreate>,
    JsonBody(request): JsonBody<ProductRequest>,
) -> ApiResult<Response> {
    let product = service::create(&state, request.into_draft()?, &user).await?;
    let mut headers = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_str(&format!("{BASE}/{}", product.id)) {
        headers.insert(header::LOCATION, v);
    }
    Ok((
        StatusCode::CREATED,
        headers,
        axum::Json(product_json(&product)),
    )
        .into_response())
}

pub(crate) async fn list(
    State(state): State<AppState>,
    Scoped(user, _): Scoped<rest_scopes::ApiView>,
    QueryParams(paging): QueryParams<Paging>,
) -> ApiResult<axum::Json<Value>> {
    let (offset, limit) = paging.resolve()?;
    let query = ApiQuery::parse(paging.query.as_deref().unwrap_or_default())?;
    let found: Vec<ApiProduct> = api_products::all(state.store())
        .await?
        .into_iter()
        .filter(|p| service::may_see(p, &user) && query.matches_product(p))
        .collect();
    let (page, total) = page_of(found, offset, limit);
    Ok(axum::Json(list_envelope(
        page.iter().map(product_info).collect(),
        offset,
        limit,
        total,
        BASE,
    )))
}

pub(crate) async fn get_one(
    State(state): State<AppState>,
    Scoped(user, _): Scoped<rest_scopes::ApiView>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let product = load_for(&state, &id, &user).await?;
    Ok(with_etag(product_json(&product)))
}

pub(crate) async fn update(
    State(state): State<AppState>,
    Scoped(user, _): Scoped<rest_scopes::ApiUpdate>,
    Path(id): Path<String>,
    headers: HeaderMap,
    JsonBody(mut request): JsonBody<ProductRequest>,
) -> ApiResult<Response> {
    let current = load_for(&state, &id, &user).await?;
    let if_match = if_match(&headers)?;
    // Name, context and version may be left out of an update; they do not change.
    request.name.get_or_insert_with(|| current.name.to_string());
    request
        .context
        .get_or_insert_with(|| current.context.to_string());
    request
        .version
        .get_or_insert_with(|| current.version.to_string());
    let product = service::update(&state, &id, request.into_draft()?, if_match, &user).await?;
    Ok(with_etag(product_json(&product)))
}

pub(crate) async fn delete(
    State(state): State<AppState>,
    Scoped(user, _): Scoped<rest_scopes::ApiDelete>,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    service::delete(&state, &id, &user).await?;
    Ok(StatusCode::OK)
}

/// `GET /api-products/{id}/swagger`: one OpenAPI document of every included operation.
pub(crate) async fn swagger(
    State(state): State<AppState>,
    Scoped(user, _): Scoped<rest_scopes::ApiView>,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Value>> {
    let product = load_for(&state, &id, &user).await?;
    Ok(axum::Json(product_document(&product)))
}

/// The OpenAPI document of every operation `product` includes.
pub(crate) fn product_document(product: &ApiProduct) -> Value {
    let mut document = generated_document_of(
        product.name.as_str(),
        product.version.as_str(),
        product.description.as_deref(),
        product.apis.iter().flat_map(|a| &a.operations),
    );
    document["servers"] = json!([{"url": format!("{}/{}", product.context, product.version)}]);
    document
}

/// `GET /api-products/{id}/is-outdated` (WSO2 `APIProductOutdatedStatus`).
pub(crate) async fn is_outdated(
    State(state): State<AppState>,
    Scoped(user, _): Scoped<rest_scopes::ApiView>,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Value>> {
    let product = load_for(&state, &id, &user).await?;
    let outdated = service::is_outdated(&state, &product).await?;
    Ok(axum::Json(json!({ "isOutdated": outdated })))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct LifecycleQuery {
    api_product_id: Option<String>,
    action: Option<String>,
}

/// `POST /api-products/change-lifecycle?apiProductId=…&action=…`.
pub(crate) async fn change_lifecycle(
    State(state): State<AppState>,
    Scoped(user, _): Scoped<rest_scopes::ApiPublish>,
    QueryParams(query): QueryParams<LifecycleQuery>,
) -> ApiResult<axum::Json<Value>> {
    let id = query
        .api_product_id
        .ok_or_else(|| ApiError::BadRequest("apiProductId: query parameter is required".into()))?;
    let action = query
        .action
        .ok_or_else(|| ApiError::BadRequest("action: query parameter is required".into()))?;
    let product = service::change_lifecycle(&state, &id, &action, &user).await?;
    Ok(axum::Json(json!({
        "workflowStatus": "APPROVED",
        "jsonPayload": "",
        "lifecycleState": crate::publisher::apis::lifecycle_state(product.state, None),
    })))
}

pub(crate) async fn get_lifecycle_state(
    State(state): State<AppState>,
    Scoped(user, _): Scoped<rest_scopes::ApiLifecycleView>,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Value>> {
    let product = load_for(&state, &id, &user).await?;
    Ok(axum::Json(crate::publisher::apis::lifecycle_state(
        product.state,
        None,
    )))
}

pub(crate) async fn get_lifecycle_history(
    State(state): State<AppState>,
    Scoped(user, _): Scoped<rest_scopes::ApiLifecycleView>,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Value>> {
    load_for(&state, &id, &user).await?;
    Ok(axum::Json(
        crate::publisher::apis::lifecycle_history_json(&state, &id).await?,
    ))
}

pub(crate) async fn create_revision(
    State(state): State<AppState>,
    Scoped(user, _): Scoped<rest_scopes::ApiDeploy>,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> ApiResult<Response> {
    let request = revision_request(&body)?;
    let description = request.description.as_deref().unwrap_or("");
    let revision = service::create_revision(&state, &id, description, &user).await?;
    let mut body = revision_json(&revision, &[]);
    body["apiInfo"] = json!({"id": id});
    Ok((StatusCode::CREATED, axum::Json(body)).into_response())
}

async fn revisions_json(state: &AppState, id: &str) -> ApiResult<Value> {
    let revisions = api_products::list_revisions(state.store(), id).await?;
    let deployments = apis::list_deployments(state.store(), id).await?;
    Ok(plain_list(
        revisions
            .iter()
            .map(|r| revision_json(r, &deployments))
            .collect(),
    ))
}

pub(crate) async fn list_revisions(
    State(state): State<AppState>,
    Scoped(user, _): Scoped<rest_scopes::ApiLifecycleView>,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Value>> {
    load_for(&state, &id, &user).await?;
    Ok(axum::Json(revisions_json(&state, &id).await?))
}

pub(crate) async fn get_revision(
    State(state): State<AppState>,
    Scoped(user, _): Scoped<rest_scopes::ApiLifecycleView>,
    Path((id, revision_id)): Path<(String, String)>,
) -> ApiResult<axum::Json<Value>> {
    let revision = service::load_revision(&state, &id, &revision_id, &user).await?;
    let deployments = apis::list_deployments(state.store(), &id).await?;
    Ok(axum::Json(revision_json(&revision, &deployments)))
}

pub(crate) async fn delete_revision(
    State(state): State<AppState>,
    Scoped(user, _): Scoped<rest_scopes::ApiDeploy>,
    Path((id, revision_id)): Path<(String, String)>,
) -> ApiResult<axum::Json<Value>> {
    service::load_revision(&state, &id, &revision_id, &user).await?;
    apis::delete_revision(state.store(), &id, &revision_id).await?;
    Ok(axum::Json(revisions_json(&state, &id).await?))
}

pub(crate) async fn deploy(
    State(state): State<AppState>,
    Scoped(user, _): Scoped<rest_scopes::ApiDeploy>,
    Path(id): Path<String>,
    QueryParams(query): QueryParams<RevisionQuery>,
    JsonBody(targets): JsonBody<Vec<DeploymentTarget>>,
) -> ApiResult<Response> {
    let revision_id = required_revision(query)?;
    let deployments = service::deploy_revision(&state, &id, &revision_id, &targets, &user).await?;
    let body: Vec<Value> = deployments.iter().map(deployment_json).collect();
    Ok((StatusCode::CREATED, axum::Json(body)).into_response())
}

pub(crate) async fn undeploy(
    State(state): State<AppState>,
    Scoped(user, _): Scoped<rest_scopes::ApiDeploy>,
    Path(id): Path<String>,
    QueryParams(query): QueryParams<RevisionQuery>,
    JsonBody(targets): JsonBody<Vec<DeploymentTarget>>,
) -> ApiResult<Response> {
    let revision_id = required_revision(query)?;
    service::undeploy(&state, &id, &revision_id, &targets, &user).await?;
    Ok(undeployed(&revision_id, &targets))
}

/// `GET /api-products/{id}/deployments`, with the gateways' progress as for APIs.
pub(crate) async fn deployments(
    State(state): State<AppState>,
    Scoped(user, _): Scoped<rest_scopes::ApiLifecycleView>,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Value>> {
    load_for(&state, &id, &user).await?;
    let mut list = Vec::new();
    for d in &apis::list_deployments(state.store(), &id).await? {
        list.push(crate::publisher::revisions::deployment_progress_json(&state, d).await?);
    }
    Ok(axum::Json(plain_list(list)))
}
