//! External key managers end to end: a stand-in OIDC provider (discovery document + JWKS
//! served by the test, tokens signed with its own key) is registered through the Admin
//! API; an application maps one of its clients with `map-keys`; the gateway then accepts
//! that client's tokens for the application's subscriptions — and refuses everything else.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use gantry_keys::{SigningAlgorithm, SigningKey};
use gantry_testkit::idp::FakeIdp;
use gantry_testkit::{EchoUpstream, GantryUp};
use reqwest::StatusCode;
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_gantry");
const ADM: &str = "/api/am/admin/v4";
const DEV: &str = "/api/am/devportal/v3";

fn jwks_of(keys: &[&SigningKey]) -> Value {
    json!({"keys": keys.iter().map(|k| serde_json::to_value(k.public_jwk()).unwrap()).collect::<Vec<_>>()})
}

/// A Keycloak-shaped access token for `client_id`.
fn idp_token(key: &SigningKey, issuer: &str, client_id: &str) -> String {
    let now = gantry_keys::token::now_secs();
    key.sign_jwt(
        "JWT",
        &json!({"iss": issuer, "sub": "f2c1-user", "azp": client_id, "typ": "Bearer",
                "exp": now + 300, "iat": now, "jti": format!("jti-{now}-{client_id}"),
                "scope": "profile email"}),
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_of_a_registered_oidc_issuer_work_for_mapped_clients_only() {
    let upstream = EchoUpstream::start().await;
    let idp_key = SigningKey::generate(SigningAlgorithm::Rs256).unwrap();
    let idp = FakeIdp::start(jwks_of(&[&idp_key])).await;
    let mut up = GantryUp::start_with(BIN, false).await;
    let admin = up.rest();

    // The resident key manager is always there.
    let (status, list) = admin.get(&format!("{ADM}/key-managers")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["list"][0]["name"], "Resident Key Manager");

    // Bad registrations: each a 400 naming the problem; nothing stored.
    for (body, expect) in [
        (json!({"type": "KeyCloak", "issuer": "x"}), "name"),
        (
            json!({"name": "Broken", "type": "KeyCloak", "issuer": "http://x",
                   "certificates": {"type": "JWKS", "value": idp.url("/missing")}}),
            "404",
        ),
        (
            json!({"name": "Pem", "type": "KeyCloak", "issuer": "http://x",
                   "certificates": {"type": "PEM", "value": "-----BEGIN"}}),
            "PEM",
        ),
    ] {
        let (status, error) = admin.post(&format!("{ADM}/key-managers"), body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
        assert!(
            error["description"].as_str().unwrap().contains(expect),
            "{error}"
        );
    }
    admin
        .create_user("sub-sam", "sam-password-1", &["subscriber"])
        .await;
    let (status, _) = admin
        .as_user("sub-sam", "sam-password-1")
        .post(
            &format!("{ADM}/key-managers"),
            json!({"name": "Sneaky", "type": "KeyCloak", "wellKnownEndpoint": idp.url("/.well-known/openid-configuration")}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // Registered by discovery URL: issuer and JWKS come from the document.
    let (status, km) = admin
        .post(
            &format!("{ADM}/key-managers"),
            json!({"name": "Corp IdP", "type": "KeyCloak",
                   "wellKnownEndpoint": idp.url("/.well-known/openid-configuration")}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{km}");
    assert_eq!(km["issuer"], idp.issuer());
    assert_eq!(km["keyCount"], 1);
    let km_id = km["id"].as_str().unwrap().to_owned();
    let (status, _) = admin
        .post(
            &format!("{ADM}/key-managers"),
            json!({"name": "Corp IdP", "type": "KeyCloak",
                   "wellKnownEndpoint": idp.url("/.well-known/openid-configuration")}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);

    // An API, an application subscribed to it, and the IdP's client mapped to it.
    let api_id = admin
        .deployed_api(
            "Corp",
            "/corp",
            &format!("{}/backend/", upstream.url()),
            json!([{"target": "/data", "verb": "GET"}]),
        )
        .await;
    let app_id = admin.application("corp-app").await;
    admin
        .post(
            &format!("{DEV}/subscriptions"),
            json!({"applicationId": app_id, "apiId": api_id, "throttlingPolicy": "Gold"}),
        )
        .await;
    let (status, error) = admin
        .post(
            &format!("{DEV}/applications/{app_id}/map-keys"),
            json!({"consumerKey": "corp-client-1", "keyType": "PRODUCTION", "keyManager": "Nope"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
    let (status, mapped) = admin
        .post(
            &format!("{DEV}/applications/{app_id}/map-keys"),
            json!({"consumerKey": "corp-client-1", "keyType": "PRODUCTION", "keyManager": "Corp IdP"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{mapped}");
    assert_eq!(mapped["mode"], "MAPPED");
    assert_eq!(mapped["keyManager"], "Corp IdP");

    let path = "/corp/1.0.0/data";
    let good = idp_token(&idp_key, &idp.issuer(), "corp-client-1");
    assert!(
        up.eventually_gw_status(path, &good, 200).await,
        "a mapped client's IdP token is accepted"
    );
    // An unmapped client of the same IdP: authenticated, but no subscription.
    let stranger = idp_token(&idp_key, &idp.issuer(), "someone-else");
    assert_eq!(up.gw_status(path, &stranger).await, 403);
    // The IdP's key under another issuer name, and another key under the IdP's name: 401.
    let wrong_issuer = idp_token(&idp_key, "http://evil.example/realms/corp", "corp-client-1");
    assert_eq!(up.gw_status(path, &wrong_issuer).await, 401);
    let rogue = SigningKey::generate(SigningAlgorithm::Rs256).unwrap();
    let forged = idp_token(&rogue, &idp.issuer(), "corp-client-1");
    assert_eq!(up.gw_status(path, &forged).await, 401);
    // The mapped client has no secret here: it cannot get tokens from Gantry.
    let (status, _) = admin.token("corp-client-1", "").await;
    assert_ne!(status, StatusCode::OK);

    // Key rotation at the IdP: an update re-reads the JWKS.
    let next_key = SigningKey::generate(SigningAlgorithm::Es256).unwrap();
    idp.set_jwks(jwks_of(&[&idp_key, &next_key]));
    let (status, updated) = admin
        .put(
            &format!("{ADM}/key-managers/{km_id}"),
            json!({"name": "Corp IdP", "type": "KeyCloak",
                   "wellKnownEndpoint": idp.url("/.well-known/openid-configuration")}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(updated["keyCount"], 2);
    let rotated = idp_token(&next_key, &idp.issuer(), "corp-client-1");
    assert!(up.eventually_gw_status(path, &rotated, 200).await);

    // In use: cannot be deleted. Disabled: its tokens stop working.
    let (status, _) = admin.delete(&format!("{ADM}/key-managers/{km_id}")).await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, _) = admin
        .put(
            &format!("{ADM}/key-managers/{km_id}"),
            json!({"name": "Corp IdP", "type": "KeyCloak", "enabled": false,
                   "wellKnownEndpoint": idp.url("/.well-known/openid-configuration")}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(up.eventually_gw_status(path, &good, 401).await);
    let (status, _) = admin.delete(&format!("{ADM}/key-managers/resident")).await;
    assert_eq!(status, StatusCode::CONFLICT);
    up.stop();
}

/// A token of `key` for `client_id` with the header's `kid` replaced by `kid`.
fn token_with_kid(key: &SigningKey, issuer: &str, client_id: &str, kid: &str) -> String {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let token = idp_token(key, issuer, client_id);
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    let mut header: Value = serde_json::from_slice(&b64.decode(&parts[0]).unwrap()).unwrap();
    header["kid"] = json!(kid);
    parts[0] = b64.encode(header.to_string());
    parts.join(".")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_fetches_a_rotated_idp_key_at_once_and_at_most_once_per_interval() {
    let upstream = EchoUpstream::start().await;
    let old_key = SigningKey::generate(SigningAlgorithm::Rs256).unwrap();
    let idp = FakeIdp::start(jwks_of(&[&old_key])).await;
    let mut up = GantryUp::start_with(BIN, false).await;
    let admin = up.rest();
    let (status, km) = admin
        .post(
            &format!("{ADM}/key-managers"),
            json!({"name": "Rotating IdP", "type": "KeyCloak",
                   "wellKnownEndpoint": idp.url("/.well-known/openid-configuration")}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{km}");
    let api_id = admin
        .deployed_api(
            "Rotating",
            "/rotating",
            &format!("{}/backend/", upstream.url()),
            json!([{"target": "/data", "verb": "GET"}]),
        )
        .await;
    let app_id = admin.application("rotating-app").await;
    admin
        .post(
            &format!("{DEV}/subscriptions"),
            json!({"applicationId": app_id, "apiId": api_id, "throttlingPolicy": "Gold"}),
        )
        .await;
    let (status, _) = admin
        .post(
            &format!("{DEV}/applications/{app_id}/map-keys"),
            json!({"consumerKey": "rot-client", "keyType": "PRODUCTION", "keyManager": "Rotating IdP"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let path = "/rotating/1.0.0/data";
    let old = idp_token(&old_key, &idp.issuer(), "rot-client");
    assert!(up.eventually_gw_status(path, &old, 200).await);
    let fetched_by_control_plane = idp.jwks_hits();

    // The IdP rotates; the control plane would not notice for five minutes. The first
    // token signed with the new key makes the gateway read the JWKS itself: accepted at once.
    let new_key = SigningKey::generate(SigningAlgorithm::Es256).unwrap();
    idp.set_jwks(jwks_of(&[&old_key, &new_key]));
    let rotated = idp_token(&new_key, &idp.issuer(), "rot-client");
    assert_eq!(up.gw_status(path, &rotated).await, 200);
    assert_eq!(
        idp.jwks_hits(),
        fetched_by_control_plane + 1,
        "one fetch, by the gateway"
    );
    assert_eq!(
        up.gw_status(path, &old).await,
        200,
        "the old key still works"
    );

    // A burst of tokens with random unknown kids, concurrently: all refused, and the IdP
    // is not asked again within the interval.
    let attacker = SigningKey::generate(SigningAlgorithm::Rs256).unwrap();
    let mut burst = tokio::task::JoinSet::new();
    for i in 0..40 {
        let token = token_with_kid(
            &attacker,
            &idp.issuer(),
            "rot-client",
            &format!("random-{i}"),
        );
        let client = up.gw_client();
        let url = up.gw_url(path);
        burst.spawn(async move {
            client
                .get(url)
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        });
    }
    while let Some(status) = burst.join_next().await {
        assert_eq!(status.unwrap(), 401);
    }
    // A token of a known issuer signed with the new key, but the kid of a key the IdP
    // never had, and the new key's kid with an algorithm it is not pinned to: refused.
    let mislabelled = token_with_kid(&attacker, &idp.issuer(), "rot-client", "never-published");
    assert_eq!(up.gw_status(path, &mislabelled).await, 401);
    let new_kid = new_key.public_jwk().kid.clone();
    let relabelled = {
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let mut parts: Vec<String> = rotated.split('.').map(str::to_owned).collect();
        parts[0] = b64.encode(json!({"alg": "RS256", "typ": "JWT", "kid": new_kid}).to_string());
        parts.join(".")
    };
    assert_eq!(up.gw_status(path, &relabelled).await, 401);
    assert_eq!(
        idp.jwks_hits(),
        fetched_by_control_plane + 1,
        "no further fetch within the refetch interval"
    );
    // The fetched key is still good for valid tokens.
    assert_eq!(up.gw_status(path, &rotated).await, 200);
    let metrics = reqwest::get(format!("http://127.0.0.1:{}/metrics", up.ops_port))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("gantry_gateway_jwks_fetches_total{outcome=\"ok\"} 1"),
        "{metrics}"
    );
    up.stop();
}
