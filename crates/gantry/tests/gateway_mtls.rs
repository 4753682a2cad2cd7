//! Client mutual TLS per API, end to end against the real `gantry up`: the Publisher's
//! client-certificate REST resource (WSO2 4.x contract), and the gateway's HTTPS port
//! deciding by the certificate a client's TLS handshake proved, alone or with a token.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::time::Duration;

use gantry_testkit::rest::Rest;
use gantry_testkit::{EchoUpstream, GantryUp, free_port};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_gantry");
const PUB: &str = "/api/am/publisher/v4";

/// A certificate and its private key, PEM.
struct Pem {
    cert: String,
    key: String,
}

fn self_signed(cn: &str) -> Pem {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, cn);
    let cert = params.self_signed(&key).unwrap();
    Pem {
        cert: cert.pem(),
        key: key.serialize_pem(),
    }
}

fn expired(cn: &str) -> String {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, cn);
    params.not_before = rcgen::date_time_ymd(2000, 1, 1);
    params.not_after = rcgen::date_time_ymd(2001, 1, 1);
    params.self_signed(&key).unwrap().pem()
}

async fn upload(rest: &Rest, api_id: &str, alias: &str, cert: &str) -> (StatusCode, Value) {
    rest.send_multipart(
        Method::POST,
        &format!("{PUB}/apis/{api_id}/client-certificates"),
        &[("certificate", cert), ("alias", alias), ("tier", "Gold")],
        &["certificate"],
    )
    .await
}

fn api_body(name: &str, context: &str, scheme: &[&str], upstream: &EchoUpstream) -> Value {
    json!({"name": name, "context": context, "version": "1.0.0",
        "policies": ["Gold"], "securityScheme": scheme,
        "endpointConfig": {"endpoint_type": "http", "production_endpoints": {"url": upstream.url()}},
        "operations": [{"target": "/items", "verb": "GET"}]})
}

async fn create(rest: &Rest, body: Value) -> String {
    let (status, api) = rest.post(&format!("{PUB}/apis"), body).await;
    assert_eq!(status, StatusCode::CREATED, "{api}");
    api["id"].as_str().unwrap().to_owned()
}

/// A `gantry up` with its gateway's HTTPS port on.
async fn up_with_https() -> (GantryUp, u16) {
    let https = free_port();
    let up = GantryUp::start_with_env(
        BIN,
        false,
        &[("GANTRY_GATEWAY_HTTPS_PORT", &https.to_string())],
    )
    .await;
    (up, https)
}

/// An HTTPS client for the gateway trusting the process's CA, with a client certificate.
fn tls_client(up: &GantryUp, https: u16, identity: Option<(&str, &str)>) -> reqwest::Client {
    let ca = std::fs::read(up.data_dir().join("tls").join("ca.pem")).unwrap();
    let mut builder = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .resolve("localhost", SocketAddr::from(([127, 0, 0, 1], https)))
        .tls_certs_only([reqwest::Certificate::from_pem(&ca).unwrap()]);
    if let Some((cert, key)) = identity {
        builder = builder
            .identity(reqwest::Identity::from_pem(format!("{cert}{key}").as_bytes()).unwrap());
    }
    builder.build().unwrap()
}

