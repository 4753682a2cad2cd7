//! Import and export of the other WSO2 project kinds against the real binary: API products
//! (with their APIs under `APIs/`), applications (subscriptions by API name and version,
//! keys without secrets) and throttling policies. Each round trip exports from one
//! `gantry up`, imports into a second and exports again: the same project, ids and times
//! aside. Wrong kinds, missing files and callers without the import/export scope are
//! refused with WSO2's error body.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use gantry_control_plane::project::{ProjectFiles, ProjectKind};
use gantry_testkit::GantryUp;
use gantry_testkit::echo::EchoUpstream;
use gantry_testkit::rest::Rest;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_gantry");
const PUB: &str = "/api/am/publisher/v4";
const DEV: &str = "/api/am/devportal/v3";
const ADMIN: &str = "/api/am/admin/v4";

/// `POST path` with `bytes` as the multipart part `file` named `file_name`.
async fn upload(rest: &Rest, path: &str, file_name: &str, bytes: &[u8]) -> (StatusCode, Value) {
    let boundary = "gantry-kinds-boundary-51c0";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{file_name}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let response = rest
        .request(Method::POST, path)
        .header(
            "content-type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// `GET path`: the body, which must be a 200 of `content_type`.
async fn download(rest: &Rest, path: &str, content_type: &str) -> Vec<u8> {
    let response = rest.request(Method::GET, path).send().await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.bytes().await.unwrap().to_vec();
    assert_eq!(
        status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&bytes)
    );
    assert_eq!(headers["content-type"], content_type);
    assert!(
        headers["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment; filename="),
        "{headers:?}"
    );
    bytes
}

/// A 4xx body in WSO2's error shape whose description mentions `needle`.
fn assert_wso2_error(status: StatusCode, body: &Value, expected: StatusCode, needle: &str) {
    assert_eq!(status, expected, "{body}");
    assert_eq!(body["code"], expected.as_u16(), "{body}");
    assert!(body["message"].is_string(), "{body}");
    let description = body["description"].as_str().unwrap();
    assert!(
        description.contains(needle),
        "'{needle}' not in {description}"
    );
}

/// Removes the keys named in `paths` (`a.b.c`, `*` for every array element) from `value`.
fn strip(value: &mut Value, path: &[&str]) {
    match path {
        [] => {}
        ["*", rest @ ..] => {
            for item in value.as_array_mut().into_iter().flatten() {
                strip(item, rest);
            }
        }
        [last] => {
            if let Some(object) = value.as_object_mut() {
                object.remove(*last);
            }
        }
        [first, rest @ ..] => {
            if let Some(inner) = value.get_mut(*first) {
                strip(inner, rest);
            }
        }
    }
}

/// Every file of a project parsed, with what differs between installations (ids, times)
/// taken out.
fn comparable(project: &ProjectFiles) -> BTreeMap<String, Value> {
    project
        .files
        .iter()
        .map(|(path, bytes)| {
            let mut value: Value = serde_yaml_ng::from_slice(bytes).unwrap();
            for ids in [
                &["data", "id"][..],
                &["data", "createdTime"],
                &["data", "lastUpdatedTime"],
                &["data", "apis", "*", "apiId"],
                &["data", "applicationInfo", "applicationId"],
                &["data", "applicationInfo", "keys", "*", "keyMappingId"],
            ] {
                strip(&mut value, ids);
            }
            (path.clone(), value)
        })
        .collect()
}

/// Two APIs, and a product of one operation of each, published and deployed to Default.
async fn product_of_two_apis(rest: &Rest, upstream: &str) {
    let pizza = rest
        .deployed_api(
            "Pizza",
            "/pizza",
            upstream,
            json!([{"target": "/menu", "verb": "GET", "authType": "None"},
                   {"target": "/order", "verb": "POST"}]),
        )
        .await;
    let pasta = rest
        .deployed_api(
            "Pasta",
            "/pasta",
            upstream,
            json!([{"target": "/shapes", "verb": "GET", "authType": "None"}]),
        )
        .await;
    let (status, product) = rest
        .post(
            &format!("{PUB}/api-products"),
            json!({"name": "Meal", "context": "meal", "version": "1.0.0",
            "description": "Pizza and pasta", "policies": ["Gold"],
            "apis": [
                {"apiId": pizza, "operations": [{"target": "/menu", "verb": "GET"}]},
                {"apiId": pasta, "operations": [{"target": "/shapes", "verb": "GET"}]},
            ]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{product}");
    let id = product["id"].as_str().unwrap();
    let (status, body) = rest
        .post_empty(&format!(
            "{PUB}/api-products/change-lifecycle?apiProductId={id}&action=Publish"
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, revision) = rest
        .post(&format!("{PUB}/api-products/{id}/revisions"), json!({}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{revision}");
    let (status, body) = rest
        .post(
            &format!(
                "{PUB}/api-products/{id}/deploy-revision?revisionId={}",
                revision["id"].as_str().unwrap()
            ),
            json!([{"name": "Default", "vhost": "localhost"}]),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_api_product_moves_with_its_apis_and_comes_back_the_same() {
    let upstream = EchoUpstream::start().await;
    let source = GantryUp::start(BIN).await;
    product_of_two_apis(&source.rest(), &upstream.url()).await;
    assert!(
        source
            .eventually_gw_status("/meal/1.0.0/menu", "", 200)
            .await
    );

    let first = download(
        &source.rest(),
        &format!("{PUB}/api-products/export?name=Meal&version=1.0.0&providerName=admin"),
        "application/zip",
    )
    .await;
    let first = ProjectFiles::from_zip_of(&first, ProjectKind::ApiProduct).unwrap();
    assert_eq!(first.root.as_deref(), Some("Meal-1.0.0"));
    let paths: Vec<&str> = first.files.keys().map(String::as_str).collect();
    for expected in [
        "api_product.yaml",
        "Definitions/swagger.yaml",
        "deployment_environments.yaml",
        "APIs/Pizza-1.0.0/api.yaml",
        "APIs/Pizza-1.0.0/Definitions/swagger.yaml",
        "APIs/Pasta-1.0.0/api.yaml",
    ] {
        assert!(paths.contains(&expected), "{expected} not in {paths:?}");
    }
    let product_yaml: Value = serde_yaml_ng::from_slice(&first.files["api_product.yaml"]).unwrap();
    assert_eq!(product_yaml["type"], "api_product");
    assert_eq!(product_yaml["data"]["state"], "PUBLISHED");
    assert_eq!(product_yaml["data"]["apis"][0]["name"], "Pizza");

    // A revision's snapshot on request; a revision that is not there is 404.
    let latest = download(
        &source.rest(),
        &format!(
            "{PUB}/api-products/export?name=Meal&version=1.0.0&latestRevision=true&format=JSON"
        ),
        "application/zip",
    )
    .await;
    let latest = ProjectFiles::from_zip_of(&latest, ProjectKind::ApiProduct).unwrap();
    let latest_json: Value = serde_json::from_slice(&latest.files["api_product.json"]).unwrap();
    assert_eq!(latest_json["data"]["name"], "Meal");
    let (status, body) = source
        .rest()
        .get(&format!(
            "{PUB}/api-products/export?name=Meal&version=1.0.0&revisionNumber=9"
        ))
        .await;
    assert_wso2_error(status, &body, StatusCode::NOT_FOUND, "9");

    // Into a second installation that has none of the APIs: refused by name without
    // importAPIs, imported with them.
    let target = GantryUp::start(BIN).await;
    let rest = target.rest();
    let zip = first.to_zip("Meal-1.0.0").unwrap();
    let (status, body) = upload(&rest, &format!("{PUB}/api-products/import"), "p.zip", &zip).await;
    assert_wso2_error(
        status,
        &body,
        StatusCode::NOT_FOUND,
        "'Pizza' version '1.0.0'",
    );
    // One broken API project among them: refused naming it, before any API is made.
    let mut broken = first.clone();
    broken.files.insert(
        "APIs/Pizza-1.0.0/api.yaml".into(),
        b"type: api\ndata:\n  name: Pizza\n  version: 1.0.0\n".to_vec(),
    );
    broken
        .files
        .remove("APIs/Pizza-1.0.0/Definitions/swagger.yaml");
    let (status, body) = upload(
        &rest,
        &format!("{PUB}/api-products/import?importAPIs=true"),
        "p.zip",
        &broken.to_zip("Meal-1.0.0").unwrap(),
    )
    .await;
    assert_wso2_error(status, &body, StatusCode::BAD_REQUEST, "APIs/Pizza-1.0.0/");
    let (_, listed) = rest.get(&format!("{PUB}/apis")).await;
    assert_eq!(listed["count"], 0, "{listed}");
    let (status, outcome) = upload(
        &rest,
        &format!("{PUB}/api-products/import?importAPIs=true&preserveProvider=true"),
        "p.zip",
        &zip,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{outcome}");
    assert_eq!(outcome["action"], "CREATED");
    assert_eq!(outcome["apis"].as_array().unwrap().len(), 2, "{outcome}");
    assert_eq!(outcome["deployments"][0]["name"], "Default", "{outcome}");
    assert_eq!(outcome["unsupported"], json!([]), "{outcome}");
    // Served by the second installation's gateway under the product's context.
    assert!(
        target
            .eventually_gw_status("/meal/1.0.0/menu", "", 200)
            .await
    );
    assert!(
        target
            .eventually_gw_status("/meal/1.0.0/shapes", "", 200)
            .await
    );

    let second = download(
        &rest,
        &format!("{PUB}/api-products/export?name=Meal&version=1.0.0"),
        "application/zip",
    )
    .await;
    let second = ProjectFiles::from_zip_of(&second, ProjectKind::ApiProduct).unwrap();
    assert_eq!(comparable(&first), comparable(&second));

    // Again: a conflict unless overwriteAPIProduct; existing APIs are kept as they are.
    let (status, body) = upload(
        &rest,
        &format!("{PUB}/api-products/import?importAPIs=true"),
        "p.zip",
        &zip,
    )
    .await;
    assert_wso2_error(
        status,
        &body,
        StatusCode::CONFLICT,
        "overwriteAPIProduct=true",
    );
    let (status, outcome) = upload(
        &rest,
        &format!("{PUB}/api-products/import?importAPIs=true&overwriteAPIProduct=true"),
        "p.zip",
        &zip,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{outcome}");
    assert_eq!(outcome["action"], "UPDATED");
    assert_eq!(outcome["apis"][0]["action"], "EXISTING", "{outcome}");

    // Refused: an API project where a product is expected, a product naming an API that is
    // nowhere, no file at all, and a caller without apim:api_product_import_export.
    let api_zip = ProjectFiles {
        root: None,
        files: [("api.yaml".to_owned(), b"type: api\ndata: {}\n".to_vec())].into(),
    }
    .to_zip("X-1")
    .unwrap();
    let (status, body) = upload(
        &rest,
        &format!("{PUB}/api-products/import"),
        "p.zip",
        &api_zip,
    )
    .await;
    assert_wso2_error(
        status,
        &body,
        StatusCode::BAD_REQUEST,
        "no api_product.yaml",
    );
    let wrong_type = ProjectFiles {
        root: None,
        files: [(
            "api_product.yaml".to_owned(),
            b"type: api\ndata: {}\n".to_vec(),
        )]
        .into(),
    }
    .to_zip("X-1")
    .unwrap();
    let (status, body) = upload(
        &rest,
        &format!("{PUB}/api-products/import"),
        "p.zip",
        &wrong_type,
    )
    .await;
    assert_wso2_error(status, &body, StatusCode::BAD_REQUEST, "type 'api'");
    let mut missing = first.clone();
    let renamed = String::from_utf8(missing.files["api_product.yaml"].clone())
        .unwrap()
        .replace("name: Pasta", "name: Ravioli");
    missing
        .files
        .insert("api_product.yaml".into(), renamed.into_bytes());
    let (status, body) = upload(
        &rest,
        &format!("{PUB}/api-products/import?overwriteAPIProduct=true"),
        "p.zip",
        &missing.to_zip("Meal-1.0.0").unwrap(),
    )
    .await;
    assert_wso2_error(status, &body, StatusCode::NOT_FOUND, "'Ravioli'");
    let (status, body) = rest
        .send_multipart(
            Method::POST,
            &format!("{PUB}/api-products/import"),
            &[("other", "x")],
            &[],
        )
        .await;
    assert_wso2_error(status, &body, StatusCode::BAD_REQUEST, "file");
    rest.create_user("pub-p", "publisher-pass-1", &["Internal/publisher"])
        .await;
    let publisher = rest.as_user("pub-p", "publisher-pass-1");
    let (status, body) = upload(
        &publisher,
        &format!("{PUB}/api-products/import"),
        "p.zip",
        &zip,
    )
    .await;
    assert_wso2_error(status, &body, StatusCode::FORBIDDEN, "scope");
    let (status, body) = rest
        .get(&format!("{PUB}/api-products/export?name=Nope&version=1"))
        .await;
    assert_wso2_error(status, &body, StatusCode::NOT_FOUND, "Nope");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_application_moves_with_its_subscriptions_and_keys_but_never_a_secret() {
    let upstream = EchoUpstream::start().await;
    let source = GantryUp::start(BIN).await;
    let rest = source.rest();
    let api = rest
        .deployed_api(
            "Pizza",
            "/pizza",
            &upstream.url(),
            json!([{"target": "/order", "verb": "GET"}]),
        )
        .await;
    let app = rest.application("Mobile").await;
    rest.subscribe(&app, &api, "Gold").await;
    let (consumer_key, secret) = rest.keys(&app).await;

    let export_path =
        format!("{DEV}/applications/export?appName=Mobile&appOwner=admin&withKeys=true");
    let bytes = download(&rest, &export_path, "application/zip").await;
    let first = ProjectFiles::from_zip_of(&bytes, ProjectKind::Application).unwrap();
    assert_eq!(first.root.as_deref(), Some("admin_Mobile"));
    let app_yaml: Value = serde_yaml_ng::from_slice(&first.files["application.yaml"]).unwrap();
    assert_eq!(app_yaml["type"], "application");
    assert_eq!(
        app_yaml["data"]["subscribedAPIs"],
        json!([{"apiId": {"providerName": "admin", "apiName": "Pizza", "version": "1.0.0"},
                "throttlingPolicy": "Gold"}])
    );
    let key = &app_yaml["data"]["applicationInfo"]["keys"][0];
    assert_eq!(key["consumerKey"], consumer_key.as_str());
    assert!(key["consumerSecret"].is_null(), "{key}");
    // Neither the secret nor its hash is anywhere in the archive.
    let text = String::from_utf8_lossy(&first.files["application.yaml"]).into_owned();
    assert!(
        !text.contains(&secret) && !text.contains("$argon2"),
        "{text}"
    );
    // Without withKeys, no keys at all.
    let bytes = download(
        &rest,
        &format!("{DEV}/applications/export?appName=Mobile&appOwner=admin&format=JSON"),
        "application/zip",
    )
    .await;
    let plain = ProjectFiles::from_zip_of(&bytes, ProjectKind::Application).unwrap();
    let plain: Value = serde_json::from_slice(&plain.files["application.json"]).unwrap();
    assert_eq!(plain["data"]["applicationInfo"]["keys"], json!([]));

    // The second installation gets the API first (its own project), then the application.
    let target = GantryUp::start(BIN).await;
    let trest = target.rest();
    let api_zip = download(
        &rest,
        &format!("{PUB}/apis/export?apiId={api}"),
        "application/zip",
    )
    .await;
    let (status, body) = upload(&trest, &format!("{PUB}/apis/import"), "api.zip", &api_zip).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let zip = first.to_zip("admin_Mobile").unwrap();
    let (status, imported) = upload(
        &trest,
        &format!("{DEV}/applications/import?preserveOwner=true"),
        "a.zip",
        &zip,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{imported}");
    assert_eq!(imported["name"], "Mobile");
    assert_eq!(imported["subscriptionCount"], 1, "{imported}");
    let second = download(&trest, &export_path, "application/zip").await;
    let second = ProjectFiles::from_zip_of(&second, ProjectKind::Application).unwrap();
    assert_eq!(comparable(&first), comparable(&second));

    // The consumer key came along; the old secret did not. The owner sets a new one, and
    // the application's token then passes the gateway on the imported subscription.
    let (status, _) = trest.token(&consumer_key, &secret).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let new_app = imported["applicationId"].as_str().unwrap();
    let (_, keys) = trest
        .get(&format!("{DEV}/applications/{new_app}/oauth-keys"))
        .await;
    let mapping = keys["list"][0]["keyMappingId"].as_str().unwrap();
    let (status, renewed) = trest
        .post_empty(&format!(
            "{DEV}/applications/{new_app}/oauth-keys/{mapping}/regenerate-secret"
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{renewed}");
    let (status, token) = trest
        .token(&consumer_key, renewed["consumerSecret"].as_str().unwrap())
        .await;
    assert_eq!(status, StatusCode::OK, "{token}");
    assert!(
        target
            .eventually_gw_status(
                "/pizza/1.0.0/order",
                token["access_token"].as_str().unwrap(),
                200
            )
            .await
    );

    // A key of a key manager this installation does not have: refused before anything is
    // made.
    let mapped = String::from_utf8(first.files["application.yaml"].clone())
        .unwrap()
        .replace("name: Mobile", "name: Tablet")
        .replace("keyManager: Resident Key Manager", "keyManager: Okta");
    assert!(mapped.contains("keyManager: Okta"), "{mapped}");
    let tablet = ProjectFiles {
        root: None,
        files: [("application.yaml".to_owned(), mapped.into_bytes())].into(),
    };
    let (status, body) = upload(
        &trest,
        &format!("{DEV}/applications/import"),
        "a.zip",
        &tablet.to_zip("admin_Tablet").unwrap(),
    )
    .await;
    assert_wso2_error(
        status,
        &body,
        StatusCode::BAD_REQUEST,
        "keys[0].keyManager: 'Okta'",
    );
    let (_, apps) = trest.get(&format!("{DEV}/applications")).await;
    assert!(
        !apps["list"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["name"] == "Tablet"),
        "{apps}"
    );

    // For an owner who is not a user here: refused, naming appOwner.
    let (status, body) = upload(
        &trest,
        &format!("{DEV}/applications/import?appOwner=ghost"),
        "a.zip",
        &zip,
    )
    .await;
    assert_wso2_error(status, &body, StatusCode::BAD_REQUEST, "appOwner");

    // Again: 409 unless update=true.
    let (status, body) = upload(&trest, &format!("{DEV}/applications/import"), "a.zip", &zip).await;
    assert_wso2_error(status, &body, StatusCode::CONFLICT, "update=true");
    let (status, body) = upload(
        &trest,
        &format!("{DEV}/applications/import?update=true"),
        "a.zip",
        &zip,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // A subscription to an API the installation does not have: imported, that one named
    // in WSO2's 207 list.
    let elsewhere = String::from_utf8(first.files["application.yaml"].clone())
        .unwrap()
        .replace("name: Mobile", "name: Kiosk")
        .replace("apiName: Pizza", "apiName: Calzone");
    let kiosk = ProjectFiles {
        root: None,
        files: [("application.yaml".to_owned(), elsewhere.into_bytes())].into(),
    };
    let (status, body) = upload(
        &trest,
        &format!("{DEV}/applications/import?skipApplicationKeys=true"),
        "a.zip",
        &kiosk.to_zip("admin_Kiosk").unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::MULTI_STATUS, "{body}");
    assert_eq!(body["list"][0]["name"], "Calzone", "{body}");

    // Refused: a product project, no file, another user's application, and a developer
    // without apim:app_import_export.
    let product = ProjectFiles {
        root: None,
        files: [(
            "application.yaml".to_owned(),
            b"type: api_product\ndata: {}\n".to_vec(),
        )]
        .into(),
    };
    let (status, body) = upload(
        &trest,
        &format!("{DEV}/applications/import"),
        "a.zip",
        &product.to_zip("x").unwrap(),
    )
    .await;
    assert_wso2_error(status, &body, StatusCode::BAD_REQUEST, "type 'api_product'");
    let (status, body) = upload(
        &trest,
        &format!("{DEV}/applications/import"),
        "a.zip",
        &api_zip,
    )
    .await;
    assert_wso2_error(
        status,
        &body,
        StatusCode::BAD_REQUEST,
        "no application.yaml",
    );
    trest
        .create_user("dev-d", "developer-pass-1", &["Internal/subscriber"])
        .await;
    let developer = trest.as_user("dev-d", "developer-pass-1");
    let (status, body) = developer
        .get(&format!(
            "{DEV}/applications/export?appName=Mobile&appOwner=admin&withKeys=true"
        ))
        .await;
    assert_wso2_error(status, &body, StatusCode::FORBIDDEN, "scope");
    let (status, body) = upload(
        &developer,
        &format!("{DEV}/applications/import"),
        "a.zip",
        &zip,
    )
    .await;
    assert_wso2_error(status, &body, StatusCode::FORBIDDEN, "scope");
    let (status, body) = trest
        .get(&format!("{DEV}/applications/export?appName=Mobile"))
        .await;
    assert_wso2_error(status, &body, StatusCode::BAD_REQUEST, "appOwner");
    let (status, body) = trest
        .get(&format!(
            "{DEV}/applications/export?appName=Nothing&appOwner=admin"
        ))
        .await;
    assert_wso2_error(status, &body, StatusCode::NOT_FOUND, "Nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_policies_of_every_kind_move_between_installations() {
    let source = GantryUp::start(BIN).await;
    let rest = source.rest();
    for (segment, body) in [
        (
            "subscription",
            json!({"policyName": "Copper", "description": "silver tier",
            "defaultLimit": {"type": "REQUESTCOUNTLIMIT", "requestCount": {"timeUnit": "min", "unitTime": 1, "requestCount": 300}},
            "rateLimitCount": 10, "rateLimitTimeUnit": "sec"}),
        ),
        (
            "application",
            json!({"policyName": "TwentyPerMin",
            "defaultLimit": {"type": "BANDWIDTHLIMIT", "bandwidth": {"timeUnit": "min", "unitTime": 1, "dataAmount": 20, "dataUnit": "MB"}}}),
        ),
        (
            "advanced",
            json!({"policyName": "Guarded",
            "defaultLimit": {"type": "REQUESTCOUNTLIMIT", "requestCount": {"timeUnit": "min", "unitTime": 1, "requestCount": 100}},
            "conditionalGroups": [{"description": "office", "conditions": [
                {"type": "IPCONDITION", "invertCondition": false,
                 "ipCondition": {"ipConditionType": "IPSPECIFIC", "specificIP": "10.0.0.1"}}],
              "limit": {"type": "REQUESTCOUNTLIMIT", "requestCount": {"timeUnit": "min", "unitTime": 1, "requestCount": 1000}}}]}),
        ),
        (
            "custom",
            json!({"policyName": "PerUser", "keyTemplate": "$userId",
            "defaultLimit": {"type": "REQUESTCOUNTLIMIT", "requestCount": {"timeUnit": "min", "unitTime": 1, "requestCount": 50}}}),
        ),
    ] {
        let (status, created) = rest
            .post(&format!("{ADMIN}/throttling/policies/{segment}"), body)
            .await;
        assert_eq!(status, StatusCode::CREATED, "{segment}: {created}");
    }

    let target = GantryUp::start(BIN).await;
    let trest = target.rest();
    for (kind, name, subtype) in [
        ("sub", "Copper", "subscription"),
        ("app", "TwentyPerMin", "application"),
        ("api", "Guarded", "advanced"),
        ("global", "PerUser", "custom rule"),
    ] {
        let path = format!("{ADMIN}/throttling/policies/export?name={name}&type={kind}");
        let first: Value =
            serde_json::from_slice(&download(&rest, &path, "application/json").await).unwrap();
        assert_eq!(first["type"], "throttling policy", "{first}");
        assert_eq!(first["subtype"], subtype, "{first}");
        assert_eq!(first["data"]["policyName"], name, "{first}");
        // YAML on request; that is what the other installation gets.
        let yaml = download(&rest, &format!("{path}&format=YAML"), "application/yaml").await;
        let (status, outcome) = upload(
            &trest,
            &format!("{ADMIN}/throttling/policies/import"),
            &format!("{name}.yaml"),
            &yaml,
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{name}: {outcome}");
        assert_eq!(outcome["action"], "CREATED", "{outcome}");
        let second: Value =
            serde_json::from_slice(&download(&trest, &path, "application/json").await).unwrap();
        let without_id = |mut v: Value| {
            strip(&mut v, &["data", "policyId"]);
            v
        };
        assert_eq!(without_id(first.clone()), without_id(second), "{name}");
        // Again: a conflict unless overwrite.
        let (status, body) = upload(
            &trest,
            &format!("{ADMIN}/throttling/policies/import"),
            "p.yaml",
            &yaml,
        )
        .await;
        assert_wso2_error(status, &body, StatusCode::CONFLICT, "overwrite=true");
        let (status, outcome) = upload(
            &trest,
            &format!("{ADMIN}/throttling/policies/import?overwrite=true"),
            "p.json",
            first.to_string().as_bytes(),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{outcome}");
        assert_eq!(outcome["action"], "UPDATED", "{outcome}");
    }

    // The imported subscription tier is one APIs can offer and gateways enforce.
    let (status, api) = trest
        .post(
            &format!("{PUB}/apis"),
            json!({"name": "Tiered", "context": "/tiered", "version": "1.0.0", "policies": ["Copper"],
                   "endpointConfig": {"endpoint_type": "http", "production_endpoints": {"url": "http://127.0.0.1:9"}},
                   "operations": [{"target": "/x", "verb": "GET", "throttlingPolicy": "Guarded"}]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{api}");

    // Refused: an API project, a document of another type, an unknown subtype, a name that
    // is nowhere, and a publisher without the admin scopes.
    let path = format!("{ADMIN}/throttling/policies/import");
    let (status, body) = upload(&trest, &path, "p.yaml", b"type: api\ndata: {}\n").await;
    assert_wso2_error(status, &body, StatusCode::BAD_REQUEST, "type 'api'");
    let (status, body) = upload(
        &trest,
        &path,
        "p.yaml",
        b"type: throttling policy\nsubtype: deny\ndata: {}\n",
    )
    .await;
    assert_wso2_error(status, &body, StatusCode::BAD_REQUEST, "subtype 'deny'");
    let (status, body) = upload(&trest, &path, "p.zip", &[0x50, 0x4b, 3, 4, 0xff]).await;
    assert_wso2_error(status, &body, StatusCode::BAD_REQUEST, "file");
    let (status, body) = trest
        .get(&format!("{ADMIN}/throttling/policies/export?name=Nope"))
        .await;
    assert_wso2_error(status, &body, StatusCode::NOT_FOUND, "Nope");
    let (status, body) = trest
        .get(&format!(
            "{ADMIN}/throttling/policies/export?name=Copper&type=deny"
        ))
        .await;
    assert_wso2_error(status, &body, StatusCode::BAD_REQUEST, "type");
    trest
        .create_user(
            "pub-q",
            "publisher-pass-2",
            &["Internal/publisher", "Internal/creator"],
        )
        .await;
    let publisher = trest.as_user("pub-q", "publisher-pass-2");
    let (status, body) = publisher
        .get(&format!("{ADMIN}/throttling/policies/export?name=Copper"))
        .await;
    assert_wso2_error(status, &body, StatusCode::FORBIDDEN, "scope");
    let (status, body) = upload(&publisher, &path, "p.yaml", b"type: throttling policy\n").await;
    assert_wso2_error(status, &body, StatusCode::FORBIDDEN, "scope");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_product_export_leaves_out_the_apis_the_caller_may_not_see() {
    let up = GantryUp::start(BIN).await;
    let rest = up.rest();
    let mut ids = Vec::new();
    for (name, access) in [
        ("Open", json!({})),
        (
            "Vault",
            json!({"accessControl": "RESTRICTED", "accessControlRoles": ["Internal/creator"]}),
        ),
    ] {
        let mut body = json!({"name": name, "context": format!("/{}", name.to_lowercase()),
            "version": "1.0.0",
            "endpointConfig": {"endpoint_type": "http", "production_endpoints": {"url": "http://127.0.0.1:9"}},
            "operations": [{"target": format!("/{}", name.to_lowercase()), "verb": "GET"}]});
        body.as_object_mut()
            .unwrap()
            .extend(access.as_object().unwrap().clone());
        let (status, api) = rest.post(&format!("{PUB}/apis"), body).await;
        assert_eq!(status, StatusCode::CREATED, "{api}");
        ids.push(api["id"].as_str().unwrap().to_owned());
    }
    let (status, product) = rest
        .post(
            &format!("{PUB}/api-products"),
            json!({"name": "Both", "context": "both", "version": "1.0.0", "apis": [
                {"apiId": ids[0], "operations": [{"target": "/open", "verb": "GET"}]},
                {"apiId": ids[1], "operations": [{"target": "/vault", "verb": "GET"}]}]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{product}");
    let path = format!("{PUB}/api-products/export?name=Both&version=1.0.0");
    let all = ProjectFiles::from_zip_of(
        &download(&rest, &path, "application/zip").await,
        ProjectKind::ApiProduct,
    )
    .unwrap();
    assert!(all.files.contains_key("APIs/Vault-1.0.0/api.yaml"));

    // A publisher sees the product but not the restricted API: its project stays out.
    rest.create_user("pub-v", "publisher-pass-3", &["Internal/publisher"])
        .await;
    let publisher = rest.as_user("pub-v", "publisher-pass-3");
    let (status, _) = publisher.get(&format!("{PUB}/apis/{}", ids[1])).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let seen = ProjectFiles::from_zip_of(
        &download(&publisher, &path, "application/zip").await,
        ProjectKind::ApiProduct,
    )
    .unwrap();
    assert!(seen.files.contains_key("APIs/Open-1.0.0/api.yaml"));
    assert!(
        !seen
            .files
            .keys()
            .any(|p| p.starts_with("APIs/Vault-1.0.0/")),
        "{:?}",
        seen.files.keys()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_api_exports_and_imports_apis_for_administrators_only() {
    let upstream = EchoUpstream::start().await;
    let source = GantryUp::start_with(BIN, false).await;
    let target = GantryUp::start_with(BIN, false).await;
    let (from, to) = (source.rest(), target.rest());
    from.deployed_api(
        "Ledger",
        "/ledger",
        &upstream.url(),
        json!([{"target": "/entries", "verb": "GET", "authType": "None"}]),
    )
    .await;
    // The Publisher lets an API viewer export; the Admin API wants an administrator.
    from.create_user("viewer-v", "viewer-pass-1", &["Internal/publisher"])
        .await;
    let viewer = from.as_user("viewer-v", "viewer-pass-1");
    let response = viewer
        .request(
            Method::GET,
            &format!("{ADMIN}/export/api?name=Ledger&version=1.0.0"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);

    let zip = download(
        &from,
        &format!("{ADMIN}/export/api?name=Ledger&version=1.0.0&format=YAML"),
        "application/zip",
    )
    .await;
    assert_eq!(
        zip,
        download(
            &from,
            &format!("{PUB}/apis/export?name=Ledger&version=1.0.0&format=YAML"),
            "application/zip",
        )
        .await,
        "the same project as the Publisher's export"
    );
    let (status, outcome) = upload(&to, &format!("{ADMIN}/import/api"), "Ledger.zip", &zip).await;
    assert_eq!(status, StatusCode::OK, "{outcome}");
    assert_eq!(outcome["action"], "CREATED", "{outcome}");
    assert!(
        target
            .eventually_gw_status("/ledger/1.0.0/entries", "", 200)
            .await
    );
    // Once there, importing it again without overwrite is a conflict, as in the Publisher.
    let (status, body) = upload(&to, &format!("{ADMIN}/import/api"), "Ledger.zip", &zip).await;
    assert_wso2_error(status, &body, StatusCode::CONFLICT, "Ledger");
    let (status, body) = to
        .get(&format!("{ADMIN}/export/api?name=Nothing&version=1.0.0"))
        .await;
    assert_wso2_error(status, &body, StatusCode::NOT_FOUND, "Nothing");
}
