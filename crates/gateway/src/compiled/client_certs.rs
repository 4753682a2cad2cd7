//! Mutual TLS per API, compiled (WSO2 APIM 4.x): for an API whose security scheme holds
//! `mutualssl`, the client certificates uploaded for it as trust anchors, with their validity
//! and throttling tier, and which side (certificate, token or key) the scheme makes
//! mandatory. `authn::client_cert` checks a client's certificate against them.
//!
//! `mutualssl_mandatory` makes a trusted certificate required; `oauth2`/`api_key` with
//! `oauth_basic_auth_api_key_mandatory` makes a token or key required. Without either
//! marker a side is optional: one passing way in is enough. An API without application
//! security needs the certificate.

use std::sync::Arc;

use gantry_model::gateway_policies::{
    API_KEY_SCHEME, APPLICATION_SECURITY_MANDATORY, MUTUAL_SSL_MANDATORY, MUTUAL_SSL_SCHEME,
    OAUTH2_SCHEME,
};
use gantry_model::snapshot::DeployedApi;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, TrustAnchor};

use super::limits::Limit;

/// An API's compiled mutual TLS settings.
#[derive(Debug)]
pub struct MutualTls {
    /// A trusted certificate is required.
    pub(crate) mandatory: bool,
    /// The API also takes tokens or API keys.
    pub(crate) application_security: bool,
    /// …and requires one even with a trusted certificate.
    pub(crate) application_mandatory: bool,
    pub(crate) trusted: Vec<Trusted>,
    /// The uploaded certificates usable as issuers, and the index of each in `trusted`.
    pub(crate) anchors: Vec<TrustAnchor<'static>>,
    pub(crate) anchor_of: Vec<usize>,
    pub(crate) algorithms:
        &'static [&'static dyn rustls::pki_types::SignatureVerificationAlgorithm],
}

/// An uploaded certificate, as trusted for one API.
#[derive(Debug)]
pub struct Trusted {
    pub(crate) der: CertificateDer<'static>,
    pub(crate) not_before: i64,
    pub(crate) not_after: i64,
    /// The throttling tier given at upload (a subscription-level policy, as in WSO2).
    tier: String,
    /// Rate-limit key of calls admitted by this certificate alone: `cert:<alias>`.
    pub(crate) key: Arc<str>,
    /// The tier's limit, once resolved against the configuration's policies.
    pub(crate) limit: Option<Arc<Limit>>,
}

/// The tier a call admitted by its client certificate alone is counted against.
#[derive(Debug, Clone)]
pub struct CertificateTier {
    /// `cert:<alias>`, the key its calls are counted under (per API).
    pub key: Arc<str>,
    /// The tier's limit.
    pub limit: Arc<Limit>,
}

impl Trusted {
    /// Whether `now` (seconds since the epoch) is within the validity recorded at upload.
    pub fn valid_at(&self, now: i64) -> bool {
        self.not_before <= now && now <= self.not_after
    }

    /// The tier a call admitted by this certificate alone counts against, when limited.
    pub fn tier(&self) -> Option<CertificateTier> {
        self.limit.clone().map(|limit| CertificateTier {
            key: self.key.clone(),
            limit,
        })
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
    pub fn resolve_tiers(&mut self, limit_of: impl Fn(&str) -> Option<Arc<Limit>>) {
        for trusted in &mut self.trusted {
            trusted.limit = limit_of(&trusted.tier);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use gantry_model::snapshot::ClientCertificate;
    use gantry_model::{ApiContext, ApiName, ApiVersion, EndpointConfig, LifecycleState};

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
}
