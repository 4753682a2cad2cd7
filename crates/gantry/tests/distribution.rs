//! Distribution across real processes on PostgreSQL: two control-plane replicas sharing one
//! database, gateways for two environments connected to either replica.
//!
//! Covers: a change made on one replica reaches gateways connected to the other; a
//! deployment reaches only the environments it names; undeploy; gateways keep serving when
//! every control plane is killed, and serve from disk after a restart while it is down; a
//! version the gateway rejects is NACKed, the last good one keeps serving and the Admin API
//! shows it; a revoked gateway token cuts the stream.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use gantry_testkit::cluster::{ControlPlaneProcess, GatewayProcess, TestDatabase};
use gantry_testkit::rest::Rest;
use gantry_testkit::{EchoUpstream, eventually};
use reqwest::StatusCode;
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_gantry");
const ADMIN: &str = "/api/am/admin/v4";
const PUB: &str = "/api/am/publisher/v4";
const DEV: &str = "/api/am/devportal/v3";

fn rest(cp: &ControlPlaneProcess) -> Rest {
    Rest::new(&cp.url(""), cp.client())
}

async fn gateways_of(rest: &Rest, env_id: &str) -> Vec<Value> {
    let (_, body) = rest
        .get(&format!("{ADMIN}/environments/{env_id}/gateways"))
        .await;
    body["list"].as_array().cloned().unwrap_or_default()
}

