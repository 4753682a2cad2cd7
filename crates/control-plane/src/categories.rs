//! API categories and gateway labels, as WSO2 4.7 keeps them: the Admin API's
//! `/api-categories` and `/labels`, and the category lists of the Publisher and the
//! Developer Portal. An API's `categories` must name existing categories; renaming one
//! renames it in the APIs that use it, and one in use cannot be deleted (409, as WSO2).
//! The Developer Portal filters by category with `GET /apis?query=api-category:Finance`.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use gantry_model::Api;
use gantry_store::StoreError;
use gantry_store::categories::{self, Category, Label};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::extract::{JsonBody, Scoped};
use crate::rest_scopes;
use crate::wire::plain_list;

/// Routes under `/api/am/admin/v4`.
pub(crate) fn admin() -> Router<AppState> {
    Router::new()
        .route("/api-categories", get(admin_list).post(create))
        .route("/api-categories/{category_id}", put(update).delete(remove))
        .route("/labels", get(labels).post(create_label))
        .route("/labels/{label_id}", put(update_label).delete(remove_label))
}

/// Routes under `/api/am/publisher/v4`.
pub(crate) fn publisher() -> Router<AppState> {
    Router::new().route("/api-categories", get(publisher_list))
}

/// Routes under `/api/am/devportal/v3`.
pub(crate) fn devportal() -> Router<AppState> {
    Router::new().route("/api-categories", get(devportal_list))
}

/// 400 unless every category `api` names exists (WSO2: "Invalid API Category name(s)").
pub(crate) async fn check(state: &AppState, names: &[String]) -> ApiResult<()> {
    if names.is_empty() {
        return Ok(());
    }
    let known = categories::categories(state.store()).await?;
    for name in names {
        if !known.iter().any(|c| c.name.eq_ignore_ascii_case(name)) {
            return Err(ApiError::BadRequest(format!(
                "categories: '{name}' is not an API category (the Admin API's /api-categories lists them)"
            )));
        }
    }
    Ok(())
}

fn uses(api: &Api, name: &str) -> bool {
    api.details
        .categories
        .iter()
        .any(|c| c.eq_ignore_ascii_case(name))
}

fn category_json(category: &Category) -> Value {
    json!({"id": category.id, "name": category.name, "description": category.description})
}

/// The body of POST/PUT (WSO2 `APICategory`, `Label`).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Request {
    name: Option<String>,
    description: Option<String>,
    access_urls: Option<Vec<String>>,
}

impl Request {
    /// The checked (name, description).
    fn checked(&self) -> ApiResult<(String, String)> {
        let name = self.name.as_deref().unwrap_or_default().trim();
        if name.is_empty() || name.chars().count() > 255 {
            return Err(ApiError::BadRequest(
                "name: is required, 1 to 255 characters".into(),
            ));
        }
        if name.chars().any(char::is_control) {
            return Err(ApiError::BadRequest(
                "name: must not contain control characters".into(),
            ));
        }
        let description = self.description.clone().unwrap_or_default();
        if description.chars().count() > 1024 {
            return Err(ApiError::BadRequest(
                "description: at most 1024 characters".into(),
            ));
        }
        Ok((name.to_owned(), description))
    }

    /// The checked access URLs of a label, as stored (a JSON array).
    fn access_urls(&self) -> ApiResult<String> {
        let urls = self.access_urls.clone().unwrap_or_default();
        for (i, url) in urls.iter().enumerate() {
            let parsed = url::Url::parse(url).map_err(|e| {
                ApiError::BadRequest(format!("accessUrls[{i}]: not a valid URL: {e}"))
            })?;
            if !matches!(parsed.scheme(), "http" | "https" | "ws" | "wss") {
                return Err(ApiError::BadRequest(format!(
                    "accessUrls[{i}]: must be an http, https, ws or wss URL"
                )));
            }
        }
        Ok(serde_json::to_string(&urls).unwrap_or_else(|_| "[]".into()))
    }
}

