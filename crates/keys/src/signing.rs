//! Signing keys (RS256 with RSA-2048, ES256 with P-256, EdDSA with Ed25519): generation,
//! PKCS#8 storage form,
//! JWS compact signing and the public JWK that gateways and clients verify with.
//!
//! Each key is bound to exactly one algorithm (RFC 8725 §3.1); the `kid` is the RFC 7638
//! thumbprint of the public key, so it cannot collide between keys.

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPair as RsaKeyPair, KeySize};
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair as _, RSA_PKCS1_SHA256,
};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde::{Deserialize, Serialize};

use crate::KeyError;

/// The JWS algorithm RSA keys sign with.
pub const RS256: &str = "RS256";
/// The JWS algorithm P-256 keys sign with.
pub const ES256: &str = "ES256";
/// The JWS algorithm Ed25519 keys sign with (RFC 8037).
pub const EDDSA: &str = "EdDSA";

/// The algorithm a signing key is bound to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SigningAlgorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256 on an RSA-2048 key (the default, as WSO2).
    #[default]
    Rs256,
    /// ECDSA on P-256 with SHA-256 (fixed-size R‖S signatures, RFC 7518 §3.4).
    Es256,
    /// Ed25519 (RFC 8037).
    EdDsa,
}

impl SigningAlgorithm {
    /// The JWS `alg` name.
    pub fn as_str(self) -> &'static str {
        match self {
            SigningAlgorithm::Rs256 => RS256,
            SigningAlgorithm::Es256 => ES256,
            SigningAlgorithm::EdDsa => EDDSA,
        }
    }

    /// Parses a JWS `alg` name (exact, upper case).
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            RS256 => Some(SigningAlgorithm::Rs256),
            ES256 => Some(SigningAlgorithm::Es256),
            EDDSA => Some(SigningAlgorithm::EdDsa),
            _ => None,
        }
    }
}

enum Pair {
    Rsa(RsaKeyPair),
    Ec(EcdsaKeyPair),
    Ed(Ed25519KeyPair),
}

