//! The OAuth2 scopes each REST operation accepts, as WSO2 APIM 4.x's OpenAPI documents
//! declare them (publisher v4, devportal v3, admin v4). Any one scope of a list is enough.
//! Handlers take [`crate::extract::Scoped`] with the marker type of one of these lists, so
//! the scope is checked before the path, query or body is read: a caller without the scope
//! gets 403 whatever it sends.

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
/// Export an API as a project archive.
pub const API_EXPORT: &[&str] = &[
    "apim:api_view",
    "apim:api_publish",
    "apim:api_create",
    "apim:api_import_export",
    "apim:api_manage",
];
/// Import an API project.
pub const API_IMPORT: &[&str] = &["apim:api_import_export", "apim:admin"];
/// Export an API product with its APIs (WSO2 4.7: either scope).
pub const API_PRODUCT_EXPORT: &[&str] = &["apim:api_view", "apim:api_product_import_export"];
/// Import an API product project.
pub const API_PRODUCT_IMPORT: &[&str] = &["apim:api_product_import_export", "apim:admin"];
/// Export or import an application (devportal).
pub const APP_IMPORT_EXPORT: &[&str] = &["apim:app_import_export"];
/// Export or import a throttling policy (admin).
pub const POLICY_IMPORT_EXPORT: &[&str] = &[
    "apim:admin",
    "apim:tier_manage",
    "apim:policies_import_export",
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
/// See an API's client certificates (mutual TLS).
pub const CLIENT_CERTIFICATES_VIEW: &[&str] = &[
    "apim:api_view",
    "apim:client_certificates_view",
    "apim:client_certificates_manage",
];
/// Upload a client certificate.
pub const CLIENT_CERTIFICATES_ADD: &[&str] = &[
    "apim:api_create",
    "apim:client_certificates_add",
    "apim:client_certificates_manage",
];
/// Replace or delete a client certificate.
pub const CLIENT_CERTIFICATES_UPDATE: &[&str] = &[
    "apim:api_create",
    "apim:client_certificates_update",
    "apim:client_certificates_manage",
];
/// See endpoint certificates.
pub const EP_CERTIFICATES_VIEW: &[&str] = &[
    "apim:api_view",
    "apim:api_manage",
    "apim:ep_certificates_view",
    "apim:ep_certificates_manage",
];
/// Upload an endpoint certificate.
pub const EP_CERTIFICATES_ADD: &[&str] = &[
    "apim:api_create",
    "apim:api_manage",
    "apim:ep_certificates_add",
    "apim:ep_certificates_manage",
];
/// Replace or delete an endpoint certificate.
pub const EP_CERTIFICATES_UPDATE: &[&str] = &[
    "apim:api_create",
    "apim:api_manage",
    "apim:ep_certificates_update",
    "apim:ep_certificates_manage",
];
/// Applications and their keys.
pub const APP_MANAGE: &[&str] = &["apim:subscribe", "apim:app_manage"];
/// Generate and revoke API keys.
pub const API_KEY: &[&str] = &["apim:subscribe", "apim:app_manage", "apim:api_key"];
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
/// Read LLM providers (Admin API).
pub const LLM_PROVIDER_VIEW: &[&str] = &["apim:admin"];
/// Add, change and delete LLM providers.
pub const LLM_PROVIDER_MANAGE: &[&str] = &["apim:admin", "apim:llm_provider_manage"];
/// Read LLM providers (Publisher API: creating AI APIs).
pub const LLM_PROVIDER_READ: &[&str] = &["apim:llm_provider_read"];
/// See pending approval workflows.
pub const WORKFLOW_VIEW: &[&str] = &["apim:admin", "apim:api_workflow_view"];
/// Approve or reject a workflow.
pub const WORKFLOW_APPROVE: &[&str] = &["apim:admin", "apim:api_workflow_approve"];
/// Read deny policies (WSO2 blocking conditions).
pub const DENY_POLICY_VIEW: &[&str] = &["apim:admin", "apim:bl_view", "apim:bl_manage"];
/// Create, switch and delete deny policies.
pub const DENY_POLICY_MANAGE: &[&str] = &["apim:admin", "apim:bl_manage"];
/// Read and change the REST scopes' role map and role aliases (Admin `/system-scopes`).
pub const SCOPE_MANAGE: &[&str] = &["apim:admin", "apim:scope_manage"];
/// Key managers, users and roles, signing keys.
pub const ADMIN_OPERATIONS: &[&str] = &["apim:admin", "apim:admin_operations"];

/// Read an API's comments (publisher).
pub const COMMENT_VIEW_API: &[&str] =
    &["apim:api_view", "apim:comment_view", "apim:comment_manage"];
/// Read an MCP server's comments (publisher).
pub const COMMENT_VIEW_MCP: &[&str] = &[
    "apim:mcp_server_view",
    "apim:comment_view",
    "apim:comment_manage",
];
/// Write and edit comments (publisher).
pub const COMMENT_WRITE: &[&str] = &["apim:comment_write", "apim:comment_manage"];
/// Delete comments (publisher): one's own, or anyone's with `comment_manage` or `admin`.
pub const COMMENT_DELETE: &[&str] = &["apim:comment_write", "apim:comment_manage", "apim:admin"];
/// Delete comments (devportal): one's own, or anyone's with `admin`.
pub const SUBSCRIBE_OR_ADMIN: &[&str] = &["apim:subscribe", "apim:admin"];
/// Read API categories (publisher).
pub const CATEGORY_VIEW: &[&str] = &["apim:api_view", "apim:api_manage"];
/// Read gateway labels (admin).
pub const LABEL_READ: &[&str] = &["apim:admin", "apim:label_read"];
/// Change gateway labels (admin).
pub const LABEL_MANAGE: &[&str] = &["apim:admin", "apim:label_manage"];

/// Read shared scopes.
pub const SHARED_SCOPE_VIEW: &[&str] = &["apim:api_view", "apim:shared_scope_manage"];
/// Add, change and delete shared scopes.
pub const SHARED_SCOPE_MANAGE: &[&str] = &["apim:shared_scope_manage"];
/// Read where a shared scope is used.
pub const SHARED_SCOPE_USAGE: &[&str] = &[
    "apim:api_view",
    "apim:api_manage",
    "apim:shared_scope_manage",
];
/// Check whether a scope name is taken.
pub const SCOPE_VALIDATE: &[&str] = &[
    "apim:api_create",
    "apim:api_publish",
    "apim:api_manage",
    "apim:shared_scope_manage",
];
/// Check whether a role exists.
pub const ROLE_VALIDATE: &[&str] = &["apim:api_create", "apim:api_publish", "apim:api_manage"];
/// Check whether the caller holds a role.
pub const ME_ROLE: &[&str] = &["apim:api_create", "apim:api_manage"];

/// Read MCP servers (publisher).
pub const MCP_SERVER_VIEW: &[&str] = &[
    "apim:mcp_server_view",
    "apim:mcp_server_manage",
    "apim:mcp_server_import_export",
    "apim:mcp_server_list_view",
];
/// Create MCP servers (and check a third-party one).
pub const MCP_SERVER_CREATE: &[&str] = &["apim:mcp_server_create", "apim:mcp_server_manage"];
/// Delete an MCP server.
pub const MCP_SERVER_DELETE: &[&str] = &[
    "apim:mcp_server_delete",
    "apim:mcp_server_manage",
    "apim:mcp_server_import_export",
];
/// Change an MCP server's lifecycle state.
pub const MCP_SERVER_PUBLISH: &[&str] = &[
    "apim:mcp_server_publish",
    "apim:mcp_server_manage",
    "apim:mcp_server_import_export",
];
/// Read an MCP server's revisions, deployments and lifecycle.
pub const MCP_SERVER_LIFECYCLE_VIEW: &[&str] = &[
    "apim:mcp_server_view",
    "apim:mcp_server_create",
    "apim:mcp_server_manage",
    "apim:mcp_server_publish",
    "apim:mcp_server_import_export",
];
/// Create or delete an MCP server's revisions, deploy and undeploy them.
pub const MCP_SERVER_DEPLOY: &[&str] = &[
    "apim:mcp_server_create",
    "apim:mcp_server_manage",
    "apim:mcp_server_publish",
    "apim:mcp_server_import_export",
];
/// Read the common operation policies (WSO2 `getAllCommonOperationPolicies`).
pub const COMMON_POLICY_VIEW: &[&str] = &[
    "apim:common_operation_policy_view",
    "apim:common_operation_policy_manage",
    "apim:policies_import_export",
];
/// Add or delete common operation policies.
pub const COMMON_POLICY_MANAGE: &[&str] = &[
    "apim:common_operation_policy_manage",
    "apim:policies_import_export",
];
/// Read an API's operation policies.
pub const API_POLICY_VIEW: &[&str] = &[
    "apim:api_view",
    "apim:api_manage",
    "apim:mediation_policy_view",
    "apim:mediation_policy_manage",
    "apim:api_mediation_policy_manage",
];
/// Add or delete an API's own operation policies.
pub const API_POLICY_MANAGE: &[&str] = &[
    "apim:api_manage",
    "apim:mediation_policy_create",
    "apim:mediation_policy_manage",
    "apim:api_mediation_policy_manage",
];
/// Read gateway policy mappings.
pub const GATEWAY_POLICY_VIEW: &[&str] =
    &["apim:gateway_policy_view", "apim:gateway_policy_manage"];
/// Create, change, deploy and delete gateway policy mappings.
pub const GATEWAY_POLICY_MANAGE: &[&str] = &["apim:gateway_policy_manage"];

/// A list of scopes an operation accepts, as a type (for [`crate::extract::Scoped`]).
pub trait ScopeSet: Send + Sync + 'static {
    /// Any one of these is enough.
    const ANY_OF: &'static [&'static str];
}

