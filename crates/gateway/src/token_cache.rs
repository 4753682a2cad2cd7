//! The verified-token cache: a token whose signature and claims were checked once is not
//! checked again until it expires, so a hot token costs one fast hash, one byte comparison
//! and one lookup instead of an RSA verification.
//!
//! One cache lives in each compiled configuration: a new version (new keys, revoked ids,
//! removed issuers) starts with an empty cache, so nothing verified under old rules
//! survives a change of rules. Sharded by the token's hash, so concurrent requests rarely
//! touch the same lock; bounded, so a flood of distinct tokens cannot grow it without limit.

use std::collections::HashMap;
use std::hash::{BuildHasher as _, BuildHasherDefault, Hasher};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

const SHARDS: usize = 32;
const ENTRIES_PER_SHARD: usize = 2048;

/// One cached credential: its bytes (compared in full on every hit), its SHA-256 digest
/// (computed once, when it was verified), when it expires, and what it verified to.
struct Entry<T> {
    key: Box<[u8]>,
    digest: [u8; 32],
    expires: u64,
    value: Arc<T>,
}

/// One shard: the credential's seeded hash → its entry. A hit needs the stored bytes to
/// equal the credential's, so two credentials of one hash never share an entry (the later
/// one replaces the earlier); only verified credentials are inserted.
type Shard<T> = Mutex<HashMap<u64, Entry<T>, BuildHasherDefault<Prehashed>>>;

/// Verified claims by credential.
///
/// Looked up by a seeded Fx hash of the credential and a byte comparison, not by its SHA-256:
/// under callgrind the digest of a 1 KB token was a third of a JWT request's instructions,
/// and even with SHA extensions it is the largest single cost of a cached token. The digest
/// is still what per-caller caches key on ([`crate::credential::Caller::credential_digest`]):
/// it is computed on a miss and kept with the entry.
pub struct TokenCache<T> {
    seed: usize,
    shards: Box<[Shard<T>]>,
}

impl<T> Default for TokenCache<T> {
    fn default() -> Self {
        Self {
            // Per cache, so where entries land cannot be worked out from outside.
            seed: std::collections::hash_map::RandomState::new().hash_one(0u8) as usize,
            shards: (0..SHARDS)
                .map(|_| Mutex::new(HashMap::default()))
                .collect(),
        }
    }
}

/// The map's hasher: the key is a hash already.
#[derive(Default)]
struct Prehashed(u64);

impl Hasher for Prehashed {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 =
                (self.0.rotate_left(5) ^ u64::from(*b)).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// SHA-256 of a credential (keys per-caller caches such as the backend JWT's).
pub fn digest(token: &str) -> [u8; 32] {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, token.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

impl<T> TokenCache<T> {
    /// The cached claims of `credential` and its [`digest`], if verified before and not
    /// expired; otherwise runs `verify` and caches a success until `expires_at` (seconds
    /// since the epoch) says.
    pub fn get_or_verify<E>(
        &self,
        credential: &str,
        verify: impl FnOnce() -> Result<(T, u64), E>,
    ) -> Result<(Arc<T>, [u8; 32]), E> {
        self.lookup(credential.as_bytes(), || digest(credential), verify)
    }

    /// [`TokenCache::get_or_verify`] for an entry keyed by a digest of its own (`key`).
    pub fn get_or_verify_digest<E>(
        &self,
        key: [u8; 32],
        verify: impl FnOnce() -> Result<(T, u64), E>,
    ) -> Result<Arc<T>, E> {
        self.lookup(&key, || key, verify).map(|(value, _)| value)
    }

    fn lookup<E>(
        &self,
        key: &[u8],
        digest: impl FnOnce() -> [u8; 32],
        verify: impl FnOnce() -> Result<(T, u64), E>,
    ) -> Result<(Arc<T>, [u8; 32]), E> {
        let mut hasher = rustc_hash::FxHasher::with_seed(self.seed);
        hasher.write(key);
        let hash = hasher.finish();
        // Bits the shard's map uses neither for buckets (low) nor for tags (top seven).
        let shard = &self.shards[((hash >> 20) as usize) % SHARDS];
        let now = now_secs();
        let cached = shard
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&hash)
            .filter(|entry| *entry.key == *key)
            .map(|entry| (entry.expires, entry.value.clone(), entry.digest));
        if let Some((expires, value, digest)) = cached
            && expires > now
        {
            return Ok((value, digest));
        }
        let (value, expires) = verify()?;
        let value = Arc::new(value);
        let digest = digest();
        let mut map = shard.lock().unwrap_or_else(PoisonError::into_inner);
        if map.len() >= ENTRIES_PER_SHARD {
            map.retain(|_, entry| entry.expires > now);
            if map.len() >= ENTRIES_PER_SHARD {
                map.clear();
            }
        }
        map.insert(
            hash,
            Entry {
                key: key.into(),
                digest,
                expires,
                value: value.clone(),
            },
        );
        Ok((value, digest))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verifies_once_until_expiry() {
        let cache = TokenCache::<&str>::default();
        let later = now_secs() + 60;
        let mut calls = 0;
        for _ in 0..3 {
            let (claims, digest) = cache
                .get_or_verify::<()>("tok", || {
                    calls += 1;
                    Ok(("claims", later))
                })
                .unwrap();
            assert_eq!(*claims, "claims");
            assert_eq!(
                digest,
                super::digest("tok"),
                "the digest, on a miss and on hits"
            );
        }
        assert_eq!(calls, 1);
        // An expired entry is verified again.
        let past = now_secs() - 1;
        let _ = cache.get_or_verify::<()>("old", || Ok(("c", past)));
        let mut again = false;
        let _ = cache.get_or_verify::<()>("old", || {
            again = true;
            Ok(("c", past))
        });
        assert!(again);
    }

    #[test]
    fn a_credential_hits_only_its_own_entry() {
        let cache = TokenCache::<String>::default();
        let later = now_secs() + 60;
        for token in ["a.b.c", "a.b.d", "a.b.c ", ""] {
            let (claims, _) = cache
                .get_or_verify::<()>(token, || Ok((token.to_owned(), later)))
                .unwrap();
            assert_eq!(*claims, token);
        }
        for token in ["a.b.c", "a.b.d", "a.b.c ", ""] {
            let (claims, _) = cache
                .get_or_verify::<()>(token, || panic!("{token:?} was cached"))
                .unwrap();
            assert_eq!(*claims, token);
        }
        // Digest-keyed entries (the backend JWT's) live beside them.
        let key = super::digest("k");
        let hit = cache.get_or_verify_digest::<()>(key, || Ok(("by digest".to_owned(), later)));
        assert_eq!(*hit.unwrap(), "by digest");
        let again = cache.get_or_verify_digest::<()>(key, || panic!("cached"));
        assert_eq!(*again.unwrap(), "by digest");
    }

    #[test]
    fn failures_are_not_cached() {
        let cache = TokenCache::<&str>::default();
        assert!(
            cache
                .get_or_verify("bad", || Err::<(&str, u64), _>("nope"))
                .is_err()
        );
        assert!(
            cache
                .get_or_verify::<&str>("bad", || Ok(("ok", now_secs() + 5)))
                .is_ok()
        );
    }
}
