//! The CORS stage: cross-origin resource sharing per API, answered at the gateway (as WSO2's and Envoy's
//! CORS filters do): preflights never reach the upstream or need a token, and responses to
//! allowed origins carry `Access-Control-Allow-Origin`, including the gateway's own errors
//! (a browser can then read a 401 or 429).

use gantry_model::CorsConfiguration;
use http::{HeaderMap, HeaderValue, Method, Response, StatusCode, header};

use super::Answer;
use crate::respond::{Body, full};
use crate::routes::RouteMatch;

/// How long a browser may cache a preflight answer, in seconds.
const MAX_AGE: HeaderValue = HeaderValue::from_static("86400");

/// An API's compiled CORS policy.
pub struct Cors {
    any_origin: bool,
    origins: Vec<String>,
    credentials: bool,
    allow_headers: HeaderValue,
    allow_methods: HeaderValue,
}

/// The CORS headers owed to one response.
pub struct Allowed {
    origin: HeaderValue,
    credentials: bool,
}

impl Cors {
    /// The policy, or `None` when the API has CORS disabled.
    pub fn compile(config: &CorsConfiguration) -> Option<Self> {
        if !config.cors_configuration_enabled {
            return None;
        }
        let list = |items: &[String]| {
            HeaderValue::from_str(&items.join(", ")).unwrap_or(HeaderValue::from_static(""))
        };
        Some(Self {
            any_origin: config.access_control_allow_origins.iter().any(|o| o == "*"),
            origins: config
                .access_control_allow_origins
                .iter()
                .map(|o| o.to_ascii_lowercase())
                .collect(),
            credentials: config.access_control_allow_credentials,
            allow_headers: list(&config.access_control_allow_headers),
            allow_methods: list(
                &config
                    .access_control_allow_methods
                    .iter()
                    .map(|m| m.to_ascii_uppercase())
                    .collect::<Vec<_>>(),
            ),
        })
    }

    /// What to send for a request from `origin`, if that origin is allowed. With credentials
    /// the origin is echoed, since browsers refuse `*` there (Fetch standard).
    pub fn allow(&self, origin: &HeaderValue) -> Option<Allowed> {
        let text = origin.to_str().ok()?;
        let listed = self.origins.iter().any(|o| o.eq_ignore_ascii_case(text));
        if !listed && !self.any_origin {
            return None;
        }
        let origin = if self.any_origin && !self.credentials {
            HeaderValue::from_static("*")
        } else {
            origin.clone()
        };
        Some(Allowed {
            origin,
            credentials: self.credentials,
        })
    }

    /// Whether `method` is one the policy lets a cross-origin caller use.
    fn allows_method(&self, method: &[u8]) -> bool {
        self.allow_methods
            .as_bytes()
            .split(|&b| b == b',')
            .any(|m| m.trim_ascii().eq_ignore_ascii_case(method))
    }

    /// The answer to a preflight (`OPTIONS` with `Origin` and `Access-Control-Request-Method`):
    /// `204`, with the `Allow-*` headers when the origin and method are allowed and without
    /// them otherwise (the browser then blocks the call).
    pub fn preflight(&self, headers: &HeaderMap) -> Response<Body> {
        let mut response = Response::new(full(""));
        *response.status_mut() = StatusCode::NO_CONTENT;
        let allowed = headers.get(header::ORIGIN).and_then(|o| self.allow(o));
        let method_ok = headers
            .get(header::ACCESS_CONTROL_REQUEST_METHOD)
            .is_some_and(|m| self.allows_method(m.as_bytes()));
        let out = response.headers_mut();
        out.insert(header::VARY, HeaderValue::from_static("Origin"));
        if let (Some(allowed), true) = (allowed, method_ok) {
            allowed.apply(out);
            out.insert(
                header::ACCESS_CONTROL_ALLOW_METHODS,
                self.allow_methods.clone(),
            );
            out.insert(
                header::ACCESS_CONTROL_ALLOW_HEADERS,
                self.allow_headers.clone(),
            );
            out.insert(header::ACCESS_CONTROL_MAX_AGE, MAX_AGE);
        }
        response
    }
}

impl Allowed {
    /// Adds `Access-Control-Allow-Origin` (and `-Credentials`) to a response.
    pub fn apply(&self, headers: &mut HeaderMap) {
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, self.origin.clone());
        if self.credentials {
            headers.insert(
                header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
                HeaderValue::from_static("true"),
            );
        }
        if self.origin != "*" {
            headers.append(header::VARY, HeaderValue::from_static("Origin"));
        }
    }
}

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
        return Err(policy.preflight(headers));
    }
    Ok(headers.get(header::ORIGIN).and_then(|o| policy.allow(o)))
}

/// Whether a request is a CORS preflight.
pub fn is_preflight(method: &Method, headers: &HeaderMap) -> bool {
    method == Method::OPTIONS
        && headers.contains_key(header::ORIGIN)
        && headers.contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn disabled_policy_compiles_to_nothing() {
        assert!(Cors::compile(&CorsConfiguration::default()).is_none());
    }

    #[test]
    fn listed_origins_are_echoed_and_others_refused() {
        let cors = policy(&["https://app.example.com"], false);
        let ok = cors
            .allow(&HeaderValue::from_static("https://APP.example.com"))
            .unwrap();
        assert_eq!(ok.origin, "https://APP.example.com");
        assert!(
            cors.allow(&HeaderValue::from_static("https://evil.example"))
                .is_none()
        );
    }

    #[test]
    fn wildcard_is_star_without_credentials_and_echo_with_them() {
        let origin = HeaderValue::from_static("https://x.test");
        assert_eq!(policy(&["*"], false).allow(&origin).unwrap().origin, "*");
        let with = policy(&["*"], true).allow(&origin).unwrap();
        assert_eq!(with.origin, "https://x.test");
        let mut h = HeaderMap::new();
        with.apply(&mut h);
        assert_eq!(h[header::ACCESS_CONTROL_ALLOW_CREDENTIALS], "true");
        assert_eq!(h[header::VARY], "Origin");
    }

    #[test]
    fn preflight_lists_methods_and_headers_only_for_allowed_requests() {
        let cors = policy(&["https://app.example.com"], false);
        let ok = cors.preflight(&preflight_headers("https://app.example.com", "PUT"));
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
        let bad_origin = cors.preflight(&preflight_headers("https://evil.example", "GET"));
        assert!(
            !bad_origin
                .headers()
                .contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN)
        );
        let bad_method = cors.preflight(&preflight_headers("https://app.example.com", "TRACE"));
        assert!(
            !bad_method
                .headers()
                .contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN)
        );
    }
}
