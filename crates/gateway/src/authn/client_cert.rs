//! The client-certificate verifier: whether the leaf certificate a client proved at the TLS
//! handshake (see `gantry_listener::client_auth`) is one uploaded for the API, or issued by
//! one, each within its validity. The authenticate stage decides what a pass or a miss means
//! under the API's security scheme.

use std::sync::Arc;

use http::StatusCode;
use rustls::pki_types::{CertificateDer, UnixTime};

use super::denial::Denial;
use crate::compiled::client_certs::{MutualTls, Trusted};

/// The leaf certificate (DER) the client proved at the TLS handshake, carried from the
/// listener to the proxy in the request's extensions (only on TLS connections that sent one).
#[derive(Debug, Clone)]
pub struct PeerCertificate(pub Arc<Vec<u8>>);

/// The uploaded certificate that vouches for `peer`, when the client presented one and an
/// uploaded certificate is it or issued it, each valid now.
pub fn verify<'t>(trust: &'t MutualTls, peer: Option<&PeerCertificate>) -> Option<&'t Trusted> {
    peer.and_then(|leaf| trusted_for(trust, &leaf.0))
}

/// Whether `leaf` is an uploaded certificate or issued by one, each valid now.
pub fn trusts(trust: &MutualTls, leaf: &[u8]) -> bool {
    trusted_for(trust, leaf).is_some()
}

/// The uploaded certificate `leaf` is, or that issued it, when each is valid now.
fn trusted_for<'t>(trust: &'t MutualTls, leaf: &[u8]) -> Option<&'t Trusted> {
    let now = UnixTime::now();
    let secs = i64::try_from(now.as_secs()).unwrap_or(i64::MAX);
    if let Some(exact) = trust
        .trusted
        .iter()
        .find(|t| t.der.as_ref() == leaf && t.valid_at(secs))
    {
        return Some(exact);
    }
    if trust.anchors.is_empty() {
        return None;
    }
    let leaf = CertificateDer::from(leaf);
    let Ok(end_entity) = webpki::EndEntityCert::try_from(&leaf) else {
        return None;
    };
    // The issuer must be within the validity recorded at upload too; webpki tries the
    // next candidate when this refuses one.
    let issuer_valid = |path: &webpki::VerifiedPath<'_>| {
        let valid = trust
            .anchors
            .iter()
            .position(|a| std::ptr::eq(a, path.anchor()))
            .and_then(|i| trust.anchor_of.get(i))
            .and_then(|&i| trust.trusted.get(i))
            .is_some_and(|t| t.valid_at(secs));
        if valid {
            Ok(())
        } else {
            Err(webpki::Error::CertExpired {
                time: now,
                not_after: now,
            })
        }
    };
    // webpki checks the leaf's validity and its issuer's signature on it.
    let path = end_entity
        .verify_for_usage(
            trust.algorithms,
            &trust.anchors,
            &[],
            now,
            webpki::KeyUsage::client_auth(),
            None,
            Some(&issuer_valid),
        )
        .ok()?;
    trust
        .anchors
        .iter()
        .position(|a| std::ptr::eq(a, path.anchor()))
        .and_then(|i| trust.anchor_of.get(i))
        .and_then(|&i| trust.trusted.get(i))
}

/// The 401 for a call without a trusted certificate to an API that requires one.
pub fn untrusted(presented: bool) -> Denial {
    Denial {
        status: StatusCode::UNAUTHORIZED,
        code: "900901",
        message: "Invalid Credentials",
        description: if presented {
            "Invalid Credentials. The client certificate is not trusted for this API or is not valid now"
        } else {
            "Invalid Credentials. This API needs a client certificate: call it over HTTPS with a certificate uploaded for it"
        }
        .into(),
        invalid_token: false,
        refetch: None,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use gantry_model::snapshot::{ClientCertificate, DeployedApi};
    use gantry_model::{ApiContext, ApiName, ApiVersion, EndpointConfig, LifecycleState};
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};

    fn api(scheme: &[&str], certificates: Vec<ClientCertificate>) -> DeployedApi {
        DeployedApi {
            api_id: "a".into(),
            revision_id: "r".into(),
            name: ApiName::parse("A").unwrap(),
            context: ApiContext::parse("/a").unwrap(),
            version: ApiVersion::parse("1.0.0").unwrap(),
            vhost: "localhost".into(),
            is_default_version: false,
            lifecycle: LifecycleState::Published,
            api_type: "HTTP".into(),
            authorization_header: "Authorization".into(),
            security_scheme: scheme.iter().map(|s| (*s).to_owned()).collect(),
            gateway: Default::default(),
            endpoint_config: EndpointConfig::default(),
            cors_configuration: Default::default(),
            operations: vec![],
            client_certificates: certificates,
        }
    }

    fn uploaded(pem: String, not_before: i64, not_after: i64) -> ClientCertificate {
        ClientCertificate {
            alias: "c".into(),
            tier: "Gold".into(),
            certificate: pem,
            not_before,
            not_after,
        }
    }

    fn self_signed(cn: &str) -> rcgen::Certificate {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, cn);
        params.self_signed(&KeyPair::generate().unwrap()).unwrap()
    }

    const ALWAYS: (i64, i64) = (0, i64::MAX);

    #[test]
    fn trusts_an_uploaded_certificate_or_one_it_issued_while_valid() {
        let client = self_signed("client");
        let other = self_signed("other");
        let (from, to) = ALWAYS;
        let mtls = MutualTls::compile(&api(&["mutualssl"], vec![uploaded(client.pem(), from, to)]))
            .unwrap()
            .unwrap();
        assert!(trusts(&mtls, client.der()));
        assert!(!trusts(&mtls, other.der()));
        assert!(!trusts(&mtls, b"not a certificate"));

        // Uploaded but outside the validity recorded at upload: refused.
        let lapsed = MutualTls::compile(&api(&["mutualssl"], vec![uploaded(client.pem(), 0, 1)]))
            .unwrap()
            .unwrap();
        assert!(!trusts(&lapsed, client.der()));

        // A CA uploaded: the certificates it signs pass.
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.distinguished_name.push(DnType::CommonName, "ca");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign];
        let ca =
            rcgen::CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
        let mut leaf_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        leaf_params
            .distinguished_name
            .push(DnType::CommonName, "leaf");
        let leaf = leaf_params
            .signed_by(&KeyPair::generate().unwrap(), &ca)
            .unwrap();
        let by_ca = MutualTls::compile(&api(&["mutualssl"], vec![uploaded(ca.pem(), from, to)]))
            .unwrap()
            .unwrap();
        assert!(trusts(&by_ca, leaf.der()));
        assert!(!trusts(&by_ca, other.der()));
        let lapsed_ca = MutualTls::compile(&api(&["mutualssl"], vec![uploaded(ca.pem(), 0, 1)]))
            .unwrap()
            .unwrap();
        assert!(
            !trusts(&lapsed_ca, leaf.der()),
            "an issuer outside its validity"
        );
    }
}
