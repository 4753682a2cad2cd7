//! The Publisher portal's endpoint certificates page: the certificates gateways trust for
//! TLS to an upstream's host (a self-signed or privately issued upstream), with their
//! subject and validity; upload one (pasted PEM) or delete one. Every change goes through
//! the REST API's functions (`publisher::endpoint_certificates`), so the checks and the
//! gateway sync are the same.

use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::{get, post};
use serde::Deserialize;

use super::session::{Portal, User, UserForm};
use super::{Nav, PortalError, render, see_other};
use crate::AppState;
use crate::publisher::endpoint_certificates::{add_certificate, remove_certificate};

const VIEW: &str = "apim:ep_certificates_view";
const ADD: &str = "apim:ep_certificates_add";
const UPDATE: &str = "apim:ep_certificates_update";
const PAGE: &str = "/publisher/endpoint-certificates";

pub(super) fn router() -> Router<AppState> {
    Router::new().route(PAGE, get(page).post(add)).route(
        "/publisher/endpoint-certificates/{alias}/delete",
        post(delete),
    )
}

/// One certificate as the page lists it.
struct Row {
    alias: String,
    endpoint: String,
    subject: String,
    status: String,
    valid_to: String,
}

#[derive(Template)]
#[template(path = "portal/publisher_endpoint_certificates.html")]
struct Page {
    nav: Nav,
    can_add: bool,
    can_delete: bool,
    certificates: Vec<Row>,
}

/// The scope a page or action needs, or the one that covers every certificate action.
fn may(user: &super::session::SignedIn, scope: &str) -> bool {
    user.has_scope(scope) || user.has_scope("apim:ep_certificates_manage")
}

async fn page(State(state): State<AppState>, User(user): User) -> Result<Response, PortalError> {
    user.require(Portal::Publisher)?;
    if !may(&user, VIEW) && !user.has_scope("apim:api_view") {
        user.require_scope(VIEW, "Seeing endpoint certificates")?;
    }
    let certificates = gantry_store::endpoint_certificates::list(state.store())
        .await
        .map_err(crate::error::ApiError::from)?
        .iter()
        .map(|c| {
            let info = crate::publisher::client_certificates::certificate_info(
                c.not_before,
                c.not_after,
                &c.subject,
            );
            Row {
                alias: c.alias.clone(),
                endpoint: c.endpoint.clone(),
                subject: c.subject.clone(),
                status: info["status"].as_str().unwrap_or_default().to_owned(),
                valid_to: info["validity"]["to"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            }
        })
        .collect();
    render(&Page {
        can_add: may(&user, ADD) || user.has_scope("apim:api_create"),
        can_delete: may(&user, UPDATE) || user.has_scope("apim:api_create"),
        nav: Nav::new(Portal::Publisher, &user),
        certificates,
    })
}

#[derive(Debug, Deserialize)]
pub(super) struct AddForm {
    #[serde(default)]
    alias: String,
    #[serde(default)]
    endpoint: String,
    #[serde(default)]
    certificate: String,
}

async fn add(
    State(state): State<AppState>,
    UserForm { user, form }: UserForm<AddForm>,
) -> Result<Response, PortalError> {
    user.require(Portal::Publisher)?;
    if !may(&user, ADD) {
        user.require_scope("apim:api_create", "Uploading an endpoint certificate")?;
    }
    let stored = add_certificate(
        &state,
        &user.username,
        Some(form.alias),
        Some(form.endpoint.trim().to_owned()),
        Some(form.certificate.into_bytes()),
    )
    .await?;
    see_other(
        &user,
        PAGE,
        &format!(
            "Certificate '{}' added: gateways now trust it for {}.",
            stored.alias, stored.endpoint
        ),
    )
    .await
}

async fn delete(
    State(state): State<AppState>,
    Path(alias): Path<String>,
    UserForm { user, .. }: UserForm<super::auth::Empty>,
) -> Result<Response, PortalError> {
    user.require(Portal::Publisher)?;
    if !may(&user, UPDATE) {
        user.require_scope("apim:api_create", "Deleting an endpoint certificate")?;
    }
    remove_certificate(&state, &user.username, &alias).await?;
    see_other(&user, PAGE, &format!("Certificate '{alias}' deleted.")).await
}
