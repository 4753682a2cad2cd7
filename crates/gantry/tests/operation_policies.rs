//! WSO2 4.x operation policies against the real `gantry up` binary, a recording echo
//! upstream and, for the call-out, a real interceptor service this test runs: the catalogue
//! REST API, validation that names the field, each built-in policy on the request and the
//! response, the fault flow, gateway policies, and revisions keeping their policies.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::Bytes;
use gantry_testkit::{EchoUpstream, GantryUp};
use http_body_util::{BodyExt as _, Full};
use reqwest::StatusCode;
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_gantry");
const PUB: &str = "/api/am/publisher/v4";

fn policy(name: &str, parameters: Value) -> Value {
    json!({"policyName": name, "policyVersion": "v1", "parameters": parameters})
}

fn add_header(name: &str, value: &str) -> Value {
    policy(
        "addHeader",
        json!({"headerName": name, "headerValue": value}),
    )
}

/// Creates an API of open (`authType: None`) `operations` in front of `upstream` with
/// `extra` fields, publishes and deploys it to `Default`, and waits until `probe` answers.
async fn open_api(
    up: &GantryUp,
    name: &str,
    upstream: &str,
    operations: Value,
    extra: Value,
    probe: &str,
) -> String {
    let mut body = json!({"name": name, "context": format!("/{}", name.to_lowercase()), "version": "1.0.0",
        "endpointConfig": {"endpoint_type": "http", "production_endpoints": {"url": upstream}},
        "operations": operations});
    if let (Value::Object(body), Value::Object(extra)) = (&mut body, extra) {
        body.extend(extra);
    }
    let rest = up.rest();
    let (status, api) = rest.post(&format!("{PUB}/apis"), body).await;
    assert_eq!(status, StatusCode::CREATED, "{api}");
    let id = api["id"].as_str().unwrap().to_owned();
    rest.publish_and_deploy(&id, &["Default"]).await;
    served(up, probe).await;
    id
}

/// Waits until `path` answers something other than 404.
async fn served(up: &GantryUp, path: &str) {
    let client = up.gw_client();
    assert!(
        gantry_testkit::eventually(Duration::from_secs(10), || {
            let request = client.get(up.gw_url(path));
            async move {
                request
                    .send()
                    .await
                    .is_ok_and(|r| r.status() != StatusCode::NOT_FOUND)
            }
        })
        .await,
        "{path} is served"
    );
}

async fn json_of(response: reqwest::Response) -> (StatusCode, reqwest::header::HeaderMap, Value) {
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.bytes().await.unwrap();
    (
        status,
        headers,
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned())),
    )
}

/// WSO2's publisher document's schemas, as JSON (for `openapi::mismatches`).
fn wso2_schemas() -> Value {
    let text =
        std::fs::read_to_string("/work/shared/reference/wso2-specs/v4.7.0/publisher-api.yaml")
            .or_else(|_| {
                std::fs::read_to_string(concat!(
                    env!("CARGO_MANIFEST_DIR"),
                    "/../../../shared/reference/wso2-specs/v4.7.0/publisher-api.yaml"
                ))
            })
            .unwrap();
    let yaml: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).unwrap();
    let schemas = serde_json::to_value(&yaml["components"]["schemas"]).unwrap();
    json!({"components": {"schemas": schemas}})
}

/// Imports a policy (WSO2's multipart upload of a spec and a Synapse definition) at `path`.
async fn import(
    rest: &gantry_testkit::rest::Rest,
    path: &str,
    spec: &str,
    definition: &str,
) -> (StatusCode, Value) {
    let files = ["policySpecFile", "synapsePolicyDefinitionFile"];
    rest.send_multipart(
        reqwest::Method::POST,
        path,
        &[(files[0], spec), (files[1], definition)],
        &files,
    )
    .await
}

fn conforms(doc: &Value, schema: &str, value: &Value) {
    let errors = gantry_testkit::openapi::mismatches(
        doc,
        &json!({"$ref": format!("#/components/schemas/{schema}")}),
        value,
        gantry_testkit::openapi::Nulls::AsAbsent,
    );
    assert!(errors.is_empty(), "{schema}: {errors:?} in {value}");
}

