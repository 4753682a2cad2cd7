//! Admin portal: throttling policies of each level (subscription, application, advanced) —
//! list, create, edit (the name stays), delete. Validation, the in-use refusal and the
//! gateway re-sync are the Admin REST API's ([`crate::admin::policies`]); a REST message
//! naming a field is shown next to that field's input.

use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use gantry_store::policies::{self, Policy, PolicyLevel};
use serde::Deserialize;

use super::admin::limit_text;
use super::session::{Portal, SignedIn, User, UserForm};
use super::{Nav, PortalError, field_error, render, render_status, see_other};
use crate::AppState;
use crate::admin::policies::{self as admin_policies, PolicyRequest};
use crate::error::ApiError;

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/admin/policies/{level}",
            get(list_page).post(create_policy),
        )
        .route(
            "/admin/policies/{level}/{id}",
            get(edit_page).post(update_policy),
        )
        .route("/admin/policies/{level}/{id}/delete", post(delete_policy))
}

/// The levels in the order shown: (URL segment, title).
const LEVELS: [(&str, &str); 3] = [
    ("subscription", "Subscription"),
    ("application", "Application"),
    ("advanced", "Advanced (API)"),
];

/// The time units a limit may count in: (value, label).
const TIME_UNITS: [(&str, &str); 4] = [
    ("sec", "second(s)"),
    ("min", "minute(s)"),
    ("hour", "hour(s)"),
    ("day", "day(s)"),
];

/// The REST validation's field names → this form's inputs.
const FIELDS: [(&str, &str); 4] = [
    ("policyName", "name"),
    ("defaultLimit.requestCount.requestCount", "requests"),
    ("defaultLimit.requestCount.unitTime", "unit_time"),
    ("defaultLimit.requestCount.timeUnit", "time_unit"),
];

/// The posted form; every field optional so a bare form still reaches the role check.
#[derive(Debug, Default, Deserialize)]
pub(super) struct PolicyForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    requests: String,
    #[serde(default)]
    unit_time: String,
    #[serde(default)]
    time_unit: String,
    #[serde(default)]
    unlimited: Option<String>,
}

/// The form's values and the errors shown next to them (shared by the create and edit
/// pages through `admin_policy_fields.html`).
#[derive(Debug, Default)]
struct Fields {
    action: String,
    editing: bool,
    name: String,
    description: String,
    requests: String,
    unit_time: String,
    time_unit: String,
    unlimited: bool,
    name_error: Option<String>,
    requests_error: Option<String>,
    unit_time_error: Option<String>,
    time_unit_error: Option<String>,
    form_error: Option<String>,
    time_units: Vec<(&'static str, &'static str)>,
}

impl Fields {
    fn blank(action: String) -> Self {
        Self {
            action,
            requests: String::new(),
            unit_time: "1".into(),
            time_unit: "min".into(),
            time_units: TIME_UNITS.to_vec(),
            ..Self::default()
        }
    }

    fn of(policy: &Policy, action: String) -> Self {
        let unlimited = policy.request_count < 0;
        Self {
            editing: true,
            name: policy.name.clone(),
            description: policy.description.clone(),
            requests: if unlimited {
                String::new()
            } else {
                policy.request_count.to_string()
            },
            unit_time: policy.unit_time.to_string(),
            time_unit: policy.time_unit.clone(),
            unlimited,
            ..Self::blank(action)
        }
    }

    fn posted(form: &PolicyForm, action: String, editing: bool) -> Self {
        Self {
            editing,
            name: form.name.trim().to_owned(),
            description: form.description.clone(),
            requests: form.requests.trim().to_owned(),
            unit_time: form.unit_time.trim().to_owned(),
            time_unit: form.time_unit.clone(),
            unlimited: form.unlimited.is_some(),
            ..Self::blank(action)
        }
    }

