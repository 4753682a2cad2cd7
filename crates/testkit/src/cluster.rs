//! Separate `gantry control-plane` and `gantry gateway` processes for distribution tests,
//! plus a fresh PostgreSQL database per test.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use sqlx::Connection;

use crate::free_port;
use crate::process::ADMIN_PASSWORD;

const ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// A PostgreSQL database made for one test; dropped by [`TestDatabase::drop_now`].
pub struct TestDatabase {
    /// Its URL.
    pub url: String,
    name: String,
    admin_url: String,
}

impl TestDatabase {
    /// Creates a fresh database, or returns `None` (loudly) when PostgreSQL is unreachable
    /// outside CI. Under `CI=true` an unreachable PostgreSQL fails the test.
    pub async fn create() -> Option<Self> {
        let admin_url =
            std::env::var("GANTRY_TEST_DATABASE_URL").unwrap_or_else(|_| ADMIN_URL.to_owned());
        let mut admin = match sqlx::PgConnection::connect(&admin_url).await {
            Ok(c) => c,
            Err(e) => {
                assert!(
                    !std::env::var("CI").is_ok_and(|v| v == "true"),
                    "PostgreSQL at {admin_url} is unreachable under CI=true: {e}"
                );
                eprintln!("\n*** SKIPPING: PostgreSQL at {admin_url} is unreachable ({e}) ***\n");
                return None;
            }
        };
        let name = format!("gantry_e2e_{}", std::process::id()) + &format!("_{}", free_port());
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await
            .expect("create database");
        let base = admin_url
            .rsplit_once('/')
            .map(|(b, _)| b.to_owned())
            .unwrap_or_default();
        Some(Self {
            url: format!("{base}/{name}"),
            name,
            admin_url,
        })
    }

    /// The port PostgreSQL listens on (where a [`crate::chaos::ChaosProxy`] forwards to).
    pub fn port(&self) -> u16 {
        self.url
            .rsplit_once('/')
            .and_then(|(base, _)| base.rsplit_once(':'))
            .and_then(|(_, port)| port.parse().ok())
            .unwrap_or(5432)
    }

    /// This database's URL through a proxy on 127.0.0.1:`port`.
    pub fn url_through(&self, port: u16) -> String {
        let (base, name) = self.url.rsplit_once('/').unwrap_or_default();
        let credentials = base
            .split_once("://")
            .map(|(_, rest)| rest)
            .and_then(|rest| rest.rsplit_once('@'))
            .map(|(credentials, _)| format!("{credentials}@"))
            .unwrap_or_default();
        format!("postgres://{credentials}127.0.0.1:{port}/{name}")
    }

    /// Drops the database (forcing connections closed).
    pub async fn drop_now(self) {
        if let Ok(mut admin) = sqlx::PgConnection::connect(&self.admin_url).await {
            let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            )))
            .execute(&mut admin)
            .await;
        }
    }
}

