//! Mutual TLS per API, as WSO2 APIM 4.x does it. An API whose security scheme holds
//! `mutualssl` trusts the client certificates uploaded for it: a client passes when the leaf
//! certificate its TLS handshake proved it holds (see `gantry_listener::client_auth`) is one
//! of them, or is issued by one of them, and both are within their validity.
//!
//! `mutualssl_mandatory` makes a trusted certificate required; `oauth2`/`api_key` with
//! `oauth_basic_auth_api_key_mandatory` makes a token or key required. Without either
//! marker a side is optional: one passing way in is enough. An API without application
//! security needs the certificate. Runs before `auth::authorize_refreshing`, only for such APIs: others
//! pay one `Option` check.

use std::sync::Arc;

use gantry_model::gateway_policies::{
    API_KEY_SCHEME, APPLICATION_SECURITY_MANDATORY, MUTUAL_SSL_MANDATORY, MUTUAL_SSL_SCHEME,
    OAUTH2_SCHEME,
};
use gantry_model::snapshot::DeployedApi;
use http::{HeaderMap, StatusCode};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, TrustAnchor, UnixTime};

use crate::auth::{self, Caller, Denial};
use crate::routes::{ApiEntry, CompiledConfig, OperationEntry};

/// The leaf certificate (DER) the client proved at the TLS handshake, carried from the
/// listener to the proxy in the request's extensions (only on TLS connections that sent one).
#[derive(Debug, Clone)]
pub struct PeerCertificate(pub Arc<Vec<u8>>);

/// An API's compiled mutual TLS settings.
#[derive(Debug)]
pub struct MutualTls {
    /// A trusted certificate is required.
    mandatory: bool,
    /// The API also takes tokens or API keys.
    application_security: bool,
    /// …and requires one even with a trusted certificate.
    application_mandatory: bool,
    trusted: Vec<Trusted>,
    /// The uploaded certificates usable as issuers, and the index of each in `trusted`.
    anchors: Vec<TrustAnchor<'static>>,
    anchor_of: Vec<usize>,
    algorithms: &'static [&'static dyn rustls::pki_types::SignatureVerificationAlgorithm],
}

#[derive(Debug)]
struct Trusted {
    der: CertificateDer<'static>,
    not_before: i64,
    not_after: i64,
    /// The throttling tier given at upload (a subscription-level policy, as in WSO2).
    tier: String,
    /// Rate-limit key of calls admitted by this certificate alone: `cert:<alias>`.
    key: Arc<str>,
    /// The tier's limit, once resolved against the configuration's policies.
    limit: Option<Arc<crate::ratelimit::Limit>>,
}

/// The tier a call admitted by its client certificate alone is counted against.
#[derive(Debug, Clone)]
pub struct CertificateTier {
    /// `cert:<alias>`, the key its calls are counted under (per API).
    pub key: Arc<str>,
    /// The tier's limit.
    pub limit: Arc<crate::ratelimit::Limit>,
}

/// Who a call was admitted as.
#[derive(Debug)]
pub enum Admitted {
    /// A token or API key's application (the certificate, if any, was checked too).
    Caller(Caller),
    /// The client certificate alone; with the tier to count it against, when limited.
    Certificate(Option<CertificateTier>),
}

impl Trusted {
    fn valid_at(&self, now: i64) -> bool {
        self.not_before <= now && now <= self.not_after
    }
}

impl MutualTls {
    /// The settings of `api`, `None` when mutual TLS is off for it; an error names a
    /// certificate that does not parse.
    pub fn compile(api: &DeployedApi) -> Result<Option<Self>, String> {
        let has = |scheme: &str| api.security_scheme.iter().any(|s| s == scheme);
        if !has(MUTUAL_SSL_SCHEME) && !has(MUTUAL_SSL_MANDATORY) {
            return Ok(None);
        }
        let application_security = has(OAUTH2_SCHEME) || has(API_KEY_SCHEME);
        let mut trusted = Vec::with_capacity(api.client_certificates.len());
        let (mut anchors, mut anchor_of) = (Vec::new(), Vec::new());
        for (i, certificate) in api.client_certificates.iter().enumerate() {
            let der = CertificateDer::from_pem_slice(certificate.certificate.as_bytes())
                .map_err(|e| format!("client certificate '{}': {e}", certificate.alias))?;
            if let Ok(anchor) = webpki::anchor_from_trusted_cert(&der) {
                anchors.push(anchor.to_owned());
                anchor_of.push(i);
            }
            trusted.push(Trusted {
                der,
                not_before: certificate.not_before,
                not_after: certificate.not_after,
                tier: certificate.tier.clone(),
                key: Arc::from(format!("cert:{}", certificate.alias)),
                limit: None,
            });
        }
        Ok(Some(Self {
            mandatory: has(MUTUAL_SSL_MANDATORY) || !application_security,
            application_security,
            application_mandatory: application_security && has(APPLICATION_SECURITY_MANDATORY),
            trusted,
            anchors,
            anchor_of,
            algorithms: rustls::crypto::aws_lc_rs::default_provider()
                .signature_verification_algorithms
                .all,
        }))
    }

    /// Resolves each certificate's tier with `limit_of` (subscription-level policies).
    pub fn resolve_tiers(
        &mut self,
        limit_of: impl Fn(&str) -> Option<Arc<crate::ratelimit::Limit>>,
    ) {
        for trusted in &mut self.trusted {
            trusted.limit = limit_of(&trusted.tier);
        }
    }

