//! The consumer-key map of one configuration: (issuer, client id) → application and key type.
//! A token resolves to an application only through a mapping of the issuer whose key verified
//! it (WSO2 looks up by key manager too): no key manager's token names another's client.

use std::sync::Arc;

use gantry_model::{GatewaySnapshot, KeyType};

use super::fast_map::FastMap;

/// The application a client id belongs to, and which of its keys it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyOwner {
    /// The application.
    pub application_id: Arc<str>,
    /// Production or sandbox (chooses the endpoint).
    pub key_type: KeyType,
}

/// Client ids by issuer: a lookup is two hash probes on borrowed strings, no allocation.
#[derive(Debug, Default)]
pub struct ConsumerKeys {
    by_issuer: FastMap<Box<str>, FastMap<Box<str>, KeyOwner>>,
}

impl ConsumerKeys {
    /// The key mappings of `snapshot`, each under its issuer. A mapping without an issuer
    /// (from a snapshot older than the field) goes under the resident issuer, or nowhere when
    /// the snapshot does not say which that is; mappings of issuers the snapshot does not
    /// trust are left out (no token could reach them). `intern` shares application ids.
    pub fn compile<'a>(
        snapshot: &'a GatewaySnapshot,
        mut intern: impl FnMut(&'a str) -> Arc<str>,
    ) -> Self {
        let resident = snapshot.resident_issuer();
        let mut by_issuer: FastMap<Box<str>, FastMap<Box<str>, KeyOwner>> = snapshot
            .issuers
            .iter()
            .map(|i| (Box::from(i.issuer.as_str()), FastMap::default()))
            .collect();
        for mapping in &snapshot.key_mappings {
            let issuer = match (mapping.issuer.as_str(), resident) {
                ("", Some(resident)) => resident,
                ("", None) => continue,
                (issuer, _) => issuer,
            };
            if let Some(clients) = by_issuer.get_mut(issuer) {
                clients.insert(
                    Box::from(mapping.consumer_key.as_str()),
                    KeyOwner {
                        application_id: intern(&mapping.application_id),
                        key_type: mapping.key_type,
                    },
                );
            }
        }
        by_issuer.retain(|_, clients| !clients.is_empty());
        Self { by_issuer }
    }

    /// The owner of `client_id` among the clients of `issuer` — the issuer whose key verified
    /// the token, never the token's own word.
    pub fn resolve(&self, issuer: &str, client_id: &str) -> Option<&KeyOwner> {
        self.by_issuer.get(issuer)?.get(client_id)
    }

    /// How many client ids are mapped, over all issuers.
    pub fn len(&self) -> usize {
        self.by_issuer.values().map(FastMap::len).sum()
    }

    /// Whether no client id is mapped.
    pub fn is_empty(&self) -> bool {
        self.by_issuer.is_empty()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use gantry_model::snapshot::{KeyMapping, TrustedIssuer};

    const RESIDENT: &str = "https://cp.test/oauth2/token";
    const CORP: &str = "https://idp.corp.test/realms/a";
    const PARTNER: &str = "https://idp.partner.test/realms/b";

    fn issuer(name: &str, resident: bool) -> TrustedIssuer {
        TrustedIssuer {
            issuer: name.into(),
            keys: vec![],
            jwks_uri: (!resident).then(|| format!("{name}/jwks")),
            resident,
        }
    }

    fn mapping(consumer_key: &str, application_id: &str, issuer: &str) -> KeyMapping {
        KeyMapping {
            consumer_key: consumer_key.into(),
            application_id: application_id.into(),
            key_type: KeyType::Production,
            issuer: issuer.into(),
        }
    }

    fn compile(snapshot: &GatewaySnapshot) -> ConsumerKeys {
        ConsumerKeys::compile(snapshot, Arc::from)
    }

    fn owner(keys: &ConsumerKeys, issuer: &str, client_id: &str) -> Option<String> {
        keys.resolve(issuer, client_id)
            .map(|o| o.application_id.to_string())
    }

    #[test]
    fn a_client_id_resolves_only_under_the_issuer_it_is_mapped_from() {
        let keys = compile(&GatewaySnapshot {
            issuers: vec![
                issuer(RESIDENT, true),
                issuer(CORP, false),
                issuer(PARTNER, false),
            ],
            key_mappings: vec![
                mapping("resident-ck", "resident-app", RESIDENT),
                mapping("corp-client", "corp-app", CORP),
            ],
            ..Default::default()
        });
        assert_eq!(
            owner(&keys, RESIDENT, "resident-ck").unwrap(),
            "resident-app"
        );
        assert_eq!(owner(&keys, CORP, "corp-client").unwrap(), "corp-app");
        // An external issuer naming the resident app's consumer key, another external issuer
        // naming one mapped under the first, the resident issuer naming an external client.
        assert_eq!(owner(&keys, CORP, "resident-ck"), None);
        assert_eq!(owner(&keys, PARTNER, "corp-client"), None);
        assert_eq!(owner(&keys, RESIDENT, "corp-client"), None);
        assert_eq!(owner(&keys, "https://unknown.test", "corp-client"), None);
        assert_eq!(keys.len(), 2);
    }

    #[test]
    fn a_mapping_without_an_issuer_belongs_to_the_resident_key_manager_only() {
        // A snapshot older than the field: issuers unmarked, mappings without an issuer.
        let mut legacy = GatewaySnapshot {
            issuers: vec![issuer(RESIDENT, false), issuer(CORP, false)],
            key_mappings: vec![mapping("old-ck", "old-app", "")],
            ..Default::default()
        };
        legacy.issuers[0].jwks_uri = None;
        let keys = compile(&legacy);
        assert_eq!(owner(&keys, RESIDENT, "old-ck").unwrap(), "old-app");
        assert_eq!(owner(&keys, CORP, "old-ck"), None);

        // Which issuer is resident cannot be told: the mapping matches nothing.
        legacy.issuers[1].jwks_uri = None;
        let keys = compile(&legacy);
        assert!(keys.is_empty());
        assert_eq!(owner(&keys, CORP, "old-ck"), None);
        assert_eq!(owner(&keys, RESIDENT, "old-ck"), None);
    }

    #[test]
    fn mappings_of_an_issuer_the_snapshot_does_not_trust_are_left_out() {
        let keys = compile(&GatewaySnapshot {
            issuers: vec![issuer(RESIDENT, true)],
            key_mappings: vec![mapping("corp-client", "corp-app", CORP)],
            ..Default::default()
        });
        assert!(keys.is_empty());
    }

    #[test]
    fn an_issuer_less_mapping_from_old_snapshot_json_still_parses() {
        let old: KeyMapping = serde_json::from_value(serde_json::json!({
            "consumer_key": "ck", "application_id": "app", "key_type": "PRODUCTION"
        }))
        .unwrap();
        assert_eq!(old.issuer, "");
        let old: TrustedIssuer =
            serde_json::from_value(serde_json::json!({"issuer": RESIDENT, "keys": []})).unwrap();
        assert!(!old.resident);
    }
}
