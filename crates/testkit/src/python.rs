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
