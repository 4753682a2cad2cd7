//! External approvers of workflows (a ticketing system): each new request of a type with a
//! webhook is POSTed to its URL, signed with the shared secret
//! ([`gantry_keys::webhook_signature`]), with the callback URL the approver answers on. The
//! answer comes back as a signed `POST /api/am/admin/v4/workflows/callback/{ref}`
//! (`admin::workflows::callback`), checked by [`verify_callback`]: unsigned, stale or
//! forged callbacks are refused with 401.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use gantry_keys::webhook_signature::{self, SignatureError};
use gantry_store::workflows::Workflow;
use serde_json::json;

use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::service::workflows::{Deferred, WorkflowType};
use crate::wire::rfc3339;

/// How long an approver has to accept a request.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);
/// How far a callback's signed timestamp may be from now (replays older than this fail).
pub const CALLBACK_TOLERANCE_SECS: u64 = 300;

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

/// Sends `workflow` to its type's approver, if it has one, in a task that ends with the
/// process; a failed delivery is logged (the request stays in the Admin inbox).
pub fn notify(
    state: &AppState,
    workflow_type: WorkflowType,
    workflow: &Workflow,
    deferred: &Deferred,
) {
    let settings = state.workflows();
    let (Some(url), Some(secret)) = (settings.webhook(workflow_type), settings.secret()) else {
        return;
    };
    let body = json!({
        "workflowReferenceId": workflow.id,
        "workflowType": workflow_type.as_str(),
        "description": workflow.description,
        "requestedBy": workflow.requested_by,
        "createdTime": rfc3339(workflow.created_at),
        "properties": deferred.properties(),
        "callbackUrl": settings.callback_url(&workflow.id),
    })
    .to_string();
    let signature = webhook_signature::sign(secret, unix_now(), body.as_bytes());
    let url = url.to_owned();
    let id = workflow.id.clone();
    let shutdown = state.shutdown_token().clone();
    tokio::spawn(async move {
        let send = async {
            let client = reqwest::Client::builder()
                .timeout(SEND_TIMEOUT)
                .redirect(reqwest::redirect::Policy::none())
                .build()?;
            client
                .post(&url)
                .header("content-type", "application/json")
                .header(webhook_signature::HEADER, signature)
                .body(body)
                .send()
                .await?
                .error_for_status()
        };
        tokio::select! {
            () = shutdown.cancelled() => {}
            sent = send => match sent {
                Ok(response) => tracing::info!(workflow = %id, %url, status = response.status().as_u16(), "approver notified"),
                Err(error) => tracing::warn!(workflow = %id, %url, %error, "approver could not be notified; the request stays in the Admin inbox"),
            },
        }
    });
}

/// 401 unless `signature` signs `body` with the configured secret, recently.
pub fn verify_callback(state: &AppState, signature: Option<&str>, body: &[u8]) -> ApiResult<()> {
    let Some(secret) = state.workflows().secret() else {
        return Err(ApiError::NotFound(
            "No external workflow approver is configured".into(),
        ));
    };
    webhook_signature::verify(secret, signature, body, unix_now(), CALLBACK_TOLERANCE_SECS).map_err(
        |e: SignatureError| {
            tracing::warn!(error = %e, "workflow callback refused");
            ApiError::Unauthenticated(format!(
                "{e}: sign the body as {}: t=<unix seconds>,v1=<hex HMAC-SHA256 of \"<t>.<body>\">",
                webhook_signature::HEADER
            ))
        },
    )
}
