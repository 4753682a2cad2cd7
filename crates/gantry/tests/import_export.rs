//! Import and export of WSO2 API projects against the real binary: a round trip between two
//! control planes gives the same project back, a project written by hand from WSO2's
//! documentation of the format (with apictl's params.yaml for two environments) imports,
//! deploys and serves through the gateway, and broken or hostile archives are refused with
//! WSO2's error body naming what is wrong.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use gantry_control_plane::project::ProjectFiles;
use gantry_testkit::GantryUp;
use gantry_testkit::echo::EchoUpstream;
use gantry_testkit::rest::Rest;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_gantry");
const PUB: &str = "/api/am/publisher/v4";

/// `POST /apis/import?query` with the archive as the `file` part (and `params`, if given).
async fn import(rest: &Rest, query: &str, zip: &[u8], params: Option<&str>) -> (StatusCode, Value) {
    let boundary = "gantry-import-boundary-7d1e";
    let mut body = Vec::new();
    let mut part = |name: &str, filename: &str, bytes: &[u8]| {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{filename}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    };
    part("file", "project.zip", zip);
    if let Some(params) = params {
        part("params", "params.yaml", params.as_bytes());
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    let response = rest
        .request(Method::POST, &format!("{PUB}/apis/import?{query}"))
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

/// `GET /apis/export?query`: the archive's files.
async fn export(rest: &Rest, query: &str) -> ProjectFiles {
    let response = rest
        .request(Method::GET, &format!("{PUB}/apis/export?{query}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "application/zip");
    let disposition = response.headers()["content-disposition"].to_str().unwrap();
    assert!(
        disposition.starts_with("attachment; filename="),
        "{disposition}"
    );
    ProjectFiles::from_zip(&response.bytes().await.unwrap()).unwrap()
}

fn zip(root: &str, files: &[(&str, &str)]) -> Vec<u8> {
    let project = ProjectFiles {
        root: None,
        files: files
            .iter()
            .map(|(p, c)| ((*p).to_owned(), c.as_bytes().to_vec()))
            .collect(),
    };
    project.to_zip(root).unwrap()
}

/// The project with what legitimately differs between installations (ids, timestamps)
/// taken out of `api.yaml`.
fn comparable(project: &ProjectFiles) -> BTreeMap<String, Value> {
    project
        .files
        .iter()
        .map(|(path, bytes)| {
            let mut value: Value = serde_yaml_ng::from_slice(bytes).unwrap();
            if path == "api.yaml" {
                let data = value["data"].as_object_mut().unwrap();
                for key in ["id", "createdTime", "lastUpdatedTime"] {
                    assert!(data.remove(key).is_some(), "api.yaml has data.{key}");
                }
            }
            (path.clone(), value)
        })
        .collect()
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_then_import_elsewhere_then_export_gives_the_same_project() {
    let upstream = EchoUpstream::start().await;
    let source = GantryUp::start(BIN).await;
    let rest = source.rest();
    let api_id = rest
        .deployed_api(
            "Pizza",
            "/pizza",
            &upstream.url(),
            json!([
                {"target": "/menu", "verb": "GET", "authType": "None"},
                {"target": "/order/{id}", "verb": "POST", "scopes": ["order:write"],
                 "operationPolicies": {"request": [{"policyName": "addHeader",
                     "parameters": {"headerName": "X-Shop", "headerValue": "pizza"}}]}},
            ]),
        )
        .await;

    let first = export(&rest, &format!("apiId={api_id}&format=YAML")).await;
    assert_eq!(first.root.as_deref(), Some("Pizza-1.0.0"));
    let paths: Vec<&str> = first.files.keys().map(String::as_str).collect();
    assert_eq!(
        paths,
        [
            "Definitions/swagger.yaml",
            "api.yaml",
            "api_meta.yaml",
            "deployment_environments.yaml"
        ]
    );
    let api_yaml: Value = serde_yaml_ng::from_slice(&first.files["api.yaml"]).unwrap();
    assert_eq!(api_yaml["type"], "api");
    assert_eq!(api_yaml["version"], "v4.7.0");
    assert_eq!(api_yaml["data"]["lifeCycleStatus"], "PUBLISHED");
    assert_eq!(api_yaml["data"]["context"], "/pizza");
    let envs: Value =
        serde_yaml_ng::from_slice(&first.files["deployment_environments.yaml"]).unwrap();
    assert_eq!(envs["type"], "deployment_environments");
    assert_eq!(
        envs["data"],
        json!([{"deploymentEnvironment": "Default", "deploymentVhost": "localhost", "displayOnDevportal": true}])
    );
    // By name and version too; JSON files when asked.
    let as_json = export(
        &rest,
        "name=Pizza&version=1.0.0&providerName=admin&format=JSON",
    )
    .await;
    assert!(
        as_json.files.contains_key("api.json"),
        "{:?}",
        as_json.files.keys()
    );

    let target = GantryUp::start(BIN).await;
    let (status, outcome) = import(
        &target.rest(),
        "preserveProvider=true",
        &first.to_zip("Pizza-1.0.0").unwrap(),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{outcome}");
    assert_eq!(outcome["action"], "CREATED");
    assert_eq!(outcome["unsupported"], json!([]), "{outcome}");
    assert_eq!(outcome["deployments"][0]["name"], "Default");
    // Deployed on the second installation's gateway, with its operation policy.
    assert!(
        target
            .eventually_gw_status("/pizza/1.0.0/menu", "", 200)
            .await
    );

    let second = export(&target.rest(), "name=Pizza&version=1.0.0").await;
    assert_eq!(comparable(&first), comparable(&second));

    // Importing the same project again without overwrite is a conflict; a dry run says
    // nothing would change.
    let zip_again = second.to_zip("Pizza-1.0.0").unwrap();
    let (status, body) = import(&target.rest(), "", &zip_again, None).await;
    assert_wso2_error(status, &body, StatusCode::CONFLICT, "overwrite=true");
    let (status, dry) = import(
        &target.rest(),
        "overwrite=true&dryRun=true",
        &zip_again,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{dry}");
    assert_eq!(dry["action"], "NONE", "{dry}");
    assert_eq!(dry["digest"], dry["currentDigest"], "{dry}");
}

/// An API project as WSO2 4.x documents it (api.yaml with `type`, `version`, `data`;
/// Definitions/swagger.yaml; deployment_environments.yaml), plus parts Gantry does not
/// read, and apictl's params.yaml for two environments.
fn hand_written_project(root: &str) -> Vec<u8> {
    let api_yaml = r#"type: api
version: v4.2.0
data:
  name: Weather
  description: Forecasts
  context: /weather
  version: 2.0.0
  provider: alice
  lifeCycleStatus: PUBLISHED
  responseCachingEnabled: false
  cacheTimeout: 300
  isDefaultVersion: false
  enableSchemaValidation: false
  type: HTTP
  transport:
    - http
    - https
  tags: []
  policies:
    - Unlimited
  authorizationHeader: Authorization
  securityScheme:
    - oauth2
    - oauth_basic_auth_api_key_mandatory
  visibility: PUBLIC
  accessControl: NONE
  businessInformation:
    businessOwner: Weather Team
  gatewayVendor: wso2
  gatewayType: wso2/synapse
  endpointConfig:
    endpoint_type: http
    production_endpoints:
      url: http://127.0.0.1:9/unused
  operations:
    - target: /today
      verb: GET
      authType: None
      throttlingPolicy: Unlimited
      scopes: []
      operationPolicies:
        request: []
        response: []
        fault: []
"#;
    let swagger = r#"openapi: 3.0.1
info:
  title: Weather
  version: 2.0.0
paths:
  /today:
    get:
      x-auth-type: None
      x-throttling-tier: Unlimited
      responses:
        "200":
          description: ok
"#;
    let deployments = r#"type: deployment_environments
version: v4.2.0
data:
  - displayOnDevportal: true
    deploymentEnvironment: Default
    deploymentVhost: localhost
"#;
    zip(
        root,
        &[
            ("api.yaml", api_yaml),
            ("Definitions/swagger.yaml", swagger),
            ("deployment_environments.yaml", deployments),
            ("api_meta.yaml", "name: Weather\nversion: 2.0.0\n"),
            ("Docs/docs.yaml", "type: document_list\n"),
            ("Image/icon.png", "not really a png"),
        ],
    )
}

fn params_for(staging: &str, production: &str) -> String {
    format!(
        r#"environments:
  - name: staging
    configs:
      endpoints:
        production:
          url: {staging}
      deploymentEnvironments:
        - displayOnDevportal: true
          deploymentEnvironment: Default
          deploymentVhost: localhost
  - name: production
    configs:
      endpoints:
        production:
          url: {production}
          config:
            retryTimeOut: 3
      deploymentEnvironments:
        - displayOnDevportal: true
          deploymentEnvironment: Default
          deploymentVhost: localhost
      policies:
        - Gold
        - Unlimited
      certs:
        - hostName: https://weather.example
          alias: weather
          path: weather.pem
"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hand_written_wso2_project_imports_deploys_and_serves_per_environment() {
    let staging = EchoUpstream::start().await;
    let production = EchoUpstream::start().await;
    let up = GantryUp::start(BIN).await;
    let rest = up.rest();
    let project = hand_written_project("Weather-2.0.0");
    let params = params_for(&staging.url(), &production.url());

    let (status, outcome) = import(&rest, "environment=staging", &project, Some(&params)).await;
    assert_eq!(status, StatusCode::OK, "{outcome}");
    assert_eq!(outcome["action"], "CREATED");
    // What Gantry did not take is named, never dropped silently.
    assert_eq!(
        outcome["unsupported"],
        json!([
            "Docs/docs.yaml",
            "Image/icon.png (not a PNG, JPEG, GIF or WebP image: no thumbnail set)"
        ])
    );
    assert_eq!(
        outcome["ignoredFields"],
        json!(["api.yaml: data.businessInformation"])
    );
    let api_id = outcome["id"].as_str().unwrap().to_owned();
    let (_, api) = rest.get(&format!("{PUB}/apis/{api_id}")).await;
    assert_eq!(api["lifeCycleStatus"], "PUBLISHED");
    assert_eq!(
        api["provider"], "alice",
        "preserveProvider defaults to true"
    );
    assert!(
        up.eventually_gw_status("/weather/2.0.0/today", "", 200)
            .await
    );
    assert!(staging.hits() > 0 && production.hits() == 0);

    // The same project promoted with the production parameters: updated in place, a new
    // revision deployed, traffic to the production upstream.
    let (status, outcome) = import(
        &rest,
        "environment=production&overwrite=true",
        &project,
        Some(&params),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{outcome}");
    assert_eq!(outcome["action"], "UPDATED");
    assert_eq!(outcome["id"], api_id.as_str());
    let unsupported: Vec<&str> = outcome["unsupported"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(
        unsupported.contains(&"params.yaml: environments[production].configs.certs"),
        "{unsupported:?}"
    );
    assert!(
        unsupported
            .contains(&"params.yaml: environments[production].configs.endpoints.production.config"),
        "{unsupported:?}"
    );
    let (_, api) = rest.get(&format!("{PUB}/apis/{api_id}")).await;
    assert_eq!(api["policies"], json!(["Gold", "Unlimited"]));
    let served_by_production =
        gantry_testkit::eventually(std::time::Duration::from_secs(5), || async {
            up.gw_status("/weather/2.0.0/today", "").await == 200 && production.hits() > 0
        })
        .await;
    assert!(served_by_production);
    let (_, revisions) = rest.get(&format!("{PUB}/apis/{api_id}/revisions")).await;
    assert_eq!(revisions["count"], 2, "{revisions}");

    // An environment params.yaml does not have is named.
    let (status, body) = import(
        &rest,
        "environment=qa&overwrite=true",
        &project,
        Some(&params),
    )
    .await;
    assert_wso2_error(
        status,
        &body,
        StatusCode::BAD_REQUEST,
        "no environment 'qa'",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_and_hostile_archives_are_refused_by_name() {
    let up = GantryUp::start(BIN).await;
    let rest = up.rest();

    let (status, body) = import(&rest, "", b"PK\x03\x04 certainly not a zip", None).await;
    assert_wso2_error(
        status,
        &body,
        StatusCode::BAD_REQUEST,
        "not a valid zip archive",
    );

    let no_api = zip("X-1", &[("Definitions/swagger.yaml", "openapi: 3.0.1")]);
    let (status, body) = import(&rest, "", &no_api, None).await;
    assert_wso2_error(status, &body, StatusCode::BAD_REQUEST, "no api.yaml");

    let climbing = zip(
        "",
        &[("api.yaml", "type: api"), ("../../etc/cron.d/x", "boom")],
    );
    let (status, body) = import(&rest, "", &climbing, None).await;
    assert_wso2_error(status, &body, StatusCode::BAD_REQUEST, "../../etc/cron.d/x");

    // 16 MiB of zeros deflates to a small upload: refused while inflating, not stored.
    let zeros = "\0".repeat(16 * 1024 * 1024);
    let bomb = zip("", &[("api.yaml", "type: api"), ("bomb.bin", &zeros)]);
    assert!(bomb.len() < 1024 * 1024);
    let (status, body) = import(&rest, "", &bomb, None).await;
    assert_wso2_error(status, &body, StatusCode::BAD_REQUEST, "bomb.bin");

    let product = zip("", &[("api.yaml", "type: api_product\ndata: {}\n")]);
    let (status, body) = import(&rest, "", &product, None).await;
    assert_wso2_error(status, &body, StatusCode::BAD_REQUEST, "api_product");

    // Validation is REST creation's: the field is named.
    let bad_context = zip(
        "",
        &[(
            "api.yaml",
            "type: api\ndata:\n  name: A\n  version: 1.0.0\n",
        )],
    );
    let (status, body) = import(&rest, "", &bad_context, None).await;
    assert_wso2_error(status, &body, StatusCode::BAD_REQUEST, "context");

    let (status, body) = rest
        .get(&format!("{PUB}/apis/export?name=Nope&version=1"))
        .await;
    assert_wso2_error(status, &body, StatusCode::NOT_FOUND, "Nope");
    let (status, body) = rest.get(&format!("{PUB}/apis/export")).await;
    assert_wso2_error(status, &body, StatusCode::BAD_REQUEST, "apiId");

    // Importing needs apim:api_import_export (admin), as in WSO2; a publisher may export.
    rest.create_user("pub-p", "publisher-pass-1", &["Internal/publisher"])
        .await;
    let publisher = rest.as_user("pub-p", "publisher-pass-1");
    let (status, body) = import(&publisher, "", &bad_context, None).await;
    assert_wso2_error(status, &body, StatusCode::FORBIDDEN, "scope");

    // Nothing was created by the refused imports.
    let (_, list) = rest.get(&format!("{PUB}/apis")).await;
    assert_eq!(list["count"], 0, "{list}");
}

/// `method path` with one multipart file part `name` (`filename`, `bytes`).
async fn upload(
    rest: &Rest,
    method: Method,
    path: &str,
    name: &str,
    filename: &str,
    bytes: &[u8],
) -> (StatusCode, Value) {
    let boundary = "gantry-docs-boundary-0b7e";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{filename}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let response = rest
        .request(method, path)
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

/// The `Docs/` and `Image/` files of a project, with the ids and times of each
/// `document.yaml` taken out.
fn docs_and_image(project: &ProjectFiles) -> BTreeMap<String, Vec<u8>> {
    project
        .files
        .iter()
        .filter(|(path, _)| path.starts_with("Docs/") || path.starts_with("Image/"))
        .map(|(path, bytes)| {
            if !path.ends_with("/document.yaml") {
                return (path.clone(), bytes.clone());
            }
            let mut value: Value = serde_yaml_ng::from_slice(bytes).unwrap();
            let data = value["data"].as_object_mut().unwrap();
            for key in ["documentId", "createdTime", "lastUpdatedTime"] {
                assert!(data.remove(key).is_some(), "{path} has data.{key}");
            }
            (path.clone(), value.to_string().into_bytes())
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn documents_and_the_thumbnail_travel_in_the_api_project() {
    let source = GantryUp::start(BIN).await;
    let rest = source.rest();
    let (status, api) = rest
        .post(
            &format!("{PUB}/apis"),
            json!({"name": "Atlas", "context": "/atlas", "version": "1.0.0",
                   "endpointConfig": {"endpoint_type": "http", "production_endpoints": {"url": "http://127.0.0.1:9"}},
                   "operations": [{"target": "/maps", "verb": "GET"}]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{api}");
    let api_id = api["id"].as_str().unwrap().to_owned();
    let docs = format!("{PUB}/apis/{api_id}/documents");
    for body in [
        json!({"name": "Getting started", "type": "HOWTO", "sourceType": "INLINE",
               "summary": "First steps", "inlineContent": "Call GET /maps."}),
        json!({"name": "Reference", "type": "OTHER", "otherTypeName": "Guide",
               "sourceType": "MARKDOWN", "visibility": "PRIVATE", "inlineContent": "# Maps\n\n*all* of them"}),
        json!({"name": "Forum", "type": "PUBLIC_FORUM", "sourceType": "URL",
               "sourceUrl": "https://forum.example.com/atlas"}),
        json!({"name": "Handbook", "type": "SAMPLES", "sourceType": "FILE"}),
    ] {
        let (status, created) = rest.post(&docs, body).await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        if created["sourceType"] == "FILE" {
            let (status, body) = upload(
                &rest,
                Method::POST,
                &format!("{docs}/{}/content", created["documentId"].as_str().unwrap()),
                "file",
                "handbook.pdf",
                b"%PDF-1.4 atlas handbook\x00\xff",
            )
            .await;
            assert_eq!(status, StatusCode::OK, "{body}");
        }
    }
    let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x02\0\0\0";
    let (status, body) = upload(
        &rest,
        Method::PUT,
        &format!("{PUB}/apis/{api_id}/thumbnail"),
        "file",
        "icon.png",
        png,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let first = export(&rest, &format!("apiId={api_id}")).await;
    for path in [
        "Docs/Getting_started/document.yaml",
        "Docs/Getting_started/Getting_started",
        "Docs/Reference/Reference",
        "Docs/Forum/document.yaml",
        "Docs/Handbook/handbook.pdf",
        "Image/icon.png",
    ] {
        assert!(
            first.files.contains_key(path),
            "{path} not in {:?}",
            first.files.keys()
        );
    }
    let howto: Value =
        serde_yaml_ng::from_slice(&first.files["Docs/Getting_started/document.yaml"]).unwrap();
    assert_eq!(howto["type"], "document");
    assert_eq!(howto["data"]["name"], "Getting started");
    assert_eq!(first.files["Image/icon.png"], png.to_vec());

    let target = GantryUp::start(BIN).await;
    let trest = target.rest();
    let zip_first = first.to_zip("Atlas-1.0.0").unwrap();
    let (status, outcome) = import(&trest, "", &zip_first, None).await;
    assert_eq!(status, StatusCode::OK, "{outcome}");
    assert_eq!(outcome["unsupported"], json!([]), "{outcome}");
    let new_id = outcome["id"].as_str().unwrap();
    let (_, listed) = trest.get(&format!("{PUB}/apis/{new_id}/documents")).await;
    assert_eq!(listed["count"], 4, "{listed}");
    let handbook = listed["list"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["name"] == "Handbook")
        .unwrap();
    let content = trest
        .request(
            Method::GET,
            &format!(
                "{PUB}/apis/{new_id}/documents/{}/content",
                handbook["documentId"].as_str().unwrap()
            ),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(content.headers()["content-type"], "application/pdf");
    assert_eq!(
        content.bytes().await.unwrap().as_ref(),
        b"%PDF-1.4 atlas handbook\x00\xff"
    );
    let thumbnail = trest
        .request(Method::GET, &format!("{PUB}/apis/{new_id}/thumbnail"))
        .send()
        .await
        .unwrap();
    assert_eq!(thumbnail.headers()["content-type"], "image/png");
    assert_eq!(thumbnail.bytes().await.unwrap().as_ref(), png);
    let second = export(&trest, &format!("apiId={new_id}")).await;
    assert_eq!(docs_and_image(&first), docs_and_image(&second));

    // The project is the truth on an overwrite: a document it no longer has is deleted,
    // a changed one updated in place.
    let mut fewer = first.clone();
    fewer
        .files
        .retain(|path, _| !path.starts_with("Docs/Forum/"));
    fewer.files.insert(
        "Docs/Getting_started/Getting_started".into(),
        b"Call GET /maps?zoom=2.".to_vec(),
    );
    let (status, outcome) = import(
        &trest,
        "overwrite=true",
        &fewer.to_zip("Atlas-1.0.0").unwrap(),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{outcome}");
    let (_, listed) = trest.get(&format!("{PUB}/apis/{new_id}/documents")).await;
    assert_eq!(listed["count"], 3, "{listed}");
    let started = listed["list"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["name"] == "Getting started")
        .unwrap();
    let (status, text) = trest
        .request(
            Method::GET,
            &format!(
                "{PUB}/apis/{new_id}/documents/{}/content",
                started["documentId"].as_str().unwrap()
            ),
        )
        .send()
        .await
        .map(|r| (r.status(), r))
        .unwrap();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(text.text().await.unwrap(), "Call GET /maps?zoom=2.");

    // A document REST creation would refuse is refused by name, before anything changes.
    let mut bad = first.clone();
    bad.files.insert(
        "Docs/Getting_started/document.yaml".into(),
        b"type: document\ndata:\n  name: Getting started\n  type: DIARY\n  sourceType: INLINE\n"
            .to_vec(),
    );
    let (status, body) = import(
        &trest,
        "overwrite=true",
        &bad.to_zip("Atlas-1.0.0").unwrap(),
        None,
    )
    .await;
    assert_wso2_error(
        status,
        &body,
        StatusCode::BAD_REQUEST,
        "Docs/Getting_started/document.yaml: data.type: 'DIARY'",
    );
    let (_, listed) = trest.get(&format!("{PUB}/apis/{new_id}/documents")).await;
    assert_eq!(listed["count"], 3, "{listed}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn params_yaml_load_balanced_and_failover_endpoints_apply_per_environment() {
    let (a, b) = (EchoUpstream::start().await, EchoUpstream::start().await);
    let up = GantryUp::start(BIN).await;
    let rest = up.rest();
    let project = hand_written_project("Weather-2.0.0");
    let params = format!(
        r#"environments:
  - name: balanced
    configs:
      endpointRoutingPolicy: load_balanced
      loadBalanceEndpoints:
        production:
          - url: {a}
          - url: {b}
        sessionManagement: transport
      failoverEndpoints:
        production:
          - url: {a}
  - name: failover
    configs:
      failoverEndpoints:
        production:
          - url: http://127.0.0.1:9/down
          - url: {b}
  - name: broken
    configs:
      endpointRoutingPolicy: load_balanced
      loadBalanceEndpoints:
        production:
          - host: nowhere
"#,
        a = a.url(),
        b = b.url()
    );

    let (status, outcome) = import(&rest, "environment=balanced", &project, Some(&params)).await;
    assert_eq!(status, StatusCode::OK, "{outcome}");
    let unsupported = outcome["unsupported"].to_string();
    for named in [
        "environments[balanced].configs.loadBalanceEndpoints.sessionManagement",
        "environments[balanced].configs.failoverEndpoints (not applied: endpointRoutingPolicy is load_balanced)",
    ] {
        assert!(unsupported.contains(named), "{named}: {unsupported}");
    }
    let api_id = outcome["id"].as_str().unwrap().to_owned();
    let (_, api) = rest.get(&format!("{PUB}/apis/{api_id}")).await;
    assert_eq!(
        api["endpointConfig"]["endpoint_type"], "load_balance",
        "{api}"
    );
    assert_eq!(
        api["endpointConfig"]["production_endpoints"],
        json!([{"url": a.url()}, {"url": b.url()}])
    );
    assert!(
        up.eventually_gw_status("/weather/2.0.0/today", "", 200)
            .await
    );
    for _ in 0..6 {
        assert_eq!(up.gw_status("/weather/2.0.0/today", "").await, 200);
    }
    assert!(
        a.hits() >= 2 && b.hits() >= 2,
        "both members served: {} {}",
        a.hits(),
        b.hits()
    );

    // Promoted with the failover environment: the primary is down, its failover answers.
    let (status, outcome) = import(
        &rest,
        "environment=failover&overwrite=true",
        &project,
        Some(&params),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{outcome}");
    let (_, api) = rest.get(&format!("{PUB}/apis/{api_id}")).await;
    assert_eq!(api["endpointConfig"]["endpoint_type"], "failover", "{api}");
    assert_eq!(
        api["endpointConfig"]["production_failovers"],
        json!([{"url": b.url()}])
    );
    let before = b.hits();
    let failed_over = gantry_testkit::eventually(std::time::Duration::from_secs(5), || async {
        up.gw_status("/weather/2.0.0/today", "").await == 200 && b.hits() > before
    })
    .await;
    assert!(
        failed_over,
        "the failover member serves while the primary is down"
    );

    // A list entry without a url is named.
    let (status, body) = import(
        &rest,
        "environment=broken&overwrite=true",
        &project,
        Some(&params),
    )
    .await;
    assert_wso2_error(
        status,
        &body,
        StatusCode::BAD_REQUEST,
        "loadBalanceEndpoints.production[0].url: is required",
    );
}
