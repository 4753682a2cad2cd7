//! A small admin-authenticated client for the control plane's REST APIs, with the steps
//! every flow repeats: deploy an API, create an application, generate keys, get a token.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::process::ADMIN_PASSWORD;

const PUB: &str = "/api/am/publisher/v4";
const DEV: &str = "/api/am/devportal/v3";

/// How a [`Rest`] client authenticates.
#[derive(Clone)]
enum Credentials {
    Basic(String, String),
    Bearer(String),
    Anonymous,
}

/// A thin REST client for one control plane, authenticated as admin (or as another user,
/// with a bearer token, or not at all).
#[derive(Clone)]
pub struct Rest {
    base: String,
    client: reqwest::Client,
    credentials: Credentials,
}

impl Rest {
    /// A client for the control plane at `base` (e.g. `https://localhost:9443`).
    pub fn new(base: &str, client: reqwest::Client) -> Self {
        Self {
            base: base.trim_end_matches('/').to_owned(),
            client,
            credentials: Credentials::Basic("admin".into(), ADMIN_PASSWORD.into()),
        }
    }

    /// The same control plane, as `username` with HTTP Basic.
    pub fn as_user(&self, username: &str, password: &str) -> Self {
        Self {
            credentials: Credentials::Basic(username.into(), password.into()),
            ..self.clone()
        }
    }

    /// The same control plane, with `Authorization: Bearer <token>`.
    pub fn with_bearer(&self, token: &str) -> Self {
        Self {
            credentials: Credentials::Bearer(token.into()),
            ..self.clone()
        }
    }

    /// The same control plane, without credentials.
    pub fn anonymous(&self) -> Self {
        Self {
            credentials: Credentials::Anonymous,
            ..self.clone()
        }
    }

