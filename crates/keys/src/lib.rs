//! The key manager's cryptography: signing keys and JWKS, access tokens, client secrets
//! and user passwords.
//!
//! This crate does no IO: the control plane stores what it produces (PKCS#8 documents,
//! secret hashes) and serves what it returns (tokens, JWKS). Gateways never link it; they
//! verify tokens with the public keys carried in their configuration snapshot.
#![forbid(unsafe_code)]

pub mod password;
pub mod secret;
pub mod signing;
pub mod token;

pub use signing::{Jwk, Jwks, SigningKey};
pub use token::{
    AccessTokenClaims, ApplicationClaim, ClientCredentialsGrant, IssuedToken, TokenIssuer,
};

/// A cryptographic operation failed.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// Key generation failed (the system random source or the library refused).
    #[error("could not generate a key: {0}")]
    Generate(String),
    /// A stored key could not be parsed.
    #[error("stored key is invalid: {0}")]
    InvalidKey(String),
    /// Signing failed.
    #[error("could not sign: {0}")]
    Sign(String),
    /// Password hashing failed.
    #[error("could not hash password: {0}")]
    Hash(String),
}
