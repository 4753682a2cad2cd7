//! Admin portal: deny policies (WSO2 blocking conditions) — list, add, switch on/off,
//! delete. Validation, the duplicate refusal and the gateway re-sync are the Admin REST
//! API's ([`crate::admin::deny_policies`]); its messages are shown above the form.

use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use gantry_store::deny_policies;
use serde::Deserialize;
use serde_json::{Value, json};

use super::session::{Portal, SignedIn, User, UserForm};
use super::{Nav, PortalError, render, render_status, see_other};
use crate::AppState;
use crate::admin::deny_policies::{self as rest, ConditionRequest};
use crate::error::ApiError;

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/deny-policies", get(list_page).post(create))
        .route("/admin/deny-policies/{id}/enabled", post(set_enabled))
        .route("/admin/deny-policies/{id}/delete", post(remove))
}

/// The condition types offered: (value, label, what the value input takes).
const KINDS: [(&str, &str, &str); 5] = [
    ("API", "API", "context/version, e.g. /pizzashack/1.0.0"),
    (
        "APPLICATION",
        "Application",
        "owner:name, e.g. admin:DefaultApplication",
    ),
    ("USER", "User", "username, e.g. alice"),
    ("IP", "IP address", "address, e.g. 192.168.1.1"),
    ("IPRANGE", "IP range", "first address (the last goes below)"),
];

/// The posted form; every field optional so a bare form still reaches the role check.
#[derive(Debug, Default, Deserialize)]
pub(super) struct DenyForm {
    #[serde(default)]
    kind: String,
    #[serde(default)]
    value: String,
    #[serde(default)]
    ending_ip: String,
    #[serde(default)]
    invert: Option<String>,
}

impl DenyForm {
    /// The form as the REST API's `BlockingCondition` body.
    fn request(&self) -> ConditionRequest {
        let value = self.value.trim();
        let condition_value = match self.kind.as_str() {
            "IP" => json!({"fixedIp": value, "invert": self.invert.is_some()}),
            "IPRANGE" => json!({"startingIp": value, "endingIp": self.ending_ip.trim(),
                                "invert": self.invert.is_some()}),
            _ => Value::String(value.to_owned()),
        };
        ConditionRequest {
            condition_type: Some(self.kind.clone()),
            condition_value: Some(condition_value),
            condition_status: Some(true),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct EnabledForm {
    #[serde(default)]
    enabled: String,
}

struct Row {
    id: String,
    kind: &'static str,
    value: String,
    enabled: bool,
}

#[derive(Template)]
#[template(path = "portal/admin_deny_policies.html")]
struct ListPage {
    nav: Nav,
    policies: Vec<Row>,
    kinds: Vec<(&'static str, &'static str, &'static str)>,
    kind: String,
    value: String,
    ending_ip: String,
    invert: bool,
    form_error: Option<String>,
}

/// How a condition's value reads in the list.
fn value_text(condition: &gantry_model::deny::DenyCondition) -> String {
    use gantry_model::deny::DenyCondition::*;
    match condition {
        Api { context } => context.clone(),
        Application { owner, name, .. } => format!("{owner}:{name}"),
        User { name } => name.clone(),
        Ip { address, invert } => format!("{}{address}", if *invert { "all but " } else { "" }),
        IpRange { range, invert } => format!(
            "{}{} – {}",
            if *invert { "all but " } else { "" },
            range.start,
            range.end
        ),
    }
}

async fn list_view(state: &AppState, user: &SignedIn) -> Result<ListPage, PortalError> {
    let policies = deny_policies::list(state.store())
        .await?
        .into_iter()
        .map(|p| Row {
            kind: p.condition.condition_type(),
            value: value_text(&p.condition),
            enabled: p.enabled,
            id: p.id,
        })
        .collect();
    Ok(ListPage {
        nav: Nav::new(Portal::Admin, user),
        policies,
        kinds: KINDS.to_vec(),
        kind: "IP".into(),
        value: String::new(),
        ending_ip: String::new(),
        invert: false,
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

async fn create(
    State(state): State<AppState>,
    UserForm { user, form }: UserForm<DenyForm>,
) -> Result<Response, PortalError> {
    user.require(Portal::Admin)?;
    let (status, message) = match rest::create_policy(&state, form.request(), &user.username).await
    {
        Ok(policy) => {
            return see_other(
                &user,
                "/admin/deny-policies",
                &format!(
                    "Deny policy on {} {} added; every gateway refuses matching calls now.",
                    policy.condition.condition_type(),
                    value_text(&policy.condition)
                ),
            )
            .await;
        }
        Err(ApiError::BadRequest(m)) => (StatusCode::BAD_REQUEST, m),
        Err(ApiError::Conflict(m)) => (StatusCode::CONFLICT, m),
        Err(e) => return Err(e.into()),
    };
    let mut page = list_view(&state, &user).await?;
    page.form_error = Some(message);
    page.kind = form.kind;
    page.value = form.value;
    page.ending_ip = form.ending_ip;
    page.invert = form.invert.is_some();
    render_status(status, &page)
}

async fn set_enabled(
    State(state): State<AppState>,
    Path(id): Path<String>,
    UserForm { user, form }: UserForm<EnabledForm>,
) -> Result<Response, PortalError> {
    user.require(Portal::Admin)?;
    let enabled = match form.enabled.as_str() {
        "true" => true,
        "false" => false,
        other => {
            return Err(PortalError::BadRequest(format!(
                "'{other}' is not true or false."
            )));
        }
    };
    let policy = rest::switch_policy(&state, &id, enabled, &user.username).await?;
    let what = format!(
        "{} {}",
        policy.condition.condition_type(),
        value_text(&policy.condition)
    );
    let notice = if enabled {
        format!("Deny policy on {what} switched on; gateways refuse matching calls.")
    } else {
        format!("Deny policy on {what} switched off; gateways let matching calls through.")
    };
    see_other(&user, "/admin/deny-policies", &notice).await
}

async fn remove(
    State(state): State<AppState>,
    Path(id): Path<String>,
    UserForm { user, .. }: UserForm<super::auth::Empty>,
) -> Result<Response, PortalError> {
    user.require(Portal::Admin)?;
    let policy = rest::remove_policy(&state, &id, &user.username).await?;
    see_other(
        &user,
        "/admin/deny-policies",
        &format!(
            "Deny policy on {} {} deleted.",
            policy.condition.condition_type(),
            value_text(&policy.condition)
        ),
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_form_becomes_wso2_condition_values() {
        let form = DenyForm {
            kind: "IPRANGE".into(),
            value: " 10.0.0.1 ".into(),
            ending_ip: "10.0.0.9".into(),
            invert: Some("on".into()),
        };
        assert_eq!(
            form.request().condition_value.unwrap(),
            json!({"startingIp": "10.0.0.1", "endingIp": "10.0.0.9", "invert": true})
        );
        let form = DenyForm {
            kind: "USER".into(),
            value: "alice".into(),
            ..DenyForm::default()
        };
        assert_eq!(form.request().condition_value.unwrap(), json!("alice"));
    }
}