#[tokio::test]
async fn the_catalogue_lists_builtins_imports_policies_and_validation_names_the_field() {
    let up = GantryUp::start(BIN).await;
    let rest = up.rest();
    let wso2 = wso2_schemas();

    // Built-ins in WSO2's shape.
    let (status, list) = rest
        .get(&format!("{PUB}/operation-policies?limit=100"))
        .await;
    assert_eq!(status, StatusCode::OK, "{list}");
    conforms(&wso2, "OperationPolicyDataList", &list);
    let names: Vec<&str> = list["list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    for name in [
        "addHeader",
        "removeHeader",
        "renameHeader",
        "addQueryParam",
        "removeQueryParam",
        "changeHTTPMethod",
        "rewriteResourcePath",
        "setBackendEndpoint",
        "jsonToXML",
        "xmlToJson",
        "jsonSchemaValidator",
        "bodySizeLimit",
        "mockResponse",
        "callInterceptorService",
    ] {
        assert!(names.contains(&name), "{name} in {names:?}");
    }
    let (_, found) = rest
        .get(&format!("{PUB}/operation-policies?query=name:addHeader"))
        .await;
    assert_eq!(found["count"], 1, "{found}");
    let add = &found["list"][0];
    assert_eq!(
        add["applicableFlows"],
        json!(["request", "response", "fault"])
    );
    assert_eq!(add["policyAttributes"][0]["name"], "headerName");
    assert_eq!(add["policyAttributes"][0]["required"], true);
    assert!(add["policyAttributes"][0]["validationRegex"].is_string());
    let id = add["id"].as_str().unwrap();
    let (status, one) = rest.get(&format!("{PUB}/operation-policies/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    conforms(&wso2, "OperationPolicyData", &one);
    let content = rest
        .request(
            reqwest::Method::GET,
            &format!("{PUB}/operation-policies/{id}/content"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(content.status(), StatusCode::OK);
    assert_eq!(content.headers()["content-type"], "application/zip");
    assert!(content.bytes().await.unwrap().starts_with(b"PK"));
    let (status, _) = rest.delete(&format!("{PUB}/operation-policies/{id}")).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "built-ins cannot be deleted");

    // Import a common policy: spec (WSO2's file) + definition.
    let spec = "type: operation_policy_specification\nversion: v4.7.0\ndata:\n  name: stampHeader\n  version: v1\n  displayName: Stamp\n  category: Mediation\n  applicableFlows: [request]\n  supportedGateways: [Synapse]\n  supportedApiTypes: [HTTP]\n  policyAttributes:\n    - name: stamp\n      type: String\n      required: true\n";
    let (status, imported) = import(
        &rest,
        &format!("{PUB}/operation-policies"),
        spec,
        "<property name=\"stamp\"/>",
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{imported}");
    conforms(&wso2, "OperationPolicyData", &imported);
    assert_eq!(imported["name"], "stampHeader");
    assert_eq!(imported["isAPISpecific"], false);
    let imported_id = imported["id"].as_str().unwrap().to_owned();
    let (status, again) = import(&rest, &format!("{PUB}/operation-policies"), spec, "x").await;
    assert_eq!(status, StatusCode::CONFLICT, "{again}");
    let (status, bad) = import(
        &rest,
        &format!("{PUB}/operation-policies"),
        "data:\n  name: x\n  applicableFlows: []\n",
        "x",
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
    assert!(
        bad["description"]
            .as_str()
            .unwrap()
            .contains("applicableFlows"),
        "{bad}"
    );

    // Validation at create: unknown policy, bad parameter, missing one, wrong flow.
    let ops = |third: Value| {
        json!([{"target": "/a", "verb": "GET"}, {"target": "/b", "verb": "GET"},
               {"target": "/c", "verb": "POST", "operationPolicies": third}])
    };
    for (policies, field) in [
        (
            json!({"request": [policy("noSuchPolicy", json!({}))]}),
            "operations[2].operationPolicies.request[0].policyName",
        ),
        (
            json!({"request": [policy("stampHeader", json!({"stamp": "x"}))]}),
            "operations[2].operationPolicies.request[0].policyName",
        ),
        (
            json!({"request": [add_header("X A", "1")]}),
            "operations[2].operationPolicies.request[0].parameters.headerName",
        ),
        (
            json!({"request": [policy("addHeader", json!({"headerName": "X-A"}))]}),
            "operations[2].operationPolicies.request[0].parameters.headerValue",
        ),
        (
            json!({"response": [policy("addQueryParam", json!({"paramKey": "a", "paramValue": "b"}))]}),
            "operations[2].operationPolicies.response[0].policyName",
        ),
        (
            json!({"request": [policy("bodySizeLimit", json!({"maxSizeBytes": "lots"}))]}),
            "operations[2].operationPolicies.request[0].parameters.maxSizeBytes",
        ),
        (
            json!({"request": [policy("jsonSchemaValidator", json!({"schema": "{\"type\": \"text\"}"}))]}),
            "operations[2].operationPolicies.request[0].parameters.schema.type",
        ),
    ] {
        let (status, error) = rest
            .post(&format!("{PUB}/apis"), json!({"name": "Bad", "context": "/bad", "version": "1.0.0", "operations": ops(policies)}))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{field}: {error}");
        assert!(
            error["description"].as_str().unwrap().contains(field),
            "{field}: {error}"
        );
    }

    // API-specific policies belong to their API, under its Publisher access control: those
    // who may not see a RESTRICTED API get 404 for its policies too.
    let (status, api) = rest
        .post(
            &format!("{PUB}/apis"),
            json!({"name": "Owned", "context": "/owned", "version": "1.0.0",
                   "accessControl": "RESTRICTED", "accessControlRoles": ["admin"]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{api}");
    let api_id = api["id"].as_str().unwrap();
    let (status, own) = import(
        &rest,
        &format!("{PUB}/apis/{api_id}/operation-policies"),
        spec,
        "x",
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{own}");
    assert_eq!(own["isAPISpecific"], true);
    let own_id = own["id"].as_str().unwrap();
    let (_, listed) = rest
        .get(&format!("{PUB}/apis/{api_id}/operation-policies"))
        .await;
    assert_eq!(listed["count"], 1, "{listed}");
    rest.create_user("creator2", "Creator2-pass!", &["Internal/creator"])
        .await;
    let other = rest.as_user("creator2", "Creator2-pass!");
    let (status, _) = other
        .get(&format!("{PUB}/apis/{api_id}/operation-policies/{own_id}"))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = other
        .get(&format!("{PUB}/apis/{api_id}/operation-policies"))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = other
        .delete(&format!("{PUB}/apis/{api_id}/operation-policies/{own_id}"))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // An API without access control is every publisher's to read, its policies too.
    let (status, open) = rest
        .post(
            &format!("{PUB}/apis"),
            json!({"name": "Open", "context": "/open", "version": "1.0.0"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{open}");
    let (status, listed) = other
        .get(&format!(
            "{PUB}/apis/{}/operation-policies",
            open["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{listed}");
    assert_eq!(listed["count"], 0, "{listed}");
    let (status, _) = other
        .delete(&format!("{PUB}/operation-policies/{imported_id}"))
        .await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "a creator cannot manage common policies"
    );
    let (status, _) = rest
        .delete(&format!("{PUB}/apis/{api_id}/operation-policies/{own_id}"))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = rest
        .delete(&format!("{PUB}/operation-policies/{imported_id}"))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = rest
        .get(&format!("{PUB}/operation-policies/{imported_id}"))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn request_and_response_policies_change_what_upstream_and_client_see() {
    let upstream = EchoUpstream::start().await;
    let elsewhere = EchoUpstream::start().await;
    let up = GantryUp::start(BIN).await;
    let schema = json!({"type": "object", "required": ["name", "qty"],
        "properties": {"name": {"type": "string"}, "qty": {"type": "integer", "minimum": 1}}});
    let operations = json!([
        {"target": "/headers", "verb": "GET", "authType": "None", "operationPolicies": {
            "request": [add_header("X-Order", "operation"),
                        policy("renameHeader", json!({"currentHeaderName": "X-Old", "newHeaderName": "X-New"})),
                        policy("removeHeader", json!({"headerName": "X-Secret"})),
                        policy("addQueryParam", json!({"paramKey": "added", "paramValue": "a b"})),
                        policy("removeQueryParam", json!({"paramKey": "drop"}))],
            "response": [policy("renameHeader", json!({"currentHeaderName": "X-Api-Response", "newHeaderName": "X-Renamed"})),
                         policy("removeHeader", json!({"headerName": "Content-Type"}))]}},
        {"target": "/orders/{id}", "verb": "GET", "authType": "None", "operationPolicies": {
            "request": [policy("changeHTTPMethod", json!({"updatedMethod": "POST"})),
                        policy("rewriteResourcePath", json!({"resourcePath": "/v2/rewritten", "includeQueryParams": false}))]}},
        {"target": "/to-xml", "verb": "POST", "authType": "None", "operationPolicies": {
            "request": [policy("jsonToXML", json!({}))],
            "response": [policy("jsonToXML", json!({"rootElement": "echo"}))]}},
        {"target": "/to-json", "verb": "POST", "authType": "None", "operationPolicies": {
            "request": [policy("xmlToJson", json!({}))]}},
        {"target": "/validated", "verb": "POST", "authType": "None", "operationPolicies": {
            "request": [policy("jsonSchemaValidator", json!({"schema": schema.to_string()}))]}},
        {"target": "/small", "verb": "POST", "authType": "None", "operationPolicies": {
            "request": [policy("bodySizeLimit", json!({"maxSizeBytes": 16}))]}},
        {"target": "/mocked", "verb": "GET", "authType": "None", "operationPolicies": {
            "request": [policy("mockResponse", json!({"statusCode": 202, "body": "{\"mock\":true}",
                "headers": "{\"X-Mock\": \"yes\"}"}))]}},
        {"target": "/elsewhere", "verb": "GET", "authType": "None", "operationPolicies": {
            "request": [policy("setBackendEndpoint", json!({"endpointUrl": format!("{}/other-base", elsewhere.url())}))]}},
        {"target": "/plain", "verb": "GET", "authType": "None"}
    ]);
    open_api(
        &up,
        "Mediated",
        &format!("{}/base", upstream.url()),
        operations,
        json!({"apiPolicies": {
            "request": [add_header("X-Order", "api"), add_header("X-Api-Level", "yes")],
            "response": [add_header("X-Api-Response", "api")]}}),
        "/mediated/1.0.0/plain",
    )
    .await;
    let client = up.gw_client();
    let url = |p: &str| up.gw_url(&format!("/mediated/1.0.0{p}"));

    // Headers and query: API level first, then the operation's (X-Order overridden).
    let (status, headers, seen) = json_of(
        client
            .get(url("/headers?drop=1&keep=2"))
            .header("x-old", "moved")
            .header("x-secret", "s3cret")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{seen}");
    assert_eq!(seen["headers"]["x-order"], "operation", "{seen}");
    assert_eq!(seen["headers"]["x-api-level"], "yes", "{seen}");
    assert_eq!(seen["headers"]["x-new"], "moved", "{seen}");
    assert!(
        seen["headers"].get("x-old").is_none() && seen["headers"].get("x-secret").is_none(),
        "{seen}"
    );
    assert_eq!(seen["query"], "keep=2&added=a%20b", "{seen}");
    assert_eq!(seen["path"], "/base/headers", "{seen}");
    // Response: the API's header, then renamed by the operation; Content-Type removed.
    assert_eq!(headers["x-renamed"], "api");
    assert!(headers.get("x-api-response").is_none() && headers.get("content-type").is_none());

    // Another operation: only the API's policies.
    let (_, headers, seen) = json_of(
        client
            .get(url("/plain"))
            .header("x-secret", "1")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(seen["headers"]["x-order"], "api", "{seen}");
    assert_eq!(seen["headers"]["x-secret"], "1", "{seen}");
    assert_eq!(headers["x-api-response"], "api");

    // Method and resource path.
    let (_, _, seen) = json_of(client.get(url("/orders/7?x=1")).send().await.unwrap()).await;
    assert_eq!(seen["method"], "POST", "{seen}");
    assert_eq!(seen["path"], "/base/v2/rewritten", "{seen}");
    assert!(seen["query"].is_null(), "{seen}");

    // JSON → XML on the way in, and the echo's JSON answer → XML on the way out.
    let response = client
        .post(url("/to-xml"))
        .header("content-type", "application/json")
        .body(r#"{"order": {"item": ["a", "b"], "qty": 2}}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "application/xml");
    let xml = response.text().await.unwrap();
    assert!(xml.starts_with("<?xml") && xml.contains("<echo>"), "{xml}");
    assert!(xml.contains("&lt;jsonObject&gt;&lt;order&gt;&lt;item&gt;a&lt;/item&gt;&lt;item&gt;b&lt;/item&gt;&lt;qty&gt;2&lt;/qty&gt;&lt;/order&gt;&lt;/jsonObject&gt;"), "{xml}");
    assert!(
        xml.contains("<content-type>application/xml</content-type>"),
        "{xml}"
    );
    // Not JSON: 400 naming why, upstream not called.
    let before = upstream.hits();
    let (status, _, error) = json_of(
        client
            .post(url("/to-xml"))
            .body("{oops")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
    assert!(
        error["error_description"]
            .as_str()
            .unwrap()
            .contains("not JSON"),
        "{error}"
    );
    assert_eq!(upstream.hits(), before);

    // XML → JSON.
    let (_, _, seen) = json_of(
        client
            .post(url("/to-json"))
            .header("content-type", "application/xml")
            .body("<order id=\"9\"><item>a</item><item>b</item></order>")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        seen["headers"]["content-type"], "application/json",
        "{seen}"
    );
    let body: Value = serde_json::from_str(seen["body"].as_str().unwrap()).unwrap();
    assert_eq!(body, json!({"order": {"@id": 9, "item": ["a", "b"]}}));

    // JSON schema: the violation in WSO2's error body; a valid body passes.
    let (status, _, error) = json_of(
        client
            .post(url("/validated"))
            .body(r#"{"name": "x", "qty": 0}"#)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
    assert_eq!(error["code"], "400");
    assert!(
        error["error_description"]
            .as_str()
            .unwrap()
            .contains("$.qty: 0 is below the minimum"),
        "{error}"
    );
    let (status, _, error) = json_of(
        client
            .post(url("/validated"))
            .body(r#"{"name": "x"}"#)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        error["error_description"]
            .as_str()
            .unwrap()
            .contains("required property 'qty' is missing"),
        "{error}"
    );
    let (status, _, seen) = json_of(
        client
            .post(url("/validated"))
            .body(r#"{"name": "x", "qty": 3}"#)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{seen}");
    assert_eq!(seen["bodyLength"], 23);

    // Body size limit: declared and streamed bodies over it get 413.
    let before = upstream.hits();
    let (status, _, _) = json_of(
        client
            .post(url("/small"))
            .body("x".repeat(17))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    let reply = gantry_testkit::raw::exchange(
        up.gw_port,
        "POST /mediated/1.0.0/small HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n14\r\n01234567890123456789\r\n0\r\n\r\n",
    )
    .await;
    assert!(reply.starts_with("HTTP/1.1 413"), "{reply}");
    assert_eq!(
        upstream.hits(),
        before,
        "nothing over the limit reached the upstream"
    );
    let (status, _, _) = json_of(
        client
            .post(url("/small"))
            .body("x".repeat(16))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);

    // Mock: fixed answer, upstream not called.
    let before = upstream.hits();
    let (status, headers, body) = json_of(client.get(url("/mocked")).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(body, json!({"mock": true}));
    assert_eq!(headers["x-mock"], "yes");
    assert_eq!(
        headers["x-api-response"], "api",
        "the response flow runs on a mock"
    );
    assert_eq!(upstream.hits(), before);

    // Backend endpoint override.
    let (status, _, seen) = json_of(client.get(url("/elsewhere")).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(seen["path"], "/other-base/elsewhere", "{seen}");
    assert_eq!(elsewhere.hits(), 1);
}

#[tokio::test]
async fn fault_policies_and_gateway_policies_apply_and_revisions_keep_their_policies() {
    let upstream = EchoUpstream::start().await;
    let up = GantryUp::start(BIN).await;
    let rest = up.rest();
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let fault = json!({"fault": [add_header("X-Fault", "api")],
        "request": [add_header("X-Stage", "api")]});
    let api_id = open_api(
        &up,
        "Faulty",
        &upstream.url(),
        json!([{"target": "/open", "verb": "GET", "authType": "None"},
               {"target": "/secured", "verb": "GET"}]),
        json!({"apiPolicies": fault}),
        "/faulty/1.0.0/open",
    )
    .await;
    let down = open_api(
        &up,
        "Down",
        &format!("http://127.0.0.1:{closed}"),
        json!([{"target": "/x", "verb": "GET", "authType": "None"}]),
        json!({"apiPolicies": {"fault": [add_header("X-Fault", "down")]}}),
        "/down/1.0.0/x",
    )
    .await;
    let client = up.gw_client();
    // A 401 the gateway makes carries the fault header; a 502 too; a 200 does not.
    let response = client
        .get(up.gw_url("/faulty/1.0.0/secured"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(response.headers()["x-fault"], "api");
    let response = client.get(up.gw_url("/down/1.0.0/x")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
    assert_eq!(response.headers()["x-fault"], "down");
    let response = client
        .get(up.gw_url("/faulty/1.0.0/open"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers().get("x-fault").is_none());
    let _ = down;

    // Gateway policies: every API of the environment, before the API's own.
    let wso2 = wso2_schemas();
    let (status, bad) = rest
        .post(
            &format!("{PUB}/gateway-policies"),
            json!({"displayName": "Bad",
            "policyMapping": {"request": [policy("nope", json!({}))]}}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
    assert!(
        bad["description"]
            .as_str()
            .unwrap()
            .contains("policyMapping.request[0].policyName"),
        "{bad}"
    );
    let (status, mapping) = rest
        .post(&format!("{PUB}/gateway-policies"), json!({"displayName": "Global", "description": "everywhere",
            "policyMapping": {"request": [add_header("X-Stage", "gateway"), add_header("X-Global", "1")],
                              "response": [add_header("X-Global-Response", "1")]}}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{mapping}");
    conforms(&wso2, "GatewayPolicyMappingInfo", &mapping);
    let mapping_id = mapping["id"].as_str().unwrap();
    let (status, deployed) = rest
        .post(&format!("{PUB}/gateway-policies/{mapping_id}/deploy"),
            json!([{"gatewayLabel": "Default", "gatewayDeployment": true, "mappingUUID": mapping_id}]))
        .await;
    assert_eq!(status, StatusCode::OK, "{deployed}");
    let (status, listed) = rest
        .get(&format!(
            "{PUB}/gateway-policies?query=gatewayLabel:Default"
        ))
        .await;
    assert_eq!(status, StatusCode::OK);
    conforms(&wso2, "GatewayPolicyMappingDataList", &listed);
    assert_eq!(
        listed["list"][0]["appliedGatewayLabels"],
        json!(["Default"])
    );
    let (_, full) = rest
        .get(&format!("{PUB}/gateway-policies/{mapping_id}"))
        .await;
    conforms(&wso2, "GatewayPolicyMappings", &full);
    let (status, _) = rest
        .delete(&format!("{PUB}/gateway-policies/{mapping_id}"))
        .await;
    assert_eq!(
        status,
        StatusCode::PRECONDITION_FAILED,
        "deployed mappings are not deleted"
    );
    let global = || async {
        let (_, headers, seen) = json_of(
            client
                .get(up.gw_url("/faulty/1.0.0/open"))
                .send()
                .await
                .unwrap(),
        )
        .await;
        (headers, seen)
    };
    assert!(
        gantry_testkit::eventually(Duration::from_secs(10), || async {
            global().await.1["headers"]["x-global"] == "1"
        })
        .await,
        "the gateway policy reaches the gateway"
    );
    let (headers, seen) = global().await;
    assert_eq!(
        seen["headers"]["x-stage"], "api",
        "the API's policy runs after the gateway's: {seen}"
    );
    assert_eq!(headers["x-global-response"], "1");
    rest.post(
        &format!("{PUB}/gateway-policies/{mapping_id}/deploy"),
        json!([{"gatewayLabel": "Default", "gatewayDeployment": false}]),
    )
    .await;
    assert!(
        gantry_testkit::eventually(Duration::from_secs(10), || async {
            global().await.1["headers"].get("x-global").is_none()
        })
        .await,
        "undeployed gateway policies stop applying"
    );
    let (status, _) = rest
        .delete(&format!("{PUB}/gateway-policies/{mapping_id}"))
        .await;
    assert_eq!(status, StatusCode::OK);

    // A deployed revision keeps its policies when the working copy changes.
    let (_, mut api) = rest.get(&format!("{PUB}/apis/{api_id}")).await;
    api["apiPolicies"]["request"] = json!([add_header("X-Stage", "working-copy")]);
    let (status, updated) = rest.put(&format!("{PUB}/apis/{api_id}"), api).await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    let (_, seen) = global().await;
    assert_eq!(
        seen["headers"]["x-stage"], "api",
        "the deployed revision is unchanged: {seen}"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (_, seen) = global().await;
    assert_eq!(seen["headers"]["x-stage"], "api", "still unchanged: {seen}");
    rest.deploy_new_revision(&api_id, &["Default"]).await;
    assert!(
        gantry_testkit::eventually(Duration::from_secs(10), || async {
            global().await.1["headers"]["x-stage"] == "working-copy"
        })
        .await,
        "a new revision carries the new policies"
    );
}

/// A real interceptor service (Choreo Connect's request/response interceptor contract):
/// `/rewrite/...` changes headers and body, `/deny/...` answers the request itself,
/// `/slow/...` answers after 2 s. It records what it was sent.
struct Interceptor {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<(String, Value)>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Interceptor {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Interceptor {
    async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let record = seen.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let record = record.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(
                        move |request: http::Request<hyper::body::Incoming>| {
                            let record = record.clone();
                            async move {
                                let path = request.uri().path().to_owned();
                                let body = request
                                    .into_body()
                                    .collect()
                                    .await
                                    .map(|b| b.to_bytes())
                                    .unwrap_or_default();
                                let sent: Value =
                                    serde_json::from_slice(&body).unwrap_or(Value::Null);
                                record.lock().unwrap().push((path.clone(), sent));
                                let answer = match path.as_str() {
                                    "/rewrite/api/v1/handle-request" => json!({
                                    "headersToAdd": {"x-intercepted": "yes"},
                                    "headersToRemove": ["x-secret"],
                                    "body": BASE64.encode("replaced body")}),
                                    "/rewrite/api/v1/handle-response" => json!({
                                    "responseCode": 201,
                                    "headersToReplace": {"x-response-interceptor": "done"}}),
                                    "/deny/api/v1/handle-request" => json!({
                                    "directRespond": true, "responseCode": 403,
                                    "headersToAdd": {"x-denied-by": "interceptor"},
                                    "body": BASE64.encode(r#"{"denied":true}"#)}),
                                    _ => {
                                        tokio::time::sleep(Duration::from_secs(2)).await;
                                        json!({})
                                    }
                                };
                                Ok::<_, Infallible>(http::Response::new(Full::new(Bytes::from(
                                    answer.to_string(),
                                ))))
                            }
                        },
                    );
                    let _ = hyper_util::server::conn::auto::Builder::new(
                        hyper_util::rt::TokioExecutor::new(),
                    )
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
                });
            }
        });
        Self { addr, seen, task }
    }

    fn url(&self, mode: &str) -> String {
        format!("http://{}/{mode}", self.addr)
    }
}

#[tokio::test]
async fn the_interceptor_service_changes_the_call_and_its_failures_are_answered() {
    let upstream = EchoUpstream::start().await;
    let service = Interceptor::start().await;
    let up = GantryUp::start(BIN).await;
    let unreachable = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    let call = |url: String, includes: &str, extra: Value| {
        let mut parameters = json!({"interceptorServiceURL": url, "includes": includes});
        if let (Value::Object(p), Value::Object(e)) = (&mut parameters, extra) {
            p.extend(e);
        }
        policy("callInterceptorService", parameters)
    };
    let operations = json!([
        {"target": "/rewrite", "verb": "POST", "authType": "None", "operationPolicies": {
            "request": [call(service.url("rewrite"), "request_headers,request_body,invocation_context", json!({}))],
            "response": [call(service.url("rewrite"), "response_headers", json!({}))]}},
        {"target": "/deny", "verb": "GET", "authType": "None", "operationPolicies": {
            "request": [call(service.url("deny"), "request_headers", json!({}))]}},
        {"target": "/slow-closed", "verb": "GET", "authType": "None", "operationPolicies": {
            "request": [call(service.url("slow"), "request_headers", json!({"timeout": 300}))]}},
        {"target": "/slow-open", "verb": "GET", "authType": "None", "operationPolicies": {
            "request": [call(service.url("slow"), "request_headers", json!({"timeout": 300, "failureMode": "failOpen"}))]}},
        {"target": "/down", "verb": "GET", "authType": "None", "operationPolicies": {
            "request": [call(unreachable, "request_headers", json!({}))]}},
        {"target": "/plain", "verb": "GET", "authType": "None"}
    ]);
    open_api(
        &up,
        "Intercepted",
        &upstream.url(),
        operations,
        json!({}),
        "/intercepted/1.0.0/plain",
    )
    .await;
    let client = up.gw_client();
    let url = |p: &str| up.gw_url(&format!("/intercepted/1.0.0{p}"));

    // Headers and body changed as the service asked; the response's status and header too.
    let response = client
        .post(url("/rewrite?q=1"))
        .header("x-secret", "s3cret")
        .header("x-client", "c")
        .body("original body")
        .send()
        .await
        .unwrap();
    let (status, headers, seen) = json_of(response).await;
    assert_eq!(status, StatusCode::CREATED, "{seen}");
    assert_eq!(headers["x-response-interceptor"], "done");
    assert_eq!(seen["headers"]["x-intercepted"], "yes", "{seen}");
    assert!(seen["headers"].get("x-secret").is_none(), "{seen}");
    assert_eq!(seen["body"], "replaced body", "{seen}");
    let sent = service.seen.lock().unwrap().clone();
    let (path, request) = &sent[0];
    assert_eq!(path, "/rewrite/api/v1/handle-request");
    assert_eq!(request["requestHeaders"]["x-client"], "c", "{request}");
    assert_eq!(
        BASE64
            .decode(request["requestBody"].as_str().unwrap())
            .unwrap(),
        b"original body"
    );
    assert_eq!(request["method"], "POST");
    assert_eq!(request["path"], "/intercepted/1.0.0/rewrite?q=1");
    assert_eq!(request["invocationContext"]["apiName"], "Intercepted");
    let (path, response) = &sent[1];
    assert_eq!(path, "/rewrite/api/v1/handle-response");
    assert_eq!(response["responseCode"], 200, "{response}");
    assert!(
        response.get("responseBody").is_none(),
        "the body is sent only when asked for"
    );

    // The service answers the request itself: upstream not called.
    let before = upstream.hits();
    let (status, headers, body) = json_of(client.get(url("/deny")).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(headers["x-denied-by"], "interceptor");
    assert_eq!(body, json!({"denied": true}));
    assert_eq!(upstream.hits(), before);

    // Timeout: failClosed answers 504, failOpen goes on; an unreachable service is 503.
    let started = std::time::Instant::now();
    let (status, _, error) = json_of(client.get(url("/slow-closed")).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::GATEWAY_TIMEOUT, "{error}");
    assert_eq!(error["code"], "101504");
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "the timeout held"
    );
    let (status, _, seen) = json_of(client.get(url("/slow-open")).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{seen}");
    assert_eq!(seen["path"], "/slow-open");
    let (status, _, error) = json_of(client.get(url("/down")).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{error}");
    assert_eq!(error["code"], "101503");
    assert_eq!(
        upstream.hits(),
        before + 1,
        "only the failOpen call reached the upstream"
    );
}
