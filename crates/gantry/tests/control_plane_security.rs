//! Control-plane security findings, each proven against the real `gantry up` binary: one
//! failure limit wherever a password is checked, same-origin `next`, constant-time user
//! look-up, case-insensitive user names, HSTS, private store files, flat memory under guessing.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use gantry_testkit::GantryUp;
use gantry_testkit::process::ADMIN_PASSWORD;
use reqwest::{Method, StatusCode, header};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_gantry");
const COOKIE: &str = "__Host-gantry-portal";
/// Failures one user name may make in a minute (`oauth::abuse::CLIENT_FAILURES`).
const USER_FAILURES: usize = 10;
/// Failures one address may make in a minute (`oauth::abuse::IP_FAILURES`).
const ADDRESS_FAILURES: usize = 30;

/// A client for `up`'s control plane whose connections come from `from` (any 127.x.y.z
/// address reaches the loopback listener), so tests can play several callers.
fn client_from(up: &GantryUp, from: Option<IpAddr>, redirects: bool) -> reqwest::Client {
    let ca = std::fs::read(up.data_dir().join("tls").join("ca.pem")).unwrap();
    let mut builder = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .resolve("localhost", SocketAddr::from(([127, 0, 0, 1], up.cp_port)))
        .tls_certs_only([reqwest::Certificate::from_pem(&ca).unwrap()])
        .local_address(from);
    if !redirects {
        builder = builder.redirect(reqwest::redirect::Policy::none());
    }
    builder.build().unwrap()
}

fn address(a: u8, b: u8) -> Option<IpAddr> {
    Some(IpAddr::V4(Ipv4Addr::new(127, 0, a, b)))
}

/// `method path` with HTTP Basic `user:password` (a JSON body for POST); status, headers, body.
async fn basic(
    client: &reqwest::Client,
    up: &GantryUp,
    method: Method,
    path: &str,
    user: &str,
    password: &str,
) -> (StatusCode, header::HeaderMap, Value) {
    let mut request = client
        .request(method.clone(), up.cp_url(path))
        .basic_auth(user, Some(password));
    if method == Method::POST {
        request = request.json(&json!({"clientName": "guess-client", "grantType": "password"}));
    }
    let response = request.send().await.unwrap();
    let (status, headers) = (response.status(), response.headers().clone());
    let body = response.json().await.unwrap_or(Value::Null);
    (status, headers, body)
}

/// The REST surfaces that take HTTP Basic: publisher, devportal, admin, SCIM, client
/// registration.
const BASIC_SURFACES: [(Method, &str); 5] = [
    (Method::GET, "/api/am/publisher/v4/apis"),
    (Method::GET, "/api/am/devportal/v3/applications"),
    (Method::GET, "/api/am/admin/v4/environments"),
    (Method::GET, "/scim2/Users"),
    (Method::POST, "/client-registration/v0.17/register"),
];

/// Sends `count` Basic calls to the publisher API at once, the i-th from `caller(i)`'s
/// (address, user name, password); their statuses.
async fn burst(
    up: &GantryUp,
    count: usize,
    caller: impl Fn(usize) -> (Option<IpAddr>, String, String),
) -> Vec<StatusCode> {
    let mut calls = tokio::task::JoinSet::new();
    for i in 0..count {
        let (from, user, password) = caller(i);
        let request = client_from(up, from, true)
            .get(up.cp_url(BASIC_SURFACES[0].1))
            .basic_auth(user, Some(password));
        calls.spawn(async move { request.send().await.map(|r| r.status()) });
    }
    calls
        .join_all()
        .await
        .into_iter()
        .map(|r| r.unwrap())
        .collect()
}

