//! A real `gantry up` process for tests: free ports, a temporary data directory, readiness
//! polled with a deadline, SIGTERM on stop, and clients wired to its ports.

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A port that was free a moment ago on 127.0.0.1.
pub fn free_port() -> u16 {
    // The kernel may hand the same ephemeral port to two binds made one after the other
    // once the first is closed; a port this process already gave out is never given again
    // (a test once got one port for both --control-plane-port and --gateway-port).
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let mut given = GIVEN
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    loop {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("free port");
        if !given.contains(&port) {
            given.push(port);
            return port;
        }
    }
}

/// The admin password every test process is started with.
pub const ADMIN_PASSWORD: &str = "test-admin-pw";

/// A running `gantry up`.
pub struct GantryUp {
    binary: PathBuf,
    data_dir: PathBuf,
    _tempdir: Option<tempfile::TempDir>,
    /// Control-plane HTTPS port.
    pub cp_port: u16,
    /// Gateway HTTP port.
    pub gw_port: u16,
    /// Gateway ops port.
    pub ops_port: u16,
    /// Demo backend port (when the demo runs).
    pub demo_port: u16,
    demo: bool,
    env: Vec<(String, String)>,
    child: Option<Child>,
}

impl GantryUp {
    /// Starts `binary up` without the demo on free ports with a fresh data directory.
    pub async fn start(binary: &str) -> Self {
        Self::start_with(binary, false).await
    }

    /// Starts `binary up`, with or without the demo.
    pub async fn start_with(binary: &str, demo: bool) -> Self {
        Self::start_with_env(binary, demo, &[]).await
    }

    /// Starts `binary up` with extra environment variables (`GANTRY_…` settings).
    pub async fn start_with_env(binary: &str, demo: bool, env: &[(&str, &str)]) -> Self {
        let tempdir = tempfile::tempdir().expect("temp dir");
        let mut up = Self {
            binary: PathBuf::from(binary),
            data_dir: tempdir.path().join("data"),
            _tempdir: Some(tempdir),
            cp_port: free_port(),
            gw_port: free_port(),
            ops_port: free_port(),
            demo_port: free_port(),
            demo,
            env: env
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            child: None,
        };
        // A port picked as free may be taken by a parallel test before gantry binds it: then
        // gantry exits naming the port, and we try again with fresh ones.
        for attempt in 0..4 {
            up.launch();
            match up.ready_or_exit().await {
                Ok(()) => return up,
                Err(status) if attempt < 3 && up.log().contains("cannot listen") => {
                    eprintln!("gantry could not bind its ports ({status}); retrying with others");
                    up.cp_port = free_port();
                    up.gw_port = free_port();
                    up.ops_port = free_port();
                    up.demo_port = free_port();
                }
                Err(status) => panic!(
                    "gantry exited before becoming ready: {status}\n{}",
                    up.log()
                ),
            }
        }
        up
    }

    async fn spawn(&mut self) {
        self.launch();
        self.wait_ready().await;
    }

    fn launch(&mut self) {
        let mut command = Command::new(&self.binary);
        command
            .arg("up")
            .arg("--data-dir")
            .arg(&self.data_dir)
            .args(["--control-plane-port", &self.cp_port.to_string()])
            .args(["--gateway-port", &self.gw_port.to_string()])
            .args(["--ops-port", &self.ops_port.to_string()])
            .args(["--demo-backend-port", &self.demo_port.to_string()])
            .args(["--shutdown-grace-secs", "2"])
            .env("GANTRY_ADMIN_PASSWORD", ADMIN_PASSWORD)
            .env_remove("GANTRY_NO_DEMO")
            // JSON logs with the access log on, kept in a file the test can read.
            .args(["--log-format", "json"])
            .env(
                "GANTRY_LOG",
                std::env::var("GANTRY_TEST_LOG").unwrap_or_else(|_| "warn,access=info".into()),
            )
            .stdout(Stdio::null())
            .stderr(self.log_file());
        if !self.demo {
            command.arg("--no-demo");
        }
        for inherited in [
            "GANTRY_KEY_ENCRYPTION_KEY",
            "GANTRY_KEY_ENCRYPTION_KEY_FILE",
            "GANTRY_SIGNING_ALGORITHM",
            "GANTRY_KEY_ROTATION_PERIOD_SECS",
            "GANTRY_KEY_RETIRE_GRACE_SECS",
        ] {
            command.env_remove(inherited);
        }
        command.envs(self.env.iter().map(|(k, v)| (k, v)));
        self.child = Some(command.spawn().expect("spawn gantry"));
    }

