//! Server certificates read from PEM files: a default one and one per SNI host name, chosen
//! at each handshake, and reloaded when their files change (a renewed certificate is served
//! without a restart). A file that does not parse keeps the last good certificate.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, SystemTime};

use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use tokio_util::sync::CancellationToken;

use crate::TlsConfigError;

/// Where one certificate comes from.
#[derive(Debug, Clone)]
pub struct CertificateFiles {
    /// PEM certificate chain.
    pub cert: PathBuf,
    /// PEM private key.
    pub key: PathBuf,
}

struct Loaded {
    files: CertificateFiles,
    modified: Option<(SystemTime, SystemTime)>,
    key: Arc<CertifiedKey>,
}

/// The certificates of a TLS listener: the default, and by SNI host name (lower case).
pub struct CertificateStore {
    default: RwLock<Loaded>,
    by_host: HashMap<String, RwLock<Loaded>>,
}

impl std::fmt::Debug for CertificateStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertificateStore")
            .field("hosts", &self.by_host.keys().collect::<Vec<_>>())
            .finish()
    }
}

fn modified(files: &CertificateFiles) -> Option<(SystemTime, SystemTime)> {
    let m = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    Some((m(&files.cert)?, m(&files.key)?))
}

fn load(files: &CertificateFiles) -> Result<Loaded, TlsConfigError> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let pem_error = |path: &Path, e: &dyn std::fmt::Display| TlsConfigError::Pem {
        path: path.to_owned(),
        reason: e.to_string(),
    };
    let modified = modified(files);
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&files.cert)
        .map_err(|e| pem_error(&files.cert, &e))?
        .collect::<Result<_, _>>()
        .map_err(|e| pem_error(&files.cert, &e))?;
    if chain.is_empty() {
        return Err(pem_error(&files.cert, &"no CERTIFICATE block found"));
    }
    let private =
        PrivateKeyDer::from_pem_file(&files.key).map_err(|e| pem_error(&files.key, &e))?;
    let provider = rustls::crypto::CryptoProvider::get_default()
        .cloned()
        .unwrap_or_else(|| Arc::new(rustls::crypto::aws_lc_rs::default_provider()));
    let key = CertifiedKey::from_der(chain, private, &provider)?;
    Ok(Loaded {
        files: files.clone(),
        modified,
        key: Arc::new(key),
    })
}

impl CertificateStore {
    /// Loads `default` and the `by_host` certificates; any unreadable file is an error.
    pub fn load(
        default: CertificateFiles,
        by_host: Vec<(String, CertificateFiles)>,
    ) -> Result<Arc<Self>, TlsConfigError> {
        let by_host = by_host
            .into_iter()
            .map(|(host, files)| Ok((host.to_ascii_lowercase(), RwLock::new(load(&files)?))))
            .collect::<Result<_, TlsConfigError>>()?;
        Ok(Arc::new(Self {
            default: RwLock::new(load(&default)?),
            by_host,
        }))
    }

    /// A rustls server configuration (HTTP/2 and HTTP/1.1 by ALPN) choosing from this store.
    pub fn server_config(self: &Arc<Self>) -> Arc<rustls::ServerConfig> {
        let mut config = rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_cert_resolver(self.clone());
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Arc::new(config)
    }

    /// Like [`Self::server_config`], and the handshake asks for a client certificate without
    /// requiring one ([`crate::client_auth::AnyClientCertificate`]): the service sees the
    /// leaf in [`crate::Connection::client_certificate`] and decides what it is worth.
    pub fn server_config_asking_for_client_certificates(
        self: &Arc<Self>,
    ) -> Arc<rustls::ServerConfig> {
        let mut config = rustls::ServerConfig::builder()
            .with_client_cert_verifier(crate::client_auth::AnyClientCertificate::new())
            .with_cert_resolver(self.clone());
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Arc::new(config)
    }

    /// Reloads every certificate whose files changed since they were read; returns how many
    /// were replaced. A file that does not parse is logged and the old certificate kept.
    pub fn reload_changed(&self) -> usize {
        let mut replaced = 0;
        for slot in std::iter::once(&self.default).chain(self.by_host.values()) {
            let files = {
                let current = slot.read().unwrap_or_else(PoisonError::into_inner);
                if modified(&current.files) == current.modified {
                    continue;
                }
                current.files.clone()
            };
            match load(&files) {
                Ok(next) => {
                    *slot.write().unwrap_or_else(PoisonError::into_inner) = next;
                    tracing::info!(cert = %files.cert.display(), "TLS certificate reloaded");
                    replaced += 1;
                }
                Err(error) => {
                    tracing::warn!(%error, "TLS certificate changed but does not load; keeping the last good one")
                }
            }
        }
        replaced
    }

    /// Checks the files every `every` until `shutdown`.
    pub async fn watch(self: Arc<Self>, every: Duration, shutdown: CancellationToken) {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(every) => { self.reload_changed(); }
                _ = shutdown.cancelled() => return,
            }
        }
    }
}