/// A private signing key with its key id.
pub struct SigningKey {
    kid: String,
    algorithm: SigningAlgorithm,
    pair: Pair,
    pkcs8: Vec<u8>,
    rng: SystemRandom,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// Generates a new key for `algorithm`; its `kid` is the RFC 7638 thumbprint.
    ///
    /// RSA generation takes tens to hundreds of milliseconds: call it off the async runtime.
    pub fn generate(algorithm: SigningAlgorithm) -> Result<Self, KeyError> {
        let generate = |e: aws_lc_rs::error::Unspecified| KeyError::Generate(e.to_string());
        let (pair, pkcs8) = match algorithm {
            SigningAlgorithm::Rs256 => {
                let pair = RsaKeyPair::generate(KeySize::Rsa2048).map_err(generate)?;
                let der = pair.as_der().map_err(generate)?.as_ref().to_vec();
                (Pair::Rsa(pair), der)
            }
            SigningAlgorithm::Es256 => {
                let pair =
                    EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).map_err(generate)?;
                let der = pair.to_pkcs8v1().map_err(generate)?.as_ref().to_vec();
                (Pair::Ec(pair), der)
            }
            SigningAlgorithm::EdDsa => {
                let pair = Ed25519KeyPair::generate().map_err(generate)?;
                let der = pair.to_pkcs8().map_err(generate)?.as_ref().to_vec();
                (Pair::Ed(pair), der)
            }
        };
        let mut key = Self {
            kid: String::new(),
            algorithm,
            pair,
            pkcs8,
            rng: SystemRandom::new(),
        };
        key.kid = key.thumbprint();
        Ok(key)
    }

    /// Loads a key from its PKCS#8 DER form, the algorithm it is bound to and the `kid` it
    /// was published under.
    pub fn from_pkcs8(
        kid: &str,
        algorithm: SigningAlgorithm,
        pkcs8: &[u8],
    ) -> Result<Self, KeyError> {
        let invalid = |e: aws_lc_rs::error::KeyRejected| KeyError::InvalidKey(e.to_string());
        let pair = match algorithm {
            SigningAlgorithm::Rs256 => Pair::Rsa(RsaKeyPair::from_pkcs8(pkcs8).map_err(invalid)?),
            SigningAlgorithm::Es256 => Pair::Ec(
                EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8)
                    .map_err(invalid)?,
            ),
            SigningAlgorithm::EdDsa => {
                Pair::Ed(Ed25519KeyPair::from_pkcs8(pkcs8).map_err(invalid)?)
            }
        };
        Ok(Self {
            kid: kid.to_owned(),
            algorithm,
            pair,
            pkcs8: pkcs8.to_vec(),
            rng: SystemRandom::new(),
        })
    }

    /// The key id.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The algorithm this key signs with.
    pub fn algorithm(&self) -> SigningAlgorithm {
        self.algorithm
    }

    /// The private key as PKCS#8 DER, for (encrypted) storage.
    pub fn pkcs8(&self) -> &[u8] {
        &self.pkcs8
    }

    /// The public half as a JWK.
    pub fn public_jwk(&self) -> Jwk {
        match &self.pair {
            Pair::Rsa(pair) => {
                let public = pair.public_key();
                Jwk {
                    kty: "RSA".to_owned(),
                    kid: self.kid.clone(),
                    key_use: "sig".to_owned(),
                    alg: RS256.to_owned(),
                    n: Some(B64.encode(public.modulus().big_endian_without_leading_zero())),
                    e: Some(B64.encode(public.exponent().big_endian_without_leading_zero())),
                    crv: None,
                    x: None,
                    y: None,
                }
            }
            Pair::Ec(pair) => {
                // Uncompressed SEC1 point: 0x04 ‖ X (32 bytes) ‖ Y (32 bytes).
                let point = pair.public_key().as_ref();
                let (x, y) = point
                    .get(1..)
                    .filter(|xy| xy.len() == 64)
                    .map(|xy| xy.split_at(32))
                    .unwrap_or((&[], &[]));
                Jwk {
                    kty: "EC".to_owned(),
                    kid: self.kid.clone(),
                    key_use: "sig".to_owned(),
                    alg: ES256.to_owned(),
                    n: None,
                    e: None,
                    crv: Some("P-256".to_owned()),
                    x: Some(B64.encode(x)),
                    y: Some(B64.encode(y)),
                }
            }
            Pair::Ed(pair) => Jwk {
                kty: "OKP".to_owned(),
                kid: self.kid.clone(),
                key_use: "sig".to_owned(),
                alg: EDDSA.to_owned(),
                n: None,
                e: None,
                crv: Some("Ed25519".to_owned()),
                x: Some(B64.encode(pair.public_key().as_ref())),
                y: None,
            },
        }
    }

    fn thumbprint(&self) -> String {
        let jwk = self.public_jwk();
        let get = |v: &Option<String>| v.clone().unwrap_or_default();
        // RFC 7638 §3.2: the required members in lexicographic order, no whitespace.
        let canonical = match self.pair {
            Pair::Rsa(_) => format!(
                r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#,
                get(&jwk.e),
                get(&jwk.n)
            ),
            Pair::Ec(_) => format!(
                r#"{{"crv":"P-256","kty":"EC","x":"{}","y":"{}"}}"#,
                get(&jwk.x),
                get(&jwk.y)
            ),
            Pair::Ed(_) => format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{}"}}"#, get(&jwk.x)),
        };
        B64.encode(aws_lc_rs::digest::digest(
            &aws_lc_rs::digest::SHA256,
            canonical.as_bytes(),
        ))
    }

    /// Signs `claims` as a compact JWS with header `{"alg":…,"typ":typ,"kid":…}`.
    pub fn sign_jwt<T: Serialize>(&self, typ: &str, claims: &T) -> Result<String, KeyError> {
        #[derive(Serialize)]
        struct Header<'a> {
            alg: &'a str,
            typ: &'a str,
            kid: &'a str,
        }
        let header = serde_json::to_vec(&Header {
            alg: self.algorithm.as_str(),
            typ,
            kid: &self.kid,
        })
        .map_err(|e| KeyError::Sign(e.to_string()))?;
        let payload = serde_json::to_vec(claims).map_err(|e| KeyError::Sign(e.to_string()))?;
        let mut token = String::with_capacity(1024);
        B64.encode_string(header, &mut token);
        token.push('.');
        B64.encode_string(payload, &mut token);
        let sign = |e: aws_lc_rs::error::Unspecified| KeyError::Sign(e.to_string());
        let signature = match &self.pair {
            Pair::Rsa(pair) => {
                let mut signature = vec![0u8; pair.public_modulus_len()];
                pair.sign(
                    &RSA_PKCS1_SHA256,
                    &self.rng,
                    token.as_bytes(),
                    &mut signature,
                )
                .map_err(sign)?;
                signature
            }
            Pair::Ec(pair) => pair
                .sign(&self.rng, token.as_bytes())
                .map_err(sign)?
                .as_ref()
                .to_vec(),
            Pair::Ed(pair) => pair.sign(token.as_bytes()).as_ref().to_vec(),
        };
        token.push('.');
        B64.encode_string(signature, &mut token);
        Ok(token)
    }
}

