//! `GET /applications/export` and `POST /applications/import` (WSO2 4.7 devportal): an
//! application as `apictl export app` writes it, `<owner>_<name>/application.yaml` with
//! `type: application` and `data: {applicationInfo, subscribedAPIs}`. Subscriptions name
//! their API by provider, name and version (ids do not survive a move) and keep their tier.
//!
//! Keys travel only with `withKeys`, and never with a secret: Gantry keeps only a hash of
//! each consumer secret, so an export cannot leak one. An imported resident client keeps its
//! consumer key (when that is free) with a new secret nobody knows: its owner regenerates it.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use gantry_store::applications::{self, Application};
use gantry_store::{api_products, apis, subscriptions};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::applications::key_json;
use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::extract::{AuthUser, QueryParams, Scoped};
use crate::project::{ArchiveError, FORMAT_VERSION, Format, ProjectFiles, ProjectKind};
use crate::publisher::export::{file_safe, zip_response};
use crate::rejection::{MultipartForm, required_part};
use crate::rest_scopes;
use crate::service::applications::{
    self as service, ApplicationFields, DEFAULT_TOKEN_VALIDITY_SECS,
};
use crate::service::subscriptions::{Subscribable, subscribe};
use crate::service::workflows::PendingKey;

/// Largest application archive accepted (compressed).
pub const MAX_UPLOAD_BYTES: usize = 1024 * 1024;

/// The query of `GET /applications/export`.
#[derive(Debug, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ExportQuery {
    app_name: Option<String>,
    app_owner: Option<String>,
    #[serde(default)]
    with_keys: bool,
    format: Option<String>,
}

/// The owner `user` acts for: themself, or anyone for an admin; 403 otherwise.
fn acting_owner(user: &AuthUser, owner: Option<&str>) -> ApiResult<String> {
    match owner {
        None => Ok(user.username.clone()),
        Some(owner) if owner == user.username => Ok(owner.to_owned()),
        Some(owner) if user.roles.iter().any(|r| r == "admin") => Ok(owner.to_owned()),
        Some(owner) => Err(ApiError::Forbidden(format!(
            "appOwner: only an admin may export or import applications of another user ('{owner}')"
        ))),
    }
}

pub(crate) async fn export(
    State(state): State<AppState>,
    Scoped(user, _): Scoped<rest_scopes::AppImportExport>,
    QueryParams(query): QueryParams<ExportQuery>,
) -> ApiResult<Response> {
    let format = Format::from_query(query.format.as_deref()).map_err(ApiError::BadRequest)?;
    let name = query
        .app_name
        .as_deref()
        .ok_or_else(|| ApiError::BadRequest("appName: query parameter is required".into()))?;
    let owner = query
        .app_owner
        .as_deref()
        .ok_or_else(|| ApiError::BadRequest("appOwner: query parameter is required".into()))?;
    let owner = acting_owner(&user, Some(owner))?;
    let app = applications::find_owned_by_name(state.store(), &owner, name)
        .await?
        .ok_or_else(|| {
            ApiError::NotFound(format!(
                "Requested application '{name}' of '{owner}' not found"
            ))
        })?;
    let data = application_data(&state, &app, query.with_keys).await?;
    let mut project = ProjectFiles::default();
    project.files.insert(
        format!("application.{}", format.extension()),
        format.write(&json!({"type": "application", "version": FORMAT_VERSION, "data": data})),
    );
    zip_response(&file_safe(&format!("{}_{}", app.owner, app.name)), &project)
}

