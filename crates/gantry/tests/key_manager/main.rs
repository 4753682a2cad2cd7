//! The key manager end to end, on the real `gantry up` binary: signing-key rotation seen
//! by the JWKS and the gateway, encryption at rest, revocation reaching the gateway,
//! introspection, refresh-token rotation with reuse detection, the authorization-code flow
//! with PKCE through the login page, and the failed-authentication limit.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

mod fixture;
mod grants;
mod hardening;
mod revocation;
mod rotation;
