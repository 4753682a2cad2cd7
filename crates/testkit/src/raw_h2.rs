//! Raw HTTP/2 (RFC 9113) over a TCP socket, h2c with prior knowledge: for tests whose point is
//! frames an HTTP/2 library will not send (floods, malformed or abusive sequences).
//!
//! [`frame`] builds one frame, [`HeaderBlock`] an HPACK block from the three representations
//! tests need, and [`H2Client`] keeps a connection whose frames are read in the background (so
//! the server's answers never stall the flood), recording what the server said in [`Heard`].

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::sync::{Mutex, watch};

/// The client connection preface.
pub const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Frame types.
pub mod kind {
    /// DATA.
    pub const DATA: u8 = 0x0;
    /// HEADERS.
    pub const HEADERS: u8 = 0x1;
    /// RST_STREAM.
    pub const RST_STREAM: u8 = 0x3;
    /// SETTINGS.
    pub const SETTINGS: u8 = 0x4;
    /// PING.
    pub const PING: u8 = 0x6;
    /// GOAWAY.
    pub const GOAWAY: u8 = 0x7;
    /// WINDOW_UPDATE.
    pub const WINDOW_UPDATE: u8 = 0x8;
    /// CONTINUATION.
    pub const CONTINUATION: u8 = 0x9;
}

/// Frame flags.
pub mod flag {
    /// DATA, HEADERS: the last frame of the stream.
    pub const END_STREAM: u8 = 0x1;
    /// SETTINGS, PING: an acknowledgement.
    pub const ACK: u8 = 0x1;
    /// HEADERS, CONTINUATION: the last frame of the header block.
    pub const END_HEADERS: u8 = 0x4;
}

/// Error codes (RST_STREAM, GOAWAY).
pub mod error {
    /// NO_ERROR (a graceful GOAWAY).
    pub const NO_ERROR: u32 = 0x0;
    /// PROTOCOL_ERROR.
    pub const PROTOCOL_ERROR: u32 = 0x1;
    /// REFUSED_STREAM.
    pub const REFUSED_STREAM: u32 = 0x7;
    /// CANCEL.
    pub const CANCEL: u32 = 0x8;
    /// ENHANCE_YOUR_CALM.
    pub const ENHANCE_YOUR_CALM: u32 = 0xb;
}

