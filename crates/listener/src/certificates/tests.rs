#![allow(clippy::unwrap_used)]
use super::*;
use rustls::pki_types::ServerName;
use std::time::SystemTime;

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
        ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
            Ok(rustls::client::danger::HandshakeSignatureValid::assertion())
        }
        fn verify_tls13_signature(
            &self,
            _: &[u8],
            _: &rustls::pki_types::CertificateDer<'_>,
            _: &rustls::DigitallySignedStruct,
        ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
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
        None,
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
    let good = leaf_of(&api);
    std::fs::write(&api.cert, "not a certificate").unwrap();
    assert_eq!(store.reload_changed(), 0);
    assert_eq!(presented(config.clone(), "api.example.com").await, good);
    // …and a renewed one replaces it on the next check (changes are found by content, so
    // no modification time needs to move).
    let renewed = write_cert(dir.path(), "api", "api.example.com");
    assert_eq!(store.reload_changed(), 1);
    assert_eq!(
        presented(config, "api.example.com").await,
        leaf_of(&renewed)
    );
}

/// A certificate directory and the default certificate beside it.
struct CertDir {
    _temp: tempfile::TempDir,
    root: PathBuf,
    default: CertificateFiles,
}

impl CertDir {
    fn new() -> Self {
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let temp = tempfile::tempdir().unwrap();
        let default = write_cert(temp.path(), "default", "localhost");
        let root = temp.path().join("certs");
        std::fs::create_dir(&root).unwrap();
        Self {
            _temp: temp,
            root,
            default,
        }
    }

    fn store(&self, by_host: Vec<(String, CertificateFiles)>) -> Arc<CertificateStore> {
        CertificateStore::load(self.default.clone(), by_host, Some(&self.root)).unwrap()
    }

    /// Writes `DIR/<dir_name>/tls.crt` and `tls.key` as plain files, for `host`.
    fn host(&self, dir_name: &str, host: &str) -> Vec<u8> {
        let dir = self.root.join(dir_name);
        std::fs::create_dir_all(&dir).unwrap();
        let files = write_cert(&dir, "tls", host);
        std::fs::rename(&files.cert, dir.join("tls.crt")).unwrap();
        std::fs::rename(&files.key, dir.join("tls.key")).unwrap();
        leaf_of(&CertificateFiles {
            cert: dir.join("tls.crt"),
            key: dir.join("tls.key"),
        })
    }

    fn default_leaf(&self) -> Vec<u8> {
        leaf_of(&self.default)
    }
}

#[tokio::test]
async fn serves_each_host_directory_by_sni_and_the_default_otherwise() {
    let certs = CertDir::new();
    let api = certs.host("API.example.com", "api.example.com");
    let www = certs.host("www.example.com", "www.example.com");
    // Not a Secret: no tls.key.
    std::fs::create_dir(certs.root.join("notes")).unwrap();
    std::fs::write(certs.root.join("notes/tls.crt"), "x").unwrap();
    let config = certs.store(Vec::new()).server_config();
    assert_eq!(presented(config.clone(), "api.example.com").await, api);
    assert_eq!(presented(config.clone(), "www.example.com").await, www);
    assert_eq!(
        presented(config.clone(), "notes").await,
        certs.default_leaf()
    );
    assert_eq!(
        presented(config, "other.example.com").await,
        certs.default_leaf()
    );
}

#[tokio::test]
async fn a_wildcard_directory_serves_one_label_below_its_domain_after_exact_names() {
    let certs = CertDir::new();
    let wildcard = certs.host("_.example.com", "*.example.com");
    let other = certs.host("*.other.test", "*.other.test");
    let api = certs.host("api.example.com", "api.example.com");
    let config = certs.store(Vec::new()).server_config();
    assert_eq!(presented(config.clone(), "a.example.com").await, wildcard);
    assert_eq!(presented(config.clone(), "b.other.test").await, other);
    assert_eq!(presented(config.clone(), "api.example.com").await, api);
    for not_one_label_below in ["example.com", "a.b.example.com"] {
        assert_eq!(
            presented(config.clone(), not_one_label_below).await,
            certs.default_leaf(),
            "{not_one_label_below}"
        );
    }
}