    /// Waits until the control plane and the gateway both report ready.
    pub async fn wait_ready(&mut self) {
        if let Err(status) = self.ready_or_exit().await {
            panic!(
                "gantry exited before becoming ready: {status}\n{}",
                self.log()
            );
        }
    }

    /// Waits for readiness; the exit status if the process died first.
    async fn ready_or_exit(&mut self) -> Result<(), std::process::ExitStatus> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()
            .expect("client");
        let ops = format!("http://127.0.0.1:{}/health/ready", self.ops_port);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                return Err(status);
            }
            let gateway_ready = client
                .get(&ops)
                .send()
                .await
                .map(|r| r.status().is_success())
                .unwrap_or(false);
            if gateway_ready {
                let cp = self
                    .cp_client()
                    .get(self.cp_url("/health/ready"))
                    .send()
                    .await;
                if cp.map(|r| r.status().is_success()).unwrap_or(false) {
                    return Ok(());
                }
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "gantry did not become ready within 30 s"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn log_path(&self) -> PathBuf {
        self.data_dir.with_file_name("gantry.log")
    }

    fn log_file(&self) -> Stdio {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .map(Stdio::from)
            .unwrap_or_else(|_| Stdio::inherit())
    }

    /// Everything the process wrote to stderr (JSON log lines), across restarts.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// The process id, while it runs (to read its memory use from `/proc`).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Resident memory of the process in KiB (Linux: `VmRSS` in `/proc/<pid>/status`).
    pub fn rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()?)).ok()?;
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
    }

    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// `https://localhost:{cp}{path}`.
    pub fn cp_url(&self, path: &str) -> String {
        format!("https://localhost:{}{path}", self.cp_port)
    }

    /// `http://localhost:{gw}{path}`.
    pub fn gw_url(&self, path: &str) -> String {
        format!("http://localhost:{}{path}", self.gw_port)
    }

    /// A client that trusts the generated CA and resolves `localhost` to 127.0.0.1.
    /// The REST APIs of this process, as the bootstrap admin.
    pub fn rest(&self) -> crate::rest::Rest {
        crate::rest::Rest::new(&self.cp_url(""), self.cp_client())
    }

    pub fn cp_client(&self) -> reqwest::Client {
        self.cp_client_builder().build().expect("https client")
    }

    fn cp_client_builder(&self) -> reqwest::ClientBuilder {
        let ca_pem = std::fs::read(self.data_dir.join("tls").join("ca.pem")).unwrap_or_default();
        let mut builder = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .resolve(
                "localhost",
                SocketAddr::from(([127, 0, 0, 1], self.cp_port)),
            );
        if let Ok(ca) = reqwest::Certificate::from_pem(&ca_pem) {
            builder = builder.tls_certs_only([ca]);
        }
        builder
    }

    /// Like [`cp_client`](Self::cp_client), but answers redirects to the caller instead of
    /// following them (authorization-code redirects point at the client's own URI).
    pub fn cp_client_without_redirects(&self) -> reqwest::Client {
        self.cp_client_builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("https client")
    }

    /// A plain HTTP client for the gateway that resolves `localhost` to 127.0.0.1.
    pub fn gw_client(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .resolve(
                "localhost",
                SocketAddr::from(([127, 0, 0, 1], self.gw_port)),
            )
            .build()
            .expect("http client")
    }

    /// The status of `GET path` on the gateway with a bearer `token` (0 when the request
    /// fails).
    pub async fn gw_status(&self, path: &str, token: &str) -> u16 {
        self.gw_client()
            .get(self.gw_url(path))
            .bearer_auth(token)
            .send()
            .await
            .map(|r| r.status().as_u16())
            .unwrap_or(0)
    }

    /// Waits (up to 5 s) until the gateway answers `GET path` with `token` by `status`.
    pub async fn eventually_gw_status(&self, path: &str, token: &str, status: u16) -> bool {
        crate::eventually(Duration::from_secs(5), || async {
            self.gw_status(path, token).await == status
        })
        .await
    }

    /// Stops the process with SIGTERM and waits for it; returns whether it exited cleanly.
    pub fn stop(&mut self) -> bool {
        let Some(mut child) = self.child.take() else {
            return true;
        };
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let deadline = std::time::Instant::now() + Duration::from_secs(15);
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return status.success();
            }
            if std::time::Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops and starts again on the same ports and data directory.
    pub async fn restart(&mut self) {
        assert!(self.stop(), "gantry did not shut down cleanly");
        self.spawn().await;
    }
}

impl Drop for GantryUp {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
