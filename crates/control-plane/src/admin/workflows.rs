//! Admin REST API v4, approval workflows as WSO2's: `GET /workflows` (pending requests,
//! `workflowType` filter, paged), `GET /workflows/{externalWorkflowRef}`, and
//! `POST /workflows/update-workflow-status?workflowReferenceId=` with WSO2's `Workflow`
//! body (`APPROVED` / `REJECTED`, a description kept as the decision's comment). Plus
//! Gantry's `POST /workflows/callback/{externalWorkflowRef}` for external approvers:
//! anonymous, but refused (401) unless signed with the shared secret.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use gantry_store::workflows::{self as store, Workflow};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::extract::{JsonBody, QueryParams, Scoped};
use crate::rest_scopes;
use crate::service::workflow_webhook;
use crate::service::workflows::{self, Decider, Decision, Deferred, WorkflowType};
use crate::wire::{Paging, list_envelope, rfc3339};

/// Workflow routes under `/api/am/admin/v4`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/workflows", get(list))
        .route("/workflows/update-workflow-status", post(update_status))
        .route("/workflows/callback/{reference}", post(callback))
        .route("/workflows/{reference}", get(get_one))
}

/// WSO2's `WorkflowInfo`, with the audit trail in `properties`.
pub fn info_json(workflow: &Workflow) -> Value {
    let workflow_type = WorkflowType::parse(&workflow.workflow_type);
    let mut properties = match serde_json::from_str::<Deferred>(&workflow.payload) {
        Ok(deferred) => deferred.properties(),
        Err(_) => json!({}),
    };
    if let Some(map) = properties.as_object_mut() {
        map.insert("requestedBy".into(), json!(workflow.requested_by));
        map.insert("requestedTime".into(), json!(rfc3339(workflow.created_at)));
        map.insert("decidedBy".into(), json!(workflow.decided_by));
        map.insert(
            "decidedTime".into(),
            json!(workflow.decided_at.map(rfc3339)),
        );
        map.insert("comment".into(), json!(workflow.comment));
    }
    json!({
        "workflowType": workflow_type.map_or_else(|| workflow.workflow_type.clone(), |t| t.info_name().to_owned()),
        "workflowStatus": workflow.status,
        "createdTime": rfc3339(workflow.created_at),
        "updatedTime": rfc3339(workflow.decided_at.unwrap_or(workflow.created_at)),
        "referenceId": workflow.id,
        "properties": properties,
        "description": workflow.description,
    })
}

/// WSO2's `WorkflowResponse` for an action held for approval: `workflowStatus: CREATED`,
/// `jsonPayload` naming the request and the resource.
pub fn accepted(workflow: &Workflow, location: Option<&str>, subject: Value) -> Response {
    let mut payload = Map::new();
    payload.insert("workflowReferenceId".into(), json!(workflow.id));
    payload.insert("workflowType".into(), json!(workflow.workflow_type));
    if let Value::Object(extra) = subject {
        payload.extend(extra);
    }
    let mut headers = HeaderMap::new();
    if let Some(v) = location.and_then(|l| HeaderValue::from_str(l).ok()) {
        headers.insert(header::LOCATION, v);
    }
    (
        StatusCode::ACCEPTED,
        headers,
        axum::Json(json!({
            "workflowStatus": store::STATUS_CREATED,
            "jsonPayload": Value::Object(payload).to_string(),
        })),
    )
        .into_response()
}

/// The `workflowType` filter (paging is read separately: serde's `flatten` would hand
/// `limit` to `Paging` as a string).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TypeFilter {
    workflow_type: Option<String>,
}

/// The `workflowType` filter: WSO2's names, with or without `AM_`.
fn parse_type(raw: &str) -> ApiResult<WorkflowType> {
    WorkflowType::parse(raw).ok_or_else(|| {
        let names: Vec<&str> = WorkflowType::ALL.iter().map(|t| t.as_str()).collect();
        ApiError::BadRequest(format!(
            "workflowType: '{raw}' is not a workflow type Gantry holds for approval (one of: {})",
            names.join(", ")
        ))
    })
}

