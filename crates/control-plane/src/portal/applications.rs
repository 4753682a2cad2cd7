//! The Developer Portal's applications: create, edit and delete them, their subscriptions,
//! OAuth2 keys (the secret is shown once; only its hash is kept) and a test token. Every
//! application is loaded with its owner, so another user's is a 404, never a page.

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use gantry_model::KeyType;
use gantry_store::applications::{self, Application, ApplicationKey};
use gantry_store::{StoreError, apis as store_apis, subscriptions};
use serde::Deserialize;

use super::devportal::{SubscriptionRow, load_owned, visible};
use super::listing::ListQuery;
use super::session::{Portal, SignedIn, User, UserForm};
use super::{Nav, Pager, PortalError, paginate, render, render_status, see_other};
use crate::AppState;
use crate::error::ApiError;
use crate::service;
use crate::service::applications::{
    ApplicationFields, DEFAULT_TOKEN_VALIDITY_SECS, KeyRequest, NameProblem,
};

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/devportal/applications",
            get(applications_page).post(create_application),
        )
        .route("/devportal/applications/{app_id}", get(application_page))
        .route(
            "/devportal/applications/{app_id}/edit",
            post(edit_application),
        )
        .route(
            "/devportal/applications/{app_id}/delete",
            post(delete_application),
        )
        .route("/devportal/applications/{app_id}/keys", post(generate_keys))
        .route(
            "/devportal/applications/{app_id}/secret",
            post(regenerate_secret),
        )
        .route("/devportal/applications/{app_id}/token", post(test_token))
        .route(
            "/devportal/applications/{app_id}/subscriptions/{sub_id}/delete",
            post(unsubscribe),
        )
}

/// Grants of keys generated in the portal.
const PORTAL_GRANTS: [&str; 3] = ["client_credentials", "password", "refresh_token"];

struct ApplicationRow {
    id: String,
    name: String,
    tier: String,
    description: String,
    /// `APPROVED`, or `CREATED` / `REJECTED` under an application-creation workflow.
    status: String,
}

#[derive(Template)]
#[template(path = "portal/devportal_apps.html")]
struct ApplicationsPage {
    nav: Nav,
    applications: Vec<ApplicationRow>,
    pager: Pager,
    tiers: Vec<String>,
    name: String,
    tier: String,
    description: String,
    name_error: Option<String>,
    tier_error: Option<String>,
}

async fn application_tiers(state: &AppState) -> Result<Vec<String>, PortalError> {
    Ok(service::applications::application_tiers(state).await?)
}

async fn applications_view(
    state: &AppState,
    user: &SignedIn,
    page: Option<i64>,
    notice: Option<String>,
) -> Result<ApplicationsPage, PortalError> {
    let (_, total) = applications::list_owned(state.store(), &user.username, 0, 1).await?;
    let pager = paginate("/devportal/applications", "", page, total);
    let (apps, _) = applications::list_owned(
        state.store(),
        &user.username,
        pager.offset(),
        super::PAGE_SIZE,
    )
    .await?;
    let tiers = application_tiers(state).await?;
    Ok(ApplicationsPage {
        nav: Nav::new(Portal::Devportal, user).with_notice(notice),
        applications: apps
            .into_iter()
            .map(|a| ApplicationRow {
                id: a.id,
                name: a.name,
                tier: a.throttling_policy,
                description: a.description,
                status: a.status,
            })
            .collect(),
        pager,
        tier: tiers
            .iter()
            .find(|t| *t == "Unlimited")
            .or(tiers.first())
            .cloned()
            .unwrap_or_default(),
        tiers,
        name: String::new(),
        description: String::new(),
        name_error: None,
        tier_error: None,
    })
}

async fn applications_page(
    State(state): State<AppState>,
    User(user): User,
    Query(query): Query<ListQuery>,
) -> Result<Response, PortalError> {
    user.require(Portal::Devportal)?;
    render(&applications_view(&state, &user, query.page, None).await?)
}

#[derive(Debug, Deserialize)]
pub(super) struct ApplicationForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    tier: String,
    #[serde(default)]
    description: String,
}

