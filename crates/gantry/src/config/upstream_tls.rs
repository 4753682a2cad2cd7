//! `--upstream-ca`, `--upstream-client-cert`, `--upstream-client-key`: how a gateway
//! (`gantry gateway`, `gantry up`) trusts `https://` upstreams and authenticates itself to
//! them — WSO2's gateway truststore and keystore, as PEM files.

use std::path::PathBuf;

use gantry_gateway::upstream_client::UpstreamTls;

use super::{ConfigError, Layers};

/// Upstream TLS options shared by the subcommands that run a gateway.
#[derive(Debug, Clone, clap::Args)]
pub struct UpstreamTlsArgs {
    /// PEM CA certificate(s) trusted for `https://` upstreams, besides the public web PKI
    /// roots (e.g. an internal CA).
    #[arg(long, env = "GANTRY_UPSTREAM_CA")]
    upstream_ca: Option<PathBuf>,
    /// PEM client certificate chain presented to `https://` upstreams that ask for one
    /// (mutual TLS).
    #[arg(
        long,
        env = "GANTRY_UPSTREAM_CLIENT_CERT",
        requires = "upstream_client_key"
    )]
    upstream_client_cert: Option<PathBuf>,
    /// PEM private key for --upstream-client-cert.
    #[arg(
        long,
        env = "GANTRY_UPSTREAM_CLIENT_KEY",
        requires = "upstream_client_cert"
    )]
    upstream_client_key: Option<PathBuf>,
}

impl UpstreamTlsArgs {
    /// Reads and checks the files; an error names the key, where it came from and the file.
    pub fn load(&self, layers: &Layers) -> Result<UpstreamTlsConfig, ConfigError> {
        let ca = match &self.upstream_ca {
            Some(path) => Some(super::read_file(layers, "upstream-ca", path)?),
            None => None,
        };
        let identity = match (&self.upstream_client_cert, &self.upstream_client_key) {
            (Some(cert), Some(key)) => Some((
                super::read_file(layers, "upstream-client-cert", cert)?,
                super::read_file(layers, "upstream-client-key", key)?,
            )),
            _ => None,
        };
        UpstreamTls::new(
            ca.as_deref(),
            identity
                .as_ref()
                .map(|(cert, key)| (cert.as_slice(), key.as_slice())),
        )
        .map(UpstreamTlsConfig)
        .map_err(|e| match e {
            gantry_gateway::upstream_client::UpstreamTlsError::Ca(_) => {
                layers.key("upstream-ca").invalid(e.to_string())
            }
            _ => {
                let (cert, key) = (
                    layers.key("upstream-client-cert"),
                    layers.key("upstream-client-key"),
                );
                super::Key {
                    written: format!("{}/{}", cert.written, key.written),
                    flag: format!("{}/{}", cert.flag, key.flag),
                    origin: cert.origin,
                }
                .invalid(e.to_string())
            }
        })
    }
}

/// The loaded upstream trust and client identity.
#[derive(Clone)]
pub struct UpstreamTlsConfig(pub UpstreamTls);

impl std::fmt::Debug for UpstreamTlsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("UpstreamTlsConfig { .. }")
    }
}
