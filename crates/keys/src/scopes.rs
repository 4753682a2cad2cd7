//! Which scopes a user may be granted: WSO2's default role → scope mapping for the REST API
//! scopes (`apim:*`, TENANTCONF `RESTAPIScopes`), and the OpenID Connect scopes.
//!
//! A token gets only the requested scopes that the user's roles allow; API scopes (those
//! the operations of subscribed APIs require) are decided by the caller, per application.

use std::collections::BTreeMap;

/// The role that may have every `apim:` scope.
pub const ADMIN_ROLE: &str = "admin";

/// WSO2's default mapping: each REST scope and the roles that may have it.
pub const REST_SCOPE_ROLES: &[(&str, &[&str])] = &[
    ("apim:api_create", &["admin", "Internal/creator"]),
    ("apim:api_delete", &["admin", "Internal/creator"]),
    ("apim:api_publish", &["admin", "Internal/publisher"]),
    (
        "apim:api_view",
        &[
            "admin",
            "Internal/publisher",
            "Internal/creator",
            "Internal/analytics",
        ],
    ),
    ("apim:api_manage", &["admin"]),
    (
        "apim:api_list_view",
        &["admin", "Internal/publisher", "Internal/creator"],
    ),
    (
        "apim:api_definition_view",
        &["admin", "Internal/publisher", "Internal/creator"],
    ),
    ("apim:api_import_export", &["admin"]),
    ("apim:api_product_import_export", &["admin"]),
    ("apim:app_import_export", &["admin"]),
    ("apim:mcp_server_create", &["admin", "Internal/creator"]),
    ("apim:mcp_server_delete", &["admin", "Internal/creator"]),
    ("apim:mcp_server_publish", &["admin", "Internal/publisher"]),
    (
        "apim:mcp_server_view",
        &["admin", "Internal/publisher", "Internal/creator"],
    ),
    (
        "apim:mcp_server_list_view",
        &["admin", "Internal/publisher", "Internal/creator"],
    ),
    ("apim:mcp_server_manage", &["admin"]),
    ("apim:mcp_server_import_export", &["admin"]),
    (
        "apim:subscription_view",
        &["admin", "Internal/publisher", "Internal/creator"],
    ),
    ("apim:subscription_block", &["admin", "Internal/publisher"]),
    ("apim:subscription_manage", &["admin"]),
    ("apim:environment_read", &["admin"]),
    (
        "apim:client_certificates_view",
        &["admin", "Internal/creator"],
    ),
    (
        "apim:client_certificates_add",
        &["admin", "Internal/creator"],
    ),
    (
        "apim:client_certificates_update",
        &["admin", "Internal/creator"],
    ),
    (
        "apim:client_certificates_manage",
        &["admin", "Internal/creator"],
    ),
    (
        "apim:ep_certificates_view",
        &["admin", "Internal/publisher", "Internal/creator"],
    ),
    ("apim:ep_certificates_add", &["admin", "Internal/creator"]),
    (
        "apim:ep_certificates_update",
        &["admin", "Internal/creator"],
    ),
    ("apim:ep_certificates_manage", &["admin"]),
    (
        "apim:api_key",
        &["admin", "Internal/subscriber", "Internal/devops"],
    ),
    (
        "apim:comment_view",
        &["admin", "Internal/publisher", "Internal/creator"],
    ),
    (
        "apim:comment_write",
        &["admin", "Internal/publisher", "Internal/creator"],
    ),
    ("apim:comment_manage", &["admin"]),
    ("apim:shared_scope_manage", &["admin", "Internal/creator"]),
    (
        "apim:label_read",
        &["admin", "Internal/publisher", "Internal/creator"],
    ),
    ("apim:label_manage", &["admin"]),
    ("apim:tier_manage", &["admin"]),
    ("apim:llm_provider_manage", &["admin"]),
    (
        "apim:llm_provider_read",
        &["admin", "Internal/publisher", "Internal/creator"],
    ),
    (
        "apim:common_operation_policy_view",
        &["admin", "Internal/publisher", "Internal/creator"],
    ),
    ("apim:common_operation_policy_manage", &["admin"]),
    (
        "apim:mediation_policy_view",
        &["admin", "Internal/publisher", "Internal/creator"],
    ),
    (
        "apim:mediation_policy_create",
        &["admin", "Internal/creator"],
    ),
    ("apim:mediation_policy_manage", &["admin"]),
    (
        "apim:api_mediation_policy_manage",
        &["admin", "Internal/creator"],
    ),
    ("apim:policies_import_export", &["admin"]),
    ("apim:gateway_policy_view", &["admin", "Internal/publisher"]),
    ("apim:gateway_policy_manage", &["admin"]),
    ("apim:bl_manage", &["admin"]),
    ("apim:bl_view", &["admin"]),
    ("apim:admin", &["admin"]),
    ("apim:admin_operations", &["admin"]),
    ("apim:scope_manage", &["admin"]),
    ("apim:environment_manage", &["admin"]),
    ("apim:api_workflow_approve", &["admin"]),
    ("apim:api_workflow_view", &["admin"]),
    (
        "apim:tier_view",
        &["admin", "Internal/publisher", "Internal/creator"],
    ),
    (
        "apim:subscribe",
        &["admin", "Internal/subscriber", "Internal/devops"],
    ),
    (
        "apim:app_manage",
        &["admin", "Internal/subscriber", "Internal/devops"],
    ),
    (
        "apim:sub_manage",
        &["admin", "Internal/subscriber", "Internal/devops"],
    ),
];