/// Checks an application form: (name error, tier error).
async fn check_application(
    state: &AppState,
    form: &ApplicationForm,
) -> Result<(Option<String>, Option<String>), PortalError> {
    let name_error = match service::applications::check_name(&form.name) {
        Some(NameProblem::Missing) => Some("Give the application a name.".to_owned()),
        Some(NameProblem::TooLong) => Some("Use at most 100 characters.".to_owned()),
        None => None,
    };
    let tier_error = if service::applications::is_application_tier(state, &form.tier).await? {
        None
    } else {
        Some("Pick one of the listed tiers.".to_owned())
    };
    Ok((name_error, tier_error))
}

async fn create_application(
    State(state): State<AppState>,
    UserForm { user, form }: UserForm<ApplicationForm>,
) -> Result<Response, PortalError> {
    user.require(Portal::Devportal)?;
    let (mut name_error, tier_error) = check_application(&state, &form).await?;
    if name_error.is_none() && tier_error.is_none() {
        let attributes = serde_json::Map::new();
        let fields = ApplicationFields {
            name: form.name.trim(),
            throttling_policy: &form.tier,
            description: form.description.trim(),
            attributes: &attributes,
        };
        match service::applications::create(&state, &user.username, "JWT", fields).await {
            Ok((app, pending)) => {
                let notice = match pending {
                    None => "Application created. Generate its keys, then subscribe it to APIs.",
                    Some(_) => {
                        "Application created; it waits for an administrator's approval before it can get keys or subscriptions."
                    }
                };
                return see_other(
                    &user,
                    &format!("/devportal/applications/{}", app.id),
                    notice,
                )
                .await;
            }
            Err(ApiError::Conflict(_)) => {
                name_error = Some("You already have an application with this name.".into());
            }
            Err(e) => return Err(e.into()),
        }
    }
    let mut page = applications_view(&state, &user, None, None).await?;
    page.name = form.name;
    page.tier = form.tier;
    page.description = form.description;
    page.name_error = name_error;
    page.tier_error = tier_error;
    render_status(StatusCode::BAD_REQUEST, &page)
}

struct KeyRow {
    key_type: String,
    consumer_key: String,
    grants: String,
    validity: i64,
}

#[derive(Template)]
#[template(path = "portal/devportal_app.html")]
struct ApplicationPage {
    nav: Nav,
    app: ApplicationRow,
    tiers: Vec<String>,
    name_error: Option<String>,
    tier_error: Option<String>,
    keys: Vec<KeyRow>,
    missing_key_types: Vec<String>,
    /// (key type, consumer key, secret) right after generation: shown once.
    new_secret: Option<(String, String, String)>,
    subscriptions: Vec<SubscriptionRow>,
    test_token: Option<String>,
    try_links: Vec<(String, String)>,
}

async fn application_view(
    state: &AppState,
    user: &SignedIn,
    app: Application,
    notice: Option<String>,
) -> Result<ApplicationPage, PortalError> {
    let keys = applications::keys_of(state.store(), &app.id).await?;
    let subs = subscriptions::list_for_application(state.store(), &app.id).await?;
    let mut rows = Vec::with_capacity(subs.len());
    let mut try_links = Vec::new();
    for s in &subs {
        let api = store_apis::get(state.store(), &s.api_id).await.ok();
        let label = api
            .as_ref()
            .map(|a| format!("{} {}", a.name.as_str(), a.version.as_str()))
            .unwrap_or_else(|| "(deleted API)".into());
        if api.as_ref().is_some_and(|a| visible(a, user)) {
            try_links.push((s.api_id.clone(), label.clone()));
        }
        rows.push(SubscriptionRow {
            id: s.id.clone(),
            application_id: app.id.clone(),
            application: app.name.clone(),
            api_id: s.api_id.clone(),
            api: label,
            tier: s.throttling_policy.clone(),
            status: s.status.clone(),
        });
    }
    let missing_key_types = [KeyType::Production, KeyType::Sandbox]
        .into_iter()
        .map(|k| k.as_str().to_owned())
        .filter(|k| !keys.iter().any(|key| &key.key_type == k))
        .collect();
    Ok(ApplicationPage {
        nav: Nav::new(Portal::Devportal, user).with_notice(notice),
        tiers: application_tiers(state).await?,
        name_error: None,
        tier_error: None,
        keys: keys
            .iter()
            .map(|k| KeyRow {
                key_type: k.key_type.clone(),
                consumer_key: k.consumer_key.clone(),
                grants: k.grant_types.join(", "),
                validity: k.validity_period,
            })
            .collect(),
        missing_key_types,
        new_secret: None,
        subscriptions: rows,
        test_token: user.test_token.clone(),
        try_links,
        app: ApplicationRow {
            id: app.id,
            name: app.name,
            tier: app.throttling_policy,
            description: app.description,
            status: app.status,
        },
    })
}

