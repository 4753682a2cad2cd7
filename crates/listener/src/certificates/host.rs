//! The SNI names a certificate serves, and the snapshot the handshake looks them up in.
//! The snapshot is rebuilt off the handshake path whenever a certificate comes, changes or
//! goes; a handshake only reads it (one `ArcSwap` load and at most two hash lookups).

use std::collections::HashMap;
use std::sync::Arc;

use rustls::sign::CertifiedKey;

use crate::TlsConfigError;

/// An SNI name a certificate serves: one host, or `*.domain` (also spelt `_.domain`, as a
/// directory name cannot always hold `*`) for any host one label below `domain`.
/// Always lower case.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum HostPattern {
    /// Exactly this host.
    Exact(String),
    /// Any `label.` + this domain, for one non-empty label (not the domain itself, nor
    /// deeper names).
    Wildcard(String),
}

impl HostPattern {
    /// Parses `host`, `*.domain` or `_.domain` (any case).
    pub fn parse(name: &str) -> Result<Self, TlsConfigError> {
        let lower = name.to_ascii_lowercase();
        let (wildcard, host) = match lower
            .strip_prefix("*.")
            .or_else(|| lower.strip_prefix("_."))
        {
            Some(domain) => (true, domain),
            None => (false, lower.as_str()),
        };
        let label_ok = |label: &str| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        };
        if host.len() > 253 || !host.split('.').all(label_ok) {
            return Err(TlsConfigError::HostName(name.to_owned()));
        }
        Ok(if wildcard {
            Self::Wildcard(host.to_owned())
        } else {
            Self::Exact(host.to_owned())
        })
    }
}

impl std::fmt::Display for HostPattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Exact(host) => f.write_str(host),
            Self::Wildcard(domain) => write!(f, "*.{domain}"),
        }
    }
}

/// What a handshake chooses from: exact names first, then one-label wildcards, then the
/// default.
#[derive(Debug)]
pub(super) struct Snapshot {
    pub(super) default: Arc<CertifiedKey>,
    exact: HashMap<String, Arc<CertifiedKey>>,
    wildcard: HashMap<String, Arc<CertifiedKey>>,
}

impl Snapshot {
    /// Later entries replace earlier ones for the same pattern (the caller puts the
    /// entries that take precedence last).
    pub(super) fn new<'a>(
        default: Arc<CertifiedKey>,
        entries: impl IntoIterator<Item = (&'a HostPattern, &'a Arc<CertifiedKey>)>,
    ) -> Self {
        let mut snapshot = Self {
            default,
            exact: HashMap::new(),
            wildcard: HashMap::new(),
        };
        for (pattern, key) in entries {
            match pattern {
                HostPattern::Exact(host) => snapshot.exact.insert(host.clone(), key.clone()),
                HostPattern::Wildcard(domain) => {
                    snapshot.wildcard.insert(domain.clone(), key.clone())
                }
            };
        }
        snapshot
    }

    /// The certificate for SNI `name` (any case), or the default.
    pub(super) fn choose(&self, name: Option<&str>) -> &Arc<CertifiedKey> {
        let Some(name) = name else {
            return &self.default;
        };
        // rustls hands over the name as the client sent it; allocate only when it is not
        // already lower case, which browsers and HTTP clients never send.
        let lowered;
        let name = if name.bytes().any(|b| b.is_ascii_uppercase()) {
            lowered = name.to_ascii_lowercase();
            lowered.as_str()
        } else {
            name
        };
        self.exact
            .get(name)
            .or_else(|| {
                let (label, domain) = name.split_once('.')?;
                (!label.is_empty()).then(|| self.wildcard.get(domain))?
            })
            .unwrap_or(&self.default)
    }

    /// The host names served (for `Debug`).
    pub(super) fn patterns(&self) -> Vec<String> {
        let mut names: Vec<String> = self.exact.keys().cloned().collect();
        names.extend(self.wildcard.keys().map(|domain| format!("*.{domain}")));
        names.sort();
        names
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn parses_hosts_and_both_spellings_of_a_wildcard() {
        assert_eq!(
            HostPattern::parse("API.Example.com").unwrap(),
            HostPattern::Exact("api.example.com".into())
        );
        for spelling in ["*.example.com", "_.Example.com"] {
            assert_eq!(
                HostPattern::parse(spelling).unwrap(),
                HostPattern::Wildcard("example.com".into())
            );
        }
        for bad in [
            "",
            "a..b",
            "*.",
            "a b.com",
            "*.*.example.com",
            "x/y",
            ".hidden",
        ] {
            assert!(HostPattern::parse(bad).is_err(), "{bad:?} is rejected");
        }
    }
}
