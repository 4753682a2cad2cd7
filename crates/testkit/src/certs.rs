//! Certificates for tests: a CA and a client certificate it signed (mutual TLS), and a TLS
//! handshake that trusts only a given CA (which certificate a server presents for an SNI name).

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose,
};

/// PEM files written by [`client_ca_and_certificate`].
pub struct ClientCertificates {
    /// The CA a server trusts.
    pub ca: PathBuf,
    /// A client certificate signed by it.
    pub cert: PathBuf,
    /// Its private key.
    pub key: PathBuf,
}

/// Writes a fresh CA and a client certificate (CN `cn`) signed by it into `dir`.
pub fn client_ca_and_certificate(dir: &Path, cn: &str) -> ClientCertificates {
    std::fs::create_dir_all(dir).expect("cert dir");
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("ca params");
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "test client CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, KeyPair::generate().expect("ca key"))
        .expect("ca");

    let mut params = CertificateParams::new(Vec::<String>::new()).expect("client params");
    params.distinguished_name.push(DnType::CommonName, cn);
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    let key = KeyPair::generate().expect("client key");
    let cert = params.signed_by(&key, &ca).expect("client cert");

    let files = ClientCertificates {
        ca: dir.join("client-ca.pem"),
        cert: dir.join("client.pem"),
        key: dir.join("client-key.pem"),
    };
    std::fs::write(&files.ca, ca.pem()).expect("write ca");
    std::fs::write(&files.cert, cert.pem()).expect("write cert");
    std::fs::write(&files.key, key.serialize_pem()).expect("write key");
    files
}

/// Whether a TLS handshake with SNI `host` to 127.0.0.1:`port` succeeds trusting only the
/// PEM certificates of `ca` (any HTTP answer, even 503, means the certificate was accepted).
pub async fn handshake_trusting(host: &str, port: u16, ca: &str) -> bool {
    let Ok(ca) = reqwest::Certificate::from_pem(ca.as_bytes()) else {
        return false;
    };
    let Ok(client) = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(3))
        .resolve(host, std::net::SocketAddr::from(([127, 0, 0, 1], port)))
        .tls_certs_only([ca])
        .build()
    else {
        return false;
    };
    client
        .get(format!("https://{host}:{port}/x"))
        .send()
        .await
        .is_ok()
}
