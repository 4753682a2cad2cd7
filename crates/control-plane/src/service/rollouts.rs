//! Rollouts of API and API product revisions (progressive delivery): start one from a
//! plan, read its live progress, leave a command (promote, pause, resume, abort) for the
//! driver. The REST handlers (`publisher/rollouts.rs`), the Publisher portal and `gantry
//! ctl rollout` go through these; the driver (`service/rollout_driver.rs`) does the
//! deploying, measuring and rolling back, alike for both (products share the APIs'
//! revisions, deployments and canaries tables, by id).

use gantry_model::rollout::{ExternalMeasured, Measured, RolloutPlan};
use gantry_store::rollouts::{self, NewEvent, Rollout, RolloutEvent};
use gantry_store::{environments, now_ms};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::service::apis::load;

/// Where a rollout is: the step running, what each step measured, what each environment
/// it touched served before (restored on rollback). Stored as JSON text.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RolloutProgress {
    /// Index of the step running (the number of steps once every step passed).
    pub current_step: usize,
    /// One per step of the plan.
    pub steps: Vec<StepProgress>,
    /// Environments the rollout changed, in the order it touched them.
    pub environments: Vec<TouchedEnvironment>,
    /// The replica that drove it last.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
}

/// One step's state and numbers.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StepProgress {
    /// `PENDING`, `RUNNING`, `PASSED`, `PROMOTED` (passed by a user), `FAILED`, `CANCELLED`.
    pub status: String,
    /// The environment's configuration version that carries the step (its window opens
    /// once the environment's gateways acknowledged it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub published_version: Option<u64>,
    /// Epoch ms the step's configuration was published.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub published_at: Option<i64>,
    /// Epoch ms the step's window started: its gateways serve its configuration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<i64>,
    /// Epoch ms it passed or failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<i64>,
    /// The new revision's numbers in the window (every gateway of the environment).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_revision: Option<Measured>,
    /// The previous revision's numbers in the same window (weighted steps).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_revision: Option<Measured>,
    /// What the plan's Prometheus queries answered last (with `analysis.prometheus`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prometheus: Option<ExternalMeasured>,
    /// The analysis' last word (waiting, passed, or why it failed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verdict: Option<String>,
}

impl StepProgress {
    /// Whether the step's configuration was put in place (it may still be on its way to
    /// the gateways).
    pub fn applied(&self) -> bool {
        self.started_at.is_some() || self.published_version.is_some()
    }
}

/// An environment a rollout changed, and what it served before.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TouchedEnvironment {
    /// Environment name.
    pub environment: String,
    /// The revision deployed there before (none: the API was not deployed there).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_revision_id: Option<String>,
    /// The vhost the API is served on there.
    pub vhost: String,
    /// Whether the previous deployment was listed in the developer portal.
    pub display_on_devportal: bool,
}

/// Step statuses.
pub mod step_status {
    /// Not reached yet.
    pub const PENDING: &str = "PENDING";
    /// Its window is running.
    pub const RUNNING: &str = "RUNNING";
    /// Its analysis passed.
    pub const PASSED: &str = "PASSED";
    /// A user promoted past it.
    pub const PROMOTED: &str = "PROMOTED";
    /// Its analysis failed.
    pub const FAILED: &str = "FAILED";
    /// Not run: the rollout ended before it.
    pub const CANCELLED: &str = "CANCELLED";
}

/// A command a user may leave for the driver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// Pass the running step now.
    Promote,
    /// Stop the clock (the step starts again on resume).
    Pause,
    /// Run again after a pause.
    Resume,
    /// Roll back now.
    Abort,
}

impl Command {
    /// Parses the REST path's action.
    pub fn parse(action: &str) -> Option<Self> {
        match action {
            "promote" => Some(Self::Promote),
            "pause" => Some(Self::Pause),
            "resume" => Some(Self::Resume),
            "abort" => Some(Self::Abort),
            _ => None,
        }
    }

    /// Its name, as stored and in the path.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Promote => "promote",
            Self::Pause => "pause",
            Self::Resume => "resume",
            Self::Abort => "abort",
        }
    }
}

/// What a rollout takes out: a revision of an API or of an API product (by id).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject<'a> {
    /// An API.
    Api(&'a str),
    /// An API product.
    Product(&'a str),
}

impl Subject<'_> {
    /// The API's or product's id (the rollout's `api_id`).
    pub fn id(&self) -> &str {
        match self {
            Self::Api(id) | Self::Product(id) => id,
        }
    }

    /// 404 unless it exists.
    async fn exists(&self, state: &AppState) -> ApiResult<()> {
        match self {
            Self::Api(id) => load(state, id).await.map(drop),
            Self::Product(id) => crate::service::api_products::load(state, id)
                .await
                .map(drop),
        }
    }

    /// 400 unless `revision_id` is one of its revisions.
    async fn has_revision(&self, state: &AppState, revision_id: &str) -> ApiResult<()> {
        let found = match self {
            Self::Api(id) => gantry_store::apis::get_revision(state.store(), id, revision_id)
                .await
                .map(drop),
            Self::Product(id) => {
                gantry_store::api_products::get_revision(state.store(), id, revision_id)
                    .await
                    .map(drop)
            }
        };
        match found {
            Err(gantry_store::StoreError::NotFound) => Err(ApiError::BadRequest(format!(
                "revisionId: {} '{}' has no revision '{revision_id}'",
                self.noun(),
                self.id()
            ))),
            other => Ok(other?),
        }
    }

    fn noun(&self) -> &'static str {
        match self {
            Self::Api(_) => "API",
            Self::Product(_) => "API product",
        }
    }
}

