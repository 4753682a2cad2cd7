//! Scopes bound to roles, as WSO2 4.7 publishers set them: an API declares its scopes (its
//! own, or shared ones from `/scopes`) with the roles that may have each; a token gets a bound
//! scope only for a user holding one of the roles (an application token: for the
//! application's owner), and the gateway then enforces the operation's scopes. Plus the
//! role and scope checks the Publisher's console calls (`HEAD /roles/{roleId}` …).

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use gantry_testkit::GantryUp;
use gantry_testkit::echo::EchoUpstream;
use gantry_testkit::rest::{Rest, form_encode};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_gantry");
const PUB: &str = "/api/am/publisher/v4";
const DEV: &str = "/api/am/devportal/v3";

async fn head(rest: &Rest, path: &str) -> StatusCode {
    rest.request(Method::HEAD, path)
        .send()
        .await
        .unwrap()
        .status()
}

/// The token endpoint's answer to `grant` (form pairs), by the application's keys.
async fn token_body(rest: &Rest, keys: &(String, String), grant: &[(&str, &str)]) -> Value {
    let response = rest
        .anonymous()
        .request(Method::POST, "/oauth2/token")
        .basic_auth(&keys.0, Some(&keys.1))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form_encode(grant))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

/// The `orders:` scopes a token of `grant` carries.
async fn granted(rest: &Rest, keys: &(String, String), grant: &[(&str, &str)]) -> Vec<String> {
    let body = token_body(rest, keys, grant).await;
    let mut scopes: Vec<String> = body["scope"]
        .as_str()
        .unwrap_or_default()
        .split_whitespace()
        .filter(|s| s.starts_with("orders:"))
        .map(str::to_owned)
        .collect();
    scopes.sort();
    scopes
}