impl ResolvesServerCert for CertificateStore {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let slot = hello
            .server_name()
            .and_then(|name| {
                self.by_host.get(name).or_else(|| {
                    name.bytes()
                        .any(|b| b.is_ascii_uppercase())
                        .then(|| self.by_host.get(&name.to_ascii_lowercase()))
                        .flatten()
                })
            })
            .unwrap_or(&self.default);
        Some(
            slot.read()
                .unwrap_or_else(PoisonError::into_inner)
                .key
                .clone(),
        )
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use rustls::pki_types::ServerName;

    fn write_cert(dir: &Path, name: &str, host: &str) -> CertificateFiles {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec![host.to_owned()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let files = CertificateFiles {
            cert: dir.join(format!("{name}.pem")),
            key: dir.join(format!("{name}-key.pem")),
        };
        std::fs::write(&files.cert, cert.pem()).unwrap();
        std::fs::write(&files.key, key.serialize_pem()).unwrap();
        files
    }

    /// The leaf certificate the server presents for `sni`.
    async fn presented(config: Arc<rustls::ServerConfig>, sni: &str) -> Vec<u8> {
        #[derive(Debug)]
        struct AcceptAny;
        impl rustls::client::danger::ServerCertVerifier for AcceptAny {
            fn verify_server_cert(
                &self,
                _: &rustls::pki_types::CertificateDer<'_>,
                _: &[rustls::pki_types::CertificateDer<'_>],
                _: &ServerName<'_>,
                _: &[u8],
                _: rustls::pki_types::UnixTime,
            ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
                Ok(rustls::client::danger::ServerCertVerified::assertion())
            }
            fn verify_tls12_signature(
                &self,
                _: &[u8],
                _: &rustls::pki_types::CertificateDer<'_>,
                _: &rustls::DigitallySignedStruct,
            ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error>
            {
                Ok(rustls::client::danger::HandshakeSignatureValid::assertion())
            }
            fn verify_tls13_signature(
                &self,
                _: &[u8],
                _: &rustls::pki_types::CertificateDer<'_>,
                _: &rustls::DigitallySignedStruct,
            ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error>
            {
                Ok(rustls::client::danger::HandshakeSignatureValid::assertion())
            }
            fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
                rustls::crypto::aws_lc_rs::default_provider()
                    .signature_verification_algorithms
                    .supported_schemes()
            }
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            let _ = tokio_rustls::TlsAcceptor::from(config).accept(stream).await;
        });
        let client = rustls::ClientConfig::builder()
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAny))
            .with_no_client_auth();
        let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let tls = tokio_rustls::TlsConnector::from(Arc::new(client))
            .connect(ServerName::try_from(sni.to_owned()).unwrap(), stream)
            .await
            .unwrap();
        let leaf = tls.get_ref().1.peer_certificates().unwrap()[0].to_vec();
        drop(tls);
        let _ = server.await;
        leaf
    }

    fn leaf_of(files: &CertificateFiles) -> Vec<u8> {
        use rustls::pki_types::pem::PemObject;
        rustls::pki_types::CertificateDer::from_pem_file(&files.cert)
            .unwrap()
            .to_vec()
    }

    #[tokio::test]
    async fn serves_the_certificate_of_the_sni_host_and_reloads_changed_files() {
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let dir = tempfile::tempdir().unwrap();
        let default = write_cert(dir.path(), "default", "localhost");
        let api = write_cert(dir.path(), "api", "api.example.com");
        let store = CertificateStore::load(
            default.clone(),
            vec![("API.example.com".into(), api.clone())],
        )
        .unwrap();
        let config = store.server_config();
        assert_eq!(
            presented(config.clone(), "localhost").await,
            leaf_of(&default)
        );
        assert_eq!(
            presented(config.clone(), "api.example.com").await,
            leaf_of(&api)
        );
        assert_eq!(
            presented(config.clone(), "other.test").await,
            leaf_of(&default)
        );

        assert_eq!(store.reload_changed(), 0, "nothing changed");
        // A broken file keeps the last good certificate…
        std::fs::write(&api.cert, "not a certificate").unwrap();
        filetime_bump(&api.cert);
        assert_eq!(store.reload_changed(), 0);
        // …and a renewed one replaces it on the next check.
        std::thread::sleep(Duration::from_millis(20));
        let renewed = write_cert(dir.path(), "api", "api.example.com");
        filetime_bump(&renewed.cert);
        assert_eq!(store.reload_changed(), 1);
        assert_eq!(
            presented(config, "api.example.com").await,
            leaf_of(&renewed)
        );
    }

    /// Makes sure the modification time moves even on coarse-grained file systems.
    fn filetime_bump(path: &Path) {
        let file = std::fs::File::options().append(true).open(path).unwrap();
        let later = SystemTime::now() + Duration::from_secs(1);
        file.set_modified(later).unwrap();
    }
}
