//! OAuth2 client credentials: random consumer keys and secrets, and how secrets are kept.
//!
//! Secrets are 256-bit random strings, so a plain SHA-256 digest is as strong as a slow hash
//! here (there is no dictionary to try) and keeps the token endpoint fast. Comparison is
//! constant-time.

use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use subtle::ConstantTimeEq;

const PREFIX: &str = "sha256:";

/// `bytes` random bytes from the system source, base64url-encoded.
pub fn random_token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    // The system random source failing is not recoverable; it does not happen on Linux.
    SystemRandom::new()
        .fill(&mut buf)
        .expect("system random source is available");
    B64.encode(buf)
}

/// A new consumer key (OAuth2 client id): 160 random bits.
pub fn new_consumer_key() -> String {
    random_token(20)
}

/// A new consumer secret: 256 random bits.
pub fn new_consumer_secret() -> String {
    random_token(32)
}

/// The stored form of a secret.
pub fn hash_secret(secret: &str) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, secret.as_bytes());
    format!("{PREFIX}{}", B64.encode(digest))
}

/// SHA-256 of `input` as lowercase hex (for stable derived ids, not for secrets).
pub fn sha256_hex(input: &str) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, input.as_bytes());
    digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether `secret` matches the stored `hash`, in constant time.
pub fn verify_secret(secret: &str, hash: &str) -> bool {
    let computed = hash_secret(secret);
    hash.starts_with(PREFIX) && bool::from(computed.as_bytes().ct_eq(hash.as_bytes()))
}

/// The stored form of an OAuth2 client secret: an Argon2id PHC string (the rule for
/// confidential secrets; the control plane caches successful checks so the token endpoint
/// does not pay Argon2 per request).
pub fn hash_client_secret(secret: &str) -> Result<String, crate::KeyError> {
    crate::password::hash_password(secret)
}

/// Whether `secret` matches a stored client secret: Argon2id, or the SHA-256 form that keys
/// generated before Argon2 carry.
pub fn verify_client_secret(secret: &str, stored: &str) -> bool {
    if stored.starts_with("$argon2") {
        crate::password::verify_password(secret, stored)
    } else {
        verify_secret(secret, stored)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn client_secrets_are_argon2_and_old_sha256_ones_still_verify() {
        let secret = super::new_consumer_secret();
        let stored = super::hash_client_secret(&secret).unwrap();
        assert!(stored.starts_with("$argon2id$"));
        assert!(super::verify_client_secret(&secret, &stored));
        assert!(!super::verify_client_secret("nope", &stored));
        let old = super::hash_secret(&secret);
        assert!(super::verify_client_secret(&secret, &old));
    }

    use super::*;

    #[test]
    fn secret_verifies_only_against_its_own_hash() {
        let secret = new_consumer_secret();
        let hash = hash_secret(&secret);
        assert!(verify_secret(&secret, &hash));
        assert!(!verify_secret("wrong", &hash));
        assert!(!verify_secret(&secret, &secret));
        assert_ne!(new_consumer_key(), new_consumer_key());
    }
}
