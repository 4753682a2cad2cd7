//! The OpenAPI 3 documents of Gantry's own REST APIs, served where WSO2 serves them
//! (`/api/am/publisher/v4/swagger.yaml`, `/api/am/devportal/v3/swagger.yaml`,
//! `/api/am/admin/v4/swagger.yaml`, and `.json` beside each), without authentication.
//!
//! Each document is generated from one operation table per API; the scopes in it are the
//! same constants the handlers enforce ([`crate::rest_scopes`]). The integration tests walk
//! these documents: every operation that lists scopes must answer 403 to a token without
//! them (so the table cannot drift from the routes), and responses are checked against the
//! schemas below.

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Map, Value, json};

use crate::AppState;
use crate::rest_scopes::*;

/// What an operation takes as its body.
#[derive(Debug, Clone, Copy)]
pub enum Body {
    /// Nothing.
    None,
    /// JSON of this schema (a name under `components.schemas`).
    Json(&'static str),
    /// `multipart/form-data` with these text fields.
    Multipart(&'static [&'static str]),
}

/// One REST operation.
#[derive(Debug, Clone, Copy)]
pub struct Operation {
    /// HTTP method, lower case.
    pub method: &'static str,
    /// Path relative to the API's base, WSO2's parameter names in braces.
    pub path: &'static str,
    /// WSO2's operationId.
    pub id: &'static str,
    /// One line.
    pub summary: &'static str,
    /// Scopes accepted (any one); empty for anonymous operations.
    pub scopes: &'static [&'static str],
    /// Query parameters.
    pub query: &'static [&'static str],
    /// The query parameters among them the operation cannot do without.
    pub required_query: &'static [&'static str],
    /// Request body.
    pub body: Body,
    /// Success status and response schema (`""` for none).
    pub response: (u16, &'static str),
}

const fn op(
    method: &'static str,
    path: &'static str,
    id: &'static str,
    summary: &'static str,
    scopes: &'static [&'static str],
) -> Operation {
    Operation {
        method,
        path,
        id,
        summary,
        scopes,
        query: &[],
        required_query: &[],
        body: Body::None,
        response: (200, ""),
    }
}

impl Operation {
    const fn query(mut self, query: &'static [&'static str]) -> Self {
        self.query = query;
        self
    }
    const fn requires(mut self, query: &'static [&'static str]) -> Self {
        self.required_query = query;
        self
    }
    const fn body(mut self, body: Body) -> Self {
        self.body = body;
        self
    }
    const fn returns(mut self, status: u16, schema: &'static str) -> Self {
        self.response = (status, schema);
        self
    }
}

const PAGING: &[&str] = &["limit", "offset", "query"];

