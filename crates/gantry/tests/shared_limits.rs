//! Rate limits shared through Redis by the gateways of an environment — request-count tiers
//! and bandwidth policies — and the local fallback when Redis is away. Needs Redis on 127.0.0.1:6379 (skips loudly without it,
//! except under CI=true).

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use gantry_testkit::cluster::{ControlPlaneProcess, GatewayProcess};
use gantry_testkit::rest::Rest;
use gantry_testkit::{EchoUpstream, free_port};
use serde_json::json;

const BIN: &str = env!("CARGO_BIN_EXE_gantry");
const DEV: &str = "/api/am/devportal/v3";
const PUB: &str = "/api/am/publisher/v4";
const ADM: &str = "/api/am/admin/v4/throttling/policies";
const REDIS: &str = "redis://127.0.0.1:6379";

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
    let gateways = redis_gateways(&cp, &env, &gw_token, &dirs, REDIS).await;
    for gw in &gateways {
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
    assert_eq!(redis_up(&gateways[0]).await, Some(true));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_redis_each_gateway_falls_back_to_its_local_limit() {
    let upstream = EchoUpstream::start().await;
    let (cp, env, gw_token, token, dirs) = setup(&upstream).await;
    let dead = format!("redis://127.0.0.1:{}", free_port());
    let gw = redis_gateway(&cp, &env, &gw_token, &dirs, "gw-local", &dead);
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
    assert_eq!(redis_up(&gw).await, Some(false));
    let metrics = metrics(&gw).await;
    assert!(
        !metrics.contains("gantry_gateway_ratelimit_local_fallbacks_total 0\n"),
        "{metrics}"
    );
}

/// A gateway of `env` named `name` using the Redis at `redis` (not yet ready).
fn redis_gateway(
    cp: &ControlPlaneProcess,
    env: &str,
    gw_token: &str,
    dirs: &tempfile::TempDir,
    name: &str,
    redis: &str,
) -> GatewayProcess {
    let mut gw = GatewayProcess::start(
        BIN,
        env,
        &cp.url(""),
        gw_token,
        &cp.ca_path(),
        &dirs.path().join(name),
        name,
    );
    gw.restart_with_args(&["--redis-url", redis]);
    gw
}

/// Two gateways of `env` sharing the Redis at `redis`, both ready.
async fn redis_gateways(
    cp: &ControlPlaneProcess,
    env: &str,
    gw_token: &str,
    dirs: &tempfile::TempDir,
    redis: &str,
) -> Vec<GatewayProcess> {
    let gateways: Vec<_> = (0..2)
        .map(|i| redis_gateway(cp, env, gw_token, dirs, &format!("gw{i}"), redis))
        .collect();
    for gw in &gateways {
        assert!(gw.wait_ready().await);
    }
    gateways
}

/// The gateway's `/metrics` text.
async fn metrics(gw: &GatewayProcess) -> String {
    reqwest::get(format!("http://127.0.0.1:{}/metrics", gw.ops_port))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// The gateway's `gantry_gateway_redis_up` sample (the HELP line names its values too).
async fn redis_up(gw: &GatewayProcess) -> Option<bool> {
    metrics(gw).await.lines().find_map(|line| match line {
        "gantry_gateway_redis_up 1" => Some(true),
        "gantry_gateway_redis_up 0" => Some(false),
        _ => None,
    })
}

/// POSTs `body_len` bytes to `path` on `gw`; (status, bytes the call moved: request body +
/// response body, as a bandwidth policy counts them, Retry-After).
async fn post(
    gw: &GatewayProcess,
    path: &str,
    token: &str,
    body_len: usize,
) -> (u16, u64, Option<String>) {
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(5))
        .resolve(
            "localhost",
            std::net::SocketAddr::from(([127, 0, 0, 1], gw.http_port)),
        )
        .build()
        .unwrap();
    let response = client
        .post(format!("http://localhost:{}{path}", gw.http_port))
        .bearer_auth(token)
        .body(vec![b'x'; body_len])
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    let received = response.bytes().await.unwrap().len();
    let moved = if status == 200 {
        (body_len + received) as u64
    } else {
        0
    };
    (status, moved, retry_after)
}

/// 16 KB a day: a window that will not end during a test.
const LIMIT: u64 = 16 * 1024;

/// Like [`setup`], with an API under the `SixteenKB` bandwidth tier (`BANDWIDTHLIMIT`,
/// created over the Admin API). Returns (cp, env name, gateway token, a token of an
/// unlimited application to poll readiness with, the metered token, dirs).
async fn metered_setup(
    upstream: &EchoUpstream,
) -> (
    ControlPlaneProcess,
    String,
    String,
    String,
    String,
    tempfile::TempDir,
) {
    // Epoch-aligned day windows: a test starting in the last two minutes of a UTC day waits
    // for the next one, so its shared counter does not reset halfway.
    let to_midnight = 86_400
        - std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
            % 86_400;
    if to_midnight < 120 {
        tokio::time::sleep(std::time::Duration::from_secs(to_midnight + 1)).await;
    }
    let dirs = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}?mode=rwc", dirs.path().join("cp.db").display());
    let cp = ControlPlaneProcess::start(BIN, &db, &dirs.path().join("cp"), None).await;
    let rest = Rest::new(&cp.url(""), cp.client());
    // A fresh environment name keeps this test's Redis counters apart from any other run.
    let env = format!("bw-{}", free_port());
    let (_, gw_token) = rest.environment_with_token(&env).await;
    let (status, policy) = rest
        .post(
            &format!("{ADM}/subscription"),
            json!({"policyName": "SixteenKB", "defaultLimit": {"type": "BANDWIDTHLIMIT",
                "bandwidth": {"timeUnit": "day", "unitTime": 1, "dataAmount": 16, "dataUnit": "KB"}}}),
        )
        .await;
    assert_eq!(status, reqwest::StatusCode::CREATED, "{policy}");
    let (status, api) = rest
        .post(
            &format!("{PUB}/apis"),
            json!({"name": "Metered", "context": "/metered", "version": "1.0.0",
                "policies": ["SixteenKB", "Unlimited"],
                "endpointConfig": {"endpoint_type": "http",
                    "production_endpoints": {"url": upstream.url()}},
                "operations": [{"target": "/*", "verb": "GET"}, {"target": "/*", "verb": "POST"}]}),
        )
        .await;
    assert_eq!(status, reqwest::StatusCode::CREATED, "{api}");
    let api = api["id"].as_str().unwrap().to_owned();
    rest.publish_and_deploy(&api, &[&env]).await;
    // Readiness is polled with an unlimited application, so every metered byte is counted here.
    let probe = rest.subscribed_token("Probe", &[&api], "Unlimited").await;
    let token = rest.subscribed_token("Metered", &[&api], "SixteenKB").await;
    (cp, env, gw_token, probe, token, dirs)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_gateways_share_one_bandwidth_allowance_through_redis() {
    if !redis_reachable() {
        return;
    }
    const CHUNK: u64 = LIMIT / 20;
    let upstream = EchoUpstream::start().await;
    let (cp, env, gw_token, probe, token, dirs) = metered_setup(&upstream).await;
    let gateways = redis_gateways(&cp, &env, &gw_token, &dirs, REDIS).await;
    for gw in &gateways {
        assert!(
            gw.eventually_status("/metered/1.0.0/a", Some(&probe), 200)
                .await
        );
    }

    // About half of the allowance through gateway A.
    let mut moved_a = 0;
    let mut largest = 0;
    while moved_a < LIMIT / 2 {
        let (status, moved, _) = post(&gateways[0], "/metered/1.0.0/a", &token, 500).await;
        assert_eq!(status, 200, "A is within the limit after {moved_a} bytes");
        moved_a += moved;
        largest = largest.max(moved);
    }
    // Then gateway B until it refuses: it has only what A left, not a limit of its own.
    let mut moved_b = 0;
    let mut refused = None;
    for _ in 0..40 {
        let (status, moved, retry_after) =
            post(&gateways[1], "/metered/1.0.0/a", &token, 500).await;
        if status == 429 {
            refused = Some(retry_after);
            break;
        }
        assert_eq!(status, 200);
        moved_b += moved;
        largest = largest.max(moved);
    }
    let retry_after = refused.expect("gateway B refuses once the environment's bytes are used");
    let retry_after: u64 = retry_after
        .expect("a 429 carries Retry-After")
        .parse()
        .unwrap();
    assert!((1..=86_400).contains(&retry_after), "{retry_after}");
    // The accuracy the design states: a gateway's last call completes whatever it moves
    // (over by at most one call per gateway, one at a time here), and a gateway may hold up
    // to one unused chunk (under by at most one chunk per gateway).
    let combined = moved_a + moved_b;
    eprintln!("bandwidth: A moved {moved_a}, B moved {moved_b} bytes of {LIMIT}");
    assert!(
        combined >= LIMIT - 2 * CHUNK,
        "refused early: A {moved_a} + B {moved_b} bytes of {LIMIT}"
    );
    assert!(
        combined <= LIMIT + 2 * largest,
        "over the limit: A {moved_a} + B {moved_b} bytes of {LIMIT} (calls up to {largest} bytes)"
    );
    // Had each gateway counted alone, B would have moved the whole limit after A's half.
    assert!(moved_b < LIMIT, "B {moved_b} after A {moved_a}");
    // A is refused too once what it holds is spent (at most one more call).
    let mut a_refused = false;
    for _ in 0..2 {
        if post(&gateways[0], "/metered/1.0.0/a", &token, 500).await.0 == 429 {
            a_refused = true;
            break;
        }
    }
    assert!(a_refused, "A sees the environment's allowance used up");
    assert_eq!(redis_up(&gateways[1]).await, Some(true));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_redis_a_gateway_meters_bandwidth_on_its_own() {
    let upstream = EchoUpstream::start().await;
    let (cp, env, gw_token, probe, token, dirs) = metered_setup(&upstream).await;
    let dead = format!("redis://127.0.0.1:{}", free_port());
    let gw = redis_gateway(&cp, &env, &gw_token, &dirs, "gw-local", &dead);
    assert!(gw.wait_ready().await);
    assert!(
        gw.eventually_status("/metered/1.0.0/a", Some(&probe), 200)
            .await
    );
    let mut moved = 0;
    let mut largest = 0;
    let mut refused = false;
    for _ in 0..40 {
        let (status, bytes, _) = post(&gw, "/metered/1.0.0/a", &token, 500).await;
        if status == 429 {
            refused = true;
            break;
        }
        assert_eq!(status, 200);
        moved += bytes;
        largest = largest.max(bytes);
    }
    assert!(
        refused,
        "the local byte meter still holds while Redis is away"
    );
    assert!(
        (LIMIT..=LIMIT + largest).contains(&moved),
        "{moved} bytes of {LIMIT}: admitted while bytes are left, the crossing call completes"
    );
    assert_eq!(redis_up(&gw).await, Some(false));
    let metrics = metrics(&gw).await;
    assert!(
        !metrics.contains("gantry_gateway_ratelimit_local_fallbacks_total 0\n"),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bandwidth_falls_back_while_redis_is_away_and_is_shared_again_when_it_returns() {
    if !redis_reachable() {
        return;
    }
    const CHUNK: u64 = LIMIT / 20;
    let upstream = EchoUpstream::start().await;
    let (cp, env, gw_token, probe, token, dirs) = metered_setup(&upstream).await;
    let redis = gantry_testkit::chaos::ChaosProxy::start(6379).await;
    let url = format!("redis://127.0.0.1:{}", redis.port);
    let gateways = redis_gateways(&cp, &env, &gw_token, &dirs, &url).await;
    for gw in &gateways {
        assert!(
            gw.eventually_status("/metered/1.0.0/a", Some(&probe), 200)
                .await
        );
    }
    let path = "/metered/1.0.0/a";
    let mut largest = 0;
    // A quarter of the allowance through A, shared.
    let mut moved_a = 0;
    while moved_a < LIMIT / 4 {
        let (status, moved, _) = post(&gateways[0], path, &token, 500).await;
        assert_eq!(status, 200);
        moved_a += moved;
        largest = largest.max(moved);
    }
    // Redis goes away: B goes on with its own byte meter.
    redis.cut_and_block();
    let mut moved_b = 0;
    while moved_b < LIMIT / 4 {
        let (status, moved, _) = post(&gateways[1], path, &token, 500).await;
        assert_eq!(status, 200, "B admits on its own while Redis is away");
        moved_b += moved;
        largest = largest.max(moved);
    }
    assert_eq!(redis_up(&gateways[1]).await, Some(false));
    // Redis is back: B's next calls find it again (within a second or so).
    redis.restore();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut back = false;
    while !back && std::time::Instant::now() < deadline {
        // Bodiless calls: each still moves its response, counted like the others.
        let (status, moved, _) = post(&gateways[1], path, &token, 0).await;
        assert_eq!(status, 200);
        moved_b += moved;
        largest = largest.max(moved);
        back = redis_up(&gateways[1]).await == Some(true);
        if !back {
            tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        }
    }
    assert!(back, "B uses Redis again once it answers");
    // From here the environment's counter decides, and it includes what B moved alone.
    let mut refused = false;
    for _ in 0..40 {
        let (status, moved, _) = post(&gateways[1], path, &token, 500).await;
        if status == 429 {
            refused = true;
            break;
        }
        assert_eq!(status, 200);
        moved_b += moved;
        largest = largest.max(moved);
    }
    assert!(refused, "B refuses once the environment's bytes are used");
    let combined = moved_a + moved_b;
    eprintln!("bandwidth across an outage: A moved {moved_a}, B moved {moved_b} of {LIMIT}");
    assert!(
        combined >= LIMIT - 2 * CHUNK,
        "refused early: A {moved_a} + B {moved_b} bytes of {LIMIT}"
    );
    assert!(
        combined <= LIMIT + 2 * largest,
        "over the limit: A {moved_a} + B {moved_b} bytes of {LIMIT}: \
         the bytes B moved while Redis was away must count once it is back"
    );
}
