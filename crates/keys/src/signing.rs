//! RSA signing keys (RS256): generation, PKCS#8 storage form, JWS compact signing and the
//! public JWK that gateways and clients verify with.

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_lc_rs::signature::{KeyPair as _, RSA_PKCS1_SHA256};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde::{Deserialize, Serialize};

use crate::KeyError;

/// The algorithm every key of this crate signs with today.
pub const RS256: &str = "RS256";

/// A private signing key with its key id.
pub struct SigningKey {
    kid: String,
    pair: KeyPair,
    pkcs8: Vec<u8>,
    rng: SystemRandom,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// Generates a new RSA-2048 key; its `kid` is the RFC 7638 thumbprint of the public key.
    pub fn generate() -> Result<Self, KeyError> {
        let pair =
            KeyPair::generate(KeySize::Rsa2048).map_err(|e| KeyError::Generate(e.to_string()))?;
        let pkcs8 = pair
            .as_der()
            .map_err(|e| KeyError::Generate(e.to_string()))?
            .as_ref()
            .to_vec();
        let mut key = Self {
            kid: String::new(),
            pair,
            pkcs8,
            rng: SystemRandom::new(),
        };
        key.kid = key.thumbprint();
        Ok(key)
    }

    /// Loads a key from its PKCS#8 DER form and the `kid` it was published under.
    pub fn from_pkcs8(kid: &str, pkcs8: &[u8]) -> Result<Self, KeyError> {
        let pair = KeyPair::from_pkcs8(pkcs8).map_err(|e| KeyError::InvalidKey(e.to_string()))?;
        Ok(Self {
            kid: kid.to_owned(),
            pair,
            pkcs8: pkcs8.to_vec(),
            rng: SystemRandom::new(),
        })
    }

    /// The key id.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The private key as PKCS#8 DER, for storage.
    pub fn pkcs8(&self) -> &[u8] {
        &self.pkcs8
    }

    /// The public half as a JWK (`kty`, `kid`, `use`, `alg`, `n`, `e`).
    pub fn public_jwk(&self) -> Jwk {
        let public = self.pair.public_key();
        Jwk {
            kty: "RSA".to_owned(),
            kid: self.kid.clone(),
            key_use: "sig".to_owned(),
            alg: RS256.to_owned(),
            n: B64.encode(public.modulus().big_endian_without_leading_zero()),
            e: B64.encode(public.exponent().big_endian_without_leading_zero()),
        }
    }

    fn thumbprint(&self) -> String {
        let jwk = self.public_jwk();
        // RFC 7638 §3.2: the required members in lexicographic order, no whitespace.
        let canonical = format!(r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#, jwk.e, jwk.n);
        B64.encode(aws_lc_rs::digest::digest(
            &aws_lc_rs::digest::SHA256,
            canonical.as_bytes(),
        ))
    }

    /// Signs `claims` as a compact JWS with header `{"alg":"RS256","typ":"JWT","kid":…}`.
    pub fn sign_jwt<T: Serialize>(&self, claims: &T) -> Result<String, KeyError> {
        #[derive(Serialize)]
        struct Header<'a> {
            alg: &'a str,
            typ: &'a str,
            kid: &'a str,
        }
        let header = serde_json::to_vec(&Header {
            alg: RS256,
            typ: "JWT",
            kid: &self.kid,
        })
        .map_err(|e| KeyError::Sign(e.to_string()))?;
        let payload = serde_json::to_vec(claims).map_err(|e| KeyError::Sign(e.to_string()))?;
        let mut token = String::with_capacity(1024);
        B64.encode_string(header, &mut token);
        token.push('.');
        B64.encode_string(payload, &mut token);
        let mut signature = vec![0u8; self.pair.public_modulus_len()];
        self.pair
            .sign(
                &RSA_PKCS1_SHA256,
                &self.rng,
                token.as_bytes(),
                &mut signature,
            )
            .map_err(|e| KeyError::Sign(e.to_string()))?;
        token.push('.');
        B64.encode_string(signature, &mut token);
        Ok(token)
    }
}

/// A public JSON Web Key (RFC 7517) of an RSA signing key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jwk {
    /// `RSA`.
    pub kty: String,
    /// Key id.
    pub kid: String,
    /// `sig`.
    #[serde(rename = "use")]
    pub key_use: String,
    /// `RS256`.
    pub alg: String,
    /// Modulus, base64url.
    pub n: String,
    /// Exponent, base64url.
    pub e: String,
}

/// A JWK Set, as served at `/oauth2/jwks`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jwks {
    /// The keys.
    pub keys: Vec<Jwk>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_token_verifies_with_the_published_jwk() {
        let key = SigningKey::generate().unwrap();
        let token = key
            .sign_jwt(&serde_json::json!({"sub": "alice", "exp": 4_000_000_000u64}))
            .unwrap();
        let jwk = key.public_jwk();
        let decoding = jsonwebtoken::DecodingKey::from_rsa_components(&jwk.n, &jwk.e).unwrap();
        let validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
        let data =
            jsonwebtoken::decode::<serde_json::Value>(&token, &decoding, &validation).unwrap();
        assert_eq!(data.claims["sub"], "alice");
        assert_eq!(data.header.kid.as_deref(), Some(key.kid()));
    }

    #[test]
    fn key_survives_a_pkcs8_round_trip() {
        let key = SigningKey::generate().unwrap();
        let again = SigningKey::from_pkcs8(key.kid(), key.pkcs8()).unwrap();
        assert_eq!(key.public_jwk(), again.public_jwk());
        assert_eq!(key.kid(), again.thumbprint());
    }

    #[test]
    fn garbage_is_not_a_key() {
        assert!(SigningKey::from_pkcs8("k", b"not a key").is_err());
    }
}
