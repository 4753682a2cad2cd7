//! APIs from OpenAPI documents: `POST /apis/import-openapi`, `POST /apis/validate-openapi`,
//! `GET|PUT /apis/{apiId}/swagger`.
//!
//! A document (OpenAPI 3.x or Swagger 2.0, JSON or YAML) gives the API its operations: one
//! per path and verb, with WSO2's extensions read when present (`x-auth-type`,
//! `x-throttling-tier`, and the scopes of the operation's `security` requirement). The
//! document is kept verbatim and served back by `GET /swagger`; APIs created without one get
//! a document generated from their operations.

use axum::extract::{Multipart, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use gantry_model::{Api, AuthType};
use gantry_store::{apis, definitions};
use serde_json::{Map, Value, json};

use super::apis::{ApiRequest, create_api, load};
use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::extract::Scoped;
use crate::rejection::{MultipartForm, multipart_error};
use crate::rest_scopes;

const VERBS: [&str; 7] = ["get", "put", "post", "delete", "patch", "head", "options"];

/// A parsed, checked OpenAPI document.
#[derive(Debug)]
pub struct Document {
    /// The document as JSON.
    pub value: Value,
    /// `3.x` or `2.0`.
    pub spec_version: String,
    /// `info.title`.
    pub title: String,
    /// `info.version`.
    pub version: String,
    /// `info.description`.
    pub description: Option<String>,
    /// The backend URL the document names (`servers[0].url`, or Swagger's
    /// `schemes`/`host`/`basePath`).
    pub endpoint: Option<String>,
    /// WSO2 `operations` entries.
    pub operations: Vec<Value>,
}

impl Document {
    /// Parses JSON or YAML text and checks it is an OpenAPI 3.x or Swagger 2.0 document
    /// with `info.title`, `info.version` and `paths`; the error names what is wrong.
    pub fn parse(text: &str) -> Result<Self, String> {
        let value = read_object(text)?;
        let object = value
            .as_object()
            .ok_or("the definition must be an object")?;
        let spec_version = match (object.get("openapi"), object.get("swagger")) {
            (Some(Value::String(v)), _) if v.starts_with("3.") => v.clone(),
            (_, Some(Value::String(v))) if v == "2.0" => v.clone(),
            (Some(v), _) => return Err(format!("openapi: {v} is not a supported version (3.x)")),
            (_, Some(v)) => return Err(format!("swagger: {v} is not supported (2.0)")),
            _ => return Err("neither 'openapi: 3.x' nor 'swagger: \"2.0\"' is present".into()),
        };
        let Info {
            title,
            version,
            description,
        } = Info::of(object)?;
        let paths = object
            .get("paths")
            .and_then(Value::as_object)
            .ok_or("paths: is required and must be an object")?;
        let mut operations = Vec::new();
        for (path, item) in paths {
            if !path.starts_with('/') {
                return Err(format!("paths: '{path}' must start with '/'"));
            }
            let item = item
                .as_object()
                .ok_or_else(|| format!("paths.{path}: must be an object"))?;
            for verb in VERBS {
                if let Some(op) = item.get(verb) {
                    operations.push(operation(path, verb, op)?);
                }
            }
        }
        if operations.is_empty() {
            return Err("paths: the definition has no operations".into());
        }
        let endpoint = if spec_version.starts_with("3.") {
            object
                .get("servers")
                .and_then(|s| s.get(0))
                .and_then(|s| s.get("url"))
                .and_then(Value::as_str)
                .filter(|u| u.starts_with("http://") || u.starts_with("https://"))
                .map(str::to_owned)
        } else {
            object.get("host").and_then(Value::as_str).map(|host| {
                let scheme = object
                    .get("schemes")
                    .and_then(|s| s.get(0))
                    .and_then(Value::as_str)
                    .unwrap_or("https");
                let base = object.get("basePath").and_then(Value::as_str).unwrap_or("");
                format!("{scheme}://{host}{base}")
            })
        };
        Ok(Self {
            description,
            value,
            spec_version,
            title,
            version,
            endpoint,
            operations,
        })
    }
}

/// A string or number as text (YAML reads `version: 1.0` as a number).
pub(super) fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) if !s.trim().is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A definition's text (JSON or YAML) as a JSON object; the error says why not.
pub(super) fn read_object(text: &str) -> Result<Value, String> {
    if text.trim().is_empty() {
        return Err("the definition is empty".into());
    }
    let value: Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(json_error) => serde_yaml_ng::from_str(text).map_err(|yaml_error| {
            format!("not valid JSON ({json_error}) nor YAML ({yaml_error})")
        })?,
    };
    if !value.is_object() {
        return Err("the definition must be a JSON or YAML object".into());
    }
    Ok(value)
}

