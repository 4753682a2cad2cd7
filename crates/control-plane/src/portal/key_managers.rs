//! Admin portal: key managers — the resident one (Gantry's own OAuth2 server) and external
//! OIDC issuers added by discovery URL or by issuer + JWKS URL; enable/disable, delete.
//! Resolution (discovery, JWKS fetch and checks), the mapped-keys refusal and the gateway
//! re-sync are the Admin REST API's ([`crate::admin::key_managers`]).

use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use gantry_store::key_managers;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::session::{Portal, SignedIn, User, UserForm};
use super::{Nav, PortalError, field_error, render, render_status, see_other};
use crate::AppState;
use crate::admin::key_managers::{self as kms, RESIDENT_ID};
use crate::devportal::applications::RESIDENT_KEY_MANAGER;
use crate::error::ApiError;
use crate::keyring::KeyRing;

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/key-managers", get(list_page).post(create))
        .route("/admin/key-managers/{id}/enabled", post(set_enabled))
        .route("/admin/key-managers/{id}/delete", post(remove))
}

/// The REST body's field names → this form's inputs.
const FIELDS: [(&str, &str); 7] = [
    ("name", "name"),
    ("type", "kind"),
    ("wellKnownEndpoint", "discovery"),
    ("issuer", "issuer"),
    ("certificates", "jwks"),
    ("certificates.value", "jwks"),
    ("certificates.type", "jwks"),
];

/// The posted form; every field optional so a bare form still reaches the role check.
#[derive(Debug, Default, Deserialize)]
pub(super) struct KeyManagerForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    discovery: String,
    #[serde(default)]
    issuer: String,
    #[serde(default)]
    jwks: String,
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct EnabledForm {
    #[serde(default)]
    enabled: String,
}

struct Row {
    id: String,
    name: String,
    kind: String,
    issuer: String,
    enabled: bool,
    keys: usize,
    resident: bool,
}

#[derive(Template)]
#[template(path = "portal/admin_key_managers.html")]
struct ListPage {
    nav: Nav,
    managers: Vec<Row>,
    name: String,
    kind: String,
    discovery: String,
    issuer: String,
    jwks: String,
    name_error: Option<String>,
    kind_error: Option<String>,
    discovery_error: Option<String>,
    issuer_error: Option<String>,
    jwks_error: Option<String>,
    form_error: Option<String>,
}

impl ListPage {
    /// Puts a REST message next to the input it names (or above the form).
    fn show(&mut self, message: &str) {
        let names: Vec<&str> = FIELDS.iter().map(|(rest, _)| *rest).collect();
        let (field, reason) = field_error(message, &names);
        let input = field.and_then(|f| FIELDS.iter().find(|(rest, _)| *rest == f));
        let slot = match input.map(|(_, input)| *input) {
            Some("name") => &mut self.name_error,
            Some("kind") => &mut self.kind_error,
            Some("discovery") => &mut self.discovery_error,
            Some("issuer") => &mut self.issuer_error,
            Some("jwks") => &mut self.jwks_error,
            _ => {
                self.form_error = Some(message.to_owned());
                return;
            }
        };
        *slot = Some(reason);
    }
}

async fn list_view(state: &AppState, user: &SignedIn) -> Result<ListPage, PortalError> {
    let published = KeyRing::list(state.store())
        .await
        .map_err(|e| PortalError::Internal(e.to_string()))?
        .iter()
        .filter(|k| k.state != "removed")
        .count();
    let mut managers = vec![Row {
        id: RESIDENT_ID.into(),
        name: RESIDENT_KEY_MANAGER.into(),
        kind: "default".into(),
        issuer: state.issuer().issuer().to_owned(),
        enabled: true,
        keys: published,
        resident: true,
    }];
    managers.extend(
        key_managers::list(state.store())
            .await?
            .iter()
            .map(|km| Row {
                id: km.id.clone(),
                name: km.name.clone(),
                kind: kms::kind_of(km),
                issuer: km.issuer.clone(),
                enabled: km.enabled == 1,
                keys: kms::key_count(km),
                resident: false,
            }),
    );
    Ok(ListPage {
        nav: Nav::new(Portal::Admin, user),
        managers,
        name: String::new(),
        kind: String::new(),
        discovery: String::new(),
        issuer: String::new(),
        jwks: String::new(),
        name_error: None,
        kind_error: None,
        discovery_error: None,
        issuer_error: None,
        jwks_error: None,
        form_error: None,
    })
}

