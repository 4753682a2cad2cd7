//! GraphQL APIs (`type: GRAPHQL`) in the Publisher: `POST /apis/validate-graphql-schema`,
//! `POST /apis/import-graphql-schema`, `GET|PUT /apis/{apiId}/graphql-schema`,
//! `GET|PUT /apis/{apiId}/graphql-policies/complexity` and `…/complexity/types`.
//!
//! The schema's root fields are the API's operations (QUERY, MUTATION, SUBSCRIPTION with the
//! field as target), each with auth type, scopes and throttling policy; the gateway is given
//! the schema with them, and serves the API on `POST|GET /<context>/<version>`.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use gantry_graphql::{OperationKind, Schema};
use gantry_model::{
    Api, AuthType, FieldComplexity, GraphQlDefinition, GraphQlOperation, GraphQlVerb, HttpVerb,
    InvalidField, Operation, ResourceTarget,
};
use gantry_store::apis;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::apis::{ApiRequest, OperationRequest, api_body, create_api, load_for};
use super::openapi::{Upload, read_upload};
use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::extract::{JsonBody, Scoped};
use crate::rejection::MultipartForm;
use crate::rest_scopes;

/// WSO2's `type` of a GraphQL API.
pub const GRAPHQL: &str = "GRAPHQL";

/// The HTTP routes a GraphQL API is served on: `POST` (a JSON body) and `GET` (`?query=`)
/// on its base path. The gateway checks each request against the GraphQL operations.
pub(crate) fn routes() -> Vec<Operation> {
    [HttpVerb::Post, HttpVerb::Get]
        .into_iter()
        .map(|verb| Operation {
            id: None,
            target: ResourceTarget::parse("/").expect("'/' is a valid target"),
            verb,
            auth_type: AuthType::Any,
            throttling_policy: "Unlimited".to_owned(),
            scopes: Vec::new(),
            operation_policies: Default::default(),
        })
        .collect()
}

fn verb_of(kind: OperationKind) -> GraphQlVerb {
    match kind {
        OperationKind::Query => GraphQlVerb::Query,
        OperationKind::Mutation => GraphQlVerb::Mutation,
        OperationKind::Subscription => GraphQlVerb::Subscription,
    }
}

fn parse_schema(sdl: &str) -> Result<Schema, InvalidField> {
    Schema::parse(sdl).map_err(|e| InvalidField::new("schema", e.to_string()))
}

/// A GraphQL API's definition from `previous` (its schema, and the operations and complexity
/// values it had) with `requested` operations applied: one operation per root field of the
/// schema (new ones `Application & Application User`, `Unlimited`, no scopes); complexity
/// values of fields the schema no longer has are dropped.
pub(crate) fn definition(
    previous: Option<GraphQlDefinition>,
    requested: &[OperationRequest],
) -> Result<GraphQlDefinition, InvalidField> {
    let previous = previous.ok_or_else(|| {
        InvalidField::new(
            "type",
            "a GRAPHQL API is created from its schema: POST /apis/import-graphql-schema",
        )
    })?;
    let schema = parse_schema(&previous.schema)?;
    let mut definition = GraphQlDefinition {
        operations: schema
            .root_fields()
            .into_iter()
            .map(|(kind, field)| {
                let verb = verb_of(kind);
                previous
                    .operation(verb, field)
                    .cloned()
                    .unwrap_or_else(|| GraphQlOperation {
                        id: None,
                        target: field.to_owned(),
                        verb,
                        auth_type: AuthType::Any,
                        throttling_policy: "Unlimited".to_owned(),
                        scopes: Vec::new(),
                    })
            })
            .collect(),
        complexity: previous
            .complexity
            .iter()
            .filter(|c| schema.has_field(&c.type_name, &c.field))
            .cloned()
            .collect(),
        introspection: previous.introspection,
        schema: previous.schema,
    };
    let requested = requested
        .iter()
        .enumerate()
        .map(|(i, op)| graphql_operation(op, i))
        .collect::<Result<Vec<_>, _>>()?;
    definition.apply_operations(&requested)?;
    Ok(definition)
}

