//! `408 Request Timeout` for a client that started a request head and did not finish it within
//! the header-read timeout. hyper closes such a connection silently and keeps the socket; this
//! wrapper gets the socket back when hyper drops it and records just enough to know whether a
//! `408` is safe: bytes arrived since the last response byte was written (a head was begun,
//! not an idle keep-alive), every write hyper attempted went out whole (no response half-sent
//! or still buffered), and the connection is HTTP/1.

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
}

/// Wraps `io`; the [`Returned`] half gets it back once hyper is done with it.
pub(crate) fn watch<S>(io: S) -> (Watched<S>, Returned<S>) {
    let home = Arc::new(Mutex::new(None));
    let watched = Watched {
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

    fn wrote(&mut self, offered: usize, result: &Poll<io::Result<usize>>) {
        match result {
            Poll::Ready(Ok(written)) => {
                self.activity.read_since_write = false;
                self.activity.writes_whole = *written == offered;
            }
            Poll::Ready(Err(_)) | Poll::Pending => self.activity.writes_whole = false,
        }
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
        self.wrote(buf.len(), &result);
        result
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let result = self.io().poll_write_vectored(cx, bufs);
        self.wrote(bufs.iter().map(|b| b.len()).sum(), &result);
        result
    }

    fn is_write_vectored(&self) -> bool {
        self.io.as_ref().is_some_and(AsyncWrite::is_write_vectored)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.io().poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.activity.shut = true;
        self.io().poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::REPLY;

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
