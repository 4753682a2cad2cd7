//! `408 Request Timeout` for a client that started a request head and did not finish it within
//! the header-read timeout. hyper closes such a connection silently and keeps the socket; this
//! wrapper gets the socket back when hyper drops it and records just enough to know whether a
//! `408` is safe: bytes arrived since the last response byte was written (a head was begun,
//! not an idle keep-alive), every write hyper attempted went out whole (no response half-sent
//! or still buffered), and the connection is HTTP/1.
//!
//! The same wrapper holds the send timeout: a write that stays pending (the client takes
//! nothing) for longer than it fails with `TimedOut`, which ends the connection.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};

/// The reply, in the gateway's error shape; the connection closes after it.
const REPLY: &[u8] = b"HTTP/1.1 408 Request Timeout\r\n\
content-type: application/json\r\n\
connection: close\r\n\
content-length: 126\r\n\
\r\n\
{\"code\":\"408\",\"error_message\":\"Request Timeout\",\"error_description\":\"The request head did not arrive within the time allowed\"}";

/// How long the client gets to take the reply.
const REPLY_TIMEOUT: Duration = Duration::from_secs(1);

/// What was done on the socket, as far as a `408` cares.
#[derive(Debug, Clone, Copy)]
struct Activity {
    /// Bytes were read since the last write.
    read_since_write: bool,
    /// Every write was taken whole (nothing left in hyper's buffer, as far as we saw).
    writes_whole: bool,
    /// The first bytes were the HTTP/2 preface.
    http2: bool,
    /// Nothing was read yet.
    fresh: bool,
    /// hyper shut the write side down.
    shut: bool,
}

/// Where the socket goes when hyper drops it.
pub(crate) struct Returned<S>(Arc<Mutex<Option<(S, Activity)>>>);

/// The socket as hyper sees it.
pub(crate) struct Watched<S> {
    io: Option<S>,
    activity: Activity,
    home: Arc<Mutex<Option<(S, Activity)>>>,
    send_timeout: Option<Duration>,
    /// Armed while writes are pending, cleared by any progress.
    stalled: Option<Pin<Box<tokio::time::Sleep>>>,
}

/// Wraps `io`; the [`Returned`] half gets it back once hyper is done with it. Writes that
/// make no progress for `send_timeout` fail.
pub(crate) fn watch<S>(io: S, send_timeout: Option<Duration>) -> (Watched<S>, Returned<S>) {
    let home = Arc::new(Mutex::new(None));
    let watched = Watched {
        send_timeout,
        stalled: None,
        io: Some(io),
        activity: Activity {
            read_since_write: false,
            writes_whole: true,
            http2: false,
            fresh: true,
            shut: false,
        },
        home: home.clone(),
    };
    (watched, Returned(home))
}

impl<S> Drop for Watched<S> {
    fn drop(&mut self) {
        if let Some(io) = self.io.take() {
            *self.home.lock().unwrap_or_else(PoisonError::into_inner) = Some((io, self.activity));
        }
    }
}

impl<S: AsyncWrite + Unpin> Returned<S> {
    /// Answers `408` and closes, if hyper's header-read timeout ended the connection while a
    /// request head was partly read and nothing of a response was pending; otherwise just lets
    /// the socket go. Returns whether it answered.
    pub(crate) async fn answer_timeout(self) -> bool {
        let taken = self.0.lock().unwrap_or_else(PoisonError::into_inner).take();
        let Some((mut io, activity)) = taken else {
            return false;
        };
        if !activity.read_since_write || !activity.writes_whole || activity.http2 || activity.shut {
            return false;
        }
        let reply = async {
            io.write_all(REPLY).await?;
            io.shutdown().await
        };
        matches!(tokio::time::timeout(REPLY_TIMEOUT, reply).await, Ok(Ok(())))
    }
}

