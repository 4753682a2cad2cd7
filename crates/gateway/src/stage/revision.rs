//! The revision stage, after authentication: which revision of the API serves the call.
//! Most APIs have one (the call is counted under it and goes on unchanged); an API with a
//! canary (`compiled/canary.rs`) sends the canary its share by weight, sticky by header or
//! application where asked, re-matches the call against the canary revision's resources,
//! names the serving revision to the upstream (`X-Gantry-Revision`), and counts the call
//! in that revision's `/metrics` series.

use http::{HeaderValue, Method, Request};

use super::Answer;
use super::authenticate::Authenticated;
use super::route::{self, Routed};
use super::target::Target;
use crate::compiled::CompiledConfig;
use crate::metrics::Outcome;

/// The routing that serves the call (the canary's, when picked), and the
/// `X-Gantry-Revision` value owed to the upstream for an API with a canary.
pub fn pick<'c, B>(
    config: &'c CompiledConfig,
    routed: Routed<'c>,
    who: &Authenticated,
    request: &Request<B>,
    target: &Target<'_>,
    outcome: &mut Outcome,
) -> Result<(Routed<'c>, Option<HeaderValue>), Answer> {
    let Some(split) = config
        .canaries
        .as_deref()
        .and_then(|c| c.split(&routed.api.id).map(|s| (c, s)))
    else {
        outcome.revision = Some(routed.api.traffic.clone());
        return Ok((routed, None));
    };
    let (canaries, split) = split;
    let application = who.caller.as_ref().map(|c| &*c.application_id);
    if !split.canary_for(request.headers(), application) {
        outcome.revision = Some(routed.api.traffic.clone());
        outcome.revision_series = Some(split.stable_series.clone());
        return Ok((routed, Some(split.stable_header.clone())));
    }
    let method: &Method = request.method();
    let matched = canaries.route(target.host, &target.path, method);
    let canary = route::resolve(config, matched, target, method, outcome)?;
    outcome.revision = Some(canary.api.traffic.clone());
    outcome.revision_series = Some(split.canary_series.clone());
    Ok((canary, Some(split.canary_header.clone())))
}
