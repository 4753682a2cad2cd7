//! Rate limits shared through Redis by the gateways of an environment, and the local
//! fallback when Redis is away. Needs Redis on 127.0.0.1:6379 (skips loudly without it,
//! except under CI=true).

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use gantry_testkit::cluster::{ControlPlaneProcess, GatewayProcess};
use gantry_testkit::rest::Rest;
use gantry_testkit::{EchoUpstream, free_port};
use serde_json::json;

const BIN: &str = env!("CARGO_BIN_EXE_gantry");
const DEV: &str = "/api/am/devportal/v3";

fn redis_reachable() -> bool {
    let up = std::net::TcpStream::connect("127.0.0.1:6379").is_ok();
    if !up {
        assert!(
            !std::env::var("CI").is_ok_and(|v| v == "true"),
            "Redis on 127.0.0.1:6379 is required under CI=true"
        );
        eprintln!("\n*** SKIPPING: Redis is not reachable on 127.0.0.1:6379 ***\n");
    }
    up
}

/// A control plane, an environment with a unique name, an API, and a token of an application
/// on the 10PerMin tier. Returns (cp, env name, gateway token, access token, dirs).
async fn setup(
    upstream: &EchoUpstream,
) -> (
    ControlPlaneProcess,
    String,
    String,
    String,
    tempfile::TempDir,
) {
    let dirs = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}?mode=rwc", dirs.path().join("cp.db").display());
    let cp = ControlPlaneProcess::start(BIN, &db, &dirs.path().join("cp"), None).await;
    let rest = Rest::new(&cp.url(""), cp.client());
    // A fresh environment name keeps this test's Redis counters apart from any other run.
    let env = format!("rl-{}", free_port());
    let (_, gw_token) = rest.environment_with_token(&env).await;
    let api = rest
        .deployed_api_in(
            &[&env],
            "Shared",
            "/shared",
            &upstream.url(),
            json!([{"target": "/x", "verb": "GET"}]),
        )
        .await;
    let (_, app) = rest
        .post(
            &format!("{DEV}/applications"),
            json!({"name": "Ten", "throttlingPolicy": "10PerMin"}),
        )
        .await;
    let app = app["applicationId"].as_str().unwrap().to_owned();
    rest.post(
        &format!("{DEV}/subscriptions"),
        json!({"apiId": api, "applicationId": app, "throttlingPolicy": "Gold"}),
    )
    .await;
    let (ck, cs) = rest.keys(&app).await;
    let (_, token) = rest.token(&ck, &cs).await;
    (
        cp,
        env,
        gw_token,
        token["access_token"].as_str().unwrap().to_owned(),
        dirs,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_gateways_share_one_application_quota_through_redis() {
    if !redis_reachable() {
        return;
    }
    let upstream = EchoUpstream::start().await;
    let (cp, env, gw_token, token, dirs) = setup(&upstream).await;
    let mut gateways = Vec::new();
    for i in 0..2 {
        let mut gw = GatewayProcess::start(
            BIN,
            &env,
            &cp.url(""),
            &gw_token,
            &cp.ca_path(),
            &dirs.path().join(format!("gw{i}")),
            &format!("gw{i}"),
        );
        gw.restart_with_args(&["--redis-url", "redis://127.0.0.1:6379"]);
        gateways.push(gw);
    }
    for gw in &gateways {
        assert!(gw.wait_ready().await);
        assert!(
            gw.eventually_status("/shared/1.0.0/x", Some(&token), 200)
                .await
        );
    }
    // Two requests spent on readiness above; 8 more fit in the 10PerMin window across both.
    let mut ok = 2;
    let mut throttled = 0;
    for i in 0..12 {
        match gateways[i % 2].get("/shared/1.0.0/x", Some(&token)).await {
            200 => ok += 1,
            429 => throttled += 1,
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!(
        (ok, throttled),
        (10, 4),
        "one quota of 10 for the environment, not 10 per gateway"
    );
    let metrics = reqwest::get(format!("http://127.0.0.1:{}/metrics", gateways[0].ops_port))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("gantry_gateway_redis_up 1"), "{metrics}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_redis_each_gateway_falls_back_to_its_local_limit() {
    let upstream = EchoUpstream::start().await;
    let (cp, env, gw_token, token, dirs) = setup(&upstream).await;
    let dead = format!("redis://127.0.0.1:{}", free_port());
    let mut gw = GatewayProcess::start(
        BIN,
        &env,
        &cp.url(""),
        &gw_token,
        &cp.ca_path(),
        &dirs.path().join("gw"),
        "gw-local",
    );
    gw.restart_with_args(&["--redis-url", &dead]);
    assert!(gw.wait_ready().await);
    assert!(
        gw.eventually_status("/shared/1.0.0/x", Some(&token), 200)
            .await
    );
    let mut ok = 1;
    for _ in 0..12 {
        if gw.get("/shared/1.0.0/x", Some(&token)).await == 200 {
            ok += 1;
        }
    }
    assert_eq!(ok, 10, "the local limit still holds while Redis is away");
    let metrics = reqwest::get(format!("http://127.0.0.1:{}/metrics", gw.ops_port))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("gantry_gateway_redis_up 0"), "{metrics}");
    assert!(
        !metrics.contains("gantry_gateway_ratelimit_local_fallbacks_total 0\n"),
        "{metrics}"
    );
}
