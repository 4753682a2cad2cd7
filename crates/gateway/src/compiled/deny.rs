//! The deny policies of one configuration, compiled into lookups by what they block: API
//! ids (an API condition names `context/version`), application ids, usernames and address
//! ranges. A configuration without deny policies has no table at all, so the deny stage
//! costs one pointer check.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use gantry_model::GatewaySnapshot;
use gantry_model::deny::{AddressRange, DenyCondition, user_key};

/// One address condition.
struct AddressRule {
    range: AddressRange,
    invert: bool,
    /// Why a call it blocks is refused (for the error description).
    reason: Box<str>,
}

/// What the switched-on deny policies block.
#[derive(Default)]
pub struct DenyTable {
    /// API id → reason.
    apis: HashMap<Arc<str>, Box<str>>,
    /// Application id → reason.
    applications: HashMap<Arc<str>, Box<str>>,
    /// Username as compared ([`user_key`]) → reason.
    users: HashMap<Box<str>, Box<str>>,
    addresses: Vec<AddressRule>,
}

impl DenyTable {
    /// The table of `snapshot`'s deny policies; `None` when it has none (or none that can
    /// match here: an API condition for an API not deployed to this environment).
    pub fn compile(snapshot: &GatewaySnapshot) -> Option<Box<Self>> {
        if snapshot.deny_policies.is_empty() {
            return None;
        }
        let mut table = Self::default();
        for policy in &snapshot.deny_policies {
            match &policy.condition {
                DenyCondition::Api { context } => {
                    for api in snapshot
                        .apis
                        .iter()
                        .filter(|a| format!("{}/{}", a.context, a.version) == *context)
                    {
                        table.apis.insert(
                            Arc::from(api.api_id.as_str()),
                            format!("calls to the API {context} are denied").into(),
                        );
                    }
                }
                DenyCondition::Application { id, owner, name } => {
                    table.applications.insert(
                        Arc::from(id.as_str()),
                        format!("the application {owner}:{name} is denied").into(),
                    );
                }
                DenyCondition::User { name } => {
                    table.users.insert(
                        user_key(name).into(),
                        format!("the user {name} is denied").into(),
                    );
                }
                DenyCondition::Ip { address, invert } => table.addresses.push(AddressRule {
                    range: AddressRange {
                        start: *address,
                        end: *address,
                    },
                    invert: *invert,
                    reason: if *invert {
                        format!("only {address} may call")
                    } else {
                        format!("calls from {address} are denied")
                    }
                    .into(),
                }),
                DenyCondition::IpRange { range, invert } => table.addresses.push(AddressRule {
                    range: *range,
                    invert: *invert,
                    reason: if *invert {
                        format!("only {} to {} may call", range.start, range.end)
                    } else {
                        format!("calls from {} to {} are denied", range.start, range.end)
                    }
                    .into(),
                }),
            }
        }
        let empty = table.apis.is_empty()
            && table.applications.is_empty()
            && table.users.is_empty()
            && table.addresses.is_empty();
        (!empty).then(|| Box::new(table))
    }

    /// Why a call from `peer` to the API `api_id` is refused, if it is.
    pub fn by_address(&self, api_id: &str, peer: IpAddr) -> Option<&str> {
        if let Some(reason) = self.apis.get(api_id) {
            return Some(reason);
        }
        self.addresses
            .iter()
            .find(|rule| rule.range.contains(peer) != rule.invert)
            .map(|rule| &*rule.reason)
    }

    /// Why a call by the application `application_id`, for the user `user`, is refused, if
    /// it is.
    pub fn by_caller(&self, application_id: &str, user: &str) -> Option<&str> {
        if let Some(reason) = self.applications.get(application_id) {
            return Some(reason);
        }
        if self.users.is_empty() {
            return None;
        }
        let bare = user.strip_suffix("@carbon.super").unwrap_or(user);
        if bare.bytes().any(|b| b.is_ascii_uppercase()) || !bare.is_ascii() {
            self.users.get(user_key(bare).as_str()).map(|r| &**r)
        } else {
            // Usernames are usually lower case already: no copy to look them up.
            self.users.get(bare).map(|r| &**r)
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use gantry_model::deny::DenyPolicy;
    use serde_json::json;

    fn table(conditions: &[(&str, serde_json::Value)]) -> Box<DenyTable> {
        let snapshot = GatewaySnapshot {
            deny_policies: conditions
                .iter()
                .enumerate()
                .map(|(i, (kind, value))| {
                    let mut condition = DenyCondition::from_wso2(kind, value).unwrap();
                    if let DenyCondition::Application { id, .. } = &mut condition {
                        *id = "app-1".into();
                    }
                    DenyPolicy {
                        id: i.to_string(),
                        condition,
                    }
                })
                .collect(),
            ..Default::default()
        };
        DenyTable::compile(&snapshot).unwrap()
    }

    #[test]
    fn each_kind_blocks_what_it_names_and_inverts() {
        let t = table(&[
            ("IP", json!({"fixedIp": "10.0.0.7"})),
            (
                "IPRANGE",
                json!({"startingIp": "192.168.0.0", "endingIp": "192.168.255.255", "invert": true}),
            ),
            ("USER", json!("Alice")),
            ("APPLICATION", json!("bob:Shop")),
        ]);
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert!(t.by_address("api", ip("10.0.0.7")).is_some());
        // Outside the inverted range: blocked; inside: allowed.
        assert!(t.by_address("api", ip("10.0.0.8")).is_some());
        assert!(t.by_address("api", ip("192.168.4.4")).is_none());
        assert!(t.by_caller("app-1", "carol").is_some());
        assert!(t.by_caller("app-2", "alice@carbon.super").is_some());
        assert!(t.by_caller("app-2", "ALICE").is_some());
        assert!(t.by_caller("app-2", "carol").is_none());
    }

    #[test]
    fn no_policies_compile_to_no_table() {
        assert!(DenyTable::compile(&GatewaySnapshot::default()).is_none());
    }
}