/// Publisher v4.
pub const PUBLISHER: &[Operation] = &[
    op(
        "get",
        "/apis",
        "getAllAPIs",
        "List or search APIs",
        API_VIEW,
    )
    .query(&["limit", "offset", "query", "sortBy", "sortOrder"])
    .returns(200, "APIList"),
    op("post", "/apis", "createAPI", "Create an API", API_CREATE)
        .body(Body::Json("API"))
        .returns(201, "API"),
    op(
        "get",
        "/apis/{apiId}",
        "getAPI",
        "Get an API (with its ETag)",
        API_VIEW,
    )
    .returns(200, "API"),
    op(
        "put",
        "/apis/{apiId}",
        "updateAPI",
        "Update an API (If-Match honoured)",
        API_UPDATE,
    )
    .body(Body::Json("API"))
    .returns(200, "API"),
    op(
        "delete",
        "/apis/{apiId}",
        "deleteAPI",
        "Delete an API",
        API_DELETE,
    ),
    op(
        "post",
        "/apis/import-openapi",
        "importOpenAPIDefinition",
        "Create an API from an OpenAPI document",
        API_CREATE,
    )
    .body(Body::Multipart(&[
        "file",
        "inlineAPIDefinition",
        "additionalProperties",
    ]))
    .returns(201, "API"),
    op(
        "post",
        "/apis/validate-openapi",
        "validateOpenAPIDefinition",
        "Validate an OpenAPI document",
        API_CREATE,
    )
    .body(Body::Multipart(&["file", "inlineAPIDefinition"])),
    op(
        "post",
        "/apis/import-wsdl",
        "importWSDLDefinition",
        "Create a SOAP pass-through API from a WSDL 1.1 file (URLs are not fetched; no SOAPTOREST)",
        API_CREATE,
    )
    .body(Body::Multipart(&["file", "additionalProperties", "implementationType"]))
    .returns(201, "API"),
    op(
        "post",
        "/apis/validate-wsdl",
        "validateWSDLDefinition",
        "Validate a WSDL 1.1 file",
        API_CREATE,
    )
    .body(Body::Multipart(&["file"])),
    op(
        "get",
        "/apis/{apiId}/wsdl",
        "getWSDLOfAPI",
        "The SOAP API's WSDL",
        API_VIEW,
    ),
    op(
        "put",
        "/apis/{apiId}/wsdl",
        "updateWSDLOfAPI",
        "Replace the WSDL (and operations, SOAP actions)",
        API_CREATE,
    )
    .body(Body::Multipart(&["file"])),
    op(
        "post",
        "/apis/import-asyncapi",
        "importAsyncAPISpecification",
        "Create a streaming API (WS, SSE) from an AsyncAPI 2.x document",
        API_CREATE,
    )
    .body(Body::Multipart(&["file", "additionalProperties"]))
    .returns(201, "API"),
    op(
        "post",
        "/apis/validate-asyncapi",
        "validateAsyncAPISpecification",
        "Validate an AsyncAPI 2.x document",
        API_CREATE,
    )
    .body(Body::Multipart(&["file"])),
    op(
        "get",
        "/apis/{apiId}/asyncapi",
        "getAPIAsyncAPIDefinition",
        "The streaming API's AsyncAPI document",
        API_VIEW,
    ),
    op(
        "put",
        "/apis/{apiId}/asyncapi",
        "updateAPIAsyncAPIDefinition",
        "Replace the AsyncAPI document (and operations)",
        API_CREATE,
    )
    .body(Body::Multipart(&["apiDefinition", "file"])),
    op(
        "get",
        "/apis/export",
        "exportAPI",
        "Export an API as a WSO2 API project (zip)",
        API_EXPORT,
    )
    .query(&[
        "apiId",
        "name",
        "version",
        "revisionNumber",
        "providerName",
        "format",
        "preserveStatus",
        "latestRevision",
    ]),
    op(
        "post",
        "/apis/{apiId}/revisions/{revisionId}/deployment-preview",
        "previewRevisionDeployment",
        "Routes an environment's gateways would add, remove or change if the revision were deployed (Gantry)",
        API_DEPLOY,
    )
    .query(&["environment", "vhost"])
    .requires(&["environment"]),
    op(
        "post",
        "/apis/import",
        "importAPI",
        "Import a WSO2 API project (zip); Gantry adds environment (params.yaml) and dryRun",
        API_IMPORT,
    )
    .query(&[
        "preserveProvider",
        "rotateRevision",
        "overwrite",
        "environment",
        "dryRun",
    ])
    .body(Body::Multipart(&["file", "params"])),
    op(
        "get",
        "/api-products/export",
        "exportAPIProduct",
        "Export an API product with its APIs as a WSO2 project (zip)",
        API_PRODUCT_EXPORT,
    )
    .query(&[
        "name",
        "version",
        "providerName",
        "revisionNumber",
        "format",
        "preserveStatus",
        "latestRevision",
    ])
    .requires(&["name", "version"]),
    op(
        "post",
        "/api-products/import",
        "importAPIProduct",
        "Import a WSO2 API product project (zip), its APIs too with importAPIs",
        API_PRODUCT_IMPORT,
    )
    .query(&[
        "preserveProvider",
        "rotateRevision",
        "importAPIs",
        "overwriteAPIProduct",
        "overwriteAPIs",
    ])
    .body(Body::Multipart(&["file"])),
    op(
        "get",
        "/apis/{apiId}/swagger",
        "getAPISwagger",
        "The API's OpenAPI document",
        API_VIEW,
    ),
    op(
        "put",
        "/apis/{apiId}/swagger",
        "updateAPISwagger",
        "Replace the OpenAPI document (and operations)",
        API_CREATE,
    )
    .body(Body::Multipart(&["apiDefinition", "file"])),
    op(
        "post",
        "/apis/copy-api",
        "createNewAPIVersion",
        "Copy an API as a new version",
        API_CREATE,
    )
    .query(&["apiId", "newVersion", "defaultVersion"])
    .requires(&["apiId", "newVersion"])
    .returns(201, "API"),
    op(
        "post",
        "/apis/change-lifecycle",
        "changeAPILifecycle",
        "Apply a lifecycle action",
        API_PUBLISH,
    )
    .query(&["apiId", "action"])
    .requires(&["apiId", "action"])
    .returns(200, "WorkflowResponse"),
    op(
        "get",
        "/apis/{apiId}/lifecycle-state",
        "getAPILifecycleState",
        "Current state and allowed actions",
        API_LIFECYCLE_VIEW,
    )
    .returns(200, "LifecycleState"),
    op(
        "delete",
        "/apis/{apiId}/lifecycle-state/pending-tasks",
        "deleteAPILifecycleStatePendingTasks",
        "Withdraw the lifecycle change waiting for approval",
        API_PUBLISH,
    ),
    op(
        "get",
        "/apis/{apiId}/lifecycle-history",
        "getAPILifecycleHistory",
        "Lifecycle history",
        API_LIFECYCLE_VIEW,
    )
    .returns(200, "List"),
    op(
        "get",
        "/apis/{apiId}/revisions",
        "getAPIRevisions",
        "List revisions",
        API_LIFECYCLE_VIEW,
    )
    .returns(200, "List"),
    op(
        "post",
        "/apis/{apiId}/revisions",
        "createAPIRevision",
        "Snapshot a revision (at most 5)",
        API_DEPLOY,
    )
    .body(Body::Json("Object"))
    .returns(201, "Object"),
    op(
        "get",
        "/apis/{apiId}/revisions/{revisionId}",
        "getAPIRevision",
        "Get a revision",
        API_LIFECYCLE_VIEW,
    )
    .returns(200, "Object"),
    op(
        "delete",
        "/apis/{apiId}/revisions/{revisionId}",
        "deleteAPIRevision",
        "Delete an undeployed revision",
        API_DEPLOY,
    ),
    op(
        "post",
        "/apis/{apiId}/deploy-revision",
        "deployAPIRevision",
        "Deploy a revision to environments",
        API_DEPLOY,
    )
    .query(&["revisionId"])
    .requires(&["revisionId"])
    .body(Body::Json("DeploymentList"))
    .returns(201, ""),
    op(
        "post",
        "/apis/{apiId}/rollouts",
        "startRollout",
        "Roll a revision out by plan: weighted canary steps, analysis windows, automatic promotion or rollback (Gantry)",
        API_DEPLOY,
    )
    .body(Body::Json("Object"))
    .returns(201, "Object"),
    op(
        "get",
        "/apis/{apiId}/rollouts",
        "getRollouts",
        "The API's rollouts, newest first (Gantry)",
        API_VIEW,
    )
    .returns(200, "List"),
    op(
        "get",
        "/apis/{apiId}/rollouts/{rolloutId}",
        "getRollout",
        "A rollout's live progress: each step's status and measured numbers, its audit trail (Gantry)",
        API_VIEW,
    )
    .returns(200, "Object"),
    op(
        "post",
        "/apis/{apiId}/rollouts/{rolloutId}/{action}",
        "actOnRollout",
        "promote, pause, resume or abort a rollout; taken by the driver within a second (Gantry)",
        API_DEPLOY,
    )
    .returns(202, "Object"),
    op(
        "post",
        "/apis/{apiId}/undeploy-revision",
        "undeployAPIRevision",
        "Undeploy a revision",
        API_DEPLOY,
    )
    .query(&["revisionId", "revisionNumber", "allEnvironments"])
    .requires(&["revisionId"])
    .body(Body::Json("DeploymentList"))
    .returns(201, ""),
    op(
        "get",
        "/apis/{apiId}/deployments",
        "getAPIRevisionDeployments",
        "Deployments with gateway status",
        API_LIFECYCLE_VIEW,
    )
    .returns(200, "List"),
    op(
        "get",
        "/throttling-policies/{policyLevel}",
        "getAllThrottlingPolicies",
        "Tiers of a level (subscription, api)",
        API_VIEW,
    )
    .query(&["limit", "offset"])
    .returns(200, "List"),
    op(
        "get",
        "/throttling-policies/{policyLevel}/{policyName}",
        "getThrottlingPolicyByName",
        "One tier",
        API_VIEW,
    )
    .returns(200, "Object"),
    op(
        "get",
        "/apis/{apiId}/subscription-policies",
        "getAPISubscriptionPolicies",
        "The subscription tiers an API offers (an array, as WSO2 answers)",
        API_VIEW,
    ),
    op(
        "get",
        "/apis/{apiId}/resource-paths",
        "getAPIResourcePaths",
        "An API's operations, numbered",
        API_VIEW,
    )
    .query(&["limit", "offset"])
    .returns(200, "List"),
    op(
        "post",
        "/apis/validate",
        "validateAPI",
        "200 when an API has the name or context (query=name:X | context:/x), else 404",
        API_CREATE,
    )
    .query(&["query"])
    .requires(&["query"]),
    op(
        "post",
        "/apis/{apiId}/restore-revision",
        "restoreAPIRevision",
        "Make a revision's definition the working copy again",
        API_DEPLOY,
    )
    .query(&["revisionId"])
    .requires(&["revisionId"])
    .returns(201, "API"),
    op(
        "get",
        "/search",
        "search",
        "Search the APIs you may access",
        API_VIEW,
    )
    .query(PAGING)
    .returns(200, "List"),
    op(
        "get",
        "/settings",
        "getSettings",
        "Publisher settings",
        API_VIEW,
    )
    .returns(200, "Object"),
    op(
        "get",
        "/key-managers",
        "getAllKeyManagers",
        "Key managers applications may use",
        API_VIEW,
    )
    .returns(200, "List"),
    op(
        "get",
        "/apis/{apiId}/documents",
        "getAPIDocuments",
        "An API's documents",
        API_VIEW,
    )
    .query(&["limit", "offset"])
    .returns(200, "List"),
    op(
        "post",
        "/apis/{apiId}/documents",
        "addAPIDocument",
        "Add a document (INLINE, MARKDOWN, URL or FILE)",
        API_CREATE,
    )
    .body(Body::Json("Object"))
    .returns(201, "Object"),
    op(
        "post",
        "/apis/{apiId}/documents/validate",
        "validateDocument",
        "200 when the API has a document of that name, else 404",
        API_VIEW,
    )
    .query(&["name"])
    .requires(&["name"]),
    op(
        "get",
        "/apis/{apiId}/documents/{documentId}",
        "getAPIDocumentByDocumentId",
        "One document",
        API_VIEW,
    )
    .returns(200, "Object"),
    op(
        "put",
        "/apis/{apiId}/documents/{documentId}",
        "updateAPIDocument",
        "Replace a document's fields",
        API_CREATE,
    )
    .body(Body::Json("Object"))
    .returns(200, "Object"),
    op(
        "delete",
        "/apis/{apiId}/documents/{documentId}",
        "deleteAPIDocument",
        "Delete a document",
        API_CREATE,
    ),
    op(
        "get",
        "/apis/{apiId}/documents/{documentId}/content",
        "getAPIDocumentContentByDocumentId",
        "A document's content (text/plain, the file as an attachment, or 303 to its URL)",
        API_VIEW,
    ),
    op(
        "post",
        "/apis/{apiId}/documents/{documentId}/content",
        "addAPIDocumentContent",
        "Set a document's content (multipart inlineContent or file)",
        API_CREATE,
    )
    .body(Body::Multipart(&["inlineContent", "file"]))
    .returns(200, "Object"),
    op(
        "get",
        "/apis/{apiId}/thumbnail",
        "getAPIThumbnail",
        "The API's thumbnail image",
        API_VIEW,
    ),
    op(
        "put",
        "/apis/{apiId}/thumbnail",
        "updateAPIThumbnail",
        "Set the thumbnail (multipart file: PNG, JPEG, GIF or WebP)",
        API_CREATE,
    )
    .body(Body::Multipart(&["file"]))
    .returns(200, "Object"),
    op(
        "get",
        "/api-products",
        "getAllAPIProducts",
        "List or search API products",
        API_VIEW,
    )
    .query(PAGING)
    .returns(200, "List"),
    op(
        "post",
        "/api-products",
        "createAPIProduct",
        "Create an API product from operations of several APIs",
        API_CREATE,
    )
    .body(Body::Json("Object"))
    .returns(201, "Object"),
    op(
        "get",
        "/api-products/{apiProductId}",
        "getAPIProduct",
        "Get an API product (with its ETag)",
        API_VIEW,
    )
    .returns(200, "Object"),
    op(
        "put",
        "/api-products/{apiProductId}",
        "updateAPIProduct",
        "Update an API product (If-Match honoured)",
        API_UPDATE,
    )
    .body(Body::Json("Object"))
    .returns(200, "Object"),
    op(
        "delete",
        "/api-products/{apiProductId}",
        "deleteAPIProduct",
        "Delete an API product (409 while subscribed)",
        API_DELETE,
    ),
    op(
        "get",
        "/api-products/{apiProductId}/swagger",
        "getAPIProductSwagger",
        "OpenAPI document of the product's operations",
        API_VIEW,
    )
    .returns(200, "Object"),
    op(
        "get",
        "/api-products/{apiProductId}/is-outdated",
        "getIsAPIProductOutdated",
        "Whether an included API's operations changed since the product was saved",
        API_VIEW,
    )
    .returns(200, "Object"),
    op(
        "post",
        "/api-products/change-lifecycle",
        "changeAPIProductLifecycle",
        "Apply a lifecycle action to an API product",
        API_PUBLISH,
    )
    .query(&["apiProductId", "action"])
    .requires(&["apiProductId", "action"])
    .returns(200, "WorkflowResponse"),
    op(
        "get",
        "/api-products/{apiProductId}/lifecycle-state",
        "getAPIProductLifecycleState",
        "Current state and allowed actions",
        API_LIFECYCLE_VIEW,
    )
    .returns(200, "LifecycleState"),
    op(
        "get",
        "/api-products/{apiProductId}/lifecycle-history",
        "getAPIProductLifecycleHistory",
        "Lifecycle history",
        API_LIFECYCLE_VIEW,
    )
    .returns(200, "List"),
    op(
        "get",
        "/api-products/{apiProductId}/revisions",
        "getAPIProductRevisions",
        "List revisions",
        API_LIFECYCLE_VIEW,
    )
    .returns(200, "List"),
    op(
        "post",
        "/api-products/{apiProductId}/revisions",
        "createAPIProductRevision",
        "Freeze the product and its APIs as a revision (at most 5)",
        API_DEPLOY,
    )
    .body(Body::Json("Object"))
    .returns(201, "Object"),
    op(
        "get",
        "/api-products/{apiProductId}/revisions/{revisionId}",
        "getAPIProductRevision",
        "Get a revision",
        API_LIFECYCLE_VIEW,
    )
    .returns(200, "Object"),
    op(
        "delete",
        "/api-products/{apiProductId}/revisions/{revisionId}",
        "deleteAPIProductRevision",
        "Delete an undeployed revision",
        API_DEPLOY,
    ),
    op(
        "post",
        "/api-products/{apiProductId}/deploy-revision",
        "deployAPIProductRevision",
        "Deploy a revision to environments",
        API_DEPLOY,
    )
    .query(&["revisionId"])
    .requires(&["revisionId"])
    .body(Body::Json("DeploymentList"))
    .returns(201, ""),
    op(
        "post",
        "/api-products/{apiProductId}/undeploy-revision",
        "undeployAPIProductRevision",
        "Undeploy a revision",
        API_DEPLOY,
    )
    .query(&["revisionId"])
    .requires(&["revisionId"])
    .body(Body::Json("DeploymentList"))
    .returns(201, ""),
    op(
        "get",
        "/api-products/{apiProductId}/deployments",
        "getAPIProductRevisionDeployments",
        "Deployments with gateway status",
        API_LIFECYCLE_VIEW,
    )
    .returns(200, "List"),
    op(
        "get",
        "/apis/{apiId}/client-certificates",
        "getAPIClientCertificates",
        "List the API's client certificates (mutual TLS)",
        CLIENT_CERTIFICATES_VIEW,
    )
    .query(&["limit", "offset", "alias"])
    .returns(200, "ClientCertificates"),
    op(
        "post",
        "/apis/{apiId}/client-certificates",
        "addAPIClientCertificate",
        "Upload a client certificate (PEM or DER; 409 for a taken alias)",
        CLIENT_CERTIFICATES_ADD,
    )
    .body(Body::Multipart(&["certificate", "alias", "tier"]))
    .returns(200, "ClientCertMetadata"),
    op(
        "get",
        "/apis/{apiId}/client-certificates/{alias}",
        "getAPIClientCertificateByAlias",
        "A client certificate's subject, issuer and validity",
        CLIENT_CERTIFICATES_VIEW,
    )
    .returns(200, "CertificateInfo"),
    op(
        "put",
        "/apis/{apiId}/client-certificates/{alias}",
        "updateAPIClientCertificateByAlias",
        "Replace a client certificate and/or its tier",
        CLIENT_CERTIFICATES_UPDATE,
    )
    .body(Body::Multipart(&["certificate", "tier"]))
    .returns(200, "ClientCertMetadata"),
    op(
        "delete",
        "/apis/{apiId}/client-certificates/{alias}",
        "deleteAPIClientCertificateByAlias",
        "Delete a client certificate",
        CLIENT_CERTIFICATES_UPDATE,
    ),
    op(
        "get",
        "/apis/{apiId}/client-certificates/{alias}/content",
        "getAPIClientCertificateContentByAlias",
        "Download a client certificate (PEM)",
        CLIENT_CERTIFICATES_VIEW,
    ),
    op(
        "get",
        "/endpoint-certificates",
        "getEndpointCertificates",
        "Endpoint certificates (gateways trust them for TLS to the endpoint's host)",
        EP_CERTIFICATES_VIEW,
    )
    .query(&["limit", "offset", "alias", "endpoint"])
    .returns(200, "Object"),
    op(
        "post",
        "/endpoint-certificates",
        "addEndpointCertificate",
        "Upload a certificate for an endpoint (409 for a taken alias)",
        EP_CERTIFICATES_ADD,
    )
    .body(Body::Multipart(&["certificate", "alias", "endpoint"]))
    .returns(200, "Object"),
    op(
        "get",
        "/endpoint-certificates/{alias}",
        "getEndpointCertificateByAlias",
        "An endpoint certificate's subject and validity",
        EP_CERTIFICATES_VIEW,
    )
    .returns(200, "CertificateInfo"),
    op(
        "put",
        "/endpoint-certificates/{alias}",
        "updateEndpointCertificateByAlias",
        "Replace an endpoint certificate",
        EP_CERTIFICATES_UPDATE,
    )
    .body(Body::Multipart(&["certificate"]))
    .returns(200, "Object"),
    op(
        "delete",
        "/endpoint-certificates/{alias}",
        "deleteEndpointCertificateByAlias",
        "Delete an endpoint certificate",
        EP_CERTIFICATES_UPDATE,
    ),
    op(
        "get",
        "/endpoint-certificates/{alias}/content",
        "getEndpointCertificateContentByAlias",
        "Download an endpoint certificate (PEM)",
        EP_CERTIFICATES_VIEW,
    ),
    op(
        "get",
        "/endpoint-certificates/{alias}/usage",
        "getCertificateUsageByAlias",
        "The APIs with an endpoint on the certificate's host",
        EP_CERTIFICATES_VIEW,
    )
    .query(&["limit", "offset"])
    .returns(200, "List"),
    op(
        "get",
        "/operation-policies",
        "getAllCommonOperationPolicies",
        "Built-in and imported common operation policies",
        COMMON_POLICY_VIEW,
    )
    .query(&["limit", "offset", "query"])
    .returns(200, "List"),
    op(
        "post",
        "/operation-policies",
        "addCommonOperationPolicy",
        "Import a common operation policy (spec + definition)",
        COMMON_POLICY_MANAGE,
    )
    .body(Body::Multipart(&["policySpecFile", "synapsePolicyDefinitionFile", "ccPolicyDefinitionFile"]))
    .returns(201, "Object"),
    op(
        "get",
        "/operation-policies/{operationPolicyId}",
        "getCommonOperationPolicyByPolicyId",
        "One common operation policy",
        COMMON_POLICY_VIEW,
    )
    .returns(200, "Object"),
    op(
        "delete",
        "/operation-policies/{operationPolicyId}",
        "deleteCommonOperationPolicyByPolicyId",
        "Delete an imported common operation policy (403 for a built-in)",
        COMMON_POLICY_MANAGE,
    ),
    op(
        "get",
        "/operation-policies/{operationPolicyId}/content",
        "getCommonOperationPolicyContentByPolicyId",
        "A common operation policy as a zip",
        COMMON_POLICY_VIEW,
    ),
    op(
        "get",
        "/apis/{apiId}/operation-policies",
        "getAllAPISpecificOperationPolicies",
        "The API's own operation policies",
        API_POLICY_VIEW,
    )
    .query(&["limit", "offset"])
    .returns(200, "List"),
    op(
        "post",
        "/apis/{apiId}/operation-policies",
        "addAPISpecificOperationPolicy",
        "Import an operation policy for this API",
        API_POLICY_MANAGE,
    )
    .body(Body::Multipart(&["policySpecFile", "synapsePolicyDefinitionFile", "ccPolicyDefinitionFile"]))
    .returns(201, "Object"),
    op(
        "get",
        "/apis/{apiId}/operation-policies/{operationPolicyId}",
        "getOperationPolicyForAPIByPolicyId",
        "One of the API's own operation policies",
        API_POLICY_VIEW,
    )
    .returns(200, "Object"),
    op(
        "delete",
        "/apis/{apiId}/operation-policies/{operationPolicyId}",
        "deleteAPISpecificOperationPolicyByPolicyId",
        "Delete one of the API's own operation policies",
        API_POLICY_MANAGE,
    ),
    op(
        "get",
        "/apis/{apiId}/operation-policies/{operationPolicyId}/content",
        "getAPISpecificOperationPolicyContentByPolicyId",
        "One of the API's own operation policies as a zip",
        API_POLICY_VIEW,
    ),
    op(
        "get",
        "/gateway-policies",
        "getAllGatewayPolicies",
        "Gateway policy mappings",
        GATEWAY_POLICY_VIEW,
    )
    .query(&["limit", "offset", "query"])
    .returns(200, "List"),
    op(
        "post",
        "/gateway-policies",
        "addGatewayPoliciesToFlows",
        "Create a gateway policy mapping",
        GATEWAY_POLICY_MANAGE,
    )
    .body(Body::Json("Object"))
    .returns(201, "Object"),
    op(
        "get",
        "/gateway-policies/{gatewayPolicyMappingId}",
        "getGatewayPolicyMappingContentByPolicyMappingId",
        "One gateway policy mapping",
        GATEWAY_POLICY_VIEW,
    )
    .returns(200, "Object"),
    op(
        "put",
        "/gateway-policies/{gatewayPolicyMappingId}",
        "updateGatewayPoliciesToFlows",
        "Change a gateway policy mapping",
        GATEWAY_POLICY_MANAGE,
    )
    .body(Body::Json("Object"))
    .returns(200, "Object"),
    op(
        "delete",
        "/gateway-policies/{gatewayPolicyMappingId}",
        "deleteGatewayPolicyByPolicyId",
        "Delete a gateway policy mapping (412 while deployed)",
        GATEWAY_POLICY_MANAGE,
    ),
    op(
        "post",
        "/gateway-policies/{gatewayPolicyMappingId}/deploy",
        "engageGlobalPolicy",
        "Deploy or undeploy a gateway policy mapping per environment",
        GATEWAY_POLICY_MANAGE,
    )
    .body(Body::Json("GatewayPolicyDeploymentList"))
    .returns(200, "GatewayPolicyDeploymentList"),
    op(
        "get",
        "/subscriptions",
        "getSubscriptions",
        "Subscriptions to an API",
        SUBSCRIPTION_VIEW,
    )
    .query(&["apiId"])
    .requires(&["apiId"])
    .returns(200, "List"),
    op(
        "post",
        "/subscriptions/block-subscription",
        "blockSubscription",
        "Block a subscription",
        SUBSCRIPTION_BLOCK,
    )
    .query(&["subscriptionId", "blockState"])
    .requires(&["subscriptionId", "blockState"]),
    op(
        "post",
        "/subscriptions/unblock-subscription",
        "unBlockSubscription",
        "Unblock a subscription",
        SUBSCRIPTION_BLOCK,
    )
    .query(&["subscriptionId"])
    .requires(&["subscriptionId"]),
    op(
        "get",
        "/ai-service-providers",
        "getAIServiceProviders",
        "LLM providers an AI API can front",
        LLM_PROVIDER_READ,
    )
    .returns(200, "AIServiceProviderSummaryResponseList"),
    op(
        "get",
        "/ai-service-providers/{aiServiceProviderId}",
        "getAIServiceProvider",
        "Get an LLM provider",
        LLM_PROVIDER_READ,
    )
    .returns(200, "AIServiceProviderResponse"),
    op(
        "get",
        "/ai-service-providers/{aiServiceProviderId}/api-definition",
        "getAIServiceProviderApiDefinition",
        "An LLM provider's OpenAPI document",
        LLM_PROVIDER_READ,
    ),
    op(
        "get",
        "/ai-service-providers/{aiServiceProviderId}/endpoint-configuration",
        "getAIServiceProviderEndpointConfiguration",
        "How an LLM provider takes its key",
        LLM_PROVIDER_READ,
    )
    .returns(200, "AIServiceProviderEndpointConfiguration"),
    op(
        "get",
        "/ai-service-providers/{aiServiceProviderId}/models",
        "getAIServiceProviderModels",
        "An LLM provider's models",
        LLM_PROVIDER_READ,
    ),
    op(
        "get",
        "/mcp-servers",
        "getAllMCPServers",
        "List or search MCP servers",
        MCP_SERVER_VIEW,
    )
    .query(PAGING)
    .returns(200, "List"),
    op(
        "post",
        "/mcp-servers/generate-from-api",
        "createMCPServerFromAPI",
        "Create an MCP server whose tools are operations of an API",
        MCP_SERVER_CREATE,
    )
    .body(Body::Json("Object"))
    .returns(201, "Object"),
    op(
        "post",
        "/mcp-servers/generate-from-openapi",
        "createMCPServerFromOpenAPI",
        "Create an MCP server from an OpenAPI document",
        MCP_SERVER_CREATE,
    )
    .body(Body::Multipart(&["file", "inlineAPIDefinition", "additionalProperties"]))
    .returns(201, "Object"),
    op(
        "post",
        "/mcp-servers/generate-from-mcp-server",
        "createMCPServerProxy",
        "Create an MCP server proxying a third-party one (tools discovered at once)",
        MCP_SERVER_CREATE,
    )
    .body(Body::Json("Object"))
    .returns(201, "Object"),
    op(
        "post",
        "/mcp-servers/validate-mcp-server",
        "validateThirdPartyMCPServer",
        "List a third-party MCP server's tools",
        MCP_SERVER_CREATE,
    )
    .body(Body::Json("Object"))
    .returns(200, "Object"),
    op(
        "post",
        "/mcp-servers/change-lifecycle",
        "changeMCPServerLifecycle",
        "Change an MCP server's lifecycle state",
        MCP_SERVER_PUBLISH,
    )
    .query(&["mcpServerId", "action"])
    .requires(&["mcpServerId", "action"])
    .returns(200, "Object"),
    op(
        "get",
        "/mcp-servers/{mcpServerId}",
        "getMCPServer",
        "Get an MCP server with its tools",
        MCP_SERVER_VIEW,
    )
    .returns(200, "Object"),
    op(
        "delete",
        "/mcp-servers/{mcpServerId}",
        "deleteMCPServer",
        "Delete an MCP server",
        MCP_SERVER_DELETE,
    ),
    op(
        "get",
        "/mcp-servers/{mcpServerId}/revisions",
        "getMCPServerRevisions",
        "List an MCP server's revisions",
        MCP_SERVER_LIFECYCLE_VIEW,
    )
    .returns(200, "List"),
    op(
        "post",
        "/mcp-servers/{mcpServerId}/revisions",
        "createMCPServerRevision",
        "Snapshot an MCP server's revision",
        MCP_SERVER_DEPLOY,
    )
    .body(Body::Json("Object"))
    .returns(201, "Object"),
    op(
        "post",
        "/mcp-servers/{mcpServerId}/deploy-revision",
        "deployMCPServerRevision",
        "Deploy an MCP server's revision",
        MCP_SERVER_DEPLOY,
    )
    .query(&["revisionId"])
    .requires(&["revisionId"])
    .body(Body::Json("DeploymentList"))
    .returns(201, ""),
    op(
        "get",
        "/mcp-servers/{mcpServerId}/deployments",
        "getMCPServerRevisionDeployments",
        "An MCP server's deployments with gateway status",
        MCP_SERVER_LIFECYCLE_VIEW,
    )
    .returns(200, "List"),
    op(
        "get",
        "/apis/{apiId}/comments",
        "getAllCommentsOfAPI",
        "The API's comments, newest first, each with its first replies",
        COMMENT_VIEW_API,
    )
    .query(&["limit", "offset", "includeCommenterInfo"])
    .returns(200, "List"),
    op(
        "post",
        "/apis/{apiId}/comments",
        "addCommentToAPI",
        "Add a comment, or a reply with replyTo",
        COMMENT_WRITE,
    )
    .query(&["replyTo"])
    .body(Body::Json("Object"))
    .returns(201, "Object"),
    op(
        "get",
        "/apis/{apiId}/comments/{commentId}",
        "getCommentOfAPI",
        "One comment and a page of its replies",
        COMMENT_VIEW_API,
    )
    .query(&["includeCommenterInfo", "replyLimit", "replyOffset"])
    .returns(200, "Object"),
    op(
        "patch",
        "/apis/{apiId}/comments/{commentId}",
        "editCommentOfAPI",
        "Edit one's own comment",
        COMMENT_WRITE,
    )
    .body(Body::Json("Object"))
    .returns(200, "Object"),
    op(
        "delete",
        "/apis/{apiId}/comments/{commentId}",
        "deleteComment",
        "Delete a comment and its replies (its author, or a moderator)",
        COMMENT_DELETE,
    ),
    op(
        "get",
        "/apis/{apiId}/comments/{commentId}/replies",
        "getRepliesOfComment",
        "A page of a comment's replies, oldest first",
        COMMENT_VIEW_API,
    )
    .query(&["limit", "offset", "includeCommenterInfo"])
    .returns(200, "List"),
    op(
        "get",
        "/mcp-servers/{mcpServerId}/comments",
        "getAllCommentsOfMCPServer",
        "The MCP server's comments, newest first, each with its first replies",
        COMMENT_VIEW_MCP,
    )
    .query(&["limit", "offset", "includeCommenterInfo"])
    .returns(200, "List"),
    op(
        "post",
        "/mcp-servers/{mcpServerId}/comments",
        "addCommentToMCPServer",
        "Add a comment, or a reply with replyTo",
        COMMENT_WRITE,
    )
    .query(&["replyTo"])
    .body(Body::Json("Object"))
    .returns(201, "Object"),
    op(
        "get",
        "/mcp-servers/{mcpServerId}/comments/{commentId}",
        "getCommentOfMCPServer",
        "One comment and a page of its replies",
        COMMENT_VIEW_MCP,
    )
    .query(&["includeCommenterInfo", "replyLimit", "replyOffset"])
    .returns(200, "Object"),
    op(
        "patch",
        "/mcp-servers/{mcpServerId}/comments/{commentId}",
        "editCommentOfMCPServer",
        "Edit one's own comment",
        COMMENT_WRITE,
    )
    .body(Body::Json("Object"))
    .returns(200, "Object"),
    op(
        "delete",
        "/mcp-servers/{mcpServerId}/comments/{commentId}",
        "deleteCommentOfMCPServer",
        "Delete a comment and its replies (its author, or a moderator)",
        COMMENT_DELETE,
    ),
    op(
        "get",
        "/mcp-servers/{mcpServerId}/comments/{commentId}/replies",
        "getRepliesOfCommentOfMCPServer",
        "A page of a comment's replies, oldest first",
        COMMENT_VIEW_MCP,
    )
    .query(&["limit", "offset", "includeCommenterInfo"])
    .returns(200, "List"),
    op(
        "get",
        "/api-categories",
        "getAllAPICategories",
        "The API categories",
        CATEGORY_VIEW,
    )
    .returns(200, "List"),
    op(
        "get",
        "/scopes",
        "getSharedScopes",
        "Shared scopes, with usageCount",
        SHARED_SCOPE_VIEW,
    )
    .query(&["limit", "offset"])
    .returns(200, "List"),
    op(
        "post",
        "/scopes",
        "addSharedScope",
        "Add a shared scope (name, displayName, description, bindings: roles)",
        SHARED_SCOPE_MANAGE,
    )
    .body(Body::Json("Object"))
    .returns(201, "Object"),
    op(
        "get",
        "/scopes/{scopeId}",
        "getSharedScope",
        "One shared scope",
        SHARED_SCOPE_VIEW,
    )
    .returns(200, "Object"),
    op(
        "put",
        "/scopes/{scopeId}",
        "updateSharedScope",
        "Change a shared scope's names and bindings (not its name)",
        SHARED_SCOPE_MANAGE,
    )
    .body(Body::Json("Object"))
    .returns(200, "Object"),
    op(
        "delete",
        "/scopes/{scopeId}",
        "deleteSharedScope",
        "Delete a shared scope no API uses (409 otherwise)",
        SHARED_SCOPE_MANAGE,
    ),
    op(
        "head",
        "/scopes/{scopeId}",
        "validateScope",
        "200 when a scope has this (Base64 URL-encoded) name",
        SCOPE_VALIDATE,
    ),
    op(
        "get",
        "/scopes/{scopeId}/usage",
        "getSharedScopeUsages",
        "The APIs and resources using a shared scope",
        SHARED_SCOPE_USAGE,
    )
    .returns(200, "Object"),
    op(
        "head",
        "/roles/{roleId}",
        "validateSystemRole",
        "200 when the (Base64 URL-encoded) role exists",
        ROLE_VALIDATE,
    ),
    op(
        "head",
        "/me/roles/{roleId}",
        "validateUserRole",
        "200 when the caller holds the (Base64 URL-encoded) role",
        ME_ROLE,
    ),
    op(
        "post",
        "/apis/import-graphql-schema",
        "importGraphQLSchema",
        "Create a GraphQL API from its SDL schema",
        API_CREATE,
    )
    .body(Body::Multipart(&["file", "additionalProperties"]))
    .returns(201, "API"),
    op(
        "post",
        "/apis/validate-graphql-schema",
        "validateGraphQLSchema",
        "Validate a GraphQL SDL schema",
        API_CREATE,
    )
    .body(Body::Multipart(&["file"])),
    op(
        "get",
        "/apis/{apiId}/graphql-schema",
        "getAPIGraphQLSchema",
        "A GraphQL API's schema",
        API_VIEW,
    ),
    op(
        "put",
        "/apis/{apiId}/graphql-schema",
        "updateAPIGraphQLSchema",
        "Replace a GraphQL API's schema (its operations follow the root fields)",
        API_CREATE,
    )
    .body(Body::Multipart(&["schemaDefinition"])),
    op(
        "get",
        "/apis/{apiId}/graphql-policies/complexity",
        "getGraphQLPolicyComplexityOfAPI",
        "A GraphQL API's per-field complexity values",
        API_VIEW,
    ),
    op(
        "put",
        "/apis/{apiId}/graphql-policies/complexity",
        "updateGraphQLPolicyComplexityOfAPI",
        "Replace a GraphQL API's per-field complexity values",
        API_CREATE,
    )
    .body(Body::Json("Object")),
    op(
        "get",
        "/apis/{apiId}/graphql-policies/complexity/types",
        "getGraphQLPolicyComplexityTypesOfAPI",
        "The types and fields of a GraphQL API's schema",
        API_VIEW,
    ),
];

