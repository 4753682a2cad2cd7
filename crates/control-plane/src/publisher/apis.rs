//! Publisher: create, list, read and delete APIs; change their lifecycle.
//!
//! Request bodies are read into plain structs and turned into the validated model types
//! here, so every 400 names the WSO2 field that is wrong.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use gantry_model::streaming::{ApiType, SUPPORTED_TYPES};
use gantry_model::{
    Api, ApiContext, ApiName, ApiVersion, AuthType, CorsConfiguration, EndpointConfig, HttpVerb,
    InvalidField, LifecycleState, Operation, ResourceTarget,
};
use gantry_store::{apis, new_id, now_ms};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::AppState;
use crate::api_search::ApiQuery;
use crate::error::{ApiError, ApiResult};
use crate::extract::{AuthUser, JsonBody, QueryParams, Scoped};
use crate::rest_scopes;
use crate::service;
pub use crate::service::apis::{change_lifecycle, create as create_api};
pub(crate) use crate::service::apis::{etag, load, update as update_api};
use crate::wire::{Paging, list_envelope, page_of, plain_list, rfc3339};

/// The body of `POST /apis` (WSO2 `API`; unknown fields are ignored, as WSO2 does).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiRequest {
    pub(crate) name: Option<String>,
    /// WSO2 prefixes a context sent without its leading `/` (`"pizza"` is `/pizza`).
    #[serde(default, deserialize_with = "leading_slash")]
    pub(crate) context: Option<String>,
    pub(crate) version: Option<String>,
    description: Option<String>,
    #[serde(default)]
    is_default_version: bool,
    /// Business information, additional properties, categories, role lists.
    #[serde(flatten)]
    details: gantry_model::ApiDetails,
    #[serde(rename = "type")]
    pub(crate) api_type: Option<String>,
    transport: Option<Vec<String>>,
    tags: Option<Vec<String>>,
    policies: Option<Vec<String>>,
    authorization_header: Option<String>,
    security_scheme: Option<Vec<String>>,
    visibility: Option<String>,
    endpoint_config: Option<EndpointConfig>,
    cors_configuration: Option<CorsConfiguration>,
    operations: Option<Vec<OperationRequest>>,
    /// `AIAPI` for an API in front of an LLM provider.
    subtype: Option<String>,
    /// An AI API's provider, targets (their keys write-only), routing and guardrails.
    subtype_configuration: Option<gantry_model::ai::SubtypeConfiguration>,
    /// `apiKeyHeader`, `apiPolicies`, `enableBackendJwt` (and a GraphQL API's definition).
    #[serde(flatten)]
    pub(crate) gateway: gantry_model::GatewayPolicies,
    /// GraphQL APIs: whether `__schema`/`__type` queries are let through (a Gantry
    /// extension; absent: unchanged, on for a new API).
    #[serde(rename = "graphqlIntrospection")]
    pub(crate) graphql_introspection: Option<bool>,
}

/// One element of `operations`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OperationRequest {
    pub(crate) target: Option<String>,
    pub(crate) verb: Option<String>,
    auth_type: Option<String>,
    pub(crate) throttling_policy: Option<String>,
    scopes: Option<Vec<String>>,
    /// Header policies of this operation alone (WSO2 4.x).
    #[serde(default)]
    operation_policies: gantry_model::ApiPolicies,
}

pub(crate) fn leading_slash<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<String>, D::Error> {
    let context = Option::<String>::deserialize(d)?;
    Ok(context.map(|c| {
        if c.starts_with('/') || c.is_empty() {
            c
        } else {
            format!("/{c}")
        }
    }))
}

pub(crate) fn required<'a>(
    value: &'a Option<String>,
    field: &str,
) -> Result<&'a str, InvalidField> {
    value
        .as_deref()
        .ok_or_else(|| InvalidField::new(field, "is required"))
}

fn parse_auth_type(raw: &str) -> Option<AuthType> {
    Some(match raw {
        "Application & Application User" | "Any" | "ANY" => AuthType::Any,
        "Application" | "APPLICATION" => AuthType::Application,
        "Application User" | "APPLICATION_USER" => AuthType::ApplicationUser,
        "None" | "NONE" => AuthType::None,
        _ => return None,
    })
}