/// A definition's `info`: title and version required.
pub(super) struct Info {
    pub(super) title: String,
    pub(super) version: String,
    pub(super) description: Option<String>,
}

impl Info {
    pub(super) fn of(document: &Map<String, Value>) -> Result<Self, String> {
        let info = document
            .get("info")
            .and_then(Value::as_object)
            .ok_or("info: is required")?;
        let text_of = |key: &str| info.get(key).and_then(scalar_text);
        Ok(Self {
            title: text_of("title").ok_or("info.title: is required")?,
            version: text_of("version").ok_or("info.version: is required")?,
            description: text_of("description"),
        })
    }
}

/// One WSO2 `operations` entry from a path item's operation object.
fn operation(path: &str, verb: &str, op: &Value) -> Result<Value, String> {
    let op = op
        .as_object()
        .ok_or_else(|| format!("paths.{path}.{verb}: must be an object"))?;
    Ok(wso2_operation(path, &verb.to_ascii_uppercase(), op, &[]))
}

/// A WSO2 `operations` entry for `verb` on `target` from a definition's operation object:
/// `scopes` (`extra_scopes`, then those of its `security` requirements), and WSO2's
/// `x-auth-type` and `x-throttling-tier`.
pub(super) fn wso2_operation(
    target: &str,
    verb: &str,
    op: &Map<String, Value>,
    extra_scopes: &[Value],
) -> Value {
    let required = op
        .get("security")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_object)
        .flat_map(|requirement| requirement.values())
        .filter_map(Value::as_array)
        .flatten();
    let mut scopes: Vec<Value> = Vec::new();
    for scope in extra_scopes.iter().chain(required) {
        if !scopes.contains(scope) {
            scopes.push(scope.clone());
        }
    }
    let mut entry = json!({"target": target, "verb": verb, "scopes": scopes});
    if let Some(auth) = op.get("x-auth-type").and_then(Value::as_str) {
        entry["authType"] = json!(auth);
    }
    if let Some(tier) = op.get("x-throttling-tier").and_then(Value::as_str) {
        entry["throttlingPolicy"] = json!(tier);
    }
    entry
}

/// WSO2's validation answer for an invalid definition (`message` names its kind).
pub(super) fn invalid_report(message: &str, reason: String) -> Value {
    json!({
        "isValid": false,
        "errors": [{"code": "900754", "message": message, "description": reason}],
    })
}

/// What a definition says of its API, used where `additionalProperties` does not say.
#[derive(Default)]
pub(super) struct Described<'a> {
    pub(super) name: Option<&'a str>,
    pub(super) version: Option<&'a str>,
    pub(super) description: Option<&'a str>,
    pub(super) endpoint: Option<&'a str>,
}

/// The `API` object of an import: the upload's `additionalProperties`, with the name
/// (WSO2's forbidden characters dropped), version, description and production endpoint
/// the definition gives where they are absent.
pub(super) fn properties_of(upload: &Upload, described: Described<'_>) -> Map<String, Value> {
    let mut properties = match &upload.additional {
        Some(Value::Object(map)) => map.clone(),
        _ => Map::new(),
    };
    if let Some(name) = described.name {
        properties.entry("name").or_insert_with(|| {
            json!(name.replace(
                |c: char| !c.is_alphanumeric() && c != ' ' && c != '-' && c != '_',
                ""
            ))
        });
    }
    for (field, value) in [
        ("version", described.version),
        ("description", described.description),
    ] {
        if let Some(value) = value {
            properties.entry(field).or_insert_with(|| json!(value));
        }
    }
    if let Some(url) = described.endpoint {
        properties.entry("endpointConfig").or_insert_with(
            || json!({"endpoint_type": "http", "production_endpoints": {"url": url}}),
        );
    }
    properties
}

