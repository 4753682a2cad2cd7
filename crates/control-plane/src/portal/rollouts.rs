//! The Publisher portal's rollouts: an API's rollouts with a plan form (one step per line),
//! and a rollout's page with live progress (it reloads every 2 s while running), the
//! numbers each step measured, its audit trail, and promote / pause / resume / abort. The
//! same operations as the REST API (`service::rollouts`).

use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::{get, post};
use gantry_model::canary::Stickiness;
use gantry_model::rollout::{RolloutPlan, RolloutStep};
use gantry_store::{apis as store_apis, environments, rollouts};
use serde::Deserialize;

use super::session::{Portal, User, UserForm};
use super::{Nav, PortalError, render, see_other, when};
use crate::AppState;
use crate::service;
use crate::service::rollouts::{Command, RolloutProgress, Subject};

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/publisher/apis/{api_id}/rollouts", get(list).post(start))
        .route("/publisher/apis/{api_id}/rollouts/{id}", get(one))
        .route("/publisher/apis/{api_id}/rollouts/{id}/{action}", post(act))
}

struct RolloutRow {
    id: String,
    revision: String,
    status: String,
    created: String,
    created_by: String,
}

#[derive(Template)]
#[template(path = "portal/publisher_rollouts.html")]
struct ListPage {
    nav: Nav,
    api_id: String,
    api_name: String,
    revisions: Vec<(String, String)>,
    environments: Vec<String>,
    rollouts: Vec<RolloutRow>,
}

async fn list(
    State(state): State<AppState>,
    User(user): User,
    Path(api_id): Path<String>,
) -> Result<Response, PortalError> {
    user.require(Portal::Publisher)?;
    let api = service::apis::load(&state, &api_id).await?;
    let revisions = store_apis::list_revisions(state.store(), &api.id).await?;
    let number = |id: &str| {
        revisions
            .iter()
            .find(|r| r.id == id)
            .map_or_else(|| id.to_owned(), |r| format!("Revision {}", r.number))
    };
    let rows = rollouts::list(state.store(), &api.id)
        .await?
        .into_iter()
        .map(|r| RolloutRow {
            revision: number(&r.revision_id),
            id: r.id,
            status: r.status,
            created: when(r.created_at),
            created_by: r.created_by,
        })
        .collect();
    render(&ListPage {
        nav: Nav::new(Portal::Publisher, &user),
        api_name: format!("{} {}", api.name.as_str(), api.version.as_str()),
        revisions: revisions
            .iter()
            .map(|r| (r.id.clone(), format!("Revision {}", r.number)))
            .collect(),
        environments: environments::list(state.store())
            .await?
            .into_iter()
            .map(|e| e.name)
            .collect(),
        api_id: api.id,
        rollouts: rows,
    })
}

#[derive(Debug, Deserialize)]
pub(super) struct PlanForm {
    #[serde(default)]
    revision_id: String,
    /// One step a line: `ENVIRONMENT` or `ENVIRONMENT WEIGHT`.
    #[serde(default)]
    steps: String,
    #[serde(default)]
    window_secs: String,
    #[serde(default)]
    min_requests: String,
    #[serde(default)]
    max_error_ratio: String,
    #[serde(default)]
    max_p99_ms: String,
    #[serde(default)]
    sticky_header: String,
}

/// The plan a form describes, or what is wrong with it.
fn plan_of(form: &PlanForm) -> Result<RolloutPlan, PortalError> {
    let bad = |what: &str| PortalError::BadRequest(what.to_owned());
    let number = |text: &str, what: &str| -> Result<Option<f64>, PortalError> {
        match text.trim() {
            "" => Ok(None),
            t => t
                .parse::<f64>()
                .map(Some)
                .map_err(|_| bad(&format!("{what}: '{t}' is not a number"))),
        }
    };
    let window = number(&form.window_secs, "Window")?.unwrap_or(300.0) as u64;
    let min_requests = number(&form.min_requests, "Minimum calls")?.unwrap_or(100.0) as u64;
    let max_error_ratio = number(&form.max_error_ratio, "Highest error ratio")?;
    let max_p99_ms = number(&form.max_p99_ms, "Highest p99")?.map(|v| v as u64);
    let mut steps = Vec::new();
    for line in form.steps.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let mut words = line.split_whitespace();
        let environment = words.next().unwrap_or_default().to_owned();
        let weight =
            match words.next() {
                Some(w) => Some(w.trim_end_matches('%').parse::<u8>().map_err(|_| {
                    bad(&format!("Step '{line}': the weight is a percent (1-100)"))
                })?),
                None => None,
            };
        steps.push(RolloutStep {
            environment,
            weight,
            window_secs: window,
            min_requests,
            max_error_ratio,
            max_p99_ms,
            max_error_ratio_increase: None,
            max_p99_ratio: None,
        });
    }
    Ok(RolloutPlan {
        revision_id: form.revision_id.clone(),
        stickiness: match form.sticky_header.trim() {
            "" => Stickiness::None,
            name => Stickiness::Header {
                name: name.to_owned(),
            },
        },
        steps,
        analysis: Default::default(),
    })
}