async fn token(rest: &Rest, keys: &(String, String), grant: &[(&str, &str)]) -> String {
    let body = token_body(rest, keys, grant).await;
    body["access_token"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scopes_bound_to_roles_decide_what_tokens_carry_and_the_gateway_enforces_them() {
    let upstream = EchoUpstream::start().await;
    let mut up = GantryUp::start_with(BIN, false).await;
    let admin = up.rest();
    admin
        .create_user("alice", "alice-pass-1", &["Internal/subscriber"])
        .await;
    admin
        .create_user(
            "carol",
            "carol-pass-1",
            &["Internal/subscriber", "Internal/creator"],
        )
        .await;
    let alice = admin.as_user("alice", "alice-pass-1");
    let carol = admin.as_user("carol", "carol-pass-1");

    // A shared scope, bound to creators.
    let shared = format!("{PUB}/scopes");
    for (bad, status) in [
        (
            json!({"name": "orders:write", "bindings": ["wizards"]}),
            StatusCode::BAD_REQUEST,
        ),
        (json!({"name": "apim:api_view"}), StatusCode::BAD_REQUEST),
        (json!({"name": "has space"}), StatusCode::BAD_REQUEST),
    ] {
        let (got, body) = carol.post(&shared, bad.clone()).await;
        assert_eq!(got, status, "{bad}: {body}");
    }
    let (status, _) = alice.post(&shared, json!({"name": "orders:write"})).await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "subscribers keep no shared scopes"
    );
    let (status, write) = carol
        .post(
            &shared,
            json!({"name": "orders:write", "displayName": "Write orders",
                   "description": "Place and cancel orders", "bindings": ["creator"]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{write}");
    assert_eq!(write["bindings"], json!(["Internal/creator"]));
    let write_id = write["id"].as_str().unwrap().to_owned();
    let (status, _) = carol.post(&shared, json!({"name": "orders:write"})).await;
    assert_eq!(status, StatusCode::CONFLICT);

    // The API: its own scope for reads (bound to subscribers), the shared one for writes.
    let (status, api) = admin
        .post(
            &format!("{PUB}/apis"),
            json!({"name": "Orders", "context": "/orders", "version": "1.0.0",
                   "endpointConfig": {"endpoint_type": "http",
                       "production_endpoints": {"url": upstream.url()}},
                   "scopes": [
                       {"scope": {"name": "orders:read", "displayName": "Read orders",
                                  "description": "", "bindings": ["Internal/subscriber"]},
                        "shared": false},
                       {"scope": {"name": "orders:write"}, "shared": true}],
                   "operations": [
                       {"target": "/orders", "verb": "GET", "scopes": ["orders:read"]},
                       {"target": "/orders", "verb": "POST", "scopes": ["orders:write"]}]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{api}");
    assert_eq!(
        api["scopes"][1]["scope"]["bindings"],
        json!(["Internal/creator"]),
        "a shared scope is filled in from /scopes: {api}"
    );
    let api_id = api["id"].as_str().unwrap().to_owned();
    let (status, body) = admin
        .post(
            &format!("{PUB}/apis"),
            json!({"name": "Bad", "context": "/bad", "version": "1.0.0",
                   "scopes": [{"scope": {"name": "nope:shared"}, "shared": true}]}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    admin.publish_and_deploy(&api_id, &["Default"]).await;

    // Each subscriber's application and keys (password and client_credentials grants).
    let mut keys = Vec::new();
    for user in [&alice, &carol] {
        let app = user.application("Shop").await;
        user.subscribe(&app, &api_id, "Unlimited").await;
        let (status, generated) = user
            .post(
                &format!("{DEV}/applications/{app}/generate-keys"),
                json!({"keyType": "PRODUCTION",
                       "grantTypesToBeSupported": ["client_credentials", "password"]}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{generated}");
        keys.push((
            generated["consumerKey"].as_str().unwrap().to_owned(),
            generated["consumerSecret"].as_str().unwrap().to_owned(),
        ));
    }
    let both = "orders:read orders:write";
    let password = |user: &'static str, pass: &'static str| {
        vec![
            ("grant_type", "password"),
            ("username", user),
            ("password", pass),
            ("scope", both),
        ]
    };
    let client = [("grant_type", "client_credentials"), ("scope", both)];
    assert_eq!(
        granted(&admin, &keys[0], &password("alice", "alice-pass-1")).await,
        ["orders:read"]
    );
    assert_eq!(
        granted(&admin, &keys[1], &password("carol", "carol-pass-1")).await,
        ["orders:read", "orders:write"]
    );
    assert_eq!(
        granted(&admin, &keys[0], &client).await,
        ["orders:read"],
        "an application token is held to its owner's roles"
    );

    // The gateway enforces the operation's scope on what the token carries.
    let http = reqwest::Client::new();
    let call = |token: String| {
        let http = http.clone();
        let url = up.gw_url("/orders/1.0.0/orders");
        async move {
            http.post(url)
                .bearer_auth(token)
                .body("{}")
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    let alice_token = token(&admin, &keys[0], &password("alice", "alice-pass-1")).await;
    let carol_token = token(&admin, &keys[1], &password("carol", "carol-pass-1")).await;
    assert_eq!(call(alice_token).await, StatusCode::FORBIDDEN);
    assert_eq!(call(carol_token).await, StatusCode::OK);

    // Shared scope bookkeeping: usage, no deletion while used, new bindings apply to the
    // next token.
    let (status, usage) = carol.get(&format!("{shared}/{write_id}/usage")).await;
    assert_eq!(status, StatusCode::OK, "{usage}");
    assert_eq!(usage["usedApiList"][0]["name"], "Orders");
    assert_eq!(
        usage["usedApiList"][0]["usedResourceList"],
        json!([{"target": "/orders", "verb": "POST"}])
    );
    let (status, _) = carol.delete(&format!("{shared}/{write_id}")).await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, _) = carol
        .put(&format!("{shared}/{write_id}"), json!({"name": "renamed"}))
        .await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "a shared scope keeps its name"
    );
    let (status, opened) = carol
        .put(
            &format!("{shared}/{write_id}"),
            json!({"name": "orders:write", "bindings": []}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{opened}");
    assert_eq!(
        granted(&admin, &keys[0], &password("alice", "alice-pass-1")).await,
        ["orders:read", "orders:write"]
    );
    let (status, list) = carol.get(&shared).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (list["count"].clone(), list["list"][0]["usageCount"].clone()),
        (json!(1), json!(1))
    );

    // The console's checks: roles and scope names Base64 URL-encoded.
    let b64 = |s: &str| URL_SAFE_NO_PAD.encode(s);
    assert_eq!(
        head(
            &carol,
            &format!("{PUB}/roles/{}", b64("Internal/subscriber"))
        )
        .await,
        StatusCode::OK
    );
    assert_eq!(
        head(&carol, &format!("{PUB}/roles/{}", b64("wizards"))).await,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        head(&admin, &format!("{PUB}/me/roles/{}", b64("admin"))).await,
        StatusCode::OK
    );
    assert_eq!(
        head(&carol, &format!("{PUB}/me/roles/{}", b64("admin"))).await,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        head(&carol, &format!("{PUB}/scopes/{}", b64("orders:read"))).await,
        StatusCode::OK
    );
    assert_eq!(
        head(&carol, &format!("{PUB}/scopes/{}", b64("orders:none"))).await,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        head(&alice, &format!("{PUB}/roles/{}", b64("admin"))).await,
        StatusCode::FORBIDDEN
    );
    up.stop();
}

const ADM: &str = "/api/am/admin/v4";

/// The REST scopes (`apim:`) a password-grant token for `user` carries when it asks for
/// `scopes`, sorted (WSO2's `default`, given when nothing asked for is, left out).
async fn rest_scopes(rest: &Rest, user: &str, password: &str, scopes: &str) -> Vec<String> {
    let (_, granted) = rest
        .as_user(user, password)
        .rest_token(user, password, scopes)
        .await;
    let mut granted: Vec<String> = granted
        .split_whitespace()
        .filter(|s| s.starts_with("apim:"))
        .map(str::to_owned)
        .collect();
    granted.sort();
    granted
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn system_scope_roles_and_role_aliases_decide_which_users_get_rest_scopes() {
    let mut up = GantryUp::start_with(BIN, false).await;
    let admin = up.rest();
    admin
        .create_user("sam", "sam-pass-1", &["Internal/subscriber"])
        .await;
    admin
        .create_user("cora", "cora-pass-1", &["Internal/creator"])
        .await;
    admin
        .create_user("dev", "dev-pass-1", &["Internal/devops"])
        .await;
    let sam = admin.as_user("sam", "sam-pass-1");
    let b64 = |s: &str| URL_SAFE_NO_PAD.encode(s);
    let create_api = |rest: Rest, name: &'static str| async move {
        rest.post(
            &format!("{PUB}/apis"),
            json!({"name": name, "context": format!("/{name}"), "version": "1.0.0"}),
        )
        .await
        .0
    };

    // WSO2's defaults: creators create APIs, subscribers do not.
    let (status, scopes) = admin.get(&format!("{ADM}/system-scopes")).await;
    assert_eq!(status, StatusCode::OK, "{scopes}");
    let roles_of = |list: &Value, name: &str| {
        list["list"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == name)
            .map(|s| s["roles"].clone())
            .unwrap()
    };
    assert_eq!(
        roles_of(&scopes, "apim:api_create"),
        json!(["admin", "Internal/creator"])
    );
    let asked = "apim:api_create apim:subscribe";
    assert_eq!(
        rest_scopes(&admin, "sam", "sam-pass-1", asked).await,
        ["apim:subscribe"]
    );
    assert_eq!(
        rest_scopes(&admin, "cora", "cora-pass-1", asked).await,
        ["apim:api_create"]
    );
    assert_eq!(
        create_api(sam.clone(), "samsapi").await,
        StatusCode::FORBIDDEN
    );
    let by_user =
        |scope: &str, user: &str| format!("{ADM}/system-scopes/{}?username={user}", b64(scope));
    let (status, body) = admin.get(&by_user("apim:api_create", "cora")).await;
    assert_eq!(
        (status, body),
        (StatusCode::OK, json!({"name": "apim:api_create"}))
    );
    let (status, body) = admin.get(&by_user("apim:api_create", "sam")).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(body["code"], 404, "WSO2's error body: {body}");

    // Only administrators read or change the map; bad bodies are 400s.
    let (status, body) = sam.get(&format!("{ADM}/system-scopes")).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    for bad in [
        json!({"list": [{"name": "apim:nothing", "roles": ["admin"]}]}),
        json!({"list": [{"name": "apim:api_create", "roles": ["wizards"]}]}),
        json!({"list": "apim:api_create"}),
    ] {
        let (status, body) = admin
            .put(&format!("{ADM}/system-scopes"), bad.clone())
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
        assert!(body["message"].is_string(), "{body}");
    }

    // Subscribers now create APIs and creators no longer do: the next token shows it, and
    // so do Basic-authenticated calls.
    let (status, changed) = admin
        .put(
            &format!("{ADM}/system-scopes"),
            json!({"list": [{"name": "apim:api_create", "roles": ["admin", "subscriber"]}]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    assert_eq!(
        roles_of(&changed, "apim:api_create"),
        json!(["admin", "Internal/subscriber"])
    );
    assert_eq!(
        roles_of(&changed, "apim:api_publish"),
        json!(["admin", "Internal/publisher"]),
        "scopes not listed keep their roles"
    );
    assert_eq!(
        rest_scopes(&admin, "sam", "sam-pass-1", asked).await,
        ["apim:api_create", "apim:subscribe"]
    );
    assert_eq!(
        rest_scopes(&admin, "cora", "cora-pass-1", asked).await,
        Vec::<String>::new()
    );
    let (token, _) = sam.rest_token("sam", "sam-pass-1", "apim:api_create").await;
    assert_eq!(
        create_api(admin.with_bearer(&token), "bybearer").await,
        StatusCode::CREATED
    );
    assert_eq!(
        create_api(sam.clone(), "bybasic").await,
        StatusCode::CREATED
    );
    let (status, _) = admin.get(&by_user("apim:api_create", "sam")).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = admin.get(&by_user("apim:api_create", "cora")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Role aliases: publishers' scopes go to devops users too (and stay with publishers,
    // as the alias list names the role itself).
    let aliases = format!("{ADM}/system-scopes/role-aliases");
    let (status, none) = admin.get(&aliases).await;
    assert_eq!(
        (status, none),
        (StatusCode::OK, json!({"count": 0, "list": []}))
    );
    assert_eq!(
        rest_scopes(&admin, "dev", "dev-pass-1", "apim:api_publish").await,
        Vec::<String>::new()
    );
    let (status, body) = admin
        .put(
            &aliases,
            json!({"list": [{"role": "Internal/publisher", "aliases": ["wizards"]}]}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, set) = admin
        .put(
            &aliases,
            json!({"count": 1, "list": [{"role": "Internal/publisher",
                   "aliases": ["Internal/publisher", "Internal/devops"]}]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{set}");
    assert_eq!(
        set,
        json!({"count": 1, "list": [{"role": "Internal/publisher",
               "aliases": ["Internal/publisher", "Internal/devops"]}]})
    );
    assert_eq!(
        rest_scopes(&admin, "dev", "dev-pass-1", "apim:api_publish").await,
        ["apim:api_publish"]
    );
    let (status, _) = admin.get(&by_user("apim:api_publish", "dev")).await;
    assert_eq!(status, StatusCode::OK);
    // Cleared again: devops users lose it.
    let (status, _) = admin.put(&aliases, json!({"list": []})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        rest_scopes(&admin, "dev", "dev-pass-1", "apim:api_publish").await,
        Vec::<String>::new()
    );
    up.stop();
}