fn graphql_operation(
    op: &OperationRequest,
    index: usize,
) -> Result<GraphQlOperation, InvalidField> {
    let at = |field: &str| format!("operations[{index}].{field}");
    let verb_raw = op
        .verb
        .as_deref()
        .ok_or_else(|| InvalidField::new(at("verb"), "is required"))?;
    let verb = GraphQlVerb::parse(verb_raw).ok_or_else(|| {
        InvalidField::new(
            at("verb"),
            format!("'{verb_raw}' is not one of QUERY, MUTATION, SUBSCRIPTION"),
        )
    })?;
    let target = op
        .target
        .clone()
        .ok_or_else(|| InvalidField::new(at("target"), "is required"))?;
    let (auth_type, scopes) = op.access(index)?;
    Ok(GraphQlOperation {
        id: None,
        target,
        verb,
        auth_type,
        throttling_policy: op
            .throttling_policy
            .clone()
            .unwrap_or_else(|| "Unlimited".to_owned()),
        scopes,
    })
}

/// The API `api_id` as `user` may see it, when it is a GraphQL API (400 otherwise).
async fn load_graphql(
    state: &AppState,
    api_id: &str,
    user: &crate::extract::AuthUser,
) -> ApiResult<(Api, GraphQlDefinition)> {
    let api = load_for(state, api_id, user).await?;
    let definition = graphql_of(&api)?;
    Ok((api, definition))
}

/// The GraphQL definition of `api`; 400 for an API of another type.
pub(crate) fn graphql_of(api: &Api) -> ApiResult<GraphQlDefinition> {
    api.gateway
        .graphql
        .as_deref()
        .cloned()
        .ok_or_else(|| ApiError::BadRequest(format!("API {} is not a GraphQL API", api.id)))
}

/// WSO2's `GraphQLSchema`.
pub(crate) fn schema_body(api: &Api, definition: &GraphQlDefinition) -> Value {
    json!({
        "name": format!("{}--{}.graphql", api.provider, api.name),
        "schemaDefinition": definition.schema,
    })
}

/// WSO2's `GraphQLQueryComplexityInfo`.
pub(crate) fn complexity_body(definition: &GraphQlDefinition) -> Value {
    json!({ "list": definition.complexity })
}

/// WSO2's `GraphQLSchemaTypeList`: every object and interface type with its fields.
pub(crate) fn types_body(definition: &GraphQlDefinition) -> ApiResult<Value> {
    let schema = Schema::parse(&definition.schema)
        .map_err(|e| ApiError::Internal(format!("stored schema: {e}")))?;
    let list: Vec<Value> = schema
        .types()
        .filter(|(name, _)| !name.starts_with("__"))
        .map(|(name, fields)| json!({"type": name, "fieldList": fields.collect::<Vec<_>>()}))
        .collect();
    Ok(json!({ "typeList": list }))
}

fn schema_text(upload: &Upload, fields: &str) -> ApiResult<String> {
    upload
        .definition
        .clone()
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| {
            ApiError::BadRequest(format!("{fields}: a GraphQL schema (SDL) is required"))
        })
}

/// `POST /apis/validate-graphql-schema`: WSO2's `GraphQLValidationResponse`.
pub(crate) async fn validate(
    _: Scoped<rest_scopes::ApiCreate>,
    form: MultipartForm,
) -> ApiResult<axum::Json<Value>> {
    let upload = read_upload(form.0, &["file"]).await?;
    let sdl = schema_text(&upload, "file")?;
    Ok(axum::Json(match Schema::parse(&sdl) {
        Ok(schema) => json!({
            "isValid": true,
            "errorMessage": "",
            "graphQLInfo": {
                "operations": schema.root_fields().into_iter().map(|(kind, field)| json!({
                    "target": field,
                    "verb": kind.verb(),
                    "authType": AuthType::Any,
                    "throttlingPolicy": "Unlimited",
                    "scopes": [],
                })).collect::<Vec<_>>(),
                "graphQLSchema": {"name": "schema.graphql", "schemaDefinition": sdl},
            },
        }),
        Err(error) => json!({"isValid": false, "errorMessage": error.to_string()}),
    }))
}

