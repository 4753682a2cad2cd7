//! HMAC-SHA256 signatures on webhook messages (approval workflows' external approvers):
//! `X-Gantry-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`, the
//! scheme Stripe and GitHub use. The timestamp is signed too, so a captured message cannot
//! be replayed once it is older than the tolerance; comparison is constant-time.

use aws_lc_rs::hmac;
use subtle::ConstantTimeEq;

/// The header that carries the signature.
pub const HEADER: &str = "x-gantry-signature";

/// Why a signature is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// No header, or not `t=…,v1=…`.
    #[error("the signature header is missing or not t=<unix seconds>,v1=<hex>")]
    Malformed,
    /// The timestamp is too far from now (a replay, or a wrong clock).
    #[error("the signature's timestamp is more than {0} s away from now")]
    Stale(u64),
    /// The HMAC does not match: forged, or signed with another secret or body.
    #[error("the signature does not match the body")]
    Mismatch,
}

fn mac(secret: &str, timestamp: u64, body: &[u8]) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes());
    let mut context = hmac::Context::with_key(&key);
    context.update(timestamp.to_string().as_bytes());
    context.update(b".");
    context.update(body);
    context
        .sign()
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The header value signing `body` at `timestamp` (unix seconds) with `secret`.
pub fn sign(secret: &str, timestamp: u64, body: &[u8]) -> String {
    format!("t={timestamp},v1={}", mac(secret, timestamp, body))
}

/// Checks `header` against `body`: well formed, signed within `tolerance_secs` of `now`
/// (unix seconds), with `secret`.
pub fn verify(
    secret: &str,
    header: Option<&str>,
    body: &[u8],
    now: u64,
    tolerance_secs: u64,
) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Malformed)?;
    let mut timestamp = None;
    let mut signature = None;
    for part in header.split(',').map(str::trim) {
        match part.split_once('=') {
            Some(("t", t)) => timestamp = t.parse::<u64>().ok(),
            Some(("v1", v)) => signature = Some(v),
            _ => {}
        }
    }
    let (Some(timestamp), Some(signature)) = (timestamp, signature) else {
        return Err(SignatureError::Malformed);
    };
    if now.abs_diff(timestamp) > tolerance_secs {
        return Err(SignatureError::Stale(tolerance_secs));
    }
    let expected = mac(secret, timestamp, body);
    match bool::from(expected.as_bytes().ct_eq(signature.as_bytes())) {
        true => Ok(()),
        false => Err(SignatureError::Mismatch),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signed_body_verifies_and_anything_else_is_refused() {
        let header = sign("s3cret", 1_000, b"{\"status\":\"APPROVED\"}");
        let body = b"{\"status\":\"APPROVED\"}";
        assert_eq!(verify("s3cret", Some(&header), body, 1_010, 300), Ok(()));
        assert_eq!(
            verify("other", Some(&header), body, 1_010, 300),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(
                "s3cret",
                Some(&header),
                b"{\"status\":\"REJECTED\"}",
                1_010,
                300
            ),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify("s3cret", Some(&header), body, 2_000, 300),
            Err(SignatureError::Stale(300))
        );
        assert_eq!(
            verify("s3cret", None, body, 1_010, 300),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify("s3cret", Some("v1=00"), body, 1_010, 300),
            Err(SignatureError::Malformed)
        );
    }
}
