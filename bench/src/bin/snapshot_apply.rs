//! How long and how much memory a gateway needs to apply a large configuration: 10,000
//! APIs (3 operations each) and 100,000 subscriptions of 20,000 applications, as received
//! over the wire (JSON bytes → parse → digest check → compile → swap). Also: the size of
//! the delta when one API changes in that snapshot.
//!
//! Run: `cargo build --release -p gantry && cargo run --release -p gantry-bench --bin snapshot_apply`
//!
//! Two measurements: in-process (parse + digest + compile + swap, best of 3), and a real
//! `gantry gateway` process starting from the snapshot persisted in its data directory
//! (time to ready, peak and settled RSS of that process alone).

use std::time::Instant;

use gantry_bench::{proc_status_kb, reset_peak_rss};
use gantry_model::delta::SnapshotDelta;
use gantry_model::snapshot::{
    self, DeployedApi, IssuerKey, KeyMapping, SnapshotApplication, SnapshotSubscription,
    TrustedIssuer,
};
use gantry_model::*;
use gantry_sync::Versioned;

const APIS: usize = 10_000;
const APPLICATIONS: usize = 20_000;
const SUBSCRIPTIONS: usize = 100_000;
const ISSUER: &str = "https://keymgr.example.com/oauth2/token";

fn snapshot(version: u64) -> GatewaySnapshot {
    let op = |target: &str, verb| Operation {
        id: None,
        target: ResourceTarget::parse(target).expect("target"),
        verb,
        auth_type: AuthType::Any,
        throttling_policy: "Unlimited".into(),
        scopes: vec![],
        operation_policies: Default::default(),
    };
    let apis = (0..APIS)
        .map(|i| DeployedApi {
            api_id: format!("api-{i:06}"),
            revision_id: format!("rev-{i:06}"),
            name: ApiName::parse(&format!("Api{i}")).expect("name"),
            context: ApiContext::parse(&format!("/svc{i}")).expect("context"),
            version: ApiVersion::parse("1.0.0").expect("version"),
            vhost: "gw.example.com".into(),
            is_default_version: false,
            cors_configuration: Default::default(),
            lifecycle: LifecycleState::Published,
            api_type: "HTTP".into(),
            authorization_header: "Authorization".into(),
            security_scheme: vec!["oauth2".into()],
            gateway: Default::default(),
            endpoint_config: EndpointConfig {
                endpoint_type: "http".into(),
                production_endpoints: Some(
                    Endpoint {
                        url: format!("http://backend-{}.svc:8080/v1", i % 50),
                        config: None,
                    }
                    .into(),
                ),
                sandbox_endpoints: None,
                ..Default::default()
            },
            operations: vec![
                op("/items", HttpVerb::Get),
                op("/items/{id}", HttpVerb::Get),
                op("/items", HttpVerb::Post),
            ],
            client_certificates: vec![],
        })
        .collect();
    let applications = (0..APPLICATIONS)
        .map(|i| SnapshotApplication {
            id: format!("app-{i:06}"),
            name: format!("App{i}"),
            owner: "dev".into(),
            tier: "Unlimited".into(),
        })
        .collect();
    let key_mappings = (0..APPLICATIONS)
        .map(|i| KeyMapping {
            consumer_key: format!("ck{i:024}"),
            application_id: format!("app-{i:06}"),
            key_type: KeyType::Production,
            issuer: ISSUER.into(),
        })
        .collect();
    let subscriptions = (0..SUBSCRIPTIONS)
        .map(|i| SnapshotSubscription {
            id: format!("sub-{i:07}"),
            application_id: format!("app-{:06}", i % APPLICATIONS),
            api_id: format!("api-{:06}", (i * 7) % APIS),
            tier: "Gold".into(),
            status: SubscriptionStatus::Unblocked,
        })
        .collect();
    GatewaySnapshot {
        environment: "dp-prod-a".into(),
        version,
        apis,
        applications,
        key_mappings,
        subscriptions,
        issuers: vec![TrustedIssuer {
            issuer: ISSUER.into(),
            keys: vec![IssuerKey {
                kid: "k1".into(),
                alg: "RS256".into(),
                n: "sXchDaQebHnPiGvyDOAT4saGEUetSyo9MKLOoWFsueri23bOdgWp4Dy1WlUzewbgBHod5pcM9H95GQRV3JDXboIRROSBigeC5yjU1hGzHHyXss8UDprecbAYxknTcQkhslANGRUZmdTOQ5qTRsLAt6BTYuyvVRdhS8exSZEy_c4gs_7svlJJQ4H9_NxsiIoLwAEk7-Q3UXERGYw_75IDrGA84-lA_-Ct4eTlXHBIY2EaV7t7LjJaynVJCpkv4LKjTTAumiGUIuQhrNhZLuF_RJLqHpM2kgWFLU7-VTdL1VbC2tejvcI2BlMkEpk1BzBZI0KQB0GaDWFLN-aEAw3vRw".into(),
                e: "AQAB".into(),
                crv: None,
                x: None,
                y: None,
            }],
            jwks_uri: None,
            resident: true,
        }],
        // The subscriptions' `Gold` tier is a real limit, so the gateway holds one per
        // subscription, as it would in production.
        throttling_policies: vec![
            snapshot::ThrottlingPolicy {
graphql_max_depth: None, graphql_max_complexity: None,
                level: "subscription".into(),
                name: "Gold".into(),
                request_count: 5000,
                unit_time: 1,
                time_unit: "min".into(),
                burst_count: 0,
                burst_time_unit: String::new(),
                bandwidth_bytes: 0,
                conditional_groups: vec![],
            },
        ],
        revoked_token_ids: vec![],
        deny_policies: vec![],
        custom_rules: vec![],
        products: vec![],
        ai_apis: vec![],
        token_quotas: vec![],
        canaries: vec![],
        gateway_policies: Default::default(),
        endpoint_certificates: Vec::new(),
    }
}