#[tokio::test]
async fn a_host_directory_added_after_start_is_served_after_the_next_check() {
    let certs = CertDir::new();
    let store = certs.store(Vec::new());
    let config = store.server_config();
    assert_eq!(
        presented(config.clone(), "new.example.com").await,
        certs.default_leaf()
    );
    let new = certs.host("new.example.com", "new.example.com");
    assert_eq!(store.reload_changed(), 1);
    assert_eq!(presented(config, "new.example.com").await, new);
    assert_eq!(store.reload_changed(), 0, "nothing changed since");
}

/// Writes `host`'s certificate the way the kubelet updates a mounted Secret: files in a
/// fresh `..<generation>` directory, `..data` switched to it by an atomic rename, and
/// `tls.crt -> ..data/tls.crt`, `tls.key -> ..data/tls.key`. The new files get `mtime`.
#[cfg(unix)]
fn kubelet_writes(dir: &Path, generation: &str, host: &str, mtime: SystemTime) -> Vec<u8> {
    use std::os::unix::fs::symlink;
    std::fs::create_dir_all(dir).unwrap();
    let timestamped = dir.join(format!("..{generation}"));
    std::fs::create_dir(&timestamped).unwrap();
    let files = write_cert(&timestamped, "tls", host);
    for (from, to) in [(&files.cert, "tls.crt"), (&files.key, "tls.key")] {
        std::fs::rename(from, timestamped.join(to)).unwrap();
        std::fs::File::options()
            .append(true)
            .open(timestamped.join(to))
            .unwrap()
            .set_modified(mtime)
            .unwrap();
    }
    symlink(format!("..{generation}"), dir.join("..data_tmp")).unwrap();
    std::fs::rename(dir.join("..data_tmp"), dir.join("..data")).unwrap();
    for name in ["tls.crt", "tls.key"] {
        if std::fs::symlink_metadata(dir.join(name)).is_err() {
            symlink(format!("..data/{name}"), dir.join(name)).unwrap();
        }
    }
    leaf_of(&CertificateFiles {
        cert: dir.join("tls.crt"),
        key: dir.join("tls.key"),
    })
}

#[cfg(unix)]
#[tokio::test]
async fn a_renewed_secret_is_served_after_its_data_symlink_is_swapped() {
    let certs = CertDir::new();
    let same_time = SystemTime::now() - Duration::from_secs(3600);
    let dir = certs.root.join("api.example.com");
    let first = kubelet_writes(&dir, "2026_11_26_01", "api.example.com", same_time);
    let plain = certs.host("www.example.com", "www.example.com");
    let store = certs.store(Vec::new());
    let config = store.server_config();
    assert_eq!(presented(config.clone(), "api.example.com").await, first);
    assert_eq!(presented(config.clone(), "www.example.com").await, plain);

    // Same modification times as before: only the content tells the swap apart.
    let renewed = kubelet_writes(&dir, "2026_11_26_02", "api.example.com", same_time);
    std::fs::remove_dir_all(dir.join("..2026_11_26_01")).unwrap();
    // A plain file rewritten in place is picked up too.
    let rewritten = certs.host("www.example.com", "www.example.com");
    assert_eq!(store.reload_changed(), 2);
    assert_eq!(presented(config.clone(), "api.example.com").await, renewed);
    assert_eq!(presented(config, "www.example.com").await, rewritten);
}

#[tokio::test]
async fn a_removed_host_directory_falls_back_to_the_default() {
    let certs = CertDir::new();
    let gone = certs.host("gone.example.com", "gone.example.com");
    let kept = certs.host("kept.example.com", "kept.example.com");
    let store = certs.store(Vec::new());
    let config = store.server_config();
    assert_eq!(presented(config.clone(), "gone.example.com").await, gone);
    std::fs::remove_dir_all(certs.root.join("gone.example.com")).unwrap();
    assert_eq!(store.reload_changed(), 1);
    assert_eq!(
        presented(config.clone(), "gone.example.com").await,
        certs.default_leaf()
    );
    assert_eq!(presented(config, "kept.example.com").await, kept);
}

