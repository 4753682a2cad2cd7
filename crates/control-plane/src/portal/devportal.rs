//! The Developer Portal's API side: browse and search published APIs, an API's page with
//! its operations and tiers, subscribing an application, and the "Try it" console
//! (`try_it.rs`). Applications and their keys are in `applications.rs`.

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::routing::{get, post};
use gantry_model::{Api, GraphQlVerb};
use gantry_store::applications::{self, Application};
use gantry_store::{StoreError, apis as store_apis, subscriptions};
use serde::Deserialize;

use super::listing::{ApiRow, ListQuery, OperationSummary, in_category, operation_rows, search};
use super::session::{Portal, SignedIn, User, UserForm};
use super::try_it::{TryForm, TryResult};
use super::{Nav, Pager, PortalError, render, see_other};
use crate::AppState;
use crate::error::ApiError;
use crate::service;
use crate::service::subscriptions::{Refusal, SubscribeError};

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/devportal", get(catalogue))
        .route("/devportal/apis/{api_id}", get(api_page))
        .route("/devportal/apis/{api_id}/subscribe", post(subscribe))
        .route("/devportal/apis/{api_id}/try", post(super::try_it::try_it))
        .route(
            "/devportal/apis/{api_id}/documents/{document_id}",
            get(super::documents::download),
        )
        .route(
            "/devportal/apis/{api_id}/comments",
            post(super::feedback::comment),
        )
        .route(
            "/devportal/apis/{api_id}/rating",
            post(super::feedback::rate),
        )
}

/// Whether the developer portal shows `api` to `user` (the same rule as the REST
/// subscription handler: listed, and visible to the user's roles).
pub(super) fn visible(api: &Api, user: &SignedIn) -> bool {
    crate::service::apis::visible_in_devportal(api, Some(&user.roles))
}

/// An API `user` may see in the developer portal, or 404.
pub(super) async fn load_visible(
    state: &AppState,
    api_id: &str,
    user: &SignedIn,
) -> Result<Api, PortalError> {
    match store_apis::get(state.store(), api_id).await {
        Ok(api) if visible(&api, user) => Ok(api),
        Ok(_) | Err(StoreError::NotFound) => Err(PortalError::NotFound(
            "No such API in the developer portal.".into(),
        )),
        Err(e) => Err(e.into()),
    }
}

/// `owner`'s application, or 404.
pub(super) async fn load_owned(
    state: &AppState,
    id: &str,
    owner: &str,
) -> Result<Application, PortalError> {
    match applications::get_owned(state.store(), id, owner).await {
        Err(StoreError::NotFound) => Err(PortalError::NotFound("No such application.".into())),
        other => Ok(other?),
    }
}

#[derive(Template)]
#[template(path = "portal/devportal_list.html")]
struct CataloguePage {
    nav: Nav,
    query: String,
    /// The category filter in force ("" for none).
    category: String,
    /// Every category an administrator defined, by name.
    categories: Vec<String>,
    apis: Vec<ApiRow>,
    pager: Pager,
}

async fn catalogue(
    State(state): State<AppState>,
    User(user): User,
    Query(query): Query<ListQuery>,
) -> Result<Response, PortalError> {
    user.require(Portal::Devportal)?;
    let text = query.q.unwrap_or_default().trim().to_owned();
    let category = query.category.unwrap_or_default().trim().to_owned();
    let wanted = (!category.is_empty()).then_some(category.as_str());
    let base = match wanted {
        Some(c) => format!("/devportal?category={}", super::urlencode(c)),
        None => "/devportal".to_owned(),
    };
    let (apis, pager) = search(&state, &base, &text, query.page, |api| {
        visible(api, &user) && in_category(api, wanted)
    })
    .await?;
    let categories = gantry_store::categories::categories(state.store())
        .await?
        .into_iter()
        .map(|c| c.name)
        .collect();
    render(&CataloguePage {
        nav: Nav::new(Portal::Devportal, &user),
        query: text,
        category,
        categories,
        apis: apis.iter().map(ApiRow::of).collect(),
        pager,
    })
}

/// A subscription as both the API's and the application's page show it.
pub(super) struct SubscriptionRow {
    pub id: String,
    pub application_id: String,
    pub application: String,
    pub api_id: String,
    pub api: String,
    pub tier: String,
    pub status: String,
}

#[derive(Template)]
#[template(path = "portal/devportal_api.html")]
pub(super) struct ApiPage {
    nav: Nav,
    api: ApiRow,
    operations: Vec<OperationSummary>,
    tiers: Vec<String>,
    documents: Vec<super::documents::DocumentRow>,
    feedback: super::feedback::FeedbackView,
    accepts_subscriptions: bool,
    applications: Vec<(String, String)>,
    subscriptions: Vec<SubscriptionRow>,
    gateway_url: String,
    try_form: TryForm,
    try_result: Option<TryResult>,
    /// A GraphQL API: its root fields (the operations above are the routes "Try it"
    /// calls) and its schema (SDL), shown as written.
    graphql_fields: Vec<OperationSummary>,
    graphql_schema: Option<String>,
}

