//! Approval workflows (WSO2's `AM_WORKFLOWS`): requests held back until an administrator
//! (or an external approver over a signed callback) approves or rejects them. A row is the
//! request, the deferred action (`payload`, JSON text) and its audit trail; every
//! control-plane replica sharing the database sees the same pending requests.
//!
//! A decision is taken once: [`decide`] moves a row out of `CREATED` only if it is still
//! there, so two approvers (on two replicas) cannot both act on one request.

use crate::{Result, Store, StoreError, new_id, now_ms};

/// Waiting for a decision (WSO2's `CREATED`).
pub const STATUS_CREATED: &str = "CREATED";
/// Approved: the deferred action was performed.
pub const STATUS_APPROVED: &str = "APPROVED";
/// Rejected: the deferred action was rolled back.
pub const STATUS_REJECTED: &str = "REJECTED";

/// A stored workflow request.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Workflow {
    /// UUID: WSO2's external workflow reference.
    pub id: String,
    /// `AM_APPLICATION_CREATION`, `AM_SUBSCRIPTION_CREATION`, …
    pub workflow_type: String,
    /// [`STATUS_CREATED`], [`STATUS_APPROVED`] or [`STATUS_REJECTED`].
    pub status: String,
    /// What the request is about: an application, subscription, API or user name.
    pub reference: String,
    /// The user who asked.
    pub requested_by: String,
    /// One line for the approver.
    pub description: String,
    /// The deferred action, JSON text.
    pub payload: String,
    /// Epoch ms.
    pub created_at: i64,
    /// The user (or `webhook`) who decided.
    pub decided_by: Option<String>,
    /// Epoch ms.
    pub decided_at: Option<i64>,
    /// The approver's comment.
    pub comment: Option<String>,
}

macro_rules! columns {
    () => {
        "id, workflow_type, status, reference, requested_by, description, payload, created_at, \
         decided_by, decided_at, comment"
    };
}

/// A new request.
#[derive(Debug, Clone, Copy)]
pub struct NewWorkflow<'a> {
    /// Its type.
    pub workflow_type: &'a str,
    /// What it is about.
    pub reference: &'a str,
    /// Who asks.
    pub requested_by: &'a str,
    /// One line for the approver.
    pub description: &'a str,
    /// The deferred action, JSON text.
    pub payload: &'a str,
}

/// Records a pending request.
pub async fn create(store: &Store, new: NewWorkflow<'_>) -> Result<Workflow> {
    let workflow = Workflow {
        id: new_id(),
        workflow_type: new.workflow_type.to_owned(),
        status: STATUS_CREATED.to_owned(),
        reference: new.reference.to_owned(),
        requested_by: new.requested_by.to_owned(),
        description: new.description.to_owned(),
        payload: new.payload.to_owned(),
        created_at: now_ms(),
        decided_by: None,
        decided_at: None,
        comment: None,
    };
    sqlx::query(concat!(
        "INSERT INTO workflows (",
        columns!(),
        ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, NULL, NULL, NULL)"
    ))
    .bind(&workflow.id)
    .bind(&workflow.workflow_type)
    .bind(&workflow.status)
    .bind(&workflow.reference)
    .bind(&workflow.requested_by)
    .bind(&workflow.description)
    .bind(&workflow.payload)
    .bind(workflow.created_at)
    .execute(store.pool())
    .await?;
    Ok(workflow)
}

