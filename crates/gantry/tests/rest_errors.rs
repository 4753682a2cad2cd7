//! Requests the REST APIs cannot use, one of each kind Schemathesis (api_fuzz.rs) found or
//! axum can reject: each answers WSO2's JSON error `{"code", "message", "description"}` with
//! the status WSO2 gives (400 bad input, 404, 405, 413, 415), never text or a 5xx.
#![allow(clippy::unwrap_used)]

use gantry_testkit::GantryUp;
use gantry_testkit::rest::Rest;
use reqwest::{Method, RequestBuilder};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_gantry");
const PUB: &str = "/api/am/publisher/v4";
const DEV: &str = "/api/am/devportal/v3";
const ADM: &str = "/api/am/admin/v4";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_rejection_answers_in_the_json_error_shape() {
    let up = GantryUp::start(BIN).await;
    let rest = up.rest();
    multipart_operations_answer_415_to_other_content_types(&rest).await;
    broken_multipart_bodies_are_400(&rest).await;
    a_multipart_body_past_the_limit_is_413(&rest).await;
    undecodable_path_and_query_parameters_are_400(&rest).await;
    json_bodies_that_cannot_be_used_are_400_415_or_413(&rest).await;
    unknown_methods_and_routes_are_405_and_404(&rest).await;
    a_throttling_policy_type_that_is_not_a_string_is_400(&rest).await;
}

/// Sends `request` and checks the status, the JSON error shape and that the description
/// mentions `mentions`; the response headers for further checks.
async fn expect_error(
    request: RequestBuilder,
    status: u16,
    mentions: &str,
) -> reqwest::header::HeaderMap {
    let response = request.send().await.unwrap();
    let headers = response.headers().clone();
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let got = response.status().as_u16();
    let text = response.text().await.unwrap();
    assert_eq!(got, status, "{text}");
    assert!(
        content_type.starts_with("application/json"),
        "{content_type}: {text}"
    );
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(body["code"], status, "{body}");
    assert!(body["message"].is_string(), "{body}");
    let description = body["description"].as_str().unwrap_or_default();
    assert!(
        description.contains(mentions),
        "'{description}' should mention '{mentions}'"
    );
    headers
}

async fn multipart_operations_answer_415_to_other_content_types(rest: &Rest) {
    for path in [
        format!("{PUB}/apis/validate-openapi"),
        format!("{PUB}/apis/import-openapi"),
        format!("{PUB}/apis/any-id/swagger"),
        format!("{PUB}/apis/any-id/client-certificates"),
        format!("{ADM}/key-managers/discover"),
    ] {
        let method = if path.ends_with("/swagger") {
            Method::PUT
        } else {
            Method::POST
        };
        let text = rest
            .request(method.clone(), &path)
            .header("content-type", "text/plain")
            .body("--x\r\n");
        expect_error(text, 415, "multipart/form-data").await;
        expect_error(rest.request(method, &path), 415, "multipart/form-data").await;
    }
}

async fn broken_multipart_bodies_are_400(rest: &Rest) {
    let path = format!("{PUB}/apis/validate-openapi");
    let no_boundary = rest
        .request(Method::POST, &path)
        .header("content-type", "multipart/form-data")
        .body("x");
    expect_error(no_boundary, 400, "boundary").await;
    let truncated = rest
        .request(Method::POST, &path)
        .header("content-type", "multipart/form-data; boundary=XX")
        .body("--XX\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\nopenapi: 3");
    expect_error(truncated, 400, "multipart").await;
}

async fn a_multipart_body_past_the_limit_is_413(rest: &Rest) {
    let mut body =
        b"--XX\r\nContent-Disposition: form-data; name=\"url\"; filename=\"a.yaml\"\r\n\r\n"
            .to_vec();
    body.extend(std::iter::repeat_n(b'a', 3 * 1024 * 1024));
    body.extend(b"\r\n--XX--\r\n");
    for path in [
        format!("{PUB}/apis/validate-openapi"),
        format!("{ADM}/key-managers/discover"),
    ] {
        let request = rest
            .request(Method::POST, &path)
            .header("content-type", "multipart/form-data; boundary=XX")
            .body(body.clone());
        expect_error(request, 413, "too large").await;
    }
}

async fn undecodable_path_and_query_parameters_are_400(rest: &Rest) {
    expect_error(
        rest.request(Method::GET, &format!("{PUB}/apis/%FF")),
        400,
        "UTF-8",
    )
    .await;
    expect_error(
        rest.request(Method::GET, &format!("{DEV}/applications/%C3%28")),
        400,
        "UTF-8",
    )
    .await;
    expect_error(
        rest.request(Method::GET, &format!("{PUB}/apis?limit=abc")),
        400,
        "limit",
    )
    .await;
    expect_error(
        rest.request(
            Method::POST,
            &format!("{PUB}/apis/copy-api?apiId=a&newVersion=2&defaultVersion=maybe"),
        ),
        400,
        "defaultVersion",
    )
    .await;
}

async fn json_bodies_that_cannot_be_used_are_400_415_or_413(rest: &Rest) {
    let path = format!("{PUB}/apis");
    let json = |body: &str| {
        rest.request(Method::POST, &path)
            .header("content-type", "application/json")
            .body(body.to_owned())
    };
    expect_error(json("{\"name\": "), 400, "Malformed JSON").await;
    expect_error(json("{\"name\": 5}"), 400, "name").await;
    expect_error(json("[]"), 400, "Invalid request body").await;
    expect_error(
        rest.request(Method::POST, &path).body("{}"),
        415,
        "application/json",
    )
    .await;
    let large = format!("{{\"name\": \"{}\"}}", "a".repeat(3 * 1024 * 1024));
    expect_error(json(&large), 413, "too large").await;
}

async fn unknown_methods_and_routes_are_405_and_404(rest: &Rest) {
    for base in [PUB, DEV, ADM] {
        let path = format!("{base}/no-such-resource");
        expect_error(rest.request(Method::GET, &path), 404, "No such resource").await;
    }
    for (method, path) in [
        (Method::PATCH, format!("{PUB}/apis")),
        (Method::PUT, format!("{DEV}/applications")),
        (Method::DELETE, format!("{ADM}/environments")),
    ] {
        let headers = expect_error(rest.request(method, &path), 405, "method").await;
        assert!(headers.contains_key("allow"), "{path}: 405 without Allow");
    }
}

async fn a_throttling_policy_type_that_is_not_a_string_is_400(rest: &Rest) {
    let (status, body) = rest
        .send(
            Method::POST,
            &format!("{ADM}/throttling/policies/advanced"),
            Some(json!({
                "policyName": "TypedPolicy",
                "type": {},
                "defaultLimit": {"type": "REQUESTCOUNTLIMIT",
                    "requestCount": {"timeUnit": "min", "unitTime": 1, "requestCount": 5}},
            })),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["description"].as_str().unwrap().contains("type"),
        "{body}"
    );
}
