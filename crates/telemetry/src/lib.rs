//! Logging set-up shared by every Gantry process: structured `tracing` events to stderr,
//! human-readable or JSON, with the level from `RUST_LOG` / `GANTRY_LOG` or the default.
//!
//! [`metrics`] holds the Prometheus registry both planes expose on `/metrics`.
#![forbid(unsafe_code)]

pub mod metrics;

use tracing_subscriber::EnvFilter;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// One human-readable line per event.
    #[default]
    Text,
    /// One JSON object per event (for log shippers).
    Json,
}

/// Installs the global subscriber. `default_filter` applies when neither `GANTRY_LOG` nor
/// `RUST_LOG` is set (e.g. `"info"`). Calling it twice is harmless.
pub fn init(format: LogFormat, default_filter: &str) {
    let filter = std::env::var("GANTRY_LOG")
        .ok()
        .or_else(|| std::env::var("RUST_LOG").ok())
        .and_then(|f| EnvFilter::try_new(f).ok())
        .unwrap_or_else(|| EnvFilter::new(default_filter));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder.with_target(false).try_init(),
        LogFormat::Json => builder.json().with_current_span(true).try_init(),
    };
}
