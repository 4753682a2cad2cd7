//! Server certificates of a TLS listener: a default one, one per SNI host name given on the
//! command line, and one per host directory of a certificate directory (mounted Kubernetes
//! TLS Secrets, [`directory`]). A watch tick re-reads them: renewed files are served, new
//! host directories added and removed ones dropped, without a restart; a file that does not
//! parse keeps the last good certificate. Handshakes only read an [`ArcSwap`] snapshot.

mod directory;
mod host;

use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use arc_swap::ArcSwap;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use tokio_util::sync::CancellationToken;

pub use host::HostPattern;
use host::Snapshot;

use crate::TlsConfigError;

/// Where one certificate comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateFiles {
    /// PEM certificate chain.
    pub cert: PathBuf,
    /// PEM private key.
    pub key: PathBuf,
}

/// One certificate being served, and the content last read from its files.
///
/// Changes are found by content, not modification times: both files are read on every
/// tick (a few KiB each) and hashed. Reading opens the path through any symlinks, so the
/// atomic `..data` swap Kubernetes does on a Secret update is seen even when the new files
/// carry the same mtime, and what is parsed is exactly what was hashed.
struct Slot {
    files: CertificateFiles,
    /// Hash of the content last tried, good or bad: bad content is reported once, and
    /// tried again only when it changes.
    seen: u64,
    key: Arc<CertifiedKey>,
}

struct Contents {
    cert: Vec<u8>,
    key: Vec<u8>,
}

impl Contents {
    fn read(files: &CertificateFiles) -> Result<Self, TlsConfigError> {
        let read = |path: &Path| {
            std::fs::read(path).map_err(|e| TlsConfigError::Pem {
                path: path.to_owned(),
                reason: e.to_string(),
            })
        };
        Ok(Self {
            cert: read(&files.cert)?,
            key: read(&files.key)?,
        })
    }

    fn fingerprint(&self) -> u64 {
        // Compared only within this process, so the std hasher's unspecified algorithm
        // does not matter; it is not a security boundary (the files are ours).
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        self.cert.hash(&mut hasher);
        self.key.hash(&mut hasher);
        hasher.finish()
    }

    fn parse(&self, files: &CertificateFiles) -> Result<CertifiedKey, TlsConfigError> {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let pem_error = |path: &Path, e: &dyn std::fmt::Display| TlsConfigError::Pem {
            path: path.to_owned(),
            reason: e.to_string(),
        };
        let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&self.cert)
            .collect::<Result<_, _>>()
            .map_err(|e| pem_error(&files.cert, &e))?;
        if chain.is_empty() {
            return Err(pem_error(&files.cert, &"no CERTIFICATE block found"));
        }
        let private =
            PrivateKeyDer::from_pem_slice(&self.key).map_err(|e| pem_error(&files.key, &e))?;
        let provider = rustls::crypto::CryptoProvider::get_default()
            .cloned()
            .unwrap_or_else(|| Arc::new(rustls::crypto::aws_lc_rs::default_provider()));
        // Also rejects a key that does not match the certificate (a renewal half written).
        Ok(CertifiedKey::from_der(chain, private, &provider)?)
    }
}

impl Slot {
    fn load(files: &CertificateFiles) -> Result<Self, TlsConfigError> {
        let contents = Contents::read(files)?;
        Ok(Self {
            key: Arc::new(contents.parse(files)?),
            seen: contents.fingerprint(),
            files: files.clone(),
        })
    }

    /// Re-reads the files; true when a new certificate replaced the served one.
    fn refresh(&mut self) -> bool {
        let contents = match Contents::read(&self.files) {
            Ok(contents) => contents,
            Err(error) => {
                tracing::warn!(%error, "TLS certificate unreadable; keeping the last good one");
                return false;
            }
        };
        let fingerprint = contents.fingerprint();
        if fingerprint == self.seen {
            return false;
        }
        self.seen = fingerprint;
        match contents.parse(&self.files) {
            Ok(key) => {
                self.key = Arc::new(key);
                tracing::info!(cert = %self.files.cert.display(), "TLS certificate reloaded");
                true
            }
            Err(error) => {
                tracing::warn!(%error, "TLS certificate changed but does not load; keeping the last good one");
                false
            }
        }
    }
}

/// What the watch tick works on; only [`CertificateStore::reload_changed`] touches it.
struct Sources {
    default: Slot,
    /// From `--tls-sni`: fixed names, taking precedence over the directory.
    explicit: Vec<(HostPattern, Slot)>,
    directory: Option<PathBuf>,
    from_directory: BTreeMap<HostPattern, Slot>,
    /// Host directories whose certificate never loaded, with the content that failed.
    rejected: HashMap<HostPattern, u64>,
}

impl Sources {
    fn snapshot(&self) -> Snapshot {
        let entries = self.from_directory.iter().chain(
            // Last, so they replace directory entries for the same name.
            self.explicit.iter().map(|(pattern, slot)| (pattern, slot)),
        );
        Snapshot::new(
            self.default.key.clone(),
            entries.map(|(pattern, slot)| (pattern, &slot.key)),
        )
    }

