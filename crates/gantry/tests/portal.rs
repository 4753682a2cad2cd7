//! The portals against the real `gantry up` binary, over HTTPS without a browser: who may
//! see and do what (anonymous, wrong role, another user's data), CSRF, escaping, sign-up.
//! The browser flow (Playwright + Chromium) is `tests/portal/test_portals.py`, run by
//! `browser_flow_…` below.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::process::Command;

use gantry_testkit::process::ADMIN_PASSWORD;
use gantry_testkit::rest::Rest;
use gantry_testkit::{EchoUpstream, GantryUp};
use reqwest::StatusCode;
use reqwest::header;
use serde_json::json;

const BIN: &str = env!("CARGO_BIN_EXE_gantry");
const PUB: &str = "/api/am/publisher/v4";
const DEV: &str = "/api/am/devportal/v3";
const COOKIE: &str = "__Host-gantry-portal";

/// A browser stand-in: one session cookie, redirects answered to the caller, and the CSRF
/// token of the last page read.
struct Visitor<'a> {
    up: &'a GantryUp,
    client: reqwest::Client,
    cookie: Option<String>,
    csrf: Option<String>,
}

struct Page {
    status: StatusCode,
    location: Option<String>,
    body: String,
}

fn csrf_of(html: &str) -> Option<String> {
    let marker = "name=\"_csrf\" value=\"";
    let start = html.find(marker)? + marker.len();
    let end = html[start..].find('"')?;
    Some(html[start..start + end].to_owned())
}

impl<'a> Visitor<'a> {
    fn new(up: &'a GantryUp) -> Self {
        Self {
            up,
            client: up.cp_client_without_redirects(),
            cookie: None,
            csrf: None,
        }
    }

    async fn read(&mut self, response: reqwest::Response) -> Page {
        for value in response.headers().get_all(header::SET_COOKIE) {
            let value = value.to_str().unwrap();
            assert!(
                value.contains("Secure") && value.contains("HttpOnly"),
                "{value}"
            );
            let pair = value.split(';').next().unwrap();
            if let Some(v) = pair.strip_prefix(&format!("{COOKIE}=")) {
                self.cookie = (!v.is_empty()).then(|| v.to_owned());
            }
        }
        let status = response.status();
        let location = response
            .headers()
            .get(header::LOCATION)
            .map(|v| v.to_str().unwrap().to_owned());
        let body = response.text().await.unwrap();
        if let Some(csrf) = csrf_of(&body) {
            self.csrf = Some(csrf);
        }
        Page {
            status,
            location,
            body,
        }
    }

    fn with_cookie(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.cookie {
            Some(c) => request.header(header::COOKIE, format!("{COOKIE}={c}")),
            None => request,
        }
    }

    async fn get(&mut self, path: &str) -> Page {
        let request = self.with_cookie(self.client.get(self.up.cp_url(path)));
        let response = request.send().await.unwrap();
        self.read(response).await
    }

    /// Posts `fields` with the session's CSRF token.
    async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Page {
        let csrf = self.csrf.clone().unwrap_or_default();
        let mut form: Vec<(&str, &str)> = vec![("_csrf", csrf.as_str())];
        form.extend_from_slice(fields);
        self.post_raw(path, &form).await
    }

    /// Posts exactly `fields` (no token added).
    async fn post_raw(&mut self, path: &str, fields: &[(&str, &str)]) -> Page {
        let body = serde_urlencoded::to_string(fields).unwrap();
        let request = self
            .with_cookie(self.client.post(self.up.cp_url(path)))
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(body);
        let response = request.send().await.unwrap();
        self.read(response).await
    }

    async fn sign_in(up: &'a GantryUp, username: &str, password: &str) -> Self {
        let mut v = Self::new(up);
        let page = v.get("/portal/login").await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(
            page.body
                .contains("<label for=\"username\">Username</label>")
        );
        let page = v
            .post(
                "/portal/login",
                &[("username", username), ("password", password)],
            )
            .await;
        assert_eq!(
            page.status,
            StatusCode::SEE_OTHER,
            "sign-in of {username}: {}",
            page.body
        );
        // Pick up the signed-in session's CSRF token.
        let home = page.location.unwrap();
        let page = v.get(&home).await;
        assert_eq!(page.status, StatusCode::OK, "{home}: {}", page.body);
        v
    }
}

/// Creates a user with `roles` through the Admin portal.
async fn create_user(admin: &mut Visitor<'_>, username: &str, roles: &[&str]) {
    admin.get("/admin/users").await;
    let mut fields = vec![("username", username), ("password", "portal-pass-1")];
    fields.extend(roles.iter().map(|r| ("role", *r)));
    let page = admin.post("/admin/users", &fields).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
}

fn rest(up: &GantryUp) -> Rest {
    up.rest()
}

/// Pages and form actions of each portal (ids filled in where needed).
fn pages(api_id: &str, app_id: &str) -> Vec<(&'static str, String)> {
    vec![
        ("publisher", "/publisher".into()),
        ("publisher", "/publisher/api-products".into()),
        ("publisher", "/publisher/endpoint-certificates".into()),
        ("publisher", "/publisher/apis/new".into()),
        ("publisher", format!("/publisher/apis/{api_id}")),
        ("publisher", format!("/publisher/apis/{api_id}/edit")),
        ("publisher", format!("/publisher/apis/{api_id}/rollouts")),
        ("publisher", format!("/publisher/apis/{api_id}/policies")),
        ("devportal", "/devportal".into()),
        ("devportal", format!("/devportal/apis/{api_id}")),
        ("devportal", "/devportal/applications".into()),
        ("devportal", format!("/devportal/applications/{app_id}")),
        ("admin", "/admin".into()),
        ("admin", "/admin/users".into()),
        ("admin", "/admin/policies/subscription".into()),
        ("admin", "/admin/key-managers".into()),
        ("admin", "/admin/deny-policies".into()),
    ]
}

fn actions(api_id: &str, app_id: &str) -> Vec<(&'static str, String)> {
    vec![
        ("publisher", "/publisher/apis".into()),
        ("publisher", "/publisher/endpoint-certificates".into()),
        ("publisher", format!("/publisher/apis/{api_id}/edit")),
        ("publisher", format!("/publisher/apis/{api_id}/policies")),
        ("publisher", format!("/publisher/apis/{api_id}/lifecycle")),
        ("publisher", format!("/publisher/apis/{api_id}/revisions")),
        ("publisher", format!("/publisher/apis/{api_id}/deploy")),
        ("publisher", format!("/publisher/apis/{api_id}/undeploy")),
        ("publisher", format!("/publisher/apis/{api_id}/delete")),
        ("publisher", format!("/publisher/apis/{api_id}/rollouts")),
        ("devportal", format!("/devportal/apis/{api_id}/subscribe")),
        ("devportal", format!("/devportal/apis/{api_id}/try")),
        ("devportal", "/devportal/applications".into()),
        (
            "devportal",
            format!("/devportal/applications/{app_id}/edit"),
        ),
        (
            "devportal",
            format!("/devportal/applications/{app_id}/delete"),
        ),
        (
            "devportal",
            format!("/devportal/applications/{app_id}/keys"),
        ),
        (
            "devportal",
            format!("/devportal/applications/{app_id}/secret"),
        ),
        (
            "devportal",
            format!("/devportal/applications/{app_id}/token"),
        ),
        ("admin", "/admin/keys/rotate".into()),
        ("admin", "/admin/users".into()),
        ("admin", "/admin/users/roles".into()),
        ("admin", "/admin/policies/subscription".into()),
        ("admin", "/admin/key-managers".into()),
        ("admin", "/admin/deny-policies".into()),
    ]
}

