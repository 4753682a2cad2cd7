//! MCP servers made from published APIs, end to end against a real `gantry up`: created
//! through the publisher's `/mcp-servers` (responses checked against WSO2 4.7's schemas),
//! published, deployed and subscribed like APIs, then served by the gateway over MCP's
//! Streamable HTTP transport — checked on the wire here, and by the official MCP Python SDK
//! (`tests/mcp/client.py`), which also plays a third-party MCP server for the proxy case
//! (`tests/mcp/server.py`). Without the `mcp` package the SDK parts are skipped loudly,
//! except under CI (`CI=true`), where they fail.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use gantry_testkit::GantryUp;
use gantry_testkit::echo::EchoUpstream;
use gantry_testkit::openapi::{Nulls, find_operation, mismatches};
use gantry_testkit::rest::Rest;
use reqwest::StatusCode;
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_gantry");
const PUB: &str = "/api/am/publisher/v4";
const DEV: &str = "/api/am/devportal/v3";

/// An OpenAPI document of the echo upstream, as a REST API's publisher would write it.
fn orders_document(upstream: &str) -> String {
    json!({
        "openapi": "3.0.1",
        "info": {"title": "Orders", "version": "1.0.0"},
        "servers": [{"url": upstream}],
        "paths": {
            "/orders/{orderId}": {"get": {
                "operationId": "getOrder", "summary": "One order",
                "parameters": [
                    {"name": "orderId", "in": "path", "required": true, "schema": {"type": "integer"}},
                    {"name": "expand", "in": "query", "schema": {"type": "boolean"}}]}},
            "/orders": {
                "post": {"operationId": "createOrder", "requestBody": {"required": true, "content": {
                    "application/json": {"schema": {"type": "object", "required": ["item"],
                        "properties": {"item": {"type": "string"}, "qty": {"type": "integer"}}}}}}},
                "get": {"operationId": "listOrders"}},
            "/status/{code}": {"get": {"operationId": "status",
                "parameters": [{"name": "code", "in": "path", "required": true, "schema": {"type": "string"}}]}}
        }
    })
    .to_string()
}

/// Whether python3 has the MCP SDK; without it, `false` after saying so loudly (a failure
/// under CI).
fn python_sdk_ready(what: &str) -> bool {
    match gantry_testkit::python::can_import("mcp, httpx2", "mcp") {
        Ok(()) => true,
        Err(why) => {
            let message = format!("{what} did NOT run: {why}");
            assert!(std::env::var("CI").as_deref() != Ok("true"), "{message}");
            eprintln!("\n!!! SKIPPED: {message}\n");
            false
        }
    }
}

fn scripts() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/mcp")
}

