//! LLM providers, as WSO2 4.7 serves them: Admin `/llm-providers` and `/ai-service-providers`
//! (list, add, get, change, delete; multipart bodies with `configurations` as JSON text) and
//! the Publisher's reads (`/ai-service-providers`, its `api-definition`,
//! `endpoint-configuration` and `models`). The built-in providers (OpenAI and compatible
//! servers, Azure OpenAI, Mistral, Anthropic) are listed first and cannot be changed.

use axum::Router;
use axum::extract::{Multipart, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use gantry_model::ai::{LlmProvider, ProviderConfiguration};
use gantry_store::ai;
use serde_json::{Value, json};

use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::extract::Scoped;
use crate::rejection::{MultipartForm, multipart_error};
use crate::rest_scopes;

/// Admin routes (relative to `/api/am/admin/v4`).
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/llm-providers", get(list).post(add))
        .route(
            "/llm-providers/{id}",
            get(get_one).put(change).delete(remove),
        )
        .route("/ai-service-providers", get(list).post(add_ai))
        .route(
            "/ai-service-providers/{id}",
            get(get_one_ai).put(change_ai).delete(remove),
        )
}

/// Publisher routes (relative to `/api/am/publisher/v4`).
pub fn publisher_router() -> Router<AppState> {
    Router::new()
        .route("/ai-service-providers", get(publisher_list))
        .route("/ai-service-providers/{id}", get(publisher_get))
        .route(
            "/ai-service-providers/{id}/api-definition",
            get(publisher_definition),
        )
        .route(
            "/ai-service-providers/{id}/endpoint-configuration",
            get(publisher_endpoint_configuration),
        )
        .route("/ai-service-providers/{id}/models", get(publisher_models))
}

fn summary(p: &LlmProvider) -> Value {
    json!({
        "id": p.id,
        "name": p.name,
        "apiVersion": p.api_version,
        "builtInSupport": p.built_in,
        "description": p.description,
    })
}

/// `LLMProviderResponse`.
fn llm_json(p: &LlmProvider) -> Value {
    let mut body = summary(p);
    body["configurations"] = json!(serde_json::to_string(&p.configurations).unwrap_or_default());
    body["apiDefinition"] = json!(p.api_definition);
    body["modelList"] = json!(p.model_list);
    body
}

/// `AIServiceProviderResponse`: models grouped under the provider's own name.
fn ai_json(p: &LlmProvider) -> Value {
    let mut body = llm_json(p);
    if let Some(map) = body.as_object_mut() {
        map.remove("modelList");
    }
    body["multipleModelProviderSupport"] = json!(false);
    body["modelProviders"] = model_providers(p);
    body
}

fn model_providers(p: &LlmProvider) -> Value {
    json!([{"name": p.name, "models": p.model_list}])
}

fn list_json(providers: &[LlmProvider]) -> Value {
    json!({"count": providers.len(), "list": providers.iter().map(summary).collect::<Vec<_>>()})
}

async fn found(state: &AppState, id: &str) -> ApiResult<LlmProvider> {
    ai::provider(state.store(), id)
        .await?
        .ok_or_else(|| ApiError::not_found("LLM provider", id))
}

async fn list(
    State(state): State<AppState>,
    Scoped(_, _): Scoped<rest_scopes::LlmProviderView>,
) -> ApiResult<axum::Json<Value>> {
    Ok(axum::Json(list_json(&ai::providers(state.store()).await?)))
}