/// Status and body of `GET https://localhost:{https}{path}`.
async fn call(
    client: &reqwest::Client,
    https: u16,
    path: &str,
    token: Option<&str>,
) -> (StatusCode, Value) {
    let mut request = client.get(format!("https://localhost:{https}{path}"));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn der_of(pem: &str) -> String {
    pem.lines()
        .filter(|l| !l.starts_with("-----"))
        .collect::<String>()
}

#[tokio::test]
async fn client_certificates_round_trip_through_the_publisher_api() {
    let upstream = EchoUpstream::start().await;
    let up = GantryUp::start(BIN).await;
    let admin = up.rest();
    admin
        .create_user("cara", "cara-password-1", &["creator"])
        .await;
    admin
        .create_user("cody", "cody-password-1", &["creator"])
        .await;
    admin
        .create_user("sue", "sue-password-11", &["subscriber"])
        .await;
    let cara = admin.as_user("cara", "cara-password-1");
    let api = create(
        &cara,
        api_body(
            "Certs",
            "/certs",
            &["mutualssl", "mutualssl_mandatory"],
            &upstream,
        ),
    )
    .await;
    let client = self_signed("client-one");

    let (status, body) = upload(&cara, &api, "one", &client.cert).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, json!({"alias": "one", "apiId": api, "tier": "Gold"}));

    let base = format!("{PUB}/apis/{api}/client-certificates");
    let (status, list) = cara.get(&base).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    assert_eq!(list["count"], 1, "{list}");
    assert_eq!(list["certificates"][0]["alias"], "one", "{list}");
    assert_eq!(list["pagination"]["total"], 1, "{list}");

    let (status, info) = cara.get(&format!("{base}/one")).await;
    assert_eq!(status, StatusCode::OK, "{info}");
    assert_eq!(info["status"], "Active", "{info}");
    assert!(
        info["subject"].as_str().unwrap().contains("client-one"),
        "{info}"
    );
    assert!(info["validity"]["to"].as_str().is_some(), "{info}");

    let response = cara
        .request(Method::GET, &format!("{base}/one/content"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .contains("one.crt")
    );
    assert_eq!(
        der_of(&response.text().await.unwrap()),
        der_of(&client.cert)
    );

    // The same alias again: 409. Not a certificate, or an expired one: 400, naming it.
    let (status, body) = upload(&cara, &api, "one", &self_signed("x").cert).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let (status, body) = upload(
        &cara,
        &api,
        "bad",
        "-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----\n",
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["description"]
            .as_str()
            .unwrap()
            .contains("certificate"),
        "{body}"
    );
    let (status, body) = upload(&cara, &api, "old", &expired("old")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["description"].as_str().unwrap().contains("expired"),
        "{body}"
    );
    let (status, body) = cara
        .send_multipart(
            Method::POST,
            &base,
            &[("alias", "nocert")],
            &["certificate"],
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");

    // Another creator does not see this API's certificates; a subscriber lacks the scope;
    // nobody anonymous gets in.
    let cody = admin.as_user("cody", "cody-password-1");
    assert_eq!(cody.get(&base).await.0, StatusCode::NOT_FOUND);
    assert_eq!(
        upload(&cody, &api, "two", &self_signed("y").cert).await.0,
        StatusCode::NOT_FOUND
    );
    let sue = admin.as_user("sue", "sue-password-11");
    assert_eq!(
        upload(&sue, &api, "two", &self_signed("z").cert).await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(sue.get(&base).await.0, StatusCode::FORBIDDEN);
    assert_eq!(
        admin.anonymous().get(&base).await.0,
        StatusCode::UNAUTHORIZED
    );
    // The admin may.
    assert_eq!(admin.get(&base).await.0, StatusCode::OK);

    // A new tier through PUT; then delete.
    let (status, body) = cara
        .send_multipart(
            Method::PUT,
            &format!("{base}/one"),
            &[("tier", "Silver")],
            &["certificate"],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["tier"], "Silver", "{body}");
    assert_eq!(cara.delete(&format!("{base}/one")).await.0, StatusCode::OK);
    assert_eq!(
        cara.get(&format!("{base}/one")).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(cara.get(&base).await.1["count"], 0);
}

#[tokio::test]
async fn the_gateway_admits_only_uploaded_or_issued_client_certificates() {
    let upstream = EchoUpstream::start().await;
    let (up, https) = up_with_https().await;
    let rest = up.rest();
    let dir = tempfile::tempdir().unwrap();
    let issued = gantry_testkit::certs::client_ca_and_certificate(dir.path(), "issued-client");
    let read = |p: &std::path::Path| std::fs::read_to_string(p).unwrap();
    let trusted = self_signed("trusted-client");
    let stranger = self_signed("stranger");

    let api = create(
        &rest,
        api_body(
            "Mtls",
            "/mtls",
            &["mutualssl", "mutualssl_mandatory"],
            &upstream,
        ),
    )
    .await;
    let (status, body) = upload(&rest, &api, "trusted", &trusted.cert).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = upload(&rest, &api, "ca", &read(&issued.ca)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    rest.publish_and_deploy(&api, &["Default"]).await;

    let path = "/mtls/1.0.0/items";
    let with_trusted = tls_client(&up, https, Some((&trusted.cert, &trusted.key)));
    let mut ok = false;
    for _ in 0..50 {
        if call(&with_trusted, https, path, None).await.0 == StatusCode::OK {
            ok = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(ok, "the uploaded certificate is admitted");
    let hits = upstream.hits();

    let (status, body) = call(
        &tls_client(&up, https, Some((&read(&issued.cert), &read(&issued.key)))),
        https,
        path,
        None,
    )
    .await;
    assert_eq!(
        status,
        StatusCode::OK,
        "a certificate the uploaded CA issued: {body}"
    );

    for (what, client) in [
        ("no certificate", tls_client(&up, https, None)),
        (
            "an unknown certificate",
            tls_client(&up, https, Some((&stranger.cert, &stranger.key))),
        ),
    ] {
        let (status, body) = call(&client, https, path, None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{what}: {body}");
        assert_eq!(body["code"], "900901", "{what}: {body}");
        assert_eq!(
            body["error_message"], "Invalid Credentials",
            "{what}: {body}"
        );
    }
    // The plain port cannot carry a certificate: refused.
    let response = up.gw_client().get(up.gw_url(path)).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        upstream.hits(),
        hits + 1,
        "only the admitted calls reached the upstream"
    );

    // A deleted certificate stops working once the gateway has the new snapshot.
    assert_eq!(
        rest.delete(&format!("{PUB}/apis/{api}/client-certificates/trusted"))
            .await
            .0,
        StatusCode::OK
    );
    let mut refused = false;
    for _ in 0..50 {
        if call(&with_trusted, https, path, None).await.0 == StatusCode::UNAUTHORIZED {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(refused, "a deleted certificate is refused");
}

#[tokio::test]
async fn calls_admitted_by_a_certificate_alone_count_against_its_tier() {
    let upstream = EchoUpstream::start().await;
    let (up, https) = up_with_https().await;
    let rest = up.rest();
    let (status, policy) = rest
        .post(
            "/api/am/admin/v4/throttling/policies/subscription",
            json!({"policyName": "TwoPerMinute", "defaultLimit": {"type": "REQUESTCOUNTLIMIT",
                "requestCount": {"timeUnit": "min", "unitTime": 1, "requestCount": 2}}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{policy}");
    let api = create(
        &rest,
        api_body(
            "Tiered",
            "/tiered",
            &["mutualssl", "mutualssl_mandatory"],
            &upstream,
        ),
    )
    .await;
    let (limited, other) = (self_signed("limited-client"), self_signed("other-client"));
    let (status, body) = rest
        .send_multipart(
            Method::POST,
            &format!("{PUB}/apis/{api}/client-certificates"),
            &[
                ("certificate", &limited.cert),
                ("alias", "limited"),
                ("tier", "TwoPerMinute"),
            ],
            &["certificate"],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        upload(&rest, &api, "other", &other.cert).await.0,
        StatusCode::OK,
        "the other certificate's tier is Gold"
    );
    rest.publish_and_deploy(&api, &["Default"]).await;

    let path = "/tiered/1.0.0/items";
    let with_limited = tls_client(&up, https, Some((&limited.cert, &limited.key)));
    let mut first = StatusCode::SERVICE_UNAVAILABLE;
    for _ in 0..50 {
        first = call(&with_limited, https, path, None).await.0;
        if first != StatusCode::NOT_FOUND && first != StatusCode::SERVICE_UNAVAILABLE {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(first, StatusCode::OK, "the first call is within the tier");
    assert_eq!(
        call(&with_limited, https, path, None).await.0,
        StatusCode::OK
    );
    let response = with_limited
        .get(format!("https://localhost:{https}{path}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(response.headers().contains_key("retry-after"));
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body["code"], "900804",
        "a subscription-level throttle-out: {body}"
    );

    // Another certificate of the same API has its own count (and a Gold tier).
    let with_other = tls_client(&up, https, Some((&other.cert, &other.key)));
    for _ in 0..3 {
        assert_eq!(call(&with_other, https, path, None).await.0, StatusCode::OK);
    }
}

#[tokio::test]
async fn mandatory_mtls_with_optional_oauth_passes_on_the_certificate_alone() {
    let upstream = EchoUpstream::start().await;
    let (up, https) = up_with_https().await;
    let rest = up.rest();
    let client = self_signed("mandatory-client");
    let api = create(
        &rest,
        api_body(
            "MtlsFirst",
            "/mtls-first",
            &["oauth2", "mutualssl", "mutualssl_mandatory"],
            &upstream,
        ),
    )
    .await;
    assert_eq!(
        upload(&rest, &api, "c", &client.cert).await.0,
        StatusCode::OK
    );
    rest.publish_and_deploy(&api, &["Default"]).await;
    let token = rest.subscribed_token("MtlsFirstApp", &[&api], "Gold").await;
    let path = "/mtls-first/1.0.0/items";

    let with_cert = tls_client(&up, https, Some((&client.cert, &client.key)));
    let mut ok = false;
    for _ in 0..50 {
        if call(&with_cert, https, path, None).await.0 == StatusCode::OK {
            ok = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        ok,
        "the certificate alone is enough when OAuth2 is optional"
    );
    // A token does not replace the mandatory certificate.
    let (status, body) = call(&tls_client(&up, https, None), https, path, Some(&token)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["code"], "900901", "{body}");
}

#[tokio::test]
async fn optional_mtls_falls_back_to_the_mandatory_token() {
    let upstream = EchoUpstream::start().await;
    let (up, https) = up_with_https().await;
    let rest = up.rest();
    let client = self_signed("optional-client");
    let api = create(
        &rest,
        api_body(
            "TokenFirst",
            "/token-first",
            &["oauth2", "mutualssl", "oauth_basic_auth_api_key_mandatory"],
            &upstream,
        ),
    )
    .await;
    assert_eq!(
        upload(&rest, &api, "c", &client.cert).await.0,
        StatusCode::OK
    );
    rest.publish_and_deploy(&api, &["Default"]).await;
    let token = rest
        .subscribed_token("TokenFirstApp", &[&api], "Gold")
        .await;
    let path = "/token-first/1.0.0/items";

    let without_cert = tls_client(&up, https, None);
    let mut ok = false;
    for _ in 0..50 {
        if call(&without_cert, https, path, Some(&token)).await.0 == StatusCode::OK {
            ok = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(ok, "the token is enough without a certificate");
    // And on the plain port too: mutual TLS is optional here.
    assert_eq!(up.gw_status(path, &token).await, 200);
    // The certificate alone is not: the token is mandatory.
    let with_cert = tls_client(&up, https, Some((&client.cert, &client.key)));
    let (status, body) = call(&with_cert, https, path, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["code"], "900902", "{body}");
    let (status, _) = call(&with_cert, https, path, Some(&token)).await;
    assert_eq!(status, StatusCode::OK);
}
