//! Loading, precedence and checking of the three process kinds' configurations: every error
//! names the key as written and the layer it came from.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use super::*;
use crate::Command;

fn parse_args(list: &[&str]) -> Result<(Cli, Layers), ConfigError> {
    match parse(list.iter().map(OsString::from).collect()) {
        Ok(parsed) => Ok(parsed),
        Err(ParseError::Config(e)) => Err(e),
        Err(ParseError::Clap(e)) => panic!("clap refused {list:?}: {e}"),
    }
}

fn up(list: &[&str]) -> Result<UpConfig, ConfigError> {
    let (cli, layers) = parse_args(&[&["gantry", "up"], list].concat())?;
    let Command::Up(args) = cli.command else {
        unreachable!()
    };
    up::load(args, &layers)
}

fn gateway(list: &[&str]) -> Result<GatewayConfig, ConfigError> {
    let mut argv = vec!["gantry", "gateway"];
    for (flag, value) in [
        ("--environment", "dp-prod-a"),
        ("--control-plane", "https://cp.example:9443"),
        ("--token", "t0ken"),
    ] {
        if !list.contains(&flag) {
            argv.extend([flag, value]);
        }
    }
    let (cli, layers) = parse_args(&[&argv[..], list].concat())?;
    let Command::Gateway(args) = cli.command else {
        unreachable!()
    };
    gateway::load(args, &layers)
}

fn control_plane(list: &[&str]) -> Result<ControlPlaneConfig, ConfigError> {
    let (cli, layers) = parse_args(&[&["gantry", "control-plane"], list].concat())?;
    let Command::ControlPlane(args) = cli.command else {
        unreachable!()
    };
    control_plane::load(args, &layers)
}

fn toml_file(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("gantry.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// The error's key as written and its origin (for `Invalid`).
fn named(e: &ConfigError) -> (&str, &Origin) {
    match e {
        ConfigError::Invalid { key, origin, .. } => (key, origin),
        other => panic!("expected a wrong value, got {other:?}"),
    }
}

#[test]
fn defaults_load_into_a_typed_config() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = up(&["--data-dir", data.to_str().unwrap()]).unwrap();
    assert_eq!(
        (
            config.control_plane_port,
            config.gateway_port,
            config.ops_port
        ),
        (9443, 9090, 9000)
    );
    assert_eq!(config.issuer, "https://localhost:9443/oauth2/token");
    assert_eq!(config.tls_reload, Some(std::time::Duration::from_secs(10)));
    assert!(config.demo && config.self_signup);
    assert!(!data.exists(), "loading creates nothing");
}

#[test]
fn a_bad_flag_is_named_as_a_flag_from_the_command_line() {
    let e = up(&["--gateway-port", "0"]).unwrap_err();
    assert_eq!(named(&e), ("--gateway-port", &Origin::CommandLine));
    assert_eq!(
        e.to_string(),
        "--gateway-port (command line): must be a port number between 1 and 65535"
    );
}

#[test]
fn a_value_that_does_not_parse_is_a_config_error_naming_the_flag() {
    let e = up(&["--ops-port", "70000"]).unwrap_err();
    assert_eq!(named(&e), ("--ops-port", &Origin::CommandLine));
    assert!(e.to_string().contains("'70000'"), "{e}");
}

#[test]
fn a_bad_file_value_is_named_as_the_file_spells_it_with_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = toml_file(dir.path(), "gateway_port = 0\n");
    let e = up(&["--config", file.to_str().unwrap()]).unwrap_err();
    assert_eq!(named(&e), ("gateway_port", &Origin::File(file.clone())));
    let message = e.to_string();
    assert!(
        message.starts_with(&format!(
            "gateway_port (config file {}, --gateway-port): ",
            file.display()
        )),
        "{message}"
    );

    let file = toml_file(dir.path(), "ops-port = \"nine thousand\"\n");
    let e = up(&["--config", file.to_str().unwrap()]).unwrap_err();
    assert_eq!(named(&e), ("ops-port", &Origin::File(file)));
}

#[test]
fn the_command_line_wins_over_the_file_and_the_file_over_the_default() {
    let dir = tempfile::tempdir().unwrap();
    let file = toml_file(
        dir.path(),
        "gateway-port = 0\nops_port = 9100\nhostname = \"gw.example\"\n",
    );
    let config = up(&["--config", file.to_str().unwrap(), "--gateway-port", "9190"]).unwrap();
    assert_eq!(config.gateway_port, 9190, "the flag wins over the file's 0");
    assert_eq!(config.ops_port, 9100, "the file wins over the default");
    assert_eq!(config.issuer, "https://gw.example:9443/oauth2/token");
}

#[test]
fn a_value_from_the_environment_is_named_by_its_variable() {
    // The environment is the process's; the layers record what clap saw there.
    let (cli, _) = parse_args(&["gantry", "up", "--gateway-port", "9000"]).unwrap();
    let layers = Layers::default().with("gateway-port", "GANTRY_GATEWAY_PORT", Origin::Environment);
    let Command::Up(args) = cli.command else {
        unreachable!()
    };
    let e = up::load(args, &layers).unwrap_err();
    assert_eq!(
        e.to_string(),
        "--ops-port (default): port 9000 is already used by GANTRY_GATEWAY_PORT (environment)"
    );
}

