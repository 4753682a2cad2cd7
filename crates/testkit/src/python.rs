//! Tests that drive Gantry with independent Python clients (Authlib, Playwright, grpcio):
//! whether python3 has the packages, and the rule for when it does not — skip loudly on a
//! developer's machine, fail under `CI=true` (`.ci/run` installs them).

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

/// Whether `test` can run given `ready`: `false` (after a loud SKIPPED message) when it cannot
/// on a developer's machine; panics when it cannot under `CI=true`.
pub fn run_or_skip(test: &str, ready: Result<(), String>) -> bool {
    let Err(why) = ready else {
        return true;
    };
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{test} cannot run under CI: {why}");
    }
    eprintln!(
        "\n!!! SKIPPED: {test} did not run: {why}\n\
         !!! Install what it needs (see .ci/run) to run it.\n"
    );
    false
}
