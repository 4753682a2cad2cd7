//! An API's CORS policy, compiled (WSO2's `corsConfiguration`): which origins, methods and
//! headers a cross-origin caller may use. The CORS stage (`stage::cors`) answers preflights
//! and adds the headers owed to a response from it.

use gantry_model::CorsConfiguration;
use http::{HeaderMap, HeaderValue, header};

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
    pub fn allows_method(&self, method: &[u8]) -> bool {
        self.allow_methods
            .as_bytes()
            .split(|&b| b == b',')
            .any(|m| m.trim_ascii().eq_ignore_ascii_case(method))
    }

    /// `Access-Control-Allow-Methods` of a preflight.
    pub fn allow_methods(&self) -> &HeaderValue {
        &self.allow_methods
    }

    /// `Access-Control-Allow-Headers` of a preflight.
    pub fn allow_headers(&self) -> &HeaderValue {
        &self.allow_headers
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
}
