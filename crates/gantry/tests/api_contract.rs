//! Gantry's own OpenAPI documents as a contract, checked against the running binary:
//! they are served (YAML and JSON, anonymously), every operation that lists scopes answers
//! 401 without credentials and 403 to a user without the scopes (so the documents and the
//! routes cannot drift apart), and real responses conform to the documented schemas.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use gantry_testkit::GantryUp;
use gantry_testkit::openapi::{Nulls, find_operation, mismatches};
use gantry_testkit::rest::Rest;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_gantry");
const BASES: [&str; 3] = [
    "/api/am/publisher/v4",
    "/api/am/devportal/v3",
    "/api/am/admin/v4",
];

struct Contract {
    docs: Vec<(String, Value)>,
}

impl Contract {
    /// Calls `method path` and checks the response against the documented schema (the
    /// success schema, or `Error` for 4xx); the response body.
    async fn call(&self, rest: &Rest, method: Method, path: &str, body: Option<Value>) -> Value {
        let (base, doc) = self
            .docs
            .iter()
            .find(|(base, _)| path.starts_with(base.as_str()))
            .unwrap();
        let relative = &path[base.len()..];
        let operation = find_operation(doc, &method.as_str().to_lowercase(), relative)
            .unwrap_or_else(|| panic!("{method} {relative} is not documented"));
        let (status, value) = rest.send(method.clone(), path, body).await;
        let documented = &operation["responses"][status.as_str()];
        assert!(
            !documented.is_null(),
            "{method} {path} answered {status}, which is not documented: {value}"
        );
        let schema = if status.is_client_error() {
            json!({"$ref": "#/components/schemas/Error"})
        } else {
            documented["content"]["application/json"]["schema"].clone()
        };
        if !schema.is_null() {
            let errors = mismatches(doc, &schema, &value, Nulls::WhereNullable);
            assert!(errors.is_empty(), "{method} {path} ({status}): {errors:?}");
        }
        value
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn documents_are_served_enforced_and_honoured() {
    let mut up = GantryUp::start_with(BIN, false).await;
    let admin = up.rest();
    let anonymous = admin.anonymous();

    let mut docs = Vec::new();
    for base in BASES {
        let response = anonymous
            .request(Method::GET, &format!("{base}/swagger.yaml"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{base}/swagger.yaml");
        assert_eq!(response.headers()["content-type"], "application/yaml");
        let yaml = response.text().await.unwrap();
        assert!(yaml.contains("openapi: 3.0.1"), "{yaml}");
        let (status, doc) = anonymous.get(&format!("{base}/swagger.json")).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(doc["servers"][0]["url"], base);
        docs.push((base.to_owned(), doc));
    }

    // Every operation with scopes: 401 anonymous, 403 for a user whose roles allow none.
    admin
        .create_user("everyone-e", "everyone-pass-1", &["Internal/everyone"])
        .await;
    let nobody = admin.as_user("everyone-e", "everyone-pass-1");
    let mut checked = 0;
    for (base, doc) in &docs {
        for (template, item) in doc["paths"].as_object().unwrap() {
            for (method, operation) in item.as_object().unwrap() {
                if operation["x-scopes"].as_array().unwrap().is_empty() {
                    continue;
                }
                let path = format!(
                    "{base}{}",
                    template
                        .split('/')
                        .map(|s| if s.starts_with('{') {
                            "0c0ffee0-0000-4000-8000-000000000000"
                        } else {
                            s
                        })
                        .collect::<Vec<_>>()
                        .join("/")
                );
                let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
                let (status, body) = anonymous.send(method.clone(), &path, Some(json!({}))).await;
                assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {path}: {body}");
                let (status, body) = nobody.send(method.clone(), &path, Some(json!({}))).await;
                assert_eq!(status, StatusCode::FORBIDDEN, "{method} {path}: {body}");
                // A HEAD answer has no body to say why.
                assert!(
                    method == Method::HEAD
                        || body["description"].as_str().unwrap().contains("scope"),
                    "{body}"
                );
                checked += 1;
            }
        }
    }
    assert!(checked > 60, "only {checked} operations checked");

    // Real responses conform to the documented schemas.
    let contract = Contract { docs };
    let api = contract
        .call(
            &admin,
            Method::POST,
            "/api/am/publisher/v4/apis",
            Some(json!({"name": "Contract", "context": "/contract", "version": "1.0.0",
                        "policies": ["Gold"], "tags": ["c"],
                        "operations": [{"target": "/things/{id}", "verb": "GET", "scopes": ["things:read"]}]})),
        )
        .await;
    let api_id = api["id"].as_str().unwrap();
    contract
        .call(
            &admin,
            Method::GET,
            "/api/am/publisher/v4/apis?query=tag:c",
            None,
        )
        .await;
    contract
        .call(
            &admin,
            Method::GET,
            &format!("/api/am/publisher/v4/apis/{api_id}"),
            None,
        )
        .await;
    contract
        .call(
            &admin,
            Method::POST,
            &format!("/api/am/publisher/v4/apis/change-lifecycle?apiId={api_id}&action=Publish"),
            None,
        )
        .await;
    contract
        .call(
            &admin,
            Method::GET,
            &format!("/api/am/publisher/v4/apis/{api_id}/lifecycle-state"),
            None,
        )
        .await;
    contract
        .call(&admin, Method::GET, "/api/am/publisher/v4/apis/nope", None)
        .await;
    contract
        .call(
            &admin,
            Method::POST,
            "/api/am/publisher/v4/apis",
            Some(json!({"name": "Bad", "version": "1"})),
        )
        .await;
    contract
        .call(&anonymous, Method::GET, "/api/am/devportal/v3/apis", None)
        .await;
    let app = contract
        .call(
            &admin,
            Method::POST,
            "/api/am/devportal/v3/applications",
            Some(json!({"name": "contract-app", "throttlingPolicy": "Unlimited"})),
        )
        .await;
    let app_id = app["applicationId"].as_str().unwrap();
    contract
        .call(
            &admin,
            Method::GET,
            "/api/am/devportal/v3/applications",
            None,
        )
        .await;
    contract
        .call(
            &admin,
            Method::POST,
            &format!("/api/am/devportal/v3/applications/{app_id}/generate-keys"),
            Some(json!({"keyType": "SANDBOX", "grantTypesToBeSupported": ["client_credentials"]})),
        )
        .await;
    contract
        .call(
            &admin,
            Method::POST,
            "/api/am/devportal/v3/subscriptions",
            Some(json!({"applicationId": app_id, "apiId": api_id, "throttlingPolicy": "Gold"})),
        )
        .await;
    contract
        .call(
            &admin,
            Method::GET,
            "/api/am/admin/v4/throttling/policies/subscription",
            None,
        )
        .await;
    contract
        .call(
            &admin,
            Method::POST,
            "/api/am/admin/v4/throttling/policies/application",
            Some(
                json!({"policyName": "5PerMin", "defaultLimit": {"type": "REQUESTCOUNTLIMIT",
                "requestCount": {"timeUnit": "min", "unitTime": 1, "requestCount": 5}}}),
            ),
        )
        .await;
    contract
        .call(
            &admin,
            Method::GET,
            "/api/am/admin/v4/workflows?workflowType=AM_SUBSCRIPTION_CREATION",
            None,
        )
        .await;
    contract
        .call(
            &admin,
            Method::POST,
            "/api/am/admin/v4/workflows/update-workflow-status?workflowReferenceId=nope",
            Some(json!({"status": "APPROVED"})),
        )
        .await;
    let advanced = contract
        .call(
            &admin,
            Method::POST,
            "/api/am/admin/v4/throttling/policies/advanced",
            Some(json!({"policyName": "Conditional", "defaultLimit": {"type": "REQUESTCOUNTLIMIT",
                "requestCount": {"timeUnit": "min", "unitTime": 1, "requestCount": 50}},
                "conditionalGroups": [{"conditions": [{"type": "IPCONDITION", "invertCondition": false,
                    "ipCondition": {"ipConditionType": "IPSPECIFIC", "specificIP": "10.0.0.1"}}],
                    "limit": {"type": "REQUESTCOUNTLIMIT",
                              "requestCount": {"timeUnit": "min", "unitTime": 1, "requestCount": 5}}}]})),
        )
        .await;
    assert_eq!(
        advanced["conditionalGroups"][0]["conditions"][0]["type"],
        "IPCONDITION"
    );
    let deny = "/api/am/admin/v4/throttling/deny-policies";
    let blocked = contract
        .call(
            &admin,
            Method::POST,
            deny,
            Some(json!({"conditionType": "IPRANGE",
                        "conditionValue": {"startingIp": "10.0.0.1", "endingIp": "10.0.0.9", "invert": false}})),
        )
        .await;
    let condition_id = blocked["conditionId"].as_str().unwrap();
    contract
        .call(
            &admin,
            Method::GET,
            &format!("{deny}?query=conditionType:IPRANGE"),
            None,
        )
        .await;
    let one = format!("/api/am/admin/v4/throttling/deny-policy/{condition_id}");
    contract.call(&admin, Method::GET, &one, None).await;
    contract
        .call(
            &admin,
            Method::PATCH,
            &one,
            Some(json!({"conditionStatus": false})),
        )
        .await;
    contract
        .call(
            &admin,
            Method::POST,
            deny,
            Some(json!({"conditionType": "IP", "conditionValue": {"fixedIp": "nope"}})),
        )
        .await;
    contract.call(&admin, Method::DELETE, &one, None).await;
    let custom = "/api/am/admin/v4/throttling/policies/custom";
    let rule = contract
        .call(
            &admin,
            Method::POST,
            custom,
            Some(json!({"policyName": "PerUser", "keyTemplate": "$userId:$apiContext",
                "defaultLimit": {"type": "REQUESTCOUNTLIMIT",
                                 "requestCount": {"timeUnit": "min", "unitTime": 1, "requestCount": 100}}})),
        )
        .await;
    contract.call(&admin, Method::GET, custom, None).await;
    contract
        .call(
            &admin,
            Method::GET,
            &format!("{custom}/{}", rule["policyId"].as_str().unwrap()),
            None,
        )
        .await;
    up.stop();
}
