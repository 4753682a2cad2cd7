//! The deny stage: deny policies (WSO2 blocking conditions) refuse a call outright with 403
//! `900805` "Message blocked". API and address conditions are checked as soon as the route
//! is known, before any credential is verified (a blocked address costs no signature check);
//! application and user conditions right after authentication. The client address is the
//! connection's peer: `X-Forwarded-For` is not trusted. Without deny policies the
//! configuration has no table and both checks are one pointer test.

use std::net::IpAddr;

use http::StatusCode;

use super::Answer;
use super::authenticate::Authenticated;
use super::route::Routed;
use crate::compiled::CompiledConfig;
use crate::credential::CallerClaims;
use crate::metrics::Outcome;
use crate::respond;

/// Refuses a call to a denied API or from a denied address.
pub fn by_address(
    config: &CompiledConfig,
    routed: &Routed<'_>,
    peer: IpAddr,
    outcome: &mut Outcome,
) -> Result<(), Answer> {
    let Some(table) = config.deny.as_deref() else {
        return Ok(());
    };
    match table.by_address(&routed.api.id, peer) {
        Some(reason) => Err(blocked(reason, outcome)),
        None => Ok(()),
    }
}

/// Refuses a call by a denied application or user (the subject of its token or API key).
pub fn by_caller(
    config: &CompiledConfig,
    who: &Authenticated,
    outcome: &mut Outcome,
) -> Result<(), Answer> {
    let (Some(table), Some(caller)) = (config.deny.as_deref(), &who.caller) else {
        return Ok(());
    };
    let user = match &caller.claims {
        CallerClaims::Access(claims) => claims.sub.as_str(),
        CallerClaims::ApiKey(claims) => claims.sub.as_str(),
    };
    match table.by_caller(&caller.application_id, user) {
        Some(reason) => Err(blocked(reason, outcome)),
        None => Ok(()),
    }
}

/// WSO2's answer to a blocked call.
fn blocked(reason: &str, outcome: &mut Outcome) -> Answer {
    outcome.failure = Some("blocked_by_deny_policy");
    respond::error(
        StatusCode::FORBIDDEN,
        "900805",
        "Message blocked",
        &format!("You have been blocked from accessing the resource: {reason}"),
    )
}
