//! An HTTP/2 request body held to its `content-length` (RFC 9113 §8.1.1): the frame that
//! completes the declared length waits for the client's end of stream, so a reader (the
//! gateway's upstream, the control plane's handlers) is never handed a complete request whose
//! DATA then disagrees; a mismatch, or a stream that ends short, fails it. (hyper reads a
//! stream reset with `NO_ERROR` as a clean end of the body.)

use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::Buf as _;
use hyper::body::{Body as HttpBody, Frame, SizeHint};

/// The `content-length` a request declares, when it is a number.
pub fn declared(headers: &http::HeaderMap) -> Option<u64> {
    headers
        .get(http::header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

/// The length an HTTP/2 request's body is held to: its `content-length`; `None` for HTTP/1,
/// whose length hyper enforces itself.
pub fn declared_h2(version: http::Version, headers: &http::HeaderMap) -> Option<u64> {
    (version == http::Version::HTTP_2)
        .then(|| declared(headers))
        .flatten()
}

/// A request body's DATA did not add up to its `content-length`.
#[derive(Debug, thiserror::Error)]
#[error(
    "the request body's DATA frames ({seen} bytes) disagree with its content-length ({declared})"
)]
pub struct LengthMismatch {
    declared: u64,
    seen: u64,
}

/// `inner`, checked against `declared` (`None`: passed through as it is).
pub struct DeclaredLength<B: HttpBody> {
    inner: B,
    declared: Option<u64>,
    seen: u64,
    /// The frame that completed the declared length, then trailers, until the end of stream.
    held: Option<Frame<B::Data>>,
    trailers: Option<Frame<B::Data>>,
    ended: bool,
}

impl<B: HttpBody> DeclaredLength<B> {
    /// `inner`, whose DATA must add up to `declared` when there is one.
    pub fn new(inner: B, declared: Option<u64>) -> Self {
        Self {
            inner,
            declared,
            seen: 0,
            held: None,
            trailers: None,
            ended: false,
        }
    }
}

impl<B> HttpBody for DeclaredLength<B>
where
    B: HttpBody + Unpin,
    B::Data: Unpin,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Data = B::Data;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = &mut *self;
        let Some(declared) = this.declared else {
            return Pin::new(&mut this.inner)
                .poll_frame(cx)
                .map(|f| f.map(|f| f.map_err(Into::into)));
        };
        loop {
            if this.ended {
                return Poll::Ready(this.held.take().or(this.trailers.take()).map(Ok));
            }
            let frame = match ready!(Pin::new(&mut this.inner).poll_frame(cx)) {
                None => {
                    if this.seen != declared {
                        return Poll::Ready(Some(Err(Box::new(LengthMismatch {
                            declared,
                            seen: this.seen,
                        }))));
                    }
                    this.ended = true;
                    continue;
                }
                Some(Err(error)) => return Poll::Ready(Some(Err(error.into()))),
                Some(Ok(frame)) => frame,
            };
            let Some(data) = frame.data_ref() else {
                this.trailers = Some(frame);
                continue;
            };
            this.seen = this.seen.saturating_add(data.remaining() as u64);
            if this.seen > declared {
                return Poll::Ready(Some(Err(Box::new(LengthMismatch {
                    declared,
                    seen: this.seen,
                }))));
            }
            if this.seen < declared {
                return Poll::Ready(Some(Ok(frame)));
            }
            // The declared length is complete: whatever came before goes on, this frame
            // waits until the stream ends as declared.
            if let Some(previous) = this.held.replace(frame) {
                return Poll::Ready(Some(Ok(previous)));
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match self.declared {
            None => self.inner.is_end_stream(),
            Some(declared) => {
                self.held.is_none()
                    && self.trailers.is_none()
                    && (self.ended || (self.inner.is_end_stream() && self.seen == declared))
            }
        }
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use bytes::Bytes;
    use http_body_util::BodyExt as _;
    use std::collections::VecDeque;

    /// A body of these chunks, then the end.
    struct Chunks(VecDeque<&'static [u8]>);

    impl HttpBody for Chunks {
        type Data = Bytes;
        type Error = std::convert::Infallible;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
            Poll::Ready(
                self.0
                    .pop_front()
                    .map(|c| Ok(Frame::data(Bytes::from_static(c)))),
            )
        }
    }

    fn chunks(parts: &[&'static [u8]]) -> Chunks {
        Chunks(parts.iter().copied().collect())
    }

    #[tokio::test]
    async fn a_body_adding_up_to_its_length_passes_whole() {
        let body = DeclaredLength::new(chunks(&[b"hel", b"lo"]), Some(5));
        assert_eq!(body.collect().await.unwrap().to_bytes(), "hello");
    }

    #[tokio::test]
    async fn shorter_or_longer_bodies_fail_and_the_last_bytes_never_go_out() {
        let cases: [(&[&'static [u8]], u64); 3] = [
            (&[b"hel", b"lo"], 4),
            (&[b"hel", b"lo"], 6),
            (&[b"hello", b"!"], 5),
        ];
        for (parts, declared) in cases {
            let mut body = DeclaredLength::new(chunks(parts), Some(declared));
            let mut passed = 0;
            let failed = loop {
                match body.frame().await {
                    Some(Ok(frame)) => passed += frame.into_data().unwrap().len() as u64,
                    Some(Err(error)) => break error,
                    None => panic!("{parts:?} ended as if complete"),
                }
            };
            assert!(failed.is::<LengthMismatch>(), "{failed}");
            assert!(passed < declared, "{parts:?}: {passed} of {declared}");
        }
    }
}
