//! Deny policies (WSO2 blocking conditions) against the real binary: a control plane, two
//! environments with a gateway each, an API deployed to both. Each condition kind — API,
//! application, user, IP, IP range, with and without `invert` — blocks exactly what it names
//! on both gateways within a second of the REST call, with WSO2's 403 `900805`, and stops
//! blocking within a second of being switched off or deleted. Calls come from 127.0.0.1 or
//! 127.0.0.2 (both loopback), so address conditions can tell clients apart. Also the Admin
//! REST contract: validation (400 naming the field), 409 duplicates, scopes, search.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use gantry_testkit::cluster::{ControlPlaneProcess, GatewayProcess};
use gantry_testkit::rest::Rest;
use gantry_testkit::{EchoUpstream, GantryUp, free_port};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_gantry");
const DENY: &str = "/api/am/admin/v4/throttling/deny-policies";
const ONE: &str = "/api/am/admin/v4/throttling/deny-policy";
/// How long a change may take to reach every gateway (the bar).
const PROPAGATION: Duration = Duration::from_secs(1);
const BLOCKED: &str = "/deny/1.0.0/x";
const OTHER: &str = "/other/1.0.0/x";

/// One call: the token and the loopback address it comes from.
#[derive(Clone, Copy)]
struct Call<'a> {
    path: &'a str,
    token: &'a str,
    from: [u8; 4],
}

/// A client of `gw` whose connections come from `from`.
fn client(gw: &GatewayProcess, from: [u8; 4]) -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .local_address(IpAddr::from(from))
        .resolve(
            "localhost",
            SocketAddr::from(([127, 0, 0, 1], gw.http_port)),
        )
        .build()
        .unwrap()
}

/// GET `call.path` on `gw` from `call.from`; (status, JSON body or null).
async fn send(gw: &GatewayProcess, call: Call<'_>) -> (u16, Value) {
    send_with(&client(gw, call.from), gw, call).await
}

async fn send_with(client: &reqwest::Client, gw: &GatewayProcess, call: Call<'_>) -> (u16, Value) {
    match client
        .get(format!("http://localhost:{}{}", gw.http_port, call.path))
        .bearer_auth(call.token)
        .send()
        .await
    {
        Ok(r) => (r.status().as_u16(), r.json().await.unwrap_or(Value::Null)),
        Err(_) => (0, Value::Null),
    }
}

/// The control plane, its two environments' gateways and what the calls need.
struct Fleet {
    _cp: ControlPlaneProcess,
    rest: Rest,
    gateways: Vec<GatewayProcess>,
    /// Per gateway: a client calling from 127.0.0.1 and one from 127.0.0.2 (kept alive, so
    /// polling measures the gateways, not connection set-up).
    clients: Vec<[reqwest::Client; 2]>,
    /// admin's application "DenyApp".
    admin_token: String,
    /// bob's application "BobApp".
    bob_token: String,
    _dirs: tempfile::TempDir,
    _upstream: EchoUpstream,
}

impl Fleet {
    async fn start() -> Self {
        let upstream = EchoUpstream::start().await;
        let dirs = tempfile::tempdir().unwrap();
        let db = format!("sqlite://{}?mode=rwc", dirs.path().join("cp.db").display());
        let cp = ControlPlaneProcess::start(BIN, &db, &dirs.path().join("cp"), None).await;
        let rest = Rest::new(&cp.url(""), cp.client());
        let suffix = free_port();
        let envs = [format!("deny-a-{suffix}"), format!("deny-b-{suffix}")];
        let mut gateways = Vec::new();
        for env in &envs {
            let (_, token) = rest.environment_with_token(env).await;
            gateways.push(GatewayProcess::start(
                BIN,
                env,
                &cp.url(""),
                &token,
                &cp.ca_path(),
                &dirs.path().join(env),
                env,
            ));
        }
        let in_both = [envs[0].as_str(), envs[1].as_str()];
        let ops = json!([{"target": "/x", "verb": "GET"}]);
        let denied = rest
            .deployed_api_in(&in_both, "Deny", "/deny", &upstream.url(), ops.clone())
            .await;
        let other = rest
            .deployed_api_in(&in_both, "Other", "/other", &upstream.url(), ops)
            .await;
        let admin_token = rest
            .subscribed_token("DenyApp", &[&denied, &other], "Unlimited")
            .await;
        rest.create_user("bob", "bob-password-1", &["Internal/subscriber"])
            .await;
        let bob = rest.as_user("bob", "bob-password-1");
        let bob_token = bob
            .subscribed_token("BobApp", &[&denied, &other], "Unlimited")
            .await;
        for gw in &gateways {
            assert!(gw.wait_ready().await);
            assert!(gw.eventually_status(BLOCKED, Some(&admin_token), 200).await);
            assert!(gw.eventually_status(OTHER, Some(&bob_token), 200).await);
        }
        let clients = gateways
            .iter()
            .map(|gw| [client(gw, HERE), client(gw, THERE)])
            .collect();
        Self {
            _cp: cp,
            rest,
            gateways,
            clients,
            admin_token,
            bob_token,
            _dirs: dirs,
            _upstream: upstream,
        }
    }

