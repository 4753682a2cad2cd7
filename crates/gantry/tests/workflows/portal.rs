//! The Admin portal's approval inbox, through a browser session (cookie + CSRF).

use super::fixture::*;

/// A browser session on the portals: the session cookie and the page's CSRF token.
pub struct Browser<'a> {
    up: &'a GantryUp,
    client: reqwest::Client,
    cookie: String,
    csrf: String,
}

impl<'a> Browser<'a> {
    const COOKIE: &'static str = "__Host-gantry-portal";

    pub async fn sign_in(up: &'a GantryUp, username: &str, password: &str) -> Self {
        let mut browser = Self {
            up,
            client: up.cp_client_without_redirects(),
            cookie: String::new(),
            csrf: String::new(),
        };
        browser.get("/portal/login").await;
        let (status, _) = browser
            .post(
                "/portal/login",
                &[("username", username), ("password", password)],
            )
            .await;
        assert_eq!(status, StatusCode::SEE_OTHER, "sign-in of {username}");
        browser
    }

    fn remember(&mut self, response: &reqwest::Response) {
        for value in response.headers().get_all(reqwest::header::SET_COOKIE) {
            let pair = value.to_str().unwrap().split(';').next().unwrap();
            if let Some(v) = pair.strip_prefix(&format!("{}=", Self::COOKIE)) {
                v.clone_into(&mut self.cookie);
            }
        }
    }

    pub async fn get(&mut self, path: &str) -> (StatusCode, String) {
        let response = self
            .client
            .get(self.up.cp_url(path))
            .header("cookie", format!("{}={}", Self::COOKIE, self.cookie))
            .send()
            .await
            .unwrap();
        self.remember(&response);
        let status = response.status();
        let body = response.text().await.unwrap();
        let marker = "name=\"_csrf\" value=\"";
        if let Some(start) = body.find(marker).map(|i| i + marker.len()) {
            let end = body[start..].find('"').unwrap();
            self.csrf = body[start..start + end].to_owned();
        }
        (status, body)
    }

    /// Posts `fields` with the page's CSRF token.
    pub async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> (StatusCode, String) {
        let mut form = vec![("_csrf", self.csrf.as_str())];
        form.extend_from_slice(fields);
        let response = self
            .client
            .post(self.up.cp_url(path))
            .header("cookie", format!("{}={}", Self::COOKIE, self.cookie))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(serde_urlencoded::to_string(&form).unwrap())
            .send()
            .await
            .unwrap();
        self.remember(&response);
        let status = response.status();
        (status, response.text().await.unwrap())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_portal_inbox_shows_requests_and_decides_them_with_a_comment() {
    let upstream = EchoUpstream::start().await;
    let mut d = deployment("AM_SUBSCRIPTION_CREATION,AM_APPLICATION_CREATION", &[]).await;
    let api_id = deployed(&d.admin, "Inbox", "/inbox", &upstream).await;
    let (_, response) = d
        .dev
        .post(
            &format!("{DEV}/applications"),
            json!({"name": "dora-inbox", "throttlingPolicy": "Unlimited"}),
        )
        .await;
    decided(&d.admin, &reference_of(&response), "APPROVED", "").await;
    let (_, apps) = d.dev.get(&format!("{DEV}/applications")).await;
    let app = apps["list"][0]["applicationId"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, response) = subscribe(&d.dev, &app, &api_id).await;
    let subscription = reference_of(&response);
    let (status, response) = d
        .admin
        .post(
            &format!("{DEV}/applications"),
            json!({"name": "admins-own", "throttlingPolicy": "Unlimited"}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{response}");
    let own = reference_of(&response);
    let own_app = serde_json::from_str::<Value>(response["jsonPayload"].as_str().unwrap()).unwrap()
        ["applicationId"]
        .as_str()
        .unwrap()
        .to_owned();

    let mut dora = Browser::sign_in(&d.up, "dev-dora", "dora-password-1").await;
    let (_, page) = dora.get(&format!("/devportal/applications/{app}")).await;
    assert!(
        page.contains("waiting for approval"),
        "the developer sees ON_HOLD: {page}"
    );

    let mut admin = Browser::sign_in(&d.up, "admin", gantry_testkit::process::ADMIN_PASSWORD).await;
    let (status, page) = admin.get("/admin/workflows").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains(&subscription) && page.contains(&own),
        "{page}"
    );
    assert!(page.contains("dev-dora") && page.contains("AM_SUBSCRIPTION_CREATION"));
    assert!(page.contains("Your own request"), "{page}");
    // The configuration, read-only: two types required, the others off.
    assert_eq!(page.matches(">required<").count(), 2, "{page}");
    let (status, _) = admin
        .post(
            &format!("/admin/workflows/{own}/decide"),
            &[("decision", "approve"), ("comment", "mine")],
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let mut ann = Browser::sign_in(&d.up, "approver-ann", "ann-password-1").await;
    let (_, page) = ann.get("/admin/workflows?q=AM_SUBSCRIPTION_CREATION").await;
    assert!(
        page.contains(&subscription) && !page.contains(&own),
        "{page}"
    );
    // Without the session's CSRF token: refused.
    let csrf = std::mem::take(&mut ann.csrf);
    let (status, _) = ann
        .post(
            &format!("/admin/workflows/{subscription}/decide"),
            &[("decision", "approve")],
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    ann.csrf = csrf;
    let (status, _) = ann
        .post(
            &format!("/admin/workflows/{subscription}/decide"),
            &[("decision", "approve"), ("comment", "looks fine")],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, page) = ann.get("/admin/workflows").await;
    assert!(
        !page.contains(&subscription),
        "decided: gone from the inbox"
    );
    let (_, info) = d
        .admin
        .get(&format!("{ADMIN}/workflows/{subscription}"))
        .await;
    assert_eq!(info["workflowStatus"], "APPROVED");
    assert_eq!(info["properties"]["decidedBy"], "approver-ann");
    assert_eq!(info["properties"]["comment"], "looks fine");
    let (status, _) = ann
        .post(
            &format!("/admin/workflows/{own}/decide"),
            &[("decision", "reject"), ("comment", "not now")],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, own_app) = d.admin.get(&format!("{DEV}/applications/{own_app}")).await;
    assert_eq!(own_app["status"], "REJECTED", "{own_app}");
    let (_, page) = admin
        .get(&format!(
            "/devportal/applications/{}",
            own_app["applicationId"].as_str().unwrap()
        ))
        .await;
    assert!(page.contains("rejected"), "{page}");
    // A developer has no inbox.
    let (status, _) = dora.get("/admin/workflows").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    d.up.stop();
}
