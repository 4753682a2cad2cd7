//! Fuzzes the REST APIs through their served OpenAPI documents with Schemathesis (PyPI)
//! against a real `gantry up`: no 5xx, every error in the JSON error shape, answers as
//! documented. It needs Schemathesis installed, so it is `#[ignore]`d: `.ci/run` installs it
//! and runs it with `cargo test --workspace -- --ignored`.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use gantry_testkit::GantryUp;
use gantry_testkit::certs::client_ca_and_certificate;
use gantry_testkit::process::ADMIN_PASSWORD;
use gantry_testkit::rest::Rest;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_gantry");

/// The documents the control plane serves (`api_docs.rs`); each is fuzzed on its own.
const DOCUMENTS: [&str; 3] = [
    "/api/am/publisher/v4",
    "/api/am/devportal/v3",
    "/api/am/admin/v4",
];

/// What every response must satisfy. Left out: `positive_data_acceptance` and
/// `negative_data_rejection` (the bodies are documented as loose objects, and like WSO2's
/// the handlers take `null` for any optional field: the documents cannot say exactly what
/// is valid); `use_after_free`, `ensure_resource_availability` and
/// `object_level_authorization` (they need links or a second user the documents lack).
const CHECKS: &str = "not_a_server_error,json_error_body,status_code_conformance,\
content_type_conformance,response_schema_conformance,response_headers_conformance,\
unsupported_method,allow_header_conformance,missing_required_header,ignored_auth";

/// Test cases per operation and phase (`GANTRY_FUZZ_EXAMPLES` to search longer).
const EXAMPLES: &str = "25";
/// No answer may take longer than this (a debug build on a busy 2-core machine).
const MAX_RESPONSE_SECS: &str = "10";
/// Wall-clock cap for all the runs (about 50 s is usual); past it schemathesis is killed
/// and the test fails.
const WHOLE_RUN: Duration = Duration::from_secs(300);

fn hooks() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fuzz/hooks.py")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Schemathesis (PyPI): .ci/run installs it and runs it"]
async fn schemathesis_finds_no_server_error_and_no_error_outside_the_json_shape() {
    let ready = gantry_testkit::python::can_import("schemathesis", "schemathesis");
    gantry_testkit::python::require("the Schemathesis API fuzz test", ready);
    // Nothing in the documents can end the fuzzer's own session (users are managed over
    // SCIM, which is not among them), so no operation is excluded. Deletions run last, so
    // the seeded objects stay while the other operations aim at them.
    // Warnings and the listener's connection errors: what the failure message shows.
    let up =
        GantryUp::start_with_env(BIN, false, &[("GANTRY_LOG", "warn,gantry_listener=debug")]).await;
    let ca = up.data_dir().join("tls").join("ca.pem");
    let config_file = up.data_dir().join("schemathesis.toml");
    let seeded = seed(&up.rest(), &up.data_dir().join("seed")).await;
    std::fs::write(&config_file, config(&seeded)).unwrap();
    let deadline = Instant::now() + WHOLE_RUN;
    let mut failed = Vec::new();
    for methods in [
        ["--exclude-method", "DELETE"],
        ["--include-method", "DELETE"],
    ] {
        for base in DOCUMENTS {
            let started = Instant::now();
            // 127.0.0.1, not localhost: another process may hold the port on ::1.
            let url = format!("https://127.0.0.1:{}{base}", up.cp_port);
            let (success, report) = fuzz(&url, &methods, &ca, &config_file, deadline).await;
            eprintln!(
                "=== schemathesis {base} ({}): {} in {:.1?}\n{}",
                methods.join(" "),
                if success { "passed" } else { "FAILED" },
                started.elapsed(),
                summary(&report)
            );
            if !success {
                failed.push(format!(
                    "=== {base} ({})\n{}",
                    methods.join(" "),
                    failures(&report)
                ));
            }
        }
    }
    assert!(
        failed.is_empty(),
        "schemathesis found failures:\n{}\n(gantry log:)\n{}",
        failed.join("\n"),
        tail(&up.log(), 40)
    );
}

