//! WebSocket over the gateway: a client's HTTP/1.1 handshake is passed on (forward), and
//! once both sides switch protocols (relay) the two upgraded connections are tunnelled byte
//! for byte until one closes or the tunnel idles out.

use std::sync::Arc;
use std::time::Duration;

use http::header::{self, HeaderMap, HeaderValue};

/// The protocol a client asks to switch to, when this is an HTTP/1.1 WebSocket handshake
/// (`Connection: upgrade` and `Upgrade: websocket`).
pub fn asked(version: http::Version, headers: &HeaderMap) -> Option<HeaderValue> {
    if version != http::Version::HTTP_11 {
        return None;
    }
    let upgrade = headers.get(header::UPGRADE)?;
    let asks = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|token| token.trim().eq_ignore_ascii_case("upgrade"));
    (asks && upgrade.as_bytes().eq_ignore_ascii_case(b"websocket")).then(|| upgrade.clone())
}

/// Relays bytes both ways between an upgraded client connection and the upgraded upstream
/// connection until either side closes, or until no byte has moved either way for `idle`
/// (when not zero); owned by the connection pair, ends with them.
pub async fn tunnel(
    client: hyper::upgrade::OnUpgrade,
    upstream: hyper::upgrade::OnUpgrade,
    api: Arc<str>,
    idle: Duration,
    stop: tokio_util::sync::CancellationToken,
) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let (client, upstream) = match tokio::try_join!(client, upstream) {
        Ok(pair) => pair,
        Err(error) => {
            tracing::debug!(%api, %error, "protocol switch failed");
            return;
        }
    };
    let client = hyper_util::rt::TokioIo::new(client);
    let upstream = hyper_util::rt::TokioIo::new(upstream);
    let (mut client_rx, mut client_tx) = tokio::io::split(client);
    let (mut upstream_rx, mut upstream_tx) = tokio::io::split(upstream);
    let mut from_client = vec![0u8; 16 * 1024];
    let mut from_upstream = vec![0u8; 16 * 1024];
    let (mut sent, mut received) = (0u64, 0u64);
    let watching = !idle.is_zero();
    let idle_timer = tokio::time::sleep(if watching {
        idle
    } else {
        Duration::from_secs(3600)
    });
    tokio::pin!(idle_timer);
    let ended = loop {
        tokio::select! {
            read = client_rx.read(&mut from_client) => match read {
                Ok(0) | Err(_) => break "closed",
                Ok(n) => {
                    if upstream_tx.write_all(&from_client[..n]).await.is_err() {
                        break "closed";
                    }
                    sent += n as u64;
                }
            },
            read = upstream_rx.read(&mut from_upstream) => match read {
                Ok(0) | Err(_) => break "closed",
                Ok(n) => {
                    if client_tx.write_all(&from_upstream[..n]).await.is_err() {
                        break "closed";
                    }
                    received += n as u64;
                }
            },
            () = &mut idle_timer, if watching => break "idle",
            () = stop.cancelled() => break "shutdown",
        }
        if watching {
            idle_timer
                .as_mut()
                .reset(tokio::time::Instant::now() + idle);
        }
    };
    let _ = client_tx.shutdown().await;
    let _ = upstream_tx.shutdown().await;
    tracing::debug!(%api, sent, received, ended, "upgraded connection closed");
}
