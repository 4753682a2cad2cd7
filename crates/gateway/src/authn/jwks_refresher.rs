//! Gateway-side JWKS refresh for external issuers: a token of a known external issuer whose
//! `kid` the snapshot does not hold makes the gateway read that issuer's JWKS itself, so a
//! key an identity provider starts using is accepted at once, not after the control plane's
//! next five-minute refresh.
//!
//! Only the miss path comes here (a request whose `kid` is known never does). Per issuer,
//! one fetch is in flight at a time and at most one starts per [`REFETCH_INTERVAL`],
//! whatever its outcome, so a flood of tokens with random `kid`s costs the IdP one request
//! per interval; requests that arrive during a fetch wait for it (bounded), then verify
//! again. Fetched keys are pinned to the algorithm their JWK implies, never the token's
//! (`IssuerKey::from_jwks`), live beside the snapshot's keys in the compiled configuration
//! (`compiled::keys::FetchedKeys`), and are carried to the next configuration only while
//! that issuer's entry (keys, JWKS URL) is unchanged: a snapshot that changes or removes the
//! issuer drops them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use gantry_model::snapshot::IssuerKey;
use http_body_util::{BodyExt, Empty, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::compiled::keys::IssuerKeys;
use crate::compiled::{CompiledConfig, VerificationKey};

/// At most one JWKS fetch per issuer starts within this interval (Envoy's and jose's 30 s).
pub const REFETCH_INTERVAL: Duration = Duration::from_secs(30);
/// Time allowed to connect to the IdP, get its answer and read the document.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// Largest JWKS document read.
const MAX_JWKS_BYTES: usize = 512 * 1024;
/// Most keys kept from one fetched document.
const MAX_FETCHED_KEYS: usize = 64;

/// Fetches external issuers' JWKS on unknown `kid`s: single-flight and rate-limited per
/// issuer. Lives as long as the gateway, across configuration versions.
pub struct JwksRefresher {
    client: Client<HttpsConnector<HttpConnector>, Empty<Bytes>>,
    interval: Duration,
    /// Per issuer: when its last fetch started. The async lock is what makes concurrent
    /// requests wait for the fetch in flight instead of starting their own. Only issuers
    /// that a snapshot names with a JWKS URL get an entry.
    slots: Mutex<HashMap<String, Arc<tokio::sync::Mutex<Option<Instant>>>>>,
    /// Where fetches are counted (`gantry_gateway_jwks_fetches`).
    metrics: Option<Arc<crate::metrics::GatewayMetrics>>,
}

impl Default for JwksRefresher {
    fn default() -> Self {
        Self::new(REFETCH_INTERVAL)
    }
}

impl JwksRefresher {
    /// A refresher starting at most one fetch per issuer per `interval`.
    pub fn new(interval: Duration) -> Self {
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_connect_timeout(Some(FETCH_TIMEOUT));
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_webpki_roots()
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        Self {
            client: Client::builder(TokioExecutor::new()).build(https),
            interval,
            slots: Mutex::default(),
            metrics: None,
        }
    }

    /// Counts its fetches in `metrics`.
    pub fn with_metrics(mut self, metrics: Arc<crate::metrics::GatewayMetrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    fn count(&self, outcome: &'static str) {
        if let Some(metrics) = &self.metrics {
            metrics.jwks_fetched(outcome);
        }
    }

    /// Re-reads `issuer`'s JWKS into `config`'s fetched keys, unless a fetch for it started
    /// less than an interval ago; waits (bounded) for a fetch already in flight. Returns
    /// once the keys are as fresh as this call may make them: the caller verifies again.
    pub async fn refresh(&self, config: &CompiledConfig, issuer: &str) {
        let Some(source) = config.jwks_sources.get(issuer) else {
            return;
        };
        let slot = self
            .slots
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(issuer.to_owned())
            .or_default()
            .clone();
        let Ok(mut last) = tokio::time::timeout(FETCH_TIMEOUT, slot.lock()).await else {
            return;
        };
        if last.is_some_and(|started| started.elapsed() < self.interval) {
            return;
        }
        // Counted before the fetch: a failing or abandoned fetch spends the interval too.
        *last = Some(Instant::now());
        match tokio::time::timeout(FETCH_TIMEOUT, self.fetch(&source.uri)).await {
            Ok(Ok(keys)) => {
                let mut compiled = IssuerKeys::new();
                for key in keys.iter().take(MAX_FETCHED_KEYS) {
                    // The snapshot's keys win; a fetched document cannot rebind a kid.
                    if config.keys.contains_key(&key.kid) {
                        continue;
                    }
                    match VerificationKey::compile(issuer, key) {
                        Ok(k) => {
                            compiled.insert(key.kid.clone(), Arc::new(k));
                        }
                        Err(error) => {
                            tracing::debug!(%issuer, kid = %key.kid, %error, "fetched key not usable")
                        }
                    }
                }
                tracing::info!(%issuer, keys = compiled.len(), "issuer JWKS fetched on an unknown kid");
                self.count("ok");
                config.fetched_keys.replace(issuer, compiled);
            }
            Ok(Err(error)) => {
                tracing::warn!(%issuer, %error, "could not fetch the issuer's JWKS");
                self.count("failed");
            }
            Err(_) => {
                tracing::warn!(%issuer, uri = %source.uri, "the issuer's JWKS did not arrive in time");
                self.count("timeout");
            }
        }
    }

    async fn fetch(&self, uri: &str) -> Result<Vec<IssuerKey>, String> {
        let uri: http::Uri = uri.parse().map_err(|e| format!("{uri}: {e}"))?;
        let mut request = http::Request::new(Empty::new());
        *request.uri_mut() = uri.clone();
        request.headers_mut().insert(
            http::header::ACCEPT,
            http::HeaderValue::from_static("application/json"),
        );
        let response = self
            .client
            .request(request)
            .await
            .map_err(|e| format!("{uri}: {e}"))?;
        if !response.status().is_success() {
            return Err(format!("{uri} answered {}", response.status()));
        }
        let body = Limited::new(response.into_body(), MAX_JWKS_BYTES)
            .collect()
            .await
            .map_err(|e| format!("{uri}: {e}"))?
            .to_bytes();
        let document: serde_json::Value =
            serde_json::from_slice(&body).map_err(|e| format!("{uri}: not JSON: {e}"))?;
        Ok(IssuerKey::from_jwks(&document))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use gantry_keys::{SigningAlgorithm, SigningKey};
    use gantry_model::GatewaySnapshot;
    use gantry_model::snapshot::TrustedIssuer;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    const ISSUER: &str = "https://idp.test/realms/a";

    fn jwk(key: &SigningKey) -> serde_json::Value {
        serde_json::to_value(key.public_jwk()).unwrap()
    }

    /// A JWKS server answering after `delay`, counting its hits.
    async fn slow_jwks(body: serde_json::Value, delay: Duration) -> (String, Arc<AtomicUsize>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/jwks", listener.local_addr().unwrap());
        let hits = Arc::new(AtomicUsize::new(0));
        let counter = hits.clone();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
                let body = body.to_string();
                tokio::spawn(async move {
                    let mut buffer = [0u8; 2048];
                    let _ = socket.read(&mut buffer).await;
                    tokio::time::sleep(delay).await;
                    let reply = format!(
                        "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = socket.write_all(reply.as_bytes()).await;
                });
            }
        });
        (url, hits)
    }

    fn config(version: u64, keys: &[&SigningKey], uri: &str) -> CompiledConfig {
        let keys = IssuerKey::from_jwks(
            &serde_json::json!({"keys": keys.iter().map(|k| jwk(k)).collect::<Vec<_>>()}),
        );
        CompiledConfig::compile(&GatewaySnapshot {
            environment: "Default".into(),
            version,
            issuers: vec![TrustedIssuer {
                issuer: ISSUER.into(),
                keys,
                jwks_uri: Some(uri.into()),
                resident: false,
            }],
            ..Default::default()
        })
        .unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_misses_share_one_fetch_and_the_interval_holds_further_ones() {
        let known = SigningKey::generate(SigningAlgorithm::Rs256).unwrap();
        let rotated = SigningKey::generate(SigningAlgorithm::Es256).unwrap();
        let (uri, hits) = slow_jwks(
            serde_json::json!({"keys": [jwk(&known), jwk(&rotated),
                {"kty": "oct", "kid": "symmetric", "k": "c2VjcmV0"}]}),
            Duration::from_millis(200),
        )
        .await;
        let config = Arc::new(config(1, &[&known], &uri));
        let refresher = Arc::new(JwksRefresher::default());
        let mut waiting = tokio::task::JoinSet::new();
        for _ in 0..20 {
            let (config, refresher) = (config.clone(), refresher.clone());
            waiting.spawn(async move { refresher.refresh(&config, ISSUER).await });
        }
        while waiting.join_next().await.is_some() {}
        assert_eq!(hits.load(Ordering::SeqCst), 1, "one fetch for 20 misses");
        // Every waiter returned after it: the new key is there, pinned to ES256.
        let fetched = config.fetched_keys.get(ISSUER, rotated.kid()).unwrap();
        assert_eq!(fetched.algorithm, jsonwebtoken::Algorithm::ES256);
        // The snapshot's own kid is not rebound; a symmetric key is never taken.
        assert!(config.fetched_keys.get(ISSUER, known.kid()).is_none());
        assert!(config.fetched_keys.get(ISSUER, "symmetric").is_none());
        // Within the interval, no further fetch; an unknown issuer is never fetched.
        refresher.refresh(&config, ISSUER).await;
        refresher.refresh(&config, "https://elsewhere.test").await;
        assert_eq!(hits.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn fetched_keys_follow_the_issuer_into_the_next_version_only_while_it_is_unchanged() {
        let known = SigningKey::generate(SigningAlgorithm::Rs256).unwrap();
        let rotated = SigningKey::generate(SigningAlgorithm::Es256).unwrap();
        let uri = "https://idp.test/jwks";
        let first = config(1, &[&known], uri);
        let key = IssuerKey::from_jwks(&serde_json::json!({"keys": [jwk(&rotated)]}));
        first.fetched_keys.replace(
            ISSUER,
            IssuerKeys::from([(
                rotated.kid().to_owned(),
                Arc::new(VerificationKey::compile(ISSUER, &key[0]).unwrap()),
            )]),
        );
        let same = config(2, &[&known], uri);
        same.inherit_fetched_keys(&first);
        assert!(same.fetched_keys.get(ISSUER, rotated.kid()).is_some());
        // The control plane's refresh changed the issuer's keys: its word wins.
        let changed = config(3, &[&known, &rotated], uri);
        changed.inherit_fetched_keys(&same);
        assert!(changed.fetched_keys.get(ISSUER, rotated.kid()).is_none());
    }
}