async fn start(
    State(state): State<AppState>,
    Path(api_id): Path<String>,
    UserForm { user, form }: UserForm<PlanForm>,
) -> Result<Response, PortalError> {
    user.require(Portal::Publisher)?;
    let plan = plan_of(&form)?;
    let rollout =
        service::rollouts::start(&state, Subject::Api(&api_id), plan, &user.username).await?;
    see_other(
        &user,
        &format!("/publisher/apis/{api_id}/rollouts/{}", rollout.id),
        "Rollout started.",
    )
    .await
}

struct StepRow {
    environment: String,
    weight: u8,
    status: String,
    new_revision: String,
    previous_revision: String,
    verdict: String,
}

#[derive(Template)]
#[template(path = "portal/publisher_rollout.html")]
struct RolloutPage {
    nav: Nav,
    api_id: String,
    api_name: String,
    id: String,
    status: String,
    reason: String,
    active: bool,
    pending: String,
    steps: Vec<StepRow>,
    events: Vec<(String, String, String, String)>,
}

fn numbers(m: Option<&gantry_model::rollout::Measured>) -> String {
    match m {
        Some(m) => format!(
            "{} calls · {:.1} % errors · p99 {}",
            m.requests,
            m.error_ratio * 100.0,
            m.p99_ms
                .map_or_else(|| "–".to_owned(), |p| format!("{p} ms"))
        ),
        None => "–".to_owned(),
    }
}

async fn one(
    State(state): State<AppState>,
    User(user): User,
    Path((api_id, id)): Path<(String, String)>,
) -> Result<Response, PortalError> {
    user.require(Portal::Publisher)?;
    let api = service::apis::load(&state, &api_id).await?;
    let rollout = service::rollouts::load_rollout(&state, Subject::Api(&api_id), &id).await?;
    let plan: RolloutPlan = serde_json::from_str(&rollout.plan)
        .map_err(|e| PortalError::Internal(format!("rollout plan: {e}")))?;
    let progress: RolloutProgress = serde_json::from_str(&rollout.progress)
        .map_err(|e| PortalError::Internal(format!("rollout progress: {e}")))?;
    let steps = plan
        .steps
        .iter()
        .zip(progress.steps.iter())
        .map(|(step, done)| StepRow {
            environment: step.environment.clone(),
            weight: step.share(),
            status: done.status.clone(),
            new_revision: numbers(done.new_revision.as_ref()),
            previous_revision: numbers(done.previous_revision.as_ref()),
            verdict: done.verdict.clone().unwrap_or_default(),
        })
        .collect();
    let events = rollouts::events(state.store(), &id)
        .await?
        .into_iter()
        .map(|e| (when(e.at), e.actor, e.kind, e.detail))
        .collect();
    render(&RolloutPage {
        nav: Nav::new(Portal::Publisher, &user),
        api_name: format!("{} {}", api.name.as_str(), api.version.as_str()),
        api_id: api.id,
        active: rollout.is_active(),
        pending: rollout.command.clone().unwrap_or_default(),
        reason: rollout.reason.clone().unwrap_or_default(),
        status: rollout.status,
        id,
        steps,
        events,
    })
}

async fn act(
    State(state): State<AppState>,
    Path((api_id, id, action)): Path<(String, String, String)>,
    UserForm { user, .. }: UserForm<super::auth::Empty>,
) -> Result<Response, PortalError> {
    user.require(Portal::Publisher)?;
    let command = Command::parse(&action)
        .ok_or_else(|| PortalError::NotFound(format!("No rollout action '{action}'")))?;
    service::rollouts::command(&state, Subject::Api(&api_id), &id, command, &user.username).await?;
    see_other(
        &user,
        &format!("/publisher/apis/{api_id}/rollouts/{id}"),
        &format!(
            "'{}' sent; the rollout takes it within a second.",
            command.as_str()
        ),
    )
    .await
}