const PROVIDER_FORM: &[&str] = &[
    "name",
    "apiVersion",
    "description",
    "configurations",
    "apiDefinition",
    "modelList",
];

/// Devportal v3.
pub const DEVPORTAL: &[Operation] = &[
    op(
        "get",
        "/apis",
        "apisGet",
        "Browse or search published APIs (anonymous allowed)",
        &[],
    )
    .query(PAGING)
    .returns(200, "APIList"),
    op(
        "get",
        "/apis/{apiId}",
        "apisApiIdGet",
        "A published API",
        &[],
    )
    .returns(200, "Object"),
    op(
        "get",
        "/apis/{apiId}/swagger",
        "apisApiIdSwaggerGet",
        "A published API's OpenAPI document, with the gateway URL as its server",
        &[],
    )
    .returns(200, "Object"),
    op(
        "get",
        "/apis/{apiId}/subscription-policies",
        "apisApiIdSubscriptionPoliciesGet",
        "The subscription tiers an API offers (an array, as WSO2 answers)",
        &[],
    ),
    op(
        "get",
        "/throttling-policies/{policyLevel}",
        "throttlingPoliciesPolicyLevelGet",
        "Tiers of a level (application, subscription)",
        &[],
    )
    .query(&["limit", "offset"])
    .returns(200, "List"),
    op(
        "get",
        "/throttling-policies/{policyLevel}/{policyId}",
        "throttlingPoliciesPolicyLevelPolicyIdGet",
        "One tier (by name)",
        &[],
    )
    .returns(200, "Object"),
    op(
        "get",
        "/tags",
        "tagsGet",
        "Tags of the APIs you may see, with counts",
        &[],
    )
    .query(&["limit", "offset"])
    .returns(200, "List"),
    op(
        "get",
        "/search",
        "searchGet",
        "Search the APIs you may see",
        &[],
    )
    .query(PAGING)
    .returns(200, "List"),
    op(
        "get",
        "/settings",
        "settingsGet",
        "Developer Portal settings",
        &[],
    )
    .returns(200, "Object"),
    op(
        "get",
        "/settings/application-attributes",
        "settingsApplicationAttributesGet",
        "Custom application attributes (none configured)",
        &[],
    )
    .returns(200, "List"),
    op(
        "get",
        "/key-managers",
        "keyManagersGet",
        "Key managers applications may get keys from",
        SUBSCRIBE,
    )
    .returns(200, "List"),
    op(
        "get",
        "/apis/{apiId}/documents",
        "apisApiIdDocumentsGet",
        "A published API's documents (API_LEVEL; PRIVATE ones when signed in)",
        &[],
    )
    .query(&["limit", "offset"])
    .returns(200, "List"),
    op(
        "get",
        "/apis/{apiId}/documents/{documentId}",
        "apisApiIdDocumentsDocumentIdGet",
        "One document",
        &[],
    )
    .returns(200, "Object"),
    op(
        "get",
        "/apis/{apiId}/documents/{documentId}/content",
        "apisApiIdDocumentsDocumentIdContentGet",
        "A document's content",
        &[],
    ),
    op(
        "get",
        "/apis/{apiId}/thumbnail",
        "apisApiIdThumbnailGet",
        "The API's thumbnail image",
        &[],
    ),
    op(
        "get",
        "/mcp-servers",
        "getAllMCPServers",
        "Browse MCP servers (anonymous allowed)",
        &[],
    )
    .query(PAGING)
    .returns(200, "List"),
    op(
        "get",
        "/mcp-servers/{mcpServerId}",
        "getMCPServer",
        "An MCP server: its tools and the client configuration to copy",
        &[],
    )
    .returns(200, "Object"),
    op(
        "get",
        "/applications/export",
        "exportApplication",
        "Export an application (subscriptions; keys with withKeys, never a secret) as a zip",
        APP_IMPORT_EXPORT,
    )
    .query(&["appName", "appOwner", "withKeys", "format"])
    .requires(&["appName", "appOwner"]),
    op(
        "post",
        "/applications/import",
        "importApplication",
        "Import an application project (zip); 207 names subscriptions not made",
        APP_IMPORT_EXPORT,
    )
    .query(&[
        "preserveOwner",
        "skipSubscriptions",
        "appOwner",
        "skipApplicationKeys",
        "update",
    ])
    .body(Body::Multipart(&["file"])),
    op(
        "get",
        "/applications",
        "applicationsGet",
        "Your applications",
        APP_MANAGE,
    )
    .query(PAGING)
    .returns(200, "ApplicationList"),
    op(
        "post",
        "/applications",
        "applicationsPost",
        "Create an application",
        APP_MANAGE,
    )
    .body(Body::Json("Application"))
    .returns(201, "Application"),
    op(
        "get",
        "/applications/{applicationId}",
        "applicationsApplicationIdGet",
        "Get an application",
        APP_MANAGE,
    )
    .returns(200, "Application"),
    op(
        "put",
        "/applications/{applicationId}",
        "applicationsApplicationIdPut",
        "Update an application",
        APP_MANAGE,
    )
    .body(Body::Json("Application"))
    .returns(200, "Application"),
    op(
        "delete",
        "/applications/{applicationId}",
        "applicationsApplicationIdDelete",
        "Delete an application",
        APP_MANAGE,
    ),
    op(
        "post",
        "/applications/{applicationId}/generate-keys",
        "applicationsApplicationIdGenerateKeysPost",
        "Create OAuth2 keys",
        APP_MANAGE,
    )
    .body(Body::Json("Object"))
    .returns(200, "ApplicationKey"),
    op(
        "post",
        "/applications/{applicationId}/map-keys",
        "applicationsApplicationIdMapKeysPost",
        "Map a client of an external key manager",
        APP_MANAGE,
    )
    .body(Body::Json("Object"))
    .returns(200, "ApplicationKey"),
    op(
        "get",
        "/applications/{applicationId}/oauth-keys",
        "applicationsApplicationIdOauthKeysGet",
        "Key mappings",
        APP_MANAGE,
    )
    .returns(200, "List"),
    op(
        "get",
        "/applications/{applicationId}/oauth-keys/{keyMappingId}",
        "applicationsApplicationIdOauthKeysKeyMappingIdGet",
        "One key mapping",
        APP_MANAGE,
    )
    .returns(200, "ApplicationKey"),
    op(
        "put",
        "/applications/{applicationId}/oauth-keys/{keyMappingId}",
        "applicationsApplicationIdOauthKeysKeyMappingIdPut",
        "Change the grant types and callback URL of keys",
        APP_MANAGE,
    )
    .body(Body::Json("ApplicationKey"))
    .returns(200, "ApplicationKey"),
    op(
        "delete",
        "/applications/{applicationId}/oauth-keys/{keyMappingId}",
        "deleteKeyMapping",
        "Delete keys (their tokens die)",
        APP_MANAGE,
    ),
    op(
        "get",
        "/applications/{applicationId}/keys",
        "applicationsApplicationIdKeysGet",
        "Keys of an application (older form of oauth-keys)",
        APP_MANAGE,
    )
    .returns(200, "List"),
    op(
        "get",
        "/applications/{applicationId}/keys/{keyType}",
        "applicationsApplicationIdKeysKeyTypeGet",
        "Keys of a type (older form of oauth-keys/{keyMappingId})",
        APP_MANAGE,
    )
    .returns(200, "ApplicationKey"),
    op(
        "put",
        "/applications/{applicationId}/keys/{keyType}",
        "applicationsApplicationIdKeysKeyTypePut",
        "Change the grant types and callback URL of keys of a type",
        APP_MANAGE,
    )
    .body(Body::Json("ApplicationKey"))
    .returns(200, "ApplicationKey"),
    op(
        "post",
        "/applications/{applicationId}/keys/{keyType}/regenerate-secret",
        "applicationsApplicationIdKeysKeyTypeRegenerateSecretPost",
        "New consumer secret for keys of a type",
        APP_MANAGE,
    ),
    op(
        "post",
        "/applications/{applicationId}/keys/{keyType}/clean-up",
        "applicationsApplicationIdKeysKeyTypeCleanUpPost",
        "Remove keys of a type",
        APP_MANAGE,
    ),
    op(
        "post",
        "/applications/{applicationId}/keys/{keyType}/generate-token",
        "applicationsApplicationIdKeysKeyTypeGenerateTokenPost",
        "A test token from keys of a type",
        APP_MANAGE,
    )
    .body(Body::Json("Object")),
    op(
        "post",
        "/applications/{applicationId}/oauth-keys/{keyMappingId}/regenerate-secret",
        "applicationsApplicationIdOauthKeysKeyMappingIdRegenerateSecretPost",
        "New consumer secret",
        APP_MANAGE,
    ),
    op(
        "post",
        "/applications/{applicationId}/oauth-keys/{keyMappingId}/generate-token",
        "applicationsApplicationIdOauthKeysKeyMappingIdGenerateTokenPost",
        "A test token",
        APP_MANAGE,
    )
    .body(Body::Json("Object")),
    op(
        "post",
        "/applications/{applicationId}/oauth-keys/{keyMappingId}/clean-up",
        "applicationsApplicationIdOauthKeysKeyMappingIdCleanUpPost",
        "Remove keys",
        APP_MANAGE,
    ),
    op(
        "post",
        "/applications/{applicationId}/api-keys/{keyType}/generate",
        "applicationsApplicationIdApiKeysKeyTypeGeneratePost",
        "A new API key (a signed JWT), recorded by UUID and name",
        API_KEY,
    )
    .body(Body::Json("Object"))
    .returns(200, "Object"),
    op(
        "get",
        "/applications/{applicationId}/api-keys/{keyType}",
        "applicationsApplicationIdApiKeysKeyTypeGet",
        "The application's API keys (UUID, name, issue time; never the key)",
        API_KEY,
    )
    .returns(200, "List"),
    op(
        "post",
        "/applications/{applicationId}/api-keys/{keyType}/regenerate",
        "applicationsApplicationIdApiKeysKeyTypeRegeneratePost",
        "A new key under the same name; the old one is revoked",
        API_KEY,
    )
    .body(Body::Json("Object"))
    .returns(200, "Object"),
    op(
        "post",
        "/applications/{applicationId}/api-keys/{keyType}/revoke",
        "applicationsApplicationIdApiKeysKeyTypeRevokePost",
        "Revoke an API key (by the key or its UUID)",
        API_KEY,
    )
    .body(Body::Json("Object")),
    op(
        "get",
        "/subscriptions",
        "subscriptionsGet",
        "Subscriptions of an application or to an API",
        SUBSCRIBE,
    )
    .query(&["applicationId", "apiId"])
    .returns(200, "List"),
    op(
        "post",
        "/subscriptions",
        "subscriptionsPost",
        "Subscribe under a tier the API offers",
        SUBSCRIBE,
    )
    .body(Body::Json("Subscription"))
    .returns(201, "Subscription"),
    op(
        "get",
        "/subscriptions/{subscriptionId}",
        "subscriptionsSubscriptionIdGet",
        "Get a subscription",
        SUBSCRIBE,
    )
    .returns(200, "Subscription"),
    op(
        "put",
        "/subscriptions/{subscriptionId}",
        "subscriptionsSubscriptionIdPut",
        "Change the tier",
        SUBSCRIBE,
    )
    .body(Body::Json("Subscription"))
    .returns(200, "Subscription"),
    op(
        "delete",
        "/subscriptions/{subscriptionId}",
        "subscriptionsSubscriptionIdDelete",
        "Unsubscribe",
        SUBSCRIBE,
    ),
    op(
        "get",
        "/apis/{apiId}/comments",
        "getAllCommentsOfAPI",
        "The API's comments, newest first, each with its first replies",
        &[],
    )
    .query(&["limit", "offset", "includeCommenterInfo"])
    .returns(200, "List"),
    op(
        "post",
        "/apis/{apiId}/comments",
        "addCommentToAPI",
        "Add a comment, or a reply with replyTo",
        SUBSCRIBE,
    )
    .query(&["replyTo"])
    .body(Body::Json("Object"))
    .returns(201, "Object"),
    op(
        "get",
        "/apis/{apiId}/comments/{commentId}",
        "getCommentOfAPI",
        "One comment and a page of its replies",
        &[],
    )
    .query(&["includeCommenterInfo", "replyLimit", "replyOffset"])
    .returns(200, "Object"),
    op(
        "patch",
        "/apis/{apiId}/comments/{commentId}",
        "editCommentOfAPI",
        "Edit one's own comment",
        SUBSCRIBE,
    )
    .body(Body::Json("Object"))
    .returns(200, "Object"),
    op(
        "delete",
        "/apis/{apiId}/comments/{commentId}",
        "deleteComment",
        "Delete a comment and its replies (its author, or a moderator)",
        SUBSCRIBE_OR_ADMIN,
    ),
    op(
        "get",
        "/apis/{apiId}/comments/{commentId}/replies",
        "getRepliesOfComment",
        "A page of a comment's replies, oldest first",
        &[],
    )
    .query(&["limit", "offset", "includeCommenterInfo"])
    .returns(200, "List"),
    op(
        "get",
        "/mcp-servers/{mcpServerId}/comments",
        "getAllCommentsOfMCPServer",
        "The MCP server's comments, newest first, each with its first replies",
        &[],
    )
    .query(&["limit", "offset", "includeCommenterInfo"])
    .returns(200, "List"),
    op(
        "post",
        "/mcp-servers/{mcpServerId}/comments",
        "addCommentToMCPServer",
        "Add a comment, or a reply with replyTo",
        SUBSCRIBE,
    )
    .query(&["replyTo"])
    .body(Body::Json("Object"))
    .returns(201, "Object"),
    op(
        "get",
        "/mcp-servers/{mcpServerId}/comments/{commentId}",
        "getCommentOfMCPServer",
        "One comment and a page of its replies",
        &[],
    )
    .query(&["includeCommenterInfo", "replyLimit", "replyOffset"])
    .returns(200, "Object"),
    op(
        "patch",
        "/mcp-servers/{mcpServerId}/comments/{commentId}",
        "editCommentOfMCPServer",
        "Edit one's own comment",
        SUBSCRIBE,
    )
    .body(Body::Json("Object"))
    .returns(200, "Object"),
    op(
        "delete",
        "/mcp-servers/{mcpServerId}/comments/{commentId}",
        "deleteCommentOfMCPServer",
        "Delete a comment and its replies (its author, or a moderator)",
        SUBSCRIBE_OR_ADMIN,
    ),
    op(
        "get",
        "/mcp-servers/{mcpServerId}/comments/{commentId}/replies",
        "getRepliesOfCommentOfMCPServer",
        "A page of a comment's replies, oldest first",
        &[],
    )
    .query(&["limit", "offset", "includeCommenterInfo"])
    .returns(200, "List"),
    op(
        "get",
        "/apis/{apiId}/ratings",
        "apisApiIdRatingsGet",
        "Ratings: the average, the caller's own and a page of them",
        &[],
    )
    .query(&["limit", "offset"])
    .returns(200, "List"),
    op(
        "get",
        "/apis/{apiId}/user-rating",
        "apisApiIdUserRatingGet",
        "The caller's rating (404 when none)",
        SUBSCRIBE,
    )
    .returns(200, "Object"),
    op(
        "put",
        "/apis/{apiId}/user-rating",
        "apisApiIdUserRatingPut",
        "Rate it, 1 to 5 (or change one's rating)",
        SUBSCRIBE,
    )
    .body(Body::Json("Object"))
    .returns(200, "Object"),
    op(
        "delete",
        "/apis/{apiId}/user-rating",
        "apisApiIdUserRatingDelete",
        "Remove one's rating",
        SUBSCRIBE,
    ),
    op(
        "get",
        "/mcp-servers/{mcpServerId}/ratings",
        "getMCPServerRatings",
        "Ratings: the average, the caller's own and a page of them",
        &[],
    )
    .query(&["limit", "offset"])
    .returns(200, "List"),
    op(
        "get",
        "/mcp-servers/{mcpServerId}/user-rating",
        "getMCPServerRating",
        "The caller's rating (404 when none)",
        SUBSCRIBE,
    )
    .returns(200, "Object"),
    op(
        "put",
        "/mcp-servers/{mcpServerId}/user-rating",
        "addMCPServerRating",
        "Rate it, 1 to 5 (or change one's rating)",
        SUBSCRIBE,
    )
    .body(Body::Json("Object"))
    .returns(200, "Object"),
    op(
        "delete",
        "/mcp-servers/{mcpServerId}/user-rating",
        "deleteMCPServerRating",
        "Remove one's rating",
        SUBSCRIBE,
    ),
    op(
        "get",
        "/api-categories",
        "apiCategoriesGet",
        "The API categories",
        &[],
    )
    .returns(200, "List"),
    op(
        "get",
        "/apis/{apiId}/graphql-schema",
        "apisApiIdGraphqlSchemaGet",
        "A published GraphQL API's schema (SDL, text)",
        &[],
    ),
    op(
        "get",
        "/apis/{apiId}/graphql-policies/complexity",
        "apisApiIdGraphqlPoliciesComplexityGet",
        "A published GraphQL API's per-field complexity values",
        &[],
    ),
    op(
        "get",
        "/apis/{apiId}/graphql-policies/complexity/types",
        "apisApiIdGraphqlPoliciesComplexityTypesGet",
        "The types and fields of a published GraphQL API's schema",
        &[],
    ),
];

