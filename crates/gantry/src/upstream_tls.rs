//! `--upstream-ca`, `--upstream-client-cert`, `--upstream-client-key`: how a gateway
//! (`gantry gateway`, `gantry up`) trusts `https://` upstreams and authenticates itself to
//! them — WSO2's gateway truststore and keystore, as PEM files.

use std::path::{Path, PathBuf};

use gantry_gateway::upstream_client::UpstreamTls;

use crate::up::ConfigError;

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
    /// Reads and checks the files; an error names the flag and the file.
    pub fn load(&self) -> Result<UpstreamTls, ConfigError> {
        let read = |flag: &str, path: &Path| {
            std::fs::read(path).map_err(|e| ConfigError(format!("{flag} {}: {e}", path.display())))
        };
        let ca = match &self.upstream_ca {
            Some(path) => Some(read("--upstream-ca", path)?),
            None => None,
        };
        let identity = match (&self.upstream_client_cert, &self.upstream_client_key) {
            (Some(cert), Some(key)) => Some((
                read("--upstream-client-cert", cert)?,
                read("--upstream-client-key", key)?,
            )),
            _ => None,
        };
        UpstreamTls::new(
            ca.as_deref(),
            identity
                .as_ref()
                .map(|(cert, key)| (cert.as_slice(), key.as_slice())),
        )
        .map_err(|e| {
            let flag = match e {
                gantry_gateway::upstream_client::UpstreamTlsError::Ca(_) => "--upstream-ca",
                _ => "--upstream-client-cert/--upstream-client-key",
            };
            ConfigError(format!("{flag}: {e}"))
        })
    }
}
