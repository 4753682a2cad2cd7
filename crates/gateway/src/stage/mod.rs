//! The stages of the request path, in the order `proxy::Proxy::stages` runs them:
//! target → route → CORS → SOAP action → deny (by API and address) → GraphQL (document
//! read, for GraphQL APIs) → authenticate → deny (by application and user) → revision (a
//! canary's share) → authorise (then GraphQL's own checks) → limit → WebSub hub (answers
//! itself) → WebSocket topics → forward (with mediate; `ai` instead for AI APIs) → relay
//! (GraphQL subscriptions: `graphql_ws`) → SSE events; an MCP server's requests leave after
//! the address check for `mcp`, which runs the same checks per JSON-RPC message. Each stage
//! is one module with one entry point that either hands the next stage
//! what it found or answers the request now (`Err(Answer)`). A new stage is a new module
//! and one line there. Stages read the compiled configuration (`compiled/`), never build it.

// A stage's `Err` is the response itself (128 bytes): refusals are the cold path, and
// boxing them would add an allocation to every 401, 404 or 429 to save a few copies.
#![allow(clippy::result_large_err)]

use http::Response;

use crate::respond::Body;

pub mod ai;
pub mod ai_usage;
pub mod authenticate;
pub mod authorise;
pub mod cors;
pub mod deny;
pub mod events;
pub mod forward;
pub mod graphql;
pub mod graphql_ws;
pub mod limit;
pub mod mcp;
pub mod mediate;
pub mod relay;
pub mod revision;
pub mod route;
pub mod soap;
pub mod sse;
pub mod target;
pub mod websocket;
pub mod websub;
pub mod ws_topics;

/// A response a stage gives instead of handing the request on.
pub type Answer = Response<Body>;
