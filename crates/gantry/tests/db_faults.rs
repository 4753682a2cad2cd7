//! The control plane under database faults, with real `gantry control-plane` and
//! `gantry gateway` processes on a PostgreSQL database of the test's own, reached through a
//! TCP proxy the test cuts and restores (or a connection the test terminates).
//!
//! Covers: during an outage every REST and token call answers 503 with its JSON error
//! within a second, readiness says "database unreachable" within the probe's timeout, and
//! gateways keep serving; after it, writes succeed again within seconds without a restart.
//! A database that goes silent (a partition) is declared down within seconds, readiness
//! answering in time meanwhile. A deploy whose connection breaks between its two writes is never reported deployed by a
//! gateway that does not serve it, and is published once the database is back. Gateways
//! count as deployed only once they ACKed a version carrying the deployment. Two replicas
//! through an outage: a change on one reaches the other's gateways by NOTIFY.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use gantry_testkit::chaos::ChaosProxy;
use gantry_testkit::cluster::{ControlPlaneProcess, GatewayProcess, TestDatabase};
use gantry_testkit::rest::Rest;
use gantry_testkit::{EchoUpstream, eventually};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::Connection as _;

const BIN: &str = env!("CARGO_BIN_EXE_gantry");
const PUB: &str = "/api/am/publisher/v4";
const DEV: &str = "/api/am/devportal/v3";

fn rest(cp: &ControlPlaneProcess) -> Rest {
    Rest::new(&cp.url(""), cp.client())
}

fn open_operation() -> Value {
    json!([{"target": "/open", "verb": "GET", "authType": "None"}, {"target": "/items/{id}", "verb": "GET"}])
}

/// The readiness answer (status, body) and how long it took.
async fn readiness(cp: &ControlPlaneProcess) -> (u16, Value, Duration) {
    let started = Instant::now();
    let response = cp
        .client()
        .get(cp.url("/health/ready"))
        .timeout(Duration::from_secs(2))
        .send()
        .await
        .expect("readiness answers within the probe's 2 s timeout");
    let status = response.status().as_u16();
    (
        status,
        response.json().await.unwrap_or_default(),
        started.elapsed(),
    )
}