async fn get_one(
    State(state): State<AppState>,
    Scoped(_, _): Scoped<rest_scopes::LlmProviderView>,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Value>> {
    Ok(axum::Json(llm_json(&found(&state, &id).await?)))
}

async fn get_one_ai(
    State(state): State<AppState>,
    Scoped(_, _): Scoped<rest_scopes::LlmProviderView>,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Value>> {
    Ok(axum::Json(ai_json(&found(&state, &id).await?)))
}

/// The multipart fields of `LLMProviderRequest` / `AIServiceProviderRequest`.
#[derive(Default)]
struct Form {
    name: Option<String>,
    api_version: Option<String>,
    description: Option<String>,
    configurations: Option<String>,
    api_definition: Option<String>,
    model_list: Option<String>,
    model_providers: Option<String>,
}

const MAX_FIELD_BYTES: usize = 1 << 20;

async fn read_form(mut multipart: Multipart) -> ApiResult<Form> {
    let mut form = Form::default();
    while let Some(field) = multipart.next_field().await.map_err(multipart_error)? {
        let name = field.name().unwrap_or_default().to_owned();
        let bytes = field.bytes().await.map_err(multipart_error)?;
        if bytes.len() > MAX_FIELD_BYTES {
            return Err(ApiError::BadRequest(format!(
                "{name}: larger than {MAX_FIELD_BYTES} bytes"
            )));
        }
        let text = String::from_utf8(bytes.to_vec())
            .map_err(|_| ApiError::BadRequest(format!("{name}: is not UTF-8 text")))?;
        let slot = match name.as_str() {
            "name" => &mut form.name,
            "apiVersion" => &mut form.api_version,
            "description" => &mut form.description,
            "configurations" => &mut form.configurations,
            "apiDefinition" => &mut form.api_definition,
            "modelList" => &mut form.model_list,
            "modelProviders" => &mut form.model_providers,
            _ => continue,
        };
        *slot = Some(text);
    }
    Ok(form)
}

impl Form {
    /// The provider this form describes (`id` given), checked: a 400 names the field.
    fn into_provider(self, id: String) -> ApiResult<LlmProvider> {
        let bad = |field: &str, why: &str| ApiError::BadRequest(format!("{field}: {why}"));
        let text = |value: Option<String>, field: &str| {
            value
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty() && v.len() <= 255)
                .ok_or_else(|| bad(field, "is required (1–255 characters)"))
        };
        let name = text(self.name, "name")?;
        let api_version = text(self.api_version, "apiVersion")?;
        let configurations: ProviderConfiguration = serde_json::from_str(
            self.configurations
                .as_deref()
                .ok_or_else(|| bad("configurations", "is required"))?,
        )
        .map_err(|e| {
            bad(
                "configurations",
                &format!("not a provider configuration: {e}"),
            )
        })?;
        configurations
            .spec(&name)
            .map_err(|e| ApiError::BadRequest(e.to_string()))?;
        let api_definition = self
            .api_definition
            .ok_or_else(|| bad("apiDefinition", "is required"))?;
        serde_json::from_str::<Value>(&api_definition)
            .ok()
            .filter(|d| d.get("openapi").is_some() || d.get("swagger").is_some())
            .ok_or_else(|| bad("apiDefinition", "must be an OpenAPI document (JSON)"))?;
        let model_list = match (self.model_list, self.model_providers) {
            (Some(list), _) => serde_json::from_str::<Vec<String>>(&list)
                .map_err(|_| bad("modelList", "must be a JSON array of model names"))?,
            (None, Some(providers)) => serde_json::from_str::<Vec<Value>>(&providers)
                .map_err(|_| bad("modelProviders", "must be a JSON array of {name, models}"))?
                .iter()
                .flat_map(|p| {
                    p.get("models")
                        .and_then(Value::as_array)
                        .cloned()
                        .unwrap_or_default()
                })
                .filter_map(|m| m.as_str().map(str::to_owned))
                .collect(),
            (None, None) => Vec::new(),
        };
        let description = self.description.unwrap_or_default();
        if description.len() > 1023 {
            return Err(bad("description", "at most 1023 characters"));
        }
        Ok(LlmProvider {
            id,
            name,
            api_version,
            description,
            built_in: false,
            configurations,
            api_definition,
            model_list,
        })
    }
}

async fn create(state: &AppState, multipart: Multipart) -> ApiResult<LlmProvider> {
    let provider = read_form(multipart)
        .await?
        .into_provider(gantry_store::new_id())?;
    ai::create_provider(state.store(), &provider).await?;
    tracing::info!(id = %provider.id, name = %provider.name, "LLM provider added");
    Ok(provider)
}

async fn add(
    State(state): State<AppState>,
    Scoped(_, _): Scoped<rest_scopes::LlmProviderManage>,
    MultipartForm(multipart): MultipartForm,
) -> ApiResult<Response> {
    let provider = create(&state, multipart).await?;
    Ok((StatusCode::CREATED, axum::Json(llm_json(&provider))).into_response())
}

async fn add_ai(
    State(state): State<AppState>,
    Scoped(_, _): Scoped<rest_scopes::LlmProviderManage>,
    MultipartForm(multipart): MultipartForm,
) -> ApiResult<Response> {
    let provider = create(&state, multipart).await?;
    Ok((StatusCode::CREATED, axum::Json(ai_json(&provider))).into_response())
}

/// Replaces provider `id` (name and version stay); built-in providers are fixed (403).
/// Gateways learn the change with the next snapshot of each environment.
async fn replace(state: &AppState, id: &str, multipart: Multipart) -> ApiResult<LlmProvider> {
    let current = found(state, id).await?;
    if current.built_in {
        return Err(ApiError::Forbidden(format!(
            "{} is a built-in LLM provider and cannot be changed",
            current.name
        )));
    }
    let mut form = read_form(multipart).await?;
    form.name.get_or_insert_with(|| current.name.clone());
    form.api_version
        .get_or_insert_with(|| current.api_version.clone());
    let mut provider = form.into_provider(current.id.clone())?;
    (provider.name, provider.api_version) = (current.name, current.api_version);
    ai::update_provider(state.store(), &provider).await?;
    state.sync_environments().await?;
    Ok(provider)
}

async fn change(
    State(state): State<AppState>,
    Scoped(_, _): Scoped<rest_scopes::LlmProviderManage>,
    Path(id): Path<String>,
    MultipartForm(multipart): MultipartForm,
) -> ApiResult<axum::Json<Value>> {
    Ok(axum::Json(llm_json(
        &replace(&state, &id, multipart).await?,
    )))
}

async fn change_ai(
    State(state): State<AppState>,
    Scoped(_, _): Scoped<rest_scopes::LlmProviderManage>,
    Path(id): Path<String>,
    MultipartForm(multipart): MultipartForm,
) -> ApiResult<axum::Json<Value>> {
    Ok(axum::Json(ai_json(&replace(&state, &id, multipart).await?)))
}

/// Deletes an added provider; refused for built-in ones (403) and while an AI API uses it
/// (409).
async fn remove(
    State(state): State<AppState>,
    Scoped(_, _): Scoped<rest_scopes::LlmProviderManage>,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let provider = found(&state, &id).await?;
    if provider.built_in {
        return Err(ApiError::Forbidden(format!(
            "{} is a built-in LLM provider and cannot be deleted",
            provider.name
        )));
    }
    let (apis, _) = gantry_store::apis::list(state.store(), 0, i64::MAX).await?;
    if let Some(user) = apis.iter().find(|a| {
        a.subtype_configuration
            .as_ref()
            .is_some_and(|s| s.configuration.llm_provider_id == id)
    }) {
        return Err(ApiError::Conflict(format!(
            "the AI API {} {} uses this provider",
            user.name, user.version
        )));
    }
    ai::delete_provider(state.store(), &id).await?;
    Ok(StatusCode::OK)
}

async fn publisher_list(
    State(state): State<AppState>,
    Scoped(_, _): Scoped<rest_scopes::LlmProviderRead>,
) -> ApiResult<axum::Json<Value>> {
    Ok(axum::Json(list_json(&ai::providers(state.store()).await?)))
}

async fn publisher_get(
    State(state): State<AppState>,
    Scoped(_, _): Scoped<rest_scopes::LlmProviderRead>,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Value>> {
    let mut body = ai_json(&found(&state, &id).await?);
    if let Some(map) = body.as_object_mut() {
        map.remove("modelProviders");
        map.remove("multipleModelProviderSupport");
    }
    Ok(axum::Json(body))
}

async fn publisher_definition(
    State(state): State<AppState>,
    Scoped(_, _): Scoped<rest_scopes::LlmProviderRead>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let provider = found(&state, &id).await?;
    Ok((
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        provider.api_definition,
    )
        .into_response())
}

async fn publisher_endpoint_configuration(
    State(state): State<AppState>,
    Scoped(_, _): Scoped<rest_scopes::LlmProviderRead>,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Value>> {
    let provider = found(&state, &id).await?;
    let auth = &provider.configurations.authentication_configuration;
    Ok(axum::Json(json!({
        "authenticationConfiguration": auth,
        "authHeader": auth.parameters.header_enabled.then_some(auth.parameters.header_name.clone()).flatten(),
        "authQueryParameter": auth.parameters.query_parameter_enabled.then_some(auth.parameters.query_parameter_name.clone()).flatten(),
    })))
}

async fn publisher_models(
    State(state): State<AppState>,
    Scoped(_, _): Scoped<rest_scopes::LlmProviderRead>,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Value>> {
    Ok(axum::Json(model_providers(&found(&state, &id).await?)))
}
