//! What every workflow test shares: WSO2's schemas and a check against them, the Admin
//! REST calls of the inbox, and a `gantry up` with an approver, a developer and a publisher.

pub use std::time::Duration;

pub use gantry_testkit::cluster::{ControlPlaneProcess, TestDatabase};
pub use gantry_testkit::rest::Rest;
pub use gantry_testkit::{EchoUpstream, GantryUp};
pub use reqwest::StatusCode;
pub use serde_json::{Value, json};

pub const BIN: &str = env!("CARGO_BIN_EXE_gantry");
pub const PUB: &str = "/api/am/publisher/v4";
pub const DEV: &str = "/api/am/devportal/v3";
pub const ADMIN: &str = "/api/am/admin/v4";

/// WSO2 APIM 4.7's own schemas (admin-api.yaml, publisher-api.yaml), as JSON: the bodies
/// below must conform to them.
pub fn wso2_schema(name: &str) -> Value {
    match name {
        "WorkflowResponse" => {
            json!({"type": "object", "required": ["workflowStatus"], "properties": {
            "workflowStatus": {"type": "string", "enum": ["CREATED", "APPROVED", "REJECTED", "REGISTERED"]},
            "jsonPayload": {"type": "string"},
            "lifecycleState": {"type": "object"}}})
        }
        "Workflow" => json!({"type": "object", "required": ["status"], "properties": {
            "status": {"type": "string", "enum": ["APPROVED", "REJECTED"]},
            "attributes": {"type": "object"},
            "description": {"type": "string"}}}),
        "WorkflowInfo" => json!({"type": "object", "properties": {
            "workflowType": {"type": "string", "enum": ["APPLICATION_CREATION", "APPLICATION_UPDATE",
                "SUBSCRIPTION_CREATION", "USER_SIGNUP", "APPLICATION_REGISTRATION_PRODUCTION",
                "APPLICATION_REGISTRATION_SANDBOX", "APPLICATION_DELETION", "API_STATE",
                "SUBSCRIPTION_DELETION", "SUBSCRIPTION_UPDATE", "API_PRODUCT_STATE", "REVISION_DEPLOYMENT"]},
            "workflowStatus": {"type": "string", "enum": ["APPROVED", "CREATED"]},
            "createdTime": {"type": "string"}, "updatedTime": {"type": "string"},
            "referenceId": {"type": "string"}, "properties": {"type": "object"},
            "description": {"type": "string"}}}),
        "WorkflowList" => json!({"type": "object", "properties": {
            "count": {"type": "integer"}, "next": {"type": "string"}, "previous": {"type": "string"},
            "list": {"type": "array", "items": wso2_schema("WorkflowInfo")}}}),
        other => panic!("no schema {other}"),
    }
}

/// `value` against a JSON Schema of the subset WSO2's documents use here.
pub fn conforms(schema: &Value, value: &Value, at: &str) {
    if let Some(kind) = schema.get("type").and_then(Value::as_str) {
        let ok = match kind {
            "object" => value.is_object(),
            "array" => value.is_array(),
            "string" => value.is_string(),
            "integer" => value.is_i64() || value.is_u64(),
            _ => true,
        };
        assert!(ok, "{at}: expected {kind}, got {value}");
    }
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array) {
        assert!(allowed.contains(value), "{at}: {value} not in {allowed:?}");
    }
    for field in schema
        .get("required")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        assert!(
            value.get(field.as_str().unwrap()).is_some(),
            "{at}: '{field}' missing in {value}"
        );
    }
    if let (Some(properties), Some(object)) = (
        schema.get("properties").and_then(Value::as_object),
        value.as_object(),
    ) {
        for (name, sub) in properties {
            if let Some(v) = object.get(name).filter(|v| !v.is_null()) {
                conforms(sub, v, &format!("{at}.{name}"));
            }
        }
    }
    if let (Some(items), Some(array)) = (schema.get("items"), value.as_array()) {
        for (i, v) in array.iter().enumerate() {
            conforms(items, v, &format!("{at}[{i}]"));
        }
    }
}

