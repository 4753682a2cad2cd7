//! Which scopes a user may be granted: WSO2's default role → scope mapping for the REST API
//! scopes (`apim:*`, TENANTCONF `RESTAPIScopes`), and the OpenID Connect scopes.
//!
//! A token gets only the requested scopes that the user's roles allow; API scopes (those
//! the operations of subscribed APIs require) are decided by the caller, per application.

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

/// Whether a user with `roles` may be granted the REST or OIDC `scope`. Other scopes are
/// not decided here (false).
pub fn role_allows<'a>(roles: impl IntoIterator<Item = &'a str> + Clone, scope: &str) -> bool {
    if OIDC_SCOPES.contains(&scope) {
        return true;
    }
    if !is_rest_scope(scope) {
        return false;
    }
    if roles.clone().into_iter().any(|r| r == ADMIN_ROLE) {
        return true;
    }
    REST_SCOPE_ROLES
        .iter()
        .find(|(s, _)| *s == scope)
        .is_some_and(|(_, allowed)| roles.into_iter().any(|r| allowed.contains(&r)))
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
}
