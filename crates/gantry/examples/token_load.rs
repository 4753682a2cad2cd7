//! Load generator for the token endpoint: `concurrency` keep-alive HTTPS connections send
//! `grant_type=client_credentials` with HTTP Basic for `seconds`, then it prints tokens/s
//! and latency percentiles. No third-party load tool is needed (none is on these machines).
//!
//! `token_load <base-url> <ca.pem> <client-id> <secret> [concurrency] [seconds]`
//! (bench/key-manager.sh starts Gantry, makes a client and runs this.)

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 5 {
        eprintln!(
            "usage: token_load <base-url> <ca.pem> <client-id> <secret> [concurrency] [seconds]"
        );
        std::process::exit(64);
    }
    let (base, ca, id, secret) = (&args[1], &args[2], &args[3], &args[4]);
    let concurrency: usize = args.get(5).and_then(|s| s.parse().ok()).unwrap_or(32);
    let seconds: u64 = args.get(6).and_then(|s| s.parse().ok()).unwrap_or(10);
    let ca = reqwest::Certificate::from_pem(&std::fs::read(ca).expect("CA file")).expect("CA");
    let client = reqwest::Client::builder()
        .tls_certs_only([ca])
        .pool_max_idle_per_host(concurrency)
        .http1_only()
        .build()
        .unwrap();
    let url = format!("{base}/oauth2/token");
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let (client, url, id, secret) = (client.clone(), url.clone(), id.clone(), secret.clone());
        tasks.spawn(async move {
            let mut latencies = Vec::new();
            let mut errors = 0u64;
            while Instant::now() < deadline {
                let start = Instant::now();
                let ok = client
                    .post(&url)
                    .basic_auth(&id, Some(&secret))
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body("grant_type=client_credentials")
                    .send()
                    .await
                    .map(|r| r.status().is_success())
                    .unwrap_or(false);
                if ok {
                    latencies.push(start.elapsed());
                } else {
                    errors += 1;
                }
            }
            (latencies, errors)
        });
    }
    let started = Instant::now();
    let mut all = Vec::new();
    let mut errors = 0;
    while let Some(done) = tasks.join_next().await {
        let (l, e) = done.unwrap();
        all.extend(l);
        errors += e;
    }
    let elapsed = started.elapsed().as_secs_f64();
    all.sort();
    let pct = |p: f64| {
        all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1)))
            .map(|d| d.as_secs_f64() * 1000.0)
            .unwrap_or(0.0)
    };
    println!(
        "tokens={} errors={errors} seconds={elapsed:.1} tokens_per_sec={:.0} p50_ms={:.2} p99_ms={:.2}",
        all.len(),
        all.len() as f64 / elapsed,
        pct(0.50),
        pct(0.99)
    );
}