/// Whether hyper ended the connection for its header-read timeout.
pub(crate) fn is_header_timeout(error: &(dyn std::error::Error + Send + Sync + 'static)) -> bool {
    error
        .downcast_ref::<hyper::Error>()
        .is_some_and(hyper::Error::is_timeout)
}

impl<S: Unpin> Watched<S> {
    fn io(&mut self) -> Pin<&mut S> {
        Pin::new(self.io.as_mut().expect("the socket is only taken on drop"))
    }

    fn wrote(
        &mut self,
        cx: &mut Context<'_>,
        offered: usize,
        result: Poll<io::Result<usize>>,
    ) -> Poll<io::Result<usize>> {
        match &result {
            Poll::Ready(Ok(written)) => {
                self.activity.read_since_write = false;
                self.activity.writes_whole = *written == offered;
                if *written > 0 {
                    self.stalled = None;
                }
            }
            Poll::Ready(Err(_)) => self.activity.writes_whole = false,
            Poll::Pending => {
                self.activity.writes_whole = false;
                if let Err(error) = self.still_waiting(cx) {
                    return Poll::Ready(Err(error));
                }
            }
        }
        result
    }

    /// A write is pending: arms the send timeout, or fails once it has run out.
    fn still_waiting(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
        let Some(timeout) = self.send_timeout else {
            return Ok(());
        };
        let timer = self
            .stalled
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
        if timer.as_mut().poll(cx).is_ready() {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!(
                    "the client took no response bytes for {} s (send timeout)",
                    timeout.as_secs_f64()
                ),
            ));
        }
        Ok(())
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Watched<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let result = self.io().poll_read(cx, buf);
        let read = &buf.filled()[before..];
        if !read.is_empty() {
            if self.activity.fresh {
                self.activity.http2 = read.starts_with(b"PRI ");
                self.activity.fresh = false;
            }
            self.activity.read_since_write = true;
        }
        result
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Watched<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let result = self.io().poll_write(cx, buf);
        self.wrote(cx, buf.len(), result)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let result = self.io().poll_write_vectored(cx, bufs);
        self.wrote(cx, bufs.iter().map(|b| b.len()).sum(), result)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.as_ref().is_some_and(AsyncWrite::is_write_vectored)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let result = self.io().poll_flush(cx);
        match result {
            // TLS flushes its buffered records here.
            Poll::Pending => self
                .still_waiting(cx)
                .map_or_else(|e| Poll::Ready(Err(e)), |()| Poll::Pending),
            Poll::Ready(Ok(())) => {
                self.stalled = None;
                result
            }
            Poll::Ready(Err(_)) => result,
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.activity.shut = true;
        self.io().poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn writes_nobody_takes_fail_at_the_send_timeout_and_progress_rearms_it() {
        let timeout = Duration::from_millis(300);
        let (client, _peer) = tokio::io::duplex(64);
        let (mut watched, _returned) = watch(client, Some(timeout));
        // The pipe holds 64 bytes; the rest waits for a reader that never comes.
        let started = std::time::Instant::now();
        let error = watched.write_all(&[b'x'; 1024]).await.unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
        assert!(started.elapsed() >= timeout, "{:?}", started.elapsed());

        // A reader taking a little every 150 ms keeps the writes going well past 300 ms.
        let (client, mut peer) = tokio::io::duplex(64);
        let (mut watched, _returned) = watch(client, Some(timeout));
        let reader = tokio::spawn(async move {
            let mut buf = [0u8; 64];
            let mut total = 0;
            while total < 640 {
                tokio::time::sleep(Duration::from_millis(150)).await;
                total += tokio::io::AsyncReadExt::read(&mut peer, &mut buf)
                    .await
                    .unwrap();
            }
        });
        let started = std::time::Instant::now();
        watched.write_all(&[b'y'; 640]).await.unwrap();
        assert!(started.elapsed() > timeout * 3, "{:?}", started.elapsed());
        reader.await.unwrap();
    }

    #[tokio::test]
    async fn without_a_send_timeout_a_pending_write_just_waits() {
        let (client, _peer) = tokio::io::duplex(64);
        let (mut watched, _returned) = watch(client, None);
        let write = tokio::time::timeout(Duration::from_millis(50), watched.write_all(&[0; 1024]));
        assert!(write.await.is_err(), "still pending, not failed");
    }

    #[test]
    fn the_reply_declares_its_body_length() {
        let text = std::str::from_utf8(REPLY).expect("ASCII");
        let (head, body) = text.split_once("\r\n\r\n").expect("a head and a body");
        let declared: usize = head
            .lines()
            .find_map(|line| line.strip_prefix("content-length: "))
            .and_then(|n| n.parse().ok())
            .expect("content-length");
        assert_eq!(declared, body.len());
        assert!(body.starts_with(r#"{"code":"408","#), "{body}");
    }
}