/// The parts of a multipart request: the definition text and `additionalProperties`.
#[derive(Debug, Default)]
pub(crate) struct Upload {
    /// The part named by one of the definition fields.
    pub(crate) definition: Option<String>,
    /// `additionalProperties`: the API, a JSON object.
    pub(crate) additional: Option<Value>,
    /// `implementationType` (WSDL imports: `SOAP` or `SOAPTOREST`).
    pub(crate) implementation_type: Option<String>,
}

/// Reads a definition upload: the definition from one of `definition_fields`,
/// `additionalProperties` as a JSON object; a `url` is refused (the control plane fetches
/// no remote documents).
pub(crate) async fn read_upload(
    mut multipart: Multipart,
    definition_fields: &[&str],
) -> ApiResult<Upload> {
    let mut upload = Upload::default();
    while let Some(field) = multipart.next_field().await.map_err(multipart_error)? {
        let name = field.name().unwrap_or_default().to_owned();
        let text = field.text().await.map_err(multipart_error)?;
        match name.as_str() {
            "url" => {
                return Err(ApiError::BadRequest(format!(
                    "url: importing from a URL is not supported (the control plane does not fetch remote documents); send the document as {}",
                    definition_fields
                        .iter()
                        .map(|f| format!("'{f}'"))
                        .collect::<Vec<_>>()
                        .join(" or ")
                )));
            }
            "additionalProperties" => {
                let value: Value = serde_json::from_str(&text).map_err(|e| {
                    ApiError::BadRequest(format!("additionalProperties: not valid JSON: {e}"))
                })?;
                if !value.is_object() {
                    return Err(ApiError::BadRequest(
                        "additionalProperties: must be a JSON object (the API)".into(),
                    ));
                }
                upload.additional = Some(value);
            }
            "implementationType" => upload.implementation_type = Some(text),
            field if definition_fields.contains(&field) => upload.definition = Some(text),
            _ => {}
        }
    }
    Ok(upload)
}

pub(crate) fn document_of(upload: &Upload, fields: &str) -> ApiResult<Document> {
    let text = upload
        .definition
        .as_deref()
        .ok_or_else(|| ApiError::BadRequest(format!("{fields}: a definition is required")))?;
    Document::parse(text)
        .map_err(|e| ApiError::BadRequest(format!("Invalid OpenAPI definition: {e}")))
}

/// `POST /apis/import-openapi`: creates an API (state CREATED) from a document and the
/// `additionalProperties` API object; the document's operations win over any given there.
pub(crate) async fn import(
    State(state): State<AppState>,
    Scoped(user, _): Scoped<rest_scopes::ApiCreate>,
    MultipartForm(multipart): MultipartForm,
) -> ApiResult<Response> {
    let upload = read_upload(multipart, &["file", "inlineAPIDefinition"]).await?;
    let document = document_of(&upload, "file or inlineAPIDefinition")?;
    let mut properties = properties_of(
        &upload,
        Described {
            name: Some(&document.title),
            version: Some(&document.version),
            description: document.description.as_deref(),
            endpoint: document.endpoint.as_deref(),
        },
    );
    properties.insert("operations".into(), json!(document.operations));
    create_with_definition(&state, &user.username, properties, &document.value).await
}

/// Creates the API `properties` describe for `provider` and stores `definition` as its
/// document (an import): 201 with the API and its `Location`.
pub(super) async fn create_with_definition(
    state: &AppState,
    provider: &str,
    properties: Map<String, Value>,
    definition: &Value,
) -> ApiResult<Response> {
    let request: ApiRequest = serde_json::from_value(Value::Object(properties))
        .map_err(|e| ApiError::BadRequest(format!("additionalProperties: {e}")))?;
    let api = create_api(state, request, provider).await?;
    if let Err(error) = definitions::put(state.store(), &api.id, &definition.to_string()).await {
        // Do not leave an API whose document was lost.
        let _ = apis::delete(state.store(), &api.id).await;
        return Err(error.into());
    }
    let mut headers = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_str(&format!("/api/am/publisher/v4/apis/{}", api.id)) {
        headers.insert(header::LOCATION, v);
    }
    Ok((StatusCode::CREATED, headers, axum::Json(api)).into_response())
}

