//! Rapid reset done slowly (CVE-2023-44487 past hyper's pending-accept cap): a client opens an
//! HTTP/2 stream, waits until the server has started on it, then cancels it, so each stream
//! costs the server a request (an upstream call, for the gateway) while the concurrent-stream
//! limit never bites. As Envoy does (`premature_reset_total_stream_count` 500,
//! `premature_reset_min_stream_lifetime` 1 s), once a connection has started `min_streams`
//! requests and the client cancelled more than half of them within 1 s of their start, the
//! connection is closed.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use http::Request;
use hyper::body::Incoming;
use tokio_util::sync::CancellationToken;

/// A stream cancelled younger than this counts as premature (Envoy's default).
const MIN_STREAM_LIFETIME: Duration = Duration::from_secs(1);

/// One connection's count of HTTP/2 requests started and cancelled early.
#[derive(Debug)]
pub(crate) struct ResetWatch {
    min_streams: u64,
    started: AtomicU64,
    premature: AtomicU64,
    tripped: CancellationToken,
}

impl ResetWatch {
    pub(crate) fn new(min_streams: u64) -> Arc<Self> {
        Arc::new(Self {
            min_streams,
            started: AtomicU64::new(0),
            premature: AtomicU64::new(0),
            tripped: CancellationToken::new(),
        })
    }

    /// Fires when the connection should be closed.
    pub(crate) fn tripped(&self) -> &CancellationToken {
        &self.tripped
    }

    /// (requests started, of which cancelled early).
    pub(crate) fn counts(&self) -> (u64, u64) {
        (
            self.started.load(Ordering::Relaxed),
            self.premature.load(Ordering::Relaxed),
        )
    }

    fn check(&self, started: u64, premature: u64) {
        if started >= self.min_streams && premature * 2 > started {
            self.tripped.cancel();
        }
    }
}

/// Wraps a connection's service so each HTTP/2 request it starts is counted in `watch`.
pub(crate) struct Counting<S> {
    pub(crate) inner: S,
    pub(crate) watch: Arc<ResetWatch>,
}

impl<S> hyper::service::Service<Request<Incoming>> for Counting<S>
where
    S: hyper::service::Service<Request<Incoming>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Counted<S::Future>;

    fn call(&self, request: Request<Incoming>) -> Self::Future {
        let started = (request.version() == http::Version::HTTP_2).then(|| {
            let watch = self.watch.clone();
            let started = watch.started.fetch_add(1, Ordering::Relaxed) + 1;
            watch.check(started, watch.premature.load(Ordering::Relaxed));
            Started {
                at: Instant::now(),
                watch,
                finished: false,
            }
        });
        Counted {
            inner: self.inner.call(request),
            started,
        }
    }
}

/// A request in progress; counted as premature if dropped unfinished while young.
struct Started {
    at: Instant,
    watch: Arc<ResetWatch>,
    finished: bool,
}

impl Drop for Started {
    fn drop(&mut self) {
        if self.finished || self.at.elapsed() >= MIN_STREAM_LIFETIME {
            return;
        }
        let premature = self.watch.premature.fetch_add(1, Ordering::Relaxed) + 1;
        self.watch
            .check(self.watch.started.load(Ordering::Relaxed), premature);
    }
}

pin_project_lite::pin_project! {
    /// The service's future, with its request's [`Started`] mark.
    pub(crate) struct Counted<F> {
        #[pin]
        inner: F,
        started: Option<Started>,
    }
}

impl<F: Future> Future for Counted<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let output = std::task::ready!(this.inner.poll(cx));
        if let Some(started) = this.started.as_mut() {
            started.finished = true;
        }
        Poll::Ready(output)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trips_once_more_than_half_of_enough_streams_were_cancelled_early() {
        let watch = ResetWatch::new(10);
        watch.check(9, 9);
        assert!(!watch.tripped().is_cancelled(), "too few streams to judge");
        watch.check(10, 5);
        assert!(
            !watch.tripped().is_cancelled(),
            "half is not more than half"
        );
        watch.check(10, 6);
        assert!(watch.tripped().is_cancelled());
    }
}