async fn application_page(
    State(state): State<AppState>,
    User(user): User,
    Path(app_id): Path<String>,
) -> Result<Response, PortalError> {
    user.require(Portal::Devportal)?;
    let app = load_owned(&state, &app_id, &user.username).await?;
    render(&application_view(&state, &user, app, None).await?)
}

async fn edit_application(
    State(state): State<AppState>,
    Path(app_id): Path<String>,
    UserForm { user, form }: UserForm<ApplicationForm>,
) -> Result<Response, PortalError> {
    user.require(Portal::Devportal)?;
    let app = load_owned(&state, &app_id, &user.username).await?;
    let (mut name_error, tier_error) = check_application(&state, &form).await?;
    if name_error.is_none() && tier_error.is_none() {
        // The form does not show attributes: they are kept as they are.
        let attributes: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(&app.attributes).unwrap_or_default();
        let fields = ApplicationFields {
            name: form.name.trim(),
            throttling_policy: &form.tier,
            description: form.description.trim(),
            attributes: &attributes,
        };
        match service::applications::update(&state, &app, fields).await {
            Ok(_) => {
                return see_other(
                    &user,
                    &format!("/devportal/applications/{}", app.id),
                    "Application saved.",
                )
                .await;
            }
            Err(ApiError::Conflict(_)) => {
                name_error = Some("You already have an application with this name.".into());
            }
            Err(e) => return Err(e.into()),
        }
    }
    let mut page = application_view(&state, &user, app, None).await?;
    page.app.name = form.name;
    page.app.tier = form.tier;
    page.app.description = form.description;
    page.name_error = name_error;
    page.tier_error = tier_error;
    render_status(StatusCode::BAD_REQUEST, &page)
}

async fn delete_application(
    State(state): State<AppState>,
    Path(app_id): Path<String>,
    UserForm { user, .. }: UserForm<super::auth::Empty>,
) -> Result<Response, PortalError> {
    user.require(Portal::Devportal)?;
    let app = load_owned(&state, &app_id, &user.username).await?;
    service::applications::delete(&state, &app.id, &user.username).await?;
    see_other(
        &user,
        "/devportal/applications",
        &format!("Application {} deleted.", app.name),
    )
    .await
}

#[derive(Debug, Deserialize)]
pub(super) struct KeyForm {
    #[serde(default)]
    key_type: String,
}

fn key_type(raw: &str) -> Result<KeyType, PortalError> {
    KeyType::parse(raw)
        .ok_or_else(|| PortalError::BadRequest(format!("'{raw}' is not PRODUCTION or SANDBOX.")))
}

