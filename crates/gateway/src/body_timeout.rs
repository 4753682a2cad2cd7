//! The request body deadline (slow POST, "R.U.D.Y."): a client has a set time from the moment
//! the gateway starts forwarding its request to the last byte of its body. hyper's
//! header-read timeout ends at the blank line, and the upstream timeout only runs while the
//! upstream has the whole request; without this a client sending a byte a second holds a
//! gateway connection and an upstream connection for as long as it likes. Past the deadline
//! the body fails with [`BodyTimedOut`], the upstream request is abandoned (its connection
//! is closed, not pooled) and the client gets `408` with `Connection: close`.
//!
//! gRPC calls are exempt: their request streams are long-lived by design.

use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use http::{Response, StatusCode, header};
use hyper::body::{Body as HttpBody, Frame, SizeHint};

use crate::respond::{self, Body};

/// The default deadline: 60 s (nginx's `client_body_timeout` default, there between reads).
pub const DEFAULT_REQUEST_BODY_TIMEOUT: Duration = Duration::from_secs(60);

/// The deadline in force, shared by every listener of a gateway.
#[derive(Debug)]
pub struct BodyTimeout(AtomicU64);

impl Default for BodyTimeout {
    fn default() -> Self {
        Self(AtomicU64::new(millis(DEFAULT_REQUEST_BODY_TIMEOUT)))
    }
}

impl BodyTimeout {
    /// Time a request body may take.
    pub fn get(&self) -> Duration {
        Duration::from_millis(self.0.load(Ordering::Relaxed))
    }

    /// Changes the deadline (set once before serving).
    pub fn set(&self, timeout: Duration) {
        self.0.store(millis(timeout), Ordering::Relaxed);
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// A request body was not complete by its deadline.
#[derive(Debug, thiserror::Error)]
#[error("the request body was not received within {0:?}")]
pub struct BodyTimedOut(Duration);

/// A request body that fails with [`BodyTimedOut`] once its deadline passes. A body that has
/// already ended (most GETs) gets no timer.
pub struct Deadline<B> {
    inner: B,
    timer: Option<(Pin<Box<tokio::time::Sleep>>, Duration)>,
}

impl<B: HttpBody> Deadline<B> {
    /// `inner`, due within `timeout` from now (`None`: no deadline).
    pub fn new(inner: B, timeout: Option<Duration>) -> Self {
        let timer = timeout
            .filter(|_| !inner.is_end_stream())
            .map(|t| (Box::pin(tokio::time::sleep(t)), t));
        Self { inner, timer }
    }
}

impl<B> HttpBody for Deadline<B>
where
    B: HttpBody + Unpin,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Data = B::Data;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = &mut *self;
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        if let Some((sleep, timeout)) = &mut this.timer
            && sleep.as_mut().poll(cx).is_ready()
        {
            return Poll::Ready(Some(Err(Box::new(BodyTimedOut(*timeout)))));
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Whether `error` (an upstream request's, or a body read's) came from a body past its
/// deadline.
pub fn is_timed_out(error: &(dyn std::error::Error + 'static)) -> bool {
    crate::body_limit::caused_by::<BodyTimedOut>(error)
}

/// 408 in the gateway's error shape; the connection is closed, as the body was not read.
pub fn timed_out(timeout: Duration) -> Response<Body> {
    let mut response = respond::error(
        StatusCode::REQUEST_TIMEOUT,
        "408",
        "Request Timeout",
        &format!(
            "The request body was not received within {} s",
            timeout.as_secs_f64()
        ),
    );
    response
        .headers_mut()
        .insert(header::CONNECTION, http::HeaderValue::from_static("close"));
    response
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use http_body_util::BodyExt as _;

    /// One byte, then nothing ever again.
    struct Stalls(bool);

    impl HttpBody for Stalls {
        type Data = bytes::Bytes;
        type Error = std::convert::Infallible;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
            if std::mem::replace(&mut self.0, true) {
                Poll::Pending
            } else {
                Poll::Ready(Some(Ok(Frame::data(bytes::Bytes::from_static(b"x")))))
            }
        }
    }

    #[tokio::test]
    async fn a_body_that_stalls_fails_at_its_deadline_and_an_ended_one_never_does() {
        let started = std::time::Instant::now();
        let error = Deadline::new(Stalls(false), Some(Duration::from_millis(50)))
            .collect()
            .await
            .err()
            .unwrap();
        assert!(is_timed_out(error.as_ref()), "{error}");
        assert!(started.elapsed() >= Duration::from_millis(50));

        let ended = Deadline::new(
            http_body_util::Empty::<bytes::Bytes>::new(),
            Some(Duration::ZERO),
        );
        assert!(ended.timer.is_none());
        assert!(ended.collect().await.is_ok());
    }
}
