//! A stand-in OIDC identity provider: `/.well-known/openid-configuration` and `/jwks`,
//! served over plain HTTP on a free loopback port. The test owns the signing keys and
//! sets the JWKS document; the provider counts how often its JWKS is read, so tests can
//! check how often Gantry fetches it.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A running provider; its accept loop ends with the test's runtime.
pub struct FakeIdp {
    port: u16,
    jwks: Arc<Mutex<Value>>,
    jwks_hits: Arc<AtomicUsize>,
}

impl FakeIdp {
    /// Starts serving `jwks` on a free port; its issuer is `http://127.0.0.1:<port>/realms/corp`.
    pub async fn start(jwks: Value) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the IdP");
        let port = listener.local_addr().expect("local addr").port();
        let jwks = Arc::new(Mutex::new(jwks));
        let jwks_hits = Arc::new(AtomicUsize::new(0));
        let (served, hits) = (jwks.clone(), jwks_hits.clone());
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let (served, hits) = (served.clone(), hits.clone());
                tokio::spawn(async move {
                    let mut buffer = vec![0u8; 4096];
                    let n = socket.read(&mut buffer).await.unwrap_or(0);
                    let request = String::from_utf8_lossy(&buffer[..n]);
                    let path = request.split_whitespace().nth(1).unwrap_or("/").to_owned();
                    let (status, body) = match path.as_str() {
                        "/.well-known/openid-configuration" => (
                            "200 OK",
                            json!({"issuer": format!("http://127.0.0.1:{port}/realms/corp"),
                                   "jwks_uri": format!("http://127.0.0.1:{port}/jwks"),
                                   "token_endpoint": format!("http://127.0.0.1:{port}/token")})
                            .to_string(),
                        ),
                        "/jwks" => {
                            hits.fetch_add(1, Ordering::SeqCst);
                            let jwks = served.lock().unwrap_or_else(PoisonError::into_inner);
                            ("200 OK", jwks.to_string())
                        }
                        _ => ("404 Not Found", "{}".to_owned()),
                    };
                    let response = format!(
                        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = socket.write_all(response.as_bytes()).await;
                });
            }
        });
        Self {
            port,
            jwks,
            jwks_hits,
        }
    }

    /// `http://127.0.0.1:<port><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// The issuer (`iss`) its tokens carry.
    pub fn issuer(&self) -> String {
        self.url("/realms/corp")
    }

    /// Serves `jwks` from now on (a key rotation).
    pub fn set_jwks(&self, jwks: Value) {
        *self.jwks.lock().unwrap_or_else(PoisonError::into_inner) = jwks;
    }

    /// How many times `/jwks` was read.
    pub fn jwks_hits(&self) -> usize {
        self.jwks_hits.load(Ordering::SeqCst)
    }
}
