//! Operation-level header policies (WSO2 4.x `operations[].operationPolicies`) against the
//! real `gantry up` binary and an echo upstream: they apply to their operation only, after
//! the API-level `apiPolicies`, on the request and on the response; a bad one is a 400 that
//! names it.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use gantry_testkit::{EchoUpstream, GantryUp};
use reqwest::StatusCode;
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_gantry");
const PUB: &str = "/api/am/publisher/v4";

fn header(name: &str, header: &str, value: Option<&str>) -> Value {
    let mut parameters = json!({"headerName": header});
    if let Some(v) = value {
        parameters["headerValue"] = json!(v);
    }
    json!({"policyName": name, "policyVersion": "v1", "parameters": parameters})
}

async fn call(up: &GantryUp, path: &str) -> (StatusCode, reqwest::header::HeaderMap, Value) {
    let response = up
        .gw_client()
        .get(up.gw_url(path))
        .header("x-debug", "1")
        .header("x-env", "client")
        .send()
        .await
        .unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let seen = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap_or(Value::Null);
    (status, headers, seen)
}

#[tokio::test]
async fn operation_policies_apply_to_their_operation_after_the_api_policies() {
    let upstream = EchoUpstream::start().await;
    let up = GantryUp::start(BIN).await;
    let rest = up.rest();

    // An unknown policy on an operation: 400 naming where it is.
    let (status, body) = rest
        .post(
            &format!("{PUB}/apis"),
            json!({"name": "BadOp", "context": "/bad-op", "version": "1.0.0",
                "operations": [{"target": "/a", "verb": "GET",
                    "operationPolicies": {"request": [header("callInterceptor", "X", None)]}}]}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["description"]
            .as_str()
            .unwrap()
            .contains("operations[0].operationPolicies.request[0].policyName"),
        "{body}"
    );
    let (status, body) = rest
        .post(
            &format!("{PUB}/apis"),
            json!({"name": "BadOpValue", "context": "/bad-op-value", "version": "1.0.0",
                "operations": [{"target": "/a", "verb": "GET",
                    "operationPolicies": {"response": [header("addHeader", "X-A", Some("a\r\nb"))]}}]}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["description"]
            .as_str()
            .unwrap()
            .contains("operations[0].operationPolicies.response[0].parameters.headerValue"),
        "{body}"
    );

    let (status, api) = rest
        .post(
            &format!("{PUB}/apis"),
            json!({"name": "OpMediated", "context": "/op-mediated", "version": "1.0.0",
                "endpointConfig": {"endpoint_type": "http", "production_endpoints": {"url": upstream.url()}},
                "apiPolicies": {
                    "request": [header("addHeader", "X-Env", Some("api")),
                                header("addHeader", "X-Api-Level", Some("yes"))],
                    "response": [header("addHeader", "X-Served-By", Some("gantry"))]},
                "operations": [
                    {"target": "/orders", "verb": "GET", "authType": "None",
                     "operationPolicies": {
                        "request": [header("addHeader", "X-Env", Some("orders")),
                                    header("addHeader", "X-Op", Some("orders")),
                                    header("removeHeader", "X-Debug", None)],
                        "response": [header("removeHeader", "X-Served-By", None),
                                     header("addHeader", "X-Op-Response", Some("orders"))]}},
                    {"target": "/other", "verb": "GET", "authType": "None"}]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{api}");
    let id = api["id"].as_str().unwrap();
    // The policies round-trip through the REST API.
    assert_eq!(
        api["operations"][0]["operationPolicies"]["request"][1]["parameters"]["headerName"], "X-Op",
        "{api}"
    );
    rest.publish_and_deploy(id, &["Default"]).await;

    let mut deployed = false;
    for _ in 0..50 {
        if call(&up, "/op-mediated/1.0.0/orders").await.0 == StatusCode::OK {
            deployed = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(deployed, "the API is served");

    let (status, headers, seen) = call(&up, "/op-mediated/1.0.0/orders").await;
    assert_eq!(status, StatusCode::OK);
    // Request: the operation's policies ran after the API's (X-Env overridden again).
    assert_eq!(seen["headers"]["x-env"], "orders", "{seen}");
    assert_eq!(seen["headers"]["x-op"], "orders", "{seen}");
    assert_eq!(seen["headers"]["x-api-level"], "yes", "{seen}");
    assert!(seen["headers"].get("x-debug").is_none(), "{seen}");
    // Response: the API added X-Served-By, the operation removed it and added its own.
    assert!(headers.get("x-served-by").is_none(), "{headers:?}");
    assert_eq!(headers["x-op-response"], "orders");

    // Another operation of the same API: only the API's policies.
    let (status, headers, seen) = call(&up, "/op-mediated/1.0.0/other").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(seen["headers"]["x-env"], "api", "{seen}");
    assert!(seen["headers"].get("x-op").is_none(), "{seen}");
    assert_eq!(seen["headers"]["x-debug"], "1", "{seen}");
    assert_eq!(headers["x-served-by"], "gantry");
    assert!(headers.get("x-op-response").is_none());
}

#[tokio::test]
async fn a_bandwidth_policy_lets_calls_through_until_its_bytes_are_used() {
    const ADM: &str = "/api/am/admin/v4/throttling/policies";
    let upstream = EchoUpstream::start().await;
    let up = GantryUp::start(BIN).await;
    let rest = up.rest();

    // WSO2's BANDWIDTHLIMIT is accepted at every level and reads back as sent.
    let bandwidth = |name: &str, unit: &str| {
        json!({"policyName": name, "defaultLimit": {"type": "BANDWIDTHLIMIT",
            "bandwidth": {"timeUnit": "min", "unitTime": 1, "dataAmount": 1, "dataUnit": unit}}})
    };
    for level in ["subscription", "application", "advanced"] {
        let (status, policy) = rest
            .post(
                &format!("{ADM}/{level}"),
                bandwidth(&format!("Band-{level}"), "MB"),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{level}: {policy}");
        assert_eq!(policy["defaultLimit"]["type"], "BANDWIDTHLIMIT", "{policy}");
        assert_eq!(
            policy["defaultLimit"]["bandwidth"]["dataUnit"], "MB",
            "{policy}"
        );
        assert_eq!(
            policy["defaultLimit"]["bandwidth"]["dataAmount"], 1,
            "{policy}"
        );
    }
    for (body, field) in [
        (
            bandwidth("BadUnit", "GB"),
            "defaultLimit.bandwidth.dataUnit",
        ),
        (
            json!({"policyName": "NoBand", "defaultLimit": {"type": "BANDWIDTHLIMIT"}}),
            "defaultLimit.bandwidth",
        ),
        (
            json!({"policyName": "Zero", "defaultLimit": {"type": "BANDWIDTHLIMIT",
                "bandwidth": {"timeUnit": "min", "unitTime": 1, "dataAmount": 0, "dataUnit": "KB"}}}),
            "defaultLimit.bandwidth.dataAmount",
        ),
    ] {
        let (status, error) = rest.post(&format!("{ADM}/subscription"), body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
        assert!(
            error["description"].as_str().unwrap().contains(field),
            "{field}: {error}"
        );
    }

    // A 1 KB per minute subscription tier.
    let (status, policy) = rest
        .post(&format!("{ADM}/subscription"), bandwidth("OneKB", "KB"))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{policy}");
    let (status, api) = rest
        .post(
            &format!("{PUB}/apis"),
            json!({"name": "Metered", "context": "/metered", "version": "1.0.0",
                "policies": ["OneKB"],
                "endpointConfig": {"endpoint_type": "http", "production_endpoints": {"url": upstream.url()}},
                "operations": [{"target": "/*", "verb": "GET"}, {"target": "/*", "verb": "POST"}]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{api}");
    let api_id = api["id"].as_str().unwrap().to_owned();
    rest.publish_and_deploy(&api_id, &["Default"]).await;
    let token = rest
        .subscribed_token("MeteredApp", &[&api_id], "OneKB")
        .await;
    assert!(
        up.eventually_gw_status("/metered/1.0.0/a", &token, 200)
            .await
    );

    // A body without a declared length cannot be counted up front: 411, not forwarded.
    let before = upstream.hits();
    let reply = gantry_testkit::raw::exchange(
        up.gw_port,
        &format!(
            "POST /metered/1.0.0/a HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {token}\r\n\
             Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
        ),
    )
    .await;
    assert!(reply.starts_with("HTTP/1.1 411"), "{reply}");
    assert_eq!(upstream.hits(), before);

    // The echo's answers are a few hundred bytes each: some calls pass, then the window's
    // kilobyte is spent and the next call is refused like a request-count tier.
    let mut moved = 0usize;
    let mut refused = None;
    for _ in 0..20 {
        let response = up
            .gw_client()
            .get(up.gw_url("/metered/1.0.0/a"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            refused = Some(response);
            break;
        }
        assert_eq!(response.status(), StatusCode::OK);
        moved += response.bytes().await.unwrap().len();
    }
    let refused = refused.expect("the bandwidth limit refuses once its bytes are used");
    // The eventually-poll above spent some of the kilobyte too.
    assert!(moved > 0, "calls went through before the limit");
    assert!(refused.headers().contains_key("retry-after"));
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["code"], "900804", "{body}");
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("1024 bytes"),
        "{body}"
    );
}