/// WSO2's exported application: `applicationInfo` (the `Application`, keys only when
/// asked and never a secret) and `subscribedAPIs`.
async fn application_data(
    state: &AppState,
    app: &Application,
    with_keys: bool,
) -> ApiResult<Value> {
    let mut keys = Vec::new();
    if with_keys {
        for key in applications::keys_of(state.store(), &app.id).await? {
            let mut value = key_json(&key, None);
            let public = applications::is_public_client(state.store(), &key.consumer_key).await?;
            value["additionalProperties"]["bypassClientCredentials"] = json!(public);
            keys.push(value);
        }
    }
    let attributes: Value = serde_json::from_str(&app.attributes).unwrap_or_else(|_| json!({}));
    let mut subscribed = Vec::new();
    for sub in subscriptions::list_for_application(state.store(), &app.id).await? {
        let (provider, name, version) = match apis::get(state.store(), &sub.api_id).await {
            Ok(api) => (api.provider, api.name.to_string(), api.version.to_string()),
            Err(_) => match api_products::get(state.store(), &sub.api_id).await {
                Ok(p) => (p.provider, p.name.to_string(), p.version.to_string()),
                Err(_) => continue,
            },
        };
        subscribed.push(json!({
            "apiId": {"providerName": provider, "apiName": name, "version": version},
            "throttlingPolicy": sub.throttling_policy,
        }));
    }
    subscribed.sort_by_key(|s| s.to_string());
    Ok(json!({
        "applicationInfo": {
            "applicationId": app.id,
            "name": app.name,
            "throttlingPolicy": app.throttling_policy,
            "description": app.description,
            "tokenType": app.token_type,
            "status": app.status,
            "groups": [],
            "subscriptionCount": subscribed.len(),
            "keys": keys,
            "attributes": attributes,
            "subscriptionScopes": [],
            "owner": app.owner,
            "hashEnabled": true,
        },
        "subscribedAPIs": subscribed,
    }))
}

/// The query of `POST /applications/import`.
#[derive(Debug, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ImportQuery {
    #[serde(default)]
    preserve_owner: bool,
    #[serde(default)]
    skip_subscriptions: bool,
    app_owner: Option<String>,
    #[serde(default)]
    skip_application_keys: bool,
    #[serde(default)]
    update: bool,
}

const APPLICATION_FILES: [&str; 3] = ["application.yaml", "application.yml", "application.json"];

pub(crate) async fn import(
    State(state): State<AppState>,
    Scoped(user, _): Scoped<rest_scopes::AppImportExport>,
    QueryParams(query): QueryParams<ImportQuery>,
    MultipartForm(mut multipart): MultipartForm,
) -> ApiResult<Response> {
    let (_, archive) = required_part(&mut multipart, "file", "the application archive").await?;
    let project = ProjectFiles::from_zip_of(&archive, ProjectKind::Application).map_err(bad)?;
    let info = application_info(&project)?;
    let (file_owner, data) = info;
    let owner = if query.preserve_owner {
        acting_owner(&user, file_owner.as_deref())?
    } else {
        acting_owner(&user, query.app_owner.as_deref())?
    };
    if owner != user.username
        && gantry_store::users::find_by_username(state.store(), &owner)
            .await?
            .is_none()
    {
        return Err(ApiError::BadRequest(format!(
            "appOwner: there is no user '{owner}' here to own the application"
        )));
    }
    if !query.skip_application_keys {
        check_keys(&state, &data).await?;
    }
    let app = create_or_update(&state, &data, &owner, query.update).await?;
    let mut skipped = Vec::new();
    if app.status == applications::STATUS_APPROVED {
        if !query.skip_subscriptions {
            skipped = import_subscriptions(&state, &app, &data).await?;
        }
        if !query.skip_application_keys {
            import_keys(&state, &app, &data).await?;
        }
    }
    let count = subscriptions::list_for_application(state.store(), &app.id)
        .await?
        .len();
    tracing::info!(application_id = %app.id, owner = %app.owner, skipped = skipped.len(), "application project imported");
    if !skipped.is_empty() {
        return Ok((
            StatusCode::MULTI_STATUS,
            axum::Json(json!({"count": skipped.len(), "list": skipped})),
        )
            .into_response());
    }
    let attributes: Value = serde_json::from_str(&app.attributes).unwrap_or_else(|_| json!({}));
    Ok(axum::Json(json!({
        "applicationId": app.id,
        "name": app.name,
        "throttlingPolicy": app.throttling_policy,
        "description": app.description,
        "status": app.status,
        "groups": [],
        "subscriptionCount": count,
        "attributes": attributes,
        "owner": app.owner,
    }))
    .into_response())
}

fn bad(e: ArchiveError) -> ApiError {
    ApiError::BadRequest(e.to_string())
}