pub fn assert_wso2(name: &str, value: &Value) {
    conforms(&wso2_schema(name), value, name);
}

/// The reference of a 202 `WorkflowResponse`.
pub fn reference_of(response: &Value) -> String {
    assert_wso2("WorkflowResponse", response);
    assert_eq!(response["workflowStatus"], "CREATED", "{response}");
    let payload: Value = serde_json::from_str(response["jsonPayload"].as_str().unwrap()).unwrap();
    payload["workflowReferenceId"].as_str().unwrap().to_owned()
}

/// Pending requests of `workflow_type` (WSO2's `AM_…` name), as listed to `rest`.
pub async fn pending(rest: &Rest, workflow_type: &str) -> Vec<Value> {
    let (status, list) = rest
        .get(&format!("{ADMIN}/workflows?workflowType={workflow_type}"))
        .await;
    assert_eq!(status, StatusCode::OK, "{list}");
    assert_wso2("WorkflowList", &list);
    list["list"].as_array().unwrap().clone()
}

/// Approves or rejects `reference` as `rest`; the status and body.
pub async fn decide(
    rest: &Rest,
    reference: &str,
    status: &str,
    comment: &str,
) -> (StatusCode, Value) {
    rest.post(
        &format!("{ADMIN}/workflows/update-workflow-status?workflowReferenceId={reference}"),
        json!({"status": status, "description": comment}),
    )
    .await
}

/// Decides as `rest` and expects it to be done.
pub async fn decided(rest: &Rest, reference: &str, status: &str, comment: &str) {
    let (code, body) = decide(rest, reference, status, comment).await;
    assert_eq!(code, StatusCode::OK, "{body}");
    assert_wso2("Workflow", &body);
    assert_eq!(body["status"], status);
}

/// A `gantry up` whose `types` need approval, with an approver (a second administrator), a
/// developer and a publisher.
pub struct Deployment {
    pub up: GantryUp,
    pub admin: Rest,
    pub approver: Rest,
    pub dev: Rest,
    pub publisher: Rest,
}

pub async fn deployment(types: &str, extra_env: &[(&str, &str)]) -> Deployment {
    let mut env = vec![("GANTRY_WORKFLOWS", types)];
    env.extend_from_slice(extra_env);
    let up = GantryUp::start_with_env(BIN, false, &env).await;
    let admin = up.rest();
    admin
        .create_user("approver-ann", "ann-password-1", &["admin"])
        .await;
    admin
        .create_user("dev-dora", "dora-password-1", &["subscriber"])
        .await;
    admin
        .create_user("pub-pete", "pete-password-1", &["publisher", "creator"])
        .await;
    Deployment {
        approver: admin.as_user("approver-ann", "ann-password-1"),
        dev: admin.as_user("dev-dora", "dora-password-1"),
        publisher: admin.as_user("pub-pete", "pete-password-1"),
        admin,
        up,
    }
}

/// An API of `admin`'s in front of `upstream`, deployed to `Default` (operation `GET /items`).
pub async fn deployed(admin: &Rest, name: &str, context: &str, upstream: &EchoUpstream) -> String {
    admin
        .deployed_api(
            name,
            context,
            &format!("{}/backend/", upstream.url()),
            json!([{"target": "/items", "verb": "GET"}]),
        )
        .await
}

/// A production client_credentials token of `app_id` (keys generated now).
pub async fn token_of(rest: &Rest, app_id: &str) -> String {
    let (key, secret) = rest.keys(app_id).await;
    let (status, token) = rest.token(&key, &secret).await;
    assert_eq!(status, StatusCode::OK, "{token}");
    token["access_token"].as_str().unwrap().to_owned()
}

pub async fn subscribe(rest: &Rest, app_id: &str, api_id: &str) -> (StatusCode, Value) {
    rest.post(
        &format!("{DEV}/subscriptions"),
        json!({"applicationId": app_id, "apiId": api_id, "throttlingPolicy": "Gold"}),
    )
    .await
}
