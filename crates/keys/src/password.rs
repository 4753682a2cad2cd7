//! User passwords: Argon2id (OWASP parameters) in PHC string form.
//!
//! Hashing costs tens of milliseconds and ~19 MiB by design; callers run it on a blocking
//! thread, and hashes and verifications reuse that working memory instead of allocating it.

use std::sync::{Mutex, OnceLock, PoisonError};

use argon2::password_hash::phc::{Output, ParamsString, PasswordHash, Salt};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use subtle::ConstantTimeEq as _;

use crate::KeyError;

/// Hashes `password` with a fresh salt.
pub fn hash_password(password: &str) -> Result<String, KeyError> {
    let failed = |e: &dyn std::fmt::Display| KeyError::Hash(e.to_string());
    let argon2 = Argon2::default();
    let params = argon2.params().clone();
    let salt = argon2::password_hash::try_generate_salt().map_err(|e| failed(&e))?;
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    let mut memory = Scratch::take(params.block_count());
    let hashed =
        argon2.hash_password_into_with_memory(password.as_bytes(), &salt, &mut out, &mut memory);
    Scratch::give_back(memory);
    hashed.map_err(|e| failed(&e))?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params).map_err(|e| failed(&e))?,
        salt: Some(Salt::new(&salt).map_err(|e| failed(&e))?),
        hash: Some(Output::new(&out).map_err(|e| failed(&e))?),
    };
    Ok(phc.to_string())
}

/// Whether `password` matches the PHC string `hash` (false for a malformed hash).
pub fn verify_password(password: &str, hash: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(hash) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (&parsed.salt, &parsed.hash) else {
        return false;
    };
    let algorithm = Algorithm::try_from(parsed.algorithm.as_str());
    let version = parsed.version.map(Version::try_from).transpose();
    let (Ok(algorithm), Ok(version), Ok(params)) = (algorithm, version, Params::try_from(&parsed))
    else {
        return false;
    };
    let blocks = params.block_count();
    let argon2 = Argon2::new(algorithm, version.unwrap_or_default(), params);
    let mut computed = vec![0u8; expected.len()];
    let mut memory = Scratch::take(blocks);
    let hashed = argon2.hash_password_into_with_memory(
        password.as_bytes(),
        salt,
        &mut computed,
        &mut memory,
    );
    Scratch::give_back(memory);
    hashed.is_ok() && bool::from(computed.ct_eq(expected.as_bytes()))
}

/// Argon2's working memory (~19 MiB per hash), kept for the next hash or verification:
/// allocating and freeing it each time leaves glibc's per-thread arenas holding copies (a
/// burst of 150 guesses grew the process by 700 MB). As many buffers exist as hashes ever
/// ran at once, which callers bound.
struct Scratch;

static SCRATCH: Mutex<Vec<Vec<Block>>> = Mutex::new(Vec::new());

impl Scratch {
    fn take(blocks: usize) -> Vec<Block> {
        let spare = SCRATCH.lock().unwrap_or_else(PoisonError::into_inner).pop();
        let mut memory = spare.unwrap_or_default();
        if memory.len() < blocks {
            memory.resize(blocks, Block::new());
        }
        memory
    }

    fn give_back(memory: Vec<Block>) {
        SCRATCH
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(memory);
    }
}

/// Spends the time of one verification when there is no user to verify against: checks
/// `password` against a hash made once (lazily) with the same parameters, so an unknown user
/// name answers as slowly as a wrong password. Always false.
pub fn verify_without_user(password: &str) -> bool {
    static DUMMY: OnceLock<String> = OnceLock::new();
    let hash = DUMMY.get_or_init(|| {
        // Hashing a fixed string with a fresh salt cannot fail with the default parameters.
        hash_password("gantry: no such user").unwrap_or_default()
    });
    let _ = verify_password(password, hash);
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use argon2::password_hash::PasswordHasher as _;

    #[test]
    fn hashes_with_other_parameters_verify_in_reused_memory() {
        let small = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(64, 1, 2, Some(24)).unwrap(),
        );
        let hash = small.hash_password(b"other params").unwrap().to_string();
        // After a default-sized verification the reused buffer is larger than this hash needs.
        assert!(!verify_password("x", &hash_password("y").unwrap()));
        assert!(verify_password("other params", &hash));
        assert!(!verify_password("other param", &hash));
        let argon2i = Argon2::new(Algorithm::Argon2i, Version::V0x10, Params::default())
            .hash_password(b"legacy")
            .unwrap()
            .to_string();
        assert!(verify_password("legacy", &argon2i));
    }

    #[test]
    fn verifying_without_a_user_costs_an_argon2_verification_and_fails() {
        let hash = hash_password("s3cret!").unwrap();
        assert!(!verify_without_user("s3cret!"));
        let time = |f: &dyn Fn() -> bool| {
            let start = std::time::Instant::now();
            f();
            start.elapsed()
        };
        let known = time(&|| verify_password("wrong", &hash));
        let unknown = time(&|| verify_without_user("wrong"));
        assert!(unknown * 3 > known, "{unknown:?} vs {known:?}");
    }

    #[test]
    fn password_round_trip() {
        let hash = hash_password("s3cret!").unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password("s3cret!", &hash));
        assert!(!verify_password("s3cret", &hash));
        assert!(!verify_password("s3cret!", "not-a-hash"));
        // The argon2 crate's own verifier reads the same PHC string.
        use argon2::password_hash::PasswordVerifier as _;
        let parsed = PasswordHash::new(&hash).unwrap();
        assert!(
            Argon2::default()
                .verify_password(b"s3cret!", &parsed)
                .is_ok()
        );
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
    }
}