    /// Whether `leaf` is an uploaded certificate or issued by one, each valid now.
    pub fn trusts(&self, leaf: &[u8]) -> bool {
        self.trusted_for(leaf).is_some()
    }

    /// The uploaded certificate `leaf` is, or that issued it, when each is valid now.
    fn trusted_for(&self, leaf: &[u8]) -> Option<&Trusted> {
        let now = UnixTime::now();
        let secs = i64::try_from(now.as_secs()).unwrap_or(i64::MAX);
        if let Some(exact) = self
            .trusted
            .iter()
            .find(|t| t.der.as_ref() == leaf && t.valid_at(secs))
        {
            return Some(exact);
        }
        if self.anchors.is_empty() {
            return None;
        }
        let leaf = CertificateDer::from(leaf);
        let Ok(end_entity) = webpki::EndEntityCert::try_from(&leaf) else {
            return None;
        };
        // The issuer must be within the validity recorded at upload too; webpki tries the
        // next candidate when this refuses one.
        let issuer_valid = |path: &webpki::VerifiedPath<'_>| {
            let valid = self
                .anchors
                .iter()
                .position(|a| std::ptr::eq(a, path.anchor()))
                .and_then(|i| self.anchor_of.get(i))
                .and_then(|&i| self.trusted.get(i))
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
                self.algorithms,
                &self.anchors,
                &[],
                now,
                webpki::KeyUsage::client_auth(),
                None,
                Some(&issuer_valid),
            )
            .ok()?;
        self.anchors
            .iter()
            .position(|a| std::ptr::eq(a, path.anchor()))
            .and_then(|i| self.anchor_of.get(i))
            .and_then(|&i| self.trusted.get(i))
    }
}

/// Authenticates a call: through [`auth::authorize_refreshing`] alone for APIs without mutual TLS;
/// otherwise as the module comment says.
pub async fn authorize(
    config: &CompiledConfig,
    refresher: &crate::jwks::JwksRefresher,
    api: &ApiEntry,
    operation: &OperationEntry,
    headers: &HeaderMap,
    query: Option<&str>,
    peer: Option<&PeerCertificate>,
) -> Result<Admitted, Denial> {
    let Some(mtls) = api.mtls.as_deref() else {
        return auth::authorize_refreshing(config, refresher, api, operation, headers, query)
            .await
            .map(Admitted::Caller);
    };
    let trusted = peer.and_then(|leaf| mtls.trusted_for(&leaf.0));
    if trusted.is_none() && mtls.mandatory {
        return Err(untrusted(peer.is_some()));
    }
    if mtls.application_security && (mtls.application_mandatory || trusted.is_none()) {
        return auth::authorize_refreshing(config, refresher, api, operation, headers, query)
            .await
            .map(Admitted::Caller);
    }
    Ok(Admitted::Certificate(trusted.and_then(|t| {
        t.limit.clone().map(|limit| CertificateTier {
            key: t.key.clone(),
            limit,
        })
    })))
}

fn untrusted(presented: bool) -> Denial {
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
    use gantry_model::snapshot::ClientCertificate;
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
    fn the_security_scheme_decides_which_side_is_mandatory() {
        let compile = |scheme: &[&str]| MutualTls::compile(&api(scheme, vec![])).unwrap();
        assert!(compile(&["oauth2"]).is_none());
        let only = compile(&["mutualssl"]).unwrap();
        assert!(only.mandatory && !only.application_security);
        let cert_first = compile(&["oauth2", "mutualssl", "mutualssl_mandatory"]).unwrap();
        assert!(cert_first.mandatory && !cert_first.application_mandatory);
        let token_first =
            compile(&["oauth2", "mutualssl", "oauth_basic_auth_api_key_mandatory"]).unwrap();
        assert!(!token_first.mandatory && token_first.application_mandatory);
        let both = compile(&[
            "api_key",
            "mutualssl",
            "mutualssl_mandatory",
            "oauth_basic_auth_api_key_mandatory",
        ])
        .unwrap();
        assert!(both.mandatory && both.application_mandatory);
        assert!(
            MutualTls::compile(&api(&["mutualssl"], vec![uploaded("junk".into(), 0, 1)])).is_err(),
            "a certificate that does not parse rejects the version"
        );
    }

    #[test]
    fn trusts_an_uploaded_certificate_or_one_it_issued_while_valid() {
        let client = self_signed("client");
        let other = self_signed("other");
        let (from, to) = ALWAYS;
        let mtls = MutualTls::compile(&api(&["mutualssl"], vec![uploaded(client.pem(), from, to)]))
            .unwrap()
            .unwrap();
        assert!(mtls.trusts(client.der()));
        assert!(!mtls.trusts(other.der()));
        assert!(!mtls.trusts(b"not a certificate"));

        // Uploaded but outside the validity recorded at upload: refused.
        let lapsed = MutualTls::compile(&api(&["mutualssl"], vec![uploaded(client.pem(), 0, 1)]))
            .unwrap()
            .unwrap();
        assert!(!lapsed.trusts(client.der()));

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
        assert!(by_ca.trusts(leaf.der()));
        assert!(!by_ca.trusts(other.der()));
        let lapsed_ca = MutualTls::compile(&api(&["mutualssl"], vec![uploaded(ca.pem(), 0, 1)]))
            .unwrap()
            .unwrap();
        assert!(
            !lapsed_ca.trusts(leaf.der()),
            "an issuer outside its validity"
        );
    }
}
