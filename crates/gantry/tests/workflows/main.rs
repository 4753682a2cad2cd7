//! Approval workflows end to end on the real binary, as WSO2 API Manager's: while a type is
//! switched on (`GANTRY_WORKFLOWS`), its action answers with WSO2's `WorkflowResponse`
//! (`CREATED`) and takes effect only once another administrator approves it over the
//! Admin REST API (`/workflows`, `update-workflow-status`); a rejection leaves nothing that
//! grants access. Gateways are the judge: a subscription waiting for approval gets 403, an
//! approved one 200. Also: the requester cannot decide its own request, two control
//! planes on one PostgreSQL share the pending requests, an external approver's callback
//! must be signed, and the configuration names an unknown type.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

mod approvers;
mod fixture;
mod portal;
mod types;
