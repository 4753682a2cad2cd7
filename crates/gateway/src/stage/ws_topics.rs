//! The WebSocket topics stage, for `WS` APIs: a topic is the path after the API's base, its
//! `SUBSCRIBE` operation decides who may connect (authenticated and authorised at the
//! handshake, as any call), its `PUBLISH` operation what they may send. Once switched, the
//! relay reads frame headers both ways (payloads pass untouched): every message counts as
//! an event of the subscription tier (`stage::events`), a message from a client the topic
//! does not let publish ends the connection, and so does silence for the API's idle timeout
//! — each with a close frame naming why (WSO2's codes: 4002 forbidden, 4003 throttled).

use std::sync::Arc;
use std::time::Duration;

use http::{Request, StatusCode};
use tokio::io::{AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};

use super::Answer;
use super::authenticate::Authenticated;
use super::events::EventQuota;
use super::route::Routed;
use crate::credential::CallerClaims;
use crate::respond;

/// WSO2's close code for a frame the caller may not send.
const FORBIDDEN: u16 = 4002;
/// WSO2's close code for a frame over the tier.
const THROTTLED: u16 = 4003;
/// RFC 6455 "going away": the gateway closes an idle connection.
const GOING_AWAY: u16 = 1001;

/// What a connection to one topic may do.
pub struct TopicRules {
    api: Arc<str>,
    quota: Option<EventQuota>,
    /// `Err(why)` when the client may not publish on the topic.
    publish: Result<(), String>,
    /// Close after this long without a frame either way (zero: never).
    idle: Duration,
}

/// For a `WS` API: the rules of the topic `routed` names for `who` (the subscription's event
/// quota taken from `quota`); 400 when the request is not a WebSocket handshake. `None` for
/// other APIs.
pub fn handshake<B>(
    routed: &Routed<'_>,
    who: &Authenticated,
    request: &Request<B>,
    quota: &mut Option<EventQuota>,
    default_idle: Duration,
) -> Result<Option<TopicRules>, Answer> {
    if routed.api.kind != gantry_model::streaming::ApiType::Ws {
        return Ok(None);
    }
    if super::websocket::asked(request.version(), request.headers()).is_none() {
        return Err(respond::error(
            StatusCode::BAD_REQUEST,
            "400",
            "Bad Request",
            "This is a WebSocket API: open it with an HTTP/1.1 WebSocket handshake",
        ));
    }
    let publish = match &routed.operation.publish {
        None => Err("This topic takes no messages from clients".to_owned()),
        Some(scopes) => match scopes.iter().find(|s| !holds(who, s)) {
            Some(missing) => Err(format!(
                "The access token is missing the scope '{missing}' to publish on this topic"
            )),
            None => Ok(()),
        },
    };
    Ok(Some(TopicRules {
        api: routed.api.name.clone(),
        quota: quota.take(),
        publish,
        idle: routed.api.idle_timeout.unwrap_or(default_idle),
    }))
}

/// Whether `who`'s token carries `scope` (API keys and anonymous callers carry none).
fn holds(who: &Authenticated, scope: &str) -> bool {
    who.caller
        .as_ref()
        .is_some_and(|caller| match &caller.claims {
            CallerClaims::Access(claims) => claims.scope.split_whitespace().any(|s| s == scope),
            CallerClaims::ApiKey(_) => false,
        })
}

/// Relays frames between the upgraded client and upstream connections under `rules`, until
/// either side closes, a rule closes it, the idle timeout passes or the gateway stops.
pub async fn relay(
    client: hyper::upgrade::OnUpgrade,
    upstream: hyper::upgrade::OnUpgrade,
    rules: TopicRules,
    stop: tokio_util::sync::CancellationToken,
) {
    let (client, upstream) = match tokio::try_join!(client, upstream) {
        Ok(pair) => pair,
        Err(error) => {
            tracing::debug!(api = %rules.api, %error, "protocol switch failed");
            return;
        }
    };
    let client = hyper_util::rt::TokioIo::new(client);
    let upstream = hyper_util::rt::TokioIo::new(upstream);
    let (mut client_rx, mut client_tx) = tokio::io::split(client);
    let (mut upstream_rx, mut upstream_tx) = tokio::io::split(upstream);
    let mut from_client = Direction::new(true);
    let mut from_upstream = Direction::new(false);
    let watching = !rules.idle.is_zero();
    let idle_timer = tokio::time::sleep(if watching {
        rules.idle
    } else {
        Duration::from_secs(3600)
    });
    tokio::pin!(idle_timer);
    let ended: Result<&str, (u16, String)> = loop {
        // Only the reads race (they are cancel-safe); what was read is written on after.
        let step = tokio::select! {
            read = client_rx.read(&mut from_client.buffer) => {
                from_client.forward(read, &mut upstream_tx, &rules).await
            }
            read = upstream_rx.read(&mut from_upstream.buffer) => {
                from_upstream.forward(read, &mut client_tx, &rules).await
            }
            () = &mut idle_timer, if watching => {
                Err(Close::Rule(GOING_AWAY, "Idle timeout".to_owned()))
            }
            () = stop.cancelled() => {
                Err(Close::Rule(GOING_AWAY, "Gateway shutting down".to_owned()))
            }
        };
        match step {
            Ok(()) => {}
            Err(Close::Ended) => break Ok("closed"),
            Err(Close::Rule(code, reason)) => break Err((code, reason)),
        }
        if watching {
            idle_timer
                .as_mut()
                .reset(tokio::time::Instant::now() + rules.idle);
        }
    };
    if let Err((code, reason)) = &ended {
        tracing::debug!(api = %rules.api, code, %reason, "WebSocket closed by the gateway");
        let _ = client_tx.write_all(&close_frame(*code, reason, None)).await;
        let _ = upstream_tx
            .write_all(&close_frame(*code, reason, Some(mask_key())))
            .await;
    }
    let _ = client_tx.shutdown().await;
    let _ = upstream_tx.shutdown().await;
    tracing::debug!(
        api = %rules.api,
        sent = from_client.messages,
        received = from_upstream.messages,
        "WebSocket topic connection closed"
    );
}