#[test]
fn ports_must_be_distinct_and_the_error_names_both() {
    let e = up(&["--control-plane-port", "9090"]).unwrap_err();
    assert_eq!(named(&e), ("--gateway-port", &Origin::Default));
    assert!(
        e.to_string()
            .contains("already used by --control-plane-port (command line)"),
        "{e}"
    );
    // The demo backend's port only counts when the demo runs.
    assert!(up(&["--gateway-port", "9091"]).is_err());
    assert!(up(&["--gateway-port", "9091", "--no-demo"]).is_ok());
    let e = gateway(&["--https-port", "9000"]).unwrap_err();
    assert_eq!(
        e.to_string(),
        "--ops-port (default): port 9000 is already used by --https-port (command line)"
    );
}

#[test]
fn unknown_file_keys_are_refused_naming_the_key_and_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = toml_file(dir.path(), "gateway-prot = 9090\n");
    let e = up(&["--config", file.to_str().unwrap()]).unwrap_err();
    assert!(
        matches!(&e, ConfigError::UnknownKey { key, path, command }
            if key == "gateway-prot" && *path == file && command == "up"),
        "{e:?}"
    );
    // A key of another process kind is unknown here too.
    let file = toml_file(dir.path(), "database-url = \"sqlite://x\"\n");
    assert!(matches!(
        up(&["--config", file.to_str().unwrap()]),
        Err(ConfigError::UnknownKey { .. })
    ));
}

#[test]
fn a_file_that_is_not_toml_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let file = toml_file(dir.path(), "gateway-port = \n");
    let e = up(&["--config", file.to_str().unwrap()]).unwrap_err();
    assert!(
        matches!(&e, ConfigError::File { path, .. } if *path == file),
        "{e:?}"
    );
}

#[test]
fn host_names_and_urls_are_checked() {
    let e = up(&["--hostname", "https://example.com"]).unwrap_err();
    assert_eq!(named(&e).0, "--hostname");
    let e = gateway(&["--control-plane", "cp.example:9443"]).unwrap_err();
    assert_eq!(named(&e).0, "--control-plane");
    let e = control_plane(&["--database-url", "mysql://db/x"]).unwrap_err();
    assert_eq!(named(&e).0, "--database-url");
    let e = control_plane(&[
        "--database-url",
        "sqlite://x.db",
        "--issuer-base-url",
        "keymgr.example.com",
    ])
    .unwrap_err();
    assert_eq!(named(&e).0, "--issuer-base-url");
    let e = control_plane(&[
        "--database-url",
        "sqlite://x.db",
        "--gateway-url",
        "gateway:9090",
    ])
    .unwrap_err();
    assert_eq!(named(&e).0, "--gateway-url");
    let config = control_plane(&[
        "--database-url",
        "sqlite://x.db",
        "--issuer-base-url",
        "https://keymgr.example.com/",
    ])
    .unwrap();
    assert_eq!(config.issuer, "https://keymgr.example.com/oauth2/token");
}

#[test]
fn files_that_must_exist_are_checked_at_load() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.pem");
    let missing = missing.to_str().unwrap();
    let present = toml_file(dir.path(), "");
    let present = present.to_str().unwrap();
    let e = up(&["--tls-cert", missing, "--tls-key", present]).unwrap_err();
    assert_eq!(named(&e).0, "--tls-cert");
    let e = gateway(&["--control-plane-ca", missing]).unwrap_err();
    assert_eq!(named(&e).0, "--control-plane-ca");
    let e = gateway(&["--backend-jwt-key", present]).unwrap_err();
    assert_eq!(
        named(&e).0,
        "--backend-jwt-key",
        "an empty file holds no key"
    );
    let e = up(&["--key-encryption-key-file", missing]).unwrap_err();
    assert_eq!(named(&e).0, "--key-encryption-key-file");
    let e = up(&["--upstream-ca", missing]).unwrap_err();
    assert_eq!(named(&e).0, "--upstream-ca");
    let e =
        control_plane(&["--database-url", "sqlite://x.db", "--client-ca", missing]).unwrap_err();
    assert_eq!(named(&e).0, "--client-ca");
}

#[test]
fn listener_limits_and_key_manager_are_checked_in_the_same_pass() {
    let e = gateway(&["--max-request-header-bytes", "100"]).unwrap_err();
    assert_eq!(named(&e).0, "--max-request-header-bytes");
    let e = up(&["--max-connections", "0"]).unwrap_err();
    assert_eq!(named(&e).0, "--max-connections");
    let e = up(&["--signing-algorithm", "HS256"]).unwrap_err();
    assert_eq!(named(&e).0, "--signing-algorithm");
    let e = up(&["--key-rotation-period-secs", "1"]).unwrap_err();
    assert_eq!(named(&e).0, "--key-rotation-period-secs");
}

