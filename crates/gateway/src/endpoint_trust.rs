//! Certificates trusted for TLS to particular upstream hosts (WSO2 endpoint certificates),
//! beside the gateway's roots. Compiled from each snapshot; the upstream clients' verifier
//! reads the set in force through one `ArcSwap` load per TLS handshake (not per request).

use std::collections::HashMap;
use std::sync::Arc;

use arc_swap::ArcSwap;
use gantry_model::snapshot::EndpointCertificate;
use rustls::DigitallySignedStruct;
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};

/// The endpoint certificates of one configuration, by host (lower case, no port).
#[derive(Debug, Default)]
pub struct EndpointTrust {
    hosts: HashMap<String, HostTrust>,
}

/// What one host's TLS certificate may chain to, or be.
#[derive(Debug)]
struct HostTrust {
    /// The uploaded certificates as trust anchors (a CA's, or a self-signed upstream's).
    verifier: Option<Arc<WebPkiServerVerifier>>,
    /// The uploaded certificates, accepted as the server's own certificate byte for byte.
    pinned: Vec<CertificateDer<'static>>,
}

impl EndpointTrust {
    /// Compiles `certificates`; an unusable one is named in `problems`.
    pub fn compile(certificates: &[EndpointCertificate], problems: &mut Vec<String>) -> Self {
        let mut by_host: HashMap<String, Vec<CertificateDer<'static>>> = HashMap::new();
        for certificate in certificates {
            let parsed: Result<Vec<_>, _> =
                CertificateDer::pem_slice_iter(certificate.certificate.as_bytes()).collect();
            match parsed {
                Ok(ders) if !ders.is_empty() => {
                    by_host.entry(certificate.host()).or_default().extend(ders);
                }
                _ => problems.push(format!(
                    "endpoint certificate '{}': not a PEM certificate",
                    certificate.alias
                )),
            }
        }
        let hosts = by_host
            .into_iter()
            .map(|(host, pinned)| {
                let mut roots = rustls::RootCertStore::empty();
                // A certificate webpki cannot take as an anchor is still pinned.
                let _ = roots.add_parsable_certificates(pinned.iter().cloned());
                let verifier = (!roots.is_empty())
                    .then(|| WebPkiServerVerifier::builder(Arc::new(roots)).build().ok())
                    .flatten();
                (host, HostTrust { verifier, pinned })
            })
            .collect();
        Self { hosts }
    }

    /// Whether no endpoint has a certificate.
    pub fn is_empty(&self) -> bool {
        self.hosts.is_empty()
    }

    /// Whether `end_entity` (with `intermediates`) is trusted for `server_name` through the
    /// certificates uploaded for that host.
    fn trusts(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> bool {
        let host = match server_name {
            ServerName::DnsName(name) => name.as_ref().to_ascii_lowercase(),
            ServerName::IpAddress(ip) => std::net::IpAddr::from(*ip).to_string(),
            _ => return false,
        };
        let Some(trust) = self.hosts.get(&host) else {
            return false;
        };
        trust
            .pinned
            .iter()
            .any(|p| p.as_ref() == end_entity.as_ref())
            || trust.verifier.as_ref().is_some_and(|v| {
                v.verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
                    .is_ok()
            })
    }
}

/// The endpoint certificates in force, shared by the installer of configurations and the
/// upstream clients' verifier.
pub type SharedEndpointTrust = Arc<ArcSwap<EndpointTrust>>;

/// Verifies upstream certificates against the gateway's roots, then against the
/// certificates uploaded for the upstream's host.
#[derive(Debug)]
pub struct EndpointVerifier {
    roots: Arc<WebPkiServerVerifier>,
    endpoints: SharedEndpointTrust,
}

impl EndpointVerifier {
    /// `roots` first, then what `endpoints` holds at the time of each handshake.
    pub fn new(roots: Arc<WebPkiServerVerifier>, endpoints: SharedEndpointTrust) -> Self {
        Self { roots, endpoints }
    }
}

impl ServerCertVerifier for EndpointVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .roots
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
        {
            Ok(verified) => Ok(verified),
            Err(error) => {
                let endpoints = self.endpoints.load();
                if !endpoints.is_empty()
                    && endpoints.trusts(end_entity, intermediates, server_name, ocsp, now)
                {
                    Ok(ServerCertVerified::assertion())
                } else {
                    Err(error)
                }
            }
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.roots.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.roots.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.roots.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn self_signed(host: &str) -> String {
        let key = rcgen::KeyPair::generate().expect("key");
        rcgen::CertificateParams::new(vec![host.to_owned()])
            .expect("params")
            .self_signed(&key)
            .expect("certificate")
            .pem()
    }

    #[test]
    fn trusts_a_host_only_with_its_own_certificate() {
        let upstream = self_signed("upstream.test");
        let other = self_signed("other.test");
        let mut problems = Vec::new();
        let trust = EndpointTrust::compile(
            &[
                EndpointCertificate {
                    alias: "up".into(),
                    endpoint: "https://Upstream.test:8443/v1".into(),
                    certificate: upstream.clone(),
                },
                EndpointCertificate {
                    alias: "bad".into(),
                    endpoint: "https://bad.test".into(),
                    certificate: "not pem".into(),
                },
            ],
            &mut problems,
        );
        assert_eq!(problems.len(), 1, "{problems:?}");
        let der = |pem: &str| CertificateDer::from_pem_slice(pem.as_bytes()).expect("pem");
        let name = |host: &str| ServerName::try_from(host.to_owned()).expect("name");
        let now = UnixTime::now();
        assert!(trust.trusts(&der(&upstream), &[], &name("upstream.test"), &[], now));
        assert!(!trust.trusts(&der(&other), &[], &name("upstream.test"), &[], now));
        assert!(!trust.trusts(&der(&upstream), &[], &name("other.test"), &[], now));
    }
}