/// Admin v4.
pub const ADMIN: &[Operation] = &[
    op(
        "get",
        "/settings",
        "settingsGet",
        "Admin settings",
        ADMIN_OPERATIONS,
    )
    .returns(200, "Object"),
    op(
        "get",
        "/environments",
        "environmentsGet",
        "Gateway environments",
        ENVIRONMENT_READ,
    )
    .returns(200, "List"),
    op(
        "post",
        "/environments",
        "environmentsPost",
        "Add an environment",
        ENVIRONMENT_MANAGE,
    )
    .body(Body::Json("Object"))
    .returns(201, "Object"),
    op(
        "get",
        "/environments/{environmentId}",
        "environmentsEnvironmentIdGet",
        "Get an environment",
        ENVIRONMENT_READ,
    )
    .returns(200, "Object"),
    op(
        "put",
        "/environments/{environmentId}",
        "environmentsEnvironmentIdPut",
        "Update an environment",
        ENVIRONMENT_MANAGE,
    )
    .body(Body::Json("Object")),
    op(
        "delete",
        "/environments/{environmentId}",
        "environmentsEnvironmentIdDelete",
        "Delete an environment",
        ENVIRONMENT_MANAGE,
    ),
    op(
        "get",
        "/environments/{environmentId}/gateways",
        "getEnvironmentGateways",
        "Gateways connected to an environment",
        ENVIRONMENT_READ,
    )
    .returns(200, "List"),
    op(
        "get",
        "/environments/{environmentId}/gateway-tokens",
        "getGatewayTokens",
        "Gateway tokens (Gantry)",
        ENVIRONMENT_MANAGE,
    )
    .returns(200, "List"),
    op(
        "post",
        "/environments/{environmentId}/gateway-tokens",
        "createGatewayToken",
        "New gateway token, shown once (Gantry)",
        ENVIRONMENT_MANAGE,
    )
    .returns(201, "Object"),
    op(
        "delete",
        "/environments/{environmentId}/gateway-tokens/{tokenId}",
        "revokeGatewayToken",
        "Revoke a gateway token (Gantry)",
        ENVIRONMENT_MANAGE,
    ),
    op(
        "get",
        "/throttling/policies/export",
        "exportThrottlingPolicy",
        "Export a throttling policy (WSO2's ExportThrottlePolicy document)",
        POLICY_IMPORT_EXPORT,
    )
    .query(&["policyId", "name", "type", "format"]),
    op(
        "post",
        "/throttling/policies/import",
        "importThrottlingPolicy",
        "Import a throttling policy document (YAML or JSON)",
        POLICY_IMPORT_EXPORT,
    )
    .query(&["overwrite"])
    .body(Body::Multipart(&["file"])),
    op(
        "get",
        "/export/api",
        "exportAPIAdmin",
        "Export an API as a WSO2 API project (zip), as an administrator",
        API_IMPORT,
    )
    .query(&["name", "version", "providerName", "format", "preserveStatus"])
    .requires(&["name", "version"]),
    op(
        "get",
        "/export/api-product",
        "exportAPIProductAdmin",
        "Export an API product with its APIs (zip), as an administrator",
        API_PRODUCT_IMPORT,
    )
    .query(&["name", "version", "providerName", "format", "preserveStatus"])
    .requires(&["name", "version"]),
    op(
        "get",
        "/export/applications",
        "exportApplicationAdmin",
        "Export an application (zip; keys with withKeys, never a secret), as an administrator",
        APP_IMPORT_EXPORT,
    )
    .query(&["appName", "appOwner", "withKeys"])
    .requires(&["appName", "appOwner"]),
    op(
        "post",
        "/import/api",
        "importAPIAdmin",
        "Import a WSO2 API project (zip), as an administrator",
        API_IMPORT,
    )
    .query(&["preserveProvider", "overwrite"])
    .body(Body::Multipart(&["file"])),
    op(
        "post",
        "/import/api-product",
        "importAPIProductAdmin",
        "Import a WSO2 API product project (zip), as an administrator",
        API_PRODUCT_IMPORT,
    )
    .query(&[
        "preserveProvider",
        "importAPIs",
        "overwriteAPIProduct",
        "overwriteAPIs",
    ])
    .body(Body::Multipart(&["file"])),
    op(
        "post",
        "/import/applications",
        "importApplicationAdmin",
        "Import an application project (zip), as an administrator; 207 names subscriptions not made",
        APP_IMPORT_EXPORT,
    )
    .query(&[
        "preserveOwner",
        "skipSubscriptions",
        "appOwner",
        "skipApplicationKeys",
        "update",
    ])
    .body(Body::Multipart(&["file"])),
    op(
        "get",
        "/throttling/policies/subscription",
        "throttlingPoliciesSubscriptionGet",
        "Subscription tiers",
        TIER_VIEW,
    )
    .returns(200, "ThrottlePolicyList"),
    op(
        "post",
        "/throttling/policies/subscription",
        "throttlingPoliciesSubscriptionPost",
        "Add a subscription tier",
        TIER_MANAGE,
    )
    .body(Body::Json("ThrottlePolicy"))
    .returns(201, "ThrottlePolicy"),
    op(
        "get",
        "/throttling/policies/subscription/{policyId}",
        "throttlingPoliciesSubscriptionPolicyIdGet",
        "Get a subscription tier",
        TIER_VIEW,
    )
    .returns(200, "ThrottlePolicy"),
    op(
        "put",
        "/throttling/policies/subscription/{policyId}",
        "throttlingPoliciesSubscriptionPolicyIdPut",
        "Change a subscription tier",
        TIER_MANAGE,
    )
    .body(Body::Json("ThrottlePolicy"))
    .returns(200, "ThrottlePolicy"),
    op(
        "delete",
        "/throttling/policies/subscription/{policyId}",
        "throttlingPoliciesSubscriptionPolicyIdDelete",
        "Delete an unused subscription tier",
        TIER_MANAGE,
    ),
    op(
        "get",
        "/throttling/policies/application",
        "throttlingPoliciesApplicationGet",
        "Application tiers",
        TIER_VIEW,
    )
    .returns(200, "ThrottlePolicyList"),
    op(
        "post",
        "/throttling/policies/application",
        "throttlingPoliciesApplicationPost",
        "Add an application tier",
        TIER_MANAGE,
    )
    .body(Body::Json("ThrottlePolicy"))
    .returns(201, "ThrottlePolicy"),
    op(
        "get",
        "/throttling/policies/application/{policyId}",
        "throttlingPoliciesApplicationPolicyIdGet",
        "Get an application tier",
        TIER_VIEW,
    )
    .returns(200, "ThrottlePolicy"),
    op(
        "put",
        "/throttling/policies/application/{policyId}",
        "throttlingPoliciesApplicationPolicyIdPut",
        "Change an application tier",
        TIER_MANAGE,
    )
    .body(Body::Json("ThrottlePolicy"))
    .returns(200, "ThrottlePolicy"),
    op(
        "delete",
        "/throttling/policies/application/{policyId}",
        "throttlingPoliciesApplicationPolicyIdDelete",
        "Delete an unused application tier",
        TIER_MANAGE,
    ),
    op(
        "get",
        "/throttling/policies/advanced",
        "throttlingPoliciesAdvancedGet",
        "API and operation level policies",
        TIER_VIEW,
    )
    .returns(200, "ThrottlePolicyList"),
    op(
        "post",
        "/throttling/policies/advanced",
        "throttlingPoliciesAdvancedPost",
        "Add an advanced policy",
        TIER_MANAGE,
    )
    .body(Body::Json("ThrottlePolicy"))
    .returns(201, "ThrottlePolicy"),
    op(
        "get",
        "/throttling/policies/advanced/{policyId}",
        "throttlingPoliciesAdvancedPolicyIdGet",
        "Get an advanced policy",
        TIER_VIEW,
    )
    .returns(200, "ThrottlePolicy"),
    op(
        "put",
        "/throttling/policies/advanced/{policyId}",
        "throttlingPoliciesAdvancedPolicyIdPut",
        "Change an advanced policy",
        TIER_MANAGE,
    )
    .body(Body::Json("ThrottlePolicy"))
    .returns(200, "ThrottlePolicy"),
    op(
        "delete",
        "/throttling/policies/advanced/{policyId}",
        "throttlingPoliciesAdvancedPolicyIdDelete",
        "Delete an unused advanced policy",
        TIER_MANAGE,
    ),
    op(
        "get",
        "/throttling/policies/custom",
        "getAllCustomRules",
        "Custom rules: keyed limits over request attributes",
        TIER_VIEW,
    )
    .returns(200, "CustomRuleList"),
    op(
        "post",
        "/throttling/policies/custom",
        "addCustomRule",
        "Add a custom rule (keyTemplate, defaultLimit, conditions; no Siddhi)",
        TIER_MANAGE,
    )
    .body(Body::Json("CustomRule"))
    .returns(201, "CustomRule"),
    op(
        "get",
        "/throttling/policies/custom/{ruleId}",
        "getCustomRule",
        "Get a custom rule",
        TIER_VIEW,
    )
    .returns(200, "CustomRule"),
    op(
        "put",
        "/throttling/policies/custom/{ruleId}",
        "updateCustomRule",
        "Change a custom rule",
        TIER_MANAGE,
    )
    .body(Body::Json("CustomRule"))
    .returns(200, "CustomRule"),
    op(
        "delete",
        "/throttling/policies/custom/{ruleId}",
        "removeCustomRule",
        "Delete a custom rule",
        TIER_MANAGE,
    ),
    op(
        "get",
        "/throttling/deny-policies",
        "getAllDenyPolicies",
        "Deny policies (query: conditionType:<type> & conditionValue:<value>)",
        DENY_POLICY_VIEW,
    )
    .query(&["query"])
    .returns(200, "BlockingConditionList"),
    op(
        "post",
        "/throttling/deny-policies",
        "addDenyPolicy",
        "Block an API, application, user, IP address or range at every gateway",
        DENY_POLICY_MANAGE,
    )
    .body(Body::Json("BlockingCondition"))
    .returns(201, "BlockingCondition"),
    op(
        "get",
        "/throttling/deny-policy/{conditionId}",
        "getDenyPolicy",
        "Get a deny policy",
        DENY_POLICY_VIEW,
    )
    .returns(200, "BlockingCondition"),
    op(
        "patch",
        "/throttling/deny-policy/{conditionId}",
        "updateDenyPolicy",
        "Switch a deny policy on or off",
        DENY_POLICY_MANAGE,
    )
    .body(Body::Json("BlockingConditionStatus"))
    .returns(200, "BlockingCondition"),
    op(
        "delete",
        "/throttling/deny-policy/{conditionId}",
        "removeDenyPolicy",
        "Delete a deny policy",
        DENY_POLICY_MANAGE,
    ),
    op(
        "get",
        "/key-managers",
        "keyManagersGet",
        "Key managers (resident first)",
        ADMIN_OPERATIONS,
    )
    .returns(200, "List"),
    op(
        "post",
        "/key-managers",
        "keyManagersPost",
        "Add an external OIDC issuer",
        ADMIN_OPERATIONS,
    )
    .body(Body::Json("Object"))
    .returns(201, "Object"),
    op(
        "post",
        "/key-managers/discover",
        "keyManagersDiscoverPost",
        "Read an OIDC discovery document",
        ADMIN_OPERATIONS,
    )
    .body(Body::Multipart(&["url", "type"])),
    op(
        "get",
        "/key-managers/{keyManagerId}",
        "keyManagersKeyManagerIdGet",
        "Get a key manager",
        ADMIN_OPERATIONS,
    )
    .returns(200, "Object"),
    op(
        "put",
        "/key-managers/{keyManagerId}",
        "keyManagersKeyManagerIdPut",
        "Change a key manager (re-reads its JWKS)",
        ADMIN_OPERATIONS,
    )
    .body(Body::Json("Object")),
    op(
        "delete",
        "/key-managers/{keyManagerId}",
        "keyManagersKeyManagerIdDelete",
        "Delete an unused key manager",
        ADMIN_OPERATIONS,
    ),
    op(
        "get",
        "/key-manager/signing-keys",
        "getSigningKeys",
        "The resident key manager's signing keys (Gantry)",
        ADMIN_OPERATIONS,
    )
    .returns(200, "Object"),
    op(
        "post",
        "/key-manager/signing-keys/rotate",
        "rotateSigningKey",
        "Rotate the signing key now (Gantry)",
        ADMIN_OPERATIONS,
    )
    .returns(200, "Object"),
    op(
        "get",
        "/workflows",
        "workflowsGet",
        "Approval requests waiting for a decision",
        WORKFLOW_VIEW,
    )
    .query(&["workflowType", "limit", "offset"])
    .returns(200, "WorkflowList"),
    op(
        "get",
        "/workflows/{externalWorkflowRef}",
        "workflowsExternalWorkflowRefGet",
        "One approval request, with its audit trail",
        WORKFLOW_VIEW,
    )
    .returns(200, "WorkflowInfo"),
    op(
        "post",
        "/workflows/update-workflow-status",
        "workflowsUpdateWorkflowStatusPost",
        "Approve or reject a request (not one's own)",
        WORKFLOW_APPROVE,
    )
    .query(&["workflowReferenceId"])
    .requires(&["workflowReferenceId"])
    .body(Body::Json("Workflow"))
    .returns(200, "Workflow"),
    op(
        "post",
        "/workflows/callback/{externalWorkflowRef}",
        "workflowsCallbackPost",
        "An external approver's decision, signed with the webhook secret (Gantry)",
        &[],
    )
    .body(Body::Json("Workflow"))
    .returns(200, "Workflow"),
    op(
        "get",
        "/llm-providers",
        "getLLMProviders",
        "LLM providers (built-in and added)",
        LLM_PROVIDER_VIEW,
    )
    .returns(200, "LLMProviderSummaryResponseList"),
    op(
        "post",
        "/llm-providers",
        "addLLMProvider",
        "Add an LLM provider",
        LLM_PROVIDER_MANAGE,
    )
    .body(Body::Multipart(PROVIDER_FORM))
    .returns(201, "LLMProviderResponse"),
    op(
        "get",
        "/llm-providers/{llmProviderId}",
        "getLLMProvider",
        "Get an LLM provider",
        LLM_PROVIDER_VIEW,
    )
    .returns(200, "LLMProviderResponse"),
    op(
        "put",
        "/llm-providers/{llmProviderId}",
        "updateLLMProvider",
        "Change an added LLM provider",
        LLM_PROVIDER_MANAGE,
    )
    .body(Body::Multipart(PROVIDER_FORM))
    .returns(200, "LLMProviderResponse"),
    op(
        "delete",
        "/llm-providers/{llmProviderId}",
        "deleteLLMProvider",
        "Delete an added LLM provider no AI API uses",
        LLM_PROVIDER_MANAGE,
    ),
    op(
        "get",
        "/ai-service-providers",
        "getAIServiceProviders",
        "LLM providers, as AI service providers",
        LLM_PROVIDER_VIEW,
    )
    .returns(200, "AIServiceProviderSummaryResponseList"),
    op(
        "post",
        "/ai-service-providers",
        "addAIServiceProvider",
        "Add an AI service provider",
        LLM_PROVIDER_MANAGE,
    )
    .body(Body::Multipart(PROVIDER_FORM))
    .returns(201, "AIServiceProviderResponse"),
    op(
        "get",
        "/ai-service-providers/{aiServiceProviderId}",
        "getAIServiceProvider",
        "Get an AI service provider",
        LLM_PROVIDER_VIEW,
    )
    .returns(200, "AIServiceProviderResponse"),
    op(
        "put",
        "/ai-service-providers/{aiServiceProviderId}",
        "updateAIServiceProvider",
        "Change an added AI service provider",
        LLM_PROVIDER_MANAGE,
    )
    .body(Body::Multipart(PROVIDER_FORM))
    .returns(200, "AIServiceProviderResponse"),
    op(
        "delete",
        "/ai-service-providers/{aiServiceProviderId}",
        "deleteAIServiceProvider",
        "Delete an added AI service provider no AI API uses",
        LLM_PROVIDER_MANAGE,
    ),
    op(
        "get",
        "/api-categories",
        "getAllAPICategories",
        "The API categories, with how many APIs use each",
        ADMIN_OPERATIONS,
    )
    .returns(200, "List"),
    op(
        "post",
        "/api-categories",
        "addAPICategory",
        "Add an API category",
        ADMIN_OPERATIONS,
    )
    .body(Body::Json("Object"))
    .returns(201, "Object"),
    op(
        "put",
        "/api-categories/{apiCategoryId}",
        "updateAPICategory",
        "Rename or redescribe a category (APIs follow a rename)",
        ADMIN_OPERATIONS,
    )
    .body(Body::Json("Object"))
    .returns(200, "Object"),
    op(
        "delete",
        "/api-categories/{apiCategoryId}",
        "removeAPICategory",
        "Delete a category no API uses (409 otherwise)",
        ADMIN_OPERATIONS,
    ),
    op(
        "get",
        "/labels",
        "getAllLabels",
        "Gateway labels",
        LABEL_READ,
    )
    .returns(200, "List"),
    op(
        "post",
        "/labels",
        "addLabel",
        "Add a gateway label",
        LABEL_MANAGE,
    )
    .body(Body::Json("Object"))
    .returns(201, "Object"),
    op(
        "put",
        "/labels/{labelId}",
        "updateLabel",
        "Change a gateway label",
        LABEL_MANAGE,
    )
    .body(Body::Json("Object"))
    .returns(200, "Object"),
    op(
        "delete",
        "/labels/{labelId}",
        "deleteLabel",
        "Delete a gateway label",
        LABEL_MANAGE,
    ),
    op(
        "get",
        "/system-scopes",
        "systemScopesGet",
        "The REST scopes and the roles that may have each",
        SCOPE_MANAGE,
    )
    .returns(200, "List"),
    op(
        "put",
        "/system-scopes",
        "updateRolesForScope",
        "Set the roles of the listed REST scopes",
        SCOPE_MANAGE,
    )
    .body(Body::Json("Object"))
    .returns(200, "List"),
    op(
        "get",
        "/system-scopes/{scopeName}",
        "systemScopesScopeNameGet",
        "A (Base64-encoded) REST scope, if the user's roles give it",
        SCOPE_MANAGE,
    )
    .query(&["username"])
    .returns(200, "Object"),
    op(
        "get",
        "/system-scopes/role-aliases",
        "systemScopesRoleAliasesGet",
        "Role aliases",
        SCOPE_MANAGE,
    )
    .returns(200, "List"),
    op(
        "put",
        "/system-scopes/role-aliases",
        "systemScopesRoleAliasesPut",
        "Replace the role aliases",
        SCOPE_MANAGE,
    )
    .body(Body::Json("Object"))
    .returns(200, "List"),
];

