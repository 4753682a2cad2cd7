//! The rollout driver: one loop per replica, of which only the holder of the `rollouts`
//! lease (a row with an expiry, renewed every tick; works on SQLite and PostgreSQL alike)
//! acts. Each tick it takes the users' commands, applies the next step of every running
//! rollout (a canary weight, or the revision in place of the previous one), measures the
//! step's window from what the environment's gateways reported, and promotes, waits, or
//! rolls back. All state is in the database, so a restarted or another replica resumes
//! where the last one was.

use std::time::Duration;

use gantry_model::rollout::{self, Measured, QueryContext, RolloutPlan, Verdict};
use gantry_store::rollouts::{self as store_rollouts, NewEvent, Rollout};
use gantry_store::{apis, canaries, now_ms, traffic};
use tokio_util::sync::CancellationToken;

use super::rollout_prometheus;
use super::rollouts::{
    Command, RolloutProgress, TouchedEnvironment, elapsed_secs, recorded, step_status,
};
use crate::AppState;
use crate::error::{ApiError, ApiResult};

/// How often the driver looks at the rollouts.
const TICK: Duration = Duration::from_millis(500);
/// How long a lease outlives its holder's last renewal.
const LEASE_TTL_MS: i64 = 5_000;
/// The lease's name.
const LEASE: &str = "rollouts";
/// Longest wait for a step's gateways to acknowledge its configuration.
const ACK_WAIT_MS: i64 = 10_000;
/// Traffic reports are kept this long.
const TRAFFIC_KEPT_MS: i64 = 3_600_000;

/// Runs until `shutdown`; gives the lease up on the way out.
pub async fn run(state: AppState, shutdown: CancellationToken) {
    let holder = format!(
        "{}-{}",
        std::env::var("HOSTNAME").unwrap_or_else(|_| "replica".to_owned()),
        &gantry_store::new_id()[..8]
    );
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_prune = 0;
    let mut leading = false;
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tick.tick() => {}
        }
        if !state.store().health().is_up() {
            continue;
        }
        let held = store_rollouts::hold_lease(state.store(), LEASE, &holder, LEASE_TTL_MS)
            .await
            .unwrap_or(false);
        if held != leading {
            leading = held;
            tracing::info!(holder, leading, "rollout driver lease");
        }
        state.metrics().rollout_leader(held);
        if !held {
            continue;
        }
        let active = match store_rollouts::active(state.store()).await {
            Ok(active) => active,
            Err(error) => {
                tracing::warn!(%error, "rollouts not read");
                continue;
            }
        };
        state.metrics().rollouts_active(active.len());
        for rollout in active {
            let id = rollout.id.clone();
            if let Err(error) = advance(&state, rollout, &holder).await {
                tracing::warn!(rollout = %id, %error, "rollout not advanced; retried next tick");
            }
        }
        if now_ms() - last_prune > 60_000 {
            last_prune = now_ms();
            let _ = traffic::prune(state.store(), last_prune - TRAFFIC_KEPT_MS).await;
        }
    }
    let _ = store_rollouts::release_lease(state.store(), LEASE, &holder).await;
}