fn retry_after(headers: &header::HeaderMap) -> u64 {
    headers
        .get(header::RETRY_AFTER)
        .expect("a 429 carries Retry-After")
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

/// A browser stand-in for the sign-in form: its session cookie and CSRF token.
struct SignIn {
    client: reqwest::Client,
    cookie: String,
    csrf: String,
}

impl SignIn {
    async fn open(up: &GantryUp) -> Self {
        let client = client_from(up, None, false);
        let page = client.get(up.cp_url("/portal/login")).send().await.unwrap();
        let cookie = page.headers()[header::SET_COOKIE]
            .to_str()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_owned();
        let html = page.text().await.unwrap();
        let marker = "name=\"_csrf\" value=\"";
        let start = html.find(marker).unwrap() + marker.len();
        let csrf = html[start..start + html[start..].find('"').unwrap()].to_owned();
        assert!(cookie.starts_with(COOKIE), "{cookie}");
        Self {
            client,
            cookie,
            csrf,
        }
    }

    async fn submit(&self, up: &GantryUp, fields: &[(&str, &str)]) -> reqwest::Response {
        let mut form = vec![("_csrf", self.csrf.as_str())];
        form.extend_from_slice(fields);
        self.client
            .post(up.cp_url("/portal/login"))
            .header(header::COOKIE, &self.cookie)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(serde_urlencoded::to_string(&form).unwrap())
            .send()
            .await
            .unwrap()
    }
}

#[tokio::test]
async fn basic_auth_guessing_is_limited_on_every_rest_api_and_the_portal_until_the_window_passes() {
    let up = GantryUp::start(BIN).await;
    let client = client_from(&up, None, true);
    let (publisher, devportal) = (&BASIC_SURFACES[0], &BASIC_SURFACES[1]);
    up.rest()
        .create_user("bystander", "bystander-pass-1", &["Internal/subscriber"])
        .await;

    // Ten wrong passwords for admin, spread over every API that takes Basic: each a 401.
    for attempt in 0..USER_FAILURES {
        let (method, path) = &BASIC_SURFACES[attempt % BASIC_SURFACES.len()];
        let (status, _, body) = basic(
            &client,
            &up,
            method.clone(),
            path,
            "admin",
            &format!("guess-{attempt}"),
        )
        .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{path}: {body}");
    }

    // Now the right password is refused too, on every one of them: 429, Retry-After, and
    // WSO2's JSON error body.
    for (method, path) in &BASIC_SURFACES {
        let (status, headers, body) =
            basic(&client, &up, method.clone(), path, "admin", ADMIN_PASSWORD).await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{path}: {body}");
        assert!((1..=60).contains(&retry_after(&headers)), "{path}");
        assert_eq!(body["code"], 429, "{path}: {body}");
        assert_eq!(body["message"], "Too Many Requests", "{path}: {body}");
        assert!(body["description"].as_str().unwrap().contains("retry"));
    }
    // The same name in another case shares the budget.
    let (status, _, _) = basic(
        &client,
        &up,
        Method::GET,
        publisher.1,
        "ADMIN",
        ADMIN_PASSWORD,
    )
    .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);

    // The portal's sign-in counts in the same limit, and its 429 says when to retry.
    let form = SignIn::open(&up).await;
    let page = form
        .submit(&up, &[("username", "admin"), ("password", ADMIN_PASSWORD)])
        .await;
    assert_eq!(page.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!((1..=60).contains(&retry_after(page.headers())));

    // Other users are not locked out by admin's limit.
    let (status, _, body) = basic(
        &client,
        &up,
        Method::GET,
        devportal.1,
        "bystander",
        "bystander-pass-1",
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // Once the window has passed, the right password works again.
    let lifted = gantry_testkit::eventually(Duration::from_secs(75), || async {
        basic(
            &client,
            &up,
            Method::GET,
            publisher.1,
            "admin",
            ADMIN_PASSWORD,
        )
        .await
        .0 == StatusCode::OK
    })
    .await;
    assert!(lifted, "the limit never lifted");
}

#[tokio::test]
async fn one_address_guessing_many_user_names_is_limited_and_other_addresses_are_not() {
    let up = GantryUp::start(BIN).await;
    let guesser = address(7, 1);
    let statuses = burst(&up, ADDRESS_FAILURES, |i| {
        (guesser, format!("nobody-{i}"), "guess".into())
    })
    .await;
    assert!(
        statuses.iter().all(|s| *s == StatusCode::UNAUTHORIZED),
        "{statuses:?}"
    );
    let scim = BASIC_SURFACES[3].1;
    let (status, headers, _) = basic(
        &client_from(&up, guesser, true),
        &up,
        Method::GET,
        scim,
        "admin",
        ADMIN_PASSWORD,
    )
    .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert!((1..=60).contains(&retry_after(&headers)));
    let elsewhere = client_from(&up, address(7, 2), true);
    let (status, _, _) = basic(&elsewhere, &up, Method::GET, scim, "admin", ADMIN_PASSWORD).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn guesses_sent_at_once_cannot_overrun_the_limit() {
    let up = GantryUp::start(BIN).await;
    // 40 wrong passwords for admin at once, each from its own address: all pass the first
    // look at the limit together, but only about the limit's worth are ever checked.
    let statuses = burst(&up, 40, |i| {
        (
            address(8, i as u8 + 1),
            "admin".into(),
            format!("guess-{i}"),
        )
    })
    .await;
    let checked = statuses
        .iter()
        .filter(|s| **s == StatusCode::UNAUTHORIZED)
        .count();
    let limited = statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    assert_eq!(checked + limited, statuses.len(), "{statuses:?}");
    assert!(
        (USER_FAILURES..=USER_FAILURES + cores).contains(&checked),
        "{checked} passwords checked: {statuses:?}"
    );
}

#[tokio::test]
async fn cached_credentials_are_not_slowed_by_a_burst_of_guesses() {
    let up = GantryUp::start(BIN).await;
    let admin = up.rest();
    assert_eq!(admin.get(BASIC_SURFACES[0].1).await.0, StatusCode::OK);
    // 60 guesses for unknown names from as many addresses queue for Argon2 ...
    let flood = {
        let started = Instant::now();
        let guesses = burst(&up, 60, |i| {
            (
                address(9, i as u8 + 1),
                format!("nobody-{i}"),
                "guess".into(),
            )
        });
        async move {
            let statuses = guesses.await;
            (statuses, started.elapsed())
        }
    };
    // ... while admin's cached credentials keep answering at once.
    let cached = async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let started = Instant::now();
        for _ in 0..5 {
            assert_eq!(admin.get(BASIC_SURFACES[0].1).await.0, StatusCode::OK);
        }
        started.elapsed()
    };
    let ((statuses, flood_took), cached_took) = tokio::join!(flood, cached);
    assert!(statuses.iter().all(|s| *s == StatusCode::UNAUTHORIZED));
    assert!(
        cached_took * 2 < flood_took,
        "5 cached calls took {cached_took:?} while 60 guesses took {flood_took:?}"
    );
}

#[tokio::test]
async fn unknown_user_names_answer_as_slowly_as_wrong_passwords() {
    let up = GantryUp::start(BIN).await;
    let client = client_from(&up, None, true);
    let path = BASIC_SURFACES[0].1;
    let mut known = Vec::new();
    let mut unknown = Vec::new();
    // Warm both paths (the first unknown name computes the stand-in hash).
    basic(&client, &up, Method::GET, path, "nobody-at-all", "x").await;
    basic(&client, &up, Method::GET, path, "admin", "x").await;
    // Interleaved, so a busy moment slows both alike; seven of each stays under the user
    // name's failure limit.
    for i in 0..7 {
        for (user, times) in [("admin", &mut known), ("nobody-at-all", &mut unknown)] {
            let started = Instant::now();
            let (status, _, _) =
                basic(&client, &up, Method::GET, path, user, &format!("wrong-{i}")).await;
            times.push(started.elapsed());
            assert_eq!(status, StatusCode::UNAUTHORIZED);
        }
    }
    // The quickest of each: a busy machine only ever adds time, so the minimum is the cost
    // of the path itself (Argon2 dominates both; before, unknown names took ~1/25 of it).
    let quickest = |times: &[Duration]| times.iter().min().unwrap().as_secs_f64();
    assert!(
        quickest(&unknown) / quickest(&known) > 0.5,
        "unknown user: {unknown:?}, known user: {known:?}"
    );
}

#[tokio::test]
async fn sign_in_returns_only_to_paths_on_this_server() {
    let up = GantryUp::start(BIN).await;
    let home = "/publisher";
    for (next, expected) in [
        ("/publisher/apis?q=pets", "/publisher/apis?q=pets"),
        ("/%2F%2Fevil.example", "/%2F%2Fevil.example"),
        ("//evil.example", home),
        ("/\\evil.example", home),
        ("/\\/evil.example", home),
        ("\\\\evil.example", home),
        ("/\t/evil.example/", home),
        ("/\r\n/evil.example", home),
        ("/.//evil.example", home),
        ("https://evil.example/", home),
        ("javascript:alert(1)", home),
        ("%2F%2Fevil.example", home),
    ] {
        let form = SignIn::open(&up).await;
        let response = form
            .submit(
                &up,
                &[
                    ("username", "admin"),
                    ("password", ADMIN_PASSWORD),
                    ("next", next),
                ],
            )
            .await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{next:?}");
        let location = response.headers()[header::LOCATION].to_str().unwrap();
        assert_eq!(location, expected, "next={next:?}");
    }
    // A signed-in visitor sent to the sign-in page is not bounced off-site either.
    let form = SignIn::open(&up).await;
    let signed_in = form
        .submit(&up, &[("username", "admin"), ("password", ADMIN_PASSWORD)])
        .await;
    let cookie = signed_in.headers()[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let response = form
        .client
        .get(up.cp_url("/portal/login?next=/%09/evil.example/"))
        .header(header::COOKIE, cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()[header::LOCATION], home);
}

#[tokio::test]
async fn user_names_are_unique_whatever_their_case_and_sign_in_ignores_it() {
    let up = GantryUp::start(BIN).await;
    let admin = up.rest();
    let (status, body) = admin
        .post(
            "/scim2/Users",
            json!({"userName": "ADMIN", "password": "another-pass-1"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["scimType"], "uniqueness");
    let (status, body) = admin
        .anonymous()
        .post(
            "/api/identity/user/v1.0/me",
            json!({"user": {"username": "Admin", "password": "another-pass-1"}}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["code"], 409, "{body}");
    assert!(body["description"].as_str().unwrap().contains("taken"));
    let (_, list) = admin.get("/scim2/Users").await;
    assert_eq!(list["totalResults"], 1, "{list}");

    // As in WSO2, the name signs in in any case, as the stored user.
    let shouting = admin.as_user("ADMIN", ADMIN_PASSWORD);
    let (status, app) = shouting
        .post(
            "/api/am/devportal/v3/applications",
            json!({"name": "loud-app", "throttlingPolicy": "Unlimited"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{app}");
    assert_eq!(app["owner"], "admin", "{app}");
    let (_, apps) = admin.get("/api/am/devportal/v3/applications").await;
    assert_eq!(apps["count"], 1, "{apps}");
    let (_, found) = admin
        .get("/scim2/Users?filter=userName%20eq%20%22aDmIn%22")
        .await;
    assert_eq!(found["Resources"][0]["userName"], "admin", "{found}");
    let id = found["Resources"][0]["id"].as_str().unwrap();
    let (status, replaced) = admin
        .put(&format!("/scim2/Users/{id}"), json!({"userName": "ADMIN"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{replaced}");
    assert_eq!(replaced["userName"], "admin", "{replaced}");
    let form = SignIn::open(&up).await;
    let response = form
        .submit(&up, &[("username", "Admin"), ("password", ADMIN_PASSWORD)])
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn names_that_already_differ_only_in_case_do_not_break_the_upgrade() {
    let mut up = GantryUp::start(BIN).await;
    assert!(up.stop());
    // A store from before names were unique in any case: drop the index, add `ADMIN`
    // beside `admin`, and forget that the migration ran.
    let db = up.data_dir().join("gantry.db");
    {
        use sqlx::ConnectOptions as _;
        let mut db = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(&db)
            .connect()
            .await
            .unwrap();
        for statement in [
            "DROP INDEX users_username_lower",
            "INSERT INTO users (id, username, password_hash, roles, created_at, profile, updated_at) \
             SELECT '0f0f0f0f-dup', 'ADMIN', password_hash, 'Internal/subscriber', created_at + 1, '{}', 0 \
             FROM users WHERE username = 'admin'",
            "DELETE FROM _sqlx_migrations WHERE version = 9",
        ] {
            sqlx::query(statement).execute(&mut db).await.unwrap();
        }
    }
    up.restart().await;
    let (_, list) = up.rest().get("/scim2/Users").await;
    let mut names: Vec<&str> = list["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["userName"].as_str().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["ADMIN-0f0f0f0f", "admin"], "{list}");
}

#[tokio::test]
async fn every_control_plane_response_demands_https_from_browsers() {
    let up = GantryUp::start(BIN).await;
    let client = client_from(&up, None, false);
    for (method, path) in [
        (Method::GET, "/portal/login"),
        (Method::GET, "/publisher"),
        (Method::GET, "/api/am/publisher/v4/apis"),
        (Method::GET, "/api/am/devportal/v3/apis"),
        (Method::POST, "/oauth2/token"),
        (Method::GET, "/oauth2/jwks"),
        (Method::GET, "/scim2/Users"),
        (Method::GET, "/health/ready"),
        (Method::GET, "/no/such/thing"),
    ] {
        let response = client
            .request(method, up.cp_url(path))
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.headers()[header::STRICT_TRANSPORT_SECURITY],
            "max-age=31536000; includeSubDomains",
            "{path} ({})",
            response.status()
        );
    }
}

#[tokio::test]
async fn the_store_and_its_directory_are_readable_by_their_owner_only() {
    use std::os::unix::fs::PermissionsExt as _;
    let mode = |path: &std::path::Path| {
        std::fs::metadata(path)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
            .permissions()
            .mode()
            & 0o777
    };
    let mut up = GantryUp::start(BIN).await;
    let dir = up.data_dir().to_owned();
    let files = ["gantry.db", "gantry.db-wal", "gantry.db-shm"].map(|f| dir.join(f));
    assert_eq!(mode(&dir), 0o700);
    // Running in WAL mode, all three exist.
    for file in &files {
        assert_eq!(mode(file), 0o600, "{}", file.display());
    }
    // A data directory from an older version is tightened on start.
    assert!(up.stop());
    let open = std::fs::Permissions::from_mode(0o755);
    std::fs::set_permissions(&dir, open).unwrap();
    for file in files.iter().filter(|f| f.exists()) {
        std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    up.restart().await;
    assert_eq!(mode(&dir), 0o700);
    for file in &files {
        assert_eq!(mode(file), 0o600, "{}", file.display());
    }
}

#[tokio::test]
async fn a_burst_of_guesses_leaves_memory_flat() {
    let up = GantryUp::start(BIN).await;
    let rss = || up.rss_kib().unwrap();
    let guesses = |round: u8| {
        burst(&up, 50, move |i| {
            (
                address(10 + round, i as u8 + 1),
                format!("nobody-{round}-{i}"),
                format!("guess-{round}-{i}"),
            )
        })
    };
    // One verification (admin's) allocates the first block of Argon2 working memory.
    assert_eq!(up.rest().get(BASIC_SURFACES[0].1).await.0, StatusCode::OK);
    let before = rss();
    let mut after_each = Vec::new();
    for round in 0..3 {
        let statuses = guesses(round).await;
        assert!(statuses.iter().all(|s| *s == StatusCode::UNAUTHORIZED));
        after_each.push(rss());
    }
    eprintln!("RSS before the bursts {before} KiB, after each of three {after_each:?} KiB");
    // At most one more 19 MiB block per core (verifications at once), and the stand-in hash
    // for unknown names made once; before, a burst grew the process by 0.5 to 1 GB that stayed.
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get()) as u64;
    let bound = before + cores * 20 * 1024 + 24 * 1024;
    assert!(
        after_each.iter().all(|rss| *rss < bound),
        "RSS grew from {before} KiB to {after_each:?} KiB (bound {bound} KiB)"
    );
    // And repeated bursts add nothing more.
    assert!(
        after_each[2] < after_each[0] + 16 * 1024,
        "RSS kept growing: {after_each:?} KiB"
    );
}