    /// Puts a REST validation message next to the input it names (or above the form).
    fn show(&mut self, message: &str) {
        let names: Vec<&str> = FIELDS.iter().map(|(rest, _)| *rest).collect();
        let (field, reason) = field_error(message, &names);
        let input = field.and_then(|f| FIELDS.iter().find(|(rest, _)| *rest == f));
        match input.map(|(_, input)| *input) {
            Some("name") => self.name_error = Some(reason),
            Some("requests") => self.requests_error = Some(reason),
            Some("unit_time") => self.unit_time_error = Some(reason),
            Some("time_unit") => self.time_unit_error = Some(reason),
            _ => self.form_error = Some(reason),
        }
    }

    /// The form as a REST request; numbers that do not parse are marked on their input.
    fn request(&mut self) -> Option<PolicyRequest> {
        fn number(text: &str) -> Result<Option<i64>, String> {
            if text.is_empty() {
                return Ok(None);
            }
            text.parse()
                .map(Some)
                .map_err(|_| format!("'{text}' is not a whole number"))
        }
        let requests = if self.unlimited {
            Ok(Some(-1))
        } else {
            number(&self.requests)
        };
        let unit_time = number(&self.unit_time);
        if let Err(e) = &requests {
            self.requests_error = Some(e.clone());
        }
        if let Err(e) = &unit_time {
            self.unit_time_error = Some(e.clone());
        }
        Some(PolicyRequest::request_count(
            self.name.clone(),
            self.description.clone(),
            requests.ok()?,
            unit_time.ok()?,
            self.time_unit.clone(),
        ))
    }
}

struct PolicyRow {
    id: String,
    name: String,
    description: String,
    limit: String,
    deletable: bool,
}

#[derive(Template)]
#[template(path = "portal/admin_policies.html")]
struct ListPage {
    nav: Nav,
    level: &'static str,
    title: &'static str,
    levels: Vec<(&'static str, &'static str)>,
    policies: Vec<PolicyRow>,
    f: Fields,
}

#[derive(Template)]
#[template(path = "portal/admin_policy_edit.html")]
struct EditPage {
    nav: Nav,
    level: &'static str,
    title: &'static str,
    f: Fields,
}

/// The level a URL segment names, with its segment and title.
fn level_of(segment: &str) -> Result<(PolicyLevel, &'static str, &'static str), PortalError> {
    let level = admin_policies::level_of(segment)?;
    let (slug, title) = LEVELS
        .iter()
        .find(|(s, _)| *s == segment)
        .copied()
        .unwrap_or(("subscription", "Subscription"));
    Ok((level, slug, title))
}

async fn list_view(
    state: &AppState,
    user: &SignedIn,
    segment: &str,
) -> Result<ListPage, PortalError> {
    let (level, slug, title) = level_of(segment)?;
    let rows = policies::list(state.store(), level)
        .await?
        .into_iter()
        .map(|p| PolicyRow {
            limit: limit_text(p.request_count, p.unit_time, &p.time_unit),
            deletable: p.name != "Unlimited",
            id: p.id,
            name: p.name,
            description: p.description,
        })
        .collect();
    Ok(ListPage {
        nav: Nav::new(Portal::Admin, user),
        level: slug,
        title,
        levels: LEVELS.to_vec(),
        policies: rows,
        f: Fields::blank(format!("/admin/policies/{slug}")),
    })
}

async fn list_page(
    State(state): State<AppState>,
    User(user): User,
    Path(segment): Path<String>,
) -> Result<Response, PortalError> {
    user.require(Portal::Admin)?;
    render(&list_view(&state, &user, &segment).await?)
}

/// A REST refusal the form can show (validation, name taken, in use); other errors are
/// the error page's.
fn shown(error: ApiError, f: &mut Fields) -> Result<(), PortalError> {
    match error {
        ApiError::BadRequest(m) | ApiError::Conflict(m) => {
            f.show(&m);
            Ok(())
        }
        other => Err(other.into()),
    }
}