/// One rollout, one tick.
async fn advance(state: &AppState, mut rollout: Rollout, holder: &str) -> ApiResult<()> {
    let plan: RolloutPlan = serde_json::from_str(&rollout.plan)
        .map_err(|e| ApiError::Internal(format!("rollout plan: {e}")))?;
    let mut progress: RolloutProgress = serde_json::from_str(&rollout.progress)
        .map_err(|e| ApiError::Internal(format!("rollout progress: {e}")))?;
    progress.driver = Some(holder.to_owned());
    let actor = format!("driver:{holder}");
    let mut events: Vec<(&str, String)> = Vec::new();

    if let Some(command) = rollout.command.as_deref().and_then(Command::parse) {
        match command {
            Command::Abort => {
                roll_back(state, &rollout, &mut progress).await?;
                rollout.status = store_rollouts::ABORTED.to_owned();
                rollout.reason = Some("aborted by a user".to_owned());
                events.push(("aborted", "previous revisions restored".to_owned()));
            }
            Command::Pause if rollout.status == store_rollouts::RUNNING => {
                rollout.status = store_rollouts::PAUSED.to_owned();
                events.push(("paused", String::new()));
            }
            Command::Resume if rollout.status == store_rollouts::PAUSED => {
                rollout.status = store_rollouts::RUNNING.to_owned();
                if let Some(step) = progress.steps.get_mut(progress.current_step)
                    && step.started_at.is_some()
                {
                    // The window starts again: what was measured before the pause is old.
                    step.started_at = Some(now_ms());
                }
                events.push(("resumed", String::new()));
            }
            Command::Promote => {
                let i = progress.current_step;
                // A step promoted before it was applied is applied first: the plan's
                // environments must still end with the revision.
                if progress.steps.get(i).is_some_and(|s| !s.applied()) {
                    apply_step(state, &plan, &rollout, &mut progress).await?;
                }
                if let Some(step) = progress.steps.get_mut(i) {
                    step.status = step_status::PROMOTED.to_owned();
                    step.ended_at = Some(now_ms());
                    step.verdict = Some("promoted by a user".to_owned());
                    events.push(("promoted", format!("step {i}")));
                    next_step(state, &plan, &mut rollout, &mut progress, &mut events).await?;
                }
            }
            Command::Pause | Command::Resume => {}
        }
        return save(state, rollout, progress, &actor, events).await;
    }
    if rollout.status != store_rollouts::RUNNING {
        return Ok(());
    }
    let i = progress.current_step;
    let Some(step) = plan.steps.get(i) else {
        return save(state, rollout, progress, &actor, events).await;
    };
    if !progress.steps[i].applied() {
        apply_step(state, &plan, &rollout, &mut progress).await?;
        events.push((
            "step-applied",
            format!("step {i}: {} at {} %", step.environment, step.share()),
        ));
        return save(state, rollout, progress, &actor, events).await;
    }
    let Some(started_at) = progress.steps[i].started_at else {
        if window_opens(state, &step.environment, &progress.steps[i]).await? {
            progress.steps[i].started_at = Some(now_ms());
            return save(state, rollout, progress, &actor, events).await;
        }
        return Ok(());
    };
    let new = Measured::from(
        &traffic::totals(
            state.store(),
            &step.environment,
            &rollout.api_id,
            &rollout.revision_id,
            started_at,
        )
        .await?,
    );
    let previous_revision = progress
        .environments
        .iter()
        .find(|e| e.environment == step.environment)
        .and_then(|e| e.previous_revision_id.clone())
        .filter(|p| step.share() < 100 && *p != rollout.revision_id);
    let previous = match &previous_revision {
        Some(previous) => Some(Measured::from(
            &traffic::totals(
                state.store(),
                &step.environment,
                &rollout.api_id,
                previous,
                started_at,
            )
            .await?,
        )),
        None => None,
    };
    let elapsed = elapsed_secs(started_at);
    let mut verdict = rollout::analyse(step, elapsed, &new, previous.as_ref());
    let external = match &plan.analysis.prometheus {
        // Asked once the gateways saw enough calls: before that there is nothing to judge.
        Some(prometheus) if new.requests >= step.min_requests => {
            let context = QueryContext {
                api_id: &rollout.api_id,
                revision: &rollout.revision_id,
                previous_revision: previous_revision.as_deref().unwrap_or_default(),
                environment: &step.environment,
                window_secs: elapsed,
            };
            let measured = if state.may_query_prometheus(&prometheus.url) {
                rollout_prometheus::measure(prometheus, &context).await
            } else {
                // Listed when the rollout started, no longer since a restart.
                gantry_model::rollout::ExternalMeasured {
                    problem: Some(format!(
                        "'{}' is no longer a Prometheus this control plane may query \
                         (--rollout-prometheus-url)",
                        prometheus.url
                    )),
                    ..Default::default()
                }
            };
            verdict = rollout::with_external(step, elapsed, verdict, &measured);
            Some(measured)
        }
        _ => None,
    };
    let mine = &mut progress.steps[i];
    mine.new_revision = Some(new);
    mine.previous_revision = previous;
    if external.is_some() {
        mine.prometheus = external;
    }
    match verdict {
        Verdict::Wait(why) => mine.verdict = Some(why),
        Verdict::Pass => {
            mine.status = step_status::PASSED.to_owned();
            mine.ended_at = Some(now_ms());
            mine.verdict = Some("passed".to_owned());
            events.push(("step-passed", format!("step {i}: {}", step.environment)));
            next_step(state, &plan, &mut rollout, &mut progress, &mut events).await?;
        }
        Verdict::Fail(why) => {
            mine.status = step_status::FAILED.to_owned();
            mine.ended_at = Some(now_ms());
            mine.verdict = Some(why.clone());
            roll_back(state, &rollout, &mut progress).await?;
            rollout.status = store_rollouts::ROLLED_BACK.to_owned();
            rollout.reason = Some(format!("step {i} ({}): {why}", step.environment));
            events.push((
                "rolled-back",
                format!("step {i} ({}): {why}", step.environment),
            ));
        }
    }
    save(state, rollout, progress, &actor, events).await
}