async fn list(
    State(state): State<AppState>,
    _: Scoped<rest_scopes::WorkflowView>,
    QueryParams(paging): QueryParams<Paging>,
    QueryParams(filter): QueryParams<TypeFilter>,
) -> ApiResult<axum::Json<Value>> {
    let (offset, limit) = paging.resolve()?;
    let workflow_type = filter
        .workflow_type
        .as_deref()
        .map(parse_type)
        .transpose()?;
    let (rows, total) = store::list(
        state.store(),
        store::STATUS_CREATED,
        workflow_type.map(WorkflowType::as_str),
        offset,
        limit,
    )
    .await?;
    let list: Vec<Value> = rows.iter().map(info_json).collect();
    let mut body = list_envelope(list, offset, limit, total, "/workflows");
    // WSO2's WorkflowList has next/previous at the top level.
    body["next"] = body["pagination"]["next"].clone();
    body["previous"] = body["pagination"]["previous"].clone();
    Ok(axum::Json(body))
}

async fn get_one(
    State(state): State<AppState>,
    _: Scoped<rest_scopes::WorkflowView>,
    Path(reference): Path<String>,
) -> ApiResult<axum::Json<Value>> {
    let workflow = workflows::load(&state, &reference).await?;
    Ok(axum::Json(info_json(&workflow)))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct StatusQuery {
    workflow_reference_id: Option<String>,
}

/// WSO2's `Workflow` body.
#[derive(Debug, Deserialize)]
pub(crate) struct WorkflowBody {
    status: Option<String>,
    #[serde(default)]
    attributes: Map<String, Value>,
    description: Option<String>,
}

impl WorkflowBody {
    fn decision(&self) -> ApiResult<Decision> {
        match self.status.as_deref() {
            Some("APPROVED") => Ok(Decision::Approve),
            Some("REJECTED") => Ok(Decision::Reject),
            Some(other) => Err(ApiError::BadRequest(format!(
                "status: '{other}' is not APPROVED or REJECTED"
            ))),
            None => Err(ApiError::BadRequest(
                "status: is required (APPROVED or REJECTED)".into(),
            )),
        }
    }

    fn comment(&self) -> ApiResult<&str> {
        let comment = self.description.as_deref().unwrap_or("");
        match comment.chars().count() > 1000 {
            true => Err(ApiError::BadRequest(
                "description: must be at most 1000 characters".into(),
            )),
            false => Ok(comment),
        }
    }

    /// The body as answered: WSO2's `Workflow`.
    fn answer(&self, decision: Decision) -> Value {
        json!({
            "status": decision.as_str(),
            "attributes": self.attributes,
            "description": self.description.clone().unwrap_or_default(),
        })
    }
}

async fn update_status(
    State(state): State<AppState>,
    Scoped(user, _): Scoped<rest_scopes::WorkflowApprove>,
    QueryParams(query): QueryParams<StatusQuery>,
    JsonBody(body): JsonBody<WorkflowBody>,
) -> ApiResult<axum::Json<Value>> {
    let reference = query.workflow_reference_id.ok_or_else(|| {
        ApiError::BadRequest("workflowReferenceId: query parameter is required".into())
    })?;
    let decision = body.decision()?;
    workflows::decide(
        &state,
        &reference,
        decision,
        Decider::User(&user.username),
        body.comment()?,
    )
    .await?;
    Ok(axum::Json(body.answer(decision)))
}

/// An external approver's answer: the `Workflow` body, signed.
async fn callback(
    State(state): State<AppState>,
    Path(reference): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> ApiResult<axum::Json<Value>> {
    let signature = headers
        .get(gantry_keys::webhook_signature::HEADER)
        .and_then(|v| v.to_str().ok());
    workflow_webhook::verify_callback(&state, signature, &body)?;
    let parsed: WorkflowBody = serde_json::from_slice(&body)
        .map_err(|e| ApiError::BadRequest(format!("Invalid request body: {e}")))?;
    let decision = parsed.decision()?;
    let workflow = workflows::load(&state, &reference).await?;
    let has_approver = WorkflowType::parse(&workflow.workflow_type)
        .is_some_and(|t| state.workflows().webhook(t).is_some());
    if !has_approver {
        return Err(ApiError::Forbidden(format!(
            "{} requests have no external approver; decide them in the Admin portal or REST API",
            workflow.workflow_type
        )));
    }
    workflows::decide(
        &state,
        &reference,
        decision,
        Decider::Webhook,
        parsed.comment()?,
    )
    .await?;
    Ok(axum::Json(parsed.answer(decision)))
}
