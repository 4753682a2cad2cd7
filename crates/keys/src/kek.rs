//! Encryption at rest of the signing keys' private halves: AES-256-GCM under a
//! key-encryption key (KEK) that lives outside the database (environment variable, a file,
//! a Kubernetes Secret).
//!
//! Stored form: `v1:` + base64url(nonce ‖ ciphertext ‖ tag). The associated data binds each
//! ciphertext to its `kid`, so a row copied onto another key's row does not decrypt.

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD as B64};

use crate::KeyError;

const PREFIX: &str = "v1:";

/// Length of a key-encryption key in bytes.
pub const KEK_LEN: usize = 32;

/// The key that encrypts signing keys at rest.
pub struct KeyEncryptionKey {
    key: LessSafeKey,
    rng: SystemRandom,
    /// HKDF pseudo-random key, for keys derived from this one ([`KeyEncryptionKey::derive`]).
    prk: aws_lc_rs::hkdf::Prk,
}

impl std::fmt::Debug for KeyEncryptionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyEncryptionKey(..)")
    }
}

impl KeyEncryptionKey {
    /// A KEK from 32 raw bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, KeyError> {
        if bytes.len() != KEK_LEN {
            return Err(KeyError::InvalidKey(format!(
                "the key-encryption key must be {KEK_LEN} bytes, got {}",
                bytes.len()
            )));
        }
        let unbound = UnboundKey::new(&AES_256_GCM, bytes)
            .map_err(|e| KeyError::InvalidKey(e.to_string()))?;
        Ok(Self {
            key: LessSafeKey::new(unbound),
            rng: SystemRandom::new(),
            prk: aws_lc_rs::hkdf::Salt::new(aws_lc_rs::hkdf::HKDF_SHA256, b"gantry kek v1")
                .extract(bytes),
        })
    }

    /// A key for one `purpose` derived from this one (HKDF-SHA256), with its base64 text:
    /// a holder of the derived key (a gateway opening provider credentials) can open what is
    /// sealed under it and nothing sealed under this key or another purpose's.
    pub fn derive(&self, purpose: &str) -> Result<(Self, String), KeyError> {
        let mut bytes = [0u8; KEK_LEN];
        let info = [purpose.as_bytes()];
        self.prk
            .expand(&info, aws_lc_rs::hkdf::HKDF_SHA256)
            .and_then(|okm| okm.fill(&mut bytes))
            .map_err(|_| KeyError::Generate("key derivation failed".to_owned()))?;
        Ok((Self::from_bytes(&bytes)?, STANDARD.encode(bytes)))
    }

    /// A KEK from its base64 text (standard or URL-safe alphabet, padding optional,
    /// surrounding whitespace ignored — as found in an environment variable or a file).
    pub fn from_base64(text: &str) -> Result<Self, KeyError> {
        let text = text.trim();
        let bytes = STANDARD
            .decode(text)
            .or_else(|_| B64.decode(text.trim_end_matches('=')))
            .map_err(|_| {
                KeyError::InvalidKey("the key-encryption key is not valid base64".to_owned())
            })?;
        Self::from_bytes(&bytes)
    }

    /// A fresh random KEK, returned with its base64 text (to be written to a file).
    pub fn generate() -> Result<(Self, String), KeyError> {
        let mut bytes = [0u8; KEK_LEN];
        SystemRandom::new()
            .fill(&mut bytes)
            .map_err(|e| KeyError::Generate(e.to_string()))?;
        Ok((Self::from_bytes(&bytes)?, STANDARD.encode(bytes)))
    }

    /// Encrypts `plaintext` for the key `kid`.
    pub fn seal(&self, kid: &str, plaintext: &[u8]) -> Result<String, KeyError> {
        let mut nonce = [0u8; NONCE_LEN];
        self.rng
            .fill(&mut nonce)
            .map_err(|e| KeyError::Sign(e.to_string()))?;
        let mut in_out = plaintext.to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(kid.as_bytes()),
                &mut in_out,
            )
            .map_err(|e| KeyError::Sign(e.to_string()))?;
        let mut stored = Vec::with_capacity(NONCE_LEN + in_out.len());
        stored.extend_from_slice(&nonce);
        stored.extend_from_slice(&in_out);
        Ok(format!("{PREFIX}{}", B64.encode(stored)))
    }

    /// Decrypts what [`seal`](Self::seal) produced for `kid`.
    pub fn open(&self, kid: &str, stored: &str) -> Result<Vec<u8>, KeyError> {
        let undecryptable = || {
            KeyError::InvalidKey(format!(
                "signing key {kid} cannot be decrypted: wrong key-encryption key or corrupt row"
            ))
        };
        let body = stored.strip_prefix(PREFIX).ok_or_else(undecryptable)?;
        let mut bytes = B64.decode(body).map_err(|_| undecryptable())?;
        if bytes.len() < NONCE_LEN {
            return Err(undecryptable());
        }
        let mut nonce = [0u8; NONCE_LEN];
        nonce.copy_from_slice(&bytes[..NONCE_LEN]);
        let plaintext = self
            .key
            .open_in_place(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(kid.as_bytes()),
                &mut bytes[NONCE_LEN..],
            )
            .map_err(|_| undecryptable())?;
        Ok(plaintext.to_vec())
    }

    /// Whether a stored value is in the encrypted form (older rows held plain PKCS#8).
    pub fn is_sealed(stored: &str) -> bool {
        stored.starts_with(PREFIX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_key_opens_only_with_the_same_kek_and_kid() {
        let (kek, text) = KeyEncryptionKey::generate().unwrap();
        let sealed = kek.seal("kid-1", b"private key bytes").unwrap();
        assert!(KeyEncryptionKey::is_sealed(&sealed));
        assert!(!sealed.contains("private"));
        assert_eq!(kek.open("kid-1", &sealed).unwrap(), b"private key bytes");
        assert!(kek.open("kid-2", &sealed).is_err(), "bound to its kid");
        let same = KeyEncryptionKey::from_base64(&format!("  {text}\n")).unwrap();
        assert_eq!(same.open("kid-1", &sealed).unwrap(), b"private key bytes");
        let (other, _) = KeyEncryptionKey::generate().unwrap();
        assert!(other.open("kid-1", &sealed).is_err());
        assert!(kek.open("kid-1", "v1:AAAA").is_err());
        assert!(kek.open("kid-1", "plain").is_err());
    }

    #[test]
    fn kek_must_be_32_bytes_of_base64() {
        assert!(KeyEncryptionKey::from_base64("c2hvcnQ=").is_err());
        assert!(KeyEncryptionKey::from_base64("not base64 !!").is_err());
        let url_safe = B64.encode([0xfbu8; 32]);
        assert!(KeyEncryptionKey::from_base64(&url_safe).is_ok());
    }
}
