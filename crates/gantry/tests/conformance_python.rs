//! Runs the OAuth2 / OIDC conformance suite of `tests/python` (Authlib and PyJWT, clients
//! independent of ours) against a real `gantry up`. It needs python3 with those packages, so
//! it is `#[ignore]`d: `.ci/run` installs them and runs it with `-- --ignored`.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::process::Command;

use gantry_testkit::GantryUp;
use gantry_testkit::process::ADMIN_PASSWORD;
use reqwest::StatusCode;
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_gantry");
const DEV: &str = "/api/am/devportal/v3";
const REDIRECT_URI: &str = "https://client.example/cb";

fn suite_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/python")
}

async fn post(up: &GantryUp, path: &str, body: Value) -> Value {
    let r = up
        .cp_client()
        .post(up.cp_url(path))
        .basic_auth("admin", Some(ADMIN_PASSWORD))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = r.status();
    let body: Value = r.json().await.unwrap();
    assert!(
        status == StatusCode::OK || status == StatusCode::CREATED,
        "{path}: {status} {body}"
    );
    body
}

#[tokio::test]
#[ignore = "needs Python's authlib, pyjwt, requests, cryptography: .ci/run installs them and runs it"]
async fn authlib_and_pyjwt_conformance_suite_for_every_signing_algorithm() {
    let ready = gantry_testkit::python::can_import(
        "authlib, jwt, requests, cryptography",
        "authlib pyjwt requests cryptography",
    );
    gantry_testkit::python::require("the Python OAuth2/OIDC conformance suite", ready);
    for alg in ["RS256", "ES256", "EdDSA"] {
        run_suite(alg).await;
    }
}

/// Starts Gantry signing with `alg`, creates the suite's clients and runs it.
async fn run_suite(alg: &str) {
    let up = GantryUp::start_with_env(BIN, false, &[("GANTRY_SIGNING_ALGORITHM", alg)]).await;
    let grants = json!([
        "client_credentials",
        "password",
        "refresh_token",
        "authorization_code"
    ]);
    let app = post(
        &up,
        &format!("{DEV}/applications"),
        json!({"name": "ConformanceApp", "throttlingPolicy": "Unlimited"}),
    )
    .await;
    let app_id = app["applicationId"].as_str().unwrap();
    let confidential = post(
        &up,
        &format!("{DEV}/applications/{app_id}/generate-keys"),
        json!({"keyType": "PRODUCTION", "grantTypesToBeSupported": grants, "callbackUrl": REDIRECT_URI}),
    )
    .await;
    let other = post(
        &up,
        &format!("{DEV}/applications/{app_id}/generate-keys"),
        json!({"keyType": "SANDBOX", "grantTypesToBeSupported": grants, "callbackUrl": REDIRECT_URI}),
    )
    .await;
    let spa = post(
        &up,
        &format!("{DEV}/applications"),
        json!({"name": "ConformanceSpa", "throttlingPolicy": "Unlimited"}),
    )
    .await;
    let public = post(
        &up,
        &format!(
            "{DEV}/applications/{}/generate-keys",
            spa["applicationId"].as_str().unwrap()
        ),
        json!({
            "keyType": "PRODUCTION",
            "grantTypesToBeSupported": ["authorization_code", "refresh_token"],
            "callbackUrl": REDIRECT_URI,
            "additionalProperties": {"bypassClientCredentials": true}
        }),
    )
    .await;
    let field = |v: &Value, name: &str| v[name].as_str().unwrap().to_owned();
    let out = tokio::task::spawn_blocking({
        let ca = up.data_dir().join("tls").join("ca.pem");
        let cp = up.cp_url("");
        let env = [
            ("GANTRY_CP", cp),
            ("GANTRY_CA", ca.display().to_string()),
            ("GANTRY_ADMIN_PASSWORD", ADMIN_PASSWORD.to_owned()),
            ("CONFIDENTIAL_ID", field(&confidential, "consumerKey")),
            (
                "CONFIDENTIAL_SECRET",
                field(&confidential, "consumerSecret"),
            ),
            ("OTHER_ID", field(&other, "consumerKey")),
            ("OTHER_SECRET", field(&other, "consumerSecret")),
            ("PUBLIC_ID", field(&public, "consumerKey")),
            ("REDIRECT_URI", REDIRECT_URI.to_owned()),
            ("GANTRY_SIGNING_ALGORITHM", alg.to_owned()),
        ];
        move || {
            Command::new("python3")
                .args(["-m", "unittest", "-v", "test_conformance"])
                .current_dir(suite_dir())
                .envs(env)
                .env("PYTHONDONTWRITEBYTECODE", "1")
                .output()
        }
    })
    .await
    .unwrap()
    .unwrap();
    let report = String::from_utf8_lossy(&out.stderr);
    eprintln!("{report}");
    assert!(
        out.status.success(),
        "the conformance suite failed:\n{report}"
    );
}
