//! The real binary with a wrong setting from each layer — command line, `GANTRY_…`
//! environment, `--config` file — exits 64 before it creates or binds anything, with a message
//! naming the key as the user wrote it and where it came from; a good file starts.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use gantry_testkit::free_port;

const BIN: &str = env!("CARGO_BIN_EXE_gantry");

/// `gantry ARGS` with only `env` in its environment.
fn gantry(args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut command = Command::new(BIN);
    command
        .args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .envs(env.iter().copied())
        .stdin(Stdio::null());
    command
}

/// Runs a start that must fail on its configuration: exit code 64, and the message.
fn refused(mut command: Command) -> String {
    let out: Output = command.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(
        out.status.code(),
        Some(64),
        "expected exit code 64 (configuration error); stderr: {stderr}"
    );
    stderr
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_owned()
}

#[test]
fn a_bad_flag_exits_64_naming_the_flag_and_the_command_line_before_creating_anything() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let stderr = refused(gantry(
        &[
            "up",
            "--data-dir",
            data.to_str().unwrap(),
            "--gateway-port",
            "0",
        ],
        &[],
    ));
    assert!(
        stderr.contains("--gateway-port (command line): must be a port number between 1 and 65535"),
        "{stderr}"
    );
    assert!(
        !data.exists(),
        "nothing is created for a refused configuration"
    );
}

#[test]
fn a_bad_environment_variable_exits_64_naming_the_variable() {
    let stderr = refused(gantry(
        &["up", "--no-demo"],
        &[("GANTRY_GATEWAY_PORT", "ninety")],
    ));
    assert!(
        stderr.contains("GANTRY_GATEWAY_PORT (environment, --gateway-port): 'ninety' is not valid"),
        "{stderr}"
    );
}

#[test]
fn a_bad_file_value_exits_64_naming_the_key_as_written_and_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "up.toml", "no-demo = true\ngateway_port = 0\n");
    let stderr = refused(gantry(&["up", "--config", &file], &[]));
    assert!(
        stderr.contains(&format!(
            "gateway_port (config file {file}, --gateway-port): must be a port number"
        )),
        "{stderr}"
    );
    // GANTRY_CONFIG names the file just as well.
    let stderr = refused(gantry(&["up"], &[("GANTRY_CONFIG", &file)]));
    assert!(stderr.contains("gateway_port (config file"), "{stderr}");
}

#[test]
fn the_environment_wins_over_the_file_and_the_command_line_over_both() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "up.toml", "ops-port = 9000\n");
    // The variable's wrong value is used (and named), not the file's right one.
    let stderr = refused(gantry(
        &["up", "--config", &file],
        &[("GANTRY_OPS_PORT", "0")],
    ));
    assert!(stderr.contains("GANTRY_OPS_PORT (environment"), "{stderr}");
    // The flag's wrong value is used (and named), not the variable's.
    let stderr = refused(gantry(
        &["up", "--config", &file, "--ops-port", "0"],
        &[("GANTRY_OPS_PORT", "9100")],
    ));
    assert!(stderr.contains("--ops-port (command line)"), "{stderr}");
}

#[test]
fn an_unknown_file_key_exits_64_naming_it_and_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "gw.toml", "enviroment = \"dp-prod-a\"\n");
    let stderr = refused(gantry(&["gateway", "--config", &file], &[]));
    assert!(
        stderr.contains(&format!(
            "--config {file}: unknown key 'enviroment' for `gantry gateway`"
        )),
        "{stderr}"
    );
}

#[test]
fn every_process_kind_checks_its_settings_before_starting() {
    let dir = tempfile::tempdir().unwrap();
    let gateway_file = write(
        dir.path(),
        "gw.toml",
        "environment = \"dp-prod-a\"\ntoken = \"t\"\ncontrol-plane = \"cp.example:9443\"\n",
    );
    let stderr = refused(gantry(&["gateway", "--config", &gateway_file], &[]));
    assert!(
        stderr.contains("control-plane (config file")
            && stderr.contains("'cp.example:9443' is not an http(s) URL"),
        "{stderr}"
    );

    let stderr = refused(gantry(
        &["control-plane"],
        &[("GANTRY_DATABASE_URL", "mysql://db/apim")],
    ));
    assert!(
        stderr.contains("GANTRY_DATABASE_URL (environment, --database-url): not a database URL"),
        "{stderr}"
    );

    let missing = dir.path().join("missing.pem");
    let stderr = refused(gantry(
        &[
            "gateway",
            "--environment",
            "dp-prod-a",
            "--token",
            "t",
            "--control-plane",
            "https://cp.example:9443",
        ],
        &[("GANTRY_CONTROL_PLANE_CA", missing.to_str().unwrap())],
    ));
    assert!(
        stderr.contains("GANTRY_CONTROL_PLANE_CA (environment, --control-plane-ca): cannot read"),
        "{stderr}"
    );

    let stderr = refused(gantry(&["gateway", "--token", "t"], &[]));
    assert!(
        stderr.contains("--environment (or GANTRY_ENVIRONMENT)") && stderr.contains("required"),
        "{stderr}"
    );
}

#[tokio::test]
async fn a_good_config_file_starts_gantry_up_and_a_flag_overrides_it() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (cp, gw, file_ops, ops) = (free_port(), free_port(), free_port(), free_port());
    let file = write(
        dir.path(),
        "up.toml",
        &format!(
            "# gantry up, all from the file\n\
             data_dir = \"{}\"\n\
             bind = \"127.0.0.1\"\n\
             control-plane-port = {cp}\n\
             gateway-port = {gw}\n\
             ops-port = {file_ops}\n\
             no-demo = true\n\
             self-signup = false\n\
             max-connections = 500\n\
             signing-algorithm = \"ES256\"\n\
             log-level = \"warn\"\n",
            data.display()
        ),
    );
    let mut child = gantry(
        &["up", "--config", &file, "--ops-port", &ops.to_string()],
        &[("GANTRY_ADMIN_PASSWORD", "admin-password")],
    )
    .stdout(Stdio::null())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let ready = loop {
        let answered = reqwest::get(format!("http://127.0.0.1:{ops}/health/live"))
            .await
            .is_ok_and(|r| r.status().is_success());
        if answered {
            break true;
        }
        if child.try_wait().unwrap().is_some() || Instant::now() > deadline {
            break false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let file_ops_bound = std::net::TcpStream::connect(("127.0.0.1", file_ops)).is_ok();
    let gateway_bound = std::net::TcpStream::connect(("127.0.0.1", gw)).is_ok();
    let _ = child.kill();
    let output = child.wait_with_output().unwrap();
    assert!(
        ready,
        "gantry up did not start from {file}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(gateway_bound, "the file's gateway-port is used");
    assert!(!file_ops_bound, "--ops-port wins over the file's ops-port");
    assert!(
        data.join("gantry.db").exists(),
        "the file's data_dir is used"
    );
}