/// `POST /apis/validate-openapi`: WSO2's `OpenAPIDefinitionValidationResponse`.
pub(crate) async fn validate(
    _: Scoped<rest_scopes::ApiCreate>,
    MultipartForm(multipart): MultipartForm,
) -> ApiResult<axum::Json<Value>> {
    let upload = read_upload(multipart, &["file", "inlineAPIDefinition"]).await?;
    let text = upload.definition.unwrap_or_default();
    Ok(axum::Json(match Document::parse(&text) {
        Ok(doc) => json!({
            "isValid": true,
            "info": {
                "name": doc.title,
                "version": doc.version,
                "description": doc.description,
                "openAPIVersion": doc.spec_version,
                "endpoints": doc.endpoint.into_iter().collect::<Vec<_>>(),
                "operations": doc.operations,
            },
            "errors": [],
        }),
        Err(reason) => invalid_report("Invalid OpenAPI definition", reason),
    }))
}

/// The document of an API without a stored one, generated from its operations.
pub fn generated_document(api: &Api) -> Value {
    generated_document_of(
        api.name.as_str(),
        api.version.as_str(),
        api.description.as_deref(),
        &api.operations,
    )
}

/// An OpenAPI document of `operations` (an API's, or an API product's from several APIs).
pub fn generated_document_of<'a>(
    title: &str,
    version: &str,
    description: Option<&str>,
    operations: impl IntoIterator<Item = &'a gantry_model::Operation>,
) -> Value {
    let mut paths = Map::new();
    let mut scopes = Map::new();
    for op in operations {
        let target = op.target.to_string();
        // Every `{name}` of the template is a declared, required path parameter.
        let parameters: Vec<Value> = target
            .split('/')
            .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
            .map(|name| {
                json!({"name": name, "in": "path", "required": true,
                               "schema": {"type": "string"}})
            })
            .collect();
        for scope in &op.scopes {
            scopes.insert(scope.clone(), json!(""));
        }
        let entry = paths
            .entry(op.target.to_string())
            .or_insert_with(|| json!({}));
        let auth = match op.auth_type {
            AuthType::None => "None",
            AuthType::Application => "Application",
            AuthType::ApplicationUser => "Application User",
            AuthType::Any => "Application & Application User",
        };
        entry[op.verb.as_str().to_ascii_lowercase()] = json!({
            "parameters": parameters,
            "responses": {"default": {"description": ""}},
            "security": [{"default": op.scopes}],
            "x-auth-type": auth,
            "x-throttling-tier": op.throttling_policy,
        });
    }
    json!({
        "openapi": "3.0.1",
        "info": {"title": title, "version": version, "description": description},
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {"securitySchemes": {"default": {"type": "oauth2", "flows": {
            "implicit": {"authorizationUrl": "https://test.com", "scopes": scopes}}}}},
    })
}

/// `GET /apis/{apiId}/swagger`.
pub(crate) async fn get_definition(
    State(state): State<AppState>,
    _: Scoped<rest_scopes::ApiView>,
    Path(api_id): Path<String>,
) -> ApiResult<axum::Json<Value>> {
    let api = load(&state, &api_id).await?;
    Ok(axum::Json(
        stored_document(&state, &api, generated_document).await?,
    ))
}

/// `api`'s stored JSON document, or the one `generate` makes from its operations.
pub(super) async fn stored_document(
    state: &AppState,
    api: &Api,
    generate: fn(&Api) -> Value,
) -> ApiResult<Value> {
    Ok(match definitions::get(state.store(), &api.id).await? {
        Some(text) => serde_json::from_str(&text).unwrap_or_else(|_| generate(api)),
        None => generate(api),
    })
}

/// `PUT /apis/{apiId}/swagger` (multipart `apiDefinition` or `file`): replaces the
/// document and, from it, the API's operations.
pub(crate) async fn put_definition(
    State(state): State<AppState>,
    _: Scoped<rest_scopes::ApiCreate>,
    Path(api_id): Path<String>,
    MultipartForm(multipart): MultipartForm,
) -> ApiResult<axum::Json<Value>> {
    let upload = read_upload(multipart, &["apiDefinition", "file"]).await?;
    let document = document_of(&upload, "apiDefinition or file")?;
    replace_definition(&state, &api_id, &document.operations, &document.value).await?;
    Ok(axum::Json(document.value))
}