/// `POST /apis/import-graphql-schema` (multipart `file` + `additionalProperties`): creates a
/// GraphQL API (state CREATED) whose operations are the schema's root fields; operations in
/// `additionalProperties` set their auth type, scopes and policy.
pub(crate) async fn import(
    State(state): State<AppState>,
    Scoped(user, _): Scoped<rest_scopes::ApiCreate>,
    form: MultipartForm,
) -> ApiResult<Response> {
    let upload = read_upload(form.0, &["file", "schema"]).await?;
    let sdl = schema_text(&upload, "file")?;
    parse_schema(&sdl)?;
    let mut properties = match upload.additional {
        Some(Value::Object(map)) => map,
        _ => Map::new(),
    };
    properties.insert("type".into(), json!(GRAPHQL));
    properties.insert("graphql".into(), json!({"schema": sdl, "operations": []}));
    let request: ApiRequest = serde_json::from_value(Value::Object(properties))
        .map_err(|e| ApiError::BadRequest(format!("additionalProperties: {e}")))?;
    let api = create_api(&state, request, &user.username).await?;
    let mut headers = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_str(&format!("/api/am/publisher/v4/apis/{}", api.id)) {
        headers.insert(header::LOCATION, v);
    }
    Ok((StatusCode::CREATED, headers, axum::Json(api_body(&api))).into_response())
}

/// `GET /apis/{apiId}/graphql-schema`: WSO2's `GraphQLSchema`.
pub(crate) async fn get_schema(
    State(state): State<AppState>,
    Scoped(user, _): Scoped<rest_scopes::ApiView>,
    Path(api_id): Path<String>,
) -> ApiResult<axum::Json<Value>> {
    let (api, definition) = load_graphql(&state, &api_id, &user).await?;
    Ok(axum::Json(schema_body(&api, &definition)))
}

/// `PUT /apis/{apiId}/graphql-schema` (multipart `schemaDefinition`): replaces the schema;
/// operations of root fields it keeps keep their settings, new ones get the defaults.
pub(crate) async fn put_schema(
    State(state): State<AppState>,
    Scoped(user, _): Scoped<rest_scopes::ApiCreate>,
    Path(api_id): Path<String>,
    form: MultipartForm,
) -> ApiResult<axum::Json<Value>> {
    let (current, mut definition) = load_graphql(&state, &api_id, &user).await?;
    let upload = read_upload(form.0, &["schemaDefinition", "file"]).await?;
    definition.schema = schema_text(&upload, "schemaDefinition")?;
    parse_schema(&definition.schema)?;
    let api = store_definition(&state, &current, definition).await?;
    let stored = graphql_of(&api)?;
    tracing::info!(api_id = %api.id, operations = stored.operations.len(), "GraphQL schema replaced");
    Ok(axum::Json(schema_body(&api, &stored)))
}

/// Rebuilds `current` with `definition` through the same validation as an update, and
/// stores it (409 if the API changed meanwhile).
async fn store_definition(
    state: &AppState,
    current: &Api,
    definition: GraphQlDefinition,
) -> ApiResult<Api> {
    let mut body = serde_json::to_value(current).map_err(|e| ApiError::Internal(e.to_string()))?;
    if let Some(object) = body.as_object_mut() {
        // The definition carries the operations; the stored routes are derived from it.
        object.remove("operations");
        object.insert(
            "graphql".into(),
            serde_json::to_value(&definition).map_err(|e| ApiError::Internal(e.to_string()))?,
        );
    }
    let request: ApiRequest = serde_json::from_value(body)
        .map_err(|e| ApiError::BadRequest(format!("definition: {e}")))?;
    let mut api = request.into_api(&current.provider)?;
    crate::service::apis::check_policies(state, &mut api).await?;
    api.id = current.id.clone();
    api.life_cycle_status = current.life_cycle_status;
    api.created_time = current.created_time.clone();
    apis::update_if_unchanged(state.store(), &api, current).await?;
    Ok(api)
}

/// `GET /apis/{apiId}/graphql-policies/complexity`.
pub(crate) async fn get_complexity(
    State(state): State<AppState>,
    Scoped(user, _): Scoped<rest_scopes::ApiView>,
    Path(api_id): Path<String>,
) -> ApiResult<axum::Json<Value>> {
    let (_, definition) = load_graphql(&state, &api_id, &user).await?;
    Ok(axum::Json(complexity_body(&definition)))
}