#[tokio::test]
async fn two_replicas_two_environments_and_the_failures_gateways_must_survive() {
    let Some(db) = TestDatabase::create().await else {
        return;
    };
    let dirs = tempfile::tempdir().unwrap();
    let upstream = EchoUpstream::start().await;

    let mut cp1 = ControlPlaneProcess::start(BIN, &db.url, &dirs.path().join("cp1"), None).await;
    // The second replica serves the same certificate, so gateways trust either.
    let mut cp2 = ControlPlaneProcess::start(
        BIN,
        &db.url,
        &dirs.path().join("cp2"),
        Some(cp1.tls_files()),
    )
    .await;
    let ca = cp1.ca_path();
    let (r1, r2) = (rest(&cp1), rest(&cp2));

    let (env_a, token_a) = r1.environment_with_token("dp-prod-a").await;
    let (env_b, token_b) = r1.environment_with_token("dp-prod-b").await;
    let (status, _) = r1
        .post(
            &format!("{ADMIN}/environments"),
            json!({"name": "dp-prod-a", "vhosts": [{"host": "x"}]}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);

    let ga1 = GatewayProcess::start(
        BIN,
        "dp-prod-a",
        &cp1.url(""),
        &token_a,
        &ca,
        &dirs.path().join("ga1"),
        "ga1",
    );
    let ga2 = GatewayProcess::start(
        BIN,
        "dp-prod-a",
        &cp2.url(""),
        &token_a,
        &ca,
        &dirs.path().join("ga2"),
        "ga2",
    );
    let mut gb1 = GatewayProcess::start(
        BIN,
        "dp-prod-b",
        &cp2.url(""),
        &token_b,
        &ca,
        &dirs.path().join("gb1"),
        "gb1",
    );
    for gw in [&ga1, &ga2, &gb1] {
        assert!(
            gw.wait_ready().await,
            "gateway for {} never became ready",
            gw.environment
        );
    }
    // A token of another environment is refused: that gateway never gets a configuration.
    let wrong = GatewayProcess::start(
        BIN,
        "dp-prod-b",
        &cp1.url(""),
        &token_a,
        &ca,
        &dirs.path().join("wrong"),
        "wrong",
    );

    // Publish on replica 1, deploy to dp-prod-a only.
    let open = json!([{"target": "/open", "verb": "GET", "authType": "None"}, {"target": "/items/{id}", "verb": "GET"}]);
    let api_id = r1
        .deployed_api_in(&["dp-prod-a"], "Orders", "/orders", &upstream.url(), open)
        .await;
    assert!(
        ga1.eventually_status("/orders/1.0.0/open", None, 200).await,
        "gateway on replica 1"
    );
    assert!(
        ga2.eventually_status("/orders/1.0.0/open", None, 200).await,
        "gateway on replica 2 (NOTIFY)"
    );
    assert_eq!(
        gb1.get("/orders/1.0.0/open", None).await,
        404,
        "dp-prod-b has nothing deployed"
    );

    // Subscriber flow on replica 2; the token works on both dp-prod-a gateways.
    let app = r2.application("Shop").await;
    let (status, _) = r2
        .post(
            &format!("{DEV}/subscriptions"),
            json!({"apiId": api_id, "applicationId": app, "throttlingPolicy": "Gold"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (ck, cs) = r2.keys(&app).await;
    let (_, token) = r1.token(&ck, &cs).await;
    let token = token["access_token"].as_str().unwrap().to_owned();
    assert!(
        ga1.eventually_status("/orders/1.0.0/items/1", Some(&token), 200)
            .await
    );
    assert!(
        ga2.eventually_status("/orders/1.0.0/items/1", Some(&token), 200)
            .await,
        "ga2: {}",
        ga2.get("/orders/1.0.0/items/1", Some(&token)).await
    );

    // Visibility: both dp-prod-a gateways are listed, live and in sync; the deployment
    // status counts them.
    let in_sync = eventually(Duration::from_secs(10), || async {
        let nodes = gateways_of(&r2, &env_a).await;
        nodes.len() == 2
            && nodes
                .iter()
                .all(|n| n["status"] == "ACTIVE" && n["inSync"] == true)
    })
    .await;
    assert!(in_sync, "{:?}", gateways_of(&r2, &env_a).await);
    let metrics = cp2
        .client()
        .get(cp2.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(r#"gantry_controlplane_connected_gateways{environment="dp-prod-a"} 1"#),
        "ga2 is the one dp-prod-a gateway on replica 2: {metrics}"
    );
    let (_, deployments) = r1.get(&format!("{PUB}/apis/{api_id}/deployments")).await;
    let a = deployments["list"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["name"] == "dp-prod-a")
        .unwrap()
        .clone();
    assert_eq!(
        (
            a["liveGatewayCount"].as_u64(),
            a["deployedGatewayCount"].as_u64()
        ),
        (Some(2), Some(2)),
        "{a}"
    );
    assert!(
        gateways_of(&r1, &env_b)
            .await
            .iter()
            .all(|n| n["gatewayId"] != "wrong"),
        "refused gateway is not listed"
    );
    assert_eq!(
        wrong.readiness().await.0,
        503,
        "a gateway with another environment's token gets nothing"
    );

    // A token revoked on one replica is refused by every gateway of the environment, on
    // either replica; a fresh token keeps working.
    let (_, spare) = r1.token(&ck, &cs).await;
    let spare = spare["access_token"].as_str().unwrap().to_owned();
    let revoked = cp2
        .client()
        .post(cp2.url("/oauth2/revoke"))
        .basic_auth(&ck, Some(&cs))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("token={spare}&token_type_hint=access_token"))
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), StatusCode::OK);
    assert!(
        ga1.eventually_status("/orders/1.0.0/items/1", Some(&spare), 401)
            .await,
        "ga1 refuses the revoked token"
    );
    assert!(
        ga2.eventually_status("/orders/1.0.0/items/1", Some(&spare), 401)
            .await,
        "ga2 refuses the revoked token"
    );
    assert_eq!(ga1.get("/orders/1.0.0/items/1", Some(&token)).await, 200);

    // Canary-style rollout: the same revision also to dp-prod-b, then away from dp-prod-a.
    let (_, revisions) = r1.get(&format!("{PUB}/apis/{api_id}/revisions")).await;
    let rev = revisions["list"][0]["id"].as_str().unwrap().to_owned();
    let (status, _) = r2
        .post(
            &format!("{PUB}/apis/{api_id}/deploy-revision?revisionId={rev}"),
            json!([{"name": "dp-prod-b", "vhost": "localhost"}]),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert!(
        gb1.eventually_status("/orders/1.0.0/items/1", Some(&token), 200)
            .await
    );
    let (status, _) = r1
        .post(
            &format!("{PUB}/apis/{api_id}/undeploy-revision?revisionId={rev}"),
            json!([{"name": "dp-prod-a"}]),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert!(ga1.eventually_status("/orders/1.0.0/open", None, 404).await);
    assert!(ga2.eventually_status("/orders/1.0.0/open", None, 404).await);
    assert_eq!(gb1.get("/orders/1.0.0/open", None).await, 200);

    // A version the gateway cannot compile (two APIs claim the same path) is NACKed; the
    // last good version keeps serving and the Admin API says why.
    let clash = json!([{"target": "/", "verb": "GET", "authType": "None"}]);
    let (status, body) = r1
        .post(
            &format!("{PUB}/apis"),
            json!({"name": "Clash", "context": "/orders/1.0.0", "version": "open", "operations": clash,
                   "endpointConfig": {"endpoint_type": "http", "production_endpoints": {"url": upstream.url()}}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let clash_id = body["id"].as_str().unwrap().to_owned();
    let (_, revision) = r1
        .post(&format!("{PUB}/apis/{clash_id}/revisions"), json!({}))
        .await;
    let clash_rev = revision["id"].as_str().unwrap();
    let (status, _) = r1
        .post(
            &format!("{PUB}/apis/{clash_id}/deploy-revision?revisionId={clash_rev}"),
            json!([{"name": "dp-prod-b"}]),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let nacked = eventually(Duration::from_secs(10), || async {
        gateways_of(&r1, &env_b)
            .await
            .iter()
            .any(|n| n["gatewayId"] == "gb1" && n["lastNack"]["reason"].is_string())
    })
    .await;
    assert!(nacked, "{:?}", gateways_of(&r1, &env_b).await);
    assert_eq!(
        gb1.get("/orders/1.0.0/items/1", Some(&token)).await,
        200,
        "last good version still serves"
    );
    let (status, _) = r1
        .post(
            &format!("{PUB}/apis/{clash_id}/undeploy-revision?revisionId={clash_rev}"),
            json!([{"name": "dp-prod-b"}]),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let recovered = eventually(Duration::from_secs(10), || async {
        gateways_of(&r1, &env_b)
            .await
            .iter()
            .any(|n| n["gatewayId"] == "gb1" && n["inSync"] == true)
    })
    .await;
    assert!(recovered, "gb1 applies the next good version");

    // Every control plane dies: gateways keep serving.
    cp1.kill();
    cp2.kill();
    assert_eq!(gb1.get("/orders/1.0.0/items/1", Some(&token)).await, 200);
    // A gateway restarted while the control plane is down serves from disk.
    gb1.restart();
    assert!(
        gb1.wait_ready().await,
        "restarted gateway is ready from its persisted snapshot"
    );
    assert_eq!(gb1.get("/orders/1.0.0/items/1", Some(&token)).await, 200);
    assert_eq!(gb1.readiness().await.1["controlPlaneConnected"], false);

    // The control plane comes back; the gateway reconnects by itself.
    cp2.restart().await;
    let reconnected = eventually(Duration::from_secs(40), || async {
        gb1.readiness().await.1["controlPlaneConnected"] == true
    })
    .await;
    assert!(
        reconnected,
        "gateway reconnected after the control plane returned"
    );

    // Revoking the environment's token cuts the stream; the gateway keeps serving.
    let r2 = rest(&cp2);
    let (_, tokens) = r2
        .get(&format!("{ADMIN}/environments/{env_b}/gateway-tokens"))
        .await;
    let token_id = tokens["list"][0]["id"].as_str().unwrap().to_owned();
    let (status, _) = r2
        .send(
            reqwest::Method::DELETE,
            &format!("{ADMIN}/environments/{env_b}/gateway-tokens/{token_id}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let cut = eventually(Duration::from_secs(15), || async {
        gb1.readiness().await.1["controlPlaneConnected"] == false
    })
    .await;
    assert!(cut, "revoked token disconnects the gateway");
    assert_eq!(gb1.get("/orders/1.0.0/items/1", Some(&token)).await, 200);

    drop((ga1, ga2, gb1, wrong, cp1, cp2));
    db.drop_now().await;
}

#[tokio::test]
async fn a_control_plane_requiring_mtls_refuses_gateways_without_a_client_certificate() {
    let Some(db) = TestDatabase::create().await else {
        return;
    };
    let dirs = tempfile::tempdir().unwrap();
    let certs =
        gantry_testkit::certs::client_ca_and_certificate(&dirs.path().join("certs"), "gw-mtls");
    let ca_arg = certs.ca.to_str().unwrap().to_owned();
    let cp = ControlPlaneProcess::start_with_args(
        BIN,
        &db.url,
        &dirs.path().join("cp"),
        &["--client-ca", &ca_arg, "--require-gateway-client-cert"],
    )
    .await;
    // REST clients (no certificate) still work: client certificates are optional at TLS level.
    let (_, token) = rest(&cp).environment_with_token("secure").await;

    let mut gw = GatewayProcess::start(
        BIN,
        "secure",
        &cp.url(""),
        &token,
        &cp.ca_path(),
        &dirs.path().join("gw"),
        "gw-mtls",
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        gw.readiness().await.0,
        503,
        "no client certificate: no configuration"
    );

    let (cert, key) = (
        certs.cert.to_str().unwrap().to_owned(),
        certs.key.to_str().unwrap().to_owned(),
    );
    gw.restart_with_args(&["--client-cert", &cert, "--client-key", &key]);
    assert!(
        gw.wait_ready().await,
        "with a certificate from the trusted CA the gateway is configured"
    );

    drop((gw, cp));
    db.drop_now().await;
}

#[tokio::test]
async fn a_stream_dropped_while_changes_are_made_converges_after_it_returns() {
    let Some(db) = TestDatabase::create().await else {
        return;
    };
    let dirs = tempfile::tempdir().unwrap();
    let upstream = EchoUpstream::start().await;
    let cp = ControlPlaneProcess::start(BIN, &db.url, &dirs.path().join("cp"), None).await;
    let r = rest(&cp);
    let (_, token) = r.environment_with_token("flaky").await;
    let proxy = gantry_testkit::chaos::ChaosProxy::start(cp.port).await;
    let via_proxy = format!("https://localhost:{}", proxy.port);
    let gw = GatewayProcess::start(
        BIN,
        "flaky",
        &via_proxy,
        &token,
        &cp.ca_path(),
        &dirs.path().join("gw"),
        "gw-flaky",
    );
    assert!(gw.wait_ready().await);

    let open = |path: &str| json!([{"target": path, "verb": "GET", "authType": "None"}]);
    r.deployed_api_in(&["flaky"], "First", "/first", &upstream.url(), open("/a"))
        .await;
    assert!(gw.eventually_status("/first/1.0.0/a", None, 200).await);

    // The stream drops while two more changes are made; the gateway keeps serving.
    proxy.cut_and_block();
    r.deployed_api_in(&["flaky"], "Second", "/second", &upstream.url(), open("/b"))
        .await;
    r.deployed_api_in(&["flaky"], "Third", "/third", &upstream.url(), open("/c"))
        .await;
    assert_eq!(
        gw.get("/first/1.0.0/a", None).await,
        200,
        "serving the last configuration"
    );
    assert_eq!(
        gw.get("/second/1.0.0/b", None).await,
        404,
        "cannot know what it did not receive"
    );

    // Connectivity returns: the gateway reconnects by itself and catches up on everything.
    proxy.restore();
    let caught_up = eventually(Duration::from_secs(40), || async {
        gw.get("/second/1.0.0/b", None).await == 200 && gw.get("/third/1.0.0/c", None).await == 200
    })
    .await;
    assert!(caught_up, "gateway converged after the stream came back");
    assert_eq!(gw.get("/first/1.0.0/a", None).await, 200);

    drop((gw, cp));
    db.drop_now().await;
}