#[tokio::test]
async fn a_broken_file_keeps_the_last_good_certificate_and_a_broken_new_host_is_not_served() {
    let certs = CertDir::new();
    let good = certs.host("api.example.com", "api.example.com");
    let store = certs.store(Vec::new());
    let config = store.server_config();
    std::fs::write(certs.root.join("api.example.com/tls.crt"), "garbage").unwrap();
    // A key from another certificate: a renewal half written.
    certs.host("broken.example.com", "broken.example.com");
    let other_key = certs.root.join("api.example.com/tls.key");
    std::fs::copy(&other_key, certs.root.join("broken.example.com/tls.key")).unwrap();
    assert_eq!(store.reload_changed(), 0);
    assert_eq!(store.reload_changed(), 0, "still nothing to serve");
    assert_eq!(presented(config.clone(), "api.example.com").await, good);
    assert_eq!(
        presented(config.clone(), "broken.example.com").await,
        certs.default_leaf()
    );
    // Fixed on disk: served on the next check.
    let fixed = certs.host("broken.example.com", "broken.example.com");
    assert_eq!(store.reload_changed(), 1);
    assert_eq!(presented(config, "broken.example.com").await, fixed);
}

#[tokio::test]
async fn a_tls_sni_entry_wins_over_the_directory_for_the_same_host() {
    let certs = CertDir::new();
    let from_dir = certs.host("api.example.com", "api.example.com");
    let dir_wildcard = certs.host("_.example.com", "*.example.com");
    let flags = tempfile::tempdir().unwrap();
    let explicit = write_cert(flags.path(), "api", "api.example.com");
    let explicit_wildcard = write_cert(flags.path(), "wild", "*.example.com");
    let store = certs.store(vec![
        ("api.example.com".into(), explicit.clone()),
        ("*.example.com".into(), explicit_wildcard.clone()),
    ]);
    let config = store.server_config();
    assert_eq!(
        presented(config.clone(), "api.example.com").await,
        leaf_of(&explicit)
    );
    assert_eq!(
        presented(config.clone(), "x.example.com").await,
        leaf_of(&explicit_wildcard)
    );
    assert_ne!(from_dir, leaf_of(&explicit));
    assert_ne!(dir_wildcard, leaf_of(&explicit_wildcard));
    // Still true after the directory is re-read.
    certs.host("api.example.com", "api.example.com");
    assert_eq!(store.reload_changed(), 1);
    assert_eq!(
        presented(config, "api.example.com").await,
        leaf_of(&explicit)
    );
}

#[test]
fn a_missing_certificate_directory_is_an_error_at_start() {
    let certs = CertDir::new();
    let missing = certs.root.join("nope");
    let error =
        CertificateStore::load(certs.default.clone(), Vec::new(), Some(&missing)).unwrap_err();
    assert!(matches!(error, TlsConfigError::Directory { .. }), "{error}");
}

/// A projected volume mounted at `DIR` (one volume for several Secrets): the kubelet puts
/// `..data` at the top and each host directory is a symlink `<host> -> ..data/<host>`.
#[cfg(unix)]
#[tokio::test]
async fn host_directories_of_a_projected_volume_are_served_and_follow_its_data_swap() {
    use std::os::unix::fs::symlink;
    let certs = CertDir::new();
    let project = |generation: &str| {
        let timestamped = certs.root.join(format!("..{generation}"));
        std::fs::create_dir(&timestamped).unwrap();
        let host = timestamped.join("api.example.com");
        std::fs::create_dir(&host).unwrap();
        let files = write_cert(&host, "tls", "api.example.com");
        std::fs::rename(&files.cert, host.join("tls.crt")).unwrap();
        std::fs::rename(&files.key, host.join("tls.key")).unwrap();
        symlink(format!("..{generation}"), certs.root.join("..data_tmp")).unwrap();
        std::fs::rename(certs.root.join("..data_tmp"), certs.root.join("..data")).unwrap();
        if std::fs::symlink_metadata(certs.root.join("api.example.com")).is_err() {
            symlink("..data/api.example.com", certs.root.join("api.example.com")).unwrap();
        }
        leaf_of(&CertificateFiles {
            cert: host.join("tls.crt"),
            key: host.join("tls.key"),
        })
    };
    let first = project("gen_1");
    let store = certs.store(Vec::new());
    let config = store.server_config();
    assert_eq!(presented(config.clone(), "api.example.com").await, first);
    let renewed = project("gen_2");
    assert_eq!(store.reload_changed(), 1);
    assert_eq!(presented(config, "api.example.com").await, renewed);
}
