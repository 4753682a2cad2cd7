//! The gateway listeners' protocol limits as flags (flattened into `gantry gateway` and
//! `gantry up`), validated into `gantry_listener::Limits` and the gateway's body limit.
//! Zero means "off" for the keep-alive ping and the send timeout, and is refused elsewhere.

use std::time::Duration;

use super::{ConfigError, Layers};

/// Limits on what one client connection may send to a gateway.
#[derive(Debug, clap::Args)]
pub struct ListenerLimitArgs {
    /// Largest request header section in bytes (431 beyond; at least 8192).
    #[arg(long, env = "GANTRY_MAX_REQUEST_HEADER_BYTES", default_value_t = 60 * 1024)]
    max_request_header_bytes: usize,
    /// Most request header fields (431 beyond).
    #[arg(long, env = "GANTRY_MAX_REQUEST_HEADERS", default_value_t = 100)]
    max_request_headers: usize,
    /// Largest request body in bytes (413 beyond, before forwarding when declared).
    #[arg(long, env = "GANTRY_MAX_REQUEST_BODY_BYTES", default_value_t = gantry_gateway::body_limit::DEFAULT_MAX_REQUEST_BODY)]
    max_request_body_bytes: u64,
    /// Seconds a client has to send a request head; also how long an idle HTTP/1
    /// keep-alive connection is kept.
    #[arg(long, env = "GANTRY_HEADER_READ_TIMEOUT_SECS", default_value_t = 30)]
    header_read_timeout_secs: u64,
    /// Seconds a client has to send a whole request body once the gateway starts forwarding
    /// it (408 and the connection closed beyond; gRPC calls are exempt).
    #[arg(long, env = "GANTRY_REQUEST_BODY_TIMEOUT_SECS", default_value_t = gantry_gateway::body_timeout::DEFAULT_REQUEST_BODY_TIMEOUT.as_secs())]
    request_body_timeout_secs: u64,
    /// Idle HTTP/2 connections are pinged this often and closed when a ping goes unanswered
    /// as long (0 = no pings).
    #[arg(long, env = "GANTRY_H2_KEEPALIVE_SECS", default_value_t = 60)]
    h2_keepalive_secs: u64,
    /// Concurrent HTTP/2 streams per connection.
    #[arg(long, env = "GANTRY_H2_MAX_CONCURRENT_STREAMS", default_value_t = 100)]
    h2_max_concurrent_streams: u32,
    /// HTTP/2 streams a client may reset before the server saw them, before the connection
    /// is closed (rapid-reset protection).
    #[arg(long, env = "GANTRY_H2_MAX_PENDING_RESETS", default_value_t = 20)]
    h2_max_pending_resets: usize,
    /// HTTP/2 streams the gateway may have to reset for protocol errors (malformed requests)
    /// on one connection before the connection is closed.
    #[arg(long, env = "GANTRY_H2_MAX_SERVER_RESETS", default_value_t = 1024)]
    h2_max_server_resets: usize,
    /// HTTP/2 requests after which a connection is judged on early cancellations: one whose
    /// client cancelled more than half within 1 s of their start is closed (slow rapid reset).
    #[arg(long, env = "GANTRY_H2_PREMATURE_RESET_STREAMS", default_value_t = 500)]
    h2_premature_reset_streams: u64,
    /// Client connections open at once per gateway listener; beyond, new connections are
    /// closed on accept (the ops port is not counted).
    #[arg(long, env = "GANTRY_MAX_CONNECTIONS", default_value_t = 10_000)]
    max_connections: usize,
    /// Seconds a client may take none of the response bytes the gateway is writing before
    /// its connection is closed (nginx's `send_timeout`; 0 = never). The upstream connection
    /// behind it is closed too.
    #[arg(long, env = "GANTRY_SEND_TIMEOUT_SECS", default_value_t = 60)]
    send_timeout_secs: u64,
}

/// The validated limits.
#[derive(Debug, Clone, Copy)]
pub struct ListenerLimits {
    /// For `gantry_listener::serve_with_limits`.
    pub listener: gantry_listener::Limits,
    /// For `Gateway::limit_request_bodies`.
    pub max_request_body_bytes: u64,
    /// For `Gateway::set_request_body_timeout`.
    pub request_body_timeout: Duration,
}

impl ListenerLimitArgs {
    /// Checks the flags; the error names the one that is wrong and where it came from.
    pub fn load(&self, layers: &Layers) -> Result<ListenerLimits, ConfigError> {
        let at_least = |long: &str, value: u64, min: u64| match value < min {
            true => Err(layers.key(long).invalid(format!("must be at least {min}"))),
            false => Ok(()),
        };
        at_least(
            "max-request-header-bytes",
            self.max_request_header_bytes as u64,
            8192,
        )?;
        at_least("max-request-headers", self.max_request_headers as u64, 1)?;
        at_least("header-read-timeout-secs", self.header_read_timeout_secs, 1)?;
        at_least(
            "request-body-timeout-secs",
            self.request_body_timeout_secs,
            1,
        )?;
        at_least(
            "h2-max-concurrent-streams",
            u64::from(self.h2_max_concurrent_streams),
            1,
        )?;
        at_least(
            "h2-premature-reset-streams",
            self.h2_premature_reset_streams,
            1,
        )?;
        at_least("max-connections", self.max_connections as u64, 1)?;
        Ok(ListenerLimits {
            listener: gantry_listener::Limits {
                max_header_bytes: self.max_request_header_bytes,
                max_headers: self.max_request_headers,
                header_read_timeout: super::secs(
                    layers,
                    "header-read-timeout-secs",
                    self.header_read_timeout_secs,
                )?,
                h2_keep_alive_interval: super::secs_or_off(
                    layers,
                    "h2-keepalive-secs",
                    self.h2_keepalive_secs,
                )?,
                h2_max_concurrent_streams: self.h2_max_concurrent_streams,
                h2_max_pending_accept_reset_streams: self.h2_max_pending_resets,
                h2_max_local_error_resets: self.h2_max_server_resets,
                h2_premature_reset_streams: self.h2_premature_reset_streams,
                max_connections: self.max_connections,
                send_timeout: super::secs_or_off(
                    layers,
                    "send-timeout-secs",
                    self.send_timeout_secs,
                )?,
            },
            max_request_body_bytes: self.max_request_body_bytes,
            request_body_timeout: super::secs(
                layers,
                "request-body-timeout-secs",
                self.request_body_timeout_secs,
            )?,
        })
    }
}