async fn list_page(
    State(state): State<AppState>,
    User(user): User,
) -> Result<Response, PortalError> {
    user.require(Portal::Admin)?;
    render(&list_view(&state, &user).await?)
}

/// The form as the REST API's `KeyManager` body (empty inputs left out).
fn body_of(form: &KeyManagerForm) -> Map<String, Value> {
    let mut body = Map::new();
    let mut put = |name: &str, value: &str| {
        if !value.trim().is_empty() {
            body.insert(name.to_owned(), json!(value.trim()));
        }
    };
    put("name", &form.name);
    put("type", &form.kind);
    put("wellKnownEndpoint", &form.discovery);
    put("issuer", &form.issuer);
    if !form.jwks.trim().is_empty() {
        body.insert(
            "certificates".into(),
            json!({"type": "JWKS", "value": form.jwks.trim()}),
        );
    }
    body.insert("enabled".into(), json!(true));
    body
}

async fn create(
    State(state): State<AppState>,
    UserForm { user, form }: UserForm<KeyManagerForm>,
) -> Result<Response, PortalError> {
    user.require(Portal::Admin)?;
    let status = match kms::create_key_manager(&state, body_of(&form), &user.username).await {
        Ok(km) => {
            return see_other(
                &user,
                "/admin/key-managers",
                &format!(
                    "Key manager {} added with {} signing keys; gateways accept its tokens now.",
                    km.name,
                    kms::key_count(&km)
                ),
            )
            .await;
        }
        Err(ApiError::BadRequest(m)) => (StatusCode::BAD_REQUEST, m),
        Err(ApiError::Conflict(m)) => (StatusCode::CONFLICT, m),
        Err(e) => return Err(e.into()),
    };
    let mut page = list_view(&state, &user).await?;
    page.show(&status.1);
    page.name = form.name;
    page.kind = form.kind;
    page.discovery = form.discovery;
    page.issuer = form.issuer;
    page.jwks = form.jwks;
    render_status(status.0, &page)
}

async fn set_enabled(
    State(state): State<AppState>,
    Path(id): Path<String>,
    UserForm { user, form }: UserForm<EnabledForm>,
) -> Result<Response, PortalError> {
    user.require(Portal::Admin)?;
    if id == RESIDENT_ID {
        return Err(PortalError::Conflict(
            "The resident key manager is always enabled.".into(),
        ));
    }
    let enabled = match form.enabled.as_str() {
        "true" => true,
        "false" => false,
        other => {
            return Err(PortalError::BadRequest(format!(
                "'{other}' is not true or false."
            )));
        }
    };
    let km = kms::set_enabled(&state, &id, enabled, &user.username).await?;
    let notice = if enabled {
        format!(
            "Key manager {} enabled; gateways accept its tokens.",
            km.name
        )
    } else {
        format!(
            "Key manager {} disabled; gateways refuse its tokens.",
            km.name
        )
    };
    see_other(&user, "/admin/key-managers", &notice).await
}

async fn remove(
    State(state): State<AppState>,
    Path(id): Path<String>,
    UserForm { user, .. }: UserForm<super::auth::Empty>,
) -> Result<Response, PortalError> {
    user.require(Portal::Admin)?;
    let km = kms::remove_key_manager(&state, &id, &user.username).await?;
    see_other(
        &user,
        "/admin/key-managers",
        &format!("Key manager {} deleted.", km.name),
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_form_becomes_a_rest_body_without_empty_inputs() {
        let body = body_of(&KeyManagerForm {
            name: " Corp ".into(),
            kind: "KeyCloak".into(),
            discovery: String::new(),
            issuer: "https://idp/realms/x".into(),
            jwks: "https://idp/certs".into(),
        });
        assert_eq!(
            Value::Object(body),
            json!({"name": "Corp", "type": "KeyCloak", "issuer": "https://idp/realms/x",
                   "certificates": {"type": "JWKS", "value": "https://idp/certs"}, "enabled": true})
        );
    }
}
