//! `gantry ctl` run as a CI job runs it: the real binary with its own temporary HOME and
//! XDG_CONFIG_HOME, against a real `gantry up`, checked by exit code, stdout and stderr,
//! and by what the gateway then serves.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use gantry_control_plane::project::ProjectFiles;
use gantry_testkit::GantryUp;
use gantry_testkit::echo::EchoUpstream;
use gantry_testkit::process::{ADMIN_PASSWORD, free_port};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_gantry");

/// A CI job's shell: its own HOME and config directory.
struct Job {
    home: tempfile::TempDir,
}

/// What a `gantry ctl` run left.
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Job {
    fn new() -> Self {
        Self {
            home: tempfile::tempdir().unwrap(),
        }
    }

    fn config_dir(&self) -> PathBuf {
        self.home.path().join("config").join("gantry")
    }

    fn ctl_with_stdin(&self, args: &[&str], stdin: &str) -> Run {
        let mut child = Command::new(BIN)
            .arg("ctl")
            .args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.home.path())
            .env("XDG_CONFIG_HOME", self.home.path().join("config"))
            .current_dir(self.home.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        let output = child.wait_with_output().unwrap();
        Run {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    fn ctl(&self, args: &[&str]) -> Run {
        self.ctl_with_stdin(args, "")
    }

    /// Runs and expects exit 0; stdout.
    fn ok(&self, args: &[&str]) -> String {
        let run = self.ctl(args);
        assert_eq!(
            run.code, 0,
            "gantry ctl {args:?} failed:\n{}\n{}",
            run.stdout, run.stderr
        );
        run.stdout
    }

    /// Adds `dev` for `up` (trusting its CA) and logs in as admin.
    fn login(&self, up: &GantryUp) {
        self.login_env("dev", up);
    }

    /// Adds `env` for `up` (trusting its CA) and logs in as admin.
    fn login_env(&self, env: &str, up: &GantryUp) {
        let ca = up.data_dir().join("tls").join("ca.pem");
        let apim = format!("https://127.0.0.1:{}", up.cp_port);
        self.ok(&[
            "add",
            "env",
            env,
            "--apim",
            &apim,
            "--ca-cert",
            ca.to_str().unwrap(),
        ]);
        let run = self.ctl_with_stdin(
            &["login", env, "-u", "admin", "--password-stdin"],
            &format!("{ADMIN_PASSWORD}\n"),
        );
        assert_eq!(run.code, 0, "{}", run.stderr);
        assert!(
            run.stdout
                .contains(&format!("Logged in to '{env}' as admin")),
            "{}",
            run.stdout
        );
    }
}

/// A project folder `dir/name` as WSO2 lays it out, served by `upstream`, deployed to Default.
fn write_project(dir: &Path, name: &str, context: &str, upstream: &str, targets: &[&str]) {
    let project = dir.join(name);
    std::fs::create_dir_all(&project).unwrap();
    let operations: String = targets
        .iter()
        .map(|t| format!("    - target: {t}\n      verb: GET\n      authType: None\n"))
        .collect();
    std::fs::write(
        project.join("api.yaml"),
        format!(
            "type: api\nversion: v4.7.0\ndata:\n  name: {name}\n  context: {context}\n  version: 1.0.0\n  lifeCycleStatus: PUBLISHED\n  endpointConfig:\n    endpoint_type: http\n    production_endpoints:\n      url: {upstream}\n  operations:\n{operations}"
        ),
    )
    .unwrap();
    std::fs::write(
        project.join("deployment_environments.yaml"),
        "type: deployment_environments\nversion: v4.7.0\ndata:\n  - deploymentEnvironment: Default\n    deploymentVhost: localhost\n    displayOnDevportal: true\n",
    )
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ci_job_applies_a_folder_twice_promotes_and_cleans_up() {
    let upstream = EchoUpstream::start().await;
    let up = GantryUp::start(BIN).await;
    let job = Job::new();
    job.login(&up);

    // The session is private and holds no password.
    let dir = job.config_dir();
    assert_eq!(
        std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777,
        0o700
    );
    for file in ["envs.json", "sessions.json"] {
        let mode = std::fs::metadata(dir.join(file))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{file}");
    }
    let sessions = std::fs::read_to_string(dir.join("sessions.json")).unwrap();
    assert!(!sessions.contains(ADMIN_PASSWORD));
    assert!(sessions.contains("accessToken"));

    // apply: created and served; a second apply changes nothing and says so.
    let apis = job.home.path().join("apis");
    write_project(&apis, "Orders", "/orders", &upstream.url(), &["/list"]);
    write_project(&apis, "Stock", "/stock", &upstream.url(), &["/level"]);
    let first = job.ok(&["apply", "-f", apis.to_str().unwrap(), "-e", "dev"]);
    assert!(first.contains("created    Orders 1.0.0"), "{first}");
    assert!(
        first.contains("Applied: 2 created, 0 updated, 0 deleted, 0 unchanged."),
        "{first}"
    );
    assert!(up.eventually_gw_status("/orders/1.0.0/list", "", 200).await);
    assert!(up.eventually_gw_status("/stock/1.0.0/level", "", 200).await);
    let second = job.ok(&["apply", "-f", apis.to_str().unwrap(), "-e", "dev"]);
    assert!(
        second.contains("Nothing to change: 2 API(s) up to date."),
        "{second}"
    );
    let (_, revisions) = up
        .rest()
        .get("/api/am/publisher/v4/apis?query=name:Orders")
        .await;
    let orders_id = revisions["list"][0]["id"].as_str().unwrap().to_owned();
    let (_, revisions) = up
        .rest()
        .get(&format!("/api/am/publisher/v4/apis/{orders_id}/revisions"))
        .await;
    assert_eq!(revisions["count"], 1, "the no-op apply made no revision");

    // A changed project: a dry run names the change and changes nothing; then updated, a new
    // revision deployed, the new resource served.
    write_project(
        &apis,
        "Orders",
        "/orders",
        &upstream.url(),
        &["/list", "/recent"],
    );
    let dry = job.ok(&[
        "apply",
        "-f",
        apis.to_str().unwrap(),
        "-e",
        "dev",
        "--dry-run",
    ]);
    assert!(dry.contains("would be updated    Orders 1.0.0"), "{dry}");
    assert!(dry.contains("data.operations"), "{dry}");
    assert!(
        dry.contains("Dry run: 0 created, 1 updated, 0 deleted, 1 unchanged."),
        "{dry}"
    );
    assert!(
        up.eventually_gw_status("/orders/1.0.0/recent", "", 404)
            .await
    );
    // `diff` is the same dry run, with the routes the gateways would add.
    let diff = job.ok(&["diff", "-f", apis.to_str().unwrap(), "-e", "dev"]);
    assert!(diff.contains("routes on Default:"), "{diff}");
    assert!(diff.contains("+ GET /orders/1.0.0/recent (None)"), "{diff}");
    let third = job.ok(&[
        "apply",
        "-f",
        apis.to_str().unwrap(),
        "-e",
        "dev",
        "-o",
        "json",
    ]);
    let summary: Value = serde_json::from_str(&third).unwrap();
    assert_eq!(
        summary["updated"],
        serde_json::json!(["Orders 1.0.0"]),
        "{third}"
    );
    assert_eq!(
        summary["unchanged"],
        serde_json::json!(["Stock 1.0.0"]),
        "{third}"
    );
    assert!(
        up.eventually_gw_status("/orders/1.0.0/recent", "", 200)
            .await
    );

    // --prune deletes what the folder no longer has.
    std::fs::remove_dir_all(apis.join("Stock")).unwrap();
    let pruned = job.ok(&[
        "apply",
        "-f",
        apis.to_str().unwrap(),
        "-e",
        "dev",
        "--prune",
    ]);
    assert!(pruned.contains("deleted    Stock 1.0.0"), "{pruned}");
    assert!(up.eventually_gw_status("/stock/1.0.0/level", "", 404).await);

    // get, as tables and as JSON.
    let table = job.ok(&["get", "apis", "-e", "dev"]);
    assert!(table.starts_with("ID"), "{table}");
    assert!(
        table.contains("Orders") && !table.contains("Stock"),
        "{table}"
    );
    let listed: Value =
        serde_json::from_str(&job.ok(&["get", "apis", "-e", "dev", "-o", "json"])).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(listed[0]["lifeCycleStatus"], "PUBLISHED");
    let revisions = job.ok(&[
        "get",
        "revisions",
        "-e",
        "dev",
        "-n",
        "Orders",
        "-v",
        "1.0.0",
    ]);
    assert!(
        revisions.contains("Revision 2") && revisions.contains("Default@localhost"),
        "{revisions}"
    );

    // undeploy / deploy a revision by number.
    job.ok(&[
        "undeploy", "api", "-e", "dev", "-n", "Orders", "-v", "1.0.0", "--rev", "2", "-g",
        "Default",
    ]);
    assert!(up.eventually_gw_status("/orders/1.0.0/list", "", 404).await);
    job.ok(&[
        "deploy", "api", "-e", "dev", "-n", "Orders", "-v", "1.0.0", "--rev", "1", "-g", "Default",
    ]);
    assert!(up.eventually_gw_status("/orders/1.0.0/list", "", 200).await);
    assert!(
        up.eventually_gw_status("/orders/1.0.0/recent", "", 404)
            .await,
        "revision 1 has no /recent"
    );

    // export writes WSO2's project; change-status; delete.
    job.ok(&["export", "api", "-e", "dev", "-n", "Orders", "-v", "1.0.0"]);
    let zip = std::fs::read(job.home.path().join("Orders_1.0.0.zip")).unwrap();
    let exported = ProjectFiles::from_zip(&zip).unwrap();
    assert_eq!(exported.root.as_deref(), Some("Orders-1.0.0"));
    assert!(exported.files.contains_key("api.yaml"));
    let changed = job.ok(&[
        "change-status",
        "api",
        "-e",
        "dev",
        "-a",
        "Deprecate",
        "-n",
        "Orders",
        "-v",
        "1.0.0",
    ]);
    assert!(changed.contains("DEPRECATED"), "{changed}");
    job.ok(&["delete", "api", "-e", "dev", "-n", "Orders", "-v", "1.0.0"]);
    let empty: Value =
        serde_json::from_str(&job.ok(&["get", "apis", "-e", "dev", "-o", "json"])).unwrap();
    assert_eq!(empty, serde_json::json!([]));

    // The exported zip imports again.
    let imported = job.ok(&["import", "api", "-e", "dev", "-f", "Orders_1.0.0.zip"]);
    assert!(
        imported.contains("API imported successfully.: Orders 1.0.0 (created)"),
        "{imported}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_import_exits_non_zero_with_the_reason_on_stderr() {
    let up = GantryUp::start(BIN).await;
    let job = Job::new();
    job.login(&up);
    let broken = job.home.path().join("Broken");
    std::fs::create_dir_all(&broken).unwrap();
    std::fs::write(
        broken.join("api.yaml"),
        "type: api\nversion: v4.7.0\ndata:\n  name: Broken\n  version: 1.0.0\n",
    )
    .unwrap();
    let run = job.ctl(&["import", "api", "-e", "dev", "-f", broken.to_str().unwrap()]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(
        run.stderr.contains("400 Bad Request: context: is required"),
        "{}",
        run.stderr
    );
    assert!(run.stdout.is_empty(), "{}", run.stdout);

    // An existing API without --update: refused, with the server's reason.
    let good = job.home.path().join("Good");
    write_project(
        job.home.path(),
        "Good",
        "/good",
        "http://127.0.0.1:9",
        &["/x"],
    );
    job.ok(&["import", "api", "-e", "dev", "-f", good.to_str().unwrap()]);
    let run = job.ctl(&["import", "api", "-e", "dev", "-f", good.to_str().unwrap()]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains("409 Conflict") && run.stderr.contains("already exists"),
        "{}",
        run.stderr
    );
    job.ok(&[
        "import",
        "api",
        "-e",
        "dev",
        "-f",
        good.to_str().unwrap(),
        "--update",
    ]);

    // Missing files are local failures (1), too.
    let run = job.ctl(&["import", "api", "-e", "dev", "-f", "no-such-project"]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("no-such-project"), "{}", run.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exit_codes_tls_trust_and_token_refresh() {
    let up = GantryUp::start(BIN).await;
    let job = Job::new();

    // Usage errors are clap's: exit 2.
    assert_eq!(job.ctl(&["get"]).code, 2);
    assert_eq!(job.ctl(&["import", "api", "-e", "dev"]).code, 2);
    // Not added / not logged in: 1, saying what to do.
    let run = job.ctl(&["get", "apis", "-e", "dev"]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains("gantry ctl add env dev"),
        "{}",
        run.stderr
    );

    // Nothing listening: 3.
    let closed = format!("https://127.0.0.1:{}", free_port());
    job.ok(&["add", "env", "gone", "--apim", &closed]);
    let run = job.ctl_with_stdin(&["login", "gone", "-u", "admin", "--password-stdin"], "x\n");
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(run.stderr.contains("cannot reach"), "{}", run.stderr);

    // A self-signed control plane is refused unless its CA is trusted or --insecure given.
    let apim = format!("https://127.0.0.1:{}", up.cp_port);
    job.ok(&["add", "env", "selfsigned", "--apim", &apim]);
    let password = format!("{ADMIN_PASSWORD}\n");
    let run = job.ctl_with_stdin(
        &["login", "selfsigned", "-u", "admin", "--password-stdin"],
        &password,
    );
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(run.stderr.contains("--ca-cert"), "{}", run.stderr);
    let run = job.ctl_with_stdin(
        &[
            "login",
            "selfsigned",
            "-u",
            "admin",
            "--password-stdin",
            "--insecure",
        ],
        &password,
    );
    assert_eq!(run.code, 0, "{}", run.stderr);

    // A wrong password: the server's refusal, exit 1.
    let run = job.ctl_with_stdin(
        &[
            "login",
            "selfsigned",
            "-u",
            "admin",
            "--password-stdin",
            "-k",
        ],
        "wrong\n",
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("401"), "{}", run.stderr);

    // An expired access token is refreshed with the refresh token, and the new one saved.
    job.login(&up);
    let file = job.config_dir().join("sessions.json");
    let mut sessions: Value =
        serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    let old = sessions["sessions"]["dev"]["accessToken"].clone();
    sessions["sessions"]["dev"]["expiresAt"] = 0.into();
    std::fs::write(&file, sessions.to_string()).unwrap();
    job.ok(&["get", "apis", "-e", "dev"]);
    let saved: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_ne!(saved["sessions"]["dev"]["accessToken"], old);
    assert!(saved["sessions"]["dev"]["expiresAt"].as_u64().unwrap() > 0);
    let mode = std::fs::metadata(&file).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);

    // Logging in again reuses the client registered at the first login: its secret is not
    // regenerated, so the earlier session's refresh token still works.
    let first = saved["sessions"]["dev"].clone();
    let run = job.ctl_with_stdin(
        &["login", "dev", "-u", "admin", "--password-stdin"],
        &format!("{ADMIN_PASSWORD}\n"),
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let again: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(again["sessions"]["dev"]["clientId"], first["clientId"]);
    assert_eq!(
        again["sessions"]["dev"]["clientSecret"],
        first["clientSecret"]
    );
    let refreshed = up
        .cp_client()
        .post(up.cp_url("/oauth2/token"))
        .basic_auth(
            first["clientId"].as_str().unwrap(),
            first["clientSecret"].as_str(),
        )
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "grant_type=refresh_token&refresh_token={}",
            first["refreshToken"].as_str().unwrap()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(refreshed.status(), 200);

    // logout forgets the session.
    job.ok(&["logout", "dev"]);
    let run = job.ctl(&["get", "apis", "-e", "dev"]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("not logged in"), "{}", run.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ci_job_promotes_a_product_an_application_and_a_policy_to_another_installation() {
    let upstream = EchoUpstream::start().await;
    let dev = GantryUp::start(BIN).await;
    let prod = GantryUp::start(BIN).await;
    let job = Job::new();
    job.login_env("dev", &dev);
    job.login_env("prod", &prod);
    let rest = dev.rest();

    // On dev: a tier, an API offering it, a product of it, an application subscribed.
    let (status, body) = rest
        .post(
            "/api/am/admin/v4/throttling/policies/subscription",
            serde_json::json!({"policyName": "Copper", "defaultLimit": {"type": "REQUESTCOUNTLIMIT",
                "requestCount": {"timeUnit": "min", "unitTime": 1, "requestCount": 300}}}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let api = rest
        .deployed_api(
            "Menu",
            "/menu",
            &upstream.url(),
            serde_json::json!([{"target": "/dishes", "verb": "GET", "authType": "None"}]),
        )
        .await;
    let (status, product) = rest
        .post(
            "/api/am/publisher/v4/api-products",
            serde_json::json!({"name": "Lunch", "context": "lunch", "version": "2.0.0",
                "apis": [{"apiId": api, "operations": [{"target": "/dishes", "verb": "GET"}]}]}),
        )
        .await;
    assert_eq!(status, 201, "{product}");
    let app = rest.application("Kiosk").await;
    rest.subscribe(&app, &api, "Gold").await;

    let listed = job.ok(&["get", "api-products", "-e", "dev"]);
    assert!(
        listed.contains("Lunch") && listed.contains("2.0.0"),
        "{listed}"
    );
    let listed = job.ok(&["get", "policies", "-e", "dev", "-t", "sub", "-o", "json"]);
    let policies: Value = serde_json::from_str(&listed).unwrap();
    assert!(
        policies
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["policyName"] == "Copper" && p["kind"] == "sub"),
        "{listed}"
    );

    let out = job.home.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    let dest = out.to_str().unwrap();
    job.ok(&[
        "export",
        "policy",
        "rate-limiting",
        "-e",
        "dev",
        "-n",
        "Copper",
        "-t",
        "sub",
        "--destination",
        dest,
    ]);
    job.ok(&[
        "export",
        "api-product",
        "-e",
        "dev",
        "-n",
        "Lunch",
        "-v",
        "2.0.0",
        "--destination",
        dest,
    ]);
    job.ok(&[
        "export",
        "app",
        "-e",
        "dev",
        "-n",
        "Kiosk",
        "--with-keys",
        "--destination",
        dest,
    ]);
    let policy = out.join("Copper.yaml");
    let product = out.join("Lunch_2.0.0.zip");
    let application = out.join("admin_Kiosk.zip");
    for file in [&policy, &product, &application] {
        assert!(file.is_file(), "{} missing", file.display());
    }

    // The wrong kind of project fails the job with the server's reason.
    let run = job.ctl(&[
        "import",
        "app",
        "-e",
        "prod",
        "-f",
        product.to_str().unwrap(),
    ]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(run.stderr.contains("application.yaml"), "{}", run.stderr);
    // The product before its API exists on prod: refused, naming the API.
    let run = job.ctl(&[
        "import",
        "api-product",
        "-e",
        "prod",
        "-f",
        product.to_str().unwrap(),
    ]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains("404") && run.stderr.contains("'Menu'"),
        "{}",
        run.stderr
    );

    let done = job.ok(&[
        "import",
        "policy",
        "rate-limiting",
        "-e",
        "prod",
        "-f",
        policy.to_str().unwrap(),
    ]);
    assert!(done.contains("created"), "{done}");
    let done = job.ok(&[
        "import",
        "api-product",
        "-e",
        "prod",
        "-f",
        product.to_str().unwrap(),
        "--import-apis",
    ]);
    assert!(
        done.contains("Lunch 2.0.0 (created)") && done.contains("API Menu 1.0.0: created"),
        "{done}"
    );
    let done = job.ok(&[
        "import",
        "app",
        "-e",
        "prod",
        "-f",
        application.to_str().unwrap(),
        "--preserve-owner",
    ]);
    assert!(
        done.contains("Kiosk of admin") && done.contains("(1 subscriptions)"),
        "{done}"
    );
    assert!(
        prod.eventually_gw_status("/menu/1.0.0/dishes", "", 200)
            .await
    );

    // A second run of the same job: refused without --update, accepted with it.
    let run = job.ctl(&[
        "import",
        "policy",
        "-e",
        "prod",
        "-f",
        policy.to_str().unwrap(),
    ]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("409 Conflict"), "{}", run.stderr);
    job.ok(&[
        "import",
        "policy",
        "-e",
        "prod",
        "-f",
        policy.to_str().unwrap(),
        "--update",
    ]);
    job.ok(&[
        "import",
        "api-product",
        "-e",
        "prod",
        "-f",
        product.to_str().unwrap(),
        "--update-api-product",
    ]);
    job.ok(&[
        "import",
        "app",
        "-e",
        "prod",
        "-f",
        application.to_str().unwrap(),
        "--update",
    ]);
    let listed = job.ok(&["get", "api-products", "-e", "prod", "-o", "json"]);
    let products: Value = serde_json::from_str(&listed).unwrap();
    assert_eq!(products.as_array().unwrap().len(), 1, "{listed}");
    let listed = job.ok(&["get", "apps", "-e", "prod"]);
    assert!(listed.contains("Kiosk"), "{listed}");
}