/// Replaces the operations of API `api_id` with `operations` (validated as an update is)
/// and its stored document with `definition`.
pub(super) async fn replace_definition(
    state: &AppState,
    api_id: &str,
    operations: &[Value],
    definition: &Value,
) -> ApiResult<()> {
    let current = load(state, api_id).await?;
    let body = serde_json::to_value(&current).map_err(|e| ApiError::Internal(e.to_string()))?;
    replace_api(state, &current, body, operations, definition).await
}

/// Replaces `current` with the API `body` describes, with `operations` (validated as an
/// update is), and its stored document with `definition`.
pub(super) async fn replace_api(
    state: &AppState,
    current: &Api,
    mut body: Value,
    operations: &[Value],
    definition: &Value,
) -> ApiResult<()> {
    // Rebuild the API through the same validation as an update, with the new operations.
    body["operations"] = json!(operations);
    let request: ApiRequest = serde_json::from_value(body)
        .map_err(|e| ApiError::BadRequest(format!("definition: {e}")))?;
    let mut api = request.into_api(&current.provider)?;
    crate::service::apis::check_policies(state, &mut api).await?;
    api.id = current.id.clone();
    api.life_cycle_status = current.life_cycle_status;
    api.created_time = current.created_time.clone();
    apis::update_if_unchanged(state.store(), &api, current).await?;
    definitions::put(state.store(), &api.id, &definition.to_string()).await?;
    tracing::info!(api_id = %api.id, operations = api.operations.len(), "API definition replaced");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_openapi_3_yaml_with_wso2_extensions() {
        let doc = Document::parse(
            "openapi: 3.0.1\ninfo:\n  title: Pizza\n  version: 1.0\nservers:\n  - url: https://pizza.example/v1\npaths:\n  /menu:\n    get:\n      x-auth-type: None\n      responses: {}\n  /order/{id}:\n    post:\n      security:\n        - default: [order:write]\n      x-throttling-tier: 10KPerMin\n      responses: {}\n",
        )
        .unwrap();
        assert_eq!(doc.title, "Pizza");
        assert_eq!(doc.version, "1.0");
        assert_eq!(doc.endpoint.as_deref(), Some("https://pizza.example/v1"));
        assert_eq!(doc.operations.len(), 2);
        let order = &doc.operations[1];
        assert_eq!(order["verb"], "POST");
        assert_eq!(order["scopes"][0], "order:write");
        assert_eq!(order["throttlingPolicy"], "10KPerMin");
        assert_eq!(doc.operations[0]["authType"], "None");
    }

    #[test]
    fn reads_swagger_2_json() {
        let doc = Document::parse(r#"{"swagger":"2.0","info":{"title":"T","version":"v1"},"host":"api.example","basePath":"/base","schemes":["http"],"paths":{"/a":{"get":{},"delete":{}}}}"#).unwrap();
        assert_eq!(doc.endpoint.as_deref(), Some("http://api.example/base"));
        assert_eq!(doc.operations.len(), 2);
    }

    #[test]
    fn generated_documents_declare_path_parameters_and_scopes() {
        let request: crate::publisher::apis::ApiRequest = serde_json::from_value(json!({
            "name": "Pizza", "context": "/pizza", "version": "1.0.0",
            "operations": [{"target": "/order/{orderId}/items/{item}", "verb": "GET",
                            "scopes": ["orders:read"]}]}))
        .unwrap();
        let api = request.into_api("admin").unwrap();
        let doc = generated_document(&api);
        let op = &doc["paths"]["/order/{orderId}/items/{item}"]["get"];
        let names: Vec<&str> = op["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["orderId", "item"]);
        assert_eq!(op["parameters"][0]["required"], true);
        assert!(
            doc["components"]["securitySchemes"]["default"]["flows"]["implicit"]["scopes"]
                .get("orders:read")
                .is_some()
        );
    }

    #[test]
    fn invalid_documents_say_why() {
        assert!(Document::parse("").unwrap_err().contains("empty"));
        assert!(
            Document::parse("openapi: 2.5\ninfo: {title: a, version: b}\npaths: {}")
                .unwrap_err()
                .contains("not a supported version")
        );
        assert!(
            Document::parse("{\"openapi\":\"3.0.0\",\"paths\":{}}")
                .unwrap_err()
                .contains("info")
        );
        assert!(
            Document::parse("openapi: 3.0.0\ninfo: {title: a, version: b}\npaths: {}")
                .unwrap_err()
                .contains("no operations")
        );
        assert!(Document::parse("{{{ not yaml").is_err());
    }
}