impl OperationRequest {
    /// The operation's `authType` and `scopes`, checked.
    pub(crate) fn access(&self, index: usize) -> Result<(AuthType, Vec<String>), InvalidField> {
        let at = |field: &str| format!("operations[{index}].{field}");
        let auth_type = match &self.auth_type {
            None => AuthType::Any,
            Some(raw) => parse_auth_type(raw).ok_or_else(|| {
                InvalidField::new(
                    at("authType"),
                    format!("'{raw}' is not one of \"Application & Application User\", \"Application\", \"Application User\", \"None\""),
                )
            })?,
        };
        let scopes = self.scopes.clone().unwrap_or_default();
        if let Some(bad) = scopes
            .iter()
            .find(|s| s.is_empty() || s.contains(char::is_whitespace))
        {
            return Err(InvalidField::new(
                at("scopes"),
                format!("'{bad}' is not a valid scope name"),
            ));
        }
        Ok((auth_type, scopes))
    }

    fn parse(&self, index: usize) -> Result<Operation, InvalidField> {
        let at = |field: &str| format!("operations[{index}].{field}");
        let target = ResourceTarget::parse(required(&self.target, &at("target"))?)
            .map_err(|e| InvalidField::new(at("target"), e.reason))?;
        let verb_raw = required(&self.verb, &at("verb"))?;
        let verb = HttpVerb::parse(verb_raw).ok_or_else(|| {
            InvalidField::new(
                at("verb"),
                format!("'{verb_raw}' is not one of GET, POST, PUT, DELETE, PATCH, HEAD, OPTIONS, SUBSCRIBE, PUBLISH"),
            )
        })?;
        let (auth_type, scopes) = self.access(index)?;
        self.operation_policies.validate(&at("operationPolicies"))?;
        Ok(Operation {
            id: None,
            target,
            verb,
            auth_type,
            throttling_policy: self
                .throttling_policy
                .clone()
                .unwrap_or_else(|| "Unlimited".to_owned()),
            scopes,
            operation_policies: self.operation_policies.clone(),
        })
    }
}

/// `transport` as given (`http` and/or `https`), or both by default.
pub(crate) fn checked_transport(
    transport: Option<Vec<String>>,
) -> Result<Vec<String>, InvalidField> {
    let transport = transport.unwrap_or_else(|| vec!["http".into(), "https".into()]);
    if let Some(bad) = transport
        .iter()
        .find(|t| !matches!(t.as_str(), "http" | "https"))
    {
        return Err(InvalidField::new(
            "transport",
            format!("'{bad}' is not one of http, https"),
        ));
    }
    Ok(transport)
}

/// `visibility` as given (`PUBLIC`, `PRIVATE` or `RESTRICTED`), or `PUBLIC` by default.
pub(crate) fn checked_visibility(visibility: Option<String>) -> Result<String, InvalidField> {
    let visibility = visibility.unwrap_or_else(|| "PUBLIC".to_owned());
    if !matches!(visibility.as_str(), "PUBLIC" | "PRIVATE" | "RESTRICTED") {
        return Err(InvalidField::new(
            "visibility",
            format!("'{visibility}' is not one of PUBLIC, PRIVATE, RESTRICTED"),
        ));
    }
    Ok(visibility)
}