/// `VmHWM` / `VmRSS` of another process, in kB.
fn status_kb(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// Starts `gantry gateway` on a data directory holding `json` as its persisted snapshot and
/// measures how long until it is ready and how much memory it takes.
fn gateway_process(json: &[u8]) {
    let bin = std::env::var("GANTRY_BIN").unwrap_or_else(|_| {
        let target = std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "target".into());
        format!("{target}/release/gantry")
    });
    if !std::path::Path::new(&bin).exists() {
        println!("(skipping the process measurement: {bin} not built)");
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("snapshot.json"), json).expect("write snapshot");
    let ops = gantry_testkit::free_port();
    let started = Instant::now();
    let mut child = std::process::Command::new(&bin)
        .args([
            "gateway",
            "--environment",
            "dp-prod-a",
            "--control-plane",
            "https://127.0.0.1:9",
            "--token",
            "unused",
        ])
        .args([
            "--bind",
            "127.0.0.1",
            "--http-port",
            &gantry_testkit::free_port().to_string(),
            "--ops-port",
            &ops.to_string(),
        ])
        .arg("--data-dir")
        .arg(dir.path())
        .env("GANTRY_LOG", "error")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn gateway");
    let pid = child.id();
    let idle_probe = std::time::Duration::from_millis(20);
    let ready = loop {
        let ok = std::net::TcpStream::connect(("127.0.0.1", ops))
            .ok()
            .and_then(|mut s| {
                use std::io::{Read, Write};
                s.write_all(b"GET /health/ready HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                    .ok()?;
                let mut buf = String::new();
                s.read_to_string(&mut buf).ok()?;
                Some(buf.starts_with("HTTP/1.1 200"))
            });
        if ok == Some(true) {
            break started.elapsed();
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(60),
            "gateway not ready"
        );
        std::thread::sleep(idle_probe);
    };
    std::thread::sleep(std::time::Duration::from_millis(500));
    println!(
        "gateway process from the persisted snapshot: ready in {:.0} ms (process start included); peak RSS {} MB, settled RSS {} MB ({} MB heap and other anonymous memory, {} MB mapped files: the binary and libraries)",
        ready.as_secs_f64() * 1e3,
        status_kb(pid, "VmHWM") / 1024,
        status_kb(pid, "VmRSS") / 1024,
        status_kb(pid, "RssAnon") / 1024,
        status_kb(pid, "RssFile") / 1024
    );
    let _ = child.kill();
    let _ = child.wait();
}

fn main() {
    let base = Versioned::new(snapshot(1));
    let json = base.to_json();
    let digest = base.digest.clone();
    println!(
        "snapshot: {APIS} APIs, {SUBSCRIPTIONS} subscriptions, {APPLICATIONS} applications; JSON {:.1} MB",
        json.len() as f64 / 1e6
    );
    // For a heap profile of a gateway serving it: `gantry gateway --data-dir` a directory
    // holding this file as `snapshot.json`.
    if let Ok(path) = std::env::var("SNAPSHOT_OUT") {
        std::fs::write(&path, &json).expect("write SNAPSHOT_OUT");
        println!("snapshot written to {path}");
    }

    // One API changes: what travels is the delta, not the snapshot.
    let mut changed = base.snapshot.clone();
    changed.version = 2;
    if let Some(endpoint) = changed.apis[1234]
        .endpoint_config
        .production_endpoints
        .as_mut()
    {
        *endpoint = Endpoint {
            url: "http://backend-new.svc:8080/v2".into(),
            config: None,
        }
        .into();
    }
    let delta = SnapshotDelta::between(&base.snapshot, &changed);
    let delta_json = serde_json::to_vec(&delta).expect("delta json");
    println!(
        "delta for one changed API: {} bytes ({:.4}% of the snapshot)",
        delta_json.len(),
        100.0 * delta_json.len() as f64 / json.len() as f64
    );
    drop((base, changed));

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let _guard = runtime.enter();
    let mut times = Vec::new();
    let rss_before_kb = proc_status_kb("VmRSS");
    let mut peak_kb = 0;
    for round in 0..3 {
        let gateway = gantry_gateway::Gateway::new("dp-prod-a", None);
        reset_peak_rss();
        let started = Instant::now();
        let parsed: GatewaySnapshot = serde_json::from_slice(&json).expect("parse");
        let versioned = Versioned::new(parsed);
        assert_eq!(versioned.digest, digest);
        gateway.apply_versioned(versioned).expect("apply");
        let elapsed = started.elapsed();
        peak_kb = peak_kb.max(proc_status_kb("VmHWM"));
        times.push(elapsed);
        println!(
            "round {round}: applied in {:.0} ms; RSS now {} MB",
            elapsed.as_secs_f64() * 1e3,
            proc_status_kb("VmRSS") / 1024
        );
    }
    let best = times.iter().min().copied().unwrap_or_default();
    println!(
        "apply (parse + digest + compile + swap), best of 3: {:.0} ms; peak RSS {} MB (baseline before apply {} MB, JSON bytes held {:.0} MB)",
        best.as_secs_f64() * 1e3,
        peak_kb / 1024,
        rss_before_kb / 1024,
        json.len() as f64 / 1e6
    );
    gateway_process(&json);
}
