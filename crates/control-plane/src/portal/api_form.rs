//! The Publisher's "Create API" form, blank or filled from a pasted OpenAPI document. It
//! builds the REST API's `ApiRequest` and calls `service::apis::create`, so the model
//! types validate every field and the errors land next to the field they name.

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use gantry_store::policies::{self, PolicyLevel};
use serde_json::{Value, json};

use super::publisher::CREATE;
use super::session::{Portal, User, UserForm};
use super::{Nav, PortalError, field_error, render, render_status, see_other};
use crate::AppState;
use crate::publisher::apis::ApiRequest;
use crate::service::apis;

/// The create form's values and errors.
#[derive(Debug, Default)]
struct NewApi {
    name: String,
    context: String,
    version: String,
    endpoint: String,
    description: String,
    tags: String,
    operations: String,
    openapi: String,
    tiers: Vec<String>,
}

#[derive(Template)]
#[template(path = "portal/publisher_new.html")]
struct NewPage {
    nav: Nav,
    form: NewApi,
    tiers: Vec<(String, String)>,
    errors: Vec<(String, String)>,
    general_error: Option<String>,
}

impl NewPage {
    /// The error for `field`, if any (for the template).
    fn error(&self, field: &str) -> Option<&str> {
        super::error_for(&self.errors, field)
    }

    fn tier_checked(&self, tier: &str) -> bool {
        self.form.tiers.iter().any(|t| t == tier)
    }
}

pub(super) async fn subscription_tiers(
    state: &AppState,
) -> Result<Vec<(String, String)>, PortalError> {
    Ok(policies::list(state.store(), PolicyLevel::Subscription)
        .await?
        .into_iter()
        .map(|p| (p.name, p.description))
        .collect())
}

pub(super) async fn new_page(
    State(state): State<AppState>,
    User(user): User,
) -> Result<Response, PortalError> {
    user.require(Portal::Publisher)?;
    user.require_scope(CREATE, "Creating an API")?;
    render(&NewPage {
        nav: Nav::new(Portal::Publisher, &user),
        form: NewApi {
            tiers: vec!["Unlimited".into()],
            ..NewApi::default()
        },
        tiers: subscription_tiers(&state).await?,
        errors: Vec::new(),
        general_error: None,
    })
}

/// `GET /pets/{id}` lines (`… open` for no token) into WSO2 operations; the line number of
/// a bad one.
pub(super) fn parse_operations(text: &str) -> Result<Vec<Value>, String> {
    let mut ops = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let words: Vec<&str> = line.split_whitespace().collect();
        let (verb, target, open) = match words.as_slice() {
            [] => continue,
            [verb, target] => (verb, target, false),
            [verb, target, flag] if flag.eq_ignore_ascii_case("open") => (verb, target, true),
            _ => {
                return Err(format!(
                    "line {}: write a method and a path, e.g. GET /pets/{{id}} (add 'open' for no token)",
                    i + 1
                ));
            }
        };
        let mut op = json!({"verb": verb.to_ascii_uppercase(), "target": target});
        if open {
            op["authType"] = json!("None");
        }
        ops.push(op);
    }
    Ok(ops)
}

/// Fills the form's empty fields from a pasted OpenAPI document.
fn fill_from_openapi(input: &mut NewApi) -> Result<(), String> {
    let imported = super::openapi::import(&input.openapi)?;
    let fill = |field: &mut String, value: String| {
        if field.is_empty() {
            *field = value;
        }
    };
    fill(&mut input.name, imported.name);
    fill(&mut input.version, imported.version);
    fill(&mut input.description, imported.description);
    fill(&mut input.endpoint, imported.endpoint);
    fill(&mut input.context, imported.context);
    fill(&mut input.tags, imported.tags.join(", "));
    fill(&mut input.operations, imported.operations.join("\n"));
    Ok(())
}

/// The form field a REST validation message is about.
fn form_field(message: &str) -> (Option<String>, String) {
    if message.starts_with("endpointConfig") {
        let reason = message.split_once(": ").map_or(message, |(_, r)| r);
        return (Some("endpoint".into()), reason.to_owned());
    }
    if message.starts_with("operations") {
        return (Some("operations".into()), message.to_owned());
    }
    if message.starts_with("policies") {
        let reason = message.split_once(": ").map_or(message, |(_, r)| r);
        return (Some("tiers".into()), reason.to_owned());
    }
    field_error(
        message,
        &["name", "context", "version", "description", "tags"],
    )
}

pub(super) async fn create(
    State(state): State<AppState>,
    UserForm { user, form }: UserForm<Vec<(String, String)>>,
) -> Result<Response, PortalError> {
    user.require(Portal::Publisher)?;
    user.require_scope(CREATE, "Creating an API")?;
    let value = |name: &str| {
        form.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim().to_owned())
            .unwrap_or_default()
    };
    let mut input = NewApi {
        openapi: value("openapi"),
        name: value("name"),
        context: value("context"),
        version: value("version"),
        endpoint: value("endpoint"),
        description: value("description"),
        tags: value("tags"),
        operations: value("operations"),
        tiers: form
            .iter()
            .filter(|(k, _)| k == "tier")
            .map(|(_, v)| v.clone())
            .collect(),
    };
    let mut errors: Vec<(String, String)> = Vec::new();
    if !input.openapi.is_empty()
        && let Err(e) = fill_from_openapi(&mut input)
    {
        errors.push(("openapi".into(), e));
    }
    if input.endpoint.is_empty() {
        errors.push((
            "endpoint".into(),
            "Give the URL of the backend, e.g. http://backend:8080".into(),
        ));
    }
    let operations = match parse_operations(&input.operations) {
        Ok(ops) => ops,
        Err(e) => {
            errors.push(("operations".into(), e));
            Vec::new()
        }
    };
    let mut general_error = None;
    if errors.is_empty() {
        let tags: Vec<&str> = input
            .tags
            .split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .collect();
        let body = json!({
            "name": input.name,
            "context": input.context,
            "version": input.version,
            "description": (!input.description.is_empty()).then_some(&input.description),
            "tags": tags,
            "policies": input.tiers,
            "endpointConfig": {"endpoint_type": "http", "production_endpoints": {"url": input.endpoint}},
            "operations": operations,
        });
        let request: ApiRequest = serde_json::from_value(body)
            .map_err(|e| PortalError::BadRequest(format!("The form could not be read: {e}")))?;
        match apis::create(&state, request, &user.username).await {
            Ok(api) => {
                return see_other(
                    &user,
                    &format!("/publisher/apis/{}", api.id),
                    "API created. Publish it, then create a revision and deploy it.",
                )
                .await;
            }
            Err(crate::error::ApiError::BadRequest(message))
            | Err(crate::error::ApiError::Conflict(message)) => match form_field(&message) {
                (Some(field), reason) => errors.push((field, reason)),
                (None, reason) => general_error = Some(reason),
            },
            Err(other) => return Err(other.into()),
        }
    }
    let page = NewPage {
        nav: Nav::new(Portal::Publisher, &user),
        form: input,
        tiers: subscription_tiers(&state).await?,
        errors,
        general_error,
    };
    render_status(StatusCode::BAD_REQUEST, &page)
}
