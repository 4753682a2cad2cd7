//! Approval workflows end to end on the real binary, as WSO2 API Manager's: while a type is
//! switched on (`GANTRY_WORKFLOWS`), its action answers with WSO2's `WorkflowResponse`
//! (`CREATED`) and takes effect only once another administrator approves it over the
//! Admin REST API (`/workflows`, `update-workflow-status`); a rejection leaves nothing that
//! grants access. Gateways are the judge: a subscription waiting for approval gets 403, an
//! approved one 200. Also: the requester cannot decide its own request, two control
//! planes on one PostgreSQL share the pending requests, an external approver's callback
//! must be signed, and the configuration names an unknown type.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use gantry_testkit::cluster::{ControlPlaneProcess, TestDatabase};
use gantry_testkit::rest::Rest;
use gantry_testkit::{EchoUpstream, GantryUp};
use reqwest::StatusCode;
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_gantry");
const PUB: &str = "/api/am/publisher/v4";
const DEV: &str = "/api/am/devportal/v3";
const ADMIN: &str = "/api/am/admin/v4";

/// WSO2 APIM 4.7's own schemas (admin-api.yaml, publisher-api.yaml), as JSON: the bodies
/// below must conform to them.
fn wso2_schema(name: &str) -> Value {
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
fn conforms(schema: &Value, value: &Value, at: &str) {
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

fn assert_wso2(name: &str, value: &Value) {
    conforms(&wso2_schema(name), value, name);
}

/// The reference of a 202 `WorkflowResponse`.
fn reference_of(response: &Value) -> String {
    assert_wso2("WorkflowResponse", response);
    assert_eq!(response["workflowStatus"], "CREATED", "{response}");
    let payload: Value = serde_json::from_str(response["jsonPayload"].as_str().unwrap()).unwrap();
    payload["workflowReferenceId"].as_str().unwrap().to_owned()
}

/// Pending requests of `workflow_type` (WSO2's `AM_…` name), as listed to `rest`.
async fn pending(rest: &Rest, workflow_type: &str) -> Vec<Value> {
    let (status, list) = rest
        .get(&format!("{ADMIN}/workflows?workflowType={workflow_type}"))
        .await;
    assert_eq!(status, StatusCode::OK, "{list}");
    assert_wso2("WorkflowList", &list);
    list["list"].as_array().unwrap().clone()
}

/// Approves or rejects `reference` as `rest`; the status and body.
async fn decide(rest: &Rest, reference: &str, status: &str, comment: &str) -> (StatusCode, Value) {
    rest.post(
        &format!("{ADMIN}/workflows/update-workflow-status?workflowReferenceId={reference}"),
        json!({"status": status, "description": comment}),
    )
    .await
}

/// Decides as `rest` and expects it to be done.
async fn decided(rest: &Rest, reference: &str, status: &str, comment: &str) {
    let (code, body) = decide(rest, reference, status, comment).await;
    assert_eq!(code, StatusCode::OK, "{body}");
    assert_wso2("Workflow", &body);
    assert_eq!(body["status"], status);
}

/// A `gantry up` whose `types` need approval, with an approver (a second administrator), a
/// developer and a publisher.
struct Deployment {
    up: GantryUp,
    admin: Rest,
    approver: Rest,
    dev: Rest,
    publisher: Rest,
}

async fn deployment(types: &str, extra_env: &[(&str, &str)]) -> Deployment {
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
async fn deployed(admin: &Rest, name: &str, context: &str, upstream: &EchoUpstream) -> String {
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
async fn token_of(rest: &Rest, app_id: &str) -> String {
    let (key, secret) = rest.keys(app_id).await;
    let (status, token) = rest.token(&key, &secret).await;
    assert_eq!(status, StatusCode::OK, "{token}");
    token["access_token"].as_str().unwrap().to_owned()
}

async fn subscribe(rest: &Rest, app_id: &str, api_id: &str) -> (StatusCode, Value) {
    rest.post(
        &format!("{DEV}/subscriptions"),
        json!({"applicationId": app_id, "apiId": api_id, "throttlingPolicy": "Gold"}),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscription_is_on_hold_until_approved_then_the_gateway_lets_it_through() {
    let upstream = EchoUpstream::start().await;
    let mut d = deployment("AM_SUBSCRIPTION_CREATION", &[]).await;
    let api_id = deployed(&d.admin, "Held", "/held", &upstream).await;
    let app_id = d.dev.application("dora-held").await;
    let token = token_of(&d.dev, &app_id).await;

    let (status, response) = subscribe(&d.dev, &app_id, &api_id).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{response}");
    let reference = reference_of(&response);
    let payload: Value = serde_json::from_str(response["jsonPayload"].as_str().unwrap()).unwrap();
    let sub_id = payload["subscriptionId"].as_str().unwrap().to_owned();
    let (_, sub) = d.dev.get(&format!("{DEV}/subscriptions/{sub_id}")).await;
    assert_eq!(sub["status"], "ON_HOLD", "{sub}");

    // Gateways never see it: the token is refused.
    let path = "/held/1.0.0/items";
    assert_eq!(d.up.gw_status(path, &token).await, 403);
    // Blocking/unblocking is no way around the approval.
    let (status, body) = d
        .admin
        .post_empty(&format!(
            "{PUB}/subscriptions/unblock-subscription?subscriptionId={sub_id}"
        ))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");

    // The inbox lists it, with WSO2's names and the request.
    let list = pending(&d.approver, "AM_SUBSCRIPTION_CREATION").await;
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0]["referenceId"], reference.as_str());
    assert_eq!(list[0]["workflowType"], "SUBSCRIPTION_CREATION");
    assert_eq!(list[0]["properties"]["requestedBy"], "dev-dora");
    assert!(pending(&d.approver, "AM_API_STATE").await.is_empty());
    // The developer holds no approval scope.
    let (status, _) = decide(&d.dev, &reference, "APPROVED", "self-service").await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    decided(&d.approver, &reference, "APPROVED", "ticket OPS-12").await;
    assert!(d.up.eventually_gw_status(path, &token, 200).await);
    let (_, sub) = d.dev.get(&format!("{DEV}/subscriptions/{sub_id}")).await;
    assert_eq!(sub["status"], "UNBLOCKED", "{sub}");

    // The audit trail: who asked, who decided, when, why.
    let (status, info) = d
        .approver
        .get(&format!("{ADMIN}/workflows/{reference}"))
        .await;
    assert_eq!(status, StatusCode::OK, "{info}");
    assert_wso2("WorkflowInfo", &info);
    assert_eq!(info["workflowStatus"], "APPROVED");
    assert_eq!(info["properties"]["decidedBy"], "approver-ann");
    assert_eq!(info["properties"]["comment"], "ticket OPS-12");
    assert!(info["properties"]["decidedTime"].is_string(), "{info}");
    assert!(
        pending(&d.approver, "AM_SUBSCRIPTION_CREATION")
            .await
            .is_empty()
    );
    // Decided once.
    let (status, body) = decide(&d.admin, &reference, "REJECTED", "too late").await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    d.up.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejected_subscription_and_tier_change_leave_nothing_that_grants_access() {
    let upstream = EchoUpstream::start().await;
    let mut d = deployment("AM_SUBSCRIPTION_CREATION,AM_SUBSCRIPTION_UPDATE", &[]).await;
    let api_id = deployed(&d.admin, "Refused", "/refused", &upstream).await;
    let app_id = d.dev.application("dora-refused").await;
    let token = token_of(&d.dev, &app_id).await;
    let (status, response) = subscribe(&d.dev, &app_id, &api_id).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{response}");
    let reference = reference_of(&response);
    decided(&d.approver, &reference, "REJECTED", "not for production").await;

    let (_, subs) = d
        .dev
        .get(&format!("{DEV}/subscriptions?applicationId={app_id}"))
        .await;
    assert_eq!(subs["list"][0]["status"], "REJECTED", "{subs}");
    let path = "/refused/1.0.0/items";
    assert_eq!(d.up.gw_status(path, &token).await, 403);
    let sub_id = subs["list"][0]["subscriptionId"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, _) = d
        .admin
        .post_empty(&format!(
            "{PUB}/subscriptions/unblock-subscription?subscriptionId={sub_id}"
        ))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);

    // A tier change waits too, and the subscription keeps its tier meanwhile.
    let other_app = d.dev.application("dora-tiers").await;
    let other_token = token_of(&d.dev, &other_app).await;
    let (_, response) = subscribe(&d.dev, &other_app, &api_id).await;
    decided(&d.approver, &reference_of(&response), "APPROVED", "ok").await;
    assert!(d.up.eventually_gw_status(path, &other_token, 200).await);
    let (_, subs) = d
        .dev
        .get(&format!("{DEV}/subscriptions?applicationId={other_app}"))
        .await;
    let other_sub = subs["list"][0]["subscriptionId"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, response) = d
        .dev
        .put(
            &format!("{DEV}/subscriptions/{other_sub}"),
            json!({"throttlingPolicy": "Unlimited"}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{response}");
    let change = reference_of(&response);
    let (_, sub) = d.dev.get(&format!("{DEV}/subscriptions/{other_sub}")).await;
    assert_eq!(sub["status"], "TIER_UPDATE_PENDING", "{sub}");
    assert_eq!(sub["throttlingPolicy"], "Gold");
    assert_eq!(sub["requestedThrottlingPolicy"], "Unlimited");
    decided(&d.approver, &change, "REJECTED", "stay on Gold").await;
    let (_, sub) = d.dev.get(&format!("{DEV}/subscriptions/{other_sub}")).await;
    assert_eq!(sub["status"], "UNBLOCKED", "{sub}");
    assert_eq!(sub["throttlingPolicy"], "Gold");
    assert_eq!(d.up.gw_status(path, &other_token).await, 200);

    let (_, response) = d
        .dev
        .put(
            &format!("{DEV}/subscriptions/{other_sub}"),
            json!({"throttlingPolicy": "Unlimited"}),
        )
        .await;
    decided(&d.approver, &reference_of(&response), "APPROVED", "ok").await;
    let (_, sub) = d.dev.get(&format!("{DEV}/subscriptions/{other_sub}")).await;
    assert_eq!(sub["throttlingPolicy"], "Unlimited", "{sub}");
    d.up.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn application_waits_for_approval_and_a_rejected_one_gets_no_keys() {
    let upstream = EchoUpstream::start().await;
    let mut d = deployment("AM_APPLICATION_CREATION", &[]).await;
    let api_id = deployed(&d.admin, "Apps", "/apps", &upstream).await;
    let create = |name: &'static str| {
        let dev = d.dev.clone();
        async move {
            let (status, response) = dev
                .post(
                    &format!("{DEV}/applications"),
                    json!({"name": name, "throttlingPolicy": "Unlimited"}),
                )
                .await;
            assert_eq!(status, StatusCode::ACCEPTED, "{response}");
            let payload: Value =
                serde_json::from_str(response["jsonPayload"].as_str().unwrap()).unwrap();
            (
                payload["applicationId"].as_str().unwrap().to_owned(),
                reference_of(&response),
            )
        }
    };
    let keys = |app: String| {
        let dev = d.dev.clone();
        async move {
            dev.post(
                &format!("{DEV}/applications/{app}/generate-keys"),
                json!({"keyType": "PRODUCTION", "grantTypesToBeSupported": ["client_credentials"]}),
            )
            .await
        }
    };

    let (app, reference) = create("dora-pending").await;
    let (_, body) = d.dev.get(&format!("{DEV}/applications/{app}")).await;
    assert_eq!(body["status"], "CREATED", "{body}");
    let (status, body) = keys(app.clone()).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let (status, body) = subscribe(&d.dev, &app, &api_id).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let list = pending(&d.approver, "AM_APPLICATION_CREATION").await;
    assert_eq!(list[0]["workflowType"], "APPLICATION_CREATION");
    decided(&d.approver, &reference, "APPROVED", "").await;
    let (_, body) = d.dev.get(&format!("{DEV}/applications/{app}")).await;
    assert_eq!(body["status"], "APPROVED", "{body}");
    let (status, _) = subscribe(&d.dev, &app, &api_id).await;
    assert_eq!(status, StatusCode::CREATED);
    let token = token_of(&d.dev, &app).await;
    assert!(
        d.up.eventually_gw_status("/apps/1.0.0/items", &token, 200)
            .await
    );

    let (refused, reference) = create("dora-refused").await;
    decided(&d.approver, &reference, "REJECTED", "duplicate").await;
    let (_, body) = d.dev.get(&format!("{DEV}/applications/{refused}")).await;
    assert_eq!(body["status"], "REJECTED", "{body}");
    let (status, _) = keys(refused.clone()).await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, _) = subscribe(&d.dev, &refused, &api_id).await;
    assert_eq!(status, StatusCode::CONFLICT);
    d.up.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn production_keys_work_only_once_approved_and_sandbox_keys_are_not_held() {
    let upstream = EchoUpstream::start().await;
    let mut d = deployment("AM_APPLICATION_REGISTRATION_PRODUCTION", &[]).await;
    let api_id = deployed(&d.admin, "Keys", "/keys", &upstream).await;
    let app = d.dev.application("dora-keys").await;
    d.dev.subscribe(&app, &api_id, "Gold").await;
    let generate = |key_type: &'static str, app: String| {
        let dev = d.dev.clone();
        async move {
            let (status, key) = dev
                .post(
                    &format!("{DEV}/applications/{app}/generate-keys"),
                    json!({"keyType": key_type, "grantTypesToBeSupported": ["client_credentials"]}),
                )
                .await;
            assert_eq!(status, StatusCode::OK, "{key}");
            key
        }
    };

    // WSO2: 200 with keyState CREATED; the credentials open nothing yet.
    let key = generate("PRODUCTION", app.clone()).await;
    assert_eq!(key["keyState"], "CREATED", "{key}");
    let (ck, cs) = (
        key["consumerKey"].as_str().unwrap().to_owned(),
        key["consumerSecret"].as_str().unwrap().to_owned(),
    );
    let (status, body) = d.dev.token(&ck, &cs).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    let (_, listed) = d.dev.get(&format!("{DEV}/applications/{app}/keys")).await;
    assert_eq!(listed["list"][0]["keyState"], "CREATED", "{listed}");
    let (status, _) = d
        .dev
        .post(
            &format!("{DEV}/applications/{app}/generate-keys"),
            json!({"keyType": "PRODUCTION", "grantTypesToBeSupported": ["client_credentials"]}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "one request at a time");
    // Sandbox key generation is not switched on: approved at once.
    let sandbox = generate("SANDBOX", app.clone()).await;
    assert_eq!(sandbox["keyState"], "APPROVED", "{sandbox}");

    let list = pending(&d.approver, "AM_APPLICATION_REGISTRATION_PRODUCTION").await;
    assert_eq!(list.len(), 1);
    assert_eq!(
        list[0]["workflowType"],
        "APPLICATION_REGISTRATION_PRODUCTION"
    );
    assert!(
        !list[0].to_string().contains("argon2"),
        "no secret hash shown: {}",
        list[0]
    );
    let reference = list[0]["referenceId"].as_str().unwrap().to_owned();
    decided(&d.approver, &reference, "APPROVED", "").await;
    let (status, token) = d.dev.token(&ck, &cs).await;
    assert_eq!(status, StatusCode::OK, "{token}");
    let token = token["access_token"].as_str().unwrap().to_owned();
    assert!(
        d.up.eventually_gw_status("/keys/1.0.0/items", &token, 200)
            .await
    );

    // Rejected: the client never existed.
    let other = d.dev.application("dora-keys-2").await;
    let key = generate("PRODUCTION", other.clone()).await;
    let list = pending(&d.approver, "AM_APPLICATION_REGISTRATION_PRODUCTION").await;
    decided(
        &d.approver,
        list[0]["referenceId"].as_str().unwrap(),
        "REJECTED",
        "no",
    )
    .await;
    let (status, _) = d
        .dev
        .token(
            key["consumerKey"].as_str().unwrap(),
            key["consumerSecret"].as_str().unwrap(),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (_, listed) = d.dev.get(&format!("{DEV}/applications/{other}/keys")).await;
    assert_eq!(listed["count"], 0, "{listed}");
    d.up.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lifecycle_changes_wait_for_approval_and_the_requester_cannot_decide_them() {
    let upstream = EchoUpstream::start().await;
    let mut d = deployment("AM_API_STATE", &[]).await;
    // Published while the workflow is on: the publisher asks, an administrator approves.
    let (status, api) = d
        .publisher
        .post(
            &format!("{PUB}/apis"),
            json!({"name": "States", "context": "/states", "version": "1.0.0",
                   "policies": ["Gold"],
                   "endpointConfig": {"endpoint_type": "http", "production_endpoints": {
                       "url": format!("{}/backend/", upstream.url())}},
                   "operations": [{"target": "/items", "verb": "GET", "authType": "None"}]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{api}");
    let api_id = api["id"].as_str().unwrap().to_owned();
    d.publisher.deploy_new_revision(&api_id, &["Default"]).await;
    let change = |action: &'static str| {
        let publisher = d.publisher.clone();
        let api_id = api_id.clone();
        async move {
            publisher
                .post_empty(&format!(
                    "{PUB}/apis/change-lifecycle?apiId={api_id}&action={action}"
                ))
                .await
        }
    };
    let (status, response) = change("Publish").await;
    assert_eq!(status, StatusCode::ACCEPTED, "{response}");
    assert_eq!(response["lifecycleState"]["state"], "CREATED", "{response}");
    let reference = reference_of(&response);
    let (_, state) = d
        .publisher
        .get(&format!("{PUB}/apis/{api_id}/lifecycle-state"))
        .await;
    assert_eq!(state["state"], "CREATED");
    assert_eq!(state["workflowStatus"], "CREATED", "{state}");
    let (status, _) = change("Publish").await;
    assert_eq!(status, StatusCode::CONFLICT, "one change at a time");
    let (status, _) = decide(&d.publisher, &reference, "APPROVED", "").await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "publishers hold no approval scope"
    );
    decided(&d.admin, &reference, "APPROVED", "release 12").await;
    let (_, state) = d
        .publisher
        .get(&format!("{PUB}/apis/{api_id}/lifecycle-state"))
        .await;
    assert_eq!(state["state"], "PUBLISHED", "{state}");
    assert_eq!(state["workflowStatus"], "APPROVED");
    let (status, history) = d
        .publisher
        .get(&format!("{PUB}/apis/{api_id}/lifecycle-history"))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(history.to_string().contains("pub-pete"), "{history}");

    // Block waits: the gateway keeps serving until it is approved.
    let gateway = |up: &GantryUp| {
        let client = up.gw_client();
        let url = up.gw_url("/states/1.0.0/items");
        async move {
            client
                .get(url)
                .send()
                .await
                .map(|r| r.status().as_u16())
                .unwrap_or(0)
        }
    };
    assert_eq!(gateway(&d.up).await, 200);
    let (status, response) = change("Block").await;
    assert_eq!(status, StatusCode::ACCEPTED, "{response}");
    let block = reference_of(&response);
    assert_eq!(gateway(&d.up).await, 200);
    decided(&d.approver, &block, "APPROVED", "incident 7").await;
    assert!(
        gantry_testkit::eventually(Duration::from_secs(5), || async {
            gateway(&d.up).await == 503
        })
        .await
    );

    // Rejected: the state stays, the status says so.
    let (_, response) = change("Re-Publish").await;
    let republish = reference_of(&response);
    decided(&d.approver, &republish, "REJECTED", "not yet").await;
    let (_, state) = d
        .publisher
        .get(&format!("{PUB}/apis/{api_id}/lifecycle-state"))
        .await;
    assert_eq!(state["state"], "BLOCKED");
    assert_eq!(state["workflowStatus"], "REJECTED");

    // An administrator's own request is decided by another one.
    let (status, response) = d
        .admin
        .post_empty(&format!(
            "{PUB}/apis/change-lifecycle?apiId={api_id}&action=Re-Publish"
        ))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{response}");
    let own = reference_of(&response);
    let (status, body) = decide(&d.admin, &own, "APPROVED", "mine").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(
        body["description"]
            .as_str()
            .unwrap_or_default()
            .contains("own request")
            || body["message"]
                .as_str()
                .unwrap_or_default()
                .contains("own request"),
        "{body}"
    );
    decided(&d.approver, &own, "APPROVED", "").await;
    assert!(
        gantry_testkit::eventually(Duration::from_secs(5), || async {
            gateway(&d.up).await == 200
        })
        .await
    );
    d.up.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revision_deployment_waits_for_approval_and_a_rejected_one_never_reaches_gateways() {
    let upstream = EchoUpstream::start().await;
    let mut d = deployment("AM_REVISION_DEPLOYMENT", &[]).await;
    let open_api = |name: &'static str, context: &'static str| {
        let publisher = d.publisher.clone();
        let url = format!("{}/backend/", upstream.url());
        async move {
            let (status, api) = publisher
                .post(
                    &format!("{PUB}/apis"),
                    json!({"name": name, "context": context, "version": "1.0.0",
                           "policies": ["Gold"],
                           "endpointConfig": {"endpoint_type": "http", "production_endpoints": {"url": url}},
                           "operations": [{"target": "/items", "verb": "GET", "authType": "None"}]}),
                )
                .await;
            assert_eq!(status, StatusCode::CREATED, "{api}");
            let id = api["id"].as_str().unwrap().to_owned();
            assert_eq!(publisher.lifecycle(&id, "Publish").await, StatusCode::OK);
            let (status, revision) = publisher
                .post(&format!("{PUB}/apis/{id}/revisions"), json!({}))
                .await;
            assert_eq!(status, StatusCode::CREATED);
            let revision = revision["id"].as_str().unwrap().to_owned();
            let (status, deployments) = publisher
                .post(
                    &format!("{PUB}/apis/{id}/deploy-revision?revisionId={revision}"),
                    json!([{"name": "Default", "vhost": "localhost"}]),
                )
                .await;
            assert_eq!(status, StatusCode::CREATED, "{deployments}");
            assert_eq!(deployments[0]["status"], "CREATED", "{deployments}");
            (
                id,
                deployments[0]["workflowReferenceId"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
            )
        }
    };
    let status_of = |path: &'static str| {
        let client = d.up.gw_client();
        let url = d.up.gw_url(path);
        async move {
            client
                .get(url)
                .send()
                .await
                .map(|r| r.status().as_u16())
                .unwrap_or(0)
        }
    };

    let (api_id, reference) = open_api("Deployed", "/deployed").await;
    let (_, listed) = d
        .publisher
        .get(&format!("{PUB}/apis/{api_id}/deployments"))
        .await;
    assert_eq!(listed["list"][0]["status"], "CREATED", "{listed}");
    assert_eq!(status_of("/deployed/1.0.0/items").await, 404);
    let list = pending(&d.approver, "AM_REVISION_DEPLOYMENT").await;
    assert_eq!(list[0]["workflowType"], "REVISION_DEPLOYMENT");
    decided(&d.approver, &reference, "APPROVED", "change CHG-1").await;
    assert!(
        gantry_testkit::eventually(Duration::from_secs(5), || async {
            status_of("/deployed/1.0.0/items").await == 200
        })
        .await
    );

    let (other, reference) = open_api("Undeployed", "/undeployed").await;
    decided(&d.approver, &reference, "REJECTED", "freeze").await;
    let (_, listed) = d
        .publisher
        .get(&format!("{PUB}/apis/{other}/deployments"))
        .await;
    assert_eq!(listed["count"], 0, "{listed}");
    assert_eq!(status_of("/undeployed/1.0.0/items").await, 404);
    d.up.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn self_signup_creates_the_account_only_when_approved() {
    let mut d = deployment("AM_USER_SIGNUP", &[]).await;
    let signup = |name: &'static str| {
        let anonymous = d.admin.anonymous();
        async move {
            anonymous
                .post(
                    "/api/identity/user/v1.0/me",
                    json!({"user": {"username": name, "password": "S1gn-up-password!"}}),
                )
                .await
        }
    };
    let (status, response) = signup("sam-signup").await;
    assert_eq!(status, StatusCode::ACCEPTED, "{response}");
    let reference = reference_of(&response);
    let sam = d.admin.as_user("sam-signup", "S1gn-up-password!");
    let (status, _) = sam.get(&format!("{DEV}/applications")).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "no account before approval"
    );
    let (status, _) = signup("sam-signup").await;
    assert_eq!(status, StatusCode::CONFLICT, "the name is held");
    let list = pending(&d.approver, "AM_USER_SIGNUP").await;
    assert_eq!(list[0]["workflowType"], "USER_SIGNUP");
    assert!(!list[0].to_string().contains("argon2"), "{}", list[0]);
    decided(&d.approver, &reference, "APPROVED", "").await;
    let (status, _) = sam.get(&format!("{DEV}/applications")).await;
    assert_eq!(status, StatusCode::OK);

    let (_, response) = signup("rita-refused").await;
    decided(&d.approver, &reference_of(&response), "REJECTED", "spam").await;
    let rita = d.admin.as_user("rita-refused", "S1gn-up-password!");
    let (status, _) = rita.get(&format!("{DEV}/applications")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    d.up.stop();
}

#[tokio::test]
async fn two_control_planes_on_postgresql_see_and_decide_the_same_requests() {
    let Some(db) = TestDatabase::create().await else {
        return;
    };
    let dirs = tempfile::tempdir().unwrap();
    let args = ["--workflows", "AM_APPLICATION_CREATION"];
    let cp1 =
        ControlPlaneProcess::start_with_args(BIN, &db.url, &dirs.path().join("cp1"), &args).await;
    let cp2 =
        ControlPlaneProcess::start_with_args(BIN, &db.url, &dirs.path().join("cp2"), &args).await;
    let admin1 = Rest::new(&cp1.url(""), cp1.client());
    let admin2 = Rest::new(&cp2.url(""), cp2.client());
    admin1
        .create_user("replica-dev", "replica-dev-pw-1", &["subscriber"])
        .await;
    let dev = admin1.as_user("replica-dev", "replica-dev-pw-1");
    let (status, response) = dev
        .post(
            &format!("{DEV}/applications"),
            json!({"name": "replicated", "throttlingPolicy": "Unlimited"}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{response}");
    let reference = reference_of(&response);

    let on_two = pending(&admin2, "AM_APPLICATION_CREATION").await;
    assert_eq!(on_two.len(), 1, "{on_two:?}");
    assert_eq!(on_two[0]["referenceId"], reference.as_str());
    decided(&admin2, &reference, "APPROVED", "from replica 2").await;
    let (status, body) = decide(&admin1, &reference, "APPROVED", "again").await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let (_, apps) = dev.get(&format!("{DEV}/applications")).await;
    assert_eq!(apps["list"][0]["status"], "APPROVED", "{apps}");
    assert!(pending(&admin1, "AM_APPLICATION_CREATION").await.is_empty());
    drop((cp1, cp2));
    db.drop_now().await;
}

/// A one-shot approver: accepts one POST, hands back its headers and body.
async fn approver_endpoint() -> (String, tokio::sync::oneshot::Receiver<(String, String)>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/approve", listener.local_addr().unwrap());
    let (tx, rx) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            let n = stream.read(&mut chunk).await.unwrap();
            if n == 0 {
                break;
            }
            buf.extend_from_slice(&chunk[..n]);
            let text = String::from_utf8_lossy(&buf).to_string();
            if let Some(end) = text.find("\r\n\r\n") {
                let length = text[..end]
                    .lines()
                    .find_map(|l| {
                        let (k, v) = l.split_once(':')?;
                        k.eq_ignore_ascii_case("content-length")
                            .then(|| v.trim().parse::<usize>().ok())
                            .flatten()
                    })
                    .unwrap_or(0);
                if buf.len() >= end + 4 + length {
                    let head = text[..end].to_owned();
                    let body = String::from_utf8_lossy(&buf[end + 4..end + 4 + length]).to_string();
                    stream
                        .write_all(b"HTTP/1.1 202 Accepted\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                        .await
                        .unwrap();
                    let _ = tx.send((head, body));
                    break;
                }
            }
        }
    });
    (url, rx)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_external_approver_decides_over_a_signed_callback_and_forgeries_are_refused() {
    const SECRET: &str = "approver-shared-secret-0123456789";
    let upstream = EchoUpstream::start().await;
    let (approver_url, received) = approver_endpoint().await;
    let hooks = format!("AM_SUBSCRIPTION_CREATION={approver_url}");
    let mut d = deployment(
        "AM_SUBSCRIPTION_CREATION",
        &[
            ("GANTRY_WORKFLOW_WEBHOOKS", &hooks),
            ("GANTRY_WORKFLOW_WEBHOOK_SECRET", SECRET),
        ],
    )
    .await;
    let api_id = deployed(&d.admin, "Ticketed", "/ticketed", &upstream).await;
    let app = d.dev.application("dora-ticketed").await;
    let token = token_of(&d.dev, &app).await;
    let (status, response) = subscribe(&d.dev, &app, &api_id).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{response}");
    let reference = reference_of(&response);

    // The approver got the request, signed, with where to answer.
    let (head, body) = tokio::time::timeout(Duration::from_secs(10), received)
        .await
        .expect("the approver is called")
        .unwrap();
    let signature = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("x-gantry-signature")
                .then(|| v.trim().to_owned())
        })
        .expect("signed");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    gantry_keys::webhook_signature::verify(SECRET, Some(&signature), body.as_bytes(), now, 300)
        .expect("signed with the shared secret");
    let request: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(request["workflowReferenceId"], reference.as_str());
    assert_eq!(request["workflowType"], "AM_SUBSCRIPTION_CREATION");
    let callback = request["callbackUrl"].as_str().unwrap().to_owned();
    let callback_path = &callback[callback.find("/api/").unwrap()..];

    let answer = json!({"status": "APPROVED", "description": "TICKET-99 approved"}).to_string();
    let client = d.up.cp_client();
    let post = |signature: Option<String>, body: String| {
        let client = client.clone();
        let url = d.up.cp_url(callback_path);
        async move {
            let mut request = client
                .post(url)
                .header("content-type", "application/json")
                .body(body);
            if let Some(s) = signature {
                request = request.header("x-gantry-signature", s);
            }
            let response = request.send().await.unwrap();
            let status = response.status();
            (
                status,
                response.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
    };
    use gantry_keys::webhook_signature::sign;
    for (why, signature) in [
        ("unsigned", None),
        (
            "forged",
            Some(sign("not-the-secret-at-all!!", now, answer.as_bytes())),
        ),
        (
            "replayed",
            Some(sign(SECRET, now - 3600, answer.as_bytes())),
        ),
        ("garbage", Some("t=1,v1=deadbeef".to_owned())),
    ] {
        let (status, body) = post(signature, answer.clone()).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{why}: {body}");
    }
    // A signature over another body does not carry over.
    let reject = json!({"status": "REJECTED"}).to_string();
    let (status, _) = post(Some(sign(SECRET, now, answer.as_bytes())), reject).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(d.up.gw_status("/ticketed/1.0.0/items", &token).await, 403);
    assert_eq!(
        pending(&d.approver, "AM_SUBSCRIPTION_CREATION").await.len(),
        1
    );

    let (status, body) = post(Some(sign(SECRET, now, answer.as_bytes())), answer.clone()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_wso2("Workflow", &body);
    assert!(
        d.up.eventually_gw_status("/ticketed/1.0.0/items", &token, 200)
            .await
    );
    let (_, info) = d
        .approver
        .get(&format!("{ADMIN}/workflows/{reference}"))
        .await;
    assert_eq!(info["properties"]["decidedBy"], "webhook");
    assert_eq!(info["properties"]["comment"], "TICKET-99 approved");
    d.up.stop();
}

#[test]
fn an_unknown_workflow_type_stops_the_start_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let output = std::process::Command::new(BIN)
        .args(["up", "--data-dir"])
        .arg(dir.path())
        .args(["--workflows", "AM_SUBSCRIPTION_CREATION,AM_NOT_A_TYPE"])
        .env_remove("GANTRY_WORKFLOWS")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(64));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("--workflows") && stderr.contains("AM_NOT_A_TYPE"),
        "{stderr}"
    );
    let output = std::process::Command::new(BIN)
        .args(["up", "--data-dir"])
        .arg(dir.path())
        .env("GANTRY_WORKFLOWS", "AM_API_STATE")
        .env(
            "GANTRY_WORKFLOW_WEBHOOKS",
            "AM_API_STATE=https://tickets.example/approve",
        )
        .env_remove("GANTRY_WORKFLOW_WEBHOOK_SECRET")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(64));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("GANTRY_WORKFLOW_WEBHOOK_SECRET"),
        "{stderr}"
    );
}

/// A browser session on the portals: the session cookie and the page's CSRF token.
struct Browser<'a> {
    up: &'a GantryUp,
    client: reqwest::Client,
    cookie: String,
    csrf: String,
}

impl<'a> Browser<'a> {
    const COOKIE: &'static str = "__Host-gantry-portal";

    async fn sign_in(up: &'a GantryUp, username: &str, password: &str) -> Self {
        let mut browser = Self {
            up,
            client: up.cp_client_without_redirects(),
            cookie: String::new(),
            csrf: String::new(),
        };
        browser.get("/portal/login").await;
        let (status, _) = browser
            .post(
                "/portal/login",
                &[("username", username), ("password", password)],
            )
            .await;
        assert_eq!(status, StatusCode::SEE_OTHER, "sign-in of {username}");
        browser
    }

    fn remember(&mut self, response: &reqwest::Response) {
        for value in response.headers().get_all(reqwest::header::SET_COOKIE) {
            let pair = value.to_str().unwrap().split(';').next().unwrap();
            if let Some(v) = pair.strip_prefix(&format!("{}=", Self::COOKIE)) {
                v.clone_into(&mut self.cookie);
            }
        }
    }

    async fn get(&mut self, path: &str) -> (StatusCode, String) {
        let response = self
            .client
            .get(self.up.cp_url(path))
            .header("cookie", format!("{}={}", Self::COOKIE, self.cookie))
            .send()
            .await
            .unwrap();
        self.remember(&response);
        let status = response.status();
        let body = response.text().await.unwrap();
        let marker = "name=\"_csrf\" value=\"";
        if let Some(start) = body.find(marker).map(|i| i + marker.len()) {
            let end = body[start..].find('"').unwrap();
            self.csrf = body[start..start + end].to_owned();
        }
        (status, body)
    }

    /// Posts `fields` with the page's CSRF token.
    async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> (StatusCode, String) {
        let mut form = vec![("_csrf", self.csrf.as_str())];
        form.extend_from_slice(fields);
        let response = self
            .client
            .post(self.up.cp_url(path))
            .header("cookie", format!("{}={}", Self::COOKIE, self.cookie))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(serde_urlencoded::to_string(&form).unwrap())
            .send()
            .await
            .unwrap();
        self.remember(&response);
        let status = response.status();
        (status, response.text().await.unwrap())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_portal_inbox_shows_requests_and_decides_them_with_a_comment() {
    let upstream = EchoUpstream::start().await;
    let mut d = deployment("AM_SUBSCRIPTION_CREATION,AM_APPLICATION_CREATION", &[]).await;
    let api_id = deployed(&d.admin, "Inbox", "/inbox", &upstream).await;
    let (_, response) = d
        .dev
        .post(
            &format!("{DEV}/applications"),
            json!({"name": "dora-inbox", "throttlingPolicy": "Unlimited"}),
        )
        .await;
    decided(&d.admin, &reference_of(&response), "APPROVED", "").await;
    let (_, apps) = d.dev.get(&format!("{DEV}/applications")).await;
    let app = apps["list"][0]["applicationId"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, response) = subscribe(&d.dev, &app, &api_id).await;
    let subscription = reference_of(&response);
    let (status, response) = d
        .admin
        .post(
            &format!("{DEV}/applications"),
            json!({"name": "admins-own", "throttlingPolicy": "Unlimited"}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{response}");
    let own = reference_of(&response);
    let own_app = serde_json::from_str::<Value>(response["jsonPayload"].as_str().unwrap()).unwrap()
        ["applicationId"]
        .as_str()
        .unwrap()
        .to_owned();

    let mut dora = Browser::sign_in(&d.up, "dev-dora", "dora-password-1").await;
    let (_, page) = dora.get(&format!("/devportal/applications/{app}")).await;
    assert!(
        page.contains("waiting for approval"),
        "the developer sees ON_HOLD: {page}"
    );

    let mut admin = Browser::sign_in(&d.up, "admin", gantry_testkit::process::ADMIN_PASSWORD).await;
    let (status, page) = admin.get("/admin/workflows").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains(&subscription) && page.contains(&own),
        "{page}"
    );
    assert!(page.contains("dev-dora") && page.contains("AM_SUBSCRIPTION_CREATION"));
    assert!(page.contains("Your own request"), "{page}");
    // The configuration, read-only: two types required, the others off.
    assert_eq!(page.matches(">required<").count(), 2, "{page}");
    let (status, _) = admin
        .post(
            &format!("/admin/workflows/{own}/decide"),
            &[("decision", "approve"), ("comment", "mine")],
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let mut ann = Browser::sign_in(&d.up, "approver-ann", "ann-password-1").await;
    let (_, page) = ann.get("/admin/workflows?q=AM_SUBSCRIPTION_CREATION").await;
    assert!(
        page.contains(&subscription) && !page.contains(&own),
        "{page}"
    );
    // Without the session's CSRF token: refused.
    let csrf = std::mem::take(&mut ann.csrf);
    let (status, _) = ann
        .post(
            &format!("/admin/workflows/{subscription}/decide"),
            &[("decision", "approve")],
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    ann.csrf = csrf;
    let (status, _) = ann
        .post(
            &format!("/admin/workflows/{subscription}/decide"),
            &[("decision", "approve"), ("comment", "looks fine")],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, page) = ann.get("/admin/workflows").await;
    assert!(
        !page.contains(&subscription),
        "decided: gone from the inbox"
    );
    let (_, info) = d
        .admin
        .get(&format!("{ADMIN}/workflows/{subscription}"))
        .await;
    assert_eq!(info["workflowStatus"], "APPROVED");
    assert_eq!(info["properties"]["decidedBy"], "approver-ann");
    assert_eq!(info["properties"]["comment"], "looks fine");
    let (status, _) = ann
        .post(
            &format!("/admin/workflows/{own}/decide"),
            &[("decision", "reject"), ("comment", "not now")],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, own_app) = d.admin.get(&format!("{DEV}/applications/{own_app}")).await;
    assert_eq!(own_app["status"], "REJECTED", "{own_app}");
    let (_, page) = admin
        .get(&format!(
            "/devportal/applications/{}",
            own_app["applicationId"].as_str().unwrap()
        ))
        .await;
    assert!(page.contains("rejected"), "{page}");
    // A developer has no inbox.
    let (status, _) = dora.get("/admin/workflows").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    d.up.stop();
}
