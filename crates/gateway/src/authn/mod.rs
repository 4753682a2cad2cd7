//! The credential verifiers the authenticate stage (`stage::authenticate`) chooses among:
//! bearer JWTs ([`jwt`]), API keys ([`api_key`]) and client certificates ([`client_cert`]),
//! the JWKS refresher behind an unknown `kid` ([`jwks_refresher`]), and the refusals they
//! share ([`denial`]). Each reads the compiled configuration and never decides what the
//! caller may do (that is `stage::authorise`).

pub mod api_key;
pub mod client_cert;
pub mod denial;
pub mod jwks_refresher;
pub mod jwt;
