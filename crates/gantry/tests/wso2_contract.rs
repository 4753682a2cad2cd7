//! WSO2 API Manager 4.7's own OpenAPI documents as the contract: the everyday flow driven
//! with WSO2-shaped requests (the bodies WSO2's documentation and clients send, explicit
//! `null`s included), every response checked against WSO2's schema for that operation and
//! status, and the coverage (operations of WSO2's documents Gantry answers) printed.
//!
//! The documents are read from the team's reference copies (`GANTRY_WSO2_SPECS`, or
//! `../shared/reference/wso2-specs/v4.7.0` beside the checkout, or
//! `/work/shared/reference/wso2-specs/v4.7.0`). Without them the test says so loudly and
//! does nothing, except under CI (`CI=true`), where it fails.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use gantry_testkit::GantryUp;
use gantry_testkit::openapi::{Nulls, find_operation, mismatches, wso2_document, wso2_specs_dir};
use gantry_testkit::rest::Rest;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_gantry");
const PUB: &str = "/api/am/publisher/v4";
const DEV: &str = "/api/am/devportal/v3";
const ADM: &str = "/api/am/admin/v4";

/// Statuses WSO2's documents get wrong and the product (and Gantry) answer otherwise:
/// (method, path prefix, status, why). Listed in docs/api-compatibility.md too.
const KNOWN_STATUS_DIFFERENCES: [(Method, &str, u16, &str); 1] = [(
    Method::POST,
    "/apis/",
    201,
    "deploy-revision: the document says 200 (described as 'Created'); WSO2 4.x answers 201",
)];

/// One WSO2 document and the REST base it describes.
struct Document {
    base: &'static str,
    doc: Value,
}

fn load(dir: &std::path::Path, file: &str, base: &'static str) -> Document {
    Document {
        base,
        doc: wso2_document(dir, file),
    }
}

/// The flow's calls, each checked against WSO2's documents; violations are collected so
/// one run shows them all.
struct Contract {
    docs: Vec<Document>,
    violations: Vec<String>,
}

impl Contract {
    /// Calls `method path`, expects `expected`, and checks the body against WSO2's schema
    /// for that operation and status; the body.
    async fn call(
        &mut self,
        rest: &Rest,
        method: Method,
        path: &str,
        body: Option<Value>,
        expected: StatusCode,
    ) -> Value {
        let (status, value) = rest.send(method.clone(), path, body).await;
        assert_eq!(status, expected, "{method} {path}: {value}");
        self.verify(&method, path, status, &value);
        value
    }

    /// `GET path`, expecting 200.
    async fn get(&mut self, rest: &Rest, path: &str) -> Value {
        self.call(rest, Method::GET, path, None, StatusCode::OK)
            .await
    }

    fn verify(&mut self, method: &Method, path: &str, status: StatusCode, value: &Value) {
        let document = self.docs.iter().find(|d| path.starts_with(d.base)).unwrap();
        let doc = &document.doc;
        let relative = &path[document.base.len()..];
        let Some(operation) = find_operation(doc, &method.as_str().to_lowercase(), relative) else {
            self.violations
                .push(format!("{method} {relative}: not in WSO2's document"));
            return;
        };
        let mut response = &operation["responses"][status.as_str()];
        if let Some(reference) = response.get("$ref").and_then(Value::as_str) {
            response = &doc["components"]["responses"][reference.rsplit('/').next().unwrap()];
        }
        if response.is_null()
            && KNOWN_STATUS_DIFFERENCES
                .iter()
                .any(|(m, p, s, _)| m == method && relative.starts_with(p) && *s == status.as_u16())
        {
            return;
        }
        if response.is_null() {
            self.violations.push(format!(
                "{method} {relative}: status {status} is not documented by WSO2"
            ));
            return;
        }
        let schema = &response["content"]["application/json"]["schema"];
        if schema.is_null() {
            return;
        }
        for error in mismatches(doc, schema, value, Nulls::AsAbsent) {
            self.violations
                .push(format!("{method} {relative} ({status}): {error}"));
        }
    }
}

/// Operations of WSO2's `doc` that Gantry's own served document (`ours`) also has.
fn coverage(wso2: &Value, ours: &Value) -> (usize, usize) {
    let normalise = |template: &str| {
        template
            .split('/')
            .map(|s| if s.starts_with('{') { "{}" } else { s })
            .collect::<Vec<_>>()
            .join("/")
    };
    let operations = |doc: &Value| -> Vec<(String, String)> {
        doc["paths"]
            .as_object()
            .into_iter()
            .flatten()
            .flat_map(|(template, item)| {
                item.as_object()
                    .into_iter()
                    .flatten()
                    .filter(|(m, _)| {
                        ["get", "put", "post", "delete", "patch", "head"].contains(&m.as_str())
                    })
                    .map(move |(m, _)| (m.clone(), normalise(template)))
            })
            .collect()
    };
    let theirs = operations(wso2);
    let ours = operations(ours);
    let answered = theirs.iter().filter(|op| ours.contains(op)).count();
    (answered, theirs.len())
}

