//! Rollouts (`rollouts`, `rollout_events`, `leases`; migration 0020): the plan, its
//! progress and status, a command a user asked for and the driver has not taken yet, and
//! the audit trail. Progress is saved compare-and-set on `revision`, so a driver that lost
//! its lease (or raced a user's command) cannot overwrite newer state. Each change is
//! written in one transaction with the audit-trail entries that record it, so a reader
//! never sees a rollout's new status without the events that led there.

use crate::{Result, Store, new_id, now_ms};

/// Running its steps.
pub const RUNNING: &str = "RUNNING";
/// Stopped by a user; its current step starts again on resume.
pub const PAUSED: &str = "PAUSED";
/// Every step passed: the revision serves everywhere the plan named.
pub const SUCCEEDED: &str = "SUCCEEDED";
/// An analysis failed: the previous revisions were restored.
pub const ROLLED_BACK: &str = "ROLLED_BACK";
/// A user aborted it: the previous revisions were restored.
pub const ABORTED: &str = "ABORTED";

/// A stored rollout.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Rollout {
    /// UUID.
    pub id: String,
    /// The API.
    pub api_id: String,
    /// The revision rolled out.
    pub revision_id: String,
    /// [`RUNNING`], [`PAUSED`], [`SUCCEEDED`], [`ROLLED_BACK`] or [`ABORTED`].
    pub status: String,
    /// The plan, JSON text.
    pub plan: String,
    /// The progress, JSON text.
    pub progress: String,
    /// Why it ended (rolled back, aborted).
    pub reason: Option<String>,
    /// `promote`, `pause`, `resume` or `abort`, until the driver takes it.
    pub command: Option<String>,
    /// Who started it.
    pub created_by: String,
    /// Epoch ms.
    pub created_at: i64,
    /// Epoch ms.
    pub updated_at: i64,
    /// Bumped by every update (compare-and-set).
    pub revision: i64,
}

impl Rollout {
    /// Whether it is still running or paused.
    pub fn is_active(&self) -> bool {
        self.status == RUNNING || self.status == PAUSED
    }
}

macro_rules! columns {
    () => {
        "id, api_id, revision_id, status, plan, progress, reason, command, created_by, created_at, updated_at, revision"
    };
}

