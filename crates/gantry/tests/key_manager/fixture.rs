//! One running Gantry with an API, a subscribed application and helpers to drive it.

// What every test module uses, imported with `use super::fixture::*`.
pub(crate) use std::time::Duration;

pub(crate) use base64::Engine;
pub(crate) use gantry_testkit::process::ADMIN_PASSWORD;
pub(crate) use gantry_testkit::{EchoUpstream, GantryUp, eventually};
pub(crate) use reqwest::StatusCode;
pub(crate) use serde_json::{Value, json};

pub(crate) const BIN: &str = env!("CARGO_BIN_EXE_gantry");
pub(crate) const PUB: &str = "/api/am/publisher/v4";
pub(crate) const DEV: &str = "/api/am/devportal/v3";
pub(crate) const ADMIN: &str = "/api/am/admin/v4";

/// One running Gantry with an API deployed in front of an echo upstream and a subscribed
/// application, driven as admin.
pub(crate) struct Fixture {
    pub(crate) up: GantryUp,
    pub(crate) client: reqwest::Client,
    _upstream: EchoUpstream,
    pub(crate) app_id: String,
}

impl Fixture {
    pub(crate) async fn start(env: &[(&str, &str)]) -> Self {
        let up = GantryUp::start_with_env(BIN, false, env).await;
        let upstream = EchoUpstream::start().await;
        let client = up.cp_client();
        let mut fixture = Self {
            up,
            client,
            _upstream: upstream,
            app_id: String::new(),
        };
        let upstream_url = fixture._upstream.url();
        let (status, api) = fixture
            .post_json(
                &format!("{PUB}/apis"),
                json!({
                    "name": "KmApi", "context": "/km", "version": "1.0.0",
                    "policies": ["Unlimited"],
                    "endpointConfig": {"endpoint_type": "http",
                        "production_endpoints": {"url": upstream_url}},
                    "operations": [{"target": "/hello", "verb": "GET"}]
                }),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{api}");
        let api_id = api["id"].as_str().unwrap().to_owned();
        let (status, _) = fixture
            .post_json(
                &format!("{PUB}/apis/change-lifecycle?apiId={api_id}&action=Publish"),
                Value::Null,
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        let (_, revision) = fixture
            .post_json(
                &format!("{PUB}/apis/{api_id}/revisions"),
                json!({"description": "r1"}),
            )
            .await;
        let revision_id = revision["id"].as_str().unwrap().to_owned();
        let (status, body) = fixture
            .post_json(
                &format!("{PUB}/apis/{api_id}/deploy-revision?revisionId={revision_id}"),
                json!([{"name": "Default", "vhost": "localhost"}]),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let (status, app) = fixture
            .post_json(
                &format!("{DEV}/applications"),
                json!({"name": "KmApp", "throttlingPolicy": "Unlimited"}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{app}");
        fixture.app_id = app["applicationId"].as_str().unwrap().to_owned();
        let (status, sub) = fixture
            .post_json(
                &format!("{DEV}/subscriptions"),
                json!({"apiId": api_id, "applicationId": fixture.app_id, "throttlingPolicy": "Unlimited"}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{sub}");
        fixture
    }

    pub(crate) async fn post_json(&self, path: &str, body: Value) -> (StatusCode, Value) {
        let mut request = self
            .client
            .post(self.up.cp_url(path))
            .basic_auth("admin", Some(ADMIN_PASSWORD));
        if !body.is_null() {
            request = request.json(&body);
        }
        let r = request.send().await.unwrap();
        let status = r.status();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    pub(crate) async fn get_json(&self, path: &str) -> (StatusCode, Value) {
        let r = self.client.get(self.up.cp_url(path)).send().await.unwrap();
        let status = r.status();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// Generates keys of `key_type` with `body` merged in; returns the response.
    pub(crate) async fn keys(&self, key_type: &str, extra: Value) -> Value {
        let mut body =
            json!({"keyType": key_type, "grantTypesToBeSupported": ["client_credentials"]});
        if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
            b.extend(e.clone());
        }
        let (status, keys) = self
            .post_json(
                &format!("{DEV}/applications/{}/generate-keys", self.app_id),
                body,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{keys}");
        keys
    }

    /// POSTs a form to an OAuth2 endpoint, with Basic client credentials when given.
    pub(crate) async fn form(
        &self,
        path: &str,
        basic: Option<(&str, &str)>,
        form: &[(&str, &str)],
    ) -> reqwest::Response {
        let mut request = with_form(self.client.post(self.up.cp_url(path)), form);
        if let Some((id, secret)) = basic {
            request = request.basic_auth(id, Some(secret));
        }
        request.send().await.unwrap()
    }

    pub(crate) async fn token(
        &self,
        ck: &str,
        cs: &str,
        form: &[(&str, &str)],
    ) -> (StatusCode, Value) {
        let r = self.form("/oauth2/token", Some((ck, cs)), form).await;
        let status = r.status();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    pub(crate) async fn introspect_as_admin(&self, token: &str) -> Value {
        let r = self
            .form(
                "/oauth2/introspect",
                Some(("admin", ADMIN_PASSWORD)),
                &[("token", token)],
            )
            .await;
        assert_eq!(r.status(), StatusCode::OK);
        r.json().await.unwrap()
    }

    pub(crate) async fn gateway(&self, token: &str) -> (StatusCode, String) {
        let r = self
            .up
            .gw_client()
            .get(self.up.gw_url("/km/1.0.0/hello"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        (r.status(), r.text().await.unwrap_or_default())
    }

    pub(crate) async fn jwks_kids(&self) -> Vec<String> {
        let (status, jwks) = self.get_json("/oauth2/jwks").await;
        assert_eq!(status, StatusCode::OK);
        jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["kid"].as_str().unwrap().to_owned())
            .collect()
    }

    /// Waits until the gateway answers `expected` for `token`.
    pub(crate) async fn gateway_eventually(
        &self,
        token: &str,
        expected: StatusCode,
    ) -> (StatusCode, String) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let last = self.gateway(token).await;
            if last.0 == expected {
                return last;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "gateway never answered {expected}: {last:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Sets `form` as an `application/x-www-form-urlencoded` body.
pub(crate) fn with_form<K: serde::Serialize, V: serde::Serialize>(
    request: reqwest::RequestBuilder,
    form: &[(K, V)],
) -> reqwest::RequestBuilder {
    request
        .header("content-type", "application/x-www-form-urlencoded")
        .body(serde_urlencoded::to_string(form).unwrap())
}

pub(crate) fn kid_of(token: &str) -> String {
    let header = token.split('.').next().unwrap();
    let header: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(header)
            .unwrap(),
    )
    .unwrap();
    header["kid"].as_str().unwrap().to_owned()
}

pub(crate) fn access_token(body: &Value) -> String {
    body["access_token"]
        .as_str()
        .unwrap_or_else(|| panic!("no access token in {body}"))
        .to_owned()
}

/// The `value` of the hidden `csrf_token` input of a login page.
pub(crate) fn csrf_field(html: &str) -> String {
    let marker = "name=\"csrf_token\" value=\"";
    let start = html.find(marker).unwrap() + marker.len();
    html[start..].split('"').next().unwrap().to_owned()
}
