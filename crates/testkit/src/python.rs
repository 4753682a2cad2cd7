//! Tests that drive Gantry with independent Python clients (Authlib, Playwright, grpcio):
//! whether python3 has the packages. Such tests are `#[ignore = "needs …"]`, so a plain
//! `cargo test` reports them as ignored rather than as passed; `.ci/run` installs the
//! packages and runs them with `-- --ignored`, and there a missing package fails the test.

use std::process::Command;

/// Whether `python3 -c "import <modules>"` succeeds; why not otherwise, naming `packages`
/// (what to `pip install`).
pub fn can_import(modules: &str, packages: &str) -> Result<(), String> {
    let out = Command::new("python3")
        .args(["-c", &format!("import {modules}")])
        .output()
        .map_err(|e| format!("python3 is not available: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "python3 lacks {packages} (pip install {packages}): {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Fails `test` when what it needs is not `ready`: it was asked for (`--ignored`), so not
/// running it would be a silent pass.
pub fn require(test: &str, ready: Result<(), String>) {
    if let Err(why) = ready {
        panic!("{test} cannot run: {why}. Install what it needs (see .ci/run).");
    }
}

/// A Python server a test starts (`python3 <script> <args>`), which prints `PORT <n>` once
/// it listens and stops when its stdin closes; killed when dropped.
pub struct PythonServer {
    child: std::process::Child,
    /// The port it listens on (127.0.0.1).
    pub port: u16,
}

impl PythonServer {
    /// Starts `script` with `args` and waits for its `PORT` line.
    pub fn start(script: &std::path::Path, args: &[&str]) -> Self {
        use std::io::BufRead as _;
        let mut child = Command::new("python3")
            .arg(script)
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("python3 starts");
        let mut line = String::new();
        let stdout = child.stdout.take().expect("piped stdout");
        std::io::BufReader::new(stdout)
            .read_line(&mut line)
            .expect("the server's first line");
        let port = line
            .trim()
            .strip_prefix("PORT ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("{} did not start: {line:?}", script.display()));
        Self { child, port }
    }
}

impl Drop for PythonServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
