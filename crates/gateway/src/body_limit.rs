//! The request body limit: a request that declares a larger body (`Content-Length`) gets 413
//! before anything is read or forwarded (and so before `100 Continue`); a body that streams
//! past the limit fails the upstream request, which is answered 413 too.

use std::sync::atomic::{AtomicU64, Ordering};

use http::{HeaderMap, Response, StatusCode, header};

use crate::respond::{self, Body};

/// The default limit: 10 MiB.
pub const DEFAULT_MAX_REQUEST_BODY: u64 = 10 * 1024 * 1024;

/// The limit in force, shared by every listener of a gateway.
#[derive(Debug)]
pub struct BodyLimit(AtomicU64);

impl Default for BodyLimit {
    fn default() -> Self {
        Self(AtomicU64::new(DEFAULT_MAX_REQUEST_BODY))
    }
}

impl BodyLimit {
    /// Bytes a request body may have.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }

    /// Changes the limit (set once before serving).
    pub fn set(&self, bytes: u64) {
        self.0.store(bytes, Ordering::Relaxed);
    }

    /// 413 when the request declares a body over the limit.
    pub fn refuse_declared(&self, headers: &HeaderMap) -> Option<Response<Body>> {
        let declared = headers
            .get(header::CONTENT_LENGTH)?
            .to_str()
            .ok()?
            .parse::<u64>()
            .ok()?;
        (declared > self.get()).then(|| too_large(self.get()))
    }
}

/// 413 in the gateway's error shape; the connection is closed, as the body was not read.
pub fn too_large(limit: u64) -> Response<Body> {
    let mut response = respond::error(
        StatusCode::PAYLOAD_TOO_LARGE,
        "413",
        "Payload Too Large",
        &format!("The request body is larger than the limit of {limit} bytes"),
    );
    response
        .headers_mut()
        .insert(header::CONNECTION, http::HeaderValue::from_static("close"));
    response
}

/// Whether `error` (an upstream request's) came from a body cut at the limit.
pub fn is_over_limit(error: &(dyn std::error::Error + 'static)) -> bool {
    caused_by::<http_body_util::LengthLimitError>(error)
}

/// Whether `error` or one of its sources is an `E`.
pub(crate) fn caused_by<E: std::error::Error + 'static>(
    error: &(dyn std::error::Error + 'static),
) -> bool {
    let mut cause = Some(error);
    while let Some(e) = cause {
        if e.is::<E>() {
            return true;
        }
        cause = e.source();
    }
    false
}