/// The body of `PUT …/complexity` (WSO2 `GraphQLQueryComplexityInfo`).
#[derive(Debug, Deserialize)]
pub(crate) struct ComplexityRequest {
    #[serde(default)]
    list: Vec<ComplexityEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ComplexityEntry {
    #[serde(rename = "type")]
    type_name: Option<String>,
    field: Option<String>,
    complexity_value: Option<i64>,
}

/// `PUT /apis/{apiId}/graphql-policies/complexity`: replaces the per-field complexity
/// values; each must name a field of a type of the schema and be 0 or more. Gateways use
/// them from the next deployed revision, as the rest of the API.
pub(crate) async fn put_complexity(
    State(state): State<AppState>,
    Scoped(user, _): Scoped<rest_scopes::ApiCreate>,
    Path(api_id): Path<String>,
    JsonBody(request): JsonBody<ComplexityRequest>,
) -> ApiResult<axum::Json<Value>> {
    let (current, mut definition) = load_graphql(&state, &api_id, &user).await?;
    let schema = parse_schema(&definition.schema)?;
    let mut values: Vec<FieldComplexity> = Vec::with_capacity(request.list.len());
    for (i, entry) in request.list.into_iter().enumerate() {
        let at = |field: &str| format!("list[{i}].{field}");
        let (Some(type_name), Some(field), Some(value)) =
            (entry.type_name, entry.field, entry.complexity_value)
        else {
            return Err(ApiError::BadRequest(format!(
                "{}: type, field and complexityValue are required",
                at("").trim_end_matches('.')
            )));
        };
        if !schema.has_field(&type_name, &field) {
            return Err(ApiError::BadRequest(format!(
                "{}: '{type_name}.{field}' is not a field of the API's schema",
                at("field")
            )));
        }
        let complexity_value = u32::try_from(value).map_err(|_| {
            ApiError::BadRequest(format!("{}: must be 0 or more", at("complexityValue")))
        })?;
        values.retain(|v| !(v.type_name == type_name && v.field == field));
        values.push(FieldComplexity {
            type_name,
            field,
            complexity_value,
        });
    }
    definition.complexity = values;
    let api = store_definition(&state, &current, definition).await?;
    tracing::info!(api_id = %api.id, "GraphQL complexity values replaced");
    Ok(axum::Json(complexity_body(&graphql_of(&api)?)))
}

/// `GET /apis/{apiId}/graphql-policies/complexity/types`.
pub(crate) async fn get_types(
    State(state): State<AppState>,
    Scoped(user, _): Scoped<rest_scopes::ApiView>,
    Path(api_id): Path<String>,
) -> ApiResult<axum::Json<Value>> {
    let (_, definition) = load_graphql(&state, &api_id, &user).await?;
    Ok(axum::Json(types_body(&definition)?))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const SDL: &str = "type Query { a: Int, b: Int } type Mutation { m: Int }";

    fn previous() -> GraphQlDefinition {
        GraphQlDefinition {
            schema: SDL.into(),
            operations: vec![GraphQlOperation {
                id: None,
                target: "a".into(),
                verb: GraphQlVerb::Query,
                auth_type: AuthType::None,
                throttling_policy: "Unlimited".into(),
                scopes: vec!["x".into()],
            }],
            complexity: vec![FieldComplexity {
                type_name: "Query".into(),
                field: "gone".into(),
                complexity_value: 3,
            }],
            introspection: true,
        }
    }

    #[test]
    fn operations_follow_the_schema_and_keep_their_settings() {
        let d = definition(Some(previous()), &[]).unwrap();
        let names: Vec<_> = d
            .operations
            .iter()
            .map(|o| format!("{} {}", o.verb.as_str(), o.target))
            .collect();
        assert_eq!(names, ["QUERY a", "QUERY b", "MUTATION m"]);
        assert_eq!(d.operations[0].auth_type, AuthType::None);
        assert_eq!(d.operations[1].auth_type, AuthType::Any);
        assert!(
            d.complexity.is_empty(),
            "values of removed fields are dropped"
        );
    }

    #[test]
    fn requested_operations_must_be_root_fields() {
        let request: OperationRequest =
            serde_json::from_value(json!({"target": "m", "verb": "MUTATION", "scopes": ["w"]}))
                .unwrap();
        let d = definition(Some(previous()), &[request]).unwrap();
        assert_eq!(d.operations[2].scopes, ["w"]);
        let unknown: OperationRequest =
            serde_json::from_value(json!({"target": "zz", "verb": "QUERY"})).unwrap();
        let e = definition(Some(previous()), &[unknown]).unwrap_err();
        assert_eq!(e.field, "operations[0]");
        let http: OperationRequest =
            serde_json::from_value(json!({"target": "/a", "verb": "GET"})).unwrap();
        assert_eq!(
            definition(Some(previous()), &[http]).unwrap_err().field,
            "operations[0].verb"
        );
        assert_eq!(definition(None, &[]).unwrap_err().field, "type");
    }
}
