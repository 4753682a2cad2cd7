//! The OAuth2 scopes each REST operation accepts, as WSO2 APIM 4.x's OpenAPI documents
//! declare them (publisher v4, devportal v3, admin v4). Any one scope of a list is enough.
//! Handlers call [`crate::extract::AuthUser::require_scope`] with one of these.

/// Read APIs (list, get, definition).
pub const API_VIEW: &[&str] = &[
    "apim:api_view",
    "apim:api_manage",
    "apim:api_import_export",
    "apim:api_list_view",
    "apim:api_definition_view",
];
/// Create an API, import one, copy one as a new version.
pub const API_CREATE: &[&str] = &["apim:api_create", "apim:api_manage"];
/// Update an API (publishers may too).
pub const API_UPDATE: &[&str] = &["apim:api_create", "apim:api_manage", "apim:api_publish"];
/// Delete an API.
pub const API_DELETE: &[&str] = &[
    "apim:api_delete",
    "apim:api_manage",
    "apim:api_import_export",
];
/// Change an API's lifecycle state.
pub const API_PUBLISH: &[&str] = &[
    "apim:api_publish",
    "apim:api_manage",
    "apim:api_import_export",
];
/// Read an API's lifecycle state, history, revisions and deployments.
pub const API_LIFECYCLE_VIEW: &[&str] = &[
    "apim:api_view",
    "apim:api_publish",
    "apim:api_create",
    "apim:api_manage",
];
/// Create or delete revisions, deploy and undeploy them.
pub const API_DEPLOY: &[&str] = &[
    "apim:api_create",
    "apim:api_manage",
    "apim:api_publish",
    "apim:api_import_export",
];
/// See an API's subscriptions (publisher).
pub const SUBSCRIPTION_VIEW: &[&str] = &[
    "apim:subscription_view",
    "apim:subscription_block",
    "apim:subscription_manage",
    "apim:api_manage",
];
/// Block and unblock subscriptions (publisher).
pub const SUBSCRIPTION_BLOCK: &[&str] = &[
    "apim:subscription_block",
    "apim:subscription_manage",
    "apim:api_manage",
];
/// Applications and their keys.
pub const APP_MANAGE: &[&str] = &["apim:subscribe", "apim:app_manage"];
/// Subscriptions.
pub const SUBSCRIBE: &[&str] = &["apim:subscribe", "apim:sub_manage"];
/// Read gateway environments and their gateways.
pub const ENVIRONMENT_READ: &[&str] = &[
    "apim:admin",
    "apim:environment_read",
    "apim:environment_manage",
];
/// Change gateway environments and their gateway tokens.
pub const ENVIRONMENT_MANAGE: &[&str] = &["apim:admin", "apim:environment_manage"];
/// Read throttling policies.
pub const TIER_VIEW: &[&str] = &["apim:admin", "apim:tier_view", "apim:tier_manage"];
/// Change throttling policies.
pub const TIER_MANAGE: &[&str] = &["apim:admin", "apim:tier_manage"];
/// Key managers, users and roles, signing keys.
pub const ADMIN_OPERATIONS: &[&str] = &["apim:admin", "apim:admin_operations"];