/// The roles a Gantry user may hold (WSO2's internal roles; `admin` may do everything).
pub const ROLES: &[&str] = &[
    "admin",
    "Internal/creator",
    "Internal/publisher",
    "Internal/subscriber",
    "Internal/devops",
    "Internal/analytics",
    "Internal/everyone",
];

/// The role a name stands for: the exact WSO2 name, or its short form without
/// `Internal/` in any case (`subscriber` → `Internal/subscriber`). `None` for other names.
pub fn canonical_role(name: &str) -> Option<&'static str> {
    let short = name.strip_prefix("Internal/").unwrap_or(name);
    ROLES.iter().copied().find(|role| {
        role.strip_prefix("Internal/")
            .unwrap_or(role)
            .eq_ignore_ascii_case(short)
    })
}

/// OpenID Connect scopes any authenticated user may grant a client.
pub const OIDC_SCOPES: &[&str] = &["openid", "profile", "email"];

/// Whether `scope` is a REST API scope (decided by roles, not by subscriptions).
pub fn is_rest_scope(scope: &str) -> bool {
    scope.starts_with("apim:")
}

/// Whether a user with `roles` may be granted the REST or OIDC `scope` under WSO2's default
/// map. Other scopes are not decided here (false).
pub fn role_allows<'a>(roles: impl IntoIterator<Item = &'a str> + Clone, scope: &str) -> bool {
    ScopeRoleMap::default().allows(roles, scope)
}

/// The REST scopes' role map in force: WSO2's defaults with an administrator's changes
/// (Admin `/system-scopes`) and role aliases (`/system-scopes/role-aliases`: where a scope
/// names a role that has aliases, the users holding one of the aliases have it, as with
/// WSO2's `RoleMappings`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopeRoleMap {
    scopes: BTreeMap<String, Vec<String>>,
    aliases: BTreeMap<String, Vec<String>>,
}

impl Default for ScopeRoleMap {
    fn default() -> Self {
        Self {
            scopes: REST_SCOPE_ROLES
                .iter()
                .map(|(scope, roles)| {
                    (
                        (*scope).to_owned(),
                        roles.iter().map(|r| (*r).to_owned()).collect(),
                    )
                })
                .collect(),
            aliases: BTreeMap::new(),
        }
    }
}

impl ScopeRoleMap {
    /// The defaults with `changed` scopes' roles replaced (names not in the defaults are
    /// ignored) and `aliases` in force.
    pub fn with_changes(
        changed: impl IntoIterator<Item = (String, Vec<String>)>,
        aliases: impl IntoIterator<Item = (String, Vec<String>)>,
    ) -> Self {
        let mut map = Self::default();
        for (scope, roles) in changed {
            if let Some(slot) = map.scopes.get_mut(&scope) {
                *slot = roles;
            }
        }
        map.aliases = aliases.into_iter().collect();
        map
    }