/// One frame: 24-bit payload length, type, flags, 31-bit stream id, payload.
pub fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = u32::try_from(payload.len())
        .ok()
        .filter(|len| *len < 1 << 24)
        .expect("an HTTP/2 frame payload is under 16 MiB")
        .to_be_bytes();
    let mut out = vec![len[1], len[2], len[3], kind, flags];
    out.extend_from_slice(&(stream & 0x7fff_ffff).to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// RST_STREAM on `stream` with `code`.
pub fn rst_stream(stream: u32, code: u32) -> Vec<u8> {
    frame(kind::RST_STREAM, 0, stream, &code.to_be_bytes())
}

/// An HPACK header block (RFC 7541) built from literals without Huffman coding and indexes.
#[derive(Debug, Clone, Default)]
pub struct HeaderBlock(Vec<u8>);

impl HeaderBlock {
    /// An empty block.
    pub fn new() -> Self {
        Self::default()
    }

    /// `:method`, `:scheme http`, `:path` and `:authority`: a well-formed request.
    pub fn request(method: &str, path: &str, authority: &str) -> Self {
        Self::new()
            .literal(":method", method)
            .literal(":scheme", "http")
            .literal(":path", path)
            .literal(":authority", authority)
    }

    /// "Literal header field without indexing — new name" (§6.2.2).
    pub fn literal(self, name: &str, value: &str) -> Self {
        self.with_literal(0x00, 4, name, value)
    }

    /// "Literal header field with incremental indexing — new name" (§6.2.1): the field is also
    /// inserted into the dynamic table (at index 62, pushing older entries up).
    pub fn literal_indexed(self, name: &str, value: &str) -> Self {
        self.with_literal(0x40, 6, name, value)
    }

    /// "Indexed header field" (§6.1): the field at `index` (1–61 static, 62+ dynamic).
    pub fn indexed(mut self, index: usize) -> Self {
        integer(&mut self.0, 0x80, 7, index);
        self
    }

    /// The encoded block.
    pub fn bytes(&self) -> &[u8] {
        &self.0
    }

    fn with_literal(mut self, pattern: u8, prefix: u8, name: &str, value: &str) -> Self {
        integer(&mut self.0, pattern, prefix, 0);
        for string in [name, value] {
            integer(&mut self.0, 0x00, 7, string.len()); // H = 0: no Huffman coding
            self.0.extend_from_slice(string.as_bytes());
        }
        self
    }
}

/// An HPACK integer (§5.1) with an `prefix`-bit prefix under the bits of `pattern`.
fn integer(out: &mut Vec<u8>, pattern: u8, prefix: u8, value: usize) {
    let max = (1usize << prefix) - 1;
    if value < max {
        out.push(pattern | value as u8);
        return;
    }
    out.push(pattern | max as u8);
    let mut rest = value - max;
    while rest >= 128 {
        out.push((rest % 128) as u8 | 0x80);
        rest /= 128;
    }
    out.push(rest as u8);
}

/// What the server sent on an [`H2Client`] connection so far.
#[derive(Debug, Clone, Default)]
pub struct Heard {
    /// The error code of the server's GOAWAY, if it sent one.
    pub goaway: Option<u32>,
    /// The last stream id that GOAWAY says the server processed.
    pub goaway_last_stream: Option<u32>,
    /// RST_STREAM frames received, by error code.
    pub resets: HashMap<u32, usize>,
    /// Streams the server sent response HEADERS on, with the first HPACK byte of the block
    /// (`0x88`: `:status 200`; a literal otherwise).
    pub responses: Vec<(u32, u8)>,
    /// PING acknowledgements received.
    pub ping_acks: usize,
    /// SETTINGS acknowledgements received.
    pub settings_acks: usize,
    /// The server closed the connection (or it failed).
    pub closed: bool,
}

impl Heard {
    /// RST_STREAM frames received with `code`.
    pub fn resets_with(&self, code: u32) -> usize {
        self.resets.get(&code).copied().unwrap_or(0)
    }

    /// The server ended the connection: GOAWAY or close.
    pub fn ended(&self) -> bool {
        self.goaway.is_some() || self.closed
    }
}

/// An h2c connection (prior knowledge) to 127.0.0.1 whose incoming frames a background task
/// reads, acknowledging the server's SETTINGS and recording the rest in [`Heard`].
pub struct H2Client {
    writer: Arc<Mutex<OwnedWriteHalf>>,
    heard: watch::Receiver<Heard>,
    reader: tokio::task::JoinHandle<()>,
}

impl H2Client {
    /// Connects, sends the preface and an empty SETTINGS frame.
    pub async fn connect(port: u16) -> Self {
        let stream = TcpStream::connect(("127.0.0.1", port))
            .await
            .expect("connect");
        let (mut reader, writer) = stream.into_split();
        let writer = Arc::new(Mutex::new(writer));
        let (tell, heard) = watch::channel(Heard::default());
        let acks = writer.clone();
        let reader = tokio::spawn(async move {
            loop {
                let mut head = [0u8; 9];
                if reader.read_exact(&mut head).await.is_err() {
                    break;
                }
                let len =
                    usize::from(head[0]) << 16 | usize::from(head[1]) << 8 | usize::from(head[2]);
                let (kind, flags) = (head[3], head[4]);
                let id = u32::from_be_bytes([head[5], head[6], head[7], head[8]]) & 0x7fff_ffff;
                let mut payload = vec![0u8; len];
                if reader.read_exact(&mut payload).await.is_err() {
                    break;
                }
                let code = |at: usize| {
                    payload
                        .get(at..at + 4)
                        .and_then(|b| b.try_into().ok())
                        .map(u32::from_be_bytes)
                        .unwrap_or(u32::MAX)
                };
                match kind {
                    kind::SETTINGS if flags & flag::ACK == 0 => {
                        let ack = frame(kind::SETTINGS, flag::ACK, 0, &[]);
                        let _ = acks.lock().await.write_all(&ack).await;
                    }
                    kind::SETTINGS => tell.send_modify(|h| h.settings_acks += 1),
                    kind::PING if flags & flag::ACK != 0 => tell.send_modify(|h| h.ping_acks += 1),
                    kind::RST_STREAM => {
                        tell.send_modify(|h| *h.resets.entry(code(0)).or_default() += 1);
                    }
                    kind::HEADERS => {
                        let first = payload.first().copied().unwrap_or(0);
                        tell.send_modify(|h| h.responses.push((id, first)));
                    }
                    kind::GOAWAY => tell.send_modify(|h| {
                        h.goaway = Some(code(4));
                        h.goaway_last_stream = Some(code(0) & 0x7fff_ffff);
                    }),
                    _ => {}
                }
            }
            tell.send_modify(|h| h.closed = true);
        });
        let client = Self {
            writer,
            heard,
            reader,
        };
        let mut hello = PREFACE.to_vec();
        hello.extend(frame(kind::SETTINGS, 0, 0, &[]));
        client.send(&hello).await.expect("send the preface");
        client
    }

    /// Writes `bytes`; fails once the server closed the connection, or when the write does
    /// not complete within 5 s (the server stopped reading).
    pub async fn send(&self, bytes: &[u8]) -> std::io::Result<()> {
        let mut writer = self.writer.lock().await;
        match tokio::time::timeout(Duration::from_secs(5), writer.write_all(bytes)).await {
            Ok(result) => result,
            Err(_) => Err(std::io::ErrorKind::TimedOut.into()),
        }
    }

    /// What the server sent so far.
    pub fn heard(&self) -> Heard {
        self.heard.borrow().clone()
    }

    /// Waits up to `timeout` until what the server sent satisfies `condition`; returns what it
    /// sent by then (check the condition again on it).
    pub async fn wait_for(
        &self,
        timeout: Duration,
        condition: impl FnMut(&Heard) -> bool,
    ) -> Heard {
        let mut heard = self.heard.clone();
        let _ = tokio::time::timeout(timeout, heard.wait_for(condition)).await;
        self.heard()
    }
}

impl Drop for H2Client {
    fn drop(&mut self) {
        self.reader.abort();
    }
}
