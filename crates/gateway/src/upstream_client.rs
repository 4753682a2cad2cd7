//! The HTTP clients the proxy forwards with: one pool speaking HTTP/1.1 (ALPN `http/1.1` on
//! TLS) and one speaking HTTP/2 only (h2c with prior knowledge to `http://`, ALPN `h2` to
//! `https://`), both over one rustls client configuration — the web PKI roots plus an
//! optional extra CA bundle, and an optional client certificate for upstreams that require
//! mutual TLS (WSO2's gateway keystore and truststore).
//!
//! Built once at start; the request path picks a pool by reading one `bool`.

use std::sync::Arc;
use std::time::Duration;

use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// Time allowed to open a TCP connection to an upstream.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How long an idle pooled connection is kept.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(90);

/// The client's body streamed through (within the body limit and deadline), or a buffered
/// one that can be sent again.
pub type UpstreamBody = http_body_util::Either<
    http_body_util::Limited<crate::body_timeout::Deadline<hyper::body::Incoming>>,
    http_body_util::Full<bytes::Bytes>,
>;

/// A pooled client for upstream requests.
pub type UpstreamClient = Client<HttpsConnector<HttpConnector>, UpstreamBody>;

/// A PEM file given for upstream TLS is unusable.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamTlsError {
    /// The extra CA bundle is not PEM or holds no certificate.
    #[error("the upstream CA bundle holds no usable certificate{0}")]
    Ca(String),
    /// The client certificate chain is not PEM or holds no certificate.
    #[error("the upstream client certificate holds no usable certificate{0}")]
    ClientCertificate(String),
    /// The client key is not a PEM private key.
    #[error("the upstream client key is not a PEM private key: {0}")]
    ClientKey(String),
    /// rustls refused the certificate, or the certificate and key.
    #[error("{0}")]
    Rustls(#[from] rustls::Error),
}

/// How the gateway authenticates upstreams and itself to them.
#[derive(Clone)]
pub struct UpstreamTls {
    config: rustls::ClientConfig,
}

impl Default for UpstreamTls {
    /// Trusts the web PKI roots; presents no client certificate.
    fn default() -> Self {
        Self {
            config: rustls::ClientConfig::builder()
                .with_root_certificates(web_pki_roots())
                .with_no_client_auth(),
        }
    }
}

impl UpstreamTls {
    /// Trusts the web PKI roots and the certificates of `extra_ca_pem`; presents the client
    /// certificate chain and key of `identity` (PEM) to upstreams that ask for one.
    pub fn new(
        extra_ca_pem: Option<&[u8]>,
        identity: Option<(&[u8], &[u8])>,
    ) -> Result<Self, UpstreamTlsError> {
        let mut roots = web_pki_roots();
        if let Some(pem) = extra_ca_pem {
            let certificates = certificates(pem).map_err(UpstreamTlsError::Ca)?;
            for certificate in certificates {
                roots
                    .add(certificate)
                    .map_err(|e| UpstreamTlsError::Ca(format!(": {e}")))?;
            }
        }
        let builder = rustls::ClientConfig::builder().with_root_certificates(roots);
        let config = match identity {
            None => builder.with_no_client_auth(),
            Some((chain, key)) => {
                let chain = certificates(chain).map_err(UpstreamTlsError::ClientCertificate)?;
                let key = PrivateKeyDer::from_pem_slice(key)
                    .map_err(|e| UpstreamTlsError::ClientKey(e.to_string()))?;
                builder.with_client_auth_cert(chain, key)?
            }
        };
        Ok(Self { config })
    }
}

fn web_pki_roots() -> rustls::RootCertStore {
    rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    }
}

/// The certificates of a PEM bundle; an error suffix (`: why`) when there are none.
fn certificates(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, String> {
    let certificates = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!(": {e}"))?;
    if certificates.is_empty() {
        return Err(String::new());
    }
    Ok(certificates)
}

/// The HTTP/1.1 and the HTTP/2 pools.
pub struct UpstreamClients {
    http1: UpstreamClient,
    http2: UpstreamClient,
}

impl UpstreamClients {
    /// Both pools, over `tls`.
    pub fn new(tls: &UpstreamTls) -> Self {
        let config = Arc::new(tls.config.clone());
        let http1 = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config((*config).clone())
            .https_or_http()
            .enable_http1()
            .wrap_connector(tcp());
        let http2 = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config((*config).clone())
            .https_or_http()
            .enable_http2()
            .wrap_connector(tcp());
        Self {
            http1: Client::builder(TokioExecutor::new())
                .pool_idle_timeout(POOL_IDLE_TIMEOUT)
                .build(http1),
            http2: Client::builder(TokioExecutor::new())
                .pool_idle_timeout(POOL_IDLE_TIMEOUT)
                .http2_only(true)
                .build(http2),
        }
    }

    /// The HTTP/2 pool when `http2`, else the HTTP/1.1 one.
    #[inline]
    pub fn pick(&self, http2: bool) -> &UpstreamClient {
        if http2 { &self.http2 } else { &self.http1 }
    }
}

fn tcp() -> HttpConnector {
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    http.set_connect_timeout(Some(CONNECT_TIMEOUT));
    http
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unusable_pem_files_are_refused_with_the_reason() {
        let error = UpstreamTls::new(Some(b"not a certificate"), None)
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            error.as_deref(),
            Some("the upstream CA bundle holds no usable certificate")
        );
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["client".to_owned()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let other_key = rcgen::KeyPair::generate().unwrap();
        assert!(
            UpstreamTls::new(
                None,
                Some((cert.pem().as_bytes(), key.serialize_pem().as_bytes()))
            )
            .is_ok()
        );
        assert!(
            UpstreamTls::new(None, Some((cert.pem().as_bytes(), b"no key"))).is_err(),
            "a key that is not PEM"
        );
        assert!(
            UpstreamTls::new(
                None,
                Some((cert.pem().as_bytes(), other_key.serialize_pem().as_bytes()))
            )
            .is_err(),
            "a key that does not match the certificate"
        );
    }
}
