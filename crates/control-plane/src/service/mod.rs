//! The control plane's domain operations: one function per thing a user can do (create an
//! API, deploy a revision, subscribe, generate keys, …), called by the REST edges
//! (`publisher/`, `devportal/`, `admin/`: WSO2 JSON) and by `portal/` (HTML forms) alike.
//!
//! An operation takes the [`AppState`](crate::AppState), the acting user where it matters
//! and typed inputs (already read from the request by the edge), checks what the domain
//! requires, writes the store, logs, and ends with
//! [`AppState::sync_environments`](crate::AppState::sync_environments) when gateways must
//! learn the change. It answers a typed result or an [`ApiError`](crate::error::ApiError);
//! the REST edges send that as WSO2's error body, the portal turns it into a page
//! (`From<ApiError> for PortalError`), rewording the few refusals its forms explain
//! differently. Request parsing, 404 wording of the edge's own lookups, JSON and HTML
//! stay at the edges.

pub mod ai_apis;
pub mod api_products;
pub mod apis;
pub mod applications;
pub mod import;
pub mod mcp_discovery;
pub mod mcp_servers;
pub mod mcp_tools;
pub mod revisions;
pub mod rollout_driver;
pub mod rollout_prometheus;
pub mod rollouts;
pub mod signup;
pub mod subscriptions;
pub mod workflow_webhook;
pub mod workflows;