/// The JSON Schemas responses and bodies are described (and checked) with.
fn schemas() -> Value {
    let string = json!({"type": "string"});
    let nullable_string = json!({"type": "string", "nullable": true});
    let list_of = |item: &str| {
        json!({"type": "object", "required": ["count", "list"], "properties": {
            "count": {"type": "integer"},
            "list": {"type": "array", "items": {"$ref": format!("#/components/schemas/{item}")}},
            "pagination": {"$ref": "#/components/schemas/Pagination"},
        }})
    };
    let provider_summary = json!({"type": "object", "required": ["name", "apiVersion"], "properties": {
        "id": string, "name": string, "apiVersion": string, "builtInSupport": {"type": "boolean"},
        "description": string}});
    let operation_policies = json!({"type": "object", "properties": {
        "request": {"type": "array", "items": {"type": "object"}},
        "response": {"type": "array", "items": {"type": "object"}}}});
    let default_limit = json!({"type": "object", "required": ["type"], "properties": {
        "type": {"type": "string", "enum": ["REQUESTCOUNTLIMIT", "BANDWIDTHLIMIT", "AIAPIQUOTALIMIT"]},
        "requestCount": {"type": "object", "properties": {
            "timeUnit": {"type": "string", "enum": ["sec", "min", "hour", "day"]},
            "unitTime": {"type": "integer"}, "requestCount": {"type": "integer"}}},
        "bandwidth": {"type": "object", "properties": {
            "timeUnit": {"type": "string", "enum": ["sec", "min", "hour", "day"]},
            "unitTime": {"type": "integer"}, "dataAmount": {"type": "integer"},
            "dataUnit": {"type": "string", "enum": ["KB", "MB"]}}}}});
    // The API's descriptive and access fields (`gantry_model::ApiDetails`), added to `API`
    // below (one `json!` of everything would pass the macro's recursion limit).
    let api_details = json!({
        "visibleRoles": {"type": "array", "items": string},
        "accessControl": {"type": "string", "enum": ["NONE", "RESTRICTED"]},
        "accessControlRoles": {"type": "array", "items": string},
        "subscriptionAvailability": {"type": "string", "enum": ["CURRENT_TENANT", "ALL_TENANTS", "SPECIFIC_TENANTS"]},
        "businessInformation": {"type": "object", "properties": {
            "businessOwner": string, "businessOwnerEmail": string,
            "technicalOwner": string, "technicalOwnerEmail": string}},
        "additionalProperties": {"type": "array", "items": {"type": "object", "required": ["name"], "properties": {
            "name": string, "value": string, "display": {"type": "boolean"}}}},
        "additionalPropertiesMap": {"type": "object"},
        "categories": {"type": "array", "items": string}, "gatewayVendor": string,
        "apiThrottlingPolicy": string, "endpointImplementationType": string});
    let condition = json!({"type": "object", "required": ["type"], "properties": {
        "type": {"type": "string", "enum": ["HEADERCONDITION", "IPCONDITION", "JWTCLAIMSCONDITION", "QUERYPARAMETERCONDITION"]},
        "invertCondition": {"type": "boolean"},
        "headerCondition": {"type": "object", "required": ["headerName", "headerValue"]},
        "ipCondition": {"type": "object"},
        "jwtClaimsCondition": {"type": "object", "required": ["claimUrl", "attribute"]},
        "queryParameterCondition": {"type": "object", "required": ["parameterName", "parameterValue"]}}});
    let conditional_groups = json!({"type": "array", "items": {"type": "object", "required": ["conditions", "limit"],
        "properties": {"description": string, "limit": default_limit,
                       "conditions": {"type": "array", "items": condition.clone()}}}});
    let custom_rule = json!({"type": "object", "required": ["policyName", "keyTemplate", "defaultLimit"], "properties": {
        "policyId": string, "policyName": string, "description": string, "type": string,
        "keyTemplate": string, "siddhiQuery": string, "defaultLimit": default_limit,
        "conditions": {"type": "array", "items": condition}}});
    let blocking_condition = json!({"type": "object", "required": ["conditionType", "conditionValue"], "properties": {
        "conditionId": string,
        "conditionType": {"type": "string", "enum": ["API", "APPLICATION", "IP", "IPRANGE", "USER"]},
        "conditionValue": {"description": "API: \"/context/version\"; APPLICATION: \"owner:name\"; USER: \"name\"; IP: {fixedIp, invert}; IPRANGE: {startingIp, endingIp, invert}"},
        "conditionStatus": {"type": "boolean"}}});
    let mut schemas = json!({
        "Error": {"type": "object", "required": ["code", "message"], "properties": {
            "code": {"type": "integer"}, "message": string, "description": string}},
        "Object": {"type": "object"},
        "List": {"type": "object", "required": ["count", "list"], "properties": {
            "count": {"type": "integer"}, "list": {"type": "array"}}},
        "Pagination": {"type": "object", "required": ["offset", "limit", "total"], "properties": {
            "offset": {"type": "integer"}, "limit": {"type": "integer"}, "total": {"type": "integer"},
            "next": string, "previous": string}},
        "APIInfo": {"type": "object", "required": ["id", "name", "context", "version", "lifeCycleStatus"], "properties": {
            "id": string, "name": string, "context": string, "version": string, "provider": string,
            "description": nullable_string,
            "lifeCycleStatus": {"type": "string", "enum": ["CREATED", "PROTOTYPED", "PUBLISHED", "BLOCKED", "DEPRECATED", "RETIRED"]}}},
        "APIList": list_of("APIInfo"),
        "API": {"type": "object", "required": ["name", "context", "version"], "properties": {
            "id": string, "name": string, "context": string, "version": string, "description": nullable_string,
            "provider": string, "lifeCycleStatus": string, "isDefaultVersion": {"type": "boolean"},
            "type": string, "transport": {"type": "array", "items": string}, "tags": {"type": "array", "items": string},
            "policies": {"type": "array", "items": string}, "securityScheme": {"type": "array", "items": string},
            "visibility": {"type": "string", "enum": ["PUBLIC", "PRIVATE", "RESTRICTED"]},
            "endpointConfig": {"type": "object"}, "corsConfiguration": {"type": "object"},
            "operations": {"type": "array", "items": {"type": "object", "required": ["target", "verb"], "properties": {
                "target": string, "verb": string, "authType": string, "throttlingPolicy": string,
                "scopes": {"type": "array", "items": string},
                "operationPolicies": operation_policies}}}}},
    });
    // Split in two: one `json!` of every schema would pass the macro's recursion limit.
    let more = json!({
        "WorkflowResponse": {"type": "object", "required": ["workflowStatus"], "properties": {
            "workflowStatus": {"type": "string", "enum": ["CREATED", "APPROVED", "REJECTED", "REGISTERED"]},
            "jsonPayload": string,
            "lifecycleState": {"$ref": "#/components/schemas/LifecycleState"}}},
        "Workflow": {"type": "object", "required": ["status"], "properties": {
            "status": {"type": "string", "enum": ["APPROVED", "REJECTED"]},
            "attributes": {"type": "object"}, "description": string}},
        "WorkflowInfo": {"type": "object", "properties": {
            "workflowType": {"type": "string", "enum": ["APPLICATION_CREATION", "APPLICATION_UPDATE",
                "SUBSCRIPTION_CREATION", "USER_SIGNUP", "APPLICATION_REGISTRATION_PRODUCTION",
                "APPLICATION_REGISTRATION_SANDBOX", "APPLICATION_DELETION", "API_STATE",
                "SUBSCRIPTION_DELETION", "SUBSCRIPTION_UPDATE", "API_PRODUCT_STATE", "REVISION_DEPLOYMENT"]},
            "workflowStatus": {"type": "string", "enum": ["APPROVED", "CREATED", "REJECTED"]},
            "createdTime": string, "updatedTime": string, "referenceId": string,
            "properties": {"type": "object"}, "description": string}},
        "WorkflowList": {"type": "object", "required": ["count", "list"], "properties": {
            "count": {"type": "integer"}, "next": string, "previous": string,
            "list": {"type": "array", "items": {"$ref": "#/components/schemas/WorkflowInfo"}}}},
        "LifecycleState": {"type": "object", "required": ["state", "availableTransitions"], "properties": {
            "state": string, "availableTransitions": {"type": "array", "items": {"type": "object", "properties": {
                "event": string, "targetState": string}}}}},
        "GatewayPolicyDeploymentList": {"type": "array", "items": {"type": "object",
            "required": ["gatewayLabel", "gatewayDeployment"], "properties": {
            "gatewayLabel": string, "gatewayDeployment": {"type": "boolean"}, "mappingUUID": string}}},
        "DeploymentList": {"type": "array", "items": {"type": "object", "required": ["name"], "properties": {
            "name": string, "vhost": string, "displayOnDevportal": {"type": "boolean"}}}},
        "Application": {"type": "object", "required": ["name", "throttlingPolicy"], "properties": {
            "applicationId": string, "name": string, "throttlingPolicy": string, "description": string,
            "tokenType": string, "status": string, "owner": string, "subscriptionCount": {"type": "integer"},
            "keys": {"type": "array"}, "attributes": {"type": "object"}}},
        "ApplicationList": list_of("Application"),
        "ApplicationKey": {"type": "object", "required": ["keyMappingId", "consumerKey", "keyType"], "properties": {
            "keyMappingId": string, "keyManager": string, "consumerKey": string,
            "consumerSecret": {"type": "string", "nullable": true}, "supportedGrantTypes": {"type": "array", "items": string},
            "keyType": {"type": "string", "enum": ["PRODUCTION", "SANDBOX"]}, "mode": {"type": "string", "enum": ["CREATED", "MAPPED"]}}},
        "Subscription": {"type": "object", "required": ["applicationId", "throttlingPolicy"], "properties": {
            "subscriptionId": string, "applicationId": string, "apiId": string, "throttlingPolicy": string,
            "status": {"type": "string", "enum": ["UNBLOCKED", "BLOCKED", "PROD_ONLY_BLOCKED", "ON_HOLD", "REJECTED", "TIER_UPDATE_PENDING"]}}},
        "ThrottlePolicy": {"type": "object", "required": ["policyName", "defaultLimit"], "properties": {
            "policyId": string, "policyName": string, "displayName": string, "description": string,
            "type": string, "defaultLimit": default_limit, "conditionalGroups": conditional_groups}},
        "ThrottlePolicyList": list_of("ThrottlePolicy"),
        "CustomRule": custom_rule,
        "CustomRuleList": list_of("CustomRule"),
        "BlockingCondition": blocking_condition,
        "BlockingConditionList": list_of("BlockingCondition"),
        "BlockingConditionStatus": {"type": "object", "required": ["conditionStatus"], "properties": {
            "conditionId": string, "conditionStatus": {"type": "boolean"}}},
        "ClientCertMetadata": {"type": "object", "required": ["alias", "apiId", "tier"], "properties": {
            "alias": string, "apiId": string, "tier": string}},
        "ClientCertificates": {"type": "object", "required": ["count", "certificates"], "properties": {
            "count": {"type": "integer"},
            "certificates": {"type": "array", "items": {"$ref": "#/components/schemas/ClientCertMetadata"}},
            "pagination": {"$ref": "#/components/schemas/Pagination"}}},
        "CertificateInfo": {"type": "object", "required": ["status", "validity", "subject"], "properties": {
            "status": string, "version": string, "subject": string, "issuer": string,
            "serialNumber": string, "tier": string,
            "validity": {"type": "object", "required": ["from", "to"], "properties": {"from": string, "to": string}}}},
    });
    if let (Some(all), Value::Object(more)) = (schemas.as_object_mut(), more) {
        all.extend(more);
    }
    // An LLM provider in full: the summary, its configurations and definition, and its
    // models as a list (`LLMProviderResponse`) or grouped (`AIServiceProviderResponse`).
    let provider = |models: (&str, Value)| {
        let mut full = provider_summary.clone();
        full["required"] = json!(["id", "name", "apiVersion", "configurations"]);
        if let Some(properties) = full["properties"].as_object_mut() {
            properties.insert("configurations".into(), string.clone());
            properties.insert("apiDefinition".into(), string.clone());
            properties.insert(
                "multipleModelProviderSupport".into(),
                json!({"type": "boolean"}),
            );
            properties.insert(models.0.into(), models.1);
        }
        full
    };
    let providers = json!({
        "LLMProviderSummaryResponse": provider_summary.clone(),
        "LLMProviderSummaryResponseList": list_of("LLMProviderSummaryResponse"),
        "AIServiceProviderSummaryResponse": provider_summary.clone(),
        "AIServiceProviderSummaryResponseList": list_of("AIServiceProviderSummaryResponse"),
        "LLMProviderResponse": provider(("modelList", json!({"type": "array", "items": string}))),
        "AIServiceProviderResponse": provider(("modelProviders", json!({"type": "array", "items": {
            "type": "object", "required": ["name", "models"], "properties": {
                "name": string, "models": {"type": "array", "items": string}}}}))),
        "AIServiceProviderEndpointConfiguration": {"type": "object", "properties": {
            "authenticationConfiguration": {"type": "object", "properties": {
                "enabled": {"type": "boolean"}, "type": string, "parameters": {"type": "object"}}},
            "authHeader": nullable_string, "authQueryParameter": nullable_string}},
    });
    if let (Some(all), Value::Object(providers)) = (schemas.as_object_mut(), providers) {
        all.extend(providers);
    }
    if let (Some(properties), Some(details)) = (
        schemas["API"]["properties"].as_object_mut(),
        api_details.as_object(),
    ) {
        properties.extend(details.clone());
    }
    schemas
}

