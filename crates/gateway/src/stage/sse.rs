//! The SSE stage (after relay, for `SSE` APIs): the upstream's event stream goes to the client
//! frame by frame as it arrives (nothing is buffered), and each event — a block of lines
//! ended by a blank line, comments alone not counted — is counted against the subscription
//! tier (`stage::events`). When the tier has none left, the event that crossed it is not
//! sent: the client gets a last `event: throttled` and the stream ends.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::Response;
use http_body_util::BodyExt as _;
use hyper::body::Frame;

use super::events::EventQuota;
use crate::compiled::ApiEntry;
use crate::respond::Body;

/// The response of a call to `api`: an SSE API's stream counted against `quota`; any other
/// response as it is.
pub fn meter(
    api: &ApiEntry,
    quota: Option<EventQuota>,
    response: Response<Body>,
) -> Response<Body> {
    let Some(quota) = quota.filter(|_| api.kind == gantry_model::streaming::ApiType::Sse) else {
        return response;
    };
    let (parts, body) = response.into_parts();
    let counted = EventCounter {
        inner: body,
        quota,
        events: EventBoundaries::default(),
        held: bytes::BytesMut::new(),
        state: State::Streaming,
    };
    Response::from_parts(parts, counted.boxed())
}

/// An event held back until its end is this long: longer ones stream through as they come.
const MAX_HELD: usize = 1 << 20;

/// Where blocks of lines end in an SSE byte stream (lines end with CRLF, LF or CR; a blank
/// line ends a block, which is an event when it had a line other than a comment).
#[derive(Default)]
struct EventBoundaries {
    /// Bytes in the current line so far.
    line: usize,
    /// The current line starts with `:` (a comment).
    comment: bool,
    /// The last byte was a CR (a LF next ends nothing more).
    after_cr: bool,
    /// The current block has a field line.
    fields: bool,
}

/// What one byte of the stream did.
#[derive(Debug, PartialEq, Eq)]
enum Fed {
    /// The block goes on.
    Within,
    /// The byte ended a block; an event when `event`, else comments or a stray blank line.
    BlockEnd { event: bool },
}

impl EventBoundaries {
    fn feed(&mut self, byte: u8) -> Fed {
        let after_cr = std::mem::replace(&mut self.after_cr, byte == b'\r');
        match byte {
            b'\n' if after_cr => Fed::Within,
            b'\n' | b'\r' if self.line == 0 => Fed::BlockEnd {
                event: std::mem::take(&mut self.fields),
            },
            b'\n' | b'\r' => {
                self.fields |= !self.comment;
                self.line = 0;
                Fed::Within
            }
            _ => {
                if self.line == 0 {
                    self.comment = byte == b':';
                }
                self.line += 1;
                Fed::Within
            }
        }
    }
}

enum State {
    Streaming,
    /// The tier ran out: this notice is the last thing sent.
    Refused(Bytes),
    Ended,
}

/// A response body that relays whole events and counts them as they pass.
struct EventCounter {
    inner: Body,
    quota: EventQuota,
    events: EventBoundaries,
    /// The start of an event whose end has not arrived yet.
    held: bytes::BytesMut,
    state: State,
}

impl EventCounter {
    /// What of `data` (after what is held) can go to the client now: every block it
    /// completes, up to an event the tier refuses (that event and the rest are dropped).
    fn admit(&mut self, data: Bytes) -> Bytes {
        let mut ready = 0;
        for (i, byte) in data.iter().enumerate() {
            if let Fed::BlockEnd { event } = self.events.feed(*byte) {
                if event && let Err(reason) = self.quota.admit() {
                    tracing::debug!(%reason, "event stream throttled");
                    let notice = serde_json::json!({
                        "code": crate::ratelimit::Scope::Subscription.code(),
                        "message": "Message throttled out",
                        "description": reason,
                    });
                    self.state = State::Refused(Bytes::from(format!(
                        "event: throttled\ndata: {notice}\n\n"
                    )));
                    if ready == 0 {
                        // The refused event began in what is held.
                        self.held.clear();
                    }
                    return self.release(data.slice(..ready));
                }
                ready = i + 1;
            }
        }
        let out = if ready > 0 {
            self.release(data.slice(..ready))
        } else {
            Bytes::new()
        };
        self.held.extend_from_slice(&data[ready..]);
        if self.held.len() > MAX_HELD {
            // Too long to hold: it streams through, counted when it ends.
            let mut all = bytes::BytesMut::from(out);
            all.extend_from_slice(&self.held.split());
            return all.freeze();
        }
        out
    }

    /// What is held, then `complete`.
    fn release(&mut self, complete: Bytes) -> Bytes {
        if self.held.is_empty() {
            return complete;
        }
        let mut all = self.held.split();
        all.extend_from_slice(&complete);
        all.freeze()
    }
}

impl hyper::body::Body for EventCounter {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let this = self.get_mut();
        loop {
            match std::mem::replace(&mut this.state, State::Ended) {
                State::Ended => return Poll::Ready(None),
                State::Refused(notice) => return Poll::Ready(Some(Ok(Frame::data(notice)))),
                State::Streaming => this.state = State::Streaming,
            }
            match Pin::new(&mut this.inner).poll_frame(cx) {
                Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                    Ok(data) => {
                        let out = this.admit(data);
                        if !out.is_empty() || !matches!(this.state, State::Streaming) {
                            return Poll::Ready(Some(Ok(Frame::data(out))));
                        }
                    }
                    Err(frame) => return Poll::Ready(Some(Ok(frame))),
                },
                Poll::Ready(None) => {
                    // An unfinished last event goes as it is (a client drops it).
                    this.state = State::Ended;
                    if this.held.is_empty() {
                        return Poll::Ready(None);
                    }
                    return Poll::Ready(Some(Ok(Frame::data(this.held.split().freeze()))));
                }
                other => return other,
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self.state, State::Ended)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ends(stream: &[u8]) -> Vec<usize> {
        let mut events = EventBoundaries::default();
        stream
            .iter()
            .enumerate()
            .filter(|(_, b)| events.feed(**b) == Fed::BlockEnd { event: true })
            .map(|(i, _)| i + 1)
            .collect()
    }

    #[test]
    fn events_end_at_blank_lines_whatever_the_line_ending() {
        assert_eq!(ends(b"data: a\n\ndata: b\n\n"), vec![9, 18]);
        assert_eq!(ends(b"data: a\r\n\r\nid: 2\rdata: b\r\r"), vec![10, 26]);
        assert_eq!(ends(b"event: x\ndata: 1\ndata: 2\n\n"), vec![26]);
    }

    #[test]
    fn comments_and_stray_blank_lines_are_not_events() {
        assert_eq!(ends(b": keep-alive\n\n\n\ndata: a\n\n"), vec![25]);
    }
}