/// Renders an API's page, with the outcome of a "Try it" call when there was one.
pub(super) async fn render_api_page(
    state: &AppState,
    user: &SignedIn,
    api: &Api,
    notice: Option<String>,
    try_form: Option<TryForm>,
    try_result: Option<TryResult>,
) -> Result<Response, PortalError> {
    let (apps, _) = applications::list_owned(state.store(), &user.username, 0, 1000).await?;
    let subs = subscriptions::list_owned_for_api(state.store(), &api.id, &user.username).await?;
    let subscriptions = subs
        .iter()
        .map(|s| SubscriptionRow {
            id: s.id.clone(),
            application_id: s.application_id.clone(),
            application: apps
                .iter()
                .find(|a| a.id == s.application_id)
                .map(|a| a.name.clone())
                .unwrap_or_default(),
            api_id: api.id.clone(),
            api: api.name.as_str().to_owned(),
            tier: s.throttling_policy.clone(),
            status: s.status.clone(),
        })
        .collect();
    let try_form = try_form.unwrap_or_else(|| TryForm {
        operation: api
            .operations
            .first()
            .map(|op| format!("{} {}", op.verb.as_str(), op.target.as_str()))
            .unwrap_or_default(),
        path: api
            .operations
            .first()
            .map(|op| op.target.as_str().replace("/*", "/"))
            .unwrap_or_else(|| "/".into()),
        token: user.test_token.clone().unwrap_or_default(),
        // A GraphQL API: a query of its first root field to start from.
        body: api
            .gateway
            .graphql
            .as_deref()
            .and_then(|g| g.operations.iter().find(|o| o.verb == GraphQlVerb::Query))
            .map(|op| serde_json::json!({"query": format!("{{ {} }}", op.target)}).to_string())
            .unwrap_or_default(),
    });
    render(&ApiPage {
        nav: Nav::new(Portal::Devportal, user).with_notice(notice),
        api: ApiRow::of(api),
        operations: operation_rows(api),
        tiers: api.policies.clone(),
        documents: super::documents::rows(state, api).await?,
        feedback: super::feedback::view(state, &api.id, &user.username).await?,
        accepts_subscriptions: api.life_cycle_status.accepts_subscriptions(),
        applications: apps.into_iter().map(|a| (a.id, a.name)).collect(),
        subscriptions,
        gateway_url: match (
            state.gateway_base_url(),
            super::try_it::deployed_vhost(state, &api.id).await?,
        ) {
            (Some(gateway), Some(vhost)) => super::try_it::public_base(gateway, &vhost),
            _ => String::new(),
        },
        try_form,
        try_result,
        graphql_fields: super::listing::graphql_operation_rows(api).unwrap_or_default(),
        graphql_schema: api.gateway.graphql.as_deref().map(|g| g.schema.clone()),
    })
}

impl ApiPage {
    fn operation_selected(&self, verb: &str, target: &str) -> bool {
        self.try_form.operation == format!("{verb} {target}")
    }
}

async fn api_page(
    State(state): State<AppState>,
    User(user): User,
    Path(api_id): Path<String>,
) -> Result<Response, PortalError> {
    user.require(Portal::Devportal)?;
    let api = load_visible(&state, &api_id, &user).await?;
    render_api_page(&state, &user, &api, None, None, None).await
}

#[derive(Debug, Deserialize)]
pub(super) struct SubscribeForm {
    #[serde(default)]
    application_id: String,
    #[serde(default)]
    tier: String,
}

async fn subscribe(
    State(state): State<AppState>,
    Path(api_id): Path<String>,
    UserForm { user, form }: UserForm<SubscribeForm>,
) -> Result<Response, PortalError> {
    user.require(Portal::Devportal)?;
    let api = load_visible(&state, &api_id, &user).await?;
    let app = load_owned(&state, &form.application_id, &user.username).await?;
    let notice = match service::subscriptions::subscribe(&state, &app, &api, &form.tier).await {
        Ok(sub) if sub.status == gantry_model::SubscriptionStatus::OnHold.as_str() => format!(
            "{}'s subscription with the {} tier waits for an administrator's approval (ON_HOLD).",
            app.name, form.tier
        ),
        Ok(_) => format!("{} is subscribed with the {} tier.", app.name, form.tier),
        Err(SubscribeError::Refused(Refusal::NotAccepting(status))) => {
            return Err(PortalError::BadRequest(format!(
                "The API is {} and does not accept new subscriptions.",
                status.as_str()
            )));
        }
        Err(SubscribeError::Refused(Refusal::TierNotOffered { tier, offered })) => {
            return Err(PortalError::BadRequest(format!(
                "'{tier}' is not a tier this API offers (it offers {}).",
                offered.join(", ")
            )));
        }
        Err(SubscribeError::Failed(ApiError::Conflict(_))) => {
            return Err(PortalError::Conflict(format!(
                "{} is already subscribed to this API.",
                app.name
            )));
        }
        Err(SubscribeError::Failed(e)) => return Err(e.into()),
    };
    see_other(&user, &format!("/devportal/apis/{}", api.id), &notice).await
}
