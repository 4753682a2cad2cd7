//! Portal sessions behind several control-plane replicas without session affinity (the
//! seed's Ingress and HPA): a browser signed in on one replica is signed in on every other,
//! and signing out on one ends the session on all of them.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use gantry_testkit::cluster::{ControlPlaneProcess, TestDatabase};
use gantry_testkit::process::ADMIN_PASSWORD;
use reqwest::{StatusCode, header};

const BIN: &str = env!("CARGO_BIN_EXE_gantry");
const COOKIE: &str = "__Host-gantry-portal";

/// The session cookie a response sets, if any.
fn set_cookie(response: &reqwest::Response) -> Option<String> {
    response
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok()?.split(';').next())
        .find_map(|pair| pair.strip_prefix(&format!("{COOKIE}=")).map(str::to_owned))
}

fn csrf_of(html: &str) -> String {
    let marker = "name=\"_csrf\" value=\"";
    let start = html.find(marker).unwrap() + marker.len();
    let end = html[start..].find('"').unwrap();
    html[start..start + end].to_owned()
}

async fn get(cp: &ControlPlaneProcess, path: &str, cookie: &str) -> reqwest::Response {
    cp.client_without_redirects()
        .get(cp.url(path))
        .header(header::COOKIE, format!("{COOKIE}={cookie}"))
        .send()
        .await
        .unwrap()
}

async fn post(
    cp: &ControlPlaneProcess,
    path: &str,
    cookie: &str,
    form: &[(&str, &str)],
) -> reqwest::Response {
    cp.client_without_redirects()
        .post(cp.url(path))
        .header(header::COOKIE, format!("{COOKIE}={cookie}"))
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(serde_urlencoded::to_string(form).unwrap())
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_portal_session_is_valid_on_every_replica_and_ends_on_all() {
    let Some(db) = TestDatabase::create().await else {
        return;
    };
    let dirs = tempfile::tempdir().unwrap();
    let cp1 = ControlPlaneProcess::start(BIN, &db.url, &dirs.path().join("cp1"), None).await;
    let cp2 = ControlPlaneProcess::start(
        BIN,
        &db.url,
        &dirs.path().join("cp2"),
        Some(cp1.tls_files()),
    )
    .await;

    // Sign in on replica 1.
    let page = cp1
        .client_without_redirects()
        .get(cp1.url("/portal/login"))
        .send()
        .await
        .unwrap();
    let anonymous = set_cookie(&page).unwrap();
    let csrf = csrf_of(&page.text().await.unwrap());
    let signed_in = post(
        &cp1,
        "/portal/login",
        &anonymous,
        &[
            ("_csrf", csrf.as_str()),
            ("username", "admin"),
            ("password", ADMIN_PASSWORD),
        ],
    )
    .await;
    assert_eq!(signed_in.status(), StatusCode::SEE_OTHER);
    let cookie = set_cookie(&signed_in).unwrap();

    // Replica 2 knows the session: the admin portal opens, not the sign-in page.
    let admin = get(&cp2, "/admin", &cookie).await;
    assert_eq!(admin.status(), StatusCode::OK);
    let csrf = csrf_of(&admin.text().await.unwrap());

    // A form posted to replica 2 with the token replica 1 issued passes the CSRF check:
    // signing out there ends the session everywhere.
    let out = post(&cp2, "/portal/logout", &cookie, &[("_csrf", csrf.as_str())]).await;
    assert_eq!(out.status(), StatusCode::SEE_OTHER);
    for cp in [&cp1, &cp2] {
        let after = get(cp, "/admin", &cookie).await;
        assert_eq!(
            after.status(),
            StatusCode::SEE_OTHER,
            "a signed-out cookie still works"
        );
        let location = after.headers()[header::LOCATION].to_str().unwrap();
        assert!(location.starts_with("/portal/login"), "{location}");
    }
    drop((cp1, cp2));
    db.drop_now().await;
}
