//! API products end to end on the real `gantry up`: a product made from operations of two
//! APIs with different upstreams and scopes is created, published, revised and deployed
//! over WSO2's `/api-products` (responses checked against WSO2 4.7's `APIProduct`
//! schemas), listed beside APIs in the developer portal and subscribed to under one tier;
//! one token then calls every included operation through the product's context, each
//! reaching its own API's upstream with that operation's scopes, and nothing else. The
//! product's tier is one quota across its operations; a change to an underlying API is not
//! served until the product gets a new revision; delete is refused while subscribed; other
//! users' products and applications are 404.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use gantry_testkit::openapi::{Nulls, find_operation, mismatches, wso2_document, wso2_specs_dir};
use gantry_testkit::rest::Rest;
use gantry_testkit::{EchoUpstream, GantryUp, eventually};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_gantry");
const PUB: &str = "/api/am/publisher/v4";
const DEV: &str = "/api/am/devportal/v3";

/// Checks publisher responses against WSO2 4.7's schema for the operation and status.
struct Wso2 {
    doc: Option<Value>,
}

impl Wso2 {
    fn load() -> Self {
        let doc = wso2_specs_dir().map(|dir| wso2_document(&dir, "publisher-api.yaml"));
        if doc.is_none() {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "WSO2 4.7 reference documents not found (set GANTRY_WSO2_SPECS)"
            );
            eprintln!("\n!!! WSO2 documents not found: responses are not schema-checked\n");
        }
        Self { doc }
    }

    /// `method path` as `rest`, expecting `expected`; the body, checked against WSO2's schema.
    async fn call(
        &self,
        rest: &Rest,
        method: Method,
        path: &str,
        body: Option<Value>,
        expected: StatusCode,
    ) -> Value {
        let (status, value) = rest.send(method.clone(), path, body).await;
        assert_eq!(status, expected, "{method} {path}: {value}");
        let Some(doc) = &self.doc else {
            return value;
        };
        let relative = path[PUB.len()..].split('?').next().unwrap();
        let operation = find_operation(doc, &method.as_str().to_lowercase(), relative)
            .unwrap_or_else(|| panic!("{method} {relative} is not in WSO2's document"));
        let mut response = &operation["responses"][status.as_str()];
        if let Some(reference) = response.get("$ref").and_then(Value::as_str) {
            response = &doc["components"]["responses"][reference.rsplit('/').next().unwrap()];
        }
        let schema = &response["content"]["application/json"]["schema"];
        if !schema.is_null() {
            let errors = mismatches(doc, schema, &value, Nulls::AsAbsent);
            assert!(errors.is_empty(), "{method} {relative}: {errors:?}");
        }
        value
    }
}

