//! Admin portal: the approval inbox. Requests waiting for a decision (oldest first, by
//! type), approved or rejected with a comment through [`service::workflows::decide`] — the
//! Admin REST API's own operation, so the requester-cannot-decide rule, the one-decision
//! rule across replicas and the deferred action are the same — and, read-only, which
//! workflow types this deployment holds for approval (its configuration).

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::routing::{get, post};
use gantry_store::workflows as store;
use serde::Deserialize;

use super::session::{Portal, User, UserForm};
use super::{Nav, Pager, PortalError, paginate, render, see_other, when};
use crate::AppState;
use crate::service::workflows::{self, Decider, Decision, WorkflowType};

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/workflows", get(inbox))
        .route("/admin/workflows/{id}/decide", post(decide))
}

struct TypeRow {
    name: &'static str,
    title: &'static str,
    enabled: bool,
    approver: Option<String>,
}

struct RequestRow {
    id: String,
    title: &'static str,
    kind: String,
    description: String,
    requested_by: String,
    requested: String,
    own: bool,
}

#[derive(Template)]
#[template(path = "portal/admin_workflows.html")]
struct InboxPage {
    nav: Nav,
    types: Vec<TypeRow>,
    requests: Vec<RequestRow>,
    filter: String,
    pager: Pager,
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct InboxQuery {
    /// A workflow type to show only (the pager's `q`).
    #[serde(default)]
    q: String,
    #[serde(default)]
    page: Option<i64>,
}

async fn inbox(
    State(state): State<AppState>,
    User(user): User,
    Query(query): Query<InboxQuery>,
) -> Result<Response, PortalError> {
    user.require(Portal::Admin)?;
    let settings = state.workflows();
    let types = WorkflowType::ALL
        .into_iter()
        .map(|t| TypeRow {
            name: t.as_str(),
            title: t.title(),
            enabled: settings.requires(t),
            approver: settings.webhook(t).map(str::to_owned),
        })
        .collect();
    let filter = WorkflowType::parse(&query.q);
    let type_name = filter.map(WorkflowType::as_str);
    let (_, total) = store::list(state.store(), store::STATUS_CREATED, type_name, 0, 1).await?;
    let pager = paginate(
        "/admin/workflows",
        type_name.unwrap_or(""),
        query.page,
        total,
    );
    let (rows, _) = store::list(
        state.store(),
        store::STATUS_CREATED,
        type_name,
        pager.offset(),
        super::PAGE_SIZE,
    )
    .await?;
    let requests = rows
        .into_iter()
        .map(|w| RequestRow {
            title: WorkflowType::parse(&w.workflow_type).map_or("Request", WorkflowType::title),
            own: w.requested_by.eq_ignore_ascii_case(&user.username),
            id: w.id,
            kind: w.workflow_type,
            description: w.description,
            requested_by: w.requested_by,
            requested: when(w.created_at),
        })
        .collect();
    let page = InboxPage {
        nav: Nav::new(Portal::Admin, &user),
        types,
        requests,
        pager,
        filter: type_name.unwrap_or("").to_owned(),
    };
    render(&page)
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct DecideForm {
    #[serde(default)]
    decision: String,
    #[serde(default)]
    comment: String,
}

async fn decide(
    State(state): State<AppState>,
    Path(id): Path<String>,
    UserForm { user, form }: UserForm<DecideForm>,
) -> Result<Response, PortalError> {
    user.require(Portal::Admin)?;
    let decision = match form.decision.as_str() {
        "approve" => Decision::Approve,
        "reject" => Decision::Reject,
        other => {
            return Err(PortalError::BadRequest(format!(
                "'{other}' is not approve or reject."
            )));
        }
    };
    let comment: String = form.comment.trim().chars().take(1000).collect();
    let decided = workflows::decide(
        &state,
        &id,
        decision,
        Decider::User(&user.username),
        &comment,
    )
    .await?;
    let title = WorkflowType::parse(&decided.workflow_type).map_or("Request", WorkflowType::title);
    let verb = match decision {
        Decision::Approve => "approved",
        Decision::Reject => "rejected",
    };
    see_other(
        &user,
        "/admin/workflows",
        &format!("{title} of {} {verb}.", decided.requested_by),
    )
    .await
}
