//! The gateway's per-vhost certificates from `--tls-cert-dir`, through the real `gantry
//! gateway`: a directory of host directories laid out as mounted Kubernetes TLS Secrets,
//! each served by SNI, and hosts added, renewed (by a kubelet-style `..data` swap) and
//! removed while it runs; and `gantry up`'s gateway HTTPS port with the same directory.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::time::Duration;

use gantry_testkit::certs::handshake_trusting;
use gantry_testkit::{GantryUp, eventually, free_port};

const BIN: &str = env!("CARGO_BIN_EXE_gantry");

/// A self-signed certificate for `hosts` and its key, PEM.
fn self_signed(hosts: &[&str]) -> (String, String) {
    let key = rcgen::KeyPair::generate().unwrap();
    let names = hosts
        .iter()
        .map(|host| (*host).to_owned())
        .collect::<Vec<_>>();
    let cert = rcgen::CertificateParams::new(names)
        .unwrap()
        .self_signed(&key)
        .unwrap();
    (cert.pem(), key.serialize_pem())
}

/// Writes a certificate for `host` into `DIR/<dir_name>/` as the kubelet updates a mounted
/// Secret: files in a fresh `..<generation>` directory, `..data` switched to it by an
/// atomic rename, `tls.crt` and `tls.key` symlinks through `..data`. Returns the PEM.
fn kubelet_writes(dir: &Path, dir_name: &str, generation: u32, host: &str) -> String {
    use std::os::unix::fs::symlink;
    let secret = dir.join(dir_name);
    let timestamped = secret.join(format!("..gen_{generation}"));
    std::fs::create_dir_all(&timestamped).unwrap();
    let (cert, key) = self_signed(&[host]);
    std::fs::write(timestamped.join("tls.crt"), &cert).unwrap();
    std::fs::write(timestamped.join("tls.key"), key).unwrap();
    symlink(format!("..gen_{generation}"), secret.join("..data_tmp")).unwrap();
    std::fs::rename(secret.join("..data_tmp"), secret.join("..data")).unwrap();
    for name in ["tls.crt", "tls.key"] {
        if std::fs::symlink_metadata(secret.join(name)).is_err() {
            symlink(format!("..data/{name}"), secret.join(name)).unwrap();
        }
    }
    cert
}

#[tokio::test]
async fn gateway_serves_each_secret_of_the_cert_dir_by_sni_and_follows_its_changes() {
    let temp = tempfile::tempdir().unwrap();
    // Also names api.gantry.test, so the fallback after its removal verifies.
    let (default_pem, default_key) = self_signed(&["localhost", "api.gantry.test"]);
    std::fs::write(temp.path().join("default.pem"), &default_pem).unwrap();
    std::fs::write(temp.path().join("default-key.pem"), default_key).unwrap();
    let certs = temp.path().join("certs");
    let api_pem = kubelet_writes(&certs, "api.gantry.test", 1, "api.gantry.test");
    let apps_pem = kubelet_writes(&certs, "_.apps.gantry.test", 1, "*.apps.gantry.test");

    let (https, ops) = (free_port(), free_port());
    let mut gateway = std::process::Command::new(BIN)
        .args(["gateway", "--environment", "Default", "--token", "unused"])
        .args(["--control-plane", "http://127.0.0.1:9"])
        .args(["--http-port", &free_port().to_string()])
        .args(["--https-port", &https.to_string()])
        .args(["--ops-port", &ops.to_string()])
        .arg("--data-dir")
        .arg(temp.path().join("data"))
        .arg("--tls-cert")
        .arg(temp.path().join("default.pem"))
        .arg("--tls-key")
        .arg(temp.path().join("default-key.pem"))
        .env("GANTRY_TLS_CERT_DIR", &certs)
        .args(["--tls-reload-secs", "1", "--bind", "127.0.0.1"])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();

    let up = eventually(Duration::from_secs(10), || {
        handshake_trusting("localhost", https, &default_pem)
    })
    .await;
    let mut checks = vec![("default certificate served", up)];
    checks.push((
        "api.gantry.test gets its secret",
        handshake_trusting("api.gantry.test", https, &api_pem).await,
    ));
    checks.push((
        "and not the default",
        !handshake_trusting("api.gantry.test", https, &default_pem).await,
    ));
    checks.push((
        "the wildcard secret serves one label below",
        handshake_trusting("shop.apps.gantry.test", https, &apps_pem).await,
    ));

    // Added, renewed by a `..data` swap, removed: each seen within the reload interval.
    let new_pem = kubelet_writes(&certs, "new.gantry.test", 1, "new.gantry.test");
    let renewed_pem = kubelet_writes(&certs, "_.apps.gantry.test", 2, "*.apps.gantry.test");
    std::fs::remove_dir_all(certs.join("api.gantry.test")).unwrap();
    checks.push((
        "a host directory added while running is served",
        eventually(Duration::from_secs(5), || {
            handshake_trusting("new.gantry.test", https, &new_pem)
        })
        .await,
    ));
    checks.push((
        "a renewed secret is served",
        eventually(Duration::from_secs(5), || {
            handshake_trusting("shop.apps.gantry.test", https, &renewed_pem)
        })
        .await,
    ));
    checks.push((
        "a removed host falls back to the default certificate",
        eventually(Duration::from_secs(5), || {
            handshake_trusting("api.gantry.test", https, &default_pem)
        })
        .await,
    ));
    let _ = gateway.kill();
    let _ = gateway.wait();
    for (what, passed) in checks {
        assert!(passed, "{what}");
    }
}

#[tokio::test]
async fn gantry_up_serves_the_cert_dir_on_its_gateway_https_port() {
    let temp = tempfile::tempdir().unwrap();
    let certs = temp.path().join("vhosts");
    std::fs::create_dir_all(&certs).unwrap();
    let api_pem = kubelet_writes(&certs, "api.gantry.test", 1, "api.gantry.test");
    let https = free_port();
    let up = GantryUp::start_with_env(
        BIN,
        false,
        &[
            ("GANTRY_GATEWAY_HTTPS_PORT", &https.to_string()),
            ("GANTRY_TLS_CERT_DIR", certs.to_str().unwrap()),
        ],
    )
    .await;
    let served = eventually(Duration::from_secs(10), || {
        handshake_trusting("api.gantry.test", https, &api_pem)
    })
    .await;
    assert!(
        served,
        "api.gantry.test gets its secret on gantry up's HTTPS port"
    );
    // Any other name gets gantry up's own gateway certificate, not the secret.
    assert!(!handshake_trusting("localhost", https, &api_pem).await);
    drop(up);
}
