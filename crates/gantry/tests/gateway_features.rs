//! End-to-end tests of the gateway's per-API features, each against the real `gantry up`
//! binary and an echo upstream: API keys, header mediation, the backend JWT, failover and
//! retries.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use base64::Engine as _;
use gantry_testkit::certs::handshake_trusting;
use gantry_testkit::rest::Rest;
use gantry_testkit::{EchoUpstream, GantryUp, eventually};
use reqwest::StatusCode;
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_gantry");
const PUB: &str = "/api/am/publisher/v4";
const DEV: &str = "/api/am/devportal/v3";

async fn subscribe(rest: &Rest, api_id: &str, app_id: &str) {
    let (status, sub) = rest
        .post(
            &format!("{DEV}/subscriptions"),
            json!({"apiId": api_id, "applicationId": app_id, "throttlingPolicy": "Gold"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{sub}");
}

async fn api_key(rest: &Rest, app_id: &str, key_type: &str, validity: i64) -> String {
    let (status, body) = rest
        .post(
            &format!("{DEV}/applications/{app_id}/api-keys/{key_type}/generate"),
            json!({"validityPeriod": validity, "additionalProperties": {}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["validityTime"], validity, "{body}");
    assert!(body["keyName"].as_str().is_some(), "{body}");
    body["apikey"].as_str().unwrap().to_owned()
}

async fn access_token(rest: &Rest, app_id: &str) -> String {
    let (ck, cs) = rest.keys(app_id).await;
    let (status, token) = rest.token(&ck, &cs).await;
    assert_eq!(status, StatusCode::OK, "{token}");
    token["access_token"].as_str().unwrap().to_owned()
}

async fn get(up: &GantryUp, path: &str, headers: &[(&str, &str)]) -> (StatusCode, Value) {
    let mut request = up.gw_client().get(up.gw_url(path));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn claims_of(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap()
}

#[tokio::test]
async fn api_keys_work_in_header_and_query_only_where_the_security_scheme_allows_them() {
    let upstream = EchoUpstream::start().await;
    let up = GantryUp::start(BIN).await;
    let rest = up.rest();
    let keyed = rest
        .create_and_deploy(
            json!({"name": "Keyed", "context": "/keyed", "version": "1.0.0",
            "policies": ["Gold"], "securityScheme": ["oauth2", "api_key"],
            "endpointConfig": {"endpoint_type": "http",
                "production_endpoints": {"url": format!("{}/prod", upstream.url())},
                "sandbox_endpoints": {"url": format!("{}/sandbox", upstream.url())}},
            "operations": [{"target": "/items", "verb": "GET"}]}),
        )
        .await;
    let custom = rest.create_and_deploy(json!({"name": "Custom", "context": "/custom", "version": "1.0.0",
            "policies": ["Gold"], "securityScheme": ["api_key"], "apiKeyHeader": "X-Api-Key",
            "endpointConfig": {"endpoint_type": "http", "production_endpoints": {"url": upstream.url()}},
            "operations": [{"target": "/items", "verb": "GET"}]}),
    )
    .await;
    let oauth_only = rest.create_and_deploy(json!({"name": "OAuthOnly", "context": "/oauth-only", "version": "1.0.0",
            "policies": ["Gold"],
            "endpointConfig": {"endpoint_type": "http", "production_endpoints": {"url": upstream.url()}},
            "operations": [{"target": "/items", "verb": "GET"}]}),
    )
    .await;
    let app = rest.application("KeyApp").await;
    for api in [&keyed, &custom, &oauth_only] {
        subscribe(&rest, api, &app).await;
    }
    let key = api_key(&rest, &app, "PRODUCTION", 3600).await;
    let claims = claims_of(&key);
    assert_eq!(claims["token_type"], "apiKey");
    assert_eq!(claims["keytype"], "PRODUCTION");
    assert_eq!(claims["application"]["uuid"], app.as_str());
    assert!(claims["exp"].as_u64().unwrap() > claims["iat"].as_u64().unwrap());
    let contexts: Vec<&str> = claims["subscribedAPIs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["context"].as_str().unwrap())
        .collect();
    assert!(contexts.contains(&"/keyed/1.0.0"), "{claims}");

    // In WSO2's default header (any case), and the key does not travel upstream.
    let (status, seen) = get(&up, "/keyed/1.0.0/items", &[("apikey", &key)]).await;
    assert_eq!(status, StatusCode::OK, "{seen}");
    assert_eq!(seen["path"], "/prod/items");
    assert!(seen["headers"].get("apikey").is_none(), "{seen}");
    // In the query string: removed before forwarding, the other parameters kept.
    let (status, seen) = get(
        &up,
        &format!("/keyed/1.0.0/items?color=red&apikey={key}&size=2"),
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{seen}");
    assert_eq!(seen["query"], "color=red&size=2");
    // A key in the query is removed even when the header's is the one used.
    let (status, seen) = get(
        &up,
        "/keyed/1.0.0/items?apikey=other&a=1",
        &[("apikey", &key)],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{seen}");
    assert_eq!(seen["query"], "a=1");
    // The API's own header name.
    let (status, seen) = get(&up, "/custom/1.0.0/items", &[("X-Api-Key", &key)]).await;
    assert_eq!(status, StatusCode::OK, "{seen}");
    assert!(seen["headers"].get("x-api-key").is_none(), "{seen}");
    let (status, body) = get(&up, "/custom/1.0.0/items", &[("apikey", &key)]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "wrong header: {body}");

    // An API without api_key in its security scheme refuses API keys.
    let (status, _) = get(&up, "/oauth-only/1.0.0/items", &[("apikey", &key)]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // An API key is not a bearer token; an access token is not an API key.
    let bearer_key = format!("Bearer {key}");
    let (status, body) = get(&up, "/keyed/1.0.0/items", &[("authorization", &bearer_key)]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    let token = access_token(&rest, &app).await;
    let (status, body) = get(&up, "/keyed/1.0.0/items", &[("apikey", &token)]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    let bearer = format!("Bearer {token}");
    let (status, _) = get(&up, "/keyed/1.0.0/items", &[("authorization", &bearer)]).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "OAuth still works where oauth2 is allowed"
    );
    let (status, _) = get(&up, "/custom/1.0.0/items", &[("authorization", &bearer)]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "api_key only: no OAuth");

    // A tampered key, and a key of an application that is not subscribed.
    let mut tampered = key.clone();
    let last = tampered.pop().unwrap();
    tampered.push(if last == 'A' { 'B' } else { 'A' });
    let (status, _) = get(&up, "/keyed/1.0.0/items", &[("apikey", &tampered)]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let stranger = rest.application("Stranger").await;
    let stranger_key = api_key(&rest, &stranger, "PRODUCTION", -1).await;
    assert!(
        claims_of(&stranger_key).get("exp").is_none(),
        "-1: no expiry"
    );
    let (status, _) = get(&up, "/keyed/1.0.0/items", &[("apikey", &stranger_key)]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // A sandbox key goes to the sandbox endpoint; a key that never expires works.
    let sandbox = api_key(&rest, &app, "SANDBOX", -1).await;
    let (status, seen) = get(&up, "/keyed/1.0.0/items", &[("apikey", &sandbox)]).await;
    assert_eq!(status, StatusCode::OK, "{seen}");
    assert_eq!(seen["path"], "/sandbox/items");

    // A key is revoked only under its own key type.
    let (status, body) = rest
        .post(
            &format!("{DEV}/applications/{app}/api-keys/SANDBOX/revoke"),
            json!({"apikey": key}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    // Revoked: refused at the gateway within the propagation window.
    let (status, body) = rest
        .post(
            &format!("{DEV}/applications/{app}/api-keys/PRODUCTION/revoke"),
            json!({"apikey": key}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let refused = eventually(Duration::from_secs(5), || async {
        get(&up, "/keyed/1.0.0/items", &[("apikey", &key)]).await.0 == StatusCode::UNAUTHORIZED
    })
    .await;
    assert!(refused, "a revoked API key must be refused");
    let (status, _) = get(&up, "/keyed/1.0.0/items", &[("apikey", &sandbox)]).await;
    assert_eq!(status, StatusCode::OK, "other keys keep working");
}

/// WSO2 4.7's API key resources: keys are listed by UUID and name (never by value),
/// regenerated (the old key is refused at the gateway, the new one served) and revoked by
/// UUID; another user's application and another application's key UUIDs are 404s.
#[tokio::test]
async fn api_keys_are_listed_regenerated_and_revoked_by_uuid() {
    let upstream = EchoUpstream::start().await;
    let up = GantryUp::start(BIN).await;
    let rest = up.rest();
    let keyed = rest
        .create_and_deploy(
            json!({"name": "Keyed47", "context": "/keyed47", "version": "1.0.0",
            "policies": ["Gold"], "securityScheme": ["api_key"],
            "endpointConfig": {"endpoint_type": "http",
                "production_endpoints": {"url": upstream.url()}},
            "operations": [{"target": "/items", "verb": "GET"}]}),
        )
        .await;
    let app = rest.application("KeyApp47").await;
    subscribe(&rest, &keyed, &app).await;
    let keys = format!("{DEV}/applications/{app}/api-keys/PRODUCTION");
    let (status, generated) = rest
        .post(
            &format!("{keys}/generate"),
            json!({"keyName": "ci-key", "validityPeriod": 3600}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{generated}");
    assert_eq!(generated["keyName"], "ci-key");
    assert_eq!(generated["validityPeriod"], 3600);
    let first = generated["apikey"].as_str().unwrap().to_owned();
    let uuid = generated["keyUUID"].as_str().unwrap().to_owned();
    let (status, body) = rest
        .post(&format!("{keys}/generate"), json!({"keyName": "ci-key"}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "names are unique: {body}");
    let call = |key: String| {
        let up = &up;
        async move { get(up, "/keyed47/1.0.0/items", &[("apikey", &key)]).await.0 }
    };
    assert_eq!(call(first.clone()).await, StatusCode::OK);

    let (status, listed) = rest.get(&keys).await;
    assert_eq!(status, StatusCode::OK, "{listed}");
    assert_eq!(listed["count"], 1, "{listed}");
    assert_eq!(listed["list"][0]["keyUUID"], uuid.as_str());
    assert_eq!(listed["list"][0]["keyName"], "ci-key");
    assert!(listed["list"][0]["issuedOn"].is_string(), "{listed}");
    assert!(
        !listed.to_string().contains(&first),
        "a list never shows a key"
    );
    let (_, sandbox) = rest
        .get(&format!("{DEV}/applications/{app}/api-keys/SANDBOX"))
        .await;
    assert_eq!(sandbox["count"], 0, "{sandbox}");

    // Regenerated: the new key is served, the old one refused.
    let (status, renewed) = rest
        .post(&format!("{keys}/regenerate"), json!({"keyUUID": uuid}))
        .await;
    assert_eq!(status, StatusCode::OK, "{renewed}");
    assert_eq!(
        (renewed["keyUUID"].clone(), renewed["keyName"].clone()),
        (json!(uuid), json!("ci-key"))
    );
    let second = renewed["apikey"].as_str().unwrap().to_owned();
    assert_ne!(second, first);
    assert!(
        eventually(Duration::from_secs(5), || async {
            call(first.clone()).await == StatusCode::UNAUTHORIZED
        })
        .await,
        "the regenerated key's predecessor is refused"
    );
    assert_eq!(call(second.clone()).await, StatusCode::OK);

    // Someone else's application, or a key of another application: 404.
    rest.create_user("mallory", "mallory-pass-1", &["Internal/subscriber"])
        .await;
    let mallory = rest.as_user("mallory", "mallory-pass-1");
    let (status, body) = mallory.get(&keys).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let other_app = mallory.application("MalloryApp").await;
    let (status, body) = mallory
        .post(
            &format!("{DEV}/applications/{other_app}/api-keys/PRODUCTION/regenerate"),
            json!({"keyUUID": uuid}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(body["code"], 404, "{body}");
    let (status, body) = rest.post(&format!("{keys}/regenerate"), json!({})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");

    // Revoked by UUID: refused at the gateway, gone from the list.
    let (status, body) = rest
        .post(&format!("{keys}/revoke"), json!({"keyUUID": uuid}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(
        eventually(Duration::from_secs(5), || async {
            call(second.clone()).await == StatusCode::UNAUTHORIZED
        })
        .await,
        "a key revoked by UUID is refused"
    );
    let (_, listed) = rest.get(&keys).await;
    assert_eq!(listed["count"], 0, "{listed}");
}

#[tokio::test]
async fn api_policies_add_and_remove_request_and_response_headers() {
    let upstream = EchoUpstream::start().await;
    let up = GantryUp::start(BIN).await;
    let rest = up.rest();
    let header = |name: &str, h: &str, v: Option<&str>| {
        let mut parameters = json!({"headerName": h});
        if let Some(v) = v {
            parameters["headerValue"] = json!(v);
        }
        json!({"policyName": name, "policyVersion": "v1", "parameters": parameters})
    };
    let (status, body) = rest
        .post(
            &format!("{PUB}/apis"),
            json!({"name": "Bad", "context": "/bad", "version": "1.0.0",
                "apiPolicies": {"request": [header("callInterceptor", "X", None)]}}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["description"]
            .as_str()
            .unwrap()
            .contains("apiPolicies.request[0].policyName"),
        "{body}"
    );

    rest.create_and_deploy(json!({"name": "Mediated", "context": "/mediated", "version": "1.0.0",
            "endpointConfig": {"endpoint_type": "http", "production_endpoints": {"url": upstream.url()}},
            "operations": [{"target": "/*", "verb": "GET", "authType": "None"}],
            "apiPolicies": {
                "request": [header("addHeader", "X-Env", Some("prod")),
                            header("appendHeader", "X-Tag", Some("gw")),
                            header("removeHeader", "X-Debug", None)],
                "response": [header("addHeader", "X-Served-By", Some("gantry")),
                             header("removeHeader", "Content-Type", None)]}}),
    )
    .await;
    let response = up
        .gw_client()
        .get(up.gw_url("/mediated/1.0.0/a"))
        .header("x-env", "client")
        .header("x-tag", "client")
        .header("x-debug", "1")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["x-served-by"], "gantry");
    assert!(response.headers().get("content-type").is_none());
    let seen: Value = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
    assert_eq!(seen["headers"]["x-env"], "prod", "set replaces: {seen}");
    assert!(seen["headers"].get("x-debug").is_none(), "{seen}");
    // The echo shows one value per name (the last); both travelled.
    assert_eq!(seen["headers"]["x-tag"], "gw", "{seen}");
}

#[tokio::test]
async fn backend_jwt_reaches_the_upstream_signed_by_the_gateway_and_verifies_with_its_jwks() {
    let upstream = EchoUpstream::start().await;
    let up = GantryUp::start(BIN).await;
    let rest = up.rest();
    let with_jwt = rest.create_and_deploy(json!({"name": "Asserted", "context": "/asserted", "version": "1.0.0",
            "policies": ["Gold"], "enableBackendJwt": true, "securityScheme": ["oauth2", "api_key"],
            "endpointConfig": {"endpoint_type": "http", "production_endpoints": {"url": upstream.url()}},
            "operations": [{"target": "/items", "verb": "GET"}]}),
    )
    .await;
    let without = rest.create_and_deploy(json!({"name": "Plain", "context": "/plain", "version": "1.0.0", "policies": ["Gold"],
            "endpointConfig": {"endpoint_type": "http", "production_endpoints": {"url": upstream.url()}},
            "operations": [{"target": "/items", "verb": "GET"}]}),
    )
    .await;
    let app = rest.application("Asserting").await;
    subscribe(&rest, &with_jwt, &app).await;
    subscribe(&rest, &without, &app).await;
    let bearer = format!("Bearer {}", access_token(&rest, &app).await);

    let (status, seen) = get(
        &up,
        "/asserted/1.0.0/items",
        &[("authorization", &bearer), ("x-jwt-assertion", "forged")],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{seen}");
    let assertion = seen["headers"]["x-jwt-assertion"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(assertion, "forged");

    // Verifiable with the gateway's published key.
    let jwks: Value = reqwest::get(format!(
        "http://127.0.0.1:{}/.well-known/jwks.json",
        up.ops_port
    ))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let jwk = &jwks["keys"][0];
    let key = jsonwebtoken::DecodingKey::from_ec_components(
        jwk["x"].as_str().unwrap(),
        jwk["y"].as_str().unwrap(),
    )
    .unwrap();
    let header = jsonwebtoken::decode_header(&assertion).unwrap();
    assert_eq!(header.kid.as_deref(), jwk["kid"].as_str());
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::ES256);
    validation.set_issuer(&["wso2.org/products/am"]);
    let claims = jsonwebtoken::decode::<Value>(&assertion, &key, &validation)
        .unwrap()
        .claims;
    assert_eq!(
        claims["http://wso2.org/claims/apicontext"],
        "/asserted/1.0.0"
    );
    assert_eq!(
        claims["http://wso2.org/claims/applicationUUId"],
        app.as_str()
    );
    assert_eq!(
        claims["http://wso2.org/claims/applicationname"],
        "Asserting"
    );
    assert_eq!(claims["http://wso2.org/claims/keytype"], "PRODUCTION");
    assert_eq!(claims["http://wso2.org/claims/usertype"], "APPLICATION");
    assert_eq!(claims["http://wso2.org/claims/subscriber"], "admin");
    let lifetime = claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap();
    assert!(lifetime <= 900, "short-lived: {lifetime}");

    // Cached: the next call carries the same signed assertion.
    let (_, again) = get(&up, "/asserted/1.0.0/items", &[("authorization", &bearer)]).await;
    assert_eq!(again["headers"]["x-jwt-assertion"], assertion.as_str());

    // API keys get one too, naming the same application.
    let key = api_key(&rest, &app, "PRODUCTION", 600).await;
    let (status, seen) = get(&up, "/asserted/1.0.0/items", &[("apikey", &key)]).await;
    assert_eq!(status, StatusCode::OK, "{seen}");
    let by_key = claims_of(seen["headers"]["x-jwt-assertion"].as_str().unwrap());
    assert_eq!(
        by_key["http://wso2.org/claims/applicationUUId"],
        app.as_str()
    );

    // An API without it sends none, and a client cannot smuggle one through.
    let (status, seen) = get(
        &up,
        "/plain/1.0.0/items",
        &[("authorization", &bearer), ("x-jwt-assertion", "forged")],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(seen["headers"].get("x-jwt-assertion").is_none(), "{seen}");
}

#[tokio::test]
async fn idempotent_requests_are_retried_on_another_member_and_posts_never_are() {
    let (failing, healthy) = (EchoUpstream::start().await, EchoUpstream::start().await);
    let up = GantryUp::start(BIN).await;
    let rest = up.rest();
    rest.create_and_deploy(
        json!({"name": "Retried", "context": "/retried", "version": "1.0.0",
            "endpointConfig": {"endpoint_type": "load_balance",
                "algoClassName": "org.apache.synapse.endpoints.algorithms.RoundRobin",
                "production_endpoints": [{"url": format!("{}/status/503", failing.url())},
                                         {"url": format!("{}/ok", healthy.url())}]},
            "operations": [{"target": "/*", "verb": "GET", "authType": "None"},
                           {"target": "/*", "verb": "PUT", "authType": "None"},
                           {"target": "/*", "verb": "POST", "authType": "None"}]}),
    )
    .await;

    // GET: every request succeeds; those sent to the failing member are retried once.
    for _ in 0..4 {
        let (status, seen) = get(&up, "/retried/1.0.0/items?x=1", &[]).await;
        assert_eq!(status, StatusCode::OK, "{seen}");
        assert_eq!(seen["path"], "/ok/items");
        assert_eq!(seen["query"], "x=1");
    }
    assert_eq!((failing.hits(), healthy.hits()), (2, 4));

    // PUT with a small body: retried with the same body.
    for _ in 0..2 {
        let r = up
            .gw_client()
            .put(up.gw_url("/retried/1.0.0/items"))
            .body("0123456789")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let seen: Value = r.json().await.unwrap();
        assert_eq!(seen["bodyLength"], 10, "{seen}");
    }
    assert_eq!((failing.hits(), healthy.hits()), (3, 6));

    // POST is never sent twice: the failing member's 503 reaches the client.
    let mut statuses = Vec::new();
    for _ in 0..4 {
        let r = up
            .gw_client()
            .post(up.gw_url("/retried/1.0.0/items"))
            .body("x")
            .send()
            .await
            .unwrap();
        statuses.push(r.status());
    }
    assert_eq!(
        statuses
            .iter()
            .filter(|s| **s == StatusCode::SERVICE_UNAVAILABLE)
            .count(),
        2,
        "{statuses:?}"
    );
    assert_eq!(
        failing.hits() + healthy.hits(),
        9 + 4,
        "one upstream request per POST"
    );
    let metrics = reqwest::get(format!("http://127.0.0.1:{}/metrics", up.ops_port))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("gantry_gateway_upstream_retries_total 3"),
        "{metrics}"
    );
}

#[tokio::test]
async fn failover_endpoints_take_over_when_the_primary_is_down() {
    let backup = EchoUpstream::start().await;
    let dead = format!("http://127.0.0.1:{}/dead", gantry_testkit::free_port());
    let up = GantryUp::start(BIN).await;
    let rest = up.rest();
    rest.create_and_deploy(
        json!({"name": "Failing", "context": "/failing", "version": "1.0.0",
            "endpointConfig": {"endpoint_type": "failover",
                "production_endpoints": {"url": dead},
                "production_failovers": [{"url": format!("{}/backup", backup.url())}]},
            "operations": [{"target": "/*", "verb": "GET", "authType": "None"},
                           {"target": "/*", "verb": "POST", "authType": "None"}]}),
    )
    .await;
    // The first GET finds the primary down and fails over at once; the primary then sits
    // out, so later requests (POST included) go straight to the failover endpoint.
    for _ in 0..3 {
        let (status, seen) = get(&up, "/failing/1.0.0/a", &[]).await;
        assert_eq!(status, StatusCode::OK, "{seen}");
        assert_eq!(seen["path"], "/backup/a");
    }
    let r = up
        .gw_client()
        .post(up.gw_url("/failing/1.0.0/a"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(backup.hits(), 4);
}

#[tokio::test]
async fn least_request_sends_new_requests_away_from_a_busy_member() {
    let (slow, fast) = (EchoUpstream::start().await, EchoUpstream::start().await);
    let up = GantryUp::start(BIN).await;
    let rest = up.rest();
    rest.create_and_deploy(json!({"name": "Least", "context": "/least", "version": "1.0.0",
            "endpointConfig": {"endpoint_type": "load_balance", "algoClassName": "LeastRequest",
                "production_endpoints": [
                    {"url": format!("{}/delay/1500", slow.url()), "config": {"actionDuration": "5000"}},
                    {"url": format!("{}/fast", fast.url())}]},
            "operations": [{"target": "/*", "verb": "GET", "authType": "None"}]}),
    )
    .await;
    // Occupy the slow member (both are idle: the first in order is chosen).
    let busy = {
        let (client, url) = (up.gw_client(), up.gw_url("/least/1.0.0/x"));
        tokio::spawn(async move { client.get(url).send().await.unwrap().status() })
    };
    assert!(
        eventually(Duration::from_secs(2), || async { slow.hits() == 1 }).await,
        "the first request reaches the slow member"
    );
    // While it is busy, every new request goes to the idle member (round robin would send
    // every other one to the slow member).
    for _ in 0..4 {
        let started = std::time::Instant::now();
        let (status, seen) = get(&up, "/least/1.0.0/x", &[]).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(seen["path"], "/fast/x");
        assert!(started.elapsed() < Duration::from_millis(1000));
    }
    assert_eq!(busy.await.unwrap(), StatusCode::OK);
    assert_eq!((slow.hits(), fast.hits()), (1, 4));
}

/// Reads from `stream` until the end of an HTTP head (`\r\n\r\n`); returns the head.
async fn read_head(stream: &mut tokio::net::TcpStream) -> String {
    use tokio::io::AsyncReadExt;
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut byte))
            .await
            .expect("head in time")
            .unwrap();
        assert_eq!(n, 1, "closed before the end of the head: {head:?}");
        head.push(byte[0]);
    }
    String::from_utf8(head).unwrap()
}

/// A WebSocket upstream on a free port: answers the handshake with 101, then echoes every
/// byte; reports each handshake it received on the channel.
async fn websocket_echo() -> (u16, tokio::sync::mpsc::UnboundedReceiver<String>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let tx = tx.clone();
            tokio::spawn(async move {
                let head = read_head(&mut stream).await;
                let _ = tx.send(head);
                stream
                    .write_all(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n")
                    .await
                    .unwrap();
                let mut buf = [0u8; 1024];
                while let Ok(n) = stream.read(&mut buf).await {
                    if n == 0 || stream.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    (port, rx)
}

#[tokio::test]
async fn websocket_upgrades_pass_through_after_authentication() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (ws_port, mut handshakes) = websocket_echo().await;
    let up = GantryUp::start(BIN).await;
    let rest = up.rest();
    let api = rest
        .create_and_deploy(
            json!({"name": "Chat", "context": "/chat", "version": "1.0.0", "policies": ["Gold"],
            "securityScheme": ["oauth2", "api_key"],
            "endpointConfig": {"endpoint_type": "http",
                "production_endpoints": {"url": format!("http://127.0.0.1:{ws_port}/ws")}},
            "operations": [{"target": "/*", "verb": "GET"}]}),
        )
        .await;
    let app = rest.application("Chatter").await;
    subscribe(&rest, &api, &app).await;
    let key = api_key(&rest, &app, "PRODUCTION", 600).await;
    let handshake = |credential: &str| {
        format!(
            "GET /chat/1.0.0/room HTTP/1.1\r\nHost: localhost:{}\r\nConnection: Upgrade\r\n\
             Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n{credential}\r\n",
            up.gw_port
        )
    };

    // Without credentials: refused at the gateway, the upstream never sees it.
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", up.gw_port))
        .await
        .unwrap();
    stream.write_all(handshake("").as_bytes()).await.unwrap();
    let head = read_head(&mut stream).await;
    assert!(head.starts_with("HTTP/1.1 401"), "{head}");
    assert!(handshakes.try_recv().is_err());

    // With an API key: 101, then frames travel both ways unchanged.
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", up.gw_port))
        .await
        .unwrap();
    stream
        .write_all(handshake(&format!("ApiKey: {key}\r\n")).as_bytes())
        .await
        .unwrap();
    let head = read_head(&mut stream).await;
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    let lower = head.to_ascii_lowercase();
    assert!(lower.contains("upgrade: websocket"), "{head}");
    assert!(
        lower.contains("sec-websocket-accept: s3pplmbitxaq9kygzzhzrbk+xoo="),
        "{head}"
    );
    let seen = handshakes.recv().await.unwrap().to_ascii_lowercase();
    assert!(seen.starts_with("get /ws/room http/1.1"), "{seen}");
    assert!(seen.contains("upgrade: websocket"), "{seen}");
    assert!(
        seen.contains("sec-websocket-key: dghlihnhbxbszsbub25jzq=="),
        "{seen}"
    );
    assert!(
        !seen.contains("apikey"),
        "the key stays at the gateway: {seen}"
    );

    for text in ["hello", "second message"] {
        // A masked text frame, as a browser sends it.
        let mask = [0x37u8, 0xfa, 0x21, 0x3d];
        let mut frame = vec![0x81, 0x80 | u8::try_from(text.len()).unwrap()];
        frame.extend_from_slice(&mask);
        frame.extend(text.bytes().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        stream.write_all(&frame).await.unwrap();
        let mut echoed = vec![0u8; frame.len()];
        tokio::time::timeout(Duration::from_secs(5), stream.read_exact(&mut echoed))
            .await
            .expect("echo in time")
            .unwrap();
        assert_eq!(echoed, frame);
    }
}

#[tokio::test]
async fn members_failing_active_health_checks_get_no_traffic() {
    let (sick, well) = (EchoUpstream::start().await, EchoUpstream::start().await);
    let up = GantryUp::start(BIN).await;
    let rest = up.rest();
    rest.create_and_deploy(json!({"name": "Checked", "context": "/checked", "version": "1.0.0",
            "endpointConfig": {"endpoint_type": "load_balance",
                // The probe is GET <member URL>/health: the sick member's answers 503.
                "healthCheck": {"path": "/health", "intervalMs": 100, "timeoutMs": 500, "unhealthyThreshold": 2},
                "production_endpoints": [{"url": format!("{}/status/503", sick.url())},
                                         {"url": format!("{}/ok", well.url())}]},
            "operations": [{"target": "/*", "verb": "POST", "authType": "None"}]}),
    )
    .await;
    assert!(
        // Probes run one after the other: the third began after the second was recorded.
        eventually(Duration::from_secs(5), || async { sick.hits() >= 3 }).await,
        "the sick member is probed"
    );
    // POSTs are never retried: without the health check every other one would get a 503.
    for _ in 0..6 {
        let r = up
            .gw_client()
            .post(up.gw_url("/checked/1.0.0/x"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let seen: Value = r.json().await.unwrap();
        assert_eq!(seen["path"], "/ok/x");
    }
}

/// Writes a self-signed certificate for `host` as `{name}.pem` / `{name}-key.pem`.
fn self_signed(dir: &std::path::Path, name: &str, host: &str) -> (std::path::PathBuf, String) {
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec![host.to_owned()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let cert_path = dir.join(format!("{name}.pem"));
    std::fs::write(&cert_path, cert.pem()).unwrap();
    std::fs::write(dir.join(format!("{name}-key.pem")), key.serialize_pem()).unwrap();
    (cert_path, cert.pem())
}

#[tokio::test]
async fn gateway_tls_serves_a_certificate_per_sni_host_and_reloads_renewed_files() {
    let dir = tempfile::tempdir().unwrap();
    let (default_cert, default_pem) = self_signed(dir.path(), "default", "localhost");
    let (api_cert, api_pem) = self_signed(dir.path(), "api", "api.gantry.test");
    let (https, ops) = (gantry_testkit::free_port(), gantry_testkit::free_port());
    let mut gateway = std::process::Command::new(BIN)
        .args(["gateway", "--environment", "Default", "--token", "unused"])
        .args(["--control-plane", "http://127.0.0.1:9"])
        .args(["--http-port", &gantry_testkit::free_port().to_string()])
        .args([
            "--https-port",
            &https.to_string(),
            "--ops-port",
            &ops.to_string(),
        ])
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .arg("--tls-cert")
        .arg(&default_cert)
        .arg("--tls-key")
        .arg(dir.path().join("default-key.pem"))
        .arg("--tls-sni")
        .arg(format!(
            "api.gantry.test={},{}",
            api_cert.display(),
            dir.path().join("api-key.pem").display()
        ))
        .args(["--tls-reload-secs", "1", "--bind", "127.0.0.1"])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();

    let up = eventually(Duration::from_secs(10), || {
        handshake_trusting("localhost", https, &default_pem)
    })
    .await;
    assert!(up, "default certificate served");
    assert!(handshake_trusting("api.gantry.test", https, &api_pem).await);
    assert!(
        !handshake_trusting("api.gantry.test", https, &default_pem).await,
        "the SNI host gets its own certificate"
    );

    // Renewed on disk: served within the reload interval, without a restart.
    std::thread::sleep(Duration::from_millis(20));
    let (_, renewed_pem) = self_signed(dir.path(), "api", "api.gantry.test");
    let reloaded = eventually(Duration::from_secs(5), || {
        handshake_trusting("api.gantry.test", https, &renewed_pem)
    })
    .await;
    let old_refused = !handshake_trusting("api.gantry.test", https, &api_pem).await;
    let _ = gateway.kill();
    let _ = gateway.wait();
    assert!(reloaded, "the renewed certificate is served");
    assert!(old_refused, "the old certificate is gone");
}

#[tokio::test]
async fn an_idle_websocket_is_closed_after_the_configured_timeout() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (ws_port, _handshakes) = websocket_echo().await;
    let up =
        GantryUp::start_with_env(BIN, false, &[("GANTRY_WEBSOCKET_IDLE_TIMEOUT_SECS", "2")]).await;
    let rest = up.rest();
    rest.create_and_deploy(
        json!({"name": "Quiet", "context": "/quiet", "version": "1.0.0",
            "endpointConfig": {"endpoint_type": "http",
                "production_endpoints": {"url": format!("http://127.0.0.1:{ws_port}/ws")}},
            "operations": [{"target": "/*", "verb": "GET", "authType": "None"}]}),
    )
    .await;
    let handshake = format!(
        "GET /quiet/1.0.0/room HTTP/1.1\r\nHost: localhost:{}\r\nConnection: Upgrade\r\n\
         Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
        up.gw_port
    );
    let mut upgraded = None;
    for _ in 0..50 {
        let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", up.gw_port))
            .await
            .unwrap();
        stream.write_all(handshake.as_bytes()).await.unwrap();
        if read_head(&mut stream).await.starts_with("HTTP/1.1 101") {
            upgraded = Some(stream);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut stream = upgraded.expect("the handshake is answered 101 once deployed");
    let frame = [0x81u8, 0x82, 1, 2, 3, 4, b'h' ^ 1, b'i' ^ 2];
    // Traffic more often than the timeout keeps the tunnel open.
    for _ in 0..4 {
        stream.write_all(&frame).await.unwrap();
        let mut echoed = [0u8; 8];
        tokio::time::timeout(Duration::from_secs(5), stream.read_exact(&mut echoed))
            .await
            .expect("echo in time")
            .unwrap();
        assert_eq!(echoed, frame);
        tokio::time::sleep(Duration::from_millis(700)).await;
    }
    // Then silence: the gateway closes the connection once two seconds have passed.
    let quiet_since = std::time::Instant::now();
    let mut rest_of_it = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut rest_of_it))
        .await
        .expect("closed by the gateway within the timeout, not left open");
    assert!(read.is_ok_and(|n| n == 0), "no bytes, just the close");
    let waited = quiet_since.elapsed();
    assert!(waited < Duration::from_secs(4), "{waited:?}");
}