/// Stores a new rollout (status [`RUNNING`]) with its first audit-trail entries, unless
/// the API already has an active one (then `Conflict`).
pub async fn create(
    store: &Store,
    api_id: &str,
    revision_id: &str,
    plan: &str,
    progress: &str,
    created_by: &str,
    events: &[NewEvent<'_>],
) -> Result<Rollout> {
    let now = now_ms();
    let rollout = Rollout {
        id: new_id(),
        api_id: api_id.to_owned(),
        revision_id: revision_id.to_owned(),
        status: RUNNING.to_owned(),
        plan: plan.to_owned(),
        progress: progress.to_owned(),
        reason: None,
        command: None,
        created_by: created_by.to_owned(),
        created_at: now,
        updated_at: now,
        revision: 0,
    };
    let mut tx = store.begin_write().await?;
    let active: Option<(String,)> = sqlx::query_as(
        "SELECT id FROM rollouts WHERE api_id = $1 AND status IN ('RUNNING', 'PAUSED')",
    )
    .bind(api_id)
    .fetch_optional(&mut *tx)
    .await?;
    if let Some((id,)) = active {
        return Err(crate::StoreError::Conflict(format!(
            "rollout {id} of this API is still active"
        )));
    }
    sqlx::query(concat!(
        "INSERT INTO rollouts (",
        columns!(),
        ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
    ))
    .bind(&rollout.id)
    .bind(&rollout.api_id)
    .bind(&rollout.revision_id)
    .bind(&rollout.status)
    .bind(&rollout.plan)
    .bind(&rollout.progress)
    .bind(&rollout.reason)
    .bind(&rollout.command)
    .bind(&rollout.created_by)
    .bind(rollout.created_at)
    .bind(rollout.updated_at)
    .bind(rollout.revision)
    .execute(&mut *tx)
    .await?;
    insert_events(&mut tx, &rollout.id, events).await?;
    tx.commit().await?;
    Ok(rollout)
}

/// A rollout of `api_id` by id.
pub async fn get(store: &Store, api_id: &str, id: &str) -> Result<Option<Rollout>> {
    Ok(sqlx::query_as::<_, Rollout>(concat!(
        "SELECT ",
        columns!(),
        " FROM rollouts WHERE id = $1 AND api_id = $2"
    ))
    .bind(id)
    .bind(api_id)
    .fetch_optional(store.pool())
    .await?)
}

/// The rollouts of `api_id`, newest first.
pub async fn list(store: &Store, api_id: &str) -> Result<Vec<Rollout>> {
    Ok(sqlx::query_as::<_, Rollout>(concat!(
        "SELECT ",
        columns!(),
        " FROM rollouts WHERE api_id = $1 ORDER BY created_at DESC"
    ))
    .bind(api_id)
    .fetch_all(store.pool())
    .await?)
}

/// Every running or paused rollout, oldest first (the driver's work).
pub async fn active(store: &Store) -> Result<Vec<Rollout>> {
    Ok(sqlx::query_as::<_, Rollout>(concat!(
        "SELECT ",
        columns!(),
        " FROM rollouts WHERE status IN ('RUNNING', 'PAUSED') ORDER BY created_at"
    ))
    .fetch_all(store.pool())
    .await?)
}

/// Saves status, progress and reason and clears the command, if nothing changed the row
/// since `rollout.revision` was read, and adds `events` to its audit trail (both or
/// neither); whether it was saved.
pub async fn save(store: &Store, rollout: &Rollout, events: &[NewEvent<'_>]) -> Result<bool> {
    let mut tx = store.begin_write().await?;
    let done = sqlx::query(
        "UPDATE rollouts SET status = $1, progress = $2, reason = $3, command = NULL, \
         updated_at = $4, revision = revision + 1 WHERE id = $5 AND revision = $6",
    )
    .bind(&rollout.status)
    .bind(&rollout.progress)
    .bind(&rollout.reason)
    .bind(now_ms())
    .bind(&rollout.id)
    .bind(rollout.revision)
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() != 1 {
        return Ok(false);
    }
    insert_events(&mut tx, &rollout.id, events).await?;
    tx.commit().await?;
    Ok(true)
}

/// Leaves `command` for the driver, if the rollout is still active, with the audit-trail
/// entry `event` (both or neither); whether it was.
pub async fn command(store: &Store, id: &str, command: &str, event: NewEvent<'_>) -> Result<bool> {
    let mut tx = store.begin_write().await?;
    let done = sqlx::query(
        "UPDATE rollouts SET command = $1, updated_at = $2, revision = revision + 1 \
         WHERE id = $3 AND status IN ('RUNNING', 'PAUSED')",
    )
    .bind(command)
    .bind(now_ms())
    .bind(id)
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() != 1 {
        return Ok(false);
    }
    insert_events(&mut tx, id, &[event]).await?;
    tx.commit().await?;
    Ok(true)
}

/// One entry of a rollout's audit trail.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RolloutEvent {
    /// Epoch ms.
    pub at: i64,
    /// A user name, or `driver:<replica>`.
    pub actor: String,
    /// `started`, `step-applied`, `step-passed`, `promoted`, `paused`, …
    pub kind: String,
    /// Free text.
    pub detail: String,
}

/// An audit-trail entry, written with the change it records.
#[derive(Debug, Clone, Copy)]
pub struct NewEvent<'a> {
    /// A user name, or `driver:<replica>`.
    pub actor: &'a str,
    /// `started`, `step-applied`, `step-passed`, `promoted`, `paused`, …
    pub kind: &'a str,
    /// Free text.
    pub detail: &'a str,
}

/// Adds `events` to the audit trail of `rollout_id`, in order: one change's entries are
/// stamped a millisecond apart, so the trail (ordered by time) reads them back as written.
async fn insert_events(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    rollout_id: &str,
    events: &[NewEvent<'_>],
) -> Result<()> {
    let now = now_ms();
    for (at, event) in (now..).zip(events) {
        sqlx::query(
            "INSERT INTO rollout_events (rollout_id, at, actor, kind, detail) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(rollout_id)
        .bind(at)
        .bind(event.actor)
        .bind(event.kind)
        .bind(event.detail)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// The audit trail of `rollout_id`, oldest first.
pub async fn events(store: &Store, rollout_id: &str) -> Result<Vec<RolloutEvent>> {
    Ok(sqlx::query_as::<_, RolloutEvent>(
        "SELECT at, actor, kind, detail FROM rollout_events WHERE rollout_id = $1 ORDER BY at, kind",
    )
    .bind(rollout_id)
    .fetch_all(store.pool())
    .await?)
}

/// Takes or renews the lease `name` for `holder` until `ttl_ms` from now, if it is free,
/// expired or already `holder`'s; whether `holder` holds it now. One statement, so two
/// replicas asking at once cannot both win.
pub async fn hold_lease(store: &Store, name: &str, holder: &str, ttl_ms: i64) -> Result<bool> {
    let now = now_ms();
    let done = sqlx::query(
        "UPDATE leases SET holder = $1, expires_at = $2 WHERE name = $3 AND (holder = $1 OR expires_at < $4)",
    )
    .bind(holder)
    .bind(now + ttl_ms)
    .bind(name)
    .bind(now)
    .execute(store.pool())
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Gives the lease up (a clean shutdown), so another replica takes it at once.
pub async fn release_lease(store: &Store, name: &str, holder: &str) -> Result<()> {
    sqlx::query("UPDATE leases SET expires_at = 0 WHERE name = $1 AND holder = $2")
        .bind(name)
        .bind(holder)
        .execute(store.pool())
        .await?;
    Ok(())
}