/// Request `id`; `NotFound` otherwise.
pub async fn get(store: &Store, id: &str) -> Result<Workflow> {
    sqlx::query_as::<_, Workflow>(concat!(
        "SELECT ",
        columns!(),
        " FROM workflows WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(store.pool())
    .await?
    .ok_or(StoreError::NotFound)
}

/// A page of requests in `status`, of `workflow_type` when given, oldest first, and how
/// many there are.
pub async fn list(
    store: &Store,
    status: &str,
    workflow_type: Option<&str>,
    offset: i64,
    limit: i64,
) -> Result<(Vec<Workflow>, i64)> {
    let total: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM workflows WHERE status = $1 AND ($2 = '' OR workflow_type = $2)",
    )
    .bind(status)
    .bind(workflow_type.unwrap_or(""))
    .fetch_one(store.pool())
    .await?;
    let rows = sqlx::query_as::<_, Workflow>(concat!(
        "SELECT ",
        columns!(),
        " FROM workflows WHERE status = $1 AND ($2 = '' OR workflow_type = $2) \
         ORDER BY created_at, id LIMIT $3 OFFSET $4"
    ))
    .bind(status)
    .bind(workflow_type.unwrap_or(""))
    .bind(limit)
    .bind(offset)
    .fetch_all(store.pool())
    .await?;
    Ok((rows, total))
}

/// The most recent request of `workflow_type` about `reference`, whatever its status.
pub async fn latest_for(
    store: &Store,
    workflow_type: &str,
    reference: &str,
) -> Result<Option<Workflow>> {
    Ok(sqlx::query_as::<_, Workflow>(concat!(
        "SELECT ",
        columns!(),
        " FROM workflows WHERE reference = $1 AND workflow_type = $2 \
         ORDER BY created_at DESC, id DESC LIMIT 1"
    ))
    .bind(reference)
    .bind(workflow_type)
    .fetch_optional(store.pool())
    .await?)
}

/// The pending requests of `workflow_type` about `reference`, oldest first.
pub async fn pending_for(
    store: &Store,
    workflow_type: &str,
    reference: &str,
) -> Result<Vec<Workflow>> {
    Ok(sqlx::query_as::<_, Workflow>(concat!(
        "SELECT ",
        columns!(),
        " FROM workflows WHERE reference = $1 AND workflow_type = $2 AND status = 'CREATED' \
         ORDER BY created_at, id"
    ))
    .bind(reference)
    .bind(workflow_type)
    .fetch_all(store.pool())
    .await?)
}

/// Takes the decision on request `id`: `status` ([`STATUS_APPROVED`] or
/// [`STATUS_REJECTED`]) by `by` with `comment`, only if it is still pending. `NotFound` for
/// an unknown id, `Conflict` (naming its status) for one decided already.
pub async fn decide(
    store: &Store,
    id: &str,
    status: &str,
    by: &str,
    comment: &str,
) -> Result<Workflow> {
    let done = sqlx::query(
        "UPDATE workflows SET status = $1, decided_by = $2, decided_at = $3, comment = $4 \
         WHERE id = $5 AND status = 'CREATED'",
    )
    .bind(status)
    .bind(by)
    .bind(now_ms())
    .bind(comment)
    .bind(id)
    .execute(store.pool())
    .await?;
    let workflow = get(store, id).await?;
    if done.rows_affected() == 0 {
        return Err(StoreError::Conflict(format!(
            "the workflow was {} already",
            workflow.status
        )));
    }
    Ok(workflow)
}

/// Puts a decided request back to pending (its deferred action could not be performed).
pub async fn reopen(store: &Store, id: &str) -> Result<()> {
    sqlx::query(
        "UPDATE workflows SET status = 'CREATED', decided_by = NULL, decided_at = NULL, \
         comment = NULL WHERE id = $1",
    )
    .bind(id)
    .execute(store.pool())
    .await?;
    Ok(())
}

/// Rejects every pending request about `reference` (its subject is gone), as `by`.
pub async fn withdraw_pending_for(store: &Store, reference: &str, by: &str) -> Result<u64> {
    withdraw(
        store,
        reference,
        None,
        by,
        "withdrawn: the subject was deleted",
    )
    .await
}

/// Rejects the pending requests of `workflow_type` about `reference` (the requester took
/// them back), as `by`; how many there were.
pub async fn withdraw_pending_of_type(
    store: &Store,
    workflow_type: &str,
    reference: &str,
    by: &str,
) -> Result<u64> {
    withdraw(
        store,
        reference,
        Some(workflow_type),
        by,
        "withdrawn by the requester's side",
    )
    .await
}

async fn withdraw(
    store: &Store,
    reference: &str,
    workflow_type: Option<&str>,
    by: &str,
    comment: &str,
) -> Result<u64> {
    let done = sqlx::query(
        "UPDATE workflows SET status = 'REJECTED', decided_by = $1, decided_at = $2, comment = $3 \
         WHERE reference = $4 AND ($5 = '' OR workflow_type = $5) AND status = 'CREATED'",
    )
    .bind(by)
    .bind(now_ms())
    .bind(comment)
    .bind(reference)
    .bind(workflow_type.unwrap_or(""))
    .execute(store.pool())
    .await?;
    Ok(done.rows_affected())
}