/// A path or query parameter; the query parameters the handlers parse as numbers, booleans
/// or one of a few words say so, so a client (or a fuzzer) knows what is valid.
fn parameter(name: &str, location: &str, required: bool) -> Value {
    let schema = match name {
        "limit" => json!({"type": "integer", "minimum": 1, "maximum": 1000}),
        "offset" => json!({"type": "integer", "minimum": 0}),
        "defaultVersion" | "allEnvironments" => json!({"type": "boolean"}),
        "workflowType" => json!({"type": "string", "enum": [
            "AM_APPLICATION_CREATION", "AM_APPLICATION_REGISTRATION_PRODUCTION",
            "AM_APPLICATION_REGISTRATION_SANDBOX", "AM_SUBSCRIPTION_CREATION",
            "AM_SUBSCRIPTION_UPDATE", "AM_API_STATE", "AM_REVISION_DEPLOYMENT", "AM_USER_SIGNUP"]}),
        "blockState" => json!({"type": "string", "enum": ["BLOCKED", "PROD_ONLY_BLOCKED"]}),
        _ => json!({"type": "string"}),
    };
    json!({"name": name, "in": location, "required": required, "schema": schema})
}

/// The OpenAPI 3 document of one REST API.
pub fn document(title: &str, base: &str, operations: &[Operation]) -> Value {
    let mut paths = Map::new();
    let mut all_scopes: Vec<&str> = Vec::new();
    for o in operations {
        let mut parameters: Vec<Value> = o
            .path
            .split('/')
            .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(|p| parameter(p, "path", true))
            .collect();
        parameters.extend(
            o.query
                .iter()
                .map(|q| parameter(q, "query", o.required_query.contains(q))),
        );
        let mut operation = json!({
            "operationId": o.id,
            "summary": o.summary,
            "parameters": parameters,
            "responses": {
                o.response.0.to_string(): if o.response.1.is_empty() {
                    json!({"description": "OK"})
                } else {
                    json!({"description": "OK", "content": {"application/json": {"schema":
                        {"$ref": format!("#/components/schemas/{}", o.response.1)}}}})
                },
                "400": {"$ref": "#/components/responses/BadRequest"},
                "401": {"$ref": "#/components/responses/Unauthorized"},
                "403": {"$ref": "#/components/responses/Forbidden"},
                "404": {"$ref": "#/components/responses/NotFound"},
                "default": {"$ref": "#/components/responses/Error"},
            },
            "security": if o.scopes.is_empty() { json!([]) } else { json!([{"OAuth2Security": o.scopes}]) },
            "x-scopes": o.scopes,
        });
        match o.body {
            Body::None => {}
            Body::Json(schema) => {
                operation["requestBody"] = json!({"required": true, "content": {"application/json": {
                    "schema": {"$ref": format!("#/components/schemas/{schema}")}}}});
            }
            Body::Multipart(fields) => {
                let properties: Map<String, Value> = fields
                    .iter()
                    .map(|f| ((*f).to_owned(), json!({"type": "string"})))
                    .collect();
                operation["requestBody"] = json!({"required": true, "content": {"multipart/form-data": {
                    "schema": {"type": "object", "properties": properties}}}});
            }
        }
        if !matches!(o.body, Body::None) {
            operation["responses"]["415"] =
                json!({"$ref": "#/components/responses/UnsupportedMediaType"});
        }
        for scope in o.scopes {
            if !all_scopes.contains(scope) {
                all_scopes.push(scope);
            }
        }
        paths.entry(o.path.to_owned()).or_insert_with(|| json!({}))[o.method] = operation;
    }
    let error = |description: &str| json!({"description": description, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}});
    let scopes: Map<String, Value> = all_scopes
        .iter()
        .map(|s| ((*s).to_owned(), json!(format!("WSO2 REST scope {s}"))))
        .collect();
    json!({
        "openapi": "3.0.1",
        "info": {"title": title, "version": env!("CARGO_PKG_VERSION"),
                 "description": "Generated by Gantry from its route table; WSO2 APIM 4.x compatible where the paths match."},
        "servers": [{"url": base}],
        "security": [{"OAuth2Security": []}],
        "paths": paths,
        "components": {
            "schemas": schemas(),
            "responses": {
                "BadRequest": error("Invalid request: the description names the field"),
                "Unauthorized": error("No, malformed, expired or revoked credentials"),
                "Forbidden": error("The caller lacks the scope or role"),
                "NotFound": error("No such resource, or not the caller's"),
                "UnsupportedMediaType": error("The body is not of the documented content type"),
                "Error": error("Any other error (405, 409, 412, 413, 429, 5xx), in the same shape"),
            },
            "securitySchemes": {
                "OAuth2Security": {"type": "oauth2", "flows": {"password": {"tokenUrl": "/oauth2/token", "scopes": scopes}}},
                "BasicAuth": {"type": "http", "scheme": "basic"},
            },
        },
    })
}

