//! Time from a deploy call returning to the API being served by every one of 10 gateway
//! processes (separate `gantry gateway` processes on one `gantry control-plane` over
//! PostgreSQL), over repeated deployments; p50 / p99 / max.
//!
//! Run: `cargo build --release -p gantry && cargo run --release -p gantry-bench --bin sync_propagation`
//! (`GANTRY_BIN` selects the binary; default `target/release/gantry`).

use std::time::{Duration, Instant};

use gantry_bench::percentile;
use gantry_testkit::cluster::{ControlPlaneProcess, GatewayProcess, TestDatabase};
use gantry_testkit::rest::Rest;
use serde_json::json;

const GATEWAYS: usize = 10;
const ROUNDS: usize = 40;

#[tokio::main]
async fn main() {
    let bin = std::env::var("GANTRY_BIN").unwrap_or_else(|_| {
        let target = std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "target".into());
        format!("{target}/release/gantry")
    });
    assert!(
        std::path::Path::new(&bin).exists(),
        "{bin} not found: cargo build --release -p gantry first"
    );
    let Some(db) = TestDatabase::create().await else {
        eprintln!("PostgreSQL is needed");
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let upstream = gantry_testkit::EchoUpstream::start().await;
    let cp = ControlPlaneProcess::start(&bin, &db.url, &dir.path().join("cp"), None).await;
    let rest = Rest::new(&cp.url(""), cp.client());
    let (_, token) = rest.environment_with_token("bench").await;
    let gateways: Vec<GatewayProcess> = (0..GATEWAYS)
        .map(|i| {
            GatewayProcess::start(
                &bin,
                "bench",
                &cp.url(""),
                &token,
                &cp.ca_path(),
                &dir.path().join(format!("gw{i}")),
                &format!("gw{i}"),
            )
        })
        .collect();
    for gw in &gateways {
        assert!(gw.wait_ready().await, "gateway not ready");
    }
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .expect("client");

    let mut after_return = Vec::with_capacity(ROUNDS);
    let mut including_call = Vec::with_capacity(ROUNDS);
    for round in 0..ROUNDS {
        let context = format!("/bench{round}");
        let (_, api) = rest
            .post(
                "/api/am/publisher/v4/apis",
                json!({"name": format!("Bench{round}"), "context": context, "version": "1",
                       "endpointConfig": {"endpoint_type": "http", "production_endpoints": {"url": upstream.url()}},
                       "operations": [{"target": "/ping", "verb": "GET", "authType": "None"}]}),
            )
            .await;
        let id = api["id"].as_str().expect("api id").to_owned();
        rest.post_empty(&format!(
            "/api/am/publisher/v4/apis/change-lifecycle?apiId={id}&action=Publish"
        ))
        .await;
        let (_, revision) = rest
            .post(
                &format!("/api/am/publisher/v4/apis/{id}/revisions"),
                json!({}),
            )
            .await;
        let rev = revision["id"].as_str().expect("revision id");

        let started = Instant::now();
        let (status, _) = rest
            .post(
                &format!("/api/am/publisher/v4/apis/{id}/deploy-revision?revisionId={rev}"),
                json!([{"name": "bench", "vhost": "localhost"}]),
            )
            .await;
        assert!(status.is_success());
        let returned = Instant::now();
        let mut pending: Vec<&GatewayProcess> = gateways.iter().collect();
        while !pending.is_empty() {
            let mut still = Vec::new();
            for gw in pending {
                let url = format!("http://127.0.0.1:{}{context}/1/ping", gw.http_port);
                let ok = client
                    .get(&url)
                    .header("host", "localhost")
                    .send()
                    .await
                    .is_ok_and(|r| r.status() == 200);
                if !ok {
                    still.push(gw);
                }
            }
            pending = still;
            assert!(
                returned.elapsed() < Duration::from_secs(10),
                "round {round}: not served everywhere within 10 s"
            );
        }
        after_return.push(returned.elapsed());
        including_call.push(started.elapsed());
    }
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!("deploy → served by all {GATEWAYS} gateways, {ROUNDS} rounds:");
    println!(
        "  after the deploy call returned: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        ms(percentile(&mut after_return, 50.0)),
        ms(percentile(&mut after_return, 99.0)),
        ms(percentile(&mut after_return, 100.0))
    );
    println!(
        "  including the deploy call:      p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        ms(percentile(&mut including_call, 50.0)),
        ms(percentile(&mut including_call, 99.0)),
        ms(percentile(&mut including_call, 100.0))
    );
    drop(gateways);
    drop(cp);
    db.drop_now().await;
}