    /// Polls until every gateway answers each call as expected (403 ones with WSO2's
    /// `900805` body), for at most [`PROPAGATION`]; the time it took.
    async fn within_a_second(&self, what: &str, expected: &[(Call<'_>, u16)]) -> Duration {
        let started = Instant::now();
        loop {
            let mut wrong = None;
            'gateways: for (gw, clients) in self.gateways.iter().zip(&self.clients) {
                for (call, status) in expected {
                    let client = &clients[usize::from(call.from != HERE)];
                    let (got, body) = send_with(client, gw, *call).await;
                    let shaped = got != 403
                        || (body["code"] == "900805" && body["error_message"] == "Message blocked");
                    if got != *status || !shaped {
                        wrong = Some(format!(
                            "{} from {:?} on {}: {got} {body}, expected {status}",
                            call.path, call.from, gw.environment
                        ));
                        break 'gateways;
                    }
                }
            }
            match wrong {
                None => return started.elapsed(),
                Some(w) if started.elapsed() > PROPAGATION => {
                    panic!("{what}: not on every gateway within {PROPAGATION:?}: {w}")
                }
                Some(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            }
        }
    }

    /// Adds the policy; its id.
    async fn deny(&self, kind: &str, value: Value) -> String {
        let (status, body) = self
            .rest
            .post(
                DENY,
                json!({"conditionType": kind, "conditionValue": value}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        assert_eq!(body["conditionStatus"], true, "{body}");
        body["conditionId"].as_str().unwrap().to_owned()
    }

    async fn switch(&self, id: &str, on: bool) {
        let (status, body) = self
            .rest
            .send(
                Method::PATCH,
                &format!("{ONE}/{id}"),
                Some(json!({"conditionStatus": on})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["conditionStatus"], on, "{body}");
    }
}

const HERE: [u8; 4] = [127, 0, 0, 1];
const THERE: [u8; 4] = [127, 0, 0, 2];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_condition_kind_blocks_exactly_what_it_names_on_every_environment_and_unblocks() {
    let fleet = Fleet::start().await;
    let admin = |path, from| Call {
        path,
        token: &fleet.admin_token,
        from,
    };
    let bob = |path, from| Call {
        path,
        token: &fleet.bob_token,
        from,
    };
    // (type, value, calls refused, calls let through)
    let cases: Vec<(&str, Value, Vec<Call<'_>>, Vec<Call<'_>>)> = vec![
        (
            "API",
            json!("/deny/1.0.0"),
            vec![admin(BLOCKED, HERE), bob(BLOCKED, THERE)],
            vec![admin(OTHER, HERE), bob(OTHER, THERE)],
        ),
        (
            "APPLICATION",
            json!("admin:DenyApp"),
            vec![admin(BLOCKED, HERE), admin(OTHER, THERE)],
            vec![bob(BLOCKED, HERE), bob(OTHER, THERE)],
        ),
        (
            "USER",
            json!("bob"),
            vec![bob(BLOCKED, HERE), bob(OTHER, THERE)],
            vec![admin(BLOCKED, HERE), admin(OTHER, THERE)],
        ),
        (
            "IP",
            json!({"fixedIp": "127.0.0.2", "invert": false}),
            vec![admin(BLOCKED, THERE), bob(OTHER, THERE)],
            vec![admin(BLOCKED, HERE), bob(OTHER, HERE)],
        ),
        (
            "IP",
            json!({"fixedIp": "127.0.0.1", "invert": true}),
            vec![admin(BLOCKED, THERE), bob(OTHER, THERE)],
            vec![admin(BLOCKED, HERE), bob(OTHER, HERE)],
        ),
        (
            "IPRANGE",
            json!({"startingIp": "127.0.0.2", "endingIp": "127.0.0.9", "invert": false}),
            vec![admin(BLOCKED, THERE), bob(OTHER, THERE)],
            vec![admin(BLOCKED, HERE), bob(OTHER, HERE)],
        ),
        (
            "IPRANGE",
            json!({"startingIp": "127.0.0.0", "endingIp": "127.0.0.1", "invert": true}),
            vec![admin(BLOCKED, THERE), bob(OTHER, THERE)],
            vec![admin(BLOCKED, HERE), bob(OTHER, HERE)],
        ),
    ];
    let mut slowest = Duration::ZERO;
    for (kind, value, refused, allowed) in &cases {
        let what = format!("{kind} {value}");
        let on: Vec<(Call<'_>, u16)> = refused
            .iter()
            .map(|c| (*c, 403))
            .chain(allowed.iter().map(|c| (*c, 200)))
            .collect();
        let off: Vec<(Call<'_>, u16)> = refused
            .iter()
            .chain(allowed.iter())
            .map(|c| (*c, 200))
            .collect();
        let id = fleet.deny(kind, value.clone()).await;
        slowest = slowest.max(fleet.within_a_second(&format!("{what} added"), &on).await);
        fleet.switch(&id, false).await;
        slowest = slowest.max(
            fleet
                .within_a_second(&format!("{what} switched off"), &off)
                .await,
        );
        fleet.switch(&id, true).await;
        slowest = slowest.max(
            fleet
                .within_a_second(&format!("{what} switched on"), &on)
                .await,
        );
        let (status, _) = fleet.rest.delete(&format!("{ONE}/{id}")).await;
        assert_eq!(status, StatusCode::OK);
        slowest = slowest.max(
            fleet
                .within_a_second(&format!("{what} deleted"), &off)
                .await,
        );
    }
    eprintln!("slowest propagation to both environments: {slowest:?}");

    // The description says what matched.
    fleet.deny("USER", json!("bob")).await;
    fleet
        .within_a_second("USER bob again", &[(bob(OTHER, HERE), 403)])
        .await;
    let (_, body) = send(&fleet.gateways[0], bob(OTHER, HERE)).await;
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("the user bob is denied"),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deny_policy_rest_validates_searches_and_needs_its_scopes() {
    let mut up = GantryUp::start(BIN).await;
    let admin = up.rest();
    let upstream = EchoUpstream::start().await;
    admin
        .deployed_api(
            "Shop",
            "/shop",
            &upstream.url(),
            json!([{"target": "/items", "verb": "GET"}]),
        )
        .await;
    admin.application("Mobile").await;

    // Bad input: 400 with WSO2's error body naming the field.
    for (body, field) in [
        (json!({"conditionValue": "x"}), "conditionType"),
        (json!({"conditionType": "API"}), "conditionValue"),
        (
            json!({"conditionType": "HOST", "conditionValue": "x"}),
            "conditionType",
        ),
        (
            json!({"conditionType": "API", "conditionValue": "/nope/1.0.0"}),
            "conditionValue",
        ),
        (
            json!({"conditionType": "APPLICATION", "conditionValue": "Mobile"}),
            "conditionValue",
        ),
        (
            json!({"conditionType": "APPLICATION", "conditionValue": "admin:Nope"}),
            "conditionValue",
        ),
        (
            json!({"conditionType": "IP", "conditionValue": {"fixedIp": "10.0.0.300"}}),
            "conditionValue.fixedIp",
        ),
        (
            json!({"conditionType": "IP", "conditionValue": {"fixedIp": "10.0.0.3", "invert": "maybe"}}),
            "conditionValue.invert",
        ),
        (
            json!({"conditionType": "IPRANGE", "conditionValue": {"startingIp": "10.0.0.9", "endingIp": "10.0.0.1"}}),
            "conditionValue.endingIp",
        ),
    ] {
        let (status, error) = admin.post(DENY, body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {error}");
        assert_eq!(error["code"], 400, "{error}");
        assert!(
            error["description"].as_str().unwrap().starts_with(field),
            "{body}: {error}"
        );
    }

    // Created as WSO2 shows them; a second one blocking the same thing is a 409.
    let made = [
        ("API", json!("/shop/1.0.0")),
        ("APPLICATION", json!("admin:Mobile")),
        ("USER", json!("alice")),
        ("IP", json!({"fixedIp": "10.1.1.1", "invert": false})),
        (
            "IPRANGE",
            json!({"startingIp": "10.2.0.0", "endingIp": "10.2.255.255", "invert": true}),
        ),
    ];
    let mut ids = Vec::new();
    for (kind, value) in &made {
        let (status, body) = admin
            .post(
                DENY,
                json!({"conditionType": kind, "conditionValue": value, "conditionStatus": false}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        assert_eq!(body["conditionType"], *kind);
        assert_eq!(body["conditionValue"], *value);
        assert_eq!(body["conditionStatus"], false);
        ids.push(body["conditionId"].as_str().unwrap().to_owned());
    }
    let (status, body) = admin
        .post(
            DENY,
            json!({"conditionType": "USER", "conditionValue": "Alice@carbon.super"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");

    // List and WSO2's search modifiers.
    let (status, all) = admin.get(DENY).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(all["count"], 5, "{all}");
    let search = |q: &str| {
        let admin = admin.clone();
        let q = q
            .replace(' ', "%20")
            .replace('&', "%26")
            .replace('/', "%2F");
        async move { admin.get(&format!("{DENY}?query={q}")).await.1 }
    };
    assert_eq!(search("conditionType:IP").await["count"], 1);
    let found = search("conditionType:API & conditionValue:/shop/1.0.0").await;
    assert_eq!(found["count"], 1, "{found}");
    assert_eq!(found["list"][0]["conditionId"], ids[0].as_str());
    assert_eq!(search("conditionValue:10.2.0.0").await["count"], 1);
    assert_eq!(
        search("conditionType:USER & conditionValue:bob").await["count"],
        0
    );

    // Get, switch, delete; the id in a PATCH body must be the path's.
    let (status, one) = admin.get(&format!("{ONE}/{}", ids[3])).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(one["conditionValue"]["fixedIp"], "10.1.1.1");
    let (status, _) = admin
        .send(
            Method::PATCH,
            &format!("{ONE}/{}", ids[3]),
            Some(json!({"conditionId": ids[2], "conditionStatus": true})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, error) = admin
        .send(Method::PATCH, &format!("{ONE}/{}", ids[3]), Some(json!({})))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
    assert!(
        error["description"]
            .as_str()
            .unwrap()
            .starts_with("conditionStatus")
    );
    let (status, on) = admin
        .send(
            Method::PATCH,
            &format!("{DENY}/{}", ids[3]),
            Some(json!({"conditionStatus": true})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(on["conditionStatus"], true);
    let (status, _) = admin.delete(&format!("{ONE}/{}", ids[3])).await;
    assert_eq!(status, StatusCode::OK);
    let (status, error) = admin.get(&format!("{ONE}/{}", ids[3])).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{error}");
    let (status, _) = admin.delete(&format!("{ONE}/{}", ids[3])).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // WSO2's scopes: a publisher has neither apim:bl_view nor apim:bl_manage.
    admin
        .create_user("pat", "pat-password-1", &["Internal/publisher"])
        .await;
    let publisher = admin.as_user("pat", "pat-password-1");
    let (status, _) = publisher.get(DENY).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = publisher
        .post(
            DENY,
            json!({"conditionType": "USER", "conditionValue": "eve"}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (token, granted) = admin
        .rest_token(
            "admin",
            gantry_testkit::process::ADMIN_PASSWORD,
            "apim:bl_view",
        )
        .await;
    assert_eq!(granted, "apim:bl_view");
    let viewer = admin.with_bearer(&token);
    assert_eq!(viewer.get(DENY).await.0, StatusCode::OK);
    let (status, _) = viewer
        .post(
            DENY,
            json!({"conditionType": "USER", "conditionValue": "eve"}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    up.stop();
}