#[tokio::test]
async fn every_page_and_action_refuses_anonymous_visitors_and_users_without_the_role() {
    let up = GantryUp::start(BIN).await;
    let api_id = rest(&up)
        .deployed_api("Guarded", "/guarded", "http://127.0.0.1:9", json!([]))
        .await;
    let mut admin = Visitor::sign_in(&up, "admin", ADMIN_PASSWORD).await;
    let page = admin
        .post(
            "/devportal/applications",
            &[("name", "AdminApp"), ("tier", "Unlimited")],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let app_id = page
        .location
        .unwrap()
        .trim_start_matches("/devportal/applications/")
        .split('?')
        .next()
        .unwrap()
        .to_owned();
    create_user(&mut admin, "sub-only", &["Internal/subscriber"]).await;
    create_user(&mut admin, "creator-only", &["Internal/creator"]).await;

    // Anonymous: pages send to sign-in (and back), actions are refused.
    let mut anonymous = Visitor::new(&up);
    for (_, path) in pages(&api_id, &app_id) {
        let page = anonymous.get(&path).await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "GET {path}");
        let location = page.location.unwrap();
        assert!(
            location.starts_with("/portal/login?next=%2F"),
            "GET {path} → {location}"
        );
    }
    anonymous.get("/portal/login").await;
    for (_, path) in actions(&api_id, &app_id) {
        let page = anonymous.post(&path, &[]).await;
        assert_eq!(page.status, StatusCode::FORBIDDEN, "anonymous POST {path}");
        assert!(!page.body.contains("Sign out"));
    }

    // Signed in without the role: 403 on the other portals' pages and actions.
    for (user, allowed) in [("sub-only", "devportal"), ("creator-only", "publisher")] {
        let mut v = Visitor::sign_in(&up, user, "portal-pass-1").await;
        for (portal, path) in pages(&api_id, &app_id) {
            if portal == allowed {
                continue;
            }
            let page = v.get(&path).await;
            assert_eq!(page.status, StatusCode::FORBIDDEN, "{user} GET {path}");
            assert!(page.body.contains("Not allowed"), "{}", page.body);
            assert!(
                page.body.contains("Sign out"),
                "a signed-in user keeps the top bar on an error page"
            );
        }
        for (portal, path) in actions(&api_id, &app_id) {
            if portal == allowed {
                continue;
            }
            let page = v.post(&path, &[]).await;
            assert_eq!(page.status, StatusCode::FORBIDDEN, "{user} POST {path}");
        }
    }
    // Nothing changed: the API is still published, and still there.
    let (status, api) = rest(&up).get(&format!("{PUB}/apis/{api_id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(api["lifeCycleStatus"], "PUBLISHED");
}

#[tokio::test]
async fn forms_without_the_csrf_token_or_with_another_sessions_token_are_refused() {
    let up = GantryUp::start(BIN).await;
    let mut admin = Visitor::sign_in(&up, "admin", ADMIN_PASSWORD).await;
    let other = Visitor::sign_in(&up, "admin", ADMIN_PASSWORD).await;
    let fields = [("name", "NoToken"), ("tier", "Unlimited")];
    let page = admin.post_raw("/devportal/applications", &fields).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN, "no token");
    assert!(page.body.contains("security token"), "{}", page.body);
    let foreign = other.csrf.clone().unwrap();
    let mut with_foreign = vec![("_csrf", foreign.as_str())];
    with_foreign.extend_from_slice(&fields);
    let page = admin
        .post_raw("/devportal/applications", &with_foreign)
        .await;
    assert_eq!(
        page.status,
        StatusCode::FORBIDDEN,
        "another session's token"
    );
    let page = admin
        .post_raw(
            "/devportal/applications",
            &[
                ("_csrf", "forged"),
                ("name", "NoToken"),
                ("tier", "Unlimited"),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::FORBIDDEN, "forged token");
    // Sign-in itself needs the token of the page it came from.
    let mut fresh = Visitor::new(&up);
    fresh.get("/portal/login").await;
    let page = fresh
        .post_raw(
            "/portal/login",
            &[("username", "admin"), ("password", ADMIN_PASSWORD)],
        )
        .await;
    assert_eq!(page.status, StatusCode::FORBIDDEN, "sign-in without token");
    // With the token, the same form works; and sign-out ends the session.
    let page = admin.post("/devportal/applications", &fields).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    admin.get("/devportal").await;
    let page = admin.post("/portal/logout", &[]).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    let page = admin.get("/devportal").await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "signed out");
}

#[tokio::test]
async fn a_subscriber_never_sees_another_subscribers_applications_or_keys() {
    let up = GantryUp::start(BIN).await;
    let mut alice = Visitor::new(&up);
    alice.get("/devportal/signup").await;
    let page = alice
        .post(
            "/devportal/signup",
            &[
                ("username", "alice"),
                ("password", "alice-pass-1"),
                ("password_again", "alice-pass-1"),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    alice.get("/devportal/applications").await;
    let page = alice
        .post(
            "/devportal/applications",
            &[("name", "AliceSecretApp"), ("tier", "Unlimited")],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let app_path = page.location.unwrap().split('?').next().unwrap().to_owned();
    alice.get(&app_path).await;
    let page = alice
        .post(&format!("{app_path}/keys"), &[("key_type", "PRODUCTION")])
        .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("new-consumer-secret"));
    let page = alice.get(&app_path).await;
    assert!(
        !page.body.contains("new-consumer-secret"),
        "the secret is shown once"
    );

    let mut bob = Visitor::new(&up);
    bob.get("/devportal/signup").await;
    let page = bob
        .post(
            "/devportal/signup",
            &[
                ("username", "bob"),
                ("password", "bob-pass-12"),
                ("password_again", "bob-pass-12"),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let page = bob.get("/devportal/applications").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(!page.body.contains("AliceSecretApp"));
    assert!(page.body.contains("No applications yet"));
    let page = bob.get(&app_path).await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
    for action in ["keys", "secret", "token", "edit", "delete"] {
        let page = bob
            .post(
                &format!("{app_path}/{action}"),
                &[
                    ("key_type", "PRODUCTION"),
                    ("name", "Stolen"),
                    ("tier", "Unlimited"),
                ],
            )
            .await;
        assert_eq!(page.status, StatusCode::NOT_FOUND, "bob POST {action}");
    }
    let page = alice.get(&app_path).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("AliceSecretApp"), "untouched by bob");
    // The owner renames it and changes its tier; a tier that does not exist is explained.
    let page = alice
        .post(
            &format!("{app_path}/edit"),
            &[("name", "AliceApp"), ("tier", "NoSuchTier")],
        )
        .await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert!(page.body.contains("Pick one of the listed tiers"));
    let page = alice
        .post(
            &format!("{app_path}/edit"),
            &[("name", "AliceApp"), ("tier", "10PerMin")],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let page = alice.get(&app_path).await;
    assert!(page.body.contains("<h1>AliceApp</h1>"), "{}", page.body);
    assert!(page.body.contains("Tier 10PerMin"));
}

#[tokio::test]
async fn user_text_is_escaped_everywhere_it_is_shown() {
    let up = GantryUp::start(BIN).await;
    let script = "<script>alert(1)</script>";
    let rest = rest(&up);
    let (status, api) = rest
        .post(
            &format!("{PUB}/apis"),
            json!({"name": "Escaped", "context": "/escaped", "version": "1.0.0",
                   "description": script, "tags": [script]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{api}");
    let api_id = api["id"].as_str().unwrap();
    rest.post_empty(&format!(
        "{PUB}/apis/change-lifecycle?apiId={api_id}&action=Publish"
    ))
    .await;
    let mut admin = Visitor::sign_in(&up, "admin", ADMIN_PASSWORD).await;
    for path in [
        format!("/publisher/apis/{api_id}"),
        "/devportal".to_owned(),
        format!("/devportal/apis/{api_id}"),
    ] {
        let page = admin.get(&path).await;
        assert_eq!(page.status, StatusCode::OK, "{path}");
        assert!(
            page.body.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
            "{path}: {}",
            page.body
        );
        assert!(!page.body.contains(script), "{path} shows raw script");
    }
    // An API *named* like a script is refused, and the form shows the name back escaped,
    // with the reason next to the Name field.
    admin.get("/publisher/apis/new").await;
    let page = admin
        .post(
            "/publisher/apis",
            &[
                ("name", script),
                ("context", "/xss"),
                ("version", "1.0.0"),
                ("endpoint", "http://127.0.0.1:9"),
                ("tier", "Unlimited"),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert!(
        page.body
            .contains("value=\"&lt;script&gt;alert(1)&lt;/script&gt;\"")
    );
    assert!(page.body.contains("class=\"field-error\""));
    assert!(!page.body.contains(script));
    // Notices come from the session, never from the URL, so a link cannot put words on a page.
    let page = admin
        .get("/devportal?done=Your+account+is+locked%3A+call+555-0100")
        .await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(!page.body.contains("555-0100"));
    // The pages tell browsers to run only our own script.
    let response = up
        .cp_client()
        .get(up.cp_url("/portal/login"))
        .send()
        .await
        .unwrap();
    let csp = response.headers()[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap();
    assert!(csp.contains("script-src 'self'"), "{csp}");
}

#[tokio::test]
async fn self_signup_validates_its_fields_and_can_be_turned_off() {
    let up = GantryUp::start(BIN).await;
    let mut v = Visitor::new(&up);
    let page = v.get("/devportal/signup").await;
    assert_eq!(page.status, StatusCode::OK);
    let page = v
        .post(
            "/devportal/signup",
            &[
                ("username", "no spaces please"),
                ("password", "short"),
                ("password_again", "short"),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert!(page.body.contains("id=\"username-error\""), "{}", page.body);
    assert!(page.body.contains("At least 8") || page.body.contains("at least 8"));
    assert!(page.body.contains("id=\"password-error\""));
    // The new account is a subscriber: the devportal opens, the publisher does not.
    let page = v
        .post(
            "/devportal/signup",
            &[
                ("username", "carol"),
                ("password", "carol-pass-1"),
                ("password_again", "carol-pass-1"),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    assert_eq!(v.get("/devportal").await.status, StatusCode::OK);
    assert_eq!(v.get("/publisher").await.status, StatusCode::FORBIDDEN);
    // Taken names are reported next to the field.
    let mut again = Visitor::new(&up);
    again.get("/devportal/signup").await;
    let page = again
        .post(
            "/devportal/signup",
            &[
                ("username", "carol"),
                ("password", "other-pass-1"),
                ("password_again", "other-pass-1"),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert!(page.body.contains("taken"));
    // Wrong passwords are refused on the page, then throttled.
    let mut guesser = Visitor::new(&up);
    guesser.get("/portal/login").await;
    let mut last = StatusCode::OK;
    for _ in 0..12 {
        last = guesser
            .post(
                "/portal/login",
                &[("username", "carol"), ("password", "wrong-guess")],
            )
            .await
            .status;
    }
    assert_eq!(last, StatusCode::TOO_MANY_REQUESTS);

    let off = GantryUp::start_with_env(BIN, false, &[("GANTRY_SELF_SIGNUP", "false")]).await;
    let mut v = Visitor::new(&off);
    assert_eq!(
        v.get("/devportal/signup").await.status,
        StatusCode::NOT_FOUND
    );
    let page = v.get("/portal/login").await;
    assert!(!page.body.contains("/devportal/signup"));
}

#[tokio::test]
async fn the_publisher_creates_an_api_from_a_pasted_openapi_document() {
    let up = GantryUp::start(BIN).await;
    let mut admin = Visitor::sign_in(&up, "admin", ADMIN_PASSWORD).await;
    admin.get("/publisher/apis/new").await;
    let page = admin
        .post(
            "/publisher/apis",
            &[("openapi", "openapi: 3.0.0"), ("context", "/pets")],
        )
        .await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert!(page.body.contains("no operations"), "{}", page.body);
    let document = json!({
        "openapi": "3.0.3",
        "info": {"title": "PetStore", "version": "2.0.0", "description": "Pets for sale."},
        "servers": [{"url": "http://127.0.0.1:9/v2"}],
        "paths": {"/pets": {"get": {"security": []}, "post": {}}, "/pets/{petId}": {"delete": {}}}
    })
    .to_string();
    let page = admin
        .post(
            "/publisher/apis",
            &[
                ("openapi", &document),
                ("context", "/pets"),
                ("tier", "Unlimited"),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let api_page = admin.get(&page.location.unwrap()).await;
    assert_eq!(api_page.status, StatusCode::OK);
    for text in [
        "PetStore",
        "2.0.0",
        "Pets for sale.",
        "/pets/{petId}",
        "http://127.0.0.1:9/v2",
    ] {
        assert!(api_page.body.contains(text), "{text}: {}", api_page.body);
    }
    let (status, list) = rest(&up).get(&format!("{PUB}/apis")).await;
    assert_eq!(status, StatusCode::OK);
    let api_id = list["list"][0]["id"].as_str().unwrap().to_owned();
    let (_, api) = rest(&up).get(&format!("{PUB}/apis/{api_id}")).await;
    let ops = api["operations"].as_array().unwrap();
    assert_eq!(ops.len(), 3, "{api}");
    let open: Vec<_> = ops
        .iter()
        .filter(|o| o["authType"] == "None")
        .map(|o| {
            format!(
                "{} {}",
                o["verb"].as_str().unwrap(),
                o["target"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(open, ["GET /pets"]);
}

#[tokio::test]
async fn the_publisher_lists_the_api_products_a_user_may_manage() {
    let up = GantryUp::start(BIN).await;
    let rest = rest(&up);
    let (status, api) = rest
        .post(
            &format!("{PUB}/apis"),
            json!({"name": "Parts", "context": "/parts", "version": "1.0.0",
                   "endpointConfig": {"endpoint_type": "http",
                       "production_endpoints": {"url": "http://127.0.0.1:9"}},
                   "operations": [{"target": "/bolts", "verb": "GET"}]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{api}");
    for (name, context, roles) in [
        ("Toolkit", "toolkit", json!([])),
        ("Secret kit", "secret-kit", json!(["admin"])),
    ] {
        let control = if roles == json!([]) {
            "NONE"
        } else {
            "RESTRICTED"
        };
        let (status, product) = rest
            .post(
                &format!("{PUB}/api-products"),
                json!({"name": name, "context": context, "policies": ["Gold"],
                       "accessControl": control, "accessControlRoles": roles,
                       "apis": [{"apiId": api["id"], "operations": [{"target": "/bolts", "verb": "GET"}]}]}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{product}");
    }
    let mut admin = Visitor::sign_in(&up, "admin", ADMIN_PASSWORD).await;
    let page = admin.get("/publisher/api-products").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    for shown in [
        "Toolkit",
        "Secret kit",
        "<strong>Parts 1.0.0</strong>: GET /bolts",
        "Gold",
    ] {
        assert!(page.body.contains(shown), "{shown}: {}", page.body);
    }
    create_user(&mut admin, "releaser", &["Internal/publisher"]).await;
    let mut releaser = Visitor::sign_in(&up, "releaser", "portal-pass-1").await;
    let page = releaser.get("/publisher/api-products").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("Toolkit"));
    assert!(
        !page.body.contains("Secret kit"),
        "a product restricted to other roles is not listed"
    );
}

#[tokio::test]
async fn creators_create_and_publishers_publish_as_wso2_roles_say() {
    let up = GantryUp::start(BIN).await;
    let mut admin = Visitor::sign_in(&up, "admin", ADMIN_PASSWORD).await;
    create_user(&mut admin, "maker", &["Internal/creator"]).await;
    create_user(&mut admin, "releaser", &["Internal/publisher"]).await;
    let mut maker = Visitor::sign_in(&up, "maker", "portal-pass-1").await;
    maker.get("/publisher/apis/new").await;
    let page = maker
        .post(
            "/publisher/apis",
            &[
                ("name", "Roles"),
                ("context", "/roles"),
                ("version", "1.0.0"),
                ("endpoint", "http://127.0.0.1:9"),
                ("tier", "Unlimited"),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let api_path = page.location.unwrap().split('?').next().unwrap().to_owned();
    let page = maker.get(&api_path).await;
    assert!(page.body.contains("needs the Internal/publisher role"));
    let page = maker
        .post(&format!("{api_path}/lifecycle"), &[("action", "Publish")])
        .await;
    assert_eq!(
        page.status,
        StatusCode::FORBIDDEN,
        "a creator cannot publish"
    );

    let mut releaser = Visitor::sign_in(&up, "releaser", "portal-pass-1").await;
    assert_eq!(
        releaser.get("/publisher/apis/new").await.status,
        StatusCode::FORBIDDEN,
        "a publisher cannot create"
    );
    let page = releaser.get(&api_path).await;
    assert!(!page.body.contains("Delete this API"));
    let page = releaser
        .post(&format!("{api_path}/lifecycle"), &[("action", "Publish")])
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let page = releaser.post(&format!("{api_path}/delete"), &[]).await;
    assert_eq!(
        page.status,
        StatusCode::FORBIDDEN,
        "a publisher cannot delete"
    );
    let page = releaser.get(&api_path).await;
    assert!(page.body.contains("PUBLISHED"));
    assert!(
        page.body.contains("CREATED → PUBLISHED · by releaser"),
        "the lifecycle history names who published: {}",
        page.body
    );
}

#[tokio::test]
async fn the_publisher_edits_an_apis_description_tiers_operations_and_cors() {
    let up = GantryUp::start(BIN).await;
    let (status, api) = rest(&up)
        .post(
            &format!("{PUB}/apis"),
            json!({
                "name": "Editable", "context": "/editable", "version": "1.0.0",
                "description": "Before.",
                "policies": ["Unlimited"],
                "endpointConfig": {"endpoint_type": "http", "production_endpoints": {
                    "url": "http://127.0.0.1:9", "config": {"actionDuration": "1000"}}},
                "operations": [
                    {"verb": "GET", "target": "/items", "throttlingPolicy": "10KPerMin", "scopes": ["items:read"]},
                    {"verb": "POST", "target": "/items"}
                ],
            }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{api}");
    let api_id = api["id"].as_str().unwrap().to_owned();
    let edit = format!("/publisher/apis/{api_id}/edit");

    let mut admin = Visitor::sign_in(&up, "admin", ADMIN_PASSWORD).await;
    let page = admin.get(&format!("/publisher/apis/{api_id}")).await;
    assert!(
        page.body.contains(&format!("href=\"{edit}\"")),
        "{}",
        page.body
    );
    let page = admin.get(&edit).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    for text in [
        "<label for=\"description\">Description</label>",
        "Before.",
        "value=\"http://127.0.0.1:9\"",
        "GET /items\nPOST /items",
        "name=\"etag\"",
    ] {
        assert!(page.body.contains(text), "{text}: {}", page.body);
    }
    let fields = |ops: &'static str| {
        vec![
            ("description", "After <b>edit</b>."),
            ("endpoint", "http://127.0.0.1:9/v2"),
            ("sandbox", "http://127.0.0.1:9/sandbox"),
            ("tier", "Gold"),
            ("tier", "Silver"),
            ("operations", ops),
            ("cors_enabled", "on"),
            (
                "cors_origins",
                "https://app.example.com, https://admin.example.com",
            ),
        ]
    };

    // A bad operation line: the error is next to the field and nothing is saved.
    let page = admin.post(&edit, &fields("GET /items\nFETCH")).await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST, "{}", page.body);
    assert!(
        shown_between(&page.body, "operations", "line 2:", "tier-1"),
        "{}",
        page.body
    );
    assert!(
        page.body.contains("After &lt;b&gt;edit&lt;/b&gt;."),
        "the input is kept, escaped"
    );
    let page = admin.post(&edit, &fields("GET /items\nPOST items")).await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST, "{}", page.body);
    assert!(
        shown_between(&page.body, "operations", "operations[1].target", "tier-1"),
        "the REST validation message lands on the field: {}",
        page.body
    );
    let (_, unchanged) = rest(&up).get(&format!("{PUB}/apis/{api_id}")).await;
    assert_eq!(unchanged["description"], "Before.");
    assert_eq!(unchanged["policies"], json!(["Unlimited"]));
    assert_eq!(unchanged["operations"].as_array().unwrap().len(), 2);

    // A good edit is saved through the REST update path.
    let page = admin
        .post(&edit, &fields("GET /items\nDELETE /items/{id} open"))
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let location = page.location.unwrap();
    assert_eq!(location, format!("/publisher/apis/{api_id}"));
    let page = admin.get(&location).await;
    assert!(
        page.body.contains("create a new revision and deploy it"),
        "{}",
        page.body
    );
    let (status, api) = rest(&up).get(&format!("{PUB}/apis/{api_id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(api["description"], "After <b>edit</b>.");
    assert_eq!(api["policies"], json!(["Gold", "Silver"]));
    assert_eq!(
        api["endpointConfig"]["production_endpoints"],
        json!({"url": "http://127.0.0.1:9/v2", "config": {"actionDuration": "1000"}})
    );
    assert_eq!(
        api["endpointConfig"]["sandbox_endpoints"]["url"],
        "http://127.0.0.1:9/sandbox"
    );
    let ops = api["operations"].as_array().unwrap();
    assert_eq!(ops.len(), 2, "{api}");
    assert_eq!(
        (ops[0]["verb"].as_str(), ops[0]["target"].as_str()),
        (Some("GET"), Some("/items"))
    );
    assert_eq!(ops[0]["throttlingPolicy"], "10KPerMin", "kept: {api}");
    assert_eq!(ops[0]["scopes"], json!(["items:read"]));
    assert_eq!(
        (ops[1]["verb"].as_str(), ops[1]["target"].as_str()),
        (Some("DELETE"), Some("/items/{id}"))
    );
    assert_eq!(ops[1]["authType"], "None");
    let cors = &api["corsConfiguration"];
    assert_eq!(cors["corsConfigurationEnabled"], true);
    assert_eq!(
        cors["accessControlAllowOrigins"],
        json!(["https://app.example.com", "https://admin.example.com"])
    );
    assert_eq!(cors["accessControlAllowCredentials"], false);
    assert_eq!(api["name"], "Editable");
    assert_eq!(api["lifeCycleStatus"], "CREATED");

    // A form opened before someone else's change does not overwrite it silently.
    let page = admin.get(&edit).await;
    let marker = "name=\"etag\" value=\"";
    let start = page.body.find(marker).unwrap() + marker.len();
    let end = start + page.body[start..].find('"').unwrap();
    let etag = page.body[start..end]
        .replace("&#34;", "\"")
        .replace("&quot;", "\"");
    let mut concurrent = api.clone();
    concurrent["description"] = json!("Concurrent.");
    let (status, body) = rest(&up)
        .put(&format!("{PUB}/apis/{api_id}"), concurrent)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let mut stale = fields("GET /items");
    stale.push(("etag", etag.as_str()));
    let page = admin.post(&edit, &stale).await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST, "{}", page.body);
    assert!(page.body.contains("Someone else changed"), "{}", page.body);
    let (_, api) = rest(&up).get(&format!("{PUB}/apis/{api_id}")).await;
    assert_eq!(api["description"], "Concurrent.");

    // A subscriber may neither open the form nor post it.
    create_user(&mut admin, "edit-sub", &["Internal/subscriber"]).await;
    let mut subscriber = Visitor::sign_in(&up, "edit-sub", "portal-pass-1").await;
    assert_eq!(subscriber.get(&edit).await.status, StatusCode::FORBIDDEN);
    let page = subscriber.post(&edit, &fields("GET /hacked")).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    let (_, after) = rest(&up).get(&format!("{PUB}/apis/{api_id}")).await;
    assert_eq!(after["operations"], api["operations"]);
}

/// `html` shows `text` between the inputs `first` and `next` (a field error next to its input).
#[tokio::test]
async fn the_publisher_attaches_orders_and_removes_operation_policies_by_form() {
    let up = GantryUp::start(BIN).await;
    let (status, api) = rest(&up)
        .post(
            &format!("{PUB}/apis"),
            json!({"name": "Shaped", "context": "/shaped", "version": "1.0.0",
                "endpointConfig": {"endpoint_type": "http", "production_endpoints": {"url": "http://127.0.0.1:9"}},
                "operations": [{"verb": "GET", "target": "/items"}, {"verb": "POST", "target": "/items"}]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{api}");
    let api_id = api["id"].as_str().unwrap().to_owned();
    let policies = format!("/publisher/apis/{api_id}/policies");
    let mut admin = Visitor::sign_in(&up, "admin", ADMIN_PASSWORD).await;
    let page = admin.get(&format!("/publisher/apis/{api_id}")).await;
    assert!(
        page.body.contains(&format!("href=\"{policies}\"")),
        "{}",
        page.body
    );
    let page = admin.get(&policies).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("jsonSchemaValidator") && page.body.contains("POST /items"));
    let etag = |body: &str| {
        let marker = "name=\"etag\" value=\"";
        let start = body.find(marker).unwrap() + marker.len();
        // As a browser reads the attribute: the page escapes the ETag's quotes.
        body[start..start + body[start..].find('"').unwrap()]
            .replace("&quot;", "\"")
            .replace("&amp;", "&")
    };
    let attach = |point: &'static str,
                  policy: &'static str,
                  position: &'static str,
                  parameters: &'static str| {
        vec![
            ("action", "attach"),
            ("point", point),
            ("flow", "request"),
            ("policy", policy),
            ("position", position),
            ("parameters", parameters),
        ]
    };
    for (point, policy, position, parameters) in [
        ("op:1", "addHeader", "", "headerName=X-First\nheaderValue=1"),
        ("op:1", "removeHeader", "1", "headerName=X-Gone"),
        (
            "api",
            "addQueryParam",
            "",
            "paramKey=from\nparamValue=portal",
        ),
    ] {
        let tag = etag(&admin.get(&policies).await.body);
        let mut fields = attach(point, policy, position, parameters);
        fields.push(("etag", &tag));
        let page = admin.post(&policies, &fields).await;
        assert_eq!(
            page.status,
            StatusCode::SEE_OTHER,
            "{policy}: {}",
            page.body
        );
    }
    // A bad parameter: the REST validation's message, naming the field, and nothing saved.
    admin.get(&policies).await;
    let page = admin
        .post(
            &policies,
            &attach("op:0", "addHeader", "", "headerName=X Bad\nheaderValue=1"),
        )
        .await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert!(
        page.body
            .contains("operations[0].operationPolicies.request[0].parameters.headerName"),
        "{}",
        page.body
    );
    let (_, stored) = rest(&up).get(&format!("{PUB}/apis/{api_id}")).await;
    let names = |stored: &serde_json::Value| -> Vec<String> {
        stored["operations"][1]["operationPolicies"]["request"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["policyName"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(names(&stored), ["removeHeader", "addHeader"]);
    assert_eq!(
        stored["apiPolicies"]["request"][0]["parameters"]["paramKey"],
        "from"
    );
    assert!(
        stored["operations"][0].get("operationPolicies").is_none(),
        "{stored}"
    );
    // Move the second up, then remove the first.
    for (action, index) in [("up", "1"), ("remove", "0")] {
        let tag = etag(&admin.get(&policies).await.body);
        let page = admin
            .post(
                &policies,
                &[
                    ("action", action),
                    ("point", "op:1"),
                    ("flow", "request"),
                    ("index", index),
                    ("etag", &tag),
                ],
            )
            .await;
        assert_eq!(
            page.status,
            StatusCode::SEE_OTHER,
            "{action}: {}",
            page.body
        );
    }
    let (_, stored) = rest(&up).get(&format!("{PUB}/apis/{api_id}")).await;
    assert_eq!(names(&stored), ["removeHeader"]);
}

fn shown_between(html: &str, first: &str, text: &str, next: &str) -> bool {
    let (Some(a), Some(b), Some(c)) = (
        html.find(&format!("id=\"{first}\"")),
        html.find(text),
        html.find(&format!("id=\"{next}\"")),
    ) else {
        return false;
    };
    a < b && b < c
}

#[tokio::test]
async fn admins_manage_throttling_policies_and_key_managers_in_the_admin_portal() {
    const POLICIES: &str = "/api/am/admin/v4/throttling/policies/subscription";
    let up = GantryUp::start(BIN).await;
    let rest = rest(&up);
    let mut admin = Visitor::sign_in(&up, "admin", ADMIN_PASSWORD).await;
    let page = admin.get("/admin/policies/subscription").await;
    assert_eq!(page.status, StatusCode::OK);
    for label in [
        "<label for=\"policy-name\">Name</label>",
        "<label for=\"policy-description\">Description</label>",
        "<label for=\"policy-requests\">Requests</label>",
        "<label for=\"policy-unit-time\">per</label>",
        "<label for=\"policy-time-unit\">Time unit</label>",
        "<label class=\"check\" for=\"policy-unlimited\">",
    ] {
        assert!(page.body.contains(label), "{label}");
    }

    // Bad values: the REST validation's reason next to the input it names, values kept.
    let fields = |requests: &'static str| {
        [
            ("name", "Gold5"),
            ("description", "Five a <minute>"),
            ("requests", requests),
            ("unit_time", "1"),
            ("time_unit", "min"),
        ]
    };
    let page = admin
        .post("/admin/policies/subscription", &fields("0"))
        .await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST, "{}", page.body);
    assert!(
        shown_between(
            &page.body,
            "policy-requests",
            "must be at least 1",
            "policy-unit-time"
        ),
        "{}",
        page.body
    );
    assert!(page.body.contains("value=\"Gold5\""));
    assert!(page.body.contains("value=\"Five a &lt;minute&gt;\""));
    let page = admin
        .post("/admin/policies/subscription", &fields("ten"))
        .await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert!(shown_between(
        &page.body,
        "policy-requests",
        "is not a whole number",
        "policy-unit-time"
    ));
    let mut bad_name = fields("5");
    bad_name[0].1 = "Gold 5!";
    let page = admin.post("/admin/policies/subscription", &bad_name).await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert!(shown_between(
        &page.body,
        "policy-name",
        "letters, digits",
        "policy-description"
    ));

    // Created: listed, and the REST API serves it.
    let page = admin
        .post("/admin/policies/subscription", &fields("5"))
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let page = admin.get(&page.location.unwrap()).await;
    assert!(page.body.contains("Policy Gold5 created"), "{}", page.body);
    assert!(page.body.contains("<strong>Gold5</strong>"));
    assert!(page.body.contains("5 requests per min"));
    let (status, list) = rest.get(POLICIES).await;
    assert_eq!(status, StatusCode::OK);
    let gold = list["list"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["policyName"] == "Gold5")
        .cloned()
        .unwrap_or_else(|| panic!("Gold5 not in {list}"));
    assert_eq!(gold["defaultLimit"]["requestCount"]["requestCount"], 5);
    assert_eq!(gold["description"], "Five a <minute>");
    let id = gold["policyId"].as_str().unwrap().to_owned();

    // Edited: the name stays whatever the form says.
    let edit = format!("/admin/policies/subscription/{id}");
    let page = admin.get(&edit).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("value=\"Gold5\" readonly"));
    let page = admin
        .post(
            &edit,
            &[
                ("name", "Renamed"),
                ("requests", "10"),
                ("unit_time", "2"),
                ("time_unit", "hour"),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let (_, gold) = rest.get(&format!("{POLICIES}/{id}")).await;
    assert_eq!(gold["policyName"], "Gold5");
    assert_eq!(
        gold["defaultLimit"]["requestCount"],
        json!({"timeUnit": "hour", "unitTime": 2, "requestCount": 10})
    );
    let page = admin.post(&edit, &[("unit_time", "0")]).await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert!(page.body.contains("field-error"), "{}", page.body);

    // A subscriber may neither see nor change any of it.
    create_user(&mut admin, "sub-only", &["Internal/subscriber"]).await;
    let mut sub = Visitor::sign_in(&up, "sub-only", "portal-pass-1").await;
    for path in [
        "/admin/policies/subscription".to_owned(),
        "/admin/policies/advanced".to_owned(),
        edit.clone(),
        "/admin/key-managers".to_owned(),
    ] {
        let page = sub.get(&path).await;
        assert_eq!(page.status, StatusCode::FORBIDDEN, "GET {path}");
        assert!(page.body.contains("Not allowed"));
    }
    for path in [
        "/admin/policies/subscription".to_owned(),
        edit.clone(),
        format!("{edit}/delete"),
        "/admin/key-managers".to_owned(),
        "/admin/key-managers/x/enabled".to_owned(),
        "/admin/key-managers/x/delete".to_owned(),
    ] {
        let page = sub.post(&path, &fields("7")).await;
        assert_eq!(page.status, StatusCode::FORBIDDEN, "POST {path}");
    }
    let (status, _) = rest.get(&format!("{POLICIES}/{id}")).await;
    assert_eq!(status, StatusCode::OK);

    // In use by an API: deleting is refused, saying why; once unused, it goes.
    let (status, api) = rest
        .post(
            &format!("{PUB}/apis"),
            json!({"name": "Tiered", "context": "/tiered", "version": "1.0.0",
                   "policies": ["Gold5"]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{api}");
    admin.get("/admin/policies/subscription").await;
    let page = admin.post(&format!("{edit}/delete"), &[]).await;
    assert_eq!(page.status, StatusCode::CONFLICT);
    assert!(page.body.contains("is in use"), "{}", page.body);
    let (status, _) = rest
        .delete(&format!("{PUB}/apis/{}", api["id"].as_str().unwrap()))
        .await;
    assert!(status.is_success(), "{status}");
    let page = admin.post(&format!("{edit}/delete"), &[]).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let page = admin.get("/admin/policies/subscription").await;
    assert!(page.body.contains("Policy Gold5 deleted"));
    let (_, list) = rest.get(POLICIES).await;
    assert!(
        !list["list"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["policyName"] == "Gold5")
    );

    // Key managers: the resident one first; an unreachable discovery URL is shown next to
    // its input and nothing is added.
    let page = admin.get("/admin/key-managers").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("<strong>Resident Key Manager</strong>"));
    assert!(
        page.body
            .contains("<label for=\"km-discovery\">Discovery URL</label>")
    );
    let page = admin
        .post(
            "/admin/key-managers",
            &[
                ("name", "Corp"),
                ("kind", "KeyCloak"),
                (
                    "discovery",
                    "http://127.0.0.1:9/.well-known/openid-configuration",
                ),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST, "{}", page.body);
    assert!(
        shown_between(&page.body, "km-discovery", "could not fetch", "km-issuer"),
        "{}",
        page.body
    );
    assert!(page.body.contains("value=\"Corp\""));
    let page = admin
        .post("/admin/key-managers", &[("kind", "KeyCloak")])
        .await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert!(shown_between(
        &page.body,
        "km-name",
        "is required",
        "km-type"
    ));
    let (status, list) = rest.get("/api/am/admin/v4/key-managers").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["list"].as_array().unwrap().len(), 1, "{list}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admins_block_and_unblock_callers_in_the_admin_portal() {
    const DENY: &str = "/api/am/admin/v4/throttling/deny-policies";
    let up = GantryUp::start(BIN).await;
    let rest = rest(&up);
    let upstream = EchoUpstream::start().await;
    let api = rest
        .deployed_api(
            "Guarded",
            "/guarded",
            &upstream.url(),
            json!([{"target": "/x", "verb": "GET"}]),
        )
        .await;
    let token = rest
        .subscribed_token("GuardApp", &[&api], "Unlimited")
        .await;
    assert!(
        up.eventually_gw_status("/guarded/1.0.0/x", &token, 200)
            .await
    );
    let mut admin = Visitor::sign_in(&up, "admin", ADMIN_PASSWORD).await;
    let page = admin.get("/admin/deny-policies").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("No deny policies"), "{}", page.body);

    // A bad address: the REST validation's reason shown, values kept.
    let page = admin
        .post(
            "/admin/deny-policies",
            &[("kind", "IP"), ("value", "127.0.0.300")],
        )
        .await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert!(
        page.body.contains("is not an IPv4 or IPv6 address"),
        "{}",
        page.body
    );
    assert!(page.body.contains("value=\"127.0.0.300\""));

    // Added: listed, served over REST, enforced by the gateway.
    let page = admin
        .post(
            "/admin/deny-policies",
            &[("kind", "IP"), ("value", "127.0.0.1")],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let page = admin.get(&page.location.unwrap()).await;
    assert!(
        page.body.contains("<code>127.0.0.1</code>"),
        "{}",
        page.body
    );
    let (_, list) = rest.get(DENY).await;
    assert_eq!(list["count"], 1, "{list}");
    let id = list["list"][0]["conditionId"].as_str().unwrap().to_owned();
    assert!(
        up.eventually_gw_status("/guarded/1.0.0/x", &token, 403)
            .await
    );

    // Switched off and deleted.
    let page = admin
        .post(
            &format!("/admin/deny-policies/{id}/enabled"),
            &[("enabled", "false")],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    assert!(
        up.eventually_gw_status("/guarded/1.0.0/x", &token, 200)
            .await
    );
    let (_, one) = rest
        .get(&format!("/api/am/admin/v4/throttling/deny-policy/{id}"))
        .await;
    assert_eq!(one["conditionStatus"], false);
    let page = admin
        .post(&format!("/admin/deny-policies/{id}/delete"), &[])
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let (_, list) = rest.get(DENY).await;
    assert_eq!(list["count"], 0, "{list}");
}

fn suite_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/portal")
}

const CHROMIUM: &str = "/usr/bin/chromium";

/// Whether python3 with Playwright and Debian's Chromium are usable; why not otherwise.
fn browser_ready() -> Result<(), String> {
    if !std::path::Path::new(CHROMIUM).exists() {
        return Err(format!("{CHROMIUM} is missing (apt-get install chromium)"));
    }
    gantry_testkit::python::can_import("playwright.sync_api", "playwright")
}

#[tokio::test]
#[ignore = "needs Playwright for Python and Debian's Chromium: .ci/run installs them and runs it"]
async fn browser_flow_publish_deploy_sign_up_subscribe_and_try_it_in_chromium() {
    gantry_testkit::python::require("the portal browser test", browser_ready());
    let upstream = EchoUpstream::start().await;
    let up = GantryUp::start(BIN).await;
    let out = tokio::task::spawn_blocking({
        let env = [
            ("GANTRY_CP", up.cp_url("")),
            ("GANTRY_ADMIN_PASSWORD", ADMIN_PASSWORD.to_owned()),
            ("ECHO_URL", upstream.url()),
            ("CHROMIUM", CHROMIUM.to_owned()),
            (
                "SCREENSHOT_DIR",
                PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                    .join("../../docs/screenshots")
                    .display()
                    .to_string(),
            ),
        ];
        move || {
            Command::new("python3")
                .args(["-m", "unittest", "-v", "test_portals"])
                .current_dir(suite_dir())
                .envs(env)
                .env("PYTHONDONTWRITEBYTECODE", "1")
                .env("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
                .output()
        }
    })
    .await
    .unwrap()
    .unwrap();
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("{report}");
    assert!(out.status.success(), "the browser test failed:\n{report}");
    assert!(upstream.hits() > 0, "Try it reached the upstream");
}

#[tokio::test]
async fn the_publisher_starts_a_rollout_from_the_plan_form_and_follows_it_live() {
    let up = GantryUp::start(BIN).await;
    let upstream = EchoUpstream::start().await;
    let r = rest(&up);
    let api_id = r
        .deployed_api(
            "Staged",
            "/staged",
            &upstream.url(),
            json!([{"target": "/*", "verb": "GET", "authType": "None"}]),
        )
        .await;
    let (status, revision) = r
        .post(&format!("{PUB}/apis/{api_id}/revisions"), json!({}))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let revision_id = revision["id"].as_str().unwrap().to_owned();
    let mut admin = Visitor::sign_in(&up, "admin", ADMIN_PASSWORD).await;
    let page = admin.get(&format!("/publisher/apis/{api_id}")).await;
    assert!(
        page.body
            .contains(&format!("/publisher/apis/{api_id}/rollouts"))
    );
    let page = admin
        .get(&format!("/publisher/apis/{api_id}/rollouts"))
        .await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("Revision 2") && page.body.contains("No rollouts yet"));
    // A bad step is refused with the reason.
    let page = admin
        .post(
            &format!("/publisher/apis/{api_id}/rollouts"),
            &[
                ("revision_id", revision_id.as_str()),
                ("steps", "Default 150"),
                ("window_secs", "1"),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST, "{}", page.body);
    assert!(
        page.body.contains("steps[0].weight: must be 1 to 100"),
        "{}",
        page.body
    );
    admin
        .get(&format!("/publisher/apis/{api_id}/rollouts"))
        .await;
    let page = admin
        .post(
            &format!("/publisher/apis/{api_id}/rollouts"),
            &[
                ("revision_id", revision_id.as_str()),
                ("steps", "Default 50\r\nDefault"),
                ("window_secs", "2"),
                ("min_requests", "0"),
                ("max_error_ratio", "0.01"),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let location = page.location.unwrap();
    let page = admin.get(&location).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body.contains("http-equiv=\"refresh\""),
        "{}",
        page.body
    );
    assert!(page.body.contains("Default") && page.body.contains("50 %"));
    let done = gantry_testkit::eventually(std::time::Duration::from_secs(20), || async {
        let (_, list) = r.get(&format!("{PUB}/apis/{api_id}/rollouts")).await;
        list["list"][0]["status"] == "SUCCEEDED"
    })
    .await;
    assert!(done);
    let page = admin.get(&location).await;
    assert!(page.body.contains("SUCCEEDED"), "{}", page.body);
    assert!(!page.body.contains("http-equiv=\"refresh\""));
    assert!(page.body.contains("step-passed") && page.body.contains("succeeded"));
    let page = admin
        .get(&format!("/publisher/apis/{api_id}/rollouts"))
        .await;
    assert!(page.body.contains("SUCCEEDED") && page.body.contains("Revision 2"));
}

#[tokio::test]
async fn readers_rate_comment_and_reply_on_an_apis_page_and_see_it_as_text() {
    let up = GantryUp::start(BIN).await;
    let rest = rest(&up);
    let (status, api) = rest
        .post(
            &format!("{PUB}/apis"),
            json!({"name": "Talked", "context": "/talked", "version": "1.0.0"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{api}");
    let api_id = api["id"].as_str().unwrap().to_owned();
    rest.post_empty(&format!(
        "{PUB}/apis/change-lifecycle?apiId={api_id}&action=Publish"
    ))
    .await;
    let mut admin = Visitor::sign_in(&up, "admin", ADMIN_PASSWORD).await;
    create_user(&mut admin, "reader", &["Internal/subscriber"]).await;
    let mut reader = Visitor::sign_in(&up, "reader", "portal-pass-1").await;
    let page_path = format!("/devportal/apis/{api_id}");
    let page = reader.get(&page_path).await;
    assert!(
        page.body
            .contains("Rated <strong id=\"average-rating\">0.0</strong> of 5 by 0 readers")
    );

    let script = "<script>alert(1)</script> is this safe?";
    let posted = reader
        .post(&format!("{page_path}/comments"), &[("content", script)])
        .await;
    assert_eq!(posted.status, StatusCode::SEE_OTHER, "{}", posted.body);
    let (_, comments) = rest.get(&format!("{DEV}/apis/{api_id}/comments")).await;
    assert_eq!(comments["list"][0]["entryPoint"], "devPortal");
    assert_eq!(comments["list"][0]["createdBy"], "reader");
    let comment_id = comments["list"][0]["id"].as_str().unwrap().to_owned();
    reader.get(&page_path).await;
    let replied = reader
        .post(
            &format!("{page_path}/comments"),
            &[
                ("content", "Yes: it is shown as text."),
                ("reply_to", &comment_id),
            ],
        )
        .await;
    assert_eq!(replied.status, StatusCode::SEE_OTHER, "{}", replied.body);
    reader.get(&page_path).await;
    let rated = reader
        .post(&format!("{page_path}/rating"), &[("rating", "4")])
        .await;
    assert_eq!(rated.status, StatusCode::SEE_OTHER, "{}", rated.body);
    reader.get(&page_path).await;
    let refused = reader
        .post(&format!("{page_path}/rating"), &[("rating", "9")])
        .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.body);

    let page = reader.get(&page_path).await;
    assert!(
        page.body
            .contains("&lt;script&gt;alert(1)&lt;/script&gt; is this safe?"),
        "{}",
        page.body
    );
    assert!(!page.body.contains("<script>alert(1)"));
    assert!(page.body.contains("Yes: it is shown as text."));
    assert!(
        page.body
            .contains("Rated <strong id=\"average-rating\">4.0</strong> of 5 by 1 reader")
    );
    assert!(page.body.contains("your rating: 4"));
    let (_, ratings) = rest.get(&format!("{DEV}/apis/{api_id}/ratings")).await;
    assert_eq!(ratings["avgRating"], "4.0");
}

/// The Developer Portal's catalogue filters by API category (the categories an
/// administrator defined, offered as a choice), alone or with the search text (the pager
/// keeping the filter is a unit test of `Pager`).
#[tokio::test]
async fn the_catalogue_filters_by_category() {
    let upstream = EchoUpstream::start().await;
    let up = GantryUp::start(BIN).await;
    let api = rest(&up);
    for name in ["Finance", "Travel"] {
        let (status, body) = api
            .post("/api/am/admin/v4/api-categories", json!({"name": name}))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    for (name, category) in [
        ("LedgerAPI", "Finance"),
        ("PayrollAPI", "Finance"),
        ("FlightsAPI", "Travel"),
    ] {
        api.create_and_deploy(json!({
            "name": name, "context": format!("/{}", name.to_lowercase()), "version": "1.0.0",
            "categories": [category],
            "endpointConfig": {"endpoint_type": "http",
                "production_endpoints": {"url": upstream.url()}}}))
            .await;
    }
    let mut admin = Visitor::sign_in(&up, "admin", ADMIN_PASSWORD).await;
    let all = admin.get("/devportal").await;
    assert_eq!(all.status, StatusCode::OK);
    assert!(
        all.body
            .contains(r#"<option value="Finance">Finance</option>"#),
        "{}",
        all.body
    );
    for name in ["LedgerAPI", "PayrollAPI", "FlightsAPI"] {
        assert!(all.body.contains(name), "{name}");
    }
    let finance = admin.get("/devportal?category=finance").await;
    assert_eq!(finance.status, StatusCode::OK);
    assert!(finance.body.contains("LedgerAPI") && finance.body.contains("PayrollAPI"));
    assert!(!finance.body.contains("FlightsAPI"), "{}", finance.body);
    assert!(
        finance
            .body
            .contains(r#"<option value="Finance" selected>Finance</option>"#),
        "the choice is kept"
    );
    let both = admin.get("/devportal?q=payroll&category=Finance").await;
    assert!(both.body.contains("PayrollAPI") && !both.body.contains("LedgerAPI"));
    let none = admin.get("/devportal?category=Travel&q=ledger").await;
    assert!(
        none.body.contains("No APIs in the category"),
        "{}",
        none.body
    );
    let unknown = admin.get("/devportal?category=%3Cscript%3E").await;
    assert_eq!(unknown.status, StatusCode::OK);
    assert!(!unknown.body.contains("<script>"), "escaped");
}

#[tokio::test]
async fn a_restricted_api_is_absent_from_the_publisher_portal_for_those_it_leaves_out() {
    let up = GantryUp::start(BIN).await;
    let rest = rest(&up);
    let mut ids = Vec::new();
    for (name, context, control, roles) in [
        ("Open shelf", "/open-shelf", "NONE", json!([])),
        ("Vault", "/vault", "RESTRICTED", json!(["admin"])),
    ] {
        let (status, api) = rest
            .post(
                &format!("{PUB}/apis"),
                json!({"name": name, "context": context, "version": "1.0.0",
                       "accessControl": control, "accessControlRoles": roles,
                       "endpointConfig": {"endpoint_type": "http",
                           "production_endpoints": {"url": "http://127.0.0.1:9"}},
                       "operations": [{"target": "/items", "verb": "GET"}]}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{api}");
        ids.push(api["id"].as_str().unwrap().to_owned());
    }
    let (open, vault) = (&ids[0], &ids[1]);
    let (status, revision) = rest
        .post_empty(&format!("{PUB}/apis/{vault}/revisions"))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{revision}");
    let revision_id = revision["id"].as_str().unwrap();

    let mut admin = Visitor::sign_in(&up, "admin", ADMIN_PASSWORD).await;
    let page = admin.get("/publisher").await;
    assert!(page.body.contains("Vault") && page.body.contains("Open shelf"));
    assert_eq!(
        admin.get(&format!("/publisher/apis/{vault}")).await.status,
        StatusCode::OK
    );

    create_user(
        &mut admin,
        "outside-publisher",
        &["Internal/creator", "Internal/publisher"],
    )
    .await;
    let mut outsider = Visitor::sign_in(&up, "outside-publisher", "portal-pass-1").await;
    let page = outsider.get("/publisher").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("Open shelf"), "{}", page.body);
    assert!(
        !page.body.contains("Vault"),
        "a restricted API is not listed"
    );
    assert_eq!(
        outsider
            .get(&format!("/publisher/apis/{open}"))
            .await
            .status,
        StatusCode::OK
    );
    for path in ["", "/edit", "/rollouts", "/policies"] {
        let page = outsider
            .get(&format!("/publisher/apis/{vault}{path}"))
            .await;
        assert_eq!(page.status, StatusCode::NOT_FOUND, "{path}: {}", page.body);
        assert!(!page.body.contains("Vault"), "{path}");
    }
    // Its forms are refused as for an API that does not exist, and change nothing.
    for (path, fields) in [
        (
            "deploy",
            vec![("revision_id", revision_id), ("environment", "Default")],
        ),
        ("lifecycle", vec![("action", "Publish")]),
        ("delete", vec![]),
    ] {
        let page = outsider
            .post(&format!("/publisher/apis/{vault}/{path}"), &fields)
            .await;
        assert_eq!(page.status, StatusCode::NOT_FOUND, "{path}: {}", page.body);
    }
    let (status, api) = rest.get(&format!("{PUB}/apis/{vault}")).await;
    assert_eq!(status, StatusCode::OK, "{api}");
    assert_eq!(api["lifeCycleStatus"], "CREATED");
    let (_, deployments) = rest.get(&format!("{PUB}/apis/{vault}/deployments")).await;
    assert_eq!(deployments["count"], 0, "{deployments}");
}

#[tokio::test]
async fn the_deploy_form_previews_what_the_gateways_would_change_then_deploys_it() {
    let up = GantryUp::start(BIN).await;
    let rest = rest(&up);
    let api_id = rest
        .deployed_api(
            "Atlas",
            "/atlas",
            "http://127.0.0.1:9",
            json!([{"target": "/maps", "verb": "GET", "authType": "None"}]),
        )
        .await;
    // The working copy gains an operation and guards the old one with a token.
    let (_, mut api) = rest.get(&format!("{PUB}/apis/{api_id}")).await;
    api["operations"] = json!([
        {"target": "/maps", "verb": "GET", "authType": "Application & Application User"},
        {"target": "/routes", "verb": "POST"}
    ]);
    let (status, body) = rest.put(&format!("{PUB}/apis/{api_id}"), api).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, revision) = rest
        .post_empty(&format!("{PUB}/apis/{api_id}/revisions"))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{revision}");
    let revision_id = revision["id"].as_str().unwrap();

    let mut admin = Visitor::sign_in(&up, "admin", ADMIN_PASSWORD).await;
    let page = admin.get(&format!("/publisher/apis/{api_id}")).await;
    assert!(
        page.body
            .contains(&format!("formaction=\"/publisher/apis/{api_id}/preview\"")),
        "the deploy form offers a preview: {}",
        page.body
    );
    let fields = [("revision_id", revision_id), ("environment", "Default")];
    let page = admin
        .post(&format!("/publisher/apis/{api_id}/preview"), &fields)
        .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(
        page.body.contains("1 added, 0 removed, 1 changed"),
        "{}",
        page.body
    );
    assert!(
        page.body
            .contains("<td>added</td><td>POST</td><td><code>/atlas/1.0.0/routes</code>"),
        "{}",
        page.body
    );
    assert!(
        page.body
            .contains("<td>changed</td><td>GET</td><td><code>/atlas/1.0.0/maps</code>"),
        "{}",
        page.body
    );
    // Nothing is deployed by looking: the gateway still serves the open /maps.
    assert_eq!(up.gw_status("/atlas/1.0.0/maps", "").await, 502);
    // An environment that does not exist is named.
    let page = admin
        .post(
            &format!("/publisher/apis/{api_id}/preview"),
            &[("revision_id", revision_id), ("environment", "nowhere")],
        )
        .await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST, "{}", page.body);
    assert!(page.body.contains("nowhere"), "{}", page.body);

    // The preview's button deploys it.
    let page = admin
        .post(&format!("/publisher/apis/{api_id}/deploy"), &fields)
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    assert!(up.eventually_gw_status("/atlas/1.0.0/maps", "", 401).await);
}

#[tokio::test]
async fn publishers_add_and_delete_endpoint_certificates_in_the_portal() {
    let up = GantryUp::start(BIN).await;
    let rest = rest(&up);
    let key = rcgen::KeyPair::generate().unwrap();
    let pem = rcgen::CertificateParams::new(vec!["orders.internal".to_owned()])
        .unwrap()
        .self_signed(&key)
        .unwrap()
        .pem();
    let mut admin = Visitor::sign_in(&up, "admin", ADMIN_PASSWORD).await;
    let page = admin.get("/publisher/endpoint-certificates").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(
        page.body.contains("No endpoint certificates yet"),
        "{}",
        page.body
    );

    // A paste that is not a certificate is refused with the REST API's reason.
    let page = admin
        .post(
            "/publisher/endpoint-certificates",
            &[
                ("alias", "orders"),
                ("endpoint", "https://orders.internal:8443"),
                ("certificate", "hello"),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST, "{}", page.body);
    assert!(page.body.contains("certificate"), "{}", page.body);

    let page = admin
        .post(
            "/publisher/endpoint-certificates",
            &[
                ("alias", "orders"),
                ("endpoint", "https://orders.internal:8443"),
                ("certificate", &pem),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let page = admin.get("/publisher/endpoint-certificates").await;
    assert!(page.body.contains("<td>orders</td>"), "{}", page.body);
    assert!(
        page.body.contains("https://orders.internal:8443"),
        "{}",
        page.body
    );
    assert!(page.body.contains("Active"), "{}", page.body);
    let (status, listed) = rest.get(&format!("{PUB}/endpoint-certificates")).await;
    assert_eq!(status, StatusCode::OK, "{listed}");
    assert_eq!(
        listed["certificates"],
        json!([{"alias": "orders", "endpoint": "https://orders.internal:8443"}])
    );

    // A subscriber may not change them.
    create_user(&mut admin, "cert-reader", &["Internal/subscriber"]).await;
    let mut reader = Visitor::sign_in(&up, "cert-reader", "portal-pass-1").await;
    let page = reader
        .post("/publisher/endpoint-certificates/orders/delete", &[])
        .await;
    assert_eq!(page.status, StatusCode::FORBIDDEN, "{}", page.body);

    let page = admin
        .post("/publisher/endpoint-certificates/orders/delete", &[])
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let (status, _) = rest
        .get(&format!("{PUB}/endpoint-certificates/orders"))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
