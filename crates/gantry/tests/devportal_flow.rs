//! The developer-portal and publisher operations that change what a gateway lets through,
//! checked end to end on the real `gantry up`: a test token from the devportal, secret
//! regeneration, subscription blocking (BLOCKED, PROD_ONLY_BLOCKED) by the publisher,
//! tier changes.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use gantry_testkit::{EchoUpstream, GantryUp};
use reqwest::StatusCode;
use serde_json::json;

const BIN: &str = env!("CARGO_BIN_EXE_gantry");
const PUB: &str = "/api/am/publisher/v4";
const DEV: &str = "/api/am/devportal/v3";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_tokens_secret_rotation_blocking_and_tier_changes_reach_the_gateway() {
    let upstream = EchoUpstream::start().await;
    let mut up = GantryUp::start_with(BIN, false).await;
    let admin = up.rest();
    admin
        .create_user("dev-dora", "dora-password-1", &["subscriber"])
        .await;
    admin
        .create_user("pub-pete", "pete-password-1", &["publisher"])
        .await;
    let dora = admin.as_user("dev-dora", "dora-password-1");
    let pete = admin.as_user("pub-pete", "pete-password-1");

    let api_id = admin
        .deployed_api(
            "Blockable",
            "/blockable",
            &format!("{}/backend/", upstream.url()),
            json!([{"target": "/items", "verb": "GET"}]),
        )
        .await;
    let app_id = dora.application("dora-app").await;
    let (status, sub) = dora
        .post(
            &format!("{DEV}/subscriptions"),
            json!({"applicationId": app_id, "apiId": api_id, "throttlingPolicy": "Gold"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{sub}");
    let sub_id = sub["subscriptionId"].as_str().unwrap().to_owned();
    let (consumer_key, secret) = dora.keys(&app_id).await;
    let path = "/blockable/1.0.0/items";

    // A test token from the devportal (WSO2's generate-token) works at the gateway.
    let (status, keys) = dora
        .get(&format!("{DEV}/applications/{app_id}/keys/PRODUCTION"))
        .await;
    assert_eq!(status, StatusCode::OK, "{keys}");
    let mapping = keys["keyMappingId"].as_str().unwrap().to_owned();
    let generate = format!("{DEV}/applications/{app_id}/oauth-keys/{mapping}/generate-token");
    let (status, error) = dora
        .post(
            &generate,
            json!({"consumerSecret": "wrong", "validityPeriod": 600}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
    let (status, token) = dora
        .post(
            &generate,
            json!({"consumerSecret": secret, "validityPeriod": 600}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{token}");
    assert_eq!(token["validityTime"], 600);
    let access = token["accessToken"].as_str().unwrap().to_owned();
    assert!(up.eventually_gw_status(path, &access, 200).await);
    // Another subscriber cannot mint tokens for Dora's application.
    admin
        .create_user("dev-eve", "eve-password-11", &["subscriber"])
        .await;
    let (status, _) = admin
        .as_user("dev-eve", "eve-password-11")
        .post(&generate, json!({"consumerSecret": secret}))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // The publisher sees the subscription with its subscriber, and blocks it.
    let (status, subs) = pete
        .get(&format!("{PUB}/subscriptions?apiId={api_id}"))
        .await;
    assert_eq!(status, StatusCode::OK, "{subs}");
    assert_eq!(subs["count"], 1);
    assert_eq!(subs["list"][0]["applicationInfo"]["subscriber"], "dev-dora");
    let (status, _) = dora
        .post_empty(&format!(
            "{PUB}/subscriptions/block-subscription?subscriptionId={sub_id}&blockState=BLOCKED"
        ))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "subscribers cannot block");
    let (status, body) = pete
        .post_empty(&format!(
            "{PUB}/subscriptions/block-subscription?subscriptionId={sub_id}&blockState=SOMETIMES"
        ))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, _) = pete
        .post_empty(&format!(
            "{PUB}/subscriptions/block-subscription?subscriptionId={sub_id}&blockState=BLOCKED"
        ))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        up.eventually_gw_status(path, &access, 403).await,
        "a BLOCKED subscription is refused"
    );
    let (_, seen) = dora.get(&format!("{DEV}/subscriptions/{sub_id}")).await;
    assert_eq!(seen["status"], "BLOCKED");
    // PROD_ONLY_BLOCKED refuses production keys (the only ones Dora has).
    pete.post_empty(&format!(
        "{PUB}/subscriptions/block-subscription?subscriptionId={sub_id}&blockState=PROD_ONLY_BLOCKED"
    ))
    .await;
    let (_, seen) = dora.get(&format!("{DEV}/subscriptions/{sub_id}")).await;
    assert_eq!(seen["status"], "PROD_ONLY_BLOCKED");
    assert_eq!(up.gw_status(path, &access).await, 403);
    let (status, _) = pete
        .post_empty(&format!(
            "{PUB}/subscriptions/unblock-subscription?subscriptionId={sub_id}"
        ))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(up.eventually_gw_status(path, &access, 200).await);

    // Tier change: only a tier the API offers.
    let (status, body) = dora
        .put(
            &format!("{DEV}/subscriptions/{sub_id}"),
            json!({"throttlingPolicy": "Bronze"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, body) = dora
        .put(
            &format!("{DEV}/subscriptions/{sub_id}"),
            json!({"throttlingPolicy": "Unlimited"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["throttlingPolicy"], "Unlimited");

    // Application update: tier and name; a missing tier is a 400 and changes nothing.
    let (status, body) = dora
        .put(
            &format!("{DEV}/applications/{app_id}"),
            json!({"name": "dora-app-2", "throttlingPolicy": "NoSuchTier"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, body) = dora
        .put(
            &format!("{DEV}/applications/{app_id}"),
            json!({"name": "dora-app-2", "throttlingPolicy": "10PerMin", "description": "renamed"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["name"], "dora-app-2");
    assert_eq!(body["throttlingPolicy"], "10PerMin");

    // Secret regeneration: the old secret stops working at the token endpoint.
    let (status, regenerated) = dora
        .post_empty(&format!(
            "{DEV}/applications/{app_id}/oauth-keys/{mapping}/regenerate-secret"
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{regenerated}");
    assert_eq!(regenerated["consumerKey"], consumer_key.as_str());
    let new_secret = regenerated["consumerSecret"].as_str().unwrap();
    assert_ne!(new_secret, secret);
    let (status, _) = admin.token(&consumer_key, &secret).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = admin.token(&consumer_key, new_secret).await;
    assert_eq!(status, StatusCode::OK);
    up.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn burst_control_of_a_tier_refuses_a_spike_with_900807() {
    let upstream = EchoUpstream::start().await;
    let mut up = GantryUp::start_with(BIN, false).await;
    let admin = up.rest();
    // WSO2's subscription policy with burst control: 1000/min, at most 3 per second.
    let (status, policy) = admin
        .post(
            "/api/am/admin/v4/throttling/policies/subscription",
            json!({"policyName": "Spiky", "rateLimitCount": 3, "rateLimitTimeUnit": "sec",
                   "defaultLimit": {"type": "REQUESTCOUNTLIMIT",
                       "requestCount": {"timeUnit": "min", "unitTime": 1, "requestCount": 1000}}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{policy}");
    assert_eq!(policy["rateLimitCount"], 3);
    assert_eq!(policy["rateLimitTimeUnit"], "sec");
    let (status, error) = admin
        .post(
            "/api/am/admin/v4/throttling/policies/subscription",
            json!({"policyName": "Odd", "rateLimitCount": 3, "rateLimitTimeUnit": "fortnight",
                   "defaultLimit": {"type": "REQUESTCOUNTLIMIT", "requestCount": {"requestCount": 5}}}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");

    let (status, api) = admin
        .post(
            &format!("{PUB}/apis"),
            json!({"name": "Burst", "context": "/burst", "version": "1.0.0", "policies": ["Spiky"],
                   "endpointConfig": {"endpoint_type": "http",
                       "production_endpoints": {"url": format!("{}/b/", upstream.url())}},
                   "operations": [{"target": "/x", "verb": "GET"}]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{api}");
    let api_id = api["id"].as_str().unwrap();
    admin.publish_and_deploy(api_id, &["Default"]).await;
    let app_id = admin.application("spiky-app").await;
    admin
        .post(
            &format!("{DEV}/subscriptions"),
            json!({"applicationId": app_id, "apiId": api_id, "throttlingPolicy": "Spiky"}),
        )
        .await;
    let (ck, cs) = admin.keys(&app_id).await;
    let (_, token) = admin.token(&ck, &cs).await;
    let token = token["access_token"].as_str().unwrap().to_owned();
    assert!(up.eventually_gw_status("/burst/1.0.0/x", &token, 200).await);
    // Let the spike allowance refill, then send four at once: the fourth is refused.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let mut statuses = Vec::new();
    for _ in 0..4 {
        let r = up
            .gw_client()
            .get(up.gw_url("/burst/1.0.0/x"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        if status == 429 {
            assert!(r.headers().contains_key("retry-after"));
            let body: serde_json::Value = r.json().await.unwrap();
            assert_eq!(body["code"], "900807", "{body}");
        }
        statuses.push(status);
    }
    assert_eq!(statuses, [200, 200, 200, 429]);
    up.stop();
}

/// WSO2's key update and the older `keys/{keyType}` forms of `oauth-keys/{keyMappingId}`:
/// the grant types a PUT leaves are the ones the token endpoint then allows, clean-up
/// removes the client, and another user's application is a 404.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_updates_and_the_keys_by_type_forms_change_what_the_token_endpoint_allows() {
    let up = GantryUp::start(BIN).await;
    let admin = up.rest();
    admin
        .create_user("dev-kim", "kim-password-1", &["subscriber"])
        .await;
    admin
        .create_user("dev-lee", "lee-password-1", &["subscriber"])
        .await;
    let kim = admin.as_user("dev-kim", "kim-password-1");
    let lee = admin.as_user("dev-lee", "lee-password-1");
    let app = kim.application("KimApp").await;
    let (status, keys) = kim
        .post(
            &format!("{DEV}/applications/{app}/generate-keys"),
            json!({"keyType": "PRODUCTION",
                   "grantTypesToBeSupported": ["client_credentials", "password"]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{keys}");
    let (ck, cs) = (
        keys["consumerKey"].as_str().unwrap().to_owned(),
        keys["consumerSecret"].as_str().unwrap().to_owned(),
    );
    let mapping = keys["keyMappingId"].as_str().unwrap().to_owned();
    let by_type = format!("{DEV}/applications/{app}/keys/PRODUCTION");
    let (status, read) = kim.get(&by_type).await;
    assert_eq!(status, StatusCode::OK, "{read}");
    assert_eq!(read["keyMappingId"], mapping.as_str());
    assert_eq!(kim.token(&ck, &cs).await.0, StatusCode::OK);

    // Without client_credentials, that grant is refused; with it again, allowed.
    let (status, updated) = kim
        .put(
            &by_type,
            json!({"supportedGrantTypes": ["password"], "callbackUrl": "https://kim.test/cb"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(updated["supportedGrantTypes"], json!(["password"]));
    assert_eq!(updated["callbackUrl"], "https://kim.test/cb");
    let (status, body) = kim.token(&ck, &cs).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"], "unauthorized_client", "{body}");
    let by_id = format!("{DEV}/applications/{app}/oauth-keys/{mapping}");
    let (status, updated) = kim
        .put(
            &by_id,
            json!({"supportedGrantTypes": ["client_credentials", "password"]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(
        updated["callbackUrl"], "https://kim.test/cb",
        "what is not sent is kept"
    );
    assert_eq!(kim.token(&ck, &cs).await.0, StatusCode::OK);
    let (status, body) = kim
        .put(&by_id, json!({"supportedGrantTypes": ["telepathy"]}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["code"], 400, "{body}");

    // Another user's application: 404 whichever form.
    for path in [&by_type, &by_id] {
        let (status, body) = lee
            .put(path, json!({"supportedGrantTypes": ["password"]}))
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {body}");
    }
    let (status, _) = lee.post_empty(&format!("{by_type}/clean-up")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Clean-up by key type: the client is gone, its credentials refused.
    let (status, token) = kim
        .post(
            &format!("{by_type}/generate-token"),
            json!({"consumerSecret": cs, "validityPeriod": 3600, "scopes": []}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{token}");
    let (status, _) = kim.post_empty(&format!("{by_type}/clean-up")).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = kim.get(&by_type).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(kim.token(&ck, &cs).await.0, StatusCode::UNAUTHORIZED);
}