    /// Whether `scope` is one of the REST scopes.
    pub fn knows(&self, scope: &str) -> bool {
        self.scopes.contains_key(scope)
    }

    /// Every REST scope with its roles, by name.
    pub fn scopes(&self) -> impl Iterator<Item = (&str, &[String])> {
        self.scopes.iter().map(|(s, r)| (s.as_str(), r.as_slice()))
    }

    /// Every role alias: a role and the roles that stand in for it.
    pub fn aliases(&self) -> impl Iterator<Item = (&str, &[String])> {
        self.aliases.iter().map(|(r, a)| (r.as_str(), a.as_slice()))
    }

    /// Whether a user with `roles` may be granted the REST or OIDC `scope`. Other scopes
    /// are not decided here (false). `admin` keeps every REST scope, so no change to the
    /// map can lock the administrator out.
    pub fn allows<'a>(
        &self,
        roles: impl IntoIterator<Item = &'a str> + Clone,
        scope: &str,
    ) -> bool {
        if OIDC_SCOPES.contains(&scope) {
            return true;
        }
        if !is_rest_scope(scope) {
            return false;
        }
        if roles.clone().into_iter().any(|r| r == ADMIN_ROLE) {
            return true;
        }
        let Some(allowed) = self.scopes.get(scope) else {
            return false;
        };
        // WSO2 replaces a role that has aliases by its aliases (list the role itself among
        // them to keep it).
        roles.into_iter().any(|held| {
            allowed.iter().any(|role| match self.aliases.get(role) {
                Some(aliases) => aliases.iter().any(|a| a == held),
                None => role == held,
            })
        })
    }

    /// Every REST scope a user with `roles` may be granted.
    pub fn scopes_of(&self, roles: &[String]) -> Vec<String> {
        self.scopes
            .keys()
            .filter(|scope| self.allows(roles.iter().map(String::as_str), scope))
            .cloned()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_role_names_map_to_wso2_roles() {
        assert_eq!(canonical_role("subscriber"), Some("Internal/subscriber"));
        assert_eq!(canonical_role("Internal/creator"), Some("Internal/creator"));
        assert_eq!(canonical_role("ADMIN"), Some("admin"));
        assert_eq!(canonical_role("Internal/root"), None);
        assert_eq!(canonical_role("superuser"), None);
    }

    #[test]
    fn roles_limit_rest_scopes_as_wso2_does() {
        let creator = ["Internal/creator"];
        assert!(role_allows(creator, "apim:api_create"));
        assert!(role_allows(creator, "apim:api_view"));
        assert!(!role_allows(creator, "apim:api_publish"));
        assert!(!role_allows(creator, "apim:admin"));
        let subscriber = ["Internal/subscriber"];
        assert!(role_allows(subscriber, "apim:subscribe"));
        assert!(!role_allows(subscriber, "apim:api_create"));
        assert!(role_allows(["admin"], "apim:admin"));
        assert!(role_allows(["admin"], "apim:subscription_view"));
        assert!(role_allows(subscriber, "openid"));
        assert!(!role_allows(["admin"], "read:menu"));
    }

    #[test]
    fn changed_roles_and_aliases_decide_rest_scopes() {
        let owners = |s: &[&str]| s.iter().map(|r| (*r).to_owned()).collect::<Vec<_>>();
        let map = ScopeRoleMap::with_changes(
            [
                (
                    "apim:api_create".to_owned(),
                    owners(&["Internal/subscriber"]),
                ),
                (
                    "apim:not_a_scope".to_owned(),
                    owners(&["Internal/subscriber"]),
                ),
            ],
            [(
                "Internal/publisher".to_owned(),
                owners(&["Internal/devops"]),
            )],
        );
        assert!(map.allows(["Internal/subscriber"], "apim:api_create"));
        assert!(!map.allows(["Internal/creator"], "apim:api_create"));
        assert!(!map.knows("apim:not_a_scope"));
        // An alias of a role holds the role's scopes.
        assert!(map.allows(["Internal/devops"], "apim:api_publish"));
        assert!(!map.allows(["Internal/creator"], "apim:api_publish"));
        assert!(
            !map.allows(["Internal/publisher"], "apim:api_publish"),
            "a role with aliases is replaced by them"
        );
        assert!(map.allows(["admin"], "apim:api_create"));
    }
}