/// `application.yaml`'s owner and `data`, checked to be an application project's.
fn application_info(project: &ProjectFiles) -> ApiResult<(Option<String>, Map<String, Value>)> {
    let (file, document) = project
        .document(&APPLICATION_FILES)
        .map_err(bad)?
        .ok_or_else(|| bad(ArchiveError::NoProjectFile("application.yaml")))?;
    match document.get("type").and_then(Value::as_str) {
        None | Some("application") => {}
        Some(other) => {
            return Err(ApiError::BadRequest(format!(
                "{file}: type '{other}' is not supported; only 'application' projects import here"
            )));
        }
    }
    let Some(Value::Object(data)) = document.get("data") else {
        return Err(ApiError::BadRequest(format!(
            "{file}: 'data' (the application) is required and must be an object"
        )));
    };
    if !data.get("applicationInfo").is_some_and(Value::is_object) {
        return Err(ApiError::BadRequest(format!(
            "{file}: data.applicationInfo is required and must be an object"
        )));
    }
    let owner = data["applicationInfo"]
        .get("owner")
        .and_then(Value::as_str)
        .map(str::to_owned);
    Ok((owner, data.clone()))
}

/// Creates the application for `owner`, or with `update` changes the one of that name.
async fn create_or_update(
    state: &AppState,
    data: &Map<String, Value>,
    owner: &str,
    update: bool,
) -> ApiResult<Application> {
    let info = &data["applicationInfo"];
    let text = |field: &str| info.get(field).and_then(Value::as_str).unwrap_or_default();
    let name = text("name").trim();
    if service::check_name(name).is_some() {
        return Err(ApiError::BadRequest(
            "application.yaml: data.applicationInfo.name: is required (at most 100 characters)"
                .into(),
        ));
    }
    let tier = match text("throttlingPolicy") {
        "" => "Unlimited",
        tier => tier,
    };
    if !service::is_application_tier(state, tier).await? {
        return Err(ApiError::BadRequest(format!(
            "application.yaml: data.applicationInfo.throttlingPolicy: '{tier}' is not an application throttling policy here (available: {})",
            service::application_tiers(state).await?.join(", ")
        )));
    }
    let attributes = info
        .get("attributes")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let fields = ApplicationFields {
        name,
        throttling_policy: tier,
        description: text("description"),
        attributes: &attributes,
    };
    match applications::find_owned_by_name(state.store(), owner, name).await? {
        Some(current) if update => service::update(state, &current, fields).await,
        Some(current) => Err(ApiError::Conflict(format!(
            "An application named '{}' of '{owner}' already exists (id {}); import with update=true to update it",
            current.name, current.id
        ))),
        None => Ok(service::create(state, owner, "JWT", fields).await?.0),
    }
}

