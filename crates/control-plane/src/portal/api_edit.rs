//! The Publisher's "Edit API" form: description, endpoints, tiers, operations and CORS of
//! an existing API. It rebuilds the REST API's `ApiRequest` from the stored API with the
//! edited fields replaced and saves it through `service::apis::update`, so the same
//! validation applies and its errors land next to the field they name. Like a REST update
//! it changes the working copy only: gateways serve it once a new revision is deployed.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use gantry_model::{Api, AuthType, Endpoints};
use serde_json::{Value, json};

use super::api_form::{parse_operations, subscription_tiers};
use super::publisher::CREATE;
use super::session::{Portal, User, UserForm};
use super::{Nav, PortalError, render, render_status, see_other};
use crate::AppState;
use crate::error::ApiError;
use crate::publisher::apis::ApiRequest;
use crate::service::apis;

/// The edit form's values.
#[derive(Debug, Default)]
struct EditApi {
    description: String,
    endpoint: String,
    sandbox: String,
    tiers: Vec<String>,
    operations: String,
    cors_enabled: bool,
    cors_origins: String,
    cors_credentials: bool,
    /// The ETag of the API the form was filled from (sent back as `If-Match`).
    etag: String,
}

impl EditApi {
    fn of(api: &Api) -> Self {
        let first = |e: &Option<Endpoints>| {
            e.as_ref()
                .and_then(|e| e.as_slice().first())
                .map(|e| e.url.clone())
                .unwrap_or_default()
        };
        let cors = &api.cors_configuration;
        Self {
            description: api.description.clone().unwrap_or_default(),
            endpoint: first(&api.endpoint_config.production_endpoints),
            sandbox: first(&api.endpoint_config.sandbox_endpoints),
            tiers: api.policies.clone(),
            operations: api
                .operations
                .iter()
                .map(|op| {
                    let open = if op.auth_type == AuthType::None {
                        " open"
                    } else {
                        ""
                    };
                    format!("{} {}{open}", op.verb.as_str(), op.target.as_str())
                })
                .collect::<Vec<_>>()
                .join("\n"),
            cors_enabled: cors.cors_configuration_enabled,
            cors_origins: cors.access_control_allow_origins.join(", "),
            cors_credentials: cors.access_control_allow_credentials,
            etag: apis::etag(api),
        }
    }
}

#[derive(Template)]
#[template(path = "portal/publisher_edit.html")]
struct EditPage {
    nav: Nav,
    api_id: String,
    name: String,
    version: String,
    /// False for load-balanced or failover endpoints, which only the REST API edits.
    endpoints_editable: bool,
    form: EditApi,
    tiers: Vec<(String, String)>,
    errors: Vec<(String, String)>,
    general_error: Option<String>,
}

impl EditPage {
    /// The error for `field`, if any (for the template).
    fn error(&self, field: &str) -> Option<&str> {
        super::error_for(&self.errors, field)
    }

    fn tier_checked(&self, tier: &str) -> bool {
        self.form.tiers.iter().any(|t| t == tier)
    }
}

/// Plain `http` endpoints with at most one URL each: what the form's two fields can say.
fn endpoints_editable(api: &Api) -> bool {
    let config = &api.endpoint_config;
    let single = |e: &Option<Endpoints>| !matches!(e, Some(Endpoints::Many(_)));
    config.endpoint_type == "http"
        && single(&config.production_endpoints)
        && single(&config.sandbox_endpoints)
}

async fn page(
    state: &AppState,
    user: &super::session::SignedIn,
    api: &Api,
    form: EditApi,
    errors: Vec<(String, String)>,
    general_error: Option<String>,
) -> Result<EditPage, PortalError> {
    Ok(EditPage {
        nav: Nav::new(Portal::Publisher, user),
        api_id: api.id.clone(),
        name: api.name.as_str().to_owned(),
        version: api.version.as_str().to_owned(),
        endpoints_editable: endpoints_editable(api),
        form,
        tiers: subscription_tiers(state).await?,
        errors,
        general_error,
    })
}

pub(super) async fn edit_page(
    State(state): State<AppState>,
    User(user): User,
    Path(api_id): Path<String>,
) -> Result<Response, PortalError> {
    user.require(Portal::Publisher)?;
    user.require_scope(CREATE, "Editing an API")?;
    let api = apis::load(&state, &api_id).await?;
    let form = EditApi::of(&api);
    render(&page(&state, &user, &api, form, Vec::new(), None).await?)
}

