//! Token metering of AI API responses, as the body streams to the client. A JSON answer is
//! read whole (it is small), its usage block read, PII masked when the API masks, and sent
//! on. A streamed answer (SSE) passes chunk by chunk, unbuffered: each event's usage (the
//! last chunk's, with `stream_options.include_usage`) is kept, and the completion is
//! estimated from the text deltas (four characters a token) meanwhile; when that estimate
//! passes what the budget had left, the stream is cut with an SSE `error` event. Tokens are
//! charged to the budgets and counted in the metrics when the body ends or is dropped.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Response, header};
use http_body_util::BodyExt as _;
use hyper::body::Frame;
use serde_json::Value;

use super::limit::CostMeters;
use crate::ai_metrics::TokenUse;
use crate::compiled::ai::{AiRoute, TokenBudget, TokenKind};
use crate::metrics::GatewayMetrics;
use crate::ratelimit::Scope;
use crate::respond::Body;

/// The model label before a target or the provider named one.
pub(crate) const UNKNOWN_MODEL: &str = "(unknown)";

/// A JSON answer larger than this is relayed without reading its usage (then estimated).
const MAX_READ: usize = 8 << 20;
/// An SSE line longer than this is not parsed.
const MAX_LINE: usize = 256 << 10;

/// Who pays for a call's tokens, and where they are counted.
pub(crate) struct Account {
    pub(crate) meters: CostMeters,
    pub(crate) metrics: Arc<GatewayMetrics>,
    pub(crate) api_name: Arc<str>,
    pub(crate) application: Arc<str>,
    pub(crate) budget: Option<Arc<TokenBudget>>,
    /// What each budget (total, prompt, completion) had left on this gateway at admission.
    pub(crate) left: [Option<u64>; 3],
    pub(crate) keys: [Arc<str>; 3],
    pub(crate) provider: Arc<str>,
    pub(crate) model: Arc<str>,
    /// Prompt tokens estimated from the prompt's text.
    pub(crate) prompt_estimate: u64,
    /// What the provider reported.
    pub(crate) usage: Option<TokenUse>,
    pub(crate) route: Arc<AiRoute>,
}

impl Account {
    /// Charges `used` to the budgets and counts it.
    fn charge(&self, used: TokenUse) {
        if let Some(budget) = &self.budget {
            for (kind, limit) in budget.limits() {
                let cost = match kind {
                    TokenKind::Total => used.total,
                    TokenKind::Prompt => used.prompt,
                    TokenKind::Completion => used.completion,
                };
                self.meters.spend(
                    Scope::Tokens,
                    &self.application,
                    &self.keys[kind as usize],
                    limit,
                    cost,
                );
            }
        }
        self.metrics.ai.used(
            &self.api_name,
            &self.application,
            &self.provider,
            &self.model,
            used,
        );
    }

    /// Takes the model the provider names in `body` for the metrics, when no target named
    /// one (a client's choice passed through).
    fn note_model(&mut self, body: &Value) {
        if &*self.model != UNKNOWN_MODEL {
            return;
        }
        if let Some(model) = self
            .route
            .response_model
            .as_ref()
            .and_then(|p| p.text(body))
        {
            self.model = Arc::from(model);
        }
    }