    /// The URL of `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A request builder for `method path` with this client's credentials.
    pub fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let request = self.client.request(method, self.url(path));
        match &self.credentials {
            Credentials::Basic(user, password) => request.basic_auth(user, Some(password)),
            Credentials::Bearer(token) => request.bearer_auth(token),
            Credentials::Anonymous => request,
        }
    }

    /// Registers a REST client with WSO2's DCR (as this client's Basic user) and gets a
    /// password-grant token for `username` with the requested `scopes`; (token, granted
    /// scopes).
    pub async fn rest_token(
        &self,
        username: &str,
        password: &str,
        scopes: &str,
    ) -> (String, String) {
        let (status, client) = self
            .post(
                "/client-registration/v0.17/register",
                json!({"clientName": format!("rest_{username}"), "owner": username,
                       "grantType": "password refresh_token", "saasApp": true}),
            )
            .await;
        assert!(status.is_success(), "DCR: {status} {client}");
        let response = self
            .client
            .post(self.url("/oauth2/token"))
            .basic_auth(
                client["clientId"].as_str().expect("clientId"),
                client["clientSecret"].as_str(),
            )
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form_encode(&[
                ("grant_type", "password"),
                ("username", username),
                ("password", password),
                ("scope", scopes),
            ]))
            .send()
            .await
            .expect("token request");
        assert_eq!(response.status(), StatusCode::OK, "password grant");
        let body: Value = response.json().await.expect("token json");
        (
            body["access_token"]
                .as_str()
                .expect("access_token")
                .to_owned(),
            body["scope"].as_str().unwrap_or_default().to_owned(),
        )
    }

    /// Creates a user through SCIM with `roles`; its id.
    pub async fn create_user(&self, username: &str, password: &str, roles: &[&str]) -> String {
        let roles: Vec<Value> = roles.iter().map(|r| json!({"value": r})).collect();
        let (status, body) = self
            .post(
                "/scim2/Users",
                json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                       "userName": username, "password": password, "roles": roles}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "SCIM create user: {body}");
        body["id"].as_str().expect("user id").to_owned()
    }

    /// Sends `method path` with an optional JSON body; (status, JSON body or null).
    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self.request(method, path);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("request");
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// POST with a JSON body.
    pub async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.send(reqwest::Method::POST, path, Some(body)).await
    }

    /// POST without a body.
    pub async fn post_empty(&self, path: &str) -> (StatusCode, Value) {
        self.send(reqwest::Method::POST, path, None).await
    }

    /// GET.
    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.send(reqwest::Method::GET, path, None).await
    }

    /// PUT with a JSON body.
    pub async fn put(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.send(reqwest::Method::PUT, path, Some(body)).await
    }

    /// DELETE.
    pub async fn delete(&self, path: &str) -> (StatusCode, Value) {
        self.send(reqwest::Method::DELETE, path, None).await
    }

    /// Creates, publishes and deploys an API in front of `upstream` to `Default`; returns
    /// its id.
    pub async fn deployed_api(
        &self,
        name: &str,
        context: &str,
        upstream: &str,
        operations: Value,
    ) -> String {
        self.deployed_api_in(&["Default"], name, context, upstream, operations)
            .await
    }

    /// Like [`Rest::deployed_api`], deployed to `environments` (vhost `localhost`).
    pub async fn deployed_api_in(
        &self,
        environments: &[&str],
        name: &str,
        context: &str,
        upstream: &str,
        operations: Value,
    ) -> String {
        let (status, api) = self
            .post(
                &format!("{PUB}/apis"),
                json!({
                    "name": name, "context": context, "version": "1.0.0",
                    "policies": ["Gold", "Unlimited"],
                    "endpointConfig": {"endpoint_type": "http", "production_endpoints": {
                        "url": upstream, "config": {"actionDuration": "1000"}}},
                    "operations": operations,
                }),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{api}");
        let id = api["id"].as_str().expect("api id").to_owned();
        self.publish_and_deploy(&id, environments).await;
        id
    }

    /// Sends a `multipart/form-data` body of `fields`; those named in `files` go as file
    /// parts (with a file name), the rest as text. (status, JSON body or null).
    pub async fn send_multipart(
        &self,
        method: reqwest::Method,
        path: &str,
        fields: &[(&str, &str)],
        files: &[&str],
    ) -> (StatusCode, Value) {
        let boundary = "gantry-test-boundary-3f9a1c";
        let mut body = Vec::new();
        for (name, value) in fields {
            body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
            let disposition = if files.contains(name) {
                format!(
                    "Content-Disposition: form-data; name=\"{name}\"; filename=\"{name}.txt\"\r\n\
                     Content-Type: application/octet-stream\r\n\r\n"
                )
            } else {
                format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n")
            };
            body.extend_from_slice(disposition.as_bytes());
            body.extend_from_slice(value.as_bytes());
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
        let response = self
            .request(method, path)
            .header(
                "content-type",
                format!("multipart/form-data; boundary={boundary}"),
            )
            .body(body)
            .send()
            .await
            .expect("multipart request");
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// Creates an API from `body`, publishes it and deploys it to `Default`; returns its id.
    pub async fn create_and_deploy(&self, body: serde_json::Value) -> String {
        let (status, api) = self.post(&format!("{PUB}/apis"), body).await;
        assert_eq!(status, StatusCode::CREATED, "{api}");
        let id = api["id"].as_str().expect("api id").to_owned();
        self.publish_and_deploy(&id, &["Default"]).await;
        id
    }

    /// Publishes a created API, then deploys a new revision of it to `environments`.
    pub async fn publish_and_deploy(&self, api_id: &str, environments: &[&str]) {
        let (status, body) = self
            .post_empty(&format!(
                "{PUB}/apis/change-lifecycle?apiId={api_id}&action=Publish"
            ))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["lifecycleState"]["state"], "PUBLISHED");
        self.deploy_new_revision(api_id, environments).await;
    }

    /// Creates a revision of the API's working copy and deploys it to `environments`
    /// (vhost `localhost`).
    pub async fn deploy_new_revision(&self, api_id: &str, environments: &[&str]) {
        let (status, revision) = self
            .post(&format!("{PUB}/apis/{api_id}/revisions"), json!({}))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{revision}");
        let revision_id = revision["id"].as_str().expect("revision id");
        let (status, body) = self
            .post(
                &format!("{PUB}/apis/{api_id}/deploy-revision?revisionId={revision_id}"),
                Value::Array(
                    environments
                        .iter()
                        .map(|e| json!({"name": e, "vhost": "localhost"}))
                        .collect(),
                ),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }

    /// Creates an application; returns its id.
    pub async fn application(&self, name: &str) -> String {
        let (status, app) = self
            .post(
                &format!("{DEV}/applications"),
                json!({"name": name, "throttlingPolicy": "Unlimited"}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{app}");
        app["applicationId"]
            .as_str()
            .expect("application id")
            .to_owned()
    }

    /// Subscribes application `app_id` to API `api_id` under `tier`.
    pub async fn subscribe(&self, app_id: &str, api_id: &str, tier: &str) {
        let (status, sub) = self
            .post(
                &format!("{DEV}/subscriptions"),
                json!({"apiId": api_id, "applicationId": app_id, "throttlingPolicy": tier}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{sub}");
    }

    /// A new application `name` subscribed to `apis` under `tier`, and a PRODUCTION
    /// client_credentials access token of it.
    pub async fn subscribed_token(&self, name: &str, apis: &[&str], tier: &str) -> String {
        let app = self.application(name).await;
        for api in apis {
            self.subscribe(&app, api, tier).await;
        }
        let (ck, cs) = self.keys(&app).await;
        let (status, token) = self.token(&ck, &cs).await;
        assert_eq!(status, StatusCode::OK, "{token}");
        token["access_token"]
            .as_str()
            .expect("access_token")
            .to_owned()
    }

    /// Generates PRODUCTION client_credentials keys; returns (consumer key, secret).
    pub async fn keys(&self, app_id: &str) -> (String, String) {
        let (status, keys) = self
            .post(
                &format!("{DEV}/applications/{app_id}/generate-keys"),
                json!({"keyType": "PRODUCTION", "grantTypesToBeSupported": ["client_credentials"]}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{keys}");
        (
            keys["consumerKey"]
                .as_str()
                .expect("consumerKey")
                .to_owned(),
            keys["consumerSecret"]
                .as_str()
                .expect("consumerSecret")
                .to_owned(),
        )
    }

    /// client_credentials token request; (status, body).
    pub async fn token(&self, consumer_key: &str, secret: &str) -> (StatusCode, Value) {
        let r = self
            .client
            .post(format!("{}/oauth2/token", self.base))
            .basic_auth(consumer_key, Some(secret))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("grant_type=client_credentials")
            .send()
            .await
            .expect("token request");
        let status = r.status();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// Creates environment `name` (vhost `localhost`) and a gateway token for it; (id, token).
    pub async fn environment_with_token(&self, name: &str) -> (String, String) {
        let (status, env) = self
            .post(
                "/api/am/admin/v4/environments",
                json!({"name": name, "displayName": name, "vhosts": [{"host": "localhost"}]}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{env}");
        let id = env["id"].as_str().expect("environment id").to_owned();
        let (status, token) = self
            .post(
                &format!("/api/am/admin/v4/environments/{id}/gateway-tokens"),
                json!({"name": "t"}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{token}");
        (id, token["token"].as_str().expect("token").to_owned())
    }

    /// `POST /apis/change-lifecycle?apiId=…&action=…`; the status.
    pub async fn lifecycle(&self, api_id: &str, action: &str) -> StatusCode {
        let action = action.replace(' ', "%20");
        self.post_empty(&format!(
            "{PUB}/apis/change-lifecycle?apiId={api_id}&action={action}"
        ))
        .await
        .0
    }
}

/// `application/x-www-form-urlencoded` encoding of `pairs`.
pub fn form_encode(pairs: &[(&str, &str)]) -> String {
    let encode = |text: &str| -> String {
        text.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                    (b as char).to_string()
                }
                b' ' => "+".to_owned(),
                other => format!("%{other:02X}"),
            })
            .collect()
    };
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}
