//! Rollouts across real processes on PostgreSQL: control planes, one gateway in each of
//! `dp-canary`, `dp-prod-a` and `dp-prod-b`, an echo upstream, and load the test drives.
//!
//! Covers: a revision failing 30 % of calls is rolled back from the canary and never reaches
//! production; a good revision is promoted through every step, each weight's traffic share
//! within 8 percentage points (as the clients saw it and as the gateways reported it);
//! added latency fails a p99 threshold; a control plane killed mid-rollout resumes it
//! after its restart; of two control planes one drives; `gantry up` (SQLite, in-process
//! gateway) rolls out too, API products included (`gantry ctl rollout --api-product`); the
//! events and per-revision calls show on both `/metrics`; Prometheus queries (Debian's
//! `prometheus`, when installed) fail a revision or let it pass. Windows are a few seconds,
//! set by the plans.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gantry_testkit::cluster::{ControlPlaneProcess, GatewayProcess, TestDatabase};
use gantry_testkit::rest::Rest;
use gantry_testkit::{EchoUpstream, GantryUp, eventually};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

const BIN: &str = env!("CARGO_BIN_EXE_gantry");
const PUB: &str = "/api/am/publisher/v4";
const ENVIRONMENTS: [&str; 3] = ["dp-canary", "dp-prod-a", "dp-prod-b"];
/// Largest gap, in percentage points, between a step's weight and the share measured.
const SHARE_TOLERANCE: f64 = 8.0;

fn rest(cp: &ControlPlaneProcess) -> Rest {
    Rest::new(&cp.url(""), cp.client())
}

/// What a client saw of one call: when, its status, the upstream path (which revision's
/// endpoint served it) and the `X-Gantry-Revision` the upstream got.
#[derive(Debug, Clone)]
struct Call {
    at_ms: i64,
    status: u16,
    path: String,
    revision_header: Option<String>,
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// Calls `GET /shop/1.0.0/item` (or another path) on the gateway at `port` from `workers`
/// loops until stopped.
struct Load {
    calls: Arc<Mutex<Vec<Call>>>,
    stop: CancellationToken,
}

impl Load {
    fn start(port: u16, workers: usize) -> Self {
        Self::start_on(port, "/shop/1.0.0/item", workers)
    }

    fn start_on(port: u16, path: &'static str, workers: usize) -> Self {
        let calls: Arc<Mutex<Vec<Call>>> = Arc::default();
        let stop = CancellationToken::new();
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .unwrap();
        for _ in 0..workers {
            let (calls, stop, client) = (calls.clone(), stop.clone(), client.clone());
            tokio::spawn(async move {
                while !stop.is_cancelled() {
                    let sent = client
                        .get(format!("http://127.0.0.1:{port}{path}"))
                        .send()
                        .await;
                    let at_ms = now_ms();
                    let Ok(response) = sent else {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        continue;
                    };
                    let status = response.status().as_u16();
                    let body: Value = response.json().await.unwrap_or(Value::Null);
                    calls.lock().unwrap().push(Call {
                        at_ms,
                        status,
                        path: body["path"].as_str().unwrap_or_default().to_owned(),
                        revision_header: body["headers"]["x-gantry-revision"]
                            .as_str()
                            .map(str::to_owned),
                    });
                    tokio::time::sleep(Duration::from_millis(8)).await;
                }
            });
        }
        Self { calls, stop }
    }

    fn calls(&self) -> Vec<Call> {
        self.calls.lock().unwrap().clone()
    }
}

impl Drop for Load {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// Control planes on one database, a gateway per environment, an API (context `/shop`)
/// whose first revision (endpoint `/v1`) is deployed to all three.
struct Fleet {
    _db: TestDatabase,
    dirs: tempfile::TempDir,
    cps: Vec<ControlPlaneProcess>,
    gateways: HashMap<&'static str, GatewayProcess>,
    upstream: EchoUpstream,
    api_id: String,
    first_revision: String,
}

impl Fleet {
    /// `replicas` control planes; the canary's gateway connects to the last one, the
    /// others to the first.
    async fn start(replicas: usize) -> Option<Self> {
        let db = TestDatabase::create().await?;
        let dirs = tempfile::tempdir().unwrap();
        let upstream = EchoUpstream::start().await;
        let first = ControlPlaneProcess::start(BIN, &db.url, &dirs.path().join("cp0"), None).await;
        let tls = first.tls_files();
        let mut cps = vec![first];
        for i in 1..replicas {
            cps.push(
                ControlPlaneProcess::start(
                    BIN,
                    &db.url,
                    &dirs.path().join(format!("cp{i}")),
                    Some(tls.clone()),
                )
                .await,
            );
        }
        let r = rest(&cps[0]);
        let mut gateways = HashMap::new();
        for env in ENVIRONMENTS {
            let (_, token) = r.environment_with_token(env).await;
            let cp = if env == "dp-canary" {
                cps.last().unwrap()
            } else {
                &cps[0]
            };
            let gw = GatewayProcess::start(
                BIN,
                env,
                &cp.url(""),
                &token,
                &cps[0].ca_path(),
                &dirs.path().join(env),
                env,
            );
            gateways.insert(env, gw);
        }
        for gw in gateways.values() {
            assert!(gw.wait_ready().await, "{} not ready", gw.environment);
        }
        let api_id = r
            .deployed_api_in(
                &ENVIRONMENTS,
                "Shop",
                "/shop",
                &format!("{}/v1", upstream.url()),
                json!([{"target": "/*", "verb": "GET", "authType": "None"}]),
            )
            .await;
        for gw in gateways.values() {
            assert!(
                gw.eventually_status("/shop/1.0.0/item", None, 200).await,
                "{} does not serve the API",
                gw.environment
            );
        }
        let (_, revisions) = r.get(&format!("{PUB}/apis/{api_id}/revisions")).await;
        let first_revision = revisions["list"][0]["id"].as_str().unwrap().to_owned();
        Some(Self {
            _db: db,
            dirs,
            cps,
            gateways,
            upstream,
            api_id,
            first_revision,
        })
    }

    fn rest(&self) -> Rest {
        rest(&self.cps[0])
    }

    fn load(&self, env: &str, workers: usize) -> Load {
        Load::start(self.gateways[env].http_port, workers)
    }