/// Every operation's verb is one the API's type takes: HTTP methods for REST APIs,
/// `SUBSCRIBE`/`PUBLISH` on topics for streaming APIs.
fn check_verbs(kind: ApiType, ops: &[Operation]) -> Result<(), InvalidField> {
    match ops.iter().position(|op| !kind.verbs().contains(&op.verb)) {
        Some(i) => Err(InvalidField::new(
            format!("operations[{i}].verb"),
            format!(
                "'{}' is not an operation of a {} API; use one of {}",
                ops[i].verb.as_str(),
                kind.as_str(),
                kind.verbs()
                    .iter()
                    .map(|v| v.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )),
        None => Ok(()),
    }
}

/// WSO2 gives an API without operations one `/*` resource (topic) per common verb of its type.
fn default_operations(kind: ApiType) -> Vec<Operation> {
    kind.default_verbs()
        .iter()
        .copied()
        .map(|verb| Operation {
            id: None,
            target: ResourceTarget::parse("/*").expect("'/*' is a valid target"),
            verb,
            auth_type: AuthType::Any,
            throttling_policy: "Unlimited".to_owned(),
            scopes: Vec::new(),
            operation_policies: Default::default(),
        })
        .collect()
}

impl ApiRequest {
    /// Validates the request into a new API owned by `provider`.
    pub fn into_api(self, provider: &str) -> Result<Api, InvalidField> {
        let name = ApiName::parse(required(&self.name, "name")?)?;
        let context = ApiContext::parse(required(&self.context, "context")?)?;
        let version = ApiVersion::parse(required(&self.version, "version")?)?;
        if self.gateway.mcp.is_some() {
            return Err(InvalidField::new(
                "mcp",
                "MCP servers are made through /mcp-servers",
            ));
        }
        let api_type = self.api_type.unwrap_or_else(|| "HTTP".to_owned());
        let kind = ApiType::parse(&api_type).ok_or_else(|| {
            InvalidField::new(
                "type",
                format!("'{api_type}' is not supported yet; use one of {SUPPORTED_TYPES}"),
            )
        })?;
        let graphql = kind == ApiType::GraphQl;
        if graphql
            && (self.subtype_configuration.is_some()
                || self.subtype.as_deref() == Some(gantry_model::ai::AI_SUBTYPE))
        {
            return Err(InvalidField::new(
                "subtype",
                "a GraphQL API cannot be an AI API",
            ));
        }
        let transport = checked_transport(self.transport)?;
        let visibility = checked_visibility(self.visibility)?;
        let authorization_header = self
            .authorization_header
            .unwrap_or_else(|| "Authorization".to_owned());
        if authorization_header.is_empty()
            || !authorization_header
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(InvalidField::new(
                "authorizationHeader",
                "must be a header name",
            ));
        }
        let endpoint_config = match self.endpoint_config {
            Some(config) => {
                config.validate()?;
                config
            }
            None => EndpointConfig::default(),
        };
        self.details.validate(&visibility)?;
        let cors_configuration = self.cors_configuration.unwrap_or_default();
        cors_configuration.validate()?;
        self.gateway.validate()?;
        let mut gateway = self.gateway;
        let graphql_routes = if graphql {
            let definition = gateway.graphql.take().map(|d| *d);
            let requested = self.operations.as_deref().unwrap_or_default();
            let mut definition = super::graphql::definition(definition, requested)?;
            if let Some(on) = self.graphql_introspection {
                definition.introspection = on;
            }
            gateway.graphql = Some(Box::new(definition));
            Some(super::graphql::routes())
        } else {
            // Only a GraphQL API carries a GraphQL definition.
            gateway.graphql = None;
            None
        };
        let operations = match (graphql_routes, self.operations) {
            (Some(routes), _) => routes,
            (None, Some(ops)) if !ops.is_empty() => {
                let ops = ops
                    .iter()
                    .enumerate()
                    .map(|(i, op)| op.parse(i))
                    .collect::<Result<Vec<_>, _>>()?;
                check_verbs(kind, &ops)?;
                for (i, op) in ops.iter().enumerate() {
                    if ops[..i]
                        .iter()
                        .any(|o| o.verb == op.verb && o.target == op.target)
                    {
                        return Err(InvalidField::new(
                            format!("operations[{i}]"),
                            format!("{} {} is defined twice", op.verb.as_str(), op.target),
                        ));
                    }
                }
                ops
            }
            _ => default_operations(kind),
        };
        let policies = self
            .policies
            .filter(|p| !p.is_empty())
            .unwrap_or_else(|| vec!["Unlimited".to_owned()]);
        let now = rfc3339(now_ms());
        Ok(Api {
            id: new_id(),
            name,
            description: self.description,
            context,
            version,
            provider: provider.to_owned(),
            life_cycle_status: LifecycleState::Created,
            is_default_version: self.is_default_version,
            api_type,
            transport,
            tags: self.tags.unwrap_or_default(),
            policies,
            authorization_header,
            security_scheme: self
                .security_scheme
                .unwrap_or_else(|| vec!["oauth2".into()]),
            gateway,
            visibility,
            details: self.details,
            endpoint_config,
            cors_configuration,
            operations,
            subtype: self.subtype.filter(|s| s != "DEFAULT"),
            subtype_configuration: self.subtype_configuration,
            created_time: now.clone(),
            last_updated_time: now,
        })
    }
}

/// `PUT /apis/{apiId}`: replaces the API's working copy. As in WSO2, name, version, context,
/// provider and lifecycle state are not changed by an update (sending different values is a
/// 400 naming the field); gateways keep serving the deployed revision until a new revision
/// of the updated API is deployed. `isDefaultVersion` is the exception: like the lifecycle
/// state it is read from the working copy, so gateways re-route at once.
pub(crate) async fn update(
    State(state): State<AppState>,
    Scoped(user, _): Scoped<rest_scopes::ApiUpdate>,
    Path(api_id): Path<String>,
    headers: HeaderMap,
    JsonBody(request): JsonBody<ApiRequest>,
) -> ApiResult<Response> {
    let current = load_for(&state, &api_id, &user).await?;
    if current.api_type == gantry_model::mcp::MCP_API_TYPE {
        return Err(ApiError::BadRequest(
            "the API is an MCP server: it is changed through /mcp-servers".into(),
        ));
    }
    let if_match = match headers.get(header::IF_MATCH).map(HeaderValue::to_str) {
        None => None,
        Some(Ok(value)) => Some(value),
        Some(Err(_)) => {
            // An unknown API is a 404 before a bad header is a 400.
            load(&state, &api_id).await?;
            return Err(ApiError::BadRequest(
                "If-Match: not a valid entity tag list".into(),
            ));
        }
    };
    let api = update_api(&state, &api_id, request, if_match).await?;
    Ok(api_with_etag(&api))
}

pub(crate) async fn create(
    State(state): State<AppState>,
    Scoped(user, _): Scoped<rest_scopes::ApiCreate>,
    JsonBody(request): JsonBody<ApiRequest>,
) -> ApiResult<Response> {
    let api = create_api(&state, request, &user.username).await?;
    let location = format!("/api/am/publisher/v4/apis/{}", api.id);
    let mut headers = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_str(&location) {
        headers.insert(header::LOCATION, v);
    }
    Ok((StatusCode::CREATED, headers, axum::Json(api_body(&api))).into_response())
}

pub(crate) async fn list(
    State(state): State<AppState>,
    Scoped(user, _): Scoped<rest_scopes::ApiView>,
    QueryParams(paging): QueryParams<Paging>,
) -> ApiResult<axum::Json<Value>> {
    let (offset, limit) = paging.resolve()?;
    let query = match paging.query.as_deref().filter(|q| !q.trim().is_empty()) {
        Some(query) => Some(ApiQuery::parse(query)?),
        None => None,
    };
    let sort = Sort::parse(paging.sort_by.as_deref(), paging.sort_order.as_deref())?;
    let (items, total) = if query.is_none() && sort.is_default() && user_sees_all(&user) {
        // The common case pages in SQL.
        apis::list(state.store(), offset, limit).await?
    } else {
        let mut found: Vec<Api> = apis::all(state.store())
            .await?
            .into_iter()
            .filter(|a| may_access(a, &user) && query.as_ref().is_none_or(|q| q.matches(a)))
            .collect();
        sort.apply(&mut found);
        page_of(found, offset, limit)
    };
    let infos: Vec<Value> = items.iter().map(api_info).collect();
    Ok(axum::Json(list_envelope(
        infos,
        offset,
        limit,
        total,
        "/api/am/publisher/v4/apis",
    )))
}

/// Whether `user` sees every API in the Publisher (no access-control filtering needed).
fn user_sees_all(user: &AuthUser) -> bool {
    user.roles.iter().any(|r| r == "admin")
}

/// `sortBy` (`name`, `version`, `createdTime`, `status`, `context`) and `sortOrder`
/// (`asc`, `desc`) of an API list, as WSO2's publisher takes them.
struct Sort {
    by: &'static str,
    descending: bool,
}

impl Sort {
    fn parse(by: Option<&str>, order: Option<&str>) -> ApiResult<Self> {
        let by = match by.unwrap_or("name") {
            "name" => "name",
            "version" => "version",
            "createdTime" => "createdTime",
            "status" => "status",
            "context" => "context",
            other => {
                return Err(ApiError::BadRequest(format!(
                    "sortBy: '{other}' is not one of name, version, createdTime, status, context"
                )));
            }
        };
        let descending = match order.unwrap_or("asc") {
            "asc" | "ASC" => false,
            "desc" | "DESC" => true,
            other => {
                return Err(ApiError::BadRequest(format!(
                    "sortOrder: '{other}' is not one of asc, desc"
                )));
            }
        };
        Ok(Self { by, descending })
    }

    /// Name ascending (then version): the order the store lists in.
    fn is_default(&self) -> bool {
        self.by == "name" && !self.descending
    }

    fn apply(&self, apis: &mut [Api]) {
        apis.sort_by(|a, b| {
            let order = match self.by {
                "version" => a.version.as_str().cmp(b.version.as_str()),
                "createdTime" => a.created_time.cmp(&b.created_time),
                "status" => a
                    .life_cycle_status
                    .as_str()
                    .cmp(b.life_cycle_status.as_str()),
                "context" => a.context.as_str().cmp(b.context.as_str()),
                _ => a.name.as_str().cmp(b.name.as_str()),
            }
            .then_with(|| a.name.as_str().cmp(b.name.as_str()))
            .then_with(|| a.version.as_str().cmp(b.version.as_str()));
            if self.descending {
                order.reverse()
            } else {
                order
            }
        });
    }
}

/// WSO2's `APIInfo`: the summary shown in lists.
pub(crate) fn api_info(api: &Api) -> Value {
    json!({
        "id": api.id,
        "name": api.name,
        "description": api.description,
        "context": api.context,
        "version": api.version,
        "provider": api.provider,
        "type": api.api_type,
        "lifeCycleStatus": api.life_cycle_status,
        "isDefaultVersion": api.is_default_version,
        "policies": api.policies,
        "createdTime": api.created_time,
        "updatedTime": api.last_updated_time,
        "hasThumbnail": false,
        "securityScheme": api.security_scheme,
        "workflowStatus": "APPROVED",
        "gatewayVendor": api.details.gateway_vendor,
        "additionalProperties": api.details.additional_properties,
        "businessInformation": api.details.business_information,
    })
}

/// The API, or 404 when `user` may not see it in the Publisher: with `accessControl:
/// RESTRICTED` only its provider, admins and holders of one of its `accessControlRoles`
/// may (WSO2's publisher access control).
pub(crate) async fn load_for(state: &AppState, api_id: &str, user: &AuthUser) -> ApiResult<Api> {
    let api = load(state, api_id).await?;
    if may_access(&api, user) {
        Ok(api)
    } else {
        Err(ApiError::not_found("API", api_id))
    }
}

pub(crate) fn may_access(api: &Api, user: &AuthUser) -> bool {
    may_manage(&api.provider, &api.details, &user.username, &user.roles)
}

/// Whether `username` with `roles` may see and change, in the Publisher, what `provider`
/// made with these access-control `details` (an API or an API product).
pub(crate) fn may_manage(
    provider: &str,
    details: &gantry_model::ApiDetails,
    username: &str,
    roles: &[String],
) -> bool {
    provider.eq_ignore_ascii_case(username)
        || roles.iter().any(|r| r == "admin")
        || details.editable_by(roles)
}

/// WSO2's `API` body: the API as stored, except that a GraphQL API lists its root fields
/// as `operations` (QUERY, MUTATION, SUBSCRIPTION) rather than the routes that serve them,
/// and keeps its schema for `/graphql-schema`.
pub(crate) fn api_body(api: &Api) -> Value {
    let mut body = serde_json::to_value(api).unwrap_or(Value::Null);
    if let (Some(definition), Some(object)) = (&api.gateway.graphql, body.as_object_mut()) {
        object.remove("graphql");
        object.insert("operations".into(), json!(definition.operations));
        object.insert(
            "graphqlIntrospection".into(),
            json!(definition.introspection),
        );
    }
    body
}

/// The API product (or other resource) with its `ETag` header.
pub(crate) fn with_etag<T: serde::Serialize>(api: T) -> Response {
    tagged(axum::Json(&api).into_response(), &etag(&api))
}

/// The API with its `ETag` header: the body WSO2's ([`api_body`]), the tag that of the API
/// as stored (what `If-Match` is checked against).
pub(crate) fn api_with_etag(api: &Api) -> Response {
    tagged(axum::Json(api_body(api)).into_response(), &etag(api))
}

fn tagged(mut response: Response, tag: &str) -> Response {
    if let Ok(v) = HeaderValue::from_str(tag) {
        response.headers_mut().insert(header::ETAG, v);
    }
    response
}

pub(crate) async fn get_one(
    State(state): State<AppState>,
    Scoped(user, _): Scoped<rest_scopes::ApiView>,
    Path(api_id): Path<String>,
) -> ApiResult<Response> {
    Ok(api_with_etag(&load_for(&state, &api_id, &user).await?))
}

pub(crate) async fn delete(
    State(state): State<AppState>,
    Scoped(user, _): Scoped<rest_scopes::ApiDelete>,
    Path(api_id): Path<String>,
) -> ApiResult<StatusCode> {
    load_for(&state, &api_id, &user).await?;
    service::apis::delete(&state, &api_id, &user.username).await?;
    Ok(StatusCode::OK)
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CopyQuery {
    api_id: Option<String>,
    new_version: Option<String>,
    default_version: Option<bool>,
}

/// `POST /apis/copy-api?apiId=…&newVersion=…[&defaultVersion=true]`: a new version of an
/// API — same definition (and OpenAPI document), new id and version, state CREATED, no
/// revisions, deployments or subscriptions.
pub(crate) async fn copy_api(
    State(state): State<AppState>,
    Scoped(user, _): Scoped<rest_scopes::ApiCreate>,
    QueryParams(query): QueryParams<CopyQuery>,
) -> ApiResult<Response> {
    let api_id = query
        .api_id
        .ok_or_else(|| ApiError::BadRequest("apiId: query parameter is required".into()))?;
    let new_version = query
        .new_version
        .ok_or_else(|| ApiError::BadRequest("newVersion: query parameter is required".into()))?;
    let source = load(&state, &api_id).await?;
    let version = ApiVersion::parse(&new_version)
        .map_err(|e| ApiError::BadRequest(format!("newVersion: {}", e.reason)))?;
    if version == source.version {
        return Err(ApiError::Conflict(format!(
            "newVersion: the API already has version {new_version}"
        )));
    }
    let now = rfc3339(now_ms());
    let mut copy = Api {
        id: new_id(),
        version,
        provider: user.username.clone(),
        life_cycle_status: LifecycleState::Created,
        is_default_version: query.default_version.unwrap_or(false),
        created_time: now.clone(),
        last_updated_time: now,
        ..source.clone()
    };
    if let Some(ai) = copy.subtype_configuration.as_mut() {
        // Provider keys are sealed to their API: the new version gets its own.
        for target in &mut ai.configuration.targets {
            target.api_key = None;
        }
    }
    apis::create(state.store(), &copy, &user.username).await?;
    if let Some(document) = gantry_store::definitions::get(state.store(), &source.id).await? {
        let mut value: Value = serde_json::from_str(&document).unwrap_or(Value::Null);
        if value.get("info").is_some() {
            value["info"]["version"] = json!(copy.version);
        }
        gantry_store::definitions::put(state.store(), &copy.id, &value.to_string()).await?;
    }
    tracing::info!(api_id = %copy.id, from = %source.id, version = %copy.version, "API copied as a new version");
    if copy.is_default_version {
        state.sync_environments().await?;
    }
    let mut headers = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_str(&format!("/api/am/publisher/v4/apis/{}", copy.id)) {
        headers.insert(header::LOCATION, v);
    }
    Ok((StatusCode::CREATED, headers, axum::Json(api_body(&copy))).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct LifecycleQuery {
    api_id: Option<String>,
    action: Option<String>,
}

pub(crate) async fn change_lifecycle_handler(
    State(state): State<AppState>,
    Scoped(user, _): Scoped<rest_scopes::ApiPublish>,
    QueryParams(query): QueryParams<LifecycleQuery>,
) -> ApiResult<Response> {
    let api_id = query
        .api_id
        .ok_or_else(|| ApiError::BadRequest("apiId: query parameter is required".into()))?;
    let action = query
        .action
        .ok_or_else(|| ApiError::BadRequest("action: query parameter is required".into()))?;
    load_for(&state, &api_id, &user).await?;
    lifecycle_change(&state, &api_id, &action, &user).await
}

/// Requests `action` on `api_id` (held for approval when the workflow is on): WSO2's
/// `WorkflowResponse` with the lifecycle state (202 while pending).
pub(crate) async fn lifecycle_change(
    state: &AppState,
    api_id: &str,
    action: &str,
    user: &AuthUser,
) -> ApiResult<Response> {
    let (api, pending) =
        service::apis::request_lifecycle_change(state, api_id, action, &user.username).await?;
    if let Some(workflow) = pending {
        // WSO2's WorkflowResponse, with the (unchanged) lifecycle state.
        let body = json!({
            "workflowStatus": workflow.status,
            "jsonPayload": json!({"workflowReferenceId": workflow.id, "workflowType": workflow.workflow_type, "apiId": api.id, "action": action}).to_string(),
            "lifecycleState": lifecycle_state(api.life_cycle_status, Some(&workflow.status)),
        });
        return Ok((StatusCode::ACCEPTED, axum::Json(body)).into_response());
    }
    Ok(axum::Json(json!({
        "workflowStatus": "APPROVED",
        "jsonPayload": "",
        "lifecycleState": lifecycle_state(api.life_cycle_status, None),
    }))
    .into_response())
}

/// WSO2's `LifecycleState`: the state, the transitions available from it, and the status
/// of the latest lifecycle-change approval request (`workflowStatus`), when there is one.
pub(crate) fn lifecycle_state(state: LifecycleState, workflow_status: Option<&str>) -> Value {
    let transitions: Vec<Value> = state
        .allowed_actions()
        .into_iter()
        .filter_map(|a| {
            state
                .apply(a)
                .map(|to| json!({"event": a.as_str(), "targetState": to.as_str()}))
        })
        .collect();
    let mut value =
        json!({ "state": state.as_str(), "checkItems": [], "availableTransitions": transitions });
    if let Some(status) = workflow_status {
        value["workflowStatus"] = json!(status);
    }
    value
}

pub(crate) async fn get_lifecycle_state<S: rest_scopes::ScopeSet>(
    State(state): State<AppState>,
    _: Scoped<S>,
    Path(api_id): Path<String>,
) -> ApiResult<axum::Json<Value>> {
    let api = load(&state, &api_id).await?;
    let workflow_status = service::apis::lifecycle_workflow_status(&state, &api.id).await?;
    Ok(axum::Json(lifecycle_state(
        api.life_cycle_status,
        workflow_status.as_deref(),
    )))
}

/// `DELETE /apis/{apiId}/lifecycle-state/pending-tasks`: withdraws the lifecycle change
/// waiting for approval (200 whether or not there was one, as WSO2).
pub(crate) async fn delete_pending_lifecycle_tasks(
    State(state): State<AppState>,
    Scoped(user, _): Scoped<rest_scopes::ApiPublish>,
    Path(api_id): Path<String>,
) -> ApiResult<StatusCode> {
    service::apis::withdraw_lifecycle_change(&state, &api_id, &user.username).await?;
    Ok(StatusCode::OK)
}

pub(crate) async fn get_lifecycle_history<S: rest_scopes::ScopeSet>(
    State(state): State<AppState>,
    _: Scoped<S>,
    Path(api_id): Path<String>,
) -> ApiResult<axum::Json<Value>> {
    load(&state, &api_id).await?;
    Ok(axum::Json(lifecycle_history_json(&state, &api_id).await?))
}

/// The lifecycle history of an API or API product, as WSO2 lists it.
pub(crate) async fn lifecycle_history_json(state: &AppState, id: &str) -> ApiResult<Value> {
    let events = apis::lifecycle_history(state.store(), id).await?;
    let list: Vec<Value> = events
        .into_iter()
        .map(|e| {
            json!({
                "previousState": e.previous_state,
                "postState": e.post_state,
                "user": e.username,
                "updatedTime": rfc3339(e.created_at),
            })
        })
        .collect();
    Ok(plain_list(list))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(body: Value) -> ApiRequest {
        serde_json::from_value(body).unwrap()
    }

    #[test]
    fn missing_context_is_named() {
        let e = request(json!({"name": "A", "version": "1"}))
            .into_api("admin")
            .unwrap_err();
        assert_eq!(e.field, "context");
    }

    #[test]
    fn operation_errors_name_their_index() {
        let e = request(json!({"name": "A", "context": "/a", "version": "1",
            "operations": [{"target": "/x", "verb": "GET"}, {"target": "y", "verb": "GET"}]}))
        .into_api("admin")
        .unwrap_err();
        assert_eq!(e.field, "operations[1].target");
        let e = request(json!({"name": "A", "context": "/a", "version": "1",
            "operations": [{"target": "/x", "verb": "FETCH"}]}))
        .into_api("admin")
        .unwrap_err();
        assert_eq!(e.field, "operations[0].verb");
    }

    #[test]
    fn defaults_follow_wso2() {
        let api = request(json!({"name": "A", "context": "/a", "version": "1"}))
            .into_api("admin")
            .unwrap();
        assert_eq!(api.life_cycle_status, LifecycleState::Created);
        assert_eq!(api.operations.len(), 5);
        assert_eq!(api.policies, ["Unlimited"]);
        assert_eq!(api.authorization_header, "Authorization");
    }
}
