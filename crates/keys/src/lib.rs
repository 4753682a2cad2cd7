//! The key manager's cryptography: signing keys and their lifecycle, encryption of keys at
//! rest, access and ID tokens, PKCE, the role → scope mapping, client secrets and user
//! passwords.
//!
//! This crate does no IO: the control plane stores what it produces (sealed PKCS#8
//! documents, secret hashes, key states) and serves what it returns (tokens, JWKS).
//! Gateways never link it; they verify tokens with the public keys carried in their
//! configuration snapshot.
#![forbid(unsafe_code)]

pub mod api_key;
pub mod assertion;
pub mod kek;
pub mod lifecycle;
pub mod password;
pub mod pkce;
pub mod scopes;
pub mod secret;
pub mod signing;
pub mod token;
pub mod webhook_signature;

pub use api_key::{ApiKeyClaims, ApiKeyGrant, IssuedApiKey, SubscribedApi};
pub use kek::KeyEncryptionKey;
pub use lifecycle::{KeyState, KeyStatus, RotationPolicy, Transition, Trigger};
pub use signing::{Jwk, Jwks, SigningAlgorithm, SigningKey};
pub use token::{
    AccessGrant, AccessTokenClaims, ApplicationClaim, IdTokenClaims, IssuedToken, KeySet, Subject,
    TokenIssuer, VerifyError,
};

/// A cryptographic operation failed.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// Key generation failed (the system random source or the library refused).
    #[error("could not generate a key: {0}")]
    Generate(String),
    /// A stored key could not be parsed or decrypted.
    #[error("stored key is invalid: {0}")]
    InvalidKey(String),
    /// Signing or sealing failed.
    #[error("could not sign: {0}")]
    Sign(String),
    /// Password hashing failed.
    #[error("could not hash password: {0}")]
    Hash(String),
}