    /// Starts, through `r`, a rollout of `revision` taking `step` in each environment in
    /// turn (canary, production A, production B); its id.
    async fn roll_through_every_environment(
        &self,
        r: &Rest,
        revision: &str,
        step: Value,
    ) -> String {
        let steps: Vec<Value> = ENVIRONMENTS
            .iter()
            .map(|env| {
                let mut s = step.clone();
                s["environment"] = json!(env);
                s
            })
            .collect();
        start_rollout(
            r,
            &self.api_id,
            json!({"revisionId": revision, "steps": steps}),
        )
        .await
    }

    /// A new revision whose endpoint is the upstream's `path`.
    async fn revision_with_endpoint(&self, path: &str) -> String {
        new_revision(
            &self.rest(),
            &self.api_id,
            &format!("{}{path}", self.upstream.url()),
        )
        .await
    }
}

/// Points the API's working copy at `endpoint` and cuts a revision of it.
async fn new_revision(r: &Rest, api_id: &str, endpoint: &str) -> String {
    let (status, mut api) = r.get(&format!("{PUB}/apis/{api_id}")).await;
    assert_eq!(status, StatusCode::OK, "{api}");
    api["endpointConfig"]["production_endpoints"]["url"] = json!(endpoint);
    let (status, body) = r.put(&format!("{PUB}/apis/{api_id}"), api).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, revision) = r
        .post(&format!("{PUB}/apis/{api_id}/revisions"), json!({}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{revision}");
    revision["id"].as_str().unwrap().to_owned()
}

async fn start_rollout(r: &Rest, api_id: &str, plan: Value) -> String {
    let (status, body) = r.post(&format!("{PUB}/apis/{api_id}/rollouts"), plan).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["status"], "RUNNING");
    body["id"].as_str().unwrap().to_owned()
}

/// Polls the rollout until `done` holds (or `timeout`); its last body.
async fn wait_rollout(
    r: &Rest,
    api_id: &str,
    id: &str,
    timeout: Duration,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let (status, body) = r.get(&format!("{PUB}/apis/{api_id}/rollouts/{id}")).await;
        if status == StatusCode::OK && done(&body) {
            return body;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "rollout did not get there in {timeout:?}: {body:#}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

fn ended(body: &Value) -> bool {
    !matches!(body["status"].as_str(), Some("RUNNING" | "PAUSED"))
}

/// Share (percent) of `calls` in `[from, to)` that the path prefix `new` served.
fn share_served_by(calls: &[Call], from: i64, to: i64, new: &str) -> (f64, usize) {
    let window: Vec<&Call> = calls
        .iter()
        .filter(|c| c.at_ms >= from && c.at_ms < to)
        .collect();
    let served = window.iter().filter(|c| c.path.starts_with(new)).count();
    (
        100.0 * served as f64 / window.len().max(1) as f64,
        window.len(),
    )
}

/// Which revision each environment's deployment names now.
async fn deployed_revisions(r: &Rest, api_id: &str) -> HashMap<String, String> {
    let (status, body) = r.get(&format!("{PUB}/apis/{api_id}/deployments")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["name"].as_str().unwrap().to_owned(),
                d["revisionUuid"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_revision_failing_30_percent_is_rolled_back_from_the_canary_and_never_reaches_production()
{
    let Some(fleet) = Fleet::start(1).await else {
        return;
    };
    let r = fleet.rest();
    let bad = fleet.revision_with_endpoint("/flaky/30").await;
    let loads: Vec<(&str, Load)> = ENVIRONMENTS
        .iter()
        .map(|e| (*e, fleet.load(e, 2)))
        .collect();
    let id = fleet
        .roll_through_every_environment(
            &r,
            &bad,
            json!({"weight": 50, "windowSecs": 4, "minRequests": 40, "maxErrorRatio": 0.05}),
        )
        .await;
    let body = wait_rollout(&r, &fleet.api_id, &id, Duration::from_secs(60), ended).await;
    assert_eq!(body["status"], "ROLLED_BACK", "{body:#}");
    let reason = body["reason"].as_str().unwrap();
    assert!(
        reason.contains("dp-canary") && reason.contains("maxErrorRatio"),
        "{reason}"
    );
    let steps = body["progress"]["steps"].as_array().unwrap();
    assert_eq!(steps[0]["status"], "FAILED");
    assert_eq!(steps[1]["status"], "CANCELLED");
    assert_eq!(steps[2]["status"], "CANCELLED");
    // The gateways measured the new revision's failures: about 30 % of its calls.
    let measured = steps[0]["newRevision"]["errorRatio"].as_f64().unwrap();
    assert!((0.15..0.45).contains(&measured), "{measured}");
    assert!(steps[0]["newRevision"]["requests"].as_u64().unwrap() >= 40);
    let kinds: Vec<&str> = body["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        ["started", "step-applied", "rolled-back"],
        "{body:#}"
    );

    // The canary serves the first revision only again.
    let canary = &fleet.gateways["dp-canary"];
    let after = now_ms() + 1_000;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mut production_calls = 0;
    for (env, load) in &loads {
        let calls = load.calls();
        if *env == "dp-canary" {
            assert!(
                calls.iter().any(|c| c.path.starts_with("/flaky")),
                "the canary never served the new revision"
            );
            let late: Vec<&Call> = calls.iter().filter(|c| c.at_ms > after).collect();
            assert!(!late.is_empty());
            assert!(
                late.iter()
                    .all(|c| c.path.starts_with("/v1") && c.status == 200),
                "canary still serves the rolled-back revision"
            );
        } else {
            // Production never saw it: every call there went to the first revision.
            production_calls += calls.len();
            assert!(
                calls.iter().all(|c| c.path.starts_with("/v1")),
                "{env} served the failing revision"
            );
        }
    }
    assert!(production_calls > 100, "{production_calls}");
    let deployed = deployed_revisions(&r, &fleet.api_id).await;
    for env in ENVIRONMENTS {
        assert_eq!(deployed[env], fleet.first_revision, "{env}");
    }
    assert_eq!(canary.get("/shop/1.0.0/item", None).await, 200);
    drop(fleet.dirs);
}

#[tokio::test]
async fn a_good_revision_is_promoted_through_every_step_with_each_weights_traffic_share() {
    let Some(fleet) = Fleet::start(1).await else {
        return;
    };
    let r = fleet.rest();
    let good = fleet.revision_with_endpoint("/v2").await;
    let loads: HashMap<&str, Load> = ENVIRONMENTS
        .iter()
        .map(|e| (*e, fleet.load(e, 2)))
        .collect();
    let checked = json!({"minRequests": 30, "maxErrorRatio": 0.01, "maxP99Ms": 750});
    let step = |env: &str, weight: Option<u8>, window: u64| {
        let mut s = checked.clone();
        s["environment"] = json!(env);
        s["windowSecs"] = json!(window);
        if let Some(w) = weight {
            s["weight"] = json!(w);
        }
        s
    };
    let plan = json!({"revisionId": good, "steps": [
        step("dp-canary", Some(10), 4),
        step("dp-canary", Some(50), 4),
        step("dp-canary", None, 2),
        step("dp-prod-a", Some(25), 4),
        step("dp-prod-b", None, 2),
    ]});
    let id = start_rollout(&r, &fleet.api_id, plan).await;
    let body = wait_rollout(&r, &fleet.api_id, &id, Duration::from_secs(90), ended).await;
    assert_eq!(body["status"], "SUCCEEDED", "{body:#}");
    let steps = body["progress"]["steps"].as_array().unwrap();
    assert!(steps.iter().all(|s| s["status"] == "PASSED"), "{body:#}");

    // Each weighted step: the share the clients saw and the share the gateways reported.
    for (i, env, weight) in [
        (0, "dp-canary", 10.0),
        (1, "dp-canary", 50.0),
        (3, "dp-prod-a", 25.0),
    ] {
        let s = &steps[i];
        let from = s["startedAt"].as_i64().unwrap() + 700;
        let to = s["endedAt"].as_i64().unwrap();
        let (seen, calls) = share_served_by(&loads[env].calls(), from, to, "/v2");
        assert!(calls >= 50, "step {i}: {calls} calls");
        assert!(
            (seen - weight).abs() <= SHARE_TOLERANCE,
            "step {i}: clients saw {seen:.1} % on the new revision, weight {weight}"
        );
        let new = s["newRevision"]["requests"].as_f64().unwrap();
        let previous = s["previousRevision"]["requests"].as_f64().unwrap();
        let reported = 100.0 * new / (new + previous);
        assert!(
            (reported - weight).abs() <= SHARE_TOLERANCE,
            "step {i}: gateways reported {reported:.1} %, weight {weight}"
        );
        assert!(s["newRevision"]["p99Ms"].as_u64().unwrap() <= 750);
    }
    // During weighted steps the upstream was told which revision served each call.
    let canary_calls = loads["dp-canary"].calls();
    assert!(canary_calls.iter().any(|c| {
        c.path.starts_with("/v2") && c.revision_header.as_deref() == Some(good.as_str())
    }));
    assert!(canary_calls.iter().any(|c| {
        c.path.starts_with("/v1") && c.revision_header.as_deref() == Some(&*fleet.first_revision)
    }));
    // Production B was never a canary: it went from v1 straight to v2 when its step's
    // configuration was published (its window opened once the gateway acknowledged it).
    let prod_b_start = steps[4]["publishedAt"].as_i64().unwrap();
    assert!(prod_b_start <= steps[4]["startedAt"].as_i64().unwrap());
    assert!(
        loads["dp-prod-b"]
            .calls()
            .iter()
            .filter(|c| c.at_ms < prod_b_start)
            .all(|c| c.path.starts_with("/v1"))
    );
    // It ends with the new revision everywhere.
    let deployed = deployed_revisions(&r, &fleet.api_id).await;
    for env in ENVIRONMENTS {
        assert_eq!(deployed[env], good, "{env}");
    }
    let settled = now_ms() + 1_500;
    tokio::time::sleep(Duration::from_secs(3)).await;
    for (env, load) in &loads {
        let late: Vec<Call> = load
            .calls()
            .into_iter()
            .filter(|c| c.at_ms > settled)
            .collect();
        assert!(!late.is_empty(), "{env}");
        assert!(late.iter().all(|c| c.path.starts_with("/v2")), "{env}");
    }
    let kinds: Vec<&str> = body["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds.iter().filter(|k| **k == "step-passed").count(), 5);
    assert_eq!(kinds.last(), Some(&"succeeded"));
}

#[tokio::test]
async fn a_revision_with_added_latency_fails_the_p99_threshold() {
    let Some(fleet) = Fleet::start(1).await else {
        return;
    };
    let r = fleet.rest();
    let slow = fleet.revision_with_endpoint("/delay/300").await;
    let _load = fleet.load("dp-canary", 4);
    let id = start_rollout(
        &r,
        &fleet.api_id,
        json!({"revisionId": slow, "steps": [
            {"environment": "dp-canary", "weight": 50, "windowSecs": 5, "minRequests": 20, "maxP99Ms": 200},
            {"environment": "dp-prod-a", "windowSecs": 2},
        ]}),
    )
    .await;
    let body = wait_rollout(&r, &fleet.api_id, &id, Duration::from_secs(60), ended).await;
    assert_eq!(body["status"], "ROLLED_BACK", "{body:#}");
    assert!(
        body["reason"].as_str().unwrap().contains("maxP99Ms"),
        "{body:#}"
    );
    let step = &body["progress"]["steps"][0];
    assert!(
        step["newRevision"]["p99Ms"].as_u64().unwrap() >= 300,
        "{step}"
    );
    // The previous revision, measured in the same window, stayed fast.
    assert!(
        step["previousRevision"]["p99Ms"].as_u64().unwrap() < 200,
        "{step}"
    );
    let deployed = deployed_revisions(&r, &fleet.api_id).await;
    assert_eq!(deployed["dp-prod-a"], fleet.first_revision);
}

#[tokio::test]
async fn a_rollout_resumes_after_its_control_plane_is_killed_mid_way() {
    let Some(mut fleet) = Fleet::start(1).await else {
        return;
    };
    let r = fleet.rest();
    let good = fleet.revision_with_endpoint("/v2").await;
    let _loads: Vec<Load> = ENVIRONMENTS.iter().map(|e| fleet.load(e, 1)).collect();
    let id = fleet
        .roll_through_every_environment(
            &r,
            &good,
            json!({"weight": 50, "windowSecs": 3, "minRequests": 10}),
        )
        .await;
    let before = wait_rollout(&r, &fleet.api_id, &id, Duration::from_secs(40), |b| {
        b["progress"]["currentStep"].as_u64() == Some(1) || ended(b)
    })
    .await;
    assert_eq!(before["status"], "RUNNING", "{before:#}");
    let first_driver = before["progress"]["driver"].as_str().unwrap().to_owned();
    fleet.cps[0].kill();
    tokio::time::sleep(Duration::from_secs(2)).await;
    fleet.cps[0].restart().await;
    let r = fleet.rest();
    let body = wait_rollout(&r, &fleet.api_id, &id, Duration::from_secs(60), ended).await;
    assert_eq!(body["status"], "SUCCEEDED", "{body:#}");
    assert_ne!(body["progress"]["driver"].as_str().unwrap(), first_driver);
    let steps = body["progress"]["steps"].as_array().unwrap();
    assert!(steps.iter().all(|s| s["status"] == "PASSED"), "{body:#}");
    let deployed = deployed_revisions(&r, &fleet.api_id).await;
    for env in ENVIRONMENTS {
        assert_eq!(deployed[env], good, "{env}");
    }
}

/// `gantry_controlplane_rollout_driver` on a replica's `/metrics`.
async fn drives(cp: &ControlPlaneProcess) -> bool {
    let text = cp
        .client()
        .get(cp.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .any(|l| l.trim() == "gantry_controlplane_rollout_driver 1")
}

#[tokio::test]
async fn of_two_control_planes_on_postgresql_one_drives_the_rollout() {
    let Some(fleet) = Fleet::start(2).await else {
        return;
    };
    // Started through the second replica; the canary's gateway reports to it, the others
    // to the first: the driver sees all of them through the database.
    let r2 = rest(&fleet.cps[1]);
    let good = fleet.revision_with_endpoint("/v2").await;
    let _loads: Vec<Load> = ENVIRONMENTS.iter().map(|e| fleet.load(e, 1)).collect();
    let id = fleet
        .roll_through_every_environment(
            &r2,
            &good,
            json!({"weight": 30, "windowSecs": 2, "minRequests": 10}),
        )
        .await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let mut samples = 0;
    loop {
        let (a, b) = (drives(&fleet.cps[0]).await, drives(&fleet.cps[1]).await);
        assert!(!(a && b), "both replicas drive");
        samples += usize::from(a || b);
        let (_, body) = r2
            .get(&format!("{PUB}/apis/{}/rollouts/{id}", fleet.api_id))
            .await;
        if ended(&body) {
            assert_eq!(body["status"], "SUCCEEDED", "{body:#}");
            // Every step was driven by one replica.
            let drivers: std::collections::HashSet<&str> = body["events"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["actor"].as_str().unwrap())
                .filter(|a| a.starts_with("driver:"))
                .collect();
            assert_eq!(drivers.len(), 1, "{body:#}");
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{body:#}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert!(samples > 0, "no replica reported driving");
}

/// `gantry up` (SQLite, in-process gateway) serving the API `/shop` from the echo
/// upstream's `path`, deployed to `Default`: (up, upstream, REST client, API id).
async fn up_with_shop(path: &str) -> (GantryUp, EchoUpstream, Rest, String) {
    up_with_shop_and(path, &[]).await
}

/// [`up_with_shop`] with `env` for `gantry up`.
async fn up_with_shop_and(
    path: &str,
    env: &[(&str, &str)],
) -> (GantryUp, EchoUpstream, Rest, String) {
    let up = GantryUp::start_with_env(BIN, false, env).await;
    let upstream = EchoUpstream::start().await;
    let r = up.rest();
    let api_id = r
        .deployed_api(
            "Shop",
            "/shop",
            &format!("{}{path}", upstream.url()),
            json!([{"target": "/*", "verb": "GET", "authType": "None"}]),
        )
        .await;
    assert!(
        eventually(Duration::from_secs(10), || async {
            up.gw_status("/shop/1.0.0/item", "").await == 200
        })
        .await
    );
    (up, upstream, r, api_id)
}

#[tokio::test]
async fn gantry_up_rolls_a_revision_out_on_sqlite_with_its_in_process_gateway() {
    let (up, upstream, r, api_id) = up_with_shop("/v1").await;
    let good = new_revision(&r, &api_id, &format!("{}/v2", upstream.url())).await;
    let load = Load::start(up.gw_port, 2);
    let id = start_rollout(
        &r,
        &api_id,
        json!({"revisionId": good, "stickiness": {"by": "header", "name": "x-user"}, "steps": [
            {"environment": "Default", "weight": 40, "windowSecs": 3, "minRequests": 20, "maxErrorRatio": 0.01},
            {"environment": "Default", "windowSecs": 1},
        ]}),
    )
    .await;
    // A bad action and an unknown rollout are refused.
    let (status, _) = r
        .post_empty(&format!("{PUB}/apis/{api_id}/rollouts/{id}/explode"))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = r
        .get(&format!("{PUB}/apis/{api_id}/rollouts/no-such-rollout"))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let body = wait_rollout(&r, &api_id, &id, Duration::from_secs(40), ended).await;
    assert_eq!(body["status"], "SUCCEEDED", "{body:#}");
    let step = &body["progress"]["steps"][0];
    assert!(
        step["newRevision"]["requests"].as_u64().unwrap() >= 20,
        "{step}"
    );
    assert!(
        step["previousRevision"]["requests"].as_u64().unwrap() > 0,
        "{step}"
    );
    drop(load);
    // The revision header is the gateway's: a client's own never reaches the upstream.
    let echoed: Value = reqwest::Client::new()
        .get(up.gw_url("/shop/1.0.0/item"))
        .header("x-gantry-revision", "forged")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        echoed["path"].as_str().unwrap().starts_with("/v2"),
        "{echoed}"
    );
    assert!(
        echoed["headers"].get("x-gantry-revision").is_none(),
        "{echoed}"
    );
    // A finished rollout takes no more commands.
    let (status, body) = r
        .post_empty(&format!("{PUB}/apis/{api_id}/rollouts/{id}/abort"))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
}

#[tokio::test]
async fn bad_plans_are_refused_with_the_field_named() {
    let (_up, _upstream, r, api_id) = up_with_shop("").await;
    let (_, revisions) = r.get(&format!("{PUB}/apis/{api_id}/revisions")).await;
    let revision = revisions["list"][0]["id"].as_str().unwrap().to_owned();
    let path = format!("{PUB}/apis/{api_id}/rollouts");
    for (plan, field) in [
        (json!({"revisionId": revision, "steps": []}), "steps"),
        (
            json!({"revisionId": revision, "steps": [{"environment": "Default", "weight": 120, "windowSecs": 1}]}),
            "steps[0].weight",
        ),
        (
            json!({"revisionId": revision, "steps": [{"environment": "nowhere", "windowSecs": 1}]}),
            "steps[0].environment",
        ),
        (
            json!({"revisionId": "nope", "steps": [{"environment": "Default", "windowSecs": 1}]}),
            "revisionId",
        ),
        (
            json!({"revisionId": revision, "steps": [{"environment": "Default", "windowSecs": 0}]}),
            "steps[0].windowSecs",
        ),
        (
            json!({"revisionId": revision, "steps": [{"environment": "Default", "windowSecs": 1}],
                   "analysis": {"prometheus": {"url": "prometheus:9090", "errorRatioQuery": "up"}}}),
            "analysis.prometheus.url",
        ),
    ] {
        let (status, body) = r.post(&path, plan).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert!(
            body["description"]
                .as_str()
                .unwrap_or_default()
                .contains(field)
                || body["message"].as_str().unwrap_or_default().contains(field),
            "{field}: {body}"
        );
    }
    let (status, _) = r
        .post(
            &format!("{PUB}/apis/no-such-api/rollouts"),
            json!({"revisionId": revision, "steps": [{"environment": "Default", "windowSecs": 1}]}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // One active rollout per API.
    let plan = json!({"revisionId": revision, "steps": [{"environment": "Default", "windowSecs": 60, "minRequests": 1000}]});
    let (status, started) = r.post(&path, plan.clone()).await;
    assert_eq!(status, StatusCode::CREATED);
    let id = started["id"].as_str().unwrap().to_owned();
    let (status, body) = r.post(&path, plan).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    // Pause, resume, then promote past a step that would wait for 1000 calls.
    for (action, then) in [("pause", "PAUSED"), ("resume", "RUNNING")] {
        let (status, body) = r.post_empty(&format!("{path}/{id}/{action}")).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
        assert_eq!(body["pendingCommand"], action);
        wait_rollout(&r, &api_id, &id, Duration::from_secs(10), |b| {
            b["status"] == then && b["pendingCommand"].is_null()
        })
        .await;
    }
    let (status, _) = r.post_empty(&format!("{path}/{id}/promote")).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let body = wait_rollout(&r, &api_id, &id, Duration::from_secs(10), ended).await;
    assert_eq!(body["status"], "SUCCEEDED", "{body:#}");
    assert_eq!(body["progress"]["steps"][0]["status"], "PROMOTED");
    let trail: Vec<(String, String)> = body["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["actor"].as_str().unwrap().to_owned(),
                e["kind"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert!(
        trail.contains(&("admin".into(), "promote-requested".into())),
        "{trail:?}"
    );
    assert!(
        trail
            .iter()
            .any(|(actor, kind)| actor.starts_with("driver:") && kind == "promoted")
    );
    // Anonymous callers are refused; a publisher the API's access control leaves out gets 404.
    let (status, _) = r.anonymous().get(&path).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (_, mut api) = r.get(&format!("{PUB}/apis/{api_id}")).await;
    api["accessControl"] = json!("RESTRICTED");
    api["accessControlRoles"] = json!(["Internal/creator"]);
    let (status, body) = r.put(&format!("{PUB}/apis/{api_id}"), api).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    r.create_user("outsider", "Outsider-pw-1", &["Internal/publisher"])
        .await;
    let outsider = r.as_user("outsider", "Outsider-pw-1");
    let (status, _) = outsider.get(&path).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = outsider.get(&format!("{path}/{id}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = outsider.post_empty(&format!("{path}/{id}/abort")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// Runs `gantry ctl ARGS` with its own HOME (blocking); (exit code, stdout, stderr).
fn ctl(home: &std::path::Path, args: &[&str], stdin: &str) -> (i32, String, String) {
    use std::io::Write as _;
    let mut child = std::process::Command::new(BIN)
        .arg("ctl")
        .args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join("config"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// A HOME for `gantry ctl` with the environment `dev` (`up`'s control plane) logged in as
/// the admin.
fn logged_in_ctl(up: &GantryUp) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path();
    let ca = up.data_dir().join("tls").join("ca.pem");
    let apim = format!("https://127.0.0.1:{}", up.cp_port);
    let (code, _, err) = ctl(
        home,
        &[
            "add",
            "env",
            "dev",
            "--apim",
            &apim,
            "--ca-cert",
            ca.to_str().unwrap(),
        ],
        "",
    );
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = ctl(
        home,
        &["login", "dev", "-u", "admin", "--password-stdin"],
        &format!("{}\n", gantry_testkit::process::ADMIN_PASSWORD),
    );
    assert_eq!(code, 0, "{err}");
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gantry_ctl_starts_follows_and_reports_rollouts() {
    let (up, upstream, r, api_id) = up_with_shop("/v1").await;
    new_revision(&r, &api_id, &format!("{}/flaky/40", upstream.url())).await;
    let ctl_home = logged_in_ctl(&up);
    let home = ctl_home.path().to_owned();
    let _load = Load::start(up.gw_port, 2);
    // Revision 2 fails 40 % of its calls: `--wait` follows it to the rollback, exit 1.
    let start_home = home.clone();
    let (code, out, err) = tokio::task::spawn_blocking(move || {
        ctl(
            &start_home,
            &[
                "rollout",
                "start",
                "-e",
                "dev",
                "-n",
                "Shop",
                "-v",
                "1.0.0",
                "--rev",
                "2",
                "--step",
                "Default:50",
                "--step",
                "Default",
                "--window-secs",
                "3",
                "--min-requests",
                "20",
                "--max-error-ratio",
                "0.1",
                "--wait",
            ],
            "",
        )
    })
    .await
    .unwrap();
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(out.contains("ROLLED_BACK"), "{out}");
    assert!(
        out.contains("FAILED") && out.contains("maxErrorRatio"),
        "{out}"
    );
    assert!(err.contains("ROLLED_BACK"), "{err}");
    // `status` shows the API's latest rollout; a finished one takes no abort.
    let (code, out, _) = ctl(
        &home,
        &[
            "rollout", "status", "-e", "dev", "-n", "Shop", "-v", "1.0.0", "-o", "json",
        ],
        "",
    );
    assert_eq!(code, 0);
    let body: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(body["status"], "ROLLED_BACK");
    let (code, _, err) = ctl(
        &home,
        &["rollout", "abort", "-e", "dev", "-n", "Shop", "-v", "1.0.0"],
        "",
    );
    assert_eq!(code, 1);
    assert!(err.contains("409"), "{err}");
    assert_eq!(up.gw_status("/shop/1.0.0/item", "").await, 200);
}

/// A new revision of product `product_id`, freezing its API as it is now; its id.
async fn product_revision(r: &Rest, product_id: &str) -> String {
    let (status, revision) = r
        .post(
            &format!("{PUB}/api-products/{product_id}/revisions"),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{revision}");
    revision["id"].as_str().unwrap().to_owned()
}

/// Points the working copy of API `api_id` at `endpoint`, leaving its deployments alone.
async fn repoint(r: &Rest, api_id: &str, endpoint: &str) {
    let (_, mut api) = r.get(&format!("{PUB}/apis/{api_id}")).await;
    api["endpointConfig"]["production_endpoints"]["url"] = json!(endpoint);
    let (status, body) = r.put(&format!("{PUB}/apis/{api_id}"), api).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_api_product_revision_is_promoted_by_ctl_and_a_failing_one_rolled_back() {
    let (up, upstream, r, api_id) = up_with_shop("/v1").await;
    // The product Bundle offers the Shop API's operation under /bundle.
    let (status, product) = r
        .post(
            &format!("{PUB}/api-products"),
            json!({"name": "Bundle", "context": "bundle", "version": "1.0.0",
                   "policies": ["Unlimited"],
                   "apis": [{"apiId": api_id, "operations": [{"target": "/*", "verb": "GET"}]}]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{product}");
    let product_id = product["id"].as_str().unwrap().to_owned();
    let (status, body) = r
        .post_empty(&format!(
            "{PUB}/api-products/change-lifecycle?apiProductId={product_id}&action=Publish"
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let first = product_revision(&r, &product_id).await;
    let (status, body) = r
        .post(
            &format!("{PUB}/api-products/{product_id}/deploy-revision?revisionId={first}"),
            json!([{"name": "Default", "vhost": "localhost"}]),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let served_from = |prefix: &'static str| {
        let client = reqwest::Client::new();
        let url = up.gw_url("/bundle/1.0.0/item");
        async move {
            let seen: Value = match client.get(&url).send().await {
                Ok(response) => response.json().await.unwrap_or(Value::Null),
                Err(_) => Value::Null,
            };
            seen["path"]
                .as_str()
                .unwrap_or_default()
                .starts_with(prefix)
        }
    };
    assert!(eventually(Duration::from_secs(10), || served_from("/v1")).await);

    // Revision 2 of the product freezes the API pointed at /v2; the API itself stays on /v1.
    repoint(&r, &api_id, &format!("{}/v2", upstream.url())).await;
    product_revision(&r, &product_id).await;
    let load = Load::start_on(up.gw_port, "/bundle/1.0.0/item", 2);
    let ctl_home = logged_in_ctl(&up);
    let home = ctl_home.path().to_owned();
    let (code, out, err) = tokio::task::spawn_blocking(move || {
        ctl(
            &home,
            &[
                "rollout",
                "start",
                "-e",
                "dev",
                "--api-product",
                "Bundle",
                "-v",
                "1.0.0",
                "--rev",
                "2",
                "--step",
                "Default:40",
                "--step",
                "Default",
                "--window-secs",
                "3",
                "--min-requests",
                "20",
                "--max-error-ratio",
                "0.01",
                "--wait",
                "-o",
                "json",
            ],
            "",
        )
    })
    .await
    .unwrap();
    assert_eq!(code, 0, "{out}\n{err}");
    let body: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(body["status"], "SUCCEEDED", "{body:#}");
    assert_eq!(body["apiProductId"], product_id.as_str());
    let good = body["revisionId"].as_str().unwrap().to_owned();
    let step = &body["progress"]["steps"][0];
    assert_eq!(step["status"], "PASSED", "{body:#}");
    assert!(
        step["newRevision"]["requests"].as_u64().unwrap() >= 20,
        "{step}"
    );
    assert!(
        step["previousRevision"]["requests"].as_u64().unwrap() > 0,
        "{step}"
    );
    // During the weighted step both product revisions served, each naming itself upstream.
    let calls = load.calls();
    assert!(calls.iter().any(|c| {
        c.path.starts_with("/v2") && c.revision_header.as_deref() == Some(good.as_str())
    }));
    assert!(calls.iter().any(|c| {
        c.path.starts_with("/v1") && c.revision_header.as_deref() == Some(first.as_str())
    }));
    let product_deployments = || async {
        let (status, body) = r
            .get(&format!("{PUB}/api-products/{product_id}/deployments"))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["list"][0]["revisionUuid"].as_str().unwrap().to_owned()
    };
    assert_eq!(product_deployments().await, good);
    // The API's own deployment was not touched.
    assert_eq!(deployed_revisions(&r, &api_id).await["Default"], {
        let (_, revisions) = r.get(&format!("{PUB}/apis/{api_id}/revisions")).await;
        revisions["list"][0]["id"].as_str().unwrap().to_owned()
    });
    assert!(eventually(Duration::from_secs(5), || served_from("/v2")).await);

    // Revision 3 freezes an endpoint failing 30 % of calls: rolled back from the canary.
    repoint(&r, &api_id, &format!("{}/flaky/30", upstream.url())).await;
    let bad = product_revision(&r, &product_id).await;
    let (status, started) = r
        .post(
            &format!("{PUB}/api-products/{product_id}/rollouts"),
            json!({"revisionId": bad, "steps": [
                {"environment": "Default", "weight": 50, "windowSecs": 4, "minRequests": 40, "maxErrorRatio": 0.05},
                {"environment": "Default", "windowSecs": 1},
            ]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{started}");
    let id = started["id"].as_str().unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let body = loop {
        let (status, body) = r
            .get(&format!("{PUB}/api-products/{product_id}/rollouts/{id}"))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        if ended(&body) {
            break body;
        }
        assert!(tokio::time::Instant::now() < deadline, "{body:#}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert_eq!(body["status"], "ROLLED_BACK", "{body:#}");
    assert!(
        body["reason"].as_str().unwrap().contains("maxErrorRatio"),
        "{body:#}"
    );
    let measured = body["progress"]["steps"][0]["newRevision"]["errorRatio"]
        .as_f64()
        .unwrap();
    assert!((0.15..0.45).contains(&measured), "{measured}");
    assert_eq!(product_deployments().await, good);
    let settled = now_ms() + 1_500;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let late: Vec<Call> = load
        .calls()
        .into_iter()
        .filter(|c| c.at_ms > settled)
        .collect();
    assert!(!late.is_empty());
    assert!(
        late.iter()
            .all(|c| c.path.starts_with("/v2") && c.status == 200),
        "the product still serves the rolled-back revision"
    );
    // The product's rollouts are its own: listed under it, not under the API; `ctl status`
    // finds the latest by the product's name.
    let (_, listed) = r
        .get(&format!("{PUB}/api-products/{product_id}/rollouts"))
        .await;
    assert_eq!(listed["count"], 2, "{listed}");
    let (_, of_api) = r.get(&format!("{PUB}/apis/{api_id}/rollouts")).await;
    assert_eq!(of_api["count"], 0, "{of_api}");
    let (code, out, err) = ctl(
        ctl_home.path(),
        &[
            "rollout",
            "status",
            "-e",
            "dev",
            "--api-product",
            "Bundle",
            "-v",
            "1.0.0",
            "-o",
            "json",
        ],
        "",
    );
    assert_eq!(code, 0, "{err}");
    let latest: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(latest["status"], "ROLLED_BACK");
    // A publisher the product's access control leaves out sees none of it.
    let (_, mut visible) = r.get(&format!("{PUB}/api-products/{product_id}")).await;
    visible["accessControl"] = json!("RESTRICTED");
    visible["accessControlRoles"] = json!(["Internal/creator"]);
    let (status, body) = r
        .put(&format!("{PUB}/api-products/{product_id}"), visible)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    r.create_user("outsider", "Outsider-pw-1", &["Internal/publisher"])
        .await;
    let outsider = r.as_user("outsider", "Outsider-pw-1");
    let path = format!("{PUB}/api-products/{product_id}/rollouts");
    assert_eq!(outsider.get(&path).await.0, StatusCode::NOT_FOUND);
    assert_eq!(
        outsider.get(&format!("{path}/{id}")).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        outsider
            .post(
                &path,
                json!({"revisionId": bad, "steps": [{"environment": "Default", "windowSecs": 1}]})
            )
            .await
            .0,
        StatusCode::NOT_FOUND
    );
}

/// The value of the series `name` whose labels include every `labels` pair, in a
/// Prometheus text exposition.
fn series_value(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    text.lines()
        .filter(|l| l.starts_with(&format!("{name}{{")) || l.starts_with(&format!("{name} ")))
        .find(|l| {
            labels
                .iter()
                .all(|(k, v)| l.contains(&format!("{k}=\"{v}\"")))
        })
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

async fn scrape(client: &reqwest::Client, url: &str) -> String {
    client.get(url).send().await.unwrap().text().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollout_events_and_per_revision_calls_show_on_metrics() {
    let (up, upstream, r, api_id) = up_with_shop("/v1").await;
    let (_, revisions) = r.get(&format!("{PUB}/apis/{api_id}/revisions")).await;
    let first = revisions["list"][0]["id"].as_str().unwrap().to_owned();
    let good = new_revision(&r, &api_id, &format!("{}/v2", upstream.url())).await;
    let gateway_metrics = format!("http://127.0.0.1:{}/metrics", up.ops_port);
    let cp_metrics = up.cp_url("/metrics");
    let (gw, cp) = (reqwest::Client::new(), up.cp_client());
    const SERIES: &str = "gantry_gateway_revision_requests_total";
    // No canary, no per-revision series.
    assert_eq!(up.gw_status("/shop/1.0.0/item", "").await, 200);
    let text = scrape(&gw, &gateway_metrics).await;
    assert!(!text.contains(&format!("{SERIES}{{")), "{text}");

    // A first step that waits for more calls than it will get: the canary stays at 40 %.
    let id = start_rollout(
        &r,
        &api_id,
        json!({"revisionId": good, "steps": [
            {"environment": "Default", "weight": 40, "windowSecs": 600, "minRequests": 100000},
            {"environment": "Default", "windowSecs": 1},
        ]}),
    )
    .await;
    let count = |text: &str, revision: &str, class: &str| {
        series_value(
            text,
            SERIES,
            &[
                ("api", "Shop"),
                ("revision", revision),
                ("status_class", class),
            ],
        )
    };
    assert!(
        eventually(Duration::from_secs(10), || async {
            let text = scrape(&gw, &gateway_metrics).await;
            count(&text, &good, "2xx").is_some() && count(&text, &first, "2xx").is_some()
        })
        .await,
        "{}",
        scrape(&gw, &gateway_metrics).await
    );
    let before = scrape(&gw, &gateway_metrics).await;
    let (stable_before, canary_before) = (
        count(&before, &first, "2xx").unwrap(),
        count(&before, &good, "2xx").unwrap(),
    );
    let client = reqwest::Client::new();
    let mut on_canary = 0.0;
    for _ in 0..100 {
        let seen: Value = client
            .get(up.gw_url("/shop/1.0.0/item"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if seen["path"].as_str().unwrap().starts_with("/v2") {
            on_canary += 1.0;
        }
    }
    // What the clients saw is what the series counted, revision by revision.
    let after = scrape(&gw, &gateway_metrics).await;
    assert_eq!(
        count(&after, &good, "2xx").unwrap() - canary_before,
        on_canary,
        "{after}"
    );
    assert_eq!(
        count(&after, &first, "2xx").unwrap() - stable_before,
        100.0 - on_canary,
        "{after}"
    );
    assert!((35.0..=45.0).contains(&on_canary), "{on_canary}");
    assert_eq!(count(&after, &good, "5xx"), Some(0.0), "{after}");
    // The control plane counts one active rollout.
    assert!(
        eventually(Duration::from_secs(5), || async {
            series_value(
                &scrape(&cp, &cp_metrics).await,
                "gantry_controlplane_rollouts_active",
                &[],
            ) == Some(1.0)
        })
        .await
    );

    let (status, _) = r
        .post_empty(&format!("{PUB}/apis/{api_id}/rollouts/{id}/promote"))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let body = wait_rollout(&r, &api_id, &id, Duration::from_secs(30), ended).await;
    assert_eq!(body["status"], "SUCCEEDED", "{body:#}");
    // Each kind of event in the audit trail is counted as often on /metrics.
    let mut kinds: HashMap<String, f64> = HashMap::new();
    for event in body["events"].as_array().unwrap() {
        *kinds
            .entry(event["kind"].as_str().unwrap().to_owned())
            .or_default() += 1.0;
    }
    for kind in [
        "started",
        "step-applied",
        "promote-requested",
        "promoted",
        "step-passed",
        "succeeded",
    ] {
        assert!(kinds.contains_key(kind), "{kind} missing: {body:#}");
    }
    assert!(
        eventually(Duration::from_secs(5), || async {
            let text = scrape(&cp, &cp_metrics).await;
            series_value(&text, "gantry_controlplane_rollouts_active", &[]) == Some(0.0)
                && kinds.iter().all(|(kind, n)| {
                    series_value(
                        &text,
                        "gantry_controlplane_rollout_events_total",
                        &[("kind", kind)],
                    ) == Some(*n)
                })
        })
        .await,
        "{kinds:?}\n{}",
        scrape(&cp, &cp_metrics).await
    );
    // The API has no canary any more: its per-revision series are gone.
    assert!(
        eventually(Duration::from_secs(10), || async {
            !scrape(&gw, &gateway_metrics)
                .await
                .contains(&format!("{SERIES}{{"))
        })
        .await,
        "{}",
        scrape(&gw, &gateway_metrics).await
    );
}

/// A Prometheus server (Debian's `prometheus`) scraping `targets` every second, on a free
/// port with its own storage; stopped on drop.
struct Prometheus {
    child: std::process::Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl Prometheus {
    /// `None` when no `prometheus` binary is installed (then the test says so and stops).
    async fn start(port: u16, targets: &[String]) -> Option<Self> {
        let binary = ["/usr/bin/prometheus", "/usr/local/bin/prometheus"]
            .into_iter()
            .find(|p| std::path::Path::new(p).exists())?;
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: gateway\n    static_configs:\n      - targets: {targets:?}\n"
            ),
        )
        .unwrap();
        let child = std::process::Command::new(binary)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let url = format!("http://127.0.0.1:{port}");
        let ready = format!("{url}/-/ready");
        assert!(
            eventually(Duration::from_secs(20), || async {
                reqwest::get(&ready)
                    .await
                    .is_ok_and(|r| r.status().is_success())
            })
            .await,
            "Prometheus did not start"
        );
        Some(Self {
            child,
            url,
            _dir: dir,
        })
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_queries_fail_a_revision_the_gateways_numbers_would_pass_and_pass_a_good_one() {
    // The operator lists the Prometheus plans may query; its port is chosen first.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let listed = format!("http://127.0.0.1:{port}");
    let (up, upstream, r, api_id) =
        up_with_shop_and("/v1", &[("GANTRY_ROLLOUT_PROMETHEUS_URLS", &listed)]).await;
    let Some(prometheus) = Prometheus::start(port, &[format!("127.0.0.1:{}", up.ops_port)]).await
    else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "no prometheus binary (apt-get install prometheus)"
        );
        eprintln!("\n!!! no prometheus binary: the Prometheus analysis is not tested\n");
        return;
    };
    // The error ratio as the user defines it: 4xx count too (the gateways' own analysis
    // counts 5xx only), from the gateway's per-revision series.
    let series = "gantry_gateway_revision_requests_total";
    let analysis = json!({"prometheus": {
        "url": prometheus.url,
        "errorRatioQuery": format!(
            "sum(increase({series}{{revision=\"{{{{revision}}}}\",status_class=~\"4xx|5xx\"}}[1m])) \
             / sum(increase({series}{{revision=\"{{{{revision}}}}\"}}[1m]))"
        ),
        "p99Query": "histogram_quantile(0.99, sum(rate(gantry_gateway_request_duration_seconds_bucket[1m])) by (le))",
    }});
    let _load = Load::start(up.gw_port, 2);

    // A plan cannot send the control plane's requests anywhere else (SSRF): only the
    // operator's Prometheus is queried.
    let candidate = new_revision(&r, &api_id, &format!("{}/v2", upstream.url())).await;
    for elsewhere in ["http://169.254.169.254", "http://127.0.0.1:1"] {
        let mut plan_analysis = analysis.clone();
        plan_analysis["prometheus"]["url"] = json!(elsewhere);
        let (status, body) = r
            .post(
                &format!("{PUB}/apis/{api_id}/rollouts"),
                json!({"revisionId": candidate, "analysis": plan_analysis, "steps": [
                    {"environment": "Default", "weight": 50, "windowSecs": 4, "minRequests": 10}]}),
            )
            .await;
        assert_eq!(status, reqwest::StatusCode::BAD_REQUEST, "{body}");
        assert!(
            body["description"]
                .as_str()
                .unwrap()
                .starts_with("analysis.prometheus.url:"),
            "{body}"
        );
    }

    // Every call of this revision is a 404: no 5xx, so only Prometheus' numbers fail it.
    let not_found = new_revision(&r, &api_id, &format!("{}/status/404", upstream.url())).await;
    let id = start_rollout(
        &r,
        &api_id,
        json!({"revisionId": not_found, "analysis": analysis, "steps": [
            {"environment": "Default", "weight": 50, "windowSecs": 40, "minRequests": 10,
             "maxErrorRatio": 0.05, "maxP99Ms": 5000},
        ]}),
    )
    .await;
    let body = wait_rollout(&r, &api_id, &id, Duration::from_secs(40), ended).await;
    assert_eq!(body["status"], "ROLLED_BACK", "{body:#}");
    let reason = body["reason"].as_str().unwrap();
    assert!(
        reason.contains("Prometheus: error ratio") && reason.contains("maxErrorRatio"),
        "{reason}"
    );
    let step = &body["progress"]["steps"][0];
    assert_eq!(step["newRevision"]["errors"], 0, "{step}");
    assert!(
        step["prometheus"]["errorRatio"].as_f64().unwrap() > 0.9,
        "{step}"
    );
    assert_eq!(body["plan"]["analysis"], analysis, "{body:#}");

    // A good revision passes once Prometheus answered within the thresholds.
    let good = new_revision(&r, &api_id, &format!("{}/v2", upstream.url())).await;
    let id = start_rollout(
        &r,
        &api_id,
        json!({"revisionId": good, "analysis": analysis, "steps": [
            {"environment": "Default", "weight": 50, "windowSecs": 4, "minRequests": 10,
             "maxErrorRatio": 0.05, "maxP99Ms": 5000},
        ]}),
    )
    .await;
    let body = wait_rollout(&r, &api_id, &id, Duration::from_secs(60), ended).await;
    assert_eq!(body["status"], "SUCCEEDED", "{body:#}");
    let step = &body["progress"]["steps"][0];
    assert_eq!(
        step["prometheus"]["errorRatio"].as_f64(),
        Some(0.0),
        "{step}"
    );
    assert!(
        step["prometheus"]["p99Ms"].as_u64().unwrap() <= 5000,
        "{step}"
    );
    assert!(step["prometheus"].get("problem").is_none(), "{step}");
}