/// Starts a rollout of `plan` for `subject` by `user`: the plan, its revision and
/// environments are checked (400), one active rollout per API or product (409).
pub async fn start(
    state: &AppState,
    subject: Subject<'_>,
    plan: RolloutPlan,
    user: &str,
) -> ApiResult<Rollout> {
    subject.exists(state).await?;
    plan.validate()?;
    if let Some(prometheus) = &plan.analysis.prometheus
        && !state.may_query_prometheus(&prometheus.url)
    {
        return Err(ApiError::BadRequest(format!(
            "analysis.prometheus.url: '{}' is not a Prometheus this control plane may query \
             (its operator lists those with --rollout-prometheus-url)",
            prometheus.url
        )));
    }
    subject.has_revision(state, &plan.revision_id).await?;
    let api_id = subject.id();
    for (i, step) in plan.steps.iter().enumerate() {
        if environments::find_by_name(state.store(), &step.environment)
            .await?
            .is_none()
        {
            return Err(ApiError::BadRequest(format!(
                "steps[{i}].environment: gateway environment '{}' does not exist",
                step.environment
            )));
        }
    }
    let progress = RolloutProgress {
        current_step: 0,
        steps: plan
            .steps
            .iter()
            .map(|_| StepProgress {
                status: step_status::PENDING.to_owned(),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    };
    let detail = format!(
        "revision {} in {} steps",
        plan.revision_id,
        plan.steps.len()
    );
    let started = NewEvent {
        actor: user,
        kind: "started",
        detail: &detail,
    };
    let rollout = rollouts::create(
        state.store(),
        api_id,
        &plan.revision_id,
        &serde_json::to_string(&plan).unwrap_or_default(),
        &serde_json::to_string(&progress).unwrap_or_default(),
        user,
        &[started],
    )
    .await?;
    recorded(state, &rollout.id, &[started]);
    Ok(rollout)
}

/// The rollout `id` of `subject`, or 404.
pub async fn load_rollout(state: &AppState, subject: Subject<'_>, id: &str) -> ApiResult<Rollout> {
    subject.exists(state).await?;
    rollouts::get(state.store(), subject.id(), id)
        .await?
        .ok_or_else(|| ApiError::not_found("rollout", id))
}

/// Leaves `command` for the driver (taken within a second); 409 once the rollout ended.
pub async fn command(
    state: &AppState,
    subject: Subject<'_>,
    id: &str,
    command: Command,
    user: &str,
) -> ApiResult<Rollout> {
    let rollout = load_rollout(state, subject, id).await?;
    let refused = || {
        ApiError::Conflict(format!(
            "rollout '{id}' is {}: only a running or paused rollout takes '{}'",
            rollout.status,
            command.as_str()
        ))
    };
    if !rollout.is_active() {
        return Err(refused());
    }
    let kind = format!("{}-requested", command.as_str());
    let requested = NewEvent {
        actor: user,
        kind: &kind,
        detail: "",
    };
    if !rollouts::command(state.store(), id, command.as_str(), requested).await? {
        return Err(refused());
    }
    recorded(state, id, &[requested]);
    load_rollout(state, subject, id).await
}

/// Tells the `audit` log target and `/metrics` of audit-trail entries just stored with
/// the change they record.
pub(crate) fn recorded(state: &AppState, rollout_id: &str, events: &[NewEvent<'_>]) {
    for event in events {
        tracing::info!(
            target: "audit",
            rollout = rollout_id,
            actor = event.actor,
            kind = event.kind,
            detail = event.detail,
            "rollout event"
        );
        state.metrics().rollout_event(event.kind);
    }
}

/// The REST body of a rollout: plan, status, live progress with the measured numbers per
/// step, and its audit trail.
pub fn rollout_json(rollout: &Rollout, events: &[RolloutEvent]) -> Value {
    let plan: Value = serde_json::from_str(&rollout.plan).unwrap_or(Value::Null);
    let progress: Value = serde_json::from_str(&rollout.progress).unwrap_or(Value::Null);
    json!({
        "id": rollout.id,
        "apiId": rollout.api_id,
        "revisionId": rollout.revision_id,
        "status": rollout.status,
        "reason": rollout.reason,
        "pendingCommand": rollout.command,
        "plan": plan,
        "progress": progress,
        "createdBy": rollout.created_by,
        "createdTime": crate::wire::rfc3339(rollout.created_at),
        "updatedTime": crate::wire::rfc3339(rollout.updated_at),
        "events": events.iter().map(|e| json!({
            "time": crate::wire::rfc3339(e.at),
            "actor": e.actor,
            "kind": e.kind,
            "detail": e.detail,
        })).collect::<Vec<_>>(),
    })
}

/// Whole seconds a step has run, now.
pub(crate) fn elapsed_secs(started_at: i64) -> u64 {
    u64::try_from((now_ms() - started_at).max(0) / 1000).unwrap_or(0)
}