async fn generate_keys(
    State(state): State<AppState>,
    Path(app_id): Path<String>,
    UserForm { user, form }: UserForm<KeyForm>,
) -> Result<Response, PortalError> {
    user.require(Portal::Devportal)?;
    let app = load_owned(&state, &app_id, &user.username).await?;
    let key_type = key_type(&form.key_type)?;
    let request = KeyRequest {
        key_type,
        grant_types: PORTAL_GRANTS.iter().map(|g| (*g).to_owned()).collect(),
        callback_url: String::new(),
        validity_period: DEFAULT_TOKEN_VALIDITY_SECS,
        public: false,
    };
    service::applications::require_approved(&app)?;
    let generated = match service::applications::generate_keys(&state, &app, request).await {
        Err(ApiError::Conflict(why)) if why.contains("waiting for approval") => {
            return Err(PortalError::Conflict(why));
        }
        Err(ApiError::Conflict(_)) => {
            return Err(PortalError::Conflict(format!(
                "{} keys exist already; regenerate the secret instead.",
                key_type.as_str()
            )));
        }
        other => other?,
    };
    let notice = match generated.pending {
        None => format!("{} keys generated.", key_type.as_str()),
        Some(_) => format!(
            "{} keys requested: they work once an administrator approves them. Keep the secret now; it is shown once.",
            key_type.as_str()
        ),
    };
    let mut page = application_view(&state, &user, app, Some(notice)).await?;
    page.new_secret = Some((
        generated.key.key_type,
        generated.key.consumer_key,
        generated.secret,
    ));
    render(&page)
}

/// The signed-in user's application and its key of the form's key type (404 otherwise).
async fn owned_key(
    state: &AppState,
    owner: &str,
    app_id: &str,
    raw_key_type: &str,
) -> Result<(Application, KeyType, ApplicationKey), PortalError> {
    let app = load_owned(state, app_id, owner).await?;
    let key_type = key_type(raw_key_type)?;
    let key = applications::keys_of(state.store(), &app.id)
        .await?
        .into_iter()
        .find(|k| k.key_type == key_type.as_str())
        .ok_or_else(|| PortalError::NotFound("Generate the keys first.".into()))?;
    Ok((app, key_type, key))
}

async fn regenerate_secret(
    State(state): State<AppState>,
    Path(app_id): Path<String>,
    UserForm { user, form }: UserForm<KeyForm>,
) -> Result<Response, PortalError> {
    user.require(Portal::Devportal)?;
    let (app, _, key) = owned_key(&state, &user.username, &app_id, &form.key_type).await?;
    let secret = service::applications::regenerate_secret(&state, &app, &key).await?;
    let mut page = application_view(
        &state,
        &user,
        app,
        Some("New secret generated; the old one no longer works.".into()),
    )
    .await?;
    page.new_secret = Some((key.key_type, key.consumer_key, secret));
    render(&page)
}

/// Issues a client_credentials access token for the application's key, exactly as the
/// token endpoint would for that client (the signed-in owner stands in for the secret).
async fn test_token(
    State(state): State<AppState>,
    Path(app_id): Path<String>,
    UserForm { user, form }: UserForm<KeyForm>,
) -> Result<Response, PortalError> {
    user.require(Portal::Devportal)?;
    let (app, _, key) = owned_key(&state, &user.username, &app_id, &form.key_type).await?;
    let issued = service::applications::test_token(&state, &app, key)?;
    user.sessions
        .set_test_token(&user.session_id, issued.access_token)
        .await?;
    see_other(
        &user,
        &format!("/devportal/applications/{}", app.id),
        &format!(
            "Test token issued; it expires in {} minutes.",
            issued.expires_in / 60
        ),
    )
    .await
}

async fn unsubscribe(
    State(state): State<AppState>,
    Path((app_id, sub_id)): Path<(String, String)>,
    UserForm { user, .. }: UserForm<super::auth::Empty>,
) -> Result<Response, PortalError> {
    user.require(Portal::Devportal)?;
    let app = load_owned(&state, &app_id, &user.username).await?;
    let sub = match subscriptions::get_owned(state.store(), &sub_id, &user.username).await {
        Ok(s) if s.application_id == app.id => s,
        Ok(_) | Err(StoreError::NotFound) => {
            return Err(PortalError::NotFound("No such subscription.".into()));
        }
        Err(e) => return Err(e.into()),
    };
    service::subscriptions::unsubscribe(&state, &sub).await?;
    see_other(
        &user,
        &format!("/devportal/applications/{}", app.id),
        "Unsubscribed.",
    )
    .await
}
