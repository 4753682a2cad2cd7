//! Resource templates as matchit patterns (`/orders/{id}` → `/orders/{p0}`), shared by the
//! strict router and the loose-reading table so both read a template the same way.

use gantry_model::HttpVerb;
use http::Method;

/// The HTTP method of an operation's verb.
pub(super) fn method_of(verb: HttpVerb) -> Method {
    match verb {
        HttpVerb::Get => Method::GET,
        HttpVerb::Post => Method::POST,
        HttpVerb::Put => Method::PUT,
        HttpVerb::Delete => Method::DELETE,
        HttpVerb::Patch => Method::PATCH,
        HttpVerb::Head => Method::HEAD,
        HttpVerb::Options => Method::OPTIONS,
        HttpVerb::Subscribe | HttpVerb::Publish => Method::GET,
    }
}

/// The matchit patterns for a resource template under `base`. Parameters get positional
/// names, so `/orders/{id}` and `/orders/{orderId}` are one path; a trailing `/*` matches
/// the path without it too.
pub(super) fn patterns_for(base: &str, target: &str) -> Vec<String> {
    let mut out = String::with_capacity(base.len() + target.len() + 8);
    out.push_str(base);
    if target == "/" {
        return vec![format!("{base}/"), base.to_owned()];
    }
    let mut params = 0;
    let mut wildcard = false;
    for segment in target.split('/').skip(1) {
        if segment == "*" {
            wildcard = true;
            break;
        }
        out.push('/');
        if segment.starts_with('{') {
            out.push_str(&format!("{{p{params}}}"));
            params += 1;
        } else {
            out.push_str(segment);
        }
    }
    if wildcard {
        let prefix = out.clone();
        vec![format!("{prefix}/{{*rest}}"), format!("{prefix}/"), prefix]
    } else {
        vec![out]
    }
}