fn stop_child(child: &mut Option<Child>, signal: &str) {
    if let Some(mut c) = child.take() {
        let _ = Command::new("kill")
            .args([signal, &c.id().to_string()])
            .status();
        let deadline = std::time::Instant::now() + Duration::from_secs(15);
        while std::time::Instant::now() < deadline {
            if let Ok(Some(_)) = c.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = c.kill();
        let _ = c.wait();
    }
}

/// A `gantry control-plane` process.
pub struct ControlPlaneProcess {
    binary: PathBuf,
    /// HTTPS port.
    pub port: u16,
    database_url: String,
    data_dir: PathBuf,
    tls: Option<(PathBuf, PathBuf)>,
    extra_args: Vec<String>,
    child: Option<Child>,
}

impl ControlPlaneProcess {
    /// Like [`ControlPlaneProcess::start`], with extra command-line arguments.
    pub async fn start_with_args(
        binary: &str,
        database_url: &str,
        data_dir: &Path,
        extra_args: &[&str],
    ) -> Self {
        let mut cp = Self {
            binary: binary.into(),
            port: free_port(),
            database_url: database_url.to_owned(),
            data_dir: data_dir.to_owned(),
            tls: None,
            extra_args: extra_args.iter().map(|a| (*a).to_owned()).collect(),
            child: None,
        };
        cp.first_start().await;
        cp
    }

    /// Starts one on a free port; with `tls`, serving that certificate and key instead of
    /// generating its own into `data_dir`.
    pub async fn start(
        binary: &str,
        database_url: &str,
        data_dir: &Path,
        tls: Option<(PathBuf, PathBuf)>,
    ) -> Self {
        let mut cp = Self {
            binary: binary.into(),
            port: free_port(),
            database_url: database_url.to_owned(),
            data_dir: data_dir.to_owned(),
            tls,
            extra_args: Vec::new(),
            child: None,
        };
        cp.first_start().await;
        cp
    }

    async fn spawn(&mut self) {
        self.launch();
        let ready = self.ready_or_exit().await;
        assert!(
            ready,
            "control plane on port {} did not become ready",
            self.port
        );
    }

    fn launch(&mut self) {
        let mut command = Command::new(&self.binary);
        command
            .args([
                "control-plane",
                "--bind",
                "127.0.0.1",
                "--port",
                &self.port.to_string(),
            ])
            // Replicas share one issuer identity, whatever port each listens on.
            .args(["--issuer-base-url", "https://keymgr.gantry.test"])
            .args([
                "--database-url",
                &self.database_url,
                "--shutdown-grace-secs",
                "2",
            ])
            .arg("--data-dir")
            .arg(&self.data_dir)
            .env("GANTRY_ADMIN_PASSWORD", ADMIN_PASSWORD)
            // Replicas share the key that seals the signing keys (a Secret in production).
            .env(
                "GANTRY_KEY_ENCRYPTION_KEY",
                "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
            )
            .env(
                "GANTRY_LOG",
                std::env::var("GANTRY_TEST_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        if let Some((cert, key)) = &self.tls {
            command
                .arg("--tls-cert")
                .arg(cert)
                .arg("--tls-key")
                .arg(key);
        }
        command.args(&self.extra_args);
        self.child = Some(command.spawn().expect("spawn control plane"));
    }

    /// Waits for readiness; false if the process exited or 30 s passed.
    async fn ready_or_exit(&mut self) -> bool {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while tokio::time::Instant::now() < deadline {
            if self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
                .is_some()
            {
                return false;
            }
            let ok = self
                .client()
                .get(self.url("/health/ready"))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if ok {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        false
    }

    /// First start: a port picked as free may be taken by a parallel test before the process
    /// binds it, so an early exit is retried on another port.
    async fn first_start(&mut self) {
        for _ in 0..3 {
            self.launch();
            if self.ready_or_exit().await {
                return;
            }
            if self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
                .is_none()
            {
                break;
            }
            self.port = free_port();
        }
        self.spawn().await;
    }

    /// The CA clients trust (the generated one, or the one next to the given certificate).
    pub fn ca_path(&self) -> PathBuf {
        match &self.tls {
            Some((cert, _)) => cert.with_file_name("ca.pem"),
            None => self.data_dir.join("tls").join("ca.pem"),
        }
    }

    /// The certificate and key it serves (generated ones included).
    pub fn tls_files(&self) -> (PathBuf, PathBuf) {
        match &self.tls {
            Some(pair) => pair.clone(),
            None => (
                self.data_dir.join("tls").join("cert.pem"),
                self.data_dir.join("tls").join("key.pem"),
            ),
        }
    }

    /// `https://localhost:{port}{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("https://localhost:{}{path}", self.port)
    }

    /// A client trusting its CA, `localhost` → 127.0.0.1.
    pub fn client(&self) -> reqwest::Client {
        self.client_builder().build().expect("client")
    }

    /// Like [`Self::client`], handing redirects to the caller (a browser stand-in).
    pub fn client_without_redirects(&self) -> reqwest::Client {
        self.client_builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client")
    }

    fn client_builder(&self) -> reqwest::ClientBuilder {
        let pem = std::fs::read(self.ca_path()).unwrap_or_default();
        let mut builder = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .resolve("localhost", SocketAddr::from(([127, 0, 0, 1], self.port)));
        if let Ok(ca) = reqwest::Certificate::from_pem(&pem) {
            builder = builder.tls_certs_only([ca]);
        }
        builder
    }

    /// SIGKILL: a crash, no goodbye.
    pub fn kill(&mut self) {
        stop_child(&mut self.child, "-KILL");
    }

    /// Starts it again on the same port.
    pub async fn restart(&mut self) {
        stop_child(&mut self.child, "-TERM");
        self.spawn().await;
    }
}

impl Drop for ControlPlaneProcess {
    fn drop(&mut self) {
        stop_child(&mut self.child, "-KILL");
    }
}

/// A `gantry gateway` process.
pub struct GatewayProcess {
    binary: PathBuf,
    /// Environment served.
    pub environment: String,
    /// API traffic port.
    pub http_port: u16,
    /// Ops port.
    pub ops_port: u16,
    control_plane: String,
    token: String,
    ca: PathBuf,
    /// Where it persists its configuration.
    pub data_dir: PathBuf,
    node_id: String,
    /// Extra command-line arguments.
    pub extra_args: Vec<String>,
    child: Option<Child>,
}

impl GatewayProcess {
    /// Starts one (not waiting for readiness: see [`GatewayProcess::wait_ready`]).
    pub fn start(
        binary: &str,
        environment: &str,
        control_plane: &str,
        token: &str,
        ca: &Path,
        data_dir: &Path,
        node_id: &str,
    ) -> Self {
        let mut gw = Self {
            binary: binary.into(),
            environment: environment.to_owned(),
            http_port: free_port(),
            ops_port: free_port(),
            control_plane: control_plane.to_owned(),
            token: token.to_owned(),
            ca: ca.to_owned(),
            data_dir: data_dir.to_owned(),
            node_id: node_id.to_owned(),
            extra_args: Vec::new(),
            child: None,
        };
        gw.spawn();
        gw
    }

    /// Sends SIGTERM without waiting (a graceful stop begins).
    pub fn terminate(&self) {
        if let Some(child) = &self.child {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
        }
    }

    /// Waits up to `timeout` for the process to exit; its exit status if it did.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = std::time::Instant::now() + timeout;
        while std::time::Instant::now() < deadline {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                self.child = None;
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// Starts it again (after it exited) with the same ports, data directory and arguments.
    pub fn start_again(&mut self) {
        self.spawn();
    }

    /// Stops it and starts it again with `extra_args` added to its command line.
    pub fn restart_with_args(&mut self, extra_args: &[&str]) {
        stop_child(&mut self.child, "-TERM");
        self.extra_args = extra_args.iter().map(|a| (*a).to_owned()).collect();
        self.spawn();
    }

    fn spawn(&mut self) {
        let child = Command::new(&self.binary)
            .args([
                "gateway",
                "--bind",
                "127.0.0.1",
                "--environment",
                &self.environment,
            ])
            .args([
                "--control-plane",
                &self.control_plane,
                "--token",
                &self.token,
            ])
            .arg("--control-plane-ca")
            .arg(&self.ca)
            .args([
                "--http-port",
                &self.http_port.to_string(),
                "--ops-port",
                &self.ops_port.to_string(),
            ])
            .args(["--node-id", &self.node_id, "--shutdown-grace-secs", "2"])
            .arg("--data-dir")
            .arg(&self.data_dir)
            .args(&self.extra_args)
            .env(
                "GANTRY_LOG",
                std::env::var("GANTRY_TEST_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn gateway");
        self.child = Some(child);
    }

    /// Its readiness document (status code, body).
    pub async fn readiness(&self) -> (u16, serde_json::Value) {
        let url = format!("http://127.0.0.1:{}/health/ready", self.ops_port);
        match reqwest::get(&url).await {
            Ok(r) => (r.status().as_u16(), r.json().await.unwrap_or_default()),
            Err(_) => (0, serde_json::Value::Null),
        }
    }

    /// Waits until it reports ready.
    pub async fn wait_ready(&self) -> bool {
        crate::eventually(Duration::from_secs(40), || async {
            self.readiness().await.0 == 200
        })
        .await
    }

    /// GET `path` on host `localhost` with an optional bearer token; the status code.
    pub async fn get(&self, path: &str, token: Option<&str>) -> u16 {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .resolve(
                "localhost",
                SocketAddr::from(([127, 0, 0, 1], self.http_port)),
            )
            .build()
            .expect("client");
        let mut request = client.get(format!("http://localhost:{}{path}", self.http_port));
        if let Some(t) = token {
            request = request.bearer_auth(t);
        }
        request
            .send()
            .await
            .map(|r| r.status().as_u16())
            .unwrap_or(0)
    }

    /// Polls until GET `path` answers `status` (10 s); returns whether it did.
    pub async fn eventually_status(&self, path: &str, token: Option<&str>, status: u16) -> bool {
        crate::eventually(Duration::from_secs(10), || async {
            self.get(path, token).await == status
        })
        .await
    }

    /// Stops it (SIGTERM) and starts it again with the same ports and data directory.
    pub fn restart(&mut self) {
        stop_child(&mut self.child, "-TERM");
        self.spawn();
    }
}

impl Drop for GatewayProcess {
    fn drop(&mut self) {
        stop_child(&mut self.child, "-KILL");
    }
}