/// The form field a REST validation message is about, and the reason to show there.
fn form_field(message: &str) -> (Option<&'static str>, String) {
    let reason = || {
        message
            .split_once(": ")
            .map_or(message, |(_, r)| r)
            .to_owned()
    };
    if message.starts_with("endpointConfig.sandbox") {
        return (Some("sandbox"), reason());
    }
    if message.starts_with("endpointConfig") {
        return (Some("endpoint"), reason());
    }
    if message.starts_with("operations") {
        return (Some("operations"), message.to_owned());
    }
    if message.starts_with("policies") {
        return (Some("tiers"), reason());
    }
    if message.starts_with("corsConfiguration") {
        return (Some("cors_origins"), reason());
    }
    if message.starts_with("description") {
        return (Some("description"), reason());
    }
    (None, message.to_owned())
}

/// The stored operations' settings the form does not show (throttling policy, scopes, the
/// exact auth type) are kept for the lines that name the same method and path.
fn merge_operations(edited: Vec<Value>, stored: &Value) -> Vec<Value> {
    let stored = stored.as_array().cloned().unwrap_or_default();
    edited
        .into_iter()
        .map(|op| {
            let Some(mut kept) = stored
                .iter()
                .find(|s| s["verb"] == op["verb"] && s["target"] == op["target"])
                .cloned()
            else {
                return op;
            };
            if op["authType"] == "None" {
                kept["authType"] = json!("None");
            } else if kept["authType"] == "None"
                && let Some(fields) = kept.as_object_mut()
            {
                fields.remove("authType");
            }
            kept
        })
        .collect()
}

/// Puts `url` into `config[key]`, keeping the endpoint's other settings; empty removes it.
fn set_endpoint(config: &mut Value, key: &str, url: &str) {
    let Some(fields) = config.as_object_mut() else {
        return;
    };
    if url.is_empty() {
        fields.remove(key);
    } else if let Some(endpoint) = fields.get_mut(key).and_then(Value::as_object_mut) {
        endpoint.insert("url".into(), json!(url));
    } else {
        fields.insert(key.into(), json!({"url": url}));
    }
}

