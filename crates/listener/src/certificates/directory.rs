//! A directory of per-host certificates laid out as mounted Kubernetes `kubernetes.io/tls`
//! Secrets: `DIR/<host>/tls.crt` and `DIR/<host>/tls.key`, `<host>` being a host name or
//! `_.domain` / `*.domain`. Listed on every watch tick, never on the handshake path.
//!
//! Kubernetes mounts a Secret as `tls.crt -> ..data/tls.crt` with `..data` a symlink to a
//! timestamped directory it swaps atomically on renewal; every path here is opened through
//! the symlinks, so a swap shows as new file contents (see `Slot::refresh`). Entries whose
//! names start with `.` (`..data`, `..2026_…` of a projected volume mounted at `DIR`) are
//! Kubernetes' own and skipped.

use std::collections::BTreeMap;
use std::path::Path;

use super::CertificateFiles;
use super::host::HostPattern;
use crate::TlsConfigError;

/// The certificate file names of a `kubernetes.io/tls` Secret.
const CERT_FILE: &str = "tls.crt";
const KEY_FILE: &str = "tls.key";

/// The hosts `dir` holds a certificate and key for. A subdirectory without both files, or
/// whose name is not a host name, is skipped; two spellings of one host (`_.a.com` and
/// `*.a.com`) keep the first in name order.
pub(super) fn scan(dir: &Path) -> Result<BTreeMap<HostPattern, CertificateFiles>, TlsConfigError> {
    let listing_error = |source| TlsConfigError::Directory {
        path: dir.to_owned(),
        source,
    };
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map_err(listing_error)?
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .filter(|name| !name.starts_with('.'))
        .collect();
    names.sort();
    let mut hosts = BTreeMap::new();
    for name in names {
        let host_dir = dir.join(&name);
        let files = CertificateFiles {
            cert: host_dir.join(CERT_FILE),
            key: host_dir.join(KEY_FILE),
        };
        // `is_file` follows symlinks: a dangling `..data` link counts as no file.
        if !(files.cert.is_file() && files.key.is_file()) {
            tracing::debug!(dir = %host_dir.display(), "no tls.crt and tls.key; skipped");
            continue;
        }
        match HostPattern::parse(&name) {
            Ok(pattern) => {
                hosts.entry(pattern).or_insert(files);
            }
            Err(error) => tracing::debug!(%error, "certificate directory entry skipped"),
        }
    }
    Ok(hosts)
}