#[test]
fn durations_are_bounded_so_no_clock_arithmetic_overflows() {
    let e = gateway(&["--shutdown-grace-secs", &u64::MAX.to_string()]).unwrap_err();
    assert_eq!(named(&e).0, "--shutdown-grace-secs");
    let e = up(&["--send-timeout-secs", "315360001"]).unwrap_err();
    assert_eq!(named(&e).0, "--send-timeout-secs");
    let config = up(&["--send-timeout-secs", "0", "--tls-reload-secs", "0"]).unwrap();
    assert_eq!(config.limits.listener.send_timeout, None, "0 is off");
    assert_eq!(config.tls_reload, None, "0 is never");
}

#[test]
fn gateway_https_needs_a_certificate_and_sni_entries_are_parsed() {
    let e = gateway(&["--https-port", "9443"]).unwrap_err();
    assert_eq!(named(&e).0, "--https-port");
    let dir = tempfile::tempdir().unwrap();
    let pem = toml_file(dir.path(), "");
    let pem = pem.to_str().unwrap();
    let e = gateway(&[
        "--tls-cert",
        pem,
        "--tls-key",
        pem,
        "--tls-sni",
        "api.example.com",
    ])
    .unwrap_err();
    assert_eq!(named(&e).0, "--tls-sni");
    let sni = format!("api.example.com={pem},{pem}");
    let config = gateway(&["--tls-cert", pem, "--tls-key", pem, "--tls-sni", &sni]).unwrap();
    let certificates = config.certificates.unwrap();
    assert_eq!(certificates.by_host[0].0, "api.example.com");
}

#[test]
fn a_redis_url_that_is_not_one_is_refused_at_load() {
    let e = gateway(&["--redis-url", "http://redis:6379"]).unwrap_err();
    assert_eq!(named(&e).0, "--redis-url");
    assert!(gateway(&["--redis-url", "redis://redis:6379"]).is_ok());
}

#[test]
fn a_missing_required_setting_names_every_way_to_give_it() {
    let e = parse_args(&["gantry", "gateway", "--token", "x", "--environment", "e"]).unwrap_err();
    let ConfigError::Missing { key, .. } = &e else {
        panic!("{e:?}")
    };
    assert_eq!(key, "--control-plane (or GANTRY_CONTROL_PLANE)");
    assert!(
        e.to_string()
            .contains("`control-plane` in the --config file"),
        "{e}"
    );
}

#[test]
fn on_postgresql_a_shared_key_encryption_key_is_required_before_connecting() {
    let dir = tempfile::tempdir().unwrap();
    let e = control_plane(&[
        "--database-url",
        "postgres://postgres@127.0.0.1:1/none",
        "--data-dir",
        dir.path().to_str().unwrap(),
    ])
    .unwrap_err();
    assert!(
        matches!(&e, ConfigError::Missing { key, .. } if key.starts_with("GANTRY_KEY_ENCRYPTION_KEY"))
    );
    assert!(e.to_string().contains("PostgreSQL"), "{e}");
}

#[test]
fn workflow_types_come_from_a_list_and_unknown_ones_are_named_with_their_key() {
    use gantry_control_plane::service::workflows::WorkflowType;
    let dir = tempfile::tempdir().unwrap();
    let file = toml_file(
        dir.path(),
        "workflows = [\"AM_API_STATE\", \"am_subscription_creation\"]\n",
    );
    let config = up(&["--config", file.to_str().unwrap()]).unwrap();
    assert_eq!(
        config.workflows.enabled(),
        [WorkflowType::SubscriptionCreation, WorkflowType::ApiState]
    );
    assert!(!config.workflows.requires(WorkflowType::UserSignup));
    let config = control_plane(&[
        "--database-url",
        "sqlite://x.db",
        "--workflows",
        "AM_USER_SIGNUP, AM_REVISION_DEPLOYMENT",
    ])
    .unwrap();
    assert!(config.workflows.requires(WorkflowType::RevisionDeployment));

    let file = toml_file(
        dir.path(),
        "workflows = \"AM_API_STATE,AM_APPLICATION_DELETION\"\n",
    );
    let e = up(&["--config", file.to_str().unwrap()]).unwrap_err();
    assert_eq!(named(&e), ("workflows", &Origin::File(file)));
    assert!(e.to_string().contains("'AM_APPLICATION_DELETION'"), "{e}");

    let e = up(&[
        "--workflows",
        "AM_API_STATE",
        "--workflow-webhooks",
        "AM_USER_SIGNUP=https://tickets.example/hook",
    ])
    .unwrap_err();
    assert_eq!(named(&e), ("--workflow-webhooks", &Origin::CommandLine));
    assert!(e.to_string().contains("does not need approval"), "{e}");
    let e = up(&[
        "--workflows",
        "AM_API_STATE",
        "--workflow-webhooks",
        "AM_API_STATE=ftp://tickets.example/hook",
    ])
    .unwrap_err();
    assert_eq!(named(&e), ("--workflow-webhooks", &Origin::CommandLine));
}