pub(super) async fn save(
    State(state): State<AppState>,
    Path(api_id): Path<String>,
    UserForm { user, form }: UserForm<Vec<(String, String)>>,
) -> Result<Response, PortalError> {
    user.require(Portal::Publisher)?;
    user.require_scope(CREATE, "Editing an API")?;
    let current = apis::load(&state, &api_id).await?;
    let value = |name: &str| {
        form.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim().to_owned())
            .unwrap_or_default()
    };
    let mut input = EditApi {
        description: value("description"),
        endpoint: value("endpoint"),
        sandbox: value("sandbox"),
        tiers: form
            .iter()
            .filter(|(k, _)| k == "tier")
            .map(|(_, v)| v.clone())
            .collect(),
        operations: value("operations"),
        cors_enabled: !value("cors_enabled").is_empty(),
        cors_origins: value("cors_origins"),
        cors_credentials: !value("cors_credentials").is_empty(),
        etag: value("etag"),
    };
    let editable = endpoints_editable(&current);
    if !editable {
        let shown = EditApi::of(&current);
        input.endpoint = shown.endpoint;
        input.sandbox = shown.sandbox;
    }
    let mut errors: Vec<(String, String)> = Vec::new();
    if editable && input.endpoint.is_empty() {
        errors.push((
            "endpoint".into(),
            "Give the URL of the backend, e.g. http://backend:8080".into(),
        ));
    }
    if input.tiers.is_empty() {
        errors.push((
            "tiers".into(),
            "Offer at least one tier, e.g. Unlimited".into(),
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
        let mut body =
            serde_json::to_value(&current).map_err(|e| PortalError::Internal(e.to_string()))?;
        body["description"] = if input.description.is_empty() {
            Value::Null
        } else {
            json!(input.description)
        };
        if editable {
            set_endpoint(
                &mut body["endpointConfig"],
                "production_endpoints",
                &input.endpoint,
            );
            set_endpoint(
                &mut body["endpointConfig"],
                "sandbox_endpoints",
                &input.sandbox,
            );
        }
        body["policies"] = json!(input.tiers);
        body["operations"] = json!(merge_operations(operations, &body["operations"]));
        let origins: Vec<&str> = input
            .cors_origins
            .split(',')
            .map(str::trim)
            .filter(|o| !o.is_empty())
            .collect();
        body["corsConfiguration"]["corsConfigurationEnabled"] = json!(input.cors_enabled);
        body["corsConfiguration"]["accessControlAllowOrigins"] = json!(origins);
        body["corsConfiguration"]["accessControlAllowCredentials"] = json!(input.cors_credentials);
        let request: ApiRequest = serde_json::from_value(body)
            .map_err(|e| PortalError::BadRequest(format!("The form could not be read: {e}")))?;
        let if_match = Some(input.etag.as_str()).filter(|t| !t.is_empty());
        match apis::update(&state, &current.id, request, if_match).await {
            Ok(api) => {
                return see_other(
                    &user,
                    &format!("/publisher/apis/{}", api.id),
                    "API saved. This changed the working copy only: create a new revision and deploy it for gateways to serve the change.",
                ).await;
            }
            Err(ApiError::PreconditionFailed(_)) | Err(ApiError::Conflict(_)) => {
                // Show the current ETag: saving again overwrites the other change.
                input.etag = apis::etag(&apis::load(&state, &api_id).await?);
                general_error = Some(
                    "Someone else changed this API since you opened the form. Check the API page; saving again replaces their change with yours.".into(),
                );
            }
            Err(ApiError::BadRequest(message)) => match form_field(&message) {
                (Some(field), reason) => errors.push((field.into(), reason)),
                (None, reason) => general_error = Some(reason),
            },
            Err(other) => return Err(other.into()),
        }
    }
    let page = page(&state, &user, &current, input, errors, general_error).await?;
    render_status(StatusCode::BAD_REQUEST, &page)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rest_messages_land_on_their_fields() {
        assert_eq!(
            form_field("operations[1].target: must start with '/'"),
            (
                Some("operations"),
                "operations[1].target: must start with '/'".into()
            )
        );
        assert_eq!(
            form_field("policies: 'Gold' is not a subscription throttling policy").0,
            Some("tiers")
        );
        assert_eq!(
            form_field(
                "endpointConfig.sandbox_endpoints.url: must be an http://, https://, ws:// or wss:// URL"
            ),
            (
                Some("sandbox"),
                "must be an http://, https://, ws:// or wss:// URL".into()
            )
        );
        assert_eq!(
            form_field("endpointConfig.production_endpoints.url: bad").0,
            Some("endpoint")
        );
        assert_eq!(
            form_field("corsConfiguration.accessControlAllowOrigins[0]: 'x' is not '*'").0,
            Some("cors_origins")
        );
        assert_eq!(form_field("something else").0, None);
    }

    #[test]
    fn edited_operations_keep_their_stored_policy_and_scopes() {
        let stored = json!([
            {"verb": "GET", "target": "/a", "authType": "Application", "throttlingPolicy": "10KPerMin", "scopes": ["read"]},
            {"verb": "POST", "target": "/a", "authType": "None", "throttlingPolicy": "Unlimited", "scopes": []}
        ]);
        let edited = parse_operations("GET /a open\npost /a\nDELETE /b").unwrap();
        let merged = merge_operations(edited, &stored);
        assert_eq!(merged[0]["throttlingPolicy"], "10KPerMin");
        assert_eq!(merged[0]["scopes"], json!(["read"]));
        assert_eq!(merged[0]["authType"], "None");
        assert!(merged[1].get("authType").is_none(), "{}", merged[1]);
        assert_eq!(merged[2], json!({"verb": "DELETE", "target": "/b"}));
    }

    #[test]
    fn endpoints_are_set_kept_or_removed() {
        let mut config = json!({"endpoint_type": "http",
            "production_endpoints": {"url": "http://a", "config": {"actionDuration": "3000"}},
            "sandbox_endpoints": {"url": "http://s"}});
        set_endpoint(&mut config, "production_endpoints", "http://b");
        set_endpoint(&mut config, "sandbox_endpoints", "");
        assert_eq!(
            config,
            json!({"endpoint_type": "http",
                "production_endpoints": {"url": "http://b", "config": {"actionDuration": "3000"}}})
        );
        set_endpoint(&mut config, "sandbox_endpoints", "http://t");
        assert_eq!(config["sandbox_endpoints"], json!({"url": "http://t"}));
    }
}