/// An API as WSO2's documentation creates it (the PizzaShack sample): context without the
/// leading `/`, explicit `null`s for optional fields, and the fields WSO2 clients send.
fn pizza_shack(upstream: &str) -> Value {
    json!({
        "name": "PizzaShackAPI",
        "description": "This is a simple API for Pizza Shack online pizza delivery store.",
        "context": "pizza",
        "version": "1.0.0",
        "provider": "admin",
        "isDefaultVersion": null,
        "enableSchemaValidation": false,
        "type": "HTTP",
        "transport": ["http", "https"],
        "tags": ["pizza", "food"],
        "policies": ["Unlimited", "Gold"],
        "apiThrottlingPolicy": "Unlimited",
        "authorizationHeader": "Authorization",
        "apiKeyHeader": null,
        "securityScheme": ["oauth2"],
        "visibility": "PUBLIC",
        "visibleRoles": [],
        "visibleTenants": [],
        "subscriptionAvailability": "CURRENT_TENANT",
        "subscriptionAvailableTenants": [],
        "additionalProperties": [{"name": "owner-team", "value": "pizza", "display": true}],
        "additionalPropertiesMap": {"owner-team": {"name": "owner-team", "value": "pizza", "display": true}},
        "accessControl": "NONE",
        "accessControlRoles": [],
        "businessInformation": {
            "businessOwner": "businessowner",
            "businessOwnerEmail": "businessowner@wso2.com",
            "technicalOwner": "technicalowner",
            "technicalOwnerEmail": "technicalowner@wso2.com"
        },
        "corsConfiguration": {
            "corsConfigurationEnabled": false,
            "accessControlAllowOrigins": ["*"],
            "accessControlAllowCredentials": false,
            "accessControlAllowHeaders": ["authorization", "Access-Control-Allow-Origin", "Content-Type"],
            "accessControlAllowMethods": ["GET", "PUT", "POST", "DELETE", "PATCH", "OPTIONS"]
        },
        "apiPolicies": null,
        "categories": [],
        "gatewayVendor": "wso2",
        "endpointConfig": {
            "endpoint_type": "http",
            "sandbox_endpoints": {"url": upstream},
            "production_endpoints": {"url": upstream}
        },
        "endpointImplementationType": "ENDPOINT",
        "operations": [
            {"target": "/order/{orderId}", "verb": "GET", "authType": "Application & Application User",
             "throttlingPolicy": "Unlimited", "operationPolicies": null},
            {"target": "/menu", "verb": "GET", "authType": "Application & Application User",
             "throttlingPolicy": "Unlimited", "operationPolicies": null}
        ]
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wso2_flow_conforms_to_wso2_schemas() {
    let Some(dir) = wso2_specs_dir() else {
        let message = "WSO2 4.7 reference documents not found (set GANTRY_WSO2_SPECS): \
                       the WSO2 contract test did NOT run";
        assert!(std::env::var("CI").as_deref() != Ok("true"), "{message}");
        eprintln!("\n!!! SKIPPED: {message}\n");
        return;
    };
    let docs = vec![
        load(&dir, "publisher-api.yaml", PUB),
        load(&dir, "devportal-api.yaml", DEV),
        load(&dir, "admin-api.yaml", ADM),
    ];
    let mut up = GantryUp::start_with(BIN, false).await;
    let admin = up.rest();
    let anonymous = admin.anonymous();

    // Coverage: WSO2's operations that Gantry's own documents (served) also describe.
    let mut lines = Vec::new();
    let (mut answered, mut total) = (0, 0);
    for document in &docs {
        let (status, ours) = anonymous
            .get(&format!("{}/swagger.json", document.base))
            .await;
        assert_eq!(status, StatusCode::OK);
        let (a, t) = coverage(&document.doc, &ours);
        lines.push(format!("{}: {a}/{t}", document.base));
        answered += a;
        total += t;
    }
    eprintln!(
        "WSO2 4.7 operations answered: {answered}/{total} ({})",
        lines.join(", ")
    );

    let mut contract = Contract {
        docs,
        violations: Vec::new(),
    };

    // Publisher: create as WSO2's documentation does, read, list, update, lifecycle.
    let api = contract
        .call(
            &admin,
            Method::POST,
            &format!("{PUB}/apis"),
            Some(pizza_shack("http://127.0.0.1:9/")),
            StatusCode::CREATED,
        )
        .await;
    let api_id = api["id"].as_str().unwrap().to_owned();
    assert_eq!(
        api["context"], "/pizza",
        "WSO2 prefixes the context with '/'"
    );
    for field in [
        "businessInformation",
        "additionalProperties",
        "visibleRoles",
        "subscriptionAvailability",
        "accessControl",
        "categories",
        "gatewayVendor",
        "apiThrottlingPolicy",
    ] {
        assert!(!api[field].is_null(), "{field} was dropped: {}", api[field]);
    }
    assert_eq!(
        api["businessInformation"]["technicalOwnerEmail"],
        "technicalowner@wso2.com"
    );
    assert_eq!(api["additionalProperties"][0]["value"], "pizza");
    assert_eq!(
        api["tags"],
        json!(["pizza", "food"]),
        "tags keep their order"
    );

    contract.get(&admin, &format!("{PUB}/apis/{api_id}")).await;
    contract
        .get(&admin, &format!("{PUB}/apis/admin-PizzaShackAPI-1.0.0"))
        .await;
    contract
        .get(
            &admin,
            &format!("{PUB}/apis?limit=10&offset=0&sortBy=name&sortOrder=asc"),
        )
        .await;
    let mut updated = api.clone();
    updated["description"] = json!("Updated");
    contract
        .call(
            &admin,
            Method::PUT,
            &format!("{PUB}/apis/{api_id}"),
            Some(updated),
            StatusCode::OK,
        )
        .await;
    let revision = contract
        .call(
            &admin,
            Method::POST,
            &format!("{PUB}/apis/{api_id}/revisions"),
            Some(json!({"description": "first"})),
            StatusCode::CREATED,
        )
        .await;
    let revision_id = revision["id"].as_str().unwrap().to_owned();
    contract
        .call(
            &admin,
            Method::POST,
            &format!("{PUB}/apis/{api_id}/deploy-revision?revisionId={revision_id}"),
            Some(json!([{"name": "Default", "vhost": "localhost", "displayOnDevportal": true}])),
            StatusCode::CREATED,
        )
        .await;
    contract
        .get(
            &admin,
            &format!("{PUB}/apis/{api_id}/revisions?query=deployed:true"),
        )
        .await;
    contract
        .get(&admin, &format!("{PUB}/apis/{api_id}/deployments"))
        .await;
    contract
        .call(
            &admin,
            Method::POST,
            &format!("{PUB}/apis/change-lifecycle?apiId={api_id}&action=Publish"),
            None,
            StatusCode::OK,
        )
        .await;
    contract
        .get(&admin, &format!("{PUB}/apis/{api_id}/lifecycle-state"))
        .await;

    // Lookups the Publisher's pages and scripts make.
    let tiers = contract
        .get(&admin, &format!("{PUB}/throttling-policies/subscription"))
        .await;
    assert!(tiers["count"].as_i64().unwrap() >= 3, "{tiers}");
    let gold = contract
        .get(
            &admin,
            &format!("{PUB}/throttling-policies/subscription/Gold"),
        )
        .await;
    assert_eq!(gold["name"], "Gold");
    let (status, offered) = admin
        .get(&format!("{PUB}/apis/{api_id}/subscription-policies"))
        .await;
    assert_eq!(status, StatusCode::OK, "{offered}");
    let offered_names: Vec<&str> = offered
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(offered_names, ["Unlimited", "Gold"], "{offered}");
    let paths = contract
        .get(&admin, &format!("{PUB}/apis/{api_id}/resource-paths"))
        .await;
    assert_eq!(
        paths["list"][0]["resourcePath"], "/order/{orderId}",
        "{paths}"
    );
    contract
        .call(
            &admin,
            Method::POST,
            &format!("{PUB}/apis/validate?query=name:PizzaShackAPI"),
            None,
            StatusCode::OK,
        )
        .await;
    contract
        .call(
            &admin,
            Method::POST,
            &format!("{PUB}/apis/validate?query=context:%2Fpizza"),
            None,
            StatusCode::OK,
        )
        .await;
    contract
        .call(
            &admin,
            Method::POST,
            &format!("{PUB}/apis/validate?query=name:NoSuchAPI"),
            None,
            StatusCode::NOT_FOUND,
        )
        .await;
    let found = contract
        .get(&admin, &format!("{PUB}/search?query=pizza"))
        .await;
    assert_eq!(found["list"][0]["id"], api_id, "{found}");
    contract.get(&admin, &format!("{PUB}/settings")).await;
    let managers = contract.get(&admin, &format!("{PUB}/key-managers")).await;
    assert_eq!(managers["list"][0]["name"], "Resident Key Manager");
    // Restoring the revision brings back its description, not its lifecycle state.
    let mut changed = contract.get(&admin, &format!("{PUB}/apis/{api_id}")).await;
    changed["description"] = json!("Changed after the revision");
    contract
        .call(
            &admin,
            Method::PUT,
            &format!("{PUB}/apis/{api_id}"),
            Some(changed),
            StatusCode::OK,
        )
        .await;
    let restored = contract
        .call(
            &admin,
            Method::POST,
            &format!("{PUB}/apis/{api_id}/restore-revision?revisionId={revision_id}"),
            None,
            StatusCode::CREATED,
        )
        .await;
    assert_eq!(restored["description"], "Updated", "{restored}");
    assert_eq!(
        restored["lifeCycleStatus"], "PUBLISHED",
        "the lifecycle state is not restored"
    );
    let path = format!("{PUB}/apis/validate-openapi");
    let (status, report) = admin
        .send_multipart(
            Method::POST,
            &path,
            &[("file", "openapi: 3.0.1\ninfo: {}\n")],
            &["file"],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["isValid"], false, "{report}");
    contract.verify(&Method::POST, &path, status, &report);

    // Comments, ratings and categories, with WSO2's own request bodies.
    let comment = contract
        .call(
            &admin,
            Method::POST,
            &format!("{DEV}/apis/{api_id}/comments"),
            Some(json!({"content": "This is a comment", "category": "general"})),
            StatusCode::CREATED,
        )
        .await;
    let comment_id = comment["id"].as_str().unwrap().to_owned();
    contract
        .call(
            &admin,
            Method::POST,
            &format!("{PUB}/apis/{api_id}/comments?replyTo={comment_id}"),
            Some(json!({"content": "This is a reply", "category": "general"})),
            StatusCode::CREATED,
        )
        .await;
    for path in [
        format!("{DEV}/apis/{api_id}/comments?includeCommenterInfo=true"),
        format!("{DEV}/apis/{api_id}/comments/{comment_id}"),
        format!("{DEV}/apis/{api_id}/comments/{comment_id}/replies"),
        format!("{PUB}/apis/{api_id}/comments"),
        format!("{PUB}/apis/{api_id}/comments/{comment_id}"),
    ] {
        contract.get(&admin, &path).await;
    }
    contract
        .call(
            &admin,
            Method::PATCH,
            &format!("{PUB}/apis/{api_id}/comments/{comment_id}"),
            Some(json!({"content": "This is an edited comment", "category": "general"})),
            StatusCode::OK,
        )
        .await;
    contract
        .call(
            &admin,
            Method::PUT,
            &format!("{DEV}/apis/{api_id}/user-rating"),
            Some(json!({"rating": 4})),
            StatusCode::OK,
        )
        .await;
    contract
        .get(&admin, &format!("{DEV}/apis/{api_id}/user-rating"))
        .await;
    contract
        .get(&admin, &format!("{DEV}/apis/{api_id}/ratings"))
        .await;
    contract
        .call(
            &admin,
            Method::POST,
            &format!("{ADM}/api-categories"),
            Some(json!({"name": "Finance", "description": "Finance related APIs"})),
            StatusCode::CREATED,
        )
        .await;
    contract
        .call(
            &admin,
            Method::POST,
            &format!("{ADM}/labels"),
            Some(
                json!({"name": "Public", "description": "Label to use for public Gateway",
                        "accessUrls": ["http://localhost:9443/"]}),
            ),
            StatusCode::CREATED,
        )
        .await;
    contract.get(&admin, &format!("{ADM}/api-categories")).await;
    contract.get(&admin, &format!("{ADM}/labels")).await;
    contract.get(&admin, &format!("{PUB}/api-categories")).await;
    contract
        .get(&anonymous, &format!("{DEV}/api-categories"))
        .await;
    // Streaming APIs from AsyncAPI: validation (valid and not) and import.
    let streetlights = "asyncapi: 2.6.0\ninfo: {title: Streetlights, version: 1.0.0}\n\
        servers: {production: {url: 'ws://127.0.0.1:9', protocol: ws}}\n\
        channels: {'/lights/{id}': {subscribe: {x-scopes: [lights:read]}, publish: {}}}\n";
    let path = format!("{PUB}/apis/validate-asyncapi");
    for (document, valid) in [(streetlights, true), ("asyncapi: 2.6.0\ninfo: {}\n", false)] {
        let (status, report) = admin
            .send_multipart(Method::POST, &path, &[("file", document)], &["file"])
            .await;
        assert_eq!(status, StatusCode::OK, "{report}");
        assert_eq!(report["isValid"], valid, "{report}");
        contract.verify(&Method::POST, &path, status, &report);
    }
    let path = format!("{PUB}/apis/import-asyncapi");
    let (status, streaming) = admin
        .send_multipart(
            Method::POST,
            &path,
            &[
                ("file", streetlights),
                ("additionalProperties", r#"{"context": "/lights"}"#),
            ],
            &["file"],
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{streaming}");
    assert_eq!(streaming["type"], "WS");
    contract.verify(&Method::POST, &path, status, &streaming);

    // SOAP APIs from WSDL: validation and import.
    let quotes = r#"<definitions name="Quotes" xmlns="http://schemas.xmlsoap.org/wsdl/"
        xmlns:soap="http://schemas.xmlsoap.org/wsdl/soap/">
      <binding name="B" type="P"><soap:binding transport="http://schemas.xmlsoap.org/soap/http"/>
        <operation name="GetQuote"><soap:operation soapAction="urn:GetQuote"/></operation></binding>
      <service name="S"><port name="QuotesSoap" binding="B"><soap:address location="http://127.0.0.1:9/q"/></port></service>
    </definitions>"#;
    let path = format!("{PUB}/apis/validate-wsdl");
    for (document, valid) in [(quotes, true), ("<definitions/>", false)] {
        let (status, report) = admin
            .send_multipart(Method::POST, &path, &[("file", document)], &["file"])
            .await;
        assert_eq!(status, StatusCode::OK, "{report}");
        assert_eq!(report["isValid"], valid, "{report}");
        contract.verify(&Method::POST, &path, status, &report);
    }
    let path = format!("{PUB}/apis/import-wsdl");
    let (status, soap) = admin
        .send_multipart(
            Method::POST,
            &path,
            &[
                ("file", quotes),
                (
                    "additionalProperties",
                    r#"{"context": "/quotes", "version": "1.0.0"}"#,
                ),
            ],
            &["file"],
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{soap}");
    contract.verify(&Method::POST, &path, status, &soap);

    // Developer Portal: application, keys, subscription, token.
    contract.get(&anonymous, &format!("{DEV}/apis")).await;
    contract
        .get(&anonymous, &format!("{DEV}/apis/{api_id}"))
        .await;
    let app = contract
        .call(
            &admin,
            Method::POST,
            &format!("{DEV}/applications"),
            Some(json!({"name": "PizzaApp", "throttlingPolicy": "Unlimited",
                        "description": "Sample", "tokenType": "JWT", "groups": [], "attributes": {}})),
            StatusCode::CREATED,
        )
        .await;
    let app_id = app["applicationId"].as_str().unwrap().to_owned();
    contract
        .get(&admin, &format!("{DEV}/applications/{app_id}"))
        .await;
    let generated = contract
        .call(
            &admin,
            Method::POST,
            &format!("{DEV}/applications/{app_id}/generate-keys"),
            Some(
                json!({"keyType": "PRODUCTION", "keyManager": "Resident Key Manager",
                        "grantTypesToBeSupported": ["client_credentials", "password"],
                        "callbackUrl": null, "scopes": ["am_application_scope", "default"],
                        "validityTime": 3600, "additionalProperties": {}}),
            ),
            StatusCode::OK,
        )
        .await;
    let mapping = generated["keyMappingId"].as_str().unwrap().to_owned();
    contract
        .get(
            &admin,
            &format!("{DEV}/applications/{app_id}/keys/PRODUCTION"),
        )
        .await;
    let mut key = generated.clone();
    key["callbackUrl"] = json!("https://localhost/callback");
    key["consumerSecret"] = Value::Null;
    let updated = contract
        .call(
            &admin,
            Method::PUT,
            &format!("{DEV}/applications/{app_id}/oauth-keys/{mapping}"),
            Some(key),
            StatusCode::OK,
        )
        .await;
    assert_eq!(updated["callbackUrl"], "https://localhost/callback");
    // 4.7 API keys: generated by name, listed, regenerated by UUID.
    let api_keys = format!("{DEV}/applications/{app_id}/api-keys/PRODUCTION");
    let api_key = contract
        .call(
            &admin,
            Method::POST,
            &format!("{api_keys}/generate"),
            Some(json!({"keyName": "pizza-key", "validityPeriod": 3600,
                        "additionalProperties": {}})),
            StatusCode::OK,
        )
        .await;
    let listed = contract.get(&admin, &api_keys).await;
    assert_eq!(listed["list"][0]["keyName"], "pizza-key");
    contract
        .call(
            &admin,
            Method::POST,
            &format!("{api_keys}/regenerate"),
            Some(json!({"keyUUID": api_key["keyUUID"]})),
            StatusCode::OK,
        )
        .await;
    let subscription = contract
        .call(
            &admin,
            Method::POST,
            &format!("{DEV}/subscriptions"),
            Some(json!({"applicationId": app_id, "apiId": api_id, "throttlingPolicy": "Gold"})),
            StatusCode::CREATED,
        )
        .await;
    assert!(subscription["subscriptionId"].is_string());
    contract
        .get(
            &admin,
            &format!("{DEV}/subscriptions?applicationId={app_id}"),
        )
        .await;
    contract
        .get(&admin, &format!("{PUB}/subscriptions?apiId={api_id}"))
        .await;

    // Developer Portal lookups.
    for level in ["application", "subscription"] {
        contract
            .get(&anonymous, &format!("{DEV}/throttling-policies/{level}"))
            .await;
    }
    contract
        .get(
            &anonymous,
            &format!("{DEV}/throttling-policies/subscription/Gold"),
        )
        .await;
    let (status, body) = anonymous
        .get(&format!("{DEV}/throttling-policies/colour"))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    // WSO2's document types the definition as a string; WSO2 answers the document itself.
    let (status, definition) = anonymous.get(&format!("{DEV}/apis/{api_id}/swagger")).await;
    assert_eq!(status, StatusCode::OK, "{definition}");
    assert!(
        definition["paths"]["/order/{orderId}"].is_object(),
        "{definition}"
    );
    let (status, offered) = anonymous
        .get(&format!("{DEV}/apis/{api_id}/subscription-policies"))
        .await;
    assert_eq!(status, StatusCode::OK, "{offered}");
    assert_eq!(offered.as_array().unwrap().len(), 2, "{offered}");
    let tags = contract.get(&anonymous, &format!("{DEV}/tags")).await;
    assert!(
        tags["list"]
            .as_array()
            .unwrap()
            .contains(&json!({"value": "pizza", "count": 1})),
        "{tags}"
    );
    let found = contract
        .get(&anonymous, &format!("{DEV}/search?query=pizza"))
        .await;
    assert_eq!(found["count"], 1, "{found}");
    contract.get(&anonymous, &format!("{DEV}/settings")).await;
    contract
        .get(
            &anonymous,
            &format!("{DEV}/settings/application-attributes"),
        )
        .await;
    contract.get(&admin, &format!("{DEV}/key-managers")).await;
    contract.get(&admin, &format!("{ADM}/settings")).await;

    // Admin: tiers and environments.
    contract
        .get(&admin, &format!("{ADM}/throttling/policies/subscription"))
        .await;
    contract.get(&admin, &format!("{ADM}/environments")).await;

    // Admin: the REST scopes' role map and role aliases.
    let scopes = contract.get(&admin, &format!("{ADM}/system-scopes")).await;
    assert!(scopes["count"].as_u64().unwrap() > 50, "{scopes}");
    contract
        .call(
            &admin,
            Method::PUT,
            &format!("{ADM}/system-scopes"),
            Some(
                json!({"count": 1, "list": [{"tag": "publisher", "name": "apim:api_view",
                         "description": "View API", "roles": ["admin", "Internal/publisher",
                         "Internal/creator", "Internal/analytics"]}]}),
            ),
            StatusCode::OK,
        )
        .await;
    // `apim:subscribe`, Base64-encoded as in WSO2's sample.
    contract
        .get(
            &admin,
            &format!("{ADM}/system-scopes/YXBpbTpzdWJzY3JpYmU?username=admin"),
        )
        .await;
    contract
        .call(
            &admin,
            Method::GET,
            &format!("{ADM}/system-scopes/YXBpbTpub3RoaW5n"),
            None,
            StatusCode::NOT_FOUND,
        )
        .await;
    contract
        .call(
            &admin,
            Method::PUT,
            &format!("{ADM}/system-scopes/role-aliases"),
            Some(json!({"count": 1, "list": [{"role": "Internal/subscriber",
                         "aliases": ["Internal/subscriber", "Internal/devops"]}]})),
            StatusCode::OK,
        )
        .await;
    contract
        .get(&admin, &format!("{ADM}/system-scopes/role-aliases"))
        .await;

    // Publisher: endpoint certificates (multipart upload, as WSO2's sample sends it).
    let key = rcgen::KeyPair::generate().unwrap();
    let certificate = rcgen::CertificateParams::new(vec!["www.abc.com".to_owned()])
        .unwrap()
        .self_signed(&key)
        .unwrap()
        .pem();
    let certs = format!("{PUB}/endpoint-certificates");
    let (status, added) = admin
        .send_multipart(
            Method::POST,
            &certs,
            &[
                ("certificate", &certificate),
                ("alias", "abc"),
                ("endpoint", "https://www.abc.com"),
            ],
            &["certificate"],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{added}");
    contract.verify(&Method::POST, &certs, status, &added);
    contract.get(&admin, &certs).await;
    contract.get(&admin, &format!("{certs}/abc")).await;
    contract.get(&admin, &format!("{certs}/abc/usage")).await;
    contract
        .call(
            &admin,
            Method::GET,
            &format!("{certs}/none"),
            None,
            StatusCode::NOT_FOUND,
        )
        .await;
    contract
        .call(
            &admin,
            Method::DELETE,
            &format!("{certs}/abc"),
            None,
            StatusCode::OK,
        )
        .await;

    // Errors are WSO2's error body, wrong methods included.
    contract
        .call(
            &admin,
            Method::GET,
            &format!("{PUB}/apis/0c0ffee0-0000-4000-8000-000000000000"),
            None,
            StatusCode::NOT_FOUND,
        )
        .await;
    let (status, body) = admin
        .send(Method::PATCH, &format!("{PUB}/apis/{api_id}"), None)
        .await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{body}");
    assert_eq!(body["code"], 405, "{body}");

    up.stop();
    assert!(
        contract.violations.is_empty(),
        "{} responses differ from WSO2's schemas:\n  {}",
        contract.violations.len(),
        contract.violations.join("\n  ")
    );
}

/// `visibility: RESTRICTED` with `visibleRoles` limits who sees and subscribes to an API in
/// the Developer Portal; `accessControl: RESTRICTED` with `accessControlRoles` limits which
/// publishers see and change it; `sortBy`/`sortOrder` order the Publisher's list.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn visible_roles_and_access_control_are_enforced() {
    let mut up = GantryUp::start_with(BIN, false).await;
    let admin = up.rest();
    admin
        .create_user(
            "partner-p",
            "partner-pass-1",
            &["Internal/subscriber", "Internal/analytics"],
        )
        .await;
    admin
        .create_user("outsider-o", "outsider-pass-1", &["Internal/subscriber"])
        .await;
    admin
        .create_user(
            "pizza-dev",
            "pizza-pass-1",
            &["Internal/creator", "Internal/publisher", "Internal/devops"],
        )
        .await;
    admin
        .create_user(
            "other-dev",
            "other-pass-1",
            &["Internal/creator", "Internal/publisher"],
        )
        .await;
    let partner = admin.as_user("partner-p", "partner-pass-1");
    let outsider = admin.as_user("outsider-o", "outsider-pass-1");
    let pizza_dev = admin.as_user("pizza-dev", "pizza-pass-1");
    let other_dev = admin.as_user("other-dev", "other-pass-1");

    // A RESTRICTED API needs its roles.
    let (status, body) = admin
        .post(
            &format!("{PUB}/apis"),
            json!({"name": "Hidden", "context": "hidden", "version": "1.0.0",
                   "visibility": "RESTRICTED"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["description"]
            .as_str()
            .unwrap()
            .contains("visibleRoles"),
        "{body}"
    );
    let (status, body) = admin
        .post(
            &format!("{PUB}/apis"),
            json!({"name": "Hidden", "context": "hidden", "version": "1.0.0",
                   "visibility": "RESTRICTED", "visibleRoles": ["nobody-has-this"]}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["description"]
            .as_str()
            .unwrap()
            .contains("nobody-has-this"),
        "{body}"
    );

    let mut partner_api = pizza_shack("http://127.0.0.1:9/");
    partner_api["name"] = json!("PartnerAPI");
    partner_api["context"] = json!("partner");
    partner_api["visibility"] = json!("RESTRICTED");
    partner_api["visibleRoles"] = json!(["Internal/analytics"]);
    let (status, created) = admin.post(&format!("{PUB}/apis"), partner_api).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let partner_id = created["id"].as_str().unwrap().to_owned();
    admin.publish_and_deploy(&partner_id, &["Default"]).await;

    let names = |list: &Value| -> Vec<String> {
        list["list"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["name"].as_str().unwrap().to_owned())
            .collect()
    };
    let (_, seen) = partner.get(&format!("{DEV}/apis")).await;
    assert_eq!(names(&seen), ["PartnerAPI"], "{seen}");
    let (_, seen) = outsider.get(&format!("{DEV}/apis")).await;
    assert!(names(&seen).is_empty(), "{seen}");
    let (_, seen) = admin.anonymous().get(&format!("{DEV}/apis")).await;
    assert!(names(&seen).is_empty(), "{seen}");
    let (status, _) = outsider.get(&format!("{DEV}/apis/{partner_id}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = partner.get(&format!("{DEV}/apis/{partner_id}")).await;
    assert_eq!(status, StatusCode::OK);
    for (who, expected) in [
        (&outsider, StatusCode::NOT_FOUND),
        (&partner, StatusCode::CREATED),
    ] {
        let (status, app) = who
            .post(
                &format!("{DEV}/applications"),
                json!({"name": "visibility-app", "throttlingPolicy": "Unlimited"}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{app}");
        let (status, body) = who
            .post(
                &format!("{DEV}/subscriptions"),
                json!({"applicationId": app["applicationId"], "apiId": partner_id,
                       "throttlingPolicy": "Gold"}),
            )
            .await;
        assert_eq!(status, expected, "{body}");
    }

    // Publisher access control: only the API's roles (and its provider, and admins).
    let (status, created) = pizza_dev
        .post(
            &format!("{PUB}/apis"),
            json!({"name": "TeamPizza", "context": "/team-pizza", "version": "1.0.0",
                   "accessControl": "RESTRICTED", "accessControlRoles": ["Internal/devops"]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let team_id = created["id"].as_str().unwrap().to_owned();
    let (status, _) = other_dev.get(&format!("{PUB}/apis/{team_id}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = other_dev
        .put(&format!("{PUB}/apis/{team_id}"), created.clone())
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = other_dev.delete(&format!("{PUB}/apis/{team_id}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, listed) = other_dev.get(&format!("{PUB}/apis")).await;
    assert!(
        !names(&listed).contains(&"TeamPizza".to_owned()),
        "{listed}"
    );
    let (_, listed) = pizza_dev.get(&format!("{PUB}/apis")).await;
    assert!(names(&listed).contains(&"TeamPizza".to_owned()), "{listed}");
    let (status, _) = admin.get(&format!("{PUB}/apis/{team_id}")).await;
    assert_eq!(status, StatusCode::OK);
    // Every resource of the API, not only the API itself: revisions, deployments, the
    // definition, lifecycle, subscriptions, export; by id and by handle.
    let (status, revision) = pizza_dev
        .post(&format!("{PUB}/apis/{team_id}/revisions"), json!({}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{revision}");
    let revision_id = revision["id"].as_str().unwrap().to_owned();
    for (method, path, body) in [
        (Method::GET, format!("{PUB}/apis/{team_id}/revisions"), None),
        (
            Method::POST,
            format!("{PUB}/apis/{team_id}/revisions"),
            Some(json!({})),
        ),
        (
            Method::GET,
            format!("{PUB}/apis/{team_id}/revisions/{revision_id}"),
            None,
        ),
        (
            Method::POST,
            format!("{PUB}/apis/{team_id}/deploy-revision?revisionId={revision_id}"),
            Some(json!([{"name": "Default", "vhost": "localhost"}])),
        ),
        (
            Method::GET,
            format!("{PUB}/apis/{team_id}/deployments"),
            None,
        ),
        (Method::GET, format!("{PUB}/apis/{team_id}/swagger"), None),
        (
            Method::GET,
            format!("{PUB}/apis/{team_id}/lifecycle-state"),
            None,
        ),
        (
            Method::POST,
            format!("{PUB}/apis/change-lifecycle?action=Publish&apiId={team_id}"),
            None,
        ),
        (
            Method::GET,
            format!("{PUB}/subscriptions?apiId={team_id}"),
            None,
        ),
        (
            Method::GET,
            format!("{PUB}/apis/pizza-dev-TeamPizza-1.0.0/deployments"),
            None,
        ),
        // The export by name as by id.
        (
            Method::GET,
            format!("{PUB}/apis/export?name=TeamPizza&version=1.0.0"),
            None,
        ),
        (
            Method::GET,
            format!("{PUB}/apis/export?apiId={team_id}"),
            None,
        ),
    ] {
        let (status, refused) = other_dev.send(method.clone(), &path, body).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{method} {path}: {refused}");
        assert_eq!(refused["code"], 404, "{refused}");
    }
    let (status, _) = pizza_dev
        .get(&format!("{PUB}/apis/{team_id}/deployments"))
        .await;
    assert_eq!(status, StatusCode::OK, "the API's own team still may");
    let (status, body) = admin
        .anonymous()
        .get(&format!("{PUB}/apis/{team_id}/revisions"))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");

    // Sorting.
    let (_, listed) = admin
        .get(&format!("{PUB}/apis?sortBy=name&sortOrder=desc"))
        .await;
    assert_eq!(names(&listed), ["TeamPizza", "PartnerAPI"], "{listed}");
    let (status, body) = admin.get(&format!("{PUB}/apis?sortBy=colour")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    up.stop();
}
