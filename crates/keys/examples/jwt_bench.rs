//! Micro-benchmark of the key manager's token cryptography on one thread (= one core):
//! signing with the active key (what bounds the token endpoint) and verification the way
//! gateways do it (kid → pinned key and algorithm, issuer, exp and nbf checked).
//!
//! `cargo run --release -p gantry-keys --example jwt_bench [seconds-per-case]`
//! (bench/key-manager.sh runs it pinned to one core.)

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use gantry_keys::{
    AccessGrant, AccessTokenClaims, ApplicationClaim, SigningAlgorithm, SigningKey, Subject,
    TokenIssuer,
};
use gantry_model::KeyType;

const ISSUER: &str = "https://localhost:9443/oauth2/token";

fn rate(seconds: f64, mut op: impl FnMut()) -> f64 {
    // Warm up, then count operations in the window.
    for _ in 0..50 {
        op();
    }
    let window = Duration::from_secs_f64(seconds);
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < window {
        for _ in 0..16 {
            op();
        }
        n += 16;
    }
    n as f64 / start.elapsed().as_secs_f64()
}

fn main() {
    let seconds: f64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(3.0);
    let app = ApplicationClaim {
        id: "6f1c2d3e-0000-4000-8000-000000000001".into(),
        uuid: "6f1c2d3e-0000-4000-8000-000000000001".into(),
        name: "BenchApp".into(),
        tier: "Unlimited".into(),
        owner: "admin".into(),
    };
    let scopes = vec!["read:menu".to_owned()];
    println!("case,ops_per_sec_one_core,us_per_op");
    for alg in [
        SigningAlgorithm::Rs256,
        SigningAlgorithm::Es256,
        SigningAlgorithm::EdDsa,
    ] {
        let issuer = TokenIssuer::new(ISSUER, SigningKey::generate(alg).unwrap());
        let grant = || AccessGrant {
            client_id: "bench-client-id-0000000000",
            subject: Subject::Application,
            key_type: KeyType::Production,
            application: app.clone(),
            scopes: &scopes,
            validity_secs: 3600,
        };
        let sign = rate(seconds, || {
            std::hint::black_box(issuer.issue(grant()).unwrap());
        });
        println!("sign_{},{sign:.0},{:.1}", alg.as_str(), 1e6 / sign);

        let token = issuer.issue(grant()).unwrap().access_token;
        let keys = issuer.keys();
        let verify = rate(seconds, || {
            let claims: AccessTokenClaims = keys.verify(std::hint::black_box(&token)).unwrap();
            std::hint::black_box(claims);
        });
        println!("verify_{},{verify:.0},{:.1}", alg.as_str(), 1e6 / verify);
    }
}