    /// The completion tokens this stream may still produce before a budget runs out.
    fn completion_allowance(&self) -> Option<u64> {
        let total = self.left[TokenKind::Total as usize]
            .map(|left| left.saturating_sub(self.prompt_estimate));
        let completion = self.left[TokenKind::Completion as usize];
        match (total, completion) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

enum Mode {
    /// A JSON answer, read whole.
    Read { buffer: Vec<u8>, mask: bool },
    /// An SSE stream, passed through.
    Stream {
        line: Vec<u8>,
        completion_estimate: u64,
        allowance: Option<u64>,
        cut: bool,
    },
    /// Relayed as it is (errors, other content); nothing charged unless it was read.
    Relay,
    /// Finished.
    Done,
}

/// A response body that meters an AI call's tokens.
pub(crate) struct Metered {
    inner: Body,
    mode: Mode,
    account: Account,
    /// Completion tokens estimated so far (streams, or JSON too large to read).
    estimate: u64,
    charged: bool,
}

impl Metered {
    /// `response` with its body metered for `account`.
    pub(crate) fn wrap(response: Response<Body>, account: Account) -> Response<Body> {
        let (mut parts, body) = response.into_parts();
        let content_type = parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_ascii_lowercase();
        let mode = if !parts.status.is_success() {
            Mode::Relay
        } else if content_type.starts_with("text/event-stream") {
            Mode::Stream {
                line: Vec::new(),
                completion_estimate: 0,
                allowance: account.completion_allowance(),
                cut: false,
            }
        } else if content_type.contains("json") {
            let mask = account.route.guardrails.masks();
            if mask {
                parts.headers.remove(header::CONTENT_LENGTH);
            }
            Mode::Read {
                buffer: Vec::new(),
                mask,
            }
        } else {
            Mode::Relay
        };
        let charged = matches!(mode, Mode::Relay);
        let metered = Metered {
            inner: body,
            mode,
            account,
            estimate: 0,
            charged,
        };
        Response::from_parts(parts, metered.boxed())
    }

    fn finish(&mut self) {
        if self.charged {
            return;
        }
        self.charged = true;
        let used = self.account.usage.unwrap_or(TokenUse {
            prompt: self.account.prompt_estimate,
            completion: self.estimate,
            total: self.account.prompt_estimate + self.estimate,
        });
        self.account.charge(used);
    }

    /// Reads one SSE event line: usage when reported, the completion estimate otherwise.
    fn read_event(&mut self, line: &[u8]) -> u64 {
        let Some(data) = line.strip_prefix(b"data:") else {
            return 0;
        };
        let data = data.trim_ascii();
        if data.is_empty() || data == b"[DONE]" {
            return 0;
        }
        let Ok(event) = serde_json::from_slice::<Value>(data) else {
            return 0;
        };
        if let Some(used) = reported_usage(&self.account.route, &event) {
            // Providers that report usage in several events (Anthropic) grow it.
            let held = self.account.usage.get_or_insert(used);
            held.prompt = held.prompt.max(used.prompt);
            held.completion = held.completion.max(used.completion);
            held.total = held
                .total
                .max(used.total)
                .max(held.prompt + held.completion);
        }
        self.account.note_model(&event);
        delta_chars(&event).div_ceil(4) as u64
    }

    /// Takes the lines of `data`; the tokens estimated in them.
    fn read_stream_chunk(&mut self, data: &[u8]) -> u64 {
        let Mode::Stream { line, .. } = &mut self.mode else {
            return 0;
        };
        let mut pending = std::mem::take(line);
        let mut estimate = 0;
        for &byte in data {
            if byte == b'\n' {
                let complete = std::mem::take(&mut pending);
                estimate += self.read_event(complete.strip_suffix(b"\r").unwrap_or(&complete));
            } else if pending.len() < MAX_LINE {
                pending.push(byte);
            }
        }
        if let Mode::Stream { line, .. } = &mut self.mode {
            *line = pending;
        }
        estimate
    }

    fn read_whole(&mut self, buffer: Vec<u8>, mask: bool) -> Bytes {
        let Ok(mut body) = serde_json::from_slice::<Value>(&buffer) else {
            self.estimate = (buffer.len() as u64).div_ceil(4);
            return Bytes::from(buffer);
        };
        self.account.usage = reported_usage(&self.account.route, &body);
        self.account.note_model(&body);
        if mask {
            self.account.route.guardrails.mask_response(&mut body);
            return Bytes::from(serde_json::to_vec(&body).unwrap_or(buffer));
        }
        Bytes::from(buffer)
    }
}

/// Characters of generated text in one streamed event (OpenAI `choices[].delta.content`,
/// Anthropic `delta.text`).
fn delta_chars(event: &Value) -> usize {
    let mut n = 0;
    if let Some(choices) = event.get("choices").and_then(Value::as_array) {
        for choice in choices {
            if let Some(text) = choice
                .get("delta")
                .and_then(|d| d.get("content"))
                .and_then(Value::as_str)
            {
                n += text.chars().count();
            }
        }
    }
    if let Some(text) = event
        .get("delta")
        .and_then(|d| d.get("text"))
        .and_then(Value::as_str)
    {
        n += text.chars().count();
    }
    n
}

/// The SSE event that ends a stream whose budget ran out.
fn budget_event() -> Bytes {
    let error = serde_json::json!({"error": {
        "message": "Token budget exhausted: the subscription's token quota ran out during this response",
        "type": "token_limit_exceeded",
        "code": "900804",
    }});
    Bytes::from(format!("\nevent: error\ndata: {error}\n\n"))
}

impl hyper::body::Body for Metered {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let this = self.get_mut();
        loop {
            match &mut this.mode {
                Mode::Done => return Poll::Ready(None),
                Mode::Relay => return Pin::new(&mut this.inner).poll_frame(cx),
                Mode::Stream { cut: true, .. } => {
                    this.mode = Mode::Done;
                    this.finish();
                    return Poll::Ready(Some(Ok(Frame::data(budget_event()))));
                }
                Mode::Read { .. } | Mode::Stream { .. } => {}
            }
            let polled = match Pin::new(&mut this.inner).poll_frame(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(polled) => polled,
            };
            match polled {
                None => {
                    let mode = std::mem::replace(&mut this.mode, Mode::Done);
                    let tail = match mode {
                        Mode::Read { buffer, mask } => Some(this.read_whole(buffer, mask)),
                        _ => None,
                    };
                    this.finish();
                    return Poll::Ready(tail.map(|b| Ok(Frame::data(b))));
                }
                Some(Err(error)) => {
                    this.mode = Mode::Done;
                    this.finish();
                    return Poll::Ready(Some(Err(error)));
                }
                Some(Ok(frame)) => {
                    let Some(data) = frame.data_ref() else {
                        return Poll::Ready(Some(Ok(frame)));
                    };
                    match &mut this.mode {
                        Mode::Read { buffer, .. } => {
                            buffer.extend_from_slice(data);
                            if buffer.len() > MAX_READ {
                                let held = Bytes::from(std::mem::take(buffer));
                                this.estimate = (held.len() as u64).div_ceil(4);
                                this.mode = Mode::Relay;
                                this.charged = false;
                                return Poll::Ready(Some(Ok(Frame::data(held))));
                            }
                        }
                        Mode::Stream { .. } => {
                            let data = data.clone();
                            let tokens = this.read_stream_chunk(&data);
                            this.estimate += tokens;
                            if let Mode::Stream {
                                completion_estimate,
                                allowance,
                                cut,
                                ..
                            } = &mut this.mode
                            {
                                *completion_estimate += tokens;
                                let reported = this.account.usage.is_some();
                                if !reported && allowance.is_some_and(|a| *completion_estimate > a)
                                {
                                    tracing::info!(api = %this.account.api_name,
                                        "token budget ran out mid-stream; cutting the stream");
                                    *cut = true;
                                }
                            }
                            return Poll::Ready(Some(Ok(Frame::data(data))));
                        }
                        _ => return Poll::Ready(Some(Ok(frame))),
                    }
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self.mode, Mode::Done)
    }
}

impl Drop for Metered {
    fn drop(&mut self) {
        self.finish();
    }
}

/// Tokens of one call as the provider reported them in `body`, if it did.
pub(crate) fn reported_usage(route: &AiRoute, body: &Value) -> Option<TokenUse> {
    let prompt = route.prompt_tokens.as_ref().and_then(|p| p.count(body));
    let completion = route.completion_tokens.as_ref().and_then(|p| p.count(body));
    let total = route.total_tokens.as_ref().and_then(|p| p.count(body));
    if prompt.is_none() && completion.is_none() && total.is_none() {
        return None;
    }
    let (prompt, completion) = (prompt.unwrap_or(0), completion.unwrap_or(0));
    Some(TokenUse {
        prompt,
        completion,
        total: total.unwrap_or(prompt + completion),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn deltas_count_openai_and_anthropic_text() {
        let openai = serde_json::json!({"choices": [{"delta": {"content": "abcdefgh"}}]});
        assert_eq!(delta_chars(&openai), 8);
        let anthropic =
            serde_json::json!({"type": "content_block_delta", "delta": {"text": "abc"}});
        assert_eq!(delta_chars(&anthropic), 3);
    }
}