/// A public JSON Web Key (RFC 7517) of a signing key: RSA (`n`, `e`), EC (`crv`, `x`, `y`)
/// or OKP (`crv`, `x`; RFC 8037).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jwk {
    /// `RSA`, `EC` or `OKP`.
    pub kty: String,
    /// Key id.
    pub kid: String,
    /// `sig`.
    #[serde(rename = "use")]
    pub key_use: String,
    /// `RS256`, `ES256` or `EdDSA`.
    pub alg: String,
    /// RSA modulus, base64url.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n: Option<String>,
    /// RSA exponent, base64url.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub e: Option<String>,
    /// Curve (`P-256`, `Ed25519`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crv: Option<String>,
    /// EC x coordinate or the Ed25519 public key, base64url.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x: Option<String>,
    /// EC y coordinate, base64url.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub y: Option<String>,
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

    fn verify(jwk: &Jwk, token: &str) -> serde_json::Value {
        let (decoding, alg) = match jwk.kty.as_str() {
            "RSA" => (
                jsonwebtoken::DecodingKey::from_rsa_components(
                    jwk.n.as_deref().unwrap(),
                    jwk.e.as_deref().unwrap(),
                )
                .unwrap(),
                jsonwebtoken::Algorithm::RS256,
            ),
            "OKP" => (
                jsonwebtoken::DecodingKey::from_ed_components(jwk.x.as_deref().unwrap()).unwrap(),
                jsonwebtoken::Algorithm::EdDSA,
            ),
            _ => (
                jsonwebtoken::DecodingKey::from_ec_components(
                    jwk.x.as_deref().unwrap(),
                    jwk.y.as_deref().unwrap(),
                )
                .unwrap(),
                jsonwebtoken::Algorithm::ES256,
            ),
        };
        let validation = jsonwebtoken::Validation::new(alg);
        jsonwebtoken::decode::<serde_json::Value>(token, &decoding, &validation)
            .unwrap()
            .claims
    }

    #[test]
    fn signed_tokens_verify_with_the_published_jwk_for_both_algorithms() {
        for alg in [
            SigningAlgorithm::Rs256,
            SigningAlgorithm::Es256,
            SigningAlgorithm::EdDsa,
        ] {
            let key = SigningKey::generate(alg).unwrap();
            let token = key
                .sign_jwt(
                    "JWT",
                    &serde_json::json!({"sub": "alice", "exp": 4_000_000_000u64}),
                )
                .unwrap();
            let jwk = key.public_jwk();
            assert_eq!(jwk.alg, alg.as_str());
            assert_eq!(verify(&jwk, &token)["sub"], "alice");
            let header = jsonwebtoken::decode_header(&token).unwrap();
            assert_eq!(header.kid.as_deref(), Some(key.kid()));
        }
    }

    #[test]
    fn key_survives_a_pkcs8_round_trip() {
        for alg in [
            SigningAlgorithm::Rs256,
            SigningAlgorithm::Es256,
            SigningAlgorithm::EdDsa,
        ] {
            let key = SigningKey::generate(alg).unwrap();
            let again = SigningKey::from_pkcs8(key.kid(), alg, key.pkcs8()).unwrap();
            assert_eq!(key.public_jwk(), again.public_jwk());
            assert_eq!(key.kid(), again.thumbprint());
        }
    }

    #[test]
    fn garbage_or_the_wrong_algorithm_is_not_a_key() {
        assert!(SigningKey::from_pkcs8("k", SigningAlgorithm::Rs256, b"not a key").is_err());
        let ec = SigningKey::generate(SigningAlgorithm::Es256).unwrap();
        assert!(SigningKey::from_pkcs8("k", SigningAlgorithm::Rs256, ec.pkcs8()).is_err());
    }
}