/// Creates objects for the fuzzer to aim at, so its cases reach past the lookups: an API
/// with a deployed revision and a client certificate, an application with keys subscribed
/// to it, a gateway token; (parameter name, identifier).
async fn seed(rest: &Rest, dir: &Path) -> Vec<(&'static str, String)> {
    const PUB: &str = "/api/am/publisher/v4";
    const DEV: &str = "/api/am/devportal/v3";
    let operations = json!([{"target": "/items", "verb": "GET"}]);
    let api = rest
        .deployed_api("FuzzApi", "/fuzz", "http://127.0.0.1:9", operations)
        .await;
    let first = |list: &Value, field: &str| list["list"][0][field].as_str().unwrap().to_owned();
    let revision = first(
        &rest.get(&format!("{PUB}/apis/{api}/revisions")).await.1,
        "id",
    );
    let application = rest.application("FuzzApp").await;
    rest.subscribe(&application, &api, "Unlimited").await;
    let subscriptions = rest
        .get(&format!("{DEV}/subscriptions?applicationId={application}"))
        .await
        .1;
    let (status, keys) = rest
        .post(
            &format!("{DEV}/applications/{application}/generate-keys"),
            json!({"keyType": "PRODUCTION", "grantTypesToBeSupported": ["client_credentials"]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{keys}");
    let environments = rest.get("/api/am/admin/v4/environments").await.1;
    let environment = first(&environments, "id");
    let (status, token) = rest
        .post(
            &format!("/api/am/admin/v4/environments/{environment}/gateway-tokens"),
            json!({"name": "fuzz"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{token}");
    let pem = std::fs::read_to_string(client_ca_and_certificate(dir, "fuzz").cert).unwrap();
    let (status, body) = rest
        .send_multipart(
            Method::POST,
            &format!("{PUB}/apis/{api}/client-certificates"),
            &[
                ("certificate", &pem),
                ("alias", "fuzz-cert"),
                ("tier", "Gold"),
            ],
            &["certificate"],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    vec![
        ("apiId", api),
        ("revisionId", revision),
        ("applicationId", application),
        ("subscriptionId", first(&subscriptions, "subscriptionId")),
        (
            "keyMappingId",
            keys["keyMappingId"].as_str().unwrap().to_owned(),
        ),
        ("environmentId", environment),
        ("tokenId", token["id"].as_str().unwrap().to_owned()),
        ("alias", "fuzz-cert".to_owned()),
    ]
}

/// Schemathesis' config file: each seeded identifier is drawn for its path and query
/// parameter in 7 cases of 10; the rest keep fuzzing the identifier itself.
fn config(seeded: &[(&'static str, String)]) -> String {
    let mut toml = String::from("[dictionaries]\n");
    for (name, id) in seeded {
        toml += &format!("{name} = {{ values = [\"{id}\"] }}\n");
    }
    toml += "\n[parameters]\n";
    for (name, _) in seeded {
        for location in ["path", "query"] {
            toml += &format!(
                "\"{location}.{name}\" = {{ dictionary = \"{name}\", probability = 0.7 }}\n"
            );
        }
    }
    toml
}

/// Runs schemathesis on the operations (`methods` filter) of the document served under
/// `base`, killing it at `deadline`; (passed, its output).
async fn fuzz(
    base: &str,
    methods: &[&str],
    ca: &Path,
    config_file: &Path,
    deadline: Instant,
) -> (bool, String) {
    let mut command = Command::new("python3");
    command
        .args(["-m", "schemathesis.cli", "--config-file"])
        .arg(config_file)
        .arg("run")
        .arg(format!("{base}/swagger.json"))
        .args(["--url", base])
        .arg("--tls-verify")
        .arg(ca)
        .args(["--auth", &format!("admin:{ADMIN_PASSWORD}")])
        .args(methods)
        .args(["--checks", CHECKS])
        .args(["--phases", "examples,coverage,fuzzing"])
        .args(["--max-examples", &examples()])
        .args(["--max-response-time", MAX_RESPONSE_SECS])
        .args(["--request-timeout", "20", "--workers", "2"])
        // Once, a connection closed under a loaded machine without a trace in the server's
        // log and never again; a retry covers that, while a request that always breaks the
        // connection (a panic) still fails.
        .args(["--request-retries", "2"])
        .args(["--generation-database", "none", "--no-color"])
        // The seeded identifiers are few, so many drawn cases repeat and are filtered out.
        .args(["--suppress-health-check", "filter_too_much"])
        .args(["--output-truncate", "true"])
        .current_dir(config_file.parent().unwrap())
        .env("SCHEMATHESIS_HOOKS", hooks())
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("COLUMNS", "120")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Ok(seed) = std::env::var("GANTRY_FUZZ_SEED") {
        command.args(["--seed", &seed]);
    }
    let child = command.spawn().expect("spawn python3 -m schemathesis.cli");
    let pid = child.id();
    let waited = tokio::time::timeout_at(
        deadline.into(),
        tokio::task::spawn_blocking(move || child.wait_with_output()),
    )
    .await;
    let Ok(output) = waited else {
        // The child is owned by the blocking task; end it by its id so that task returns.
        let _ = Command::new("kill").arg(pid.to_string()).status();
        panic!("schemathesis on {base} was still running {WHOLE_RUN:?} after the first run began");
    };
    let Output {
        status,
        stdout,
        stderr,
    } = output.unwrap().unwrap();
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&stdout),
        String::from_utf8_lossy(&stderr)
    );
    (status.success(), report)
}

fn examples() -> String {
    std::env::var("GANTRY_FUZZ_EXAMPLES").unwrap_or_else(|_| EXAMPLES.to_owned())
}

/// The report from its SUMMARY banner on (the whole report when there is none).
fn summary(report: &str) -> &str {
    report
        .find("=== SUMMARY")
        .and_then(|at| report[..at].rfind('\n'))
        .map_or(report, |at| &report[at + 1..])
}

/// The failing cases and the summary (everything when schemathesis could not start).
fn failures(report: &str) -> &str {
    report
        .find("=== FAILURES")
        .or_else(|| report.find("=== ERRORS"))
        .and_then(|at| report[..at].rfind('\n'))
        .map_or(report, |at| &report[at + 1..])
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}