fn served(document: Value, yaml: bool) -> Response {
    let (body, content_type) = if yaml {
        (
            serde_yaml_ng::to_string(&document).unwrap_or_default(),
            "application/yaml",
        )
    } else {
        (document.to_string(), "application/json")
    };
    let mut response = body.into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// The documents' routes (anonymous, as WSO2 serves them).
pub fn router() -> Router<AppState> {
    const APIS: [(&str, &str, &[Operation]); 3] = [
        ("/api/am/publisher/v4", "Gantry Publisher API", PUBLISHER),
        (
            "/api/am/devportal/v3",
            "Gantry Developer Portal API",
            DEVPORTAL,
        ),
        ("/api/am/admin/v4", "Gantry Admin API", ADMIN),
    ];
    let mut router = Router::new();
    for (base, title, operations) in APIS {
        router = router
            .route(
                &format!("{base}/swagger.yaml"),
                get(move || async move { served(document(title, base, operations), true) }),
            )
            .route(
                &format!("{base}/swagger.json"),
                get(move || async move { served(document(title, base, operations), false) }),
            );
    }
    router
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_body_and_required_input_is_documented() {
        for ops in [PUBLISHER, DEVPORTAL, ADMIN] {
            let doc = document("t", "/", ops);
            for o in ops {
                let operation = &doc["paths"][o.path][o.method];
                let at = format!("{} {}", o.method, o.path);
                assert_eq!(
                    operation["responses"]["default"]["$ref"], "#/components/responses/Error",
                    "{at}"
                );
                if !matches!(o.body, Body::None) {
                    assert_eq!(operation["requestBody"]["required"], true, "{at}");
                    assert!(operation["responses"]["415"].is_object(), "{at}");
                }
                for q in o.required_query {
                    assert!(o.query.contains(q), "{at}: {q} required but not listed");
                    let listed = operation["parameters"].as_array().is_some_and(|ps| {
                        ps.iter().any(|p| p["name"] == *q && p["required"] == true)
                    });
                    assert!(listed, "{at}: {q}");
                }
            }
        }
    }

    #[test]
    fn every_operation_is_unique_and_documented() {
        for (name, ops) in [
            ("publisher", PUBLISHER),
            ("devportal", DEVPORTAL),
            ("admin", ADMIN),
        ] {
            for (i, a) in ops.iter().enumerate() {
                assert!(
                    !ops[..i]
                        .iter()
                        .any(|b| b.method == a.method && b.path == a.path),
                    "{name}: {} {} twice",
                    a.method,
                    a.path
                );
                assert!(
                    !ops[..i].iter().any(|b| b.id == a.id),
                    "{name}: {} twice",
                    a.id
                );
            }
            let doc = document(name, "/", ops);
            assert_eq!(doc["openapi"], "3.0.1");
            for schema in ops.iter().filter_map(|o| match o.body {
                Body::Json(s) => Some(s),
                _ => None,
            }) {
                assert!(doc["components"]["schemas"][schema].is_object(), "{schema}");
            }
            for o in ops.iter().filter(|o| !o.response.1.is_empty()) {
                assert!(
                    doc["components"]["schemas"][o.response.1].is_object(),
                    "{}",
                    o.response.1
                );
            }
        }
    }
}