fn created(body: Value, location: String) -> Response {
    let mut response = (StatusCode::CREATED, axum::Json(body)).into_response();
    if let Ok(value) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

// ---- Categories --------------------------------------------------------------------------

/// `GET /api-categories` (Admin): with `numberOfAPIs`.
async fn admin_list(
    State(state): State<AppState>,
    _: Scoped<rest_scopes::AdminOperations>,
) -> ApiResult<axum::Json<Value>> {
    let apis = gantry_store::apis::all(state.store()).await?;
    let list: Vec<Value> = categories::categories(state.store())
        .await?
        .iter()
        .map(|c| {
            let mut body = category_json(c);
            body["numberOfAPIs"] = json!(apis.iter().filter(|a| uses(a, &c.name)).count());
            body
        })
        .collect();
    Ok(axum::Json(plain_list(list)))
}

/// `GET /api-categories` (Publisher).
async fn publisher_list(
    State(state): State<AppState>,
    _: Scoped<rest_scopes::CategoryView>,
) -> ApiResult<axum::Json<Value>> {
    let all = categories::categories(state.store()).await?;
    Ok(axum::Json(plain_list(
        all.iter().map(category_json).collect(),
    )))
}

/// `GET /api-categories` (Developer Portal, anonymous).
async fn devportal_list(State(state): State<AppState>) -> ApiResult<axum::Json<Value>> {
    let all = categories::categories(state.store()).await?;
    Ok(axum::Json(plain_list(
        all.iter().map(category_json).collect(),
    )))
}

async fn create(
    State(state): State<AppState>,
    Scoped(user, _): Scoped<rest_scopes::AdminOperations>,
    JsonBody(request): JsonBody<Request>,
) -> ApiResult<Response> {
    let (name, description) = request.checked()?;
    let category = Category {
        id: gantry_store::new_id(),
        name,
        description,
    };
    categories::insert_category(state.store(), &category).await?;
    tracing::info!(category = %category.name, by = %user.username, "API category added");
    let mut body = category_json(&category);
    body["numberOfAPIs"] = json!(0);
    let location = format!("/api/am/admin/v4/api-categories/{}", category.id);
    Ok(created(body, location))
}

async fn load(state: &AppState, id: &str) -> ApiResult<Category> {
    match categories::category(state.store(), id).await {
        Err(StoreError::NotFound) => Err(ApiError::not_found("API category", id)),
        other => Ok(other?),
    }
}

/// `PUT /api-categories/{id}`: a new name is carried into every API that names the old one.
async fn update(
    State(state): State<AppState>,
    Scoped(user, _): Scoped<rest_scopes::AdminOperations>,
    Path(id): Path<String>,
    JsonBody(request): JsonBody<Request>,
) -> ApiResult<axum::Json<Value>> {
    let current = load(&state, &id).await?;
    let (name, description) = request.checked()?;
    let category = Category {
        id: id.clone(),
        name,
        description,
    };
    categories::update_category(state.store(), &category).await?;
    let apis = gantry_store::apis::all(state.store()).await?;
    let mut using = 0;
    for mut api in apis.into_iter().filter(|a| uses(a, &current.name)) {
        using += 1;
        if category.name == current.name {
            continue;
        }
        for c in &mut api.details.categories {
            if c.eq_ignore_ascii_case(&current.name) {
                c.clone_from(&category.name);
            }
        }
        gantry_store::apis::update(state.store(), &api).await?;
    }
    tracing::info!(category = %category.name, by = %user.username, "API category changed");
    let mut body = category_json(&category);
    body["numberOfAPIs"] = json!(using);
    Ok(axum::Json(body))
}

/// `DELETE /api-categories/{id}`: 409 while an API names it.
async fn remove(
    State(state): State<AppState>,
    Scoped(user, _): Scoped<rest_scopes::AdminOperations>,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let current = load(&state, &id).await?;
    let apis = gantry_store::apis::all(state.store()).await?;
    let using: Vec<&str> = apis
        .iter()
        .filter(|a| uses(a, &current.name))
        .map(|a| a.name.as_str())
        .collect();
    if !using.is_empty() {
        return Err(ApiError::Conflict(format!(
            "The API category '{}' is used by {} API(s) ({}); remove it from them first",
            current.name,
            using.len(),
            using.join(", ")
        )));
    }
    categories::delete_category(state.store(), &id).await?;
    tracing::info!(category = %current.name, by = %user.username, "API category deleted");
    Ok(StatusCode::OK)
}

// ---- Labels ------------------------------------------------------------------------------

fn label_json(label: &Label) -> Value {
    let urls: Value = serde_json::from_str(&label.access_urls).unwrap_or_else(|_| json!([]));
    json!({"id": label.id, "name": label.name, "description": label.description, "accessUrls": urls})
}

async fn labels(
    State(state): State<AppState>,
    _: Scoped<rest_scopes::LabelRead>,
) -> ApiResult<axum::Json<Value>> {
    let all = categories::labels(state.store()).await?;
    Ok(axum::Json(plain_list(all.iter().map(label_json).collect())))
}

async fn create_label(
    State(state): State<AppState>,
    Scoped(user, _): Scoped<rest_scopes::LabelManage>,
    JsonBody(request): JsonBody<Request>,
) -> ApiResult<Response> {
    let (name, description) = request.checked()?;
    let label = Label {
        id: gantry_store::new_id(),
        name,
        description,
        access_urls: request.access_urls()?,
    };
    categories::insert_label(state.store(), &label).await?;
    tracing::info!(label = %label.name, by = %user.username, "label added");
    let location = format!("/api/am/admin/v4/labels/{}", label.id);
    Ok(created(label_json(&label), location))
}

async fn update_label(
    State(state): State<AppState>,
    Scoped(user, _): Scoped<rest_scopes::LabelManage>,
    Path(id): Path<String>,
    JsonBody(request): JsonBody<Request>,
) -> ApiResult<axum::Json<Value>> {
    let (name, description) = request.checked()?;
    let label = Label {
        id: id.clone(),
        name,
        description,
        access_urls: request.access_urls()?,
    };
    match categories::update_label(state.store(), &label).await {
        Err(StoreError::NotFound) => return Err(ApiError::not_found("label", &id)),
        other => other?,
    }
    tracing::info!(label = %label.name, by = %user.username, "label changed");
    Ok(axum::Json(label_json(&label)))
}

async fn remove_label(
    State(state): State<AppState>,
    Scoped(user, _): Scoped<rest_scopes::LabelManage>,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    match categories::delete_label(state.store(), &id).await {
        Err(StoreError::NotFound) => return Err(ApiError::not_found("label", &id)),
        other => other?,
    }
    tracing::info!(label = %id, by = %user.username, "label deleted");
    Ok(StatusCode::OK)
}
