//! The CORS stage: cross-origin resource sharing per API, answered at the gateway (as WSO2's and Envoy's
//! CORS filters do): preflights never reach the upstream or need a token, and responses to
//! allowed origins carry `Access-Control-Allow-Origin`, including the gateway's own errors
//! (a browser can then read a 401 or 429). The policy is compiled in `compiled::cors`.

use http::{HeaderMap, HeaderValue, Method, Response, StatusCode, header};

use super::Answer;
use crate::compiled::RouteMatch;
use crate::compiled::cors::{Allowed, Cors};
use crate::respond::full;

/// How long a browser may cache a preflight answer, in seconds.
const MAX_AGE: HeaderValue = HeaderValue::from_static("86400");

/// The CORS stage, for a request whose API (`matched`, before 404/405 are answered) has a
/// policy: a preflight is answered now; otherwise the headers owed to its response, if its
/// origin is allowed.
pub fn check(
    matched: &RouteMatch<'_>,
    method: &Method,
    headers: &HeaderMap,
) -> Result<Option<Allowed>, Answer> {
    let (RouteMatch::Found { entry, .. } | RouteMatch::MethodNotAllowed(entry)) = matched else {
        return Ok(None);
    };
    let Some(policy) = &entry.api.cors else {
        return Ok(None);
    };
    if is_preflight(method, headers) {
        return Err(preflight(policy, headers));
    }
    Ok(headers.get(header::ORIGIN).and_then(|o| policy.allow(o)))
}

/// Whether a request is a CORS preflight.
pub fn is_preflight(method: &Method, headers: &HeaderMap) -> bool {
    method == Method::OPTIONS
        && headers.contains_key(header::ORIGIN)
        && headers.contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
}

/// The answer to a preflight (`OPTIONS` with `Origin` and `Access-Control-Request-Method`):
/// `204`, with the `Allow-*` headers when the origin and method are allowed and without
/// them otherwise (the browser then blocks the call).
pub fn preflight(policy: &Cors, headers: &HeaderMap) -> Answer {
    let mut response = Response::new(full(""));
    *response.status_mut() = StatusCode::NO_CONTENT;
    let allowed = headers.get(header::ORIGIN).and_then(|o| policy.allow(o));
    let method_ok = headers
        .get(header::ACCESS_CONTROL_REQUEST_METHOD)
        .is_some_and(|m| policy.allows_method(m.as_bytes()));
    let out = response.headers_mut();
    out.insert(header::VARY, HeaderValue::from_static("Origin"));
    if let (Some(allowed), true) = (allowed, method_ok) {
        allowed.apply(out);
        out.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            policy.allow_methods().clone(),
        );
        out.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            policy.allow_headers().clone(),
        );
        out.insert(header::ACCESS_CONTROL_MAX_AGE, MAX_AGE);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use gantry_model::CorsConfiguration;

    fn policy(origins: &[&str], credentials: bool) -> Cors {
        Cors::compile(&CorsConfiguration {
            cors_configuration_enabled: true,
            access_control_allow_origins: origins.iter().map(|o| (*o).to_owned()).collect(),
            access_control_allow_credentials: credentials,
            ..CorsConfiguration::default()
        })
        .unwrap()
    }

    fn preflight_headers(origin: &str, method: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::ORIGIN, HeaderValue::from_str(origin).unwrap());
        h.insert(
            header::ACCESS_CONTROL_REQUEST_METHOD,
            HeaderValue::from_str(method).unwrap(),
        );
        h
    }

    #[test]
    fn preflight_lists_methods_and_headers_only_for_allowed_requests() {
        let cors = policy(&["https://app.example.com"], false);
        let ok = preflight(&cors, &preflight_headers("https://app.example.com", "PUT"));
        assert_eq!(ok.status(), StatusCode::NO_CONTENT);
        assert_eq!(
            ok.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN],
            "https://app.example.com"
        );
        assert!(
            ok.headers()[header::ACCESS_CONTROL_ALLOW_METHODS]
                .to_str()
                .unwrap()
                .contains("PUT")
        );
        let bad_origin = preflight(&cors, &preflight_headers("https://evil.example", "GET"));
        assert!(
            !bad_origin
                .headers()
                .contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN)
        );
        let bad_method = preflight(
            &cors,
            &preflight_headers("https://app.example.com", "TRACE"),
        );
        assert!(
            !bad_method
                .headers()
                .contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN)
        );
    }
}