async fn create_policy(
    State(state): State<AppState>,
    Path(segment): Path<String>,
    UserForm { user, form }: UserForm<PolicyForm>,
) -> Result<Response, PortalError> {
    user.require(Portal::Admin)?;
    let mut page = list_view(&state, &user, &segment).await?;
    let (level, slug, _) = level_of(&segment)?;
    page.f = Fields::posted(&form, page.f.action.clone(), false);
    if let Some(request) = page.f.request() {
        match admin_policies::create_policy(&state, level, request, &user.username).await {
            Ok(policy) => {
                return see_other(
                    &user,
                    &format!("/admin/policies/{slug}"),
                    &format!("Policy {} created; gateways enforce it now.", policy.name),
                )
                .await;
            }
            Err(ApiError::Conflict(m)) => page.f.name_error = Some(m),
            Err(e) => shown(e, &mut page.f)?,
        }
    }
    render_status(StatusCode::BAD_REQUEST, &page)
}

async fn edit_page(
    State(state): State<AppState>,
    User(user): User,
    Path((segment, id)): Path<(String, String)>,
) -> Result<Response, PortalError> {
    user.require(Portal::Admin)?;
    let (level, slug, title) = level_of(&segment)?;
    let policy = admin_policies::load(&state, level, &id).await?;
    render(&EditPage {
        nav: Nav::new(Portal::Admin, &user),
        level: slug,
        title,
        f: Fields::of(&policy, format!("/admin/policies/{slug}/{}", policy.id)),
    })
}

async fn update_policy(
    State(state): State<AppState>,
    Path((segment, id)): Path<(String, String)>,
    UserForm { user, form }: UserForm<PolicyForm>,
) -> Result<Response, PortalError> {
    user.require(Portal::Admin)?;
    let (level, slug, title) = level_of(&segment)?;
    let current = admin_policies::load(&state, level, &id).await?;
    if current.data_amount > 0 {
        // The form edits request counts; saving it would turn the policy into one.
        return Err(crate::error::ApiError::BadRequest(format!(
            "{} is a bandwidth policy: change it through the Admin REST API",
            current.name
        ))
        .into());
    }
    let mut f = Fields::posted(
        &form,
        format!("/admin/policies/{slug}/{}", current.id),
        true,
    );
    // The name is fixed: the form shows it read-only and the stored one is used.
    f.name = current.name;
    if let Some(request) = f.request() {
        match admin_policies::update_policy(&state, level, &id, request, &user.username).await {
            Ok(policy) => {
                return see_other(
                    &user,
                    &format!("/admin/policies/{slug}"),
                    &format!("Policy {} saved; gateways enforce it now.", policy.name),
                )
                .await;
            }
            Err(e) => shown(e, &mut f)?,
        }
    }
    render_status(
        StatusCode::BAD_REQUEST,
        &EditPage {
            nav: Nav::new(Portal::Admin, &user),
            level: slug,
            title,
            f,
        },
    )
}

async fn delete_policy(
    State(state): State<AppState>,
    Path((segment, id)): Path<(String, String)>,
    UserForm { user, .. }: UserForm<super::auth::Empty>,
) -> Result<Response, PortalError> {
    user.require(Portal::Admin)?;
    let (level, slug, _) = level_of(&segment)?;
    let policy = admin_policies::remove_policy(&state, level, &id, &user.username).await?;
    see_other(
        &user,
        &format!("/admin/policies/{slug}"),
        &format!("Policy {} deleted.", policy.name),
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rest_messages_land_next_to_their_inputs() {
        let mut f = Fields::blank("/x".into());
        f.show("defaultLimit.requestCount.requestCount: must be at least 1");
        assert_eq!(f.requests_error.as_deref(), Some("must be at least 1"));
        f.show("policyName: 1–60 letters");
        assert_eq!(f.name_error.as_deref(), Some("1–60 letters"));
        f.show("something else: entirely");
        assert_eq!(f.form_error.as_deref(), Some("something else: entirely"));
    }

    #[test]
    fn numbers_that_do_not_parse_are_marked() {
        let mut f = Fields::blank("/x".into());
        f.requests = "ten".into();
        assert!(f.request().is_none());
        assert!(f.requests_error.unwrap().contains("whole number"));
        let mut f = Fields::blank("/x".into());
        f.unlimited = true;
        f.requests = "ten".into();
        assert!(f.request().is_some(), "unlimited ignores the count");
    }
}
