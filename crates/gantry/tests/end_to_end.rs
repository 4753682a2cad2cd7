//! End-to-end: the real `gantry up` binary on free ports, driven over HTTP(S) as a user
//! would: publish → revision → deploy → application → subscribe → keys → token → call.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use gantry_testkit::process::ADMIN_PASSWORD;
use gantry_testkit::rest::Rest;
use gantry_testkit::{EchoUpstream, GantryUp};
use reqwest::StatusCode;
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_gantry");
const PUB: &str = "/api/am/publisher/v4";
const DEV: &str = "/api/am/devportal/v3";

async fn call(up: &GantryUp, path: &str, token: Option<&str>) -> reqwest::Response {
    let mut request = up.gw_client().get(up.gw_url(path));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.expect("gateway request")
}

#[tokio::test]
async fn publish_subscribe_token_and_call_through_the_gateway_then_survive_a_restart() {
    let upstream = EchoUpstream::start().await;
    let mut up = GantryUp::start(BIN).await;
    let rest = up.rest();

    let api_id = rest
        .deployed_api(
            "Orders",
            "/orders",
            &format!("{}/backend/", upstream.url()),
            json!([{"target": "/items/{itemId}", "verb": "GET"}, {"target": "/open", "verb": "GET", "authType": "None"}]),
        )
        .await;
    let app_id = rest.application("Shop").await;
    let (status, sub) = rest
        .post(
            &format!("{DEV}/subscriptions"),
            json!({"apiId": api_id, "applicationId": app_id, "throttlingPolicy": "Gold"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{sub}");
    assert_eq!(sub["status"], "UNBLOCKED");
    let (ck, cs) = rest.keys(&app_id).await;

    let (status, token) = rest.token(&ck, &cs).await;
    assert_eq!(status, StatusCode::OK, "{token}");
    assert_eq!(token["token_type"], "Bearer");
    assert_eq!(token["expires_in"], 3600);
    let access_token = token["access_token"].as_str().unwrap().to_owned();

    // The token is an RS256 JWT whose kid is in the published JWKS.
    let header = access_token.split('.').next().unwrap();
    let header: Value = serde_json::from_slice(&base64_url_decode(header)).unwrap();
    assert_eq!(header["alg"], "RS256");
    let (status, jwks) = rest.get("/oauth2/jwks").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(jwks["keys"][0]["kid"], header["kid"]);

    // Valid token + subscription: proxied, path rewritten, credentials not forwarded.
    let r = call(&up, "/orders/1.0.0/items/42?color=red", Some(&access_token)).await;
    assert_eq!(r.status(), StatusCode::OK);
    let seen: Value = r.json().await.unwrap();
    assert_eq!(seen["path"], "/backend/items/42");
    assert_eq!(seen["query"], "color=red");
    assert!(
        seen["headers"].get("authorization").is_none(),
        "token must not reach the upstream"
    );
    assert_eq!(seen["headers"]["x-forwarded-for"], "127.0.0.1");
    assert_eq!(seen["headers"]["x-forwarded-proto"], "http");
    assert_eq!(
        seen["headers"]["x-forwarded-host"],
        format!("localhost:{}", up.gw_port)
    );
    assert_eq!(
        seen["headers"]["x-correlation-id"].as_str().map(str::len),
        Some(36),
        "generated"
    );

    // A client's correlation id is passed upstream and returned, on errors too.
    let r = up
        .gw_client()
        .get(up.gw_url("/orders/1.0.0/items/9"))
        .bearer_auth(&access_token)
        .header("x-correlation-id", "trace-abc-123")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-correlation-id"], "trace-abc-123");
    let seen: Value = r.json().await.unwrap();
    assert_eq!(seen["headers"]["x-correlation-id"], "trace-abc-123");
    let r = up
        .gw_client()
        .get(up.gw_url("/nowhere"))
        .header("x-correlation-id", "e1")
        .send()
        .await
        .unwrap();
    assert_eq!(
        (r.status(), &r.headers()["x-correlation-id"]),
        (
            StatusCode::NOT_FOUND,
            &"e1".parse::<reqwest::header::HeaderValue>().unwrap()
        )
    );

    // No token, garbage token, tampered token: 401 with a JSON body and a challenge.
    for bad in [None, Some("not-a-jwt"), Some(&tampered(&access_token)[..])] {
        let r = call(&up, "/orders/1.0.0/items/42", bad).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "token {bad:?}");
        assert!(
            r.headers()
                .get("www-authenticate")
                .unwrap()
                .to_str()
                .unwrap()
                .starts_with("Bearer")
        );
        let body: Value = r.json().await.unwrap();
        assert!(
            body["code"].as_str().unwrap().starts_with("90090"),
            "{body}"
        );
    }

    // A valid token of an application that is not subscribed: 403.
    let other_app = rest.application("Other").await;
    let (ck2, cs2) = rest.keys(&other_app).await;
    let (_, token2) = rest.token(&ck2, &cs2).await;
    let r = call(
        &up,
        "/orders/1.0.0/items/42",
        token2["access_token"].as_str(),
    )
    .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(r.json::<Value>().await.unwrap()["code"], "900908");

    // Open resource needs no token; unknown routes are 404; wrong method 405.
    assert_eq!(
        call(&up, "/orders/1.0.0/open", None).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        call(&up, "/nowhere/1.0.0/x", Some(&access_token))
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        call(&up, "/orders/2.0.0/items/1", Some(&access_token))
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    let r = up
        .gw_client()
        .delete(up.gw_url("/orders/1.0.0/items/1"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);

    // Path tricks never reach the upstream.
    let before = upstream.hits();
    for trick in [
        "/orders/1.0.0/open/../items/1",
        "/orders/1.0.0/open/%2e%2e/items/1",
        "/orders/1.0.0/open/%2E%2e/items/1",
        "/orders/1.0.0//open",
        "/orders/1.0.0/open%2f..%2fitems/1",
    ] {
        let status =
            gantry_testkit::raw::status_of(up.gw_port, &gantry_testkit::raw::get(trick)).await;
        assert!(status == 400 || status == 404, "{trick}: {status}");
    }
    assert_eq!(upstream.hits(), before);

    // A blocked API is refused at the gateway, open resources included; re-publishing restores it.
    assert_eq!(rest.lifecycle(&api_id, "Block").await, StatusCode::OK);
    assert_eq!(
        call(&up, "/orders/1.0.0/items/1", Some(&access_token))
            .await
            .status(),
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(
        call(&up, "/orders/1.0.0/open", None).await.status(),
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(rest.lifecycle(&api_id, "Re-Publish").await, StatusCode::OK);
    assert_eq!(
        call(&up, "/orders/1.0.0/items/1", Some(&access_token))
            .await
            .status(),
        StatusCode::OK
    );

    // Restart on the same data directory: the API, keys and signing key are all still there.
    drop(rest);
    up.restart().await;
    let r = call(&up, "/orders/1.0.0/items/7", Some(&access_token)).await;
    assert_eq!(
        r.status(),
        StatusCode::OK,
        "token issued before the restart still works"
    );
    let rest = up.rest();
    let (status, token) = rest.token(&ck, &cs).await;
    assert_eq!(status, StatusCode::OK);
    let r = call(&up, "/orders/1.0.0/items/7", token["access_token"].as_str()).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(up.stop(), "SIGTERM shuts down cleanly with exit code 0");
}

#[tokio::test]
async fn upstream_down_is_502_and_slow_upstream_is_504() {
    let upstream = EchoUpstream::start().await;
    let up = GantryUp::start(BIN).await;
    let rest = up.rest();
    let open = json!([{"target": "/*", "verb": "GET", "authType": "None"}]);
    rest.deployed_api("Slow", "/slow-api", &upstream.url(), open.clone())
        .await;
    let dead = format!("http://127.0.0.1:{}", gantry_testkit::free_port());
    rest.deployed_api("Dead", "/dead", &dead, open).await;

    let r = call(&up, "/dead/1.0.0/anything", None).await;
    assert_eq!(r.status(), StatusCode::BAD_GATEWAY);
    assert_eq!(r.json::<Value>().await.unwrap()["code"], "101503");

    // actionDuration is 1000 ms; the echo upstream's /slow waits 3 s.
    let started = std::time::Instant::now();
    let r = call(&up, "/slow-api/1.0.0/slow/x", None).await;
    assert_eq!(r.status(), StatusCode::GATEWAY_TIMEOUT);
    assert!(
        started.elapsed() < std::time::Duration::from_millis(2900),
        "timed out by the gateway, not the upstream"
    );
    assert_eq!(
        call(&up, "/slow-api/1.0.0/fast", None).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn bad_input_is_a_4xx_naming_the_problem() {
    let up = GantryUp::start(BIN).await;
    let rest = up.rest();
    let apis = format!("{PUB}/apis");

    let (status, body) = rest
        .post(&apis, json!({"name": "A", "version": "1.0.0"}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["description"].as_str().unwrap().contains("context"),
        "{body}"
    );
    assert_eq!(body["code"], 400);

    let (status, body) = rest
        .post(
            &apis,
            // A context without its leading `/` is taken as WSO2 does ("a" is "/a");
            // one with a query is not a context.
            json!({"name": "A", "context": "a?b", "version": "1.0.0"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["description"].as_str().unwrap().contains("context"),
        "{body}"
    );

    let (status, body) = rest
        .post(&apis, json!({"name": "A", "context": "/a", "version": 1}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "wrong type: {body}");

    let (status, _) = rest
        .post(
            &apis,
            json!({"name": "A", "context": "/a", "version": "1.0.0"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, body) = rest
        .post(
            &apis,
            json!({"name": "A", "context": "/other", "version": "1.0.0"}),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "duplicate name+version: {body}"
    );
    let (status, _) = rest
        .post(
            &apis,
            json!({"name": "B", "context": "/a", "version": "1.0.0"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "duplicate context+version");

    let (status, body) = rest
        .get(&format!("{PUB}/apis/00000000-0000-0000-0000-000000000000"))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["code"], 404);

    let (status, _) = rest
        .post_empty(&format!(
            "{PUB}/apis/change-lifecycle?apiId=nope&action=Publish"
        ))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Malformed JSON and the wrong content type.
    let r = up
        .cp_client()
        .post(up.cp_url(&apis))
        .basic_auth("admin", Some(ADMIN_PASSWORD))
        .header("content-type", "application/json")
        .body("{\"name\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = up
        .cp_client()
        .post(up.cp_url(&apis))
        .basic_auth("admin", Some(ADMIN_PASSWORD))
        .body("name=A")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);

    // Oversized body: 413, and nothing stored.
    let huge = "x".repeat(3 * 1024 * 1024);
    let (status, _) = rest
        .post(
            &apis,
            json!({"name": "Huge", "context": "/huge", "version": "1", "description": huge}),
        )
        .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    let (_, list) = rest.get(&apis).await;
    assert_eq!(list["count"], 1, "only API 'A' exists: {list}");

    // Lifecycle: unknown action 400, illegal transition 409 listing the allowed actions.
    let id = list["list"][0]["id"].as_str().unwrap().to_owned();
    let (status, _) = rest
        .post_empty(&format!(
            "{PUB}/apis/change-lifecycle?apiId={id}&action=Fly"
        ))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, body) = rest
        .post_empty(&format!(
            "{PUB}/apis/change-lifecycle?apiId={id}&action=Retire"
        ))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(
        body["description"].as_str().unwrap().contains("Publish"),
        "{body}"
    );

    // Deploying to an unknown environment is refused.
    let (_, revision) = rest
        .post(&format!("{PUB}/apis/{id}/revisions"), json!({}))
        .await;
    let rev = revision["id"].as_str().unwrap();
    let (status, body) = rest
        .post(
            &format!("{PUB}/apis/{id}/deploy-revision?revisionId={rev}"),
            json!([{"name": "Mars"}]),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["description"].as_str().unwrap().contains("Mars"));

    // Subscribing to an API that is not published, or with a tier it does not offer.
    let app = rest.application("App").await;
    let subs = format!("{DEV}/subscriptions");
    let (status, _) = rest
        .post(
            &subs,
            json!({"apiId": id, "applicationId": app, "throttlingPolicy": "Unlimited"}),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "unpublished APIs are invisible to subscribers"
    );
    rest.post_empty(&format!(
        "{PUB}/apis/change-lifecycle?apiId={id}&action=Publish"
    ))
    .await;
    let (status, body) = rest
        .post(
            &subs,
            json!({"apiId": id, "applicationId": app, "throttlingPolicy": "Gold"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, _) = rest
        .post(
            &format!("{DEV}/applications"),
            json!({"name": "App", "throttlingPolicy": "Unlimited"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "duplicate application name");
    let (status, _) = rest
        .post(
            &format!("{DEV}/applications"),
            json!({"name": "X", "throttlingPolicy": "Gold"}),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "Gold is not an application tier"
    );
}

#[tokio::test]
async fn rest_and_token_endpoints_refuse_bad_credentials() {
    let up = GantryUp::start(BIN).await;
    let client = up.cp_client();
    let r = client
        .get(up.cp_url(&format!("{PUB}/apis")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(r.headers().contains_key("www-authenticate"));
    assert_eq!(r.json::<Value>().await.unwrap()["code"], 401);
    let r = client
        .get(up.cp_url(&format!("{PUB}/apis")))
        .basic_auth("admin", Some("wrong"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    let rest = up.rest();
    let (status, body) = rest.token("nobody", "nothing").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"], "invalid_client");
    let app = rest.application("Tokens").await;
    let (ck, cs) = rest.keys(&app).await;
    let (status, body) = rest.token(&ck, "wrong-secret").await;
    assert_eq!(
        (status, &body["error"]),
        (StatusCode::UNAUTHORIZED, &json!("invalid_client"))
    );
    let r = client
        .post(up.cp_url("/oauth2/token"))
        .basic_auth(&ck, Some(&cs))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=magic")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"],
        "unsupported_grant_type"
    );
    // Keys are generated once per key type.
    let (status, _) = rest
        .post(
            &format!("{DEV}/applications/{app}/generate-keys"),
            json!({"keyType": "PRODUCTION", "grantTypesToBeSupported": ["client_credentials"]}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
}

#[tokio::test]
async fn demo_api_is_deployed_on_first_start() {
    // On one worker thread (the single-threaded runtime), as the gateway bench runs it.
    let up = GantryUp::start_with_env(BIN, true, &[("GANTRY_WORKER_THREADS", "1")]).await;
    let r = call(&up, "/pizzashack/1.0.0/menu", None).await;
    assert_eq!(r.status(), StatusCode::OK);
    let menu: Value = r.json().await.unwrap();
    assert!(menu.as_array().is_some_and(|m| !m.is_empty()));
    assert_eq!(
        call(&up, "/pizzashack/1.0.0/order/1", None).await.status(),
        StatusCode::UNAUTHORIZED
    );
    // On a laptop every loopback name is the Default environment's `localhost`.
    for base in [
        format!("http://127.0.0.1:{}", up.gw_port),
        format!("http://[::1]:{}", up.gw_port),
    ] {
        let Ok(r) = up
            .gw_client()
            .get(format!("{base}/pizzashack/1.0.0/menu"))
            .send()
            .await
        else {
            // No IPv6 loopback on this machine: the gateway cannot be reached there at all.
            assert!(base.contains("[::1]"), "{base} unreachable");
            continue;
        };
        assert_eq!(r.status(), StatusCode::OK, "{base}");
    }
    // A host no API is deployed for is told apart from a wrong path.
    let r = up
        .gw_client()
        .get(up.gw_url("/pizzashack/1.0.0/menu"))
        .header("host", "api.elsewhere.example")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let body: Value = r.json().await.unwrap();
    let description = body["error_description"].as_str().unwrap();
    assert!(
        description.contains("'api.elsewhere.example'") && description.contains("localhost"),
        "{description}"
    );
}

#[tokio::test]
async fn the_in_process_gateway_is_listed_with_its_environment_and_applied_version() {
    // With the demo seeded, so the node has acknowledged at least one deployed version.
    let up = GantryUp::start_with_env(BIN, true, &[]).await;
    let rest = gantry_testkit::rest::Rest::new(&up.cp_url(""), up.cp_client());
    let (status, envs) = rest.get("/api/am/admin/v4/environments").await;
    assert_eq!(status, StatusCode::OK, "{envs}");
    let default = envs["list"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "Default")
        .unwrap()
        .clone();
    let path = format!(
        "/api/am/admin/v4/environments/{}/gateways",
        default["id"].as_str().unwrap()
    );
    // The node records its start and its ACK asynchronously: poll with a deadline.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let node = loop {
        let (status, gateways) = rest.get(&path).await;
        assert_eq!(status, StatusCode::OK, "{gateways}");
        let node = gateways["list"].as_array().and_then(|l| l.first()).cloned();
        if let Some(node) = node.filter(|n| n["inSync"] == true) {
            break node;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no in-sync node listed: {gateways}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert_eq!(node["status"], "ACTIVE", "{node}");
    assert!(
        node["gatewayId"]
            .as_str()
            .unwrap()
            .starts_with("gantry-up@"),
        "{node}"
    );
    assert_eq!(node["appliedVersion"], node["environmentVersion"], "{node}");
    assert!(node["appliedVersion"].as_i64().unwrap() >= 1, "{node}");
}

fn base64_url_decode(s: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = Vec::new();
    let (mut buf, mut bits) = (0u32, 0);
    for c in s.bytes() {
        let v = ALPHABET.iter().position(|&a| a == c).expect("base64url") as u32;
        buf = (buf << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((buf >> bits) as u8);
        }
    }
    out
}

/// The token with one character of its payload changed (signature no longer matches).
fn tampered(token: &str) -> String {
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    let payload = &mut parts[1];
    let last = payload.pop().unwrap();
    payload.push(if last == 'A' { 'B' } else { 'A' });
    parts.join(".")
}

#[tokio::test]
async fn application_tier_is_enforced_with_429_retry_after_and_ratelimit_headers() {
    let upstream = EchoUpstream::start().await;
    let up = GantryUp::start(BIN).await;
    let rest = up.rest();
    let ops = json!([{"target": "/x", "verb": "GET"}]);
    let api_id = rest
        .deployed_api("Limited", "/limited", &upstream.url(), ops)
        .await;
    let (status, app) = rest
        .post(
            &format!("{DEV}/applications"),
            json!({"name": "Small", "throttlingPolicy": "10PerMin"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let app_id = app["applicationId"].as_str().unwrap().to_owned();
    let (status, _) = rest
        .post(
            &format!("{DEV}/subscriptions"),
            json!({"apiId": api_id, "applicationId": app_id, "throttlingPolicy": "Gold"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (ck, cs) = rest.keys(&app_id).await;
    let (_, token) = rest.token(&ck, &cs).await;
    let token = token["access_token"].as_str().unwrap().to_owned();

    for i in 0..10 {
        let r = call(&up, "/limited/1.0.0/x", Some(&token)).await;
        assert_eq!(r.status(), StatusCode::OK, "request {i} is within 10PerMin");
        let policy = r
            .headers()
            .get("ratelimit-policy")
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned();
        assert_eq!(
            policy, "\"Gold\";q=5000;w=60",
            "subscription quota advertised"
        );
    }
    let r = call(&up, "/limited/1.0.0/x", Some(&token)).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry_after: u64 = r
        .headers()
        .get("retry-after")
        .unwrap()
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (1..=6).contains(&retry_after),
        "one request per 6 s refills: {retry_after}"
    );
    assert!(r.headers().contains_key("ratelimit"));
    let body: Value = r.json().await.unwrap();
    assert_eq!(
        body["code"], "900803",
        "application-level throttling: {body}"
    );
    assert_eq!(
        upstream.hits(),
        10,
        "the refused request never reached the upstream"
    );
}

#[tokio::test]
async fn metrics_and_access_log_describe_the_traffic() {
    let upstream = EchoUpstream::start().await;
    let up = GantryUp::start(BIN).await;
    let rest = up.rest();
    let ops = json!([{"target": "/things/{id}", "verb": "GET"}, {"target": "/open", "verb": "GET", "authType": "None"}]);
    rest.deployed_api("Metered", "/metered", &upstream.url(), ops)
        .await;

    for _ in 0..3 {
        assert_eq!(
            call(&up, "/metered/1.0.0/open", None).await.status(),
            StatusCode::OK
        );
    }
    assert_eq!(
        call(&up, "/metered/1.0.0/things/1", None).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let r = up
        .gw_client()
        .get(up.gw_url("/metered/1.0.0/open"))
        .header("x-correlation-id", "log-me-42")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);

    let metrics = reqwest::get(format!("http://127.0.0.1:{}/metrics", up.ops_port))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let line = |needle: &str| {
        metrics
            .lines()
            .find(|l| l.starts_with(needle))
            .map(str::to_owned)
    };
    assert_eq!(
        line(r#"gantry_gateway_requests_total{environment="Default",api="Metered",operation="GET /open",status_class="2xx"}"#)
            .as_deref()
            .and_then(|l| l.rsplit(' ').next()),
        Some("4"),
        "{metrics}"
    );
    assert!(
        line(r#"gantry_gateway_requests_total{environment="Default",api="Metered",operation="GET /things/{id}",status_class="4xx"}"#).is_some(),
        "{metrics}"
    );
    assert!(
        line(r#"gantry_gateway_auth_failures_total{reason="missing_credentials"} 1"#).is_some(),
        "{metrics}"
    );
    assert!(line("gantry_gateway_request_duration_seconds_bucket").is_some());
    assert!(line("gantry_gateway_upstream_duration_seconds_count").is_some());
    assert!(line("gantry_gateway_config_version ").is_some());
    assert!(line("process_resident_memory_bytes ").is_some());

    // The control plane's own metrics: REST routes by template, tokens issued, versions.
    let app = rest.application("Metrics").await;
    let (ck, cs) = rest.keys(&app).await;
    assert_eq!(rest.token(&ck, &cs).await.0, StatusCode::OK);
    let cp_metrics = up
        .cp_client()
        .get(up.cp_url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        cp_metrics.contains(r#"gantry_controlplane_http_requests_total{method="POST",route="/api/am/publisher/v4/apis",status_class="2xx"} 1"#),
        "{cp_metrics}"
    );
    assert!(
        cp_metrics.contains("gantry_controlplane_tokens_issued_total 1"),
        "{cp_metrics}"
    );
    assert!(
        cp_metrics.contains(r#"gantry_controlplane_config_version{environment="Default"}"#),
        "{cp_metrics}"
    );

    // One JSON access-log line per request, carrying the correlation id.
    let found = gantry_testkit::eventually(std::time::Duration::from_secs(5), || async {
        up.log().lines().any(|l| l.contains("log-me-42"))
    })
    .await;
    assert!(found, "access log line not found:\n{}", up.log());
    let entry: Value =
        serde_json::from_str(up.log().lines().find(|l| l.contains("log-me-42")).unwrap()).unwrap();
    assert_eq!(entry["target"], "access");
    assert_eq!(entry["fields"]["status"], 200);
    assert_eq!(entry["fields"]["api"], "Metered");
    assert_eq!(entry["fields"]["method"], "GET");
    assert_eq!(entry["fields"]["path"], "/metered/1.0.0/open");
    assert!(entry["fields"]["duration_ms"].as_f64().is_some());
    assert!(
        entry["fields"]["response_bytes"]
            .as_u64()
            .is_some_and(|n| n > 0),
        "{entry}"
    );
}

#[tokio::test]
async fn es256_and_eddsa_tokens_are_verified_at_the_gateway() {
    let upstream = EchoUpstream::start().await;
    for alg in ["ES256", "EdDSA"] {
        let up = GantryUp::start_with_env(BIN, false, &[("GANTRY_SIGNING_ALGORITHM", alg)]).await;
        let rest = up.rest();
        let api_id = rest
            .deployed_api(
                "Curves",
                "/curves",
                &upstream.url(),
                json!([{"target": "/x", "verb": "GET"}]),
            )
            .await;
        let app = rest.application("Curvy").await;
        let (status, _) = rest
            .post(
                &format!("{DEV}/subscriptions"),
                json!({"apiId": api_id, "applicationId": app, "throttlingPolicy": "Gold"}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED);
        let (ck, cs) = rest.keys(&app).await;
        let (_, token) = rest.token(&ck, &cs).await;
        let token = token["access_token"].as_str().unwrap().to_owned();
        let header: Value =
            serde_json::from_slice(&base64_url_decode(token.split('.').next().unwrap())).unwrap();
        assert_eq!(header["alg"], alg);
        assert_eq!(
            call(&up, "/curves/1.0.0/x", Some(&token)).await.status(),
            StatusCode::OK,
            "{alg}"
        );
        assert_eq!(
            call(&up, "/curves/1.0.0/x", Some(&tampered(&token)))
                .await
                .status(),
            StatusCode::UNAUTHORIZED,
            "{alg}"
        );
    }
}

#[tokio::test]
async fn an_updated_api_reaches_the_gateway_with_its_next_revision() {
    let upstream = EchoUpstream::start().await;
    let up = GantryUp::start(BIN).await;
    let rest = up.rest();
    let open = json!([{"target": "/a", "verb": "GET", "authType": "None"}]);
    let id = rest
        .deployed_api("Evolving", "/evolving", &upstream.url(), open)
        .await;
    assert_eq!(
        call(&up, "/evolving/1.0.0/a", None).await.status(),
        StatusCode::OK
    );

    let (_, mut api) = rest.get(&format!("{PUB}/apis/{id}")).await;
    api["operations"] = json!([
        {"target": "/a", "verb": "GET", "authType": "None"},
        {"target": "/b", "verb": "GET", "authType": "None"}
    ]);
    api["description"] = json!("now with /b");
    let (status, updated) = rest
        .send(
            reqwest::Method::PUT,
            &format!("{PUB}/apis/{id}"),
            Some(api.clone()),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(updated["description"], "now with /b");
    assert_eq!(
        updated["lifeCycleStatus"], "PUBLISHED",
        "an update does not change the state"
    );
    let (_, stored) = rest.get(&format!("{PUB}/apis/{id}")).await;
    assert_eq!(stored["operations"].as_array().unwrap().len(), 2);

    // The gateway still serves the deployed revision: /b arrives with the next one.
    assert_eq!(
        call(&up, "/evolving/1.0.0/b", None).await.status(),
        StatusCode::NOT_FOUND
    );
    rest.deploy_new_revision(&id, &["Default"]).await;
    assert_eq!(
        call(&up, "/evolving/1.0.0/b", None).await.status(),
        StatusCode::OK
    );

    // Identity fields are not changed by an update; unknown ids are 404.
    let mut renamed = api.clone();
    renamed["context"] = json!("/elsewhere");
    let (status, body) = rest
        .send(
            reqwest::Method::PUT,
            &format!("{PUB}/apis/{id}"),
            Some(renamed),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["description"].as_str().unwrap().starts_with("context"),
        "{body}"
    );
    let (status, _) = rest
        .send(
            reqwest::Method::PUT,
            &format!("{PUB}/apis/00000000-0000-0000-0000-000000000000"),
            Some(api),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// Creates, publishes and deploys `version` of an API (open `/*`) to `Default`.
async fn deployed_version(rest: &Rest, upstream: &str, version: &str, default: bool) -> String {
    let (status, api) = rest
        .post(
            &format!("{PUB}/apis"),
            json!({
                "name": "Catalog", "context": "/catalog", "version": version,
                "isDefaultVersion": default,
                "endpointConfig": {"endpoint_type": "http", "production_endpoints": {"url": upstream}},
                "operations": [{"target": "/*", "verb": "GET", "authType": "None"}],
            }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{api}");
    let id = api["id"].as_str().unwrap().to_owned();
    rest.publish_and_deploy(&id, &["Default"]).await;
    id
}

/// The path the echo upstream saw for a gateway call, once the gateway routes it.
async fn routed_path(up: &GantryUp, path: &str) -> Option<String> {
    let response = call(up, path, None).await;
    if response.status() != StatusCode::OK {
        return None;
    }
    let body: Value = response.json().await.ok()?;
    body["path"].as_str().map(str::to_owned)
}

#[tokio::test]
async fn the_default_version_answers_without_its_version_segment() {
    let upstream = EchoUpstream::start().await;
    let up = GantryUp::start(BIN).await;
    let rest = up.rest();
    let v1_url = format!("{}/v1", upstream.url());
    let v2_url = format!("{}/v2", upstream.url());
    let v1 = deployed_version(&rest, &v1_url, "1.0.0", true).await;
    let wait = |path: &'static str, want: &'static str| {
        let up = &up;
        async move {
            let ok = gantry_testkit::eventually(std::time::Duration::from_secs(5), || async {
                routed_path(up, path).await.as_deref() == Some(want)
            })
            .await;
            assert!(
                ok,
                "{path} should reach upstream {want}, got {:?}",
                routed_path(up, path).await
            );
        }
    };
    wait("/catalog/1.0.0/x", "/v1/x").await;
    wait("/catalog/x/y", "/v1/x/y").await;

    // A new default version takes the unversioned paths; v1 stays reachable by version.
    let v2 = deployed_version(&rest, &v2_url, "2.0.0", true).await;
    wait("/catalog/x", "/v2/x").await;
    wait("/catalog/1.0.0/x", "/v1/x").await;
    wait("/catalog/2.0.0/x", "/v2/x").await;
    let (_, old) = rest.get(&format!("{PUB}/apis/{v1}")).await;
    assert_eq!(
        old["isDefaultVersion"], false,
        "one default version per API"
    );

    // Taking the flag off v2 (PUT) leaves no default: unversioned paths are 404.
    let (_, mut api) = rest.get(&format!("{PUB}/apis/{v2}")).await;
    api["isDefaultVersion"] = json!(false);
    let (status, body) = rest
        .send(reqwest::Method::PUT, &format!("{PUB}/apis/{v2}"), Some(api))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let gone = gantry_testkit::eventually(std::time::Duration::from_secs(5), || async {
        call(&up, "/catalog/x", None).await.status() == StatusCode::NOT_FOUND
    })
    .await;
    assert!(gone, "no default version: /catalog/x should be 404");
    wait("/catalog/2.0.0/x", "/v2/x").await;

    // Another API may not take the context of this one.
    let (status, body) = rest
        .post(
            &format!("{PUB}/apis"),
            json!({"name": "Intruder", "context": "/catalog", "version": "3.0.0"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(body.to_string().contains("Catalog"), "{body}");
}

#[tokio::test]
async fn cors_preflight_is_answered_at_the_gateway_and_errors_carry_allow_origin() {
    let upstream = EchoUpstream::start().await;
    let up = GantryUp::start(BIN).await;
    let rest = up.rest();
    let origin = "https://app.example.com";
    let (status, body) = rest
        .post(
            &format!("{PUB}/apis"),
            json!({
                "name": "Browser", "context": "/browser", "version": "1.0.0",
                "corsConfiguration": {"corsConfigurationEnabled": true,
                    "accessControlAllowOrigins": ["not an origin"]},
            }),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body.to_string()
            .contains("corsConfiguration.accessControlAllowOrigins[0]"),
        "{body}"
    );
    let (status, api) = rest
        .post(
            &format!("{PUB}/apis"),
            json!({
                "name": "Browser", "context": "/browser", "version": "1.0.0",
                "endpointConfig": {"endpoint_type": "http", "production_endpoints": {"url": upstream.url()}},
                "operations": [{"target": "/items", "verb": "GET"}],
                "corsConfiguration": {"corsConfigurationEnabled": true,
                    "accessControlAllowOrigins": [origin],
                    "accessControlAllowCredentials": true,
                    "accessControlAllowHeaders": ["authorization", "content-type"],
                    "accessControlAllowMethods": ["GET"]},
            }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{api}");
    assert_eq!(
        api["corsConfiguration"]["accessControlAllowOrigins"][0],
        origin
    );
    let id = api["id"].as_str().unwrap();
    rest.publish_and_deploy(id, &["Default"]).await;

    let preflight = |from: &'static str, method: &'static str| {
        up.gw_client()
            .request(reqwest::Method::OPTIONS, up.gw_url("/browser/1.0.0/items"))
            .header("Origin", from)
            .header("Access-Control-Request-Method", method)
            .header("Access-Control-Request-Headers", "authorization")
            .send()
    };
    let answer = preflight(origin, "GET").await.unwrap();
    assert_eq!(answer.status(), StatusCode::NO_CONTENT, "no token needed");
    let h = answer.headers();
    assert_eq!(h["access-control-allow-origin"], origin);
    assert_eq!(h["access-control-allow-credentials"], "true");
    assert_eq!(h["access-control-allow-methods"], "GET");
    assert_eq!(
        h["access-control-allow-headers"],
        "authorization, content-type"
    );
    for (from, method) in [("https://evil.example", "GET"), (origin, "DELETE")] {
        let refused = preflight(from, method).await.unwrap();
        assert_eq!(refused.status(), StatusCode::NO_CONTENT);
        assert!(
            !refused
                .headers()
                .contains_key("access-control-allow-origin"),
            "{from} {method} must not be allowed"
        );
    }

    // A real cross-origin call without a token: the 401 is readable by the page.
    let denied = up
        .gw_client()
        .get(up.gw_url("/browser/1.0.0/items"))
        .header("Origin", origin)
        .send()
        .await
        .unwrap();
    assert_eq!(denied.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(denied.headers()["access-control-allow-origin"], origin);
    let foreign = up
        .gw_client()
        .get(up.gw_url("/browser/1.0.0/items"))
        .header("Origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert!(
        !foreign
            .headers()
            .contains_key("access-control-allow-origin")
    );
}

#[tokio::test]
async fn load_balance_endpoints_share_the_traffic_round_robin() {
    let (a, b) = (EchoUpstream::start().await, EchoUpstream::start().await);
    let up = GantryUp::start(BIN).await;
    let rest = up.rest();
    let (status, body) = rest
        .post(
            &format!("{PUB}/apis"),
            json!({
                "name": "Balanced", "context": "/balanced", "version": "1.0.0",
                "endpointConfig": {"endpoint_type": "http",
                    "production_endpoints": [{"url": a.url()}, {"url": b.url()}]},
            }),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "a list needs load_balance: {body}"
    );
    let (status, api) = rest
        .post(
            &format!("{PUB}/apis"),
            json!({
                "name": "Balanced", "context": "/balanced", "version": "1.0.0",
                "endpointConfig": {"endpoint_type": "load_balance",
                    "algoCombo": "org.apache.synapse.endpoints.algorithms.RoundRobin",
                    "production_endpoints": [{"url": format!("{}/a", a.url())}, {"url": format!("{}/b", b.url())}]},
                "operations": [{"target": "/*", "verb": "GET", "authType": "None"}],
            }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{api}");
    assert_eq!(
        api["endpointConfig"]["production_endpoints"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let id = api["id"].as_str().unwrap();
    rest.publish_and_deploy(id, &["Default"]).await;

    let mut seen = Vec::new();
    for _ in 0..6 {
        seen.push(routed_path(&up, "/balanced/1.0.0/x").await.expect("routed"));
    }
    let to_a = seen.iter().filter(|p| *p == "/a/x").count();
    let to_b = seen.iter().filter(|p| *p == "/b/x").count();
    assert_eq!(
        (to_a, to_b),
        (3, 3),
        "round-robin over both members: {seen:?}"
    );
    assert_ne!(seen[0], seen[1], "consecutive requests alternate: {seen:?}");
}

#[tokio::test]
async fn a_load_balance_member_that_refuses_connections_sits_out() {
    let live = EchoUpstream::start().await;
    let dead = format!(
        "http://127.0.0.1:{}/dead",
        gantry_testkit::process::free_port()
    );
    let up = GantryUp::start(BIN).await;
    let rest = up.rest();
    let (status, api) = rest
        .post(
            &format!("{PUB}/apis"),
            json!({
                "name": "HalfDead", "context": "/halfdead", "version": "1.0.0",
                "endpointConfig": {"endpoint_type": "load_balance",
                    "production_endpoints": [{"url": dead}, {"url": format!("{}/live", live.url())}]},
                "operations": [{"target": "/*", "verb": "GET", "authType": "None"}],
            }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{api}");
    let id = api["id"].as_str().unwrap();
    rest.publish_and_deploy(id, &["Default"]).await;

    let mut statuses = Vec::new();
    for _ in 0..8 {
        statuses.push(call(&up, "/halfdead/1.0.0/x", None).await.status());
    }
    let failed = statuses
        .iter()
        .filter(|s| **s == StatusCode::BAD_GATEWAY)
        .count();
    assert!(
        failed <= 1,
        "the dead member fails once, then is ejected: {statuses:?}"
    );
    assert!(
        statuses[2..].iter().all(|s| *s == StatusCode::OK),
        "{statuses:?}"
    );
}