/// Waits until readiness answers `status`, asserting every answer came within 2 s.
async fn wait_readiness(cp: &ControlPlaneProcess, status: u16, within: Duration) -> Value {
    let deadline = Instant::now() + within;
    loop {
        let (got, body, took) = readiness(cp).await;
        assert!(took < Duration::from_secs(2), "readiness took {took:?}");
        if got == status {
            return body;
        }
        assert!(
            Instant::now() < deadline,
            "readiness still {got} {body} after {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The control plane's Prometheus text.
async fn metrics(cp: &ControlPlaneProcess) -> String {
    cp.client()
        .get(cp.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// One call made during an outage: what it was, its status, body and latency.
struct Answer {
    what: &'static str,
    status: StatusCode,
    body: Value,
    took: Duration,
}

/// Sends one of four kinds of database-backed calls (REST read, REST write, devportal
/// read, token request).
async fn db_backed_call(r: &Rest, kind: usize, consumer_key: &str, secret: &str) -> Answer {
    let started = Instant::now();
    let (what, (status, body)) = match kind % 4 {
        0 => ("GET publisher apis", r.get(&format!("{PUB}/apis")).await),
        1 => (
            "POST publisher apis",
            r.post(
                &format!("{PUB}/apis"),
                json!({"name": format!("Outage{kind}"), "context": format!("/outage{kind}"),
                       "version": "1.0.0", "operations": open_operation()}),
            )
            .await,
        ),
        2 => (
            "GET devportal applications",
            r.get(&format!("{DEV}/applications")).await,
        ),
        _ => ("POST /oauth2/token", r.token(consumer_key, secret).await),
    };
    Answer {
        what,
        status,
        body,
        took: started.elapsed(),
    }
}

/// Asserts a 503 in the route's JSON error shape.
fn assert_unavailable(answer: &Answer) {
    assert_eq!(
        answer.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}: {}",
        answer.what,
        answer.body
    );
    if answer.what.contains("token") {
        assert_eq!(
            answer.body["error"], "temporarily_unavailable",
            "{}",
            answer.body
        );
    } else {
        assert_eq!(answer.body["code"], 503, "{}", answer.body);
        assert!(answer.body["message"].is_string(), "{}", answer.body);
    }
}

fn summary(mut took: Vec<Duration>) -> String {
    took.sort();
    format!(
        "n={} min={:?} median={:?} max={:?}",
        took.len(),
        took[0],
        took[took.len() / 2],
        took[took.len() - 1]
    )
}

#[tokio::test]
async fn an_outage_answers_503_at_once_keeps_gateways_serving_and_recovers_by_itself() {
    let Some(db) = TestDatabase::create().await else {
        return;
    };
    let proxy = ChaosProxy::start(db.port()).await;
    let dirs = tempfile::tempdir().unwrap();
    let upstream = EchoUpstream::start().await;
    let cp = ControlPlaneProcess::start(
        BIN,
        &db.url_through(proxy.port),
        &dirs.path().join("cp"),
        None,
    )
    .await;
    let r = rest(&cp);
    let (_, gateway_token) = r.environment_with_token("dp-outage").await;
    let gw = GatewayProcess::start(
        BIN,
        "dp-outage",
        &cp.url(""),
        &gateway_token,
        &cp.ca_path(),
        &dirs.path().join("gw"),
        "gw-outage",
    );
    assert!(gw.wait_ready().await, "gateway ready");
    let api = r
        .deployed_api_in(
            &["dp-outage"],
            "Stock",
            "/stock",
            &upstream.url(),
            open_operation(),
        )
        .await;
    let app = r.application("Shop").await;
    r.subscribe(&app, &api, "Gold").await;
    let (ck, cs) = r.keys(&app).await;
    let (status, token) = r.token(&ck, &cs).await;
    assert_eq!(status, StatusCode::OK, "{token}");
    let token = token["access_token"].as_str().unwrap().to_owned();
    assert!(
        gw.eventually_status("/stock/1.0.0/items/1", Some(&token), 200)
            .await
    );

    // The database goes away. The first call, made at once, does not wait for the pool.
    proxy.cut_and_block();
    let first = db_backed_call(&r, 0, &ck, &cs).await;
    assert_unavailable(&first);
    assert!(
        first.took < Duration::from_secs(1),
        "the first call after the cut took {:?}",
        first.took
    );
    eprintln!("first call after the cut answered 503 in {:?}", first.took);
    let body = wait_readiness(&cp, 503, Duration::from_secs(3)).await;
    assert_eq!(body["status"], "NOT_READY");
    assert_eq!(body["reason"], "database unreachable", "{body}");
    let metrics = metrics(&cp).await;
    assert!(
        metrics.contains("gantry_controlplane_database_up 0"),
        "{metrics}"
    );

    // 40 calls in parallel: REST reads and writes, the token endpoint.
    let calls = (0..40).map(|i| {
        let (r, ck, cs) = (r.clone(), ck.clone(), cs.clone());
        tokio::spawn(async move { db_backed_call(&r, i, &ck, &cs).await })
    });
    let mut took = Vec::new();
    for call in calls {
        let answer = call.await.unwrap();
        assert_unavailable(&answer);
        assert!(
            answer.took < Duration::from_secs(1),
            "{} took {:?}",
            answer.what,
            answer.took
        );
        took.push(answer.took);
    }
    eprintln!("503 latency during the outage: {}", summary(took));
    let (_, _, ready_took) = readiness(&cp).await;
    eprintln!("readiness during the outage answered in {ready_took:?}");

    // Gateways keep serving what they hold, authentication included.
    assert_eq!(gw.get("/stock/1.0.0/items/1", Some(&token)).await, 200);
    assert_eq!(gw.get("/stock/1.0.0/open", None).await, 200);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(gw.get("/stock/1.0.0/items/2", Some(&token)).await, 200);

    // Back: writes succeed within seconds, without a restart.
    proxy.restore();
    let restored = Instant::now();
    let mut api_after = None;
    while restored.elapsed() < Duration::from_secs(10) {
        let (status, body) = r
            .post(
                &format!("{PUB}/apis"),
                json!({"name": "After", "context": "/after", "version": "1.0.0",
                       "endpointConfig": {"endpoint_type": "http", "production_endpoints": {"url": upstream.url()}},
                       "operations": open_operation()}),
            )
            .await;
        if status == StatusCode::CREATED {
            api_after = body["id"].as_str().map(str::to_owned);
            break;
        }
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let recovered = restored.elapsed();
    eprintln!("first successful write {recovered:?} after the database came back");
    let api_after = api_after.expect("a write succeeds within 10 s of the database's return");
    assert!(
        recovered < Duration::from_secs(5),
        "recovery took {recovered:?}"
    );
    wait_readiness(&cp, 200, Duration::from_secs(5)).await;
    let (status, _) = r.token(&ck, &cs).await;
    assert_eq!(status, StatusCode::OK, "token endpoint after recovery");

    // And changes reach the gateway again.
    r.publish_and_deploy(&api_after, &["dp-outage"]).await;
    assert!(gw.eventually_status("/after/1.0.0/open", None, 200).await);
    drop(gw);
    drop(cp);
    db.drop_now().await;
}

#[tokio::test]
async fn a_database_that_stops_answering_is_declared_down_and_readiness_answers_in_time() {
    let Some(db) = TestDatabase::create().await else {
        return;
    };
    let proxy = ChaosProxy::start(db.port()).await;
    let dirs = tempfile::tempdir().unwrap();
    let cp = ControlPlaneProcess::start(
        BIN,
        &db.url_through(proxy.port),
        &dirs.path().join("cp"),
        None,
    )
    .await;
    let r = rest(&cp);
    let (status, _) = r.get(&format!("{PUB}/apis")).await;
    assert_eq!(status, StatusCode::OK);

    // A partition: connections stay open and nothing answers. Readiness answers within the
    // probe's timeout all along; calls made before the state turns down wait at most the
    // pool's 2 s; after it, every call is answered at once.
    proxy.freeze();
    let frozen = Instant::now();
    let during = tokio::spawn({
        let r = r.clone();
        async move { db_backed_call(&r, 0, "", "").await }
    });
    let body = wait_readiness(&cp, 503, Duration::from_secs(6)).await;
    assert_eq!(body["reason"], "database unreachable", "{body}");
    eprintln!(
        "a silent database declared unreachable {:?} after the partition",
        frozen.elapsed()
    );
    let answer = during.await.unwrap();
    assert_unavailable(&answer);
    assert!(
        answer.took < Duration::from_millis(2500),
        "{:?}",
        answer.took
    );
    eprintln!(
        "a call made at the partition answered 503 in {:?}",
        answer.took
    );
    assert!(
        eventually(Duration::from_secs(5), || async {
            metrics(&cp)
                .await
                .contains("gantry_controlplane_database_up 0")
        })
        .await
    );
    eprintln!(
        "the health state turned down {:?} after the partition",
        frozen.elapsed()
    );
    let mut took = Vec::new();
    for i in 0..8 {
        let answer = db_backed_call(&r, i, "ck", "cs").await;
        assert_unavailable(&answer);
        assert!(
            answer.took < Duration::from_secs(1),
            "{} took {:?}",
            answer.what,
            answer.took
        );
        took.push(answer.took);
    }
    eprintln!("503 latency once declared down: {}", summary(took));

    proxy.thaw();
    let thawed = Instant::now();
    wait_readiness(&cp, 200, Duration::from_secs(5)).await;
    let (status, body) = r.get(&format!("{PUB}/apis")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    eprintln!(
        "ready again {:?} after the partition healed",
        thawed.elapsed()
    );
    drop(cp);
    db.drop_now().await;
}

/// The deployment list of an API: (deployedGatewayCount, liveGatewayCount, status) for
/// `environment`, or `None` when it is not deployed there.
async fn deployment_counts(r: &Rest, api: &str, environment: &str) -> Option<(u64, u64, String)> {
    let (status, body) = r.get(&format!("{PUB}/apis/{api}/deployments")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["list"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["name"] == environment)
        .map(|d| {
            (
                d["deployedGatewayCount"].as_u64().unwrap(),
                d["liveGatewayCount"].as_u64().unwrap(),
                d["status"].as_str().unwrap().to_owned(),
            )
        })
}

#[tokio::test]
async fn a_deploy_cut_between_its_writes_is_never_reported_live_unserved_and_is_published_after() {
    let Some(db) = TestDatabase::create().await else {
        return;
    };
    let dirs = tempfile::tempdir().unwrap();
    let upstream = EchoUpstream::start().await;
    let cp = ControlPlaneProcess::start_with_args(
        BIN,
        &db.url,
        &dirs.path().join("cp"),
        &["--reconcile-interval-secs", "1"],
    )
    .await;
    let r = rest(&cp);
    let (_, gateway_token) = r.environment_with_token("dp-cut").await;
    let start_gateway = |name: &str| {
        GatewayProcess::start(
            BIN,
            "dp-cut",
            &cp.url(""),
            &gateway_token,
            &cp.ca_path(),
            &dirs.path().join(name),
            name,
        )
    };
    let gw = start_gateway("gw-live");
    let mut stopped = start_gateway("gw-stopped");
    assert!(gw.wait_ready().await && stopped.wait_ready().await);
    let api = r
        .deployed_api_in(
            &["dp-cut"],
            "Ledger",
            "/ledger",
            &upstream.url(),
            open_operation(),
        )
        .await;
    assert!(gw.eventually_status("/ledger/1.0.0/open", None, 200).await);
    assert!(
        eventually(Duration::from_secs(10), || async {
            deployment_counts(&r, &api, "dp-cut").await == Some((2, 2, "APPROVED".into()))
        })
        .await,
        "both gateways ACKed the version carrying the first deployment: {:?}",
        deployment_counts(&r, &api, "dp-cut").await
    );

    // A gateway stopped before the next deploy is neither live nor deployed.
    stopped.terminate();
    assert!(stopped.wait_exit(Duration::from_secs(10)).is_some());

    // The next deploy: the test holds the environment's row, so the version bump waits;
    // then it ends that connection, as a network cut between the two writes would.
    let (status, mut definition) = r.get(&format!("{PUB}/apis/{api}")).await;
    assert_eq!(status, StatusCode::OK, "{definition}");
    definition["operations"]
        .as_array_mut()
        .unwrap()
        .push(json!({"target": "/second", "verb": "GET", "authType": "None"}));
    let (status, body) = r.put(&format!("{PUB}/apis/{api}"), definition).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, revision) = r
        .post(&format!("{PUB}/apis/{api}/revisions"), json!({}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{revision}");
    let revision = revision["id"].as_str().unwrap().to_owned();
    let mut lock = sqlx::PgConnection::connect(&db.url).await.unwrap();
    sqlx::query("BEGIN").execute(&mut lock).await.unwrap();
    // FOR NO KEY UPDATE: the deployment row's foreign key check passes, the bump waits.
    sqlx::query("SELECT config_version FROM environments WHERE name = 'dp-cut' FOR NO KEY UPDATE")
        .execute(&mut lock)
        .await
        .unwrap();
    let deploy = {
        let r = r.clone();
        let path = format!("{PUB}/apis/{api}/deploy-revision?revisionId={revision}");
        tokio::spawn(async move {
            r.post(&path, json!([{"name": "dp-cut", "vhost": "localhost"}]))
                .await
        })
    };
    let mut watcher = sqlx::PgConnection::connect(&db.url).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let waiting: i32 = loop {
        let pid: Option<i32> = sqlx::query_scalar(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() \
             AND wait_event_type = 'Lock' AND query LIKE '%UPDATE environments SET config_version%'",
        )
        .fetch_optional(&mut watcher)
        .await
        .unwrap();
        if let Some(pid) = pid {
            break pid;
        }
        assert!(
            Instant::now() < deadline,
            "the deploy's version bump never waited on the held row"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let mut admin = sqlx::PgConnection::connect(&db.url).await.unwrap();
    sqlx::query("SELECT pg_terminate_backend($1)")
        .bind(waiting)
        .execute(&mut admin)
        .await
        .unwrap();
    let (status, body) = deploy.await.unwrap();
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["code"], 503, "{body}");

    // While the bump cannot happen, the deployment row exists but no gateway has the
    // version carrying it: the API says so, and the gateway indeed serves the old one.
    let listed = deployment_counts(&r, &api, "dp-cut").await;
    assert_eq!(listed, Some((0, 1, "CREATED".into())), "while unpublished");
    assert_eq!(gw.get("/ledger/1.0.0/second", None).await, 404);
    assert_eq!(gw.get("/ledger/1.0.0/open", None).await, 200);
    let (_, deployments) = r.get(&format!("{PUB}/apis/{api}/deployments")).await;
    let entry = &deployments["list"][0];
    assert_eq!(entry["revisionUuid"], revision.as_str(), "{deployments}");
    assert_eq!(entry["configVersion"], 0, "{deployments}");

    // Released: the reconcile finds the store's content unpublished and publishes it. At
    // every moment a gateway counted as deployed serves the revision.
    sqlx::query("ROLLBACK").execute(&mut lock).await.unwrap();
    let released = Instant::now();
    let published = eventually(Duration::from_secs(15), || async {
        let counts = deployment_counts(&r, &api, "dp-cut").await.unwrap();
        if counts.0 > 0 {
            assert_eq!(
                gw.get("/ledger/1.0.0/second", None).await,
                200,
                "counted as deployed ({counts:?}) but not served"
            );
        }
        counts == (1, 1, "APPROVED".to_owned())
    })
    .await;
    assert!(published, "the cut deploy was never published");
    eprintln!(
        "the cut deploy was published {:?} after the row was released",
        released.elapsed()
    );

    // The stopped gateway comes back, gets the version and counts again.
    stopped.start_again();
    assert!(stopped.wait_ready().await);
    assert!(
        eventually(Duration::from_secs(10), || async {
            deployment_counts(&r, &api, "dp-cut").await == Some((2, 2, "APPROVED".into()))
        })
        .await
    );
    drop(gw);
    drop(stopped);
    drop(cp);
    db.drop_now().await;
}

#[tokio::test]
async fn two_replicas_through_an_outage_a_change_on_one_reaches_the_others_gateways_by_notify() {
    let Some(db) = TestDatabase::create().await else {
        return;
    };
    let proxy = ChaosProxy::start(db.port()).await;
    let url = db.url_through(proxy.port);
    let dirs = tempfile::tempdir().unwrap();
    let upstream = EchoUpstream::start().await;
    // The periodic reconcile is set far away: what arrives, arrives by NOTIFY (or by the
    // one comparison each replica makes when the database comes back).
    let slow = ["--reconcile-interval-secs", "600"];
    let cp1 =
        ControlPlaneProcess::start_with_args(BIN, &url, &dirs.path().join("cp1"), &slow).await;
    let cp2 =
        ControlPlaneProcess::start_with_args(BIN, &url, &dirs.path().join("cp2"), &slow).await;
    let (r1, r2) = (rest(&cp1), rest(&cp2));
    let (_, gateway_token) = r1.environment_with_token("dp-two").await;
    let gw = GatewayProcess::start(
        BIN,
        "dp-two",
        &cp2.url(""),
        &gateway_token,
        &cp2.ca_path(),
        &dirs.path().join("gw"),
        "gw-on-replica-2",
    );
    assert!(gw.wait_ready().await);
    r1.deployed_api_in(
        &["dp-two"],
        "Before",
        "/before",
        &upstream.url(),
        open_operation(),
    )
    .await;
    assert!(gw.eventually_status("/before/1.0.0/open", None, 200).await);

    proxy.cut_and_block();
    for cp in [&cp1, &cp2] {
        let body = wait_readiness(cp, 503, Duration::from_secs(3)).await;
        assert_eq!(body["reason"], "database unreachable");
    }
    let (status, _) = r2.get(&format!("{PUB}/apis")).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        gw.get("/before/1.0.0/open", None).await,
        200,
        "serving through the outage"
    );
    tokio::time::sleep(Duration::from_secs(2)).await;

    proxy.restore();
    let restored = Instant::now();
    for cp in [&cp1, &cp2] {
        wait_readiness(cp, 200, Duration::from_secs(5)).await;
    }
    eprintln!(
        "both replicas ready {:?} after the database came back",
        restored.elapsed()
    );
    // A first change after the outage; then one more, after every replica's comparison on
    // recovery is surely over: only NOTIFY can carry it to replica 2 within seconds.
    r1.deployed_api_in(
        &["dp-two"],
        "First",
        "/first",
        &upstream.url(),
        open_operation(),
    )
    .await;
    assert!(gw.eventually_status("/first/1.0.0/open", None, 200).await);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let changed = Instant::now();
    r1.deployed_api_in(
        &["dp-two"],
        "Second",
        "/second",
        &upstream.url(),
        open_operation(),
    )
    .await;
    assert!(
        gw.eventually_status("/second/1.0.0/open", None, 200).await,
        "a change on replica 1 never reached replica 2's gateway"
    );
    eprintln!(
        "a change on replica 1 served by replica 2's gateway {:?} later (reconcile interval 600 s)",
        changed.elapsed()
    );
    drop(gw);
    drop((cp1, cp2));
    db.drop_now().await;
}