/// Subscribes `app` as `subscribedAPIs` says; the APIs not found here, or refusing the
/// subscription, are returned (WSO2's 207 `APIInfoList`).
async fn import_subscriptions(
    state: &AppState,
    app: &Application,
    data: &Map<String, Value>,
) -> ApiResult<Vec<Value>> {
    let wanted = data
        .get("subscribedAPIs")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let held = subscriptions::list_for_application(state.store(), &app.id).await?;
    let all_apis = apis::all(state.store()).await?;
    let all_products = api_products::all(state.store()).await?;
    let mut skipped = Vec::new();
    for entry in wanted {
        let id = entry.get("apiId").cloned().unwrap_or(Value::Null);
        let field = |f: &str| {
            id.get(f)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        let (provider, name, version) = (field("providerName"), field("apiName"), field("version"));
        let tier = entry
            .get("throttlingPolicy")
            .and_then(Value::as_str)
            .unwrap_or("Unlimited");
        // The same name and version, preferring the same provider.
        let api = all_apis
            .iter()
            .filter(|a| a.name.as_str() == name && a.version.as_str() == version)
            .max_by_key(|a| a.provider == provider)
            .map(Subscribable::from)
            .or_else(|| {
                all_products
                    .iter()
                    .filter(|p| p.name.as_str() == name && p.version.as_str() == version)
                    .max_by_key(|p| p.provider == provider)
                    .map(Subscribable::from)
            });
        let info = json!({"name": name, "version": version, "provider": provider});
        let Some(api) = api else {
            skipped.push(info);
            continue;
        };
        if held.iter().any(|s| s.api_id == api.id) {
            continue;
        }
        if let Err(error) = subscribe(state, app, api, tier).await {
            tracing::info!(application_id = %app.id, api = %name, %error, "imported subscription skipped");
            skipped.push(info);
        }
    }
    Ok(skipped)
}

/// The exported keys of `data`, as JSON objects.
fn exported_keys(data: &Map<String, Value>) -> Vec<Value> {
    data["applicationInfo"]
        .get("keys")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

/// 400 naming the first key that could not be recreated here (checked before the
/// application is created, so a refused import leaves nothing behind).
async fn check_keys(state: &AppState, data: &Map<String, Value>) -> ApiResult<()> {
    for (i, key) in exported_keys(data).iter().enumerate() {
        let text = |f: &str| key.get(f).and_then(Value::as_str).unwrap_or_default();
        let at = format!("application.yaml: data.applicationInfo.keys[{i}]");
        if gantry_model::KeyType::parse(text("keyType")).is_none() {
            return Err(ApiError::BadRequest(format!(
                "{at}.keyType: must be PRODUCTION or SANDBOX"
            )));
        }
        let manager = text("keyManager");
        if manager.is_empty() || manager == service::RESIDENT_KEY_MANAGER {
            service::check_grants(&grants_of(key))?;
            continue;
        }
        let consumer_key = text("consumerKey");
        if consumer_key.is_empty() || consumer_key.len() > 255 {
            return Err(ApiError::BadRequest(format!(
                "{at}.consumerKey: is required (at most 255 characters)"
            )));
        }
        if gantry_store::key_managers::find_by_name(state.store(), manager)
            .await?
            .is_none()
        {
            return Err(ApiError::BadRequest(format!(
                "{at}.keyManager: '{manager}' is not a registered key manager here; add it first (or import with skipApplicationKeys=true)"
            )));
        }
    }
    Ok(())
}

fn grants_of(key: &Value) -> Vec<String> {
    key.get("supportedGrantTypes")
        .and_then(Value::as_array)
        .map(|g| {
            g.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// Recreates the exported keys of `app` that it does not hold yet (by key type and key
/// manager): resident clients keep their consumer key when it is free, with a new secret.
async fn import_keys(
    state: &AppState,
    app: &Application,
    data: &Map<String, Value>,
) -> ApiResult<()> {
    let held = applications::keys_of(state.store(), &app.id).await?;
    for key in exported_keys(data) {
        let text = |f: &str| key.get(f).and_then(Value::as_str).unwrap_or_default();
        // Checked by `check_keys` before the application was made.
        let Some(key_type) = gantry_model::KeyType::parse(text("keyType")) else {
            continue;
        };
        let manager = match text("keyManager") {
            "" => service::RESIDENT_KEY_MANAGER,
            m => m,
        };
        if held
            .iter()
            .any(|k| k.key_type == key_type.as_str() && k.key_manager == manager)
        {
            continue;
        }
        let consumer_key = text("consumerKey");
        if manager != service::RESIDENT_KEY_MANAGER {
            service::map_key(state, app, key_type, manager, consumer_key).await?;
            continue;
        }
        let taken = consumer_key.is_empty()
            || applications::find_resident_client(state.store(), consumer_key)
                .await?
                .is_some();
        let validity = key["additionalProperties"]
            .get("application_access_token_expiry_time")
            .and_then(|v| v.as_str().and_then(|s| s.parse().ok()).or(v.as_i64()))
            .unwrap_or(DEFAULT_TOKEN_VALIDITY_SECS);
        let secret = gantry_keys::secret::new_consumer_secret();
        let pending = PendingKey {
            id: applications::new_key_id(),
            key_type: key_type.as_str().to_owned(),
            consumer_key: if taken {
                gantry_keys::secret::new_consumer_key()
            } else {
                consumer_key.to_owned()
            },
            consumer_secret_hash: crate::hash_client_secret(&secret).await?,
            grant_types: grants_of(&key),
            callback_url: text("callbackUrl").to_owned(),
            validity_period: validity,
            public: key["additionalProperties"]
                .get("bypassClientCredentials")
                .and_then(Value::as_bool)
                .unwrap_or(false),
        };
        service::store_key(state, app, pending).await?;
    }
    Ok(())
}
