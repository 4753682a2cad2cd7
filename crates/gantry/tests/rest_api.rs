//! The control plane's REST APIs as a WSO2 user drives them, run twice: on the embedded
//! SQLite store (`gantry up`) and on PostgreSQL (`gantry control-plane`, a fresh database).
//!
//! Covers: DCR + password grant for REST tokens with `apim:*` scopes, per-operation scope
//! checks (403), SCIM users and groups, one subscriber's resources invisible to another
//! (404), devportal browsing and search, ETag / If-Match, bad input leaving the store
//! unchanged.
#![allow(clippy::unwrap_used)]

use gantry_testkit::cluster::{ControlPlaneProcess, TestDatabase};
use gantry_testkit::process::GantryUp;
use gantry_testkit::rest::Rest;
use reqwest::StatusCode;
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_gantry");
const PUB: &str = "/api/am/publisher/v4";
const DEV: &str = "/api/am/devportal/v3";
const ADM: &str = "/api/am/admin/v4";
const PASSWORD: &str = "correct-horse-9";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rest_suite_on_sqlite() {
    let mut up = GantryUp::start_with(BIN, false).await;
    let rest = up.rest();
    suite(&rest).await;
    self_signup(&rest, true).await;
    up.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rest_suite_on_postgres() {
    let Some(db) = TestDatabase::create().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut cp = ControlPlaneProcess::start(BIN, &db.url, dir.path(), None).await;
    let rest = Rest::new(&cp.url(""), cp.client());
    suite(&rest).await;
    self_signup(&rest, false).await;
    cp.kill();
    db.drop_now().await;
}

async fn suite(admin: &Rest) {
    wso2_documented_flow(admin).await;
    users_and_groups(admin).await;
    scopes_decide_what_a_token_may_do(admin).await;
    roles_decide_what_basic_users_may_do(admin).await;
    subscribers_never_see_each_others_resources(admin).await;
    devportal_lists_only_visible_apis_and_searches(admin).await;
    if_match_guards_updates(admin).await;
    openapi_import_definition_and_copy(admin).await;
    throttling_policies_are_managed_by_admins(admin).await;
}

async fn throttling_policies_are_managed_by_admins(admin: &Rest) {
    let base = format!("{ADM}/throttling/policies/subscription");
    let (_, list) = admin.get(&base).await;
    let names: Vec<&str> = list["list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["policyName"].as_str().unwrap())
        .collect();
    for tier in ["Unlimited", "Gold", "Silver", "Bronze"] {
        assert!(names.contains(&tier), "{names:?}");
    }
    let body = json!({"policyName": "Platinum", "description": "10 per minute",
        "defaultLimit": {"type": "REQUESTCOUNTLIMIT",
            "requestCount": {"timeUnit": "min", "unitTime": 1, "requestCount": 10}}});
    let (status, _) = admin
        .as_user("subscriber-s", PASSWORD)
        .post(&base, body.clone())
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, created) = admin.post(&base, body.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let policy_id = created["policyId"].as_str().unwrap();
    let (status, _) = admin.post(&base, body.clone()).await;
    assert_eq!(status, StatusCode::CONFLICT);
    let mut bad = body.clone();
    bad["policyName"] = json!("Weird");
    bad["defaultLimit"]["requestCount"]["timeUnit"] = json!("fortnight");
    let (status, error) = admin.post(&base, bad).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(error["description"].as_str().unwrap().contains("timeUnit"));
    let (status, _) = admin
        .get(&format!("{ADM}/throttling/policies/colour"))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // An API may offer it now; while it does, it cannot be deleted.
    let (status, api) = admin
        .post(
            &format!("{PUB}/apis"),
            json!({"name": "Premium", "context": "/premium", "version": "1.0.0",
                   "policies": ["Platinum"]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{api}");
    let (status, error) = admin.delete(&format!("{base}/{policy_id}")).await;
    assert_eq!(status, StatusCode::CONFLICT, "{error}");
    let mut changed = body.clone();
    changed["defaultLimit"]["requestCount"]["requestCount"] = json!(20);
    let (status, updated) = admin.put(&format!("{base}/{policy_id}"), changed).await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(updated["defaultLimit"]["requestCount"]["requestCount"], 20);
    admin
        .delete(&format!("{PUB}/apis/{}", api["id"].as_str().unwrap()))
        .await;
    let (status, _) = admin.delete(&format!("{base}/{policy_id}")).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = admin.get(&format!("{base}/{policy_id}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, unlimited) = admin
        .get(&format!("{ADM}/throttling/policies/application"))
        .await;
    let id = unlimited["list"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["policyName"] == "Unlimited")
        .unwrap()["policyId"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, _) = admin
        .delete(&format!("{ADM}/throttling/policies/application/{id}"))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
}

const PETSTORE_YAML: &str = "openapi: 3.0.1
info:
  title: Petstore
  version: 1.0.0
  description: Pets for tests
servers:
  - url: http://127.0.0.1:9/petstore
paths:
  /pets:
    get:
      x-auth-type: None
      responses: {}
    post:
      security:
        - default: [pets:write]
      responses: {}
  /pets/{petId}:
    get:
      x-throttling-tier: 10KPerMin
      responses: {}
";

async fn openapi_import_definition_and_copy(admin: &Rest) {
    let (_, before) = admin.get(&format!("{PUB}/apis?limit=1")).await;
    let total_before = before["pagination"]["total"].clone();
    // Invalid documents: 400 naming the problem, nothing created.
    for (bad, expect) in [
        (
            "openapi: 3.0.1\ninfo: {title: X}\npaths: {}",
            "info.version",
        ),
        ("{\"swagger\": \"1.2\"}", "swagger"),
        ("just: [unclosed", "YAML"),
    ] {
        let (status, error) = admin
            .send_multipart(
                reqwest::Method::POST,
                &format!("{PUB}/apis/import-openapi"),
                &[
                    ("inlineAPIDefinition", bad),
                    ("additionalProperties", r#"{"context": "/bad-import"}"#),
                ],
                &[],
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {error}");
        assert!(
            error["description"].as_str().unwrap().contains(expect),
            "{bad}: {error}"
        );
    }
    let (status, error) = admin
        .send_multipart(
            reqwest::Method::POST,
            &format!("{PUB}/apis/import-openapi"),
            &[
                ("inlineAPIDefinition", PETSTORE_YAML),
                ("additionalProperties", "{not json"),
            ],
            &[],
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
    let (_, after) = admin.get(&format!("{PUB}/apis?limit=1")).await;
    assert_eq!(
        after["pagination"]["total"], total_before,
        "store unchanged"
    );
    let (_, check) = admin
        .send_multipart(
            reqwest::Method::POST,
            &format!("{PUB}/apis/validate-openapi"),
            &[("inlineAPIDefinition", "openapi: 3.0.1")],
            &[],
        )
        .await;
    assert_eq!(check["isValid"], false, "{check}");

    // A valid YAML document: operations, endpoint and name come from it.
    let (status, api) = admin
        .send_multipart(
            reqwest::Method::POST,
            &format!("{PUB}/apis/import-openapi"),
            &[
                ("file", PETSTORE_YAML),
                (
                    "additionalProperties",
                    r#"{"context": "/petstore", "policies": ["Gold"]}"#,
                ),
            ],
            &[],
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{api}");
    assert_eq!(api["name"], "Petstore");
    assert_eq!(api["version"], "1.0.0");
    assert_eq!(api["lifeCycleStatus"], "CREATED");
    assert_eq!(
        api["endpointConfig"]["production_endpoints"]["url"],
        "http://127.0.0.1:9/petstore"
    );
    let ops = api["operations"].as_array().unwrap();
    assert_eq!(ops.len(), 3, "{api}");
    let post = ops.iter().find(|o| o["verb"] == "POST").unwrap();
    assert_eq!(post["scopes"][0], "pets:write");
    let open = ops
        .iter()
        .find(|o| o["verb"] == "GET" && o["target"] == "/pets")
        .unwrap();
    assert_eq!(open["authType"], "None");
    let api_id = api["id"].as_str().unwrap();
    let (status, document) = admin.get(&format!("{PUB}/apis/{api_id}/swagger")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(document["info"]["title"], "Petstore");
    assert!(document["paths"]["/pets/{petId}"]["get"].is_object());

    // PUT /swagger replaces the operations.
    let (status, _) = admin.send_multipart(
        reqwest::Method::PUT,
        &format!("{PUB}/apis/{api_id}/swagger"),
        &[(
            "apiDefinition",
            r#"{"openapi":"3.0.1","info":{"title":"Petstore","version":"1.0.0"},"paths":{"/owners":{"get":{}}}}"#,
        )], &[])
    .await;
    assert_eq!(status, StatusCode::OK);
    let (_, updated) = admin.get(&format!("{PUB}/apis/{api_id}")).await;
    assert_eq!(updated["operations"].as_array().unwrap().len(), 1);
    assert_eq!(updated["operations"][0]["target"], "/owners");

    // An API made without a document gets one generated from its operations.
    let (_, plain) = create_api(admin, "NoDoc", "/no-doc", json!([])).await;
    let (_, generated) = admin
        .get(&format!(
            "{PUB}/apis/{}/swagger",
            plain["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(generated["openapi"], "3.0.1");
    assert!(generated["paths"]["/*"]["get"].is_object(), "{generated}");

    // copy-api: a new version in CREATED, same operations and document.
    let (status, copy) = admin
        .post_empty(&format!(
            "{PUB}/apis/copy-api?apiId={api_id}&newVersion=2.0.0"
        ))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{copy}");
    assert_eq!(copy["version"], "2.0.0");
    assert_eq!(copy["context"], "/petstore");
    assert_eq!(copy["lifeCycleStatus"], "CREATED");
    assert_ne!(copy["id"], api_id);
    assert_eq!(copy["operations"][0]["target"], "/owners");
    let (_, copied_doc) = admin
        .get(&format!(
            "{PUB}/apis/{}/swagger",
            copy["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(copied_doc["info"]["version"], "2.0.0");
    let (status, _) = admin
        .post_empty(&format!(
            "{PUB}/apis/copy-api?apiId={api_id}&newVersion=2.0.0"
        ))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "the version exists");
    let (status, _) = admin
        .post_empty(&format!("{PUB}/apis/copy-api?apiId=nope&newVersion=3.0.0"))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// WSO2's documented REST flow, with bearer tokens only: a publisher registers a client
/// (DCR), gets a token with the password grant and publisher scopes, imports an OpenAPI
/// file, publishes, makes a revision and deploys it to two environments; a subscriber does
/// the same with devportal scopes and subscribes from their own application.
async fn wso2_documented_flow(admin: &Rest) {
    admin
        .create_user("pat-publisher", PASSWORD, &["creator", "publisher"])
        .await;
    admin
        .create_user("sue-subscriber", PASSWORD, &["subscriber"])
        .await;
    let (status, env) = admin
        .post(
            &format!("{ADM}/environments"),
            json!({"name": "dp-flow-b", "displayName": "Flow B", "vhosts": [{"host": "localhost"}]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{env}");

    let pat_basic = admin.as_user("pat-publisher", PASSWORD);
    let (token, granted) = pat_basic
        .rest_token(
            "pat-publisher",
            PASSWORD,
            "apim:api_view apim:api_create apim:api_publish apim:subscription_view apim:admin",
        )
        .await;
    assert!(!granted.contains("apim:admin"), "roles decide: {granted}");
    let pat = admin.with_bearer(&token);
    let (status, api) = pat.send_multipart(
        reqwest::Method::POST,
        &format!("{PUB}/apis/import-openapi"),
        &[
            ("file", PETSTORE_YAML),
            (
                "additionalProperties",
                r#"{"name": "FlowPets", "context": "/flow-pets", "policies": ["Gold", "Unlimited"]}"#,
            ),
        ], &[])
    .await;
    assert_eq!(status, StatusCode::CREATED, "{api}");
    assert_eq!(api["provider"], "pat-publisher");
    let api_id = api["id"].as_str().unwrap();
    let (status, _) = pat
        .post_empty(&format!(
            "{PUB}/apis/change-lifecycle?apiId={api_id}&action=Publish"
        ))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, revision) = pat
        .post(
            &format!("{PUB}/apis/{api_id}/revisions"),
            json!({"description": "first"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{revision}");
    let revision_id = revision["id"].as_str().unwrap();
    let (status, body) = pat
        .post(
            &format!("{PUB}/apis/{api_id}/deploy-revision?revisionId={revision_id}"),
            json!([{"name": "Default", "vhost": "localhost"}, {"name": "dp-flow-b", "vhost": "localhost"}]),
        )
        .await;
    assert!(status.is_success(), "{body}");
    let (_, deployments) = pat.get(&format!("{PUB}/apis/{api_id}/deployments")).await;
    let mut names: Vec<&str> = deployments["list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["name"].as_str().unwrap())
        .collect();
    names.sort_unstable();
    assert_eq!(names, ["Default", "dp-flow-b"], "{deployments}");

    let sue_basic = admin.as_user("sue-subscriber", PASSWORD);
    let (token, granted) = sue_basic
        .rest_token(
            "sue-subscriber",
            PASSWORD,
            "apim:subscribe apim:app_manage apim:sub_manage apim:api_create",
        )
        .await;
    assert!(!granted.contains("apim:api_create"), "{granted}");
    let sue = admin.with_bearer(&token);
    let (status, found) = sue.get(&format!("{DEV}/apis?query=name:FlowPets")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(found["count"], 1, "{found}");
    let app_id = sue.application("sue-app").await;
    let (status, sub) = sue
        .post(
            &format!("{DEV}/subscriptions"),
            json!({"applicationId": app_id, "apiId": api_id, "throttlingPolicy": "Gold"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{sub}");
    let (key, _) = sue.keys(&app_id).await;
    assert!(!key.is_empty());
    // The publisher sees Sue's subscription; Sue cannot touch the API.
    let (status, subs) = pat
        .get(&format!("{PUB}/subscriptions?apiId={api_id}"))
        .await;
    assert_eq!(status, StatusCode::OK, "{subs}");
    assert_eq!(
        subs["list"][0]["applicationInfo"]["subscriber"],
        "sue-subscriber"
    );
    let (status, _) = sue.delete(&format!("{PUB}/apis/{api_id}")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

async fn create_api(rest: &Rest, name: &str, context: &str, tags: Value) -> (StatusCode, Value) {
    rest.post(
        &format!("{PUB}/apis"),
        json!({"name": name, "context": context, "version": "1.0.0", "tags": tags,
               "description": format!("{name} for tests"),
               "policies": ["Gold", "Unlimited"],
               "endpointConfig": {"endpoint_type": "http",
                   "production_endpoints": {"url": "http://127.0.0.1:9/"}}}),
    )
    .await
}

async fn users_and_groups(admin: &Rest) {
    let id = admin
        .create_user("scim-user", PASSWORD, &["subscriber"])
        .await;
    // Duplicate, weak password, unknown role: SCIM errors, nothing created.
    let (status, body) = admin
        .post(
            "/scim2/Users",
            json!({"userName": "scim-user", "password": PASSWORD}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["scimType"], "uniqueness");
    let (status, body) = admin
        .post(
            "/scim2/Users",
            json!({"userName": "weak", "password": "short"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body["detail"].as_str().unwrap().contains("8 characters"));
    let (status, body) = admin
        .post(
            "/scim2/Users",
            json!({"userName": "rooty", "password": PASSWORD, "roles": [{"value": "root"}]}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (_, list) = admin
        .get("/scim2/Users?filter=userName%20eq%20%22rooty%22")
        .await;
    assert_eq!(list["totalResults"], 0, "{list}");

    let (status, user) = admin.get(&format!("/scim2/Users/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(user["userName"], "scim-user");
    assert_eq!(user["roles"][0]["value"], "Internal/subscriber");
    assert!(user.get("password").is_none(), "the password never leaves");
    let (_, list) = admin
        .get("/scim2/Users?filter=userName%20eq%20%22scim-user%22")
        .await;
    assert_eq!(list["totalResults"], 1);
    assert_eq!(list["Resources"][0]["id"], id.as_str());

    // Groups are the roles: make the user a creator through the group, see it on the user.
    let (_, groups) = admin
        .get("/scim2/Groups?filter=displayName%20eq%20%22Internal/creator%22")
        .await;
    let group_id = groups["Resources"][0]["id"].as_str().unwrap().to_owned();
    let (status, group) = admin
        .send(
            reqwest::Method::PATCH,
            &format!("/scim2/Groups/{group_id}"),
            Some(
                json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [{"op": "add", "value": {"members": [{"value": id}]}}]}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{group}");
    assert!(
        group["members"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["display"] == "scim-user")
    );
    let (_, user) = admin.get(&format!("/scim2/Users/{id}")).await;
    let roles: Vec<&str> = user["roles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["value"].as_str().unwrap())
        .collect();
    assert!(roles.contains(&"Internal/creator"), "{user}");
    // The new role applies at once to Basic calls.
    let creator = admin.as_user("scim-user", PASSWORD);
    let (status, body) = create_api(&creator, "ScimMade", "/scim-made", json!([])).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    // Password change through PATCH: the old one stops working.
    let (status, _) = admin
        .send(
            reqwest::Method::PATCH,
            &format!("/scim2/Users/{id}"),
            Some(
                json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [{"op": "replace", "path": "password", "value": "another-pass-77"}]}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = creator.get(&format!("{PUB}/apis")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // Only admins manage users.
    let (status, _) = admin
        .as_user("scim-user", "another-pass-77")
        .get("/scim2/Users")
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = admin.delete(&format!("/scim2/Users/{id}")).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = admin.get(&format!("/scim2/Users/{id}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

async fn scopes_decide_what_a_token_may_do(admin: &Rest) {
    // WSO2's documented flow: DCR, then a password grant asking for REST scopes.
    let (token, granted) = admin
        .rest_token(
            "admin",
            gantry_testkit::process::ADMIN_PASSWORD,
            "apim:api_view apim:api_create apim:api_publish apim:subscribe apim:app_manage apim:sub_manage apim:admin",
        )
        .await;
    assert!(granted.contains("apim:api_create"), "{granted}");
    let bearer = admin.with_bearer(&token);
    let (status, api) = create_api(&bearer, "Bearer Made", "/bearer-made", json!(["tok"])).await;
    assert_eq!(status, StatusCode::CREATED, "{api}");
    let api_id = api["id"].as_str().unwrap();
    let (status, _) = bearer
        .post_empty(&format!(
            "{PUB}/apis/change-lifecycle?apiId={api_id}&action=Publish"
        ))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = bearer.get(&format!("{ADM}/environments")).await;
    assert_eq!(status, StatusCode::OK);

    // A view-only token reads but cannot change anything.
    let (view_token, granted) = admin
        .rest_token(
            "admin",
            gantry_testkit::process::ADMIN_PASSWORD,
            "apim:api_view",
        )
        .await;
    assert_eq!(granted, "apim:api_view");
    let viewer = admin.with_bearer(&view_token);
    let (status, _) = viewer.get(&format!("{PUB}/apis/{api_id}")).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = create_api(&viewer, "Nope", "/nope", json!([])).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(
        body["description"]
            .as_str()
            .unwrap()
            .contains("apim:api_create")
    );
    let (status, _) = viewer.delete(&format!("{PUB}/apis/{api_id}")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = viewer
        .post_empty(&format!(
            "{PUB}/apis/change-lifecycle?apiId={api_id}&action=Block"
        ))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = viewer.get(&format!("{ADM}/environments")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = viewer.get(&format!("{DEV}/applications")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = viewer.get("/scim2/Users").await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // A forged or revoked token is 401.
    let forged = format!("{}x", &view_token[..view_token.len() - 1]);
    let (status, _) = admin.with_bearer(&forged).get(&format!("{PUB}/apis")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = bearer.delete(&format!("{PUB}/apis/{api_id}")).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "api_delete was not granted");
    let (status, _) = admin.delete(&format!("{PUB}/apis/{api_id}")).await;
    assert_eq!(status, StatusCode::OK);
}

async fn roles_decide_what_basic_users_may_do(admin: &Rest) {
    admin
        .create_user("creator-c", PASSWORD, &["Internal/creator"])
        .await;
    admin
        .create_user("publisher-p", PASSWORD, &["publisher"])
        .await;
    admin
        .create_user("subscriber-s", PASSWORD, &["subscriber"])
        .await;
    let creator = admin.as_user("creator-c", PASSWORD);
    let publisher = admin.as_user("publisher-p", PASSWORD);
    let subscriber = admin.as_user("subscriber-s", PASSWORD);

    let (status, _) = create_api(&subscriber, "Sub Made", "/sub-made", json!([])).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = create_api(&publisher, "Pub Made", "/pub-made", json!([])).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "publishers do not create");
    let (status, api) = create_api(&creator, "Creator Made", "/creator-made", json!([])).await;
    assert_eq!(status, StatusCode::CREATED);
    let api_id = api["id"].as_str().unwrap();
    let publish = format!("{PUB}/apis/change-lifecycle?apiId={api_id}&action=Publish");
    let (status, _) = creator.post_empty(&publish).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "creators do not publish");
    let (status, _) = publisher.post_empty(&publish).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = subscriber.get(&format!("{PUB}/apis")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = creator.get(&format!("{ADM}/environments")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // A subscriber asking for publisher scopes gets only what the role allows.
    let (_, granted) = admin
        .rest_token(
            "subscriber-s",
            PASSWORD,
            "apim:api_create apim:subscribe apim:app_manage",
        )
        .await;
    assert!(!granted.contains("apim:api_create"), "{granted}");
    assert!(granted.contains("apim:subscribe"), "{granted}");
}

async fn subscribers_never_see_each_others_resources(admin: &Rest) {
    admin.create_user("alice", PASSWORD, &["subscriber"]).await;
    admin
        .create_user("mallory", PASSWORD, &["subscriber"])
        .await;
    let alice = admin.as_user("alice", PASSWORD);
    let mallory = admin.as_user("mallory", PASSWORD);
    let (_, api) = create_api(admin, "Shared", "/shared", json!([])).await;
    let api_id = api["id"].as_str().unwrap();
    admin
        .post_empty(&format!(
            "{PUB}/apis/change-lifecycle?apiId={api_id}&action=Publish"
        ))
        .await;

    let app_id = alice.application("alice-app").await;
    let (status, sub) = alice
        .post(
            &format!("{DEV}/subscriptions"),
            json!({"applicationId": app_id, "apiId": api_id, "throttlingPolicy": "Gold"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{sub}");
    let sub_id = sub["subscriptionId"].as_str().unwrap();
    let (key, _) = alice.keys(&app_id).await;

    for path in [
        format!("{DEV}/applications/{app_id}"),
        format!("{DEV}/applications/{app_id}/keys"),
        format!("{DEV}/subscriptions/{sub_id}"),
        format!("{DEV}/subscriptions?applicationId={app_id}"),
    ] {
        let (status, body) = mallory.get(&path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "GET {path}: {body}");
    }
    let (status, _) = mallory
        .post(
            &format!("{DEV}/applications/{app_id}/generate-keys"),
            json!({"keyType": "SANDBOX", "grantTypesToBeSupported": ["client_credentials"]}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = mallory
        .post(
            &format!("{DEV}/subscriptions"),
            json!({"applicationId": app_id, "apiId": api_id, "throttlingPolicy": "Unlimited"}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = mallory
        .delete(&format!("{DEV}/subscriptions/{sub_id}"))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = mallory
        .delete(&format!("{DEV}/applications/{app_id}"))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, list) = mallory.get(&format!("{DEV}/applications")).await;
    assert!(
        !list.to_string().contains(&app_id) && !list.to_string().contains(&key),
        "{list}"
    );
    // Alice still has all of it.
    let (status, _) = alice.get(&format!("{DEV}/subscriptions/{sub_id}")).await;
    assert_eq!(status, StatusCode::OK);
    let (status, app) = alice.get(&format!("{DEV}/applications/{app_id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(app["name"], "alice-app");
}

async fn devportal_lists_only_visible_apis_and_searches(admin: &Rest) {
    let (_, draft) = create_api(admin, "Draft Only", "/draft-only", json!(["food"])).await;
    let draft_id = draft["id"].as_str().unwrap();
    let (_, live) = create_api(admin, "Pizza Live", "/pizza-live", json!(["food"])).await;
    let live_id = live["id"].as_str().unwrap();
    admin
        .post_empty(&format!(
            "{PUB}/apis/change-lifecycle?apiId={live_id}&action=Publish"
        ))
        .await;
    let anonymous = admin.anonymous();
    let (status, list) = anonymous.get(&format!("{DEV}/apis?limit=100")).await;
    assert_eq!(status, StatusCode::OK, "anonymous users browse, as in WSO2");
    let names: Vec<&str> = list["list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"Pizza Live"), "{names:?}");
    assert!(!names.contains(&"Draft Only"), "{names:?}");
    let (status, _) = anonymous.get(&format!("{DEV}/apis/{draft_id}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, api) = anonymous.get(&format!("{DEV}/apis/{live_id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(api["tiers"][0]["tierName"], "Gold");
    assert!(api["operations"].as_array().unwrap().len() >= 5);

    // Search: devportal by tag, publisher by name and status.
    let (_, found) = anonymous.get(&format!("{DEV}/apis?query=tag:food")).await;
    assert_eq!(found["count"], 1, "{found}");
    assert_eq!(found["list"][0]["id"], live_id);
    let (_, found) = admin.get(&format!("{PUB}/apis?query=name:pizza")).await;
    assert_eq!(found["pagination"]["total"], 1, "{found}");
    let (_, found) = admin.get(&format!("{PUB}/apis?query=tag:food")).await;
    assert_eq!(found["pagination"]["total"], 2, "{found}");
    let (_, found) = admin
        .get(&format!("{PUB}/apis?query=tag:food%20status:CREATED"))
        .await;
    assert_eq!(found["list"][0]["id"], draft_id, "{found}");
    let (status, body) = admin.get(&format!("{PUB}/apis?query=colour:red")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    // Paging of a search.
    let (_, page) = admin
        .get(&format!("{PUB}/apis?query=tag:food&limit=1&offset=1"))
        .await;
    assert_eq!(page["count"], 1);
    assert_eq!(page["pagination"]["total"], 2);
}

async fn if_match_guards_updates(admin: &Rest) {
    let (_, api) = create_api(admin, "Tagged", "/tagged", json!([])).await;
    let api_id = api["id"].as_str().unwrap();
    let path = format!("{PUB}/apis/{api_id}");
    let response = admin
        .request(reqwest::Method::GET, &path)
        .send()
        .await
        .unwrap();
    let etag = response.headers()["etag"].to_str().unwrap().to_owned();
    let mut body: Value = response.json().await.unwrap();
    body["description"] = json!("first writer");
    let first = admin
        .request(reqwest::Method::PUT, &path)
        .header("if-match", &etag)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(first.status(), StatusCode::OK);
    let new_etag = first.headers()["etag"].to_str().unwrap().to_owned();
    assert_ne!(new_etag, etag);
    // A second writer holding the old ETag loses, and the store keeps the first change.
    body["description"] = json!("second writer");
    let second = admin
        .request(reqwest::Method::PUT, &path)
        .header("if-match", &etag)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(second.status(), StatusCode::PRECONDITION_FAILED);
    let error: Value = second.json().await.unwrap();
    assert_eq!(error["code"], 412);
    let (_, stored) = admin.get(&path).await;
    assert_eq!(stored["description"], "first writer");
    // Bad input leaves it unchanged too.
    let (status, error) = admin
        .put(&path, json!({"endpointConfig": "not an object"}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
    let (_, stored) = admin.get(&path).await;
    assert_eq!(stored["description"], "first writer");
}

/// WSO2's self-registration endpoint: on for `gantry up`, off for `gantry control-plane`.
async fn self_signup(admin: &Rest, enabled: bool) {
    let anonymous = admin.anonymous();
    let body = json!({"user": {"username": "self-made@carbon.super", "realm": "PRIMARY",
        "password": "self-made-pass-1",
        "claims": [{"uri": "http://wso2.org/claims/emailaddress", "value": "self@example.com"}]},
        "properties": []});
    let (status, created) = anonymous
        .post("/api/identity/user/v1.0/me", body.clone())
        .await;
    if !enabled {
        assert_eq!(status, StatusCode::FORBIDDEN, "{created}");
        let (_, list) = admin
            .get("/scim2/Users?filter=userName%20eq%20%22self-made%22")
            .await;
        assert_eq!(list["totalResults"], 0);
        return;
    }
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["username"], "self-made");
    let (status, _) = anonymous.post("/api/identity/user/v1.0/me", body).await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, error) = anonymous
        .post(
            "/api/identity/user/v1.0/me",
            json!({"user": {"username": "shorty", "password": "short"}}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
    assert!(
        error["description"]
            .as_str()
            .unwrap()
            .contains("user.password")
    );
    // The new user is a subscriber: applications yes, APIs no.
    let me = admin.as_user("self-made", "self-made-pass-1");
    let (status, _) = me.get(&format!("{DEV}/applications")).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = create_api(&me, "Mine", "/mine", json!([])).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (_, user) = admin
        .get("/scim2/Users?filter=userName%20eq%20%22self-made%22")
        .await;
    assert_eq!(
        user["Resources"][0]["emails"][0]["value"],
        "self@example.com"
    );
}