macro_rules! scope_sets {
    ($($name:ident => $list:ident),* $(,)?) => {
        $(
            #[doc = concat!("The scopes of [`", stringify!($list), "`], as a type.")]
            #[derive(Debug)]
            pub struct $name;
            impl ScopeSet for $name {
                const ANY_OF: &'static [&'static str] = $list;
            }
        )*
    };
}

scope_sets! {
    AdminOperations => ADMIN_OPERATIONS,
    ApiCreate => API_CREATE,
    ApiDelete => API_DELETE,
    ApiDeploy => API_DEPLOY,
    ApiExport => API_EXPORT,
    ApiImport => API_IMPORT,
    ApiProductExport => API_PRODUCT_EXPORT,
    ApiProductImport => API_PRODUCT_IMPORT,
    AppImportExport => APP_IMPORT_EXPORT,
    PolicyImportExport => POLICY_IMPORT_EXPORT,
    ApiLifecycleView => API_LIFECYCLE_VIEW,
    ApiPublish => API_PUBLISH,
    ApiUpdate => API_UPDATE,
    ApiView => API_VIEW,
    AppManage => APP_MANAGE,
    ApiPolicyManage => API_POLICY_MANAGE,
    ApiPolicyView => API_POLICY_VIEW,
    CommonPolicyManage => COMMON_POLICY_MANAGE,
    CommonPolicyView => COMMON_POLICY_VIEW,
    GatewayPolicyManage => GATEWAY_POLICY_MANAGE,
    GatewayPolicyView => GATEWAY_POLICY_VIEW,
    ClientCertificatesAdd => CLIENT_CERTIFICATES_ADD,
    ClientCertificatesUpdate => CLIENT_CERTIFICATES_UPDATE,
    ClientCertificatesView => CLIENT_CERTIFICATES_VIEW,
    EndpointCertificatesAdd => EP_CERTIFICATES_ADD,
    EndpointCertificatesUpdate => EP_CERTIFICATES_UPDATE,
    EndpointCertificatesView => EP_CERTIFICATES_VIEW,
    DenyPolicyManage => DENY_POLICY_MANAGE,
    McpServerCreate => MCP_SERVER_CREATE,
    McpServerDelete => MCP_SERVER_DELETE,
    McpServerDeploy => MCP_SERVER_DEPLOY,
    McpServerLifecycleView => MCP_SERVER_LIFECYCLE_VIEW,
    McpServerPublish => MCP_SERVER_PUBLISH,
    McpServerView => MCP_SERVER_VIEW,
    DenyPolicyView => DENY_POLICY_VIEW,
    ApiKey => API_KEY,
    CategoryView => CATEGORY_VIEW,
    CommentDelete => COMMENT_DELETE,
    CommentViewApi => COMMENT_VIEW_API,
    CommentViewMcp => COMMENT_VIEW_MCP,
    CommentWrite => COMMENT_WRITE,
    LabelManage => LABEL_MANAGE,
    LabelRead => LABEL_READ,
    SubscribeOrAdmin => SUBSCRIBE_OR_ADMIN,
    EnvironmentManage => ENVIRONMENT_MANAGE,
    EnvironmentRead => ENVIRONMENT_READ,
    LlmProviderManage => LLM_PROVIDER_MANAGE,
    LlmProviderRead => LLM_PROVIDER_READ,
    LlmProviderView => LLM_PROVIDER_VIEW,
    MeRole => ME_ROLE,
    RoleValidate => ROLE_VALIDATE,
    ScopeValidate => SCOPE_VALIDATE,
    ScopeManage => SCOPE_MANAGE,
    SharedScopeManage => SHARED_SCOPE_MANAGE,
    SharedScopeUsage => SHARED_SCOPE_USAGE,
    SharedScopeView => SHARED_SCOPE_VIEW,
    Subscribe => SUBSCRIBE,
    SubscriptionBlock => SUBSCRIPTION_BLOCK,
    SubscriptionView => SUBSCRIPTION_VIEW,
    TierManage => TIER_MANAGE,
    TierView => TIER_VIEW,
    WorkflowApprove => WORKFLOW_APPROVE,
    WorkflowView => WORKFLOW_VIEW,
}