/// Why a direction stopped.
enum Close {
    /// A side closed or failed.
    Ended,
    /// A rule ends the connection: close code and reason.
    Rule(u16, String),
}

/// One direction of the relay: bytes read, frame headers judged, what passes written on.
struct Direction {
    from_client: bool,
    frames: FrameHeaders,
    buffer: Vec<u8>,
    out: Vec<u8>,
    messages: u64,
}

impl Direction {
    fn new(from_client: bool) -> Self {
        Self {
            from_client,
            frames: FrameHeaders::default(),
            buffer: vec![0; 16 * 1024],
            out: Vec::with_capacity(16 * 1024),
            messages: 0,
        }
    }

    /// Writes on to `tx` what of the bytes `read` into the buffer the rules let through.
    async fn forward<W: AsyncWrite + Unpin>(
        &mut self,
        read: std::io::Result<usize>,
        tx: &mut W,
        rules: &TopicRules,
    ) -> Result<(), Close> {
        let n = match read {
            Ok(0) | Err(_) => return Err(Close::Ended),
            Ok(n) => n,
        };
        self.out.clear();
        let from_client = self.from_client;
        let mut messages = 0;
        let verdict = self
            .frames
            .filter(&self.buffer[..n], &mut self.out, |head| {
                if !head.is_data() {
                    return Ok(());
                }
                if from_client && head.opcode != 0 {
                    rules
                        .publish
                        .clone()
                        .map_err(|reason| (FORBIDDEN, reason))?;
                }
                if head.fin {
                    if let Some(quota) = &rules.quota {
                        quota.admit().map_err(|reason| {
                            (
                                THROTTLED,
                                format!("Websocket frame throttled out: {reason}"),
                            )
                        })?;
                    }
                    messages += 1;
                }
                Ok(())
            });
        self.messages += messages;
        if !self.out.is_empty() && tx.write_all(&self.out).await.is_err() {
            return Err(Close::Ended);
        }
        verdict.map_err(|(code, reason)| Close::Rule(code, reason))
    }
}

/// A frame's header (RFC 6455 §5.2), as far as the rules read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FrameHead {
    fin: bool,
    opcode: u8,
}

impl FrameHead {
    /// Text, binary or continuation: part of a message.
    fn is_data(self) -> bool {
        matches!(self.opcode, 0..=2)
    }
}

/// Finds frame headers in a byte stream, holding a header back until it is whole so a
/// refused frame never leaves the gateway in part.
#[derive(Default)]
struct FrameHeaders {
    head: Vec<u8>,
    payload_left: u64,
}

impl FrameHeaders {
    /// Copies `data` to `out` frame by frame, asking `judge` about each header; stops at
    /// the first header it refuses (that frame is not copied).
    fn filter(
        &mut self,
        data: &[u8],
        out: &mut Vec<u8>,
        mut judge: impl FnMut(FrameHead) -> Result<(), (u16, String)>,
    ) -> Result<(), (u16, String)> {
        let mut at = 0;
        while at < data.len() {
            if self.payload_left > 0 {
                let n = usize::try_from(self.payload_left)
                    .unwrap_or(usize::MAX)
                    .min(data.len() - at);
                out.extend_from_slice(&data[at..at + n]);
                at += n;
                self.payload_left -= n as u64;
                continue;
            }
            self.head.push(data[at]);
            at += 1;
            let Some((head, payload)) = self.complete_head() else {
                continue;
            };
            judge(head)?;
            out.append(&mut self.head);
            self.payload_left = payload;
        }
        Ok(())
    }