    /// Brings the directory entries in line with `DIR`; returns how many came, changed
    /// or went.
    fn sync_directory(&mut self) -> usize {
        let Some(dir) = &self.directory else {
            return 0;
        };
        let found = match directory::scan(dir) {
            Ok(found) => found,
            Err(error) => {
                // An unlisted directory (unmounted for a moment?) is no reason to drop
                // every host: keep serving what was there.
                tracing::warn!(%error, "certificate directory unreadable; keeping its certificates");
                return 0;
            }
        };
        let mut changes = 0;
        self.from_directory.retain(|pattern, slot| {
            let kept = found.get(pattern) == Some(&slot.files);
            if !kept {
                tracing::info!(host = %pattern, "TLS host directory removed");
                changes += 1;
            }
            kept
        });
        self.rejected
            .retain(|pattern, _| found.contains_key(pattern));
        for (pattern, files) in found {
            if let Some(slot) = self.from_directory.get_mut(&pattern) {
                changes += usize::from(slot.refresh());
                continue;
            }
            let contents = match Contents::read(&files) {
                Ok(contents) => contents,
                Err(error) => {
                    tracing::warn!(host = %pattern, %error, "TLS host directory unreadable");
                    continue;
                }
            };
            let fingerprint = contents.fingerprint();
            if self.rejected.get(&pattern) == Some(&fingerprint) {
                continue;
            }
            match contents.parse(&files) {
                Ok(key) => {
                    tracing::info!(host = %pattern, "TLS host directory added");
                    self.rejected.remove(&pattern);
                    let slot = Slot {
                        files,
                        seen: fingerprint,
                        key: Arc::new(key),
                    };
                    self.from_directory.insert(pattern, slot);
                    changes += 1;
                }
                Err(error) => {
                    tracing::warn!(host = %pattern, %error, "TLS host directory does not load; not served");
                    self.rejected.insert(pattern, fingerprint);
                }
            }
        }
        changes
    }
}

/// The certificates of a TLS listener: the default, by `--tls-sni` host name, and by host
/// directory of a certificate directory.
///
/// Precedence for an SNI name: an exact name before a wildcard; for the same name, a
/// `--tls-sni` entry before a directory entry; nothing matching, the default.
pub struct CertificateStore {
    /// Read by every handshake.
    snapshot: ArcSwap<Snapshot>,
    /// Read and replaced by the watch tick only.
    sources: Mutex<Sources>,
}

impl std::fmt::Debug for CertificateStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertificateStore")
            .field("hosts", &self.snapshot.load().patterns())
            .finish()
    }
}

impl CertificateStore {
    /// Loads `default`, the `by_host` certificates (host name or `*.domain`) and, with
    /// `directory`, its host directories. An unreadable `default` or `by_host` file, a bad
    /// host name or an unlistable directory is an error; a host directory that does not
    /// load is logged and skipped (one bad Secret must not keep the gateway down).
    pub fn load(
        default: CertificateFiles,
        by_host: Vec<(String, CertificateFiles)>,
        directory: Option<&Path>,
    ) -> Result<Arc<Self>, TlsConfigError> {
        let explicit = by_host
            .into_iter()
            .map(|(host, files)| Ok((HostPattern::parse(&host)?, Slot::load(&files)?)))
            .collect::<Result<_, TlsConfigError>>()?;
        if let Some(dir) = directory {
            // Fail at start on a wrong path rather than warn on every tick.
            directory::scan(dir)?;
        }
        let mut sources = Sources {
            default: Slot::load(&default)?,
            explicit,
            directory: directory.map(Path::to_owned),
            from_directory: BTreeMap::new(),
            rejected: HashMap::new(),
        };
        sources.sync_directory();
        Ok(Arc::new(Self {
            snapshot: ArcSwap::from_pointee(sources.snapshot()),
            sources: Mutex::new(sources),
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

    /// Re-reads every certificate and the directory: returns how many certificates were
    /// replaced, added or removed. A file that does not parse is logged (once per content)
    /// and the old certificate kept. Blocking file I/O: call it off the async runtime.
    pub fn reload_changed(&self) -> usize {
        let mut sources = self.sources.lock().unwrap_or_else(PoisonError::into_inner);
        let mut changes = usize::from(sources.default.refresh());
        for (_, slot) in &mut sources.explicit {
            changes += usize::from(slot.refresh());
        }
        changes += sources.sync_directory();
        if changes > 0 {
            self.snapshot.store(Arc::new(sources.snapshot()));
        }
        changes
    }

    /// Checks the files every `every` until `shutdown`.
    pub async fn watch(self: Arc<Self>, every: Duration, shutdown: CancellationToken) {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(every) => {
                    let store = self.clone();
                    if let Err(error) = tokio::task::spawn_blocking(move || store.reload_changed()).await {
                        tracing::warn!(%error, "TLS certificate check failed");
                    }
                }
                _ = shutdown.cancelled() => return,
            }
        }
    }
}

impl ResolvesServerCert for CertificateStore {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.snapshot.load().choose(hello.server_name()).clone())
    }
}

#[cfg(test)]
mod tests;