/// `GET path` on the gateway with `token`: the status and the echo upstream's description.
async fn call(up: &GantryUp, path: &str, token: &str) -> (u16, Value) {
    let response = up
        .gw_client()
        .get(up.gw_url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Waits until `GET path` with `token` reaches the upstream at `upstream_path`.
async fn eventually_reaches(up: &GantryUp, path: &str, token: &str, upstream_path: &str) -> bool {
    eventually(Duration::from_secs(5), || async {
        let (status, seen) = call(up, path, token).await;
        status == 200 && seen["path"] == upstream_path
    })
    .await
}

/// A PRODUCTION client_credentials token of `app_id`'s keys asking for `scope`.
async fn token(up: &GantryUp, rest: &Rest, app_id: &str, scope: &str) -> String {
    let (consumer_key, secret) = rest.keys(app_id).await;
    token_of(up, &consumer_key, &secret, scope).await
}

async fn token_of(up: &GantryUp, consumer_key: &str, secret: &str, scope: &str) -> String {
    let response = up
        .cp_client()
        .post(up.cp_url("/oauth2/token"))
        .basic_auth(consumer_key, Some(secret))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(match scope {
            "" => "grant_type=client_credentials".to_owned(),
            scope => format!("grant_type=client_credentials&scope={scope}"),
        })
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    body["access_token"].as_str().unwrap().to_owned()
}

/// An API in front of `upstream` with `operations`, published and deployed to `Default`.
async fn api(admin: &Rest, name: &str, context: &str, upstream: &str, operations: Value) -> String {
    admin
        .deployed_api(name, context, upstream, operations)
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_product_of_two_apis_routes_each_operation_to_its_api_under_one_subscription() {
    let wso2 = Wso2::load();
    let orders_upstream = EchoUpstream::start().await;
    let menu_upstream = EchoUpstream::start().await;
    let up = GantryUp::start_with(BIN, false).await;
    let admin = up.rest();
    admin
        .create_user("dev-dora", "dora-password-1", &["subscriber"])
        .await;
    admin
        .create_user("dev-eve", "eve-password-11", &["subscriber"])
        .await;
    admin
        .create_user("pub-pete", "pete-password-1", &["publisher", "creator"])
        .await;
    let dora = admin.as_user("dev-dora", "dora-password-1");
    let eve = admin.as_user("dev-eve", "eve-password-11");
    let pete = admin.as_user("pub-pete", "pete-password-1");
    // A small tier, so the product's quota shows within a few calls.
    let (status, five_per_min) = admin
        .post(
            "/api/am/admin/v4/throttling/policies/subscription",
            json!({"policyName": "FivePerMin", "defaultLimit": {"type": "REQUESTCOUNTLIMIT",
                   "requestCount": {"timeUnit": "min", "unitTime": 1, "requestCount": 5}}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{five_per_min}");

    let orders = api(
        &admin,
        "Orders",
        "/orders",
        &format!("{}/orders-backend/", orders_upstream.url()),
        json!([{"target": "/items", "verb": "GET", "scopes": ["orders:read"]},
               {"target": "/secret", "verb": "GET"}]),
    )
    .await;
    // Menu has a sandbox endpoint too, and an operation with its own (API-level) limit.
    let (status, policy) = admin
        .post(
            "/api/am/admin/v4/throttling/policies/advanced",
            json!({"policyName": "TwoPerMin", "defaultLimit": {"type": "REQUESTCOUNTLIMIT",
                   "requestCount": {"timeUnit": "min", "unitTime": 1, "requestCount": 2}}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{policy}");
    let (status, created) = admin
        .post(
            &format!("{PUB}/apis"),
            json!({"name": "Menu", "context": "/menu", "version": "1.0.0",
                   "policies": ["Gold", "Unlimited"],
                   "endpointConfig": {"endpoint_type": "http",
                       "production_endpoints": {"url": format!("{}/menu-backend/", menu_upstream.url())},
                       "sandbox_endpoints": {"url": format!("{}/menu-sandbox/", menu_upstream.url())}},
                   "operations": [{"target": "/dishes/{id}", "verb": "GET"},
                                  {"target": "/admin", "verb": "GET"},
                                  {"target": "/specials", "verb": "GET", "throttlingPolicy": "TwoPerMin"}]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let menu = created["id"].as_str().unwrap().to_owned();
    admin.publish_and_deploy(&menu, &["Default"]).await;

    // Bad products are refused naming the field.
    for (body, field) in [
        (
            json!({"name": "Bad", "context": "bad", "apis": [{"apiId": "no-such-api",
                   "operations": [{"target": "/items", "verb": "GET"}]}]}),
            "apis[0].apiId",
        ),
        (
            json!({"name": "Bad", "context": "bad", "apis": [{"apiId": orders,
                   "operations": [{"target": "/nothing", "verb": "GET"}]}]}),
            "apis[0].operations[0]",
        ),
        (
            json!({"name": "Bad", "apis": [{"apiId": orders,
                   "operations": [{"target": "/items", "verb": "GET"}]}]}),
            "context",
        ),
        (json!({"name": "Bad", "context": "bad", "apis": []}), "apis"),
        (
            json!({"name": "Bad", "context": "bad", "policies": ["Platinum"], "apis": [{"apiId": orders,
                   "operations": [{"target": "/items", "verb": "GET"}]}]}),
            "policies",
        ),
    ] {
        let (status, error) = admin.post(&format!("{PUB}/api-products"), body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
        assert!(
            error["description"]
                .as_str()
                .unwrap_or_default()
                .starts_with(field),
            "{field}: {error}"
        );
    }

    // The product: GET /items of Orders (scoped) and GET /dishes/{id} of Menu.
    let product = wso2
        .call(
            &admin,
            Method::POST,
            &format!("{PUB}/api-products"),
            Some(json!({
                "name": "Bundle", "context": "bundle", "version": "1.0.0",
                "description": "Orders and menu in one subscription",
                "policies": ["FivePerMin", "Gold"], "visibility": "PUBLIC",
                "apis": [
                    {"apiId": orders, "operations": [{"target": "/items", "verb": "GET"}]},
                    {"apiId": menu, "operations": [{"target": "/dishes/{id}", "verb": "GET"},
                                                   {"target": "/specials", "verb": "GET"}]},
                ],
            })),
            StatusCode::CREATED,
        )
        .await;
    let product_id = product["id"].as_str().unwrap().to_owned();
    // A tier a product offers is in use.
    let (status, error) = admin
        .delete(&format!(
            "/api/am/admin/v4/throttling/policies/subscription/{}",
            five_per_min["policyId"].as_str().unwrap()
        ))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{error}");
    assert_eq!(product["context"], "/bundle");
    assert_eq!(product["state"], "CREATED");
    assert_eq!(product["apiType"], "APIPRODUCT");
    assert_eq!(
        product["apis"][0]["operations"][0]["scopes"],
        json!(["orders:read"])
    );
    let products = wso2
        .call(
            &admin,
            Method::GET,
            &format!("{PUB}/api-products"),
            None,
            StatusCode::OK,
        )
        .await;
    assert_eq!(products["count"], 1);
    // Products are not APIs in the Publisher's API resources.
    let (_, listed_apis) = admin.get(&format!("{PUB}/apis")).await;
    assert_eq!(listed_apis["count"], 2, "{listed_apis}");
    assert_eq!(
        admin.get(&format!("{PUB}/apis/{product_id}")).await.0,
        StatusCode::NOT_FOUND
    );
    wso2.call(
        &admin,
        Method::GET,
        &format!("{PUB}/api-products/{product_id}"),
        None,
        StatusCode::OK,
    )
    .await;
    let (status, swagger) = admin
        .get(&format!("{PUB}/api-products/{product_id}/swagger"))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(swagger["paths"]["/items"]["get"].is_object(), "{swagger}");
    assert!(
        swagger["paths"]["/dishes/{id}"]["get"].is_object(),
        "{swagger}"
    );
    // An API is listed once; the name and context are the product's own (not an API's).
    let (status, error) = admin
        .post(
            &format!("{PUB}/api-products"),
            json!({"name": "Clash", "context": "clash", "apis": [
                {"apiId": orders, "operations": [{"target": "/items", "verb": "GET"}]},
                {"apiId": menu, "operations": [{"target": "/dishes/{id}", "verb": "GET"}]},
                {"apiId": menu, "operations": [{"target": "/admin", "verb": "GET"}]}]}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
    assert!(
        error["description"]
            .as_str()
            .unwrap()
            .contains("listed twice"),
        "{error}"
    );
    let (status, error) = admin
        .post(
            &format!("{PUB}/api-products"),
            json!({"name": "Orders", "context": "orders", "version": "1.0.0", "apis": [
                {"apiId": menu, "operations": [{"target": "/admin", "verb": "GET"}]}]}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{error}");

    // Publish, revise, deploy.
    let (status, body) = admin
        .post_empty(&format!(
            "{PUB}/api-products/change-lifecycle?apiProductId={product_id}&action=Publish"
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["lifecycleState"]["state"], "PUBLISHED");
    let revision = wso2
        .call(
            &admin,
            Method::POST,
            &format!("{PUB}/api-products/{product_id}/revisions"),
            Some(json!({"description": "first"})),
            StatusCode::CREATED,
        )
        .await;
    let revision_id = revision["id"].as_str().unwrap().to_owned();
    let (status, deployed) = admin
        .post(
            &format!("{PUB}/api-products/{product_id}/deploy-revision?revisionId={revision_id}"),
            json!([{"name": "Default", "vhost": "localhost"}]),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{deployed}");
    wso2.call(
        &admin,
        Method::GET,
        &format!("{PUB}/api-products/{product_id}/revisions"),
        None,
        StatusCode::OK,
    )
    .await;
    wso2.call(
        &admin,
        Method::GET,
        &format!("{PUB}/api-products/{product_id}/deployments"),
        None,
        StatusCode::OK,
    )
    .await;

    // The developer portal lists the product beside the APIs, as WSO2 does.
    let (status, listed) = dora.get(&format!("{DEV}/apis")).await;
    assert_eq!(status, StatusCode::OK);
    let listed_product = listed["list"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["id"] == product_id.as_str())
        .cloned()
        .unwrap_or_else(|| panic!("product not listed: {listed}"));
    assert_eq!(listed_product["type"], "APIPRODUCT");
    assert_eq!(listed["count"], 3, "{listed}");
    let (status, shown) = dora.get(&format!("{DEV}/apis/{product_id}")).await;
    assert_eq!(status, StatusCode::OK, "{shown}");
    assert_eq!(shown["operations"].as_array().unwrap().len(), 3);

    // Subscribed under one of the product's tiers; a tier it does not offer is refused.
    let app = dora.application("dora-app").await;
    let (status, error) = dora
        .post(
            &format!("{DEV}/subscriptions"),
            json!({"applicationId": app, "apiId": product_id, "throttlingPolicy": "Bronze"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
    let (status, sub) = dora
        .post(
            &format!("{DEV}/subscriptions"),
            json!({"applicationId": app, "apiId": product_id, "throttlingPolicy": "Gold"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{sub}");
    assert_eq!(sub["apiInfo"]["type"], "APIPRODUCT", "{sub}");
    // Eve can neither subscribe Dora's application nor see the subscription.
    let sub_id = sub["subscriptionId"].as_str().unwrap();
    let (status, _) = eve
        .post(
            &format!("{DEV}/subscriptions"),
            json!({"applicationId": app, "apiId": product_id, "throttlingPolicy": "Gold"}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = eve.get(&format!("{DEV}/subscriptions/{sub_id}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // One token, every included operation, each to its own API's upstream.
    let (consumer_key, secret) = dora.keys(&app).await;
    let scoped = token_of(&up, &consumer_key, &secret, "orders:read").await;
    assert!(
        eventually_reaches(&up, "/bundle/1.0.0/items", &scoped, "/orders-backend/items").await,
        "{:?}",
        call(&up, "/bundle/1.0.0/items", &scoped).await
    );
    assert!(
        eventually_reaches(
            &up,
            "/bundle/1.0.0/dishes/7",
            &scoped,
            "/menu-backend/dishes/7"
        )
        .await
    );
    assert_eq!(
        orders_upstream.hits(),
        1,
        "GET /items went to the Orders upstream only"
    );
    // Nothing else: operations left out of the product are not served under it, and the
    // included APIs themselves need their own subscription.
    assert_eq!(call(&up, "/bundle/1.0.0/secret", &scoped).await.0, 404);
    assert_eq!(call(&up, "/bundle/1.0.0/admin", &scoped).await.0, 404);
    let (status, refused) = call(&up, "/orders/1.0.0/secret", &scoped).await;
    assert_eq!(
        (status, refused["code"].as_str()),
        (403, Some("900908")),
        "{refused}"
    );
    assert_eq!(call(&up, "/orders/1.0.0/items", &scoped).await.0, 403);
    assert_eq!(call(&up, "/menu/1.0.0/admin", &scoped).await.0, 403);
    // The operation's own scope still applies through the product.
    let unscoped = token_of(&up, &consumer_key, &secret, "").await;
    let (status, refused) = call(&up, "/bundle/1.0.0/items", &unscoped).await;
    assert_eq!(
        (status, refused["code"].as_str()),
        (403, Some("900910")),
        "{refused}"
    );
    assert_eq!(call(&up, "/bundle/1.0.0/dishes/1", &unscoped).await.0, 200);
    // The operation's own limit of its API applies through the product, to it alone.
    for _ in 0..2 {
        assert_eq!(call(&up, "/bundle/1.0.0/specials", &scoped).await.0, 200);
    }
    assert_eq!(call(&up, "/bundle/1.0.0/specials", &scoped).await.0, 429);
    assert_eq!(call(&up, "/bundle/1.0.0/dishes/2", &scoped).await.0, 200);
    // Sandbox keys reach each API's sandbox endpoint; Orders has none (403).
    let (status, keys) = dora
        .post(
            &format!("{DEV}/applications/{app}/generate-keys"),
            json!({"keyType": "SANDBOX", "grantTypesToBeSupported": ["client_credentials"]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{keys}");
    let sandbox = token_of(
        &up,
        keys["consumerKey"].as_str().unwrap(),
        keys["consumerSecret"].as_str().unwrap(),
        "orders:read",
    )
    .await;
    assert!(
        eventually_reaches(
            &up,
            "/bundle/1.0.0/dishes/4",
            &sandbox,
            "/menu-sandbox/dishes/4"
        )
        .await
    );
    assert_eq!(call(&up, "/bundle/1.0.0/items", &sandbox).await.0, 403);

    // The product's tier is one quota over all its operations.
    let limited = dora.application("dora-limited").await;
    dora.subscribe(&limited, &product_id, "FivePerMin").await;
    let limited_token = token(&up, &dora, &limited, "orders:read").await;
    assert!(
        eventually_reaches(
            &up,
            "/bundle/1.0.0/dishes/0",
            &limited_token,
            "/menu-backend/dishes/0"
        )
        .await
    );
    for i in 1..5 {
        let path = if i % 2 == 0 {
            "/bundle/1.0.0/items".to_owned()
        } else {
            format!("/bundle/1.0.0/dishes/{i}")
        };
        assert_eq!(call(&up, &path, &limited_token).await.0, 200, "call {i}");
    }
    let (status, throttled) = call(&up, "/bundle/1.0.0/items", &limited_token).await;
    assert_eq!(status, 429, "the sixth call of the minute: {throttled}");
    assert_eq!(
        call(&up, "/bundle/1.0.0/dishes/9", &limited_token).await.0,
        429
    );

    // A change to an underlying API is served by the product only from its next revision.
    let (status, current) = admin.get(&format!("{PUB}/apis/{menu}")).await;
    assert_eq!(status, StatusCode::OK);
    let mut changed = current.clone();
    changed["endpointConfig"]["production_endpoints"]["url"] =
        json!(format!("{}/menu-v2/", menu_upstream.url()));
    let (status, body) = admin.put(&format!("{PUB}/apis/{menu}"), changed).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    admin.deploy_new_revision(&menu, &["Default"]).await;
    let (status, outdated) = admin
        .get(&format!("{PUB}/api-products/{product_id}/is-outdated"))
        .await;
    assert_eq!(
        (status, outdated["isOutdated"].as_bool()),
        (StatusCode::OK, Some(false))
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (status, seen) = call(&up, "/bundle/1.0.0/dishes/3", &scoped).await;
    assert_eq!(
        (status, seen["path"].as_str()),
        (200, Some("/menu-backend/dishes/3"))
    );
    let revision = admin
        .post(
            &format!("{PUB}/api-products/{product_id}/revisions"),
            json!({}),
        )
        .await
        .1;
    let (status, body) = admin
        .post(
            &format!(
                "{PUB}/api-products/{product_id}/deploy-revision?revisionId={}",
                revision["id"].as_str().unwrap()
            ),
            json!([{"name": "Default"}]),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert!(eventually_reaches(&up, "/bundle/1.0.0/dishes/3", &scoped, "/menu-v2/dishes/3").await);

    // Another publisher does not see a product restricted to other roles: 404 throughout.
    let (status, restricted) = admin
        .post(
            &format!("{PUB}/api-products"),
            json!({"name": "Private", "context": "private", "accessControl": "RESTRICTED",
                   "accessControlRoles": ["Internal/devops"],
                   "apis": [{"apiId": menu, "operations": [{"target": "/admin", "verb": "GET"}]}]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{restricted}");
    let restricted_id = restricted["id"].as_str().unwrap();
    for (method, path) in [
        (Method::GET, format!("{PUB}/api-products/{restricted_id}")),
        (
            Method::DELETE,
            format!("{PUB}/api-products/{restricted_id}"),
        ),
        (
            Method::GET,
            format!("{PUB}/api-products/{restricted_id}/swagger"),
        ),
        (
            Method::POST,
            format!("{PUB}/api-products/{restricted_id}/revisions"),
        ),
        (
            Method::POST,
            format!(
                "{PUB}/api-products/change-lifecycle?apiProductId={restricted_id}&action=Publish"
            ),
        ),
    ] {
        let (status, body) = pete.send(method.clone(), &path, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{method} {path}: {body}");
    }
    let (status, listed) = pete.get(&format!("{PUB}/api-products")).await;
    assert_eq!(
        (status, listed["count"].as_i64()),
        (StatusCode::OK, Some(1)),
        "{listed}"
    );
    // Not published: the developer portal does not show it.
    assert_eq!(
        dora.get(&format!("{DEV}/apis/{restricted_id}")).await.0,
        StatusCode::NOT_FOUND
    );

    // The publisher sees the product's subscriptions with their subscribers.
    let (status, subs) = admin
        .get(&format!("{PUB}/subscriptions?apiId={product_id}"))
        .await;
    assert_eq!(status, StatusCode::OK, "{subs}");
    assert_eq!(subs["count"], 2, "{subs}");
    assert_eq!(subs["list"][0]["applicationInfo"]["subscriber"], "dev-dora");

    // Deleting is refused while subscribed, and so is deleting an API a product uses.
    let (status, error) = admin
        .delete(&format!("{PUB}/api-products/{product_id}"))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{error}");
    let (status, error) = admin.delete(&format!("{PUB}/apis/{orders}")).await;
    assert_eq!(status, StatusCode::CONFLICT, "{error}");
    for application in [&app, &limited] {
        let (status, subs) = dora
            .get(&format!("{DEV}/subscriptions?applicationId={application}"))
            .await;
        assert_eq!(status, StatusCode::OK);
        for sub in subs["list"].as_array().unwrap() {
            let id = sub["subscriptionId"].as_str().unwrap();
            let (status, _) = dora.delete(&format!("{DEV}/subscriptions/{id}")).await;
            assert_eq!(status, StatusCode::OK);
        }
    }
    let (status, body) = admin
        .delete(&format!("{PUB}/api-products/{product_id}"))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        admin
            .get(&format!("{PUB}/api-products/{product_id}"))
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    assert!(
        eventually(Duration::from_secs(5), || async {
            call(&up, "/bundle/1.0.0/dishes/1", &scoped).await.0 == 404
        })
        .await,
        "a deleted product is no longer served"
    );
}