    /// The header and payload length once `head` holds a whole header.
    fn complete_head(&self) -> Option<(FrameHead, u64)> {
        let h = &self.head;
        if h.len() < 2 {
            return None;
        }
        let masked = h[1] & 0x80 != 0;
        let (extended, length) = match h[1] & 0x7f {
            126 => (2, None),
            127 => (8, None),
            n => (0, Some(u64::from(n))),
        };
        let size = 2 + extended + if masked { 4 } else { 0 };
        if h.len() < size {
            return None;
        }
        let length = length.unwrap_or_else(|| {
            h[2..2 + extended]
                .iter()
                .fold(0u64, |n, b| (n << 8) | u64::from(*b))
        });
        Some((
            FrameHead {
                fin: h[0] & 0x80 != 0,
                opcode: h[0] & 0x0f,
            },
            length,
        ))
    }
}

/// A close frame with `code` and `reason` (cut to fit a control frame), masked with `mask`
/// when it goes to the upstream (a client's frames are masked, RFC 6455 §5.3).
fn close_frame(code: u16, reason: &str, mask: Option<[u8; 4]>) -> Vec<u8> {
    let mut cut = reason.len().min(123);
    while !reason.is_char_boundary(cut) {
        cut -= 1;
    }
    let mut payload = code.to_be_bytes().to_vec();
    payload.extend_from_slice(&reason.as_bytes()[..cut]);
    let mut frame = vec![0x88, payload.len() as u8];
    if let Some(key) = mask {
        frame[1] |= 0x80;
        frame.extend_from_slice(&key);
        for (i, byte) in payload.iter_mut().enumerate() {
            *byte ^= key[i % 4];
        }
    }
    frame.extend_from_slice(&payload);
    frame
}

fn mask_key() -> [u8; 4] {
    let mut key = [0u8; 4];
    let _ = aws_lc_rs::rand::fill(&mut key);
    key
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// A masked client text frame of `payload`.
    fn text(payload: &[u8], fin: bool) -> Vec<u8> {
        let mut f = vec![if fin { 0x81 } else { 0x01 }];
        match payload.len() {
            n if n < 126 => f.push(0x80 | n as u8),
            n => {
                f.push(0x80 | 126);
                f.extend_from_slice(&(n as u16).to_be_bytes());
            }
        }
        f.extend_from_slice(&[0, 0, 0, 0]);
        f.extend_from_slice(payload);
        f
    }

    #[test]
    fn frames_split_anywhere_are_copied_whole_and_judged_once() {
        let mut stream = text(b"hello", true);
        stream.extend(text(&[7u8; 300], true));
        stream.extend([0x89, 0x80, 0, 0, 0, 0]); // a ping
        for cut in 1..stream.len() {
            let mut frames = FrameHeaders::default();
            let mut out = Vec::new();
            let mut heads = Vec::new();
            for part in [&stream[..cut], &stream[cut..]] {
                frames
                    .filter(part, &mut out, |h| {
                        heads.push(h);
                        Ok(())
                    })
                    .unwrap();
            }
            assert_eq!(out, stream, "cut at {cut}");
            assert_eq!(heads.len(), 3);
            assert_eq!(heads.iter().filter(|h| h.is_data()).count(), 2);
        }
    }

    #[test]
    fn a_refused_frame_is_not_copied() {
        let mut stream = text(b"one", true);
        let first = stream.len();
        stream.extend(text(b"two", true));
        let mut frames = FrameHeaders::default();
        let mut out = Vec::new();
        let mut seen = 0;
        let verdict = frames.filter(&stream, &mut out, |_| {
            seen += 1;
            if seen == 2 {
                Err((THROTTLED, "no".into()))
            } else {
                Ok(())
            }
        });
        assert_eq!(verdict, Err((THROTTLED, "no".into())));
        assert_eq!(out, stream[..first]);
    }

    #[test]
    fn close_frames_carry_the_code_and_a_masked_copy_unmasks_to_it() {
        let plain = close_frame(4003, "throttled", None);
        assert_eq!(plain[..4], [0x88, 11, 0x0f, 0xa3]);
        let masked = close_frame(4003, "throttled", Some([1, 2, 3, 4]));
        assert_eq!(masked[1], 0x80 | 11);
        let unmasked: Vec<u8> = masked[6..]
            .iter()
            .enumerate()
            .map(|(i, b)| b ^ [1, 2, 3, 4][i % 4])
            .collect();
        assert_eq!(unmasked, plain[2..]);
        assert!(close_frame(1000, &"é".repeat(100), None).len() <= 127);
    }
}
