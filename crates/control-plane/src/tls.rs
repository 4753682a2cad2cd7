//! The control plane's TLS: a certificate and key given by the operator, or — as WSO2 does
//! on first start — a self-signed one generated into the data directory and kept.
//!
//! The generated set is a small local CA (`ca.pem`, what clients trust with `--cacert`) and
//! a server certificate it signed for `localhost`, `127.0.0.1`, `::1` and the configured host.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose,
};

/// TLS set-up failed.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Certificate generation failed.
    #[error("could not generate a certificate: {0}")]
    Generate(#[from] rcgen::Error),
    /// A PEM file holds no usable certificate or key.
    #[error("{path}: {reason}")]
    Pem {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}

/// Where the server certificate chain and key live.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    /// PEM certificate chain (server first).
    pub cert: PathBuf,
    /// PEM private key.
    pub key: PathBuf,
    /// PEM CA certificate clients should trust, when Gantry generated the set.
    pub ca: Option<PathBuf>,
}

/// The operator's certificate and key when both are given, else the generated set under `dir`.
pub fn given_or_self_signed(
    cert: Option<&Path>,
    key: Option<&Path>,
    dir: &Path,
    hostname: &str,
) -> Result<TlsFiles, TlsError> {
    match (cert, key) {
        (Some(cert), Some(key)) => Ok(TlsFiles {
            cert: cert.to_owned(),
            key: key.to_owned(),
            ca: None,
        }),
        _ => ensure_self_signed(dir, hostname),
    }
}

/// The generated set under `dir` (`ca.pem`, `cert.pem`, `key.pem`), created when missing.
pub fn ensure_self_signed(dir: &Path, hostname: &str) -> Result<TlsFiles, TlsError> {
    let files = TlsFiles {
        cert: dir.join("cert.pem"),
        key: dir.join("key.pem"),
        ca: Some(dir.join("ca.pem")),
    };
    if files.cert.exists() && files.key.exists() {
        return Ok(files);
    }
    std::fs::create_dir_all(dir).map_err(|source| TlsError::Io {
        path: dir.to_owned(),
        source,
    })?;

    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "Gantry local CA");
    ca_params
        .distinguished_name
        .push(DnType::OrganizationName, "Gantry");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, KeyPair::generate()?)?;

    let mut names = vec![
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
        "::1".to_owned(),
    ];
    if !names.iter().any(|n| n == hostname) {
        names.push(hostname.to_owned());
    }
    let mut params = CertificateParams::new(names)?;
    params.distinguished_name.push(DnType::CommonName, hostname);
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let key = KeyPair::generate()?;
    let cert = params.signed_by(&key, &ca)?;

    write(files.ca.as_deref().unwrap_or(dir), &ca.pem(), false)?;
    write(&files.key, &key.serialize_pem(), true)?;
    write(&files.cert, &format!("{}{}", cert.pem(), ca.pem()), false)?;
    tracing::info!(dir = %dir.display(), "generated a self-signed TLS certificate");
    Ok(files)
}

fn write(path: &Path, contents: &str, private: bool) -> Result<(), TlsError> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    options.mode(if private { 0o600 } else { 0o644 });
    let _ = private;
    let io = |source| TlsError::Io {
        path: path.to_owned(),
        source,
    };
    let mut file = options.open(path).map_err(io)?;
    file.write_all(contents.as_bytes()).map_err(io)
}

/// A rustls server configuration (HTTP/2 and HTTP/1.1 by ALPN) from PEM files.
pub fn server_config(cert: &Path, key: &Path) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    gantry_listener::tls_config(cert, key).map_err(|e| TlsError::Pem {
        path: cert.to_owned(),
        reason: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_certificate_is_kept_and_loads() {
        let dir = tempfile::tempdir().unwrap();
        let first = ensure_self_signed(dir.path(), "gantry.local").unwrap();
        let pem = std::fs::read_to_string(&first.cert).unwrap();
        let again = ensure_self_signed(dir.path(), "gantry.local").unwrap();
        assert_eq!(
            pem,
            std::fs::read_to_string(&again.cert).unwrap(),
            "not regenerated"
        );
        server_config(&first.cert, &first.key).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&first.key).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn missing_files_are_named() {
        let e = server_config(
            Path::new("/nonexistent/cert.pem"),
            Path::new("/nonexistent/key.pem"),
        )
        .unwrap_err();
        assert!(e.to_string().contains("/nonexistent/cert.pem"));
    }
}