/// Runs `tests/mcp/client.py <scenario>` with `env` against `up`; its JSON report.
fn run_client(up: &GantryUp, scenario: &str, env: &[(&str, String)]) -> Value {
    let out = Command::new("python3")
        .arg(scripts().join("client.py"))
        .arg(scenario)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "client.py {scenario} failed:\n{}\n{}\ngantry's log:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        up.log()
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// `value` (answered with `status` to `method relative`) against WSO2's `doc`.
fn assert_wso2_shape(
    doc: &Option<Value>,
    method: &str,
    relative: &str,
    status: u16,
    value: &Value,
) {
    let Some(doc) = doc else {
        eprintln!("!!! WSO2 documents not found: {method} {relative} not checked against them");
        return;
    };
    let operation = find_operation(doc, method, relative)
        .unwrap_or_else(|| panic!("WSO2 documents no {method} {relative}"));
    let schema =
        &operation["responses"][status.to_string()]["content"]["application/json"]["schema"];
    assert!(
        !schema.is_null(),
        "{method} {relative}: no schema for {status}"
    );
    let errors = mismatches(doc, schema, value, Nulls::AsAbsent);
    assert!(
        errors.is_empty(),
        "{method} {relative}: {errors:#?}\n{value:#}"
    );
}

/// Publishes the MCP server, deploys a revision to `Default` through the `/mcp-servers`
/// resources.
async fn publish_and_deploy(rest: &Rest, id: &str) {
    let (status, body) = rest
        .post_empty(&format!(
            "{PUB}/mcp-servers/change-lifecycle?mcpServerId={id}&action=Publish"
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, revision) = rest
        .post(&format!("{PUB}/mcp-servers/{id}/revisions"), json!({}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{revision}");
    let revision = revision["id"].as_str().unwrap();
    let (status, body) = rest
        .post(
            &format!("{PUB}/mcp-servers/{id}/deploy-revision?revisionId={revision}"),
            json!([{"name": "Default", "vhost": "localhost"}]),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

/// A JSON-RPC POST to the gateway: (status, headers, body text).
async fn rpc(
    up: &GantryUp,
    path: &str,
    token: Option<&str>,
    session: Option<&str>,
    accept: &str,
    message: Value,
) -> (StatusCode, reqwest::header::HeaderMap, String) {
    let mut request = up
        .gw_client()
        .post(up.gw_url(path))
        .header("accept", accept)
        .header("content-type", "application/json")
        .body(message.to_string());
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(session) = session {
        request = request.header("mcp-session-id", session);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    (status, headers, response.text().await.unwrap())
}

/// A client_credentials access token of the client `key`.
async fn access_token(rest: &Rest, key: &str, secret: &str) -> String {
    let (status, token) = rest.token(key, secret).await;
    assert_eq!(status, StatusCode::OK, "{token}");
    token["access_token"].as_str().unwrap().to_owned()
}

/// Whether the gateway serves the MCP server at `path` to `token` within 5 s.
async fn served(up: &GantryUp, path: &str, token: &str) -> bool {
    gantry_testkit::eventually(Duration::from_secs(5), || async {
        rpc(up, path, Some(token), None, BOTH, initialize()).await.0 == StatusCode::OK
    })
    .await
}

fn initialize() -> Value {
    json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {},
        "clientInfo": {"name": "raw", "version": "1"}}})
}

const BOTH: &str = "application/json, text/event-stream";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mcp_server_made_from_a_published_api_serves_tools_through_the_gateway() {
    let publisher = gantry_testkit::openapi::wso2_specs_dir()
        .map(|d| gantry_testkit::openapi::wso2_document(&d, "publisher-api.yaml"));
    let devportal = gantry_testkit::openapi::wso2_specs_dir()
        .map(|d| gantry_testkit::openapi::wso2_document(&d, "devportal-api.yaml"));
    let up = GantryUp::start_with(BIN, false).await;
    let rest = up.rest();
    let echo = EchoUpstream::start().await;

    // The REST API the tools come from (it need not be deployed itself).
    let (status, source) = rest
        .send_multipart(
            reqwest::Method::POST,
            &format!("{PUB}/apis/import-openapi"),
            &[
                ("file", &orders_document(&echo.url())),
                ("additionalProperties", r#"{"context": "/orders"}"#),
            ],
            &["file"],
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{source}");
    let source_id = source["id"].as_str().unwrap();
    let mapping = |target: &str, verb: &str| json!({"apiId": source_id, "backendOperation": {"target": target, "verb": verb}});
    let (status, server) = rest
        .post(
            &format!("{PUB}/mcp-servers/generate-from-api"),
            json!({
                "name": "OrdersMCP", "context": "/orders-mcp", "version": "1.0.0",
                "policies": ["Gold", "Unlimited"],
                "operations": [
                    {"target": "getOrder", "feature": "TOOL", "apiOperationMapping": mapping("/orders/{orderId}", "GET")},
                    {"target": "createOrder", "feature": "TOOL", "description": "Places an order",
                     "apiOperationMapping": mapping("/orders", "POST")},
                    {"target": "teapot", "feature": "TOOL", "apiOperationMapping": mapping("/status/{code}", "GET")},
                    {"target": "allOrders", "feature": "TOOL", "scopes": ["orders:admin"],
                     "apiOperationMapping": mapping("/orders", "GET")}
                ]
            }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{server}");
    assert_wso2_shape(
        &publisher,
        "post",
        "/mcp-servers/generate-from-api",
        201,
        &server,
    );
    let id = server["id"].as_str().unwrap().to_owned();
    let tools: Vec<&str> = server["operations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["target"].as_str().unwrap())
        .collect();
    assert_eq!(tools, ["getOrder", "createOrder", "teapot", "allOrders"]);
    assert_eq!(server["subtypeConfiguration"]["subtype"], "EXISTING_API");
    let schema: Value = serde_json::from_str(
        server["operations"][0]["schemaDefinition"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(schema["properties"]["orderId"]["type"], "integer");
    assert_eq!(schema["required"], json!(["orderId"]));

    // An operation the API does not have is named in the 400.
    let (status, refused) = rest
        .post(
            &format!("{PUB}/mcp-servers/generate-from-api"),
            json!({"name": "Bad", "context": "/bad-mcp", "version": "1",
                   "operations": [{"target": "x", "apiOperationMapping": mapping("/nope", "GET")}]}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");
    assert!(
        refused["description"]
            .as_str()
            .unwrap()
            .contains("operations[0].backendOperation"),
        "{refused}"
    );

    // A third-party MCP server that does not answer: refused, naming the URL, nothing made.
    let nowhere = format!(
        "http://127.0.0.1:{}/mcp",
        gantry_testkit::process::free_port()
    );
    let (status, checked) = rest
        .post(
            &format!("{PUB}/mcp-servers/validate-mcp-server"),
            json!({"url": nowhere}),
        )
        .await;
    assert_eq!(
        (status, &checked["isValid"]),
        (StatusCode::OK, &json!(false)),
        "{checked}"
    );
    let (status, refused) = rest
        .post(
            &format!("{PUB}/mcp-servers/generate-from-mcp-server"),
            json!({"url": nowhere, "additionalProperties": {"name": "Gone", "context": "/gone", "version": "1"}}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");
    assert!(
        refused["description"]
            .as_str()
            .unwrap()
            .starts_with("url: "),
        "{refused}"
    );

    publish_and_deploy(&rest, &id).await;
    let (status, listed) = rest.get(&format!("{PUB}/mcp-servers")).await;
    assert_eq!(status, StatusCode::OK);
    assert_wso2_shape(&publisher, "get", "/mcp-servers", 200, &listed);
    assert_eq!(listed["count"], 1, "only MCP servers are listed: {listed}");
    let (status, read) = rest.get(&format!("{PUB}/mcp-servers/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_wso2_shape(&publisher, "get", "/mcp-servers/x", 200, &read);
    let (status, _) = rest.get(&format!("{PUB}/mcp-servers/{source_id}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "a REST API is no MCP server");
    let (status, as_api) = rest.get(&format!("{PUB}/apis/{id}")).await;
    assert_eq!((status, &as_api["type"]), (StatusCode::OK, &json!("MCP")));
    let (status, refused) = rest.put(&format!("{PUB}/apis/{id}"), as_api).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");

    let (status, card) = rest
        .anonymous()
        .get(&format!("{DEV}/mcp-servers/{id}"))
        .await;
    assert_eq!(status, StatusCode::OK, "{card}");
    assert_wso2_shape(&devportal, "get", "/mcp-servers/x", 200, &card);
    assert_eq!(card["operations"][0]["verb"], "TOOL");
    let config_url = card["mcpClientConfiguration"]["mcpServers"]["OrdersMCP"]["url"]
        .as_str()
        .unwrap();
    assert!(config_url.ends_with("/orders-mcp/1.0.0/mcp"), "{card}");
    let (_, browsed) = rest.anonymous().get(&format!("{DEV}/mcp-servers")).await;
    assert_eq!(browsed["count"], 1, "{browsed}");

    // Application A subscribes; application B has keys but no subscription.
    let app = rest.application("McpClient").await;
    rest.subscribe(&app, &id, "Gold").await;
    let (consumer_key, consumer_secret) = rest.keys(&app).await;
    let token = access_token(&rest, &consumer_key, &consumer_secret).await;
    let other_app = rest.application("Unsubscribed").await;
    let (other_key, other_secret) = rest.keys(&other_app).await;
    let other = access_token(&rest, &other_key, &other_secret).await;

    let path = "/orders-mcp/1.0.0/mcp";
    assert!(
        served(&up, path, &token).await,
        "the gateway never served the MCP server"
    );

    // No token: 401 pointing at the protected resource metadata, which names the AS.
    let (status, headers, _) = rpc(&up, path, None, None, BOTH, initialize()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let challenge = headers["www-authenticate"].to_str().unwrap();
    let metadata_url = up.gw_url("/.well-known/oauth-protected-resource/orders-mcp/1.0.0/mcp");
    assert!(
        challenge.contains(&format!("resource_metadata=\"{metadata_url}\"")),
        "{challenge}"
    );
    let metadata: Value = up
        .gw_client()
        .get(&metadata_url)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(metadata["resource"], up.gw_url(path));
    let issuer = metadata["authorization_servers"][0].as_str().unwrap();
    let as_metadata: Value = rest
        .anonymous()
        .get("/.well-known/oauth-authorization-server/oauth2/token")
        .await
        .1;
    assert_eq!(as_metadata["issuer"], issuer, "{as_metadata}");
    assert_eq!(metadata["scopes_supported"], json!(["orders:admin"]));

    // Another application's token: 403, as for any API it has not subscribed to.
    let (status, _, _) = rpc(&up, path, Some(&other), None, BOTH, initialize()).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // A session; the answers as an event stream when that is all the client takes.
    let (status, headers, body) = rpc(
        &up,
        path,
        Some(&token),
        None,
        "text/event-stream",
        initialize(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(headers["content-type"], "text/event-stream");
    assert!(body.starts_with("event: message\ndata: "), "{body}");
    let init: Value =
        serde_json::from_str(body.trim_start_matches("event: message\ndata: ").trim()).unwrap();
    assert_eq!(init["result"]["protocolVersion"], "2025-06-18");
    assert_eq!(init["result"]["serverInfo"]["name"], "OrdersMCP");
    let session = headers["mcp-session-id"].to_str().unwrap().to_owned();
    let call = |id: u64, name: &str, arguments: Value| json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {"name": name, "arguments": arguments}});
    let (status, _, body) = rpc(
        &up,
        path,
        Some(&token),
        None,
        BOTH,
        call(2, "getOrder", json!({"orderId": 1})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "no session: {body}");
    let (status, _, _) = rpc(
        &up,
        path,
        Some(&token),
        Some("f00d"),
        BOTH,
        call(2, "getOrder", json!({"orderId": 1})),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "unknown session");
    let (status, _, body) = rpc(
        &up,
        path,
        Some(&token),
        Some(&session),
        BOTH,
        call(3, "getOrder", json!({"orderId": 7, "expand": false})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let answer: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answer["result"]["isError"], false, "{answer}");
    assert_eq!(
        answer["result"]["structuredContent"]["path"], "/orders/7",
        "{answer}"
    );
    assert_eq!(
        answer["result"]["structuredContent"]["query"], "expand=false",
        "{answer}"
    );
    let seen = &answer["result"]["structuredContent"]["headers"];
    assert!(
        seen.get("authorization").is_none(),
        "the client's token went upstream: {seen}"
    );
    let (_, _, body) = rpc(
        &up,
        path,
        Some(&token),
        Some(&session),
        BOTH,
        call(4, "getOrder", json!({"orderId": "seven"})),
    )
    .await;
    let refused: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(refused["error"]["code"], -32602, "{refused}");
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap()
            .contains("arguments.orderId"),
        "{refused}"
    );
    let (_, _, body) = rpc(
        &up,
        path,
        Some(&token),
        Some(&session),
        BOTH,
        call(5, "noSuchTool", json!({})),
    )
    .await;
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["error"]["code"],
        -32602
    );
    // A tool whose scope the token lacks: 403 insufficient_scope.
    let (status, headers, _) = rpc(
        &up,
        path,
        Some(&token),
        Some(&session),
        BOTH,
        call(6, "allOrders", json!({})),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(
        headers["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("insufficient_scope")
    );
    // GET (no server-initiated stream) is refused as the spec allows; DELETE ends the session.
    let get = up
        .gw_client()
        .get(up.gw_url(path))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(get.status(), StatusCode::METHOD_NOT_ALLOWED);
    let ended = up
        .gw_client()
        .delete(up.gw_url(path))
        .bearer_auth(&token)
        .header("mcp-session-id", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(ended.status(), StatusCode::NO_CONTENT);
    let (status, _, _) = rpc(
        &up,
        path,
        Some(&token),
        Some(&session),
        BOTH,
        call(7, "getOrder", json!({"orderId": 1})),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "an ended session is gone");

    if !python_sdk_ready("the MCP Python SDK client test") {
        return;
    }
    // The SDK reaches the gateway by address: loopback reaches the `localhost` vhost.
    let url = up.gw_url(path).replace("localhost", "127.0.0.1");
    let report = run_client(
        &up,
        "rest",
        &[
            ("MCP_URL", url),
            ("CONSUMER_KEY", consumer_key),
            ("CONSUMER_SECRET", consumer_secret),
            ("OTHER_TOKEN", other.clone()),
            (
                "CA_FILE",
                up.data_dir().join("tls/ca.pem").display().to_string(),
            ),
        ],
    );
    eprintln!("MCP Python SDK (rest): {report}");
    assert_eq!(
        report["tools"],
        json!(["allOrders", "createOrder", "getOrder", "teapot"]),
        "{report}"
    );
    assert_eq!(report["authorization_server"], issuer, "{report}");
    assert_eq!(report["getOrder_backend_path"], "/orders/42", "{report}");
    assert_eq!(report["getOrder_backend_query"], "expand=true", "{report}");
    assert_eq!(
        report["createOrder_backend"],
        json!({"method": "POST", "path": "/orders"})
    );
    assert!(
        report["teapot_text"]
            .as_str()
            .unwrap()
            .starts_with("HTTP 418"),
        "{report}"
    );
    assert_eq!(report["bad_arguments_code"], -32602, "{report}");
    assert_eq!(report["other_application_status"], 403, "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_tool_call_counts_against_the_subscription_tier() {
    let up = GantryUp::start_with(BIN, false).await;
    let rest = up.rest();
    let echo = EchoUpstream::start().await;
    let (status, policy) = rest
        .post(
            "/api/am/admin/v4/throttling/policies/subscription",
            json!({"policyName": "ThreeCalls", "defaultLimit": {"type": "REQUESTCOUNTLIMIT",
                "requestCount": {"timeUnit": "min", "unitTime": 1, "requestCount": 3}}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{policy}");
    let (status, server) = rest
        .send_multipart(
            reqwest::Method::POST,
            &format!("{PUB}/mcp-servers/generate-from-openapi"),
            &[
                ("file", &orders_document(&echo.url())),
                (
                    "additionalProperties",
                    r#"{"name": "Counted", "context": "/counted", "version": "1", "policies": ["ThreeCalls"],
                        "operations": [{"target": "order", "backendOperationMapping":
                            {"backendOperation": {"target": "/orders/{orderId}", "verb": "GET"}}}]}"#,
                ),
            ],
            &["file"],
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{server}");
    assert_eq!(server["subtypeConfiguration"]["subtype"], "DIRECT_ENDPOINT");
    let id = server["id"].as_str().unwrap().to_owned();
    publish_and_deploy(&rest, &id).await;
    let app = rest.application("Counter").await;
    rest.subscribe(&app, &id, "ThreeCalls").await;
    let (key, secret) = rest.keys(&app).await;
    let token = access_token(&rest, &key, &secret).await;
    let path = "/counted/1/mcp";
    assert!(
        served(&up, path, &token).await,
        "the gateway never served the MCP server"
    );
    let (_, headers, _) = rpc(&up, path, Some(&token), None, BOTH, initialize()).await;
    let session = headers["mcp-session-id"].to_str().unwrap().to_owned();
    // Listing is free; only tool calls count.
    for i in 0..5 {
        let list = json!({"jsonrpc": "2.0", "id": 10 + i, "method": "tools/list"});
        let (status, _, body) = rpc(&up, path, Some(&token), Some(&session), BOTH, list).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let call = |i: u64| {
        json!({"jsonrpc": "2.0", "id": 20 + i, "method": "tools/call",
               "params": {"name": "order", "arguments": {"orderId": i}}})
    };
    for i in 0..3 {
        let (status, _, body) = rpc(&up, path, Some(&token), Some(&session), BOTH, call(i)).await;
        assert_eq!(status, StatusCode::OK, "call {i}: {body}");
    }
    let (status, _, body) = rpc(&up, path, Some(&token), Some(&session), BOTH, call(3)).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(echo.hits(), 3, "the refused call never reached the backend");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxied_mcp_server_offers_only_the_chosen_tools() {
    if !python_sdk_ready("the MCP proxy test (an MCP server built with the Python SDK)") {
        return;
    }
    let publisher = gantry_testkit::openapi::wso2_specs_dir()
        .map(|d| gantry_testkit::openapi::wso2_document(&d, "publisher-api.yaml"));
    let port = gantry_testkit::process::free_port();
    let calls = tempfile::NamedTempFile::new().unwrap();
    let mut upstream = Command::new("python3")
        .arg(scripts().join("server.py"))
        .arg(port.to_string())
        .arg(calls.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let upstream_url = format!("http://127.0.0.1:{port}/mcp");
    let listening = gantry_testkit::eventually(Duration::from_secs(20), || async {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    })
    .await;
    assert!(listening, "the Python MCP server did not start");

    let up = GantryUp::start_with(BIN, false).await;
    let rest = up.rest();
    let (status, checked) = rest
        .post(
            &format!("{PUB}/mcp-servers/validate-mcp-server"),
            json!({"url": upstream_url}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{checked}");
    assert_wso2_shape(
        &publisher,
        "post",
        "/mcp-servers/validate-mcp-server",
        200,
        &checked,
    );
    assert_eq!(checked["isValid"], true, "{checked}");
    assert_eq!(
        checked["toolInfo"]["operations"].as_array().unwrap().len(),
        3
    );

    let (status, server) = rest
        .post(
            &format!("{PUB}/mcp-servers/generate-from-mcp-server"),
            json!({"url": upstream_url, "securityInfo": {"isSecure": false},
                   "additionalProperties": {"name": "Tools", "context": "/tools", "version": "1",
                       "operations": [{"target": "add", "feature": "TOOL"}, {"target": "shout", "feature": "TOOL"}]}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{server}");
    assert_wso2_shape(
        &publisher,
        "post",
        "/mcp-servers/generate-from-mcp-server",
        201,
        &server,
    );
    assert_eq!(server["subtypeConfiguration"]["subtype"], "SERVER_PROXY");
    let id = server["id"].as_str().unwrap().to_owned();
    publish_and_deploy(&rest, &id).await;
    let token = rest
        .subscribed_token("ProxyClient", &[&id], "Unlimited")
        .await;
    let path = "/tools/1/mcp";
    assert!(
        served(&up, path, &token).await,
        "the gateway never served the proxied MCP server"
    );

    let report = run_client(
        &up,
        "proxy",
        &[
            ("MCP_URL", up.gw_url(path).replace("localhost", "127.0.0.1")),
            ("TOKEN", token),
        ],
    );
    upstream.kill().ok();
    upstream.wait().ok();
    eprintln!("MCP Python SDK (proxy): {report}");
    assert_eq!(report["tools"], json!(["add", "shout"]), "{report}");
    assert_eq!(report["add"], "5", "{report}");
    assert_eq!(report["filtered_code"], -32602, "{report}");
    let reached = std::fs::read_to_string(calls.path()).unwrap();
    assert_eq!(
        reached.lines().collect::<Vec<_>>(),
        ["add"],
        "only add reached the upstream"
    );
}
