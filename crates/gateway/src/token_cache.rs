//! The verified-token cache: a token whose signature and claims were checked once is not
//! checked again until it expires, so a hot token costs one SHA-256 and one lookup instead
//! of an RSA verification.
//!
//! One cache lives in each compiled configuration: a new version (new keys, revoked ids,
//! removed issuers) starts with an empty cache, so nothing verified under old rules
//! survives a change of rules. Sharded by the token digest, so concurrent requests rarely
//! touch the same lock; bounded, so a flood of distinct tokens cannot grow it without limit.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

const SHARDS: usize = 32;
const ENTRIES_PER_SHARD: usize = 2048;

/// One shard: token digest → (expiry, claims).
type Shard<T> = Mutex<HashMap<[u8; 32], (u64, Arc<T>)>>;

/// Verified claims by token digest.
pub struct TokenCache<T> {
    shards: Box<[Shard<T>]>,
}

impl<T> Default for TokenCache<T> {
    fn default() -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
        }
    }
}

/// SHA-256 of a credential: the cache key.
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
    /// The cached claims of `token`, if verified before and not expired; otherwise runs
    /// `verify` and caches a success until `expires_at` (seconds since the epoch) says.
    pub fn get_or_verify<E>(
        &self,
        token: &str,
        verify: impl FnOnce() -> Result<(T, u64), E>,
    ) -> Result<Arc<T>, E> {
        self.get_or_verify_digest(digest(token), verify)
    }

    /// [`TokenCache::get_or_verify`] for a credential whose [`digest`] is `key`.
    pub fn get_or_verify_digest<E>(
        &self,
        key: [u8; 32],
        verify: impl FnOnce() -> Result<(T, u64), E>,
    ) -> Result<Arc<T>, E> {
        let shard = &self.shards[usize::from(key[0]) % SHARDS];
        let now = now_secs();
        let cached = shard
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&key)
            .cloned();
        if let Some((expires, claims)) = cached
            && expires > now
        {
            return Ok(claims);
        }
        let (claims, expires) = verify()?;
        let claims = Arc::new(claims);
        let mut map = shard.lock().unwrap_or_else(PoisonError::into_inner);
        if map.len() >= ENTRIES_PER_SHARD {
            map.retain(|_, (exp, _)| *exp > now);
            if map.len() >= ENTRIES_PER_SHARD {
                map.clear();
            }
        }
        map.insert(key, (expires, claims.clone()));
        Ok(claims)
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
            let claims = cache
                .get_or_verify::<()>("tok", || {
                    calls += 1;
                    Ok(("claims", later))
                })
                .unwrap();
            assert_eq!(*claims, "claims");
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
