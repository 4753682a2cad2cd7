//! `gantry control-plane` as an operator first starts it: a data directory that does not exist
//! yet is created owner-only, and on PostgreSQL (shared by replicas) the process refuses to
//! generate a key-encryption key of its own, saying which setting to give instead.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use std::os::unix::fs::PermissionsExt as _;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use gantry_testkit::cluster::TestDatabase;
use gantry_testkit::free_port;

const BIN: &str = env!("CARGO_BIN_EXE_gantry");

fn control_plane(database_url: &str, data_dir: &std::path::Path, port: u16) -> Command {
    let mut command = Command::new(BIN);
    command
        .args(["control-plane", "--bind", "127.0.0.1", "--port"])
        .arg(port.to_string())
        .args(["--database-url", database_url, "--data-dir"])
        .arg(data_dir)
        .env("GANTRY_ADMIN_PASSWORD", "admin-password")
        .env_remove("GANTRY_KEY_ENCRYPTION_KEY")
        .env_remove("GANTRY_KEY_ENCRYPTION_KEY_FILE")
        .env_remove("GANTRY_CONFIG")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    command
}

#[tokio::test]
async fn a_missing_data_directory_is_created_owner_only() {
    let tmp = tempfile::tempdir().unwrap();
    let data_dir = tmp.path().join("not/yet/there");
    let db = format!("sqlite://{}?mode=rwc", tmp.path().join("cp.db").display());
    let port = free_port();
    let mut child = control_plane(&db, &data_dir, port).spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let listening = loop {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break true;
        }
        if child.try_wait().unwrap().is_some() || Instant::now() > deadline {
            break false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let _ = child.kill();
    let output = child.wait_with_output().unwrap();
    assert!(
        listening,
        "the control plane did not start: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let mode = std::fs::metadata(&data_dir).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700, "data directory mode {mode:o}");
    assert!(data_dir.join("key-encryption-key").exists());
    assert!(data_dir.join("tls/cert.pem").exists());
}

#[tokio::test]
async fn on_postgresql_a_local_key_encryption_key_is_refused_with_what_to_set() {
    let Some(database) = TestDatabase::create().await else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let data_dir = tmp.path().join("data");
    let mut child = control_plane(&database.url, &data_dir, free_port())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            break None;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let stderr = String::from_utf8_lossy(&child.wait_with_output().unwrap().stderr).into_owned();
    database.drop_now().await;
    assert_eq!(
        status.and_then(|s| s.code()),
        Some(64),
        "expected exit code 64 (configuration error); stderr: {stderr}"
    );
    assert!(
        stderr.contains("GANTRY_KEY_ENCRYPTION_KEY") && stderr.contains("PostgreSQL"),
        "the error should say which setting to give and why: {stderr}"
    );
    assert!(
        !data_dir.join("key-encryption-key").exists(),
        "no replica-local key may be generated"
    );
}
