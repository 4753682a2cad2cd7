//! Graceful life cycle of gateway processes: on SIGTERM readiness turns false and new
//! connections are refused while open ones are still served, in-flight requests finish, and a
//! rolling restart of two gateways under load loses no request for a client that retries only
//! when a connection is refused.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use gantry_testkit::cluster::{ControlPlaneProcess, GatewayProcess};
use gantry_testkit::rest::Rest;
use gantry_testkit::{EchoUpstream, eventually};
use serde_json::json;

const BIN: &str = env!("CARGO_BIN_EXE_gantry");

// The echo upstream and the load run on this runtime while the test blocks on process exits.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_drains_and_a_rolling_restart_loses_no_request() {
    let dirs = tempfile::tempdir().unwrap();
    let upstream = EchoUpstream::start().await;
    let db = format!("sqlite://{}?mode=rwc", dirs.path().join("cp.db").display());
    let cp = ControlPlaneProcess::start(BIN, &db, &dirs.path().join("cp"), None).await;
    let rest = Rest::new(&cp.url(""), cp.client());
    let (_, token) = rest.environment_with_token("rolling").await;
    let mut gateways: Vec<GatewayProcess> = (0..2)
        .map(|i| {
            let mut gw = GatewayProcess::start(
                BIN,
                "rolling",
                &cp.url(""),
                &token,
                &cp.ca_path(),
                &dirs.path().join(format!("gw{i}")),
                &format!("gw{i}"),
            );
            gw.restart_with_args(&["--drain-delay-secs", "1"]);
            gw
        })
        .collect();
    for gw in &gateways {
        assert!(gw.wait_ready().await);
    }
    let open = json!([{"target": "/*", "verb": "GET", "authType": "None"}]);
    rest.deployed_api_in(&["rolling"], "Rolling", "/rolling", &upstream.url(), open)
        .await;
    for gw in &gateways {
        assert!(gw.eventually_status("/rolling/1.0.0/ping", None, 200).await);
    }

    // SIGTERM with a request in flight: readiness turns false at once, traffic still flows
    // during the drain delay, the in-flight request completes, then the process exits 0.
    let port = gateways[0].http_port;
    let in_flight = tokio::spawn(async move {
        reqwest::Client::new()
            .get(format!("http://127.0.0.1:{port}/rolling/1.0.0/delay/800"))
            .header("host", "localhost")
            .send()
            .await
            .map(|r| r.status().as_u16())
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    gateways[0].terminate();
    let draining = eventually(Duration::from_secs(2), || async {
        gateways[0].readiness().await.0 == 503
    })
    .await;
    assert!(draining, "readiness fails as soon as the drain starts");
    assert_eq!(gateways[0].readiness().await.1["status"], "DRAINING");
    assert_eq!(
        gateways[0].get("/rolling/1.0.0/ping", None).await,
        0,
        "new connections are refused while draining (clients go to another gateway)"
    );
    assert_eq!(
        in_flight.await.unwrap().unwrap(),
        200,
        "the in-flight request finished"
    );
    let status = gateways[0]
        .wait_exit(Duration::from_secs(15))
        .expect("exited");
    assert!(status.success(), "clean exit: {status}");
    gateways[0].start_again();
    assert!(gateways[0].wait_ready().await);

    // Rolling restart under load.
    let ports: Vec<u16> = gateways.iter().map(|g| g.http_port).collect();
    let stop = Arc::new(AtomicBool::new(false));
    let (ok, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let mut clients = Vec::new();
    for worker in 0..4 {
        let (ports, stop, ok, failed) = (ports.clone(), stop.clone(), ok.clone(), failed.clone());
        clients.push(tokio::spawn(async move {
            let client = reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap();
            let mut i = worker;
            while !stop.load(Ordering::SeqCst) {
                let mut answered = false;
                for attempt in 0..ports.len() * 20 {
                    let port = ports[(i + attempt) % ports.len()];
                    match client
                        .get(format!("http://127.0.0.1:{port}/rolling/1.0.0/delay/20"))
                        .header("host", "localhost")
                        .send()
                        .await
                    {
                        Ok(r) if r.status() == 200 => {
                            answered = true;
                            break;
                        }
                        Ok(r) => panic!("gateway {port} answered {}", r.status()),
                        // Retry only when nobody was listening.
                        Err(e) if e.is_connect() => {
                            tokio::time::sleep(Duration::from_millis(25)).await
                        }
                        Err(e) => panic!("request to {port} failed after it was accepted: {e}"),
                    }
                }
                if answered {
                    ok.fetch_add(1, Ordering::SeqCst)
                } else {
                    failed.fetch_add(1, Ordering::SeqCst)
                };
                i += 1;
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    for (index, gateway) in gateways.iter_mut().enumerate() {
        gateway.terminate();
        assert!(
            gateway
                .wait_exit(Duration::from_secs(15))
                .is_some_and(|s| s.success())
        );
        gateway.start_again();
        assert!(gateway.wait_ready().await, "gateway {index} back");
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::SeqCst);
    for client in clients {
        client.await.unwrap();
    }
    let (ok, failed) = (ok.load(Ordering::SeqCst), failed.load(Ordering::SeqCst));
    assert_eq!(failed, 0, "{failed} requests lost, {ok} answered");
    assert!(ok > 50, "the load really ran: {ok} requests");
}