/// Moves past the current step; after the last, the revision replaces the previous one
/// everywhere the rollout went and the rollout succeeds.
async fn next_step(
    state: &AppState,
    plan: &RolloutPlan,
    rollout: &mut Rollout,
    progress: &mut RolloutProgress,
    events: &mut Vec<(&str, String)>,
) -> ApiResult<()> {
    progress.current_step += 1;
    if progress.current_step < plan.steps.len() {
        return Ok(());
    }
    for env in &progress.environments {
        canaries::clear(state.store(), &rollout.api_id, &env.environment).await?;
        apis::deploy(
            state.store(),
            &rollout.api_id,
            &rollout.revision_id,
            &env.environment,
            &env.vhost,
            env.display_on_devportal,
        )
        .await?;
    }
    state.sync_environments().await?;
    rollout.status = store_rollouts::SUCCEEDED.to_owned();
    events.push((
        "succeeded",
        format!(
            "revision {} serves {}",
            rollout.revision_id,
            progress
                .environments
                .iter()
                .map(|e| e.environment.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    ));
    Ok(())
}

/// Puts the current step's configuration in place: a canary at the step's weight beside
/// the previous revision, or the revision itself when the step takes 100 % (or nothing was
/// deployed there before).
async fn apply_step(
    state: &AppState,
    plan: &RolloutPlan,
    rollout: &Rollout,
    progress: &mut RolloutProgress,
) -> ApiResult<()> {
    let i = progress.current_step;
    let step = &plan.steps[i];
    if !progress
        .environments
        .iter()
        .any(|e| e.environment == step.environment)
    {
        let current = apis::list_deployments(state.store(), &rollout.api_id)
            .await?
            .into_iter()
            .find(|d| d.environment == step.environment);
        let vhost = match &current {
            Some(d) => d.vhost.clone(),
            None => gantry_store::environments::find_by_name(state.store(), &step.environment)
                .await?
                .and_then(|e| e.vhosts.first().cloned())
                .unwrap_or_else(|| "localhost".to_owned()),
        };
        progress.environments.push(TouchedEnvironment {
            environment: step.environment.clone(),
            previous_revision_id: current.as_ref().map(|d| d.revision_id.clone()),
            vhost,
            display_on_devportal: current.is_none_or(|d| d.display_on_devportal != 0),
        });
    }
    let Some(env) = progress
        .environments
        .iter()
        .find(|e| e.environment == step.environment)
    else {
        return Ok(());
    };
    let beside = env
        .previous_revision_id
        .as_ref()
        .filter(|p| **p != rollout.revision_id);
    if step.share() < 100 && beside.is_some() {
        canaries::set(
            state.store(),
            &rollout.api_id,
            &step.environment,
            &rollout.revision_id,
            step.share(),
            &plan.stickiness,
        )
        .await?;
    } else {
        canaries::clear(state.store(), &rollout.api_id, &step.environment).await?;
        apis::deploy(
            state.store(),
            &rollout.api_id,
            &rollout.revision_id,
            &step.environment,
            &env.vhost,
            env.display_on_devportal,
        )
        .await?;
    }
    let published = match state.sync_environments().await?.get(&step.environment) {
        Some(version) => *version,
        // Nothing changed (a step redone): the version in place carries it.
        None => gantry_store::environments::find_by_name(state.store(), &step.environment)
            .await?
            .map_or(0, |e| u64::try_from(e.config_version).unwrap_or(0)),
    };
    let mine = &mut progress.steps[i];
    mine.status = step_status::RUNNING.to_owned();
    mine.published_version = Some(published);
    mine.published_at = Some(now_ms());
    mine.started_at = None;
    Ok(())
}

/// Whether a step's window opens now: every gateway of its environment acknowledged the
/// configuration carrying it (each sends what it counted before that configuration first,
/// so the window holds only the step's calls), or [`ACK_WAIT_MS`] went by (a gateway that
/// does not acknowledge does not hold the rollout up).
async fn window_opens(
    state: &AppState,
    environment: &str,
    step: &super::rollouts::StepProgress,
) -> ApiResult<bool> {
    let waited = now_ms() - step.published_at.unwrap_or(0);
    let version = i64::try_from(step.published_version.unwrap_or(0)).unwrap_or(i64::MAX);
    Ok(waited >= ACK_WAIT_MS
        || gantry_store::gateways::all_applied(state.store(), environment, version).await?)
}

/// Restores every environment the rollout touched: canary gone, the previous revision
/// deployed again (or the API undeployed where it was not deployed before).
async fn roll_back(
    state: &AppState,
    rollout: &Rollout,
    progress: &mut RolloutProgress,
) -> ApiResult<()> {
    for env in &progress.environments {
        canaries::clear(state.store(), &rollout.api_id, &env.environment).await?;
        match &env.previous_revision_id {
            Some(previous) => {
                apis::deploy(
                    state.store(),
                    &rollout.api_id,
                    previous,
                    &env.environment,
                    &env.vhost,
                    env.display_on_devportal,
                )
                .await?;
            }
            None => match apis::undeploy(
                state.store(),
                &rollout.api_id,
                &rollout.revision_id,
                &env.environment,
            )
            .await
            {
                Ok(()) | Err(gantry_store::StoreError::NotFound) => {}
                Err(e) => return Err(e.into()),
            },
        }
    }
    state.sync_environments().await?;
    for step in &mut progress.steps {
        if step.status == step_status::PENDING || step.status == step_status::RUNNING {
            step.status = step_status::CANCELLED.to_owned();
        }
    }
    Ok(())
}

/// Saves (compare-and-set: a rollout changed meanwhile is left for the next tick) with
/// its events, in one transaction: whoever reads the new status reads why too.
async fn save(
    state: &AppState,
    mut rollout: Rollout,
    progress: RolloutProgress,
    actor: &str,
    events: Vec<(&str, String)>,
) -> ApiResult<()> {
    rollout.progress = serde_json::to_string(&progress).unwrap_or_default();
    let events: Vec<NewEvent<'_>> = events
        .iter()
        .map(|(kind, detail)| NewEvent {
            actor,
            kind,
            detail,
        })
        .collect();
    if store_rollouts::save(state.store(), &rollout, &events).await? {
        recorded(state, &rollout.id, &events);
    }
    Ok(())
}
