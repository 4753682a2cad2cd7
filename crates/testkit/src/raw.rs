//! Raw HTTP/1.1 over a TCP socket: for tests whose point is bytes an HTTP client library
//! would normalise away (dot segments, odd framing).

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Sends `request` verbatim to 127.0.0.1:`port` and returns the status code of the reply
/// (0 if the connection closed without one).
pub async fn status_of(port: u16, request: &str) -> u16 {
    let response = exchange(port, request).await;
    response
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// Sends `request` verbatim and returns everything read until the peer closes (or 5 s).
pub async fn exchange(port: u16, request: &str) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut buf)).await;
    String::from_utf8_lossy(&buf).into_owned()
}

/// A GET request for `path` on host `localhost` with `Connection: close`.
pub fn get(path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
}
