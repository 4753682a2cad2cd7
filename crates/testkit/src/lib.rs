//! Test helpers shared by Gantry's integration tests: free ports, a real `gantry up`
//! process on those ports with its own data directory, an HTTPS client that trusts that
//! process's generated CA, and an echo upstream that reports what it received.
//!
//! Nothing here is a mock of Gantry: tests drive the real binary over the wire.
#![forbid(unsafe_code)]

pub mod certs;
pub mod chaos;
pub mod cluster;
pub mod echo;
pub mod idp;
pub mod llm;
pub mod openapi;
pub mod process;
pub mod python;
pub mod raw;
pub mod raw_h2;
pub mod rest;

pub use echo::EchoUpstream;
pub use process::{GantryUp, free_port};

/// Polls `check` every 50 ms until it returns true or `timeout` passes.
pub async fn eventually<F, Fut>(timeout: std::time::Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if check().await {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}
