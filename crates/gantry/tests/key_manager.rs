//! The key manager end to end, on the real `gantry up` binary: signing-key rotation seen
//! by the JWKS and the gateway, encryption at rest, revocation reaching the gateway,
//! introspection, refresh-token rotation with reuse detection, the authorization-code flow
//! with PKCE through the login page, and the failed-authentication limit.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use base64::Engine;
use gantry_testkit::process::ADMIN_PASSWORD;
use gantry_testkit::{EchoUpstream, GantryUp, eventually};
use reqwest::StatusCode;
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_gantry");
const PUB: &str = "/api/am/publisher/v4";
const DEV: &str = "/api/am/devportal/v3";
const ADMIN: &str = "/api/am/admin/v4";

/// One running Gantry with an API deployed in front of an echo upstream and a subscribed
/// application, driven as admin.
struct Fixture {
    up: GantryUp,
    client: reqwest::Client,
    _upstream: EchoUpstream,
    app_id: String,
}

impl Fixture {
    async fn start(env: &[(&str, &str)]) -> Self {
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

    async fn post_json(&self, path: &str, body: Value) -> (StatusCode, Value) {
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

    async fn get_json(&self, path: &str) -> (StatusCode, Value) {
        let r = self.client.get(self.up.cp_url(path)).send().await.unwrap();
        let status = r.status();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// Generates keys of `key_type` with `body` merged in; returns the response.
    async fn keys(&self, key_type: &str, extra: Value) -> Value {
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
    async fn form(
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

    async fn token(&self, ck: &str, cs: &str, form: &[(&str, &str)]) -> (StatusCode, Value) {
        let r = self.form("/oauth2/token", Some((ck, cs)), form).await;
        let status = r.status();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    async fn introspect_as_admin(&self, token: &str) -> Value {
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

    async fn gateway(&self, token: &str) -> (StatusCode, String) {
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

    async fn jwks_kids(&self) -> Vec<String> {
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
    async fn gateway_eventually(&self, token: &str, expected: StatusCode) -> (StatusCode, String) {
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
fn with_form<K: serde::Serialize, V: serde::Serialize>(
    request: reqwest::RequestBuilder,
    form: &[(K, V)],
) -> reqwest::RequestBuilder {
    request
        .header("content-type", "application/x-www-form-urlencoded")
        .body(serde_urlencoded::to_string(form).unwrap())
}

fn kid_of(token: &str) -> String {
    let header = token.split('.').next().unwrap();
    let header: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(header)
            .unwrap(),
    )
    .unwrap();
    header["kid"].as_str().unwrap().to_owned()
}

fn access_token(body: &Value) -> String {
    body["access_token"]
        .as_str()
        .unwrap_or_else(|| panic!("no access token in {body}"))
        .to_owned()
}

#[tokio::test]
async fn rotation_keeps_old_tokens_valid_until_they_expire_then_removes_the_key() {
    // Manual rotation only; a retired key goes one second after its tokens expire.
    let f = Fixture::start(&[
        ("GANTRY_KEY_ROTATION_PERIOD_SECS", "0"),
        ("GANTRY_KEY_RETIRE_GRACE_SECS", "1"),
    ])
    .await;
    let keys = f.keys("PRODUCTION", json!({"validityTime": 4})).await;
    let (ck, cs) = (
        keys["consumerKey"].as_str().unwrap(),
        keys["consumerSecret"].as_str().unwrap(),
    );
    let (status, body) = f
        .token(ck, cs, &[("grant_type", "client_credentials")])
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let before = access_token(&body);
    let old_kid = kid_of(&before);
    let published = f.jwks_kids().await;
    assert_eq!(
        published.len(),
        2,
        "active and next are published: {published:?}"
    );
    assert!(published.contains(&old_kid));
    let next_kid = published.iter().find(|k| **k != old_kid).unwrap().clone();
    f.gateway_eventually(&before, StatusCode::OK).await;

    // The Admin API needs the admin role and credentials.
    let r = f
        .client
        .post(f.up.cp_url(&format!("{ADMIN}/key-manager/signing-keys/rotate")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let (status, rotated) = f
        .post_json(
            &format!("{ADMIN}/key-manager/signing-keys/rotate"),
            Value::Null,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{rotated}");
    assert_eq!(
        rotated["activeKid"],
        next_kid.as_str(),
        "the next key becomes active"
    );

    let (_, body) = f
        .token(ck, cs, &[("grant_type", "client_credentials")])
        .await;
    let after = access_token(&body);
    assert_eq!(kid_of(&after), next_kid, "new tokens use the new kid");
    let published = f.jwks_kids().await;
    assert_eq!(
        published.len(),
        3,
        "retired, active, new next: {published:?}"
    );
    assert!(published.contains(&old_kid));
    // Both verify at the gateway: the snapshot carries every published key.
    f.gateway_eventually(&after, StatusCode::OK).await;
    f.gateway_eventually(&before, StatusCode::OK).await;
    assert_eq!(f.introspect_as_admin(&before).await["active"], true);

    // The retired key leaves once its tokens (4 s) have expired (+1 s grace). The gateway
    // would still accept the old token for 30 s of clock skew: it is refused because the
    // key is gone from its snapshot.
    let gone = eventually(Duration::from_secs(15), || async {
        !f.jwks_kids().await.contains(&old_kid)
    })
    .await;
    assert!(gone, "the retired key was never removed");
    let (_, body) = f
        .gateway_eventually(&before, StatusCode::UNAUTHORIZED)
        .await;
    assert!(body.contains("unknown key"), "{body}");
    let (_, list) = f
        .client
        .get(f.up.cp_url(&format!("{ADMIN}/key-manager/signing-keys")))
        .basic_auth("admin", Some(ADMIN_PASSWORD))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .map(|v| (StatusCode::OK, v))
        .unwrap();
    let removed = list["list"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == old_kid.as_str())
        .unwrap();
    assert_eq!(removed["state"], "removed");
}

#[tokio::test]
async fn scheduled_rotation_changes_the_signing_key_and_keys_are_encrypted_at_rest() {
    let mut f = Fixture::start(&[("GANTRY_KEY_ROTATION_PERIOD_SECS", "2")]).await;
    let keys = f.keys("PRODUCTION", json!({})).await;
    let (ck, cs) = (
        keys["consumerKey"].as_str().unwrap().to_owned(),
        keys["consumerSecret"].as_str().unwrap().to_owned(),
    );
    let (_, body) = f
        .token(&ck, &cs, &[("grant_type", "client_credentials")])
        .await;
    let first = kid_of(&access_token(&body));
    let rotated = eventually(Duration::from_secs(15), || async {
        let (_, body) = f
            .token(&ck, &cs, &[("grant_type", "client_credentials")])
            .await;
        kid_of(&access_token(&body)) != first
    })
    .await;
    assert!(rotated, "the schedule never rotated the key");

    // The key-encryption key was generated into the data directory, owner-only.
    let kek_path = f.up.data_dir().join("key-encryption-key");
    let kek = std::fs::read_to_string(&kek_path).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&kek_path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // With another key-encryption key the stored signing keys cannot be opened: start
    // fails, naming the cause, rather than signing with something else.
    assert!(f.up.stop());
    let wrong = base64::engine::general_purpose::STANDARD.encode([7u8; 32]);
    let port = |p: u16| p.to_string();
    let out = std::process::Command::new(BIN)
        .arg("up")
        .arg("--data-dir")
        .arg(f.up.data_dir())
        .arg("--no-demo")
        .args(["--control-plane-port", &port(gantry_testkit::free_port())])
        .args(["--gateway-port", &port(gantry_testkit::free_port())])
        .args(["--ops-port", &port(gantry_testkit::free_port())])
        .env("GANTRY_KEY_ENCRYPTION_KEY", &wrong)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("cannot be decrypted"), "{stderr}");
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(kek.trim())
        .unwrap();
    assert_eq!(decoded.len(), 32);
}

#[tokio::test]
async fn revoked_access_token_is_refused_by_the_gateway_and_inactive_at_introspection() {
    let f = Fixture::start(&[]).await;
    let keys = f.keys("PRODUCTION", json!({})).await;
    let (ck, cs) = (
        keys["consumerKey"].as_str().unwrap(),
        keys["consumerSecret"].as_str().unwrap(),
    );
    let (_, body) = f
        .token(ck, cs, &[("grant_type", "client_credentials")])
        .await;
    let token = access_token(&body);
    f.gateway_eventually(&token, StatusCode::OK).await;
    let info = f.introspect_as_admin(&token).await;
    assert_eq!(info["active"], true, "{info}");
    assert_eq!(info["client_id"], ck);
    // A client may introspect its own token.
    let r = f
        .form("/oauth2/introspect", Some((ck, cs)), &[("token", &token)])
        .await;
    assert_eq!(r.json::<Value>().await.unwrap()["active"], true);
    // Unauthenticated callers may not.
    let r = f
        .form("/oauth2/introspect", None, &[("token", &token)])
        .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    // Unauthenticated revocation is refused; unknown tokens are a 200 no-op.
    let r = f.form("/oauth2/revoke", None, &[("token", &token)]).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = f
        .form("/oauth2/revoke", Some((ck, cs)), &[("token", "nonsense")])
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = f
        .form(
            "/oauth2/revoke",
            Some((ck, cs)),
            &[("token", &token), ("token_type_hint", "refresh_token")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let (_, body) = f.gateway_eventually(&token, StatusCode::UNAUTHORIZED).await;
    assert!(
        body.contains("revoked") && body.contains("900901"),
        "{body}"
    );
    assert_eq!(
        f.introspect_as_admin(&token).await,
        json!({"active": false})
    );
    // Revocation is per token: a new one works.
    let (_, body) = f
        .token(ck, cs, &[("grant_type", "client_credentials")])
        .await;
    f.gateway_eventually(&access_token(&body), StatusCode::OK)
        .await;

    // Deleting the client's keys ends its live tokens.
    let fresh = access_token(&body);
    let mapping = keys["keyMappingId"].as_str().unwrap();
    let r = f
        .client
        .delete(f.up.cp_url(&format!(
            "{DEV}/applications/{}/oauth-keys/{mapping}",
            f.app_id
        )))
        .basic_auth("admin", Some(ADMIN_PASSWORD))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        f.introspect_as_admin(&fresh).await,
        json!({"active": false})
    );
    let (status, _) = f.gateway(&fresh).await;
    assert!(status.is_client_error(), "{status}");
    assert_ne!(
        f.gateway_eventually(&fresh, StatusCode::FORBIDDEN).await.0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn password_grant_refresh_rotation_and_reuse_revokes_the_family() {
    let f = Fixture::start(&[]).await;
    let keys = f
        .keys(
            "PRODUCTION",
            json!({"grantTypesToBeSupported": ["password", "refresh_token"]}),
        )
        .await;
    let (ck, cs) = (
        keys["consumerKey"].as_str().unwrap(),
        keys["consumerSecret"].as_str().unwrap(),
    );
    // client_credentials is not among this client's grants.
    let (status, body) = f
        .token(ck, cs, &[("grant_type", "client_credentials")])
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("unauthorized_client"))
    );
    let (status, body) = f
        .token(
            ck,
            cs,
            &[
                ("grant_type", "password"),
                ("username", "admin"),
                ("password", "wrong"),
            ],
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
    let (status, body) = f
        .token(
            ck,
            cs,
            &[
                ("grant_type", "password"),
                ("username", "admin"),
                ("password", ADMIN_PASSWORD),
                ("scope", "apim:api_view apim:admin openid not:mine"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["scope"], "apim:api_view apim:admin openid");
    assert!(body["id_token"].is_string(), "{body}");
    let first_refresh = body["refresh_token"].as_str().unwrap().to_owned();

    let refresh = |rt: String| {
        let f = &f;
        async move {
            f.token(
                ck,
                cs,
                &[("grant_type", "refresh_token"), ("refresh_token", &rt)],
            )
            .await
        }
    };
    let (status, body) = refresh(first_refresh.clone()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let second_refresh = body["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(second_refresh, first_refresh, "refresh tokens rotate");
    let second_access = access_token(&body);
    f.gateway_eventually(&second_access, StatusCode::OK).await;
    // Scope cannot widen on refresh.
    let (status, body) = f
        .token(
            ck,
            cs,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &second_refresh),
                ("scope", "apim:api_create"),
            ],
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_scope"))
    );

    // Replaying the spent first token revokes the whole family.
    let (status, body) = refresh(first_refresh).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
    let (status, body) = refresh(second_refresh).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
    assert_eq!(f.introspect_as_admin(&second_access).await["active"], false);
    let (_, body) = f
        .gateway_eventually(&second_access, StatusCode::UNAUTHORIZED)
        .await;
    assert!(body.contains("revoked"), "{body}");
}

/// The `value` of the hidden `csrf_token` input of a login page.
fn csrf_field(html: &str) -> String {
    let marker = "name=\"csrf_token\" value=\"";
    let start = html.find(marker).unwrap() + marker.len();
    html[start..].split('"').next().unwrap().to_owned()
}

#[tokio::test]
async fn authorization_code_with_pkce_through_the_login_page() {
    let f = Fixture::start(&[]).await;
    let keys = f
        .keys(
            "PRODUCTION",
            json!({
                "grantTypesToBeSupported": ["authorization_code", "refresh_token"],
                "callbackUrl": "https://app.example/cb",
                "additionalProperties": {"bypassClientCredentials": true}
            }),
        )
        .await;
    let ck = keys["consumerKey"].as_str().unwrap().to_owned();
    let no_redirects = f.up.cp_client_without_redirects();
    let verifier = "a-verifier-of-at-least-forty-three-characters-long-0123456789";
    let challenge = gantry_keys::pkce::s256_challenge(verifier);
    let authorize = |params: Vec<(&str, &str)>| {
        let url = format!(
            "{}?{}",
            f.up.cp_url("/oauth2/authorize"),
            serde_urlencoded::to_string(params).unwrap()
        );
        no_redirects.get(url).send()
    };

    // A redirect URI that is not exactly the registered one: error page, no redirect.
    let r = authorize(vec![
        ("response_type", "code"),
        ("client_id", &ck),
        ("redirect_uri", "https://app.example/cb/../evil"),
        ("code_challenge", &challenge),
        ("code_challenge_method", "S256"),
    ])
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.headers().get("location").is_none());
    // A public client without PKCE: the error goes back to the client.
    let r = authorize(vec![
        ("response_type", "code"),
        ("client_id", &ck),
        ("state", "s1"),
    ])
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::FOUND);
    let location = r.headers()["location"].to_str().unwrap();
    assert!(
        location.starts_with("https://app.example/cb?error=invalid_request"),
        "{location}"
    );
    assert!(location.contains("state=s1"));

    let params = vec![
        ("response_type", "code"),
        ("client_id", ck.as_str()),
        ("redirect_uri", "https://app.example/cb"),
        ("scope", "openid apim:subscribe"),
        ("state", "xyz"),
        ("nonce", "n-0S6"),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    let page = authorize(params.clone()).await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let cookie = page.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(cookie.contains("SameSite=Strict") && cookie.contains("HttpOnly"));
    let cookie = cookie.split(';').next().unwrap().to_owned();
    let html = page.text().await.unwrap();
    assert!(html.contains("<label for=\"username\">") && html.contains("<label for=\"password\">"));
    let csrf = csrf_field(&html);

    let submit = |extra: Vec<(&'static str, String)>, cookie: Option<String>| {
        let mut form: Vec<(String, String)> = params
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        form.extend(extra.into_iter().map(|(k, v)| (k.to_owned(), v)));
        let mut request = with_form(no_redirects.post(f.up.cp_url("/oauth2/authorize")), &form);
        if let Some(cookie) = cookie {
            request = request.header("cookie", cookie);
        }
        request.send()
    };
    // Without the CSRF cookie the form is refused.
    let r = submit(
        vec![
            ("csrf_token", csrf.clone()),
            ("username", "admin".into()),
            ("password", ADMIN_PASSWORD.into()),
            ("decision", "allow".into()),
        ],
        None,
    )
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // A wrong password shows the page again.
    let r = submit(
        vec![
            ("csrf_token", csrf.clone()),
            ("username", "admin".into()),
            ("password", "nope".into()),
            ("decision", "allow".into()),
        ],
        Some(cookie.clone()),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = submit(
        vec![
            ("csrf_token", csrf.clone()),
            ("username", "admin".into()),
            ("password", ADMIN_PASSWORD.into()),
            ("decision", "allow".into()),
        ],
        Some(cookie.clone()),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::FOUND);
    let location = r.headers()["location"].to_str().unwrap().to_owned();
    let query: Vec<(String, String)> =
        serde_urlencoded::from_str(location.split_once('?').unwrap().1).unwrap();
    let get = |name: &str| {
        query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    assert_eq!(get("state"), "xyz");
    assert!(get("iss").ends_with("/oauth2/token"));
    let code = get("code");

    // The wrong verifier fails (and spends the code: codes are single-use).
    let wrong = [
        ("grant_type", "authorization_code"),
        ("client_id", ck.as_str()),
        ("code", code.as_str()),
        ("redirect_uri", "https://app.example/cb"),
        (
            "code_verifier",
            "b-wrong-verifier-of-at-least-forty-three-characters-0123",
        ),
    ];
    let r = f.form("/oauth2/token", None, &wrong).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_grant");

    // A second round with the right verifier.
    let page = authorize(params.clone()).await.unwrap();
    let cookie = page.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let csrf = csrf_field(&page.text().await.unwrap());
    let r = submit(
        vec![
            ("csrf_token", csrf),
            ("username", "admin".into()),
            ("password", ADMIN_PASSWORD.into()),
            ("decision", "allow".into()),
        ],
        Some(cookie),
    )
    .await
    .unwrap();
    let location = r.headers()["location"].to_str().unwrap().to_owned();
    let query: Vec<(String, String)> =
        serde_urlencoded::from_str(location.split_once('?').unwrap().1).unwrap();
    let code2 = query.iter().find(|(k, _)| k == "code").unwrap().1.clone();
    let form = [
        ("grant_type", "authorization_code"),
        ("client_id", ck.as_str()),
        ("code", code2.as_str()),
        ("redirect_uri", "https://app.example/cb"),
        ("code_verifier", verifier),
    ];
    let r = f.form("/oauth2/token", None, &form).await;
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["scope"], "openid apim:subscribe");
    assert!(body["id_token"].is_string() && body["refresh_token"].is_string());
    let access = access_token(&body);
    let userinfo = f
        .client
        .get(f.up.cp_url("/oauth2/userinfo"))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    assert_eq!(userinfo.status(), StatusCode::OK);
    assert_eq!(userinfo.json::<Value>().await.unwrap()["sub"], "admin");
    // Redeeming the code again fails and revokes what the first redemption produced.
    let r = f.form("/oauth2/token", None, &form).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(f.introspect_as_admin(&access).await["active"], false);
}

#[tokio::test]
async fn failed_client_authentication_is_rate_limited_with_retry_after() {
    let f = Fixture::start(&[]).await;
    let keys = f.keys("PRODUCTION", json!({})).await;
    let ck = keys["consumerKey"].as_str().unwrap();
    let mut statuses = Vec::new();
    for _ in 0..12 {
        let (status, _) = f
            .token(ck, "wrong", &[("grant_type", "client_credentials")])
            .await;
        statuses.push(status);
    }
    assert!(
        statuses[..10]
            .iter()
            .all(|s| *s == StatusCode::UNAUTHORIZED),
        "{statuses:?}"
    );
    let r = f
        .form(
            "/oauth2/token",
            Some((ck, keys["consumerSecret"].as_str().unwrap())),
            &[("grant_type", "client_credentials")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry));
}

#[tokio::test]
async fn discovery_documents_name_the_issuer_and_its_endpoints() {
    let f = Fixture::start(&[]).await;
    for path in [
        "/oauth2/token/.well-known/openid-configuration",
        "/.well-known/openid-configuration",
        "/.well-known/oauth-authorization-server",
        "/.well-known/oauth-authorization-server/oauth2/token",
    ] {
        let (status, doc) = f.get_json(path).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        let issuer = doc["issuer"].as_str().unwrap();
        assert_eq!(
            issuer,
            format!("https://localhost:{}/oauth2/token", f.up.cp_port)
        );
        assert_eq!(doc["code_challenge_methods_supported"], json!(["S256"]));
        for endpoint in [
            "token_endpoint",
            "jwks_uri",
            "revocation_endpoint",
            "introspection_endpoint",
        ] {
            assert!(
                doc[endpoint]
                    .as_str()
                    .unwrap()
                    .starts_with("https://localhost:"),
                "{endpoint}"
            );
        }
    }
    let (_, jwks) = f.get_json("/oauth2/jwks").await;
    for key in jwks["keys"].as_array().unwrap() {
        assert_eq!(key["use"], "sig");
        assert!(key.get("d").is_none() && key.get("p").is_none());
    }
}

#[tokio::test]
async fn wso2_rest_client_flow_dcr_then_password_grant() {
    let f = Fixture::start(&[]).await;
    let register = json!({
        "callbackUrl": "www.google.lk", "clientName": "rest_api_publisher", "owner": "admin",
        "grantType": "client_credentials password refresh_token", "saasApp": true
    });
    let (status, first) = f
        .post_json("/client-registration/v0.17/register", register.clone())
        .await;
    assert_eq!(status, StatusCode::OK, "{first}");
    assert_eq!(first["clientName"], "rest_api_publisher");
    assert_eq!(first["appOwner"], "admin");
    let (ck, cs) = (
        first["clientId"].as_str().unwrap(),
        first["clientSecret"].as_str().unwrap(),
    );
    let scopes = "apim:api_view apim:api_create apim:api_publish apim:subscribe apim:app_manage apim:sub_manage apim:admin";
    let (status, body) = f
        .token(
            ck,
            cs,
            &[
                ("grant_type", "password"),
                ("username", "admin"),
                ("password", ADMIN_PASSWORD),
                ("scope", scopes),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["scope"], scopes);
    assert!(body["refresh_token"].is_string());

    // Registering again returns the same client with a new secret.
    let (_, again) = f
        .post_json("/client-registration/v0.17/register", register)
        .await;
    assert_eq!(again["clientId"], ck);
    let new_secret = again["clientSecret"].as_str().unwrap();
    let (status, _) = f
        .token(ck, cs, &[("grant_type", "client_credentials")])
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = f
        .token(ck, new_secret, &[("grant_type", "client_credentials")])
        .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn es256_and_eddsa_keys_sign_tokens_that_verify_with_the_jwks() {
    for (alg, kty) in [("ES256", "EC"), ("EdDSA", "OKP")] {
        let f = Fixture::start(&[("GANTRY_SIGNING_ALGORITHM", alg)]).await;
        let keys = f.keys("PRODUCTION", json!({})).await;
        let (ck, cs) = (
            keys["consumerKey"].as_str().unwrap(),
            keys["consumerSecret"].as_str().unwrap(),
        );
        let (status, body) = f
            .token(ck, cs, &[("grant_type", "client_credentials")])
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let token = access_token(&body);
        let header: Value = serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(token.split('.').next().unwrap())
                .unwrap(),
        )
        .unwrap();
        assert_eq!(header["alg"], alg);
        let (_, jwks) = f.get_json("/oauth2/jwks").await;
        let key = jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["kid"] == header["kid"])
            .unwrap()
            .clone();
        assert_eq!(
            (key["kty"].as_str(), key["alg"].as_str()),
            (Some(kty), Some(alg))
        );
        assert_eq!(f.introspect_as_admin(&token).await["active"], true);
    }
}

#[tokio::test]
async fn malformed_requests_to_the_key_manager_are_4xx_never_5xx() {
    // Once the failures from this address pass the limit, answers become 429: still a 4xx.
    let f = Fixture::start(&[]).await;
    let keys = f.keys("PRODUCTION", json!({})).await;
    let ck = keys["consumerKey"].as_str().unwrap().to_owned();
    let form = "application/x-www-form-urlencoded";
    let bodies: Vec<(&str, Vec<u8>)> = vec![
        (
            form,
            b"grant_type=client_credentials&\xff\xfe=\xc3\x28".to_vec(),
        ),
        (form, b"%%%%&&&===".to_vec()),
        (form, vec![b'a'; 200 * 1024]),
        (form, b"grant_type=".to_vec()),
        (form, b"token=a.b.c&token_type_hint=\x00".to_vec()),
        (
            "application/json",
            b"{\"grant_type\":\"client_credentials\"}".to_vec(),
        ),
        ("text/plain", b"grant_type=client_credentials".to_vec()),
        (
            form,
            b"grant_type=authorization_code&code=x&code_verifier=short".to_vec(),
        ),
        (form, b"grant_type=refresh_token&refresh_token=".to_vec()),
        (form, b"grant_type=password&username=admin".to_vec()),
    ];
    let authorizations = [
        None,
        Some("Basic".to_owned()),
        Some("Basic !!!not-base64".to_owned()),
        Some(format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{ck}:wrong"))
        )),
        Some("Bearer a.b.c".to_owned()),
        Some(format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode([0xff, b':', 0xfe])
        )),
    ];
    for path in [
        "/oauth2/token",
        "/oauth2/revoke",
        "/oauth2/introspect",
        "/oauth2/authorize",
    ] {
        for (content_type, body) in &bodies {
            for auth in &authorizations {
                let mut request = f
                    .client
                    .post(f.up.cp_url(path))
                    .header("content-type", *content_type)
                    .body(body.clone());
                if let Some(auth) = auth {
                    request = request.header("authorization", auth);
                }
                let status = request.send().await.unwrap().status();
                assert!(
                    status.is_client_error(),
                    "{path} {content_type} {auth:?} {} bytes: {status}",
                    body.len()
                );
            }
        }
    }
    for query in [
        "",
        "?client_id=%ff",
        "?response_type=code&client_id=a&client_id=b",
        "?%%%",
    ] {
        let status = f
            .client
            .get(f.up.cp_url(&format!("/oauth2/authorize{query}")))
            .send()
            .await
            .unwrap()
            .status();
        assert!(status.is_client_error(), "authorize{query}: {status}");
    }
    for token in ["", "a.b.c", "Bearer", "x".repeat(9000).as_str()] {
        let status = f
            .client
            .get(f.up.cp_url("/oauth2/userinfo"))
            .header("authorization", format!("Bearer {token}"))
            .send()
            .await
            .unwrap()
            .status();
        assert!(status.is_client_error(), "userinfo {token:.10}: {status}");
    }
}
